//! Two channel machines wired back to back (in the spirit of LDK's functional test utils):
//! per-direction FIFO queues stand in for the TCP connection, and every output is checked
//! against the invariants the protocol must keep.

use std::collections::{HashMap, VecDeque};

use bitcoin::absolute::LockTime;
use bitcoin::constants::ChainHash;
use bitcoin::hashes::{sha256, Hash};
use bitcoin::secp256k1::ecdsa::Signature;
use bitcoin::transaction::Version;
use bitcoin::{
    Amount, Network, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid, Witness,
};

use crate::channel::{
    Channel, ChannelConfig, ChannelState, Command, Event, Format, Input, KeyMaterial, OpenRequest,
    Output, Phase, Refused,
};
use crate::keys::{KeysManager, Seed};
use crate::wire::{ChannelId, Message, ShortChannelId};

pub const FUNDING_SAT: u64 = 1_000_000;

pub fn keys(seed: u8) -> KeyMaterial {
    let km = KeysManager::new(&Seed::from_bytes([seed; 32]), Network::Regtest);
    KeyMaterial::from_channel_keys(&km.channel_keys(0).expect("channel keys"))
}

pub fn shutdown_script(seed: u8) -> ScriptBuf {
    ScriptBuf::new_p2wpkh(&bitcoin::WPubkeyHash::from_byte_array([seed; 20]))
}

pub fn preimage(n: u64) -> [u8; 32] {
    sha256::Hash::hash(&n.to_be_bytes()).to_byte_array()
}

pub fn hash_of(preimage: &[u8; 32]) -> [u8; 32] {
    sha256::Hash::hash(preimage).to_byte_array()
}

/// The alias the node with `seed` gives its peer: distinct per seed, in the alias range.
pub fn alias(seed: u8) -> ShortChannelId {
    ShortChannelId::new(16_000_000 + u32::from(seed), u32::from(seed), 1).expect("in range")
}

pub fn onion() -> Vec<u8> {
    vec![0; crate::wire::types::ONION_PACKET_LEN]
}

/// A funding transaction spending a made-up coin: enough for everything but the chain.
pub fn fake_funding_tx(script_pubkey: ScriptBuf, amount_sat: u64) -> Transaction {
    Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::new(Txid::from_byte_array([9; 32]), 1),
            script_sig: ScriptBuf::new(),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: vec![
            TxOut {
                value: Amount::from_sat(5_000),
                script_pubkey: shutdown_script(0xaa),
            },
            TxOut {
                value: Amount::from_sat(amount_sat),
                script_pubkey,
            },
        ],
    }
}

/// One side: the machine, what it persisted last, what it has sent that is still in flight.
pub struct Node {
    pub seed: u8,
    pub channel: Channel,
    pub persisted: ChannelState,
    /// Messages sent to the peer, not yet delivered (the TCP stream).
    pub outbox: VecDeque<Message>,
    pub events: Vec<Event>,
    pub broadcast: Vec<Transaction>,
    /// Every signature we ever sent per commitment number of the peer's.
    pub signed: HashMap<u64, Signature>,
    /// The persisted snapshot at the moment of each send, to check what had been made durable.
    pub refusals: Vec<Refused>,
    /// `persisted` as the store keeps it: rows rewritten with what each persist changed
    /// ([`crate::store::channel_parts`]); a crash restores from them.
    disk: Disk,
}

/// A channel's `channels.state` row, its parts and its change lists' onions.
#[derive(Default)]
struct Disk {
    base: String,
    parts: Vec<(String, String)>,
    onions: std::collections::BTreeMap<(crate::channel::Origin, u64), Vec<u8>>,
}

impl Disk {
    fn write(&mut self, prev: Option<&ChannelState>, state: &ChannelState) {
        let w = crate::store::channel_parts::changed(prev, state).expect("state serializes");
        if let Some(base) = w.base {
            self.base = base;
        }
        if w.no_commitments {
            self.parts.clear();
        }
        for (name, data) in w.parts {
            match self.parts.iter_mut().find(|(n, _)| n == name) {
                Some(row) => row.1 = data,
                None => self.parts.push((name.to_string(), data)),
            }
        }
        if w.onions_reset || w.no_commitments {
            self.onions.clear();
        }
        for k in w.onions_gone {
            self.onions.remove(&k);
        }
        for (origin, id, onion) in w.onions {
            self.onions.insert((origin, id), onion);
        }
    }

