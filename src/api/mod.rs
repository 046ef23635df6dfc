//! The HTTP API: JSON over HTTP/1 (axum on hyper), every route but `GET /openapi.yaml` behind a
//! bearer token: `api-token`'s, or `api-token-invoice`'s for the invoice routes only (create,
//! list, show; anything else with it is `forbidden`).
//!
//! Routes (all JSON; errors are `{"error": {"code", "message"}}` on every path, unknown paths,
//! methods, bodies and parameters included, see [`crate::error`]). `src/api/openapi.yaml`
//! describes them exactly; `integration/openapi.rs` checks it against the server:
//! - `GET  /openapi.yaml` → that description (OpenAPI 3.1, `application/yaml`), without the token
//! - `GET  /v1/info` → `node_id`, `network`, `block_height`, `block_hash`, `peer_addr`, `version`
//! - `GET  /v1/balance` → `onchain_confirmed_sat`, `onchain_unconfirmed_sat`, `onchain_immature_sat`,
//!   `channels_local_msat` (our balance in channels not closed, HTLCs in flight excluded)
//! - `POST /v1/onchain/address` → `address`
//! - `POST /v1/onchain/send` `{address, amount_sat, feerate_sat_per_vb?}` → `txid`
//! - `GET  /v1/onchain/transactions` → `transactions: [...]`
//! - `POST /v1/peers` `{node_id, addr}` → the peer (connects, exchanges `init`, and keeps it:
//!   reconnected after a drop or a restart)
//! - `GET  /v1/peers` → `peers: [{node_id, addr, direction, connected_since, features, persistent,
//!   messages_received, messages_sent, pings_received, pongs_received}]`
//! - `DELETE /v1/peers/{node_id}` → disconnects and forgets the peer
//! - `POST /v1/peers/{node_id}/ping` `{num_pong_bytes?}` → `rtt_ms` once the pong arrives
//! - `GET  /v1/graph` → the graph's size (`node_count`, `channel_count`, …) and our own `node`
//!   and public `channels`; `GET /v1/graph/nodes/{id}`, `GET /v1/graph/channels/{scid}` (a u64
//!   or `BLOCKxTXxOUT`) → one of them, as gossip told us
//! - `POST /v1/channels` `{node_id, addr?, capacity_sat, push_msat?, channel_type?, announce?,
//!   zero_conf?}` →
//!   `{channel_id, funding_txid}` once the peer signed the funding (connects first when `addr`
//!   is given); `channel_type` is `anchors` (default) or `static_remotekey`
//! - `GET  /v1/channels` → `channels: [...]`; `GET /v1/channels/{id}` → one: `channel_id`,
//!   `peer_node_id`, `state` (`opening`, `active`, `closing`, `closed`), `channel_type`,
//!   `scid_alias`, `zero_conf`,
//!   `capacity_sat`, `local_msat`, `remote_msat`, `funding_txid`, `funding_vout`,
//!   `local_commitment_number`, `remote_commitment_number`, `feerate_per_kw`, `pending_htlcs`,
//!   `closing_txid`
//!   (the confirmed funding spend), `resolution` (once final: `spend`, `spend_txid`,
//!   `resolved_height`, `outputs: [{outpoint, kind, amount_sat, spent_by, ours}]`,
//!   `received_sat`, `fees_sat`)
//! - `POST /v1/channels/{id}/close` `{force?}` → starts a cooperative close; with `force: true`
//!   broadcasts our latest commitment at once (refused when the peer proved we are behind) and
//!   returns the channel
//! - Development only (`dev_api = true` in `chanhub.toml`), until payments exist: `POST
//!   /v1/dev/channels/{id}/add_htlc {amount_msat, payment_hash, cltv_expiry}`, `.../fulfill {htlc_id,
//!   preimage}`, `.../fail {htlc_id}`, `.../update_fee {feerate_per_kw}`
//! - `POST /v1/dev/channels/{id}/cheat` `{htlc_timeouts?}` → `{channel_id, txid}` (or `txids`
//!   with `htlc_timeouts: true`: the revoked commitment's HTLC-timeout transactions): regtest
//!   only (refused on any other network), broadcasts this node's previous, revoked commitment — the drill for
//!   disputes: the peer's penalty must take everything
//! - `GET  /v1/chain/info`, `POST /v1/chain/mine {blocks, address?}`: only when the node's chain
//!   can mine (embedded regtest or a regtest bitcoind); otherwise 404.
//! - `POST /v1/invoices` `{amount_msat?, description | description_hash, expiry_secs?}` → `{bolt11, payment_hash, route_hints}` (the hints it carries: `node_id`, `short_channel_id`, fees, `cltv_expiry_delta`)
//!   (an invoice of ours, with route hints to us through our channels). With `payment_hash`
//!   (hex): a hold invoice for a hash whose preimage the caller keeps; a payment arriving
//!   whole is held (status `held`, event `invoice_held`) until settled or cancelled, and
//!   failed back by itself 15 blocks before its earliest HTLC expires (`invoice_cancelled`,
//!   reason `cltv_expiry`); a payment hash an invoice already has is `invalid_request`
//! - `POST /v1/invoices/{payment_hash}/settle` `{preimage}` → settles a held hold invoice
//!   (the preimage stored and the invoice paid before any HTLC is fulfilled) and returns it,
//!   `paid`; `invalid_request` if the preimage does not hash to it or it is not `held`
//! - The three lists below (`GET /v1/invoices`, `/v1/payments`, `/v1/forwards`) take
//!   `?limit=N` (1 to 10000, default 1000) and answer with the newest N rows, newest first;
//!   a bad `limit` is `invalid_request`
//! - `GET  /v1/invoices` → `invoices: [...]`; `GET /v1/invoices/{payment_hash}` → one:
//!   `payment_hash`, `bolt11`, `amount_msat`, `description`, `description_hash`, `status` (`open`, `held`,
//!   `paid`, `expired`, `cancelled`), `created_at`, `expires_at`, `received_msat`, `paid_at`, and
//!   `preimage` once paid
//! - `DELETE /v1/invoices/{payment_hash}` → cancels an open or held invoice (HTLCs paying it
//!   are refused from then on, held ones failed back; event `invoice_cancelled`, reason
//!   `requested`) and returns it; `invalid_request` if it is neither
//! - `POST /v1/payments` `{bolt11 | node_id, amount_msat?, wait?, max_fee_msat?,
//!   max_total_cltv_expiry_delta?, timeout_secs?}` (exactly one of `bolt11`, or `node_id` with
//!   `amount_msat` for keysend) → the payment: `payment_hash`, `status` (`pending`,
//!   `succeeded`, `failed`), `preimage`, `fee_msat`, `failure`, `amount_msat`, `payee`,
//!   `bolt11`, `created_at`, `resolved_at`, and `attempts` (each HTLC it took: `id`, `status`,
//!   `amount_msat`, `fee_msat`, `route` of `{node_id, short_channel_id, amount_msat,
//!   cltv_expiry}`, `failure`, `created_at`, `resolved_at`); `wait` (default true) answers
//!   with the outcome, `false` once the first parts are offered; retries stop after
//!   `timeout_secs` (default 60)
//! - `GET  /v1/payments` → `payments: [...]`; `GET /v1/payments/{payment_hash}` → one, with
//!   its `attempts`
//! - `GET  /v1/forwards` → `forwards: [{in_channel_id, in_htlc_id, out_channel_id, out_htlc_id,
//!   payment_hash, in_msat, out_msat, fee_msat, status, failure, created_at, resolved_at}]`,
//!   `fee_msat_earned` (every settled forward, not only the rows returned)
//! - `GET  /v1/lsp/jit` `?limit=N` → `jit: [...]`, the JIT channels sold over LSPS2, newest
//!   first: `jit_channel_scid`, `client_node_id`, `opening_fee_params`, `payment_size_msat`,
//!   `opening_fee_msat`, `valid_until`, `client_trusts_lsp`, `state` (`waiting`, `opening`,
//!   `opened`, `failed`, `expired`), `created_at`, `channel_id`, `funding_txid`,
//!   `fee_earned_msat`
//! - `GET  /v1/lsp/orders` `?limit=N` → `orders: [...]`, the channels bought over LSPS1, newest
//!   first: `order_id`, `client_node_id`, `lsp_balance_sat`, `client_balance_sat`,
//!   `channel_expiry_blocks`, `announce_channel`, `fee_total_sat`, `order_total_sat`,
//!   `payment_hash`, `bolt11`, `order_state` (`created`, `completed`, `failed`),
//!   `payment_state` (`expect_payment`, `hold`, `paid`, `refunded`), `created_at`,
//!   `expires_at`, `channel_id`, `funding_outpoint`, `funded_at`, `failure`
//! - `GET  /v1/policy` → `{base_msat, ppm, cltv_delta}`; `PUT /v1/policy` with all three →
//!   the new policy, stored (it wins over `chanhub.toml`), charged and announced at once
//! - `GET  /v1/events` → Server-Sent Events from the event log: `id: N`, `event: invoice_paid |
//!   payment_succeeded | payment_failed | htlc_forwarded | channel_state_changed |
//!   channel_resolved | channel_funding_double_spent | invoice_held | invoice_cancelled |
//!   jit_channel_opened | lsp_order_paid`, `data: {"id", "type", "created_at", ...}`; a
//!   comment every 15 s when
//!   quiet. `Last-Event-ID: N` (or `?after=N`) replays the events after N first; `?types=a,b`
//!   filters
//! - `POST /v1/webhooks` `{url, events?}` → `{id, url, events, secret, created_at}` (the secret
//!   only here); `GET /v1/webhooks` → `webhooks: [{id, url, events, created_at, pending,
//!   delivered, failed}]`; `GET /v1/webhooks/{id}` → one; `DELETE /v1/webhooks/{id}` → the
//!   removed webhook (pending deliveries dropped); unknown id: `webhook_not_found`
//! - `GET  /v1/backup` → `application/octet-stream`, `Content-Disposition: attachment;
//!   filename="chanhub-backup-HEIGHT.sqlite"`: a consistent snapshot of the database (`chanhub
//!   restore` installs it; see `channel-spec/node.md`, Backups)
//! - `GET  /v1/export/{payments|invoices|forwards|onchain|events}?from=&to=&format=csv|json`
//!   → the accounting export, streamed page by page (a `(time, rowid)` keyset cursor): rows
//!   with a time in `[from, to)` (RFC 3339 UTC, a date, or Unix seconds; default: all),
//!   oldest first; CSV with a header (`text/csv`, the default) or JSON Lines
//!   (`application/x-ndjson`), `Content-Disposition: attachment; filename="chanhub-KIND.csv"`;
//!   amounts as `*_msat` and `*_sat` (exactly msat / 1000), times RFC 3339 UTC. Columns:
//!   `channel-spec/export.md`
//! - `GET  /v1/stats/activity?window=24h|30d` → `{window, bucket_secs, buckets: [{start,
//!   received_msat, received_count, sent_msat, sent_count, forwarded_msat, forwarded_count,
//!   fees_earned_msat}]}`: the event log summed per hour (24) or day (30), UTC-aligned, the
//!   last bucket the current one (the dashboard's chart)
//! - `GET  /metrics` → the Prometheus text format 0.0.4 (`text/plain; version=0.0.4`), not
//!   JSON: channels, balances, HTLCs, payments, forwards, invoices, chain and wallet heights;
//!   behind the token like the rest
//! - Without the token (no data in them): `GET /` → the live dashboard (HTML), and its files
//!   `GET /assets/{dashboard.css, dashboard.js, sse.js, format.js, view.js, charts.js,
//!   favicon.svg}`; see
//!   [`dashboard`]

