//! What the channel manager counts since the process started: the signature work of the
//! commitment exchange, exported at `/metrics` and read by `scripts/bench` (which turns it into
//! the bound the hub's signature work puts on throughput, measured rather than assumed).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::wire::Message;

#[derive(Debug, Default)]
pub struct Counters {
    /// `commitment_signed` messages sent.
    pub commitments_sent: AtomicU64,
    /// Signatures they carried: one on the commitment, one per HTLC transaction.
    pub signatures_made: AtomicU64,
    /// `commitment_signed` messages received (each checked in full, or refused).
    pub commitments_received: AtomicU64,
    /// Signatures they carried.
    pub signatures_checked: AtomicU64,
}

impl Counters {
    pub(super) fn sent(&self, m: &Message) {
        if let Message::CommitmentSigned(c) = m {
            self.commitments_sent.fetch_add(1, Ordering::Relaxed);
            let sigs = 1 + c.htlc_signatures.len() as u64;
            self.signatures_made.fetch_add(sigs, Ordering::Relaxed);
        }
    }

    pub(super) fn received(&self, m: &Message) {
        if let Message::CommitmentSigned(c) = m {
            self.commitments_received.fetch_add(1, Ordering::Relaxed);
            let sigs = 1 + c.htlc_signatures.len() as u64;
            self.signatures_checked.fetch_add(sigs, Ordering::Relaxed);
        }
    }

    pub fn get(v: &AtomicU64) -> u64 {
        v.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use bitcoin::secp256k1::{ecdsa::Signature, Message as Digest, Secp256k1, SecretKey};

    use super::*;
    use crate::wire::{ChannelId, CommitmentSigned, TlvStream};

    #[test]
    fn commitments_and_their_signatures_are_counted_by_direction() {
        let secp = Secp256k1::new();
        let key = SecretKey::from_slice(&[1; 32]).unwrap();
        let sig: Signature = secp.sign_ecdsa(&Digest::from_digest([2; 32]), &key);
        let signed = |htlcs: usize| {
            Message::CommitmentSigned(CommitmentSigned {
                channel_id: ChannelId([0; 32]),
                signature: sig,
                htlc_signatures: vec![sig; htlcs],
                extra_tlvs: TlvStream::new(),
            })
        };
        let c = Counters::default();
        c.sent(&signed(2));
        c.sent(&signed(0));
        c.received(&signed(3));
        // Other messages are not signature work.
        c.sent(&Message::Ping(crate::wire::Ping {
            num_pong_bytes: 0,
            ignored: Vec::new(),
            extra_tlvs: TlvStream::new(),
        }));
        assert_eq!(Counters::get(&c.commitments_sent), 2);
        assert_eq!(Counters::get(&c.signatures_made), 4);
        assert_eq!(Counters::get(&c.commitments_received), 1);
        assert_eq!(Counters::get(&c.signatures_checked), 4);
    }
}
