//! The provisioning service: the one place where devices, settings and rendering meet. The CLI,
//! the admin API and (later) the web UI and the innovaphone integration all go through it.

use std::sync::Arc;

use parking_lot::RwLock;
use prov_store::{Device, DeviceKeyset, DeviceQuery, DeviceRecord, Overrides, Page, Store};
use time::OffsetDateTime;
use yealink::{Mac, PhoneFile, PhoneSettings, UserAgent};

use crate::audit::{self, Action, Actor};
use crate::cache::DeviceCache;
use crate::device_input::{DeviceInput, DevicePatch, ValidDevice, split_registrar};
use crate::error::ServiceError;
use crate::render_cache::{RenderCache, Stamp};
use crate::rps::outbox::RpsFlow;
pub use crate::rps::outbox::{RpsServerName, ServerNameSource};
use crate::secret::random_token;
use crate::settings::{Settings, SettingsOverride};

/// Base URL when neither the settings nor the caller name one.
const DEFAULT_BASE_URL: &str = "http://127.0.0.1:8080";
/// Length of generated per-phone secrets (62^24 > 2^142).
pub const TOKEN_LEN: usize = 24;
const PASSWORD_LEN: usize = 20;

pub struct Service {
    store: Arc<dyn Store>,
    rps: Arc<RpsFlow>,
    cache: DeviceCache,
    settings: RwLock<Arc<Settings>>,
    fallback_base_url: String,
    /// The App object URL an innovaphone PBX told us (meta `innovaphone.app_url`).
    learned_app_url: RwLock<Option<String>>,
    /// The domain of the PBX we serve (meta `innovaphone.pbx_domain`): the RPS server name.
    pbx_domain: RwLock<Option<String>>,
    /// innovaphone phones: whether Devices' configuration is complete ("Config Received").
    pbx_config: RwLock<std::collections::HashMap<Mac, bool>>,
    /// Held while a PBX's domain and App object URL are noted (one ADD SERVER per change).
    pbx_noting: tokio::sync::Mutex<()>,
    /// Bodies served to phones, reused while their inputs are unchanged.
    renders: RenderCache,
    /// Set when the innovaphone integration is on (see [`Service::set_app_service`]).
    app_service: RwLock<Option<AppServiceMode>>,
    /// Counts the re-reads of this tenant's configuration ([`Service::refresh_config`]).
    config_reads: tokio::sync::watch::Sender<u64>,
}

/// The innovaphone App Service mode: RPS gets no server name but the PBX's domain.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AppServiceMode {
    /// `innovaphone.domain`: the domain the App instance was created for.
    pub domain: Option<String>,
    /// The fallback base URL is the deployment's public address (a tenant's, under its path
    /// prefix), so RPS may be told it before the PBX logs in.
    pub fallback_is_public: bool,
}

/// Meta key of the App object URL learned from the PBX's login.
pub const META_APP_URL: &str = "innovaphone.app_url";
/// Meta key of the PBX domain the RPS server name is taken from.
pub const META_PBX_DOMAIN: &str = "innovaphone.pbx_domain";

/// One row of an import, as reported back.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RowResult {
    /// 1-based line number in the file (the header is line 1).
    pub line: usize,
    pub mac: String,
    pub error: Option<String>,
    /// Imported, but worth a look (a MAC outside Yealink's known OUIs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

