//! The Sentry's log lines go through `tracing`, to `--debug-log` (off
//! without it), never to the stderr the application shares. A line the
//! application can cause (a failure it can provoke at will) is rate-limited
//! with `warn_limited!`: at most `BURST` lines a second from one call site,
//! the rest counted and reported with the next line that passes.

use std::sync::atomic::{AtomicU64, Ordering};

/// Lines a call site may log in one second.
pub const BURST: u64 = 10;

/// One call site's budget.
#[derive(Debug, Default)]
pub struct RateLimit {
    /// The second the budget is for, and the lines logged and dropped in it.
    second: AtomicU64,
    logged: AtomicU64,
    dropped: AtomicU64,
}

impl RateLimit {
    pub const fn new() -> RateLimit {
        RateLimit { second: AtomicU64::new(0), logged: AtomicU64::new(0), dropped: AtomicU64::new(0) }
    }

    /// Whether a line may go out at second `now`; if so, how many were
    /// dropped since the last that did.
    pub fn allow(&self, now: u64) -> Option<u64> {
        if self.second.swap(now, Ordering::Relaxed) != now {
            self.logged.store(0, Ordering::Relaxed);
        }
        if self.logged.fetch_add(1, Ordering::Relaxed) >= BURST {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        Some(self.dropped.swap(0, Ordering::Relaxed))
    }
}

/// The current second, for `RateLimit::allow` (the host's monotonic clock).
pub fn now_second() -> u64 {
    crate::host::clock_gettime(abi::consts::CLOCK_MONOTONIC).map_or(0, |t| t.tv_sec as u64)
}

/// `tracing::warn!` from a call site the application can drive: at most
/// `BURST` lines a second, with the count of lines dropped before.
#[macro_export]
macro_rules! warn_limited {
    ($($arg:tt)+) => {{
        static LIMIT: $crate::log::RateLimit = $crate::log::RateLimit::new();
        if let Some(dropped) = LIMIT.allow($crate::log::now_second()) {
            tracing::warn!(dropped, $($arg)+);
        }
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_silence_then_the_count() {
        let l = RateLimit::new();
        for _ in 0..BURST {
            assert_eq!(l.allow(7), Some(0));
        }
        assert_eq!(l.allow(7), None);
        assert_eq!(l.allow(7), None);
        assert_eq!(l.allow(8), Some(2), "the next second reports the two dropped");
    }
}
