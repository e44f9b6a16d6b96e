//! The PBX sessions we hold (the PBX connects to us; several may), what they offer (Services,
//! PbxAdminApi) and the requests we sent them that wait for an answer.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use innovaphone::PbxInfo;
use parking_lot::Mutex;
use serde_json::Value;
use tokio::sync::{Notify, mpsc, oneshot, watch};

/// How long a PBX gets to answer one of our requests.
pub const PBX_ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum PbxError {
    #[error(
        "no PBX connection offers PbxAdminApi: tick Admin on the Yealink App object and check that the PBX is connected"
    )]
    NoAdminSession,
    #[error("the PBX did not answer {mt} within {0:?}", PBX_ANSWER_TIMEOUT)]
    Timeout { mt: String },
    #[error("the PBX disconnected before answering {mt}")]
    Disconnected { mt: String },
    #[error("the PBX answered {mt} with an error: {text}")]
    Answer { mt: String, text: String },
}

/// Text frames queued for one connection's writer, at most a fixed number: a peer that does
/// not read cannot make us hold ever more of them.
#[derive(Clone)]
pub struct Outbox {
    tx: mpsc::Sender<String>,
    overflow: Arc<Notify>,
}

impl Outbox {
    /// The outbox, its writer's end, and what is notified when it overflows (the connection is
    /// then to be closed).
    pub fn new(limit: usize) -> (Outbox, mpsc::Receiver<String>, Arc<Notify>) {
        let (tx, rx) = mpsc::channel(limit.max(1));
        let overflow = Arc::new(Notify::new());
        let outbox = Outbox {
            tx,
            overflow: overflow.clone(),
        };
        (outbox, rx, overflow)
    }

