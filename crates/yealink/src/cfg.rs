//! Reading `.cfg`/`.boot` text: our parser of the syntax and secret masking for display.

use std::borrow::Cow;

/// Line 1 of every Yealink configuration and boot file. Not a comment: phones reject a file
/// without it.
pub const CFG_HEADER: &str = "#!version:1.0.0.1";

/// What replaces a secret value in [`mask_secrets`].
pub const MASK: &str = "********";

/// Why text is not a configuration file as we read the syntax.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("the file is empty; line 1 must be \"{}\"", CFG_HEADER)]
    Empty,
    #[error("line 1 must be exactly \"{}\", found {found:?}", CFG_HEADER)]
    MissingHeader { found: String },
    #[error(
        "line {line}: expected `key = value`, a comment starting with '#', or `include:config \"file\"`"
    )]
    NotKeyValue { line: usize },
    #[error("line {line}: nothing before '='; expected `key = value`")]
    EmptyKey { line: usize },
    #[error("line {line}: the key {key:?} contains whitespace; keys are dotted names")]
    KeyWithWhitespace { line: usize, key: String },
}

/// Parses configuration text into `(key, value)` pairs in file order (duplicates kept; the
/// phone applies the last one).
///
/// Our reading of the syntax (reference B5):
/// * line 1 must be [`CFG_HEADER`] (a UTF-8 BOM and trailing whitespace are tolerated);
/// * blank lines and lines whose first non-blank character is `#` are skipped;
/// * `key = value`, spaces around `=` optional, key and value trimmed; the value is the rest
///   of the line, so an inline `#` is part of the value (URLs such as `?term=#SEARCH`);
/// * boot-file lines `include:config "file"` (quotes optional) come back as
///   `("include:config", "file")`, so boot files parse too.
pub fn parse_cfg(text: &str) -> Result<Vec<(String, String)>, ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.lines();
    let first = lines.next().ok_or(ParseError::Empty)?;
    if first.trim_end() != CFG_HEADER {
        if text.trim().is_empty() {
            return Err(ParseError::Empty);
        }
        return Err(ParseError::MissingHeader {
            found: first.chars().take(60).collect(),
        });
    }

    let mut pairs = Vec::new();
    for (index, raw) in lines.enumerate() {
        let line_no = index + 2;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(target) = include_target(line) {
            pairs.push(("include:config".to_string(), target.to_string()));
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .ok_or(ParseError::NotKeyValue { line: line_no })?;
        let key = key.trim();
        if key.is_empty() {
            return Err(ParseError::EmptyKey { line: line_no });
        }
        if key.contains(char::is_whitespace) {
            return Err(ParseError::KeyWithWhitespace {
                line: line_no,
                key: key.to_string(),
            });
        }
        pairs.push((key.to_string(), value.trim().to_string()));
    }
    Ok(pairs)
}

fn include_target(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("include:config")?;
    if !(rest.starts_with(char::is_whitespace) || rest.starts_with('"')) {
        return None;
    }
    let rest = rest.trim();
    Some(
        rest.strip_prefix('"')
            .and_then(|r| r.strip_suffix('"'))
            .unwrap_or(rest),
    )
}

/// Whether a parameter holds a secret that must not be shown: any dotted segment naming a
/// password, passwd, secret or PIN, and the AES keys (`aes_key_16.*`, `*_aes`). Errs on the
/// side of masking.
pub fn is_secret_key(key: &str) -> bool {
    let key = key.trim().to_ascii_lowercase();
    key.split('.').any(|segment| {
        segment.contains("password")
            || segment.contains("passwd")
            || segment.contains("secret")
            || segment.starts_with("aes_key")
            || segment.ends_with("_aes")
            || segment == "pin"
            || segment.starts_with("pin_")
            || segment.ends_with("_pin")
    })
}

/// Replaces the value of every secret parameter with [`MASK`], keeping every other byte
/// (comments, spacing, line endings) as it was. For `static.security.user_password` only the
/// part after `user:` is masked, so `admin:secret` shows as `admin:********`. Empty values
/// stay empty. The text need not be a valid configuration file.
pub fn mask_secrets(cfg_text: &str) -> String {
    let mut out = String::with_capacity(cfg_text.len());
    for line in cfg_text.split_inclusive('\n') {
        out.push_str(&mask_line(line));
    }
    out
}

fn mask_line(line: &str) -> Cow<'_, str> {
    if line.trim_start().starts_with('#') {
        return Cow::Borrowed(line);
    }
    let Some((head, after)) = line.split_once('=') else {
        return Cow::Borrowed(line);
    };
    let key = head.trim();
    if !is_secret_key(key) {
        return Cow::Borrowed(line);
    }
    let value_and_tail = after.trim_start_matches([' ', '\t']);
    let lead = &after[..after.len() - value_and_tail.len()];
    let value = value_and_tail.trim_end();
    if value.is_empty() {
        return Cow::Borrowed(line);
    }
    let tail = &value_and_tail[value.len()..];
    let user_prefix = if key.to_ascii_lowercase().ends_with("user_password") {
        value.split_once(':').map(|(user, _)| user)
    } else {
        None
    };
    let masked = match user_prefix {
        Some(user) => format!("{user}:{MASK}"),
        None => MASK.to_string(),
    };
    Cow::Owned(format!("{head}={lead}{masked}{tail}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn include_lines() {
        assert_eq!(include_target("include:config \"a.cfg\""), Some("a.cfg"));
        assert_eq!(include_target("include:config a.cfg"), Some("a.cfg"));
        assert_eq!(include_target("include:configx = 1"), None);
    }

    #[test]
    fn secret_keys() {
        for key in [
            "account.1.password",
            "account.12.password",
            "static.auto_provision.server.password",
            "auto_provision.server.password",
            "static.security.user_password",
            "static.auto_provision.aes_key_16.com",
            "static.auto_provision.aes_key_16.mac",
            "static.autoprovision.1.com_aes",
            "static.network.802_1x.md5_password",
            "static.wifi.1.eap_password",
            "phone_setting.phone_lock.unlock_pin",
        ] {
            assert!(is_secret_key(key), "{key}");
        }
        for key in [
            "account.1.user_name",
            "account.1.auth_name",
            "static.auto_provision.server.username",
            "static.auto_provision.server.url",
            "lang.gui",
        ] {
            assert!(!is_secret_key(key), "{key}");
        }
    }
}
