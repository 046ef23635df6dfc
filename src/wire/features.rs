//! Feature bit fields (BOLT 9) and chanhub's feature policy.
//!
//! A feature occupies a pair of bits: the even bit means "required", the odd bit "supported".
//! The same type carries `init` features and the `channel_type` of BOLT 2.

use std::fmt;

use thiserror::Error;

/// The features of BOLT 9 that chanhub knows by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Feature {
    DataLossProtect,
    UpfrontShutdownScript,
    GossipQueries,
    VarOnionOptin,
    GossipQueriesEx,
    StaticRemoteKey,
    PaymentSecret,
    BasicMpp,
    LargeChannel,
    AnchorsZeroFeeHtlcTx,
    RouteBlinding,
    ShutdownAnySegwit,
    DualFund,
    Quiesce,
    OnionMessages,
    ChannelType,
    ScidAlias,
    PaymentMetadata,
    ZeroConf,
}

impl Feature {
    pub const ALL: [Feature; 19] = [
        Feature::DataLossProtect,
        Feature::UpfrontShutdownScript,
        Feature::GossipQueries,
        Feature::VarOnionOptin,
        Feature::GossipQueriesEx,
        Feature::StaticRemoteKey,
        Feature::PaymentSecret,
        Feature::BasicMpp,
        Feature::LargeChannel,
        Feature::AnchorsZeroFeeHtlcTx,
        Feature::RouteBlinding,
        Feature::ShutdownAnySegwit,
        Feature::DualFund,
        Feature::Quiesce,
        Feature::OnionMessages,
        Feature::ChannelType,
        Feature::ScidAlias,
        Feature::PaymentMetadata,
        Feature::ZeroConf,
    ];

    /// The "required" bit; the "supported" bit is this plus one.
    pub const fn required_bit(self) -> usize {
        match self {
            Feature::DataLossProtect => 0,
            Feature::UpfrontShutdownScript => 4,
            Feature::GossipQueries => 6,
            Feature::VarOnionOptin => 8,
            Feature::GossipQueriesEx => 10,
            Feature::StaticRemoteKey => 12,
            Feature::PaymentSecret => 14,
            Feature::BasicMpp => 16,
            Feature::LargeChannel => 18,
            Feature::AnchorsZeroFeeHtlcTx => 22,
            Feature::RouteBlinding => 24,
            Feature::ShutdownAnySegwit => 26,
            Feature::DualFund => 28,
            Feature::Quiesce => 34,
            Feature::OnionMessages => 38,
            Feature::ChannelType => 44,
            Feature::ScidAlias => 46,
            Feature::PaymentMetadata => 48,
            Feature::ZeroConf => 50,
        }
    }

    pub const fn optional_bit(self) -> usize {
        self.required_bit() + 1
    }

    pub const fn name(self) -> &'static str {
        match self {
            Feature::DataLossProtect => "option_data_loss_protect",
            Feature::UpfrontShutdownScript => "option_upfront_shutdown_script",
            Feature::GossipQueries => "gossip_queries",
            Feature::VarOnionOptin => "var_onion_optin",
            Feature::GossipQueriesEx => "gossip_queries_ex",
            Feature::StaticRemoteKey => "option_static_remotekey",
            Feature::PaymentSecret => "payment_secret",
            Feature::BasicMpp => "basic_mpp",
            Feature::LargeChannel => "option_support_large_channel",
            Feature::AnchorsZeroFeeHtlcTx => "option_anchors_zero_fee_htlc_tx",
            Feature::RouteBlinding => "option_route_blinding",
            Feature::ShutdownAnySegwit => "option_shutdown_anysegwit",
            Feature::DualFund => "option_dual_fund",
            Feature::Quiesce => "option_quiesce",
            Feature::OnionMessages => "option_onion_messages",
            Feature::ChannelType => "option_channel_type",
            Feature::ScidAlias => "option_scid_alias",
            Feature::PaymentMetadata => "option_payment_metadata",
            Feature::ZeroConf => "option_zeroconf",
        }
    }

    /// BOLT 9 marks these ASSUMED: every live implementation has them, and newer ones may stop
    /// setting their bits, so a peer that leaves them unset must not be turned away.
    pub const fn is_assumed(self) -> bool {
        matches!(
            self,
            Feature::DataLossProtect
                | Feature::GossipQueries
                | Feature::VarOnionOptin
                | Feature::StaticRemoteKey
        )
    }

    /// Features that must also be set when this one is (BOLT 9 "Dependencies").
    pub const fn dependencies(self) -> &'static [Feature] {
        match self {
            Feature::BasicMpp => &[Feature::PaymentSecret],
            Feature::ZeroConf => &[Feature::ScidAlias],
            _ => &[],
        }
    }

    pub fn from_bit(bit: usize) -> Option<Feature> {
        Feature::ALL
            .into_iter()
            .find(|f| f.required_bit() == bit & !1)
    }
}

