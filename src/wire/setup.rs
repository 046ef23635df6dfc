//! Connection-level messages of BOLT 1: `init`, `error`, `warning`, `ping`, `pong`.

use bitcoin::constants::ChainHash;

use super::codec::{Reader, Writer};
use super::error::DecodeError;
use super::features::Features;
use super::message::WireMessage;
use super::tlv::{encode_value, TlvStream};
use super::types::ChannelId;

/// Highest bit BOLT 1 lets a sender put in `init`'s legacy `globalfeatures` field.
const GLOBAL_FEATURES_MAX_BIT: usize = 13;

/// `init` (type 16): the first message on every connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Init {
    /// Legacy field; receivers must treat its bits as if set in `features`.
    pub global_features: Features,
    pub features: Features,
    /// The chains the sender is interested in (`networks`, type 1); `None` when not sent.
    pub networks: Option<Vec<ChainHash>>,
    /// The address the sender sees us at (`remote_addr`, type 3), as a raw BOLT 7 address
    /// descriptor.
    pub remote_addr: Option<Vec<u8>>,
    /// Unknown odd records, kept so the message re-encodes unchanged.
    pub extra_tlvs: TlvStream,
}

impl Init {
    const TLV_NETWORKS: u64 = 1;
    const TLV_REMOTE_ADDR: u64 = 3;

    /// An `init` announcing `features` and the chains we are on.
    ///
    /// The low bits (0..=13) are mirrored into `globalfeatures` because very old peers read
    /// only that field; BOLT 1 forbids higher bits there.
    pub fn new(features: Features, networks: Vec<ChainHash>) -> Self {
        Self {
            global_features: features.truncated(GLOBAL_FEATURES_MAX_BIT + 1),
            features,
            networks: Some(networks),
            remote_addr: None,
            extra_tlvs: TlvStream::new(),
        }
    }

    /// The peer's effective features: `globalfeatures` OR `features`.
    pub fn all_features(&self) -> Features {
        self.global_features.union(&self.features)
    }

    /// Whether the peer can share channels with us on `chain`. A peer that sent no `networks`
    /// made no claim, so it is taken to be on every chain.
    pub fn is_on_chain(&self, chain: ChainHash) -> bool {
        match &self.networks {
            None => true,
            Some(chains) => chains.contains(&chain),
        }
    }
}

impl WireMessage for Init {
    const TYPE: u16 = 16;

    fn write_payload(&self, w: &mut Writer) {
        w.put_u16_prefixed("globalfeatures", &self.global_features.to_wire_bytes());
        w.put_u16_prefixed("features", &self.features.to_wire_bytes());
        let mut known = Vec::new();
        if let Some(chains) = &self.networks {
            let value = encode_value(w, |v| {
                chains.iter().for_each(|c| v.put_bytes(&c.to_bytes()))
            });
            known.push((Self::TLV_NETWORKS, value));
        }
        if let Some(addr) = &self.remote_addr {
            known.push((Self::TLV_REMOTE_ADDR, addr.clone()));
        }
        self.extra_tlvs.with_records(known).write(w);
    }

    fn read_payload(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let global_features = Features::from_wire_bytes(r.read_u16_prefixed()?);
        let features = Features::from_wire_bytes(r.read_u16_prefixed()?);
        let mut tlvs = TlvStream::read(r)?;
        let networks = tlvs.take_with(Self::TLV_NETWORKS, |v| {
            let mut chains = Vec::new();
            while !v.is_empty() {
                chains.push(ChainHash::from(v.read_array::<32>()?));
            }
            Ok(chains)
        })?;
        let remote_addr = tlvs.take(Self::TLV_REMOTE_ADDR);
        Ok(Self {
            global_features,
            features,
            networks,
            remote_addr,
            extra_tlvs: tlvs.into_unknown_odd()?,
        })
    }
}

/// A peer's complaint (`error`, type 17, and `warning`, type 1 share this body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The channel concerned, or [`ChannelId::ALL`] for every channel (or the connection).
    pub channel_id: ChannelId,
    pub data: Vec<u8>,
    pub extra_tlvs: TlvStream,
}