    /// The state read back; the onions live in rows of their own, equal to `onions_from`'s.
    fn read(&self, onions_from: &ChannelState) -> ChannelState {
        let onions: Vec<_> = self
            .onions
            .iter()
            .map(|(&(origin, id), o)| (origin, id, o.clone()))
            .collect();
        let mut s =
            crate::store::channel_parts::join(0, &self.base, &self.parts, &onions).expect("reads");
        if let (Some(c), Some(o)) = (s.commitments.as_mut(), onions_from.commitments.as_ref()) {
            c.received_onions = o.received_onions.clone();
        }
        s
    }
}

impl Node {
    pub fn new(seed: u8, channel: Channel, outputs: Vec<Output>) -> Node {
        let persisted = channel.state().clone();
        let mut disk = Disk::default();
        disk.write(None, &persisted);
        let mut n = Node {
            seed,
            channel,
            persisted,
            disk,
            outbox: VecDeque::new(),
            events: Vec::new(),
            broadcast: Vec::new(),
            signed: HashMap::new(),
            refusals: Vec::new(),
        };
        n.absorb(outputs, usize::MAX);
        n
    }

    /// Execute outputs in order, checking the persistence and signing invariants. Only the
    /// first `limit` are executed (a crash after them).
    pub fn absorb(&mut self, outputs: Vec<Output>, limit: usize) {
        for o in outputs.into_iter().take(limit) {
            match o {
                Output::Persist(s) => {
                    if let Some(c) = &s.commitments {
                        let total = s.setup.funding_sat * 1000;
                        assert_eq!(c.local.spec.total_msat(), total, "value conserved (local)");
                        assert_eq!(
                            c.remote.spec.total_msat(),
                            total,
                            "value conserved (remote)"
                        );
                    }
                    self.disk.write(Some(&self.persisted), &s);
                    self.persisted = ChannelState::clone(&s);
                }
                Output::Send(m) => {
                    self.check_send(&m);
                    self.outbox.push_back(m);
                }
                Output::Broadcast(tx) => self.broadcast.push(tx),
                Output::Event(e) => self.events.push(e),
            }
        }
    }

    fn check_send(&mut self, m: &Message) {
        let c = self.persisted.commitments.as_ref();
        match m {
            Message::CommitmentSigned(cs) => {
                let c = c.expect("commitments persisted before commitment_signed");
                let w = c
                    .remote_waiting
                    .as_ref()
                    .expect("the signed commitment is persisted before it is sent");
                assert_eq!(w.sig, Some(cs.signature), "sending what was persisted");
                let prev = self.signed.insert(w.number, cs.signature);
                assert!(
                    prev.is_none() || prev == Some(cs.signature),
                    "two signatures for commitment {}",
                    w.number
                );
            }
            Message::RevokeAndAck(raa) => {
                let c = c.expect("commitments persisted before revoke_and_ack");
                let keys = keys(self.seed);
                assert!(c.local.number >= 1);
                assert_eq!(
                    keys.secret(c.local.number - 1).unwrap(),
                    raa.per_commitment_secret,
                    "only the secret of a commitment already replaced on disk is released"
                );
            }
            _ => {}
        }
    }

    pub fn handle(&mut self, input: Input) -> Result<(), Refused> {
        self.handle_limited(input, usize::MAX)
    }

    pub fn handle_limited(&mut self, input: Input, limit: usize) -> Result<(), Refused> {
        match self.channel.handle(input) {
            Ok(out) => {
                self.absorb(out, limit);
                Ok(())
            }
            Err(r) => {
                self.absorb(r.outputs.clone(), limit);
                self.refusals.push(r.clone());
                Err(r)
            }
        }
    }

    pub fn command(&mut self, c: Command) -> Result<(), Refused> {
        self.handle(Input::Command(c))
    }

    /// Edits the stored snapshot (as an operator or an older version would have left it),
    /// rewriting every stored part.
    pub fn edit_stored(&mut self, f: impl FnOnce(&mut ChannelState)) {
        f(&mut self.persisted);
        self.disk = Disk::default();
        self.disk.write(None, &self.persisted);
    }

