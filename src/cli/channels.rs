//! Readable output of the channel commands.

use serde_json::Value;

use super::render::{field, pairs, sats};

pub fn opened(v: &Value) -> String {
    format!(
        "channel {} opening; funding transaction {}",
        field(&v["channel_id"]),
        field(&v["funding_txid"])
    )
}

pub fn closing(v: &Value) -> String {
    format!("channel {} closing", field(&v["channel_id"]))
}

fn msat_as_sat(v: &Value) -> String {
    match v.as_u64() {
        Some(m) if m % 1000 == 0 => format!("{} sat", sats(&Value::from(m / 1000))),
        Some(m) => format!("{}.{:03} sat", sats(&Value::from(m / 1000)), m % 1000),
        None => field(v),
    }
}

pub fn list(v: &Value) -> String {
    let empty = Vec::new();
    let all = v["channels"].as_array().unwrap_or(&empty);
    if all.is_empty() {
        return "no channels".into();
    }
    let mut rows = vec![[
        "CHANNEL_ID".to_string(),
        "PEER".into(),
        "STATE".into(),
        "CAPACITY".into(),
        "LOCAL".into(),
        "REMOTE".into(),
    ]];
    for c in all {
        rows.push([
            field(&c["channel_id"]),
            field(&c["peer_node_id"]),
            field(&c["state"]),
            format!("{} sat", sats(&c["capacity_sat"])),
            msat_as_sat(&c["local_msat"]),
            msat_as_sat(&c["remote_msat"]),
        ]);
    }
    super::render::table(&rows)
}

pub fn detail(v: &Value) -> String {
    let mut shown = v.clone();
    for k in ["local_msat", "remote_msat"] {
        shown[k] = Value::from(msat_as_sat(&v[k]));
    }
    shown["capacity_sat"] = Value::from(format!("{} sat", sats(&v["capacity_sat"])));
    shown["pending_htlcs"] = Value::from(v["pending_htlcs"].as_array().map_or(0, Vec::len));
    pairs(
        &shown,
        &[
            ("channel_id", "channel id"),
            ("peer_node_id", "peer"),
            ("state", "state"),
            ("channel_type", "type"),
            ("capacity_sat", "capacity"),
            ("local_msat", "local"),
            ("remote_msat", "remote"),
            ("funding_txid", "funding txid"),
            ("funding_vout", "funding vout"),
            ("local_commitment_number", "local commitment"),
            ("remote_commitment_number", "remote commitment"),
            ("pending_htlcs", "pending HTLCs"),
            ("closing_txid", "closing txid"),
        ],
    ) + &resolution(&v["resolution"])
}

/// The on-chain outcome of a closed channel, one line per output.
fn resolution(r: &Value) -> String {
    if r.is_null() {
        return String::new();
    }
    let mut out = format!(
        "\nresolved on chain ({} close) at block {}: {} sat to our wallet, {} sat in fees\n",
        r["spend"].as_str().unwrap_or("?"),
        r["resolved_height"],
        sats(&r["received_sat"]),
        sats(&r["fees_sat"]),
    );
    for o in r["outputs"].as_array().into_iter().flatten() {
        let who = if o["ours"] == true {
            "ours"
        } else {
            "the peer's"
        };
        let by = o["spent_by"]
            .as_str()
            .map(|t| format!(" (spent by {t})"))
            .unwrap_or_default();
        out.push_str(&format!(
            "  {:<22} {:>12} sat  {who}{by}\n",
            o["kind"].as_str().unwrap_or("?"),
            sats(&o["amount_sat"]),
        ));
    }
    out
}
