//! Static files (CSS, htmx, the live-update script), embedded in the binary at build time.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use rust_embed::Embed;

#[derive(Embed)]
#[folder = "assets/"]
struct Assets;

pub async fn serve(Path(file): Path<String>) -> Response {
    let Some(asset) = Assets::get(&file) else {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    };
    let mime = match file.rsplit('.').next() {
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        _ => "application/octet-stream",
    };
    (
        [
            (header::CONTENT_TYPE, mime),
            // Assets change only with the binary; an hour keeps reloads cheap and upgrades quick.
            (header::CACHE_CONTROL, "private, max-age=3600"),
        ],
        asset.data,
    )
        .into_response()
}
