//! # Chapter 3: mutual TLS
//!
//! Chapter 2's service, now encrypted, with both ends proving who they are:
//! the server shows a certificate for its name, and every client must show a
//! certificate signed by the CA the server trusts. The client's certificate
//! also says *who* is calling: its Common Name is the caller's identity,
//! which chapter 4 authorizes. The major components are:
//!
//! * [`tls`]: loading PEM files into rustls server and client
//!   configurations, with errors that name the file at fault.
//! * [`acceptor`]: the TLS handshake for every accepted connection, logging
//!   each failure with its reason (a refused client only sees "connection
//!   closed"), and the identity read once per connection.
//! * [`identity`]: [`Identity`], the caller's Common Name, available to
//!   handlers and tower layers through request extensions.
//! * [`server`]: [`serve_tls`], chapter 2's service over mutual TLS.
//! * [`client`]: [`connect_tls`], a client that presents its certificate and
//!   checks the server's name.
//! * [`error`]: what can go wrong.
//! * `test_pki` (feature `test-pki`): throwaway certificate authorities for
//!   tests, to make every kind of bad certificate on the spot.

pub mod acceptor;
pub mod client;
pub mod error;
pub mod identity;
pub mod server;
#[cfg(feature = "test-pki")]
pub mod test_pki;
pub mod tls;

pub use acceptor::{TlsConnection, tls_incoming};
pub use client::{ClientTlsFiles, connect_tls};
pub use error::{Error, Result};
pub use identity::{Identity, Peer};
pub use server::serve_tls;
pub use tls::{ServerTlsFiles, client_config, server_config};
