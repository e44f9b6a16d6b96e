//! This process among the instances sharing one database: its id, its heartbeat row, and what
//! it learns at each beat (which leases it still holds, whether another instance died or left).
//!
//! The work an instance owns (a phone's sysclient connection, a claimed RPS job) is held in the
//! store under its id and stays held while its heartbeat is fresh
//! ([`prov_store::INSTANCE_STALE_AFTER`]): one write per instance every
//! [`prov_store::INSTANCE_BEAT_EVERY`] instead of one per phone or job (docs/storage.md,
//! "Instances and heartbeats"; decision 61).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use prov_store::{INSTANCE_BEAT_EVERY, INSTANCE_STALE_AFTER, InstanceBeat, Store};
use time::OffsetDateTime;
use tokio::sync::watch;

use crate::secret::random_token;

/// How much sooner than the others this instance counts itself dead.
const SELF_STALE_MARGIN: std::time::Duration = std::time::Duration::from_secs(2);

/// What the last successful look at the store found.
struct Seen {
    /// When the look started: a lease acquired after it is not in `held` yet.
    at: Instant,
    held: HashSet<String>,
}

pub struct Instance {
    id: String,
    started_at: OffsetDateTime,
    address: Mutex<Option<String>>,
    /// When the last beat was written (start of its write).
    last_beat: Mutex<Option<Instant>>,
    seen: Mutex<Option<Seen>>,
    /// The ids of the live instances at the last beat.
    live: Mutex<HashSet<String>>,
    /// Bumped when an instance died or left (or a beat failed to read): work waiting for
    /// another instance's leases tries again now.
    handover: watch::Sender<u64>,
}

