//! Keysend at the payee: an HTLC for a hash we issued no invoice for, whose final payload
//! carries the preimage itself (TLV [`crate::onion::KEYSEND_PREIMAGE_TYPE`]). Off unless the node sets
//! `accept_keysend`; refused, like an unknown hash, with `incorrect_or_unknown_payment_details`.

use bitcoin::hashes::{sha256, Hash};

use crate::onion::{FailureMessage, FinalPayload};

use super::mpp::SetTerms;
use super::receive::{check_onion, details, Arrived};

/// The least `cltv_expiry - height` of a keysend HTLC (BOLT 11's default final delta: the
/// sender has no invoice to read ours from).
pub const KEYSEND_MIN_FINAL_CLTV_EXPIRY_DELTA: u32 = 18;
/// What a keysend payment's invoice record says it is for.
pub const KEYSEND_DESCRIPTION: &str = "keysend";

/// A keysend HTLC that may be settled: its preimage and the set it joins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keysend {
    pub preimage: [u8; 32],
    /// With `payment_data` the payment may be multi-part; without, it pays alone.
    pub terms: SetTerms,
}

/// Whether the HTLC is a keysend we take (`accept`: the node's `accept_keysend`).
///
/// # Errors
/// The failure to return to the payer: `invalid_onion_payload` for a keysend record that is
/// not 32 bytes, the onion-against-HTLC failures, otherwise
/// `incorrect_or_unknown_payment_details`.
pub fn check_keysend(
    accept: bool,
    payment_hash: &[u8; 32],
    arrived: Arrived,
    payload: &FinalPayload,
    height: u32,
) -> Result<Keysend, FailureMessage> {
    check_onion(arrived, payload)?;
    let details = details(arrived, height);
    let Some(preimage) = payload.keysend_preimage()? else {
        return Err(details);
    };
    if !accept || sha256::Hash::hash(&preimage).to_byte_array() != *payment_hash {
        return Err(details);
    }
    if arrived.cltv_expiry < height.saturating_add(KEYSEND_MIN_FINAL_CLTV_EXPIRY_DELTA) {
        return Err(details);
    }
    let terms = match payload.payment_data {
        Some(d) => SetTerms {
            payment_secret: Some(d.payment_secret.0),
            total_msat: d.total_msat,
        },
        None => SetTerms {
            payment_secret: None,
            total_msat: payload.amt_to_forward,
        },
    };
    Ok(Keysend { preimage, terms })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onion::{PaymentData, PaymentSecret, KEYSEND_PREIMAGE_TYPE};
    use crate::payments::HtlcRef;
    use crate::wire::TlvStream;

    const PREIMAGE: [u8; 32] = [4; 32];
    const DETAILS: u16 = 0x4000 | 15;

    fn hash() -> [u8; 32] {
        sha256::Hash::hash(&PREIMAGE).to_byte_array()
    }

    fn arrived(amount_msat: u64, cltv_expiry: u32) -> Arrived {
        Arrived {
            htlc: HtlcRef {
                channel_id: [1; 32],
                htlc_id: 0,
            },
            amount_msat,
            cltv_expiry,
        }
    }

    fn payload(preimage: Option<[u8; 32]>) -> FinalPayload {
        let mut p = FinalPayload {
            amt_to_forward: 10_000,
            outgoing_cltv_value: 100,
            payment_data: None,
            payment_metadata: None,
            extra: TlvStream::new(),
        };
        if let Some(pre) = preimage {
            p.set_keysend_preimage(pre);
        }
        p
    }

    fn check(accept: bool, p: &FinalPayload, cltv: u32) -> Result<Keysend, u16> {
        check_keysend(accept, &hash(), arrived(10_000, cltv), p, 100).map_err(|f| f.code())
    }

    #[test]
    fn a_matching_preimage_is_taken_when_keysend_is_on() {
        let k = check(true, &payload(Some(PREIMAGE)), 118).unwrap();
        assert_eq!(k.preimage, PREIMAGE);
        assert_eq!(
            k.terms,
            SetTerms {
                payment_secret: None,
                total_msat: 10_000
            }
        );
        // With payment_data it joins a multi-part set under the sender's secret and total.
        let mut mpp = payload(Some(PREIMAGE));
        mpp.payment_data = Some(PaymentData {
            payment_secret: PaymentSecret([6; 32]),
            total_msat: 30_000,
        });
        let k = check(true, &mpp, 118).unwrap();
        assert_eq!(k.terms.payment_secret, Some([6; 32]));
        assert_eq!(k.terms.total_msat, 30_000);
    }

    #[test]
    fn off_by_default_wrong_preimage_or_none_is_unknown_payment_details() {
        assert_eq!(check(false, &payload(Some(PREIMAGE)), 118), Err(DETAILS));
        assert_eq!(check(true, &payload(Some([5; 32])), 118), Err(DETAILS));
        assert_eq!(check(true, &payload(None), 118), Err(DETAILS));
        assert_eq!(
            check(true, &payload(Some(PREIMAGE)), 117),
            Err(DETAILS),
            "an expiry nearer than 18 blocks"
        );
    }

    #[test]
    fn a_malformed_record_or_a_cheating_hop_is_told_so() {
        let mut short = payload(None);
        short.extra.insert(KEYSEND_PREIMAGE_TYPE, vec![4; 31]);
        assert_eq!(check(true, &short, 118), Err(0x4000 | 22));
        let mut more = payload(Some(PREIMAGE));
        more.amt_to_forward = 10_001;
        assert_eq!(check(true, &more, 118), Err(19));
    }
}
