//! The CLI client: `chanhub [--datadir DIR | --api URL --token-file F] [--json] <command>`.
//! Talks to a running node's API and prints readable tables, or the API's JSON with `--json`.

pub mod backup;
mod channels;
mod events;
pub(crate) mod export;
mod graph;
pub mod help;
mod lsp;
mod payments;
mod render;

use std::path::PathBuf;

use serde_json::{json, Value};

use crate::api::client::{ApiClient, ClientError};
use crate::node::datadir::NodeJson;

/// Where the node's API is and how to authenticate.
#[derive(Debug, Clone, clap::Args)]
pub struct Target {
    /// Data directory of a running node (its node.json and api-token are read).
    #[arg(long)]
    pub datadir: Option<PathBuf>,
    /// API URL, e.g. http://127.0.0.1:3010 (with --token-file).
    #[arg(long)]
    pub api: Option<String>,
    /// File holding the API token.
    #[arg(long)]
    pub token_file: Option<PathBuf>,
}

/// A client command.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum ClientCommand {
    /// Node id, network, chain tip, peer address.
    #[command(after_help = "Examples:
  chanhub --datadir ~/.chanhub info
  chanhub --api http://127.0.0.1:3010 --token-file ~/.chanhub/api-token info --json")]
    Info,
    /// On-chain balance, and our balance in channels.
    #[command(after_help = "Examples:
  chanhub --datadir ~/.chanhub balance
  chanhub --datadir ~/.chanhub balance --json")]
    Balance,
    /// A fresh receive address.
    #[command(after_help = "Examples:
  chanhub --datadir ~/.chanhub newaddress")]
    Newaddress,
    /// Pay AMOUNT_SAT to ADDRESS on chain.
    #[command(after_help = "Examples:
  chanhub --datadir ~/.chanhub send bcrt1q… 100000
  chanhub --datadir ~/.chanhub send bcrt1q… 100000 --feerate 5")]
    Send {
        /// The address to pay (of the node's network).
        address: String,
        /// The amount, in satoshis.
        amount_sat: u64,
        /// Fee rate in sat/vB (default: the chain's estimate, at least 1).
        #[arg(long)]
        feerate: Option<f64>,
    },
    /// On-chain wallet transactions.
    #[command(after_help = "Examples:
  chanhub --datadir ~/.chanhub transactions
  chanhub --datadir ~/.chanhub transactions --json")]
    Transactions,
    /// Connect to a Lightning peer and keep it (reconnected after drops and restarts).
    #[command(after_help = "Examples:
  chanhub --datadir ~/alice connect 02ab…@127.0.0.1:9735")]
    Connect {
        /// NODE_ID@HOST:PORT
        peer: String,
    },
    /// Connected peers.
    #[command(after_help = "Examples:
  chanhub --datadir ~/.chanhub peers")]
    Peers,
    /// Disconnect a peer and forget it.
    #[command(after_help = "Examples:
  chanhub --datadir ~/alice disconnect 02ab…")]
    Disconnect {
        /// The peer's node id (66 hex characters).
        node_id: String,
    },
    /// Ping a connected peer and wait for its pong.
    #[command(after_help = "Examples:
  chanhub --datadir ~/alice ping 02ab…
  chanhub --datadir ~/alice ping 02ab… --pong-bytes 64")]
    Ping {
        /// The peer's node id (66 hex characters).
        node_id: String,
        /// Bytes the pong should carry.
        #[arg(long, default_value_t = 0)]
        pong_bytes: u16,
    },
    /// Open a channel of CAPACITY_SAT to a peer (connecting first when HOST:PORT is given);
    /// returns once the peer signed the funding transaction.
    #[command(after_help = "Examples:
  chanhub --datadir ~/.chanhub open 02ab…@127.0.0.1:9735 500000
  chanhub --datadir ~/.chanhub open 02ab… 1000000 --push-msat 10000000
  chanhub --datadir ~/.chanhub open 02ab… 500000 --channel-type static_remotekey
  chanhub --datadir ~/.chanhub open 02ab…@203.0.113.7:9735 2000000 --announce
  chanhub --datadir ~/.chanhub open 02ab… 500000 --zero-conf   # the peer lists us in zeroconf_peers")]
    Open {
        /// NODE_ID or NODE_ID@HOST:PORT
        peer: String,
        /// The channel's size, in satoshis, funded by this node's wallet.
        capacity_sat: u64,
        /// Millisatoshis given to the peer at opening.
        #[arg(long)]
        push_msat: Option<u64>,
        /// anchors (default) or static_remotekey.
        #[arg(long)]
        channel_type: Option<String>,
        /// Announce the channel to the network (a public channel); the node needs
        /// --announce-addr.
        #[arg(long)]
        announce: bool,
        /// Zero-conf (option_zeroconf): usable before the funding confirms, which only a
        /// peer that trusts this node accepts; funded from confirmed coins only.
        #[arg(long)]
        zero_conf: bool,
    },
    /// The public network as gossip told us: its size and our own announcements, or one
    /// node or channel of it.
    #[command(after_help = "Examples:
  chanhub --datadir ~/.chanhub graph
  chanhub --datadir ~/.chanhub graph node 02ab…
  chanhub --datadir ~/.chanhub graph channel 110x1x0")]
    Graph {
        #[command(subcommand)]
        what: Option<GraphCommand>,
    },
    /// Every channel.
    #[command(after_help = "Examples:
  chanhub --datadir ~/.chanhub channels
  chanhub --datadir ~/.chanhub channels --json")]
    Channels,
    /// One channel in detail (and, once final, what each output became on chain).
    #[command(after_help = "Examples:
  chanhub --datadir ~/.chanhub channel 5a1f…")]
    Channel {
        /// The channel id (64 hex characters).
        channel_id: String,
    },
    /// Close a channel cooperatively, or with --force by broadcasting our commitment.
    #[command(after_help = "Examples:
  chanhub --datadir ~/.chanhub close 5a1f…
  chanhub --datadir ~/.chanhub close --force 5a1f…")]
    Close {
        /// The channel id (64 hex characters).
        channel_id: String,
        /// Broadcast our latest commitment now instead of negotiating with the peer; our
        /// funds come back after the channel's delay.
        #[arg(long)]
        force: bool,
    },
    /// Create an invoice; prints its BOLT 11 string and payment hash.
    #[command(after_help = "Examples:
  chanhub --datadir ~/bob invoice --amount-msat 50000 \"coffee\"
  chanhub --datadir ~/bob invoice \"tip jar\"  # the payer chooses the amount
  chanhub --datadir ~/bob invoice --amount-msat 2500000 --expiry-secs 600 \"order 1042\"
  chanhub --datadir ~/bob invoice --amount-msat 10000 --description-hash \
    3a5f0b5e4c6b1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e
  chanhub --datadir ~/bob invoice --amount-msat 50000 --hash \
    66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925 \"escrow 7\"  # hold: you keep the preimage")]
    Invoice {
        /// What the payment is for (at most 639 bytes); or give --description-hash.
        #[arg(required_unless_present = "description_hash")]
        description: Option<String>,
        /// SHA256 (hex) of a description the payer gets elsewhere, instead of the text
        /// (LNURL-pay, Lightning Addresses).
        #[arg(long, conflicts_with = "description")]
        description_hash: Option<String>,
        /// Amount to ask for; without it the payer chooses.
        #[arg(long)]
        amount_msat: Option<u64>,
        /// Seconds the invoice stays payable (default 3600).
        #[arg(long)]
        expiry_secs: Option<u64>,
        /// A hold invoice for this payment hash (hex), whose preimage you keep: a payment is
        /// held (status held) until `settleinvoice PREIMAGE` or `cancelinvoice HASH`, and
        /// failed back by itself 15 blocks before its HTLCs expire.
        #[arg(long, value_name = "HASH")]
        hash: Option<String>,
    },
    /// Settle a held hold invoice with its preimage (the payment hash is its SHA256); prints
    /// the paid invoice.
    #[command(after_help = "Examples:
  chanhub --datadir ~/bob settleinvoice \
    0000000000000000000000000000000000000000000000000000000000000000")]
    Settleinvoice {
        /// The preimage (64 hex characters).
        preimage: String,
    },
    /// Cancel an open or held invoice: a held payment is failed back to the payer.
    #[command(after_help = "Examples:
  chanhub --datadir ~/bob cancelinvoice \
    66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925")]
    Cancelinvoice {
        /// The invoice's payment hash (64 hex characters).
        hash: String,
    },
    /// Invoices issued by this node, newest first.
    #[command(after_help = "Examples:
  chanhub --datadir ~/bob invoices
  chanhub --datadir ~/bob invoices --json
  chanhub --datadir ~/bob invoices --limit 20")]
    Invoices {
        /// Show only the newest N (1 to 10000; default: the node's, 1000).
        #[arg(long, value_name = "N")]
        limit: Option<u64>,
    },
    /// Pay a BOLT 11 invoice, or a node id (keysend), over routes found in the network graph;
    /// retries on other routes and splits a large payment into parts. Waits for the outcome
    /// unless --no-wait, and exits non-zero when the payment failed.
    #[command(after_help = "Examples:
  chanhub --datadir ~/alice pay lnbcrt500n1pjq8mhspp5…
  chanhub --datadir ~/alice pay lnbcrt1pjq8mhspp5… --amount-msat 21000  # an invoice without an amount
  chanhub --datadir ~/alice pay lnbcrt500n1pjq8mhspp5… --no-wait --timeout-secs 120
  chanhub --datadir ~/alice pay lnbcrt500n1pjq8mhspp5… --max-fee-msat 1000 --max-total-cltv-expiry-delta 288
  chanhub --datadir ~/alice pay --node-id 02ab…ef --amount-msat 5000000  # keysend")]
    Pay {
        /// The BOLT 11 invoice (lnbc…, lntb…, lnbcrt…); or give --node-id.
        #[arg(required_unless_present = "node_id", conflicts_with = "node_id")]
        bolt11: Option<String>,
        /// Pay this node id directly (keysend: the payee must accept it); needs --amount-msat.
        #[arg(long, value_name = "NODE_ID", requires = "amount_msat")]
        node_id: Option<String>,
        /// Amount to pay: required for an invoice without one, and for --node-id.
        #[arg(long)]
        amount_msat: Option<u64>,
        /// Return once the payment is on its way (status pending).
        #[arg(long)]
        no_wait: bool,
        /// The most to pay in routing fees, all parts together (default: 1 % of the amount
        /// plus 50,000 msat).
        #[arg(long, value_name = "MSAT")]
        max_fee_msat: Option<u64>,
        /// The most blocks the payment may stay locked (default 1008).
        #[arg(long, value_name = "BLOCKS")]
        max_total_cltv_expiry_delta: Option<u32>,
        /// Stop trying new routes after this many seconds (default 60).
        #[arg(long, value_name = "SECS")]
        timeout_secs: Option<u32>,
    },
    /// One payment of this node, with each attempt it made (route, fee, failure).
    #[command(after_help = "Examples:
  chanhub --datadir ~/alice payment 5f2c…9a
  chanhub --datadir ~/alice payment 5f2c…9a --json")]
    Payment {
        /// The payment hash (64 hex characters).
        payment_hash: String,
    },
    /// Payments made by this node, newest first.
    #[command(after_help = "Examples:
  chanhub --datadir ~/alice payments
  chanhub --datadir ~/alice payments --json
  chanhub --datadir ~/alice payments --limit 10")]
    Payments {
        /// Show only the newest N (1 to 10000; default: the node's, 1000).
        #[arg(long, value_name = "N")]
        limit: Option<u64>,
    },
    /// HTLCs this node forwarded, newest first, and the fees earned by all of them.
    #[command(after_help = "Examples:
  chanhub --datadir ~/hub forwards
  chanhub --datadir ~/hub forwards --limit 50")]
    Forwards {
        /// Show only the newest N (1 to 10000; default: the node's, 1000); the fees earned
        /// still count every forward.
        #[arg(long, value_name = "N")]
        limit: Option<u64>,
    },
    /// The LSP services this node sells to wallets (LSPS2 JIT channels, LSPS1 orders).
    #[command(
        subcommand,
        after_help = "Examples:
  chanhub --datadir ~/hub lsp jit
  chanhub --datadir ~/hub lsp jit --limit 20 --json
  chanhub --datadir ~/hub lsp orders"
    )]
    Lsp(LspCommand),
    /// Show the forwarding fee policy, or set it (values not given stay as they are).
    #[command(after_help = "Examples:
  chanhub --datadir ~/hub policy
  chanhub --datadir ~/hub policy --base-msat 1000 --ppm 100 --cltv-delta 80
  chanhub --datadir ~/hub policy --ppm 250")]
    Policy {
        /// Fixed fee per forwarded payment, in millisatoshis.
        #[arg(long)]
        base_msat: Option<u32>,
        /// Proportional fee, in millionths of the forwarded amount.
        #[arg(long)]
        ppm: Option<u32>,
        /// Blocks kept between the incoming and the outgoing HTLC's expiry (34 to 2016).
        #[arg(long)]
        cltv_delta: Option<u16>,
    },
    /// Save a consistent snapshot of the running node's database to FILE (written to a
    /// temporary file, synced, then renamed; mode 0600). Back up after every channel open.
    #[command(after_help = "Examples:
  chanhub --datadir ~/hub backup ~/backups/hub.sqlite
  chanhub --api http://127.0.0.1:3010 --token-file ~/hub/api-token backup hub.sqlite
  chanhub --datadir ~/hub --json backup /mnt/safe/hub-2026-11-25.sqlite")]
    Backup {
        /// Where to write the snapshot.
        file: PathBuf,
    },
    /// Offline: install a backup as the database of a stopped node. Refused unless FILE is a
    /// chanhub database of the node whose seed is in DIR. Every channel still open in it is
    /// marked restored: its commitment (maybe revoked) is never broadcast, the peer is asked
    /// to close, and our balance is claimed from the peer's commitment.
    #[command(after_help = "Examples:
  chanhub restore --datadir ~/hub ~/backups/hub.sqlite
  chanhub --json restore --datadir ~/hub ~/backups/hub.sqlite")]
    Restore {
        /// The stopped node's data directory (with its seed).
        #[arg(long)]
        datadir: Option<PathBuf>,
        /// The backup to install.
        file: PathBuf,
    },
    /// Add or remove a webhook: the node POSTs events to a URL of yours, signed.
    #[command(
        subcommand,
        after_help = "Examples:
  chanhub --datadir ~/shop webhook add https://shop.example/hooks/chanhub --events invoice_paid
  chanhub --datadir ~/shop webhook remove 3"
    )]
    Webhook(WebhookCommand),
    /// Webhooks and their delivery counts (pending, delivered, failed).
    #[command(after_help = "Examples:\n  chanhub webhooks\n  chanhub webhooks --json")]
    Webhooks,
    /// Print events as JSON lines as they happen (payments, forwards, channel states), until
    /// interrupted; reconnects and resumes by itself when the node restarts.
    #[command(
        after_help = "Examples:\n  chanhub events\n  chanhub events --after 42\n  chanhub events --types invoice_paid,payment_failed"
    )]
    Events {
        /// Replay the logged events after this id first.
        #[arg(long)]
        after: Option<u64>,
        /// Only these types, comma separated (default: every type).
        #[arg(long)]
        types: Option<String>,
    },
    /// Stream the accounting export of KIND (payments, invoices, forwards, onchain or
    /// events) to standard output (redirect it: `> file.csv`): rows with a time in [--from,
    /// --to), oldest first, amounts in msat and sat, times in UTC (columns:
    /// channel-spec/export.md).
    #[command(after_help = "Examples:
  chanhub --datadir ~/shop export payments
  chanhub --datadir ~/hub export forwards --from 2026-12-01T00:00:00Z --to 2027-01-01T00:00:00Z
  chanhub --datadir ~/hub export events --from 2026-12-01 --format json
  chanhub --datadir ~/hub export onchain --to 1796083200")]
    Export {
        /// payments, invoices, forwards, onchain or events.
        kind: String,
        /// Start, inclusive: UTC as 2026-12-01T00:00:00Z, 2026-12-01 or Unix seconds
        /// (default: the beginning).
        #[arg(long)]
        from: Option<String>,
        /// End, exclusive, as --from (default: now and on).
        #[arg(long)]
        to: Option<String>,
        /// csv (default: a header line, then one record per row) or json (JSON Lines).
        #[arg(long, value_parser = ["csv", "json"])]
        format: Option<String>,
    },
    /// The regtest chain: info, mine.
    #[command(
        subcommand,
        after_help = "Examples:
  chanhub --datadir ~/.chanhub chain info
  chanhub --datadir ~/.chanhub chain mine 101"
    )]
    Chain(ChainCommand),
    /// Regtest drills.
    #[command(
        subcommand,
        after_help = "Examples:
  chanhub --datadir ~/bob dev cheat --channel 5a1f…"
    )]
    Dev(DevCommand),
}

