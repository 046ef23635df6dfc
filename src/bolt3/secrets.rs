//! Per-commitment secrets: generation from a seed and compact storage (BOLT 3 "Per-commitment
//! Secret Requirements" and "Efficient Per-commitment Secret Storage").
//!
//! Secrets are indexed from `2^48 - 1` downwards: commitment number `n` uses index
//! `2^48 - 1 - n`. Secret `I` is derived from the seed by flipping and hashing along the set bits
//! of `I`, from bit 47 down. Hence a secret whose index ends in `k` zero bits derives every secret
//! whose index shares its upper `48 - k` bits, and the receiver of a descending series needs to
//! keep at most 49 secrets to answer for every revoked commitment.

use bitcoin::hashes::{sha256, Hash};
use bitcoin::secp256k1::{PublicKey, SecretKey};

use super::{secp, Bolt3Error};

/// The index of the first secret; later ones count down from here.
pub const FIRST_INDEX: u64 = (1 << 48) - 1;

/// The secret index for commitment number `commitment_number`.
pub fn index_for_commitment(commitment_number: u64) -> Result<u64, Bolt3Error> {
    if commitment_number > FIRST_INDEX {
        return Err(Bolt3Error::NumberTooLarge(commitment_number));
    }
    Ok(FIRST_INDEX - commitment_number)
}

/// `derive_secret(base, bits, I)`: apply flip-and-hash for bits `bits-1 ..= 0` set in `index`.
fn derive_secret(base: [u8; 32], bits: u32, index: u64) -> [u8; 32] {
    let mut p = base;
    for b in (0..bits).rev() {
        if index & (1 << b) != 0 {
            p[(b / 8) as usize] ^= 1 << (b % 8);
            p = sha256::Hash::hash(&p).to_byte_array();
        }
    }
    p
}

/// `generate_from_seed(seed, I)`.
pub fn generate_from_seed(seed: &[u8; 32], index: u64) -> Result<[u8; 32], Bolt3Error> {
    if index > FIRST_INDEX {
        return Err(Bolt3Error::NumberTooLarge(index));
    }
    Ok(derive_secret(*seed, 48, index))
}

/// `per_commitment_point = per_commitment_secret * G`.
pub fn per_commitment_point(secret: &[u8; 32]) -> Result<PublicKey, Bolt3Error> {
    let sk = SecretKey::from_slice(secret).map_err(|_| Bolt3Error::InvalidSecret)?;
    Ok(sk.public_key(secp()))
}

/// Our own per-commitment secrets, generated on demand from the channel's seed.
#[derive(Clone, PartialEq, Eq)]
pub struct PerCommitmentSecrets {
    seed: [u8; 32],
}

impl std::fmt::Debug for PerCommitmentSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PerCommitmentSecrets(..)")
    }
}

impl PerCommitmentSecrets {
    /// The seed must be unguessable and never revealed.
    pub fn new(seed: [u8; 32]) -> Self {
        PerCommitmentSecrets { seed }
    }

    /// The secret of commitment number `commitment_number` (0 is the first commitment).
    pub fn secret(&self, commitment_number: u64) -> Result<[u8; 32], Bolt3Error> {
        generate_from_seed(&self.seed, index_for_commitment(commitment_number)?)
    }

    /// The point of commitment number `commitment_number`, sent ahead of time to the peer.
    pub fn point(&self, commitment_number: u64) -> Result<PublicKey, Bolt3Error> {
        per_commitment_point(&self.secret(commitment_number)?)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    index: u64,
    secret: [u8; 32],
}

/// Compact storage of the counterparty's revealed secrets: at most 49 entries, one per count
/// of trailing zero bits in the index.
///
/// Each insert checks that the new secret derives every secret already held that it should be
/// able to derive; a peer that sends secrets from a different seed (and so could later publish
/// an old commitment we cannot punish) is caught at the first secret that exposes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationStore {
    known: [Option<Entry>; 49],
    /// The index the next secret must have; `None` before the first secret.
    next_index: Option<u64>,
}

