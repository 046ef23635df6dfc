//! [`Invoice`]: create, parse and verify BOLT 11 payment requests, on `lightning-invoice`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use bitcoin::hashes::{sha256, Hash};
use bitcoin::secp256k1::ecdsa::{RecoverableSignature, Signature};
use bitcoin::secp256k1::{PublicKey, SecretKey};
use bitcoin::Network;
use lightning_invoice as li;
use lightning_invoice::{
    Bolt11Invoice, Bolt11InvoiceDescriptionRef, Currency, InvoiceBuilder, RawTaggedField,
    SignedRawBolt11Invoice, TaggedField,
};
use lightning_types::features::Bolt11InvoiceFeatures;

use super::error::InvoiceError;
use super::types::{InvoiceDescription, InvoiceParams, RouteHint, RouteHintHop};
use crate::bolt3::PaymentHash;
use crate::onion::crypto::secp;
use crate::onion::PaymentSecret;
use crate::wire::{Feature, Features, ShortChannelId};

/// A BOLT 11 invoice whose signature, field rules and features have been checked.
#[derive(Clone, PartialEq, Eq)]
pub struct Invoice {
    inner: Bolt11Invoice,
    /// The `n` field, or the key the signature recovers: found once, at parse (each ask of
    /// lightning-invoice recovers it again, with a new secp256k1 context).
    payee: PublicKey,
}

/// The payee of a signed invoice if its signature holds: the `n` field the signature must
/// verify against, or else the key it recovers (BOLT 11). With the process's one context.
fn signed_payee(signed: &SignedRawBolt11Invoice) -> Option<PublicKey> {
    let digest = bitcoin::secp256k1::Message::from_digest(*signed.signable_hash());
    let sig = &signed.signature().0;
    match signed.raw_invoice().payee_pub_key() {
        Some(n) => secp()
            .verify_ecdsa(&digest, &sig.to_standard(), &n.0)
            .ok()
            .map(|()| n.0),
        None => secp().recover_ecdsa(&digest, sig).ok(),
    }
}

/// BOLT 11 prefixes name the chain, not the network flavour: testnet3 and testnet4 share `tb`.
fn currency(network: Network) -> Currency {
    match network {
        Network::Bitcoin => Currency::Bitcoin,
        Network::Signet => Currency::Signet,
        Network::Regtest => Currency::Regtest,
        _ => Currency::BitcoinTestnet,
    }
}

fn network_of(currency: Currency) -> Network {
    match currency {
        Currency::Bitcoin => Network::Bitcoin,
        Currency::BitcoinTestnet => Network::Testnet,
        Currency::Signet => Network::Signet,
        Currency::Regtest | Currency::Simnet => Network::Regtest,
    }
}

/// Our features in the invoice's little-endian form, plus the two we always require.
fn invoice_features(extra: &Features) -> Bolt11InvoiceFeatures {
    let mut f = extra.clone();
    f.set_required(Feature::VarOnionOptin);
    f.set_required(Feature::PaymentSecret);
    let mut le = f.to_wire_bytes();
    le.reverse();
    Bolt11InvoiceFeatures::from_le_bytes(le)
}

impl Invoice {
    /// Builds and signs an invoice with the node key.
    ///
    /// # Errors
    /// [`InvoiceError::Create`] for a description over 639 bytes, an amount over the bitcoin
    /// supply, a timestamp out of range or a route hint too long to encode.
    pub fn create(params: InvoiceParams, node_key: &SecretKey) -> Result<Invoice, InvoiceError> {
        let description = match params.description {
            InvoiceDescription::Direct(text) => li::Bolt11InvoiceDescription::Direct(
                li::Description::new(text).map_err(InvoiceError::from)?,
            ),
            InvoiceDescription::Hash(h) => {
                li::Bolt11InvoiceDescription::Hash(li::Sha256(sha256::Hash::from_byte_array(h)))
            }
        };
        let mut builder = InvoiceBuilder::new(currency(params.network))
            .invoice_description(description)
            .payment_hash(sha256::Hash::from_byte_array(params.payment_hash.0))
            .payment_secret(li::PaymentSecret(params.payment_secret.0))
            .duration_since_epoch(Duration::from_secs(params.timestamp))
            .min_final_cltv_expiry_delta(u64::from(params.min_final_cltv_expiry_delta))
            .expiry_time(Duration::from_secs(params.expiry_secs));
        if let Some(amount) = params.amount_msat {
            builder = builder.amount_milli_satoshis(amount);
        }
        for hint in &params.route_hints {
            builder = builder.private_route(to_li_hint(hint));
        }
        let mut raw = builder.build_raw()?;
        let features = invoice_features(&params.features);
        for field in &mut raw.data.tagged_fields {
            if let RawTaggedField::KnownSemantics(TaggedField::Features(f)) = field {
                *f = features.clone();
            }
        }
        let signed = raw
            .sign::<_, std::convert::Infallible>(|msg| {
                Ok(secp().sign_ecdsa_recoverable(msg, node_key))
            })
            .map_err(|never: std::convert::Infallible| -> InvoiceError { match never {} })?;
        // `from_signed` re-checks every rule (the signature too) on what we built, so we never
        // hand out an invoice we would refuse to pay; the payee is the key that signed.
        Ok(Invoice {
            inner: Bolt11Invoice::from_signed(signed)?,
            payee: node_key.public_key(secp()),
        })
    }

