//! A channel's snapshot cut into parts, so that a transition writes only the parts it changed.
//!
//! Until schema version 17 each transition rewrote the whole [`ChannelState`] as one JSON
//! document: the fixed setup, three commitments with every pending HTLC and its signature,
//! the peer's revocation secrets. Most transitions change one or two of those. The store now
//! keeps the snapshot as:
//!
//! | part | what | changes with |
//! |---|---|---|
//! | the `channels.state` row | everything but `commitments` | phase, link, height, close |
//! | `local` | our current commitment and the peer's signatures | each `commitment_signed` received |
//! | `remote` | the peer's commitment we signed last that it has not revoked | each `revoke_and_ack` received |
//! | `remote_waiting` | the one we signed and await its revocation for | each `commitment_signed` sent |
//! | `revocations` | the peer's revealed secrets | each `revoke_and_ack` received |
//! | `changes` | the change lists and counters | each update message |
//! | `previous_local` | the revoked commitment kept for regtest's `dev cheat` | with `local` |
//!
//! The onion of each add in the change lists (1,366 bytes) is kept out of `changes`, in a row
//! of its own in `change_onions` (schema version 18), written once when the add first appears
//! and deleted when it leaves the lists: inline, `changes` carried every such onion as 2,732
//! hex characters and was rewritten with each update message (at 64 payments in flight the
//! hub spent 7 % of its CPU escaping that text alone). A `changes` part written before keeps
//! its onions inline and reads as it is.
//!
//! Which parts to write is decided against the state the store last wrote for the channel
//! ([`changed`]), kept by the caller; without one every part is written. Reading joins the
//! row and its parts ([`join`]); a row with no parts is a whole snapshot (older databases,
//! and channels without commitments yet), read as it is. Nothing is replayed: each part is
//! current, so recovery reads the same rows whatever the history.

use serde::{Deserialize, Serialize};

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::bolt3::RevocationStore;
use crate::channel::changes::{AddHtlc, LocalChanges, Origin, RemoteChanges, Update};
use crate::channel::state::{Commitments, LastSent, LocalCommit, RemoteCommit};
use crate::channel::ChannelState;

use super::StoreError;

/// The crash drill of the crash tests: with `CHANHUB_DEV_ABORT_AT_WRITE=N` in its
/// environment the process aborts at its Nth part write, inside the open transaction, as a
/// power cut there would (nothing of the transaction may survive, and nothing it produced
/// has left). Read once; unset, this is one relaxed load per write.
pub(super) fn drill() {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;
    static LEFT: OnceLock<Option<AtomicU64>> = OnceLock::new();
    let left = LEFT.get_or_init(|| {
        std::env::var("CHANHUB_DEV_ABORT_AT_WRITE")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|n| *n > 0)
            .map(AtomicU64::new)
    });
    if let Some(left) = left {
        if left.fetch_sub(1, Ordering::Relaxed) == 1 {
            eprintln!("crash drill: aborting at a channel write");
            std::process::abort();
        }
    }
}

/// The part names, as stored.
pub const LOCAL: &str = "local";
pub const REMOTE: &str = "remote";
pub const REMOTE_WAITING: &str = "remote_waiting";
pub const REVOCATIONS: &str = "revocations";
pub const CHANGES: &str = "changes";
pub const PREVIOUS_LOCAL: &str = "previous_local";

/// The `changes` part: what moves with every update message.
#[derive(Debug, Serialize, Deserialize)]
struct Changes<L, R, U> {
    remote_next_point: Option<bitcoin::secp256k1::PublicKey>,
    local_changes: L,
    remote_changes: R,
    local_next_htlc_id: u64,
    remote_next_htlc_id: u64,
    last_sent: LastSent,
    to_repropose: U,
    dust_rejects: Vec<u64>,
}

