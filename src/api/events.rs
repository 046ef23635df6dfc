//! `GET /v1/events`: the event log as Server-Sent Events, resumable.
//!
//! Each frame is `id: N`, `event: TYPE`, `data: JSON`. With `Last-Event-ID: N` (or `?after=N`;
//! the header wins, as a browser's `EventSource` sends it on reconnection) the stream first
//! replays every logged event after N, then continues live. The live subscription is taken
//! before the log is read and live events at or below the last id sent are skipped, so the
//! hand-over has neither a gap nor a duplicate. A client that falls behind the live broadcast
//! reads what it missed from the log the same way.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use tokio::sync::{broadcast, mpsc, watch};

use super::ApiState;
use crate::error::Error;
use crate::events::{EventKind, EventLog, LoggedEvent};

/// How often the event stream sends a comment when there is nothing to say, so proxies and
/// clients do not take a quiet stream for a dead one.
pub const EVENTS_KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Events read from the log at a time when replaying.
const REPLAY_PAGE: usize = 256;

/// One Server-Sent Event: its id, `event: <type>` and the event's JSON on one `data:` line
/// (compact JSON escapes newlines, so it never spans lines).
pub fn sse_frame(event: &LoggedEvent) -> String {
    format!(
        "id: {}\nevent: {}\ndata: {}\n\n",
        event.id,
        event.kind().as_str(),
        event.to_json()
    )
}

/// Where a stream starts and what it carries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct StreamStart {
    /// Replay the log after this id; `None`: only events from now on.
    pub after: Option<u64>,
    /// Only these types; empty: every type.
    pub types: Vec<EventKind>,
}

fn parse_id(s: &str, what: &str) -> Result<u64, Error> {
    s.trim()
        .parse()
        .map_err(|_| Error::InvalidRequest(format!("{what} {s:?} is not an event id")))
}

/// Reads `Last-Event-ID`, `?after=` and `?types=a,b`.
pub(super) fn stream_start(headers: &HeaderMap, query: Option<&str>) -> Result<StreamStart, Error> {
    let mut start = StreamStart::default();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        // Commas are all a client might percent-encode in these values.
        let value = value.replace("%2C", ",").replace("%2c", ",");
        match key {
            "after" => start.after = Some(parse_id(&value, "after")?),
            "types" => {
                start.types =
                    EventKind::parse_list(value.split(',')).map_err(Error::InvalidRequest)?
            }
            other => {
                return Err(Error::InvalidRequest(format!(
                    "unknown query parameter {other:?} (expected after, types)"
                )))
            }
        }
    }
    if let Some(h) = headers.get("last-event-id") {
        let text = h
            .to_str()
            .map_err(|_| Error::InvalidRequest("Last-Event-ID is not text".into()))?;
        start.after = Some(parse_id(text, "Last-Event-ID")?);
    }
    Ok(start)
}

pub(super) async fn events(
    State(s): State<ApiState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, Error> {
    let start = stream_start(&headers, query.as_deref())?;
    Ok(sse_response(
        s.events.clone(),
        start,
        s.shutdown.clone(),
        EVENTS_KEEP_ALIVE,
    ))
}

/// A `text/event-stream` response fed from `log` until the client leaves or the node stops
/// (a stream left open would hold up the API's graceful shutdown).
pub(super) fn sse_response(
    log: EventLog,
    start: StreamStart,
    shutdown: watch::Receiver<bool>,
    keep_alive: Duration,
) -> Response {
    // Subscribed before anything is read from the log: see the module docs.
    let live = log.subscribe();
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(pump_events(log, live, start, tx, shutdown, keep_alive));
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::new(SseBody(rx)),
    )
        .into_response()
}

/// Sends every logged event of `types` after `*last`, advancing `*last`; `false` when the
/// stream should end (the client left, the node stops, the log cannot be read).
async fn replay(
    log: &EventLog,
    last: &mut u64,
    types: &[EventKind],
    tx: &mpsc::Sender<Bytes>,
    shutdown: &watch::Receiver<bool>,
) -> bool {
    loop {
        if *shutdown.borrow() {
            return false;
        }
        let page = match log.after(*last, REPLAY_PAGE, types.to_vec()).await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "event stream: cannot read the log");
                let _ = tx
                    .send(Bytes::from_static(b": cannot read the event log\n\n"))
                    .await;
                return false;
            }
        };
        let full = page.len() == REPLAY_PAGE;
        for e in page {
            *last = e.id;
            if tx.send(Bytes::from(sse_frame(&e))).await.is_err() {
                return false;
            }
        }
        if !full {
            return true;
        }
    }
}

