//! A small client of the node's API, used by the CLI (and tests).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    #[error("cannot reach the node at {url}: {reason}")]
    Connect { url: String, reason: String },
    /// The node answered with an error body.
    #[error("{message} ({code}, HTTP {status})")]
    Api {
        status: u16,
        code: String,
        message: String,
    },
    #[error("unexpected answer from the node (HTTP {status}): {body}")]
    Protocol { status: u16, body: String },
    #[error("invalid API URL {0:?}")]
    Url(String),
}

pub struct ApiClient {
    base: String,
    token: String,
    http: Client<HttpConnector, Full<Bytes>>,
}

impl ApiClient {
    /// `base` is `http://host:port` (or `host:port`).
    pub fn new(base: &str, token: &str) -> Self {
        let base = base.trim_end_matches('/');
        let base = if base.contains("://") {
            base.to_string()
        } else {
            format!("http://{base}")
        };
        let mut connector = HttpConnector::new();
        // Requests are small and awaited one by one: see `api::serve`.
        connector.set_nodelay(true);
        ApiClient {
            base,
            token: token.trim().to_string(),
            http: Client::builder(TokioExecutor::new()).build(connector),
        }
    }

    pub async fn get(&self, path: &str) -> Result<Value, ClientError> {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Result<Value, ClientError> {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Result<Value, ClientError> {
        self.call(Method::PUT, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Result<Value, ClientError> {
        self.call(Method::DELETE, path, None).await
    }

    /// Sends a raw request; answers the status and the body text whatever the status.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Vec<u8>,
    ) -> Result<(u16, String), ClientError> {
        let url = format!("{}{}", self.base, path);
        let mut req = Request::builder()
            .method(method)
            .uri(&url)
            .header("content-type", "application/json");
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let req = req
            .body(Full::new(Bytes::from(body)))
            .map_err(|_| ClientError::Url(url.clone()))?;
        let resp = self
            .http
            .request(req)
            .await
            .map_err(|e| ClientError::Connect {
                url: self.base.clone(),
                reason: error_chain(&e),
            })?;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| ClientError::Connect {
                url: self.base.clone(),
                reason: e.to_string(),
            })?
            .to_bytes();
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }

    /// `GET path` streamed into `out` chunk by chunk (a body too large to hold, e.g. a
    /// backup). Returns the bytes written; an error answer is returned as the API's error.
    pub async fn download(
        &self,
        path: &str,
        out: &mut impl std::io::Write,
    ) -> Result<u64, ClientError> {
        let url = format!("{}{}", self.base, path);
        let req = Request::builder()
            .method(Method::GET)
            .uri(&url)
            .header("authorization", format!("Bearer {}", self.token))
            .body(Full::new(Bytes::new()))
            .map_err(|_| ClientError::Url(url.clone()))?;
        let broken = |reason: String| ClientError::Connect {
            url: self.base.clone(),
            reason,
        };
        let resp = self
            .http
            .request(req)
            .await
            .map_err(|e| broken(error_chain(&e)))?;
        let status = resp.status().as_u16();
        let mut body = resp.into_body();
        if !(200..300).contains(&status) {
            let bytes = body
                .collect()
                .await
                .map_err(|e| broken(e.to_string()))?
                .to_bytes();
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let json: Option<Value> = serde_json::from_str(&text).ok();
            return Err(match json.as_ref().and_then(|j| j.get("error")) {
                Some(e) => ClientError::Api {
                    status,
                    code: e["code"].as_str().unwrap_or("unknown").to_string(),
                    message: e["message"].as_str().unwrap_or("").to_string(),
                },
                None => ClientError::Protocol { status, body: text },
            });
        }
        let mut written = 0u64;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| broken(error_chain(&e)))?;
            if let Ok(data) = frame.into_data() {
                out.write_all(&data)
                    .map_err(|e| broken(format!("writing: {e}")))?;
                written += data.len() as u64;
            }
        }
        Ok(written)
    }

    /// Opens a long-lived `GET` (the event stream) with extra headers; the body is read by the
    /// caller as it arrives. An answer other than 200 is an error, as for [`ApiClient::get`].
    pub async fn open_stream(
        &self,
        path: &str,
        headers: &[(&str, String)],
    ) -> Result<hyper::body::Incoming, ClientError> {
        let url = format!("{}{}", self.base, path);
        let mut req = Request::builder()
            .method(Method::GET)
            .uri(&url)
            .header("authorization", format!("Bearer {}", self.token))
            .header("accept", "text/event-stream");
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let req = req
            .body(Full::new(Bytes::new()))
            .map_err(|_| ClientError::Url(url.clone()))?;
        let resp = self
            .http
            .request(req)
            .await
            .map_err(|e| ClientError::Connect {
                url: self.base.clone(),
                reason: error_chain(&e),
            })?;
        let status = resp.status().as_u16();
        if status == 200 {
            return Ok(resp.into_body());
        }
        let body = resp
            .into_body()
            .collect()
            .await
            .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
            .unwrap_or_default();
        let json: Option<Value> = serde_json::from_str(&body).ok();
        Err(match json.as_ref().and_then(|j| j.get("error")) {
            Some(e) => ClientError::Api {
                status,
                code: e["code"].as_str().unwrap_or("unknown").to_string(),
                message: e["message"].as_str().unwrap_or("").to_string(),
            },
            None => ClientError::Protocol { status, body },
        })
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, ClientError> {
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let (status, text) = self.raw(method, path, Some(&self.token), bytes).await?;
        let json: Option<Value> = serde_json::from_str(&text).ok();
        if (200..300).contains(&status) {
            return json.ok_or(ClientError::Protocol { status, body: text });
        }
        match json.as_ref().and_then(|j| j.get("error")) {
            Some(e) => Err(ClientError::Api {
                status,
                code: e["code"].as_str().unwrap_or("unknown").to_string(),
                message: e["message"].as_str().unwrap_or("").to_string(),
            }),
            None => Err(ClientError::Protocol { status, body: text }),
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}
