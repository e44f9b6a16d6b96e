//! The admin web UI under `/ui`: server-rendered pages (askama) with htmx, assets embedded in
//! the binary. It only calls the service layer (`Service`, `RpsFlow`, the store's read methods)
//! as the JSON API does; it holds no business logic. See `docs/ui.md`.

mod assets;
mod changes;
mod csrf;

pub mod myapps;
mod pages;
pub mod session;
mod sse;
pub mod view;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{get, post};

use crate::web::state::AppState;
use crate::web::{headers, i18n};

/// The largest body of a sign-in form (user name, password, language; or a session token):
/// anyone may send one, so it is read only up to what a form needs.
const SIGN_IN_BODY: usize = 4 * 1024;

/// The `/ui` routes. Sessions live in the store (`ui_sessions`), see [`session`]. `provider`:
/// also the provider's tenants view (the default tenant's site only).
pub fn routes(state: AppState, provider: bool) -> Router<AppState> {
    let tenants = if provider {
        Router::new()
            .route("/tenants", get(pages::tenants).post(pages::add_tenant))
            .route("/tenants/{id}/delete", post(pages::remove_tenant))
    } else {
        Router::new()
    };
    let protected = Router::new()
        .merge(tenants)
        .route("/", get(pages::home))
        .route("/devices", get(pages::devices).post(pages::add_device))
        .route("/devices/rows", get(pages::device_rows))
        .route("/devices/check-mac", get(pages::check_mac))
        .route(
            "/devices/import",
            post(pages::import_devices).layer(DefaultBodyLimit::max(
                prov_core::import::MAX_CSV + 64 * 1024,
            )),
        )
        .route("/devices/export.csv", get(pages::export_devices))
        .route(
            "/devices/{mac}",
            get(pages::device_detail).post(pages::update_device),
        )
        .route("/devices/{mac}/row", get(pages::device_row))
        .route("/devices/{mac}/url", post(pages::reveal_url))
        .route("/devices/{mac}/edit", get(pages::edit_device))
        .route("/devices/{mac}/delete", post(pages::remove_device))
        .route("/devices/{mac}/redirect", post(pages::resend_redirect))
        .route("/rps", get(pages::rps_history))
        .route("/changes", get(changes::page))
        .route("/settings", get(pages::settings).post(pages::save_settings))
        .route("/settings/rps-status", get(pages::rps_status_panel))
        .route("/events", get(sse::events))
        .route("/logout", post(session::logout))
        .route("/me", get(myapps::me))
        .layer(middleware::from_fn(csrf::check))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            session::require,
        ));
    Router::new()
        .route(
            "/login",
            get(session::login_page)
                .post(session::login)
                .layer(DefaultBodyLimit::max(SIGN_IN_BODY)),
        )
        .route(
            "/myapps/enter",
            post(myapps::enter).layer(DefaultBodyLimit::max(SIGN_IN_BODY)),
        )
        .route("/lang/{lang}", get(i18n::switch))
        .route("/assets/{*file}", get(assets::serve))
        .merge(protected)
        .layer(middleware::from_fn_with_state(state, headers::add))
}
