//! The roots outbound TLS trusts: Mozilla's (webpki-roots) plus the operator's extra CA file.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, TrustAnchor};
use rustls::{ClientConfig, RootCertStore};

/// Why the extra CA file could not be used. The caller names the file.
#[derive(Debug, thiserror::Error)]
pub enum CaFileError {
    #[error("not a readable PEM file")]
    Pem(#[source] pem::Error),
    /// Refused rather than ignored: an operator who set the file expects its CA to be trusted,
    /// and would otherwise only find out from failing webhooks.
    #[error("it holds no CERTIFICATE section")]
    NoCertificates,
    #[error("certificate #{number} in it is not a usable root")]
    Invalid {
        number: usize,
        #[source]
        cause: rustls::Error,
    },
}

/// Reads every CERTIFICATE section of the PEM file at `path` as a root. Other sections (a
/// private key pasted along) are skipped; a certificate that does not parse is refused at start,
/// not at the first call that needs it.
pub fn load_ca_file(path: &Path) -> Result<Vec<TrustAnchor<'static>>, CaFileError> {
    let mut store = RootCertStore::empty();
    for (index, cert) in CertificateDer::pem_file_iter(path).map_err(CaFileError::Pem)?.enumerate() {
        let cert = cert.map_err(CaFileError::Pem)?;
        store.add(cert).map_err(|cause| CaFileError::Invalid { number: index + 1, cause })?;
    }
    if store.is_empty() {
        return Err(CaFileError::NoCertificates);
    }
    Ok(store.roots)
}

/// The rustls client settings: ring, rustls' safe default protocol versions, and the public
/// roots plus `extra` (a private CA adds to the public roots, never replaces them, so one host
/// can call both a public API and an in-house upstream).
pub fn client_config(extra: &[TrustAnchor<'static>]) -> Result<ClientConfig, rustls::Error> {
    let mut roots: RootCertStore = webpki_roots::TLS_SERVER_ROOTS.iter().cloned().collect();
    roots.extend(extra.iter().cloned());
    Ok(ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ca_pem() -> String {
        let mut params = rcgen::CertificateParams::new(Vec::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.self_signed(&rcgen::KeyPair::generate().unwrap()).unwrap().pem()
    }

    #[test]
    fn every_certificate_of_the_file_becomes_a_root_and_keys_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        let key = rcgen::KeyPair::generate().unwrap().serialize_pem();
        std::fs::write(&path, format!("{}{key}{}", ca_pem(), ca_pem())).unwrap();
        let roots = load_ca_file(&path).unwrap();
        assert_eq!(roots.len(), 2);
        assert_ne!(roots[0].subject_public_key_info, roots[1].subject_public_key_info);

        let config = client_config(&roots).unwrap();
        assert!(config.alpn_protocols.is_empty(), "hyper-rustls sets ALPN itself");
    }

    #[test]
    fn a_missing_file_is_a_read_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = load_ca_file(&dir.path().join("absent.pem")).unwrap_err();
        assert!(matches!(err, CaFileError::Pem(pem::Error::Io(_))), "{err:?}");
    }

    #[test]
    fn garbage_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");

        std::fs::write(&path, "this is not a certificate\n").unwrap();
        assert!(matches!(load_ca_file(&path).unwrap_err(), CaFileError::NoCertificates));

        std::fs::write(&path, "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n").unwrap();
        assert!(matches!(load_ca_file(&path).unwrap_err(), CaFileError::Pem(_)));

        // Valid base64, but not a DER certificate.
        std::fs::write(&path, "-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n")
            .unwrap();
        let err = load_ca_file(&path).unwrap_err();
        assert!(matches!(err, CaFileError::Invalid { number: 1, .. }), "{err:?}");

        let truncated = ca_pem().lines().take(3).collect::<Vec<_>>().join("\n");
        std::fs::write(&path, truncated).unwrap();
        assert!(matches!(load_ca_file(&path).unwrap_err(), CaFileError::Pem(_)));
    }
}
