use std::collections::HashMap;

use bitcoin::secp256k1::{Secp256k1, SecretKey};
use serde_json::json;

use super::*;
use crate::lsps::lsps0;

fn client(b: u8) -> PublicKey {
    SecretKey::from_slice(&[b; 32])
        .unwrap()
        .public_key(&Secp256k1::new())
}

fn config() -> Lsps2Config {
    Lsps2Config {
        terms: Terms {
            min_fee_msat: 10_000,
            proportional: 1000,
            valid_for_secs: 3600,
            min_lifetime: 1008,
            max_client_to_self_delay: 2016,
            min_payment_size_msat: 20_000,
            max_payment_size_msat: 100_000_000,
        },
        lsp_cltv_expiry_delta: 144,
        client_trusts_lsp: false,
        claim_timeout_secs: 60,
        inbound_liquidity_sat: 100_000,
        token: None,
    }
}

const NOW: u64 = 1_700_000_000;

/// A book in memory, as the store keeps it.
#[derive(Default)]
struct Book {
    rows: HashMap<u64, NewJit>,
    fail: bool,
}

impl JitBook for Book {
    fn waiting(&mut self, client: &PublicKey, now: u64) -> Result<(usize, usize), String> {
        if self.fail {
            return Err("disk on fire".into());
        }
        let live = || self.rows.values().filter(|j| j.valid_until > now);
        Ok((
            live().filter(|j| j.client == *client).count(),
            live().count(),
        ))
    }
    fn insert(&mut self, jit: &NewJit) -> Result<bool, String> {
        if self.rows.contains_key(&jit.scid.0) {
            return Ok(false);
        }
        self.rows.insert(jit.scid.0, jit.clone());
        Ok(true)
    }
}

/// Serves one request as the node does: LSPS0 first, then this module.
fn ask(
    svc: &Service<'_>,
    book: &mut Book,
    who: &PublicKey,
    now: u64,
    method: &str,
    params: Value,
) -> Value {
    let mut next = 0u64;
    let mut draw = || {
        next += 1;
        ShortChannelId::new(1_000_000 + (next % 3) as u32, 1, 0).unwrap()
    };
    let req = json!({"jsonrpc": "2.0", "id": "x", "method": method, "params": params});
    let out = lsps0::respond(req.to_string().as_bytes(), &[PROTOCOL], |r| {
        svc.route(&r.method, &r.params, who, now, book, &mut draw)
    });
    serde_json::from_slice(&out).unwrap()
}

fn offer(svc: &Service<'_>, book: &mut Book, who: &PublicKey) -> Value {
    let info = ask(svc, book, who, NOW, "lsps2.get_info", json!({}));
    info["result"]["opening_fee_params_menu"][0].clone()
}

#[test]
fn get_info_then_buy_keeps_a_waiting_channel_and_answers_its_scid() {
    let (cfg, key) = (config(), PromiseKey([3; 32]));
    let svc = Service {
        config: &cfg,
        key: &key,
        confirmed_sat: None,
    };
    let mut book = Book::default();
    let p = offer(&svc, &mut book, &client(1));
    assert_eq!(p["min_fee_msat"], "10000");
    let out = ask(
        &svc,
        &mut book,
        &client(1),
        NOW + 5,
        "lsps2.buy",
        json!({"opening_fee_params": p, "payment_size_msat": "50000000"}),
    );
    let r = &out["result"];
    assert_eq!(r["lsp_cltv_expiry_delta"], 144);
    assert_eq!(r["client_trusts_lsp"], false);
    let row = book.rows.values().next().unwrap();
    assert_eq!(r["jit_channel_scid"], row.scid.to_string());
    assert!(r["jit_channel_scid"].as_str().unwrap().contains('x'));
    assert_eq!(row.payment_size_msat, Some(50_000_000));
    assert_eq!(row.opening_fee_msat, Some(50_000));
    assert_eq!(row.valid_until, NOW + 3600);
    assert_eq!(row.client, client(1));
    // Variable amount: no size, no fee yet.
    let out = ask(
        &svc,
        &mut book,
        &client(1),
        NOW,
        "lsps2.buy",
        json!({"opening_fee_params": p}),
    );
    assert!(out["result"]["jit_channel_scid"].is_string(), "{out}");
    assert_eq!(book.rows.len(), 2, "a taken scid is drawn again");
    assert!(book.rows.values().any(|j| j.payment_size_msat.is_none()));
}

