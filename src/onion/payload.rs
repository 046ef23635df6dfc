//! Hop payloads: the TLV stream each hop finds in its layer of the onion.
//!
//! | type | name | forward | final |
//! |---|---|---|---|
//! | 2 | `amt_to_forward` (tu64) | required | required |
//! | 4 | `outgoing_cltv_value` (tu32) | required | required |
//! | 6 | `short_channel_id` | required | refused |
//! | 8 | `payment_data` (secret, tu64 total) | refused | accepted |
//! | 16 | `payment_metadata` | ignored | accepted |
//! | 5482373484 | keysend preimage | refused | kept in `extra` ([`FinalPayload::keysend_preimage`]) |
//!
//! Route blinding (10, 12, 18) is not supported, so those even types are refused like any
//! unknown even type; unknown odd types are kept in `extra`.

use std::fmt;

use super::failure::FailureMessage;
use crate::wire::tlv::encode_value;
use crate::wire::{bigsize, DecodeError, Reader, ShortChannelId, TlvStream, Writer};

const AMT_TO_FORWARD: u64 = 2;
const OUTGOING_CLTV_VALUE: u64 = 4;
const SHORT_CHANNEL_ID: u64 = 6;
const PAYMENT_DATA: u64 = 8;
const PAYMENT_METADATA: u64 = 16;
/// Keysend (spontaneous payments, as LND, LDK and CLN send them): the final payload carries
/// the 32-byte preimage of the HTLC's payment hash, chosen by the sender. The type is even,
/// so a payee must understand it: we always read it (and keep it in `extra`), and the node's
/// `accept_keysend` decides whether the payment is taken; a forwarding hop refuses it.
pub const KEYSEND_PREIMAGE_TYPE: u64 = 5_482_373_484;

/// The 32-byte secret from the invoice that proves the payer saw it (and stops probing by
/// intermediate hops).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PaymentSecret(pub [u8; 32]);

impl fmt::Debug for PaymentSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PaymentSecret({})", hex::encode(self.0))
    }
}

/// `payment_data`: ties the HTLC to the invoice and announces the (multi-part) total.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaymentData {
    pub payment_secret: PaymentSecret,
    /// The whole payment's amount; equal to `amt_to_forward` for a single-part payment.
    pub total_msat: u64,
}

/// What a forwarding hop is told to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardPayload {
    /// The outgoing channel.
    pub short_channel_id: ShortChannelId,
    /// The amount the outgoing HTLC must carry; the difference to the incoming one is our fee.
    pub amt_to_forward: u64,
    /// The outgoing HTLC's `cltv_expiry`.
    pub outgoing_cltv_value: u32,
    /// Unknown odd records, kept as sent.
    pub extra: TlvStream,
}

/// What the final hop is told it receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinalPayload {
    /// The amount the sender meant this HTLC to carry.
    pub amt_to_forward: u64,
    /// The `cltv_expiry` the sender meant this HTLC to have.
    pub outgoing_cltv_value: u32,
    pub payment_data: Option<PaymentData>,
    pub payment_metadata: Option<Vec<u8>>,
    /// Unknown odd records and the keysend preimage, kept as sent.
    pub extra: TlvStream,
}

impl FinalPayload {
    /// The keysend preimage among the `extra` records: `Ok(None)` when there is none.
    ///
    /// # Errors
    /// `invalid_onion_payload` naming the keysend type when the record is not 32 bytes.
    pub fn keysend_preimage(&self) -> Result<Option<[u8; 32]>, FailureMessage> {
        self.extra
            .get(KEYSEND_PREIMAGE_TYPE)
            .map(|v| <[u8; 32]>::try_from(v).map_err(|_| invalid(KEYSEND_PREIMAGE_TYPE, 0)))
            .transpose()
    }

    /// With the keysend record when `preimage` is given (the sender's side).
    pub fn with_keysend(mut self, preimage: Option<[u8; 32]>) -> Self {
        if let Some(p) = preimage {
            self.set_keysend_preimage(p);
        }
        self
    }

    /// Adds the keysend record carrying `preimage` (the sender's side).
    pub fn set_keysend_preimage(&mut self, preimage: [u8; 32]) {
        self.extra.insert(KEYSEND_PREIMAGE_TYPE, preimage.to_vec());
    }
}

/// A decoded hop payload; which variant a packet may carry depends on whether it is the last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HopPayload {
    Forward(ForwardPayload),
    Final(FinalPayload),
}

