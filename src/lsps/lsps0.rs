//! LSPS0 (bLIP 50): JSON-RPC 2.0 over the BOLT 8 custom message 37913, the LSP's side.
//!
//! Pure: a message's payload in, a checked request or the error response to send out. What a
//! peer may make us hold is bounded by the runtime (`node::lsp`).

use serde_json::{json, Map, Value};

/// The BOLT 8 message type every LSPS message travels in (odd: a peer that does not know it
/// ignores it).
pub const MESSAGE_TYPE: u16 = 37913;
/// The feature bit an LSP may set in `init` and `node_announcement` (`option_supports_lsps`).
pub const FEATURE_BIT: usize = 729;
/// The longest request id we echo back: bLIP 50 asks clients for ids of 80+ bits of entropy
/// (a UUID, hex); nothing honest needs more than this.
pub const MAX_ID_BYTES: usize = 256;

/// JSON-RPC 2.0's codes, and LSPS0's use of them.
pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;
pub const INVALID_PARAMS: i64 = -32602;
pub const INTERNAL_ERROR: i64 = -32603;
/// LSPS0's own: the LSP refuses this client.
pub const CLIENT_REJECTED: i64 = 1;

/// A request id as the client sent it (a string or a number), echoed verbatim.
pub type RequestId = Value;

/// A request the LSP may act on.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub id: RequestId,
    pub method: String,
    /// By name, always (bLIP 50 forbids by-position parameters).
    pub params: Map<String, Value>,
}

/// An error to answer with: JSON-RPC's `code`, `message` and optional `data` object.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
    pub data: Option<Value>,
}

impl RpcError {
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        RpcError {
            code,
            message: message.into(),
            data: None,
        }
    }

    /// -32602 with the `unrecognized` parameter names bLIP 50 requires.
    pub fn unrecognized(names: Vec<String>) -> Self {
        RpcError {
            code: INVALID_PARAMS,
            message: "Invalid params".into(),
            data: Some(json!({ "unrecognized": names })),
        }
    }
}

/// Reads a 37913 payload. `Err` carries the response to send: bLIP 50's "bad message format"
/// is a parse error with `id: null`; a well-formed object that is not a request is answered
/// with its id when it has a usable one.
///
/// # Errors
/// The error response (already encoded), per bLIP 50 and JSON-RPC 2.0.
pub fn parse_request(payload: &[u8]) -> Result<Request, Vec<u8>> {
    let parse_error = || error_response(&Value::Null, &RpcError::new(PARSE_ERROR, "Parse error"));
    if payload.contains(&0) {
        return Err(parse_error());
    }
    let Ok(text) = std::str::from_utf8(payload) else {
        return Err(parse_error());
    };
    // One complete object, nothing after it but whitespace: serde_json refuses trailing data.
    let Ok(Value::Object(mut obj)) = serde_json::from_str::<Value>(text) else {
        return Err(parse_error());
    };
    let id = match obj.remove("id") {
        Some(id @ (Value::String(_) | Value::Number(_)))
            if id.to_string().len() <= MAX_ID_BYTES =>
        {
            id
        }
        // A notification (no id) or an id we will not echo: nothing to answer it by.
        _ => {
            return Err(error_response(
                &Value::Null,
                &RpcError::new(INVALID_REQUEST, "Invalid Request: a string or number id"),
            ))
        }
    };
    let invalid = |why: &str| {
        Err(error_response(
            &id,
            &RpcError::new(INVALID_REQUEST, format!("Invalid Request: {why}")),
        ))
    };
    if obj.get("jsonrpc") != Some(&Value::String("2.0".into())) {
        return invalid("jsonrpc must be \"2.0\"");
    }
    let method = match obj.remove("method") {
        Some(Value::String(m)) => m,
        _ => return invalid("no method"),
    };
    let params = match obj.remove("params") {
        None => Map::new(),
        Some(Value::Object(p)) => p,
        Some(_) => {
            return Err(error_response(
                &id,
                &RpcError {
                    code: INVALID_PARAMS,
                    message: "Invalid params: by name only".into(),
                    data: Some(json!({ "unrecognized": [] })),
                },
            ))
        }
    };
    Ok(Request { id, method, params })
}

