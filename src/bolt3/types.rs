//! Small shared types: the channel type and HTLC vocabulary.

use bitcoin::hashes::{sha256, Hash};
use bitcoin::sighash::EcdsaSighashType;
use bitcoin::Sequence;

/// The commitment format negotiated for a channel (BOLT 2 `channel_type`, BOLT 3 per-type rules).
///
/// We open `AnchorsZeroFeeHtlc` channels and accept `StaticRemoteKey` as the fallback; nothing
/// older. Every rule that differs between them is a method here so no caller branches on the
/// type itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ChannelType {
    /// `option_static_remotekey`: `to_remote` is P2WPKH to the counterparty's untweaked
    /// `payment_basepoint`; commitment and HTLC transactions carry their own fee.
    StaticRemoteKey,
    /// `option_anchors_zero_fee_htlc_tx`: two 330-sat anchors for CPFP, every non-anchor output
    /// of the commitment waits one block (`1 OP_CSV`), HTLC transactions pay zero fee and the
    /// counterparty signs them `SIGHASH_SINGLE|SIGHASH_ANYONECANPAY` so fees can be attached.
    #[default]
    AnchorsZeroFeeHtlc,
}

impl ChannelType {
    /// Whether the commitment carries anchor outputs (and the anchor-specific script variants).
    pub fn has_anchors(self) -> bool {
        matches!(self, ChannelType::AnchorsZeroFeeHtlc)
    }

    /// The `nSequence` of the input of an HTLC-timeout/success transaction: the HTLC outputs
    /// of an anchors commitment are locked by `1 OP_CSV`, so the spend must signal 1.
    pub fn htlc_tx_sequence(self) -> Sequence {
        if self.has_anchors() {
            Sequence(1)
        } else {
            Sequence(0)
        }
    }

    /// The sighash type of the counterparty's signature on our HTLC transactions. With zero-fee
    /// HTLC transactions the holder must be able to add inputs and outputs to pay the fee, so the
    /// counterparty commits only to its own input/output pair.
    pub fn counterparty_htlc_sighash(self) -> EcdsaSighashType {
        if self.has_anchors() {
            EcdsaSighashType::SinglePlusAnyoneCanPay
        } else {
            EcdsaSighashType::All
        }
    }
}

/// Which way an HTLC goes, seen from the owner of the commitment transaction being built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HtlcDirection {
    /// The owner pays it (`local->remote`): claimed back via HTLC-timeout.
    Offered,
    /// The owner is paid it (`remote->local`): claimed via HTLC-success with the preimage.
    Received,
}

/// SHA256 of the payment preimage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PaymentHash(pub [u8; 32]);

/// The 32-byte secret whose SHA256 is the payment hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PaymentPreimage(pub [u8; 32]);

impl PaymentPreimage {
    /// The payment hash this preimage unlocks.
    pub fn payment_hash(&self) -> PaymentHash {
        PaymentHash(sha256::Hash::hash(&self.0).to_byte_array())
    }
}
