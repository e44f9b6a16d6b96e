//! A simulated innovaphone PBX, as far as an App Service with an App object sees it (§2, §3,
//! §7, §10 A and D): the PBX dials the App object URL (http→ws, https→wss), is the
//! AppWebsocket *client* and logs in with the App object password, then sends `PbxInfo` and
//! `AppInfo` and serves the APIs granted on the App object over the same socket. It keeps the
//! connection open and reconnects after a loss (100 ms, doubling to 2 s; back to 100 ms after
//! a successful login), also after a refused login, as a real PBX keeps trying.
//!
//! Choices where the notes are silent or unsure:
//!
//! - **AppLogin**: `app` = the last path segment of the URL, `domain`, `sip` = the App object's
//!   SIP name, `guid` = a fixed random guid of the App object, `dn`, no `pbxObj`, and `info`
//!   with the keys in this order: `appobj, appdn, appurl, pbx, cn, apps, apis, lics`. The
//!   digest hashes exactly the `info` text sent. A challenge longer than 16 characters or
//!   empty is logged as a warning but answered.
//! - **After login**: `PbxInfo`, then `{"mt":"AppInfo","app":..}` (no `src`); whatever
//!   `AppInfoResult` comes back is recorded as is.
//! - **APIs**: a message whose `api` is not in [`PbxConfig::apis`] is ignored (logged), as the
//!   PBX does not serve an API that is not granted. In a granted API an unknown request `X`
//!   (not ending in `Result`/`Info`) is answered `{"api","mt":"XResult","src","error":1,
//!   "errorText":"..."}` so that a client does not hang; a message without `api` other than
//!   `AppInfoResult` is ignored (logged).
//! - **Services**: `SubscribeServices` → `SubscribeServicesResult` then `ServicesInfo` (with
//!   the subscription's `src`); [`PbxSim::set_devices_url`] sends a new `ServicesInfo` to
//!   every subscription of the open connection; `UnsubscribeServices` ends one. The list is
//!   `devices-api` when a Devices URL is set, else empty. `GetServiceLogin` is answered with
//!   an error (there is no Devices AppWebsocket service to log into).
//! - **PbxAdminApi**: `GetObject` by `guid` (else `cn`) answers the whole object; an unknown
//!   one gets `GetObjectResult` with `error` 1 and `errorText`. `UpdateObject` changes only the
//!   properties present (`api`, `mt`, `src`, `guid` excluded), replaces arrays (`devices`)
//!   whole, deletes a boolean property sent as a number (at the top level and in each device),
//!   identifies the object by `guid`, by `cn` for guid `"*"`, and by `cn` or creates it for
//!   `"?"` or no guid; it answers `UpdateObjectResult` (`src` echoed), or with `error` when the
//!   object is unknown, or when a device carries a property the PBX does not document
//!   ([`DEVICE_KEYS`]). Every PbxAdminApi message is recorded ([`PbxSim::admin_requests`]).
//! - **Garbage from the app** (a text frame that is not a JSON object, or a binary frame):
//!   logged, and the PBX closes the connection (then reconnects).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context as _, bail};
use futures::StreamExt as _;
use parking_lot::Mutex;
use serde_json::{Map, Value, json};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

use super::crypto;
use super::ws::{self, Ws, ws_url};

/// How long each step of connecting and logging in may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(5);
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// The App object the PBX connects with, and the PBX's own identity.
#[derive(Clone)]
pub struct PbxConfig {
    /// The App object URL, `http(s)://host:port/path/innovaphone-yealink`; the PBX dials its
    /// ws(s):// form.
    pub app_url: String,
    /// The App object password (= the App instance password).
    pub password: String,
    /// The PBX domain.
    pub domain: String,
    /// The PBX name.
    pub pbx_name: String,
    /// The PBX DNS name (the phones' registrar).
    pub pbx_dns: String,
    /// The App object's SIP name.
    pub app_sip: String,
    /// The App object's display name.
    pub app_dn: String,
    /// The APIs granted on the App object (`PbxInfo.apis`).
    pub apis: Vec<String>,
    /// The App object's guid (32 hex digits), sent in AppLogin.
    pub guid: String,
    /// Where ServicesInfo puts a service's id in `info`.
    pub services_shape: ServicesShape,
    /// How this PBX signs Users' login to the app ([`super::UsersSim::add_phone`]).
    pub users_login: super::UsersLoginForm,
}

