//! Database URLs: which backend a URL names, and a form of it that is safe to log.

use crate::StoreError;

/// The accepted URL forms, for error messages.
pub(crate) const ACCEPTED: &str =
    "sqlite://PATH?mode=rwc, sqlite:PATH, sqlite::memory:, postgres://... or postgresql://...";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// Picks the backend from the URL scheme (case-insensitive).
    pub(crate) fn from_url(url: &str) -> Result<Self, StoreError> {
        let scheme = scheme(url);
        match scheme.map(str::to_ascii_lowercase).as_deref() {
            Some("sqlite") => Ok(Self::Sqlite),
            Some("postgres" | "postgresql") => Ok(Self::Postgres),
            // Name the scheme only when the input clearly is a URL (`scheme://`): otherwise it
            // may be anything, e.g. a bare password containing a colon.
            Some(other) if url[other.len()..].starts_with("://") => {
                Err(StoreError::UnsupportedUrl(format!(
                    "unsupported database URL scheme {other:?}; use {ACCEPTED}"
                )))
            }
            _ => Err(StoreError::UnsupportedUrl(format!(
                "unsupported database URL; use {ACCEPTED}"
            ))),
        }
    }
}

/// The URL scheme if `url` starts with one (RFC 3986: a letter, then letters, digits, `+-.`).
fn scheme(url: &str) -> Option<&str> {
    let (scheme, _) = url.split_once(':')?;
    let mut chars = scheme.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    (first_ok && rest_ok).then_some(scheme)
}

/// Returns `url` with its password replaced by `***`, for logs and error messages:
/// `postgres://user:secret@host/db` becomes `postgres://user:***@host/db`. Password-like query
/// parameters (`password=`, `sslpassword=`, ...) are masked too.
///
/// Errs on the side of hiding: with an unencoded `@` or `/` in the password, everything up to
/// the last `@` is treated as credentials.
pub fn redact_url(url: &str) -> String {
    let redacted_userinfo = match url.split_once("://") {
        Some((scheme, rest)) => match rest.rfind('@') {
            Some(at) => {
                let (userinfo, host_and_rest) = rest.split_at(at);
                match userinfo.split_once(':') {
                    Some((user, _password)) => format!("{scheme}://{user}:***{host_and_rest}"),
                    None => url.to_owned(),
                }
            }
            None => url.to_owned(),
        },
        None => url.to_owned(),
    };
    redact_password_params(&redacted_userinfo)
}

/// Masks the value of every `key=value` whose key mentions a password or secret, in a query
/// string or a libpq-style `key=value key=value` string alike.
fn redact_password_params(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(eq) = rest.find('=') {
        let (before, after_eq) = rest.split_at(eq);
        let key_start = before.rfind(['?', '&', ' ', ';']).map_or(0, |i| i + 1);
        let key = before[key_start..].to_ascii_lowercase();
        out.push_str(before);
        out.push('=');
        let value = &after_eq[1..];
        let value_end = value.find(['&', ' ', ';', '#']).unwrap_or(value.len());
        if ["pass", "secret", "token"].iter().any(|k| key.contains(k)) {
            out.push_str("***");
        } else {
            out.push_str(&value[..value_end]);
        }
        rest = &value[value_end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_userinfo_password() {
        assert_eq!(
            redact_url("postgres://user:s3cret@db.example:5432/prov"),
            "postgres://user:***@db.example:5432/prov"
        );
        assert_eq!(
            redact_url("postgresql://u:p@ss/w@host/db?sslmode=require"),
            "postgresql://u:***@host/db?sslmode=require"
        );
    }

    #[test]
    fn leaves_urls_without_password_alone() {
        for url in [
            "postgres://user@host/db",
            "postgres://host/db",
            "sqlite://data/prov.sqlite?mode=rwc",
            "sqlite::memory:",
        ] {
            assert_eq!(redact_url(url), url);
        }
    }

    #[test]
    fn redacts_password_parameters() {
        assert_eq!(
            redact_url("postgres://host/db?user=u&password=hunter2&sslmode=require"),
            "postgres://host/db?user=u&password=***&sslmode=require"
        );
        assert_eq!(
            redact_url("host=h user=u password=hunter2 dbname=d"),
            "host=h user=u password=*** dbname=d"
        );
        assert_eq!(
            redact_url("postgres://a:b@h/d?sslpassword=x"),
            "postgres://a:***@h/d?sslpassword=***"
        );
    }

    #[test]
    fn picks_backend_by_scheme() {
        assert_eq!(
            Backend::from_url("sqlite::memory:").ok(),
            Some(Backend::Sqlite)
        );
        assert_eq!(
            Backend::from_url("SQLite://x.db").ok(),
            Some(Backend::Sqlite)
        );
        assert_eq!(
            Backend::from_url("postgres://h/d").ok(),
            Some(Backend::Postgres)
        );
        assert_eq!(
            Backend::from_url("postgresql://h/d").ok(),
            Some(Backend::Postgres)
        );
    }

    #[test]
    fn unsupported_url_names_schemes_and_hides_secrets() {
        for url in [
            "mysql://root:hunter2@db/prov",
            "hunter2",
            "hunter2@host",
            "hunter2:x",
        ] {
            let err = Backend::from_url(url).err().map(|e| format!("{e} {e:?}"));
            let msg = err.unwrap_or_default();
            assert!(msg.contains("postgres://"), "{msg}");
            assert!(msg.contains("sqlite:"), "{msg}");
            assert!(!msg.contains("hunter2"), "{msg}");
        }
    }
}
