//! What we can take from a commitment on chain, and the signed spend of each output.
//!
//! Timelocks of a [`Claim`]: `csv` is BIP 68 (blocks the spent output must have been
//! confirmed), `cltv` the absolute locktime the spend carries (0 = none). Both are already in
//! the transaction [`Claim::spend`] builds; [`Claim::earliest_block`] says when it can be mined.
//!
//! # Layout
//! - this file: [`Claim`], [`ClaimKind`], signing a claim, the HTLCs a state knows, [`claims`].
//! - `local`: our commitment. `remote`: the peer's current one. `revoked`: a revoked one of
//!   the peer's ([`revoked_claims`]).
//! - `weight`: the weight of each claim's spend, for pricing it at a fee rate.

mod local;
mod remote;
mod revoked;
mod weight;

pub use revoked::revoked_claims;
pub use weight::MAX_SIGNATURE_LEN;

use std::collections::HashMap;

use bitcoin::secp256k1::{ecdsa::Signature, PublicKey, SecretKey};
use bitcoin::{OutPoint, Transaction, TxOut};

use crate::bolt3::commitment::Htlc;
use crate::bolt3::htlc_tx::HtlcTx;
use crate::bolt3::scripts::{offered_htlc_script, p2wsh, received_htlc_script, to_local_script};
use crate::bolt3::sign::sign_digest;
use crate::bolt3::spend::{
    spend_delayed, spend_delayed_revoked, spend_htlc_revoked, spend_offered_htlc_with_preimage,
    spend_received_htlc_after_timeout, spend_to_remote, Destination, SpentOutput,
};
use crate::bolt3::{ChannelType, CommitmentKeys, HtlcDirection, PaymentHash, PaymentPreimage};
use crate::channel::{ChannelState, KeyMaterial, Update};

use super::{OnchainError, Spend};

/// What an output is to us and by which path we take it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimKind {
    /// Our `to_local` on our commitment, after `to_self_delay`.
    LocalDelayed,
    /// Our balance on the peer's commitment (current or revoked).
    ToRemote,
    /// An HTLC we offered, on our commitment: the pre-signed HTLC-timeout transaction, from
    /// `cltv_expiry`. Its output is claimed later with [`Claim::second_stage`].
    HtlcTimeout { payment_hash: [u8; 32] },
    /// An HTLC the peer offered, on our commitment, whose preimage we know: the pre-signed
    /// HTLC-success transaction. Its output is claimed later with [`Claim::second_stage`].
    HtlcSuccess { payment_hash: [u8; 32] },
    /// The output of our HTLC-timeout/success transaction, after `to_self_delay`.
    SecondStage,
    /// An HTLC we offered, on the peer's current commitment, taken back after `cltv_expiry`.
    RemoteHtlcTimeout { payment_hash: [u8; 32] },
    /// An HTLC the peer offered, on its current commitment, taken with the preimage.
    RemoteHtlcPreimage { payment_hash: [u8; 32] },
    /// The peer's `to_local` on a revoked commitment, with the revocation key.
    RevokedToLocal,
    /// Any HTLC output of a revoked commitment, with the revocation key.
    RevokedHtlc { payment_hash: [u8; 32] },
    /// The output of the cheater's HTLC transaction on a revoked commitment.
    RevokedSecondStage,
}

impl ClaimKind {
    /// A revocation path: valid at once, and batchable in [`super::justice_tx`].
    pub fn is_justice(&self) -> bool {
        matches!(
            self,
            ClaimKind::RevokedToLocal
                | ClaimKind::RevokedHtlc { .. }
                | ClaimKind::RevokedSecondStage
        )
    }

    /// An output that is (or, revoked, may be) an HTLC we offered: the peer may take it with
    /// the preimage, which we then owe upstream.
    pub fn is_offered_htlc(&self) -> bool {
        matches!(
            self,
            ClaimKind::HtlcTimeout { .. }
                | ClaimKind::RemoteHtlcTimeout { .. }
                | ClaimKind::RevokedHtlc { .. }
        )
    }
}

