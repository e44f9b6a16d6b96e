//! Yealink RPS in the provisioning workflow: which account, what to enqueue when, the worker
//! that drains the outbox, and the history.
//!
//! Every command goes through the persisted outbox (`Store::enqueue_rps_jobs`): a phone added
//! while RPS is down is redirected once it is back, and a restart loses nothing. Each command is
//! written to the history once, when it finishes; while it waits, the queue shows its attempts
//! and last error.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use prov_store::{NewRpsJob, QueueStats, RpsHistoryEntry, Store};
use rps::{Answer, Command, CommandDetail, RpsAccount, RpsError};
use serde::Serialize;
use time::OffsetDateTime;
use tokio::sync::Notify;
use yealink::Mac;

use crate::error::ServiceError;
use crate::rps::registration::{
    self as rps_registration, META_REGISTERED_SERVER, RegisteredServer,
};
use crate::secret::{MASK, random_token};
use crate::settings::{RpsMode, Settings};

/// Meta key of the customer's own RPS secret (kept out of the settings document, so it can never
/// be echoed with the settings).
pub const OWN_SECRET_META: &str = "rps_own_secret";
/// How long a claimed job is held by a worker without a heartbeat (none today; a safety net).
pub(super) const LEASE: Duration = Duration::from_secs(120);
/// The lease of a worker that is a heartbeating instance: after it the job stays held while the
/// instance beats, and is taken over (sent once more) when its heartbeat goes stale.
pub(super) const INSTANCE_LEASE: Duration = prov_store::INSTANCE_STALE_AFTER;
pub(super) const IDLE_POLL: Duration = Duration::from_secs(1);
/// An idle worker's own look at the queue once a [`crate::pulse::Pulse`] wakes it for due
/// jobs: only a safety net.
pub(super) const PULSED_IDLE_POLL: Duration = Duration::from_secs(60);
pub(super) const MAX_BACKOFF_SECS: u64 = 300;
/// A REDIRECT that RPS answers "unknown server" is tried this often, with ADD SERVER again in
/// between, before it is recorded as rejected.
pub(super) const MAX_UNKNOWN_SERVER_ATTEMPTS: u32 = 3;
/// One ADD SERVER again serves every REDIRECT that failed on the unknown server meanwhile.
pub(super) const READD_QUIET: Duration = Duration::from_secs(60);
/// Never wait longer than this for a rate-limit slot (a clock far ahead on another instance).
pub(super) const MAX_SLOT_WAIT: Duration = Duration::from_secs(10);
/// One turn per process for reserving a rate-limit slot and waiting for it: the workers of
/// every tenant in this process queue here, so the process holds at most one slot ahead of
/// now. A thousand workers each holding a slot would push the last ones past
/// [`MAX_SLOT_WAIT`], which a worker does not wait for, and RPS would get far more than the
/// rate (measured: 250 commands/s at 1,000 tenants with a 5/s limit).
pub(super) static SLOT_TURN: std::sync::LazyLock<tokio::sync::Mutex<()>> =
    std::sync::LazyLock::new(|| tokio::sync::Mutex::new(()));
/// Meta key of [`UnknownServer`]: the last time RPS did not know our server name.
pub const META_UNKNOWN_SERVER: &str = "rps.unknown_server";

/// History outcomes beyond RPS's own (`ok`, `already_done`, `rejected`).
pub const OUTCOME_OFF: &str = "off";
pub const OUTCOME_SKIPPED: &str = "skipped";
pub const OUTCOME_FAILED: &str = "failed";
/// ADD SERVER answered "The server name has been used" (XML-RPC) while RPS holds another URL
/// for the name, and the API cannot change it.
pub const OUTCOME_STALE: &str = "stale";

pub struct RpsFlow {
    pub(super) store: Arc<dyn Store>,
    pub(super) standard: Option<RpsAccount>,
    pub(super) http: reqwest::Client,
    pub(super) client: Mutex<Option<(RpsAccount, Arc<dyn rps::Rps>)>>,
    pub(super) wake: Notify,
    /// How long an idle worker waits for a wake before it looks at the queue itself.
    pub(super) idle_poll: Mutex<Duration>,
    pub(super) worker_id: String,
    /// Set by the server: the worker is this instance and holds its jobs by its heartbeat.
    pub(super) instance: Option<Arc<crate::instance::Instance>>,
    pub(super) min_interval: Duration,
    /// When this process last sent ADD SERVER again after "unknown server", and for which name.
    pub(super) readded: Mutex<Option<(String, Instant)>>,
}

