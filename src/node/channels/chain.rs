//! The chain side of the channel manager: on each new tip, feed funding confirmations and
//! funding spends to the channels, and broadcast again what has not reached the chain.
//!
//! The chain is polled rather than followed block by block: every question ("how deep is the
//! funding?", "is its output spent, and by what?") is asked of the chain as it is now, so a
//! node that was down for a while catches up with the same code.

use std::sync::Arc;
use std::time::Duration;

use bitcoin::{OutPoint, Transaction};
use tokio::sync::{mpsc, watch};

use super::actor::Actor;
use super::{feerate, Request};
use crate::chain::{ChainError, ChainSource};
use crate::channel::{Command, Format, FundingLost, Input, Origin, Phase};
use crate::gossip::announce::{OurChannel, ANNOUNCEMENT_DEPTH};
use crate::node::gossip::OurChannelFacts;
use crate::wire::ShortChannelId;

/// How often the tip is polled.
const POLL_EVERY: Duration = Duration::from_millis(200);
/// How far back a spend of a funding output is searched.
const MAX_SPEND_SCAN: u32 = 2016;

/// Sends [`Request::Block`] at start and whenever the tip changes, and
/// [`Request::MempoolScan`] every [`super::monitor::SCAN_EVERY`] while the monitor watches
/// outputs in the mempool.
pub(super) async fn poll_blocks(
    chain: Arc<dyn ChainSource>,
    tx: mpsc::UnboundedSender<Request>,
    scan: Arc<super::monitor::ScanFlags>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut last = None;
    let mut last_scan = tokio::time::Instant::now();
    loop {
        if last_scan.elapsed() >= super::monitor::SCAN_EVERY {
            last_scan = tokio::time::Instant::now();
            if scan.take_due() && tx.send(Request::MempoolScan).is_err() {
                return;
            }
        }
        match chain.tip().await {
            Ok(tip) if Some(tip) != last => {
                last = Some(tip);
                if tx.send(Request::Block).is_err() {
                    return;
                }
            }
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "chain tip unavailable"),
        }
        tokio::select! {
            _ = crate::net::stopped(&mut shutdown) => return,
            _ = tokio::time::sleep(POLL_EVERY) => {}
        }
    }
}

/// What a channel waits for from the chain.
struct Watch {
    idx: u32,
    outpoint: OutPoint,
    /// Opener before confirmation: the funding transaction to (re)broadcast.
    funding_tx: Option<Transaction>,
    awaiting_ready: bool,
    /// We did not open it: we may give up on its funding (see `opens::FundingWaits`).
    fundee: bool,
    /// `option_zeroconf`: in use before its funding confirms.
    zero_conf: bool,
    /// Opener: the inputs of our funding, watched for a double spend until it confirms.
    own_inputs: Option<Vec<OutPoint>>,
    /// Our agreed mutual close or our commitment, to broadcast again until it confirms.
    closing_tx: Option<Transaction>,
    /// `closing_tx` is our commitment (a force close): it may need a CPFP child.
    forced: bool,
    /// A public channel, ready, whose real scid we have not found yet this run.
    to_announce: bool,
}

impl Actor {
    pub(super) async fn on_block(&mut self) {
        if let Err(e) = self.try_on_block().await {
            // The next tip (or the next poll) tries again.
            tracing::debug!(error = %e, "chain step failed");
        }
        // Held parts never stay within a few blocks of their expiry.
        Box::pin(self.expire_parts()).await;
        Box::pin(self.expire_jit()).await;
        Box::pin(self.fail_due_holds()).await;
        self.reconcile().await;
    }

