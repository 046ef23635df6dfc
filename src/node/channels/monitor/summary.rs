//! The resolution record: what each watched output became, what reached our wallet and what
//! our claims paid in fees.

use std::collections::BTreeMap;

use bitcoin::{Transaction, Txid};

use super::super::actor::Actor;
use super::{kind_name, MonitorError, Round};
use crate::channel::{ChannelState, Resolution, ResolvedOutput};
use crate::onchain::Spend;

fn spend_name(spend: &Spend) -> &'static str {
    match spend {
        Spend::Mutual => "mutual",
        Spend::Local { .. } => "local",
        Spend::RemoteCurrent { .. } => "remote",
        Spend::RemoteRevoked { .. } => "revoked",
        Spend::RemoteFuture { .. } => "remote_future",
        _ => "unknown",
    }
}

impl Actor {
    pub(super) async fn summarize(
        &self,
        state: &ChannelState,
        spend: &Spend,
        spend_tx: &Transaction,
        round: &Round,
        height: u32,
    ) -> Result<Resolution, MonitorError> {
        let ours_script = &state.setup.shutdown_script;
        let spend_txid = spend_tx.compute_txid();
        let mut outputs = Vec::new();
        let mut received_sat = 0;
        if *spend == Spend::Mutual {
            for (vout, o) in spend_tx.output.iter().enumerate() {
                if o.script_pubkey == *ours_script {
                    received_sat += o.value.to_sat();
                    outputs.push(ResolvedOutput {
                        outpoint: bitcoin::OutPoint::new(spend_txid, vout as u32),
                        kind: "mutual_close".into(),
                        amount_sat: o.value.to_sat(),
                        spent_by: None,
                        ours: true,
                    });
                }
            }
        }
        let mut our_txs: BTreeMap<Txid, &Transaction> = BTreeMap::new();
        for w in &round.watched {
            let spent_by = w.spent.as_ref().map(|(tx, _)| tx.compute_txid());
            if let (true, Some((tx, _))) = (w.ours, &w.spent) {
                our_txs.insert(tx.compute_txid(), tx);
            }
            outputs.push(ResolvedOutput {
                outpoint: w.claim.outpoint,
                kind: kind_name(&w.claim.kind).into(),
                amount_sat: w.claim.value_sat,
                spent_by,
                ours: w.ours,
            });
        }
        if let Some((outpoint, value, tx, _)) = &round.anchor {
            our_txs.insert(tx.compute_txid(), tx);
            outputs.push(ResolvedOutput {
                outpoint: *outpoint,
                kind: "anchor_cpfp".into(),
                amount_sat: *value,
                spent_by: Some(tx.compute_txid()),
                ours: true,
            });
        }
        // Our claims may carry wallet inputs (fees) and change, and may pay into a second
        // stage that is itself watched: what the wallet gained is every output that is not a
        // watched one, minus every input that was not a watched one.
        let watched: std::collections::HashSet<bitcoin::OutPoint> = round
            .watched
            .iter()
            .map(|w| w.claim.outpoint)
            .chain(round.anchor.as_ref().map(|a| a.0))
            .collect();
        let mut fees_sat = 0u64;
        let mut net: i64 = received_sat as i64;
        for (txid, tx) in &our_txs {
            let mut spent = 0u64;
            for input in &tx.input {
                let value = self.input_value(&input.previous_output).await?;
                spent += value;
                if !watched.contains(&input.previous_output) {
                    net -= value as i64;
                }
            }
            let mut paid = 0u64;
            for (vout, o) in tx.output.iter().enumerate() {
                paid += o.value.to_sat();
                if !watched.contains(&bitcoin::OutPoint::new(*txid, vout as u32)) {
                    net += o.value.to_sat() as i64;
                }
            }
            fees_sat += spent.saturating_sub(paid);
        }
        let received_sat = u64::try_from(net).unwrap_or(0);
        Ok(Resolution {
            spend_txid,
            spend: spend_name(spend).into(),
            resolved_height: height,
            outputs,
            received_sat,
            fees_sat,
        })
    }

    async fn input_value(&self, outpoint: &bitcoin::OutPoint) -> Result<u64, MonitorError> {
        let parent = self
            .cfg
            .chain
            .transaction(&outpoint.txid)
            .await?
            .ok_or_else(|| {
                MonitorError::Other(format!("the parent of {outpoint} is not on chain"))
            })?;
        Ok(parent
            .tx
            .output
            .get(outpoint.vout as usize)
            .map(|o| o.value.to_sat())
            .unwrap_or(0))
    }
}
