//! Tenants: the PBX domains one deployment serves, each what innovaphone's App Platform
//! Manager calls an instance of the app, reached under `/<domain>/<name>/` (docs/tenants.md).
//! This module names and finds them; the store scopes every query to one
//! ([`prov_store::Store::for_tenant`]).

use std::sync::Arc;
use std::time::Duration;

use prov_store::{Store, Tenant, TenantId};

use crate::config::Config;
use crate::error::ServiceError;
use crate::rps::outbox::RpsFlow;
use crate::service::{AppServiceMode, Service};
use crate::settings::FieldError;

/// The instance name `tenant add` gives when none is said: the app's own name, as the
/// App Platform Manager suggests it for the app's first instance.
pub const DEFAULT_NAME: &str = "yealink";

/// The label of the default tenant, which has no domain of its own.
pub const DEFAULT_LABEL: &str = "default";

/// The URL path every address of `tenant` starts with: `/<domain>/<name>`; empty for the
/// default tenant, which keeps the addresses of a single-PBX set-up.
pub fn path_prefix(tenant: &Tenant) -> String {
    if tenant.id.is_default() {
        String::new()
    } else {
        format!("/{}/{}", tenant.domain, tenant.name)
    }
}

/// A PBX domain as typed: lower-cased; letters, digits, dots and hyphens (a DNS name).
pub fn parse_domain(raw: &str) -> Result<String, ServiceError> {
    let domain = raw.trim().trim_end_matches('.').to_ascii_lowercase();
    let ok = !domain.is_empty()
        && domain.len() <= 253
        && domain
            .split('.')
            .all(|label| !label.is_empty() && label.len() <= 63)
        && domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    if ok {
        Ok(domain)
    } else {
        Err(invalid(
            "domain",
            format!("{raw:?} is not a domain name (letters, digits, dots and hyphens)"),
        ))
    }
}

/// An instance name as in the App Platform URL: 1 to 63 lower-case letters, digits, `-`, `_`.
pub fn parse_name(raw: &str) -> Result<String, ServiceError> {
    let name = raw.trim().to_ascii_lowercase();
    let ok = (1..=63).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok && name != DEFAULT_LABEL {
        Ok(name)
    } else {
        Err(invalid(
            "name",
            format!(
                "{raw:?} is not an instance name (1 to 63 letters, digits, '-' or '_'; not \
                 \"{DEFAULT_LABEL}\")"
            ),
        ))
    }
}

/// `DOMAIN/NAME`, or `DOMAIN` alone for the name [`DEFAULT_NAME`].
pub fn parse_label(raw: &str) -> Result<(String, String), ServiceError> {
    match raw.trim().split_once('/') {
        Some((domain, name)) => Ok((parse_domain(domain)?, parse_name(name)?)),
        None => Ok((parse_domain(raw)?, DEFAULT_NAME.to_owned())),
    }
}