/// The shape of `services[].info` in ServicesInfo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ServicesShape {
    /// `{"com.innovaphone.devices": {}}`, as 13r1-SDK `doc/appwebsocket/Services.htm` documents
    /// `AppServiceInfo` (service id to model).
    #[default]
    Documented,
    /// `{"apis": {"com.innovaphone.devices": {}}}`: the app's published info as myApps' `AppInfo`
    /// has it (`doc/appwebsocket/myApps.htm`), which innovaphone's app code also reads.
    ApisNested,
}

impl std::fmt::Debug for PbxConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PbxConfig")
            .field("app_url", &self.app_url)
            .field("services_shape", &self.services_shape)
            .field("users_login", &self.users_login)
            .field("password", &"***")
            .field("domain", &self.domain)
            .field("pbx_name", &self.pbx_name)
            .field("pbx_dns", &self.pbx_dns)
            .field("app_sip", &self.app_sip)
            .field("app_dn", &self.app_dn)
            .field("apis", &self.apis)
            .field("guid", &self.guid)
            .finish()
    }
}

impl PbxConfig {
    /// Realistic defaults: domain `example.com`, PBX `master` at `pbx.example.com`, App object
    /// `yealink` / `Yealink` with `PbxAdminApi` and `Services`.
    pub fn new(app_url: &str, password: &str) -> PbxConfig {
        PbxConfig {
            app_url: app_url.to_owned(),
            password: password.to_owned(),
            domain: "example.com".to_owned(),
            pbx_name: "master".to_owned(),
            pbx_dns: "pbx.example.com".to_owned(),
            app_sip: "yealink".to_owned(),
            app_dn: "Yealink".to_owned(),
            apis: vec!["PbxAdminApi".to_owned(), "Services".to_owned()],
            guid: crypto::random_guid(),
            services_shape: ServicesShape::Documented,
            users_login: super::UsersLoginForm::OwnAppObject,
        }
    }
}

/// Where the PBX's connection to the app stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginState {
    /// Not yet connected (first attempt running).
    Connecting,
    /// Logged in; the connection is open.
    LoggedIn,
    /// The last login was refused (the app's `errorText`, or a description); retrying.
    Failed(String),
    /// No connection (the app is unreachable, or a logged-in connection was lost); retrying.
    Disconnected,
}

/// The simulated PBX. Cloning gives another handle to the same PBX; it stops when
/// [`PbxSim::stop`] is called or the last handle is dropped.
#[derive(Debug, Clone)]
pub struct PbxSim {
    inner: Arc<Inner>,
    _lifetime: Arc<Lifetime>,
}

#[derive(Debug)]
struct Lifetime(Arc<Inner>);

impl Drop for Lifetime {
    fn drop(&mut self) {
        self.0.stopping.store(true, Ordering::SeqCst);
        if let Some(task) = self.0.task.lock().take() {
            task.abort();
        }
    }
}

#[derive(Debug)]
struct Inner {
    config: PbxConfig,
    state: Mutex<State>,
    events: Mutex<Vec<String>>,
    changed: watch::Sender<u64>,
    task: Mutex<Option<JoinHandle<()>>>,
    stopping: AtomicBool,
}

#[derive(Debug)]
struct State {
    login: LoginState,
    devices_url: Option<String>,
    /// PBX objects (users), in creation order.
    objects: Vec<Value>,
    /// `src` of every open `SubscribeServices` on the current connection.
    subscribers: Vec<Option<String>>,
    app_info_result: Option<Value>,
    admin_requests: Vec<Value>,
    connections: u32,
    cmd: Option<mpsc::UnboundedSender<Cmd>>,
}

