//! Relay of accepted gossip: a batch that is flushed to peers on a fixed stagger, and each
//! peer's bounded outbound queue.
//!
//! - A `channel_announcement` waits for its first `channel_update` (BOLT 7: never relayed
//!   alone; it takes the update's timestamp) and then goes out just before it.
//! - Within a batch a newer update of the same channel direction, or a newer announcement of
//!   the same node, replaces the older one.
//! - A message goes to every peer but the one it came from, and only to peers whose timestamp
//!   filter admits it; our own messages (`origin` `None`) go to every peer, filter or not.

use std::collections::{HashMap, VecDeque};

use bitcoin::secp256k1::PublicKey;

use crate::wire::{ChannelAnnouncement, Message, ShortChannelId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    Announcement(ShortChannelId),
    Update(ShortChannelId, u8),
    Node(PublicKey),
}

/// One message of a flushed batch.
#[derive(Debug, Clone)]
pub(crate) struct Batched {
    /// The peer it came from; `None` for our own.
    pub origin: Option<PublicKey>,
    pub timestamp: u32,
    pub msg: Message,
}

/// What was accepted since the last flush.
#[derive(Debug, Default)]
pub(crate) struct RelayBatch {
    /// Announcements waiting for their first update, and their arrival order (which may
    /// still list ones already taken; it is compacted when it grows past twice the cap).
    waiting: HashMap<ShortChannelId, (Option<PublicKey>, ChannelAnnouncement)>,
    waiting_order: VecDeque<ShortChannelId>,
    batch: Vec<Batched>,
    index: HashMap<Key, usize>,
    /// Messages refused because the batch or the waiting list was full.
    pub dropped: u64,
}

impl RelayBatch {
    /// Takes a message the validator accepted. Anything but the three gossip messages is
    /// ignored.
    pub fn accept(
        &mut self,
        origin: Option<PublicKey>,
        msg: Message,
        max_batch: usize,
        max_waiting: usize,
    ) {
        match msg {
            Message::ChannelAnnouncement(a) => {
                let scid = a.contents.short_channel_id;
                while self.waiting.len() >= max_waiting.max(1) {
                    let Some(old) = self.waiting_order.pop_front() else {
                        break;
                    };
                    if self.waiting.remove(&old).is_some() {
                        self.dropped += 1;
                    }
                }
                if self.waiting.insert(scid, (origin, a)).is_none() {
                    self.waiting_order.push_back(scid);
                }
                if self.waiting_order.len() > 2 * max_waiting.max(1) {
                    let waiting = &self.waiting;
                    self.waiting_order.retain(|s| waiting.contains_key(s));
                }
            }
            Message::ChannelUpdate(u) => {
                let scid = u.short_channel_id;
                let timestamp = u.timestamp;
                if let Some((a_origin, a)) = self.waiting.remove(&scid) {
                    self.put(
                        Key::Announcement(scid),
                        Batched {
                            origin: a_origin,
                            timestamp,
                            msg: Message::ChannelAnnouncement(a),
                        },
                        max_batch,
                    );
                }
                let key = Key::Update(scid, u.direction());
                let b = Batched {
                    origin,
                    timestamp,
                    msg: Message::ChannelUpdate(u),
                };
                self.put(key, b, max_batch);
            }
            Message::NodeAnnouncement(n) => {
                let key = Key::Node(n.contents.node_id);
                let b = Batched {
                    origin,
                    timestamp: n.contents.timestamp,
                    msg: Message::NodeAnnouncement(n),
                };
                self.put(key, b, max_batch);
            }
            _ => {}
        }
    }

    fn put(&mut self, key: Key, b: Batched, max_batch: usize) {
        if let Some(&i) = self.index.get(&key) {
            // Same place in the batch, so an announcement still precedes its updates.
            self.batch[i] = b;
        } else if self.batch.len() >= max_batch {
            self.dropped += 1;
        } else {
            self.index.insert(key, self.batch.len());
            self.batch.push(b);
        }
    }

    /// Empties the batch for a flush.
    pub fn take(&mut self) -> Vec<Batched> {
        self.index.clear();
        std::mem::take(&mut self.batch)
    }
}

/// Whether a peer's `gossip_timestamp_filter` (`first`, `range`) admits a timestamp.
pub(crate) fn admits(filter: Option<(u32, u32)>, ts: u32) -> bool {
    filter.is_some_and(|(first, range)| {
        ts >= first && u64::from(ts) < u64::from(first) + u64::from(range)
    })
}

/// A peer's relayed gossip waiting to be sent: when full, the oldest message is dropped.
#[derive(Debug, Default)]
pub(crate) struct RelayQueue {
    queue: VecDeque<Message>,
    pub dropped: u64,
}

impl RelayQueue {
    /// Queues `msg`; true when an older message had to be dropped for it.
    pub fn push(&mut self, msg: Message, cap: usize) -> bool {
        let mut dropped = false;
        while self.queue.len() >= cap.max(1) {
            self.queue.pop_front();
            self.dropped += 1;
            dropped = true;
        }
        self.queue.push_back(msg);
        dropped
    }

    pub fn pop(&mut self) -> Option<Message> {
        self.queue.pop_front()
    }
}