impl Service {
    /// Opens the service on a store; `load_cache` is for the server (the CLI reads the store).
    pub async fn new(
        store: Arc<dyn Store>,
        rps: Arc<RpsFlow>,
        fallback_base_url: Option<String>,
        load_cache: bool,
    ) -> Result<Service, ServiceError> {
        let cache = if load_cache {
            DeviceCache::load(store.as_ref()).await?
        } else {
            DeviceCache::default()
        };
        let settings = load_settings(store.as_ref()).await?;
        let learned_app_url = store.get_meta(META_APP_URL).await?;
        let pbx_domain = store.get_meta(META_PBX_DOMAIN).await?;
        let store_for_states = store.clone();
        Ok(Service {
            store,
            rps,
            cache,
            settings: RwLock::new(Arc::new(settings)),
            fallback_base_url: fallback_base_url.unwrap_or_else(|| DEFAULT_BASE_URL.into()),
            learned_app_url: RwLock::new(learned_app_url),
            pbx_domain: RwLock::new(pbx_domain),
            pbx_config: RwLock::new(load_pbx_config_states(store_for_states.as_ref()).await?),
            pbx_noting: tokio::sync::Mutex::new(()),
            renders: RenderCache::default(),
            app_service: RwLock::new(None),
            config_reads: tokio::sync::watch::Sender::new(0),
        })
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn rps(&self) -> &Arc<RpsFlow> {
        &self.rps
    }

    /// What `rps status`, `doctor`, the API and the UI show about RPS; `probe` asks RPS now.
    pub async fn rps_status(
        &self,
        probe: bool,
    ) -> Result<crate::rps::outbox::RpsStatus, ServiceError> {
        self.rps
            .status(
                &self.settings(),
                self.rps_server(),
                self.shared_provisioning_url(),
                probe,
            )
            .await
    }

    /// The RPS server name in force (see [`Service::rps_server`]).
    pub fn rps_server_name(&self) -> String {
        self.rps_server().name
    }

    /// Runs as an innovaphone App Service: the RPS server name is the PBX's domain and nothing
    /// else (docs/rps.md, "Server name").
    pub fn set_app_service(&self, mode: AppServiceMode) {
        let domain = mode
            .domain
            .map(|d| d.trim().to_owned())
            .filter(|d| !d.is_empty());
        *self.app_service.write() = Some(AppServiceMode {
            domain,
            fallback_is_public: mode.fallback_is_public,
        });
    }

    /// Whether the innovaphone integration is on.
    pub fn is_app_service(&self) -> bool {
        self.app_service.read().is_some()
    }

    /// The RPS server name and where it comes from (docs/rps.md, "Server name"): the
    /// `rps_server_name` setting when set. As an App Service, the first 24 characters of the
    /// domain: `innovaphone.domain` (the instance's domain), else the last PBX login's (stored),
    /// else none yet ([`ServerNameSource::AwaitingPbx`]): never our URL's host, which may be an IP
    /// or a load balancer's name. Standalone, the stored PBX domain if any, else our URL's host.
    pub fn rps_server(&self) -> RpsServerName {
        self.rps_server_with(&self.settings())
    }

    /// [`rps_server`](Self::rps_server) under these settings.
    fn rps_server_with(&self, settings: &Settings) -> RpsServerName {
        if let Some(name) = settings.rps_server_name.clone() {
            return RpsServerName {
                name,
                source: ServerNameSource::Setting,
            };
        }
        let app_service = self.app_service.read().clone();
        if let Some(domain) = app_service.as_ref().and_then(|m| m.domain.clone()) {
            return RpsServerName {
                name: rps::server_name_from_domain(&domain),
                source: ServerNameSource::ConfiguredDomain,
            };
        }
        if let Some(domain) = self.pbx_domain.read().clone() {
            return RpsServerName {
                name: rps::server_name_from_domain(&domain),
                source: ServerNameSource::PbxDomain,
            };
        }
        if app_service.is_some() {
            return RpsServerName {
                name: String::new(),
                source: ServerNameSource::AwaitingPbx,
            };
        }
        let base = self.base_url_with(settings);
        let host = base
            .split_once("://")
            .map_or(base.as_str(), |(_, rest)| rest)
            .split(['/', ':'])
            .next()
            .unwrap_or_default()
            .to_owned();
        RpsServerName {
            name: rps::server_name_from_domain(&host),
            source: ServerNameSource::UrlHost,
        }
    }

    /// Whether RPS may be told about our server now. As an App Service it waits for the
    /// domain (server name) and for our URL (the public base URL setting, or the App object URL
    /// from the PBX's login): a server registered under a stand-in name or URL could not be
    /// corrected on the XML-RPC API. `Err` says what it waits for.
    pub fn rps_identity_ready(&self) -> Result<(), String> {
        if self.app_service.read().is_none() {
            return Ok(());
        }
        let mut missing = Vec::new();
        if self.rps_server().source == ServerNameSource::AwaitingPbx {
            missing.push("the domain (innovaphone.domain, or the PBX's login)");
        }
        let fallback_is_public = self
            .app_service
            .read()
            .as_ref()
            .is_some_and(|m| m.fallback_is_public);
        if self.settings().public_base_url.is_none()
            && self.learned_app_url.read().is_none()
            && !fallback_is_public
        {
            missing.push("our URL (public_base_url, or the App object URL in the PBX's login)");
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "waiting for the innovaphone PBX to log in: RPS gets no server until {} is known",
                missing.join(" and ")
            ))
        }
    }

    /// Server name and URL as RPS should hold them, `None` while [not ready](Self::rps_identity_ready).
    fn rps_identity(&self) -> Option<(String, String)> {
        self.rps_identity_ready()
            .ok()
            .map(|()| (self.rps_server_name(), self.shared_provisioning_url()))
    }

    /// ADD SERVER at start-up (the original app sends it at every start), unless the server's
    /// identity is not known yet: then the PBX's login queues it
    /// ([`note_pbx_connected`](Self::note_pbx_connected)).
    pub async fn queue_start_add_server(&self) -> Result<(), ServiceError> {
        match self.rps_identity_ready() {
            Ok(()) => self.rps.enqueue_add_server(&self.settings()).await,
            Err(why) => {
                tracing::info!("ADD SERVER not sent at start: {why}");
                Ok(())
            }
        }
    }

    /// The PBX domain the server name is taken from, if any.
    pub fn pbx_domain(&self) -> Option<String> {
        self.pbx_domain.read().clone()
    }

    /// A PBX connected (its `PbxInfo`): `connected` are the domains of the PBXs connected now,
    /// in the order they connected; `app_url` is the App object URL it logged in with. Both
    /// can change what RPS must hold for us (server name and URL), so they are taken together
    /// and ADD SERVER is queued once, only when that pair changed: two separate updates queued
    /// it twice, the second answered "already done".
    ///
    /// The domain in use stays while any connected PBX still has it (several PBXs of one
    /// system share it, and a reconnect must not flip the name); otherwise the first connected
    /// PBX's domain takes over. Domain and URL are kept across restarts and disconnects.
    pub async fn note_pbx_connected(
        &self,
        connected: &[String],
        app_url: Option<&str>,
    ) -> Result<(), ServiceError> {
        // One PBX at a time, compared with what the database holds: another instance may have
        // stored the same domain already, and two PBXs of one system connect together.
        let _one = self.pbx_noting.lock().await;
        self.refresh_rps_identity().await?;
        let before = self.rps_identity();
        self.note_pbx_domains(connected).await?;
        if let Some(url) = app_url {
            self.set_learned_app_url(url).await?;
        }
        let after = self.rps_identity();
        if after.is_some() && after != before {
            self.rps.enqueue_add_server(&self.settings()).await?;
        }
        Ok(())
    }

    /// Keeps the PBX domain in use, or takes the first connected one (see
    /// [`note_pbx_connected`](Self::note_pbx_connected)).
    async fn note_pbx_domains(&self, connected: &[String]) -> Result<(), ServiceError> {
        let current = self.pbx_domain.read().clone();
        let connected: Vec<&str> = connected
            .iter()
            .map(|d| d.trim())
            .filter(|d| !d.is_empty())
            .collect();
        let Some(first) = connected.first() else {
            return Ok(());
        };
        if current
            .as_deref()
            .is_some_and(|c| connected.iter().any(|d| d.eq_ignore_ascii_case(c)))
        {
            return Ok(());
        }
        self.store.set_meta(META_PBX_DOMAIN, first).await?;
        *self.pbx_domain.write() = Some((*first).to_owned());
        Ok(())
    }

    pub fn cache(&self) -> &DeviceCache {
        &self.cache
    }

    /// The rendered phone files kept for reuse (see `render_cache`).
    pub fn renders(&self) -> &RenderCache {
        &self.renders
    }

    pub fn settings(&self) -> Arc<Settings> {
        self.settings.read().clone()
    }

    /// Re-reads the devices other processes (API, CLI, other instances) changed: the process's
    /// [`Pulse`](crate::pulse::Pulse) calls it when the change feed names this tenant.
    pub async fn refresh_devices(&self) -> Result<(), ServiceError> {
        self.cache.refresh(self.store.as_ref()).await?;
        Ok(())
    }

    /// Re-reads the settings, learned URLs and Devices' configuration states: the pulse calls
    /// it when this tenant's configuration revision moved.
    pub async fn refresh_config(&self) -> Result<(), ServiceError> {
        *self.pbx_config.write() = load_pbx_config_states(self.store.as_ref()).await?;
        self.refresh_rps_identity().await?;
        self.config_reads.send_modify(|n| *n = n.wrapping_add(1));
        Ok(())
    }

    /// Changes each time the pulse read this tenant's configuration again because some
    /// process changed its settings, meta keys or PBX-side documents: what else follows
    /// those (the innovaphone side's peer sync) waits on it instead of polling.
    pub fn watch_config(&self) -> tokio::sync::watch::Receiver<u64> {
        self.config_reads.subscribe()
    }

    /// Whether any phone of this tenant has a PBX-side document (an innovaphone phone).
    pub fn has_pbx_devices(&self) -> bool {
        !self.pbx_config.read().is_empty()
    }

    /// Re-reads what RPS's server entry is made of (server name and URL: the settings, the
    /// learned App object URL, the PBX domain), which another instance may have changed.
    pub async fn refresh_rps_identity(&self) -> Result<(), ServiceError> {
        let settings = load_settings(self.store.as_ref()).await?;
        if *self.settings.read().as_ref() != settings {
            *self.settings.write() = Arc::new(settings);
        }
        let learned = self.store.get_meta(META_APP_URL).await?;
        if *self.learned_app_url.read() != learned {
            *self.learned_app_url.write() = learned;
        }
        let pbx_domain = self.store.get_meta(META_PBX_DOMAIN).await?;
        if *self.pbx_domain.read() != pbx_domain {
            *self.pbx_domain.write() = pbx_domain;
        }
        Ok(())
    }

    /// Remembers the App object URL a PBX logged in with. Without a public base URL in the
    /// settings it becomes the phones' base URL (RPS learns it through
    /// [`note_pbx_connected`](Self::note_pbx_connected)).
    async fn set_learned_app_url(&self, url: &str) -> Result<(), ServiceError> {
        if self.learned_app_url.read().as_deref() == Some(url) {
            return Ok(());
        }
        self.store.set_meta(META_APP_URL, url).await?;
        *self.learned_app_url.write() = Some(url.to_owned());
        Ok(())
    }

    /// `None`: not an innovaphone phone; `Some(complete)`: Devices' configuration state.
    pub fn pbx_config_state(&self, mac: Mac) -> Option<bool> {
        self.pbx_config.read().get(&mac).copied()
    }

    pub fn note_pbx_config_state(&self, mac: Mac, complete: bool) {
        self.pbx_config.write().insert(mac, complete);
    }

    pub fn learned_app_url(&self) -> Option<String> {
        self.learned_app_url.read().clone()
    }

    /// Saves the settings and records who changed which (by name). `rps_secret_set`: the
    /// caller stored a new RPS secret with this save (recorded by name, never its value).
    pub async fn update_settings(
        &self,
        settings: Settings,
        actor: &Actor,
        rps_secret_set: bool,
    ) -> Result<Arc<Settings>, ServiceError> {
        settings.validate()?;
        let value = serde_json::to_value(&settings).map_err(|e| ServiceError::Render {
            file: "settings".into(),
            reason: e.to_string(),
        })?;
        self.store.put_settings(&value).await?;
        let before = self.settings();
        let mut names = serde_json::to_value(before.as_ref())
            .map(|old| audit::changed_keys(&old, &value))
            .unwrap_or_default();
        if rps_secret_set {
            names.push("rps_secret".into());
        }
        self.audit(audit::entry(
            actor,
            Action::SettingsChanged,
            None,
            audit::summary(&names),
        ))
        .await;
        let settings = Arc::new(settings);
        *self.settings.write() = settings.clone();
        // A new account or a new address must be registered at RPS before phones are sent there.
        let rps_changed = before.rps_mode != settings.rps_mode
            || before.rps_api != settings.rps_api
            || before.rps_endpoint != settings.rps_endpoint
            || before.rps_username != settings.rps_username
            || before.rps_server_name != settings.rps_server_name
            || before.public_base_url != settings.public_base_url;
        if rps_changed && self.rps_identity_ready().is_ok() {
            self.rps.enqueue_add_server(&settings).await?;
        }
        Ok(settings)
    }

    /// What saving `new` would do to the phones, told before it is saved (the settings page
    /// asks once when it touches every phone). `secret_changed`: a new RPS secret comes with it.
    /// Predicts what [`update_settings`](Self::update_settings) and the RPS worker's
    /// `after_add_server` will do, from the same facts.
    pub async fn settings_impact(
        &self,
        new: &Settings,
        secret_changed: bool,
    ) -> Result<SettingsImpact, ServiceError> {
        let before = self.settings();
        let base_before = self.base_url_with(&before);
        let base_after = self.base_url_with(new);
        let name_before = self.rps_server_with(&before).name;
        let name_after = self.rps_server_with(new).name;
        let account_changed = before.rps_mode != new.rps_mode
            || before.rps_api != new.rps_api
            || before.rps_endpoint != new.rps_endpoint
            || before.rps_username != new.rps_username
            || (secret_changed && new.rps_mode == crate::settings::RpsMode::Own);
        let rps_changed = account_changed
            || before.rps_server_name != new.rps_server_name
            || before.public_base_url != new.public_base_url;
        // The account the worker will use: a secret typed with the change counts as stored.
        let account_key = match new.rps_mode {
            crate::settings::RpsMode::Own if secret_changed => {
                new.rps_username.as_ref().map(|username| {
                    crate::rps::registration::account_key(&rps::RpsAccount {
                        api: new.rps_api,
                        endpoint: new.rps_endpoint.clone().unwrap_or_default(),
                        username: username.clone(),
                        secret: String::new(),
                    })
                })
            }
            _ => self
                .rps
                .account(new)
                .await?
                .map(|a| crate::rps::registration::account_key(&a)),
        };
        let ready = !name_after.is_empty()
            && (self.rps_identity_ready().is_ok() || new.public_base_url.is_some());
        let add_server = rps_changed && ready && account_key.is_some();
        // As `registration::reconcile`: a new name or URL under the account that registered
        // the server before makes the worker queue every phone's DEREGISTER + REDIRECT.
        let url_after = format!("{base_after}/prov/");
        let redirect_all = add_server
            && self.rps.registered_server().await?.is_some_and(|r| {
                Some(&r.account) == account_key.as_ref()
                    && (r.name != name_after
                        || r.wanted_url.as_deref().unwrap_or(r.url.as_str()) != url_after)
            });
        Ok(SettingsImpact {
            devices: self.cache.len(),
            base_url: (base_before != base_after).then_some((base_before, base_after)),
            server_name: (add_server && name_before != name_after)
                .then_some((name_before, name_after.clone())),
            server_url: url_after,
            account_changed,
            add_server,
            redirect_all,
            rps_off: account_key.is_none() && before.rps_mode != new.rps_mode,
            update_interval_minutes: new.phone.update_interval_minutes,
        })
    }

    /// Where phones reach us: the settings' public base URL, else the base of the App object
    /// URL a PBX told us (its last path segment is the app's name), else our listen address.
    pub fn base_url(&self) -> String {
        self.base_url_with(&self.settings())
    }

    /// [`base_url`](Self::base_url) under these settings.
    fn base_url_with(&self, settings: &Settings) -> String {
        if let Some(url) = settings.public_base_url.clone() {
            return url;
        }
        if let Some(base) = self
            .learned_app_url
            .read()
            .as_deref()
            .and_then(app_url_base)
        {
            return base;
        }
        self.fallback_base_url.clone()
    }

    /// Sets the innovaphone-managed part of a device's overrides (media, NTP, time zone) and,
    /// when Devices sent one, its web admin password. Writes only when something changed.
    pub async fn apply_pbx_config(
        &self,
        mac: Mac,
        pbx: Option<&SettingsOverride>,
        admin_password: Option<&str>,
        actor: &Actor,
    ) -> Result<bool, ServiceError> {
        let device = self.get_device(mac).await?;
        let before = device.record.clone();
        let mut record = device.record;
        let mut overrides = overrides_of(&record);
        if let Some(pbx) = pbx {
            overrides.ntp_servers = pbx.ntp_servers.clone().or(overrides.ntp_servers);
            overrides.time_zone = pbx.time_zone.clone().or(overrides.time_zone);
            overrides.media = pbx.media.clone();
        }
        crate::settings::validate_override(&overrides)?;
        let value = serde_json::to_value(&overrides).map_err(|e| ServiceError::Render {
            file: "overrides".into(),
            reason: e.to_string(),
        })?;
        let admin_changed = admin_password
            .is_some_and(|p| !p.is_empty() && p != record.admin_password && p != "admin");
        let value = Overrides::from_value(&value);
        if value == record.overrides && !admin_changed {
            return Ok(false);
        }
        record.overrides = value;
        if admin_changed && let Some(password) = admin_password {
            record.admin_password = password.to_owned();
        }
        record.updated_at = OffsetDateTime::now_utc();
        let stored = self.store.update_device(&record).await?;
        let names = audit::device_changes(&before, &stored);
        self.cache.upsert(stored);
        self.audit(audit::entry(
            actor,
            Action::DeviceEdited,
            Some(mac),
            audit::summary(&names),
        ))
        .await;
        Ok(true)
    }

    /// The URL this device's phone must be given (RPS, DHCP option 66, or by hand).
    pub fn provisioning_url(&self, record: &DeviceRecord) -> String {
        provisioning_url_at(&self.base_url(), record)
    }

    /// The URL phones authenticating with Digest use (no per-phone secret in it).
    pub fn shared_provisioning_url(&self) -> String {
        format!("{}/prov/", self.base_url())
    }

    pub async fn add_device(
        &self,
        input: DeviceInput,
        actor: &Actor,
    ) -> Result<DeviceRecord, ServiceError> {
        let valid = input.validate()?;
        let record = new_record(valid, OffsetDateTime::now_utc());
        let outcome = self
            .insert_with_redirects(std::slice::from_ref(&record))
            .await?
            .pop()
            .ok_or_else(|| {
                ServiceError::Store(prov_store::StoreError::Corrupt(
                    "the store answered no row for the insert".into(),
                ))
            })?;
        let stored = outcome?;
        self.audit(audit::entry(
            actor,
            Action::DeviceAdded,
            Some(stored.mac),
            String::new(),
        ))
        .await;
        Ok(stored)
    }

    /// Inserts devices with their DEREGISTER + REDIRECT commands in the same transaction
    /// (per chunk), so a crash never leaves a saved phone that RPS was never told about.
    async fn insert_with_redirects(
        &self,
        records: &[DeviceRecord],
    ) -> Result<Vec<Result<DeviceRecord, prov_store::StoreError>>, ServiceError> {
        let jobs = self.rps.redirect_jobs(&self.settings()).await?;
        let outcomes = self
            .store
            .insert_devices_with_jobs(records, jobs.as_deref().unwrap_or_default())
            .await?;
        let added: Vec<Mac> = outcomes
            .iter()
            .filter_map(|o| o.as_ref().ok())
            .map(|stored| {
                self.cache.upsert(stored.clone());
                stored.mac
            })
            .collect();
        self.rps.after_insert(jobs.is_some(), &added).await?;
        Ok(outcomes)
    }

    /// DEREGISTER + REDIRECT at RPS (again), e.g. after a factory reset went to the wrong place.
    pub async fn resend_redirect(&self, mac: Mac, actor: &Actor) -> Result<(), ServiceError> {
        self.get_device(mac).await?;
        self.queue_redirects(&[mac]).await?;
        self.audit(audit::entry(
            actor,
            Action::RedirectResent,
            Some(mac),
            String::new(),
        ))
        .await;
        Ok(())
    }

    /// Records a change right after it was made. A failure is logged, not returned: the change
    /// itself is done, and an error would tell the user it was not (docs/decisions.md).
    async fn audit(&self, entry: prov_store::ChangeEntry) {
        self.audit_all(std::slice::from_ref(&entry)).await;
    }

    async fn audit_all(&self, entries: &[prov_store::ChangeEntry]) {
        if let Err(e) = self.store.record_changes(entries).await {
            metrics::counter!("audit_failures_total").increment(1);
            tracing::error!(error = %e, entries = entries.len(), "could not record a change in the audit");
        }
    }

    /// The audit, newest first (UI, API).
    pub async fn list_changes(
        &self,
        q: &prov_store::ChangeQuery,
    ) -> Result<Page<prov_store::ChangeEntry>, ServiceError> {
        Ok(self.store.list_changes(q).await?)
    }

    async fn queue_redirects(&self, macs: &[Mac]) -> Result<(), ServiceError> {
        self.rps
            .enqueue_redirects(&self.settings(), macs)
            .await
            .map_err(|e| {
                ServiceError::Rps(format!(
                    "the device is stored, but its RPS redirect could not be queued ({e}); re-send it"
                ))
            })
    }

    /// Validates every row first, then inserts the valid ones in bulk; `progress` gets the
    /// number of rows handled so far.
    pub async fn import_devices(
        &self,
        rows: Vec<crate::import::ImportRow>,
        progress: &(dyn Fn(usize) + Send + Sync),
        actor: &Actor,
    ) -> Result<Vec<RowResult>, ServiceError> {
        const CHUNK: usize = 1_000;
        let now = OffsetDateTime::now_utc();
        let mut results = Vec::with_capacity(rows.len());
        let mut pending: Vec<(usize, DeviceRecord)> = Vec::new();
        for (line, row) in rows {
            let raw_mac = row.as_ref().map(|r| r.mac.clone()).unwrap_or_default();
            match row.and_then(|r| r.validate().map_err(|e| e.to_string())) {
                Ok(valid) => pending.push((line, new_record(valid, now))),
                Err(error) => results.push(RowResult {
                    line,
                    mac: raw_mac,
                    error: Some(error),
                    warning: None,
                }),
            }
        }
        progress(results.len());
        for chunk in pending.chunks(CHUNK) {
            let records: Vec<DeviceRecord> = chunk.iter().map(|(_, r)| r.clone()).collect();
            let outcomes = self.insert_with_redirects(&records).await?;
            // One entry per imported device, so its own page says where it came from.
            let added: Vec<prov_store::ChangeEntry> = outcomes
                .iter()
                .filter_map(|o| o.as_ref().ok())
                .map(|stored| {
                    audit::entry(
                        actor,
                        Action::DeviceImported,
                        Some(stored.mac),
                        "CSV import".into(),
                    )
                })
                .collect();
            self.audit_all(&added).await;
            for ((line, record), outcome) in chunk.iter().zip(outcomes) {
                let error = outcome.err().map(|e| ServiceError::from(e).to_string());
                let warning = match error {
                    None => crate::device_input::oui_warning(record.mac),
                    Some(_) => None,
                };
                results.push(RowResult {
                    line: *line,
                    mac: record.mac.to_string(),
                    error,
                    warning,
                });
            }
            progress(results.len());
        }
        results.sort_by_key(|r| r.line);
        Ok(results)
    }

    pub async fn update_device(
        &self,
        mac: Mac,
        patch: DevicePatch,
        actor: &Actor,
    ) -> Result<DeviceRecord, ServiceError> {
        let device = self.get_device(mac).await?;
        let before = device.record.clone();
        let mut record = device.record;
        let rotate = patch.rotate_credentials;
        let valid = patch.apply(valid_from_record(&record)?)?;
        apply_valid(&mut record, valid);
        if rotate {
            record.http_password = random_token(PASSWORD_LEN);
            record.url_token = random_token(TOKEN_LEN);
        }
        record.updated_at = OffsetDateTime::now_utc();
        let stored = self.store.update_device(&record).await?;
        self.cache.upsert(stored.clone());
        self.audit(audit::entry(
            actor,
            Action::DeviceEdited,
            Some(mac),
            audit::summary(&audit::device_changes(&before, &stored)),
        ))
        .await;
        if rotate {
            // RPS must hand out the new URL from now on.
            self.queue_redirects(&[mac]).await?;
        }
        Ok(stored)
    }

    pub async fn remove_device(&self, mac: Mac, actor: &Actor) -> Result<(), ServiceError> {
        if !self.store.delete_device(mac).await? {
            return Err(ServiceError::NotFound(mac));
        }
        self.audit(audit::entry(
            actor,
            Action::DeviceRemoved,
            Some(mac),
            String::new(),
        ))
        .await;
        // Its sysclient connection notices the missing device and ends.
        self.store.delete_pbx_device(mac).await?;
        self.pbx_config.write().remove(&mac);
        self.cache.remove(mac);
        self.rps.enqueue_deregister(&self.settings(), mac).await?;
        Ok(())
    }

    pub async fn get_device(&self, mac: Mac) -> Result<Device, ServiceError> {
        self.store
            .get_device(mac)
            .await?
            .ok_or(ServiceError::NotFound(mac))
    }

    pub async fn list_devices(&self, query: &DeviceQuery) -> Result<Page<Device>, ServiceError> {
        Ok(self.store.list_devices(query).await?)
    }

    /// Keyset paging (the web UI's device list): cost independent of the page's position.
    pub async fn list_devices_after(
        &self,
        query: &DeviceKeyset,
    ) -> Result<Vec<Device>, ServiceError> {
        Ok(self.store.list_devices_after(query).await?)
    }

    /// Renders what `file` would be for this device, as its phone would get it now.
    /// `None`: the file is not one we serve (e.g. `y000000000000.boot`, or no local upload).
    pub async fn render_for_admin(
        &self,
        device: &Device,
        file: PhoneFile,
    ) -> Result<Option<String>, ServiceError> {
        if let PhoneFile::MacLocalCfg(_) = file {
            return Ok(self
                .store
                .get_local_cfg(device.record.mac)
                .await?
                .map(|(body, _)| String::from_utf8_lossy(&body).into_owned()));
        }
        let model = device.status.model_seen.as_deref();
        self.render(&device.record, file, None, model)
    }

    /// Renders a generated file (not `-local.cfg`).
    pub fn render(
        &self,
        record: &DeviceRecord,
        file: PhoneFile,
        ua: Option<&UserAgent>,
        model_seen: Option<&str>,
    ) -> Result<Option<String>, ServiceError> {
        let settings = self.settings();
        let base_url = self.base_url_with(&settings);
        self.render_with(&settings, &base_url, record, file, ua, model_seen)
    }

    /// [`render`](Self::render) for a phone's request: the body rendered for the very same
    /// inputs before, if any (see `render_cache`), else a fresh one.
    pub fn render_for_phone(
        &self,
        record: &Arc<DeviceRecord>,
        file: PhoneFile,
        ua: Option<&UserAgent>,
    ) -> Result<Option<bytes::Bytes>, ServiceError> {
        let settings = self.settings();
        let base_url = self.base_url_with(&settings);
        let stamp = Stamp {
            record,
            settings: &settings,
            base_url: &base_url,
            code: common_code(record, ua, None),
            model: device_model(record, ua, None),
        };
        self.renders.get_or_render(file, &stamp, || {
            self.render_with(&settings, &base_url, record, file, ua, None)
        })
    }

    fn render_with(
        &self,
        settings: &Settings,
        base_url: &str,
        record: &DeviceRecord,
        file: PhoneFile,
        ua: Option<&UserAgent>,
        model_seen: Option<&str>,
    ) -> Result<Option<String>, ServiceError> {
        let code = common_code(record, ua, model_seen);
        let failed = |e: &dyn std::fmt::Display| ServiceError::Render {
            file: file.file_name(),
            reason: e.to_string(),
        };
        match file {
            PhoneFile::MacBoot(_) => Ok(Some(yealink::render_mac_boot(record.mac, code))),
            PhoneFile::CommonBoot | PhoneFile::MacLocalCfg(_) => Ok(None),
            PhoneFile::Common(file_code) => yealink::render_common_cfg(
                &settings.phone,
                dialect_for_code(Some(file_code)),
                settings.common_file_firmware(file_code),
            )
            .map(Some)
            .map_err(|e| failed(&e)),
            PhoneFile::MacCfg(_) => {
                let effective = effective_settings(record, &settings.phone);
                let (host, port) = split_registrar(&record.registrar).map_err(|e| failed(&e))?;
                let display = record.display_name.as_deref().unwrap_or(&record.sip_user);
                let url = provisioning_url_at(base_url, record);
                let username = record.mac.to_string();
                let media = overrides_of(record)
                    .media
                    .map(|m| media_profile(&m))
                    .transpose()
                    .map_err(|e| failed(&e))?;
                // The MAC file speaks the dialect of the common file the boot file includes, so
                // the baseline comparison compares like with like.
                let known_model = device_model(record, ua, model_seen);
                let model = known_model.or_else(|| code.and_then(model_for_code));
                let ca_url = format!("{url}{CA_FILE}");
                let user_password = crate::secret::phone_user_password(&record.admin_password);
                let input = yealink::MacFileInput {
                    mac: record.mac,
                    account: yealink::Account {
                        label: display,
                        display_name: display,
                        auth_name: record.auth_name.as_deref().unwrap_or(&record.sip_user),
                        user_name: &record.sip_user,
                        password: &record.sip_password,
                        registrar_host: &host,
                        registrar_port: port,
                    },
                    provisioning: yealink::Provisioning {
                        server_url: &url,
                        username: &username,
                        password: &record.http_password,
                    },
                    admin_password: &record.admin_password,
                    user_password: &user_password,
                    settings: &effective,
                    // The boot file includes the common file exactly when the code is known.
                    common_baseline: code.map(|_| &settings.phone),
                    media: media.as_ref(),
                    dialect: dialect_for_code(code),
                    account_slots: model
                        .map_or(yealink::DEFAULT_ACCOUNT_SLOTS, |m| m.account_slots()),
                    layout: model.map_or(yealink::AccountLayout::DESK, |m| m.account_layout()),
                    firmware: settings.mac_file_firmware(known_model),
                    trusted_ca_url: settings.ca_certificate.is_some().then_some(ca_url.as_str()),
                };
                yealink::render_mac_cfg(&input)
                    .map(Some)
                    .map_err(|e| failed(&e))
            }
        }
    }
}

