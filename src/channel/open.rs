//! Opening (BOLT 2 "Channel Establishment", v1):
//!
//! ```text
//!  opener                                        acceptor
//!  open_channel        ----------------------->  Channel::accept (checks our limits)
//!                      <-----------------------  accept_channel
//!  Event::NeedFunding; Command::FundingTxReady
//!  funding_created     ----------------------->  (verifies, signs commitment 0)
//!                      <-----------------------  funding_signed
//!  Broadcast(funding)
//!  ... FundingConfirmed at minimum depth (the acceptor checks the output) ...
//!  channel_ready       <---------------------->  channel_ready
//! ```

use std::sync::Arc;

use bitcoin::constants::ChainHash;
use bitcoin::hashes::Hash;
use bitcoin::{OutPoint, ScriptBuf, Transaction};
use rand::Rng;

use crate::bolt3::funding::funding_output;
use crate::wire::{
    AcceptChannel, ChannelId, ChannelPoints, ChannelReady, Feature, Features, FundingCreated,
    FundingSigned, OpenChannel, OpenTlvs, ShortChannelId, TlvStream,
};

use super::changes::{Origin, Spec};
use super::commitments::{self, KeyMaterial};
use super::error::ChannelError;
use super::events::Event;
use super::limits::{opener_cost_msat, ChannelConfig, SideParams};
use super::state::{
    ChannelState, CloseState, Commitments, Format, LastSent, Link, LocalCommit, Phase,
    RemoteCommit, Setup,
};
use super::{Channel, Output, Refused, Step};
use crate::bolt3::RevocationStore;

/// What the opener chooses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenRequest {
    pub chain_hash: ChainHash,
    /// Random, unique among our channels with this peer.
    pub temporary_channel_id: [u8; 32],
    pub funding_sat: u64,
    pub push_msat: u64,
    pub feerate_per_kw: u32,
    /// We propose anchors; static_remotekey on request.
    pub format: Format,
    pub shutdown_script: ScriptBuf,
    pub announce: bool,
    /// Our alias for the channel, sent in `channel_ready` (see [`random_alias`]).
    pub alias: ShortChannelId,
    /// Both `init`s on this connection set `option_shutdown_anysegwit`.
    pub peer_anysegwit: bool,
    /// Propose `option_scid_alias` in the channel type (a private channel only).
    pub scid_alias: bool,
    /// Propose `option_zeroconf`: `channel_ready` as soon as `funding_signed` arrives. Only for
    /// a funding the peer can trust: ours, from confirmed coins, never replaced.
    pub zero_conf: bool,
}

/// Lowest block height of an alias: far above any real chain height for decades, so an alias
/// cannot be mistaken for a real short channel id (LDK draws its fake scids from the same range).
pub const ALIAS_MIN_BLOCK: u32 = 16_000_000;
/// Highest block height a short channel id can hold (3 bytes).
pub const ALIAS_MAX_BLOCK: u32 = (1 << 24) - 1;

/// A fresh random alias: block height in [`ALIAS_MIN_BLOCK`]..=[`ALIAS_MAX_BLOCK`], random
/// transaction index and output. About 2^56 values, so two channels of ours colliding is
/// negligible; the owner may still check against its existing aliases and draw again.
pub fn random_alias() -> ShortChannelId {
    let mut rng = rand::thread_rng();
    let block = rng.gen_range(ALIAS_MIN_BLOCK..=ALIAS_MAX_BLOCK);
    let tx_index = rng.gen_range(0..1u32 << 24);
    ShortChannelId::new(block, tx_index, rng.gen())
        .expect("block and tx index are drawn within 24 bits")
}

/// A channel type we run: a commitment format, with or without `option_scid_alias` and
/// `option_zeroconf`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Kind {
    format: Format,
    scid_alias: bool,
    zero_conf: bool,
}

fn channel_type_of(k: Kind) -> Features {
    let base = match k.format {
        Format::Anchors => Features::channel_type_anchors(),
        Format::StaticRemoteKey => Features::channel_type_static_remotekey(),
    };
    base.with_channel_flags(k.scid_alias, k.zero_conf)
}

