//! Every example of BOLT 11: valid ones parse to the listed fields and re-encode to the same
//! string; invalid ones are refused for the stated reason. The strings live in
//! `testdata/bolt11-examples.json`, in the specification's order.

use bitcoin::hashes::{sha256, Hash};
use bitcoin::secp256k1::PublicKey;
use bitcoin::Network;
use serde_json::Value;

use super::*;
use crate::wire::{Feature, ShortChannelId};

const EXAMPLES: &str = include_str!("testdata/bolt11-examples.json");

const PAYEE: &str = "03e7156ae33b0a208d0744199163177e909e80176e55d97a2f221ede0f934dd9ad";
const HASH: &str = "0001020304050607080900010203040506070809000102030405060708090102";
const TIMESTAMP: u64 = 1496314658;
const CAKE: &str =
    "One piece of chocolate cake, one icecream cone, one pickle, one slice of swiss \
                    cheese, one slice of salami, one lollypop, one piece of cherry pie, one \
                    sausage, one cupcake, and one slice of watermelon";

fn examples(valid: bool) -> Vec<(String, String)> {
    let v: Value = serde_json::from_str(EXAMPLES).unwrap();
    v["examples"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["valid"].as_bool() == Some(valid))
        .map(|e| {
            (
                e["title"].as_str().unwrap().to_string(),
                e["invoice"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn pk(hex_str: &str) -> PublicKey {
    PublicKey::from_slice(&hex::decode(hex_str).unwrap()).unwrap()
}

fn direct(s: &str) -> InvoiceDescription {
    InvoiceDescription::Direct(s.to_string())
}

fn cake() -> InvoiceDescription {
    InvoiceDescription::Hash(sha256::Hash::hash(CAKE.as_bytes()).to_byte_array())
}

/// The listed fields of one valid example.
struct Expected {
    network: Network,
    amount_msat: Option<u64>,
    description: InvoiceDescription,
    expiry_secs: u64,
    min_final_cltv: u64,
    features: Vec<usize>,
    route_hints: Vec<RouteHint>,
}

fn expect(amount_msat: Option<u64>, description: InvoiceDescription) -> Expected {
    Expected {
        network: Network::Bitcoin,
        amount_msat,
        description,
        expiry_secs: 3600,
        min_final_cltv: 18,
        features: vec![8, 14],
        route_hints: vec![],
    }
}

fn hop(node: &str, scid: (u32, u32, u16), base: u32, ppm: u32, cltv: u16) -> RouteHintHop {
    RouteHintHop {
        src_node_id: pk(node),
        short_channel_id: ShortChannelId::new(scid.0, scid.1, scid.2).unwrap(),
        fee_base_msat: base,
        fee_proportional_millionths: ppm,
        cltv_expiry_delta: cltv,
    }
}

fn expected_valid() -> Vec<Expected> {
    let coffee = |e: &mut Expected| e.expiry_secs = 60;
    let mut v = vec![
        expect(None, direct("Please consider supporting this project")),
        expect(Some(250_000_000), direct("1 cup coffee")),
        expect(Some(250_000_000), direct("ナンセンス 1杯")),
        expect(Some(2_000_000_000), cake()),
        expect(Some(2_000_000_000), cake()),
        expect(Some(2_000_000_000), cake()),
        expect(Some(2_000_000_000), cake()),
        expect(Some(2_000_000_000), cake()),
        expect(Some(2_000_000_000), cake()),
        expect(Some(2_000_000_000), cake()),
        expect(
            Some(967_878_534),
            direct(
                "Blockstream Store: 88.85 USD for Blockstream Ledger Nano S x 1, \"Back In My \
                 Day\" Sticker x 2, \"I Got Lightning Working\" Sticker x 2 and 1 more items",
            ),
        ),
        expect(Some(2_500_000_000), direct("coffee beans")),
        expect(Some(2_500_000_000), direct("coffee beans")),
        expect(Some(2_500_000_000), direct("coffee beans")),
        expect(Some(1_000_000_000), direct("payment metadata inside")),
        expect(None, direct("Please consider supporting this project")),
    ];
    coffee(&mut v[1]);
    coffee(&mut v[2]);
    v[4].network = Network::Testnet;
    v[5].route_hints = vec![RouteHint(vec![
        hop(
            "029e03a901b85534ff1e92c43c74431f7ce72046060fcf7a95c37e148f78c77255",
            (66051, 263430, 1800),
            1,
            20,
            3,
        ),
        hop(
            "039e03a901b85534ff1e92c43c74431f7ce72046060fcf7a95c37e148f78c77255",
            (197637, 395016, 2314),
            2,
            30,
            4,
        ),
    ])];
    v[10].expiry_secs = 604800;
    v[10].min_final_cltv = 10;
    v[10].route_hints = vec![RouteHint(vec![hop(
        "03d06758583bb5154774a6eb221b1276c9e82d65bbaceca806d90e20c108f4b1c7",
        (589390, 3312, 1),
        1000,
        2500,
        40,
    )])];
    for e in &mut v[11..=13] {
        e.features = vec![8, 14, 99];
    }
    v[14].features = vec![8, 14, 48];
    v
}

#[test]
fn valid_examples_parse_to_their_fields_and_re_encode() {
    let valid = examples(true);
    let expected = expected_valid();
    assert_eq!(valid.len(), expected.len());
    for ((title, s), e) in valid.iter().zip(&expected) {
        let inv = Invoice::parse(s, e.network).unwrap_or_else(|err| panic!("{title}: {err}"));
        assert_eq!(inv.payee(), pk(PAYEE), "{title}");
        assert_eq!(inv.amount_msat(), e.amount_msat, "{title}");
        assert_eq!(inv.description(), e.description, "{title}");
        assert_eq!(inv.expiry_secs(), e.expiry_secs, "{title}");
        assert_eq!(
            inv.min_final_cltv_expiry_delta(),
            e.min_final_cltv,
            "{title}"
        );
        assert_eq!(
            inv.features().set_bits().collect::<Vec<_>>(),
            e.features,
            "{title}"
        );
        assert_eq!(inv.route_hints(), e.route_hints, "{title}");
        assert_eq!(inv.payment_secret().0, [0x11; 32], "{title}");
        assert_eq!(inv.network(), e.network, "{title}");
        // Encoding the parsed invoice gives back the example (in lower case), except that a
        // high-S signature is kept in its low-S form.
        if !title.contains("high-S") {
            assert_eq!(inv.to_string(), s.to_lowercase(), "{title}");
        }
    }
    // The high-S example is the first one with `s` negated: normalised, they are the same.
    let high_s = Invoice::parse(&valid[15].1, Network::Bitcoin).unwrap();
    assert_eq!(high_s.to_string(), valid[0].1);
}

#[test]
fn valid_example_details() {
    let valid = examples(true);
    let first = Invoice::parse(&valid[0].1, Network::Bitcoin).unwrap();
    assert_eq!(hex::encode(first.payment_hash().0), HASH);
    assert_eq!(first.timestamp(), TIMESTAMP);
    assert_eq!(first.expires_at(), TIMESTAMP + 3600);
    assert!(!first.is_expired(TIMESTAMP + 3599));
    assert!(first.is_expired(TIMESTAMP + 3600));
    assert!(first.features().requires(Feature::PaymentSecret));

    let pico = Invoice::parse(&valid[10].1, Network::Bitcoin).unwrap();
    assert_eq!(pico.timestamp(), 1572468703);
    assert_eq!(
        hex::encode(pico.payment_hash().0),
        "462264ede7e14047e9b249da94fefc47f41f7d02ee9b091815a5506bc8abf75f"
    );
    let meta = Invoice::parse(&valid[14].1, Network::Bitcoin).unwrap();
    assert_eq!(meta.payment_metadata(), Some(&[0x01, 0xfa, 0xfa, 0xf0][..]));
    // A valid invoice on the wrong network is refused.
    assert_eq!(
        Invoice::parse(&valid[4].1, Network::Bitcoin),
        Err(InvoiceError::WrongNetwork {
            expected: Network::Bitcoin,
            found: Network::Testnet
        })
    );
    assert!(matches!(
        Invoice::parse(&valid[0].1, Network::Regtest),
        Err(InvoiceError::WrongNetwork { .. })
    ));
}

#[test]
fn invalid_examples_are_refused_for_their_reason() {
    let invalid = examples(false);
    let reasons: Vec<fn(&InvoiceError) -> bool> = vec![
        |e| *e == InvoiceError::UnknownRequiredFeature,
        |e| *e == InvoiceError::Encoding("invalid checksum".into()),
        |e| matches!(e, InvoiceError::Encoding(_)),
        |e| matches!(e, InvoiceError::Encoding(_)),
        |e| *e == InvoiceError::InvalidSignature,
        |e| *e == InvoiceError::TooShort,
        |e| *e == InvoiceError::UnknownMultiplier,
        |e| *e == InvoiceError::InvalidAmount,
        |e| *e == InvoiceError::MissingPaymentSecret,
        |e| *e == InvoiceError::InvalidSignature,
    ];
    assert_eq!(invalid.len(), reasons.len());
    for ((title, s), ok) in invalid.iter().zip(reasons) {
        match Invoice::parse(s, Network::Bitcoin) {
            Ok(inv) => panic!("{title}: accepted {inv:?}"),
            Err(e) => assert!(ok(&e), "{title}: wrong reason {e:?}"),
        }
    }
}
