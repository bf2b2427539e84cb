//! Accepting TLS connections: a TCP accept loop that hands every connection
//! to its own handshake task and yields the finished ones to tonic.
//!
//! Why not tonic's built-in TLS? Two reasons the chapter is about:
//!
//! 1. **Failed handshakes are quiet.** A client refused for an expired or
//!    foreign certificate usually sees only "connection closed"; the reason
//!    (rustls's error) exists only here, so the server logs it, with the
//!    peer's address.
//! 2. **Identity once per connection.** The client certificate is parsed
//!    when the handshake completes, not on every request: the [`Peer`] is
//!    computed once and tonic copies it into each request's extensions.
//!
//! Each handshake runs in its own task with a timeout, so a slow (or
//! malicious) client that never finishes its handshake cannot hold up
//! others. And the accept loop never stops accepting: handshakes in
//! progress are limited per client address and in total, and a connection
//! over either limit is closed at once, so that a thousand idle sockets from
//! one address cost that address its connections, not everyone else theirs:
//!
//! ```text
//!   accept ─▶ slot for this address and in total? ─ no ─▶ close at once
//!                          │ yes
//!                          ▼
//!               handshake (≤ 5 s) in its own task ─▶ tonic
//! ```

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::Connected;

use crate::identity::{Identity, Peer};

// ANCHOR: connection
/// How long a client may take to complete its handshake (one or two round
/// trips, and a signature or two: milliseconds, even across the world).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// How many handshakes may be in progress at once, in total: a flood of
/// clients that never complete a handshake costs at most this many tasks
/// and sockets.
const MAX_HANDSHAKES: usize = 1024;
/// How many of them may come from one IP address.
const MAX_HANDSHAKES_PER_ADDRESS: usize = 32;

/// An accepted, handshaken TLS connection and who is on the other end.
#[derive(Debug)]
pub struct TlsConnection {
    stream: TlsStream<TcpStream>,
    peer: Peer,
}

impl TlsConnection {
    /// Who is on the other end.
    pub fn peer(&self) -> &Peer {
        &self.peer
    }
}
// ANCHOR_END: connection

// ANCHOR: incoming
/// The TLS connections accepted on `listener`, for tonic's
/// `serve_with_incoming*`. Handshakes that fail are logged and dropped.
/// The accept loop ends when tonic drops the stream (at shutdown).
pub fn tls_incoming(
    listener: TcpListener,
    config: Arc<ServerConfig>,
) -> ReceiverStream<io::Result<TlsConnection>> {
    let (connections, incoming) = mpsc::channel(16);
    tokio::spawn(accept_loop(
        listener,
        TlsAcceptor::from(config),
        connections,
    ));
    ReceiverStream::new(incoming)
}
// ANCHOR_END: incoming

// ANCHOR: accept_loop
async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    connections: mpsc::Sender<io::Result<TlsConnection>>,
) {
    let slots = HandshakeSlots::default();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = connections.closed() => return, // the server stopped
        };
        match accepted {
            Ok((tcp, remote_addr)) => {
                let Some(slot) = slots.take(remote_addr.ip()) else {
                    // Dropping the socket closes it: over the limit.
                    tracing::debug!(peer = %remote_addr, "too many handshakes in progress; connection closed");
                    continue;
                };
                let (acceptor, connections) = (acceptor.clone(), connections.clone());
                tokio::spawn(async move {
                    handshake(acceptor, tcp, remote_addr, connections).await;
                    drop(slot);
                });
            }
            Err(error) => {
                // Usually out of file descriptors: wait a moment rather
                // than spin on an error that will repeat at once.
                tracing::warn!(%error, "accepting a TCP connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}
// ANCHOR_END: accept_loop

// ANCHOR: slots
// ANCHOR: slots_take
/// Handshakes in progress, counted per client address and in total.
#[derive(Debug, Clone, Default)]
struct HandshakeSlots {
    in_progress: Arc<Mutex<(usize, HashMap<IpAddr, usize>)>>,
}

/// One handshake's place; given back when dropped.
#[derive(Debug)]
struct Slot {
    slots: HandshakeSlots,
    address: IpAddr,
}

impl HandshakeSlots {
    /// A slot for a handshake from `address`, if neither limit is reached.
    fn take(&self, address: IpAddr) -> Option<Slot> {
        let mut guard = self.lock();
        let (total, per_address) = &mut *guard;
        let mine = per_address.entry(address).or_default();
        if *total >= MAX_HANDSHAKES || *mine >= MAX_HANDSHAKES_PER_ADDRESS {
            if *mine == 0 {
                per_address.remove(&address);
            }
            return None;
        }
        *mine += 1;
        *total += 1;
        Some(Slot {
            slots: self.clone(),
            address,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (usize, HashMap<IpAddr, usize>)> {
        self.in_progress
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
// ANCHOR_END: slots_take

// ANCHOR: slot_drop
impl Drop for Slot {
    fn drop(&mut self) {
        let mut guard = self.slots.lock();
        let (total, per_address) = &mut *guard;
        *total = total.saturating_sub(1);
        if let Some(mine) = per_address.get_mut(&self.address) {
            *mine -= 1;
            if *mine == 0 {
                per_address.remove(&self.address);
            }
        }
    }
}
// ANCHOR_END: slot_drop
// ANCHOR_END: slots

// ANCHOR: handshake
async fn handshake(
    acceptor: TlsAcceptor,
    tcp: TcpStream,
    remote_addr: SocketAddr,
    connections: mpsc::Sender<io::Result<TlsConnection>>,
) {
    // Small gRPC frames must not wait for Nagle's algorithm.
    let _ = tcp.set_nodelay(true);
    let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(stream)) => stream,
        // A connection closed before saying anything is a TCP health check
        // or a port probe, not a client in trouble: not worth a warning.
        Ok(Err(error)) if error.kind() == std::io::ErrorKind::UnexpectedEof => {
            tracing::debug!(peer = %remote_addr, %error, "connection closed before the TLS handshake");
            return;
        }
        Ok(Err(error)) => {
            tracing::warn!(peer = %remote_addr, %error, "TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::warn!(peer = %remote_addr, timeout = ?HANDSHAKE_TIMEOUT, "TLS handshake timed out");
            return;
        }
    };
    // ANCHOR_END: handshake
    // ANCHOR: peer_once
    // The verifier has checked the chain, dates and usage: the leaf
    // certificate's subject can be trusted.
    let leaf = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|certs| certs.first());
    let identity = leaf.and_then(|cert| Identity::from_certificate(cert));
    tracing::debug!(peer = %remote_addr, identity = ?identity.as_ref().map(Identity::as_str), "TLS handshake complete");
    let connection = TlsConnection {
        stream,
        peer: Peer {
            remote_addr: Some(remote_addr),
            identity,
        },
    };
    let _ = connections.send(Ok(connection)).await;
}
// ANCHOR_END: peer_once

// ANCHOR: connected
impl Connected for TlsConnection {
    type ConnectInfo = Peer;

    fn connect_info(&self) -> Peer {
        self.peer.clone()
    }
}
// ANCHOR_END: connected

impl AsyncRead for TlsConnection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConnection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}
