//! The JSON admin API under `/api/v1`, described by `openapi.json` (served at
//! `/api/v1/openapi.json`). Every route but the document itself needs the admin credential.

use axum::extract::rejection::JsonRejection;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use prov_store::{DeviceQuery, DeviceSort};
use serde::Deserialize;
use serde_json::{Value, json};
use yealink::{Mac, PhoneFile};

use crate::web::state::AppState;
use prov_core::admin_auth::AdminCheck;
use prov_core::audit::Actor;
use prov_core::device_input::{DeviceInput, DevicePatch};
use prov_core::error::ServiceError;
use prov_core::import::parse_csv;
use prov_core::settings::{FieldError, Settings};
use prov_core::views::{DeviceView, RequestView};

pub const OPENAPI: &str = include_str!("openapi.json");

/// `more`: further routes behind the same admin check (the provider's tenant routes on the
/// default tenant's site).
pub fn routes(state: AppState, more: Router<AppState>) -> Router<AppState> {
    let protected = Router::new()
        .merge(more)
        .route("/devices", get(list_devices).post(add_device))
        .route(
            "/devices/import",
            // The import's own limit, not the server-wide one for everything else.
            axum::routing::post(import_devices).layer(axum::extract::DefaultBodyLimit::max(
                prov_core::import::MAX_CSV,
            )),
        )
        .route(
            "/devices/{mac}",
            get(show_device).patch(update_device).delete(remove_device),
        )
        .route("/devices/{mac}/files/{file}", get(render_file))
        .route("/devices/{mac}/requests", get(device_requests))
        .route("/requests", get(all_requests))
        .route(
            "/settings",
            get(get_settings).put(put_settings).patch(patch_settings),
        )
        .route(
            "/devices/{mac}/redirect",
            axum::routing::post(resend_redirect),
        )
        .route("/rps/status", get(rps_status))
        .route("/rps/history", get(rps_history))
        .route("/changes", get(changes))
        .route("/rps/check/{mac}", axum::routing::post(rps_check))
        .route("/rps/retry", axum::routing::post(rps_retry))
        .route("/innovaphone/status", get(innovaphone_status))
        .route("/time-zones", get(time_zones))
        .route("/locations", get(locations))
        .layer(middleware::from_fn_with_state(state, require_admin));
    Router::new()
        .route("/openapi.json", get(openapi))
        .merge(protected)
}

/// Errors as the API shows them: a status and `{"error": "...", "field": "..."}`.
pub enum ApiError {
    Service(ServiceError),
    BadRequest(String),
    Unauthorized,
    /// Too many wrong passwords from this address; retry after this.
    TooMany(std::time::Duration),
    /// Too many password checks running; retry in a second.
    Busy,
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        ApiError::Service(e)
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        ApiError::Service(ServiceError::Invalid(e))
    }
}

impl From<JsonRejection> for ApiError {
    fn from(e: JsonRejection) -> Self {
        ApiError::BadRequest(e.body_text())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = match self {
            ApiError::Service(ServiceError::Invalid(e)) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"error": e.to_string(), "field": e.field}),
            ),
            ApiError::Service(e @ ServiceError::Duplicate(_)) => {
                (StatusCode::CONFLICT, json!({"error": e.to_string()}))
            }
            ApiError::Service(ServiceError::OtherTenant { mac, .. }) => (
                StatusCode::CONFLICT,
                json!({"error": ServiceError::other_tenant_public(mac)}),
            ),
            ApiError::Service(e @ ServiceError::NotFound(_)) => {
                (StatusCode::NOT_FOUND, json!({"error": e.to_string()}))
            }
            ApiError::Service(e @ ServiceError::Rps(_)) => (
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"error": e.to_string()}),
            ),
            // Full or locked: temporary, and the user can act (free space, stop the other
            // writer); the reason names no data.
            ApiError::Service(ServiceError::Store(ref e)) if e.cannot_write_reason().is_some() => {
                tracing::error!(error = %e, "admin API request failed");
                let reason = e.cannot_write_reason().unwrap_or_default();
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    json!({"error": format!("{reason}; try again later")}),
                )
            }
            ApiError::Service(e) => {
                tracing::error!(error = %e, "admin API request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({"error": "internal error; see the server log"}),
                )
            }
            ApiError::BadRequest(message) => (StatusCode::BAD_REQUEST, json!({"error": message})),
            ApiError::TooMany(wait) => {
                return retry_later(
                    StatusCode::TOO_MANY_REQUESTS,
                    wait,
                    "too many wrong admin passwords from this address; try again later",
                );
            }
            ApiError::Busy => {
                return retry_later(
                    StatusCode::SERVICE_UNAVAILABLE,
                    std::time::Duration::from_secs(1),
                    "too many password checks at once; try again in a second",
                );
            }
            ApiError::Unauthorized => {
                let mut response = (
                    StatusCode::UNAUTHORIZED,
                    Json(json!({"error": "admin credential required (Bearer or Basic admin:PASSWORD)"})),
                )
                    .into_response();
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"yealink-prov admin\""),
                );
                return response;
            }
        };
        (status, Json(body)).into_response()
    }
}