    async fn try_on_block(&mut self) -> Result<(), ChainError> {
        let height = self.cfg.chain.tip().await?.height;
        self.router.height = height;
        for (txid, tx) in self.rebroadcast.clone() {
            if self.chain_has(&txid).await? {
                self.rebroadcast.remove(&txid);
            } else if let Err(e) = self.cfg.chain.broadcast(&tx).await {
                tracing::debug!(%txid, error = %e, "re-broadcast failed");
            }
        }
        let withheld: Vec<u32> = self
            .router
            .jit
            .as_ref()
            .map(|j| j.withheld.keys().copied().collect())
            .unwrap_or_default();
        let watches: Vec<Watch> = self
            .entries
            .values()
            .filter_map(|e| {
                let s = e.channel.state();
                let outpoint = s.setup.funding_outpoint?;
                s.commitments.as_ref()?;
                let awaiting_ready = matches!(s.phase, Phase::AwaitingReady { .. });
                let live = !matches!(s.phase, Phase::Closed | Phase::Aborted);
                live.then(|| Watch {
                    idx: e.key_index,
                    outpoint,
                    // A zero-conf channel is in use before its funding confirms: ours is
                    // broadcast again (when the chain lacks it) until it does.
                    // Not a JIT funding withheld until its client claims.
                    funding_tx: ((awaiting_ready || s.setup.zero_conf)
                        && s.setup.opener == Origin::Local
                        && !withheld.contains(&e.key_index))
                    .then(|| s.setup.funding_tx.clone())
                    .flatten(),
                    awaiting_ready,
                    fundee: s.setup.opener == Origin::Remote,
                    zero_conf: s.setup.zero_conf,
                    own_inputs: s
                        .setup
                        .funding_tx
                        .as_ref()
                        .map(|t| t.input.iter().map(|i| i.previous_output).collect()),
                    closing_tx: match &s.phase {
                        Phase::Closing { tx } | Phase::ForceClosing { tx } => Some(tx.clone()),
                        _ => None,
                    },
                    forced: matches!(s.phase, Phase::ForceClosing { .. }),
                    to_announce: s.setup.announce
                        && matches!(s.phase, Phase::AwaitingReady { .. } | Phase::Normal)
                        && e.public_scid.is_none(),
                })
            })
            .collect();
        let estimates = if watches.is_empty() {
            Estimates::default()
        } else {
            Estimates::ask(self.cfg.chain.as_ref()).await
        };
        for w in watches {
            self.input(w.idx, Input::Tick { height }).await;
            self.force_close_if_htlc_at_risk(w.idx, height).await;
            self.follow_fee_estimate(w.idx, &estimates).await;
            self.watch(w, height).await?;
        }
        self.monitor(height).await;
        Ok(())
    }

    /// BOLT 2/5: an HTLC whose expiry comes without the peer settling it is only safe on
    /// chain, so the channel goes there by itself (never when we are behind or restored from
    /// a backup: the channel refuses, our commitment is or may be revoked).
    async fn force_close_if_htlc_at_risk(&mut self, idx: u32, height: u32) {
        let Some(e) = self.entries.get(&idx) else {
            return;
        };
        let open = matches!(
            e.channel.phase(),
            Phase::AwaitingReady { .. } | Phase::Normal | Phase::ShuttingDown | Phase::Negotiating
        );
        if !open || e.channel.state().is_passive() {
            return;
        }
        if let Some(reason) = e.channel.htlc_needing_chain(height) {
            tracing::warn!(channel = idx, %reason, "going on chain to protect an HTLC");
            self.input(idx, Input::Command(Command::ForceClose { reason }))
                .await;
        }
    }

    /// As the opener (who pays): the commitment follows the chain's estimate (`update_fee`),
    /// and a close that starts later is capped by it (see `feerate`).
    async fn follow_fee_estimate(&mut self, idx: u32, est: &Estimates) {
        let Some(e) = self.entries.get(&idx) else {
            return;
        };
        let s = e.channel.state();
        let closable = matches!(s.phase, Phase::Normal | Phase::ShuttingDown);
        if s.setup.opener != Origin::Local || s.is_passive() || !closable {
            return;
        }
        let cfg = &s.config;
        // Without an estimate the close aims at the configured feerate, capped the same way.
        let close_at = est
            .closing
            .unwrap_or(cfg.closing_feerate_per_kw)
            .max(cfg.min_feerate_per_kw);
        let close_max = feerate::max_closing_feerate(
            close_at,
            self.cfg.max_closing_fee_multiple,
            cfg.max_feerate_per_kw,
        );
        // Written again only when the estimate moved past the hysteresis (or the cap changed):
        // not a channel state write per block.
        let moved = match s.close.feerates {
            Some((at, max)) => {
                feerate::next_commitment_feerate(at, close_at, 0, u32::MAX).is_some()
                    || max
                        != feerate::max_closing_feerate(
                            at,
                            self.cfg.max_closing_fee_multiple,
                            cfg.max_feerate_per_kw,
                        )
            }
            None => true,
        };
        let update = match (e.channel.is_usable(), e.channel.commitment_feerate()) {
            (true, Some(current)) => est.for_format(s.setup.format).and_then(|estimate| {
                let (min, max) = (cfg.min_feerate_per_kw, cfg.max_feerate_per_kw);
                feerate::next_commitment_feerate(current, estimate, min, max)
            }),
            _ => None,
        };
        if moved {
            let input = Input::ClosingFeerates {
                target_per_kw: close_at,
                max_per_kw: close_max,
            };
            self.input(idx, input).await;
        }
        if let Some(feerate_per_kw) = update {
            tracing::info!(
                channel = idx,
                feerate_per_kw,
                "commitment feerate follows the estimate"
            );
            self.input(idx, Input::Command(Command::UpdateFee { feerate_per_kw }))
                .await;
        }
    }

