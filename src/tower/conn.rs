//! One tower connection, either side: the node's BOLT 8 handshake and `init` exchange
//! ([`crate::net::handshake`]), then whole messages in and out. The handshake proves the
//! client's node key, which is how the tower knows whose quota an upload counts against.

use std::time::Duration;

use bitcoin::constants::ChainHash;
use bitcoin::secp256k1::{PublicKey, SecretKey};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::net::handshake::{exchange_init, initiate, respond};
use crate::net::SetupError;
use crate::transport::{DecryptStep, Decryptor, Encryptor, TransportError};

/// Why an established connection failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnError {
    #[error("connection closed by the other side")]
    Closed,
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("transport: {0}")]
    Transport(#[from] TransportError),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}

/// An authenticated connection after `init`.
pub struct Conn<S> {
    stream: S,
    encryptor: Encryptor,
    decryptor: Decryptor,
    /// The other side's node id, proven by the handshake.
    pub remote: PublicKey,
    buf: Vec<u8>,
}

impl Conn<TcpStream> {
    /// Dials the tower `tower` at `addr` as `local`, within `timeout` for the whole setup.
    pub async fn connect(
        addr: &str,
        local: SecretKey,
        tower: PublicKey,
        chain: ChainHash,
        timeout: Duration,
    ) -> Result<Self, SetupError> {
        let setup = async {
            let mut stream =
                TcpStream::connect(addr)
                    .await
                    .map_err(|source| SetupError::Connect {
                        addr: addr.to_string(),
                        source,
                    })?;
            stream.set_nodelay(true).ok();
            let mut transport = initiate(&mut stream, local, tower).await?;
            exchange_init(&mut stream, &mut transport, chain).await?;
            Ok(Conn::new(stream, transport))
        };
        tokio::time::timeout(timeout, setup)
            .await
            .map_err(|_| SetupError::Timeout(timeout))?
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    /// The tower's side of the setup.
    pub async fn accept(
        mut stream: S,
        local: SecretKey,
        chain: ChainHash,
    ) -> Result<Self, SetupError> {
        let mut transport = respond(&mut stream, local).await?;
        exchange_init(&mut stream, &mut transport, chain).await?;
        Ok(Conn::new(stream, transport))
    }

    pub(super) fn new(stream: S, transport: crate::transport::Transport) -> Self {
        let remote = transport.remote_static;
        let (encryptor, decryptor) = transport.split();
        Conn {
            stream,
            encryptor,
            decryptor,
            remote,
            buf: vec![0; 16 * 1024],
        }
    }

    /// Encrypts and writes one message (type included).
    pub async fn send(&mut self, message: &[u8]) -> Result<(), ConnError> {
        let frame = self.encryptor.encrypt(message)?;
        self.stream.write_all(&frame).await?;
        Ok(())
    }

    /// The next whole message.
    pub async fn recv(&mut self) -> Result<Vec<u8>, ConnError> {
        loop {
            match self.decryptor.next_message()? {
                DecryptStep::Message(m) => return Ok(m),
                DecryptStep::NeedMore(n) => {
                    let want = n.min(self.buf.len());
                    let got = self.stream.read(&mut self.buf[..want]).await?;
                    if got == 0 {
                        return Err(ConnError::Closed);
                    }
                    self.decryptor.push(&self.buf[..got]);
                }
            }
        }
    }

    /// Flushes and closes the write side.
    pub async fn close(mut self) {
        let _ = self.stream.shutdown().await;
    }

    /// Closes the write side, then reads and drops what the other side still sends until it
    /// closes too or `linger` passes: closing a socket with unread bytes resets it, and the
    /// reset can overtake what we sent last.
    pub async fn close_after_draining(mut self, linger: Duration) {
        let _ = self.stream.shutdown().await;
        let drain = async {
            while let Ok(n) = self.stream.read(&mut self.buf).await {
                if n == 0 {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(linger, drain).await;
    }
}
