//! The admin credential: an argon2 hash in the store; the password is shown once, when generated.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use parking_lot::Mutex;
use prov_store::Store;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::auth_limit::FailureLimiter;
use crate::config::Limits;
use crate::error::ServiceError;
use crate::password_pool::{PasswordPool, Verdict};
use crate::secret::random_token;

const HASH_KEY: &str = "admin_password_hash";
const GENERATED_LEN: usize = 24;

#[derive(Debug, thiserror::Error)]
pub enum AdminAuthError {
    #[error("could not hash the admin password")]
    Hash,
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl From<prov_store::StoreError> for AdminAuthError {
    fn from(e: prov_store::StoreError) -> Self {
        AdminAuthError::Service(e.into())
    }
}

pub fn hash_password(password: &str) -> Result<String, AdminAuthError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|_| AdminAuthError::Hash)
}

/// Makes sure an admin credential exists. Returns the password when this call generated it, so
/// the caller can print it once. A configured password replaces the stored hash.
pub async fn ensure_admin_credential(
    store: &dyn Store,
    configured: Option<&str>,
) -> Result<Option<String>, AdminAuthError> {
    if let Some(password) = configured {
        let current = store.get_meta(HASH_KEY).await?;
        let already = current.as_deref().is_some_and(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), h)
                .is_ok()
        });
        if !already {
            store.set_meta(HASH_KEY, &hash_password(password)?).await?;
        }
        return Ok(None);
    }
    if store.get_meta(HASH_KEY).await?.is_some() {
        return Ok(None);
    }
    let password = random_token(GENERATED_LEN);
    let hash = hash_password(&password)?;
    // Two instances starting together: only the one whose hash was stored shows its password.
    let stored = store.insert_meta_if_absent(HASH_KEY, &hash).await?;
    Ok((stored == hash).then_some(password))
}

/// Sets a new random admin password and returns it.
pub async fn reset_admin_password(store: &dyn Store) -> Result<String, AdminAuthError> {
    let password = random_token(GENERATED_LEN);
    store.set_meta(HASH_KEY, &hash_password(&password)?).await?;
    Ok(password)
}

/// A verified password is trusted this long without argon2 (API clients send it on every
/// request); a reset of the hash ends it at once.
const REMEMBER_FOR: Duration = Duration::from_secs(300);

/// Checks that may wait for a password-check thread. At ~40 ms a check on two threads, the
/// last of them waits about a second; beyond it, waiting would only hold requests open.
const WAITING_CHECKS: usize = 64;

/// What [`AdminVerifier::check`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminCheck {
    Ok,
    Wrong,
    /// The source address used its budget of wrong passwords; retry after this.
    Limited(Duration),
    /// The password checks are taken, and enough checks wait that rank at least as high as
    /// this source's; nothing was checked.
    Busy,
}

/// Checks admin passwords: a per-address budget of failures, a fixed set of threads for the
/// argon2 checks (each takes ~19 MiB and a core for a while) with a short queue that serves
/// sources without recent failures first, and the last good password remembered briefly (as
/// a keyed SHA-256) so API clients do not pay for argon2 each time.
pub struct AdminVerifier {
    store: Arc<dyn Store>,
    remembered: Mutex<Option<Remembered>>,
    /// Keys the remembered fingerprint, so a memory dump does not hold a plain hash of it.
    key: String,
    checks: PasswordPool,
    failures: FailureLimiter,
}

struct Remembered {
    hash: String,
    fingerprint: [u8; 32],
    at: Instant,
}

impl AdminVerifier {
    pub fn new(store: Arc<dyn Store>, limits: &Limits) -> AdminVerifier {
        AdminVerifier {
            store,
            remembered: Mutex::new(None),
            key: random_token(32),
            checks: PasswordPool::new(limits.password_checks, WAITING_CHECKS),
            failures: FailureLimiter::new(
                limits.auth_failures,
                Duration::from_secs(limits.auth_failure_refill_secs),
            ),
        }
    }

    /// The most argon2 checks that ever ran at once (tests and `/metrics` watch it).
    pub fn peak_checks_in_flight(&self) -> usize {
        self.checks.peak_in_flight()
    }

    /// Checks `password` sent from `ip`. Only wrong passwords use up the address's budget.
    pub async fn check(&self, ip: IpAddr, password: &str) -> Result<AdminCheck, AdminAuthError> {
        let last_failure = match self.failures.reserve(ip) {
            Ok(last_failure) => last_failure,
            Err(wait) => return Ok(AdminCheck::Limited(wait)),
        };
        let outcome = self.check_reserved(last_failure, password).await;
        if matches!(outcome, Ok(AdminCheck::Wrong)) {
            self.failures.failed(ip);
        } else {
            self.failures.refund(ip);
        }
        outcome
    }