mod activity;
pub mod auth;
mod backup;
mod channels;
pub mod client;
pub mod dashboard;
mod dev;
mod events;
pub mod export;
pub mod export_format;
mod exposition;
mod extract;
mod graph;
mod list_limit;
mod lsp;
mod metrics;
pub mod openapi;
mod payments;
mod peers;
mod route_table;
mod routes;
mod webhooks;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Router;
use bitcoin::secp256k1::PublicKey;
use bitcoin::secp256k1::SecretKey;
use bitcoin::Network;

use crate::chain::ChainSource;
use crate::error::Error;
use crate::net::PeerManager;
use crate::node::chain_backend::ChainControl;
use crate::node::channels::Channels;
use crate::payments::SharedPolicy;
use crate::store::Store;
use crate::wallet::Wallet;
use route_table::RouteTable;

/// Request bodies larger than this are refused with 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    pub node_id: PublicKey,
    pub network: Network,
    pub peer_addr: SocketAddr,
    pub wallet: Arc<Wallet>,
    pub chain: Arc<dyn ChainSource>,
    /// Present when the chain can mine blocks (regtest).
    pub control: Option<Arc<dyn ChainControl>>,
    /// The expected bearer token.
    pub token: Arc<str>,
    /// The invoice-only token (`api-token-invoice`): creates and reads invoices, nothing else.
    pub invoice_token: Arc<str>,
    pub peers: PeerManager,
    pub channels: Channels,
    /// Serve the `/v1/dev/...` routes.
    pub dev_api: bool,
    /// Where other nodes reach us (`--announce-addr`); an announced channel needs one.
    pub announce_addrs: Vec<crate::wire::NetAddress>,
    /// The database: invoices, payments and forwards are read from it.
    pub store: Store,
    /// Signs the invoices we issue.
    pub node_key: SecretKey,
    /// The live fee policy, shared with the HTLC router; `PUT /v1/policy` changes it.
    pub policy: SharedPolicy,
    /// The event log: `GET /v1/events` replays it and follows it live.
    pub events: crate::events::EventLog,
    /// The network graph gossip built (`GET /v1/graph`) and its counters (`/metrics`).
    pub gossip: crate::node::gossip::GossipShared,
    /// Pays invoices and node ids (`POST /v1/payments`).
    pub payer: crate::node::payer::Payer,
    /// Flips to `true` when the node stops: long-lived responses (the event stream) end, so
    /// the graceful shutdown does not wait on them.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::warn!(code = self.code(), error = %self, "API request failed");
        }
        let body = serde_json::json!({
            "error": { "code": self.code(), "message": self.to_string() }
        });
        let mut resp = (status, axum::Json(body)).into_response();
        if matches!(self, Error::Unauthorized) {
            resp.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        resp
    }
}

