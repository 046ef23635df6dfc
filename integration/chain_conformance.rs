//! One conformance suite for every `ChainSource`: the embedded node in-process and the RPC
//! client against the embedded node's server must behave the same, reorgs included.

#[path = "support/mod.rs"]
mod support;

use std::sync::Arc;

use async_trait::async_trait;
use bitcoin::blockdata::constants::genesis_block;
use bitcoin::hashes::Hash;
use bitcoin::{Amount, BlockHash, Network, OutPoint, Txid};
use chanhub::chain::regtest::{EmbeddedChainSource, RegtestNode};
use chanhub::chain::rpc_client::RpcChainSource;
use chanhub::chain::{ChainError, ChainSource, TestAccept};
use serde_json::json;
use support::{Served, Wallet};

/// What the suite needs besides the seam: mining and invalidation (test-only controls).
#[async_trait]
trait Control: Send + Sync {
    async fn mine(&self, n: u32, wallet: &Wallet) -> Vec<BlockHash>;
    async fn invalidate(&self, hash: &BlockHash);
}

struct EmbeddedControl(Arc<RegtestNode>);

#[async_trait]
impl Control for EmbeddedControl {
    async fn mine(&self, n: u32, wallet: &Wallet) -> Vec<BlockHash> {
        self.0.generate_to_address(n, &wallet.address).unwrap()
    }
    async fn invalidate(&self, hash: &BlockHash) {
        self.0.invalidate_block(hash).unwrap()
    }
}

struct RpcControl(Arc<RpcChainSource>);

#[async_trait]
impl Control for RpcControl {
    async fn mine(&self, n: u32, wallet: &Wallet) -> Vec<BlockHash> {
        self.0
            .generate_to_address(n, &wallet.address)
            .await
            .unwrap()
    }
    async fn invalidate(&self, hash: &BlockHash) {
        let r = self
            .0
            .call("invalidateblock", json!([hash.to_string()]))
            .await
            .unwrap();
        assert!(r.is_null());
    }
}

fn rejection(e: ChainError) -> (i64, String) {
    match e {
        ChainError::Rejected { code, reason } => (code, reason),
        other => panic!("expected a rejection, got {other:?}"),
    }
}

