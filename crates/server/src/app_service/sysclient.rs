//! One sysclient connection per phone to Devices (`<devices url>/sysclients`), kept open so
//! configuration updates arrive; we identify on the phone's behalf (`other: true`).
//!
//! Instances sharing a database hold a lease per phone (`sysclient:<mac>`) so that only one of
//! them keeps the phone's connection: Devices keeps only the newest connection of an id, so two
//! instances would take it from each other forever. The lease is taken once and then held by
//! the instance's heartbeat (prov_core::instance), not renewed per phone.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use innovaphone::{AdminKind, ConfigMessage, Frame, Identify, TunnelSessions};
use parking_lot::Mutex;
use time::OffsetDateTime;
use tokio::sync::{Notify, broadcast};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use yealink::Mac;

use super::Innovaphone;
use super::devices_socket::{self, DevicesSocket};
pub use prov_core::pbx::record::LinkState;
use prov_core::pbx::record::PbxDevice;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long Devices may take to take us after an Identify. A refused or expired code need not
/// close the socket: the sysclient is just "not added to any domain" (sysclient.htm), so
/// silence is the refusal. Shorter than the 20 s Users waits for ProvisioningPhoneResult.
const ANSWER_WAIT: Duration = Duration::from_secs(10);
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// How often an idle connection checks that its phone still exists.
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(5);
/// The `until` a phone's lease is taken with. After it, the lease stays held while this
/// instance's heartbeat is fresh; it only covers the moment before the others see that beat.
const LEASE_FOR: Duration = prov_store::INSTANCE_STALE_AFTER;
/// How often a connected link checks, in memory, that the last heartbeat still found its lease
/// (another instance may have taken it over for a new provisioning code) and that this
/// instance's heartbeat is being written.
const OWNERSHIP_CHECK_EVERY: Duration = Duration::from_secs(1);
/// How often a link whose lease another instance holds asks again when no instance stopped
/// meanwhile: a backstop, since a stop or death is noticed at the next heartbeat and wakes
/// every waiting link at once (`Instance::handovers`).
const LEASE_RETRY_EVERY: Duration = Duration::from_secs(60);
/// Spreads the retries of many waiting links after a handover.
const HANDOVER_SPREAD: Duration = Duration::from_millis(500);
/// `status` while another instance holds the phone's lease.
const ELSEWHERE: &str = "elsewhere";
const ELSEWHERE_DETAIL: &str = "another yealink-prov instance holds this phone's connection";

/// Small buffers: every phone keeps its connection open and Devices' messages are a few hundred
/// bytes, while tungstenite's default 128 KiB read buffer per connection made a thousand phones
/// cost 170 MiB (bench/innovaphone-rollout.sh, docs/benchmarks.md). The read buffer starts at
/// this size and grows only to the largest frame received (a configuration item).
fn socket_config() -> tokio_tungstenite::tungstenite::protocol::WebSocketConfig {
    tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(512)
        .write_buffer_size(0)
        .max_message_size(Some(1 << 20))
        .max_frame_size(Some(1 << 20))
}

/// What happened on a phone's connection, for those waiting on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkEvent {
    /// Devices took us (sent the sysclient password, or accepted our challenge answer).
    Accepted,
    /// The full configuration arrived (`last: true`).
    ConfigComplete,
    /// A later configuration item was applied.
    Updated,
    /// Devices refused us; the text says what to do.
    Rejected(String),
}

struct Link {
    task: JoinHandle<()>,
    state: Arc<Mutex<LinkState>>,
    /// Wakes the link while it waits for another instance's lease (`Sysclients::take_over`).
    wake: Arc<Notify>,
}

pub struct Sysclients {
    links: Mutex<HashMap<Mac, Link>>,
    events: broadcast::Sender<(Mac, LinkEvent)>,
    /// Set by `stop_all`: a PBX session coming up during shutdown must not start links whose
    /// leases nobody would release.
    stopped: AtomicBool,
}

