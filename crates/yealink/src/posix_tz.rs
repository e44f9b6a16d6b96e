//! Finding the IANA time zone that keeps the same clock as a POSIX TZ rule.
//!
//! innovaphone's Devices app sends a phone's time zone as a POSIX TZ string such as
//! `CET-1CEST-2,M3.5.0/2,M10.5.0/3`, but Yealink phones only know the entries of their own
//! list, which [`crate::resolve_time_zone`] finds for an IANA name. This module bridges the
//! two: an IANA zone *behaves like* a POSIX rule when both have the same UTC offset at every
//! instant of the current and the next year (UTC). Both offsets are piecewise constant, so
//! comparing them at the window start and at every transition of either zone is exact over
//! the window.
//!
//! Among equal zones the choice is deterministic, in this order:
//! 1. zones whose abbreviations agree with the POSIX names at every one of those instants
//!    (`AWST-8` gives `Australia/Perth`, not `Asia/Shanghai`; `GMT` and `UTC` count as equal);
//! 2. a short curated list of well-known zones, in list order;
//! 3. how well [`crate::resolve_time_zone_in_year`] maps the zone: listed in the Yealink
//!    table for an entry whose DST rule matches, then resolving with the same DST behaviour,
//!    then resolving at all;
//! 4. alphabetical order.
//!
//! Only primary IANA names are candidates (`Asia/Kolkata`, never the link `Asia/Calcutta`).

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use jiff::Timestamp;
use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;

use crate::timezone::{TimeZoneError, current_year, db, resolve_time_zone_in_year};
use crate::tz_table::ENTRIES;

/// Longer input is refused before parsing; real rules are under 60 characters.
const MAX_POSIX_LEN: usize = 256;

/// How much of the input an error message repeats.
const SHOWN_CHARS: usize = 80;

/// Well-known zones preferred among zones that behave alike, first one first. Zones with the
/// same rule later in the list never win over earlier ones (Paris never beats Berlin), so the
/// list holds one representative per rule.
const CURATED: &[&str] = &[
    "UTC",
    "Europe/London",
    "Europe/Dublin",
    "Europe/Berlin",
    "Europe/Helsinki",
    "Europe/Moscow",
    "Africa/Lagos",
    "Africa/Johannesburg",
    "Africa/Cairo",
    "Africa/Nairobi",
    "Asia/Jerusalem",
    "Asia/Dubai",
    "Asia/Karachi",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Asia/Dhaka",
    "Asia/Bangkok",
    "Asia/Shanghai",
    "Asia/Singapore",
    "Australia/Perth",
    "Asia/Tokyo",
    "Asia/Seoul",
    "Australia/Darwin",
    "Australia/Adelaide",
    "Australia/Brisbane",
    "Australia/Sydney",
    "Pacific/Auckland",
    "Pacific/Honolulu",
    "America/Anchorage",
    "America/Los_Angeles",
    "America/Phoenix",
    "America/Denver",
    "America/Chicago",
    "America/Mexico_City",
    "America/New_York",
    "America/Halifax",
    "America/St_Johns",
    "America/Sao_Paulo",
    "America/Argentina/Buenos_Aires",
];

/// The IANA zone that behaves like the POSIX TZ rule this year and next (system clock).
///
/// Results are remembered per string and year: the same few rules come with every request.
/// Unparsable strings are not remembered, so garbage cannot grow the memo.
pub fn iana_zone_for_posix(posix: &str) -> Result<String, TimeZoneError> {
    type Memo = Mutex<HashMap<(String, i16), Result<String, TimeZoneError>>>;
    static MEMO: OnceLock<Memo> = OnceLock::new();
    const MAX_REMEMBERED: usize = 256;
    let year = current_year();
    let memo = MEMO.get_or_init(Memo::default);
    let key = (posix.to_owned(), year);
    if let Ok(map) = memo.lock()
        && let Some(known) = map.get(&key)
    {
        return known.clone();
    }
    let found = iana_zone_for_posix_in_year(posix, year);
    if !matches!(found, Err(TimeZoneError::PosixUnparsable { .. }))
        && let Ok(mut map) = memo.lock()
        && map.len() < MAX_REMEMBERED
    {
        map.insert(key, found.clone());
    }
    found
}

