//! The machine's transactions on the embedded chain, for both channel types: a real funding
//! transaction spending a mature coinbase, the signed commitments of both sides checked against
//! the node's consensus and relay rules at several points of an update flow (and one of them
//! confirmed), revoked commitments, and the cooperative close confirmed.
//!
//! The other tests use a made-up funding transaction, so nothing there proves that a signature,
//! a script or a fee the machine produces would be accepted by a node; here the node decides.

use std::sync::Arc;

use bitcoin::secp256k1::{Secp256k1, SecretKey};
use bitcoin::{
    Amount, CompressedPublicKey, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Witness,
};

use crate::bolt3::fees::{commitment_fee_sat, is_trimmed};
use crate::bolt3::funding::build_funding_tx;
use crate::bolt3::spend::sign_p2wpkh_input;
use crate::bolt3::{ChannelType, CommitmentTx, HtlcDirection};
use crate::chain::regtest::RegtestNode;
use crate::chain::TestAccept;
use crate::channel::commitments::parameters;
use crate::channel::testing::harness::*;
use crate::channel::{ChannelConfig, Command, Event, Format, Input, Origin, Phase};

const FORMATS: [Format; 2] = [Format::Anchors, Format::StaticRemoteKey];

/// What the funding transaction leaves for the miner (about 7 sat/vB).
const FUNDING_FEE_SAT: u64 = 1_000;

/// The embedded chain and a wallet key holding one mature coinbase per channel to fund.
struct Chain {
    node: Arc<RegtestNode>,
    wallet: SecretKey,
    coins: Vec<(OutPoint, TxOut)>,
}

impl Chain {
    fn new(channels: u32) -> Chain {
        let node = RegtestNode::in_memory().expect("embedded chain");
        let wallet = SecretKey::from_slice(&[0x42; 32]).expect("valid key");
        let chain = Chain {
            node,
            wallet,
            coins: Vec::new(),
        };
        let hashes = chain
            .node
            .generate_to_script(channels, &chain.wallet_script())
            .expect("mine");
        // Coinbases spend only after 100 confirmations.
        chain.mine(100);
        let coins = hashes
            .iter()
            .map(|h| {
                let block = chain.node.block(h).expect("read").expect("stored");
                let cb = &block.txdata[0];
                (OutPoint::new(cb.compute_txid(), 0), cb.output[0].clone())
            })
            .collect();
        Chain { coins, ..chain }
    }

    fn wallet_script(&self) -> ScriptBuf {
        let pk = CompressedPublicKey(self.wallet.public_key(&Secp256k1::new()));
        ScriptBuf::new_p2wpkh(&pk.wpubkey_hash())
    }

    /// Mines `n` blocks (with the mempool) paying a script nobody in the test owns.
    fn mine(&self, n: u32) {
        let burn = shutdown_script(0xbb);
        self.node.generate_to_script(n, &burn).expect("mine");
    }

    /// What the opener's wallet does on `NeedFunding`: spend a coin to the funding output built
    /// by BOLT 3 from both funding keys, change back to the wallet, and sign.
    fn funding_tx(&mut self, script_pubkey: ScriptBuf, amount_sat: u64) -> (Transaction, u32) {
        let (outpoint, coin) = self.coins.pop().expect("a coin per channel");
        let input = TxIn {
            previous_output: outpoint,
            script_sig: ScriptBuf::new(),
            sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
            witness: Witness::new(),
        };
        let change = TxOut {
            value: coin.value - Amount::from_sat(amount_sat + FUNDING_FEE_SAT),
            script_pubkey: self.wallet_script(),
        };
        let mut funding = build_funding_tx(
            vec![input],
            amount_sat,
            &keys(1).pubkeys.funding,
            &keys(2).pubkeys.funding,
            Some(change),
        )
        .expect("funding tx");
        let vout = funding.funding_output_index;
        assert_eq!(
            funding.tx.output[vout as usize].script_pubkey, script_pubkey,
            "the machine asks for the 2-of-2 of both funding keys"
        );
        sign_p2wpkh_input(&mut funding.tx, 0, coin.value.to_sat(), &self.wallet).expect("sign");
        (funding.tx, vout)
    }

    /// `tx` would enter the mempool now, paying at least the minimum relay fee.
    fn assert_relays(&self, tx: &Transaction, what: &str) {
        match self.node.test_accept(tx) {
            TestAccept::Allowed { vsize, fee_sat, .. } => {
                assert!(fee_sat >= vsize, "{what}: {fee_sat} sat for {vsize} vB")
            }
            TestAccept::Rejected { reason, .. } => panic!("{what} refused: {reason}"),
        }
    }

