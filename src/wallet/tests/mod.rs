//! Wallet behaviour against the in-memory [`TestChain`].

use std::sync::Arc;

use bitcoin::{Amount, Network, ScriptBuf, Transaction};

use super::test_chain::TestChain;
use super::*;
use crate::keys::Seed;

mod fee_input;

pub(super) const COIN: u64 = 100_000_000;

pub(super) struct Fixture {
    chain: Arc<TestChain>,
    store: Store,
    keys: Arc<KeysManager>,
    wallet: Wallet,
}

async fn wallet_on(chain: Arc<TestChain>, seed: u8, fresh: bool, mempool: bool) -> Fixture {
    let keys = Arc::new(KeysManager::new(
        &Seed::from_bytes([seed; 32]),
        Network::Regtest,
    ));
    let store = Store::open_in_memory().unwrap();
    let mp: Option<Arc<dyn MempoolSource>> = if mempool { Some(chain.clone()) } else { None };
    let wallet = Wallet::open(keys.clone(), store.clone(), chain.clone(), mp, fresh)
        .await
        .unwrap();
    Fixture {
        chain,
        store,
        keys,
        wallet,
    }
}

/// A script nobody in the test owns.
pub(super) fn stranger() -> ScriptBuf {
    let keys = KeysManager::new(&Seed::from_bytes([0xee; 32]), Network::Regtest);
    keys.wallet_script(Keychain::External, 0).unwrap()
}

/// Mines one block to the wallet and matures it: 50 BTC confirmed.
pub(super) async fn funded(seed: u8) -> Fixture {
    let f = wallet_on(Arc::new(TestChain::new()), seed, true, true).await;
    let addr = f.wallet.new_address().await.unwrap();
    f.chain.mine(1, &addr.script_pubkey());
    f.wallet.sync().await.unwrap();
    let b = f.wallet.balance().await.unwrap();
    assert_eq!((b.confirmed, b.immature), (0, 50 * COIN));
    f.chain.mine(98, &stranger());
    f.wallet.sync().await.unwrap();
    let b = f.wallet.balance().await.unwrap();
    assert_eq!(
        (b.confirmed, b.immature),
        (0, 50 * COIN),
        "99 confirmations: immature"
    );
    f.chain.mine(1, &stranger());
    f.wallet.sync().await.unwrap();
    let b = f.wallet.balance().await.unwrap();
    assert_eq!((b.confirmed, b.immature, b.unconfirmed), (50 * COIN, 0, 0));
    f
}

#[tokio::test]
async fn addresses_are_fresh_and_regtest() {
    let f = wallet_on(Arc::new(TestChain::new()), 1, true, false).await;
    let a = f.wallet.new_address().await.unwrap();
    let b = f.wallet.new_address().await.unwrap();
    assert_ne!(a, b);
    assert!(a.to_string().starts_with("bcrt1q"));
    assert_eq!(
        a.script_pubkey(),
        f.keys.wallet_script(Keychain::External, 0).unwrap()
    );
}

#[tokio::test]
async fn coinbase_matures_after_100_blocks() {
    funded(2).await;
}

#[tokio::test]
async fn send_pays_amount_fee_and_change() {
    let f = funded(3).await;
    let dest = bitcoin::Address::from_script(&stranger(), Network::Regtest).unwrap();
    let rate = f.wallet.fee_rate(Some(2.0)).await.unwrap();
    let txid = f
        .wallet
        .send(&dest, Amount::from_sat(COIN), rate)
        .await
        .unwrap();
    let txs = f.wallet.transactions().await.unwrap();
    let rec = txs.iter().find(|t| t.txid == txid).unwrap();
    let fee = rec.fee_sat.unwrap();
    let info = f.chain.transaction(&txid).await.unwrap().unwrap();
    assert!(
        fee >= 2 * info.tx.vsize() as u64,
        "pays at least the asked rate"
    );
    assert!(fee < 3 * info.tx.vsize() as u64);
    assert_eq!(rec.sent_sat, 50 * COIN);
    assert_eq!(rec.received_sat, 49 * COIN - fee);
    let b = f.wallet.balance().await.unwrap();
    assert_eq!((b.confirmed, b.unconfirmed), (0, 49 * COIN - fee));

    // A zero-conf funding will not touch unconfirmed change; other spends may.
    let out = vec![TxOut {
        value: Amount::from_sat(COIN),
        script_pubkey: stranger(),
    }];
    assert!(matches!(
        f.wallet.fund_outputs_confirmed(out, rate).await,
        Err(WalletError::InsufficientFunds {
            available_sat: 0,
            ..
        })
    ));
    // Our own unconfirmed change can be spent at once.
    let second = f
        .wallet
        .send(&dest, Amount::from_sat(COIN), rate)
        .await
        .unwrap();
    f.chain.mine(1, &stranger());
    let report = f.wallet.sync().await.unwrap();
    assert_eq!(report.txs_dropped, 0);
    let fee2 = f
        .wallet
        .transactions()
        .await
        .unwrap()
        .iter()
        .find(|t| t.txid == second)
        .unwrap()
        .fee_sat
        .unwrap();
    let b = f.wallet.balance().await.unwrap();
    assert_eq!((b.confirmed, b.unconfirmed), (48 * COIN - fee - fee2, 0));
    let txs = f.wallet.transactions().await.unwrap();
    assert!(txs.iter().all(|t| t.confirmations >= 1));
}

