//! The phone's own reading of Yealink `.cfg` / `.boot` syntax (reference B5), written
//! independently of the server's renderer so that the two can disagree and tests notice.
//!
//! - line 1 must be exactly `#!version:1.0.0.1` (a trailing CR is tolerated: CRLF files);
//! - blank lines and lines starting with `#` are skipped;
//! - `key = value`: spaces around `=` optional, the value is the rest of the line trimmed,
//!   and an inline `#` is part of the value (URLs such as `?term=#SEARCH` contain one);
//! - `include:config "x"`, `include:config <x>` or `include:config x` (boot files).
//!
//! Anything else is rejected with its line number: a server emitting junk is a bug to catch.

use crate::SimError;

/// The mandatory first line of every boot and configuration file.
pub const HEADER: &str = "#!version:1.0.0.1";

/// The key under which [`parse`] reports `include:config` lines.
pub const INCLUDE_KEY: &str = "include:config";

/// One meaningful line of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// `key = value`.
    Param {
        /// The dotted parameter name, as written (case kept).
        key: String,
        /// The rest of the line after `=`, trimmed; may be empty.
        value: String,
    },
    /// `include:config ...`: the path or URL between the quotes or angle brackets.
    Include(String),
}

/// Parses a file into `(key, value)` pairs in file order. `include:config` lines come out as
/// `("include:config", path)`. Errors are [`SimError::BadFile`] with an empty file name.
pub fn parse(text: &str) -> Result<Vec<(String, String)>, SimError> {
    Ok(parse_lines(text)?
        .into_iter()
        .map(|line| match line {
            Line::Param { key, value } => (key, value),
            Line::Include(path) => (INCLUDE_KEY.to_owned(), path),
        })
        .collect())
}

/// Like [`parse`], keeping includes apart from parameters.
pub fn parse_lines(text: &str) -> Result<Vec<Line>, SimError> {
    let bad = |reason: String| SimError::BadFile {
        file: String::new(),
        reason,
    };
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    match lines.next() {
        Some(HEADER) => {}
        Some(first) => {
            return Err(bad(format!(
                "line 1 must be {HEADER:?}, found {:?}",
                truncate(first)
            )));
        }
        None => return Err(bad("empty file".to_owned())),
    }
    let mut out = Vec::new();
    for (idx, raw) in lines.enumerate() {
        let number = idx + 2;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(rest) = line.strip_prefix(INCLUDE_KEY) {
            let path = include_path(rest)
                .ok_or_else(|| bad(format!("line {number}: malformed include {line:?}")))?;
            out.push(Line::Include(path.to_owned()));
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(bad(format!(
                "line {number}: neither a comment nor key = value: {:?}",
                truncate(line)
            )));
        };
        let key = key.trim();
        if key.is_empty() || key.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad(format!("line {number}: bad key {key:?}")));
        }
        out.push(Line::Param {
            key: key.to_owned(),
            value: value.trim().to_owned(),
        });
    }
    Ok(out)
}

/// The path after `include:config`, which must be separated from it by white space
/// (or directly followed by a quote or bracket).
fn include_path(rest: &str) -> Option<&str> {
    if !(rest.starts_with(char::is_whitespace) || rest.starts_with(['"', '<'])) {
        return None;
    }
    let rest = rest.trim();
    let path = if let Some(inner) = rest.strip_prefix('"') {
        inner.strip_suffix('"')?
    } else if let Some(inner) = rest.strip_prefix('<') {
        inner.strip_suffix('>')?
    } else {
        rest
    };
    let path = path.trim();
    (!path.is_empty() && !path.contains(char::is_whitespace)).then_some(path)
}

fn truncate(s: &str) -> String {
    s.chars().take(60).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn parses_params_comments_and_blank_lines() {
        let text = "#!version:1.0.0.1\n## banner\n\n  # indented comment\naccount.1.enable = 1\naccount.1.label=Alice\nlocal_time.time_zone =+1\n";
        assert_eq!(
            parse(text).unwrap(),
            pairs(&[
                ("account.1.enable", "1"),
                ("account.1.label", "Alice"),
                ("local_time.time_zone", "+1"),
            ])
        );
    }

    #[test]
    fn value_is_rest_of_line_and_hash_is_not_a_comment() {
        let text = "#!version:1.0.0.1\nremote_phonebook.data.1.url = http://h/pb?term=#SEARCH # x\nk = a = b\nempty =\nnull = %NULL%\n";
        assert_eq!(
            parse(text).unwrap(),
            pairs(&[
                (
                    "remote_phonebook.data.1.url",
                    "http://h/pb?term=#SEARCH # x"
                ),
                ("k", "a = b"),
                ("empty", ""),
                ("null", "%NULL%"),
            ])
        );
    }

    #[test]
    fn include_forms() {
        let text = "#!version:1.0.0.1\ninclude:config \"y000000000108.cfg\"\ninclude:config <sip.cfg>\ninclude:config http://127.0.0.1/a.cfg\ninclude:config\"q.cfg\"\noverwrite_mode = 1\n";
        assert_eq!(
            parse_lines(text).unwrap(),
            vec![
                Line::Include("y000000000108.cfg".into()),
                Line::Include("sip.cfg".into()),
                Line::Include("http://127.0.0.1/a.cfg".into()),
                Line::Include("q.cfg".into()),
                Line::Param {
                    key: "overwrite_mode".into(),
                    value: "1".into()
                },
            ]
        );
        assert_eq!(
            parse(text).unwrap()[0],
            ("include:config".to_owned(), "y000000000108.cfg".to_owned())
        );
    }

    #[test]
    fn crlf_is_tolerated() {
        let text = "#!version:1.0.0.1\r\na = 1\r\n";
        assert_eq!(parse(text).unwrap(), pairs(&[("a", "1")]));
    }

    #[test]
    fn header_is_mandatory_and_exact() {
        for text in [
            "",
            "a = 1\n",
            "## comment\n#!version:1.0.0.1\n",
            " #!version:1.0.0.1\n",
            "#!version:1.0.0.2\n",
            "\u{feff}#!version:1.0.0.1\n",
            "#!version:1.0.0.1 trailing\n",
        ] {
            let err = parse(text).unwrap_err();
            assert!(matches!(err, SimError::BadFile { .. }), "{text:?}: {err}");
        }
        assert_eq!(parse("#!version:1.0.0.1").unwrap(), vec![]);
    }

    #[test]
    fn junk_lines_are_rejected_with_line_number() {
        for (text, line) in [
            ("#!version:1.0.0.1\nfoo\n", "line 2"),
            ("#!version:1.0.0.1\n\n = 1\n", "line 3"),
            ("#!version:1.0.0.1\na b = 1\n", "line 2"),
            ("#!version:1.0.0.1\ninclude:config \"x.cfg\n", "line 2"),
            ("#!version:1.0.0.1\ninclude:config\n", "line 2"),
            ("#!version:1.0.0.1\ninclude:configx.cfg\n", "line 2"),
        ] {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains(line), "{text:?}: {err}");
        }
    }
}
