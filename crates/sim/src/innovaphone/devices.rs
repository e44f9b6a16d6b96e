//! A simulated Devices app, as far as a 3rd-party provisioning app sees it: the sysclient
//! websocket endpoint (§6, §10 C), the provisioning categories and the codes Users gets for
//! them (§4).
//!
//! It serves `ws://127.0.0.1:PORT/{domain}/devices/sysclients` only (any other path, such as
//! `.../devices/innovaphone-devices-api/sysclients` below the App object URL: HTTP 404)
//! and is strict: a text frame, an unreadable binary frame, an Identify it cannot accept or a
//! wrong digest makes it log why (see [`DevicesSim::events`]) and close the connection with
//! close code 1008. A refused provisioning code (unknown, used, expired) does not close it: as
//! innovaphone's `doc/protocol/sysclient.htm` says, the sysclient is just "not added to any
//! domain", so the connection stays open and nothing is sent.
//!
//! Choices where the notes are silent or unsure:
//!
//! - **Codes** are 12 random digits, valid 15 minutes, usable once. Presenting a valid code for
//!   a MAC that is already known re-provisions it (new password, the code's category).
//! - **A code from a device already in a domain** (it has a sysclient password) is challenged
//!   first, as sysclient.htm's message flow says: the challenge comes "if already inside a
//!   domain", and a sysclient is "not added to any domain ... as long as it can't answer the
//!   challenge". The digest must use the password the device has now; only then is the code
//!   taken and the new password sent (`0x0001`, "added to a domain during this session"). A
//!   wrong digest closes the connection; with a right digest but a refused code the device is
//!   accepted in the domain it is in (no new password).
//! - **Accepted identify**: `0x0001 {password}` (first time only), then `0x0003 {seed,pwd}` (the
//!   device admin password, see [`DevicesSim::set_admin_password`]; sent to every accepted
//!   device, as it is not configuration), then, only if the Identify had `other:true`, one
//!   `0x0006 {"config":item,"last":false}` per item with `last:true` on the final one. A
//!   category without items sends a single `{"last":true}` (no `config`). `EXPERT` items are
//!   never sent (§4: not for 3rd-party sysclients).
//! - **Secrets in items**: items are stored with `turnPassword` / `logPassword` in clear; when an
//!   item is sent, each is replaced by RC4 keyed `seed:sysclientPassword` (hex) with a fresh
//!   16-digit seed in `turnSeed` / `logSeed` (§6 [L]: the same scheme as `0x0003`).
//! - **Reconnect**: an Identify without code for a MAC that has a password gets `0x0002` with a
//!   16-digit challenge; the next Identify must carry the same `id` and
//!   `digest = sha256(id:product:version:challenge:password)` over the `product`/`version` of
//!   that second Identify. A MAC without a password and without code is kept open and sent
//!   nothing (an unassigned device waiting for an administrator), as the real app lists such
//!   devices rather than refusing them.
//! - **Second connection** for the same MAC: the newer one wins, the older one is closed.
//! - **Updates** ([`DevicesSim::update_item`]) carry only the changed item, with `last:true`:
//!   a client that applies configuration when it sees `last` applies the update at once.
//! - A further Identify on an accepted connection, admin messages Devices does not expect from
//!   a device, and tunnel events for unknown sessions are logged and ignored.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use futures::{SinkExt as _, StreamExt as _};
use parking_lot::Mutex;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{mpsc, watch};
use tokio::task::{AbortHandle, JoinHandle};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::crypto;
use super::frame::{self, Frame};

/// The file name a Devices API App object URL ends in (innovaphone's Devices app).
pub const DEVICES_APP_FILE: &str = "innovaphone-devices-api";

/// How long a provisioning code is valid (GetProvisioningCode without `rollout`).
pub const CODE_VALIDITY: Duration = Duration::from_secs(15 * 60);

/// The device admin password the simulator hands out in `0x0003` unless changed.
pub const DEFAULT_ADMIN_PASSWORD: &str = "dev-admin-pw";

/// What the simulator knows about one device (a MAC that presented a valid code once).
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceView {
    /// The Identify `id` (the MAC).
    pub id: String,
    /// `product` of the last accepted Identify.
    pub product: String,
    /// `version` of the last accepted Identify.
    pub version: String,
    /// The category its code was bound to.
    pub category: String,
    /// A sysclient connection is open and identified.
    pub connected: bool,
    /// How many connections were accepted (identified) so far.
    pub connections: u32,
    /// The device has a sysclient password (it does once a code was accepted).
    pub has_password: bool,
    /// How many sysclient passwords (`0x0001`) were sent to it so far.
    pub passwords_issued: u32,
    /// The last Identify JSON received for this id once it was known (accepted or not).
    pub last_identify: Option<Value>,
}

/// One tunnel event the device sent back during [`DevicesSim::tunnel_probe`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelEventSeen {
    /// The tunnel session.
    pub session: u32,
    /// The event number (`frame::TUNNEL_*`).
    pub event: u32,
    /// The payload.
    pub data: Vec<u8>,
}

impl TunnelEventSeen {
    /// `send`, `receive`, `receive-result`, `send-result`, `shutdown` or `event N`.
    pub fn name(&self) -> String {
        match self.event {
            frame::TUNNEL_SEND => "send".to_owned(),
            frame::TUNNEL_RECEIVE => "receive".to_owned(),
            frame::TUNNEL_RECEIVE_RESULT => "receive-result".to_owned(),
            frame::TUNNEL_SEND_RESULT => "send-result".to_owned(),
            frame::TUNNEL_SHUTDOWN => "shutdown".to_owned(),
            n => format!("event {n}"),
        }
    }

    /// The payload as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }
}

