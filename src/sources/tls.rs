//! The TLS setup of every client (Airflow, dbt Cloud, webhooks, a PostgreSQL store). The trusted roots are
//! the system's and Mozilla's, plus a `ca_file`'s. Reading the system's from disk parses
//! every PEM under /etc/ssl (~18 M instructions, 3–5 ms), so it is done on the first
//! certificate check of the process and shared: a source reached over plain HTTP never pays
//! it, and three clients pay it once.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

/// A reqwest client builder that checks certificates as configured: against the system's and
/// Mozilla's roots and `ca_file`'s certificates, or, when `insecure` is set, not at all.
pub fn client_builder(ca_file: Option<&Path>, insecure: bool) -> Result<reqwest::ClientBuilder, String> {
    let mut config = client_config(ca_file, insecure)?;
    // reqwest leaves ALPN to a preconfigured setup; it speaks HTTP/1.1 only (no `http2`).
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(reqwest::Client::builder().use_preconfigured_tls(config))
}

/// The TLS setup itself, for any client (the HTTP ones above, a PostgreSQL store).
pub fn client_config(ca_file: Option<&Path>, insecure: bool) -> Result<rustls::ClientConfig, String> {
    let extra = match ca_file {
        Some(path) => read_ca_file(path)?,
        None => RootCertStore::empty(),
    };
    let check = Arc::new(CertificateCheck { extra, insecure, verifier: OnceLock::new() });
    Ok(rustls::ClientConfig::builder_with_provider(provider().clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(check)
        .with_no_client_auth())
}

pub use crate::config::read_ca_file;

fn provider() -> &'static Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER.get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
}

/// The system's roots (read once per process) and Mozilla's. A system store that cannot be
/// read is not fatal while Mozilla's roots remain; each unreadable file is logged once.
fn shared_roots() -> &'static RootCertStore {
    static ROOTS: OnceLock<RootCertStore> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let mut roots = RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        let system = rustls_native_certs::load_native_certs();
        for error in &system.errors {
            tracing::warn!(%error, "a system CA certificate could not be read");
        }
        let (added, ignored) = roots.add_parsable_certificates(system.certs);
        tracing::debug!(added, ignored, "system CA certificates loaded");
        roots
    })
}

/// Checks a server's certificate chain; the roots are gathered on the first check.
#[derive(Debug)]
struct CertificateCheck {
    /// Trusted besides the shared roots (a `ca_file`).
    extra: RootCertStore,
    /// `insecure_skip_verify`: any certificate is accepted (the handshake is still checked).
    insecure: bool,
    verifier: OnceLock<Result<Arc<WebPkiServerVerifier>, String>>,
}

impl CertificateCheck {
    fn verifier(&self) -> Result<&Arc<WebPkiServerVerifier>, rustls::Error> {
        let built = self.verifier.get_or_init(|| {
            let mut roots = shared_roots().clone();
            roots.roots.extend(self.extra.roots.iter().cloned());
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider().clone())
                .build()
                .map_err(|e| e.to_string())
        });
        built.as_ref().map_err(|why| rustls::Error::General(why.clone()))
    }

    fn algorithms(&self) -> &WebPkiSupportedAlgorithms {
        &provider().signature_verification_algorithms
    }
}

impl ServerCertVerifier for CertificateCheck {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self.insecure {
            return Ok(ServerCertVerified::assertion());
        }
        self.verifier()?.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, self.algorithms())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, self.algorithms())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms().supported_schemes()
    }
}
