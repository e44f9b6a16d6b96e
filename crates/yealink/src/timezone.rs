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
//!    a DST rule, with `observes_dst = false`.
//!
//! A zone with DST uses the phone's own rule for the name (`summer_time = 2`) only when that
//! rule (FusionPBX's AutoDST.xml, `auto_dst.rs`) gives exactly the zone's changes this year;
//! otherwise the year's changes are written explicitly (`summer_time = 1`, `dst_rule.rs`), and
//! a year no such rule can express is an error (`NoYealinkDstRule`).
//!
//! Time zone data is jiff's bundled tzdb (rearguard form, so `Europe/Dublin` has ordinary
//! summer time), never the host's, so results do not depend on the machine.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use jiff::Timestamp;
use jiff::civil::{Date, DateTime};
use jiff::tz::{TimeZone, TimeZoneDatabase};

use crate::auto_dst::auto_dst_rule;
use crate::dst_rule::DstRule;
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
    /// Summer time written out (`summer_time = 1` and its dates) because the phone's rule for
    /// the name would be wrong this year; `None` = the phone's own rule or no DST.
    pub manual_dst: Option<DstRule>,
}

impl YealinkTimeZone {
    /// `local_time.summer_time`: 0 off, 1 by the dates we write, 2 by the phone's rule.
    pub fn summer_time(&self) -> u8 {
        match (self.observes_dst, self.manual_dst) {
            (false, _) => 0,
            (true, Some(_)) => 1,
            (true, None) => 2,
        }
    }
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
        "time zone {name:?} changes its clock in {year} in a way a Yealink phone cannot follow (more than one summer period, or changes at half hours); pick a neighbouring zone"
    )]
    NoYealinkDstRule { name: String, year: i16 },
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
    if let Some(entry) = explicit
        && !profile.observes_dst
    {
        return Ok(to_yealink(entry, false));
    }

    // A zone that leaves summer time for good this year: its final clock, without DST.
    let keeps_one_offset = phone_follows(&tz, year, profile.standard_minutes, None);
    if let Some(entry) = explicit
        && keeps_one_offset
    {
        return Ok(to_yealink(entry, false));
    }
    if profile.observes_dst && !keeps_one_offset {
        let std = profile.standard_minutes;
        // The phone's own rule, when it gives exactly this year's changes: the listed entry
        // first, then any entry with the offset.
        let by_rule = explicit
            .into_iter()
            .chain(same_offset(std).filter(|entry| entry.rule))
            .find(|entry| {
                auto_dst_rule(entry.name)
                    .is_some_and(|rule| phone_follows(&tz, year, std, Some(rule)))
            });
        let manual = DstRule::from_tzdb(&tz, year, std)
            .filter(|rule| phone_follows(&tz, year, std, Some(rule)));
        // The listed entry keeps its name: its own rule when right, else the dates written out.
        match (by_rule, explicit, manual) {
            (Some(entry), Some(listed), _) if entry.name == listed.name => {
                return Ok(to_yealink(entry, true));
            }
            (_, Some(listed), Some(rule)) => {
                return Ok(YealinkTimeZone {
                    manual_dst: Some(rule),
                    ..to_yealink(listed, true)
                });
            }
            (Some(entry), _, _) => return Ok(to_yealink(entry, true)),
            _ => {}
        }
        let manual = manual.ok_or_else(|| TimeZoneError::NoYealinkDstRule {
            name: iana.to_string(),
            year,
        })?;
        let entry = explicit
            .or_else(|| fallback_entry(std, year))
            .ok_or_else(|| TimeZoneError::NoYealinkEquivalent {
                name: iana.to_string(),
                offset: format_offset(std),
            })?;
        return Ok(YealinkTimeZone {
            manual_dst: Some(manual),
            ..to_yealink(entry, true)
        });
    }

    match fallback_entry(profile.standard_minutes, year) {
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

/// Any entry with the offset will do when DST is switched off or written out; prefer one that
/// has no DST in Yealink's list or in reality, so the phone's settings page does not suggest
/// one.
fn fallback_entry(minutes: i32, year: i16) -> Option<&'static Entry> {
    same_offset(minutes)
        .find(|entry| !entry.rule)
        .or_else(|| {
            same_offset(minutes).find(|entry| {
                representative_profile(entry, year).is_some_and(|rep| !rep.observes_dst)
            })
        })
        .or_else(|| same_offset(minutes).next())
}

/// Whether a phone with standard offset `std_minutes` and `rule` shows `tz`'s offset at every
/// instant of `year`, or from the zone's last clock change on when its standard time changes
/// this year (before that, no single standard offset can be right). Both are piecewise
/// constant, so comparing at every change of either is exact.
pub(crate) fn phone_follows(
    tz: &TimeZone,
    year: i16,
    std_minutes: i32,
    rule: Option<&DstRule>,
) -> bool {
    let Some((start, end)) = year_bounds(year) else {
        return false;
    };
    let window = clock_since(tz, start, end);
    let mut instants = vec![window];
    instants.extend(
        tz.following(window)
            .take_while(|t| t.timestamp() < end)
            .map(|t| t.timestamp()),
    );
    if let Some(rule) = rule {
        let Some((on, off)) = rule.instants(year, std_minutes) else {
            return false;
        };
        instants.extend([on, off].into_iter().filter(|t| window <= *t && *t < end));
    }
    instants.into_iter().all(|at| {
        let phone = match rule {
            None => Some(std_minutes * 60),
            Some(rule) => rule.phone_offset(at, year, std_minutes),
        };
        phone == Some(tz.to_offset(at).seconds())
    })
}

/// The start of the year; or, when the zone's standard time at the end of the year differs
/// from the one at its start (a province keeping summer time all year), its last change of
/// offset in the year, from which on the new clock holds.
pub(crate) fn clock_since(tz: &TimeZone, start: Timestamp, end: Timestamp) -> Timestamp {
    let first = tz.to_offset_info(start);
    let mut states = vec![(start, first.offset().seconds(), first.dst().is_dst())];
    states.extend(
        tz.following(start)
            .take_while(|t| t.timestamp() < end)
            .map(|t| (t.timestamp(), t.offset().seconds(), t.dst().is_dst())),
    );
    let standard = |mut it: Box<dyn Iterator<Item = &(Timestamp, i32, bool)> + '_>| {
        it.find(|(_, _, dst)| !dst).map(|&(_, seconds, _)| seconds)
    };
    let (first_std, last_std) = (
        standard(Box::new(states.iter())),
        standard(Box::new(states.iter().rev())),
    );
    if first_std == last_std {
        return start;
    }
    states
        .windows(2)
        .rev()
        .find(|pair| pair[0].1 != pair[1].1)
        .map_or(start, |pair| pair[1].0)
}

/// 1 January of `year` and of the next year, 00:00 UTC.
fn year_bounds(year: i16) -> Option<(Timestamp, Timestamp)> {
    let at = |y: i16| -> Option<Timestamp> {
        TimeZone::UTC
            .to_timestamp(DateTime::from(Date::new(y, 1, 1).ok()?))
            .ok()
    };
    Some((at(year)?, at(year.checked_add(1)?)?))
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
        manual_dst: None,
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
