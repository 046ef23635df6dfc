//! Fully signed single-input spends of every output a channel creates.
//!
//! Each function takes the output being spent, the keys (private key of the spending path,
//! public keys to rebuild the script) and a destination, and returns a transaction ready to
//! broadcast: version 2, one input, one output of `value - fee`. nSequence and locktime are set
//! as the path requires (`to_self_delay`, 1 or 16 for CSV paths; `cltv_expiry` for CLTV paths;
//! otherwise 0xFFFFFFFD, RBF-signalling). Batching several inputs is left to the caller.

use bitcoin::absolute::LockTime;
use bitcoin::ecdsa::Signature as BitcoinSignature;
use bitcoin::secp256k1::{PublicKey, SecretKey};
use bitcoin::sighash::EcdsaSighashType;
use bitcoin::transaction::Version;
use bitcoin::{Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Witness};

use super::commitment::Htlc;
use super::keys::CommitmentKeys;
use super::scripts::{
    anchor_script, offered_htlc_script, received_htlc_script, to_local_script,
    to_remote_anchor_script,
};
use super::sign::{p2wpkh_sighash, sign_digest, sign_p2wsh};
use super::witness::*;
use super::{secp, Bolt3Error, ChannelType, HtlcDirection, PaymentPreimage};

/// The output being spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpentOutput {
    pub outpoint: OutPoint,
    pub value_sat: u64,
}

/// Where the funds go and what fee the spend pays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    pub script_pubkey: ScriptBuf,
    pub fee_sat: u64,
}

fn unsigned(
    spent: &SpentOutput,
    sequence: Sequence,
    lock_time: LockTime,
    dest: &Destination,
) -> Result<Transaction, Bolt3Error> {
    let value = spent
        .value_sat
        .checked_sub(dest.fee_sat)
        .ok_or(Bolt3Error::FeeTooHigh {
            fee_sat: dest.fee_sat,
            available_sat: spent.value_sat,
        })?;
    Ok(Transaction {
        version: Version::TWO,
        lock_time,
        input: vec![TxIn {
            previous_output: spent.outpoint,
            script_sig: ScriptBuf::new(),
            sequence,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value: Amount::from_sat(value),
            script_pubkey: dest.script_pubkey.clone(),
        }],
    })
}

/// The shape every single-key P2WSH path shares: one input at `sequence`/`lock_time`, signed
/// by `key` over `script` with SIGHASH_ALL, the stack assembled by `witness` from the signature.
fn p2wsh_spend(
    spent: &SpentOutput,
    sequence: Sequence,
    lock_time: LockTime,
    dest: &Destination,
    script: &ScriptBuf,
    key: &SecretKey,
    witness: impl FnOnce(&BitcoinSignature, &ScriptBuf) -> Witness,
) -> Result<Transaction, Bolt3Error> {
    let mut tx = unsigned(spent, sequence, lock_time, dest)?;
    let sig = sign_p2wsh(&tx, 0, script, spent.value_sat, EcdsaSighashType::All, key)?;
    tx.input[0].witness = witness(&sig, script);
    Ok(tx)
}

fn htlc_script(ct: ChannelType, keys: &CommitmentKeys, htlc: &Htlc) -> ScriptBuf {
    match htlc.direction {
        HtlcDirection::Offered => offered_htlc_script(
            ct,
            &keys.revocation_key,
            &keys.local_htlc_key,
            &keys.remote_htlc_key,
            &htlc.payment_hash,
        ),
        HtlcDirection::Received => received_htlc_script(
            ct,
            &keys.revocation_key,
            &keys.local_htlc_key,
            &keys.remote_htlc_key,
            &htlc.payment_hash,
            htlc.cltv_expiry,
        ),
    }
}

