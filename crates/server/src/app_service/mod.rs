//! The innovaphone App Service side (docs/innovaphone.md): the AppWebsocket endpoint for the PBX
//! and Users, the PBX sessions, ProvisioningPhone, one sysclient connection per phone to
//! Devices, the mapping of Devices' configuration, and the user-object update after a fetch.

pub(crate) mod app_object;
pub(crate) mod app_page;
pub(crate) mod appws;
mod devices_socket;
pub mod devices_tls;
pub(crate) mod frame_origins;
pub(crate) mod mapping;
pub(crate) mod pbx_update;
pub(crate) mod provisioning;

pub(crate) mod registry;
pub mod sysclient;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use yealink::Mac;

use crate::web::state::AppState;
use prov_core::config::InnovaphoneConfig;
use prov_core::error::ServiceError;
use prov_core::instance::Instance;
use prov_core::pbx::record::{PbxDevice, PbxDeviceView};
use prov_core::service::Service;
use registry::PbxRegistry;
use sysclient::Sysclients;

/// Meta key of the last Devices websocket URL a PBX named.
pub const META_DEVICES_URL: &str = "innovaphone.devices_url";
/// Meta key of the instance password `yealink-prov pbx app-object` generated when none was
/// configured (the configured one wins). Kept readable: every login digest needs it.
pub const META_INSTANCE_PASSWORD: &str = "innovaphone.instance_password";
/// Meta key bumped (a fresh token) by an instance that served a phone's configuration but has
/// no PBX connection with PbxAdminApi: the instance that has one makes the user-object update.
pub const META_PBX_UPDATE_WANTED: &str = "innovaphone.pbx_update_wanted";
/// How often an instance looks at what other instances stored for it (the Devices URL, user
/// object updates waiting for a PBX connection) without being told: a safety net, since it
/// runs whenever the pulse read this tenant's meta keys again.
const PEER_SYNC_EVERY: std::time::Duration = std::time::Duration::from_secs(60);
/// At most this many phones without a holder are taken over per heartbeat round; more wait
/// for the next round (5 s later), so a huge takeover comes in pages.
const TAKEOVER_PAGE: u32 = 2_000;

pub struct Innovaphone {
    pub service: Arc<Service>,
    pub registry: PbxRegistry,
    pub sysclients: Sysclients,
    /// This process among the instances sharing the database: the holder of its sysclient
    /// leases, held by its heartbeat (docs/innovaphone.md, decisions 6 and 61).
    instance: Arc<Instance>,
    /// The instance password (= the App object's password).
    password: String,
    domain: Option<String>,
    /// A login must name [`Innovaphone::domain`] (a tenant's site: its PBX's domain).
    domain_must_match: bool,
    title: String,
    path: String,
    /// `innovaphone.frame_origins`: origins allowed to frame the UI besides the PBXs' own.
    frame_origins: Vec<String>,
    /// Origins PBX-signed logins told us, and origins refused as framers (for `doctor`).
    learned_origins: frame_origins::LearnedOrigins,
    /// `wss://` to Devices: the OS store plus `innovaphone.devices_ca_file`.
    devices_tls: Arc<rustls::ClientConfig>,
    /// Limits of the AppWebsocket endpoint for peers that have not logged in (yet).
    limits: appws::Limits,
}

impl Innovaphone {
    /// `None` when no instance password is configured (integration off).
    pub async fn new(
        config: &InnovaphoneConfig,
        service: Arc<Service>,
        instance: Arc<Instance>,
        domain_must_match: bool,
    ) -> Result<Option<Arc<Innovaphone>>, ServiceError> {
        let password = match &config.password {
            Some(p) => p.expose().to_owned(),
            None => match service.store().get_meta(META_INSTANCE_PASSWORD).await? {
                Some(p) if !p.is_empty() => p,
                _ => return Ok(None),
            },
        };
        let devices_tls =
            devices_tls::client_config(config.devices_ca_file.as_deref()).map_err(|e| {
                ServiceError::Invalid(prov_core::settings::FieldError {
                    field: "innovaphone.devices_ca_file",
                    message: e.to_string(),
                })
            })?;
        let devices_url = service.store().get_meta(META_DEVICES_URL).await?;
        let learned_origins = frame_origins::LearnedOrigins::new(
            frame_origins::decode_list(
                service
                    .store()
                    .get_meta(frame_origins::META_TOLD_ORIGINS)
                    .await?
                    .as_deref(),
            ),
            frame_origins::decode_list(
                service
                    .store()
                    .get_meta(frame_origins::META_REFUSED_FRAMES)
                    .await?
                    .as_deref(),
            ),
        );
        Ok(Some(Arc::new(Innovaphone {
            service,
            registry: PbxRegistry::new(devices_url),
            sysclients: Sysclients::default(),
            instance,
            password,
            domain: config.domain.clone().filter(|d| !d.is_empty()),
            domain_must_match,
            title: config.title.clone(),
            path: config.path.clone(),
            learned_origins,
            frame_origins: frame_origins::parse_origins(&config.frame_origins).map_err(|e| {
                ServiceError::Invalid(prov_core::settings::FieldError {
                    field: "innovaphone.frame_origins",
                    message: e,
                })
            })?,
            devices_tls,
            limits: appws::Limits::new(config),
        })))
    }

