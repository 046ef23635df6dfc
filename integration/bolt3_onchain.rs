//! BOLT 3 proven on chain: every output of a real channel's commitments, spent by every path
//! BOLT 3 gives it, broadcast to the embedded regtest node (Bitcoin Core's mempool rules and
//! script interpreter) and mined. A spend is accepted exactly when allowed: a timelock one block
//! early is refused with Core's reason and accepted on the block it opens; a wrong key or
//! preimage fails the script.
//!
//! Each proof runs on a fresh chain for both channel types and, where the owner matters, on
//! each peer's commitment (the holder opened the channel and pays its fees; the two peers have
//! different `to_self_delay`s).

mod chain_support;
#[path = "bolt3_onchain/fixture.rs"]
mod fixture;

use bitcoin::sighash::EcdsaSighashType;
use bitcoin::Transaction;
use chanhub::bolt3::commitment::OutputKind;
use chanhub::bolt3::scripts::funding_script;
use chanhub::bolt3::sign::{sign_p2wsh, SigningKey};
use chanhub::bolt3::spend::{
    spend_anchor_by_anyone, spend_anchor_with_wallet_input, spend_delayed, spend_delayed_revoked,
    spend_htlc_revoked, spend_offered_htlc_with_preimage, spend_received_htlc_after_timeout,
    spend_to_remote, Destination, SpentOutput,
};
use chanhub::bolt3::witness::funding_witness;
use chanhub::bolt3::{
    build_closing_tx, ChannelType, ClosingDescription, HtlcDirection, PaymentPreimage, Side,
};
use chanhub::chain::TestAccept;
use fixture::*;

/// The owner claims a `to_local`-style output (its `to_local`, or its HTLC transaction's output)
/// confirmed at `confirmed_at`: refused one confirmation short of `to_self_delay`, accepted on the
/// dot.
fn claim_after_delay(ch: &Channel, c: &Commitment, output: SpentOutput, confirmed_at: u32) {
    let owner = ch.party(c.owner);
    let delayed = owner.key(SigningKey::Delayed {
        per_commitment_point: c.point(),
    });
    let delay = c.to_self_delay();
    let tx = spend_delayed(
        &output,
        &c.keys().revocation_key,
        delay,
        &delayed,
        &owner.dest(),
    )
    .unwrap();
    ch.refused_until(&tx, confirmed_at + u32::from(delay) - 1, NON_BIP68_FINAL);
    ch.confirm(&tx);
}

/// The other peer's sweep of a `to_local`-style output of the revoked commitment `c`, with the
/// revocation key from `c`'s revealed secret: valid at once.
fn sweep_revoked(ch: &Channel, c: &Commitment, output: SpentOutput) -> Transaction {
    spend_delayed_revoked(
        &output,
        &ch.revocation_key(c, c.number),
        c.to_self_delay(),
        &c.keys().local_delayed_key,
        &ch.party(c.owner.other()).dest(),
    )
    .unwrap()
}

/// A claim with `preimage`, made while the commitment `tx` spends from is still unconfirmed:
/// anchors outputs wait one block (`1 OP_CSV`), static-remotekey ones may go at once. Either way
/// the same claim with a wrong preimage in its place fails the script.
fn claim_with_preimage(ch: &Channel, tx: &Transaction, preimage: &PaymentPreimage) {
    if ch.ct.has_anchors() {
        ch.refused_until(tx, ch.tip() + 1, NON_BIP68_FINAL);
    }
    let item = tx.input[0]
        .witness
        .iter()
        .position(|w| w == preimage.0)
        .expect("the preimage is in the witness");
    ch.refuse(&with_witness_item(tx, 0, item, &[0xee; 32]), SCRIPT_FAILED);
    ch.confirm(tx);
}

