//! Second-stage HTLC transactions (BOLT 3 "HTLC-Timeout and HTLC-Success Transactions").
//!
//! The owner of a commitment cannot spend its HTLC outputs straight to itself: its funds must
//! stay claimable by revocation for `to_self_delay`. So an HTLC output is spent by a pre-signed
//! one-input one-output transaction that pays into the same delayed/revocable script as
//! `to_local`. The counterparty's signature is given at commitment time; the owner adds its own
//! (and the preimage, for HTLC-success) when it needs to go on chain.

use bitcoin::absolute::LockTime;
use bitcoin::ecdsa::Signature as BitcoinSignature;
use bitcoin::secp256k1::ecdsa::Signature;
use bitcoin::secp256k1::{Message, PublicKey};
use bitcoin::sighash::EcdsaSighashType;
use bitcoin::transaction::Version;
use bitcoin::{Amount, OutPoint, ScriptBuf, Transaction, TxIn, TxOut, Txid, Witness};

use super::commitment::{CommitmentTx, Htlc};
use super::fees::htlc_tx_fee_sat;
use super::scripts::{p2wsh, to_local_script};
use super::sign::{p2wsh_sighash, verify_digest, ChannelSigner, SigningKey};
use super::witness::{htlc_success_tx_witness, htlc_timeout_tx_witness};
use super::{Bolt3Error, ChannelType, HtlcDirection, PaymentPreimage};

/// What a second-stage transaction needs besides the HTLC itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HtlcTxParams {
    pub channel_type: ChannelType,
    pub commitment_txid: Txid,
    pub output_index: u32,
    pub feerate_per_kw: u32,
    /// The commitment owner's delay.
    pub to_self_delay: u16,
    pub revocation_key: PublicKey,
    pub local_delayed_key: PublicKey,
}

/// Build the unsigned HTLC-timeout (offered HTLC) or HTLC-success (received HTLC) transaction.
///
/// Version 2; locktime `cltv_expiry` for timeout, 0 for success; one input with nSequence 0
/// (1 under anchors); one output of the HTLC amount minus the second-stage fee (zero under
/// anchors) to the `to_local`-style script.
pub fn build_htlc_tx(p: &HtlcTxParams, htlc: &Htlc) -> Result<Transaction, Bolt3Error> {
    let amount_sat = htlc.amount_msat / 1000;
    let fee_sat = htlc_tx_fee_sat(p.channel_type, htlc.direction, p.feerate_per_kw);
    let value = amount_sat
        .checked_sub(fee_sat)
        .ok_or(Bolt3Error::FeeTooHigh {
            fee_sat,
            available_sat: amount_sat,
        })?;
    let lock_time = match htlc.direction {
        HtlcDirection::Offered => LockTime::from_consensus(htlc.cltv_expiry),
        HtlcDirection::Received => LockTime::ZERO,
    };
    Ok(Transaction {
        version: Version::TWO,
        lock_time,
        input: vec![TxIn {
            previous_output: OutPoint::new(p.commitment_txid, p.output_index),
            script_sig: ScriptBuf::new(),
            sequence: p.channel_type.htlc_tx_sequence(),
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value: Amount::from_sat(value),
            script_pubkey: p2wsh(&to_local_script(
                &p.revocation_key,
                p.to_self_delay,
                &p.local_delayed_key,
            )),
        }],
    })
}

/// An unsigned second-stage transaction with what is needed to sign and complete it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HtlcTx {
    pub tx: Transaction,
    pub channel_type: ChannelType,
    pub htlc: Htlc,
    /// Position of the HTLC in the commitment description.
    pub htlc_index: usize,
    /// The witness script of the commitment output it spends.
    pub htlc_script: ScriptBuf,
    /// The value of that output.
    pub htlc_value_sat: u64,
    /// The commitment owner's point (tweaks both HTLC keys).
    pub per_commitment_point: PublicKey,
    pub local_htlc_key: PublicKey,
    pub remote_htlc_key: PublicKey,
    /// The witness script of this transaction's own output (`to_local`-style).
    pub output_script: ScriptBuf,
}

