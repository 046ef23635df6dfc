//! The embedded regtest node judged end to end: every mempool rejection with Bitcoin Core's
//! reason, the same transaction accepted once valid, real P2WSH and P2TR spends, reorgs and
//! restarts.

mod chain_support;

use bitcoin::absolute::LockTime;
use bitcoin::blockdata::constants::genesis_block;
use bitcoin::blockdata::opcodes::all::{OP_CHECKMULTISIG, OP_CHECKSIG, OP_CLTV, OP_CSV, OP_DROP};
use bitcoin::blockdata::script::Builder;
use bitcoin::hashes::Hash;
use bitcoin::{Amount, Network, ScriptBuf, Sequence, TxOut, Witness};
use chain_support::*;
use chanhub::chain::regtest::mempool::codes;
use chanhub::chain::regtest::{ChainEvent, RegtestNode};
use chanhub::chain::TestAccept;

const FEE: Amount = Amount::from_sat(1_000);

fn rejected_reason(node: &RegtestNode, tx: &bitcoin::Transaction) -> String {
    match node.test_accept(tx) {
        TestAccept::Rejected { reason, .. } => reason,
        TestAccept::Allowed { .. } => panic!("expected a rejection"),
    }
}

fn burn() -> ScriptBuf {
    ScriptBuf::new_p2wsh(&bitcoin::WScriptHash::all_zeros())
}

#[test]
fn genesis_and_mining_follow_regtest_rules() {
    let node = RegtestNode::in_memory().unwrap();
    assert_eq!(node.tip().height, 0);
    assert_eq!(
        node.tip().hash,
        genesis_block(Network::Regtest).block_hash()
    );
    let hashes = node.generate_to_script(151, &burn()).unwrap();
    assert_eq!(node.tip().height, 151);
    let at = |h: usize| node.block(&hashes[h - 1]).unwrap().unwrap();
    // Heights up to 16 are encoded as OP_1..OP_16, which rust-bitcoin does not parse as BIP34.
    assert_eq!(at(17).bip34_block_height().unwrap(), 17);
    assert_eq!(
        at(149).txdata[0].output[0].value,
        Amount::from_btc(50.0).unwrap()
    );
    assert_eq!(
        at(150).txdata[0].output[0].value,
        Amount::from_btc(25.0).unwrap()
    );
    assert!(node.median_time_past() > 0);
}

#[test]
fn bad_signature_is_rejected_by_the_script_interpreter() {
    let node = RegtestNode::in_memory().unwrap();
    let key = Key::new(1);
    let coin = &mature_coins(&node, &key, 1)[0];
    let mut tx = spend(&key, coin, burn(), FEE);
    // A signature by another key over the same transaction.
    Key::new(2).sign_p2wpkh(&mut tx, 0, coin.txout.value);
    tx.input[0].witness = Witness::from_slice(&[
        tx.input[0].witness.nth(0).unwrap().to_vec(),
        key.pk.to_bytes().to_vec(),
    ]);
    let reject = node.submit(tx).unwrap_err();
    assert_eq!(reject.code, codes::REJECTED);
    assert!(
        reject
            .reason
            .starts_with("mandatory-script-verify-flag-failed ("),
        "{reject:?}"
    );
    let good = spend(&key, coin, burn(), FEE);
    assert_eq!(node.submit(good.clone()).unwrap(), good.compute_txid());
}

#[test]
fn missing_input_and_already_confirmed() {
    let node = RegtestNode::in_memory().unwrap();
    let key = Key::new(3);
    let coin = &mature_coins(&node, &key, 1)[0];
    let tx = spend(&key, coin, burn(), FEE);
    let mut orphan = tx.clone();
    orphan.input[0].previous_output.vout = 7;
    assert_eq!(rejected_reason(&node, &orphan), "missing-inputs");
    let reject = node.submit(orphan).unwrap_err();
    assert_eq!(reject.code, codes::MISSING_INPUTS);
    assert_eq!(reject.message, "bad-txns-inputs-missingorspent");

    node.submit(tx.clone()).unwrap();
    // Submitting the same transaction again is not an error.
    node.submit(tx.clone()).unwrap();
    node.generate_to_script(1, &burn()).unwrap();
    let reject = node.submit(tx).unwrap_err();
    assert_eq!(reject.code, codes::ALREADY_IN_CHAIN);
}

