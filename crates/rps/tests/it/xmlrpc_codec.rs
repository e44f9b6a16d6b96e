//! XML-RPC bodies we send and answers we read, without HTTP.

use dxr::{MethodCall, Value};
use rps::RpsError;
use rps::xmlrpc::{RawAnswer, parse_answer, request_body};

/// Parses a request body back with dxr: method name and string parameters.
pub fn decode_call(body: &str) -> (String, Vec<String>) {
    assert!(body.starts_with("<?xml"), "{body}");
    let xml = body.split_once("?>").unwrap().1.trim();
    let call = MethodCall::from_xml(xml).unwrap();
    let params = call
        .params
        .iter()
        .map(|p| match p {
            Value::String(s) => s.clone(),
            other => panic!("parameter is not a string: {other:?}"),
        })
        .collect();
    (call.name.into_owned(), params)
}

#[test]
fn bodies_of_every_method() {
    let cases: &[(&str, &[&str])] = &[
        (
            "redirect.addServer",
            &["pbx.example.com", "https://prov.example.com/prov/"],
        ),
        (
            "redirect.registerDevice",
            &["805ec0112233", "pbx.example.com", "1"],
        ),
        (
            "redirect.registerDeviceWithUniqueUrl",
            &[
                "805ec0112233",
                "pbx.example.com",
                "https://prov.example.com/prov/t/",
                "1",
            ],
        ),
        ("redirect.deRegisterDevice", &["805ec0112233"]),
        ("redirect.checkDevice", &["805ec0112233"]),
    ];
    for (method, params) in cases {
        let body = request_body(method, params).unwrap();
        assert!(
            body.contains("<string>"),
            "parameters must be typed strings: {body}"
        );
        let (name, decoded) = decode_call(&body);
        assert_eq!(&name, method);
        assert_eq!(
            decoded,
            params.iter().map(|s| s.to_string()).collect::<Vec<_>>()
        );
    }
}

#[test]
fn xml_special_characters_survive() {
    let body = request_body("redirect.addServer", &["a&b <c>", "https://h/p?x=1&y=2"]).unwrap();
    let (_, params) = decode_call(&body);
    assert_eq!(params, ["a&b <c>", "https://h/p?x=1&y=2"]);
}

#[test]
fn ok_answer_with_untyped_text() {
    let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<methodResponse><params><param><value><array><data>\
                <value><boolean>1</boolean></value><value>OK</value>\
                </data></array></value></param></params></methodResponse>";
    assert_eq!(
        parse_answer(body).unwrap(),
        RawAnswer::Result {
            success: true,
            text: "OK".into()
        }
    );
}

#[test]
fn invalid_mac_answer_pretty_printed_with_namespace() {
    // The layout of Htek's documented answer: indented, a namespace on the root.
    let body = r#"<?xml version="1.0" encoding="UTF-8"?>
<methodResponse xmlns:ex="http://ws.apache.org/xmlrpc/namespaces/extensions">
  <params>
    <param>
      <value>
        <array>
          <data>
            <value>
              <boolean>0</boolean>
            </value>
            <value>Error:Invalid MAC(s):00s1122334400</value>
          </data>
        </array>
      </value>
    </param>
  </params>
</methodResponse>"#;
    assert_eq!(
        parse_answer(body).unwrap(),
        RawAnswer::Result {
            success: false,
            text: "Error:Invalid MAC(s):00s1122334400".into()
        }
    );
}

#[test]
fn typed_string_and_cdata_text_are_read_too() {
    let body = "<methodResponse><params><param><value><array><data>\
                <value><boolean>0</boolean></value><value><string><![CDATA[Error: The server name has been used]]></string></value>\
                </data></array></value></param></params></methodResponse>";
    assert_eq!(
        parse_answer(body).unwrap(),
        RawAnswer::Result {
            success: false,
            text: "Error: The server name has been used".into()
        }
    );
}

#[test]
fn fault_answer() {
    let body = "<?xml version=\"1.0\"?><methodResponse><fault><value><struct>\
                <member><name>faultCode</name><value><int>401</int></value></member>\
                <member><name>faultString</name><value><string>Authentication failed</string></value></member>\
                </struct></value></fault></methodResponse>";
    assert_eq!(
        parse_answer(body).unwrap(),
        RawAnswer::Fault {
            code: 401,
            text: "Authentication failed".into()
        }
    );
}

#[test]
fn garbage_is_garbled() {
    for body in [
        "",
        "not xml at all",
        "<html><body><h1>502 Bad Gateway</h1></body></html>",
        "<methodResponse><params><param><value><i4>3</i4></value></param></params></methodResponse>",
        "<methodResponse><params><param><value><array><data></data></array></value></param></params></methodResponse>",
        "<methodResponse><params><param><value><array><data><value><string>maybe</string></value></data></array></value></param></params></methodResponse>",
    ] {
        match parse_answer(body) {
            Err(e @ RpsError::Garbled(_)) => assert!(e.is_retryable()),
            other => panic!("{body:?} gave {other:?}"),
        }
    }
}
