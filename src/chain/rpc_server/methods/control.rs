//! Node control: `getnetworkinfo`, `uptime`, `setmocktime`, `stop`, `help`.

use super::super::error::RpcError;
use super::super::params::{usage, Params};
use super::super::value::Json;
use super::super::Shared;
use super::METHODS;

/// The Bitcoin Core release whose RPC this server follows (its `CLIENT_VERSION`); clients
/// such as rust-bitcoincore-rpc pick response formats by it.
const CORE_VERSION: u32 = 310_000;
/// Core's P2P `PROTOCOL_VERSION`.
const PROTOCOL_VERSION: u32 = 70_016;
/// The node's minimum relay and incremental relay fee rate (sat/kvB).
const RELAY_SAT_PER_KVB: i64 = 1_000;

pub fn getnetworkinfo(_: &Shared, _: &Params) -> Result<Json, RpcError> {
    // The embedded node has no P2P network: no services, no connections, nothing reachable.
    let networks: Vec<Json> = ["ipv4", "ipv6", "onion", "i2p", "cjdns"]
        .iter()
        .map(|name| {
            Json::obj()
                .kv("name", *name)
                .kv("limited", true)
                .kv("reachable", false)
                .kv("proxy", "")
                .kv("proxy_randomize_credentials", false)
        })
        .collect();
    Ok(Json::obj()
        .kv("version", CORE_VERSION)
        .kv(
            "subversion",
            format!("/chanhub:{}/", env!("CARGO_PKG_VERSION")),
        )
        .kv("protocolversion", PROTOCOL_VERSION)
        .kv("localservices", "0000000000000000")
        .kv("localservicesnames", Json::Arr(Vec::new()))
        .kv("localrelay", false)
        .kv("timeoffset", 0i64)
        .kv("networkactive", false)
        .kv("connections", 0u32)
        .kv("connections_in", 0u32)
        .kv("connections_out", 0u32)
        .kv("networks", Json::Arr(networks))
        .kv("relayfee", Json::Amount(RELAY_SAT_PER_KVB))
        .kv("incrementalfee", Json::Amount(RELAY_SAT_PER_KVB))
        .kv("localaddresses", Json::Arr(Vec::new()))
        .kv("warnings", Json::Arr(Vec::new())))
}

pub fn uptime(s: &Shared, _: &Params) -> Result<Json, RpcError> {
    Ok(s.node.uptime_secs().into())
}

pub fn setmocktime(s: &Shared, p: &Params) -> Result<Json, RpcError> {
    let time = p.int(0)?;
    if time < 0 {
        return Err(RpcError::invalid_parameter(format!(
            "Mocktime cannot be negative: {time}."
        )));
    }
    s.node.set_mock_time(time as u64);
    Ok(Json::Null)
}

/// `setfeeestimate sat_per_vb`: a chanhub extension (hidden, like `setmocktime`) that sets
/// what `estimatesmartfee` answers, so tests can make fees rise.
pub fn setfeeestimate(s: &Shared, p: &Params) -> Result<Json, RpcError> {
    let rate = p.int(0)?;
    if !(1..=100_000).contains(&rate) {
        return Err(RpcError::invalid_parameter(format!(
            "the fee estimate must be 1 to 100000 sat/vB, not {rate}"
        )));
    }
    s.node.set_fee_estimate(rate as u32);
    Ok(Json::Null)
}

pub fn stop(s: &Shared, p: &Params) -> Result<Json, RpcError> {
    if p.get(0).is_some() {
        // Core's hidden test argument: wait this many milliseconds before answering.
        let ms: u32 = p.int_as(0)?;
        std::thread::sleep(std::time::Duration::from_millis(ms.min(60_000) as u64));
    }
    // The server stops accepting and closes connections once this answer is written.
    s.stop.send_replace(true);
    Ok("chanhub stopping".into())
}

pub fn help(_: &Shared, p: &Params) -> Result<Json, RpcError> {
    if p.get(0).is_some() {
        let name = p.str(0)?;
        return Ok(METHODS
            .iter()
            .find(|m| m.name == name)
            .map(|m| usage(m.name, m.args))
            .unwrap_or_else(|| format!("help: unknown command: {name}"))
            .into());
    }
    let mut out = String::new();
    let mut category = "";
    let mut methods: Vec<_> = METHODS.iter().filter(|m| m.category != "hidden").collect();
    methods.sort_by_key(|m| (m.category, m.name));
    for m in methods {
        if m.category != category {
            if !category.is_empty() {
                out.push('\n');
            }
            category = m.category;
            let mut title = category.to_owned();
            title[..1].make_ascii_uppercase();
            out.push_str(&format!("== {title} ==\n"));
        }
        out.push_str(&usage(m.name, m.args));
        out.push('\n');
    }
    Ok(out.trim_end().to_owned().into())
}
