//! Counting, latency histograms, and the storm's human and JSON reports.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Latencies are recorded in microseconds, up to 5 minutes, 3 significant digits.
const MAX_LATENCY_US: u64 = 300_000_000;

/// What one worker counted; merged into a [`RoundReport`] at the end of a round.
#[derive(Debug)]
pub(crate) struct Tally {
    pub latency: Histogram<u64>,
    /// Logical requests (one per file).
    pub requests: u64,
    /// HTTP exchanges (a Digest login is two).
    pub exchanges: u64,
    pub ok: u64,
    pub bytes: u64,
    pub errors: BTreeMap<String, u64>,
}

impl Tally {
    pub fn new() -> Result<Tally, hdrhistogram::CreationError> {
        Ok(Tally {
            latency: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)?,
            requests: 0,
            exchanges: 0,
            ok: 0,
            bytes: 0,
            errors: BTreeMap::new(),
        })
    }

    pub fn record_latency(&mut self, elapsed: Duration) {
        let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.latency.saturating_record(us.max(1));
    }

    pub fn error(&mut self, kind: impl Into<String>) {
        *self.errors.entry(kind.into()).or_default() += 1;
    }

    pub fn merge(&mut self, other: &Tally) {
        // Same bounds on both sides, so adding cannot fail; keep going if it ever does.
        let _ = self.latency.add(&other.latency);
        self.requests += other.requests;
        self.exchanges += other.exchanges;
        self.ok += other.ok;
        self.bytes += other.bytes;
        for (kind, n) in &other.errors {
            *self.errors.entry(kind.clone()).or_default() += n;
        }
    }
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Latency {
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
    pub mean_us: f64,
}

/// One round: every phone once.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RoundReport {
    pub round: usize,
    /// Logical file requests (one per file, whether or not Digest needed a second exchange).
    pub requests: u64,
    /// HTTP exchanges on the wire.
    pub http_exchanges: u64,
    pub ok: u64,
    pub errors_total: u64,
    /// By kind: `status_401`, `connect`, `timeout`, `body`, `save` ...
    pub errors: BTreeMap<String, u64>,
    pub bytes: u64,
    pub wall_ms: f64,
    pub requests_per_sec: f64,
    pub latency: Latency,
    /// CPU time (user + system) of the load generator during the round, ms: on a small
    /// machine the generator shares the cores with the server, so this shows its cost.
    #[serde(default)]
    pub client_cpu_ms: Option<f64>,
    /// CPU time of the server process (`--server-pid`) during the round, ms.
    #[serde(default)]
    pub server_cpu_ms: Option<f64>,
}

impl RoundReport {
    pub(crate) fn from_tally(
        round: usize,
        tally: &Tally,
        wall: Duration,
        cpu: CpuUse,
    ) -> RoundReport {
        let secs = wall.as_secs_f64();
        let h = &tally.latency;
        RoundReport {
            round,
            requests: tally.requests,
            http_exchanges: tally.exchanges,
            ok: tally.ok,
            errors_total: tally.errors.values().sum(),
            errors: tally.errors.clone(),
            bytes: tally.bytes,
            wall_ms: secs * 1000.0,
            requests_per_sec: if secs > 0.0 {
                tally.requests as f64 / secs
            } else {
                0.0
            },
            latency: Latency {
                p50_us: h.value_at_quantile(0.50),
                p90_us: h.value_at_quantile(0.90),
                p99_us: h.value_at_quantile(0.99),
                max_us: h.max(),
                mean_us: h.mean(),
            },
            client_cpu_ms: cpu.client_ms,
            server_cpu_ms: cpu.server_ms,
        }
    }
}

/// CPU used during a round, ms, where it could be read.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CpuUse {
    pub client_ms: Option<f64>,
    pub server_ms: Option<f64>,
}

/// User + system CPU time of a process (all threads) so far, in ms, from `/proc/PID/stat`
/// (fields 14 and 15, in clock ticks; Linux uses 100 ticks per second).
pub(crate) fn cpu_ms(pid: Option<u32>) -> Option<f64> {
    let path = pid.map_or_else(
        || "/proc/self/stat".to_owned(),
        |p| format!("/proc/{p}/stat"),
    );
    let stat = std::fs::read_to_string(path).ok()?;
    // The command name (field 2) may contain spaces: count fields after its closing ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 * 10.0)
}

/// Resident memory of the server process, from `/proc/PID/status`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Memory {
    pub pid: u32,
    /// VmHWM: the peak resident set size, KiB.
    pub peak_rss_kib: u64,
    /// VmRSS: the resident set size at the end, KiB.
    pub rss_kib: u64,
}

/// The whole storm (written by `--json-out`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StormReport {
    /// A label for the target (scheme://host:port of the first phone).
    pub target: String,
    pub phones: usize,
    pub concurrency: usize,
    pub files: Vec<String>,
    pub digest: bool,
    pub rounds: Vec<RoundReport>,
    pub server_memory: Option<Memory>,
}

