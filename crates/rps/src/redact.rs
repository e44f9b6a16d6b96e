//! Masking of secrets in what we show: history records, answer texts, error messages, Debug.
//!
//! Two tools: URL redaction by shape (userinfo, the `/prov/<token>/` segment, query values),
//! and [`Scrubber`], which replaces every occurrence of secrets we know by value (a password,
//! the AccessKey Secret, the token of the URL we just sent) in text RPS sent back to us.

/// What a secret is replaced with.
pub const MASK: &str = "********";

/// Secrets shorter than this are not scrubbed by value: masking every "1" in a text would
/// destroy it, and such a secret protects nothing anyway.
const MIN_SCRUB_LEN: usize = 4;

/// Masks the secrets a URL can carry by its shape: `user:password@`, the segment after a
/// `prov` segment (our per-device URL token, `/prov/<token>/`) and every query value.
pub fn redact_url(url: &str) -> String {
    redact(url, false)
}

/// Like [`redact_url`], for a per-device URL, which by definition carries the phone's token:
/// when it has no `/prov/<token>` segment, its last non-empty path segment is masked instead.
pub fn redact_unique_url(url: &str) -> String {
    redact(url, true)
}

/// The token of a per-device URL: the segment [`redact_unique_url`] masks.
pub fn url_token(url: &str) -> Option<String> {
    let parts = UrlParts::split(url);
    let segments: Vec<&str> = parts.path.split('/').collect();
    token_index(&segments, true).and_then(|i| segments.get(i).map(|s| (*s).to_owned()))
}

fn redact(url: &str, unique: bool) -> String {
    let parts = UrlParts::split(url);
    let mut out = String::with_capacity(url.len());
    out.push_str(parts.scheme);
    if let Some(at) = parts.authority.rfind('@') {
        out.push_str(MASK);
        out.push_str(parts.authority.get(at..).unwrap_or_default());
    } else {
        out.push_str(parts.authority);
    }
    let mut segments: Vec<&str> = parts.path.split('/').collect();
    if let Some(i) = token_index(&segments, unique)
        && let Some(segment) = segments.get_mut(i)
    {
        *segment = MASK;
    }
    out.push_str(&segments.join("/"));
    if let Some(query) = parts.query {
        out.push('?');
        let masked: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, v)) if !v.is_empty() => format!("{k}={MASK}"),
                _ => pair.to_owned(),
            })
            .collect();
        out.push_str(&masked.join("&"));
    }
    if let Some(fragment) = parts.fragment {
        out.push('#');
        out.push_str(fragment);
    }
    out
}

/// Index of the token segment: the one after `prov`, else (for per-device URLs) the last
/// non-empty one.
fn token_index(segments: &[&str], unique: bool) -> Option<usize> {
    let after_prov = segments
        .iter()
        .position(|s| *s == "prov")
        .map(|i| i + 1)
        .filter(|i| segments.get(*i).is_some_and(|s| !s.is_empty()));
    if after_prov.is_some() || !unique {
        return after_prov;
    }
    segments.iter().rposition(|s| !s.is_empty())
}

/// A URL cut into pieces without validating it: redaction must work on anything.
struct UrlParts<'a> {
    /// `https://` (or empty when the text has no scheme).
    scheme: &'a str,
    authority: &'a str,
    path: &'a str,
    query: Option<&'a str>,
    fragment: Option<&'a str>,
}

impl<'a> UrlParts<'a> {
    fn split(url: &'a str) -> UrlParts<'a> {
        let (rest, fragment) = match url.split_once('#') {
            Some((r, f)) => (r, Some(f)),
            None => (url, None),
        };
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q)),
            None => (rest, None),
        };
        let (scheme, rest) = match rest.find("://") {
            Some(i) => rest.split_at(i + 3),
            None => ("", rest),
        };
        let (authority, path) = if scheme.is_empty() {
            ("", rest)
        } else {
            match rest.find('/') {
                Some(i) => rest.split_at(i),
                None => (rest, ""),
            }
        };
        UrlParts {
            scheme,
            authority,
            path,
            query,
            fragment,
        }
    }
}

/// Replaces known secret values in text that came back from RPS or from the HTTP stack.
#[derive(Clone, Debug, Default)]
pub struct Scrubber {
    secrets: Vec<String>,
}

impl Scrubber {
    pub fn new() -> Scrubber {
        Scrubber::default()
    }

    /// Adds a secret value (ignored when too short to mask meaningfully).
    pub fn with(mut self, secret: impl Into<String>) -> Scrubber {
        let secret = secret.into();
        if secret.chars().count() >= MIN_SCRUB_LEN && !self.secrets.contains(&secret) {
            self.secrets.push(secret);
            // Longest first, so a secret containing another is masked whole.
            self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
        self
    }

    /// Adds an optional secret.
    pub fn with_opt(self, secret: Option<&str>) -> Scrubber {
        match secret {
            Some(s) => self.with(s),
            None => self,
        }
    }

    /// Adds the token of a per-device URL and any password in its userinfo.
    pub fn with_url(self, url: Option<&str>) -> Scrubber {
        let Some(url) = url else { return self };
        let userinfo_password = UrlParts::split(url)
            .authority
            .rsplit_once('@')
            .and_then(|(info, _)| info.split_once(':').map(|(_, pw)| pw.to_owned()));
        self.with_opt(url_token(url).as_deref())
            .with_opt(userinfo_password.as_deref())
    }

    /// `text` with every known secret replaced by [`MASK`].
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), MASK);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prov_token_is_masked() {
        assert_eq!(
            redact_url("https://p.example.com/prov/abcDEF123456ghiJKL789012/"),
            "https://p.example.com/prov/********/"
        );
        assert_eq!(
            redact_unique_url("https://p.example.com:8443/base/prov/tok-en_1/"),
            "https://p.example.com:8443/base/prov/********/"
        );
    }

    #[test]
    fn server_url_without_token_is_kept() {
        assert_eq!(
            redact_url("https://p.example.com/prov/"),
            "https://p.example.com/prov/"
        );
        assert_eq!(redact_url("https://p.example.com"), "https://p.example.com");
    }

    #[test]
    fn unique_url_without_prov_masks_last_segment() {
        assert_eq!(
            redact_unique_url("https://p.example.com/y/secret-token/"),
            "https://p.example.com/y/********/"
        );
        assert_eq!(
            url_token("https://p.example.com/y/secret-token/").as_deref(),
            Some("secret-token")
        );
    }

    #[test]
    fn userinfo_and_query_are_masked() {
        assert_eq!(
            redact_url("https://user:pw@rps.example.com/xmlrpc?key=abc&flag"),
            "https://********@rps.example.com/xmlrpc?key=********&flag"
        );
    }

    #[test]
    fn scrubber_masks_known_values_longest_first() {
        let s = Scrubber::new()
            .with("abcd")
            .with("abcdefgh")
            .with("x")
            .with_url(Some("https://u:pw-secret@h/prov/TOKEN123/"));
        assert_eq!(
            s.scrub("abcdefgh abcd x TOKEN123 pw-secret"),
            "******** ******** x ******** ********"
        );
    }
}
