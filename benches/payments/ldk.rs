//! The same payments through LDK, in the same run (`--compare-ldk`): three `ldk-node` nodes,
//! payer → router → payee, on the bench's chain.
//!
//! The nodes run inside the bench process, on its runtime, each with ldk-node's own SQLite
//! store (persistence on, as shipped). What differs from ldk-node's defaults is only what a
//! run needs: regtest and the chain's RPC as the chain source, a listening address and an alias
//! on every node (ldk-node opens and accepts announced channels only then), and the log at
//! `warn`, as the chanhub nodes log in the bench. Anchor channels with their on-chain reserve,
//! the 50 HTLCs a channel accepts, fees, CLTV deltas and the router's pathfinding stay as
//! shipped.
//!
//! The payer's channel to the router is unannounced (a wallet's channel); the router's channel
//! to the payee is announced, because an LDK node refuses to forward over an unannounced
//! channel (`accept_forwards_to_priv_channels`, which ldk-node does not expose, is off). Mined
//! to the 6 confirmations LDK asks for, the payee's invoices carry that channel as a route hint
//! (LDK adds hints for announced channels younger than 7 blocks) and the router also gossips it
//! to the payer; either is enough to route, and the setup waits for one of them.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chanhub::chain::rpc_client::{RpcAuth, RpcChainSource};
use ldk_node::bitcoin::hashes::Hash;
use ldk_node::bitcoin::Network;
use ldk_node::config::Config;
use ldk_node::lightning::events::PaymentFailureReason;
use ldk_node::lightning::ln::msgs::SocketAddress;
use ldk_node::lightning_invoice::{Bolt11Invoice, Bolt11InvoiceDescription, Description};
use ldk_node::logger::LogLevel;
use ldk_node::{Builder, Event, Node, NodeError};
use serde_json::json;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::support::percentile;

/// How long a setup step may take before the bench gives up.
const SETUP_PATIENCE: Duration = Duration::from_secs(120);
/// How long one payment may take.
const PAYMENT_PATIENCE: Duration = Duration::from_secs(120);
/// How long a payment waits before it is sent again when the payer found no route.
const RESEND_AFTER: Duration = Duration::from_millis(20);
/// How often a payment looks whether the payer's channel has a free HTLC slot.
const SLOT_POLL: Duration = Duration::from_millis(5);
/// The depth LDK asks for before a channel is ready (`ChannelHandshakeConfig::minimum_depth`),
/// which is also the depth at which an announced channel is announced.
const CHANNEL_DEPTH: u32 = 6;

/// What the LDK run measured.
#[derive(Debug, Clone)]
pub struct Figures {
    pub succeeded: usize,
    pub seconds: f64,
    pub payments_per_sec: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    /// CPU of the whole bench process during the payments, per payment: the three nodes run in
    /// it (the chain, a separate process, is not counted).
    pub cpu_ms_per_payment: f64,
    /// Sends made again because the payer found no route at the time (see [`pay_one`]).
    pub resends: usize,
}

/// The outcome of one payment, as the payer's events tell it: the reason it failed.
type Outcome = Result<(), Option<PaymentFailureReason>>;
type Waiters = Arc<Mutex<HashMap<[u8; 32], oneshot::Sender<Outcome>>>>;