/// Every route the API serves (the dev routes only with `dev_api`), in one readable table.
fn routes(dev_api: bool) -> RouteTable {
    let dev = if dev_api {
        dev::routes()
    } else {
        RouteTable::new()
    };
    RouteTable::new()
        .merge(dev)
        .merge(dev::cheat_route())
        .route("/v1/info", get(routes::info))
        .route("/v1/balance", get(routes::balance))
        .route("/v1/onchain/address", post(routes::new_address))
        .route("/v1/onchain/send", post(routes::send))
        .route("/v1/onchain/transactions", get(routes::transactions))
        .route("/v1/peers", get(peers::list).post(peers::connect))
        .route("/v1/peers/{node_id}", delete(peers::disconnect))
        .route("/v1/peers/{node_id}/ping", post(peers::ping))
        .route("/v1/graph", get(graph::summary))
        .route("/v1/graph/nodes/{node_id}", get(graph::node))
        .route("/v1/graph/channels/{scid}", get(graph::channel))
        .route("/v1/channels", get(channels::list).post(channels::open))
        .route("/v1/channels/{id}", get(channels::show))
        .route("/v1/channels/{id}/close", post(channels::close))
        .route(
            "/v1/invoices",
            get(payments::list_invoices).post(payments::create_invoice),
        )
        .route(
            "/v1/invoices/{payment_hash}",
            get(payments::show_invoice).delete(payments::cancel_invoice),
        )
        .route(
            "/v1/invoices/{payment_hash}/settle",
            post(payments::settle_invoice),
        )
        .route(
            "/v1/payments",
            get(payments::list_payments).post(payments::pay),
        )
        .route("/v1/payments/{payment_hash}", get(payments::show_payment))
        .route("/v1/forwards", get(payments::list_forwards))
        .route("/v1/lsp/jit", get(lsp::list_jit))
        .route("/v1/lsp/orders", get(lsp::list_orders))
        .route(
            "/v1/policy",
            get(payments::get_policy).put(payments::put_policy),
        )
        .route("/v1/events", get(events::events))
        .route("/v1/webhooks", get(webhooks::list).post(webhooks::create))
        .route(
            "/v1/webhooks/{id}",
            get(webhooks::show).delete(webhooks::remove),
        )
        .route("/v1/backup", get(backup::backup))
        .route("/v1/export/{kind}", get(export::export))
        .route("/v1/stats/activity", get(activity::activity))
        .route("/v1/chain/info", get(routes::chain_info))
        .route("/v1/chain/mine", post(routes::chain_mine))
        .route("/metrics", get(metrics::metrics))
        .route(openapi::PATH, get(openapi::document))
}

/// The path of every route a node with `dev_api` serves, as written in the router
/// (`/v1/channels/{id}`), the dashboard's included: what `openapi.yaml` must describe.
pub fn served_paths(dev_api: bool) -> Vec<&'static str> {
    let mut paths = routes(dev_api).paths().to_vec();
    paths.extend(dashboard::paths());
    paths
}

/// The API's routes with authentication, limits and JSON fallbacks.
pub fn router(state: ApiState) -> Router {
    routes(state.dev_api)
        .into_router()
        .fallback(|| async { Error::NotFound("no such endpoint".into()) })
        .method_not_allowed_fallback(|| async { Error::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ))
        // After the token layer: the dashboard's files are served without it.
        .merge(dashboard::routes())
        .with_state(state)
}

/// Serves the API on `listener` until `shutdown` resolves, then finishes open requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: ApiState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    // Answers are small: without TCP_NODELAY, the body written after the head waits for the
    // client's delayed ACK (up to 40 ms) under Nagle's algorithm.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod tests;