/// One output we can take: where it is, what it is worth, from when, and how to sign for it.
#[derive(Clone)]
pub struct Claim {
    pub outpoint: OutPoint,
    pub value_sat: u64,
    pub kind: ClaimKind,
    /// Blocks the spent transaction must have been confirmed before the spend is valid
    /// (BIP 68 relative locktime; 0 = none).
    pub csv: u16,
    /// Absolute locktime (a block height) of the spend; 0 = none.
    pub cltv: u32,
    pub(crate) how: How,
}

impl std::fmt::Debug for Claim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `how` holds private keys.
        f.debug_struct("Claim")
            .field("outpoint", &self.outpoint)
            .field("value_sat", &self.value_sat)
            .field("kind", &self.kind)
            .field("csv", &self.csv)
            .field("cltv", &self.cltv)
            .finish_non_exhaustive()
    }
}

/// The signing material of a claim (private keys: never logged).
#[derive(Clone)]
pub(crate) enum How {
    /// `to_local`-style output of ours: our delayed key after the delay.
    Delayed {
        revocation_key: PublicKey,
        to_self_delay: u16,
        delayed_privkey: SecretKey,
    },
    ToRemote {
        channel_type: ChannelType,
        payment_privkey: SecretKey,
    },
    /// A second-stage transaction of our commitment; `delayed_privkey` is for its output.
    HtlcTx {
        htlc_tx: Box<HtlcTx>,
        remote_sig: Signature,
        htlc_privkey: SecretKey,
        preimage: Option<PaymentPreimage>,
        delayed_privkey: SecretKey,
        revocation_key: PublicKey,
        to_self_delay: u16,
    },
    /// An HTLC output of the peer's commitment, spent directly with our HTLC key.
    RemoteHtlc {
        channel_type: ChannelType,
        keys: CommitmentKeys,
        htlc: Htlc,
        htlc_privkey: SecretKey,
        preimage: Option<PaymentPreimage>,
    },
    /// A revoked `to_local`-style output.
    RevokedDelayed {
        revocation_privkey: SecretKey,
        to_self_delay: u16,
        local_delayed_key: PublicKey,
    },
    /// A revoked HTLC output.
    RevokedHtlc {
        channel_type: ChannelType,
        keys: CommitmentKeys,
        htlc: Htlc,
        revocation_privkey: SecretKey,
    },
}

impl Claim {
    fn spent(&self) -> SpentOutput {
        SpentOutput {
            outpoint: self.outpoint,
            value_sat: self.value_sat,
        }
    }

    /// The first block height that may include the spend, when the spent transaction was
    /// confirmed at `confirmed_at`. A mempool takes it once the tip is one below.
    pub fn earliest_block(&self, confirmed_at: u32) -> u32 {
        let csv = confirmed_at + u32::from(self.csv);
        // nLockTime is a height the block must be above.
        let cltv = if self.cltv == 0 { 0 } else { self.cltv + 1 };
        csv.max(cltv)
    }

    /// The signed transaction taking this output to `dest` (its fee taken from the value).
    ///
    /// [`ClaimKind::HtlcTimeout`] and [`ClaimKind::HtlcSuccess`] ignore `dest`: they are the
    /// second-stage transactions both peers pre-signed, paying into our delayed script. On a
    /// static_remotekey channel they carry their own fee. On an anchors channel they pay none:
    /// broadcast them with [`Claim::spend_with_fee_input`] (or as a package with a child).
    ///
    /// # Errors
    /// A fee above the value, or a signature that does not verify (a corrupt state).
    pub fn spend(&self, dest: &Destination) -> Result<Transaction, OnchainError> {
        let spent = self.spent();
        Ok(match &self.how {
            How::Delayed {
                revocation_key,
                to_self_delay,
                delayed_privkey,
            } => spend_delayed(
                &spent,
                revocation_key,
                *to_self_delay,
                delayed_privkey,
                dest,
            )?,
            How::ToRemote {
                channel_type,
                payment_privkey,
            } => spend_to_remote(*channel_type, &spent, payment_privkey, dest)?,
            How::HtlcTx {
                htlc_tx,
                remote_sig,
                htlc_privkey,
                preimage,
                ..
            } => sign_htlc_tx(htlc_tx, remote_sig, htlc_privkey, preimage.as_ref())?,
            How::RemoteHtlc {
                channel_type,
                keys,
                htlc,
                htlc_privkey,
                preimage,
            } => match preimage {
                Some(p) => spend_offered_htlc_with_preimage(
                    *channel_type,
                    &spent,
                    keys,
                    htlc,
                    htlc_privkey,
                    p,
                    dest,
                )?,
                None => spend_received_htlc_after_timeout(
                    *channel_type,
                    &spent,
                    keys,
                    htlc,
                    htlc_privkey,
                    dest,
                )?,
            },
            How::RevokedDelayed {
                revocation_privkey,
                to_self_delay,
                local_delayed_key,
            } => spend_delayed_revoked(
                &spent,
                revocation_privkey,
                *to_self_delay,
                local_delayed_key,
                dest,
            )?,
            How::RevokedHtlc {
                channel_type,
                keys,
                htlc,
                revocation_privkey,
            } => spend_htlc_revoked(*channel_type, &spent, keys, htlc, revocation_privkey, dest)?,
        })
    }