/// A commitment below 1 sat/vB does not relay; at BOLT 2's floor feerate it does. Under anchors
/// each peer then bumps it through its own anchor and a wallet input, while it is unconfirmed (no
/// package relay needed: the parent is already in), and the block takes all three.
fn commitment_relays_and_anchors_bump_it(ct: ChannelType, owner: Side) {
    let ch = Channel::open(ct);
    let cheap = ch.commitment(owner, &ch.state0(200));
    ch.refuse(&cheap.tx, MIN_RELAY_FEE_NOT_MET);

    let c = ch.commitment(owner, &ch.state0(FLOOR_FEERATE_PER_KW));
    let mut txids = vec![ch.accept(&c.tx)];
    if ct.has_anchors() {
        for (anchor, side) in [
            (OutputKind::LocalAnchor, owner),
            (OutputKind::RemoteAnchor, owner.other()),
        ] {
            let party = ch.party(side);
            let coin = party.take_coin();
            let child = spend_anchor_with_wallet_input(
                &c.output(anchor),
                &party.key(SigningKey::Funding),
                &spent(&coin),
                &party.wallet.sk,
                &Destination {
                    script_pubkey: party.wallet_script(),
                    fee_sat: BUMP_FEE_SAT,
                },
            )
            .unwrap();
            txids.push(ch.accept(&child));
        }
    } else {
        assert_eq!(c.built.local_anchor_output(), None);
        assert_eq!(c.built.remote_anchor_output(), None);
    }
    ch.mine_confirming(&txids);
}

/// The owner's `to_local`, after `to_self_delay`.
fn to_local_after_delay(ct: ChannelType, owner: Side) {
    let ch = Channel::open(ct);
    let c = ch.commitment(owner, &ch.state0(FLOOR_FEERATE_PER_KW));
    let confirmed_at = ch.confirm(&c.tx);
    claim_after_delay(&ch, &c, c.output(OutputKind::ToLocal), confirmed_at);
}

/// The other peer's `to_remote`, with its static payment key: at once under static remotekey, one
/// confirmation later under anchors.
fn to_remote_by_the_other_peer(ct: ChannelType, owner: Side) {
    let ch = Channel::open(ct);
    let c = ch.commitment(owner, &ch.state0(FLOOR_FEERATE_PER_KW));
    ch.accept(&c.tx);
    let other = ch.party(owner.other());
    let tx = spend_to_remote(
        ct,
        &c.output(OutputKind::ToRemote),
        &other.key(SigningKey::Payment),
        &other.dest(),
    )
    .unwrap();
    if ct.has_anchors() {
        ch.refused_until(&tx, ch.tip() + 1, NON_BIP68_FINAL);
    }
    ch.confirm(&tx);
}

/// The owner publishes a revoked commitment with HTLCs. The other peer, holding the revealed
/// secrets, sweeps `to_local` and both HTLC outputs while the commitment is still unconfirmed; with
/// the key from another commitment's secret, each sweep fails.
fn revoked_commitment_swept_at_once(ct: ChannelType, owner: Side) {
    let ch = Channel::open(ct);
    let c = ch.commitment(owner, &ch.htlc_state(3));
    // The trimmed HTLC has no output: its value is part of the fee the mempool sees.
    assert_eq!(c.built.htlc_output_index.iter().flatten().count(), 2);
    let trimmed_sat = 400;
    assert_eq!(c.built.fee_sat, c.built.base_fee_sat + trimmed_sat);
    match ch.node.test_accept(&c.tx) {
        TestAccept::Allowed { fee_sat, .. } => assert_eq!(fee_sat, c.built.fee_sat),
        other => panic!("{other:?}"),
    }
    let mut txids = vec![ch.accept(&c.tx)];

    let key = ch.revocation_key(&c, c.number);
    let wrong_key = ch.revocation_key(&c, c.number - 1);
    let d = &c.built.description;
    let mut sweeps = vec![(
        sweep_revoked(&ch, &c, c.output(OutputKind::ToLocal)),
        d.to_local_script(),
        c.output(OutputKind::ToLocal).value_sat,
    )];
    for direction in [HtlcDirection::Offered, HtlcDirection::Received] {
        let (i, htlc) = c.htlc(direction);
        let output = c.output(OutputKind::Htlc(i));
        let tx = spend_htlc_revoked(
            ct,
            &output,
            c.keys(),
            &htlc,
            &key,
            &ch.party(owner.other()).dest(),
        )
        .unwrap();
        sweeps.push((tx, c.htlc_script(i), output.value_sat));
    }
    for (tx, script, value_sat) in &sweeps {
        ch.refuse(
            &signed_by_wrong_key(tx, 0, script, *value_sat, &wrong_key),
            SCRIPT_FAILED,
        );
        txids.push(ch.accept(tx));
    }
    ch.mine_confirming(&txids);
}

