//! Property tests standing in for fuzzing: whatever comes back from an RPS endpoint (or
//! something pretending to be one), the answer parsers return a value or an error, never a
//! panic, and well-formed answers keep their text exactly.

use proptest::prelude::*;
use rps::json::parse_envelope;
use rps::xmlrpc::{RawAnswer, parse_answer};

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Text fragments an XML-RPC answer is made of, shuffled into mostly-broken documents.
fn xmlish() -> impl Strategy<Value = String> {
    let part = prop_oneof![
        Just("<?xml version=\"1.0\"?>".to_owned()),
        Just("<methodResponse>".to_owned()),
        Just("</methodResponse>".to_owned()),
        Just("<params><param><value>".to_owned()),
        Just("</value></param></params>".to_owned()),
        Just("<array><data>".to_owned()),
        Just("</data></array>".to_owned()),
        Just("<value><boolean>1</boolean></value>".to_owned()),
        Just("<value><string>".to_owned()),
        Just("</string></value>".to_owned()),
        Just("<fault><value><struct>".to_owned()),
        Just("<member><name>faultCode</name><value><int>4</int></value></member>".to_owned()),
        Just("</struct></value></fault>".to_owned()),
        ".{0,12}",
    ];
    prop::collection::vec(part, 0..14).prop_map(|parts| parts.concat())
}

proptest! {
    #[test]
    fn any_text_is_an_answer_or_garbled(body in ".{0,300}") {
        let _ = parse_answer(&body);
        let _ = parse_envelope(&body);
    }

    #[test]
    fn xml_shaped_garbage_is_an_answer_or_garbled(body in xmlish()) {
        let _ = parse_answer(&body);
    }

    #[test]
    fn a_well_formed_answer_keeps_its_text(success in any::<bool>(), text in "[^\u{0}-\u{1f}]{0,40}") {
        let body = format!(
            "<?xml version=\"1.0\"?><methodResponse><params><param><value><array><data>\
             <value><boolean>{}</boolean></value><value><string>{}</string></value>\
             </data></array></value></param></params></methodResponse>",
            u8::from(success),
            xml_escape(&text)
        );
        match parse_answer(&body) {
            Ok(RawAnswer::Result { success: s, text: t }) => {
                prop_assert_eq!(s, success);
                prop_assert_eq!(t.trim(), text.trim());
            }
            other => prop_assert!(false, "{other:?}"),
        }
    }

    #[test]
    fn json_shaped_garbage_is_an_envelope_or_garbled(
        ret in prop_oneof![Just("0".to_owned()), Just("\"x\"".to_owned()), "-?[0-9]{1,20}"],
        msg in ".{0,20}",
        data in prop_oneof![Just("null".to_owned()), Just("[]".to_owned()), Just("{}".to_owned()), "[0-9]{1,5}"],
    ) {
        let body = format!("{{\"ret\":{ret},\"msg\":{},\"data\":{data}}}", serde_json::Value::String(msg));
        let _ = parse_envelope(&body);
    }
}
