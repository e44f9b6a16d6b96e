//! A simulated Yealink Redirection and Provisioning Service (RPS), written from the protocol
//! notes (reference A1, A2.1, A2.2, A3) and never from our own RPS client, so that the two
//! can disagree and the tests notice.
//!
//! One account, reachable through both management APIs, which share one store:
//!
//! - **XML-RPC** at `POST /xmlrpc` (and `/xmlrpc/`), HTTP Basic with
//!   [`RpsSimConfig::xmlrpc_user`]/[`RpsSimConfig::xmlrpc_password`] (wrong or missing: 401).
//!   `redirect.addServer`, `registerDevice`, `registerDeviceWithUniqueUrl`, `deRegisterDevice`,
//!   `checkDevice` answer `[boolean, text]` with the text untyped; the texts are in [`text`].
//!   Any other method, a wrong parameter count or type, or an unreadable body is a `<fault>`
//!   (code 0, Apache XML-RPC's wording: `No such handler: ...`, `No method matching
//!   arguments: ...`, `Failed to parse XML-RPC request: ...`).
//! - **JSON** under `/api/open/v1/`, signed with [`RpsSimConfig::access_key_id`] and
//!   [`RpsSimConfig::access_key_secret`] (see [`sign`] for the string to sign). The error codes
//!   are in [`code`]; the envelope and endpoint rules are below.
//! - **Phone-facing lookup**, `GET /phone/lookup?mac=<mac>`: the simulator's stand-in for the
//!   real phone-to-RPS exchange, which is not public (the real service authenticates the phone
//!   by its factory certificate over mutual TLS; this stand-in has no authentication). A MAC
//!   registered with a destination gets 200 and a [`Destination`] as JSON (`url`, `auth_name`,
//!   `password`): the device's unique URL else its server's URL, and the device's credentials
//!   else the server's. An unknown MAC (or one bound to no server and no URL) gets 404, a
//!   malformed MAC 400. A MAC owned by another account answers with that account's server
//!   (the "RPS lock" of second-hand phones).
//!
//! Choices where the reference is silent or unsure:
//!
//! - Registering a MAC registered to **another account** without `isOverride = "1"` answers
//!   `[false, "Error:" + 10 lower-case alphanumerics]` (falconieri's mapping of "owned by
//!   another user"), the ten characters derived from the MAC: see [`text::owned_elsewhere`].
//!   With override, this account takes the MAC over.
//! - Registering a MAC already registered to **this account** without override answers
//!   `[false, "Existing MAC(s): <mac>"]` (Htek's document of the same API, single source);
//!   with override the binding is replaced.
//! - `registerDeviceWithUniqueUrl` needs all four parameters; `registerDevice` two or three.
//!   `isOverride` is `"1"` to override, anything else not (an `<int>` or `<boolean>` is read
//!   too). Checks run in the order MAC, server, URL, ownership.
//! - MACs echoed in texts are echoed as the client sent them; stored MACs are 12 lower-case
//!   hex digits. Accepted notations: plain, `:`, `-` or space separated, any case.
//! - Server names are unique across all accounts, have no length limit, and the URL check is
//!   a case-sensitive prefix check. XML-RPC servers carry no credentials (only the JSON API
//!   sets `authName`/`password`).
//! - Answers are compact XML (no whitespace between elements) with Apache XML-RPC's
//!   `xmlns:ex` on `<methodResponse>`, as in the vendor documents' examples.
//! - JSON envelope: `ret` is 1 after a change (add, edit, delete; as in the reference's
//!   `server/add` example) and 0 after a read; a refusal is `ret: -1` with HTTP 200, except a
//!   failed signature check (401), an unreadable body (400), an unknown path (404) and a
//!   wrong HTTP method (405). `fieldErrors` name the offending field (`macs` with each MAC
//!   for the device codes).
//! - JSON endpoints: `server/add|list|edit|delete` and `device/add|list|edit|delete` (POST),
//!   `server/detail`, `server/checkServerName` (true if any account uses the name),
//!   `device/detail`, `device/checkMac`, `device/serverList` (GET). Server objects never show
//!   the password. Lists need `skip` and `limit` (`autoCount` is accepted; `total` is always
//!   given); `key` is a case-insensitive substring of the server name, or of the MAC with
//!   separators ignored; `status` is `bound` or `unbound`. `device/add` is all or nothing:
//!   the first MAC already bound decides the code. An edit leaves absent fields alone and
//!   clears a field sent as `null` or `""`. `server/delete` refuses a server devices still use;
//!   `device/delete` takes `ids` and/or `macs`, all or nothing, another account's device
//!   being `device.operate.forbidden`; it answers the number deleted.
//! - JSON signature: a GET without parameters is signed without a trailing query line; the
//!   replay window is 15 minutes either side; a nonce is remembered once a request passes.
//!
//! [`RpsSim::set_behavior`] makes the whole service (all three faces) misbehave.

