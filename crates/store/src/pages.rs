//! A page of a list and the list's total, read in one snapshot, for every paged list.

use sqlx::query::{QueryAs, QueryScalar};
use sqlx::{ColumnIndex, Database, Decode, Executor, FromRow, IntoArguments, Type};

use crate::backend::Dialect;
use crate::common::collect;
use crate::{Page, StoreError};

/// Runs `list` and `count` in one read snapshot, so the page and the total agree. Generic
/// (called with each backend's concrete types), because it only runs two prepared queries.
pub(crate) async fn fetch_page<D, R, T>(
    db: &D,
    list: QueryAs<'_, D::Db, R, <D::Db as Database>::Arguments>,
    count: QueryScalar<'_, D::Db, i64, <D::Db as Database>::Arguments>,
) -> Result<Page<T>, StoreError>
where
    D: Dialect,
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    <D::Db as Database>::Arguments: IntoArguments<D::Db>,
    R: for<'r> FromRow<'r, <D::Db as Database>::Row> + Send + Unpin,
    i64: for<'r> Decode<'r, D::Db> + Type<D::Db>,
    usize: ColumnIndex<<D::Db as Database>::Row>,
    T: TryFrom<R, Error = StoreError>,
{
    let mut tx = db.begin_read().await?;
    let rows = list.fetch_all(&mut *tx).await?;
    let total = count.fetch_one(&mut *tx).await?;
    tx.commit().await?;
    Ok(Page {
        items: collect(rows)?,
        total: u64::try_from(total).unwrap_or_default(),
    })
}
