//! Wiring: opens the store, builds the service and the router, runs the listeners and the
//! background tasks. `Server::run` takes a bound listener, so tests run the real server on
//! `127.0.0.1:0`.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use futures::StreamExt as _;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use prov_store::{Tenant, TenantId};
use time::OffsetDateTime;
use tokio::net::TcpListener;

use crate::phone::http as phone_http;
use crate::runtime::database_mark::DatabaseMark;
use crate::runtime::listen::{ConnectionCaps, Connections, Shared, Tls};
use crate::runtime::sites::{Site, Sites};
use crate::web::digest::NonceKey;
use crate::web::request::OverTls;
use crate::web::request_body::{BodyBudget, BodyRules};
use crate::web::state::AppState;
use crate::{admin::api, phone::http::MAX_LOCAL_CFG};
use prov_core::admin_auth::{AdminVerifier, ensure_admin_credential};
use prov_core::config::Config;
use prov_core::instance::Instance;
use prov_core::pulse::Pulse;
use prov_core::request_log::{LiveFeed, RequestLog};
use prov_core::secret::random_token;
use prov_core::service::Service;

/// The lease of the instance that sent ADD SERVER at its start (decision 62).
const START_ADD_SERVER_LEASE: &str = "service:start-add-server";

/// How often other writers' changes (CLI, other instances) are picked up.
const REFRESH_EVERY: Duration = Duration::from_secs(1);
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

pub struct Server {
    config: Config,
    state: AppState,
    /// The App Service side, when on (the state holds it as a [`prov_core::pbx::PbxSide`]).
    innovaphone: Option<Arc<crate::app_service::Innovaphone>>,
    /// This process among the instances on the database (heartbeat, ownership of work).
    instance: Arc<Instance>,
    generated_admin_password: Option<String>,
    log_writer: tokio::task::JoinHandle<()>,
    /// The data folder's marker of this database, written once it holds devices.
    database_mark: Option<Arc<DatabaseMark>>,
    /// The other tenants' sites (kept in step with the tenants table while running).
    sites: Sites,
    /// Every instance's phone requests for the live pages of every tenant (PostgreSQL).
    live_feed: Option<LiveFeed>,
}

impl Server {
    pub async fn build(config: Config) -> anyhow::Result<Server> {
        let (store, mark) = crate::runtime::key_file::open_store_marked(&config).await?;
        tracing::info!(database = %config.database_url_redacted(), "database opened");
        let mut server = Self::build_with_store(config, store).await?;
        server.database_mark = mark;
        Ok(server)
    }

    /// As [`Server::build`], on a store the caller opened (tests reach the store's seams).
    pub async fn build_with_store(
        config: Config,
        store: Arc<dyn prov_store::Store>,
    ) -> anyhow::Result<Server> {
        let generated_admin_password = ensure_admin_credential(
            store.as_ref(),
            config.admin_password.as_ref().map(|s| s.expose()),
        )
        .await?;
        let secret = store
            .insert_meta_if_absent("nonce_secret", &random_token(32))
            .await?;
        let instance = Instance::new();
        let rps = Arc::new(
            prov_core::rps::outbox::RpsFlow::new(
                store.clone(),
                config.rps.account(),
                Duration::from_secs(config.rps_timeout_secs),
                config.rps_rate_per_second,
            )?
            .with_instance(instance.clone()),
        );
        let service =
            Service::new(store.clone(), rps, Some(config.fallback_base_url()), true).await?;
        let (requests, log_writer) =
            RequestLog::spawn(store.clone(), config.limits.request_log_keep_anonymous);
        let live_feed = LiveFeed::start(store.as_ref()).await?;
        if let Some(feed) = &live_feed {
            feed.add(store.tenant_id(), &requests);
            tracing::info!("live updates follow every instance's phone requests (LISTEN/NOTIFY)");
        }
        let service = Arc::new(service);
        let innovaphone = crate::app_service::Innovaphone::new(
            &config.innovaphone,
            service.clone(),
            instance.clone(),
            false,
        )
        .await?;
        if innovaphone.is_some() {
            service.set_app_service(prov_core::service::AppServiceMode {
                domain: config.innovaphone.domain.clone(),
                fallback_is_public: false,
            });
        }
        // Read at start-up so a missing or broken CA bundle stops the server with a clear error.
        let phone_certs = prov_core::phone_cert::PhoneCerts::load(
            config.phone_certificates,
            config.phone_ca_file.as_deref(),
            tls_provider(),
        )?;
        let state = AppState::new(crate::web::state::Shared {
            service,
            innovaphone: innovaphone
                .clone()
                .map(|inn| inn as Arc<dyn prov_core::pbx::PbxSide>),
            requests,
            nonce: NonceKey::new(secret.as_bytes()),
            admin: Arc::new(AdminVerifier::new(store, &config.limits)),
            metrics: metrics_handle(),
            tls_cert: config.listen_tls.and(config.tls_cert.clone()),
            write_health: Arc::default(),
            phone_certs: Arc::new(phone_certs),
        });
        Ok(Server {
            config,
            state,
            innovaphone,
            instance,
            generated_admin_password,
            log_writer,
            database_mark: None,
            sites: Sites::default(),
            live_feed,
        })
    }

