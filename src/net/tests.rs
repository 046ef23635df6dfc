//! The peer manager over real loopback sockets, in process, with short timers. Misbehaving
//! peers are driven by hand with the transport and wire types.

use std::sync::Arc;
use std::time::Duration;

use bitcoin::constants::ChainHash;
use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::time::{sleep, timeout, Instant};

use super::*;
use crate::transport::{DecryptStep, Transport};
use crate::wire::{Message, Ping, RawMessage, UpdateFee, WireMessage};

fn key(b: u8) -> SecretKey {
    SecretKey::from_slice(&[b; 32]).unwrap()
}

fn id(b: u8) -> PublicKey {
    key(b).public_key(&Secp256k1::new())
}

fn fast_limits() -> PeerLimits {
    PeerLimits {
        handshake_timeout: Duration::from_secs(5),
        reconnect_min: Duration::from_millis(50),
        reconnect_max: Duration::from_millis(400),
        ..PeerLimits::default()
    }
}

/// A connection event as the handler heard it.
#[derive(Debug, PartialEq)]
enum Link {
    Up(PublicKey, ConnId),
    Down(PublicKey, ConnId),
}

/// Hands every message and connection event to the test.
struct Recorder {
    messages: mpsc::UnboundedSender<(PublicKey, Message)>,
    links: mpsc::UnboundedSender<Link>,
    /// The connection of each message, beside it.
    message_conns: mpsc::UnboundedSender<ConnId>,
    /// While set, credits are kept in `held` (a handler that does not keep up).
    hold: Arc<std::sync::atomic::AtomicBool>,
    held: Arc<std::sync::Mutex<Vec<Credit>>>,
}

impl PeerEventHandler for Recorder {
    fn peer_connected(&self, node_id: PublicKey, conn: ConnId, _init: &crate::wire::Init) {
        let _ = self.links.send(Link::Up(node_id, conn));
    }

    fn message(&self, node_id: PublicKey, conn: ConnId, message: Message, credit: Credit) {
        if self.hold.load(std::sync::atomic::Ordering::SeqCst) {
            self.held.lock().unwrap().push(credit);
        }
        let _ = self.message_conns.send(conn);
        let _ = self.messages.send((node_id, message));
    }

    fn peer_disconnected(&self, node_id: PublicKey, conn: ConnId) {
        let _ = self.links.send(Link::Down(node_id, conn));
    }
}

/// A manager listening on loopback, stopped when dropped.
struct Node {
    peers: PeerManager,
    addr: std::net::SocketAddr,
    stop: watch::Sender<bool>,
    messages: mpsc::UnboundedReceiver<(PublicKey, Message)>,
    links: mpsc::UnboundedReceiver<Link>,
    message_conns: mpsc::UnboundedReceiver<ConnId>,
    hold: Arc<std::sync::atomic::AtomicBool>,
    held: Arc<std::sync::Mutex<Vec<Credit>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Node {
    async fn start(seed: u8, limits: PeerLimits) -> Node {
        Self::start_on(seed, limits, "127.0.0.1:0").await
    }

    async fn start_on(seed: u8, limits: PeerLimits, addr: &str) -> Node {
        Self::start_with(seed, limits, addr, crate::wire::Features::ours()).await
    }

    async fn start_with(
        seed: u8,
        limits: PeerLimits,
        addr: &str,
        features: crate::wire::Features,
    ) -> Node {
        let listener = TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, signal) = watch::channel(false);
        let (tx, messages) = mpsc::unbounded_channel();
        let (links_tx, links) = mpsc::unbounded_channel();
        let (conns_tx, message_conns) = mpsc::unbounded_channel();
        let hold = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let held = Arc::new(std::sync::Mutex::new(Vec::new()));
        let peers = PeerManager::new(
            key(seed),
            ChainHash::REGTEST,
            limits,
            Arc::new(Recorder {
                messages: tx,
                links: links_tx,
                message_conns: conns_tx,
                hold: hold.clone(),
                held: held.clone(),
            }),
            Some(crate::store::Store::open_in_memory().unwrap()),
            signal,
        )
        .with_features(features);
        let p = peers.clone();
        let task = tokio::spawn(async move {
            p.run_listener(listener).await;
            p.wait_stopped().await;
        });
        Node {
            peers,
            addr,
            stop,
            messages,
            links,
            message_conns,
            hold,
            held,
            task,
        }
    }