/// What the store writes for one transition.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Write {
    /// The `channels.state` row (everything but the commitments), when it changed.
    pub base: Option<String>,
    /// Parts to write, by name.
    pub parts: Vec<(&'static str, String)>,
    /// Whether the channel has no commitments (any parts and onions it had are deleted).
    pub no_commitments: bool,
    /// Every stored onion of the channel is deleted before `onions` are written (what is
    /// stored is not known).
    pub onions_reset: bool,
    /// Onions of adds in the change lists to store: new adds, or an id the peer reused after
    /// a disconnection dropped its add.
    pub onions: Vec<(Origin, u64, Vec<u8>)>,
    /// Onions to delete: their adds left the change lists.
    pub onions_gone: Vec<(Origin, u64)>,
}

/// The onions of the adds in the change lists, by who offered them and id.
fn onions_of(c: &Commitments) -> BTreeMap<(Origin, u64), &[u8]> {
    let local = c.local_changes.all().chain(&c.to_repropose);
    let local = local.map(|u| (Origin::Local, u));
    let remote = c.remote_changes.all().map(|u| (Origin::Remote, u));
    local
        .chain(remote)
        .filter_map(|(origin, u)| match u {
            Update::Add(a) => Some(((origin, a.id), &a.onion[..])),
            _ => None,
        })
        .collect()
}

/// `list` as the `changes` part stores it: adds without their onions.
fn without_onions(list: &[Update]) -> Vec<Update> {
    list.iter()
        .map(|u| match u {
            Update::Add(a) => {
                // Field by field, so a new field of the add cannot be forgotten here.
                let AddHtlc {
                    id,
                    amount_msat,
                    payment_hash,
                    cltv_expiry,
                    onion: _,
                    blinding_point,
                    extra_fee_msat,
                } = a;
                Update::Add(AddHtlc {
                    id: *id,
                    amount_msat: *amount_msat,
                    payment_hash: *payment_hash,
                    cltv_expiry: *cltv_expiry,
                    onion: crate::channel::changes::no_onion(),
                    blinding_point: *blinding_point,
                    extra_fee_msat: *extra_fee_msat,
                })
            }
            other => other.clone(),
        })
        .collect()
}

/// Puts the stored onions back in the adds of `list` that were stored without theirs.
fn with_onions(
    key_index: u32,
    origin: Origin,
    list: &mut [Update],
    onions: &BTreeMap<(Origin, u64), &[u8]>,
) -> Result<(), StoreError> {
    for u in list {
        if let Update::Add(a) = u {
            if a.onion.is_empty() {
                let onion = onions.get(&(origin, a.id)).ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "channel {key_index}: no onion for pending {origin:?} add {}",
                        a.id
                    ))
                })?;
                a.onion = Arc::from(*onion);
            }
        }
    }
    Ok(())
}

fn json<T: Serialize + ?Sized>(what: &str, v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v)
        .map_err(|e| StoreError::Corrupt(format!("channel {what} does not serialize: {e}")))
}

/// Everything but the commitments, as the `channels.state` row keeps it.
fn base_of(s: &ChannelState) -> ChannelState {
    // Field by field, so a new field of the state cannot be forgotten here.
    let ChannelState {
        config,
        channel_id,
        phase,
        setup,
        commitments: _,
        link,
        close,
        behind,
        restored,
        peer_current_point,
        height,
        funding_spend,
        resolution,
        local_alias,
        remote_alias,
        funding_lost,
    } = s;
    ChannelState {
        config: config.clone(),
        channel_id: *channel_id,
        phase: phase.clone(),
        setup: setup.clone(),
        commitments: None,
        link: *link,
        close: close.clone(),
        behind: *behind,
        restored: *restored,
        peer_current_point: *peer_current_point,
        height: *height,
        funding_spend: funding_spend.clone(),
        resolution: resolution.clone(),
        local_alias: *local_alias,
        remote_alias: *remote_alias,
        funding_lost: funding_lost.clone(),
    }
}

