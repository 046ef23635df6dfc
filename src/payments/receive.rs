//! The payee's checks on an HTLC that ends here (BOLT 4, "Requirements for the final node";
//! BOLT 11 for the invoice).
//!
//! Every failure about the invoice itself (unknown hash, wrong secret, too little, expired,
//! already paid) is the same `incorrect_or_unknown_payment_details`, so a prober learns
//! nothing about which invoices exist.

use crate::onion::{FailureMessage, FinalPayload};

use super::types::{HtlcRef, InvoiceRecord, InvoiceStatus};

/// The incoming HTLC, as the channel committed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrived {
    pub htlc: HtlcRef,
    pub amount_msat: u64,
    pub cltv_expiry: u32,
}

/// Whether the HTLC pays `invoice` (which the caller found by the HTLC's payment hash).
/// `Ok` means: mark the invoice paid and fulfill with its preimage. An HTLC that already paid
/// the invoice (a restart re-checking it) passes again.
///
/// # Errors
/// The failure to return to the payer.
pub fn check_final(
    invoice: Option<&InvoiceRecord>,
    arrived: Arrived,
    payload: &FinalPayload,
    height: u32,
    now_secs: u64,
) -> Result<(), FailureMessage> {
    // First the onion against the HTLC itself (the previous hop may have cheated).
    if payload.outgoing_cltv_value > arrived.cltv_expiry {
        return Err(FailureMessage::FinalIncorrectCltvExpiry {
            cltv_expiry: arrived.cltv_expiry,
        });
    }
    if payload.amt_to_forward > arrived.amount_msat {
        return Err(FailureMessage::FinalIncorrectHtlcAmount {
            incoming_htlc_amt: arrived.amount_msat,
        });
    }
    let details = FailureMessage::IncorrectOrUnknownPaymentDetails {
        htlc_msat: arrived.amount_msat,
        height,
    };
    let Some(inv) = invoice else {
        return Err(details);
    };
    if inv.paid_by == Some(arrived.htlc) {
        return Ok(());
    }
    let secret_ok = payload
        .payment_data
        .is_some_and(|d| d.payment_secret.0 == inv.payment_secret);
    if !secret_ok || inv.status != InvoiceStatus::Open || now_secs >= inv.expires_at {
        return Err(details);
    }
    // One HTLC pays the whole invoice (no multi-part yet): the announced total must be what
    // this HTLC carries.
    let total = payload.payment_data.map_or(0, |d| d.total_msat);
    if total > arrived.amount_msat {
        return Err(details);
    }
    if let Some(amount) = inv.amount_msat {
        // BOLT 4: at least the amount, and at most twice it (a larger sum hints at a bug or a
        // probe).
        if arrived.amount_msat < amount || arrived.amount_msat > amount.saturating_mul(2) {
            return Err(details);
        }
    }
    if arrived.cltv_expiry < height.saturating_add(u32::from(inv.min_final_cltv_expiry_delta)) {
        return Err(details);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onion::{PaymentData, PaymentSecret};
    use crate::wire::TlvStream;

    const SECRET: [u8; 32] = [7; 32];
    const HTLC: HtlcRef = HtlcRef {
        channel_id: [1; 32],
        htlc_id: 3,
    };

    fn invoice() -> InvoiceRecord {
        InvoiceRecord {
            payment_hash: [2; 32],
            bolt11: String::new(),
            preimage: [3; 32],
            payment_secret: SECRET,
            amount_msat: Some(50_000),
            description: "coffee".into(),
            min_final_cltv_expiry_delta: 18,
            created_at: 1_000,
            expires_at: 4_600,
            status: InvoiceStatus::Open,
            received_msat: None,
            paid_at: None,
            paid_by: None,
        }
    }

    fn payload(amount: u64, cltv: u32, secret: [u8; 32]) -> FinalPayload {
        FinalPayload {
            amt_to_forward: amount,
            outgoing_cltv_value: cltv,
            payment_data: Some(PaymentData {
                payment_secret: PaymentSecret(secret),
                total_msat: amount,
            }),
            payment_metadata: None,
            extra: TlvStream::new(),
        }
    }

    fn arrived(amount: u64, cltv: u32) -> Arrived {
        Arrived {
            htlc: HTLC,
            amount_msat: amount,
            cltv_expiry: cltv,
        }
    }

    fn check(inv: &InvoiceRecord, amount: u64, cltv: u32, secret: [u8; 32]) -> Result<(), u16> {
        check_final(
            Some(inv),
            arrived(amount, cltv),
            &payload(amount, cltv, secret),
            100,
            2_000,
        )
        .map_err(|f| f.code())
    }

    const DETAILS: u16 = 0x4000 | 15;

    #[test]
    fn the_invoice_amount_with_the_right_secret_in_time_pays() {
        assert_eq!(check(&invoice(), 50_000, 118, SECRET), Ok(()));
        assert_eq!(check(&invoice(), 100_000, 118, SECRET), Ok(()));
    }

    #[test]
    fn every_invoice_mismatch_is_the_same_failure() {
        let inv = invoice();
        assert_eq!(check(&inv, 49_999, 118, SECRET), Err(DETAILS));
        assert_eq!(check(&inv, 100_001, 118, SECRET), Err(DETAILS));
        assert_eq!(check(&inv, 50_000, 118, [8; 32]), Err(DETAILS));
        assert_eq!(check(&inv, 50_000, 117, SECRET), Err(DETAILS));
        let expired = check_final(
            Some(&inv),
            arrived(50_000, 118),
            &payload(50_000, 118, SECRET),
            100,
            4_600,
        );
        assert_eq!(expired.map_err(|f| f.code()), Err(DETAILS));
        let unknown = check_final(
            None,
            arrived(50_000, 118),
            &payload(50_000, 118, SECRET),
            100,
            0,
        );
        assert_eq!(unknown.map_err(|f| f.code()), Err(DETAILS));
        let mut paid = inv.clone();
        paid.status = InvoiceStatus::Paid;
        paid.paid_by = Some(HtlcRef {
            channel_id: [1; 32],
            htlc_id: 2,
        });
        assert_eq!(check(&paid, 50_000, 118, SECRET), Err(DETAILS));
        let mut no_secret = payload(50_000, 118, SECRET);
        no_secret.payment_data = None;
        let r = check_final(Some(&inv), arrived(50_000, 118), &no_secret, 100, 2_000);
        assert_eq!(r.map_err(|f| f.code()), Err(DETAILS));
    }

    #[test]
    fn the_htlc_that_paid_passes_again_after_a_restart() {
        let mut paid = invoice();
        paid.status = InvoiceStatus::Paid;
        paid.paid_by = Some(HTLC);
        assert_eq!(check(&paid, 50_000, 118, SECRET), Ok(()));
    }

    #[test]
    fn open_amount_takes_anything_and_multipart_is_refused() {
        let mut open = invoice();
        open.amount_msat = None;
        assert_eq!(check(&open, 1, 118, SECRET), Ok(()));
        let mut part = payload(50_000, 118, SECRET);
        part.payment_data = Some(PaymentData {
            payment_secret: PaymentSecret(SECRET),
            total_msat: 100_000,
        });
        let r = check_final(Some(&open), arrived(50_000, 118), &part, 100, 2_000);
        assert_eq!(r.map_err(|f| f.code()), Err(DETAILS));
    }

    #[test]
    fn an_onion_that_disagrees_with_its_htlc_is_told_so() {
        let inv = invoice();
        let r = check_final(
            Some(&inv),
            arrived(50_000, 118),
            &payload(50_000, 119, SECRET),
            100,
            0,
        );
        assert_eq!(r.map_err(|f| f.code()), Err(18));
        let r = check_final(
            Some(&inv),
            arrived(50_000, 118),
            &payload(50_001, 118, SECRET),
            100,
            0,
        );
        assert_eq!(r.map_err(|f| f.code()), Err(19));
    }
}
