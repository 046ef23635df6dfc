//! One outgoing payment while it is being paid: which parts are in flight, what their failures
//! taught us, and what to do next. Pure: the payer (`node::payer`) finds the routes, sends the
//! parts and reports their outcomes; this decides.
//!
//! Two rules carry the money:
//! - the parts in flight and through never add up to more than the amount asked
//!   ([`Session::remaining_msat`]), so no two attempts can together overpay;
//! - once one part is fulfilled the payment has succeeded (a payee releases the preimage only
//!   for the whole amount), and nothing new is sent.

use std::collections::{HashMap, HashSet};

use bitcoin::secp256k1::PublicKey;

use crate::invoice::RouteHint;
use crate::onion::failure::{NODE, UPDATE};
use crate::routing::{Constraints, Path, PolicyOverride, Scorer};
use crate::wire::ShortChannelId;

/// Attempts one payment may make at most, whatever its timeout: each failure teaches us
/// something, but a graph can hold many near-identical paths.
pub const MAX_ATTEMPTS: u32 = 64;

/// BOLT 4 failure codes the decisions name.
const TEMPORARY_CHANNEL_FAILURE: u16 = 0x1000 | 7;
const MPP_TIMEOUT: u16 = 23;

/// What to pay, as the invoice (or the keysend request) says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub payment_hash: [u8; 32],
    pub payee: PublicKey,
    /// What the payee receives in total.
    pub amount_msat: u64,
    pub payment_secret: Option<[u8; 32]>,
    pub payment_metadata: Option<Vec<u8>>,
    /// Keysend: the preimage travels in the onion.
    pub keysend_preimage: Option<[u8; 32]>,
    pub hints: Vec<RouteHint>,
    pub min_final_cltv_expiry_delta: u32,
    /// The payee accepts multi-part payments (`basic_mpp` in its invoice).
    pub mpp: bool,
    pub max_fee_msat: u64,
    pub max_total_cltv_expiry_delta: u32,
    /// Unix seconds after which no new part is sent.
    pub deadline_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PartStatus {
    Pending,
    Succeeded,
    Failed,
}

#[derive(Debug, Clone)]
struct Part {
    amount_msat: u64,
    fee_msat: u64,
    /// The graph and hint channels it uses (after ours), with the amount each carries.
    channels: Vec<((ShortChannelId, u8), u64)>,
    status: PartStatus,
}

/// A failed part, as the payer read it from the error onion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// A hop's failure: `hop` counts from 0 = the first node after us; the payee is the
    /// last. `update` is the `channel_update` it carried, once the payer checked it (signed
    /// by the erring node, for the channel it failed, newer than what we used).
    Onion {
        hop: usize,
        code: u16,
        update: Option<PolicyOverride>,
    },
    /// No hop's key opens it: someone on the path garbled it.
    Unreadable,
    /// Our peer could not read the onion we sent (`update_fail_malformed_htlc`).
    Malformed,
    /// The HTLC never got through (our peer disconnected before committing it, or it was
    /// dropped): nothing learnt about the path.
    Gone,
}

/// What to do now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Find routes for this much more and send them.
    Send {
        amount_msat: u64,
    },
    /// Parts are in flight; wait for them.
    Wait,
    Succeeded,
    Failed(String),
}

/// The payment being paid.
#[derive(Debug, Clone)]
pub struct Session {
    pub target: Target,
    parts: HashMap<u32, Part>,
    pub constraints: Constraints,
    attempts: u32,
    next_id: u32,
    /// Our channels that refused a part of this payment (their limits changed since the
    /// route was found): not tried again.
    pub refused_channels: HashSet<[u8; 32]>,
    /// Set when a failure means no retry can succeed (the payee refused).
    final_failure: Option<String>,
    last_failure: Option<String>,
}

impl Session {
    pub fn new(target: Target) -> Self {
        Session {
            target,
            parts: HashMap::new(),
            constraints: Constraints::default(),
            attempts: 0,
            next_id: 0,
            refused_channels: HashSet::new(),
            final_failure: None,
            last_failure: None,
        }
    }

    /// What is neither in flight nor through: the most the next parts may deliver together.
    pub fn remaining_msat(&self) -> u64 {
        let committed: u64 = self
            .parts
            .values()
            .filter(|p| p.status != PartStatus::Failed)
            .map(|p| p.amount_msat)
            .sum();
        self.target.amount_msat.saturating_sub(committed)
    }

