//! Disputes on the embedded chain (the start of them): a user broadcasts a revoked commitment
//! with an HTLC in flight, and the hub's justice transaction takes everything; a force close
//! puts the closer's commitment on chain and its funds come back after the delay.

mod channels_support;
#[path = "disputes/cycling.rs"]
mod cycling;

use channels_support::*;
use serde_json::json;

const CAPACITY_SAT: u64 = 1_000_000;

async fn confirmed(n: &TestNode) -> u64 {
    n.confirmed_sat().await
}

/// Mines a few blocks at a time until `cond` holds (each tip lets the monitors act on every
/// claim that has matured).
async fn mine_until(miner: &TestNode, what: &str, mut cond: impl AsyncFnMut() -> bool) {
    for _ in 0..100 {
        if cond().await {
            return;
        }
        miner.mine(6, &burn_address()).await;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    panic!("never happened: {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cheater_loses_everything_to_the_justice_transaction() {
    init_logs();
    let tmp = tempfile::tempdir().unwrap();
    let hub = start_payments(&tmp.path().join("hub"), None).await;
    let alice = start_payments(&tmp.path().join("alice"), Some(&hub)).await;
    fund(&alice).await;
    let id = open_active(&alice, &hub, CAPACITY_SAT, 0, "anchors").await;

    // alice pays the hub 400,000 sat: her previous commitment still has the HTLC in flight.
    pay_hub(&alice, &hub, 400_000_000).await;
    let alice_before = confirmed(&alice).await;
    let hub_before = confirmed(&hub).await;

    let cheat = alice
        .api
        .post(&format!("/v1/dev/channels/{id}/cheat"), json!({}))
        .await
        .unwrap();
    assert_eq!(cheat["channel_id"], id.as_str());

    // The revoked commitment confirms; the hub's justice transaction takes alice's
    // to_local and the HTLC output.
    let mut gained = 0;
    mine_until(&hub, "the hub swept the revoked commitment", async || {
        gained = confirmed(&hub).await.saturating_sub(hub_before);
        gained > CAPACITY_SAT - 5_000
    })
    .await;
    hub.wait_channel(&id, "closed", |c| c["state"] == "closed")
        .await;
    let mut resolution = serde_json::Value::Null;
    mine_until(&hub, "the hub recorded the resolution", async || {
        resolution =
            hub.api.get(&format!("/v1/channels/{id}")).await.unwrap()["resolution"].clone();
        !resolution.is_null()
    })
    .await;
    assert_eq!(resolution["spend"], "revoked", "{resolution:#}");
    assert_eq!(
        resolution["received_sat"].as_u64().unwrap(),
        gained,
        "{resolution:#}"
    );
    // To the satoshi: one justice transaction spent every output of the revoked commitment
    // but the anchors, and the hub's wallet gained exactly what it pays.
    let cheat_txid: bitcoin::Txid = cheat["txid"].as_str().unwrap().parse().unwrap();
    let listed = hub.api.get("/v1/onchain/transactions").await.unwrap();
    let wallet_txs: Vec<bitcoin::Txid> = listed["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["txid"].as_str().unwrap().parse().unwrap())
        .collect();
    let cheat_tx = raw_tx(&hub, &cheat_txid.to_string()).await;
    let mut justice = Vec::new();
    for t in wallet_txs {
        let tx = raw_tx(&hub, &t.to_string()).await;
        if tx
            .input
            .iter()
            .any(|i| i.previous_output.txid == cheat_txid)
        {
            justice.push(tx);
        }
    }
    assert_eq!(justice.len(), 1, "one justice transaction");
    let justice = &justice[0];
    let mut taken: Vec<u32> = justice
        .input
        .iter()
        .map(|i| i.previous_output.vout)
        .collect();
    taken.sort();
    let not_anchors: Vec<u32> = (0..cheat_tx.output.len() as u32)
        .filter(|v| cheat_tx.output[*v as usize].value.to_sat() != 330)
        .collect();
    assert_eq!(
        taken, not_anchors,
        "to_local and the HTLC output, nothing left"
    );
    assert_eq!(justice.output.len(), 1);
    assert_eq!(
        gained,
        justice.output[0].value.to_sat(),
        "the wallet has all of it"
    );
    let claimed: u64 = not_anchors
        .iter()
        .map(|v| cheat_tx.output[*v as usize].value.to_sat())
        .sum();
    assert!(
        claimed - gained < 1_000,
        "a justice fee of {} sat",
        claimed - gained
    );
    assert_eq!(
        confirmed(&alice).await,
        alice_before,
        "the cheater got nothing back"
    );
    for n in [alice, hub] {
        n.node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_force_close_our_funds_come_back_after_the_delay() {
    init_logs();
    let tmp = tempfile::tempdir().unwrap();
    // alice hosts the chain here: the hub is the one that disappears.
    let alice = start_payments(&tmp.path().join("alice"), None).await;
    let hub = start_payments(&tmp.path().join("hub"), Some(&alice)).await;
    fund(&alice).await;
    let id = open_active(&alice, &hub, CAPACITY_SAT, 0, "static_remotekey").await;
    pay_hub(&alice, &hub, 300_000_000).await;
    let alice_before = confirmed(&alice).await;
    let hub_before = confirmed(&hub).await;

    // The hub disappears; alice force-closes.
    let hub_dir = hub.dir.clone();
    hub.node.shutdown().await;
    let closed = alice
        .api
        .post(
            &format!("/v1/channels/{id}/close"),
            json!({ "force": true }),
        )
        .await
        .unwrap();
    assert_eq!(closed["phase"], "force_closing");
    let commitment_txid = closed["closing_txid"].clone();
    let alice_res = resolution_of(&alice, &alice, &id).await;
    assert_eq!(alice_res["spend"], "local", "{alice_res:#}");
    // The hub comes back and takes its to_remote.
    let hub = start_payments(&hub_dir, Some(&alice)).await;
    let hub_res = resolution_of(&hub, &alice, &id).await;
    assert_eq!(hub_res["spend"], "remote", "{hub_res:#}");
    assert_eq!(hub_res["spend_txid"], alice_res["spend_txid"]);
    if !commitment_txid.is_null() {
        assert_eq!(alice_res["spend_txid"], commitment_txid);
    }

    // To the satoshi: the hub's 300,000 sat were its to_remote, alice's 700,000 paid the
    // commitment fee and became her to_local; each wallet gained what its record says.
    let output = |r: &serde_json::Value, kind: &str| -> u64 {
        let outs: Vec<&serde_json::Value> = r["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| o["kind"] == kind)
            .collect();
        assert_eq!(outs.len(), 1, "one {kind} in {r:#}");
        assert_eq!(outs[0]["ours"], true, "{r:#}");
        outs[0]["amount_sat"].as_u64().unwrap()
    };
    assert_eq!(output(&hub_res, "to_remote"), 300_000);
    let to_local = output(&alice_res, "to_local");
    let commitment = raw_tx(&alice, alice_res["spend_txid"].as_str().unwrap()).await;
    let commit_fee = CAPACITY_SAT
        - commitment
            .output
            .iter()
            .map(|o| o.value.to_sat())
            .sum::<u64>();
    assert_eq!(to_local + commit_fee, 700_000);
    for (n, r, before) in [
        (&alice, &alice_res, alice_before),
        (&hub, &hub_res, hub_before),
    ] {
        let received = r["received_sat"].as_u64().unwrap();
        let fees = r["fees_sat"].as_u64().unwrap();
        assert_eq!(confirmed(n).await - before, received, "{r:#}");
        let claimed: u64 = r["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["amount_sat"].as_u64().unwrap())
            .sum();
        assert_eq!(received + fees, claimed, "{r:#}");
        assert!(fees < 1_000, "{r:#}");
    }
    for n in [alice, hub] {
        n.node.shutdown().await;
    }
}

/// Mines until `n` records the channel's on-chain resolution, and returns it.
async fn resolution_of(n: &TestNode, miner: &TestNode, id: &str) -> serde_json::Value {
    let mut resolution = serde_json::Value::Null;
    mine_until(miner, "the resolution is recorded", async || {
        resolution = n.channel(id).await["resolution"].clone();
        !resolution.is_null()
    })
    .await;
    resolution
}

/// The channel's pending HTLCs as bob or the hub sees them: (direction, id, amount_msat).
async fn pending(n: &TestNode, id: &str) -> Vec<(String, u64, u64)> {
    n.channel(id).await["pending_htlcs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["direction"].as_str().unwrap().to_string(),
                h["id"].as_u64().unwrap(),
                h["amount_msat"].as_u64().unwrap(),
            )
        })
        .collect()
}

async fn wait_pending(n: &TestNode, id: &str, count: usize) {
    for _ in 0..400 {
        if pending(n, id).await.len() == count {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!(
        "{count} pending HTLCs never showed: {:?}",
        pending(n, id).await
    );
}

fn channel_id_bytes(id: &str) -> [u8; 32] {
    hex::decode(id).unwrap().try_into().unwrap()
}

/// The outputs of a resolution record that are `ours`, keyed by outpoint.
fn ours(r: &serde_json::Value) -> Vec<(String, String, u64)> {
    r["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["ours"] == true)
        .map(|o| {
            (
                o["outpoint"].as_str().unwrap().to_string(),
                o["kind"].as_str().unwrap().to_string(),
                o["amount_sat"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// bob force-closes his channel with the hub while three HTLCs are in flight on it:
/// A (alice -> hub -> bob, bob holds it and knows the preimage), B (hub -> bob, nobody knows
/// the preimage) and C (bob -> hub -> alice, alice holds it). On chain bob takes A with its
/// preimage, the hub learns it there and is paid by alice upstream; the hub takes B back
/// after its expiry; bob takes C back after its expiry. Everything checked to the satoshi.
/// With `restart_hub`, the hub is down from bob's force close until bob has claimed A and B
/// has expired: it must learn all of it from the chain when it is back.
async fn force_close_with_htlcs_both_ways(channel_type: &str, restart_hub: bool) {
    use bitcoin::hashes::{sha256, Hash};
    use chanhub::channel::Command;
    init_logs();
    let tmp = tempfile::tempdir().unwrap();
    // alice and bob hold the HTLCs they receive (the router leaves them to the test); alice
    // runs the chain, so the hub may come and go.
    let alice = start(&tmp.path().join("alice"), None).await;
    let hub = start_payments(&tmp.path().join("hub"), Some(&alice)).await;
    let bob = start(&tmp.path().join("bob"), Some(&alice)).await;
    fund(&alice).await;
    fund(&hub).await;
    // On anchors channels HTLC transactions take their fee from the wallet: bob needs coins
    // (a block reward, whatever the halvings left of it).
    let addr = bob.new_address().await;
    alice.mine(1, &addr).await;
    alice.mine(100, &burn_address()).await;
    mine_until(&alice, "bob's coins matured", async || {
        confirmed(&bob).await > 0
    })
    .await;
    let a_id = open_active(&alice, &hub, CAPACITY_SAT, 200_000_000, channel_type).await;
    let b_id = open_active(&hub, &bob, CAPACITY_SAT, 300_000_000, channel_type).await;

    // A: alice pays bob's invoice through the hub; bob holds it.
    let inv_a = bob
        .api
        .post(
            "/v1/invoices",
            json!({ "amount_msat": 100_000_000u64, "description": "A" }),
        )
        .await
        .unwrap();
    let paid_a = alice
        .api
        .post(
            "/v1/payments",
            json!({ "bolt11": inv_a["bolt11"], "wait": false }),
        )
        .await
        .unwrap();
    assert_eq!(paid_a["status"], "pending", "{paid_a:#}");
    wait_pending(&bob, &b_id, 1).await;
    // B: the hub offers bob an HTLC whose preimage nobody has.
    let height = alice_chain_height(&alice).await;
    hub.node
        .channels()
        .command(
            channel_id_bytes(&b_id),
            Command::AddHtlc {
                amount_msat: 50_000_000,
                payment_hash: sha256::Hash::hash(b"nobody knows").to_byte_array(),
                cltv_expiry: height + 30,
                onion: vec![0; chanhub::wire::types::ONION_PACKET_LEN],
                extra_fee_msat: None,
            },
        )
        .await
        .unwrap();
    wait_pending(&bob, &b_id, 2).await;
    // C: bob pays alice's invoice through the hub; alice holds it.
    let inv_c = alice
        .api
        .post(
            "/v1/invoices",
            json!({ "amount_msat": 70_000_000u64, "description": "C" }),
        )
        .await
        .unwrap();
    bob.api
        .post(
            "/v1/payments",
            json!({ "bolt11": inv_c["bolt11"], "wait": false }),
        )
        .await
        .unwrap();
    wait_pending(&alice, &a_id, 2).await; // A out, C in
    wait_pending(&hub, &b_id, 3).await;
    wait_pending(&bob, &b_id, 3).await;

    // The hub's metrics see both channels and the five HTLCs in flight through it.
    let m = metrics(&hub).await;
    assert_eq!(m["chanhub_channels{state=\"active\"}"], 2.0, "{m:?}");
    assert_eq!(
        m["chanhub_htlcs_in_flight{direction=\"offered\"}"], 3.0,
        "A, B, C"
    );
    assert_eq!(
        m["chanhub_htlcs_in_flight{direction=\"received\"}"], 2.0,
        "A, C"
    );
    assert_eq!(m["chanhub_forwards{status=\"pending\"}"], 2.0, "A and C");
    let hub_before = confirmed(&hub).await;
    let bob_before = confirmed(&bob).await;
    let (hub, hub_away) = if restart_hub {
        let away: (std::path::PathBuf, std::net::SocketAddr) =
            (hub.dir.clone(), hub.peer_addr().parse().unwrap());
        hub.node.shutdown().await;
        (None, Some(away))
    } else {
        (Some(hub), None)
    };
    bob.api
        .post(
            &format!("/v1/channels/{b_id}/close"),
            json!({ "force": true }),
        )
        .await
        .unwrap();
    // alice gives up on C, as a payee would: the hub fails it back upstream, where bob's
    // channel is already closed (so bob takes C back on chain).
    let c_in_alice = pending(&alice, &a_id)
        .await
        .into_iter()
        .find(|(d, _, _)| d == "received")
        .unwrap();
    alice
        .node
        .channels()
        .command(
            channel_id_bytes(&a_id),
            Command::Fail {
                id: c_in_alice.1,
                reason: vec![0; 256],
            },
        )
        .await
        .unwrap();

    let hub = match hub_away {
        Some((dir, listen)) => {
            // bob's claim of A with its preimage confirms, and B expires, while the hub is
            // away. Back, it learns A's preimage from the chain and pays alice's HTLC.
            mine_until(&alice, "B expired", async || {
                alice_chain_height(&alice).await > height + 40
            })
            .await;
            let hub = start_payments_on(&dir, Some(&alice), listen).await;
            wait_pending(&alice, &a_id, 0).await;
            hub
        }
        None => hub.unwrap(),
    };
    let hub_res = resolution_of(&hub, &alice, &b_id).await;
    let bob_res = resolution_of(&bob, &alice, &b_id).await;
    assert_eq!(bob_res["spend"], "local", "{bob_res:#}");
    assert_eq!(hub_res["spend"], "remote", "{hub_res:#}");

    let m = metrics(&hub).await;
    assert_eq!(m["chanhub_channels{state=\"closed\"}"], 1.0, "{m:?}");
    assert_eq!(
        m["chanhub_forwards{status=\"settled\"}"], 1.0,
        "A, paid on chain"
    );
    assert_eq!(
        m["chanhub_forwards{status=\"failed\"}"], 1.0,
        "C, failed back"
    );
    // A: the hub learnt the preimage from bob's claim and alice's payment succeeded.
    let hash_a = inv_a["payment_hash"].as_str().unwrap();
    let payment = alice
        .api
        .get(&format!("/v1/payments/{hash_a}"))
        .await
        .unwrap();
    assert_eq!(payment["status"], "succeeded", "{payment:#}");
    let forwards = hub.api.get("/v1/forwards").await.unwrap();
    let fwd_a = forwards["forwards"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["payment_hash"] == hash_a)
        .unwrap()
        .clone();
    assert_eq!(fwd_a["status"], "settled", "{fwd_a:#}");
    assert!(fwd_a["fee_msat"].as_u64().unwrap() > 0);
    assert!(
        pending(&alice, &a_id).await.is_empty(),
        "alice's channel is clean"
    );

    // Who took what: the hub its balance and B; bob his balance, A and C.
    let kinds = |r: &serde_json::Value| {
        let mut k: Vec<String> = ours(r).into_iter().map(|(_, k, _)| k).collect();
        k.sort();
        k
    };
    assert_eq!(kinds(&hub_res), ["their_htlc_timeout", "to_remote"]);
    assert_eq!(
        kinds(&bob_res),
        [
            "htlc_second_stage",
            "htlc_second_stage",
            "htlc_success",
            "htlc_timeout",
            "to_local"
        ]
    );
    let amount_of = |r: &serde_json::Value, kind: &str| {
        ours(r)
            .into_iter()
            .find(|(_, k, _)| k == kind)
            .map(|(_, _, a)| a)
            .unwrap()
    };
    assert_eq!(amount_of(&hub_res, "their_htlc_timeout"), 50_000, "B");
    assert_eq!(amount_of(&bob_res, "htlc_success"), 100_000, "A");
    let c_amount = pending(&bob, &b_id).await; // closed: still the last commitment's HTLCs
    let c_msat = c_amount
        .iter()
        .find(|(d, _, _)| d == "offered")
        .map(|(_, _, m)| *m)
        .unwrap();
    assert_eq!(amount_of(&bob_res, "htlc_timeout"), c_msat / 1000, "C");

    // Every output of bob's commitment but the anchors went to exactly one side, and each
    // side's wallet gained exactly what its record says.
    let spend_txid = bob_res["spend_txid"].as_str().unwrap().to_string();
    let commitment = raw_tx(&alice, &spend_txid).await;
    let mut first_level: Vec<String> = ours(&hub_res)
        .into_iter()
        .chain(ours(&bob_res))
        .map(|(o, _, _)| o)
        .filter(|o| o.starts_with(&spend_txid))
        .collect();
    first_level.sort();
    let mut expected: Vec<String> = (0..commitment.output.len())
        .filter(|v| commitment.output[*v].value.to_sat() != 330)
        .map(|v| format!("{spend_txid}:{v}"))
        .collect();
    expected.sort();
    assert_eq!(first_level, expected, "each output claimed once");
    for (n, r, before) in [(&hub, &hub_res, hub_before), (&bob, &bob_res, bob_before)] {
        let received = r["received_sat"].as_u64().unwrap();
        let fees = r["fees_sat"].as_u64().unwrap();
        assert_eq!(confirmed(n).await - before, received, "{r:#}");
        let claimed: u64 = ours(r)
            .into_iter()
            .filter(|(o, _, _)| o.starts_with(&spend_txid))
            .map(|(_, _, a)| a)
            .sum();
        assert_eq!(received + fees, claimed, "{r:#}");
        assert!(fees < 3_000, "{r:#}");
    }
    for n in [alice, bob, hub] {
        n.node.shutdown().await;
    }
}

async fn alice_chain_height(n: &TestNode) -> u32 {
    n.api.get("/v1/chain/info").await.unwrap()["block_height"]
        .as_u64()
        .unwrap() as u32
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn force_close_with_htlcs_both_ways_static_remotekey() {
    force_close_with_htlcs_both_ways("static_remotekey", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn force_close_with_htlcs_both_ways_hub_restarted_midway() {
    force_close_with_htlcs_both_ways("static_remotekey", true).await;
}

/// Adds an HTLC from `from` on channel `id` by hand (the nodes hold what they receive).
async fn add_htlc(from: &TestNode, id: &str, amount_msat: u64, label: &[u8], cltv_expiry: u32) {
    use bitcoin::hashes::{sha256, Hash};
    from.node
        .channels()
        .command(
            channel_id_bytes(id),
            chanhub::channel::Command::AddHtlc {
                amount_msat,
                payment_hash: sha256::Hash::hash(label).to_byte_array(),
                cltv_expiry,
                onion: vec![0; chanhub::wire::types::ONION_PACKET_LEN],
                extra_fee_msat: None,
            },
        )
        .await
        .unwrap();
}

/// alice broadcasts a revoked commitment holding HTLCs in both directions. With
/// `restart_hub` the hub is down when it confirms and finds it when back; with `reorg` the
/// blocks holding the commitment and the justice transaction are reorganised away before the
/// resolution is final; with `cheater_htlc_tx` (and the hub down) alice also broadcasts the
/// revoked commitment's HTLC-timeout transaction once her HTLC expired, and the hub takes
/// its output instead. Either way the hub takes everything, to the satoshi.
async fn cheat_with_htlcs_both_ways(restart_hub: bool, reorg: bool, cheater_htlc_tx: bool) {
    // HTLC transactions of anchors channels pay no fee of their own: the drill needs one that
    // does.
    let channel_type = if cheater_htlc_tx {
        "static_remotekey"
    } else {
        "anchors"
    };
    init_logs();
    let tmp = tempfile::tempdir().unwrap();
    // alice runs the chain so the hub can come and go; both hold the HTLCs they receive.
    let alice = start(&tmp.path().join("alice"), None).await;
    let hub = start(&tmp.path().join("hub"), Some(&alice)).await;
    fund(&alice).await;
    let id = open_active(&alice, &hub, CAPACITY_SAT, 300_000_000, channel_type).await;
    let height = alice_chain_height(&alice).await;
    add_htlc(&alice, &id, 200_000_000, b"alice to hub", height + 50).await;
    add_htlc(&hub, &id, 100_000_000, b"hub to alice", height + 60).await;
    wait_pending(&alice, &id, 2).await;
    wait_pending(&hub, &id, 2).await;
    // One more update, so the commitment with both HTLCs is alice's previous, revoked one.
    add_htlc(&alice, &id, 5_000_000, b"one more", height + 70).await;
    wait_pending(&alice, &id, 3).await;
    wait_pending(&hub, &id, 3).await;
    let alice_before = confirmed(&alice).await;
    let hub_before = confirmed(&hub).await;

    let hub_away = restart_hub.then(|| {
        let listen: std::net::SocketAddr = hub.peer_addr().parse().unwrap();
        (hub.dir.clone(), listen)
    });
    let hub = match hub_away {
        Some(_) => {
            hub.node.shutdown().await;
            None
        }
        None => Some(hub),
    };
    let cheat = alice
        .api
        .post(&format!("/v1/dev/channels/{id}/cheat"), json!({}))
        .await
        .unwrap();
    let cheat_txid = cheat["txid"].as_str().unwrap().to_string();
    alice.mine(3, &burn_address()).await;
    if cheater_htlc_tx {
        // Past the expiry of alice's HTLC, its HTLC-timeout transaction is valid.
        while alice_chain_height(&alice).await < height + 50 {
            alice.mine(10, &burn_address()).await;
        }
        let second = alice
            .api
            .post(
                &format!("/v1/dev/channels/{id}/cheat"),
                json!({ "htlc_timeouts": true }),
            )
            .await
            .unwrap();
        assert_eq!(second["txids"].as_array().unwrap().len(), 1, "{second:#}");
        alice.mine(1, &burn_address()).await;
    }
    let hub = match hub_away {
        Some((dir, listen)) => start_on(&dir, Some(&alice), listen).await,
        None => hub.unwrap(),
    };
    let revoked = raw_tx(&alice, &cheat_txid).await;
    let anchors = if channel_type == "anchors" { 2 } else { 0 };
    assert_eq!(
        revoked.output.len(),
        anchors + 2 + 2,
        "anchors, to_local, to_remote and both HTLCs"
    );

    if reorg {
        // Wait for the justice transaction to confirm, then take away the blocks from the
        // commitment's on: both go back to the mempool and must confirm again.
        // One block at a time: the reorg must come before the resolution is final.
        for _ in 0..50 {
            if hub.channel(&id).await["closing_txid"] == cheat_txid.as_str()
                && confirmed(&hub).await > hub_before
            {
                break;
            }
            alice.mine(1, &burn_address()).await;
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        }
        assert!(confirmed(&hub).await > hub_before, "justice confirmed");
        let block = block_of(&alice, &cheat_txid).await;
        invalidate(&alice, block).await;
        // The hub's wallet sees the justice output leave the chain.
        for _ in 0..100 {
            if confirmed(&hub).await == hub_before {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(confirmed(&hub).await, hub_before, "reorganised away");
        assert!(hub.channel(&id).await["resolution"].is_null());
    }
    let res = resolution_of(&hub, &alice, &id).await;
    assert_eq!(res["spend"], "revoked", "{res:#}");
    assert_eq!(res["spend_txid"], cheat_txid.as_str());
    let mut kinds: Vec<String> = ours(&res).into_iter().map(|(_, k, _)| k).collect();
    kinds.sort();
    let expected_kinds: &[&str] = if cheater_htlc_tx {
        &[
            "justice_htlc",
            "justice_second_stage",
            "justice_to_local",
            "to_remote",
        ]
    } else {
        &[
            "justice_htlc",
            "justice_htlc",
            "justice_to_local",
            "to_remote",
        ]
    };
    assert_eq!(kinds, expected_kinds, "{res:#}");
    // Every output of the revoked commitment but the anchors is the hub's, directly or
    // through the output of the cheater's HTLC transaction.
    let mut taken: Vec<String> = res["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["outpoint"].as_str().unwrap().to_string())
        .filter(|o| o.starts_with(&cheat_txid))
        .collect();
    taken.sort();
    let mut expected: Vec<String> = (0..revoked.output.len())
        .filter(|v| revoked.output[*v].value.to_sat() != 330)
        .map(|v| format!("{cheat_txid}:{v}"))
        .collect();
    expected.sort();
    assert_eq!(taken, expected, "every output but the anchors");
    let not_ours = res["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["ours"] == false)
        .count();
    assert_eq!(not_ours, usize::from(cheater_htlc_tx), "{res:#}");
    let received = res["received_sat"].as_u64().unwrap();
    let fees = res["fees_sat"].as_u64().unwrap();
    let total: u64 = ours(&res).into_iter().map(|(_, _, a)| a).sum();
    assert_eq!(received + fees, total);
    assert_eq!(confirmed(&hub).await - hub_before, received);
    assert!(fees < 2_000, "{res:#}");
    assert_eq!(
        confirmed(&alice).await,
        alice_before,
        "the cheater got nothing back"
    );
    for n in [alice, hub] {
        n.node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cheat_while_the_hub_is_down_is_punished_when_it_is_back() {
    cheat_with_htlcs_both_ways(true, false, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cheaters_htlc_transaction_is_taken_too() {
    cheat_with_htlcs_both_ways(true, false, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reorg_of_the_cheat_and_the_justice_is_still_punished() {
    cheat_with_htlcs_both_ways(false, true, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn force_close_with_htlcs_both_ways_anchors() {
    force_close_with_htlcs_both_ways("anchors", false).await;
}

/// Fees rose after the channel opened: alice's commitment pays about 1 sat/vB when the market
/// asks 20. Her force close sends a child through her anchor with it, paying for both, and
/// the resolution counts what that child cost her wallet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_force_close_below_the_market_rate_gets_a_cpfp_child() {
    init_logs();
    let tmp = tempfile::tempdir().unwrap();
    let alice = start(&tmp.path().join("alice"), None).await;
    let hub = start(&tmp.path().join("hub"), Some(&alice)).await;
    fund(&alice).await;
    let id = open_active(&alice, &hub, CAPACITY_SAT, 300_000_000, "anchors").await;
    chain_call(&alice, "setfeeestimate", vec![json!(20)]).await;
    let alice_before = confirmed(&alice).await;

    let closed = alice
        .api
        .post(
            &format!("/v1/channels/{id}/close"),
            json!({ "force": true }),
        )
        .await
        .unwrap();
    assert_eq!(closed["phase"], "force_closing");
    let mempool: Vec<String> =
        serde_json::from_value(chain_call(&alice, "getrawmempool", vec![]).await).unwrap();
    assert_eq!(
        mempool.len(),
        2,
        "the commitment and its child: {mempool:?}"
    );
    let mut txs = Vec::new();
    for t in &mempool {
        txs.push(raw_tx(&alice, t).await);
    }
    let (commitment, child) = if txs[0]
        .input
        .iter()
        .any(|i| i.previous_output.txid == txs[1].compute_txid())
    {
        (&txs[1], &txs[0])
    } else {
        (&txs[0], &txs[1])
    };
    let anchor_in = child
        .input
        .iter()
        .find(|i| i.previous_output.txid == commitment.compute_txid())
        .expect("the child spends the commitment");
    assert_eq!(
        commitment.output[anchor_in.previous_output.vout as usize]
            .value
            .to_sat(),
        330,
        "through our anchor"
    );
    assert_eq!(child.input.len(), 2, "the anchor and a wallet coin");
    let entry = |t: bitcoin::Txid| {
        let alice = &alice;
        async move {
            let e = chain_call(alice, "getmempoolentry", vec![json!(t.to_string())]).await;
            let fee = (e["fees"]["base"].as_f64().unwrap() * 1e8).round() as u64;
            (fee, e["vsize"].as_u64().unwrap())
        }
    };
    let (parent_fee, parent_vsize) = entry(commitment.compute_txid()).await;
    let (child_fee, child_vsize) = entry(child.compute_txid()).await;
    assert!(
        parent_fee < 2 * parent_vsize,
        "the commitment alone pays about 1 sat/vB"
    );
    let package_rate = (parent_fee + child_fee) as f64 / (parent_vsize + child_vsize) as f64;
    assert!(
        (20.0..21.0).contains(&package_rate),
        "the package pays the market's 20 sat/vB: {package_rate}"
    );

    let res = resolution_of(&alice, &alice, &id).await;
    assert_eq!(res["spend"], "local", "{res:#}");
    let kinds: Vec<&str> = res["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"anchor_cpfp") && kinds.contains(&"to_local"),
        "{res:#}"
    );
    let received = res["received_sat"].as_u64().unwrap();
    assert_eq!(confirmed(&alice).await - alice_before, received, "{res:#}");
    // The child's wallet cost is in the record: what the to_local sweep brought, less it.
    let to_local = res["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["kind"] == "to_local")
        .unwrap()["amount_sat"]
        .as_u64()
        .unwrap();
    assert_eq!(received + res["fees_sat"].as_u64().unwrap(), to_local + 330);
    for n in [alice, hub] {
        n.node.shutdown().await;
    }
}

/// `GET /metrics` of `n`, as sample name (with labels) -> value.
async fn metrics(n: &TestNode) -> std::collections::BTreeMap<String, f64> {
    let text = metrics_text(n).await;
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (name, value) = l.rsplit_once(' ').unwrap();
            (name.to_string(), value.parse().unwrap())
        })
        .collect()
}

/// A JSON-RPC call to the chain `host` runs (embedded), over its bitcoind-compatible RPC.
async fn chain_call(
    host: &TestNode,
    method: &'static str,
    params: Vec<serde_json::Value>,
) -> serde_json::Value {
    let rpc_url = format!("http://{}", host.node.node_json.chain_rpc_addr.unwrap());
    let cookie = host.node.node_json.chain_rpc_cookie.clone().unwrap();
    tokio::task::spawn_blocking(move || {
        use bitcoincore_rpc::{Auth, Client, RpcApi};
        let c = Client::new(&rpc_url, Auth::CookieFile(cookie)).unwrap();
        c.call::<serde_json::Value>(method, &params).unwrap()
    })
    .await
    .unwrap()
}

/// A transaction from the chain `host` runs.
async fn raw_tx(host: &TestNode, txid: &str) -> bitcoin::Transaction {
    let hex = chain_call(host, "getrawtransaction", vec![json!(txid)]).await;
    bitcoin::consensus::encode::deserialize_hex(hex.as_str().unwrap()).unwrap()
}

/// The block holding `txid`, on the chain `host` runs.
async fn block_of(host: &TestNode, txid: &str) -> bitcoin::BlockHash {
    let info = chain_call(host, "getrawtransaction", vec![json!(txid), json!(true)]).await;
    info["blockhash"].as_str().unwrap().parse().unwrap()
}

async fn invalidate(host: &TestNode, block: bitcoin::BlockHash) {
    chain_call(host, "invalidateblock", vec![json!(block.to_string())]).await;
}
