//! The service's errors; the HTTP layer maps them to status codes in one place (`api::ApiError`).

use yealink::Mac;

use crate::settings::FieldError;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    // Transparent: with "{0}" and a source, `{:#}` printed the field error twice.
    #[error(transparent)]
    Invalid(#[from] FieldError),
    #[error("a device with MAC {0} already exists")]
    Duplicate(Mac),
    #[error("no device with MAC {0}")]
    NotFound(Mac),
    /// The MAC is a device of another tenant (RPS redirects a MAC to one server only). The
    /// message names that tenant, for the provider; a tenant's administrators get
    /// [`ServiceError::other_tenant_public`] instead.
    #[error("MAC {mac} is already a device of tenant {tenant}; remove it there first")]
    OtherTenant { mac: Mac, tenant: String },
    #[error("cannot render {file}: {reason}")]
    Render { file: String, reason: String },
    #[error("the stored settings cannot be read ({0}); fix them with `yealink-prov settings set`")]
    CorruptSettings(String),
    #[error("RPS: {0}")]
    Rps(String),
    #[error("storage: {0}")]
    Store(prov_store::StoreError),
}

impl From<prov_store::StoreError> for ServiceError {
    fn from(e: prov_store::StoreError) -> Self {
        match e {
            prov_store::StoreError::DuplicateMac(mac) => ServiceError::Duplicate(mac),
            prov_store::StoreError::NotFound(mac) => ServiceError::NotFound(mac),
            prov_store::StoreError::MacInOtherTenant { mac, tenant } => {
                ServiceError::OtherTenant { mac, tenant }
            }
            other => ServiceError::Store(other),
        }
    }
}

impl ServiceError {
    /// What a tenant's administrators are told about [`ServiceError::OtherTenant`]: not which
    /// tenant, which is another customer's business.
    pub fn other_tenant_public(mac: Mac) -> String {
        format!(
            "MAC {mac} is already provisioned by another customer of this service; ask the \
             provider to release it"
        )
    }
}
