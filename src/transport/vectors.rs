//! BOLT 8 appendix A: every handshake, failure and message-encryption vector.

use super::*;
use bitcoin::secp256k1::{PublicKey, SecretKey};

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.trim_start_matches("0x")).unwrap()
}

fn sk(s: &str) -> SecretKey {
    SecretKey::from_slice(&h(s)).unwrap()
}

fn pk(s: &str) -> PublicKey {
    PublicKey::from_slice(&h(s)).unwrap()
}

const INITIATOR_LS_PRIV: &str =
    "0x1111111111111111111111111111111111111111111111111111111111111111";
const INITIATOR_LS_PUB: &str =
    "0x034f355bdcb7cc0af728ef3cceb9615d90684bb5b2ca5f859ab0f0b704075871aa";
const INITIATOR_E_PRIV: &str = "0x1212121212121212121212121212121212121212121212121212121212121212";
const RESPONDER_LS_PRIV: &str = "2121212121212121212121212121212121212121212121212121212121212121";
const RESPONDER_LS_PUB: &str = "028d7500dd4c12685d1f568b4c2b5048e8534b873319f3a8daa612b469132ec7f7";
const RESPONDER_E_PRIV: &str = "0x2222222222222222222222222222222222222222222222222222222222222222";

const ACT_ONE: &str = "0x00036360e856310ce5d294e8be33fc807077dc56ac80d95d9cd4ddbd21325eff73f70df6086551151f58b8afe6c195782c6a";
const ACT_TWO: &str = "0x0002466d7fcae563e5cb09a0d1870bb580344804617879a14949cf22285f1bae3f276e2470b93aac583c9ef6eafca3f730ae";
const ACT_THREE: &str = "0x00b9e3a702e93e3a9948c2ed6e5fd7590a6e1c3a0344cfc9d5b57357049aa22355361aa02e55a8fc28fef5bd6d71ad0c38228dc68b1c466263b47fdf31e560e139ba";

fn initiator() -> (InitiatorHandshake, [u8; ACT_ONE_LEN]) {
    InitiatorHandshake::with_ephemeral(
        sk(INITIATOR_LS_PRIV),
        pk(RESPONDER_LS_PUB),
        sk(INITIATOR_E_PRIV),
    )
}

fn responder() -> ResponderHandshake {
    ResponderHandshake::with_ephemeral(sk(RESPONDER_LS_PRIV), sk(RESPONDER_E_PRIV))
}

fn responder_after_act_one() -> ResponderActThree {
    let (next, act_two) = responder().process_act_one(&h(ACT_ONE)).unwrap();
    assert_eq!(act_two.to_vec(), h(ACT_TWO));
    next
}

/// The encryptor and decryptor are opaque; observe the keys by what they produce.
fn encrypt_probe(enc: &mut Encryptor) -> Vec<u8> {
    enc.encrypt(b"hello").unwrap()
}

#[test]
fn initiator_successful_handshake() {
    let (hs, act_one) = initiator();
    assert_eq!(act_one.to_vec(), h(ACT_ONE));
    let (act_three, transport) = hs.process_act_two(&h(ACT_TWO)).unwrap();
    assert_eq!(act_three.to_vec(), h(ACT_THREE));
    assert_eq!(transport.remote_static, pk(RESPONDER_LS_PUB));
    // sk from the vector: the message test's output 0 is made with it.
    let (mut enc, _) = transport.split();
    assert_eq!(
        encrypt_probe(&mut enc),
        h("0xcf2b30ddf0cf3f80e7c35a6e6730b59fe802473180f396d88a8fb0db8cbcf25d2f214cf9ea1d95")
    );
}

#[test]
fn initiator_act_two_failures() {
    let cases = [
        (
            "0x0002466d7fcae563e5cb09a0d1870bb580344804617879a14949cf22285f1bae3f276e2470b93aac583c9ef6eafca3f730",
            HandshakeError::WrongLength { act: 2, expected: 50, got: 49 },
        ),
        (
            "0x0102466d7fcae563e5cb09a0d1870bb580344804617879a14949cf22285f1bae3f276e2470b93aac583c9ef6eafca3f730ae",
            HandshakeError::BadVersion { act: 2, version: 1 },
        ),
        (
            "0x0004466d7fcae563e5cb09a0d1870bb580344804617879a14949cf22285f1bae3f276e2470b93aac583c9ef6eafca3f730ae",
            HandshakeError::BadPublicKey { act: 2 },
        ),
        (
            "0x0002466d7fcae563e5cb09a0d1870bb580344804617879a14949cf22285f1bae3f276e2470b93aac583c9ef6eafca3f730af",
            HandshakeError::BadTag { act: 2 },
        ),
    ];
    for (input, want) in cases {
        let (hs, act_one) = initiator();
        assert_eq!(act_one.to_vec(), h(ACT_ONE));
        assert_eq!(hs.process_act_two(&h(input)).err(), Some(want));
    }
}

