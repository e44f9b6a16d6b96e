//! The data folder (0700), the key file that seals the database's secrets, and
//! `yealink-prov key rotate` (docs/security.md, "Data at rest").
//!
//! The key file is text: one base64 32-byte key per line, the first seals, all open; `#`
//! starts a comment. `secret.key` beside the SQLite database (so in the data folder by
//! default), or in the data folder for PostgreSQL, is created 0600 on first start unless
//! `secret_key_file` (`YEALINK_PROV_SECRET_KEY_FILE`) names one, which must then exist. It lives
//! outside the database, so a copied database (or backup) alone reveals no secret.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use prov_store::{KEY_LEN, Keyring, ResealReport, SealedStore, Store};

use crate::runtime::database_mark::{
    DATABASE_ID_META, DatabaseMark, MARKER_NAME, read_marker, remove_marker,
};
use prov_core::config::Config;
use prov_core::secret::random_token;

/// Mode of the data folder: the owner only.
pub const DATA_DIR_MODE: u32 = 0o700;
/// Mode of the key file.
pub const KEY_FILE_MODE: u32 = 0o600;
const DEFAULT_NAME: &str = "secret.key";

/// Creates the data folder if missing and narrows it to 0700 (also an existing one from an
/// older version, which created it 0755).
pub fn prepare_data_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create data folder {}", dir.display()))?;
    set_mode(dir, DATA_DIR_MODE)
        .with_context(|| format!("cannot restrict data folder {}", dir.display()))
}

/// The key file in force, and whether it is a default one (created when missing). The
/// default sits beside a SQLite database, so a CLI given only `--database-url` finds the
/// server's key; the data folder otherwise.
pub fn key_file_path(config: &Config) -> (PathBuf, bool) {
    if let Some(p) = &config.secret_key_file {
        return (p.clone(), false);
    }
    let sqlite_dir = config.database_url.as_ref().and_then(|url| {
        prov_store::sqlite_file(url.expose())?
            .parent()
            .map(Path::to_path_buf)
    });
    match sqlite_dir {
        Some(dir) if !dir.as_os_str().is_empty() => (dir.join(DEFAULT_NAME), true),
        Some(_) => (PathBuf::from(DEFAULT_NAME), true),
        None => (config.data_dir.join(DEFAULT_NAME), true),
    }
}

/// Opens the store with every secret sealed by the key file: the data folder and the key file
/// are created if needed, plaintext rows of an older database are sealed, a key file that does
/// not fit the database is a clear error, and so is a new empty database in place of one that
/// held devices ([`crate::runtime::database_mark`]).
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    Ok(open_store_marked(config).await?.0)
}

/// [`open_store`], with the data folder's [`DatabaseMark`] for this database (`None` in
/// memory), which the server updates as devices appear.
///
/// Every check that can refuse runs before anything is created or written: a missing
/// configured key file, a marker with the SQLite file gone, a key that does not fit, a new
/// empty database. Only then are the data folder and a new key file created and the database
/// written (key check value, sealing, its id). A refused start leaves the disk as it was,
/// except that opening an existing database brings its schema up to date.
pub async fn open_store_marked(
    config: &Config,
) -> anyhow::Result<(Arc<dyn Store>, Option<Arc<DatabaseMark>>)> {
    let (path, default) = key_file_path(config);
    let url = config.database_url();
    let sqlite_file = prov_store::sqlite_file(&url);
    let in_memory = url.starts_with("sqlite") && sqlite_file.is_none();
    let mark_dir = marker_dir(config);
    let (keys, new_key) = match read_key_file(&path) {
        Ok(keys) => (keys, None),
        Err(_) if default && !path.exists() => {
            let key = new_key();
            (vec![key], Some(key))
        }
        Err(e) if !path.exists() => {
            return Err(e.context(format!(
                "the key file {} (secret_key_file) does not exist",
                path.display()
            )));
        }
        Err(e) => return Err(e),
    };
    let keys = Keyring::new(&keys).with_context(|| format!("key file {}", path.display()))?;
    let marker = if in_memory {
        None
    } else {
        read_marker(&mark_dir)?
    };
    if let (Some(id), Some(file)) = (&marker, &sqlite_file)
        && !file.exists()
        && !config.allow_empty_database
    {
        bail!(
            "{}",
            lost_database(&file.display().to_string(), &mark_dir, id)
        );
    }

    // The default SQLite database lives in the data folder, so it must exist to open it. If it
    // did not, the database is new and holds no sealed secret, so nothing below refuses.
    if config.database_url.is_none() {
        prepare_data_dir(&config.data_dir)?;
    }
    let inner = prov_store::open(&url)
        .await
        .with_context(|| format!("cannot open {}", config.database_url_redacted()))?;
    let opening = Opening {
        config,
        key_path: path,
        default_key: default,
        new_key,
        keys,
        marker,
        mark_dir,
        in_memory,
    };
    match opening.finish(inner.clone()).await {
        Ok(opened) => Ok(opened),
        Err(e) => {
            // A refused start leaves no `-wal`/`-shm` files behind either.
            inner.close().await;
            Err(e)
        }
    }
}

