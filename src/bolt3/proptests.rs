//! Property tests: value conservation, canonical ordering, agreement between the two peers'
//! views, and revocation-store soundness over random channels.

use bitcoin::hashes::Hash;
use bitcoin::{OutPoint, Txid};
use proptest::prelude::*;

use super::channel::{ChannelHtlc, ChannelParameters, CommitmentState, Side};
use super::commitment::{CommitmentDescription, CommitmentTx, OutputKind};
use super::secrets::{index_for_commitment, PerCommitmentSecrets, RevocationStore};
use super::sign::InMemorySigner;
use super::testutil::secrets_from_byte;
use super::{Bolt3Error, ChannelSigner, ChannelType, PaymentPreimage};

#[derive(Debug, Clone)]
struct Case {
    ct: ChannelType,
    funding_sat: u64,
    holder_share_permille: u64,
    htlcs: Vec<(bool, u64, u8, u32)>,
    feerate: u32,
    holder_dust: u64,
    counterparty_dust: u64,
    holder_opens: bool,
    commitment_number: u64,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop_oneof![
            Just(ChannelType::StaticRemoteKey),
            Just(ChannelType::AnchorsZeroFeeHtlc)
        ],
        200_000u64..20_000_000,
        0u64..=1000,
        prop::collection::vec(
            // Few distinct hashes and cltvs so identical HTLC outputs (the tie-break) occur.
            (
                any::<bool>(),
                prop_oneof![
                    0u64..8_000_000,
                    // Same whole satoshis, different msat: identical outputs for equal hashes.
                    (1u64..4, 0u64..1000).prop_map(|(s, m)| s * 1_000_000 + m)
                ],
                0u8..4,
                500u32..504,
            ),
            0..24,
        ),
        prop_oneof![0u32..300, 253u32..20_000, 20_000u32..2_000_000],
        0u64..3000,
        0u64..3000,
        any::<bool>(),
        0u64..(1 << 48),
    )
        .prop_map(
            |(
                ct,
                funding_sat,
                holder_share_permille,
                htlcs,
                feerate,
                holder_dust,
                counterparty_dust,
                holder_opens,
                commitment_number,
            )| Case {
                ct,
                funding_sat,
                holder_share_permille,
                htlcs,
                feerate,
                holder_dust,
                counterparty_dust,
                holder_opens,
                commitment_number,
            },
        )
}

struct Built {
    params: ChannelParameters,
    state: CommitmentState,
    counterparty: InMemorySigner,
}

fn build(c: &Case) -> Built {
    let holder = InMemorySigner::new(secrets_from_byte(1));
    let counterparty = InMemorySigner::new(secrets_from_byte(50));
    let params = ChannelParameters {
        channel_type: c.ct,
        funding_outpoint: OutPoint::new(Txid::from_byte_array([5; 32]), 0),
        funding_sat: c.funding_sat,
        holder_pubkeys: holder.pubkeys(),
        counterparty_pubkeys: counterparty.pubkeys(),
        opener: if c.holder_opens {
            Side::Holder
        } else {
            Side::Counterparty
        },
        holder_to_self_delay: 144,
        counterparty_to_self_delay: 720,
        holder_dust_limit_sat: c.holder_dust,
        counterparty_dust_limit_sat: c.counterparty_dust,
    };
    let htlcs: Vec<ChannelHtlc> = c
        .htlcs
        .iter()
        .map(
            |&(holder_offers, amount_msat, h, cltv_expiry)| ChannelHtlc {
                offerer: if holder_offers {
                    Side::Holder
                } else {
                    Side::Counterparty
                },
                amount_msat,
                payment_hash: PaymentPreimage([h; 32]).payment_hash(),
                cltv_expiry,
            },
        )
        .collect();
    let in_flight: u64 = htlcs.iter().map(|h| h.amount_msat).sum();
    let remaining = c.funding_sat * 1000 - in_flight;
    let holder_msat = remaining / 1000 * c.holder_share_permille;
    let state = CommitmentState {
        commitment_number: c.commitment_number,
        holder_msat,
        counterparty_msat: remaining - holder_msat,
        htlcs,
        feerate_per_kw: c.feerate,
    };
    Built {
        params,
        state,
        counterparty,
    }
}