impl CommitmentTx {
    /// The second-stage transaction for HTLC `htlc_index` of the description.
    pub fn htlc_tx(&self, htlc_index: usize) -> Result<HtlcTx, Bolt3Error> {
        let d = &self.description;
        let htlc = *d
            .htlcs
            .get(htlc_index)
            .ok_or(Bolt3Error::NoSuchHtlc(htlc_index))?;
        let output_index =
            self.htlc_output_index[htlc_index].ok_or(Bolt3Error::HtlcTrimmed(htlc_index))?;
        let params = HtlcTxParams {
            channel_type: d.channel_type,
            commitment_txid: self.txid(),
            output_index,
            feerate_per_kw: d.feerate_per_kw,
            to_self_delay: d.to_self_delay,
            revocation_key: d.keys.revocation_key,
            local_delayed_key: d.keys.local_delayed_key,
        };
        Ok(HtlcTx {
            tx: build_htlc_tx(&params, &htlc)?,
            channel_type: d.channel_type,
            htlc,
            htlc_index,
            htlc_script: d.htlc_script(htlc_index)?,
            htlc_value_sat: htlc.amount_msat / 1000,
            per_commitment_point: d.keys.per_commitment_point,
            local_htlc_key: d.keys.local_htlc_key,
            remote_htlc_key: d.keys.remote_htlc_key,
            output_script: d.to_local_script(),
        })
    }

    /// The second-stage transactions of all untrimmed HTLCs, in commitment output order (the
    /// order of the HTLC signatures in `commitment_signed`).
    pub fn htlc_txs(&self) -> Result<Vec<HtlcTx>, Bolt3Error> {
        let mut by_output: Vec<(u32, usize)> = self
            .htlc_output_index
            .iter()
            .enumerate()
            .filter_map(|(i, o)| o.map(|o| (o, i)))
            .collect();
        by_output.sort_unstable();
        by_output
            .into_iter()
            .map(|(_, i)| self.htlc_tx(i))
            .collect()
    }
}

impl HtlcTx {
    /// The digest the counterparty ("remote") signs: `SIGHASH_ALL`, or
    /// `SIGHASH_SINGLE|SIGHASH_ANYONECANPAY` under anchors.
    pub fn remote_sighash(&self) -> Result<Message, Bolt3Error> {
        p2wsh_sighash(
            &self.tx,
            0,
            &self.htlc_script,
            self.htlc_value_sat,
            self.channel_type.counterparty_htlc_sighash(),
        )
    }

    /// The digest the owner signs (`SIGHASH_ALL`).
    pub fn local_sighash(&self) -> Result<Message, Bolt3Error> {
        p2wsh_sighash(
            &self.tx,
            0,
            &self.htlc_script,
            self.htlc_value_sat,
            EcdsaSighashType::All,
        )
    }

    fn signing_key(&self) -> SigningKey {
        SigningKey::Htlc {
            per_commitment_point: self.per_commitment_point,
        }
    }

    /// The counterparty's signature, sent in `commitment_signed`.
    pub fn sign_as_remote(&self, signer: &dyn ChannelSigner) -> Result<Signature, Bolt3Error> {
        signer.sign(self.signing_key(), &self.remote_sighash()?)
    }

    /// The owner's signature, made when broadcasting.
    pub fn sign_as_local(&self, signer: &dyn ChannelSigner) -> Result<Signature, Bolt3Error> {
        signer.sign(self.signing_key(), &self.local_sighash()?)
    }

    /// Check the counterparty's signature (on receiving `commitment_signed`).
    pub fn verify_remote(&self, sig: &Signature) -> Result<(), Bolt3Error> {
        verify_digest(&self.remote_sighash()?, sig, &self.remote_htlc_key)
    }

    /// Check the owner's signature.
    pub fn verify_local(&self, sig: &Signature) -> Result<(), Bolt3Error> {
        verify_digest(&self.local_sighash()?, sig, &self.local_htlc_key)
    }