#[derive(Debug)]
enum Cmd {
    Disconnect,
    Raw(String),
    ServicesInfo,
    Stop,
}

impl PbxSim {
    /// Starts the PBX: a task connects to `config.app_url` and stays connected. With
    /// `devices_url`, ServicesInfo lists the Devices API at that URL.
    pub async fn start(config: PbxConfig, devices_url: Option<String>) -> PbxSim {
        let (changed, _) = watch::channel(0u64);
        let inner = Arc::new(Inner {
            config,
            state: Mutex::new(State {
                login: LoginState::Connecting,
                devices_url,
                objects: Vec::new(),
                subscribers: Vec::new(),
                app_info_result: None,
                admin_requests: Vec::new(),
                connections: 0,
                cmd: None,
            }),
            events: Mutex::new(Vec::new()),
            changed,
            task: Mutex::new(None),
            stopping: AtomicBool::new(false),
        });
        let task = tokio::spawn(run(Arc::clone(&inner)));
        *inner.task.lock() = Some(task);
        PbxSim {
            _lifetime: Arc::new(Lifetime(Arc::clone(&inner))),
            inner,
        }
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &PbxConfig {
        &self.inner.config
    }

    /// Changes the Devices URL and sends a new ServicesInfo to the current subscribers.
    pub fn set_devices_url(&self, url: Option<String>) {
        let mut state = self.inner.state.lock();
        state.devices_url = url;
        if let Some(cmd) = &state.cmd {
            let _ = cmd.send(Cmd::ServicesInfo);
        }
        drop(state);
        self.inner.event("devices URL changed".to_owned());
    }

    /// Creates a user object with these devices; returns its guid.
    pub fn add_user(&self, cn: &str, h323: &str, devices: Vec<Value>) -> String {
        let guid = crypto::random_guid();
        let object = json!({
            "guid": guid, "cn": cn, "dn": cn, "h323": h323, "e164": "", "pwd": "",
            "loc": self.inner.config.pbx_name, "node": "root", "config": "", "apps": "",
            "hide": false, "devices": devices,
        });
        self.inner.state.lock().objects.push(object);
        self.inner.bump();
        guid
    }

    /// The object with this `cn`, as GetObject would return it.
    pub fn user(&self, cn: &str) -> Option<Value> {
        self.inner
            .state
            .lock()
            .objects
            .iter()
            .find(|o| o.get("cn").and_then(Value::as_str) == Some(cn))
            .cloned()
    }

    /// Adds a device to the object with this `cn` (replacing one with the same `hw`).
    pub fn add_device_to_user(&self, cn: &str, device: Value) {
        let hw = device.get("hw").cloned();
        let mut state = self.inner.state.lock();
        let Some(object) = state
            .objects
            .iter_mut()
            .find(|o| o.get("cn").and_then(Value::as_str) == Some(cn))
        else {
            drop(state);
            self.inner
                .event(format!("add_device_to_user: no object {cn:?}"));
            return;
        };
        let Some(map) = object.as_object_mut() else {
            return;
        };
        let devices = map
            .entry("devices")
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Some(list) = devices.as_array_mut() {
            match list
                .iter_mut()
                .find(|d| hw.is_some() && d.get("hw") == hw.as_ref())
            {
                Some(slot) => *slot = device,
                None => list.push(device),
            }
        }
        drop(state);
        self.inner.bump();
    }

    /// The current login state.
    pub fn login_state(&self) -> LoginState {
        self.inner.state.lock().login.clone()
    }

    /// Waits until the PBX is logged in.
    pub async fn wait_logged_in(&self, timeout: Duration) -> anyhow::Result<()> {
        self.wait(timeout, |s| s.login == LoginState::LoggedIn)
            .await
            .with_context(|| format!("PBX not logged in within {timeout:?}"))
    }

    /// Waits until the app has an open `SubscribeServices` on the current connection.
    pub async fn wait_subscribed(&self, timeout: Duration) -> anyhow::Result<()> {
        self.wait(timeout, |s| !s.subscribers.is_empty())
            .await
            .with_context(|| format!("app did not subscribe to Services within {timeout:?}"))
    }

    async fn wait(&self, timeout: Duration, done: impl Fn(&State) -> bool) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut rx = self.inner.changed.subscribe();
        loop {
            rx.borrow_and_update();
            let (finished, login) = {
                let state = self.inner.state.lock();
                (done(&state), state.login.clone())
            };
            if finished {
                return Ok(());
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                _ => bail!("timed out (login state {login:?})"),
            }
        }
    }

