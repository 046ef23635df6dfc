//! LSPS1 (bLIP 51): a client buys a channel, pure. The options the LSP offers, the checks of
//! `lsps1.create_order`, the fee, and an order's JSON as `create_order` and `get_order` answer
//! it. The runtime (`node::lsp_orders`) keeps the orders, makes the hold invoice and opens the
//! channel once it is paid.
//!
//! Where LDK's client reads bLIP 51 differently, LDK wins (channel-spec/interop.md, LSPS):
//! a held payment is shown as `EXPECT_PAYMENT` (LDK's client knows no `HOLD`), a `token`
//! sent as `null` is echoed as `null`, and an error's `data` object travels as JSON text.

use bitcoin::secp256k1::PublicKey;
use bitcoin::Txid;
use serde_json::{json, Map, Value};

use super::lsps0::{check_params, RpcError, INVALID_PARAMS};

/// The LSPS number this module serves.
pub const PROTOCOL: u16 = 1;
/// bLIP 51's own error codes.
pub const OPTION_MISMATCH: i64 = 100;
pub const NOT_FOUND: i64 = 101;
/// bLIP 51's longest `order_id`; ours are 36-character UUIDs.
pub const MAX_ORDER_ID_LEN: usize = 64;
/// The most unpaid, unexpired orders one client may hold: each is a stored row and a hold
/// invoice, so a stranger's `create_order` calls are bounded.
pub const MAX_UNPAID_PER_CLIENT: usize = 8;
/// The most unpaid orders across all clients.
pub const MAX_UNPAID_TOTAL: usize = 10_000;
/// A channel's largest funding without `option_support_large_channel` (BOLT 2).
pub const MAX_CHANNEL_SAT: u64 = (1 << 24) - 1;
/// The seconds a block is counted for when a lease in blocks becomes a date.
pub const BLOCK_SECS: u64 = 600;

/// The resolved `[lsps1]` table of `chanhub.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lsps1Config {
    /// The range of `lsp_balance_sat`: the hub's side of a channel sold.
    pub min_channel_sat: u64,
    pub max_channel_sat: u64,
    /// The most a client may pay to have pushed to its side (0: none).
    pub max_client_balance_sat: u64,
    /// The longest lease (`channel_expiry_blocks`) sold.
    pub max_channel_expiry_blocks: u32,
    /// 0: the channel is zero-conf, usable once the client signed the funding.
    pub min_required_channel_confirmations: u16,
    pub min_funding_confirms_within_blocks: u16,
    /// The fee: `fee_base_sat` plus `fee_ppm` of the channel's size.
    pub fee_base_sat: u64,
    pub fee_ppm: u32,
    /// How long an order's invoice may be paid.
    pub order_valid_secs: u64,
    /// How long a paid order waits for its client to be connected before it is refunded
    /// (bLIP 51: the LSP waits for the connection before it opens).
    pub client_wait_secs: u64,
    /// When set, `create_order` needs it.
    pub token: Option<String>,
}

impl Default for Lsps1Config {
    fn default() -> Self {
        Lsps1Config {
            min_channel_sat: 100_000,
            max_channel_sat: 10_000_000,
            max_client_balance_sat: 0,
            max_channel_expiry_blocks: 12_960,
            min_required_channel_confirmations: 0,
            min_funding_confirms_within_blocks: 6,
            fee_base_sat: 2_000,
            fee_ppm: 10_000,
            order_valid_secs: 3600,
            client_wait_secs: 30,
            token: None,
        }
    }
}

