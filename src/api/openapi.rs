//! `GET /openapi.yaml`: the API's description (OpenAPI 3.1), built into the binary. Served
//! without the token: it holds no data of the node's. `integration/openapi.rs` checks it
//! against the running server.

use axum::http::header;
use axum::response::IntoResponse;

/// Where the document is served.
pub const PATH: &str = "/openapi.yaml";

/// The document.
pub const DOCUMENT: &str = include_str!("openapi.yaml");

pub(super) async fn document() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/yaml")], DOCUMENT)
}