    /// Drop the machine and rebuild it from its last persisted snapshot, as the store's rows
    /// give it back.
    pub fn crash_and_restore(&mut self) {
        let stored = self.disk.read(&self.persisted);
        assert_eq!(
            stored, self.persisted,
            "the stored parts join back to the snapshot"
        );
        let (ch, out) = Channel::restore(stored, keys(self.seed)).expect("restore");
        self.channel = ch;
        self.absorb(out, usize::MAX);
    }

    pub fn received_htlcs(&self) -> Vec<(u64, [u8; 32], u64)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::HtlcReceived { htlc } => {
                    Some((htlc.id, htlc.payment_hash, htlc.amount_msat))
                }
                _ => None,
            })
            .collect()
    }
}

pub struct Pair {
    pub a: Node,
    pub b: Node,
    pub funding_tx: Transaction,
}

pub fn chain_hash() -> ChainHash {
    ChainHash::using_genesis_block(Network::Regtest)
}

pub fn request(format: Format, push_msat: u64) -> OpenRequest {
    OpenRequest {
        chain_hash: chain_hash(),
        temporary_channel_id: [0x11; 32],
        funding_sat: FUNDING_SAT,
        push_msat,
        feerate_per_kw: 1000,
        format,
        shutdown_script: shutdown_script(1),
        announce: false,
        alias: alias(1),
        peer_anysegwit: true,
        scid_alias: false,
        zero_conf: false,
    }
}

/// The policy of the pairs' nodes: the defaults with a dust exposure cap of 5,000,000 msat,
/// small enough for the tests' amounts to reach it.
pub fn config() -> ChannelConfig {
    ChannelConfig {
        max_dust_htlc_exposure_msat: 5_000_000,
        ..ChannelConfig::default()
    }
}

impl Pair {
    /// `a` opens to `b` up to `funding_signed`, with the funding tx `make_funding` builds.
    pub fn fund(
        format: Format,
        push_msat: u64,
        config: ChannelConfig,
        make_funding: &mut dyn FnMut(ScriptBuf, u64) -> (Transaction, u32),
    ) -> Pair {
        Pair::fund_with(format, push_msat, config.clone(), config, make_funding)
    }

    /// [`Pair::fund`] with a policy of its own for each side.
    pub fn fund_with(
        format: Format,
        push_msat: u64,
        config_a: ChannelConfig,
        config: ChannelConfig,
        make_funding: &mut dyn FnMut(ScriptBuf, u64) -> (Transaction, u32),
    ) -> Pair {
        Pair::fund_request(request(format, push_msat), config_a, config, make_funding)
    }

    /// [`Pair::fund_with`] for an open request of the test's own.
    pub fn fund_request(
        req: OpenRequest,
        config_a: ChannelConfig,
        config: ChannelConfig,
        make_funding: &mut dyn FnMut(ScriptBuf, u64) -> (Transaction, u32),
    ) -> Pair {
        let (ch, out) = Channel::open(config_a, keys(1), req).unwrap();
        let mut a = Node::new(1, ch, out);
        let Some(Message::OpenChannel(open)) = a.outbox.pop_front() else {
            panic!("open_channel first")
        };
        let (ch, out) = Channel::accept(
            config,
            keys(2),
            chain_hash(),
            &open,
            shutdown_script(2),
            alias(2),
            true,
        )
        .expect("acceptable");
        let b = Node::new(2, ch, out);
        let mut p = Pair {
            a,
            b,
            funding_tx: fake_funding_tx(ScriptBuf::new(), 0),
        };
        p.deliver_all();
        let (script, amount) =
            p.a.events
                .iter()
                .find_map(|e| match e {
                    Event::NeedFunding {
                        script_pubkey,
                        amount_sat,
                    } => Some((script_pubkey.clone(), *amount_sat)),
                    _ => None,
                })
                .expect("funding requested");
        let (tx, vout) = make_funding(script, amount);
        p.funding_tx = tx.clone();
        p.a.command(Command::FundingTxReady { tx, vout }).unwrap();
        p.deliver_all();
        assert_eq!(
            p.a.broadcast,
            vec![p.funding_tx.clone()],
            "funding broadcast once signed"
        );
        p
    }

    /// A channel in `Normal` state between `a` with `config_a` and `b` with [`config`].
    pub fn open_with(format: Format, push_msat: u64, config_a: ChannelConfig) -> Pair {
        let mut p = Pair::fund_with(format, push_msat, config_a, config(), &mut |s, amt| {
            (fake_funding_tx(s, amt), 1)
        });
        p.confirm(3);
        p
    }