async fn pump_events(
    log: EventLog,
    mut live: broadcast::Receiver<LoggedEvent>,
    start: StreamStart,
    tx: mpsc::Sender<Bytes>,
    mut shutdown: watch::Receiver<bool>,
    keep_alive: Duration,
) {
    let bounds = match log.bounds().await {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(error = %e, "event stream: cannot read the log");
            return;
        }
    };
    // The last event id the client has: where a replay (or a catch-up after lagging) starts.
    let mut last = start.after.unwrap_or(bounds.1.unwrap_or(0));
    // A first comment at once, so the client knows the stream is up.
    if tx
        .send(Bytes::from_static(b": connected\n\n"))
        .await
        .is_err()
    {
        return;
    }
    if start.after.is_some() {
        let pruned = match bounds {
            (Some(oldest), _) if oldest > last + 1 => Some(format!(
                ": events {}..{} were pruned; resuming from {oldest}\n\n",
                last + 1,
                oldest - 1
            )),
            (None, Some(newest)) if newest > last => {
                Some(format!(": events {}..{newest} were pruned\n\n", last + 1))
            }
            _ => None,
        };
        if let Some(comment) = pruned {
            if tx.send(Bytes::from(comment)).await.is_err() {
                return;
            }
        }
        if !replay(&log, &mut last, &start.types, &tx, &shutdown).await {
            return;
        }
    }
    let wanted = |e: &LoggedEvent| start.types.is_empty() || start.types.contains(&e.kind());
    let first_tick = tokio::time::Instant::now() + keep_alive;
    let mut tick = tokio::time::interval_at(first_tick, keep_alive);
    loop {
        let frame = tokio::select! {
            _ = tx.closed() => return,
            _ = shutdown.wait_for(|s| *s) => return,
            _ = tick.tick() => Bytes::from_static(b": keep-alive\n\n"),
            e = live.recv() => match e {
                // Already sent by the replay.
                Ok(e) if e.id <= last => continue,
                Ok(e) => {
                    last = e.id;
                    if !wanted(&e) {
                        continue;
                    }
                    Bytes::from(sse_frame(&e))
                }
                // A slow client missed some: the log has them.
                Err(broadcast::error::RecvError::Lagged(_)) => Bytes::new(),
                Err(broadcast::error::RecvError::Closed) => return,
            },
        };
        if frame.is_empty() {
            if !replay(&log, &mut last, &start.types, &tx, &shutdown).await {
                return;
            }
            continue;
        }
        if tx.send(frame).await.is_err() {
            return;
        }
    }
}

/// The response body: chunks as the pump hands them over.
struct SseBody(mpsc::Receiver<Bytes>);