    async fn watch(&mut self, w: Watch, height: u32) -> Result<(), ChainError> {
        let chain = self.cfg.chain.clone();
        for tx in w.funding_tx.iter().chain(w.closing_tx.iter()) {
            // A crash may have fallen between the persist and the broadcast.
            if !self.chain_has(&tx.compute_txid()).await? {
                if let Err(e) = chain.broadcast(tx).await {
                    tracing::warn!(channel = w.idx, txid = %tx.compute_txid(), error = %e,
                        "broadcast failed; retrying next block");
                }
            }
        }
        if let (true, Some(commitment)) = (w.forced, &w.closing_tx) {
            if let Err(e) = self.bump_commitment(w.idx, height, commitment).await {
                tracing::debug!(channel = w.idx, error = %e, "commitment not bumped");
            }
        }
        let seen = chain.transaction(&w.outpoint.txid).await?;
        let in_mempool = seen.as_ref().is_some_and(|f| f.confirmations == 0);
        // A channel in use (zero-conf) or waiting for depth depends on its funding confirming.
        let depends = w.awaiting_ready || w.zero_conf;
        if let (true, true, Some(f)) = (w.fundee, depends && in_mempool, &seen) {
            self.funding_waits.seen(w.idx, &f.tx);
        }
        let funding = seen.filter(|f| f.confirmations > 0);
        if depends && w.fundee {
            match funding {
                Some(_) => self.funding_waits.confirmed(w.idx),
                None if self.funding_waits.unconfirmed(w.idx, height) => {
                    if w.zero_conf {
                        // In use, maybe with HTLCs: the channel ends, they are failed back.
                        let blocks = super::opens::FUNDING_TIMEOUT_BLOCKS;
                        let why = FundingLost::Unconfirmed { blocks };
                        self.funding_lost(&w, why).await;
                    } else {
                        self.forget_unconfirmed(w.idx).await;
                    }
                    return Ok(());
                }
                None => {}
            }
        }
        if depends && funding.is_none() && !in_mempool && self.double_spent(&w).await {
            return Ok(());
        }
        // A peer's zero-conf funding not seen yet (just opened, or after a restart): looked
        // for between blocks too.
        let unseen = self.funding_waits.inputs(w.idx).is_none();
        if w.zero_conf && w.fundee && funding.is_none() && unseen {
            self.mempool_watch.flags().set_fundings(true);
        }
        let Some(funding) = funding else {
            return Ok(());
        };
        if w.awaiting_ready {
            let input = Input::FundingConfirmed {
                depth: funding.confirmations,
                tx: funding.tx.clone(),
            };
            self.input(w.idx, input).await;
        }
        if w.to_announce && funding.confirmations >= ANNOUNCEMENT_DEPTH {
            if let Some(block) = &funding.block {
                self.found_public(w.idx, w.outpoint, block).await?;
            }
        }
        if chain.utxo(&w.outpoint).await?.is_some() {
            return Ok(());
        }
        if let Some(spend) = self.find_spend(&w.outpoint, funding.block).await? {
            self.input(w.idx, Input::FundingSpent { tx: spend }).await;
            // A closed channel gets no more updates (the graph sees the spend by itself).
            if let (Some(g), Some(e)) = (&self.cfg.gossip, self.entries.get(&w.idx)) {
                if e.public_scid.is_some() {
                    g.our_channel_closed(e.channel.channel_id());
                }
            }
        }
        Ok(())
    }

