//! The persisted channel state: lifecycle phase, fixed setup, commitments and change lists.
//!
//! Everything here is `serde`: the store writes what changed of the [`ChannelState`] with each
//! transition (the `Persist` output; `store::channel_parts` says how it is cut). No secret is in it: our keys are re-derived from the node seed
//! ([`super::KeyMaterial`]) and the peer's revealed secrets are in the compact
//! [`RevocationStore`], which is only useful to us.

use bitcoin::secp256k1::ecdsa::Signature;
use bitcoin::secp256k1::PublicKey;
use bitcoin::{OutPoint, ScriptBuf, Transaction};
use serde::{Deserialize, Serialize};

use crate::bolt3::{ChannelPublicKeys, ChannelType, RevocationStore};
use crate::wire::ShortChannelId;

use std::collections::BTreeMap;

use super::changes::{LocalChanges, Onion, Origin, RemoteChanges, Spec, Update};
use super::limits::{ChannelConfig, SideParams};

/// Where the channel is in its life. See the lifecycle drawing in `channel-spec/channel.md`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// Opener: `open_channel` sent, waiting for `accept_channel`.
    OpenSent,
    /// Opener: `accept_channel` received, waiting for the wallet's funding transaction.
    AwaitingFundingTx,
    /// Opener: `funding_created` sent, waiting for `funding_signed`.
    FundingCreatedSent,
    /// Acceptor: `accept_channel` sent, waiting for `funding_created`.
    AcceptSent,
    /// Both first commitments are signed; waiting for depth and both `channel_ready`.
    AwaitingReady {
        /// We sent `channel_ready` (the funding reached our depth and, for the acceptor, the
        /// output checked out).
        ready_sent: bool,
        /// The peer's `channel_ready` arrived: its second per-commitment point is known.
        ready_received: bool,
    },
    /// Payments flow. `shutdown` moves on to [`Phase::ShuttingDown`].
    Normal,
    /// `shutdown` sent and/or received: no new HTLCs, the existing ones settle.
    ShuttingDown,
    /// No HTLCs left: `closing_signed` fee negotiation.
    Negotiating,
    /// The mutual close is agreed and broadcast; waiting for it to confirm.
    Closing { tx: Transaction },
    /// We broadcast our commitment (force close); waiting for the funding spend to confirm.
    ForceClosing { tx: Transaction },
    /// The funding output is spent and confirmed: nothing left to do.
    Closed,
    /// Refused or abandoned before funding, or funded by a transaction that can never confirm
    /// ([`ChannelState::funding_lost`]): nothing to enforce on chain.
    Aborted,
}

impl Phase {
    pub fn name(&self) -> &'static str {
        match self {
            Phase::OpenSent => "open_sent",
            Phase::AwaitingFundingTx => "awaiting_funding_tx",
            Phase::FundingCreatedSent => "funding_created_sent",
            Phase::AcceptSent => "accept_sent",
            Phase::AwaitingReady { .. } => "awaiting_channel_ready",
            Phase::Normal => "normal",
            Phase::ShuttingDown => "shutting_down",
            Phase::Negotiating => "negotiating",
            Phase::Closing { .. } => "closing",
            Phase::ForceClosing { .. } => "force_closing",
            Phase::Closed => "closed",
            Phase::Aborted => "aborted",
        }
    }
}

/// `ChannelType` as persisted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Format {
    StaticRemoteKey,
    Anchors,
}

impl From<Format> for ChannelType {
    fn from(f: Format) -> ChannelType {
        match f {
            Format::StaticRemoteKey => ChannelType::StaticRemoteKey,
            Format::Anchors => ChannelType::AnchorsZeroFeeHtlc,
        }
    }
}

/// `ChannelPublicKeys` as persisted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PubKeys {
    pub funding: PublicKey,
    pub revocation: PublicKey,
    pub payment: PublicKey,
    pub delayed_payment: PublicKey,
    pub htlc: PublicKey,
}

impl From<ChannelPublicKeys> for PubKeys {
    fn from(k: ChannelPublicKeys) -> Self {
        PubKeys {
            funding: k.funding_pubkey,
            revocation: k.revocation_basepoint,
            payment: k.payment_basepoint,
            delayed_payment: k.delayed_payment_basepoint,
            htlc: k.htlc_basepoint,
        }
    }
}

impl From<PubKeys> for ChannelPublicKeys {
    fn from(k: PubKeys) -> Self {
        ChannelPublicKeys {
            funding_pubkey: k.funding,
            revocation_basepoint: k.revocation,
            payment_basepoint: k.payment,
            delayed_payment_basepoint: k.delayed_payment,
            htlc_basepoint: k.htlc,
        }
    }
}