/// What [`open_store_marked`] found before it opened the database.
struct Opening<'a> {
    config: &'a Config,
    key_path: PathBuf,
    default_key: bool,
    /// A key for a default key file that does not exist yet; written only once all is well.
    new_key: Option<[u8; KEY_LEN]>,
    keys: Keyring,
    marker: Option<String>,
    mark_dir: PathBuf,
    in_memory: bool,
}

impl Opening<'_> {
    /// The checks that need the database, then the writes.
    async fn finish(
        &self,
        inner: Arc<dyn Store>,
    ) -> anyhow::Result<(Arc<dyn Store>, Option<Arc<DatabaseMark>>)> {
        let config = self.config;
        let probe = SealedStore::wrap(inner.clone(), self.keys.clone());
        match probe.verify_key().await {
            Ok(_) => {}
            Err(e) if self.new_key.is_some() => {
                return Err(e).with_context(|| {
                    format!(
                        "the key file {} is missing, and {} holds secrets encrypted with another \
                         key: restore the key file from your backup (a new key cannot open them); \
                         no new key file was created",
                        self.key_path.display(),
                        config.database_url_redacted()
                    )
                });
            }
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("cannot open {}", config.database_url_redacted()));
            }
        }
        let database_id = inner.get_meta(DATABASE_ID_META).await?;
        let devices = inner.device_count().await?;
        if let Some(id) = &self.marker
            && database_id.as_deref() != Some(id.as_str())
        {
            if devices == 0 && !config.allow_empty_database {
                bail!(
                    "{}",
                    lost_database(&config.database_url_redacted(), &self.mark_dir, id)
                );
            }
            if devices == 0 {
                tracing::warn!(
                    database = %config.database_url_redacted(),
                    marker = %self.mark_dir.join(MARKER_NAME).display(),
                    "starting with an empty database in place of the one that held this \
                     installation's devices, as --allow-empty-database says"
                );
                remove_marker(&self.mark_dir)?;
            } else {
                tracing::warn!(
                    database = %config.database_url_redacted(),
                    devices,
                    "this database is not the one this data folder served before; it is used now"
                );
            }
        }

        // Nothing refused: the data folder may be created for the key file and the marker.
        if (self.default_key && self.key_path.parent() == Some(&*config.data_dir))
            || (!self.in_memory && self.mark_dir == config.data_dir)
        {
            prepare_data_dir(&config.data_dir)?;
        }
        if let Some(key) = self.new_key {
            write_key_file(&self.key_path, &[key], true)?;
            tracing::info!(path = %self.key_path.display(), "created the key file that encrypts the database's secrets; back it up apart from the database");
        }
        // Another process starting at the same moment may have written its key first.
        let keys = Keyring::new(&read_key_file(&self.key_path)?)
            .with_context(|| format!("key file {}", self.key_path.display()))?;
        let store: Arc<dyn Store> = Arc::new(
            SealedStore::open(inner, keys)
                .await
                .with_context(|| format!("cannot open {}", config.database_url_redacted()))?,
        );
        if self.in_memory {
            return Ok((store, None));
        }
        let database_id = store
            .insert_meta_if_absent(DATABASE_ID_META, &random_token(24))
            .await?;
        let written = self.marker.as_deref() == Some(database_id.as_str());
        let mark = Arc::new(DatabaseMark::new(&self.mark_dir, database_id, written));
        mark.note(usize::try_from(devices).unwrap_or(usize::MAX));
        Ok((store, Some(mark)))
    }
}

