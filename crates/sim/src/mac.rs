//! The phone's MAC address, parsed independently of the server's own `Mac` type.

use std::fmt;

use crate::SimError;

/// A MAC address as the phone knows it: six bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Mac([u8; 6]);

impl Mac {
    /// Accepts the common notations: `805ec0aabbcc`, `80:5e:c0:aa:bb:cc`, `80-5E-C0-AA-BB-CC`,
    /// `80 5e c0 aa bb cc` and `805e.c0aa.bbcc`; any case. Separators must be consistent.
    pub fn parse(input: &str) -> Result<Mac, SimError> {
        let invalid = || SimError::InvalidMac(input.to_owned());
        let s = input.trim();
        let groups: Vec<&str> = match s.len() {
            12 => vec![s],
            17 => {
                let sep = s.chars().nth(2).ok_or_else(invalid)?;
                if !matches!(sep, ':' | '-' | ' ') {
                    return Err(invalid());
                }
                s.split(sep).collect()
            }
            14 => s.split('.').collect(),
            _ => return Err(invalid()),
        };
        let group_len = 12 / groups.len();
        if !matches!(groups.len(), 1 | 3 | 6) || groups.iter().any(|g| g.len() != group_len) {
            return Err(invalid());
        }
        let hex: String = groups.concat();
        let mut bytes = [0u8; 6];
        for (i, byte) in bytes.iter_mut().enumerate() {
            let pair = hex.get(2 * i..2 * i + 2).ok_or_else(invalid)?;
            // from_str_radix accepts a leading '+', which is not a hex digit.
            if !pair.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(invalid());
            }
            *byte = u8::from_str_radix(pair, 16).map_err(|_| invalid())?;
        }
        Ok(Mac(bytes))
    }

    /// 12 lower-case hex digits: the form used in file names and as the Digest username.
    pub fn plain(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Lower-case, colon-separated: the form at the end of the User-Agent.
    pub fn colons(&self) -> String {
        self.0
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":")
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.plain())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_common_notations() {
        for input in [
            "805ec0aabbcc",
            "805EC0AABBCC",
            "80:5e:c0:aa:bb:cc",
            "80-5E-C0-AA-BB-CC",
            "80 5e c0 aa bb cc",
            "805e.c0aa.bbcc",
            " 80:5E:c0:aa:bb:cc\n",
        ] {
            let mac = Mac::parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!(mac.plain(), "805ec0aabbcc");
            assert_eq!(mac.colons(), "80:5e:c0:aa:bb:cc");
        }
    }

    #[test]
    fn rejects_malformed() {
        for input in [
            "",
            "805ec0aabbc",
            "805ec0aabbccd",
            "805ec0aabbcg",
            "80:5e:c0-aa:bb:cc",
            "805:ec:0a:ab:bc:c0",
            "80.5e.c0.aa.bb.cc",
            "+05ec0aabbcc",
            "80:5e:c0:aa:bb:+c",
            "80_5e_c0_aa_bb_cc",
        ] {
            assert!(Mac::parse(input).is_err(), "{input:?} should be rejected");
        }
    }
}
