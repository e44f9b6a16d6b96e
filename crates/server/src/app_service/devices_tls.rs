//! TLS for `wss://` to Devices: App Platforms often carry a certificate from a private CA, so we
//! trust the operating system's store plus an optional CA file (`innovaphone.devices_ca_file`).

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, RootCertStore};

#[derive(Debug, thiserror::Error)]
pub enum DevicesTlsError {
    #[error("innovaphone.devices_ca_file {path}: {reason}")]
    CaFile { path: String, reason: String },
    #[error("cannot set up TLS for Devices: {0}")]
    Tls(String),
}

/// The client configuration for sysclient connections.
pub fn client_config(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, DevicesTlsError> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for e in &native.errors {
        // A machine without a usable store still works with the CA file.
        tracing::warn!(error = %e, "cannot read some of the operating system's CA certificates");
    }
    let (_, unusable) = roots.add_parsable_certificates(native.certs);
    if unusable > 0 {
        tracing::debug!(unusable, "operating system CA certificates skipped");
    }
    if let Some(path) = ca_file {
        let ca_error = |reason: String| DevicesTlsError::CaFile {
            path: path.display().to_string(),
            reason,
        };
        let pem = std::fs::read(path).map_err(|e| ca_error(format!("cannot read it: {e}")))?;
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<_, _>>()
            .map_err(|e| ca_error(format!("not a PEM certificate file: {e}")))?;
        if certs.is_empty() {
            return Err(ca_error("holds no PEM certificate".into()));
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| ca_error(format!("unusable CA certificate: {e}")))?;
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| DevicesTlsError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
