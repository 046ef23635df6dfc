//! Witness scripts and output scripts (BOLT 3 "Funding Transaction Output" and "Commitment
//! Transaction Outputs", plus the anchor outputs of `option_anchors`).
//!
//! The scripts are built opcode by opcode exactly as BOLT 3 writes them: both peers must produce
//! the same bytes, since the P2WSH hash of each is what the other signs.

use bitcoin::hashes::{hash160, ripemd160, Hash};
use bitcoin::opcodes::all::*;
use bitcoin::script::Builder;
use bitcoin::secp256k1::PublicKey;
use bitcoin::{CompressedPublicKey, Script, ScriptBuf};

use super::{ChannelType, PaymentHash};

/// The 2-of-2 funding script `2 <pubkey1> <pubkey2> 2 OP_CHECKMULTISIG`, the keys in
/// lexicographic order of their compressed encoding so both peers build the same script.
pub fn funding_script(a: &PublicKey, b: &PublicKey) -> ScriptBuf {
    let (first, second) = sorted_pair(a, b);
    Builder::new()
        .push_opcode(OP_PUSHNUM_2)
        .push_slice(first.serialize())
        .push_slice(second.serialize())
        .push_opcode(OP_PUSHNUM_2)
        .push_opcode(OP_CHECKMULTISIG)
        .into_script()
}

/// The two keys in the order the funding script (and so the funding witness) uses.
pub fn sorted_pair<'a>(a: &'a PublicKey, b: &'a PublicKey) -> (&'a PublicKey, &'a PublicKey) {
    if a.serialize() <= b.serialize() {
        (a, b)
    } else {
        (b, a)
    }
}

/// The version-0 P2WSH output script committing to `witness_script`.
pub fn p2wsh(witness_script: &Script) -> ScriptBuf {
    ScriptBuf::new_p2wsh(&witness_script.wscript_hash())
}

/// The version-0 P2WPKH output script of `key`.
pub fn p2wpkh(key: &PublicKey) -> ScriptBuf {
    ScriptBuf::new_p2wpkh(&CompressedPublicKey(*key).wpubkey_hash())
}

/// The `to_local` script, also the output script of HTLC-timeout/success transactions:
/// the owner after `to_self_delay` blocks, or the counterparty at once with the revocation key.
pub fn to_local_script(
    revocation_key: &PublicKey,
    to_self_delay: u16,
    local_delayed_key: &PublicKey,
) -> ScriptBuf {
    Builder::new()
        .push_opcode(OP_IF)
        .push_slice(revocation_key.serialize())
        .push_opcode(OP_ELSE)
        .push_int(i64::from(to_self_delay))
        .push_opcode(OP_CSV)
        .push_opcode(OP_DROP)
        .push_slice(local_delayed_key.serialize())
        .push_opcode(OP_ENDIF)
        .push_opcode(OP_CHECKSIG)
        .into_script()
}

/// The anchors `to_remote` witness script `<remotepubkey> OP_CHECKSIGVERIFY 1 OP_CSV`: the one
/// block delay keeps the counterparty from using its `to_remote` output to pin the commitment
/// with a CPFP child, which must go through its anchor instead.
pub fn to_remote_anchor_script(remote_payment_key: &PublicKey) -> ScriptBuf {
    Builder::new()
        .push_slice(remote_payment_key.serialize())
        .push_opcode(OP_CHECKSIGVERIFY)
        .push_opcode(OP_PUSHNUM_1)
        .push_opcode(OP_CSV)
        .into_script()
}

/// The `to_remote` output script: P2WPKH (static remotekey) or P2WSH of
/// [`to_remote_anchor_script`] (anchors).
pub fn to_remote_script_pubkey(
    channel_type: ChannelType,
    remote_payment_key: &PublicKey,
) -> ScriptBuf {
    if channel_type.has_anchors() {
        p2wsh(&to_remote_anchor_script(remote_payment_key))
    } else {
        p2wpkh(remote_payment_key)
    }
}

/// The anchor witness script: the funding key's owner at any time, or anyone after 16 blocks
/// (so dust anchors left by their owner get swept and do not bloat the UTXO set).
pub fn anchor_script(funding_pubkey: &PublicKey) -> ScriptBuf {
    Builder::new()
        .push_slice(funding_pubkey.serialize())
        .push_opcode(OP_CHECKSIG)
        .push_opcode(OP_IFDUP)
        .push_opcode(OP_NOTIF)
        .push_opcode(OP_PUSHNUM_16)
        .push_opcode(OP_CSV)
        .push_opcode(OP_ENDIF)
        .into_script()
}

fn revocation_key_hash(revocation_key: &PublicKey) -> [u8; 20] {
    hash160::Hash::hash(&revocation_key.serialize()).to_byte_array()
}

fn payment_hash160(payment_hash: &PaymentHash) -> [u8; 20] {
    ripemd160::Hash::hash(&payment_hash.0).to_byte_array()
}

/// With anchors every HTLC branch other than revocation waits one block (`1 OP_CSV OP_DROP`),
/// for the same pinning reason as `to_remote`.
fn push_anchor_csv(builder: Builder, channel_type: ChannelType) -> Builder {
    if channel_type.has_anchors() {
        builder
            .push_opcode(OP_PUSHNUM_1)
            .push_opcode(OP_CSV)
            .push_opcode(OP_DROP)
    } else {
        builder
    }
}

