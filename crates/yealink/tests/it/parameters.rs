//! `docs/yealink-parameters.md` lists every key the renderer can emit, the dialects it is
//! written for, and the vendor source it was checked against. These tests render a broad
//! matrix of inputs and fail on any key (or dialect) the table does not list, and on any
//! table row that nothing renders any more.

use std::collections::{BTreeMap, BTreeSet};

use yealink::{
    Account, AccountLayout, Codec, DEFAULT_ACCOUNT_SLOTS, Dialect, Firmware, Mac, MacFileInput,
    MediaProfile, ModelInfo, PhoneSettings, Provisioning, StunServer, TlsMinimum, Transport,
    handset_models, known_models, parse_cfg, render_common_cfg, render_mac_boot, render_mac_cfg,
};

const DOC: &str = include_str!("../../../../docs/yealink-parameters.md");

/// One row of the key table: the key pattern (`N` stands for a number) and its dialects.
struct Row {
    pattern: String,
    dialects: BTreeSet<&'static str>,
    source: String,
}

fn dialect_name(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Classic => "Classic",
        Dialect::Current => "Current",
        Dialect::Dect => "Dect",
        Dialect::DectV81 => "DectV81",
    }
}

/// The rows of the table under "## Keys": `| `key` | file | dialects | models | source |`.
fn rows() -> Vec<Row> {
    let section = DOC
        .split("\n## Keys")
        .nth(1)
        .expect("docs/yealink-parameters.md has a '## Keys' section");
    let section = section.split("\n## ").next().unwrap_or(section);
    let mut rows = Vec::new();
    for line in section.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        assert!(cells.len() >= 5, "a key row needs 5 cells: {line}");
        let pattern = cells[0].trim_matches('`').to_string();
        let mut dialects = BTreeSet::new();
        for name in cells[2].split(',').map(str::trim) {
            match name {
                "Classic" => dialects.insert("Classic"),
                "Current" => dialects.insert("Current"),
                "Dect" => dialects.insert("Dect"),
                "DectV81" => dialects.insert("DectV81"),
                "all" => {
                    dialects.extend(["Classic", "Current", "Dect", "DectV81"]);
                    true
                }
                other => panic!("unknown dialect {other:?} in: {line}"),
            };
        }
        let source = cells[4].to_string();
        assert!(
            source.len() > 10,
            "row {pattern} must name the source it was checked against"
        );
        rows.push(Row {
            pattern,
            dialects,
            source,
        });
    }
    assert!(rows.len() > 40, "too few rows parsed: {}", rows.len());
    rows
}

/// `account.N.enable` matches `account.7.enable`; other characters match themselves.
fn matches(pattern: &str, key: &str) -> bool {
    let p: Vec<&str> = pattern.split('.').collect();
    let k: Vec<&str> = key.split('.').collect();
    p.len() == k.len()
        && p.iter().zip(&k).all(|(p, k)| {
            *p == *k || (*p == "N" && !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()))
        })
}

fn settings(relay: bool, ice: bool, transport: Transport, backup: Option<&str>) -> PhoneSettings {
    PhoneSettings {
        update_interval_minutes: 60,
        ntp_servers: vec!["ntp1.example.com".into(), "ntp2.example.com".into()],
        time_zone: "Europe/Berlin".into(),
        location: "DE".into(),
        media_relay: relay,
        ice,
        sip_transport: transport,
        backup_registrar: backup.map(str::to_string),
    }
}

fn media_profiles() -> Vec<Option<MediaProfile>> {
    vec![
        None,
        Some(MediaProfile::default()),
        Some(MediaProfile {
            codecs: vec![Codec::G722, Codec::Pcma],
            exclusive: true,
            srtp: Some(true),
            stun: Some(StunServer::parse("stun.example.com:3479").unwrap()),
            turn: None,
            tls_minimum: Some(TlsMinimum::Tls12Only),
        }),
        Some(MediaProfile {
            codecs: Codec::ALL.to_vec(),
            exclusive: false,
            srtp: Some(false),
            stun: None,
            turn: None,
            tls_minimum: Some(TlsMinimum::Auto),
        }),
    ]
}