/// `chanhub lsp …`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum LspCommand {
    /// JIT channels sold over LSPS2, newest first: scid, client, payment, fee, state.
    #[command(after_help = "Examples:
  chanhub --datadir ~/hub lsp jit
  chanhub --datadir ~/hub lsp jit --limit 20
  chanhub --datadir ~/hub --json lsp jit")]
    Jit {
        /// Show only the newest N (1 to 10000; default: the node's, 1000).
        #[arg(long, value_name = "N")]
        limit: Option<u64>,
    },
    /// Channels bought over LSPS1, newest first: order, client, size, fee, states.
    #[command(after_help = "Examples:
  chanhub --datadir ~/hub lsp orders
  chanhub --datadir ~/hub lsp orders --limit 20
  chanhub --datadir ~/hub --json lsp orders")]
    Orders {
        /// Show only the newest N (1 to 10000; default: the node's, 1000).
        #[arg(long, value_name = "N")]
        limit: Option<u64>,
    },
}

/// `chanhub graph …`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum GraphCommand {
    /// One node of the graph: alias, colour, addresses, features, channels.
    #[command(after_help = "Examples:
  chanhub --datadir ~/.chanhub graph node 02ab…")]
    Node {
        /// The node id (66 hex characters).
        node_id: String,
    },
    /// One channel of the graph: its ends, capacity and both directions' policies.
    #[command(after_help = "Examples:
  chanhub --datadir ~/.chanhub graph channel 110x1x0
  chanhub --datadir ~/.chanhub graph channel 120946279120896")]
    Channel {
        /// The short channel id: a u64, or BLOCKxTXxOUT.
        scid: String,
    },
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum WebhookCommand {
    /// Register URL for events (all types unless --events); prints the signing secret, shown
    /// only this once.
    #[command(
        after_help = "Examples:\n  chanhub webhook add https://shop.example/hooks/chanhub\n  chanhub webhook add https://shop.example/hooks/chanhub --events invoice_paid,payment_failed"
    )]
    Add {
        /// Where to POST the events: an absolute http:// or https:// URL.
        url: String,
        /// Event types to deliver, comma separated: invoice_paid, payment_succeeded,
        /// payment_failed, htlc_forwarded, channel_state_changed, channel_resolved,
        /// channel_funding_double_spent, invoice_held, invoice_cancelled, jit_channel_opened,
        /// lsp_order_paid.
        #[arg(long, value_delimiter = ',')]
        events: Vec<String>,
    },
    /// Remove a webhook; its pending deliveries are dropped.
    #[command(after_help = "Examples:\n  chanhub webhook remove 3")]
    Remove {
        /// The webhook's id, as `chanhub webhooks` lists it.
        id: u64,
    },
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum DevCommand {
    /// Broadcast this node's previous, revoked commitment of a channel (regtest only): the
    /// peer's penalty transaction must take everything.
    #[command(after_help = "Examples:
  chanhub --datadir ~/bob dev cheat --channel 5a1f…
  chanhub --datadir ~/bob dev cheat --channel 5a1f… --htlc-timeouts")]
    Cheat {
        /// The channel id (64 hex characters).
        #[arg(long)]
        channel: String,
        /// The second step: broadcast the revoked commitment's HTLC-timeout transactions
        /// (once the HTLCs have expired) instead of the commitment.
        #[arg(long)]
        htlc_timeouts: bool,
    },
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum ChainCommand {
    /// Chain tip, mempool size, RPC address.
    #[command(after_help = "Examples:
  chanhub --datadir ~/.chanhub chain info")]
    Info,
    /// Mine N blocks (to a wallet address unless --address).
    #[command(after_help = "Examples:
  chanhub --datadir ~/.chanhub chain mine 101  # coinbase outputs mature after 100 blocks
  chanhub --datadir ~/.chanhub chain mine 6 --address bcrt1q…")]
    Mine {
        /// How many blocks (1 to 1000).
        blocks: u32,
        /// Where the coinbase goes (default: a fresh address of the node's wallet).
        #[arg(long)]
        address: Option<String>,
    },
}

fn read_token(path: &std::path::Path) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map(|t| t.trim().to_string())
        .map_err(|e| format!("cannot read the API token {}: {e}", path.display()))
}

