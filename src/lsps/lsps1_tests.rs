use super::*;
use bitcoin::hashes::Hash;
use bitcoin::secp256k1::{Secp256k1, SecretKey};

fn config() -> Lsps1Config {
    Lsps1Config {
        min_channel_sat: 100_000,
        max_channel_sat: 1_000_000,
        max_client_balance_sat: 50_000,
        max_channel_expiry_blocks: 4320,
        min_required_channel_confirmations: 0,
        min_funding_confirms_within_blocks: 6,
        fee_base_sat: 1_000,
        fee_ppm: 2_500,
        order_valid_secs: 3600,
        client_wait_secs: 30,
        token: None,
    }
}

/// bLIP 51's example request, within `config()`'s options.
fn request() -> Map<String, Value> {
    json!({
        "lsp_balance_sat": "500000",
        "client_balance_sat": "20000",
        "required_channel_confirmations": 0,
        "funding_confirms_within_blocks": 6,
        "channel_expiry_blocks": 144,
        "token": "",
        "refund_onchain_address": "bcrt1qvmsy0f3yyes6z9jvddk8xqwznndmdwapvrc0xrmhd3vqj5rhdrrq6hz49h",
        "announce_channel": false
    })
    .as_object()
    .unwrap()
    .clone()
}

fn with(field: &str, v: Value) -> Map<String, Value> {
    let mut r = request();
    r.insert(field.into(), v);
    r
}

fn without(field: &str) -> Map<String, Value> {
    let mut r = request();
    r.remove(field);
    r
}

const OPEN: Capacity = Capacity {
    announces: false,
    confirmed_sat: None,
};

/// The code and the `property` of bLIP 51's `data`, which travels as JSON text.
fn property(e: &RpcError) -> (i64, String) {
    let text = e.data.as_ref().unwrap().as_str().expect("data is a string");
    let data: Value = serde_json::from_str(text).unwrap();
    assert!(data["message"].is_string(), "{text}");
    (e.code, data["property"].as_str().unwrap().to_string())
}

#[test]
fn get_info_lists_blip_51s_options_with_amounts_as_strings() {
    let o = config().options();
    assert_eq!(
        o,
        json!({
            "min_required_channel_confirmations": 0,
            "min_funding_confirms_within_blocks": 6,
            "supports_zero_channel_reserve": false,
            "max_channel_expiry_blocks": 4320,
            "min_initial_client_balance_sat": "0",
            "max_initial_client_balance_sat": "50000",
            "min_initial_lsp_balance_sat": "100000",
            "max_initial_lsp_balance_sat": "1000000",
            "min_channel_balance_sat": "100000",
            "max_channel_balance_sat": "1050000",
        })
    );
}

#[test]
fn the_fee_is_the_base_plus_the_ppm_of_the_channel_rounded_up() {
    let c = config();
    assert_eq!(c.fee_sat(520_000), 1_000 + 1_300);
    assert_eq!(c.fee_sat(100_001), 1_000 + 251, "250.0025 rounds up");
    assert_eq!(
        Lsps1Config {
            fee_ppm: 1_000_000,
            ..c
        }
        .fee_sat(MAX_CHANNEL_SAT),
        1_000 + MAX_CHANNEL_SAT
    );
}

#[test]
fn a_well_formed_order_is_read_and_accepted() {
    let o = parse_order(&request()).unwrap();
    assert_eq!(
        o,
        OrderParams {
            lsp_balance_sat: 500_000,
            client_balance_sat: 20_000,
            required_channel_confirmations: 0,
            funding_confirms_within_blocks: 6,
            channel_expiry_blocks: 144,
            token: Some(String::new()),
            announce_channel: false,
        }
    );
    assert_eq!(o.channel_sat(), 520_000);
    check_order(&config(), &o, OPEN).unwrap();
    // LDK sends `token: null`; bLIP 51's clients may leave it out: each is echoed as sent.
    assert_eq!(
        parse_order(&with("token", Value::Null)).unwrap().token,
        None
    );
    assert_eq!(
        parse_order(&without("token")).unwrap().token,
        Some(String::new())
    );
    assert!(parse_order(&without("refund_onchain_address")).is_ok());
}

