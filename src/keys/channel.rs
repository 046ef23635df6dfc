//! Per-channel keys: one BIP32 family per BOLT 3 basepoint, indexed by channel.

use bitcoin::hashes::{sha256, Hash, HashEngine};
use bitcoin::secp256k1::{PublicKey, SecretKey};

use super::{KeysError, KeysManager};

/// The key families under `m/1017'/coin'`. The numbers are part of the on-disk contract:
/// changing one changes every channel's keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum KeyFamily {
    /// The 2-of-2 funding output key.
    Funding = 0,
    RevocationBase = 1,
    HtlcBase = 2,
    PaymentBase = 3,
    DelayedPaymentBase = 4,
    /// Root of the per-commitment secrets (BOLT 3 "per-commitment secret generation").
    CommitmentSeed = 5,
    /// The node key (index 0).
    Node = 6,
}

impl KeyFamily {
    /// Every family, in discriminant order.
    pub const ALL: [KeyFamily; 7] = [
        KeyFamily::Funding,
        KeyFamily::RevocationBase,
        KeyFamily::HtlcBase,
        KeyFamily::PaymentBase,
        KeyFamily::DelayedPaymentBase,
        KeyFamily::CommitmentSeed,
        KeyFamily::Node,
    ];
}

/// The secrets one channel needs. Public basepoints come from [`ChannelKeys::basepoint`].
#[derive(Clone)]
pub struct ChannelKeys {
    pub channel_index: u32,
    pub funding_key: SecretKey,
    pub revocation_base_key: SecretKey,
    pub htlc_base_key: SecretKey,
    pub payment_base_key: SecretKey,
    pub delayed_payment_base_key: SecretKey,
    /// The BOLT 3 seed from which per-commitment secrets are generated.
    pub commitment_seed: [u8; 32],
}

impl std::fmt::Debug for ChannelKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelKeys")
            .field("channel_index", &self.channel_index)
            .finish_non_exhaustive()
    }
}

impl ChannelKeys {
    pub(super) fn derive(keys: &KeysManager, channel_index: u32) -> Result<Self, KeysError> {
        let seed_key = keys.lightning_key(KeyFamily::CommitmentSeed, channel_index)?;
        // Hash the derived key rather than use it directly, so the commitment seed is never
        // also a valid signing key that could leak through another use.
        let mut engine = sha256::Hash::engine();
        engine.input(b"chanhub commitment seed");
        engine.input(&seed_key.secret_bytes());
        let commitment_seed = sha256::Hash::from_engine(engine).to_byte_array();
        Ok(ChannelKeys {
            channel_index,
            funding_key: keys.lightning_key(KeyFamily::Funding, channel_index)?,
            revocation_base_key: keys.lightning_key(KeyFamily::RevocationBase, channel_index)?,
            htlc_base_key: keys.lightning_key(KeyFamily::HtlcBase, channel_index)?,
            payment_base_key: keys.lightning_key(KeyFamily::PaymentBase, channel_index)?,
            delayed_payment_base_key: keys
                .lightning_key(KeyFamily::DelayedPaymentBase, channel_index)?,
            commitment_seed,
        })
    }

    /// The public point of one of this channel's secrets.
    pub fn basepoint(keys: &KeysManager, secret: &SecretKey) -> PublicKey {
        PublicKey::from_secret_key(keys.secp(), secret)
    }
}

#[cfg(test)]
mod tests {
    use super::super::Seed;
    use super::*;
    use bitcoin::Network;

    #[test]
    fn channels_get_distinct_deterministic_keys() {
        let keys = KeysManager::new(&Seed::from_bytes([3; 32]), Network::Regtest);
        let a = keys.channel_keys(0).unwrap();
        let a2 = keys.channel_keys(0).unwrap();
        let b = keys.channel_keys(1).unwrap();
        assert_eq!(a.funding_key, a2.funding_key);
        assert_eq!(a.commitment_seed, a2.commitment_seed);
        assert_ne!(a.funding_key, b.funding_key);
        assert_ne!(a.commitment_seed, b.commitment_seed);
        let all = [
            a.funding_key,
            a.revocation_base_key,
            a.htlc_base_key,
            a.payment_base_key,
            a.delayed_payment_base_key,
            *keys.node_secret(),
        ];
        for (i, x) in all.iter().enumerate() {
            for y in &all[i + 1..] {
                assert_ne!(x, y);
            }
        }
        assert_ne!(a.commitment_seed, a.funding_key.secret_bytes());
    }
}
