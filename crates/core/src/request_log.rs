//! Records phone requests off the hot path: handlers hand rows to a channel, one task writes them
//! in batches (one transaction per batch), so a boot storm costs a few writes per second.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::RwLock;
use prov_store::{DeviceEvent, PhoneRequest, Store, TenantId};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use yealink::Mac;

use crate::request_fold::{FOLD_INTERVAL, RequestFolds, RequestKey, SHARDS};

/// The counted repeats are written in this many parts per [`FOLD_INTERVAL`].
const FOLD_PARTS: u32 = SHARDS as u32;

const QUEUE: usize = 65_536;
const MAX_BATCH: usize = 2_000;
/// Events a slow subscriber may fall behind by before it misses some (it then reloads).
const EVENTS: usize = 1_024;

enum Msg {
    Record(PhoneRequest),
    Flush(oneshot::Sender<()>),
}

/// A live-update event: `Some(mac)` = that device's request was recorded; `None` = some may
/// have been missed, reload.
pub type LiveEvent = Option<Mac>;

/// The store's feed of every instance's recorded phone requests (PostgreSQL `LISTEN/NOTIFY`),
/// one connection per process, handed to the request log of the tenant each event names.
#[derive(Clone, Default)]
pub struct LiveFeed {
    /// Each tenant's log's event sender only: a whole log would keep its writer from ending.
    logs: Arc<RwLock<HashMap<TenantId, broadcast::Sender<LiveEvent>>>>,
}

impl LiveFeed {
    /// `None` where the store has no such feed (SQLite: one writer, so each log's own events
    /// are complete).
    pub async fn start(store: &dyn Store) -> Result<Option<LiveFeed>, prov_store::StoreError> {
        let Some(mut feed) = store.device_events().await? else {
            return Ok(None);
        };
        let live = LiveFeed::default();
        let logs = live.logs.clone();
        tokio::spawn(async move {
            while let Some(event) = feed.recv().await {
                // No subscriber is not an error.
                match event {
                    DeviceEvent::Recorded { tenant, macs } => {
                        // A tenant this process has no site for (yet) has no live page here.
                        if let Some(events) = logs.read().get(&tenant) {
                            for mac in macs {
                                let _ = events.send(Some(mac));
                            }
                        }
                    }
                    DeviceEvent::Missed => {
                        for events in logs.read().values() {
                            let _ = events.send(None);
                        }
                    }
                }
            }
        });
        Ok(Some(live))
    }

    /// `log`'s live updates now come from the feed, every instance's writes of `tenant`,
    /// instead of its own writes.
    pub fn add(&self, tenant: TenantId, log: &RequestLog) {
        log.store_feed.store(true, Ordering::SeqCst);
        self.logs.write().insert(tenant, log.events.clone());
    }

    pub fn remove(&self, tenant: TenantId) {
        self.logs.write().remove(&tenant);
    }
}

#[derive(Clone)]
pub struct RequestLog {
    tx: mpsc::Sender<Msg>,
    events: broadcast::Sender<LiveEvent>,
    closing: Arc<watch::Sender<bool>>,
    /// Set once the store's own event feed (PostgreSQL NOTIFY, every instance's writes)
    /// drives the events; the writer then stops announcing its own batches, which come back
    /// through that feed.
    store_feed: Arc<AtomicBool>,
    folds: Arc<RequestFolds>,
}

impl RequestLog {
    /// `keep_anonymous`: refused (anonymous) rows kept; the writer trims them as it goes, so a
    /// flood of refused requests cannot fill the disk between the hourly prunes.
    pub fn spawn(store: Arc<dyn Store>, keep_anonymous: u32) -> (RequestLog, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let (events, _) = broadcast::channel(EVENTS);
        let store_feed = Arc::new(AtomicBool::new(false));
        let folds = Arc::new(RequestFolds::default());
        let handle = tokio::spawn(run(
            store,
            rx,
            folds.clone(),
            events.clone(),
            store_feed.clone(),
            keep_anonymous,
        ));
        let closing = Arc::new(watch::Sender::new(false));
        (
            RequestLog {
                tx,
                events,
                closing,
                store_feed,
                folds,
            },
            handle,
        )
    }

