//! The record of how a closed channel's funds were settled on chain: written once by the
//! owner's on-chain monitor when nothing is left to claim, kept in the channel state, shown by
//! the API.

use bitcoin::{OutPoint, Txid};
use serde::{Deserialize, Serialize};

/// How a channel ended on chain and what each output became.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolution {
    /// The transaction that spent the funding output.
    pub spend_txid: Txid,
    /// `mutual`, `local` (our commitment), `remote` (the peer's current one), `remote_future`
    /// (a commitment of the peer's newer than our state: we had lost state), `revoked` (a
    /// breach) or `unknown`.
    pub spend: String,
    /// The height at which the monitor found everything irrevocably settled.
    pub resolved_height: u32,
    /// Every output we watched, and who took it.
    pub outputs: Vec<ResolvedOutput>,
    /// What our wallet gained from this channel on chain: the mutual close's output, or our
    /// claims' outputs net of their fees, including fees paid from wallet inputs.
    pub received_sat: u64,
    /// The fees our claims paid, from the channel's outputs or from wallet inputs.
    pub fees_sat: u64,
}

/// One output of the closing transaction (or of a second-stage transaction) and its fate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedOutput {
    pub outpoint: OutPoint,
    /// What the output was to us: `to_local`, `to_remote`, `htlc_timeout`, `justice`, …
    pub kind: String,
    pub amount_sat: u64,
    /// The transaction that spent it (`None`: left to the peer, never spent while we watched).
    pub spent_by: Option<Txid>,
    /// Spent by a transaction of ours.
    pub ours: bool,
}
