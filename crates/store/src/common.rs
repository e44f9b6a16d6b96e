//! Logic shared by both backends that is not SQL: value normalisation, limits, search
//! patterns, sort orders, and the Rust-side halves of bulk insert and of recording phone
//! requests.

use std::collections::{BTreeMap, HashSet};

use time::{OffsetDateTime, UtcOffset};
use yealink::Mac;

use crate::{DeviceRecord, DeviceSort, PhoneRequest, StoreError};

/// Rows per transaction in `insert_devices`: big enough to amortise the commit, small enough
/// that other writers are not blocked for long.
pub(crate) const BULK_CHUNK: usize = 1000;

/// Default and maximum page sizes of list calls.
const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 1000;

pub(crate) fn clamp_limit(limit: u32) -> u32 {
    match limit {
        0 => DEFAULT_LIMIT,
        n => n.min(MAX_LIMIT),
    }
}

/// At most `limit` jobs per claim; 0 claims nothing.
pub(crate) fn clamp_claim(limit: u32) -> u32 {
    limit.min(MAX_LIMIT)
}

/// UTC with microsecond precision: what PostgreSQL's TIMESTAMPTZ (and our SQLite integers)
/// hold, so a value reads back exactly as the store returned it from the write.
pub(crate) fn normalize(t: OffsetDateTime) -> OffsetDateTime {
    let utc = t.to_offset(UtcOffset::UTC);
    let micros_part = utc.nanosecond() / 1_000 * 1_000;
    utc.replace_nanosecond(micros_part).unwrap_or(utc)
}

pub(crate) fn now() -> OffsetDateTime {
    normalize(OffsetDateTime::now_utc())
}

/// The oldest heartbeat at `now` of an instance that still counts as alive.
pub(crate) fn live_cutoff(now: OffsetDateTime) -> OffsetDateTime {
    let stale =
        time::Duration::try_from(crate::INSTANCE_STALE_AFTER).unwrap_or(time::Duration::ZERO);
    normalize(now.checked_sub(stale).unwrap_or(now))
}

/// Microseconds since the Unix epoch (the SQLite representation).
pub(crate) fn to_micros(t: OffsetDateTime) -> i64 {
    // `time` without `large-dates` stays within years ±9999, i.e. about ±3.2e17 µs, so the
    // conversion never saturates in practice.
    let micros = t.unix_timestamp_nanos().div_euclid(1_000);
    i64::try_from(micros).unwrap_or(if micros < 0 { i64::MIN } else { i64::MAX })
}

pub(crate) fn from_micros(micros: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000)
        .map_err(|_| StoreError::Corrupt(format!("timestamp out of range: {micros} µs")))
}

/// When a lease taken at `now` ends; an absurdly long lease ends at the end of year 9999.
pub(crate) fn lease_until(now: OffsetDateTime, lease: std::time::Duration) -> OffsetDateTime {
    let end = time::Duration::try_from(lease)
        .ok()
        .and_then(|lease| now.checked_add(lease))
        .unwrap_or_else(|| time::PrimitiveDateTime::MAX.assume_utc());
    normalize(end)
}

/// A stored attempt counter (the columns are CHECKed non-negative).
pub(crate) fn attempts_from(n: i64) -> Result<u32, StoreError> {
    u32::try_from(n).map_err(|_| StoreError::Corrupt(format!("attempt count {n} out of range")))
}

pub(crate) fn parse_mac(s: &str) -> Result<Mac, StoreError> {
    Mac::parse(s).map_err(|_| StoreError::Corrupt(format!("invalid MAC {s:?} in a row")))
}

/// The record as it will be stored by an insert or update.
pub(crate) fn stamped(d: &DeviceRecord, revision: i64, at: OffsetDateTime) -> DeviceRecord {
    DeviceRecord {
        created_at: normalize(d.created_at),
        updated_at: at,
        revision,
        ..d.clone()
    }
}