/// Realistic configuration items of one category (§4): PHONE (G722, SDES), MEDIA (STUN and
/// TURN; `turnPassword` in clear here, encrypted per device when sent), NTP, TLS_PROFILE and
/// ALARM_SERVER (`logPassword` in clear, likewise).
pub fn example_items() -> Vec<Value> {
    vec![
        json!({"id": "1", "domainId": "1", "desc": "Yealink phones", "type": "PHONE",
               "categories": ["1"], "gk1": "", "gk2": "", "gkId": "", "coder": "G722",
               "frameSize": 20, "exclusive": false, "srtpKey": 2, "srtpCipher": 0,
               "dialTone": 0}),
        json!({"id": "2", "domainId": "1", "desc": "Media", "type": "MEDIA",
               "categories": ["1"], "stunServer": "stun.example.com:3478",
               "turnServer": "turn.example.com:3478", "turnUser": "turnuser",
               "turnPassword": "turn-secret", "tosRtp": "b8", "tosSig": "68"}),
        json!({"id": "3", "domainId": "1", "desc": "Time", "type": "NTP",
               "categories": ["1"], "ntp1": "ntp1.example.com", "ntp2": "ntp2.example.com",
               "tz": "CET-1CEST-2,M3.5.0/2,M10.5.0/3"}),
        json!({"id": "4", "domainId": "1", "desc": "TLS", "type": "TLS_PROFILE",
               "categories": ["1"], "profile": "secure"}),
        json!({"id": "5", "domainId": "1", "desc": "Alarms", "type": "ALARM_SERVER",
               "categories": ["1"], "url": "https://alarm.example.com/alarm",
               "logUrl": "https://log.example.com/log", "logUser": "loguser",
               "logPassword": "log-secret", "setLogUrl": true}),
    ]
}

/// The simulated Devices app. Cloning gives another handle to the same simulator; it stops
/// when [`DevicesSim::stop`] is called or the last handle is dropped.
#[derive(Debug, Clone)]
pub struct DevicesSim {
    inner: Arc<Inner>,
    _lifetime: Arc<Lifetime>,
}

#[derive(Debug)]
struct Lifetime(Arc<Inner>);

impl Drop for Lifetime {
    fn drop(&mut self) {
        self.0.abort_all();
    }
}

#[derive(Debug)]
struct Inner {
    domain: String,
    addr: SocketAddr,
    /// `wss://` when set (the bench's throwaway certificate, [`DevicesTls`]).
    tls: Option<Arc<rustls::ServerConfig>>,
    state: Mutex<State>,
    events: Mutex<Vec<String>>,
    changed: watch::Sender<u64>,
    listener: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Debug, Default)]
struct State {
    categories: BTreeMap<String, Vec<Value>>,
    codes: HashMap<String, Code>,
    devices: BTreeMap<String, Device>,
    conns: HashMap<u64, Conn>,
    next_conn: u64,
    next_session: u32,
    probes: HashMap<(u64, u32), mpsc::UnboundedSender<TunnelEventSeen>>,
    admin_password: Option<String>,
}

#[derive(Debug)]
struct Code {
    category: String,
    issued: Instant,
    expired: bool,
    used_by: Option<String>,
}

#[derive(Debug)]
struct Device {
    product: String,
    version: String,
    category: String,
    password: Option<String>,
    passwords_issued: u32,
    other: bool,
    connections: u32,
    conn: Option<u64>,
    last_identify: Option<Value>,
}

#[derive(Debug)]
struct Conn {
    tx: mpsc::UnboundedSender<Out>,
    abort: Option<AbortHandle>,
}

#[derive(Debug)]
enum Out {
    Bytes(Vec<u8>),
    Close(String),
}

/// Where a connection is in the sysclient exchange.
#[derive(Debug, Clone)]
enum Phase {
    /// Nothing identified yet.
    Fresh,
    /// A challenge was sent for this id; `code`: the provisioning code its Identify carried,
    /// taken once the digest is right.
    Challenged {
        id: String,
        challenge: String,
        code: Option<String>,
    },
    /// Identified and accepted.
    Ready { id: String },
    /// An unknown device without code, waiting (nothing is sent).
    Unassigned { id: String },
}

/// What handling one frame leads to.
enum Step {
    Continue(Vec<Vec<u8>>),
    Close(String),
}

impl DevicesSim {
    /// Serves the sysclient endpoint of `domain` on `127.0.0.1` on a free port.
    pub async fn start(domain: &str) -> anyhow::Result<DevicesSim> {
        DevicesSim::start_with(domain, None).await
    }

    /// The same over TLS (`wss://`), as a real App Platform serves it.
    pub async fn start_tls(domain: &str, tls: &DevicesTls) -> anyhow::Result<DevicesSim> {
        DevicesSim::start_with(domain, Some(tls.config.clone())).await
    }

