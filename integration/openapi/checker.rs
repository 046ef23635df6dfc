//! Checks a running node's answers against `openapi.yaml`: each request's status must be one
//! the document lists for that operation, and its body must validate against the schema the
//! document gives for that status (fields it does not list fail, as do missing required ones).

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use super::schema;

/// The document, as JSON.
pub fn document() -> Value {
    serde_norway::from_str(chanhub::api::openapi::DOCUMENT).expect("openapi.yaml parses")
}

/// How long one request may take (a payment waits for its outcome).
const PATIENCE: Duration = Duration::from_secs(120);

/// The methods an operation can have.
pub const METHODS: &[&str] = &["get", "put", "post", "delete", "options", "head", "patch"];

/// Every (path template, method) the document describes, methods lowercase.
pub fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for m in item.as_object().unwrap().keys() {
            if METHODS.contains(&m.as_str()) {
                out.insert((path.clone(), m.clone()));
            }
        }
    }
    out
}

/// One answer of the node.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub www_authenticate: Option<String>,
    /// The headers (names lowercase, values as text).
    pub headers: BTreeMap<String, String>,
    /// The body as text (empty for `application/octet-stream`, see `bytes`); for an event
    /// stream, what arrived in its first second.
    pub body: String,
    /// The body as it came.
    pub bytes: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    pub fn error_code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }
}

/// What a request carries besides its method and path.
#[derive(Debug, Clone, Default)]
pub struct Req {
    pub body: Option<Vec<u8>>,
    pub content_type: Option<&'static str>,
    /// Send the token (true unless a test says otherwise).
    pub no_token: bool,
    /// More request headers.
    pub headers: Vec<(&'static str, String)>,
}

impl Req {
    pub fn json(v: Value) -> Req {
        Req::raw(v.to_string())
    }

    pub fn raw(body: impl Into<Vec<u8>>) -> Req {
        Req {
            body: Some(body.into()),
            content_type: Some("application/json"),
            ..Req::default()
        }
    }

    pub fn none() -> Req {
        Req::default()
    }

    /// No body, no token: a public operation.
    pub fn public() -> Req {
        Req {
            no_token: true,
            ..Req::default()
        }
    }

    /// This request with one more header.
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Req {
        self.headers.push((name, value.into()));
        self
    }
}

/// A client of one node that checks every answer against the document and remembers which
/// operations answered which statuses.
pub struct Checker {
    pub doc: Value,
    base: String,
    token: String,
    http: Client<HttpConnector, Full<Bytes>>,
    /// (path template, method) → statuses seen.
    pub seen: RefCell<BTreeMap<(String, String), BTreeSet<u16>>>,
}

impl Checker {
    pub fn new(doc: Value, api_addr: &str, token: &str) -> Checker {
        Checker {
            doc,
            base: format!("http://{api_addr}"),
            token: token.trim().to_string(),
            http: Client::builder(TokioExecutor::new()).build_http(),
            seen: RefCell::default(),
        }
    }