/// LIKE patterns for [`crate::DeviceQuery::search`]: one for `devices.mac`, one for the text
/// fields.
/// `%`, `_` and `\` in the search text match literally (the SQL uses `ESCAPE '\'`).
pub(crate) struct SearchPatterns {
    pub(crate) mac: String,
    pub(crate) text: String,
}

impl SearchPatterns {
    pub(crate) fn new(search: Option<&str>) -> Option<Self> {
        let search = search.map(str::trim).filter(|s| !s.is_empty())?;
        // MACs are stored as 12 lower-case hex digits; let "00:15:65" or "0015-65" find them.
        let mac: String = search
            .chars()
            .filter(|c| !matches!(c, ':' | '-' | '.'))
            .collect::<String>()
            .to_ascii_lowercase();
        Some(Self {
            mac: contains_pattern(&mac),
            // PostgreSQL's `devices.search_text` is ASCII lower-cased, so the pattern is too.
            // (SQLite's LIKE ignores ASCII case anyway.)
            text: contains_pattern(&search.to_ascii_lowercase()),
        })
    }
}

fn contains_pattern(s: &str) -> String {
    let mut p = String::with_capacity(s.len() + 2);
    p.push('%');
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// `ORDER BY` clause of a device list. Only static fragments: it is spliced into the SQL.
/// Both backends agree: `lower(name)` has an expression index, a NULL last_config_request is
/// the oldest (SQLite's natural order; the PostgreSQL index is declared NULLS FIRST).
pub(crate) fn order_by(sort: DeviceSort, descending: bool) -> &'static str {
    match (sort, descending) {
        (DeviceSort::Mac, false) => "d.mac ASC",
        (DeviceSort::Mac, true) => "d.mac DESC",
        (DeviceSort::Name, false) => "lower(d.name) ASC, d.mac ASC",
        (DeviceSort::Name, true) => "lower(d.name) DESC, d.mac DESC",
        (DeviceSort::CreatedAt, false) => "d.created_at ASC, d.mac ASC",
        (DeviceSort::CreatedAt, true) => "d.created_at DESC, d.mac DESC",
        (DeviceSort::LastConfigRequest, false) => {
            "s.last_config_request ASC NULLS FIRST, s.mac ASC"
        }
        (DeviceSort::LastConfigRequest, true) => {
            "s.last_config_request DESC NULLS LAST, s.mac DESC"
        }
    }
}