/// BOLT 2 forbids `announce_channel` with the `option_scid_alias` channel type (such a channel
/// is known by its aliases only), on either side.
fn check_announce_type(ct: &Features, announce: bool) -> Result<(), ChannelError> {
    if announce && ct.supports(Feature::ScidAlias) {
        return Err(ChannelError::UnsupportedChannelType(
            "option_scid_alias with announce_channel".into(),
        ));
    }
    Ok(())
}

/// The only channel types we run: anchors, or static_remotekey as the fallback, each with or
/// without `option_scid_alias` and `option_zeroconf` (required bits only, as BOLT 2 wants).
fn kind_of(ct: Option<&Features>) -> Result<Kind, ChannelError> {
    let Some(ct) = ct else {
        return Err(ChannelError::UnsupportedChannelType(
            "channel_type is required".into(),
        ));
    };
    let mut base = ct.clone();
    base.clear_bit(Feature::ScidAlias.required_bit());
    base.clear_bit(Feature::ZeroConf.required_bit());
    let format = if base == Features::channel_type_anchors() {
        Format::Anchors
    } else if base == Features::channel_type_static_remotekey() {
        Format::StaticRemoteKey
    } else {
        return Err(ChannelError::UnsupportedChannelType(format!("{ct}")));
    };
    Ok(Kind {
        format,
        scid_alias: ct.requires(Feature::ScidAlias),
        zero_conf: ct.requires(Feature::ZeroConf),
    })
}

/// The close script the peer commits to in `upfront_shutdown_script`: none when the record is
/// absent or empty, else it must be one its `shutdown` could carry.
fn upfront_of(tlvs: &OpenTlvs, anysegwit: bool) -> Result<Option<ScriptBuf>, ChannelError> {
    match &tlvs.upfront_shutdown_script {
        Some(s) if !s.is_empty() => {
            if !super::close::shutdown_script_ok(s, anysegwit, true) {
                return Err(ChannelError::BadOpenParameter(
                    "upfront_shutdown_script is not a form BOLT 2 allows".into(),
                ));
            }
            Ok(Some(s.clone()))
        }
        _ => Ok(None),
    }
}

fn points(keys: &KeyMaterial) -> Result<ChannelPoints, ChannelError> {
    let k = keys.pubkeys;
    Ok(ChannelPoints {
        funding_pubkey: k.funding,
        revocation_basepoint: k.revocation,
        payment_basepoint: k.payment,
        delayed_payment_basepoint: k.delayed_payment,
        htlc_basepoint: k.htlc,
        first_per_commitment_point: keys.point(0)?,
    })
}

fn remote_keys(p: &ChannelPoints) -> super::state::PubKeys {
    super::state::PubKeys {
        funding: p.funding_pubkey,
        revocation: p.revocation_basepoint,
        payment: p.payment_basepoint,
        delayed_payment: p.delayed_payment_basepoint,
        htlc: p.htlc_basepoint,
    }
}

/// BOLT 2: `funding_txid` XOR `funding_output_index` in the last two bytes.
pub fn channel_id_from_funding(outpoint: &OutPoint) -> [u8; 32] {
    let mut id = outpoint.txid.to_byte_array();
    let vout = outpoint.vout as u16;
    id[30] ^= (vout >> 8) as u8;
    id[31] ^= (vout & 0xff) as u8;
    id
}

fn new_state(
    config: ChannelConfig,
    setup: Setup,
    alias: ShortChannelId,
    peer_anysegwit: bool,
) -> ChannelState {
    ChannelState {
        config,
        channel_id: setup.temporary_channel_id,
        phase: Phase::OpenSent,
        setup,
        commitments: None,
        link: Link::Connected,
        close: CloseState {
            peer_anysegwit,
            ..CloseState::default()
        },
        behind: false,
        restored: false,
        peer_current_point: None,
        height: 0,
        funding_spend: None,
        resolution: None,
        local_alias: Some(alias),
        remote_alias: None,
        funding_lost: None,
    }
}

/// The first spec: the opener has everything but the push.
fn first_spec(setup: &Setup) -> Spec {
    let opener_msat = setup.funding_sat * 1000 - setup.push_msat;
    let (local_msat, remote_msat) = match setup.opener {
        Origin::Local => (opener_msat, setup.push_msat),
        Origin::Remote => (setup.push_msat, opener_msat),
    };
    Spec {
        local_msat,
        remote_msat,
        htlcs: Vec::new(),
        feerate_per_kw: setup.initial_feerate_per_kw,
    }
}