/// A JSON error with `Retry-After` (whole seconds, at least 1).
fn retry_later(status: StatusCode, wait: std::time::Duration, message: &str) -> Response {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    (
        status,
        [(header::RETRY_AFTER, secs.max(1).to_string())],
        Json(json!({"error": message})),
    )
        .into_response()
}

type ApiResult<T> = Result<T, ApiError>;

async fn require_admin(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let password = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(admin_password_from_header);
    let Some(password) = password else {
        // No credential at all is not a guess: it uses none of the address's budget.
        return ApiError::Unauthorized.into_response();
    };
    let ip = peer_ip(&request);
    match state.admin.check(ip, &password).await {
        Ok(AdminCheck::Ok) => next.run(request).await,
        Ok(AdminCheck::Wrong) => {
            metrics::counter!("admin_auth_failures_total").increment(1);
            tracing::warn!(%ip, "admin API: wrong password");
            ApiError::Unauthorized.into_response()
        }
        Ok(AdminCheck::Limited(wait)) => {
            metrics::counter!("admin_auth_failures_total").increment(1);
            ApiError::TooMany(wait).into_response()
        }
        Ok(AdminCheck::Busy) => ApiError::Busy.into_response(),
        Err(prov_core::admin_auth::AdminAuthError::Service(e)) => {
            ApiError::Service(e).into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "admin API: cannot check the password");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({"error": "internal error; see the server log"})),
            )
                .into_response()
        }
    }
}

/// The client's address (the listener puts it on every request; `0.0.0.0` in router tests).
pub fn peer_ip(request: &Request) -> std::net::IpAddr {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(std::net::IpAddr::from([0, 0, 0, 0]), |c| c.0.ip())
}

fn admin_password_from_header(value: &str) -> Option<String> {
    let (scheme, rest) = value.trim().split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(rest.trim().to_owned());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest.trim())
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (user, password) = text.split_once(':')?;
        return (user == "admin").then(|| password.to_owned());
    }
    None
}

fn parse_mac(raw: &str) -> ApiResult<Mac> {
    Mac::parse(raw).map_err(|e| {
        ApiError::from(FieldError {
            field: "mac",
            message: e.to_string(),
        })
    })
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    search: Option<String>,
    sort: Option<String>,
    #[serde(default)]
    desc: bool,
    #[serde(default)]
    offset: u32,
    #[serde(default)]
    limit: u32,
}

async fn list_devices(
    State(state): State<AppState>,
    Query(params): Query<ListParams>,
) -> ApiResult<Json<Value>> {
    let sort = match params.sort.as_deref() {
        None | Some("mac") => DeviceSort::Mac,
        Some("name") => DeviceSort::Name,
        Some("last_config_request") => DeviceSort::LastConfigRequest,
        Some("created_at") => DeviceSort::CreatedAt,
        Some(other) => {
            return Err(FieldError {
                field: "sort",
                message: format!(
                    "unknown sort {other:?}; use mac, name, last_config_request or created_at"
                ),
            }
            .into());
        }
    };
    let query = DeviceQuery {
        search: params.search.filter(|s| !s.trim().is_empty()),
        sort,
        descending: params.desc,
        offset: params.offset,
        limit: params.limit,
    };
    let page = state.service.list_devices(&query).await?;
    let items: Vec<DeviceView> = page
        .items
        .iter()
        .map(|d| DeviceView::new(&state.service, d, false))
        .collect();
    Ok(Json(json!({"items": items, "total": page.total})))
}

