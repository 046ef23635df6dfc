//! Connection setup over any byte stream: the BOLT 8 acts, then the `init` exchange.
//! The caller bounds the whole of it with the handshake timeout.

use bitcoin::constants::ChainHash;
use bitcoin::secp256k1::{PublicKey, SecretKey};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::error::SetupError;
use super::session::{check_init, encode_init, our_init_with, refusal_warning};
use crate::transport::{
    DecryptStep, InitiatorHandshake, ResponderHandshake, Transport, ACT_ONE_LEN, ACT_THREE_LEN,
    ACT_TWO_LEN,
};
use crate::wire::{Features, Init};

/// Runs the initiator's side of the handshake with the node `remote`.
pub async fn initiate<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    local: SecretKey,
    remote: PublicKey,
) -> Result<Transport, SetupError> {
    let (hs, act_one) = InitiatorHandshake::new(local, remote);
    stream.write_all(&act_one).await?;
    let mut act_two = [0u8; ACT_TWO_LEN];
    stream.read_exact(&mut act_two).await.map_err(|e| {
        if matches!(
            e.kind(),
            std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset
        ) {
            SetupError::HandshakeRefused
        } else {
            SetupError::Io(e)
        }
    })?;
    let (act_three, transport) = hs.process_act_two(&act_two)?;
    stream.write_all(&act_three).await?;
    Ok(transport)
}

/// Runs the responder's side; the transport knows who connected.
pub async fn respond<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    local: SecretKey,
) -> Result<Transport, SetupError> {
    let mut act_one = [0u8; ACT_ONE_LEN];
    stream.read_exact(&mut act_one).await?;
    let (hs, act_two) = ResponderHandshake::new(local).process_act_one(&act_one)?;
    stream.write_all(&act_two).await?;
    let mut act_three = [0u8; ACT_THREE_LEN];
    stream.read_exact(&mut act_three).await?;
    Ok(hs.process_act_three(&act_three)?)
}

/// Sends our `init` and reads theirs (both sides send first, BOLT 1). A refused `init` gets
/// a `warning` saying why before the error is returned and the connection dropped.
pub async fn exchange_init<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    transport: &mut Transport,
    chain: ChainHash,
) -> Result<Init, SetupError> {
    exchange_init_with(stream, transport, chain, Features::ours()).await
}

/// [`exchange_init`] sending `features` (the node's) in our `init`.
pub async fn exchange_init_with<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    transport: &mut Transport,
    chain: ChainHash,
    features: Features,
) -> Result<Init, SetupError> {
    let ours = our_init_with(chain, features);
    let frame = transport.encryptor.encrypt(&encode_init(&ours))?;
    stream.write_all(&frame).await?;
    let first = read_message(stream, transport).await?;
    match check_init(&first, &ours.features, chain) {
        Ok(init) => Ok(init),
        Err(e) => {
            if e.is_incompatible() {
                let warning = refusal_warning(&e.to_string());
                if let Ok(bytes) = warning.encode() {
                    if let Ok(frame) = transport.encryptor.encrypt(&bytes) {
                        // Best effort: the peer may already be gone.
                        let _ = stream.write_all(&frame).await;
                        let _ = stream.flush().await;
                    }
                }
            }
            Err(e)
        }
    }
}

/// Reads until one whole message is decrypted. Bytes past it stay in the decryptor.
async fn read_message<S: AsyncRead + Unpin>(
    stream: &mut S,
    transport: &mut Transport,
) -> Result<Vec<u8>, SetupError> {
    let mut buf = vec![0u8; 4096];
    loop {
        match transport.decryptor.next_message()? {
            DecryptStep::Message(m) => return Ok(m),
            DecryptStep::NeedMore(n) => {
                let want = n.min(buf.len());
                let got = stream.read(&mut buf[..want]).await?;
                if got == 0 {
                    return Err(SetupError::Io(std::io::ErrorKind::UnexpectedEof.into()));
                }
                transport.decryptor.push(&buf[..got]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::secp256k1::Secp256k1;

    fn key(b: u8) -> SecretKey {
        SecretKey::from_slice(&[b; 32]).unwrap()
    }

    #[tokio::test]
    async fn both_sides_complete_and_learn_each_others_init() {
        let (mut a, mut b) = tokio::io::duplex(1024);
        let b_id = key(2).public_key(&Secp256k1::new());
        let a_side = async {
            let mut t = initiate(&mut a, key(1), b_id).await?;
            exchange_init(&mut a, &mut t, ChainHash::REGTEST).await?;
            Ok::<_, SetupError>(t.remote_static)
        };
        let b_side = async {
            let mut t = respond(&mut b, key(2)).await?;
            exchange_init(&mut b, &mut t, ChainHash::REGTEST).await?;
            Ok::<_, SetupError>(t.remote_static)
        };
        let (ra, rb) = tokio::join!(a_side, b_side);
        assert_eq!(ra.unwrap(), b_id);
        assert_eq!(rb.unwrap(), key(1).public_key(&Secp256k1::new()));
    }

    #[tokio::test]
    async fn a_peer_on_another_chain_is_refused_by_both_sides() {
        let (mut a, mut b) = tokio::io::duplex(1024);
        let b_id = key(2).public_key(&Secp256k1::new());
        let a_side = async {
            let mut t = initiate(&mut a, key(1), b_id).await?;
            exchange_init(&mut a, &mut t, ChainHash::BITCOIN).await
        };
        let b_side = async {
            let mut t = respond(&mut b, key(2)).await?;
            exchange_init(&mut b, &mut t, ChainHash::REGTEST).await
        };
        let (ra, rb) = tokio::join!(a_side, b_side);
        assert!(matches!(ra, Err(SetupError::WrongChain)));
        assert!(matches!(rb, Err(SetupError::WrongChain)));
    }

    #[tokio::test]
    async fn a_wrong_act_is_a_handshake_error() {
        let (mut a, mut b) = tokio::io::duplex(1024);
        let responder = tokio::spawn(async move { respond(&mut b, key(2)).await });
        a.write_all(&[1u8; ACT_ONE_LEN]).await.unwrap();
        assert!(matches!(
            responder.await.unwrap(),
            Err(SetupError::Handshake(_))
        ));
    }
}
