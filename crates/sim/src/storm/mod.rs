//! The boot storm: many phones provisioning at once over shared keep-alive connections.
//!
//! A fixed pool of `concurrency` workers pulls phones from a shared counter, and each worker
//! fetches its phone's files one after the other, so at most `concurrency` requests are in
//! flight. By default the URL token is the proof (no Digest round trips); `digest` makes every
//! phone use the shared URL and Digest instead, for comparison.

mod devices;
mod report;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use reqwest::{Client, Method};
use url::Url;

pub use devices::{DeviceRecord, load};
pub use report::{Latency, Memory, RoundReport, StormReport, compare_markdown, read_memory};

use crate::auth::AuthState;
use crate::cfg::{self, Line};
use crate::http;
use devices::PlannedPhone;
use report::{CpuUse, Tally, cpu_ms};

/// Which files each phone fetches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FileKind {
    /// `<mac>.boot`.
    Boot,
    /// The common file named in the boot file (or `y000000000NNN.cfg` by model).
    Common,
    /// `<mac>.cfg`.
    Mac,
}

impl FileKind {
    /// Parses `boot`, `common` or `mac`.
    pub fn parse(s: &str) -> Option<FileKind> {
        match s.trim().to_ascii_lowercase().as_str() {
            "boot" => Some(FileKind::Boot),
            "common" => Some(FileKind::Common),
            "mac" => Some(FileKind::Mac),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            FileKind::Boot => "boot",
            FileKind::Common => "common",
            FileKind::Mac => "mac",
        }
    }
}

/// Storm settings (the CLI flags of `yealink-sim boot-storm`).
#[derive(Debug, Clone)]
pub struct StormConfig {
    /// Requests in flight at most (= workers = connection pool size).
    pub concurrency: usize,
    /// Files per phone.
    pub files: Vec<FileKind>,
    /// How many times every phone boots.
    pub rounds: usize,
    /// Replace scheme://host:port of every provisioning URL (keeping the path).
    pub base_url_override: Option<Url>,
    /// Write every 200 body of the first round to `DIR/<url path>`.
    pub save_dir: Option<PathBuf>,
    /// Write every 200 request of the first round as `<url path>\t<User-Agent>` lines, in
    /// phone order and each phone's fetch order (the request list of an outside load
    /// generator such as `wrk`, see `bench/wrk-boot-storm.lua`).
    pub requests_out: Option<PathBuf>,
    /// Shared URL + Digest instead of the token URL.
    pub digest: bool,
    /// Read the server's peak RSS at the end.
    pub server_pid: Option<u32>,
}