    /// Anchors channels: our zero-fee HTLC transaction with a wallet input and a change output
    /// attached (the peer's `SINGLE|ANYONECANPAY` signature allows it), our signature made
    /// after. The wallet input (index 1) is left for the caller to sign, e.g. with
    /// [`crate::bolt3::spend::sign_p2wpkh_input`]; the fee is its value minus `change`.
    ///
    /// # Errors
    /// [`OnchainError::NoFeeInput`] for any other claim, or a static_remotekey channel.
    pub fn spend_with_fee_input(
        &self,
        input: OutPoint,
        change: TxOut,
    ) -> Result<Transaction, OnchainError> {
        let no = OnchainError::NoFeeInput { kind: self.kind };
        let How::HtlcTx {
            htlc_tx,
            remote_sig,
            htlc_privkey,
            preimage,
            ..
        } = &self.how
        else {
            return Err(no);
        };
        if !htlc_tx.channel_type.has_anchors() {
            return Err(no);
        }
        let mut h = (**htlc_tx).clone();
        h.attach_fee_input(input, change)?;
        sign_htlc_tx(&h, remote_sig, htlc_privkey, preimage.as_ref())
    }

    /// [`Claim::spend_with_fee_input`] with the change output optional: without it, the whole
    /// wallet input goes to the fee (a coin too small to leave change above dust).
    pub(crate) fn htlc_tx_with_inputs(
        &self,
        input: OutPoint,
        change: Option<TxOut>,
    ) -> Result<Transaction, OnchainError> {
        if let Some(change) = change {
            return self.spend_with_fee_input(input, change);
        }
        let no = OnchainError::NoFeeInput { kind: self.kind };
        let How::HtlcTx {
            htlc_tx,
            remote_sig,
            htlc_privkey,
            preimage,
            ..
        } = &self.how
        else {
            return Err(no);
        };
        if !htlc_tx.channel_type.has_anchors() {
            return Err(no);
        }
        let mut h = (**htlc_tx).clone();
        h.tx.input.push(bitcoin::TxIn {
            previous_output: input,
            script_sig: bitcoin::ScriptBuf::new(),
            sequence: bitcoin::Sequence::ENABLE_RBF_NO_LOCKTIME,
            witness: bitcoin::Witness::new(),
        });
        sign_htlc_tx(&h, remote_sig, htlc_privkey, preimage.as_ref())
    }

    /// The output script of our pre-signed HTLC transaction on an anchors channel (the one a
    /// fee input can be attached to); `None` for any other claim.
    pub(crate) fn zero_fee_htlc_output(&self) -> Option<&bitcoin::Script> {
        match &self.how {
            How::HtlcTx { htlc_tx, .. } if htlc_tx.channel_type.has_anchors() => {
                Some(htlc_tx.tx.output[0].script_pubkey.as_script())
            }
            _ => None,
        }
    }