/// The owner's HTLC-timeout transaction: not before `cltv_expiry`; its output then waits
/// `to_self_delay`.
fn htlc_timeout_tx_then_delay(ct: ChannelType, owner: Side) {
    let ch = Channel::open(ct);
    let c = ch.commitment(owner, &ch.htlc_state(3));
    ch.confirm(&c.tx);
    let (i, htlc) = c.htlc(HtlcDirection::Offered);
    let timeout = ch.htlc_tx(&c, i, None);
    ch.refused_until(&timeout, htlc.cltv_expiry, NON_FINAL);
    let confirmed_at = ch.confirm(&timeout);
    claim_after_delay(&ch, &c, output_of(&timeout, 0), confirmed_at);
}

/// The owner's HTLC-success transaction with the preimage (anchors: after the commitment
/// confirmed); a wrong preimage fails. Its output then waits `to_self_delay`.
fn htlc_success_tx_then_delay(ct: ChannelType, owner: Side) {
    let ch = Channel::open(ct);
    let c = ch.commitment(owner, &ch.htlc_state(3));
    ch.accept(&c.tx);
    let (i, htlc) = c.htlc(HtlcDirection::Received);
    let preimage = ch.preimage(&htlc);
    let success = ch.htlc_tx(&c, i, Some(&preimage));
    claim_with_preimage(&ch, &success, &preimage);
    let confirmed_at = ch.tip();
    claim_after_delay(&ch, &c, output_of(&success, 0), confirmed_at);
}

/// The owner publishes a revoked commitment and its HTLC transactions; the other peer sweeps each
/// HTLC transaction's output with the revocation key as soon as it is in the mempool.
fn htlc_tx_outputs_revoked(ct: ChannelType, owner: Side) {
    let ch = Channel::open(ct);
    let c = ch.commitment(owner, &ch.htlc_state(3));
    ch.confirm(&c.tx);
    let (i, htlc) = c.htlc(HtlcDirection::Received);
    let success = ch.htlc_tx(&c, i, Some(&ch.preimage(&htlc)));
    let (j, offered) = c.htlc(HtlcDirection::Offered);
    let timeout = ch.htlc_tx(&c, j, None);
    for (second_stage, ready_tip) in [(success, ch.tip()), (timeout, offered.cltv_expiry)] {
        ch.mine_to(ready_tip);
        let sweep = sweep_revoked(&ch, &c, output_of(&second_stage, 0));
        let txids = [ch.accept(&second_stage), ch.accept(&sweep)];
        ch.mine_confirming(&txids);
    }
}

/// The other peer claims the HTLC the owner offered it, straight from the owner's commitment, with
/// the preimage.
fn offered_htlc_claimed_with_preimage(ct: ChannelType, owner: Side) {
    let ch = Channel::open(ct);
    let c = ch.commitment(owner, &ch.htlc_state(3));
    ch.accept(&c.tx);
    let (i, htlc) = c.htlc(HtlcDirection::Offered);
    let other = ch.party(owner.other());
    let preimage = ch.preimage(&htlc);
    let tx = spend_offered_htlc_with_preimage(
        ct,
        &c.output(OutputKind::Htlc(i)),
        c.keys(),
        &htlc,
        &other.key(SigningKey::Htlc {
            per_commitment_point: c.point(),
        }),
        &preimage,
        &other.dest(),
    )
    .unwrap();
    claim_with_preimage(&ch, &tx, &preimage);
}

