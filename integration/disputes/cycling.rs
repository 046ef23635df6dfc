//! Replacement cycling (CVE-2023-40231..40234) on the embedded chain.

use bitcoin::{Amount, OutPoint, Sequence, Transaction, TxIn, TxOut, Witness};

use super::*;

/// The mempool transaction spending `outpoint` on `host`'s chain (`gettxspendingprevout`).
async fn mempool_spender(host: &TestNode, outpoint: OutPoint) -> Option<String> {
    let r = chain_call(
        host,
        "gettxspendingprevout",
        vec![json!([{"txid": outpoint.txid.to_string(), "vout": outpoint.vout}])],
    )
    .await;
    r[0]["spendingtxid"].as_str().map(str::to_owned)
}

async fn wait_spender(host: &TestNode, outpoint: OutPoint, what: &str) -> String {
    for _ in 0..300 {
        if let Some(txid) = mempool_spender(host, outpoint).await {
            return txid;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("never in the mempool: {what}");
}

/// alice pays bob through the hub and bob holds the HTLC; he forces his channel with the hub
/// closed and his HTLC-success transaction, showing the preimage, reaches the mempool. Before
/// any block holds it, bob replaces it away (a higher-fee spend of its wallet fee input) and
/// goes silent, hoping the HTLC times out back to the hub while alice's does too. The hub saw
/// the preimage in the mempool: alice's payment succeeds with no block mined, and the hub's
/// timeout claim still takes the HTLC output on chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preimage_seen_only_in_the_mempool_settles_upstream() {
    init_logs();
    let tmp = tempfile::tempdir().unwrap();
    let alice = start(&tmp.path().join("alice"), None).await;
    let hub = start_payments(&tmp.path().join("hub"), Some(&alice)).await;
    let bob = start(&tmp.path().join("bob"), Some(&alice)).await;
    fund(&alice).await;
    fund(&hub).await;
    // bob's HTLC-success (anchors) takes its fee from a wallet coin of his.
    let addr = bob.new_address().await;
    alice.mine(1, &addr).await;
    alice.mine(100, &burn_address()).await;
    mine_until(&alice, "bob's coin matured", async || {
        confirmed(&bob).await > 0
    })
    .await;
    let a_id = open_active(&alice, &hub, CAPACITY_SAT, 200_000_000, "anchors").await;
    let b_id = open_active(&hub, &bob, CAPACITY_SAT, 300_000_000, "anchors").await;

    let invoice = bob
        .api
        .post(
            "/v1/invoices",
            json!({ "amount_msat": 100_000_000u64, "description": "cycled" }),
        )
        .await
        .unwrap();
    let hash = invoice["payment_hash"].as_str().unwrap().to_string();
    alice
        .api
        .post(
            "/v1/payments",
            json!({ "bolt11": invoice["bolt11"], "wait": false }),
        )
        .await
        .unwrap();
    wait_pending(&bob, &b_id, 1).await;
    wait_pending(&hub, &b_id, 1).await;

    // bob's commitment confirms, with the HTLC's output on it.
    let ch = bob.channel(&b_id).await;
    let funding = OutPoint::new(
        ch["funding_txid"].as_str().unwrap().parse().unwrap(),
        ch["funding_vout"].as_u64().unwrap() as u32,
    );
    bob.api
        .post(
            &format!("/v1/channels/{b_id}/close"),
            json!({ "force": true }),
        )
        .await
        .unwrap();
    let commitment_txid = wait_spender(&alice, funding, "bob's commitment").await;
    alice.mine(1, &burn_address()).await;
    let commitment = raw_tx(&alice, &commitment_txid).await;
    let vout = commitment
        .output
        .iter()
        .position(|o| o.value.to_sat() == 100_000)
        .expect("the HTLC output") as u32;
    let htlc_out = OutPoint::new(commitment.compute_txid(), vout);

    // bob's HTLC-success waits in the mempool; no block is mined from here on until it is
    // gone, yet alice's payment succeeds: the hub took the preimage from the mempool.
    let success_txid = wait_spender(&alice, htlc_out, "bob's HTLC-success").await;
    let height = alice_chain_height(&alice).await;
    let mut status = String::new();
    for _ in 0..300 {
        status = alice
            .api
            .get(&format!("/v1/payments/{hash}"))
            .await
            .unwrap()["status"]
            .as_str()
            .unwrap()
            .to_string();
        if status == "succeeded" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, "succeeded", "alice was paid upstream");
    assert_eq!(
        alice_chain_height(&alice).await,
        height,
        "no block was mined"
    );
    assert_eq!(
        mempool_spender(&alice, htlc_out).await.as_deref(),
        Some(success_txid.as_str()),
        "the success transaction is still unconfirmed"
    );

    // bob cycles it out: his fee input goes elsewhere at a higher fee (BIP 125), and the
    // HTLC output is unspent again. Then he goes silent.
    let success = raw_tx(&alice, &success_txid).await;
    let coin = success
        .input
        .iter()
        .map(|i| i.previous_output)
        .find(|o| *o != htlc_out)
        .expect("a fee input");
    let wallet = bob.node.wallet.clone();
    let fee_input = wallet
        .reserve_fee_input_for_replacement(coin)
        .await
        .unwrap();
    let mut replacement = Transaction {
        version: bitcoin::transaction::Version::TWO,
        lock_time: bitcoin::absolute::LockTime::ZERO,
        input: vec![TxIn {
            previous_output: coin,
            script_sig: Default::default(),
            sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value: fee_input.txout.value - Amount::from_sat(200_000),
            script_pubkey: fee_input.txout.script_pubkey.clone(),
        }],
    };
    wallet
        .sign_fee_input(&mut replacement, 0, &fee_input)
        .unwrap();
    wallet.release_fee_input(&fee_input);
    let hex = bitcoin::consensus::encode::serialize_hex(&replacement);
    chain_call(&alice, "sendrawtransaction", vec![json!(hex)]).await;
    assert_eq!(
        mempool_spender(&alice, htlc_out).await,
        None,
        "replaced away"
    );
    bob.node.shutdown().await;

    // The hub's timeout claim takes the output once the HTLC expired.
    let resolution = resolution_of(&hub, &alice, &b_id).await;
    let timeout: Vec<(String, String, u64)> = ours(&resolution)
        .into_iter()
        .filter(|(o, k, _)| *o == htlc_out.to_string() && k == "their_htlc_timeout")
        .collect();
    assert_eq!(timeout.len(), 1, "{resolution:#}");
    assert_eq!(timeout[0].2, 100_000);
    let forwards = hub.api.get("/v1/forwards").await.unwrap();
    let fwd = forwards["forwards"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["payment_hash"] == hash.as_str())
        .unwrap()
        .clone();
    assert_eq!(fwd["status"], "settled", "{fwd:#}");
    assert!(pending(&alice, &a_id).await.is_empty());
    for n in [alice, hub] {
        n.node.shutdown().await;
    }
}