impl Lsps1Config {
    /// The rules the file's values must keep; `min_funding_sat` is the smallest channel the
    /// node opens.
    ///
    /// # Errors
    /// What is wrong, for the operator.
    pub fn validate(&self, min_funding_sat: u64) -> Result<(), String> {
        if self.min_channel_sat < min_funding_sat || self.min_channel_sat > self.max_channel_sat {
            return Err(format!(
                "min_channel_sat ({}) must be at least {min_funding_sat} and at most \
                 max_channel_sat ({})",
                self.min_channel_sat, self.max_channel_sat
            ));
        }
        let largest = self
            .max_channel_sat
            .saturating_add(self.max_client_balance_sat);
        if largest > MAX_CHANNEL_SAT {
            return Err(format!(
                "max_channel_sat plus max_client_balance_sat is a {largest} sat channel, above \
                 the {MAX_CHANNEL_SAT} sat maximum"
            ));
        }
        if self.max_channel_expiry_blocks == 0 {
            return Err("max_channel_expiry_blocks must be above 0".into());
        }
        // The funding pays the wallet's estimate for this many blocks: a shorter promise
        // would not be kept.
        let target = crate::wallet::DEFAULT_CONF_TARGET;
        if self.min_funding_confirms_within_blocks < target {
            return Err(format!(
                "min_funding_confirms_within_blocks must be at least {target} (the funding's fee                  rate aims at {target} blocks), not {}",
                self.min_funding_confirms_within_blocks
            ));
        }
        if self.fee_ppm > 1_000_000 {
            return Err(format!(
                "fee_ppm is in parts per million, at most 1000000, not {}",
                self.fee_ppm
            ));
        }
        if self.fee_base_sat == 0 && self.fee_ppm == 0 {
            return Err(
                "fee_base_sat and fee_ppm cannot both be 0: an invoice needs an amount \
                 (a free channel still has to be ordered through a payment)"
                    .into(),
            );
        }
        if !(60..=7 * 24 * 3600).contains(&self.order_valid_secs) {
            return Err(format!(
                "order_valid_secs must be 60 to 604800, not {}",
                self.order_valid_secs
            ));
        }
        if !(1..=600).contains(&self.client_wait_secs) {
            return Err(format!(
                "client_wait_secs must be 1 to 600, not {}",
                self.client_wait_secs
            ));
        }
        if self
            .token
            .as_deref()
            .is_some_and(|t| t.is_empty() || t.len() > 256)
        {
            return Err("token must be 1 to 256 characters".into());
        }
        Ok(())
    }

    /// The largest channel sold (its two sides).
    pub fn max_channel_balance_sat(&self) -> u64 {
        self.max_channel_sat + self.max_client_balance_sat
    }

    /// `lsps1.get_info`'s answer: bLIP 51's options, amounts as decimal strings.
    pub fn options(&self) -> Value {
        json!({
            "min_required_channel_confirmations": self.min_required_channel_confirmations,
            "min_funding_confirms_within_blocks": self.min_funding_confirms_within_blocks,
            "supports_zero_channel_reserve": false,
            "max_channel_expiry_blocks": self.max_channel_expiry_blocks,
            "min_initial_client_balance_sat": "0",
            "max_initial_client_balance_sat": self.max_client_balance_sat.to_string(),
            "min_initial_lsp_balance_sat": self.min_channel_sat.to_string(),
            "max_initial_lsp_balance_sat": self.max_channel_sat.to_string(),
            "min_channel_balance_sat": self.min_channel_sat.to_string(),
            "max_channel_balance_sat": self.max_channel_balance_sat().to_string(),
        })
    }

    /// The fee for a channel of `channel_sat`: the base plus the ppm, rounded up.
    pub fn fee_sat(&self, channel_sat: u64) -> u64 {
        let ppm = (u128::from(channel_sat) * u128::from(self.fee_ppm)).div_ceil(1_000_000);
        // channel_sat is at most MAX_CHANNEL_SAT and the ppm at most 10^6: this fits.
        self.fee_base_sat.saturating_add(ppm as u64)
    }
}

/// What a client orders (bLIP 51's order parameters), checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderParams {
    pub lsp_balance_sat: u64,
    pub client_balance_sat: u64,
    pub required_channel_confirmations: u16,
    pub funding_confirms_within_blocks: u16,
    pub channel_expiry_blocks: u32,
    /// As sent: `None` for `null`; an absent token is `Some("")`, as bLIP 51 echoes it.
    pub token: Option<String>,
    pub announce_channel: bool,
}

impl OrderParams {
    /// The channel's capacity: both sides.
    pub fn channel_sat(&self) -> u64 {
        self.lsp_balance_sat + self.client_balance_sat
    }
}

/// An error's `data`: bLIP 51's object, written as JSON text in a string. LDK's client reads
/// `data` only as a string and, given an object, drops the answer and ignores the LSP from
/// then on (channel-spec/interop.md, LSPS).
fn data(object: Value) -> Option<Value> {
    Some(Value::String(object.to_string()))
}

