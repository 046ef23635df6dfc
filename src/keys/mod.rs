//! Every key the node holds, derived from one [`Seed`].
//!
//! Derivation paths (BIP32; `coin` is 0 on bitcoin, 1 on test networks):
//! - on-chain wallet, BIP84 P2WPKH: `m/84'/coin'/0'/keychain/index` (keychain 0 receive, 1 change);
//! - node key: `m/1017'/coin'/6'/0/0`; its public key is the BOLT node id;
//! - channel keys, one family per basepoint: `m/1017'/coin'/family'/0/channel_index` (the key
//!   families of [`channel::KeyFamily`]).
//! - the LSPS2 promise secret (an HMAC key, never a curve key in use): `m/1017'/coin'/52'/0/0`,
//!   a family no channel uses (52 for bLIP 52), so offers made before a restart still verify.
//!
//! The `1017'` purpose and the family numbers follow the layout lnd uses, so the scheme is one a
//! reader may already know. Everything is deterministic: the seed alone restores every key.

pub mod channel;
pub mod secret_file;
pub mod seed;

use std::path::PathBuf;

use bitcoin::bip32::{ChildNumber, Xpriv};
use bitcoin::secp256k1::{All, PublicKey, Secp256k1, SecretKey};
use bitcoin::{CompressedPublicKey, Network, NetworkKind, ScriptBuf};

pub use channel::{ChannelKeys, KeyFamily};
pub use seed::Seed;

/// Why keys could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeysError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the seed file is damaged (expected 64 hex characters)")]
    MalformedSeed,
    #[error("derivation index {0} is out of range (must be below 2^31)")]
    IndexOutOfRange(u32),
}

/// The two BIP84 chains of the on-chain wallet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Keychain {
    /// Addresses handed out to receive coins.
    External = 0,
    /// Change and sweep destinations.
    Internal = 1,
}

impl Keychain {
    pub fn index(self) -> u32 {
        self as u32
    }

    pub fn from_index(i: i64) -> Option<Self> {
        match i {
            0 => Some(Keychain::External),
            1 => Some(Keychain::Internal),
            _ => None,
        }
    }
}

/// Derives the node's keys from the seed. Cheap to share behind an `Arc`.
pub struct KeysManager {
    secp: Secp256k1<All>,
    network: Network,
    node_secret: SecretKey,
    node_id: PublicKey,
    /// `m/84'/coin'/0'/0` and `m/84'/coin'/0'/1`, kept so a wallet key is one derivation step.
    keychains: [Xpriv; 2],
    /// `m/1017'/coin'/family'/0` for each [`KeyFamily`], in discriminant order: a channel key
    /// is then one derivation step, not three. A node with 1,000 channels derives 6,000 keys
    /// at start, and each skipped step saved an elliptic-curve multiplication.
    families: Vec<Xpriv>,
    /// See [`KeysManager::lsps2_promise_secret`].
    lsps2_promise: [u8; 32],
}

/// The `1017'` family of the LSPS2 promise secret (bLIP 52), outside lnd's families.
const LSPS2_PROMISE_FAMILY: u32 = 52;

fn hardened(i: u32) -> ChildNumber {
    ChildNumber::from_hardened_idx(i).expect("constant below 2^31")
}

fn normal(i: u32) -> Result<ChildNumber, KeysError> {
    ChildNumber::from_normal_idx(i).map_err(|_| KeysError::IndexOutOfRange(i))
}