/// One node and the task that drains its events.
struct Ldk {
    node: Arc<Node>,
    addr: SocketAddress,
    pending: Arc<AtomicUsize>,
    ready: Arc<AtomicUsize>,
    pump: JoinHandle<()>,
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

/// The chain's RPC: `host:port` and the cookie's user and password.
struct Rpc {
    host: String,
    port: u16,
    user: String,
    password: String,
}

fn rpc_of(rpc: &str, cookie: &str) -> Result<Rpc, String> {
    let (host, port) = rpc.rsplit_once(':').ok_or("the chain's RPC address")?;
    let cookie = std::fs::read_to_string(cookie).map_err(|e| e.to_string())?;
    let (user, password) = cookie
        .trim()
        .split_once(':')
        .ok_or("a user:password cookie")?;
    Ok(Rpc {
        host: host.to_string(),
        port: port.parse().map_err(|_| "the chain's RPC port")?,
        user: user.to_string(),
        password: password.to_string(),
    })
}

/// Builds and starts a node in `dir`; `waiters` (the payer's) learn how payments ended.
fn start(name: &str, dir: &Path, rpc: &Rpc, waiters: Option<Waiters>) -> Result<Ldk, String> {
    let addr = SocketAddress::TcpIpV4 {
        addr: [127, 0, 0, 1],
        port: free_port()?,
    };
    let config = Config {
        network: Network::Regtest,
        listening_addresses: Some(vec![addr.clone()]),
        storage_dir_path: dir.to_string_lossy().into_owned(),
        ..Config::default()
    };
    let mut builder = Builder::from_config(config);
    builder.set_chain_source_bitcoind_rpc(
        rpc.host.clone(),
        rpc.port,
        rpc.user.clone(),
        rpc.password.clone(),
    );
    let mut seed = [0u8; 64];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut seed);
    builder.set_entropy_seed_bytes(seed);
    builder.set_filesystem_logger(
        Some(dir.join("ldk.log").to_string_lossy().into_owned()),
        Some(LogLevel::Warn),
    );
    builder
        .set_node_alias(name.to_string())
        .map_err(|e| format!("{name}: {e}"))?;
    let node = Arc::new(builder.build().map_err(|e| format!("{name}: {e}"))?);
    node.start().map_err(|e| format!("{name}: {e}"))?;
    let pending = Arc::new(AtomicUsize::new(0));
    let ready = Arc::new(AtomicUsize::new(0));
    let pump = tokio::spawn(pump(node.clone(), pending.clone(), ready.clone(), waiters));
    Ok(Ldk {
        node,
        addr,
        pending,
        ready,
        pump,
    })
}

/// Drains a node's events as they come (ldk-node persists its queue on every change, so an
/// undrained queue would cost more with every event): counts channels pending and ready, and
/// hands payment outcomes to their waiters.
async fn pump(
    node: Arc<Node>,
    pending: Arc<AtomicUsize>,
    ready: Arc<AtomicUsize>,
    waiters: Option<Waiters>,
) {
    loop {
        let event = node.next_event_async().await;
        let outcome = match &event {
            Event::ChannelPending { .. } => {
                pending.fetch_add(1, Ordering::SeqCst);
                None
            }
            Event::ChannelReady { .. } => {
                ready.fetch_add(1, Ordering::SeqCst);
                None
            }
            Event::PaymentSuccessful { payment_hash, .. } => Some((payment_hash.0, Ok(()))),
            Event::PaymentFailed {
                payment_id,
                payment_hash,
                reason,
            } => payment_hash
                .map(|h| h.0)
                .or(payment_id.map(|p| p.0))
                .map(|k| (k, Err(*reason))),
            _ => None,
        };
        if let Err(e) = node.event_handled() {
            eprintln!("bench: an LDK node could not mark an event handled: {e}");
        }
        if let (Some((key, outcome)), Some(w)) = (outcome, &waiters) {
            if let Some(tx) = w.lock().unwrap().remove(&key) {
                let _ = tx.send(outcome);
            }
        }
    }
}

