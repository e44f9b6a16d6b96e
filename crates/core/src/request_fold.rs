//! Folds a phone's repeats of one request into one logged row per interval.
//!
//! A phone that asks for the same file again and again (a reboot loop, a short update
//! interval, a load test) would cost one database row each. The first request of a kind is
//! logged at once; identical ones after it are only counted here, and the writer turns each
//! count into one row every [`FOLD_INTERVAL`] (`count` = how many, `at` = the last one's time).
//! "Identical" means every logged field but the time. Memory is bounded: at most
//! [`MAX_ENTRIES`] kinds are remembered (beyond that, requests get a row each, as before), and
//! a kind not seen for [`IDLE`] is forgotten.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use prov_store::PhoneRequest;
use time::OffsetDateTime;
use yealink::Mac;

/// How often counted repeats become rows. A minute, not less: in the boot storm, writing each
/// kind's count every 10 s cost the p99 that kept us behind nginx (docs/benchmarks.md); a
/// kind's first request is written at once whatever this is.
pub const FOLD_INTERVAL: Duration = Duration::from_secs(60);
/// A kind of request not seen for this long is forgotten: its next request is logged at once.
pub const IDLE: Duration = Duration::from_secs(60);
/// Kinds remembered at most (about 300 bytes each).
pub const MAX_ENTRIES: usize = 65_536;
/// Parts of the memory, each with its own lock, written out in turn.
pub const SHARDS: usize = 16;

/// A request as it will be logged, borrowed from the handler: nothing is allocated for a
/// repeat. `file` and `user_agent` are compared as logged (see [`logged_file`]).
pub struct RequestKey<'a> {
    pub mac: Option<Mac>,
    pub method: &'a str,
    pub file: &'a str,
    pub status: u16,
    pub outcome: &'a str,
    pub ip: IpAddr,
    pub user_agent: Option<&'a str>,
}

/// Longest file name kept in the log; the rest is cut.
const FILE_CHARS: usize = 64;
/// Longest User-Agent kept in the log.
pub const USER_AGENT_CHARS: usize = 256;

/// The file name as logged: attacker-chosen, so cut and limited to printable ASCII.
pub fn logged_file(file: &str) -> impl Iterator<Item = char> + '_ {
    file.chars()
        .take(FILE_CHARS)
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
}

/// The User-Agent as logged: at most [`USER_AGENT_CHARS`] characters.
pub fn logged_user_agent(s: &str) -> &str {
    match s.char_indices().nth(USER_AGENT_CHARS) {
        Some((end, _)) => &s[..end],
        None => s,
    }
}

impl RequestKey<'_> {
    fn hash_with(&self, hasher: &KeyHasher) -> u64 {
        let mut h = hasher.build_hasher();
        self.mac.hash(&mut h);
        self.method.hash(&mut h);
        // The logged form, as one string: a phone's file name is that already, so no copy.
        if self.file.len() <= FILE_CHARS && self.file.bytes().all(|b| b.is_ascii_graphic()) {
            self.file.hash(&mut h);
        } else {
            logged_file(self.file).collect::<String>().hash(&mut h);
        }
        self.status.hash(&mut h);
        self.outcome.hash(&mut h);
        self.ip.hash(&mut h);
        self.user_agent.map(logged_user_agent).hash(&mut h);
        h.finish()
    }

    fn is_logged_as(&self, entry: &Entry) -> bool {
        let row = &entry.row;
        self.ip == entry.ip
            && self.mac == row.mac
            && self.status == row.status
            && self.method == row.method
            && self.outcome == row.outcome
            && logged_file(self.file).eq(row.file.chars())
            && self.user_agent.map(logged_user_agent) == row.user_agent.as_deref()
    }
}

struct Entry {
    /// The first request of this kind, as logged.
    row: PhoneRequest,
    ip: IpAddr,
    /// Repeats since the last row written for this kind.
    counted: u32,
    last_at: OffsetDateTime,
    last_seen: Instant,
}

/// Seeded per process, so an outsider cannot aim file names or User-Agents at one hash; a
/// collision costs only a row of its own (see [`RequestFolds::fold`]). foldhash rather than
/// the standard SipHash: this runs for every phone request.
type KeyHasher = foldhash::quality::RandomState;

pub struct RequestFolds {
    hasher: KeyHasher,
    /// Keyed by the key's hash, hashed again cheaply for the map.
    shards: Vec<Mutex<HashMap<u64, Entry, foldhash::fast::RandomState>>>,
    /// The shard [`RequestFolds::take_counted_part`] takes next.
    next_part: AtomicUsize,
}