fn same_base(a: &ChannelState, b: &ChannelState) -> bool {
    let ChannelState {
        config,
        channel_id,
        phase,
        setup,
        commitments: _,
        link,
        close,
        behind,
        restored,
        peer_current_point,
        height,
        funding_spend,
        resolution,
        local_alias,
        remote_alias,
        funding_lost,
    } = a;
    *config == b.config
        && *channel_id == b.channel_id
        && *phase == b.phase
        && *setup == b.setup
        && *link == b.link
        && *close == b.close
        && *behind == b.behind
        && *restored == b.restored
        && *peer_current_point == b.peer_current_point
        && *height == b.height
        && *funding_spend == b.funding_spend
        && *resolution == b.resolution
        && *local_alias == b.local_alias
        && *remote_alias == b.remote_alias
        && *funding_lost == b.funding_lost
}

fn changes_of(c: &Commitments) -> Changes<LocalChanges, RemoteChanges, Vec<Update>> {
    // Struct literals without `..`: a new list cannot be forgotten here.
    let (l, r) = (&c.local_changes, &c.remote_changes);
    let local_changes = LocalChanges {
        proposed: without_onions(&l.proposed),
        signed: without_onions(&l.signed),
        acked: without_onions(&l.acked),
    };
    let remote_changes = RemoteChanges {
        proposed: without_onions(&r.proposed),
        acked: without_onions(&r.acked),
        signed: without_onions(&r.signed),
    };
    Changes {
        remote_next_point: c.remote_next_point,
        local_changes,
        remote_changes,
        local_next_htlc_id: c.local_next_htlc_id,
        remote_next_htlc_id: c.remote_next_htlc_id,
        last_sent: c.last_sent,
        to_repropose: without_onions(&c.to_repropose),
        dust_rejects: c.dust_rejects.clone(),
    }
}

fn same_changes(a: &Commitments, b: &Commitments) -> bool {
    a.remote_next_point == b.remote_next_point
        && a.local_changes == b.local_changes
        && a.remote_changes == b.remote_changes
        && a.local_next_htlc_id == b.local_next_htlc_id
        && a.remote_next_htlc_id == b.remote_next_htlc_id
        && a.last_sent == b.last_sent
        && a.to_repropose == b.to_repropose
        && a.dust_rejects == b.dust_rejects
}

fn revocations_hex(r: &RevocationStore) -> String {
    // A JSON string, as the whole snapshot kept it.
    format!("\"{}\"", hex::encode(r.to_bytes()))
}

/// What to write for `state`, given the state the store holds for the channel (`None`: not
/// known, write everything).
pub fn changed(prev: Option<&ChannelState>, state: &ChannelState) -> Result<Write, StoreError> {
    let base = match prev {
        Some(p) if same_base(p, state) => None,
        _ => Some(json("state", &base_of(state))?),
    };
    let Some(c) = &state.commitments else {
        return Ok(Write {
            base,
            no_commitments: true,
            ..Write::default()
        });
    };
    // Field by field, so a new field of the commitments cannot be forgotten here.
    let Commitments {
        local,
        remote,
        remote_waiting,
        remote_next_point: _,
        local_changes: _,
        remote_changes: _,
        local_next_htlc_id: _,
        remote_next_htlc_id: _,
        revocations,
        last_sent: _,
        to_repropose: _,
        dust_rejects: _,
        previous_local,
        // Kept in rows of their own (`htlc_onions`).
        received_onions: _,
    } = c;
    let old = prev.and_then(|p| p.commitments.as_ref());
    let mut parts = Vec::new();
    if old.map_or(true, |o| o.local != *local) {
        parts.push((LOCAL, json("local commitment", local)?));
    }
    if old.map_or(true, |o| o.remote != *remote) {
        parts.push((REMOTE, json("remote commitment", remote)?));
    }
    if old.map_or(true, |o| o.remote_waiting != *remote_waiting) {
        parts.push((REMOTE_WAITING, json("remote commitment", remote_waiting)?));
    }
    if old.map_or(true, |o| o.revocations != *revocations) {
        parts.push((REVOCATIONS, revocations_hex(revocations)));
    }
    if old.map_or(true, |o| !same_changes(o, c)) {
        parts.push((CHANGES, json("changes", &changes_of(c))?));
    }
    if old.map_or(true, |o| o.previous_local != *previous_local) {
        parts.push((PREVIOUS_LOCAL, json("commitment", previous_local)?));
    }
    let now = onions_of(c);
    let before = old.map(onions_of);
    let onions = now
        .iter()
        .filter(|(k, o)| before.as_ref().map_or(true, |b| b.get(k) != Some(o)))
        .map(|(&(origin, id), o)| (origin, id, o.to_vec()))
        .collect();
    let onions_gone = before
        .iter()
        .flat_map(|b| b.keys())
        .filter(|k| !now.contains_key(k))
        .copied()
        .collect();
    Ok(Write {
        base,
        parts,
        no_commitments: false,
        onions_reset: old.is_none(),
        onions,
        onions_gone,
    })
}

