//! Form and query parameters as phoenixd reads them (`application/x-www-form-urlencoded`
//! bodies, query strings), and its answers to missing or malformed ones.

/// Decoded `name=value` pairs, in order; a name may repeat (the first one wins, as in ktor).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Parses `a=1&b=x+y&c=%41`; a malformed escape is kept as written (no error: phoenixd's
    /// server is as lenient).
    pub fn parse(s: &str) -> Params {
        Params(
            s.split('&')
                .filter(|p| !p.is_empty())
                .map(|pair| match pair.split_once('=') {
                    Some((k, v)) => (decode(k), decode(v)),
                    None => (decode(pair), String::new()),
                })
                .collect(),
        )
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    pub fn string(&self, name: &str) -> Result<&str, ParamError> {
        self.get(name)
            .ok_or_else(|| ParamError::Missing(name.into()))
    }

    pub fn optional_i64(&self, name: &str) -> Result<Option<i64>, ParamError> {
        self.get(name)
            .map(|v| v.parse().map_err(|_| ParamError::invalid(name, "integer")))
            .transpose()
    }

    pub fn optional_hex32(&self, name: &str) -> Result<Option<[u8; 32]>, ParamError> {
        self.get(name).map(|v| hex32(name, v)).transpose()
    }

    /// `true` only for `true` in any case, as Kotlin's `toBoolean`.
    pub fn flag(&self, name: &str) -> bool {
        self.get(name)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }
}

pub fn hex32(name: &str, v: &str) -> Result<[u8; 32], ParamError> {
    hex::decode(v)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| ParamError::invalid(name, "hex32"))
}

/// Why a parameter cannot be used, in the words of phoenixd's server (HTTP 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    #[error("Request parameter {0} is missing")]
    Missing(String),
    #[error("Request parameter {name} couldn't be parsed/converted to {ty}")]
    Invalid { name: String, ty: &'static str },
}

impl ParamError {
    pub fn invalid(name: &str, ty: &'static str) -> ParamError {
        ParamError::Invalid {
            name: name.into(),
            ty,
        }
    }
}

/// Percent-decoding with `+` as a space; bytes that do not form UTF-8 are replaced.
fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => match (b.get(i + 1).and_then(hexval), b.get(i + 2).and_then(hexval)) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hexval(c: &u8) -> Option<u8> {
    (*c as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_forms_as_browsers_and_curl_write_them() {
        let p = Params::parse("description=caf%C3%A9+au+lait&amountSat=21&externalId=&bad=%4");
        assert_eq!(p.get("description"), Some("café au lait"));
        assert_eq!(p.optional_i64("amountSat"), Ok(Some(21)));
        assert_eq!(p.get("externalId"), Some(""));
        assert_eq!(p.get("bad"), Some("%4"));
        assert_eq!(p.get("nope"), None);
        assert_eq!(Params::parse("a=1&a=2").get("a"), Some("1"));
        assert!(Params::parse("").0.is_empty());
    }

    #[test]
    fn errors_read_as_phoenixd_writes_them() {
        let p = Params::parse("amountSat=ten&descriptionHash=00");
        assert_eq!(
            p.optional_i64("amountSat").unwrap_err().to_string(),
            "Request parameter amountSat couldn't be parsed/converted to integer"
        );
        assert_eq!(
            p.optional_hex32("descriptionHash").unwrap_err().to_string(),
            "Request parameter descriptionHash couldn't be parsed/converted to hex32"
        );
        assert_eq!(
            p.string("invoice").unwrap_err().to_string(),
            "Request parameter invoice is missing"
        );
        assert!(Params::parse("all=TRUE").flag("all"));
        assert!(!Params::parse("all=1").flag("all"));
    }
}
