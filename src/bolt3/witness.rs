//! Witness stacks for every spend path of every output BOLT 3 defines.
//!
//! Each function returns the complete witness, witness script last (BOLT 3 "Use of Segwit"
//! omits it from its listings). The empty vector is the script-level `0`/false; the single byte
//! `0x01` is true. Signatures carry their sighash byte.

use bitcoin::ecdsa::Signature;
use bitcoin::secp256k1::PublicKey;
use bitcoin::{Script, Witness};

use super::scripts::sorted_pair;
use super::PaymentPreimage;

/// `0 <signature_for_pubkey1> <signature_for_pubkey2> <funding script>`: the signatures in the
/// order of their keys in the script (`OP_CHECKMULTISIG` matches them in order).
pub fn funding_witness(
    key_a: &PublicKey,
    sig_a: &Signature,
    key_b: &PublicKey,
    sig_b: &Signature,
    funding_script: &Script,
) -> Witness {
    let (first, _) = sorted_pair(key_a, key_b);
    let (s1, s2) = if first == key_a {
        (sig_a, sig_b)
    } else {
        (sig_b, sig_a)
    };
    Witness::from_slice(&[
        Vec::new(),
        s1.to_vec(),
        s2.to_vec(),
        funding_script.to_bytes(),
    ])
}

/// `<local_delayedsig> 0`: the owner claims `to_local` or a second-stage HTLC output after
/// `to_self_delay` (the input's nSequence must be `to_self_delay`).
pub fn to_local_delayed_witness(delayed_sig: &Signature, to_local_script: &Script) -> Witness {
    Witness::from_slice(&[delayed_sig.to_vec(), Vec::new(), to_local_script.to_bytes()])
}

/// `<revocation_sig> 1`: the counterparty sweeps a revoked `to_local` or second-stage output.
pub fn to_local_revocation_witness(
    revocation_sig: &Signature,
    to_local_script: &Script,
) -> Witness {
    Witness::from_slice(&[
        revocation_sig.to_vec(),
        vec![1u8],
        to_local_script.to_bytes(),
    ])
}

/// `<sig> <remotepubkey>`: static-remotekey `to_remote` (P2WPKH).
pub fn to_remote_p2wpkh_witness(sig: &Signature, remote_payment_key: &PublicKey) -> Witness {
    Witness::from_slice(&[sig.to_vec(), remote_payment_key.serialize().to_vec()])
}

/// `<remote_sig>`: anchors `to_remote` (P2WSH, the input's nSequence must be at least 1).
pub fn to_remote_anchor_witness(sig: &Signature, to_remote_script: &Script) -> Witness {
    Witness::from_slice(&[sig.to_vec(), to_remote_script.to_bytes()])
}

/// `<revocation_sig> <revocationpubkey>`: the counterparty sweeps a revoked HTLC output
/// (offered or received).
pub fn htlc_revocation_witness(
    revocation_sig: &Signature,
    revocation_key: &PublicKey,
    htlc_script: &Script,
) -> Witness {
    Witness::from_slice(&[
        revocation_sig.to_vec(),
        revocation_key.serialize().to_vec(),
        htlc_script.to_bytes(),
    ])
}

/// `<remotehtlcsig> <payment_preimage>`: the counterparty claims an HTLC offered to it
/// directly from the owner's commitment.
pub fn offered_htlc_preimage_witness(
    remote_htlc_sig: &Signature,
    preimage: &PaymentPreimage,
    htlc_script: &Script,
) -> Witness {
    Witness::from_slice(&[
        remote_htlc_sig.to_vec(),
        preimage.0.to_vec(),
        htlc_script.to_bytes(),
    ])
}

/// `<remotehtlcsig> 0`: the counterparty takes back an HTLC it offered, after `cltv_expiry`
/// (the spending transaction's locktime must be at least `cltv_expiry`).
pub fn received_htlc_timeout_witness(remote_htlc_sig: &Signature, htlc_script: &Script) -> Witness {
    Witness::from_slice(&[remote_htlc_sig.to_vec(), Vec::new(), htlc_script.to_bytes()])
}

/// `0 <remotehtlcsig> <localhtlcsig> 0`: the HTLC-timeout transaction's input.
pub fn htlc_timeout_tx_witness(
    remote_htlc_sig: &Signature,
    local_htlc_sig: &Signature,
    htlc_script: &Script,
) -> Witness {
    Witness::from_slice(&[
        Vec::new(),
        remote_htlc_sig.to_vec(),
        local_htlc_sig.to_vec(),
        Vec::new(),
        htlc_script.to_bytes(),
    ])
}

/// `0 <remotehtlcsig> <localhtlcsig> <payment_preimage>`: the HTLC-success transaction's input.
pub fn htlc_success_tx_witness(
    remote_htlc_sig: &Signature,
    local_htlc_sig: &Signature,
    preimage: &PaymentPreimage,
    htlc_script: &Script,
) -> Witness {
    Witness::from_slice(&[
        Vec::new(),
        remote_htlc_sig.to_vec(),
        local_htlc_sig.to_vec(),
        preimage.0.to_vec(),
        htlc_script.to_bytes(),
    ])
}

/// `<funding_sig>`: an anchor spent by its owner, at any time.
pub fn anchor_owner_witness(funding_sig: &Signature, anchor_script: &Script) -> Witness {
    Witness::from_slice(&[funding_sig.to_vec(), anchor_script.to_bytes()])
}

/// `<>`: an anchor swept by anyone once the commitment has 16 confirmations (nSequence 16).
pub fn anchor_anyone_witness(anchor_script: &Script) -> Witness {
    Witness::from_slice(&[Vec::new(), anchor_script.to_bytes()])
}