/// `-32602` naming the request field at fault, as bLIP 51 shapes it.
pub fn invalid_param(property: &str, message: impl Into<String>) -> RpcError {
    let message = message.into();
    RpcError {
        code: INVALID_PARAMS,
        message: "Invalid params".into(),
        data: data(json!({ "property": property, "message": message })),
    }
}

/// `100 Option mismatch` naming the `get_info` option the order breaks.
pub fn mismatch(option: &str, message: impl Into<String>) -> RpcError {
    let message = message.into();
    RpcError {
        code: OPTION_MISMATCH,
        message: "Option mismatch".into(),
        data: data(json!({ "property": option, "message": message })),
    }
}

/// `101 Not found`.
pub fn not_found() -> RpcError {
    RpcError {
        code: NOT_FOUND,
        message: "Not found".into(),
        data: data(json!({})),
    }
}

const ORDER_FIELDS: [&str; 8] = [
    "lsp_balance_sat",
    "client_balance_sat",
    "required_channel_confirmations",
    "funding_confirms_within_blocks",
    "channel_expiry_blocks",
    "token",
    "refund_onchain_address",
    "announce_channel",
];

fn sat_field(params: &Map<String, Value>, name: &str) -> Result<u64, RpcError> {
    match params.get(name) {
        Some(Value::String(s)) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().map_err(|_| invalid_param(name, "above 2^64 - 1"))
        }
        Some(_) => Err(invalid_param(name, "not an amount (a decimal string)")),
        None => Err(invalid_param(name, "missing")),
    }
}

fn uint_field(params: &Map<String, Value>, name: &str, max: u64) -> Result<u64, RpcError> {
    match params.get(name) {
        Some(v) => v
            .as_u64()
            .filter(|n| *n <= max)
            .ok_or_else(|| invalid_param(name, format!("not an integer from 0 to {max}"))),
        None => Err(invalid_param(name, "missing")),
    }
}

/// Reads `lsps1.create_order`'s parameters: every field present and of its type.
///
/// # Errors
/// bLIP 50's `-32602` with `unrecognized` for unknown fields; bLIP 51's `-32602` with the
/// `property` at fault otherwise.
pub fn parse_order(params: &Map<String, Value>) -> Result<OrderParams, RpcError> {
    check_params(params, &ORDER_FIELDS)?;
    let lsp_balance_sat = sat_field(params, "lsp_balance_sat")?;
    if lsp_balance_sat == 0 {
        return Err(invalid_param("lsp_balance_sat", "must be 1 or more"));
    }
    let client_balance_sat = sat_field(params, "client_balance_sat")?;
    let required_channel_confirmations =
        uint_field(params, "required_channel_confirmations", u16::MAX.into())? as u16;
    let funding_confirms_within_blocks =
        uint_field(params, "funding_confirms_within_blocks", u16::MAX.into())? as u16;
    let channel_expiry_blocks =
        uint_field(params, "channel_expiry_blocks", u32::MAX.into())? as u32;
    if channel_expiry_blocks == 0 {
        return Err(invalid_param("channel_expiry_blocks", "must be 1 or more"));
    }
    let token = match params.get("token") {
        None => Some(String::new()),
        Some(Value::Null) => None,
        Some(Value::String(s)) if s.len() <= 256 => Some(s.clone()),
        Some(_) => return Err(invalid_param("token", "not a string of at most 256 bytes")),
    };
    // On-chain payment is not offered, so no refund address is used; it is only checked.
    match params.get("refund_onchain_address") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if s.len() <= 128 => {}
        Some(_) => return Err(invalid_param("refund_onchain_address", "not an address")),
    }
    let announce_channel = match params.get("announce_channel") {
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(invalid_param("announce_channel", "not a boolean")),
        None => return Err(invalid_param("announce_channel", "missing")),
    };
    Ok(OrderParams {
        lsp_balance_sat,
        client_balance_sat,
        required_channel_confirmations,
        funding_confirms_within_blocks,
        channel_expiry_blocks,
        token,
        announce_channel,
    })
}

/// What the hub knows when it checks an order beyond its options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    /// The hub announces its node (it has addresses to announce): announced channels can be
    /// sold.
    pub announces: bool,
    /// The wallet's confirmed balance, when known.
    pub confirmed_sat: Option<u64>,
}

