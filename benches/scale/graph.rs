//! Measurement 3: the network graph. N nodes and K channels are generated (announcements with
//! four real signatures, both directions' updates, every node's announcement) and written to
//! a store as the validator's changes; then the store is reopened and the graph loaded, timed,
//! and its heap measured with a counting allocator (live bytes before and after the load).

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::Path;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Instant;

use bitcoin::constants::ChainHash;
use bitcoin::hashes::Hash;
use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use serde_json::{json, Value};

use chanhub::gossip::validate::GraphChange;
use chanhub::store::{graph, Store, DB_FILE};
use chanhub::wire::channel_update::MESSAGE_FLAG_MUST_BE_ONE;
use chanhub::wire::gossip::{alias_bytes, encode_addresses, sign_gossip};
use chanhub::wire::{
    ChannelAnnouncement, ChannelUpdate, Features, NetAddress, NodeAnnouncement, ShortChannelId,
    UnsignedChannelAnnouncement, UnsignedChannelUpdate, UnsignedNodeAnnouncement, WireMessage,
};

/// Counts live heap bytes, so the graph's cost is measured exactly rather than through RSS
/// (which keeps what the generator freed).
pub struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);
/// The most `LIVE` reached since [`reset_peak`].
static PEAK: AtomicIsize = AtomicIsize::new(0);