fn params_of_open(m: &OpenChannel) -> SideParams {
    SideParams {
        dust_limit_sat: m.dust_limit_satoshis,
        max_htlc_value_in_flight_msat: m.max_htlc_value_in_flight_msat,
        channel_reserve_sat: m.channel_reserve_satoshis,
        htlc_minimum_msat: m.htlc_minimum_msat,
        to_self_delay: m.to_self_delay,
        max_accepted_htlcs: m.max_accepted_htlcs,
    }
}

impl Channel {
    /// Open a channel: the `open_channel` to send is in the outputs.
    pub fn open(
        config: ChannelConfig,
        keys: KeyMaterial,
        req: OpenRequest,
    ) -> Result<(Channel, Vec<Output>), ChannelError> {
        config.check_funding(req.funding_sat)?;
        config
            .check_feerate(req.feerate_per_kw)
            .map_err(ChannelError::BadOpenParameter)?;
        if req.push_msat > req.funding_sat * 1000 {
            return Err(ChannelError::BadOpenParameter(
                "push_msat above the capacity".into(),
            ));
        }
        let kind = Kind {
            format: req.format,
            scid_alias: req.scid_alias,
            zero_conf: req.zero_conf,
        };
        let channel_type = channel_type_of(kind);
        check_announce_type(&channel_type, req.announce)?;
        let local = config.our_params(req.funding_sat, 0);
        let msg = OpenChannel {
            chain_hash: req.chain_hash,
            temporary_channel_id: ChannelId(req.temporary_channel_id),
            funding_satoshis: req.funding_sat,
            push_msat: req.push_msat,
            dust_limit_satoshis: local.dust_limit_sat,
            max_htlc_value_in_flight_msat: local.max_htlc_value_in_flight_msat,
            channel_reserve_satoshis: local.channel_reserve_sat,
            htlc_minimum_msat: local.htlc_minimum_msat,
            feerate_per_kw: req.feerate_per_kw,
            to_self_delay: local.to_self_delay,
            max_accepted_htlcs: local.max_accepted_htlcs,
            points: points(&keys)?,
            channel_flags: if req.announce {
                OpenChannel::ANNOUNCE_CHANNEL
            } else {
                0
            },
            tlvs: OpenTlvs {
                // Always present (BOLT 2 requires it once both sides advertise
                // option_upfront_shutdown_script) and empty: we commit to no script, so a
                // close may still name any address.
                upfront_shutdown_script: Some(ScriptBuf::new()),
                channel_type: Some(channel_type),
                extra_tlvs: TlvStream::new(),
            },
        };
        let setup = Setup {
            chain_hash: req.chain_hash.to_bytes(),
            temporary_channel_id: req.temporary_channel_id,
            opener: Origin::Local,
            format: req.format,
            funding_sat: req.funding_sat,
            push_msat: req.push_msat,
            initial_feerate_per_kw: req.feerate_per_kw,
            local,
            remote: None,
            local_keys: keys.pubkeys,
            remote_keys: None,
            remote_first_point: None,
            minimum_depth: if req.zero_conf {
                0
            } else {
                config.minimum_depth
            },
            funding_outpoint: None,
            funding_tx: None,
            first_remote_sig: None,
            shutdown_script: req.shutdown_script,
            announce: req.announce,
            remote_upfront_script: None,
            scid_alias: req.scid_alias,
            zero_conf: req.zero_conf,
        };
        let state = Arc::new(new_state(config, setup, req.alias, req.peer_anysegwit));
        let out = vec![Output::Persist(state.clone()), Output::Send(msg.into())];
        Ok((Channel { state, keys }, out))
    }

    /// Accept the peer's `open_channel`, or refuse it with an `error` and an event. `alias` is
    /// ours for the channel, sent in `channel_ready` (see [`random_alias`]); `peer_anysegwit`:
    /// both `init`s on this connection set `option_shutdown_anysegwit`.
    pub fn accept(
        config: ChannelConfig,
        keys: KeyMaterial,
        chain_hash: ChainHash,
        open: &OpenChannel,
        shutdown_script: ScriptBuf,
        alias: ShortChannelId,
        peer_anysegwit: bool,
    ) -> Result<(Channel, Vec<Output>), Refused> {
        let accepted = Self::try_accept(
            config,
            keys,
            chain_hash,
            open,
            shutdown_script,
            alias,
            peer_anysegwit,
        );
        accepted.map_err(|error| {
            let text = error.to_string();
            Refused {
                outputs: vec![
                    Output::Send(
                        crate::wire::ErrorMessage(crate::wire::Diagnostic::new(
                            open.temporary_channel_id,
                            &text,
                        ))
                        .into(),
                    ),
                    Output::Event(Event::OpenFailed { reason: text }),
                ],
                error,
            }
        })
    }

