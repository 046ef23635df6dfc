//! One established connection: a read half that decrypts, runs the [`Session`] logic and
//! delivers messages, and a write half that drains the bounded outgoing queue. Both run as two
//! futures inside the peer's one task; whichever ends first ends the connection.
//!
//! Backpressure, outgoing: everything we send goes through the queue of
//! [`PeerLimits::outgoing_queue`] messages. The channel layer never waits on it: when it is
//! full the peer is dropped as a slow reader (see [`super::PeerManager::send`]). Pongs are
//! queued by the read half itself, only while at most [`PONG_ROOM`] messages wait, and it stops
//! reading meanwhile: a peer that pings without reading stops being read, then is dropped.
//!
//! Backpressure, incoming: each delivered message holds one of the connection's
//! [`PeerLimits::inbound_queue`] credits until the channel layer has handled it; with none
//! left, the read half waits and the socket is not read, so TCP slows the peer down.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bitcoin::secp256k1::PublicKey;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot, watch, Semaphore};
use tokio::time::{timeout, Instant};

use super::error::{CloseReason, PeerError};
use super::handler::{ConnId, Credit, PeerEventHandler};
use super::limits::PeerLimits;
use super::session::{encode, Session, Step, Tick};
use crate::transport::{DecryptStep, Decryptor, Encryptor, Transport};
use crate::wire::Message;

/// Socket reads go through a buffer of this size.
const READ_BUF: usize = 16 * 1024;
/// How long a closing connection may take to flush a final warning and what was queued before it.
const LINGER: Duration = Duration::from_secs(1);
/// A pong is queued only while at most this many messages wait for the socket (at most half
/// of a smaller queue): pongs, up to 64 KiB each, never take more than this of the queue.
const PONG_ROOM: usize = 64;

/// What the write half is asked to do.
#[derive(Debug)]
pub enum Outgoing {
    /// Boxed: the queue's slots stay small whatever the message type.
    Message(Box<Message>),
    /// Write what was queued before this, then close.
    Close,
}

/// Requests to the read half, which owns the session state.
#[derive(Debug)]
pub enum Control {
    /// Send a ping and answer with the round-trip time once its pong arrives.
    Ping {
        num_pong_bytes: u16,
        reply: oneshot::Sender<Result<Duration, PeerError>>,
    },
}

/// Counters shown in the API, updated by the connection.
#[derive(Debug, Default)]
pub struct PeerStats {
    pub messages_received: AtomicU64,
    pub messages_sent: AtomicU64,
    pub pings_received: AtomicU64,
    pub pongs_received: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// The queues and signals that connect a connection to its manager.
pub struct Wiring {
    pub out_tx: mpsc::Sender<Outgoing>,
    pub out_rx: mpsc::Receiver<Outgoing>,
    pub ctl_rx: mpsc::Receiver<Control>,
    /// Fired by the manager to end this connection (replaced, disconnected on request).
    pub close_rx: oneshot::Receiver<CloseReason>,
    pub shutdown: watch::Receiver<bool>,
}

/// An established peer, ready to run.
pub struct Connection<S> {
    pub node_id: PublicKey,
    pub conn_id: ConnId,
    pub stream: S,
    pub transport: Transport,
    pub limits: PeerLimits,
    pub handler: Arc<dyn PeerEventHandler>,
    pub stats: Arc<PeerStats>,
}

impl<S: AsyncRead + AsyncWrite + Send + 'static> Connection<S> {
    /// Runs until the connection ends; returns why.
    pub async fn run(self, wiring: Wiring) -> CloseReason {
        let Wiring {
            out_tx,
            mut out_rx,
            mut ctl_rx,
            mut close_rx,
            mut shutdown,
        } = wiring;
        let (mut rd, mut wr) = tokio::io::split(self.stream);
        let (encryptor, mut decryptor) = self.transport.split();
        let reader = Reader {
            node_id: self.node_id,
            conn_id: self.conn_id,
            limits: &self.limits,
            handler: &*self.handler,
            stats: &self.stats,
            out_tx: &out_tx,
            credits: Arc::new(Semaphore::new(self.limits.inbound_queue)),
            session: Session::new(
                self.limits.ping_interval,
                self.limits.pong_timeout,
                Instant::now(),
            ),
            ping_waiter: None,
        }
        .run(
            &mut rd,
            &mut decryptor,
            &mut ctl_rx,
            &mut close_rx,
            &mut shutdown,
        );
        let writer = write_loop(
            &mut wr,
            encryptor,
            &mut out_rx,
            self.limits.queue_full_timeout,
            &self.stats,
        );
        tokio::pin!(reader, writer);
        tokio::select! {
            (reason, linger) = &mut reader => {
                if linger {
                    let _ = timeout(LINGER, &mut writer).await;
                }
                reason
            }
            reason = &mut writer => reason,
        }
    }
}