/// The owner claims its `to_local` output, or the output of its HTLC-timeout/success
/// transaction, after `to_self_delay` blocks.
pub fn spend_delayed(
    spent: &SpentOutput,
    revocation_key: &PublicKey,
    to_self_delay: u16,
    delayed_privkey: &SecretKey,
    dest: &Destination,
) -> Result<Transaction, Bolt3Error> {
    let script = to_local_script(
        revocation_key,
        to_self_delay,
        &delayed_privkey.public_key(secp()),
    );
    p2wsh_spend(
        spent,
        Sequence::from_height(to_self_delay),
        LockTime::ZERO,
        dest,
        &script,
        delayed_privkey,
        |sig, script| to_local_delayed_witness(sig, script),
    )
}

/// The counterparty sweeps a revoked `to_local` or second-stage output at once.
pub fn spend_delayed_revoked(
    spent: &SpentOutput,
    revocation_privkey: &SecretKey,
    to_self_delay: u16,
    local_delayed_key: &PublicKey,
    dest: &Destination,
) -> Result<Transaction, Bolt3Error> {
    let script = to_local_script(
        &revocation_privkey.public_key(secp()),
        to_self_delay,
        local_delayed_key,
    );
    p2wsh_spend(
        spent,
        Sequence::ENABLE_RBF_NO_LOCKTIME,
        LockTime::ZERO,
        dest,
        &script,
        revocation_privkey,
        |sig, script| to_local_revocation_witness(sig, script),
    )
}

/// The non-owner claims its `to_remote` output with its (untweaked) payment basepoint secret:
/// P2WPKH under static remotekey, P2WSH after one confirmation under anchors.
pub fn spend_to_remote(
    channel_type: ChannelType,
    spent: &SpentOutput,
    payment_privkey: &SecretKey,
    dest: &Destination,
) -> Result<Transaction, Bolt3Error> {
    let key = payment_privkey.public_key(secp());
    if channel_type.has_anchors() {
        let script = to_remote_anchor_script(&key);
        p2wsh_spend(
            spent,
            Sequence(1),
            LockTime::ZERO,
            dest,
            &script,
            payment_privkey,
            |sig, script| to_remote_anchor_witness(sig, script),
        )
    } else {
        let mut tx = unsigned(
            spent,
            Sequence::ENABLE_RBF_NO_LOCKTIME,
            LockTime::ZERO,
            dest,
        )?;
        let msg = p2wpkh_sighash(&tx, 0, &key, spent.value_sat, EcdsaSighashType::All)?;
        let sig = BitcoinSignature::sighash_all(sign_digest(&msg, payment_privkey));
        tx.input[0].witness = to_remote_p2wpkh_witness(&sig, &key);
        Ok(tx)
    }
}

/// The non-owner claims an HTLC the owner offered to it, with the preimage, straight from the
/// owner's commitment. `keys` are the owner's commitment keys; `remote_htlc_privkey` is the
/// spender's HTLC key for that commitment.
pub fn spend_offered_htlc_with_preimage(
    channel_type: ChannelType,
    spent: &SpentOutput,
    keys: &CommitmentKeys,
    htlc: &Htlc,
    remote_htlc_privkey: &SecretKey,
    preimage: &PaymentPreimage,
    dest: &Destination,
) -> Result<Transaction, Bolt3Error> {
    if htlc.direction != HtlcDirection::Offered {
        return Err(Bolt3Error::BadTransaction("not an offered HTLC"));
    }
    if preimage.payment_hash() != htlc.payment_hash {
        return Err(Bolt3Error::PreimageMismatch);
    }
    let script = htlc_script(channel_type, keys, htlc);
    let sequence = if channel_type.has_anchors() {
        Sequence(1)
    } else {
        Sequence::ENABLE_RBF_NO_LOCKTIME
    };
    p2wsh_spend(
        spent,
        sequence,
        LockTime::ZERO,
        dest,
        &script,
        remote_htlc_privkey,
        |sig, script| offered_htlc_preimage_witness(sig, preimage, script),
    )
}