#[test]
fn responder_successful_handshake() {
    let transport = responder_after_act_one()
        .process_act_three(&h(ACT_THREE))
        .unwrap();
    assert_eq!(transport.remote_static, pk(INITIATOR_LS_PUB));
    // rk of the responder is sk of the initiator: it reads output 0 of the message test.
    let (_, mut dec) = transport.split();
    dec.push(&h(
        "0xcf2b30ddf0cf3f80e7c35a6e6730b59fe802473180f396d88a8fb0db8cbcf25d2f214cf9ea1d95",
    ));
    assert_eq!(
        dec.next_message(),
        Ok(DecryptStep::Message(b"hello".to_vec()))
    );
}

#[test]
fn responder_act_one_failures() {
    let cases = [
        (
            "0x00036360e856310ce5d294e8be33fc807077dc56ac80d95d9cd4ddbd21325eff73f70df6086551151f58b8afe6c195782c",
            HandshakeError::WrongLength { act: 1, expected: 50, got: 49 },
        ),
        (
            "0x01036360e856310ce5d294e8be33fc807077dc56ac80d95d9cd4ddbd21325eff73f70df6086551151f58b8afe6c195782c6a",
            HandshakeError::BadVersion { act: 1, version: 1 },
        ),
        (
            "0x00046360e856310ce5d294e8be33fc807077dc56ac80d95d9cd4ddbd21325eff73f70df6086551151f58b8afe6c195782c6a",
            HandshakeError::BadPublicKey { act: 1 },
        ),
        (
            "0x00036360e856310ce5d294e8be33fc807077dc56ac80d95d9cd4ddbd21325eff73f70df6086551151f58b8afe6c195782c6b",
            HandshakeError::BadTag { act: 1 },
        ),
    ];
    for (input, want) in cases {
        assert_eq!(responder().process_act_one(&h(input)).err(), Some(want));
    }
}

#[test]
fn responder_act_three_failures() {
    let cases = [
        (
            "0x01b9e3a702e93e3a9948c2ed6e5fd7590a6e1c3a0344cfc9d5b57357049aa22355361aa02e55a8fc28fef5bd6d71ad0c38228dc68b1c466263b47fdf31e560e139ba",
            HandshakeError::BadVersion { act: 3, version: 1 },
        ),
        (
            "0x00b9e3a702e93e3a9948c2ed6e5fd7590a6e1c3a0344cfc9d5b57357049aa22355361aa02e55a8fc28fef5bd6d71ad0c38228dc68b1c466263b47fdf31e560e139",
            HandshakeError::WrongLength { act: 3, expected: 66, got: 65 },
        ),
        (
            "0x00c9e3a702e93e3a9948c2ed6e5fd7590a6e1c3a0344cfc9d5b57357049aa22355361aa02e55a8fc28fef5bd6d71ad0c38228dc68b1c466263b47fdf31e560e139ba",
            HandshakeError::BadCiphertext,
        ),
        (
            "0x00bfe3a702e93e3a9948c2ed6e5fd7590a6e1c3a0344cfc9d5b57357049aa2235536ad09a8ee351870c2bb7f78b754a26c6cef79a98d25139c856d7efd252c2ae73c",
            HandshakeError::BadPublicKey { act: 3 },
        ),
        (
            "0x00b9e3a702e93e3a9948c2ed6e5fd7590a6e1c3a0344cfc9d5b57357049aa22355361aa02e55a8fc28fef5bd6d71ad0c38228dc68b1c466263b47fdf31e560e139bb",
            HandshakeError::BadTag { act: 3 },
        ),
    ];
    for (input, want) in cases {
        let next = responder_after_act_one();
        assert_eq!(next.process_act_three(&h(input)).err(), Some(want));
    }
}

/// The message test: the initiator sends "hello" 1001 times; key rotation happens twice.
#[test]
fn message_encryption_with_key_rotation() {
    let (hs, _) = initiator();
    let (act_three, init_transport) = hs.process_act_two(&h(ACT_TWO)).unwrap();
    let resp_transport = responder_after_act_one()
        .process_act_three(&act_three)
        .unwrap();
    let (mut enc, _) = init_transport.split();
    let (_, mut dec) = resp_transport.split();

    let expected = [
        (
            0,
            "0xcf2b30ddf0cf3f80e7c35a6e6730b59fe802473180f396d88a8fb0db8cbcf25d2f214cf9ea1d95",
        ),
        (
            1,
            "0x72887022101f0b6753e0c7de21657d35a4cb2a1f5cde2650528bbc8f837d0f0d7ad833b1a256a1",
        ),
        (
            500,
            "0x178cb9d7387190fa34db9c2d50027d21793c9bc2d40b1e14dcf30ebeeeb220f48364f7a4c68bf8",
        ),
        (
            501,
            "0x1b186c57d44eb6de4c057c49940d79bb838a145cb528d6e8fd26dbe50a60ca2c104b56b60e45bd",
        ),
        (
            1000,
            "0x4a2f3cc3b5e78ddb83dcb426d9863d9d9a723b0337c89dd0b005d89f8d3c05c52b76b29b740f09",
        ),
        (
            1001,
            "0x2ecd8c8a5629d0d02ab457a0fdd0f7b90a192cd46be5ecb6ca570bfc5e268338b1a16cf4ef2d36",
        ),
    ];
    let mut checked = 0;
    for i in 0..=1001 {
        let out = enc.encrypt(b"hello").unwrap();
        if let Some((_, want)) = expected.iter().find(|(n, _)| *n == i) {
            assert_eq!(
                hex::encode(&out),
                want.trim_start_matches("0x"),
                "message {i}"
            );
            checked += 1;
        }
        // The responder decrypts every one, rotating its keys in step.
        dec.push(&out);
        assert_eq!(
            dec.next_message(),
            Ok(DecryptStep::Message(b"hello".to_vec())),
            "message {i}"
        );
    }
    assert_eq!(checked, expected.len());
}

