//! Recognising the transaction that spent a channel's funding output.
//!
//! A commitment carries its number, obscured, in its locktime and its input's nSequence
//! (BOLT 3): both peers' commitments share the obscuring factor, so the number alone does not
//! say whose it is. Current commitments (ours, the peer's one or two unrevoked ones) are
//! rebuilt from the state and compared by txid. An older commitment of the peer's is recognised
//! by its revealed secret: the keys it derives must produce one of the transaction's outputs
//! (the peer's `to_local`, our `to_remote`, or an HTLC output of an HTLC we know).
//!
//! A commitment numbered above every one of the peer's we know is the peer's newer state:
//! ours is behind (restored from a backup, or lost some other way). Our `to_remote` on it pays
//! our static payment basepoint (`option_static_remotekey`), so it is recognised, and claimed,
//! without the peer's per-commitment point.

use bitcoin::Transaction;

use crate::bolt3::scripts::{p2wsh, to_local_script, to_remote_script_pubkey};
use crate::bolt3::secrets::per_commitment_point;
use crate::bolt3::{CommitmentTx, Side};
use crate::channel::commitments::{build_local, build_remote, parameters};
use crate::channel::{ChannelState, KeyMaterial};

use super::claims::{htlc_outputs, known_htlcs};

/// What spent the funding output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spend {
    /// A transaction both signed that is not a commitment: the cooperative close.
    Mutual,
    /// Our current commitment.
    Local { number: u64 },
    /// The peer's latest unrevoked commitment (`remote`, or `remote_waiting` if it was signed
    /// and not yet answered with a revocation).
    RemoteCurrent { number: u64 },
    /// A commitment of the peer's newer than any we know (our state is behind): only our
    /// `to_remote` can be claimed (its HTLC outputs need the peer's per-commitment point).
    RemoteFuture { number: u64 },
    /// An older commitment of the peer's, revoked: everything on it is ours.
    RemoteRevoked {
        number: u64,
        per_commitment_secret: [u8; 32],
    },
    /// Not a spend of this channel's funding output, or a commitment we cannot place (one of
    /// our own revoked commitments, which we never broadcast).
    Unknown,
}

/// Which case `spend` is for this channel. Never fails: a state without commitments or a
/// transaction that does not spend the funding output is [`Spend::Unknown`].
pub fn classify(state: &ChannelState, keys: &KeyMaterial, spend: &Transaction) -> Spend {
    let (Some(c), Ok(params)) = (&state.commitments, parameters(&state.setup)) else {
        return Spend::Unknown;
    };
    if spend.input.len() != 1 || spend.input[0].previous_output != params.funding_outpoint {
        return Spend::Unknown;
    }
    // The 2-of-2 needs our signature: a funding spend that is not shaped as a commitment can
    // only be a closing transaction we signed.
    let Some(number) = CommitmentTx::decode_commitment_number(spend, params.obscuring_factor())
    else {
        return Spend::Mutual;
    };
    let txid = spend.compute_txid();
    if number == c.local.number {
        if let Ok(ours) = build_local(keys, &state.setup, &c.local.spec, number) {
            if ours.txid() == txid {
                return Spend::Local { number };
            }
        }
    }
    for r in std::iter::once(&c.remote).chain(&c.remote_waiting) {
        if r.number != number {
            continue;
        }
        if let Ok(theirs) = build_remote(&state.setup, &r.spec, r.number, &r.point) {
            if theirs.txid() == txid {
                return Spend::RemoteCurrent { number };
            }
        }
    }
    let latest_remote = c.remote_waiting.as_ref().unwrap_or(&c.remote).number;
    if number > latest_remote {
        // Only the peer's commitments pay our static payment basepoint: ours pay it the
        // peer's. Without that output (our balance was dust or nothing) there is nothing to
        // place nor claim.
        let to_remote =
            to_remote_script_pubkey(params.channel_type, &state.setup.local_keys.payment);
        return if spend.output.iter().any(|o| o.script_pubkey == to_remote) {
            Spend::RemoteFuture { number }
        } else {
            Spend::Unknown
        };
    }
    if number >= c.remote.number {
        return Spend::Unknown;
    }
    let Ok(secret) = c.revocations.secret_for_commitment(number) else {
        return Spend::Unknown;
    };
    let Ok(point) = per_commitment_point(&secret) else {
        return Spend::Unknown;
    };
    let Ok(k) = params.commitment_keys(Side::Counterparty, &point) else {
        return Spend::Unknown;
    };
    let their_to_local = p2wsh(&to_local_script(
        &k.revocation_key,
        params.counterparty_to_self_delay,
        &k.local_delayed_key,
    ));
    let our_to_remote = to_remote_script_pubkey(params.channel_type, &k.remote_payment_key);
    let theirs = spend
        .output
        .iter()
        .any(|o| o.script_pubkey == their_to_local || o.script_pubkey == our_to_remote)
        || !htlc_outputs(params.channel_type, &k, spend, &known_htlcs(state)).is_empty();
    if theirs {
        Spend::RemoteRevoked {
            number,
            per_commitment_secret: secret,
        }
    } else {
        Spend::Unknown
    }
}
