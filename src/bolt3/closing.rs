//! The mutual close transaction (BOLT 3 "Closing Transaction").
//!
//! We build the classic `closing_signed` variant: the opener pays the agreed fee, each output is
//! rounded down to whole satoshis and dropped below the signer's dust limit, BIP 69 order,
//! nSequence 0xFFFFFFFF, locktime 0.

use bitcoin::absolute::LockTime;
use bitcoin::secp256k1::ecdsa::Signature;
use bitcoin::secp256k1::{Message, PublicKey};
use bitcoin::transaction::Version;
use bitcoin::{Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Witness};

use super::commitment::check_balances;
use super::funding::{bip69_output_order, finalize_funding_spend, funding_spend_sighash};
use super::sign::{verify_digest, ChannelSigner, SigningKey};
use super::Bolt3Error;

/// Everything that determines a closing transaction, from the signer's ("local") view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosingDescription {
    pub funding_outpoint: OutPoint,
    pub funding_sat: u64,
    pub local_funding_pubkey: PublicKey,
    pub remote_funding_pubkey: PublicKey,
    /// The opener pays `fee_sat`.
    pub local_is_opener: bool,
    pub to_local_msat: u64,
    pub to_remote_msat: u64,
    /// The `scriptpubkey` each peer gave in `shutdown`.
    pub local_script: ScriptBuf,
    pub remote_script: ScriptBuf,
    pub fee_sat: u64,
    /// The signer's own `dust_limit_satoshis`.
    pub dust_limit_sat: u64,
}

/// A built closing transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosingTx {
    /// Empty witness; see [`ClosingTx::finalize`].
    pub tx: Transaction,
    pub local_output: Option<u32>,
    pub remote_output: Option<u32>,
    pub description: ClosingDescription,
}

/// Build the closing transaction.
pub fn build_closing_tx(d: &ClosingDescription) -> Result<ClosingTx, Bolt3Error> {
    check_balances(d.funding_sat, [d.to_local_msat, d.to_remote_msat])?;
    let mut local_sat = d.to_local_msat / 1000;
    let mut remote_sat = d.to_remote_msat / 1000;
    let payer = if d.local_is_opener {
        &mut local_sat
    } else {
        &mut remote_sat
    };
    *payer = payer.checked_sub(d.fee_sat).ok_or(Bolt3Error::FeeTooHigh {
        fee_sat: d.fee_sat,
        available_sat: *payer,
    })?;

    let mut outs: Vec<(TxOut, bool)> = Vec::new();
    if local_sat >= d.dust_limit_sat {
        outs.push((
            TxOut {
                value: Amount::from_sat(local_sat),
                script_pubkey: d.local_script.clone(),
            },
            true,
        ));
    }
    if remote_sat >= d.dust_limit_sat {
        outs.push((
            TxOut {
                value: Amount::from_sat(remote_sat),
                script_pubkey: d.remote_script.clone(),
            },
            false,
        ));
    }
    if outs.is_empty() {
        return Err(Bolt3Error::BadTransaction(
            "closing transaction without outputs",
        ));
    }
    outs.sort_by(|a, b| bip69_output_order(&a.0, &b.0));
    let local_output = outs.iter().position(|o| o.1).map(|i| i as u32);
    let remote_output = outs.iter().position(|o| !o.1).map(|i| i as u32);
    Ok(ClosingTx {
        tx: Transaction {
            version: Version::TWO,
            lock_time: LockTime::ZERO,
            input: vec![TxIn {
                previous_output: d.funding_outpoint,
                script_sig: ScriptBuf::new(),
                sequence: Sequence::MAX,
                witness: Witness::new(),
            }],
            output: outs.into_iter().map(|o| o.0).collect(),
        },
        local_output,
        remote_output,
        description: d.clone(),
    })
}

impl ClosingTx {
    /// The digest both funding keys sign.
    pub fn sighash(&self) -> Result<Message, Bolt3Error> {
        let d = &self.description;
        funding_spend_sighash(
            &self.tx,
            d.funding_sat,
            &d.local_funding_pubkey,
            &d.remote_funding_pubkey,
        )
    }

    /// Sign with the funding key.
    pub fn sign(&self, signer: &dyn ChannelSigner) -> Result<Signature, Bolt3Error> {
        signer.sign(SigningKey::Funding, &self.sighash()?)
    }

    /// Check the peer's signature.
    pub fn verify_remote(&self, sig: &Signature) -> Result<(), Bolt3Error> {
        verify_digest(
            &self.sighash()?,
            sig,
            &self.description.remote_funding_pubkey,
        )
    }

