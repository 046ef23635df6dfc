//! The payee's checks on an HTLC that ends here (BOLT 4, "Requirements for the final node";
//! BOLT 11 for the invoice).
//!
//! Every failure about the invoice itself (unknown hash, wrong secret, too little, expired,
//! already paid) is the same `incorrect_or_unknown_payment_details`, so a prober learns
//! nothing about which invoices exist.

use crate::onion::{FailureMessage, FinalPayload};

use super::mpp::SetTerms;
use super::types::{HtlcRef, InvoiceRecord, InvoiceStatus};

/// The incoming HTLC, as the channel committed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrived {
    pub htlc: HtlcRef,
    pub amount_msat: u64,
    pub cltv_expiry: u32,
}

/// Whether the HTLC may be a part of a payment of `invoice` (which the caller found by the
/// HTLC's payment hash): `Ok` gives the terms of the set it joins (see [`super::mpp`], which
/// checks the amounts). An HTLC already settled for the invoice is the caller's to recognise.
///
/// # Errors
/// The failure to return to the payer.
pub fn check_final(
    invoice: Option<&InvoiceRecord>,
    arrived: Arrived,
    payload: &FinalPayload,
    height: u32,
    now_secs: u64,
) -> Result<SetTerms, FailureMessage> {
    check_onion(arrived, payload)?;
    let details = details(arrived, height);
    let Some(inv) = invoice else {
        return Err(details);
    };
    let Some(data) = payload.payment_data else {
        return Err(details);
    };
    if data.payment_secret.0 != inv.payment_secret
        || inv.status != InvoiceStatus::Open
        || now_secs >= inv.expires_at
    {
        return Err(details);
    }
    if arrived.cltv_expiry < height.saturating_add(u32::from(inv.min_final_cltv_expiry_delta)) {
        return Err(details);
    }
    Ok(SetTerms {
        payment_secret: Some(inv.payment_secret),
        total_msat: data.total_msat,
    })
}

/// The onion against the HTLC itself (the previous hop may have cheated).
///
/// # Errors
/// `final_incorrect_cltv_expiry` or `final_incorrect_htlc_amount`.
pub fn check_onion(arrived: Arrived, payload: &FinalPayload) -> Result<(), FailureMessage> {
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
    Ok(())
}

/// `incorrect_or_unknown_payment_details` for this HTLC.
pub fn details(arrived: Arrived, height: u32) -> FailureMessage {
    FailureMessage::IncorrectOrUnknownPaymentDetails {
        htlc_msat: arrived.amount_msat,
        height,
    }
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
            preimage: Some([3; 32]),
            payment_secret: SECRET,
            amount_msat: Some(50_000),
            description: "coffee".into(),
            description_hash: None,
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

    fn check(inv: &InvoiceRecord, amount: u64, cltv: u32, secret: [u8; 32]) -> Result<u64, u16> {
        check_final(
            Some(inv),
            arrived(amount, cltv),
            &payload(amount, cltv, secret),
            100,
            2_000,
        )
        .map(|t| t.total_msat)
        .map_err(|f| f.code())
    }

    const DETAILS: u16 = 0x4000 | 15;

    #[test]
    fn the_right_secret_in_time_joins_a_set_of_the_announced_total() {
        assert_eq!(check(&invoice(), 50_000, 118, SECRET), Ok(50_000));
        let mut part = payload(20_000, 118, SECRET);
        part.payment_data = Some(PaymentData {
            payment_secret: PaymentSecret(SECRET),
            total_msat: 50_000,
        });
        let r = check_final(Some(&invoice()), arrived(20_000, 118), &part, 100, 2_000);
        assert_eq!(
            r,
            Ok(SetTerms {
                payment_secret: Some(SECRET),
                total_msat: 50_000
            })
        );
    }

    #[test]
    fn every_invoice_mismatch_is_the_same_failure() {
        let inv = invoice();
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
        for status in [InvoiceStatus::Paid, InvoiceStatus::Cancelled] {
            let mut done = inv.clone();
            done.status = status;
            assert_eq!(check(&done, 50_000, 118, SECRET), Err(DETAILS));
        }
        let mut no_secret = payload(50_000, 118, SECRET);
        no_secret.payment_data = None;
        let r = check_final(Some(&inv), arrived(50_000, 118), &no_secret, 100, 2_000);
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