    async fn start_with(
        domain: &str,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> anyhow::Result<DevicesSim> {
        let listener =
            bind(SocketAddr::from(([127, 0, 0, 1], 0))).context("binding the Devices simulator")?;
        let addr = listener.local_addr()?;
        let (changed, _) = watch::channel(0u64);
        let inner = Arc::new(Inner {
            domain: domain.to_owned(),
            addr,
            tls,
            state: Mutex::new(State {
                admin_password: Some(DEFAULT_ADMIN_PASSWORD.to_owned()),
                next_session: 1,
                ..State::default()
            }),
            events: Mutex::new(Vec::new()),
            changed,
            listener: Mutex::new(None),
        });
        let task = tokio::spawn(accept_loop(Arc::clone(&inner), listener));
        *inner.listener.lock() = Some(task);
        inner.event(format!("listening on {addr} for domain {domain}"));
        Ok(DevicesSim {
            _lifetime: Arc::new(Lifetime(Arc::clone(&inner))),
            inner,
        })
    }

    /// Realistic configuration items (see [`example_items`]).
    pub fn example_items() -> Vec<Value> {
        example_items()
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// `ws://127.0.0.1:PORT/{domain}/devices/innovaphone-devices-api`: the Devices API App
    /// object URL, as the PBX's ServicesInfo advertises it. A real App object URL ends in the
    /// app's file name (13r1-SDK `doc/appwebsocket/Services.htm` "url"; the wiki's App object
    /// URL `https://<ap>/<domain>/<instance>/<app file>`), and the sysclient endpoint is *beside*
    /// it ([`DevicesSim::sysclients_url`]), so a client that appends `/sysclients` to this URL
    /// gets HTTP 404, as from a real App Platform.
    pub fn websocket_url(&self) -> String {
        format!(
            "{}://{}/{}/devices/{DEVICES_APP_FILE}",
            self.inner.scheme("ws"),
            self.inner.addr,
            self.inner.domain
        )
    }

    /// The same App object URL as the PBX's admin UI shows it (`http://`), which the PBX also
    /// puts into ServicesInfo when the App object was entered that way.
    pub fn app_object_http_url(&self) -> String {
        format!(
            "{}://{}/{}/devices/{DEVICES_APP_FILE}",
            self.inner.scheme("http"),
            self.inner.addr,
            self.inner.domain
        )
    }

    /// `ws://127.0.0.1:PORT/{domain}/devices/sysclients` (13r1-SDK `doc/protocol/sysclient.htm`:
    /// `wss://app-platform-dns/domain.com/devices/sysclients`).
    pub fn sysclients_url(&self) -> String {
        format!(
            "{}://{}/{}/devices/sysclients",
            self.inner.scheme("ws"),
            self.inner.addr,
            self.inner.domain
        )
    }

    /// Creates (or replaces) a provisioning category with these configuration items.
    pub fn add_category(&self, name: &str, items: Vec<Value>) {
        let count = items.len();
        self.inner
            .state
            .lock()
            .categories
            .insert(name.to_owned(), items);
        self.inner
            .event(format!("category {name:?} set ({count} items)"));
    }

    /// The items of a category, as stored (secrets in clear).
    pub fn category_items(&self, name: &str) -> Option<Vec<Value>> {
        self.inner.state.lock().categories.get(name).cloned()
    }

    /// A fresh 12-digit provisioning code bound to `category`, valid 15 minutes, usable once
    /// (what GetProvisioningCode gives Users). An unknown category is created empty.
    pub fn issue_code(&self, category: &str) -> String {
        let mut state = self.inner.state.lock();
        if !state.categories.contains_key(category) {
            state.categories.insert(category.to_owned(), Vec::new());
            self.inner
                .event(format!("category {category:?} created empty for a code"));
        }
        let code = loop {
            let code = crypto::random_digits(12);
            if !state.codes.contains_key(&code) {
                break code;
            }
        };
        state.codes.insert(
            code.clone(),
            Code {
                category: category.to_owned(),
                issued: Instant::now(),
                expired: false,
                used_by: None,
            },
        );
        drop(state);
        self.inner.event(format!(
            "provisioning code issued for category {category:?}"
        ));
        code
    }

    /// Makes a code expire now (as if its 15 minutes had passed).
    pub fn expire_code(&self, code: &str) {
        if let Some(c) = self.inner.state.lock().codes.get_mut(code) {
            c.expired = true;
        }
    }

    /// The device admin password sent in `0x0003` (None: no `0x0003` is sent).
    pub fn set_admin_password(&self, password: Option<&str>) {
        self.inner.state.lock().admin_password = password.map(str::to_owned);
    }

    /// Replaces the item of `item`'s `type` in `category` (or adds it) and pushes it alone,
    /// `{"config":item,"last":true}`, to every connected device of that category that
    /// identified with `other:true`.
    pub fn update_item(&self, category: &str, item: Value) {
        let kind = item_type(&item);
        let mut state = self.inner.state.lock();
        let items = state.categories.entry(category.to_owned()).or_default();
        match items.iter_mut().find(|i| item_type(i) == kind) {
            Some(slot) => *slot = item.clone(),
            None => items.push(item.clone()),
        }
        let mut pushed = 0;
        if kind != "EXPERT" {
            let targets: Vec<(u64, String)> = state
                .devices
                .values()
                .filter(|d| d.category == category && d.other)
                .filter_map(|d| Some((d.conn?, d.password.clone()?)))
                .collect();
            for (conn, password) in targets {
                let config = prepare_item(&item, &password);
                let bytes = frame::admin_bytes(
                    frame::ADMIN_CONFIGURATION,
                    &json!({"config": config, "last": true}).to_string(),
                );
                if let Some(c) = state.conns.get(&conn)
                    && c.tx.send(Out::Bytes(bytes)).is_ok()
                {
                    pushed += 1;
                }
            }
        }
        drop(state);
        self.inner.event(format!(
            "category {category:?}: item {kind} updated, pushed to {pushed} device(s)"
        ));
    }

    /// Every device that presented a valid code once.
    pub fn devices(&self) -> Vec<DeviceView> {
        let state = self.inner.state.lock();
        state
            .devices
            .iter()
            .map(|(id, d)| DeviceView {
                id: id.clone(),
                product: d.product.clone(),
                version: d.version.clone(),
                category: d.category.clone(),
                connected: d.conn.is_some(),
                connections: d.connections,
                has_password: d.password.is_some(),
                passwords_issued: d.passwords_issued,
                last_identify: d.last_identify.clone(),
            })
            .collect()
    }

    /// One device by MAC (any notation).
    pub fn device(&self, mac: &str) -> Option<DeviceView> {
        let mac = normalize_mac(mac);
        self.devices().into_iter().find(|d| d.id == mac)
    }

    /// Forgets a device (an administrator deleted it in Devices) and closes its connection:
    /// its next Identify without code is an unassigned device.
    pub fn remove_device(&self, mac: &str) {
        let mac = normalize_mac(mac);
        let mut state = self.inner.state.lock();
        if let Some(device) = state.devices.remove(&mac)
            && let Some(conn) = device.conn.and_then(|c| state.conns.get(&c))
        {
            let _ = conn.tx.send(Out::Close("device deleted".to_owned()));
        }
        drop(state);
        self.inner.event(format!("{mac}: device deleted"));
        self.inner.bump();
    }

    /// Waits until `mac` has an identified connection.
    pub async fn wait_connected(&self, mac: &str, timeout: Duration) -> anyhow::Result<()> {
        let mac = normalize_mac(mac);
        let deadline = tokio::time::Instant::now() + timeout;
        let mut rx = self.inner.changed.subscribe();
        loop {
            rx.borrow_and_update();
            let connected = self
                .inner
                .state
                .lock()
                .devices
                .get(&mac)
                .is_some_and(|d| d.conn.is_some());
            if connected {
                return Ok(());
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                _ => bail!("{mac} did not connect to the Devices simulator within {timeout:?}"),
            }
        }
    }

    /// Opens a tunnel session to the connected device `mac`: `send` (event 0) with a small
    /// HTTP GET and `receive` (event 1, max 65536 bytes), then collects what comes back for
    /// up to 2 s (until both `send-result` and `receive-result` were seen), then repeats the
    /// `receive` as real Devices does "until all data is read" and collects for 300 ms more,
    /// then sends `shutdown` and waits up to 300 ms for its confirmation. Returns every event
    /// received.
    pub async fn tunnel_probe(&self, mac: &str) -> anyhow::Result<Vec<TunnelEventSeen>> {
        let mac = normalize_mac(mac);
        let (tx, mut rx) = mpsc::unbounded_channel();
        let (conn_id, session, out) = {
            let mut state = self.inner.state.lock();
            let Some(conn_id) = state.devices.get(&mac).and_then(|d| d.conn) else {
                bail!("{mac} is not connected to the Devices simulator");
            };
            let Some(out) = state.conns.get(&conn_id).map(|c| c.tx.clone()) else {
                bail!("{mac} is not connected to the Devices simulator");
            };
            let session = state.next_session;
            state.next_session = state.next_session.wrapping_add(1).max(1);
            state.probes.insert((conn_id, session), tx);
            (conn_id, session, out)
        };
        self.inner
            .event(format!("{mac}: tunnel probe on session {session}"));
        let request = format!(
            "GET / HTTP/1.1\r\nHost: {mac}\r\nUser-Agent: devices-sim\r\nConnection: close\r\n\r\n"
        );
        let sent = out
            .send(Out::Bytes(frame::tunnel_bytes(
                session,
                frame::TUNNEL_SEND,
                request.as_bytes(),
            )))
            .and_then(|()| {
                out.send(Out::Bytes(frame::tunnel_bytes(
                    session,
                    frame::TUNNEL_RECEIVE,
                    &65536u32.to_be_bytes(),
                )))
            });
        let mut seen = Vec::new();
        if sent.is_ok() {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
            let done = |seen: &[TunnelEventSeen]| {
                seen.iter().any(|e| e.event == frame::TUNNEL_SEND_RESULT)
                    && seen.iter().any(|e| e.event == frame::TUNNEL_RECEIVE_RESULT)
            };
            while !done(&seen) {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(event)) => seen.push(event),
                    _ => break,
                }
            }
            if out
                .send(Out::Bytes(frame::tunnel_bytes(
                    session,
                    frame::TUNNEL_RECEIVE,
                    &65536u32.to_be_bytes(),
                )))
                .is_ok()
            {
                let deadline = tokio::time::Instant::now() + Duration::from_millis(300);
                while let Ok(Some(event)) = tokio::time::timeout_at(deadline, rx.recv()).await {
                    seen.push(event);
                }
            }
            if out
                .send(Out::Bytes(frame::tunnel_bytes(
                    session,
                    frame::TUNNEL_SHUTDOWN,
                    &[],
                )))
                .is_ok()
            {
                let deadline = tokio::time::Instant::now() + Duration::from_millis(300);
                while let Ok(Some(event)) = tokio::time::timeout_at(deadline, rx.recv()).await {
                    let shutdown = event.event == frame::TUNNEL_SHUTDOWN;
                    seen.push(event);
                    if shutdown {
                        break;
                    }
                }
            }
        }
        self.inner.state.lock().probes.remove(&(conn_id, session));
        let names: Vec<String> = seen.iter().map(TunnelEventSeen::name).collect();
        self.inner.event(format!(
            "{mac}: tunnel session {session} saw [{}]",
            names.join(", ")
        ));
        Ok(seen)
    }

