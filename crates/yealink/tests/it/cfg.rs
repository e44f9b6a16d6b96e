//! Reading .cfg text and masking secrets.

use yealink::{MASK, ParseError, is_secret_key, mask_secrets, parse_cfg};

#[test]
fn parses_our_reading_of_the_syntax() {
    let text = "#!version:1.0.0.1\r\n## comment\n\n   # indented comment\nlang.gui=German\nremote_phonebook.data.1.url = http://x/?term=#SEARCH  \naccount.1.label =\ninclude:config \"y000000000108.cfg\"\nstatic.security.user_password = admin:a=b\n";
    let pairs = parse_cfg(text).unwrap();
    let expected: Vec<(String, String)> = [
        ("lang.gui", "German"),
        ("remote_phonebook.data.1.url", "http://x/?term=#SEARCH"),
        ("account.1.label", ""),
        ("include:config", "y000000000108.cfg"),
        ("static.security.user_password", "admin:a=b"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(pairs, expected);
}

#[test]
fn header_is_required() {
    assert_eq!(parse_cfg(""), Err(ParseError::Empty));
    assert_eq!(parse_cfg("\n\n"), Err(ParseError::Empty));
    let err = parse_cfg("lang.gui = German\n").unwrap_err();
    assert_eq!(
        err,
        ParseError::MissingHeader {
            found: "lang.gui = German".into()
        }
    );
    assert!(err.to_string().contains("#!version:1.0.0.1"));
    // A comment first does not count: the header must be line 1.
    assert!(parse_cfg("## x\n#!version:1.0.0.1\n").is_err());
    assert!(parse_cfg("\u{feff}#!version:1.0.0.1\na = b\n").is_ok());
}

#[test]
fn bad_lines_are_reported_with_their_number() {
    assert_eq!(
        parse_cfg("#!version:1.0.0.1\na = b\njust words\n"),
        Err(ParseError::NotKeyValue { line: 3 })
    );
    assert_eq!(
        parse_cfg("#!version:1.0.0.1\n = b\n"),
        Err(ParseError::EmptyKey { line: 2 })
    );
    assert!(matches!(
        parse_cfg("#!version:1.0.0.1\nlang gui = b\n"),
        Err(ParseError::KeyWithWhitespace { line: 2, .. })
    ));
}

#[test]
fn masks_secret_values_only() {
    let text = "#!version:1.0.0.1\r\n## account.1.password = not-a-param\naccount.1.password = s1p-Secret!\r\naccount.1.user_name = 201\nstatic.auto_provision.server.password=http-Pass#42\nstatic.security.user_password =  admin:Adm1n-Pw  \nstatic.auto_provision.aes_key_16.com = 0123456789abcdef\naccount.2.password =\nstatic.security.user_password = nocolon";
    let masked = mask_secrets(text);
    let expected = format!(
        "#!version:1.0.0.1\r\n## account.1.password = not-a-param\naccount.1.password = {MASK}\r\naccount.1.user_name = 201\nstatic.auto_provision.server.password={MASK}\nstatic.security.user_password =  admin:{MASK}  \nstatic.auto_provision.aes_key_16.com = {MASK}\naccount.2.password =\nstatic.security.user_password = {MASK}"
    );
    assert_eq!(masked, expected);
    assert_eq!(mask_secrets(""), "");
    assert_eq!(mask_secrets("no equals here\n"), "no equals here\n");
}

#[test]
fn masked_rendered_file_keeps_everything_else() {
    let text = "#!version:1.0.0.1\naccount.1.label = 201\naccount.1.password = pw\n";
    let masked = mask_secrets(text);
    assert_eq!(masked.len(), text.len() - 2 + MASK.len());
    assert_eq!(
        parse_cfg(&masked).unwrap()[1],
        ("account.1.password".into(), MASK.into())
    );
    assert!(is_secret_key("ACCOUNT.1.PASSWORD"));
}
