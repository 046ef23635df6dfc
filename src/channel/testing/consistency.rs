//! A randomized consistency run, in the spirit of LDK's `chanmon_consistency`: two machines,
//! commands from both sides, messages delivered per direction in order (as TCP does) but with
//! arbitrary interleaving and delays, disconnections with reestablish, and crashes that restart
//! a machine from its last persisted snapshot (dropping whatever it had not sent yet).
//!
//! Each input byte is one action. Invariants, checked as the run goes (see [`super::harness`]):
//! never two signatures for one commitment number; no revocation secret released before the
//! commitment replacing it is persisted; value conserved in every persisted state; an honest
//! peer never refuses a message. At the end, after quiescence and settling every HTLC, both
//! sides agree and the balances are what the fulfilled payments say.

use std::collections::{HashMap, HashSet};

use super::harness::*;
use crate::channel::{Command, Event, Format, Input, Link, Output, Update};

const AMOUNTS_MSAT: [u64; 6] = [1_000, 600_000, 2_000_000, 5_000_000, 20_000_000, 90_000_000];
const FEERATES: [u32; 4] = [253, 1_000, 2_500, 6_000];
const PUSH_MSAT: u64 = 400_000_000;

pub struct Run {
    pub pair: Pair,
    /// Amount of every payment hash ever offered, and its preimage.
    payments: HashMap<[u8; 32], (u64, [u8; 32])>,
    next_payment: u64,
    /// Steps run (for reporting).
    pub steps: usize,
}

impl Run {
    pub fn new(format: Format) -> Run {
        Run {
            pair: Pair::open(format, PUSH_MSAT),
            payments: HashMap::new(),
            next_payment: 0,
            steps: 0,
        }
    }

    fn node(&mut self, a: bool) -> &mut Node {
        if a {
            &mut self.pair.a
        } else {
            &mut self.pair.b
        }
    }

    fn add(&mut self, a: bool, pick: u8) {
        self.next_payment += 1;
        let pre = preimage(self.next_payment);
        let amount = AMOUNTS_MSAT[usize::from(pick) % AMOUNTS_MSAT.len()];
        let hash = hash_of(&pre);
        // Refusals (limits, disconnected) are normal for commands.
        if self
            .node(a)
            .command(Command::AddHtlc {
                amount_msat: amount,
                payment_hash: hash,
                cltv_expiry: 700,
                onion: onion(),
                extra_fee_msat: None,
            })
            .is_ok()
        {
            self.payments.insert(hash, (amount, pre));
        }
    }

    /// HTLCs `a` may settle now: the peer's, committed on both sides, not being removed.
    fn settleable(&self, a: bool) -> Vec<(u64, [u8; 32])> {
        let n = if a { &self.pair.a } else { &self.pair.b };
        n.channel
            .received_htlcs_to_settle()
            .into_iter()
            .map(|h| (h.id, h.payment_hash))
            .collect()
    }

    fn settle(&mut self, a: bool, pick: u8) {
        let list = self.settleable(a);
        if list.is_empty() {
            return;
        }
        let (id, hash) = list[usize::from(pick) % list.len()];
        let pre = self
            .payments
            .get(&hash)
            .map(|p| p.1)
            .expect("every hash was offered here");
        let cmd = if pick % 3 == 0 {
            Command::Fail {
                id,
                reason: vec![pick],
            }
        } else {
            Command::Fulfill { id, preimage: pre }
        };
        let _ = self.node(a).command(cmd);
    }

    fn deliver(&mut self, from_a: bool) {
        if let Some(Err(r)) = self.pair.deliver_one(from_a) {
            panic!("honest peer refused a message: {}", r.error);
        }
    }

    /// The connection drops, losing what was in flight both ways, and comes back.
    fn reconnect(&mut self) {
        self.pair.disconnect();
        self.pair.reconnect();
    }

