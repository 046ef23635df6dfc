//! What the event log records: the event types, their fields, and the logged form with its id.

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};

/// An event's type: the SSE `event:` name, the JSON `type`, and what webhooks subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    InvoicePaid,
    PaymentSucceeded,
    PaymentFailed,
    HtlcForwarded,
    ChannelStateChanged,
    ChannelResolved,
    ChannelFundingDoubleSpent,
    InvoiceHeld,
    InvoiceCancelled,
    JitChannelOpened,
    LspOrderPaid,
}

impl EventKind {
    /// Every type, in the order the docs list them.
    pub const ALL: [EventKind; 11] = [
        EventKind::InvoicePaid,
        EventKind::PaymentSucceeded,
        EventKind::PaymentFailed,
        EventKind::HtlcForwarded,
        EventKind::ChannelStateChanged,
        EventKind::ChannelResolved,
        EventKind::ChannelFundingDoubleSpent,
        EventKind::InvoiceHeld,
        EventKind::InvoiceCancelled,
        EventKind::JitChannelOpened,
        EventKind::LspOrderPaid,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            EventKind::InvoicePaid => "invoice_paid",
            EventKind::PaymentSucceeded => "payment_succeeded",
            EventKind::PaymentFailed => "payment_failed",
            EventKind::HtlcForwarded => "htlc_forwarded",
            EventKind::ChannelStateChanged => "channel_state_changed",
            EventKind::ChannelResolved => "channel_resolved",
            EventKind::ChannelFundingDoubleSpent => "channel_funding_double_spent",
            EventKind::InvoiceHeld => "invoice_held",
            EventKind::InvoiceCancelled => "invoice_cancelled",
            EventKind::JitChannelOpened => "jit_channel_opened",
            EventKind::LspOrderPaid => "lsp_order_paid",
        }
    }

    /// Parses one type name.
    ///
    /// # Errors
    /// A message naming the unknown type and the known ones.
    pub fn parse(s: &str) -> Result<EventKind, String> {
        EventKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                let known: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
                format!("unknown event type {s:?} (known: {})", known.join(", "))
            })
    }

    /// Parses a list of names (`a,b` or a JSON array's items), without duplicates, sorted.
    ///
    /// # Errors
    /// As [`EventKind::parse`].
    pub fn parse_list<'a>(
        names: impl IntoIterator<Item = &'a str>,
    ) -> Result<Vec<EventKind>, String> {
        let mut kinds = names
            .into_iter()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(EventKind::parse)
            .collect::<Result<Vec<_>, _>>()?;
        kinds.sort();
        kinds.dedup();
        Ok(kinds)
    }
}

/// What happened, with the fields each type carries (the event's JSON without `id` and
/// `created_at`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventData {
    InvoicePaid {
        payment_hash: String,
        amount_msat: u64,
    },
    PaymentSucceeded {
        payment_hash: String,
        preimage: String,
        fee_msat: u64,
    },
    PaymentFailed {
        payment_hash: String,
        failure: String,
    },
    HtlcForwarded {
        payment_hash: String,
        in_channel_id: String,
        out_channel_id: String,
        in_msat: u64,
        out_msat: u64,
        fee_msat: u64,
        /// `settled` or `failed`.
        status: String,
    },
    ChannelStateChanged {
        channel_id: String,
        peer_node_id: String,
        /// As the channel JSON's `state`: `opening`, `active`, `closing` or `closed`.
        state: String,
    },
    ChannelResolved {
        channel_id: String,
        /// What reached our wallet from the channel on chain, net of our claims' fees.
        received_sat: u64,
    },
    /// A confirmed transaction spent an input of the channel's (zero-conf) funding: the
    /// channel is closed with nothing on chain, its unfulfilled HTLCs failed back.
    ChannelFundingDoubleSpent {
        channel_id: String,
        peer_node_id: String,
        funding_txid: String,
        spending_txid: String,
    },
    /// A hold invoice's payment arrived whole and is held until settled or cancelled.
    InvoiceHeld {
        payment_hash: String,
        /// What the invoice asks; `None` for an open amount.
        amount_msat: Option<u64>,
        received_msat: u64,
        /// The earliest expiry of the held HTLCs: settle well before it (see
        /// `payments::hold::HOLD_INVOICE_MARGIN_BLOCKS`).
        cltv_expiry: u32,
    },
    /// An invoice was cancelled; any HTLCs held for it were failed back.
    InvoiceCancelled {
        payment_hash: String,
        /// `requested` (the API, the CLI or another subsystem) or `cltv_expiry` (a held HTLC
        /// came within the margin of its expiry, so it was failed back automatically).
        reason: String,
    },
    /// A JIT channel sold over LSPS2 opened for its first payment, which was forwarded on it
    /// less the opening fee.
    JitChannelOpened {
        /// The `jit_channel_scid` sold, `BLOCKxTXxOUT`.
        jit_channel_scid: String,
        client_node_id: String,
        channel_id: String,
        funding_txid: String,
        capacity_sat: u64,
        /// What the payer sent toward the client (the parts' `amt_to_forward`).
        payment_msat: u64,
        opening_fee_msat: u64,
    },
    /// A channel bought over LSPS1 was published and its hold invoice settled: the fee is
    /// earned.
    LspOrderPaid {
        order_id: String,
        client_node_id: String,
        fee_total_sat: u64,
        order_total_sat: u64,
        payment_hash: String,
        channel_id: String,
        /// `txid:vout`.
        funding_outpoint: String,
    },
}

