//! The provider's tenant routes of the admin API (`/api/v1/tenants`), on the default tenant's
//! site only: its administrators are the provider's. A tenant's own site has no such routes.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use prov_store::{Store, Tenant, TenantId};
use serde::Deserialize;
use serde_json::{Value, json};

use super::api::ApiError;
use crate::web::state::AppState;
use prov_core::admin_auth::AdminAuthError;
use prov_core::error::ServiceError;
use prov_core::settings::FieldError;
use prov_core::tenant::{self, Removal};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/tenants", get(list).post(add))
        .route("/tenants/{id}", get(show).delete(remove))
}

#[derive(Deserialize)]
pub struct NewTenant {
    domain: String,
    #[serde(default)]
    name: Option<String>,
}

async fn view(root: &dyn Store, t: &Tenant, base: &str) -> Result<Value, ApiError> {
    let devices = root
        .for_tenant(t.id)
        .device_count()
        .await
        .map_err(ServiceError::from)?;
    let (url, _) = tenant::fallback_base_url(root, base, t).await?;
    Ok(json!({
        "id": t.id,
        "tenant": if t.id.is_default() { tenant::DEFAULT_LABEL.to_owned() } else { t.label() },
        "domain": t.domain,
        "name": t.name,
        "path": format!("{}/", tenant::path_prefix(t)),
        "base_url": format!("{url}/"),
        "devices": devices,
        "created_at": json!(t)["created_at"],
    }))
}

async fn list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let root = state.service.store();
    let base = state.service.base_url();
    let mut out = Vec::new();
    for t in root.list_tenants().await.map_err(ServiceError::from)? {
        out.push(view(root.as_ref(), &t, &base).await?);
    }
    Ok(Json(Value::Array(out)))
}

async fn find(state: &AppState, id: i64) -> Result<Tenant, ApiError> {
    state
        .service
        .store()
        .get_tenant(TenantId::new(id))
        .await
        .map_err(ServiceError::from)?
        .ok_or_else(|| {
            ApiError::from(FieldError {
                field: "id",
                message: format!("no tenant {id}"),
            })
        })
}

async fn show(State(state): State<AppState>, Path(id): Path<i64>) -> Result<Response, ApiError> {
    let t = match find(&state, id).await {
        Ok(t) => t,
        Err(_) => return Ok(not_found(id)),
    };
    let base = state.service.base_url();
    Ok(Json(view(state.service.store().as_ref(), &t, &base).await?).into_response())
}

/// Adds a tenant and answers with it and its administrators' password (shown only now).
async fn add(
    State(state): State<AppState>,
    Json(body): Json<NewTenant>,
) -> Result<Response, ApiError> {
    let root = state.service.store();
    let (t, password) = match tenant::add(root.as_ref(), &body.domain, body.name.as_deref()).await {
        Ok(added) => added,
        Err(AdminAuthError::Service(ServiceError::Store(
            e @ prov_store::StoreError::DuplicateTenant { .. },
        ))) => {
            return Ok(
                (StatusCode::CONFLICT, Json(json!({"error": e.to_string()}))).into_response(),
            );
        }
        Err(AdminAuthError::Service(e)) => return Err(e.into()),
        Err(e) => {
            tracing::error!(error = %e, "a new tenant's admin password");
            return Err(ApiError::BadRequest(format!("{e}; try again")));
        }
    };
    let mut answer = view(root.as_ref(), &t, &state.service.base_url()).await?;
    answer["admin_password"] = json!(password);
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// Removes a tenant without phones. Its phones go first (each removal deregisters it at RPS,
/// which the tenant's site sends); `yealink-prov tenant remove` does both and waits for RPS.
async fn remove(State(state): State<AppState>, Path(id): Path<i64>) -> Result<Response, ApiError> {
    let root = state.service.store();
    let conflict =
        |error: String| Ok((StatusCode::CONFLICT, Json(json!({ "error": error }))).into_response());
    match tenant::remove_if_idle(root.as_ref(), TenantId::new(id)).await? {
        Removal::Removed(_) => Ok(StatusCode::NO_CONTENT.into_response()),
        Removal::NotFound => Ok(not_found(id)),
        Removal::Default => conflict("the default tenant cannot be removed".into()),
        Removal::Busy { devices, queued } => conflict(format!(
            "tenant {id} still has {devices} phone(s) and {queued} RPS command(s) waiting; \
             remove its phones first (each removal deregisters it at RPS) and try again once \
             RPS has taken the commands, or run `yealink-prov tenant remove`"
        )),
    }
}

fn not_found(id: i64) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"error": format!("no tenant {id}")})),
    )
        .into_response()
}
