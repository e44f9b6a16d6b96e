//! IANA -> Yealink time zone resolution.

use std::time::Instant;

use yealink::{
    TimeZoneError, YealinkTimeZone, iana_time_zone_names, iana_zone_for_posix,
    iana_zone_for_posix_in_year, resolve_time_zone, resolve_time_zone_in_year,
    yealink_time_zone_names,
};

use crate::golden::assert_golden;

fn tz(offset: &str, name: &str, observes_dst: bool) -> YealinkTimeZone {
    YealinkTimeZone {
        offset: offset.to_string(),
        name: name.to_string(),
        observes_dst,
        manual_dst: None,
    }
}

#[test]
fn required_examples() {
    let cases = [
        ("Europe/Berlin", tz("+1", "Germany(Berlin)", true)),
        (
            "America/New_York",
            tz("-5", "United States-Eastern Time", true),
        ),
        ("Asia/Kolkata", tz("+5:30", "India(Calcutta)", false)),
        ("Asia/Kathmandu", tz("+5:45", "Nepal(Katmandu)", false)),
        ("UTC", tz("0", "GMT", false)),
    ];
    for (zone, expected) in cases {
        assert_eq!(resolve_time_zone(zone), Ok(expected), "{zone}");
    }
    let err = resolve_time_zone("Europe/Atlantis").unwrap_err();
    assert_eq!(
        err,
        TimeZoneError::Unknown {
            name: "Europe/Atlantis".into()
        }
    );
    assert!(err.to_string().contains("Europe/Atlantis"), "{err}");
}

#[test]
fn matching_and_fallbacks() {
    let year = 2026;
    let resolve = |zone: &str| resolve_time_zone_in_year(zone, year);
    // Same transitions as Europe/Berlin: the first EU +1 entry.
    assert_eq!(
        resolve("Europe/Zurich"),
        Ok(tz("+1", "Germany(Berlin)", true))
    );
    assert_eq!(
        resolve("Europe/Warsaw"),
        Ok(tz("+1", "Germany(Berlin)", true))
    );
    // Links and case variants.
    assert_eq!(
        resolve("europe/berlin"),
        Ok(tz("+1", "Germany(Berlin)", true))
    );
    assert_eq!(
        resolve("Asia/Calcutta"),
        Ok(tz("+5:30", "India(Calcutta)", false))
    );
    assert_eq!(
        resolve("US/Pacific"),
        Ok(tz("-8", "United States-Pacific Time", true))
    );
    assert_eq!(resolve("Etc/UTC"), Ok(tz("0", "GMT", false)));
    // Dublin is ordinary summer time in the bundled (rearguard) data.
    assert_eq!(
        resolve("Europe/Dublin"),
        Ok(tz("0", "Ireland(Dublin)", true))
    );
    // Yealink still has a DST rule for Moscow; summer_time 0 switches it off.
    assert_eq!(
        resolve("Europe/Moscow"),
        Ok(tz("+3", "Russia(Moscow)", false))
    );
    // No DST, no explicit entry: the first entry of the offset without a DST rule.
    assert_eq!(resolve("Africa/Lagos"), Ok(tz("+1", "Chad", false)));
    assert_eq!(
        resolve("Europe/Istanbul"),
        Ok(tz("+3", "East Africa Time", false))
    );
    assert_eq!(
        resolve("America/Caracas"),
        Ok(tz("-4", "Trinidad&Tobago", false))
    );
    // British Columbia keeps summer time all year from 2026 on (tzdb).
    assert_eq!(
        resolve_time_zone_in_year("America/Vancouver", 2027),
        Ok(tz("-7", "United States-MST no DST", false))
    );
    // No Yealink entry has -12.
    assert!(matches!(
        resolve("Etc/GMT+12"),
        Err(TimeZoneError::NoYealinkEquivalent { .. })
    ));
    assert!(matches!(
        resolve("Etc/Unknown"),
        Err(TimeZoneError::Unknown { .. })
    ));
    assert!(matches!(resolve(""), Err(TimeZoneError::Unknown { .. })));
    assert!(matches!(
        resolve("Factory"),
        Err(TimeZoneError::Unknown { .. })
    ));
    // Links resolve like their targets.
    assert_eq!(
        resolve("Australia/West"),
        Ok(tz("+8", "Australia(Perth)", false))
    );
    assert_eq!(resolve("Eire"), Ok(tz("0", "Ireland(Dublin)", true)));
    assert!(matches!(
        resolve_time_zone_in_year("Europe/Berlin", 9999),
        Err(TimeZoneError::UnsupportedYear { year: 9999 })
    ));
}

#[test]
fn name_lists() {
    let names = yealink_time_zone_names();
    assert!(names.len() > 110, "{}", names.len());
    assert!(names.contains(&"Germany(Berlin)"));
    let mut unique = names.to_vec();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), names.len());

    let iana = iana_time_zone_names();
    assert!(iana.len() > 400, "{}", iana.len());
    assert!(iana.windows(2).all(|w| w[0] < w[1]));
    assert!(iana.iter().any(|z| z == "Europe/Berlin"));
    assert!(!iana.iter().any(|z| z == "Etc/GMT+12"));
    for zone in &iana {
        let resolved = resolve_time_zone(zone).unwrap();
        assert!(names.contains(&resolved.name.as_str()), "{zone}");
    }
}

