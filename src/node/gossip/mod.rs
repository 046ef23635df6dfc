//! The gossip task: the runtime around the pure core in `crate::gossip`. It owns the graph,
//! answers and sends gossip over the peer manager, looks announced funding outputs up on the
//! chain and writes the graph to the store.

mod inbox;

pub use inbox::{Dispatch, GossipInbox, OurChannelFacts};