/// The IANA zone that behaves like the POSIX TZ rule in `year` and `year + 1`. Not memoised.
pub fn iana_zone_for_posix_in_year(posix: &str, year: i16) -> Result<String, TimeZoneError> {
    let text = posix.trim();
    let unparsable = |reason: String| TimeZoneError::PosixUnparsable {
        posix: shown(posix),
        reason,
    };
    if text.is_empty() {
        return Err(unparsable("it is empty".to_string()));
    }
    if text.len() > MAX_POSIX_LEN {
        return Err(unparsable(format!(
            "it is longer than {MAX_POSIX_LEN} characters"
        )));
    }
    let rule = TimeZone::posix(text).map_err(|e| unparsable(e.to_string()))?;
    let (start, end) = window(year)?;

    let rule_points = change_points(&rule, start, end);
    let rule_has_dst = rule_points
        .iter()
        .any(|&t| rule.to_offset_info(t).dst().is_dst());

    // (candidate, abbreviations differ, curated rank)
    let mut matching: Vec<(&Candidate, bool, usize)> = Vec::new();
    for candidate in candidates() {
        let zone_points = change_points(&candidate.tz, start, end);
        let same_offsets = rule_points
            .iter()
            .chain(&zone_points)
            .all(|&t| rule.to_offset(t) == candidate.tz.to_offset(t));
        if !same_offsets {
            continue;
        }
        let same_names = rule_points.iter().chain(&zone_points).all(|&t| {
            same_abbreviation(
                rule.to_offset_info(t).abbreviation(),
                candidate.tz.to_offset_info(t).abbreviation(),
            )
        });
        let curated = CURATED
            .iter()
            .position(|&name| name == candidate.name)
            .unwrap_or(usize::MAX);
        matching.push((candidate, !same_names, curated));
    }

    let Some(best) = matching
        .iter()
        .map(|&(_, differ, curated)| (differ, curated))
        .min()
    else {
        return Err(TimeZoneError::NoIanaZoneForPosix {
            posix: shown(posix),
        });
    };
    matching
        .into_iter()
        .filter(|&(_, differ, curated)| (differ, curated) == best)
        .map(|(candidate, _, _)| {
            (
                mapping_tier(&candidate.name, year, rule_has_dst),
                &candidate.name,
            )
        })
        .min()
        .map(|(_, name)| name.clone())
        .ok_or_else(|| TimeZoneError::NoIanaZoneForPosix {
            posix: shown(posix),
        })
}

/// A primary IANA zone, loaded once.
struct Candidate {
    name: String,
    tz: TimeZone,
}

/// Every primary zone of the bundled tzdb, sorted by name. Loaded on first use (a few
/// milliseconds), then shared.
fn candidates() -> &'static [Candidate] {
    static CANDIDATES: OnceLock<Vec<Candidate>> = OnceLock::new();
    CANDIDATES.get_or_init(|| {
        let mut all: Vec<Candidate> = db()
            .available()
            .map(|name| name.to_string())
            .filter(|name| !name.eq_ignore_ascii_case("Factory"))
            .filter_map(|name| {
                let tz = db().get(&name).ok()?;
                (tz.is_primary() && tz.iana_name().is_some()).then_some(Candidate { name, tz })
            })
            .collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all.dedup_by(|a, b| a.name == b.name);
        all
    })
}

/// 1 January of `year` to 1 January of `year + 2`, UTC.
fn window(year: i16) -> Result<(Timestamp, Timestamp), TimeZoneError> {
    let unsupported = TimeZoneError::UnsupportedYear { year };
    let start_of = |y: i16| -> Option<Timestamp> {
        let date = Date::new(y, 1, 1).ok()?;
        TimeZone::UTC.to_timestamp(DateTime::from(date)).ok()
    };
    let start = start_of(year).ok_or(unsupported.clone())?;
    let end = year.checked_add(2).and_then(start_of).ok_or(unsupported)?;
    Ok((start, end))
}

/// The window start and every transition of `tz` inside the window.
fn change_points(tz: &TimeZone, start: Timestamp, end: Timestamp) -> Vec<Timestamp> {
    std::iter::once(start)
        .chain(
            tz.following(start)
                .map(|transition| transition.timestamp())
                .take_while(|&t| t < end),
        )
        .collect()
}

/// Abbreviations compare exactly, except that the names of UTC count as one.
fn same_abbreviation(a: &str, b: &str) -> bool {
    fn normal(name: &str) -> &str {
        match name {
            "UTC" | "UCT" | "GMT" | "UT" | "Z" | "Zulu" => "UTC",
            other => other,
        }
    }
    normal(a) == normal(b)
}

/// 0: the zone is listed in the Yealink table for an entry whose DST rule matches (and still
/// resolves there); 1: it resolves with the rule's DST behaviour; 2: it resolves; 3: it does not.
fn mapping_tier(name: &str, year: i16, rule_has_dst: bool) -> u8 {
    let Ok(resolved) = resolve_time_zone_in_year(name, year) else {
        return 3;
    };
    let listed = ENTRIES.iter().any(|entry| {
        entry.zones.contains(&name) && entry.rule == rule_has_dst && entry.name == resolved.name
    });
    if listed {
        0
    } else if resolved.observes_dst == rule_has_dst {
        1
    } else {
        2
    }
}

fn shown(posix: &str) -> String {
    posix.chars().take(SHOWN_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curated_zones_exist_and_are_primary() {
        for name in CURATED {
            assert!(
                candidates().iter().any(|c| c.name == *name),
                "{name} is not a primary zone of the bundled tzdb"
            );
        }
        let mut seen = std::collections::HashSet::new();
        for name in CURATED {
            assert!(seen.insert(name), "{name} listed twice");
        }
    }

    #[test]
    fn links_are_not_candidates() {
        assert!(candidates().iter().any(|c| c.name == "Asia/Kolkata"));
        assert!(!candidates().iter().any(|c| c.name == "Asia/Calcutta"));
        assert!(!candidates().iter().any(|c| c.name == "US/Eastern"));
        assert!(candidates().iter().any(|c| c.name == "UTC"));
    }

    #[test]
    fn abbreviations() {
        assert!(same_abbreviation("GMT", "UTC"));
        assert!(same_abbreviation("+03", "+03"));
        assert!(!same_abbreviation("CST", "AWST"));
    }
}
