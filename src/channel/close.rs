//! Cooperative close (BOLT 2 "Channel Close"):
//!
//! ```text
//!  local --shutdown-->          remote    (no new HTLCs from here on)
//!  local <--shutdown---         remote
//!  ... the HTLCs in flight settle ...
//!  opener --closing_signed{fee, fee_range}--> other
//!  other  --closing_signed{same fee}-------> opener     (or a counter-offer in both ranges)
//!  Broadcast(closing tx) on both sides; Closed once it confirms.
//! ```
//!
//! Both sides announce a `fee_range`; an offer inside the receiver's range is accepted as is,
//! otherwise the receiver answers with a fee inside both ranges, which the other accepts: two
//! rounds at most.

use bitcoin::secp256k1::ecdsa::Signature;
use bitcoin::{Script, ScriptBuf, WitnessVersion};

use crate::bolt3::{build_closing_tx, ClosingDescription, ClosingTx};
use crate::wire::{ClosingSigned, FeeRange, Shutdown, TlvStream};

use super::changes::Origin;
use super::error::ChannelError;
use super::events::Event;
use super::state::{Link, Phase};
use super::Step;

/// Witness of a 2-of-2 funding spend: item count, empty item, two signatures, the script;
/// plus the segwit marker and flag.
const CLOSING_WITNESS_WEIGHT: u64 = 1 + 1 + 2 * (1 + 73) + 1 + 71 + 2;

/// The `scriptpubkey` forms BOLT 2 lets a `shutdown` (and `upfront_shutdown_script`) carry:
/// P2WPKH, P2WSH, and with `option_shutdown_anysegwit` a witness program of version 1 to 16
/// and 2 to 40 bytes. A v0 program of any other length makes a closing transaction no node
/// relays. No `OP_RETURN`: that form comes with `option_simple_close`, which we do not
/// negotiate. `legacy` admits P2PKH and P2SH, which BOLT 2 no longer lets a sender use but
/// lets a receiver accept from older peers: we take them from the peer, never send them.
pub(crate) fn shutdown_script_ok(s: &Script, anysegwit: bool, legacy: bool) -> bool {
    if s.is_p2wpkh() || s.is_p2wsh() {
        return true;
    }
    if legacy && (s.is_p2pkh() || s.is_p2sh()) {
        return true;
    }
    // `is_witness_program`: a version opcode then one push of 2 to 40 bytes, nothing else.
    anysegwit
        && s.is_witness_program()
        && s.witness_version().is_some_and(|v| v != WitnessVersion::V0)
}

