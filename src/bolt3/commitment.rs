//! The commitment transaction (BOLT 3 "Commitment Transaction" and "Commitment Transaction
//! Construction").
//!
//! [`build_commitment_tx`] works from the point of view of the commitment's *owner* ("local"):
//! to_local is the owner's delayed balance, offered HTLCs are paid by the owner. The two peers
//! build each other's commitments with the same function by swapping roles; [`super::channel`]
//! does that swap from one peer's fixed point of view.

use std::cmp::Ordering;

use bitcoin::absolute::LockTime;
use bitcoin::ecdsa::Signature as BitcoinSignature;
use bitcoin::hashes::{sha256, Hash, HashEngine};
use bitcoin::secp256k1::PublicKey;
use bitcoin::sighash::EcdsaSighashType;
use bitcoin::transaction::Version;
use bitcoin::{Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid, Witness};

use super::fees::{self, commitment_fee_sat, is_trimmed, ANCHOR_OUTPUT_SAT};
use super::keys::CommitmentKeys;
use super::scripts::{
    anchor_script, funding_script, offered_htlc_script, p2wsh, received_htlc_script,
    to_local_script, to_remote_script_pubkey,
};
use super::secrets::FIRST_INDEX;
use super::sign::{p2wsh_sighash, verify_digest, ChannelSigner, SigningKey};
use super::witness::funding_witness;
use super::{Bolt3Error, ChannelType, HtlcDirection, PaymentHash};

/// An HTLC as it appears on one commitment transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Htlc {
    /// Seen from the commitment's owner.
    pub direction: HtlcDirection,
    /// Rounded down to whole satoshis on chain; the remainder goes to the fee.
    pub amount_msat: u64,
    pub payment_hash: PaymentHash,
    /// Absolute block height after which the offerer may time it out.
    pub cltv_expiry: u32,
}

/// The lower 48 bits of `SHA256(opener payment_basepoint || accepter payment_basepoint)`,
/// XORed into the commitment number so a published commitment does not reveal how many
/// updates the channel had, to anyone but the two peers.
pub fn obscuring_factor(opener_payment_basepoint: &PublicKey, accepter: &PublicKey) -> u64 {
    let mut engine = sha256::Hash::engine();
    engine.input(&opener_payment_basepoint.serialize());
    engine.input(&accepter.serialize());
    let h = sha256::Hash::from_engine(engine).to_byte_array();
    let mut n = [0u8; 8];
    n[2..].copy_from_slice(&h[26..]);
    u64::from_be_bytes(n)
}

/// Everything that determines one commitment transaction, from its owner's point of view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitmentDescription {
    pub channel_type: ChannelType,
    pub funding_outpoint: OutPoint,
    pub funding_sat: u64,
    /// The owner's funding key.
    pub local_funding_pubkey: PublicKey,
    pub remote_funding_pubkey: PublicKey,
    /// 0 for the first commitment; at most `2^48 - 1`.
    pub commitment_number: u64,
    /// See [`obscuring_factor`].
    pub obscuring_factor: u64,
    /// Whether the owner opened the channel: the opener pays the fee and the anchors.
    pub local_is_opener: bool,
    /// The owner's balance, HTLCs in flight excluded.
    pub to_local_msat: u64,
    pub to_remote_msat: u64,
    pub htlcs: Vec<Htlc>,
    pub feerate_per_kw: u32,
    /// The owner's `dust_limit_satoshis`.
    pub dust_limit_sat: u64,
    /// The delay on the owner's own outputs, chosen by the other peer.
    pub to_self_delay: u16,
    pub keys: CommitmentKeys,
}

/// What an output of a commitment transaction is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutputKind {
    ToLocal,
    ToRemote,
    LocalAnchor,
    RemoteAnchor,
    /// Index into [`CommitmentDescription::htlcs`].
    Htlc(usize),
}

/// A built commitment transaction with what is needed to sign and spend it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitmentTx {
    /// The transaction with an empty witness; see [`CommitmentTx::finalize`].
    pub tx: Transaction,
    /// What each output is, by output index.
    pub outputs: Vec<OutputKind>,
    /// For each HTLC of the description, its output index, or `None` if trimmed.
    pub htlc_output_index: Vec<Option<u32>>,
    /// The fee computed from the expected weight, before trimming and rounding.
    pub base_fee_sat: u64,
    /// What the transaction actually pays: funding minus all outputs.
    pub fee_sat: u64,
    /// The description it was built from.
    pub description: CommitmentDescription,
}

