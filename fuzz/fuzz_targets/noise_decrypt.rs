//! An attacker's byte stream after a completed handshake, delivered in chunks whose sizes the
//! input also chooses: the decryptor must never panic and never accept a forged message.
#![no_main]

use bitcoin::secp256k1::{Secp256k1, SecretKey};
use chanhub::transport::{DecryptStep, InitiatorHandshake, ResponderHandshake};
use libfuzzer_sys::fuzz_target;

fn key(b: u8) -> SecretKey {
    SecretKey::from_slice(&[b; 32]).expect("repeated nonzero byte is a valid key")
}

fuzz_target!(|data: &[u8]| {
    let secp = Secp256k1::signing_only();
    let (hs, act_one) =
        InitiatorHandshake::with_ephemeral(key(1), key(2).public_key(&secp), key(3));
    let (next, act_two) = ResponderHandshake::with_ephemeral(key(2), key(4))
        .process_act_one(&act_one)
        .expect("honest act one");
    let (act_three, _initiator) = hs.process_act_two(&act_two).expect("honest act two");
    let responder = next
        .process_act_three(&act_three)
        .expect("honest act three");
    let (_, mut dec) = responder.split();

    let mut rest = data;
    while let Some((size, tail)) = rest.split_first() {
        let n = usize::from(*size).min(tail.len());
        let (chunk, after) = tail.split_at(n);
        dec.push(chunk);
        loop {
            match dec.next_message() {
                Ok(DecryptStep::Message(_)) => panic!("accepted a message nobody encrypted"),
                Ok(DecryptStep::NeedMore(_)) | Err(_) => break,
            }
        }
        rest = after;
    }
});
