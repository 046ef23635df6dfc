//! `chanhub regtest`: the embedded node alone (being written).

/// Flags of `chanhub regtest`.
#[derive(Debug, clap::Args)]
pub struct RegtestArgs {
    /// Where the chain is kept.
    #[arg(long)]
    pub datadir: std::path::PathBuf,
}

pub fn main(_args: RegtestArgs) -> std::process::ExitCode {
    std::process::ExitCode::FAILURE
}