impl Diagnostic {
    pub fn new(channel_id: ChannelId, text: &str) -> Self {
        Self {
            channel_id,
            data: text.as_bytes().to_vec(),
            extra_tlvs: TlvStream::new(),
        }
    }

    /// The data as text if it is printable ASCII: BOLT 1 advises against showing anything else
    /// verbatim (it may be binary, or crafted to mislead a log reader).
    pub fn printable_data(&self) -> Option<&str> {
        if self.data.iter().all(|b| (0x20..=0x7e).contains(b)) {
            std::str::from_utf8(&self.data).ok()
        } else {
            None
        }
    }

    fn write(&self, w: &mut Writer) {
        self.channel_id.write(w);
        w.put_u16_prefixed("data", &self.data);
        self.extra_tlvs.write(w);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            channel_id: ChannelId::read(r)?,
            data: r.read_u16_prefixed()?.to_vec(),
            extra_tlvs: TlvStream::read(r)?.into_unknown_odd()?,
        })
    }
}

/// `error` (type 17): the sender is failing the channel (or every channel).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorMessage(pub Diagnostic);

impl WireMessage for ErrorMessage {
    const TYPE: u16 = 17;

    fn write_payload(&self, w: &mut Writer) {
        self.0.write(w);
    }

    fn read_payload(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Diagnostic::read(r).map(Self)
    }
}

/// `warning` (type 1): something is wrong, but the channel stays open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning(pub Diagnostic);

impl WireMessage for Warning {
    const TYPE: u16 = 1;

    fn write_payload(&self, w: &mut Writer) {
        self.0.write(w);
    }

    fn read_payload(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Diagnostic::read(r).map(Self)
    }
}

/// `num_pong_bytes` at or above this asks for no reply (BOLT 1): a pong that large could not
/// fit a message, so such pings only pad traffic.
pub const PONG_SUPPRESS_THRESHOLD: u16 = 65532;

/// `ping` (type 18).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ping {
    pub num_pong_bytes: u16,
    /// Padding; senders set it to zeroes.
    pub ignored: Vec<u8>,
    pub extra_tlvs: TlvStream,
}

impl Ping {
    pub fn new(num_pong_bytes: u16, padding: u16) -> Self {
        Self {
            num_pong_bytes,
            ignored: vec![0; usize::from(padding)],
            extra_tlvs: TlvStream::new(),
        }
    }

    /// The `pong` we owe, or `None` when the ping asks for no reply.
    pub fn response(&self) -> Option<Pong> {
        (self.num_pong_bytes < PONG_SUPPRESS_THRESHOLD).then(|| Pong {
            ignored: vec![0; usize::from(self.num_pong_bytes)],
            extra_tlvs: TlvStream::new(),
        })
    }
}

impl WireMessage for Ping {
    const TYPE: u16 = 18;

    fn write_payload(&self, w: &mut Writer) {
        w.put_u16(self.num_pong_bytes);
        w.put_u16_prefixed("ignored", &self.ignored);
        self.extra_tlvs.write(w);
    }

    fn read_payload(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            num_pong_bytes: r.read_u16()?,
            ignored: r.read_u16_prefixed()?.to_vec(),
            extra_tlvs: TlvStream::read(r)?.into_unknown_odd()?,
        })
    }
}

/// `pong` (type 19).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pong {
    pub ignored: Vec<u8>,
    pub extra_tlvs: TlvStream,
}

impl Pong {
    /// Whether this is the reply a ping with `num_pong_bytes` asked for.
    pub fn answers(&self, num_pong_bytes: u16) -> bool {
        num_pong_bytes < PONG_SUPPRESS_THRESHOLD
            && self.ignored.len() == usize::from(num_pong_bytes)
    }
}

impl WireMessage for Pong {
    const TYPE: u16 = 19;

    fn write_payload(&self, w: &mut Writer) {
        w.put_u16_prefixed("ignored", &self.ignored);
        self.extra_tlvs.write(w);
    }