async fn add_device(
    State(state): State<AppState>,
    body: Result<Json<DeviceInput>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let Json(input) = body?;
    let record = state.service.add_device(input, &Actor::api()).await?;
    let device = state.service.get_device(record.mac).await?;
    let mut answer = serde_json::to_value(DeviceView::new(&state.service, &device, false))
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    // Added all the same: the OUI list is a hint (see `oui_warning`).
    if let (Some(warning), Value::Object(fields)) = (
        prov_core::device_input::oui_warning(record.mac),
        &mut answer,
    ) {
        fields.insert("warning".into(), Value::String(warning));
    }
    Ok((StatusCode::CREATED, Json(answer)))
}

#[derive(Deserialize)]
struct ShowParams {
    #[serde(default)]
    reveal: bool,
}

async fn show_device(
    State(state): State<AppState>,
    Path(mac): Path<String>,
    Query(params): Query<ShowParams>,
) -> ApiResult<Json<DeviceView>> {
    let device = state.service.get_device(parse_mac(&mac)?).await?;
    let mut view = DeviceView::new(&state.service, &device, params.reveal);
    // The SIP password is the administrator's own input: the API never gives it back.
    view.sip_password = prov_core::secret::MASK.to_owned();
    if let Some(inn) = &state.innovaphone {
        view.innovaphone = inn.view(device.record.mac).await?;
    }
    Ok(Json(view))
}

async fn update_device(
    State(state): State<AppState>,
    Path(mac): Path<String>,
    body: Result<Json<DevicePatch>, JsonRejection>,
) -> ApiResult<Json<DeviceView>> {
    let Json(patch) = body?;
    let record = state
        .service
        .update_device(parse_mac(&mac)?, patch, &Actor::api())
        .await?;
    let device = state.service.get_device(record.mac).await?;
    Ok(Json(DeviceView::new(&state.service, &device, false)))
}

