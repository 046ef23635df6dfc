//! Hold invoices: the caller keeps the preimage, so a payment that arrives whole is held (its
//! HTLCs neither fulfilled nor failed) until the caller settles it with the preimage or
//! cancels it. The node fails the held HTLCs back by itself before their expiry comes close.
//!
//! Pure decisions: the node asks and executes (`node::channels` holds, settles and fails).

use bitcoin::hashes::{sha256, Hash};

use super::types::{HtlcRef, InvoiceRecord, InvoiceStatus};

/// Held HTLCs are failed back once the tip is this close to the earliest one's expiry, as
/// `mpp::HOLD_MARGIN_BLOCKS` does for an incomplete set and for the same reason: a fulfilled
/// incoming HTLC goes on chain `RECEIVED_CLAIM_BUFFER` (12) blocks before it expires, so a
/// settle later than this would end on chain, and the 3 blocks more give the fulfill time to
/// reach the peer. Failing back this early leaves the upstream hops all their own margin to
/// fail back off chain too.
pub const HOLD_INVOICE_MARGIN_BLOCKS: u32 = super::mpp::HOLD_MARGIN_BLOCKS;

/// One held HTLC, with its onion's shared secret (to fail it back).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeldHtlc {
    pub htlc: HtlcRef,
    pub amount_msat: u64,
    pub cltv_expiry: u32,
    pub shared_secret: [u8; 32],
}

/// Whether a complete set for `invoice` is held rather than settled: the invoice has no
/// preimage of ours.
pub fn is_hold(invoice: &InvoiceRecord) -> bool {
    invoice.preimage.is_none()
}

/// The earliest expiry among `held` (`None` when empty).
pub fn earliest_expiry(held: &[HeldHtlc]) -> Option<u32> {
    held.iter().map(|h| h.cltv_expiry).min()
}

/// Whether a held set must be failed back at chain tip `height`.
pub fn is_due(held: &[HeldHtlc], height: u32) -> bool {
    earliest_expiry(held).is_some_and(|e| e <= height.saturating_add(HOLD_INVOICE_MARGIN_BLOCKS))
}

/// The payment hashes of the held sets to fail back at `height`, from every held HTLC
/// (`(payment_hash, htlc)`, in any order), each hash once.
pub fn due(held: &[([u8; 32], HeldHtlc)], height: u32) -> Vec<[u8; 32]> {
    let mut out: Vec<[u8; 32]> = held
        .iter()
        .filter(|(_, h)| h.cltv_expiry <= height.saturating_add(HOLD_INVOICE_MARGIN_BLOCKS))
        .map(|(hash, _)| *hash)
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Why a settle is refused, for the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettleRefused {
    #[error("the preimage does not hash to the invoice's payment hash")]
    WrongPreimage,
    #[error("the invoice is {0}, not held: only a held payment can be settled")]
    NotHeld(&'static str),
}

/// Checks a settle of `invoice` with `preimage`, at `now` (Unix seconds).
///
/// # Errors
/// [`SettleRefused`]: the preimage is not the hash's, or no payment is held.
pub fn check_settle(
    invoice: &InvoiceRecord,
    preimage: &[u8; 32],
    now: u64,
) -> Result<(), SettleRefused> {
    if sha256::Hash::hash(preimage).to_byte_array() != invoice.payment_hash {
        return Err(SettleRefused::WrongPreimage);
    }
    match invoice.status_at(now) {
        InvoiceStatus::Held => Ok(()),
        other => Err(SettleRefused::NotHeld(other.as_str())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(id: u64, cltv_expiry: u32) -> HeldHtlc {
        HeldHtlc {
            htlc: HtlcRef {
                channel_id: [1; 32],
                htlc_id: id,
            },
            amount_msat: 1_000,
            cltv_expiry,
            shared_secret: [2; 32],
        }
    }

    fn invoice(preimage: Option<[u8; 32]>, status: InvoiceStatus) -> InvoiceRecord {
        InvoiceRecord {
            payment_hash: sha256::Hash::hash(&[5; 32]).to_byte_array(),
            bolt11: String::new(),
            preimage,
            payment_secret: [7; 32],
            amount_msat: Some(2_000),
            description: String::new(),
            description_hash: None,
            min_final_cltv_expiry_delta: 18,
            created_at: 1_000,
            expires_at: 4_600,
            status,
            received_msat: (status == InvoiceStatus::Held).then_some(2_000),
            paid_at: None,
            paid_by: None,
        }
    }

    #[test]
    fn a_set_is_due_once_its_earliest_htlc_is_within_the_margin() {
        let set = [held(1, 200), held(2, 150)];
        assert_eq!(earliest_expiry(&set), Some(150));
        assert!(!is_due(&set, 150 - HOLD_INVOICE_MARGIN_BLOCKS - 1));
        assert!(is_due(&set, 150 - HOLD_INVOICE_MARGIN_BLOCKS));
        assert!(is_due(&set, 400));
        assert!(!is_due(&[], 400));
        assert_eq!(HOLD_INVOICE_MARGIN_BLOCKS, 15);
    }

    #[test]
    fn due_names_each_set_once() {
        let all = [
            ([1; 32], held(1, 100)),
            ([1; 32], held(2, 300)),
            ([2; 32], held(3, 300)),
            ([3; 32], held(4, 101)),
            ([3; 32], held(5, 100)),
        ];
        assert_eq!(due(&all, 85), vec![[1; 32], [3; 32]]);
        assert_eq!(due(&all, 84), Vec::<[u8; 32]>::new());
        assert_eq!(due(&all, u32::MAX), vec![[1; 32], [2; 32], [3; 32]]);
    }

    #[test]
    fn settle_needs_the_preimage_and_a_held_payment() {
        let inv = invoice(None, InvoiceStatus::Held);
        assert!(is_hold(&inv));
        assert_eq!(check_settle(&inv, &[5; 32], 2_000), Ok(()));
        // Held payments do not expire with the invoice: they were accepted before.
        assert_eq!(check_settle(&inv, &[5; 32], 9_000), Ok(()));
        assert_eq!(
            check_settle(&inv, &[6; 32], 2_000),
            Err(SettleRefused::WrongPreimage)
        );
        let open = invoice(None, InvoiceStatus::Open);
        let e = check_settle(&open, &[5; 32], 2_000).unwrap_err();
        assert_eq!(e, SettleRefused::NotHeld("open"));
        assert!(e.to_string().contains("is open"));
        assert_eq!(
            check_settle(&open, &[5; 32], 9_000),
            Err(SettleRefused::NotHeld("expired"))
        );
        let paid = invoice(Some([5; 32]), InvoiceStatus::Paid);
        assert!(!is_hold(&paid));
        assert_eq!(
            check_settle(&paid, &[5; 32], 2_000),
            Err(SettleRefused::NotHeld("paid"))
        );
        assert_eq!(
            check_settle(&invoice(None, InvoiceStatus::Cancelled), &[5; 32], 2_000),
            Err(SettleRefused::NotHeld("cancelled"))
        );
    }
}