/// The model code the boot file names: from this request's User-Agent, else what the
/// administrator entered, else what the phone said last time.
pub fn common_code(
    record: &DeviceRecord,
    ua: Option<&UserAgent>,
    model_seen: Option<&str>,
) -> Option<u16> {
    ua.and_then(|ua| yealink::common_file_code(&ua.model))
        .or_else(|| ua.and_then(|ua| yealink::common_code_from_firmware(&ua.firmware)))
        .or_else(|| record.model.as_deref().and_then(yealink::common_file_code))
        .or_else(|| model_seen.and_then(yealink::common_file_code))
}

/// A device's own provisioning URL under `base_url`.
fn provisioning_url_at(base_url: &str, record: &DeviceRecord) -> String {
    format!("{base_url}/prov/{}/", record.url_token)
}

/// The private CA's file name under a device's `/prov/<token>/` path.
pub const CA_FILE: &str = "ca.pem";

/// The model this device is, from the same sources and in the same order as [`common_code`].
pub fn device_model(
    record: &DeviceRecord,
    ua: Option<&UserAgent>,
    model_seen: Option<&str>,
) -> Option<&'static yealink::ModelInfo> {
    ua.and_then(|ua| yealink::model_info(&ua.model))
        .or_else(|| record.model.as_deref().and_then(yealink::model_info))
        .or_else(|| model_seen.and_then(yealink::model_info))
}

