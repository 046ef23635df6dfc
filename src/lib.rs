//! chanhub: a Lightning-compatible payment channel hub.
//!
//! # Layout
//! - [`chain`]: the chain seam ([`chain::ChainSource`]), the bitcoind JSON-RPC client, the embedded
//!   regtest node on Bitcoin Core's validation engine and its bitcoind-compatible RPC server.
//! - [`node`]: the `chanhub node` daemon: data directory, `node.json`, startup and shutdown.
//! - [`keys`]: the seed and every key derived from it (node key, BIP84 wallet, channel keys).
//! - [`store`]: the SQLite database: pragmas, versioned schema, typed queries.
//! - [`wallet`]: the on-chain wallet: chain scanning with reorgs, coin selection, signing.
//! - [`api`]: the HTTP API (bearer token, JSON errors), its OpenAPI description
//!   (`api/openapi.yaml`, served at `GET /openapi.yaml`), its client, and the live dashboard
//!   page it serves at `/`.
//! - [`cli`]: the command-line client on top of the API, and the rules its help follows
//!   (`cli::help`: a purpose, argument help and examples for every command).
//! - [`compat`]: other nodes' APIs answered by chanhub: phoenixd's (`--compat-phoenixd`), for
//!   LNbits, BTCPay Server and shop plugins.
//! - [`config`]: `chanhub.toml` and flags; [`error`]: the flat error enum of the API edge.
//! - [`events`]: the event log (written with the state changes it reports), its live
//!   broadcast, retention, and the signed webhook deliveries with their retries.
//! - [`bolt3`]: BOLT 3 channel transactions: keys, secrets, scripts, commitment, HTLC and closing
//!   transactions, witnesses and signing, as pure functions.
//! - [`wire`]: BOLT 1/2/7 message codecs: BigSize, TLV streams, feature bits, `init`/`ping`/
//!   `error`, every channel and gossip message, and the [`wire::Message`] enum.
//! - [`gossip`]: BOLT 7, pure: the network graph, gossip validation, sync and relay, and our
//!   own announcements; the runtime that drives it is [`node::gossip`].
//! - [`net`]: the tokio peer manager: peer port, outgoing connections, ping liveness, limits,
//!   reconnection, and the [`net::PeerEventHandler`] seam for the channel layer.
//! - [`channel`]: the BOLT 2 channel state machine, free of I/O: open, update, reestablish and
//!   cooperative close, with the persistence actions and events the node executes.
//! - [`transport`]: BOLT 8 Noise_XK handshake and encrypted message framing, as pure state
//!   machines (bytes in, bytes out).
//! - [`onion`]: BOLT 4 onions: construction, peeling, hop payloads, failure messages, error
//!   onions and replay protection, as pure functions.
//! - [`invoice`]: BOLT 11 invoices: create, parse and verify.
//! - [`onchain`]: BOLT 5 on-chain resolution, pure: classify a funding spend, list what we can
//!   claim from it (delayed, HTLC, justice) and sign each claim.
//! - [`payments`]: the records of invoices, payments and forwards, and the pure decisions of
//!   the hub's HTLC router (forwarding policy, the payee's checks, routes from invoices); the
//!   router itself runs in [`node::channels`].
//! - [`routing`]: pathfinding, pure: paths over the graph, our channels and route hints,
//!   multi-part splitting, and the penalties learned from failures.
//! - [`lsps`]: the LSP specifications, pure: LSPS0's JSON-RPC over BOLT 8 and LSPS2's
//!   just-in-time channel rules (fee menu, promise, buy checks, fee taken from the parts).
//! - [`tower`]: the watchtower (`chanhub tower`): encrypted justice blobs keyed by a hint of the
//!   revoked commitment, its listener, chain watcher and store, and the node's upload client.

pub mod api;
pub mod bolt3;
pub mod chain;
pub mod channel;
pub mod cli;
pub mod compat;
pub mod config;
pub mod error;
pub mod events;
pub mod gossip;
pub mod invoice;
pub mod keys;
pub mod lsps;
pub mod net;
pub mod node;
pub mod onchain;
pub mod onion;
pub mod payments;
pub mod routing;
pub mod store;
pub mod tower;
pub mod transport;
pub mod wallet;
pub mod wire;
