//! The tower's listener: one task per client connection, each upload stored (or refused) and
//! acknowledged in order.
//!
//! ```text
//! client --BOLT 8 acts, init--> tower        a wrong tower id or another chain fails here
//! client <-warning, closed----- tower        a client not allowed, or with too many bad blobs
//! client --tower_upload-------> tower        quota checked and blob stored in one write
//! client <-tower_ack----------- tower        stored | quota_exceeded | invalid | unavailable
//! ```
//!
//! What a connection may cost: setup within [`ServerConfig::setup_timeout`], at most
//! [`ServerConfig::max_connections`] at a time (past it a connection is closed at once), one
//! message of at most 65535 bytes buffered, and one store write in flight. A client that sends
//! nothing for [`ServerConfig::idle_timeout`], or does not read our acks for
//! [`ServerConfig::idle_timeout`], gives its slot back.

use std::sync::Arc;
use std::time::Duration;

use bitcoin::constants::ChainHash;
use bitcoin::secp256k1::{PublicKey, SecretKey};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use super::blob::{BLOB_VERSION, OVERHEAD};
use super::clients::Access;
use super::conn::Conn;
use super::store::{self as q, Quota, Stored};
use super::wire::{AckCode, TowerAck, TowerMessage, TowerUpload};
use crate::net::session::{encode, refusal_warning};
use crate::store::Store;
use crate::wire::setup::PONG_SUPPRESS_THRESHOLD;
use crate::wire::{DecodeError, Message, Pong, TlvStream, WireMessage};

/// What the listener needs.
#[derive(Clone)]
pub struct ServerConfig {
    /// The tower's node key: clients name the tower by its public key.
    pub key: SecretKey,
    /// Clients on another chain are refused in `init`.
    pub chain: ChainHash,
    /// Which clients are served at all.
    pub access: Access,
    pub quota: Quota,
    pub max_connections: usize,
    /// From TCP accept to the client's `init`.
    pub setup_timeout: Duration,
    /// Silence from the client (or a write to it that does not drain) that ends a session.
    pub idle_timeout: Duration,
}

impl ServerConfig {
    pub fn new(key: SecretKey, chain: ChainHash, access: Access, quota: Quota) -> Self {
        ServerConfig {
            key,
            chain,
            access,
            quota,
            max_connections: 256,
            setup_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(300),
        }
    }
}

/// Accepts clients until `shutdown` flips, then waits for every session to end.
pub async fn serve(
    listener: TcpListener,
    cfg: ServerConfig,
    store: Store,
    mut shutdown: watch::Receiver<bool>,
) {
    let cfg = Arc::new(cfg);
    let slots = Arc::new(Semaphore::new(cfg.max_connections));
    let mut sessions = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = crate::net::stopped(&mut shutdown) => break,
            a = listener.accept() => a,
            // Reap finished sessions so the set does not grow.
            Some(_) = sessions.join_next(), if !sessions.is_empty() => continue,
        };
        let (stream, from) = match accepted {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "tower: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tracing::warn!(%from, limit = cfg.max_connections, "tower: too many connections; closed");
            continue;
        };
        let (cfg, store, shutdown) = (cfg.clone(), store.clone(), shutdown.clone());
        sessions.spawn(async move {
            let _permit = permit;
            stream.set_nodelay(true).ok();
            session(stream, &cfg, &store, shutdown).await;
        });
    }
    while sessions.join_next().await.is_some() {}
}