struct PendingOutput {
    txout: TxOut,
    cltv: u32,
    kind: OutputKind,
}

/// BIP 69 (amount, then output script bytes), then for the otherwise identical outputs of
/// offered HTLCs sharing a payment hash and amount, the lower `cltv_expiry` first.
fn output_order(a: &PendingOutput, b: &PendingOutput) -> Ordering {
    a.txout
        .value
        .cmp(&b.txout.value)
        .then_with(|| {
            a.txout
                .script_pubkey
                .as_bytes()
                .cmp(b.txout.script_pubkey.as_bytes())
        })
        .then_with(|| a.cltv.cmp(&b.cltv))
}

/// The amounts (msat) a transaction distributes must add up to the funding exactly: a
/// mismatch means the caller's state is wrong, and signing it would lose or invent money.
pub(crate) fn check_balances(
    funding_sat: u64,
    amounts_msat: impl IntoIterator<Item = u64>,
) -> Result<(), Bolt3Error> {
    let total = amounts_msat
        .into_iter()
        .try_fold(0u64, |sum, a| sum.checked_add(a))
        .ok_or(Bolt3Error::AmountOverflow)?;
    let funding_msat = funding_sat
        .checked_mul(1000)
        .ok_or(Bolt3Error::AmountOverflow)?;
    if total != funding_msat {
        return Err(Bolt3Error::BalanceMismatch {
            funding_msat,
            total_msat: total,
        });
    }
    Ok(())
}

impl CommitmentDescription {
    /// The witness script of HTLC `i` (whether or not it is trimmed).
    pub fn htlc_script(&self, i: usize) -> Result<ScriptBuf, Bolt3Error> {
        let h = self.htlcs.get(i).ok_or(Bolt3Error::NoSuchHtlc(i))?;
        let k = &self.keys;
        Ok(match h.direction {
            HtlcDirection::Offered => offered_htlc_script(
                self.channel_type,
                &k.revocation_key,
                &k.local_htlc_key,
                &k.remote_htlc_key,
                &h.payment_hash,
            ),
            HtlcDirection::Received => received_htlc_script(
                self.channel_type,
                &k.revocation_key,
                &k.local_htlc_key,
                &k.remote_htlc_key,
                &h.payment_hash,
                h.cltv_expiry,
            ),
        })
    }

    /// The witness script of the `to_local` output.
    pub fn to_local_script(&self) -> ScriptBuf {
        to_local_script(
            &self.keys.revocation_key,
            self.to_self_delay,
            &self.keys.local_delayed_key,
        )
    }

    /// The 2-of-2 funding witness script.
    pub fn funding_script(&self) -> ScriptBuf {
        funding_script(&self.local_funding_pubkey, &self.remote_funding_pubkey)
    }

    /// Whether HTLC `h` gets an output under this commitment's dust limit and feerate.
    pub fn is_htlc_trimmed(&self, h: &Htlc) -> bool {
        is_trimmed(
            self.channel_type,
            h.direction,
            h.amount_msat,
            self.feerate_per_kw,
            self.dust_limit_sat,
        )
    }
}

