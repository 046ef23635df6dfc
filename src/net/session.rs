//! The protocol logic of one connection, without I/O: what to do with each decrypted message
//! and when to ping. The connection task feeds it bytes and the clock and carries out the
//! returned [`Step`]s, so every rule here is tested without sockets.
//!
//! ```text
//! peer ── ping ──────────▶ Step::Reply(pong)       (none when num_pong_bytes ≥ 65532)
//! peer ── pong ──────────▶ Step::Pong { rtt }       (clears the outstanding ping)
//! peer ── unknown odd ───▶ Step::Nothing            ("it's ok to be odd")
//! peer ── unknown even ──▶ Step::Close(+ warning)
//! peer ── channel msg ───▶ Step::Deliver            (to the handler)
//! clock ─ ping interval ─▶ Tick::SendPing
//! clock ─ pong timeout ──▶ Tick::Close(PongTimeout)
//! ```

use std::time::Duration;

use bitcoin::constants::ChainHash;
use tokio::time::Instant;

use super::error::{CloseReason, SetupError};
use crate::wire::{
    ChannelId, DecodeError, Diagnostic, Features, Init, Message, Ping, Warning, WireMessage,
};

/// `num_pong_bytes` of our own pings: liveness needs no payload.
const LIVENESS_PONG_BYTES: u16 = 0;

/// Checks the peer's first message: it must be an `init` whose features we accept and whose
/// `networks` (if sent) include our chain.
///
/// # Errors
/// The refusal; [`refusal_warning`] turns it into the `warning` we send before closing.
pub fn check_init(bytes: &[u8], ours: &Features, chain: ChainHash) -> Result<Init, SetupError> {
    let init = match Message::decode(bytes) {
        Ok(Message::Init(init)) => init,
        Ok(other) => return Err(SetupError::NotInit(other.msg_type())),
        Err(DecodeError::UnknownEvenMessage(t)) => return Err(SetupError::NotInit(t)),
        Err(e) => return Err(SetupError::BadInit(e)),
    };
    ours.check_peer(&init.all_features())?;
    if !init.is_on_chain(chain) {
        return Err(SetupError::WrongChain);
    }
    Ok(init)
}

/// The `warning` that tells a peer why we are closing, when it is something it sent.
pub fn refusal_warning(reason: &str) -> Message {
    Message::Warning(Warning(Diagnostic::new(ChannelId::ALL, reason)))
}

/// Our own `init`.
pub fn our_init(chain: ChainHash) -> Init {
    our_init_with(chain, Features::ours())
}

/// Our own `init` with `features` (the node's, e.g. with `option_supports_lsps`).
pub fn our_init_with(chain: ChainHash, features: Features) -> Init {
    Init::new(features, vec![chain])
}

/// What the connection must do with one incoming message.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    Nothing,
    /// Send this back (a pong).
    Reply(Message),
    /// Hand to the message handler.
    Deliver(Message),
    /// The pong to our ping arrived; `requested` when the ping was asked for through the API.
    Pong {
        rtt: Duration,
        requested: bool,
    },
    /// End the connection, sending the warning first when there is one.
    Close(CloseReasonKind, Option<Message>),
}

/// [`CloseReason`]s the session decides on (the rest come from I/O).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReasonKind {
    UnknownEvenMessage(u16),
    Malformed(DecodeError),
    DuplicateInit,
    PongTimeout,
}

impl From<CloseReasonKind> for CloseReason {
    fn from(k: CloseReasonKind) -> Self {
        match k {
            CloseReasonKind::UnknownEvenMessage(t) => CloseReason::UnknownEvenMessage(t),
            CloseReasonKind::Malformed(e) => CloseReason::Malformed(e),
            CloseReasonKind::DuplicateInit => CloseReason::DuplicateInit,
            CloseReasonKind::PongTimeout => CloseReason::PongTimeout,
        }
    }
}