    async fn stop(self) {
        let _ = self.stop.send(true);
        timeout(Duration::from_secs(5), self.task)
            .await
            .expect("every peer task ends at shutdown")
            .unwrap();
    }

    fn has(&self, node_id: &PublicKey) -> bool {
        self.peers.summary(node_id).is_some()
    }
}

/// Polls `cond` for up to five seconds.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        sleep(Duration::from_millis(10)).await;
    }
}

/// A hand-driven peer: our transport over a raw socket.
struct RawPeer {
    stream: TcpStream,
    transport: Transport,
}

impl RawPeer {
    /// Handshake only.
    async fn handshake(to: &Node, seed: u8) -> RawPeer {
        let mut stream = TcpStream::connect(to.addr).await.unwrap();
        let transport = handshake::initiate(&mut stream, key(seed), to.peers.node_id())
            .await
            .unwrap();
        RawPeer { stream, transport }
    }

    /// Handshake and init exchange on regtest.
    async fn connect(to: &Node, seed: u8) -> RawPeer {
        let mut p = Self::handshake(to, seed).await;
        handshake::exchange_init(&mut p.stream, &mut p.transport, ChainHash::REGTEST)
            .await
            .unwrap();
        p
    }

    async fn send(&mut self, bytes: &[u8]) {
        let frame = self.transport.encryptor.encrypt(bytes).unwrap();
        self.stream.write_all(&frame).await.unwrap();
    }

    /// The next message, or `None` when the node closed the connection.
    async fn recv(&mut self) -> Option<Vec<u8>> {
        let mut buf = [0u8; 4096];
        loop {
            match self.transport.decryptor.next_message().ok()? {
                DecryptStep::Message(m) => return Some(m),
                DecryptStep::NeedMore(_) => {
                    let n = timeout(Duration::from_secs(5), self.stream.read(&mut buf))
                        .await
                        .expect("node answers or closes")
                        .ok()?;
                    if n == 0 {
                        return None;
                    }
                    self.transport.decryptor.push(&buf[..n]);
                }
            }
        }
    }

    /// Reads until the node closes; the messages it sent before.
    async fn until_closed(&mut self) -> Vec<Message> {
        let mut got = Vec::new();
        while let Some(m) = self.recv().await {
            got.push(Message::decode(&m).unwrap());
        }
        got
    }
}

#[tokio::test]
async fn an_lsp_offers_option_supports_lsps_in_init_and_others_do_not() {
    use crate::lsps::lsps0::FEATURE_BIT;
    use crate::wire::Features;
    assert_eq!(Features::ours_lsp(false), Features::ours());
    let a = Node::start(1, fast_limits()).await;
    let lsp = Node::start_with(2, fast_limits(), "127.0.0.1:0", Features::ours_lsp(true)).await;
    let peer = a.peers.connect(id(2), &lsp.addr.to_string()).await.unwrap();
    assert!(peer.features.is_set(FEATURE_BIT), "the LSP's init");
    assert!(
        !peer.features.is_set(FEATURE_BIT - 1),
        "optional, not required"
    );
    eventually("the LSP lists a", || lsp.has(&id(1))).await;
    assert!(!lsp
        .peers
        .summary(&id(1))
        .unwrap()
        .features
        .is_set(FEATURE_BIT));
    a.stop().await;
    lsp.stop().await;
}

