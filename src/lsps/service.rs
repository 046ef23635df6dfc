//! The LSPS2 service's request routing (bLIP 52 steps 1–2), pure: a request, the client and
//! the time in; an answer out. What `lsps2.buy` must keep goes through a [`JitBook`], so the
//! rules are tested without a database or a runtime.

use bitcoin::secp256k1::PublicKey;
use serde_json::{json, Map, Value};

use super::lsps0::{check_params, RpcError, CLIENT_REJECTED, INTERNAL_ERROR, INVALID_PARAMS};
use super::lsps2::{self, check_buy, OpeningFeeParams, PromiseKey, Terms};
use crate::wire::ShortChannelId;

/// The LSPS number this module serves.
pub const PROTOCOL: u16 = 2;
/// The most `waiting` (unexpired, unused) JIT channels one client may hold: each is a row we
/// keep until its offer expires, so a stranger's `lsps2.buy` calls are bounded.
pub const MAX_WAITING_PER_CLIENT: usize = 16;
/// The most `waiting` JIT channels across all clients.
pub const MAX_WAITING_TOTAL: usize = 10_000;
/// Tries to draw a `jit_channel_scid` no stored record has, before giving up.
pub const SCID_TRIES: usize = 8;
/// A channel's largest funding without `option_support_large_channel` (BOLT 2).
pub const MAX_CHANNEL_SAT: u64 = (1 << 24) - 1;

/// The resolved `[lsps2]` table of `chanhub.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lsps2Config {
    pub terms: Terms,
    /// The CLTV delta the client puts in its invoice's route hint; at least the forwarding
    /// policy's `cltv_delta`.
    pub lsp_cltv_expiry_delta: u32,
    /// `true`: the hub withholds the funding until the client released the preimage.
    pub client_trusts_lsp: bool,
    /// With `client_trusts_lsp`: how long the client has to claim the forwarded payment
    /// before the hub forgets the never-funded channel and fails the payment back.
    pub claim_timeout_secs: u64,
    /// Capacity the JIT channel gets beyond the payment, so the client can be paid again.
    pub inbound_liquidity_sat: u64,
    /// When set, `get_info` and `buy` need it (bLIP 52's `token`).
    pub token: Option<String>,
}

