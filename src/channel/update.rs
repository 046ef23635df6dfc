//! Normal operation: HTLC updates, fee updates, and the commitment dance.
//!
//! ```text
//!  local --update_add_htlc-->  remote        (local.proposed)
//!  local --commitment_signed-> remote        (local.signed; we wait for a revocation)
//!  local <--revoke_and_ack---  remote        (local.acked: in the peer's commitment)
//!  local <-commitment_signed-  remote        (in ours too)
//!  local --revoke_and_ack-->   remote
//! ```
//!
//! We sign eagerly: whenever we may sign (the peer revoked our last one and gave its next
//! point) and the peer's commitment lacks something, the same transition sends
//! `commitment_signed`.

use bitcoin::constants::ChainHash;
use bitcoin::secp256k1::PublicKey;

use crate::bolt3::secrets::{index_for_commitment, per_commitment_point};
use crate::bolt3::ChannelType;
use crate::wire::types::ONION_PACKET_LEN;
use crate::wire::{CommitmentSigned, RevokeAndAck, TlvStream, UpdateFailMalformedHtlc};

use super::changes::{
    preimage_matches, push_collapsing_fee, AddHtlc, Onion, Origin, Spec, SpecHtlc, Update,
};
use super::commitments;
use super::dust::DustLimits;
use super::error::ChannelError;
use super::events::{Event, MalformedFailure};
use super::limits::{opener_cost_msat, untrimmed_count, HtlcCheck};
use super::state::{Commitments, LastSent, Link, LocalCommit, Phase, RemoteCommit};
use super::Step;

/// The worst case for the sender of an update: every HTLC any commitment may hold (removals
/// count only once both commitments have them), the lowest balance each side may have, the
/// highest feerate. What the receiver checks is never worse than this.
struct WorstCase {
    spec: Spec,
}

fn worst_case(c: &Commitments) -> WorstCase {
    let mut specs = vec![&c.local.spec, &c.remote.spec];
    if let Some(w) = &c.remote_waiting {
        specs.push(&w.spec);
    }
    let mut htlcs: Vec<SpecHtlc> = Vec::new();
    let mut push = |h: SpecHtlc| {
        if !htlcs
            .iter()
            .any(|x| x.origin == h.origin && x.add.id == h.add.id)
        {
            htlcs.push(h);
        }
    };
    for s in &specs {
        for h in &s.htlcs {
            push(h.clone());
        }
    }
    for u in c.local_changes.all() {
        if let Update::Add(a) = u {
            push(SpecHtlc {
                origin: Origin::Local,
                add: a.clone(),
            });
        }
    }
    for u in c.remote_changes.all() {
        if let Update::Add(a) = u {
            push(SpecHtlc {
                origin: Origin::Remote,
                add: a.clone(),
            });
        }
    }
    let balance = |side: Origin| {
        specs
            .iter()
            .map(|s| {
                let missing: u64 = htlcs
                    .iter()
                    .filter(|h| h.origin == side && s.find(side, h.add.id).is_none())
                    .map(|h| h.add.amount_msat)
                    .sum();
                s.balance(side).saturating_sub(missing)
            })
            .min()
            .unwrap_or(0)
    };
    let mut feerate = specs.iter().map(|s| s.feerate_per_kw).max().unwrap_or(0);
    for u in c.local_changes.all().chain(c.remote_changes.all()) {
        if let Update::Fee { feerate_per_kw } = u {
            feerate = feerate.max(*feerate_per_kw);
        }
    }
    WorstCase {
        spec: Spec {
            local_msat: balance(Origin::Local),
            remote_msat: balance(Origin::Remote),
            htlcs,
            feerate_per_kw: feerate,
        },
    }
}

/// The sender's worst case as a spec (also what the dust cap counts: every HTLC any
/// commitment may hold, at the highest pending feerate).
pub(super) fn worst_case_spec(c: &Commitments) -> Spec {
    worst_case(c).spec
}

