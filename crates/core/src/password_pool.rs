//! A fixed set of threads that run the admin password's argon2 checks, fed by a short queue
//! that serves sources without recent failures first.
//!
//! Fixed threads, not `spawn_blocking`: tokio's blocking pool starts a new thread whenever no
//! idle one is at hand, and glibc gives each thread its own arena, which kept the ~19 MiB of
//! every check it ran (a flood from 256 addresses took the server from 21 to 738 MiB). Here
//! the number of threads that ever allocate argon2's memory is `workers`, whatever the load.
//!
//! The queue holds at most `capacity` checks, ordered by when their source last sent a wrong
//! password (never, or longest ago, first; then by arrival). When it is full, a newcomer that
//! ranks ahead of the last one takes its place (that one is answered "busy"); otherwise the
//! newcomer is. So guessers, who fail all the time, queue behind anyone who has not.
//! Nothing here looks at the password before it is checked: who waits, who is turned away,
//! is decided by the source alone (no oracle).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use argon2::Argon2;
use argon2::password_hash::PasswordVerifier;
use parking_lot::{Condvar, Mutex};
use tokio::sync::oneshot;

/// Where a check queues: `None` (no recent wrong password) first, then the oldest failure.
pub type Rank = Option<Instant>;

/// What [`PasswordPool::verify`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Right,
    Wrong,
    /// Turned away unchecked: the queue was full of checks that rank at least as high.
    Busy,
}

pub struct PasswordPool {
    shared: Arc<Shared>,
    capacity: usize,
    workers: usize,
}

struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
    in_flight: AtomicUsize,
    peak: AtomicUsize,
}

#[derive(Default)]
struct Queue {
    jobs: BTreeMap<(Rank, u64), Job>,
    next: u64,
    closed: bool,
}

struct Job {
    password: String,
    hash: String,
    reply: oneshot::Sender<bool>,
}

impl PasswordPool {
    /// Starts `workers` threads (at least one) and a queue of `capacity` waiting checks.
    pub fn new(workers: usize, capacity: usize) -> PasswordPool {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            ready: Condvar::new(),
            in_flight: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
        });
        let mut started = 0;
        for i in 0..workers.max(1) {
            let shared = shared.clone();
            match std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || work(&shared))
            {
                Ok(_) => started += 1,
                Err(e) => tracing::error!(error = %e, "cannot start a password-check thread"),
            }
        }
        PasswordPool {
            shared,
            capacity: capacity.max(1),
            workers: started,
        }
    }

    /// The most checks that ever ran at once.
    pub fn peak_in_flight(&self) -> usize {
        self.shared.peak.load(Ordering::Relaxed)
    }

    /// Checks `password` against the PHC string `hash`, queued by `rank`.
    pub async fn verify(&self, rank: Rank, password: &str, hash: &str) -> Verdict {
        if self.workers == 0 {
            return Verdict::Busy;
        }
        let (reply, answer) = oneshot::channel();
        let job = Job {
            password: password.to_owned(),
            hash: hash.to_owned(),
            reply,
        };
        {
            let mut q = self.shared.queue.lock();
            let key = (rank, q.next);
            q.next += 1;
            if q.jobs.len() >= self.capacity {
                match q.jobs.last_key_value() {
                    Some((last, _)) if key < *last => {
                        // Dropping the job's sender answers its waiter "busy".
                        q.jobs.pop_last();
                    }
                    _ => return Verdict::Busy,
                }
            }
            q.jobs.insert(key, job);
            metrics::gauge!("admin_password_checks_waiting").set(q.jobs.len() as f64);
        }
        self.shared.ready.notify_one();
        match answer.await {
            Ok(true) => Verdict::Right,
            Ok(false) => Verdict::Wrong,
            Err(_) => Verdict::Busy,
        }
    }
}

impl Drop for PasswordPool {
    fn drop(&mut self) {
        self.shared.queue.lock().closed = true;
        self.shared.ready.notify_all();
    }
}

