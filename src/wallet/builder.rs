//! Building and signing wallet transactions (P2WPKH inputs, BIP143 signatures).

use bitcoin::absolute::LockTime;
use bitcoin::secp256k1::{Message, PublicKey};
use bitcoin::sighash::{EcdsaSighashType, SighashCache};
use bitcoin::transaction::{predict_weight, InputWeightPrediction, Version};
use bitcoin::{Amount, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Weight, Witness};

use super::coin_selection::Weights;
use super::WalletError;
use crate::keys::KeysManager;
use crate::store::wallet::WalletOutput;

/// The weights coin selection needs for a transaction paying `outputs` plus a P2WPKH change.
pub(crate) fn weights(outputs: &[TxOut], change_script: &ScriptBuf) -> Weights {
    let base = predict_weight(
        std::iter::empty(),
        outputs.iter().map(|o| o.script_pubkey.len()),
    );
    let one_input = predict_weight(
        [InputWeightPrediction::P2WPKH_MAX],
        outputs.iter().map(|o| o.script_pubkey.len()),
    );
    let change_output = TxOut {
        value: Amount::ZERO,
        script_pubkey: change_script.clone(),
    };
    Weights {
        // predict_weight with no inputs leaves out the segwit marker and flag; every wallet
        // transaction has witness inputs, so count them in the base.
        base: base + Weight::from_wu(2),
        input: one_input - base - Weight::from_wu(2),
        change_output: change_output.weight(),
    }
}

/// Builds the transaction spending `inputs` to `outputs` and signs every input.
///
/// The lock time is the current height (anti fee sniping, as Bitcoin Core does) and inputs
/// signal replaceability, so a stuck payment can be bumped later.
pub(crate) fn build_and_sign(
    keys: &KeysManager,
    inputs: &[WalletOutput],
    outputs: Vec<TxOut>,
    tip_height: u32,
) -> Result<Transaction, WalletError> {
    let lock_time = LockTime::from_height(tip_height).unwrap_or(LockTime::ZERO);
    let mut tx = Transaction {
        version: Version::TWO,
        lock_time,
        input: inputs
            .iter()
            .map(|i| TxIn {
                previous_output: i.outpoint,
                script_sig: ScriptBuf::new(),
                sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
                witness: Witness::new(),
            })
            .collect(),
        output: outputs,
    };
    let secp = keys.secp();
    let mut witnesses = Vec::with_capacity(inputs.len());
    {
        let mut cache = SighashCache::new(&tx);
        for (n, input) in inputs.iter().enumerate() {
            let sk = keys.wallet_secret(input.keychain, input.index)?;
            let pk = PublicKey::from_secret_key(secp, &sk);
            let sighash = cache
                .p2wpkh_signature_hash(n, &input.script_pubkey, input.value, EcdsaSighashType::All)
                .map_err(|e| WalletError::Signing {
                    input: n,
                    reason: e.to_string(),
                })?;
            let msg = Message::from_digest(sighash.to_raw_hash().to_byte_array());
            let sig = bitcoin::ecdsa::Signature::sighash_all(secp.sign_ecdsa(&msg, &sk));
            witnesses.push(Witness::p2wpkh(&sig, &pk));
        }
    }
    for (input, witness) in tx.input.iter_mut().zip(witnesses) {
        input.witness = witness;
    }
    Ok(tx)
}

use bitcoin::hashes::Hash as _;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{Keychain, Seed};
    use bitcoin::{Network, OutPoint, Txid};

    #[test]
    fn signatures_verify_and_weight_prediction_is_an_upper_bound() {
        let keys = KeysManager::new(&Seed::from_bytes([9; 32]), Network::Regtest);
        let inputs: Vec<WalletOutput> = (0..3u32)
            .map(|i| WalletOutput {
                outpoint: OutPoint {
                    txid: Txid::from_byte_array([i as u8 + 1; 32]),
                    vout: i,
                },
                value: Amount::from_sat(10_000 * (i as u64 + 1)),
                script_pubkey: keys.wallet_script(Keychain::External, i).unwrap(),
                keychain: Keychain::External,
                index: i,
                confirmations: 1,
                coinbase: false,
                own: false,
            })
            .collect();
        let dest = keys.wallet_script(Keychain::Internal, 0).unwrap();
        let outputs = vec![TxOut {
            value: Amount::from_sat(50_000),
            script_pubkey: dest.clone(),
        }];
        let w = weights(&outputs, &dest);
        let tx = build_and_sign(&keys, &inputs, outputs, 120).unwrap();
        assert!(tx.weight() <= w.base + w.input * 3);
        assert_eq!(tx.lock_time, LockTime::from_height(120).unwrap());

        let secp = keys.secp();
        let mut cache = SighashCache::new(&tx);
        for (n, input) in inputs.iter().enumerate() {
            let witness = &tx.input[n].witness;
            assert_eq!(witness.len(), 2);
            let sig = bitcoin::ecdsa::Signature::from_slice(&witness[0]).unwrap();
            let pk = PublicKey::from_slice(&witness[1]).unwrap();
            let expected_script =
                ScriptBuf::new_p2wpkh(&bitcoin::CompressedPublicKey(pk).wpubkey_hash());
            assert_eq!(expected_script, input.script_pubkey);
            let sighash = cache
                .p2wpkh_signature_hash(n, &input.script_pubkey, input.value, EcdsaSighashType::All)
                .unwrap();
            let msg = Message::from_digest(sighash.to_raw_hash().to_byte_array());
            secp.verify_ecdsa(&msg, &sig.signature, &pk).unwrap();
        }
    }
}
