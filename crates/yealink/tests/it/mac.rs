//! MAC parsing: every accepted spelling of one MAC parses to the same value; garbage errs.

use proptest::prelude::*;
use yealink::{Mac, MacError, YEALINK_OUIS};

fn spell(bytes: [u8; 6], separator: Option<char>, upper: bool) -> String {
    let pairs: Vec<String> = bytes
        .iter()
        .map(|b| {
            if upper {
                format!("{b:02X}")
            } else {
                format!("{b:02x}")
            }
        })
        .collect();
    match separator {
        Some(sep) => pairs.join(&sep.to_string()),
        None => pairs.concat(),
    }
}

proptest! {
    #[test]
    fn every_spelling_round_trips(
        // A device's address: individual (I/G bit clear) and not all zeros.
        bytes in any::<[u8; 6]>().prop_filter("a device's MAC", |b| b[0] & 1 == 0 && *b != [0; 6]),
        separator in prop::option::of(prop::sample::select(vec![':', '-'])),
        upper in any::<bool>(),
        pad_left in "[ \t\n]{0,3}",
        pad_right in "[ \t\r\n]{0,3}",
    ) {
        let text = format!("{pad_left}{}{pad_right}", spell(bytes, separator, upper));
        let mac = Mac::parse(&text).unwrap();
        prop_assert_eq!(mac.bytes(), bytes);
        prop_assert_eq!(text.parse::<Mac>().unwrap(), mac);
        prop_assert_eq!(Mac::parse(&mac.to_string()).unwrap(), mac);
        prop_assert_eq!(Mac::parse(&mac.colon_separated()).unwrap(), mac);
        let json = serde_json::to_string(&mac).unwrap();
        prop_assert_eq!(json, format!("\"{mac}\""));
        let back: Mac = serde_json::from_str(&format!("\"{text}\"").replace('\n', "\\n").replace('\r', "\\r").replace('\t', "\\t")).unwrap();
        prop_assert_eq!(back, mac);
    }

    #[test]
    fn group_addresses_are_never_a_device(mut bytes in any::<[u8; 6]>()) {
        bytes[0] |= 1;
        prop_assert!(Mac::parse(&spell(bytes, None, false)).is_err());
    }

    #[test]
    fn garbage_never_panics(s in ".{0,40}") {
        // Whatever it is, parsing returns; and if it succeeds, the result re-parses.
        if let Ok(mac) = Mac::parse(&s) {
            prop_assert_eq!(Mac::parse(&mac.to_string()).unwrap(), mac);
        }
    }

    #[test]
    fn wrong_digit_counts_are_reported(len in (0usize..30).prop_filter("not 12", |n| *n != 12 && *n != 0)) {
        let text = "a".repeat(len);
        prop_assert_eq!(Mac::parse(&text), Err(MacError::WrongLength { digits: len }));
    }
}

#[test]
fn error_messages_are_actionable() {
    let cases: &[(&str, &str)] = &[
        ("", "empty"),
        ("00:15:65", "6 hex digits, expected 12"),
        ("00:15:65:aa:bb:zz", "'z' at position 16"),
        ("00:15:65-aa:bb:cc", "mixes ':' and '-'"),
        ("001:565:aab:bcc", "misplaced ':'"),
        ("0015.65aa.bbcc", "'.' at position 5"),
        ("00 15 65 aa bb cc", "' ' at position 3"),
    ];
    for (input, needle) in cases {
        let message = Mac::parse(input).unwrap_err().to_string();
        assert!(message.contains(needle), "{input:?}: {message}");
    }
}

#[test]
fn deserialize_rejects_with_the_reason() {
    let err = serde_json::from_str::<Mac>("\"00:15:65\"").unwrap_err();
    assert!(err.to_string().contains("6 hex digits"), "{err}");
    assert!(serde_json::from_str::<Mac>("42").is_err());
}

#[test]
fn ouis() {
    assert_eq!(YEALINK_OUIS.len(), 12);
    for oui in YEALINK_OUIS {
        let mac = Mac::parse(&format!("{oui}000001")).unwrap();
        assert!(mac.is_yealink_oui(), "{oui}");
    }
}