/// Every key rendered for every model (and an unknown one), every dialect-relevant setting,
/// each media profile, with and without a private CA, backup registrar and firmware URL.
/// Returns key -> dialects it was written for.
fn rendered_keys() -> BTreeMap<String, BTreeSet<&'static str>> {
    let mut keys: BTreeMap<String, BTreeSet<&'static str>> = BTreeMap::new();
    let mut add = |text: &str, dialect: Dialect| {
        for (key, _) in parse_cfg(text).unwrap() {
            keys.entry(key).or_default().insert(dialect_name(dialect));
        }
    };
    let mac = Mac::parse("805ec0112233").unwrap();
    // Every handset's firmware set, so every over-the-air key a base lists is rendered.
    let handset_urls: BTreeMap<String, String> = handset_models()
        .into_iter()
        .map(|h| (h.to_string(), format!("https://fw.example.com/{h}.rom")))
        .collect();
    // (dialect, account slots, layout, model) of every model, plus the unknown-model choice.
    let mut targets: Vec<(Dialect, u8, AccountLayout, Option<&'static ModelInfo>)> = known_models()
        .iter()
        .map(|m| (m.dialect(), m.account_slots(), m.account_layout(), Some(m)))
        .collect();
    targets.push((
        Dialect::FOR_UNKNOWN_MODEL,
        DEFAULT_ACCOUNT_SLOTS,
        AccountLayout::DESK,
        None,
    ));
    let media = media_profiles();
    for (dialect, slots, layout, model) in targets {
        let in_mac = model.is_some_and(|m| m.firmware_in_mac_file());
        for transport in [Transport::Udp, Transport::Tls] {
            for (relay, ice) in [(false, false), (false, true), (true, true)] {
                for backup in [None, Some("pbx2.example.com:5070")] {
                    let s = settings(relay, ice, transport, backup);
                    let firmware = |url| Firmware {
                        model,
                        url,
                        handset_urls: Some(&handset_urls),
                    };
                    for url in [None, Some("https://fw.example.com/x.rom")] {
                        let common = if in_mac {
                            Firmware::NONE
                        } else {
                            firmware(url)
                        };
                        add(&render_common_cfg(&s, dialect, common).unwrap(), dialect);
                    }
                    add(&render_mac_boot(mac, Some(108)), dialect);
                    // A zone whose summer time is written out (Egypt: no AutoDST rule).
                    let cairo = PhoneSettings {
                        time_zone: "Africa/Cairo".into(),
                        ..s.clone()
                    };
                    add(
                        &render_common_cfg(&cairo, dialect, Firmware::NONE).unwrap(),
                        dialect,
                    );
                    for profile in &media {
                        for ca in [None, Some("https://prov.example.com/prov/t/ca.pem")] {
                            for baseline in [None, Some(&s)] {
                                let input = MacFileInput {
                                    mac,
                                    account: Account {
                                        label: "l",
                                        display_name: "d",
                                        auth_name: "a",
                                        user_name: "u",
                                        password: "p",
                                        registrar_host: "pbx.example.com",
                                        registrar_port: None,
                                    },
                                    provisioning: Provisioning {
                                        server_url: "https://prov.example.com/prov/t/",
                                        username: "u",
                                        password: "p",
                                    },
                                    admin_password: "adm",
                                    user_password: "usr",
                                    settings: &s,
                                    common_baseline: baseline,
                                    media: profile.as_ref(),
                                    dialect,
                                    account_slots: slots,
                                    layout,
                                    firmware: if in_mac {
                                        firmware(Some("https://fw.example.com/x.rom"))
                                    } else {
                                        Firmware::NONE
                                    },
                                    trusted_ca_url: ca,
                                };
                                add(&render_mac_cfg(&input).unwrap(), dialect);
                            }
                        }
                    }
                }
            }
        }
    }
    keys
}

#[test]
fn every_rendered_key_is_in_the_parameter_table() {
    let rows = rows();
    let keys = rendered_keys();
    assert!(keys.len() > 60, "{}", keys.len());
    let mut missing = Vec::new();
    for (key, dialects) in &keys {
        match rows.iter().find(|row| matches(&row.pattern, key)) {
            None => missing.push(format!("{key} (not in the table)")),
            Some(row) => {
                for dialect in dialects {
                    if !row.dialects.contains(dialect) {
                        missing.push(format!(
                            "{key} is written for {dialect}, the table says {:?}",
                            row.dialects
                        ));
                    }
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docs/yealink-parameters.md lacks:\n{}",
        missing.join("\n")
    );
}

#[test]
fn every_table_row_is_still_rendered() {
    let keys = rendered_keys();
    let stale: Vec<String> = rows()
        .into_iter()
        .filter(|row| !keys.keys().any(|key| matches(&row.pattern, key)))
        .map(|row| format!("{} ({})", row.pattern, row.source))
        .collect();
    assert!(
        stale.is_empty(),
        "rows no input renders (remove them or add the input):\n{}",
        stale.join("\n")
    );
}

#[test]
fn patterns() {
    assert!(matches("account.N.enable", "account.12.enable"));
    assert!(!matches("account.N.enable", "account.x.enable"));
    assert!(!matches(
        "account.N.enable",
        "account.1.sip_server.1.address"
    ));
    assert!(matches("ice.enable", "ice.enable"));
    assert!(!matches("ice.enable", "static.ice.enable"));
}