#[test]
fn buy_refuses_bad_offers_sizes_and_params_without_keeping_anything() {
    let (cfg, key) = (config(), PromiseKey([3; 32]));
    let svc = Service {
        config: &cfg,
        key: &key,
        confirmed_sat: None,
    };
    let mut book = Book::default();
    let p = offer(&svc, &mut book, &client(1));
    let code = |out: Value| out["error"]["code"].as_i64().unwrap();
    let mut buy =
        |who: u8, params: Value| code(ask(&svc, &mut book, &client(who), NOW, "lsps2.buy", params));
    assert_eq!(
        buy(2, json!({"opening_fee_params": p})),
        lsps2::INVALID_OPENING_FEE_PARAMS,
        "another client's offer"
    );
    let mut forged = p.clone();
    forged["min_fee_msat"] = json!("1");
    assert_eq!(
        buy(1, json!({"opening_fee_params": forged})),
        lsps2::INVALID_OPENING_FEE_PARAMS
    );
    assert_eq!(
        buy(1, json!({"opening_fee_params": "x"})),
        lsps2::INVALID_OPENING_FEE_PARAMS
    );
    assert_eq!(buy(1, json!({})), lsps2::INVALID_OPENING_FEE_PARAMS);
    assert_eq!(
        buy(
            1,
            json!({"opening_fee_params": p, "payment_size_msat": "10000"})
        ),
        lsps2::PAYMENT_SIZE_TOO_SMALL
    );
    assert_eq!(
        buy(
            1,
            json!({"opening_fee_params": p, "payment_size_msat": "100000001"})
        ),
        lsps2::PAYMENT_SIZE_TOO_LARGE
    );
    assert_eq!(
        buy(
            1,
            json!({"opening_fee_params": p, "payment_size_msat": "99999999999999999999999"})
        ),
        lsps2::PAYMENT_SIZE_TOO_LARGE
    );
    assert_eq!(
        buy(
            1,
            json!({"opening_fee_params": p, "payment_size_msat": 50000})
        ),
        lsps0::INVALID_PARAMS
    );
    assert_eq!(
        buy(1, json!({"opening_fee_params": p, "surprise": 1})),
        lsps0::INVALID_PARAMS
    );
    let out = ask(
        &svc,
        &mut book,
        &client(1),
        NOW,
        "lsps2.buy",
        json!({"opening_fee_params": p, "surprise": 1}),
    );
    assert_eq!(out["error"]["data"]["unrecognized"], json!(["surprise"]));
    assert_eq!(
        code(ask(
            &svc,
            &mut book,
            &client(1),
            NOW + 3600,
            "lsps2.buy",
            json!({"opening_fee_params": p})
        )),
        lsps2::INVALID_OPENING_FEE_PARAMS,
        "expired"
    );
    assert!(book.rows.is_empty());
}

#[test]
fn a_token_when_configured_gates_get_info() {
    let mut cfg = config();
    cfg.token = Some("vip".into());
    let key = PromiseKey([3; 32]);
    let svc = Service {
        config: &cfg,
        key: &key,
        confirmed_sat: None,
    };
    let mut book = Book::default();
    let code = |out: &Value| out["error"]["code"].as_i64();
    for params in [json!({}), json!({"token": null}), json!({"token": "nope"})] {
        let out = ask(&svc, &mut book, &client(1), NOW, "lsps2.get_info", params);
        assert_eq!(
            code(&out),
            Some(lsps2::UNRECOGNIZED_OR_STALE_TOKEN),
            "{out}"
        );
    }
    let out = ask(
        &svc,
        &mut book,
        &client(1),
        NOW,
        "lsps2.get_info",
        json!({"token": "vip"}),
    );
    assert!(out["result"]["opening_fee_params_menu"].is_array(), "{out}");
    let out = ask(
        &svc,
        &mut book,
        &client(1),
        NOW,
        "lsps2.get_info",
        json!({"token": 7}),
    );
    assert_eq!(code(&out), Some(lsps0::INVALID_PARAMS));
    // Without a configured token, any token (or none) is fine.
    let open = config();
    let svc = Service {
        config: &open,
        key: &key,
        confirmed_sat: None,
    };
    let out = ask(
        &svc,
        &mut book,
        &client(1),
        NOW,
        "lsps2.get_info",
        json!({"token": "whatever"}),
    );
    assert!(out["result"].is_object(), "{out}");
}