#[tokio::test]
async fn bad_sends_are_refused_without_touching_state() {
    let f = funded(4).await;
    let rate = FeeRate::FLOOR;
    let dest = bitcoin::Address::from_script(&stranger(), Network::Regtest).unwrap();
    assert!(matches!(
        f.wallet.send(&dest, Amount::from_sat(100), rate).await,
        Err(WalletError::Dust {
            amount_sat: 100,
            dust_limit_sat: 294
        })
    ));
    assert!(matches!(
        f.wallet.send(&dest, Amount::from_sat(0), rate).await,
        Err(WalletError::InvalidAmount(_))
    ));
    match f
        .wallet
        .send(&dest, Amount::from_sat(50 * COIN), rate)
        .await
    {
        Err(WalletError::InsufficientFunds {
            needed_sat,
            available_sat,
        }) => {
            assert_eq!(available_sat, 50 * COIN);
            assert!(needed_sat > 50 * COIN);
        }
        other => panic!("expected insufficient funds, got {other:?}"),
    }
    assert!(matches!(
        f.wallet
            .parse_address("bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"),
        Err(WalletError::WrongNetwork { .. })
    ));
    assert!(matches!(
        f.wallet.parse_address("not an address"),
        Err(WalletError::InvalidAddress(_))
    ));
    assert!(f.wallet.parse_address(&dest.to_string()).is_ok());
    assert!(matches!(
        f.wallet.fee_rate(Some(0.5)).await,
        Err(WalletError::InvalidFeeRate(_))
    ));
    assert!(matches!(
        f.wallet.fee_rate(Some(f64::NAN)).await,
        Err(WalletError::InvalidFeeRate(_))
    ));
    assert!(matches!(
        f.wallet.fee_rate(Some(20_000.0)).await,
        Err(WalletError::InvalidFeeRate(_))
    ));
    assert_eq!(f.wallet.fee_rate(None).await.unwrap(), FeeRate::FLOOR);
    let b = f.wallet.balance().await.unwrap();
    assert_eq!((b.confirmed, b.unconfirmed), (50 * COIN, 0));
}

#[tokio::test]
pub(super) async fn funded_transactions_reserve_their_inputs_until_released() {
    let f = funded(5).await;
    let out = vec![TxOut {
        value: Amount::from_sat(COIN),
        script_pubkey: stranger(),
    }];
    let funded = f
        .wallet
        .fund_outputs(out.clone(), FeeRate::FLOOR)
        .await
        .unwrap();
    assert_eq!(funded.tx.output[0], out[0]);
    let change = funded.change_vout.unwrap() as usize;
    let total: Amount = funded.tx.output.iter().map(|o| o.value).sum();
    assert_eq!(total + funded.fee, Amount::from_sat(50 * COIN));
    assert!(f
        .store
        .blocking(|c| q::script_owner(c, funded.tx.output[change].script_pubkey.as_bytes()))
        .unwrap()
        .is_some());
    // The only coin is reserved: a second funding finds nothing.
    assert!(matches!(
        f.wallet.fund_outputs(out.clone(), FeeRate::FLOOR).await,
        Err(WalletError::InsufficientFunds {
            available_sat: 0,
            ..
        })
    ));
    f.wallet.release(&funded.tx);
    let again = f.wallet.fund_outputs(out, FeeRate::FLOOR).await.unwrap();
    f.wallet.broadcast_funded(&again).await.unwrap();
    assert!(f
        .chain
        .transaction(&again.tx.compute_txid())
        .await
        .unwrap()
        .is_some());
}

#[tokio::test]
async fn incoming_mempool_payment_is_unconfirmed_then_confirmed() {
    let payer = funded(6).await;
    let payee = wallet_on(payer.chain.clone(), 7, true, true).await;
    payee.wallet.sync().await.unwrap();
    let addr = payee.wallet.new_address().await.unwrap();
    payer
        .wallet
        .send(&addr, Amount::from_sat(3 * COIN), FeeRate::FLOOR)
        .await
        .unwrap();
    payee.wallet.sync().await.unwrap();
    let b = payee.wallet.balance().await.unwrap();
    assert_eq!((b.confirmed, b.unconfirmed), (0, 3 * COIN));
    payer.chain.mine(1, &stranger());
    payee.wallet.sync().await.unwrap();
    let b = payee.wallet.balance().await.unwrap();
    assert_eq!((b.confirmed, b.unconfirmed), (3 * COIN, 0));
}

