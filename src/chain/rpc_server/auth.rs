//! HTTP Basic authentication as bitcoind does it: a configured user/password and/or the
//! `.cookie` file (`__cookie__:<64 hex>`, owner-only, removed on shutdown).

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;

/// The user name of cookie authentication.
pub const COOKIE_USER: &str = "__cookie__";
/// The cookie's file name in the cookie directory.
pub const COOKIE_FILE: &str = ".cookie";

/// The credentials the server accepts.
#[derive(Clone)]
pub struct Credentials {
    accepted: Vec<(String, String)>,
}

impl Credentials {
    pub fn new(accepted: Vec<(String, String)>) -> Credentials {
        Credentials { accepted }
    }

    /// Checks an `Authorization` header value. Comparisons take the same time wherever the
    /// first difference is, so a wrong password does not leak how much of it was right.
    pub fn check(&self, header: &str) -> bool {
        let Some(encoded) = header.strip_prefix("Basic ") else {
            return false;
        };
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
            return false;
        };
        let Some(colon) = decoded.iter().position(|b| *b == b':') else {
            return false;
        };
        let (user, pass) = (&decoded[..colon], &decoded[colon + 1..]);
        let mut ok = false;
        for (u, p) in &self.accepted {
            ok |= constant_time_eq(u.as_bytes(), user) & constant_time_eq(p.as_bytes(), pass);
        }
        ok
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Writes a fresh cookie into `dir` (through a temporary file, so a reader never sees half a
/// cookie) and returns its path and password.
pub fn write_cookie(dir: &Path) -> std::io::Result<(PathBuf, String)> {
    std::fs::create_dir_all(dir)?;
    let password = hex::encode(rand::random::<[u8; 32]>());
    let path = dir.join(COOKIE_FILE);
    let tmp = dir.join(format!("{COOKIE_FILE}.tmp"));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp)?;
    file.write_all(format!("{COOKIE_USER}:{password}").as_bytes())?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, &path)?;
    Ok((path, password))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user: &str, pass: &str) -> String {
        let raw = format!("{user}:{pass}");
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }

    #[test]
    fn accepts_only_configured_credentials() {
        let c = Credentials::new(vec![("u".into(), "p:w".into())]);
        assert!(c.check(&basic("u", "p:w")));
        assert!(!c.check(&basic("u", "p")));
        assert!(!c.check(&basic("x", "p:w")));
        assert!(!c.check("Bearer abc"));
        assert!(!c.check("Basic !!!"));
    }

    #[test]
    fn cookie_is_private_and_well_formed() {
        let dir = tempfile::tempdir().unwrap();
        let (path, password) = write_cookie(dir.path()).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, format!("__cookie__:{password}"));
        assert_eq!(password.len(), 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
