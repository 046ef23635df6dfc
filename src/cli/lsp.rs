//! Readable output of `lsp jit` (the JIT channels sold over LSPS2) and `lsp orders` (the
//! channels bought over LSPS1).

use serde_json::Value;

use super::render::{field, table, time};

/// Millisatoshis, `any` when the client named no amount.
fn amount(v: &Value) -> String {
    match v.as_u64() {
        Some(n) => format!("{n} msat"),
        None => "any".into(),
    }
}

pub fn jit(v: &Value) -> String {
    let empty = Vec::new();
    let all = v["jit"].as_array().unwrap_or(&empty);
    if all.is_empty() {
        return "no JIT channels".into();
    }
    let mut rows = vec![[
        "SCID".to_string(),
        "CLIENT".into(),
        "PAYMENT".into(),
        "FEE".into(),
        "STATE".into(),
        "VALID_UNTIL".into(),
    ]];
    for j in all {
        rows.push([
            field(&j["jit_channel_scid"]),
            field(&j["client_node_id"]),
            amount(&j["payment_size_msat"]),
            amount(&j["opening_fee_msat"]).replace("any", "-"),
            field(&j["state"]),
            time(&j["valid_until"]),
        ]);
    }
    table(&rows)
}

pub fn orders(v: &Value) -> String {
    let empty = Vec::new();
    let all = v["orders"].as_array().unwrap_or(&empty);
    if all.is_empty() {
        return "no LSPS1 orders".into();
    }
    let mut rows = vec![[
        "ORDER".to_string(),
        "CLIENT".into(),
        "CHANNEL".into(),
        "FEE".into(),
        "ORDER_STATE".into(),
        "PAYMENT".into(),
        "CREATED".into(),
    ]];
    for o in all {
        rows.push([
            field(&o["order_id"]),
            field(&o["client_node_id"]),
            format!("{} sat", field(&o["lsp_balance_sat"])),
            format!("{} sat", field(&o["fee_total_sat"])),
            field(&o["order_state"]),
            field(&o["payment_state"]),
            time(&o["created_at"]),
        ]);
    }
    table(&rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn jit_channels_are_a_table() {
        assert_eq!(jit(&json!({"jit": []})), "no JIT channels");
        let t = jit(&json!({"jit": [
            {"jit_channel_scid": "16000000x1x2", "client_node_id": "02ab", "payment_size_msat": 5000,
             "opening_fee_msat": 10, "state": "waiting", "valid_until": 1_700_000_000},
            {"jit_channel_scid": "16000001x1x2", "client_node_id": "02cd", "payment_size_msat": null,
             "opening_fee_msat": null, "state": "expired", "valid_until": 1_700_000_000}
        ]}));
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3, "{t}");
        assert!(lines[1].contains("16000000x1x2") && lines[1].contains("5000 msat"));
        assert!(
            lines[2].contains("any") && lines[2].contains("expired"),
            "{t}"
        );
    }

    #[test]
    fn orders_are_a_table() {
        assert_eq!(orders(&json!({"orders": []})), "no LSPS1 orders");
        let t = orders(&json!({"orders": [
            {"order_id": "0a1b", "client_node_id": "02ab", "lsp_balance_sat": 100000,
             "fee_total_sat": 3000, "order_state": "completed", "payment_state": "paid",
             "created_at": 1_700_000_000}
        ]}));
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 2, "{t}");
        assert!(
            lines[1].contains("0a1b") && lines[1].contains("100000 sat"),
            "{t}"
        );
        assert!(
            lines[1].contains("completed") && lines[1].contains("paid"),
            "{t}"
        );
    }
}