impl KeysManager {
    pub fn new(seed: &Seed, network: Network) -> Self {
        let secp = Secp256k1::new();
        // A 32-byte seed is always a valid BIP32 seed (16..=64 bytes).
        let master = Xpriv::new_master(network, seed.as_bytes()).expect("32-byte seed");
        let coin = if NetworkKind::from(network) == NetworkKind::Main {
            0
        } else {
            1
        };
        let account = master
            .derive_priv(&secp, &[hardened(84), hardened(coin), hardened(0)])
            .expect("hardened derivation");
        let keychains = [
            account
                .derive_priv(&secp, &[ChildNumber::Normal { index: 0 }])
                .expect("normal derivation"),
            account
                .derive_priv(&secp, &[ChildNumber::Normal { index: 1 }])
                .expect("normal derivation"),
        ];
        let lightning_root = master
            .derive_priv(&secp, &[hardened(1017), hardened(coin)])
            .expect("hardened derivation");
        let families: Vec<Xpriv> = KeyFamily::ALL
            .iter()
            .map(|f| {
                lightning_root
                    .derive_priv(
                        &secp,
                        &[hardened(*f as u32), ChildNumber::Normal { index: 0 }],
                    )
                    .expect("derivation of a valid path")
            })
            .collect();
        let node_secret =
            Self::family_key(&secp, &families, KeyFamily::Node, 0).expect("index 0 is in range");
        let node_id = PublicKey::from_secret_key(&secp, &node_secret);
        let lsps2_promise = lightning_root
            .derive_priv(
                &secp,
                &[
                    hardened(LSPS2_PROMISE_FAMILY),
                    ChildNumber::Normal { index: 0 },
                    ChildNumber::Normal { index: 0 },
                ],
            )
            .expect("derivation of a valid path")
            .private_key
            .secret_bytes();
        KeysManager {
            secp,
            network,
            node_secret,
            node_id,
            keychains,
            families,
            lsps2_promise,
        }
    }

    /// The key at `m/1017'/coin'/family'/0/index`.
    fn family_key(
        secp: &Secp256k1<All>,
        families: &[Xpriv],
        family: KeyFamily,
        index: u32,
    ) -> Result<SecretKey, KeysError> {
        Ok(families[family as usize]
            .derive_priv(secp, &[normal(index)?])
            .expect("derivation of a valid path")
            .private_key)
    }

    pub fn network(&self) -> Network {
        self.network
    }

    pub fn secp(&self) -> &Secp256k1<All> {
        &self.secp
    }

    /// The BOLT node id: the node key's compressed public key.
    pub fn node_id(&self) -> PublicKey {
        self.node_id
    }

    /// The node key, for the BOLT 8 handshake and gossip signatures.
    pub fn node_secret(&self) -> &SecretKey {
        &self.node_secret
    }

    /// The HMAC key of LSPS2's `promise`s: deterministic from the seed, so offers survive a
    /// restart. Secret: never logged.
    pub fn lsps2_promise_secret(&self) -> [u8; 32] {
        self.lsps2_promise
    }

    /// The wallet key at `keychain/index`.
    pub fn wallet_secret(&self, keychain: Keychain, index: u32) -> Result<SecretKey, KeysError> {
        let xpriv = self.keychains[keychain as usize]
            .derive_priv(&self.secp, &[normal(index)?])
            .expect("normal derivation");
        Ok(xpriv.private_key)
    }

    /// The P2WPKH output script of the wallet key at `keychain/index`.
    pub fn wallet_script(&self, keychain: Keychain, index: u32) -> Result<ScriptBuf, KeysError> {
        let sk = self.wallet_secret(keychain, index)?;
        let pk = CompressedPublicKey(PublicKey::from_secret_key(&self.secp, &sk));
        Ok(ScriptBuf::new_p2wpkh(&pk.wpubkey_hash()))
    }

    /// The basepoint secrets and commitment seed of the channel numbered `channel_index`.
    /// Callers allocate indexes from the store so two channels never share keys.
    pub fn channel_keys(&self, channel_index: u32) -> Result<ChannelKeys, KeysError> {
        ChannelKeys::derive(self, channel_index)
    }