#[test]
fn double_spend_conflicts_unless_replaceable_and_better_paid() {
    let node = RegtestNode::in_memory().unwrap();
    let key = Key::new(4);
    let coins = mature_coins(&node, &key, 2);
    // Final sequence: does not signal replaceability.
    let mut first = unsigned(
        &[(coins[0].outpoint, Sequence::MAX)],
        vec![TxOut {
            value: coins[0].txout.value - FEE,
            script_pubkey: burn(),
        }],
    );
    key.sign_p2wpkh(&mut first, 0, coins[0].txout.value);
    node.submit(first).unwrap();
    let second = spend(&key, &coins[0], key.p2wpkh(), FEE * 10);
    let reject = node.submit(second).unwrap_err();
    assert_eq!(reject.reason, "txn-mempool-conflict");
    assert_eq!(reject.code, codes::REJECTED);

    // Signalling: a better-paying replacement evicts it, a worse one is refused.
    let a = spend(&key, &coins[1], burn(), FEE);
    node.submit(a.clone()).unwrap();
    let cheap = spend(&key, &coins[1], key.p2wpkh(), FEE);
    assert_eq!(node.submit(cheap).unwrap_err().reason, "insufficient fee");
    let b = spend(&key, &coins[1], key.p2wpkh(), FEE * 3);
    node.submit(b.clone()).unwrap();
    let pool = node.mempool_txids();
    assert!(pool.contains(&b.compute_txid()) && !pool.contains(&a.compute_txid()));
}

#[test]
fn fee_below_relay_minimum_then_accepted_with_fee() {
    let node = RegtestNode::in_memory().unwrap();
    let key = Key::new(5);
    let coin = &mature_coins(&node, &key, 1)[0];
    let low = spend(&key, coin, burn(), Amount::from_sat(50));
    let reject = node.submit(low).unwrap_err();
    assert_eq!(reject.reason, "min relay fee not met");
    assert!(
        reject.message.starts_with("min relay fee not met, 50 < "),
        "{reject:?}"
    );
    node.submit(spend(&key, coin, burn(), FEE)).unwrap();
}

#[test]
fn premature_coinbase_spend_and_dust_are_refused() {
    let node = RegtestNode::in_memory().unwrap();
    let key = Key::new(6);
    let h = node.generate_to_script(1, &key.p2wpkh()).unwrap()[0];
    node.generate_to_script(98, &burn()).unwrap();
    let cb = node.block(&h).unwrap().unwrap().txdata[0].clone();
    let coin = first_output(&cb);
    let tx = spend(&key, &coin, burn(), FEE);
    assert_eq!(
        node.submit(tx.clone()).unwrap_err().reason,
        "bad-txns-premature-spend-of-coinbase"
    );
    node.generate_to_script(1, &burn()).unwrap();
    node.submit(tx).unwrap();

    let coin2 = &mature_coins(&node, &key, 1)[0];
    let mut dusty = unsigned(
        &[(coin2.outpoint, Sequence::MAX)],
        vec![
            TxOut {
                value: Amount::from_sat(293),
                script_pubkey: key.p2wpkh(),
            },
            TxOut {
                value: coin2.txout.value - FEE - Amount::from_sat(293),
                script_pubkey: burn(),
            },
        ],
    );
    key.sign_p2wpkh(&mut dusty, 0, coin2.txout.value);
    assert_eq!(rejected_reason(&node, &dusty), "dust");
}

/// `<delay> OP_CSV OP_DROP <key> OP_CHECKSIG`
fn csv_script(key: &Key, delay: u16) -> ScriptBuf {
    Builder::new()
        .push_int(delay as i64)
        .push_opcode(OP_CSV)
        .push_opcode(OP_DROP)
        .push_key(&key.pk.into())
        .push_opcode(OP_CHECKSIG)
        .into_script()
}

/// Pays `coin` into a P2WSH of `script` and confirms it; returns the new coin.
fn lock_into(node: &RegtestNode, key: &Key, coin: &Coin, script: &ScriptBuf) -> Coin {
    let tx = spend(key, coin, ScriptBuf::new_p2wsh(&script.wscript_hash()), FEE);
    node.submit(tx.clone()).unwrap();
    node.generate_to_script(1, &burn()).unwrap();
    first_output(&tx)
}

