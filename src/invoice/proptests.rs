//! Property tests: no string makes the parser panic, and invoices we create with arbitrary
//! parameters parse back to them.

use bitcoin::secp256k1::SecretKey;
use bitcoin::Network;
use proptest::prelude::*;

use super::*;
use crate::bolt3::PaymentHash;
use crate::onion::crypto::secp;
use crate::onion::PaymentSecret;
use crate::wire::ShortChannelId;

const BECH32: &str = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

/// Strings that look like invoices, so the parser gets past the prefix.
fn invoice_like() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec!["lnbc", "lntb", "lnbcrt", "lnsb", "LNBC", "ln", ""]),
        prop::option::of(0u64..100_000),
        prop::option::of(prop::sample::select(vec!['m', 'u', 'n', 'p', 'x'])),
        prop::collection::vec(
            prop::sample::select(BECH32.chars().collect::<Vec<_>>()),
            0..400,
        ),
    )
        .prop_map(|(hrp, amount, mult, data)| {
            let mut s = hrp.to_string();
            if let Some(a) = amount {
                s.push_str(&a.to_string());
            }
            s.extend(mult);
            s.push('1');
            s.extend(data);
            s
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn arbitrary_strings_never_panic(s in ".{0,500}") {
        let _ = Invoice::parse(&s, Network::Bitcoin);
    }

    #[test]
    fn invoice_like_strings_never_panic(s in invoice_like()) {
        let _ = Invoice::parse(&s, Network::Bitcoin);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn created_invoices_parse_back(
        key in any::<[u8; 32]>().prop_filter_map("key", |b| SecretKey::from_slice(&b).ok()),
        // Invoices count in pico-bitcoin, so amounts stop at a tenth of u64::MAX msat.
        amount in prop::option::of(1u64..=u64::MAX / 10),
        text in "[a-zA-Z0-9 ]{0,100}",
        hash in any::<[u8; 32]>(),
        secret in any::<[u8; 32]>(),
        expiry in 1u64..1_000_000,
        cltv in 1u16..2016,
        timestamp in 0u64..(1 << 35),
        scid in any::<u64>(),
        fee in (any::<u32>(), any::<u32>(), any::<u16>()),
    ) {
        let hub = SecretKey::from_slice(&[3; 32]).unwrap().public_key(secp());
        let hints = vec![RouteHint(vec![RouteHintHop {
            src_node_id: hub,
            short_channel_id: ShortChannelId(scid),
            fee_base_msat: fee.0,
            fee_proportional_millionths: fee.1,
            cltv_expiry_delta: fee.2,
        }])];
        let mut p = InvoiceParams::new(
            Network::Regtest, amount, InvoiceDescription::Direct(text.clone()),
            PaymentHash(hash), PaymentSecret(secret), timestamp,
        );
        p.expiry_secs = expiry;
        p.min_final_cltv_expiry_delta = cltv;
        p.route_hints = hints.clone();
        let s = Invoice::create(p, &key).unwrap().to_string();
        let inv = Invoice::parse(&s, Network::Regtest).unwrap();
        prop_assert_eq!(inv.payee(), key.public_key(secp()));
        prop_assert_eq!(inv.amount_msat(), amount);
        prop_assert_eq!(inv.description(), InvoiceDescription::Direct(text));
        prop_assert_eq!(inv.payment_hash(), PaymentHash(hash));
        prop_assert_eq!(inv.payment_secret(), PaymentSecret(secret));
        prop_assert_eq!(inv.expiry_secs(), expiry);
        prop_assert_eq!(inv.min_final_cltv_expiry_delta(), u64::from(cltv));
        prop_assert_eq!(inv.timestamp(), timestamp);
        prop_assert_eq!(inv.route_hints(), hints);
        prop_assert_eq!(inv.to_string(), s);
    }
}
