//! Mapping IANA time zones to Yealink's `local_time.time_zone` / `time_zone_name` pair.
//!
//! Yealink phones know time zones only as an offset plus a name from their built-in AutoDST
//! list; the name selects the DST rule when `local_time.summer_time = 2`. We resolve:
//!
//! 1. IANA zones listed for an entry in the table, and links to them, map to it (when the
//!    offsets still agree).
//! 2. Other zones that observe DST map to the first entry with the same standard offset whose
//!    representative zone has the very same transitions this year (e.g. `Europe/Zurich`
//!    behaves exactly like `Europe/Berlin`).
//! 3. Otherwise, to the first entry with the same standard offset, preferring entries without
//!    a DST rule, with `observes_dst = false`. A zone whose DST rule no Yealink entry shares
//!    is then an hour off during its DST period; that is the price of not sending explicit
//!    DST dates (`summer_time = 1`).
//!
//! Time zone data is jiff's bundled tzdb (rearguard form, so `Europe/Dublin` has ordinary
//! summer time), never the host's, so results do not depend on the machine.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use jiff::Timestamp;
use jiff::civil::{Date, DateTime};
use jiff::tz::{TimeZone, TimeZoneDatabase};

use crate::tz_table::{ENTRIES, Entry};

/// What to write into `local_time.time_zone` and `local_time.time_zone_name`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct YealinkTimeZone {
    /// `local_time.time_zone`: standard offset as Yealink writes it: `+1`, `0`, `-3:30`, `+5:45`.
    pub offset: String,
    /// `local_time.time_zone_name`: an entry of Yealink's AutoDST list, e.g. `Germany(Berlin)`.
    pub name: String,
    /// Whether the zone has DST this year; `local_time.summer_time` is 2 (automatic) if so,
    /// else 0 (which also switches off a stale DST rule the phone may have for the name).
    pub observes_dst: bool,
}

/// Why an IANA name could not be turned into a Yealink time zone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeZoneError {
    #[error("unknown time zone {name:?}; expected an IANA time zone name such as Europe/Berlin")]
    Unknown { name: String },
    #[error(
        "time zone {name:?} has standard offset UTC{offset}, which no Yealink time zone has; pick a neighbouring zone"
    )]
    NoYealinkEquivalent { name: String, offset: String },
    #[error("cannot evaluate time zone rules for the year {year}")]
    UnsupportedYear { year: i16 },
    #[error(
        "cannot read the POSIX TZ string {posix:?} ({reason}); expected e.g. CET-1CEST,M3.5.0,M10.5.0/3"
    )]
    PosixUnparsable { posix: String, reason: String },
    #[error(
        "no IANA time zone keeps the same UTC offsets as the POSIX TZ rule {posix:?} this year and next; choose an IANA time zone instead"
    )]
    NoIanaZoneForPosix { posix: String },
}

/// Resolves an IANA time zone name for the current year (by the system clock).
///
/// Results are remembered per name and year: rendering asks for the same few zones on every
/// phone request, and judging DST means walking a year of transitions.
pub fn resolve_time_zone(iana: &str) -> Result<YealinkTimeZone, TimeZoneError> {
    type Memo = Mutex<HashMap<(String, i16), Result<YealinkTimeZone, TimeZoneError>>>;
    static MEMO: OnceLock<Memo> = OnceLock::new();
    // Bounded: unknown names are not remembered, so garbage input cannot grow the map.
    const MAX_REMEMBERED: usize = 1024;
    let year = current_year();
    let memo = MEMO.get_or_init(Memo::default);
    let key = (iana.to_owned(), year);
    if let Ok(map) = memo.lock()
        && let Some(known) = map.get(&key)
    {
        return known.clone();
    }
    let resolved = resolve_time_zone_in_year(iana, year);
    if !matches!(resolved, Err(TimeZoneError::Unknown { .. }))
        && let Ok(mut map) = memo.lock()
        && map.len() < MAX_REMEMBERED
    {
        map.insert(key, resolved.clone());
    }
    resolved
}

