//! Every error, whatever went wrong, has the one documented shape and a listed code.

use chanhub::api::openapi::PATH;
use serde_json::json;

use super::*;

#[tokio::test]
async fn every_error_has_the_one_shape() {
    init_logs();
    let doc = document();
    let tmp = tempfile::tempdir().unwrap();
    let n = node(tmp.path(), None).await;
    let c = checker(&doc, &n);
    let check_error = |c: &Checker, a: &Answer, status: u16, code: &str| {
        assert!(c.error_conforms(a).is_empty(), "{a:?}");
        assert_eq!((a.status, a.error_code().as_str()), (status, code), "{a:?}");
    };

    // 401, on every operation that needs the token, and on unknown paths.
    for (path, method) in operations(&doc) {
        let op = &doc["paths"][&path][&method];
        let req = Req {
            no_token: true,
            ..Req::none()
        };
        let a = c.call(&method, &path, &dummy(&path), req).await;
        if op.get("security") == Some(&json!([])) {
            assert_eq!(a.status, 200, "{method} {path} is public");
        } else {
            check_error(&c, &a, 401, "unauthorized");
            assert_eq!(a.www_authenticate.as_deref(), Some("Bearer"));
        }
    }
    let no_token = Req {
        no_token: true,
        ..Req::none()
    };
    let a = c.send("get", "/v1/nothing", &no_token).await;
    check_error(&c, &a, 401, "unauthorized");

    // 404 and 405.
    for path in ["/v1/nothing", "/v1/channels/x/y/z", "/openapi.json"] {
        let a = c.send("get", path, &Req::none()).await;
        check_error(&c, &a, 404, "not_found");
    }
    for (method, path) in [
        ("delete", "/v1/balance"),
        ("put", "/v1/events"),
        ("post", PATH),
    ] {
        let a = c.send(method, path, &Req::none()).await;
        check_error(&c, &a, 405, "method_not_allowed");
    }

    // Bodies: malformed JSON, wrong types, unknown fields, too large, on every operation that
    // takes one; a body the operation reads is JSON whatever its content type says.
    for (path, method) in operations(&doc) {
        let op = &doc["paths"][&path][&method];
        if op.get("requestBody").is_none() {
            continue;
        }
        let at = dummy(&path);
        for body in ["{", "[]", "\"x\"", "{\"unknown_field\": 1}", "\u{0}"] {
            let a = c.call(&method, &path, &at, Req::raw(body)).await;
            check_error(&c, &a, 400, "invalid_request");
        }
        let big = format!(
            "{{\"x\": \"{}\"}}",
            "a".repeat(chanhub::api::MAX_BODY_BYTES)
        );
        let a = c.call(&method, &path, &at, Req::raw(big)).await;
        check_error(&c, &a, 413, "payload_too_large");
        let form = Req {
            content_type: Some("application/x-www-form-urlencoded"),
            ..Req::raw("a=b")
        };
        let a = c.call(&method, &path, &at, form).await;
        check_error(&c, &a, 400, "invalid_request");
    }
    let as_text = Req {
        content_type: Some("text/plain"),
        ..Req::json(json!({"base_msat": 1000, "ppm": 100, "cltv_delta": 40}))
    };
    c.expect("put", "/v1/policy", "/v1/policy", as_text, 200, None)
        .await;

    // Bad path parameters: not hex, the wrong length, not UTF-8 once decoded.
    for (path, method) in operations(&doc) {
        if !path.contains('{') {
            continue;
        }
        let body = doc["paths"][&path][&method]
            .get("requestBody")
            .map(|_| Req::json(json!({})))
            .unwrap_or_default();
        for bad in ["xyz", "abcd", "%FF%FE", "%00"] {
            let at = path
                .split('/')
                .map(|seg| if seg.starts_with('{') { bad } else { seg })
                .collect::<Vec<_>>()
                .join("/");
            let a = c.call(&method, &path, &at, body.clone()).await;
            assert!(c.error_conforms(&a).is_empty(), "{a:?}");
            let code = a.error_code();
            // A webhook id is a number the node gave: any other names no webhook (404),
            // unless it is not even text once decoded.
            if path.starts_with("/v1/webhooks/") && a.status == 404 {
                assert_eq!(code, "webhook_not_found", "{method} {at}: {}", a.body);
                assert_ne!(bad, "%FF%FE", "{method} {at}: {}", a.body);
                continue;
            }
            assert_eq!(a.status, 400, "{method} {at}: {}", a.body);
            assert!(
                code == "invalid_request"
                    || (path.contains("{node_id}") && code == "invalid_node_id"),
                "{method} {at}: {}",
                a.body
            );
        }
    }

    // Query strings: only `/v1/events` takes one; elsewhere they are ignored, however odd.
    for q in ["?x=1", "?%zz", "?&&==", "?limit=-1&limit=a"] {
        let a = c
            .send("get", &format!("/v1/channels{q}"), &Req::none())
            .await;
        assert_eq!(a.status, 200, "{q}: {}", a.body);
        assert!(c.conforms("get", "/v1/channels", &a).is_empty());
    }
    n.node.shutdown().await;
}