    pub(crate) fn lightning_key(
        &self,
        family: KeyFamily,
        index: u32,
    ) -> Result<SecretKey, KeysError> {
        Self::family_key(&self.secp, &self.families, family, index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn keys(byte: u8, network: Network) -> KeysManager {
        KeysManager::new(&Seed::from_bytes([byte; 32]), network)
    }

    #[test]
    fn family_keys_are_the_full_path_derivations() {
        // The cached family roots must not move any key: channels and the node id depend on
        // them for as long as funds sit in a channel.
        let seed = Seed::from_bytes([9; 32]);
        let k = KeysManager::new(&seed, Network::Regtest);
        let secp = Secp256k1::new();
        let master = Xpriv::new_master(Network::Regtest, seed.as_bytes()).unwrap();
        for family in KeyFamily::ALL {
            for index in [0, 1, 7, 1000] {
                let path = [
                    hardened(1017),
                    hardened(1),
                    hardened(family as u32),
                    normal(0).unwrap(),
                    normal(index).unwrap(),
                ];
                let full = master.derive_priv(&secp, &path).unwrap().private_key;
                assert_eq!(
                    k.lightning_key(family, index).unwrap(),
                    full,
                    "{family:?}/{index}"
                );
            }
        }
        let node = master
            .derive_priv(
                &secp,
                &[
                    hardened(1017),
                    hardened(1),
                    hardened(6),
                    normal(0).unwrap(),
                    normal(0).unwrap(),
                ],
            )
            .unwrap()
            .private_key;
        assert_eq!(k.node_id(), PublicKey::from_secret_key(&secp, &node));
    }

    #[test]
    fn the_lsps2_promise_secret_is_its_own_path_and_the_seeds() {
        let secp = Secp256k1::new();
        let k = keys(5, Network::Regtest);
        let master = Xpriv::new_master(Network::Regtest, &[5; 32]).unwrap();
        let path = bitcoin::bip32::DerivationPath::from_str("m/1017'/1'/52'/0/0").unwrap();
        let want = master.derive_priv(&secp, &path).unwrap().private_key;
        assert_eq!(k.lsps2_promise_secret(), want.secret_bytes());
        assert_eq!(
            keys(5, Network::Regtest).lsps2_promise_secret(),
            k.lsps2_promise_secret()
        );
        assert_ne!(
            keys(6, Network::Regtest).lsps2_promise_secret(),
            k.lsps2_promise_secret()
        );
        assert_ne!(k.lsps2_promise_secret(), k.node_secret().secret_bytes());
    }

    #[test]
    fn derivation_is_deterministic_and_seed_dependent() {
        let a = keys(1, Network::Regtest);
        let b = keys(1, Network::Regtest);
        let c = keys(2, Network::Regtest);
        assert_eq!(a.node_id(), b.node_id());
        assert_ne!(a.node_id(), c.node_id());
        assert_eq!(
            a.wallet_script(Keychain::External, 5).unwrap(),
            b.wallet_script(Keychain::External, 5).unwrap()
        );
        assert_ne!(
            a.wallet_script(Keychain::External, 5).unwrap(),
            a.wallet_script(Keychain::Internal, 5).unwrap()
        );
        assert_eq!(a.node_id().serialize().len(), 33);
    }

    #[test]
    fn wallet_keys_follow_bip84() {
        // BIP84's test vector mnemonic "abandon … about" has this BIP39 seed; its first
        // receive address on mainnet is given by the BIP.
        let seed = hex::decode(
            "5eb00bbddcf069084889a8ab9155568165f5c453ccb85e70811aaed6f6da5fc1\
             9a5ac40b389cd370d086206dec8aa6c43daea6690f20ad3d8d48b2d2ce9e38e4",
        )
        .unwrap();
        let secp = Secp256k1::new();
        let master = Xpriv::new_master(Network::Bitcoin, &seed).unwrap();
        let path = bitcoin::bip32::DerivationPath::from_str("m/84'/0'/0'/0/0").unwrap();
        let sk = master.derive_priv(&secp, &path).unwrap().private_key;
        let pk = CompressedPublicKey(PublicKey::from_secret_key(&secp, &sk));
        let addr = bitcoin::Address::p2wpkh(&pk, Network::Bitcoin);
        assert_eq!(
            addr.to_string(),
            "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"
        );
        // Our keychain derivation must walk the same path: check the structure on a 32-byte
        // seed by deriving the full path by hand.
        let ours = keys(7, Network::Regtest);
        let master = Xpriv::new_master(Network::Regtest, &[7u8; 32]).unwrap();
        let path = bitcoin::bip32::DerivationPath::from_str("m/84'/1'/0'/1/3").unwrap();
        let expected = master.derive_priv(&secp, &path).unwrap().private_key;
        assert_eq!(ours.wallet_secret(Keychain::Internal, 3).unwrap(), expected);
    }

    #[test]
    fn out_of_range_indexes_are_errors_not_panics() {
        let k = keys(1, Network::Regtest);
        assert!(matches!(
            k.wallet_secret(Keychain::External, 1 << 31),
            Err(KeysError::IndexOutOfRange(_))
        ));
        assert!(k.channel_keys(u32::MAX).is_err());
    }
}
