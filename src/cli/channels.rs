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
            state(c),
            format!("{} sat", sats(&c["capacity_sat"])),
            msat_as_sat(&c["local_msat"]),
            msat_as_sat(&c["remote_msat"]),
        ]);
    }
    super::render::table(&rows)
}

/// The state, with why the funding was lost when it was (`closed (funding double_spent)`).
fn state(c: &Value) -> String {
    match c["funding_lost"]["reason"].as_str() {
        Some(reason) => format!("{} (funding {reason})", field(&c["state"])),
        None => field(&c["state"]),
    }
}

pub fn detail(v: &Value) -> String {
    let mut shown = v.clone();
    shown["state"] = Value::from(state(v));
    if let Some(txid) = v["funding_lost"]["spending_txid"].as_str() {
        shown["funding_double_spent_by"] = Value::from(txid);
    }
    for k in ["local_msat", "remote_msat"] {
        shown[k] = Value::from(msat_as_sat(&v[k]));
    }
    shown["capacity_sat"] = Value::from(format!("{} sat", sats(&v["capacity_sat"])));
    shown["pending_htlcs"] = Value::from(v["pending_htlcs"].as_array().map_or(0, Vec::len));
    if v.get("dust_exposure_msat").is_some() {
        shown["dust_exposure_msat"] = Value::from(format!(
            "{} (cap {})",
            msat_as_sat(&v["dust_exposure_msat"]),
            msat_as_sat(&v["max_dust_htlc_exposure_msat"])
        ));
    }
    pairs(
        &shown,
        &[
            ("channel_id", "channel id"),
            ("peer_node_id", "peer"),
            ("state", "state"),
            ("channel_type", "type"),
            ("announce", "announced"),
            ("capacity_sat", "capacity"),
            ("local_msat", "local"),
            ("remote_msat", "remote"),
            ("funding_txid", "funding txid"),
            ("funding_vout", "funding vout"),
            ("local_commitment_number", "local commitment"),
            ("remote_commitment_number", "remote commitment"),
            ("feerate_per_kw", "feerate (sat/kw)"),
            ("pending_htlcs", "pending HTLCs"),
            ("dust_exposure_msat", "dust exposure"),
            ("closing_txid", "closing txid"),
            ("funding_double_spent_by", "double-spent by"),
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_double_spent_funding_shows_in_the_state_and_names_the_spend() {
        let c = json!({
            "channel_id": "ab", "peer_node_id": "02", "state": "closed",
            "local_msat": 1000, "remote_msat": 0, "capacity_sat": 500000,
            "funding_lost": {"reason": "double_spent", "spending_txid": "d5"},
            "resolution": null,
        });
        let table = list(&json!({ "channels": [c] }));
        assert!(table.contains("closed (funding double_spent)"), "{table}");
        let text = detail(&c);
        assert!(text.contains("closed (funding double_spent)"), "{text}");
        assert!(
            text.lines()
                .any(|l| l.starts_with("double-spent by") && l.ends_with(" d5")),
            "{text}"
        );
    }

    #[test]
    fn a_resolved_channel_shows_what_each_output_became() {
        let v = json!({
            "channel_id": "ab", "state": "closed", "closing_txid": "c0",
            "local_msat": 1000, "remote_msat": 0, "capacity_sat": 1000000,
            "resolution": {
                "spend": "revoked", "resolved_height": 120, "received_sat": 998765,
                "fees_sat": 1235, "spend_txid": "c0",
                "outputs": [
                    {"outpoint": "c0:2", "kind": "justice_to_local", "amount_sat": 700000,
                     "spent_by": "d1", "ours": true},
                    {"outpoint": "c0:3", "kind": "justice_htlc", "amount_sat": 300000,
                     "spent_by": "e2", "ours": false}
                ]
            }
        });
        let text = detail(&v);
        assert!(text.contains("closing txid"), "{text}");
        assert!(
            text.contains("resolved on chain (revoked close) at block 120: 998,765 sat to our wallet, 1,235 sat in fees"),
            "{text}"
        );
        assert!(
            text.contains("justice_to_local") && text.contains("700,000 sat  ours (spent by d1)"),
            "{text}"
        );
        assert!(
            text.contains("300,000 sat  the peer's (spent by e2)"),
            "{text}"
        );
        assert!(!detail(&json!({"channel_id": "ab", "resolution": null})).contains("resolved"));
    }

    #[test]
    fn the_dust_exposure_is_shown_with_its_cap() {
        let v = json!({
            "channel_id": "ab", "dust_exposure_msat": 4_000_500,
            "max_dust_htlc_exposure_msat": 5_000_000, "resolution": null
        });
        let text = detail(&v);
        assert!(
            text.contains("dust exposure") && text.contains("4,000.500 sat (cap 5,000 sat)"),
            "{text}"
        );
    }
}
