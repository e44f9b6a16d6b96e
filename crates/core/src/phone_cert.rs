//! Phones proven by their factory device certificate (mutual TLS on the HTTPS listener).
//!
//! The TLS layer only checks that the client holds the key of the certificate it sent. The chain
//! (the administrator's CA bundle), the validity period and the MAC in the subject CN are checked
//! per request in the phone handler, so a refused phone gets the phone side's usual 401 rather
//! than a TLS alert that would tell it which check failed, and the admin pages on the same
//! listener stay reachable without a certificate (docs/security.md, "Phone certificates").

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::DistinguishedName;
use rustls::RootCertStore;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, UnixTime};
use serde::{Deserialize, Serialize};
use yealink::Mac;

/// `phone_certificates` in the configuration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PhoneCertMode {
    /// No certificate is asked for; phones prove themselves with token/Digest/Basic only.
    #[default]
    Off,
    /// A certificate is asked for; one that is sent must be valid and name the phone's MAC,
    /// phones that send none are judged by the other checks alone.
    Preferred,
    /// Every phone request must come over HTTPS with a valid certificate naming its MAC, on top
    /// of the other checks.
    Required,
}

#[derive(Debug, thiserror::Error)]
pub enum PhoneCertError {
    #[error(
        "phone_certificates = {0:?} needs phone_ca_file (the CA bundle of the phones' certificates)"
    )]
    NoCaFile(PhoneCertMode),
    #[error("cannot read phone_ca_file {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("phone_ca_file {0} holds no usable CA certificate")]
    NoCa(PathBuf),
    #[error("cannot build the phone certificate verifier: {0}")]
    Verifier(String),
}

/// What the certificate a connection presented says about the phone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// No certificate was sent (or the request came over plain HTTP).
    Absent,
    /// A certificate chaining to the CA bundle, in its validity period, naming this MAC.
    Valid(Mac),
    /// A certificate was sent but is not acceptable; the reason is for the debug log only.
    Invalid(String),
}

/// The mode and, unless off, the verifier built from the CA bundle.
#[derive(Clone, Debug)]
pub struct PhoneCerts {
    mode: PhoneCertMode,
    verifier: Option<Arc<dyn ClientCertVerifier>>,
}

impl PhoneCerts {
    pub fn off() -> PhoneCerts {
        PhoneCerts {
            mode: PhoneCertMode::Off,
            verifier: None,
        }
    }

