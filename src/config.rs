//! Node configuration: `DIR/chanhub.toml`, overridden by command-line flags.
//!
//! Resolution is a pure function ([`NodeConfig::resolve`]) so it is tested without a process.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bitcoin::Network;
use serde::Deserialize;

use crate::events::delivery::DeliveryConfig;
pub use crate::lsps::lsps1::Lsps1Config;
use crate::lsps::lsps2::Terms;
pub use crate::lsps::service::Lsps2Config;
use crate::net::PeerLimits;
use crate::payments::jamming::JammingLimits;
use crate::payments::FeePolicy;
use crate::tower::TowerAddr;

/// The config file's name inside the data directory.
pub const CONFIG_FILE: &str = "chanhub.toml";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9735";
pub const DEFAULT_API: &str = "127.0.0.1:3010";
/// How often the wallet polls the chain for new blocks and mempool transactions.
pub const DEFAULT_SYNC_INTERVAL: Duration = Duration::from_millis(1000);

/// Why a configuration cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("unknown network {0:?} (expected regtest, testnet, signet or bitcoin)")]
    Network(String),
    #[error("unknown log format {0:?} (expected text or json)")]
    LogFormat(String),
    #[error("bitcoind RPC needs credentials: --bitcoind-user with --bitcoind-password, or --bitcoind-cookie")]
    MissingRpcAuth,
    #[error("give either --bitcoind-user/--bitcoind-password or --bitcoind-cookie, not both")]
    ConflictingRpcAuth,
    #[error("--bitcoind-user and --bitcoind-password go together")]
    IncompleteUserPass,
    #[error("bitcoind credentials given without --bitcoind-rpc")]
    RpcAuthWithoutUrl,
    #[error("the embedded chain is regtest only; use --bitcoind-rpc for {0}")]
    EmbeddedNeedsRegtest(Network),
    #[error("{0}")]
    PeerLimits(String),
    #[error("[policy]: {0}")]
    Policy(String),
    #[error("[jamming]: {0}")]
    Jamming(String),
    #[error("[gossip]: stagger_secs must be 1 to 3600, not {0}")]
    GossipStagger(u64),
    #[error("resolution_depth must be 1 to 1000 confirmations, not {0}")]
    ResolutionDepth(u32),
    #[error("max_closing_fee_multiple must be 1 to 100, not {0}")]
    MaxClosingFeeMultiple(u32),
    #[error("dev_manual_htlcs is for regtest only, not {0}")]
    DevManualHtlcsNeedsRegtest(Network),
    #[error("watchtower: {0}")]
    Watchtower(String),
    #[error("{0}")]
    Webhooks(String),
    #[error("{0}")]
    Announce(String),
    #[error("zeroconf_peers: {0:?} is not a node id (66 hex characters)")]
    ZeroconfPeer(String),
    #[error("[lsps2]: {0}")]
    Lsps2(String),
    #[error("[lsps1]: {0}")]
    Lsps1(String),
}

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        match s {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(ConfigError::LogFormat(other.to_string())),
        }
    }
}

/// Credentials for a bitcoind-compatible JSON-RPC server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BitcoindAuth {
    UserPass { user: String, password: String },
    Cookie(PathBuf),
}

/// An external chain: a bitcoind (or another chanhub node's embedded chain) over JSON-RPC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BitcoindConfig {
    pub url: String,
    pub auth: BitcoindAuth,
}

/// Flags of `chanhub node`. Every field is optional so the config file can supply it.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct NodeArgs {
    /// The node's data directory (created if missing).
    #[arg(long)]
    pub datadir: PathBuf,
    /// regtest (default), testnet, signet or bitcoin.
    #[arg(long)]
    pub network: Option<String>,
    /// Address the Lightning peer port binds to (port 0: the OS chooses).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Address the HTTP API binds to (port 0: the OS chooses).
    #[arg(long)]
    pub api: Option<SocketAddr>,
    /// URL of a bitcoind-compatible JSON-RPC server; without it the node runs its own regtest chain.
    #[arg(long)]
    pub bitcoind_rpc: Option<String>,
    /// RPC user name (with --bitcoind-password).
    #[arg(long)]
    pub bitcoind_user: Option<String>,
    /// RPC password (with --bitcoind-user).
    #[arg(long)]
    pub bitcoind_password: Option<String>,
    /// Cookie file with `user:password`, as bitcoind writes it.
    #[arg(long)]
    pub bitcoind_cookie: Option<PathBuf>,
    /// text (default) or json.
    #[arg(long)]
    pub log_format: Option<String>,
    /// A watchtower (`chanhub tower`) to hand the justice transaction of every revoked state
    /// to, as NODE_ID@HOST:PORT.
    #[arg(long)]
    pub watchtower: Option<String>,
    /// An address other nodes can reach this node's peer port at, put in its
    /// `node_announcement` (HOST:PORT: IPv4, `[IPv6]`, a DNS name or a Tor v3 .onion); repeat
    /// for several. Needed to open announced channels.
    #[arg(long = "announce-addr", value_name = "HOST:PORT")]
    pub announce_addr: Vec<String>,
    /// Take keysend payments (a payment to our node id with the preimage in the onion, no
    /// invoice). Off unless set here or in the config file.
    #[arg(long)]
    pub accept_keysend: bool,
    /// Serve a phoenixd-compatible API (for LNbits, BTCPay Server…) on this address, e.g.
    /// 127.0.0.1:9740 (port 0: the OS chooses). Off unless set. Its passwords are in
    /// DIR/compat-phoenixd-password and DIR/compat-phoenixd-limited-password.
    #[arg(long, value_name = "ADDR")]
    pub compat_phoenixd: Option<SocketAddr>,
}