/// The first model of the table with common-file `code` (models sharing a code are one
/// family, so they share the dialect).
fn model_for_code(code: u16) -> Option<&'static yealink::ModelInfo> {
    yealink::known_models()
        .iter()
        .find(|m| m.common_code == code)
}

/// The parameter dialect for the common file `code` (and so for the MAC file that includes
/// it); the documented choice for an unknown model when there is no such file or model.
pub fn dialect_for_code(code: Option<u16>) -> yealink::Dialect {
    code.and_then(model_for_code)
        .map_or(yealink::Dialect::FOR_UNKNOWN_MODEL, |m| m.dialect())
}

/// The renderer's media profile from a device's stored media override.
fn media_profile(
    m: &crate::settings::MediaOverride,
) -> Result<yealink::MediaProfile, yealink::RenderError> {
    use yealink::Codec;
    let codecs = m
        .codecs
        .iter()
        .filter_map(|name| {
            Codec::ALL
                .iter()
                .copied()
                .find(|c| c.yealink_name() == name)
        })
        .collect();
    Ok(yealink::MediaProfile {
        codecs,
        exclusive: m.exclusive,
        srtp: m.srtp,
        stun: m
            .stun
            .as_deref()
            .map(yealink::StunServer::parse)
            .transpose()?,
        turn: None,
        tls_minimum: m.tls12_minimum.then_some(yealink::TlsMinimum::Tls12Only),
    })
}

