//! Web UI sessions (docs/ui.md): in the database so that any instance accepts any.

use sqlx::FromRow;
use time::OffsetDateTime;

use crate::values::Ts;
use crate::{StoreError, UiSession};

#[derive(FromRow)]
struct SessionRow {
    id_hash: String,
    csrf: String,
    user_sip: Option<String>,
    user_dn: Option<String>,
    user_guid: Option<String>,
    created_at: Ts,
    last_used: Ts,
}

impl TryFrom<SessionRow> for UiSession {
    type Error = StoreError;

    fn try_from(r: SessionRow) -> Result<Self, StoreError> {
        Ok(UiSession {
            id_hash: r.id_hash,
            csrf: r.csrf,
            user_sip: r.user_sip,
            user_dn: r.user_dn,
            user_guid: r.user_guid,
            created_at: r.created_at.time()?,
            last_used: r.last_used.time()?,
        })
    }
}

for_each_backend!({
    pub(crate) async fn create_ui_session(
        db: &Db,
        session: &UiSession,
        idle_before: OffsetDateTime,
        max: u32,
    ) -> Result<(), StoreError> {
        // Three statements, each atomic; their order only matters for the bound, not for
        // correctness (a concurrent sign-in may briefly leave one session too many).
        sqlx::query(
            "INSERT INTO ui_sessions (id_hash, csrf, user_sip, user_dn, user_guid, created_at, \
             last_used, tenant_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&session.id_hash)
        .bind(&session.csrf)
        .bind(&session.user_sip)
        .bind(&session.user_dn)
        .bind(&session.user_guid)
        .bind(Ts::from(session.created_at))
        .bind(Ts::from(session.last_used))
        .bind(db.tenant())
        .execute(db.pool())
        .await?;
        sqlx::query("DELETE FROM ui_sessions WHERE last_used < $1 AND tenant_id = $2")
            .bind(Ts::from(idle_before))
            .bind(db.tenant())
            .execute(db.pool())
            .await?;
        sqlx::query(Db::TRIM_UI_SESSIONS)
            .bind(i64::from(max))
            .bind(db.tenant())
            .execute(db.pool())
            .await?;
        Ok(())
    }

    pub(crate) async fn get_ui_session(
        db: &Db,
        id_hash: &str,
    ) -> Result<Option<UiSession>, StoreError> {
        let row: Option<SessionRow> = sqlx::query_as(
            "SELECT id_hash, csrf, user_sip, user_dn, user_guid, created_at, last_used \
             FROM ui_sessions WHERE id_hash = $1 AND tenant_id = $2",
        )
        .bind(id_hash)
        .bind(db.tenant())
        .fetch_optional(db.pool())
        .await?;
        row.map(UiSession::try_from).transpose()
    }

    pub(crate) async fn touch_ui_session(
        db: &Db,
        id_hash: &str,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE ui_sessions SET last_used = $2 WHERE id_hash = $1 AND tenant_id = $3")
            .bind(id_hash)
            .bind(Ts::from(at))
            .bind(db.tenant())
            .execute(db.pool())
            .await?;
        Ok(())
    }

    pub(crate) async fn delete_ui_session(db: &Db, id_hash: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM ui_sessions WHERE id_hash = $1 AND tenant_id = $2")
            .bind(id_hash)
            .bind(db.tenant())
            .execute(db.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }
});