    /// A channel in `Normal` state, funding confirmed at depth 3.
    pub fn open(format: Format, push_msat: u64) -> Pair {
        let mut p = Pair::fund(format, push_msat, config(), &mut |s, amt| {
            (fake_funding_tx(s, amt), 1)
        });
        p.confirm(3);
        p
    }

    pub fn confirm(&mut self, depth: u32) {
        let tx = self.funding_tx.clone();
        for n in [&mut self.a, &mut self.b] {
            n.handle(Input::FundingConfirmed {
                depth,
                tx: tx.clone(),
            })
            .unwrap();
        }
        self.deliver_all();
    }

    fn sides(&mut self, from_a: bool) -> (&mut Node, &mut Node) {
        if from_a {
            (&mut self.a, &mut self.b)
        } else {
            (&mut self.b, &mut self.a)
        }
    }

    /// Deliver the next message in one direction; the receiver's refusal is returned.
    pub fn deliver_one(&mut self, from_a: bool) -> Option<Result<(), Refused>> {
        let (from, to) = self.sides(from_a);
        let m = from.outbox.pop_front()?;
        Some(to.handle(Input::Message(m)))
    }

    /// Deliver everything in both directions until both queues are empty; honest peers never
    /// refuse each other.
    pub fn deliver_all(&mut self) {
        for _ in 0..10_000 {
            let mut moved = false;
            for from_a in [true, false] {
                if let Some(r) = self.deliver_one(from_a) {
                    moved = true;
                    if let Err(e) = r {
                        panic!("honest peer refused: {}", e.error);
                    }
                }
            }
            if !moved {
                return;
            }
        }
        panic!("no quiescence");
    }

    pub fn disconnect(&mut self) {
        self.a.outbox.clear();
        self.b.outbox.clear();
        self.a.handle(Input::Disconnected).unwrap();
        self.b.handle(Input::Disconnected).unwrap();
    }

    pub fn reconnect(&mut self) {
        self.a
            .handle(Input::Reconnected { anysegwit: true })
            .unwrap();
        self.b
            .handle(Input::Reconnected { anysegwit: true })
            .unwrap();
    }

    /// Both sides' current commitments mirror each other and account for the whole capacity.
    pub fn assert_agree(&self) {
        let ca = self.a.channel.state().commitments.as_ref().unwrap();
        let cb = self.b.channel.state().commitments.as_ref().unwrap();
        assert_eq!(ca.local.spec.local_msat, cb.remote.spec.remote_msat);
        assert_eq!(ca.local.spec.remote_msat, cb.remote.spec.local_msat);
        assert_eq!(cb.local.spec.local_msat, ca.remote.spec.remote_msat);
        assert_eq!(ca.local.number, cb.remote.number);
        assert_eq!(cb.local.number, ca.remote.number);
        assert_eq!(ca.local.spec.htlcs.len(), cb.remote.spec.htlcs.len());
        assert_eq!(ca.local.spec.feerate_per_kw, cb.remote.spec.feerate_per_kw);
        let total = ca.local.spec.total_msat();
        assert_eq!(total, FUNDING_SAT * 1000);
    }

    pub fn channel_id(&self) -> ChannelId {
        self.a.channel.channel_id()
    }

    /// `from` pays `amount_msat` to the other side: add, commit, fulfill, commit.
    pub fn pay(&mut self, from_a: bool, amount_msat: u64, n: u64) {
        let pre = preimage(n);
        let (from, _) = self.sides(from_a);
        from.command(Command::AddHtlc {
            amount_msat,
            payment_hash: hash_of(&pre),
            cltv_expiry: 500,
            onion: onion(),
            extra_fee_msat: None,
        })
        .unwrap();
        self.deliver_all();
        let (_, to) = self.sides(from_a);
        let (id, _, _) = *to
            .received_htlcs()
            .iter()
            .find(|(_, h, _)| *h == hash_of(&pre))
            .expect("the HTLC reached the payee");
        to.command(Command::Fulfill { id, preimage: pre }).unwrap();
        self.deliver_all();
    }

    pub fn is_normal(&self) -> bool {
        *self.a.channel.phase() == Phase::Normal && *self.b.channel.phase() == Phase::Normal
    }
}