    /// Whether the funding `w` waits for was double-spent (a confirmed transaction spent one
    /// of its inputs): the channel is told, and ends. Inputs are known for our own funding, and
    /// for the peer's once seen this run; a lookup failure is retried on the next block.
    async fn double_spent(&mut self, w: &Watch) -> bool {
        let inputs = match (&w.own_inputs, self.funding_waits.inputs(w.idx)) {
            (Some(own), _) => own.clone(),
            (None, Some(seen)) => seen.to_vec(),
            (None, None) => return false,
        };
        let chain = self.cfg.chain.clone();
        let txid = w.outpoint.txid;
        match super::double_spend::confirmed_conflict(chain.as_ref(), &txid, &inputs).await {
            Ok(Some(spending_txid)) => {
                tracing::warn!(channel = w.idx, funding_txid = %txid, %spending_txid,
                    "the funding was double-spent: the channel ends");
                let why = FundingLost::DoubleSpent { spending_txid };
                self.funding_lost(w, why).await;
                true
            }
            Ok(None) => false,
            Err(e) => {
                tracing::debug!(channel = w.idx, error = %e, "double spend check failed");
                false
            }
        }
    }

    /// Tells the channel its funding is lost, and stops broadcasting the funding or anything
    /// spending it (a commitment after the peer's `error`): none of it can ever confirm.
    async fn funding_lost(&mut self, w: &Watch, why: FundingLost) {
        self.funding_waits.done(w.idx);
        self.input(w.idx, Input::FundingLost { why }).await;
        let funding = w.outpoint;
        self.rebroadcast.retain(|txid, tx| {
            *txid != funding.txid && !tx.input.iter().any(|i| i.previous_output == funding)
        });
    }

    /// Between blocks (with the mempool scan): records the inputs of the peers' zero-conf
    /// fundings not seen yet, so that a double spend mined in the very next block is told.
    /// Looked for until seen or confirmed.
    pub(super) async fn note_unseen_fundings(&mut self) {
        let unseen: Vec<(u32, bitcoin::Txid)> = self
            .entries
            .values()
            .filter(|e| e.live() && self.funding_waits.inputs(e.key_index).is_none())
            .filter(|e| !self.funding_waits.was_confirmed(e.key_index))
            .filter_map(|e| {
                let s = e.channel.state();
                s.commitments.as_ref()?;
                let theirs = s.setup.zero_conf && s.setup.opener == Origin::Remote;
                theirs
                    .then_some(s.setup.funding_outpoint)
                    .flatten()
                    .map(|o| (e.key_index, o.txid))
            })
            .collect();
        let mut left = false;
        for (idx, txid) in unseen {
            match self.cfg.chain.transaction(&txid).await {
                Ok(Some(f)) if f.confirmations == 0 => self.funding_waits.seen(idx, &f.tx),
                Ok(Some(_)) => self.funding_waits.confirmed(idx),
                Ok(None) | Err(_) => left = true,
            }
        }
        self.mempool_watch.flags().set_fundings(left);
    }

    /// A public channel's funding is deep enough: its real scid (the funding's block height,
    /// position in the block, output) names it from now on, and once the channel is ready too
    /// the gossip task announces it.
    async fn found_public(
        &mut self,
        idx: u32,
        outpoint: OutPoint,
        block: &crate::chain::BlockRef,
    ) -> Result<(), ChainError> {
        let Some(txs) = self.cfg.chain.block(&block.hash).await? else {
            return Ok(());
        };
        let Some(position) = txs
            .txdata
            .iter()
            .position(|t| t.compute_txid() == outpoint.txid)
        else {
            return Ok(());
        };
        let scid = u32::try_from(position)
            .ok()
            .zip(u16::try_from(outpoint.vout).ok())
            .and_then(|(tx, out)| ShortChannelId::new(block.height, tx, out));
        let (Some(scid), Some(e)) = (scid, self.entries.get_mut(&idx)) else {
            return Ok(());
        };
        e.public_scid = Some(scid);
        tracing::info!(channel = idx, %scid, "public channel deep enough to announce");
        self.tell_gossip(idx);
        Ok(())
    }

