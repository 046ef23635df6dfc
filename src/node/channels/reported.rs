//! What the event log says of a channel: `channel_state_changed` when its user-facing state
//! (`opening`, `active`, `closing`, `closed`) changes, and `channel_resolved` once its
//! on-chain resolution is recorded. Both are derived from the state being persisted and
//! written in the same transaction, so the log and the channel never disagree.

use bitcoin::secp256k1::PublicKey;

use super::view::ChannelStatus;
use crate::channel::ChannelState;
use crate::events::EventData;

/// What the log last said of one channel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Reported {
    status: Option<ChannelStatus>,
    resolved: bool,
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
