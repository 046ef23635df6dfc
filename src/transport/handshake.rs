//! The Noise_XK handshake of BOLT 8 as a state machine: each step consumes the peer's act and
//! returns ours. The caller moves bytes; nothing here does I/O.
//!
//! ```text
//! initiator                                responder
//! InitiatorHandshake::new ── act one ──▶   ResponderHandshake::process_act_one
//! process_act_two        ◀── act two ──
//!                         ── act three ─▶  ResponderActThree::process_act_three
//! ```
//!
//! Each state is consumed by its step, so an act cannot be processed twice and a failed
//! handshake cannot be resumed.

use bitcoin::secp256k1::{rand, PublicKey, Secp256k1, SecretKey};

use super::crypto::{decrypt_with_ad, ecdh, encrypt_with_ad, hkdf2, sha256, MAC_LEN};
use super::error::HandshakeError;
use super::framing::Transport;

pub const ACT_ONE_LEN: usize = 50;
pub const ACT_TWO_LEN: usize = 50;
pub const ACT_THREE_LEN: usize = 66;

const PROTOCOL_NAME: &[u8] = b"Noise_XK_secp256k1_ChaChaPoly_SHA256";
const PROLOGUE: &[u8] = b"lightning";
/// The only handshake version defined.
const VERSION: u8 = 0;

/// The running handshake hash `h` and chaining key `ck`.
#[derive(Clone)]
struct SymmetricState {
    h: [u8; 32],
    ck: [u8; 32],
}

impl SymmetricState {
    /// Both sides start from the responder's static key, which the initiator must know.
    fn new(responder_static: &PublicKey) -> Self {
        let h = sha256(&[PROTOCOL_NAME]);
        let ck = h;
        let h = sha256(&[&h, PROLOGUE]);
        let h = sha256(&[&h, &responder_static.serialize()]);
        Self { h, ck }
    }

    fn mix_hash(&mut self, data: &[u8]) {
        self.h = sha256(&[&self.h, data]);
    }

    /// Mixes a DH result into `ck`; returns the temporary key for this act.
    fn mix_key(&mut self, shared: &[u8; 32]) -> [u8; 32] {
        let (ck, temp_k) = hkdf2(&self.ck, shared);
        self.ck = ck;
        temp_k
    }

    /// The send and receive keys of the initiator (swap for the responder).
    fn split(&self) -> ([u8; 32], [u8; 32]) {
        hkdf2(&self.ck, &[])
    }
}

/// Splits `0 || point || tag` (acts one and two), checking length, version and key.
fn parse_ephemeral_act(act: u8, input: &[u8]) -> Result<(PublicKey, &[u8]), HandshakeError> {
    check_len(act, input, ACT_ONE_LEN)?;
    let (version, point, tag) = split_act(act, input, 33)?;
    check_version(act, version)?;
    let re = PublicKey::from_slice(point).map_err(|_| HandshakeError::BadPublicKey { act })?;
    Ok((re, tag))
}

/// `version || first (mid bytes) || rest`; the length was checked by the caller, the split is
/// still checked so no input can make it panic.
fn split_act(act: u8, input: &[u8], mid: usize) -> Result<(u8, &[u8], &[u8]), HandshakeError> {
    let short = HandshakeError::WrongLength {
        act,
        expected: 1 + mid,
        got: input.len(),
    };
    let (version, rest) = input.split_first().ok_or(short.clone())?;
    let (first, second) = rest.split_at_checked(mid).ok_or(short)?;
    Ok((*version, first, second))
}

fn check_len(act: u8, input: &[u8], expected: usize) -> Result<(), HandshakeError> {
    if input.len() != expected {
        return Err(HandshakeError::WrongLength {
            act,
            expected,
            got: input.len(),
        });
    }
    Ok(())
}

fn check_version(act: u8, version: u8) -> Result<(), HandshakeError> {
    if version != VERSION {
        return Err(HandshakeError::BadVersion { act, version });
    }
    Ok(())
}

fn ephemeral_act(e_pub: &PublicKey, tag: &[u8]) -> [u8; ACT_ONE_LEN] {
    let mut out = [0u8; ACT_ONE_LEN];
    out[0] = VERSION;
    out[1..34].copy_from_slice(&e_pub.serialize());
    out[34..].copy_from_slice(tag);
    out
}

fn random_key() -> SecretKey {
    SecretKey::new(&mut rand::thread_rng())
}

/// The initiator after sending act one, waiting for act two.
pub struct InitiatorHandshake {
    local_static: SecretKey,
    remote_static: PublicKey,
    ephemeral: SecretKey,
    state: SymmetricState,
}

impl InitiatorHandshake {
    /// Starts a handshake to the node `remote_static` with a fresh ephemeral key.
    pub fn new(local_static: SecretKey, remote_static: PublicKey) -> (Self, [u8; ACT_ONE_LEN]) {
        Self::with_ephemeral(local_static, remote_static, random_key())
    }