/// What the clock asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Tick {
    Nothing,
    SendPing(Box<Message>),
    Close(CloseReasonKind),
}

/// Our ping that has not been answered.
#[derive(Debug, Clone, Copy)]
struct Outstanding {
    sent_at: Instant,
    num_pong_bytes: u16,
    requested: bool,
}

/// The per-connection protocol state after `init`.
#[derive(Debug)]
pub struct Session {
    ping_interval: Duration,
    pong_timeout: Duration,
    last_received: Instant,
    next_ping_at: Instant,
    outstanding: Option<Outstanding>,
}

impl Session {
    pub fn new(ping_interval: Duration, pong_timeout: Duration, now: Instant) -> Self {
        Session {
            ping_interval,
            pong_timeout,
            last_received: now,
            next_ping_at: now + ping_interval,
            outstanding: None,
        }
    }

    /// When [`Session::on_tick`] next has something to do.
    pub fn next_deadline(&self) -> Instant {
        match self.outstanding {
            Some(o) => o.sent_at.max(self.last_received) + self.pong_timeout,
            None => self.next_ping_at,
        }
    }

    /// Handles one decrypted message.
    pub fn on_message(&mut self, bytes: &[u8], now: Instant) -> Step {
        // Any message proves the peer alive: a pong may sit behind a long backlog.
        self.last_received = now;
        let message = match Message::decode(bytes) {
            Ok(m) => m,
            Err(DecodeError::UnknownEvenMessage(t)) => {
                return Step::Close(
                    CloseReasonKind::UnknownEvenMessage(t),
                    Some(refusal_warning(&format!("unknown even message type {t}"))),
                )
            }
            Err(e) => {
                let warning = refusal_warning(&format!("malformed message: {e}"));
                return Step::Close(CloseReasonKind::Malformed(e), Some(warning));
            }
        };
        match message {
            Message::Ping(ping) => match ping.response() {
                Some(pong) => Step::Reply(Message::Pong(pong)),
                None => Step::Nothing,
            },
            Message::Pong(pong) => match self.outstanding {
                Some(o) if pong.answers(o.num_pong_bytes) => {
                    self.outstanding = None;
                    Step::Pong {
                        rtt: now.saturating_duration_since(o.sent_at),
                        requested: o.requested,
                    }
                }
                // Unsolicited or of the wrong size: ignored, as BOLT 1 allows.
                _ => Step::Nothing,
            },
            Message::Init(_) => Step::Close(CloseReasonKind::DuplicateInit, None),
            // LSPS (bLIP 50) rides on an odd custom type: the node's LSP task reads it.
            Message::Unknown(raw) if raw.msg_type == crate::lsps::lsps0::MESSAGE_TYPE => {
                Step::Deliver(Message::Unknown(raw))
            }
            Message::Unknown(_) => Step::Nothing,
            other => Step::Deliver(other),
        }
    }

    /// Sends a liveness ping when one is due; ends the connection when the peer went silent
    /// with a ping outstanding.
    pub fn on_tick(&mut self, now: Instant) -> Tick {
        if self.outstanding.is_some() {
            if now >= self.next_deadline() {
                return Tick::Close(CloseReasonKind::PongTimeout);
            }
            return Tick::Nothing;
        }
        if now >= self.next_ping_at {
            return Tick::SendPing(Box::new(self.ping(LIVENESS_PONG_BYTES, false, now)));
        }
        Tick::Nothing
    }

    /// A ping asked for through the API. `None` while another ping is outstanding: a pong
    /// carries nothing that says which ping it answers.
    pub fn user_ping(&mut self, num_pong_bytes: u16, now: Instant) -> Option<Message> {
        if self.outstanding.is_some() {
            return None;
        }
        Some(self.ping(num_pong_bytes, true, now))
    }