/// Build the commitment transaction described by `d` (BOLT 3 "Commitment Transaction
/// Construction"): trim, take the base fee and anchors from the opener (floor 0), drop balance
/// outputs below the dust limit, add anchors, sort.
pub fn build_commitment_tx(d: &CommitmentDescription) -> Result<CommitmentTx, Bolt3Error> {
    if d.commitment_number > FIRST_INDEX {
        return Err(Bolt3Error::NumberTooLarge(d.commitment_number));
    }
    check_balances(
        d.funding_sat,
        [d.to_local_msat, d.to_remote_msat]
            .into_iter()
            .chain(d.htlcs.iter().map(|h| h.amount_msat)),
    )?;
    let ct = d.channel_type;

    let untrimmed: Vec<usize> = (0..d.htlcs.len())
        .filter(|&i| !d.is_htlc_trimmed(&d.htlcs[i]))
        .collect();
    let base_fee_sat = commitment_fee_sat(ct, d.feerate_per_kw, untrimmed.len());
    let opener_cost = base_fee_sat + ct.anchors_total_sat();

    let mut to_local_sat = d.to_local_msat / 1000;
    let mut to_remote_sat = d.to_remote_msat / 1000;
    if d.local_is_opener {
        to_local_sat = to_local_sat.saturating_sub(opener_cost);
    } else {
        to_remote_sat = to_remote_sat.saturating_sub(opener_cost);
    }
    let has_to_local = to_local_sat >= d.dust_limit_sat;
    let has_to_remote = to_remote_sat >= d.dust_limit_sat;

    let mut pending = Vec::with_capacity(untrimmed.len() + 4);
    if has_to_local {
        pending.push(PendingOutput {
            txout: TxOut {
                value: Amount::from_sat(to_local_sat),
                script_pubkey: p2wsh(&d.to_local_script()),
            },
            cltv: 0,
            kind: OutputKind::ToLocal,
        });
    }
    if has_to_remote {
        pending.push(PendingOutput {
            txout: TxOut {
                value: Amount::from_sat(to_remote_sat),
                script_pubkey: to_remote_script_pubkey(ct, &d.keys.remote_payment_key),
            },
            cltv: 0,
            kind: OutputKind::ToRemote,
        });
    }
    // An anchor exists for each side that has something to protect on this commitment:
    // its balance output, or any HTLC.
    if ct.has_anchors() {
        let anchors = [
            (
                has_to_local,
                &d.local_funding_pubkey,
                OutputKind::LocalAnchor,
            ),
            (
                has_to_remote,
                &d.remote_funding_pubkey,
                OutputKind::RemoteAnchor,
            ),
        ];
        for (has_balance, key, kind) in anchors {
            if has_balance || !untrimmed.is_empty() {
                pending.push(PendingOutput {
                    txout: TxOut {
                        value: Amount::from_sat(ANCHOR_OUTPUT_SAT),
                        script_pubkey: p2wsh(&anchor_script(key)),
                    },
                    cltv: 0,
                    kind,
                });
            }
        }
    }
    for &i in &untrimmed {
        let h = &d.htlcs[i];
        pending.push(PendingOutput {
            txout: TxOut {
                value: Amount::from_sat(h.amount_msat / 1000),
                script_pubkey: p2wsh(&d.htlc_script(i)?),
            },
            cltv: h.cltv_expiry,
            kind: OutputKind::Htlc(i),
        });
    }
    pending.sort_by(output_order);

    let mut htlc_output_index = vec![None; d.htlcs.len()];
    let mut outputs = Vec::with_capacity(pending.len());
    let mut txouts = Vec::with_capacity(pending.len());
    for (index, p) in pending.into_iter().enumerate() {
        if let OutputKind::Htlc(i) = p.kind {
            htlc_output_index[i] = Some(index as u32);
        }
        outputs.push(p.kind);
        txouts.push(p.txout);
    }
    let total_out: u64 = txouts.iter().map(|o| o.value.to_sat()).sum();
    // The opener's balance is floored at zero, but the anchors are still added for HTLCs: a
    // state whose opener cannot pay fee and anchors would spend more than the funding. The
    // channel never agrees to such a state (reserve checks); here it is an error, not a panic.
    let opener_msat = if d.local_is_opener {
        d.to_local_msat
    } else {
        d.to_remote_msat
    };
    let fee_sat = d
        .funding_sat
        .checked_sub(total_out)
        .ok_or(Bolt3Error::FeeTooHigh {
            fee_sat: opener_cost,
            available_sat: opener_msat / 1000,
        })?;

    let obscured = d.commitment_number ^ d.obscuring_factor;
    let tx = Transaction {
        version: Version::TWO,
        lock_time: LockTime::from_consensus(0x2000_0000 | (obscured & 0x00ff_ffff) as u32),
        input: vec![TxIn {
            previous_output: d.funding_outpoint,
            script_sig: ScriptBuf::new(),
            sequence: Sequence(0x8000_0000 | ((obscured >> 24) & 0x00ff_ffff) as u32),
            witness: Witness::new(),
        }],
        output: txouts,
    };
    Ok(CommitmentTx {
        tx,
        outputs,
        htlc_output_index,
        base_fee_sat,
        fee_sat,
        description: d.clone(),
    })
}

impl CommitmentTx {
    pub fn txid(&self) -> Txid {
        self.tx.compute_txid()
    }