impl Default for Sysclients {
    fn default() -> Self {
        Sysclients {
            links: Mutex::new(HashMap::new()),
            events: broadcast::Sender::new(256),
            stopped: AtomicBool::new(false),
        }
    }
}

/// The name of a phone's lease in the store: [`lease_name_prefix`] and the MAC.
pub fn lease_name(mac: Mac) -> String {
    format!("{}{mac}", lease_name_prefix())
}

pub fn lease_name_prefix() -> &'static str {
    "sysclient:"
}

fn lease_until() -> OffsetDateTime {
    OffsetDateTime::now_utc() + LEASE_FOR
}

impl Sysclients {
    pub fn subscribe(&self) -> broadcast::Receiver<(Mac, LinkEvent)> {
        self.events.subscribe()
    }

    /// (Re)starts the phone's connection: a running one is dropped first, so a new provisioning
    /// code is presented at once. For ProvisioningPhone, which reached this instance: it takes
    /// the phone's lease even from another instance, because the new code belongs to whoever
    /// received it and only that instance can present it (waiting up to 30 s for the other's
    /// lease would fail the request). The other instance finds its lease gone at its next
    /// renewal and closes its connection.
    pub fn start(&self, inn: &Arc<Innovaphone>, mac: Mac) {
        self.spawn(inn, mac, true);
    }

    fn spawn(&self, inn: &Arc<Innovaphone>, mac: Mac, steal_lease: bool) {
        // Checked under the lock `stop_all` drains with, so no link slips in after it.
        let mut links = self.links.lock();
        if self.stopped.load(Ordering::SeqCst) {
            return;
        }
        let state = Arc::new(Mutex::new(LinkState {
            status: "connecting".into(),
            ..LinkState::default()
        }));
        let wake = Arc::new(Notify::new());
        let task = tokio::spawn(run_link(
            inn.clone(),
            mac,
            state.clone(),
            wake.clone(),
            steal_lease,
        ));
        if let Some(old) = links.insert(mac, Link { task, state, wake }) {
            old.task.abort();
        }
    }

    /// Starts it unless it runs.
    pub fn ensure(&self, inn: &Arc<Innovaphone>, mac: Mac) {
        let running = self
            .links
            .lock()
            .get(&mac)
            .is_some_and(|l| !l.task.is_finished());
        if !running {
            // Leaves the lease to whoever holds it: start-up and PBX sessions call this on every
            // instance.
            self.spawn(inn, mac, false);
        }
    }

    /// The phone's lease is free (its holder died or let it go): starts a link unless one runs,
    /// and wakes a running one that waits for the lease, so the phone is taken over now rather
    /// than at the link's next retry.
    pub fn take_over(&self, inn: &Arc<Innovaphone>, mac: Mac) {
        let waiting = self
            .links
            .lock()
            .get(&mac)
            .filter(|l| !l.task.is_finished())
            .map(|l| l.wake.clone());
        match waiting {
            Some(wake) => wake.notify_one(),
            None => self.spawn(inn, mac, false),
        }
    }

    pub fn stop(&self, mac: Mac) {
        if let Some(link) = self.links.lock().remove(&mac) {
            link.task.abort();
        }
    }

    /// Stops every link for good and returns their phones, whose leases the caller releases.
    /// Waits until the tasks are gone, so none renews a lease after that.
    pub async fn stop_all(&self) -> Vec<Mac> {
        let links: Vec<(Mac, Link)> = {
            let mut links = self.links.lock();
            self.stopped.store(true, Ordering::SeqCst);
            links.drain().collect()
        };
        let mut macs = Vec::with_capacity(links.len());
        for (mac, link) in links {
            link.task.abort();
            // Err(cancelled) is the expected outcome.
            let _ = link.task.await;
            macs.push(mac);
        }
        macs
    }