#[tokio::test]
async fn reorg_undoes_and_redoes_confirmations() {
    let payer = funded(8).await;
    let payee = wallet_on(payer.chain.clone(), 9, true, false).await;
    let addr = payee.wallet.new_address().await.unwrap();
    payer
        .wallet
        .send(&addr, Amount::from_sat(COIN), FeeRate::FLOOR)
        .await
        .unwrap();
    payer.chain.mine(1, &stranger());
    payee.wallet.sync().await.unwrap();
    assert_eq!(payee.wallet.balance().await.unwrap().confirmed, COIN);

    // The block goes away and its transaction back to the mempool: unconfirmed again. This
    // wallet has no mempool source, so it keeps the transaction only while the chain knows it.
    payer.chain.disconnect(1, true);
    payer.chain.mine(2, &stranger());
    // The new branch took the mempool: it re-confirms at the new height.
    let r = payee.wallet.sync().await.unwrap();
    assert_eq!(r.blocks_rewound, 1);
    let b = payee.wallet.balance().await.unwrap();
    assert_eq!((b.confirmed, b.unconfirmed), (COIN, 0));
    let tx = &payee.wallet.transactions().await.unwrap()[0];
    assert_eq!(tx.confirmations, 2);

    // Now the payment is reorged out and never comes back (double-spent or expired).
    payer.chain.disconnect(2, false);
    payer.chain.mine(3, &stranger());
    let r = payee.wallet.sync().await.unwrap();
    assert_eq!(r.blocks_rewound, 2);
    assert_eq!(r.txs_dropped, 1);
    assert_eq!(payee.wallet.balance().await.unwrap(), Balance::default());
    assert!(payee.wallet.transactions().await.unwrap().is_empty());
}

#[tokio::test]
async fn reorged_coinbase_disappears() {
    let f = wallet_on(Arc::new(TestChain::new()), 10, true, false).await;
    let addr = f.wallet.new_address().await.unwrap();
    f.chain.mine(1, &addr.script_pubkey());
    f.wallet.sync().await.unwrap();
    assert_eq!(f.wallet.balance().await.unwrap().immature, 50 * COIN);
    f.chain.disconnect(1, false);
    f.chain.mine(2, &stranger());
    f.wallet.sync().await.unwrap();
    assert_eq!(f.wallet.balance().await.unwrap(), Balance::default());
    assert_eq!(f.wallet.synced_height().await.unwrap(), f.chain.height());
}

#[tokio::test]
async fn our_payment_dropped_by_the_chain_frees_its_coins() {
    let f = funded(11).await;
    let dest = bitcoin::Address::from_script(&stranger(), Network::Regtest).unwrap();
    let txid = f
        .wallet
        .send(&dest, Amount::from_sat(COIN), FeeRate::FLOOR)
        .await
        .unwrap();
    assert_eq!(f.wallet.balance().await.unwrap().confirmed, 0);
    // The chain forgets it (a block takes it, is reorged away, and the transaction is not
    // returned to the mempool): the wallet gets its coin back.
    f.chain.mine(1, &stranger());
    f.chain.disconnect(1, false);
    let r = f.wallet.sync().await.unwrap();
    assert_eq!(r.txs_dropped, 1);
    assert!(f.chain.transaction(&txid).await.unwrap().is_none());
    let b = f.wallet.balance().await.unwrap();
    assert_eq!((b.confirmed, b.unconfirmed), (50 * COIN, 0));
}

#[tokio::test]
async fn seed_alone_recovers_coins_beyond_the_first_gap() {
    let f = funded(12).await;
    // Pay 30 fresh addresses of a second wallet, one after another: more than one gap limit.
    let payee = wallet_on(f.chain.clone(), 13, true, false).await;
    let mut expected = 0;
    for i in 0..30u64 {
        let addr = payee.wallet.new_address().await.unwrap();
        let amount = 100_000 + i;
        f.wallet
            .send(&addr, Amount::from_sat(amount), FeeRate::FLOOR)
            .await
            .unwrap();
        expected += amount;
    }
    f.chain.mine(1, &stranger());
    payee.wallet.sync().await.unwrap();
    assert_eq!(payee.wallet.balance().await.unwrap().confirmed, expected);

    // A new database with the same seed, not marked fresh: rescans from genesis.
    let restored = wallet_on(f.chain.clone(), 13, false, false).await;
    restored.wallet.sync().await.unwrap();
    assert_eq!(restored.wallet.balance().await.unwrap().confirmed, expected);
    assert_eq!(restored.wallet.transactions().await.unwrap().len(), 30);
    // It does not hand out an address that was already used.
    let next = restored.wallet.new_address().await.unwrap();
    assert_eq!(
        next.script_pubkey(),
        restored.keys.wallet_script(Keychain::External, 30).unwrap()
    );
}

#[tokio::test]
async fn unrelated_transactions_are_ignored() {
    let f = wallet_on(Arc::new(TestChain::new()), 14, true, true).await;
    f.chain.mine(3, &stranger());
    f.chain.inject(Transaction {
        version: bitcoin::transaction::Version::TWO,
        lock_time: bitcoin::absolute::LockTime::ZERO,
        input: vec![],
        output: vec![TxOut {
            value: Amount::from_sat(1000),
            script_pubkey: stranger(),
        }],
    });
    let r = f.wallet.sync().await.unwrap();
    assert_eq!(r.mempool_txs_added, 0);
    assert!(f.wallet.transactions().await.unwrap().is_empty());
}