    async fn check_reserved(
        &self,
        last_failure: Option<Instant>,
        password: &str,
    ) -> Result<AdminCheck, AdminAuthError> {
        let Some(hash) = self.store.get_meta(HASH_KEY).await? else {
            return Ok(AdminCheck::Wrong);
        };
        let fingerprint: [u8; 32] = Sha256::digest(format!("{}:{password}", self.key)).into();
        if let Some(r) = self.remembered.lock().as_ref()
            && r.hash == hash
            && r.at.elapsed() < REMEMBER_FOR
            && bool::from(r.fingerprint.ct_eq(&fingerprint))
        {
            return Ok(AdminCheck::Ok);
        }
        match self.checks.verify(last_failure, password, &hash).await {
            Verdict::Right => {}
            Verdict::Wrong => return Ok(AdminCheck::Wrong),
            Verdict::Busy => {
                metrics::counter!("admin_auth_busy_total").increment(1);
                return Ok(AdminCheck::Busy);
            }
        }
        *self.remembered.lock() = Some(Remembered {
            hash,
            fingerprint,
            at: Instant::now(),
        });
        Ok(AdminCheck::Ok)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use argon2::password_hash::PasswordHasher;

    use super::*;

    const RIGHT: &str = "the-admin-password";

    /// A verifier on a fresh store whose admin hash is cheap (~ms) but not free, so a flood
    /// keeps its one thread busy.
    async fn verifier(refill_secs: u64) -> AdminVerifier {
        let store = prov_store::open("sqlite::memory:").await.expect("store");
        let params = argon2::Params::new(2048, 1, 1, None).expect("params");
        let hash = Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
            .hash_password(RIGHT.as_bytes())
            .expect("hash")
            .to_string();
        store.set_meta(HASH_KEY, &hash).await.expect("store hash");
        let limits = Limits {
            password_checks: 1,
            auth_failures: 5,
            auth_failure_refill_secs: refill_secs,
            ..Limits::default()
        };
        AdminVerifier::new(store, &limits)
    }

    fn attacker(i: usize) -> IpAddr {
        IpAddr::from([127, 0, 1 + (i / 250) as u8, 1 + (i % 250) as u8])
    }

    /// 256 addresses guessing as fast as they are answered (again at once after 503, after
    /// the wait after 429), each its own task, until `stop`; counts the checked guesses per
    /// address.
    fn flood(
        v: &Arc<AdminVerifier>,
        stop: &Arc<AtomicBool>,
        skip: IpAddr,
    ) -> (Vec<tokio::task::JoinHandle<()>>, Arc<Vec<AtomicUsize>>) {
        let checked: Arc<Vec<AtomicUsize>> =
            Arc::new((0..256).map(|_| AtomicUsize::new(0)).collect());
        let tasks = (0..256)
            .map(|i| {
                let (v, stop, checked) = (v.clone(), stop.clone(), checked.clone());
                tokio::spawn(async move {
                    let ip = attacker(i);
                    let mut n = 0u32;
                    while !stop.load(Ordering::Relaxed) {
                        if ip == skip && checked[i].load(Ordering::Relaxed) > 0 {
                            // This address stops guessing after its first checked guess.
                            break;
                        }
                        n += 1;
                        match v.check(ip, &format!("guess-{i}-{n}")).await {
                            Ok(AdminCheck::Wrong) => {
                                checked[i].fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(AdminCheck::Limited(wait)) => {
                                tokio::time::sleep(wait.max(Duration::from_millis(5))).await;
                            }
                            Ok(AdminCheck::Busy) => tokio::task::yield_now().await,
                            other => panic!("guess answered {other:?}"),
                        }
                    }
                })
            })
            .collect();
        (tasks, checked)
    }

    /// 256 addresses guessing kept the honest admin out (32 of 32 sign-ins 503).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_guess_flood_from_many_addresses_does_not_keep_the_admin_out() {
        let v = Arc::new(verifier(2).await);
        let stop = Arc::new(AtomicBool::new(false));
        let quiet = attacker(7);
        let (tasks, checked) = flood(&v, &stop, quiet);
        // Until every address has guessed wrong at least once: a fresh address cannot be told
        // from the admin's, a guessing one can.
        let started = Instant::now();
        while checked.iter().any(|c| c.load(Ordering::Relaxed) == 0) {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "flood too slow"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // From another address, during the flood: in at the first try, without waiting long.
        let admin = IpAddr::from([127, 0, 0, 4]);
        let asked = Instant::now();
        assert_eq!(v.check(admin, RIGHT).await.expect("check"), AdminCheck::Ok);
        assert!(
            asked.elapsed() < Duration::from_secs(5),
            "{:?}",
            asked.elapsed()
        );
        // From an address that guessed and then stopped, while the others go on: in within its
        // refill (2 s here) and a short wait; a second right password is remembered, so the
        // first one must have been the argon2 check. Forget it to make this one check again.
        *v.remembered.lock() = None;
        let asked = Instant::now();
        let mut answers = Vec::new();
        loop {
            let answer = v.check(quiet, RIGHT).await.expect("check");
            // Within its refill the address still ranks by its failure, behind older ones, and
            // a full queue may turn it away; after the refill it is a quiet address again.
            assert!(
                answer != AdminCheck::Busy || asked.elapsed() < Duration::from_secs(2),
                "the quiet address was turned away after its refill: {answers:?}"
            );
            answers.push(answer);
            match answer {
                AdminCheck::Ok => break,
                AdminCheck::Limited(wait) => tokio::time::sleep(wait).await,
                AdminCheck::Busy => tokio::time::sleep(Duration::from_secs(1)).await,
                AdminCheck::Wrong => panic!("the right password answered wrong"),
            }
            assert!(asked.elapsed() < Duration::from_secs(10), "{answers:?}");
        }
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            t.await.expect("attacker");
        }
        assert_eq!(v.peak_checks_in_flight(), 1);
    }
}
