//! What every HTTP handler shares.

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;

use crate::web::digest::NonceKey;
use prov_core::admin_auth::AdminVerifier;
use prov_core::pbx::PbxSide;
use prov_core::phone_cert::PhoneCerts;
use prov_core::request_log::RequestLog;
use prov_core::service::Service;
use prov_core::write_probe::WriteHealth;

/// Cloned for every request (axum's `State`): one reference count, not one per part.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> AppState {
        AppState(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub struct Shared {
    pub service: Arc<Service>,
    pub requests: RequestLog,
    pub nonce: NonceKey,
    pub admin: Arc<AdminVerifier>,
    pub metrics: Option<PrometheusHandle>,
    /// The innovaphone App Service side, when an instance password is configured.
    pub innovaphone: Option<Arc<dyn PbxSide>>,
    /// The certificate chain this server serves over HTTPS (`listen_tls`), for the doctor's
    /// factory-trust check; `None` when TLS is off or terminated elsewhere.
    pub tls_cert: Option<std::path::PathBuf>,
    /// Whether the store could write at the last probe, for `/healthz`.
    pub write_health: Arc<WriteHealth>,
    /// The phone certificate rule (`phone_certificates`) and its CA bundle.
    pub phone_certs: Arc<PhoneCerts>,
}