    /// The next message to `a` is processed, its snapshot persisted, and the machine dies
    /// before sending anything; it restarts from the snapshot and the connection is gone.
    fn crash_on_receive(&mut self, a: bool) {
        let from = if a {
            &mut self.pair.b
        } else {
            &mut self.pair.a
        };
        let Some(m) = from.outbox.pop_front() else {
            return;
        };
        let node = self.node(a);
        match node.channel.clone().handle(Input::Message(m.clone())) {
            Ok(out) => {
                let persisted = out
                    .iter()
                    .take_while(|o| matches!(o, Output::Persist(_)))
                    .count();
                node.handle_limited(Input::Message(m), persisted)
                    .expect("accepted above");
            }
            Err(r) => panic!("honest peer refused a message: {}", r.error),
        }
        self.pair.disconnect();
        self.node(a).crash_and_restore();
        self.pair.reconnect();
    }

    pub fn step(&mut self, op: u8, arg: u8) {
        self.steps += 1;
        match op % 16 {
            0 | 1 => self.add(true, arg),
            2 | 3 => self.add(false, arg),
            4 => self.settle(true, arg),
            5 => self.settle(false, arg),
            6 => {
                let f = FEERATES[usize::from(arg) % FEERATES.len()];
                let _ = self
                    .pair
                    .a
                    .command(Command::UpdateFee { feerate_per_kw: f });
            }
            7..=9 => self.deliver(true),
            10..=12 => self.deliver(false),
            // Connection loss and crashes are rarer than deliveries, so the channel moves.
            13 if arg % 4 == 0 => self.reconnect(),
            14 if arg % 4 == 0 => self.crash_on_receive(arg % 8 == 0),
            13 | 14 => self.deliver(arg % 2 == 0),
            _ => {
                for _ in 0..(arg % 8) {
                    self.deliver(arg % 2 == 0);
                }
            }
        }
    }

    /// Reconnect, deliver everything, settle every HTLC left, and check both sides agree on
    /// balances that match the fulfilled payments exactly.
    pub fn finish(&mut self) {
        self.pair.deliver_all();
        for _ in 0..50 {
            let mut any = false;
            for a in [true, false] {
                for (id, hash) in self.settleable(a) {
                    let pre = self.payments[&hash].1;
                    self.node(a)
                        .command(Command::Fulfill { id, preimage: pre })
                        .expect("settle at rest");
                    any = true;
                }
            }
            self.pair.deliver_all();
            if !any {
                break;
            }
        }
        let p = &self.pair;
        for n in [&p.a, &p.b] {
            let c = n.channel.state().commitments.as_ref().unwrap();
            assert!(c.local.spec.htlcs.is_empty(), "HTLCs left after settling");
            assert_eq!(n.channel.state().link, Link::Connected);
        }
        p.assert_agree();
        // Every payment fulfilled moved its amount once from the offerer to the other side.
        let moved = |n: &Node| -> u64 {
            let hashes: HashSet<[u8; 32]> = n
                .events
                .iter()
                .filter_map(|e| match e {
                    Event::HtlcFulfilled { preimage, .. } => Some(hash_of(preimage)),
                    _ => None,
                })
                .collect();
            hashes.iter().map(|h| self.payments[h].0).sum()
        };
        let a_paid = moved(&p.a);
        let b_paid = moved(&p.b);
        let a_start = FUNDING_SAT * 1000 - PUSH_MSAT;
        assert_eq!(
            p.a.channel.balances_msat().0,
            a_start + b_paid - a_paid,
            "balances follow the payments"
        );
        let no_pending_updates = |n: &Node| {
            let c = n.channel.state().commitments.as_ref().unwrap();
            c.local_changes
                .all()
                .chain(c.remote_changes.all())
                .all(|u| matches!(u, Update::Fee { .. }))
        };
        assert!(no_pending_updates(&p.a) && no_pending_updates(&p.b));
    }
}

/// One run driven by `bytes` (two per action).
pub fn run_bytes(format: Format, bytes: &[u8]) -> Run {
    let mut run = Run::new(format);
    for pair in bytes.chunks_exact(2) {
        run.step(pair[0], pair[1]);
    }
    run.finish();
    run
}
