//! Golden files for five models of different families, plus the rendering rules.

use std::collections::BTreeMap;

use yealink::{
    ALL_CODEC_ENABLE_KEYS, Account, AccountLayout, CFG_HEADER, Codec, DEFAULT_ACCOUNT_SLOTS,
    Dialect, Firmware, Mac, MacFileInput, MediaProfile, PhoneFile, PhoneSettings, Provisioning,
    RenderError, StunServer, TlsMinimum, Transport, TurnServer, common_file_code, mask_secrets,
    model_info, parse_cfg, render_common_cfg, render_mac_boot, render_mac_cfg, settings_params,
};

use crate::golden::assert_golden;

/// The TURN password of the innovaphone-style scenario; it must appear in no rendered file.
const TURN_PASSWORD: &str = "turn-Secret#9";

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
    /// The PBX's media profile for the device, if it sent one.
    media: Option<MediaProfile>,
    /// DECT: handsets given the line; `None` = the model's slot count.
    handsets: Option<u8>,
    /// The model's firmware file (common file, or MAC file where the model needs that).
    firmware_url: Option<&'static str>,
    /// Handset model -> firmware file, pushed over the air by a DECT base.
    handset_firmware: &'static [(&'static str, &'static str)],
    /// The private CA's URL under the device's token path.
    trusted_ca: bool,
}