    /// Attach a fee-paying input and a change output to a zero-fee (anchors) HTLC transaction,
    /// before the owner signs. The counterparty's `SINGLE|ANYONECANPAY` signature stays valid;
    /// the owner's `SIGHASH_ALL` signature must be made afterwards. The new input's witness is
    /// the wallet's to fill (e.g. [`super::spend::sign_p2wpkh_input`]) after [`Self::finalize`].
    pub fn attach_fee_input(&mut self, input: OutPoint, change: TxOut) -> Result<(), Bolt3Error> {
        if !self.channel_type.has_anchors() {
            return Err(Bolt3Error::BadTransaction(
                "only zero-fee HTLC transactions take extra inputs",
            ));
        }
        self.tx.input.push(TxIn {
            previous_output: input,
            script_sig: ScriptBuf::new(),
            sequence: bitcoin::Sequence::ENABLE_RBF_NO_LOCKTIME,
            witness: Witness::new(),
        });
        self.tx.output.push(change);
        Ok(())
    }

    /// The broadcastable transaction. HTLC-success needs the preimage; HTLC-timeout ignores it.
    /// Both signatures (and the preimage) are checked first.
    pub fn finalize(
        &self,
        remote_sig: &Signature,
        local_sig: &Signature,
        preimage: Option<&PaymentPreimage>,
    ) -> Result<Transaction, Bolt3Error> {
        self.verify_remote(remote_sig)?;
        self.verify_local(local_sig)?;
        let remote = BitcoinSignature {
            signature: *remote_sig,
            sighash_type: self.channel_type.counterparty_htlc_sighash(),
        };
        let local = BitcoinSignature::sighash_all(*local_sig);
        let witness = match self.htlc.direction {
            HtlcDirection::Offered => htlc_timeout_tx_witness(&remote, &local, &self.htlc_script),
            HtlcDirection::Received => {
                let preimage = preimage.ok_or(Bolt3Error::MissingPreimage)?;
                if preimage.payment_hash() != self.htlc.payment_hash {
                    return Err(Bolt3Error::PreimageMismatch);
                }
                htlc_success_tx_witness(&remote, &local, preimage, &self.htlc_script)
            }
        };
        let mut tx = self.tx.clone();
        tx.input[0].witness = witness;
        Ok(tx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bolt3::secp;
    use crate::bolt3::PaymentHash;
    use bitcoin::hashes::Hash;
    use bitcoin::secp256k1::SecretKey;

    fn params(ct: ChannelType, feerate_per_kw: u32) -> HtlcTxParams {
        let key = SecretKey::from_slice(&[4; 32]).unwrap().public_key(secp());
        HtlcTxParams {
            channel_type: ct,
            commitment_txid: Txid::from_byte_array([2; 32]),
            output_index: 3,
            feerate_per_kw,
            to_self_delay: 144,
            revocation_key: key,
            local_delayed_key: key,
        }
    }

    fn htlc(direction: HtlcDirection, amount_msat: u64) -> Htlc {
        Htlc {
            direction,
            amount_msat,
            payment_hash: PaymentHash([1; 32]),
            cltv_expiry: 777,
        }
    }

    #[test]
    fn shape_per_direction_and_type() {
        let t = build_htlc_tx(
            &params(ChannelType::StaticRemoteKey, 1000),
            &htlc(HtlcDirection::Offered, 10_000_999),
        )
        .unwrap();
        assert_eq!(t.lock_time.to_consensus_u32(), 777);
        assert_eq!(t.input[0].sequence.0, 0);
        assert_eq!(t.input[0].previous_output.vout, 3);
        assert_eq!(t.output[0].value.to_sat(), 10_000 - 663);
        let t = build_htlc_tx(
            &params(ChannelType::AnchorsZeroFeeHtlc, 1000),
            &htlc(HtlcDirection::Received, 10_000_999),
        )
        .unwrap();
        assert_eq!(t.lock_time.to_consensus_u32(), 0);
        assert_eq!(t.input[0].sequence.0, 1);
        assert_eq!(t.output[0].value.to_sat(), 10_000);
    }

    #[test]
    fn fee_above_amount_is_an_error() {
        assert_eq!(
            build_htlc_tx(
                &params(ChannelType::StaticRemoteKey, 10_000),
                &htlc(HtlcDirection::Received, 7_000_000)
            ),
            Err(Bolt3Error::FeeTooHigh {
                fee_sat: 7030,
                available_sat: 7000
            })
        );
    }
}
