//! Property tests standing in for fuzzing the parsers an anonymous phone or an admin's file
//! reaches: the HTTP Digest `Authorization` header and the CSV import. Whatever the input, a
//! value or a clear error, never a panic; well-formed input keeps its values.

use proptest::prelude::*;
use prov_core::import::parse_csv;
use yealink_prov::web::digest::parse_authorization;

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Pieces of a CSV import, mostly valid lines with broken ones mixed in.
fn csv_text() -> impl Strategy<Value = String> {
    let header = prop_oneof![
        Just("mac,sip_user,sip_password,registrar".to_owned()),
        Just("mac,sip_user,sip_password,registrar,time_zone,media_relay,sip_transport".to_owned()),
        Just("\u{feff}MAC,SIP_USER,SIP_PASSWORD,REGISTRAR,ntp_servers".to_owned()),
        "[a-z_,]{0,40}",
    ];
    let line = prop_oneof![
        "[0-9a-f]{12},[0-9]{1,4},[a-z]{1,8},pbx\\.test",
        "[0-9a-f:]{0,17},.{0,10},.{0,10},.{0,10},.{0,10}",
        Just("\"unterminated,quote".to_owned()),
        Just(String::new()),
        ".{0,30}",
    ];
    (
        header,
        prop::collection::vec(line, 0..12),
        prop_oneof![Just("\n"), Just("\r\n")],
    )
        .prop_map(|(h, lines, eol)| format!("{h}{eol}{}", lines.join(eol)))
}

proptest! {
    #[test]
    fn any_authorization_header_parses_or_is_refused(header in ".{0,200}") {
        let _ = parse_authorization(&header);
    }

    #[test]
    fn digest_shaped_headers_parse_or_are_refused(
        parts in prop::collection::vec(
            (
                prop_oneof![
                    Just("username"), Just("realm"), Just("nonce"), Just("uri"),
                    Just("response"), Just("qop"), Just("nc"), Just("cnonce"), Just("x")
                ],
                ".{0,16}",
                any::<bool>(),
            ),
            0..10,
        ),
    ) {
        let params: Vec<String> = parts
            .iter()
            .map(|(k, v, quoted)| if *quoted { format!("{k}={}", quote(v)) } else { format!("{k}={v}") })
            .collect();
        let _ = parse_authorization(&format!("Digest {}", params.join(", ")));
    }

    #[test]
    fn quoted_values_come_back_exactly(
        username in ".{1,20}",
        nonce in "[A-Za-z0-9+/=]{1,40}",
        uri in "/[ -~]{0,30}",
    ) {
        let header = format!(
            "Digest username={}, realm=\"yealink-prov\", nonce={}, uri={}, \
             response=\"0123456789ABCDEF0123456789abcdef\", qop=auth, nc=00000001, cnonce=\"c\"",
            quote(&username),
            quote(&nonce),
            quote(&uri)
        );
        let parsed = parse_authorization(&header).expect("well-formed header");
        prop_assert_eq!(parsed.username, username);
        prop_assert_eq!(parsed.nonce, nonce);
        prop_assert_eq!(parsed.uri, uri);
        prop_assert_eq!(parsed.response, "0123456789abcdef0123456789abcdef");
    }

    #[test]
    fn any_bytes_import_or_are_refused(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        if let Ok(rows) = parse_csv(&bytes) {
            prop_assert!(rows.iter().all(|(line, _)| *line >= 2));
        }
    }

    #[test]
    fn csv_shaped_text_imports_or_is_refused(text in csv_text()) {
        if let Ok(rows) = parse_csv(text.as_bytes()) {
            // Line numbers name real lines of the file, in order.
            let lines = text.replace("\r\n", "\n").split(['\n', '\r']).count();
            prop_assert!(rows.iter().all(|(line, _)| *line >= 2 && *line <= lines), "{rows:?}");
            prop_assert!(rows.windows(2).all(|w| w[0].0 < w[1].0));
        }
    }
}
