//! Whether the store can write, for `/healthz`: a background task makes one small real write
//! every few seconds (`Store::check_writable`) and keeps the outcome, so `/healthz` only reads
//! a value and a load balancer polling it causes no writes.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use prov_store::Store;

/// How often the store's ability to write is checked.
pub const PROBE_EVERY: Duration = Duration::from_secs(2);

/// The last probe's outcome: `None` while the store writes (or before the first probe).
#[derive(Default)]
pub struct WriteHealth {
    failure: Mutex<Option<String>>,
}

impl WriteHealth {
    /// Why the store cannot write, if the last probe failed. The text is a `StoreError`'s
    /// `Display`, which never carries data or credentials.
    pub fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Runs one probe and records its outcome; logs only when the state changes.
    pub async fn probe(&self, store: &dyn Store) {
        let now = store.check_writable().await.err().map(|e| e.to_string());
        let mut failure = self.failure.lock().unwrap_or_else(PoisonError::into_inner);
        match (&*failure, &now) {
            (None, Some(why)) => tracing::error!(error = %why, "the database cannot write"),
            (Some(_), None) => tracing::info!("the database writes again"),
            _ => {}
        }
        *failure = now;
    }

    pub fn spawn(self: Arc<Self>, store: Arc<dyn Store>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(PROBE_EVERY);
            loop {
                tick.tick().await;
                self.probe(store.as_ref()).await;
            }
        })
    }
}