    /// The fees the next parts may spend together.
    pub fn fee_budget_msat(&self) -> u64 {
        let committed: u64 = self
            .parts
            .values()
            .filter(|p| p.status != PartStatus::Failed)
            .map(|p| p.fee_msat)
            .sum();
        self.target.max_fee_msat.saturating_sub(committed)
    }

    pub fn pending(&self) -> usize {
        self.parts
            .values()
            .filter(|p| p.status == PartStatus::Pending)
            .count()
    }

    /// Attempt ids below `next` are taken (by attempts stored before).
    pub fn skip_ids(&mut self, next: u32) {
        self.next_id = self.next_id.max(next);
    }

    /// The id of the next attempt.
    pub fn take_id(&mut self) -> u32 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// A part is on its way (or was, before a restart: `pending` false records a resolved one).
    pub fn part_sent(&mut self, id: u32, path: &Path) {
        let channels = path
            .channels()
            .into_iter()
            .zip(path.forwarded_amounts())
            .collect::<Vec<_>>();
        for (c, amount) in &channels {
            *self.constraints.in_flight.entry(*c).or_default() += amount;
        }
        self.attempts += 1;
        self.parts.insert(
            id,
            Part {
                amount_msat: path.amount_msat,
                fee_msat: path.fee_msat,
                channels,
                status: PartStatus::Pending,
            },
        );
    }

    /// A part sent before a restart, known only by its amounts: it counts against the
    /// amount and the fees, not against any channel's liquidity.
    pub fn part_restored(&mut self, id: u32, amount_msat: u64, fee_msat: u64, pending: bool) {
        self.attempts += 1;
        self.parts.insert(
            id,
            Part {
                amount_msat,
                fee_msat,
                channels: Vec::new(),
                status: if pending {
                    PartStatus::Pending
                } else {
                    PartStatus::Failed
                },
            },
        );
    }

    /// The parts' HTLC was fulfilled. Returns `false` for a part not pending (a repeat).
    pub fn part_succeeded(&mut self, id: u32) -> bool {
        self.settle(id, PartStatus::Succeeded)
    }

    fn settle(&mut self, id: u32, status: PartStatus) -> bool {
        let Some(part) = self.parts.get_mut(&id) else {
            return false;
        };
        if part.status != PartStatus::Pending {
            return false;
        }
        part.status = status;
        for (c, amount) in &part.channels {
            if let Some(used) = self.constraints.in_flight.get_mut(c) {
                *used = used.saturating_sub(*amount);
            }
        }
        true
    }

    /// A part failed: learn from it (this payment's constraints, and the scorer every payment
    /// shares). `path` is the failed part's route; `description` is what people read.
    /// Returns `false` for a part not pending (a repeat).
    pub fn part_failed(
        &mut self,
        id: u32,
        path_nodes: &[PublicKey],
        failure: &Failure,
        description: &str,
        scorer: &mut Scorer,
        now_secs: u64,
    ) -> bool {
        let channels: Vec<((ShortChannelId, u8), u64)> = match self.parts.get(&id) {
            Some(p) if p.status == PartStatus::Pending => p.channels.clone(),
            _ => return false,
        };
        self.settle(id, PartStatus::Failed);
        self.last_failure = Some(description.to_string());
        let payee_hop = path_nodes.len().saturating_sub(1);
        match failure {
            Failure::Gone => {}
            Failure::Malformed => {
                // Our peer could not read what we built for it: do not send it the same again.
                if let Some(first) = path_nodes.first() {
                    if *first != self.target.payee {
                        self.constraints.avoid_nodes.insert(*first);
                    } else {
                        self.final_failure = Some(description.to_string());
                    }
                }
            }
            Failure::Unreadable => {
                // Someone on the path garbled the error: every channel of it is suspect.
                for ((scid, dir), amount) in &channels {
                    self.constraints.avoid_channels.insert((*scid, *dir));
                    scorer.channel_failed(*scid, *dir, *amount, now_secs);
                }
                if channels.is_empty() {
                    self.final_failure = Some(description.to_string());
                }
            }
            Failure::Onion { hop, code, update } => {
                if *hop >= payee_hop {
                    self.learn_from_payee(*code, description);
                } else {
                    let node = path_nodes[*hop];
                    let out = channels.get(*hop).copied();
                    self.learn_from_hop(node, *code, *update, out, scorer, now_secs);
                }
            }
        }
        true
    }

