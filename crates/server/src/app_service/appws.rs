//! The AppWebsocket endpoint the App object URL points to. The PBX connects here (and keeps the
//! connection), and so does Users for each ProvisioningPhone. We are the AppWebsocket server:
//! challenge, login check with the instance password, then messages until the peer leaves.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use innovaphone::{
    AppLogin, Incoming, LoginKind, PbxInfo, ProvisioningPhone, ServicesInfo, SessionKey,
};
use tokio::time::Instant;

use super::Innovaphone;
use super::registry::Outbox;
use crate::web::conn_activity::Activity;
use prov_core::config::InnovaphoneConfig;
use prov_core::log_safe::LogSafe;
use prov_core::log_throttle::Throttle;

/// The largest message, and so the largest frame: tungstenite checks a frame's length in its
/// header, before reading it, so a bigger one costs nothing.
const MAX_MESSAGE: usize = 1 << 20;
/// What tungstenite buffers per socket for reading; it grows up to a message when needed.
const READ_BUFFER: usize = 16 * 1024;
/// How often the warning about refused upgrades may be written.
const REFUSED_LOG_EVERY: Duration = Duration::from_secs(10);
/// How long a closing connection's writer may take to flush what is queued.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// What a peer may cost us before it has proved it knows the instance password, and after.
pub struct Limits {
    /// Deadline of the login, counted from the upgrade (not from the last message).
    login_timeout: Duration,
    max_unauthenticated: usize,
    /// Of those, one source address (an IPv6 /64) may hold at most this many, so one address
    /// reopening sockets cannot keep the PBX out.
    max_unauthenticated_per_source: usize,
    outbox_limit: usize,
    unauthenticated: Arc<parking_lot::Mutex<Waiting>>,
    refused_log: Throttle,
}

/// The connections waiting for their login, in total and per source.
#[derive(Default)]
struct Waiting {
    total: usize,
    per_source: HashMap<IpAddr, usize>,
}

impl Limits {
    pub fn new(config: &InnovaphoneConfig) -> Limits {
        Limits {
            login_timeout: Duration::from_secs(config.login_timeout_secs.max(1)),
            max_unauthenticated: config.max_unauthenticated.max(1),
            max_unauthenticated_per_source: config.max_unauthenticated_per_source.max(1),
            outbox_limit: config.outbox_limit.max(1),
            unauthenticated: Arc::default(),
            refused_log: Throttle::new(REFUSED_LOG_EVERY),
        }
    }

    /// A place among the connections waiting for their login, or `None` when all are taken, or
    /// all of `ip`'s share.
    fn reserve(&self, ip: IpAddr) -> Option<UnauthenticatedSlot> {
        let source = prov_core::source::source_key(ip);
        let mut waiting = self.unauthenticated.lock();
        let from_source = waiting.per_source.get(&source).copied().unwrap_or(0);
        if waiting.total >= self.max_unauthenticated
            || from_source >= self.max_unauthenticated_per_source
        {
            return None;
        }
        waiting.total += 1;
        *waiting.per_source.entry(source).or_insert(0) += 1;
        metrics::gauge!("appws_unauthenticated_connections").increment(1.0);
        Some(UnauthenticatedSlot {
            waiting: self.unauthenticated.clone(),
            source,
        })
    }
}

/// Held by a connection until it logs in or ends.
struct UnauthenticatedSlot {
    waiting: Arc<parking_lot::Mutex<Waiting>>,
    source: IpAddr,
}

impl Drop for UnauthenticatedSlot {
    fn drop(&mut self) {
        let mut waiting = self.waiting.lock();
        waiting.total = waiting.total.saturating_sub(1);
        if let Some(n) = waiting.per_source.get_mut(&self.source) {
            *n -= 1;
            if *n == 0 {
                waiting.per_source.remove(&self.source);
            }
        }
        metrics::gauge!("appws_unauthenticated_connections").decrement(1.0);
    }
}

