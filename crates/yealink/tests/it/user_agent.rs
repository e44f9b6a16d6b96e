//! User-Agent parsing: the reference's examples, and generated agents of every variant.

use proptest::prelude::*;
use yealink::{Mac, UserAgent, known_models, parse_user_agent};

fn ua(model: &str, firmware: &str, mac: Option<&str>) -> Option<UserAgent> {
    Some(UserAgent {
        model: model.to_string(),
        firmware: firmware.to_string(),
        mac: mac.map(|m| Mac::parse(m).unwrap()),
    })
}

#[test]
fn reference_examples() {
    let cases: &[(&str, Option<UserAgent>)] = &[
        (
            "Yealink SIP-T46U 108.86.0.90 80:5e:c0:aa:bb:cc",
            ua("T46U", "108.86.0.90", Some("805ec0aabbcc")),
        ),
        (
            "Yealink SIP-T46G 28.83.0.120 00:15:65:4a:a9:37",
            ua("T46G", "28.83.0.120", Some("0015654aa937")),
        ),
        (
            "Yealink SIP-T31G 124.85.257.55 80:5e:c0:d5:7d:72",
            ua("T31G", "124.85.257.55", Some("805ec0d57d72")),
        ),
        (
            "Yealink SIP-T34W 124.86.0.75 24:9a:d8:88:d0:f4",
            ua("T34W", "124.86.0.75", Some("249ad888d0f4")),
        ),
        (
            "Yealink SIP-T77U 185.87.0.10 44:db:d2:bd:b5:69",
            ua("T77U", "185.87.0.10", Some("44dbd2bdb569")),
        ),
        (
            "Yealink SIP VP-T49G 51.80.0.10 00:15:65:9b:5a:44",
            ua("T49G", "51.80.0.10", Some("0015659b5a44")),
        ),
        (
            "Yealink CP960 73.83.0.30 00:15:65:aa:bb:cc",
            ua("CP960", "73.83.0.30", Some("001565aabbcc")),
        ),
        ("Yealink CP960 73.83.0.30", ua("CP960", "73.83.0.30", None)),
        (
            "Yealink W70B 146.85.0.5 80:5e:0c:1d:65:4e",
            ua("W70B", "146.85.0.5", Some("805e0c1d654e")),
        ),
        (
            "Yealink W90DM 130.87.0.10",
            ua("W90DM", "130.87.0.10", None),
        ),
        ("Yealink W80B 103.87.0.10", ua("W80B", "103.87.0.10", None)),
        (
            "yealink SIP-T28P 2.70.0.140 00:15:65:13:ae:0b",
            ua("T28P", "2.70.0.140", Some("00156513ae0b")),
        ),
        (
            "Yealink SIP-T38G  38.70.0.125 00:15:65:2f:c3:5e",
            ua("T38G", "38.70.0.125", Some("0015652fc35e")),
        ),
        (
            "Yealink SIP-T56A 58.80.0.25 001565f429a4",
            ua("T56A", "58.80.0.25", Some("001565f429a4")),
        ),
        (
            "Yealink-T46G 28.71.0.81 28.1.0.128.0.0.0",
            ua("T46G", "28.71.0.81", None),
        ),
        (
            "W52P 25.30.0.2 00:15:65:44:b3:7c",
            ua("W52P", "25.30.0.2", Some("00156544b37c")),
        ),
        (
            "VP530P 23.70.0.40 00:15:65:31:4b:c0",
            ua("VP530P", "23.70.0.40", Some("001565314bc0")),
        ),
        (
            "Yealink SIP-T19P_E2 53.80.0.3 00:15:65:4c:4c:26",
            ua("T19P_E2", "53.80.0.3", Some("0015654c4c26")),
        ),
        (
            "Yealink SIP-W52P 25.73.0.20 00:15:65:40:ae:35",
            ua("W52P", "25.73.0.20", Some("00156540ae35")),
        ),
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64)", None),
    ];
    for (input, expected) in cases {
        assert_eq!(&parse_user_agent(input), expected, "{input:?}");
    }
    // Another vendor's agent without a Yealink model or OUI is not a Yealink phone.
    assert_eq!(parse_user_agent("Grandstream GXP2170 1.0.11.3"), None);
    assert_eq!(parse_user_agent("GXP2170 1.0.11.3 00:0b:82:01:02:03"), None);
    // ...but an unknown model with a Yealink OUI is.
    assert_eq!(
        parse_user_agent("T99Z 200.1.0.1 80:5e:c0:01:02:03"),
        ua("T99Z", "200.1.0.1", Some("805ec0010203"))
    );
}

