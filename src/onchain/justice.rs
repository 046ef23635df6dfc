//! Justice: taking everything from a revoked commitment in one transaction, and the outputs of
//! the cheater's HTLC transactions.
//!
//! A revoked output has no timelock on the revocation path, but the cheater can still spend
//! its HTLC outputs through its pre-signed HTLC transactions (and, after its delay, its
//! `to_local`): the race is won by confirming first, so all revoked outputs go in one
//! transaction (one fee, one confirmation). If a cheater's HTLC transaction confirms first,
//! its output is still revocable ([`claims_for_second_stage`]). What a watchtower carries is
//! exactly [`justice_tx`]'s result.

use bitcoin::absolute::LockTime;
use bitcoin::sighash::EcdsaSighashType;
use bitcoin::transaction::predict_weight;
use bitcoin::transaction::Version;
use bitcoin::{
    Amount, OutPoint, Script, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Weight, Witness,
};

use crate::bolt3::scripts::{offered_htlc_script, p2wsh, received_htlc_script, to_local_script};
use crate::bolt3::secrets::per_commitment_point;
use crate::bolt3::sign::{sign_p2wsh, SigningKey};
use crate::bolt3::spend::Destination;
use crate::bolt3::witness::{htlc_revocation_witness, to_local_revocation_witness};
use crate::bolt3::{secp, Bolt3Error, HtlcDirection, Side};
use crate::channel::commitments::parameters;
use crate::channel::{ChannelState, KeyMaterial};
use crate::wallet::FeeRate;

use super::claims::How;
use super::{Claim, ClaimKind, OnchainError};

/// One transaction spending every claim in `claims` (all revocation claims: no timelock) to
/// `dest`, paying `dest.fee_sat` out of their sum.
///
/// # Errors
/// [`OnchainError::NoClaims`], [`OnchainError::NotJustice`] for a claim with another path, or
/// a fee above the total.
pub fn justice_tx(claims: &[Claim], dest: &Destination) -> Result<Transaction, OnchainError> {
    if claims.is_empty() {
        return Err(OnchainError::NoClaims);
    }
    // Each input: its witness script, the revocation key and whether the stack names the key.
    let mut inputs = Vec::with_capacity(claims.len());
    for c in claims {
        let input = match &c.how {
            How::RevokedDelayed {
                revocation_privkey,
                to_self_delay,
                local_delayed_key,
            } => {
                let revocation_key = revocation_privkey.public_key(secp());
                let script = to_local_script(&revocation_key, *to_self_delay, local_delayed_key);
                (script, *revocation_privkey, None)
            }
            How::RevokedHtlc {
                channel_type,
                keys: k,
                htlc,
                revocation_privkey,
            } => {
                let script = match htlc.direction {
                    HtlcDirection::Offered => offered_htlc_script(
                        *channel_type,
                        &k.revocation_key,
                        &k.local_htlc_key,
                        &k.remote_htlc_key,
                        &htlc.payment_hash,
                    ),
                    HtlcDirection::Received => received_htlc_script(
                        *channel_type,
                        &k.revocation_key,
                        &k.local_htlc_key,
                        &k.remote_htlc_key,
                        &htlc.payment_hash,
                        htlc.cltv_expiry,
                    ),
                };
                (script, *revocation_privkey, Some(k.revocation_key))
            }
            _ => return Err(OnchainError::NotJustice { kind: c.kind }),
        };
        inputs.push(input);
    }
    let total = claims
        .iter()
        .try_fold(0u64, |sum, c| sum.checked_add(c.value_sat))
        .ok_or(Bolt3Error::AmountOverflow)?;
    let value = total
        .checked_sub(dest.fee_sat)
        .ok_or(Bolt3Error::FeeTooHigh {
            fee_sat: dest.fee_sat,
            available_sat: total,
        })?;
    let mut tx = Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: claims
            .iter()
            .map(|c| TxIn {
                previous_output: c.outpoint,
                script_sig: ScriptBuf::new(),
                sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
                witness: Witness::new(),
            })
            .collect(),
        output: vec![TxOut {
            value: Amount::from_sat(value),
            script_pubkey: dest.script_pubkey.clone(),
        }],
    };
    let mut witnesses = Vec::with_capacity(claims.len());
    for (i, (c, (script, key, htlc_key))) in claims.iter().zip(&inputs).enumerate() {
        let sig = sign_p2wsh(&tx, i, script, c.value_sat, EcdsaSighashType::All, key)?;
        witnesses.push(match htlc_key {
            Some(k) => htlc_revocation_witness(&sig, k, script),
            None => to_local_revocation_witness(&sig, script),
        });
    }
    for (input, w) in tx.input.iter_mut().zip(witnesses) {
        input.witness = w;
    }
    Ok(tx)
}

/// The weight of [`justice_tx`] over `claims` to an output with `dest_script`: one input per
/// claim, one output. An upper bound, at most a few weight units above the signed transaction
/// (signatures counted at their largest).
pub fn justice_weight(claims: &[Claim], dest_script: &Script) -> Weight {
    predict_weight(
        claims.iter().map(Claim::input_prediction),
        [dest_script.len()],
    )
}

/// [`justice_tx`] to `script_pubkey`, paying `rate` on [`justice_weight`].
///
/// # Errors
/// As [`justice_tx`].
pub fn justice_tx_at_rate(
    claims: &[Claim],
    script_pubkey: &ScriptBuf,
    rate: FeeRate,
) -> Result<Transaction, OnchainError> {
    let fee = rate.fee(justice_weight(claims, script_pubkey));
    justice_tx(
        claims,
        &Destination {
            script_pubkey: script_pubkey.clone(),
            fee_sat: fee.to_sat(),
        },
    )
}

/// The outputs of `second_stage_tx`, an HTLC-timeout/success transaction the peer broadcast
/// from its revoked commitment `revoked_number`: they pay into the peer's delayed script, which
/// the revocation key opens at once ([`ClaimKind::RevokedSecondStage`]).
///
/// # Errors
/// [`OnchainError::NotRevoked`] when the peer has not revealed that commitment's secret.
pub fn claims_for_second_stage(
    state: &ChannelState,
    keys: &KeyMaterial,
    revoked_number: u64,
    second_stage_tx: &Transaction,
) -> Result<Vec<Claim>, OnchainError> {
    let c = state
        .commitments
        .as_ref()
        .ok_or(OnchainError::NoCommitments)?;
    let secret = c
        .revocations
        .secret_for_commitment(revoked_number)
        .map_err(|_| OnchainError::NotRevoked {
            number: revoked_number,
        })?;
    let params = parameters(&state.setup)?;
    let k = params.commitment_keys(Side::Counterparty, &per_commitment_point(&secret)?)?;
    let delay = params.counterparty_to_self_delay;
    let spk = p2wsh(&to_local_script(
        &k.revocation_key,
        delay,
        &k.local_delayed_key,
    ));
    let revocation_privkey = keys.signer.private_key(SigningKey::Revocation {
        per_commitment_secret: secret,
    })?;
    let txid = second_stage_tx.compute_txid();
    Ok(second_stage_tx
        .output
        .iter()
        .enumerate()
        .filter(|(_, o)| o.script_pubkey == spk)
        .map(|(vout, o)| Claim {
            outpoint: OutPoint::new(txid, vout as u32),
            value_sat: o.value.to_sat(),
            kind: ClaimKind::RevokedSecondStage,
            csv: 0,
            cltv: 0,
            how: How::RevokedDelayed {
                revocation_privkey,
                to_self_delay: delay,
                local_delayed_key: k.local_delayed_key,
            },
        })
        .collect())
}