impl Step<'_> {
    pub(super) fn close(&mut self, script: Option<ScriptBuf>) -> Result<(), ChannelError> {
        if !matches!(self.s.phase, Phase::Normal | Phase::ShuttingDown) {
            return Err(self.not_now("close"));
        }
        if self.s.close.local_script.is_some() {
            return Err(self.not_now("close twice"));
        }
        let script = script.unwrap_or_else(|| self.s.setup.shutdown_script.clone());
        if !shutdown_script_ok(&script, self.s.close.peer_anysegwit, false) {
            return Err(ChannelError::Closing(format!(
                "our shutdown script {} is not one BOLT 2 lets us send{}",
                script.to_hex_string(),
                if self.s.close.peer_anysegwit {
                    ""
                } else {
                    " (the peer does not support option_shutdown_anysegwit)"
                }
            )));
        }
        self.s.close.local_script = Some(script);
        if self.s.phase == Phase::Normal {
            self.s.phase = Phase::ShuttingDown;
            self.event(Event::ShuttingDown);
        }
        Ok(())
    }

    pub(super) fn on_shutdown(&mut self, m: &Shutdown) -> Result<(), ChannelError> {
        if !matches!(
            self.s.phase,
            Phase::Normal | Phase::ShuttingDown | Phase::Negotiating
        ) {
            return Err(self.unexpected("shutdown"));
        }
        // A warning, not an error: the channel stays open (and closable by us on chain).
        if !shutdown_script_ok(&m.scriptpubkey, self.s.close.peer_anysegwit, true) {
            return Err(ChannelError::BadShutdownScript(
                m.scriptpubkey.to_hex_string(),
            ));
        }
        // BOLT 2: a close script the peer committed to at opening binds its `shutdown`.
        if let Some(upfront) = &self.s.setup.remote_upfront_script {
            if *upfront != m.scriptpubkey {
                return Err(ChannelError::Closing(
                    "shutdown script differs from the upfront_shutdown_script".into(),
                ));
            }
        }
        match &self.s.close.remote_script {
            Some(s) if *s != m.scriptpubkey => {
                return Err(ChannelError::Closing("shutdown script changed".into()))
            }
            Some(_) => return Ok(()),
            None => {}
        }
        // Their unsigned updates stay: they are covered by their next commitment_signed.
        self.s.close.remote_script = Some(m.scriptpubkey.clone());
        if self.s.close.local_script.is_none() {
            self.s.close.local_script = Some(self.s.setup.shutdown_script.clone());
        }
        if self.s.phase == Phase::Normal {
            self.s.phase = Phase::ShuttingDown;
            self.event(Event::ShuttingDown);
        }
        Ok(())
    }

    /// What follows from any transition: sign what is pending, send our `shutdown` once our
    /// updates are all signed, and start fee negotiation once no HTLC is left.
    pub(super) fn progress(&mut self) -> Result<(), ChannelError> {
        // Nothing is signed or negotiated on a state we must not act on.
        if self.s.is_passive() {
            return Ok(());
        }
        if !self.defer_signing {
            self.maybe_sign()?;
        }
        if self.s.link != Link::Connected {
            return Ok(());
        }
        let Some(c) = &self.s.commitments else {
            return Ok(());
        };
        if let (Some(script), false) = (&self.s.close.local_script, self.s.close.shutdown_sent) {
            if c.local_changes.proposed.is_empty() {
                let msg = Shutdown {
                    channel_id: self.channel_id(),
                    scriptpubkey: script.clone(),
                    extra_tlvs: TlvStream::new(),
                };
                self.s.close.shutdown_sent = true;
                self.send(msg);
            }
        }
        let c = self.commitments()?;
        let our_balance_sat = c.local.spec.local_msat / 1000;
        let quiet = c.local.spec.htlcs.is_empty()
            && c.remote.spec.htlcs.is_empty()
            && c.remote_waiting.is_none()
            && c.local_changes.all().next().is_none()
            && c.remote_changes.all().next().is_none();
        if self.s.phase == Phase::ShuttingDown
            && self.s.close.shutdown_sent
            && self.s.close.remote_script.is_some()
            && quiet
        {
            self.s.phase = Phase::Negotiating;
            let cfg = &self.s.config;
            let (target, cap) = match self.s.close.feerates {
                // The opener pays the close: never more than the owner's cap allows.
                Some((target, cap)) if self.s.setup.opener == Origin::Local => {
                    (target, cap.min(cfg.max_feerate_per_kw))
                }
                _ => (cfg.closing_feerate_per_kw, cfg.max_feerate_per_kw),
            };
            let min_rate = cfg.min_feerate_per_kw;
            let preferred = self.closing_fee(target.clamp(min_rate, cap.max(min_rate)))?;
            let min = self.closing_fee(min_rate)?;
            let mut max = self.closing_fee(cap)?;
            if self.s.setup.opener == Origin::Local {
                max = max.min(our_balance_sat);
            }
            self.s.close.fee_range = Some((min, max.max(min)));
            if self.s.setup.opener == Origin::Local {
                self.offer(preferred.clamp(min, max.max(min)))?;
            }
        }
        Ok(())
    }

    fn description(
        &self,
        fee_sat: u64,
        dust_limit_sat: u64,
    ) -> Result<ClosingDescription, ChannelError> {
        let c = self.commitments()?;
        let remote_keys = self
            .s
            .setup
            .remote_keys
            .ok_or_else(|| ChannelError::Closing("peer keys unknown".into()))?;
        let (Some(local_script), Some(remote_script)) = (
            self.s.close.local_script.clone(),
            self.s.close.remote_script.clone(),
        ) else {
            return Err(ChannelError::Closing("shutdown scripts unknown".into()));
        };
        Ok(ClosingDescription {
            funding_outpoint: self
                .s
                .setup
                .funding_outpoint
                .ok_or_else(|| ChannelError::Closing("no funding".into()))?,
            funding_sat: self.s.setup.funding_sat,
            local_funding_pubkey: self.s.setup.local_keys.funding,
            remote_funding_pubkey: remote_keys.funding,
            local_is_opener: self.s.setup.opener == Origin::Local,
            to_local_msat: c.local.spec.local_msat,
            to_remote_msat: c.local.spec.remote_msat,
            local_script,
            remote_script,
            fee_sat,
            dust_limit_sat,
        })
    }

    fn closing_tx(&self, fee_sat: u64, dust_limit_sat: u64) -> Result<ClosingTx, ChannelError> {
        Ok(build_closing_tx(
            &self.description(fee_sat, dust_limit_sat)?,
        )?)
    }

    /// The fee of the closing transaction at `feerate_per_kw`.
    fn closing_fee(&self, feerate_per_kw: u32) -> Result<u64, ChannelError> {
        let tx = self.closing_tx(0, self.s.setup.local.dust_limit_sat)?;
        let weight = tx.tx.weight().to_wu() + CLOSING_WITNESS_WEIGHT;
        Ok(u64::from(feerate_per_kw) * weight / 1000)
    }

    fn offer(&mut self, fee_sat: u64) -> Result<(), ChannelError> {
        let tx = self.closing_tx(fee_sat, self.s.setup.local.dust_limit_sat)?;
        let sig = tx.sign(&self.keys.signer)?;
        self.s.close.our_offer = Some((fee_sat, sig));
        self.send_closing_signed(fee_sat, sig);
        Ok(())
    }

    fn send_closing_signed(&mut self, fee_sat: u64, sig: Signature) {
        let range = self.s.close.fee_range.map(|(min, max)| FeeRange {
            min_fee_satoshis: min,
            max_fee_satoshis: max,
        });
        let msg = ClosingSigned {
            channel_id: self.channel_id(),
            fee_satoshis: fee_sat,
            signature: sig,
            fee_range: range,
            extra_tlvs: TlvStream::new(),
        };
        self.send(msg);
    }

    pub(super) fn on_closing_signed(&mut self, m: &ClosingSigned) -> Result<(), ChannelError> {
        if self.s.phase != Phase::Negotiating {
            return Err(self.unexpected("closing_signed"));
        }
        let (min, max) = self
            .s
            .close
            .fee_range
            .ok_or_else(|| self.unexpected("closing_signed"))?;
        // The peer may have trimmed with its own dust limit or with ours: accept either.
        let remote_dust = self.s.setup.remote.map(|r| r.dust_limit_sat).unwrap_or(0);
        let mut signed = None;
        for dust in [remote_dust, self.s.setup.local.dust_limit_sat] {
            let Ok(tx) = self.closing_tx(m.fee_satoshis, dust) else {
                continue;
            };
            if tx.verify_remote(&m.signature).is_ok() {
                signed = Some(tx);
                break;
            }
        }
        let tx = signed.ok_or_else(|| ChannelError::Closing("invalid closing signature".into()))?;
        let fee = m.fee_satoshis;
        if let Some((our_fee, our_sig)) = self.s.close.our_offer {
            if our_fee == fee {
                return self.finish(&tx, our_sig, m.signature);
            }
        }
        if (min..=max).contains(&fee) {
            let sig = tx.sign(&self.keys.signer)?;
            self.s.close.our_offer = Some((fee, sig));
            self.send_closing_signed(fee, sig);
            return self.finish(&tx, sig, m.signature);
        }
        // Outside our range: counter with the closest fee inside both ranges.
        let (their_min, their_max) = m
            .fee_range
            .map(|r| (r.min_fee_satoshis, r.max_fee_satoshis))
            .unwrap_or((fee, fee));
        let (lo, hi) = (min.max(their_min), max.min(their_max));
        if lo > hi {
            return Err(ChannelError::Closing(format!(
                "no fee in both ranges: ours [{min}, {max}], theirs [{their_min}, {their_max}]"
            )));
        }
        let counter = fee.clamp(lo, hi);
        if self.s.close.our_offer.is_some_and(|(f, _)| f == counter) {
            return Err(ChannelError::Closing(
                "fee negotiation does not converge".into(),
            ));
        }
        self.offer(counter)
    }

    fn finish(
        &mut self,
        tx: &ClosingTx,
        ours: Signature,
        theirs: Signature,
    ) -> Result<(), ChannelError> {
        let signed = tx.finalize(&ours, &theirs)?;
        let fee_sat = tx.description.fee_sat;
        self.event(Event::ClosingAgreed {
            txid: signed.compute_txid(),
            fee_sat,
        });
        self.out.push(super::Output::Broadcast(signed.clone()));
        self.s.phase = Phase::Closing { tx: signed };
        Ok(())
    }
}