impl HopPayload {
    /// The TLV stream, without the length prefix the packet adds.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        let (amt, cltv, extra) = match self {
            HopPayload::Forward(f) => (f.amt_to_forward, f.outgoing_cltv_value, &f.extra),
            HopPayload::Final(f) => (f.amt_to_forward, f.outgoing_cltv_value, &f.extra),
        };
        let mut known = vec![
            (AMT_TO_FORWARD, encode_value(&mut w, |v| v.put_tu64(amt))),
            (
                OUTGOING_CLTV_VALUE,
                encode_value(&mut w, |v| v.put_tu32(cltv)),
            ),
        ];
        match self {
            HopPayload::Forward(f) => known.push((
                SHORT_CHANNEL_ID,
                f.short_channel_id.0.to_be_bytes().to_vec(),
            )),
            HopPayload::Final(f) => {
                if let Some(pd) = &f.payment_data {
                    let value = encode_value(&mut w, |v| {
                        v.put_bytes(&pd.payment_secret.0);
                        v.put_tu64(pd.total_msat);
                    });
                    known.push((PAYMENT_DATA, value));
                }
                if let Some(meta) = &f.payment_metadata {
                    known.push((PAYMENT_METADATA, meta.clone()));
                }
            }
        }
        extra.with_records(known).write(&mut w);
        // TLV values carry no u16 prefixes, so there is nothing to overflow.
        w.finish().unwrap_or_default()
    }

    /// Decodes the payload of a forwarding hop (`is_final == false`) or of the final hop.
    ///
    /// # Errors
    /// The `invalid_onion_payload` failure to return, naming the offending type and its byte
    /// offset in the payload when there is one.
    pub fn decode(bytes: &[u8], is_final: bool) -> Result<Self, FailureMessage> {
        let mut tlvs = TlvStream::decode(bytes).map_err(|_| invalid(0, 0))?;
        let offsets = record_offsets(&tlvs);
        let bad = |typ: u64| invalid(typ, offsets(typ));
        let amt = tlvs
            .take_with(AMT_TO_FORWARD, |r| r.read_tu64())
            .map_err(|_| bad(AMT_TO_FORWARD))?
            .ok_or_else(|| bad(AMT_TO_FORWARD))?;
        let cltv = tlvs
            .take_with(OUTGOING_CLTV_VALUE, |r| r.read_tu32())
            .map_err(|_| bad(OUTGOING_CLTV_VALUE))?
            .ok_or_else(|| bad(OUTGOING_CLTV_VALUE))?;
        let scid = tlvs
            .take_with(SHORT_CHANNEL_ID, |r| r.read_u64().map(ShortChannelId))
            .map_err(|_| bad(SHORT_CHANNEL_ID))?;
        let payment_data = tlvs
            .take_with(PAYMENT_DATA, read_payment_data)
            .map_err(|_| bad(PAYMENT_DATA))?;
        let payment_metadata = tlvs.take(PAYMENT_METADATA);
        let keysend = tlvs.take(KEYSEND_PREIMAGE_TYPE);
        let mut extra = tlvs.into_unknown_odd().map_err(|e| match e {
            DecodeError::UnknownEvenTlv(typ) => bad(typ),
            _ => invalid(0, 0),
        })?;
        if is_final {
            if scid.is_some() {
                return Err(bad(SHORT_CHANNEL_ID));
            }
            if let Some(preimage) = keysend {
                extra.insert(KEYSEND_PREIMAGE_TYPE, preimage);
            }
            Ok(HopPayload::Final(FinalPayload {
                amt_to_forward: amt,
                outgoing_cltv_value: cltv,
                payment_data,
                payment_metadata,
                extra,
            }))
        } else {
            if payment_data.is_some() {
                return Err(bad(PAYMENT_DATA));
            }
            if keysend.is_some() {
                return Err(bad(KEYSEND_PREIMAGE_TYPE));
            }
            let short_channel_id = scid.ok_or_else(|| bad(SHORT_CHANNEL_ID))?;
            Ok(HopPayload::Forward(ForwardPayload {
                short_channel_id,
                amt_to_forward: amt,
                outgoing_cltv_value: cltv,
                extra,
            }))
        }
    }
}

fn read_payment_data(r: &mut Reader<'_>) -> Result<PaymentData, DecodeError> {
    Ok(PaymentData {
        payment_secret: PaymentSecret(r.read_array()?),
        total_msat: r.read_tu64()?,
    })
}

fn invalid(typ: u64, offset: u16) -> FailureMessage {
    FailureMessage::InvalidOnionPayload { typ, offset }
}