#[tokio::test]
async fn two_managers_connect_list_each_other_and_ping() {
    let a = Node::start(1, fast_limits()).await;
    let b = Node::start(2, fast_limits()).await;
    let peer = a.peers.connect(id(2), &b.addr.to_string()).await.unwrap();
    assert_eq!(peer.direction, Direction::Outbound);
    assert!(peer.persistent);
    assert!(peer.features.requires(crate::wire::Feature::PaymentSecret));
    eventually("b lists a", || b.has(&id(1))).await;
    assert_eq!(
        b.peers.summary(&id(1)).unwrap().direction,
        Direction::Inbound
    );
    let rtt = a.peers.ping(id(2), 100).await.unwrap();
    assert!(rtt < Duration::from_secs(5));
    assert_eq!(a.peers.summary(&id(2)).unwrap().pongs_received, 1);
    assert_eq!(b.peers.summary(&id(1)).unwrap().pings_received, 1);
    // The wrong node id at b's address: b cannot read our act one and hangs up.
    assert!(matches!(
        a.peers.connect(id(9), &b.addr.to_string()).await,
        Err(PeerError::Setup(SetupError::HandshakeRefused))
    ));
    assert!(a.peers.summary(&id(9)).is_none());
    // Connecting again is a no-op; connecting to ourselves is refused.
    a.peers.connect(id(2), &b.addr.to_string()).await.unwrap();
    assert!(matches!(
        a.peers.connect(id(1), &a.addr.to_string()).await,
        Err(PeerError::Setup(SetupError::SelfConnect))
    ));
    a.stop().await;
    eventually("b notices", || !b.has(&id(1))).await;
    b.stop().await;
}

