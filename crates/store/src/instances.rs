//! Instance heartbeats: one row per running server process (docs/storage.md, "Instances and
//! heartbeats").

use crate::common::normalize;
use crate::values::Ts;
use crate::{InstanceBeat, StoreError};

/// `$1` id, `$2` started, `$3` beat, `$4` address.
const BEAT_INSTANCE: &str = "INSERT INTO instances (id, started_at, last_beat, address) \
     VALUES ($1, $2, $3, $4) \
     ON CONFLICT (id) DO UPDATE SET last_beat = excluded.last_beat, address = excluded.address";

/// `$1` cutoff: rows of instances dead for long. Their leases and claims are free already
/// (stale beat); without the row they are judged by their own `until`, long past.
const PRUNE_INSTANCES: &str = "DELETE FROM instances WHERE last_beat < $1";

/// `$1` id: a clean stop hands everything over at once (one transaction, three statements).
const LEAVE_LEASES: &str = "DELETE FROM leases WHERE holder = $1";
const LEAVE_RPS_JOBS: &str =
    "UPDATE rps_jobs SET leased_by = NULL, leased_until = NULL WHERE leased_by = $1";
const LEAVE_INSTANCE: &str = "DELETE FROM instances WHERE id = $1";

const LIST_INSTANCES: &str =
    "SELECT id, started_at, last_beat, address FROM instances ORDER BY started_at, id";

for_each_backend!({
    pub(crate) async fn beat_instance(db: &Db, beat: &InstanceBeat) -> Result<(), StoreError> {
        let last_beat = normalize(beat.last_beat);
        let forget =
            time::Duration::try_from(crate::INSTANCE_FORGET_AFTER).unwrap_or(time::Duration::ZERO);
        let mut tx = db.begin_write().await?;
        sqlx::query(BEAT_INSTANCE)
            .bind(&beat.id)
            .bind(Ts::from(beat.started_at))
            .bind(Ts::from(last_beat))
            .bind(beat.address.as_deref())
            .execute(&mut *tx)
            .await?;
        sqlx::query(PRUNE_INSTANCES)
            .bind(Ts::from(last_beat.checked_sub(forget).unwrap_or(last_beat)))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn leave_instance(db: &Db, id: &str) -> Result<(), StoreError> {
        let mut tx = db.begin_write().await?;
        for sql in [LEAVE_LEASES, LEAVE_RPS_JOBS, LEAVE_INSTANCE] {
            sqlx::query(sql).bind(id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn list_instances(db: &Db) -> Result<Vec<InstanceBeat>, StoreError> {
        let rows: Vec<(String, Ts, Ts, Option<String>)> =
            sqlx::query_as(LIST_INSTANCES).fetch_all(db.pool()).await?;
        rows.into_iter()
            .map(|(id, started_at, last_beat, address)| {
                Ok(InstanceBeat {
                    id,
                    started_at: started_at.time()?,
                    last_beat: last_beat.time()?,
                    address,
                })
            })
            .collect()
    }
});
