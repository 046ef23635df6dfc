//! On-chain resolution of closed channels (BOLT 5), driven by blocks.
//!
//! Stateless by design: on every block, for each channel whose funding spend confirmed and
//! that has no [`Resolution`] yet, the claims are worked out again from the persisted channel
//! state and the spend (`crate::onchain`), every output is looked up on the chain, and every
//! claim whose output is still unspent and whose timelock allows it is (re-)broadcast. A
//! restart or a reorg therefore needs nothing special: the next block recomputes the same
//! claims. The only memory is a cache of where outputs were spent (checked again each time).
//!
//! ```text
//!  revoked commitment  -> one justice transaction: to_local and every HTLC output, at once;
//!                         the outputs of the cheater's HTLC transactions join it
//!  our commitment      -> to_local after to_self_delay, HTLC-timeout after cltv_expiry,
//!                         HTLC-success with a known preimage, then their outputs after the delay
//!  their commitment    -> to_remote, their HTLCs to us with the preimage, ours after timeout
//!  any spend of an HTLC we offered that shows its preimage -> settle upstream (`upstream`),
//!                         a spend still in the mempool too (`mempool`: replacement cycling)
//!  everything spent `resolution_depth` deep -> Input::Resolved with the summary (`summary`)
//! ```
//!
//! Fees (`fees`): the chain's estimate, doubled as a claim's deadline nears; anchors HTLC
//! transactions take a wallet coin, and our commitment a CPFP child when it pays too little.

mod fees;
mod mempool;
mod outputs;
mod summary;
mod upstream;

use std::collections::{HashMap, VecDeque};

use bitcoin::{Transaction, Txid};

use super::actor::Actor;
use crate::chain::ChainError;
use crate::channel::{ChannelState, Input, KeyMaterial};
use crate::onchain::{
    claims, claims_for_second_stage, classify, known_htlcs, preimages_in, revoked_claims, Claim,
    ClaimKind, KnownHtlc, Spend,
};
use crate::store::{channels as q, payments as pq};

pub(super) use fees::Broadcasts;
use mempool::{spending_tx, OfferedOutput};
pub(super) use mempool::{MempoolWatch, ScanFlags, SCAN_EVERY};
use outputs::OutputState;
pub(super) use outputs::Spenders;

/// Confirmations after which a spend is final for us, unless the config says otherwise.
pub const DEFAULT_RESOLUTION_DEPTH: u32 = 6;

/// One output we watched this round, for the upstream decisions and the summary.
pub(super) struct Watched {
    pub claim: Claim,
    /// The confirmed transaction that spent it, and its height.
    pub spent: Option<(Transaction, u32)>,
    /// Spent by a transaction of ours.
    pub ours: bool,
}

/// What one round over a channel found.
#[derive(Default)]
pub(super) struct Round {
    pub watched: Vec<Watched>,
    /// Outputs still to be spent (by us, or waiting for a spend in the mempool to confirm).
    pub open: usize,
    /// Preimages of HTLCs seen in spends on chain.
    pub learned: HashMap<[u8; 32], [u8; 32]>,
    /// Our anchor, when our CPFP child spent it: (outpoint, value, the child, its height).
    pub anchor: Option<(bitcoin::OutPoint, u64, Transaction, u32)>,
}

impl Actor {
    pub(super) async fn monitor(&mut self, height: u32) {
        let targets: Vec<u32> = self
            .entries
            .values()
            .filter(|e| {
                let s = e.channel.state();
                s.funding_spend.is_some() && s.resolution.is_none()
            })
            .map(|e| e.key_index)
            .collect();
        for idx in targets {
            if let Err(e) = self.monitor_one(idx, height).await {
                tracing::warn!(channel = idx, error = %e, "on-chain resolution step failed");
            }
        }
        self.drain_router().await;
    }

