//! phoenixd's JSON shapes, built from chanhub's records (pure functions).
//!
//! Amounts named `…Sat` are whole satoshis, rounded down as phoenixd does; `fees` are
//! millisatoshis; times are Unix milliseconds. Absent values are left out, not `null`
//! (phoenixd's serializer drops nulls).

use bitcoin::Network;
use serde_json::{json, Map, Value};

use crate::node::channels::ChannelInfo;
use crate::payments::{InvoiceRecord, InvoiceStatus, PaymentRecord, PaymentStatus};

/// phoenixd's `chain` names, whose first letter BTCPay Server matches.
pub fn chain_name(network: Network) -> &'static str {
    match network {
        Network::Bitcoin => "mainnet",
        Network::Testnet => "testnet",
        Network::Signet => "signet",
        Network::Regtest => "regtest",
        // Testnet4 and any test network to come.
        _ => "testnet",
    }
}

/// phoenixd's `paymentId` for our payment of `hash`: a UUID made of the hash's first 16
/// bytes with the version (4) and variant bits set. A payment hash has one payment here, so
/// the id is stable, needs no table, and the hash's first 6 bytes find the payment back.
pub fn payment_id(hash: &[u8; 32]) -> String {
    let mut b = [0u8; 16];
    b.copy_from_slice(&hash[..16]);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// The 16 bytes of a UUID written `8-4-4-4-12` (any case); `None` otherwise.
pub fn parse_uuid(s: &str) -> Option<[u8; 16]> {
    let parts: Vec<&str> = s.split('-').collect();
    let lens: Vec<usize> = parts.iter().map(|p| p.len()).collect();
    if lens != [8, 4, 4, 4, 12] {
        return None;
    }
    hex::decode(parts.concat())
        .ok()
        .and_then(|b| <[u8; 16]>::try_from(b).ok())
}

fn sat(msat: u64) -> u64 {
    msat / 1000
}

fn ms(secs: u64) -> u64 {
    secs.saturating_mul(1000)
}

/// Drops the `null` members, as phoenixd's serializer does.
fn compact(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null())
                .collect::<Map<_, _>>(),
        ),
        other => other,
    }
}

/// One entry of `getinfo`'s `channels`, with phoenixd's state names. `sendable_msat` is what
/// the channel can send now (reserve and HTLCs in flight deducted), phoenixd's
/// `availableBalanceForSend`.
pub fn channel(c: &ChannelInfo, sendable_msat: Option<u64>) -> Value {
    use crate::node::channels::ChannelStatus as S;
    let state = match c.status {
        S::Opening => "WaitForFundingConfirmed",
        S::Active if c.connected => "Normal",
        S::Active => "Offline",
        S::Closing => "Closing",
        S::Closed => "Closed",
    };
    compact(json!({
        "state": state,
        "channelId": hex::encode(c.channel_id),
        "balanceSat": sat(sendable_msat.unwrap_or(c.local_msat)),
        "inboundLiquiditySat": sat(c.remote_msat),
        "capacitySat": c.capacity_sat,
        "fundingTxId": c.funding.map(|o| o.txid.to_string()),
    }))
}

/// An invoice of ours as phoenixd's `IncomingPayment`. Its preimage is shown before payment
/// too, as phoenixd does (LNbits reads it at creation). A cancelled invoice reads as expired:
/// it can no longer be paid.
pub fn incoming(inv: &InvoiceRecord, external_id: Option<&str>, now_ms: u64) -> Value {
    let paid = inv.status == InvoiceStatus::Paid;
    let expires_at = ms(inv.expires_at);
    compact(json!({
        "type": "incoming_payment",
        "subType": "lightning",
        "paymentHash": hex::encode(inv.payment_hash),
        "preimage": inv.preimage.map(hex::encode),
        "externalId": external_id,
        "description": description(inv),
        "invoice": inv.bolt11,
        "isPaid": paid,
        "isExpired": now_ms > expires_at || inv.status == InvoiceStatus::Cancelled,
        "requestedSat": inv.amount_msat.map(sat),
        "receivedSat": sat(inv.received_msat.unwrap_or(0)),
        // What the payee paid to receive: nothing here (phoenixd's are its LSP's fees).
        "fees": 0,
        "expiresAt": expires_at,
        "completedAt": inv.paid_at.map(ms),
        "createdAt": ms(inv.created_at),
    }))
}