/// Polls `cond` every 100 ms until it holds, or fails after [`SETUP_PATIENCE`].
async fn until(what: &str, mut cond: impl FnMut() -> bool) -> Result<(), String> {
    let deadline = Instant::now() + SETUP_PATIENCE;
    while !cond() {
        if Instant::now() > deadline {
            return Err(format!("LDK setup: timed out: {what}"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

async fn mine(chain: &RpcChainSource, node: &Node, blocks: u32) -> Result<(), String> {
    let to = node
        .onchain_payment()
        .new_address()
        .map_err(|e| e.to_string())?;
    chain
        .call("generatetoaddress", json!([blocks, to.to_string()]))
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}

fn description(s: String) -> Result<Bolt11InvoiceDescription, String> {
    Ok(Bolt11InvoiceDescription::Direct(
        Description::new(s).map_err(|e| e.to_string())?,
    ))
}

/// Runs `payments` payments of `amount_msat` payer → router → payee with `in_flight` at a time
/// over channels of `capacity_sat`, on the chain at `rpc` (its cookie at `cookie`), in `root`.
/// Any failed payment fails the run. The nodes are stopped before it returns.
pub async fn run(
    root: &Path,
    rpc: &str,
    cookie: &str,
    payments: usize,
    in_flight: usize,
    amount_msat: u64,
    capacity_sat: u64,
) -> Result<Figures, String> {
    let rpc_conf = rpc_of(rpc, cookie)?;
    let chain =
        RpcChainSource::new(rpc, RpcAuth::CookieFile(cookie.into())).map_err(|e| e.to_string())?;
    let waiters: Waiters = Arc::default();
    let payer = start(
        "ldk-payer",
        &root.join("ldk-payer"),
        &rpc_conf,
        Some(waiters.clone()),
    )?;
    let router = start("ldk-router", &root.join("ldk-router"), &rpc_conf, None)?;
    let payee = start("ldk-payee", &root.join("ldk-payee"), &rpc_conf, None)?;
    let nodes = [&payer, &router, &payee];
    let result = pay(
        &chain,
        nodes,
        &waiters,
        payments,
        in_flight,
        amount_msat,
        capacity_sat,
    )
    .await;
    for n in nodes {
        n.pump.abort();
        if let Err(e) = n.node.stop() {
            eprintln!("bench: an LDK node did not stop: {e}");
        }
    }
    result
}

async fn pay(
    chain: &RpcChainSource,
    [payer, router, payee]: [&Ldk; 3],
    waiters: &Waiters,
    payments: usize,
    in_flight: usize,
    amount_msat: u64,
    capacity_sat: u64,
) -> Result<Figures, String> {
    // A coinbase each (the payee too: accepting an anchor channel needs an on-chain reserve).
    for n in [payer, router, payee] {
        mine(chain, &n.node, 1).await?;
    }
    mine(chain, &router.node, 100).await?;
    for n in [payer, router, payee] {
        until("coinbase matured", || {
            n.node.list_balances().spendable_onchain_balance_sats > 0
        })
        .await?;
    }
    eprintln!("bench: LDK payer, router and payee funded; opening channels");
    payer
        .node
        .open_channel(
            router.node.node_id(),
            router.addr.clone(),
            capacity_sat,
            None,
            None,
        )
        .map_err(|e| format!("LDK payer opens: {e}"))?;
    router
        .node
        .open_announced_channel(
            payee.node.node_id(),
            payee.addr.clone(),
            capacity_sat,
            None,
            None,
        )
        .map_err(|e| format!("LDK router opens: {e}"))?;
    // The router sees both channels, its own and the payer's.
    let wants = [(payer, 1), (router, 2), (payee, 1)];
    until("funding broadcast", || {
        wants
            .iter()
            .all(|(n, k)| n.pending.load(Ordering::SeqCst) >= *k)
    })
    .await?;
    mine(chain, &router.node, CHANNEL_DEPTH).await?;
    until("channels ready", || {
        wants
            .iter()
            .all(|(n, k)| n.ready.load(Ordering::SeqCst) >= *k)
    })
    .await?;
    until(
        "channels usable, the router's policy known to the payee",
        || {
            let (ours, theirs) = (payer.node.list_channels(), payee.node.list_channels());
            !ours.is_empty()
                && ours.iter().all(|c| c.is_usable)
                && !theirs.is_empty()
                && theirs
                    .iter()
                    .all(|c| c.is_usable && c.counterparty_forwarding_info_fee_base_msat.is_some())
        },
    )
    .await?;
    let scid = payee
        .node
        .list_channels()
        .first()
        .and_then(|c| c.short_channel_id)
        .ok_or("LDK payee: a confirmed channel")?;
    let deadline = Instant::now() + SETUP_PATIENCE;
    loop {
        let probe = payee
            .node
            .bolt11_payment()
            .receive(amount_msat, &description("route".into())?, 3600)
            .map_err(|e| e.to_string())?;
        let gossiped = payer
            .node
            .network_graph()
            .channel(scid)
            .is_some_and(|c| c.one_to_two.is_some() && c.two_to_one.is_some());
        let hinted = !probe.route_hints().is_empty();
        if hinted || gossiped {
            eprintln!(
                "bench: LDK route to the payee: hint in its invoices {hinted}, in the payer's graph {gossiped}"
            );
            break;
        }
        if Instant::now() > deadline {
            return Err("LDK setup: the payee's channel neither hinted nor gossiped".into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!("bench: LDK channels usable; issuing {payments} invoices");
    let mut invoices = Vec::with_capacity(payments);
    for i in 0..payments {
        let inv = payee
            .node
            .bolt11_payment()
            .receive(amount_msat, &description(format!("bench {i}"))?, 3600)
            .map_err(|e| format!("LDK payee: invoice: {e}"))?;
        invoices.push(inv);
    }

    eprintln!("bench: LDK paying, {in_flight} in flight");
    let me = std::process::id();
    let cpu_before = super::cpu_secs(me);
    let invoices: Arc<Vec<Bolt11Invoice>> = Arc::new(invoices);
    let start = Instant::now();
    let resends = Arc::new(AtomicUsize::new(0));
    let (mut latencies, failed) = super::pay_all(invoices.len(), in_flight, {
        let (resends, node, waiters) = (resends.clone(), payer.node.clone(), waiters.clone());
        move |i| {
            let (invoices, waiters) = (invoices.clone(), waiters.clone());
            let (resends, node) = (resends.clone(), node.clone());
            async move {
                pay_one(&node, &invoices[i], &waiters, &resends)
                    .await
                    .map_err(|e| format!("(LDK): {e}"))
            }
        }
    })
    .await?;
    let seconds = start.elapsed().as_secs_f64();
    let cpu = super::cpu_secs(me) - cpu_before;
    let ok = latencies.len();
    if ok == 0 || failed > 0 {
        return Err(format!("LDK: {failed} of {payments} payments failed"));
    }
    latencies.sort_by(|x, y| x.total_cmp(y));
    Ok(Figures {
        succeeded: ok,
        seconds,
        payments_per_sec: ok as f64 / seconds,
        p50_ms: percentile(&latencies, 50.0),
        p90_ms: percentile(&latencies, 90.0),
        p99_ms: percentile(&latencies, 99.0),
        cpu_ms_per_payment: cpu * 1000.0 / ok as f64,
        resends: resends.load(Ordering::Relaxed),
    })
}

/// Pays `inv` and waits for the outcome. An HTLC keeps its slot in a channel until the
/// commitments that remove it are exchanged, so 48 payments in flight can fill the 50 slots LDK
/// allows: a payment first waits until the payer's channel can take it, and when the payer
/// still finds no route (the router failed it back for lack of a slot on its side, or another
/// payment took the slot) it is sent again a moment later, counted in `resends`. The bench asks
/// for that many in flight and LDK takes them as it can; the latency counts from the first
/// attempt. Any other failure, or no success within [`PAYMENT_PATIENCE`], fails the payment.
async fn pay_one(
    node: &Arc<Node>,
    inv: &Bolt11Invoice,
    waiters: &Waiters,
    resends: &AtomicUsize,
) -> Result<(), String> {
    let hash = inv.payment_hash().to_byte_array();
    let deadline = tokio::time::Instant::now() + PAYMENT_PATIENCE;
    // The limit drops to 0 when no slot is free; the margin covers the router's fee.
    let want = inv.amount_milli_satoshis().unwrap_or(0) * 2;
    loop {
        while !node
            .list_channels()
            .iter()
            .any(|c| c.is_usable && c.next_outbound_htlc_limit_msat >= want)
        {
            if tokio::time::Instant::now() > deadline {
                return Err("the payer's channel had no free HTLC slot until the deadline".into());
            }
            tokio::time::sleep(SLOT_POLL).await;
        }
        let (tx, rx) = oneshot::channel();
        waiters.lock().unwrap().insert(hash, tx);
        // `send` writes the payment to the store before it returns: off the runtime.
        let (node, inv) = (node.clone(), inv.clone());
        let sent = tokio::task::spawn_blocking(move || node.bolt11_payment().send(&inv, None))
            .await
            .map_err(|e| e.to_string())?;
        // Past this match, the payer found no route.
        match sent {
            Ok(_) => match tokio::time::timeout_at(deadline, rx).await {
                Ok(Ok(Ok(()))) => return Ok(()),
                Ok(Ok(Err(Some(PaymentFailureReason::RouteNotFound)))) => {}
                Ok(Ok(Err(reason))) => return Err(format!("failed: {reason:?}")),
                Ok(Err(_)) => return Err("no outcome".into()),
                Err(_) => return Err("timed out".into()),
            },
            Err(NodeError::PaymentSendingFailed) => {}
            Err(e) => return Err(format!("refused: {e}")),
        }
        waiters.lock().unwrap().remove(&hash);
        if tokio::time::Instant::now() + RESEND_AFTER > deadline {
            return Err("no route until the deadline".into());
        }
        resends.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(RESEND_AFTER).await;
    }
}