    pub fn state(&self, mac: Mac) -> LinkState {
        match self.links.lock().get(&mac) {
            Some(link) if !link.task.is_finished() => link.state.lock().clone(),
            Some(link) => LinkState {
                status: "stopped".into(),
                ..link.state.lock().clone()
            },
            None => LinkState {
                status: "stopped".into(),
                ..LinkState::default()
            },
        }
    }

    fn emit(&self, mac: Mac, event: LinkEvent) {
        // Nobody listening is fine.
        let _ = self.events.send((mac, event));
    }
}

/// Returns whether the state changed.
fn set_state(state: &Mutex<LinkState>, status: &str, detail: Option<String>) -> bool {
    let mut s = state.lock();
    if s.status != status || s.detail != detail {
        s.status = status.to_owned();
        s.detail = detail;
        s.since = Some(OffsetDateTime::now_utc());
        true
    } else {
        false
    }
}

/// How a connection ended.
enum Ended {
    /// The phone was removed: stop for good.
    DeviceGone,
    /// Closed after Devices had taken us: reconnect soon.
    Closed,
    /// We closed it: another instance took the phone's lease over.
    LeaseLost,
}

#[derive(Debug, thiserror::Error)]
enum LinkError {
    #[error("{0}")]
    Rejected(String),
    #[error("{0}")]
    Failed(String),
}