impl Scenario {
    /// The model's dialect when the server knows the model (the common file is included),
    /// else the documented choice for an unknown model.
    fn dialect(&self) -> Dialect {
        if self.include_common {
            model_info(self.model).unwrap().dialect()
        } else {
            Dialect::FOR_UNKNOWN_MODEL
        }
    }
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
        ice: false,
        sip_transport: transport,
        backup_registrar: None,
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
    // A multi-site installation with a second registrar; ICE asked for, but the relay wins.
    let berlin_backup = PhoneSettings {
        backup_registrar: Some("pbx2.example.de:5063".to_string()),
        ice: true,
        ..berlin.clone()
    };
    // A DECT office: two NTP servers, a backup registrar without port, ICE on (no relay).
    let vienna = PhoneSettings {
        backup_registrar: Some("sip2.example.at".to_string()),
        ice: true,
        ..settings(
            120,
            &["0.at.pool.ntp.org", "1.at.pool.ntp.org"],
            "Europe/Vienna",
            "AT",
            false,
            Transport::Udp,
        )
    };
    let zurich = settings(
        60,
        &["ntp.example.ch"],
        "Europe/Zurich",
        "CH",
        false,
        Transport::Tls,
    );
    let cairo = settings(
        60,
        &["pool.ntp.org"],
        "Africa/Cairo",
        "US",
        false,
        Transport::Udp,
    );
    let london_dect = settings(
        60,
        &["pool.ntp.org"],
        "Europe/London",
        "GB",
        false,
        Transport::Udp,
    );
    // An innovaphone PBX: TLS, its own NTP, phones reach it through NAT with STUN.
    let innovaphone = settings(
        60,
        &["pbx.example.de"],
        "Europe/Berlin",
        "DE",
        false,
        Transport::Tls,
    );
    vec![
        Scenario {
            dir: "t46u",
            model: "T46U",
            mac: "80:5e:c0:11:22:33",
            common: berlin_backup.clone(),
            device: berlin_backup,
            include_common: true,
            user: "201",
            display_name: "Jürgen Müller",
            registrar: "pbx.example.de",
            port: None,
            token: "Xq3vK9mZp2Lr7TnB4wYc8HdA",
            media: None,
            handsets: None,
            firmware_url: Some("https://fw.example.de/yealink/T46U-108.87.0.10.rom"),
            handset_firmware: &[],
            trusted_ca: false,
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
            media: None,
            handsets: None,
            firmware_url: None,
            handset_firmware: &[],
            trusted_ca: false,
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
            media: None,
            handsets: None,
            firmware_url: None,
            handset_firmware: &[],
            trusted_ca: false,
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
            media: None,
            handsets: None,
            firmware_url: None,
            handset_firmware: &[],
            trusted_ca: false,
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
            media: None,
            handsets: None,
            firmware_url: None,
            handset_firmware: &[],
            trusted_ca: false,
        },
        // A T54W whose media profile comes from an innovaphone Devices app: G.722 preferred
        // and exclusive, SDES-SRTP, STUN, a TURN server (not rendered), TLS 1.2 minimum.
        Scenario {
            dir: "t54w-innovaphone",
            model: "T54W",
            mac: "24:9a:d8:00:10:54",
            common: innovaphone.clone(),
            device: innovaphone,
            include_common: true,
            user: "254",
            display_name: "Empfang",
            registrar: "pbx.example.de",
            port: None,
            token: "Hj5Kl7Mn9Pq1Rs3Tu5Vw7Xy9",
            media: Some(innovaphone_media()),
            handsets: None,
            firmware_url: None,
            handset_firmware: &[],
            trusted_ca: true,
        },
        // A DECT base the server knows (W70B): three handsets share the account, the SIP
        // server is written in both firmware forms, a backup registrar and a firmware file.
        Scenario {
            dir: "w70b-3-handsets",
            model: "W70B",
            mac: "805e0c1d7070",
            common: vienna.clone(),
            device: vienna,
            include_common: true,
            user: "dect-wien",
            display_name: "DECT Wien",
            registrar: "sip.example.at",
            port: None,
            token: "Lp3Ok5Ij7Uh9Yg1Tf3Rd5Es7",
            media: None,
            handsets: Some(3),
            firmware_url: Some("https://fw.example.at/W70B-146.87.0.21.rom"),
            handset_firmware: &[],
            trusted_ca: false,
        },
        // A W80 system's base: SIP server only as a template, no handset lines, 100 accounts,
        // its own firmware in the MAC file (the W80DM shares the common file) and two handset
        // files over the air (W56H, W73H; a W52H file is not for this base).
        Scenario {
            dir: "w80b",
            model: "W80B",
            mac: "249ad8d1a631",
            common: zurich.clone(),
            device: zurich,
            include_common: true,
            user: "dect-zh",
            display_name: "DECT Zürich",
            registrar: "pbx.example.ch",
            port: None,
            token: "Rt5Yh7Uj9Ik1Ol3Pm5Nb7Vc9",
            media: None,
            handsets: None,
            firmware_url: Some("https://fw.example.ch/W80B-103.87.0.18.rom"),
            handset_firmware: HANDSET_FIRMWARE,
            trusted_ca: true,
        },
        // A W90 manager in Cairo (summer time again since 2023): 250 accounts, templates only,
        // the W90DM's own firmware in the MAC file so a W90B on the same common file keeps its.
        Scenario {
            dir: "w90dm",
            model: "W90DM",
            mac: "805ec0d9c744",
            common: cairo.clone(),
            device: cairo,
            include_common: true,
            user: "dect-cai",
            display_name: "DECT Cairo",
            registrar: "pbx.example.eg",
            port: None,
            token: "Gh2Jk4Lm6Np8Qr0St2Uv4Wx6",
            media: None,
            handsets: None,
            firmware_url: Some("https://fw.example.eg/W90DM-130.87.0.18.rom"),
            handset_firmware: HANDSET_FIRMWARE,
            trusted_ca: false,
        },
        // A W52P on V81: firmware keys without `static.`, one `over_the_air.url` for its W52H.
        Scenario {
            dir: "w52p",
            model: "W52P",
            mac: "001565520052",
            common: london_dect.clone(),
            device: london_dect,
            include_common: true,
            user: "dect-ldn",
            display_name: "DECT London",
            registrar: "pbx.example.co.uk",
            port: None,
            token: "Cv3Bn5Mq7Wr9Ty1Ui3Op5As7",
            media: None,
            handsets: None,
            firmware_url: Some("https://fw.example.co.uk/W52P-25.81.0.60.rom"),
            handset_firmware: HANDSET_FIRMWARE,
            trusted_ca: false,
        },
    ]
}

/// Handset firmware files of an installation.
const HANDSET_FIRMWARE: &[(&str, &str)] = &[
    ("W52H", "https://fw.example.net/W52H-26.81.0.15.rom"),
    ("W56H", "https://fw.example.net/W56H-61.87.0.5.rom"),
    ("W73H", "https://fw.example.net/W73H-116.87.0.5.rom"),
];