    async fn monitor_one(&mut self, idx: u32, height: u32) -> Result<(), MonitorError> {
        let entry = &self.entries[&idx];
        let state = entry.channel.state().clone();
        let keys = entry.channel.key_material().clone();
        let Some(spend_tx) = state.funding_spend.clone() else {
            return Ok(());
        };
        let spend_txid = spend_tx.compute_txid();
        let Some(confirmed_at) = self.confirmed_height(&spend_txid).await? else {
            self.mempool_watch.forget_channel(idx);
            return self.spend_unconfirmed(idx, &state, &spend_tx).await;
        };
        let depth = self.cfg.resolution_depth.max(1);
        let deep = |at: u32| height + 1 >= at + depth;
        let spend = classify(&state, &keys, &spend_tx);
        if spend == Spend::Unknown {
            tracing::error!(channel = idx, txid = %spend_txid,
                "the funding output was spent by a transaction we do not recognise");
        }
        let list = self
            .claims_of(idx, &state, &keys, &spend, &spend_tx)
            .await?;
        let round = self
            .work_claims(idx, height, &state, &keys, &spend, confirmed_at, list)
            .await?;
        self.mempool_watch
            .set_channel(idx, offered_outputs_open(idx, &state, &round));
        let upstream_done = self
            .settle_upstream(idx, &state, &round, deep, deep(confirmed_at))
            .await;
        let settled = round.open == 0
            && deep(confirmed_at)
            && upstream_done
            && round
                .watched
                .iter()
                .all(|w| w.spent.as_ref().is_some_and(|(_, at)| deep(*at)))
            && round
                .anchor
                .as_ref()
                .map_or(true, |(_, _, _, at)| deep(*at))
            && self.unclaimable_htlcs_expired(&state, &spend, height, depth);
        if settled {
            let resolution = self
                .summarize(&state, &spend, &spend_tx, &round, height)
                .await?;
            tracing::info!(channel = idx, spend = %resolution.spend,
                received_sat = resolution.received_sat, fees_sat = resolution.fees_sat,
                "on-chain resolution complete");
            self.input(idx, Input::Resolved { resolution }).await;
            let done: Vec<bitcoin::OutPoint> =
                round.watched.iter().map(|w| w.claim.outpoint).collect();
            self.spenders.forget(&done);
            self.broadcasts.forget(&done, spend_txid);
            self.mempool_watch.forget_channel(idx);
        }
        Ok(())
    }

    /// Every claim on the spend. A revoked commitment may hold HTLCs settled since: the
    /// archive knows them all. Only HTLC-success claims need preimages.
    async fn claims_of(
        &self,
        idx: u32,
        state: &ChannelState,
        keys: &KeyMaterial,
        spend: &Spend,
        spend_tx: &Transaction,
    ) -> Result<Vec<Claim>, MonitorError> {
        let other = |e: crate::onchain::OnchainError| MonitorError::Other(e.to_string());
        match spend {
            Spend::Mutual | Spend::Unknown => Ok(Vec::new()),
            Spend::RemoteRevoked {
                number,
                per_commitment_secret,
            } => {
                let mut htlcs = known_htlcs(state);
                let archived = self
                    .cfg
                    .store
                    .call(move |c| q::archived_htlcs(c, idx))
                    .await
                    .map_err(|e| MonitorError::Other(e.to_string()))?;
                htlcs.extend(
                    archived
                        .into_iter()
                        .map(|(payment_hash, cltv_expiry)| KnownHtlc {
                            payment_hash,
                            cltv_expiry,
                        }),
                );
                htlcs.sort_by_key(|h| (h.payment_hash, h.cltv_expiry));
                htlcs.dedup();
                revoked_claims(
                    state,
                    keys,
                    spend_tx,
                    *number,
                    per_commitment_secret,
                    &htlcs,
                )
                .map_err(other)
            }
            _ => {
                let channel_id = state.channel_id;
                let received = received_htlcs(state);
                let preimages = self
                    .cfg
                    .store
                    .call(move |c| pq::preimages_for(c, &channel_id, &received))
                    .await
                    .map_err(|e| MonitorError::Other(e.to_string()))?;
                claims(state, keys, spend, spend_tx, &preimages).map_err(other)
            }
        }
    }

