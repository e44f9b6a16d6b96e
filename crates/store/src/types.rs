//! The records the store reads and writes. Plain data: no SQL here.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use yealink::Mac;

/// A device's settings overrides: a JSON value, opaque to the store, held as compact JSON text.
///
/// Every device's record stays in memory for as long as the device exists (the server's device
/// cache), where a parsed JSON tree took about 1.3 KiB per innovaphone phone against a few
/// hundred bytes of text (docs/benchmarks.md). Readers parse it when they use it.
#[derive(Clone)]
pub struct Overrides(Box<str>);

/// Equal as JSON values: the key order of the text is the database's (PostgreSQL's `jsonb`
/// orders keys its own way).
impl PartialEq for Overrides {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0 || self.to_value() == other.to_value()
    }
}

impl Eq for Overrides {}

impl Overrides {
    pub fn from_value(value: &serde_json::Value) -> Self {
        Overrides(value.to_string().into_boxed_str())
    }

    /// The JSON value; text that is not JSON (it cannot be built from outside) reads as null.
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::from_str(&self.0).unwrap_or(serde_json::Value::Null)
    }

    /// Reads the overrides as `T`.
    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(&self.0)
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Overrides {
    /// No overrides: `{}`.
    fn default() -> Self {
        Overrides("{}".into())
    }
}

impl From<serde_json::Value> for Overrides {
    fn from(value: serde_json::Value) -> Self {
        Overrides::from_value(&value)
    }
}

impl fmt::Debug for Overrides {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Written and read as the JSON value itself, as when it was a `serde_json::Value`.
impl Serialize for Overrides {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Overrides {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        serde_json::Value::deserialize(deserializer).map(|v| Overrides::from_value(&v))
    }
}

/// Shown by `Debug` instead of a value that may hold a secret.
const REDACTED: &str = "***";

/// A provisioned phone as the admin configured it.
///
/// `Debug` prints `***` for the secrets (SIP, HTTP and admin passwords and the URL token), so a
/// record can be logged with `{:?}`; `Serialize` writes them, because the API and exports need
/// them.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceRecord {
    pub mac: Mac,
    pub name: String,
    pub model: Option<String>,
    pub sip_user: String,
    pub auth_name: Option<String>,
    pub sip_password: String,
    pub display_name: Option<String>,
    /// "host" or "host:port" as entered.
    pub registrar: String,
    /// Per-device settings overrides; an opaque JSON value to the store.
    pub overrides: Overrides,
    /// Per-phone HTTP credential.
    pub http_password: String,
    /// Per-phone URL secret, unique across devices.
    pub url_token: String,
    /// Phone web UI admin password.
    pub admin_password: String,
    /// Kept as given on insert (UTC, microseconds) and never changed by updates.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Set by the store on every insert and update.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Change-feed revision of the last insert or update of this device; set by the store.
    pub revision: i64,
}

impl fmt::Debug for DeviceRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceRecord")
            .field("mac", &self.mac)
            .field("name", &self.name)
            .field("model", &self.model)
            .field("sip_user", &self.sip_user)
            .field("auth_name", &self.auth_name)
            .field("sip_password", &REDACTED)
            .field("display_name", &self.display_name)
            .field("registrar", &self.registrar)
            .field("overrides", &self.overrides)
            .field("http_password", &REDACTED)
            .field("url_token", &REDACTED)
            .field("admin_password", &REDACTED)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .field("revision", &self.revision)
            .finish()
    }
}

/// What the phone itself did, written by `record_phone_requests`. Not part of the change feed.
/// Timestamps serialise as RFC 3339 strings.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DeviceStatus {
    /// First time its `<mac>.cfg` was served.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub provisioned_at: Option<OffsetDateTime>,
    /// Last time its `<mac>.cfg` was served.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_config_request: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_request_at: Option<OffsetDateTime>,
    pub last_ip: Option<String>,
    pub last_user_agent: Option<String>,
    pub model_seen: Option<String>,
    pub firmware_seen: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Device {
    pub record: DeviceRecord,
    pub status: DeviceStatus,
}

/// Sort orders of [`DeviceQuery`]; each has an index. Ties are broken by MAC.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceSort {
    #[default]
    Mac,
    /// Case-insensitive (ASCII) by name.
    Name,
    /// Devices that never fetched their config count as the oldest: first when ascending,
    /// last when descending.
    LastConfigRequest,
    CreatedAt,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeviceQuery {
    /// Substring of mac, name, sip_user, display_name or model, ignoring ASCII case (other
    /// letters must match exactly, on both backends). For the MAC,
    /// separators (`:`, `-`, `.`) in the search text are ignored, so `00:15:65` finds `001565…`.
    pub search: Option<String>,
    pub sort: DeviceSort,
    pub descending: bool,
    pub offset: u32,
    /// Clamped to 1..=1000; 0 means 50.
    pub limit: u32,
}

