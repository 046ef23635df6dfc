//! Fully signed single-input spends of every output a channel creates.
//!
//! Each function takes the output being spent, the keys (private key of the spending path,
//! public keys to rebuild the script) and a destination, and returns a transaction ready to
//! broadcast: version 2, one input, one output of `value - fee`. nSequence and locktime are set
//! as the path requires (`to_self_delay`, 1 or 16 for CSV paths; `cltv_expiry` for CLTV paths;
//! otherwise 0xFFFFFFFD, RBF-signalling). Batching several inputs is left to the caller.

use bitcoin::absolute::LockTime;
use bitcoin::ecdsa::Signature as BitcoinSignature;
use bitcoin::secp256k1::{PublicKey, SecretKey};
use bitcoin::sighash::EcdsaSighashType;
use bitcoin::transaction::Version;
use bitcoin::{Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Witness};

use super::commitment::Htlc;
use super::keys::CommitmentKeys;
use super::scripts::{
    anchor_script, offered_htlc_script, received_htlc_script, to_local_script,
    to_remote_anchor_script,
};
use super::sign::{p2wpkh_sighash, sign_digest, sign_p2wsh};
use super::witness::*;
use super::{secp, Bolt3Error, ChannelType, HtlcDirection, PaymentPreimage};

/// The output being spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpentOutput {
    pub outpoint: OutPoint,
    pub value_sat: u64,
}

/// Where the funds go and what fee the spend pays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    pub script_pubkey: ScriptBuf,
    pub fee_sat: u64,
}

fn unsigned(
    spent: &SpentOutput,
    sequence: Sequence,
    lock_time: LockTime,
    dest: &Destination,
) -> Result<Transaction, Bolt3Error> {
    let value = spent
        .value_sat
        .checked_sub(dest.fee_sat)
        .ok_or(Bolt3Error::FeeTooHigh {
            fee_sat: dest.fee_sat,
            available_sat: spent.value_sat,
        })?;
    Ok(Transaction {
        version: Version::TWO,
        lock_time,
        input: vec![TxIn {
            previous_output: spent.outpoint,
            script_sig: ScriptBuf::new(),
            sequence,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value: Amount::from_sat(value),
            script_pubkey: dest.script_pubkey.clone(),
        }],
    })
}

fn sign_all(
    tx: &Transaction,
    script: &ScriptBuf,
    spent: &SpentOutput,
    key: &SecretKey,
) -> Result<BitcoinSignature, Bolt3Error> {
    sign_p2wsh(tx, 0, script, spent.value_sat, EcdsaSighashType::All, key)
}

fn htlc_script(ct: ChannelType, keys: &CommitmentKeys, htlc: &Htlc) -> ScriptBuf {
    match htlc.direction {
        HtlcDirection::Offered => offered_htlc_script(
            ct,
            &keys.revocation_key,
            &keys.local_htlc_key,
            &keys.remote_htlc_key,
            &htlc.payment_hash,
        ),
        HtlcDirection::Received => received_htlc_script(
            ct,
            &keys.revocation_key,
            &keys.local_htlc_key,
            &keys.remote_htlc_key,
            &htlc.payment_hash,
            htlc.cltv_expiry,
        ),
    }
}

/// The owner claims its `to_local` output, or the output of its HTLC-timeout/success
/// transaction, after `to_self_delay` blocks.
pub fn spend_delayed(
    spent: &SpentOutput,
    revocation_key: &PublicKey,
    to_self_delay: u16,
    delayed_privkey: &SecretKey,
    dest: &Destination,
) -> Result<Transaction, Bolt3Error> {
    let script = to_local_script(
        revocation_key,
        to_self_delay,
        &delayed_privkey.public_key(secp()),
    );
    let mut tx = unsigned(
        spent,
        Sequence::from_height(to_self_delay),
        LockTime::ZERO,
        dest,
    )?;
    let sig = sign_all(&tx, &script, spent, delayed_privkey)?;
    tx.input[0].witness = to_local_delayed_witness(&sig, &script);
    Ok(tx)
}

/// The counterparty sweeps a revoked `to_local` or second-stage output at once.
pub fn spend_delayed_revoked(
    spent: &SpentOutput,
    revocation_privkey: &SecretKey,
    to_self_delay: u16,
    local_delayed_key: &PublicKey,
    dest: &Destination,
) -> Result<Transaction, Bolt3Error> {
    let script = to_local_script(
        &revocation_privkey.public_key(secp()),
        to_self_delay,
        local_delayed_key,
    );
    let mut tx = unsigned(
        spent,
        Sequence::ENABLE_RBF_NO_LOCKTIME,
        LockTime::ZERO,
        dest,
    )?;
    let sig = sign_all(&tx, &script, spent, revocation_privkey)?;
    tx.input[0].witness = to_local_revocation_witness(&sig, &script);
    Ok(tx)
}