    /// Devices whose request (and status) has just been written, by this instance or (on
    /// PostgreSQL) any other: the web UI's live updates. Published after the write, so a
    /// reader sees the new status.
    pub fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.events.subscribe()
    }

    /// Tells subscribers (live pages) that the server is shutting down.
    pub fn close_subscribers(&self) {
        self.closing.send_replace(true);
    }

    /// Completes once [`close_subscribers`](Self::close_subscribers) was called.
    pub fn closed(&self) -> impl std::future::Future<Output = ()> + Send + 'static + use<> {
        let mut rx = self.closing.subscribe();
        async move {
            let _ = rx.wait_for(|closing| *closing).await;
        }
    }

    /// Never blocks a phone: when the writer is far behind, the row is dropped and counted.
    pub fn record(&self, request: PhoneRequest) {
        if self.tx.try_send(Msg::Record(request)).is_err() {
            metrics::counter!("phone_request_log_dropped_total").increment(1);
        }
    }

    /// Logs a phone's request, or counts it when it repeats one logged shortly before
    /// (`request_fold.rs`); `make` builds the row only when one is logged now.
    pub fn record_folded(
        &self,
        key: &RequestKey<'_>,
        at: time::OffsetDateTime,
        make: impl FnOnce() -> PhoneRequest,
    ) {
        if let Some(row) = self.folds.fold(key, at, make) {
            self.record(row);
        }
    }

    /// Waits until everything recorded (and counted) before this call is written.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

async fn run(
    store: Arc<dyn Store>,
    mut rx: mpsc::Receiver<Msg>,
    folds: Arc<RequestFolds>,
    events: broadcast::Sender<LiveEvent>,
    store_feed: Arc<AtomicBool>,
    keep_anonymous: u32,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut waiters = Vec::new();
    // Anonymous rows written since the last trim; a trim every tenth of the cap keeps the
    // table within 110 % of it at the cost of one DELETE per that many refusals.
    let mut anonymous_since_trim: u64 = 0;
    let trim_every = u64::from(keep_anonymous / 10).max(100);
    // One part of the counted repeats per tick: each written every FOLD_INTERVAL, spread out.
    let mut fold_tick = tokio::time::interval(FOLD_INTERVAL / FOLD_PARTS);
    fold_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let take_folded = tokio::select! {
            msg = rx.recv() => match msg {
                Some(first) => {
                    push(first, &mut batch, &mut waiters);
                    false
                }
                // Every sender is gone (the batch is empty here): the counted repeats last.
                None => {
                    let rest = folds.take_counted();
                    if !rest.is_empty() {
                        write(store.as_ref(), &rest).await;
                    }
                    return;
                }
            },
            _ = fold_tick.tick() => true,
        };
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(msg) => push(msg, &mut batch, &mut waiters),
                Err(_) => break,
            }
        }
        // A flush waits for all the counted repeats.
        if !waiters.is_empty() {
            batch.extend(folds.take_counted());
        } else if take_folded {
            batch.extend(folds.take_counted_part());
        }
        if !batch.is_empty() {
            anonymous_since_trim += batch.iter().filter(|r| r.mac.is_none()).count() as u64;
            if write(store.as_ref(), &batch).await
                && events.receiver_count() > 0
                && !store_feed.load(Ordering::Relaxed)
            {
                let mut macs: Vec<Mac> = batch.iter().filter_map(|r| r.mac).collect();
                macs.sort_unstable();
                macs.dedup();
                for mac in macs {
                    // No subscriber left is not an error.
                    let _ = events.send(Some(mac));
                }
            }
            batch.clear();
            if anonymous_since_trim >= trim_every {
                anonymous_since_trim = 0;
                if let Err(e) = store.prune_anonymous_phone_requests(keep_anonymous).await {
                    tracing::warn!(error = %e, "could not trim refused phone requests");
                }
            }
        }
        for done in waiters.drain(..) {
            let _ = done.send(());
        }
    }
}

/// Writes one batch; false (logged and counted) when the store refused it.
async fn write(store: &dyn Store, batch: &[PhoneRequest]) -> bool {
    match store.record_phone_requests(batch).await {
        Ok(()) => true,
        Err(e) => {
            tracing::error!(rows = batch.len(), error = %e, "could not record phone requests");
            let requests: u64 = batch.iter().map(|r| u64::from(r.count)).sum();
            metrics::counter!("phone_request_log_dropped_total").increment(requests);
            false
        }
    }
}

fn push(msg: Msg, batch: &mut Vec<PhoneRequest>, waiters: &mut Vec<oneshot::Sender<()>>) {
    match msg {
        Msg::Record(r) => batch.push(r),
        Msg::Flush(done) => waiters.push(done),
    }
}
