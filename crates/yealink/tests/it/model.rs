//! Every code of the reference's model table (B4).

use yealink::{
    DEFAULT_ACCOUNT_SLOTS, Dialect, common_code_from_firmware, common_file_code, is_legacy_model,
    known_models, legacy_firmware, model_info,
};

#[test]
fn reference_table_codes() {
    let table: &[(&str, u16)] = &[
        ("T19P_E2", 53),
        ("T21P_E2", 52),
        ("T23P", 44),
        ("T23G", 44),
        ("T27P", 45),
        ("T27G", 69),
        ("T29G", 46),
        ("T40P", 54),
        ("T40G", 76),
        ("T41P", 36),
        ("T42G", 29),
        ("T46G", 28),
        ("T48G", 35),
        ("CP860", 37),
        ("CP920", 78),
        ("CP925", 148),
        ("CP960", 73),
        ("CP965", 143),
        ("T41S", 68),
        ("T42S", 67),
        ("T46S", 66),
        ("T48S", 65),
        ("T42U", 116),
        ("T43U", 107),
        ("T46U", 108),
        ("T48U", 109),
        ("T44U", 173),
        ("T44W", 174),
        ("T30", 127),
        ("T30P", 127),
        ("T31", 123),
        ("T31P", 123),
        ("T31G", 123),
        ("T33P", 124),
        ("T33G", 124),
        ("T31W", 172),
        ("T34W", 171),
        ("W52P", 25),
        ("W56P", 25),
        ("W70B", 146),
        ("W90B", 130),
        ("W90DM", 130),
        ("T53", 95),
        ("T53W", 95),
        ("T54W", 96),
        ("T57W", 97),
        ("T58V", 58),
        ("T58A", 58),
        ("T56A", 56),
        ("T58W", 150),
        ("T52S", 74),
        ("T54S", 70),
        ("VP59", 91),
        ("T73U", 186),
        ("T73W", 183),
        ("T74U", 187),
        ("T74W", 184),
        ("T77U", 188),
        ("T85W", 196),
        ("T87W", 197),
        ("T88V", 192),
        ("T88W", 192),
        ("AX83H", 180),
        ("AX86R", 182),
        ("W60B", 77),
        ("W80B", 103),
        // wazo's V87 User-Agents: "Yealink W75B 175.87...", "Yealink W80DM 103.87..." (common.py:83-85).
        ("W75B", 175),
        ("W75DM", 175),
        ("W80DM", 103),
    ];
    for (model, code) in table {
        assert_eq!(common_file_code(model), Some(*code), "{model}");
        assert_eq!(
            common_file_code(&model.to_lowercase()),
            Some(*code),
            "{model} lower-case"
        );
    }
    assert_eq!(known_models().len(), table.len());
}

/// Firmware V80 and older does not know the `static.` names we write: those models are not
/// in the table, and the crate says so by name.
#[test]
fn legacy_models_are_refused_by_name() {
    for model in [
        "T20P", "T22P", "T26P", "T28P", "T32G", "T38G", "VP530", "VP530P", "SIP-T38G",
    ] {
        assert!(is_legacy_model(model), "{model}");
        assert_eq!(common_file_code(model), None, "{model}");
    }
    for info in known_models() {
        assert!(!is_legacy_model(info.name), "{}", info.name);
    }
}

#[test]
fn dialects_and_account_counts() {
    let info = |m: &str| model_info(m).unwrap();
    assert_eq!(info("T46U").dialect(), Dialect::Current);
    assert_eq!(info("T33G").dialect(), Dialect::Current);
    assert_eq!(info("CP965").dialect(), Dialect::Current);
    assert_eq!(info("T46S").dialect(), Dialect::Classic);
    assert_eq!(info("CP925").dialect(), Dialect::Classic);
    assert_eq!(info("W70B").dialect(), Dialect::Dect);
    assert_eq!(info("W60B").handset_slots(), 8);
    assert_eq!(info("W70B").handset_slots(), 10);
    assert_eq!(info("T46U").handset_slots(), 0);
    // wazo-provd-plugins v87 `_NB_SIP_ACCOUNTS`.
    assert_eq!(info("T46U").account_slots(), 16);
    assert_eq!(info("T33G").account_slots(), 4);
    assert_eq!(info("W70B").account_slots(), 10);
    assert_eq!(info("CP925").account_slots(), DEFAULT_ACCOUNT_SLOTS);
}