/// The invoice's `d` field; `None` for an invoice that commits to a description hash.
fn description(inv: &InvoiceRecord) -> Option<&str> {
    match inv.description_hash {
        Some(_) => None,
        None => Some(inv.description.as_str()),
    }
}

/// A payment of ours as phoenixd's `OutgoingPayment`: `sent` is what left the node, fees
/// included.
pub fn outgoing(p: &PaymentRecord) -> Value {
    compact(json!({
        "type": "outgoing_payment",
        "subType": "lightning",
        "paymentId": payment_id(&p.payment_hash),
        "paymentHash": hex::encode(p.payment_hash),
        "preimage": p.preimage.map(hex::encode),
        "isPaid": p.status == PaymentStatus::Succeeded,
        "sent": sat(p.amount_msat + p.fee_msat),
        "fees": p.fee_msat,
        "invoice": p.bolt11,
        "completedAt": p.resolved_at.map(ms),
        "createdAt": ms(p.created_at),
    }))
}

/// `createinvoice`'s answer.
pub fn generated_invoice(inv: &InvoiceRecord) -> Value {
    compact(json!({
        "amountSat": inv.amount_msat.map(sat),
        "paymentHash": hex::encode(inv.payment_hash),
        "serialized": inv.bolt11,
    }))
}

/// `payinvoice`'s answer for a payment that went through.
pub fn payment_sent(p: &PaymentRecord) -> Value {
    json!({
        "recipientAmountSat": sat(p.amount_msat),
        "routingFeeSat": sat(p.fee_msat),
        "paymentId": payment_id(&p.payment_hash),
        "paymentHash": hex::encode(p.payment_hash),
        "paymentPreimage": p.preimage.map(hex::encode).unwrap_or_default(),
    })
}

/// `payinvoice`'s answer for a payment that did not (HTTP 200 all the same, as phoenixd).
pub fn payment_failed(hash: Option<&[u8; 32]>, reason: &str) -> Value {
    compact(json!({
        "paymentHash": hash.map(hex::encode),
        "reason": reason,
    }))
}

/// The `payment_received` event of the websocket and of webhooks.
pub fn payment_received(
    hash: &[u8; 32],
    amount_msat: u64,
    external_id: Option<&str>,
    timestamp_ms: u64,
) -> Value {
    compact(json!({
        "type": "payment_received",
        "timestamp": timestamp_ms,
        "amountSat": sat(amount_msat),
        "paymentHash": hex::encode(hash),
        "externalId": external_id,
    }))
}

