//! A phoenixd API client as merchants' tools use it: HTTP Basic with an empty user name,
//! form-encoded bodies, plain-text errors.

use std::net::SocketAddr;

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use super::channels_support::TestNode;

pub struct Compat {
    pub addr: SocketAddr,
    pub full: String,
    pub limited: String,
    pub webhook_secret: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        assert_eq!(self.status, 200, "{self:?}");
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("{e}: {}", self.text))
    }
}

pub fn basic(password: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!(":{password}"));
    format!("Basic {b64}")
}

/// `application/x-www-form-urlencoded`, as browsers and curl write it.
pub fn form(pairs: &[(&str, &str)]) -> String {
    fn enc(s: &str) -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                b' ' => "+".into(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    }
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

impl Compat {
    /// The node's phoenixd-compatible API, as `node.json` and the password files name it.
    pub fn of(n: &TestNode) -> Compat {
        let read = |f: &str| {
            std::fs::read_to_string(n.dir.join(f))
                .unwrap()
                .trim()
                .to_string()
        };
        Compat {
            addr: n
                .node
                .node_json
                .compat_phoenixd_addr
                .expect("the node serves the phoenixd API"),
            full: read("compat-phoenixd-password"),
            limited: read("compat-phoenixd-limited-password"),
            webhook_secret: read("compat-phoenixd-webhook-secret"),
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<String>,
        password: Option<&str>,
    ) -> Answer {
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr));
        if let Some(p) = password {
            req = req.header("authorization", basic(p));
        }
        if body.is_some() {
            req = req.header("content-type", "application/x-www-form-urlencoded");
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .unwrap();
        let resp = self.client.request(req).await.expect("the API answers");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        Answer {
            status,
            headers,
            text: String::from_utf8(bytes.to_vec()).unwrap(),
        }
    }

    pub async fn get_as(&self, path: &str, password: Option<&str>) -> Answer {
        self.send("GET", path, None, password).await
    }

    pub async fn post_as(
        &self,
        path: &str,
        pairs: &[(&str, &str)],
        password: Option<&str>,
    ) -> Answer {
        self.send("POST", path, Some(form(pairs)), password).await
    }

    /// With the full-access password.
    pub async fn get(&self, path: &str) -> Answer {
        self.get_as(path, Some(&self.full)).await
    }

    pub async fn post(&self, path: &str, pairs: &[(&str, &str)]) -> Answer {
        self.post_as(path, pairs, Some(&self.full)).await
    }
}

/// One JSON request to any HTTP server (LNbits' API): the status and the JSON answer
/// (`null` when the body is not JSON).
pub async fn json_request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> (u16, Value) {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let mut req = hyper::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let bytes = body.map(|b| b.to_string()).unwrap_or_default();
    let resp = client
        .request(req.body(Full::new(Bytes::from(bytes))).unwrap())
        .await;
    let Ok(resp) = resp else {
        return (0, Value::Null);
    };
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}