    /// The commitment number recovered from a commitment's locktime and sequence: what a node
    /// does on seeing a commitment on chain, to find which (possibly revoked) state it is.
    pub fn decode_commitment_number(tx: &Transaction, obscuring_factor: u64) -> Option<u64> {
        let lock = tx.lock_time.to_consensus_u32();
        let seq = tx.input.first()?.sequence.0;
        if lock >> 24 != 0x20 || seq >> 24 != 0x80 {
            return None;
        }
        let obscured = (u64::from(seq & 0x00ff_ffff) << 24) | u64::from(lock & 0x00ff_ffff);
        Some(obscured ^ obscuring_factor)
    }

    /// Output index of the owner's balance, if not trimmed.
    pub fn to_local_output(&self) -> Option<u32> {
        self.find(OutputKind::ToLocal)
    }

    /// Output index of the other peer's balance, if not trimmed.
    pub fn to_remote_output(&self) -> Option<u32> {
        self.find(OutputKind::ToRemote)
    }

    /// Output index of the owner's anchor (anchors channels).
    pub fn local_anchor_output(&self) -> Option<u32> {
        self.find(OutputKind::LocalAnchor)
    }

    /// Output index of the other peer's anchor (anchors channels).
    pub fn remote_anchor_output(&self) -> Option<u32> {
        self.find(OutputKind::RemoteAnchor)
    }

    fn find(&self, kind: OutputKind) -> Option<u32> {
        self.outputs
            .iter()
            .position(|k| *k == kind)
            .map(|i| i as u32)
    }

    /// The digest both funding keys sign (`SIGHASH_ALL`).
    pub fn sighash(&self) -> Result<bitcoin::secp256k1::Message, Bolt3Error> {
        let d = &self.description;
        p2wsh_sighash(
            &self.tx,
            0,
            &d.funding_script(),
            d.funding_sat,
            EcdsaSighashType::All,
        )
    }

    /// Our funding signature on this commitment (ours or the peer's: the digest is the same).
    pub fn sign(&self, signer: &dyn ChannelSigner) -> Result<BitcoinSignature, Bolt3Error> {
        let signature = signer.sign(SigningKey::Funding, &self.sighash()?)?;
        Ok(BitcoinSignature::sighash_all(signature))
    }

    /// Check a funding signature from `funding_pubkey` on this commitment.
    pub fn verify(
        &self,
        sig: &bitcoin::secp256k1::ecdsa::Signature,
        funding_pubkey: &PublicKey,
    ) -> Result<(), Bolt3Error> {
        verify_digest(&self.sighash()?, sig, funding_pubkey)
    }

    /// The transaction with the funding witness filled in, from the owner's (`local`) and the
    /// other peer's (`remote`) signatures; both are verified first.
    pub fn finalize(
        &self,
        local_sig: &bitcoin::secp256k1::ecdsa::Signature,
        remote_sig: &bitcoin::secp256k1::ecdsa::Signature,
    ) -> Result<Transaction, Bolt3Error> {
        let d = &self.description;
        self.verify(local_sig, &d.local_funding_pubkey)?;
        self.verify(remote_sig, &d.remote_funding_pubkey)?;
        let mut tx = self.tx.clone();
        tx.input[0].witness = funding_witness(
            &d.local_funding_pubkey,
            &BitcoinSignature::sighash_all(*local_sig),
            &d.remote_funding_pubkey,
            &BitcoinSignature::sighash_all(*remote_sig),
            &d.funding_script(),
        );
        Ok(tx)
    }
}

