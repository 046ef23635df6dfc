//! Test helpers: consensus script verification and small key/hex utilities.

use bitcoin::consensus::encode::serialize;
use bitcoin::secp256k1::{PublicKey, SecretKey};
use bitcoin::{Transaction, TxOut};

use super::keys::ChannelSecrets;

/// Run every input of `tx` through Bitcoin Core's script interpreter (all consensus flags,
/// CLTV/CSV included, checked against the transaction's own locktime and sequences).
pub fn consensus_verify(tx: &Transaction, spent: &[TxOut]) -> Result<(), String> {
    use bitcoinkernel::{verify, PrecomputedTransactionData, ScriptPubkey, VERIFY_ALL};
    assert_eq!(tx.input.len(), spent.len());
    let ktx = bitcoinkernel::Transaction::new(&serialize(tx)).map_err(|e| e.to_string())?;
    let outs: Vec<bitcoinkernel::TxOut> = spent
        .iter()
        .map(|o| {
            let spk = ScriptPubkey::new(o.script_pubkey.as_bytes()).unwrap();
            bitcoinkernel::TxOut::new(&spk, o.value.to_sat() as i64)
        })
        .collect();
    let data = PrecomputedTransactionData::new(&ktx, &outs).map_err(|e| e.to_string())?;
    for (i, o) in spent.iter().enumerate() {
        let spk = ScriptPubkey::new(o.script_pubkey.as_bytes()).map_err(|e| e.to_string())?;
        verify(
            &spk,
            Some(o.value.to_sat() as i64),
            &ktx,
            i,
            Some(VERIFY_ALL),
            &data,
        )
        .map_err(|e| format!("input {i}: {e}"))?;
    }
    Ok(())
}

/// [`consensus_verify`] for a one-input transaction.
pub fn verify_one(tx: &Transaction, spent: &TxOut) -> Result<(), String> {
    consensus_verify(tx, std::slice::from_ref(spent))
}

pub fn hex32(s: &str) -> [u8; 32] {
    let s = s.trim_start_matches("0x");
    hex::decode(s).unwrap().try_into().unwrap()
}

pub fn sk(s: &str) -> SecretKey {
    // Vector private keys carry a trailing 01 ("compressed" marker).
    SecretKey::from_slice(&hex32(&s[..64])).unwrap()
}

pub fn pk(s: &str) -> PublicKey {
    PublicKey::from_slice(&hex::decode(s.trim_start_matches("0x")).unwrap()).unwrap()
}

/// A deterministic key set from a single byte (tests only).
pub fn secrets_from_byte(b: u8) -> ChannelSecrets {
    let k = |x: u8| SecretKey::from_slice(&[x; 32]).unwrap();
    ChannelSecrets {
        funding_key: k(b),
        revocation_base_secret: k(b.wrapping_add(1)),
        payment_base_secret: k(b.wrapping_add(2)),
        delayed_payment_base_secret: k(b.wrapping_add(3)),
        htlc_base_secret: k(b.wrapping_add(4)),
    }
}