    fn try_accept(
        config: ChannelConfig,
        keys: KeyMaterial,
        chain_hash: ChainHash,
        open: &OpenChannel,
        shutdown_script: ScriptBuf,
        alias: ShortChannelId,
        peer_anysegwit: bool,
    ) -> Result<(Channel, Vec<Output>), ChannelError> {
        if open.chain_hash != chain_hash {
            return Err(ChannelError::BadOpenParameter(
                "chain_hash is not our chain".into(),
            ));
        }
        if let Some(ct) = &open.tlvs.channel_type {
            check_announce_type(ct, open.announce_channel())?;
        }
        let kind = kind_of(open.tlvs.channel_type.as_ref())?;
        if kind.zero_conf && !config.accept_zero_conf {
            return Err(ChannelError::UnsupportedChannelType(
                "option_zeroconf from a peer we do not trust with it".into(),
            ));
        }
        let format = kind.format;
        // BOLT 2: a zero-conf channel's acceptor asks for no confirmation.
        let minimum_depth = if kind.zero_conf {
            0
        } else {
            config.minimum_depth
        };
        config.check_funding(open.funding_satoshis)?;
        config
            .check_feerate(open.feerate_per_kw)
            .map_err(ChannelError::BadOpenParameter)?;
        let funding_msat = open.funding_satoshis * 1000;
        if open.push_msat > funding_msat {
            return Err(ChannelError::BadOpenParameter(
                "push_msat above the capacity".into(),
            ));
        }
        let theirs = params_of_open(open);
        let local = config.our_params(open.funding_satoshis, theirs.dust_limit_sat);
        config.check_peer_params(open.funding_satoshis, &theirs, &local)?;
        let opener_msat = funding_msat - open.push_msat;
        let cost = opener_cost_msat(format.into(), open.feerate_per_kw, 0);
        if opener_msat < cost {
            return Err(ChannelError::BadOpenParameter(format!(
                "the opener's {opener_msat} msat cannot pay the first commitment's {cost} msat"
            )));
        }
        if opener_msat <= local.channel_reserve_sat * 1000
            && open.push_msat <= theirs.channel_reserve_sat * 1000
        {
            return Err(ChannelError::BadOpenParameter(
                "both balances are at or below the reserve".into(),
            ));
        }
        let msg = AcceptChannel {
            temporary_channel_id: open.temporary_channel_id,
            dust_limit_satoshis: local.dust_limit_sat,
            max_htlc_value_in_flight_msat: local.max_htlc_value_in_flight_msat,
            channel_reserve_satoshis: local.channel_reserve_sat,
            htlc_minimum_msat: local.htlc_minimum_msat,
            minimum_depth,
            to_self_delay: local.to_self_delay,
            max_accepted_htlcs: local.max_accepted_htlcs,
            points: points(&keys)?,
            tlvs: OpenTlvs {
                // Always present (BOLT 2 requires it once both sides advertise
                // option_upfront_shutdown_script) and empty: we commit to no script, so a
                // close may still name any address.
                upfront_shutdown_script: Some(ScriptBuf::new()),
                channel_type: Some(channel_type_of(kind)),
                extra_tlvs: TlvStream::new(),
            },
        };
        let setup = Setup {
            chain_hash: chain_hash.to_bytes(),
            temporary_channel_id: open.temporary_channel_id.0,
            opener: Origin::Remote,
            format,
            funding_sat: open.funding_satoshis,
            push_msat: open.push_msat,
            initial_feerate_per_kw: open.feerate_per_kw,
            local,
            remote: Some(theirs),
            local_keys: keys.pubkeys,
            remote_keys: Some(remote_keys(&open.points)),
            remote_first_point: Some(open.points.first_per_commitment_point),
            minimum_depth,
            funding_outpoint: None,
            funding_tx: None,
            first_remote_sig: None,
            shutdown_script,
            announce: open.announce_channel(),
            remote_upfront_script: upfront_of(&open.tlvs, peer_anysegwit)?,
            scid_alias: kind.scid_alias,
            zero_conf: kind.zero_conf,
        };
        let mut state = new_state(config, setup, alias, peer_anysegwit);
        state.phase = Phase::AcceptSent;
        let state = Arc::new(state);
        let out = vec![Output::Persist(state.clone()), Output::Send(msg.into())];
        Ok((Channel { state, keys }, out))
    }
}