/// The RPS server name in force.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RpsServerName {
    pub name: String,
    pub source: ServerNameSource,
}

/// Where the RPS server name comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerNameSource {
    /// The `rps_server_name` setting.
    Setting,
    /// The connected innovaphone PBX's domain.
    PbxDomain,
    /// The host of our base URL (standalone default).
    UrlHost,
    /// `innovaphone.domain` from the configuration (App Service mode).
    ConfiguredDomain,
    /// App Service mode before any PBX logged in: no name yet, nothing is sent to RPS.
    AwaitingPbx,
}

/// RPS answered a REDIRECT with "unknown server" (XML-RPC `Error:Invalid server`): someone
/// deleted our server entry in the portal, or it never got created. Shown by `rps status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct UnknownServer {
    pub name: String,
    /// RFC 3339.
    pub at: String,
    /// RPS's answer to the REDIRECT.
    pub answer: String,
    /// The outcome of the ADD SERVER sent again (`ok`, `already_done`, `rejected`, `failed`).
    pub re_registered: Option<String>,
}

/// What a finished command leaves behind.
pub(super) enum Execution {
    Done(RpsHistoryEntry),
    Retry(String),
}

#[derive(Debug, Serialize)]
pub struct RpsStatus {
    pub mode: RpsMode,
    pub configured: bool,
    pub api: Option<rps::RpsApi>,
    pub endpoint: Option<String>,
    pub username: Option<String>,
    pub secret: Option<&'static str>,
    pub server_name: String,
    /// Where the name comes from: `setting`, `pbx_domain` or `url_host`.
    pub server_name_source: ServerNameSource,
    pub server_url: String,
    /// From the newest ADD SERVER in the history.
    pub server_registered: Option<bool>,
    /// What RPS holds for our server entry, as far as we know (this account only).
    pub registered: Option<RegisteredServer>,
    /// Set when RPS keeps an old URL for our server name that we cannot change: what to do.
    pub server_url_warning: Option<String>,
    pub reachable: Option<bool>,
    pub reachability: Option<String>,
    pub queue: QueueStats,
    pub last_error: Option<String>,
    /// The last time RPS did not know our server name, and what ADD SERVER again gave.
    pub unknown_server: Option<UnknownServer>,
}

impl RpsFlow {
    pub fn new(
        store: Arc<dyn Store>,
        standard: Option<RpsAccount>,
        timeout: Duration,
        rate_per_second: u32,
    ) -> Result<RpsFlow, ServiceError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("yealink-prov/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ServiceError::Rps(format!("cannot build the HTTP client: {e}")))?;
        Ok(RpsFlow {
            store,
            standard,
            http,
            client: Mutex::new(None),
            wake: Notify::new(),
            idle_poll: Mutex::new(IDLE_POLL),
            worker_id: format!("{}-{}", std::process::id(), random_token(8)),
            instance: None,
            min_interval: Duration::from_millis(1000 / u64::from(rate_per_second.max(1))),
            readded: Mutex::new(None),
        })
    }

    /// Claims jobs as `instance`, holding them by its heartbeat: a killed instance's job is
    /// taken over when its heartbeat goes stale (15 s), not after a 120 s lease.
    pub fn with_instance(mut self, instance: Arc<crate::instance::Instance>) -> RpsFlow {
        self.worker_id = instance.id().to_owned();
        self.instance = Some(instance);
        self
    }

    /// The account in force, or `None` when RPS is off or not configured.
    pub async fn account(&self, settings: &Settings) -> Result<Option<RpsAccount>, ServiceError> {
        Ok(match settings.rps_mode {
            RpsMode::Off => None,
            RpsMode::Standard => self.standard.clone(),
            RpsMode::Own => {
                let secret = self.store.get_meta(OWN_SECRET_META).await?;
                match (&settings.rps_username, secret) {
                    (Some(username), Some(secret)) if !secret.is_empty() => Some(RpsAccount {
                        api: settings.rps_api,
                        endpoint: settings.rps_endpoint.clone().unwrap_or_default(),
                        username: username.clone(),
                        secret,
                    }),
                    _ => None,
                }
            }
        })
    }