impl Target {
    fn client(&self) -> Result<ApiClient, String> {
        match (&self.api, &self.datadir) {
            (Some(api), _) => {
                let file = match (&self.token_file, &self.datadir) {
                    (Some(f), _) => f.clone(),
                    (None, Some(d)) => d.join(crate::api::auth::TOKEN_FILE),
                    (None, None) => return Err("--api needs --token-file".into()),
                };
                Ok(ApiClient::new(api, &read_token(&file)?))
            }
            (None, Some(dir)) => {
                let node = NodeJson::read(dir).map_err(|e| {
                    format!(
                        "no running node in {} (cannot read node.json: {e})",
                        dir.display()
                    )
                })?;
                let file = self.token_file.clone().unwrap_or(node.api_token_file);
                Ok(ApiClient::new(
                    &node.api_addr.to_string(),
                    &read_token(&file)?,
                ))
            }
            (None, None) => {
                Err("say which node: --datadir DIR, or --api URL --token-file FILE".into())
            }
        }
    }
}

/// Runs one command; returns the text to print, or the error message.
/// What a command printed, and whether it reports a failure the shell should see (a payment
/// that was tried and failed is printed like any payment, and still exits non-zero).
#[derive(Debug)]
pub struct Output {
    pub text: String,
    pub failed: bool,
}

