//! Yealink's summer time rules: what a phone computes from `local_time.dst_time_type`,
//! `start_time`, `end_time` and `offset_time` (or from the rule its AutoDST list has for a
//! name), and how to write a zone's tzdb transitions of one year as such a rule.
//!
//! Semantics (FusionPBX's `auto_dst.xml`, whose rules use the same notation): type 1 is
//! `month/week/weekday/hour` with week 1-4 = that occurrence and 5 = the last, weekday 1 =
//! Monday .. 7 = Sunday; type 0 is `month/day/hour`. The start hour is local standard time,
//! the end hour local summer time (EU: start 3/5/7/2, end 10/5/7/3). When the end comes
//! before the start in the year (southern hemisphere), summer time spans New Year.

use jiff::Timestamp;
use jiff::civil::{Date, DateTime, Weekday};
use jiff::tz::{Offset, TimeZone};

/// One change date of a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DstDate {
    /// `month/week/weekday/hour` (`dst_time_type = 1`).
    Week {
        month: i8,
        week: i8,
        weekday: i8,
        hour: i8,
    },
    /// `month/day/hour` (`dst_time_type = 0`).
    Day { month: i8, day: i8, hour: i8 },
}

/// A summer time rule as a Yealink phone applies it every year.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DstRule {
    pub start: DstDate,
    pub end: DstDate,
    /// `local_time.offset_time`: minutes added in summer.
    pub save_minutes: i16,
}

impl DstDate {
    /// The local wall-clock time of this change in `year`; `None` when it does not exist.
    fn in_year(self, year: i16) -> Option<DateTime> {
        match self {
            DstDate::Week {
                month,
                week,
                weekday,
                hour,
            } => {
                let first = Date::new(year, month, 1).ok()?;
                let nth = if week >= 5 { -1 } else { week };
                let weekday = Weekday::from_monday_one_offset(weekday).ok()?;
                let date = first.nth_weekday_of_month(nth, weekday).ok()?;
                Some(date.at(hour, 0, 0, 0))
            }
            DstDate::Day { month, day, hour } => {
                Some(Date::new(year, month, day).ok()?.at(hour, 0, 0, 0))
            }
        }
    }

    /// `M/W/D/H` or `M/D/H`, as in Yealink's files.
    pub fn key_value(self) -> String {
        match self {
            DstDate::Week {
                month,
                week,
                weekday,
                hour,
            } => format!("{month}/{week}/{weekday}/{hour}"),
            DstDate::Day { month, day, hour } => format!("{month}/{day}/{hour}"),
        }
    }

    fn type_code(self) -> u8 {
        match self {
            DstDate::Week { .. } => 1,
            DstDate::Day { .. } => 0,
        }
    }
}

impl DstRule {
    /// `local_time.dst_time_type`: 1 when both dates are by week, else 0. A phone reads both
    /// dates in one form, so a mixed rule is written by day (see [`DstRule::from_tzdb`]).
    pub fn type_code(&self) -> u8 {
        self.start.type_code()
    }

    /// The instants summer time starts and ends in `year`, for standard offset `std_minutes`.
    pub fn instants(&self, year: i16, std_minutes: i32) -> Option<(Timestamp, Timestamp)> {
        let std = Offset::from_seconds(std_minutes * 60).ok()?;
        let summer =
            Offset::from_seconds((std_minutes + i32::from(self.save_minutes)) * 60).ok()?;
        let start = std.to_timestamp(self.start.in_year(year)?).ok()?;
        let end = summer.to_timestamp(self.end.in_year(year)?).ok()?;
        Some((start, end))
    }

    /// The UTC offset (seconds) a phone with this rule shows at `at`, which lies in `year`.
    pub fn phone_offset(&self, at: Timestamp, year: i16, std_minutes: i32) -> Option<i32> {
        let (start, end) = self.instants(year, std_minutes)?;
        let summer = if start < end {
            start <= at && at < end
        } else {
            at < end || start <= at
        };
        let minutes = std_minutes
            + if summer {
                i32::from(self.save_minutes)
            } else {
                0
            };
        Some(minutes * 60)
    }

