//! The phases of the three-node scenario for what the API serves besides channels and
//! payments: the dashboard's files, webhooks, the event log replayed, a backup.

use std::time::{Duration, Instant};

use serde_json::json;

use super::hub::*;
use super::*;

/// The dashboard's page and files, without the token: each in the content type the document
/// gives, with an `ETag` that answers `304` to `If-None-Match`.
pub async fn the_dashboard(net: &Net) {
    let Net { doc, hub, .. } = net;
    let public: Vec<String> = operations(doc)
        .into_iter()
        .filter(|(p, m)| m == "get" && doc["paths"][p][m]["tags"] == json!(["dashboard"]))
        .map(|(p, _)| p)
        .collect();
    assert_eq!(public.len(), 8, "the page and seven files: {public:?}");
    for path in &public {
        let a = hub
            .expect("get", path, path, Req::public(), 200, None)
            .await;
        assert!(!a.body.is_empty(), "{path}: empty");
        assert_eq!(a.headers["cache-control"], "no-cache", "{path}");
        assert!(
            a.headers["content-security-policy"].contains("default-src 'none'"),
            "{path}"
        );
        let etag = a.headers["etag"].clone();
        let fresh = Req::public().header("if-none-match", etag.clone());
        let again = hub.expect("get", path, path, fresh, 304, None).await;
        assert_eq!(again.headers["etag"], etag, "{path}");
        let stale = Req::public().header("if-none-match", "\"0000000000000000\"");
        let full = hub.expect("get", path, path, stale, 200, None).await;
        assert_eq!(full.body, a.body, "{path}");
        // HEAD, as every GET: the headers without the body.
        let head = hub.send("head", path, &Req::public()).await;
        assert_eq!(
            (head.status, head.content_type.as_str(), head.body.as_str()),
            (200, a.content_type.as_str(), ""),
            "HEAD {path}"
        );
    }
    let page = &hub.send("get", "/", &Req::public()).await.body;
    assert!(page.contains("assets/dashboard.js"), "{page}");
}