/// The non-owner takes back an HTLC it offered (received by the owner) once `cltv_expiry` has
/// passed, straight from the owner's commitment.
pub fn spend_received_htlc_after_timeout(
    channel_type: ChannelType,
    spent: &SpentOutput,
    keys: &CommitmentKeys,
    htlc: &Htlc,
    remote_htlc_privkey: &SecretKey,
    dest: &Destination,
) -> Result<Transaction, Bolt3Error> {
    if htlc.direction != HtlcDirection::Received {
        return Err(Bolt3Error::BadTransaction("not a received HTLC"));
    }
    let script = htlc_script(channel_type, keys, htlc);
    let sequence = if channel_type.has_anchors() {
        Sequence(1)
    } else {
        Sequence::ENABLE_LOCKTIME_NO_RBF
    };
    p2wsh_spend(
        spent,
        sequence,
        LockTime::from_consensus(htlc.cltv_expiry),
        dest,
        &script,
        remote_htlc_privkey,
        |sig, script| received_htlc_timeout_witness(sig, script),
    )
}

/// The non-owner sweeps any HTLC output of a revoked commitment with the revocation key.
pub fn spend_htlc_revoked(
    channel_type: ChannelType,
    spent: &SpentOutput,
    keys: &CommitmentKeys,
    htlc: &Htlc,
    revocation_privkey: &SecretKey,
    dest: &Destination,
) -> Result<Transaction, Bolt3Error> {
    if revocation_privkey.public_key(secp()) != keys.revocation_key {
        return Err(Bolt3Error::BadTransaction("revocation key does not match"));
    }
    let script = htlc_script(channel_type, keys, htlc);
    p2wsh_spend(
        spent,
        Sequence::ENABLE_RBF_NO_LOCKTIME,
        LockTime::ZERO,
        dest,
        &script,
        revocation_privkey,
        |sig, script| htlc_revocation_witness(sig, &keys.revocation_key, script),
    )
}

/// An anchor spent by its owner (normally as one input of a CPFP child).
pub fn spend_anchor(
    spent: &SpentOutput,
    funding_privkey: &SecretKey,
    dest: &Destination,
) -> Result<Transaction, Bolt3Error> {
    let script = anchor_script(&funding_privkey.public_key(secp()));
    p2wsh_spend(
        spent,
        Sequence::ENABLE_RBF_NO_LOCKTIME,
        LockTime::ZERO,
        dest,
        &script,
        funding_privkey,
        |sig, script| anchor_owner_witness(sig, script),
    )
}

/// An anchor swept by anyone, 16 blocks after the commitment confirmed.
pub fn spend_anchor_by_anyone(
    spent: &SpentOutput,
    funding_pubkey: &PublicKey,
    dest: &Destination,
) -> Result<Transaction, Bolt3Error> {
    let script = anchor_script(funding_pubkey);
    let mut tx = unsigned(spent, Sequence(16), LockTime::ZERO, dest)?;
    tx.input[0].witness = anchor_anyone_witness(&script);
    Ok(tx)
}

/// Sign input `input_index` of `tx`, spending a P2WPKH output of `key` worth `value_sat`: a
/// wallet input added to pay fees (anchor CPFP, zero-fee HTLC transactions).
pub fn sign_p2wpkh_input(
    tx: &mut Transaction,
    input_index: usize,
    value_sat: u64,
    key: &SecretKey,
) -> Result<(), Bolt3Error> {
    let pubkey = key.public_key(secp());
    let msg = p2wpkh_sighash(tx, input_index, &pubkey, value_sat, EcdsaSighashType::All)?;
    let sig = BitcoinSignature::sighash_all(sign_digest(&msg, key));
    tx.input[input_index].witness = to_remote_p2wpkh_witness(&sig, &pubkey);
    Ok(())
}