    /// Looks up every claim's output, follows spends to their second stage, learns preimages
    /// from the peer's spends, and broadcasts what is ours to take.
    #[allow(clippy::too_many_arguments)]
    async fn work_claims(
        &mut self,
        idx: u32,
        height: u32,
        state: &ChannelState,
        keys: &KeyMaterial,
        spend: &Spend,
        confirmed_at: u32,
        list: Vec<Claim>,
    ) -> Result<Round, MonitorError> {
        let hashes = offered_hashes(state);
        let mut round = Round::default();
        let mut justice = Vec::new();
        let mut work: VecDeque<Claim> = list.into();
        while let Some(c) = work.pop_front() {
            match self.output_state(&c.outpoint, confirmed_at).await? {
                OutputState::Unspent => {
                    round.open += 1;
                    if c.kind.is_justice() {
                        justice.push(c.clone());
                    } else {
                        self.try_claim(idx, height, confirmed_at, state, &c).await?;
                    }
                    round.watched.push(Watched {
                        claim: c,
                        spent: None,
                        ours: false,
                    });
                }
                OutputState::SpentInMempool => {
                    round.open += 1;
                    if c.kind.is_offered_htlc() {
                        // A peer's spend showing the preimage may be replaced away before any
                        // block holds it (replacement cycling): learn it now.
                        if let Some(tx) = spending_tx(self.cfg.chain.as_ref(), &c.outpoint).await? {
                            for (hash, preimage) in preimages_in(&tx, &hashes) {
                                tracing::info!(channel = idx, outpoint = %c.outpoint,
                                    "preimage seen in the mempool");
                                round.learned.insert(hash, preimage);
                            }
                        }
                    }
                    // Our version waiting in the mempool is bumped as its deadline nears (a
                    // justice transaction also tries to replace a cheater's waiting spend).
                    if c.kind.is_justice() {
                        justice.push(c.clone());
                    } else if self.broadcasts.sent_for(&c.outpoint) {
                        self.try_claim(idx, height, confirmed_at, state, &c).await?;
                    }
                    round.watched.push(Watched {
                        claim: c,
                        spent: None,
                        ours: false,
                    });
                }
                OutputState::Spent { tx, height: at } => {
                    for (hash, preimage) in preimages_in(&tx, &hashes) {
                        round.learned.insert(hash, preimage);
                    }
                    let second = c.second_stage(&tx);
                    let ours = second.is_some() || pays(&tx, &state.setup.shutdown_script);
                    if let Some(next) = second {
                        work.push_back(next);
                    }
                    if let (
                        false,
                        ClaimKind::RevokedHtlc { .. },
                        Spend::RemoteRevoked { number, .. },
                    ) = (ours, c.kind, spend)
                    {
                        // The cheater's HTLC transaction won the race: its output is still
                        // revocable, and joins the justice transaction.
                        match claims_for_second_stage(state, keys, *number, &tx) {
                            Ok(more) => work.extend(more),
                            Err(e) => tracing::error!(channel = idx, error = %e,
                                "cannot claim the cheater's HTLC transaction"),
                        }
                    }
                    round.watched.push(Watched {
                        claim: c,
                        spent: Some((tx, at)),
                        ours,
                    });
                }
            }
        }
        if let Spend::Local { .. } = spend {
            round.anchor = self.our_anchor_spend(state, keys, confirmed_at).await?;
        }
        if !justice.is_empty() {
            let spend_txid = state
                .funding_spend
                .as_ref()
                .map(|t| t.compute_txid())
                .unwrap_or(justice[0].outpoint.txid);
            self.broadcast_justice(idx, height, confirmed_at, spend_txid, state, &justice)
                .await?;
        }
        Ok(round)
    }