async fn remove_device(
    State(state): State<AppState>,
    Path(mac): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .service
        .remove_device(parse_mac(&mac)?, &Actor::api())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn render_file(
    State(state): State<AppState>,
    Path((mac, file)): Path<(String, String)>,
) -> ApiResult<Response> {
    let mac = parse_mac(&mac)?;
    let device = state.service.get_device(mac).await?;
    let file = resolve_file_name(mac, &file)?;
    match state.service.render_for_admin(&device, file).await? {
        Some(text) => Ok((
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            yealink::mask_secrets(&text),
        )
            .into_response()),
        None => Ok((
            StatusCode::NOT_FOUND,
            Json(json!({"error": format!("{} is not served to this phone", file.file_name())})),
        )
            .into_response()),
    }
}

/// `boot`, `common`, `cfg`, `local` or a real file name of this device.
pub fn resolve_file_name(mac: Mac, name: &str) -> Result<PhoneFile, FieldError> {
    let file = match name {
        "boot" => Some(PhoneFile::MacBoot(mac)),
        "cfg" | "mac" => Some(PhoneFile::MacCfg(mac)),
        "local" => Some(PhoneFile::MacLocalCfg(mac)),
        "common" => None,
        other => yealink::classify_file(other),
    };
    match file {
        Some(f) if f.mac().is_none_or(|m| m == mac) => Ok(f),
        _ if name == "common" => Err(FieldError {
            field: "file",
            message: "name the common file by its model code, e.g. y000000000108.cfg".into(),
        }),
        _ => Err(FieldError {
            field: "file",
            message: format!(
                "{name:?} is not a file of this phone; use boot, cfg, local, <mac>.boot, <mac>.cfg, <mac>-local.cfg or y000000000NNN.cfg"
            ),
        }),
    }
}

#[derive(Deserialize)]
struct LimitParams {
    limit: Option<u32>,
    mac: Option<String>,
}

async fn device_requests(
    State(state): State<AppState>,
    Path(mac): Path<String>,
    Query(params): Query<LimitParams>,
) -> ApiResult<Json<Vec<RequestView>>> {
    let mac = parse_mac(&mac)?;
    let rows = state
        .service
        .store()
        .list_phone_requests(Some(mac), params.limit.unwrap_or(100).min(1000))
        .await
        .map_err(ServiceError::from)?;
    Ok(Json(rows.iter().map(RequestView::from).collect()))
}

async fn all_requests(
    State(state): State<AppState>,
    Query(params): Query<LimitParams>,
) -> ApiResult<Json<Vec<RequestView>>> {
    let mac = params.mac.as_deref().map(parse_mac).transpose()?;
    let rows = state
        .service
        .store()
        .list_phone_requests(mac, params.limit.unwrap_or(100).min(1000))
        .await
        .map_err(ServiceError::from)?;
    Ok(Json(rows.iter().map(RequestView::from).collect()))
}

async fn get_settings(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    settings_answer(&state).await
}

/// The settings as the API shows them: the RPS secret only as "set or not".
async fn settings_answer(state: &AppState) -> ApiResult<Json<Value>> {
    let mut value = serde_json::to_value(state.service.settings().as_ref())
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let has_secret = state.service.rps().has_own_secret().await?;
    if let Value::Object(fields) = &mut value {
        fields.insert(
            "rps_secret".into(),
            if has_secret {
                json!(prov_core::secret::MASK)
            } else {
                Value::Null
            },
        );
    }
    Ok(Json(value))
}

/// Takes `rps_secret` out of a settings document and stores it apart (write-only). Returns
/// whether a new secret was stored.
async fn take_rps_secret(
    state: &AppState,
    settings: &Settings,
    fields: &mut serde_json::Map<String, Value>,
) -> ApiResult<bool> {
    match fields.remove("rps_secret") {
        None | Some(Value::Null) => Ok(false),
        Some(Value::String(s)) if s == prov_core::secret::MASK => Ok(false),
        Some(Value::String(s)) => {
            prov_core::settings::validate_rps_secret(settings, &s)?;
            state.service.rps().set_own_secret(s.trim()).await?;
            Ok(true)
        }
        Some(_) => Err(FieldError {
            field: "rps_secret",
            message: "must be a string".into(),
        }
        .into()),
    }
}

async fn put_settings(
    State(state): State<AppState>,
    body: Result<Json<Value>, JsonRejection>,
) -> ApiResult<Json<Value>> {
    let Json(body) = body?;
    let Value::Object(mut fields) = body else {
        return Err(ApiError::BadRequest("expected a JSON object".into()));
    };
    let settings: Settings = serde_json::from_value(Value::Object(fields.clone()))
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    settings.validate()?;
    let secret_set = take_rps_secret(&state, &settings, &mut fields).await?;
    state
        .service
        .update_settings(settings, &Actor::api(), secret_set)
        .await?;
    settings_answer(&state).await
}

/// Merges the given fields into the current settings.
async fn patch_settings(
    State(state): State<AppState>,
    body: Result<Json<Value>, JsonRejection>,
) -> ApiResult<Json<Value>> {
    let Json(patch) = body?;
    let Value::Object(mut patch) = patch else {
        return Err(ApiError::BadRequest("expected a JSON object".into()));
    };
    let secret = patch.remove("rps_secret");
    let mut current = serde_json::to_value(state.service.settings().as_ref())
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    if let Value::Object(fields) = &mut current {
        for (key, value) in patch {
            if !fields.contains_key(&key) {
                let hint = prov_core::settings::did_you_mean(
                    &key,
                    fields
                        .keys()
                        .map(String::as_str)
                        .chain(std::iter::once("rps_secret")),
                );
                return Err(FieldError {
                    field: "settings",
                    message: format!("unknown setting {key:?}{hint}"),
                }
                .into());
            }
            fields.insert(key, value);
        }
    }
    let settings: Settings =
        serde_json::from_value(current).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    settings.validate()?;
    let mut secret_set = false;
    if let Some(secret) = secret {
        let mut fields = serde_json::Map::new();
        fields.insert("rps_secret".into(), secret);
        secret_set = take_rps_secret(&state, &settings, &mut fields).await?;
    }
    state
        .service
        .update_settings(settings, &Actor::api(), secret_set)
        .await?;
    settings_answer(&state).await
}

async fn resend_redirect(
    State(state): State<AppState>,
    Path(mac): Path<String>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let mac = parse_mac(&mac)?;
    state.service.resend_redirect(mac, &Actor::api()).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"queued": ["DEREGISTER_DEVICE", "REDIRECT_DEVICE"], "mac": mac.to_string()})),
    ))
}

