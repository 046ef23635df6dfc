//! Limits and timers of the peer manager. The defaults and the reasons for them are in
//! `channel-spec/peers.md`; every value can be changed in the `[peers]` table of `chanhub.toml`
//! (the tests use short timers).

use std::time::Duration;

/// What one node allows its peers. Every limit exists so that a remote party, however it
/// behaves, costs us a bounded amount of memory, file descriptors and time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerLimits {
    /// Established connections (init exchanged). Each costs a task, two queues and a socket.
    pub max_peers: usize,
    /// Connections still in the Noise handshake or the `init` exchange. Such a connection has
    /// proven nothing yet, so they get a small pool: past it a new connection is closed at once.
    pub max_pending: usize,
    /// From TCP connect/accept to the peer's `init`: a silent peer gives its slot back after this.
    pub handshake_timeout: Duration,
    /// We send a `ping` after this long without one outstanding.
    pub ping_interval: Duration,
    /// With a ping outstanding, the peer is dead when nothing at all has arrived for this long.
    pub pong_timeout: Duration,
    /// Messages waiting for the socket, per peer. The channel actor never waits for room: a
    /// peer whose queue is full when the actor sends is dropped as a slow reader. Pongs may
    /// take only half, so a peer's pings cannot crowd out what the channels send.
    pub outgoing_queue: usize,
    /// How long a pong may wait for room in the outgoing queue (or one write may stall) before
    /// the peer is dropped as a slow reader.
    pub queue_full_timeout: Duration,
    /// A peer's messages delivered to the channel layer and not yet handled. At the limit we
    /// stop reading its socket (TCP pushes back on the peer) until the channels catch up.
    pub inbound_queue: usize,
    /// Inbound channel opens not yet funded (`funding_created` not received), per peer.
    pub max_pending_opens_per_peer: usize,
    /// Inbound channel opens not yet funded, over all peers.
    pub max_pending_opens: usize,
    /// An inbound open not funded within this long is dropped.
    pub pending_open_timeout: Duration,
    /// First delay before reconnecting to a persistent peer; doubled after each failure.
    pub reconnect_min: Duration,
    /// The largest delay between reconnection attempts.
    pub reconnect_max: Duration,
}

impl Default for PeerLimits {
    fn default() -> Self {
        PeerLimits {
            max_peers: 1000,
            max_pending: 64,
            handshake_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(30),
            pong_timeout: Duration::from_secs(20),
            outgoing_queue: 512,
            queue_full_timeout: Duration::from_secs(10),
            inbound_queue: 32,
            max_pending_opens_per_peer: 4,
            max_pending_opens: 50,
            pending_open_timeout: Duration::from_secs(60),
            reconnect_min: Duration::from_secs(1),
            reconnect_max: Duration::from_secs(300),
        }
    }
}

impl PeerLimits {
    /// Rejects values that would make the manager useless (a zero-size pool, a zero timer).
    pub fn validate(&self) -> Result<(), String> {
        let zero = |name: &str| Err(format!("peers.{name} must be greater than zero"));
        if self.max_peers == 0 {
            return zero("max_peers");
        }
        if self.max_pending == 0 {
            return zero("max_pending_handshakes");
        }
        for (name, n) in [
            ("outgoing_queue", self.outgoing_queue),
            ("inbound_queue", self.inbound_queue),
            (
                "max_pending_opens_per_peer",
                self.max_pending_opens_per_peer,
            ),
            ("max_pending_opens", self.max_pending_opens),
        ] {
            if n == 0 {
                return zero(name);
            }
        }
        for (name, d) in [
            ("handshake_timeout_ms", self.handshake_timeout),
            ("ping_interval_ms", self.ping_interval),
            ("pong_timeout_ms", self.pong_timeout),
            ("queue_full_timeout_ms", self.queue_full_timeout),
            ("pending_open_timeout_ms", self.pending_open_timeout),
            ("reconnect_min_ms", self.reconnect_min),
        ] {
            if d.is_zero() {
                return zero(name);
            }
        }
        if self.reconnect_max < self.reconnect_min {
            return Err("peers.reconnect_max_ms must not be below reconnect_min_ms".into());
        }
        Ok(())
    }
}

/// Delays between reconnection attempts: `min`, doubling up to `max`, each with up to a
/// quarter of random jitter so that peers who lost each other at the same moment do not
/// retry in lockstep.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Self {
        Backoff { next: min, max }
    }

    /// The delay before the next attempt (without jitter), and moves on.
    pub fn next_base(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(self.max);
        d
    }

    /// [`Backoff::next_base`] plus up to 25 % random jitter.
    pub fn next_delay(&mut self) -> Duration {
        use rand::Rng;
        let base = self.next_base();
        let jitter = rand::thread_rng().gen_range(0.0..0.25);
        base + base.mul_f64(jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_zeroes_are_refused() {
        PeerLimits::default().validate().unwrap();
        let bad = PeerLimits {
            max_pending: 0,
            ..PeerLimits::default()
        };
        assert!(bad.validate().unwrap_err().contains("max_pending"));
        let bad = PeerLimits {
            pong_timeout: Duration::ZERO,
            ..PeerLimits::default()
        };
        assert!(bad.validate().unwrap_err().contains("pong_timeout"));
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(5));
        let got: Vec<u64> = (0..5).map(|_| b.next_base().as_secs()).collect();
        assert_eq!(got, [1, 2, 4, 5, 5]);
        let mut b = Backoff::new(Duration::from_secs(4), Duration::from_secs(60));
        for base in [4u64, 8, 16] {
            let d = b.next_delay();
            assert!(d >= Duration::from_secs(base) && d <= Duration::from_secs(base * 5 / 4));
        }
    }
}
