//! JSON-RPC framing as Bitcoin Core's `httprpc.cpp` does it: 1.0 (legacy) and 2.0 requests,
//! batches, notifications, and the HTTP status each outcome gets.

use serde_json::Value;

use super::error::{codes, RpcError};
use super::value::Json;

/// HTTP statuses the JSON-RPC layer answers with.
pub mod status {
    pub const OK: u16 = 200;
    pub const NO_CONTENT: u16 = 204;
    pub const BAD_REQUEST: u16 = 400;
    pub const NOT_FOUND: u16 = 404;
    pub const INTERNAL_SERVER_ERROR: u16 = 500;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    /// 1.0/1.1: errors become HTTP errors, replies carry both `result` and `error`.
    Legacy,
    /// 2.0: errors are answered with HTTP 200, replies carry one of `result`/`error`.
    V2,
}

/// What parsing a request object found, even when it failed part-way (Core keeps the id and
/// version it saw so the error reply carries them).
struct Request {
    id: Option<Value>,
    version: Version,
}

impl Request {
    fn is_notification(&self) -> bool {
        self.id.is_none() && self.version == Version::V2
    }

    fn reply(&self, outcome: Result<Json, RpcError>) -> Json {
        let mut o = Json::obj();
        if self.version == Version::V2 {
            o.push("jsonrpc", "2.0");
        }
        match outcome {
            Ok(result) => {
                o.push("result", result);
                if self.version == Version::Legacy {
                    o.push("error", Json::Null);
                }
            }
            Err(e) => {
                if self.version == Version::Legacy {
                    o.push("result", Json::Null);
                }
                o.push("error", e.to_json());
            }
        }
        if let Some(id) = &self.id {
            o.push("id", Json::from(id));
        }
        o
    }
}

/// Core's `JSONRPCRequest::parse`: the method and its params, or the error (with what was
/// learnt of the request so far).
fn parse(v: &Value) -> (Request, Result<(&str, Value), RpcError>) {
    let mut req = Request {
        id: Some(Value::Null),
        version: Version::Legacy,
    };
    let Value::Object(obj) = v else {
        let e = RpcError::new(codes::INVALID_REQUEST, "Invalid Request object");
        return (req, Err(e));
    };
    req.id = obj.get("id").cloned();
    match obj.get("jsonrpc") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if s == "1.0" => {}
        Some(Value::String(s)) if s == "2.0" => req.version = Version::V2,
        Some(Value::String(_)) => {
            let e = RpcError::new(codes::INVALID_REQUEST, "JSON-RPC version not supported");
            return (req, Err(e));
        }
        Some(_) => {
            let e = RpcError::new(codes::INVALID_REQUEST, "jsonrpc field must be a string");
            return (req, Err(e));
        }
    }
    let method = match obj.get("method") {
        None | Some(Value::Null) => {
            return (
                req,
                Err(RpcError::new(codes::INVALID_REQUEST, "Missing method")),
            )
        }
        Some(Value::String(m)) => m.as_str(),
        Some(_) => {
            let e = RpcError::new(codes::INVALID_REQUEST, "Method must be a string");
            return (req, Err(e));
        }
    };
    let params = match obj.get("params") {
        Some(p @ (Value::Array(_) | Value::Object(_))) => p.clone(),
        None | Some(Value::Null) => Value::Array(Vec::new()),
        Some(_) => {
            let e = RpcError::new(codes::INVALID_REQUEST, "Params must be an array or object");
            return (req, Err(e));
        }
    };
    (req, Ok((method, params)))
}

/// Core's `JSONErrorReply`: the HTTP status of a failed legacy request.
fn error_status(e: &RpcError) -> u16 {
    match e.code {
        codes::INVALID_REQUEST => status::BAD_REQUEST,
        codes::METHOD_NOT_FOUND => status::NOT_FOUND,
        _ => status::INTERNAL_SERVER_ERROR,
    }
}