    /// The admin password generated on this first start (to be shown once), if any.
    pub fn generated_admin_password(&self) -> Option<&str> {
        self.generated_admin_password.as_deref()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, then writes the pending request log.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Server {
            config,
            state,
            innovaphone,
            instance,
            log_writer,
            database_mark,
            sites,
            live_feed,
            ..
        } = self;
        // The first beat before any work: what this instance takes is held by it.
        instance.set_address(listener.local_addr()?.to_string());
        instance
            .beat(state.service.store().as_ref())
            .await
            .context("cannot write this instance's heartbeat to the database")?;
        let heartbeat = instance.spawn(state.service.store().clone());
        // ADD SERVER at every start, as the original app does; queued, so RPS may be down.
        // Of several instances on one database only the oldest live one sends it: the others
        // joined a service that is registered already (decision 62).
        if instance
            .claim_start_duty(state.service.store().as_ref(), START_ADD_SERVER_LEASE)
            .await
        {
            state.service.queue_start_add_server().await?;
        } else {
            tracing::info!(
                "an older instance runs on this database: it sent ADD SERVER at its start; not sent again"
            );
        }
        let mut background = spawn_background(state.clone(), &config, true);
        let pulse = Arc::new(Pulse::new(state.service.store().clone()));
        pulse.add(state.service.clone());
        background.push(spawn_pulse(
            pulse.clone(),
            state.service.clone(),
            database_mark.clone(),
        ));
        if let Some(inn) = &innovaphone {
            inn.start().await?;
        }
        let tenants = tokio::spawn(
            TenantSites {
                config: config.clone(),
                default: state.clone(),
                instance: instance.clone(),
                sites: sites.clone(),
                pulse,
                live_feed,
                running: HashMap::new(),
            }
            .run(),
        );
        let router = router(state.clone(), innovaphone.as_ref(), true);
        // One budget of connections and one of request-body bytes for both listeners.
        let shared = Shared {
            connections: Connections::new(ConnectionCaps::from_limits(&config.limits))
                .reserve_for(config.limits.reserve_networks()?),
            bodies: BodyRules {
                budget: BodyBudget::new(config.limits.body_bytes_in_flight),
                timeout: Duration::from_secs(config.limits.body_timeout_secs),
            },
            sites: sites.clone(),
        };
        let (stop_tls, tls_stopped) = tokio::sync::watch::channel(false);
        let tls = match config.listen_tls {
            Some(addr) => Some(
                spawn_tls(
                    &config,
                    addr,
                    router.clone(),
                    shared.clone(),
                    &state,
                    tls_stopped,
                )
                .await?,
            ),
            None => None,
        };
        let local = listener.local_addr()?;
        // Where a person opens the UI: the public base URL, else this listener (loopback in
        // place of "every address", which no browser opens).
        let base = state
            .service
            .settings()
            .public_base_url
            .clone()
            .unwrap_or_else(|| {
                let ip = if local.ip().is_unspecified() {
                    std::net::IpAddr::from([127, 0, 0, 1])
                } else {
                    local.ip()
                };
                format!("http://{}", std::net::SocketAddr::new(ip, local.port()))
            });
        tracing::info!(
            listen = %local,
            web_ui = %format!("{base}/"),
            api = %format!("{base}/api/v1"),
            database = %config.database_url_redacted(),
            devices = state.service.cache().len(),
            "yealink-prov serving"
        );
        let phones = phone_http::PhoneEndpoint::new(state.clone(), false);
        crate::runtime::listen::serve(listener, router, phones, shared, &config.limits, None, {
            // Live pages hold a response open; end them so the shutdown does not wait on them.
            let requests = state.requests.clone();
            let sites = sites.clone();
            async move {
                shutdown.await;
                requests.close_subscribers();
                for site in sites.all() {
                    site.state.requests.close_subscribers();
                }
                let _ = stop_tls.send(true);
            }
        })
        .await;
        if let Some(task) = tls {
            let _ = task.await;
        }
        for task in background {
            task.abort();
        }
        // The tenants' sites stop with their keeper (their tasks are aborted as it drops them).
        tenants.abort();
        let _ = tenants.await;
        for site in sites.all() {
            if let Some(inn) = &site.innovaphone {
                inn.shutdown().await;
            }
            site.state.requests.flush().await;
        }
        // Devices added since the last refresh (within a second of stopping) count too.
        if let Some(mark) = &database_mark {
            mark.note(state.service.cache().len());
        }
        if let Some(inn) = &innovaphone {
            inn.shutdown().await;
        }
        // Hands this instance's phones and jobs over at once.
        heartbeat.abort();
        let _ = heartbeat.await;
        instance.leave(state.service.store().as_ref()).await;
        state.requests.flush().await;
        drop(state);
        let _ = log_writer.await;
        Ok(())
    }
}