/// `https://ap/example.com/yealink/innovaphone-yealink` → `https://ap/example.com/yealink`.
pub fn app_url_base(app_url: &str) -> Option<String> {
    let trimmed = app_url.trim_end_matches('/');
    let (scheme, rest) = trimmed.split_once("://")?;
    if !matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https") || rest.is_empty() {
        return None;
    }
    let base = match rest.rsplit_once('/') {
        Some((base, _app)) => base,
        None => rest,
    };
    Some(format!("{scheme}://{base}"))
}

pub fn overrides_of(record: &DeviceRecord) -> SettingsOverride {
    // Stored overrides were validated on the way in; an unreadable one (hand-edited database)
    // falls back to the global settings rather than breaking the phone.
    record.overrides.parse().unwrap_or_default()
}

pub fn effective_settings(record: &DeviceRecord, global: &PhoneSettings) -> PhoneSettings {
    overrides_of(record).apply(global)
}

fn new_record(valid: ValidDevice, now: OffsetDateTime) -> DeviceRecord {
    let mut record = DeviceRecord {
        mac: valid.mac,
        name: String::new(),
        model: None,
        sip_user: String::new(),
        auth_name: None,
        sip_password: String::new(),
        display_name: None,
        registrar: String::new(),
        overrides: Overrides::default(),
        http_password: random_token(PASSWORD_LEN),
        url_token: random_token(TOKEN_LEN),
        admin_password: random_token(PASSWORD_LEN),
        created_at: now,
        updated_at: now,
        revision: 0,
    };
    apply_valid(&mut record, valid);
    record
}