impl Default for RequestFolds {
    fn default() -> Self {
        RequestFolds {
            hasher: KeyHasher::default(),
            next_part: AtomicUsize::new(0),
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }
}

impl RequestFolds {
    /// `Some(row)` to log now (a first request, or one that cannot be remembered); `None`
    /// when it was counted as a repeat of a logged one. `make` builds the row (only then).
    pub fn fold(
        &self,
        key: &RequestKey<'_>,
        at: OffsetDateTime,
        make: impl FnOnce() -> PhoneRequest,
    ) -> Option<PhoneRequest> {
        let hash = key.hash_with(&self.hasher);
        let now = Instant::now();
        let mut shard = self.shards[shard_of(hash)].lock();
        if let Some(entry) = shard.get_mut(&hash)
            && key.is_logged_as(entry)
        {
            entry.counted = entry.counted.saturating_add(1);
            entry.last_at = at;
            entry.last_seen = now;
            return None;
        }
        let row = make();
        // A full shard, or (rarely) another kind with the same hash: log this one plainly.
        if shard.len() < MAX_ENTRIES / SHARDS && !shard.contains_key(&hash) {
            shard.insert(
                hash,
                Entry {
                    row: row.clone(),
                    ip: key.ip,
                    counted: 0,
                    last_at: at,
                    last_seen: now,
                },
            );
        }
        Some(row)
    }

    /// One row per kind with counted repeats (the count reset), and kinds idle for [`IDLE`]
    /// forgotten.
    pub fn take_counted(&self) -> Vec<PhoneRequest> {
        let mut rows = Vec::new();
        for shard in 0..SHARDS {
            self.take_counted_into(shard, &mut rows);
        }
        rows
    }

    /// [`take_counted`](Self::take_counted) for the next of the [`SHARDS`] parts only, in
    /// turn: called every [`FOLD_INTERVAL`] / [`SHARDS`], each kind is still written every
    /// [`FOLD_INTERVAL`], in sixteen small batches instead of one large one.
    pub fn take_counted_part(&self) -> Vec<PhoneRequest> {
        let shard = self.next_part.fetch_add(1, Ordering::Relaxed) % SHARDS;
        let mut rows = Vec::new();
        self.take_counted_into(shard, &mut rows);
        rows
    }

