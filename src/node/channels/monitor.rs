//! On-chain resolution of closed channels (BOLT 5), driven by blocks.
//!
//! Stateless by design: on every block, for each channel whose funding spend confirmed and
//! that is not yet resolved, the claims are worked out again from the persisted channel state
//! and the spend (`crate::onchain`), and every claim whose output is still unspent and whose
//! timelock allows it is (re-)broadcast. A restart or a reorg therefore needs nothing special:
//! the next block recomputes the same claims. A channel is resolved once every output we can
//! claim is spent deep enough.
//!
//! ```text
//!  revoked commitment  -> one justice transaction: to_local and every HTLC output, at once
//!  our commitment      -> to_local after to_self_delay, HTLC-timeout after cltv_expiry,
//!                         HTLC-success with a known preimage, then their outputs after the delay
//!  their commitment    -> to_remote, their HTLCs to us with the preimage, ours after timeout
//! ```
//!
//! Not yet: CPFP through our anchor and fee inputs for zero-fee HTLC transactions (anchors
//! channels), fee bumping as deadlines near, the cheater's second-stage outputs, settling an
//! upstream HTLC with a preimage learned on chain, a persisted resolution summary.

use std::collections::HashSet;

use bitcoin::{Transaction, Txid};

use super::actor::Actor;
use crate::bolt3::spend::Destination;
use crate::chain::ChainError;
use crate::onchain::{
    claims, classify, justice_tx, known_htlcs, revoked_claims, Claim, ClaimKind, KnownHtlc, Spend,
};
use crate::store::{channels as q, payments as pq};

/// Confirmations after which a claim's spend is final for us.
pub const RESOLVED_DEPTH: u32 = 6;
/// Virtual size we pay for: a one-input, one-output P2WSH spend, and what each further input
/// of a justice transaction adds.
const SPEND_VBYTES: u64 = 160;
const JUSTICE_INPUT_VBYTES: u64 = 110;

/// The channels whose on-chain resolution is complete.
#[derive(Default)]
pub(super) struct Resolved(HashSet<u32>);

impl Actor {
    pub(super) async fn monitor(&mut self, height: u32) {
        let targets: Vec<u32> = self
            .entries
            .values()
            .filter(|e| e.channel.state().funding_spend.is_some())
            .filter(|e| !self.resolved.0.contains(&e.key_index))
            .map(|e| e.key_index)
            .collect();
        for idx in targets {
            if let Err(e) = self.monitor_one(idx, height).await {
                tracing::warn!(channel = idx, error = %e, "on-chain resolution step failed");
            }
        }
    }

    async fn monitor_one(&mut self, idx: u32, height: u32) -> Result<(), MonitorError> {
        let entry = &self.entries[&idx];
        let state = entry.channel.state().clone();
        let keys = entry.channel.key_material().clone();
        let Some(spend_tx) = state.funding_spend.clone() else {
            return Ok(());
        };
        let spend = classify(&state, &keys, &spend_tx);
        if matches!(spend, Spend::Mutual | Spend::Unknown) {
            if spend == Spend::Unknown {
                tracing::error!(channel = idx, txid = %spend_tx.compute_txid(),
                    "the funding output was spent by a transaction we do not recognise");
            }
            self.resolved.0.insert(idx);
            return Ok(());
        }
        let Some(confirmed_at) = self.confirmed_height(&spend_tx.compute_txid()).await? else {
            return Ok(()); // reorged out: the chain watch puts it back
        };
        let list =
            match &spend {
                // The revoked commitment may hold HTLCs settled since: the archive knows them all.
                Spend::RemoteRevoked {
                    number,
                    per_commitment_secret,
                } => {
                    let mut htlcs = known_htlcs(&state);
                    let archived = self
                        .cfg
                        .store
                        .call(move |c| q::archived_htlcs(c, idx))
                        .await
                        .map_err(|e| MonitorError::Other(e.to_string()))?;
                    htlcs.extend(archived.into_iter().map(|(payment_hash, cltv_expiry)| {
                        KnownHtlc {
                            payment_hash,
                            cltv_expiry,
                        }
                    }));
                    htlcs.sort_by_key(|h| (h.payment_hash, h.cltv_expiry));
                    htlcs.dedup();
                    revoked_claims(
                        &state,
                        &keys,
                        &spend_tx,
                        *number,
                        per_commitment_secret,
                        &htlcs,
                    )
                }
                // Only HTLC-success claims need preimages, and only these spends have them.
                _ => {
                    let preimages = self
                        .cfg
                        .store
                        .call(pq::known_preimages)
                        .await
                        .map_err(|e| MonitorError::Other(e.to_string()))?;
                    claims(&state, &keys, &spend, &spend_tx, &preimages)
                }
            }
            .map_err(|e| MonitorError::Other(e.to_string()))?;
        let per_vb = self
            .cfg
            .wallet
            .fee_rate(None)
            .await
            .map(|r| r.sat_per_vb().ceil() as u64)
            .unwrap_or(2)
            .max(1);
        let dest = |vbytes: u64| Destination {
            script_pubkey: state.setup.shutdown_script.clone(),
            fee_sat: vbytes * per_vb,
        };
        let mut open = 0usize;

        let (justice, others): (Vec<Claim>, Vec<Claim>) =
            list.into_iter().partition(|c| c.kind.is_justice());
        let mut unspent_justice = Vec::new();
        for c in justice {
            if self.cfg.chain.utxo(&c.outpoint).await?.is_some() {
                unspent_justice.push(c);
            }
        }
        if !unspent_justice.is_empty() {
            open += unspent_justice.len();
            let vbytes = SPEND_VBYTES + JUSTICE_INPUT_VBYTES * (unspent_justice.len() as u64 - 1);
            match justice_tx(&unspent_justice, &dest(vbytes)) {
                Ok(tx) => self.claim_broadcast(idx, "justice", &tx).await,
                Err(e) => {
                    tracing::error!(channel = idx, error = %e, "cannot build the justice transaction")
                }
            }
        }

        let mut work = others;
        while let Some(c) = work.pop() {
            if self.cfg.chain.utxo(&c.outpoint).await?.is_none() {
                // Spent: by our HTLC transaction (then its output is ours after the delay), or
                // settled otherwise; either way confirmed deep enough ends it.
                if let Some(second) = self.confirmed_second_stage(&c).await? {
                    work.push(second);
                }
                continue;
            }
            open += 1;
            let at = match self.confirmed_height(&c.outpoint.txid).await? {
                Some(h) => h,
                None => continue,
            };
            if height + 1 < c.earliest_block(at.max(confirmed_at)) {
                continue;
            }
            match c.spend(&dest(SPEND_VBYTES)) {
                Ok(tx) => self.claim_broadcast(idx, kind_name(&c.kind), &tx).await,
                Err(e) => tracing::warn!(channel = idx, kind = kind_name(&c.kind), error = %e,
                    "claim not built"),
            }
        }
        if open == 0 && height >= confirmed_at + RESOLVED_DEPTH {
            tracing::info!(channel = idx, ?spend, "on-chain resolution complete");
            self.resolved.0.insert(idx);
        }
        Ok(())
    }

