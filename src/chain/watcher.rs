//! Block connected/disconnected events for any [`ChainSource`], by polling.
//!
//! The watcher remembers the hashes of the last blocks it reported. On each poll it walks back
//! from its own tip until the source agrees (the fork point), reports the blocks above it as
//! disconnected (highest first), then the source's blocks up to the new tip as connected
//! (lowest first). Polling rather than push keeps one code path for a remote bitcoind and the
//! embedded node, and catches up naturally after downtime.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bitcoin::BlockHash;
use tokio::sync::mpsc;

use super::{BlockRef, ChainError, ChainSource};

/// How many recent blocks the watcher remembers: reorgs deeper than this are reported as an
/// error rather than silently mis-tracked.
pub const REORG_WINDOW: usize = 144;

/// A change of the active chain, as seen by the watcher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockEvent {
    Connected(BlockRef),
    Disconnected(BlockRef),
}

pub struct ChainWatcher {
    source: Arc<dyn ChainSource>,
    /// Recent reported blocks, oldest first; the last is our view of the tip.
    recent: VecDeque<BlockRef>,
}

impl ChainWatcher {
    /// Starts from `last_seen` (e.g. what a store persisted), or from the current tip with
    /// nothing to report.
    pub async fn new(
        source: Arc<dyn ChainSource>,
        last_seen: Option<BlockRef>,
    ) -> Result<ChainWatcher, ChainError> {
        let start = match last_seen {
            Some(b) => b,
            None => source.tip().await?,
        };
        Ok(ChainWatcher {
            source,
            recent: VecDeque::from([start]),
        })
    }

    /// The tip as last reported.
    pub fn tip(&self) -> BlockRef {
        *self.recent.back().expect("never empty")
    }

    /// Events since the last poll.
    pub async fn poll(&mut self) -> Result<Vec<BlockEvent>, ChainError> {
        let tip = self.source.tip().await?;
        if tip == self.tip() {
            return Ok(Vec::new());
        }
        let mut events = Vec::new();
        // Walk back to the fork point.
        loop {
            let ours = self.tip();
            let theirs = self.source.block_hash(ours.height).await?;
            if theirs == Some(ours.hash) {
                break;
            }
            if self.recent.len() == 1 {
                return Err(ChainError::Permanent(format!(
                    "reorg deeper than the last {REORG_WINDOW} blocks at height {}",
                    ours.height
                )));
            }
            self.recent.pop_back();
            events.push(BlockEvent::Disconnected(ours));
        }
        // Connect up to the source's tip, checking each block extends the previous one: if the
        // chain moves under us, stop and let the next poll sort it out.
        let mut height = self.tip().height + 1;
        while height <= tip.height {
            let Some(hash) = self.source.block_hash(height).await? else {
                break;
            };
            let Some(header) = self.source.header(&hash).await? else {
                break;
            };
            if header.header.prev_blockhash != self.tip().hash {
                break;
            }
            let b = BlockRef { height, hash };
            self.recent.push_back(b);
            if self.recent.len() > REORG_WINDOW {
                self.recent.pop_front();
            }
            events.push(BlockEvent::Connected(b));
            height += 1;
        }
        Ok(events)
    }

    /// Polls every `interval` and sends events until the receiver is dropped. Transient
    /// errors are retried on the next tick.
    pub async fn run(mut self, interval: Duration, tx: mpsc::Sender<BlockEvent>) {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            match self.poll().await {
                Ok(events) => {
                    for e in events {
                        if tx.send(e).await.is_err() {
                            return;
                        }
                    }
                }
                Err(e) if e.is_transient() => tracing::debug!("chain poll: {e}"),
                Err(e) => tracing::warn!("chain poll: {e}"),
            }
        }
    }
}

/// Known hash at a height, for callers that persist the watcher's position.
pub fn block_ref(height: u32, hash: BlockHash) -> BlockRef {
    BlockRef { height, hash }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::regtest::{EmbeddedChainSource, RegtestNode};
    use bitcoin::hashes::Hash;
    use bitcoin::ScriptBuf;

    #[tokio::test]
    async fn reports_connections_and_reorgs_in_order() {
        let node = RegtestNode::in_memory().unwrap();
        let source = Arc::new(EmbeddedChainSource::new(node.clone()));
        let mut w = ChainWatcher::new(source, None).await.unwrap();
        assert!(w.poll().await.unwrap().is_empty());
        let spk = ScriptBuf::new_p2wsh(&bitcoin::WScriptHash::all_zeros());
        let mined = node.generate_to_script(3, &spk).unwrap();
        let events = w.poll().await.unwrap();
        let connected: Vec<_> = events
            .iter()
            .map(|e| match e {
                BlockEvent::Connected(b) => b.hash,
                BlockEvent::Disconnected(_) => panic!("no reorg yet"),
            })
            .collect();
        assert_eq!(connected, mined);

        node.invalidate_block(&mined[1]).unwrap();
        let replacement = node.generate_to_script(3, &spk).unwrap();
        let events = w.poll().await.unwrap();
        let mut expected = vec![
            BlockEvent::Disconnected(block_ref(3, mined[2])),
            BlockEvent::Disconnected(block_ref(2, mined[1])),
        ];
        expected.extend(
            replacement
                .iter()
                .enumerate()
                .map(|(i, h)| BlockEvent::Connected(block_ref(2 + i as u32, *h))),
        );
        assert_eq!(events, expected);
        assert_eq!(w.tip(), block_ref(4, replacement[2]));
    }
}