    fn take_counted_into(&self, shard: usize, rows: &mut Vec<PhoneRequest>) {
        let forget_before = Instant::now().checked_sub(IDLE);
        let mut shard = self.shards[shard].lock();
        shard.retain(|_, entry| {
            if entry.counted > 0 {
                let mut row = entry.row.clone();
                row.at = entry.last_at;
                row.count = entry.counted;
                rows.push(row);
                entry.counted = 0;
            }
            forget_before.is_none_or(|before| entry.last_seen >= before)
        });
    }
}

fn shard_of(hash: u64) -> usize {
    // The low bits pick the map bucket; the high ones pick the shard.
    (hash >> 60) as usize % SHARDS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key<'a>(file: &'a str, ua: Option<&'a str>) -> RequestKey<'a> {
        RequestKey {
            mac: Some(Mac::parse("805ec0123456").unwrap()),
            method: "GET",
            file,
            status: 200,
            outcome: "served",
            ip: [192, 0, 2, 7].into(),
            user_agent: ua,
        }
    }

    fn row(key: &RequestKey<'_>, at: OffsetDateTime) -> PhoneRequest {
        PhoneRequest {
            at,
            mac: key.mac,
            method: key.method.into(),
            file: logged_file(key.file).collect(),
            status: key.status,
            outcome: key.outcome.into(),
            source_ip: key.ip.to_string(),
            user_agent: key.user_agent.map(|u| logged_user_agent(u).to_owned()),
            model: None,
            firmware: None,
            mac_cfg_served: false,
            count: 1,
        }
    }

    #[test]
    fn the_first_is_logged_repeats_are_counted_into_one_row() {
        let folds = RequestFolds::default();
        let t0 = OffsetDateTime::UNIX_EPOCH;
        let k = key("805ec0123456.cfg", Some("Yealink SIP-T46U 108.86.0.90"));
        let first = folds.fold(&k, t0, || row(&k, t0));
        assert_eq!(first.map(|r| r.count), Some(1));
        for s in 1..=5 {
            let at = t0 + time::Duration::seconds(s);
            assert!(folds.fold(&k, at, || row(&k, at)).is_none(), "repeat {s}");
        }
        let counted = folds.take_counted();
        assert_eq!(counted.len(), 1);
        assert_eq!(counted[0].count, 5);
        assert_eq!(counted[0].at, t0 + time::Duration::seconds(5));
        assert_eq!(counted[0].file, "805ec0123456.cfg");
        assert!(folds.take_counted().is_empty(), "the count was reset");
        // Still remembered: the next one is counted, not logged.
        assert!(folds.fold(&k, t0, || row(&k, t0)).is_none());
    }

    #[test]
    fn any_difference_in_a_logged_field_is_another_row() {
        let folds = RequestFolds::default();
        let t0 = OffsetDateTime::UNIX_EPOCH;
        let base = key("a.cfg", Some("UA 1"));
        assert!(folds.fold(&base, t0, || row(&base, t0)).is_some());
        let variants = [
            RequestKey {
                file: "b.cfg",
                ..key("a.cfg", Some("UA 1"))
            },
            RequestKey {
                user_agent: Some("UA 2"),
                ..key("a.cfg", Some("UA 1"))
            },
            RequestKey {
                user_agent: None,
                ..key("a.cfg", Some("UA 1"))
            },
            RequestKey {
                status: 401,
                ..key("a.cfg", Some("UA 1"))
            },
            RequestKey {
                outcome: "denied",
                ..key("a.cfg", Some("UA 1"))
            },
            RequestKey {
                ip: [192, 0, 2, 8].into(),
                ..key("a.cfg", Some("UA 1"))
            },
            RequestKey {
                method: "PUT",
                ..key("a.cfg", Some("UA 1"))
            },
            RequestKey {
                mac: None,
                ..key("a.cfg", Some("UA 1"))
            },
        ];
        for v in &variants {
            assert!(folds.fold(v, t0, || row(v, t0)).is_some());
        }
        assert!(folds.take_counted().is_empty());
    }

    #[test]
    fn names_that_are_logged_alike_fold_together() {
        let folds = RequestFolds::default();
        let t0 = OffsetDateTime::UNIX_EPOCH;
        let long = "x".repeat(100);
        let longer = "x".repeat(200);
        let a = key(&long, None);
        let b = key(&longer, None);
        assert!(folds.fold(&a, t0, || row(&a, t0)).is_some());
        assert!(folds.fold(&b, t0, || row(&b, t0)).is_none());
        assert_eq!(folds.take_counted()[0].file.len(), FILE_CHARS);
    }

    /// A plain name and one logged as the same text (hashed by different paths) are one kind.
    #[test]
    fn a_name_and_its_logged_form_fold_together() {
        let folds = RequestFolds::default();
        let t0 = OffsetDateTime::UNIX_EPOCH;
        let plain = key("a?b.cfg", None);
        let raw = key("a\u{1}b.cfg", None);
        assert!(folds.fold(&plain, t0, || row(&plain, t0)).is_some());
        assert!(folds.fold(&raw, t0, || row(&raw, t0)).is_none());
        assert_eq!(folds.take_counted()[0].count, 1);
    }

    #[test]
    fn written_in_parts_each_kind_comes_once_per_round_of_parts() {
        let folds = RequestFolds::default();
        let t0 = OffsetDateTime::UNIX_EPOCH;
        let names: Vec<String> = (0..200).map(|i| format!("{i}.cfg")).collect();
        for _ in 0..3 {
            for n in &names {
                let k = key(n, None);
                folds.fold(&k, t0, || row(&k, t0));
            }
        }
        let mut written: Vec<(String, u32)> = Vec::new();
        let mut parts_with_rows = 0;
        for _ in 0..SHARDS {
            let part = folds.take_counted_part();
            parts_with_rows += usize::from(!part.is_empty());
            written.extend(part.into_iter().map(|r| (r.file, r.count)));
        }
        written.sort();
        let mut expected: Vec<(String, u32)> = names.iter().map(|n| (n.clone(), 2)).collect();
        expected.sort();
        assert_eq!(written, expected, "every kind once, with both repeats");
        assert!(parts_with_rows > 1, "spread over the parts");
        assert!(folds.take_counted().is_empty());
    }

    #[test]
    fn memory_is_bounded() {
        let folds = RequestFolds::default();
        let t0 = OffsetDateTime::UNIX_EPOCH;
        let names: Vec<String> = (0..MAX_ENTRIES * 2).map(|i| format!("{i}.cfg")).collect();
        for n in &names {
            let k = key(n, None);
            assert!(folds.fold(&k, t0, || row(&k, t0)).is_some());
        }
        let kept: usize = folds.shards.iter().map(|s| s.lock().len()).sum();
        assert!(kept <= MAX_ENTRIES, "{kept}");
        // Past the cap, repeats are logged plainly: nothing is lost.
        let logged = names
            .iter()
            .filter(|n| {
                let k = key(n, None);
                folds.fold(&k, t0, || row(&k, t0)).is_some()
            })
            .count();
        assert_eq!(logged + kept, names.len());
        assert_eq!(folds.take_counted().len(), kept);
    }
}