pub async fn upgrade(
    State(inn): State<Arc<Innovaphone>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    activity: Option<Extension<Arc<Activity>>>,
    ws: WebSocketUpgrade,
) -> Response {
    // Counted before the upgrade, so a flood of sockets that never log in is refused cheaply.
    let Some(slot) = inn.limits.reserve(peer.ip()) else {
        metrics::counter!("appws_upgrades_refused_total").increment(1);
        if let Some(skipped) = inn.limits.refused_log.permit() {
            tracing::warn!(
                %peer,
                max = inn.limits.max_unauthenticated,
                per_source = inn.limits.max_unauthenticated_per_source,
                refused_since_last_line = skipped,
                "too many AppWebsocket connections waiting for their login; refused"
            );
        }
        return axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    // Over HTTP/2 the WebSocket is a stream of a connection that stays open: it is in use
    // while the socket is (the listener closes connections left unused).
    let tunnel = activity.map(|Extension(activity)| activity.in_use());
    ws.max_message_size(MAX_MESSAGE)
        .max_frame_size(MAX_MESSAGE)
        .read_buffer_size(READ_BUFFER)
        .on_upgrade(move |socket| async move {
            serve(inn, socket, peer, slot).await;
            drop(tunnel);
        })
}

struct Session {
    id: u64,
    peer: SocketAddr,
    challenge: Option<String>,
    login: Option<Login>,
    /// Released at the login.
    unauthenticated: Option<UnauthenticatedSlot>,
    is_pbx: bool,
    outbox: Outbox,
}

struct Login {
    key: SessionKey,
    app: String,
    who: String,
    app_url: Option<String>,
    kind: LoginKind,
    /// The signed user (for [`LoginKind::User`]).
    user: Option<prov_core::auth::MyAppsUser>,
}

async fn serve(
    inn: Arc<Innovaphone>,
    socket: WebSocket,
    peer: SocketAddr,
    slot: UnauthenticatedSlot,
) {
    let login_deadline = Instant::now() + inn.limits.login_timeout;
    let (mut sink, mut stream) = socket.split();
    let (outbox, mut queued, overflow) = Outbox::new(inn.limits.outbox_limit);
    let mut writer = tokio::spawn(async move {
        while let Some(text) = queued.recv().await {
            if sink.send(Message::Text(text.into())).await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let mut session = Session {
        id: inn.registry.new_connection_id(),
        peer,
        challenge: None,
        login: None,
        unauthenticated: Some(slot),
        is_pbx: false,
        outbox,
    };
    // Whether what is queued may still be flushed: not for a peer that does not read.
    let mut flush = true;
    loop {
        let next = tokio::select! {
            () = overflow.notified() => {
                tracing::warn!(%peer, limit = inn.limits.outbox_limit, "AppWebsocket peer does not read its messages; closed");
                flush = false;
                break;
            }
            // Whatever the peer sends meanwhile (KeepAlive, pings), the deadline stands.
            () = tokio::time::sleep_until(login_deadline), if session.login.is_none() => {
                tracing::warn!(%peer, "AppWebsocket peer did not log in within {:?}; closed", inn.limits.login_timeout);
                break;
            }
            next = stream.next() => next,
        };
        let text = match next {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Binary(b))) => {
                tracing::warn!(%peer, len = b.len(), "binary frame on the AppWebsocket ignored");
                continue;
            }
            Some(Ok(Message::Close(_))) | None => break,
            Some(Ok(_)) => continue,
            Some(Err(e)) => {
                tracing::info!(%peer, error = %e, "AppWebsocket connection broke");
                break;
            }
        };
        match Incoming::parse(text.as_str()) {
            Ok(msg) => {
                if !handle(&inn, &mut session, msg).await {
                    break;
                }
            }
            Err(e) => {
                tracing::warn!(%peer, error = %e, "garbled AppWebsocket message ignored");
            }
        }
    }
    if session.is_pbx {
        inn.registry.unregister(session.id);
        tracing::info!(%peer, "PBX disconnected");
    }
    drop(session);
    // A writer stuck on a peer that does not read would hold the socket open for ever.
    if !flush
        || tokio::time::timeout(FLUSH_TIMEOUT, &mut writer)
            .await
            .is_err()
    {
        writer.abort();
    }
}

/// `false`: close the connection.
async fn handle(inn: &Arc<Innovaphone>, s: &mut Session, msg: Incoming) -> bool {
    let src = msg.src.as_deref();
    let Some(login) = &s.login else {
        return handle_before_login(inn, s, &msg);
    };
    // A login the PBX did not sign as an App object (a myApps user, the App object password in
    // the app page) may ask for a UI session and send ProvisioningPhone, nothing else: PbxInfo
    // from it would pose as a PBX (and name frame origins). ProvisioningPhone is answered for
    // every login our password signed: how the PBX signs Users' service login (`info.appobj` =
    // Users' App object or ours) is not documented, and an unanswered one leaves "+ Phone" in
    // Profile hanging (docs/innovaphone.md, "Who may send ProvisioningPhone").
    if login.kind != LoginKind::AppObject {
        match (msg.api.as_deref(), msg.mt.as_str()) {
            (None, "ProvisioningPhone") => provisioning_phone(inn, s, &msg).await,
            (None, "UiSession") => {
                let answer =
                    super::app_page::ui_session(inn, &login.app, &login.kind, login.user.as_ref())
                        .await;
                s.send(answer);
            }
            (api, mt) => {
                tracing::debug!(peer = %s.peer, ?api, mt, "message on a user's AppWebsocket ignored");
            }
        }
        return true;
    }
    match (msg.api.as_deref(), msg.mt.as_str()) {
        (None, "PbxInfo") => {
            let info = PbxInfo::from_incoming(&msg).unwrap_or_default();
            let services = info.has_api("Services");
            tracing::info!(peer = %s.peer, pbx = %LogSafe(&info.pbx), domain = %LogSafe(&info.domain), apis = ?info.apis, "PBX connected");
            inn.registry.register(s.id, s.outbox.clone(), info);
            s.is_pbx = true;
            inn.pbx_connected(login.app_url.as_deref());
            if services {
                s.send(innovaphone::subscribe_services("services"));
            } else {
                tracing::warn!(peer = %s.peer, "the PBX did not grant Services: tick Services on the Yealink App object, or Devices cannot be found");
            }
            inn.pbx_session_ready();
        }
        (None, "AppInfo") => {
            let app = msg.field_str("app").unwrap_or(&login.app).to_owned();
            s.send(innovaphone::app_info_result(&app, src, &inn.title));
        }
        (Some("Services"), "ServicesInfo") => match ServicesInfo::from_incoming(&msg) {
            Ok(info) => {
                let url = info.devices_url();
                if url.is_none() {
                    tracing::warn!(peer = %s.peer, "the PBX offers no Devices API: add devices-api to the Yealink App object's Apps tab");
                }
                if let Some(now) = inn.registry.set_devices_url(s.id, url) {
                    inn.devices_url_known(&now).await;
                }
            }
            Err(e) => tracing::warn!(peer = %s.peer, error = %e, "unreadable ServicesInfo ignored"),
        },
        (Some("Services"), _) => {}
        (Some("PbxAdminApi"), _) => {
            if let Some(src) = src
                && !inn.registry.deliver(s.id, src, msg.body.clone())
            {
                tracing::debug!(peer = %s.peer, mt = %msg.mt, "unexpected PbxAdminApi message ignored");
            }
        }
        (None, "ProvisioningPhone") => provisioning_phone(inn, s, &msg).await,
        (None, "AppCheckLogin") => {
            // The PBX Manager's green tick: `ok` only for a digest made with our password.
            let ok = serde_json::from_value::<innovaphone::AppCheckLogin>(msg.body.clone())
                .is_ok_and(|check| check.verify(&inn.password));
            if !ok {
                tracing::warn!(peer = %s.peer, "AppCheckLogin: the digest does not match our instance password (the App object's password differs from innovaphone.password)");
            }
            s.send(innovaphone::app_check_login_result(src.unwrap_or(""), ok));
        }
        (None, "UiSession") => {
            s.send(app_page_refusal());
        }
        (None, "KeepAlive") => {}
        (api, mt) => {
            tracing::debug!(peer = %s.peer, ?api, mt, "AppWebsocket message ignored");
        }
    }
    true
}

/// Answers `ProvisioningPhone`, always: `ok`, or `failed` with the cause for a person.
async fn provisioning_phone(inn: &Arc<Innovaphone>, s: &Session, msg: &Incoming) {
    let Some(login) = &s.login else { return };
    let reply_src = msg.src.as_deref().unwrap_or("").to_owned();
    let answer = match ProvisioningPhone::from_incoming(msg) {
        Err(e) => Err(format!("unreadable ProvisioningPhone: {e}")),
        Ok(req) => {
            tracing::info!(peer = %s.peer, by = %LogSafe(&login.who), kind = ?login.kind, mac = %LogSafe(&req.mac), user = %LogSafe(&req.usename), "ProvisioningPhone");
            super::provisioning::provision_phone(inn, &login.key, &req).await
        }
    };
    match answer {
        Ok(note) => {
            tracing::info!(peer = %s.peer, "ProvisioningPhone ok: {note}");
            s.send(innovaphone::provisioning_phone_ok(&reply_src));
        }
        Err(text) => {
            tracing::warn!(peer = %s.peer, error = %text, "ProvisioningPhone failed");
            s.send(innovaphone::provisioning_phone_failed(&reply_src, &text));
        }
    }
}

fn handle_before_login(inn: &Arc<Innovaphone>, s: &mut Session, msg: &Incoming) -> bool {
    match (msg.api.as_deref(), msg.mt.as_str()) {
        (None, "AppChallenge") => {
            let challenge = innovaphone::new_challenge();
            s.send(innovaphone::app_challenge_result(&challenge));
            s.challenge = Some(challenge);
            true
        }
        (None, "AppLogin") => {
            let login: AppLogin = match serde_json::from_value(msg.body.clone()) {
                Ok(l) => l,
                Err(_) => {
                    tracing::warn!(peer = %s.peer, "unreadable AppLogin; connection closed");
                    s.send(innovaphone::app_login_result_failed("unreadable AppLogin"));
                    return false;
                }
            };
            // One challenge, one login attempt (replay protection).
            let Some(challenge) = s.challenge.take() else {
                tracing::warn!(peer = %s.peer, "AppLogin without AppChallenge; connection closed");
                s.send(innovaphone::app_login_result_failed(
                    "send AppChallenge first",
                ));
                return false;
            };
            if !login.verify(&challenge, &inn.password) {
                tracing::warn!(
                    peer = %s.peer, app = %LogSafe(&login.app), domain = %LogSafe(&login.domain), sip = %LogSafe(&login.sip),
                    "AppWebsocket login failed: the digest does not match our instance password (is the App object's password the one in innovaphone.password?)"
                );
                s.send(innovaphone::app_login_result_failed("login failed"));
                return false;
            }
            // A tenant's App object belongs to its PBX's domain: another domain's PBX (or
            // its users) is refused even with the right password.
            if inn.domain_must_match
                && !inn
                    .domain
                    .as_deref()
                    .is_some_and(|d| d.eq_ignore_ascii_case(&login.domain))
            {
                tracing::warn!(
                    peer = %s.peer, domain = %LogSafe(&login.domain),
                    "AppWebsocket login refused: this App object belongs to another domain"
                );
                s.send(innovaphone::app_login_result_failed("login failed"));
                return false;
            }
            let domain = inn.domain.clone().unwrap_or_else(|| login.domain.clone());
            s.send(innovaphone::app_login_result_ok(
                Some(&domain).filter(|d| !d.is_empty()).map(String::as_str),
            ));
            let who = if login.sip.is_empty() {
                login.app.clone()
            } else {
                format!("{}@{}", login.sip, login.domain)
            };
            let kind = login.kind();
            tracing::info!(peer = %s.peer, who = %LogSafe(&who), ?kind, "AppWebsocket login");
            // The PBX signed it: the App object URL it names is one of the install's origins
            // (the App Platform or reverse proxy that myApps may also be served from).
            if kind == LoginKind::AppObject {
                inn.learn_origin(login.info_str("appurl"));
            }
            s.unauthenticated = None;
            s.login = Some(Login {
                key: innovaphone::session_key(&challenge, &inn.password),
                app: login.app.clone(),
                who,
                // Users logs in with its own App object's URL; only a PBX's is ours.
                app_url: login.info_str("appurl").map(str::to_owned),
                user: (kind == LoginKind::User).then(|| prov_core::auth::MyAppsUser {
                    sip: login.sip.clone(),
                    dn: login.dn.clone(),
                    guid: login.guid.clone(),
                }),
                kind,
            });
            true
        }
        (None, "CheckBuild") | (None, "KeepAlive") => true,
        // Answered even here, so a caller never waits for nothing.
        (None, "ProvisioningPhone") => {
            tracing::warn!(peer = %s.peer, "ProvisioningPhone before a login refused");
            s.send(innovaphone::provisioning_phone_failed(
                msg.src.as_deref().unwrap_or(""),
                "not logged in: send AppChallenge and AppLogin first",
            ));
            true
        }
        (_, mt) => {
            tracing::debug!(peer = %s.peer, mt, "message before login ignored");
            true
        }
    }
}

/// `UiSession` on an App object's login (the PBX, Users): no UI session.
fn app_page_refusal() -> String {
    serde_json::json!({"mt": "UiSessionResult", "error": "this login does not open the admin UI"})
        .to_string()
}

impl Session {
    fn send(&self, text: String) {
        // A closed writer means the peer left, a full queue that it does not read: either way
        // the read loop ends next.
        let _ = self.outbox.send(text);
    }
}
