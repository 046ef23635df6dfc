//! `GET /v1/backup`: a consistent snapshot of the node's database while it runs.
//!
//! The store writes the snapshot (`VACUUM INTO`, one committed state) to a temporary file in
//! the data directory on the blocking pool; the file is streamed back in chunks and removed
//! (at once on Unix, where an open file outlives its name; after the stream elsewhere).

use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

use super::ApiState;
use crate::error::Error;
use crate::store::backup::{database_dir, snapshot};

/// Bytes per chunk of the response.
const CHUNK: usize = 64 * 1024;

pub(super) async fn backup(State(s): State<ApiState>) -> Result<Response, Error> {
    let height = s.wallet.synced_height().await.unwrap_or(0);
    let tmp: PathBuf = s
        .store
        .call(move |c| {
            let dir = database_dir(c)?.ok_or_else(|| {
                crate::store::StoreError::Corrupt("the database has no file to back up".into())
            })?;
            let tmp = dir.join(format!(".backup-{:016x}.sqlite.tmp", rand::random::<u64>()));
            if let Err(e) = snapshot(c, &tmp) {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
            Ok(tmp)
        })
        .await?;
    let opened = async {
        let file = tokio::fs::File::open(&tmp).await?;
        let len = file.metadata().await?.len();
        Ok::<_, std::io::Error>((file, len))
    }
    .await;
    let (file, len) = match opened {
        Ok(f) => f,
        Err(e) => {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(Error::Internal(format!("reading the snapshot: {e}")));
        }
    };
    #[cfg(unix)]
    let tmp = {
        let _ = tokio::fs::remove_file(&tmp).await;
        None
    };
    #[cfg(not(unix))]
    let tmp = Some(tmp);
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(pump_file(file, tx, tmp));
    let name = format!("attachment; filename=\"chanhub-backup-{height}.sqlite\"");
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_DISPOSITION, name),
            (header::CONTENT_LENGTH, len.to_string()),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        Body::new(FileBody(rx)),
    )
        .into_response())
}

/// Reads the snapshot into the response until the end or until the client leaves, then
/// removes the file if it still has a name.
async fn pump_file(
    mut file: tokio::fs::File,
    tx: mpsc::Sender<std::io::Result<Bytes>>,
    tmp: Option<PathBuf>,
) {
    let mut buf = vec![0u8; CHUNK];
    loop {
        let chunk = match file.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => Ok(Bytes::copy_from_slice(&buf[..n])),
            Err(e) => Err(e),
        };
        let failed = chunk.is_err();
        if tx.send(chunk).await.is_err() || failed {
            break;
        }
    }
    drop(file);
    if let Some(tmp) = tmp {
        let _ = tokio::fs::remove_file(tmp).await;
    }
}

/// The response body: the chunks the pump reads (a read error aborts the response).
struct FileBody(mpsc::Receiver<std::io::Result<Bytes>>);

impl HttpBody for FileBody {
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
