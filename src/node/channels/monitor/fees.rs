//! Paying for claims: each claim's rate comes from the chain's estimate, doubled as its deadline
//! nears (`onchain::fees::deadline_rate`), capped by what the claim may spend; a version still
//! in the mempool is replaced only by one that pays for it (BIP 125). Zero-fee HTLC
//! transactions of anchors channels take a wallet coin; our commitment, when it pays less than
//! the target, gets a child through our anchor (CPFP).
//!
//! What was sent lives in memory only: after a restart the schedule starts again, and a
//! version still in the mempool stays until a rising rate pays for its replacement.

use std::collections::HashMap;

use bitcoin::{Amount, OutPoint, Transaction, Txid, Weight};

use super::super::actor::Actor;
use super::{kind_name, MonitorError};
use crate::bolt3::spend::SpentOutput;
use crate::channel::ChannelState;
use crate::onchain::fees::WithFeeInput;
use crate::onchain::fees::{
    anchor_cpfp, capped_rate, claim_budget_sat, commitment_fee_sat, cpfp_fee_input_min_sat,
    deadline_rate, htlc_fee_input_min_sat, htlc_tx_with_fee_input, justice_budget_sat,
    replacement_rate, Replaces,
};
use crate::onchain::{justice_tx_at_rate, justice_weight, our_anchor, Claim, OnchainError};
use crate::wallet::{FeeInput, FeeRate};

/// What we last broadcast to spend one output (or for one justice batch, one CPFP).
#[derive(Clone)]
struct Sent {
    tx: Transaction,
    fee_sat: u64,
    rate: FeeRate,
    first_height: u32,
    fee_input: Option<OutPoint>,
}

#[derive(Default)]
pub(in crate::node::channels) struct Broadcasts(HashMap<OutPoint, Sent>);

impl Broadcasts {
    /// Whether we broadcast a spend of `outpoint` (a version of ours may be what the mempool
    /// holds).
    pub(super) fn sent_for(&self, outpoint: &OutPoint) -> bool {
        self.0.contains_key(outpoint)
    }

    /// The transaction we last broadcast to spend `outpoint`.
    pub(super) fn sent_tx(&self, outpoint: &OutPoint) -> Option<Transaction> {
        self.0.get(outpoint).map(|s| s.tx.clone())
    }

    /// Drops what a resolved channel needed: its claims, its justice batch and CPFP.
    pub(super) fn forget(&mut self, outpoints: &[OutPoint], spend_txid: Txid) {
        for o in outpoints {
            self.0.remove(o);
        }
        self.0.retain(|k, _| k.txid != spend_txid);
    }
}

/// Where a transaction paid by a wallet coin is recorded: its key, rate and block.
struct Paid {
    key: OutPoint,
    rate: FeeRate,
    height: u32,
}

/// The key of a commitment's justice batch, and of a commitment's CPFP child.
fn batch_key(txid: Txid, slot: u32) -> OutPoint {
    OutPoint::new(txid, u32::MAX - slot)
}

impl Actor {
    async fn base_rate(&self) -> FeeRate {
        self.cfg
            .wallet
            .fee_rate(None)
            .await
            .unwrap_or(FeeRate::FLOOR)
    }

    /// The rate for `key` now, and the version to replace if it is still in the mempool.
    async fn schedule(
        &self,
        key: &OutPoint,
        deadline: Option<u32>,
        height: u32,
    ) -> Result<(FeeRate, Option<Sent>), MonitorError> {
        let base = self.base_rate().await;
        let sent = self.broadcasts.0.get(key).cloned();
        let since = sent
            .as_ref()
            .map_or(0, |s| height.saturating_sub(s.first_height));
        let rate = deadline_rate(base, deadline.map(|d| d.saturating_sub(height)), since);
        let pending = match sent {
            Some(s) => match self.cfg.chain.transaction(&s.tx.compute_txid()).await? {
                Some(info) if info.confirmations == 0 => Some(s),
                _ => None,
            },
            None => None,
        };
        Ok((rate, pending))
    }