/// The witness script of an HTLC offered by the commitment's owner.
pub fn offered_htlc_script(
    channel_type: ChannelType,
    revocation_key: &PublicKey,
    local_htlc_key: &PublicKey,
    remote_htlc_key: &PublicKey,
    payment_hash: &PaymentHash,
) -> ScriptBuf {
    let b = Builder::new()
        .push_opcode(OP_DUP)
        .push_opcode(OP_HASH160)
        .push_slice(revocation_key_hash(revocation_key))
        .push_opcode(OP_EQUAL)
        .push_opcode(OP_IF)
        .push_opcode(OP_CHECKSIG)
        .push_opcode(OP_ELSE)
        .push_slice(remote_htlc_key.serialize())
        .push_opcode(OP_SWAP)
        .push_opcode(OP_SIZE)
        .push_int(32)
        .push_opcode(OP_EQUAL)
        .push_opcode(OP_NOTIF)
        .push_opcode(OP_DROP)
        .push_opcode(OP_PUSHNUM_2)
        .push_opcode(OP_SWAP)
        .push_slice(local_htlc_key.serialize())
        .push_opcode(OP_PUSHNUM_2)
        .push_opcode(OP_CHECKMULTISIG)
        .push_opcode(OP_ELSE)
        .push_opcode(OP_HASH160)
        .push_slice(payment_hash160(payment_hash))
        .push_opcode(OP_EQUALVERIFY)
        .push_opcode(OP_CHECKSIG)
        .push_opcode(OP_ENDIF);
    push_anchor_csv(b, channel_type)
        .push_opcode(OP_ENDIF)
        .into_script()
}

/// The witness script of an HTLC received by the commitment's owner.
pub fn received_htlc_script(
    channel_type: ChannelType,
    revocation_key: &PublicKey,
    local_htlc_key: &PublicKey,
    remote_htlc_key: &PublicKey,
    payment_hash: &PaymentHash,
    cltv_expiry: u32,
) -> ScriptBuf {
    let b = Builder::new()
        .push_opcode(OP_DUP)
        .push_opcode(OP_HASH160)
        .push_slice(revocation_key_hash(revocation_key))
        .push_opcode(OP_EQUAL)
        .push_opcode(OP_IF)
        .push_opcode(OP_CHECKSIG)
        .push_opcode(OP_ELSE)
        .push_slice(remote_htlc_key.serialize())
        .push_opcode(OP_SWAP)
        .push_opcode(OP_SIZE)
        .push_int(32)
        .push_opcode(OP_EQUAL)
        .push_opcode(OP_IF)
        .push_opcode(OP_HASH160)
        .push_slice(payment_hash160(payment_hash))
        .push_opcode(OP_EQUALVERIFY)
        .push_opcode(OP_PUSHNUM_2)
        .push_opcode(OP_SWAP)
        .push_slice(local_htlc_key.serialize())
        .push_opcode(OP_PUSHNUM_2)
        .push_opcode(OP_CHECKMULTISIG)
        .push_opcode(OP_ELSE)
        .push_opcode(OP_DROP)
        .push_int(i64::from(cltv_expiry))
        .push_opcode(OP_CLTV)
        .push_opcode(OP_DROP)
        .push_opcode(OP_CHECKSIG)
        .push_opcode(OP_ENDIF);
    push_anchor_csv(b, channel_type)
        .push_opcode(OP_ENDIF)
        .into_script()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pk(h: &str) -> PublicKey {
        PublicKey::from_slice(&hex::decode(h).unwrap()).unwrap()
    }

    #[test]
    fn funding_script_is_order_independent_and_matches_appendix_b() {
        let a = pk("023da092f6980e58d2c037173180e9a465476026ee50f96695963e8efe436f54eb");
        let b = pk("030e9f7b623d2ccc7c9bd44d66d5ce21ce504c0acf6385a132cec6d3c39fa711c1");
        let expected = "5221023da092f6980e58d2c037173180e9a465476026ee50f96695963e8efe436f54eb21030e9f7b623d2ccc7c9bd44d66d5ce21ce504c0acf6385a132cec6d3c39fa711c152ae";
        assert_eq!(hex::encode(funding_script(&a, &b).as_bytes()), expected);
        assert_eq!(hex::encode(funding_script(&b, &a).as_bytes()), expected);
    }

    #[test]
    fn anchor_variants_differ_only_by_the_csv_suffix() {
        let k = pk("023da092f6980e58d2c037173180e9a465476026ee50f96695963e8efe436f54eb");
        let h = PaymentHash([3; 32]);
        let plain = offered_htlc_script(ChannelType::StaticRemoteKey, &k, &k, &k, &h);
        let anch = offered_htlc_script(ChannelType::AnchorsZeroFeeHtlc, &k, &k, &k, &h);
        let p = plain.as_bytes();
        let a = anch.as_bytes();
        assert_eq!(a.len(), p.len() + 3);
        assert_eq!(&a[..p.len() - 1], &p[..p.len() - 1]);
        assert_eq!(&a[p.len() - 1..], &[0x51, 0xb2, 0x75, 0x68]);
        let plain = received_htlc_script(ChannelType::StaticRemoteKey, &k, &k, &k, &h, 500);
        let anch = received_htlc_script(ChannelType::AnchorsZeroFeeHtlc, &k, &k, &k, &h, 500);
        assert_eq!(anch.len(), plain.len() + 3);
    }

    #[test]
    fn anchor_and_to_remote_scripts_have_bolt3_shape() {
        let k = pk("023da092f6980e58d2c037173180e9a465476026ee50f96695963e8efe436f54eb");
        let ser = hex::encode(k.serialize());
        assert_eq!(
            hex::encode(anchor_script(&k).as_bytes()),
            format!("21{ser}ac736460b268")
        );
        assert_eq!(
            hex::encode(to_remote_anchor_script(&k).as_bytes()),
            format!("21{ser}ad51b2")
        );
        assert!(to_remote_script_pubkey(ChannelType::StaticRemoteKey, &k).is_p2wpkh());
        assert!(to_remote_script_pubkey(ChannelType::AnchorsZeroFeeHtlc, &k).is_p2wsh());
    }
}
