//! The admin credential: an argon2 hash in the store; the password is shown once, when generated.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use parking_lot::Mutex;
use prov_store::Store;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

use crate::auth_limit::FailureLimiter;
use crate::config::Limits;
use crate::error::ServiceError;
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

/// What [`AdminVerifier::check`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminCheck {
    Ok,
    Wrong,
    /// The source address used its budget of wrong passwords; retry after this.
    Limited(Duration),
    /// Too many password checks are running; nothing was checked.
    Busy,
}

/// Checks admin passwords: a per-address budget of failures, a bound on the argon2 checks
/// running at once (each takes ~19 MiB and a core for a while), and the last good password
/// remembered briefly (as a keyed SHA-256) so API clients do not pay for argon2 each time.
pub struct AdminVerifier {
    store: Arc<dyn Store>,
    remembered: Mutex<Option<Remembered>>,
    /// Keys the remembered fingerprint, so a memory dump does not hold a plain hash of it.
    key: String,
    checks: Arc<Semaphore>,
    failures: FailureLimiter,
    in_flight: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
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
            checks: Arc::new(Semaphore::new(limits.password_checks.max(1))),
            failures: FailureLimiter::new(
                limits.auth_failures,
                Duration::from_secs(limits.auth_failure_refill_secs),
            ),
            in_flight: Arc::new(AtomicUsize::new(0)),
            peak: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The most argon2 checks that ever ran at once (tests and `/metrics` watch it).
    pub fn peak_checks_in_flight(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    /// Checks `password` sent from `ip`. Only wrong passwords use up the address's budget.
    pub async fn check(&self, ip: IpAddr, password: &str) -> Result<AdminCheck, AdminAuthError> {
        if let Err(wait) = self.failures.reserve(ip) {
            return Ok(AdminCheck::Limited(wait));
        }
        let outcome = self.check_reserved(password).await;
        if !matches!(outcome, Ok(AdminCheck::Wrong)) {
            self.failures.refund(ip);
        }
        outcome
    }

    async fn check_reserved(&self, password: &str) -> Result<AdminCheck, AdminAuthError> {
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
        let Ok(permit) = self.checks.clone().try_acquire_owned() else {
            metrics::counter!("admin_auth_busy_total").increment(1);
            return Ok(AdminCheck::Busy);
        };
        let password = password.to_owned();
        let checked_hash = hash.clone();
        let (in_flight, peak) = (self.in_flight.clone(), self.peak.clone());
        // argon2 is deliberately slow: keep it off the async workers. The permit lives as long
        // as the check, even if the request is dropped meanwhile.
        let ok = tokio::task::spawn_blocking(move || {
            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            metrics::gauge!("admin_password_checks_in_flight").set(now as f64);
            let ok = Argon2::default()
                .verify_password(password.as_bytes(), checked_hash.as_str())
                .is_ok();
            let now = in_flight.fetch_sub(1, Ordering::SeqCst) - 1;
            metrics::gauge!("admin_password_checks_in_flight").set(now as f64);
            drop(permit);
            ok
        })
        .await
        .unwrap_or(false);
        if !ok {
            return Ok(AdminCheck::Wrong);
        }
        *self.remembered.lock() = Some(Remembered {
            hash,
            fingerprint,
            at: Instant::now(),
        });
        Ok(AdminCheck::Ok)
    }
}