fn connected_pair() -> (Transport, Transport) {
    let (hs, act_one) = InitiatorHandshake::new(sk(INITIATOR_LS_PRIV), pk(RESPONDER_LS_PUB));
    let (next, act_two) = ResponderHandshake::new(sk(RESPONDER_LS_PRIV))
        .process_act_one(&act_one)
        .unwrap();
    let (act_three, a) = hs.process_act_two(&act_two).unwrap();
    let b = next.process_act_three(&act_three).unwrap();
    (a, b)
}

#[test]
fn random_ephemerals_still_agree() {
    let (a, b) = connected_pair();
    assert_eq!(b.remote_static, pk(INITIATOR_LS_PUB));
    let (mut a_enc, mut a_dec) = a.split();
    let (mut b_enc, mut b_dec) = b.split();
    b_dec.push(&a_enc.encrypt(b"ping").unwrap());
    assert_eq!(
        b_dec.next_message(),
        Ok(DecryptStep::Message(b"ping".to_vec()))
    );
    a_dec.push(&b_enc.encrypt(b"pong").unwrap());
    assert_eq!(
        a_dec.next_message(),
        Ok(DecryptStep::Message(b"pong".to_vec()))
    );
}

#[test]
fn decryptor_asks_for_exactly_what_it_needs() {
    let (a, b) = connected_pair();
    let (mut enc, _) = a.split();
    let (_, mut dec) = b.split();
    let first = enc.encrypt(&[7u8; 100]).unwrap();
    let second = enc.encrypt(&[]).unwrap();
    assert_eq!(first.len(), LENGTH_HEADER_LEN + 100 + 16);

    assert_eq!(dec.next_message(), Ok(DecryptStep::NeedMore(18)));
    dec.push(&first[..5]);
    assert_eq!(dec.next_message(), Ok(DecryptStep::NeedMore(13)));
    dec.push(&first[5..18]);
    // Header decrypted: now the body and its tag.
    assert_eq!(dec.next_message(), Ok(DecryptStep::NeedMore(116)));
    dec.push(&first[18..100]);
    assert_eq!(dec.next_message(), Ok(DecryptStep::NeedMore(34)));
    // The rest of the first message and all of the second arrive together.
    dec.push(&first[100..]);
    dec.push(&second);
    assert_eq!(dec.next_message(), Ok(DecryptStep::Message(vec![7; 100])));
    assert_eq!(dec.next_message(), Ok(DecryptStep::Message(vec![])));
    assert_eq!(dec.next_message(), Ok(DecryptStep::NeedMore(18)));
    assert_eq!(dec.buffered(), 0);
}

#[test]
fn tampering_is_detected_and_poisons_the_decryptor() {
    let (a, b) = connected_pair();
    let (mut enc, _) = a.split();
    let (_, mut dec) = b.split();
    let mut bad_header = enc.encrypt(b"x").unwrap();
    bad_header[0] ^= 1;
    dec.push(&bad_header);
    assert_eq!(dec.next_message(), Err(TransportError::BadLengthTag));
    assert_eq!(dec.next_message(), Err(TransportError::Failed));

    let (a, b) = connected_pair();
    let (mut enc, _) = a.split();
    let (_, mut dec) = b.split();
    let mut bad_body = enc.encrypt(b"xyz").unwrap();
    bad_body[LENGTH_HEADER_LEN] ^= 1;
    dec.push(&bad_body);
    assert_eq!(dec.next_message(), Err(TransportError::BadBodyTag));
    assert_eq!(dec.next_message(), Err(TransportError::Failed));
}

#[test]
fn oversize_message_is_refused() {
    let (a, _) = connected_pair();
    let (mut enc, _) = a.split();
    assert_eq!(
        enc.encrypt(&vec![0; 65536]),
        Err(TransportError::MessageTooLarge(65536))
    );
    assert_eq!(enc.encrypt(&vec![0; 65535]).unwrap().len(), 18 + 65535 + 16);
}

#[test]
fn wrong_responder_key_fails_at_act_one() {
    let (_, act_one) = initiator();
    let stranger = ResponderHandshake::with_ephemeral(
        sk("0x3333333333333333333333333333333333333333333333333333333333333333"),
        sk(RESPONDER_E_PRIV),
    );
    assert_eq!(
        stranger.process_act_one(&act_one).err(),
        Some(HandshakeError::BadTag { act: 1 })
    );
}
