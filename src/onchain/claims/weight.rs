//! The weight of each claim's spend, computed from its witness shape (BOLT 3 "Appendix A" lists
//! the same stacks), so a fee can be priced at a rate before anything is signed.
//!
//! Every element's length is known exactly except the signatures: a low-S DER signature with
//! its sighash byte is 71 or 72 bytes (70 and below are rare), so we count 72, the largest.
//! Predictions are therefore upper bounds, never more than a few weight units above the signed
//! transaction (1 per signature byte we over-count), and a fee priced on them pays at least the
//! rate asked. The same holds for [`super::super::justice_weight`].

use bitcoin::transaction::{predict_weight, InputWeightPrediction};
use bitcoin::{Script, ScriptBuf, Transaction, Weight};

use crate::bolt3::scripts::{
    offered_htlc_script, received_htlc_script, to_local_script, to_remote_anchor_script,
};
use crate::bolt3::spend::Destination;
use crate::bolt3::{secp, HtlcDirection};
use crate::wallet::FeeRate;

use super::{Claim, How};
use crate::onchain::OnchainError;

/// The largest low-S ECDSA signature with its sighash byte, as it appears in a witness.
pub const MAX_SIGNATURE_LEN: usize = 72;

/// Length of a payment preimage in a witness.
const PREIMAGE_LEN: usize = 32;
/// A compressed public key.
const PUBKEY_LEN: usize = 33;

impl How {
    /// The witness script of the spent output (`None` for a P2WPKH `to_remote`).
    pub(crate) fn witness_script(&self) -> Option<ScriptBuf> {
        Some(match self {
            How::Delayed {
                revocation_key,
                to_self_delay,
                delayed_privkey,
            } => to_local_script(
                revocation_key,
                *to_self_delay,
                &delayed_privkey.public_key(secp()),
            ),
            How::ToRemote {
                channel_type,
                payment_privkey,
            } => {
                if !channel_type.has_anchors() {
                    return None;
                }
                to_remote_anchor_script(&payment_privkey.public_key(secp()))
            }
            How::HtlcTx { htlc_tx, .. } => htlc_tx.htlc_script.clone(),
            How::RemoteHtlc {
                channel_type,
                keys,
                htlc,
                ..
            }
            | How::RevokedHtlc {
                channel_type,
                keys,
                htlc,
                ..
            } => match htlc.direction {
                HtlcDirection::Offered => offered_htlc_script(
                    *channel_type,
                    &keys.revocation_key,
                    &keys.local_htlc_key,
                    &keys.remote_htlc_key,
                    &htlc.payment_hash,
                ),
                HtlcDirection::Received => received_htlc_script(
                    *channel_type,
                    &keys.revocation_key,
                    &keys.local_htlc_key,
                    &keys.remote_htlc_key,
                    &htlc.payment_hash,
                    htlc.cltv_expiry,
                ),
            },
            How::RevokedDelayed {
                revocation_privkey,
                to_self_delay,
                local_delayed_key,
            } => to_local_script(
                &revocation_privkey.public_key(secp()),
                *to_self_delay,
                local_delayed_key,
            ),
        })
    }

    /// The lengths of the witness elements that spend the output, signatures at their largest.
    fn witness_lengths(&self) -> Vec<usize> {
        let script = self.witness_script().map(|s| s.len());
        let sig = MAX_SIGNATURE_LEN;
        let mut stack = match self {
            // <sig> 0 <script>
            How::Delayed { .. } => vec![sig, 0],
            // P2WPKH: <sig> <key>; anchors: <sig> <script>
            How::ToRemote { .. } if script.is_none() => vec![sig, PUBKEY_LEN],
            How::ToRemote { .. } => vec![sig],
            // 0 <remote sig> <local sig> <preimage or 0> <script>
            How::HtlcTx { preimage, .. } => {
                vec![
                    0,
                    sig,
                    sig,
                    if preimage.is_some() { PREIMAGE_LEN } else { 0 },
                ]
            }
            // <sig> <preimage> or <sig> 0
            How::RemoteHtlc { preimage, .. } => {
                vec![sig, if preimage.is_some() { PREIMAGE_LEN } else { 0 }]
            }
            // <sig> 1
            How::RevokedDelayed { .. } => vec![sig, 1],
            // <sig> <revocation key>
            How::RevokedHtlc { .. } => vec![sig, PUBKEY_LEN],
        };
        stack.extend(script);
        stack
    }
}

impl Claim {
    /// The claim's input as [`predict_weight`] takes it.
    pub(crate) fn input_prediction(&self) -> InputWeightPrediction {
        InputWeightPrediction::new(0, self.how.witness_lengths())
    }

    /// The weight of [`Claim::spend`] to an output with `dest_script`: one input, one output.
    /// For [`super::ClaimKind::HtlcTimeout`] / [`super::ClaimKind::HtlcSuccess`], the
    /// pre-signed HTLC transaction alone (its output is fixed; `dest_script` is ignored); with a
    /// wallet fee input see [`crate::onchain::fees::htlc_tx_with_fee_input`].
    ///
    /// An upper bound, at most a few weight units above the signed transaction (see the module
    /// docs).
    pub fn spend_weight(&self, dest_script: &Script) -> Weight {
        let out_len = match &self.how {
            How::HtlcTx { htlc_tx, .. } => htlc_tx.tx.output[0].script_pubkey.len(),
            _ => dest_script.len(),
        };
        predict_weight([self.input_prediction()], [out_len])
    }

    /// [`Claim::spend`] to `script_pubkey`, paying `rate` on [`Claim::spend_weight`] (rounded
    /// up to whole virtual bytes, as nodes measure it).
    ///
    /// # Errors
    /// As [`Claim::spend`]; a fee above the value is [`crate::bolt3::Bolt3Error::FeeTooHigh`].
    pub fn spend_at_rate(
        &self,
        script_pubkey: &ScriptBuf,
        rate: FeeRate,
    ) -> Result<Transaction, OnchainError> {
        let fee = rate.fee(self.spend_weight(script_pubkey));
        self.spend(&Destination {
            script_pubkey: script_pubkey.clone(),
            fee_sat: fee.to_sat(),
        })
    }
}
