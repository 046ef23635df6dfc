//! `GET /metrics`: the node's state for Prometheus, in the text exposition format
//! ([`super::exposition`]). Behind the bearer token like every route: a scraper sends it
//! (`authorization: credentials_file` in the scrape config).
//!
//! Every value is read at scrape time from where the API reads it anyway: the channel
//! manager, the wallet, the chain, and SQL aggregates of the payment tables
//! ([`crate::store::metrics`]). Nothing is counted in memory, so a restart loses nothing,
//! except the process's own work since it started (store commits, commitment signatures),
//! which is a counter from zero by nature.

use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::exposition::{Exposition, Histogram, Kind, CONTENT_TYPE};
use super::ApiState;
use crate::error::Error;
use crate::node::channels::{ChannelInfo, ChannelStatus};
use crate::node::invoices::now_secs;
use crate::store::metrics::{payment_stats, PaymentStats};
use crate::store::wallet::Balance;

/// Bucket bounds of `chanhub_payment_duration_seconds`. The stored times are whole seconds,
/// so finer bounds would claim a precision the data does not have.
pub const PAYMENT_DURATION_BUCKETS: [f64; 9] =
    [1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0, 3600.0];

/// How long a scrape waits for the chain's tip; a chain that does not answer by then is
/// reported unreachable rather than holding the scrape past Prometheus's timeout.
const CHAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// Everything one scrape reports, gathered before any of it is written.
struct Snapshot {
    channels: Vec<ChannelInfo>,
    onchain: Balance,
    /// `None` when the chain did not answer.
    chain_height: Option<u32>,
    wallet_synced_height: u32,
    payments: PaymentStats,
    store_commits: u64,
    /// Commitments signed and received, and the signatures made and checked on them.
    commitments: [u64; 4],
    graph: crate::gossip::view::GraphSummary,
    gossip: crate::node::gossip::GossipStats,
}

pub(super) async fn metrics(State(s): State<ApiState>) -> Result<Response, Error> {
    let chain_height = match tokio::time::timeout(CHAIN_TIMEOUT, s.chain.tip()).await {
        Ok(Ok(tip)) => Some(tip.height),
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "metrics: chain unreachable");
            None
        }
        Err(_) => {
            tracing::debug!("metrics: the chain did not answer in time");
            None
        }
    };
    let now = now_secs();
    let snapshot = Snapshot {
        channels: s.channels.list().await?,
        onchain: s.wallet.balance().await?,
        chain_height,
        wallet_synced_height: s.wallet.synced_height().await?,
        payments: s.store.call(move |c| payment_stats(c, now)).await?,
        store_commits: s.store.commits(),
        commitments: {
            let c = s.channels.counters();
            let get = crate::node::channels::Counters::get;
            [
                get(&c.commitments_sent),
                get(&c.commitments_received),
                get(&c.signatures_made),
                get(&c.signatures_checked),
            ]
        },
        graph: crate::gossip::view::GraphSummary::of(
            &s.gossip.graph.read().unwrap_or_else(|p| p.into_inner()),
        ),
        gossip: *s.gossip.counters.lock().unwrap_or_else(|p| p.into_inner()),
    };
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], render(&snapshot)).into_response())
}