/// One client, from the handshake to the end of the connection.
pub async fn session<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    cfg: &ServerConfig,
    store: &Store,
    mut shutdown: watch::Receiver<bool>,
) {
    let setup = tokio::time::timeout(cfg.setup_timeout, Conn::accept(stream, cfg.key, cfg.chain));
    let mut conn = match setup.await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            // A client that does not know our key, or speaks something else.
            tracing::info!(error = %e, "tower: connection refused in setup");
            return;
        }
        Err(_) => {
            tracing::info!("tower: connection gave no init in time");
            return;
        }
    };
    let client = conn.remote;
    if !cfg.access.allows(&client) {
        tracing::warn!(%client, "tower: client not authorized; refused");
        let why = format!(
            "this tower does not serve node {client}: \
             it is not on the tower's list of authorized clients"
        );
        return refuse(conn, &why).await;
    }
    let max_bad = cfg.quota.max_bad_blobs_per_client;
    match store.call(move |c| q::bad_blobs(c, &client)).await {
        Ok(bad) if bad >= max_bad => {
            tracing::warn!(%client, bad, "tower: client with too many bad blobs; refused");
            return refuse(conn, &banned(client, bad)).await;
        }
        Ok(_) => {}
        Err(e) => {
            tracing::error!(%client, error = %e, "tower: cannot read the client's record");
            return refuse(conn, "the tower cannot serve you right now").await;
        }
    }
    tracing::info!(%client, "tower: client connected");
    loop {
        let bytes = tokio::select! {
            _ = crate::net::stopped(&mut shutdown) => break,
            r = tokio::time::timeout(cfg.idle_timeout, conn.recv()) => match r {
                Ok(Ok(b)) => b,
                Ok(Err(e)) => {
                    tracing::info!(%client, reason = %e, "tower: client disconnected");
                    return;
                }
                Err(_) => {
                    tracing::info!(%client, "tower: client idle; closing");
                    break;
                }
            },
        };
        let reply = match TowerMessage::decode(&bytes) {
            Ok(TowerMessage::Upload(u)) => match upload(store, client, u, cfg.quota).await {
                Answer::Ack(a) => Some(a.encode()),
                Answer::Refuse(why) => return refuse(conn, &why).await,
            },
            Ok(TowerMessage::Other(m)) => match *m {
                Message::Ping(p) => (p.num_pong_bytes < PONG_SUPPRESS_THRESHOLD).then(|| {
                    Pong {
                        ignored: vec![0; usize::from(p.num_pong_bytes)],
                        extra_tlvs: TlvStream::new(),
                    }
                    .encode()
                }),
                Message::Warning(w) => {
                    tracing::info!(%client, text = w.0.printable_data().unwrap_or("<binary>"),
                        "tower: client warned");
                    None
                }
                // Pongs, unknown odd types: nothing to do.
                _ => None,
            },
            // Acks are ours to send.
            Ok(TowerMessage::Ack(_)) => None,
            Err(e) => {
                tracing::info!(%client, error = %e, "tower: malformed message; closing");
                let why = match e {
                    DecodeError::UnknownEvenMessage(t) => format!("unknown even message type {t}"),
                    e => format!("malformed message: {e}"),
                };
                let _ = conn.send(&encode(&refusal_warning(&why))).await;
                conn.close().await;
                return;
            }
        };
        let Some(reply) = reply else { continue };
        match reply {
            Ok(bytes) => match tokio::time::timeout(cfg.idle_timeout, conn.send(&bytes)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::info!(%client, error = %e, "tower: client gone");
                    return;
                }
                Err(_) => {
                    tracing::info!(%client, "tower: client does not read; closing");
                    return;
                }
            },
            Err(e) => tracing::error!(error = %e, "tower: cannot encode our answer"),
        }
    }
    conn.close().await;
}

/// How long a refused client's bytes are read and dropped after our warning, so that closing
/// with its unread uploads does not reset the connection before it reads why.
const REFUSAL_LINGER: Duration = Duration::from_secs(1);

/// Tells the client why it is not served, and closes.
async fn refuse<S: AsyncRead + AsyncWrite + Unpin>(mut conn: Conn<S>, why: &str) {
    let warning = encode(&refusal_warning(why));
    let sent = tokio::time::timeout(REFUSAL_LINGER, conn.send(&warning)).await;
    if matches!(sent, Ok(Ok(()))) {
        conn.close_after_draining(REFUSAL_LINGER).await;
    }
}

fn banned(client: PublicKey, bad: u64) -> String {
    format!(
        "this tower no longer serves node {client}: \
         {bad} of its blobs held nothing that spends the transaction they matched"
    )
}

/// What the session answers an upload with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Ack(TowerAck),
    /// The client is not served any more: a warning with this text, and the door.
    Refuse(String),
}

