//! The `chanhub` binary: the node daemon, the embedded regtest chain and the CLI client.

use std::process::ExitCode;

use chanhub::cli::{ClientCommand, Target};
use chanhub::config::{LogFormat, NodeArgs, NodeConfig};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "chanhub",
    version,
    about = "A Lightning-compatible payment channel hub",
    long_about = "A Lightning-compatible payment channel hub.\n\n\
        `chanhub node` runs the daemon; every other command is a client of a running node's \
        HTTP API, found with --datadir (its node.json and api-token) or --api and --token-file.",
    after_help = "Start here:
  chanhub node --datadir ~/.chanhub           # a node on its own regtest chain; API on 127.0.0.1:3010
  chanhub --datadir ~/.chanhub info           # in another terminal: the node's id and chain tip
  chanhub --datadir ~/.chanhub chain mine 101 # regtest coins for the wallet
  chanhub help open                           # any command's arguments and examples

Examples:
  chanhub node --datadir ~/.chanhub
  chanhub --datadir ~/.chanhub info
  chanhub --datadir ~/.chanhub open 02ab…@127.0.0.1:9735 500000
  chanhub --datadir ~/.chanhub channels --json

Docs: README.md (running a node, payments, disputes, monitoring), channel-spec/node.md (data
directory, configuration, API), and the API's description at GET /openapi.yaml on the API address."
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
    /// Run a chanhub node (the daemon) until SIGINT or SIGTERM.
    #[command(after_help = "Examples:
  chanhub node --datadir ~/.chanhub  # embedded regtest chain, API on 127.0.0.1:3010
  chanhub node --datadir ~/alice --api 127.0.0.1:3011 --listen 127.0.0.1:9736 --bitcoind-rpc http://127.0.0.1:18443 --bitcoind-cookie ~/.chanhub/chain/.cookie
  chanhub node --datadir ~/hub --watchtower 02cd…@127.0.0.1:9911
  chanhub node --datadir ~/hub --log-format json

Settings can also live in DIR/chanhub.toml (the same keys, snake_case); flags win.")]
    Node(NodeArgs),
    /// Run a watchtower: keeps clients' encrypted justice transactions and broadcasts them
    /// when a revoked commitment shows up on chain.
    #[command(after_help = "Examples:
  chanhub tower --datadir ~/tower --listen 127.0.0.1:9911 --bitcoind-rpc http://127.0.0.1:18443 --bitcoind-cookie ~/.chanhub/chain/.cookie --authorized-client 02cd…  # serves the node 02cd…
  chanhub tower --datadir ~/tower --bitcoind-rpc http://127.0.0.1:18443 --bitcoind-user u --bitcoind-password p --authorized-clients-file ~/tower/clients --max-clients 100
  chanhub tower --datadir ~/tower --bitcoind-rpc http://127.0.0.1:18443 --bitcoind-cookie ~/.chanhub/chain/.cookie --public --max-bytes-per-client 67108864 --forget-idle-clients-after 7d

Without --authorized-client, --authorized-clients-file or --public the tower serves nobody.")]
    Tower(chanhub::tower::TowerArgs),
    /// Run the embedded Bitcoin regtest node alone, like `bitcoind -regtest`.
    #[command(after_help = "Examples:
  chanhub regtest --datadir /tmp/chain
  chanhub regtest --datadir /tmp/chain --rpc-bind 127.0.0.1:18443 --rpc-user u --rpc-password p
  chanhub regtest --datadir /tmp/chain --rpc-bind 127.0.0.1:0  # the bound port is in /tmp/chain/node.json")]
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

type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;
/// A started service, run until the signal future resolves (then shut down: `Ok`) or until
/// it fails by itself (a critical task died: `Err`, after shutting down what is left).
type Stop = Box<dyn FnOnce(BoxFuture<()>) -> BoxFuture<Result<(), String>> + Send>;

/// Runs a daemon (`what`: node or tower) until SIGINT or SIGTERM: logging, the runtime,
/// `start`, then its shutdown.
fn serve(
    what: &str,
    log_format: LogFormat,
    start: impl std::future::Future<Output = Result<Stop, String>>,
) -> ExitCode {
    init_logging(log_format);
    // The channel manager's futures nest deeply (a peer message, the HTLC it releases, the
    // forward it starts, the commit that lets them out); unoptimised builds put every level's
    // frame on the stack, which outgrows the default 2 MiB.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(16 << 20)
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        // Listening starts before the daemon does: a SIGTERM that lands while it starts (its
        // node.json may already be written) still shuts it down cleanly once it is up.
        let signalled = signals();
        let stop = match start.await {
            Ok(stop) => stop,
            Err(e) => {
                tracing::error!(error = %e, "{what} failed to start");
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        };
        match stop(Box::pin(signalled)).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!(error = %e, "{what} stopped on a failure");
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        }
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
        Ok(Box::new(move |signalled: BoxFuture<()>| {
            Box::pin(async move { node.run_until(signalled).await.map_err(|e| e.to_string()) })
                as BoxFuture<_>
        }) as Stop)
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
        Ok(Box::new(move |signalled: BoxFuture<()>| {
            Box::pin(async move {
                signalled.await;
                tracing::info!("shutting down");
                tower.shutdown().await;
                Ok(())
            }) as BoxFuture<_>
        }) as Stop)
    })
}

/// Resolves on SIGINT or SIGTERM received from the moment it is called (the handlers are
/// installed at once, not when the future is first polled).
fn signals() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        async move {
            match (term, int) {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = int.recv() => {}
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
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
            // A command that streamed its output (events, export) has nothing left to print.
            if !out.text.is_empty() {
                println!("{}", out.text);
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use chanhub::cli::help;
    use clap::CommandFactory;

    #[test]
    fn the_command_tree_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_command_has_a_purpose_argument_help_and_examples() {
        let problems = help::problems(&Cli::command(), &["chanhub"]);
        assert!(problems.is_empty(), "{problems:#?}");
    }

    /// Walks the tree and hands each command's examples, split like a shell would, to `f`.
    fn for_each_example(cmd: &clap::Command, f: &mut impl FnMut(&str, Vec<String>)) {
        for e in help::examples(cmd) {
            f(&e, help::split_words(&e));
        }
        for sub in cmd.get_subcommands() {
            for_each_example(sub, f);
        }
    }

    #[test]
    fn every_example_parses() {
        let mut count = 0;
        for_each_example(&Cli::command(), &mut |line, words| {
            count += 1;
            if let Err(e) = Cli::try_parse_from(&words) {
                panic!("{line:?} does not parse: {e}");
            }
        });
        assert!(count > 40, "only {count} examples");
    }

    #[test]
    fn the_top_level_help_says_where_to_start() {
        let help = Cli::command().render_long_help().to_string();
        for want in [
            "chanhub node --datadir",
            "chanhub --datadir ~/.chanhub info",
            "GET /openapi.yaml",
            "channel-spec/node.md",
        ] {
            assert!(help.contains(want), "{want:?} missing from:\n{help}");
        }
        let open = Cli::command()
            .find_subcommand_mut("open")
            .unwrap()
            .render_long_help()
            .to_string();
        assert!(
            open.contains(
                "Examples:\n  chanhub --datadir ~/.chanhub open 02ab…@127.0.0.1:9735 500000"
            ),
            "{open}"
        );
        assert!(open.contains("<CAPACITY_SAT>"), "{open}");
    }
}
