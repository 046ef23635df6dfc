//! A phoenixd-compatible HTTP API (`--compat-phoenixd ADDR`, off by default): the small API
//! of ACINQ's phoenixd, which LNbits and BTCPay Server (and shop plugins) take as a
//! "Lightning connection", answered by this node over its own channels. Same paths, form
//! parameters, JSON fields and types, and errors (plain text, phoenixd's words); where
//! chanhub means something else, `channel-spec/compat-phoenixd.md` says what it answers.
//!
//! - `GET /getinfo`, `GET /getbalance`
//! - `POST /createinvoice` (`description` | `descriptionHash`, `amountSat`, `expirySeconds`,
//!   `externalId`, `webhookUrl`)
//! - `POST /payinvoice` (`invoice`, `amountSat`): full-access password only
//! - `GET /payments/incoming/{paymentHash}`, `GET /payments/outgoing/{paymentId}`,
//!   `GET /payments/outgoingbyhash/{paymentHash}`
//! - `GET /payments/incoming`, `GET /payments/outgoing` (`from`, `to`, `limit`, `offset`,
//!   `all`, and `externalId` for incoming)
//! - `GET /websocket`: `payment_received` events
//!
//! Authentication is HTTP Basic with any user name and the password of
//! `DIR/compat-phoenixd-password`, or of `DIR/compat-phoenixd-limited-password` (everything
//! but paying).

mod auth;
mod form;
mod json;
mod routes;
mod store;
mod webhook;
mod ws;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use bitcoin::secp256k1::{PublicKey, SecretKey};
use bitcoin::Network;
use tokio::sync::watch;

pub use auth::{Access, Secrets, LIMITED_PASSWORD_FILE, PASSWORD_FILE, WEBHOOK_SECRET_FILE};
pub use webhook::run as run_webhooks;

use crate::events::EventLog;
use crate::node::channels::Channels;
use crate::node::payer::Payer;
use crate::store::Store;

/// Request bodies larger than this are refused (a form of a few fields).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The handles the handlers use: the node's own (as the main API's).
#[derive(Clone)]
pub struct CompatState {
    pub node_id: PublicKey,
    pub network: Network,
    pub store: Store,
    pub node_key: SecretKey,
    pub channels: Channels,
    pub payer: Payer,
    pub events: EventLog,
    pub secrets: Arc<Secrets>,
    /// Ends the websocket streams when the node stops.
    pub shutdown: watch::Receiver<bool>,
}

/// An answer other than JSON: plain text with phoenixd's status and words.
#[derive(Debug)]
pub enum CompatError {
    Param(form::ParamError),
    BadRequest(String),
    NotFound,
    Unauthorized,
    Internal(String),
}

impl From<form::ParamError> for CompatError {
    fn from(e: form::ParamError) -> Self {
        CompatError::Param(e)
    }
}

impl From<crate::error::Error> for CompatError {
    fn from(e: crate::error::Error) -> Self {
        if e.http_status() < 500 {
            CompatError::BadRequest(e.to_string())
        } else {
            CompatError::Internal(e.to_string())
        }
    }
}

impl From<crate::store::StoreError> for CompatError {
    fn from(e: crate::store::StoreError) -> Self {
        CompatError::Internal(e.to_string())
    }
}

/// phoenixd's answer to a request without a valid password.
pub const UNAUTHORIZED_TEXT: &str =
    "Invalid authentication (use basic auth with the http password set in phoenix.conf)";

impl IntoResponse for CompatError {
    fn into_response(self) -> Response {
        let (status, text) = match self {
            CompatError::Param(e) => (StatusCode::BAD_REQUEST, e.to_string()),
            CompatError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            CompatError::NotFound => (StatusCode::NOT_FOUND, "Not found".into()),
            CompatError::Unauthorized => (StatusCode::UNAUTHORIZED, UNAUTHORIZED_TEXT.into()),
            CompatError::Internal(m) => {
                tracing::warn!(error = %m, "phoenixd-compatible request failed");
                (StatusCode::INTERNAL_SERVER_ERROR, m)
            }
        };
        let mut resp = (
            status,
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; charset=UTF-8",
            )],
            text,
        )
            .into_response();
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Basic realm=\"Ktor Server\", charset=UTF-8"),
            );
        }
        resp
    }
}

/// The paths only the full-access password may use: those that spend.
const FULL_ACCESS_PATHS: &[&str] = &["/payinvoice"];

async fn require_password(State(s): State<CompatState>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let websocket = path == "/websocket";
    match s.secrets.access(req.headers(), websocket) {
        Some(Access::Full) => next.run(req).await,
        Some(Access::Limited) if !FULL_ACCESS_PATHS.contains(&path) => next.run(req).await,
        _ => CompatError::Unauthorized.into_response(),
    }
}

fn text(status: StatusCode, text: &'static str) -> Response {
    (
        status,
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; charset=UTF-8",
        )],
        text,
    )
        .into_response()
}

/// The routes, behind the passwords; unknown paths and methods answered as phoenixd does.
pub fn router(state: CompatState) -> Router {
    Router::new()
        .route("/getinfo", get(routes::getinfo))
        .route("/getbalance", get(routes::getbalance))
        .route("/createinvoice", post(routes::createinvoice))
        .route("/payinvoice", post(routes::payinvoice))
        .route("/payments/incoming", get(routes::list_incoming))
        .route("/payments/incoming/{hash}", get(routes::incoming))
        .route("/payments/outgoing", get(routes::list_outgoing))
        .route("/payments/outgoing/{id}", get(routes::outgoing_by_id))
        .route(
            "/payments/outgoingbyhash/{hash}",
            get(routes::outgoing_by_hash),
        )
        .route("/websocket", get(ws::websocket))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            require_password,
        ))
        .fallback(|| async { text(StatusCode::NOT_FOUND, "Unknown endpoint (check api doc)") })
        .method_not_allowed_fallback(|| async {
            text(
                StatusCode::METHOD_NOT_ALLOWED,
                "Invalid http method (use the correct GET/POST)",
            )
        })
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// Serves the API on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: CompatState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