/// Why a peer's feature vector is unacceptable.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FeatureError {
    /// The peer requires (even bit) something we do not understand.
    #[error("peer requires unknown feature bit {0}")]
    UnknownRequired(usize),
    /// We require a feature the peer does not offer.
    #[error("peer does not support required feature {}", .0.name())]
    MissingRequired(Feature),
    /// The peer set a feature without one it depends on.
    #[error("feature {} set without its dependency {}", .feature.name(), .missing.name())]
    MissingDependency { feature: Feature, missing: Feature },
}

/// A feature bit field. Bit 0 is the least significant bit of the last byte on the wire.
///
/// Equality and hashing look at the bits only; the wire length a peer used is kept apart so a
/// decoded field re-encodes to the very bytes received (see [`Features::from_wire_bytes`]).
#[derive(Clone, Default)]
pub struct Features {
    /// Little-endian by byte: `le[i]` holds bits `8i..8i+8`. Kept without high zero bytes so
    /// equal bit sets compare equal.
    le: Vec<u8>,
    /// The length the field had on the wire, leading zero bytes included (0 for a field we
    /// built). BOLT 1 only says senders SHOULD be minimal, and LDK, for one, may send node
    /// features with leading zero bytes; a `node_announcement` or `channel_announcement` is
    /// signed over those bytes, so dropping them would break the signature on relay.
    wire_len: usize,
}

impl PartialEq for Features {
    fn eq(&self, other: &Self) -> bool {
        self.le == other.le
    }
}

impl Eq for Features {}

impl std::hash::Hash for Features {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.le.hash(state);
    }
}

impl Features {
    pub fn empty() -> Self {
        Self::default()
    }

    /// Parses the wire (big-endian) form; leading zero bytes are accepted, and remembered
    /// only to be written back (they change no bit).
    pub fn from_wire_bytes(bytes: &[u8]) -> Self {
        let mut le: Vec<u8> = bytes.iter().rev().copied().collect();
        trim(&mut le);
        Self {
            le,
            wire_len: bytes.len(),
        }
    }

    /// The wire (big-endian) form: minimal for a field we built, as received for a decoded one.
    pub fn to_wire_bytes(&self) -> Vec<u8> {
        let pad = self.wire_len.saturating_sub(self.le.len());
        std::iter::repeat(0)
            .take(pad)
            .chain(self.le.iter().rev().copied())
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.le.is_empty()
    }

    pub fn is_set(&self, bit: usize) -> bool {
        self.le
            .get(bit / 8)
            .is_some_and(|byte| byte & (1 << (bit % 8)) != 0)
    }

    pub fn set_bit(&mut self, bit: usize) {
        let idx = bit / 8;
        if self.le.len() <= idx {
            self.le.resize(idx + 1, 0);
        }
        if let Some(byte) = self.le.get_mut(idx) {
            *byte |= 1 << (bit % 8);
        }
    }

    pub fn clear_bit(&mut self, bit: usize) {
        if let Some(byte) = self.le.get_mut(bit / 8) {
            *byte &= !(1 << (bit % 8));
        }
        trim(&mut self.le);
    }

    pub fn set_required(&mut self, f: Feature) -> &mut Self {
        self.clear_bit(f.optional_bit());
        self.set_bit(f.required_bit());
        self
    }

    pub fn set_optional(&mut self, f: Feature) -> &mut Self {
        self.clear_bit(f.required_bit());
        self.set_bit(f.optional_bit());
        self
    }

    /// Either bit of the pair is set.
    pub fn supports(&self, f: Feature) -> bool {
        self.is_set(f.required_bit()) || self.is_set(f.optional_bit())
    }

    pub fn requires(&self, f: Feature) -> bool {
        self.is_set(f.required_bit())
    }