    /// The block by which this claim should confirm, when the chain sets one: from then on
    /// someone else may take the output. `confirmed_at` is the height of the spent transaction.
    ///
    /// - [`ClaimKind::HtlcSuccess`], [`ClaimKind::RemoteHtlcPreimage`]: the HTLC's
    ///   `cltv_expiry` (the peer times it out after).
    /// - [`ClaimKind::RevokedHtlc`]: its `cltv_expiry` (the cheater's HTLC-timeout; its
    ///   HTLC-success, if it knows the preimage, may come sooner: claim at once anyway).
    /// - [`ClaimKind::RevokedToLocal`], [`ClaimKind::RevokedSecondStage`]: `confirmed_at` plus
    ///   the cheater's delay.
    /// - Everything else: `None`. Our balances wait for no one; for an HTLC we offered
    ///   ([`ClaimKind::HtlcTimeout`], [`ClaimKind::RemoteHtlcTimeout`]) the peer may use the
    ///   preimage as soon as it expires, and the deadline that matters is the incoming HTLC's
    ///   upstream, which the caller knows.
    pub fn deadline(&self, confirmed_at: u32) -> Option<u32> {
        match (&self.kind, &self.how) {
            (ClaimKind::HtlcSuccess { .. }, How::HtlcTx { htlc_tx, .. }) => {
                Some(htlc_tx.htlc.cltv_expiry)
            }
            (ClaimKind::RemoteHtlcPreimage { .. }, How::RemoteHtlc { htlc, .. })
            | (ClaimKind::RevokedHtlc { .. }, How::RevokedHtlc { htlc, .. }) => {
                Some(htlc.cltv_expiry)
            }
            (_, How::RevokedDelayed { to_self_delay, .. }) => {
                Some(confirmed_at.saturating_add(u32::from(*to_self_delay)))
            }
            _ => None,
        }
    }

    /// Once our HTLC-timeout/success transaction `confirmed` (this claim's spend, fee input or
    /// not) is on chain: the claim of its output, ours after `to_self_delay`. `None` for any
    /// other claim or a transaction without that output.
    pub fn second_stage(&self, confirmed: &Transaction) -> Option<Claim> {
        let How::HtlcTx {
            delayed_privkey,
            revocation_key,
            to_self_delay,
            ..
        } = &self.how
        else {
            return None;
        };
        let spk = p2wsh(&to_local_script(
            revocation_key,
            *to_self_delay,
            &delayed_privkey.public_key(crate::bolt3::secp()),
        ));
        // SIGHASH_SINGLE keeps the HTLC output at the index of the HTLC input.
        let vout = confirmed
            .input
            .iter()
            .position(|i| i.previous_output == self.outpoint)?;
        let out = confirmed
            .output
            .get(vout)
            .filter(|o| o.script_pubkey == spk)?;
        Some(Claim {
            outpoint: OutPoint::new(confirmed.compute_txid(), vout as u32),
            value_sat: out.value.to_sat(),
            kind: ClaimKind::SecondStage,
            csv: *to_self_delay,
            cltv: 0,
            how: How::Delayed {
                revocation_key: *revocation_key,
                to_self_delay: *to_self_delay,
                delayed_privkey: *delayed_privkey,
            },
        })
    }
}

/// Our signature on our second-stage transaction `h` (after any fee input is attached), with
/// the peer's from `commitment_signed`; both are checked by `finalize`.
fn sign_htlc_tx(
    h: &HtlcTx,
    remote_sig: &Signature,
    htlc_privkey: &SecretKey,
    preimage: Option<&PaymentPreimage>,
) -> Result<Transaction, OnchainError> {
    let ours = sign_digest(&h.local_sighash()?, htlc_privkey);
    Ok(h.finalize(remote_sig, &ours, preimage)?)
}

/// An HTLC the state knows of, enough to rebuild its scripts on any commitment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KnownHtlc {
    pub payment_hash: [u8; 32],
    pub cltv_expiry: u32,
}