/// The handlers of one tenant's site. `default_site`: the default tenant's, which alone has
/// the provider's tenant routes.
pub fn router(
    state: AppState,
    innovaphone: Option<&Arc<crate::app_service::Innovaphone>>,
    default_site: bool,
) -> Router {
    let innovaphone = innovaphone
        .map(|inn| inn.routes(state.clone()))
        .unwrap_or_default();
    let router = Router::new().merge(innovaphone).nest(
        "/api/v1",
        api::routes(
            state.clone(),
            if default_site {
                crate::admin::tenants_api::routes()
            } else {
                Router::new()
            },
        ),
    );
    router
        .nest("/ui", crate::admin::ui::routes(state.clone(), default_site))
        .route(
            "/",
            get(|| async { axum::response::Redirect::to(&crate::web::site::path("/ui/devices")) }),
        )
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_LOCAL_CFG * 2))
        .layer(
            tower_http::set_header::SetResponseHeaderLayer::if_not_present(
                header::X_CONTENT_TYPE_OPTIONS,
                axum::http::HeaderValue::from_static("nosniff"),
            ),
        )
        .layer(tower_http::catch_panic::CatchPanicLayer::new())
        .with_state(state)
}

async fn healthz(State(state): State<AppState>) -> Response {
    match state.service.store().current_revision().await {
        Ok(_) => match state.write_health.failure() {
            None => (StatusCode::OK, "ok\n").into_response(),
            // The reason is a StoreError's Display: no data, no credentials.
            Some(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")).into_response(),
        },
        Err(e) => {
            tracing::error!(error = %e, "health check: database unavailable");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n").into_response()
        }
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    metrics::gauge!("devices").set(state.service.cache().len() as f64);
    metrics::gauge!("render_cache_bytes").set(state.service.renders().bytes() as f64);
    // 1 while RPS keeps an old URL for our server name that its API cannot change (XML-RPC).
    match state.service.rps().server_url_stale().await {
        Ok(stale) => metrics::gauge!("rps_server_url_stale").set(if stale { 1.0 } else { 0.0 }),
        Err(e) => tracing::warn!(error = %e, "metrics: cannot read the RPS server record"),
    }
    match &state.metrics {
        Some(handle) => (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            handle.render(),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "metrics recorder unavailable\n").into_response(),
    }
}

/// One Prometheus recorder per process (tests start several servers in one process).
fn metrics_handle() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok().map(|_| handle)
        })
        .clone()
}