    /// Every set bit, lowest first.
    pub fn set_bits(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.le.len() * 8).filter(|b| self.is_set(*b))
    }

    /// The union of two fields, as BOLT 1 asks for `init`'s `globalfeatures` and `features`.
    pub fn union(&self, other: &Features) -> Features {
        let len = self.le.len().max(other.le.len());
        let le = (0..len)
            .map(|i| self.le.get(i).copied().unwrap_or(0) | other.le.get(i).copied().unwrap_or(0))
            .collect();
        Features { le, wire_len: 0 }
    }

    /// Only the bits below `limit`.
    pub fn truncated(&self, limit: usize) -> Features {
        let mut out = Features::empty();
        for bit in self.set_bits().filter(|b| *b < limit) {
            out.set_bit(bit);
        }
        out
    }

    /// What chanhub sends in `init`.
    ///
    /// Required: `var_onion_optin`, `option_static_remotekey` and `payment_secret`, which every
    /// payment we forward or settle relies on. Optional: what the codecs and channel logic
    /// handle but a peer may lack, and `basic_mpp` (we receive multi-part payments).
    pub fn ours() -> Features {
        let mut f = Features::empty();
        f.set_required(Feature::VarOnionOptin)
            .set_required(Feature::StaticRemoteKey)
            .set_required(Feature::PaymentSecret)
            .set_optional(Feature::DataLossProtect)
            .set_optional(Feature::UpfrontShutdownScript)
            .set_optional(Feature::LargeChannel)
            .set_optional(Feature::AnchorsZeroFeeHtlcTx)
            .set_optional(Feature::ShutdownAnySegwit)
            .set_optional(Feature::ChannelType)
            .set_optional(Feature::GossipQueries)
            .set_optional(Feature::BasicMpp)
            .set_optional(Feature::ScidAlias)
            .set_optional(Feature::ZeroConf);
        f
    }

    /// [`Features::ours`], with `option_supports_lsps` (bLIP 50's odd bit 729) when the node
    /// serves an LSP protocol, for `init` and `node_announcement`.
    pub fn ours_lsp(lsp: bool) -> Features {
        let mut f = Features::ours();
        if lsp {
            f.set_bit(crate::lsps::lsps0::FEATURE_BIT);
        }
        f
    }

    /// The features our BOLT 11 invoices add to the two every invoice requires
    /// (`var_onion_optin`, `payment_secret`): `basic_mpp`, optional, so a payer may split.
    pub fn our_invoice() -> Features {
        let mut f = Features::empty();
        f.set_optional(Feature::BasicMpp);
        f
    }

    /// Checks a peer's `init` features against ours (BOLT 1 `init` receiver rules): every even
    /// bit they set must be one we understand (one we set, or an ASSUMED feature), every
    /// feature we require must be offered (ASSUMED ones count as offered), and every feature
    /// they set must come with its dependencies.
    pub fn check_peer(&self, theirs: &Features) -> Result<(), FeatureError> {
        for bit in theirs.set_bits().filter(|b| b % 2 == 0) {
            let understood = self.is_set(bit)
                || self.is_set(bit + 1)
                || Feature::from_bit(bit).is_some_and(Feature::is_assumed);
            if !understood {
                return Err(FeatureError::UnknownRequired(bit));
            }
        }
        for f in Feature::ALL {
            if self.requires(f) && !f.is_assumed() && !theirs.supports(f) {
                return Err(FeatureError::MissingRequired(f));
            }
        }
        theirs.check_dependencies()
    }

    /// Every set feature has its dependencies set.
    pub fn check_dependencies(&self) -> Result<(), FeatureError> {
        for feature in Feature::ALL.into_iter().filter(|f| self.supports(*f)) {
            if let Some(missing) = feature.dependencies().iter().find(|d| !self.supports(**d)) {
                return Err(FeatureError::MissingDependency {
                    feature,
                    missing: *missing,
                });
            }
        }
        Ok(())
    }

    /// `channel_type` for a static-remotekey channel without anchors.
    pub fn channel_type_static_remotekey() -> Features {
        let mut f = Features::empty();
        f.set_required(Feature::StaticRemoteKey);
        f
    }

    /// `channel_type` for anchor outputs with zero-fee HTLC transactions, our default.
    pub fn channel_type_anchors() -> Features {
        let mut f = Features::channel_type_static_remotekey();
        f.set_required(Feature::AnchorsZeroFeeHtlcTx);
        f
    }

    /// This `channel_type` with `option_scid_alias` (the channel is known by its aliases
    /// only) and, if `zero_conf`, `option_zeroconf` (usable before the funding confirms).
    pub fn with_channel_flags(mut self, scid_alias: bool, zero_conf: bool) -> Features {
        if scid_alias {
            self.set_required(Feature::ScidAlias);
        }
        if zero_conf {
            self.set_required(Feature::ZeroConf);
        }
        self
    }
}

fn trim(le: &mut Vec<u8>) {
    while le.last() == Some(&0) {
        le.pop();
    }
}

impl fmt::Debug for Features {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Features({})", self)
    }
}

