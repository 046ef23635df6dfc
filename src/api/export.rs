//! `GET /v1/export/{kind}?from=&to=&format=csv|json`: the accounting export, streamed.
//!
//! A pump task reads the store one page at a time ([`crate::store::export::page`], a keyset
//! cursor), formats the page and hands it to the response through a channel of two chunks:
//! memory holds about three pages whatever the row count, and a slow client slows the reads
//! instead of piling rows up. Columns and formats: [`super::export_format`] and
//! `channel-spec/export.md`.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use tokio::sync::{mpsc, watch};

use super::export_format::{csv_header, csv_row, json_row, ExportQuery, Format};
use super::extract::PathParam;
use super::ApiState;
use crate::error::Error;
use crate::store::export::{page, Cursor, Kind};
use crate::store::Store;

/// Rows read per page: one short read of the store, one chunk of the response.
pub const PAGE_ROWS: usize = 1000;
/// Formatted pages waiting for the client.
const CHUNKS_IN_FLIGHT: usize = 2;

pub(super) async fn export(
    State(s): State<ApiState>,
    PathParam(kind): PathParam,
    RawQuery(query): RawQuery,
) -> Result<Response, Error> {
    let kind = Kind::parse(&kind).ok_or_else(|| {
        Error::InvalidRequest(format!(
            "no export {kind:?} (payments, invoices, forwards, onchain or events)"
        ))
    })?;
    let q = ExportQuery::parse(query.as_deref())?;
    let rx = stream(
        s.store.clone(),
        kind,
        q,
        PAGE_ROWS,
        Some(s.shutdown.clone()),
    );
    let name = format!(
        "attachment; filename=\"chanhub-{}.{}\"",
        kind.as_str(),
        q.format.extension()
    );
    Ok((
        [
            (header::CONTENT_TYPE, q.format.content_type().to_string()),
            (header::CONTENT_DISPOSITION, name),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        Body::new(ExportBody(rx)),
    )
        .into_response())
}

/// The export of `kind` as a stream of chunks: the header (CSV) then one chunk per page of
/// `page_rows`. A store error ends it with an error (the response is cut short, so a
/// client cannot take a partial export for a whole one); so does the node stopping.
pub fn stream(
    store: Store,
    kind: Kind,
    q: ExportQuery,
    page_rows: usize,
    shutdown: Option<watch::Receiver<bool>>,
) -> mpsc::Receiver<std::io::Result<Bytes>> {
    let (tx, rx) = mpsc::channel(CHUNKS_IN_FLIGHT);
    tokio::spawn(pump(store, kind, q, page_rows.max(1), shutdown, tx));
    rx
}

async fn pump(
    store: Store,
    kind: Kind,
    q: ExportQuery,
    page_rows: usize,
    shutdown: Option<watch::Receiver<bool>>,
    tx: mpsc::Sender<std::io::Result<Bytes>>,
) {
    if q.format == Format::Csv && tx.send(Ok(csv_header(kind).into())).await.is_err() {
        return;
    }
    let now = crate::events::now_secs() as i64;
    let mut after: Option<Cursor> = None;
    loop {
        if shutdown.as_ref().is_some_and(|s| *s.borrow()) {
            let _ = tx
                .send(Err(std::io::Error::other("the node is stopping")))
                .await;
            return;
        }
        let rows = store
            .call(move |c| page(c, kind, q.from, q.to, after, page_rows, now))
            .await;
        let rows = match rows {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, kind = kind.as_str(), "export failed");
                let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                return;
            }
        };
        let last = rows.len() < page_rows;
        after = rows.last().map(|r| r.key).or(after);
        if !rows.is_empty() {
            let mut chunk = String::with_capacity(rows.len() * 256);
            for r in &rows {
                match q.format {
                    Format::Csv => csv_row(kind, &r.cells, &mut chunk),
                    Format::Json => json_row(kind, &r.cells, &mut chunk),
                }
            }
            drop(rows);
            if tx.send(Ok(chunk.into())).await.is_err() {
                return; // the client left
            }
        }
        if last {
            return;
        }
    }
}

/// The response body: the chunks the pump formats.
struct ExportBody(mpsc::Receiver<std::io::Result<Bytes>>);

impl HttpBody for ExportBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, std::io::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|r| r.map(hyper::body::Frame::data)))
    }
}
