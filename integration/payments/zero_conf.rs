//! Zero-conf channels: the hub opens a channel to a new wallet that trusts it
//! (`zeroconf_peers`), and both pay over it before its funding has a single confirmation. A
//! wallet that does not list the hub refuses the same open.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zero_conf_channel_pays_both_ways_before_its_funding_confirms() {
    init_logs();
    let tmp = tempfile::tempdir().unwrap();
    let hub = start_payments(&tmp.path().join("hub"), None).await;
    fund(&hub).await;
    let mut config = node_config(
        &tmp.path().join("wallet"),
        Some(&hub),
        "127.0.0.1:0".parse().unwrap(),
        false,
    );
    config.zeroconf_peers = vec![hub.id().parse().unwrap()];
    let wallet = start_config(config).await;
    let stranger = start_payments(&tmp.path().join("stranger"), Some(&hub)).await;

    // The stranger does not trust the hub with zero-conf: refused, nothing opened.
    let refused = hub
        .api
        .post(
            "/v1/channels",
            json!({ "node_id": stranger.id(), "addr": stranger.peer_addr(),
                    "capacity_sat": 500_000, "zero_conf": true }),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(refused.contains("option_zeroconf"), "{refused}");

    let height = hub.api.get("/v1/info").await.unwrap()["block_height"].clone();
    let opened = hub
        .api
        .post(
            "/v1/channels",
            json!({ "node_id": wallet.id(), "addr": wallet.peer_addr(),
                    "capacity_sat": 500_000, "zero_conf": true }),
        )
        .await
        .expect("a trusting wallet accepts");
    let id = opened["channel_id"].as_str().unwrap().to_string();
    for n in [&hub, &wallet] {
        let c = n
            .wait_channel(&id, "active with no confirmation", |c| {
                c["state"] == "active"
            })
            .await;
        assert_eq!(
            (c["zero_conf"].clone(), c["scid_alias"].clone()),
            (json!(true), json!(true))
        );
    }
    // Paid and paid back while the funding waits in the mempool.
    pay_hub(&hub, &wallet, 120_000_000).await;
    pay_hub(&wallet, &hub, 20_000_000).await;
    assert_eq!(
        hub.api.get("/v1/info").await.unwrap()["block_height"],
        height,
        "no block was mined"
    );
    let txid = opened["funding_txid"].as_str().unwrap();
    let info = hub.api.get("/v1/onchain/transactions").await.unwrap();
    let funding = info["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["txid"] == txid)
        .expect("the hub's funding transaction");
    assert_eq!(funding["confirmations"], 0, "{funding}");
    let c = wallet.channel(&id).await;
    assert_eq!(c["local_msat"], 100_000_000u64);

    // Confirmed later, the channel just goes on.
    hub.mine(1, &burn_address()).await;
    pay_hub(&hub, &wallet, 1_000_000).await;
    for n in [stranger, wallet, hub] {
        n.node.shutdown().await;
    }
}

/// A call to the embedded chain `host` runs, over its RPC.
async fn chain_call(host: &TestNode, method: &'static str, params: Vec<Value>) -> Value {
    let rpc_url = format!("http://{}", host.node.node_json.chain_rpc_addr.unwrap());
    let cookie = host.node.node_json.chain_rpc_cookie.clone().unwrap();
    tokio::task::spawn_blocking(move || {
        use bitcoincore_rpc::{Auth, Client, RpcApi};
        let c = Client::new(&rpc_url, Auth::CookieFile(cookie)).unwrap();
        c.call::<Value>(method, &params).unwrap()
    })
    .await
    .unwrap()
}

async fn raw_tx(host: &TestNode, txid: &str) -> bitcoin::Transaction {
    let hex = chain_call(host, "getrawtransaction", vec![json!(txid)]).await;
    bitcoin::consensus::encode::deserialize_hex(hex.as_str().unwrap()).unwrap()
}

/// A transaction of `owner`'s wallet keys spending the first input of `funding` elsewhere:
/// the double spend a dishonest opener mines instead of its funding.
async fn double_spend(owner: &TestNode, funding: &bitcoin::Transaction) -> bitcoin::Transaction {
    use bitcoin::secp256k1::{Message, Secp256k1};
    use bitcoin::sighash::{EcdsaSighashType, SighashCache};
    let prevout = funding.input[0].previous_output;
    let parent = raw_tx(owner, &prevout.txid.to_string()).await;
    let spent = parent.output[prevout.vout as usize].clone();
    let (seed, _) = Seed::load_or_create(&owner.dir).unwrap();
    let keys = KeysManager::new(&seed, bitcoin::Network::Regtest);
    let external = chanhub::keys::Keychain::External;
    let index = (0..100)
        .find(|i| keys.wallet_script(external, *i).unwrap() == spent.script_pubkey)
        .expect("the funding spends a coin of the owner's wallet");
    let sk = keys.wallet_secret(external, index).unwrap();
    let secp = Secp256k1::new();
    let pk = bitcoin::CompressedPublicKey(sk.public_key(&secp));
    let burn: bitcoin::Address = burn_address()
        .parse::<bitcoin::Address<_>>()
        .unwrap()
        .assume_checked();
    let mut tx = bitcoin::Transaction {
        version: bitcoin::transaction::Version::TWO,
        lock_time: bitcoin::absolute::LockTime::ZERO,
        input: vec![bitcoin::TxIn {
            previous_output: prevout,
            sequence: bitcoin::Sequence::MAX,
            ..Default::default()
        }],
        output: vec![bitcoin::TxOut {
            value: spent.value - bitcoin::Amount::from_sat(10_000),
            script_pubkey: burn.script_pubkey(),
        }],
    };
    let sighash = SighashCache::new(&tx)
        .p2wpkh_signature_hash(0, &spent.script_pubkey, spent.value, EcdsaSighashType::All)
        .unwrap();
    let sig = bitcoin::ecdsa::Signature::sighash_all(
        secp.sign_ecdsa(&Message::from_digest(sighash.to_byte_array()), &sk),
    );
    tx.input[0].witness = bitcoin::Witness::p2wpkh(&sig, &pk.0);
    tx
}

/// What the hub holds: confirmed coins and its balances in open channels, in msat.
async fn hub_total_msat(hub: &TestNode) -> u64 {
    let b = hub.api.get("/v1/balance").await.unwrap();
    b["onchain_confirmed_sat"].as_u64().unwrap() * 1000 + b["channels_local_msat"].as_u64().unwrap()
}

/// The hub trusts alice with zero-conf. Over alice's zero-conf channel, before its funding
/// confirms, alice pays bob through the hub (the hub forwards from its own channel to bob)
/// and bob pays alice, who holds the payment. Then alice mines a double spend of her
/// funding's input. Both ends close the channel (aborted, `funding_lost` in the channel JSON,
/// `channel_funding_double_spent` in the event log); the payment to alice is failed back to
/// bob; and the hub is short exactly what it forwarded to bob, nothing more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_double_spent_zero_conf_funding_closes_the_channel_and_the_hub_loses_only_what_it_forwarded(
) {
    init_logs();
    let tmp = tempfile::tempdir().unwrap();
    // alice runs the chain: the hub's configuration names her, so she starts first.
    let alice = start_payments(&tmp.path().join("alice"), None).await;
    let mut config = node_config(
        &tmp.path().join("hub"),
        Some(&alice),
        "127.0.0.1:0".parse().unwrap(),
        false,
    );
    config.zeroconf_peers = vec![alice.id().parse().unwrap()];
    let hub = start_config(config).await;
    let bob = start_payments(&tmp.path().join("bob"), Some(&alice)).await;
    fund(&alice).await;
    fund(&hub).await;
    let hb = open_active(&hub, &bob, 1_000_000, 0, "anchors").await;
    let opened = alice
        .api
        .post(
            "/v1/channels",
            json!({ "node_id": hub.id(), "addr": hub.peer_addr(),
                    "capacity_sat": 500_000, "zero_conf": true }),
        )
        .await
        .expect("the hub trusts alice");
    let ah = opened["channel_id"].as_str().unwrap().to_string();
    for n in [&alice, &hub] {
        n.wait_channel(&ah, "active with no confirmation", |c| {
            c["state"] == "active"
        })
        .await;
    }
    wait_until("alice knows a route hint", || async {
        !alice
            .node
            .channels()
            .route_hints()
            .await
            .unwrap()
            .is_empty()
    })
    .await;
    wait_until("bob knows a route hint", || async {
        !bob.node.channels().route_hints().await.unwrap().is_empty()
    })
    .await;
    let start = hub_total_msat(&hub).await;
    let mut events = hub.node.channels().subscribe_events();

    // alice pays bob: the hub forwards 100,000 sat of its own to bob.
    let forwarded = 100_000_000;
    pay_hub(&alice, &bob, forwarded).await;
    // bob pays alice, who holds the payment: the hub's HTLC to alice waits in the channel.
    let preimage = [5u8; 32];
    let hash = hex::encode(sha256::Hash::hash(&preimage).to_byte_array());
    let held = alice
        .api
        .post(
            "/v1/invoices",
            json!({"amount_msat": 30_000_000, "description": "held", "payment_hash": hash}),
        )
        .await
        .unwrap();
    let paying = bob
        .api
        .post(
            "/v1/payments",
            json!({ "bolt11": held["bolt11"], "wait": false }),
        )
        .await
        .unwrap();
    assert_eq!(paying["status"], "pending", "{paying:#}");
    wait_until("alice holds bob's payment", || async {
        let i = alice
            .api
            .get(&format!("/v1/invoices/{hash}"))
            .await
            .unwrap();
        i["status"] == "held"
    })
    .await;
    let c = hub.channel(&ah).await;
    assert_eq!(c["pending_htlcs"].as_array().unwrap().len(), 1, "{c:#}");
    assert_eq!(c["funding_lost"], Value::Null);

    // The hub looks for a peer's zero-conf funding in the mempool every second until it has
    // seen it (a real double spend waits for a block, ten minutes on average).
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    // alice mines a double spend of her funding's input: the funding can never confirm.
    let funding_txid = opened["funding_txid"].as_str().unwrap().to_string();
    let funding = raw_tx(&alice, &funding_txid).await;
    let spend = double_spend(&alice, &funding).await;
    let spend_hex = bitcoin::consensus::encode::serialize_hex(&spend);
    chain_call(
        &alice,
        "generateblock",
        vec![json!(burn_address()), json!([spend_hex])],
    )
    .await;
    let spending_txid = spend.compute_txid().to_string();
    for n in [&hub, &alice] {
        let c = n
            .wait_channel(&ah, "closed by the double spend", |c| {
                c["state"] == "closed"
            })
            .await;
        assert_eq!(c["phase"], "aborted");
        assert_eq!(
            c["funding_lost"],
            json!({ "reason": "double_spent", "spending_txid": spending_txid }),
            "{c:#}"
        );
        assert_eq!(c["closing_txid"], Value::Null, "nothing of it on chain");
    }
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let ev = tokio::time::timeout_at(deadline, events.recv())
            .await
            .expect("a channel_funding_double_spent event")
            .unwrap();
        let v = serde_json::to_value(&ev).unwrap();
        if v["type"] == "channel_funding_double_spent" {
            assert_eq!(v["channel_id"], ah.as_str());
            assert_eq!(v["peer_node_id"], alice.id().as_str());
            assert_eq!(v["funding_txid"], funding_txid.as_str());
            assert_eq!(v["spending_txid"], spending_txid.as_str());
            break;
        }
    }
    // bob's payment to alice is failed back by the hub.
    wait_until("bob's payment failed back", || async {
        let p = bob.api.get(&format!("/v1/payments/{hash}")).await.unwrap();
        p["status"] == "failed"
    })
    .await;
    hub.wait_channel(&hb, "no HTLC left to bob", |c| {
        c["pending_htlcs"].as_array().unwrap().is_empty()
    })
    .await;
    // The hub is short what it forwarded to bob (its balance in alice's channel, including
    // its fee, was never on chain), and nothing else.
    assert_eq!(hub_total_msat(&hub).await, start - forwarded);
    let list = hub.api.get("/v1/channels").await.unwrap();
    assert!(list.to_string().contains("double_spent"), "{list:#}");

    // The chain goes on; nothing is broadcast for the dead channel.
    hub.mine(1, &burn_address()).await;
    pay_hub(&bob, &hub, 1_000_000).await;
    for n in [bob, hub, alice] {
        n.node.shutdown().await;
    }
}