/// `Err` names every parameter the method does not know (bLIP 50's -32602 with
/// `unrecognized`).
///
/// # Errors
/// The -32602 error to answer with.
pub fn check_params(params: &Map<String, Value>, known: &[&str]) -> Result<(), RpcError> {
    let mut unknown: Vec<String> = params
        .keys()
        .filter(|k| !known.contains(&k.as_str()))
        .cloned()
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    unknown.sort();
    Err(RpcError::unrecognized(unknown))
}

/// A result response, encoded.
pub fn result_response(id: &RequestId, result: Value) -> Vec<u8> {
    json!({ "jsonrpc": "2.0", "id": id, "result": result })
        .to_string()
        .into_bytes()
}

/// An error response, encoded.
pub fn error_response(id: &RequestId, e: &RpcError) -> Vec<u8> {
    let mut error = json!({ "code": e.code, "message": e.message });
    if let Some(d) = &e.data {
        error["data"] = d.clone();
    }
    json!({ "jsonrpc": "2.0", "id": id, "error": error })
        .to_string()
        .into_bytes()
}

/// `lsps0.list_protocols`: the LSPS numbers served, LSPS0 itself never listed.
pub fn list_protocols(served: &[u16]) -> Value {
    let protocols: Vec<u16> = served.iter().copied().filter(|p| *p != 0).collect();
    json!({ "protocols": protocols })
}

/// The answer to one 37913 payload: LSPS0's own method here, the others by `route` (`None`:
/// a method we do not serve, -32601).
pub fn respond(
    payload: &[u8],
    served: &[u16],
    route: impl FnOnce(&Request) -> Option<Result<Value, RpcError>>,
) -> Vec<u8> {
    match parse_request(payload) {
        Ok(request) => respond_to(&request, served, route),
        Err(response) => response,
    }
}

