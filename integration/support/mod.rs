//! Shared by the chain RPC tests: a P2WPKH key that signs its own spends, and an embedded
//! node served over RPC.
#![allow(dead_code)]

use std::sync::Arc;

use bitcoin::hashes::Hash;
use bitcoin::key::CompressedPublicKey;
use bitcoin::secp256k1::{All, Message, Secp256k1, SecretKey};
use bitcoin::sighash::{EcdsaSighashType, SighashCache};
use bitcoin::{
    absolute, transaction, Address, Amount, Network, OutPoint, ScriptBuf, Sequence, Transaction,
    TxIn, TxOut, Witness,
};
use chanhub::chain::regtest::RegtestNode;
use chanhub::chain::rpc_client::{RpcAuth, RpcChainSource};
use chanhub::chain::rpc_server::{RpcAuthConfig, RpcServer, RunningRpcServer};

pub const USER: &str = "alice";
pub const PASSWORD: &str = "correct horse";

/// A key with its regtest P2WPKH address.
pub struct Wallet {
    secp: Secp256k1<All>,
    secret: SecretKey,
    pubkey: CompressedPublicKey,
    pub address: Address,
}

impl Wallet {
    /// A fixed key per `seed`, so runs are comparable.
    pub fn new(seed: u8) -> Wallet {
        let secp = Secp256k1::new();
        let secret = SecretKey::from_slice(&[seed.max(1); 32]).expect("valid key");
        let pubkey = CompressedPublicKey(secret.public_key(&secp));
        let address = Address::p2wpkh(&pubkey, Network::Regtest);
        Wallet {
            secp,
            secret,
            pubkey,
            address,
        }
    }

    pub fn script(&self) -> ScriptBuf {
        self.address.script_pubkey()
    }

    /// Spends `prev` (an output of ours worth `value`) to `outputs`, signed (SIGHASH_ALL).
    pub fn spend_with(
        &self,
        prev: OutPoint,
        value: Amount,
        outputs: Vec<TxOut>,
        lock_time: absolute::LockTime,
        sequence: Sequence,
    ) -> Transaction {
        let mut tx = Transaction {
            version: transaction::Version::TWO,
            lock_time,
            input: vec![TxIn {
                previous_output: prev,
                script_sig: ScriptBuf::new(),
                sequence,
                witness: Witness::new(),
            }],
            output: outputs,
        };
        let sighash = SighashCache::new(&tx)
            .p2wpkh_signature_hash(0, &self.script(), value, EcdsaSighashType::All)
            .expect("sighash");
        let msg = Message::from_digest(sighash.to_byte_array());
        let signature = bitcoin::ecdsa::Signature {
            signature: self.secp.sign_ecdsa_low_r(&msg, &self.secret),
            sighash_type: EcdsaSighashType::All,
        };
        tx.input[0].witness = Witness::p2wpkh(&signature, &self.pubkey.0);
        tx
    }

    /// Spends `prev` back to ourselves, paying `fee`.
    pub fn spend(&self, prev: OutPoint, value: Amount, fee: Amount) -> Transaction {
        let out = TxOut {
            value: value - fee,
            script_pubkey: self.script(),
        };
        self.spend_with(
            prev,
            value,
            vec![out],
            absolute::LockTime::ZERO,
            Sequence::MAX,
        )
    }
}

/// An embedded node served on 127.0.0.1 with a password and a cookie.
pub struct Served {
    pub node: Arc<RegtestNode>,
    pub server: RunningRpcServer,
    pub cookie_dir: tempfile::TempDir,
}

impl Served {
    pub async fn start() -> Served {
        let node = RegtestNode::in_memory().expect("node");
        Self::start_on(node).await
    }

    pub async fn start_on(node: Arc<RegtestNode>) -> Served {
        let cookie_dir = tempfile::tempdir().expect("tempdir");
        let auth = RpcAuthConfig {
            user_password: Some((USER.into(), PASSWORD.into())),
            cookie_dir: Some(cookie_dir.path().to_path_buf()),
        };
        let server = RpcServer::start(node.clone(), "127.0.0.1:0".parse().unwrap(), auth)
            .await
            .expect("server starts");
        Served {
            node,
            server,
            cookie_dir,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    pub fn client(&self) -> RpcChainSource {
        RpcChainSource::new(
            &self.url(),
            RpcAuth::UserPass {
                user: USER.into(),
                password: PASSWORD.into(),
            },
        )
        .expect("client")
    }
}
