//! Logic shared by both backends: value normalisation, search patterns, and the Rust-side
//! halves of bulk insert and of recording phone requests.

use std::collections::{BTreeMap, HashSet};

use time::{OffsetDateTime, UtcOffset};
use yealink::Mac;

use crate::{DeviceRecord, DeviceSort, HistoryQuery, PhoneRequest, StoreError};

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

pub(crate) fn opt_from_micros(micros: Option<i64>) -> Result<Option<OffsetDateTime>, StoreError> {
    micros.map(from_micros).transpose()
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
            "(lower(d.name), d.mac) > (SELECT lower(x.name), x.mac FROM devices x WHERE x.mac = {A})"
        }
        (DeviceSort::Name, true) => {
            "(lower(d.name), d.mac) < (SELECT lower(x.name), x.mac FROM devices x WHERE x.mac = {A})"
        }
        (DeviceSort::CreatedAt, false) => {
            "(d.created_at, d.mac) > (SELECT x.created_at, x.mac FROM devices x WHERE x.mac = {A})"
        }
        (DeviceSort::CreatedAt, true) => {
            "(d.created_at, d.mac) < (SELECT x.created_at, x.mac FROM devices x WHERE x.mac = {A})"
        }
        // NULL (never fetched) sorts first ascending and last descending, as in `order_by`.
        (DeviceSort::LastConfigRequest, false) => {
            "(CASE WHEN (SELECT x.last_config_request FROM device_status x WHERE x.mac = {A}) IS NULL \
             THEN (s.last_config_request IS NOT NULL OR s.mac > {A}) \
             ELSE (s.last_config_request > (SELECT x.last_config_request FROM device_status x WHERE x.mac = {A}) \
             OR (s.last_config_request = (SELECT x.last_config_request FROM device_status x WHERE x.mac = {A}) \
             AND s.mac > {A})) END)"
        }
        (DeviceSort::LastConfigRequest, true) => {
            "(CASE WHEN (SELECT x.last_config_request FROM device_status x WHERE x.mac = {A}) IS NULL \
             THEN (s.last_config_request IS NULL AND s.mac < {A}) \
             ELSE (s.last_config_request IS NULL \
             OR s.last_config_request < (SELECT x.last_config_request FROM device_status x WHERE x.mac = {A}) \
             OR (s.last_config_request = (SELECT x.last_config_request FROM device_status x WHERE x.mac = {A}) \
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

// ---- SQL that is the same in both dialects -------------------------------------------------

pub(crate) const INSERT_DEVICE: &str = "INSERT INTO devices (mac, name, model, sip_user, auth_name, \
     sip_password, display_name, registrar, overrides, http_password, url_token, \
     admin_password, created_at, updated_at, revision) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)";

/// `$1` mac, `$2` newest request time, `$3` ip, `$4` user agent, `$5` model, `$6` firmware,
/// `$7`/`$8` first/last time the MAC .cfg was served in the batch (NULL if not).
/// In an UPDATE every expression sees the old row, so `last_request_at` below is the stored one.
pub(crate) const STATUS_UPDATE_SQL: &str = "UPDATE device_status SET \
    last_request_at = CASE WHEN last_request_at IS NULL OR last_request_at <= $2 \
        THEN $2 ELSE last_request_at END, \
    last_ip = CASE WHEN last_request_at IS NULL OR last_request_at <= $2 \
        THEN $3 ELSE last_ip END, \
    last_user_agent = CASE WHEN $4 IS NOT NULL AND (last_request_at IS NULL OR last_request_at <= $2) \
        THEN $4 ELSE last_user_agent END, \
    model_seen = CASE WHEN $5 IS NOT NULL AND (last_request_at IS NULL OR last_request_at <= $2) \
        THEN $5 ELSE model_seen END, \
    firmware_seen = CASE WHEN $6 IS NOT NULL AND (last_request_at IS NULL OR last_request_at <= $2) \
        THEN $6 ELSE firmware_seen END, \
    provisioned_at = CASE WHEN $7 IS NOT NULL AND (provisioned_at IS NULL OR provisioned_at > $7) \
        THEN $7 ELSE provisioned_at END, \
    last_config_request = CASE WHEN $8 IS NOT NULL \
        AND (last_config_request IS NULL OR last_config_request < $8) \
        THEN $8 ELSE last_config_request END \
    WHERE mac = $1";

/// Deletes rows older than `$1` unless they are among the newest `$2` of their MAC.
pub(crate) const PRUNE_SQL: &str = "DELETE FROM phone_requests WHERE at < $1 AND (mac IS NULL OR id NOT IN ( \
    SELECT id FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY mac ORDER BY at DESC, id DESC) AS rn \
        FROM phone_requests WHERE mac IS NOT NULL) ranked \
    WHERE rn <= $2))";

/// Deletes anonymous rows (refused requests, no MAC) beyond the newest `$1`.
pub(crate) const PRUNE_ANONYMOUS_SQL: &str = "DELETE FROM phone_requests WHERE mac IS NULL AND id NOT IN ( \
    SELECT id FROM phone_requests WHERE mac IS NULL ORDER BY at DESC, id DESC LIMIT $1)";

// ---- RPS outbox and history ----------------------------------------------------------------

/// A job is claimable at `$2` (now): due, not held (its lease ran out and the instance that
/// claimed it has no heartbeat newer than `$5`, see migrations/sqlite/0006_instances.sql), and
/// the oldest job of its
/// MAC. Jobs finish by being deleted, so "an older job of the MAC exists" means "an earlier
/// command for this phone has not finished" (in backoff, leased or waiting). `o.mac = j.mac`
/// is never true for NULL, so jobs without a MAC never wait for each other.
macro_rules! rps_claimable {
    () => {
        "j.next_attempt_at <= $2 \
         AND (j.leased_until IS NULL OR (j.leased_until <= $2 \
             AND NOT EXISTS (SELECT 1 FROM instances i \
                 WHERE i.id = j.leased_by AND i.last_beat > $5))) \
         AND NOT EXISTS (SELECT 1 FROM rps_jobs o WHERE o.mac = j.mac AND o.id < j.id)"
    };
}

/// SQLite's claim: `$1` worker, `$2` now, `$3` lease end, `$4` limit, `$5` the oldest
/// heartbeat of a live instance. Runs inside BEGIN
/// IMMEDIATE: the only writer, so nothing changes between choosing the rows and leasing them.
pub(crate) const CLAIM_RPS_JOBS_SQLITE: &str = concat!(
    "UPDATE rps_jobs SET leased_by = $1, leased_until = $3 WHERE id IN (\
     SELECT j.id FROM rps_jobs j WHERE ",
    rps_claimable!(),
    " ORDER BY j.id LIMIT $4) RETURNING ",
    rps_job_columns!()
);

/// PostgreSQL's claim, same parameters. `FOR UPDATE OF j SKIP LOCKED` locks the chosen rows
/// and passes over rows another transaction holds (a concurrent claim, complete or retry);
/// a row that a concurrent claim leased and committed meanwhile is re-checked on its new
/// version and dropped (its lease is live). MATERIALIZED: the CTE runs once, so the rows it
/// locked are exactly the rows updated. `= ANY (ARRAY(…))` lets the update find them by
/// primary key (`IN (SELECT …)` planned a hash join over the whole table).
pub(crate) const CLAIM_RPS_JOBS_PG: &str = concat!(
    "WITH picked AS MATERIALIZED (SELECT j.id FROM rps_jobs j WHERE ",
    rps_claimable!(),
    " ORDER BY j.id LIMIT $4 FOR UPDATE OF j SKIP LOCKED) \
     UPDATE rps_jobs SET leased_by = $1, leased_until = $3 \
     WHERE id = ANY (ARRAY(SELECT id FROM picked)) RETURNING ",
    rps_job_columns!()
);

/// `$1` id, `$2` worker. Only the holder of the lease may finish a job (an expired lease
/// that nobody took over still counts: the work was done).
pub(crate) const DELETE_LEASED_RPS_JOB: &str =
    "DELETE FROM rps_jobs WHERE id = $1 AND leased_by = $2";

/// `$1` id, `$2` worker, `$3` next attempt, `$4` error.
pub(crate) const RETRY_RPS_JOB: &str = "UPDATE rps_jobs SET attempts = attempts + 1, \
     last_error = $4, next_attempt_at = $3, leased_by = NULL, leased_until = NULL \
     WHERE id = $1 AND leased_by = $2";

pub(crate) const RETRY_RPS_JOBS_NOW: &str =
    "UPDATE rps_jobs SET next_attempt_at = $1 WHERE next_attempt_at > $1";

pub(crate) const PENDING_RPS_JOBS: &str = concat!(
    "SELECT ",
    rps_job_columns!(),
    " FROM rps_jobs ORDER BY id LIMIT $1"
);

pub(crate) const PENDING_RPS_JOBS_OF_MAC: &str = concat!(
    "SELECT ",
    rps_job_columns!(),
    " FROM rps_jobs WHERE mac = $1 ORDER BY id LIMIT $2"
);

/// `$1` now: pending, due (waiting for a worker), oldest, most attempts.
pub(crate) const RPS_QUEUE_STATS: &str = "SELECT COUNT(*), \
     COUNT(*) FILTER (WHERE next_attempt_at <= $1 \
         AND (leased_until IS NULL OR leased_until <= $1)), \
     MIN(created_at), COALESCE(MAX(attempts), 0) FROM rps_jobs";

pub(crate) const INSERT_RPS_HISTORY: &str = "INSERT INTO rps_history (at, command, mac, params, \
     outcome, answer, duration_ms, attempts) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
     RETURNING id";

/// Deletes entries older than `$1` except the newest `$2` overall.
pub(crate) const PRUNE_RPS_HISTORY: &str = "DELETE FROM rps_history WHERE at < $1 AND id NOT IN (\
     SELECT id FROM rps_history ORDER BY at DESC, id DESC LIMIT $2)";

// ---- leases --------------------------------------------------------------------------------

/// `$1` name, `$2` holder, `$3` until, `$4` now, `$5` the oldest live heartbeat. One statement, so it is race-free on both
/// backends: a free name is inserted (a concurrent insert of the same name makes the others
/// conflict), and a taken one is overwritten only if `$2` holds it or it expired. The WHERE
/// is evaluated on the row as it is after any concurrent writer committed (PostgreSQL waits
/// for that writer; SQLite has one writer at a time). RETURNING yields a row iff `$2` holds
/// the lease afterwards: an upsert whose WHERE is false returns nothing.
/// A lease whose holder is an instance with a heartbeat newer than `$5` stays held after its
/// `until` (migrations/sqlite/0006_instances.sql).
pub(crate) const ACQUIRE_LEASE: &str = "INSERT INTO leases (name, holder, until) \
     VALUES ($1, $2, $3) \
     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until \
     WHERE leases.holder = excluded.holder OR (leases.until <= $4 \
         AND NOT EXISTS (SELECT 1 FROM instances i \
             WHERE i.id = leases.holder AND i.last_beat > $5)) \
     RETURNING holder";

/// `$1` name, `$2` holder, `$3` until: the lease becomes `$2`'s whoever held it.
pub(crate) const STEAL_LEASE: &str = "INSERT INTO leases (name, holder, until) \
     VALUES ($1, $2, $3) \
     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until";

/// `$1` name, `$2` holder: only the holder's lease goes.
pub(crate) const RELEASE_LEASE: &str = "DELETE FROM leases WHERE name = $1 AND holder = $2";

// ---- instances -----------------------------------------------------------------------------

/// `$1` id, `$2` started, `$3` beat, `$4` address.
pub(crate) const BEAT_INSTANCE: &str = "INSERT INTO instances (id, started_at, last_beat, address) \
     VALUES ($1, $2, $3, $4) \
     ON CONFLICT (id) DO UPDATE SET last_beat = excluded.last_beat, address = excluded.address";

/// `$1` cutoff: rows of instances dead for long. Their leases and claims are free already
/// (stale beat); without the row they are judged by their own `until`, long past.
pub(crate) const PRUNE_INSTANCES: &str = "DELETE FROM instances WHERE last_beat < $1";

/// `$1` id: a clean stop hands everything over at once (one transaction, three statements).
pub(crate) const LEAVE_LEASES: &str = "DELETE FROM leases WHERE holder = $1";
pub(crate) const LEAVE_RPS_JOBS: &str =
    "UPDATE rps_jobs SET leased_by = NULL, leased_until = NULL WHERE leased_by = $1";
pub(crate) const LEAVE_INSTANCE: &str = "DELETE FROM instances WHERE id = $1";

pub(crate) const LIST_INSTANCES: &str =
    "SELECT id, started_at, last_beat, address FROM instances ORDER BY started_at, id";

/// `$1` lease-name prefix, `$2` now, `$3` the oldest live heartbeat, `$4` limit: the stored PBX
/// phones whose lease `$1 || mac` nobody holds: no row, or expired with no live heartbeat of its
/// holder (exactly what ACQUIRE_LEASE would take). A read; at rest it returns nothing.
pub(crate) const PUT_PBX_DEVICE: &str = "INSERT INTO pbx_devices (mac, doc, updated_at, config_complete) VALUES ($1, $2, $3, $4) \
     ON CONFLICT (mac) DO UPDATE SET doc = excluded.doc, updated_at = excluded.updated_at, \
     config_complete = COALESCE(excluded.config_complete, pbx_devices.config_complete)";
pub(crate) const PBX_CONFIG_STATES: &str =
    "SELECT mac, config_complete FROM pbx_devices ORDER BY mac";
/// Only where the column is still NULL: a concurrent `put_pbx_device` wins.
pub(crate) const FILL_PBX_CONFIG_COMPLETE: &str =
    "UPDATE pbx_devices SET config_complete = $2 WHERE mac = $1 AND config_complete IS NULL";

pub(crate) const UNHELD_PBX_DEVICES: &str = "SELECT p.mac FROM pbx_devices p \
     WHERE NOT EXISTS (SELECT 1 FROM leases l WHERE l.name = $1 || p.mac \
         AND (l.until > $2 OR EXISTS (SELECT 1 FROM instances i \
             WHERE i.id = l.holder AND i.last_beat > $3))) \
     ORDER BY p.mac LIMIT $4";

/// `$1` holder.
pub(crate) const LEASES_HELD: &str = "SELECT name FROM leases WHERE holder = $1 ORDER BY name";

/// `WHERE` and `LIMIT … OFFSET …` of a history page: static fragments only. Binds, in order:
/// the MAC if filtered, the command if filtered, then limit and offset.
pub(crate) fn history_filter(q: &HistoryQuery) -> (&'static str, &'static str) {
    match (q.mac.is_some(), q.command.is_some()) {
        (false, false) => ("", " LIMIT $1 OFFSET $2"),
        (true, false) => (" WHERE mac = $1", " LIMIT $2 OFFSET $3"),
        (false, true) => (" WHERE command = $1", " LIMIT $2 OFFSET $3"),
        (true, true) => (" WHERE mac = $1 AND command = $2", " LIMIT $3 OFFSET $4"),
    }
}

/// `ORDER BY` of the history: newest first, insertion order among equal times.
pub(crate) const HISTORY_ORDER: &str = " ORDER BY at DESC, id DESC";

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