async fn run_link(
    inn: Arc<Innovaphone>,
    mac: Mac,
    state: Arc<Mutex<LinkState>>,
    wake: Arc<Notify>,
    steal: bool,
) {
    let mut backoff = FIRST_BACKOFF;
    let mut urls = inn.registry.watch_devices_url();
    let mut steal = steal;
    loop {
        let url = loop {
            if inn.service.cache().by_mac(mac).is_none() {
                set_state(&state, "stopped", Some("the device was removed".into()));
                return;
            }
            if let Some(url) = urls.borrow_and_update().clone() {
                break url;
            }
            set_state(
                &state,
                "waiting_for_devices_url",
                Some("no PBX has offered the Devices API yet (Services grant, devices-api in the App object's Apps tab)".into()),
            );
            // Woken by a new URL, or re-checks the device now and then.
            let _ = tokio::time::timeout(HOUSEKEEPING_EVERY, urls.changed()).await;
        };
        // Only a takeover right after ProvisioningPhone steals; reconnects wait their turn.
        let Some(acquired) =
            wait_for_lease(&inn, mac, &state, &wake, std::mem::take(&mut steal)).await
        else {
            set_state(&state, "stopped", Some("the device was removed".into()));
            return;
        };
        // The URL may have changed while another instance held the lease.
        let url = urls.borrow_and_update().clone().unwrap_or(url);
        set_state(&state, "connecting", None);
        match serve_connection(&inn, mac, &url, &state, acquired).await {
            Ok(Ended::DeviceGone) => {
                release_lease(&inn, mac).await;
                set_state(&state, "stopped", Some("the device was removed".into()));
                return;
            }
            Ok(Ended::Closed) => {
                backoff = FIRST_BACKOFF;
                set_state(
                    &state,
                    "retrying",
                    Some("Devices closed the connection; reconnecting".into()),
                );
            }
            Ok(Ended::LeaseLost) => {
                tracing::warn!(%mac, "another instance took over the phone's sysclient lease; closed our connection to Devices");
                backoff = FIRST_BACKOFF;
                set_state(&state, ELSEWHERE, Some(ELSEWHERE_DETAIL.into()));
            }
            Err(LinkError::Rejected(text)) => {
                tracing::warn!(%mac, reason = %text, "Devices refused the sysclient connection");
                set_state(&state, "rejected", Some(text.clone()));
                inn.sysclients.emit(mac, LinkEvent::Rejected(text));
                // A refused code does not heal by itself; try again rarely.
                backoff = MAX_BACKOFF;
            }
            Err(LinkError::Failed(text)) => {
                tracing::warn!(%mac, error = %text, "sysclient connection to Devices failed");
                set_state(&state, "retrying", Some(text));
            }
        }
        tokio::time::sleep(jitter(backoff)).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Waits until this instance holds the phone's lease (taking it at once if `steal`) and
/// returns when it got it; `None` when the phone was removed meanwhile.
async fn wait_for_lease(
    inn: &Innovaphone,
    mac: Mac,
    state: &Mutex<LinkState>,
    wake: &Notify,
    steal: bool,
) -> Option<Instant> {
    let store = inn.service.store();
    let name = lease_name(mac);
    let mut handovers = inn.instance.handovers();
    if steal {
        let asked = Instant::now();
        match store
            .steal_lease(&name, inn.instance.id(), lease_until())
            .await
        {
            Ok(()) => return Some(asked),
            Err(e) => {
                tracing::warn!(%mac, error = %e, "cannot take over the phone's sysclient lease; waiting for it instead");
            }
        }
    }
    loop {
        // The phone was removed.
        inn.service.cache().by_mac(mac)?;
        // Seen before asking: a handover after this wakes the wait below.
        handovers.borrow_and_update();
        let asked = Instant::now();
        match store
            .acquire_lease(&name, inn.instance.id(), lease_until())
            .await
        {
            Ok(true) => return Some(asked),
            Ok(false) => {
                if set_state(state, ELSEWHERE, Some(ELSEWHERE_DETAIL.into())) {
                    tracing::info!(%mac, "another instance holds the phone's sysclient connection; waiting for its lease");
                }
            }
            Err(e) => {
                tracing::warn!(%mac, error = %e, "cannot acquire the phone's sysclient lease");
                set_state(
                    state,
                    "retrying",
                    Some(format!(
                        "cannot read which instance holds this phone's connection: {e}"
                    )),
                );
            }
        }
        // Woken when an instance stops or dies, or when the takeover sweep found the lease
        // free; spread, so that thousands of waiting links do not ask in the same instant.
        let _ = tokio::time::timeout(jitter(LEASE_RETRY_EVERY), async {
            tokio::select! {
                _ = handovers.changed() => {}
                () = wake.notified() => {}
            }
        })
        .await;
        tokio::time::sleep(spread(HANDOVER_SPREAD)).await;
    }
}

/// Best effort: a lease left behind expires by itself.
async fn release_lease(inn: &Innovaphone, mac: Mac) {
    if let Err(e) = inn
        .service
        .store()
        .release_lease(&lease_name(mac), inn.instance.id())
        .await
    {
        tracing::warn!(%mac, error = %e, "could not release the phone's sysclient lease");
    }
}

fn jitter(d: Duration) -> Duration {
    use rand::Rng;
    let spread = d.as_millis() as u64 / 4;
    d + Duration::from_millis(rand::rng().random_range(0..=spread.max(1)))
}

/// A random wait up to `d`.
fn spread(d: Duration) -> Duration {
    use rand::Rng;
    Duration::from_millis(rand::rng().random_range(0..=d.as_millis() as u64))
}

async fn serve_connection(
    inn: &Arc<Innovaphone>,
    mac: Mac,
    devices_url: &str,
    state: &Mutex<LinkState>,
    acquired: Instant,
) -> Result<Ended, LinkError> {
    // Every store call and every message's handling below is boxed: each is brief and its
    // state large, while a task is allocated for its largest state for as long as the phone
    // stays connected.
    let Some(doc) = Box::pin(load(inn, mac)).await? else {
        return Ok(Ended::DeviceGone);
    };
    let mut conn = Conn::new(mac, Facts::of(doc));
    let url = innovaphone::sysclients_url(devices_url);
    let mut socket = Box::pin(connect(&url, &inn.devices_tls))
        .await
        .map_err(LinkError::Failed)?;
    // Devices' answer is awaited from the Identify on, not from before the connect.
    conn.checks = Checks::new(tokio::time::Instant::now());
    // Boxed with its frame: only the first message, but the task would keep room for it.
    Box::pin(async { send(&mut socket, &conn.identify(None).to_frame()).await }).await?;
    // One timer for the three deadlines: each connected phone holds it for as long as it
    // stays connected, and a timer apiece cost three registrations per phone.
    let timer = tokio::time::sleep_until(conn.checks.next(false));
    tokio::pin!(timer);
    let name = lease_name(mac);

    loop {
        let message = tokio::select! {
            m = socket.next() => m,
            () = &mut timer => {
                let checked = conn.checks.due(inn, mac, &name, acquired, conn.accepted);
                if let Err(ended) = checked {
                    let _ = Box::pin(socket.close(None)).await;
                    return ended.into_result(&conn);
                }
                timer.as_mut().reset(conn.checks.next(conn.accepted));
                continue;
            }
        };
        let bytes = match message {
            Some(Ok(Message::Binary(bytes))) => bytes,
            Some(Ok(Message::Text(text))) => {
                tracing::warn!(%mac, len = text.len(), "Devices sent a text frame on the sysclient connection; ignored");
                continue;
            }
            Some(Ok(Message::Close(_))) | None => break,
            Some(Ok(_)) => continue,
            Some(Err(e)) => {
                return if conn.accepted {
                    Ok(Ended::Closed)
                } else {
                    Err(LinkError::Failed(format!(
                        "sysclient connection to {url} broke: {e}"
                    )))
                };
            }
        };
        let frame = match innovaphone::decode(&bytes) {
            Ok(frame) => frame,
            Err(e) => {
                tracing::warn!(%mac, error = %e, "Devices sent a sysclient frame we cannot read; ignored");
                continue;
            }
        };
        if let Some(ended) =
            Box::pin(handle_frame(inn, state, &mut socket, &mut conn, frame)).await?
        {
            return Ok(ended);
        }
        timer.as_mut().reset(conn.checks.next(conn.accepted));
    }
    // Closed by Devices.
    if conn.accepted {
        Ok(Ended::Closed)
    } else if conn.facts.first_time || conn.answered_challenge {
        Err(conn.not_taken())
    } else {
        Err(LinkError::Failed(
            "Devices closed the connection before answering".into(),
        ))
    }
}

/// One frame from Devices; `Some` ends the connection.
async fn handle_frame(
    inn: &Arc<Innovaphone>,
    state: &Mutex<LinkState>,
    socket: &mut DevicesSocket,
    conn: &mut Conn,
    frame: Frame,
) -> Result<Option<Ended>, LinkError> {
    let mac = conn.mac;
    let (kind, json) = match frame {
        Frame::Tunnel { .. } => {
            for answer in conn.tunnels.answer(&frame) {
                send(socket, &answer).await?;
            }
            return Ok(None);
        }
        Frame::Admin { kind, json } => (kind, json),
    };
    match kind {
        AdminKind::Password => {
            let Some(given) = json.get("password").and_then(|v| v.as_str()) else {
                tracing::warn!(%mac, "Devices sent a sysclient password message without a password");
                return Ok(None);
            };
            if !store_password(inn, mac, given).await? {
                return Ok(Some(Ended::DeviceGone));
            }
            conn.facts.password = Some(given.to_owned());
            conn.mark_accepted(inn, state);
        }
        AdminKind::Challenge => {
            let challenge = json
                .get("challenge")
                .and_then(|v| v.as_str())
                .unwrap_or_default();
            let Some(password) = conn.facts.password.as_deref() else {
                return Err(LinkError::Rejected(
                    "Devices knows this phone but we hold no sysclient password for it: provision the phone again from Profile or Users Admin".into(),
                ));
            };
            let digest = innovaphone::sysclient_digest(
                &conn.id,
                &conn.facts.product,
                &conn.facts.version,
                challenge,
                password,
            );
            send(socket, &conn.identify(Some(digest)).to_frame()).await?;
            conn.answered_challenge = true;
            conn.checks.answer_by = tokio::time::Instant::now() + ANSWER_WAIT;
        }
        AdminKind::AdminPassword => {
            apply_admin_password(inn, mac, conn.facts.password.as_deref(), &json).await;
        }
        AdminKind::Configuration => {
            let message = match ConfigMessage::from_json(&json) {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(%mac, error = %e, "Devices sent a configuration we cannot read; ignored");
                    return Ok(None);
                }
            };
            conn.mark_accepted(inn, state);
            // The full set may come again (reconnect) or one item (update).
            let Some(mut doc) = load(inn, mac).await? else {
                return Ok(Some(Ended::DeviceGone));
            };
            let was_complete = doc.config_complete;
            doc.items
                .insert(message.item_type().to_owned(), message.item);
            let now = OffsetDateTime::now_utc();
            if message.last && !doc.config_complete {
                doc.config_complete = true;
                doc.config_received_at = Some(now);
            }
            if message.last || was_complete {
                doc.config_updated_at = Some(now);
                apply_config(inn, mac, &mut doc).await?;
                inn.sysclients.emit(
                    mac,
                    if was_complete {
                        LinkEvent::Updated
                    } else {
                        LinkEvent::ConfigComplete
                    },
                );
            } else {
                save(inn, mac, &doc).await?;
            }
        }
        AdminKind::Identify
        | AdminKind::Provision
        | AdminKind::ProvisionResult
        | AdminKind::Other(_) => {
            tracing::debug!(%mac, ?kind, "sysclient admin message ignored");
        }
    }
    Ok(None)
}

/// What an open connection answers Devices with, fixed when it opens.
struct Facts {
    /// Fixed for the connection: the digest covers exactly what the Identify named.
    product: String,
    version: String,
    code: String,
    /// A new code is presented until Devices confirms it with a password.
    first_time: bool,
    /// The previous password stays while a new code is pending, so that a challenge (the phone
    /// is still in a domain) can be answered.
    password: Option<String>,
}

impl Facts {
    fn of(doc: PbxDevice) -> Self {
        Facts {
            first_time: doc.code_pending || doc.sysclient_password.is_none(),
            product: doc.product,
            version: doc.version,
            code: doc.code,
            password: doc.sysclient_password,
        }
    }
}

/// An open connection's state: all an idle connected phone holds besides its socket.
struct Conn {
    mac: Mac,
    /// The phone's id towards Devices: its MAC.
    id: String,
    facts: Facts,
    accepted: bool,
    answered_challenge: bool,
    tunnels: TunnelSessions,
    checks: Checks,
}

impl Conn {
    fn new(mac: Mac, facts: Facts) -> Self {
        Conn {
            mac,
            id: mac.to_string(),
            facts,
            accepted: false,
            answered_challenge: false,
            tunnels: TunnelSessions::default(),
            checks: Checks::new(tokio::time::Instant::now()),
        }
    }

    fn identify(&self, digest: Option<String>) -> Identify {
        let mut identify = Identify::new(&self.id, &self.facts.product, &self.facts.version);
        identify.provisioning_code = self.facts.first_time.then(|| self.facts.code.clone());
        identify.digest = digest;
        identify
    }

    fn mark_accepted(&mut self, inn: &Innovaphone, state: &Mutex<LinkState>) {
        if !self.accepted {
            self.accepted = true;
            set_state(state, "connected", None);
            state.lock().connects += 1;
            inn.sysclients.emit(self.mac, LinkEvent::Accepted);
        }
    }

    fn not_taken(&self) -> LinkError {
        not_taken(
            &self.facts.code,
            self.facts.first_time,
            self.answered_challenge,
            ANSWER_WAIT,
        )
    }
}

/// Why a timer check closes the connection.
enum Due {
    NotTaken,
    Unhealthy,
    LeaseLost,
    DeviceGone,
}

impl Due {
    fn into_result(self, conn: &Conn) -> Result<Ended, LinkError> {
        match self {
            Due::NotTaken => Err(conn.not_taken()),
            // The others may count this instance dead and take the phone: close rather than
            // risk two connections; reconnecting re-acquires the lease.
            Due::Unhealthy => Err(LinkError::Failed(
                "this instance cannot write its heartbeat to the database; closed the connection so that another instance can take the phone".into(),
            )),
            Due::LeaseLost => Ok(Ended::LeaseLost),
            Due::DeviceGone => Ok(Ended::DeviceGone),
        }
    }
}

/// When a connected link next looks at its deadlines.
struct Checks {
    /// Devices must take us by then (only until it has).
    answer_by: tokio::time::Instant,
    ownership: tokio::time::Instant,
    housekeeping: tokio::time::Instant,
}

impl Checks {
    fn new(now: tokio::time::Instant) -> Self {
        Checks {
            answer_by: now + ANSWER_WAIT,
            ownership: now + OWNERSHIP_CHECK_EVERY,
            housekeeping: now + HOUSEKEEPING_EVERY,
        }
    }

    fn next(&self, accepted: bool) -> tokio::time::Instant {
        let checks = self.ownership.min(self.housekeeping);
        if accepted {
            checks
        } else {
            checks.min(self.answer_by)
        }
    }

    /// Runs the checks that are due and schedules their next turn.
    fn due(
        &mut self,
        inn: &Innovaphone,
        mac: Mac,
        lease: &str,
        acquired: Instant,
        accepted: bool,
    ) -> Result<(), Due> {
        let now = tokio::time::Instant::now();
        if !accepted && now >= self.answer_by {
            return Err(Due::NotTaken);
        }
        if now >= self.ownership {
            if !inn.instance.healthy() {
                return Err(Due::Unhealthy);
            }
            // Another instance may have taken the lease over for a new provisioning code.
            if !inn.instance.still_holds(lease, acquired) {
                return Err(Due::LeaseLost);
            }
            self.ownership = now + OWNERSHIP_CHECK_EVERY;
        }
        if now >= self.housekeeping {
            if inn.service.cache().by_mac(mac).is_none() {
                return Err(Due::DeviceGone);
            }
            self.housekeeping = now + HOUSEKEEPING_EVERY;
        }
        Ok(())
    }
}

/// Devices did not take us: it closed the connection, or stayed silent for `waited`.
fn not_taken(
    code: &str,
    presented_code: bool,
    answered_challenge: bool,
    waited: Duration,
) -> LinkError {
    if answered_challenge && !presented_code {
        return LinkError::Rejected(format!(
            "Devices refused our challenge answer (closed the connection or did not take us within {waited:?}): the phone's sysclient password is no longer valid (removed from Devices?); provision the phone again"
        ));
    }
    if presented_code {
        return LinkError::Rejected(format!(
            "provisioning code {code} refused or expired: Devices did not take the phone (closed the connection or did not take us within {waited:?}); the code is unknown, already used or expired (valid 15 minutes, 7 days for rollout codes); provision the phone again"
        ));
    }
    LinkError::Failed(format!("Devices did not answer within {waited:?}"))
}

/// Opens the sysclient websocket; `wss://` trusts the OS store and the configured CA file.
pub async fn connect(
    url: &str,
    tls: &std::sync::Arc<rustls::ClientConfig>,
) -> Result<DevicesSocket, String> {
    devices_socket::connect(url, tls, socket_config(), CONNECT_TIMEOUT).await
}

async fn send<S>(sink: &mut S, frame: &Frame) -> Result<(), LinkError>
where
    S: futures::Sink<Message, Error = tokio_tungstenite::tungstenite::Error> + Unpin,
{
    sink.send(Message::Binary(innovaphone::encode(frame).into()))
        .await
        .map_err(|e| LinkError::Failed(format!("cannot write to Devices: {e}")))
}

async fn load(inn: &Innovaphone, mac: Mac) -> Result<Option<PbxDevice>, LinkError> {
    PbxDevice::load(inn.service.store().as_ref(), mac)
        .await
        .map_err(|e| LinkError::Failed(format!("cannot read the phone's innovaphone data: {e}")))
}

/// Devices confirmed the code with this password: stores it; `false` when the phone's document
/// is gone (the device was removed).
async fn store_password(inn: &Innovaphone, mac: Mac, password: &str) -> Result<bool, LinkError> {
    let Some(mut doc) = load(inn, mac).await? else {
        return Ok(false);
    };
    doc.sysclient_password = Some(password.to_owned());
    doc.code_pending = false;
    save(inn, mac, &doc).await?;
    Ok(true)
}

async fn save(inn: &Innovaphone, mac: Mac, doc: &PbxDevice) -> Result<(), LinkError> {
    doc.save(inn.service.store().as_ref(), mac)
        .await
        .map_err(|e| LinkError::Failed(format!("cannot store the phone's innovaphone data: {e}")))
}

/// The audit's actor for what Devices' configuration changes on a device.
fn devices_actor(doc: &PbxDevice) -> prov_core::audit::Actor {
    prov_core::audit::Actor::Innovaphone {
        service: "Devices".into(),
        user: Some(doc.usename.clone()).filter(|u| !u.is_empty()),
    }
}

/// Maps the items onto the device and stores both.
async fn apply_config(inn: &Innovaphone, mac: Mac, doc: &mut PbxDevice) -> Result<(), LinkError> {
    let (overrides, notes) = super::mapping::pbx_overrides(&doc.items);
    doc.mapping_notes = notes;
    save(inn, mac, doc).await?;
    inn.note_config_state(mac, doc.config_complete);
    match inn
        .service
        .apply_pbx_config(mac, Some(&overrides), None, &devices_actor(doc))
        .await
    {
        Ok(changed) => {
            tracing::info!(%mac, changed, items = doc.items.len(), "device configuration from Devices applied");
            Ok(())
        }
        Err(prov_core::error::ServiceError::NotFound(_)) => Ok(()),
        Err(e) => Err(LinkError::Failed(format!(
            "cannot apply the configuration from Devices: {e}"
        ))),
    }
}

/// Devices' admin password for the domain's devices becomes the phone's web admin password;
/// `key` is the connection's sysclient password, which encrypts it.
async fn apply_admin_password(
    inn: &Innovaphone,
    mac: Mac,
    key: Option<&str>,
    json: &serde_json::Value,
) {
    let (Some(seed), Some(pwd), Some(key)) = (
        json.get("seed").and_then(|v| v.as_str()),
        json.get("pwd").and_then(|v| v.as_str()),
        key,
    ) else {
        tracing::warn!(%mac, "Devices sent an admin password we cannot decrypt (no seed, pwd or sysclient password)");
        return;
    };
    let password = match innovaphone::decrypt_item_secret(seed, pwd, key) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(%mac, error = %e, "cannot decrypt the admin password from Devices");
            return;
        }
    };
    let actor = match load(inn, mac).await {
        Ok(Some(doc)) => devices_actor(&doc),
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(%mac, error = %e, "cannot store the admin password from Devices");
            return;
        }
    };
    if let Err(e) = inn
        .service
        .apply_pbx_config(mac, None, Some(&password), &actor)
        .await
    {
        tracing::warn!(%mac, error = %e, "cannot store the admin password from Devices");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size of the future an async fn returns, without calling it.
    fn future_size<F, Fut>(_: F) -> usize
    where
        F: FnOnce(Arc<Innovaphone>, Mac, Arc<Mutex<LinkState>>, Arc<Notify>, bool) -> Fut,
    {
        std::mem::size_of::<Fut>()
    }

    /// A connected phone's task is allocated at the size of `run_link`'s largest state for as
    /// long as the phone stays connected (docs/benchmarks.md): the handshake, the store calls
    /// and each message's handling are boxed so that the idle connection stays small. It was
    /// 2,216 bytes with the handling inline.
    #[test]
    fn a_connected_links_task_stays_small() {
        let size = future_size(run_link);
        assert!(size <= 1280, "run_link's future is {size} bytes");
    }
}