/// Where the marker lives: where the default key file does (beside the SQLite file, else the
/// data folder), also when `secret_key_file` names another key file, which may be a
/// read-only mounted secret shared by instances that each have their own data folder.
fn marker_dir(config: &Config) -> PathBuf {
    let default = Config {
        secret_key_file: None,
        ..config.clone()
    };
    let (path, _) = key_file_path(&default);
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The refusal of a new, empty database where the marker says one held devices.
fn lost_database(database: &str, mark_dir: &Path, id: &str) -> String {
    format!(
        "refusing to start: the database {database} is missing or new and empty, but {} \
         says that this installation's devices were in database {id}. It was probably \
         deleted or replaced. Restore it from a backup (with its key file), or, to really \
         start again with no devices, start once with --allow-empty-database \
         (YEALINK_PROV_ALLOW_EMPTY_DATABASE=true)",
        mark_dir.join(MARKER_NAME).display()
    )
}

fn new_key() -> [u8; KEY_LEN] {
    use rand::RngCore as _;
    let mut k = [0u8; KEY_LEN];
    rand::rng().fill_bytes(&mut k);
    k
}

/// Reads the keys, first (sealing) key first. Errors name the file and line, never a key.
pub fn read_key_file(path: &Path) -> anyhow::Result<Vec<[u8; KEY_LEN]>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read key file {}", path.display()))?;
    warn_if_open_to_others(path);
    let mut keys = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let key = STANDARD
            .decode(line)
            .ok()
            .and_then(|b| <[u8; KEY_LEN]>::try_from(b).ok());
        match key {
            Some(k) => keys.push(k),
            None => bail!(
                "key file {} line {}: not a base64 {KEY_LEN}-byte key",
                path.display(),
                n + 1
            ),
        }
    }
    if keys.is_empty() {
        bail!("key file {} holds no key", path.display());
    }
    Ok(keys)
}

#[cfg(unix)]
fn warn_if_open_to_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(path = %path.display(), "the key file is readable by other users; chmod 600 it");
    }
}

#[cfg(not(unix))]
fn warn_if_open_to_others(_path: &Path) {}

/// Writes the key file 0600 through a temporary file and a rename, so a crash leaves either
/// the old or the new file. `create_new`: fail if it exists (two processes starting at once).
fn write_key_file(path: &Path, keys: &[[u8; KEY_LEN]], create_new: bool) -> anyhow::Result<()> {
    let mut text = String::from(
        "# yealink-prov: keys that encrypt the database's secrets (first one encrypts).\n\
         # Keep it apart from database backups; without it the secrets are lost.\n",
    );
    for k in keys {
        text.push_str(&STANDARD.encode(k));
        text.push('\n');
    }
    let tmp = path.with_extension("key.tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = open_private(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    if create_new {
        // A hard link fails if the target exists, unlike a rename.
        let linked = std::fs::hard_link(&tmp, path);
        let _ = std::fs::remove_file(&tmp);
        if let Err(e) = linked
            && e.kind() != std::io::ErrorKind::AlreadyExists
        {
            return Err(e).with_context(|| format!("cannot create {}", path.display()));
        }
    } else {
        std::fs::rename(&tmp, path)
            .with_context(|| format!("cannot replace {}", path.display()))?;
    }
    Ok(())
}

#[cfg(unix)]
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(KEY_FILE_MODE)
        .open(path)
}

#[cfg(not(unix))]
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> std::io::Result<()> {
    Ok(())
}

/// What `yealink-prov key rotate` did.
#[derive(Debug)]
pub struct Rotation {
    pub old_ids: Vec<String>,
    pub new_id: String,
    pub resealed: ResealReport,
}

