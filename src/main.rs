//! The `chanhub` binary: the node daemon, the embedded regtest chain and the CLI client.

use std::process::ExitCode;

use chanhub::cli::{ClientCommand, Target};
use chanhub::config::{LogFormat, NodeArgs, NodeConfig};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "chanhub",
    version,
    about = "A Lightning-compatible payment channel hub"
)]
struct Cli {
    #[command(flatten)]
    target: Target,
    /// Print the API's JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a chanhub node (the daemon).
    Node(NodeArgs),
    /// Run a watchtower: keeps clients' encrypted justice transactions and broadcasts them
    /// when a revoked commitment shows up on chain.
    Tower(chanhub::tower::TowerArgs),
    /// Run the embedded Bitcoin regtest node alone, like `bitcoind -regtest`.
    Regtest(chanhub::chain::regtest::standalone::RegtestArgs),
    #[command(flatten)]
    Client(ClientCommand),
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CHANHUB_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// What stops a started service (its `shutdown`, not yet polled).
type Stop = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// Runs a daemon (`what`: node or tower) until SIGINT or SIGTERM: logging, the runtime,
/// `start`, then its shutdown.
fn serve(
    what: &str,
    log_format: LogFormat,
    start: impl std::future::Future<Output = Result<Stop, String>>,
) -> ExitCode {
    init_logging(log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let stop = match start.await {
            Ok(stop) => stop,
            Err(e) => {
                tracing::error!(error = %e, "{what} failed to start");
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        };
        wait_for_signal().await;
        tracing::info!("shutting down");
        stop.await;
        ExitCode::SUCCESS
    })
}

fn run_node(args: NodeArgs) -> ExitCode {
    let config = match NodeConfig::load(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    serve("node", config.log_format, async move {
        let node = chanhub::node::Node::start(config)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Box::pin(node.shutdown()) as Stop)
    })
}

fn run_tower(args: chanhub::tower::TowerArgs) -> ExitCode {
    let config = match chanhub::tower::TowerConfig::resolve(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    serve("tower", config.log_format, async move {
        let tower = chanhub::tower::Tower::start(config)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Box::pin(tower.shutdown()) as Stop)
    })
}

/// Resolves on SIGINT or SIGTERM.
async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn run_client(target: Target, command: ClientCommand, json: bool) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(chanhub::cli::run(&target, command, json)) {
        Ok(out) => {
            println!("{}", out.text);
            if out.failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Node(args) => run_node(args),
        Command::Tower(args) => run_tower(args),
        Command::Regtest(args) => chanhub::chain::regtest::standalone::main(args),
        Command::Client(c) => run_client(cli.target, c, cli.json),
    }
}
