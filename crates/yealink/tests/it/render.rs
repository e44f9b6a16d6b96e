//! Golden files for five models of different families, plus the rendering rules.

use yealink::{
    Account, CFG_HEADER, Mac, MacFileInput, PhoneFile, PhoneSettings, Provisioning, RenderError,
    Transport, common_file_code, parse_cfg, render_common_cfg, render_mac_boot, render_mac_cfg,
    settings_params,
};

use crate::golden::assert_golden;

/// One realistic device: the common settings of its installation, its own effective
/// settings, and its account.
struct Scenario {
    dir: &'static str,
    model: &'static str,
    mac: &'static str,
    common: PhoneSettings,
    device: PhoneSettings,
    /// Whether the boot file names the common file (the model code was known).
    include_common: bool,
    user: &'static str,
    display_name: &'static str,
    registrar: &'static str,
    port: Option<u16>,
    token: &'static str,
}

fn settings(
    minutes: u32,
    ntp: &[&str],
    zone: &str,
    location: &str,
    relay: bool,
    transport: Transport,
) -> PhoneSettings {
    PhoneSettings {
        update_interval_minutes: minutes,
        ntp_servers: ntp.iter().map(|s| s.to_string()).collect(),
        time_zone: zone.to_string(),
        location: location.to_string(),
        media_relay: relay,
        sip_transport: transport,
    }
}

fn scenarios() -> Vec<Scenario> {
    let berlin = settings(
        60,
        &["ptbtime1.ptb.de", "ptbtime2.ptb.de"],
        "Europe/Berlin",
        "DE",
        true,
        Transport::Tls,
    );
    let new_york = settings(
        1440,
        &["pool.ntp.org"],
        "America/New_York",
        "US",
        false,
        Transport::Udp,
    );
    // A phone in the Chicago office of a New York installation: a per-device override.
    let chicago = PhoneSettings {
        time_zone: "America/Chicago".to_string(),
        ..new_york.clone()
    };
    let london = settings(0, &[], "Europe/London", "GB", false, Transport::Tcp);
    let kolkata = settings(
        720,
        &["0.in.pool.ntp.org", "1.in.pool.ntp.org"],
        "Asia/Kolkata",
        "IN",
        true,
        Transport::Tls,
    );
    let sydney = settings(
        240,
        &["0.au.pool.ntp.org"],
        "Australia/Sydney",
        "AU",
        false,
        Transport::Udp,
    );
    vec![
        Scenario {
            dir: "t46u",
            model: "T46U",
            mac: "80:5e:c0:11:22:33",
            common: berlin.clone(),
            device: berlin,
            include_common: true,
            user: "201",
            display_name: "Jürgen Müller",
            registrar: "pbx.example.de",
            port: None,
            token: "Xq3vK9mZp2Lr7TnB4wYc8HdA",
        },
        Scenario {
            dir: "t54w",
            model: "T54W",
            mac: "24:9A:D8:00:00:54",
            common: new_york,
            device: chicago,
            include_common: true,
            user: "3105",
            display_name: "Front Desk #2",
            registrar: "sip.example.com",
            port: Some(5070),
            token: "aB3dE5gH7jK9mN1pQ3sT5vX7",
        },
        Scenario {
            dir: "t33g",
            model: "T33G",
            mac: "44dbd2000033",
            common: london.clone(),
            device: london,
            include_common: true,
            user: "4402",
            display_name: "Reception",
            registrar: "10.20.0.5",
            port: None,
            token: "Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2",
        },
        Scenario {
            dir: "cp925",
            model: "CP925",
            mac: "c4-fc-22-00-09-25",
            common: kolkata.clone(),
            device: kolkata,
            include_common: true,
            user: "conf-blr-1",
            display_name: "Conference Bangalore",
            registrar: "pbx.example.in",
            port: Some(5061),
            token: "Mn4Bv7Cx1Zl0Kj9Hg8Fd6Sa5",
        },
        // A DECT base whose model the server could not determine: the boot file names no
        // common file, so the MAC file carries every setting (baseline None).
        Scenario {
            dir: "w70b",
            model: "W70B",
            mac: "805e0c1d654e",
            common: sydney.clone(),
            device: sydney,
            include_common: false,
            user: "dect-base-7",
            display_name: "",
            registrar: "pbx.example.com.au",
            port: None,
            token: "Qw2Er4Ty6Ui8Op0As1Df3Gh5",
        },
    ]
}