    pub async fn set_own_secret(&self, secret: &str) -> Result<(), ServiceError> {
        Ok(self.store.set_meta(OWN_SECRET_META, secret).await?)
    }

    pub async fn has_own_secret(&self) -> Result<bool, ServiceError> {
        Ok(self
            .store
            .get_meta(OWN_SECRET_META)
            .await?
            .is_some_and(|s| !s.is_empty()))
    }

    pub(super) fn client_for(&self, account: &RpsAccount) -> Arc<dyn rps::Rps> {
        let mut cached = self.client.lock();
        if let Some((known, client)) = cached.as_ref()
            && known == account
        {
            return client.clone();
        }
        // One client per account: the JSON client remembers server ids by name.
        let client: Arc<dyn rps::Rps> = Arc::from(rps::client(account, self.http.clone()));
        *cached = Some((account.clone(), client.clone()));
        client
    }

    /// DEREGISTER DEVICE then REDIRECT DEVICE for each phone, or an "RPS is off" note.
    pub async fn enqueue_redirects(
        &self,
        settings: &Settings,
        macs: &[Mac],
    ) -> Result<(), ServiceError> {
        if macs.is_empty() {
            return Ok(());
        }
        if self.account(settings).await?.is_none() {
            return self.note_off(macs).await;
        }
        let jobs: Vec<NewRpsJob> = macs
            .iter()
            .flat_map(|mac| {
                [Command::DeregisterDevice, Command::RedirectDevice].map(|c| job(c, Some(*mac)))
            })
            .collect();
        self.store.enqueue_rps_jobs(&jobs).await?;
        self.wake.notify_one();
        Ok(())
    }

    /// The commands every newly added phone gets (DEREGISTER DEVICE, REDIRECT DEVICE), for the
    /// store to enqueue in the same transaction as the device; `None` when RPS is off.
    pub async fn redirect_jobs(
        &self,
        settings: &Settings,
    ) -> Result<Option<Vec<NewRpsJob>>, ServiceError> {
        if self.account(settings).await?.is_none() {
            return Ok(None);
        }
        Ok(Some(
            [Command::DeregisterDevice, Command::RedirectDevice]
                .map(|c| job(c, None))
                .to_vec(),
        ))
    }

    /// After [`RpsFlow::redirect_jobs`]: wakes the worker for the enqueued jobs, or records
    /// why the phones were not redirected.
    pub async fn after_insert(&self, redirected: bool, macs: &[Mac]) -> Result<(), ServiceError> {
        if macs.is_empty() {
            return Ok(());
        }
        if redirected {
            self.wake.notify_one();
            Ok(())
        } else {
            self.note_off(macs).await
        }
    }

    pub async fn enqueue_deregister(
        &self,
        settings: &Settings,
        mac: Mac,
    ) -> Result<(), ServiceError> {
        if self.account(settings).await?.is_none() {
            return Ok(());
        }
        self.store
            .enqueue_rps_jobs(&[job(Command::DeregisterDevice, Some(mac))])
            .await?;
        self.wake.notify_one();
        Ok(())
    }

    /// ADD SERVER, sent at every start (the original app does the same).
    pub async fn enqueue_add_server(&self, settings: &Settings) -> Result<(), ServiceError> {
        if self.account(settings).await?.is_none() {
            self.record(entry(
                Command::AddServer,
                None,
                serde_json::json!({}),
                OUTCOME_OFF,
                off_text(),
                0,
                0,
            ))
            .await?;
            return Ok(());
        }
        self.store
            .enqueue_rps_jobs(&[job(Command::AddServer, None)])
            .await?;
        self.wake.notify_one();
        Ok(())
    }