/// Child-pays-for-parent through an anchor: spend the anchor and a wallet P2WPKH output
/// together to `dest`, the fee coming out of their sum.
pub fn spend_anchor_with_wallet_input(
    anchor: &SpentOutput,
    funding_privkey: &SecretKey,
    wallet: &SpentOutput,
    wallet_key: &SecretKey,
    dest: &Destination,
) -> Result<Transaction, Bolt3Error> {
    let total = anchor
        .value_sat
        .checked_add(wallet.value_sat)
        .ok_or(Bolt3Error::AmountOverflow)?;
    let combined = SpentOutput {
        outpoint: anchor.outpoint,
        value_sat: total,
    };
    let mut tx = unsigned(
        &combined,
        Sequence::ENABLE_RBF_NO_LOCKTIME,
        LockTime::ZERO,
        dest,
    )?;
    tx.input.push(TxIn {
        previous_output: wallet.outpoint,
        script_sig: ScriptBuf::new(),
        sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
        witness: Witness::new(),
    });
    let script = anchor_script(&funding_privkey.public_key(secp()));
    let sig = sign_p2wsh(
        &tx,
        0,
        &script,
        anchor.value_sat,
        EcdsaSighashType::All,
        funding_privkey,
    )?;
    tx.input[0].witness = anchor_owner_witness(&sig, &script);
    sign_p2wpkh_input(&mut tx, 1, wallet.value_sat, wallet_key)?;
    Ok(tx)
}

#[cfg(test)]
mod tests {
    //! Every spend path of every output, run through Bitcoin Core's script interpreter.
    use super::*;
    use crate::bolt3::channel::{ChannelHtlc, ChannelParameters, CommitmentState, Side};
    use crate::bolt3::commitment::{CommitmentTx, OutputKind};
    use crate::bolt3::funding::funding_output;
    use crate::bolt3::secrets::PerCommitmentSecrets;
    use crate::bolt3::sign::{p2wsh_sighash, verify_digest, InMemorySigner, SigningKey};
    use crate::bolt3::testutil::{consensus_verify, secrets_from_byte, verify_one};
    use crate::bolt3::ChannelSigner;
    use bitcoin::Txid;

    struct Setup {
        ct: ChannelType,
        holder: InMemorySigner,
        counterparty: InMemorySigner,
        secrets: PerCommitmentSecrets,
        commit: CommitmentTx,
        signed: Transaction,
    }

    const DELAY: u16 = 144;

    fn preimage(b: u8) -> PaymentPreimage {
        PaymentPreimage([b; 32])
    }

    fn setup(ct: ChannelType) -> Setup {
        let holder = InMemorySigner::new(secrets_from_byte(1));
        let counterparty = InMemorySigner::new(secrets_from_byte(20));
        let secrets = PerCommitmentSecrets::new([9; 32]);
        let params = ChannelParameters {
            channel_type: ct,
            funding_outpoint: OutPoint::new(Txid::from_byte_array([7; 32]), 1),
            funding_sat: 1_000_000,
            holder_pubkeys: holder.pubkeys(),
            counterparty_pubkeys: counterparty.pubkeys(),
            opener: Side::Holder,
            holder_to_self_delay: DELAY,
            counterparty_to_self_delay: 30,
            holder_dust_limit_sat: 546,
            counterparty_dust_limit_sat: 546,
        };
        let htlc = |offerer, amount_msat, b: u8, cltv_expiry| ChannelHtlc {
            offerer,
            amount_msat,
            payment_hash: preimage(b).payment_hash(),
            cltv_expiry,
        };
        let state = CommitmentState {
            commitment_number: 3,
            holder_msat: 500_000_000,
            counterparty_msat: 400_000_000,
            htlcs: vec![
                htlc(Side::Holder, 50_000_000, 1, 700),
                htlc(Side::Counterparty, 50_000_000, 2, 710),
            ],
            feerate_per_kw: 1000,
        };
        let pcp = secrets.point(3).unwrap();
        let commit = params.build_commitment(Side::Holder, &state, &pcp).unwrap();
        let local_sig = commit.sign(&holder).unwrap().signature;
        let remote_sig = commit.sign(&counterparty).unwrap().signature;
        let signed = commit.finalize(&local_sig, &remote_sig).unwrap();
        let funding = funding_output(
            1_000_000,
            &holder.pubkeys().funding_pubkey,
            &counterparty.pubkeys().funding_pubkey,
        );
        consensus_verify(&signed, &[funding]).unwrap();
        Setup {
            ct,
            holder,
            counterparty,
            secrets,
            commit,
            signed,
        }
    }