/// The commitment's expected output total, computed from BOLT 3's rules written out directly.
fn expected_outputs_sat(d: &CommitmentDescription) -> u64 {
    let anchors = d.channel_type.has_anchors();
    let (timeout_w, success_w, base_w) = if anchors {
        (0, 0, 1124)
    } else {
        (663, 703, 724)
    };
    let fee = |w: u64| u64::from(d.feerate_per_kw) * w / 1000;
    let untrimmed: Vec<u64> = d
        .htlcs
        .iter()
        .filter(|h| {
            let w = match h.direction {
                super::HtlcDirection::Offered => timeout_w,
                super::HtlcDirection::Received => success_w,
            };
            h.amount_msat / 1000 >= d.dust_limit_sat + fee(w)
        })
        .map(|h| h.amount_msat / 1000)
        .collect();
    let base_fee = fee(base_w + 172 * untrimmed.len() as u64);
    let opener_cost = base_fee + if anchors { 660 } else { 0 };
    let (mut local, mut remote) = (d.to_local_msat / 1000, d.to_remote_msat / 1000);
    if d.local_is_opener {
        local = local.saturating_sub(opener_cost);
    } else {
        remote = remote.saturating_sub(opener_cost);
    }
    let local = if local >= d.dust_limit_sat { local } else { 0 };
    let remote = if remote >= d.dust_limit_sat {
        remote
    } else {
        0
    };
    let anchor_count = if !anchors {
        0
    } else if !untrimmed.is_empty() {
        2
    } else {
        u64::from(local > 0) + u64::from(remote > 0)
    };
    local + remote + anchor_count * 330 + untrimmed.iter().sum::<u64>()
}