    fn read_payload(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            ignored: r.read_u16_prefixed()?.to_vec(),
            extra_tlvs: TlvStream::read(r)?.into_unknown_odd()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::features::Feature;

    #[test]
    fn init_bytes_match_the_spec_layout() {
        let mut features = Features::empty();
        features.set_optional(Feature::StaticRemoteKey);
        features.set_required(Feature::ChannelType);
        let init = Init::new(features.clone(), vec![ChainHash::REGTEST]);
        let bytes = init.encode().unwrap();
        let mut expected = hex::decode("0010").unwrap(); // type 16
        expected.extend(hex::decode("00022000").unwrap()); // globalfeatures: bit 13
        expected.extend(hex::decode("0006100000002000").unwrap()); // features: bits 44, 13
        expected.extend(hex::decode("0120").unwrap()); // networks, 32 bytes
        expected.extend(ChainHash::REGTEST.to_bytes());
        assert_eq!(bytes, expected);
        let back = Init::decode(&bytes).unwrap();
        assert_eq!(back, init);
        assert!(back.is_on_chain(ChainHash::REGTEST));
        assert!(!back.is_on_chain(ChainHash::BITCOIN));
        assert_eq!(back.all_features(), features);
    }

    #[test]
    fn init_without_networks_is_on_any_chain_and_merges_global_features() {
        // globalfeatures 0x02 (bit 1), features 0x20 (bit 5), no TLVs.
        let bytes = hex::decode("0010000102000120").unwrap();
        let init = Init::decode(&bytes).unwrap();
        assert_eq!(init.networks, None);
        assert!(init.is_on_chain(ChainHash::BITCOIN));
        assert_eq!(
            init.all_features().set_bits().collect::<Vec<_>>(),
            vec![1, 5]
        );
    }

    #[test]
    fn init_with_ragged_networks_is_rejected() {
        let mut bytes = hex::decode("001000000000011f").unwrap();
        bytes.extend([0u8; 31]);
        assert_eq!(Init::decode(&bytes), Err(DecodeError::ShortRead));
    }

    #[test]
    fn init_with_unknown_even_tlv_is_rejected_odd_is_kept() {
        let even = hex::decode("00100000000002012a").unwrap();
        assert_eq!(Init::decode(&even), Err(DecodeError::UnknownEvenTlv(2)));
        let odd = hex::decode("00100000000005012a").unwrap();
        let init = Init::decode(&odd).unwrap();
        assert_eq!(init.extra_tlvs.get(5), Some(&[0x2a][..]));
        assert_eq!(init.encode().unwrap(), odd);
    }

    #[test]
    fn ping_answers_with_requested_zeroes() {
        let ping = Ping::new(10, 3);
        let pong = ping.response().unwrap();
        assert_eq!(pong.ignored, vec![0; 10]);
        assert!(pong.answers(10));
        assert!(!pong.answers(11));
        let bytes = ping.encode().unwrap();
        assert_eq!(bytes, hex::decode("0012000a0003000000").unwrap());
    }

    #[test]
    fn ping_at_or_over_threshold_gets_no_answer() {
        assert!(Ping::new(65531, 0).response().is_some());
        assert!(Ping::new(65532, 0).response().is_none());
        assert!(Ping::new(u16::MAX, 0).response().is_none());
        let pong = Pong {
            ignored: vec![0; 65532],
            extra_tlvs: TlvStream::new(),
        };
        assert!(!pong.answers(65532));
    }

    #[test]
    fn error_data_printability() {
        let e = Diagnostic::new(ChannelId::ALL, "funding too small");
        assert_eq!(e.printable_data(), Some("funding too small"));
        assert!(e.channel_id.is_all());
        let binary = Diagnostic {
            data: vec![0x1b, b'[', b'2', b'J'],
            ..e.clone()
        };
        assert_eq!(binary.printable_data(), None);
        let msg = ErrorMessage(e.clone());
        let bytes = msg.encode().unwrap();
        assert_eq!(&bytes[..2], &[0, 17]);
        assert_eq!(ErrorMessage::decode(&bytes).unwrap(), msg);
        let warn = Warning(e);
        assert_eq!(&warn.encode().unwrap()[..2], &[0, 1]);
    }
}
