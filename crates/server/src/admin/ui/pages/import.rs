//! Importing devices from CSV and exporting them as CSV.

use askama::Template;
use askama_web::WebTemplate;
use axum::Extension;
use axum::extract::{Multipart, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::common::{Message, error_fragment, internal};
use crate::admin::ui::session::Session;
use crate::web::i18n::{Lang, Tr};
use crate::web::state::AppState;
use prov_core::audit::ui_actor;
use prov_core::import::{MAX_CSV, export_cell, parse_csv};
use prov_core::service::RowResult;

#[derive(Template, WebTemplate)]
#[template(path = "import_result.html")]
pub struct ImportResult {
    t: Tr,
    summary: String,
    rejected: usize,
    rows: Vec<RowResult>,
}

pub async fn import_devices(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    lang: Lang,
    mut multipart: Multipart,
) -> Response {
    let t = Tr(lang);
    let bad = |text: String| {
        Message {
            ok: false,
            text,
            field: Some("file"),
        }
        .into_response()
    };
    let mut bytes = None;
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) if field.name() == Some("file") => match field.bytes().await {
                Ok(b) if b.len() <= MAX_CSV => bytes = Some(b),
                Ok(_) => return bad(t.get("import.too_big").to_owned()),
                Err(e) => return bad(e.body_text()),
            },
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(e) => return bad(e.body_text()),
        }
    }
    let Some(bytes) = bytes else {
        return bad(t.get("import.no_file").to_owned());
    };
    let rows = match parse_csv(&bytes) {
        Ok(rows) => rows,
        Err(e) => return bad(e.to_string()),
    };
    match state
        .service
        .import_devices(rows, &|_| {}, &ui_actor(&session))
        .await
    {
        Ok(rows) => {
            let rejected = rows.iter().filter(|r| r.error.is_some()).count();
            let summary = t
                .get("import.summary")
                .replace("{ok}", &(rows.len() - rejected).to_string())
                .replace("{bad}", &rejected.to_string());
            ImportResult {
                t,
                summary,
                rejected,
                rows,
            }
            .into_response()
        }
        Err(e) => error_fragment(t, &e),
    }
}

/// Every device as CSV in the import's columns, without secrets (the SIP password column is
/// absent: the browser never gets it; add it before importing the file elsewhere).
pub async fn export_devices(State(state): State<AppState>, lang: Lang) -> Response {
    let t = Tr(lang);
    let records = match state.service.store().all_device_records().await {
        Ok(r) => r,
        Err(e) => return internal(t, e),
    };
    let mut out = csv::Writer::from_writer(Vec::new());
    let header = [
        "mac",
        "name",
        "sip_user",
        "auth_name",
        "display_name",
        "registrar",
        "model",
    ];
    let mut result = out.write_record(header);
    for r in &records {
        if result.is_err() {
            break;
        }
        let mac = r.mac.to_string();
        result = out.write_record(
            [
                mac.as_str(),
                &r.name,
                &r.sip_user,
                r.auth_name.as_deref().unwrap_or(""),
                r.display_name.as_deref().unwrap_or(""),
                &r.registrar,
                r.model.as_deref().unwrap_or(""),
            ]
            .map(|v| export_cell(v).into_owned()),
        );
    }
    let body = match (result, out.into_inner()) {
        (Ok(()), Ok(body)) => body,
        (Err(e), _) => return internal(t, e),
        (_, Err(e)) => return internal(t, e.error()),
    };
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"devices.csv\"",
            ),
        ],
        body,
    )
        .into_response()
}