/// The keyset condition "comes after the cursor device" for `order_by(sort, descending)`; `{A}`
/// stands for the cursor MAC's placeholder. The cursor's sort key is read by a subquery, so the
/// caller only passes a MAC. Both backends compare row values like the ORDER BY (and seek on
/// its index for MAC, name and created_at).
pub(crate) fn keyset_after(sort: DeviceSort, descending: bool) -> &'static str {
    match (sort, descending) {
        (DeviceSort::Mac, false) => "d.mac > {A}",
        (DeviceSort::Mac, true) => "d.mac < {A}",
        (DeviceSort::Name, false) => {
            "(lower(d.name), d.mac) > (SELECT lower(x.name), x.mac FROM devices x WHERE x.mac = {A} AND x.tenant_id = d.tenant_id)"
        }
        (DeviceSort::Name, true) => {
            "(lower(d.name), d.mac) < (SELECT lower(x.name), x.mac FROM devices x WHERE x.mac = {A} AND x.tenant_id = d.tenant_id)"
        }
        (DeviceSort::CreatedAt, false) => {
            "(d.created_at, d.mac) > (SELECT x.created_at, x.mac FROM devices x WHERE x.mac = {A} AND x.tenant_id = d.tenant_id)"
        }
        (DeviceSort::CreatedAt, true) => {
            "(d.created_at, d.mac) < (SELECT x.created_at, x.mac FROM devices x WHERE x.mac = {A} AND x.tenant_id = d.tenant_id)"
        }
        // NULL (never fetched) sorts first ascending and last descending, as in `order_by`.
        (DeviceSort::LastConfigRequest, false) => {
            "(CASE WHEN (SELECT x.last_config_request FROM device_status x JOIN devices y ON y.mac = x.mac WHERE x.mac = {A} AND y.tenant_id = d.tenant_id) IS NULL \
             THEN (s.last_config_request IS NOT NULL OR s.mac > {A}) \
             ELSE (s.last_config_request > (SELECT x.last_config_request FROM device_status x JOIN devices y ON y.mac = x.mac WHERE x.mac = {A} AND y.tenant_id = d.tenant_id) \
             OR (s.last_config_request = (SELECT x.last_config_request FROM device_status x JOIN devices y ON y.mac = x.mac WHERE x.mac = {A} AND y.tenant_id = d.tenant_id) \
             AND s.mac > {A})) END)"
        }
        (DeviceSort::LastConfigRequest, true) => {
            "(CASE WHEN (SELECT x.last_config_request FROM device_status x JOIN devices y ON y.mac = x.mac WHERE x.mac = {A} AND y.tenant_id = d.tenant_id) IS NULL \
             THEN (s.last_config_request IS NULL AND s.mac < {A}) \
             ELSE (s.last_config_request IS NULL \
             OR s.last_config_request < (SELECT x.last_config_request FROM device_status x JOIN devices y ON y.mac = x.mac WHERE x.mac = {A} AND y.tenant_id = d.tenant_id) \
             OR (s.last_config_request = (SELECT x.last_config_request FROM device_status x JOIN devices y ON y.mac = x.mac WHERE x.mac = {A} AND y.tenant_id = d.tenant_id) \
             AND s.mac < {A})) END)"
        }
    }
}

/// Rows of a bulk insert that can be rejected without asking the database: a MAC or URL
/// token that an earlier row of the same call already uses. Returns one slot per row: `None`
/// = try to insert, `Some(err)` = the row's result.
pub(crate) fn reject_in_batch_duplicates(ds: &[DeviceRecord]) -> Vec<Option<StoreError>> {
    let mut macs = HashSet::with_capacity(ds.len());
    let mut tokens = HashSet::with_capacity(ds.len());
    ds.iter()
        .map(|d| {
            if !macs.insert(d.mac) {
                Some(StoreError::DuplicateMac(d.mac))
            } else if !tokens.insert(d.url_token.as_str()) {
                Some(StoreError::DuplicateUrlToken)
            } else {
                None
            }
        })
        .collect()
}

/// The net effect of a batch of phone requests on one device's status row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StatusUpdate {
    /// Time of the newest request; the `last_*` and `*_seen` fields come from the newest
    /// request that had them.
    pub(crate) last_request_at: OffsetDateTime,
    pub(crate) last_ip: String,
    pub(crate) last_user_agent: Option<String>,
    pub(crate) model_seen: Option<String>,
    pub(crate) firmware_seen: Option<String>,
    /// Oldest and newest time the device's `<mac>.cfg` was served in the batch.
    pub(crate) first_cfg_served: Option<OffsetDateTime>,
    pub(crate) last_cfg_served: Option<OffsetDateTime>,
}

