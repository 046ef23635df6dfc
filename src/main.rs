//! The `chanhub` binary: the node daemon, the embedded regtest chain and the CLI client.

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "chanhub",
    version,
    about = "A Lightning-compatible payment channel hub"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the embedded Bitcoin regtest node alone, like `bitcoind -regtest`.
    Regtest(chanhub::chain::regtest::standalone::RegtestArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Regtest(args) => chanhub::chain::regtest::standalone::main(args),
    }
}