/// Stores one upload within the client's quota; the answer says what happened.
pub async fn upload(store: &Store, client: PublicKey, u: TowerUpload, quota: Quota) -> Answer {
    let hint = u.hint;
    let ack = |code, remaining, message: Option<String>| {
        Answer::Ack(TowerAck {
            hint,
            code,
            remaining,
            message,
            extra_tlvs: TlvStream::new(),
        })
    };
    if u.blob.len() < OVERHEAD || u.blob.first() != Some(&BLOB_VERSION) {
        return ack(
            AckCode::Invalid,
            None,
            Some(format!(
                "not a version {BLOB_VERSION} blob of at least {OVERHEAD} bytes"
            )),
        );
    }
    let stored = store
        .write(move |tx| q::store_blob(tx, &client, &u.hint, &u.blob, quota))
        .await;
    match stored {
        Ok(Stored::Kept { remaining }) => {
            tracing::debug!(%client, %hint, remaining, "tower: blob stored");
            ack(AckCode::Stored, Some(remaining), None)
        }
        Ok(Stored::ClientFull { max }) => {
            tracing::warn!(%client, max, "tower: client over its quota; upload refused");
            ack(
                AckCode::QuotaExceeded,
                Some(0),
                Some(format!(
                    "this tower keeps at most {max} blobs per client and you hold {max}"
                )),
            )
        }
        Ok(Stored::ClientBytesFull { max, held, size }) => {
            tracing::warn!(%client, max, held, size,
                "tower: client over its byte quota; upload refused");
            ack(
                AckCode::QuotaExceeded,
                Some(0),
                Some(format!(
                    "this tower keeps at most {max} bytes of blobs per client; \
                     you hold {held} and this blob is {size}"
                )),
            )
        }
        Ok(Stored::Banned { bad }) => {
            tracing::warn!(%client, bad, "tower: client with too many bad blobs; refused");
            Answer::Refuse(banned(client, bad))
        }
        Ok(Stored::TooManyClients { max }) => {
            tracing::warn!(%client, max, "tower: too many clients; upload refused");
            ack(
                AckCode::QuotaExceeded,
                Some(0),
                Some(format!("this tower serves at most {max} clients")),
            )
        }
        Err(e) => {
            tracing::error!(%client, error = %e, "tower: cannot store a blob");
            ack(
                AckCode::Unavailable,
                None,
                Some("the tower cannot store blobs right now".into()),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tower::blob::Hint;
    use bitcoin::secp256k1::Secp256k1;

    fn key(b: u8) -> SecretKey {
        SecretKey::from_slice(&[b; 32]).unwrap()
    }

    fn blob() -> Vec<u8> {
        let mut b = vec![BLOB_VERSION];
        b.resize(OVERHEAD + 32, 7);
        b
    }

    async fn ack_of(conn: &mut Conn<tokio::io::DuplexStream>) -> TowerAck {
        match TowerMessage::decode(&conn.recv().await.unwrap()).unwrap() {
            TowerMessage::Ack(a) => a,
            other => panic!("{other:?}"),
        }
    }

    type Pair = (
        Conn<tokio::io::DuplexStream>,
        Store,
        tokio::task::JoinHandle<()>,
        watch::Sender<bool>,
    );

    /// A tower session on one end of a pipe, a client on the other.
    async fn pair(quota: Quota) -> Pair {
        let store = Store::open_in_memory_with_schema(q::MIGRATIONS).unwrap();
        pair_with(store, Access::Public, quota, 1).await
    }

    /// The same, on `store`, with `access`, the client's key made of `client`.
    async fn pair_with(store: Store, access: Access, quota: Quota, client: u8) -> Pair {
        let (a, b) = tokio::io::duplex(1 << 17);
        let cfg = ServerConfig::new(key(9), ChainHash::REGTEST, access, quota);
        let (stop, shutdown) = watch::channel(false);
        let s = store.clone();
        let server = tokio::spawn(async move { session(b, &cfg, &s, shutdown).await });
        let tower = key(9).public_key(&Secp256k1::new());
        let mut a = a;
        let mut t = crate::net::handshake::initiate(&mut a, key(client), tower)
            .await
            .unwrap();
        crate::net::handshake::exchange_init(&mut a, &mut t, ChainHash::REGTEST)
            .await
            .unwrap();
        let conn = Conn::new(a, t);
        (conn, store, server, stop)
    }

    #[tokio::test]
    async fn uploads_are_acknowledged_in_order_until_the_quota_is_full() {
        let quota = Quota {
            max_blobs_per_client: 2,
            max_clients: 5,
            ..Quota::default()
        };
        let (mut c, store, server, stop) = pair(quota).await;
        for i in 1..=3u8 {
            let up = TowerUpload::new(Hint([i; 16]), blob());
            c.send(&up.encode().unwrap()).await.unwrap();
        }
        let acks = [
            ack_of(&mut c).await,
            ack_of(&mut c).await,
            ack_of(&mut c).await,
        ];
        assert_eq!(acks[0].hint, Hint([1; 16]));
        assert_eq!(
            (acks[0].code, acks[0].remaining),
            (AckCode::Stored, Some(1))
        );
        assert_eq!(
            (acks[1].code, acks[1].remaining),
            (AckCode::Stored, Some(0))
        );
        assert_eq!(acks[2].hint, Hint([3; 16]));
        assert_eq!(acks[2].code, AckCode::QuotaExceeded);
        assert!(
            acks[2]
                .message
                .as_deref()
                .unwrap()
                .contains("at most 2 blobs"),
            "{:?}",
            acks[2].message
        );
        let client = key(1).public_key(&Secp256k1::new());
        let n = store
            .call(move |c| q::blob_count(c, &client))
            .await
            .unwrap();
        assert_eq!(n, 2, "the refused blob was not stored");
        // A blob that cannot be ours is refused without touching the quota.
        let bad = TowerUpload::new(Hint([4; 16]), vec![2; OVERHEAD + 1]);
        c.send(&bad.encode().unwrap()).await.unwrap();
        assert_eq!(ack_of(&mut c).await.code, AckCode::Invalid);
        // A ping is answered; the session is still there.
        c.send(&crate::wire::Ping::new(3, 0).encode().unwrap())
            .await
            .unwrap();
        assert_eq!(
            TowerMessage::decode(&c.recv().await.unwrap()).unwrap(),
            TowerMessage::Other(Box::new(Message::Pong(Pong {
                ignored: vec![0; 3],
                extra_tlvs: TlvStream::new()
            })))
        );
        stop.send(true).unwrap();
        server.await.unwrap();
    }

    /// The text of the warning `c` receives, and that the tower closed after it; then hangs up.
    async fn refusal(mut c: Conn<tokio::io::DuplexStream>) -> String {
        let text = match TowerMessage::decode(&c.recv().await.unwrap()).unwrap() {
            TowerMessage::Other(m) => match *m {
                Message::Warning(w) => w.0.printable_data().unwrap().to_string(),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        };
        assert!(matches!(
            c.recv().await,
            Err(super::super::conn::ConnError::Closed)
        ));
        text
    }

    #[tokio::test]
    async fn only_listed_clients_are_served() {
        let store = Store::open_in_memory_with_schema(q::MIGRATIONS).unwrap();
        let listed = Access::Listed([key(1).public_key(&Secp256k1::new())].into());
        let q = Quota::default();
        let (mut c, _, server, _stop) = pair_with(store.clone(), listed.clone(), q, 2).await;
        // Its uploads, sent before it reads, are not stored.
        let up = TowerUpload::new(Hint([1; 16]), blob());
        c.send(&up.encode().unwrap()).await.unwrap();
        let text = refusal(c).await;
        assert!(
            text.contains("not on the tower's list of authorized clients"),
            "{text}"
        );
        server.await.unwrap();
        let stranger = key(2).public_key(&Secp256k1::new());
        assert!(!store.call(move |c| q::knows(c, &stranger)).await.unwrap());

        let (mut c, _, server, stop) = pair_with(store.clone(), listed, q, 1).await;
        c.send(&up.encode().unwrap()).await.unwrap();
        assert_eq!(ack_of(&mut c).await.code, AckCode::Stored);
        stop.send(true).unwrap();
        server.await.unwrap();

        let empty = Access::Listed(Default::default());
        let (c, _, server, _stop) = pair_with(store, empty, q, 1).await;
        assert!(refusal(c).await.contains("not on the tower's list"));
        server.await.unwrap();
    }

    #[tokio::test]
    async fn a_client_with_too_many_bad_blobs_is_refused() {
        let store = Store::open_in_memory_with_schema(q::MIGRATIONS).unwrap();
        let quota = Quota {
            max_bad_blobs_per_client: 2,
            ..Quota::default()
        };
        let (mut c, _, server, _stop) = pair_with(store.clone(), Access::Public, quota, 1).await;
        for i in 1..=3u8 {
            let up = TowerUpload::new(Hint([i; 16]), blob());
            c.send(&up.encode().unwrap()).await.unwrap();
            assert_eq!(ack_of(&mut c).await.code, AckCode::Stored);
        }
        // Two of its blobs turn out bad while it is connected: its next upload ends it.
        let client = key(1).public_key(&Secp256k1::new());
        store
            .write(move |c| {
                q::drop_bad_blob(c, &client, &Hint([1; 16]))?;
                q::drop_bad_blob(c, &client, &Hint([2; 16]))
            })
            .await
            .unwrap();
        let up = TowerUpload::new(Hint([4; 16]), blob());
        c.send(&up.encode().unwrap()).await.unwrap();
        let text = refusal(c).await;
        assert!(text.contains("no longer serves"), "{text}");
        assert!(text.contains("2 of its blobs"), "{text}");
        server.await.unwrap();
        assert_eq!(
            store
                .call(move |c| q::blob_count(c, &client))
                .await
                .unwrap(),
            1
        );
        // And it is refused at once when it comes back.
        let (c, _, server, _stop) = pair_with(store.clone(), Access::Public, quota, 1).await;
        assert!(refusal(c).await.contains("no longer serves"));
        server.await.unwrap();
        // Another client is not affected.
        let (mut c, _, server, stop) = pair_with(store, Access::Public, quota, 2).await;
        c.send(&up.encode().unwrap()).await.unwrap();
        assert_eq!(ack_of(&mut c).await.code, AckCode::Stored);
        stop.send(true).unwrap();
        server.await.unwrap();
    }

    #[tokio::test]
    async fn an_unknown_even_message_gets_a_warning_and_the_door() {
        let (mut c, _store, server, _stop) = pair(Quota::default()).await;
        c.send(&[0x02, 0x5c, 1, 2, 3]).await.unwrap();
        match TowerMessage::decode(&c.recv().await.unwrap()).unwrap() {
            TowerMessage::Other(m) => match *m {
                Message::Warning(w) => assert!(w.0.printable_data().unwrap().contains("604")),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            c.recv().await,
            Err(super::super::conn::ConnError::Closed)
        ));
        server.await.unwrap();
    }

    #[tokio::test]
    async fn a_client_naming_another_tower_is_refused_in_the_handshake() {
        let store = Store::open_in_memory_with_schema(q::MIGRATIONS).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (stop, shutdown) = watch::channel(false);
        let cfg = ServerConfig::new(key(9), ChainHash::REGTEST, Access::Public, Quota::default());
        let server = tokio::spawn(serve(listener, cfg, store.clone(), shutdown));
        let wrong = key(8).public_key(&Secp256k1::new());
        let r = Conn::connect(
            &addr,
            key(1),
            wrong,
            ChainHash::REGTEST,
            Duration::from_secs(5),
        )
        .await;
        assert!(
            r.is_err(),
            "a client that does not know the tower's key gets nowhere"
        );
        let right = key(9).public_key(&Secp256k1::new());
        let c = Conn::connect(
            &addr,
            key(1),
            right,
            ChainHash::REGTEST,
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        assert_eq!(c.remote, right);
        stop.send(true).unwrap();
        server.await.unwrap();
    }
}