#[tokio::test]
async fn messages_reach_the_handler_and_the_peer() {
    let mut node = Node::start(1, fast_limits()).await;
    let mut p = RawPeer::connect(&node, 7).await;
    let fee = UpdateFee {
        channel_id: crate::wire::ChannelId([5; 32]),
        feerate_per_kw: 253,
        extra_tlvs: Default::default(),
    };
    // An unknown odd message is skipped, the channel message after it delivered.
    let odd = RawMessage {
        msg_type: 0x8001,
        payload: vec![1, 2, 3],
    };
    p.send(&odd.encode().unwrap()).await;
    p.send(&fee.encode().unwrap()).await;
    let (from, got) = timeout(Duration::from_secs(5), node.messages.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(from, id(7));
    assert_eq!(got, Message::UpdateFee(fee.clone()));
    // And the other way: the manager sends to the peer.
    node.peers
        .send(id(7), Message::UpdateFee(fee.clone()))
        .await
        .unwrap();
    assert_eq!(
        Message::decode(&p.recv().await.unwrap()).unwrap(),
        Message::UpdateFee(fee)
    );
    node.stop().await;
}

#[tokio::test]
async fn unknown_even_message_ends_only_that_connection_with_a_warning() {
    let node = Node::start(1, fast_limits()).await;
    let mut good = RawPeer::connect(&node, 2).await;
    let mut bad = RawPeer::connect(&node, 3).await;
    eventually("both up", || node.has(&id(2)) && node.has(&id(3))).await;
    bad.send(&[0x80, 0x02, 0xff]).await;
    let said = bad.until_closed().await;
    assert!(
        matches!(said.last(), Some(Message::Warning(w)) if w.0.printable_data().unwrap().contains("32770")),
        "{said:?}"
    );
    eventually("bad dropped", || !node.has(&id(3))).await;
    good.send(&Ping::new(5, 0).encode().unwrap()).await;
    let pong = Message::decode(&good.recv().await.unwrap()).unwrap();
    assert!(matches!(pong, Message::Pong(p) if p.ignored.len() == 5));
    node.stop().await;
}

#[tokio::test]
async fn a_silent_peer_is_dropped_by_the_liveness_check() {
    let limits = PeerLimits {
        ping_interval: Duration::from_millis(100),
        pong_timeout: Duration::from_millis(200),
        ..fast_limits()
    };
    let node = Node::start(1, limits).await;
    let mut p = RawPeer::connect(&node, 2).await;
    eventually("up", || node.has(&id(2))).await;
    let started = Instant::now();
    // We read (so we see its pings) but never answer.
    let said = p.until_closed().await;
    assert!(said.iter().any(|m| matches!(m, Message::Ping(_))));
    assert!(started.elapsed() >= Duration::from_millis(250));
    eventually("dropped", || !node.has(&id(2))).await;
    node.stop().await;
}

#[tokio::test]
async fn a_peer_that_does_not_read_is_dropped_not_buffered() {
    let limits = PeerLimits {
        outgoing_queue: 4,
        queue_full_timeout: Duration::from_millis(300),
        ..fast_limits()
    };
    let node = Node::start(1, limits).await;
    let mut p = RawPeer::connect(&node, 2).await;
    eventually("up", || node.has(&id(2))).await;
    // Each ping asks for a 65531-byte pong; we never read. The node must stop at the limit.
    let ping = Ping::new(65531, 0).encode().unwrap();
    let frame = p.transport.encryptor.encrypt(&ping).unwrap();
    let flood = async {
        for _ in 0..100_000 {
            if p.stream.write_all(&frame).await.is_err() {
                break;
            }
        }
    };
    let _ = timeout(Duration::from_secs(10), flood).await;
    eventually("slow reader dropped", || !node.has(&id(2))).await;
    node.stop().await;
}

#[tokio::test]
async fn sending_to_a_peer_that_does_not_read_never_waits_and_drops_it() {
    // A long queue-full timeout: the sender must not wait for it.
    let limits = PeerLimits {
        outgoing_queue: 4,
        queue_full_timeout: Duration::from_secs(30),
        ..fast_limits()
    };
    let node = Node::start(1, limits).await;
    let _p = RawPeer::connect(&node, 2).await;
    eventually("up", || node.has(&id(2))).await;
    let big = Message::Warning(crate::wire::Warning(crate::wire::Diagnostic::new(
        crate::wire::ChannelId::ALL,
        &"x".repeat(60_000),
    )));
    let started = Instant::now();
    let mut refused = None;
    for _ in 0..10_000 {
        let one = Instant::now();
        let r = node.peers.send(id(2), big.clone()).await;
        assert!(one.elapsed() < Duration::from_millis(500), "a send waited");
        if let Err(e) = r {
            refused = Some(e);
            break;
        }
    }
    assert!(
        matches!(refused, Some(PeerError::SlowReader)),
        "{refused:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    eventually("slow reader dropped", || !node.has(&id(2))).await;
    node.stop().await;
}

#[tokio::test]
async fn a_peer_faster_than_its_handler_is_not_read_past_the_inbound_queue() {
    let limits = PeerLimits {
        inbound_queue: 4,
        ..fast_limits()
    };
    let mut node = Node::start(1, limits).await;
    node.hold.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut p = RawPeer::connect(&node, 2).await;
    eventually("up", || node.has(&id(2))).await;
    let fee = UpdateFee {
        channel_id: crate::wire::ChannelId([5; 32]),
        feerate_per_kw: 253,
        extra_tlvs: Default::default(),
    };
    for _ in 0..50 {
        p.send(&fee.encode().unwrap()).await;
    }
    // The handler holds every credit: exactly four messages get through, the rest wait in
    // the socket.
    for _ in 0..4 {
        timeout(Duration::from_secs(5), node.messages.recv())
            .await
            .unwrap()
            .unwrap();
    }
    sleep(Duration::from_millis(200)).await;
    assert!(node.messages.try_recv().is_err(), "read past the credits");
    assert_eq!(node.held.lock().unwrap().len(), 4);
    // Handled: the rest follow.
    node.hold.store(false, std::sync::atomic::Ordering::SeqCst);
    node.held.lock().unwrap().clear();
    for _ in 4..50 {
        timeout(Duration::from_secs(5), node.messages.recv())
            .await
            .unwrap()
            .unwrap();
    }
    node.stop().await;
}

#[tokio::test]
async fn the_setup_pool_is_bounded_and_freed_by_the_handshake_timeout() {
    let limits = PeerLimits {
        max_pending: 3,
        handshake_timeout: Duration::from_millis(300),
        ..fast_limits()
    };
    let node = Node::start(1, limits).await;
    let mut silent = Vec::new();
    for _ in 0..3 {
        silent.push(TcpStream::connect(node.addr).await.unwrap());
    }
    sleep(Duration::from_millis(50)).await;
    // The pool is full: the next connection is closed at once.
    let mut extra = TcpStream::connect(node.addr).await.unwrap();
    let mut buf = [0u8; 1];
    let n = timeout(Duration::from_millis(200), extra.read(&mut buf))
        .await
        .expect("closed at once, not after the handshake timeout");
    assert!(matches!(n, Ok(0) | Err(_)));
    // The silent ones time out and give their slots back.
    for s in &mut silent {
        let n = timeout(Duration::from_secs(2), s.read(&mut buf))
            .await
            .unwrap();
        assert!(matches!(n, Ok(0) | Err(_)));
    }
    RawPeer::connect(&node, 2).await;
    eventually("good peer up", || node.has(&id(2))).await;
    node.stop().await;
}

#[tokio::test]
async fn the_peer_limit_refuses_newcomers_but_not_a_reconnecting_peer() {
    let limits = PeerLimits {
        max_peers: 1,
        ..fast_limits()
    };
    let node = Node::start(1, limits).await;
    let _first = RawPeer::connect(&node, 2).await;
    eventually("first up", || node.has(&id(2))).await;
    let mut second = RawPeer::connect(&node, 3).await;
    assert!(second.until_closed().await.is_empty());
    assert!(!node.has(&id(3)));
    // The same node id again replaces its older connection.
    let _again = RawPeer::connect(&node, 2).await;
    sleep(Duration::from_millis(100)).await;
    assert!(node.has(&id(2)));
    assert_eq!(node.peers.list().len(), 1);
    node.stop().await;
}

#[tokio::test]
async fn a_second_connection_from_a_node_replaces_the_first() {
    let node = Node::start(1, fast_limits()).await;
    let mut first = RawPeer::connect(&node, 2).await;
    eventually("first up", || node.has(&id(2))).await;
    let first_addr = node.peers.summary(&id(2)).unwrap().addr;
    let mut second = RawPeer::connect(&node, 2).await;
    first.until_closed().await;
    let now = node.peers.summary(&id(2)).unwrap();
    assert_ne!(now.addr, first_addr);
    second.send(&Ping::new(1, 0).encode().unwrap()).await;
    assert!(second.recv().await.is_some());
    node.stop().await;
}

/// What a channel layer needs to reestablish on every connection: a replacing connection is
/// announced with a larger id before anything it delivers, the replaced one ends without a
/// disconnection of its own, and a message meant for it is not sent on its successor.
#[tokio::test]
async fn a_replacing_connection_is_announced_with_a_newer_id() {
    let mut node = Node::start(1, fast_limits()).await;
    let mut first = RawPeer::connect(&node, 2).await;
    let Some(Link::Up(peer, old)) = node.links.recv().await else {
        panic!("the first connection is announced")
    };
    assert_eq!(peer, id(2));
    assert_eq!(node.peers.connection_of(&id(2)), Some(old));
    let mut second = RawPeer::connect(&node, 2).await;
    first.until_closed().await;
    let Some(Link::Up(_, new)) = node.links.recv().await else {
        panic!("the newer connection is announced")
    };
    assert!(new > old, "{new} after {old}");
    assert_eq!(node.peers.connection_of(&id(2)), Some(new));
    // The replaced connection ended silently; it cannot be written to any more.
    sleep(Duration::from_millis(100)).await;
    assert!(node.links.try_recv().is_err());
    let ping = || Message::Ping(Ping::new(4, 0));
    assert!(matches!(
        node.peers.send_on(id(2), old, ping()).await,
        Err(PeerError::NotConnected(_))
    ));
    node.peers.send_on(id(2), new, ping()).await.unwrap();
    let got = second.recv().await.unwrap();
    assert!(matches!(Message::decode(&got), Ok(Message::Ping(_))));
    // Messages on it carry its id; its end is told with the same id.
    let update = UpdateFee {
        channel_id: crate::wire::ChannelId([1; 32]),
        feerate_per_kw: 253,
        extra_tlvs: Default::default(),
    };
    second.send(&update.encode().unwrap()).await;
    let (from, _) = node.messages.recv().await.unwrap();
    assert_eq!(from, id(2));
    assert_eq!(node.message_conns.recv().await, Some(new));
    drop(second);
    assert_eq!(node.links.recv().await, Some(Link::Down(id(2), new)));
    node.stop().await;
}

#[tokio::test]
async fn a_refused_init_gets_a_warning_and_the_connection_closed() {
    let node = Node::start(1, fast_limits()).await;
    let mut p = RawPeer::handshake(&node, 2).await;
    let theirs = p.recv().await.unwrap();
    assert!(matches!(Message::decode(&theirs), Ok(Message::Init(_))));
    let mainnet = session::our_init(ChainHash::BITCOIN);
    p.send(&mainnet.encode().unwrap()).await;
    let said = p.until_closed().await;
    assert!(matches!(said.as_slice(), [Message::Warning(_)]), "{said:?}");
    assert!(!node.has(&id(2)));
    node.stop().await;
}

#[tokio::test]
async fn a_persistent_peer_is_redialled_with_backoff_until_it_returns() {
    let a = Node::start(1, fast_limits()).await;
    let b = Node::start(2, fast_limits()).await;
    let b_addr = b.addr;
    a.peers.connect(id(2), &b_addr.to_string()).await.unwrap();
    b.stop().await;
    eventually("a notices", || !a.has(&id(2))).await;
    // A few failed attempts against the closed port, then b comes back on it.
    sleep(Duration::from_millis(300)).await;
    let b = Node::start_on(2, fast_limits(), &b_addr.to_string()).await;
    eventually("a reconnected", || a.has(&id(2))).await;
    eventually("b lists a", || b.has(&id(1))).await;
    // Forgetting stops it: no redial after an explicit disconnect.
    a.peers.disconnect(id(2)).await.unwrap();
    sleep(Duration::from_millis(500)).await;
    assert!(!a.has(&id(2)));
    assert!(matches!(
        a.peers.disconnect(id(2)).await,
        Err(PeerError::NotConnected(_))
    ));
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn remembered_peers_are_dialled_at_start() {
    let b = Node::start(2, fast_limits()).await;
    let store = crate::store::Store::open_in_memory().unwrap();
    let addr = b.addr.to_string();
    store
        .write_blocking(|tx| crate::store::peers::upsert(tx, &id(2), &addr))
        .unwrap();
    let (stop, signal) = watch::channel(false);
    let a = PeerManager::new(
        key(1),
        ChainHash::REGTEST,
        fast_limits(),
        Arc::new(LogAndDrop),
        Some(store),
        signal,
    );
    assert_eq!(a.restore_persistent().await.unwrap(), 1);
    eventually("redialled", || a.summary(&id(2)).is_some()).await;
    assert!(a.summary(&id(2)).unwrap().persistent);
    let _ = stop.send(true);
    timeout(Duration::from_secs(5), a.wait_stopped())
        .await
        .unwrap();
    b.stop().await;
}