impl Step<'_> {
    pub(super) fn commitments(&self) -> Result<&Commitments, ChannelError> {
        self.s.commitments.as_ref().ok_or(ChannelError::NotNow {
            command: "update",
            state: self.s.phase.name().into(),
        })
    }

    fn commitments_mut(&mut self) -> &mut Commitments {
        self.s
            .commitments
            .as_mut()
            .expect("checked by every caller through commitments()")
    }

    fn channel_type(&self) -> ChannelType {
        self.s.setup.format.into()
    }

    fn remote_params(&self) -> Result<super::SideParams, ChannelError> {
        self.s
            .setup
            .remote
            .ok_or_else(|| ChannelError::Bolt3("peer parameters unknown".into()))
    }

    fn dust_limits(&self) -> Result<DustLimits, ChannelError> {
        Ok(DustLimits {
            channel_type: self.channel_type(),
            local_dust_sat: self.s.setup.local.dust_limit_sat,
            remote_dust_sat: self.remote_params()?.dust_limit_sat,
        })
    }

    fn can_update(&self) -> bool {
        matches!(self.s.phase, Phase::Normal | Phase::ShuttingDown)
            && self.s.link == Link::Connected
    }

    pub(super) fn add_htlc(
        &mut self,
        amount_msat: u64,
        payment_hash: [u8; 32],
        cltv_expiry: u32,
        onion: Vec<u8>,
        extra_fee_msat: Option<u64>,
    ) -> Result<(), ChannelError> {
        if self.s.phase != Phase::Normal || self.s.link != Link::Connected {
            return Err(self.not_now("add an HTLC"));
        }
        if self.s.close.local_script.is_some() || self.s.close.remote_script.is_some() {
            return Err(self.not_now("add an HTLC after shutdown"));
        }
        if onion.len() != ONION_PACKET_LEN {
            return Err(ChannelError::HtlcLimit(format!(
                "onion of {} bytes, not {ONION_PACKET_LEN}",
                onion.len()
            )));
        }
        let c = self.commitments()?;
        let add = AddHtlc {
            id: c.local_next_htlc_id,
            amount_msat,
            payment_hash,
            cltv_expiry,
            onion: onion.into(),
            blinding_point: None,
            extra_fee_msat,
        };
        let remote = self.remote_params()?;
        let mut worst = worst_case(c).spec;
        let ct = self.channel_type();
        worst
            .reduce(&[Update::Add(add.clone())], &[])
            .map(|w| worst = w)?;
        // The fee spike buffer: as opener we keep room for the fee at twice the feerate, so
        // a fee rise cannot leave us unable to pay for the HTLCs in flight.
        let spike = if self.s.setup.opener == Origin::Local {
            2
        } else {
            1
        };
        HtlcCheck {
            channel_type: ct,
            spec: &worst,
            offerer: Origin::Local,
            receiver_params: &remote,
            opener: self.s.setup.opener,
            fee_htlcs: worst.htlcs.len(),
            fee_feerate_per_kw: worst.feerate_per_kw.saturating_mul(spike),
        }
        .run(amount_msat, cltv_expiry)?;
        // Refused before it is sent: over the cap on either commitment, at the buffered
        // feerate.
        self.dust_limits()?
            .check_add(
                &worst,
                Origin::Local,
                amount_msat,
                self.s.config.max_dust_htlc_exposure_msat,
            )
            .map_err(ChannelError::HtlcLimit)?;
        let c = self.commitments_mut();
        c.local_next_htlc_id += 1;
        c.local_changes.proposed.push(Update::Add(add.clone()));
        let msg = Update::Add(add).to_message(self.channel_id());
        self.send(msg);
        self.event(Event::HtlcOffered {
            id: c_id(self),
            payment_hash,
        });
        Ok(())
    }

    /// Fulfill or fail an incoming HTLC committed on both sides.
    pub(super) fn settle(&mut self, u: Update) -> Result<(), ChannelError> {
        let id = u.removed_id().ok_or_else(|| self.not_now("settle"))?;
        let c = self.commitments()?;
        let htlc = c.local.spec.find(Origin::Remote, id);
        if htlc.is_none() || c.remote.spec.find(Origin::Remote, id).is_none() {
            return Err(ChannelError::UnknownHtlc { id });
        }
        if c.local_changes
            .all()
            .chain(&c.to_repropose)
            .any(|x| x.removed_id() == Some(id))
        {
            return Err(ChannelError::UnknownHtlc { id });
        }
        if let (Update::Fulfill { preimage, .. }, Some(h)) = (&u, htlc) {
            if !preimage_matches(preimage, &h.add.payment_hash) {
                return Err(ChannelError::BadPreimage { id });
            }
        }
        if let Update::FailMalformed { failure_code, .. } = &u {
            if failure_code & UpdateFailMalformedHtlc::BADONION == 0 {
                return Err(ChannelError::HtlcLimit(
                    "failure_code without BADONION".into(),
                ));
            }
        }
        if !matches!(self.s.phase, Phase::Normal | Phase::ShuttingDown) {
            return Err(self.not_now("settle an HTLC"));
        }
        if self.s.link != Link::Connected {
            // Kept, and proposed once the peer is back: the hub already counts it as done.
            self.commitments_mut().to_repropose.push(u);
            return Ok(());
        }
        let msg = u.to_message(self.channel_id());
        self.commitments_mut().local_changes.proposed.push(u);
        self.send(msg);
        Ok(())
    }

    pub(super) fn update_fee(&mut self, feerate_per_kw: u32) -> Result<(), ChannelError> {
        if !self.can_update() {
            return Err(self.not_now("update the fee"));
        }
        if self.s.setup.opener != Origin::Local {
            return Err(ChannelError::BadFeeUpdate(
                "only the opener sets the fee".into(),
            ));
        }
        self.s
            .config
            .check_feerate(feerate_per_kw)
            .map_err(ChannelError::BadFeeUpdate)?;
        let remote = self.remote_params()?;
        let c = self.commitments()?;
        let worst = worst_case(c).spec;
        let needed = remote.channel_reserve_sat * 1000
            + opener_cost_msat(
                self.channel_type(),
                feerate_per_kw.max(worst.feerate_per_kw),
                worst.htlcs.len(),
            );
        if worst.local_msat < needed {
            return Err(ChannelError::BadFeeUpdate(format!(
                "our balance {} msat cannot pay {needed} msat at {feerate_per_kw} sat/kw",
                worst.local_msat
            )));
        }
        self.dust_limits()?
            .check_fee(
                &worst,
                worst.feerate_per_kw,
                feerate_per_kw,
                self.s.config.max_dust_htlc_exposure_msat,
            )
            .map_err(ChannelError::BadFeeUpdate)?;
        let u = Update::Fee { feerate_per_kw };
        let msg = u.to_message(self.channel_id());
        push_collapsing_fee(&mut self.commitments_mut().local_changes.proposed, u);
        self.send(msg);
        Ok(())
    }

    /// An `update_*` from the peer: every BOLT 2 receiver check, on the commitment it will
    /// enter (our next one).
    pub(super) fn on_update(&mut self, u: Update) -> Result<(), ChannelError> {
        if !self.can_update() || self.s.commitments.is_none() {
            return Err(self.unexpected(u.name()));
        }
        let ct = self.channel_type();
        let local_params = self.s.setup.local;
        let opener = self.s.setup.opener;
        let c = self.commitments()?;
        match &u {
            Update::Add(a) => {
                if self.s.close.remote_script.is_some() {
                    return Err(ChannelError::AfterShutdown("update_add_htlc"));
                }
                if a.id != c.remote_next_htlc_id {
                    return Err(ChannelError::HtlcIdOutOfOrder {
                        expected: c.remote_next_htlc_id,
                        got: a.id,
                    });
                }
            }
            Update::Fulfill { id, .. }
            | Update::Fail { id, .. }
            | Update::FailMalformed { id, .. } => {
                let htlc = c.local.spec.find(Origin::Local, *id);
                if htlc.is_none() || c.remote.spec.find(Origin::Local, *id).is_none() {
                    return Err(ChannelError::UnknownHtlc { id: *id });
                }
                if c.remote_changes.all().any(|x| x.removed_id() == Some(*id)) {
                    return Err(ChannelError::UnknownHtlc { id: *id });
                }
                if let (Update::Fulfill { preimage, .. }, Some(h)) = (&u, htlc) {
                    if !preimage_matches(preimage, &h.add.payment_hash) {
                        return Err(ChannelError::BadPreimage { id: *id });
                    }
                }
                if let Update::FailMalformed { failure_code, .. } = &u {
                    if failure_code & UpdateFailMalformedHtlc::BADONION == 0 {
                        return Err(ChannelError::HtlcLimit(
                            "failure_code without BADONION".into(),
                        ));
                    }
                }
            }
            Update::Fee { feerate_per_kw } => {
                if opener != Origin::Remote {
                    return Err(ChannelError::BadFeeUpdate(
                        "update_fee from the non-opener".into(),
                    ));
                }
                self.s
                    .config
                    .check_feerate(*feerate_per_kw)
                    .map_err(ChannelError::BadFeeUpdate)?;
            }
        }
        let max_dust = self.s.config.max_dust_htlc_exposure_msat;
        let dust_limits = self.dust_limits()?;
        let c = self.commitments_mut();
        // A flood of `update_fee` keeps one entry: only the latest counts (BOLT 2).
        push_collapsing_fee(&mut c.remote_changes.proposed, u.clone());
        let worst = worst_case_spec(c);
        let next = c
            .local
            .spec
            .reduce(&c.local_changes.acked, &c.remote_changes.proposed)?;
        let dust = local_params.dust_limit_sat;
        let fee_htlcs = untrimmed_count(ct, &next, Origin::Local, dust);
        match &u {
            Update::Add(a) => {
                c.remote_next_htlc_id += 1;
                // The dust cap is our own policy, unknown to the peer, and a fee update in
                // flight can move HTLCs under the dust limit: going over it on either
                // commitment fails the HTLC (once committed), never the channel (BOLT 2, as
                // LDK does).
                if dust_limits
                    .check_add(&worst, Origin::Remote, a.amount_msat, max_dust)
                    .is_err()
                {
                    c.dust_rejects.push(a.id);
                }
                HtlcCheck {
                    channel_type: ct,
                    spec: &next,
                    offerer: Origin::Remote,
                    receiver_params: &local_params,
                    opener,
                    fee_htlcs,
                    fee_feerate_per_kw: next.feerate_per_kw,
                }
                .run(a.amount_msat, a.cltv_expiry)?;
            }
            Update::Fee { feerate_per_kw } => {
                let needed = local_params.channel_reserve_sat * 1000
                    + opener_cost_msat(ct, *feerate_per_kw, fee_htlcs);
                if next.remote_msat < needed {
                    return Err(ChannelError::BadFeeUpdate(format!(
                        "the opener's {} msat cannot pay {needed} msat",
                        next.remote_msat
                    )));
                }
                // A fee rise that trims HTLCs until the exposure is over the cap would burn
                // our money on chain: we fail the channel (as LDK does) while the commitment
                // we hold is still the one without it.
                let from = c.local.spec.feerate_per_kw;
                if let Err(why) = dust_limits.check_fee(&worst, from, *feerate_per_kw, max_dust) {
                    c.remote_changes
                        .proposed
                        .retain(|x| !matches!(x, Update::Fee { .. }));
                    return self.force_close(&format!("update_fee refused: {why}"), true);
                }
            }
            Update::Fulfill { id, preimage } => self.event(Event::HtlcFulfilled {
                id: *id,
                preimage: *preimage,
            }),
            Update::Fail { .. } | Update::FailMalformed { .. } => {}
        }
        Ok(())
    }

    /// Sign the peer's next commitment if we may and it would change anything.
    pub(super) fn maybe_sign(&mut self) -> Result<(), ChannelError> {
        if !self.can_update() {
            return Ok(());
        }
        let Some(c) = self.s.commitments.as_ref() else {
            return Ok(());
        };
        let Some(point) = c.remote_next_point else {
            return Ok(());
        };
        if c.remote_waiting.is_some()
            || (c.local_changes.proposed.is_empty() && c.remote_changes.acked.is_empty())
        {
            return Ok(());
        }
        let spec = c
            .remote
            .spec
            .reduce(&c.local_changes.proposed, &c.remote_changes.acked)?;
        let number = c.remote.number + 1;
        let (sig, htlc_sigs) =
            commitments::sign_remote(self.keys, &self.s.setup, &spec, number, &point)?;
        let c = self.commitments_mut();
        c.remote_waiting = Some(RemoteCommit {
            number,
            spec,
            point,
            sig: Some(sig),
            htlc_sigs: htlc_sigs.clone(),
        });
        c.remote_next_point = None;
        c.local_changes.signed = std::mem::take(&mut c.local_changes.proposed);
        c.remote_changes.signed = std::mem::take(&mut c.remote_changes.acked);
        c.last_sent = LastSent::CommitmentSigned;
        let channel_id = self.channel_id();
        self.send(CommitmentSigned {
            channel_id,
            signature: sig,
            htlc_signatures: htlc_sigs,
            extra_tlvs: TlvStream::new(),
        });
        Ok(())
    }

    pub(super) fn on_commitment_signed(
        &mut self,
        m: &CommitmentSigned,
    ) -> Result<(), ChannelError> {
        if !self.can_update() || self.s.commitments.is_none() {
            return Err(self.unexpected("commitment_signed"));
        }
        let c = self.commitments()?;
        if c.remote_changes.proposed.is_empty() && c.local_changes.acked.is_empty() {
            return Err(self.unexpected("commitment_signed without changes"));
        }
        let spec = c
            .local
            .spec
            .reduce(&c.local_changes.acked, &c.remote_changes.proposed)?;
        let number = c.local.number + 1;
        commitments::verify_local(
            self.keys,
            &self.s.setup,
            &spec,
            number,
            &m.signature,
            &m.htlc_signatures,
        )?;
        let revoked = c.local.number;
        let secret = self.keys.secret(revoked)?;
        let next_point = self.keys.point(number + 1)?;
        let regtest = self.s.setup.chain_hash == ChainHash::REGTEST.to_bytes();
        let c = self.commitments_mut();
        let previous = std::mem::replace(
            &mut c.local,
            LocalCommit {
                number,
                spec,
                remote_sig: m.signature,
                remote_htlc_sigs: m.htlc_signatures.clone(),
            },
        );
        c.previous_local = regtest.then_some(previous);
        c.local_changes.acked.clear();
        let proposed = std::mem::take(&mut c.remote_changes.proposed);
        c.remote_changes.acked.extend(proposed);
        c.last_sent = LastSent::RevokeAndAck;
        let channel_id = self.channel_id();
        // The new commitment and its signatures are in the snapshot persisted before this
        // message leaves: only then is the old commitment's secret released.
        self.send(RevokeAndAck {
            channel_id,
            per_commitment_secret: secret,
            next_per_commitment_point: next_point,
            extra_tlvs: TlvStream::new(),
        });
        Ok(())
    }

    pub(super) fn on_revoke_and_ack(&mut self, m: &RevokeAndAck) -> Result<(), ChannelError> {
        if !self.can_update() {
            return Err(self.unexpected("revoke_and_ack"));
        }
        let c = self.commitments()?;
        if c.remote_waiting.is_none() {
            return Err(self.unexpected("revoke_and_ack"));
        }
        let revoked = c.remote.number;
        let bad = |reason: String| ChannelError::BadRevocation {
            commitment_number: revoked,
            reason,
        };
        let point: PublicKey =
            per_commitment_point(&m.per_commitment_secret).map_err(|e| bad(e.to_string()))?;
        if point != c.remote.point {
            return Err(bad("secret does not match the commitment point".into()));
        }
        let index = index_for_commitment(revoked)?;
        let c = self.commitments_mut();
        c.revocations
            .insert(index, m.per_commitment_secret)
            .map_err(|e| bad(e.to_string()))?;
        let next = c.remote_waiting.take().expect("checked above");
        let old = std::mem::replace(&mut c.remote, next);
        c.remote_next_point = Some(m.next_per_commitment_point);
        let signed = std::mem::take(&mut c.local_changes.signed);
        c.local_changes.acked.extend(signed);
        let settled = std::mem::take(&mut c.remote_changes.signed);
        // The owner turns this into a watchtower upload, written with this very state.
        self.event(Event::PeerRevoked {
            number: old.number,
            spec: old.spec,
            point: old.point,
        });
        for u in settled {
            match u {
                Update::Add(htlc) => {
                    let c = self.commitments_mut();
                    c.received_onions.insert(htlc.id, Onion(htlc.onion.clone()));
                    if let Some(i) = c.dust_rejects.iter().position(|id| *id == htlc.id) {
                        c.dust_rejects.remove(i);
                        self.event(Event::HtlcMustFail {
                            htlc,
                            reason: "dust exposure above our cap".into(),
                        });
                    } else {
                        self.event(Event::HtlcReceived { htlc });
                    }
                }
                Update::Fail { id, reason } => self.event(Event::HtlcFailed {
                    id,
                    reason,
                    malformed: None,
                }),
                Update::FailMalformed {
                    id,
                    sha256_of_onion,
                    failure_code,
                } => self.event(Event::HtlcFailed {
                    id,
                    reason: Vec::new(),
                    malformed: Some(MalformedFailure {
                        failure_code,
                        sha256_of_onion,
                    }),
                }),
                Update::Fulfill { .. } | Update::Fee { .. } => {}
            }
        }
        Ok(())
    }
}

fn c_id(step: &Step<'_>) -> u64 {
    step.s
        .commitments
        .as_ref()
        .map(|c| c.local_next_htlc_id - 1)
        .unwrap_or(0)
}