    /// Reads the CA bundle (PEM) at start-up; off ignores it.
    pub fn load(
        mode: PhoneCertMode,
        ca_file: Option<&Path>,
        provider: Arc<CryptoProvider>,
    ) -> Result<PhoneCerts, PhoneCertError> {
        if mode == PhoneCertMode::Off {
            return Ok(PhoneCerts::off());
        }
        let path = ca_file.ok_or(PhoneCertError::NoCaFile(mode))?;
        let pem = std::fs::read(path).map_err(|e| PhoneCertError::Read {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| PhoneCertError::Read {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
            // A broken entry is an administrator's mistake worth stopping for.
            roots.add(cert).map_err(|e| PhoneCertError::Read {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
        }
        if roots.is_empty() {
            return Err(PhoneCertError::NoCa(path.to_path_buf()));
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .allow_unauthenticated()
            .build()
            .map_err(|e| PhoneCertError::Verifier(e.to_string()))?;
        Ok(PhoneCerts {
            mode,
            verifier: Some(verifier),
        })
    }

    pub fn mode(&self) -> PhoneCertMode {
        self.mode
    }

    /// The verifier for the TLS handshake; `None` when off (no certificate is asked for).
    pub fn tls_verifier(&self) -> Option<Arc<dyn ClientCertVerifier>> {
        self.verifier
            .clone()
            .map(|inner| Arc::new(KeyHolder(inner)) as Arc<dyn ClientCertVerifier>)
    }

    /// Judges the chain a connection presented (end entity first), as of now.
    pub fn verdict(&self, chain: &[Vec<u8>]) -> Verdict {
        let (Some(verifier), Some((leaf, intermediates))) = (&self.verifier, chain.split_first())
        else {
            return Verdict::Absent;
        };
        let leaf_der = CertificateDer::from(leaf.as_slice());
        let intermediates: Vec<CertificateDer<'_>> = intermediates
            .iter()
            .map(|c| CertificateDer::from(c.as_slice()))
            .collect();
        if let Err(e) = verifier.verify_client_cert(&leaf_der, &intermediates, UnixTime::now()) {
            return Verdict::Invalid(format!("certificate chain not accepted: {e}"));
        }
        match mac_in_subject(leaf) {
            Some(mac) => Verdict::Valid(mac),
            // Yealink's generic certificate, shared by every phone, names no MAC.
            None => Verdict::Invalid(
                "certificate subject CN is not a MAC (generic certificate?)".into(),
            ),
        }
    }

    /// The certificate rule for a request already proven to be `mac`'s by the other checks.
    /// `Err` carries the reason for the debug log; the client only sees the usual refusal.
    pub fn check(&self, chain: &[Vec<u8>], mac: Mac) -> Result<(), String> {
        if self.mode == PhoneCertMode::Off {
            return Ok(());
        }
        match (self.mode, self.verdict(chain)) {
            (_, Verdict::Valid(m)) if m == mac => Ok(()),
            (_, Verdict::Valid(m)) => Err(format!("certificate names another MAC ({m})")),
            (PhoneCertMode::Required, Verdict::Absent) => Err("no client certificate".into()),
            (_, Verdict::Absent) => Ok(()),
            (_, Verdict::Invalid(why)) => Err(why),
        }
    }
}

/// The MAC in the subject's one common name (Yealink's unique device certificates carry
/// `CN=<MAC>`, docs/security.md); `None` for anything else.
fn mac_in_subject(der: &[u8]) -> Option<Mac> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let mut names = cert.subject().iter_common_name();
    let cn = names.next()?.as_str().ok()?;
    if names.next().is_some() {
        return None;
    }
    Mac::parse(cn).ok()
}

/// Asks for a client certificate and checks the client's signature with it (proof that it holds
/// the key), but leaves judging the certificate itself to [`PhoneCerts::verdict`].
#[derive(Debug)]
struct KeyHolder(Arc<dyn ClientCertVerifier>);

impl ClientCertVerifier for KeyHolder {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        // Browsers reach the admin pages on the same listener without one.
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.0.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca(cn: &str) -> rcgen::CertifiedIssuer<'static, rcgen::KeyPair> {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        rcgen::CertifiedIssuer::self_signed(params, rcgen::KeyPair::generate().expect("key"))
            .expect("ca")
    }

    fn device(
        cn: &str,
        issuer: &rcgen::CertifiedIssuer<'_, rcgen::KeyPair>,
        expired: bool,
    ) -> Vec<Vec<u8>> {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        if expired {
            let now = time::OffsetDateTime::now_utc();
            params.not_before = now - time::Duration::days(10);
            params.not_after = now - time::Duration::days(1);
        }
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, issuer).expect("sign");
        vec![cert.der().to_vec()]
    }

    fn certs(mode: PhoneCertMode, root: &rcgen::CertifiedIssuer<'_, rcgen::KeyPair>) -> PhoneCerts {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, root.pem()).expect("write");
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        PhoneCerts::load(mode, Some(&path), provider).expect("load")
    }

    #[test]
    fn each_bad_certificate_is_refused_for_its_own_reason() {
        let root = ca("Test Yealink Root CA");
        let other = ca("Other CA");
        let required = certs(PhoneCertMode::Required, &root);
        let mac = Mac::parse("805ec0aaff01").expect("mac");
        // Yealink-style CN with and without separators.
        for cn in ["805ec0aaff01", "80:5E:C0:AA:FF:01"] {
            let chain = device(cn, &root, false);
            assert_eq!(required.verdict(&chain), Verdict::Valid(mac));
            assert_eq!(required.check(&chain, mac), Ok(()));
        }
        let other_mac = device("805ec0aaff02", &root, false);
        assert!(
            required
                .check(&other_mac, mac)
                .is_err_and(|e| e.contains("another MAC"))
        );
        let generic = device("Yealink generic", &root, false);
        assert!(
            required
                .check(&generic, mac)
                .is_err_and(|e| e.contains("not a MAC"))
        );
        let wrong_ca = device("805ec0aaff01", &other, false);
        assert!(
            required
                .check(&wrong_ca, mac)
                .is_err_and(|e| e.contains("chain"))
        );
        let expired = device("805ec0aaff01", &root, true);
        assert!(
            required
                .check(&expired, mac)
                .is_err_and(|e| e.contains("chain"))
        );
        assert!(
            required
                .check(&[], mac)
                .is_err_and(|e| e.contains("no client"))
        );
        let preferred = certs(PhoneCertMode::Preferred, &root);
        assert_eq!(preferred.check(&[], mac), Ok(()));
        assert!(preferred.check(&generic, mac).is_err());
        assert_eq!(PhoneCerts::off().check(&generic, mac), Ok(()));
    }
}
