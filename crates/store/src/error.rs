//! The store's error type.
//!
//! Both `Display` and `Debug` are safe to log: a PostgreSQL error's `Debug` carries its
//! DETAIL, e.g. `Key (url_token)=(<the token>) already exists` or `Failing row contains (...)`
//! with every password of the row, so `Debug` here prints only what `Display` prints.

use std::fmt;

use yealink::Mac;

#[derive(thiserror::Error)]
pub enum StoreError {
    #[error("a device with MAC {0} already exists")]
    DuplicateMac(Mac),
    /// Another device has the same `url_token` (the token itself is not shown: it is a secret).
    #[error("another device already uses this URL token")]
    DuplicateUrlToken,
    #[error("no device with MAC {0}")]
    NotFound(Mac),
    /// The MAC is a device of another tenant: RPS redirects a MAC globally, so it can belong to
    /// one tenant only. `tenant` names it as `name` or `domain/name`; the surfaces decide who
    /// may see it (docs/security.md, "Tenants").
    #[error("MAC {mac} is already a device of tenant {tenant}; remove it there first")]
    MacInOtherTenant { mac: Mac, tenant: String },
    #[error("a tenant named {name} already exists for domain {domain:?}")]
    DuplicateTenant { name: String, domain: String },
    #[error("the default tenant cannot be removed")]
    DefaultTenant,
    /// The message names the accepted schemes; it never contains the URL's credentials.
    #[error("{0}")]
    UnsupportedUrl(String),
    // The message is in our Display and sqlx's error is no `source`: as a source, `{:#}`
    // printed it a second time, and a chain's `Debug` would carry PostgreSQL's DETAIL.
    #[error("database error: {}", DbErrorMessage(.0))]
    Database(sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(sqlx::migrate::MigrateError),
    /// The database server did not answer in time (the message names host and port only).
    #[error("{0}")]
    Unreachable(String),
    /// The database has (almost) no room left under its page limit (the number: pages left).
    #[error("the database is full ({0} pages left); writes that need space fail")]
    Full(u64),
    /// A stored value could not be read back (e.g. an invalid MAC in a row).
    #[error("corrupt data in the database: {0}")]
    Corrupt(String),
    /// A secret could not be decrypted (wrong key file) or sealed; never contains the value.
    // Transparent: with "{0}" the message came twice in an error chain (once as the source).
    #[error(transparent)]
    Secret(#[from] crate::sealing::SealError),
    /// The SQLite file's path no longer names the file the store opened (deleted, or another
    /// file moved there): the store still reads and writes the old one.
    #[error(
        "the database file {} was deleted or replaced after it was opened; writes go to the \
         old file. Restore it from a backup, or restart to open what is there now",
        .0.display()
    )]
    Replaced(std::path::PathBuf),
    /// A new connection cannot read the SQLite file (overwritten, damaged, unreadable).
    #[error("the database file {} cannot be read: {}", .path.display(), DbErrorMessage(.error))]
    Unreadable {
        path: std::path::PathBuf,
        // Not named `source`, which would make it one and print it twice (see `Database`).
        error: sqlx::Error,
    },
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Database(e)
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        StoreError::Migrate(e)
    }
}

impl fmt::Debug for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let variant = match self {
            Self::DuplicateMac(_) => "DuplicateMac",
            Self::DuplicateUrlToken => "DuplicateUrlToken",
            Self::NotFound(_) => "NotFound",
            Self::MacInOtherTenant { .. } => "MacInOtherTenant",
            Self::DuplicateTenant { .. } => "DuplicateTenant",
            Self::DefaultTenant => "DefaultTenant",
            Self::UnsupportedUrl(_) => "UnsupportedUrl",
            Self::Database(_) => "Database",
            Self::Migrate(_) => "Migrate",
            Self::Corrupt(_) => "Corrupt",
            Self::Secret(_) => "Secret",
            Self::Full(_) => "Full",
            Self::Unreachable(_) => "Unreachable",
            Self::Replaced(_) => "Replaced",
            Self::Unreadable { .. } => "Unreadable",
        };
        f.debug_tuple(variant)
            .field(&format_args!("{self}"))
            .finish()
    }
}

impl StoreError {
    /// A short reason when the store cannot write for now (full, locked), to tell the user
    /// instead of a generic internal error. Codes: SQLite result codes 13 SQLITE_FULL, 5
    /// SQLITE_BUSY, 6 SQLITE_LOCKED; PostgreSQL SQLSTATE 53100 disk_full.
    pub fn cannot_write_reason(&self) -> Option<&'static str> {
        if let Self::Full(_) = self {
            return Some("the database is full");
        }
        let Self::Database(err) = self else {
            return None;
        };
        match err.as_database_error()?.code()?.as_ref() {
            "13" | "53100" => Some("the database is full"),
            "5" | "6" => Some("the database is locked by another writer"),
            _ => None,
        }
    }
}

/// Displays a sqlx error with the database's primary message and SQLSTATE only, never the
/// DETAIL or the failing row.
struct DbErrorMessage<'a>(&'a sqlx::Error);

impl fmt::Display for DbErrorMessage<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_database_error() {
            Some(db) => {
                f.write_str(db.message())?;
                if let Some(code) = db.code() {
                    write!(f, " (code {code})")?;
                }
                Ok(())
            }
            // The other variants (I/O, pool, decode, configuration) describe the failure, not
            // the data.
            None => fmt::Display::fmt(self.0, f),
        }
    }
}

/// Which unique constraint of `devices` an insert or update violated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DeviceConflict {
    Mac,
    UrlToken,
}

impl DeviceConflict {
    /// Recognises a unique violation on `devices`. PostgreSQL names the constraint
    /// (`devices_pkey`, `devices_url_token_key`), SQLite names the column in the message
    /// (`UNIQUE constraint failed: devices.url_token`).
    pub(crate) fn of(err: &sqlx::Error) -> Option<Self> {
        let db = err.as_database_error()?;
        if !db.is_unique_violation() {
            return None;
        }
        let what = db.constraint().unwrap_or_else(|| db.message());
        if what.contains("url_token") {
            Some(Self::UrlToken)
        } else if what.contains("devices_pkey") || what.contains("devices.mac") {
            Some(Self::Mac)
        } else {
            None
        }
    }

    pub(crate) fn into_error(self, mac: Mac) -> StoreError {
        match self {
            Self::Mac => StoreError::DuplicateMac(mac),
            Self::UrlToken => StoreError::DuplicateUrlToken,
        }
    }
}

/// Maps a failed device insert/update to DuplicateMac / DuplicateUrlToken when it was one.
pub(crate) fn device_write_error(err: sqlx::Error, mac: Mac) -> StoreError {
    match DeviceConflict::of(&err) {
        Some(conflict) => conflict.into_error(mac),
        None => StoreError::Database(err),
    }
}
