//! Shared by the chain RPC tests: a P2WPKH key that signs its own spends, and an embedded
//! node served over RPC.
#![allow(dead_code)]

use std::sync::Arc;

use bitcoin::{
    absolute, Address, Amount, Network, OutPoint, ScriptBuf, Sequence, Transaction, TxOut,
};
use chanhub::chain::regtest::RegtestNode;
use chanhub::chain::rpc_client::{RpcAuth, RpcChainSource};
use chanhub::chain::rpc_server::{RpcAuthConfig, RpcServer, RunningRpcServer};

#[path = "../chain_support/mod.rs"]
pub mod chain_support;
use chain_support::{unsigned, Key};

pub const USER: &str = "alice";
pub const PASSWORD: &str = "correct horse";

/// A key with its regtest P2WPKH address, signing through the chain tests' [`Key`].
pub struct Wallet {
    key: Key,
    pub address: Address,
}

impl Wallet {
    /// A fixed key per `seed`, so runs are comparable.
    pub fn new(seed: u8) -> Wallet {
        let key = Key::new(seed.max(1));
        let address = Address::p2wpkh(&key.pk, Network::Regtest);
        Wallet { key, address }
    }

    pub fn script(&self) -> ScriptBuf {
        self.key.p2wpkh()
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
        let mut tx = unsigned(&[(prev, sequence)], outputs);
        tx.lock_time = lock_time;
        self.key.sign_p2wpkh(&mut tx, 0, value);
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