    /// `false` when the message was dropped: the writer is gone, or the queue is full.
    pub fn send(&self, text: String) -> bool {
        match self.tx.try_send(text) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                // `notify_one` keeps a permit, so the reader sees it even if not waiting now.
                self.overflow.notify_one();
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

struct Session {
    outbox: Outbox,
    info: PbxInfo,
    devices_url: Option<String>,
    pending: HashMap<String, oneshot::Sender<Value>>,
}

pub struct PbxRegistry {
    sessions: Mutex<BTreeMap<u64, Session>>,
    next_id: AtomicU64,
    next_src: AtomicU64,
    devices_url: watch::Sender<Option<String>>,
}

pub use prov_core::pbx::PbxSessionView;

impl PbxRegistry {
    /// `devices_url`: the last one known (kept in the database across restarts).
    pub fn new(devices_url: Option<String>) -> PbxRegistry {
        PbxRegistry {
            sessions: Mutex::new(BTreeMap::new()),
            next_id: AtomicU64::new(1),
            next_src: AtomicU64::new(1),
            devices_url: watch::Sender::new(devices_url),
        }
    }

    pub fn new_connection_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    pub fn register(&self, id: u64, outbox: Outbox, info: PbxInfo) {
        self.sessions.lock().insert(
            id,
            Session {
                outbox,
                info,
                devices_url: None,
                pending: HashMap::new(),
            },
        );
    }

    /// Forgets a session; its waiting requests fail with `Disconnected`.
    pub fn unregister(&self, id: u64) {
        self.sessions.lock().remove(&id);
    }

    pub fn sessions(&self) -> Vec<PbxSessionView> {
        self.sessions
            .lock()
            .iter()
            .map(|(id, s)| PbxSessionView {
                id: *id,
                pbx: s.info.pbx.clone(),
                domain: s.info.domain.clone(),
                pbx_dns: s.info.pbx_dns.clone(),
                apis: s.info.apis.clone(),
                version: s.info.version.clone(),
                devices_url: s.devices_url.clone(),
            })
            .collect()
    }

    /// The domains of the connected PBXs, in the order they connected (for the RPS server name).
    pub fn domains(&self) -> Vec<String> {
        self.sessions
            .lock()
            .values()
            .map(|s| s.info.domain.clone())
            .collect()
    }

    /// A session's ServicesInfo named this Devices URL (or none). The URL in force is the first
    /// session's that has one; while no PBX offers one, the last known stays in force so phones
    /// keep their sysclient connections through a PBX restart.
    pub fn set_devices_url(&self, id: u64, url: Option<String>) -> Option<String> {
        let current = {
            let mut sessions = self.sessions.lock();
            if let Some(s) = sessions.get_mut(&id) {
                s.devices_url = url;
            }
            sessions.values().find_map(|s| s.devices_url.clone())
        };
        if let Some(url) = &current {
            self.devices_url.send_if_modified(|known| {
                let changed = known.as_ref() != Some(url);
                if changed {
                    *known = Some(url.clone());
                }
                changed
            });
        }
        current
    }

    /// The Devices URL another instance stored (its PBX connection named it): in force while
    /// no PBX connected here names one, so phones and Users requests on this instance work
    /// although the PBX is connected elsewhere (decision 64).
    pub fn learn_stored_devices_url(&self, url: &str) {
        if self
            .sessions
            .lock()
            .values()
            .any(|s| s.devices_url.is_some())
        {
            return;
        }
        self.devices_url.send_if_modified(|known| {
            let changed = known.as_deref() != Some(url);
            if changed {
                *known = Some(url.to_owned());
            }
            changed
        });
    }

    pub fn devices_url(&self) -> Option<String> {
        self.devices_url.borrow().clone()
    }

    pub fn watch_devices_url(&self) -> watch::Receiver<Option<String>> {
        self.devices_url.subscribe()
    }

    pub fn has_admin_session(&self) -> bool {
        self.sessions
            .lock()
            .values()
            .any(|s| s.info.has_api("PbxAdminApi"))
    }

    /// Hands an answer to the request that waits for its `src`; `false` if none does.
    pub fn deliver(&self, id: u64, src: &str, body: Value) -> bool {
        let waiter = self
            .sessions
            .lock()
            .get_mut(&id)
            .and_then(|s| s.pending.remove(src));
        match waiter {
            Some(tx) => tx.send(body).is_ok(),
            None => false,
        }
    }

    /// Sends a PbxAdminApi request on a session that offers it and waits for the answer. An
    /// answer carrying `error`/`errorText` is an error.
    pub async fn admin_request(&self, mt: &str, fields: Value) -> Result<Value, PbxError> {
        let src = format!("y{}", self.next_src.fetch_add(1, Ordering::Relaxed));
        let (tx, rx) = oneshot::channel();
        {
            let mut sessions = self.sessions.lock();
            let session = sessions
                .values_mut()
                .find(|s| s.info.has_api("PbxAdminApi"))
                .ok_or(PbxError::NoAdminSession)?;
            session.pending.insert(src.clone(), tx);
            let text = innovaphone::reply(mt, Some("PbxAdminApi"), Some(&src), fields);
            if !session.outbox.send(text) {
                return Err(PbxError::Disconnected { mt: mt.to_owned() });
            }
        }
        let answer = match tokio::time::timeout(PBX_ANSWER_TIMEOUT, rx).await {
            Err(_) => return Err(PbxError::Timeout { mt: mt.to_owned() }),
            Ok(Err(_)) => return Err(PbxError::Disconnected { mt: mt.to_owned() }),
            Ok(Ok(answer)) => answer,
        };
        if let Some(text) = answer_error(&answer) {
            return Err(PbxError::Answer {
                mt: mt.to_owned(),
                text,
            });
        }
        Ok(answer)
    }
}

fn answer_error(answer: &Value) -> Option<String> {
    let text = answer.get("errorText").and_then(Value::as_str);
    match answer.get("error") {
        None | Some(Value::Null) | Some(Value::Bool(false)) => text.map(str::to_owned),
        Some(Value::Number(n)) if n.as_i64() == Some(0) => text.map(str::to_owned),
        Some(other) => Some(match text {
            Some(t) => format!("{t} ({other})"),
            None => other.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn info(apis: &[&str]) -> PbxInfo {
        serde_json::from_value(json!({"domain":"example.com","pbx":"master","apis":apis})).unwrap()
    }

    #[tokio::test]
    async fn admin_requests_are_answered_by_src_and_fail_cleanly() {
        let reg = std::sync::Arc::new(PbxRegistry::new(None));
        assert!(matches!(
            reg.admin_request("GetObject", json!({})).await,
            Err(PbxError::NoAdminSession)
        ));
        let (tx, mut rx, _) = Outbox::new(16);
        reg.register(1, tx, info(&["PbxAdminApi", "Services"]));
        let r2 = reg.clone();
        let answer =
            tokio::spawn(async move { r2.admin_request("GetObject", json!({"cn":"John"})).await });
        let sent: Value = serde_json::from_str(&rx.recv().await.unwrap()).unwrap();
        assert_eq!(sent["api"], "PbxAdminApi");
        assert_eq!(sent["cn"], "John");
        let src = sent["src"].as_str().unwrap().to_owned();
        assert!(!reg.deliver(1, "other", json!({})));
        assert!(reg.deliver(1, &src, json!({"guid":"g"})));
        assert_eq!(answer.await.unwrap().unwrap()["guid"], "g");

        let r3 = reg.clone();
        let failing =
            tokio::spawn(async move { r3.admin_request("UpdateObject", json!({})).await });
        let sent: Value = serde_json::from_str(&rx.recv().await.unwrap()).unwrap();
        reg.deliver(
            1,
            sent["src"].as_str().unwrap(),
            json!({"errorText":"no such object"}),
        );
        let err = failing.await.unwrap().unwrap_err();
        assert!(err.to_string().contains("no such object"), "{err}");

        let r4 = reg.clone();
        let lost = tokio::spawn(async move { r4.admin_request("GetObject", json!({})).await });
        rx.recv().await.unwrap();
        reg.unregister(1);
        assert!(matches!(
            lost.await.unwrap(),
            Err(PbxError::Disconnected { .. })
        ));
    }

    #[tokio::test]
    async fn a_full_outbox_drops_and_signals_overflow() {
        let (outbox, mut rx, overflow) = Outbox::new(2);
        assert!(outbox.send("a".into()));
        assert!(outbox.send("b".into()));
        assert!(!outbox.send("c".into()));
        // The permit is kept: a reader that looks later still sees the overflow.
        assert!(
            tokio::time::timeout(Duration::from_millis(50), overflow.notified())
                .await
                .is_ok()
        );
        assert_eq!(rx.try_recv().ok().as_deref(), Some("a"));
        drop(rx);
        assert!(!outbox.send("d".into()));
    }

    #[test]
    fn devices_url_survives_a_pbx_leaving() {
        let reg = PbxRegistry::new(Some("ws://old/".into()));
        let (tx, _rx, _) = Outbox::new(16);
        reg.register(1, tx, info(&["Services"]));
        assert_eq!(reg.devices_url().as_deref(), Some("ws://old/"));
        reg.set_devices_url(1, Some("ws://new/".into()));
        assert_eq!(reg.devices_url().as_deref(), Some("ws://new/"));
        reg.unregister(1);
        assert_eq!(reg.devices_url().as_deref(), Some("ws://new/"));
    }
}