impl StormReport {
    /// The round with the median requests/s (the lower middle for an even count).
    pub fn median_round(&self) -> Option<&RoundReport> {
        median_by_rps(self.rounds.iter())
    }

    /// Human-readable summary.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "boot storm -> {}: {} phones, concurrency {}, files {}, {}",
            self.target,
            self.phones,
            self.concurrency,
            self.files.join(","),
            if self.digest { "digest" } else { "token URL" }
        );
        for r in &self.rounds {
            let cpu = match (r.client_cpu_ms, r.server_cpu_ms) {
                (Some(c), Some(s)) => format!(", cpu ms client {c:.0} server {s:.0}"),
                (Some(c), None) => format!(", cpu ms client {c:.0}"),
                _ => String::new(),
            };
            let _ = writeln!(
                s,
                "round {}: {} requests ({} HTTP), {} errors{}, {:.0} ms, {:.0} req/s, latency us p50 {} p90 {} p99 {} max {}{cpu}",
                r.round,
                r.requests,
                r.http_exchanges,
                r.errors_total,
                format_errors(&r.errors),
                r.wall_ms,
                r.requests_per_sec,
                r.latency.p50_us,
                r.latency.p90_us,
                r.latency.p99_us,
                r.latency.max_us
            );
        }
        if let Some(m) = &self.server_memory {
            let _ = writeln!(
                s,
                "server pid {}: peak RSS {} KiB, RSS {} KiB",
                m.pid, m.peak_rss_kib, m.rss_kib
            );
        }
        s
    }
}

fn format_errors(errors: &BTreeMap<String, u64>) -> String {
    if errors.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = errors.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!(" ({})", parts.join(", "))
}

fn median_by_rps<'a>(rounds: impl Iterator<Item = &'a RoundReport>) -> Option<&'a RoundReport> {
    let mut sorted: Vec<&RoundReport> = rounds.collect();
    sorted.sort_by(|a, b| a.requests_per_sec.total_cmp(&b.requests_per_sec));
    let mid = sorted.len().checked_sub(1)? / 2;
    sorted.get(mid).copied()
}

/// Reads VmHWM and VmRSS of `pid` (Linux only).
pub fn read_memory(pid: u32) -> std::io::Result<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> std::io::Result<u64> {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("no {name} in /proc/{pid}/status")))
    };
    Ok(Memory {
        pid,
        peak_rss_kib: field("VmHWM:")?,
        rss_kib: field("VmRSS:")?,
    })
}

