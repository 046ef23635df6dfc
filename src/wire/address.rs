//! `HOST:PORT` as an operator writes it, to and from BOLT 7 address descriptors
//! ([`NetAddress`]): `203.0.113.7:9735`, `[2001:db8::1]:9735`, `hub.example.org:9735`, or a Tor
//! v3 `….onion:9735` (56 base32 characters: the 35 bytes BOLT 7 carries).

use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use super::gossip::NetAddress;

const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
const ONION_CHARS: usize = 56;

/// Tor's onion name: RFC 4648 base32, lowercase, no padding.
pub(super) fn onion_name(onion: &[u8; 35]) -> String {
    let mut out = String::with_capacity(ONION_CHARS);
    let (mut acc, mut bits) = (0u32, 0u32);
    for b in onion {
        acc = (acc << 8) | u32::from(*b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(BASE32[((acc >> bits) & 31) as usize] as char);
        }
    }
    out
}

fn onion_bytes(name: &str) -> Option<[u8; 35]> {
    if name.len() != ONION_CHARS {
        return None;
    }
    let mut out = [0u8; 35];
    let (mut acc, mut bits, mut i) = (0u32, 0u32, 0usize);
    for c in name.bytes() {
        let v = BASE32.iter().position(|x| *x == c.to_ascii_lowercase())? as u32;
        acc = (acc << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            *out.get_mut(i)? = (acc >> bits) as u8;
            i += 1;
        }
    }
    Some(out)
}

/// Why a `HOST:PORT` cannot be announced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not HOST:PORT (an IPv4 or [IPv6] address, a DNS name or a Tor v3 .onion, and a port from 1 to 65535)")]
pub struct AddressError(pub String);

impl FromStr for NetAddress {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, AddressError> {
        let err = || AddressError(s.to_string());
        let (host, port) = s.rsplit_once(':').ok_or_else(err)?;
        let port: u16 = port.parse().ok().filter(|p| *p != 0).ok_or_else(err)?;
        if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            let addr = Ipv6Addr::from_str(v6).map_err(|_| err())?;
            return Ok(NetAddress::Ipv6 { addr, port });
        }
        if let Ok(addr) = Ipv4Addr::from_str(host) {
            return Ok(NetAddress::Ipv4 { addr, port });
        }
        if let Some(name) = host.strip_suffix(".onion") {
            let onion = onion_bytes(name).ok_or_else(err)?;
            // The version byte of a v3 address is 3 (v2 names are 16 characters).
            if onion[34] != 3 {
                return Err(err());
            }
            return Ok(NetAddress::TorV3 { onion, port });
        }
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if host.is_empty() || host.len() > 255 || !host.split('.').all(label_ok) {
            return Err(err());
        }
        Ok(NetAddress::Hostname {
            host: host.to_ascii_lowercase(),
            port,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_parses_and_prints_back() {
        let onion = "vww6ybal4bd7szmgncyruucpgfkqahzddi37ktceo3ah7ngmcopnpyyd.onion:9735";
        for s in [
            "203.0.113.7:9735",
            "[2001:db8::1]:9736",
            "hub.example.org:9737",
            onion,
        ] {
            let a: NetAddress = s.parse().unwrap();
            assert_eq!(a.to_string(), s);
        }
        assert!(matches!(
            onion.parse(),
            Ok(NetAddress::TorV3 { port: 9735, .. })
        ));
        assert!(matches!(
            "Hub.Example.ORG:1".parse(),
            Ok(NetAddress::Hostname { host, port: 1 }) if host == "hub.example.org"
        ));
    }

    #[test]
    fn bad_addresses_are_refused() {
        for s in [
            "",
            "203.0.113.7",
            "203.0.113.7:0",
            "203.0.113.7:65536",
            "2001:db8::1:9735",
            "[2001:db8::1]",
            "[nonsense]:1",
            "hub..example:1",
            "-hub.example:1",
            "hub_example:1",
            "hüb.example:1",
            ":9735",
            "abc.onion:1",
            // A v3-length name whose version byte is not 3.
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.onion:1",
        ] {
            assert!(s.parse::<NetAddress>().is_err(), "{s:?}");
        }
        let long = format!("{}:1", vec!["a".repeat(63); 5].join("."));
        assert!(long.parse::<NetAddress>().is_err(), "over 255 bytes");
    }
}