    /// Hands a public channel to the gossip task once it is both deep enough (its real scid
    /// is known) and ready (BOLT 7: `channel_ready` sent and received). Called at either
    /// moment, whichever comes last; the gossip task ignores a repeat.
    pub(super) fn tell_gossip(&self, idx: u32) {
        let (Some(g), Some(e)) = (&self.cfg.gossip, self.entries.get(&idx)) else {
            return;
        };
        let s = e.channel.state();
        let (Some(scid), Phase::Normal) = (e.public_scid, &s.phase) else {
            return;
        };
        let (Some(remote), Some(remote_keys)) = (&s.setup.remote, &s.setup.remote_keys) else {
            return;
        };
        g.our_channel(OurChannelFacts {
            channel: OurChannel {
                channel_id: e.channel.channel_id(),
                scid,
                our_node_id: self.router.node_id,
                peer: e.peer,
                our_funding_key: s.setup.local_keys.funding,
                peer_funding_key: remote_keys.funding,
                capacity_sat: s.setup.funding_sat,
            },
            key_index: idx,
            htlc_minimum_msat: remote.htlc_minimum_msat.max(1),
            htlc_maximum_msat: remote
                .max_htlc_value_in_flight_msat
                .min(s.setup.funding_sat.saturating_mul(1000)),
        });
    }

    /// The confirmed transaction spending `outpoint`, searching down from the tip to the
    /// funding block. `None` while the spend is only in the mempool.
    pub(super) async fn find_spend(
        &self,
        outpoint: &OutPoint,
        funding_block: Option<crate::chain::BlockRef>,
    ) -> Result<Option<Transaction>, ChainError> {
        let chain = &self.cfg.chain;
        let tip = chain.tip().await?.height;
        let floor = funding_block
            .map(|b| b.height)
            .unwrap_or(0)
            .max(tip.saturating_sub(MAX_SPEND_SCAN));
        Ok(spender_in(chain.as_ref(), outpoint, (floor..=tip).rev())
            .await?
            .map(|(tx, _)| tx))
    }
}

/// The chain's fee estimates (sat/kw) for this block; `None` where it has none.
#[derive(Default)]
struct Estimates {
    anchors: Option<u32>,
    static_remotekey: Option<u32>,
    closing: Option<u32>,
}

impl Estimates {
    async fn ask(chain: &dyn ChainSource) -> Estimates {
        let per_kw = |r: Result<Option<bitcoin::FeeRate>, ChainError>| {
            r.ok()
                .flatten()
                .map(|f| u32::try_from(f.to_sat_per_kwu()).unwrap_or(u32::MAX))
        };
        let anchors = feerate::conf_target(Format::Anchors);
        let static_remotekey = feerate::conf_target(Format::StaticRemoteKey);
        Estimates {
            anchors: per_kw(chain.estimate_fee_rate(anchors).await),
            static_remotekey: per_kw(chain.estimate_fee_rate(static_remotekey).await),
            closing: per_kw(chain.estimate_fee_rate(feerate::CLOSING_CONF_TARGET).await),
        }
    }

    fn for_format(&self, format: Format) -> Option<u32> {
        match format {
            Format::Anchors => self.anchors,
            Format::StaticRemoteKey => self.static_remotekey,
        }
    }
}

/// The first transaction spending `outpoint` in the active chain's blocks at `heights` (in
/// that order), with its height.
pub(super) async fn spender_in(
    chain: &dyn ChainSource,
    outpoint: &OutPoint,
    heights: impl Iterator<Item = u32>,
) -> Result<Option<(Transaction, u32)>, ChainError> {
    for height in heights {
        let Some(hash) = chain.block_hash(height).await? else {
            continue;
        };
        let Some(block) = chain.block(&hash).await? else {
            continue;
        };
        let found = block
            .txdata
            .into_iter()
            .find(|tx| tx.input.iter().any(|i| i.previous_output == *outpoint));
        if let Some(tx) = found {
            return Ok(Some((tx, height)));
        }
    }
    Ok(None)
}