/// The read half's state.
struct Reader<'a> {
    node_id: PublicKey,
    conn_id: ConnId,
    limits: &'a PeerLimits,
    handler: &'a dyn PeerEventHandler,
    stats: &'a PeerStats,
    out_tx: &'a mpsc::Sender<Outgoing>,
    /// Delivered messages not yet handled take one each (see [`Credit`]).
    credits: Arc<Semaphore>,
    session: Session,
    /// The API caller waiting for the pong of its ping.
    ping_waiter: Option<oneshot::Sender<Result<Duration, PeerError>>>,
}

/// Returned by the read half: why, and whether the writer should get time to flush.
type Ended = (CloseReason, bool);

impl Reader<'_> {
    async fn run<R: AsyncRead + Unpin>(
        mut self,
        rd: &mut R,
        decryptor: &mut Decryptor,
        ctl_rx: &mut mpsc::Receiver<Control>,
        close_rx: &mut oneshot::Receiver<CloseReason>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Ended {
        match self
            .run_loop(rd, decryptor, ctl_rx, close_rx, shutdown)
            .await
        {
            Err(ended) => ended,
            Ok(never) => match never {},
        }
    }

    async fn run_loop<R: AsyncRead + Unpin>(
        &mut self,
        rd: &mut R,
        decryptor: &mut Decryptor,
        ctl_rx: &mut mpsc::Receiver<Control>,
        close_rx: &mut oneshot::Receiver<CloseReason>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<std::convert::Infallible, Ended> {
        let mut buf = vec![0u8; READ_BUF];
        loop {
            self.drain(decryptor, close_rx, shutdown).await?;
            let deadline = self.session.next_deadline();
            tokio::select! {
                biased;
                _ = super::stopped(shutdown) => return Err(self.close(CloseReason::Shutdown)),
                r = &mut *close_rx => {
                    return Err(self.close(r.unwrap_or(CloseReason::Shutdown)));
                }
                _ = tokio::time::sleep_until(deadline) => {
                    match self.session.on_tick(Instant::now()) {
                        Tick::Nothing => {}
                        Tick::SendPing(ping) => self.enqueue(*ping).await?,
                        Tick::Close(kind) => return Err((kind.into(), false)),
                    }
                }
                Some(ctl) = ctl_rx.recv() => match ctl {
                    Control::Ping { num_pong_bytes, reply } => {
                        match self.session.user_ping(num_pong_bytes, Instant::now()) {
                            Some(ping) => {
                                self.ping_waiter = Some(reply);
                                self.enqueue(ping).await?;
                            }
                            None => {
                                let _ = reply.send(Err(PeerError::PingInFlight));
                            }
                        }
                    }
                },
                read = rd.read(&mut buf) => match read {
                    Ok(0) => return Err((CloseReason::PeerClosed, false)),
                    Ok(n) => decryptor.push(&buf[..n]),
                    Err(e) => return Err((CloseReason::Io(e), false)),
                },
            }
        }
    }

    /// Handles every complete message buffered in the decryptor.
    async fn drain(
        &mut self,
        decryptor: &mut Decryptor,
        close_rx: &mut oneshot::Receiver<CloseReason>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<(), Ended> {
        loop {
            let bytes = match decryptor.next_message() {
                Ok(DecryptStep::NeedMore(_)) => return Ok(()),
                Ok(DecryptStep::Message(bytes)) => bytes,
                Err(e) => return Err((CloseReason::Transport(e), false)),
            };
            bump(&self.stats.messages_received);
            if bytes.get(..2) == Some(&[0, 18]) {
                bump(&self.stats.pings_received);
            }
            match self.session.on_message(&bytes, Instant::now()) {
                Step::Nothing => {}
                Step::Reply(m) => self.enqueue_reply(m).await?,
                Step::Deliver(m) => {
                    let credit = self.credit(close_rx, shutdown).await?;
                    self.deliver(m, credit)
                }
                Step::Pong { rtt, requested } => {
                    bump(&self.stats.pongs_received);
                    if requested {
                        if let Some(w) = self.ping_waiter.take() {
                            let _ = w.send(Ok(rtt));
                        }
                    }
                }
                Step::Close(kind, warning) => {
                    if let Some(w) = warning {
                        let _ = self.out_tx.try_send(Outgoing::Message(Box::new(w)));
                    }
                    return Err(self.close(kind.into()));
                }
            }
        }
    }

    /// A delivery credit, waiting (and not reading) while the channel layer holds them all.
    async fn credit(
        &self,
        close_rx: &mut oneshot::Receiver<CloseReason>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<Credit, Ended> {
        if let Ok(p) = self.credits.clone().try_acquire_owned() {
            return Ok(Credit { _slot: Some(p) });
        }
        tracing::debug!(node_id = %self.node_id, "inbound queue full: reading paused");
        tokio::select! {
            biased;
            _ = super::stopped(shutdown) => Err(self.close(CloseReason::Shutdown)),
            r = &mut *close_rx => Err(self.close(r.unwrap_or(CloseReason::Shutdown))),
            p = self.credits.clone().acquire_owned() => Ok(Credit { _slot: p.ok() }),
        }
    }

    fn deliver(&self, m: Message, credit: Credit) {
        match &m {
            Message::Error(crate::wire::ErrorMessage(e))
            | Message::Warning(crate::wire::Warning(e)) => {
                tracing::info!(
                    node_id = %self.node_id,
                    msg_type = m.msg_type(),
                    channel_id = %e.channel_id,
                    text = e.printable_data().unwrap_or("<binary>"),
                    "peer complained"
                );
            }
            _ => {}
        }
        self.handler.message(self.node_id, self.conn_id, m, credit);
    }

    /// Queues a pong once at most [`PONG_ROOM`] messages wait, not reading meanwhile; a peer
    /// that leaves it waiting past the queue-full timeout is a slow reader.
    async fn enqueue_reply(&self, m: Message) -> Result<(), Ended> {
        // Free slots wanted: all but PONG_ROOM (all but half of a small queue).
        let q = self.limits.outgoing_queue;
        let room = q.saturating_sub(PONG_ROOM).max(q / 2).max(1);
        let deadline = Instant::now() + self.limits.queue_full_timeout;
        while self.out_tx.capacity() < room {
            if Instant::now() >= deadline {
                return Err((CloseReason::SlowReader, false));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        self.enqueue(m).await
    }

    /// Queues a message, waiting at most the queue-full timeout (backpressure).
    async fn enqueue(&self, m: Message) -> Result<(), Ended> {
        match self
            .out_tx
            .send_timeout(
                Outgoing::Message(Box::new(m)),
                self.limits.queue_full_timeout,
            )
            .await
        {
            Ok(()) => Ok(()),
            Err(mpsc::error::SendTimeoutError::Timeout(_)) => Err((CloseReason::SlowReader, false)),
            Err(mpsc::error::SendTimeoutError::Closed(_)) => Err((CloseReason::PeerClosed, false)),
        }
    }

    /// Asks the writer to flush and close; it gets [`LINGER`] to do so.
    fn close(&self, reason: CloseReason) -> Ended {
        let _ = self.out_tx.try_send(Outgoing::Close);
        (reason, true)
    }
}

/// Bytes of frames one write carries at most.
const COALESCE_BYTES: usize = 64 * 1024;

/// Writes what the connection queues; what was queued while the last write ran leaves in one
/// write. A channel's messages come in runs (an update and its `commitment_signed`, a
/// revocation and the next commitment): written together, they cost one syscall and reach the
/// peer in one segment, so its reader hands them to its channels together and they are
/// answered after one commit instead of two.
async fn write_loop<W: AsyncWrite + Unpin>(
    wr: &mut W,
    mut encryptor: Encryptor,
    out_rx: &mut mpsc::Receiver<Outgoing>,
    stall: Duration,
    stats: &PeerStats,
) -> CloseReason {
    let mut buf = Vec::new();
    let mut closing = false;
    while !closing {
        let Some(mut item) = out_rx.recv().await else {
            break;
        };
        buf.clear();
        let mut frames = 0;
        loop {
            let Outgoing::Message(m) = item else {
                closing = true;
                break;
            };
            let bytes = encode(&m);
            if !bytes.is_empty() {
                match encryptor.encrypt(&bytes) {
                    Ok(f) => {
                        buf.extend_from_slice(&f);
                        frames += 1;
                    }
                    Err(e) => tracing::error!(error = %e, "cannot encrypt our message"),
                }
            }
            if buf.len() >= COALESCE_BYTES {
                break;
            }
            match out_rx.try_recv() {
                Ok(next) => item = next,
                Err(_) => break,
            }
        }
        if buf.is_empty() {
            continue;
        }
        match timeout(stall, wr.write_all(&buf)).await {
            Err(_) => return CloseReason::SlowReader,
            Ok(Err(e)) => return CloseReason::Io(e),
            Ok(Ok(())) => {
                stats.messages_sent.fetch_add(frames, Ordering::Relaxed);
            }
        }
        // A burst (a peer's gossip sync) must not pin its buffer for the connection's life.
        if buf.capacity() > 16 * 1024 {
            buf = Vec::new();
        }
    }
    let _ = timeout(stall, wr.shutdown()).await;
    CloseReason::Requested
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::Transport;
    use crate::wire::Ping;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    /// Records each write it is given.
    #[derive(Default)]
    struct Writes(Vec<Vec<u8>>);

    impl AsyncWrite for Writes {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            self.0.push(buf.to_vec());
            Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    fn ping(n: u16) -> Outgoing {
        Outgoing::Message(Box::new(Message::Ping(Ping::new(n, 0))))
    }

    #[tokio::test]
    async fn what_is_queued_together_leaves_in_one_write_in_order() {
        let peer = bitcoin::secp256k1::SecretKey::from_slice(&[2; 32])
            .unwrap()
            .public_key(crate::bolt3::secp());
        let (ck, key) = ([1; 32], [9; 32]);
        let (encryptor, _) = Transport::new(ck, key, [0; 32], peer).split();
        let (_, mut decryptor) = Transport::new(ck, [0; 32], key, peer).split();
        let (tx, mut rx) = mpsc::channel(16);
        for n in 1..=3 {
            tx.try_send(ping(n)).unwrap();
        }
        tx.try_send(Outgoing::Close).unwrap();
        // Behind the close: never written.
        tx.try_send(ping(4)).unwrap();
        let (mut w, stats) = (Writes::default(), PeerStats::default());
        let reason = write_loop(&mut w, encryptor, &mut rx, Duration::from_secs(5), &stats).await;
        assert!(matches!(reason, CloseReason::Requested), "{reason:?}");
        assert_eq!(w.0.len(), 1, "one write for the three messages");
        assert_eq!(stats.messages_sent.load(Ordering::Relaxed), 3);
        decryptor.push(&w.0[0]);
        for n in 1..=3 {
            let DecryptStep::Message(bytes) = decryptor.next_message().unwrap() else {
                panic!("message {n} is whole");
            };
            assert_eq!(bytes, encode(&Message::Ping(Ping::new(n, 0))));
        }
        assert_eq!(decryptor.buffered(), 0);
    }

    #[tokio::test]
    async fn a_long_run_is_cut_into_writes_of_bounded_size() {
        let peer = bitcoin::secp256k1::SecretKey::from_slice(&[2; 32])
            .unwrap()
            .public_key(crate::bolt3::secp());
        let (encryptor, _) = Transport::new([1; 32], [9; 32], [0; 32], peer).split();
        let (tx, mut rx) = mpsc::channel(64);
        // 40 pings of about 4 KiB of padding each: 160 KiB in all.
        for _ in 0..40 {
            let p = Message::Ping(Ping::new(0, 4000));
            tx.try_send(Outgoing::Message(Box::new(p))).unwrap();
        }
        drop(tx);
        let (mut w, stats) = (Writes::default(), PeerStats::default());
        write_loop(&mut w, encryptor, &mut rx, Duration::from_secs(5), &stats).await;
        assert_eq!(stats.messages_sent.load(Ordering::Relaxed), 40);
        assert!(w.0.len() >= 3, "{} writes", w.0.len());
        let most = COALESCE_BYTES + 4100;
        assert!(w.0.iter().all(|b| b.len() <= most));
    }
}