fn apply_valid(record: &mut DeviceRecord, valid: ValidDevice) {
    record.name = valid.name;
    record.model = valid.model;
    record.sip_user = valid.sip_user;
    record.auth_name = valid.auth_name;
    record.sip_password = valid.sip_password;
    record.display_name = valid.display_name;
    record.registrar = valid.registrar;
    record.overrides = serde_json::to_value(&valid.overrides)
        .map(|v| Overrides::from_value(&v))
        .unwrap_or_default();
}

fn valid_from_record(record: &DeviceRecord) -> Result<ValidDevice, ServiceError> {
    Ok(ValidDevice {
        mac: record.mac,
        sip_user: record.sip_user.clone(),
        sip_password: record.sip_password.clone(),
        registrar: record.registrar.clone(),
        auth_name: record.auth_name.clone(),
        display_name: record.display_name.clone(),
        name: record.name.clone(),
        model: record.model.clone(),
        overrides: overrides_of(record),
    })
}

async fn load_pbx_config_states(
    store: &dyn Store,
) -> Result<std::collections::HashMap<Mac, bool>, ServiceError> {
    crate::pbx::record::config_states(store).await
}

pub(crate) async fn load_settings(store: &dyn Store) -> Result<Settings, ServiceError> {
    Ok(match store.get_settings().await? {
        // Fields added in later versions take their defaults (`#[serde(default)]`).
        Some(value) => serde_json::from_value(value)
            .map_err(|e| ServiceError::CorruptSettings(e.to_string()))?,
        None => Settings::default(),
    })
}