    /// For a claim whose output is spent: if our own second-stage HTLC transaction spent it
    /// and confirmed, the claim on that transaction's output.
    async fn confirmed_second_stage(&self, c: &Claim) -> Result<Option<Claim>, MonitorError> {
        if !matches!(
            c.kind,
            ClaimKind::HtlcTimeout { .. } | ClaimKind::HtlcSuccess { .. }
        ) {
            return Ok(None);
        }
        // Our HTLC transactions do not depend on the destination: their txid is known.
        let Ok(ours) = c.spend(&Destination {
            script_pubkey: bitcoin::ScriptBuf::new(),
            fee_sat: 0,
        }) else {
            return Ok(None);
        };
        let Some(info) = self.cfg.chain.transaction(&ours.compute_txid()).await? else {
            return Ok(None);
        };
        if info.confirmations == 0 {
            return Ok(None);
        }
        Ok(c.second_stage(&info.tx))
    }

    async fn confirmed_height(&self, txid: &Txid) -> Result<Option<u32>, MonitorError> {
        Ok(self
            .cfg
            .chain
            .transaction(txid)
            .await?
            .and_then(|i| i.block)
            .map(|b| b.height))
    }

    async fn claim_broadcast(&mut self, idx: u32, what: &str, tx: &Transaction) {
        let txid = tx.compute_txid();
        match self.cfg.chain.broadcast(tx).await {
            Ok(_) => tracing::info!(channel = idx, %txid, what, "claim broadcast"),
            // Already in the mempool or a block, or a conflict with a claim of the same output
            // that is: fine, the next block looks again.
            Err(e) => tracing::debug!(channel = idx, %txid, what, error = %e, "claim not accepted"),
        }
    }
}

fn kind_name(k: &ClaimKind) -> &'static str {
    match k {
        ClaimKind::LocalDelayed => "to_local",
        ClaimKind::ToRemote => "to_remote",
        ClaimKind::HtlcTimeout { .. } => "htlc_timeout",
        ClaimKind::HtlcSuccess { .. } => "htlc_success",
        ClaimKind::SecondStage => "htlc_second_stage",
        ClaimKind::RemoteHtlcTimeout { .. } => "their_htlc_timeout",
        ClaimKind::RemoteHtlcPreimage { .. } => "their_htlc_preimage",
        ClaimKind::RevokedToLocal | ClaimKind::RevokedHtlc { .. } => "justice",
        ClaimKind::RevokedSecondStage => "justice_second_stage",
        #[allow(unreachable_patterns)]
        _ => "claim",
    }
}

#[derive(Debug, thiserror::Error)]
pub(super) enum MonitorError {
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error("{0}")]
    Other(String),
}