/// The full mapping for one fixed year, for review: changes when the table or jiff's tzdb
/// changes, which is exactly when a human should look.
#[test]
fn golden_mapping_2026() {
    let mut out =
        String::from("# IANA zone -> local_time.time_zone | time_zone_name | summer_time (2026)\n");
    // Every name of the bundled database, not iana_time_zone_names(), which depends on the
    // current year.
    let mut zones: Vec<String> = jiff::tz::TimeZoneDatabase::bundled()
        .available()
        .map(|name| name.to_string())
        .collect();
    zones.sort();
    zones.dedup();
    for zone in zones {
        let line = match resolve_time_zone_in_year(&zone, 2026) {
            Ok(t) => match t.manual_dst {
                None => format!(
                    "{zone} -> {} | {} | {}\n",
                    t.offset,
                    t.name,
                    t.summer_time()
                ),
                Some(rule) => format!(
                    "{zone} -> {} | {} | 1 type {} {} to {} +{} min\n",
                    t.offset,
                    t.name,
                    rule.type_code(),
                    rule.start.key_value(),
                    rule.end.key_value(),
                    rule.save_minutes
                ),
            },
            Err(e) => format!("{zone} -> error: {e}\n"),
        };
        out.push_str(&line);
    }
    assert_golden("time_zones_2026.txt", &out);
}

/// innovaphone's examples: (POSIX TZ, expected IANA zone, Yealink standard offset).
const POSIX_EXAMPLES: &[(&str, &str, &str)] = &[
    ("CET-1CEST-2,M3.5.0/2,M10.5.0/3", "Europe/Berlin", "+1"),
    ("CET-1CEST,M3.5.0,M10.5.0/3", "Europe/Berlin", "+1"),
    ("GMT0BST,M3.5.0/1,M10.5.0", "Europe/London", "0"),
    ("EST5EDT,M3.2.0,M11.1.0", "America/New_York", "-5"),
    ("CST6CDT,M3.2.0,M11.1.0", "America/Chicago", "-6"),
    ("MST7MDT,M3.2.0,M11.1.0", "America/Denver", "-7"),
    ("MST7", "America/Phoenix", "-7"),
    ("PST8PDT,M3.2.0,M11.1.0", "America/Los_Angeles", "-8"),
    ("UTC0", "UTC", "0"),
    ("GMT0", "UTC", "0"),
    ("IST-5:30", "Asia/Kolkata", "+5:30"),
    ("AEST-10AEDT,M10.1.0,M4.1.0/3", "Australia/Sydney", "+10"),
    ("AWST-8", "Australia/Perth", "+8"),
    ("CST-8", "Asia/Shanghai", "+8"),
    ("EET-2EEST,M3.5.0/3,M10.5.0/4", "Europe/Helsinki", "+2"),
    ("NZST-12NZDT,M9.5.0,M4.1.0/3", "Pacific/Auckland", "+12"),
    ("<+0545>-5:45", "Asia/Kathmandu", "+5:45"),
    // Ireland's vanguard rule: "standard" IST in summer, negative DST in winter.
    ("IST-1GMT0,M10.5.0,M3.5.0/1", "Europe/Dublin", "0"),
];

#[test]
fn posix_rules_find_their_iana_zone() {
    for year in [2026, 2027] {
        for &(posix, zone, offset) in POSIX_EXAMPLES {
            let found = iana_zone_for_posix_in_year(posix, year);
            assert_eq!(found.as_deref(), Ok(zone), "{posix} in {year}");
            let resolved = resolve_time_zone_in_year(zone, year).unwrap();
            assert_eq!(resolved.offset, offset, "{posix} -> {zone}");
        }
    }
    // Through the memo, for the current year.
    for &(posix, zone, offset) in POSIX_EXAMPLES {
        assert_eq!(iana_zone_for_posix(posix).as_deref(), Ok(zone), "{posix}");
        assert_eq!(iana_zone_for_posix(posix).as_deref(), Ok(zone), "{posix}");
        assert_eq!(resolve_time_zone(zone).unwrap().offset, offset, "{zone}");
    }
}

#[test]
fn posix_rules_without_a_name_map_by_behaviour() {
    // No abbreviation to go by: any +03 zone without DST will do, chosen deterministically,
    // and it must land on a Yealink entry at +3 without DST.
    let zone = iana_zone_for_posix("<+03>-3").unwrap();
    assert_eq!(zone, "Asia/Baghdad");
    let resolved = resolve_time_zone(&zone).unwrap();
    assert_eq!(
        (resolved.offset.as_str(), resolved.observes_dst),
        ("+3", false)
    );
    assert_eq!(iana_zone_for_posix_in_year("<+03>-3", 2026).unwrap(), zone);
    // Whitespace around the rule is ignored.
    assert_eq!(
        iana_zone_for_posix(" CET-1CEST-2,M3.5.0/2,M10.5.0/3\n").as_deref(),
        Ok("Europe/Berlin")
    );
}