fn spend_p2wsh(
    key: &Key,
    coin: &Coin,
    script: &ScriptBuf,
    sequence: Sequence,
    lock_time: LockTime,
) -> bitcoin::Transaction {
    let mut tx = unsigned(
        &[(coin.outpoint, sequence)],
        vec![TxOut {
            value: coin.txout.value - FEE,
            script_pubkey: burn(),
        }],
    );
    tx.lock_time = lock_time;
    let sig = key.sign_segwit_v0(&tx, 0, script, coin.txout.value);
    tx.input[0].witness = Witness::from_slice(&[sig, script.to_bytes()]);
    tx
}

#[test]
fn csv_one_block_early_is_non_bip68_final_then_accepted() {
    let node = RegtestNode::in_memory().unwrap();
    let key = Key::new(7);
    let coin = &mature_coins(&node, &key, 1)[0];
    let script = csv_script(&key, 5);
    let locked = lock_into(&node, &key, coin, &script);
    // Confirmed at height H; spendable in block H + 5, i.e. when the tip is H + 4.
    let tx = spend_p2wsh(
        &key,
        &locked,
        &script,
        Sequence::from_height(5),
        LockTime::ZERO,
    );
    node.generate_to_script(3, &burn()).unwrap();
    assert_eq!(rejected_reason(&node, &tx), "non-BIP68-final");
    node.generate_to_script(1, &burn()).unwrap();
    node.submit(tx.clone()).unwrap();
    node.generate_to_script(1, &burn()).unwrap();
    assert_eq!(
        node.transaction(&tx.compute_txid())
            .unwrap()
            .unwrap()
            .confirmations,
        1
    );

    // A sequence below the script's delay fails the script itself.
    let coin = &mature_coins(&node, &key, 1)[0];
    let locked = lock_into(&node, &key, coin, &script);
    node.generate_to_script(10, &burn()).unwrap();
    let short = spend_p2wsh(
        &key,
        &locked,
        &script,
        Sequence::from_height(4),
        LockTime::ZERO,
    );
    assert!(rejected_reason(&node, &short).starts_with("mandatory-script-verify-flag-failed"));
}

#[test]
fn cltv_one_block_early_is_non_final_then_accepted() {
    let node = RegtestNode::in_memory().unwrap();
    let key = Key::new(8);
    let coin = &mature_coins(&node, &key, 1)[0];
    let expiry = node.tip().height + 10;
    let script = Builder::new()
        .push_int(expiry as i64)
        .push_opcode(OP_CLTV)
        .push_opcode(OP_DROP)
        .push_key(&key.pk.into())
        .push_opcode(OP_CHECKSIG)
        .into_script();
    let locked = lock_into(&node, &key, coin, &script);
    let lock = LockTime::from_height(expiry).unwrap();
    let tx = spend_p2wsh(
        &key,
        &locked,
        &script,
        Sequence::ENABLE_LOCKTIME_NO_RBF,
        lock,
    );
    // The next block must be above the lock time: tip = expiry - 1 is one block too early.
    let tip = node.tip().height;
    node.generate_to_script(expiry - 1 - tip, &burn()).unwrap();
    assert_eq!(rejected_reason(&node, &tx), "non-final");
    node.generate_to_script(1, &burn()).unwrap();
    node.submit(tx).unwrap();

    // A lock time below the script's is refused by the interpreter, whatever the height.
    let coin = &mature_coins(&node, &key, 1)[0];
    let locked = lock_into(&node, &key, coin, &script);
    let early = LockTime::from_height(expiry - 1).unwrap();
    let bad = spend_p2wsh(
        &key,
        &locked,
        &script,
        Sequence::ENABLE_LOCKTIME_NO_RBF,
        early,
    );
    assert!(rejected_reason(&node, &bad).starts_with("mandatory-script-verify-flag-failed"));
}