impl Instance {
    /// A fresh id per start, so a restarted instance never mistakes a dead predecessor's
    /// leases for its own.
    pub fn new() -> Arc<Instance> {
        let now = OffsetDateTime::now_utc();
        Arc::new(Instance {
            id: format!("{}-{}", std::process::id(), random_token(12)),
            // Whole µs, as stored, so comparing with the rows read back is exact.
            started_at: now
                .replace_nanosecond(now.nanosecond() / 1000 * 1000)
                .unwrap_or(now),
            address: Mutex::new(None),
            last_beat: Mutex::new(None),
            seen: Mutex::new(None),
            live: Mutex::new(HashSet::new()),
            handover: watch::Sender::new(0),
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Where this instance listens, shown in the heartbeat row.
    pub fn set_address(&self, address: String) {
        *self.address.lock() = Some(address);
    }

    /// Whether the others still count this instance as alive: a beat was written recently
    /// enough that it cannot have gone stale before the next one. When this is false, work
    /// this instance holds may already be another's, so it must stop doing it.
    pub fn healthy(&self) -> bool {
        // One late or failed beat is tolerated; two are not. The 2 s cover the others'
        // clocks and the time the write took.
        let margin = INSTANCE_STALE_AFTER.saturating_sub(SELF_STALE_MARGIN);
        self.last_beat
            .lock()
            .is_some_and(|at| at.elapsed() < margin)
    }

    /// Whether the lease `name`, acquired at `acquired`, is still this instance's as far as
    /// the last beat saw. A lease acquired after that look is assumed held.
    pub fn still_holds(&self, name: &str, acquired: Instant) -> bool {
        match &*self.seen.lock() {
            Some(seen) if seen.at > acquired => seen.held.contains(name),
            _ => true,
        }
    }

    /// Changes when an instance died or left: wait on it to retry taking work over.
    pub fn handovers(&self) -> watch::Receiver<u64> {
        self.handover.subscribe()
    }

    /// One heartbeat: writes the row, then reads what this instance holds and who is alive.
    pub async fn beat(&self, store: &dyn Store) -> Result<(), prov_store::StoreError> {
        let started = Instant::now();
        let row = InstanceBeat {
            id: self.id.clone(),
            started_at: self.started_at,
            last_beat: OffsetDateTime::now_utc(),
            address: self.address.lock().clone(),
        };
        store.beat_instance(&row).await?;
        *self.last_beat.lock() = Some(started);
        let held = store.leases_held(&self.id).await?;
        *self.seen.lock() = Some(Seen {
            at: started,
            held: held.into_iter().collect(),
        });
        let now = OffsetDateTime::now_utc();
        let live: HashSet<String> = store
            .list_instances()
            .await?
            .into_iter()
            .filter(|i| i.is_live(now))
            .map(|i| i.id)
            .collect();
        let gone = {
            let mut known = self.live.lock();
            let gone = known.iter().any(|id| !live.contains(id));
            *known = live;
            gone
        };
        if gone {
            tracing::info!("another instance stopped or went silent; taking over its work");
            self.handover.send_modify(|n| *n += 1);
        }
        Ok(())
    }

    /// Whether this instance is the one that does once-per-service work at start (ADD SERVER,
    /// decision 62): no live instance started before it (ties broken by id), and it won the
    /// lease `name`. The age test alone is not enough: each instance takes its start time
    /// before its first beat, so of two starting together the younger can beat, look, see
    /// nobody and say yes, and then the older beat, look, see only a younger one and say yes
    /// too. The lease is one atomic upsert, so of those at most one wins; it stays held while
    /// this instance beats and is freed when it leaves or dies. `true` when the store cannot
    /// tell (better a second ADD SERVER than none).
    pub async fn claim_start_duty(&self, store: &dyn Store, name: &str) -> bool {
        let now = OffsetDateTime::now_utc();
        let rows = match store.list_instances().await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list the instances on the database");
                return true;
            }
        };
        let older_live = rows.iter().any(|i| {
            i.id != self.id
                && i.is_live(now)
                && (i.started_at, i.id.as_str()) < (self.started_at, self.id.as_str())
        });
        if older_live {
            return false;
        }
        // Held by the heartbeat, not by its own `until`: expired at once, kept while we beat.
        match store.acquire_lease(name, &self.id, now).await {
            Ok(won) => won,
            Err(e) => {
                tracing::warn!(error = %e, "cannot take the start-up lease");
                true
            }
        }
    }

    /// Beats every [`INSTANCE_BEAT_EVERY`] until aborted.
    pub fn spawn(self: &Arc<Self>, store: Arc<dyn Store>) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(INSTANCE_BEAT_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut failing = false;
            loop {
                tick.tick().await;
                match me.beat(store.as_ref()).await {
                    Ok(()) if failing => {
                        failing = false;
                        tracing::info!("instance heartbeat written again");
                    }
                    Ok(()) => {}
                    Err(e) if !failing => {
                        failing = true;
                        tracing::warn!(error = %e, "cannot write this instance's heartbeat; its phones and jobs move to other instances if this lasts");
                    }
                    Err(_) => {}
                }
            }
        })
    }

    /// A clean stop: releases every lease and claimed job at once (best effort: otherwise
    /// they move when the heartbeat goes stale).
    pub async fn leave(&self, store: &dyn Store) {
        if let Err(e) = store.leave_instance(&self.id).await {
            tracing::warn!(error = %e, "could not hand this instance's work over; the others take it when its heartbeat goes stale");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DUTY: &str = "service:test-duty";

    /// The interleaving that sent ADD SERVER twice in CI: the older instance beats and asks
    /// after the younger one already said yes.
    #[tokio::test]
    async fn of_two_starting_together_only_one_takes_the_start_duty_whatever_the_order() {
        let store = prov_store::open("sqlite::memory:").await.expect("store");
        let older = Instance::new();
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        let younger = Instance::new();
        assert!(older.started_at < younger.started_at);

        younger.beat(store.as_ref()).await.expect("beat");
        assert!(younger.claim_start_duty(store.as_ref(), DUTY).await);
        older.beat(store.as_ref()).await.expect("beat");
        assert!(
            !older.claim_start_duty(store.as_ref(), DUTY).await,
            "the younger one took the duty already"
        );
    }

    #[tokio::test]
    async fn a_later_instance_joins_without_the_duty_and_takes_it_once_the_holder_left() {
        let store = prov_store::open("sqlite::memory:").await.expect("store");
        let first = Instance::new();
        first.beat(store.as_ref()).await.expect("beat");
        assert!(first.claim_start_duty(store.as_ref(), DUTY).await);

        let joining = Instance::new();
        joining.beat(store.as_ref()).await.expect("beat");
        assert!(!joining.claim_start_duty(store.as_ref(), DUTY).await);

        first.leave(store.as_ref()).await;
        joining.leave(store.as_ref()).await;
        let restarted = Instance::new();
        restarted.beat(store.as_ref()).await.expect("beat");
        assert!(
            restarted.claim_start_duty(store.as_ref(), DUTY).await,
            "a service started again registers again"
        );
    }
}