/// Folds a batch into one update per MAC. Sorted by MAC so that concurrent batches (several
/// server instances) lock status rows in the same order and cannot deadlock.
pub(crate) fn status_updates(batch: &[PhoneRequest]) -> BTreeMap<Mac, StatusUpdate> {
    let mut ordered: Vec<&PhoneRequest> = batch.iter().filter(|r| r.mac.is_some()).collect();
    // Stable: requests with equal times keep their batch order, so the later one wins.
    ordered.sort_by_key(|r| r.at);
    let mut updates: BTreeMap<Mac, StatusUpdate> = BTreeMap::new();
    for r in ordered {
        let Some(mac) = r.mac else { continue };
        let at = normalize(r.at);
        let served = r.mac_cfg_served.then_some(at);
        let u = updates.entry(mac).or_insert_with(|| StatusUpdate {
            last_request_at: at,
            last_ip: r.source_ip.clone(),
            last_user_agent: None,
            model_seen: None,
            firmware_seen: None,
            first_cfg_served: served,
            last_cfg_served: served,
        });
        u.last_request_at = at;
        u.last_ip.clone_from(&r.source_ip);
        if r.user_agent.is_some() {
            u.last_user_agent.clone_from(&r.user_agent);
        }
        if r.model.is_some() {
            u.model_seen.clone_from(&r.model);
        }
        if r.firmware.is_some() {
            u.firmware_seen.clone_from(&r.firmware);
        }
        if served.is_some() {
            u.first_cfg_served = u.first_cfg_served.or(served);
            u.last_cfg_served = served;
        }
    }
    updates
}

/// Rows into records.
pub(crate) fn collect<R, T>(rows: Vec<R>) -> Result<Vec<T>, StoreError>
where
    T: TryFrom<R, Error = StoreError>,
{
    rows.into_iter().map(T::try_from).collect()
}

/// `per_device` jobs for each MAC in `macs`, in that order: what a bulk insert enqueues in the
/// same transaction as its rows.
pub(crate) fn jobs_for_devices(
    macs: impl Iterator<Item = Mac>,
    per_device: &[crate::NewRpsJob],
) -> Vec<crate::NewRpsJob> {
    if per_device.is_empty() {
        return Vec::new();
    }
    macs.flat_map(|mac| {
        per_device.iter().map(move |job| crate::NewRpsJob {
            command: job.command.clone(),
            mac: Some(mac),
            payload: job.payload.clone(),
        })
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_is_clamped() {
        assert_eq!(clamp_limit(0), 50);
        assert_eq!(clamp_limit(1), 1);
        assert_eq!(clamp_limit(1000), 1000);
        assert_eq!(clamp_limit(5000), 1000);
    }

    #[test]
    fn leases_end_after_now_and_saturate() {
        let t = time::macros::datetime!(2026-11-26 10:00:00.123_456_789 UTC);
        assert_eq!(
            lease_until(t, std::time::Duration::from_secs(30)),
            time::macros::datetime!(2026-11-26 10:00:30.123_456 UTC)
        );
        let end_of_time = time::PrimitiveDateTime::MAX.assume_utc();
        assert_eq!(
            Some(lease_until(t, std::time::Duration::MAX)),
            end_of_time.replace_nanosecond(999_999_000).ok()
        );
        assert_eq!(clamp_claim(0), 0);
        assert_eq!(clamp_claim(5000), 1000);
    }

    #[test]
    fn micros_round_trip_including_before_1970() {
        for micros in [0_i64, 1, -1, 1_764_000_000_123_456, -86_400_000_001] {
            let t = from_micros(micros).ok();
            assert_eq!(t.map(to_micros), Some(micros));
        }
    }

    #[test]
    fn normalize_drops_sub_microseconds_and_offset() {
        let t = time::macros::datetime!(2026-11-26 10:00:00.123_456_789 +02:00);
        let n = normalize(t);
        assert_eq!(n.offset(), UtcOffset::UTC);
        assert_eq!(n, time::macros::datetime!(2026-11-26 08:00:00.123_456 UTC));
    }

    #[test]
    fn search_patterns_escape_wildcards_and_strip_mac_separators() {
        let p = SearchPatterns::new(Some(" 00:15:65_A% ")).map(|p| (p.mac, p.text));
        assert_eq!(
            p,
            Some(("%001565\\_a\\%%".to_owned(), "%00:15:65\\_a\\%%".to_owned()))
        );
        assert!(SearchPatterns::new(Some("  ")).is_none());
        assert!(SearchPatterns::new(None).is_none());
    }
}
