//! Wrong admin passwords per source address: a token bucket per address.
//!
//! Every password check takes a token *before* it runs (so parallel guesses cannot all slip in
//! between "is it limited?" and "count the failure"); a correct password or a check that did
//! not run gives the token back, so only failures use the budget. An address that used its
//! burst gets one more try per refill period. IPv6 addresses count per /64, the block one
//! host usually holds. Each address's last wrong password is kept too: the password checks
//! queue guessers behind sources that have not failed lately (`password_pool.rs`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Beyond this many tracked addresses, those back at their full budget are forgotten.
const TRACKED: usize = 10_000;

pub struct FailureLimiter {
    burst: u32,
    refill: Duration,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

struct Bucket {
    tokens: u32,
    /// When `tokens` was last brought up to date.
    since: Instant,
    last_failure: Option<Instant>,
}

impl FailureLimiter {
    pub fn new(burst: u32, refill: Duration) -> FailureLimiter {
        FailureLimiter {
            burst: burst.max(1),
            refill: refill.max(Duration::from_millis(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one try for `ip`; `Err(wait)` when it has none left (try again after `wait`).
    /// `Ok` holds when the address last sent a wrong password (`None`: not lately).
    pub fn reserve(&self, ip: IpAddr) -> Result<Option<Instant>, Duration> {
        self.reserve_at(key(ip), Instant::now())
    }

    /// Notes a wrong password from `ip` (its try was taken by [`reserve`](Self::reserve)).
    pub fn failed(&self, ip: IpAddr) {
        if let Some(b) = self.buckets.lock().get_mut(&key(ip)) {
            b.last_failure = Some(Instant::now());
        }
    }

    /// Gives back a try taken by [`reserve`](Self::reserve): the password was right, or it
    /// was never checked.
    pub fn refund(&self, ip: IpAddr) {
        let mut buckets = self.buckets.lock();
        if let Some(b) = buckets.get_mut(&key(ip)) {
            b.tokens = (b.tokens + 1).min(self.burst);
        }
    }

    fn reserve_at(&self, ip: IpAddr, now: Instant) -> Result<Option<Instant>, Duration> {
        let mut buckets = self.buckets.lock();
        if buckets.len() >= TRACKED {
            buckets.retain(|_, b| {
                self.refilled(b, now);
                b.tokens < self.burst
            });
        }
        let bucket = buckets.entry(ip).or_insert(Bucket {
            tokens: self.burst,
            since: now,
            last_failure: None,
        });
        self.refilled(bucket, now);
        if bucket.tokens == 0 {
            return Err(self.refill.saturating_sub(now.duration_since(bucket.since)));
        }
        // Back at its full budget, an address has rested: its old failure no longer counts.
        let rested = bucket.tokens == self.burst;
        bucket.tokens -= 1;
        Ok(if rested { None } else { bucket.last_failure })
    }

    fn refilled(&self, b: &mut Bucket, now: Instant) {
        if b.tokens >= self.burst {
            b.since = now;
            return;
        }
        let elapsed = now.duration_since(b.since);
        let earned = (elapsed.as_nanos() / self.refill.as_nanos()).min(u128::from(self.burst));
        // `earned` is at most `burst`, a u32.
        let earned = u32::try_from(earned).unwrap_or(self.burst);
        if earned > 0 {
            b.tokens = (b.tokens + earned).min(self.burst);
            b.since = if b.tokens == self.burst {
                now
            } else {
                b.since + self.refill * earned
            };
        }
    }
}

/// One IPv4 address, or one IPv6 /64.
fn key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let mut octets = v6.octets();
            octets[8..].fill(0);
            IpAddr::from(octets)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));

    #[test]
    fn burst_then_one_per_refill() {
        let l = FailureLimiter::new(3, Duration::from_secs(10));
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(l.reserve_at(IP, t0).is_ok());
        }
        assert_eq!(l.reserve_at(IP, t0), Err(Duration::from_secs(10)));
        assert!(l.reserve_at(IP, t0 + Duration::from_secs(9)).is_err());
        assert!(l.reserve_at(IP, t0 + Duration::from_secs(10)).is_ok());
        assert!(l.reserve_at(IP, t0 + Duration::from_secs(11)).is_err());
        let other = IpAddr::from([192, 0, 2, 2]);
        assert!(
            l.reserve_at(other, t0).is_ok(),
            "other addresses unaffected"
        );
    }

    #[test]
    fn refunds_keep_successes_free() {
        let l = FailureLimiter::new(2, Duration::from_secs(60));
        for _ in 0..100 {
            assert!(l.reserve(IP).is_ok());
            l.refund(IP);
        }
        assert!(l.reserve(IP).is_ok());
        assert!(l.reserve(IP).is_ok());
        assert!(l.reserve(IP).is_err());
    }

    #[test]
    fn remembers_the_last_wrong_password_per_address() {
        let l = FailureLimiter::new(5, Duration::from_secs(60));
        assert_eq!(l.reserve(IP), Ok(None));
        l.refund(IP);
        assert_eq!(l.reserve(IP), Ok(None), "a right password is no failure");
        l.failed(IP);
        let failed = l.reserve(IP).ok().flatten();
        assert!(failed.is_some());
        let other = IpAddr::from([192, 0, 2, 2]);
        assert_eq!(l.reserve(other), Ok(None));
    }

    #[test]
    fn ipv6_counts_per_64() {
        let l = FailureLimiter::new(1, Duration::from_secs(60));
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap_or(IP);
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap_or(IP);
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap_or(IP);
        assert!(l.reserve(a).is_ok());
        assert!(l.reserve(b).is_err(), "same /64");
        assert!(l.reserve(c).is_ok());
    }
}