fn check_commitment(commit: &CommitmentTx) -> Result<(), TestCaseError> {
    let d = &commit.description;
    let outputs: u64 = commit.tx.output.iter().map(|o| o.value.to_sat()).sum();
    // Value conserved: funding = outputs + fee, and the fee is exactly what the rules leave.
    prop_assert_eq!(outputs + commit.fee_sat, d.funding_sat);
    prop_assert_eq!(outputs, expected_outputs_sat(d));
    // Every untrimmed HTLC has its own output with its whole satoshis; trimmed ones none.
    for (i, h) in d.htlcs.iter().enumerate() {
        match commit.htlc_output_index[i] {
            Some(o) => {
                prop_assert!(!d.is_htlc_trimmed(h));
                prop_assert_eq!(
                    commit.tx.output[o as usize].value.to_sat(),
                    h.amount_msat / 1000
                );
                prop_assert_eq!(commit.outputs[o as usize], OutputKind::Htlc(i));
            }
            None => prop_assert!(d.is_htlc_trimmed(h)),
        }
    }
    // Canonical order: BIP 69, then cltv_expiry among identical outputs.
    for w in commit.outputs.windows(2).zip(commit.tx.output.windows(2)) {
        let (kinds, outs) = w;
        let key = |o: &bitcoin::TxOut| (o.value, o.script_pubkey.as_bytes().to_vec());
        prop_assert!(key(&outs[0]) <= key(&outs[1]));
        if key(&outs[0]) == key(&outs[1]) {
            if let (OutputKind::Htlc(a), OutputKind::Htlc(b)) = (kinds[0], kinds[1]) {
                prop_assert!(d.htlcs[a].cltv_expiry <= d.htlcs[b].cltv_expiry);
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn commitments_conserve_value_are_canonical_and_both_peers_agree(c in case()) {
        let Built { params, state, counterparty } = build(&c);
        let holder_points = PerCommitmentSecrets::new([11; 32]);
        let counterparty_points = PerCommitmentSecrets::new([12; 32]);
        let n = c.commitment_number;
        let holder_pcp = holder_points.point(n).unwrap();
        let counterparty_pcp = counterparty_points.point(n).unwrap();
        let mirrored_params = params.flipped();
        let mirrored_state = state.flipped();

        // A state whose opener cannot pay the fee and the anchors would spend more than the
        // funding: the builder refuses it, whoever builds it.
        for (owner, pcp) in [(Side::Holder, &holder_pcp), (Side::Counterparty, &counterparty_pcp)] {
            let d = params.describe(owner, &state, pcp).unwrap();
            if expected_outputs_sat(&d) > d.funding_sat {
                let built = params.build_commitment(owner, &state, pcp);
                prop_assert!(matches!(built, Err(Bolt3Error::FeeTooHigh { .. })), "{:?}", built);
                return Ok(());
            }
        }

        // The holder's commitment, built by the holder and by the counterparty.
        let ours = params.build_commitment(Side::Holder, &state, &holder_pcp).unwrap();
        let ours_by_them = mirrored_params
            .build_commitment(Side::Counterparty, &mirrored_state, &holder_pcp)
            .unwrap();
        prop_assert_eq!(&ours.tx, &ours_by_them.tx);
        prop_assert_eq!(&ours.htlc_output_index, &ours_by_them.htlc_output_index);
        prop_assert_eq!(ours.htlc_txs().unwrap(), ours_by_them.htlc_txs().unwrap());
        check_commitment(&ours)?;
        // What the counterparty signs for us verifies on our copy.
        let sig = ours_by_them.sign(&counterparty).unwrap().signature;
        ours.verify(&sig, &params.counterparty_pubkeys.funding_pubkey).unwrap();
        for (mine, theirs) in ours.htlc_txs().unwrap().iter().zip(ours_by_them.htlc_txs().unwrap()) {
            mine.verify_remote(&theirs.sign_as_remote(&counterparty).unwrap()).unwrap();
        }

        // The counterparty's commitment, both ways.
        let theirs = params
            .build_commitment(Side::Counterparty, &state, &counterparty_pcp)
            .unwrap();
        let theirs_by_them = mirrored_params
            .build_commitment(Side::Holder, &mirrored_state, &counterparty_pcp)
            .unwrap();
        prop_assert_eq!(&theirs.tx, &theirs_by_them.tx);
        check_commitment(&theirs)?;

        prop_assert_eq!(
            CommitmentTx::decode_commitment_number(&ours.tx, params.obscuring_factor()),
            Some(n)
        );
    }

    #[test]
    fn revocation_store_catches_a_foreign_secret_by_the_next_boundary(
        k in 0u64..300,
        seed in any::<[u8; 32]>(),
        foreign in any::<[u8; 32]>(),
    ) {
        prop_assume!(seed != foreign);
        let good = PerCommitmentSecrets::new(seed);
        let bad = PerCommitmentSecrets::new(foreign);
        let mut store = RevocationStore::new();
        for n in 0..k {
            store.insert(index_for_commitment(n).unwrap(), good.secret(n).unwrap()).unwrap();
        }
        let mut rejected = store
            .insert(index_for_commitment(k).unwrap(), bad.secret(k).unwrap())
            .is_err();
        // A foreign secret at index I (b trailing zeros) is checked at the latest when the
        // secret for I - 2^b arrives, at most k + 1 steps later.
        let mut n = k + 1;
        while !rejected && n <= 2 * k + 2 {
            match store.insert(index_for_commitment(n).unwrap(), good.secret(n).unwrap()) {
                Err(Bolt3Error::InconsistentSecret { .. }) => rejected = true,
                other => prop_assert!(other.is_ok()),
            }
            n += 1;
        }
        prop_assert!(rejected);
    }
}