fn innovaphone_media() -> MediaProfile {
    MediaProfile {
        codecs: vec![Codec::G722, Codec::Pcma],
        exclusive: true,
        srtp: Some(true),
        stun: Some(StunServer::parse("stun.example.de").unwrap()),
        turn: Some(TurnServer::parse("turn.example.de:3478", "yealink", TURN_PASSWORD).unwrap()),
        tls_minimum: Some(TlsMinimum::Tls12Only),
    }
}

fn render_scenario(s: &Scenario) -> (Mac, u16, String, String, String) {
    let mac = Mac::parse(s.mac).unwrap();
    let code = common_file_code(s.model).unwrap();
    let boot = render_mac_boot(mac, s.include_common.then_some(code));
    let info = model_info(s.model).unwrap();
    let dialect = s.dialect();
    let handset_urls: BTreeMap<String, String> = s
        .handset_firmware
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let firmware = Firmware {
        model: Some(info),
        url: s.firmware_url,
        handset_urls: Some(&handset_urls),
    };
    let (common_firmware, mac_firmware) = if info.firmware_in_mac_file() {
        (Firmware::NONE, firmware)
    } else {
        (firmware, Firmware::NONE)
    };
    let common = render_common_cfg(&s.common, dialect, common_firmware).unwrap();
    let mut layout = if s.include_common {
        info.account_layout()
    } else {
        AccountLayout::DESK
    };
    if let Some(handsets) = s.handsets {
        layout.handset_lines = handsets;
    }
    let url = format!("https://prov.example.net/prov/{}/", s.token);
    let ca_url = format!("{url}ca.pem");
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
        user_password: "Us3r-Pw",
        settings: &s.device,
        common_baseline: s.include_common.then_some(&s.common),
        media: s.media.as_ref(),
        dialect,
        account_slots: if s.include_common {
            info.account_slots()
        } else {
            DEFAULT_ACCOUNT_SLOTS
        },
        layout,
        firmware: mac_firmware,
        trusted_ca_url: s.trusted_ca.then_some(ca_url.as_str()),
    };
    let mac_cfg = render_mac_cfg(&input).unwrap();
    (mac, code, boot, common, mac_cfg)
}