mod json;
pub mod sign;
mod store;
mod xmlrpc;

use std::collections::HashSet;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use base64::Engine as _;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use json::{PREFIX as JSON_PREFIX, TIMESTAMP_WINDOW_MS, code};
pub use store::{
    Destination, FOREIGN_SERVER_NAME, FOREIGN_SERVER_URL, Owner, SimDevice, SimServer,
};
pub use xmlrpc::text;

use store::{Store, StoredDevice};

/// The account the simulator serves.
#[derive(Clone)]
pub struct RpsSimConfig {
    /// XML-RPC Basic username.
    pub xmlrpc_user: String,
    /// XML-RPC Basic password.
    pub xmlrpc_password: String,
    /// JSON API `X-Ca-Key`.
    pub access_key_id: String,
    /// JSON API signing secret.
    pub access_key_secret: String,
}

impl std::fmt::Debug for RpsSimConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpsSimConfig")
            .field("xmlrpc_user", &self.xmlrpc_user)
            .field("xmlrpc_password", &"***")
            .field("access_key_id", &self.access_key_id)
            .field("access_key_secret", &"***")
            .finish()
    }
}

/// How the service behaves (for every request, on all three faces).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Behavior {
    /// Answers as documented.
    #[default]
    Normal,
    /// HTTP 503 to everything.
    Down503,
    /// Connections are accepted and closed at once, without an answer (also a kept-alive
    /// connection: its next request is cut off).
    Refuse,
    /// Waits this long before answering normally.
    Slow(Duration),
    /// HTTP 200 with a body that is neither XML nor JSON (under the usual content type).
    Garbage,
    /// HTTP 429 with `Retry-After: 1`.
    RateLimited,
}

/// One request the simulator received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimCall {
    /// `"xmlrpc"`, `"json"`, `"phone"` (the lookup) or `"http"` (any other path).
    pub api: String,
    /// The XML-RPC method name (`"(unreadable)"` if the body was not a method call), the
    /// JSON path (`/api/open/v1/device/add`), `/phone/lookup`, or `METHOD /path`.
    pub method: String,
    /// The MAC(s) concerned, normalised when valid (comma-separated for batches).
    pub mac: Option<String>,
    /// The request succeeded: `[true, ..]`, `ret >= 0`, or a lookup that found the MAC.
    pub ok: bool,
}

/// The simulated service. Cloning gives another handle to the same service; it stops when
/// [`RpsSim::stop`] is called or the last handle is dropped.
#[derive(Debug, Clone)]
pub struct RpsSim {
    addr: SocketAddr,
    shared: Arc<Shared>,
    lifetime: Arc<Lifetime>,
}

#[derive(Debug)]
struct Lifetime {
    /// Dropping the sender (with the last handle) starts the graceful shutdown.
    shutdown: Mutex<Option<oneshot::Sender<()>>>,
    task: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Debug)]
