//! Throwaway certificate authorities for tests (feature `test-pki`).
//!
//! The committed CFSSL certificates cover the good paths; every *bad*
//! certificate (expired, from another CA, without a CN, for the wrong name,
//! with the wrong usage) is made on the spot with rcgen, so each test says
//! exactly what is wrong with the certificate it presents.

#![allow(clippy::expect_used)] // test support: a failure to make a certificate is a broken test

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rcgen::{BasicConstraints, DistinguishedName, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
pub use rcgen::{CertificateParams, ExtendedKeyUsagePurpose, date_time_ymd};

// ANCHOR: test_ca
/// A certificate authority that exists for one test.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    /// The CA's certificate, PEM-encoded.
    pub pem: String,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa").finish_non_exhaustive()
    }
}

impl TestCa {
    /// A new self-signed CA whose Common Name is `name`.
    pub fn new(name: &str) -> TestCa {
        let key = KeyPair::generate().expect("an ECDSA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let pem = params.self_signed(&key).expect("a self-signed CA").pem();
        TestCa {
            issuer: Issuer::new(params, key),
            pem,
        }
    }
    // ANCHOR_END: test_ca

    // ANCHOR: leaf
    /// A certificate signed by this CA, as (certificate PEM, private key PEM):
    /// subject CN `common_name` (none if `None`), the given SANs and extended
    /// usage, and whatever `tweak` changes (dates, say).
    pub fn leaf(
        &self,
        common_name: Option<&str>,
        sans: &[&str],
        usage: ExtendedKeyUsagePurpose,
        tweak: impl FnOnce(&mut CertificateParams),
    ) -> (String, String) {
        let key = KeyPair::generate().expect("an ECDSA key");
        let sans: Vec<String> = sans.iter().map(|san| san.to_string()).collect();
        let mut params = CertificateParams::new(sans).expect("leaf parameters");
        params.distinguished_name = DistinguishedName::new();
        if let Some(name) = common_name {
            params.distinguished_name.push(DnType::CommonName, name);
        }
        params.extended_key_usages = vec![usage];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        tweak(&mut params);
        (
            params
                .signed_by(&key, &self.issuer)
                .expect("a signed leaf")
                .pem(),
            key.serialize_pem(),
        )
    }

    /// A client certificate (client-auth usage) with Common Name `name`.
    pub fn client(&self, name: &str) -> (String, String) {
        self.leaf(Some(name), &[], ExtendedKeyUsagePurpose::ClientAuth, |_| {})
    }
}
// ANCHOR_END: leaf

/// A temporary directory to write certificates and keys into.
#[derive(Debug)]
pub struct Files {
    /// The directory (deleted when dropped).
    pub dir: tempfile::TempDir,
}

impl Files {
    /// A new, empty temporary directory.
    pub fn new() -> Files {
        Files {
            dir: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    /// Writes `contents` to `name` in the directory, returning its path.
    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).expect("a writable temporary directory");
        path
    }
}

impl Default for Files {
    fn default() -> Self {
        Files::new()
    }
}

/// The identities a server saw, one per request, in order (`None`: no CN).
pub type SeenIdentities = Arc<Mutex<Vec<Option<String>>>>;

/// Records the [`Identity`](crate::Identity) of every request it sees.
#[derive(Debug, Clone, Default)]
pub struct IdentityRecorder(SeenIdentities);

impl tonic::service::Interceptor for IdentityRecorder {
    fn call(&mut self, request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        let identity = crate::Identity::of(&request).map(|identity| identity.as_str().to_string());
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(identity);
        Ok(request)
    }
}

/// A tower layer that records the identity of every request before the
/// service runs, and the list it records into: tests ask it who the server
/// thought was calling.
pub fn identity_recorder() -> (
    tonic::service::InterceptorLayer<IdentityRecorder>,
    SeenIdentities,
) {
    let seen = SeenIdentities::default();
    (
        tonic::service::InterceptorLayer::new(IdentityRecorder(Arc::clone(&seen))),
        seen,
    )
}

/// Serves `service` over mutual TLS on `listener` in a background task, with
/// an [`identity_recorder`] in front. Returns who called, and the sender that
/// stops the server (dropping it stops the server too).
pub fn serve_recording<L: chapter_02::CommitLog>(
    listener: tokio::net::TcpListener,
    service: chapter_02::LogService<L>,
    tls: Arc<rustls::ServerConfig>,
) -> (SeenIdentities, tokio::sync::oneshot::Sender<()>) {
    let (recorder, seen) = identity_recorder();
    let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
    let incoming = crate::tls_incoming(listener, tls);
    let router = tonic::transport::Server::builder()
        .layer(recorder)
        .add_service(service.clone().into_server());
    tokio::spawn(async move {
        let stopped = async move {
            let _ = stop.await;
        };
        chapter_02::serve_gracefully(&service, stopped, |drain| {
            router.serve_with_incoming_shutdown(incoming, drain)
        })
        .await
    });
    (seen, shutdown)
}