    /// The block by which `c` should confirm: the chain's deadline where it sets one; for the
    /// timeout of an HTLC we forwarded, the incoming HTLC's expiry less the margin we need to
    /// claim it there should the peer still reveal the preimage.
    async fn claim_deadline(
        &self,
        state: &ChannelState,
        c: &Claim,
        confirmed_at: u32,
    ) -> Option<u32> {
        if let Some(d) = c.deadline(confirmed_at) {
            return Some(d);
        }
        let id = super::upstream::offered_htlcs(state)
            .into_iter()
            .find(|h| super::upstream::is_output_of(c, h))?
            .id;
        let out = crate::payments::HtlcRef {
            channel_id: state.channel_id,
            htlc_id: id,
        };
        let fwd = self
            .cfg
            .store
            .call(move |conn| crate::store::payments::pending_forward_by_out(conn, out))
            .await
            .ok()
            .flatten()?;
        Some(
            fwd.in_cltv_expiry
                .saturating_sub(crate::channel::queries::RECEIVED_CLAIM_BUFFER),
        )
    }

    fn record(&mut self, key: OutPoint, sent: Sent, height: u32) {
        let first_height = self
            .broadcasts
            .0
            .get(&key)
            .map_or(height, |s| s.first_height);
        self.broadcasts.0.insert(
            key,
            Sent {
                first_height,
                ..sent
            },
        );
    }

    /// Spends `c` (an output of ours whose timelocks allow it) at its scheduled rate.
    pub(super) async fn broadcast_claim(
        &mut self,
        idx: u32,
        height: u32,
        confirmed_at: u32,
        state: &ChannelState,
        c: &Claim,
    ) -> Result<(), MonitorError> {
        if c.zero_fee_htlc_output().is_some() {
            return self
                .broadcast_with_fee_input(idx, height, confirmed_at, state, c)
                .await;
        }
        let script = &state.setup.shutdown_script;
        let key = c.outpoint;
        let (rate, pending) = self
            .schedule(
                &key,
                self.claim_deadline(state, c, confirmed_at).await,
                height,
            )
            .await?;
        if let Some(p) = pending.as_ref().filter(|p| p.rate >= rate) {
            // Nothing new to pay: the version in the mempool stands.
            let tx = p.tx.clone();
            self.claim_broadcast(idx, kind_name(&c.kind), &tx).await;
            return Ok(());
        }
        let weight = c.spend_weight(script);
        let wanted = match &pending {
            Some(p) => replacement_rate(&Replaces::of(&p.tx, p.fee_sat), weight, rate),
            None => rate,
        };
        // Our HTLC transactions of static_remotekey channels carry the fee both peers signed.
        let Some(rate) = capped_rate(wanted, weight, claim_budget_sat(c.value_sat)) else {
            tracing::debug!(
                channel = idx,
                kind = kind_name(&c.kind),
                value_sat = c.value_sat,
                "a claim worth less than its fee waits"
            );
            return Ok(());
        };
        let tx = match c.spend_at_rate(script, rate) {
            Ok(tx) => tx,
            Err(e) => {
                tracing::warn!(channel = idx, kind = kind_name(&c.kind), error = %e, "claim not built");
                return Ok(());
            }
        };
        let paid: u64 = tx.output.iter().map(|o| o.value.to_sat()).sum();
        let fee_sat = c.value_sat.saturating_sub(paid);
        if self.claim_broadcast(idx, kind_name(&c.kind), &tx).await {
            self.record(
                key,
                Sent {
                    tx,
                    fee_sat,
                    rate,
                    first_height: height,
                    fee_input: None,
                },
                height,
            );
        }
        Ok(())
    }