    /// Parses and verifies an invoice for `network`. Upper or lower case is accepted, mixed
    /// case is not.
    ///
    /// # Errors
    /// The first rule the string breaks; see [`InvoiceError`].
    pub fn parse(s: &str, network: Network) -> Result<Invoice, InvoiceError> {
        let signed = with_low_s(SignedRawBolt11Invoice::from_str(s)?)?;
        // The signature first: nothing in an invoice that fails it can be trusted, so its
        // other faults are not worth reporting.
        let payee = signed_payee(&signed).ok_or(InvoiceError::InvalidSignature)?;
        let inner = Bolt11Invoice::from_signed(signed)?;
        if inner.currency() != currency(network) {
            return Err(InvoiceError::WrongNetwork {
                expected: network,
                found: network_of(inner.currency()),
            });
        }
        Ok(Invoice { inner, payee })
    }

    /// The node to pay: the `n` field if present, else the key recovered from the signature.
    pub fn payee(&self) -> PublicKey {
        self.payee
    }

    pub fn amount_msat(&self) -> Option<u64> {
        self.inner.amount_milli_satoshis()
    }

    pub fn payment_hash(&self) -> PaymentHash {
        PaymentHash(self.inner.payment_hash().to_byte_array())
    }

    pub fn payment_secret(&self) -> PaymentSecret {
        PaymentSecret(self.inner.payment_secret().0)
    }

    pub fn description(&self) -> InvoiceDescription {
        match self.inner.description() {
            Bolt11InvoiceDescriptionRef::Direct(d) => {
                InvoiceDescription::Direct(d.as_inner().0.clone())
            }
            Bolt11InvoiceDescriptionRef::Hash(h) => InvoiceDescription::Hash(h.0.to_byte_array()),
        }
    }

    /// Private routes to the payee, in the order given.
    pub fn route_hints(&self) -> Vec<RouteHint> {
        self.inner.route_hints().iter().map(from_li_hint).collect()
    }

    /// The final hop's CLTV delta: the `c` field, or 18 when absent.
    pub fn min_final_cltv_expiry_delta(&self) -> u64 {
        self.inner.min_final_cltv_expiry_delta()
    }

    /// The `9` field as a feature set (empty when absent).
    pub fn features(&self) -> Features {
        let mut be = self
            .inner
            .features()
            .map(|f| f.le_flags().to_vec())
            .unwrap_or_default();
        be.reverse();
        Features::from_wire_bytes(&be)
    }

    pub fn payment_metadata(&self) -> Option<&[u8]> {
        self.inner.payment_metadata().map(Vec::as_slice)
    }

    pub fn network(&self) -> Network {
        network_of(self.inner.currency())
    }

    /// Creation time, seconds since the Unix epoch.
    pub fn timestamp(&self) -> u64 {
        self.inner.duration_since_epoch().as_secs()
    }

    /// Seconds after [`Invoice::timestamp`] the invoice stays valid (3600 when absent).
    pub fn expiry_secs(&self) -> u64 {
        self.inner.expiry_time().as_secs()
    }

    /// When the invoice expires, seconds since the Unix epoch.
    pub fn expires_at(&self) -> u64 {
        self.timestamp().saturating_add(self.expiry_secs())
    }

    /// Whether a payment started at `now` (Unix seconds) is too late.
    pub fn is_expired(&self, now: u64) -> bool {
        now >= self.expires_at()
    }
}

impl fmt::Display for Invoice {
    /// The bech32 string, lower case.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

impl fmt::Debug for Invoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Invoice({})", self.inner)
    }
}

/// BOLT 11 readers must accept a high-S signature when they recover the payee's key: the
/// recovery id is kept and `s` is replaced by `n - s` before recovery. With an explicit `n`
/// field the signature is verified as is, and a high-S one fails.
fn with_low_s(signed: SignedRawBolt11Invoice) -> Result<SignedRawBolt11Invoice, InvoiceError> {
    if signed.raw_invoice().payee_pub_key().is_some() {
        return Ok(signed);
    }
    let (recovery_id, compact) = signed.signature().0.serialize_compact();
    let mut standard =
        Signature::from_compact(&compact).map_err(|_| InvoiceError::InvalidSignature)?;
    standard.normalize_s();
    let low = standard.serialize_compact();
    if low == compact {
        return Ok(signed);
    }
    let normalized = RecoverableSignature::from_compact(&low, recovery_id)
        .map_err(|_| InvoiceError::InvalidSignature)?;
    let (raw, _, _) = signed.into_parts();
    raw.sign::<_, std::convert::Infallible>(|_| Ok(normalized))
        .map_err(|never: std::convert::Infallible| -> InvoiceError { match never {} })
}

fn to_li_hint(hint: &RouteHint) -> li::RouteHint {
    li::RouteHint(
        hint.0
            .iter()
            .map(|h| li::RouteHintHop {
                src_node_id: h.src_node_id,
                short_channel_id: h.short_channel_id.0,
                fees: li::RoutingFees {
                    base_msat: h.fee_base_msat,
                    proportional_millionths: h.fee_proportional_millionths,
                },
                cltv_expiry_delta: h.cltv_expiry_delta,
                htlc_minimum_msat: None,
                htlc_maximum_msat: None,
            })
            .collect(),
    )
}

fn from_li_hint(hint: &li::RouteHint) -> RouteHint {
    RouteHint(
        hint.0
            .iter()
            .map(|h| RouteHintHop {
                src_node_id: h.src_node_id,
                short_channel_id: ShortChannelId(h.short_channel_id),
                fee_base_msat: h.fees.base_msat,
                fee_proportional_millionths: h.fees.proportional_millionths,
                cltv_expiry_delta: h.cltv_expiry_delta,
            })
            .collect(),
    )
}