/// What is fixed once both sides agreed to open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Setup {
    pub chain_hash: [u8; 32],
    pub temporary_channel_id: [u8; 32],
    pub opener: Origin,
    pub format: Format,
    pub funding_sat: u64,
    pub push_msat: u64,
    /// The feerate of the first commitments.
    pub initial_feerate_per_kw: u32,
    /// What we announced (constrains the peer) and what the peer announced (constrains us).
    pub local: SideParams,
    pub remote: Option<SideParams>,
    pub local_keys: PubKeys,
    pub remote_keys: Option<PubKeys>,
    /// The peer's point for its commitment 0, from `open_channel`/`accept_channel`.
    pub remote_first_point: Option<PublicKey>,
    /// Depth we wait for: the larger of ours and what the acceptor asked.
    pub minimum_depth: u32,
    pub funding_outpoint: Option<OutPoint>,
    /// Opener: the funding transaction, kept after `funding_signed` so the owner can broadcast
    /// it again until it confirms (a crash may fall between the persist and the broadcast).
    pub funding_tx: Option<Transaction>,
    /// Opener: our signature on the peer's commitment 0, sent in `funding_created`.
    #[serde(with = "super::snapshot_hex::opt_sig")]
    pub first_remote_sig: Option<Signature>,
    /// Where our funds go on a cooperative close unless `Command::Close` names another script.
    pub shutdown_script: ScriptBuf,
    pub announce: bool,
    /// The close script the peer committed to in `upfront_shutdown_script` (absent or empty:
    /// none); its `shutdown` must name exactly this one.
    #[serde(default)]
    pub remote_upfront_script: Option<ScriptBuf>,
    /// `option_scid_alias` in the channel type: the channel is known by its aliases only, its
    /// real short channel id is never used for it (a private channel's privacy).
    #[serde(default)]
    pub scid_alias: bool,
    /// `option_zeroconf` in the channel type: `channel_ready` without waiting for the funding
    /// to confirm. The acceptor trusts the opener not to double-spend the funding.
    #[serde(default)]
    pub zero_conf: bool,
}

/// Our current commitment: the peer's signatures make it broadcastable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalCommit {
    pub number: u64,
    pub spec: Spec,
    #[serde(with = "super::snapshot_hex::sig")]
    pub remote_sig: Signature,
    /// In commitment output order.
    #[serde(with = "super::snapshot_hex::sigs")]
    pub remote_htlc_sigs: Vec<Signature>,
}

/// A commitment of the peer's that we signed. The signatures are kept so a retransmission
/// after reconnection sends the very same ones: we never sign two states for one number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteCommit {
    pub number: u64,
    pub spec: Spec,
    /// The peer's per-commitment point for this commitment.
    pub point: PublicKey,
    #[serde(with = "super::snapshot_hex::opt_sig")]
    pub sig: Option<Signature>,
    #[serde(with = "super::snapshot_hex::sigs")]
    pub htlc_sigs: Vec<Signature>,
}

/// Which of our last `revoke_and_ack` and `commitment_signed` went out last: a retransmission
/// repeats them in the original order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LastSent {
    RevokeAndAck,
    CommitmentSigned,
}

/// Both commitments and everything in flight between them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commitments {
    pub local: LocalCommit,
    /// The peer's latest commitment it has not revoked yet (the one before `remote_waiting`).
    pub remote: RemoteCommit,
    /// A commitment we signed for the peer and await its revocation of `remote` for: at most
    /// one unrevoked commitment we signed at a time.
    pub remote_waiting: Option<RemoteCommit>,
    /// The peer's point for commitment `remote.number + 1`, when we may sign it.
    pub remote_next_point: Option<PublicKey>,
    pub local_changes: LocalChanges,
    pub remote_changes: RemoteChanges,
    pub local_next_htlc_id: u64,
    pub remote_next_htlc_id: u64,
    /// The peer's revealed per-commitment secrets.
    #[serde(with = "revocation_store_serde")]
    pub revocations: RevocationStore,
    pub last_sent: LastSent,
    /// Our fulfills and fails dropped by a disconnection, proposed again after reestablish
    /// (the preimage must reach the peer; the hub already considers them done).
    pub to_repropose: Vec<Update>,
    /// Incoming HTLCs that took our dust exposure over the cap: failed back once committed.
    #[serde(default)]
    pub dust_rejects: Vec<u64>,
    /// Regtest only: our previous, revoked commitment with the peer's signatures, kept for the
    /// `dev cheat` drill (broadcasting it must lose everything to the peer's penalty).
    #[serde(default)]
    pub previous_local: Option<LocalCommit>,
    /// The onions of the peer's irrevocably committed HTLCs, by id, until the HTLC leaves
    /// both commitments: the hub may need to peel one again after a restart.
    ///
    /// Not in the serialized snapshot: the store keeps each onion in a row of its own,
    /// written once ([`crate::store::channels::save`]). Inline, every in-flight HTLC's
    /// 2,732 hex characters were rewritten with each state of the channel; out of it, the
    /// hub's CPU per payment fell 7 % at 64 payments in flight (`scripts/bench`). Older
    /// snapshots still carry them and are read as before.
    #[serde(default, skip_serializing)]
    pub received_onions: BTreeMap<u64, Onion>,
}

