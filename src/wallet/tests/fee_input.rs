//! Fee inputs: coins paying for transactions the wallet did not build.

use bitcoin::absolute::LockTime;
use bitcoin::blockdata::opcodes::OP_TRUE;
use bitcoin::hashes::Hash as _;
use bitcoin::transaction::Version;
use bitcoin::{Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Witness};

use super::{funded, stranger, Fixture, COIN};
use crate::bolt3::testutil::consensus_verify;
use crate::wallet::*;

/// A wallet with confirmed coins of 0.1, 0.2 and ~49.7 BTC, and one unconfirmed of 0.05.
async fn with_coins(seed: u8) -> Fixture {
    let f = funded(seed).await;
    for sat in [COIN / 10, COIN / 5] {
        let addr = f.wallet.new_address().await.unwrap();
        f.wallet
            .send(&addr, Amount::from_sat(sat), FeeRate::FLOOR)
            .await
            .unwrap();
    }
    f.chain.mine(1, &stranger());
    f.wallet.sync().await.unwrap();
    let addr = f.wallet.new_address().await.unwrap();
    f.wallet
        .send(&addr, Amount::from_sat(COIN / 20), FeeRate::FLOOR)
        .await
        .unwrap();
    f
}

/// Anyone can spend it: stands for the channel output a claim spends (an HTLC, an anchor).
fn anyone() -> ScriptBuf {
    ScriptBuf::new_p2wsh(&ScriptBuf::from_bytes(vec![OP_TRUE.to_u8()]).wscript_hash())
}

/// A foreign output on chain, as a commitment's HTLC output would be.
fn foreign_output(f: &Fixture, value: u64) -> (OutPoint, TxOut) {
    let out = TxOut {
        value: Amount::from_sat(value),
        script_pubkey: anyone(),
    };
    let tx = Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![],
        output: vec![out.clone()],
    };
    f.chain.inject(tx.clone());
    f.chain.mine(1, &stranger());
    (OutPoint::new(tx.compute_txid(), 0), out)
}

/// A claim-like transaction: the foreign input first, our fee input second, the foreign value
/// out unchanged and our change after it.
fn claim_with(foreign: (OutPoint, &TxOut), input: &FeeInput, change: TxOut) -> Transaction {
    let mut witness = Witness::new();
    witness.push([OP_TRUE.to_u8()]);
    Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![
            TxIn {
                previous_output: foreign.0,
                script_sig: ScriptBuf::new(),
                sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
                witness,
            },
            TxIn {
                previous_output: input.outpoint,
                script_sig: ScriptBuf::new(),
                sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
                witness: Witness::new(),
            },
        ],
        output: vec![
            TxOut {
                value: foreign.1.value,
                script_pubkey: stranger(),
            },
            change,
        ],
    }
}

#[tokio::test]
async fn the_smallest_confirmed_coin_is_reserved_and_not_offered_again() {
    let f = with_coins(20).await;
    let a = f
        .wallet
        .reserve_fee_input(Amount::from_sat(1_000))
        .await
        .unwrap();
    assert_eq!(a.txout.value.to_sat(), COIN / 10, "0.05 is unconfirmed");
    let b = f
        .wallet
        .reserve_fee_input(Amount::from_sat(1_000))
        .await
        .unwrap();
    assert_eq!(b.txout.value.to_sat(), COIN / 5, "0.1 is reserved");
    assert_eq!(
        b.spent_output().value_sat,
        COIN / 5,
        "as the claim builders take it"
    );
    // Neither is offered to a funding: the 49.6 BTC coin is all that is left.
    let out = vec![TxOut {
        value: Amount::from_sat(40 * COIN),
        script_pubkey: stranger(),
    }];
    let funding = f
        .wallet
        .fund_outputs(out.clone(), FeeRate::FLOOR)
        .await
        .unwrap();
    assert!(funding
        .tx
        .input
        .iter()
        .all(|i| i.previous_output != a.outpoint && i.previous_output != b.outpoint));
    // Nothing left that is large enough: the largest free coin is reported.
    match f.wallet.reserve_fee_input(Amount::from_sat(COIN)).await {
        Err(WalletError::InsufficientFunds {
            needed_sat,
            available_sat,
        }) => assert_eq!((needed_sat, available_sat), (COIN, 0)),
        other => panic!("{other:?}"),
    }
    f.wallet.release(&funding.tx);
    f.wallet.release_fee_input(&a);
    let again = f
        .wallet
        .reserve_fee_input(Amount::from_sat(1_000))
        .await
        .unwrap();
    assert_eq!(again.outpoint, a.outpoint, "released: offered again");
}