    /// The rule that reproduces `tz`'s summer time in `year`: one start and one end (either
    /// order), whole-hour local times, a positive saving. By week when that form also gives
    /// the next year's dates, else by day (right for `year`; the file is rendered again).
    /// `None` when the year's changes do not fit (two summer periods, changes at :30, ...).
    pub fn from_tzdb(tz: &TimeZone, year: i16, std_minutes: i32) -> Option<DstRule> {
        let (start, end, save) = summer_changes(tz, year, std_minutes)?;
        let next = year.checked_add(1)?;
        let next_changes = summer_changes(tz, next, std_minutes);
        let week_form = |local: DateTime, next_local: Option<DateTime>| -> Option<DstDate> {
            let date = local.date();
            let weekday = date.weekday().to_monday_one_offset();
            let nth = (date.day() - 1) / 7 + 1;
            let last = date.day() + 7 > date.days_in_month();
            let candidates = [last.then_some(5), (nth < 5).then_some(nth)];
            candidates.into_iter().flatten().find_map(|week| {
                let rule = DstDate::Week {
                    month: date.month(),
                    week,
                    weekday,
                    hour: local.hour(),
                };
                (rule.in_year(year) == Some(local) && rule.in_year(next) == next_local)
                    .then_some(rule)
            })
        };
        let day_form = |local: DateTime| DstDate::Day {
            month: local.month(),
            day: local.day(),
            hour: local.hour(),
        };
        let (next_start, next_end) = match next_changes {
            Some((s, e, next_save)) if next_save == save => (Some(s), Some(e)),
            _ => (None, None),
        };
        let by_week = week_form(start, next_start).zip(week_form(end, next_end));
        let (start, end) = by_week.unwrap_or((day_form(start), day_form(end)));
        Some(DstRule {
            start,
            end,
            save_minutes: i16::try_from(save).ok()?,
        })
    }
}

/// Local wall-clock start (standard time) and end (summer time) of the one summer period of
/// `year`, and the saving in minutes.
fn summer_changes(tz: &TimeZone, year: i16, std_minutes: i32) -> Option<(DateTime, DateTime, i32)> {
    let begin = Offset::UTC
        .to_timestamp(Date::new(year, 1, 1).ok()?.at(0, 0, 0, 0))
        .ok()?;
    let finish = Offset::UTC
        .to_timestamp(Date::new(year.checked_add(1)?, 1, 1).ok()?.at(0, 0, 0, 0))
        .ok()?;
    let mut was_dst = tz.to_offset_info(begin).dst().is_dst();
    let (mut start, mut end, mut save) = (None, None, None);
    for transition in tz.following(begin).take_while(|t| t.timestamp() < finish) {
        let is_dst = transition.dst().is_dst();
        let offset = transition.offset().seconds();
        if is_dst && !was_dst {
            let local = Offset::from_seconds(std_minutes * 60).ok()?;
            let saving = offset / 60 - std_minutes;
            if start.is_some() || saving <= 0 || save.is_some_and(|s| s != saving) {
                return None;
            }
            start = Some(local.to_datetime(transition.timestamp()));
            save = Some(saving);
        } else if !is_dst && was_dst {
            if end.is_some() || offset / 60 != std_minutes {
                return None;
            }
            // The end is read in summer time: the offset just before this change.
            let before = tz
                .to_offset_info(
                    transition
                        .timestamp()
                        .checked_sub(jiff::SignedDuration::from_secs(1))
                        .ok()?,
                )
                .offset();
            end = Some(before.to_datetime(transition.timestamp()));
            let saving = before.seconds() / 60 - std_minutes;
            if save.is_some_and(|s| s != saving) || saving <= 0 {
                return None;
            }
            save = Some(saving);
        }
        was_dst = is_dst;
    }
    let (start, end, save) = (start?, end?, save?);
    let whole_hour = |t: DateTime| t.minute() == 0 && t.second() == 0;
    (whole_hour(start) && whole_hour(end)).then_some((start, end, save))
}
