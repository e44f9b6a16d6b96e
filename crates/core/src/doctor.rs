//! Checks an administrator runs before phones are factory-reset (`yealink-prov doctor`, the
//! settings page): here, whether a factory-fresh phone will accept our HTTPS certificate.
//!
//! A phone straight out of the box (or after a factory reset) verifies the provisioning server
//! against the CA certificates built into its firmware only (Yealink's admin guides: 30 to 186
//! built-in trusted certificates, depending on model and firmware; docs/security.md). A
//! self-signed or private-CA certificate is refused, and the phone never fetches its
//! configuration: the concept page's known issue "Trusted Certificates". Mozilla's root set
//! (webpki-roots) stands in for the firmware's list: a chain that does not reach it certainly
//! fails on a phone; one that does is very likely fine (old firmware knows fewer, older CAs).

use std::path::Path;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, TrustAnchor, UnixTime};

/// How serious a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Ok,
    /// Cannot be checked from here; says what to check.
    Info,
    Warn,
}

/// One check's result, for the CLI, the API and the settings page.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    pub check: &'static str,
    pub level: Level,
    pub text: String,
}

/// What a certificate chain is, seen from a factory-fresh phone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChainVerdict {
    /// Leads to a root of the given set and is valid now for the host.
    Trusted,
    /// One certificate, signed by itself.
    SelfSigned,
    /// Does not lead to a root of the set: a private or company CA (or a missing intermediate).
    UnknownIssuer,
    Expired,
    NotYetValid,
    /// Valid chain, but not for this host name.
    WrongName,
    /// Something else webpki refuses (bad encoding, unsupported algorithm, CA as leaf, ...).
    Refused(String),
}

const CHECK: &str = "https_factory_trust";

/// What to do when a factory-fresh phone will not trust us.
const ADVICE: &str = "A factory-fresh phone trusts only the public CAs built into its firmware. \
    Use a certificate from a public CA (e.g. Let's Encrypt) for this host, or provision the first \
    time over HTTP (provisioning_scheme = http) and switch to HTTPS once the phones have your CA \
    (static.trusted_certificates.url). Turning off \"Only Accept Trusted Certificates\" on each \
    phone (the innovaphone wiki's workaround) needs hands on every phone.";