    /// One history line per phone saying why it was not redirected (a summary for big imports).
    pub(super) async fn note_off(&self, macs: &[Mac]) -> Result<(), ServiceError> {
        const ONE_BY_ONE: usize = 20;
        if macs.len() <= ONE_BY_ONE {
            for mac in macs {
                self.record(entry(
                    Command::RedirectDevice,
                    Some(*mac),
                    serde_json::json!({}),
                    OUTCOME_OFF,
                    off_text(),
                    0,
                    0,
                ))
                .await?;
            }
        } else {
            self.record(entry(
                Command::RedirectDevice,
                None,
                serde_json::json!({"devices": macs.len()}),
                OUTCOME_OFF,
                format!("{} ({} devices)", off_text(), macs.len()),
                0,
                0,
            ))
            .await?;
        }
        Ok(())
    }

    pub(super) async fn record(&self, e: RpsHistoryEntry) -> Result<(), ServiceError> {
        metrics::counter!("rps_commands_total", "command" => e.command.clone(), "outcome" => e.outcome.clone())
            .increment(1);
        self.store.record_rps_history(&e).await?;
        Ok(())
    }

    /// Asks RPS about a phone now (not queued) and records the answer.
    pub async fn check(
        &self,
        settings: &Settings,
        mac: Mac,
    ) -> Result<RpsHistoryEntry, ServiceError> {
        let Some(account) = self.account(settings).await? else {
            return Err(ServiceError::Rps(off_text()));
        };
        let client = self.client_for(&account);
        let params = client
            .describe(Command::CheckDevice, Some(mac), &CommandDetail::None)
            .params;
        let started = Instant::now();
        let result = client.check_device(mac).await;
        let e = finished(Command::CheckDevice, Some(mac), params, result, started, 1);
        self.record(e.clone()).await?;
        Ok(e)
    }

    /// From now on a [`crate::pulse::Pulse`] wakes the worker when its tenant has a due job;
    /// the worker's own polling becomes a slow safety net.
    pub fn woken_by_pulse(&self) {
        *self.idle_poll.lock() = PULSED_IDLE_POLL;
    }

    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub async fn status(
        &self,
        settings: &Settings,
        server: RpsServerName,
        server_url: String,
        probe: bool,
    ) -> Result<RpsStatus, ServiceError> {
        let account = self.account(settings).await?;
        let registered = match &account {
            Some(a) => self
                .registered_server()
                .await?
                .filter(|r| r.account == rps_registration::account_key(a)),
            None => None,
        };
        let queue = self
            .store
            .rps_queue_stats(OffsetDateTime::now_utc())
            .await?;
        let last_error = self
            .store
            .pending_rps_jobs(None, 1)
            .await?
            .into_iter()
            .next()
            .and_then(|j| j.last_error);
        let newest_add = self
            .store
            .list_rps_history(&prov_store::HistoryQuery {
                command: Some("ADD_SERVER".into()),
                limit: 1,
                ..Default::default()
            })
            .await?
            .items
            .into_iter()
            .next();
        let (reachable, reachability) = match (&account, probe) {
            (Some(a), true) => {
                let r = self.probe(a).await;
                (Some(r.is_ok()), Some(r.unwrap_or_else(|e| e)))
            }
            _ => (None, None),
        };
        Ok(RpsStatus {
            mode: settings.rps_mode,
            configured: account.is_some(),
            api: account.as_ref().map(|a| a.api),
            endpoint: account.as_ref().map(|a| a.endpoint_or_default().to_owned()),
            username: account.as_ref().map(|a| a.username.clone()),
            secret: account.as_ref().map(|_| MASK),
            server_name: server.name,
            server_name_source: server.source,
            server_url,
            server_registered: newest_add
                .filter(|e| e.outcome != OUTCOME_OFF)
                .map(|e| e.outcome == "ok" || e.outcome == "already_done"),
            server_url_warning: registered.as_ref().and_then(stale_warning),
            registered,
            reachable,
            reachability,
            queue,
            last_error,
            unknown_server: self.unknown_server().await?,
        })
    }

    /// The last "unknown server" answer, from the database.
    pub async fn unknown_server(&self) -> Result<Option<UnknownServer>, ServiceError> {
        Ok(self
            .store
            .get_meta(META_UNKNOWN_SERVER)
            .await?
            .and_then(|raw| serde_json::from_str(&raw).ok()))
    }

