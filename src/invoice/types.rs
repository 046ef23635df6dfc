//! The values an invoice carries, in our own types.

use bitcoin::secp256k1::PublicKey;
use bitcoin::Network;

use crate::bolt3::PaymentHash;
use crate::onion::PaymentSecret;
use crate::wire::{Features, ShortChannelId};

/// How long an invoice we create stays payable unless the caller says otherwise (and the
/// BOLT 11 default when the `x` field is absent).
pub const DEFAULT_EXPIRY_SECS: u64 = 3600;

/// The `min_final_cltv_expiry_delta` we ask for: BOLT 11's default is 18, too short for a hub
/// that must be able to claim on chain if a peer stops cooperating; 40 blocks (~6.7 hours)
/// leaves room to force close and confirm. This is the receiver's margin, not the hub's
/// forwarding delta.
pub const DEFAULT_MIN_FINAL_CLTV_EXPIRY_DELTA: u16 = 40;

/// BOLT 11's default when the `c` field is absent.
pub const BOLT11_DEFAULT_MIN_FINAL_CLTV_EXPIRY_DELTA: u64 = 18;

/// What the invoice says the payment is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvoiceDescription {
    /// `d`: a short UTF-8 description (at most 639 bytes).
    Direct(String),
    /// `h`: SHA256 of a longer description the payer gets some other way.
    Hash([u8; 32]),
}

/// One channel of a private route towards the payee (BOLT 11 `r` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteHintHop {
    /// The node at the channel's near end (for a hub: the hub's node id).
    pub src_node_id: PublicKey,
    pub short_channel_id: ShortChannelId,
    pub fee_base_msat: u32,
    pub fee_proportional_millionths: u32,
    pub cltv_expiry_delta: u16,
}

/// A private route: hops in order, the last one's channel ends at the payee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteHint(pub Vec<RouteHintHop>);

/// Everything [`super::Invoice::create`] needs.
#[derive(Debug, Clone)]
pub struct InvoiceParams {
    /// `None` for an open-amount invoice: the payer chooses.
    pub amount_msat: Option<u64>,
    pub description: InvoiceDescription,
    /// Seconds after `timestamp` at which the invoice expires.
    pub expiry_secs: u64,
    pub payment_hash: PaymentHash,
    pub payment_secret: PaymentSecret,
    pub min_final_cltv_expiry_delta: u16,
    /// Private routes to us, e.g. through the hub to a user without public channels.
    pub route_hints: Vec<RouteHint>,
    /// Features to announce besides the two every invoice of ours requires
    /// (`var_onion_optin`, `payment_secret`), e.g. `basic_mpp` optional.
    pub features: Features,
    pub network: Network,
    /// Creation time, in seconds since the Unix epoch (a parameter so tests are repeatable).
    pub timestamp: u64,
}

impl InvoiceParams {
    /// Parameters with our defaults: no route hints or extra features, 3600 s expiry, our
    /// final CLTV delta.
    pub fn new(
        network: Network,
        amount_msat: Option<u64>,
        description: InvoiceDescription,
        payment_hash: PaymentHash,
        payment_secret: PaymentSecret,
        timestamp: u64,
    ) -> Self {
        Self {
            amount_msat,
            description,
            expiry_secs: DEFAULT_EXPIRY_SECS,
            payment_hash,
            payment_secret,
            min_final_cltv_expiry_delta: DEFAULT_MIN_FINAL_CLTV_EXPIRY_DELTA,
            route_hints: Vec::new(),
            features: Features::empty(),
            network,
            timestamp,
        }
    }
}