    fn ping(&mut self, num_pong_bytes: u16, requested: bool, now: Instant) -> Message {
        self.outstanding = Some(Outstanding {
            sent_at: now,
            num_pong_bytes,
            requested,
        });
        self.next_ping_at = now + self.ping_interval;
        Message::Ping(Ping::new(num_pong_bytes, 0))
    }
}

/// Encodes a message we built; our own messages are always within the limits.
pub fn encode(message: &Message) -> Vec<u8> {
    message.encode().unwrap_or_else(|e| {
        // Only a bug can get here (e.g. a too-large payload built locally); send nothing
        // rather than a truncated message.
        tracing::error!(error = %e, msg_type = message.msg_type(), "cannot encode our message");
        Vec::new()
    })
}

/// Encoded `init`, for the setup exchange.
pub fn encode_init(init: &Init) -> Vec<u8> {
    init.encode().expect("our init is far below the size limit")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Feature, Pong, RawMessage, TlvStream};

    const SEC: Duration = Duration::from_secs(1);

    fn session(now: Instant) -> Session {
        Session::new(30 * SEC, 20 * SEC, now)
    }

    fn bytes(m: impl Into<Message>) -> Vec<u8> {
        m.into().encode().unwrap()
    }

    #[test]
    fn pings_are_answered_with_the_requested_bytes_unless_oversized() {
        let now = Instant::now();
        let mut s = session(now);
        match s.on_message(&bytes(Ping::new(7, 3)), now) {
            Step::Reply(Message::Pong(p)) => assert_eq!(p.ignored, vec![0; 7]),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            s.on_message(&bytes(Ping::new(65532, 0)), now),
            Step::Nothing
        );
        assert!(matches!(
            s.on_message(&bytes(Ping::new(65531, 0)), now),
            Step::Reply(_)
        ));
    }

    #[test]
    fn unknown_odd_is_ignored_unknown_even_closes_with_a_warning() {
        let now = Instant::now();
        let mut s = session(now);
        let odd = RawMessage {
            msg_type: 32769,
            payload: vec![1, 2],
        };
        assert_eq!(s.on_message(&odd.encode().unwrap(), now), Step::Nothing);
        match s.on_message(&[0x80, 0x00, 1], now) {
            Step::Close(CloseReasonKind::UnknownEvenMessage(32768), Some(Message::Warning(w))) => {
                assert!(w.0.channel_id.is_all());
                assert!(w.0.printable_data().unwrap().contains("32768"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn malformed_known_message_and_second_init_close() {
        let now = Instant::now();
        let mut s = session(now);
        // A ping cut short.
        assert!(matches!(
            s.on_message(&[0x00, 0x12, 0x00], now),
            Step::Close(CloseReasonKind::Malformed(DecodeError::ShortRead), Some(_))
        ));
        let init = bytes(our_init(ChainHash::REGTEST));
        assert_eq!(
            s.on_message(&init, now),
            Step::Close(CloseReasonKind::DuplicateInit, None)
        );
    }

    #[test]
    fn channel_messages_errors_and_gossip_are_delivered() {
        let now = Instant::now();
        let mut s = session(now);
        let err = crate::wire::ErrorMessage(Diagnostic::new(ChannelId::ALL, "bye"));
        assert!(matches!(
            s.on_message(&bytes(err), now),
            Step::Deliver(Message::Error(_))
        ));
        assert!(matches!(
            s.on_message(
                &bytes(crate::wire::GossipTimestampFilter {
                    chain_hash: bitcoin::constants::ChainHash::REGTEST,
                    first_timestamp: 0,
                    timestamp_range: u32::MAX,
                    excess_data: Vec::new(),
                }),
                now
            ),
            Step::Deliver(Message::GossipTimestampFilter(_))
        ));
    }

    #[test]
    fn liveness_ping_then_pong_then_next_ping() {
        let t0 = Instant::now();
        let mut s = session(t0);
        assert_eq!(s.on_tick(t0 + 29 * SEC), Tick::Nothing);
        assert_eq!(s.next_deadline(), t0 + 30 * SEC);
        let Tick::SendPing(ping) = s.on_tick(t0 + 30 * SEC) else {
            panic!("ping due");
        };
        let Message::Ping(p) = *ping else {
            panic!("a ping");
        };
        let pong = Pong {
            ignored: vec![0; usize::from(p.num_pong_bytes)],
            extra_tlvs: TlvStream::new(),
        };
        assert_eq!(
            s.on_message(&bytes(pong.clone()), t0 + 31 * SEC),
            Step::Pong {
                rtt: SEC,
                requested: false
            }
        );
        // A second, unsolicited pong is ignored.
        assert_eq!(s.on_message(&bytes(pong), t0 + 32 * SEC), Step::Nothing);
        assert_eq!(s.next_deadline(), t0 + 60 * SEC);
        assert!(matches!(s.on_tick(t0 + 60 * SEC), Tick::SendPing(_)));
    }

    #[test]
    fn silence_after_a_ping_closes_but_any_message_extends_the_deadline() {
        let t0 = Instant::now();
        let mut s = session(t0);
        assert!(matches!(s.on_tick(t0 + 30 * SEC), Tick::SendPing(_)));
        assert_eq!(s.on_tick(t0 + 49 * SEC), Tick::Nothing);
        // An unrelated message at 45 s: the peer is alive, the deadline moves to 65 s.
        let odd = RawMessage {
            msg_type: 101,
            payload: vec![],
        };
        s.on_message(&odd.encode().unwrap(), t0 + 45 * SEC);
        assert_eq!(s.on_tick(t0 + 64 * SEC), Tick::Nothing);
        assert_eq!(
            s.on_tick(t0 + 65 * SEC),
            Tick::Close(CloseReasonKind::PongTimeout)
        );
    }

    #[test]
    fn a_user_ping_waits_for_its_own_pong_size() {
        let t0 = Instant::now();
        let mut s = session(t0);
        let Some(Message::Ping(p)) = s.user_ping(100, t0) else {
            panic!("ping");
        };
        assert_eq!(p.num_pong_bytes, 100);
        assert_eq!(s.user_ping(1, t0), None, "one at a time");
        let short = Pong {
            ignored: vec![0; 99],
            extra_tlvs: TlvStream::new(),
        };
        assert_eq!(s.on_message(&bytes(short), t0), Step::Nothing);
        let right = Pong {
            ignored: vec![0; 100],
            extra_tlvs: TlvStream::new(),
        };
        assert_eq!(
            s.on_message(&bytes(right), t0 + 2 * SEC),
            Step::Pong {
                rtt: 2 * SEC,
                requested: true
            }
        );
    }

    #[test]
    fn init_checks_chain_features_and_type() {
        let ours = Features::ours();
        let good = bytes(our_init(ChainHash::REGTEST));
        check_init(&good, &ours, ChainHash::REGTEST).unwrap();
        assert!(matches!(
            check_init(&good, &ours, ChainHash::BITCOIN),
            Err(SetupError::WrongChain)
        ));
        // No networks TLV: no claim, accepted.
        let mut open = our_init(ChainHash::REGTEST);
        open.networks = None;
        check_init(&bytes(open), &ours, ChainHash::BITCOIN).unwrap();
        // Missing payment_secret, which we require.
        let mut f = Features::ours();
        f.clear_bit(Feature::PaymentSecret.required_bit());
        let lacking = Init::new(f, vec![ChainHash::REGTEST]);
        assert!(matches!(
            check_init(&bytes(lacking), &ours, ChainHash::REGTEST),
            Err(SetupError::Features(_))
        ));
        assert!(matches!(
            check_init(&bytes(Ping::new(1, 0)), &ours, ChainHash::REGTEST),
            Err(SetupError::NotInit(18))
        ));
        assert!(matches!(
            check_init(&[0x00], &ours, ChainHash::REGTEST),
            Err(SetupError::BadInit(_))
        ));
    }
}
