//! Readable output of the payment commands (`invoice`, `invoices`, `pay`, `payments`,
//! `forwards`, `policy`), and the policy a partial `policy` command sets.

use serde_json::{json, Value};

use super::render::{field, pairs, sats, table, time};

/// Millisatoshis grouped by thousands, `-` when absent.
fn msat(v: &Value) -> String {
    if v.is_null() {
        "-".into()
    } else {
        format!("{} msat", sats(v))
    }
}

pub fn invoice_created(v: &Value) -> String {
    pairs(v, &[("bolt11", "bolt11"), ("payment_hash", "payment hash")])
}

/// One invoice: what `settleinvoice` and `cancelinvoice` answer.
pub fn invoice(v: &Value) -> String {
    let mut shown = v.clone();
    for k in ["amount_msat", "received_msat"] {
        shown[k] = Value::from(msat(&v[k]));
    }
    pairs(
        &shown,
        &[
            ("payment_hash", "payment hash"),
            ("status", "status"),
            ("amount_msat", "amount"),
            ("received_msat", "received"),
            ("preimage", "preimage"),
        ],
    )
}

/// The payment hash (hex) of a preimage given in hex, for `settleinvoice`.
///
/// # Errors
/// A message when it is not 32 bytes of hex.
pub fn hash_of_preimage(preimage: &str) -> Result<String, String> {
    use bitcoin::hashes::{sha256, Hash};
    let bytes = hex::decode(preimage.trim())
        .ok()
        .filter(|b| b.len() == 32)
        .ok_or_else(|| format!("{preimage:?} is not a preimage (64 hex characters)"))?;
    Ok(hex::encode(sha256::Hash::hash(&bytes).to_byte_array()))
}

pub fn invoices(v: &Value) -> String {
    let empty = Vec::new();
    let all = v["invoices"].as_array().unwrap_or(&empty);
    if all.is_empty() {
        return "no invoices".into();
    }
    let mut rows = vec![[
        "PAYMENT_HASH".to_string(),
        "STATUS".into(),
        "AMOUNT".into(),
        "RECEIVED".into(),
        "EXPIRES".into(),
        "DESCRIPTION".into(),
    ]];
    for i in all {
        rows.push([
            field(&i["payment_hash"]),
            field(&i["status"]),
            if i["amount_msat"].is_null() {
                "any".into()
            } else {
                msat(&i["amount_msat"])
            },
            msat(&i["received_msat"]),
            time(&i["expires_at"]),
            field(&i["description"]),
        ]);
    }
    table(&rows)
}

pub fn payment(v: &Value) -> String {
    let mut shown = v.clone();
    for k in ["amount_msat", "fee_msat"] {
        shown[k] = Value::from(msat(&v[k]));
    }
    let mut out = pairs(
        &shown,
        &[
            ("payment_hash", "payment hash"),
            ("status", "status"),
            ("amount_msat", "amount"),
            ("fee_msat", "fee"),
            ("payee", "payee"),
            ("preimage", "preimage"),
            ("failure", "failure"),
        ],
    );
    for a in v["attempts"].as_array().into_iter().flatten() {
        let route: Vec<String> = a["route"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|h| {
                let node = h["node_id"].as_str().unwrap_or("?");
                let short = node.get(..16).unwrap_or(node);
                match h["short_channel_id"].as_str() {
                    Some(scid) => format!("{scid} → {short}…"),
                    None => format!("{short}…"),
                }
            })
            .collect();
        out.push_str(&format!(
            "\nattempt {}: {} {} (fee {}) via {}",
            a["id"],
            a["status"].as_str().unwrap_or("?"),
            msat(&a["amount_msat"]),
            msat(&a["fee_msat"]),
            route.join(", "),
        ));
        if let Some(f) = a["failure"].as_str() {
            out.push_str(&format!("\n  failure: {f}"));
        }
    }
    out
}

pub fn payments(v: &Value) -> String {
    let empty = Vec::new();
    let all = v["payments"].as_array().unwrap_or(&empty);
    if all.is_empty() {
        return "no payments".into();
    }
    let mut rows = vec![[
        "PAYMENT_HASH".to_string(),
        "STATUS".into(),
        "AMOUNT".into(),
        "FEE".into(),
        "CREATED".into(),
        "FAILURE".into(),
    ]];
    for p in all {
        rows.push([
            field(&p["payment_hash"]),
            field(&p["status"]),
            msat(&p["amount_msat"]),
            msat(&p["fee_msat"]),
            time(&p["created_at"]),
            if p["failure"].is_null() {
                String::new()
            } else {
                field(&p["failure"])
            },
        ]);
    }
    table(&rows)
}