#[test]
fn waiting_channels_are_bounded_per_client_and_in_all() {
    let (cfg, key) = (config(), PromiseKey([3; 32]));
    let svc = Service {
        config: &cfg,
        key: &key,
        confirmed_sat: None,
    };
    let mut book = Book::default();
    let mut n = 0u32;
    let mut buy = |book: &mut Book, who: &PublicKey, now: u64| {
        let p = {
            let info = lsps0::respond(
                json!({"jsonrpc":"2.0","id":1,"method":"lsps2.get_info","params":{}})
                    .to_string()
                    .as_bytes(),
                &[2],
                |r| {
                    svc.route(
                        &r.method,
                        &r.params,
                        who,
                        now,
                        book,
                        &mut || -> ShortChannelId { unreachable!() },
                    )
                },
            );
            serde_json::from_slice::<Value>(&info).unwrap()["result"]["opening_fee_params_menu"][0]
                .clone()
        };
        let req = json!({"jsonrpc":"2.0","id":1,"method":"lsps2.buy",
                         "params":{"opening_fee_params": p}});
        let out = lsps0::respond(req.to_string().as_bytes(), &[2], |r| {
            svc.route(&r.method, &r.params, who, now, book, &mut || {
                n += 1;
                ShortChannelId::new(n, 0, 0).unwrap()
            })
        });
        serde_json::from_slice::<Value>(&out).unwrap()
    };
    for _ in 0..MAX_WAITING_PER_CLIENT {
        assert!(buy(&mut book, &client(1), NOW)["result"].is_object());
    }
    let out = buy(&mut book, &client(1), NOW);
    assert_eq!(out["error"]["code"], lsps0::CLIENT_REJECTED, "{out}");
    assert!(
        buy(&mut book, &client(2), NOW)["result"].is_object(),
        "another client is not held back"
    );
    // Once the first offers expire, the client may buy again.
    assert!(buy(&mut book, &client(1), NOW + 3600)["result"].is_object());
    // The global bound.
    let mut full = Book::default();
    for i in 0..MAX_WAITING_TOTAL as u32 {
        let mut j = book.rows.values().next().unwrap().clone();
        j.scid = ShortChannelId::new(1_000_000 + i, 0, 0).unwrap();
        j.client = client(9);
        full.rows.insert(j.scid.0, j);
    }
    let out = buy(&mut full, &client(3), NOW);
    assert_eq!(out["error"]["code"], lsps0::CLIENT_REJECTED);
    // A store that fails is an internal error, and nothing is claimed.
    let mut broken = Book {
        fail: true,
        ..Book::default()
    };
    let out = buy(&mut broken, &client(3), NOW);
    assert_eq!(out["error"]["code"], lsps0::INTERNAL_ERROR);
}

#[test]
fn buy_refuses_a_channel_the_wallet_cannot_fund() {
    let (cfg, key) = (config(), PromiseKey([3; 32]));
    let poor = Service {
        config: &cfg,
        key: &key,
        // 50,000 sat payment + 100,000 sat inbound = 150,000 sat.
        confirmed_sat: Some(149_999),
    };
    let mut book = Book::default();
    let p = offer(&poor, &mut book, &client(1));
    let params = json!({"opening_fee_params": p, "payment_size_msat": "50000000"});
    let out = ask(
        &poor,
        &mut book,
        &client(1),
        NOW,
        "lsps2.buy",
        params.clone(),
    );
    assert_eq!(out["error"]["code"], lsps2::PAYMENT_SIZE_TOO_LARGE);
    let rich = Service {
        confirmed_sat: Some(150_000),
        ..poor
    };
    let out = ask(&rich, &mut book, &client(1), NOW, "lsps2.buy", params);
    assert!(out["result"].is_object(), "{out}");
}

#[test]
fn methods_of_other_protocols_are_not_routed() {
    let (cfg, key) = (config(), PromiseKey([3; 32]));
    let svc = Service {
        config: &cfg,
        key: &key,
        confirmed_sat: None,
    };
    let mut book = Book::default();
    let out = ask(
        &svc,
        &mut book,
        &client(1),
        NOW,
        "lsps1.get_info",
        json!({}),
    );
    assert_eq!(out["error"]["code"], lsps0::METHOD_NOT_FOUND);
    let out = ask(
        &svc,
        &mut book,
        &client(1),
        NOW,
        "lsps2.get_info",
        json!({"x": 1}),
    );
    assert_eq!(out["error"]["data"]["unrecognized"], json!(["x"]));
}

#[test]
fn config_rules() {
    let ok = config();
    assert_eq!(ok.validate(40), Ok(()));
    assert!(ok.validate(145).is_err(), "below the policy's cltv_delta");
    let mut c = config();
    c.terms.valid_for_secs = 599;
    assert!(c.validate(40).is_err());
    let mut c = config();
    c.inbound_liquidity_sat = MAX_CHANNEL_SAT;
    assert!(c.validate(40).is_err());
}