impl fmt::Display for Features {
    /// Names with `+` (required) or `?` (optional); unnamed bits as numbers.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for bit in self.set_bits() {
            if !first {
                f.write_str(",")?;
            }
            first = false;
            let mark = if bit % 2 == 0 { '+' } else { '?' };
            match Feature::from_bit(bit) {
                Some(feat) => write!(f, "{}{}", feat.name(), mark)?,
                None => write!(f, "{}", bit)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_form_is_big_endian_and_minimal() {
        let mut f = Features::empty();
        f.set_bit(0);
        f.set_bit(9);
        assert_eq!(f.to_wire_bytes(), vec![0x02, 0x01]);
        assert_eq!(Features::from_wire_bytes(&[0, 0, 0x02, 0x01]), f);
        assert!(f.is_set(9) && f.is_set(0) && !f.is_set(8) && !f.is_set(1000));
        f.clear_bit(9);
        assert_eq!(f.to_wire_bytes(), vec![0x01]);
    }

    #[test]
    fn leading_zero_bytes_are_kept_for_re_encoding() {
        let padded = Features::from_wire_bytes(&[0, 0, 0x02, 0x01]);
        assert_eq!(padded.to_wire_bytes(), vec![0, 0, 0x02, 0x01]);
        let mut built = Features::empty();
        built.set_bit(0);
        built.set_bit(9);
        assert_eq!(padded, built, "the same bits");
        let set = std::collections::HashSet::from([padded.clone()]);
        assert!(set.contains(&built), "and the same hash");
        // A field of zeroes only is empty, and still re-encodes as received.
        let zeros = Features::from_wire_bytes(&[0, 0]);
        assert!(zeros.is_empty());
        assert_eq!(zeros.to_wire_bytes(), vec![0, 0]);
    }

    #[test]
    fn our_features_match_the_profile() {
        let ours = Features::ours();
        for f in [
            Feature::VarOnionOptin,
            Feature::StaticRemoteKey,
            Feature::PaymentSecret,
        ] {
            assert!(ours.requires(f), "{}", f.name());
        }
        for f in [
            Feature::DataLossProtect,
            Feature::UpfrontShutdownScript,
            Feature::LargeChannel,
            Feature::AnchorsZeroFeeHtlcTx,
            Feature::ShutdownAnySegwit,
            Feature::ChannelType,
            Feature::GossipQueries,
            Feature::BasicMpp,
            Feature::ScidAlias,
            Feature::ZeroConf,
        ] {
            assert!(ours.supports(f) && !ours.requires(f), "{}", f.name());
        }
        assert!(ours.is_set(17), "basic_mpp, optional");
        ours.check_dependencies().unwrap();
        // Two instances of chanhub accept each other.
        ours.check_peer(&ours).unwrap();
    }

    #[test]
    fn peer_requiring_unknown_even_bit_is_rejected_odd_is_ignored() {
        let ours = Features::ours();
        let mut theirs = Features::ours();
        theirs.set_bit(101);
        ours.check_peer(&theirs).unwrap();
        theirs.set_bit(100);
        assert_eq!(
            ours.check_peer(&theirs),
            Err(FeatureError::UnknownRequired(100))
        );
        // Requiring something we only support optionally is fine.
        let mut theirs = Features::ours();
        theirs.set_required(Feature::AnchorsZeroFeeHtlcTx);
        ours.check_peer(&theirs).unwrap();
        // Requiring an assumed feature we never set is fine too.
        theirs.set_required(Feature::GossipQueries);
        ours.check_peer(&theirs).unwrap();
    }

    #[test]
    fn peer_lacking_payment_secret_is_rejected_assumed_ones_are_not() {
        let ours = Features::ours();
        let mut theirs = Features::empty();
        assert_eq!(
            ours.check_peer(&theirs),
            Err(FeatureError::MissingRequired(Feature::PaymentSecret))
        );
        theirs.set_optional(Feature::PaymentSecret);
        ours.check_peer(&theirs).unwrap();
    }

    #[test]
    fn dependencies_are_enforced() {
        let ours = Features::ours();
        let mut theirs = Features::ours();
        theirs.clear_bit(Feature::ScidAlias.optional_bit());
        theirs.set_optional(Feature::ZeroConf);
        assert_eq!(
            ours.check_peer(&theirs),
            Err(FeatureError::MissingDependency {
                feature: Feature::ZeroConf,
                missing: Feature::ScidAlias
            })
        );
        theirs.set_optional(Feature::ScidAlias);
        ours.check_peer(&theirs).unwrap();
    }

    #[test]
    fn union_and_truncation() {
        let mut a = Features::empty();
        a.set_bit(1);
        let mut b = Features::empty();
        b.set_bit(40);
        let u = a.union(&b);
        assert_eq!(u.set_bits().collect::<Vec<_>>(), vec![1, 40]);
        assert_eq!(u.truncated(14), a);
    }

    #[test]
    fn display_names_bits() {
        let s = Features::channel_type_anchors().to_string();
        assert_eq!(
            s,
            "option_static_remotekey+,option_anchors_zero_fee_htlc_tx+"
        );
    }
}