#[derive(Deserialize)]
struct StatusParams {
    #[serde(default)]
    probe: bool,
}

async fn rps_status(
    State(state): State<AppState>,
    Query(params): Query<StatusParams>,
) -> ApiResult<Json<prov_core::rps::outbox::RpsStatus>> {
    let service = &state.service;
    Ok(Json(service.rps_status(params.probe).await?))
}

#[derive(Deserialize)]
struct HistoryParams {
    mac: Option<String>,
    command: Option<String>,
    #[serde(default)]
    offset: u32,
    #[serde(default)]
    limit: u32,
}

#[derive(Deserialize)]
struct ChangeParams {
    mac: Option<String>,
    #[serde(default)]
    offset: u32,
    #[serde(default)]
    limit: u32,
}

/// The audit of changes, newest first: who changed what (names, never values).
async fn changes(
    State(state): State<AppState>,
    Query(params): Query<ChangeParams>,
) -> ApiResult<Json<Value>> {
    let mac = params.mac.as_deref().map(parse_mac).transpose()?;
    let page = state
        .service
        .list_changes(&prov_store::ChangeQuery {
            mac,
            offset: params.offset,
            limit: params.limit,
        })
        .await?;
    let items: Vec<prov_core::audit::ChangeView> = page
        .items
        .iter()
        .map(prov_core::audit::ChangeView::from)
        .collect();
    Ok(Json(json!({"items": items, "total": page.total})))
}

async fn rps_history(
    State(state): State<AppState>,
    Query(params): Query<HistoryParams>,
) -> ApiResult<Json<Value>> {
    let mac = params.mac.as_deref().map(parse_mac).transpose()?;
    let store = state.service.store();
    let page = store
        .list_rps_history(&prov_store::HistoryQuery {
            mac,
            command: params
                .command
                .map(|c| c.to_ascii_uppercase().replace(' ', "_")),
            offset: params.offset,
            limit: params.limit,
        })
        .await
        .map_err(ServiceError::from)?;
    let pending = store
        .pending_rps_jobs(mac, 100)
        .await
        .map_err(ServiceError::from)?;
    let pending: Vec<prov_core::views::PendingView> = pending
        .iter()
        .map(prov_core::views::PendingView::from)
        .collect();
    Ok(Json(json!({
        "pending": pending,
        "items": page.items,
        "total": page.total,
    })))
}

async fn rps_check(
    State(state): State<AppState>,
    Path(mac): Path<String>,
) -> ApiResult<Json<prov_store::RpsHistoryEntry>> {
    let mac = parse_mac(&mac)?;
    Ok(Json(
        state
            .service
            .rps()
            .check(&state.service.settings(), mac)
            .await?,
    ))
}

async fn rps_retry(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let n = state
        .service
        .store()
        .retry_rps_jobs_now(time::OffsetDateTime::now_utc())
        .await
        .map_err(ServiceError::from)?;
    state.service.rps().wake();
    Ok(Json(json!({"retrying": n})))
}

async fn import_devices(State(state): State<AppState>, body: String) -> ApiResult<Json<Value>> {
    let rows = parse_csv(body.as_bytes()).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let results = state
        .service
        .import_devices(rows, &|_| {}, &Actor::api())
        .await?;
    let failed = results.iter().filter(|r| r.error.is_some()).count();
    Ok(Json(json!({
        "imported": results.len() - failed,
        "rejected": failed,
        "rows": results,
    })))
}

async fn time_zones() -> Json<Vec<String>> {
    Json(yealink::iana_time_zone_names())
}

async fn locations() -> Json<Value> {
    Json(Value::Array(
        yealink::locations()
            .iter()
            .map(|l| json!({"code": l.code, "name": l.name, "language": l.language}))
            .collect(),
    ))
}

/// The innovaphone side at a glance: on or off, connected PBXs, the Devices and App URLs.
async fn innovaphone_status(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(match &state.innovaphone {
        None => json!({"enabled": false}),
        Some(inn) => json!({
            "enabled": true,
            "app_url": state.service.learned_app_url(),
            "devices_url": inn.devices_url(),
            "pbx_sessions": inn.sessions(),
        }),
    })
}
