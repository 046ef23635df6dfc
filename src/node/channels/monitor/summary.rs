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
        let mut fees_sat = 0;
        for tx in our_txs.values() {
            received_sat += tx
                .output
                .iter()
                .filter(|o| o.script_pubkey == *ours_script)
                .map(|o| o.value.to_sat())
                .sum::<u64>();
            let mut spent = 0u64;
            for input in &tx.input {
                let parent = self
                    .cfg
                    .chain
                    .transaction(&input.previous_output.txid)
                    .await?
                    .ok_or_else(|| {
                        MonitorError::Other(format!(
                            "the parent of our claim {} is not on chain",
                            tx.compute_txid()
                        ))
                    })?;
                spent += parent
                    .tx
                    .output
                    .get(input.previous_output.vout as usize)
                    .map(|o| o.value.to_sat())
                    .unwrap_or(0);
            }
            let paid: u64 = tx.output.iter().map(|o| o.value.to_sat()).sum();
            fees_sat += spent.saturating_sub(paid);
        }
        Ok(Resolution {
            spend_txid,
            spend: spend_name(spend).into(),
            resolved_height: height,
            outputs,
            received_sat,
            fees_sat,
        })
    }
}