    /// The last `AppInfoResult` the app sent.
    pub fn app_info_result(&self) -> Option<Value> {
        self.inner.state.lock().app_info_result.clone()
    }

    /// Every PbxAdminApi message the app sent, in order.
    pub fn admin_requests(&self) -> Vec<Value> {
        self.inner.state.lock().admin_requests.clone()
    }

    /// How many websocket connections to the app were opened.
    pub fn connections(&self) -> u32 {
        self.inner.state.lock().connections
    }

    /// The log, oldest first (no passwords, digests or keys).
    pub fn events(&self) -> Vec<String> {
        self.inner.events.lock().clone()
    }

    /// Drops the connection now, without a close handshake; the reconnect follows.
    pub fn disconnect(&self) {
        if let Some(cmd) = &self.inner.state.lock().cmd {
            let _ = cmd.send(Cmd::Disconnect);
        }
    }

    /// Sends this text frame as is on the open connection.
    pub fn send_raw(&self, text: String) {
        if let Some(cmd) = &self.inner.state.lock().cmd {
            let _ = cmd.send(Cmd::Raw(text));
        }
    }

    /// Closes the connection (close frame) and stops reconnecting; waits up to 2 s.
    pub async fn stop(self) {
        self.inner.stopping.store(true, Ordering::SeqCst);
        if let Some(cmd) = &self.inner.state.lock().cmd {
            let _ = cmd.send(Cmd::Stop);
        }
        let task = self.inner.task.lock().take();
        if let Some(task) = task {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(2), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

impl Inner {
    fn event(&self, text: String) {
        self.events.lock().push(text);
    }

    fn bump(&self) {
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
    }

    fn set_login(&self, login: LoginState) {
        self.state.lock().login = login;
        self.bump();
    }

    fn services_info(&self, src: Option<&String>) -> String {
        let url = self.state.lock().devices_url.clone();
        let info = match self.config.services_shape {
            ServicesShape::Documented => json!({"com.innovaphone.devices": {}}),
            ServicesShape::ApisNested => json!({"apis": {"com.innovaphone.devices": {}}}),
        };
        let services = match url {
            Some(url) => json!([{"name": "devices-api", "title": "Devices API", "url": url,
                                 "info": info}]),
            None => json!([]),
        };
        let mut msg = json!({"api": "Services", "mt": "ServicesInfo"});
        if let (Some(map), Some(src)) = (msg.as_object_mut(), src) {
            map.insert("src".to_owned(), Value::String(src.clone()));
        }
        if let Some(map) = msg.as_object_mut() {
            map.insert("services".to_owned(), services);
        }
        msg.to_string()
    }

    /// Answers one message from the app; `Err` means close the connection.
    fn handle(&self, text: &str) -> Result<Vec<String>, String> {
        let msg: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let Some(map) = msg.as_object() else {
            return Err("not a JSON object".to_owned());
        };
        let mt = map.get("mt").and_then(Value::as_str).unwrap_or_default();
        let api = map.get("api").and_then(Value::as_str);
        let src = map.get("src").and_then(Value::as_str).map(str::to_owned);
        let Some(api) = api else {
            if mt == "AppInfoResult" {
                self.state.lock().app_info_result = Some(msg.clone());
                self.bump();
                self.event("AppInfoResult received".to_owned());
            } else {
                self.event(format!("message {mt:?} without api ignored"));
            }
            return Ok(Vec::new());
        };
        if api == "PbxAdminApi" {
            self.state.lock().admin_requests.push(msg.clone());
            self.bump();
        }
        if !self.config.apis.iter().any(|a| a == api) {
            self.event(format!(
                "{api} {mt}: API not granted on the App object, ignored"
            ));
            return Ok(Vec::new());
        }
        if mt.ends_with("Result") || mt.ends_with("Info") {
            self.event(format!("{api} {mt}: not a request, ignored"));
            return Ok(Vec::new());
        }
        let reply = |mt: &str, extra: Value| {
            let mut out = Map::new();
            out.insert("api".to_owned(), Value::String(api.to_owned()));
            out.insert("mt".to_owned(), Value::String(mt.to_owned()));
            if let Some(src) = &src {
                out.insert("src".to_owned(), Value::String(src.clone()));
            }
            if let Value::Object(extra) = extra {
                out.extend(extra);
            }
            Value::Object(out).to_string()
        };
        let error = |text: &str| json!({"error": 1, "errorText": text});
        let replies = match (api, mt) {
            ("Services", "SubscribeServices") => {
                self.state.lock().subscribers.push(src.clone());
                self.bump();
                self.event(format!("SubscribeServices (src {src:?})"));
                vec![
                    reply("SubscribeServicesResult", json!({})),
                    self.services_info(src.as_ref()),
                ]
            }
            ("Services", "UnsubscribeServices") => {
                let mut state = self.state.lock();
                if let Some(pos) = state.subscribers.iter().position(|s| *s == src) {
                    state.subscribers.remove(pos);
                } else {
                    state.subscribers.clear();
                }
                drop(state);
                self.bump();
                vec![reply("UnsubscribeServicesResult", json!({}))]
            }
            ("Services", "GetServiceLogin") => vec![reply(
                "GetServiceLoginResult",
                error("no service login in the simulator"),
            )],
            ("PbxAdminApi", "GetObject") => {
                let found = self.find_object(map.get("guid"), map.get("cn"), map.get("h323"));
                match found {
                    Some(object) => {
                        self.event(format!(
                            "GetObject {}",
                            object.get("cn").and_then(Value::as_str).unwrap_or_default()
                        ));
                        vec![reply("GetObjectResult", object)]
                    }
                    None => {
                        self.event("GetObject: no such object".to_owned());
                        vec![reply("GetObjectResult", error("object not found"))]
                    }
                }
            }
            ("PbxAdminApi", "UpdateObject") => match self.update_object(map) {
                Ok(cn) => {
                    self.event(format!("UpdateObject {cn}"));
                    vec![reply("UpdateObjectResult", json!({}))]
                }
                Err(why) => {
                    self.event(format!("UpdateObject refused: {why}"));
                    vec![reply("UpdateObjectResult", error(&why))]
                }
            },
            (api, mt) => {
                self.event(format!("{api} {mt}: not supported, error answered"));
                vec![reply(
                    &format!("{mt}Result"),
                    error("not supported by the simulator"),
                )]
            }
        };
        Ok(replies)
    }

    /// By `guid`, else `cn`, else `h323` (PbxAdminApi 14r1 `GetObject`: "If no guid and no cn
    /// is present, the h323-id (Name) can be used").
    fn find_object(
        &self,
        guid: Option<&Value>,
        cn: Option<&Value>,
        h323: Option<&Value>,
    ) -> Option<Value> {
        let state = self.state.lock();
        let guid = guid.and_then(Value::as_str).filter(|g| !g.is_empty());
        let cn = cn.and_then(Value::as_str);
        let h323 = h323.and_then(Value::as_str);
        state
            .objects
            .iter()
            .find(|o| match guid {
                Some(guid) => o
                    .get("guid")
                    .and_then(Value::as_str)
                    .is_some_and(|g| g.eq_ignore_ascii_case(guid)),
                None if cn.is_some() => o.get("cn").and_then(Value::as_str) == cn,
                None => h323.is_some_and(|h| {
                    o.get("h323")
                        .and_then(Value::as_str)
                        .is_some_and(|o| o.eq_ignore_ascii_case(h))
                }),
            })
            .cloned()
    }

    /// Applies an UpdateObject; returns the object's cn.
    fn update_object(&self, msg: &Map<String, Value>) -> Result<String, String> {
        check_device_keys(msg)?;
        let guid = msg.get("guid").and_then(Value::as_str);
        let cn = msg.get("cn").and_then(Value::as_str);
        let mut state = self.state.lock();
        let by_cn = |objects: &[Value], cn: Option<&str>| {
            cn.and_then(|cn| {
                objects
                    .iter()
                    .position(|o| o.get("cn").and_then(Value::as_str) == Some(cn))
            })
        };
        let index = match guid {
            Some("*") => {
                Some(by_cn(&state.objects, cn).ok_or_else(|| format!("no object with cn {cn:?}"))?)
            }
            Some("?") | None => by_cn(&state.objects, cn),
            Some(guid) => Some(
                state
                    .objects
                    .iter()
                    .position(|o| {
                        o.get("guid")
                            .and_then(Value::as_str)
                            .is_some_and(|g| g.eq_ignore_ascii_case(guid))
                    })
                    .ok_or_else(|| "no object with this guid".to_owned())?,
            ),
        };
        let index = match index {
            Some(index) => index,
            None => {
                let Some(cn) = cn else {
                    return Err("cannot create an object without cn".to_owned());
                };
                state
                    .objects
                    .push(json!({"guid": crypto::random_guid(), "cn": cn}));
                state.objects.len() - 1
            }
        };
        let Some(object) = state.objects.get_mut(index).and_then(Value::as_object_mut) else {
            return Err("object is not a JSON object".to_owned());
        };
        for (key, value) in msg {
            if matches!(key.as_str(), "api" | "mt" | "src" | "guid") {
                continue;
            }
            if key == "devices" {
                let Some(list) = value.as_array() else {
                    return Err("devices is not an array".to_owned());
                };
                let devices: Vec<Value> = list.iter().map(strip_inherited).collect();
                object.insert(key.clone(), Value::Array(devices));
            } else if value.is_number() && is_bool_property(key) {
                object.remove(key);
            } else {
                object.insert(key.clone(), value.clone());
            }
        }
        let cn = object
            .get("cn")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        drop(state);
        self.bump();
        Ok(cn)
    }
}

/// Boolean properties of a PBX object (PbxAdminApi) and of a device (§7).
fn is_bool_property(key: &str) -> bool {
    matches!(
        key,
        "hide"
            | "colr"
            | "uclic"
            | "voicemail"
            | "fax"
            | "mobility"
            | "mypbx"
            | "video"
            | "app-sharing"
            | "reporting"
            | "critical"
            | "admin"
            | "no-filter"
            | "tls"
            | "no-mob"
            | "trusted"
            | "sreg"
            | "mr"
            | "voip"
    )
}

/// A device with its booleans sent as numbers removed (inherited from the template).
fn strip_inherited(device: &Value) -> Value {
    match device.as_object() {
        Some(map) => Value::Object(
            map.iter()
                .filter(|(k, v)| !(v.is_number() && is_bool_property(k)))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        None => device.clone(),
    }
}

/// The last non-empty path segment of a URL (the AppLogin `app`).
pub(crate) fn last_segment(url: &str) -> String {
    let path = url
        .split_once("://")
        .map_or(url, |(_, rest)| rest)
        .split(['?', '#'])
        .next()
        .unwrap_or_default();
    path.split_once('/')
        .map_or("", |(_, rest)| rest)
        .split('/')
        .rfind(|s| !s.is_empty())
        .unwrap_or_default()
        .to_owned()
}

async fn run(inner: Arc<Inner>) {
    let mut backoff = BACKOFF_MIN;
    while !inner.stopping.load(Ordering::SeqCst) {
        let logged_in = connect_once(&inner).await;
        {
            let mut state = inner.state.lock();
            state.cmd = None;
            state.subscribers.clear();
        }
        inner.bump();
        if inner.stopping.load(Ordering::SeqCst) {
            break;
        }
        if logged_in {
            backoff = BACKOFF_MIN;
        }
        tokio::time::sleep(backoff).await;
        if !logged_in {
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }
}

/// One connection: connect, log in, serve until it ends. Returns whether the login succeeded.
async fn connect_once(inner: &Arc<Inner>) -> bool {
    let url = ws_url(&inner.config.app_url);
    let ws = match tokio::time::timeout(STEP_TIMEOUT, tokio_tungstenite::connect_async(&url)).await
    {
        Ok(Ok((ws, _))) => ws,
        Ok(Err(e)) => {
            inner.event(format!("cannot connect to {url}: {e}"));
            inner.set_login(LoginState::Disconnected);
            return false;
        }
        Err(_) => {
            inner.event(format!("connecting to {url} timed out"));
            inner.set_login(LoginState::Disconnected);
            return false;
        }
    };
    let (tx, rx) = mpsc::unbounded_channel();
    {
        let mut state = inner.state.lock();
        state.connections += 1;
        state.cmd = Some(tx);
    }
    inner.bump();
    inner.event(format!("connected to {url}"));
    let mut ws = ws;
    match login(inner, &mut ws).await {
        Ok(()) => {}
        Err(why) => {
            inner.event(format!("login failed: {why}"));
            inner.set_login(LoginState::Failed(why.to_string()));
            let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
            return false;
        }
    }
    inner.set_login(LoginState::LoggedIn);
    inner.event("logged in".to_owned());
    serve(inner, ws, rx).await;
    if !inner.stopping.load(Ordering::SeqCst) {
        inner.set_login(LoginState::Disconnected);
    }
    true
}

async fn send_text(ws: &mut Ws, text: String) -> anyhow::Result<()> {
    ws::send_text(ws, text, STEP_TIMEOUT).await
}

/// Reads messages until one with this `mt` (others are logged and skipped).
async fn expect(inner: &Inner, ws: &mut Ws, mt: &str) -> anyhow::Result<Value> {
    ws::expect(ws, mt, STEP_TIMEOUT, |other| {
        inner.event(format!("while waiting for {mt}: skipped {other}"))
    })
    .await
}

async fn login(inner: &Inner, ws: &mut Ws) -> anyhow::Result<()> {
    let config = &inner.config;
    send_text(ws, json!({"mt": "AppChallenge"}).to_string()).await?;
    let answer = expect(inner, ws, "AppChallengeResult").await?;
    let challenge = answer
        .get("challenge")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if challenge.is_empty() || challenge.len() > 16 {
        inner.event(format!(
            "warning: challenge of {} characters (expected 1..=16)",
            challenge.len()
        ));
    }
    let app = last_segment(&config.app_url);
    let info = json!({
        "appobj": config.app_sip,
        "appdn": config.app_dn,
        "appurl": config.app_url,
        "pbx": config.pbx_name,
        "cn": config.app_dn,
        "apps": [{"name": "devices-api", "dn": "Devices API"}],
        "apis": config.apis,
        "lics": 1,
    });
    let info_text = info.to_string();
    let digest = crypto::app_login_digest(
        &app,
        &config.domain,
        &config.app_sip,
        &config.guid,
        &config.app_dn,
        Some(&info_text),
        &challenge,
        &config.password,
    );
    let head = json!({
        "mt": "AppLogin", "app": app, "domain": config.domain, "sip": config.app_sip,
        "guid": config.guid, "dn": config.app_dn, "digest": digest,
    })
    .to_string();
    // The info is appended as the very text that was hashed.
    let text = format!(
        "{},\"info\":{info_text}}}",
        head.strip_suffix('}').unwrap_or(&head)
    );
    send_text(ws, text).await?;
    let result = expect(inner, ws, "AppLoginResult").await?;
    if result.get("ok").and_then(Value::as_bool) != Some(true) {
        let why = result
            .get("errorText")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| result.get("error").map(Value::to_string))
            .unwrap_or_else(|| "login refused (no ok)".to_owned());
        bail!("{why}");
    }
    let pbx_info = json!({
        "mt": "PbxInfo", "domain": config.domain, "pbx": config.pbx_name,
        "pbxDns": config.pbx_dns, "apis": config.apis, "version": "13r3 sim",
        "build": "1300000",
    });
    send_text(ws, pbx_info.to_string()).await?;
    send_text(ws, json!({"mt": "AppInfo", "app": app}).to_string()).await?;
    Ok(())
}

async fn serve(inner: &Arc<Inner>, mut ws: Ws, mut rx: mpsc::UnboundedReceiver<Cmd>) {
    loop {
        tokio::select! {
            incoming = ws.next() => match incoming {
                None => {
                    inner.event("connection closed by the app".to_owned());
                    return;
                }
                Some(Err(e)) => {
                    inner.event(format!("connection lost: {e}"));
                    return;
                }
                Some(Ok(Message::Text(text))) => match inner.handle(text.as_str()) {
                    Ok(replies) => {
                        for reply in replies {
                            if send_text(&mut ws, reply).await.is_err() {
                                inner.event("connection lost while answering".to_owned());
                                return;
                            }
                        }
                    }
                    Err(why) => {
                        inner.event(format!("garbage from the app ({why}): closing"));
                        let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
                        return;
                    }
                },
                Some(Ok(Message::Binary(_))) => {
                    inner.event("binary frame from the app: closing".to_owned());
                    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
                    return;
                }
                Some(Ok(Message::Close(_))) => {
                    inner.event("app closed the connection".to_owned());
                    return;
                }
                Some(Ok(_)) => {}
            },
            cmd = rx.recv() => match cmd {
                Some(Cmd::Disconnect) => {
                    inner.event("disconnect (fault injection)".to_owned());
                    return;
                }
                Some(Cmd::Raw(text)) => {
                    inner.event(format!("raw text frame of {} bytes sent", text.len()));
                    if send_text(&mut ws, text).await.is_err() {
                        return;
                    }
                }
                Some(Cmd::ServicesInfo) => {
                    let subscribers = inner.state.lock().subscribers.clone();
                    for src in subscribers {
                        let info = inner.services_info(src.as_ref());
                        if send_text(&mut ws, info).await.is_err() {
                            return;
                        }
                    }
                }
                Some(Cmd::Stop) | None => {
                    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
                    return;
                }
            }
        }
    }
}

/// Device properties the PBX documents: PbxAdminApi's `device` object (`hw, text, app, admin,
/// no-filter, tls, no-mob, trusted`; 13r1-SDK `doc/appwebsocket/PbxAdminApi.htm`) and the device
/// columns of the same user object in PbxTableUsers (`sreg, mr, voip, gk-id, prim`;
/// `doc/appwebsocket/PbxTableUsers.htm`). Anything else in `devices` is refused, so an app that
/// guesses a property name finds out here.
const DEVICE_KEYS: &[&str] = &[
    "hw",
    "text",
    "app",
    "admin",
    "no-filter",
    "tls",
    "no-mob",
    "trusted",
    "sreg",
    "mr",
    "voip",
    "gk-id",
    "prim",
];

fn check_device_keys(msg: &Map<String, Value>) -> Result<(), String> {
    let Some(devices) = msg.get("devices").and_then(Value::as_array) else {
        return Ok(());
    };
    for device in devices.iter().filter_map(Value::as_object) {
        if let Some(key) = device.keys().find(|k| !DEVICE_KEYS.contains(&k.as_str())) {
            return Err(format!("unknown device property {key:?}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_helpers() {
        assert_eq!(
            last_segment("http://127.0.0.1:1/example.com/yealink/innovaphone-yealink"),
            "innovaphone-yealink"
        );
        assert_eq!(last_segment("https://h/a/b/"), "b");
        assert_eq!(last_segment("http://h/app?x=1"), "app");
        assert_eq!(last_segment("http://h"), "");
    }

    #[test]
    fn inherited_booleans_are_removed() {
        let device = json!({"hw": "a", "tls": -1, "mr": true, "text": "x"});
        assert_eq!(
            strip_inherited(&device),
            json!({"hw": "a", "mr": true, "text": "x"})
        );
    }
}