/// Checks an order against the options (bLIP 51: `100` naming the option) and the token.
///
/// # Errors
/// The error to answer with.
pub fn check_order(
    config: &Lsps1Config,
    order: &OrderParams,
    capacity: Capacity,
) -> Result<(), RpcError> {
    if let Some(want) = &config.token {
        if order.token.as_deref() != Some(want.as_str()) {
            return Err(invalid_param("token", "unrecognized token"));
        }
    }
    let o = order;
    if o.lsp_balance_sat < config.min_channel_sat {
        return Err(mismatch(
            "min_initial_lsp_balance_sat",
            format!("at least {} sat", config.min_channel_sat),
        ));
    }
    if o.lsp_balance_sat > config.max_channel_sat {
        return Err(mismatch(
            "max_initial_lsp_balance_sat",
            format!("at most {} sat", config.max_channel_sat),
        ));
    }
    if o.client_balance_sat > config.max_client_balance_sat {
        return Err(mismatch(
            "max_initial_client_balance_sat",
            format!("at most {} sat", config.max_client_balance_sat),
        ));
    }
    // Both sides are within their ranges, so this neither overflows nor exceeds the largest
    // channel; the floor is checked for completeness.
    if o.channel_sat() < config.min_channel_sat {
        return Err(mismatch(
            "min_channel_balance_sat",
            format!("at least {} sat", config.min_channel_sat),
        ));
    }
    if o.required_channel_confirmations < config.min_required_channel_confirmations {
        return Err(mismatch(
            "min_required_channel_confirmations",
            format!("at least {}", config.min_required_channel_confirmations),
        ));
    }
    if o.funding_confirms_within_blocks < config.min_funding_confirms_within_blocks {
        return Err(mismatch(
            "min_funding_confirms_within_blocks",
            format!(
                "at least {} blocks",
                config.min_funding_confirms_within_blocks
            ),
        ));
    }
    if o.channel_expiry_blocks > config.max_channel_expiry_blocks {
        return Err(mismatch(
            "max_channel_expiry_blocks",
            format!("at most {} blocks", config.max_channel_expiry_blocks),
        ));
    }
    if o.announce_channel && !capacity.announces {
        return Err(invalid_param(
            "announce_channel",
            "the LSP does not announce its node: only unannounced channels are sold",
        ));
    }
    if capacity.confirmed_sat.is_some_and(|c| c < o.channel_sat()) {
        return Err(mismatch(
            "max_initial_lsp_balance_sat",
            "the LSP cannot fund a channel that size now",
        ));
    }
    Ok(())
}

/// Where an order's payment is (bLIP 51's `payment.bolt11.state`, with `Hold` kept apart).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentState {
    ExpectPayment,
    /// The payment is held; the channel is being opened.
    Hold,
    /// The preimage was released.
    Paid,
    /// Cancelled: any payment was failed back.
    Refunded,
}

impl PaymentState {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentState::ExpectPayment => "expect_payment",
            PaymentState::Hold => "hold",
            PaymentState::Paid => "paid",
            PaymentState::Refunded => "refunded",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "expect_payment" => PaymentState::ExpectPayment,
            "hold" => PaymentState::Hold,
            "paid" => PaymentState::Paid,
            "refunded" => PaymentState::Refunded,
            _ => return None,
        })
    }

    /// As the client reads it: LDK's client knows no `HOLD`, and would drop the whole answer
    /// on it, so a held payment shows as still expected until the preimage is released.
    pub fn wire(self) -> &'static str {
        match self {
            PaymentState::ExpectPayment | PaymentState::Hold => "EXPECT_PAYMENT",
            PaymentState::Paid => "PAID",
            PaymentState::Refunded => "REFUNDED",
        }
    }
}

/// bLIP 51's `order_state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderState {
    Created,
    /// The funding transaction was published.
    Completed,
    Failed,
}

impl OrderState {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderState::Created => "created",
            OrderState::Completed => "completed",
            OrderState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "created" => OrderState::Created,
            "completed" => OrderState::Completed,
            "failed" => OrderState::Failed,
            _ => return None,
        })
    }

    pub fn wire(self) -> &'static str {
        match self {
            OrderState::Created => "CREATED",
            OrderState::Completed => "COMPLETED",
            OrderState::Failed => "FAILED",
        }
    }
}

