//! The provider's view (`/ui/tenants`, the default tenant's site only): the tenants this
//! deployment serves, adding one (its admin password shown once) and removing an idle one.
//! The same rules as the API and the CLI (`prov_core::tenant`).

use askama::Template;
use askama_web::WebTemplate;
use axum::Extension;
use axum::extract::{Form, Path, State};
use axum::response::{IntoResponse, Response};
use prov_store::{Store, TenantId};
use serde::Deserialize;

use super::common::error_fragment;
use crate::admin::ui::session::Session;
use crate::admin::ui::view::fmt_time;
use crate::web::i18n::{Lang, Tr};
use crate::web::state::AppState;
use prov_core::admin_auth::AdminAuthError;
use prov_core::error::ServiceError;
use prov_core::tenant::{self, Removal};

/// One tenant, ready for the template.
pub struct TenantRow {
    pub id: i64,
    pub label: String,
    /// Where its administrators sign in.
    pub ui: String,
    pub devices: u64,
    pub created: String,
    pub default: bool,
}

/// What the last action did, shown above the table.
pub struct Outcome {
    pub ok: bool,
    pub text: String,
    /// A new tenant's admin password, shown this once.
    pub password: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "tenants.html")]
pub struct TenantsPage {
    t: Tr,
    csrf: String,
    tab: &'static str,
    section: TenantsSection,
}

#[derive(Template, WebTemplate)]
#[template(path = "tenants_section.html")]
pub struct TenantsSection {
    t: Tr,
    tenants: Vec<TenantRow>,
    outcome: Option<Outcome>,
}

async fn rows(state: &AppState) -> Result<Vec<TenantRow>, ServiceError> {
    let root = state.service.store();
    let base = state.service.base_url();
    let mut rows = Vec::new();
    for t in root.list_tenants().await? {
        let devices = root.for_tenant(t.id).device_count().await?;
        let (url, _) = tenant::fallback_base_url(root.as_ref(), &base, &t).await?;
        rows.push(TenantRow {
            id: t.id.get(),
            label: if t.id.is_default() {
                tenant::DEFAULT_LABEL.to_owned()
            } else {
                t.label()
            },
            ui: format!("{url}/ui/"),
            devices,
            created: if t.id.is_default() {
                "–".to_owned()
            } else {
                fmt_time(t.created_at)
            },
            default: t.id.is_default(),
        });
    }
    Ok(rows)
}

async fn section(state: &AppState, t: Tr, outcome: Option<Outcome>) -> Response {
    match rows(state).await {
        Ok(tenants) => TenantsSection {
            t,
            tenants,
            outcome,
        }
        .into_response(),
        Err(e) => error_fragment(t, &e),
    }
}

pub async fn page(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    lang: Lang,
) -> Response {
    let t = Tr(lang);
    match rows(&state).await {
        Ok(tenants) => TenantsPage {
            t,
            csrf: session.csrf.clone(),
            tab: "tenants",
            section: TenantsSection {
                t,
                tenants,
                outcome: None,
            },
        }
        .into_response(),
        Err(e) => error_fragment(t, &e),
    }
}

#[derive(Deserialize)]
pub struct AddForm {
    domain: String,
    #[serde(default)]
    name: String,
}

pub async fn add(State(state): State<AppState>, lang: Lang, Form(form): Form<AddForm>) -> Response {
    let t = Tr(lang);
    let root: &dyn Store = state.service.store().as_ref();
    let outcome = match tenant::add(root, &form.domain, Some(&form.name)).await {
        Ok((added, password)) => Outcome {
            ok: true,
            text: format!("{} {}", t.get("tenants.added"), added.label()),
            password,
        },
        Err(AdminAuthError::Service(e @ (ServiceError::Invalid(_) | ServiceError::Store(_)))) => {
            let text = match &e {
                ServiceError::Store(prov_store::StoreError::DuplicateTenant { .. }) => {
                    e.to_string()
                }
                ServiceError::Invalid(_) => e.to_string(),
                other => {
                    tracing::error!(error = %other, "cannot add a tenant");
                    t.get("error.internal").to_owned()
                }
            };
            Outcome {
                ok: false,
                text,
                password: None,
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot add a tenant");
            Outcome {
                ok: false,
                text: t.get("error.internal").to_owned(),
                password: None,
            }
        }
    };
    section(&state, t, Some(outcome)).await
}

pub async fn remove(State(state): State<AppState>, lang: Lang, Path(id): Path<i64>) -> Response {
    let t = Tr(lang);
    let outcome =
        match tenant::remove_if_idle(state.service.store().as_ref(), TenantId::new(id)).await {
            Ok(Removal::Removed(gone)) => Outcome {
                ok: true,
                text: format!("{} {}", t.get("tenants.removed"), gone.label()),
                password: None,
            },
            Ok(Removal::NotFound | Removal::Default) => Outcome {
                ok: false,
                text: t.get("tenants.not_removable").to_owned(),
                password: None,
            },
            Ok(Removal::Busy { devices, queued }) => Outcome {
                ok: false,
                text: t
                    .get("tenants.busy")
                    .replace("{devices}", &devices.to_string())
                    .replace("{queued}", &queued.to_string()),
                password: None,
            },
            Err(e) => return error_fragment(t, &e),
        };
    section(&state, t, Some(outcome)).await
}
