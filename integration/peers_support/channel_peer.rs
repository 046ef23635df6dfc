//! A raw peer holding a real channel with a node: our own pure channel state machine driven
//! over a [`RawPeer`] socket, so a test can make it break the node's policies on purpose
//! (its own checks are whatever [`ChannelConfig`] it is given).

use std::path::Path;
use std::process::{Child, Command as Process, Stdio};

use bitcoin::constants::ChainHash;
use bitcoin::hashes::Hash;
use bitcoin::{ScriptBuf, Transaction, WPubkeyHash};
use chanhub::channel::{Channel, ChannelConfig, Command, Input, KeyMaterial, Output, Phase};
use chanhub::keys::{KeysManager, Seed};
use chanhub::wire::Message;
use serde_json::{json, Value};

use super::RawPeer;

pub struct ChannelPeer {
    pub raw: RawPeer,
    pub channel: Channel,
    /// Every message the node sent since the peer last looked (those the channel took too).
    pub received: Vec<Message>,
}

fn keys(seed: u8) -> KeyMaterial {
    let km = KeysManager::new(&Seed::from_bytes([seed; 32]), bitcoin::Network::Regtest);
    KeyMaterial::from_channel_keys(&km.channel_keys(0).unwrap())
}

/// A transaction of the chain whose RPC address and cookie are in `node_json`.
pub fn raw_tx(node_json: &Value, txid: &str) -> Transaction {
    use bitcoincore_rpc::{Auth, Client, RpcApi};
    let url = format!("http://{}", node_json["chain_rpc_addr"].as_str().unwrap());
    let cookie = node_json["chain_rpc_cookie"].as_str().unwrap();
    let c = Client::new(&url, Auth::CookieFile(cookie.into())).unwrap();
    let hex: Value = c.call("getrawtransaction", &[json!(txid)]).unwrap();
    bitcoin::consensus::encode::deserialize_hex(hex.as_str().unwrap()).unwrap()
}

impl ChannelPeer {
    /// `raw` (connected, `init` done) waits for the node's `open_channel` (the caller has it
    /// sent, e.g. by `open`) and accepts it with `config`, up to `funding_signed`.
    pub fn accept(mut raw: RawPeer, config: ChannelConfig, seed: u8) -> ChannelPeer {
        let open = loop {
            match raw.recv() {
                Some(Message::OpenChannel(o)) => break o,
                Some(m) => answer_ping(&mut raw, &m),
                None => panic!("the node hung up before open_channel"),
            }
        };
        let script = ScriptBuf::new_p2wpkh(&WPubkeyHash::from_byte_array([seed; 20]));
        let alias = chanhub::channel::random_alias();
        let (channel, out) = Channel::accept(
            config,
            keys(seed),
            ChainHash::REGTEST,
            &open,
            script,
            alias,
            true,
        )
        .unwrap_or_else(|r| panic!("open refused: {}", r.error));
        let mut p = ChannelPeer {
            raw,
            channel,
            received: Vec::new(),
        };
        p.execute(out);
        p.pump_until("funding_signed", |c| c.state().commitments.is_some());
        p
    }

    /// Sends what `out` says to send.
    pub fn execute(&mut self, out: Vec<Output>) {
        for o in out {
            if let Output::Send(m) = o {
                self.raw.send_message(&m);
            }
        }
    }

    /// Feeds `input` to the channel and sends what it says; a refusal panics.
    pub fn handle(&mut self, input: Input) {
        match self.channel.handle(input) {
            Ok(out) => self.execute(out),
            Err(r) => panic!("the peer's channel refused: {}", r.error),
        }
    }

    pub fn command(&mut self, c: Command) {
        self.handle(Input::Command(c));
    }

    /// Reads one message of the node's into the channel.
    pub fn pump_one(&mut self, what: &str) {
        let m = self
            .raw
            .recv()
            .unwrap_or_else(|| panic!("the node hung up waiting for {what}"));
        answer_ping(&mut self.raw, &m);
        self.received.push(m.clone());
        match self.channel.handle(Input::Message(m)) {
            Ok(out) => self.execute(out),
            Err(r) => panic!(
                "the node's message was refused waiting for {what}: {}",
                r.error
            ),
        }
    }

    /// Reads the node's messages into the channel until `done` holds of it.
    pub fn pump_until(&mut self, what: &str, done: impl Fn(&Channel) -> bool) {
        while !done(&self.channel) {
            self.pump_one(what);
        }
    }

    /// Reads until `done` holds of the messages received so far.
    pub fn pump_until_seen(&mut self, what: &str, done: impl Fn(&[Message]) -> bool) {
        while !done(&self.received) {
            self.pump_one(what);
        }
    }

    /// Confirms the funding (`depth` blocks, mined by the caller) to both sides and waits
    /// for the node's `channel_ready`.
    pub fn confirm(&mut self, funding: Transaction, depth: u32) {
        self.handle(Input::FundingConfirmed { depth, tx: funding });
        self.pump_until("channel_ready", |c| *c.phase() == Phase::Normal);
    }
}

fn answer_ping(raw: &mut RawPeer, m: &Message) {
    if let Message::Ping(p) = m {
        if let Some(pong) = p.response() {
            raw.send_message(&Message::Pong(pong));
        }
    }
}

/// `chanhub open NODE_ID CAPACITY --push-msat PUSH` of the node in `dir`, running until the
/// peer has signed the funding.
pub fn open_in_background(dir: &Path, peer_id: &str, capacity_sat: u64, push_msat: u64) -> Child {
    Process::new(env!("CARGO_BIN_EXE_chanhub"))
        .args(["--datadir", dir.to_str().unwrap(), "open", peer_id])
        .args([
            capacity_sat.to_string(),
            "--push-msat".into(),
            push_msat.to_string(),
        ])
        .arg("--json")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}
