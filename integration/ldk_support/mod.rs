//! LDK wallets (the `ldk-node` crate) in the tests, on the chain a chanhub node serves over its
//! bitcoind-compatible RPC: start one, fund it, wait for its events with a deadline.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::channels_support::{burn_address, TestNode, PATIENCE};
use ldk_node::bitcoin::secp256k1::PublicKey;
use ldk_node::bitcoin::Network;
use ldk_node::config::{AnchorChannelsConfig, Config};
use ldk_node::lightning::ln::msgs::SocketAddress;
use ldk_node::{Builder, ChannelDetails, Event};

/// One LDK wallet node.
pub struct Ldk {
    pub node: Arc<ldk_node::Node>,
    pub addr: SocketAddress,
    pub name: &'static str,
    pub dir: PathBuf,
}

/// Which channel type an LDK wallet negotiates: with `anchor_channels_config` it proposes and
/// accepts `option_anchors_zero_fee_htlc_tx` (keeping an on-chain reserve per channel);
/// without, only `option_static_remotekey`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LdkChannels {
    Anchors,
    StaticRemotekey,
}

impl LdkChannels {
    /// The hub's name for the type (`channel_type` in its API).
    pub fn hub_name(self) -> &'static str {
        match self {
            LdkChannels::Anchors => "anchors",
            LdkChannels::StaticRemotekey => "static_remotekey",
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The RPC address and the cookie's user/password of the chain `chain` serves.
fn chain_rpc(chain: &TestNode) -> (String, u16, String, String) {
    let addr = chain
        .node
        .node_json
        .chain_rpc_addr
        .expect("serves its chain");
    let cookie_path = chain.node.node_json.chain_rpc_cookie.clone().unwrap();
    let cookie = std::fs::read_to_string(cookie_path).unwrap();
    let (user, password) = cookie.trim().split_once(':').expect("user:password");
    (
        addr.ip().to_string(),
        addr.port(),
        user.to_string(),
        password.to_string(),
    )
}

/// Starts an LDK wallet in `dir`, syncing from `chain`'s RPC. Must run on a multi-threaded
/// runtime: ldk-node blocks in place on its calls.
pub fn start_ldk(name: &'static str, dir: &Path, chain: &TestNode, channels: LdkChannels) -> Ldk {
    start_ldk_with(name, dir, chain, channels, |_| {})
}

/// [`start_ldk`], with `configure` applied to the builder last (e.g. an LSPS2 liquidity
/// source).
pub fn start_ldk_with(
    name: &'static str,
    dir: &Path,
    chain: &TestNode,
    channels: LdkChannels,
    configure: impl FnOnce(&mut Builder),
) -> Ldk {
    let addr = SocketAddress::TcpIpV4 {
        addr: [127, 0, 0, 1],
        port: free_port(),
    };
    let config = Config {
        network: Network::Regtest,
        anchor_channels_config: match channels {
            LdkChannels::Anchors => Some(AnchorChannelsConfig::default()),
            LdkChannels::StaticRemotekey => None,
        },
        listening_addresses: Some(vec![addr.clone()]),
        storage_dir_path: dir.to_string_lossy().into_owned(),
        ..Config::default()
    };
    let mut builder = Builder::from_config(config);
    let (host, port, user, password) = chain_rpc(chain);
    builder.set_chain_source_bitcoind_rpc(host, port, user, password);
    let mut seed = [0u8; 64];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut seed);
    builder.set_entropy_seed_bytes(seed);
    builder
        .set_filesystem_logger(
            Some(dir.join("ldk.log").to_string_lossy().into_owned()),
            Some(ldk_node::logger::LogLevel::Debug),
        )
        .set_node_alias(name.to_string())
        .unwrap();
    configure(&mut builder);
    let node = Arc::new(builder.build().expect("ldk-node builds"));
    node.start().expect("ldk-node starts");
    Ldk {
        node,
        addr,
        name,
        dir: dir.to_path_buf(),
    }
}

impl Ldk {
    pub fn id(&self) -> PublicKey {
        self.node.node_id()
    }

    /// `node_id@host:port`, as the hub's API wants a peer.
    pub fn peer_addr(&self) -> String {
        self.addr.to_string()
    }

    /// The next event that `f` maps to `Some`, skipping (and acknowledging) others; panics
    /// with `what` after [`PATIENCE`].
    pub async fn expect_event<T>(&self, what: &str, mut f: impl FnMut(&Event) -> Option<T>) -> T {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let e = tokio::time::timeout_at(deadline, self.node.next_event_async())
                .await
                .unwrap_or_else(|_| panic!("{}: no event {what} in time", self.name));
            self.node.event_handled().unwrap();
            if let Some(t) = f(&e) {
                return t;
            }
            eprintln!("{}: skipped event {e:?} waiting for {what}", self.name);
        }
    }

    /// Polls until `cond` holds. The wallet follows the chain by itself (ldk-node polls the
    /// RPC every 2 s, with a timeout); the tests never sync it by hand, which would block a
    /// runtime thread that the hub and the chain share.
    pub async fn wait(&self, what: &str, mut cond: impl FnMut(&ldk_node::Node) -> bool) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if cond(&self.node) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{}: timed out: {what}; balances {:?}",
                self.name,
                self.node.list_balances()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The one channel with `peer`.
    pub fn channel_with(&self, peer: &str) -> Option<ChannelDetails> {
        self.node
            .list_channels()
            .into_iter()
            .find(|c| c.counterparty_node_id.to_string() == peer)
    }

    /// The onion errors LDK decoded, as it logs them (`<origin node>: <error>`): ldk-node
    /// reports a failed payment's reason but not the BOLT 4 error behind it.
    pub fn onion_errors(&self) -> Vec<String> {
        let log = std::fs::read_to_string(self.dir.join("ldk.log")).unwrap_or_default();
        log.lines()
            .filter_map(|l| l.split_once("Onion Error[from ").map(|(_, e)| e))
            .map(|e| e.trim_end_matches(']').to_string())
            .collect()
    }

    pub fn spendable_sat(&self) -> u64 {
        self.node.list_balances().spendable_onchain_balance_sats
    }
}

/// Gives each wallet a matured 50 BTC coinbase, mined by `chain`, and waits until they see it.
pub async fn fund_ldk(chain: &TestNode, wallets: &[&Ldk]) {
    for w in wallets {
        let a = w.node.onchain_payment().new_address().unwrap();
        chain.mine(1, &a.to_string()).await;
    }
    chain.mine(100, &burn_address()).await;
    for w in wallets {
        w.wait("coinbase matured", |n| {
            n.list_balances().spendable_onchain_balance_sats > 0
        })
        .await;
    }
}