/// Every HTLC in the state: in our commitment, the peer's one or two, and every add in flight.
/// An HTLC settled and gone from all of them is not here: a revoked commitment that still had
/// it needs it from an archive (see [`revoked_claims`]).
pub fn known_htlcs(state: &ChannelState) -> Vec<KnownHtlc> {
    let Some(c) = &state.commitments else {
        return Vec::new();
    };
    let specs = [
        Some(&c.local.spec),
        Some(&c.remote.spec),
        c.remote_waiting.as_ref().map(|r| &r.spec),
    ];
    let in_specs = specs
        .into_iter()
        .flatten()
        .flat_map(|s| s.htlcs.iter().map(|h| &h.add));
    let in_changes = c
        .local_changes
        .all()
        .chain(&c.remote_changes.proposed)
        .chain(&c.remote_changes.acked)
        .chain(&c.remote_changes.signed)
        .filter_map(|u| match u {
            Update::Add(a) => Some(a),
            _ => None,
        });
    let mut out: Vec<KnownHtlc> = in_specs
        .chain(in_changes)
        .map(|a| KnownHtlc {
            payment_hash: a.payment_hash,
            cltv_expiry: a.cltv_expiry,
        })
        .collect();
    out.sort_unstable_by_key(|h| (h.payment_hash, h.cltv_expiry));
    out.dedup();
    out
}

/// The outputs of `tx` that are HTLC outputs of a commitment with keys `k` for one of
/// `candidates`: (output index, the HTLC from the owner's view). The amount is the output's.
pub(crate) fn htlc_outputs(
    ct: ChannelType,
    k: &CommitmentKeys,
    tx: &Transaction,
    candidates: &[KnownHtlc],
) -> Vec<(u32, Htlc)> {
    let mut scripts = Vec::with_capacity(candidates.len() * 2);
    for h in candidates {
        let hash = PaymentHash(h.payment_hash);
        let offered = offered_htlc_script(
            ct,
            &k.revocation_key,
            &k.local_htlc_key,
            &k.remote_htlc_key,
            &hash,
        );
        let received = received_htlc_script(
            ct,
            &k.revocation_key,
            &k.local_htlc_key,
            &k.remote_htlc_key,
            &hash,
            h.cltv_expiry,
        );
        scripts.push((p2wsh(&offered), HtlcDirection::Offered, h));
        scripts.push((p2wsh(&received), HtlcDirection::Received, h));
    }
    tx.output
        .iter()
        .enumerate()
        .filter_map(|(vout, o)| {
            let (_, direction, h) = scripts.iter().find(|(s, _, _)| *s == o.script_pubkey)?;
            Some((
                vout as u32,
                Htlc {
                    direction: *direction,
                    amount_msat: o.value.to_sat() * 1000,
                    payment_hash: PaymentHash(h.payment_hash),
                    cltv_expiry: h.cltv_expiry,
                },
            ))
        })
        .collect()
}

fn anchors_csv(ct: ChannelType) -> u16 {
    u16::from(ct.has_anchors())
}

fn preimage_for(
    preimages: &HashMap<[u8; 32], [u8; 32]>,
    hash: &PaymentHash,
) -> Option<PaymentPreimage> {
    preimages
        .get(&hash.0)
        .map(|p| PaymentPreimage(*p))
        .filter(|p| p.payment_hash() == *hash)
}

/// Everything we can take from `tx`, classified as `spend`. `preimages` maps payment hashes to
/// the preimages we know (HTLCs paid to us, or learnt downstream): a received HTLC is claimed
/// only with its preimage. An empty list for [`Spend::Mutual`] and [`Spend::Unknown`] (a
/// mutual close pays us directly). For [`Spend::RemoteFuture`]: our `to_remote`, and the HTLC
/// outputs we know of when the state kept the peer's point for that commitment.
///
/// # Errors
/// A `spend` that does not match the state, or a state whose commitments cannot be rebuilt.
pub fn claims(
    state: &ChannelState,
    keys: &KeyMaterial,
    spend: &Spend,
    tx: &Transaction,
    preimages: &HashMap<[u8; 32], [u8; 32]>,
) -> Result<Vec<Claim>, OnchainError> {
    match spend {
        Spend::Mutual | Spend::Unknown => Ok(Vec::new()),
        Spend::Local { number } => local::local_claims(state, keys, *number, tx, preimages),
        Spend::RemoteCurrent { number } => {
            remote::remote_claims(state, keys, *number, tx, preimages)
        }
        Spend::RemoteFuture { .. } => remote::future_claims(state, keys, tx, preimages),
        Spend::RemoteRevoked {
            number,
            per_commitment_secret,
        } => revoked_claims(
            state,
            keys,
            tx,
            *number,
            per_commitment_secret,
            &known_htlcs(state),
        ),
    }
}