#[test]
fn p2wsh_two_of_two_and_p2tr_key_path_spends_are_accepted() {
    let node = RegtestNode::in_memory().unwrap();
    let (a, b) = (Key::new(9), Key::new(10));
    let coins = mature_coins(&node, &a, 2);
    let multisig = Builder::new()
        .push_int(2)
        .push_key(&a.pk.into())
        .push_key(&b.pk.into())
        .push_int(2)
        .push_opcode(OP_CHECKMULTISIG)
        .into_script();
    let funded = lock_into(&node, &a, &coins[0], &multisig);
    let mut tx = unsigned(
        &[(funded.outpoint, Sequence::MAX)],
        vec![TxOut {
            value: funded.txout.value - FEE,
            script_pubkey: b.p2tr(),
        }],
    );
    let sig_a = a.sign_segwit_v0(&tx, 0, &multisig, funded.txout.value);
    let sig_b = b.sign_segwit_v0(&tx, 0, &multisig, funded.txout.value);
    // Only one of the two signatures: refused.
    tx.input[0].witness =
        Witness::from_slice(&[vec![], sig_a.clone(), sig_a.clone(), multisig.to_bytes()]);
    assert!(rejected_reason(&node, &tx).starts_with("mandatory-script-verify-flag-failed"));
    tx.input[0].witness = Witness::from_slice(&[vec![], sig_a, sig_b, multisig.to_bytes()]);
    node.submit(tx.clone()).unwrap();
    node.generate_to_script(1, &burn()).unwrap();

    // The P2TR output just created, spent by key path.
    let tr_coin = first_output(&tx);
    let mut spend_tr = unsigned(
        &[(tr_coin.outpoint, Sequence::MAX)],
        vec![TxOut {
            value: tr_coin.txout.value - FEE,
            script_pubkey: burn(),
        }],
    );
    a.sign_p2tr_keypath(&mut spend_tr, 0, std::slice::from_ref(&tr_coin.txout));
    assert!(rejected_reason(&node, &spend_tr).starts_with("mandatory-script-verify-flag-failed"));
    b.sign_p2tr_keypath(&mut spend_tr, 0, std::slice::from_ref(&tr_coin.txout));
    node.submit(spend_tr.clone()).unwrap();
    node.generate_to_script(1, &burn()).unwrap();
    assert!(node
        .transaction(&spend_tr.compute_txid())
        .unwrap()
        .unwrap()
        .block
        .is_some());
}

#[test]
fn child_may_spend_unconfirmed_parent() {
    let node = RegtestNode::in_memory().unwrap();
    let key = Key::new(11);
    let coin = &mature_coins(&node, &key, 1)[0];
    let parent = spend(&key, coin, key.p2wpkh(), FEE);
    node.submit(parent.clone()).unwrap();
    let child = spend(&key, &first_output(&parent), burn(), FEE * 5);
    node.submit(child.clone()).unwrap();
    let (_, depends, _) = node.mempool_entry(&child.compute_txid()).unwrap();
    assert_eq!(depends, vec![parent.compute_txid()]);
    node.generate_to_script(1, &burn()).unwrap();
    assert!(node.mempool_txids().is_empty());
    let block = node.block(&node.tip().hash).unwrap().unwrap();
    let order: Vec<_> = block.txdata.iter().map(|t| t.compute_txid()).collect();
    assert_eq!(order[1..], [parent.compute_txid(), child.compute_txid()]);
}

#[test]
fn reorg_returns_transactions_to_the_mempool_and_mines_them_again() {
    let node = RegtestNode::in_memory().unwrap();
    let key = Key::new(12);
    let coin = &mature_coins(&node, &key, 1)[0];
    let tx = spend(&key, coin, burn(), FEE);
    node.submit(tx.clone()).unwrap();
    let mined = node.generate_to_script(1, &burn()).unwrap()[0];
    let top = node.generate_to_script(1, &burn()).unwrap()[0];
    let txid = tx.compute_txid();
    assert_eq!(node.transaction(&txid).unwrap().unwrap().confirmations, 2);

    let mut events = node.subscribe();
    let height = node.tip().height;
    node.invalidate_block(&mined).unwrap();
    assert_eq!(node.tip().height, height - 2);
    assert!(node.is_invalidated(&mined));
    assert_eq!(node.mempool_txids(), vec![txid]);
    assert_eq!(node.transaction(&txid).unwrap().unwrap().confirmations, 0);
    let seen: Vec<ChainEvent> = std::iter::from_fn(|| events.try_recv().ok()).collect();
    assert_eq!(
        seen,
        vec![
            ChainEvent::BlockDisconnected { hash: top, height },
            ChainEvent::BlockDisconnected {
                hash: mined,
                height: height - 1
            },
        ]
    );

    let again = node.generate_to_script(1, &burn()).unwrap()[0];
    assert_ne!(again, mined);
    let info = node.transaction(&txid).unwrap().unwrap();
    assert_eq!(info.block.unwrap().hash, again);
}