    impl Setup {
        fn output(&self, kind: OutputKind) -> (SpentOutput, TxOut) {
            let i = self.commit.outputs.iter().position(|k| *k == kind).unwrap();
            let out = self.signed.output[i].clone();
            (
                SpentOutput {
                    outpoint: OutPoint::new(self.signed.compute_txid(), i as u32),
                    value_sat: out.value.to_sat(),
                },
                out,
            )
        }
        fn pcp(&self) -> PublicKey {
            self.commit.description.keys.per_commitment_point
        }
        fn holder_key(&self, key: SigningKey) -> SecretKey {
            self.holder.private_key(key).unwrap()
        }
        fn counterparty_key(&self, key: SigningKey) -> SecretKey {
            self.counterparty.private_key(key).unwrap()
        }
        fn revocation_privkey(&self) -> SecretKey {
            self.counterparty_key(SigningKey::Revocation {
                per_commitment_secret: self.secrets.secret(3).unwrap(),
            })
        }
        fn htlc(&self, i: usize) -> Htlc {
            self.commit.description.htlcs[i]
        }
    }

    fn dest() -> Destination {
        Destination {
            script_pubkey: ScriptBuf::new_p2wsh(&bitcoin::WScriptHash::from_byte_array([1; 32])),
            fee_sat: 300,
        }
    }

    use bitcoin::hashes::Hash as _;

    const TYPES: [ChannelType; 2] = [
        ChannelType::StaticRemoteKey,
        ChannelType::AnchorsZeroFeeHtlc,
    ];

    #[test]
    fn to_local_delayed_and_revoked() {
        for ct in TYPES {
            let s = setup(ct);
            let keys = s.commit.description.keys;
            let (spent, out) = s.output(OutputKind::ToLocal);
            let delayed = s.holder_key(SigningKey::Delayed {
                per_commitment_point: s.pcp(),
            });
            let tx = spend_delayed(&spent, &keys.revocation_key, DELAY, &delayed, &dest()).unwrap();
            verify_one(&tx, &out).unwrap();
            assert_eq!(tx.input[0].sequence, Sequence::from_height(DELAY));
            // One block short of the delay fails CSV.
            let mut early = tx.clone();
            early.input[0].sequence = Sequence::from_height(DELAY - 1);
            assert!(verify_one(&early, &out).is_err());

            let revoked = spend_delayed_revoked(
                &spent,
                &s.revocation_privkey(),
                DELAY,
                &keys.local_delayed_key,
                &dest(),
            )
            .unwrap();
            consensus_verify(&revoked, &[out]).unwrap();
        }
    }

    #[test]
    fn to_remote_by_counterparty() {
        for ct in TYPES {
            let s = setup(ct);
            let (spent, out) = s.output(OutputKind::ToRemote);
            let key = s.counterparty_key(SigningKey::Payment);
            let tx = spend_to_remote(ct, &spent, &key, &dest()).unwrap();
            verify_one(&tx, &out).unwrap();
            if ct.has_anchors() {
                let mut now = tx.clone();
                now.input[0].sequence = Sequence(0);
                assert!(consensus_verify(&now, &[out]).is_err(), "1 OP_CSV");
            }
        }
    }