/// The other peer takes back the HTLC it offered, straight from the owner's commitment, from
/// `cltv_expiry` on.
fn received_htlc_timed_out_by_the_other_peer(ct: ChannelType, owner: Side) {
    let ch = Channel::open(ct);
    let c = ch.commitment(owner, &ch.htlc_state(3));
    ch.confirm(&c.tx);
    let (i, htlc) = c.htlc(HtlcDirection::Received);
    let other = ch.party(owner.other());
    let tx = spend_received_htlc_after_timeout(
        ct,
        &c.output(OutputKind::Htlc(i)),
        c.keys(),
        &htlc,
        &other.key(SigningKey::Htlc {
            per_commitment_point: c.point(),
        }),
        &other.dest(),
    )
    .unwrap();
    ch.refused_until(&tx, htlc.cltv_expiry, NON_FINAL);
    ch.confirm(&tx);
}

/// Sixteen blocks after the commitment confirmed, anyone may sweep both anchors without a
/// signature: here the owner sweeps its own and the other peer's, for which it holds no key, in one
/// transaction with a wallet input for the fee (660 sat of anchors cannot pay for themselves).
fn anchors_swept_by_anyone_after_16_blocks(ct: ChannelType, owner: Side) {
    assert!(ct.has_anchors());
    let ch = Channel::open(ct);
    let c = ch.commitment(owner, &ch.state0(FLOOR_FEERATE_PER_KW));
    let confirmed_at = ch.confirm(&c.tx);
    let sweeper = ch.party(owner);
    let keys = |side: Side| ch.params.pubkeys(side).funding_pubkey;
    let to = Destination {
        script_pubkey: sweeper.wallet_script(),
        fee_sat: 0,
    };
    let mut sweep = spend_anchor_by_anyone(
        &c.output(OutputKind::RemoteAnchor),
        &keys(owner.other()),
        &to,
    )
    .unwrap();
    // The owner's anchor joins the same sweep: an anyone-can-spend witness has no signature
    // for the extra input to invalidate.
    let second =
        spend_anchor_by_anyone(&c.output(OutputKind::LocalAnchor), &keys(owner), &to).unwrap();
    sweep.input.push(second.input[0].clone());
    sweep.output[0].value += second.output[0].value;
    ch.add_fee_input(&mut sweep, sweeper);
    ch.refused_until(&sweep, confirmed_at + 16 - 1, NON_BIP68_FINAL);
    ch.confirm(&sweep);
}