/// A failure as phoenixd words it (lightning-kmp's reasons), from ours: clients show it to
/// people and some look for these phrases.
pub fn failure_reason(ours: &str) -> String {
    let l = ours.to_ascii_lowercase();
    let phrase = if l.contains("incorrect_or_unknown_payment_details") {
        "the recipient has rejected the payment"
    } else if l.contains("already") && l.contains("paid") {
        "this invoice has already been paid"
    } else if l.contains("expired") {
        "the invoice has expired"
    } else if l.contains("insufficient") || l.contains("not enough") || l.contains("liquidity") {
        "not enough funds in wallet to afford payment"
    } else if l.contains("no route") || l.contains("unreachable") {
        "the recipient was offline or did not have enough liquidity to receive the payment"
    } else if l.contains("timed out") || l.contains("timeout") || l.contains("attempts") {
        "payment attempts exhausted without success"
    } else {
        return format!("payment could not be sent: {ours}");
    };
    phrase.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invoice() -> InvoiceRecord {
        InvoiceRecord {
            payment_hash: [0xab; 32],
            bolt11: "lnbcrt1".into(),
            preimage: Some([0xcd; 32]),
            payment_secret: [1; 32],
            amount_msat: Some(21_999),
            description: "coffee".into(),
            description_hash: None,
            min_final_cltv_expiry_delta: 18,
            created_at: 1_000,
            expires_at: 4_600,
            status: InvoiceStatus::Open,
            received_msat: None,
            paid_at: None,
            paid_by: None,
        }
    }

    #[test]
    fn payment_ids_are_uuids_of_the_hash_found_back_by_its_prefix() {
        let hash = [0xff; 32];
        let id = payment_id(&hash);
        assert_eq!(id, "ffffffff-ffff-4fff-bfff-ffffffffffff");
        let bytes = parse_uuid(&id).unwrap();
        assert_eq!(bytes[..6], hash[..6]);
        assert_eq!(payment_id(&[0; 32]), "00000000-0000-4000-8000-000000000000");
        assert_eq!(parse_uuid(&id.to_uppercase()), Some(bytes));
        assert_eq!(parse_uuid("ffffffffffff4fffbfffffffffffffff"), None);
        assert_eq!(parse_uuid("zzzzzzzz-ffff-4fff-bfff-ffffffffffff"), None);
    }

    #[test]
    fn chains_are_named_as_phoenixd_names_them() {
        assert_eq!(chain_name(Network::Bitcoin), "mainnet");
        assert_eq!(chain_name(Network::Regtest), "regtest");
        assert_eq!(chain_name(Network::Testnet), "testnet");
        assert_eq!(chain_name(Network::Signet), "signet");
    }

    #[test]
    fn an_open_invoice_reads_as_phoenixd_writes_it() {
        let v = incoming(&invoice(), None, 2_000_000);
        assert_eq!(v["type"], "incoming_payment");
        assert_eq!(v["paymentHash"], hex::encode([0xab; 32]));
        assert_eq!(v["preimage"], hex::encode([0xcd; 32]));
        assert_eq!(v["isPaid"], false);
        assert_eq!(v["isExpired"], false);
        assert_eq!(v["requestedSat"], 21, "rounded down");
        assert_eq!(v["receivedSat"], 0);
        assert_eq!(v["fees"], 0);
        assert_eq!(v["createdAt"], 1_000_000);
        assert_eq!(v["expiresAt"], 4_600_000);
        assert_eq!(v["description"], "coffee");
        assert!(v.get("externalId").is_none(), "nulls are left out");
        assert!(v.get("completedAt").is_none());
        assert_eq!(incoming(&invoice(), None, 4_600_001)["isExpired"], true);
    }

    #[test]
    fn a_paid_invoice_has_its_amount_and_completion_time() {
        let mut inv = invoice();
        inv.status = InvoiceStatus::Paid;
        inv.received_msat = Some(22_000);
        inv.paid_at = Some(1_500);
        let v = incoming(&inv, Some("order-7"), 2_000_000);
        assert_eq!(v["isPaid"], true);
        assert_eq!(v["receivedSat"], 22);
        assert_eq!(v["completedAt"], 1_500_000);
        assert_eq!(v["externalId"], "order-7");
        inv.status = InvoiceStatus::Cancelled;
        inv.received_msat = None;
        inv.paid_at = None;
        assert_eq!(incoming(&inv, None, 2_000_000)["isExpired"], true);
        inv.description = String::new();
        inv.description_hash = Some([9; 32]);
        assert!(incoming(&inv, None, 0).get("description").is_none());
    }

    #[test]
    fn failures_use_phoenixds_words() {
        assert_eq!(
            failure_reason("incorrect_or_unknown_payment_details from 02ab"),
            "the recipient has rejected the payment"
        );
        assert_eq!(
            failure_reason("no route to 02ab for 5000 msat"),
            "the recipient was offline or did not have enough liquidity to receive the payment"
        );
        assert!(failure_reason("something odd").contains("something odd"));
        let v = payment_failed(Some(&[1; 32]), "x");
        assert_eq!(v["reason"], "x");
        assert_eq!(payment_failed(None, "x").get("paymentHash"), None);
    }
}