struct Shared {
    config: RpsSimConfig,
    behavior: Mutex<Behavior>,
    /// Mirrors `behavior == Refuse` for the connection layer.
    refuse: AtomicBool,
    store: Mutex<Store>,
    calls: Mutex<Vec<SimCall>>,
    nonces: Mutex<HashSet<String>>,
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl RpsSim {
    /// Serves on `127.0.0.1` on a free port until stopped or dropped.
    pub async fn start(config: RpsSimConfig) -> io::Result<RpsSim> {
        RpsSim::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), config).await
    }

    /// Serves on `listen`, which must be a loopback address.
    pub async fn start_on(listen: SocketAddr, config: RpsSimConfig) -> io::Result<RpsSim> {
        if !listen.ip().is_loopback() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("the RPS simulator listens on loopback only, not {listen}"),
            ));
        }
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            config,
            behavior: Mutex::new(Behavior::Normal),
            refuse: AtomicBool::new(false),
            store: Mutex::new(Store::default()),
            calls: Mutex::new(Vec::new()),
            nonces: Mutex::new(HashSet::new()),
        });
        let listener = SimListener {
            inner: listener,
            shared: Arc::clone(&shared),
        };
        let (shutdown, signal) = oneshot::channel::<()>();
        let serve =
            axum::serve(listener, router(Arc::clone(&shared))).with_graceful_shutdown(async move {
                let _ = signal.await;
            });
        let task = tokio::spawn(async move {
            let _ = serve.await;
        });
        Ok(RpsSim {
            addr,
            shared,
            lifetime: Arc::new(Lifetime {
                shutdown: Mutex::new(Some(shutdown)),
                task: Mutex::new(Some(task)),
            }),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The XML-RPC endpoint.
    pub fn xmlrpc_url(&self) -> String {
        format!("{}/xmlrpc", self.base_url())
    }

    /// The JSON API's base URL (its paths are `/api/open/v1/...`).
    pub fn json_base_url(&self) -> String {
        self.base_url()
    }

    /// Changes how the service answers from the next request (or connection) on.
    pub fn set_behavior(&self, behavior: Behavior) {
        *lock(&self.shared.behavior) = behavior;
        self.shared
            .refuse
            .store(behavior == Behavior::Refuse, Ordering::SeqCst);
    }

    /// Every server, of every account.
    pub fn servers(&self) -> Vec<SimServer> {
        let store = lock(&self.shared.store);
        store
            .servers()
            .iter()
            .map(|s| store.public_server(s))
            .collect()
    }

    /// Deletes the server entries named `name` (bound devices keep a dangling id), as an operator
    /// deleting the server in the RPS portal would; a later REDIRECT naming it is answered
    /// `Error:Invalid server` (XML-RPC) or finds no server (JSON). Returns how many went.
    pub fn delete_server_in_portal(&self, name: &str) -> usize {
        let mut store = lock(&self.shared.store);
        let ids: Vec<String> = store
            .servers()
            .iter()
            .filter(|s| s.name == name)
            .map(|s| s.id.clone())
            .collect();
        store.remove_servers(&ids);
        ids.len()
    }

    /// Every device, of every account.
    pub fn devices(&self) -> Vec<SimDevice> {
        let store = lock(&self.shared.store);
        store
            .devices()
            .iter()
            .map(|d| store.public_device(d))
            .collect()
    }

    /// What a phone with this MAC would be told (as `/phone/lookup` answers).
    pub fn destination(&self, mac: &str) -> Option<Destination> {
        let mac = store::parse_mac(mac)?;
        lock(&self.shared.store).destination(&mac)
    }

    /// Every request received so far, in order.
    pub fn calls(&self) -> Vec<SimCall> {
        lock(&self.shared.calls).clone()
    }

    /// Binds `mac` to another account's server ([`FOREIGN_SERVER_NAME`], which points at
    /// [`FOREIGN_SERVER_URL`]), taking it from this account if needed.
    ///
    /// # Panics
    /// If `mac` is not a MAC address (a mistake in the calling test).
    pub fn preregister_foreign(&self, mac: &str) {
        let Some(mac) = store::parse_mac(mac) else {
            panic!("preregister_foreign: {mac:?} is not a MAC address");
        };
        let mut store = lock(&self.shared.store);
        let server_id = store.foreign_server_id();
        store.put_device(StoredDevice {
            id: String::new(),
            mac,
            server_id: Some(server_id),
            unique_url: None,
            auth_name: None,
            password: None,
            remark: None,
            owner: Owner::OtherAccount,
        });
    }

    /// Stops serving (for every handle) and waits up to 5 s for open requests to finish.
    pub async fn stop(self) {
        drop(lock(&self.lifetime.shutdown).take());
        let task = lock(&self.lifetime.task).take();
        if let Some(task) = task {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/xmlrpc", post(xmlrpc_endpoint))
        .route("/xmlrpc/", post(xmlrpc_endpoint))
        .route("/api/open/v1/{*api}", any(json_endpoint))
        .route("/phone/lookup", get(lookup_endpoint))
        .fallback(fallback)
        .with_state(shared)
}

/// Which face a misbehaving answer imitates (its content type).
#[derive(Clone, Copy)]
enum Face {
    XmlRpc,
    Json,
}

const GARBAGE: &str = "%%% upstream garbage %%% <<neither xml>> {nor json";

impl Shared {
    fn record(&self, api: &str, method: &str, mac: Option<String>, ok: bool) {
        lock(&self.calls).push(SimCall {
            api: api.to_owned(),
            method: method.to_owned(),
            mac,
            ok,
        });
    }

    /// The answer the current behaviour forces, if any (after `Slow`'s wait: none).
    async fn misbehave(&self, face: Face) -> Option<Response> {
        let behavior = *lock(&self.behavior);
        match behavior {
            Behavior::Normal => None,
            Behavior::Slow(delay) => {
                tokio::time::sleep(delay).await;
                None
            }
            // A request that was read before the switch to Refuse: 503 rather than hang.
            Behavior::Down503 | Behavior::Refuse => Some(
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [(CONTENT_TYPE, "text/html")],
                    "<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>",
                )
                    .into_response(),
            ),
            Behavior::Garbage => {
                let content_type = match face {
                    Face::XmlRpc => "text/xml; charset=UTF-8",
                    Face::Json => "application/json;charset=UTF-8",
                };
                Some((StatusCode::OK, [(CONTENT_TYPE, content_type)], GARBAGE).into_response())
            }
            Behavior::RateLimited => Some(
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    [(RETRY_AFTER, "1")],
                    "Too Many Requests",
                )
                    .into_response(),
            ),
        }
    }

    fn basic_ok(&self, headers: &HeaderMap) -> bool {
        let Some((scheme, encoded)) = headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().split_once(' '))
        else {
            return false;
        };
        if !scheme.eq_ignore_ascii_case("basic") {
            return false;
        }
        let Some(decoded) = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
        else {
            return false;
        };
        decoded.split_once(':')
            == Some((
                self.config.xmlrpc_user.as_str(),
                self.config.xmlrpc_password.as_str(),
            ))
    }
}

