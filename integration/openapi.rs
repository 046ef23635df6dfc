//! `openapi.yaml` against the running server: every route the router serves is described and
//! every described route is served, with the same methods; every operation, asked with real
//! data (a hub with channels, invoices, payments and forwards) and with bad input, answers a
//! documented status with a body that validates against the documented schema; and every
//! error, whatever went wrong, has the one documented shape and a listed code.

mod channels_support;
#[path = "openapi/checker.rs"]
mod checker;
#[path = "openapi/errors.rs"]
mod errors;
#[path = "openapi/hub.rs"]
mod hub;
#[path = "openapi/hub_events.rs"]
mod hub_events;
#[path = "openapi/hub_payments.rs"]
mod hub_payments;
#[path = "openapi/hub_setup.rs"]
mod hub_setup;
#[path = "openapi/schema.rs"]
mod schema;

use std::collections::BTreeSet;

use chanhub::api::served_paths;
use chanhub::config::NodeConfig;
use chanhub::error::Error;
use channels_support::*;
use checker::*;
use serde_json::{json, Value};

/// A node id nobody in these tests has (the generator point).
const STRANGER: &str = "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798";
const ZERO_ID: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// A regtest node serving the dev routes, and a checker for it.
async fn node(dir: &std::path::Path, chain_of: Option<&TestNode>) -> TestNode {
    start_config(NodeConfig {
        dev_api: true,
        // Public channels need an address to announce (never dialled here).
        announce_addrs: vec!["127.0.0.1:9735".parse().unwrap()],
        ..node_config(dir, chain_of, "127.0.0.1:0".parse().unwrap(), false)
    })
    .await
}

fn checker(doc: &Value, n: &TestNode) -> Checker {
    let token = std::fs::read_to_string(&n.node.node_json.api_token_file).unwrap();
    Checker::new(doc.clone(), &n.node.node_json.api_addr.to_string(), &token)
}

/// Fills a path's parameters with well-formed values that name nothing.
fn dummy(template: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let end = rest[start..].find('}').unwrap() + start;
        out.push_str(&rest[..start]);
        out.push_str(if &rest[start + 1..end] == "node_id" {
            STRANGER
        } else {
            ZERO_ID
        });
        rest = &rest[end + 1..];
    }
    out + rest
}

#[test]
fn the_document_lists_every_error_code() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    let listed: BTreeSet<&str> = doc["components"]["schemas"]["Error"]["properties"]["error"]
        ["properties"]["code"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let codes: BTreeSet<&str> = Error::CODES.iter().copied().collect();
    assert_eq!(
        listed, codes,
        "the error codes of openapi.yaml and src/error.rs"
    );
}

/// Collects where each schema is referenced from: inside the `allOf` of a schema closed by
/// `unevaluatedProperties: false`, or anywhere else.
fn references(v: &Value, closed_all_of: bool, closed: &mut Vec<String>, open: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            if let Some(r) = o.get("$ref").and_then(Value::as_str) {
                if closed_all_of {
                    closed.push(r.to_string());
                } else {
                    open.push(r.to_string());
                }
            }
            let closes = o.get("unevaluatedProperties") == Some(&Value::Bool(false));
            for (k, sub) in o {
                if k == "allOf" && closes {
                    for s in sub.as_array().unwrap() {
                        references(s, true, closed, open);
                    }
                } else {
                    references(sub, false, closed, open);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|s| references(s, false, closed, open)),
        _ => {}
    }
}

#[test]
fn the_document_is_closed_and_complete() {
    let doc = document();
    let (mut closed, mut open) = (Vec::new(), Vec::new());
    references(&doc, false, &mut closed, &mut open);
    for r in closed.iter().chain(&open) {
        schema::resolve(&doc, r);
    }
    let mut unknown = Vec::new();
    for (name, s) in doc["components"]["schemas"].as_object().unwrap() {
        schema::unknown_keywords(s, name, &mut unknown);
    }
    assert!(
        unknown.is_empty(),
        "keywords the test does not check: {unknown:?}"
    );
    // Undocumented fields must fail the test: every object schema forbids them, itself or
    // through the closed schema that includes it.
    for (name, s) in doc["components"]["schemas"].as_object().unwrap() {
        if s.get("properties").is_none() || s.get("additionalProperties") == Some(&json!(false)) {
            continue;
        }
        let r = format!("#/components/schemas/{name}");
        assert!(
            closed.contains(&r) && !open.contains(&r),
            "{name} has properties but allows others"
        );
    }
    for (path, method) in operations(&doc) {
        let op = &doc["paths"][&path][&method];
        let responses = op["responses"].as_object().unwrap();
        assert!(
            responses.keys().any(|s| s.starts_with('2')),
            "{method} {path}: no success"
        );
        let public = op.get("security") == Some(&json!([]));
        assert_eq!(
            responses.contains_key("401"),
            !public,
            "{method} {path}: 401 documented exactly when a token is needed"
        );
        let params: Vec<&str> = doc["paths"][&path]["parameters"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|p| {
                        let p = match p.get("$ref") {
                            Some(r) => schema::resolve(&doc, r.as_str().unwrap()),
                            None => p,
                        };
                        p["name"].as_str().unwrap()
                    })
                    .collect()
            })
            .unwrap_or_default();
        let in_path: Vec<&str> = path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        assert_eq!(params, in_path, "{path}: its parameters");
    }
}

#[tokio::test]
async fn every_route_is_described_and_every_description_served() {
    init_logs();
    let doc = document();
    let described: BTreeSet<String> = doc["paths"].as_object().unwrap().keys().cloned().collect();
    let dev_only: BTreeSet<String> = described
        .iter()
        .filter(|p| doc["paths"][p.as_str()]["x-served-when"] == "dev_api")
        .cloned()
        .collect();
    let served = |dev_api| -> BTreeSet<String> {
        let paths = served_paths(dev_api);
        let set: BTreeSet<String> = paths.iter().map(|p| p.to_string()).collect();
        assert_eq!(set.len(), paths.len(), "a path routed twice");
        set
    };
    assert_eq!(served(true), described, "routed (dev_api) vs openapi.yaml");
    let without_dev: BTreeSet<String> = described.difference(&dev_only).cloned().collect();
    assert_eq!(served(false), without_dev, "routed without dev_api");

    // The methods of each path: the router answers 405 to the others.
    let tmp = tempfile::tempdir().unwrap();
    let n = node(tmp.path(), None).await;
    let c = checker(&doc, &n);
    let documented = operations(&doc);
    for path in served(true) {
        for method in ["get", "post", "put", "delete", "patch"] {
            let a = c.send(method, &dummy(&path), &Req::none()).await;
            let is_documented = documented.contains(&(path.clone(), method.to_string()));
            assert_eq!(
                a.status != 405,
                is_documented,
                "{method} {path}: answered {} {}, documented: {is_documented}",
                a.status,
                a.body
            );
            if a.status == 405 {
                assert_eq!(a.error_code(), "method_not_allowed");
            }
            // Not the fallback: every routed path answers something of its own.
            assert!(
                !(a.status == 404 && a.json()["error"]["message"] == "no such endpoint"),
                "{method} {path} fell through to the fallback"
            );
        }
    }
    n.node.shutdown().await;
}