/// `yealink-prov key rotate`: a new key seals everything, the old ones are dropped.
///
/// 1. The key file gets the new key in front of the old ones (both open, the new one seals).
/// 2. Every secret is re-sealed with the new key, row by row.
/// 3. The key file is rewritten with the new key alone.
///
/// Interrupted after 1 (the file holds several keys), a second run finishes that rotation
/// with the key already in front instead of adding another. Servers holding the old key
/// cannot read rows sealed with the new one, so it refuses while any server's heartbeat is
/// fresh (docs/security.md).
pub async fn rotate(config: &Config) -> anyhow::Result<Rotation> {
    let (path, _) = key_file_path(config);
    // Check the key against the database (and seal plaintext) before the key file changes.
    let store = open_store(config).await?;
    let live = live_instances(store.as_ref()).await?;
    drop(store);
    if !live.is_empty() {
        bail!("{}", servers_running(&live));
    }
    let mut keys = read_key_file(&path)?;
    let old_ids = Keyring::new(&keys)?.ids();
    if keys.len() == 1 {
        keys.insert(0, new_key());
        write_key_file(&path, &keys, false)?;
    }
    let ring = Keyring::new(&keys)?;
    let new_id = ring.primary_id().to_owned();
    let inner = prov_store::open(&config.database_url())
        .await
        .with_context(|| format!("cannot open {}", config.database_url_redacted()))?;
    let store = SealedStore::wrap(inner, ring);
    let resealed = store
        .reseal_all()
        .await
        .context("re-encrypting the secrets")?;
    store.compact().await.context("compacting the database")?;
    write_key_file(&path, &keys[..1], false)?;
    Ok(Rotation {
        old_ids: old_ids.into_iter().filter(|id| *id != new_id).collect(),
        new_id,
        resealed,
    })
}

/// The servers whose heartbeat is fresh: they hold the key file's keys in memory and would
/// not read what a new key seals (the API would answer 500, new phones 401).
async fn live_instances(store: &dyn Store) -> anyhow::Result<Vec<prov_store::InstanceBeat>> {
    let now = time::OffsetDateTime::now_utc();
    let stale = time::Duration::try_from(prov_store::INSTANCE_STALE_AFTER)
        .unwrap_or(time::Duration::seconds(15));
    Ok(store
        .list_instances()
        .await
        .context("cannot read which servers use the database")?
        .into_iter()
        .filter(|i| now - i.last_beat < stale)
        .collect())
}

/// The refusal of `key rotate` while servers run, naming each one and what to do.
fn servers_running(live: &[prov_store::InstanceBeat]) -> String {
    let now = time::OffsetDateTime::now_utc();
    let mut text = format!(
        "refusing to rotate the key: {} server(s) use this database now, and a running server \
         cannot read secrets encrypted with the new key:",
        live.len()
    );
    for i in live {
        let started = i
            .started_at
            .replace_nanosecond(0)
            .unwrap_or(i.started_at)
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|_| i.started_at.to_string());
        text.push_str(&format!(
            "\n  instance {} at {}, started {started}, last heartbeat {} s ago",
            i.id,
            i.address.as_deref().unwrap_or("(no address)"),
            (now - i.last_beat).whole_seconds().max(0)
        ));
    }
    text.push_str(&format!(
        "\nStop them (systemctl stop yealink-prov, or Ctrl-C), run `yealink-prov key rotate` \
         again, then start them. A server that was killed counts as stopped {} s after its \
         last heartbeat.",
        prov_store::INSTANCE_STALE_AFTER.as_secs()
    ));
    text
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn key_file_round_trip_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        let k = new_key();
        write_key_file(&path, &[k], true).unwrap();
        assert_eq!(read_key_file(&path).unwrap(), vec![k]);
        // create_new keeps an existing file.
        write_key_file(&path, &[new_key()], true).unwrap();
        assert_eq!(read_key_file(&path).unwrap(), vec![k]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, KEY_FILE_MODE);
        }
    }

    #[test]
    fn bad_key_file_names_the_line_not_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        std::fs::write(&path, "# c\nbm90LWEta2V5\n").unwrap();
        let err = format!("{:#}", read_key_file(&path).unwrap_err());
        assert!(err.contains("line 2"), "{err}");
        assert!(!err.contains("bm90LWEta2V5"), "{err}");
    }
}
