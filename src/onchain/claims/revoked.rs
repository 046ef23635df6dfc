//! A revoked commitment of the peer's on chain: every output but our `to_remote` is taken
//! with the revocation key.

use bitcoin::{OutPoint, Transaction};

use crate::bolt3::scripts::{p2wsh, to_local_script};
use crate::bolt3::secrets::per_commitment_point;
use crate::bolt3::sign::SigningKey;
use crate::bolt3::Side;
use crate::channel::commitments::parameters;
use crate::channel::{ChannelState, KeyMaterial};

use super::remote::to_remote_claim;
use super::{htlc_outputs, Claim, ClaimKind, How, KnownHtlc};
use crate::onchain::OnchainError;

/// Everything on the peer's revoked commitment `number` (`tx`), whose secret it revealed:
/// its `to_local` and every HTLC output, with the revocation key, and our `to_remote`.
/// HTLC outputs are recognised by script among `htlcs` ([`super::known_htlcs`], plus whatever
/// archive of settled HTLCs the caller keeps); an HTLC output not among them is not claimed.
///
/// # Errors
/// [`OnchainError::NotRevoked`] when `per_commitment_secret` is not that commitment's.
pub fn revoked_claims(
    state: &ChannelState,
    keys: &KeyMaterial,
    tx: &Transaction,
    number: u64,
    per_commitment_secret: &[u8; 32],
    htlcs: &[KnownHtlc],
) -> Result<Vec<Claim>, OnchainError> {
    let c = state
        .commitments
        .as_ref()
        .ok_or(OnchainError::NoCommitments)?;
    if c.revocations.secret_for_commitment(number).ok() != Some(*per_commitment_secret) {
        return Err(OnchainError::NotRevoked { number });
    }
    let params = parameters(&state.setup)?;
    let ct = params.channel_type;
    let point = per_commitment_point(per_commitment_secret)?;
    let k = params.commitment_keys(Side::Counterparty, &point)?;
    let revocation_privkey = keys.signer.private_key(SigningKey::Revocation {
        per_commitment_secret: *per_commitment_secret,
    })?;
    let delay = params.counterparty_to_self_delay;
    let to_local = p2wsh(&to_local_script(
        &k.revocation_key,
        delay,
        &k.local_delayed_key,
    ));
    let to_remote = crate::bolt3::scripts::to_remote_script_pubkey(ct, &k.remote_payment_key);
    let txid = tx.compute_txid();
    let mut out = Vec::new();
    for (vout, o) in tx.output.iter().enumerate() {
        let vout = vout as u32;
        if o.script_pubkey == to_local {
            out.push(Claim {
                outpoint: OutPoint::new(txid, vout),
                value_sat: o.value.to_sat(),
                kind: ClaimKind::RevokedToLocal,
                csv: 0,
                cltv: 0,
                how: How::RevokedDelayed {
                    revocation_privkey,
                    to_self_delay: delay,
                    local_delayed_key: k.local_delayed_key,
                },
            });
        } else if o.script_pubkey == to_remote {
            out.push(to_remote_claim(keys, ct, txid, vout, tx)?);
        }
    }
    for (vout, htlc) in htlc_outputs(ct, &k, tx, htlcs) {
        out.push(Claim {
            outpoint: OutPoint::new(txid, vout),
            value_sat: tx.output[vout as usize].value.to_sat(),
            kind: ClaimKind::RevokedHtlc {
                payment_hash: htlc.payment_hash.0,
            },
            csv: 0,
            cltv: 0,
            how: How::RevokedHtlc {
                channel_type: ct,
                keys: k,
                htlc,
                revocation_privkey,
            },
        });
    }
    out.sort_by_key(|c| c.outpoint.vout);
    Ok(out)
}