/// Why a storm could not run (request failures are counted, not errors).
#[derive(Debug, thiserror::Error)]
pub enum StormError {
    /// The phones file is unreadable or a record is invalid.
    #[error("phones: {0}")]
    Phones(String),
    /// Reading or writing a file.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Settings that cannot work (zero concurrency, no files, no phones).
    #[error("invalid settings: {0}")]
    Settings(String),
    /// The HTTP client could not be built.
    #[error(transparent)]
    Sim(#[from] crate::SimError),
    /// The latency histogram could not be created.
    #[error("histogram: {0}")]
    Histogram(#[from] hdrhistogram::CreationError),
}

/// Runs the storm against `records` and returns the report.
pub async fn run(
    records: &[DeviceRecord],
    config: &StormConfig,
) -> Result<StormReport, StormError> {
    if config.concurrency == 0 || config.rounds == 0 || config.files.is_empty() {
        return Err(StormError::Settings(
            "concurrency, rounds and files must not be zero/empty".into(),
        ));
    }
    if records.is_empty() {
        return Err(StormError::Settings("no phones".into()));
    }
    let phones = Arc::new(devices::plan(
        records,
        config.base_url_override.as_ref(),
        config.digest,
    )?);
    let client = http::default_client(config.concurrency)?;
    let workers = config.concurrency.min(phones.len());
    let mut rounds = Vec::with_capacity(config.rounds);
    for round in 0..config.rounds {
        let save_dir = if round == 0 {
            config.save_dir.clone()
        } else {
            None
        };
        let served = (round == 0 && config.requests_out.is_some()).then(Mutex::default);
        let job = Arc::new(Job {
            phones: Arc::clone(&phones),
            next: AtomicUsize::new(0),
            client: client.clone(),
            files: config.files.clone(),
            save_dir,
            served,
            seq: AtomicUsize::new(0),
        });
        let (client_before, server_before) = (
            cpu_ms(None),
            config.server_pid.and_then(|p| cpu_ms(Some(p))),
        );
        let started = Instant::now();
        let handles: Vec<_> = (0..workers)
            .map(|_| tokio::spawn(worker(Arc::clone(&job))))
            .collect();
        let mut total = Tally::new()?;
        for handle in handles {
            match handle.await {
                Ok(Ok(tally)) => total.merge(&tally),
                Ok(Err(e)) => return Err(e),
                Err(join) => total.error(format!("worker_panic: {join}")),
            }
        }
        let wall = started.elapsed();
        let used = |before: Option<f64>, pid: Option<u32>| Some(cpu_ms(pid)? - before?);
        let cpu = CpuUse {
            client_ms: used(client_before, None),
            server_ms: config
                .server_pid
                .and_then(|pid| used(server_before, Some(pid))),
        };
        rounds.push(RoundReport::from_tally(round, &total, wall, cpu));
        if let (Some(path), Some(served)) = (&config.requests_out, &job.served) {
            let mut served = served.lock().map(|s| s.clone()).unwrap_or_default();
            write_requests(path, &mut served)?;
        }
    }
    let server_memory = match config.server_pid {
        Some(pid) => Some(read_memory(pid).map_err(|source| StormError::Io {
            path: format!("/proc/{pid}/status"),
            source,
        })?),
        None => None,
    };
    let target = phones
        .first()
        .map(|p| p.base.origin().ascii_serialization())
        .unwrap_or_default();
    Ok(StormReport {
        target,
        phones: phones.len(),
        concurrency: config.concurrency,
        files: config.files.iter().map(|f| f.name().to_owned()).collect(),
        digest: config.digest,
        rounds,
        server_memory,
    })
}

struct Job {
    phones: Arc<Vec<PlannedPhone>>,
    next: AtomicUsize,
    client: Client,
    files: Vec<FileKind>,
    save_dir: Option<PathBuf>,
    /// `(phone index, sequence, url path, User-Agent)` of every 200, when asked for.
    served: Option<Mutex<Vec<ServedRequest>>>,
    /// Orders a phone's requests (a phone fetches one file after the other).
    seq: AtomicUsize,
}

type ServedRequest = (usize, usize, String, String);

/// Writes the served requests as `<path>\t<User-Agent>` lines, phone by phone.
fn write_requests(path: &Path, served: &mut [ServedRequest]) -> Result<(), StormError> {
    served.sort_unstable_by_key(|(phone, seq, _, _)| (*phone, *seq));
    let mut text = String::new();
    for (_, _, url_path, user_agent) in served.iter() {
        // Neither can hold a tab or newline (URL paths are percent-encoded, User-Agents ours).
        text.push_str(url_path);
        text.push('\t');
        text.push_str(user_agent);
        text.push('\n');
    }
    std::fs::write(path, text).map_err(|source| StormError::Io {
        path: path.display().to_string(),
        source,
    })
}

async fn worker(job: Arc<Job>) -> Result<Tally, StormError> {
    let mut tally = Tally::new()?;
    loop {
        let index = job.next.fetch_add(1, Ordering::Relaxed);
        let Some(phone) = job.phones.get(index) else {
            return Ok(tally);
        };
        boot_one(&job, index, phone, &mut tally).await;
    }
}

/// One phone's boot: `<mac>.boot`, then the files it includes (or the model's common file
/// and `<mac>.cfg` when the boot file is not fetched or not usable).
async fn boot_one(job: &Job, index: usize, phone: &PlannedPhone, tally: &mut Tally) {
    // Fresh per boot: in digest mode the first request of every phone is challenged.
    let auth = Mutex::new(AuthState {
        credentials: phone.credentials.clone(),
        digest: None,
    });
    let mac_cfg = format!("{}.cfg", phone.mac);
    let mut includes: Option<Vec<String>> = None;
    if job.files.contains(&FileKind::Boot) {
        let name = format!("{}.boot", phone.mac);
        if let Some(body) = fetch(job, (index, phone), &auth, &name, tally).await {
            includes = boot_includes(&body);
            if includes.is_none() {
                tally.error("bad_boot_file");
            }
        }
    }
    let wanted = |kind| job.files.contains(&kind);
    let plan: Vec<String> = match includes {
        Some(list) => list
            .into_iter()
            .filter(|f| {
                wanted(if *f == mac_cfg {
                    FileKind::Mac
                } else {
                    FileKind::Common
                })
            })
            .collect(),
        None => [
            (FileKind::Common, phone.common_fallback.clone()),
            (FileKind::Mac, mac_cfg),
        ]
        .into_iter()
        .filter(|(kind, _)| wanted(*kind))
        .map(|(_, name)| name)
        .collect(),
    };
    for name in plan {
        fetch(job, (index, phone), &auth, &name, tally).await;
    }
}

fn boot_includes(body: &[u8]) -> Option<Vec<String>> {
    let text = std::str::from_utf8(body).ok()?;
    let lines = cfg::parse_lines(text).ok()?;
    Some(
        lines
            .into_iter()
            .filter_map(|line| match line {
                Line::Include(path) => Some(path),
                Line::Param { .. } => None,
            })
            .collect(),
    )
}

/// One timed GET; counts it, saves the body if asked, returns it on 200.
async fn fetch(
    job: &Job,
    (index, phone): (usize, &PlannedPhone),
    auth: &Mutex<AuthState>,
    name: &str,
    tally: &mut Tally,
) -> Option<Vec<u8>> {
    tally.requests += 1;
    let Ok(url) = phone.base.join(name) else {
        tally.error("bad_url");
        return None;
    };
    let started = Instant::now();
    let result = http::send(
        &job.client,
        auth,
        Method::GET,
        &url,
        &phone.user_agent,
        None,
        name,
    )
    .await;
    tally.record_latency(started.elapsed());
    match result {
        Ok(outcome) => {
            tally.exchanges += outcome.exchanges.len() as u64;
            tally.bytes += outcome.body.len() as u64;
            if outcome.status != 200 {
                tally.error(format!("status_{}", outcome.status));
                return None;
            }
            tally.ok += 1;
            if let Some(served) = &job.served
                && let Ok(mut served) = served.lock()
            {
                let seq = job.seq.fetch_add(1, Ordering::Relaxed);
                served.push((index, seq, url.path().to_owned(), phone.user_agent.clone()));
            }
            if let Some(dir) = &job.save_dir
                && let Err(e) = save(dir, &url, &outcome.body).await
            {
                tally.error("save");
                eprintln!("save {url}: {e}");
            }
            Some(outcome.body)
        }
        Err(e) => {
            tally.exchanges += 1;
            tally.error(error_kind(&e));
            None
        }
    }
}

fn error_kind(error: &crate::SimError) -> String {
    match error {
        crate::SimError::Http(e) if e.is_timeout() => "timeout".into(),
        crate::SimError::Http(e) if e.is_connect() => "connect".into(),
        crate::SimError::Http(e) if e.is_body() || e.is_decode() => "body".into(),
        crate::SimError::Http(_) => "transport".into(),
        crate::SimError::BadChallenge { .. } => "bad_challenge".into(),
        _ => "other".into(),
    }
}

/// Writes `body` to `dir/<url path>`, refusing paths that would leave `dir`.
async fn save(dir: &Path, url: &Url, body: &[u8]) -> std::io::Result<()> {
    let relative = url.path().trim_start_matches('/');
    let mut path = dir.to_path_buf();
    for segment in relative.split('/') {
        if segment.is_empty() || segment == "." || segment == ".." || segment.contains('\\') {
            return Err(std::io::Error::other(format!("unsafe path {}", url.path())));
        }
        path.push(segment);
    }
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent).await?;
    }
    tokio::fs::write(&path, body).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_kinds() {
        assert_eq!(FileKind::parse(" Boot"), Some(FileKind::Boot));
        assert_eq!(FileKind::parse("mac"), Some(FileKind::Mac));
        assert_eq!(FileKind::parse("x"), None);
    }

    #[test]
    fn includes_from_boot() {
        let boot = b"#!version:1.0.0.1\ninclude:config \"y000000000108.cfg\"\ninclude:config \"805ec0112233.cfg\"\noverwrite_mode = 1\n";
        assert_eq!(
            boot_includes(boot),
            Some(vec!["y000000000108.cfg".into(), "805ec0112233.cfg".into()])
        );
        assert_eq!(boot_includes(b"nope"), None);
    }

    #[tokio::test]
    async fn save_refuses_escapes_and_writes_nested() {
        let dir = tempfile::tempdir().unwrap();
        let url = Url::parse("http://127.0.0.1/prov/tok/a.cfg").unwrap();
        save(dir.path(), &url, b"x").await.unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("prov/tok/a.cfg")).unwrap(),
            b"x"
        );
        let url = Url::parse("http://127.0.0.1/prov/").unwrap();
        assert!(save(dir.path(), &url, b"x").await.is_err());
    }
}