    /// The server entry we registered last (any account), from the database.
    pub async fn registered_server(&self) -> Result<Option<RegisteredServer>, ServiceError> {
        Ok(self
            .store
            .get_meta(META_REGISTERED_SERVER)
            .await?
            .and_then(|raw| serde_json::from_str(&raw).ok()))
    }

    /// What to do when RPS keeps an old URL for our server name, if it does.
    pub async fn server_url_warning(&self) -> Result<Option<String>, ServiceError> {
        Ok(self
            .registered_server()
            .await?
            .as_ref()
            .and_then(stale_warning))
    }

    /// Whether RPS keeps an old URL for our server name (the `rps_server_url_stale` gauge).
    pub async fn server_url_stale(&self) -> Result<bool, ServiceError> {
        Ok(self
            .registered_server()
            .await?
            .is_some_and(|r| r.is_stale()))
    }

    /// Any HTTP answer from the endpoint means we can reach it.
    pub(super) async fn probe(&self, account: &RpsAccount) -> Result<String, String> {
        match self.http.get(account.endpoint_or_default()).send().await {
            Ok(r) => Ok(probe_answer(r.status().as_u16())),
            Err(e) if e.is_timeout() => Err("no answer in time".into()),
            Err(e) => Err(format!("cannot connect: {}", without_url(&e))),
        }
    }
}

/// What an answer to the reachability probe means. The probe is a plain GET; RPS's APIs take
/// POST, so it answers 405 (or another error status): any HTTP answer shows that the service is
/// there, none shows that the account works (the next command does).
fn probe_answer(status: u16) -> String {
    let meaning = match status {
        405 => "as RPS does for GET, since its API takes POST only".to_owned(),
        200..=299 => "the address answers".to_owned(),
        _ => "an answer, so the address is there".to_owned(),
    };
    format!(
        "answered HTTP {status} to a GET probe ({meaning}); the account is checked by the next \
         command"
    )
}

pub(super) fn job(command: Command, mac: Option<Mac>) -> NewRpsJob {
    NewRpsJob {
        command: command_key(command).to_owned(),
        mac,
        // Everything else (URL, credentials) is read when the command is sent, so a rotated
        // token or a changed base URL is what RPS gets.
        payload: serde_json::json!({}),
    }
}

pub(super) fn command_key(c: Command) -> &'static str {
    match c {
        Command::AddServer => "ADD_SERVER",
        Command::DeregisterDevice => "DEREGISTER_DEVICE",
        Command::RedirectDevice => "REDIRECT_DEVICE",
        Command::CheckDevice => "CHECK_DEVICE",
    }
}

pub(super) fn command_of(key: &str) -> Option<Command> {
    [
        Command::AddServer,
        Command::DeregisterDevice,
        Command::RedirectDevice,
        Command::CheckDevice,
    ]
    .into_iter()
    .find(|c| command_key(*c) == key)
}

pub(super) fn finished(
    command: Command,
    mac: Option<Mac>,
    params: serde_json::Value,
    result: Result<Answer, RpsError>,
    started: Instant,
    attempts: u32,
) -> RpsHistoryEntry {
    let duration = started.elapsed().as_millis() as i64;
    if let Ok(a) = &result
        && a.outcome == rps::Outcome::Rejected
        && a.text.starts_with("HTTP 401")
    {
        // Every command fails the same way until someone fixes the account: say what to do.
        tracing::warn!(
            command = command_key(command),
            "RPS refused our account (HTTP 401): check the RPS user name and secret"
        );
    }
    let (outcome, answer) = match result {
        Ok(a) => (
            serde_json::to_value(a.outcome)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_else(|| OUTCOME_FAILED.to_owned()),
            a.text,
        ),
        Err(e) => (OUTCOME_FAILED.to_owned(), e.to_string()),
    };
    entry(command, mac, params, &outcome, answer, duration, attempts)
}

pub(super) fn entry(
    command: Command,
    mac: Option<Mac>,
    params: serde_json::Value,
    outcome: &str,
    answer: String,
    duration_ms: i64,
    attempts: u32,
) -> RpsHistoryEntry {
    RpsHistoryEntry {
        id: 0,
        at: OffsetDateTime::now_utc(),
        command: command_key(command).to_owned(),
        mac,
        params,
        outcome: outcome.to_owned(),
        answer,
        duration_ms,
        attempts,
    }
}