pub async fn run(
    target: &Target,
    command: ClientCommand,
    json_out: bool,
) -> Result<Output, String> {
    let is_pay = matches!(command, ClientCommand::Pay { .. });
    if let ClientCommand::Restore { datadir, file } = &command {
        let dir = datadir
            .clone()
            .or_else(|| target.datadir.clone())
            .ok_or("restore needs --datadir DIR")?;
        let file = file.clone();
        let value = tokio::task::spawn_blocking(move || backup::restore(&dir, &file))
            .await
            .map_err(|e| e.to_string())??;
        return Ok(finish(value, backup::render_restore, json_out, false));
    }
    let client = target.client()?;
    let err = |e: ClientError| e.to_string();
    let (value, text): (Value, fn(&Value) -> String) = match command {
        ClientCommand::Info => (client.get("/v1/info").await.map_err(err)?, render::info),
        ClientCommand::Balance => (
            client.get("/v1/balance").await.map_err(err)?,
            render::balance,
        ),
        ClientCommand::Newaddress => (
            client
                .post("/v1/onchain/address", json!({}))
                .await
                .map_err(err)?,
            render::address,
        ),
        ClientCommand::Send {
            address,
            amount_sat,
            feerate,
        } => {
            let mut body = json!({ "address": address, "amount_sat": amount_sat });
            if let Some(f) = feerate {
                body["feerate_sat_per_vb"] = json!(f);
            }
            (
                client.post("/v1/onchain/send", body).await.map_err(err)?,
                render::txid,
            )
        }
        ClientCommand::Transactions => (
            client.get("/v1/onchain/transactions").await.map_err(err)?,
            render::transactions,
        ),
        ClientCommand::Connect { peer } => {
            let (node_id, addr) = peer
                .split_once('@')
                .ok_or_else(|| format!("{peer:?}: expected NODE_ID@HOST:PORT"))?;
            let body = json!({ "node_id": node_id, "addr": addr });
            (
                client.post("/v1/peers", body).await.map_err(err)?,
                render::peer_connected,
            )
        }
        ClientCommand::Peers => (client.get("/v1/peers").await.map_err(err)?, render::peers),
        ClientCommand::Disconnect { node_id } => (
            client
                .delete(&format!("/v1/peers/{node_id}"))
                .await
                .map_err(err)?,
            render::disconnected,
        ),
        ClientCommand::Ping {
            node_id,
            pong_bytes,
        } => (
            client
                .post(
                    &format!("/v1/peers/{node_id}/ping"),
                    json!({ "num_pong_bytes": pong_bytes }),
                )
                .await
                .map_err(err)?,
            render::pong,
        ),
        ClientCommand::Open {
            peer,
            capacity_sat,
            push_msat,
            channel_type,
            announce,
            zero_conf,
        } => {
            let mut body = json!({ "capacity_sat": capacity_sat });
            if zero_conf {
                body["zero_conf"] = json!(true);
            }
            match peer.split_once('@') {
                Some((id, addr)) => {
                    body["node_id"] = json!(id);
                    body["addr"] = json!(addr);
                }
                None => body["node_id"] = json!(peer),
            }
            if let Some(p) = push_msat {
                body["push_msat"] = json!(p);
            }
            if let Some(t) = channel_type {
                body["channel_type"] = json!(t);
            }
            if announce {
                body["announce"] = json!(true);
            }
            (
                client.post("/v1/channels", body).await.map_err(err)?,
                channels::opened,
            )
        }
        ClientCommand::Channels => (
            client.get("/v1/channels").await.map_err(err)?,
            channels::list,
        ),
        ClientCommand::Graph { what } => match what {
            None => (client.get("/v1/graph").await.map_err(err)?, graph::summary),
            Some(GraphCommand::Node { node_id }) => (
                client
                    .get(&format!("/v1/graph/nodes/{node_id}"))
                    .await
                    .map_err(err)?,
                graph::node,
            ),
            Some(GraphCommand::Channel { scid }) => (
                client
                    .get(&format!("/v1/graph/channels/{scid}"))
                    .await
                    .map_err(err)?,
                graph::channel,
            ),
        },
        ClientCommand::Channel { channel_id } => (
            client
                .get(&format!("/v1/channels/{channel_id}"))
                .await
                .map_err(err)?,
            channels::detail,
        ),
        ClientCommand::Close { channel_id, force } => (
            client
                .post(
                    &format!("/v1/channels/{channel_id}/close"),
                    json!({ "force": force }),
                )
                .await
                .map_err(err)?,
            channels::closing,
        ),
        ClientCommand::Invoice {
            description,
            description_hash,
            amount_msat,
            expiry_secs,
            hash,
        } => {
            let mut body = match description_hash {
                Some(h) => json!({ "description_hash": h }),
                None => json!({ "description": description.unwrap_or_default() }),
            };
            if let Some(h) = hash {
                body["payment_hash"] = json!(h);
            }
            if let Some(a) = amount_msat {
                body["amount_msat"] = json!(a);
            }
            if let Some(e) = expiry_secs {
                body["expiry_secs"] = json!(e);
            }
            (
                client.post("/v1/invoices", body).await.map_err(err)?,
                payments::invoice_created,
            )
        }
        ClientCommand::Settleinvoice { preimage } => {
            let hash = payments::hash_of_preimage(&preimage)?;
            (
                client
                    .post(
                        &format!("/v1/invoices/{hash}/settle"),
                        json!({ "preimage": preimage.trim() }),
                    )
                    .await
                    .map_err(err)?,
                payments::invoice,
            )
        }
        ClientCommand::Cancelinvoice { hash } => (
            client
                .delete(&format!("/v1/invoices/{}", hash.trim()))
                .await
                .map_err(err)?,
            payments::invoice,
        ),
        ClientCommand::Invoices { limit } => (
            client
                .get(&list_path("/v1/invoices", limit))
                .await
                .map_err(err)?,
            payments::invoices,
        ),
        ClientCommand::Pay {
            bolt11,
            node_id,
            amount_msat,
            no_wait,
            max_fee_msat,
            max_total_cltv_expiry_delta,
            timeout_secs,
        } => {
            let mut body = json!({ "wait": !no_wait });
            if let Some(b) = bolt11 {
                body["bolt11"] = json!(b);
            }
            if let Some(n) = node_id {
                body["node_id"] = json!(n);
            }
            if let Some(t) = timeout_secs {
                body["timeout_secs"] = json!(t);
            }
            if let Some(a) = amount_msat {
                body["amount_msat"] = json!(a);
            }
            if let Some(f) = max_fee_msat {
                body["max_fee_msat"] = json!(f);
            }
            if let Some(d) = max_total_cltv_expiry_delta {
                body["max_total_cltv_expiry_delta"] = json!(d);
            }
            (
                client.post("/v1/payments", body).await.map_err(err)?,
                payments::payment,
            )
        }
        ClientCommand::Payment { payment_hash } => (
            client
                .get(&format!("/v1/payments/{}", payment_hash.trim()))
                .await
                .map_err(err)?,
            payments::payment,
        ),
        ClientCommand::Payments { limit } => (
            client
                .get(&list_path("/v1/payments", limit))
                .await
                .map_err(err)?,
            payments::payments,
        ),
        ClientCommand::Forwards { limit } => (
            client
                .get(&list_path("/v1/forwards", limit))
                .await
                .map_err(err)?,
            payments::forwards,
        ),
        ClientCommand::Lsp(LspCommand::Jit { limit }) => (
            client
                .get(&list_path("/v1/lsp/jit", limit))
                .await
                .map_err(err)?,
            lsp::jit,
        ),
        ClientCommand::Lsp(LspCommand::Orders { limit }) => (
            client
                .get(&list_path("/v1/lsp/orders", limit))
                .await
                .map_err(err)?,
            lsp::orders,
        ),
        ClientCommand::Policy {
            base_msat,
            ppm,
            cltv_delta,
        } => {
            let current = client.get("/v1/policy").await.map_err(err)?;
            let value = if base_msat.is_none() && ppm.is_none() && cltv_delta.is_none() {
                current
            } else {
                let body = payments::policy_update(&current, base_msat, ppm, cltv_delta);
                client.put("/v1/policy", body).await.map_err(err)?
            };
            (value, payments::policy)
        }
        ClientCommand::Webhook(WebhookCommand::Add { url, events }) => (
            client
                .post("/v1/webhooks", json!({ "url": url, "events": events }))
                .await
                .map_err(err)?,
            events::webhook_added,
        ),
        ClientCommand::Webhook(WebhookCommand::Remove { id }) => (
            client
                .delete(&format!("/v1/webhooks/{id}"))
                .await
                .map_err(err)?,
            events::webhook_removed,
        ),
        ClientCommand::Webhooks => (
            client.get("/v1/webhooks").await.map_err(err)?,
            events::webhooks,
        ),
        ClientCommand::Events { after, types } => {
            // Streams until interrupted; returns only on an error.
            events::follow(&client, after, types).await?;
            return Ok(Output {
                text: String::new(),
                failed: false,
            });
        }
        ClientCommand::Dev(DevCommand::Cheat {
            channel,
            htlc_timeouts,
        }) => (
            client
                .post(
                    &format!("/v1/dev/channels/{channel}/cheat"),
                    json!({ "htlc_timeouts": htlc_timeouts }),
                )
                .await
                .map_err(err)?,
            render::cheated,
        ),
        ClientCommand::Backup { file } => {
            (backup::backup(&client, &file).await?, backup::render_backup)
        }
        ClientCommand::Export {
            kind,
            from,
            to,
            format,
        } => {
            let path = export::path(&kind, from.as_deref(), to.as_deref(), format.as_deref());
            // Written to standard output as it arrives: nothing more to print.
            export::run(&client, &path, &mut std::io::stdout()).await?;
            return Ok(Output {
                text: String::new(),
                failed: false,
            });
        }
        // Handled before a client is made: it runs offline.
        ClientCommand::Restore { .. } => return Err("restore runs without a node".into()),
        ClientCommand::Chain(ChainCommand::Info) => (
            client.get("/v1/chain/info").await.map_err(err)?,
            render::chain_info,
        ),
        ClientCommand::Chain(ChainCommand::Mine { blocks, address }) => {
            let mut body = json!({ "blocks": blocks });
            if let Some(a) = address {
                body["address"] = json!(a);
            }
            (
                client.post("/v1/chain/mine", body).await.map_err(err)?,
                render::mined,
            )
        }
    };
    let failed = is_pay && value["status"] == "failed";
    Ok(finish(value, text, json_out, failed))
}

