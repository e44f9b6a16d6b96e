//! The client side of HTTP authentication as a phone does it: Digest via the independent
//! `digest_auth` crate (so the server's hand-written verification is checked against another
//! implementation), Basic only over https, and the server nonce kept with a counting `nc`.

use base64::Engine as _;
use digest_auth::{AuthContext, HttpMethod, WwwAuthenticateHeader};
use reqwest::header::{HeaderMap, WWW_AUTHENTICATE};

/// Which scheme a request carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthScheme {
    /// `Authorization: Digest ...`.
    Digest,
    /// `Authorization: Basic ...` (only ever sent over https).
    Basic,
}

/// What the server offered in its `WWW-Authenticate` header(s).
#[derive(Debug, Default)]
pub(crate) struct Challenges {
    pub digest: Option<WwwAuthenticateHeader>,
    pub basic: bool,
    /// Why a Digest challenge present in the headers could not be parsed.
    pub digest_error: Option<String>,
}

/// Reads every `WWW-Authenticate` header; a single header may also carry several
/// comma-separated challenges (`Digest realm=..., Basic realm=...`).
pub(crate) fn read_challenges(headers: &HeaderMap) -> Challenges {
    let mut out = Challenges::default();
    for value in headers.get_all(WWW_AUTHENTICATE) {
        let Ok(value) = value.to_str() else { continue };
        for (scheme, params) in split_challenges(value) {
            if scheme.eq_ignore_ascii_case("digest") && out.digest.is_none() {
                match digest_auth::parse(&params) {
                    Ok(challenge) => out.digest = Some(challenge),
                    Err(e) => out.digest_error = Some(e.to_string()),
                }
            } else if scheme.eq_ignore_ascii_case("basic") {
                out.basic = true;
            }
        }
    }
    out
}

/// Splits a header value into `(scheme, "k=v, k=v")` challenges. A comma-separated item
/// starts a new challenge when its first word holds no `=` (a scheme name, RFC 9110 §11.6.1).
fn split_challenges(value: &str) -> Vec<(String, String)> {
    let mut items = Vec::new();
    let (mut current, mut quoted, mut escaped) = (String::new(), false, false);
    for c in value.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                items.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    items.push(current);

    let mut out: Vec<(String, String)> = Vec::new();
    for item in items {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let first = item.split_whitespace().next().unwrap_or_default();
        if !first.contains('=') {
            let params = item[first.len()..].trim().to_owned();
            out.push((first.to_owned(), params));
        } else if let Some((_, params)) = out.last_mut() {
            if !params.is_empty() {
                params.push_str(", ");
            }
            params.push_str(item);
        }
    }
    out
}

/// Per-phone authentication state: the credentials and the last Digest challenge, reused
/// (with `nc` counting up) for later requests, as real phones do.
#[derive(Debug, Default)]
pub(crate) struct AuthState {
    pub credentials: Option<(String, String)>,
    pub digest: Option<WwwAuthenticateHeader>,
}

impl AuthState {
    /// An `Authorization` value for a request, if the phone already holds a Digest challenge.
    pub fn preemptive(&mut self, method: &str, uri: &str) -> Option<(AuthScheme, String)> {
        let (user, pass) = self.credentials.as_ref()?;
        let challenge = self.digest.as_mut()?;
        digest_header(challenge, user, pass, method, uri)
            .ok()
            .map(|h| (AuthScheme::Digest, h))
    }

    /// Answers a 401: Digest if offered, else Basic when offered over https. `None` when the
    /// phone has no credentials or nothing acceptable was offered.
    pub fn answer(
        &mut self,
        challenges: Challenges,
        method: &str,
        uri: &str,
        https: bool,
    ) -> Result<Option<(AuthScheme, String)>, String> {
        let Some((user, pass)) = self.credentials.as_ref() else {
            return Ok(None);
        };
        if let Some(mut challenge) = challenges.digest {
            let header = digest_header(&mut challenge, user, pass, method, uri)?;
            self.digest = Some(challenge);
            return Ok(Some((AuthScheme::Digest, header)));
        }
        if let Some(reason) = challenges.digest_error {
            return Err(reason);
        }
        if challenges.basic && https {
            return Ok(Some((AuthScheme::Basic, basic_header(user, pass))));
        }
        Ok(None)
    }
}

/// `Authorization: Digest ...` for one request; increments the challenge's `nc`.
pub(crate) fn digest_header(
    challenge: &mut WwwAuthenticateHeader,
    user: &str,
    pass: &str,
    method: &str,
    uri: &str,
) -> Result<String, String> {
    let context = AuthContext::new_with_method(
        user,
        pass,
        uri,
        Option::<&[u8]>::None,
        HttpMethod::from(method.to_owned()),
    );
    challenge
        .respond(&context)
        .map(|h| h.to_header_string())
        .map_err(|e| e.to_string())
}