/// Judges a chain (leaf first, then intermediates) for `host` against `anchors` at `now`.
pub fn judge_chain(
    chain: &[CertificateDer<'_>],
    host: &str,
    anchors: &[TrustAnchor<'_>],
    now: UnixTime,
) -> ChainVerdict {
    let Some(leaf) = chain.first() else {
        return ChainVerdict::Refused("no certificate".into());
    };
    let ee = match webpki::EndEntityCert::try_from(leaf) {
        Ok(ee) => ee,
        Err(e) => return ChainVerdict::Refused(e.to_string()),
    };
    let intermediates = chain.get(1..).unwrap_or_default();
    match verify(&ee, intermediates, anchors, now) {
        Ok(()) => {}
        Err(webpki::Error::UnknownIssuer) => {
            // Pinned to itself, a self-signed leaf verifies; a leaf from a private CA does not.
            let self_signed = chain.len() == 1
                && webpki::anchor_from_trusted_cert(leaf)
                    .is_ok_and(|anchor| verify(&ee, intermediates, &[anchor], now).is_ok());
            return if self_signed {
                ChainVerdict::SelfSigned
            } else {
                ChainVerdict::UnknownIssuer
            };
        }
        Err(webpki::Error::CertExpired { .. }) => return ChainVerdict::Expired,
        Err(webpki::Error::CertNotValidYet { .. }) => return ChainVerdict::NotYetValid,
        Err(e) => return ChainVerdict::Refused(e.to_string()),
    }
    let name_ok = ServerName::try_from(host)
        .is_ok_and(|name| ee.verify_is_valid_for_subject_name(&name).is_ok());
    if name_ok {
        ChainVerdict::Trusted
    } else {
        ChainVerdict::WrongName
    }
}

/// Path building from `ee` to one of `anchors`, for TLS server use.
fn verify(
    ee: &webpki::EndEntityCert<'_>,
    intermediates: &[CertificateDer<'_>],
    anchors: &[TrustAnchor<'_>],
    now: UnixTime,
) -> Result<(), webpki::Error> {
    ee.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        anchors,
        intermediates,
        now,
        webpki::KeyUsage::server_auth(),
        None,
        None,
    )
    .map(|_| ())
}

/// The host of an `http(s)://host[:port][/path]` URL (IPv6 literals keep no brackets).
fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or_default();
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().unwrap_or_default();
    }
    authority.split(':').next().unwrap_or_default()
}

/// Will a factory-fresh phone accept our HTTPS? `tls_cert`: the PEM chain this server serves
/// when it terminates TLS itself (`listen_tls`), else `None`.
pub fn https_factory_trust(public_base_url: Option<&str>, tls_cert: Option<&Path>) -> Finding {
    https_factory_trust_with(
        public_base_url,
        tls_cert,
        webpki_roots::TLS_SERVER_ROOTS,
        UnixTime::now(),
    )
}

/// [`https_factory_trust`] with the root set and time given (tests).
pub fn https_factory_trust_with(
    public_base_url: Option<&str>,
    tls_cert: Option<&Path>,
    anchors: &[TrustAnchor<'_>],
    now: UnixTime,
) -> Finding {
    let finding = |level, text: String| Finding {
        check: CHECK,
        level,
        text,
    };
    let Some(url) = public_base_url.filter(|u| u.starts_with("https://")) else {
        return finding(
            Level::Ok,
            "HTTPS provisioning is off: phones fetch over HTTP, no certificate involved.".into(),
        );
    };
    let host = host_of(url);
    let Some(path) = tls_cert else {
        return finding(
            Level::Info,
            format!(
                "HTTPS provisioning is on and TLS is terminated in front of this server, so its \
                 certificate cannot be checked from here. Check that the certificate served for \
                 {host} chains to a public CA and names {host} (e.g. `openssl s_client -connect \
                 {host}:443 -servername {host} -showcerts`). {ADVICE}"
            ),
        );
    };
    let chain: Result<Vec<CertificateDer<'static>>, _> = match CertificateDer::pem_file_iter(path) {
        Ok(iter) => iter.collect(),
        Err(e) => Err(e),
    };
    let chain = match chain {
        Ok(chain) if !chain.is_empty() => chain,
        Ok(_) => {
            return finding(
                Level::Warn,
                format!("tls_cert {} holds no certificate.", path.display()),
            );
        }
        Err(e) => {
            return finding(
                Level::Warn,
                format!("cannot read tls_cert {}: {e}", path.display()),
            );
        }
    };
    let (level, what) = match judge_chain(&chain, host, anchors, now) {
        ChainVerdict::Trusted => {
            return finding(
                Level::Ok,
                format!(
                    "The certificate for {host} chains to a public root CA: a factory-fresh \
                     phone should accept it (very old firmware knows fewer CAs: see Yealink's \
                     trusted certificate list for your model)."
                ),
            );
        }
        ChainVerdict::SelfSigned => (Level::Warn, "is self-signed".to_owned()),
        ChainVerdict::UnknownIssuer => (
            Level::Warn,
            "does not lead to a public root CA (a private or company CA, or the intermediate \
             certificates are missing from tls_cert)"
                .to_owned(),
        ),
        ChainVerdict::Expired => (Level::Warn, "has expired".to_owned()),
        ChainVerdict::NotYetValid => (Level::Warn, "is not valid yet".to_owned()),
        ChainVerdict::WrongName => (Level::Warn, format!("does not name {host}")),
        ChainVerdict::Refused(why) => (Level::Warn, format!("is refused ({why})")),
    };
    finding(
        level,
        format!(
            "HTTPS provisioning is on, and the certificate in {} {what}: a factory-fresh phone \
             will refuse it and never fetch its configuration. {ADVICE}",
            path.display()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_is_taken_from_the_url() {
        assert_eq!(
            host_of("https://prov.example.com:8443/y"),
            "prov.example.com"
        );
        assert_eq!(host_of("https://[2001:db8::1]:443/"), "2001:db8::1");
        assert_eq!(host_of("https://10.0.0.1"), "10.0.0.1");
    }

    #[test]
    fn http_is_fine_and_a_proxy_gets_advice() {
        let f = https_factory_trust(Some("http://prov.example.com"), None);
        assert_eq!(f.level, Level::Ok);
        let f = https_factory_trust(None, None);
        assert_eq!(f.level, Level::Ok);
        let f = https_factory_trust(Some("https://prov.example.com"), None);
        assert_eq!(f.level, Level::Info);
        assert!(f.text.contains("openssl s_client"), "{}", f.text);
    }

    /// A CA (as a trust anchor stands in for a public root) and a leaf for `host` it signed.
    fn ca_and_leaf(host: &str) -> (CertificateDer<'static>, CertificateDer<'static>) {
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf = rcgen::CertificateParams::new(vec![host.to_owned()])
            .unwrap()
            .signed_by(&leaf_key, &issuer)
            .unwrap();
        (ca.der().clone(), leaf.der().clone())
    }

    fn write_pem(dir: &Path, certs: &[&CertificateDer<'_>]) -> std::path::PathBuf {
        use base64::Engine;
        let mut pem = String::new();
        for cert in certs {
            let b64 = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
            pem.push_str("-----BEGIN CERTIFICATE-----\n");
            for line in b64.as_bytes().chunks(64) {
                pem.push_str(std::str::from_utf8(line).unwrap());
                pem.push('\n');
            }
            pem.push_str("-----END CERTIFICATE-----\n");
        }
        let path = dir.join("chain.pem");
        std::fs::write(&path, pem).unwrap();
        path
    }

    #[test]
    fn a_chain_to_a_known_root_is_trusted_for_its_host_only() {
        let (ca, leaf) = ca_and_leaf("prov.example.com");
        let anchor = webpki::anchor_from_trusted_cert(&ca).unwrap();
        let now = UnixTime::now();
        assert_eq!(
            judge_chain(
                std::slice::from_ref(&leaf),
                "prov.example.com",
                std::slice::from_ref(&anchor),
                now
            ),
            ChainVerdict::Trusted
        );
        assert_eq!(
            judge_chain(&[leaf], "other.example.com", &[anchor], now),
            ChainVerdict::WrongName
        );
    }

    #[test]
    fn private_ca_and_self_signed_are_not_trusted_by_the_public_roots() {
        let now = UnixTime::now();
        let roots = webpki_roots::TLS_SERVER_ROOTS;
        let (ca, leaf) = ca_and_leaf("prov.example.com");
        assert_eq!(
            judge_chain(&[leaf.clone(), ca.clone()], "prov.example.com", roots, now),
            ChainVerdict::UnknownIssuer
        );
        let own = rcgen::generate_simple_self_signed(vec!["prov.example.com".to_owned()]).unwrap();
        assert_eq!(
            judge_chain(&[own.cert.der().clone()], "prov.example.com", roots, now),
            ChainVerdict::SelfSigned
        );
        // Time is checked: rcgen's certificates start in 1975, so in 1970 it is not valid yet.
        let anchor = webpki::anchor_from_trusted_cert(&ca).unwrap();
        let early = UnixTime::since_unix_epoch(std::time::Duration::from_secs(0));
        assert_eq!(
            judge_chain(&[leaf], "prov.example.com", &[anchor], early),
            ChainVerdict::NotYetValid
        );
    }

    #[test]
    fn the_finding_warns_and_says_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let own = rcgen::generate_simple_self_signed(vec!["prov.example.com".to_owned()]).unwrap();
        let path = write_pem(dir.path(), &[own.cert.der()]);
        let f = https_factory_trust(Some("https://prov.example.com/y"), Some(&path));
        assert_eq!(f.level, Level::Warn, "{}", f.text);
        assert!(f.text.contains("self-signed"), "{}", f.text);
        assert!(
            f.text.contains("public CA") && f.text.contains("over HTTP"),
            "{}",
            f.text
        );
        // The same certificate is fine when the phones fetch over HTTP.
        let f = https_factory_trust(Some("http://prov.example.com/y"), Some(&path));
        assert_eq!(f.level, Level::Ok);
        // A chain to a (stand-in) public root is accepted.
        let (ca, leaf) = ca_and_leaf("prov.example.com");
        let anchor = webpki::anchor_from_trusted_cert(&ca).unwrap();
        let path = write_pem(dir.path(), &[&leaf]);
        let f = https_factory_trust_with(
            Some("https://prov.example.com"),
            Some(&path),
            &[anchor],
            UnixTime::now(),
        );
        assert_eq!(f.level, Level::Ok, "{}", f.text);
        let missing = dir.path().join("missing.pem");
        let f = https_factory_trust(Some("https://prov.example.com"), Some(&missing));
        assert_eq!(f.level, Level::Warn);
    }
}