impl Step<'_> {
    pub(super) fn on_accept_channel(&mut self, m: &AcceptChannel) -> Result<(), ChannelError> {
        if self.s.phase != Phase::OpenSent {
            return Err(self.unexpected("accept_channel"));
        }
        let kind = kind_of(m.tlvs.channel_type.as_ref())?;
        let setup = &self.s.setup;
        let proposed = Kind {
            format: setup.format,
            scid_alias: setup.scid_alias,
            zero_conf: setup.zero_conf,
        };
        if kind != proposed {
            return Err(ChannelError::UnsupportedChannelType(
                "accept_channel changed the channel_type".into(),
            ));
        }
        let cfg = &self.s.config;
        if m.minimum_depth > cfg.max_minimum_depth {
            return Err(ChannelError::BadOpenParameter(format!(
                "minimum_depth {} above {}",
                m.minimum_depth, cfg.max_minimum_depth
            )));
        }
        let theirs = SideParams {
            dust_limit_sat: m.dust_limit_satoshis,
            max_htlc_value_in_flight_msat: m.max_htlc_value_in_flight_msat,
            channel_reserve_sat: m.channel_reserve_satoshis,
            htlc_minimum_msat: m.htlc_minimum_msat,
            to_self_delay: m.to_self_delay,
            max_accepted_htlcs: m.max_accepted_htlcs,
        };
        cfg.check_peer_params(self.s.setup.funding_sat, &theirs, &self.s.setup.local)?;
        let upfront = upfront_of(&m.tlvs, self.s.close.peer_anysegwit)?;
        let setup = &mut self.s.setup;
        setup.remote = Some(theirs);
        setup.remote_keys = Some(remote_keys(&m.points));
        setup.remote_first_point = Some(m.points.first_per_commitment_point);
        // Zero-conf: we fund and are ready at once, whatever depth the acceptor names.
        if !setup.zero_conf {
            setup.minimum_depth = setup.minimum_depth.max(m.minimum_depth);
        }
        setup.remote_upfront_script = upfront;
        let script_pubkey = funding_output(
            setup.funding_sat,
            &setup.local_keys.funding,
            &m.points.funding_pubkey,
        )
        .script_pubkey;
        let amount_sat = setup.funding_sat;
        self.s.phase = Phase::AwaitingFundingTx;
        self.event(Event::NeedFunding {
            script_pubkey,
            amount_sat,
        });
        Ok(())
    }

    /// Whether output `vout` of `tx` is exactly the 2-of-2 funding output we agreed on.
    fn check_funding_output(&self, tx: &Transaction, vout: u32) -> Result<(), ChannelError> {
        let setup = &self.s.setup;
        let remote = setup
            .remote_keys
            .ok_or_else(|| ChannelError::BadFundingOutput("peer keys unknown".into()))?;
        let expected = funding_output(
            setup.funding_sat,
            &setup.local_keys.funding,
            &remote.funding,
        );
        match tx.output.get(vout as usize) {
            Some(o) if o.value != expected.value => Err(ChannelError::BadFundingOutput(format!(
                "output {vout} pays {} sat, not {}",
                o.value.to_sat(),
                setup.funding_sat
            ))),
            Some(o) if o.script_pubkey != expected.script_pubkey => Err(
                ChannelError::BadFundingOutput(format!("output {vout} is not the 2-of-2 script")),
            ),
            Some(_) => Ok(()),
            None => Err(ChannelError::BadFundingOutput(format!("no output {vout}"))),
        }
    }

    pub(super) fn on_funding_tx_ready(
        &mut self,
        tx: Transaction,
        vout: u32,
    ) -> Result<(), ChannelError> {
        if self.s.phase != Phase::AwaitingFundingTx {
            return Err(self.not_now("use a funding transaction"));
        }
        if vout > u32::from(u16::MAX) {
            return Err(ChannelError::BadFundingOutput(
                "output index above 65535".into(),
            ));
        }
        self.check_funding_output(&tx, vout)?;
        let outpoint = OutPoint::new(tx.compute_txid(), vout);
        self.s.setup.funding_outpoint = Some(outpoint);
        let spec = first_spec(&self.s.setup);
        let point = self.remote_first_point()?;
        let (sig, _) = commitments::sign_remote(self.keys, &self.s.setup, &spec, 0, &point)?;
        self.s.setup.funding_tx = Some(tx);
        self.s.setup.first_remote_sig = Some(sig);
        self.s.phase = Phase::FundingCreatedSent;
        self.send(FundingCreated {
            temporary_channel_id: ChannelId(self.s.setup.temporary_channel_id),
            funding_txid: outpoint.txid,
            funding_output_index: vout as u16,
            signature: sig,
            extra_tlvs: TlvStream::new(),
        });
        Ok(())
    }

    fn remote_first_point(&self) -> Result<bitcoin::secp256k1::PublicKey, ChannelError> {
        self.s
            .setup
            .remote_first_point
            .ok_or_else(|| ChannelError::Bolt3("peer's first point unknown".into()))
    }

    /// Both first commitments, once the peer's signature on ours is checked.
    fn first_commitments(
        &self,
        their_sig: &bitcoin::secp256k1::ecdsa::Signature,
        our_sig: bitcoin::secp256k1::ecdsa::Signature,
    ) -> Result<Commitments, ChannelError> {
        let spec = first_spec(&self.s.setup);
        commitments::verify_local(self.keys, &self.s.setup, &spec, 0, their_sig, &[])?;
        Ok(Commitments {
            local: LocalCommit {
                number: 0,
                spec: spec.clone(),
                remote_sig: *their_sig,
                remote_htlc_sigs: Vec::new(),
            },
            remote: RemoteCommit {
                number: 0,
                spec,
                point: self.remote_first_point()?,
                sig: Some(our_sig),
                htlc_sigs: Vec::new(),
            },
            remote_waiting: None,
            remote_next_point: None,
            local_changes: Default::default(),
            remote_changes: Default::default(),
            local_next_htlc_id: 0,
            remote_next_htlc_id: 0,
            revocations: RevocationStore::new(),
            last_sent: LastSent::RevokeAndAck,
            to_repropose: Vec::new(),
            dust_rejects: Vec::new(),
            received_onions: Default::default(),
            previous_local: None,
        })
    }

    pub(super) fn on_funding_created(&mut self, m: &FundingCreated) -> Result<(), ChannelError> {
        if self.s.phase != Phase::AcceptSent {
            return Err(self.unexpected("funding_created"));
        }
        let outpoint = OutPoint::new(m.funding_txid, u32::from(m.funding_output_index));
        self.s.setup.funding_outpoint = Some(outpoint);
        let spec = first_spec(&self.s.setup);
        let point = self.remote_first_point()?;
        let (our_sig, _) = commitments::sign_remote(self.keys, &self.s.setup, &spec, 0, &point)?;
        let c = self.first_commitments(&m.signature, our_sig)?;
        self.s.commitments = Some(c);
        self.s.channel_id = channel_id_from_funding(&outpoint);
        self.s.phase = Phase::AwaitingReady {
            ready_sent: false,
            ready_received: false,
        };
        self.send(FundingSigned {
            channel_id: self.channel_id(),
            signature: our_sig,
            extra_tlvs: TlvStream::new(),
        });
        self.event(Event::ChannelPending {
            channel_id: self.s.channel_id,
            funding_txid: outpoint.txid,
        });
        if self.s.setup.zero_conf {
            self.ready_without_confirmation()?;
        }
        Ok(())
    }

    /// Zero-conf: our `channel_ready` right after the first commitments are signed.
    fn ready_without_confirmation(&mut self) -> Result<(), ChannelError> {
        self.s.phase = Phase::AwaitingReady {
            ready_sent: true,
            ready_received: false,
        };
        self.send_channel_ready()
    }

    pub(super) fn on_funding_signed(&mut self, m: &FundingSigned) -> Result<(), ChannelError> {
        if self.s.phase != Phase::FundingCreatedSent {
            return Err(self.unexpected("funding_signed"));
        }
        let outpoint = self
            .s
            .setup
            .funding_outpoint
            .ok_or_else(|| self.unexpected("funding_signed"))?;
        let our_sig = self
            .s
            .setup
            .first_remote_sig
            .ok_or_else(|| self.unexpected("funding_signed"))?;
        if m.channel_id.0 != channel_id_from_funding(&outpoint) {
            return Err(ChannelError::BadOpenParameter(
                "funding_signed for another channel_id".into(),
            ));
        }
        let c = self.first_commitments(&m.signature, our_sig)?;
        self.s.commitments = Some(c);
        self.s.channel_id = m.channel_id.0;
        self.s.phase = Phase::AwaitingReady {
            ready_sent: false,
            ready_received: false,
        };
        // Persisted (first output) before the broadcast: once the funding is out we must be
        // able to get our money back with the commitment the peer just signed. The transaction
        // stays in the state so an owner that crashed before broadcasting can still do it.
        if let Some(tx) = self.s.setup.funding_tx.clone() {
            self.out.push(Output::Broadcast(tx));
        }
        self.event(Event::ChannelPending {
            channel_id: self.s.channel_id,
            funding_txid: outpoint.txid,
        });
        if self.s.setup.zero_conf {
            self.ready_without_confirmation()?;
        }
        Ok(())
    }

    pub(super) fn on_funding_confirmed(
        &mut self,
        depth: u32,
        tx: &Transaction,
    ) -> Result<(), ChannelError> {
        let Phase::AwaitingReady {
            ready_sent,
            ready_received,
        } = self.s.phase
        else {
            return Ok(());
        };
        let Some(outpoint) = self.s.setup.funding_outpoint else {
            return Ok(());
        };
        if tx.compute_txid() != outpoint.txid {
            return Err(ChannelError::BadFundingOutput(
                "the confirmed transaction is not the funding transaction".into(),
            ));
        }
        self.check_funding_output(tx, outpoint.vout)?;
        if ready_sent || depth < self.s.setup.minimum_depth {
            return Ok(());
        }
        self.s.phase = Phase::AwaitingReady {
            ready_sent: true,
            ready_received,
        };
        if self.s.link == Link::Connected {
            self.send_channel_ready()?;
        }
        self.maybe_ready();
        Ok(())
    }

    /// Our `channel_ready`, first or retransmitted: always with our alias.
    pub(super) fn send_channel_ready(&mut self) -> Result<(), ChannelError> {
        let point = self.keys.point(1)?;
        self.send(ChannelReady {
            channel_id: self.channel_id(),
            second_per_commitment_point: point,
            short_channel_id_alias: self.s.local_alias,
            extra_tlvs: TlvStream::new(),
        });
        Ok(())
    }

    pub(super) fn on_channel_ready(&mut self, m: &ChannelReady) -> Result<(), ChannelError> {
        let c = self
            .s
            .commitments
            .as_mut()
            .ok_or(ChannelError::UnexpectedMessage {
                message: "channel_ready",
                state: "unfunded".into(),
            })?;
        // The peer's alias for our route hints; a later `channel_ready` may bring a new one,
        // which replaces it. One without an alias keeps the one we have.
        let alias = m.short_channel_id_alias.or(self.s.remote_alias);
        match self.s.phase {
            Phase::AwaitingReady { ready_sent, .. } => {
                c.remote_next_point = Some(m.second_per_commitment_point);
                self.s.phase = Phase::AwaitingReady {
                    ready_sent,
                    ready_received: true,
                };
                self.s.remote_alias = alias;
                self.maybe_ready();
                Ok(())
            }
            // A retransmission after reconnection: harmless if it repeats what we know.
            _ if c.remote.number == 0 && c.remote_waiting.is_none() => {
                if c.remote_next_point
                    .is_some_and(|p| p != m.second_per_commitment_point)
                {
                    return Err(ChannelError::Reestablish(
                        "channel_ready with another point".into(),
                    ));
                }
                self.s.remote_alias = alias;
                Ok(())
            }
            _ => {
                self.s.remote_alias = alias;
                Ok(())
            }
        }
    }

    fn maybe_ready(&mut self) {
        if let Phase::AwaitingReady {
            ready_sent: true,
            ready_received: true,
        } = self.s.phase
        {
            self.s.phase = Phase::Normal;
            self.event(Event::ChannelReady {
                channel_id: self.s.channel_id,
            });
        }
    }
}