/// `Authorization: Basic base64(user:pass)`.
pub(crate) fn basic_header(user: &str, pass: &str) -> String {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
    format!("Basic {token}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    const CHALLENGE: &str =
        r#"Digest realm="yealink-prov", qop="auth", algorithm=MD5, nonce="abc123", opaque="xyz""#;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(WWW_AUTHENTICATE, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn splits_combined_challenges() {
        let split = split_challenges(&format!(r#"{CHALLENGE}, Basic realm="yealink-prov""#));
        assert_eq!(split.len(), 2);
        assert_eq!(split[0].0, "Digest");
        assert_eq!(
            split[0].1,
            r#"realm="yealink-prov", qop="auth", algorithm=MD5, nonce="abc123", opaque="xyz""#
        );
        assert_eq!(split[1], ("Basic".into(), r#"realm="yealink-prov""#.into()));
        // Commas inside quotes do not split.
        let split = split_challenges(r#"Digest realm="a, b", qop="auth,auth-int", nonce="n""#);
        assert_eq!(split.len(), 1);
    }

    #[test]
    fn reads_separate_and_combined_headers() {
        let c = read_challenges(&headers(&[CHALLENGE, r#"Basic realm="yealink-prov""#]));
        assert!(c.basic);
        let digest = c.digest.unwrap();
        assert_eq!(digest.realm, "yealink-prov");
        assert_eq!(digest.nonce, "abc123");
        assert_eq!(digest.opaque.as_deref(), Some("xyz"));

        let c = read_challenges(&headers(&[&format!("{CHALLENGE}, Basic realm=\"r\"")]));
        assert!(c.basic && c.digest.is_some());

        let c = read_challenges(&headers(&[r#"Basic realm="r""#]));
        assert!(c.basic && c.digest.is_none());
    }

    /// RFC 2617 §3.5 example (MD5, qop=auth), computed by the digest_auth crate.
    #[test]
    fn digest_matches_rfc2617_example() {
        let mut challenge = digest_auth::parse(
            r#"Digest realm="testrealm@host.com", qop="auth", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41""#,
        )
        .unwrap();
        let mut context = AuthContext::new("Mufasa", "Circle Of Life", "/dir/index.html");
        context.set_custom_cnonce("0a4f113b");
        let header = challenge.respond(&context).unwrap().to_header_string();
        assert!(
            header.contains(r#"response="6629fae49393a05397450978507c4ef1""#),
            "{header}"
        );
        assert!(header.contains("nc=00000001"), "{header}");
    }

    #[test]
    fn nonce_is_reused_with_counting_nc() {
        let mut state = AuthState {
            credentials: Some(("805ec0aabbcc".into(), "secret".into())),
            digest: None,
        };
        assert!(state.preemptive("GET", "/prov/x.cfg").is_none());
        let (scheme, first) = state
            .answer(
                read_challenges(&headers(&[CHALLENGE])),
                "GET",
                "/prov/a.boot",
                false,
            )
            .unwrap()
            .unwrap();
        assert_eq!(scheme, AuthScheme::Digest);
        assert!(first.starts_with("Digest "));
        assert!(first.contains(r#"username="805ec0aabbcc""#));
        assert!(first.contains(r#"uri="/prov/a.boot""#));
        assert!(first.contains("nc=00000001"));
        assert!(first.contains("qop=auth"));
        let (_, second) = state.preemptive("GET", "/prov/b.cfg").unwrap();
        assert!(second.contains("nc=00000002"));
        assert!(second.contains(r#"nonce="abc123""#));
        let (_, third) = state.preemptive("PUT", "/prov/b-local.cfg").unwrap();
        assert!(third.contains("nc=00000003"));
    }

    #[test]
    fn basic_only_over_https_and_only_when_offered() {
        let mut state = AuthState {
            credentials: Some(("user".into(), "pass".into())),
            digest: None,
        };
        let basic = || read_challenges(&headers(&[r#"Basic realm="r""#]));
        assert!(state.answer(basic(), "GET", "/a", false).unwrap().is_none());
        let (scheme, header) = state.answer(basic(), "GET", "/a", true).unwrap().unwrap();
        assert_eq!(scheme, AuthScheme::Basic);
        assert_eq!(header, "Basic dXNlcjpwYXNz");
        // Digest preferred when both are offered, even over https.
        let both = read_challenges(&headers(&[CHALLENGE, r#"Basic realm="r""#]));
        let (scheme, _) = state.answer(both, "GET", "/a", true).unwrap().unwrap();
        assert_eq!(scheme, AuthScheme::Digest);
        // No credentials: nothing to answer with.
        let mut anonymous = AuthState::default();
        let c = read_challenges(&headers(&[CHALLENGE]));
        assert!(anonymous.answer(c, "GET", "/a", false).unwrap().is_none());
    }
}
