//! The funding output and a simple funding transaction (BOLT 3 "Funding Transaction Output").

use std::cmp::Ordering;

use bitcoin::absolute::LockTime;
use bitcoin::ecdsa::Signature as BitcoinSignature;
use bitcoin::hashes::Hash;
use bitcoin::secp256k1::ecdsa::Signature;
use bitcoin::secp256k1::{Message, PublicKey};
use bitcoin::sighash::EcdsaSighashType;
use bitcoin::transaction::Version;
use bitcoin::{Amount, Transaction, TxIn, TxOut};

use super::scripts::{funding_script, p2wsh};
use super::sign::{p2wsh_sighash, verify_digest};
use super::witness::funding_witness;
use super::Bolt3Error;

/// The P2WSH funding output paying `funding_sat` to the 2-of-2 of the two funding keys.
pub fn funding_output(funding_sat: u64, a: &PublicKey, b: &PublicKey) -> TxOut {
    TxOut {
        value: Amount::from_sat(funding_sat),
        script_pubkey: p2wsh(&funding_script(a, b)),
    }
}

/// A funding transaction and where its funding output landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FundingTx {
    pub tx: Transaction,
    pub funding_output_index: u32,
}

fn bip69_input_order(a: &TxIn, b: &TxIn) -> Ordering {
    // Previous txids compare in their displayed (reversed) byte order, then by vout.
    let mut ta = a.previous_output.txid.to_byte_array();
    let mut tb = b.previous_output.txid.to_byte_array();
    ta.reverse();
    tb.reverse();
    ta.cmp(&tb)
        .then(a.previous_output.vout.cmp(&b.previous_output.vout))
}

/// BIP 69 output order: amount, then script bytes.
pub fn bip69_output_order(a: &TxOut, b: &TxOut) -> Ordering {
    a.value
        .cmp(&b.value)
        .then_with(|| a.script_pubkey.as_bytes().cmp(b.script_pubkey.as_bytes()))
}

/// An unsigned version-2 funding transaction: the given inputs, the funding output and an
/// optional change output, both lists in BIP 69 order. Signing the inputs is the wallet's job.
pub fn build_funding_tx(
    mut inputs: Vec<TxIn>,
    funding_sat: u64,
    local_funding_pubkey: &PublicKey,
    remote_funding_pubkey: &PublicKey,
    change: Option<TxOut>,
) -> Result<FundingTx, Bolt3Error> {
    if inputs.is_empty() {
        return Err(Bolt3Error::BadTransaction(
            "funding transaction without inputs",
        ));
    }
    inputs.sort_by(bip69_input_order);
    let funding = funding_output(funding_sat, local_funding_pubkey, remote_funding_pubkey);
    let mut output = vec![funding.clone()];
    output.extend(change);
    output.sort_by(bip69_output_order);
    let funding_output_index = output
        .iter()
        .position(|o| *o == funding)
        .ok_or(Bolt3Error::BadTransaction("funding output lost"))?
        as u32;
    Ok(FundingTx {
        tx: Transaction {
            version: Version::TWO,
            lock_time: LockTime::ZERO,
            input: inputs,
            output,
        },
        funding_output_index,
    })
}

/// The `SIGHASH_ALL` digest for the funding input (input 0) of a commitment or closing tx.
pub fn funding_spend_sighash(
    tx: &Transaction,
    funding_sat: u64,
    local_funding_pubkey: &PublicKey,
    remote_funding_pubkey: &PublicKey,
) -> Result<Message, Bolt3Error> {
    p2wsh_sighash(
        tx,
        0,
        &funding_script(local_funding_pubkey, remote_funding_pubkey),
        funding_sat,
        EcdsaSighashType::All,
    )
}

/// Verify both signatures on the funding input of `tx` and fill in its witness.
pub fn finalize_funding_spend(
    tx: &Transaction,
    funding_sat: u64,
    local_funding_pubkey: &PublicKey,
    local_sig: &Signature,
    remote_funding_pubkey: &PublicKey,
    remote_sig: &Signature,
) -> Result<Transaction, Bolt3Error> {
    if tx.input.len() != 1 {
        return Err(Bolt3Error::BadTransaction(
            "funding spend must have one input",
        ));
    }
    let msg = funding_spend_sighash(tx, funding_sat, local_funding_pubkey, remote_funding_pubkey)?;
    verify_digest(&msg, local_sig, local_funding_pubkey)?;
    verify_digest(&msg, remote_sig, remote_funding_pubkey)?;
    let mut tx = tx.clone();
    tx.input[0].witness = funding_witness(
        local_funding_pubkey,
        &BitcoinSignature::sighash_all(*local_sig),
        remote_funding_pubkey,
        &BitcoinSignature::sighash_all(*remote_sig),
        &funding_script(local_funding_pubkey, remote_funding_pubkey),
    );
    Ok(tx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bolt3::secp;
    use bitcoin::hashes::Hash;
    use bitcoin::secp256k1::SecretKey;
    use bitcoin::{OutPoint, ScriptBuf, Sequence, Txid, Witness};

    fn input(txid_byte: u8, vout: u32) -> TxIn {
        let mut id = [0u8; 32];
        // Internal byte order is reversed from display order: make the *last* byte differ.
        id[31] = txid_byte;
        TxIn {
            previous_output: OutPoint::new(Txid::from_byte_array(id), vout),
            script_sig: ScriptBuf::new(),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }
    }

    #[test]
    fn inputs_and_outputs_follow_bip69() {
        let a = SecretKey::from_slice(&[1; 32]).unwrap().public_key(secp());
        let b = SecretKey::from_slice(&[2; 32]).unwrap().public_key(secp());
        let change = TxOut {
            value: Amount::from_sat(1_000),
            script_pubkey: ScriptBuf::new(),
        };
        let f = build_funding_tx(
            vec![input(2, 0), input(1, 5), input(1, 2)],
            50_000,
            &a,
            &b,
            Some(change),
        )
        .unwrap();
        let order: Vec<(u8, u32)> =
            f.tx.input
                .iter()
                .map(|i| {
                    (
                        i.previous_output.txid.to_byte_array()[31],
                        i.previous_output.vout,
                    )
                })
                .collect();
        assert_eq!(order, vec![(1, 2), (1, 5), (2, 0)]);
        assert_eq!(
            f.funding_output_index, 1,
            "the smaller change output sorts first"
        );
        assert_eq!(f.tx.output[1], funding_output(50_000, &b, &a));
        assert!(matches!(
            build_funding_tx(vec![], 1, &a, &b, None),
            Err(Bolt3Error::BadTransaction(_))
        ));
    }
}