pub fn forwards(v: &Value) -> String {
    let empty = Vec::new();
    let all = v["forwards"].as_array().unwrap_or(&empty);
    if all.is_empty() {
        return "no forwards".into();
    }
    let mut rows = vec![[
        "IN_CHANNEL:HTLC".to_string(),
        "OUT_CHANNEL:HTLC".into(),
        "AMOUNT_OUT".into(),
        "FEE".into(),
        "STATUS".into(),
        "CREATED".into(),
    ]];
    for f in all {
        rows.push([
            format!("{}:{}", field(&f["in_channel_id"]), field(&f["in_htlc_id"])),
            format!(
                "{}:{}",
                field(&f["out_channel_id"]),
                field(&f["out_htlc_id"])
            ),
            msat(&f["out_msat"]),
            msat(&f["fee_msat"]),
            field(&f["status"]),
            time(&f["created_at"]),
        ]);
    }
    format!(
        "{}\nearned {} (settled forwards)",
        table(&rows),
        msat(&v["fee_msat_earned"])
    )
}

pub fn policy(v: &Value) -> String {
    let mut shown = v.clone();
    shown["base_msat"] = Value::from(msat(&v["base_msat"]));
    shown["cltv_delta"] = Value::from(format!("{} blocks", field(&v["cltv_delta"])));
    pairs(
        &shown,
        &[
            ("base_msat", "base fee"),
            ("ppm", "proportional fee (ppm)"),
            ("cltv_delta", "cltv delta"),
        ],
    )
}

/// The body of `PUT /v1/policy`: the given values over the `current` policy.
pub fn policy_update(
    current: &Value,
    base_msat: Option<u32>,
    ppm: Option<u32>,
    cltv_delta: Option<u16>,
) -> Value {
    json!({
        "base_msat": base_msat.map_or_else(|| current["base_msat"].clone(), Value::from),
        "ppm": ppm.map_or_else(|| current["ppm"].clone(), Value::from),
        "cltv_delta": cltv_delta.map_or_else(|| current["cltv_delta"].clone(), Value::from),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invoice_and_payment_output() {
        let created = invoice_created(&json!({"bolt11": "lnbcrt1x", "payment_hash": "ab"}));
        assert_eq!(created, "bolt11        lnbcrt1x\npayment hash  ab");
        assert_eq!(invoices(&json!({"invoices": []})), "no invoices");
        let t = invoices(&json!({"invoices": [
            {"payment_hash": "aa", "status": "open", "amount_msat": null, "received_msat": null,
             "expires_at": 1700003600, "description": "tips"},
            {"payment_hash": "bb", "status": "paid", "amount_msat": 50000,
             "received_msat": 50000, "expires_at": 1700003600, "description": "coffee"}
        ]}));
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("PAYMENT_HASH"));
        assert!(lines[1].contains("any") && lines[1].ends_with("tips"));
        assert!(lines[2].contains("50,000 msat") && lines[2].contains("paid"));

        let p = payment(
            &json!({"payment_hash": "cc", "status": "failed", "amount_msat": 1000,
            "fee_msat": 0, "payee": "02aa", "preimage": null, "failure": "no route"}),
        );
        assert!(p.contains("status        failed"), "{p}");
        assert!(p.contains("amount        1,000 msat"), "{p}");
        assert!(p.contains("failure       no route"), "{p}");
        assert_eq!(payments(&json!({"payments": []})), "no payments");
        let t = payments(&json!({"payments": [
            {"payment_hash": "cc", "status": "succeeded", "amount_msat": 1000, "fee_msat": 1,
             "created_at": 1, "failure": null}
        ]}));
        assert_eq!(t.lines().count(), 2);
        assert!(t.lines().nth(1).unwrap().contains("succeeded"));
    }

    #[test]
    fn forwards_show_the_fees_earned() {
        assert_eq!(
            forwards(&json!({"forwards": [], "fee_msat_earned": 0})),
            "no forwards"
        );
        let t = forwards(&json!({"forwards": [
            {"in_channel_id": "11", "in_htlc_id": 0, "out_channel_id": "22", "out_htlc_id": 5,
             "out_msat": 10000, "fee_msat": 1001, "status": "settled", "created_at": 7}
        ], "fee_msat_earned": 1001}));
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[1].starts_with("11:0") && lines[1].contains("22:5"));
        assert!(lines[1].contains("1,001 msat"));
        assert_eq!(lines[2], "earned 1,001 msat (settled forwards)");
    }

    #[test]
    fn a_partial_policy_keeps_the_current_values() {
        let current = json!({"base_msat": 1000, "ppm": 100, "cltv_delta": 40});
        assert_eq!(
            policy_update(&current, None, Some(2500), None),
            json!({"base_msat": 1000, "ppm": 2500, "cltv_delta": 40})
        );
        assert_eq!(
            policy_update(&current, Some(0), Some(1), Some(144)),
            json!({"base_msat": 0, "ppm": 1, "cltv_delta": 144})
        );
        let shown = policy(&current);
        assert!(
            shown.contains("base fee                1,000 msat"),
            "{shown}"
        );
        assert!(
            shown.contains("cltv delta              40 blocks"),
            "{shown}"
        );
    }
}