/// The contents of `DIR/chanhub.toml`; the same keys as the flags, in `snake_case`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub network: Option<String>,
    pub listen: Option<SocketAddr>,
    pub api: Option<SocketAddr>,
    pub bitcoind_rpc: Option<String>,
    pub bitcoind_user: Option<String>,
    pub bitcoind_password: Option<String>,
    pub bitcoind_cookie: Option<PathBuf>,
    pub log_format: Option<String>,
    /// Wallet poll interval in milliseconds (no flag: a tuning knob, not an everyday option).
    pub sync_interval_ms: Option<u64>,
    /// Peer manager limits and timers (no flags: tuning knobs; see channel-spec/peers.md).
    pub peers: Option<PeerFileConfig>,
    /// Serve the `/v1/dev/...` routes that drive HTLCs by hand (tests and demos only: they
    /// let the API user add and settle HTLCs without payments). Off unless set.
    pub dev_api: Option<bool>,
    /// The fee policy of forwarded payments until one is set through the API (`PUT
    /// /v1/policy`, which is stored and wins from then on).
    pub policy: Option<PolicyFileConfig>,
    /// Regtest only: the node neither forwards nor settles incoming HTLCs by itself; tests
    /// drive them by hand (with `dev_api`), e.g. HTLCs with made-up onions. Off unless set.
    pub dev_manual_htlcs: Option<bool>,
    /// Confirmations after which a closed channel's on-chain outcome is final for us: the
    /// monitor stops watching and records the resolution (default 6; 1 to 1000).
    pub resolution_depth: Option<u32>,
    /// A watchtower as NODE_ID@HOST:PORT (see [`NodeArgs::watchtower`]).
    pub watchtower: Option<String>,
    /// The wait before a failed webhook delivery's second attempt, in milliseconds, doubled
    /// for each further one up to an hour (default 1000; 10 to 3,600,000).
    pub webhook_retry_base_ms: Option<u64>,
    /// Attempts before a webhook delivery is given up as `failed` (default 12; 1 to 100).
    pub webhook_max_attempts: Option<u32>,
    /// The cap on trimmed (dust) HTLCs on each commitment of a channel, ours and the peer's,
    /// in msat (default 50,000,000; see channel-spec/channel.md, "Limits").
    pub max_dust_htlc_exposure_msat: Option<u64>,
    /// The most the hub pays to close a channel it opened, as a multiple of the chain's fee
    /// estimate (default 3; 1 to 100).
    pub max_closing_fee_multiple: Option<u32>,
    /// Shares of an outgoing channel one incoming peer's forwards may hold (see
    /// channel-spec/payments.md, "Jamming").
    pub jamming: Option<JammingFileConfig>,
    /// Addresses for the `node_announcement` (see [`NodeArgs::announce_addr`]); the flags,
    /// when given, replace the whole list.
    pub announce_addr: Option<Vec<String>>,
    /// The node's name in its `node_announcement`: UTF-8, at most 32 bytes (default: the
    /// first 10 bytes of the node id in hex, as LND does).
    pub alias: Option<String>,
    /// The node's colour in its `node_announcement`, `#rrggbb` (default `#3399ff`, LND's).
    pub color: Option<String>,
    /// BOLT 7 gossip (see channel-spec/gossip.md).
    pub gossip: Option<GossipFileConfig>,
    /// Take keysend payments (see [`NodeArgs::accept_keysend`]; either turns it on).
    pub accept_keysend: Option<bool>,
    /// Node ids whose zero-conf channels (`option_zeroconf`) we accept: we use such a channel
    /// before its funding confirms, trusting the opener not to double-spend it.
    pub zeroconf_peers: Option<Vec<String>>,
    /// The phoenixd-compatible API's address (see [`NodeArgs::compat_phoenixd`]; the flag
    /// wins).
    pub compat_phoenixd: Option<SocketAddr>,
    /// Sell just-in-time channels (LSPS2, see channel-spec/lsps.md); absent: not served.
    pub lsps2: Option<Lsps2FileConfig>,
    /// Sell channels paid in advance (LSPS1, see channel-spec/lsps.md); absent: not served.
    pub lsps1: Option<Lsps1FileConfig>,
}

/// The `[lsps1]` table of `chanhub.toml`; unset keys keep [`Lsps1Config::default`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lsps1FileConfig {
    /// The range of the hub's side of a channel sold, sat (default 100,000 to 10,000,000).
    pub min_channel_sat: Option<u64>,
    pub max_channel_sat: Option<u64>,
    /// The most a client may pay to start with on its side, sat (default 0: none).
    pub max_client_balance_sat: Option<u64>,
    /// The longest lease sold, blocks (default 12,960: 90 days).
    pub max_channel_expiry_blocks: Option<u32>,
    /// 0 (default): zero-conf channels.
    pub min_required_channel_confirmations: Option<u16>,
    /// Default 6, the least: the funding's fee rate aims at 6 blocks.
    pub min_funding_confirms_within_blocks: Option<u16>,
    /// The fee: a base (default 2,000 sat) plus ppm of the channel size (default 10,000).
    pub fee_base_sat: Option<u64>,
    pub fee_ppm: Option<u32>,
    /// How long an order's invoice may be paid, seconds (default 3600; 60 to 604800).
    pub order_valid_secs: Option<u64>,
    /// How long a paid order waits for its client to connect, seconds (default 30; 1 to 600).
    pub client_wait_secs: Option<u64>,
    /// When set, `lsps1.create_order` needs this token.
    pub token: Option<String>,
}

impl Lsps1FileConfig {
    /// The defaults with this table's values over them, validated.
    pub fn resolve(&self) -> Result<Lsps1Config, ConfigError> {
        let d = Lsps1Config::default();
        let c = Lsps1Config {
            min_channel_sat: self.min_channel_sat.unwrap_or(d.min_channel_sat),
            max_channel_sat: self.max_channel_sat.unwrap_or(d.max_channel_sat),
            max_client_balance_sat: self
                .max_client_balance_sat
                .unwrap_or(d.max_client_balance_sat),
            max_channel_expiry_blocks: self
                .max_channel_expiry_blocks
                .unwrap_or(d.max_channel_expiry_blocks),
            min_required_channel_confirmations: self
                .min_required_channel_confirmations
                .unwrap_or(d.min_required_channel_confirmations),
            min_funding_confirms_within_blocks: self
                .min_funding_confirms_within_blocks
                .unwrap_or(d.min_funding_confirms_within_blocks),
            fee_base_sat: self.fee_base_sat.unwrap_or(d.fee_base_sat),
            fee_ppm: self.fee_ppm.unwrap_or(d.fee_ppm),
            order_valid_secs: self.order_valid_secs.unwrap_or(d.order_valid_secs),
            client_wait_secs: self.client_wait_secs.unwrap_or(d.client_wait_secs),
            token: self.token.clone(),
        };
        c.validate(crate::channel::ChannelConfig::default().min_funding_sat)
            .map_err(ConfigError::Lsps1)?;
        Ok(c)
    }
}

/// The `[lsps2]` table of `chanhub.toml`; unset keys keep the defaults below.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lsps2FileConfig {
    /// The least opening fee (default 2,000,000 msat: about a funding transaction's fee).
    pub min_fee_msat: Option<u64>,
    /// The opening fee's share of the payment, parts per million (default 1000).
    pub proportional: Option<u32>,
    /// How long an offer stands, seconds (default 3600; 600 to 604800).
    pub valid_for_secs: Option<u64>,
    /// Blocks the hub keeps a JIT channel open after it confirms (default 1008).
    pub min_lifetime: Option<u32>,
    /// The most `to_self_delay` the hub asks of the client (default 2016).
    pub max_client_to_self_delay: Option<u32>,
    /// Payment range, msat (default 1,000,000 to 4,000,000,000).
    pub min_payment_size_msat: Option<u64>,
    pub max_payment_size_msat: Option<u64>,
    /// The client's route hint delta (default 144; at least the policy's `cltv_delta`).
    pub lsp_cltv_expiry_delta: Option<u32>,
    /// Withhold the funding until the client released the preimage (default false).
    pub client_trusts_lsp: Option<bool>,
    pub claim_timeout_secs: Option<u64>,
    /// JIT channel capacity beyond the payment, sat (default 100,000).
    pub inbound_liquidity_sat: Option<u64>,
    /// When set, `lsps2.get_info` needs this token.
    pub token: Option<String>,
}

