//! Handshake acts from an attacker: the first byte picks which act the rest is fed to.
#![no_main]

use bitcoin::secp256k1::{Secp256k1, SecretKey};
use chanhub::transport::{InitiatorHandshake, ResponderHandshake};
use libfuzzer_sys::fuzz_target;

fn key(b: u8) -> SecretKey {
    SecretKey::from_slice(&[b; 32]).expect("repeated nonzero byte is a valid key")
}

fuzz_target!(|data: &[u8]| {
    let Some((which, act)) = data.split_first() else {
        return;
    };
    let secp = Secp256k1::signing_only();
    let responder_pub = key(2).public_key(&secp);
    match which % 3 {
        0 => {
            let _ = ResponderHandshake::with_ephemeral(key(2), key(4)).process_act_one(act);
        }
        1 => {
            let (hs, _) = InitiatorHandshake::with_ephemeral(key(1), responder_pub, key(3));
            let _ = hs.process_act_two(act);
        }
        _ => {
            let (_, act_one) = InitiatorHandshake::with_ephemeral(key(1), responder_pub, key(3));
            let (next, _) = ResponderHandshake::with_ephemeral(key(2), key(4))
                .process_act_one(&act_one)
                .expect("honest act one");
            let _ = next.process_act_three(act);
        }
    }
});
