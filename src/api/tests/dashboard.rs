//! The dashboard's files: served without the token, with their types and a strict CSP; the
//! data routes next to them still need it.

use std::collections::BTreeMap;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::api::dashboard::CONTENT_SECURITY_POLICY;

struct Answer {
    status: u16,
    /// Header names lowercased.
    headers: BTreeMap<String, String>,
    body: String,
}

/// One request over a plain connection (the JSON client hides headers).
async fn request(api: &Api, method: &str, path: &str, extra: &str) -> Answer {
    let mut s = tokio::net::TcpStream::connect(api.addr).await.unwrap();
    s.write_all(
        format!("{method} {path} HTTP/1.1\r\nHost: x\r\n{extra}Connection: close\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got).await.unwrap();
    let text = String::from_utf8(got).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("a full HTTP answer");
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Answer {
        status,
        headers,
        body: body.to_string(),
    }
}

const FILES: [(&str, &str, &str); 8] = [
    (
        "/",
        "text/html; charset=utf-8",
        "src=\"assets/dashboard.js\"",
    ),
    ("/assets/dashboard.css", "text/css; charset=utf-8", ".bar"),
    (
        "/assets/dashboard.js",
        "text/javascript; charset=utf-8",
        "v1/events",
    ),
    (
        "/assets/sse.js",
        "text/javascript; charset=utf-8",
        "class SseParser",
    ),
    (
        "/assets/format.js",
        "text/javascript; charset=utf-8",
        "function msat",
    ),
    (
        "/assets/view.js",
        "text/javascript; charset=utf-8",
        "function render",
    ),
    (
        "/assets/charts.js",
        "text/javascript; charset=utf-8",
        "function drawActivity",
    ),
    ("/assets/favicon.svg", "image/svg+xml", "<svg"),
];

#[tokio::test]
async fn the_dashboard_is_served_without_the_token_with_a_strict_csp() {
    let api = start(false).await;
    for (path, content_type, sample) in FILES {
        // No token, and a wrong one: neither matters for files that carry no data.
        for auth in ["", "Authorization: Bearer wrong\r\n"] {
            let a = request(&api, "GET", path, auth).await;
            assert_eq!(a.status, 200, "{path}: {}", a.body);
            assert_eq!(a.headers["content-type"], content_type, "{path}");
            assert!(a.body.contains(sample), "{path} holds {sample:?}");
            let csp = &a.headers["content-security-policy"];
            assert_eq!(csp, CONTENT_SECURITY_POLICY);
            for directive in [
                "default-src 'none'",
                "script-src 'self'",
                "style-src 'self'",
                "connect-src 'self'",
                "frame-ancestors 'none'",
            ] {
                assert!(csp.contains(directive), "{path}: {csp}");
            }
            assert!(!csp.contains("unsafe"), "{csp}");
            assert_eq!(a.headers["x-content-type-options"], "nosniff");
            assert_eq!(a.headers["cache-control"], "no-cache", "{path}");

            // Revalidation: the same ETag is not sent again.
            let etag = a.headers["etag"].clone();
            assert!(etag.starts_with('"') && etag.len() > 2, "{etag}");
            let again = request(&api, "GET", path, &format!("If-None-Match: {etag}\r\n")).await;
            assert_eq!(again.status, 304, "{path}");
            assert!(again.body.is_empty());
            assert_eq!(again.headers["etag"], etag);
            let other = request(&api, "GET", path, "If-None-Match: \"0\"\r\n").await;
            assert_eq!(other.status, 200, "{path}: another version is sent in full");
        }
    }
    let tags: std::collections::BTreeSet<String> = etags(&api).await;
    assert_eq!(tags.len(), FILES.len(), "one ETag per file: {tags:?}");
}

async fn etags(api: &Api) -> std::collections::BTreeSet<String> {
    let mut tags = std::collections::BTreeSet::new();
    for (path, ..) in FILES {
        tags.insert(request(api, "GET", path, "").await.headers["etag"].clone());
    }
    tags
}

#[tokio::test]
async fn data_routes_and_other_paths_still_need_the_token() {
    let api = start(false).await;
    for path in [
        "/v1/info",
        "/v1/channels",
        "/v1/payments",
        "/v1/events",
        "/metrics",
        "/assets/",
        "/assets/secret.js",
        "/index.html",
    ] {
        let a = request(&api, "GET", path, "").await;
        assert_eq!(a.status, 401, "{path}");
        let v: Value = serde_json::from_str(&a.body).unwrap();
        assert_eq!(v["error"]["code"], "unauthorized", "{path}");
        assert!(
            !a.headers.contains_key("content-security-policy"),
            "{path} is an API answer, not a dashboard file"
        );
    }
    // Only reading: anything else is refused, with the API's error shape.
    let a = request(&api, "POST", "/", "Content-Length: 0\r\n").await;
    assert_eq!(a.status, 405);
    let v: Value = serde_json::from_str(&a.body).unwrap();
    assert_eq!(v["error"]["code"], "method_not_allowed");
    // HEAD answers like GET without the body.
    let a = request(&api, "HEAD", "/assets/dashboard.js", "").await;
    assert_eq!(a.status, 200);
    assert_eq!(a.headers["content-type"], "text/javascript; charset=utf-8");
    assert!(a.body.is_empty());
}