impl Lsps2FileConfig {
    /// The defaults with this table's values over them, validated against the forwarding
    /// policy's `cltv_delta`.
    pub fn resolve(&self, policy_cltv_delta: u16) -> Result<Lsps2Config, ConfigError> {
        let c = Lsps2Config {
            terms: Terms {
                min_fee_msat: self.min_fee_msat.unwrap_or(2_000_000),
                proportional: self.proportional.unwrap_or(1000),
                valid_for_secs: self.valid_for_secs.unwrap_or(3600),
                min_lifetime: self.min_lifetime.unwrap_or(1008),
                max_client_to_self_delay: self.max_client_to_self_delay.unwrap_or(2016),
                min_payment_size_msat: self.min_payment_size_msat.unwrap_or(1_000_000),
                max_payment_size_msat: self.max_payment_size_msat.unwrap_or(4_000_000_000),
            },
            lsp_cltv_expiry_delta: self.lsp_cltv_expiry_delta.unwrap_or(144),
            client_trusts_lsp: self.client_trusts_lsp.unwrap_or(false),
            claim_timeout_secs: self.claim_timeout_secs.unwrap_or(60),
            inbound_liquidity_sat: self.inbound_liquidity_sat.unwrap_or(100_000),
            token: self.token.clone(),
        };
        c.validate(policy_cltv_delta).map_err(ConfigError::Lsps2)?;
        Ok(c)
    }
}

/// The `[gossip]` table of `chanhub.toml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GossipFileConfig {
    /// How often accepted gossip is relayed to peers, in seconds (default 60, BOLT 7's
    /// stagger; 1 to 3600).
    pub stagger_secs: Option<u64>,
}

/// The `[jamming]` table of `chanhub.toml`; unset keys keep [`JammingLimits::default`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JammingFileConfig {
    /// Percent of the outgoing channel's HTLC slots (default 50; 1 to 100).
    pub htlc_share_percent: Option<u8>,
    /// Percent of the outgoing channel's value in flight (default 50; 1 to 100).
    pub value_share_percent: Option<u8>,
}

impl JammingFileConfig {
    pub fn resolve(&self) -> Result<JammingLimits, ConfigError> {
        let d = JammingLimits::default();
        let limits = JammingLimits {
            htlc_share_percent: self.htlc_share_percent.unwrap_or(d.htlc_share_percent),
            value_share_percent: self.value_share_percent.unwrap_or(d.value_share_percent),
        };
        limits.validate().map_err(ConfigError::Jamming)?;
        Ok(limits)
    }
}

/// The `[policy]` table of `chanhub.toml`; unset keys keep [`FeePolicy::default`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyFileConfig {
    pub base_msat: Option<u32>,
    pub ppm: Option<u32>,
    pub cltv_delta: Option<u16>,
}

impl PolicyFileConfig {
    /// The defaults with this table's values over them, validated.
    pub fn resolve(&self) -> Result<FeePolicy, ConfigError> {
        let d = FeePolicy::default();
        let policy = FeePolicy {
            base_msat: self.base_msat.unwrap_or(d.base_msat),
            ppm: self.ppm.unwrap_or(d.ppm),
            cltv_delta: self.cltv_delta.unwrap_or(d.cltv_delta),
        };
        policy.validate().map_err(ConfigError::Policy)?;
        Ok(policy)
    }
}

/// The `[peers]` table of `chanhub.toml`; unset keys keep their defaults.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerFileConfig {
    pub max_peers: Option<usize>,
    pub max_pending_handshakes: Option<usize>,
    pub handshake_timeout_ms: Option<u64>,
    pub ping_interval_ms: Option<u64>,
    pub pong_timeout_ms: Option<u64>,
    pub outgoing_queue: Option<usize>,
    pub queue_full_timeout_ms: Option<u64>,
    pub inbound_queue: Option<usize>,
    pub max_pending_opens_per_peer: Option<usize>,
    pub max_pending_opens: Option<usize>,
    pub pending_open_timeout_ms: Option<u64>,
    pub reconnect_min_ms: Option<u64>,
    pub reconnect_max_ms: Option<u64>,
}

impl PeerFileConfig {
    /// The defaults with this table's values over them.
    pub fn resolve(&self) -> Result<PeerLimits, ConfigError> {
        let d = PeerLimits::default();
        let ms =
            |v: Option<u64>, default: Duration| v.map(Duration::from_millis).unwrap_or(default);
        let limits = PeerLimits {
            max_peers: self.max_peers.unwrap_or(d.max_peers),
            max_pending: self.max_pending_handshakes.unwrap_or(d.max_pending),
            handshake_timeout: ms(self.handshake_timeout_ms, d.handshake_timeout),
            ping_interval: ms(self.ping_interval_ms, d.ping_interval),
            pong_timeout: ms(self.pong_timeout_ms, d.pong_timeout),
            outgoing_queue: self.outgoing_queue.unwrap_or(d.outgoing_queue),
            queue_full_timeout: ms(self.queue_full_timeout_ms, d.queue_full_timeout),
            inbound_queue: self.inbound_queue.unwrap_or(d.inbound_queue),
            max_pending_opens_per_peer: self
                .max_pending_opens_per_peer
                .unwrap_or(d.max_pending_opens_per_peer),
            max_pending_opens: self.max_pending_opens.unwrap_or(d.max_pending_opens),
            pending_open_timeout: ms(self.pending_open_timeout_ms, d.pending_open_timeout),
            reconnect_min: ms(self.reconnect_min_ms, d.reconnect_min),
            reconnect_max: ms(self.reconnect_max_ms, d.reconnect_max),
        };
        limits.validate().map_err(ConfigError::PeerLimits)?;
        Ok(limits)
    }
}

