//! The records and events of payments, shared by the engine, the store, the API and the CLI.

use std::sync::{Arc, RwLock};

use bitcoin::secp256k1::PublicKey;
use serde::{Deserialize, Serialize};

/// One HTLC on one channel: the channel's final id and the HTLC's id in its direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HtlcRef {
    pub channel_id: [u8; 32],
    pub htlc_id: u64,
}

/// What the hub charges to forward a payment over one of its channels (BOLT 7 fields), and
/// what it announces to its peers in `channel_update`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeePolicy {
    pub base_msat: u32,
    /// Proportional fee, parts per million of the forwarded amount.
    pub ppm: u32,
    /// Blocks the hub keeps between the incoming and the outgoing HTLC's expiry.
    pub cltv_delta: u16,
}

impl Default for FeePolicy {
    fn default() -> Self {
        FeePolicy {
            base_msat: 1_000,
            ppm: 100,
            cltv_delta: DEFAULT_CLTV_DELTA,
        }
    }
}

/// The live fee policy, shared by the API (which changes it) and the HTLC router (which
/// charges it). A std lock: it is held only to copy the value, never across an `.await`.
pub type SharedPolicy = Arc<RwLock<FeePolicy>>;

/// The smallest `cltv_delta` we accept. After the outgoing HTLC expires we wait
/// `OFFERED_GRACE_BLOCKS` (3) before going on chain, and the timeout claim must be deep before
/// the incoming HTLC comes within `RECEIVED_CLAIM_BUFFER` (12) blocks of its expiry (a preimage
/// learnt then still leaves time to claim upstream): 34 leaves 19 blocks for our commitment and
/// the timeout claim to confirm, with fees rising as that deadline nears. Replacement cycling
/// makes every block count: a peer can keep our claim out of the mempool block after block.
pub const MIN_CLTV_DELTA: u16 = 34;
/// The default `cltv_delta`: 65 blocks to get the timeout claim confirmed.
pub const DEFAULT_CLTV_DELTA: u16 = 80;
const _: () = assert!(
    MIN_CLTV_DELTA as u32
        >= crate::channel::queries::OFFERED_GRACE_BLOCKS
            + crate::channel::queries::RECEIVED_CLAIM_BUFFER
            + 19
);
/// The largest `cltv_delta` we accept: payers refuse routes whose total delta is over 2016.
pub const MAX_CLTV_DELTA: u16 = 2016;
/// The largest proportional fee: 100% of the amount.
pub const MAX_PPM: u32 = 1_000_000;

impl FeePolicy {
    /// Checks the policy is one the hub may announce and charge.
    ///
    /// # Errors
    /// A message naming the field out of range.
    pub fn validate(&self) -> Result<(), String> {
        if self.ppm > MAX_PPM {
            return Err(format!("ppm {} is above {MAX_PPM} (100%)", self.ppm));
        }
        if !(MIN_CLTV_DELTA..=MAX_CLTV_DELTA).contains(&self.cltv_delta) {
            return Err(format!(
                "cltv_delta {} is outside {MIN_CLTV_DELTA}..={MAX_CLTV_DELTA} blocks",
                self.cltv_delta
            ));
        }
        Ok(())
    }

    /// BOLT 7: `base + amount * ppm / 1_000_000`, rounded down; `None` on overflow.
    pub fn fee_msat(&self, amount_to_forward: u64) -> Option<u64> {
        let prop = u128::from(amount_to_forward) * u128::from(self.ppm) / 1_000_000;
        u64::try_from(prop)
            .ok()?
            .checked_add(u64::from(self.base_msat))
    }
}

/// An invoice's life. `expired` is decided at read time from `expires_at` for an open one.
/// `held`: a hold invoice's payment arrived whole and waits for its settle or cancel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceStatus {
    Open,
    Held,
    Paid,
    Expired,
    Cancelled,
}

impl InvoiceStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            InvoiceStatus::Open => "open",
            InvoiceStatus::Held => "held",
            InvoiceStatus::Paid => "paid",
            InvoiceStatus::Expired => "expired",
            InvoiceStatus::Cancelled => "cancelled",
        }
    }
}

/// An invoice this node issued. The preimage stays inside the node until it settles an HTLC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceRecord {
    pub payment_hash: [u8; 32],
    pub bolt11: String,
    /// `None`: a hold invoice not settled yet (its caller keeps the preimage).
    pub preimage: Option<[u8; 32]>,
    pub payment_secret: [u8; 32],
    /// `None`: the payer chooses the amount.
    pub amount_msat: Option<u64>,
    /// The text of a `d` invoice; empty for an `h` one.
    pub description: String,
    /// The `h` field: SHA256 of a description the payer got elsewhere (LNURL-pay).
    pub description_hash: Option<[u8; 32]>,
    pub min_final_cltv_expiry_delta: u16,
    /// Unix seconds.
    pub created_at: u64,
    pub expires_at: u64,
    pub status: InvoiceStatus,
    /// Set once held or paid: what arrived; once paid, when, and by which HTLC.
    pub received_msat: Option<u64>,
    pub paid_at: Option<u64>,
    pub paid_by: Option<HtlcRef>,
}