fn render_scenario(s: &Scenario) -> (Mac, u16, String, String, String) {
    let mac = Mac::parse(s.mac).unwrap();
    let code = common_file_code(s.model).unwrap();
    let boot = render_mac_boot(mac, s.include_common.then_some(code));
    let common = render_common_cfg(&s.common).unwrap();
    let url = format!("https://prov.example.net/prov/{}/", s.token);
    let username = mac.to_string();
    let input = MacFileInput {
        mac,
        account: Account {
            label: s.user,
            display_name: s.display_name,
            auth_name: s.user,
            user_name: s.user,
            password: "s1p-Secret!",
            registrar_host: s.registrar,
            registrar_port: s.port,
        },
        provisioning: Provisioning {
            server_url: &url,
            username: &username,
            password: "http-Pass#42",
        },
        admin_password: "Adm1n-Pw",
        settings: &s.device,
        common_baseline: s.include_common.then_some(&s.common),
    };
    let mac_cfg = render_mac_cfg(&input).unwrap();
    (mac, code, boot, common, mac_cfg)
}

#[test]
fn golden_files_for_five_models() {
    for s in scenarios() {
        let (mac, code, boot, common, mac_cfg) = render_scenario(&s);
        assert_golden(
            &format!("{}/{}", s.dir, PhoneFile::MacBoot(mac).file_name()),
            &boot,
        );
        assert_golden(
            &format!("{}/{}", s.dir, PhoneFile::Common(code).file_name()),
            &common,
        );
        assert_golden(
            &format!("{}/{}", s.dir, PhoneFile::MacCfg(mac).file_name()),
            &mac_cfg,
        );
    }
}

#[test]
fn rendered_files_parse_back() {
    for s in scenarios() {
        let (_, _, boot, common, mac_cfg) = render_scenario(&s);
        for text in [&boot, &common, &mac_cfg] {
            assert!(text.starts_with(&format!("{CFG_HEADER}\n")));
            assert!(text.ends_with('\n') && !text.contains('\r'));
            parse_cfg(text).unwrap();
        }
        let common_pairs = parse_cfg(&common).unwrap();
        let expected: Vec<(String, String)> = settings_params(&s.common)
            .unwrap()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        assert_eq!(common_pairs, expected, "{}", s.dir);
    }
}

/// Applying the common file and then the MAC file (last occurrence wins) gives exactly the
/// device's effective settings.
#[test]
fn common_then_mac_file_yields_device_settings() {
    for s in scenarios() {
        let (_, _, _, common, mac_cfg) = render_scenario(&s);
        let mut applied = std::collections::BTreeMap::new();
        if s.include_common {
            applied.extend(parse_cfg(&common).unwrap());
        }
        applied.extend(parse_cfg(&mac_cfg).unwrap());
        for (key, value) in settings_params(&s.device).unwrap() {
            assert_eq!(applied.get(key), Some(&value), "{} {key}", s.dir);
        }
    }
}

#[test]
fn boot_file_shape() {
    let mac = Mac::parse("805ec0112233").unwrap();
    assert_eq!(
        render_mac_boot(mac, Some(108)),
        "#!version:1.0.0.1\ninclude:config \"y000000000108.cfg\"\ninclude:config \"805ec0112233.cfg\"\noverwrite_mode = 1\n"
    );
    assert_eq!(
        render_mac_boot(mac, None),
        "#!version:1.0.0.1\ninclude:config \"805ec0112233.cfg\"\noverwrite_mode = 1\n"
    );
    assert_eq!(render_mac_boot(mac, Some(0)), render_mac_boot(mac, None));
    let pairs = parse_cfg(&render_mac_boot(mac, Some(108))).unwrap();
    assert_eq!(
        pairs[0],
        ("include:config".into(), "y000000000108.cfg".into())
    );
}

fn berlin() -> PhoneSettings {
    settings(
        60,
        &["ntp1.example.com"],
        "Europe/Berlin",
        "DE",
        true,
        Transport::Udp,
    )
}

fn input<'a>(settings: &'a PhoneSettings, account: Account<'a>) -> MacFileInput<'a> {
    MacFileInput {
        mac: Mac::parse("805ec0112233").unwrap(),
        account,
        provisioning: Provisioning {
            server_url: "https://prov.example.net/prov/tok/",
            username: "",
            password: "",
        },
        admin_password: "secret-admin",
        settings,
        common_baseline: Some(settings),
    }
}

fn account() -> Account<'static> {
    Account {
        label: "",
        display_name: "",
        auth_name: "",
        user_name: "100",
        password: "pw",
        registrar_host: "pbx.example.com",
        registrar_port: None,
    }
}

#[test]
fn empty_optional_values_are_omitted() {
    let s = berlin();
    let text = render_mac_cfg(&input(&s, account())).unwrap();
    for key in [
        "account.1.label",
        "account.1.display_name",
        "account.1.auth_name",
        "static.auto_provision.server.username",
        "static.auto_provision.server.password",
    ] {
        assert!(!text.contains(key), "{key} in\n{text}");
    }
    assert!(text.contains("account.1.sip_server.1.port = 5060\n"));
    assert!(text.contains("account.1.srtp_encryption = 0\n"));
    // Baseline equal to the device settings: no settings in the MAC file at all.
    assert!(!text.contains("local_time."), "{text}");
}