    /// Sends a request, without checking the answer.
    pub async fn send(&self, method: &str, path: &str, req: &Req) -> Answer {
        let mut builder = Request::builder()
            .method(Method::from_bytes(method.to_uppercase().as_bytes()).unwrap())
            .uri(format!("{}{}", self.base, path));
        if let Some(ct) = req.content_type {
            builder = builder.header("content-type", ct);
        }
        if !req.no_token {
            builder = builder.header("authorization", format!("Bearer {}", self.token));
        }
        for (name, value) in &req.headers {
            builder = builder.header(*name, value);
        }
        let body = Full::new(Bytes::from(req.body.clone().unwrap_or_default()));
        let resp = tokio::time::timeout(PATIENCE, self.http.request(builder.body(body).unwrap()))
            .await
            .unwrap_or_else(|_| panic!("{method} {path}: no answer"))
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = resp.status().as_u16();
        let header = |name| {
            resp.headers()
                .get(name)
                .map(|v: &hyper::header::HeaderValue| v.to_str().unwrap().to_string())
        };
        let content_type = header(hyper::header::CONTENT_TYPE).unwrap_or_default();
        let www_authenticate = header(hyper::header::WWW_AUTHENTICATE);
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap().to_string()))
            .collect();
        let mut body = resp.into_body();
        let mut bytes = Vec::new();
        if content_type.starts_with("text/event-stream") {
            // The stream does not end: take what comes in its first second.
            let until = tokio::time::Instant::now() + Duration::from_secs(1);
            while let Ok(Some(frame)) = tokio::time::timeout_at(until, body.frame()).await {
                if let Ok(data) = frame.unwrap().into_data() {
                    bytes.extend_from_slice(&data);
                }
            }
        } else {
            bytes = body.collect().await.unwrap().to_bytes().to_vec();
        }
        let body = if content_type == "application/octet-stream" {
            String::new()
        } else {
            String::from_utf8(bytes.clone()).expect("UTF-8 body")
        };
        Answer {
            status,
            content_type,
            www_authenticate,
            headers,
            body,
            bytes,
        }
    }

    /// Sends a request for the operation `template` (its path with the parameters filled in:
    /// `path`) and checks the answer against the document.
    pub async fn call(&self, method: &str, template: &str, path: &str, req: Req) -> Answer {
        let answer = self.send(method, path, &req).await;
        let mut errors = self.conforms(method, template, &answer);
        // A body the server took must be one the document allows.
        if (200..300).contains(&answer.status) {
            errors.extend(self.request_conforms(method, template, &req));
        }
        assert!(
            errors.is_empty(),
            "{method} {path} answered {} {}: {}\n{:#?}",
            answer.status,
            answer.content_type,
            answer.body,
            errors
        );
        self.seen
            .borrow_mut()
            .entry((template.to_string(), method.to_string()))
            .or_default()
            .insert(answer.status);
        answer
    }

    /// [`Checker::call`] that expects `status` (and, for an error, `code`).
    pub async fn expect(
        &self,
        method: &str,
        template: &str,
        path: &str,
        req: Req,
        status: u16,
        code: Option<&str>,
    ) -> Answer {
        let a = self.call(method, template, path, req).await;
        assert_eq!(a.status, status, "{method} {path}: {}", a.body);
        if let Some(code) = code {
            assert_eq!(a.error_code(), code, "{method} {path}: {}", a.body);
        }
        a
    }

    /// Calls a path without parameters.
    pub async fn ok(&self, method: &str, path: &str, req: Req) -> Value {
        let a = self.expect(method, path, path, req, 200, None).await;
        a.json()
    }

    /// Why an accepted request's body does not conform to the document's request schema.
    pub fn request_conforms(&self, method: &str, template: &str, req: &Req) -> Vec<String> {
        let Some(body) = req.body.as_ref().filter(|b| !b.is_empty()) else {
            return Vec::new();
        };
        let spec = &self.doc["paths"][template][method]["requestBody"];
        let Some(schema) = spec.pointer("/content/application~1json/schema") else {
            return vec!["a body was taken but the document has none".into()];
        };
        match serde_json::from_slice::<Value>(body) {
            Ok(v) => schema::validate(&self.doc, schema, &v)
                .into_iter()
                .map(|e| format!("request body {e}"))
                .collect(),
            Err(_) => vec!["a body that is not JSON was taken".into()],
        }
    }

    /// Why `answer` does not conform to the document's `method template`.
    pub fn conforms(&self, method: &str, template: &str, answer: &Answer) -> Vec<String> {
        let op = &self.doc["paths"][template][method];
        assert!(op.is_object(), "{method} {template} is not in the document");
        let responses = &op["responses"];
        let Some(resp) = responses.get(answer.status.to_string()) else {
            return vec![format!(
                "status {} is not documented (documented: {:?})",
                answer.status,
                responses.as_object().unwrap().keys().collect::<Vec<_>>()
            )];
        };
        let resp = match resp.get("$ref") {
            Some(r) => schema::resolve(&self.doc, r.as_str().unwrap()),
            None => resp,
        };
        self.body_conforms(resp, answer)
    }

    /// Checks the content type and the body against one documented response (one without
    /// `content`, such as a 304, must have no body).
    pub fn body_conforms(&self, resp: &Value, answer: &Answer) -> Vec<String> {
        let Some(content) = resp.get("content") else {
            return if answer.bytes.is_empty() && answer.content_type.is_empty() {
                Vec::new()
            } else {
                vec![format!(
                    "a body ({:?}) where the document has none: {:?}",
                    answer.content_type, answer.body
                )]
            };
        };
        let content = content.as_object().expect("content is a map");
        let media = answer
            .content_type
            .split(';')
            .next()
            .unwrap()
            .trim()
            .to_string();
        let Some(entry) = content.get(&media) else {
            return vec![format!(
                "content type {:?} is not documented ({:?})",
                answer.content_type,
                content.keys().collect::<Vec<_>>()
            )];
        };
        if media != "application/json" {
            return Vec::new();
        }
        let Ok(value) = serde_json::from_str::<Value>(&answer.body) else {
            return vec![format!("not JSON: {:?}", answer.body)];
        };
        schema::validate(&self.doc, &entry["schema"], &value)
    }

    /// Checks an answer that belongs to no operation (an unknown path or method) against the
    /// error schema.
    pub fn error_conforms(&self, answer: &Answer) -> Vec<String> {
        let resp = serde_json::json!({"content": {"application/json": {"schema":
            {"$ref": "#/components/schemas/Error"}}}});
        self.body_conforms(&resp, answer)
    }
}

/// `template` with its parameters replaced by `values` (name → value).
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = template.to_string();
    for (name, value) in values {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}
