//! A hand-driven Lightning peer for the node tests: our own transport and wire types over a
//! blocking socket, so a test can behave well or badly on purpose.
#![allow(dead_code)]

pub mod channel_peer;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bitcoin::constants::ChainHash;
use bitcoin::secp256k1::{PublicKey, SecretKey};
use chanhub::transport::{DecryptStep, InitiatorHandshake, Transport, ACT_TWO_LEN};
use chanhub::wire::{Features, Init, Message, WireMessage};
use serde_json::Value;

/// The peer address and node id in a node.json.
pub fn target(json: &Value) -> (String, PublicKey) {
    let addr = json["peer_addr"].as_str().unwrap().to_string();
    let id = json["node_id"].as_str().unwrap().parse().unwrap();
    (addr, id)
}

pub fn secret(seed: u8) -> SecretKey {
    SecretKey::from_slice(&[seed; 32]).unwrap()
}

pub struct RawPeer {
    pub stream: TcpStream,
    pub transport: Transport,
}

impl RawPeer {
    /// TCP and the Noise handshake, no init yet.
    pub fn handshake(addr: &str, node: PublicKey, seed: u8) -> RawPeer {
        Self::handshake_as(addr, node, secret(seed))
    }

    /// [`Self::handshake`] with a given node key (a node's own, to stand in for it).
    pub fn handshake_as(addr: &str, node: PublicKey, key: SecretKey) -> RawPeer {
        Self::handshake_on(TcpStream::connect(addr).unwrap(), node, key)
    }

    /// [`Self::handshake_as`] over a socket the test set up (a small receive buffer, say).
    pub fn handshake_on(mut stream: TcpStream, node: PublicKey, key: SecretKey) -> RawPeer {
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let (hs, act_one) = InitiatorHandshake::new(key, node);
        stream.write_all(&act_one).unwrap();
        let mut act_two = [0u8; ACT_TWO_LEN];
        stream.read_exact(&mut act_two).unwrap();
        let (act_three, transport) = hs.process_act_two(&act_two).unwrap();
        stream.write_all(&act_three).unwrap();
        RawPeer { stream, transport }
    }

    /// Handshake, then `init` both ways on `chain`.
    pub fn connect_on(addr: &str, node: PublicKey, seed: u8, chain: ChainHash) -> RawPeer {
        Self::connect_as(addr, node, secret(seed), chain)
    }

    /// [`Self::connect_on`] with a given node key.
    pub fn connect_as(addr: &str, node: PublicKey, key: SecretKey, chain: ChainHash) -> RawPeer {
        Self::init(Self::handshake_as(addr, node, key), chain)
    }

    /// Sends our `init` and waits for the node's.
    pub fn init(mut p: RawPeer, chain: ChainHash) -> RawPeer {
        p.send_message(&Init::new(Features::ours(), vec![chain]).into());
        match p.recv() {
            Some(Message::Init(_)) => {}
            other => panic!("expected the node's init, got {other:?}"),
        }
        p
    }

    pub fn connect(addr: &str, node: PublicKey, seed: u8) -> RawPeer {
        Self::connect_on(addr, node, seed, ChainHash::REGTEST)
    }

    pub fn send_bytes(&mut self, message: &[u8]) {
        let frame = self.transport.encryptor.encrypt(message).unwrap();
        self.stream.write_all(&frame).unwrap();
    }

    pub fn send_message(&mut self, m: &Message) {
        self.send_bytes(&m.encode().unwrap());
    }

    /// The next message; `None` once the node has closed the connection.
    pub fn recv(&mut self) -> Option<Message> {
        let mut buf = [0u8; 4096];
        loop {
            match self.transport.decryptor.next_message().ok()? {
                DecryptStep::Message(m) => return Some(Message::decode(&m).unwrap()),
                DecryptStep::NeedMore(_) => match self.stream.read(&mut buf) {
                    Ok(0) | Err(_) => return None,
                    Ok(n) => self.transport.decryptor.push(&buf[..n]),
                },
            }
        }
    }

    /// Everything the node says until it closes the connection.
    pub fn until_closed(&mut self) -> Vec<Message> {
        let mut got = Vec::new();
        while let Some(m) = self.recv() {
            got.push(m);
        }
        got
    }

    /// Pings and returns the pong's size (skipping anything else the node sends).
    pub fn ping(&mut self, num_pong_bytes: u16) -> usize {
        self.send_message(&chanhub::wire::Ping::new(num_pong_bytes, 0).into());
        loop {
            match self.recv() {
                Some(Message::Pong(p)) => return p.ignored.len(),
                Some(_) => continue,
                None => panic!("the node closed the connection instead of answering"),
            }
        }
    }
}

/// Whether the node closes a raw socket (EOF or reset) within the read timeout.
pub fn closes(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) => {
                return !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                )
            }
        }
    }
}

/// Whether a message is a BOLT 1 warning.
pub fn is_warning(m: &Message) -> bool {
    matches!(m, Message::Warning(_))
}

/// Encoded message bytes.
pub fn encode<M: WireMessage>(m: &M) -> Vec<u8> {
    m.encode().unwrap()
}

/// Sends one LSPS request (BOLT 8 type 37913) and returns the answer, skipping gossip.
pub fn lsps_ask(p: &mut RawPeer, request: Value) -> Value {
    p.send_bytes(
        &chanhub::wire::RawMessage {
            msg_type: 37913,
            payload: request.to_string().into_bytes(),
        }
        .encode()
        .unwrap(),
    );
    loop {
        match p.recv() {
            Some(Message::Unknown(m)) if m.msg_type == 37913 => {
                return serde_json::from_slice(&m.payload).unwrap()
            }
            Some(_) => continue,
            None => panic!("closed instead of answering"),
        }
    }
}

/// A JSON-RPC 2.0 request over LSPS0, its answer.
pub fn lsps_call(p: &mut RawPeer, method: &str, params: Value) -> Value {
    lsps_ask(
        p,
        serde_json::json!({"jsonrpc": "2.0", "id": "q1", "method": method, "params": params}),
    )
}
