//! `chanhub regtest`: the embedded node alone, serving its bitcoind-compatible RPC until
//! SIGINT/SIGTERM or the `stop` RPC, like `bitcoind -regtest`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use serde::Serialize;

use super::RegtestNode;
use crate::chain::rpc_server::{RpcAuthConfig, RpcServer};

/// Flags of `chanhub regtest`.
#[derive(Debug, clap::Args)]
pub struct RegtestArgs {
    /// Where the chain is kept (created if missing).
    #[arg(long)]
    pub datadir: PathBuf,
    /// Address of the JSON-RPC server; port 0 lets the OS choose.
    #[arg(long, default_value = "127.0.0.1:18443")]
    pub rpc_bind: SocketAddr,
    /// RPC user (with --rpc-password). The cookie file is always written too.
    #[arg(long, requires = "rpc_password")]
    pub rpc_user: Option<String>,
    /// RPC password (with --rpc-user).
    #[arg(long, requires = "rpc_user")]
    pub rpc_password: Option<String>,
}

/// What `DIR/node.json` says about a running `chanhub regtest`.
#[derive(Debug, Serialize)]
struct NodeFile {
    chain: &'static str,
    rpc_addr: SocketAddr,
    cookie_path: Option<PathBuf>,
    pid: u32,
}

pub fn main(args: RegtestArgs) -> ExitCode {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .try_init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Bitcoin Core's own log lines, at debug level under this module.
struct KernelLog;

impl bitcoinkernel::Log for KernelLog {
    fn log(&self, message: &str) {
        tracing::debug!(target: "chanhub::kernel", "{}", message.trim_end());
    }
}

async fn run(args: RegtestArgs) -> Result<(), String> {
    // Kept alive for the whole run; only worth its cost when someone asks for debug logs.
    let _kernel_log = tracing::enabled!(target: "chanhub::kernel", tracing::Level::DEBUG)
        .then(|| bitcoinkernel::Logger::new(KernelLog).ok())
        .flatten();
    let node = RegtestNode::open(&args.datadir)
        .map_err(|e| format!("cannot open the chain in {}: {e}", args.datadir.display()))?;
    let auth = RpcAuthConfig {
        user_password: args.rpc_user.zip(args.rpc_password),
        cookie_dir: Some(args.datadir.clone()),
    };
    let server = RpcServer::start(node.clone(), args.rpc_bind, auth)
        .await
        .map_err(|e| format!("cannot start the RPC server on {}: {e}", args.rpc_bind))?;
    let file = NodeFile {
        chain: "regtest",
        rpc_addr: server.addr(),
        cookie_path: server.cookie_path(),
        pid: std::process::id(),
    };
    let json = serde_json::to_string_pretty(&file).map_err(|e| e.to_string())?;
    let node_json = args.datadir.join("node.json");
    std::fs::write(&node_json, json)
        .map_err(|e| format!("cannot write {}: {e}", node_json.display()))?;
    let tip = node.tip();
    tracing::info!(rpc = %server.addr(), height = tip.height, "regtest chain ready");

    let stopped = server.stopped();
    tokio::select! {
        _ = shutdown_signal() => tracing::info!("signal received, shutting down"),
        _ = stopped => tracing::info!("stop requested over RPC"),
    }
    server.shutdown().await;
    let _ = std::fs::remove_file(&node_json);
    tracing::info!("chain kept in {}", args.datadir.display());
    Ok(())
}

/// SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