    #[test]
    fn anchors_by_owner_and_by_anyone_after_16_blocks() {
        let s = setup(ChannelType::AnchorsZeroFeeHtlc);
        for (kind, key) in [
            (OutputKind::LocalAnchor, s.holder_key(SigningKey::Funding)),
            (
                OutputKind::RemoteAnchor,
                s.counterparty_key(SigningKey::Funding),
            ),
        ] {
            let (spent, out) = s.output(kind);
            let d = Destination {
                fee_sat: 0,
                ..dest()
            };
            let tx = spend_anchor(&spent, &key, &d).unwrap();
            verify_one(&tx, &out).unwrap();
            let anyone = spend_anchor_by_anyone(&spent, &key.public_key(secp()), &d).unwrap();
            verify_one(&anyone, &out).unwrap();
            let mut early = anyone.clone();
            early.input[0].sequence = Sequence(15);
            assert!(consensus_verify(&early, &[out]).is_err());
        }
        let s = setup(ChannelType::StaticRemoteKey);
        assert!(s.commit.local_anchor_output().is_none());
    }

    #[test]
    fn offered_htlc_by_preimage_revocation_and_timeout_tx() {
        for ct in TYPES {
            let s = setup(ct);
            let keys = s.commit.description.keys;
            let htlc = s.htlc(0);
            assert_eq!(htlc.direction, HtlcDirection::Offered);
            let (spent, out) = s.output(OutputKind::Htlc(0));
            let remote_htlc = s.counterparty_key(SigningKey::Htlc {
                per_commitment_point: s.pcp(),
            });
            let tx = spend_offered_htlc_with_preimage(
                ct,
                &spent,
                &keys,
                &htlc,
                &remote_htlc,
                &preimage(1),
                &dest(),
            )
            .unwrap();
            verify_one(&tx, &out).unwrap();
            assert_eq!(
                spend_offered_htlc_with_preimage(
                    ct,
                    &spent,
                    &keys,
                    &htlc,
                    &remote_htlc,
                    &preimage(2),
                    &dest()
                ),
                Err(Bolt3Error::PreimageMismatch)
            );
            let revoked =
                spend_htlc_revoked(ct, &spent, &keys, &htlc, &s.revocation_privkey(), &dest())
                    .unwrap();
            verify_one(&revoked, &out).unwrap();

            // HTLC-timeout: counterparty signs at commitment time, holder completes.
            let htlc_tx = s.commit.htlc_tx(0).unwrap();
            let remote_sig = htlc_tx.sign_as_remote(&s.counterparty).unwrap();
            let local_sig = htlc_tx.sign_as_local(&s.holder).unwrap();
            let timeout = htlc_tx.finalize(&remote_sig, &local_sig, None).unwrap();
            assert_eq!(timeout.lock_time.to_consensus_u32(), 700);
            verify_one(&timeout, &out).unwrap();
            let mut early = timeout.clone();
            early.lock_time = bitcoin::absolute::LockTime::from_consensus(699);
            assert!(consensus_verify(&early, &[out]).is_err());
            check_second_stage(&s, &timeout);
        }
    }

    #[test]
    fn received_htlc_by_success_tx_timeout_and_revocation() {
        for ct in TYPES {
            let s = setup(ct);
            let keys = s.commit.description.keys;
            let htlc = s.htlc(1);
            assert_eq!(htlc.direction, HtlcDirection::Received);
            let (spent, out) = s.output(OutputKind::Htlc(1));
            let remote_htlc = s.counterparty_key(SigningKey::Htlc {
                per_commitment_point: s.pcp(),
            });
            let tx =
                spend_received_htlc_after_timeout(ct, &spent, &keys, &htlc, &remote_htlc, &dest())
                    .unwrap();
            assert_eq!(tx.lock_time.to_consensus_u32(), 710);
            verify_one(&tx, &out).unwrap();
            let revoked =
                spend_htlc_revoked(ct, &spent, &keys, &htlc, &s.revocation_privkey(), &dest())
                    .unwrap();
            verify_one(&revoked, &out).unwrap();

            let htlc_tx = s.commit.htlc_tx(1).unwrap();
            let remote_sig = htlc_tx.sign_as_remote(&s.counterparty).unwrap();
            let local_sig = htlc_tx.sign_as_local(&s.holder).unwrap();
            assert_eq!(
                htlc_tx.finalize(&remote_sig, &local_sig, Some(&preimage(1))),
                Err(Bolt3Error::PreimageMismatch)
            );
            assert_eq!(
                htlc_tx.finalize(&remote_sig, &local_sig, None),
                Err(Bolt3Error::MissingPreimage)
            );
            assert_eq!(
                htlc_tx.finalize(&local_sig, &remote_sig, Some(&preimage(2))),
                Err(Bolt3Error::InvalidSignature)
            );
            let success = htlc_tx
                .finalize(&remote_sig, &local_sig, Some(&preimage(2)))
                .unwrap();
            consensus_verify(&success, &[out]).unwrap();
            check_second_stage(&s, &success);
        }
    }