async fn xmlrpc_endpoint(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let call = xmlrpc::parse(&body);
    let (method, mac) = match &call {
        Ok(call) => (call.method.clone(), call.mac()),
        Err(_) => ("(unreadable)".to_owned(), None),
    };
    if let Some(response) = shared.misbehave(Face::XmlRpc).await {
        shared.record("xmlrpc", &method, mac, false);
        return response;
    }
    if !shared.basic_ok(&headers) {
        shared.record("xmlrpc", &method, mac, false);
        return (
            StatusCode::UNAUTHORIZED,
            [(WWW_AUTHENTICATE, "Basic realm=\"RPS\"")],
            "Unauthorized",
        )
            .into_response();
    }
    let reply = match &call {
        Ok(call) => xmlrpc::dispatch(&mut lock(&shared.store), call),
        Err(reason) => xmlrpc::unreadable(reason),
    };
    shared.record("xmlrpc", &method, mac, reply.succeeded());
    (
        StatusCode::OK,
        [(CONTENT_TYPE, "text/xml; charset=UTF-8")],
        xmlrpc::render(&reply),
    )
        .into_response()
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

async fn json_endpoint(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    if let Some(response) = shared.misbehave(Face::Json).await {
        shared.record("json", &path, None, false);
        return response;
    }
    let query = json::query_pairs(uri.query());
    let incoming = json::Incoming {
        method: &method,
        path: &path,
        query: &query,
        headers: &headers,
        body: &body,
    };
    let answer = match json::authenticate(&shared.config, &shared.nonces, &incoming, now_ms()) {
        Err(denied) => denied,
        Ok(()) => {
            let api = path.strip_prefix(json::PREFIX).unwrap_or_default();
            json::route(
                &mut lock(&shared.store),
                &shared.config.xmlrpc_user,
                &method,
                api,
                &query,
                &body,
            )
        }
    };
    shared.record("json", &path, answer.mac.clone(), answer.ok());
    (
        answer.status,
        [(CONTENT_TYPE, "application/json;charset=UTF-8")],
        answer.body.to_string(),
    )
        .into_response()
}

async fn lookup_endpoint(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let raw = query.get("mac").cloned().unwrap_or_default();
    let mac = store::parse_mac(&raw);
    let logged = Some(mac.clone().unwrap_or_else(|| raw.clone()));
    if let Some(response) = shared.misbehave(Face::Json).await {
        shared.record("phone", "/phone/lookup", logged, false);
        return response;
    }
    let Some(mac) = mac else {
        shared.record("phone", "/phone/lookup", logged, false);
        return (StatusCode::BAD_REQUEST, "invalid MAC\n").into_response();
    };
    let destination = lock(&shared.store).destination(&mac);
    shared.record("phone", "/phone/lookup", logged, destination.is_some());
    match destination {
        Some(destination) => axum::Json(destination).into_response(),
        None => (StatusCode::NOT_FOUND, "unknown MAC\n").into_response(),
    }
}

async fn fallback(State(shared): State<Arc<Shared>>, method: Method, uri: Uri) -> Response {
    shared.record("http", &format!("{method} {}", uri.path()), None, false);
    (StatusCode::NOT_FOUND, "Not Found\n").into_response()
}

/// The TCP listener, closing new connections at once while the behaviour is `Refuse`.
struct SimListener {
    inner: TcpListener,
    shared: Arc<Shared>,
}

impl axum::serve::Listener for SimListener {
    type Io = SimStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (SimStream, SocketAddr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, _)) if self.shared.refuse.load(Ordering::SeqCst) => drop(stream),
                Ok((stream, addr)) => {
                    let _ = stream.set_nodelay(true);
                    let stream = SimStream {
                        inner: stream,
                        shared: Arc::clone(&self.shared),
                    };
                    return (stream, addr);
                }
                // Out of file descriptors and the like: wait, as axum's own listener does.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// A connection that breaks off (reset, no answer) once the behaviour is `Refuse`.
struct SimStream {
    inner: TcpStream,
    shared: Arc<Shared>,
}

impl AsyncRead for SimStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.shared.refuse.load(Ordering::SeqCst) {
            return Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for SimStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
