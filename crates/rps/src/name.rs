//! The RPS server name we register our URL under.

/// Used when a domain yields nothing usable.
const FALLBACK: &str = "yealink-prov";

/// The innovaphone app uses "the 24 first characters of the domain name"; RPS accepts only
/// `A-z 0-9 - _ .` and space in a name.
const MAX_CHARS: usize = 24;

/// The server name for a domain: its first 24 characters, lower-cased (domains are
/// case-insensitive, and one domain must always give one name), every character outside
/// `A-Za-z0-9-_. ` replaced by `-`. Never empty: a domain without any letter or digit gives
/// `yealink-prov`.
pub fn server_name_from_domain(domain: &str) -> String {
    let name: String = domain
        .trim()
        .chars()
        .take(MAX_CHARS)
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ' ') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let name = name.trim_end().to_owned();
    if name.chars().any(|c| c.is_ascii_alphanumeric()) {
        name
    } else {
        FALLBACK.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_domain_is_kept() {
        assert_eq!(
            server_name_from_domain("pbx.example.com"),
            "pbx.example.com"
        );
        assert_eq!(
            server_name_from_domain("  PBX.Example.COM "),
            "pbx.example.com"
        );
    }

    #[test]
    fn cut_to_24_characters() {
        let name = server_name_from_domain("a-very-long-subdomain.customer.example.com");
        assert_eq!(name, "a-very-long-subdomain.cu");
        assert_eq!(name.chars().count(), 24);
    }

    #[test]
    fn foreign_characters_become_dashes() {
        assert_eq!(server_name_from_domain("müller:8080/x"), "m-ller-8080-x");
        assert_eq!(server_name_from_domain("a_b c"), "a_b c");
        // Multi-byte characters count as one character each, not as bytes.
        assert_eq!(server_name_from_domain(&"äb".repeat(20)), "-b".repeat(12));
    }

    #[test]
    fn never_empty() {
        assert_eq!(server_name_from_domain(""), "yealink-prov");
        assert_eq!(server_name_from_domain("   "), "yealink-prov");
        assert_eq!(server_name_from_domain("...--"), "yealink-prov");
        assert_eq!(server_name_from_domain("ääää"), "yealink-prov");
    }
}
