//! The phone's MAC address: the one identity every Yealink file name and User-Agent carries.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// Yealink's IEEE OUIs (the first three bytes of a MAC), as lower-case hex.
///
/// Collected from wazo-provd and FreePBX EPM. A phone outside this list is not necessarily
/// foreign (Yealink registers new blocks), so treat this as a hint, never as a check.
pub const YEALINK_OUIS: &[&str] = &[
    "001565", "805ec0", "805e0c", "249ad8", "44dbd2", "c4fc22", "ec1da9", "644f56", "3497d7",
    "b061a9", "f01653", "e434d7",
];

/// A MAC address that is known to be valid. Displayed as 12 lower-case hex digits, the form
/// Yealink uses in file names.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mac([u8; 6]);

/// Why a string is not a MAC address. Positions count characters from 1, after trimming.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MacError {
    #[error("the MAC address is empty; expected 12 hex digits such as 00:15:65:aa:bb:cc")]
    Empty,
    #[error(
        "the MAC address has {digits} hex digits, expected 12 (for example 001565aabbcc or 00:15:65:aa:bb:cc)"
    )]
    WrongLength { digits: usize },
    #[error(
        "the MAC address contains {ch:?} at position {position}; only hex digits 0-9 a-f and ':' or '-' between pairs are allowed"
    )]
    InvalidChar { ch: char, position: usize },
    #[error("the MAC address mixes ':' and '-'; use one separator throughout")]
    MixedSeparators,
    #[error(
        "the MAC address has a misplaced {separator:?}; separators must sit between every pair of hex digits, as in 00{separator}15{separator}65{separator}aa{separator}bb{separator}cc"
    )]
    MisplacedSeparator { separator: char },
    #[error(
        "{0} cannot be a phone's MAC address: all zeros, broadcast and multicast (odd first byte) addresses are never assigned to a device"
    )]
    NotADevice(String),
}

impl Mac {
    /// Builds a MAC from its six bytes, unchecked: for bytes from a source already known to
    /// hold a device's address (tests, simulators); outside input goes through [`Mac::parse`].
    pub const fn from_bytes(bytes: [u8; 6]) -> Mac {
        Mac(bytes)
    }

    /// Parses `00:15:65:AA:BB:CC`, `00-15-65-aa-bb-cc` or `001565aabbcc`, in any case, with
    /// surrounding whitespace ignored.
    pub fn parse(s: &str) -> Result<Mac, MacError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(MacError::Empty);
        }
        let mut digits = Vec::with_capacity(12);
        let mut separator: Option<char> = None;
        let mut separator_positions = Vec::new();
        for (index, ch) in s.chars().enumerate() {
            match ch {
                ':' | '-' => {
                    if separator.is_some_and(|sep| sep != ch) {
                        return Err(MacError::MixedSeparators);
                    }
                    separator = Some(ch);
                    separator_positions.push(index);
                }
                _ => match ch.to_digit(16) {
                    // to_digit(16) is at most 15, so the cast cannot truncate.
                    Some(value) => digits.push(value as u8),
                    None => {
                        return Err(MacError::InvalidChar {
                            ch,
                            position: index + 1,
                        });
                    }
                },
            }
        }
        if digits.len() != 12 {
            return Err(MacError::WrongLength {
                digits: digits.len(),
            });
        }
        if let Some(separator) = separator
            && separator_positions != [2, 5, 8, 11, 14]
        {
            return Err(MacError::MisplacedSeparator { separator });
        }
        let mut bytes = [0u8; 6];
        for (byte, pair) in bytes.iter_mut().zip(digits.chunks_exact(2)) {
            *byte = (pair[0] << 4) | pair[1];
        }
        // The I/G bit (bit 0 of the first byte) marks group addresses, broadcast included
        // (IEEE 802-2014 §8.2); a device's own address is an individual one, and never zero.
        if bytes == [0; 6] || bytes[0] & 1 == 1 {
            return Err(MacError::NotADevice(Mac(bytes).colon_separated()));
        }
        Ok(Mac(bytes))
    }

    /// The six bytes.
    pub fn bytes(&self) -> [u8; 6] {
        self.0
    }

    /// `00:15:65:aa:bb:cc`, the form the phone puts in its User-Agent.
    pub fn colon_separated(&self) -> String {
        let [a, b, c, d, e, f] = self.0;
        format!("{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{f:02x}")
    }

    /// The OUI (first three bytes) as 6 lower-case hex digits.
    pub fn oui(&self) -> String {
        let [a, b, c, ..] = self.0;
        format!("{a:02x}{b:02x}{c:02x}")
    }

    /// Whether the OUI is one of [`YEALINK_OUIS`].
    pub fn is_yealink_oui(&self) -> bool {
        let oui = self.oui();
        YEALINK_OUIS.contains(&oui.as_str())
    }
}