/// How a generated agent is spelled.
#[derive(Clone, Copy, Debug)]
enum Variant {
    SipDash,
    SipVp,
    NoSipPrefix,
    OldDashed,
    NoVendorWord,
}

fn model_names() -> Vec<&'static str> {
    known_models().iter().map(|m| m.name).collect()
}

fn render(
    variant: Variant,
    lower_vendor: bool,
    gap: &str,
    model: &str,
    firmware: &str,
    mac: Mac,
    mac_style: u8,
) -> String {
    let vendor = if lower_vendor { "yealink" } else { "Yealink" };
    let mac_text = match mac_style {
        0 => mac.colon_separated(),
        1 => mac.to_string(),
        _ => mac.colon_separated().to_uppercase(),
    };
    match variant {
        Variant::SipDash => format!("{vendor}{gap}SIP-{model}{gap}{firmware}{gap}{mac_text}"),
        Variant::SipVp => format!("{vendor}{gap}SIP VP-{model}{gap}{firmware}{gap}{mac_text}"),
        Variant::NoSipPrefix => format!("{vendor}{gap}{model}{gap}{firmware}{gap}{mac_text}"),
        Variant::OldDashed => format!("{vendor}-{model}{gap}{firmware}{gap}28.1.0.128.0.0.0"),
        Variant::NoVendorWord => format!("{model}{gap}{firmware}{gap}{mac_text}"),
    }
}

proptest! {
    #[test]
    fn generated_agents_parse_back(
        variant in prop::sample::select(vec![
            Variant::SipDash, Variant::SipVp, Variant::NoSipPrefix, Variant::OldDashed,
            Variant::NoVendorWord,
        ]),
        model in prop::sample::select(model_names()),
        firmware in prop::collection::vec(0u32..1000, 2..6)
            .prop_map(|f| f.iter().map(u32::to_string).collect::<Vec<_>>().join(".")),
        // Phones carry their own (individual, non-zero) address.
        bytes in any::<[u8; 6]>().prop_filter("a device's MAC", |b| b[0] & 1 == 0 && *b != [0; 6]),
        mac_style in 0u8..3,
        lower_vendor in any::<bool>(),
        gap in prop::sample::select(vec![" ", "  ", "\t"]),
    ) {
        let mac = Mac::from_bytes(bytes);
        let text = render(variant, lower_vendor, gap, model, &firmware, mac, mac_style);
        let parsed = parse_user_agent(&text);
        let expected_mac = match variant {
            Variant::OldDashed => None,
            _ => Some(mac),
        };
        prop_assert_eq!(parsed, Some(UserAgent {
            model: model.to_string(),
            firmware: firmware.clone(),
            mac: expected_mac,
        }), "{}", text);
    }

    #[test]
    fn arbitrary_strings_never_panic(s in ".{0,80}") {
        let _ = parse_user_agent(&s);
    }

    #[test]
    fn agent_like_strings_never_panic(
        s in "(Yealink|yealink|W52P|Yealink-T4)?[ ]{0,2}(SIP|SIP VP|SIP-)?[-A-Za-z0-9_ :.]{0,40}"
    ) {
        if let Some(ua) = parse_user_agent(&s) {
            prop_assert!(!ua.model.is_empty());
            prop_assert!(ua.firmware.contains('.'));
        }
    }
}