    fn learn_from_payee(&mut self, code: u16, description: &str) {
        // The payee timed the set out (some part never came): the whole amount may go again.
        // Any other answer of the payee's is final (unknown hash, wrong amount, expiry).
        if code != MPP_TIMEOUT {
            self.final_failure = Some(description.to_string());
        }
    }

    fn learn_from_hop(
        &mut self,
        node: PublicKey,
        code: u16,
        update: Option<PolicyOverride>,
        out: Option<((ShortChannelId, u8), u64)>,
        scorer: &mut Scorer,
        now_secs: u64,
    ) {
        if code & NODE != 0 {
            self.constraints.avoid_nodes.insert(node);
            scorer.node_failed(&node, now_secs);
            return;
        }
        // The erring node's outgoing channel (for a bad onion: the one into the node that
        // could not read it, which is the same channel).
        let Some((out, amount)) = out else {
            self.constraints.avoid_nodes.insert(node);
            return;
        };
        if code & UPDATE != 0 {
            if let Some(policy) = update {
                // BOLT 4: a valid, newer update is applied to this payment's retries; it
                // stays out of the graph and is never relayed, so the payment does not reveal
                // that we were its sender.
                let known = self.constraints.policy_overrides.get(&out);
                if known != Some(&policy) {
                    self.constraints.policy_overrides.insert(out, policy);
                    if code == TEMPORARY_CHANNEL_FAILURE {
                        self.learn_liquidity(out, amount, scorer, now_secs);
                    }
                    return;
                }
            }
        }
        if code == TEMPORARY_CHANNEL_FAILURE {
            self.learn_liquidity(out, amount, scorer, now_secs);
            return;
        }
        self.constraints.avoid_channels.insert(out);
        scorer.channel_failed(out.0, out.1, amount, now_secs);
    }

    /// The channel could not carry `amount` on top of our other parts on it: it is assumed
    /// to carry at most one msat less in all, so smaller parts may still pass.
    fn learn_liquidity(
        &mut self,
        c: (ShortChannelId, u8),
        amount: u64,
        scorer: &mut Scorer,
        now_secs: u64,
    ) {
        let others = self.constraints.in_flight.get(&c).copied().unwrap_or(0);
        let tried = others.saturating_add(amount);
        let bound = self.constraints.max_liquidity.entry(c).or_insert(u64::MAX);
        *bound = (*bound).min(tried.saturating_sub(1));
        if *bound == 0 {
            self.constraints.avoid_channels.insert(c);
        }
        scorer.channel_failed(c.0, c.1, amount, now_secs);
    }

    /// What to do now. `no_route` is why the last search for routes found none, if it did.
    pub fn next(&self, now_secs: u64) -> Next {
        if self
            .parts
            .values()
            .any(|p| p.status == PartStatus::Succeeded)
        {
            return Next::Succeeded;
        }
        let pending = self.pending();
        if let Some(why) = &self.final_failure {
            return if pending > 0 {
                Next::Wait
            } else {
                Next::Failed(why.clone())
            };
        }
        let remaining = self.remaining_msat();
        if remaining == 0 {
            return Next::Wait;
        }
        let out_of_time = now_secs >= self.target.deadline_secs;
        if out_of_time || self.attempts >= MAX_ATTEMPTS {
            if pending > 0 {
                return Next::Wait;
            }
            let why = if out_of_time {
                "the payment timed out"
            } else {
                "the payment made too many attempts"
            };
            return Next::Failed(match &self.last_failure {
                Some(last) => format!("{why}; the last attempt failed: {last}"),
                None => why.to_string(),
            });
        }
        Next::Send {
            amount_msat: remaining,
        }
    }

    /// No route for what remains: fail now if nothing is in flight, else wait for the parts
    /// out there (a failure among them may free a better way).
    pub fn no_route(&mut self, why: &str) -> Next {
        let why = match &self.last_failure {
            Some(last) => format!("{why} (the last attempt failed: {last})"),
            None => why.to_string(),
        };
        if self.pending() > 0 {
            self.last_failure = Some(why);
            Next::Wait
        } else {
            self.final_failure = Some(why.clone());
            Next::Failed(why)
        }
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
