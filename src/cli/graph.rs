//! Readable output of `chanhub graph`.

use serde_json::Value;

use super::render::{field, sats};

pub fn summary(v: &Value) -> String {
    let mut out = format!(
        "network graph: {} nodes ({} announced), {} channels ({} spent), {} sat public capacity",
        field(&v["node_count"]),
        field(&v["announced_node_count"]),
        field(&v["channel_count"]),
        field(&v["spent_channel_count"]),
        sats(&v["public_capacity_sat"]),
    );
    match v["node"].as_object() {
        Some(_) => {
            let n = &v["node"];
            out.push_str(&format!(
                "\nthis node: {} {:?} {}",
                field(&n["node_id"]),
                n["alias"].as_str().unwrap_or(""),
                field(&n["color"])
            ));
        }
        None => out.push_str("\nthis node is not announced (no public channel yet)"),
    }
    for c in v["channels"].as_array().into_iter().flatten() {
        out.push_str(&format!("\n  {}", channel_line(c)));
    }
    out
}

fn channel_line(c: &Value) -> String {
    format!(
        "{} ({}) {} <-> {} {} sat{}",
        field(&c["short_channel_id_str"]),
        field(&c["short_channel_id"]),
        field(&c["node1"]),
        field(&c["node2"]),
        sats(&c["capacity_sat"]),
        if c["spent"] == true { " spent" } else { "" }
    )
}

pub fn node(v: &Value) -> String {
    let channels: Vec<String> = v["channels"]
        .as_array()
        .into_iter()
        .flatten()
        .map(field)
        .collect();
    let addresses: Vec<String> = v["addresses"]
        .as_array()
        .into_iter()
        .flatten()
        .map(field)
        .collect();
    format!(
        "node {}\n  alias: {:?}\n  color: {}\n  addresses: {}\n  channels: {}",
        field(&v["node_id"]),
        v["alias"].as_str().unwrap_or(""),
        field(&v["color"]),
        addresses.join(", "),
        channels.join(", ")
    )
}

pub fn channel(v: &Value) -> String {
    let policy = |p: &Value| {
        if p.is_null() {
            "no update yet".to_string()
        } else {
            format!(
                "base {} msat, {} ppm, cltv delta {}, htlc {}..{} msat{}",
                field(&p["fee_base_msat"]),
                field(&p["fee_proportional_millionths"]),
                field(&p["cltv_expiry_delta"]),
                field(&p["htlc_minimum_msat"]),
                field(&p["htlc_maximum_msat"]),
                if p["disabled"] == true {
                    ", disabled"
                } else {
                    ""
                }
            )
        }
    };
    format!(
        "channel {}\n  node1 policy: {}\n  node2 policy: {}",
        channel_line(v),
        policy(&v["node1_policy"]),
        policy(&v["node2_policy"])
    )
}