impl EventData {
    pub fn kind(&self) -> EventKind {
        match self {
            EventData::InvoicePaid { .. } => EventKind::InvoicePaid,
            EventData::PaymentSucceeded { .. } => EventKind::PaymentSucceeded,
            EventData::PaymentFailed { .. } => EventKind::PaymentFailed,
            EventData::HtlcForwarded { .. } => EventKind::HtlcForwarded,
            EventData::ChannelStateChanged { .. } => EventKind::ChannelStateChanged,
            EventData::ChannelResolved { .. } => EventKind::ChannelResolved,
            EventData::ChannelFundingDoubleSpent { .. } => EventKind::ChannelFundingDoubleSpent,
            EventData::InvoiceHeld { .. } => EventKind::InvoiceHeld,
            EventData::InvoiceCancelled { .. } => EventKind::InvoiceCancelled,
            EventData::JitChannelOpened { .. } => EventKind::JitChannelOpened,
            EventData::LspOrderPaid { .. } => EventKind::LspOrderPaid,
        }
    }
}

/// An event as the log holds it: its id (strictly increasing), when it was written (Unix
/// seconds), and what happened. Serializes flat: `{"id", "type", "created_at", ...fields}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedEvent {
    pub id: u64,
    pub created_at: u64,
    pub data: EventData,
}

impl LoggedEvent {
    pub fn kind(&self) -> EventKind {
        self.data.kind()
    }

    /// The event's JSON, as the SSE `data:` line and the webhook body carry it.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("an event serializes")
    }
}

impl Serialize for LoggedEvent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let fields = match serde_json::to_value(&self.data) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => {
                return Err(serde::ser::Error::custom(
                    "an event's data is a JSON object",
                ))
            }
        };
        let mut map = s.serialize_map(Some(fields.len() + 2))?;
        map.serialize_entry("id", &self.id)?;
        map.serialize_entry("type", self.kind().as_str())?;
        map.serialize_entry("created_at", &self.created_at)?;
        for (k, v) in fields.iter().filter(|(k, _)| k.as_str() != "type") {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_serializes_flat_with_id_type_and_time_first() {
        let e = LoggedEvent {
            id: 42,
            created_at: 1_764_000_000,
            data: EventData::InvoicePaid {
                payment_hash: "ab".repeat(32),
                amount_msat: 5000,
            },
        };
        let json = e.to_json();
        assert!(
            json.starts_with(r#"{"id":42,"type":"invoice_paid","created_at":1764000000,"#),
            "{json}"
        );
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["amount_msat"], 5000);
        assert_eq!(v["payment_hash"], "ab".repeat(32));
        assert_eq!(v.as_object().unwrap().len(), 5);
    }

    #[test]
    fn every_kind_round_trips_by_name_and_matches_the_json_type() {
        for k in EventKind::ALL {
            assert_eq!(EventKind::parse(k.as_str()), Ok(k));
        }
        let d = EventData::ChannelResolved {
            channel_id: "00".into(),
            received_sat: 7,
        };
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(v["type"], d.kind().as_str());
        assert_eq!(serde_json::from_value::<EventData>(v).unwrap(), d);
        assert!(EventKind::parse("invoice_payed")
            .unwrap_err()
            .contains("invoice_paid"));
        assert_eq!(
            EventKind::parse_list(["htlc_forwarded", " invoice_paid", "htlc_forwarded", ""]),
            Ok(vec![EventKind::InvoicePaid, EventKind::HtlcForwarded])
        );
    }
}