/// The tenant a person named: `default`, `DOMAIN/NAME`, or `DOMAIN` when that domain has one
/// tenant only.
pub async fn find(store: &dyn Store, raw: &str) -> Result<Tenant, ServiceError> {
    let raw = raw.trim();
    let all = store.list_tenants().await?;
    if raw.eq_ignore_ascii_case(DEFAULT_LABEL)
        && let Some(t) = all.iter().find(|t| t.id == TenantId::DEFAULT)
    {
        return Ok(t.clone());
    }
    let matches: Vec<&Tenant> = match raw.split_once('/') {
        Some(_) => {
            let (domain, name) = parse_label(raw)?;
            all.iter()
                .filter(|t| t.domain == domain && t.name == name)
                .collect()
        }
        None => {
            let domain = parse_domain(raw)?;
            all.iter().filter(|t| t.domain == domain).collect()
        }
    };
    match matches.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(invalid(
            "tenant",
            format!("no tenant {raw:?}; `yealink-prov tenant list` shows them"),
        )),
        several => Err(invalid(
            "tenant",
            format!(
                "{raw:?} has {} tenants; name one as DOMAIN/NAME: {}",
                several.len(),
                several
                    .iter()
                    .map(|t| t.label())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

/// The base URL of `tenant`'s phones and PBX when its settings name none: the deployment's
/// address (the default tenant's `public_base_url`, else `fallback`) followed by the tenant's
/// path prefix; `true` when it is the public address.
pub async fn fallback_base_url(
    root: &dyn Store,
    fallback: &str,
    tenant: &Tenant,
) -> Result<(String, bool), ServiceError> {
    let deployment = if root.tenant_id().is_default() {
        crate::service::load_settings(root).await?.public_base_url
    } else {
        let default = root.for_tenant(TenantId::DEFAULT);
        crate::service::load_settings(default.as_ref())
            .await?
            .public_base_url
    };
    let public = deployment.is_some();
    let base = deployment.unwrap_or_else(|| fallback.to_owned());
    Ok((
        format!("{}{}", base.trim_end_matches('/'), path_prefix(tenant)),
        public,
    ))
}

/// The service of one tenant, on the same database as `root`: its RPS flow (the account of the
/// configuration file unless the tenant's settings name its own), and, for a tenant other than
/// the default, the innovaphone App Service mode with the tenant's domain as RPS server name.
pub async fn service_for(
    root: &Arc<dyn Store>,
    tenant: &Tenant,
    config: &Config,
    instance: Option<Arc<crate::instance::Instance>>,
    load_cache: bool,
) -> Result<Service, ServiceError> {
    let store = root.for_tenant(tenant.id);
    let mut rps = RpsFlow::new(
        store.clone(),
        config.rps.account(),
        Duration::from_secs(config.rps_timeout_secs),
        config.rps_rate_per_second,
    )?;
    if let Some(instance) = instance {
        rps = rps.with_instance(instance);
    }
    let (base, public) =
        fallback_base_url(root.as_ref(), &config.fallback_base_url(), tenant).await?;
    let service = Service::new(store, Arc::new(rps), Some(base), load_cache).await?;
    if !tenant.id.is_default() {
        service.set_app_service(AppServiceMode {
            domain: Some(tenant.domain.clone()),
            fallback_is_public: public,
        });
    }
    Ok(service)
}

/// Adds the tenant `domain`/`name` (`name` defaults to [`DEFAULT_NAME`]) with an admin
/// password of its own: the tenant and that password (to be shown once).
pub async fn add(
    root: &dyn Store,
    domain: &str,
    name: Option<&str>,
) -> Result<(Tenant, Option<String>), crate::admin_auth::AdminAuthError> {
    let domain = parse_domain(domain)?;
    let name = match name.map(str::trim).filter(|n| !n.is_empty()) {
        Some(n) => parse_name(n)?,
        None => DEFAULT_NAME.to_owned(),
    };
    let tenant = root.create_tenant(&name, &domain).await?;
    let scoped = root.for_tenant(tenant.id);
    let password = crate::admin_auth::ensure_admin_credential(scoped.as_ref(), None).await?;
    Ok((tenant, password))
}

/// What [`remove_if_idle`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Removal {
    Removed(Tenant),
    NotFound,
    /// The default tenant stays.
    Default,
    /// Phones or RPS commands are left: removing each phone deregisters it at RPS, and those
    /// commands must reach RPS before the tenant's queue goes with it.
    Busy {
        devices: u64,
        queued: u64,
    },
}

/// Removes tenant `id` if it has no phones and no RPS command waiting.
pub async fn remove_if_idle(root: &dyn Store, id: TenantId) -> Result<Removal, ServiceError> {
    let Some(tenant) = root.get_tenant(id).await? else {
        return Ok(Removal::NotFound);
    };
    if id.is_default() {
        return Ok(Removal::Default);
    }
    let scoped = root.for_tenant(id);
    let devices = scoped.device_count().await?;
    let queued = scoped
        .rps_queue_stats(time::OffsetDateTime::now_utc())
        .await?
        .pending;
    if devices > 0 || queued > 0 {
        return Ok(Removal::Busy { devices, queued });
    }
    root.delete_tenant(id).await?;
    Ok(Removal::Removed(tenant))
}

fn invalid(field: &'static str, message: String) -> ServiceError {
    ServiceError::Invalid(FieldError { field, message })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_and_names_are_checked_and_lower_cased() {
        assert_eq!(parse_domain("PBX.Example.com.").unwrap(), "pbx.example.com");
        assert!(parse_domain("a b.com").is_err());
        assert!(parse_domain("a..com").is_err());
        assert!(parse_domain("").is_err());
        assert_eq!(parse_name("Yealink_2").unwrap(), "yealink_2");
        assert!(parse_name("a/b").is_err());
        assert!(parse_name("default").is_err(), "the default tenant's label");
        assert!(parse_name(&"x".repeat(64)).is_err());
        assert_eq!(
            parse_label("example.com").unwrap(),
            ("example.com".into(), DEFAULT_NAME.into())
        );
        assert_eq!(
            parse_label("example.com/prov").unwrap(),
            ("example.com".into(), "prov".into())
        );
    }
}
