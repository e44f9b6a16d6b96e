//! Property tests standing in for fuzzing (cargo-fuzz needs a nightly toolchain CI does not
//! have): whatever a PBX, Users or Devices sends, parsing returns a value or an error, never a
//! panic, and frames survive an encode/decode round trip. `PROPTEST_CASES` sets the effort; CI
//! runs the default, docs/security.md records a long run.

use innovaphone::{
    AdminKind, ConfigMessage, Frame, Incoming, PbxInfo, ProvisioningPhone, ServicesInfo,
    TunnelEvent, decode, encode,
};
use proptest::prelude::*;
use serde_json::{Map, Value};

/// Any JSON value, a few levels deep, with the keys the parsers look for mixed in.
fn json() -> impl Strategy<Value = Value> {
    json_with_floats(true)
}

/// `floats: false` for round trips: serde_json (without its `float_roundtrip` feature) may
/// print an f64 one unit off in the last place, which is not a framing fault.
fn json_with_floats(floats: bool) -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("mt".to_owned()),
        Just("src".to_owned()),
        Just("api".to_owned()),
        Just("domain".to_owned()),
        Just("services".to_owned()),
        Just("info".to_owned()),
        Just("url".to_owned()),
        Just("config".to_owned()),
        Just("type".to_owned()),
        Just("last".to_owned()),
        Just("mac".to_owned()),
        Just("code".to_owned()),
        Just("password".to_owned()),
        Just("devices".to_owned()),
        "[a-z]{1,8}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(move |f| if floats {
            Value::from(f)
        } else {
            Value::from(f as i64)
        }),
        ".{0,24}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..8)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn mt() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("PbxInfo".to_owned()),
        Just("ServicesInfo".to_owned()),
        Just("ProvisioningPhone".to_owned()),
        Just("AppLogin".to_owned()),
        "[A-Za-z]{0,12}",
    ]
}

proptest! {
    #[test]
    fn any_text_parses_or_errs(text in ".{0,256}") {
        let _ = Incoming::parse(&text);
    }

    #[test]
    fn any_message_object_parses_or_errs(mt in mt(), mut body in json()) {
        if let Value::Object(map) = &mut body {
            map.insert("mt".into(), Value::String(mt));
        }
        if let Ok(msg) = Incoming::parse(&body.to_string()) {
            let _ = PbxInfo::from_incoming(&msg);
            let _ = ServicesInfo::from_incoming(&msg);
            let _ = ProvisioningPhone::from_incoming(&msg);
        }
    }

    #[test]
    fn any_bytes_decode_or_err(bytes in prop::collection::vec(any::<u8>(), 0..128)) {
        if let Ok(Frame::Admin { json, .. }) = decode(&bytes) {
            let _ = ConfigMessage::from_json(&json);
        }
    }

    #[test]
    fn any_config_json_parses_or_errs(value in json()) {
        let _ = ConfigMessage::from_json(&value);
    }

    #[test]
    fn tunnel_frames_round_trip(
        session in any::<u32>(),
        event in any::<u32>(),
        data in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let frame = Frame::Tunnel { session, event: TunnelEvent::from_code(event), data };
        prop_assert_eq!(decode(&encode(&frame)).unwrap(), frame);
    }

    #[test]
    fn admin_frames_round_trip(code in any::<u16>(), value in json_with_floats(false)) {
        let frame = Frame::Admin { kind: AdminKind::from_code(code), json: value };
        let decoded = decode(&encode(&frame)).unwrap();
        prop_assert_eq!(decoded, frame);
    }
}
