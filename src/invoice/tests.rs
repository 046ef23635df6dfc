//! Invoices we create: round trips, defaults, and a route hint through the hub.

use bitcoin::secp256k1::{PublicKey, SecretKey};
use bitcoin::Network;

use super::*;
use crate::bolt3::PaymentPreimage;
use crate::onion::crypto::secp;
use crate::onion::PaymentSecret;
use crate::wire::{Feature, Features, ShortChannelId};

fn key(b: u8) -> SecretKey {
    SecretKey::from_slice(&[b; 32]).unwrap()
}

fn params(network: Network, amount: Option<u64>) -> InvoiceParams {
    InvoiceParams::new(
        network,
        amount,
        InvoiceDescription::Direct("coffee".into()),
        PaymentPreimage([7; 32]).payment_hash(),
        PaymentSecret([9; 32]),
        1_700_000_000,
    )
}

#[test]
fn created_invoice_round_trips_with_our_defaults() {
    for network in [
        Network::Bitcoin,
        Network::Testnet,
        Network::Signet,
        Network::Regtest,
    ] {
        let p = params(network, Some(123_456));
        let inv = Invoice::create(p.clone(), &key(1)).unwrap();
        let parsed = Invoice::parse(&inv.to_string(), network).unwrap();
        assert_eq!(parsed, inv);
        assert_eq!(parsed.payee(), key(1).public_key(secp()));
        assert_eq!(parsed.amount_msat(), Some(123_456));
        assert_eq!(parsed.payment_hash(), p.payment_hash);
        assert_eq!(parsed.payment_secret(), p.payment_secret);
        assert_eq!(parsed.description(), p.description);
        assert_eq!(parsed.timestamp(), 1_700_000_000);
        assert_eq!(parsed.expiry_secs(), DEFAULT_EXPIRY_SECS);
        assert_eq!(
            parsed.min_final_cltv_expiry_delta(),
            u64::from(DEFAULT_MIN_FINAL_CLTV_EXPIRY_DELTA)
        );
        assert!(parsed.features().requires(Feature::VarOnionOptin));
        assert!(parsed.features().requires(Feature::PaymentSecret));
        assert!(parsed.route_hints().is_empty());
        assert!(parsed.is_expired(1_700_003_600));
        assert!(!parsed.is_expired(1_700_003_599));
    }
}

#[test]
fn open_amount_description_hash_and_features() {
    let mut p = params(Network::Regtest, None);
    p.description = InvoiceDescription::Hash([5; 32]);
    p.expiry_secs = 86_400;
    p.min_final_cltv_expiry_delta = 144;
    let mut f = Features::empty();
    f.set_optional(Feature::BasicMpp);
    p.features = f;
    let s = Invoice::create(p, &key(2)).unwrap().to_string();
    assert!(s.starts_with("lnbcrt1"), "{s}");
    let inv = Invoice::parse(&s, Network::Regtest).unwrap();
    assert_eq!(inv.amount_msat(), None);
    assert_eq!(inv.description(), InvoiceDescription::Hash([5; 32]));
    assert_eq!(inv.expiry_secs(), 86_400);
    assert_eq!(inv.min_final_cltv_expiry_delta(), 144);
    assert!(inv.features().supports(Feature::BasicMpp));
    assert!(!inv.features().requires(Feature::BasicMpp));
}

#[test]
fn route_hint_through_the_hub() {
    // Bob has only a private channel to the hub; his invoice tells payers to reach him
    // through it, with the hub's fee and CLTV delta.
    let hub: PublicKey = key(3).public_key(secp());
    let hint = RouteHint(vec![RouteHintHop {
        src_node_id: hub,
        short_channel_id: ShortChannelId::new(800_000, 12, 1).unwrap(),
        fee_base_msat: 1000,
        fee_proportional_millionths: 100,
        cltv_expiry_delta: 40,
    }]);
    let mut p = params(Network::Regtest, Some(50_000_000));
    p.route_hints = vec![hint.clone()];
    let s = Invoice::create(p, &key(4)).unwrap().to_string();
    let inv = Invoice::parse(&s, Network::Regtest).unwrap();
    assert_eq!(inv.payee(), key(4).public_key(secp()));
    assert_eq!(inv.route_hints(), vec![hint]);
}

#[test]
fn tampering_breaks_the_signature_or_checksum() {
    let s = Invoice::create(params(Network::Regtest, Some(1000)), &key(5))
        .unwrap()
        .to_string();
    // Swap one data character: the bech32 checksum catches it.
    let mut chars: Vec<char> = s.chars().collect();
    let i = chars.len() / 2;
    chars[i] = if chars[i] == 'q' { 'p' } else { 'q' };
    let tampered: String = chars.into_iter().collect();
    assert!(matches!(
        Invoice::parse(&tampered, Network::Regtest),
        Err(InvoiceError::Encoding(_))
    ));
}

#[test]
fn creation_limits_are_errors() {
    let mut p = params(Network::Regtest, Some(1));
    p.description = InvoiceDescription::Direct("x".repeat(640));
    assert!(matches!(
        Invoice::create(p, &key(6)),
        Err(InvoiceError::Create(_))
    ));
    let p = params(Network::Regtest, Some(21_000_000 * 100_000_000 * 1000 + 1));
    assert!(matches!(
        Invoice::create(p, &key(6)),
        Err(InvoiceError::Create(_))
    ));
}