/// Keyset paging for [`Store::list_devices_after`](crate::Store::list_devices_after): the page
/// after the device `after` in the given order, without a total. Unlike `offset`, the cost of a
/// page does not grow with its position (for the MAC, name and created-at orders, which seek on
/// an index); used by the web UI's device list.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeviceKeyset {
    /// As in [`DeviceQuery::search`].
    pub search: Option<String>,
    pub sort: DeviceSort,
    pub descending: bool,
    /// The last device of the previous page; `None`: the first page. In the orders other than
    /// by MAC, a cursor device deleted meanwhile yields an empty page.
    pub after: Option<Mac>,
    /// Clamped to 1..=1000; 0 means 50.
    pub limit: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Number of matches ignoring offset and limit.
    pub total: u64,
}

/// One phone-facing HTTP request, as logged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PhoneRequest {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Device the request was attributed to, if authenticated.
    pub mac: Option<Mac>,
    pub method: String,
    /// Last path segment only, never the token.
    pub file: String,
    pub status: u16,
    /// "served", "denied", "not_found", "stored", "error".
    pub outcome: String,
    pub source_ip: String,
    pub user_agent: Option<String>,
    pub model: Option<String>,
    pub firmware: Option<String>,
    /// True when this served the device's `<mac>.cfg`: updates `provisioned_at` and
    /// `last_config_request`.
    pub mac_cfg_served: bool,
    /// How many identical requests this row stands for (`at` is the last one's time): the
    /// server folds a phone's repeats of one request into a row per interval.
    #[serde(default = "one")]
    pub count: u32,
}

fn one() -> u32 {
    1
}

/// Answer of `device_changes(since)`.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
pub struct DeviceChanges {
    /// Devices inserted or updated after `since`, ordered by revision.
    pub upserted: Vec<DeviceRecord>,
    /// Devices deleted after `since` (and not re-added since).
    pub removed: Vec<Mac>,
    /// The feed is consistent up to this revision: pass it as the next `since`.
    pub revision: i64,
}

// ---- RPS outbox and history ----------------------------------------------------------------

/// A command for Yealink's RPS to put into the outbox (`enqueue_rps_jobs`).
///
/// `Debug` prints `***` for the payload (it may hold credentials); `Serialize` writes it.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct NewRpsJob {
    /// `"ADD_SERVER"`, `"DEREGISTER_DEVICE"`, `"REDIRECT_DEVICE"`, ...: opaque to the store.
    pub command: String,
    /// The phone the command is about. Jobs of one MAC run one at a time, in enqueue order;
    /// jobs without a MAC are independent of each other.
    pub mac: Option<Mac>,
    /// What the worker needs to send the command. May contain secrets.
    pub payload: serde_json::Value,
}

impl fmt::Debug for NewRpsJob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewRpsJob")
            .field("command", &self.command)
            .field("mac", &self.mac)
            .field("payload", &REDACTED)
            .finish()
    }
}

/// A job in the RPS outbox: enqueued and not finished yet (waiting, in backoff or leased to
/// a worker).
///
/// `Debug` prints `***` for the payload (it may hold credentials); `Serialize` writes it, so
/// don't hand a serialised job to a client that must not see the payload.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct RpsJob {
    /// Increases in enqueue order (also across instances): the MAC's order of commands.
    pub id: i64,
    pub command: String,
    pub mac: Option<Mac>,
    pub payload: serde_json::Value,
    /// Failed attempts so far (`retry_rps_job` counts them).
    pub attempts: u32,
    /// The error of the last failed attempt.
    pub last_error: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Not claimed before this time.
    #[serde(with = "time::serde::rfc3339")]
    pub next_attempt_at: OffsetDateTime,
}

impl fmt::Debug for RpsJob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RpsJob")
            .field("id", &self.id)
            .field("command", &self.command)
            .field("mac", &self.mac)
            .field("payload", &REDACTED)
            .field("attempts", &self.attempts)
            .field("last_error", &self.last_error)
            .field("created_at", &self.created_at)
            .field("next_attempt_at", &self.next_attempt_at)
            .finish()
    }
}

/// One finished RPS command, as shown in the history. Written once per command: by
/// `complete_rps_job` for queued commands, by `record_rps_history` for the others.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RpsHistoryEntry {
    /// Set by the store; ignored on insert.
    pub id: i64,
    /// When the command finished.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub command: String,
    pub mac: Option<Mac>,
    /// The command's parameters, already redacted by the caller (logged as given).
    pub params: serde_json::Value,
    /// `"ok"`, `"already_done"`, `"rejected"`, `"off"`, ...: opaque to the store.
    pub outcome: String,
    /// RPS's answer (or why there was none).
    pub answer: String,
    /// Duration of the final attempt.
    pub duration_ms: i64,
    /// Attempts it took, the final one included.
    pub attempts: u32,
}