    /// Our anchor on our commitment, if a CPFP child of ours spent it (its cost belongs to the
    /// resolution).
    async fn our_anchor_spend(
        &mut self,
        state: &ChannelState,
        keys: &KeyMaterial,
        confirmed_at: u32,
    ) -> Result<Option<(bitcoin::OutPoint, u64, Transaction, u32)>, MonitorError> {
        let Some(spend_tx) = &state.funding_spend else {
            return Ok(None);
        };
        let Ok(Some(anchor)) = crate::onchain::our_anchor(keys, spend_tx) else {
            return Ok(None);
        };
        Ok(
            match self.output_state(&anchor.outpoint, confirmed_at).await? {
                OutputState::Spent { tx, height } if pays(&tx, &state.setup.shutdown_script) => {
                    Some((anchor.outpoint, anchor.value_sat, tx, height))
                }
                _ => None,
            },
        )
    }

    /// Broadcasts the spend of an unspent claim once its timelocks allow (a mempool takes it
    /// one block before it can be mined).
    async fn try_claim(
        &mut self,
        idx: u32,
        height: u32,
        confirmed_at: u32,
        state: &ChannelState,
        c: &Claim,
    ) -> Result<(), MonitorError> {
        let Some(parent_at) = self.confirmed_height(&c.outpoint.txid).await? else {
            return Ok(());
        };
        if height + 1 < c.earliest_block(parent_at.max(confirmed_at)) {
            return Ok(());
        }
        self.broadcast_claim(idx, height, confirmed_at, state, c)
            .await
    }

    /// The recorded funding spend is not (or no longer) confirmed: a reorg. Another spend may
    /// have taken its place (the channel starts over with it); otherwise ours goes back out.
    async fn spend_unconfirmed(
        &mut self,
        idx: u32,
        state: &ChannelState,
        spend_tx: &Transaction,
    ) -> Result<(), MonitorError> {
        let Some(funding) = state.setup.funding_outpoint else {
            return Ok(());
        };
        let funding_block = self
            .cfg
            .chain
            .transaction(&funding.txid)
            .await?
            .and_then(|i| i.block);
        let txid = spend_tx.compute_txid();
        if let Some(other) = self.find_spend(&funding, funding_block).await? {
            if other.compute_txid() != txid {
                tracing::warn!(channel = idx, was = %txid, now = %other.compute_txid(),
                    "a reorg replaced the funding spend");
                self.input(idx, Input::FundingSpent { tx: other }).await;
            }
            return Ok(());
        }
        if !self.chain_has(&txid).await? {
            tracing::warn!(channel = idx, %txid, "the funding spend left the chain; broadcasting it again");
            self.claim_broadcast(idx, "funding_spend", spend_tx).await;
        }
        Ok(())
    }