/// [`respond`] for a request already read.
pub fn respond_to(
    request: &Request,
    served: &[u16],
    route: impl FnOnce(&Request) -> Option<Result<Value, RpcError>>,
) -> Vec<u8> {
    let outcome = if request.method == "lsps0.list_protocols" {
        check_params(&request.params, &[]).map(|()| list_protocols(served))
    } else {
        route(request).unwrap_or_else(|| Err(RpcError::new(METHOD_NOT_FOUND, "Method not found")))
    };
    match outcome {
        Ok(result) => result_response(&request.id, result),
        Err(e) => error_response(&request.id, &e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(bytes: &[u8]) -> Value {
        serde_json::from_slice(bytes).unwrap()
    }

    #[test]
    fn bip50s_example_request_is_read() {
        let r = parse_request(
            br#" {"method": "lsps0.list_protocols", "jsonrpc": "2.0",
                 "id": "example#3cad6a54d302edba4c9ade2f7ffac098", "params": {}} "#,
        )
        .unwrap();
        assert_eq!(r.method, "lsps0.list_protocols");
        assert_eq!(r.id, json!("example#3cad6a54d302edba4c9ade2f7ffac098"));
        assert!(r.params.is_empty());
        let out = answer(&result_response(&r.id, list_protocols(&[0, 2, 1])));
        assert_eq!(
            out,
            json!({"jsonrpc": "2.0", "id": "example#3cad6a54d302edba4c9ade2f7ffac098",
                   "result": {"protocols": [2, 1]}})
        );
    }

    #[test]
    fn a_bad_message_format_is_a_parse_error_with_a_null_id() {
        for bad in [
            &b"{"[..],
            b" [ ] ",
            b" { } { } ",
            b"{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"method\":\"x\"}\0",
            b"\xff\xfe",
            b"",
        ] {
            let out = answer(&parse_request(bad).unwrap_err());
            assert_eq!(out["error"]["code"], PARSE_ERROR, "{bad:?}");
            assert_eq!(out["id"], Value::Null);
        }
    }

    #[test]
    fn not_a_request_is_invalid_with_its_id_when_it_has_one() {
        let out = answer(&parse_request(br#"{"jsonrpc":"2.0","method":"x"}"#).unwrap_err());
        assert_eq!(
            (out["error"]["code"].clone(), out["id"].clone()),
            (json!(INVALID_REQUEST), Value::Null),
            "a notification"
        );
        let long = format!(
            r#"{{"jsonrpc":"2.0","method":"x","id":"{}"}}"#,
            "a".repeat(300)
        );
        let out = answer(&parse_request(long.as_bytes()).unwrap_err());
        assert_eq!(out["id"], Value::Null, "an id too long to echo");
        let out = answer(&parse_request(br#"{"jsonrpc":"1.0","method":"x","id":7}"#).unwrap_err());
        assert_eq!(
            (out["error"]["code"].clone(), out["id"].clone()),
            (json!(INVALID_REQUEST), json!(7))
        );
        let out = answer(&parse_request(br#"{"jsonrpc":"2.0","id":"q"}"#).unwrap_err());
        assert_eq!(out["error"]["code"], INVALID_REQUEST);
        let out = answer(
            &parse_request(br#"{"jsonrpc":"2.0","id":"q","method":"m","params":[1]}"#).unwrap_err(),
        );
        assert_eq!(out["error"]["code"], INVALID_PARAMS);
        assert_eq!(out["error"]["data"]["unrecognized"], json!([]));
    }

    proptest::proptest! {
        /// Whatever a peer sends, the answer is a request or one well-formed error response.
        #[test]
        fn any_payload_is_a_request_or_an_answer(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            if let Err(out) = parse_request(&bytes) {
                let v = answer(&out);
                proptest::prop_assert_eq!(&v["jsonrpc"], "2.0");
                proptest::prop_assert!(v["error"]["code"].is_i64());
            }
        }

        #[test]
        fn any_json_object_is_a_request_or_an_answer(
            id in proptest::option::of("[a-z0-9#]{0,20}"),
            method in proptest::option::of("[a-z0-9._]{0,20}"),
            params in proptest::option::of(proptest::collection::btree_map("[a-z_]{1,8}", 0u32..9, 0..4)),
            version in proptest::option::of("2\\.0|1\\.0"),
        ) {
            let mut o = serde_json::Map::new();
            if let Some(i) = &id { o.insert("id".into(), json!(i)); }
            if let Some(m) = &method { o.insert("method".into(), json!(m)); }
            if let Some(p) = &params { o.insert("params".into(), json!(p)); }
            if let Some(v) = &version { o.insert("jsonrpc".into(), json!(v)); }
            let bytes = Value::Object(o).to_string().into_bytes();
            match parse_request(&bytes) {
                Ok(r) => {
                    proptest::prop_assert_eq!(Some(r.method), method);
                    proptest::prop_assert_eq!(r.id, json!(id.unwrap()));
                    proptest::prop_assert_eq!(version.as_deref(), Some("2.0"));
                }
                Err(out) => {
                    let v = answer(&out);
                    proptest::prop_assert!(v["error"]["code"].is_i64());
                }
            }
        }
    }

    #[test]
    fn list_protocols_and_unknown_methods_are_answered() {
        let ask = |m: &str, params: &str| {
            let req = format!(r#"{{"jsonrpc":"2.0","id":"r1","method":"{m}","params":{params}}}"#);
            answer(&respond(req.as_bytes(), &[2], |_| None))
        };
        assert_eq!(
            ask("lsps0.list_protocols", "{}")["result"],
            json!({"protocols": [2]})
        );
        let e = ask("lsps0.list_protocols", r#"{"x":1}"#);
        assert_eq!(e["error"]["data"]["unrecognized"], json!(["x"]));
        let e = ask("lsps9.nothing", "{}");
        assert_eq!(
            (e["error"]["code"].clone(), e["id"].clone()),
            (json!(METHOD_NOT_FOUND), json!("r1"))
        );
        let routed = respond(
            br#"{"jsonrpc":"2.0","id":3,"method":"lsps2.get_info","params":{}}"#,
            &[2],
            |r| Some(Ok(json!({ "method": r.method }))),
        );
        assert_eq!(answer(&routed)["result"]["method"], "lsps2.get_info");
    }

    #[test]
    fn unknown_parameters_are_named() {
        let r = parse_request(
            br#"{"jsonrpc":"2.0","id":"42","method":"example.method_name",
                "params":{"future_feature1_param":"value1","future_feature2_param":"value2"}}"#,
        )
        .unwrap();
        let e = check_params(&r.params, &["future_feature2_param"]).unwrap_err();
        assert_eq!(
            answer(&error_response(&r.id, &e)),
            json!({"jsonrpc": "2.0", "id": "42", "error": {"code": -32602,
                   "message": "Invalid params",
                   "data": {"unrecognized": ["future_feature1_param"]}}})
        );
        assert!(check_params(
            &r.params,
            &["future_feature1_param", "future_feature2_param"]
        )
        .is_ok());
    }
}