/// The periodic work of one tenant's service other than what the process's [`Pulse`] does;
/// `probe`: also the write probe of the database (once per process: every tenant's store is
/// the same database).
fn spawn_background(
    state: AppState,
    config: &Config,
    probe: bool,
) -> Vec<tokio::task::JoinHandle<()>> {
    let renders_ager = {
        let state = state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(prov_core::render_cache::AGE_EVERY);
            tick.tick().await;
            loop {
                tick.tick().await;
                state.service.renders().age();
            }
        })
    };
    let state_for_worker = state.clone();
    let probe = probe.then(|| {
        state
            .write_health
            .clone()
            .spawn(state.service.store().clone())
    });
    let retention = time::Duration::days(i64::from(config.request_log_retention_days));
    let keep = config.request_log_keep_per_device;
    let keep_anonymous = config.limits.request_log_keep_anonymous;
    let history_retention = time::Duration::days(i64::from(config.rps_history_retention_days));
    let history_keep = config.rps_history_keep;
    let changes_retention = time::Duration::days(i64::from(config.changes_retention_days));
    let changes_keep = config.changes_keep;
    let pruner = tokio::spawn(async move {
        let mut tick = tokio::time::interval(PRUNE_EVERY);
        loop {
            tick.tick().await;
            let cutoff = OffsetDateTime::now_utc() - retention;
            match state
                .service
                .store()
                .prune_phone_requests(cutoff, keep)
                .await
            {
                Ok(n) if n > 0 => tracing::info!(rows = n, "pruned old phone requests"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "could not prune phone requests"),
            }
            match state
                .service
                .store()
                .prune_anonymous_phone_requests(keep_anonymous)
                .await
            {
                Ok(n) if n > 0 => tracing::info!(rows = n, "pruned refused phone requests"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "could not prune refused phone requests"),
            }
            let cutoff = OffsetDateTime::now_utc() - history_retention;
            if let Err(e) = state
                .service
                .store()
                .prune_rps_history(cutoff, history_keep)
                .await
            {
                tracing::warn!(error = %e, "could not prune the RPS history");
            }
            let cutoff = OffsetDateTime::now_utc() - changes_retention;
            if let Err(e) = state
                .service
                .store()
                .prune_changes(cutoff, changes_keep)
                .await
            {
                tracing::warn!(error = %e, "could not prune the audit of changes");
            }
        }
    });
    let worker = tokio::spawn(
        state_for_worker
            .service
            .rps()
            .clone()
            .run_worker(state_for_worker.service.clone()),
    );
    let mut tasks = vec![renders_ager, pruner, worker];
    tasks.extend(probe);
    tasks
}

/// Beats the process's one [`Pulse`] for every tenant; after each, the database mark learns
/// the default tenant's device count (devices from any writer arrive through the pulse).
fn spawn_pulse(
    pulse: Arc<Pulse>,
    default: Arc<prov_core::service::Service>,
    database_mark: Option<Arc<DatabaseMark>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(REFRESH_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            pulse.beat().await;
            if let Some(mark) = &database_mark {
                mark.note(default.cache().len());
            }
        }
    })
}

/// How many tenants' sites are built at once at start (each loads its device cache).
const SITES_AT_ONCE: usize = 8;

/// How often the tenants table is read for tenants added or removed meanwhile (CLI, API,
/// another process).
const TENANTS_EVERY: Duration = Duration::from_secs(5);

/// Keeps [`Sites`] in step with the tenants table: builds the site of every tenant other than
/// the default one, and drops the site of a tenant removed.
struct TenantSites {
    config: Config,
    /// The default tenant's state: the database and what every site shares.
    default: AppState,
    instance: Arc<Instance>,
    sites: Sites,
    pulse: Arc<Pulse>,
    live_feed: Option<LiveFeed>,
    running: HashMap<TenantId, RunningSite>,
}