/// A list route, with `?limit=` only when asked: without it the node's default applies.
fn list_path(route: &str, limit: Option<u64>) -> String {
    match limit {
        Some(n) => format!("{route}?limit={n}"),
        None => route.to_string(),
    }
}

fn finish(value: Value, text: fn(&Value) -> String, json_out: bool, failed: bool) -> Output {
    let text = if json_out {
        serde_json::to_string_pretty(&value).expect("serialisable")
    } else {
        text(&value)
    };
    Output { text, failed }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(subcommand)]
        command: ClientCommand,
    }

    fn parse(args: &[&str]) -> Result<ClientCommand, clap::Error> {
        Cli::try_parse_from(std::iter::once("chanhub").chain(args.iter().copied()))
            .map(|c| c.command)
    }

    #[test]
    fn payment_commands_parse() {
        assert!(matches!(
            parse(&["invoice", "--amount-msat", "50000", "coffee"]).unwrap(),
            ClientCommand::Invoice { description: Some(d), description_hash: None,
                amount_msat: Some(50_000), expiry_secs: None, hash: None } if d == "coffee"
        ));
        let hash = "66".repeat(32);
        assert!(matches!(
            parse(&["invoice", "--hash", &hash, "--amount-msat", "5000", "escrow"]).unwrap(),
            ClientCommand::Invoice { hash: Some(x), amount_msat: Some(5_000), .. } if x == hash
        ));
        assert!(matches!(
            parse(&["settleinvoice", &"00".repeat(32)]).unwrap(),
            ClientCommand::Settleinvoice { preimage } if preimage == "00".repeat(32)
        ));
        assert!(matches!(
            parse(&["cancelinvoice", &hash]).unwrap(),
            ClientCommand::Cancelinvoice { hash: x } if x == hash
        ));
        let h = "3a".repeat(32);
        assert!(matches!(
            parse(&["invoice", "--description-hash", &h]).unwrap(),
            ClientCommand::Invoice { description: None, description_hash: Some(x), .. } if x == h
        ));
        assert!(
            parse(&["invoice", "--description-hash", &h, "coffee"]).is_err(),
            "a text and a hash: one or the other"
        );
        assert!(parse(&["invoice"]).is_err(), "a description is required");
        assert!(matches!(
            parse(&["pay", "lnbcrt1x", "--no-wait"]).unwrap(),
            ClientCommand::Pay {
                no_wait: true,
                amount_msat: None,
                ..
            }
        ));
        assert!(matches!(
            parse(&[
                "pay",
                "lnbcrt1x",
                "--max-fee-msat",
                "900",
                "--max-total-cltv-expiry-delta",
                "288"
            ])
            .unwrap(),
            ClientCommand::Pay {
                max_fee_msat: Some(900),
                max_total_cltv_expiry_delta: Some(288),
                ..
            }
        ));
        assert!(matches!(
            parse(&["policy", "--ppm", "250"]).unwrap(),
            ClientCommand::Policy {
                base_msat: None,
                ppm: Some(250),
                cltv_delta: None
            }
        ));
        assert!(parse(&["policy", "--cltv-delta", "70000"]).is_err());
        for c in ["invoices", "payments", "forwards", "policy"] {
            assert!(parse(&[c]).is_ok(), "{c}");
        }
        assert!(matches!(
            parse(&["payments", "--limit", "10"]).unwrap(),
            ClientCommand::Payments { limit: Some(10) }
        ));
        assert!(matches!(
            parse(&["invoices"]).unwrap(),
            ClientCommand::Invoices { limit: None }
        ));
        assert!(matches!(
            parse(&["forwards", "--limit", "50"]).unwrap(),
            ClientCommand::Forwards { limit: Some(50) }
        ));
        assert!(parse(&["forwards", "--limit", "x"]).is_err());
        assert!(matches!(
            parse(&["lsp", "jit", "--limit", "20"]).unwrap(),
            ClientCommand::Lsp(LspCommand::Jit { limit: Some(20) })
        ));
        assert!(matches!(
            parse(&["lsp", "orders"]).unwrap(),
            ClientCommand::Lsp(LspCommand::Orders { limit: None })
        ));
        assert_eq!(list_path("/v1/payments", None), "/v1/payments");
        assert_eq!(list_path("/v1/forwards", Some(25)), "/v1/forwards?limit=25");
        let help = parse(&["invoice", "--help"]).unwrap_err().to_string();
        assert!(help.contains("Examples:\n  chanhub --datadir"), "{help}");
    }

    #[test]
    fn event_and_webhook_commands_parse_with_examples() {
        assert!(matches!(
            parse(&["webhook", "add", "https://a.example/h", "--events", "invoice_paid,htlc_forwarded"]).unwrap(),
            ClientCommand::Webhook(WebhookCommand::Add { url, events })
                if url == "https://a.example/h" && events == ["invoice_paid", "htlc_forwarded"]
        ));
        assert!(matches!(
            parse(&["webhook", "add", "https://a.example/h"]).unwrap(),
            ClientCommand::Webhook(WebhookCommand::Add { events, .. }) if events.is_empty()
        ));
        assert!(matches!(
            parse(&["webhook", "remove", "3"]).unwrap(),
            ClientCommand::Webhook(WebhookCommand::Remove { id: 3 })
        ));
        assert!(parse(&["webhook", "remove", "x"]).is_err());
        assert!(matches!(
            parse(&["webhooks"]).unwrap(),
            ClientCommand::Webhooks
        ));
        assert!(matches!(
            parse(&["events", "--after", "42"]).unwrap(),
            ClientCommand::Events {
                after: Some(42),
                types: None
            }
        ));
        for args in [
            &["webhook", "add", "--help"][..],
            &["webhook", "remove", "--help"],
            &["webhooks", "--help"],
            &["events", "--help"],
        ] {
            let help = parse(args).unwrap_err().to_string();
            assert!(help.contains("Examples:\n  chanhub "), "{args:?}: {help}");
        }
    }

    #[test]
    fn open_takes_announce() {
        assert!(matches!(
            parse(&["open", "02ab@127.0.0.1:9735", "500000", "--announce"]).unwrap(),
            ClientCommand::Open {
                announce: true,
                capacity_sat: 500_000,
                ..
            }
        ));
        assert!(matches!(
            parse(&["open", "02ab", "500000"]).unwrap(),
            ClientCommand::Open {
                announce: false,
                ..
            }
        ));
        assert!(parse(&["open", "02ab", "500000", "--announce", "yes"]).is_err());
        assert!(matches!(
            parse(&["open", "02ab", "500000", "--zero-conf"]).unwrap(),
            ClientCommand::Open {
                zero_conf: true,
                announce: false,
                ..
            }
        ));
    }

    #[test]
    fn backup_commands_parse() {
        assert!(matches!(
            parse(&["backup", "hub.sqlite"]).unwrap(),
            ClientCommand::Backup { file } if file == std::path::Path::new("hub.sqlite")
        ));
        assert!(parse(&["backup"]).is_err(), "a file is required");
        assert!(matches!(
            parse(&["restore", "--datadir", "/srv/hub", "hub.sqlite"]).unwrap(),
            ClientCommand::Restore { datadir: Some(d), file }
                if d == std::path::Path::new("/srv/hub") && file == std::path::Path::new("hub.sqlite")
        ));
        for c in ["backup", "restore"] {
            let help = parse(&[c, "--help"]).unwrap_err().to_string();
            assert!(help.contains("Examples:\n  chanhub "), "{help}");
        }
    }

    #[test]
    fn export_takes_a_kind_a_range_and_a_format() {
        assert!(matches!(
            parse(&["export", "forwards", "--from", "2026-12-01", "--to", "1796169600",
                "--format", "json"]).unwrap(),
            ClientCommand::Export { kind, from: Some(f), to: Some(t), format: Some(j) }
                if kind == "forwards" && f == "2026-12-01" && t == "1796169600" && j == "json"
        ));
        assert!(matches!(
            parse(&["export", "payments"]).unwrap(),
            ClientCommand::Export {
                from: None,
                to: None,
                format: None,
                ..
            }
        ));
        assert!(parse(&["export"]).is_err(), "a kind is required");
        assert!(parse(&["export", "payments", "--format", "xml"]).is_err());
    }
}