    /// Like [`InitiatorHandshake::new`] with a chosen ephemeral key. Reusing an ephemeral key
    /// breaks the protocol's security; this exists for reproducible tests.
    pub fn with_ephemeral(
        local_static: SecretKey,
        remote_static: PublicKey,
        ephemeral: SecretKey,
    ) -> (Self, [u8; ACT_ONE_LEN]) {
        let secp = Secp256k1::signing_only();
        let mut state = SymmetricState::new(&remote_static);
        let e_pub = PublicKey::from_secret_key(&secp, &ephemeral);
        state.mix_hash(&e_pub.serialize());
        let temp_k1 = state.mix_key(&ecdh(&ephemeral, &remote_static));
        let c = encrypt_with_ad(&temp_k1, 0, &state.h, &[]);
        state.mix_hash(&c);
        let act_one = ephemeral_act(&e_pub, &c);
        let hs = Self {
            local_static,
            remote_static,
            ephemeral,
            state,
        };
        (hs, act_one)
    }

    /// Checks act two; returns act three and the transport. The handshake is complete for the
    /// initiator once act three is sent.
    pub fn process_act_two(
        mut self,
        act_two: &[u8],
    ) -> Result<([u8; ACT_THREE_LEN], Transport), HandshakeError> {
        let (re, c) = parse_ephemeral_act(2, act_two)?;
        let state = &mut self.state;
        state.mix_hash(&re.serialize());
        let temp_k2 = state.mix_key(&ecdh(&self.ephemeral, &re));
        decrypt_with_ad(&temp_k2, 0, &state.h, c).ok_or(HandshakeError::BadTag { act: 2 })?;
        state.mix_hash(c);

        let secp = Secp256k1::signing_only();
        let s_pub = PublicKey::from_secret_key(&secp, &self.local_static);
        let c = encrypt_with_ad(&temp_k2, 1, &state.h, &s_pub.serialize());
        state.mix_hash(&c);
        let temp_k3 = state.mix_key(&ecdh(&self.local_static, &re));
        let t = encrypt_with_ad(&temp_k3, 0, &state.h, &[]);
        let (sk, rk) = state.split();

        let mut act_three = [0u8; ACT_THREE_LEN];
        act_three[0] = VERSION;
        act_three[1..50].copy_from_slice(&c);
        act_three[50..].copy_from_slice(&t);
        let transport = Transport::new(state.ck, sk, rk, self.remote_static);
        Ok((act_three, transport))
    }
}

/// The responder before act one.
pub struct ResponderHandshake {
    local_static: SecretKey,
    ephemeral: SecretKey,
}

impl ResponderHandshake {
    /// Waits for a handshake to `local_static`, with a fresh ephemeral key.
    pub fn new(local_static: SecretKey) -> Self {
        Self::with_ephemeral(local_static, random_key())
    }

    /// Like [`ResponderHandshake::new`] with a chosen ephemeral key, for reproducible tests.
    pub fn with_ephemeral(local_static: SecretKey, ephemeral: SecretKey) -> Self {
        Self {
            local_static,
            ephemeral,
        }
    }

    /// Checks act one; returns act two and the state that waits for act three.
    pub fn process_act_one(
        self,
        act_one: &[u8],
    ) -> Result<(ResponderActThree, [u8; ACT_TWO_LEN]), HandshakeError> {
        let secp = Secp256k1::signing_only();
        let s_pub = PublicKey::from_secret_key(&secp, &self.local_static);
        let mut state = SymmetricState::new(&s_pub);

        let (re, c) = parse_ephemeral_act(1, act_one)?;
        state.mix_hash(&re.serialize());
        let temp_k1 = state.mix_key(&ecdh(&self.local_static, &re));
        decrypt_with_ad(&temp_k1, 0, &state.h, c).ok_or(HandshakeError::BadTag { act: 1 })?;
        state.mix_hash(c);

        let e_pub = PublicKey::from_secret_key(&secp, &self.ephemeral);
        state.mix_hash(&e_pub.serialize());
        let temp_k2 = state.mix_key(&ecdh(&self.ephemeral, &re));
        let c = encrypt_with_ad(&temp_k2, 0, &state.h, &[]);
        state.mix_hash(&c);
        let next = ResponderActThree {
            ephemeral: self.ephemeral,
            temp_k2,
            state,
        };
        Ok((next, ephemeral_act(&e_pub, &c)))
    }
}

/// The responder after sending act two, waiting for act three.
pub struct ResponderActThree {
    ephemeral: SecretKey,
    temp_k2: [u8; 32],
    state: SymmetricState,
}

impl ResponderActThree {
    /// Checks act three; returns the transport, which knows the initiator's static key.
    pub fn process_act_three(mut self, act_three: &[u8]) -> Result<Transport, HandshakeError> {
        check_len(3, act_three, ACT_THREE_LEN)?;
        let (version, c, t) = split_act(3, act_three, 33 + MAC_LEN)?;
        check_version(3, version)?;
        let state = &mut self.state;
        let rs_bytes =
            decrypt_with_ad(&self.temp_k2, 1, &state.h, c).ok_or(HandshakeError::BadCiphertext)?;
        let rs = PublicKey::from_slice(&rs_bytes)
            .map_err(|_| HandshakeError::BadPublicKey { act: 3 })?;
        state.mix_hash(c);
        let temp_k3 = state.mix_key(&ecdh(&self.ephemeral, &rs));
        decrypt_with_ad(&temp_k3, 0, &state.h, t).ok_or(HandshakeError::BadTag { act: 3 })?;
        let (rk, sk) = state.split();
        Ok(Transport::new(state.ck, sk, rk, rs))
    }
}
