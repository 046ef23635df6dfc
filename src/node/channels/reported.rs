//! What the event log says of a channel: `channel_state_changed` when its user-facing state
//! (`opening`, `active`, `closing`, `closed`) changes, `channel_funding_double_spent` when its
//! funding is found double-spent, and `channel_resolved` once its on-chain resolution is
//! recorded. All are derived from the state being persisted and written in the same
//! transaction, so the log and the channel never disagree.

use bitcoin::secp256k1::PublicKey;

use super::view::ChannelStatus;
use crate::channel::{ChannelState, FundingLost};
use crate::events::EventData;

/// What the log last said of one channel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Reported {
    status: Option<ChannelStatus>,
    resolved: bool,
    funding_lost: bool,
}

/// The channel's final id, from its funding outpoint. Before the outpoint is known it has only
/// a temporary id, which no later event would name; the opener knows the outpoint (and
/// persists it) before its state takes the final id at `funding_signed`.
fn final_id(state: &ChannelState) -> Option<[u8; 32]> {
    state
        .setup
        .funding_outpoint
        .map(|o| crate::channel::channel_id_from_funding(&o))
}

/// As the channel JSON's `state`.
fn state_name(status: ChannelStatus) -> &'static str {
    match status {
        ChannelStatus::Opening => "opening",
        ChannelStatus::Active => "active",
        ChannelStatus::Closing => "closing",
        ChannelStatus::Closed => "closed",
    }
}

impl Reported {
    /// A channel loaded from the store: its stored state was reported when it was written.
    pub(super) fn of(state: &ChannelState) -> Reported {
        Reported {
            status: final_id(state).map(|_| ChannelStatus::of(&state.phase)),
            resolved: state.resolution.is_some(),
            funding_lost: state.funding_lost.is_some(),
        }
    }

    /// The events that persisting `state` reports, and what the log says once they commit.
    pub(super) fn next(
        &self,
        state: &ChannelState,
        peer: &PublicKey,
    ) -> (Reported, Vec<EventData>) {
        let mut events = Vec::new();
        let mut now = *self;
        let Some(id) = final_id(state) else {
            return (now, events);
        };
        let channel_id = hex::encode(id);
        let status = ChannelStatus::of(&state.phase);
        if self.status != Some(status) {
            events.push(EventData::ChannelStateChanged {
                channel_id: channel_id.clone(),
                peer_node_id: peer.to_string(),
                state: state_name(status).to_string(),
            });
            now.status = Some(status);
        }
        if let (false, Some(FundingLost::DoubleSpent { spending_txid })) =
            (self.funding_lost, &state.funding_lost)
        {
            events.push(EventData::ChannelFundingDoubleSpent {
                channel_id: channel_id.clone(),
                peer_node_id: peer.to_string(),
                funding_txid: state
                    .setup
                    .funding_outpoint
                    .map(|o| o.txid.to_string())
                    .unwrap_or_default(),
                spending_txid: spending_txid.to_string(),
            });
        }
        now.funding_lost = state.funding_lost.is_some();
        if let (false, Some(r)) = (self.resolved, &state.resolution) {
            events.push(EventData::ChannelResolved {
                channel_id,
                received_sat: r.received_sat,
            });
            now.resolved = true;
        }
        (now, events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::hashes::Hash;

    #[test]
    fn a_double_spent_funding_is_reported_once_with_the_close() {
        use crate::channel::testing::harness::*;
        use crate::channel::{Format, Phase};
        let p = Pair::open(Format::Anchors, 0);
        let peer = keys(2).pubkeys.funding;
        let mut state = p.a.channel.state().clone();
        let before = Reported::of(&state);
        let spending_txid = bitcoin::Txid::from_byte_array([7; 32]);
        state.funding_lost = Some(FundingLost::DoubleSpent { spending_txid });
        state.phase = Phase::Aborted;
        let (now, events) = before.next(&state, &peer);
        let kinds: Vec<_> = events.iter().map(|e| e.kind().as_str()).collect();
        assert_eq!(
            kinds,
            ["channel_state_changed", "channel_funding_double_spent"]
        );
        let EventData::ChannelFundingDoubleSpent {
            funding_txid,
            spending_txid: spent_by,
            ..
        } = &events[1]
        else {
            panic!("{events:?}")
        };
        let outpoint = state.setup.funding_outpoint.unwrap();
        assert_eq!(*funding_txid, outpoint.txid.to_string());
        assert_eq!(*spent_by, spending_txid.to_string());
        // Persisted again (a later input), or loaded after a restart: not reported again.
        assert!(now.next(&state, &peer).1.is_empty());
        assert!(Reported::of(&state).next(&state, &peer).1.is_empty());
    }

    #[test]
    fn state_names_match_the_channel_json() {
        for s in [
            ChannelStatus::Opening,
            ChannelStatus::Active,
            ChannelStatus::Closing,
            ChannelStatus::Closed,
        ] {
            assert_eq!(serde_json::to_value(s).unwrap(), state_name(s));
        }
    }
}
