//! Who is calling: the Common Name of the client's verified certificate.
//!
//! The handshake has already checked the certificate's signature, dates and
//! usage, so its subject can be believed. The identity is read once per
//! connection, when the handshake completes, and tonic copies the
//! connection's [`Peer`] into every request's extensions, where handlers
//! and tower layers find it.
//!
//! Why the CN and not a SAN? SANs name *hosts*; the Go book, and most mTLS
//! ACL setups, put the *subject's name* in the CN. A certificate without a
//! CN gives no identity, and chapter 4 answers `UNAUTHENTICATED` for that.
//! The identity is only as trustworthy as the CA: use a CA that signs
//! client certificates and nothing else. The verifier refuses a certificate
//! whose extended key usage names only "server auth", but one that names
//! both usages (CFSSL's `peer` profile) or none at all passes as a client,
//! with whatever CN it carries.

use std::fmt;
use std::net::SocketAddr;

use x509_parser::prelude::{FromDer, X509Certificate};

// ANCHOR: identity
/// The identity of a caller: its certificate's Common Name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Identity(String);

impl Identity {
    /// An identity with this name (tests and the ACL compare against names).
    pub fn new(name: impl Into<String>) -> Self {
        Identity(name.into())
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
    // ANCHOR_END: identity

    // ANCHOR: from_certificate
    /// The Common Name of a DER-encoded certificate; `None` when it has no
    /// CN, or its CN is empty or not text, or the certificate does not parse.
    pub fn from_certificate(der: &[u8]) -> Option<Identity> {
        let (_, certificate) = X509Certificate::from_der(der).ok()?;
        let common_name = certificate.subject().iter_common_name().next()?;
        let name = common_name.as_str().ok()?;
        (!name.is_empty()).then(|| Identity(name.to_string()))
    }
    // ANCHOR_END: from_certificate

    // ANCHOR: lookup
    /// The caller's identity, from the extensions of a request (an
    /// `http::Request` in a tower layer, or a `tonic::Request` in a handler).
    pub fn from_extensions(extensions: &http::Extensions) -> Option<&Identity> {
        extensions.get::<Peer>()?.identity.as_ref()
    }

    /// The caller's identity, in a tonic handler.
    pub fn of<T>(request: &tonic::Request<T>) -> Option<&Identity> {
        Identity::from_extensions(request.extensions())
    }
}
// ANCHOR_END: lookup

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

// ANCHOR: peer
/// What the server knows about the other end of a connection. tonic puts it
/// in the extensions of every request on that connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// The client's address.
    pub remote_addr: Option<SocketAddr>,
    /// The client's identity, if its certificate has a Common Name.
    pub identity: Option<Identity>,
}
// ANCHOR_END: peer