impl FromStr for Mac {
    type Err = MacError;

    fn from_str(s: &str) -> Result<Mac, MacError> {
        Mac::parse(s)
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mac({self})")
    }
}

impl Serialize for Mac {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Mac {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Mac, D::Error> {
        struct MacVisitor;

        impl Visitor<'_> for MacVisitor {
            type Value = Mac;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a MAC address such as 001565aabbcc or 00:15:65:aa:bb:cc")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Mac, E> {
                Mac::parse(v).map_err(E::custom)
            }
        }

        deserializer.deserialize_str(MacVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_format_parses_to_the_same_mac() {
        let expected = Mac::from_bytes([0x00, 0x15, 0x65, 0xaa, 0xbb, 0xcc]);
        for s in [
            "00:15:65:AA:BB:CC",
            "00-15-65-aa-bb-cc",
            "001565aabbcc",
            "  001565AaBbCc\n",
        ] {
            assert_eq!(Mac::parse(s), Ok(expected), "{s}");
        }
    }

    #[test]
    fn errors_say_what_is_wrong() {
        assert_eq!(Mac::parse(" "), Err(MacError::Empty));
        assert_eq!(
            Mac::parse("001565aabbc"),
            Err(MacError::WrongLength { digits: 11 })
        );
        assert_eq!(
            Mac::parse("00:15:65:aa:bb:cg"),
            Err(MacError::InvalidChar {
                ch: 'g',
                position: 17
            })
        );
        assert_eq!(
            Mac::parse("00:15:65-aa:bb:cc"),
            Err(MacError::MixedSeparators)
        );
        assert_eq!(
            Mac::parse("0015:65aa:bbcc"),
            Err(MacError::MisplacedSeparator { separator: ':' })
        );
        assert_eq!(
            Mac::parse("00:15:65:aa:bb:cc:"),
            Err(MacError::MisplacedSeparator { separator: ':' })
        );
        for impossible in [
            "00:00:00:00:00:00",
            "ff:ff:ff:ff:ff:ff",
            "01:00:5e:00:00:01", // IPv4 multicast
            "33:33:00:00:00:01", // IPv6 multicast
            "011565aabbcc",      // a Yealink OUI with the group bit set
        ] {
            let e = Mac::parse(impossible).expect_err(impossible);
            assert!(matches!(e, MacError::NotADevice(_)), "{impossible}: {e}");
            assert!(e.to_string().contains("cannot be a phone"), "{e}");
        }
        // Locally administered unicast addresses (bit 1) are allowed: VMs and labs use them.
        assert!(Mac::parse("02:00:00:aa:bb:cc").is_ok());
        let message = MacError::WrongLength { digits: 11 }.to_string();
        assert!(message.contains("11 hex digits"), "{message}");
    }

    #[test]
    fn formats() {
        let mac = Mac::parse("80:5E:C0:11:22:33").unwrap();
        assert_eq!(mac.to_string(), "805ec0112233");
        assert_eq!(format!("{mac:?}"), "Mac(805ec0112233)");
        assert_eq!(mac.colon_separated(), "80:5e:c0:11:22:33");
        assert!(mac.is_yealink_oui());
        assert!(!Mac::parse("0800270a0b0c").unwrap().is_yealink_oui());
    }
}