/// The mutual close, as both peers build it, signed by both: accepted; with one signature by a key
/// other than the funding key: refused.
fn mutual_close(ct: ChannelType) {
    let ch = Channel::open(ct);
    let (h, cp) = (&ch.holder, &ch.counterparty);
    let holder_msat = 6_500_000_000;
    let ours = ClosingDescription {
        funding_outpoint: ch.params.funding_outpoint,
        funding_sat: FUNDING_SAT,
        local_funding_pubkey: ch.params.holder_pubkeys.funding_pubkey,
        remote_funding_pubkey: ch.params.counterparty_pubkeys.funding_pubkey,
        local_is_opener: true,
        to_local_msat: holder_msat,
        to_remote_msat: FUNDING_SAT * 1000 - holder_msat,
        local_script: h.wallet_script(),
        remote_script: cp.wallet_script(),
        fee_sat: SPEND_FEE_SAT,
        dust_limit_sat: DUST_LIMIT_SAT,
    };
    let theirs = ClosingDescription {
        local_funding_pubkey: ours.remote_funding_pubkey,
        remote_funding_pubkey: ours.local_funding_pubkey,
        local_is_opener: false,
        to_local_msat: ours.to_remote_msat,
        to_remote_msat: ours.to_local_msat,
        local_script: ours.remote_script.clone(),
        remote_script: ours.local_script.clone(),
        ..ours.clone()
    };
    let closing = build_closing_tx(&ours).unwrap();
    assert_eq!(build_closing_tx(&theirs).unwrap().tx, closing.tx);
    let holder_sig = closing.sign(&h.signer).unwrap();
    let cp_sig = closing.sign(&cp.signer).unwrap();
    let tx = closing.finalize(&holder_sig, &cp_sig).unwrap();

    let script = funding_script(&ours.local_funding_pubkey, &ours.remote_funding_pubkey);
    // The counterparty signs with its payment key instead of its funding key.
    let bad_sig = sign_p2wsh(
        &closing.tx,
        0,
        &script,
        FUNDING_SAT,
        EcdsaSighashType::All,
        &cp.key(SigningKey::Payment),
    )
    .unwrap();
    let mut bad = closing.tx.clone();
    bad.input[0].witness = funding_witness(
        &ours.local_funding_pubkey,
        &bitcoin::ecdsa::Signature::sighash_all(holder_sig),
        &ours.remote_funding_pubkey,
        &bad_sig,
        &script,
    );
    ch.refuse(&bad, SCRIPT_FAILED);
    ch.confirm(&tx);
    // Each peer's balance, less the opener's fee, is in its wallet.
    for (party, sat) in [
        (h, holder_msat / 1000 - SPEND_FEE_SAT),
        (cp, FUNDING_SAT - holder_msat / 1000),
    ] {
        let vout = tx
            .output
            .iter()
            .position(|o| o.script_pubkey == party.wallet_script())
            .unwrap();
        assert_eq!(output_of(&tx, vout as u32).value_sat, sat);
    }
}

/// One test per proof and commitment owner, in a module per channel type.
macro_rules! per_owner {
    ($ct:expr; $($proof:ident),* $(,)?) => {
        mod holder_commitment {
            $( #[test] fn $proof() { super::super::$proof($ct, chanhub::bolt3::Side::Holder) } )*
        }
        mod counterparty_commitment {
            $( #[test] fn $proof() {
                super::super::$proof($ct, chanhub::bolt3::Side::Counterparty)
            } )*
        }
    };
}

mod anchors {
    use chanhub::bolt3::ChannelType;
    const CT: ChannelType = ChannelType::AnchorsZeroFeeHtlc;
    per_owner!(super::CT;
        commitment_relays_and_anchors_bump_it,
        to_local_after_delay,
        to_remote_by_the_other_peer,
        revoked_commitment_swept_at_once,
        htlc_timeout_tx_then_delay,
        htlc_success_tx_then_delay,
        htlc_tx_outputs_revoked,
        offered_htlc_claimed_with_preimage,
        received_htlc_timed_out_by_the_other_peer,
        anchors_swept_by_anyone_after_16_blocks,
    );

    #[test]
    fn mutual_close() {
        super::mutual_close(CT);
    }
}

mod static_remotekey {
    use chanhub::bolt3::ChannelType;
    const CT: ChannelType = ChannelType::StaticRemoteKey;
    per_owner!(super::CT;
        commitment_relays_and_anchors_bump_it,
        to_local_after_delay,
        to_remote_by_the_other_peer,
        revoked_commitment_swept_at_once,
        htlc_timeout_tx_then_delay,
        htlc_success_tx_then_delay,
        htlc_tx_outputs_revoked,
        offered_htlc_claimed_with_preimage,
        received_htlc_timed_out_by_the_other_peer,
    );

    #[test]
    fn mutual_close() {
        super::mutual_close(CT);
    }
}