/// Resolves an IANA time zone name, judging DST behaviour by the rules of `year`.
pub fn resolve_time_zone_in_year(iana: &str, year: i16) -> Result<YealinkTimeZone, TimeZoneError> {
    let unknown = || TimeZoneError::Unknown {
        name: iana.to_string(),
    };
    let tz = db().get(iana).map_err(|_| unknown())?;
    // `Etc/Unknown` resolves to a placeholder without an IANA name, and tzdb's `Factory`
    // means "not configured": neither is a place.
    let canonical = tz
        .iana_name()
        .filter(|name| !name.eq_ignore_ascii_case("Factory"))
        .ok_or_else(unknown)?;
    let profile = YearProfile::of(&tz, year)?;

    // By name first, then by identity: jiff's `TimeZone` equality compares the data and the
    // primary name, so links (`Australia/West`, `Eire`, `ROK`) find their target's entry.
    let explicit = ENTRIES
        .iter()
        .find(|entry| entry.zones.contains(&canonical))
        .or_else(|| {
            ENTRIES.iter().find(|entry| {
                entry
                    .zones
                    .iter()
                    .any(|zone| db().get(zone).is_ok_and(|other| other == tz))
            })
        })
        .filter(|entry| i32::from(entry.minutes) == profile.standard_minutes);
    if let Some(entry) = explicit {
        return Ok(to_yealink(entry, profile.observes_dst));
    }

    if profile.observes_dst {
        for entry in same_offset(profile.standard_minutes).filter(|entry| entry.rule) {
            if representative_profile(entry, year).is_some_and(|rep| rep == profile) {
                return Ok(to_yealink(entry, true));
            }
        }
    }

    // Any entry with the offset will do since DST is switched off; prefer one that has no
    // DST in Yealink's list or in reality, so the phone's settings page does not suggest one.
    let fallback = same_offset(profile.standard_minutes)
        .find(|entry| !entry.rule)
        .or_else(|| {
            same_offset(profile.standard_minutes).find(|entry| {
                representative_profile(entry, year).is_some_and(|rep| !rep.observes_dst)
            })
        })
        .or_else(|| same_offset(profile.standard_minutes).next());
    match fallback {
        Some(entry) => Ok(to_yealink(entry, false)),
        None => Err(TimeZoneError::NoYealinkEquivalent {
            name: iana.to_string(),
            offset: format_offset(profile.standard_minutes),
        }),
    }
}

/// The distinct names of Yealink's time zone list (`local_time.time_zone_name` values).
pub fn yealink_time_zone_names() -> &'static [&'static str] {
    static NAMES: OnceLock<Vec<&'static str>> = OnceLock::new();
    NAMES.get_or_init(|| {
        let mut names: Vec<&'static str> = Vec::with_capacity(ENTRIES.len());
        for entry in ENTRIES {
            if !names.contains(&entry.name) {
                names.push(entry.name);
            }
        }
        names
    })
}

/// Every IANA zone name (including links such as `US/Eastern`) that [`resolve_time_zone`]
/// accepts, sorted. For validation and the UI picker.
pub fn iana_time_zone_names() -> Vec<String> {
    let year = current_year();
    let mut names: Vec<String> = db()
        .available()
        .map(|name| name.to_string())
        .filter(|name| resolve_time_zone_in_year(name, year).is_ok())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Yealink's offset notation: sign and hours, minutes only when not zero; zero is `0`.
pub fn format_offset(minutes: i32) -> String {
    if minutes == 0 {
        return "0".to_string();
    }
    let sign = if minutes < 0 { '-' } else { '+' };
    let (hours, rest) = (minutes.abs() / 60, minutes.abs() % 60);
    if rest == 0 {
        format!("{sign}{hours}")
    } else {
        format!("{sign}{hours}:{rest:02}")
    }
}

/// The current year in UTC, by the system clock.
pub(crate) fn current_year() -> i16 {
    TimeZone::UTC.to_datetime(Timestamp::now()).year()
}

pub(crate) fn db() -> &'static TimeZoneDatabase {
    static DB: OnceLock<TimeZoneDatabase> = OnceLock::new();
    DB.get_or_init(TimeZoneDatabase::bundled)
}

