//! Whether the store can read and write, for `/healthz`: a background task checks every few
//! seconds that the database is still the one opened and readable (`Store::check_readable`),
//! then makes one small real write (`Store::check_writable`), and keeps the outcome, so
//! `/healthz` only reads a value and a load balancer polling it causes no writes.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use prov_store::Store;

/// How often the store is checked.
pub const PROBE_EVERY: Duration = Duration::from_secs(2);

/// The last probe's outcome: `None` while the store writes (or before the first probe).
#[derive(Default)]
pub struct WriteHealth {
    failure: Mutex<Option<String>>,
}

impl WriteHealth {
    /// Why the store cannot be used, if the last probe failed: a whole sentence for
    /// `/healthz`, built from a `StoreError`'s `Display`, which never carries data or
    /// credentials.
    pub fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Runs one probe and records its outcome; logs only when the state changes.
    pub async fn probe(&self, store: &dyn Store) {
        // A file deleted or replaced still takes writes (into the old file), so the write
        // probe alone would say all is well.
        let now = match store.check_readable().await {
            Err(e) => Some(format!("database unusable: {e}")),
            Ok(()) => store
                .check_writable()
                .await
                .err()
                .map(|e| format!("database cannot write: {e}")),
        };
        let mut failure = self.failure.lock().unwrap_or_else(PoisonError::into_inner);
        match (&*failure, &now) {
            (None, Some(why)) => tracing::error!(error = %why, "the database check failed"),
            (Some(_), None) => tracing::info!("the database reads and writes again"),
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
