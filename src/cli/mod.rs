//! The CLI client: `chanhub [--datadir DIR | --api URL --token-file F] [--json] <command>`.
//! Talks to a running node's API and prints readable tables, or the API's JSON with `--json`.

pub mod backup;
mod channels;
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
    Info,
    /// On-chain balance.
    Balance,
    /// A fresh receive address.
    Newaddress,
    /// Pay AMOUNT_SAT to ADDRESS on chain.
    Send {
        address: String,
        amount_sat: u64,
        /// Fee rate in sat/vB (default: the chain's estimate, at least 1).
        #[arg(long)]
        feerate: Option<f64>,
    },
    /// On-chain wallet transactions.
    Transactions,
    /// Connect to a Lightning peer and keep it (reconnected after drops and restarts).
    Connect {
        /// NODE_ID@HOST:PORT
        peer: String,
    },
    /// Connected peers.
    Peers,
    /// Disconnect a peer and forget it.
    Disconnect { node_id: String },
    /// Ping a connected peer and wait for its pong.
    Ping {
        node_id: String,
        /// Bytes the pong should carry.
        #[arg(long, default_value_t = 0)]
        pong_bytes: u16,
    },
    /// Open a channel of CAPACITY_SAT to a peer (connecting first when HOST:PORT is given);
    /// returns once the peer signed the funding transaction.
    Open {
        /// NODE_ID or NODE_ID@HOST:PORT
        peer: String,
        capacity_sat: u64,
        /// Millisatoshis given to the peer at opening.
        #[arg(long)]
        push_msat: Option<u64>,
        /// anchors (default) or static_remotekey.
        #[arg(long)]
        channel_type: Option<String>,
    },
    /// Every channel.
    Channels,
    /// One channel in detail.
    Channel { channel_id: String },
    /// Close a channel cooperatively, or with --force by broadcasting our commitment.
    #[command(after_help = "Example: chanhub close 5a1f…\n         chanhub close --force 5a1f…")]
    Close {
        channel_id: String,
        /// Broadcast our latest commitment now instead of negotiating with the peer; our
        /// funds come back after the channel's delay.
        #[arg(long)]
        force: bool,
    },
    /// Create an invoice; prints its BOLT 11 string and payment hash.
    #[command(after_help = "Example: chanhub invoice --amount-msat 50000 \"coffee\"")]
    Invoice {
        /// What the payment is for (at most 639 bytes).
        description: String,
        /// Amount to ask for; without it the payer chooses.
        #[arg(long)]
        amount_msat: Option<u64>,
        /// Seconds the invoice stays payable (default 3600).
        #[arg(long)]
        expiry_secs: Option<u64>,
    },
    /// Invoices issued by this node, newest first.
    #[command(after_help = "Example: chanhub invoices --json")]
    Invoices,
    /// Pay a BOLT 11 invoice over our channels; waits for the outcome unless --no-wait, and exits
    /// non-zero when the payment failed.
    #[command(
        after_help = "Example: chanhub pay lnbcrt500n1p… (or --amount-msat N for an open invoice)"
    )]
    Pay {
        bolt11: String,
        /// Amount to pay: required for an invoice without one.
        #[arg(long)]
        amount_msat: Option<u64>,
        /// Return once the payment is on its way (status pending).
        #[arg(long)]
        no_wait: bool,
    },
    /// Payments made by this node, newest first.
    #[command(after_help = "Example: chanhub payments")]
    Payments,
    /// HTLCs this node forwarded and the fees they earned.
    #[command(after_help = "Example: chanhub forwards")]
    Forwards,
    /// Show the forwarding fee policy, or set it (values not given stay as they are).
    #[command(
        after_help = "Examples: chanhub policy\n          chanhub policy --base-msat 1000 --ppm 100 --cltv-delta 40"
    )]
    Policy {
        /// Fixed fee per forwarded payment, in millisatoshis.
        #[arg(long)]
        base_msat: Option<u32>,
        /// Proportional fee, in millionths of the forwarded amount.
        #[arg(long)]
        ppm: Option<u32>,
        /// Blocks kept between the incoming and the outgoing HTLC's expiry.
        #[arg(long)]
        cltv_delta: Option<u16>,
    },
    /// Save a consistent snapshot of the running node's database to FILE (written to a
    /// temporary file, synced, then renamed; mode 0600). Back up after every channel open.
    #[command(after_help = "Examples:
  chanhub --datadir ~/hub backup ~/backups/hub.sqlite
  chanhub --api http://127.0.0.1:3010 --token-file ~/hub/api-token backup hub.sqlite
  chanhub --datadir ~/hub --json backup /mnt/safe/hub-$(date +%F).sqlite")]
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
    /// The regtest chain: info, mine.
    #[command(subcommand)]
    Chain(ChainCommand),
    /// Regtest drills.
    #[command(subcommand)]
    Dev(DevCommand),
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum DevCommand {
    /// Broadcast this node's previous, revoked commitment of a channel (regtest only): the
    /// peer's penalty transaction must take everything.
    #[command(after_help = "Example: chanhub dev cheat --channel 5a1f…")]
    Cheat {
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
    Info,
    /// Mine N blocks (to a wallet address unless --address).
    Mine {
        blocks: u32,
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
        } => {
            let mut body = json!({ "capacity_sat": capacity_sat });
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
            (
                client.post("/v1/channels", body).await.map_err(err)?,
                channels::opened,
            )
        }
        ClientCommand::Channels => (
            client.get("/v1/channels").await.map_err(err)?,
            channels::list,
        ),
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
            amount_msat,
            expiry_secs,
        } => {
            let mut body = json!({ "description": description });
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
        ClientCommand::Invoices => (
            client.get("/v1/invoices").await.map_err(err)?,
            payments::invoices,
        ),
        ClientCommand::Pay {
            bolt11,
            amount_msat,
            no_wait,
        } => {
            let mut body = json!({ "bolt11": bolt11, "wait": !no_wait });
            if let Some(a) = amount_msat {
                body["amount_msat"] = json!(a);
            }
            (
                client.post("/v1/payments", body).await.map_err(err)?,
                payments::payment,
            )
        }
        ClientCommand::Payments => (
            client.get("/v1/payments").await.map_err(err)?,
            payments::payments,
        ),
        ClientCommand::Forwards => (
            client.get("/v1/forwards").await.map_err(err)?,
            payments::forwards,
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
            ClientCommand::Invoice { description, amount_msat: Some(50_000), expiry_secs: None }
                if description == "coffee"
        ));
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
        let help = parse(&["invoice", "--help"]).unwrap_err().to_string();
        assert!(help.contains("Example: chanhub invoice"), "{help}");
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
}