    /// Submits `tx`, mines it and returns its confirmed copy.
    fn confirm(&self, tx: &Transaction, what: &str) -> Transaction {
        let txid = self
            .node
            .submit(tx.clone())
            .unwrap_or_else(|r| panic!("{what} refused: {}", r.reason));
        self.mine(1);
        let info = self.node.transaction(&txid).expect("read").expect("known");
        assert_eq!(info.confirmations, 1, "{what} mined");
        info.tx
    }
}

/// `a` opens to `b` with a real funding transaction; the depth fed to the machines is the one
/// the chain reports, block by block, until both sides are in `Normal`.
fn open_on_chain(chain: &mut Chain, format: Format) -> Pair {
    let mut p = Pair::fund(
        format,
        0,
        ChannelConfig::default(),
        &mut |script, amount| chain.funding_tx(script, amount),
    );
    // `Pair::fund` checked the opener broadcast exactly the funding transaction, once.
    let txid = chain
        .node
        .submit(p.a.broadcast[0].clone())
        .unwrap_or_else(|r| panic!("funding refused: {}", r.reason));
    let minimum_depth = p.a.channel.state().setup.minimum_depth;
    for _ in 0..minimum_depth {
        assert!(!p.is_normal(), "{format:?}: ready before the minimum depth");
        chain.mine(1);
        let info = chain.node.transaction(&txid).expect("read").expect("known");
        for n in [&mut p.a, &mut p.b] {
            n.handle(Input::FundingConfirmed {
                depth: info.confirmations,
                tx: info.tx.clone(),
            })
            .unwrap();
        }
        p.deliver_all();
    }
    assert!(p.is_normal(), "{format:?}: ready at the minimum depth");
    p
}

/// Offers an HTLC of `amount_msat` for preimage `n` and lets both sides commit it.
pub(super) fn offer(p: &mut Pair, from_a: bool, amount_msat: u64, n: u64) {
    let from = if from_a { &mut p.a } else { &mut p.b };
    from.command(Command::AddHtlc {
        amount_msat,
        payment_hash: hash_of(&preimage(n)),
        cltv_expiry: 600,
        onion: onion(),
        extra_fee_msat: None,
    })
    .unwrap();
    p.deliver_all();
}

/// The receiver of the HTLC for preimage `n` fulfills or fails it, and both sides commit that.
fn settle(p: &mut Pair, by_a: bool, n: u64, fulfill: bool) {
    let to = if by_a { &mut p.a } else { &mut p.b };
    let (id, _, _) = *to
        .received_htlcs()
        .iter()
        .find(|(_, h, _)| *h == hash_of(&preimage(n)))
        .expect("the HTLC was received");
    let c = if fulfill {
        Command::Fulfill {
            id,
            preimage: preimage(n),
        }
    } else {
        Command::Fail {
            id,
            reason: vec![0; 32],
        }
    };
    to.command(c).unwrap();
    p.deliver_all();
}

fn update_fee(p: &mut Pair, feerate_per_kw: u32) {
    p.a.command(Command::UpdateFee { feerate_per_kw }).unwrap();
    p.deliver_all();
}

/// Both sides' latest signed commitments would relay now; returns them (a's, b's).
fn commitments_relay(chain: &Chain, p: &Pair, at: &str) -> [Transaction; 2] {
    p.assert_agree();
    [(&p.a, "a"), (&p.b, "b")].map(|(n, side)| {
        let tx = n
            .channel
            .signed_local_commitment()
            .unwrap()
            .expect("funded");
        chain.assert_relays(&tx, &format!("{side}'s commitment {at}"));
        tx
    })
}

