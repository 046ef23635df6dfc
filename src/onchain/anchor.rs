//! Our anchor output (anchors channels): 330 sat on every commitment, ours and the peer's,
//! locked to our funding key (`<key> CHECKSIG IFDUP NOTIF 16 CSV ENDIF`). We spend it at once,
//! as the first input of a child that brings wallet coins to pay for the commitment (CPFP,
//! [`crate::onchain::fees::anchor_cpfp`]); after 16 blocks anyone may sweep it.

use bitcoin::secp256k1::SecretKey;
use bitcoin::transaction::InputWeightPrediction;
use bitcoin::{OutPoint, ScriptBuf, Transaction};

use crate::bolt3::scripts::{anchor_script, p2wsh};
use crate::bolt3::secp;
use crate::bolt3::sign::SigningKey;
use crate::channel::KeyMaterial;

use super::claims::MAX_SIGNATURE_LEN;
use super::OnchainError;

/// Our anchor on a commitment transaction, with the key that spends it.
#[derive(Clone)]
pub struct Anchor {
    pub outpoint: OutPoint,
    pub value_sat: u64,
    pub(crate) funding_privkey: SecretKey,
}

impl std::fmt::Debug for Anchor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The funding key is private.
        f.debug_struct("Anchor")
            .field("outpoint", &self.outpoint)
            .field("value_sat", &self.value_sat)
            .finish_non_exhaustive()
    }
}

impl Anchor {
    /// The anchor's witness script.
    pub(crate) fn script(&self) -> ScriptBuf {
        anchor_script(&self.funding_privkey.public_key(secp()))
    }

    /// The owner's spend: `<sig> <script>`, the signature at its largest.
    pub(crate) fn input_prediction(&self) -> InputWeightPrediction {
        InputWeightPrediction::new(0, [MAX_SIGNATURE_LEN, self.script().len()])
    }
}

/// Our anchor output in `commitment` (ours or the peer's, broadcast or not), found by its
/// script. `None` when there is none: a static_remotekey channel, a commitment of another
/// channel, or one where our balance was trimmed and with it our anchor (BOLT 3: an anchor
/// exists only with its owner's balance output or an HTLC).
///
/// # Errors
/// Only if the funding key cannot be derived (a corrupt key store).
pub fn our_anchor(
    keys: &KeyMaterial,
    commitment: &Transaction,
) -> Result<Option<Anchor>, OnchainError> {
    let funding_privkey = keys.signer.private_key(SigningKey::Funding)?;
    let spk = p2wsh(&anchor_script(&funding_privkey.public_key(secp())));
    let txid = commitment.compute_txid();
    Ok(commitment
        .output
        .iter()
        .position(|o| o.script_pubkey == spk)
        .map(|vout| Anchor {
            outpoint: OutPoint::new(txid, vout as u32),
            value_sat: commitment.output[vout].value.to_sat(),
            funding_privkey,
        }))
}