    /// Between blocks: the watched HTLC outputs in the mempool (see `mempool`). A preimage
    /// there settles upstream; an output nothing spends gets our last claim on it again.
    pub(super) async fn scan_mempool(&mut self) {
        let chain = self.cfg.chain.clone();
        let scan = self.mempool_watch.scan(chain.as_ref()).await;
        self.note_unseen_fundings().await;
        for l in scan.learnt {
            let OfferedOutput { idx, htlc_id, .. } = l.htlc;
            tracing::info!(
                channel = idx,
                htlc = htlc_id,
                "preimage learnt in the mempool"
            );
            if let Err(e) = self.on_fulfilled(idx, htlc_id, l.preimage).await {
                tracing::warn!(channel = idx, htlc = htlc_id, error = %e, "upstream not settled yet");
            }
        }
        for (idx, outpoint) in scan.unspent {
            if let Some(tx) = self.broadcasts.sent_tx(&outpoint) {
                self.claim_broadcast(idx, "htlc_timeout", &tx).await;
            }
        }
        self.drain_router().await;
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

    /// `true` when the transaction is in the mempool (or a block) now: sent, or already there.
    async fn claim_broadcast(&mut self, idx: u32, what: &str, tx: &Transaction) -> bool {
        let txid = tx.compute_txid();
        match self.cfg.chain.broadcast(tx).await {
            Ok(_) => {
                tracing::info!(channel = idx, %txid, what, "claim broadcast");
                true
            }
            // Already there, or a conflict with a version of the claim in the mempool, or
            // not valid yet: the next block looks again.
            Err(e) => {
                tracing::debug!(channel = idx, %txid, what, error = %e, "claim not accepted");
                self.chain_has(&txid).await.unwrap_or(false)
            }
        }
    }

    /// HTLCs offered to us on the peer's or our commitment that we cannot claim (no preimage)
    /// stay the peer's to take back after their expiry; a preimage may still arrive until
    /// then (from downstream), so the channel is watched until every one has expired deep.
    fn unclaimable_htlcs_expired(
        &self,
        state: &ChannelState,
        spend: &Spend,
        height: u32,
        depth: u32,
    ) -> bool {
        if !matches!(spend, Spend::Local { .. } | Spend::RemoteCurrent { .. }) {
            return true;
        }
        let latest = state
            .commitments
            .iter()
            .flat_map(|c| [&c.local.spec, &c.remote.spec])
            .flat_map(|s| s.htlcs.iter())
            .filter(|h| h.origin == crate::channel::Origin::Remote)
            .map(|h| h.add.cltv_expiry)
            .max();
        latest.map_or(true, |e| height >= e + depth)
    }
}

/// Whether `tx` pays `script` (our wallet script of the channel: the mark of our claims).
fn pays(tx: &Transaction, script: &bitcoin::Script) -> bool {
    tx.output
        .iter()
        .any(|o| o.script_pubkey.as_script() == script)
}

/// The HTLCs the peer offered on the channel (id, payment hash), whose preimages we may know.
fn received_htlcs(state: &ChannelState) -> Vec<(u64, [u8; 32])> {
    let mut out: Vec<(u64, [u8; 32])> = state
        .commitments
        .iter()
        .flat_map(|c| {
            [Some(&c.local.spec), Some(&c.remote.spec)]
                .into_iter()
                .chain([c.remote_waiting.as_ref().map(|w| &w.spec)])
                .flatten()
        })
        .flat_map(|s| s.htlcs.iter())
        .filter(|h| h.origin == crate::channel::Origin::Remote)
        .map(|h| (h.add.id, h.add.payment_hash))
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// The outputs of HTLCs we offered that no confirmed transaction spends yet: a spend in the
/// mempool may show a preimage.
fn offered_outputs_open(
    idx: u32,
    state: &ChannelState,
    round: &Round,
) -> Vec<(bitcoin::OutPoint, OfferedOutput)> {
    let offered = upstream::offered_htlcs(state);
    round
        .watched
        .iter()
        .filter(|w| w.spent.is_none())
        .filter_map(|w| {
            let h = offered
                .iter()
                .find(|h| upstream::is_output_of(&w.claim, h))?;
            let htlc = OfferedOutput {
                idx,
                htlc_id: h.id,
                payment_hash: h.payment_hash,
            };
            Some((w.claim.outpoint, htlc))
        })
        .collect()
}

/// Payment hashes of the HTLCs we offered on the channel, whose preimage a peer's spend may
/// reveal.
fn offered_hashes(state: &ChannelState) -> Vec<[u8; 32]> {
    let mut out: Vec<[u8; 32]> = upstream::offered_htlcs(state)
        .iter()
        .map(|h| h.payment_hash)
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

pub(super) fn kind_name(k: &ClaimKind) -> &'static str {
    match k {
        ClaimKind::LocalDelayed => "to_local",
        ClaimKind::ToRemote => "to_remote",
        ClaimKind::HtlcTimeout { .. } => "htlc_timeout",
        ClaimKind::HtlcSuccess { .. } => "htlc_success",
        ClaimKind::SecondStage => "htlc_second_stage",
        ClaimKind::RemoteHtlcTimeout { .. } => "their_htlc_timeout",
        ClaimKind::RemoteHtlcPreimage { .. } => "their_htlc_preimage",
        ClaimKind::RevokedToLocal => "justice_to_local",
        ClaimKind::RevokedHtlc { .. } => "justice_htlc",
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
