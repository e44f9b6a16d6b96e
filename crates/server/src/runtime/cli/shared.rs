//! What the command groups share: a service opened on the store, MAC parsing.

use yealink::Mac;

use prov_core::config::Config;
use prov_core::service::Service;

/// Opens the store and a service for one-shot commands.
pub(super) async fn open_service(config: &Config) -> anyhow::Result<Service> {
    let store = crate::runtime::key_file::open_store(config).await?;
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
        });
    }
    Ok(service)
}

pub(super) fn parse_mac(raw: &str) -> anyhow::Result<Mac> {
    Mac::parse(raw).map_err(|e| anyhow::anyhow!("invalid MAC {raw:?}: {e}"))
}
