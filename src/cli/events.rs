//! `chanhub events` (the event stream as JSON lines) and the webhook commands' output.

use std::time::Duration;

use http_body_util::BodyExt;
use serde_json::Value;

use super::render::{field, pairs, table};
use crate::api::client::ApiClient;

/// The wait before reconnecting to a stream that ended.
const RECONNECT_AFTER: Duration = Duration::from_secs(2);

/// One parsed Server-Sent Event: its id and data (comments and keep-alives carry neither).
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Frame {
    pub id: Option<u64>,
    pub data: Option<String>,
    /// A comment line's text, e.g. that events were pruned.
    pub comment: Option<String>,
}

/// Takes every complete frame (ended by a blank line) off the front of `buf`.
pub(super) fn take_frames(buf: &mut String) -> Vec<Frame> {
    let mut frames = Vec::new();
    while let Some(end) = buf.find("\n\n") {
        let block: String = buf.drain(..end + 2).collect();
        let mut f = Frame::default();
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("id: ") {
                f.id = v.trim().parse().ok();
            } else if let Some(v) = line.strip_prefix("data: ") {
                f.data = Some(v.to_string());
            } else if let Some(v) = line.strip_prefix(':') {
                f.comment = Some(v.trim().to_string());
            }
        }
        frames.push(f);
    }
    frames
}

/// Prints each event as one JSON line as it arrives, from after `after` (or from now). When
/// the stream ends (the node restarted) it reconnects and resumes after the last event
/// printed (or `after`), so none is missed or printed twice. Returns only on an error before the first
/// connection, or one the node answers (a bad request).
pub async fn follow(
    client: &ApiClient,
    mut after: Option<u64>,
    types: Option<String>,
) -> Result<(), String> {
    let path = match &types {
        Some(t) => format!("/v1/events?types={t}"),
        None => "/v1/events".to_string(),
    };
    let mut connected_once = false;
    loop {
        let headers: Vec<(&str, String)> = after
            .map(|n| vec![("last-event-id", n.to_string())])
            .unwrap_or_default();
        let mut body = match client.open_stream(&path, &headers).await {
            Ok(b) => b,
            Err(e @ crate::api::client::ClientError::Api { .. }) => return Err(e.to_string()),
            Err(e) if !connected_once => return Err(e.to_string()),
            Err(e) => {
                eprintln!("event stream: {e}; retrying");
                tokio::time::sleep(RECONNECT_AFTER).await;
                continue;
            }
        };
        connected_once = true;
        let mut buf = String::new();
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else { break };
            let Ok(chunk) = frame.into_data() else {
                continue;
            };
            buf.push_str(&String::from_utf8_lossy(&chunk));
            for f in take_frames(&mut buf) {
                if let Some(data) = f.data {
                    println!("{data}");
                }
                if let Some(id) = f.id {
                    after = Some(id);
                }
                if let Some(c) = f.comment.filter(|c| c.contains("pruned")) {
                    eprintln!("event stream: {c}");
                }
            }
        }
        eprintln!("event stream ended; reconnecting");
        tokio::time::sleep(RECONNECT_AFTER).await;
    }
}

pub fn webhook_added(v: &Value) -> String {
    let mut shown = v.clone();
    shown["events"] = Value::from(events_of(v));
    let list = pairs(
        &shown,
        &[
            ("id", "id"),
            ("url", "url"),
            ("events", "events"),
            ("secret", "secret"),
        ],
    );
    format!("{list}\nKeep the secret: it signs every delivery and is not shown again.")
}

fn events_of(w: &Value) -> String {
    let names: Vec<String> = w["events"]
        .as_array()
        .map(|a| a.iter().map(field).collect())
        .unwrap_or_default();
    if names.is_empty() {
        "all".into()
    } else {
        names.join(",")
    }
}

pub fn webhooks(v: &Value) -> String {
    let empty = Vec::new();
    let all = v["webhooks"].as_array().unwrap_or(&empty);
    if all.is_empty() {
        return "no webhooks".into();
    }
    let mut rows = vec![[
        "ID".to_string(),
        "URL".into(),
        "EVENTS".into(),
        "PENDING".into(),
        "DELIVERED".into(),
        "FAILED".into(),
    ]];
    for w in all {
        rows.push([
            field(&w["id"]),
            field(&w["url"]),
            events_of(w),
            field(&w["pending"]),
            field(&w["delivered"]),
            field(&w["failed"]),
        ]);
    }
    table(&rows)
}

pub fn webhook_removed(v: &Value) -> String {
    format!("removed webhook {} ({})", field(&v["id"]), field(&v["url"]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn frames_are_split_at_blank_lines_across_chunks() {
        let mut buf = String::from(
            ": connected\n\nid: 4\nevent: invoice_paid\ndata: {\"id\":4}\n\nid: 5\nev",
        );
        let frames = take_frames(&mut buf);
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].comment.as_deref(), Some("connected"));
        assert_eq!(frames[1].id, Some(4));
        assert_eq!(frames[1].data.as_deref(), Some("{\"id\":4}"));
        assert_eq!(buf, "id: 5\nev");
        buf.push_str("ent: x\ndata: {}\n\n");
        let frames = take_frames(&mut buf);
        assert_eq!(
            (frames[0].id, frames[0].data.as_deref()),
            (Some(5), Some("{}"))
        );
        assert!(buf.is_empty());
    }

    #[test]
    fn webhooks_read_as_a_table_with_all_for_every_type() {
        let v = json!({"webhooks": [
            {"id": 1, "url": "https://a.example", "events": [], "pending": 0, "delivered": 3, "failed": 1},
            {"id": 2, "url": "https://b.example", "events": ["invoice_paid", "payment_failed"],
             "pending": 2, "delivered": 0, "failed": 0},
        ]});
        let t = webhooks(&v);
        assert!(t.lines().nth(1).unwrap().contains("all"), "{t}");
        assert!(t.contains("invoice_paid,payment_failed"), "{t}");
        assert_eq!(webhooks(&json!({"webhooks": []})), "no webhooks");
        let added = webhook_added(&json!({"id": 3, "url": "u", "events": [], "secret": "ab"}));
        assert!(
            added.contains("secret") && added.contains("not shown again"),
            "{added}"
        );
    }
}