fn render(s: &Snapshot) -> String {
    let mut e = Exposition::new();

    let in_state = |st: ChannelStatus| s.channels.iter().filter(|c| c.status == st).count() as u64;
    e.labelled(
        "chanhub_channels",
        Kind::Gauge,
        "Channels by state.",
        "state",
        &[
            ("opening", in_state(ChannelStatus::Opening)),
            ("active", in_state(ChannelStatus::Active)),
            ("closing", in_state(ChannelStatus::Closing)),
            ("closed", in_state(ChannelStatus::Closed)),
        ],
    );
    let active = || {
        s.channels
            .iter()
            .filter(|c| c.status == ChannelStatus::Active)
    };
    e.labelled(
        "chanhub_channel_balance_msat",
        Kind::Gauge,
        "Balances of the active channels on our current commitments, HTLCs in flight excluded.",
        "side",
        &[
            ("local", active().map(|c| c.local_msat).sum()),
            ("remote", active().map(|c| c.remote_msat).sum()),
        ],
    );
    let htlcs = |direction: &str| {
        s.channels
            .iter()
            .filter(|c| c.status != ChannelStatus::Closed)
            .flat_map(|c| &c.pending_htlcs)
            .filter(|h| h.direction == direction)
            .count() as u64
    };
    e.labelled(
        "chanhub_htlcs_in_flight",
        Kind::Gauge,
        "HTLCs on our current commitments of the channels not closed, by who offered them.",
        "direction",
        &[
            ("offered", htlcs("offered")),
            ("received", htlcs("received")),
        ],
    );
    // One sample per channel not closed: the value an attacker could burn is per channel.
    let dust: Vec<(String, u64)> = s
        .channels
        .iter()
        .filter(|c| c.status != ChannelStatus::Closed)
        .map(|c| (hex::encode(c.channel_id), c.dust_exposure_msat))
        .collect();
    let dust: Vec<(&str, u64)> = dust.iter().map(|(id, v)| (id.as_str(), *v)).collect();
    e.labelled(
        "chanhub_channel_dust_exposure_msat",
        Kind::Gauge,
        "Trimmed HTLCs on the worse commitment of each channel not closed, as the dust cap counts them.",
        "channel_id",
        &dust,
    );

    e.single(
        "chanhub_graph_nodes",
        Kind::Gauge,
        "Nodes in the network graph gossip built.",
        s.graph.node_count as u64,
    );
    e.single(
        "chanhub_graph_channels",
        Kind::Gauge,
        "Public channels in the network graph (spent ones kept for a splice included).",
        s.graph.channel_count as u64,
    );
    let g = &s.gossip.validation;
    let mut gossip: Vec<(&[(&str, &str)], u64)> = Vec::new();
    let kinds = [
        ("channel_announcement", &g.channel_announcement),
        ("channel_update", &g.channel_update),
        ("node_announcement", &g.node_announcement),
    ];
    let labels: Vec<[(&str, &str); 2]> = kinds
        .iter()
        .flat_map(|(k, _)| {
            [
                [("kind", *k), ("outcome", "accepted")],
                [("kind", *k), ("outcome", "rejected")],
                [("kind", *k), ("outcome", "ignored")],
            ]
        })
        .collect();
    for (i, (_, c)) in kinds.iter().enumerate() {
        for (j, v) in [c.accepted, c.rejected, c.ignored].into_iter().enumerate() {
            gossip.push((&labels[i * 3 + j], v));
        }
    }
    e.family(
        "chanhub_gossip_messages_total",
        Kind::Counter,
        "Gossip messages checked since start, by kind and outcome (rejected: the sender's fault; ignored: harmless, e.g. duplicate or rate-limited).",
        &gossip,
    );
    let sync = &s.gossip.sync;
    e.labelled(
        "chanhub_gossip_syncs_total",
        Kind::Counter,
        "Initial graph syncs with peers since start, by outcome.",
        "outcome",
        &[
            ("completed", sync.syncs_completed),
            ("abandoned", sync.syncs_abandoned),
        ],
    );
    e.single(
        "chanhub_gossip_relay_dropped_total",
        Kind::Counter,
        "Gossip not relayed since start because a peer's queue or the batch was full.",
        sync.relay_dropped + sync.batch_dropped,
    );

    e.labelled(
        "chanhub_onchain_balance_sat",
        Kind::Gauge,
        "The on-chain wallet's unspent outputs.",
        "kind",
        &[
            ("confirmed", s.onchain.confirmed),
            ("unconfirmed", s.onchain.unconfirmed),
            ("immature", s.onchain.immature),
        ],
    );

    let p = &s.payments;
    e.labelled(
        "chanhub_payments",
        Kind::Gauge,
        "Our payments in the store by status (a failed payment tried again moves back to pending).",
        "status",
        &[
            ("succeeded", p.payments.succeeded),
            ("failed", p.payments.failed),
            ("pending", p.payments.pending),
        ],
    );
    e.labelled(
        "chanhub_forwards",
        Kind::Gauge,
        "HTLCs forwarded, in the store by status.",
        "status",
        &[
            ("settled", p.forwards.settled),
            ("failed", p.forwards.failed),
            ("pending", p.forwards.pending),
        ],
    );
    e.single(
        "chanhub_forward_fees_earned_msat_total",
        Kind::Counter,
        "Fees of every settled forward.",
        p.forward_fees_earned_msat,
    );
    e.single(
        "chanhub_lsp_opening_fees_msat_total",
        Kind::Counter,
        "Opening fees taken from the payments that opened JIT channels (LSPS2).",
        p.lsp_opening_fees_msat,
    );
    e.single(
        "chanhub_lsp_order_fees_sat_total",
        Kind::Counter,
        "Fees of the channel orders paid (LSPS1).",
        p.lsp_order_fees_sat,
    );
    e.labelled(
        "chanhub_invoices",
        Kind::Gauge,
        "Our invoices by status.",
        "status",
        &[
            ("open", p.invoices.open),
            ("held", p.invoices.held),
            ("paid", p.invoices.paid),
            ("expired", p.invoices.expired),
            ("cancelled", p.invoices.cancelled),
        ],
    );
    let mut took = Histogram::new(&PAYMENT_DURATION_BUCKETS);
    for (secs, n) in &p.succeeded_durations {
        took.observe_n(*secs as f64, *n);
    }
    e.histogram(
        "chanhub_payment_duration_seconds",
        "Time from creation to success of our succeeded payments, from the store's timestamps \
         (whole seconds, so each is within a second).",
        &took,
    );

    e.single(
        "chanhub_chain_reachable",
        Kind::Gauge,
        "1 when the chain answered this scrape, else 0.",
        u64::from(s.chain_height.is_some()),
    );
    if let Some(h) = s.chain_height {
        e.single(
            "chanhub_chain_height",
            Kind::Gauge,
            "The height of the chain's tip.",
            h.into(),
        );
    }
    e.single(
        "chanhub_wallet_synced_height",
        Kind::Gauge,
        "The height the on-chain wallet has scanned to.",
        s.wallet_synced_height.into(),
    );
    e.single(
        "chanhub_store_commits_total",
        Kind::Counter,
        "Database write transactions committed (one WAL fsync each) since the node started.",
        s.store_commits,
    );
    let [sent, received, made, checked] = s.commitments;
    e.labelled(
        "chanhub_commitments_total",
        Kind::Counter,
        "commitment_signed messages since the node started, by direction (sent: we signed; received: we checked).",
        "direction",
        &[("sent", sent), ("received", received)],
    );
    e.labelled(
        "chanhub_commitment_signatures_total",
        Kind::Counter,
        "Signatures in those messages (the commitment's and one per HTLC transaction), by direction.",
        "direction",
        &[("sent", made), ("received", checked)],
    );
    e.finish()
}
