//! `GET /websocket`: a `payment_received` message (JSON text) for each invoice paid from the
//! moment the client connects, as phoenixd streams them.

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use tokio::sync::broadcast::error::RecvError;

use super::store as q;
use super::{json, CompatState};
use crate::events::{EventData, EventKind, LoggedEvent};

/// How often the server pings an idle client (phoenixd: 10 s).
const PING_EVERY: std::time::Duration = std::time::Duration::from_secs(10);
/// Events read back from the log at once after the stream fell behind.
const CATCH_UP_PAGE: usize = 1000;

pub(super) async fn websocket(State(s): State<CompatState>, ws: WebSocketUpgrade) -> Response {
    // A browser authenticates by offering the password as a subprotocol; it must be echoed.
    let offered = [s.secrets.full.clone(), s.secrets.limited.clone()];
    ws.protocols(offered)
        .on_upgrade(move |socket| stream(s, socket))
}

/// The `payment_received` message of an event, if it is one.
pub(super) async fn payment_received(
    s: &CompatState,
    e: &LoggedEvent,
) -> Option<(serde_json::Value, Option<String>)> {
    let EventData::InvoicePaid {
        payment_hash,
        amount_msat,
    } = &e.data
    else {
        return None;
    };
    let hash: [u8; 32] = hex::decode(payment_hash).ok()?.try_into().ok()?;
    let meta = s
        .store
        .call(move |c| q::get_meta(c, &hash))
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    let msg = json::payment_received(
        &hash,
        *amount_msat,
        meta.external_id.as_deref(),
        e.created_at.saturating_mul(1000),
    );
    Some((msg, meta.webhook_url))
}

async fn stream(s: CompatState, mut socket: WebSocket) {
    let mut live = s.events.subscribe();
    let mut shutdown = s.shutdown.clone();
    let stopped = async move {
        let _ = shutdown.wait_for(|s| *s).await;
    };
    tokio::pin!(stopped);
    let mut ping = tokio::time::interval(PING_EVERY);
    let mut last_id: Option<u64> = None;
    loop {
        let events: Vec<LoggedEvent> = tokio::select! {
            _ = &mut stopped => break,
            _ = ping.tick() => {
                if socket.send(Message::Ping(Vec::new().into())).await.is_err() {
                    break;
                }
                continue;
            }
            incoming = socket.recv() => match incoming {
                // Anything the client sends is ignored; a close or an error ends the stream.
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => continue,
            },
            e = live.recv() => match e {
                Ok(e) => vec![e],
                // Fell behind the broadcast: what was missed is in the log.
                Err(RecvError::Lagged(_)) => match last_id {
                    Some(id) => s
                        .events
                        .after(id, CATCH_UP_PAGE, vec![EventKind::InvoicePaid])
                        .await
                        .unwrap_or_default(),
                    None => Vec::new(),
                },
                Err(RecvError::Closed) => break,
            },
        };
        for e in events {
            if last_id.is_some_and(|last| e.id <= last) {
                continue;
            }
            last_id = Some(e.id);
            if let Some((msg, _)) = payment_received(&s, &e).await {
                if socket
                    .send(Message::Text(msg.to_string().into()))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
    }
    let _ = socket.send(Message::Close(None)).await;
}
