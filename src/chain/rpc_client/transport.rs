//! JSON-RPC over HTTP to a bitcoind-compatible server: Basic auth (user/password or the
//! cookie file, re-read when refused since bitcoind rewrites it at every start), a pooled
//! keep-alive hyper client, and timeouts.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};

use crate::chain::ChainError;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest answer accepted (a 4 MB block at verbosity 0 is 8 MB of hex).
const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// How to authenticate to the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RpcAuth {
    UserPass {
        user: String,
        password: String,
    },
    /// bitcoind's `.cookie` file (`__cookie__:<password>`).
    CookieFile(PathBuf),
}

/// Why a call failed, before mapping to [`ChainError`]: typed methods turn some server
/// errors (e.g. -5 "not found") into `Ok(None)`.
#[derive(Debug)]
pub(crate) enum CallError {
    /// The server answered with a JSON-RPC error.
    Rpc {
        code: i64,
        message: String,
    },
    Chain(ChainError),
}

pub(crate) struct Transport {
    client: Client<HttpConnector, Full<Bytes>>,
    uri: Uri,
    auth: RpcAuth,
    /// The `Authorization` header value, read from the cookie lazily.
    header: Mutex<Option<String>>,
    next_id: AtomicU64,
}

fn transient(what: impl std::fmt::Display) -> CallError {
    CallError::Chain(ChainError::Transient(what.to_string()))
}

fn permanent(what: impl std::fmt::Display) -> CallError {
    CallError::Chain(ChainError::Permanent(what.to_string()))
}

impl Transport {
    pub fn new(url: &str, auth: RpcAuth) -> Result<Transport, ChainError> {
        let url = if url.contains("://") {
            url.to_owned()
        } else {
            format!("http://{url}")
        };
        let uri: Uri = url
            .parse()
            .map_err(|e| ChainError::Permanent(format!("invalid RPC URL {url}: {e}")))?;
        if uri.scheme_str() != Some("http") || uri.host().is_none() {
            return Err(ChainError::Permanent(format!(
                "RPC URL must be http://host:port, got {url}"
            )));
        }
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Ok(Transport {
            client,
            uri,
            auth,
            header: Mutex::new(None),
            next_id: AtomicU64::new(1),
        })
    }

    /// The `Authorization` header; `fresh` re-reads the cookie file.
    fn auth_header(&self, fresh: bool) -> Result<String, CallError> {
        let mut cached = self.header.lock().unwrap_or_else(|e| e.into_inner());
        if let (Some(h), false) = (cached.as_ref(), fresh) {
            return Ok(h.clone());
        }
        let credentials = match &self.auth {
            RpcAuth::UserPass { user, password } => format!("{user}:{password}"),
            // A missing cookie usually means the node is (re)starting: retry later.
            RpcAuth::CookieFile(path) => std::fs::read_to_string(path)
                .map(|s| s.trim().to_owned())
                .map_err(|e| transient(format!("cannot read cookie {}: {e}", path.display())))?,
        };
        let header = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(credentials)
        );
        *cached = Some(header.clone());
        Ok(header)
    }

    /// Calls `method`; the answer's `result`, or why not.
    pub async fn call(
        &self,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value, CallError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let body = Bytes::from(serde_json::to_vec(&body).map_err(permanent)?);
        let mut header = self.auth_header(false)?;
        let mut retried = false;
        loop {
            let (status, bytes) = tokio::time::timeout(timeout, self.post(&header, body.clone()))
                .await
                .map_err(|_| transient(format!("{method}: no answer within {timeout:?}")))??;
            if status == StatusCode::UNAUTHORIZED {
                if matches!(self.auth, RpcAuth::CookieFile(_)) && !retried {
                    retried = true;
                    header = self.auth_header(true)?;
                    continue;
                }
                return Err(permanent("RPC authentication failed (HTTP 401)"));
            }
            return parse_reply(method, status, &bytes);
        }
    }

    async fn post(&self, auth: &str, body: Bytes) -> Result<(StatusCode, Bytes), CallError> {
        let request = Request::builder()
            .method(Method::POST)
            .uri(self.uri.clone())
            .header(AUTHORIZATION, auth)
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(body))
            .map_err(permanent)?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| transient(format!("RPC request to {} failed: {e}", self.uri)))?;
        let status = response.status();
        let bytes = http_body_util::Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
            .collect()
            .await
            .map_err(|e| transient(format!("RPC answer cut short: {e}")))?
            .to_bytes();
        Ok((status, bytes))
    }
}

/// Reads a JSON-RPC answer. bitcoind answers errors of legacy requests with HTTP 500/404
/// and a JSON body, so the body decides; the status only when there is no JSON.
fn parse_reply(method: &str, status: StatusCode, body: &[u8]) -> Result<Value, CallError> {
    let Ok(Value::Object(mut reply)) = serde_json::from_slice::<Value>(body) else {
        let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        return Err(if status == StatusCode::SERVICE_UNAVAILABLE {
            transient(format!("{method}: HTTP 503 {text}"))
        } else {
            permanent(format!("{method}: HTTP {status} {text}"))
        });
    };
    match reply.remove("error") {
        None | Some(Value::Null) => Ok(reply.remove("result").unwrap_or(Value::Null)),
        Some(e) => Err(CallError::Rpc {
            code: e.get("code").and_then(Value::as_i64).unwrap_or(-1),
            message: e
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
        }),
    }
}