/// Payments, a failed HTLC, HTLCs in flight both ways (one trimmed), fee updates up and down
/// to the floor; both commitments are checked against the mempool at each stage. Returns the
/// commitments checked, oldest first.
fn update_flow(chain: &Chain, p: &mut Pair) -> Vec<[Transaction; 2]> {
    let mut checked = vec![commitments_relay(chain, p, "at open")];
    p.pay(true, 200_000_000, 1);
    p.pay(false, 50_000_000, 2);
    offer(p, false, 30_000_000, 3);
    settle(p, true, 3, false);
    checked.push(commitments_relay(chain, p, "after payments"));
    offer(p, true, 40_000_000, 4);
    // 200 sat: under both dust limits, so it goes to the fee instead of an output.
    offer(p, false, 200_000, 5);
    update_fee(p, 2_500);
    checked.push(commitments_relay(chain, p, "with HTLCs in flight"));
    settle(p, false, 4, true);
    settle(p, true, 5, false);
    // The lowest feerate we accept must still relay, anchors or not.
    let floor = ChannelConfig::default().min_feerate_per_kw;
    update_fee(p, floor);
    checked.push(commitments_relay(chain, p, "at the feerate floor"));
    assert_eq!(
        p.a.channel.balances_msat(),
        (
            FUNDING_SAT * 1000 - 200_000_000 + 50_000_000 - 40_000_000,
            190_000_000
        ),
        "the payments moved the balances"
    );
    checked
}

/// The commitment number of `tx`, read from its locktime and sequence as a watcher would.
fn commitment_number(n: &Node, tx: &Transaction) -> u64 {
    let obscuring = parameters(&n.channel.state().setup)
        .unwrap()
        .obscuring_factor();
    CommitmentTx::decode_commitment_number(tx, obscuring).expect("a commitment")
}

#[test]
fn commitments_relay_through_updates_and_revoked_ones_stay_valid() {
    let mut chain = Chain::new(FORMATS.len() as u32);
    for format in FORMATS {
        let mut p = open_on_chain(&mut chain, format);
        let checked = update_flow(&chain, &mut p);
        let latest = checked.last().unwrap().clone();
        for (side, n, peer) in [(0, &p.a, &p.b), (1, &p.b, &p.a)] {
            let number = n.channel.state().commitments.as_ref().unwrap().local.number;
            let given = n.channel.signed_local_commitment().unwrap().unwrap();
            assert_eq!(given, latest[side], "{format:?}: the newest commitment");
            assert_eq!(commitment_number(n, &given), number);
            let revocations = &peer
                .channel
                .state()
                .commitments
                .as_ref()
                .unwrap()
                .revocations;
            for old in &checked[..checked.len() - 1] {
                let old = &old[side];
                let old_number = commitment_number(n, old);
                assert!(old_number < number);
                // The peer holds its secret: broadcasting it is the cheating the disputes
                // work punishes, and it is still a transaction the chain would take.
                assert_eq!(
                    revocations.secret_for_commitment(old_number).unwrap(),
                    keys(n.seed).secret(old_number).unwrap(),
                    "{format:?}: commitment {old_number} revoked"
                );
                chain.assert_relays(old, &format!("revoked commitment {old_number}"));
                assert_ne!(
                    &given, old,
                    "{format:?}: a revoked commitment is never given out"
                );
            }
        }
        // The node does check the funding signatures: out of order, they no longer satisfy
        // the 2-of-2, so the acceptances above are about the machine's signatures.
        let mut swapped = latest[0].clone();
        let w: Vec<Vec<u8>> = swapped.input[0]
            .witness
            .iter()
            .map(<[u8]>::to_vec)
            .collect();
        swapped.input[0].witness = Witness::from_slice(&[&w[0], &w[2], &w[1], &w[3]]);
        assert!(
            matches!(
                chain.node.test_accept(&swapped),
                TestAccept::Rejected { .. }
            ),
            "{format:?}: a bad funding witness is refused"
        );
    }
}