    /// The output of an HTLC-timeout/success tx: holder after the delay, counterparty if revoked.
    fn check_second_stage(s: &Setup, second: &Transaction) {
        let keys = s.commit.description.keys;
        let out = second.output[0].clone();
        let spent = SpentOutput {
            outpoint: OutPoint::new(second.compute_txid(), 0),
            value_sat: out.value.to_sat(),
        };
        let delayed = s.holder_key(SigningKey::Delayed {
            per_commitment_point: s.pcp(),
        });
        let tx = spend_delayed(&spent, &keys.revocation_key, DELAY, &delayed, &dest()).unwrap();
        verify_one(&tx, &out).unwrap();
        let revoked = spend_delayed_revoked(
            &spent,
            &s.revocation_privkey(),
            DELAY,
            &keys.local_delayed_key,
            &dest(),
        )
        .unwrap();
        consensus_verify(&revoked, &[out]).unwrap();
        if s.ct.has_anchors() {
            assert_eq!(second.input[0].sequence, Sequence(1));
        }
    }

    #[test]
    fn zero_fee_htlc_tx_accepts_fee_inputs_under_the_counterparty_signature() {
        let s = setup(ChannelType::AnchorsZeroFeeHtlc);
        let htlc_tx = s.commit.htlc_tx(1).unwrap();
        assert_eq!(
            htlc_tx.tx.output[0].value.to_sat(),
            50_000,
            "zero fee: the whole HTLC"
        );
        let remote_sig = htlc_tx.sign_as_remote(&s.counterparty).unwrap();
        // Attach a fee input and a change output: SINGLE|ANYONECANPAY still covers input 0.
        let mut bumped = htlc_tx.tx.clone();
        bumped.input.push(TxIn {
            previous_output: OutPoint::new(Txid::from_byte_array([3; 32]), 0),
            script_sig: ScriptBuf::new(),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        });
        bumped.output.push(dest().script_pubkey.p2wsh_output_like());
        let msg = p2wsh_sighash(
            &bumped,
            0,
            &htlc_tx.htlc_script,
            htlc_tx.htlc_value_sat,
            EcdsaSighashType::SinglePlusAnyoneCanPay,
        )
        .unwrap();
        verify_digest(&msg, &remote_sig, &htlc_tx.remote_htlc_key).unwrap();
        // Under static remotekey the counterparty signs everything: the same change breaks it.
        let s = setup(ChannelType::StaticRemoteKey);
        let htlc_tx = s.commit.htlc_tx(1).unwrap();
        let remote_sig = htlc_tx.sign_as_remote(&s.counterparty).unwrap();
        let mut bumped = htlc_tx.tx.clone();
        bumped.output.push(dest().script_pubkey.p2wsh_output_like());
        let msg = p2wsh_sighash(
            &bumped,
            0,
            &htlc_tx.htlc_script,
            htlc_tx.htlc_value_sat,
            EcdsaSighashType::All,
        )
        .unwrap();
        assert_eq!(
            verify_digest(&msg, &remote_sig, &htlc_tx.remote_htlc_key),
            Err(Bolt3Error::InvalidSignature)
        );
    }