impl Lsps2Config {
    /// The rules the file's values must keep; `policy_cltv_delta` is the forwarding policy's.
    ///
    /// # Errors
    /// What is wrong, for the operator.
    pub fn validate(&self, policy_cltv_delta: u16) -> Result<(), String> {
        let t = &self.terms;
        if !(1..=3600).contains(&self.claim_timeout_secs) {
            return Err(format!(
                "claim_timeout_secs must be 1 to 3600, not {}",
                self.claim_timeout_secs
            ));
        }
        if !(600..=7 * 24 * 3600).contains(&t.valid_for_secs) {
            return Err(format!(
                "valid_for_secs must be 600 to 604800 (bLIP 52 advises at least 10 minutes), not {}",
                t.valid_for_secs
            ));
        }
        if t.proportional > 1_000_000 {
            return Err(format!(
                "proportional is in parts per million, at most 1000000, not {}",
                t.proportional
            ));
        }
        if t.min_payment_size_msat == 0 || t.min_payment_size_msat > t.max_payment_size_msat {
            return Err(format!(
                "min_payment_size_msat ({}) must be above 0 and at most max_payment_size_msat ({})",
                t.min_payment_size_msat, t.max_payment_size_msat
            ));
        }
        if t.min_fee_msat >= t.max_payment_size_msat {
            return Err(format!(
                "min_fee_msat ({}) must be below max_payment_size_msat ({}): no payment could pay it",
                t.min_fee_msat, t.max_payment_size_msat
            ));
        }
        let channel = t.max_payment_size_msat.div_ceil(1000) + self.inbound_liquidity_sat;
        if channel > MAX_CHANNEL_SAT {
            return Err(format!(
                "max_payment_size_msat plus inbound_liquidity_sat is a {channel} sat channel, above \
                 the {MAX_CHANNEL_SAT} sat maximum"
            ));
        }
        if t.min_lifetime == 0 || t.max_client_to_self_delay == 0 {
            return Err("min_lifetime and max_client_to_self_delay must be above 0".into());
        }
        if self.lsp_cltv_expiry_delta < u32::from(policy_cltv_delta)
            || self.lsp_cltv_expiry_delta > 2016
        {
            return Err(format!(
                "lsp_cltv_expiry_delta must be from the policy's cltv_delta ({policy_cltv_delta}) \
                 to 2016, not {}",
                self.lsp_cltv_expiry_delta
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
}

/// A JIT channel sold, to keep before answering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJit {
    pub scid: ShortChannelId,
    pub client: PublicKey,
    pub params: OpeningFeeParams,
    pub payment_size_msat: Option<u64>,
    pub opening_fee_msat: Option<u64>,
    pub valid_until: u64,
    pub client_trusts_lsp: bool,
    pub created_at: u64,
}

/// Where sold JIT channels are kept (the store, in the node).
pub trait JitBook {
    /// `(this client's, everyone's)` waiting channels whose offer has not expired at `now`.
    ///
    /// # Errors
    /// The store failed.
    fn waiting(&mut self, client: &PublicKey, now: u64) -> Result<(usize, usize), String>;
    /// Keeps `jit`; `Ok(false)` when its scid is taken already (draw another).
    ///
    /// # Errors
    /// The store failed.
    fn insert(&mut self, jit: &NewJit) -> Result<bool, String>;
}

/// What a request is answered with, given everything the LSP knows.
pub struct Service<'a> {
    pub config: &'a Lsps2Config,
    pub key: &'a PromiseKey,
    /// The wallet's confirmed balance, when known: a buy whose channel it cannot fund is
    /// refused now, not when the payment arrives.
    pub confirmed_sat: Option<u64>,
}

impl Service<'_> {
    /// Routes an LSPS2 request; `None` for a method this module does not serve.
    pub fn route(
        &self,
        method: &str,
        params: &Map<String, Value>,
        client: &PublicKey,
        now: u64,
        book: &mut dyn JitBook,
        draw_scid: &mut dyn FnMut() -> ShortChannelId,
    ) -> Option<Result<Value, RpcError>> {
        match method {
            "lsps2.get_info" => Some(self.get_info(params, client, now)),
            "lsps2.buy" => Some(self.buy(params, client, now, book, draw_scid)),
            _ => None,
        }
    }

    fn check_token(&self, params: &Map<String, Value>) -> Result<(), RpcError> {
        let given = match params.get("token") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.as_str()),
            Some(_) => return Err(RpcError::new(INVALID_PARAMS, "Invalid params: token")),
        };
        match &self.config.token {
            Some(want) if given != Some(want.as_str()) => Err(RpcError::new(
                lsps2::UNRECOGNIZED_OR_STALE_TOKEN,
                "unrecognized_or_stale_token",
            )),
            // An open LSP ignores any token.
            _ => Ok(()),
        }
    }

    fn get_info(
        &self,
        params: &Map<String, Value>,
        client: &PublicKey,
        now: u64,
    ) -> Result<Value, RpcError> {
        check_params(params, &["token"])?;
        self.check_token(params)?;
        let menu = lsps2::menu(&self.config.terms, self.key, client, now);
        Ok(json!({ "opening_fee_params_menu": menu }))
    }

    fn buy(
        &self,
        params: &Map<String, Value>,
        client: &PublicKey,
        now: u64,
        book: &mut dyn JitBook,
        draw_scid: &mut dyn FnMut() -> ShortChannelId,
    ) -> Result<Value, RpcError> {
        // bLIP 52's buy carries no token: the promise, made only after `get_info` checked
        // it, is bound to this client.
        check_params(params, &["opening_fee_params", "payment_size_msat"])?;
        let offer: OpeningFeeParams = params
            .get("opening_fee_params")
            .cloned()
            .and_then(|v| serde_json::from_value(v).ok())
            .ok_or_else(|| {
                RpcError::new(
                    lsps2::INVALID_OPENING_FEE_PARAMS,
                    "invalid_opening_fee_params",
                )
            })?;
        let size = match params.get("payment_size_msat") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
                Some(s.parse::<u64>().map_err(|_| {
                    RpcError::new(lsps2::PAYMENT_SIZE_TOO_LARGE, "payment_size_too_large")
                })?)
            }
            Some(_) => {
                return Err(RpcError::new(
                    INVALID_PARAMS,
                    "Invalid params: payment_size_msat is a decimal string",
                ))
            }
        };
        let bought = check_buy(self.key, client, offer, size, now)
            .map_err(|e| RpcError::new(e.code(), e.to_string()))?;
        // The smallest channel this sale may open (without a size, the offer's minimum
        // payment): a wallet that cannot fund even that refuses now.
        let payment = size.unwrap_or(bought.params.min_payment_size_msat);
        let channel_sat = payment.div_ceil(1000) + self.config.inbound_liquidity_sat;
        if self.confirmed_sat.is_some_and(|c| c < channel_sat) {
            return Err(RpcError::new(
                lsps2::PAYMENT_SIZE_TOO_LARGE,
                "payment_size_too_large: the LSP cannot fund a channel that size now",
            ));
        }
        let internal = |e: String| {
            tracing::error!(error = %e, "LSPS2: cannot keep a JIT channel");
            RpcError::new(INTERNAL_ERROR, "Internal error")
        };
        let (mine, all) = book.waiting(client, now).map_err(internal)?;
        if mine >= MAX_WAITING_PER_CLIENT || all >= MAX_WAITING_TOTAL {
            return Err(RpcError::new(
                CLIENT_REJECTED,
                "Client rejected: too many JIT channels waiting for a payment",
            ));
        }
        for _ in 0..SCID_TRIES {
            let jit = NewJit {
                scid: draw_scid(),
                client: *client,
                params: bought.params.clone(),
                payment_size_msat: bought.payment_size_msat,
                opening_fee_msat: bought.opening_fee_msat,
                valid_until: bought.valid_until_secs,
                client_trusts_lsp: self.config.client_trusts_lsp,
                created_at: now,
            };
            if book.insert(&jit).map_err(internal)? {
                return Ok(json!({
                    "jit_channel_scid": jit.scid.to_string(),
                    "lsp_cltv_expiry_delta": self.config.lsp_cltv_expiry_delta,
                    "client_trusts_lsp": self.config.client_trusts_lsp,
                }));
            }
        }
        Err(internal("no free jit_channel_scid".into()))
    }
}

#[cfg(test)]
mod tests;