    /// The broadcastable transaction, both signatures checked.
    pub fn finalize(
        &self,
        local_sig: &Signature,
        remote_sig: &Signature,
    ) -> Result<Transaction, Bolt3Error> {
        let d = &self.description;
        finalize_funding_spend(
            &self.tx,
            d.funding_sat,
            &d.local_funding_pubkey,
            local_sig,
            &d.remote_funding_pubkey,
            remote_sig,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::keys::ChannelSecrets;
    use super::super::sign::InMemorySigner;
    use super::*;
    use bitcoin::secp256k1::SecretKey;

    fn signer(b: u8) -> InMemorySigner {
        let k = |x: u8| SecretKey::from_slice(&[x; 32]).unwrap();
        InMemorySigner::new(ChannelSecrets {
            funding_key: k(b),
            revocation_base_secret: k(b + 1),
            payment_base_secret: k(b + 2),
            delayed_payment_base_secret: k(b + 3),
            htlc_base_secret: k(b + 4),
        })
    }

    fn desc(local: &InMemorySigner, remote: &InMemorySigner) -> ClosingDescription {
        ClosingDescription {
            funding_outpoint: OutPoint::null(),
            funding_sat: 100_000,
            local_funding_pubkey: local.pubkeys().funding_pubkey,
            remote_funding_pubkey: remote.pubkeys().funding_pubkey,
            local_is_opener: true,
            to_local_msat: 60_000_500,
            to_remote_msat: 39_999_500,
            local_script: ScriptBuf::from_bytes(vec![
                0x00, 0x14, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
            ]),
            remote_script: ScriptBuf::from_bytes(vec![
                0x00, 0x14, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
            ]),
            fee_sat: 500,
            dust_limit_sat: 546,
        }
    }

    #[test]
    fn opener_pays_fee_outputs_sorted_and_both_sides_agree() {
        let (a, b) = (signer(1), signer(10));
        let d = desc(&a, &b);
        let c = build_closing_tx(&d).unwrap();
        assert_eq!(c.tx.output.len(), 2);
        // remote 39999 < local 59500, so remote first.
        assert_eq!(c.remote_output, Some(0));
        assert_eq!(c.tx.output[1].value.to_sat(), 60_000 - 500);
        assert_eq!(c.tx.output[0].value.to_sat(), 39_999);
        assert_eq!(c.tx.input[0].sequence, Sequence::MAX);

        // The peer builds the mirrored description and gets the same transaction.
        let mirrored = ClosingDescription {
            local_funding_pubkey: d.remote_funding_pubkey,
            remote_funding_pubkey: d.local_funding_pubkey,
            local_is_opener: false,
            to_local_msat: d.to_remote_msat,
            to_remote_msat: d.to_local_msat,
            local_script: d.remote_script.clone(),
            remote_script: d.local_script.clone(),
            ..d.clone()
        };
        let c2 = build_closing_tx(&mirrored).unwrap();
        assert_eq!(c.tx, c2.tx);
        let sig_a = c.sign(&a).unwrap();
        let sig_b = c2.sign(&b).unwrap();
        c.verify_remote(&sig_b).unwrap();
        c2.verify_remote(&sig_a).unwrap();
        let final_a = c.finalize(&sig_a, &sig_b).unwrap();
        let final_b = c2.finalize(&sig_b, &sig_a).unwrap();
        assert_eq!(final_a, final_b);
        assert_eq!(final_a.input[0].witness.len(), 4);
        assert_eq!(
            c.finalize(&sig_b, &sig_a),
            Err(Bolt3Error::InvalidSignature)
        );
    }

    #[test]
    fn dust_outputs_are_dropped_and_bad_fees_refused() {
        let (a, b) = (signer(1), signer(10));
        let mut d = desc(&a, &b);
        d.to_local_msat = 99_500_000;
        d.to_remote_msat = 500_000;
        let c = build_closing_tx(&d).unwrap();
        assert_eq!(c.tx.output.len(), 1);
        assert_eq!(c.remote_output, None);
        assert_eq!(c.local_output, Some(0));
        d.fee_sat = 100_000;
        assert!(matches!(
            build_closing_tx(&d),
            Err(Bolt3Error::FeeTooHigh { .. })
        ));
        d.fee_sat = 99_000;
        assert!(matches!(
            build_closing_tx(&d),
            Err(Bolt3Error::BadTransaction(_))
        ));
        d.to_remote_msat += 1;
        assert!(matches!(
            build_closing_tx(&d),
            Err(Bolt3Error::BalanceMismatch { .. })
        ));
    }
}