impl HttpBody for SseBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|b| Ok(hyper::body::Frame::data(b))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::EventData;
    use crate::store::Store;
    use http_body_util::BodyExt;

    fn paid(n: u64) -> EventData {
        EventData::InvoicePaid {
            payment_hash: format!("{n:064x}"),
            amount_msat: n,
        }
    }

    fn failed() -> EventData {
        EventData::PaymentFailed {
            payment_hash: "ab".repeat(32),
            failure: "no route\nat all".into(),
        }
    }

    async fn log_with_publisher() -> (EventLog, watch::Sender<bool>, watch::Receiver<bool>) {
        let log = EventLog::open(Store::open_in_memory().unwrap())
            .await
            .unwrap();
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(log.clone().run_publisher(stopped.clone()));
        (log, stop, stopped)
    }

    async fn write(log: &EventLog, data: EventData) -> u64 {
        let l = log.clone();
        log.store()
            .write(move |tx| l.record(tx, &data))
            .await
            .unwrap()
    }

    async fn next_chunk(body: &mut Body) -> Option<String> {
        let frame = tokio::time::timeout(Duration::from_secs(5), body.frame())
            .await
            .expect("a chunk in time")?
            .unwrap();
        Some(String::from_utf8(frame.into_data().unwrap().to_vec()).unwrap())
    }

    /// The id of a frame (`None` for a comment).
    fn id_of(chunk: &str) -> Option<u64> {
        chunk.strip_prefix("id: ")?.split('\n').next()?.parse().ok()
    }

    #[test]
    fn an_event_is_one_sse_frame_with_its_id() {
        let e = LoggedEvent {
            id: 7,
            created_at: 1,
            data: failed(),
        };
        let f = sse_frame(&e);
        assert!(
            f.starts_with("id: 7\nevent: payment_failed\ndata: {"),
            "{f}"
        );
        assert!(f.ends_with("}\n\n"));
        assert_eq!(f.lines().count(), 4, "id, event, data, blank: {f:?}");
        let data: serde_json::Value =
            serde_json::from_str(f.lines().nth(2).unwrap().strip_prefix("data: ").unwrap())
                .unwrap();
        assert_eq!(data["type"], "payment_failed");
        assert_eq!(data["id"], 7);
        assert_eq!(data["failure"], "no route\nat all");
    }

    #[test]
    fn the_start_comes_from_the_header_or_the_query() {
        let mut h = HeaderMap::new();
        assert_eq!(stream_start(&h, None).unwrap(), StreamStart::default());
        let s = stream_start(&h, Some("after=5&types=invoice_paid%2Chtlc_forwarded")).unwrap();
        assert_eq!(s.after, Some(5));
        assert_eq!(s.types, [EventKind::InvoicePaid, EventKind::HtlcForwarded]);
        h.insert("last-event-id", "9".parse().unwrap());
        assert_eq!(
            stream_start(&h, Some("after=5")).unwrap().after,
            Some(9),
            "the header wins"
        );
        for bad in ["after=x", "types=paid", "since=1"] {
            let e = stream_start(&HeaderMap::new(), Some(bad)).unwrap_err();
            assert_eq!(e.code(), "invalid_request", "{bad}");
        }
        h.insert("last-event-id", "-1".parse().unwrap());
        assert!(stream_start(&h, None).is_err());
    }

    #[tokio::test]
    async fn the_stream_carries_new_events_and_keep_alives_until_shutdown() {
        let (log, stop, stopped) = log_with_publisher().await;
        write(&log, paid(1)).await;
        let resp = sse_response(
            log.clone(),
            StreamStart::default(),
            stopped,
            Duration::from_millis(300),
        );
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "text/event-stream");
        let mut body = resp.into_body();
        assert_eq!(next_chunk(&mut body).await.unwrap(), ": connected\n\n");
        let id = write(&log, failed()).await;
        let chunk = next_chunk(&mut body).await.unwrap();
        assert_eq!(id_of(&chunk), Some(2), "only events from now on: {chunk}");
        assert!(chunk.starts_with(&format!("id: {id}\nevent: payment_failed\n")));
        // Nothing to say for a while: a comment.
        assert_eq!(next_chunk(&mut body).await.unwrap(), ": keep-alive\n\n");
        stop.send(true).unwrap();
        assert_eq!(
            next_chunk(&mut body).await,
            None,
            "the node stops: the stream ends"
        );
    }

    #[tokio::test]
    async fn a_resumed_stream_replays_what_was_missed_then_goes_live_without_duplicates() {
        let (log, _stop, stopped) = log_with_publisher().await;
        for n in 1..=3 {
            write(&log, paid(n)).await;
        }
        write(&log, failed()).await;
        let start = StreamStart {
            after: Some(1),
            types: Vec::new(),
        };
        let mut body =
            sse_response(log.clone(), start, stopped.clone(), Duration::from_secs(15)).into_body();
        assert_eq!(next_chunk(&mut body).await.unwrap(), ": connected\n\n");
        let mut ids = Vec::new();
        for _ in 0..3 {
            ids.push(id_of(&next_chunk(&mut body).await.unwrap()).unwrap());
        }
        assert_eq!(ids, [2, 3, 4]);
        write(&log, paid(5)).await;
        assert_eq!(id_of(&next_chunk(&mut body).await.unwrap()), Some(5));
        // Only invoice_paid, after 2.
        let start = StreamStart {
            after: Some(2),
            types: vec![EventKind::InvoicePaid],
        };
        let mut body =
            sse_response(log.clone(), start, stopped, Duration::from_secs(15)).into_body();
        next_chunk(&mut body).await.unwrap();
        assert_eq!(id_of(&next_chunk(&mut body).await.unwrap()), Some(3));
        assert_eq!(id_of(&next_chunk(&mut body).await.unwrap()), Some(5));
        write(&log, failed()).await;
        write(&log, paid(7)).await;
        assert_eq!(id_of(&next_chunk(&mut body).await.unwrap()), Some(7));
    }

    #[tokio::test]
    async fn resuming_before_the_retained_log_says_events_were_pruned() {
        let (log, _stop, stopped) = log_with_publisher().await;
        for n in 1..=5 {
            write(&log, paid(n)).await;
        }
        log.store()
            .write(|tx| {
                tx.execute("DELETE FROM events WHERE id <= 3", [])?;
                Ok(())
            })
            .await
            .unwrap();
        let start = StreamStart {
            after: Some(1),
            types: Vec::new(),
        };
        let mut body = sse_response(log, start, stopped, Duration::from_secs(15)).into_body();
        assert_eq!(next_chunk(&mut body).await.unwrap(), ": connected\n\n");
        assert_eq!(
            next_chunk(&mut body).await.unwrap(),
            ": events 2..3 were pruned; resuming from 4\n\n"
        );
        assert_eq!(id_of(&next_chunk(&mut body).await.unwrap()), Some(4));
        assert_eq!(id_of(&next_chunk(&mut body).await.unwrap()), Some(5));
    }

    #[tokio::test]
    async fn a_client_that_falls_behind_the_live_broadcast_catches_up_from_the_log() {
        let (log, _stop, stopped) = log_with_publisher().await;
        let mut body = sse_response(
            log.clone(),
            StreamStart::default(),
            stopped,
            Duration::from_secs(15),
        )
        .into_body();
        assert_eq!(next_chunk(&mut body).await.unwrap(), ": connected\n\n");
        // More events at once than the live broadcast holds, while the client reads nothing.
        let n = 3000u64;
        let l = log.clone();
        log.store()
            .write(move |tx| {
                for i in 0..n {
                    l.record(tx, &paid(i))?;
                }
                Ok(())
            })
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut ids = Vec::new();
        while ids.len() < n as usize {
            let chunk = next_chunk(&mut body).await.unwrap();
            if let Some(id) = id_of(&chunk) {
                ids.push(id);
            }
        }
        assert_eq!(
            ids,
            (1..=n).collect::<Vec<_>>(),
            "every event once, in order"
        );
    }
}
