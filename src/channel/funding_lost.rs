//! A funded channel whose funding can never confirm: a zero-conf channel is used before its
//! funding confirms, so the funding may yet be double-spent (or, from a peer, never be mined).
//! The owner watches the chain and says so ([`super::Input::FundingLost`]); the channel then
//! ends at once, with nothing on chain to enforce: no commitment can ever confirm.

use std::fmt;

use bitcoin::Txid;
use serde::{Deserialize, Serialize};

use super::error::ChannelError;
use super::events::Event;
use super::state::Phase;
use super::{Origin, Step};
use crate::wire::{Diagnostic, ErrorMessage, Message};

/// Why the funding will never confirm (kept in [`super::ChannelState::funding_lost`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum FundingLost {
    /// A confirmed transaction other than the funding spent one of the funding's inputs.
    DoubleSpent { spending_txid: Txid },
    /// We did not fund it, and it did not confirm within `blocks` (BOLT 2's fundee timeout).
    Unconfirmed { blocks: u32 },
}

impl fmt::Display for FundingLost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FundingLost::DoubleSpent { spending_txid } => write!(
                f,
                "funding double-spent by {spending_txid}: the channel never existed on chain"
            ),
            FundingLost::Unconfirmed { blocks } => {
                write!(
                    f,
                    "funding not confirmed within {blocks} blocks: channel given up"
                )
            }
        }
    }
}

impl Step<'_> {
    pub(super) fn on_funding_lost(&mut self, why: FundingLost) -> Result<(), ChannelError> {
        if matches!(self.s.phase, Phase::Closed | Phase::Aborted) {
            return Ok(());
        }
        if self.s.commitments.is_none() {
            return Err(self.not_now("give up an unsigned channel's funding"));
        }
        // Our own funding is ours to wait for: only the chain's proof (a double spend) ends it.
        if matches!(why, FundingLost::Unconfirmed { .. }) && self.s.setup.opener == Origin::Local {
            return Err(self.not_now("give up our own unconfirmed funding"));
        }
        let text = why.to_string();
        self.out
            .push(super::Output::Send(Message::Error(ErrorMessage(
                Diagnostic::new(self.channel_id(), &text),
            ))));
        self.event(Event::FundingLost { why: why.clone() });
        self.s.funding_lost = Some(why);
        self.s.phase = Phase::Aborted;
        Ok(())
    }
}
