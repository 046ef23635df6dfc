//! The gossip task: the runtime around the pure cores in `crate::gossip`. It owns the graph
//! (shared read-only with the API), feeds peer gossip to the validator and the sync core,
//! looks announced funding outputs up on the chain, announces our own public channels, and
//! writes the graph to the store.
//!
//! Like the channel manager it is built in two steps: [`spawn`] gives the [`Dispatch`] the
//! peer manager needs, and [`Starter::start`] runs the task once the peer manager exists.

mod funding;
mod inbox;
mod task;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bitcoin::constants::ChainHash;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

pub use inbox::{Dispatch, GossipInbox, OurChannelFacts};
pub use task::{GossipShared, GossipStats, SharedGraph, MAX_PEER_FAULTS};

use crate::chain::ChainSource;
use crate::gossip::announce::NodeIdentity;
use crate::gossip::ours::OwnAnnouncements;
use crate::gossip::sync::{GossipSync, SyncConfig};
use crate::gossip::validate::Validator;
use crate::keys::KeysManager;
use crate::net::PeerManager;
use crate::payments::SharedPolicy;
use crate::store::{Store, StoreError};

/// How the gossip task runs.
#[derive(Debug, Clone)]
pub struct GossipConfig {
    pub chain_hash: ChainHash,
    /// Our alias, color, announced addresses and features.
    pub identity: NodeIdentity,
    pub sync: SyncConfig,
    /// How often the task sends what the sync core released, follows the chain and writes.
    pub tick: Duration,
}

/// Runs the task once the peer manager exists.
pub struct Starter {
    build: Box<dyn FnOnce(PeerManager) -> task::Task + Send>,
    rx: mpsc::UnboundedReceiver<inbox::Request>,
}

/// Loads the graph from the store and prepares the task. The peer manager comes later
/// ([`Starter::start`]): it needs the returned inbox first.
pub async fn spawn(
    cfg: GossipConfig,
    keys: Arc<KeysManager>,
    store: Store,
    chain: Arc<dyn ChainSource>,
    policy: SharedPolicy,
) -> Result<(GossipInbox, GossipShared, Starter), StoreError> {
    let (graph, report, funding) = store
        .call(|conn| {
            let (graph, report) = crate::store::graph::load(conn)?;
            let funding = crate::store::graph::funding_outpoints(conn)?;
            Ok((graph, report, funding))
        })
        .await?;
    tracing::info!(
        nodes = graph.node_count(),
        channels = graph.channel_count(),
        skipped = ?report,
        "graph loaded"
    );
    let node_key = *keys.node_secret();
    let mut own = OwnAnnouncements::new(cfg.chain_hash, node_key, cfg.identity.clone());
    let our_last = graph
        .node(&keys.node_id())
        .and_then(|n| n.announcement.as_ref().map(|a| a.timestamp));
    own.resume(our_last);
    let outpoints: HashMap<_, _> = funding.into_iter().map(|(scid, o)| (o, scid)).collect();
    let shared = GossipShared {
        graph: Arc::new(RwLock::new(graph)),
        counters: Default::default(),
    };
    let (tx, rx) = mpsc::unbounded_channel();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (graph, counters) = (shared.graph.clone(), shared.counters.clone());
    let build = move |peers| task::Task {
        node_id: keys.node_id(),
        keys,
        store,
        chain,
        peers,
        policy,
        graph,
        counters,
        validator: Validator::new(cfg.chain_hash),
        sync: GossipSync::new(cfg.chain_hash, cfg.sync.clone(), now),
        own,
        tick: cfg.tick,
        outpoints,
        unwritten: Vec::new(),
        height: None,
        faults: HashMap::new(),
        parked: HashMap::new(),
        hung_up: Default::default(),
        early_nodes: HashMap::new(),
        lookups: mpsc::unbounded_channel(),
    };
    let build = Box::new(build);
    Ok((GossipInbox { tx }, shared, Starter { build, rx }))
}

impl Starter {
    pub fn start(self, peers: PeerManager, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
        let task = (self.build)(peers);
        tokio::spawn(task.run(self.rx, shutdown))
    }
}