impl FileConfig {
    /// Reads `DIR/chanhub.toml`; a missing file is an empty config.
    pub fn load(datadir: &Path) -> Result<Self, ConfigError> {
        let path = datadir.join(CONFIG_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).map_err(|e| ConfigError::Parse {
                path,
                message: e.message().to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(FileConfig::default()),
            Err(source) => Err(ConfigError::Read { path, source }),
        }
    }
}

/// Everything a node needs to start, resolved and validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeConfig {
    pub datadir: PathBuf,
    pub network: Network,
    pub listen: SocketAddr,
    pub api: SocketAddr,
    /// `None`: run the embedded regtest chain in-process.
    pub bitcoind: Option<BitcoindConfig>,
    pub log_format: LogFormat,
    pub sync_interval: Duration,
    pub peers: PeerLimits,
    /// Serve the development routes (see [`FileConfig::dev_api`]).
    pub dev_api: bool,
    /// The fee policy from the config file (a policy stored through the API wins over it).
    pub policy: FeePolicy,
    /// The HTLC router leaves incoming HTLCs alone (see [`FileConfig::dev_manual_htlcs`]).
    pub dev_manual_htlcs: bool,
    /// See [`FileConfig::resolution_depth`].
    pub resolution_depth: u32,
    /// Where revoked states' justice transactions are uploaded; `None`: no watchtower.
    pub watchtower: Option<TowerAddr>,
    /// Webhook retries (see [`FileConfig::webhook_retry_base_ms`]).
    pub webhooks: DeliveryConfig,
    /// See [`FileConfig::max_dust_htlc_exposure_msat`]; applies to every channel, open ones
    /// included.
    pub max_dust_htlc_exposure_msat: u64,
    /// See [`FileConfig::max_closing_fee_multiple`].
    pub max_closing_fee_multiple: u32,
    /// Per incoming peer caps on outgoing channels (see [`FileConfig::jamming`]).
    pub jamming: JammingLimits,
    /// Where other nodes can reach us, for the `node_announcement`; empty: the node opens no
    /// announced channel.
    pub announce_addrs: Vec<crate::wire::NetAddress>,
    /// The configured alias; empty: [`NodeConfig::alias_for`] picks the default.
    pub alias: String,
    /// The `node_announcement` colour.
    pub color: [u8; 3],
    /// See [`GossipFileConfig::stagger_secs`].
    pub gossip_stagger_secs: u64,
    /// See [`NodeArgs::accept_keysend`].
    pub accept_keysend: bool,
    /// How long an incomplete multi-part payment to us is held: BOLT 4's 60 s
    /// ([`crate::payments::mpp::MPP_TIMEOUT`]); no key sets it, tests shorten it here.
    pub mpp_timeout: Duration,
    /// See [`FileConfig::zeroconf_peers`].
    pub zeroconf_peers: Vec<bitcoin::secp256k1::PublicKey>,
    /// Where the phoenixd-compatible API listens; `None`: not served.
    pub compat_phoenixd: Option<SocketAddr>,
    /// LSPS2's terms; `None`: just-in-time channels are not sold.
    pub lsps2: Option<Lsps2Config>,
    /// LSPS1's options; `None`: channels are not sold in advance.
    pub lsps1: Option<Lsps1Config>,
}

/// The default `node_announcement` colour (LND's).
pub const DEFAULT_COLOR: [u8; 3] = [0x33, 0x99, 0xff];

/// `#rrggbb` to its three bytes.
pub fn parse_color(s: &str) -> Result<[u8; 3], ConfigError> {
    s.strip_prefix('#')
        .filter(|h| h.len() == 6)
        .and_then(|h| hex::decode(h).ok())
        .and_then(|b| <[u8; 3]>::try_from(b).ok())
        .ok_or_else(|| ConfigError::Announce(format!("color {s:?} is not #rrggbb")))
}

/// Checks an alias fits the 32 bytes of a `node_announcement`.
pub fn check_alias(alias: &str) -> Result<(), ConfigError> {
    if alias.len() > 32 {
        return Err(ConfigError::Announce(format!(
            "alias {alias:?} is {} bytes; at most 32 (UTF-8)",
            alias.len()
        )));
    }
    // A zero byte ends the alias on the wire (it is padded with them).
    if alias.contains('\0') {
        return Err(ConfigError::Announce(
            "alias contains a NUL character".into(),
        ));
    }
    Ok(())
}

/// The range of `webhook_retry_base_ms`: at least 10 ms, at most the 1 hour cap.
pub const WEBHOOK_RETRY_BASE_MS: std::ops::RangeInclusive<u64> = 10..=3_600_000;
/// The range of `webhook_max_attempts`.
pub const WEBHOOK_MAX_ATTEMPTS: std::ops::RangeInclusive<u32> = 1..=100;

/// The webhook retry keys over their defaults, range-checked.
pub fn resolve_webhooks(
    retry_base_ms: Option<u64>,
    max_attempts: Option<u32>,
) -> Result<DeliveryConfig, ConfigError> {
    let d = DeliveryConfig::default();
    let base = retry_base_ms.unwrap_or(d.retry_base.as_millis() as u64);
    if !WEBHOOK_RETRY_BASE_MS.contains(&base) {
        return Err(ConfigError::Webhooks(format!(
            "webhook_retry_base_ms must be 10 to 3600000 (one hour), not {base}"
        )));
    }
    let max_attempts = max_attempts.unwrap_or(d.max_attempts);
    if !WEBHOOK_MAX_ATTEMPTS.contains(&max_attempts) {
        return Err(ConfigError::Webhooks(format!(
            "webhook_max_attempts must be 1 to 100, not {max_attempts}"
        )));
    }
    Ok(DeliveryConfig {
        retry_base: Duration::from_millis(base),
        max_attempts,
    })
}

/// Parses a network name the way users write it.
pub fn parse_network(s: &str) -> Result<Network, ConfigError> {
    match s {
        "regtest" => Ok(Network::Regtest),
        "testnet" => Ok(Network::Testnet),
        "signet" => Ok(Network::Signet),
        "bitcoin" | "mainnet" => Ok(Network::Bitcoin),
        other => Err(ConfigError::Network(other.to_string())),
    }
}

/// The chain flags of one source (the command line or the config file).
#[derive(Debug, Clone, Default)]
pub struct BitcoindFlags {
    pub url: Option<String>,
    pub user: Option<String>,
    pub password: Option<String>,
    pub cookie: Option<PathBuf>,
}

/// The external chain named by the flags over the file (`None`: none named). Shared by
/// `chanhub node` and `chanhub tower`.
pub fn resolve_bitcoind(
    flags: BitcoindFlags,
    file: BitcoindFlags,
) -> Result<Option<BitcoindConfig>, ConfigError> {
    // Credentials are taken as a group from whichever source names the RPC URL, so a
    // cookie in the file does not silently combine with a user given on the command line.
    let from_flags = flags.url.is_some()
        || flags.user.is_some()
        || flags.password.is_some()
        || flags.cookie.is_some();
    let (url, user, password, cookie) = if from_flags {
        (
            flags.url.or(file.url),
            flags.user,
            flags.password,
            flags.cookie,
        )
    } else {
        (file.url, file.user, file.password, file.cookie)
    };
    let bitcoind = match url {
        None if user.is_some() || password.is_some() || cookie.is_some() => {
            return Err(ConfigError::RpcAuthWithoutUrl)
        }
        None => None,
        Some(url) => {
            let auth = match (user, password, cookie) {
                (Some(user), Some(password), None) => BitcoindAuth::UserPass { user, password },
                (None, None, Some(cookie)) => BitcoindAuth::Cookie(cookie),
                (None, None, None) => return Err(ConfigError::MissingRpcAuth),
                (_, _, Some(_)) => return Err(ConfigError::ConflictingRpcAuth),
                _ => return Err(ConfigError::IncompleteUserPass),
            };
            Some(BitcoindConfig { url, auth })
        }
    };
    Ok(bitcoind)
}

