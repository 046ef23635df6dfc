//! The node's seed: 32 bytes from OS entropy, the root of every key the node holds.

use std::path::Path;

use rand::RngCore;

use super::secret_file::create_secret_file;
use super::KeysError;

/// The seed file's name inside the data directory.
pub const SEED_FILE: &str = "seed";
pub const SEED_LEN: usize = 32;

/// The root secret. Stored as 64 hex characters (and a newline) so it can be copied by hand.
#[derive(Clone)]
pub struct Seed([u8; SEED_LEN]);

impl std::fmt::Debug for Seed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Seed(..)")
    }
}

impl Seed {
    pub fn from_bytes(bytes: [u8; SEED_LEN]) -> Self {
        Seed(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; SEED_LEN] {
        &self.0
    }

    /// A fresh seed from the operating system's entropy source.
    pub fn generate() -> Self {
        let mut bytes = [0u8; SEED_LEN];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Seed(bytes)
    }

    /// Reads the seed file in `datadir`, or creates one (mode 0600) when there is none.
    /// Returns whether it was created, so a new wallet knows it has no history to rescan.
    pub fn load_or_create(datadir: &Path) -> Result<(Seed, bool), KeysError> {
        let path = datadir.join(SEED_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok((Self::parse(&text)?, false)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let seed = Seed::generate();
                let text = format!("{}\n", hex::encode(seed.0));
                create_secret_file(&path, text.as_bytes()).map_err(|source| KeysError::Io {
                    path: path.clone(),
                    source,
                })?;
                Ok((seed, true))
            }
            Err(source) => Err(KeysError::Io { path, source }),
        }
    }

    fn parse(text: &str) -> Result<Seed, KeysError> {
        let bytes = hex::decode(text.trim()).map_err(|_| KeysError::MalformedSeed)?;
        let bytes: [u8; SEED_LEN] = bytes.try_into().map_err(|_| KeysError::MalformedSeed)?;
        Ok(Seed(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_load_creates_then_reloads_the_same_seed() {
        let dir = tempfile::tempdir().unwrap();
        let (a, created) = Seed::load_or_create(dir.path()).unwrap();
        assert!(created);
        let (b, created) = Seed::load_or_create(dir.path()).unwrap();
        assert!(!created);
        assert_eq!(a.as_bytes(), b.as_bytes());
        #[cfg(unix)]
        assert_eq!(
            super::super::secret_file::mode(&dir.path().join(SEED_FILE)).unwrap(),
            0o600
        );
    }

    #[test]
    fn a_damaged_seed_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(SEED_FILE), "abcd\n").unwrap();
        assert!(matches!(
            Seed::load_or_create(dir.path()),
            Err(KeysError::MalformedSeed)
        ));
    }
}