/// What a settings change does to every phone ([`Service::settings_impact`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SettingsImpact {
    /// Devices now.
    pub devices: usize,
    /// The base URL phones are given (before, after): each phone's own file changes and the
    /// phone takes the new address at its next check.
    pub base_url: Option<(String, String)>,
    /// The RPS server name (before, after), when it changes and ADD SERVER goes out.
    pub server_name: Option<(String, String)>,
    /// The URL RPS gets for our server.
    pub server_url: String,
    /// Mode, API, endpoint, user name or secret of the RPS account change.
    pub account_changed: bool,
    /// ADD SERVER is queued.
    pub add_server: bool,
    /// Every phone's DEREGISTER + REDIRECT follows it.
    pub redirect_all: bool,
    /// RPS turns off: no command goes out any more.
    pub rps_off: bool,
    pub update_interval_minutes: u32,
}

impl SettingsImpact {
    /// Whether the change reaches every phone (and so is confirmed first).
    pub fn touches_phones(&self) -> bool {
        // An account edited while RPS stays off sends nothing: no question then. (Every
        // phone's redirect follows ADD SERVER, so `redirect_all` implies `add_server`.)
        self.devices > 0 && (self.base_url.is_some() || self.add_server || self.rps_off)
    }
}

#[cfg(test)]
mod tests {
    use super::SettingsImpact;

    #[test]
    fn only_a_change_that_reaches_the_phones_is_asked_about() {
        let some = SettingsImpact {
            devices: 3,
            ..Default::default()
        };
        // An account edited while RPS stays off sends nothing.
        let edited_while_off = SettingsImpact {
            account_changed: true,
            ..some.clone()
        };
        assert!(!edited_while_off.touches_phones());
        let new_url = SettingsImpact {
            base_url: Some(("http://a".into(), "http://b".into())),
            ..some.clone()
        };
        assert!(new_url.touches_phones());
        assert!(
            SettingsImpact {
                add_server: true,
                ..some.clone()
            }
            .touches_phones()
        );
        assert!(
            SettingsImpact {
                rps_off: true,
                ..some.clone()
            }
            .touches_phones()
        );
        // No phones, nobody to reach.
        assert!(
            !SettingsImpact {
                devices: 0,
                ..new_url
            }
            .touches_phones()
        );
    }
}
