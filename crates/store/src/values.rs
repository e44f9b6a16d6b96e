//! Column values whose SQL type differs between the backends, with one Rust type each that
//! encodes and decodes for both. The store's queries bind and read these, so a query is
//! written once; only these impls know that SQLite keeps a time as INTEGER microseconds and
//! JSON as TEXT, where PostgreSQL has TIMESTAMPTZ, JSONB and INT4.

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo, PgValueRef};
use sqlx::sqlite::{SqliteArgumentsBuffer, SqliteTypeInfo, SqliteValueRef};
use sqlx::{Decode, Encode, Postgres, Sqlite, Type};
use time::OffsetDateTime;

use crate::StoreError;
use crate::common::{from_micros, to_micros};

/// A point in time as the store keeps it: UTC, whole microseconds. SQLite: INTEGER
/// microseconds since the epoch; PostgreSQL: TIMESTAMPTZ (whose precision is the same).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ts(i64);

impl Ts {
    /// The time as stored (normalised: UTC, truncated to the microsecond).
    pub(crate) fn time(self) -> Result<OffsetDateTime, StoreError> {
        from_micros(self.0)
    }

    pub(crate) fn opt_time(t: Option<Ts>) -> Result<Option<OffsetDateTime>, StoreError> {
        t.map(Ts::time).transpose()
    }
}

impl From<OffsetDateTime> for Ts {
    fn from(t: OffsetDateTime) -> Self {
        // Flooring to whole microseconds is what `common::normalize` does.
        Ts(to_micros(t))
    }
}

impl Type<Sqlite> for Ts {
    fn type_info() -> SqliteTypeInfo {
        <i64 as Type<Sqlite>>::type_info()
    }

    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <i64 as Type<Sqlite>>::compatible(ty)
    }
}

impl Encode<'_, Sqlite> for Ts {
    fn encode_by_ref(&self, buf: &mut SqliteArgumentsBuffer) -> Result<IsNull, BoxDynError> {
        Encode::<Sqlite>::encode_by_ref(&self.0, buf)
    }
}

impl<'r> Decode<'r, Sqlite> for Ts {
    // Any integer decodes: a value out of range is reported by `Ts::time` as corrupt data.
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        <i64 as Decode<Sqlite>>::decode(value).map(Ts)
    }
}

impl Type<Postgres> for Ts {
    fn type_info() -> PgTypeInfo {
        <OffsetDateTime as Type<Postgres>>::type_info()
    }

    fn compatible(ty: &PgTypeInfo) -> bool {
        <OffsetDateTime as Type<Postgres>>::compatible(ty)
    }
}

impl Encode<'_, Postgres> for Ts {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        Encode::<Postgres>::encode(from_micros(self.0)?, buf)
    }
}

impl<'r> Decode<'r, Postgres> for Ts {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        <OffsetDateTime as Decode<Postgres>>::decode(value).map(Ts::from)
    }
}

/// A JSON column as read: `None` when SQLite's TEXT does not hold JSON (PostgreSQL's JSONB
/// always does), so the caller reports which row is corrupt. To write JSON, bind the
/// `serde_json::Value` itself: sqlx writes it as TEXT on SQLite and JSONB on PostgreSQL.
#[derive(Clone, Debug)]
pub(crate) struct JsonCol(Option<serde_json::Value>);

impl JsonCol {
    /// The value, or [`StoreError::Corrupt`] with `what()` as the message.
    pub(crate) fn value(
        self,
        what: impl FnOnce() -> String,
    ) -> Result<serde_json::Value, StoreError> {
        self.0.ok_or_else(|| StoreError::Corrupt(what()))
    }
}

impl Type<Sqlite> for JsonCol {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }

    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <String as Type<Sqlite>>::compatible(ty)
    }
}

impl<'r> Decode<'r, Sqlite> for JsonCol {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        let text = <&str as Decode<Sqlite>>::decode(value)?;
        Ok(JsonCol(serde_json::from_str(text).ok()))
    }
}

impl Type<Postgres> for JsonCol {
    fn type_info() -> PgTypeInfo {
        <serde_json::Value as Type<Postgres>>::type_info()
    }

    fn compatible(ty: &PgTypeInfo) -> bool {
        <serde_json::Value as Type<Postgres>>::compatible(ty)
    }
}

impl<'r> Decode<'r, Postgres> for JsonCol {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        <serde_json::Value as Decode<Postgres>>::decode(value).map(|v| JsonCol(Some(v)))
    }
}

/// A small count (HTTP status, request count, attempts): INTEGER (64-bit) on SQLite, INT4 on
/// PostgreSQL. Written saturated to INT4's range; read whole, so the caller range-checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Int4(pub(crate) i64);

impl From<u32> for Int4 {
    fn from(n: u32) -> Self {
        Int4(i64::from(n))
    }
}

impl From<u16> for Int4 {
    fn from(n: u16) -> Self {
        Int4(i64::from(n))
    }
}

impl Type<Sqlite> for Int4 {
    fn type_info() -> SqliteTypeInfo {
        <i64 as Type<Sqlite>>::type_info()
    }

    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <i64 as Type<Sqlite>>::compatible(ty)
    }
}

impl Encode<'_, Sqlite> for Int4 {
    fn encode_by_ref(&self, buf: &mut SqliteArgumentsBuffer) -> Result<IsNull, BoxDynError> {
        Encode::<Sqlite>::encode_by_ref(&self.0, buf)
    }
}

impl<'r> Decode<'r, Sqlite> for Int4 {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        <i64 as Decode<Sqlite>>::decode(value).map(Int4)
    }
}

impl Type<Postgres> for Int4 {
    fn type_info() -> PgTypeInfo {
        <i32 as Type<Postgres>>::type_info()
    }
}

impl Encode<'_, Postgres> for Int4 {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        let n = i32::try_from(self.0).unwrap_or(if self.0 < 0 { i32::MIN } else { i32::MAX });
        Encode::<Postgres>::encode(n, buf)
    }
}

impl<'r> Decode<'r, Postgres> for Int4 {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        <i32 as Decode<Postgres>>::decode(value).map(|n| Int4(i64::from(n)))
    }
}

/// A list of MACs bound as one parameter: a JSON array (TEXT) that SQLite unpacks with
/// `json_each`, a `text[]` on PostgreSQL (see `Dialect::EXISTING_MACS`).
#[derive(Clone, Debug)]
pub(crate) struct MacList(pub(crate) Vec<String>);

impl Type<Sqlite> for MacList {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }
}

impl Encode<'_, Sqlite> for MacList {
    fn encode_by_ref(&self, buf: &mut SqliteArgumentsBuffer) -> Result<IsNull, BoxDynError> {
        Encode::<Sqlite>::encode(serde_json::to_string(&self.0)?, buf)
    }
}

impl Type<Postgres> for MacList {
    fn type_info() -> PgTypeInfo {
        <Vec<String> as Type<Postgres>>::type_info()
    }
}

impl Encode<'_, Postgres> for MacList {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        Encode::<Postgres>::encode_by_ref(&self.0, buf)
    }
}
