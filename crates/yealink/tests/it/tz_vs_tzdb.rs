//! For every bundled IANA zone and the years 2026 and 2027, what a phone
//! computes from the keys we render (offset, and the summer time rule: the AutoDST rule of
//! the name, or the dates we write) equals jiff's tzdb: winter offset, summer offset, and the
//! instants summer time starts and ends. The phone side is evaluated here from the key
//! strings, independently of the crate's own rule code.

use jiff::Timestamp;
use jiff::civil::{Date, DateTime, Weekday};
use jiff::tz::{Offset, TimeZone, TimeZoneDatabase};
use yealink::{TimeZoneError, auto_dst_rule, resolve_time_zone_in_year, time_zone_params};

/// What a clock does in one year: winter offset, and summer offset with start and end.
#[derive(Debug, PartialEq, Eq)]
struct Clock {
    winter_seconds: i32,
    summer: Option<(i32, Timestamp, Timestamp)>,
}

fn year_start(year: i16) -> Timestamp {
    Offset::UTC
        .to_timestamp(Date::new(year, 1, 1).unwrap().at(0, 0, 0, 0))
        .unwrap()
}

/// `+5:45` -> 345 minutes.
fn offset_minutes(text: &str) -> i32 {
    let (sign, rest) = match text.as_bytes().first() {
        Some(b'-') => (-1, &text[1..]),
        Some(b'+') => (1, &text[1..]),
        _ => (1, text),
    };
    let (hours, minutes) = rest.split_once(':').unwrap_or((rest, "0"));
    sign * (hours.parse::<i32>().unwrap() * 60 + minutes.parse::<i32>().unwrap())
}

/// The local wall-clock time of a `dst_time_type` 1 (`M/W/D/H`) or 0 (`M/D/H`) date.
fn change_date(kind: &str, text: &str, year: i16) -> DateTime {
    let parts: Vec<i8> = text.split('/').map(|p| p.parse().unwrap()).collect();
    match (kind, parts.as_slice()) {
        ("1", [month, week, weekday, hour]) => {
            let nth = if *week >= 5 { -1 } else { *week };
            let weekday = Weekday::from_monday_one_offset(*weekday).unwrap();
            Date::new(year, *month, 1)
                .unwrap()
                .nth_weekday_of_month(nth, weekday)
                .unwrap()
                .at(*hour, 0, 0, 0)
        }
        ("0", [month, day, hour]) => Date::new(year, *month, *day).unwrap().at(*hour, 0, 0, 0),
        _ => panic!("dst_time_type {kind} with {text:?}"),
    }
}

/// The phone's clock from the rendered keys.
fn phone_clock(keys: &[(&str, String)], year: i16) -> Clock {
    let get = |key: &str| keys.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone());
    let std = offset_minutes(&get("local_time.time_zone").unwrap());
    let name = get("local_time.time_zone_name").unwrap();
    let rule = match get("local_time.summer_time").unwrap().as_str() {
        "0" => None,
        "1" => Some((
            get("local_time.dst_time_type").unwrap(),
            get("local_time.start_time").unwrap(),
            get("local_time.end_time").unwrap(),
            get("local_time.offset_time")
                .unwrap()
                .parse::<i32>()
                .unwrap(),
        )),
        "2" => {
            let rule = auto_dst_rule(&name).unwrap_or_else(|| panic!("{name} has no AutoDST rule"));
            Some((
                rule.type_code().to_string(),
                rule.start.key_value(),
                rule.end.key_value(),
                i32::from(rule.save_minutes),
            ))
        }
        other => panic!("summer_time {other}"),
    };
    Clock {
        winter_seconds: std * 60,
        summer: rule.map(|(kind, start, end, save)| {
            let at = |minutes: i32, text: &str| {
                Offset::from_seconds(minutes * 60)
                    .unwrap()
                    .to_timestamp(change_date(&kind, text, year))
                    .unwrap()
            };
            ((std + save) * 60, at(std, &start), at(std + save, &end))
        }),
    }
}

