//! A client over mutual TLS: it checks the server's certificate against its
//! CA and the name it dialled, and presents its own certificate.
//!
//! The TLS connection is made with the same rustls configuration rules as
//! the server (ring only, TLS 1.2 and 1.3), through tonic's custom-connector
//! hook; tonic then speaks HTTP/2 over it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chapter_02::api::v1::log_client::LogClient;
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tonic::transport::{Channel, Endpoint, Uri};

use crate::error::{Error, Result};
use crate::tls::client_config;

// ANCHOR: client_files
/// Where the client's CA and (optional) certificate and key are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientTlsFiles {
    /// The CA that signed the server's certificate (PEM).
    pub ca: PathBuf,
    /// The client's certificate and private key (PEM), if it has one.
    pub identity: Option<(PathBuf, PathBuf)>,
}
// ANCHOR_END: client_files

// ANCHOR: connect_tls
/// Connects to the service at `addr` over mutual TLS, expecting the server's
/// certificate to name `server_name` (a DNS name or an IP address).
///
/// The handshake happens here, so a server that refuses the client's
/// certificate under TLS 1.2 fails this call; under TLS 1.3 the client
/// learns of the refusal with its first request.
///
/// # Errors
/// A file error (see [`client_config`]), [`Error::ServerName`], or a
/// transport error if the connection or the handshake fails.
pub async fn connect_tls(
    addr: SocketAddr,
    files: &ClientTlsFiles,
    server_name: &str,
) -> Result<LogClient<Channel>> {
    let identity = files
        .identity
        .as_ref()
        .map(|(cert, key)| (cert.as_path(), key.as_path()));
    connect_with_config(addr, client_config(&files.ca, identity)?, server_name).await
}
// ANCHOR_END: connect_tls

/// Connects with an already-built rustls configuration (tests and benches
/// use this to present certificates made on the fly).
///
/// # Errors
/// As [`connect_tls`].
pub async fn connect_with_config(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
    server_name: &str,
) -> Result<LogClient<Channel>> {
    Ok(LogClient::new(
        tls_channel(addr, config, server_name).await?,
    ))
}

// ANCHOR: tls_channel
/// A mutual-TLS HTTP/2 channel to `addr`, for any gRPC client (the Log's,
/// gRPC health's, reflection's). Connecting gives up after
/// [`CONNECT_TIMEOUT`]; a connection whose server falls silent is closed
/// ([`endpoint_to`]).
///
/// # Errors
/// As [`connect_tls`].
pub async fn tls_channel(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
    server_name: &str,
) -> Result<Channel> {
    let connector = TlsConnector::from(config);
    let name = ServerName::try_from(server_name.to_string())
        .map_err(|_| Error::ServerName(server_name.to_string()))?;
    let connect = tower::service_fn(move |_: Uri| {
        let (connector, name) = (connector.clone(), name.clone());
        async move {
            let tcp = TcpStream::connect(addr).await?;
            tcp.set_nodelay(true)?;
            Ok::<_, std::io::Error>(TokioIo::new(connector.connect(name, tcp).await?))
        }
    });
    // The URI only fills in HTTP/2's `:authority`, and its scheme is "http"
    // because tonic itself does no TLS here: the connector decides where to
    // connect and does the TLS, and rustls checks `server_name`.
    Ok(endpoint_to(&addr.to_string())?
        .connect_timeout(CONNECT_TIMEOUT)
        .connect_with_connector(connect)
        .await?)
}
// ANCHOR_END: tls_channel

// ANCHOR: lazy_tls_channel
/// A mutual-TLS HTTP/2 channel to `target` (`host:port`: an IP address or
/// a DNS name, resolved at each connection) that connects on first use and
/// reconnects when the connection breaks: what a server needs to call its
/// peers (chapter 7) and a client to call a cluster (chapter 8), where a
/// peer may be down now and up later. Each connection attempt gives up
/// after `connect_timeout`, and a connection whose server falls silent is
/// closed within seconds ([`endpoint_to`]).
///
/// # Errors
/// [`Error::ServerName`] for a server name that is not a DNS name or an IP
/// address, or a transport error if `target` is not `host:port`.
pub fn lazy_tls_channel(
    target: &str,
    config: Arc<rustls::ClientConfig>,
    server_name: &str,
    connect_timeout: std::time::Duration,
) -> Result<Channel> {
    let connector = TlsConnector::from(config);
    let name = ServerName::try_from(server_name.to_string())
        .map_err(|_| Error::ServerName(server_name.to_string()))?;
    let address = target.to_string();
    let connect = tower::service_fn(move |_: Uri| {
        let (connector, name, address) = (connector.clone(), name.clone(), address.clone());
        async move {
            let tcp = tokio::time::timeout(connect_timeout, TcpStream::connect(&address))
                .await
                .map_err(|_| {
                    std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("connecting to {address} took longer than {connect_timeout:?}"),
                    )
                })??;
            tcp.set_nodelay(true)?;
            Ok::<_, std::io::Error>(TokioIo::new(connector.connect(name, tcp).await?))
        }
    });
    Ok(endpoint_to(target)?
        .connect_timeout(connect_timeout)
        .connect_with_connector_lazy(connect))
}
// ANCHOR_END: lazy_tls_channel

// ANCHOR: keep_alive
/// How long a connection may go without hearing from its server before
/// the client pings it (an HTTP/2 PING, which the server's HTTP/2 layer
/// answers by itself, however busy its handlers are).
pub const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(2);

/// How long a ping may go unanswered before the connection is taken for
/// dead and closed: the calls on it fail (and are retried by a client
/// that retries), and the next call connects afresh.
pub const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(3);

/// How long [`tls_channel`] may take to connect: TCP and the TLS handshake.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// An HTTP/2 endpoint for `target` (`host:port`), set to notice a server
/// that has gone silent.
///
/// A server process that dies is noticed at once: its kernel resets the
/// connection. A server behind a network partition (or whose machine
/// died) is not: its packets are dropped, nothing says the connection is
/// gone, and a call that waits for an answer (or a stream that waits for
/// the next record) waits forever, since TCP notices nothing while it has
/// nothing to send. So the client pings every [`KEEP_ALIVE_INTERVAL`] of
/// silence, even with no call open (so that the next call does not go
/// down a dead connection), and closes the connection after
/// [`KEEP_ALIVE_TIMEOUT`] without an answer: a dead peer is noticed within
/// 5 s of its last word, for a 17-byte frame each way every 2 s on a quiet
/// connection. (Our servers are tonic's, which answer pings at any rate; a
/// grpc-go server, by default, sends a client that pings more often than
/// every 5 minutes away.)
///
/// # Errors
/// A transport error if `target` is not `host:port`.
pub fn endpoint_to(target: &str) -> Result<Endpoint> {
    Ok(Endpoint::from_shared(format!("http://{target}"))?
        .http2_keep_alive_interval(KEEP_ALIVE_INTERVAL)
        .keep_alive_timeout(KEEP_ALIVE_TIMEOUT)
        .keep_alive_while_idle(true))
}
// ANCHOR_END: keep_alive
