//! The phone-facing HTTP endpoints: `/prov/{token}/{file}` and `/prov/{file}` (see
//! `docs/contracts.md`). A phone gets a file only after proving it is that phone; every other
//! request gets one and the same 401 answer.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use prov_store::{DeviceRecord, PhoneRequest};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;
use yealink::{Mac, PhoneFile, UserAgent};

use crate::web::digest::{self, Verdict};
use crate::web::request_body::{BodyError, RequestBody};
use crate::web::state::AppState;
use prov_core::request_fold::{RequestKey, logged_file, logged_user_agent};

/// Largest `<mac>-local.cfg` upload we keep.
pub const MAX_LOCAL_CFG: usize = 256 * 1024;
/// Compared against when the username is unknown, so both cases cost the same.
const DUMMY_PASSWORD: &str = "dummy-password-for-constant-time";

/// The client certificate chain (DER, end entity first) a TLS connection presented; in the
/// extensions of every request on the HTTPS listener, empty when the client sent none.
#[derive(Clone, Debug, Default)]
pub struct PeerCertificates(pub Arc<Vec<Vec<u8>>>);

/// What the connection tells about a request: who sent it, and how.
struct Conn {
    peer: SocketAddr,
    tls: bool,
    certificates: Option<PeerCertificates>,
}

/// The `/prov/` paths, answered straight from the connection rather than through the router: a
/// boot storm is nearly all phone requests, and the router's matching, extractors and layers
/// were a tenth of the CPU each one cost (docs/benchmarks.md). What the router gave
/// every route is kept: percent-decoded segments, the body limit, the `nosniff` header and a
/// 500 on a panic.
#[derive(Clone)]
pub struct PhoneEndpoint {
    state: AppState,
    tls: bool,
}

impl PhoneEndpoint {
    pub fn new(state: AppState, tls: bool) -> PhoneEndpoint {
        PhoneEndpoint { state, tls }
    }

    /// Whether a request for `path` is this endpoint's.
    pub fn handles(path: &str) -> bool {
        path.starts_with(PREFIX)
    }

