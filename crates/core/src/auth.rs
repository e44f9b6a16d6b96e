//! Admin UI sessions as stored (table `ui_sessions`) and the myApps user a session belongs to:
//! shared by the web UI's sign-in, the App Service's myApps sign-in and the audit log.
//!
//! Sessions are server-side and kept in the database, so every instance behind one address
//! accepts every session: the cookie holds only a random 256-bit id, the table only its SHA-256
//! with the session's CSRF token, user and last use. Signing out or expiry removes the row, so a
//! copied cookie is useless afterwards. See `docs/ui.md`.

use std::time::Duration;

use prov_store::{Store, StoreError, UiSession};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::secret::random_token;

/// A session unused this long ends.
const IDLE: Duration = Duration::from_secs(8 * 3600);
/// Bounds the table if someone signs in over and over without signing out.
const MAX_SESSIONS: u32 = 1_000;
/// `last_used` is written at most this often per session (not on every request).
const TOUCH_EVERY: Duration = Duration::from_secs(60);

/// The myApps user a session was signed in for: the PBX vouched for these (AppLogin digest).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MyAppsUser {
    pub sip: String,
    /// Display name.
    pub dn: String,
    pub guid: String,
}

/// What a signed-in request carries (in its extensions).
#[derive(Clone)]
pub struct Session {
    pub id: String,
    pub csrf: String,
    /// Whether the cookie must be `Secure` (the request came over TLS).
    pub secure: bool,
    /// `None`: signed in with the admin password (or the App object password).
    pub user: Option<MyAppsUser>,
}

/// The stored form of a session id: SHA-256, hex.
fn id_hash(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}

fn idle() -> time::Duration {
    time::Duration::try_from(IDLE).unwrap_or(time::Duration::hours(8))
}

/// Starts a session; returns its id (the cookie's value).
pub async fn create(store: &dyn Store, user: Option<&MyAppsUser>) -> Result<String, StoreError> {
    let id = random_token(43);
    let now = OffsetDateTime::now_utc();
    let row = UiSession {
        id_hash: id_hash(&id),
        csrf: random_token(32),
        user_sip: user.map(|u| u.sip.clone()),
        user_dn: user.map(|u| u.dn.clone()),
        user_guid: user.map(|u| u.guid.clone()),
        created_at: now,
        last_used: now,
    };
    store
        .create_ui_session(&row, now - idle(), MAX_SESSIONS)
        .await?;
    Ok(id)
}

/// The live session with this id, marked as used; `None` when unknown or expired.
pub async fn touch(
    store: &dyn Store,
    id: &str,
) -> Result<Option<(String, Option<MyAppsUser>)>, StoreError> {
    let hash = id_hash(id);
    let Some(row) = store.get_ui_session(&hash).await? else {
        return Ok(None);
    };
    let now = OffsetDateTime::now_utc();
    let unused = now - row.last_used;
    if unused >= idle() {
        store.delete_ui_session(&hash).await?;
        return Ok(None);
    }
    if unused >= time::Duration::try_from(TOUCH_EVERY).unwrap_or(time::Duration::MINUTE) {
        store.touch_ui_session(&hash, now).await?;
    }
    let user = match (row.user_sip, row.user_dn, row.user_guid) {
        (Some(sip), dn, guid) => Some(MyAppsUser {
            sip,
            dn: dn.unwrap_or_default(),
            guid: guid.unwrap_or_default(),
        }),
        _ => None,
    };
    Ok(Some((row.csrf, user)))
}

/// Whether the id names a live session (store errors count as no).
pub async fn is_live(store: &dyn Store, id: &str) -> bool {
    matches!(touch(store, id).await, Ok(Some(_)))
}

pub async fn end(store: &dyn Store, id: &str) -> Result<(), StoreError> {
    store.delete_ui_session(&id_hash(id)).await.map(|_| ())
}

pub fn idle_secs() -> u64 {
    IDLE.as_secs()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_hash_of_the_id_is_stored() {
        let h = id_hash("abc");
        assert_eq!(
            h,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_ne!(h, "abc");
    }
}