    /// One justice transaction for every unspent revoked output, at the rate of the earliest
    /// deadline (the cheater's own paths), up to everything but dust.
    pub(super) async fn broadcast_justice(
        &mut self,
        idx: u32,
        height: u32,
        confirmed_at: u32,
        spend_txid: Txid,
        state: &ChannelState,
        claims: &[Claim],
    ) -> Result<(), MonitorError> {
        let script = &state.setup.shutdown_script;
        let key = batch_key(spend_txid, 0);
        let deadline = claims.iter().filter_map(|c| c.deadline(confirmed_at)).min();
        let (rate, pending) = self.schedule(&key, deadline, height).await?;
        let weight = justice_weight(claims, script);
        let total: u64 = claims.iter().map(|c| c.value_sat).sum();
        let same_inputs = |p: &Sent| {
            p.tx.input.len() == claims.len()
                && claims
                    .iter()
                    .all(|c| p.tx.input.iter().any(|i| i.previous_output == c.outpoint))
        };
        if let Some(p) = pending
            .as_ref()
            .filter(|p| p.rate >= rate && same_inputs(p))
        {
            let tx = p.tx.clone();
            self.claim_broadcast(idx, "justice", &tx).await;
            return Ok(());
        }
        let wanted = match &pending {
            Some(p) => replacement_rate(&Replaces::of(&p.tx, p.fee_sat), weight, rate),
            None => rate,
        };
        let Some(rate) = capped_rate(wanted, weight, justice_budget_sat(total)) else {
            return Ok(());
        };
        match justice_tx_at_rate(claims, script, rate) {
            Ok(tx) => {
                let paid: u64 = tx.output.iter().map(|o| o.value.to_sat()).sum();
                let fee_sat = total.saturating_sub(paid);
                if self.claim_broadcast(idx, "justice", &tx).await {
                    let sent = Sent {
                        tx,
                        fee_sat,
                        rate,
                        first_height: height,
                        fee_input: None,
                    };
                    self.record(key, sent, height);
                }
            }
            Err(e) => {
                tracing::error!(channel = idx, error = %e, "cannot build the justice transaction")
            }
        }
        Ok(())
    }

    /// A zero-fee HTLC transaction (anchors) with a wallet coin paying its fee; a bump
    /// replaces it with the same coin.
    async fn broadcast_with_fee_input(
        &mut self,
        idx: u32,
        height: u32,
        confirmed_at: u32,
        state: &ChannelState,
        c: &Claim,
    ) -> Result<(), MonitorError> {
        let script = &state.setup.shutdown_script;
        let key = c.outpoint;
        let what = kind_name(&c.kind);
        let (rate, pending) = self
            .schedule(
                &key,
                self.claim_deadline(state, c, confirmed_at).await,
                height,
            )
            .await?;
        if let Some(p) = pending.as_ref().filter(|p| p.rate >= rate) {
            let tx = p.tx.clone();
            self.claim_broadcast(idx, what, &tx).await;
            return Ok(());
        }
        let replaces = pending.as_ref().map(|p| Replaces::of(&p.tx, p.fee_sat));
        let min = htlc_fee_input_min_sat(c, script, rate, replaces.as_ref())
            .map_err(|e| MonitorError::Other(e.to_string()))?;
        let build =
            |coin: &SpentOutput| htlc_tx_with_fee_input(c, coin, script, rate, replaces.as_ref());
        let paid = Paid { key, rate, height };
        self.send_with_coin(idx, what, pending.as_ref(), min, build, paid)
            .await;
        Ok(())
    }

    /// Pays for a transaction with a wallet coin: the same coin again when bumping `pending`,
    /// else a new one of at least `min_sat`; `build` makes the transaction around it. The coin
    /// goes back to the wallet if anything fails.
    async fn send_with_coin(
        &mut self,
        idx: u32,
        what: &str,
        pending: Option<&Sent>,
        min_sat: u64,
        build: impl FnOnce(&SpentOutput) -> Result<WithFeeInput, OnchainError>,
        paid: Paid,
    ) {
        let wallet = self.cfg.wallet.clone();
        let coin = match pending.and_then(|p| p.fee_input) {
            Some(outpoint) => wallet.reserve_fee_input_for_replacement(outpoint).await,
            None => wallet.reserve_fee_input(Amount::from_sat(min_sat)).await,
        };
        let coin: FeeInput = match coin {
            Ok(coin) => coin,
            Err(e) => {
                tracing::warn!(channel = idx, what, error = %e,
                    "no wallet coin to pay the fee; fund the wallet");
                return;
            }
        };
        let w = match build(&coin.spent_output()) {
            Ok(w) => w,
            Err(e) => {
                wallet.release_fee_input(&coin);
                tracing::warn!(channel = idx, what, error = %e, "transaction not built");
                return;
            }
        };
        let mut tx = w.tx;
        if let Err(e) = wallet.sign_fee_input(&mut tx, w.wallet_input, &coin) {
            wallet.release_fee_input(&coin);
            tracing::warn!(channel = idx, what, error = %e, "fee input not signed");
            return;
        }
        match wallet
            .broadcast_with_fee_input(&tx, &coin, Amount::from_sat(w.fee_sat))
            .await
        {
            Ok(txid) => {
                tracing::info!(channel = idx, %txid, what, fee_sat = w.fee_sat,
                    "broadcast with a wallet fee input");
                let sent = Sent {
                    tx,
                    fee_sat: w.fee_sat,
                    rate: paid.rate,
                    first_height: paid.height,
                    fee_input: Some(coin.outpoint),
                };
                self.record(paid.key, sent, paid.height);
            }
            Err(e) => tracing::debug!(channel = idx, what, error = %e, "not accepted"),
        }
    }