#[test]
fn a_longer_competing_branch_wins() {
    let node = RegtestNode::in_memory().unwrap();
    let key = Key::new(13);
    let coin = &mature_coins(&node, &key, 1)[0];
    let fork_point = node.tip().hash;
    let tx = spend(&key, coin, burn(), FEE);
    node.submit(tx.clone()).unwrap();
    node.generate_to_script(1, &burn()).unwrap();
    // Two empty blocks on the fork point outweigh the one holding `tx`.
    let b1 = node
        .generate_block(&burn(), vec![], Some(fork_point))
        .unwrap();
    let b2 = node.generate_block(&burn(), vec![], Some(b1)).unwrap();
    assert_eq!(node.tip().hash, b2);
    assert_eq!(node.mempool_txids(), vec![tx.compute_txid()]);
}

#[test]
fn restart_keeps_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::new(14);
    let (tip, txid) = {
        let node = RegtestNode::open(dir.path()).unwrap();
        let coin = &mature_coins(&node, &key, 1)[0];
        let tx = spend(&key, coin, burn(), FEE);
        node.submit(tx.clone()).unwrap();
        node.generate_to_script(1, &burn()).unwrap();
        (node.tip(), tx.compute_txid())
    };
    let node = RegtestNode::open(dir.path()).unwrap();
    assert_eq!(node.tip(), tip);
    assert_eq!(node.transaction(&txid).unwrap().unwrap().confirmations, 1);
    node.generate_to_script(1, &burn()).unwrap();
    assert_eq!(node.tip().height, tip.height + 1);
}

/// Two transactions the mempool accepts but that cannot share a block: their bare multisig
/// outputs count 80 sigop-cost each, and together exceed the block limit of 80,000. Only the
/// kernel knows; mining must still make progress, one per block.
#[test]
fn mining_splits_transactions_the_kernel_refuses_together() {
    let node = RegtestNode::in_memory().unwrap();
    let key = Key::new(15);
    let coins = mature_coins(&node, &key, 2);
    let multisig = Builder::new()
        .push_int(1)
        .push_key(&key.pk.into())
        .push_key(&Key::new(16).pk.into())
        .push_key(&Key::new(17).pk.into())
        .push_int(3)
        .push_opcode(OP_CHECKMULTISIG)
        .into_script();
    let mut txids = Vec::new();
    for coin in &coins {
        let outputs: Vec<TxOut> = (0..600)
            .map(|_| TxOut {
                value: Amount::from_sat(1_000),
                script_pubkey: multisig.clone(),
            })
            .chain(std::iter::once(TxOut {
                value: coin.txout.value - Amount::from_sat(600_000 + 100_000),
                script_pubkey: key.p2wpkh(),
            }))
            .collect();
        let mut tx = unsigned(&[(coin.outpoint, Sequence::MAX)], outputs);
        key.sign_p2wpkh(&mut tx, 0, coin.txout.value);
        txids.push(node.submit(tx).unwrap());
    }
    let first = node.generate_to_script(1, &burn()).unwrap()[0];
    assert_eq!(node.mempool_txids(), vec![txids[1]], "the second waits");
    let second = node.generate_to_script(1, &burn()).unwrap()[0];
    assert!(node.mempool_txids().is_empty());
    assert_eq!(
        node.transaction(&txids[0])
            .unwrap()
            .unwrap()
            .block
            .unwrap()
            .hash,
        first
    );
    assert_eq!(
        node.transaction(&txids[1])
            .unwrap()
            .unwrap()
            .block
            .unwrap()
            .hash,
        second
    );
}