/// Webhooks on the hub: added (valid and invalid bodies), listed, shown, removed.
pub async fn webhooks(net: &Net) {
    let Net { hub, .. } = net;
    let all = hub
        .ok(
            "post",
            "/v1/webhooks",
            Req::json(json!({"url": "http://127.0.0.1:9/every"})),
        )
        .await;
    assert_eq!(all["events"], json!([]), "every type");
    let some = hub
        .ok(
            "post",
            "/v1/webhooks",
            Req::json(json!({
                "url": "https://shop.example/hook",
                "events": ["channel_resolved", "invoice_paid", "invoice_paid"],
            })),
        )
        .await;
    assert_eq!(some["events"], json!(["invoice_paid", "channel_resolved"]));
    assert_ne!(some["secret"], all["secret"]);
    for (body, why) in [
        (
            json!({"url": "https://shop.example/hook", "events": ["invoice_expired"]}),
            "unknown event type",
        ),
        (json!({"url": "ftp://shop.example/hook"}), "not http"),
        (json!({"url": "shop.example/hook"}), "not absolute"),
        (json!({"events": ["invoice_paid"]}), "no url"),
    ] {
        let a = hub
            .expect(
                "post",
                "/v1/webhooks",
                "/v1/webhooks",
                Req::json(body),
                400,
                Some("invalid_request"),
            )
            .await;
        let message = a.json()["error"]["message"].clone();
        assert!(!message.as_str().unwrap().is_empty(), "{why}");
    }
    let list = hub.ok("get", "/v1/webhooks", Req::none()).await;
    let ids: Vec<&Value> = list["webhooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| &w["id"])
        .collect();
    assert_eq!(ids, [&all["id"], &some["id"]], "{list:#}");
    let at = format!("/v1/webhooks/{}", some["id"]);
    let shown = hub
        .expect("get", "/v1/webhooks/{id}", &at, Req::none(), 200, None)
        .await
        .json();
    assert_eq!(shown["url"], "https://shop.example/hook");
    let removed = hub
        .expect("delete", "/v1/webhooks/{id}", &at, Req::none(), 200, None)
        .await
        .json();
    assert_eq!(removed["id"], some["id"]);
    for method in ["get", "delete"] {
        for at in [at.as_str(), "/v1/webhooks/nope"] {
            hub.expect(
                method,
                "/v1/webhooks/{id}",
                at,
                Req::none(),
                404,
                Some("webhook_not_found"),
            )
            .await;
        }
    }
    let left = hub.ok("get", "/v1/webhooks", Req::none()).await;
    assert_eq!(left["webhooks"].as_array().unwrap().len(), 1, "{left:#}");
}

/// Reads what `/v1/events` sends in its first second (the replay), checked; the events.
async fn replay(c: &Checker, doc: &Value, query: &str, req: Req) -> Vec<Value> {
    let a = c
        .expect(
            "get",
            "/v1/events",
            &format!("/v1/events{query}"),
            req,
            200,
            None,
        )
        .await;
    let mut buffer = a.body.clone();
    let events = take_frames(doc, &mut buffer);
    let ids: Vec<u64> = events.iter().map(|e| e["id"].as_u64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{query}: ids {ids:?}");
    events
}

/// Bob's event log, replayed with `?after=` and `Last-Event-ID`, filtered with `?types=`, and
/// refused with bad values.
pub async fn replayed_events(net: &Net) {
    let Net { doc, bob, .. } = net;
    // Bob was paid, had channels change state and recorded a breach's resolution; the last
    // event may be logged a moment after the channel shows it.
    let deadline = Instant::now() + PATIENCE;
    let all = loop {
        let all = replay(bob, doc, "?after=0", Req::none()).await;
        if all.iter().any(|e| e["type"] == "channel_resolved") {
            break all;
        }
        assert!(Instant::now() < deadline, "no channel_resolved: {all:#?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for kind in ["invoice_paid", "channel_state_changed", "channel_resolved"] {
        assert!(all.iter().any(|e| e["type"] == kind), "no {kind}: {all:#?}");
    }
    // Events may still be logged meanwhile (the last channel's resolution): each answer
    // starts with what the previous one had.
    let starts_with = |got: &[Value], want: &[&Value], what: &str| {
        assert!(
            got.len() >= want.len() && got.iter().zip(want).all(|(g, w)| g == *w),
            "{what}: {got:#?}\nwanted first: {want:#?}"
        );
    };
    let first = all[0]["id"].as_u64().unwrap();
    let rest: Vec<&Value> = all.iter().skip(1).collect();
    let after = replay(bob, doc, &format!("?after={first}"), Req::none()).await;
    starts_with(&after, &rest, "?after=");
    // The header wins over the query, as a reconnecting `EventSource` sends it.
    let header = Req::none().header("last-event-id", first.to_string());
    let resumed = replay(bob, doc, "?after=0", header).await;
    starts_with(&resumed, &rest, "Last-Event-ID");
    let query = "?after=0&types=channel_resolved%2Cinvoice_paid";
    let only = replay(bob, doc, query, Req::none()).await;
    let wanted = |e: &Value| e["type"] == "channel_resolved" || e["type"] == "invoice_paid";
    let filtered: Vec<&Value> = all.iter().filter(|e| wanted(e)).collect();
    starts_with(&only, &filtered, "?types=");
    assert!(only.iter().all(wanted), "{only:#?}");
    // Without a starting point: nothing replayed, only what happens from now on.
    let last = all.last().unwrap()["id"].as_u64().unwrap();
    let live = replay(bob, doc, "", Req::none()).await;
    assert!(
        live.iter().all(|e| e["id"].as_u64().unwrap() > last),
        "{live:#?}"
    );
    for (query, req) in [
        ("?after=x", Req::none()),
        ("?after=-1", Req::none()),
        ("?types=invoice_expired", Req::none()),
        ("?limit=10", Req::none()),
        ("", Req::none().header("last-event-id", "latest")),
    ] {
        bob.expect(
            "get",
            "/v1/events",
            &format!("/v1/events{query}"),
            req,
            400,
            Some("invalid_request"),
        )
        .await;
    }
}

/// A backup: the database file, named for the download.
pub async fn backup(net: &Net) {
    let Net { hub, .. } = net;
    let a = hub
        .expect("get", "/v1/backup", "/v1/backup", Req::none(), 200, None)
        .await;
    assert!(
        a.bytes.starts_with(b"SQLite format 3\0"),
        "{:?}",
        &a.bytes[..a.bytes.len().min(32)]
    );
    assert_eq!(a.headers["content-length"], a.bytes.len().to_string());
    let disposition = &a.headers["content-disposition"];
    let height = disposition
        .strip_prefix("attachment; filename=\"chanhub-backup-")
        .and_then(|rest| rest.strip_suffix(".sqlite\""))
        .unwrap_or_else(|| panic!("{disposition}"));
    assert!(height.parse::<u32>().unwrap() > 100, "{disposition}");
}

/// The accounting export of each kind, as CSV and JSON Lines, the activity per bucket, and bad
/// queries refused.
pub async fn exports(net: &Net) {
    let Net { hub, .. } = net;
    let template = "/v1/export/{kind}";
    for kind in ["payments", "invoices", "forwards", "onchain", "events"] {
        let a = hub
            .expect(
                "get",
                template,
                &format!("/v1/export/{kind}"),
                Req::none(),
                200,
                None,
            )
            .await;
        assert_eq!(
            a.headers["content-disposition"],
            format!("attachment; filename=\"chanhub-{kind}.csv\"")
        );
        assert!(a.body.ends_with("\r\n"), "{kind}: a header at least");
        let path = format!("/v1/export/{kind}?from=2020-01-01T00:00:00Z&format=json");
        let a = hub
            .expect("get", template, &path, Req::none(), 200, None)
            .await;
        for line in a.body.lines() {
            serde_json::from_str::<Value>(line).unwrap();
        }
    }
    for window in ["24h", "30d"] {
        let path = format!("/v1/stats/activity?window={window}");
        let a = hub
            .expect("get", "/v1/stats/activity", &path, Req::none(), 200, None)
            .await;
        let fees: u64 = a.json()["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["fees_earned_msat"].as_u64().unwrap())
            .sum();
        assert!(
            fees > 0,
            "the hub's forwards earned fees in the last {window}"
        );
    }
    hub.expect(
        "get",
        "/v1/stats/activity",
        "/v1/stats/activity?window=7d",
        Req::none(),
        400,
        Some("invalid_request"),
    )
    .await;
    hub.expect(
        "get",
        template,
        "/v1/export/payments?from=tomorrow",
        Req::none(),
        400,
        Some("invalid_request"),
    )
    .await;
}
