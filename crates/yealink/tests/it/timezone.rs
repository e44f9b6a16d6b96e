//! IANA -> Yealink time zone resolution.

use yealink::{
    TimeZoneError, YealinkTimeZone, iana_time_zone_names, resolve_time_zone,
    resolve_time_zone_in_year, yealink_time_zone_names,
};

use crate::golden::assert_golden;

fn tz(offset: &str, name: &str, observes_dst: bool) -> YealinkTimeZone {
    YealinkTimeZone {
        offset: offset.to_string(),
        name: name.to_string(),
        observes_dst,
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
            Ok(t) => format!(
                "{zone} -> {} | {} | {}\n",
                t.offset,
                t.name,
                if t.observes_dst { 2 } else { 0 }
            ),
            Err(e) => format!("{zone} -> error: {e}\n"),
        };
        out.push_str(&line);
    }
    assert_golden("time_zones_2026.txt", &out);
}