fn work(shared: &Shared) {
    loop {
        let job = {
            let mut q = shared.queue.lock();
            loop {
                if q.closed {
                    return;
                }
                if let Some((_, job)) = q.jobs.pop_first() {
                    metrics::gauge!("admin_password_checks_waiting").set(q.jobs.len() as f64);
                    break job;
                }
                shared.ready.wait(&mut q);
            }
        };
        // Its request is gone (the client hung up): no need to spend the check.
        if job.reply.is_closed() {
            continue;
        }
        let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        shared.peak.fetch_max(now, Ordering::SeqCst);
        metrics::gauge!("admin_password_checks_in_flight").set(now as f64);
        let ok = Argon2::default()
            .verify_password(job.password.as_bytes(), job.hash.as_str())
            .is_ok();
        let now = shared.in_flight.fetch_sub(1, Ordering::SeqCst) - 1;
        metrics::gauge!("admin_password_checks_in_flight").set(now as f64);
        let _ = job.reply.send(ok);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn cheap_hash(password: &str) -> String {
        use argon2::password_hash::PasswordHasher;
        let params = argon2::Params::new(256, 1, 1, None).expect("params");
        Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
            .hash_password(password.as_bytes())
            .expect("hash")
            .to_string()
    }

    /// A pool whose one worker is not started yet, so the queue can be watched.
    fn parked(capacity: usize) -> PasswordPool {
        PasswordPool {
            shared: Arc::new(Shared {
                queue: Mutex::new(Queue::default()),
                ready: Condvar::new(),
                in_flight: AtomicUsize::new(0),
                peak: AtomicUsize::new(0),
            }),
            capacity,
            workers: 1,
        }
    }

    async fn queued(pool: &PasswordPool, n: usize) {
        for _ in 0..1000 {
            if pool.shared.queue.lock().jobs.len() == n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("the queue never held {n} checks");
    }

    #[tokio::test]
    async fn a_full_queue_makes_room_only_for_a_source_that_failed_less_recently() {
        let pool = Arc::new(parked(2));
        let hash = cheap_hash("right");
        let t = Instant::now();
        let at = |s| Some(t + Duration::from_secs(s));
        let ask = |rank: Rank, password: &'static str| {
            let (pool, hash) = (pool.clone(), hash.clone());
            tokio::spawn(async move { pool.verify(rank, password, &hash).await })
        };
        let older = ask(at(2), "wrong");
        queued(&pool, 1).await;
        let newer = ask(at(3), "right");
        queued(&pool, 2).await;
        // Full, and this source failed even more recently: turned away unchecked, right
        // password or not.
        assert_eq!(pool.verify(at(4), "right", &hash).await, Verdict::Busy);
        assert_eq!(pool.verify(at(3), "right", &hash).await, Verdict::Busy);
        // A source with no failure takes the place of the most recent guesser.
        let clean = ask(None, "right");
        assert_eq!(newer.await.expect("task"), Verdict::Busy);
        queued(&pool, 2).await;
        let shared = pool.shared.clone();
        std::thread::spawn(move || work(&shared));
        assert_eq!(clean.await.expect("task"), Verdict::Right);
        assert_eq!(older.await.expect("task"), Verdict::Wrong);
        assert_eq!(pool.peak_in_flight(), 1);
    }

    #[tokio::test]
    async fn checks_run_on_the_fixed_threads_only() {
        let pool = Arc::new(PasswordPool::new(2, 64));
        let hash = cheap_hash("right");
        let checks = (0..40).map(|i| {
            let (pool, hash) = (pool.clone(), hash.clone());
            tokio::spawn(async move {
                let password = if i % 2 == 0 { "right" } else { "wrong" };
                (i, pool.verify(None, password, &hash).await)
            })
        });
        for check in futures::future::join_all(checks).await {
            let (i, verdict) = check.expect("task");
            let expected = if i % 2 == 0 {
                Verdict::Right
            } else {
                Verdict::Wrong
            };
            assert_eq!(verdict, expected);
        }
        assert!(pool.peak_in_flight() <= 2, "{}", pool.peak_in_flight());
    }
}