/// What to do when RPS keeps an old URL for our server name.
pub(super) fn stale_warning(r: &RegisteredServer) -> Option<String> {
    let wanted = r.wanted_url.as_deref()?;
    Some(format!(
        "RPS keeps {} for server {:?}, not our URL {}: the XML-RPC API cannot change a \
         server's URL. Our phones are redirected with their own URLs and are re-sent, but \
         anything bound to the server name alone goes to the old URL. Change the URL in the RPS \
         portal, or set rps_server_name to a new name",
        redact_url(&r.url),
        r.name,
        redact_url(wanted),
    ))
}

/// The shared `/prov/` URL carries no secret, but an old one could have had user info.
pub(super) fn redact_url(url: &str) -> String {
    rps::redact::redact_url(url)
}

pub(super) fn off_text() -> String {
    "RPS is off (no account configured): give the phone its provisioning URL by DHCP option 66 or by hand".into()
}

/// 2, 4, 8, ... seconds, at most five minutes, with up to 20 % jitter so instances spread out.
pub(super) fn backoff(attempts: u32) -> Duration {
    use rand::Rng;
    let base = 2u64
        .saturating_pow(attempts.saturating_add(1))
        .min(MAX_BACKOFF_SECS);
    let jitter = rand::rng().random_range(0..=base * 200);
    Duration::from_millis(base * 1000 + jitter)
}

/// reqwest's errors name the URL; an endpoint URL can carry credentials.
pub(super) fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), "<endpoint>");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    pub(super) fn command_keys_round_trip() {
        for c in [
            Command::AddServer,
            Command::DeregisterDevice,
            Command::RedirectDevice,
            Command::CheckDevice,
        ] {
            assert_eq!(command_of(command_key(c)), Some(c));
        }
        assert_eq!(command_of("NOPE"), None);
    }

    /// Many tenants' workers waiting for a slot at once: the shared slot never runs more than
    /// a couple of intervals ahead of now, so no worker's wait reaches [`MAX_SLOT_WAIT`] (which
    /// it would cut short and send above the rate).
    #[tokio::test]
    async fn many_workers_of_one_process_hold_one_slot_at_a_time() {
        let store = prov_store::open("sqlite::memory:").await.expect("store");
        let rate = 50;
        let interval = Duration::from_millis(1000 / rate);
        let flows: Vec<Arc<RpsFlow>> = (0..25)
            .map(|_| {
                Arc::new(
                    RpsFlow::new(store.clone(), None, Duration::from_secs(5), rate as u32)
                        .expect("flow"),
                )
            })
            .collect();
        let started = std::time::Instant::now();
        let waits: Vec<_> = flows
            .iter()
            .map(|flow| {
                let flow = flow.clone();
                tokio::spawn(async move { flow.wait_for_slot().await })
            })
            .collect();
        let mut furthest = Duration::ZERO;
        while waits.iter().any(|w| !w.is_finished()) {
            if let Some(slot) = store
                .get_meta(prov_store::RPS_RATE_META)
                .await
                .expect("meta")
            {
                let end_us: i128 = slot.parse().expect("µs");
                let now_us = OffsetDateTime::now_utc().unix_timestamp_nanos() / 1000;
                let ahead = u64::try_from(end_us - now_us).unwrap_or(0);
                furthest = furthest.max(Duration::from_micros(ahead));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        for w in waits {
            w.await.expect("wait");
        }
        // 25 slots one after another, none skipped.
        assert!(
            started.elapsed() >= interval * 23,
            "{:?}",
            started.elapsed()
        );
        assert!(
            furthest <= interval * 4,
            "the slot ran {furthest:?} ahead of now ({interval:?} per command)"
        );
    }

    #[test]
    pub(super) fn backoff_grows_and_is_bounded() {
        assert!(backoff(0) >= Duration::from_secs(2) && backoff(0) < Duration::from_secs(3));
        assert!(backoff(3) >= Duration::from_secs(16));
        assert!(backoff(40) <= Duration::from_secs(MAX_BACKOFF_SECS * 6 / 5));
    }
}