#[test]
fn one_ntp_server_fills_both_slots() {
    let params = settings_params(&berlin()).unwrap();
    let get = |k: &str| {
        params
            .iter()
            .find(|(key, _)| *key == k)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(get("local_time.ntp_server1"), Some("ntp1.example.com"));
    assert_eq!(get("local_time.ntp_server2"), Some("ntp1.example.com"));
    assert_eq!(get("static.auto_provision.repeat.minutes"), Some("60"));
    assert_eq!(get("ice.enable"), Some("0"));
    let power_on_only = PhoneSettings {
        update_interval_minutes: 0,
        ntp_servers: vec![],
        media_relay: false,
        ..berlin()
    };
    let params = settings_params(&power_on_only).unwrap();
    let get = |k: &str| {
        params
            .iter()
            .find(|(key, _)| *key == k)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(get("static.auto_provision.repeat.enable"), Some("0"));
    assert_eq!(get("static.auto_provision.repeat.minutes"), None);
    assert_eq!(get("local_time.ntp_server1"), None);
    assert_eq!(get("ice.enable"), Some("1"));
}

#[test]
fn invalid_values_name_the_parameter() {
    let s = berlin();
    let bad = Account {
        display_name: "Evil\nstatic.security.user_password = admin:x",
        ..account()
    };
    let err = render_mac_cfg(&input(&s, bad)).unwrap_err();
    assert_eq!(
        err,
        RenderError::InvalidValue {
            parameter: "account.1.display_name",
            problem: "contains a line break or another control character",
        }
    );
    assert!(err.to_string().starts_with("account.1.display_name "));

    let padded = Account {
        password: " pw",
        ..account()
    };
    let err = render_mac_cfg(&input(&s, padded)).unwrap_err();
    assert!(
        matches!(
            err,
            RenderError::InvalidValue {
                parameter: "account.1.password",
                ..
            }
        ),
        "{err}"
    );
    assert!(
        !err.to_string().contains(" pw"),
        "the message must not leak the value"
    );

    let bad_ntp = PhoneSettings {
        ntp_servers: vec!["ntp.example.com\r".into()],
        ..berlin()
    };
    let err = render_common_cfg(&bad_ntp).unwrap_err();
    assert!(
        matches!(
            err,
            RenderError::InvalidValue {
                parameter: "local_time.ntp_server1",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn required_values_and_ranges() {
    let s = berlin();
    let no_user = Account {
        user_name: "",
        ..account()
    };
    assert_eq!(
        render_mac_cfg(&input(&s, no_user)).unwrap_err(),
        RenderError::Missing {
            parameter: "account.1.user_name"
        }
    );
    let port_zero = Account {
        registrar_port: Some(0),
        ..account()
    };
    assert!(matches!(
        render_mac_cfg(&input(&s, port_zero)).unwrap_err(),
        RenderError::OutOfRange { .. }
    ));
    let mut factory = input(&s, account());
    factory.admin_password = "admin";
    assert_eq!(
        render_mac_cfg(&factory).unwrap_err(),
        RenderError::FactoryAdminPassword
    );
    let mut no_slash = input(&s, account());
    no_slash.provisioning.server_url = "https://prov.example.net/prov/tok";
    assert!(matches!(
        render_mac_cfg(&no_slash).unwrap_err(),
        RenderError::ServerUrl { .. }
    ));
    let too_long = PhoneSettings {
        update_interval_minutes: 43_201,
        ..berlin()
    };
    assert!(matches!(
        render_common_cfg(&too_long).unwrap_err(),
        RenderError::OutOfRange { .. }
    ));
    let nowhere = PhoneSettings {
        location: "XX".into(),
        ..berlin()
    };
    assert_eq!(
        render_common_cfg(&nowhere).unwrap_err(),
        RenderError::UnknownLocation { code: "XX".into() }
    );
    let no_zone = PhoneSettings {
        time_zone: "Mars/Olympus".into(),
        ..berlin()
    };
    let err = render_common_cfg(&no_zone).unwrap_err();
    assert!(err.to_string().contains("Mars/Olympus"), "{err}");
}

#[test]
fn transport_parses_and_serialises() {
    assert_eq!(" TLS ".parse::<Transport>(), Ok(Transport::Tls));
    assert_eq!("udp".parse::<Transport>(), Ok(Transport::Udp));
    assert!("sctp".parse::<Transport>().is_err());
    assert_eq!(Transport::Tcp.to_string(), "tcp");
    assert_eq!(serde_json::to_string(&Transport::Tls).unwrap(), "\"tls\"");
    let s: PhoneSettings = serde_json::from_str(
        r#"{"update_interval_minutes":60,"ntp_servers":["a"],"time_zone":"UTC","location":"DE","media_relay":true,"sip_transport":"tcp"}"#,
    )
    .unwrap();
    assert_eq!(s.sip_transport, Transport::Tcp);
}
