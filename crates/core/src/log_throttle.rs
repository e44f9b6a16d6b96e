//! A warning a flood could repeat thousands of times a second (one per refused socket) is
//! written at most once per period, with the count of those left out since.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub struct Throttle {
    period: Duration,
    start: Instant,
    /// Milliseconds after `start` of the last line written; `u64::MAX`: none yet.
    last: AtomicU64,
    skipped: AtomicU64,
}

impl Throttle {
    pub fn new(period: Duration) -> Throttle {
        Throttle {
            period,
            start: Instant::now(),
            last: AtomicU64::new(u64::MAX),
            skipped: AtomicU64::new(0),
        }
    }

    /// `Some(skipped since the last line)` when a line may be written now; `None` when it is to
    /// be left out (and counted).
    pub fn permit(&self) -> Option<u64> {
        let now = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX - 1);
        let period = u64::try_from(self.period.as_millis()).unwrap_or(u64::MAX);
        let last = self.last.load(Ordering::Acquire);
        let due = last == u64::MAX || now.saturating_sub(last) >= period;
        if due
            && self
                .last
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            return Some(self.skipped.swap(0, Ordering::AcqRel));
        }
        self.skipped.fetch_add(1, Ordering::AcqRel);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_period_and_the_count_of_those_left_out() {
        let throttle = Throttle::new(Duration::from_millis(200));
        assert_eq!(throttle.permit(), Some(0), "the first is written");
        for _ in 0..1000 {
            assert_eq!(throttle.permit(), None);
        }
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(throttle.permit(), Some(1000));
        assert_eq!(throttle.permit(), None);
    }
}