/// Where each record starts in the payload, for the `offset` of `invalid_onion_payload`; 0
/// for a type that is absent.
fn record_offsets(tlvs: &TlvStream) -> impl Fn(u64) -> u16 {
    let mut table = Vec::with_capacity(tlvs.records().len());
    let mut pos = 0usize;
    for rec in tlvs.records() {
        table.push((rec.typ, pos));
        let len = rec.value.len();
        pos += bigsize::encoded_len(rec.typ) + bigsize::encoded_len(len as u64) + len;
    }
    move |typ| {
        table
            .iter()
            .find(|(t, _)| *t == typ)
            .and_then(|(_, p)| u16::try_from(*p).ok())
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forward() -> HopPayload {
        HopPayload::Forward(ForwardPayload {
            short_channel_id: ShortChannelId(1),
            amt_to_forward: 15000,
            outgoing_cltv_value: 1500,
            extra: TlvStream::new(),
        })
    }

    #[test]
    fn forward_payload_matches_the_spec_encoding() {
        // The first hop of the BOLT 4 onion test, without its length prefix 0x12.
        assert_eq!(
            hex::encode(forward().encode()),
            "02023a98040205dc06080000000000000001"
        );
        let bytes = forward().encode();
        assert_eq!(HopPayload::decode(&bytes, false), Ok(forward()));
    }

    #[test]
    fn final_payload_round_trips_with_payment_data_and_odd_extras() {
        let mut extra = TlvStream::new();
        extra.insert(5482373485, vec![7; 32]);
        let p = HopPayload::Final(FinalPayload {
            amt_to_forward: 10_000,
            outgoing_cltv_value: 1000,
            payment_data: Some(PaymentData {
                payment_secret: PaymentSecret([0x24; 32]),
                total_msat: 10_000,
            }),
            payment_metadata: Some(vec![1, 2, 3]),
            extra,
        });
        assert_eq!(HopPayload::decode(&p.encode(), true), Ok(p));
    }

    #[test]
    fn the_keysend_preimage_travels_in_its_final_payload_record() {
        let mut p = FinalPayload {
            amt_to_forward: 10_000,
            outgoing_cltv_value: 1000,
            payment_data: None,
            payment_metadata: None,
            extra: TlvStream::new(),
        };
        assert_eq!(p.keysend_preimage(), Ok(None));
        p.set_keysend_preimage([9; 32]);
        let bytes = HopPayload::Final(p).encode();
        let Ok(HopPayload::Final(back)) = HopPayload::decode(&bytes, true) else {
            panic!("a final payload");
        };
        assert_eq!(back.keysend_preimage(), Ok(Some([9; 32])));
        // Even: a forwarding hop must not be given one.
        let mut fwd = hex::decode("02023a98040205dc06080000000000000001").unwrap();
        fwd.extend([0xff, 0, 0, 0, 0x01, 0x46, 0xc6, 0x61, 0x6c, 0x20]);
        fwd.extend([9; 32]);
        assert_eq!(
            HopPayload::decode(&fwd, false),
            Err(FailureMessage::InvalidOnionPayload {
                typ: KEYSEND_PREIMAGE_TYPE,
                offset: 18
            })
        );
        let mut short = back;
        short.extra = TlvStream::new();
        short.extra.insert(KEYSEND_PREIMAGE_TYPE, vec![9; 31]);
        assert_eq!(
            short.keysend_preimage(),
            Err(FailureMessage::InvalidOnionPayload {
                typ: KEYSEND_PREIMAGE_TYPE,
                offset: 0
            })
        );
    }

    #[test]
    fn position_rules_are_enforced() {
        let fwd = forward().encode();
        // A forward payload at the final hop names a channel it must not have.
        assert_eq!(
            HopPayload::decode(&fwd, true),
            Err(FailureMessage::InvalidOnionPayload { typ: 6, offset: 8 })
        );
        // Without short_channel_id a forwarding hop does not know where to go.
        let no_scid = hex::decode("02023a98040205dc").unwrap();
        assert_eq!(
            HopPayload::decode(&no_scid, false),
            Err(FailureMessage::InvalidOnionPayload { typ: 6, offset: 0 })
        );
        let no_amt = hex::decode("040205dc06080000000000000001").unwrap();
        assert_eq!(
            HopPayload::decode(&no_amt, false),
            Err(FailureMessage::InvalidOnionPayload { typ: 2, offset: 0 })
        );
    }

    #[test]
    fn unknown_even_and_malformed_values_are_invalid_onion_payload() {
        // Type 10 (encrypted_recipient_data): route blinding is not supported.
        let blinded = hex::decode("02023a98040205dc0a0100").unwrap();
        assert_eq!(
            HopPayload::decode(&blinded, true),
            Err(FailureMessage::InvalidOnionPayload { typ: 10, offset: 8 })
        );
        // A non-minimal tu64 amount.
        let padded = hex::decode("0203003a98040205dc").unwrap();
        assert_eq!(
            HopPayload::decode(&padded, true),
            Err(FailureMessage::InvalidOnionPayload { typ: 2, offset: 0 })
        );
        // Not a TLV stream at all.
        assert_eq!(
            HopPayload::decode(&[0x02, 0x05, 0x01], true),
            Err(FailureMessage::InvalidOnionPayload { typ: 0, offset: 0 })
        );
    }
}