fn parse<'a, T: Deserialize<'a>>(
    key_index: u32,
    part: &str,
    text: &'a str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| {
        StoreError::Corrupt(format!("channel {key_index}: unreadable {part} part: {e}"))
    })
}

/// The state from its row, its parts (`(name, json)`; none: the row is the whole state) and
/// the onions of the adds in its change lists.
pub fn join(
    key_index: u32,
    base: &str,
    parts: &[(String, String)],
    onions: &[(Origin, u64, Vec<u8>)],
) -> Result<ChannelState, StoreError> {
    let mut state: ChannelState = parse(key_index, "state", base)?;
    if parts.is_empty() {
        return Ok(state);
    }
    let get = |name: &str| -> Result<&str, StoreError> {
        parts
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.as_str())
            .ok_or_else(|| StoreError::Corrupt(format!("channel {key_index}: no {name} part")))
    };
    let mut changes: Changes<LocalChanges, RemoteChanges, Vec<Update>> =
        parse(key_index, CHANGES, get(CHANGES)?)?;
    let onions: BTreeMap<(Origin, u64), &[u8]> = onions
        .iter()
        .map(|(origin, id, o)| ((*origin, *id), o.as_slice()))
        .collect();
    let (l, r) = (&mut changes.local_changes, &mut changes.remote_changes);
    for list in [
        &mut l.proposed,
        &mut l.signed,
        &mut l.acked,
        &mut changes.to_repropose,
    ] {
        with_onions(key_index, Origin::Local, list, &onions)?;
    }
    for list in [&mut r.proposed, &mut r.acked, &mut r.signed] {
        with_onions(key_index, Origin::Remote, list, &onions)?;
    }
    let revocations: String = parse(key_index, REVOCATIONS, get(REVOCATIONS)?)?;
    let revocations = hex::decode(&revocations)
        .ok()
        .and_then(|b| RevocationStore::from_bytes(&b).ok())
        .ok_or_else(|| StoreError::Corrupt(format!("channel {key_index}: bad revocations")))?;
    let local: LocalCommit = parse(key_index, LOCAL, get(LOCAL)?)?;
    let remote: RemoteCommit = parse(key_index, REMOTE, get(REMOTE)?)?;
    let remote_waiting: Option<RemoteCommit> =
        parse(key_index, REMOTE_WAITING, get(REMOTE_WAITING)?)?;
    let previous_local: Option<LocalCommit> =
        parse(key_index, PREVIOUS_LOCAL, get(PREVIOUS_LOCAL)?)?;
    state.commitments = Some(Commitments {
        local,
        remote,
        remote_waiting,
        remote_next_point: changes.remote_next_point,
        local_changes: changes.local_changes,
        remote_changes: changes.remote_changes,
        local_next_htlc_id: changes.local_next_htlc_id,
        remote_next_htlc_id: changes.remote_next_htlc_id,
        revocations,
        last_sent: changes.last_sent,
        to_repropose: changes.to_repropose,
        dust_rejects: changes.dust_rejects,
        previous_local,
        received_onions: Default::default(),
    });
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::testing::harness;
    use crate::channel::{Command, Format};

    /// Every part of a channel with commitments.
    const ALL: [&str; 6] = [
        LOCAL,
        REMOTE,
        REMOTE_WAITING,
        REVOCATIONS,
        CHANGES,
        PREVIOUS_LOCAL,
    ];

    fn rows(w: &Write) -> Vec<(String, String)> {
        w.parts
            .iter()
            .map(|(n, t)| (n.to_string(), t.clone()))
            .collect()
    }

    fn names(w: &Write) -> Vec<&'static str> {
        w.parts.iter().map(|(n, _)| *n).collect()
    }

    /// The rows of one channel: its `channels.state` row, its parts, its change onions.
    #[derive(Default)]
    struct Held {
        base: String,
        parts: Vec<(String, String)>,
        onions: BTreeMap<(Origin, u64), Vec<u8>>,
    }

    impl Held {
        /// The rows as the store holds them after `w` is written over these.
        fn apply(&mut self, w: &Write) {
            if let Some(b) = &w.base {
                self.base = b.clone();
            }
            for (n, t) in &w.parts {
                match self.parts.iter_mut().find(|(m, _)| m == n) {
                    Some(row) => row.1 = t.clone(),
                    None => self.parts.push((n.to_string(), t.clone())),
                }
            }
            if w.onions_reset || w.no_commitments {
                self.onions.clear();
            }
            for k in &w.onions_gone {
                assert!(self.onions.remove(k).is_some(), "{k:?} was stored");
            }
            for (origin, id, o) in &w.onions {
                self.onions.insert((*origin, *id), o.clone());
            }
        }

        fn join(&self) -> Result<ChannelState, StoreError> {
            let onions: Vec<_> = self
                .onions
                .iter()
                .map(|(&(origin, id), o)| (origin, id, o.clone()))
                .collect();
            join(0, &self.base, &self.parts, &onions)
        }
    }

    /// An onion no other text of the state looks like.
    fn marked_onion() -> Vec<u8> {
        vec![0xab; crate::wire::types::ONION_PACKET_LEN]
    }

    /// `a` offers HTLC 0 with [`marked_onion`].
    fn add_marked(pair: &mut harness::Pair) {
        pair.a
            .command(Command::AddHtlc {
                amount_msat: 5_000_000,
                payment_hash: harness::hash_of(&harness::preimage(1)),
                cltv_expiry: 500,
                onion: marked_onion(),
                extra_fee_msat: None,
            })
            .unwrap();
    }

    /// A channel cut into parts at every step of a payment and its settlement joins back to
    /// the state it was; and each step writes only what it changed.
    #[test]
    fn parts_join_back_to_the_state_and_each_step_writes_what_changed() {
        let mut pair = harness::Pair::open(Format::Anchors, 0);
        pair.confirm(3);
        let mut prev = pair.b.persisted.clone();
        let all = changed(None, &prev).unwrap();
        assert_eq!(names(&all), ALL.to_vec());
        let mut held = Held::default();
        held.apply(&all);
        assert_eq!(held.join().unwrap(), prev);
        let mut onion_writes = 0;
        let mut most_onions = 0;

        let mut steps = 0;
        let mut check = |pair: &harness::Pair| {
            let now = pair.b.persisted.clone();
            let w = changed(Some(&prev), &now).unwrap();
            if now == prev {
                assert_eq!(w, Write::default());
                return;
            }
            steps += 1;
            assert!(w.parts.len() < ALL.len() - 1, "{:?}", names(&w));
            assert!(w.base.is_none(), "the setup does not move with payments");
            // An onion is written once, in a row of its own, never in a part.
            for (name, text) in &w.parts {
                assert!(!text.contains("abababababababab"), "an onion in {name}");
            }
            onion_writes += w.onions.len();
            held.apply(&w);
            most_onions = most_onions.max(held.onions.len());
            let mut expected = now.clone();
            expected
                .commitments
                .as_mut()
                .unwrap()
                .received_onions
                .clear();
            assert_eq!(held.join().unwrap(), expected);
            prev = now;
        };
        add_marked(&mut pair);
        let deliver = |pair: &mut harness::Pair, check: &mut dyn FnMut(&harness::Pair)| loop {
            let mut moved = false;
            for from_a in [true, false] {
                if let Some(r) = pair.deliver_one(from_a) {
                    assert!(r.is_ok(), "honest peers agree");
                    moved = true;
                    check(pair);
                }
            }
            if !moved {
                break;
            }
        };
        deliver(&mut pair, &mut check);
        pair.b
            .command(Command::Fulfill {
                id: 0,
                preimage: harness::preimage(1),
            })
            .unwrap();
        check(&pair);
        deliver(&mut pair, &mut check);
        assert!(steps >= 6, "the payment went through its steps ({steps})");
        assert_eq!(onion_writes, 1, "b stores the add's onion once");
        assert_eq!(most_onions, 1);
        assert!(held.onions.is_empty(), "the settled add's onion is gone");
    }

    /// A pending add's onion is needed to read the state back; a `changes` part written
    /// before version 18 carries it inline and reads as it is.
    #[test]
    fn a_pending_adds_onion_comes_from_its_row_or_an_older_inline_part() {
        let mut pair = harness::Pair::open(Format::Anchors, 0);
        pair.confirm(3);
        add_marked(&mut pair);
        let state = pair.a.persisted.clone();
        let w = changed(None, &state).unwrap();
        assert!(w.onions_reset);
        assert_eq!(w.onions, vec![(Origin::Local, 0, marked_onion())]);
        let mut held = Held::default();
        held.apply(&w);
        assert_eq!(held.join().unwrap(), state);

        held.onions.clear();
        let err = held.join().unwrap_err();
        assert!(
            err.to_string().contains("no onion for pending Local add 0"),
            "{err}"
        );

        let c = state.commitments.as_ref().unwrap();
        let inline = json(
            "changes",
            &Changes {
                remote_next_point: c.remote_next_point,
                local_changes: &c.local_changes,
                remote_changes: &c.remote_changes,
                local_next_htlc_id: c.local_next_htlc_id,
                remote_next_htlc_id: c.remote_next_htlc_id,
                last_sent: c.last_sent,
                to_repropose: &c.to_repropose,
                dust_rejects: c.dust_rejects.clone(),
            },
        )
        .unwrap();
        assert!(inline.contains("abababababababab"));
        held.parts.iter_mut().find(|(n, _)| n == CHANGES).unwrap().1 = inline;
        assert_eq!(held.join().unwrap(), state);
    }

    /// A row written whole (before version 17, or a channel with no commitments) reads as it
    /// is.
    #[test]
    fn a_whole_snapshot_reads_as_it_is() {
        let mut pair = harness::Pair::open(Format::Anchors, 0);
        pair.confirm(3);
        let state = pair.a.persisted.clone();
        let whole = serde_json::to_string(&state).unwrap();
        assert_eq!(join(0, &whole, &[], &[]).unwrap(), state);
        let w = changed(None, &state).unwrap();
        let missing: Vec<_> = rows(&w).into_iter().filter(|(n, _)| n != LOCAL).collect();
        let err = join(0, w.base.as_ref().unwrap(), &missing, &[]).unwrap_err();
        assert!(err.to_string().contains("no local part"), "{err}");
    }
}