    /// Our commitment waiting in the mempool below the target rate: a child through our
    /// anchor brings the package up to it (anchors channels).
    pub(in crate::node::channels) async fn bump_commitment(
        &mut self,
        idx: u32,
        height: u32,
        commitment: &Transaction,
    ) -> Result<(), MonitorError> {
        let Some(entry) = self.entries.get(&idx) else {
            return Ok(());
        };
        let state = entry.channel.state().clone();
        let keys = entry.channel.key_material().clone();
        let txid = commitment.compute_txid();
        match self.cfg.chain.transaction(&txid).await? {
            Some(info) if info.confirmations == 0 => {}
            _ => return Ok(()), // confirmed, or not in the mempool (rebroadcast first)
        }
        let Some(anchor) =
            our_anchor(&keys, commitment).map_err(|e| MonitorError::Other(e.to_string()))?
        else {
            return Ok(());
        };
        let Some(parent_fee) = commitment_fee_sat(&state, commitment) else {
            return Ok(());
        };
        // The deadline is the first HTLC expiry on it: after that the peer may take it back.
        let deadline = state
            .commitments
            .iter()
            .flat_map(|c| c.local.spec.htlcs.iter())
            .map(|h| h.add.cltv_expiry)
            .min();
        let key = batch_key(txid, 1);
        let (rate, pending) = self.schedule(&key, deadline, height).await?;
        // At most half of what the commitment's confirmation protects: our balance and the
        // HTLCs we offered on it.
        let protected_msat = state.commitments.as_ref().map_or(0, |c| {
            c.local.spec.local_msat
                + c.local
                    .spec
                    .htlcs
                    .iter()
                    .filter(|h| h.origin == crate::channel::Origin::Local)
                    .map(|h| h.add.amount_msat)
                    .sum::<u64>()
        });
        let package_weight = commitment.weight() + Weight::from_vb_unchecked(200);
        let Some(rate) = capped_rate(
            rate,
            package_weight,
            claim_budget_sat(protected_msat / 1000),
        ) else {
            return Ok(());
        };
        let parent_rate = FeeRate(parent_fee * 1000 / commitment.weight().to_wu().max(1));
        if pending.is_none() && parent_rate >= rate {
            return Ok(());
        }
        if let Some(p) = pending.as_ref().filter(|p| p.rate >= rate) {
            let tx = p.tx.clone();
            self.claim_broadcast(idx, "anchor_cpfp", &tx).await;
            return Ok(());
        }
        let script = &state.setup.shutdown_script;
        let replaces = pending.as_ref().map(|p| Replaces::of(&p.tx, p.fee_sat));
        let min = cpfp_fee_input_min_sat(
            &anchor,
            commitment,
            parent_fee,
            script,
            rate,
            replaces.as_ref(),
        );
        let build = |coin: &SpentOutput| {
            anchor_cpfp(
                &anchor,
                commitment,
                parent_fee,
                coin,
                script,
                rate,
                replaces.as_ref(),
            )
        };
        let paid = Paid { key, rate, height };
        self.send_with_coin(idx, "anchor_cpfp", pending.as_ref(), min, build, paid)
            .await;
        Ok(())
    }
}