impl NodeConfig {
    /// Merges flags over the file; flags win field by field.
    pub fn resolve(flags: NodeArgs, file: FileConfig) -> Result<Self, ConfigError> {
        let network = match flags.network.or(file.network) {
            Some(n) => parse_network(&n)?,
            None => Network::Regtest,
        };
        let log_format = match flags.log_format.or(file.log_format) {
            Some(f) => f.parse()?,
            None => LogFormat::Text,
        };
        let bitcoind = resolve_bitcoind(
            BitcoindFlags {
                url: flags.bitcoind_rpc,
                user: flags.bitcoind_user,
                password: flags.bitcoind_password,
                cookie: flags.bitcoind_cookie,
            },
            BitcoindFlags {
                url: file.bitcoind_rpc,
                user: file.bitcoind_user,
                password: file.bitcoind_password,
                cookie: file.bitcoind_cookie,
            },
        )?;
        if bitcoind.is_none() && network != Network::Regtest {
            return Err(ConfigError::EmbeddedNeedsRegtest(network));
        }
        let dev_manual_htlcs = file.dev_manual_htlcs.unwrap_or(false);
        if dev_manual_htlcs && network != Network::Regtest {
            return Err(ConfigError::DevManualHtlcsNeedsRegtest(network));
        }
        let resolution_depth = file
            .resolution_depth
            .unwrap_or(crate::node::channels::DEFAULT_RESOLUTION_DEPTH);
        if !(1..=1000).contains(&resolution_depth) {
            return Err(ConfigError::ResolutionDepth(resolution_depth));
        }
        let watchtower = flags
            .watchtower
            .or(file.watchtower)
            .map(|w| w.parse::<TowerAddr>().map_err(ConfigError::Watchtower))
            .transpose()?;
        let webhooks = resolve_webhooks(file.webhook_retry_base_ms, file.webhook_max_attempts)?;
        let max_closing_fee_multiple = file
            .max_closing_fee_multiple
            .unwrap_or(crate::node::channels::DEFAULT_MAX_CLOSING_FEE_MULTIPLE);
        if !(1..=100).contains(&max_closing_fee_multiple) {
            return Err(ConfigError::MaxClosingFeeMultiple(max_closing_fee_multiple));
        }
        let gossip_stagger_secs = file
            .gossip
            .as_ref()
            .and_then(|g| g.stagger_secs)
            .unwrap_or(60);
        if !(1..=3600).contains(&gossip_stagger_secs) {
            return Err(ConfigError::GossipStagger(gossip_stagger_secs));
        }
        let announce_addr = if flags.announce_addr.is_empty() {
            file.announce_addr.unwrap_or_default()
        } else {
            flags.announce_addr
        };
        let announce_addrs = announce_addr
            .iter()
            .map(|a| {
                a.parse::<crate::wire::NetAddress>()
                    .map_err(|e| ConfigError::Announce(format!("announce_addr: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let alias = file.alias.unwrap_or_default();
        check_alias(&alias)?;
        let color = file
            .color
            .as_deref()
            .map(parse_color)
            .transpose()?
            .unwrap_or(DEFAULT_COLOR);
        let policy = file.policy.unwrap_or_default().resolve()?;
        let lsps2 = file
            .lsps2
            .as_ref()
            .map(|t| t.resolve(policy.cltv_delta))
            .transpose()?;
        let lsps1 = file.lsps1.as_ref().map(|t| t.resolve()).transpose()?;
        Ok(NodeConfig {
            datadir: flags.datadir,
            network,
            listen: flags
                .listen
                .or(file.listen)
                .unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("valid default")),
            api: flags
                .api
                .or(file.api)
                .unwrap_or_else(|| DEFAULT_API.parse().expect("valid default")),
            bitcoind,
            log_format,
            sync_interval: file
                .sync_interval_ms
                .map(|ms| Duration::from_millis(ms.max(10)))
                .unwrap_or(DEFAULT_SYNC_INTERVAL),
            peers: file.peers.unwrap_or_default().resolve()?,
            dev_api: file.dev_api.unwrap_or(false),
            policy,
            dev_manual_htlcs,
            resolution_depth,
            watchtower,
            webhooks,
            max_dust_htlc_exposure_msat: file
                .max_dust_htlc_exposure_msat
                .unwrap_or(crate::channel::ChannelConfig::default().max_dust_htlc_exposure_msat),
            max_closing_fee_multiple,
            jamming: file.jamming.unwrap_or_default().resolve()?,
            announce_addrs,
            alias,
            color,
            gossip_stagger_secs,
            accept_keysend: flags.accept_keysend || file.accept_keysend.unwrap_or(false),
            mpp_timeout: crate::payments::mpp::MPP_TIMEOUT,
            zeroconf_peers: file
                .zeroconf_peers
                .unwrap_or_default()
                .iter()
                .map(|s| {
                    s.trim()
                        .parse()
                        .map_err(|_| ConfigError::ZeroconfPeer(s.clone()))
                })
                .collect::<Result<_, _>>()?,
            compat_phoenixd: flags.compat_phoenixd.or(file.compat_phoenixd),
            lsps2,
            lsps1,
        })
    }

    /// The alias to announce: the configured one, or by default the first 10 bytes of the
    /// node id in hex (20 characters, as LND).
    pub fn alias_for(&self, node_id: &bitcoin::secp256k1::PublicKey) -> String {
        if self.alias.is_empty() {
            hex::encode(&node_id.serialize()[..10])
        } else {
            self.alias.clone()
        }
    }

    /// Reads the config file of `flags.datadir` and merges the flags over it.
    pub fn load(flags: NodeArgs) -> Result<Self, ConfigError> {
        let file = FileConfig::load(&flags.datadir)?;
        Self::resolve(flags, file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags() -> NodeArgs {
        NodeArgs {
            datadir: "d".into(),
            ..Default::default()
        }
    }

    #[test]
    fn defaults_run_the_embedded_regtest_chain() {
        let c = NodeConfig::resolve(flags(), FileConfig::default()).unwrap();
        assert_eq!(c.network, Network::Regtest);
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(c.api.to_string(), DEFAULT_API);
        assert_eq!(c.bitcoind, None);
        assert_eq!(c.log_format, LogFormat::Text);
    }

    #[test]
    fn flags_win_over_the_file() {
        let file: FileConfig = toml::from_str(
            "api = \"127.0.0.1:4000\"\nlisten = \"127.0.0.1:4001\"\nlog_format = \"json\"\n",
        )
        .unwrap();
        let mut f = flags();
        f.api = Some("127.0.0.1:0".parse().unwrap());
        let c = NodeConfig::resolve(f, file).unwrap();
        assert_eq!(c.api.to_string(), "127.0.0.1:0");
        assert_eq!(c.listen.to_string(), "127.0.0.1:4001");
        assert_eq!(c.log_format, LogFormat::Json);
    }

    #[test]
    fn rpc_credentials_are_validated() {
        let mut f = flags();
        f.bitcoind_rpc = Some("http://127.0.0.1:18443".into());
        assert!(matches!(
            NodeConfig::resolve(f.clone(), FileConfig::default()),
            Err(ConfigError::MissingRpcAuth)
        ));
        f.bitcoind_user = Some("u".into());
        assert!(matches!(
            NodeConfig::resolve(f.clone(), FileConfig::default()),
            Err(ConfigError::IncompleteUserPass)
        ));
        f.bitcoind_password = Some("p".into());
        let c = NodeConfig::resolve(f.clone(), FileConfig::default()).unwrap();
        assert_eq!(
            c.bitcoind.unwrap().auth,
            BitcoindAuth::UserPass {
                user: "u".into(),
                password: "p".into()
            }
        );
        f.bitcoind_cookie = Some("c".into());
        assert!(matches!(
            NodeConfig::resolve(f, FileConfig::default()),
            Err(ConfigError::ConflictingRpcAuth)
        ));
    }

    #[test]
    fn peer_limits_come_from_the_peers_table() {
        let c = NodeConfig::resolve(flags(), FileConfig::default()).unwrap();
        assert_eq!(c.peers, PeerLimits::default());
        let file: FileConfig =
            toml::from_str("[peers]\nping_interval_ms = 500\nmax_peers = 3\n").unwrap();
        let c = NodeConfig::resolve(flags(), file).unwrap();
        assert_eq!(c.peers.ping_interval, Duration::from_millis(500));
        assert_eq!(c.peers.max_peers, 3);
        assert_eq!(c.peers.pong_timeout, PeerLimits::default().pong_timeout);
        let zero: FileConfig = toml::from_str("[peers]\nmax_pending_handshakes = 0\n").unwrap();
        assert!(matches!(
            NodeConfig::resolve(flags(), zero),
            Err(ConfigError::PeerLimits(_))
        ));
        assert!(toml::from_str::<FileConfig>("[peers]\nmax_peer = 3\n").is_err());
        let opens = "[peers]\ninbound_queue = 8\nmax_pending_opens_per_peer = 1\n\
                     max_pending_opens = 9\npending_open_timeout_ms = 1500\n";
        let c = NodeConfig::resolve(flags(), toml::from_str(opens).unwrap()).unwrap();
        assert_eq!(
            (c.peers.inbound_queue, c.peers.max_pending_opens_per_peer),
            (8, 1)
        );
        assert_eq!(c.peers.max_pending_opens, 9);
        assert_eq!(c.peers.pending_open_timeout, Duration::from_millis(1500));
        let zero: FileConfig = toml::from_str("[peers]\ninbound_queue = 0\n").unwrap();
        assert!(NodeConfig::resolve(flags(), zero).is_err());
    }

    #[test]
    fn the_fee_policy_comes_from_the_policy_table() {
        let c = NodeConfig::resolve(flags(), FileConfig::default()).unwrap();
        assert_eq!(c.policy, FeePolicy::default());
        assert!(!c.dev_manual_htlcs);
        let file: FileConfig = toml::from_str("[policy]\nppm = 2500\ncltv_delta = 144\n").unwrap();
        let c = NodeConfig::resolve(flags(), file).unwrap();
        assert_eq!(
            c.policy,
            FeePolicy {
                base_msat: FeePolicy::default().base_msat,
                ppm: 2500,
                cltv_delta: 144
            }
        );
        for low in ["2", "33"] {
            let low: FileConfig =
                toml::from_str(&format!("[policy]\ncltv_delta = {low}\n")).unwrap();
            let err = NodeConfig::resolve(flags(), low).unwrap_err();
            assert!(matches!(err, ConfigError::Policy(_)));
            assert!(err.to_string().contains("cltv_delta"), "{err}");
        }
        let ok: FileConfig = toml::from_str("[policy]\ncltv_delta = 34\n").unwrap();
        assert_eq!(
            NodeConfig::resolve(flags(), ok).unwrap().policy.cltv_delta,
            34
        );
        assert!(toml::from_str::<FileConfig>("[policy]\nfee = 1\n").is_err());
        assert!(toml::from_str::<FileConfig>("[policy]\nppm = -1\n").is_err());
    }

    #[test]
    fn the_dust_exposure_cap_is_a_key() {
        let c = NodeConfig::resolve(flags(), FileConfig::default()).unwrap();
        assert_eq!(c.max_dust_htlc_exposure_msat, 50_000_000);
        let file: FileConfig = toml::from_str("max_dust_htlc_exposure_msat = 2000000\n").unwrap();
        let c = NodeConfig::resolve(flags(), file).unwrap();
        assert_eq!(c.max_dust_htlc_exposure_msat, 2_000_000);
        assert!(toml::from_str::<FileConfig>("max_dust_htlc_exposure_msat = -1\n").is_err());
    }

    #[test]
    fn gossip_stagger_comes_from_the_gossip_table() {
        let c = NodeConfig::resolve(flags(), FileConfig::default()).unwrap();
        assert_eq!(c.gossip_stagger_secs, 60);
        let file: FileConfig = toml::from_str("[gossip]\nstagger_secs = 1\n").unwrap();
        assert_eq!(
            NodeConfig::resolve(flags(), file)
                .unwrap()
                .gossip_stagger_secs,
            1
        );
        let zero: FileConfig = toml::from_str("[gossip]\nstagger_secs = 0\n").unwrap();
        let e = NodeConfig::resolve(flags(), zero).unwrap_err();
        assert!(matches!(e, ConfigError::GossipStagger(0)), "{e}");
        assert!(toml::from_str::<FileConfig>("[gossip]\nsync_peers = 3\n").is_err());
    }

    #[test]
    fn keysend_is_off_unless_the_flag_or_the_file_turns_it_on() {
        let c = NodeConfig::resolve(flags(), FileConfig::default()).unwrap();
        assert!(!c.accept_keysend);
        assert_eq!(c.mpp_timeout, Duration::from_secs(60));
        let on: FileConfig = toml::from_str("accept_keysend = true\n").unwrap();
        assert!(NodeConfig::resolve(flags(), on).unwrap().accept_keysend);
        let mut f = flags();
        f.accept_keysend = true;
        assert!(
            NodeConfig::resolve(f, FileConfig::default())
                .unwrap()
                .accept_keysend
        );
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            node: NodeArgs,
        }
        let cli = Cli::try_parse_from(["chanhub", "--datadir", "d", "--accept-keysend"]).unwrap();
        assert!(cli.node.accept_keysend);
    }

    #[test]
    fn zeroconf_peers_are_node_ids_and_none_by_default() {
        let c = NodeConfig::resolve(flags(), FileConfig::default()).unwrap();
        assert!(c.zeroconf_peers.is_empty());
        let id = bitcoin::secp256k1::SecretKey::from_slice(&[3; 32])
            .unwrap()
            .public_key(&bitcoin::secp256k1::Secp256k1::new())
            .to_string();
        let f: FileConfig = toml::from_str(&format!("zeroconf_peers = [\"{id}\"]\n")).unwrap();
        let c = NodeConfig::resolve(flags(), f).unwrap();
        assert_eq!(c.zeroconf_peers.len(), 1);
        assert_eq!(c.zeroconf_peers[0].to_string(), id);
        let bad: FileConfig = toml::from_str("zeroconf_peers = [\"02ab\"]\n").unwrap();
        let e = NodeConfig::resolve(flags(), bad).unwrap_err();
        assert!(
            matches!(e, ConfigError::ZeroconfPeer(ref s) if s == "02ab"),
            "{e}"
        );
    }

    #[test]
    fn the_phoenixd_api_is_off_unless_an_address_is_given_and_the_flag_wins() {
        let c = NodeConfig::resolve(flags(), FileConfig::default()).unwrap();
        assert_eq!(c.compat_phoenixd, None);
        let file: FileConfig = toml::from_str("compat_phoenixd = \"127.0.0.1:9740\"\n").unwrap();
        let c = NodeConfig::resolve(flags(), file.clone()).unwrap();
        assert_eq!(c.compat_phoenixd, Some("127.0.0.1:9740".parse().unwrap()));
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            node: NodeArgs,
        }
        let cli = Cli::try_parse_from([
            "chanhub",
            "--datadir",
            "d",
            "--compat-phoenixd",
            "0.0.0.0:1",
        ])
        .unwrap();
        let c = NodeConfig::resolve(cli.node, file).unwrap();
        assert_eq!(c.compat_phoenixd, Some("0.0.0.0:1".parse().unwrap()));
        assert!(toml::from_str::<FileConfig>("compat_phoenixd = \"nope\"\n").is_err());
    }

    #[test]
    fn lsps2_is_off_without_its_table_and_validated_with_it() {
        let c = NodeConfig::resolve(flags(), FileConfig::default()).unwrap();
        assert_eq!(c.lsps2, None);
        let file: FileConfig = toml::from_str("[lsps2]\n").unwrap();
        let l = NodeConfig::resolve(flags(), file).unwrap().lsps2.unwrap();
        assert_eq!(l.terms.valid_for_secs, 3600);
        assert_eq!(l.inbound_liquidity_sat, 100_000);
        assert!(!l.client_trusts_lsp);
        assert_eq!(l.token, None);
        assert!(l.lsp_cltv_expiry_delta >= u32::from(c.policy.cltv_delta));
        let file: FileConfig = toml::from_str(
            "[lsps2]\nmin_fee_msat = 5000\nproportional = 2000\nvalid_for_secs = 600\n\
             min_lifetime = 10\nmax_client_to_self_delay = 144\nmin_payment_size_msat = 10000\n\
             max_payment_size_msat = 20000000\nlsp_cltv_expiry_delta = 80\n\
             client_trusts_lsp = true\nclaim_timeout_secs = 30\ninbound_liquidity_sat = 5000\n\
             token = \"vip\"\n[policy]\ncltv_delta = 80\n",
        )
        .unwrap();
        let l = NodeConfig::resolve(flags(), file).unwrap().lsps2.unwrap();
        assert_eq!(
            (
                l.terms.min_fee_msat,
                l.terms.proportional,
                l.terms.max_payment_size_msat
            ),
            (5000, 2000, 20_000_000)
        );
        assert_eq!((l.lsp_cltv_expiry_delta, l.client_trusts_lsp), (80, true));
        assert_eq!(l.claim_timeout_secs, 30);
        assert_eq!(l.token.as_deref(), Some("vip"));
        for bad in [
            "valid_for_secs = 599",
            "claim_timeout_secs = 0",
            "claim_timeout_secs = 3601",
            "min_payment_size_msat = 10\nmax_payment_size_msat = 9",
            "min_fee_msat = 4000000000",
            "proportional = 1000001",
            "max_payment_size_msat = 16777215000",
            "lsp_cltv_expiry_delta = 10\n[policy]\ncltv_delta = 40",
            "token = \"\"",
        ] {
            let file: FileConfig = toml::from_str(&format!("[lsps2]\n{bad}\n")).unwrap();
            let e = NodeConfig::resolve(flags(), file).unwrap_err();
            assert!(matches!(e, ConfigError::Lsps2(_)), "{bad}: {e}");
        }
        assert!(toml::from_str::<FileConfig>("[lsps2]\nfee = 3\n").is_err());
    }

    #[test]
    fn lsps1_is_off_without_its_table_and_validated_with_it() {
        let c = NodeConfig::resolve(flags(), FileConfig::default()).unwrap();
        assert_eq!(c.lsps1, None);
        let file: FileConfig = toml::from_str("[lsps1]\n").unwrap();
        let l = NodeConfig::resolve(flags(), file).unwrap().lsps1.unwrap();
        assert_eq!(l, Lsps1Config::default());
        let file: FileConfig = toml::from_str(
            "[lsps1]\nmin_channel_sat = 50000\nmax_channel_sat = 2000000\n\
             max_client_balance_sat = 1000\nmax_channel_expiry_blocks = 4320\n\
             min_required_channel_confirmations = 1\nmin_funding_confirms_within_blocks = 12\n\
             fee_base_sat = 0\nfee_ppm = 5000\norder_valid_secs = 600\nclient_wait_secs = 5\n\
             token = \"vip\"\n",
        )
        .unwrap();
        let l = NodeConfig::resolve(flags(), file).unwrap().lsps1.unwrap();
        assert_eq!(
            (
                l.min_channel_sat,
                l.max_channel_sat,
                l.max_client_balance_sat
            ),
            (50_000, 2_000_000, 1000)
        );
        assert_eq!(
            (
                l.max_channel_expiry_blocks,
                l.min_required_channel_confirmations,
                l.min_funding_confirms_within_blocks
            ),
            (4320, 1, 12)
        );
        assert_eq!(
            (l.fee_base_sat, l.fee_ppm, l.order_valid_secs),
            (0, 5000, 600)
        );
        assert_eq!(l.token.as_deref(), Some("vip"));
        for bad in [
            "min_channel_sat = 19999",
            "min_channel_sat = 200000\nmax_channel_sat = 100000",
            "max_channel_sat = 16777215\nmax_client_balance_sat = 1",
            "max_channel_expiry_blocks = 0",
            "min_funding_confirms_within_blocks = 5",
            "fee_ppm = 1000001",
            "fee_base_sat = 0\nfee_ppm = 0",
            "order_valid_secs = 59",
            "client_wait_secs = 0",
            "client_wait_secs = 601",
            "token = \"\"",
        ] {
            let file: FileConfig = toml::from_str(&format!("[lsps1]\n{bad}\n")).unwrap();
            let e = NodeConfig::resolve(flags(), file).unwrap_err();
            assert!(matches!(e, ConfigError::Lsps1(_)), "{bad}: {e}");
        }
        assert!(toml::from_str::<FileConfig>("[lsps1]\nfee = 3\n").is_err());
    }

    #[test]
    fn jamming_shares_come_from_the_jamming_table() {
        let c = NodeConfig::resolve(flags(), FileConfig::default()).unwrap();
        assert_eq!(c.jamming, JammingLimits::default());
        let file: FileConfig = toml::from_str("[jamming]\nhtlc_share_percent = 20\n").unwrap();
        let c = NodeConfig::resolve(flags(), file).unwrap();
        assert_eq!(c.jamming.htlc_share_percent, 20);
        assert_eq!(c.jamming.value_share_percent, 50);
        let zero: FileConfig = toml::from_str("[jamming]\nvalue_share_percent = 0\n").unwrap();
        let e = NodeConfig::resolve(flags(), zero).unwrap_err();
        assert!(matches!(e, ConfigError::Jamming(_)), "{e}");
        assert!(toml::from_str::<FileConfig>("[jamming]\nslots = 3\n").is_err());
    }

    #[test]
    fn manual_htlcs_are_for_regtest_only() {
        let file: FileConfig = toml::from_str("dev_manual_htlcs = true\n").unwrap();
        let c = NodeConfig::resolve(flags(), file.clone()).unwrap();
        assert!(c.dev_manual_htlcs);
        let mut f = flags();
        f.network = Some("signet".into());
        f.bitcoind_rpc = Some("http://127.0.0.1:38332".into());
        f.bitcoind_cookie = Some("c".into());
        assert!(matches!(
            NodeConfig::resolve(f, file),
            Err(ConfigError::DevManualHtlcsNeedsRegtest(Network::Signet))
        ));
    }

    #[test]
    fn the_watchtower_comes_from_the_flag_or_the_file() {
        const ID: &str = "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798";
        let c = NodeConfig::resolve(flags(), FileConfig::default()).unwrap();
        assert_eq!(c.watchtower, None);
        let file: FileConfig =
            toml::from_str(&format!("watchtower = \"{ID}@127.0.0.1:9911\"\n")).unwrap();
        let c = NodeConfig::resolve(flags(), file.clone()).unwrap();
        assert_eq!(c.watchtower.unwrap().addr, "127.0.0.1:9911");
        let mut f = flags();
        f.watchtower = Some(format!("{ID}@10.0.0.1:1"));
        let c = NodeConfig::resolve(f, file).unwrap();
        assert_eq!(c.watchtower.unwrap().addr, "10.0.0.1:1", "the flag wins");
        let mut f = flags();
        f.watchtower = Some("nobody@127.0.0.1:9911".into());
        let e = NodeConfig::resolve(f, FileConfig::default()).unwrap_err();
        assert!(matches!(e, ConfigError::Watchtower(_)), "{e}");
        assert!(toml::from_str::<FileConfig>("watch_tower = \"x\"").is_err());
    }

    #[test]
    fn announcement_keys_have_defaults_and_checks() {
        use crate::wire::NetAddress;
        let c = NodeConfig::resolve(flags(), FileConfig::default()).unwrap();
        assert!(c.announce_addrs.is_empty());
        assert_eq!((c.alias.as_str(), c.color), ("", DEFAULT_COLOR));
        let id = crate::keys::KeysManager::new(
            &crate::keys::Seed::from_bytes([1; 32]),
            Network::Regtest,
        )
        .node_id();
        assert_eq!(c.alias_for(&id), hex::encode(&id.serialize()[..10]));

        let file: FileConfig = toml::from_str(
            "announce_addr = [\"203.0.113.7:9735\", \"hub.example.org:9735\"]\n\
             alias = \"chanhub ⚡ remit\"\ncolor = \"#ff8000\"\n",
        )
        .unwrap();
        let c = NodeConfig::resolve(flags(), file.clone()).unwrap();
        assert_eq!(c.announce_addrs.len(), 2);
        assert_eq!(c.announce_addrs[1].to_string(), "hub.example.org:9735");
        assert_eq!(c.alias_for(&id), "chanhub ⚡ remit");
        assert_eq!(c.color, [0xff, 0x80, 0x00]);
        // The flags replace the file's list.
        let mut f = flags();
        f.announce_addr = vec!["[2001:db8::1]:9736".into()];
        let c = NodeConfig::resolve(f, file).unwrap();
        assert!(matches!(
            c.announce_addrs.as_slice(),
            [NetAddress::Ipv6 { port: 9736, .. }]
        ));

        for bad in [
            "announce_addr = [\"203.0.113.7\"]",
            "announce_addr = [\"hub.example.org:0\"]",
            "alias = \"this alias is longer than 32 bytes\"",
            "alias = \"éééééééééééééééé.\"",
            "color = \"3399ff\"",
            "color = \"#3399f\"",
            "color = \"#33990g\"",
        ] {
            let file: FileConfig = toml::from_str(bad).unwrap();
            let e = NodeConfig::resolve(flags(), file).unwrap_err();
            assert!(matches!(e, ConfigError::Announce(_)), "{bad}: {e}");
        }
        // 32 bytes of UTF-8 are fine (16 two-byte characters).
        let file: FileConfig = toml::from_str("alias = \"éééééééééééééééé\"").unwrap();
        assert!(NodeConfig::resolve(flags(), file).is_ok());
        assert!(toml::from_str::<FileConfig>("announce_addr = \"203.0.113.7:1\"").is_err());
    }

    #[test]
    fn unknown_keys_and_values_are_refused() {
        assert!(toml::from_str::<FileConfig>("apii = \"x\"").is_err());
        let mut f = flags();
        f.network = Some("moon".into());
        assert!(matches!(
            NodeConfig::resolve(f, FileConfig::default()),
            Err(ConfigError::Network(_))
        ));
        let mut f = flags();
        f.network = Some("bitcoin".into());
        assert!(matches!(
            NodeConfig::resolve(f, FileConfig::default()),
            Err(ConfigError::EmbeddedNeedsRegtest(Network::Bitcoin))
        ));
    }

    #[test]
    fn webhook_retries_have_defaults_and_ranges() {
        let c = NodeConfig::resolve(flags(), FileConfig::default()).unwrap();
        assert_eq!(c.webhooks.retry_base, Duration::from_millis(1000));
        assert_eq!(c.webhooks.max_attempts, 12);
        let file: FileConfig =
            toml::from_str("webhook_retry_base_ms = 50\nwebhook_max_attempts = 3\n").unwrap();
        let c = NodeConfig::resolve(flags(), file).unwrap();
        assert_eq!(c.webhooks.retry_base, Duration::from_millis(50));
        assert_eq!(c.webhooks.max_attempts, 3);
        for bad in [
            "webhook_retry_base_ms = 9",
            "webhook_retry_base_ms = 3600001",
            "webhook_max_attempts = 0",
            "webhook_max_attempts = 101",
        ] {
            let file: FileConfig = toml::from_str(bad).unwrap();
            let e = NodeConfig::resolve(flags(), file).unwrap_err();
            assert!(matches!(e, ConfigError::Webhooks(_)), "{bad}: {e}");
            assert!(
                e.to_string().contains(bad.split(' ').next().unwrap()),
                "{e}"
            );
        }
        assert!(toml::from_str::<FileConfig>("webhook_max_attempts = -1").is_err());
    }
}