/// Filter and page of `list_rps_history` (newest first).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HistoryQuery {
    pub mac: Option<Mac>,
    /// Exact command, e.g. `"REDIRECT_DEVICE"`.
    pub command: Option<String>,
    pub offset: u32,
    /// Clamped to 1..=1000; 0 means 50.
    pub limit: u32,
}

/// The outbox at a glance (`rps_queue_stats`).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct QueueStats {
    /// Jobs not finished yet, whatever their state.
    pub pending: u64,
    /// Jobs whose `next_attempt_at` has come and that no worker holds: waiting for a worker.
    /// (A job behind an older job of its MAC counts too; it runs after that one.)
    pub due: u64,
    #[serde(with = "time::serde::rfc3339::option")]
    pub oldest_created_at: Option<OffsetDateTime>,
    /// Most failed attempts of any pending job (0 when none).
    pub max_attempts: u32,
}

/// A web UI session as stored (shared by every instance on the database). The id itself is
/// never stored, only its SHA-256 (`id_hash`, lowercase hex), so a copy of the table cannot be
/// replayed as a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UiSession {
    pub id_hash: String,
    /// The session's CSRF token (not a credential on its own: it is useless without the id).
    pub csrf: String,
    /// The myApps user signed in by the PBX; all `None` for the admin password.
    pub user_sip: Option<String>,
    pub user_dn: Option<String>,
    pub user_guid: Option<String>,
    pub created_at: OffsetDateTime,
    pub last_used: OffsetDateTime,
}

/// One running server process, as its heartbeat row says (see [`crate::Store::beat_instance`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InstanceBeat {
    /// Fresh per start; the holder of its leases and the worker of its RPS jobs.
    pub id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub last_beat: OffsetDateTime,
    /// Where it listens, for people.
    pub address: Option<String>,
}

impl InstanceBeat {
    /// Whether its heartbeat is fresh at `now` ([`crate::INSTANCE_STALE_AFTER`]).
    pub fn is_live(&self, now: OffsetDateTime) -> bool {
        self.last_beat > crate::common::live_cutoff(now)
    }
}

/// What [`crate::Store::device_events`] tells.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeviceEvent {
    /// Phone requests of these devices of this tenant were recorded (by any instance).
    Recorded {
        tenant: crate::TenantId,
        macs: Vec<Mac>,
    },
    /// Events may have been lost (the connection broke): reload rather than guess.
    Missed,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Held as text, still written and read as the JSON value (API answers, sealed documents).
    #[test]
    fn overrides_are_compact_text_that_serializes_as_the_value() {
        let value = serde_json::json!({"time_zone": "Europe/Berlin", "ntp_servers": ["a", "b"]});
        let overrides = Overrides::from_value(&value);
        assert_eq!(
            overrides.as_str(),
            r#"{"time_zone":"Europe/Berlin","ntp_servers":["a","b"]}"#
        );
        assert_eq!(overrides.to_value(), value);
        let written = serde_json::to_value(&overrides).expect("serialize");
        assert_eq!(written, value);
        let read: Overrides = serde_json::from_value(written).expect("deserialize");
        assert_eq!(read, overrides);
        let reordered = Overrides::from_value(
            &serde_json::from_str(r#"{"ntp_servers":["a","b"],"time_zone":"Europe/Berlin"}"#)
                .expect("json"),
        );
        assert_eq!(reordered, overrides);
        assert_ne!(reordered, Overrides::default());
        assert_eq!(Overrides::default().to_value(), serde_json::json!({}));
    }
}

/// A tenant's id: the scope of a store handle ([`crate::Store::for_tenant`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TenantId(i64);

impl TenantId {
    /// The tenant of a single-PBX set-up: every row from before tenants existed is its.
    pub const DEFAULT: TenantId = TenantId(1);

    pub const fn new(id: i64) -> Self {
        TenantId(id)
    }

    pub const fn get(self) -> i64 {
        self.0
    }

    pub fn is_default(self) -> bool {
        self == Self::DEFAULT
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// One PBX domain served by this deployment: what innovaphone's App Platform Manager calls an
/// instance of the app (`/<domain>/<name>/...`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Tenant {
    pub id: TenantId,
    /// The instance name of the App Platform URL.
    pub name: String,
    /// The PBX domain; empty for the default tenant, which learns it from its PBX.
    pub domain: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl Tenant {
    /// How people name it: `domain/name`, or just `name` while the domain is unknown.
    pub fn label(&self) -> String {
        Self::label_of(&self.domain, &self.name)
    }

    /// [`Tenant::label`] of a tenant known by its domain and name.
    pub fn label_of(domain: &str, name: &str) -> String {
        if domain.is_empty() {
            name.to_owned()
        } else {
            format!("{domain}/{name}")
        }
    }
}
