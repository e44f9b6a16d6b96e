//! What the command groups share: a service opened on the store (of the tenant `--tenant`
//! names), MAC parsing.

use std::sync::Arc;

use yealink::Mac;

use prov_core::config::Config;
use prov_core::service::Service;
use prov_store::Store;

/// Opens the store and a service for one-shot commands, on the tenant of `--tenant` (the
/// default tenant without it).
pub(super) async fn open_service(config: &Config) -> anyhow::Result<Service> {
    let root = crate::runtime::key_file::open_store(config).await?;
    if let Some(raw) = &config.tenant {
        let tenant = prov_core::tenant::find(root.as_ref(), raw).await?;
        if !tenant.id.is_default() {
            return Ok(prov_core::tenant::service_for(&root, &tenant, config, None, false).await?);
        }
    }
    open_default_service(config, root).await
}

/// The default tenant's service: innovaphone mode when an instance password is configured or
/// stored, with the configured domain.
async fn open_default_service(config: &Config, store: Arc<dyn Store>) -> anyhow::Result<Service> {
    let rps = std::sync::Arc::new(prov_core::rps::outbox::RpsFlow::new(
        store.clone(),
        config.rps.account(),
        std::time::Duration::from_secs(config.rps_timeout_secs),
        config.rps_rate_per_second,
    )?);
    let innovaphone_on = config.innovaphone.password.is_some()
        || store
            .get_meta(crate::app_service::META_INSTANCE_PASSWORD)
            .await?
            .is_some_and(|p| !p.is_empty());
    let service = Service::new(store, rps, Some(config.fallback_base_url()), false).await?;
    if innovaphone_on {
        service.set_app_service(prov_core::service::AppServiceMode {
            domain: config.innovaphone.domain.clone(),
            fallback_is_public: false,
        });
    }
    Ok(service)
}

pub(super) fn parse_mac(raw: &str) -> anyhow::Result<Mac> {
    Mac::parse(raw).map_err(|e| anyhow::anyhow!("invalid MAC {raw:?}: {e}"))
}