/// The non-owner claims its `to_remote` output with its (untweaked) payment basepoint secret:
/// P2WPKH under static remotekey, P2WSH after one confirmation under anchors.
pub fn spend_to_remote(
    channel_type: ChannelType,
    spent: &SpentOutput,
    payment_privkey: &SecretKey,
    dest: &Destination,
) -> Result<Transaction, Bolt3Error> {
    let key = payment_privkey.public_key(secp());
    if channel_type.has_anchors() {
        let script = to_remote_anchor_script(&key);
        let mut tx = unsigned(spent, Sequence(1), LockTime::ZERO, dest)?;
        let sig = sign_all(&tx, &script, spent, payment_privkey)?;
        tx.input[0].witness = to_remote_anchor_witness(&sig, &script);
        Ok(tx)
    } else {
        let mut tx = unsigned(
            spent,
            Sequence::ENABLE_RBF_NO_LOCKTIME,
            LockTime::ZERO,
            dest,
        )?;
        let msg = p2wpkh_sighash(&tx, 0, &key, spent.value_sat, EcdsaSighashType::All)?;
        let sig = BitcoinSignature::sighash_all(sign_digest(&msg, payment_privkey));
        tx.input[0].witness = to_remote_p2wpkh_witness(&sig, &key);
        Ok(tx)
    }
}

/// The non-owner claims an HTLC the owner offered to it, with the preimage, straight from the
/// owner's commitment. `keys` are the owner's commitment keys; `remote_htlc_privkey` is the
/// spender's HTLC key for that commitment.
pub fn spend_offered_htlc_with_preimage(
    channel_type: ChannelType,
    spent: &SpentOutput,
    keys: &CommitmentKeys,
    htlc: &Htlc,
    remote_htlc_privkey: &SecretKey,
    preimage: &PaymentPreimage,
    dest: &Destination,
) -> Result<Transaction, Bolt3Error> {
    if htlc.direction != HtlcDirection::Offered {
        return Err(Bolt3Error::BadTransaction("not an offered HTLC"));
    }
    if preimage.payment_hash() != htlc.payment_hash {
        return Err(Bolt3Error::PreimageMismatch);
    }
    let script = htlc_script(channel_type, keys, htlc);
    let sequence = if channel_type.has_anchors() {
        Sequence(1)
    } else {
        Sequence::ENABLE_RBF_NO_LOCKTIME
    };
    let mut tx = unsigned(spent, sequence, LockTime::ZERO, dest)?;
    let sig = sign_all(&tx, &script, spent, remote_htlc_privkey)?;
    tx.input[0].witness = offered_htlc_preimage_witness(&sig, preimage, &script);
    Ok(tx)
}

/// The non-owner takes back an HTLC it offered (received by the owner) once `cltv_expiry` has
/// passed, straight from the owner's commitment.
pub fn spend_received_htlc_after_timeout(
    channel_type: ChannelType,
    spent: &SpentOutput,
    keys: &CommitmentKeys,
    htlc: &Htlc,
    remote_htlc_privkey: &SecretKey,
    dest: &Destination,
) -> Result<Transaction, Bolt3Error> {
    if htlc.direction != HtlcDirection::Received {
        return Err(Bolt3Error::BadTransaction("not a received HTLC"));
    }
    let script = htlc_script(channel_type, keys, htlc);
    let sequence = if channel_type.has_anchors() {
        Sequence(1)
    } else {
        Sequence::ENABLE_LOCKTIME_NO_RBF
    };
    let mut tx = unsigned(
        spent,
        sequence,
        LockTime::from_consensus(htlc.cltv_expiry),
        dest,
    )?;
    let sig = sign_all(&tx, &script, spent, remote_htlc_privkey)?;
    tx.input[0].witness = received_htlc_timeout_witness(&sig, &script);
    Ok(tx)
}

/// The non-owner sweeps any HTLC output of a revoked commitment with the revocation key.
pub fn spend_htlc_revoked(
    channel_type: ChannelType,
    spent: &SpentOutput,
    keys: &CommitmentKeys,
    htlc: &Htlc,
    revocation_privkey: &SecretKey,
    dest: &Destination,
) -> Result<Transaction, Bolt3Error> {
    if revocation_privkey.public_key(secp()) != keys.revocation_key {
        return Err(Bolt3Error::BadTransaction("revocation key does not match"));
    }
    let script = htlc_script(channel_type, keys, htlc);
    let mut tx = unsigned(
        spent,
        Sequence::ENABLE_RBF_NO_LOCKTIME,
        LockTime::ZERO,
        dest,
    )?;
    let sig = sign_all(&tx, &script, spent, revocation_privkey)?;
    tx.input[0].witness = htlc_revocation_witness(&sig, &keys.revocation_key, &script);
    Ok(tx)
}

/// An anchor spent by its owner (normally as one input of a CPFP child).
pub fn spend_anchor(
    spent: &SpentOutput,
    funding_privkey: &SecretKey,
    dest: &Destination,
) -> Result<Transaction, Bolt3Error> {
    let script = anchor_script(&funding_privkey.public_key(secp()));
    let mut tx = unsigned(
        spent,
        Sequence::ENABLE_RBF_NO_LOCKTIME,
        LockTime::ZERO,
        dest,
    )?;
    let sig = sign_all(&tx, &script, spent, funding_privkey)?;
    tx.input[0].witness = anchor_owner_witness(&sig, &script);
    Ok(tx)
}

/// An anchor swept by anyone, 16 blocks after the commitment confirmed.
pub fn spend_anchor_by_anyone(
    spent: &SpentOutput,
    funding_pubkey: &PublicKey,
    dest: &Destination,
) -> Result<Transaction, Bolt3Error> {
    let script = anchor_script(funding_pubkey);
    let mut tx = unsigned(spent, Sequence(16), LockTime::ZERO, dest)?;
    tx.input[0].witness = anchor_anyone_witness(&script);
    Ok(tx)
}