#[test]
fn a_malformed_field_is_invalid_params_naming_it() {
    for (field, bad) in [
        ("lsp_balance_sat", json!(500000)),
        ("lsp_balance_sat", json!("-5")),
        ("lsp_balance_sat", json!("5e5")),
        ("lsp_balance_sat", json!("0")),
        ("lsp_balance_sat", json!("18446744073709551616")),
        ("client_balance_sat", json!(null)),
        ("required_channel_confirmations", json!(-1)),
        ("required_channel_confirmations", json!(65536)),
        ("funding_confirms_within_blocks", json!("6")),
        ("channel_expiry_blocks", json!(0)),
        ("channel_expiry_blocks", json!(1.5)),
        ("token", json!(7)),
        ("refund_onchain_address", json!(false)),
        ("announce_channel", json!("true")),
    ] {
        let e = parse_order(&with(field, bad.clone())).unwrap_err();
        assert_eq!(
            property(&e),
            (INVALID_PARAMS, field.into()),
            "{field} = {bad}"
        );
    }
    for field in [
        "lsp_balance_sat",
        "client_balance_sat",
        "required_channel_confirmations",
        "funding_confirms_within_blocks",
        "channel_expiry_blocks",
        "announce_channel",
    ] {
        let e = parse_order(&without(field)).unwrap_err();
        assert_eq!(property(&e), (INVALID_PARAMS, field.into()), "no {field}");
    }
    // An unknown field: bLIP 50's form, naming it.
    let e = parse_order(&with("bolt12", json!(true))).unwrap_err();
    assert_eq!(e.code, INVALID_PARAMS);
    assert_eq!(e.data, Some(json!({ "unrecognized": ["bolt12"] })));
}

#[test]
fn an_order_outside_the_options_is_an_option_mismatch_naming_the_option() {
    let c = config();
    let check = |field: &str, v: Value, capacity: Capacity| {
        let o = parse_order(&with(field, v)).unwrap();
        check_order(&c, &o, capacity).map_err(|e| property(&e))
    };
    for (field, v, option) in [
        (
            "lsp_balance_sat",
            json!("99999"),
            "min_initial_lsp_balance_sat",
        ),
        (
            "lsp_balance_sat",
            json!("1000001"),
            "max_initial_lsp_balance_sat",
        ),
        (
            "client_balance_sat",
            json!("50001"),
            "max_initial_client_balance_sat",
        ),
        (
            "funding_confirms_within_blocks",
            json!(5),
            "min_funding_confirms_within_blocks",
        ),
        (
            "channel_expiry_blocks",
            json!(4321),
            "max_channel_expiry_blocks",
        ),
    ] {
        assert_eq!(
            check(field, v.clone(), OPEN),
            Err((OPTION_MISMATCH, option.into())),
            "{field} = {v}"
        );
    }
    // The edges are in.
    for (field, v) in [
        ("lsp_balance_sat", json!("100000")),
        ("lsp_balance_sat", json!("1000000")),
        ("client_balance_sat", json!("50000")),
        ("channel_expiry_blocks", json!(4320)),
    ] {
        assert_eq!(check(field, v, OPEN), Ok(()));
    }
    let one_conf = Lsps1Config {
        min_required_channel_confirmations: 1,
        ..config()
    };
    let e = check_order(&one_conf, &parse_order(&request()).unwrap(), OPEN).unwrap_err();
    assert_eq!(
        property(&e),
        (OPTION_MISMATCH, "min_required_channel_confirmations".into())
    );
    // A wallet that cannot fund both sides refuses now, not once paid.
    let poor = Capacity {
        announces: false,
        confirmed_sat: Some(519_999),
    };
    assert_eq!(
        check("token", json!(""), poor),
        Err((OPTION_MISMATCH, "max_initial_lsp_balance_sat".into()))
    );
    let rich = Capacity {
        confirmed_sat: Some(520_000),
        ..poor
    };
    assert_eq!(check("token", json!(""), rich), Ok(()));
}

#[test]
fn an_announced_channel_is_sold_only_by_a_hub_that_announces_itself() {
    let o = parse_order(&with("announce_channel", json!(true))).unwrap();
    let e = check_order(&config(), &o, OPEN).unwrap_err();
    assert_eq!(property(&e), (INVALID_PARAMS, "announce_channel".into()));
    let announcing = Capacity {
        announces: true,
        confirmed_sat: None,
    };
    check_order(&config(), &o, announcing).unwrap();
}

#[test]
fn a_configured_token_must_be_given() {
    let c = Lsps1Config {
        token: Some("vip".into()),
        ..config()
    };
    for t in [json!(""), json!(null), json!("VIP")] {
        let o = parse_order(&with("token", t.clone())).unwrap();
        let e = check_order(&c, &o, OPEN).unwrap_err();
        assert_eq!(property(&e), (INVALID_PARAMS, "token".into()), "{t}");
    }
    let o = parse_order(&with("token", json!("vip"))).unwrap();
    check_order(&c, &o, OPEN).unwrap();
    // An open LSP takes any token.
    let o = parse_order(&with("token", json!("anything"))).unwrap();
    check_order(&config(), &o, OPEN).unwrap();
}

fn order(payment: PaymentState, state: OrderState) -> Order {
    Order {
        order_id: order_id([7; 16]),
        client: SecretKey::from_slice(&[1; 32])
            .unwrap()
            .public_key(&Secp256k1::new()),
        params: parse_order(&with("token", Value::Null)).unwrap(),
        created_at: 1_700_000_000,
        fee_total_sat: 2_300,
        order_total_sat: 22_300,
        payment_hash: [2; 32],
        preimage: [3; 32],
        invoice: "lnbcrt1".into(),
        expires_at: 1_700_003_600,
        payment_state: payment,
        order_state: state,
        channel: None,
        failure: None,
    }
}