impl InvoiceRecord {
    /// The status users see at `now` (Unix seconds): the stored one, except that an open
    /// invoice past `expires_at` reads `expired` (the store never writes `expired`).
    pub fn status_at(&self, now: u64) -> InvoiceStatus {
        if self.status == InvoiceStatus::Open && now >= self.expires_at {
            InvoiceStatus::Expired
        } else {
            self.status
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    Pending,
    Succeeded,
    Failed,
}

impl PaymentStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            PaymentStatus::Pending => "pending",
            PaymentStatus::Succeeded => "succeeded",
            PaymentStatus::Failed => "failed",
        }
    }
}

/// An outgoing payment, one per payment hash: paying the same hash again returns this record
/// while it is pending or succeeded, and starts a new payment only after a failure. Its HTLCs
/// are [`AttemptRecord`]s: retries, and the parts of a multi-part payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRecord {
    pub payment_hash: [u8; 32],
    /// `None` for a keysend payment (to a node id, no invoice).
    pub bolt11: Option<String>,
    pub payee: PublicKey,
    /// What the payee receives.
    pub amount_msat: u64,
    /// Fees to the forwarding hops of the parts in flight or through: final on success.
    pub fee_msat: u64,
    pub status: PaymentStatus,
    /// The proof of payment once succeeded; a keysend payment knows it from the start.
    pub preimage: Option<[u8; 32]>,
    /// Why it failed, for people: the failure code's name and which hop said it.
    pub failure: Option<String>,
    pub created_at: u64,
    pub resolved_at: Option<u64>,
    /// The payer's limits, kept so retries after a restart honour them.
    pub max_fee_msat: u64,
    pub max_total_cltv_expiry_delta: u32,
    /// No new attempt starts after `created_at + timeout_secs`.
    pub timeout_secs: u32,
}

/// One hop of an attempt's route, as people read it: the node reached, the channel that
/// reached it, and the HTLC it received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptHop {
    pub node_id: PublicKey,
    /// `None` for our own channel when it has no public scid.
    pub short_channel_id: Option<String>,
    pub amount_msat: u64,
    pub cltv_expiry: u32,
}

/// One HTLC of a payment: a retry, or a part of a multi-part payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRecord {
    pub payment_hash: [u8; 32],
    pub id: u32,
    /// Our HTLC carrying it, on the channel to the first hop.
    pub htlc: HtlcRef,
    /// What this part delivers to the payee.
    pub amount_msat: u64,
    pub fee_msat: u64,
    /// The onion's session key and the route's node ids: enough to decrypt a failure.
    pub session_key: [u8; 32],
    pub route: Vec<PublicKey>,
    pub hops: Vec<AttemptHop>,
    pub status: PaymentStatus,
    pub failure: Option<String>,
    pub created_at: u64,
    pub resolved_at: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ForwardStatus {
    Pending,
    Settled,
    Failed,
}

impl ForwardStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            ForwardStatus::Pending => "pending",
            ForwardStatus::Settled => "settled",
            ForwardStatus::Failed => "failed",
        }
    }
}

/// An HTLC the hub forwarded: one per incoming HTLC, so it is never forwarded twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardRecord {
    pub incoming: HtlcRef,
    pub outgoing: HtlcRef,
    pub payment_hash: [u8; 32],
    pub in_msat: u64,
    pub out_msat: u64,
    pub in_cltv_expiry: u32,
    pub out_cltv_expiry: u32,
    pub status: ForwardStatus,
    /// The incoming onion's shared secret: wraps a downstream failure on its way back.
    pub shared_secret: [u8; 32],
    /// Settled: the preimage, to settle the incoming HTLC again after a restart.
    pub preimage: Option<[u8; 32]>,
    pub failure: Option<String>,
    pub created_at: u64,
    pub resolved_at: Option<u64>,
}

impl ForwardRecord {
    pub fn fee_msat(&self) -> u64 {
        self.in_msat.saturating_sub(self.out_msat)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_limits() {
        assert!(FeePolicy::default().validate().is_ok());
        // Replacement cycling: at least 80 by default, never below 34.
        assert!(FeePolicy::default().cltv_delta >= 80);
        assert_eq!(MIN_CLTV_DELTA, 34);
        let p = |base_msat, ppm, cltv_delta| FeePolicy {
            base_msat,
            ppm,
            cltv_delta,
        };
        assert!(p(0, MAX_PPM, MIN_CLTV_DELTA).validate().is_ok());
        assert!(p(u32::MAX, 0, MAX_CLTV_DELTA).validate().is_ok());
        assert!(p(0, MAX_PPM + 1, 40)
            .validate()
            .unwrap_err()
            .contains("ppm"));
        assert!(p(0, 1, MIN_CLTV_DELTA - 1)
            .validate()
            .unwrap_err()
            .contains("cltv_delta"));
        assert!(p(0, 1, MAX_CLTV_DELTA + 1).validate().is_err());
    }
}