/// jiff's clock for the zone in `year`, judged by offsets alone: winter is the standard
/// offset at the end of the year, summer any other offset. When the standard offset at the
/// start of the year differs, the clock is compared from the year's last offset change on.
/// `None` when the year has more than one summer period.
fn tzdb_clock(tz: &TimeZone, year: i16) -> Option<(Clock, Timestamp)> {
    let (start, end) = (year_start(year), year_start(year + 1));
    let first = tz.to_offset_info(start);
    let mut states = vec![(start, first.offset().seconds(), first.dst().is_dst())];
    for t in tz.following(start).take_while(|t| t.timestamp() < end) {
        states.push((t.timestamp(), t.offset().seconds(), t.dst().is_dst()));
    }
    let standard_at_start = states.iter().find(|s| !s.2).map(|s| s.1);
    let winter = states
        .iter()
        .rev()
        .find(|s| !s.2)
        .map_or(states[0].1, |s| s.1);
    let mut since = start;
    if standard_at_start.is_some_and(|s| s != winter) {
        since = states
            .windows(2)
            .rev()
            .find(|p| p[0].1 != p[1].1)
            .map_or(start, |p| p[1].0);
    }
    let mut current = tz.to_offset(since).seconds();
    let (mut summer, mut on, mut off) = (None, None, None);
    if current != winter {
        summer = Some(current);
    }
    for &(at, seconds, _) in states.iter().filter(|s| s.0 > since) {
        if seconds == current {
            continue;
        }
        if current == winter {
            if on.is_some() || summer.is_some_and(|s| s != seconds) {
                return None;
            }
            on = Some(at);
            summer = Some(seconds);
        } else if seconds == winter {
            if off.is_some() {
                return None;
            }
            off = Some(at);
        } else {
            return None;
        }
        current = seconds;
    }
    let summer = match (on, off) {
        (None, None) => None,
        (Some(on), Some(off)) => Some((summer?, on, off)),
        _ => return None,
    };
    Some((
        Clock {
            winter_seconds: winter,
            summer,
        },
        since,
    ))
}

#[test]
fn every_zone_keeps_tzdb_time_in_2026_and_2027() {
    let db = TimeZoneDatabase::bundled();
    let mut checked = 0;
    let mut manual = Vec::new();
    let mut refused = Vec::new();
    let mut wrong = Vec::new();
    for name in db.available() {
        let name = name.to_string();
        for year in [2026, 2027] {
            let resolved = match resolve_time_zone_in_year(&name, year) {
                Ok(resolved) => resolved,
                Err(TimeZoneError::Unknown { .. }) => continue,
                Err(e) => {
                    refused.push(format!("{name} {year}: {e}"));
                    continue;
                }
            };
            let tz = db.get(&name).unwrap();
            let keys = time_zone_params(&resolved);
            if resolved.manual_dst.is_some() {
                manual.push(format!("{name} {year}"));
            }
            let phone = phone_clock(&keys, year);
            let Some((expected, since)) = tzdb_clock(&tz, year) else {
                wrong.push(format!("{name} {year}: resolved, but tzdb has two summers"));
                continue;
            };
            if phone != expected {
                wrong.push(format!(
                    "{name} {year}: phone {phone:?}\n    tzdb {expected:?}\n    keys {keys:?}"
                ));
            }
            // And the offset itself at every change of tzdb and a second before it.
            for t in tz
                .following(since)
                .take_while(|t| t.timestamp() < year_start(year + 1))
            {
                for at in [
                    t.timestamp(),
                    t.timestamp() - jiff::SignedDuration::from_secs(1),
                ] {
                    if at < since {
                        continue;
                    }
                    let shown = match phone.summer {
                        Some((summer, on, off))
                            if (on < off && on <= at && at < off)
                                || (off < on && (at < off || on <= at)) =>
                        {
                            summer
                        }
                        _ => phone.winter_seconds,
                    };
                    if shown != tz.to_offset(at).seconds() {
                        wrong.push(format!("{name} {year}: offset at {at}"));
                    }
                }
            }
            checked += 1;
        }
    }
    assert!(checked > 1000, "{checked}");
    assert!(
        wrong.is_empty(),
        "{} wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    // Zones whose year no Yealink rule can express are refused by name, with the reason:
    // Chatham changes at 2:45; Cuba starts summer time in March 2026 and ends it only in
    // November 2027 (a year without an end or a start); Morocco has two summer periods in
    // 2026; no Yealink zone has UTC-12.
    let refused_names: Vec<String> = refused
        .iter()
        .map(|line| line.split(':').next().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        refused_names,
        [
            "Africa/Casablanca 2026",
            "Africa/El_Aaiun 2026",
            "America/Havana 2026",
            "America/Havana 2027",
            "Cuba 2026",
            "Cuba 2027",
            "Etc/GMT+12 2026",
            "Etc/GMT+12 2027",
            "NZ-CHAT 2026",
            "NZ-CHAT 2027",
            "Pacific/Chatham 2026",
            "Pacific/Chatham 2027",
        ],
        "{refused:#?}"
    );
    // Cairo's summer time (back since 2023) is written out: no AutoDST entry has it.
    assert!(
        manual.contains(&"Africa/Cairo 2026".to_string()),
        "{manual:?}"
    );
}