#[test]
fn every_found_zone_resolves_to_a_yealink_entry_with_its_offset() {
    let year = 2026;
    for &(posix, _, _) in POSIX_EXAMPLES {
        let zone = iana_zone_for_posix_in_year(posix, year).unwrap();
        let rule = jiff::tz::TimeZone::posix(posix).unwrap();
        // The standard offset as Yealink (and tzdb's rearguard data) sees it: the smaller of
        // winter and summer, which also holds for Ireland's negative DST.
        let jan = jiff::civil::date(year, 1, 15)
            .at(12, 0, 0, 0)
            .in_tz("UTC")
            .unwrap();
        let jul = jiff::civil::date(year, 7, 15)
            .at(12, 0, 0, 0)
            .in_tz("UTC")
            .unwrap();
        let offsets = [jan, jul].map(|t| rule.to_offset(t.timestamp()).seconds() / 60);
        let standard = offsets[0].min(offsets[1]);
        let resolved = resolve_time_zone_in_year(&zone, year).unwrap();
        assert_eq!(
            resolved.offset,
            yealink::format_offset(standard),
            "{posix} -> {zone}"
        );
        let has_dst = offsets[0] != offsets[1];
        assert_eq!(resolved.observes_dst, has_dst, "{posix} -> {zone}");
    }
}

#[test]
fn posix_rules_that_no_zone_follows() {
    // EU dates, but both changes at 02:00 local time: autumn comes an hour early.
    for posix in ["XXX-1YYY,M3.5.0,M10.5.0", "ABC-1DEF,M3.2.0,M11.1.0"] {
        let err = iana_zone_for_posix(posix).unwrap_err();
        assert_eq!(
            err,
            TimeZoneError::NoIanaZoneForPosix {
                posix: posix.into()
            }
        );
        assert!(err.to_string().contains(posix), "{err}");
    }
    // An offset nobody has.
    assert!(matches!(
        iana_zone_for_posix("<+0117>-1:17"),
        Err(TimeZoneError::NoIanaZoneForPosix { .. })
    ));
}

#[test]
fn garbage_posix_strings_are_errors_not_panics() {
    let long = "A".repeat(300);
    let mut garbage: Vec<String> = [
        "",
        "   ",
        "garbage",
        "Europe/Berlin",
        "CET",
        "CET-1CEST,M13.5.0,M10.5.0/3",
        "CET-1CEST,M3.6.0,M10.5.0/3",
        "CET-1CEST,M3.5.7,M10.5.0/3",
        "CET-99",
        "CET-1CEST-2,",
        "<+03-3",
        "\u{0}",
        "\u{1F600}-1",
        "CET-1CEST-2,M3.5.0/2,M10.5.0/3\nEST5",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    garbage.push(long);
    for text in &garbage {
        let err = iana_zone_for_posix(text).unwrap_err();
        assert!(
            matches!(
                err,
                TimeZoneError::PosixUnparsable { .. } | TimeZoneError::NoIanaZoneForPosix { .. }
            ),
            "{text:?}: {err}"
        );
        assert!(err.to_string().len() < 400, "{err}");
    }
    for text in ["", "garbage", "CET-1CEST,M13.5.0,M10.5.0/3"] {
        assert!(
            matches!(
                iana_zone_for_posix(text),
                Err(TimeZoneError::PosixUnparsable { .. })
            ),
            "{text:?}"
        );
    }
}

/// Prints how long a lookup takes; run with
/// `cargo test --release -p yealink posix_lookup_timing -- --ignored --nocapture`.
#[test]
#[ignore = "timing report, not a check"]
fn posix_lookup_timing() {
    let started = Instant::now();
    iana_zone_for_posix_in_year("CET-1CEST-2,M3.5.0/2,M10.5.0/3", 2026).unwrap();
    println!("first lookup (loads the zones): {:?}", started.elapsed());
    for round in 1..=2 {
        for &(posix, _, _) in POSIX_EXAMPLES.iter().chain(&[("<+03>-3", "", "")]) {
            let started = Instant::now();
            let _ = iana_zone_for_posix_in_year(posix, 2026);
            println!("round {round}, {posix}: {:?}", started.elapsed());
        }
    }
    let started = Instant::now();
    let _ = iana_zone_for_posix_in_year("XXX-1YYY,M3.5.0,M10.5.0", 2026);
    println!("no match: {:?}", started.elapsed());
    let started = Instant::now();
    for _ in 0..1000 {
        iana_zone_for_posix("CET-1CEST-2,M3.5.0/2,M10.5.0/3").unwrap();
    }
    println!("memoised, per call: {:?}", started.elapsed() / 1000);
}