/// A site and its tasks, which end when it is dropped.
struct RunningSite {
    prefix: String,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for RunningSite {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl TenantSites {
    async fn run(mut self) {
        let mut tick = tokio::time::interval(TENANTS_EVERY);
        loop {
            tick.tick().await;
            if let Err(e) = self.sync().await {
                tracing::warn!(error = %e, "cannot read the tenants; their sites stay as they are");
            }
        }
    }

    async fn sync(&mut self) -> anyhow::Result<()> {
        let root = self.default.service.store().clone();
        let tenants: Vec<Tenant> = root
            .list_tenants()
            .await?
            .into_iter()
            .filter(|t| !t.id.is_default())
            .collect();
        let gone: Vec<TenantId> = self
            .running
            .keys()
            .filter(|id| !tenants.iter().any(|t| t.id == **id))
            .copied()
            .collect();
        for id in gone {
            if let Some(site) = self.running.remove(&id) {
                self.pulse.remove(id);
                if let Some(feed) = &self.live_feed {
                    feed.remove(id);
                }
                self.sites.remove(&site.prefix);
                tracing::info!(path = %site.prefix, "tenant removed: its site is closed");
            }
        }
        let new: Vec<Tenant> = tenants
            .into_iter()
            .filter(|t| !self.running.contains_key(&t.id))
            .collect();
        // A few at a time: a thousand tenants' caches load in a fraction of one-by-one's time,
        // without a thousand queries at once on the pool.
        let this = &*self;
        let started: Vec<(Tenant, anyhow::Result<RunningSite>)> =
            futures::stream::iter(new.into_iter().map(|tenant| {
                let root = root.clone();
                async move {
                    let site = this.start(&root, &tenant).await;
                    (tenant, site)
                }
            }))
            .buffer_unordered(SITES_AT_ONCE)
            .collect()
            .await;
        for (tenant, site) in started {
            match site {
                Ok(site) => {
                    self.running.insert(tenant.id, site);
                }
                // Tried again at the next round.
                Err(e) => {
                    tracing::warn!(tenant = %tenant.label(), error = %format!("{e:#}"), "cannot start the tenant's site")
                }
            }
        }
        Ok(())
    }

    /// Builds and opens one tenant's site: its service (cache loaded), request log, admin
    /// credential check, innovaphone endpoint (with the tenant's App object password, once one
    /// was created), background work, and ADD SERVER under its domain.
    async fn start(
        &self,
        root: &Arc<dyn prov_store::Store>,
        tenant: &Tenant,
    ) -> anyhow::Result<RunningSite> {
        let config = &self.config;
        let service = Arc::new(
            prov_core::tenant::service_for(root, tenant, config, Some(self.instance.clone()), true)
                .await?,
        );
        let store = service.store().clone();
        let (requests, log_writer) =
            RequestLog::spawn(store.clone(), config.limits.request_log_keep_anonymous);
        let innovaphone_config = prov_core::config::InnovaphoneConfig {
            // The configured password is the default tenant's App object's.
            password: None,
            domain: Some(tenant.domain.clone()),
            ..config.innovaphone.clone()
        };
        let innovaphone = crate::app_service::Innovaphone::new(
            &innovaphone_config,
            service.clone(),
            self.instance.clone(),
            true,
        )
        .await?;
        let shared = &self.default;
        let state = AppState::new(crate::web::state::Shared {
            service: service.clone(),
            innovaphone: innovaphone
                .clone()
                .map(|inn| inn as Arc<dyn prov_core::pbx::PbxSide>),
            requests,
            nonce: shared.nonce.clone(),
            admin: Arc::new(AdminVerifier::new(store.clone(), &config.limits)),
            metrics: shared.metrics.clone(),
            tls_cert: shared.tls_cert.clone(),
            write_health: shared.write_health.clone(),
            phone_certs: shared.phone_certs.clone(),
        });
        let mut tasks = spawn_background(state.clone(), config, false);
        let requests_log = state.requests.clone();
        tasks.push(log_writer);
        let lease = format!("{START_ADD_SERVER_LEASE}:{}", tenant.id);
        if self.instance.claim_start_duty(store.as_ref(), &lease).await {
            service.queue_start_add_server().await?;
        }
        if let Some(inn) = &innovaphone {
            inn.start().await?;
        }
        let prefix = prov_core::tenant::path_prefix(tenant);
        // Everything the site answers that names one of its paths carries its prefix.
        let site_prefix: Arc<str> = Arc::from(prefix.as_str());
        let router =
            router(state.clone(), innovaphone.as_ref(), false).layer(axum::middleware::from_fn(
                move |request, next| crate::web::site::scope(site_prefix.clone(), request, next),
            ));
        self.sites.insert(
            prefix.clone(),
            Arc::new(Site::new(state, router, innovaphone)),
        );
        tracing::info!(
            tenant = %tenant.label(),
            path = %format!("{prefix}/"),
            devices = service.cache().len(),
            "tenant site open"
        );
        self.pulse.add(service);
        if let Some(feed) = &self.live_feed {
            feed.add(tenant.id, &requests_log);
        }
        Ok(RunningSite { prefix, tasks })
    }
}

/// Binds the HTTPS listener and serves it with the same accept loop as the plain one, until
/// `stop` turns true.
async fn spawn_tls(
    config: &Config,
    addr: SocketAddr,
    router: Router,
    shared: Shared,
    state: &AppState,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let phone_certs = &state.phone_certs;
    let (Some(cert), Some(key)) = (&config.tls_cert, &config.tls_key) else {
        anyhow::bail!("listen_tls needs tls_cert and tls_key");
    };
    let server_config =
        tls_server_config(cert, key, phone_certs.tls_verifier()).with_context(|| {
            format!(
                "cannot load TLS certificate {} / key {}",
                cert.display(),
                key.display()
            )
        })?;
    let tls = Tls {
        acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(server_config)),
        handshake_timeout: Duration::from_secs(config.limits.tls_handshake_timeout_secs),
    };
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (listen_tls)"))?;
    let router = router.layer(Extension(OverTls(true)));
    let phones = phone_http::PhoneEndpoint::new(state.clone(), true);
    let limits = config.limits.clone();
    let task = tokio::spawn(async move {
        let stopped = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        crate::runtime::listen::serve(
            listener,
            router,
            phones,
            shared,
            &limits,
            Some(tls),
            stopped,
        )
        .await;
    });
    tracing::info!(listen_tls = %addr, "HTTPS listener started");
    Ok(task)
}

/// The one crypto provider of the build (aws-lc-rs), passed explicitly so nothing depends on a
/// process-wide default.
fn tls_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The server certificate and key (PEM), and with `verifier` a request for the phone's device
/// certificate (`phone_certificates` = preferred/required; the certificate is judged per request).
fn tls_server_config(
    cert: &std::path::Path,
    key: &std::path::Path,
    verifier: Option<Arc<dyn rustls::server::danger::ClientCertVerifier>>,
) -> std::io::Result<rustls::ServerConfig> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(std::io::Error::other)?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(std::io::Error::other)?;
    let builder = rustls::ServerConfig::builder_with_provider(tls_provider())
        .with_safe_default_protocol_versions()
        .map_err(std::io::Error::other)?;
    let builder = match verifier {
        Some(verifier) => builder.with_client_cert_verifier(verifier),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(std::io::Error::other)?;
    // HTTP/2 for browsers, HTTP/1.1 for phones (as axum-server offered before).
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    // Resumption for phones that reconnect for their next file (decision 78): tickets sealed
    // with a key held in memory and rotated every 6 hours, so every phone of a storm can
    // resume, where rustls' default cache keeps the last 256 sessions (about a tenth of a
    // second of a storm). One TLS 1.3 ticket, not two: a phone opens one connection at a time,
    // and each ticket costs every handshake, also a factory-fresh phone's that never uses it.
    config.ticketer = rustls::crypto::aws_lc_rs::Ticketer::new().map_err(std::io::Error::other)?;
    config.send_tls13_tickets = 1;
    Ok(config)
}
