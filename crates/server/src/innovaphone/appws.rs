//! The AppWebsocket endpoint the App object URL points to. The PBX connects here (and keeps the
//! connection), and so does Users for each ProvisioningPhone. We are the AppWebsocket server:
//! challenge, login check with the instance password, then messages until the peer leaves.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use innovaphone::{AppLogin, Incoming, PbxInfo, ProvisioningPhone, ServicesInfo, SessionKey};
use tokio::sync::mpsc;

use super::Innovaphone;
use crate::log_safe::LogSafe;
use crate::state::AppState;

/// A peer must log in within this time.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(30);
const MAX_MESSAGE: usize = 1 << 20;

pub async fn upgrade(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ws: WebSocketUpgrade,
) -> Response {
    let Some(inn) = state.innovaphone.clone() else {
        // The route only exists when the integration is on.
        return axum::http::StatusCode::NOT_FOUND.into_response();
    };
    ws.max_message_size(MAX_MESSAGE)
        .on_upgrade(move |socket| serve(inn, socket, peer))
}

struct Session {
    id: u64,
    peer: SocketAddr,
    challenge: Option<String>,
    login: Option<Login>,
    is_pbx: bool,
    outbox: mpsc::UnboundedSender<String>,
}

struct Login {
    key: SessionKey,
    app: String,
    who: String,
    app_url: Option<String>,
}

async fn serve(inn: Arc<Innovaphone>, socket: WebSocket, peer: SocketAddr) {
    let (mut sink, mut stream) = socket.split();
    let (outbox, mut queued) = mpsc::unbounded_channel::<String>();
    let writer = tokio::spawn(async move {
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
        is_pbx: false,
        outbox,
    };
    loop {
        let next = if session.login.is_none() {
            match tokio::time::timeout(LOGIN_TIMEOUT, stream.next()).await {
                Ok(m) => m,
                Err(_) => {
                    tracing::warn!(%peer, "AppWebsocket peer did not log in within {LOGIN_TIMEOUT:?}; closed");
                    break;
                }
            }
        } else {
            stream.next().await
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
    let _ = writer.await;
}

/// `false`: close the connection.
async fn handle(inn: &Arc<Innovaphone>, s: &mut Session, msg: Incoming) -> bool {
    let src = msg.src.as_deref();
    let Some(login) = &s.login else {
        return handle_before_login(inn, s, &msg);
    };
    match (msg.api.as_deref(), msg.mt.as_str()) {
        (None, "PbxInfo") => {
            let info = PbxInfo::from_incoming(&msg).unwrap_or_default();
            let services = info.has_api("Services");
            tracing::info!(peer = %s.peer, pbx = %LogSafe(&info.pbx), domain = %LogSafe(&info.domain), apis = ?info.apis, "PBX connected");
            inn.registry.register(s.id, s.outbox.clone(), info);
            s.is_pbx = true;
            inn.pbx_domains_changed();
            if let Some(url) = &login.app_url {
                inn.app_url_seen(url);
            }
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
        (None, "ProvisioningPhone") => {
            let reply_src = src.unwrap_or("").to_owned();
            let answer = match ProvisioningPhone::from_incoming(&msg) {
                Err(e) => Err(format!("unreadable ProvisioningPhone: {e}")),
                Ok(req) => {
                    tracing::info!(peer = %s.peer, by = %LogSafe(&login.who), mac = %LogSafe(&req.mac), user = %LogSafe(&req.usename), "ProvisioningPhone");
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
        (None, "AppCheckLogin") => {
            // The PBX Manager's green tick: `ok` only for a digest made with our password.
            let ok = serde_json::from_value::<innovaphone::AppCheckLogin>(msg.body.clone())
                .is_ok_and(|check| check.verify(&inn.password));
            if !ok {
                tracing::warn!(peer = %s.peer, "AppCheckLogin: the digest does not match our instance password (the App object's password differs from innovaphone.password)");
            }
            s.send(innovaphone::app_check_login_result(src.unwrap_or(""), ok));
        }
        (None, "KeepAlive") => {}
        (api, mt) => {
            tracing::debug!(peer = %s.peer, ?api, mt, "AppWebsocket message ignored");
        }
    }
    true
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
            let domain = inn.domain.clone().unwrap_or_else(|| login.domain.clone());
            s.send(innovaphone::app_login_result_ok(
                Some(&domain).filter(|d| !d.is_empty()).map(String::as_str),
            ));
            let who = if login.sip.is_empty() {
                login.app.clone()
            } else {
                format!("{}@{}", login.sip, login.domain)
            };
            tracing::info!(peer = %s.peer, who = %LogSafe(&who), "AppWebsocket login");
            s.login = Some(Login {
                key: innovaphone::session_key(&challenge, &inn.password),
                app: login.app.clone(),
                who,
                // Users logs in with its own App object's URL; only a PBX's is ours.
                app_url: login.info_str("appurl").map(str::to_owned),
            });
            true
        }
        (None, "CheckBuild") | (None, "KeepAlive") => true,
        (_, mt) => {
            tracing::debug!(peer = %s.peer, mt, "message before login ignored");
            true
        }
    }
}

impl Session {
    fn send(&self, text: String) {
        // A closed writer means the peer left; the read loop ends next.
        let _ = self.outbox.send(text);
    }
}
