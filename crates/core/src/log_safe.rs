//! Text from the network (User-Agents, AppLogin fields, file names) made safe for a log line:
//! control characters (newlines that would forge a line, ESC that would drive a terminal) and
//! quotes/backslashes are escaped as Rust does (`\n`, `\u{1b}`, `\"`), and the length is bounded.

use std::fmt;

/// Characters kept from one field; the rest is cut and marked with `…`.
const MAX_CHARS: usize = 256;

/// Shows `s` escaped when formatted with `{}` (e.g. `tracing::info!(ua = %LogSafe(ua))`).
pub struct LogSafe<'a>(pub &'a str);

impl fmt::Display for LogSafe<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, c) in self.0.chars().enumerate() {
            if i == MAX_CHARS {
                return f.write_str("…");
            }
            // escape_debug leaves printable Unicode alone and escapes controls and quotes.
            write!(f, "{}", c.escape_debug())?;
        }
        Ok(())
    }
}

/// [`LogSafe`] as an owned string (what the tests compare).
#[cfg(test)]
fn escape(s: &str) -> String {
    LogSafe(s).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forged_lines_and_escapes_are_neutralised() {
        let hostile = "Yealink\n2026-01-01T00:00:00Z  INFO admin signed in\u{1b}[2J\r\u{7}\"";
        let safe = escape(hostile);
        assert!(!safe.chars().any(char::is_control), "{safe}");
        assert!(
            safe.contains("\\n2026") && safe.contains("\\u{1b}[2J"),
            "{safe}"
        );
        assert!(safe.contains("\\r") && safe.contains("\\\""), "{safe}");
        assert_eq!(
            escape("Yealink SIP-T46U 108.86.0.20 00:15:65:aa:bb:cc"),
            "Yealink SIP-T46U 108.86.0.20 00:15:65:aa:bb:cc"
        );
        assert_eq!(escape("Grüße"), "Grüße");
        assert_eq!(escape(&"x".repeat(1000)).chars().count(), MAX_CHARS + 1);
    }
}