/// Runs the suite; returns what it saw, in a form comparable across sources (no hashes,
/// which differ between nodes).
async fn conformance(src: &dyn ChainSource, ctl: &dyn Control) -> Vec<String> {
    let mut seen = Vec::new();
    let wallet = Wallet::new(7);
    let genesis = genesis_block(Network::Regtest).block_hash();

    // An empty chain.
    let tip = src.tip().await.unwrap();
    assert_eq!((tip.height, tip.hash), (0, genesis));
    assert_eq!(src.block_hash(0).await.unwrap(), Some(genesis));
    assert_eq!(src.block_hash(1).await.unwrap(), None);
    let h = src.header(&genesis).await.unwrap().unwrap();
    assert_eq!((h.height, h.in_active_chain), (0, true));
    assert_eq!(h.header.block_hash(), genesis);
    let b = src.block(&genesis).await.unwrap().unwrap();
    assert_eq!(b.block_hash(), genesis);
    let unknown = BlockHash::from_byte_array([0x42; 32]);
    assert_eq!(src.header(&unknown).await.unwrap(), None);
    assert_eq!(src.block(&unknown).await.unwrap(), None);
    let nowhere = Txid::from_byte_array([0x42; 32]);
    assert_eq!(src.transaction(&nowhere).await.unwrap(), None);
    assert_eq!(src.utxo(&OutPoint::new(nowhere, 0)).await.unwrap(), None);

    // 101 blocks: the first coinbase matures.
    let mined = ctl.mine(101, &wallet).await;
    let tip = src.tip().await.unwrap();
    assert_eq!((tip.height, tip.hash), (101, mined[100]));
    assert_eq!(src.block_hash(1).await.unwrap(), Some(mined[0]));
    let h = src.header(&mined[100]).await.unwrap().unwrap();
    assert_eq!((h.height, h.header.prev_blockhash), (101, mined[99]));
    let b1 = src.block(&mined[0]).await.unwrap().unwrap();
    assert_eq!(b1.txdata[0].output[0].script_pubkey, wallet.script());
    let cb = b1.txdata[0].compute_txid();
    let info = src.transaction(&cb).await.unwrap().unwrap();
    assert_eq!(info.confirmations, 101);
    assert_eq!(info.block.map(|b| (b.height, b.hash)), Some((1, mined[0])));
    let coin = OutPoint::new(cb, 0);
    let u = src.utxo(&coin).await.unwrap().unwrap();
    assert!(u.coinbase);
    assert_eq!(u.confirmations, 101);
    assert_eq!(u.txout.value, Amount::from_btc(50.0).unwrap());
    seen.push(format!(
        "coinbase utxo {} conf {}",
        u.txout.value, u.confirmations
    ));

    // Test-accept then broadcast a spend.
    let tx = wallet.spend(coin, u.txout.value, Amount::from_sat(1_000));
    let txid = tx.compute_txid();
    match src.test_accept(&tx).await.unwrap() {
        TestAccept::Allowed {
            txid: t,
            vsize,
            fee_sat,
        } => {
            assert_eq!(t, txid);
            assert_eq!(vsize, tx.vsize() as u64);
            assert_eq!(fee_sat, 1_000);
            seen.push(format!("test_accept allowed fee {fee_sat}"));
        }
        other => panic!("not allowed: {other:?}"),
    }
    assert_eq!(src.broadcast(&tx).await.unwrap(), txid);
    // Broadcasting what the mempool holds is not an error.
    assert_eq!(src.broadcast(&tx).await.unwrap(), txid);
    let pending = src.transaction(&txid).await.unwrap().unwrap();
    assert_eq!((pending.block, pending.confirmations), (None, 0));
    assert_eq!(pending.tx, tx);
    let out = src.utxo(&OutPoint::new(txid, 0)).await.unwrap().unwrap();
    assert_eq!((out.confirmations, out.coinbase), (0, false));
    assert_eq!(src.utxo(&coin).await.unwrap(), None, "spent in the mempool");
    assert_eq!(src.mempool_spender(&coin).await.unwrap(), Some(txid));
    assert_eq!(
        src.mempool_spender(&OutPoint::new(txid, 0)).await.unwrap(),
        None
    );
    assert_eq!(
        src.mempool_spender(&OutPoint::new(nowhere, 0))
            .await
            .unwrap(),
        None
    );

    // Rejections with Core's reasons and codes.
    let conflict = wallet.spend(coin, u.txout.value, Amount::from_sat(2_000));
    let missing = wallet.spend(
        OutPoint::new(nowhere, 3),
        Amount::from_sat(10_000),
        Amount::from_sat(1_000),
    );
    let coin2 = OutPoint::new(
        src.block(&mined[1]).await.unwrap().unwrap().txdata[0].compute_txid(),
        0,
    );
    let free = wallet.spend(coin2, u.txout.value, Amount::ZERO);
    for (name, bad, code, reason, message) in [
        (
            "conflict",
            &conflict,
            -26,
            "txn-mempool-conflict",
            "txn-mempool-conflict",
        ),
        (
            "missing",
            &missing,
            -25,
            "missing-inputs",
            "bad-txns-inputs-missingorspent",
        ),
        (
            "free",
            &free,
            -26,
            "min relay fee not met",
            "min relay fee not met",
        ),
    ] {
        match src.test_accept(bad).await.unwrap() {
            TestAccept::Rejected { txid, reason: r } => {
                assert_eq!(txid, bad.compute_txid());
                assert_eq!(r, reason, "{name}");
            }
            other => panic!("{name} allowed: {other:?}"),
        }
        let (c, m) = rejection(src.broadcast(bad).await.unwrap_err());
        assert_eq!(c, code, "{name}");
        assert!(m.starts_with(message), "{name}: {m}");
        // The details after the reason name transactions, which differ between nodes.
        let head = m.split(", ").next().unwrap_or_default();
        seen.push(format!("{name}: {c} {head}"));
    }

    let rate = src.estimate_fee_rate(6).await.unwrap().unwrap();
    assert!(rate.to_sat_per_vb_ceil() >= 1);
    seen.push(format!("fee rate {} sat/kwu", rate.to_sat_per_kwu()));

    // Confirmation.
    let block = ctl.mine(1, &wallet).await[0];
    let confirmed = src.transaction(&txid).await.unwrap().unwrap();
    assert_eq!(confirmed.confirmations, 1);
    assert_eq!(
        confirmed.block.map(|b| (b.height, b.hash)),
        Some((102, block))
    );
    assert!(src
        .block(&block)
        .await
        .unwrap()
        .unwrap()
        .txdata
        .contains(&tx));
    assert_eq!(
        src.mempool_spender(&coin).await.unwrap(),
        None,
        "a confirmed spend is not the mempool's"
    );
    let (c, m) = rejection(src.broadcast(&tx).await.unwrap_err());
    assert_eq!(c, -27);
    seen.push(format!("rebroadcast confirmed: {c} {m}"));
    let more = ctl.mine(2, &wallet).await;
    assert_eq!(
        src.transaction(&txid).await.unwrap().unwrap().confirmations,
        3
    );
    assert_eq!(
        src.utxo(&OutPoint::new(txid, 0))
            .await
            .unwrap()
            .unwrap()
            .confirmations,
        3
    );

    // Reorg: invalidating the confirming block sends the transaction back to the mempool.
    ctl.invalidate(&block).await;
    let tip = src.tip().await.unwrap();
    assert_eq!((tip.height, tip.hash), (101, mined[100]));
    assert_eq!(src.block_hash(102).await.unwrap(), None);
    for gone in [block, more[0], more[1]] {
        // Core keeps invalidated blocks known (off the chain); the embedded node forgets
        // them. Either way they are not on the active chain.
        let h = src.header(&gone).await.unwrap();
        assert!(h.map_or(true, |h| !h.in_active_chain));
    }
    let back = src.transaction(&txid).await.unwrap().unwrap();
    assert_eq!((back.block, back.confirmations), (None, 0));
    assert_eq!(src.mempool_spender(&coin).await.unwrap(), Some(txid));
    assert_eq!(
        src.utxo(&OutPoint::new(txid, 0))
            .await
            .unwrap()
            .unwrap()
            .confirmations,
        0
    );
    seen.push(format!(
        "after invalidate: tip {} tx conf {}",
        tip.height, back.confirmations
    ));
    let again = ctl.mine(1, &wallet).await[0];
    let reconfirmed = src.transaction(&txid).await.unwrap().unwrap();
    assert_eq!(
        reconfirmed.block.map(|b| (b.height, b.hash)),
        Some((102, again))
    );
    seen.push(format!(
        "re-mined: tip {} tx conf {}",
        src.tip().await.unwrap().height,
        reconfirmed.confirmations
    ));
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_and_rpc_sources_behave_the_same() {
    let embedded_node = RegtestNode::in_memory().unwrap();
    let embedded = EmbeddedChainSource::new(embedded_node.clone());
    let embedded_seen = conformance(&embedded, &EmbeddedControl(embedded_node)).await;

    let served = Served::start().await;
    let rpc = Arc::new(served.client());
    let rpc_seen = conformance(rpc.as_ref(), &RpcControl(rpc.clone())).await;

    assert_eq!(embedded_seen, rpc_seen);
    served.server.shutdown().await;
}

/// Both sources over one node must give identical answers to identical questions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_sources_answer_identically_on_one_node() {
    let served = Served::start().await;
    let rpc = served.client();
    let embedded = EmbeddedChainSource::new(served.node.clone());
    let wallet = Wallet::new(9);
    let mined = served
        .node
        .generate_to_address(102, &wallet.address)
        .unwrap();
    let cb = served.node.block(&mined[0]).unwrap().unwrap().txdata[0].compute_txid();
    let tx = wallet.spend(
        OutPoint::new(cb, 0),
        Amount::from_btc(50.0).unwrap(),
        Amount::from_sat(500),
    );
    embedded.broadcast(&tx).await.unwrap();
    let pending = Wallet::new(9).spend(
        OutPoint::new(tx.compute_txid(), 0),
        tx.output[0].value,
        Amount::from_sat(400),
    );

    assert_eq!(rpc.tip().await.unwrap(), embedded.tip().await.unwrap());
    for h in [0, 1, 50, 102, 103] {
        assert_eq!(
            rpc.block_hash(h).await.unwrap(),
            embedded.block_hash(h).await.unwrap()
        );
    }
    for hash in [mined[0], mined[101], BlockHash::all_zeros()] {
        assert_eq!(
            rpc.header(&hash).await.unwrap(),
            embedded.header(&hash).await.unwrap()
        );
        assert_eq!(
            rpc.block(&hash).await.unwrap(),
            embedded.block(&hash).await.unwrap()
        );
    }
    for txid in [cb, tx.compute_txid(), Txid::all_zeros()] {
        assert_eq!(
            rpc.transaction(&txid).await.unwrap(),
            embedded.transaction(&txid).await.unwrap()
        );
        for vout in [0, 1] {
            let op = OutPoint::new(txid, vout);
            assert_eq!(
                rpc.utxo(&op).await.unwrap(),
                embedded.utxo(&op).await.unwrap()
            );
            assert_eq!(
                rpc.mempool_spender(&op).await.unwrap(),
                embedded.mempool_spender(&op).await.unwrap()
            );
        }
    }
    for t in [&tx, &pending] {
        assert_eq!(
            rpc.test_accept(t).await.unwrap(),
            embedded.test_accept(t).await.unwrap()
        );
    }
    for target in [1, 6, 144] {
        assert_eq!(
            rpc.estimate_fee_rate(target).await.unwrap(),
            embedded.estimate_fee_rate(target).await.unwrap()
        );
    }
    served.server.shutdown().await;
}