#[tokio::test]
async fn a_fee_input_signed_into_a_foreign_transaction_is_recorded_with_its_change() {
    let f = with_coins(21).await;
    let (htlc, htlc_out) = foreign_output(&f, 50_000);
    f.wallet.sync().await.unwrap();
    let before = f.wallet.balance().await.unwrap();
    let input = f
        .wallet
        .reserve_fee_input(Amount::from_sat(5_000))
        .await
        .unwrap();
    let change = TxOut {
        value: input.txout.value - Amount::from_sat(3_000),
        script_pubkey: f.wallet.new_internal_script().await.unwrap(),
    };
    let mut tx = claim_with((htlc, &htlc_out), &input, change.clone());
    // Only the input that spends the coin can be signed with it.
    assert!(matches!(
        f.wallet.sign_fee_input(&mut tx.clone(), 0, &input),
        Err(WalletError::Signing { input: 0, .. })
    ));
    assert!(matches!(
        f.wallet.sign_fee_input(&mut tx.clone(), 5, &input),
        Err(WalletError::Signing { input: 5, .. })
    ));
    f.wallet.sign_fee_input(&mut tx, 1, &input).unwrap();
    consensus_verify(&tx, &[htlc_out, input.txout.clone()]).unwrap();

    let txid = f
        .wallet
        .broadcast_with_fee_input(&tx, &input, Amount::from_sat(3_000))
        .await
        .unwrap();
    let b = f.wallet.balance().await.unwrap();
    let spent = input.txout.value.to_sat();
    assert_eq!(b.confirmed, before.confirmed - spent, "the coin is spent");
    assert_eq!(
        b.unconfirmed,
        before.unconfirmed + change.value.to_sat(),
        "the change counts at once"
    );
    let rec = f
        .wallet
        .transactions()
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.txid == txid)
        .unwrap();
    assert_eq!(rec.fee_sat, Some(3_000));
    // The coin is neither reserved nor unspent: offered to no one.
    let next = f
        .wallet
        .reserve_fee_input(Amount::from_sat(1_000))
        .await
        .unwrap();
    assert_ne!(next.outpoint, input.outpoint);
    assert!(next.txout.value > input.txout.value);
    // Confirmed, the change is confirmed too.
    f.chain.mine(1, &stranger());
    f.wallet.sync().await.unwrap();
    let b = f.wallet.balance().await.unwrap();
    assert_eq!(
        (b.confirmed, b.unconfirmed),
        (before.confirmed - spent + change.value.to_sat(), 0)
    );
    // Spent by a confirmed transaction, it cannot be taken for a replacement.
    assert!(matches!(
        f.wallet
            .reserve_fee_input_for_replacement(input.outpoint)
            .await,
        Err(WalletError::CoinUnavailable { .. })
    ));
}

#[tokio::test]
async fn a_refused_broadcast_releases_the_coin() {
    let f = with_coins(22).await;
    let input = f
        .wallet
        .reserve_fee_input(Amount::from_sat(1_000))
        .await
        .unwrap();
    // Spends an output that does not exist: the chain refuses it.
    let missing = (
        OutPoint::new(bitcoin::Txid::from_byte_array([5; 32]), 0),
        &TxOut {
            value: Amount::from_sat(1_000),
            script_pubkey: anyone(),
        },
    );
    let change = TxOut {
        value: input.txout.value - Amount::from_sat(2_000),
        script_pubkey: stranger(),
    };
    let mut tx = claim_with(missing, &input, change);
    f.wallet.sign_fee_input(&mut tx, 1, &input).unwrap();
    assert!(matches!(
        f.wallet
            .broadcast_with_fee_input(&tx, &input, Amount::from_sat(2_000))
            .await,
        Err(WalletError::Chain(_))
    ));
    let again = f
        .wallet
        .reserve_fee_input(Amount::from_sat(1_000))
        .await
        .unwrap();
    assert_eq!(again.outpoint, input.outpoint);
}

#[tokio::test]
async fn a_replacement_takes_the_same_coin_and_forgets_the_earlier_version() {
    let f = with_coins(23).await;
    let (htlc, htlc_out) = foreign_output(&f, 50_000);
    f.wallet.sync().await.unwrap();
    let before = f.wallet.balance().await.unwrap();
    let input = f
        .wallet
        .reserve_fee_input(Amount::from_sat(5_000))
        .await
        .unwrap();
    let script = f.wallet.new_internal_script().await.unwrap();
    let version = |fee: u64| TxOut {
        value: input.txout.value - Amount::from_sat(fee),
        script_pubkey: script.clone(),
    };
    let mut first = claim_with((htlc, &htlc_out), &input, version(1_000));
    f.wallet.sign_fee_input(&mut first, 1, &input).unwrap();
    f.wallet
        .broadcast_with_fee_input(&first, &input, Amount::from_sat(1_000))
        .await
        .unwrap();
    // Not ours, not confirmed, or reserved already: refused.
    let unknown = OutPoint::new(htlc.txid, 0);
    assert!(matches!(
        f.wallet.reserve_fee_input_for_replacement(unknown).await,
        Err(WalletError::CoinUnavailable { .. })
    ));
    let again = f
        .wallet
        .reserve_fee_input_for_replacement(input.outpoint)
        .await
        .unwrap();
    assert_eq!(again, input);
    assert!(matches!(
        f.wallet
            .reserve_fee_input_for_replacement(input.outpoint)
            .await,
        Err(WalletError::CoinUnavailable {
            reason: "already reserved",
            ..
        })
    ));
    // The test chain has no replacement rules: take the first version out as a mempool would.
    f.chain.remove(&first.compute_txid());
    let mut second = claim_with((htlc, &htlc_out), &again, version(4_000));
    f.wallet.sign_fee_input(&mut second, 1, &again).unwrap();
    f.wallet
        .broadcast_with_fee_input(&second, &again, Amount::from_sat(4_000))
        .await
        .unwrap();
    let txs = f.wallet.transactions().await.unwrap();
    assert!(txs.iter().all(|t| t.txid != first.compute_txid()));
    let b = f.wallet.balance().await.unwrap();
    assert_eq!(
        b.unconfirmed,
        before.unconfirmed + version(4_000).value.to_sat(),
        "only the replacement's change counts"
    );
    assert_eq!(b.confirmed, before.confirmed - input.txout.value.to_sat());
}