/// Answers an HTTP body: the status and, unless there is nothing to say, the JSON reply.
/// `exec` runs one method call.
pub fn handle(
    body: &[u8],
    exec: &dyn Fn(&str, &Value) -> Result<Json, RpcError>,
) -> (u16, Option<Json>) {
    let parse_error = || {
        let req = Request {
            id: Some(Value::Null),
            version: Version::Legacy,
        };
        (
            status::INTERNAL_SERVER_ERROR,
            Some(req.reply(Err(RpcError::new(codes::PARSE_ERROR, "Parse error")))),
        )
    };
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return parse_error();
    };
    match &value {
        Value::Object(_) => {
            let (req, parsed) = parse(&value);
            let outcome = parsed.and_then(|(method, params)| exec(method, &params));
            if req.is_notification() {
                return (status::NO_CONTENT, None);
            }
            let status = match (&outcome, req.version) {
                (Err(e), Version::Legacy) => error_status(e),
                _ => status::OK,
            };
            (status, Some(req.reply(outcome)))
        }
        Value::Array(items) => {
            let mut replies = Vec::with_capacity(items.len());
            for item in items {
                let (req, parsed) = parse(item);
                let outcome = parsed.and_then(|(method, params)| exec(method, &params));
                if !req.is_notification() {
                    replies.push(req.reply(outcome));
                }
            }
            // An all-notification batch gets no content; an empty batch gets `[]`, as Core.
            if replies.is_empty() && !items.is_empty() {
                return (status::NO_CONTENT, None);
            }
            (status::OK, Some(Json::Arr(replies)))
        }
        _ => {
            let req = Request {
                id: Some(Value::Null),
                version: Version::Legacy,
            };
            let e = RpcError::new(codes::PARSE_ERROR, "Top-level object parse error");
            (status::INTERNAL_SERVER_ERROR, Some(req.reply(Err(e))))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn echo(method: &str, _: &Value) -> Result<Json, RpcError> {
        match method {
            "ok" => Ok(Json::from(1u32)),
            _ => Err(RpcError::method_not_found()),
        }
    }

    fn run(body: &str) -> (u16, Option<String>) {
        let (s, j) = handle(body.as_bytes(), &echo);
        (s, j.map(|j| j.write()))
    }

    #[test]
    fn legacy_and_v2_replies() {
        assert_eq!(
            run(r#"{"method":"ok","id":7}"#),
            (200, Some(r#"{"result":1,"error":null,"id":7}"#.into()))
        );
        assert_eq!(
            run(r#"{"jsonrpc":"2.0","method":"ok","id":"a"}"#),
            (200, Some(r#"{"jsonrpc":"2.0","result":1,"id":"a"}"#.into()))
        );
        assert_eq!(
            run(r#"{"method":"nope","id":1}"#),
            (
                404,
                Some(r#"{"result":null,"error":{"code":-32601,"message":"Method not found"},"id":1}"#.into())
            )
        );
        assert_eq!(
            run(r#"{"jsonrpc":"2.0","method":"nope","id":1}"#),
            (
                200,
                Some(r#"{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":1}"#.into())
            )
        );
    }

    #[test]
    fn parse_errors_notifications_and_batches() {
        assert_eq!(
            run("{"),
            (
                500,
                Some(
                    r#"{"result":null,"error":{"code":-32700,"message":"Parse error"},"id":null}"#
                        .into()
                )
            )
        );
        assert_eq!(run(r#"{"jsonrpc":"2.0","method":"ok"}"#), (204, None));
        assert_eq!(run(r#"[{"jsonrpc":"2.0","method":"ok"}]"#), (204, None));
        assert_eq!(run("[]"), (200, Some("[]".into())));
        let (s, body) = run(r#"[{"method":"ok","id":1},5]"#);
        assert_eq!(s, 200);
        assert_eq!(
            body.unwrap(),
            r#"[{"result":1,"error":null,"id":1},{"result":null,"error":{"code":-32600,"message":"Invalid Request object"},"id":null}]"#
        );
        assert_eq!(run("3").0, 500);
    }
}