    /// Sends an arbitrary binary frame to the connected device `mac` (logged; ignored when
    /// it is not connected).
    pub fn send_raw(&self, mac: &str, bytes: Vec<u8>) {
        let mac = normalize_mac(mac);
        let len = bytes.len();
        let sent = {
            let state = self.inner.state.lock();
            state
                .devices
                .get(&mac)
                .and_then(|d| d.conn)
                .and_then(|c| state.conns.get(&c))
                .is_some_and(|c| c.tx.send(Out::Bytes(bytes)).is_ok())
        };
        if sent {
            self.inner
                .event(format!("{mac}: raw frame of {len} bytes sent"));
        } else {
            self.inner
                .event(format!("{mac}: raw frame not sent, not connected"));
        }
    }

    /// Drops every connection and stops listening; after ~200 ms listens again on the same
    /// port. Categories, codes, devices and passwords are kept.
    pub async fn restart(&self) {
        let listener = self.inner.listener.lock().take();
        if let Some(task) = listener {
            task.abort();
            let _ = tokio::time::timeout(Duration::from_secs(2), task).await;
        }
        let dropped = self.inner.drop_connections();
        self.inner.event(format!(
            "restart: stopped listening, dropped {dropped} connection(s)"
        ));
        tokio::time::sleep(Duration::from_millis(200)).await;
        let deadline = Instant::now() + Duration::from_secs(3);
        let listener = loop {
            match bind(self.inner.addr) {
                Ok(listener) => break Some(listener),
                Err(e) if Instant::now() >= deadline => {
                    self.inner.event(format!(
                        "restart: cannot listen on {} again: {e}",
                        self.inner.addr
                    ));
                    break None;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        };
        if let Some(listener) = listener {
            let task = tokio::spawn(accept_loop(Arc::clone(&self.inner), listener));
            *self.inner.listener.lock() = Some(task);
            self.inner
                .event(format!("restart: listening on {} again", self.inner.addr));
        }
    }

    /// The log, oldest first (no secrets: no passwords, codes or digests).
    pub fn events(&self) -> Vec<String> {
        self.inner.events.lock().clone()
    }

    /// Closes every connection (close frame, then up to 500 ms) and stops listening.
    pub async fn stop(self) {
        let listener = self.inner.listener.lock().take();
        if let Some(task) = listener {
            task.abort();
        }
        let senders: Vec<_> = self
            .inner
            .state
            .lock()
            .conns
            .values()
            .map(|c| c.tx.clone())
            .collect();
        for tx in &senders {
            let _ = tx.send(Out::Close("Devices shutting down".to_owned()));
        }
        let deadline = Instant::now() + Duration::from_millis(500);
        while !self.inner.state.lock().conns.is_empty() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.inner.abort_all();
    }
}

impl Inner {
    fn scheme(&self, plain: &str) -> String {
        if self.tls.is_some() {
            format!("{plain}s")
        } else {
            plain.to_owned()
        }
    }

    fn event(&self, text: String) {
        self.events.lock().push(text);
    }

    fn bump(&self) {
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// Aborts every connection task and forgets the connections; returns how many.
    fn drop_connections(&self) -> usize {
        let mut state = self.state.lock();
        let conns: Vec<Conn> = state.conns.drain().map(|(_, c)| c).collect();
        for device in state.devices.values_mut() {
            device.conn = None;
        }
        state.probes.clear();
        drop(state);
        for conn in &conns {
            if let Some(abort) = &conn.abort {
                abort.abort();
            }
        }
        self.bump();
        conns.len()
    }

    fn abort_all(&self) {
        if let Some(task) = self.listener.lock().take() {
            task.abort();
        }
        self.drop_connections();
    }

    /// Removes a finished connection.
    fn forget_connection(&self, conn_id: u64) {
        let mut state = self.state.lock();
        state.conns.remove(&conn_id);
        state.probes.retain(|(c, _), _| *c != conn_id);
        for device in state.devices.values_mut() {
            if device.conn == Some(conn_id) {
                device.conn = None;
            }
        }
        drop(state);
        self.bump();
    }

    /// Handles one binary frame of connection `conn_id`.
    fn on_frame(&self, conn_id: u64, phase: &mut Phase, bytes: &[u8]) -> Step {
        let frame = match Frame::decode(bytes) {
            Ok(frame) => frame,
            Err(why) => return Step::Close(format!("garbled frame: {why}")),
        };
        match frame {
            Frame::Admin {
                kind: frame::ADMIN_IDENTIFY,
                json,
            } => self.on_identify(conn_id, phase, json),
            Frame::Admin { kind, .. } => {
                self.event(format!(
                    "{}: unexpected admin message 0x{kind:04x} from the device, ignored",
                    phase_id(phase)
                ));
                Step::Continue(Vec::new())
            }
            Frame::Tunnel {
                session,
                event,
                data,
            } => {
                let seen = TunnelEventSeen {
                    session,
                    event,
                    data,
                };
                let state = self.state.lock();
                let delivered = state
                    .probes
                    .get(&(conn_id, session))
                    .is_some_and(|tx| tx.send(seen.clone()).is_ok());
                drop(state);
                if !delivered {
                    self.event(format!(
                        "{}: tunnel {} for unknown session {session}, ignored",
                        phase_id(phase),
                        seen.name()
                    ));
                }
                Step::Continue(Vec::new())
            }
        }
    }

    fn on_identify(&self, conn_id: u64, phase: &mut Phase, identify: Value) -> Step {
        let text = |key: &str| {
            identify
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let id = text("id");
        let product = text("product");
        let version = text("version");
        let code = text("provisioningCode");
        let digest = text("digest");
        let other = identify.get("other").and_then(Value::as_bool) == Some(true);
        if id.is_empty() {
            return Step::Close("Identify without id".to_owned());
        }
        if !is_plain_mac(&id) {
            self.event(format!(
                "{id}: warning: Identify id is not a lower-case MAC without separators"
            ));
        }
        if identify.pointer("/platform/type").and_then(Value::as_str) != Some("PHONE") {
            self.event(format!(
                "{id}: warning: Identify without platform.type PHONE"
            ));
        }
        let mut state = self.state.lock();
        if let Some(device) = state.devices.get_mut(&id) {
            device.last_identify = Some(identify.clone());
        }
        match phase.clone() {
            Phase::Ready { id: current } | Phase::Unassigned { id: current } => {
                drop(state);
                self.event(format!(
                    "{current}: further Identify on an open connection, ignored"
                ));
                Step::Continue(Vec::new())
            }
            Phase::Challenged {
                id: challenged,
                challenge,
                code: presented,
            } => {
                if id != challenged {
                    return Step::Close(format!(
                        "{challenged}: Identify after the challenge names another id ({id})"
                    ));
                }
                if digest.is_empty() {
                    return Step::Close(format!(
                        "{id}: Identify after the challenge without digest"
                    ));
                }
                let Some(password) = state.devices.get(&id).and_then(|d| d.password.clone()) else {
                    return Step::Close(format!("{id}: device vanished during the challenge"));
                };
                let expected =
                    crypto::sysclient_digest(&id, &product, &version, &challenge, &password);
                if !digest.eq_ignore_ascii_case(&expected) {
                    return Step::Close(format!("{id}: wrong digest"));
                }
                if let Some(code) = presented {
                    if let Some(why) = code_refusal(&state, &code) {
                        self.event(format!(
                            "{id}: {why}: stays in its domain with its password"
                        ));
                    } else if let Some(category) = state.codes.get_mut(&code).map(|c| {
                        c.used_by = Some(id.clone());
                        c.category.clone()
                    }) {
                        if let Some(device) = state.devices.get_mut(&id) {
                            device.category = category.clone();
                        }
                        let frames = self.accept(
                            &mut state,
                            conn_id,
                            &id,
                            &product,
                            &version,
                            other,
                            &identify,
                            Some(crypto::random_alnum(32)),
                        );
                        drop(state);
                        self.event(format!(
                            "{id}: answered the challenge and re-provisioned with a valid provisioning code into category {category:?} ({product} {version}, other:{other})"
                        ));
                        *phase = Phase::Ready { id };
                        self.bump();
                        return Step::Continue(frames);
                    }
                }
                let frames = self.accept(
                    &mut state, conn_id, &id, &product, &version, other, &identify, None,
                );
                drop(state);
                self.event(format!(
                    "{id}: reconnected with a valid digest ({product} {version}, other:{other})"
                ));
                *phase = Phase::Ready { id };
                self.bump();
                Step::Continue(frames)
            }
            Phase::Fresh
                if !code.is_empty()
                    && state.devices.get(&id).is_some_and(|d| d.password.is_some()) =>
            {
                drop(state);
                let challenge = crypto::random_digits(16);
                self.event(format!(
                    "{id}: known device presented a provisioning code, challenge sent first"
                ));
                let bytes = frame::admin_bytes(
                    frame::ADMIN_CHALLENGE,
                    &json!({"challenge": challenge}).to_string(),
                );
                *phase = Phase::Challenged {
                    id,
                    challenge,
                    code: Some(code),
                };
                Step::Continue(vec![bytes])
            }
            Phase::Fresh if !code.is_empty() => {
                // A refused code leaves the socket open and sends nothing: the sysclient is
                // just "not added to any domain" (sysclient.htm).
                if let Some(why) = code_refusal(&state, &code) {
                    drop(state);
                    self.event(format!(
                        "{id}: {why}: not added to any domain, nothing sent"
                    ));
                    return Step::Continue(Vec::new());
                }
                let Some(category) = state.codes.get(&code).map(|c| c.category.clone()) else {
                    return Step::Continue(Vec::new());
                };
                if let Some(c) = state.codes.get_mut(&code) {
                    c.used_by = Some(id.clone());
                }
                let password = crypto::random_alnum(32);
                let previous = state.devices.get(&id).map(|d| (d.connections, d.conn));
                let known = previous.is_some();
                let (connections, conn) = previous.unwrap_or((0, None));
                state.devices.insert(
                    id.clone(),
                    Device {
                        product: product.clone(),
                        version: version.clone(),
                        category: category.clone(),
                        password: None,
                        passwords_issued: 0,
                        other,
                        connections,
                        conn,
                        last_identify: Some(identify.clone()),
                    },
                );
                let frames = self.accept(
                    &mut state,
                    conn_id,
                    &id,
                    &product,
                    &version,
                    other,
                    &identify,
                    Some(password),
                );
                drop(state);
                self.event(format!(
                    "{id}: {} with a valid provisioning code into category {category:?} ({product} {version}, other:{other})",
                    if known { "re-provisioned" } else { "provisioned" }
                ));
                *phase = Phase::Ready { id };
                self.bump();
                Step::Continue(frames)
            }
            Phase::Fresh if !digest.is_empty() => Step::Close(format!(
                "{id}: Identify with a digest but no challenge was sent"
            )),
            Phase::Fresh => {
                let known = state.devices.get(&id).is_some_and(|d| d.password.is_some());
                drop(state);
                if known {
                    let challenge = crypto::random_digits(16);
                    self.event(format!("{id}: known device, challenge sent"));
                    let bytes = frame::admin_bytes(
                        frame::ADMIN_CHALLENGE,
                        &json!({"challenge": challenge}).to_string(),
                    );
                    *phase = Phase::Challenged {
                        id,
                        challenge,
                        code: None,
                    };
                    Step::Continue(vec![bytes])
                } else {
                    self.event(format!(
                        "{id}: unknown device without provisioning code: left unassigned, nothing sent"
                    ));
                    *phase = Phase::Unassigned { id };
                    Step::Continue(Vec::new())
                }
            }
        }
    }

    /// Marks `id` connected on `conn_id` and returns the frames to send: the new password
    /// (if given), the admin password, and (with `other`) the configuration.
    #[allow(clippy::too_many_arguments)]
    fn accept(
        &self,
        state: &mut State,
        conn_id: u64,
        id: &str,
        product: &str,
        version: &str,
        other: bool,
        identify: &Value,
        new_password: Option<String>,
    ) -> Vec<Vec<u8>> {
        let admin_password = state.admin_password.clone();
        let Some(device) = state.devices.get_mut(id) else {
            return Vec::new();
        };
        let old_conn = device.conn.replace(conn_id).filter(|c| *c != conn_id);
        device.connections += 1;
        device.product = product.to_owned();
        device.version = version.to_owned();
        device.other = other;
        device.last_identify = Some(identify.clone());
        let mut frames = Vec::new();
        if let Some(password) = new_password {
            frames.push(frame::admin_bytes(
                frame::ADMIN_PASSWORD,
                &json!({"password": password}).to_string(),
            ));
            device.password = Some(password);
            device.passwords_issued += 1;
        }
        let password = device.password.clone().unwrap_or_default();
        let category = device.category.clone();
        if let Some(admin) = admin_password {
            let seed = crypto::random_digits(16);
            let pwd = crypto::encrypt(&seed, &password, &admin);
            frames.push(frame::admin_bytes(
                frame::ADMIN_ADMIN_PASSWORD,
                &json!({"seed": seed, "pwd": pwd}).to_string(),
            ));
        }
        if other {
            let items: Vec<Value> = state
                .categories
                .get(&category)
                .map(|items| {
                    items
                        .iter()
                        .filter(|i| item_type(i) != "EXPERT")
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            if items.is_empty() {
                frames.push(frame::admin_bytes(
                    frame::ADMIN_CONFIGURATION,
                    &json!({"last": true}).to_string(),
                ));
            }
            let count = items.len();
            for (n, item) in items.iter().enumerate() {
                let config = prepare_item(item, &password);
                frames.push(frame::admin_bytes(
                    frame::ADMIN_CONFIGURATION,
                    &json!({"config": config, "last": n + 1 == count}).to_string(),
                ));
            }
        }
        if let Some(old) = old_conn.and_then(|c| state.conns.get(&c)) {
            let _ = old
                .tx
                .send(Out::Close("replaced by a newer connection".to_owned()));
        }
        frames
    }
}

/// Why `code` cannot be used now, if it cannot.
fn code_refusal(state: &State, code: &str) -> Option<&'static str> {
    match state.codes.get(code) {
        None => Some("unknown provisioning code"),
        Some(c) if c.used_by.is_some() => Some("provisioning code already used"),
        Some(c) if c.expired || c.issued.elapsed() > CODE_VALIDITY => {
            Some("provisioning code expired")
        }
        Some(_) => None,
    }
}

fn phase_id(phase: &Phase) -> String {
    match phase {
        Phase::Fresh => "(unidentified)".to_owned(),
        Phase::Challenged { id, .. } | Phase::Ready { id } | Phase::Unassigned { id } => id.clone(),
    }
}

fn item_type(item: &Value) -> String {
    item.get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// The item as sent to one device: `turnPassword`/`logPassword` encrypted with a fresh
/// `turnSeed`/`logSeed`, keyed `seed:sysclientPassword`.
fn prepare_item(item: &Value, sysclient_password: &str) -> Value {
    let mut item = item.clone();
    if let Some(map) = item.as_object_mut() {
        for (secret, seed_key) in [("turnPassword", "turnSeed"), ("logPassword", "logSeed")] {
            let plain = map.get(secret).and_then(Value::as_str).map(str::to_owned);
            if let Some(plain) = plain.filter(|p| !p.is_empty()) {
                let seed = crypto::random_digits(16);
                map.insert(
                    secret.to_owned(),
                    Value::String(crypto::encrypt(&seed, sysclient_password, &plain)),
                );
                map.insert(seed_key.to_owned(), Value::String(seed));
            }
        }
    }
    item
}

fn is_plain_mac(id: &str) -> bool {
    id.len() == 12
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Lower-case, separators removed.
pub(crate) fn normalize_mac(mac: &str) -> String {
    mac.chars()
        .filter(|c| !matches!(c, ':' | '-' | '.' | ' '))
        .flat_map(char::to_lowercase)
        .collect()
}

/// The simulated App Platform's certificate (benchmarks and tests).
pub struct DevicesTls {
    config: Arc<rustls::ServerConfig>,
}

/// A throwaway private CA and a certificate from it for `127.0.0.1` and `localhost`, as PEM:
/// (CA certificate, server certificate, server key). The client is told to trust the CA.
pub fn throwaway_certificate() -> anyhow::Result<(String, String, String)> {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;
    let key = KeyPair::generate()?;
    let cert = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])?
        .signed_by(&key, &ca)?;
    Ok((ca.pem(), cert.pem(), key.serialize_pem()))
}

impl DevicesTls {
    /// From a PEM certificate chain and its PEM private key.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> anyhow::Result<DevicesTls> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};

        let chain = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .context("reading the Devices certificate")?;
        let key =
            PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).context("reading the Devices key")?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
        Ok(DevicesTls {
            config: Arc::new(config),
        })
    }
}

fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    if !addr.ip().is_loopback() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("the Devices simulator listens on loopback only, not {addr}"),
        ));
    }
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(128)
}