    fn wallet() -> (SpentOutput, TxOut, SecretKey) {
        let key = SecretKey::from_slice(&[0x77; 32]).unwrap();
        let out = TxOut {
            value: Amount::from_sat(100_000),
            script_pubkey: crate::bolt3::scripts::p2wpkh(&key.public_key(secp())),
        };
        let spent = SpentOutput {
            outpoint: OutPoint::new(Txid::from_byte_array([8; 32]), 3),
            value_sat: 100_000,
        };
        (spent, out, key)
    }

    #[test]
    fn zero_fee_htlc_tx_with_a_wallet_fee_input_is_valid() {
        let s = setup(ChannelType::AnchorsZeroFeeHtlc);
        let (wallet_in, wallet_out, wallet_key) = wallet();
        for i in [0, 1] {
            let mut htlc_tx = s.commit.htlc_tx(i).unwrap();
            // Signed at commitment time, before any fee input existed.
            let remote_sig = htlc_tx.sign_as_remote(&s.counterparty).unwrap();
            let change = TxOut {
                value: Amount::from_sat(100_000 - 2_000),
                script_pubkey: wallet_out.script_pubkey.clone(),
            };
            htlc_tx
                .attach_fee_input(wallet_in.outpoint, change)
                .unwrap();
            let local_sig = htlc_tx.sign_as_local(&s.holder).unwrap();
            let mut tx = htlc_tx
                .finalize(&remote_sig, &local_sig, Some(&preimage(2)))
                .unwrap();
            sign_p2wpkh_input(&mut tx, 1, wallet_in.value_sat, &wallet_key).unwrap();
            let (_, htlc_out) = s.output(OutputKind::Htlc(i));
            consensus_verify(&tx, &[htlc_out, wallet_out.clone()]).unwrap();
        }
        let s = setup(ChannelType::StaticRemoteKey);
        let mut htlc_tx = s.commit.htlc_tx(0).unwrap();
        assert!(matches!(
            htlc_tx.attach_fee_input(wallet_in.outpoint, wallet_out),
            Err(Bolt3Error::BadTransaction(_))
        ));
    }

    #[test]
    fn anchor_cpfp_with_a_wallet_input_is_valid() {
        let s = setup(ChannelType::AnchorsZeroFeeHtlc);
        let (wallet_in, wallet_out, wallet_key) = wallet();
        let (anchor_in, anchor_out) = s.output(OutputKind::LocalAnchor);
        let d = Destination {
            fee_sat: 5_000,
            ..dest()
        };
        let tx = spend_anchor_with_wallet_input(
            &anchor_in,
            &s.holder_key(SigningKey::Funding),
            &wallet_in,
            &wallet_key,
            &d,
        )
        .unwrap();
        assert_eq!(tx.output[0].value.to_sat(), 100_330 - 5_000);
        consensus_verify(&tx, &[anchor_out, wallet_out]).unwrap();
    }

    trait OutputLike {
        fn p2wsh_output_like(&self) -> TxOut;
    }
    impl OutputLike for ScriptBuf {
        fn p2wsh_output_like(&self) -> TxOut {
            TxOut {
                value: Amount::from_sat(1000),
                script_pubkey: self.clone(),
            }
        }
    }

    #[test]
    fn fee_above_value_and_wrong_keys_are_refused() {
        let s = setup(ChannelType::StaticRemoteKey);
        let keys = s.commit.description.keys;
        let (spent, _) = s.output(OutputKind::Htlc(0));
        let too_much = Destination {
            fee_sat: spent.value_sat + 1,
            ..dest()
        };
        let key = s.counterparty_key(SigningKey::Payment);
        assert!(matches!(
            spend_htlc_revoked(
                ChannelType::StaticRemoteKey,
                &spent,
                &keys,
                &s.htlc(0),
                &key,
                &dest()
            ),
            Err(Bolt3Error::BadTransaction(_))
        ));
        assert!(matches!(
            spend_delayed_revoked(&spent, &key, DELAY, &keys.local_delayed_key, &too_much),
            Err(Bolt3Error::FeeTooHigh { .. })
        ));
    }
}