#[test]
fn latest_commitment_confirms_and_pays_the_balances() {
    let mut chain = Chain::new(FORMATS.len() as u32);
    // The opener's commitment under anchors, the acceptor's under static_remotekey: each type
    // and each role once.
    for (format, by_a) in [(Format::Anchors, true), (Format::StaticRemoteKey, false)] {
        let mut p = open_on_chain(&mut chain, format);
        update_flow(&chain, &mut p);
        offer(&mut p, !by_a, 60_000_000, 6);
        let n = if by_a { &p.a } else { &p.b };
        let tx = n.channel.signed_local_commitment().unwrap().unwrap();
        let s = n.channel.state();
        let spec = &s.commitments.as_ref().unwrap().local.spec;
        let channel_type = ChannelType::from(format);
        let untrimmed = spec
            .htlcs
            .iter()
            .filter(|h| {
                let direction = match h.origin {
                    Origin::Local => HtlcDirection::Offered,
                    Origin::Remote => HtlcDirection::Received,
                };
                !is_trimmed(
                    channel_type,
                    direction,
                    h.add.amount_msat,
                    spec.feerate_per_kw,
                    s.setup.local.dust_limit_sat,
                )
            })
            .count();
        assert_eq!(untrimmed, 1, "{format:?}: the HTLC in flight has an output");
        // The opener pays the fee and both anchors out of its balance.
        let opener_cost = commitment_fee_sat(channel_type, spec.feerate_per_kw, untrimmed)
            + channel_type.anchors_total_sat();
        let (mut ours, mut theirs) = (spec.local_msat / 1000, spec.remote_msat / 1000);
        if s.setup.opener == Origin::Local {
            ours -= opener_cost;
        } else {
            theirs -= opener_cost;
        }
        let mut expected = vec![ours, theirs, 60_000];
        if channel_type.has_anchors() {
            expected.extend([330, 330]);
        }
        expected.sort_unstable();

        let mined = chain.confirm(&tx, &format!("{format:?} commitment"));
        let mut values: Vec<u64> = mined.output.iter().map(|o| o.value.to_sat()).collect();
        values.sort_unstable();
        assert_eq!(values, expected, "{format:?}: outputs follow the balances");
        let funding = s.setup.funding_outpoint.unwrap();
        assert!(chain.node.utxo(&funding, false).is_none(), "funding spent");

        for n in [&mut p.a, &mut p.b] {
            n.handle(Input::FundingSpent { tx: mined.clone() }).unwrap();
            assert_eq!(*n.channel.phase(), Phase::Closed);
            assert!(n
                .events
                .iter()
                .any(|e| matches!(e, Event::FundingSpentUnilaterally { tx } if *tx == mined)));
            assert!(n
                .events
                .iter()
                .any(|e| matches!(e, Event::ChannelClosed { mutual: false, .. })));
        }
    }
}

#[test]
fn cooperative_close_confirms_and_pays_each_side_its_balance() {
    let mut chain = Chain::new(FORMATS.len() as u32);
    // Closing asked by the opener under anchors, by the acceptor under static_remotekey.
    for (format, by_a) in [(Format::Anchors, true), (Format::StaticRemoteKey, false)] {
        let mut p = open_on_chain(&mut chain, format);
        update_flow(&chain, &mut p);
        let (a_msat, b_msat) = p.a.channel.balances_msat();
        let closer = if by_a { &mut p.a } else { &mut p.b };
        closer
            .command(Command::Close {
                script_pubkey: None,
            })
            .unwrap();
        p.deliver_all();
        let tx = p.a.broadcast.last().unwrap().clone();
        assert_eq!(
            p.b.broadcast.last(),
            Some(&tx),
            "{format:?}: one closing tx"
        );
        let fee_sat =
            p.a.events
                .iter()
                .find_map(|e| match e {
                    Event::ClosingAgreed { fee_sat, .. } => Some(*fee_sat),
                    _ => None,
                })
                .expect("closing agreed");

        let mined = chain.confirm(&tx, &format!("{format:?} closing tx"));
        let paid = |seed: u8| -> u64 {
            let script = shutdown_script(seed);
            let (vout, out) = mined
                .output
                .iter()
                .enumerate()
                .find(|(_, o)| o.script_pubkey == script)
                .expect("an output per side");
            let utxo = chain
                .node
                .utxo(&OutPoint::new(mined.compute_txid(), vout as u32), false)
                .expect("the closing output is on chain");
            assert_eq!(utxo.txout, *out);
            out.value.to_sat()
        };
        // `a` opened, so it alone pays the closing fee.
        assert_eq!(paid(1), a_msat / 1000 - fee_sat, "{format:?}: a's balance");
        assert_eq!(paid(2), b_msat / 1000, "{format:?}: b's balance in full");
        let a_commitment = p.a.channel.signed_local_commitment().unwrap().unwrap();
        assert!(
            matches!(
                chain.node.test_accept(&a_commitment),
                TestAccept::Rejected { .. }
            ),
            "{format:?}: the close spent the funding output"
        );

        for n in [&mut p.a, &mut p.b] {
            n.handle(Input::FundingSpent { tx: mined.clone() }).unwrap();
            assert_eq!(*n.channel.phase(), Phase::Closed);
            assert!(n
                .events
                .iter()
                .any(|e| matches!(e, Event::ChannelClosed { mutual: true, .. })));
        }
    }
}
