//! The relay's socket: opened by us rather than by lettre, so that it has `TCP_NODELAY`,
//! and, for implicit TLS (`smtps://`), wrapped in TLS before lettre starts the session.
//!
//! lettre writes the end-of-data `.` in a write of its own; without `TCP_NODELAY`, Nagle's
//! algorithm holds it until the relay's delayed ACK, ~40 ms per message on every
//! connection. lettre's own `connect_tokio1` offers no way to set it.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

#[allow(deprecated)] // lettre's TLS upgrade of a socket it did not open goes through it
use lettre::transport::smtp::client::AsyncNetworkStream;
use lettre::transport::smtp::client::{AsyncTokioStream, TlsParameters};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, lookup_host};
use tokio::time::timeout;
use tokio_util::compat::{Compat, FuturesAsyncReadCompatExt};

use super::outcome::DeliveryOutcome;

/// Connects to the relay, trying each address its name resolves to (each within `limit`),
/// with `TCP_NODELAY`.
pub(crate) async fn connect_tcp(
    host: &str,
    port: u16,
    limit: Duration,
) -> Result<TcpStream, DeliveryOutcome> {
    let unreachable = |e: io::Error| DeliveryOutcome::TemporaryFailure {
        reason: format!("SMTP session: cannot connect to the relay {host}:{port}: {e}"),
    };
    let mut last_error = None;
    for address in lookup_host((host, port)).await.map_err(unreachable)? {
        let error = match timeout(limit, TcpStream::connect(address)).await {
            Ok(Ok(stream)) => {
                stream.set_nodelay(true).map_err(unreachable)?;
                return Ok(stream);
            }
            Ok(Err(e)) => e,
            Err(_) => io::Error::new(io::ErrorKind::TimedOut, "connection timed out"),
        };
        last_error = Some(error);
    }
    Err(unreachable(last_error.unwrap_or_else(|| {
        io::Error::new(io::ErrorKind::NotFound, "the name resolves to no address")
    })))
}

/// A socket speaking TLS from its first byte, as a transport lettre can run a session
/// over (`AsyncSmtpConnection::connect_with_transport`). lettre does the handshake with
/// the same `TlsParameters` as for STARTTLS; this only adapts its stream to tokio's traits.
#[allow(deprecated)]
#[derive(Debug)]
pub(crate) struct ImplicitTls {
    stream: Compat<AsyncNetworkStream>,
}

impl ImplicitTls {
    pub(crate) async fn handshake(
        tcp: TcpStream,
        tls: TlsParameters,
    ) -> Result<Self, lettre::transport::smtp::Error> {
        #[allow(deprecated)]
        let mut stream = AsyncNetworkStream::use_existing_tokio1(Box::new(tcp));
        stream.upgrade_tls(tls).await?;
        Ok(Self {
            stream: stream.compat(),
        })
    }
}

impl AsyncTokioStream for ImplicitTls {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.stream.get_ref().peer_addr()
    }
}

impl AsyncRead for ImplicitTls {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for ImplicitTls {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
