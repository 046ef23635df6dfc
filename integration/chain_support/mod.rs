//! Test fixtures for the chain tests: keys, mature coins on the embedded node, and signing.
#![allow(dead_code)]

use bitcoin::absolute::LockTime;
use bitcoin::hashes::Hash;
use bitcoin::key::{Keypair, TapTweak};
use bitcoin::secp256k1::{All, Message, Secp256k1, SecretKey};
use bitcoin::sighash::{Prevouts, SighashCache};
use bitcoin::transaction::Version;
use bitcoin::{
    Amount, CompressedPublicKey, EcdsaSighashType, OutPoint, ScriptBuf, Sequence, TapSighashType,
    Transaction, TxIn, TxOut, Witness,
};
use chanhub::chain::regtest::RegtestNode;

/// A key that owns P2WPKH (and P2TR) outputs.
pub struct Key {
    pub secp: Secp256k1<All>,
    pub sk: SecretKey,
    pub pk: CompressedPublicKey,
}

impl Key {
    pub fn new(seed: u8) -> Key {
        Key::from_secret_key(SecretKey::from_slice(&[seed; 32]).expect("valid key"))
    }

    /// A key derived elsewhere, e.g. a node's wallet key from its seed.
    pub fn from_secret_key(sk: SecretKey) -> Key {
        let secp = Secp256k1::new();
        let pk = CompressedPublicKey(sk.public_key(&secp));
        Key { secp, sk, pk }
    }

    pub fn p2wpkh(&self) -> ScriptBuf {
        ScriptBuf::new_p2wpkh(&self.pk.wpubkey_hash())
    }

    pub fn p2tr(&self) -> ScriptBuf {
        let (xonly, _) = self.sk.x_only_public_key(&self.secp);
        ScriptBuf::new_p2tr(&self.secp, xonly, None)
    }

    /// ECDSA signature (DER + sighash byte) for a segwit v0 input.
    pub fn sign_segwit_v0(
        &self,
        tx: &Transaction,
        input: usize,
        script_code: &ScriptBuf,
        value: Amount,
    ) -> Vec<u8> {
        let sighash = SighashCache::new(tx)
            .p2wsh_signature_hash(input, script_code, value, EcdsaSighashType::All)
            .expect("valid input");
        let sig = self
            .secp
            .sign_ecdsa(&Message::from_digest(sighash.to_byte_array()), &self.sk);
        let mut der = sig.serialize_der().to_vec();
        der.push(EcdsaSighashType::All as u8);
        der
    }

    /// Signs input `input` as a P2WPKH spend of `value`.
    pub fn sign_p2wpkh(&self, tx: &mut Transaction, input: usize, value: Amount) {
        let script_code = ScriptBuf::new_p2pkh(&self.pk.pubkey_hash());
        let sig = self.sign_segwit_v0(tx, input, &script_code, value);
        tx.input[input].witness = Witness::from_slice(&[sig, self.pk.to_bytes().to_vec()]);
    }

    /// Signs input `input` as a P2TR key-path spend; `prevouts` are all the spent outputs.
    pub fn sign_p2tr_keypath(&self, tx: &mut Transaction, input: usize, prevouts: &[TxOut]) {
        let keypair = Keypair::from_secret_key(&self.secp, &self.sk);
        let tweaked = keypair.tap_tweak(&self.secp, None);
        let sighash = SighashCache::new(&*tx)
            .taproot_key_spend_signature_hash(
                input,
                &Prevouts::All(prevouts),
                TapSighashType::Default,
            )
            .expect("valid input");
        let sig = self.secp.sign_schnorr(
            &Message::from_digest(sighash.to_byte_array()),
            &tweaked.to_keypair(),
        );
        tx.input[input].witness = Witness::from_slice(&[sig.as_ref().to_vec()]);
    }
}

/// A coin we can spend.
#[derive(Debug, Clone)]
pub struct Coin {
    pub outpoint: OutPoint,
    pub txout: TxOut,
}

/// Mines `count` blocks paying `key`, then 100 more so they mature; returns the coinbases.
pub fn mature_coins(node: &RegtestNode, key: &Key, count: u32) -> Vec<Coin> {
    let hashes = node.generate_to_script(count, &key.p2wpkh()).expect("mine");
    let burn = ScriptBuf::new_p2wsh(&bitcoin::WScriptHash::all_zeros());
    node.generate_to_script(100, &burn).expect("mature");
    hashes
        .iter()
        .map(|h| {
            let block = node.block(h).expect("read").expect("exists");
            let cb = &block.txdata[0];
            Coin {
                outpoint: OutPoint::new(cb.compute_txid(), 0),
                txout: cb.output[0].clone(),
            }
        })
        .collect()
}

/// An unsigned version-2 transaction spending `inputs` to `outputs`.
pub fn unsigned(inputs: &[(OutPoint, Sequence)], outputs: Vec<TxOut>) -> Transaction {
    Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: inputs
            .iter()
            .map(|(previous_output, sequence)| TxIn {
                previous_output: *previous_output,
                script_sig: ScriptBuf::new(),
                sequence: *sequence,
                witness: Witness::new(),
            })
            .collect(),
        output: outputs,
    }
}

/// Spends a P2WPKH coin of `key` to `to`, paying `fee`.
pub fn spend(key: &Key, coin: &Coin, to: ScriptBuf, fee: Amount) -> Transaction {
    let mut tx = unsigned(
        &[(coin.outpoint, Sequence::ENABLE_RBF_NO_LOCKTIME)],
        vec![TxOut {
            value: coin.txout.value - fee,
            script_pubkey: to,
        }],
    );
    key.sign_p2wpkh(&mut tx, 0, coin.txout.value);
    tx
}

/// The first output of `tx` as a coin.
pub fn first_output(tx: &Transaction) -> Coin {
    Coin {
        outpoint: OutPoint::new(tx.compute_txid(), 0),
        txout: tx.output[0].clone(),
    }
}