fn same_offset(minutes: i32) -> impl Iterator<Item = &'static Entry> {
    ENTRIES
        .iter()
        .filter(move |entry| i32::from(entry.minutes) == minutes)
}

fn representative_profile(entry: &Entry, year: i16) -> Option<YearProfile> {
    let tz = db().get(entry.zones.first()?).ok()?;
    YearProfile::of(&tz, year).ok()
}

fn to_yealink(entry: &Entry, observes_dst: bool) -> YealinkTimeZone {
    YealinkTimeZone {
        offset: format_offset(i32::from(entry.minutes)),
        name: entry.name.to_string(),
        observes_dst,
    }
}

/// How a zone behaves during one calendar year (UTC): enough to tell whether two zones keep
/// the same clock all year.
#[derive(Debug, PartialEq, Eq)]
struct YearProfile {
    standard_minutes: i32,
    observes_dst: bool,
    /// The offset (seconds) on 1 January, then every change as (Unix seconds, new offset).
    offsets: Vec<(i64, i32)>,
}

impl YearProfile {
    fn of(tz: &TimeZone, year: i16) -> Result<YearProfile, TimeZoneError> {
        let unsupported = |_| TimeZoneError::UnsupportedYear { year };
        let start_of = |y: i16| -> Result<Timestamp, TimeZoneError> {
            let date = Date::new(y, 1, 1).map_err(unsupported)?;
            TimeZone::UTC
                .to_timestamp(DateTime::from(date))
                .map_err(unsupported)
        };
        let start = start_of(year)?;
        let end = start_of(
            year.checked_add(1)
                .ok_or(TimeZoneError::UnsupportedYear { year })?,
        )?;

        let first = tz.to_offset_info(start);
        let mut offsets = vec![(start.as_second(), first.offset().seconds())];
        let mut states = vec![(first.offset().seconds(), first.dst().is_dst())];
        for transition in tz.following(start).take_while(|t| t.timestamp() < end) {
            let seconds = transition.offset().seconds();
            states.push((seconds, transition.dst().is_dst()));
            // Some transitions only rename the zone; they change nothing on the phone.
            if offsets.last().is_none_or(|&(_, last)| last != seconds) {
                offsets.push((transition.timestamp().as_second(), seconds));
            }
        }
        let observes_dst = states.iter().any(|&(_, dst)| dst);
        // Standard time is the offset outside DST; the latest one wins if it changed this year.
        let standard_seconds = states
            .iter()
            .rev()
            .find(|&&(_, dst)| !dst)
            .or_else(|| states.iter().min_by_key(|&&(seconds, _)| seconds))
            .map_or(0, |&(seconds, _)| seconds);
        Ok(YearProfile {
            standard_minutes: standard_seconds / 60,
            observes_dst,
            offsets,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_written_like_yealink() {
        assert_eq!(format_offset(0), "0");
        assert_eq!(format_offset(60), "+1");
        assert_eq!(format_offset(-210), "-3:30");
        assert_eq!(format_offset(345), "+5:45");
        assert_eq!(format_offset(-570), "-9:30");
        assert_eq!(format_offset(780), "+13");
    }

    /// Guards the table against tzdb drift: every representative still has the entry's
    /// standard offset, and an entry without a DST rule never stands for a zone with DST
    /// (the phone would then ignore DST for that zone).
    #[test]
    fn representatives_agree_with_their_entries() {
        let year = current_year();
        for entry in ENTRIES {
            for zone in entry.zones {
                let tz = db().get(zone).unwrap_or_else(|_| panic!("{zone} missing"));
                let profile = YearProfile::of(&tz, year).unwrap();
                assert_eq!(
                    profile.standard_minutes,
                    i32::from(entry.minutes),
                    "{zone} vs {}",
                    entry.name
                );
                assert!(
                    entry.rule || !profile.observes_dst,
                    "{zone} observes DST but {} has no rule",
                    entry.name
                );
            }
        }
    }

    #[test]
    fn explicit_zones_appear_once() {
        let mut seen = std::collections::HashSet::new();
        for entry in ENTRIES {
            for zone in entry.zones {
                assert!(seen.insert(*zone), "{zone} listed twice");
            }
        }
    }
}