/// The channel an order opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderChannel {
    pub channel_id: [u8; 32],
    pub funding_txid: Txid,
    pub funding_vout: u32,
    /// Unix seconds: when the funding was published.
    pub funded_at: u64,
    /// Unix seconds: the earliest the hub may close it (the lease, at 10 minutes a block).
    pub expires_at: u64,
}

/// An order as kept (`store::lsps1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub order_id: String,
    pub client: PublicKey,
    pub params: OrderParams,
    /// Unix seconds.
    pub created_at: u64,
    pub fee_total_sat: u64,
    /// The fee plus `client_balance_sat`: the invoice's amount.
    pub order_total_sat: u64,
    pub payment_hash: [u8; 32],
    /// The hold invoice's preimage, released once the channel is published.
    pub preimage: [u8; 32],
    pub invoice: String,
    /// Unix seconds: the invoice's expiry.
    pub expires_at: u64,
    pub payment_state: PaymentState,
    pub order_state: OrderState,
    pub channel: Option<OrderChannel>,
    /// Why the order failed, for the operator.
    pub failure: Option<String>,
}

impl Order {
    /// The states at `now`: an order still waiting for its payment after the invoice
    /// expired has failed, with nothing to refund.
    pub fn states_at(&self, now: u64) -> (OrderState, PaymentState) {
        if self.order_state == OrderState::Created
            && self.payment_state == PaymentState::ExpectPayment
            && now >= self.expires_at
        {
            return (OrderState::Failed, PaymentState::Refunded);
        }
        (self.order_state, self.payment_state)
    }

    /// Whether a held payment may open the channel: the order still waits for it.
    pub fn opens_on_payment(&self) -> bool {
        self.order_state == OrderState::Created && self.payment_state == PaymentState::ExpectPayment
    }

    /// The answer to `create_order` and `get_order` at `now`.
    pub fn to_wire(&self, now: u64) -> Value {
        let (order_state, payment_state) = self.states_at(now);
        let p = &self.params;
        let channel = self.channel.as_ref().map(|c| {
            json!({
                "funded_at": datetime(c.funded_at),
                "funding_outpoint": format!("{}:{}", c.funding_txid, c.funding_vout),
                "expires_at": datetime(c.expires_at),
            })
        });
        json!({
            "order_id": self.order_id,
            "lsp_balance_sat": p.lsp_balance_sat.to_string(),
            "client_balance_sat": p.client_balance_sat.to_string(),
            "required_channel_confirmations": p.required_channel_confirmations,
            "funding_confirms_within_blocks": p.funding_confirms_within_blocks,
            "channel_expiry_blocks": p.channel_expiry_blocks,
            "token": p.token,
            "created_at": datetime(self.created_at),
            "announce_channel": p.announce_channel,
            "order_state": order_state.wire(),
            "payment": {
                "bolt11": {
                    "state": payment_state.wire(),
                    "expires_at": datetime(self.expires_at),
                    "fee_total_sat": self.fee_total_sat.to_string(),
                    "order_total_sat": self.order_total_sat.to_string(),
                    "invoice": self.invoice,
                },
                // Not offered: absent is what bLIP 51 allows; null is what LDK reads as such.
                "bolt12": null,
                "onchain": null,
            },
            "channel": channel,
        })
    }
}

/// LSPS0's datetime: RFC 3339, UTC, milliseconds.
pub fn datetime(unix_secs: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix_secs);
    humantime::format_rfc3339_millis(t).to_string()
}

/// A random UUID version 4 from 16 random bytes (bLIP 51 advises one as the `order_id`).
pub fn order_id(mut bytes: [u8; 16]) -> String {
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let h = hex::encode(bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// `lsps1.get_order`'s `order_id`.
///
/// # Errors
/// `-32602` for a missing or malformed id.
pub fn parse_get_order(params: &Map<String, Value>) -> Result<String, RpcError> {
    check_params(params, &["order_id"])?;
    match params.get("order_id") {
        Some(Value::String(s)) if !s.is_empty() && s.len() <= MAX_ORDER_ID_LEN => Ok(s.clone()),
        Some(_) => Err(invalid_param(
            "order_id",
            "not a string of 1 to 64 characters",
        )),
        None => Err(invalid_param("order_id", "missing")),
    }
}

#[cfg(test)]
#[path = "lsps1_tests.rs"]
mod tests;
