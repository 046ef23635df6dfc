//! The peer's current commitment on chain: our `to_remote`, and its HTLC outputs spent
//! directly with our HTLC key (no second stage: nothing of ours is delayed there).

use std::collections::HashMap;

use bitcoin::secp256k1::SecretKey;
use bitcoin::{OutPoint, Transaction};

use crate::bolt3::commitment::Htlc;
use crate::bolt3::scripts::to_remote_script_pubkey;
use crate::bolt3::sign::SigningKey;
use crate::bolt3::{ChannelType, CommitmentKeys, HtlcDirection};
use crate::channel::commitments::build_remote;
use crate::channel::{ChannelState, KeyMaterial};

use super::{anchors_csv, htlc_outputs, known_htlcs, preimage_for, Claim, ClaimKind, How};
use crate::bolt3::Side;
use crate::channel::commitments::parameters;
use crate::onchain::OnchainError;

pub(super) fn remote_claims(
    state: &ChannelState,
    keys: &KeyMaterial,
    number: u64,
    tx: &Transaction,
    preimages: &HashMap<[u8; 32], [u8; 32]>,
) -> Result<Vec<Claim>, OnchainError> {
    let c = state
        .commitments
        .as_ref()
        .ok_or(OnchainError::NoCommitments)?;
    let r = std::iter::once(&c.remote)
        .chain(&c.remote_waiting)
        .find(|r| r.number == number)
        .ok_or(OnchainError::UnknownCommitment { number })?;
    let ct = build_remote(&state.setup, &r.spec, r.number, &r.point)?;
    let d = &ct.description;
    let txid = tx.compute_txid();
    let channel_type = d.channel_type;
    let mut out = Vec::new();
    if let Some(vout) = ct.to_remote_output() {
        out.push(to_remote_claim(keys, channel_type, txid, vout, tx)?);
    }
    let htlc_privkey = keys.signer.private_key(SigningKey::Htlc {
        per_commitment_point: r.point,
    })?;
    for (htlc, vout) in d.htlcs.iter().zip(&ct.htlc_output_index) {
        let Some(vout) = vout else { continue };
        let value_sat = ct.tx.output[*vout as usize].value.to_sat();
        let at = (OutPoint::new(txid, *vout), value_sat);
        out.extend(remote_htlc_claim(
            at,
            channel_type,
            d.keys,
            *htlc,
            htlc_privkey,
            preimages,
        ));
    }
    Ok(out)
}

/// A commitment of the peer's newer than our state: our `to_remote`, found by its script
/// (our static payment basepoint needs no per-commitment point). Its HTLC outputs need the
/// peer's point for that commitment: with the one the peer gave when it proved us behind
/// ([`ChannelState::peer_current_point`]), those of the HTLCs we know are claimed as on its
/// current commitment (ours after their expiry, its offers with the preimage).
pub(super) fn future_claims(
    state: &ChannelState,
    keys: &KeyMaterial,
    tx: &Transaction,
    preimages: &HashMap<[u8; 32], [u8; 32]>,
) -> Result<Vec<Claim>, OnchainError> {
    let channel_type = ChannelType::from(state.setup.format);
    let script = to_remote_script_pubkey(channel_type, &keys.pubkeys.payment);
    let txid = tx.compute_txid();
    let mut out = tx
        .output
        .iter()
        .enumerate()
        .filter(|(_, o)| o.script_pubkey == script)
        .map(|(vout, _)| to_remote_claim(keys, channel_type, txid, vout as u32, tx))
        .collect::<Result<Vec<_>, _>>()?;
    let Some(point) = state.peer_current_point else {
        return Ok(out);
    };
    let params = parameters(&state.setup)?;
    let k = params.commitment_keys(Side::Counterparty, &point)?;
    let htlc_privkey = keys.signer.private_key(SigningKey::Htlc {
        per_commitment_point: point,
    })?;
    for (vout, htlc) in htlc_outputs(channel_type, &k, tx, &known_htlcs(state)) {
        let at = (
            OutPoint::new(txid, vout),
            tx.output[vout as usize].value.to_sat(),
        );
        out.extend(remote_htlc_claim(
            at,
            channel_type,
            k,
            htlc,
            htlc_privkey,
            preimages,
        ));
    }
    Ok(out)
}

/// The claim of one HTLC output (`at`: outpoint and value) of a peer's commitment, spent
/// directly with our HTLC key: one the peer received is ours back after its expiry, one it
/// offered is ours with the preimage (none without it).
fn remote_htlc_claim(
    at: (OutPoint, u64),
    channel_type: ChannelType,
    keys: CommitmentKeys,
    htlc: Htlc,
    htlc_privkey: SecretKey,
    preimages: &HashMap<[u8; 32], [u8; 32]>,
) -> Option<Claim> {
    let payment_hash = htlc.payment_hash.0;
    let (kind, cltv, preimage) = match htlc.direction {
        HtlcDirection::Received => (
            ClaimKind::RemoteHtlcTimeout { payment_hash },
            htlc.cltv_expiry,
            None,
        ),
        HtlcDirection::Offered => {
            let p = preimage_for(preimages, &htlc.payment_hash)?;
            (ClaimKind::RemoteHtlcPreimage { payment_hash }, 0, Some(p))
        }
    };
    Some(Claim {
        outpoint: at.0,
        value_sat: at.1,
        kind,
        csv: anchors_csv(channel_type),
        cltv,
        how: How::RemoteHtlc {
            channel_type,
            keys,
            htlc,
            htlc_privkey,
            preimage,
        },
    })
}

pub(super) fn to_remote_claim(
    keys: &KeyMaterial,
    channel_type: ChannelType,
    txid: bitcoin::Txid,
    vout: u32,
    tx: &Transaction,
) -> Result<Claim, OnchainError> {
    Ok(Claim {
        outpoint: OutPoint::new(txid, vout),
        value_sat: tx.output[vout as usize].value.to_sat(),
        kind: ClaimKind::ToRemote,
        csv: anchors_csv(channel_type),
        cltv: 0,
        how: How::ToRemote {
            channel_type,
            payment_privkey: keys.signer.private_key(SigningKey::Payment)?,
        },
    })
}