#[test]
fn golden_files_for_five_models_and_an_innovaphone_device() {
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
        let mut expected: Vec<(String, String)> = settings_params(&s.common, s.dialect())
            .unwrap()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        let info = model_info(s.model).unwrap();
        if let Some(url) = s.firmware_url.filter(|_| !info.firmware_in_mac_file()) {
            expected.push((s.dialect().firmware_key().into(), url.into()));
        }
        let common_pairs: Vec<(String, String)> = common_pairs
            .into_iter()
            .filter(|(k, _)| !k.starts_with("over_the_air."))
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
        for (key, value) in settings_params(&s.device, s.dialect()).unwrap() {
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
        user_password: "secret-user",
        settings,
        common_baseline: Some(settings),
        media: None,
        dialect: Dialect::Current,
        account_slots: 1,
        layout: AccountLayout::DESK,
        firmware: Firmware::NONE,
        trusted_ca_url: None,
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
    let params = settings_params(&berlin(), Dialect::Current).unwrap();
    let get = |k: &str| {
        params
            .iter()
            .find(|(key, _)| *key == k)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(get("local_time.ntp_server1"), Some("ntp1.example.com"));
    assert_eq!(get("local_time.ntp_server2"), Some("ntp1.example.com"));
    assert_eq!(get("static.auto_provision.repeat.minutes"), Some("60"));
    assert_eq!(get("local_time.manual_ntp_srv_prior"), Some("1"));
    assert_eq!(get("static.ice.enable"), Some("0"));
    let power_on_only = PhoneSettings {
        update_interval_minutes: 0,
        ntp_servers: vec![],
        media_relay: false,
        ice: true,
        ..berlin()
    };
    let params = settings_params(&power_on_only, Dialect::Current).unwrap();
    let get = |k: &str| {
        params
            .iter()
            .find(|(key, _)| *key == k)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(get("static.auto_provision.repeat.enable"), Some("0"));
    assert_eq!(get("static.auto_provision.repeat.minutes"), None);
    assert_eq!(get("local_time.ntp_server1"), None);
    // No servers of ours: the DHCP server's may be used.
    assert_eq!(get("local_time.manual_ntp_srv_prior"), None);
    assert_eq!(get("static.ice.enable"), Some("1"));
}

/// ICE: off by default (the factory value), on only when asked for and media is not
/// relayed, under the name of the model's firmware family.
#[test]
fn ice_name_per_family_and_never_with_a_relay() {
    let value = |dialect: Dialect, ice: bool, relay: bool| {
        let s = PhoneSettings {
            ice,
            media_relay: relay,
            ..berlin()
        };
        let params = settings_params(&s, dialect).unwrap();
        let ice_keys: Vec<_> = params
            .iter()
            .filter(|(k, _)| k.ends_with("ice.enable"))
            .cloned()
            .collect();
        assert_eq!(ice_keys.len(), 1, "{ice_keys:?}");
        ice_keys[0].clone()
    };
    for (model, key) in [
        ("T46U", "static.ice.enable"),
        ("T54W", "static.ice.enable"),
        ("T33G", "static.ice.enable"),
        ("CP965", "static.ice.enable"),
        ("W70B", "static.ice.enable"),
        ("T46S", "ice.enable"),
        ("T46G", "ice.enable"),
        ("CP925", "ice.enable"),
    ] {
        let dialect = model_info(model).unwrap().dialect();
        assert_eq!(value(dialect, false, false), (key, "0".into()), "{model}");
        assert_eq!(value(dialect, true, false), (key, "1".into()), "{model}");
        assert_eq!(value(dialect, true, true), (key, "0".into()), "{model}");
        assert_eq!(value(dialect, false, true), (key, "0".into()), "{model}");
    }
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
    let err = render_common_cfg(&bad_ntp, Dialect::Current, Firmware::NONE).unwrap_err();
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
        render_common_cfg(&too_long, Dialect::Current, Firmware::NONE).unwrap_err(),
        RenderError::OutOfRange { .. }
    ));
    let nowhere = PhoneSettings {
        location: "XX".into(),
        ..berlin()
    };
    assert_eq!(
        render_common_cfg(&nowhere, Dialect::Current, Firmware::NONE).unwrap_err(),
        RenderError::UnknownLocation { code: "XX".into() }
    );
    let no_zone = PhoneSettings {
        time_zone: "Mars/Olympus".into(),
        ..berlin()
    };
    let err = render_common_cfg(&no_zone, Dialect::Current, Firmware::NONE).unwrap_err();
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

/// Keys that appear more than once in a rendered file (the phone would apply the last).
/// A boot file's `include:config` lines are a list, not a key; `static.security.user_password`
/// is one key per login (`admin:...`, `user:...`).
fn duplicate_keys(text: &str) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    parse_cfg(text)
        .unwrap()
        .into_iter()
        .filter(|(key, _)| key != "include:config")
        .map(|(key, value)| match key.as_str() {
            "static.security.user_password" => {
                format!("{key}#{}", value.split(':').next().unwrap_or_default())
            }
            _ => key,
        })
        .filter(|key| !seen.insert(key.clone()))
        .collect()
}

fn media_profiles() -> Vec<MediaProfile> {
    let mut profiles = vec![MediaProfile::default(), innovaphone_media()];
    for srtp in [None, Some(true), Some(false)] {
        for exclusive in [false, true] {
            profiles.push(MediaProfile {
                codecs: vec![Codec::Opus, Codec::G722, Codec::Opus, Codec::Pcmu],
                exclusive,
                srtp,
                stun: Some(StunServer::parse("[2001:db8::3]:3479").unwrap()),
                turn: None,
                tls_minimum: Some(TlsMinimum::Auto),
            });
        }
    }
    profiles.push(MediaProfile {
        codecs: Codec::ALL.to_vec(),
        exclusive: true,
        ..MediaProfile::default()
    });
    profiles
}

#[test]
fn no_key_is_written_twice() {
    let mut checked = 0;
    for s in scenarios() {
        let (_, _, boot, common, mac_cfg) = render_scenario(&s);
        for text in [&boot, &common, &mac_cfg] {
            assert_eq!(
                duplicate_keys(text),
                Vec::<String>::new(),
                "{}\n{text}",
                s.dir
            );
            checked += 1;
        }
    }
    let other = PhoneSettings {
        time_zone: "America/Chicago".into(),
        ntp_servers: vec!["a.example.com".into(), "b.example.com".into()],
        ..berlin()
    };
    for transport in [Transport::Udp, Transport::Tcp, Transport::Tls] {
        let device = PhoneSettings {
            sip_transport: transport,
            ..other.clone()
        };
        let media = media_profiles();
        let choices = std::iter::once(None).chain(media.iter().map(Some));
        for profile in choices {
            for baseline in [None, Some(&device), Some(&other)] {
                let mut input = input(&device, account());
                input.common_baseline = baseline;
                input.media = profile;
                let text = render_mac_cfg(&input).unwrap();
                assert_eq!(duplicate_keys(&text), Vec::<String>::new(), "{text}");
                let srtp = parse_cfg(&text)
                    .unwrap()
                    .into_iter()
                    .filter(|(key, _)| key == "account.1.srtp_encryption")
                    .count();
                assert_eq!(srtp, 1, "{text}");
                checked += 1;
            }
        }
    }
    assert!(checked > 60, "{checked}");
}

fn value_of(text: &str, key: &str) -> Option<String> {
    parse_cfg(text)
        .unwrap()
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

#[test]
fn srtp_follows_the_transport_rule() {
    let cases = [
        // (transport, requested, expected)
        (Transport::Tls, None, "2"),
        (Transport::Tls, Some(true), "2"),
        (Transport::Tls, Some(false), "0"),
        (Transport::Udp, None, "0"),
        (Transport::Udp, Some(true), "0"),
        (Transport::Udp, Some(false), "0"),
        (Transport::Tcp, None, "0"),
        (Transport::Tcp, Some(true), "0"),
        (Transport::Tcp, Some(false), "0"),
    ];
    for (transport, requested, expected) in cases {
        let s = PhoneSettings {
            sip_transport: transport,
            ..berlin()
        };
        let profile = MediaProfile {
            srtp: requested,
            ..MediaProfile::default()
        };
        let mut with_media = input(&s, account());
        with_media.media = Some(&profile);
        let text = render_mac_cfg(&with_media).unwrap();
        assert_eq!(
            value_of(&text, "account.1.srtp_encryption").as_deref(),
            Some(expected),
            "{transport} {requested:?}\n{text}"
        );
        // Without a profile the rule is the same as with `srtp: None`.
        if requested.is_none() {
            let text = render_mac_cfg(&input(&s, account())).unwrap();
            assert_eq!(
                value_of(&text, "account.1.srtp_encryption").as_deref(),
                Some(expected)
            );
        }
        let explained = text.contains("## SRTP requested");
        assert_eq!(
            explained,
            requested == Some(true) && transport != Transport::Tls,
            "{text}"
        );
    }
}

#[test]
fn codec_lists() {
    let s = berlin();
    let render = |profile: &MediaProfile| {
        let mut i = input(&s, account());
        i.media = Some(profile);
        render_mac_cfg(&i).unwrap()
    };
    let preferred = MediaProfile {
        codecs: vec![Codec::G722, Codec::Pcmu, Codec::G722],
        ..MediaProfile::default()
    };
    let text = render(&preferred);
    assert!(
        text.contains(
            "account.1.codec.g722.enable = 1\naccount.1.codec.g722.priority = 1\naccount.1.codec.pcmu.enable = 1\naccount.1.codec.pcmu.priority = 2\n"
        ),
        "{text}"
    );
    // Not exclusive: the other codecs stay as they are.
    for name in ["pcma", "opus", "g729"] {
        assert!(!text.contains(&format!("codec.{name}.")), "{name}\n{text}");
    }
    let exclusive = MediaProfile {
        exclusive: true,
        ..preferred
    };
    let text = render(&exclusive);
    for name in ["pcma", "opus", "g729"] {
        assert!(!text.contains(&format!("codec.{name}.priority")), "{text}");
    }
    // Every codec name Yealink's templates list is switched off, not only the five we offer.
    for key in ALL_CODEC_ENABLE_KEYS {
        let expected = match key {
            "account.1.codec.g722.enable" | "account.1.codec.pcmu.enable" => "1",
            _ => "0",
        };
        assert_eq!(
            value_of(&text, key).as_deref(),
            Some(expected),
            "{key}\n{text}"
        );
    }
    for key in [
        "account.1.codec.g722_1c_48kpbs.enable",
        "account.1.codec.g726_32.enable",
        "account.1.codec.g723_53.enable",
        "account.1.codec.ilbc_13_33kbps.enable",
        "account.1.codec.g729ab.enable",
    ] {
        assert_eq!(value_of(&text, key).as_deref(), Some("0"), "{key}");
    }
    // Exclusive with nothing listed would switch every codec off: leave them alone instead.
    let nothing = MediaProfile {
        exclusive: true,
        ..MediaProfile::default()
    };
    assert!(!render(&nothing).contains("codec."));
}

#[test]
fn stun_and_tls_parameters() {
    let s = berlin();
    let profile = MediaProfile {
        stun: Some(StunServer::parse("stun.example.com:3479").unwrap()),
        tls_minimum: Some(TlsMinimum::Tls12Only),
        ..MediaProfile::default()
    };
    let mut i = input(&s, account());
    i.media = Some(&profile);
    let text = render_mac_cfg(&i).unwrap();
    for (key, value) in [
        ("account.1.nat.nat_traversal", "1"),
        ("static.sip.nat_stun.enable", "1"),
        ("static.sip.nat_stun.server", "stun.example.com"),
        ("static.sip.nat_stun.port", "3479"),
        ("static.security.default_ssl_method", "5"),
    ] {
        assert_eq!(
            value_of(&text, key).as_deref(),
            Some(value),
            "{key}\n{text}"
        );
    }
    // Hand-built servers are checked too.
    let bad = MediaProfile {
        stun: Some(StunServer {
            host: String::new(),
            port: 3478,
        }),
        ..MediaProfile::default()
    };
    i.media = Some(&bad);
    assert_eq!(
        render_mac_cfg(&i).unwrap_err(),
        RenderError::Missing {
            parameter: "static.sip.nat_stun.server"
        }
    );
    let port_zero = MediaProfile {
        stun: Some(StunServer {
            host: "stun.example.com".into(),
            port: 0,
        }),
        ..MediaProfile::default()
    };
    i.media = Some(&port_zero);
    assert!(matches!(
        render_mac_cfg(&i).unwrap_err(),
        RenderError::OutOfRange {
            parameter: "static.sip.nat_stun.port",
            ..
        }
    ));
    let injected = MediaProfile {
        stun: Some(StunServer {
            host: "a\nstatic.security.user_password = admin:x".into(),
            port: 3478,
        }),
        ..MediaProfile::default()
    };
    i.media = Some(&injected);
    assert!(matches!(
        render_mac_cfg(&i).unwrap_err(),
        RenderError::InvalidValue {
            parameter: "static.sip.nat_stun.server",
            ..
        }
    ));
}

#[test]
fn turn_is_not_rendered_and_its_password_never_shows() {
    let s = scenarios()
        .into_iter()
        .find(|s| s.dir == "t54w-innovaphone")
        .unwrap();
    let (_, _, boot, common, mac_cfg) = render_scenario(&s);
    for text in [&boot, &common, &mac_cfg] {
        assert!(!text.contains(TURN_PASSWORD), "{text}");
        assert!(!text.contains("turn.example.de"), "{text}");
    }
    assert!(mac_cfg.contains("## TURN server not sent"), "{mac_cfg}");
    let input = MacFileInput {
        media: s.media.as_ref(),
        ..input(&s.device, account())
    };
    let debug = format!("{input:?}");
    assert!(debug.contains("turn.example.de"), "{debug}");
    assert!(!debug.contains(TURN_PASSWORD), "{debug}");
    // Were a TURN password ever written, the masking would catch it.
    for key in ["static.sip.nat_turn.password", "account.1.turn.password"] {
        assert!(yealink::is_secret_key(key), "{key}");
        let masked = mask_secrets(&format!("{key} = {TURN_PASSWORD}\n"));
        assert!(!masked.contains(TURN_PASSWORD), "{masked}");
    }
}