    pub async fn serve(
        self,
        request: hyper::Request<RequestBody>,
        peer: SocketAddr,
        certificates: Option<PeerCertificates>,
    ) -> Response {
        use futures::FutureExt;
        let answer = std::panic::AssertUnwindSafe(self.answer(request, peer, certificates))
            .catch_unwind()
            .await;
        let mut response = answer.unwrap_or_else(|_| {
            tracing::error!("phone request handler panicked");
            text(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error\n")
        });
        response
            .headers_mut()
            .entry(header::X_CONTENT_TYPE_OPTIONS)
            .or_insert(HeaderValue::from_static("nosniff"));
        response
    }

    async fn answer(
        self,
        request: hyper::Request<RequestBody>,
        peer: SocketAddr,
        certificates: Option<PeerCertificates>,
    ) -> Response {
        let (parts, body) = request.into_parts();
        let (token, file) = match prov_path(parts.uri.path()) {
            Ok(Some((token, file))) => {
                let file = without_bare_token(token.as_deref(), file);
                (token, file)
            }
            Ok(None) => return StatusCode::NOT_FOUND.into_response(),
            Err(response) => return response,
        };
        let conn = Conn {
            peer,
            tls: self.tls,
            certificates,
        };
        let request = PhoneHttpRequest::new(token, file, conn, parts, body);
        handle(&self.state, request).await
    }
}

const PREFIX: &str = "/prov/";

/// What is logged and stored for `/prov/{name}` when `name` has no `.`: every file a phone asks
/// for has an extension (`.boot`, `.cfg`, `.rom`, ...), so such a name is most likely a URL
/// token given without its trailing `/` (`/prov/<token>`), a secret that must not reach the
/// log or the request log.
const BARE_NAME: &str = "(no-file-name)";

fn without_bare_token(token: Option<&str>, file: String) -> String {
    if token.is_none() && !file.contains('.') {
        BARE_NAME.to_owned()
    } else {
        file
    }
}

/// `(token, file)` of `/prov/{token}/{file}` or `/prov/{file}`, percent-decoded as the router's
/// `Path` does; `None` for any other shape (the router's 404); a segment that does not decode
/// to UTF-8 is a 400, as the router answers it.
#[allow(clippy::result_large_err)]
fn prov_path(path: &str) -> Result<Option<(Option<String>, String)>, Response> {
    let Some(rest) = path.strip_prefix(PREFIX) else {
        return Ok(None);
    };
    let mut segments = rest.split('/');
    let (first, second) = (segments.next(), segments.next());
    if segments.next().is_some() {
        return Ok(None);
    }
    let decode = |segment: &str| {
        percent_encoding::percent_decode_str(segment)
            .decode_utf8()
            .map(|s| s.into_owned())
            .map_err(|_| text(StatusCode::BAD_REQUEST, "Invalid URL\n"))
    };
    match (first, second) {
        (Some(file), None) if !file.is_empty() => Ok(Some((None, decode(file)?))),
        (Some(token), Some(file)) if !token.is_empty() && !file.is_empty() => {
            Ok(Some((Some(decode(token)?), decode(file)?)))
        }
        _ => Ok(None),
    }
}

struct PhoneHttpRequest {
    token: Option<String>,
    file: String,
    peer: SocketAddr,
    tls: bool,
    /// The client certificate chain of the HTTPS connection; `None` over plain HTTP.
    tls_info: Option<PeerCertificates>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    /// Not read yet: only an authenticated upload's body is (a refused client costs no
    /// buffer).
    body: Option<RequestBody>,
}

impl PhoneHttpRequest {
    fn new(
        token: Option<String>,
        file: String,
        conn: Conn,
        parts: axum::http::request::Parts,
        body: RequestBody,
    ) -> PhoneHttpRequest {
        PhoneHttpRequest {
            token,
            file,
            peer: conn.peer,
            tls: conn.tls,
            tls_info: conn.certificates,
            method: parts.method,
            uri: parts.uri,
            headers: parts.headers,
            body: Some(body),
        }
    }
}

/// An upload's body, read whole (at most [`MAX_LOCAL_CFG`] bytes), or the answer to give instead.
async fn read_body(
    body: Option<RequestBody>,
) -> Result<Bytes, (u16, &'static str, Response, bool)> {
    let Some(body) = body else {
        return Ok(Bytes::new());
    };
    axum::body::to_bytes(axum::body::Body::new(body), MAX_LOCAL_CFG + 1)
        .await
        .map_err(|e| {
            let e = e.into_inner();
            let (status, message) = match BodyError::find(e.as_ref()) {
                Some(BodyError::TimedOut(_)) => (StatusCode::REQUEST_TIMEOUT, "Request Timeout\n"),
                Some(BodyError::Busy) => (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable\n"),
                Some(BodyError::Read(_)) => (StatusCode::BAD_REQUEST, "Bad Request\n"),
                None => (StatusCode::PAYLOAD_TOO_LARGE, "Payload Too Large\n"),
            };
            (status.as_u16(), "error", text(status, message), false)
        })
}

enum Auth {
    Device(Arc<DeviceRecord>),
    Denied { stale: bool },
}

async fn handle(state: &AppState, mut req: PhoneHttpRequest) -> Response {
    let body = req.body.take();
    let user_agent = req
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(logged_user_agent);
    let ua = user_agent.and_then(yealink::parse_user_agent);
    let file = yealink::classify_file(&req.file);
    let kind = file.map_or("other", |f| f.kind());

    let auth = match authenticate(state, &req) {
        Auth::Device(d) if file.is_none_or(|f| f.mac().is_none_or(|m| m == d.mac)) => {
            certificate_rule(state, &req, d)
        }
        Auth::Device(_) => Auth::Denied { stale: false },
        denied => denied,
    };
    let device = match auth {
        Auth::Device(d) => d,
        auth => {
            let stale = matches!(auth, Auth::Denied { stale: true });
            metrics::counter!("phone_auth_failures_total").increment(1);
            tracing::info!(
                file = %printable(&req.file),
                ip = %req.peer.ip(),
                user_agent = %prov_core::log_safe::LogSafe(user_agent.unwrap_or("-")),
                "phone request denied"
            );
            record(state, &req, None, &ua, user_agent, 401, "denied", false);
            return unauthorized(state, req.tls, stale);
        }
    };

    let legacy = ua
        .as_ref()
        .map(|ua| ua.model.as_str())
        .filter(|model| yealink::is_legacy_model(model));
    let method = req.method.clone();
    let (status, outcome, response, mac_cfg_served) = match (file, &method) {
        // Firmware V80 and older does not know the parameter names we write: serving it files
        // it would half ignore would pretend it is provisioned (docs/yealink-parameters.md).
        _ if legacy.is_some() => {
            tracing::warn!(
                mac = %device.mac,
                model = legacy.unwrap_or_default(),
                "phone model runs firmware V80 or older, which yealink-prov does not provision"
            );
            (
                404,
                "unsupported_model",
                text(
                    StatusCode::NOT_FOUND,
                    "Not Found: this model (firmware V80 or older) is not supported\n",
                ),
                false,
            )
        }
        (None, &Method::GET) if req.file == prov_core::service::CA_FILE => serve_ca(state),
        (Some(PhoneFile::MacLocalCfg(mac)), &Method::PUT) => match read_body(body).await {
            Ok(body) => store_local_cfg(state, mac, &body).await,
            Err(answer) => answer,
        },
        (Some(PhoneFile::MacLocalCfg(mac)), &Method::GET) => {
            match state.service.store().get_local_cfg(mac).await {
                Ok(Some((body, _))) => (200, "served", text(StatusCode::OK, body), false),
                Ok(None) => not_found(),
                Err(e) => internal(&e),
            }
        }
        (Some(f), &Method::GET) => serve_generated(state, &device, f, ua.as_ref()),
        (Some(_), _) => (
            405,
            "error",
            text(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed\n"),
            false,
        ),
        (None, _) => not_found(),
    };
    metrics::counter!("phone_requests_total", "file" => kind, "outcome" => outcome).increment(1);
    record(
        state,
        &req,
        Some(device.mac),
        &ua,
        user_agent,
        status,
        outcome,
        mac_cfg_served,
    );
    if mac_cfg_served && let Some(inn) = &state.innovaphone {
        inn.clone().phone_fetched_config(device.mac);
    }
    response
}

fn serve_generated(
    state: &AppState,
    device: &Arc<DeviceRecord>,
    file: PhoneFile,
    ua: Option<&UserAgent>,
) -> (u16, &'static str, Response, bool) {
    match state.service.render_for_phone(device, file, ua) {
        Ok(Some(body)) => (
            200,
            "served",
            text(StatusCode::OK, body),
            matches!(file, PhoneFile::MacCfg(_)),
        ),
        Ok(None) => not_found(),
        Err(e) => internal(&e),
    }
}

/// The private CA (`static.trusted_certificates.url` points here); 404 when none is set.
fn serve_ca(state: &AppState) -> (u16, &'static str, Response, bool) {
    match state.service.settings().ca_certificate.clone() {
        Some(pem) => (200, "served", text(StatusCode::OK, pem), false),
        None => not_found(),
    }
}

async fn store_local_cfg(
    state: &AppState,
    mac: Mac,
    body: &[u8],
) -> (u16, &'static str, Response, bool) {
    if body.len() > MAX_LOCAL_CFG {
        return (
            413,
            "error",
            text(StatusCode::PAYLOAD_TOO_LARGE, "Payload Too Large\n"),
            false,
        );
    }
    match state.service.store().put_local_cfg(mac, body).await {
        Ok(()) => (200, "stored", text(StatusCode::OK, "OK\n"), false),
        Err(e) => internal(&e),
    }
}

fn not_found() -> (u16, &'static str, Response, bool) {
    (
        404,
        "not_found",
        text(StatusCode::NOT_FOUND, "Not Found\n"),
        false,
    )
}

fn internal(e: &dyn std::fmt::Display) -> (u16, &'static str, Response, bool) {
    tracing::error!(error = %e, "phone request failed");
    (
        500,
        "error",
        text(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error\n"),
        false,
    )
}

fn authenticate(state: &AppState, req: &PhoneHttpRequest) -> Auth {
    if let Some(token) = &req.token
        && let Some(device) = state.service.cache().by_token(token)
    {
        return Auth::Device(device);
    }
    let Some(value) = req
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Auth::Denied { stale: false };
    };
    if let Some(response) = digest::parse_authorization(value) {
        let path = req.uri.path_and_query().map_or("", |p| p.as_str());
        let device = Mac::parse(&response.username)
            .ok()
            .and_then(|mac| state.service.cache().by_mac(mac));
        let password = device
            .as_ref()
            .map_or(DUMMY_PASSWORD, |d| d.http_password.as_str());
        let verdict = state.nonce.verify(&response, req.method.as_str(), password);
        return match (device, verdict, response.uri == path) {
            // An upload changes state: a captured PUT must not be played again.
            (Some(_), Verdict::Valid, true)
                if req.method == Method::PUT && !state.nonce.first_use(&response) =>
            {
                Auth::Denied { stale: true }
            }
            (Some(d), Verdict::Valid, true) => Auth::Device(d),
            (Some(_), Verdict::Stale, true) => Auth::Denied { stale: true },
            _ => Auth::Denied { stale: false },
        };
    }
    if req.tls
        && let Some((user, password)) = parse_basic(value)
    {
        let device = Mac::parse(&user)
            .ok()
            .and_then(|mac| state.service.cache().by_mac(mac));
        let expected = device
            .as_ref()
            .map_or(DUMMY_PASSWORD, |d| d.http_password.as_str());
        let ok = bool::from(expected.as_bytes().ct_eq(password.as_bytes()));
        if let (Some(d), true) = (device, ok) {
            return Auth::Device(d);
        }
    }
    Auth::Denied { stale: false }
}

/// After the token/Digest/Basic checks: the device certificate rule (`phone_certificates`).
/// A refusal looks like any other (no oracle); why is logged at debug level only.
fn certificate_rule(state: &AppState, req: &PhoneHttpRequest, device: Arc<DeviceRecord>) -> Auth {
    let chain = req
        .tls_info
        .as_ref()
        .map_or(&[][..], |chain| chain.0.as_slice());
    match state.phone_certs.check(chain, device.mac) {
        Ok(()) => Auth::Device(device),
        Err(reason) => {
            tracing::debug!(
                mac = %device.mac,
                file = %printable(&req.file),
                ip = %req.peer.ip(),
                reason = %reason,
                "phone certificate refused"
            );
            Auth::Denied { stale: false }
        }
    }
}

fn parse_basic(value: &str) -> Option<(String, String)> {
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

fn unauthorized(state: &AppState, tls: bool, stale: bool) -> Response {
    let mut response = text(StatusCode::UNAUTHORIZED, "Unauthorized\n");
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&state.nonce.challenge(stale)) {
        headers.append(header::WWW_AUTHENTICATE, v);
    }
    if tls {
        headers.append(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"yealink-prov\""),
        );
    }
    response
}

fn text(status: StatusCode, body: impl Into<axum::body::Body>) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body.into(),
    )
        .into_response()
}

#[allow(clippy::too_many_arguments)]
fn record(
    state: &AppState,
    req: &PhoneHttpRequest,
    mac: Option<Mac>,
    ua: &Option<UserAgent>,
    user_agent: Option<&str>,
    status: u16,
    outcome: &str,
    mac_cfg_served: bool,
) {
    let at = OffsetDateTime::now_utc();
    let key = RequestKey {
        mac,
        method: req.method.as_str(),
        file: &req.file,
        status,
        outcome,
        ip: req.peer.ip(),
        user_agent,
    };
    state.requests.record_folded(&key, at, || PhoneRequest {
        at,
        mac,
        method: req.method.as_str().to_owned(),
        file: printable(&req.file),
        status,
        outcome: outcome.to_owned(),
        source_ip: req.peer.ip().to_string(),
        user_agent: user_agent.map(str::to_owned),
        model: ua.as_ref().map(|u| u.model.clone()),
        firmware: ua.as_ref().map(|u| u.firmware.clone()),
        mac_cfg_served,
        count: 1,
    });
}

/// File names are attacker-chosen: keep logs and the request log readable and bounded.
fn printable(s: &str) -> String {
    logged_file(s).collect()
}
