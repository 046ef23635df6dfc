//! Our own commitment on chain: `to_local` after our delay, and our pre-signed HTLC
//! transactions (timeout after the expiry, success with the preimage).

use std::collections::HashMap;

use bitcoin::{OutPoint, Transaction};

use crate::bolt3::sign::SigningKey;
use crate::bolt3::HtlcDirection;
use crate::channel::commitments::build_local;
use crate::channel::{ChannelState, KeyMaterial};

use super::{anchors_csv, preimage_for, Claim, ClaimKind, How};
use crate::onchain::OnchainError;

pub(super) fn local_claims(
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
    if c.local.number != number {
        return Err(OnchainError::UnknownCommitment { number });
    }
    let ct = build_local(keys, &state.setup, &c.local.spec, number)?;
    let d = &ct.description;
    let txid = tx.compute_txid();
    let point = d.keys.per_commitment_point;
    let delayed_privkey = keys.signer.private_key(SigningKey::Delayed {
        per_commitment_point: point,
    })?;
    let htlc_privkey = keys.signer.private_key(SigningKey::Htlc {
        per_commitment_point: point,
    })?;
    let mut out = Vec::new();
    if let Some(vout) = ct.to_local_output() {
        out.push(Claim {
            outpoint: OutPoint::new(txid, vout),
            value_sat: ct.tx.output[vout as usize].value.to_sat(),
            kind: ClaimKind::LocalDelayed,
            csv: d.to_self_delay,
            cltv: 0,
            how: How::Delayed {
                revocation_key: d.keys.revocation_key,
                to_self_delay: d.to_self_delay,
                delayed_privkey,
            },
        });
    }
    let htlc_txs = ct.htlc_txs()?;
    if htlc_txs.len() != c.local.remote_htlc_sigs.len() {
        return Err(OnchainError::HtlcSignatureCount {
            expected: htlc_txs.len(),
            got: c.local.remote_htlc_sigs.len(),
        });
    }
    for (h, remote_sig) in htlc_txs.into_iter().zip(&c.local.remote_htlc_sigs) {
        let hash = h.htlc.payment_hash;
        let (kind, cltv, preimage) = match h.htlc.direction {
            HtlcDirection::Offered => (
                ClaimKind::HtlcTimeout {
                    payment_hash: hash.0,
                },
                h.htlc.cltv_expiry,
                None,
            ),
            HtlcDirection::Received => match preimage_for(preimages, &hash) {
                Some(p) => (
                    ClaimKind::HtlcSuccess {
                        payment_hash: hash.0,
                    },
                    0,
                    Some(p),
                ),
                // Without the preimage the peer takes it back after the expiry.
                None => continue,
            },
        };
        out.push(Claim {
            outpoint: h.tx.input[0].previous_output,
            value_sat: h.htlc_value_sat,
            kind,
            csv: anchors_csv(d.channel_type),
            cltv,
            how: How::HtlcTx {
                htlc_tx: Box::new(h),
                remote_sig: *remote_sig,
                htlc_privkey,
                preimage,
                delayed_privkey,
                revocation_key: d.keys.revocation_key,
                to_self_delay: d.to_self_delay,
            },
        });
    }
    Ok(out)
}