/// The connection as the channel sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Link {
    Disconnected,
    /// Connected; `channel_reestablish` sent, the peer's not yet received.
    Reestablishing,
    Connected,
}

/// Cooperative close bookkeeping.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloseState {
    pub local_script: Option<ScriptBuf>,
    pub remote_script: Option<ScriptBuf>,
    pub shutdown_sent: bool,
    /// Our last `closing_signed` offer (fee, signature).
    pub our_offer: Option<(u64, Signature)>,
    /// Our closing fee bounds, fixed at the start of negotiation.
    pub fee_range: Option<(u64, u64)>,
    /// `option_shutdown_anysegwit` is negotiated on the current connection.
    #[serde(default)]
    pub peer_anysegwit: bool,
    /// The latest closing feerates from the owner (target, most we pay; sat/kw), see
    /// [`super::Input::ClosingFeerates`]; `None`: the config's.
    #[serde(default)]
    pub feerates: Option<(u32, u32)>,
}

/// The whole state of one channel, written by the store after each transition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelState {
    pub config: ChannelConfig,
    pub channel_id: [u8; 32],
    pub phase: Phase,
    pub setup: Setup,
    pub commitments: Option<Commitments>,
    pub link: Link,
    pub close: CloseState,
    /// The peer proved we lost state: nothing we hold may be broadcast.
    pub behind: bool,
    /// Installed from a backup (`chanhub restore`): the state may be older than the last one
    /// we signed, so our commitment may be revoked. Like [`ChannelState::behind`], nothing we
    /// hold is broadcast and no update is accepted or sent; on reconnection we ask the peer
    /// to close, and the on-chain monitor takes our balance from its commitment.
    #[serde(default)]
    pub restored: bool,
    /// When the peer proved we are behind: its `my_current_per_commitment_point` from that
    /// `channel_reestablish`, the point of the commitment it will broadcast. With it the HTLC
    /// outputs we know of can be claimed from that newer commitment too.
    #[serde(default)]
    pub peer_current_point: Option<PublicKey>,
    /// The latest block height we were told about.
    pub height: u32,
    /// The confirmed transaction that spent the funding output: the on-chain resolution
    /// (`crate::onchain`) works from it once the channel is closed.
    #[serde(default)]
    pub funding_spend: Option<Transaction>,
    /// How the funding spend's outputs were finally settled; set by the owner's monitor
    /// ([`super::Input::Resolved`]). While `None` after a funding spend, the monitor works.
    #[serde(default)]
    pub resolution: Option<super::Resolution>,
    /// The alias we chose for this channel (the owner draws it at random) and send in every
    /// `channel_ready`: the peer puts it in its invoices' route hints, and an onion naming it
    /// means "forward over this channel". `None` only for channels persisted before aliases.
    #[serde(default)]
    pub local_alias: Option<ShortChannelId>,
    /// The latest alias the peer sent in `channel_ready`: what we put in our invoices' route
    /// hints for this channel, and the `short_channel_id` of the `channel_update` we send it.
    #[serde(default)]
    pub remote_alias: Option<ShortChannelId>,
    /// Why the funding will never confirm, once the owner found out (a zero-conf funding
    /// double-spent): the channel is [`Phase::Aborted`] and its HTLCs can never be settled.
    #[serde(default)]
    pub funding_lost: Option<super::FundingLost>,
}

impl ChannelState {
    /// We must not act on this state: the peer proved it is behind, or it came from a backup.
    /// Our commitment is never broadcast and the channel takes no update; only the peer's
    /// close (its commitment on chain) settles it.
    pub fn is_passive(&self) -> bool {
        self.behind || self.restored
    }
}

mod revocation_store_serde {
    use crate::bolt3::RevocationStore;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(store: &RevocationStore, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(store.to_bytes()))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<RevocationStore, D::Error> {
        let text = String::deserialize(d)?;
        let bytes = hex::decode(text).map_err(serde::de::Error::custom)?;
        RevocationStore::from_bytes(&bytes).map_err(serde::de::Error::custom)
    }
}
