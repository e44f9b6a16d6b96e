//! The admin credential: an argon2 hash in the store; the password is shown once, when generated.

use std::sync::Arc;

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use parking_lot::Mutex;
use prov_store::Store;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

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

/// Checks admin passwords; remembers the last good one (as a SHA-256) so API clients do not pay
/// for argon2 on every request. The hash is re-read so a reset takes effect.
pub struct AdminVerifier {
    store: Arc<dyn Store>,
    remembered: Mutex<Option<(String, [u8; 32])>>,
}

impl AdminVerifier {
    pub fn new(store: Arc<dyn Store>) -> AdminVerifier {
        AdminVerifier {
            store,
            remembered: Mutex::new(None),
        }
    }

    pub async fn verify(&self, password: &str) -> Result<bool, AdminAuthError> {
        let Some(hash) = self.store.get_meta(HASH_KEY).await? else {
            return Ok(false);
        };
        let fingerprint: [u8; 32] = Sha256::digest(password.as_bytes()).into();
        if let Some((known_hash, known)) = self.remembered.lock().as_ref()
            && *known_hash == hash
            && bool::from(known.ct_eq(&fingerprint))
        {
            return Ok(true);
        }
        let password = password.to_owned();
        let checked_hash = hash.clone();
        // argon2 is deliberately slow: keep it off the async workers.
        let ok = tokio::task::spawn_blocking(move || {
            Argon2::default()
                .verify_password(password.as_bytes(), checked_hash.as_str())
                .is_ok()
        })
        .await
        .unwrap_or(false);
        if ok {
            *self.remembered.lock() = Some((hash, fingerprint));
        }
        Ok(ok)
    }
}
