//! Readable output of the CLI: aligned key/value lists and tables.

use serde_json::Value;

pub(super) fn field(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// A unix time in seconds as a UTC timestamp (`2026-11-25T00:12:03Z`); anything else as is.
pub(super) fn time(v: &Value) -> String {
    match v.as_u64() {
        Some(secs) => humantime::format_rfc3339_seconds(
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs),
        )
        .to_string(),
        None => field(v),
    }
}

/// `key  value` lines, keys padded to one column.
pub(super) fn pairs(v: &Value, keys: &[(&str, &str)]) -> String {
    let width = keys.iter().map(|(_, label)| label.len()).max().unwrap_or(0);
    keys.iter()
        .filter(|(k, _)| v.get(*k).is_some())
        .map(|(k, label)| format!("{label:<width$}  {}", field(&v[*k])))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Groups digits by thousands, so amounts read at a glance.
pub(super) fn sats(v: &Value) -> String {
    let Some(n) = v.as_i64() else {
        return field(v);
    };
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

pub fn info(v: &Value) -> String {
    pairs(
        v,
        &[
            ("node_id", "node id"),
            ("network", "network"),
            ("block_height", "block height"),
            ("block_hash", "block hash"),
            ("peer_addr", "peer address"),
            ("version", "version"),
        ],
    )
}

pub fn balance(v: &Value) -> String {
    let rows = [
        ("onchain_confirmed_sat", "confirmed"),
        ("onchain_unconfirmed_sat", "unconfirmed"),
        ("onchain_immature_sat", "immature"),
    ];
    let mut values: Vec<(String, String)> = rows
        .iter()
        .filter(|(k, _)| v.get(*k).is_some())
        .map(|(k, l)| (l.to_string(), sats(&v[*k])))
        .collect();
    if let Some(msat) = v.get("channels_local_msat").and_then(Value::as_u64) {
        // Whole satoshis: what a close could pay out, before its fee.
        values.push(("in channels".into(), sats(&Value::from(msat / 1000))));
    }
    let w = values.iter().map(|(_, s)| s.len()).max().unwrap_or(0);
    values
        .iter()
        .map(|(l, s)| format!("{l:<11}  {s:>w$} sat"))
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn address(v: &Value) -> String {
    field(&v["address"])
}

pub fn txid(v: &Value) -> String {
    field(&v["txid"])
}

pub fn transactions(v: &Value) -> String {
    let empty = Vec::new();
    let txs = v["transactions"].as_array().unwrap_or(&empty);
    if txs.is_empty() {
        return "no transactions".into();
    }
    let mut rows = vec![[
        "TXID".to_string(),
        "AMOUNT_SAT".into(),
        "FEE_SAT".into(),
        "CONFIRMATIONS".into(),
        "HEIGHT".into(),
    ]];
    for t in txs {
        rows.push([
            field(&t["txid"]),
            sats(&t["amount_sat"]),
            sats(&t["fee_sat"]),
            field(&t["confirmations"]),
            field(&t["block_height"]),
        ]);
    }
    let widths: Vec<usize> = (0..5)
        .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    rows.iter()
        .map(|r| {
            format!(
                "{:<w0$}  {:>w1$}  {:>w2$}  {:>w3$}  {:>w4$}",
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2],
                w3 = widths[3],
                w4 = widths[4]
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn chain_info(v: &Value) -> String {
    pairs(
        v,
        &[
            ("network", "network"),
            ("source", "source"),
            ("block_height", "block height"),
            ("block_hash", "block hash"),
            ("mempool_txs", "mempool txs"),
            ("rpc_addr", "rpc address"),
            ("wallet_synced_height", "wallet synced to"),
        ],
    )
}

pub fn cheated(v: &Value) -> String {
    if let Some(txids) = v["txids"].as_array() {
        let list: Vec<String> = txids.iter().map(field).collect();
        return format!(
            "broadcast {} HTLC-timeout transaction(s) of the revoked commitment of channel {}: {}",
            list.len(),
            field(&v["channel_id"]),
            list.join(", ")
        );
    }
    format!(
        "broadcast the revoked commitment {} of channel {}",
        field(&v["txid"]),
        field(&v["channel_id"])
    )
}

pub fn mined(v: &Value) -> String {
    let n = v["blocks"].as_array().map(|b| b.len()).unwrap_or(0);
    format!(
        "mined {n} block{} to {}; tip {} {}",
        if n == 1 { "" } else { "s" },
        field(&v["address"]),
        field(&v["block_height"]),
        field(&v["block_hash"])
    )
}

pub fn peer_connected(v: &Value) -> String {
    format!(
        "connected to {} at {} ({})",
        field(&v["node_id"]),
        field(&v["addr"]),
        field(&v["direction"])
    )
}

pub fn peers(v: &Value) -> String {
    let empty = Vec::new();
    let peers = v["peers"].as_array().unwrap_or(&empty);
    if peers.is_empty() {
        return "no peers".into();
    }
    let mut rows = vec![[
        "NODE_ID".to_string(),
        "ADDRESS".into(),
        "DIRECTION".into(),
        "SINCE".into(),
        "FEATURES".into(),
    ]];
    for p in peers {
        rows.push([
            field(&p["node_id"]),
            field(&p["addr"]),
            field(&p["direction"]),
            time(&p["connected_since"]),
            field(&p["features"]),
        ]);
    }
    table(&rows)
}

pub fn disconnected(v: &Value) -> String {
    format!("disconnected {}", field(&v["node_id"]))
}

pub fn pong(v: &Value) -> String {
    let rtt = v["rtt_ms"].as_f64().unwrap_or(0.0);
    format!(
        "pong from {} ({} bytes) in {rtt:.2} ms",
        field(&v["node_id"]),
        field(&v["num_pong_bytes"])
    )
}

/// Rows as left-aligned columns two spaces apart (the first row is the header).
pub(crate) fn table<const N: usize>(rows: &[[String; N]]) -> String {
    let widths: Vec<usize> = (0..N)
        .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    rows.iter()
        .map(|r| {
            let cells: Vec<String> = r
                .iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect();
            cells.join("  ").trim_end().to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_cheat_drill_names_what_it_broadcast() {
        let one = cheated(&json!({"channel_id": "ab", "txid": "c0"}));
        assert_eq!(one, "broadcast the revoked commitment c0 of channel ab");
        let htlcs = cheated(&json!({"channel_id": "ab", "txids": ["d1", "e2"]}));
        assert_eq!(
            htlcs,
            "broadcast 2 HTLC-timeout transaction(s) of the revoked commitment of channel ab: d1, e2"
        );
    }

    #[test]
    fn unix_times_read_as_utc() {
        assert_eq!(time(&json!(1_700_000_000)), "2023-11-14T22:13:20Z");
        assert_eq!(time(&Value::Null), "-");
    }

    #[test]
    fn amounts_are_grouped_and_tables_aligned() {
        assert_eq!(sats(&json!(1234567)), "1,234,567");
        assert_eq!(sats(&json!(-1000)), "-1,000");
        assert_eq!(sats(&json!(999)), "999");
        let b =
            balance(&json!({"onchain_confirmed_sat": 5000000000u64, "onchain_unconfirmed_sat": 0}));
        assert_eq!(
            b,
            "confirmed    5,000,000,000 sat\nunconfirmed              0 sat"
        );
        let t = transactions(&json!({"transactions": [
            {"txid": "aa", "amount_sat": -100, "fee_sat": null, "confirmations": 0, "block_height": null},
            {"txid": "bb", "amount_sat": 5000, "fee_sat": 141, "confirmations": 12, "block_height": 101}
        ]}));
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines.iter().all(|l| l.len() == lines[0].len()));
        assert!(lines[2].contains("5,000") && lines[2].ends_with("101"));
    }

    #[test]
    fn peers_table_has_one_row_per_peer() {
        assert_eq!(peers(&json!({"peers": []})), "no peers");
        let t = peers(&json!({"peers": [
            {"node_id": "02aa", "addr": "127.0.0.1:9735", "direction": "outbound",
             "connected_since": 1700000000, "features": "0a"},
            {"node_id": "03bb", "addr": "10.0.0.1:1", "direction": "inbound",
             "connected_since": 1700000001, "features": "08aa"}
        ]}));
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("NODE_ID"));
        assert!(lines[1].contains("outbound") && lines[2].contains("inbound"));
    }
}