fn grew(by: isize) {
    let now = LIVE.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

/// Live heap bytes now.
pub fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// Starts a new peak from the live bytes now.
pub fn reset_peak() {
    PEAK.store(live(), Ordering::Relaxed);
}

/// The most live heap bytes since [`reset_peak`].
pub fn peak() -> isize {
    PEAK.load(Ordering::Relaxed)
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        grew(l.size() as isize);
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        System.dealloc(p, l)
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        grew(l.size() as isize);
        System.alloc_zeroed(l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        grew(new as isize - l.size() as isize);
        System.realloc(p, l, new)
    }
}

pub struct Params {
    pub nodes: usize,
    pub channels: usize,
}

const CHAIN: ChainHash = ChainHash::REGTEST;
pub const NOW: u32 = 1_700_000_000;
const CAPACITY_SAT: u64 = 2_000_000;
/// Changes per write transaction.
const BATCH: usize = 20_000;

fn secret(i: u64) -> SecretKey {
    let mut b = [7u8; 32];
    b[24..].copy_from_slice(&(i + 1).to_be_bytes());
    SecretKey::from_slice(&b).expect("a valid key")
}

/// A small deterministic generator (xorshift), so every run builds the same graph.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

pub fn generate(p: &Params) -> Vec<GraphChange> {
    let secp = Secp256k1::new();
    let node_keys: Vec<SecretKey> = (0..p.nodes as u64).map(secret).collect();
    let funding_keys: Vec<SecretKey> = (0..p.nodes as u64).map(|i| secret(1_000_000 + i)).collect();
    let node_ids: Vec<PublicKey> = node_keys.iter().map(|k| k.public_key(&secp)).collect();
    let funding_ids: Vec<PublicKey> = funding_keys.iter().map(|k| k.public_key(&secp)).collect();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut changes = Vec::with_capacity(p.channels * 3 + p.nodes);
    for i in 0..p.channels {
        // Every node gets a channel; the rest are random pairs.
        let a = i % p.nodes;
        let mut b = rng.below(p.nodes);
        if b == a {
            b = (a + 1) % p.nodes;
        }
        let (x, y) = if node_ids[a].serialize() < node_ids[b].serialize() {
            (a, b)
        } else {
            (b, a)
        };
        let scid = ShortChannelId::new(100_000 + (i / 1000) as u32, (i % 1000) as u32, 0)
            .expect("in range");
        let contents = UnsignedChannelAnnouncement {
            features: Features::empty(),
            chain_hash: CHAIN,
            short_channel_id: scid,
            node_id_1: node_ids[x],
            node_id_2: node_ids[y],
            bitcoin_key_1: funding_ids[x],
            bitcoin_key_2: funding_ids[y],
            excess_data: Vec::new(),
        };
        let signed = contents.signed_bytes();
        let ann = ChannelAnnouncement {
            node_signature_1: sign_gossip(&node_keys[x], &signed),
            node_signature_2: sign_gossip(&node_keys[y], &signed),
            bitcoin_signature_1: sign_gossip(&funding_keys[x], &signed),
            bitcoin_signature_2: sign_gossip(&funding_keys[y], &signed),
            contents,
        };
        changes.push(GraphChange::Channel {
            scid,
            capacity_sat: CAPACITY_SAT,
            funding_txid: bitcoin::Txid::from_byte_array([(i % 251) as u8; 32]),
            added_at: NOW,
            announcement: ann.encode().expect("encodes"),
        });
        for (direction, origin) in [(0u8, x), (1u8, y)] {
            let timestamp = NOW - rng.below(86_400) as u32;
            let u = ChannelUpdate::signed(
                &node_keys[origin],
                UnsignedChannelUpdate {
                    chain_hash: CHAIN,
                    short_channel_id: scid,
                    timestamp,
                    message_flags: MESSAGE_FLAG_MUST_BE_ONE,
                    channel_flags: direction,
                    cltv_expiry_delta: 40 + rng.below(100) as u16,
                    htlc_minimum_msat: 1000,
                    fee_base_msat: rng.below(2000) as u32,
                    fee_proportional_millionths: rng.below(1000) as u32,
                    htlc_maximum_msat: CAPACITY_SAT * 1000 / 2,
                    excess_data: Vec::new(),
                },
            );
            changes.push(GraphChange::Update {
                scid,
                direction,
                timestamp,
                bytes: u.encode().expect("encodes"),
            });
        }
    }
    for (i, key) in node_keys.iter().enumerate() {
        let n = NodeAnnouncement::signed(
            key,
            UnsignedNodeAnnouncement {
                features: Features::empty(),
                timestamp: NOW,
                node_id: node_ids[i],
                rgb_color: [(i % 256) as u8, 0x80, 0x40],
                alias: alias_bytes(&format!("node-{i}")),
                addresses: encode_addresses(&[NetAddress::Ipv4 {
                    addr: std::net::Ipv4Addr::from(0x0A00_0000 + i as u32),
                    port: 9735,
                }])
                .expect("encodes"),
                excess_data: Vec::new(),
            },
        );
        changes.push(GraphChange::Node {
            node_id: node_ids[i],
            timestamp: NOW,
            bytes: n.encode().expect("encodes"),
        });
    }
    changes
}

fn mib(bytes: f64) -> f64 {
    bytes / (1024.0 * 1024.0)
}

pub fn run(dir: &Path, p: &Params) -> Value {
    std::fs::create_dir_all(dir).expect("bench directory");
    let path = dir.join(DB_FILE);
    let started = Instant::now();
    let changes = generate(p);
    let generate_secs = started.elapsed().as_secs_f64();
    let started = Instant::now();
    {
        let store = Store::open(&path).expect("store");
        for batch in changes.chunks(BATCH) {
            store
                .write_blocking(|c| graph::apply(c, batch))
                .expect("written");
        }
    }
    let write_secs = started.elapsed().as_secs_f64();
    drop(changes);
    let db_mib = mib(std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0) as f64);

    let store = Store::open(&path).expect("store");
    let before = LIVE.load(Ordering::Relaxed);
    let started = Instant::now();
    let (g, report) = store.blocking(graph::load).expect("loaded");
    let load_secs = started.elapsed().as_secs_f64();
    let graph_mib = mib((LIVE.load(Ordering::Relaxed) - before) as f64);
    assert_eq!(report.channels, p.channels, "every channel loaded");
    assert_eq!(report.updates, 2 * p.channels, "every update loaded");
    assert_eq!(report.skipped, 0);
    json!({
        "nodes": g.node_count(),
        "channels": g.channel_count(),
        "generate_secs": generate_secs,
        "write_secs": write_secs,
        "db_mib": db_mib,
        "load_secs": load_secs,
        "graph_heap_mib": graph_mib,
        "graph_heap_estimate_mib": mib(g.heap_bytes() as f64),
    })
}

pub fn print(r: &Value) {
    let f = |v: &Value| v.as_f64().unwrap_or(0.0);
    println!(
        "graph of {} nodes and {} channels",
        r["nodes"], r["channels"]
    );
    println!(
        "  generated      in {:.1} s (signed), written in {:.1} s, database {:.0} MiB",
        f(&r["generate_secs"]),
        f(&r["write_secs"]),
        f(&r["db_mib"])
    );
    println!(
        "  load           {:.2} s from the store, no signature verified",
        f(&r["load_secs"])
    );
    println!(
        "  memory         {:.1} MiB of heap ({:.1} MiB by the graph's own estimate)",
        f(&r["graph_heap_mib"]),
        f(&r["graph_heap_estimate_mib"])
    );
}