/// Markdown comparison of two sets of storm reports (ours vs nginx): the median round of
/// each side (by requests/s, over every round in its files) and the ratios.
pub fn compare_markdown(ours: &[StormReport], nginx: &[StormReport]) -> Result<String, String> {
    let pick = |reports: &[StormReport], side: &str| {
        median_by_rps(reports.iter().flat_map(|r| r.rounds.iter()))
            .cloned()
            .ok_or_else(|| format!("no rounds for {side}"))
    };
    let o = pick(ours, "ours")?;
    let n = pick(nginx, "nginx")?;
    let rounds = |reports: &[StormReport]| reports.iter().map(|r| r.rounds.len()).sum::<usize>();
    let ratio = |a: f64, b: f64| {
        if b > 0.0 {
            format!("{:.2}", a / b)
        } else {
            "n/a".to_owned()
        }
    };
    let our_errors: u64 = ours
        .iter()
        .flat_map(|r| r.rounds.iter())
        .map(|r| r.errors_total)
        .sum();
    let our_requests: u64 = ours
        .iter()
        .flat_map(|r| r.rounds.iter())
        .map(|r| r.requests)
        .sum();
    let peak = ours
        .iter()
        .filter_map(|r| r.server_memory.as_ref())
        .map(|m| m.peak_rss_kib)
        .max();

    let mut s = String::new();
    let _ = writeln!(
        s,
        "| metric (median round of {} ours / {} nginx) | yealink-prov | nginx | ours/nginx |",
        rounds(ours),
        rounds(nginx)
    );
    let _ = writeln!(s, "|---|---:|---:|---:|");
    let _ = writeln!(
        s,
        "| requests/s | {:.0} | {:.0} | {} |",
        o.requests_per_sec,
        n.requests_per_sec,
        ratio(o.requests_per_sec, n.requests_per_sec)
    );
    for (name, a, b) in [
        ("latency p50 (µs)", o.latency.p50_us, n.latency.p50_us),
        ("latency p90 (µs)", o.latency.p90_us, n.latency.p90_us),
        ("latency p99 (µs)", o.latency.p99_us, n.latency.p99_us),
        ("latency max (µs)", o.latency.max_us, n.latency.max_us),
    ] {
        let _ = writeln!(s, "| {name} | {a} | {b} | {} |", ratio(a as f64, b as f64));
    }
    let _ = writeln!(
        s,
        "| errors in that round | {} | {} | |",
        o.errors_total, n.errors_total
    );
    let per_request = |ms: Option<f64>, r: &RoundReport| {
        ms.filter(|_| r.requests > 0)
            .map(|ms| ms * 1000.0 / r.requests as f64)
    };
    let show = |v: Option<f64>| v.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.0}"));
    let (oc, nc) = (
        per_request(o.client_cpu_ms, &o),
        per_request(n.client_cpu_ms, &n),
    );
    let _ = writeln!(
        s,
        "| load generator CPU per request (µs) | {} | {} | |",
        show(oc),
        show(nc)
    );
    let _ = writeln!(
        s,
        "| server CPU per request (µs) | {} | n/a | |",
        show(per_request(o.server_cpu_ms, &o))
    );
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "- yealink-prov errors over all its rounds: {our_errors} of {our_requests} requests"
    );
    match peak {
        Some(kib) => {
            let _ = writeln!(
                s,
                "- yealink-prov peak RSS (VmHWM): {kib} KiB ({:.1} MiB)",
                kib as f64 / 1024.0
            );
        }
        None => {
            let _ = writeln!(s, "- yealink-prov peak RSS: not measured (no --server-pid)");
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(round: usize, rps: f64, p99: u64, errors: u64) -> RoundReport {
        RoundReport {
            round,
            requests: 300,
            http_exchanges: 300,
            ok: 300 - errors,
            errors_total: errors,
            errors: BTreeMap::new(),
            bytes: 0,
            wall_ms: 1.0,
            requests_per_sec: rps,
            latency: Latency {
                p50_us: 10,
                p90_us: 20,
                p99_us: p99,
                max_us: 99,
                mean_us: 12.0,
            },
            client_cpu_ms: Some(30.0),
            server_cpu_ms: None,
        }
    }

    fn report(rounds: Vec<RoundReport>, peak: Option<u64>) -> StormReport {
        StormReport {
            target: "http://127.0.0.1:1".into(),
            phones: 100,
            concurrency: 8,
            files: vec!["boot".into()],
            digest: false,
            rounds,
            server_memory: peak.map(|p| Memory {
                pid: 1,
                peak_rss_kib: p,
                rss_kib: p,
            }),
        }
    }

    #[test]
    fn median_round_by_throughput() {
        let r = report(
            vec![
                round(0, 300.0, 5, 0),
                round(1, 100.0, 9, 0),
                round(2, 200.0, 7, 0),
            ],
            None,
        );
        assert_eq!(r.median_round().map(|m| m.round), Some(2));
        assert!(report(vec![], None).median_round().is_none());
    }

    #[test]
    fn compare_prints_ratios() {
        let ours = [
            report(vec![round(0, 500.0, 200, 1)], Some(2048)),
            report(vec![round(1, 600.0, 300, 0)], Some(4096)),
            report(vec![round(2, 700.0, 100, 0)], Some(3000)),
        ];
        let nginx = [report(vec![round(0, 1000.0, 100, 0)], None)];
        let md = compare_markdown(&ours, &nginx).unwrap();
        assert!(md.contains("| requests/s | 600 | 1000 | 0.60 |"), "{md}");
        assert!(
            md.contains("| latency p99 (µs) | 300 | 100 | 3.00 |"),
            "{md}"
        );
        assert!(md.contains("errors over all its rounds: 1 of 900"), "{md}");
        assert!(md.contains("peak RSS (VmHWM): 4096 KiB"), "{md}");
        assert!(
            md.contains("| load generator CPU per request (µs) | 100 | 100 | |"),
            "{md}"
        );
        assert!(
            md.contains("| server CPU per request (µs) | n/a | n/a | |"),
            "{md}"
        );
        assert!(compare_markdown(&[], &nginx).is_err());
    }

    #[test]
    fn reads_own_cpu_time() {
        let before = cpu_ms(None).unwrap();
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(cpu_ms(None).unwrap() >= before);
        assert!(cpu_ms(Some(std::process::id())).is_some());
        assert!(cpu_ms(Some(u32::MAX)).is_none());
    }

    #[test]
    fn reads_own_memory() {
        let m = read_memory(std::process::id()).unwrap();
        assert!(m.peak_rss_kib >= m.rss_kib && m.rss_kib > 0);
    }

    #[test]
    fn tally_merges() {
        let mut a = Tally::new().unwrap();
        let mut b = Tally::new().unwrap();
        a.record_latency(Duration::from_micros(100));
        b.record_latency(Duration::from_micros(300));
        b.error("status_404");
        b.requests = 2;
        a.merge(&b);
        assert_eq!(a.latency.len(), 2);
        assert_eq!(a.errors.get("status_404"), Some(&1));
        let r = RoundReport::from_tally(0, &a, Duration::from_secs(1), CpuUse::default());
        assert_eq!(r.requests_per_sec, 2.0);
        assert_eq!(r.errors_total, 1);
    }
}