#[test]
fn an_order_reads_as_blip_51_and_ldk_shape_it() {
    let o = order(PaymentState::ExpectPayment, OrderState::Created);
    assert_eq!(o.order_id, "07070707-0707-4707-8707-070707070707");
    let w = o.to_wire(1_700_000_001);
    assert_eq!(
        w,
        json!({
            "order_id": "07070707-0707-4707-8707-070707070707",
            "lsp_balance_sat": "500000",
            "client_balance_sat": "20000",
            "required_channel_confirmations": 0,
            "funding_confirms_within_blocks": 6,
            "channel_expiry_blocks": 144,
            "token": null,
            "created_at": "2023-11-14T22:13:20.000Z",
            "announce_channel": false,
            "order_state": "CREATED",
            "payment": {
                "bolt11": {
                    "state": "EXPECT_PAYMENT",
                    "expires_at": "2023-11-14T23:13:20.000Z",
                    "fee_total_sat": "2300",
                    "order_total_sat": "22300",
                    "invoice": "lnbcrt1",
                },
                "bolt12": null,
                "onchain": null,
            },
            "channel": null,
        })
    );
    // Held: LDK's client knows no HOLD, so it still reads as expected.
    let held = order(PaymentState::Hold, OrderState::Created).to_wire(1_700_000_001);
    assert_eq!(held["payment"]["bolt11"]["state"], "EXPECT_PAYMENT");
    // Unpaid when the invoice expired: failed, nothing kept.
    let late = o.to_wire(1_700_003_600);
    assert_eq!(
        (
            late["order_state"].clone(),
            late["payment"]["bolt11"]["state"].clone()
        ),
        (json!("FAILED"), json!("REFUNDED"))
    );
    let mut done = order(PaymentState::Paid, OrderState::Completed);
    done.channel = Some(OrderChannel {
        channel_id: [4; 32],
        funding_txid: Txid::from_byte_array([5; 32]),
        funding_vout: 0,
        funded_at: 1_700_000_100,
        expires_at: 1_700_000_100 + 144 * BLOCK_SECS,
    });
    let w = done.to_wire(1_800_000_000);
    assert_eq!(w["order_state"], "COMPLETED");
    assert_eq!(w["payment"]["bolt11"]["state"], "PAID");
    assert_eq!(
        w["channel"],
        json!({
            "funded_at": "2023-11-14T22:15:00.000Z",
            "funding_outpoint": format!("{}:0", Txid::from_byte_array([5; 32])),
            "expires_at": "2023-11-15T22:15:00.000Z",
        })
    );
    assert!(!done.opens_on_payment());
    assert!(!order(PaymentState::Hold, OrderState::Created).opens_on_payment());
    assert!(order(PaymentState::ExpectPayment, OrderState::Created).opens_on_payment());
    let failed = order(PaymentState::Refunded, OrderState::Failed).to_wire(0);
    assert_eq!(failed["payment"]["bolt11"]["state"], "REFUNDED");
}

#[test]
fn get_order_needs_one_order_id() {
    let p = |v: Value| parse_get_order(v.as_object().unwrap());
    assert_eq!(p(json!({"order_id": "abc"})), Ok("abc".into()));
    for bad in [json!({}), json!({"order_id": 5}), json!({"order_id": ""})] {
        assert_eq!(p(bad.clone()).unwrap_err().code, INVALID_PARAMS, "{bad}");
    }
    let long = "x".repeat(65);
    assert!(p(json!({ "order_id": long })).is_err());
    let e = p(json!({"order_id": "a", "extra": 1})).unwrap_err();
    assert_eq!(e.data, Some(json!({ "unrecognized": ["extra"] })));
    assert_eq!(not_found().code, NOT_FOUND);
    assert_eq!(
        not_found().data,
        Some(json!("{}")),
        "an empty object, as text"
    );
}

#[test]
fn the_configuration_is_checked() {
    config().validate(20_000).unwrap();
    Lsps1Config::default().validate(20_000).unwrap();
    for bad in [
        Lsps1Config {
            min_channel_sat: 19_999,
            ..config()
        },
        Lsps1Config {
            max_channel_sat: 99_999,
            ..config()
        },
        Lsps1Config {
            max_channel_sat: MAX_CHANNEL_SAT,
            ..config()
        },
        Lsps1Config {
            fee_base_sat: 0,
            fee_ppm: 0,
            ..config()
        },
        Lsps1Config {
            order_valid_secs: 10,
            ..config()
        },
        Lsps1Config {
            min_funding_confirms_within_blocks: 5,
            ..config()
        },
        Lsps1Config {
            max_channel_expiry_blocks: 0,
            ..config()
        },
        Lsps1Config {
            client_wait_secs: 0,
            ..config()
        },
    ] {
        assert!(bad.validate(20_000).is_err(), "{bad:?}");
    }
}