/// What the opener's balance pays on a commitment with `untrimmed` HTLC outputs: the base fee
/// plus, for anchors, both anchors. Channel logic uses it to check an update is affordable.
pub fn opener_cost_sat(channel_type: ChannelType, feerate_per_kw: u32, untrimmed: usize) -> u64 {
    fees::commitment_fee_sat(channel_type, feerate_per_kw, untrimmed)
        + channel_type.anchors_total_sat()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::secp256k1::SecretKey;

    fn key(b: u8) -> PublicKey {
        SecretKey::from_slice(&[b; 32])
            .unwrap()
            .public_key(super::super::secp())
    }

    fn description(ct: ChannelType) -> CommitmentDescription {
        CommitmentDescription {
            channel_type: ct,
            funding_outpoint: OutPoint::null(),
            funding_sat: 1_000_000,
            local_funding_pubkey: key(1),
            remote_funding_pubkey: key(2),
            commitment_number: 7,
            obscuring_factor: obscuring_factor(&key(3), &key(4)),
            local_is_opener: true,
            to_local_msat: 600_000_000,
            to_remote_msat: 390_000_000,
            htlcs: vec![
                Htlc {
                    direction: HtlcDirection::Offered,
                    amount_msat: 5_000_000,
                    payment_hash: PaymentHash([1; 32]),
                    cltv_expiry: 100,
                },
                Htlc {
                    direction: HtlcDirection::Received,
                    amount_msat: 5_000_000,
                    payment_hash: PaymentHash([2; 32]),
                    cltv_expiry: 100,
                },
            ],
            feerate_per_kw: 2500,
            dust_limit_sat: 546,
            to_self_delay: 144,
            keys: CommitmentKeys {
                per_commitment_point: key(5),
                revocation_key: key(6),
                local_htlc_key: key(7),
                remote_htlc_key: key(8),
                local_delayed_key: key(9),
                remote_payment_key: key(10),
            },
        }
    }

    #[test]
    fn commitment_number_round_trips_through_locktime_and_sequence() {
        for n in [0u64, 1, 42, 0xffffff, 0x1000000, FIRST_INDEX] {
            let mut d = description(ChannelType::AnchorsZeroFeeHtlc);
            d.commitment_number = n;
            let c = build_commitment_tx(&d).unwrap();
            assert_eq!(
                CommitmentTx::decode_commitment_number(&c.tx, d.obscuring_factor),
                Some(n)
            );
        }
        let mut d = description(ChannelType::AnchorsZeroFeeHtlc);
        d.commitment_number = FIRST_INDEX + 1;
        assert_eq!(
            build_commitment_tx(&d),
            Err(Bolt3Error::NumberTooLarge(FIRST_INDEX + 1))
        );
    }

    #[test]
    fn unbalanced_description_is_refused() {
        let mut d = description(ChannelType::StaticRemoteKey);
        d.to_local_msat += 1;
        assert_eq!(
            build_commitment_tx(&d),
            Err(Bolt3Error::BalanceMismatch {
                funding_msat: 1_000_000_000,
                total_msat: 1_000_000_001
            })
        );
        d.to_local_msat = u64::MAX;
        assert_eq!(build_commitment_tx(&d), Err(Bolt3Error::AmountOverflow));
    }

    #[test]
    fn non_opener_balance_is_untouched_and_opener_pays_fee_and_anchors() {
        for ct in [
            ChannelType::StaticRemoteKey,
            ChannelType::AnchorsZeroFeeHtlc,
        ] {
            for opener in [true, false] {
                let mut d = description(ct);
                d.local_is_opener = opener;
                let c = build_commitment_tx(&d).unwrap();
                let value = |i: Option<u32>| c.tx.output[i.unwrap() as usize].value.to_sat();
                let cost = opener_cost_sat(ct, d.feerate_per_kw, 2);
                let (payer, other) = if opener {
                    (value(c.to_local_output()), value(c.to_remote_output()))
                } else {
                    (value(c.to_remote_output()), value(c.to_local_output()))
                };
                let (payer_bal, other_bal) = if opener {
                    (600_000, 390_000)
                } else {
                    (390_000, 600_000)
                };
                assert_eq!(other, other_bal);
                assert_eq!(payer, payer_bal - cost);
                assert_eq!(c.fee_sat, c.base_fee_sat);
                assert_eq!(
                    c.local_anchor_output().is_some(),
                    ct.has_anchors(),
                    "anchors only on anchor channels"
                );
            }
        }
    }

    #[test]
    fn anchors_survive_with_htlcs_even_when_balances_are_dust() {
        let mut d = description(ChannelType::AnchorsZeroFeeHtlc);
        d.to_local_msat = 0;
        d.to_remote_msat = 990_000_000;
        d.local_is_opener = false;
        // Remote (opener) pays; local has nothing: still both anchors, since HTLCs are pending.
        let c = build_commitment_tx(&d).unwrap();
        assert!(c.to_local_output().is_none());
        assert!(c.local_anchor_output().is_some());
        assert!(c.remote_anchor_output().is_some());
        // Without HTLCs the local anchor goes away.
        d.to_remote_msat += 10_000_000;
        d.htlcs.clear();
        let c = build_commitment_tx(&d).unwrap();
        assert!(c.local_anchor_output().is_none());
        assert!(c.remote_anchor_output().is_some());
    }
}