impl Default for RevocationStore {
    fn default() -> Self {
        RevocationStore {
            known: [None; 49],
            next_index: None,
        }
    }
}

impl RevocationStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The index the next inserted secret must have.
    pub fn next_index(&self) -> u64 {
        self.next_index.unwrap_or(FIRST_INDEX)
    }

    /// The lowest index received so far, if any.
    pub fn lowest_index(&self) -> Option<u64> {
        self.next_index.map(|n| n + 1)
    }

    /// `insert_secret(secret, I)`: store the secret for `index` after checking it derives all
    /// earlier ones. Indices must come in order, `2^48 - 1` first, each one below the last.
    pub fn insert(&mut self, index: u64, secret: [u8; 32]) -> Result<(), Bolt3Error> {
        let expected = self.next_index();
        if self.next_index == Some(u64::MAX) || index != expected {
            return Err(Bolt3Error::UnexpectedSecretIndex {
                expected,
                got: index,
            });
        }
        let bucket = index.trailing_zeros().min(48);
        for entry in self.known[..bucket as usize].iter().flatten() {
            if derive_secret(secret, bucket, entry.index) != entry.secret {
                return Err(Bolt3Error::InconsistentSecret { index });
            }
        }
        self.known[bucket as usize] = Some(Entry { index, secret });
        // After index 0 nothing more can come: mark the store exhausted.
        self.next_index = Some(index.checked_sub(1).unwrap_or(u64::MAX));
        Ok(())
    }

    /// `derive_old_secret(I)`: the secret for any index already received.
    pub fn get(&self, index: u64) -> Result<[u8; 32], Bolt3Error> {
        for (bits, entry) in self.known.iter().enumerate() {
            if let Some(entry) = entry {
                let mask = !((1u64 << bits) - 1);
                if index & mask == entry.index {
                    return Ok(derive_secret(entry.secret, bits as u32, index));
                }
            }
        }
        Err(Bolt3Error::UnknownSecret(index))
    }

    /// A compact encoding for persistence: the next expected index (8 bytes, big-endian), then
    /// for each of the 49 slots a presence byte and, if present, index (8 bytes) and secret.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + 49 * 41);
        out.extend_from_slice(&self.next_index.unwrap_or(FIRST_INDEX + 1).to_be_bytes());
        for slot in &self.known {
            match slot {
                Some(e) => {
                    out.push(1);
                    out.extend_from_slice(&e.index.to_be_bytes());
                    out.extend_from_slice(&e.secret);
                }
                None => out.push(0),
            }
        }
        out
    }

    /// Decode [`RevocationStore::to_bytes`], checking each slot holds an index of its own
    /// trailing-zero count.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Bolt3Error> {
        const BAD: Bolt3Error = Bolt3Error::BadEncoding("revocation store");
        let mut rest = bytes;
        let mut take = |n: usize| -> Result<&[u8], Bolt3Error> {
            if rest.len() < n {
                return Err(BAD);
            }
            let (head, tail) = rest.split_at(n);
            rest = tail;
            Ok(head)
        };
        let u64_at = |b: &[u8]| u64::from_be_bytes(b.try_into().unwrap_or([0xff; 8]));
        let next = u64_at(take(8)?);
        let mut store = RevocationStore::new();
        store.next_index = match next {
            n if n == FIRST_INDEX + 1 => None,
            n if n <= FIRST_INDEX || n == u64::MAX => Some(n),
            _ => return Err(BAD),
        };
        for (bucket, slot) in store.known.iter_mut().enumerate() {
            match take(1)?[0] {
                0 => {}
                1 => {
                    let index = u64_at(take(8)?);
                    if index > FIRST_INDEX || index.trailing_zeros().min(48) as usize != bucket {
                        return Err(BAD);
                    }
                    let secret: [u8; 32] = take(32)?.try_into().map_err(|_| BAD)?;
                    *slot = Some(Entry { index, secret });
                }
                _ => return Err(BAD),
            }
        }
        if !rest.is_empty() {
            return Err(BAD);
        }
        Ok(store)
    }

    /// The secret of the counterparty's commitment number `commitment_number`, if revoked.
    pub fn secret_for_commitment(&self, commitment_number: u64) -> Result<[u8; 32], Bolt3Error> {
        self.get(index_for_commitment(commitment_number)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commitment_numbers_count_down_from_first_index() {
        assert_eq!(index_for_commitment(0).unwrap(), FIRST_INDEX);
        assert_eq!(index_for_commitment(FIRST_INDEX).unwrap(), 0);
        assert_eq!(
            index_for_commitment(FIRST_INDEX + 1),
            Err(Bolt3Error::NumberTooLarge(FIRST_INDEX + 1))
        );
        assert!(generate_from_seed(&[0; 32], 1 << 48).is_err());
    }

    #[test]
    fn store_derives_every_old_secret_of_a_long_run() {
        let seeds = PerCommitmentSecrets::new([7u8; 32]);
        let mut store = RevocationStore::new();
        for n in 0..1000u64 {
            store
                .insert(index_for_commitment(n).unwrap(), seeds.secret(n).unwrap())
                .unwrap();
            assert!(store.known.iter().flatten().count() <= 49);
        }
        for n in 0..1000u64 {
            assert_eq!(
                store.secret_for_commitment(n).unwrap(),
                seeds.secret(n).unwrap()
            );
        }
        assert_eq!(
            store.secret_for_commitment(1000),
            Err(Bolt3Error::UnknownSecret(FIRST_INDEX - 1000))
        );
    }

    #[test]
    fn store_round_trips_through_bytes() {
        let seeds = PerCommitmentSecrets::new([3u8; 32]);
        let mut store = RevocationStore::new();
        assert_eq!(
            RevocationStore::from_bytes(&store.to_bytes()).unwrap(),
            store
        );
        for n in 0..77u64 {
            store
                .insert(index_for_commitment(n).unwrap(), seeds.secret(n).unwrap())
                .unwrap();
        }
        let bytes = store.to_bytes();
        let mut restored = RevocationStore::from_bytes(&bytes).unwrap();
        assert_eq!(restored, store);
        restored
            .insert(index_for_commitment(77).unwrap(), seeds.secret(77).unwrap())
            .unwrap();
        assert!(RevocationStore::from_bytes(&bytes[..bytes.len() - 1]).is_err());
        let mut corrupt = bytes.clone();
        corrupt[8] = 2;
        assert!(RevocationStore::from_bytes(&corrupt).is_err());
    }

    #[test]
    fn store_rejects_out_of_order_and_repeated_indices() {
        let seeds = PerCommitmentSecrets::new([9u8; 32]);
        let mut store = RevocationStore::new();
        assert_eq!(
            store.insert(FIRST_INDEX - 1, seeds.secret(1).unwrap()),
            Err(Bolt3Error::UnexpectedSecretIndex {
                expected: FIRST_INDEX,
                got: FIRST_INDEX - 1
            })
        );
        store.insert(FIRST_INDEX, seeds.secret(0).unwrap()).unwrap();
        assert!(store.insert(FIRST_INDEX, seeds.secret(0).unwrap()).is_err());
        assert_eq!(store.lowest_index(), Some(FIRST_INDEX));
    }

    #[test]
    fn points_are_secrets_times_g() {
        let seeds = PerCommitmentSecrets::new([1u8; 32]);
        let secret = seeds.secret(5).unwrap();
        let sk = SecretKey::from_slice(&secret).unwrap();
        assert_eq!(seeds.point(5).unwrap(), sk.public_key(secp()));
        assert_eq!(
            per_commitment_point(&[0; 32]),
            Err(Bolt3Error::InvalidSecret)
        );
    }
}