    pub fn routes(self: &Arc<Self>, state: AppState) -> Router<AppState> {
        Router::new()
            // GET for HTTP/1.1; CONNECT for HTTP/2 (RFC 8441), which browsers use for a
            // WebSocket on an HTTPS listener that offers it (myApps' AppWebsocket to us).
            .route(&self.path, get(appws::upgrade).connect(appws::upgrade))
            .with_state(self.clone())
            .merge(app_page::routes(&self.path, self.clone(), state))
    }

    /// Reopens the sysclient connection of every stored phone (they wait for a Devices URL).
    pub async fn start(self: &Arc<Self>) -> Result<(), ServiceError> {
        // The MACs only: opening every (sealed) document at once is a large transient.
        let phones = self.service.store().pbx_config_states().await?;
        for (mac, _) in &phones {
            if self.service.cache().by_mac(*mac).is_some() {
                self.sysclients.ensure(self, *mac);
            }
        }
        tracing::info!(phones = phones.len(), path = %self.path, "innovaphone App Service endpoint ready");
        self.spawn_peer_sync();
        self.spawn_takeover_sweep();
        Ok(())
    }

    /// Once per heartbeat period, asks the store for the stored phones whose sysclient lease
    /// nobody holds (their instance died or left, or it never took the lease) and takes them
    /// over: a link is started, or a waiting one woken, and the lease decides which instance
    /// keeps the phone. Phones provisioned through another instance after this one started
    /// have no link here otherwise. One read per round, no writes while nothing changes.
    fn spawn_takeover_sweep(self: &Arc<Self>) {
        let inn = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(prov_store::INSTANCE_BEAT_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut failing = false;
            loop {
                tick.tick().await;
                let Some(inn) = inn.upgrade() else { return };
                // Not sure the others count us alive: take nothing over. No innovaphone phone
                // (no PBX-side document, which the pulse keeps current): nothing to take over,
                // and a thousand idle tenants cost no query.
                if !inn.instance.healthy() || !inn.service.has_pbx_devices() {
                    continue;
                }
                let prefix = sysclient::lease_name_prefix();
                match inn
                    .service
                    .store()
                    .unheld_pbx_devices(prefix, TAKEOVER_PAGE)
                    .await
                {
                    Ok(macs) => {
                        failing = false;
                        let mut taken = 0usize;
                        for mac in macs {
                            if inn.service.cache().by_mac(mac).is_some() {
                                inn.sysclients.take_over(&inn, mac);
                                taken += 1;
                            }
                        }
                        if taken > 0 {
                            tracing::info!(
                                phones = taken,
                                "taking over sysclient connections nobody holds"
                            );
                        }
                    }
                    Err(e) if !failing => {
                        failing = true;
                        tracing::warn!(error = %e, "cannot read which phones' sysclient connections nobody holds");
                    }
                    Err(_) => {}
                }
            }
        });
    }

    /// The PBX keeps one connection, to one instance; the others learn through the database
    /// what it told that instance, and that instance makes the PBX-side updates the others
    /// could not (decision 64). What they learn are meta keys, whose writes the process's
    /// pulse notices (docs/tenants.md, "One pulse"): a round runs when it read them again,
    /// and at least every [`PEER_SYNC_EVERY`]. Ends with the process.
    fn spawn_peer_sync(self: &Arc<Self>) {
        let inn = Arc::downgrade(self);
        let mut reads = self.service.watch_config();
        tokio::spawn(async move {
            let mut seen_wanted: Option<String> = None;
            let mut first = true;
            loop {
                if !first {
                    tokio::select! {
                        changed = reads.changed() => {
                            // The service is gone.
                            if changed.is_err() {
                                return;
                            }
                        }
                        _ = tokio::time::sleep(PEER_SYNC_EVERY) => {}
                    }
                }
                first = false;
                let Some(inn) = inn.upgrade() else { return };
                let store = inn.service.store();
                if let Ok(Some(url)) = store.get_meta(META_DEVICES_URL).await {
                    inn.registry.learn_stored_devices_url(&url);
                }
                inn.reload_learned_origins().await;
                let wanted = store.get_meta(META_PBX_UPDATE_WANTED).await.ok().flatten();
                if wanted.is_some() && wanted != seen_wanted && inn.registry.has_admin_session() {
                    seen_wanted = wanted;
                    inn.finish_pending_updates(false).await;
                }
            }
        });
    }

    /// Stops every sysclient connection for good. Their leases go with the instance's
    /// heartbeat row ([`Instance::leave`], called next), so the others take the phones over at
    /// their next beat (within 5 s) instead of after the heartbeat went stale.
    pub async fn shutdown(&self) {
        let macs = self.sysclients.stop_all().await;
        tracing::debug!(phones = macs.len(), "sysclient connections closed");
    }

    /// A PBX connected: its domain may become the RPS server name and its App object URL our
    /// base URL; one task for both, so a change queues one ADD SERVER
    /// (Service::note_pbx_connected).
    fn pbx_connected(self: &Arc<Self>, app_url: Option<&str>) {
        let inn = self.clone();
        let app_url = app_url.map(str::to_owned);
        tokio::spawn(async move {
            let domains = inn.registry.domains();
            if let Err(e) = inn
                .service
                .note_pbx_connected(&domains, app_url.as_deref())
                .await
            {
                tracing::warn!(error = %e, "could not store the PBX domain and App object URL");
            }
        });
    }

    async fn devices_url_known(&self, url: &str) {
        let stored = self.service.store().get_meta(META_DEVICES_URL).await;
        if stored.as_ref().ok().and_then(|s| s.as_deref()) != Some(url) {
            tracing::info!(devices = %url, "Devices API found");
            if let Err(e) = self.service.store().set_meta(META_DEVICES_URL, url).await {
                tracing::warn!(error = %e, "could not store the Devices URL");
            }
        }
    }

    /// A PBX session came up: reopen sysclients (as the original does) and finish user-object
    /// updates that waited for a PBX with the Admin grant.
    fn pbx_session_ready(self: &Arc<Self>) {
        let inn = self.clone();
        tokio::spawn(async move { inn.finish_pending_updates(true).await });
    }

    /// Makes the user-object updates still due (the phone fetched its file, the update did not
    /// succeed yet) if a PBX with the Admin grant is connected here; `ensure_links` also
    /// (re)starts the phones' sysclients.
    async fn finish_pending_updates(self: &Arc<Self>, ensure_links: bool) {
        // One document at a time: all of them at once is a large transient (10,000 phones).
        let phones = match self.service.store().pbx_config_states().await {
            Ok(phones) => phones,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list innovaphone phones");
                return;
            }
        };
        for (mac, _) in phones {
            if self.service.cache().by_mac(mac).is_none() {
                continue;
            }
            if ensure_links {
                self.sysclients.ensure(self, mac);
            }
            let doc = match PbxDevice::load(self.service.store().as_ref(), mac).await {
                Ok(Some(doc)) => doc,
                // Removed meanwhile.
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(%mac, error = %e, "cannot read the phone's innovaphone data");
                    continue;
                }
            };
            let pending = doc.pbx_update.as_ref().is_none_or(|u| !u.ok);
            let fetched = self
                .service
                .store()
                .get_status(mac)
                .await
                .is_ok_and(|s| s.provisioned_at.is_some());
            if pending && fetched && self.registry.has_admin_session() {
                pbx_update::update_after_fetch(self, mac).await;
            }
        }
    }

    /// Called when a phone was served its MAC file.
    pub fn phone_fetched_config(self: &Arc<Self>, mac: Mac) {
        if self.service.pbx_config_state(mac).is_none() {
            return;
        }
        let inn = self.clone();
        tokio::spawn(async move { pbx_update::update_after_fetch(&inn, mac).await });
    }

    fn note_config_state(&self, mac: Mac, complete: bool) {
        self.service.note_pbx_config_state(mac, complete);
    }

    /// The innovaphone state of a phone, for the API and the UI.
    pub async fn view(&self, mac: Mac) -> Result<Option<PbxDeviceView>, ServiceError> {
        Ok(PbxDevice::load(self.service.store().as_ref(), mac)
            .await?
            .map(|doc| PbxDeviceView::new(&doc, self.sysclients.state(mac))))
    }
}

#[async_trait::async_trait]
impl prov_core::pbx::PbxSide for Innovaphone {
    fn phone_fetched_config(self: Arc<Self>, mac: Mac) {
        Innovaphone::phone_fetched_config(&self, mac);
    }

    fn frame_origins(&self) -> Vec<String> {
        Innovaphone::frame_origins(self)
    }

    async fn view(&self, mac: Mac) -> Result<Option<PbxDeviceView>, ServiceError> {
        Innovaphone::view(self, mac).await
    }

    fn sessions(&self) -> Vec<prov_core::pbx::PbxSessionView> {
        self.registry.sessions()
    }

    fn devices_url(&self) -> Option<String> {
        self.registry.devices_url()
    }
}
