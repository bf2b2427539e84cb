//! Loading certificates and keys into rustls configurations.
//!
//! Both ends use rustls with the *ring* crypto provider and nothing else
//! (two providers in one process make rustls refuse to pick one), and allow
//! only TLS 1.3 and 1.2: rustls does not implement SSL 3, TLS 1.0 or 1.1,
//! nor renegotiation, on purpose.
//!
//! The server *requires* a client certificate signed by the client CA
//! (mutual TLS); the client checks that the server's certificate is signed
//! by its CA and names the server it dialled.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::{Error, Result};

// ANCHOR: files
/// Where the server's certificate, its key, and the client CA are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTlsFiles {
    /// The server's certificate chain (PEM), leaf first.
    pub cert: PathBuf,
    /// The server's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// The CA whose signature a client certificate must carry (PEM).
    pub client_ca: PathBuf,
}

/// The protocol versions both ends accept: TLS 1.3, and 1.2 for older peers.
static VERSIONS: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// The one crypto provider: ring.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}
// ANCHOR_END: files

// ANCHOR: server_config
/// A rustls server configuration that requires a client certificate signed
/// by `files.client_ca`, and speaks HTTP/2 (gRPC) only.
///
/// # Errors
/// An [`Error`] naming the file that is missing, unreadable or not PEM, or
/// [`Error::KeyMismatch`] when the key is not the certificate's.
pub fn server_config(files: &ServerTlsFiles) -> Result<Arc<ServerConfig>> {
    let certs = load_certs(&files.cert, "certificate")?;
    let key = load_key(&files.key)?;
    let roots = load_roots(&files.client_ca)?;
    // Without a valid client certificate the handshake fails: no anonymous
    // clients (`allow_unauthenticated` would let them in).
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
        .build()
        .map_err(|error| Error::BadCa {
            path: files.client_ca.clone(),
            reason: error.to_string(),
        })?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(VERSIONS)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(|error| key_error(error, &files.cert, &files.key))?;
    // gRPC runs over HTTP/2; a custom acceptor must say so in ALPN, or
    // clients fail with "HTTP/2 was not negotiated".
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}
// ANCHOR_END: server_config

// ANCHOR: client_config
/// A rustls client configuration that trusts `ca` for the server's
/// certificate and presents `cert`/`key` as the client's, when given.
///
/// # Errors
/// As [`server_config`].
pub fn client_config(ca: &Path, identity: Option<(&Path, &Path)>) -> Result<Arc<ClientConfig>> {
    let roots = load_roots(ca)?;
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(VERSIONS)?
        .with_root_certificates(roots);
    let mut config = match identity {
        Some((cert, key)) => builder
            .with_client_auth_cert(load_certs(cert, "certificate")?, load_key(key)?)
            .map_err(|error| key_error(error, cert, key))?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}
// ANCHOR_END: client_config

fn key_error(error: rustls::Error, cert: &Path, key: &Path) -> Error {
    match error {
        rustls::Error::InconsistentKeys(_) => Error::KeyMismatch {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
        },
        other => Error::Tls(other),
    }
}

// ANCHOR: load_certs
fn read(path: &Path, what: &'static str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => Error::FileMissing {
            what,
            path: path.to_path_buf(),
        },
        _ => Error::FileUnreadable {
            what,
            path: path.to_path_buf(),
            source,
        },
    })
}

/// Every certificate in a PEM file (at least one).
pub(crate) fn load_certs(path: &Path, what: &'static str) -> Result<Vec<CertificateDer<'static>>> {
    let pem = read(path, what)?;
    let not_pem = |reason: String| Error::NotPem {
        what,
        path: path.to_path_buf(),
        reason,
    };
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| not_pem(pem_problem(error, "CERTIFICATE")))?;
    if certs.is_empty() {
        return Err(not_pem("no \"BEGIN CERTIFICATE\" block".to_string()));
    }
    Ok(certs)
}
// ANCHOR_END: load_certs

/// The first private key in a PEM file.
fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>> {
    let pem = read(path, "private key")?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|error| Error::NotPem {
        what: "private key",
        path: path.to_path_buf(),
        reason: pem_problem(error, "... PRIVATE KEY"),
    })
}

// ANCHOR: pem_problem
/// What is wrong with a PEM file, in words (the library's own messages
/// print the expected marker as a list of byte values).
fn pem_problem(error: pem::Error, label: &str) -> String {
    match error {
        pem::Error::NoItemsFound => format!("no \"BEGIN {label}\" block"),
        pem::Error::MissingSectionEnd { end_marker } => {
            format!(
                "the \"-----END {}-----\" line is missing (is the file cut short?)",
                String::from_utf8_lossy(&end_marker)
            )
        }
        pem::Error::IllegalSectionStart { line } => {
            format!("malformed line {:?}", String::from_utf8_lossy(&line))
        }
        pem::Error::Base64Decode(reason) => format!("the base64 inside is damaged ({reason})"),
        other => other.to_string(),
    }
}
// ANCHOR_END: pem_problem

/// A root store holding every certificate of a CA file.
fn load_roots(path: &Path) -> Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for cert in load_certs(path, "CA certificate")? {
        roots.add(cert).map_err(|error| Error::BadCa {
            path: path.to_path_buf(),
            reason: error.to_string(),
        })?;
    }
    Ok(roots)
}