async fn accept_loop(inner: Arc<Inner>, listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                let (tx, rx) = mpsc::unbounded_channel();
                let conn_id = {
                    let mut state = inner.state.lock();
                    state.next_conn += 1;
                    let id = state.next_conn;
                    state.conns.insert(id, Conn { tx, abort: None });
                    id
                };
                let task = match inner.tls.clone() {
                    None => tokio::spawn(serve_connection(Arc::clone(&inner), stream, conn_id, rx)),
                    Some(config) => {
                        let acceptor = tokio_rustls::TlsAcceptor::from(config);
                        let inner = Arc::clone(&inner);
                        tokio::spawn(async move {
                            let accepted = tokio::time::timeout(
                                Duration::from_secs(10),
                                acceptor.accept(stream),
                            )
                            .await;
                            match accepted {
                                Ok(Ok(stream)) => {
                                    serve_connection(inner, stream, conn_id, rx).await
                                }
                                Ok(Err(e)) => {
                                    inner.event(format!("TLS handshake failed: {e}"));
                                    inner.forget_connection(conn_id);
                                }
                                Err(_) => {
                                    inner.event("TLS handshake timed out".to_owned());
                                    inner.forget_connection(conn_id);
                                }
                            }
                        })
                    }
                };
                if let Some(conn) = inner.state.lock().conns.get_mut(&conn_id) {
                    conn.abort = Some(task.abort_handle());
                }
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

async fn serve_connection<S>(
    inner: Arc<Inner>,
    stream: S,
    conn_id: u64,
    mut rx: mpsc::UnboundedReceiver<Out>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let expected = format!("/{}/devices/sysclients", inner.domain);
    let seen_path = Arc::new(Mutex::new(String::new()));
    let seen = Arc::clone(&seen_path);
    // The error type is tungstenite's own (an HTTP response), large or not.
    #[allow(clippy::result_large_err)]
    let callback = move |request: &Request, response: Response| {
        let path = request.uri().path().to_owned();
        *seen.lock() = path.clone();
        if path == expected {
            Ok(response)
        } else {
            let mut refused = ErrorResponse::new(Some("Not Found".to_owned()));
            *refused.status_mut() = StatusCode::NOT_FOUND;
            Err(refused)
        }
    };
    let handshake = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_tungstenite::accept_hdr_async(stream, callback),
    )
    .await;
    let mut ws = match handshake {
        Ok(Ok(ws)) => ws,
        Ok(Err(e)) => {
            let path = seen_path.lock().clone();
            inner.event(format!("websocket handshake refused (path {path:?}): {e}"));
            inner.forget_connection(conn_id);
            return;
        }
        Err(_) => {
            inner.event("websocket handshake timed out".to_owned());
            inner.forget_connection(conn_id);
            return;
        }
    };
    let mut phase = Phase::Fresh;
    let close_reason: Option<String> = loop {
        tokio::select! {
            incoming = ws.next() => {
                let step = match incoming {
                    None => break None,
                    Some(Err(e)) => {
                        inner.event(format!("{}: connection error: {e}", phase_id(&phase)));
                        break None;
                    }
                    Some(Ok(Message::Binary(bytes))) => inner.on_frame(conn_id, &mut phase, &bytes),
                    Some(Ok(Message::Text(_))) => Step::Close("text frame on a sysclient connection".to_owned()),
                    Some(Ok(Message::Close(_))) => {
                        inner.event(format!("{}: closed by the device", phase_id(&phase)));
                        break None;
                    }
                    Some(Ok(_)) => Step::Continue(Vec::new()),
                };
                match step {
                    Step::Continue(frames) => {
                        let mut failed = false;
                        for bytes in frames {
                            if ws.feed(Message::Binary(bytes.into())).await.is_err() {
                                failed = true;
                                break;
                            }
                        }
                        if failed || ws.flush().await.is_err() {
                            break None;
                        }
                    }
                    Step::Close(why) => break Some(why),
                }
            }
            out = rx.recv() => match out {
                Some(Out::Bytes(bytes)) => {
                    if ws.send(Message::Binary(bytes.into())).await.is_err() {
                        break None;
                    }
                }
                Some(Out::Close(why)) => break Some(why),
                None => break None,
            }
        }
    };
    if let Some(why) = close_reason {
        inner.event(format!("{}: closing: {why}", phase_id(&phase)));
        let frame = CloseFrame {
            code: CloseCode::Policy,
            reason: why.chars().take(100).collect::<String>().into(),
        };
        let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(Some(frame))).await;
        // Give the client a moment to answer the close, without waiting for it long.
        let _ = tokio::time::timeout(Duration::from_millis(200), async {
            while let Some(Ok(_)) = ws.next().await {}
        })
        .await;
    }
    inner.forget_connection(conn_id);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client_trusting(ca_pem: Option<&str>) -> Arc<rustls::ClientConfig> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        if let Some(pem) = ca_pem {
            roots
                .add(CertificateDer::from_pem_slice(pem.as_bytes()).expect("CA"))
                .expect("add CA");
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        Arc::new(
            rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("versions")
                .with_root_certificates(roots)
                .with_no_client_auth(),
        )
    }

    #[tokio::test]
    async fn serves_wss_with_the_throwaway_certificate_of_its_ca_only() {
        let (ca, cert, key) = throwaway_certificate().expect("certificate");
        let tls = DevicesTls::from_pem(&cert, &key).expect("TLS");
        let devices = DevicesSim::start_tls("example.com", &tls)
            .await
            .expect("start");
        let url = devices.sysclients_url();
        assert!(url.starts_with("wss://127.0.0.1:"), "{url}");
        assert!(devices.websocket_url().starts_with("wss://"));
        let connect = |config| {
            tokio_tungstenite::connect_async_tls_with_config(
                url.clone(),
                None,
                false,
                Some(tokio_tungstenite::Connector::Rustls(config)),
            )
        };
        assert!(
            connect(client_trusting(None)).await.is_err(),
            "a client that does not trust the CA must be refused"
        );
        connect(client_trusting(Some(&ca)))
            .await
            .expect("wss with the CA trusted");
        devices.stop().await;
    }
}
