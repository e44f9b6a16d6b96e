//! Records phone requests off the hot path: handlers hand rows to a channel, one task writes them
//! in batches (one transaction per batch), so a boot storm costs a few writes per second.

use std::sync::Arc;

use prov_store::{PhoneRequest, Store};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

const QUEUE: usize = 65_536;
const MAX_BATCH: usize = 2_000;

enum Msg {
    Record(PhoneRequest),
    Flush(oneshot::Sender<()>),
}

#[derive(Clone)]
pub struct RequestLog {
    tx: mpsc::Sender<Msg>,
}

impl RequestLog {
    pub fn spawn(store: Arc<dyn Store>) -> (RequestLog, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let handle = tokio::spawn(run(store, rx));
        (RequestLog { tx }, handle)
    }

    /// Never blocks a phone: when the writer is far behind, the row is dropped and counted.
    pub fn record(&self, request: PhoneRequest) {
        if self.tx.try_send(Msg::Record(request)).is_err() {
            metrics::counter!("phone_request_log_dropped_total").increment(1);
        }
    }

    /// Waits until everything recorded before this call is written.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

async fn run(store: Arc<dyn Store>, mut rx: mpsc::Receiver<Msg>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut waiters = Vec::new();
    while let Some(first) = rx.recv().await {
        push(first, &mut batch, &mut waiters);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(msg) => push(msg, &mut batch, &mut waiters),
                Err(_) => break,
            }
        }
        if !batch.is_empty() {
            if let Err(e) = store.record_phone_requests(&batch).await {
                tracing::error!(rows = batch.len(), error = %e, "could not record phone requests");
                metrics::counter!("phone_request_log_dropped_total").increment(batch.len() as u64);
            }
            batch.clear();
        }
        for done in waiters.drain(..) {
            let _ = done.send(());
        }
    }
}

fn push(msg: Msg, batch: &mut Vec<PhoneRequest>, waiters: &mut Vec<oneshot::Sender<()>>) {
    match msg {
        Msg::Record(r) => batch.push(r),
        Msg::Flush(done) => waiters.push(done),
    }
}