#[test]
fn unknown_and_excluded_models() {
    // T28P's code 000 would be y000000000000.cfg; see model.rs.
    assert_eq!(common_file_code("T28P"), None);
    assert_eq!(common_file_code("T41U"), None);
    assert_eq!(common_file_code(""), None);
    assert_eq!(model_info("sip-t48g").map(|m| m.name), Some("T48G"));
}

#[test]
fn families_group_models() {
    let family = |m: &str| model_info(m).map(|i| i.family);
    assert_eq!(family("T46U"), Some("T4xU"));
    assert_eq!(family("T54W"), Some("T5x"));
    assert_eq!(family("T33G"), Some("T3x"));
    assert_eq!(family("CP925"), Some("CP"));
    assert_eq!(family("W70B"), Some("DECT"));
}

#[test]
fn firmware_fallback_is_the_first_field() {
    assert_eq!(common_code_from_firmware("108.86.0.90"), Some(108));
    // The caveat: a T46S runs firmware 66 and asks for 066, but a T48S runs 66 too and asks
    // for 065; the fallback cannot tell them apart.
    assert_eq!(common_code_from_firmware("66.86.0.15"), Some(66));
    assert_ne!(
        common_file_code("T48S"),
        common_code_from_firmware("66.86.0.15")
    );
}

/// T49G runs V80 at most, the original T19P/T21P V73; refused by name.
#[test]
fn v80_and_v73_models_are_refused_with_their_firmware() {
    assert_eq!(model_info("SIP VP-T49G"), None);
    assert_eq!(legacy_firmware("VP-T49G"), Some("V80"));
    assert_eq!(legacy_firmware("SIP-T19P"), Some("V73"));
    assert_eq!(legacy_firmware("T21P"), Some("V73"));
    // The E2 generation runs current firmware and stays.
    assert_eq!(legacy_firmware("T19P_E2"), None);
    assert!(model_info("T19P_E2").is_some());
}

/// Each DECT base gets the names its own template uses, for as many
/// accounts as the system has.
#[test]
fn dect_bases_follow_their_templates() {
    let info = |m: &str| model_info(m).unwrap();
    // W52P/W56P/W60B: account 1's server, handset lines, no SIP server template.
    for model in ["W52P", "W56P", "W60B"] {
        let layout = info(model).account_layout();
        assert!(layout.account_server && !layout.server_template, "{model}");
        assert!(layout.handset_lines > 0, "{model}");
    }
    // W70B: both forms (firmware before and after 146.87).
    let w70b = info("W70B").account_layout();
    assert!(w70b.account_server && w70b.server_template);
    // Multi-cell systems: template only, no handset lines.
    for model in ["W75B", "W75DM", "W80B", "W80DM", "W90B", "W90DM"] {
        let layout = info(model).account_layout();
        assert!(!layout.account_server && layout.server_template, "{model}");
        assert_eq!(layout.handset_lines, 0, "{model}");
        assert_eq!(info(model).dialect(), Dialect::Dect, "{model}");
        // A DM and its bases share the common file but not the firmware file.
        assert!(info(model).firmware_in_mac_file(), "{model}");
    }
    assert_eq!(info("W80B").account_slots(), 100);
    assert_eq!(info("W90DM").account_slots(), 250);
    assert_eq!(info("W90B").account_slots(), 250);
    assert_eq!(info("W75DM").account_slots(), 20);
    // W52P/W56P run V81 at most: firmware and handset switch without `static.`.
    assert_eq!(info("W52P").dialect(), Dialect::DectV81);
    assert_eq!(Dialect::DectV81.firmware_key(), "firmware.url");
    assert_eq!(
        Dialect::DectV81.handset_configured_key(),
        "auto_provision.handset_configured.enable"
    );
    assert_eq!(Dialect::Dect.firmware_key(), "static.firmware.url");
    // Desk phones and single-cell bases keep the firmware in the common file.
    assert!(!info("T46U").firmware_in_mac_file());
    assert!(!info("W70B").firmware_in_mac_file());
    // Handset firmware keys per base.
    let keys = |m: &str| -> Vec<&str> {
        yealink::handset_firmware_keys(info(m))
            .iter()
            .map(|(_, k)| *k)
            .collect()
    };
    assert_eq!(keys("W52P"), ["over_the_air.url"]);
    assert_eq!(
        keys("W60B"),
        [
            "over_the_air.url.w53h",
            "over_the_air.url.w56h",
            "over_the_air.url.w59r"
        ]
    );
    assert!(keys("W90DM").contains(&"over_the_air.url.w73h"));
    assert!(keys("T46U").is_empty());
}
