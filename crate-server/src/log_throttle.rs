//! Warnings that a client can trigger at will (a refused Origin, a slow consumer closed, a
//! rate-limit close, a refused socket or a failed accept) are rate-limited, so that a flood
//! of them cannot flood the log: at most [`LINES_PER_WINDOW`] lines of each kind per
//! [`WINDOW`], then one line saying that more are being left out, and, once the window is
//! over, one summary with how many were. Every line left out is counted in
//! `ferrosocket_log_lines_suppressed_total{kind}`. (HTTP and TLS handshake failures are
//! logged only at `debug`.)

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Lines of one kind logged per window before the rest are left out.
pub(crate) const LINES_PER_WINDOW: u32 = 10;

/// How long a window lasts.
pub(crate) const WINDOW: Duration = Duration::from_secs(60);

/// How many kinds there are.
pub(crate) const KINDS: usize = 4;

/// A kind of warning that clients can cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LogKind {
    /// A handshake from a foreign Origin was refused.
    Origin,
    /// A slow consumer was closed with 1013.
    SlowConsumer,
    /// A client over the rate limit was closed with 1008.
    RateClose,
    /// A socket was refused before its request (too many pending), or accept failed.
    Accept,
}

impl LogKind {
    /// Every kind, in `as usize` order.
    pub(crate) const ALL: [LogKind; KINDS] = [
        LogKind::Origin,
        LogKind::SlowConsumer,
        LogKind::RateClose,
        LogKind::Accept,
    ];

    /// The `kind` label in metrics and logs.
    pub(crate) fn name(self) -> &'static str {
        match self {
            LogKind::Origin => "origin",
            LogKind::SlowConsumer => "slow_consumer",
            LogKind::RateClose => "rate_close",
            LogKind::Accept => "accept",
        }
    }
}

/// One window per kind, and the count of lines left out.
#[derive(Debug, Default)]
pub(crate) struct LogThrottle {
    windows: [Mutex<Window>; KINDS],
    suppressed: [AtomicU64; KINDS],
}

#[derive(Debug, Default)]
struct Window {
    started: Option<Instant>,
    logged: u32,
    suppressed: u64,
}

impl LogThrottle {
    /// Whether a warning of `kind` may be logged now; if not, it is counted as left out.
    /// May itself log the "left out" notice or the summary of the previous window.
    pub(crate) fn allow(&self, kind: LogKind) -> bool {
        self.allow_at(kind, Instant::now())
    }

    fn allow_at(&self, kind: LogKind, now: Instant) -> bool {
        let mut window = self.windows[kind as usize].lock().expect("log window lock");
        let expired = window
            .started
            .is_none_or(|started| now.saturating_duration_since(started) >= WINDOW);
        if expired {
            if window.suppressed > 0 {
                tracing::warn!(
                    kind = kind.name(),
                    suppressed = window.suppressed,
                    "left out similar warnings in the last minute"
                );
            }
            *window = Window {
                started: Some(now),
                logged: 0,
                suppressed: 0,
            };
        }
        if window.logged < LINES_PER_WINDOW {
            window.logged += 1;
            return true;
        }
        window.suppressed += 1;
        self.suppressed[kind as usize].fetch_add(1, Ordering::Relaxed);
        if window.suppressed == 1 {
            tracing::warn!(
                kind = kind.name(),
                "more warnings of this kind this minute are left out \
                 (counted in ferrosocket_log_lines_suppressed_total)"
            );
        }
        false
    }

    /// Lines of `kind` left out so far.
    pub(crate) fn suppressed(&self, kind: LogKind) -> u64 {
        self.suppressed[kind as usize].load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_gets_its_own_budget_per_window() {
        let throttle = LogThrottle::default();
        let start = Instant::now();
        let allowed = (0..1000)
            .filter(|_| throttle.allow_at(LogKind::Origin, start))
            .count();
        assert_eq!(allowed, LINES_PER_WINDOW as usize);
        assert_eq!(throttle.suppressed(LogKind::Origin), 990);
        // Another kind is not affected.
        assert!(throttle.allow_at(LogKind::SlowConsumer, start));
        assert_eq!(throttle.suppressed(LogKind::SlowConsumer), 0);
        // The next window starts afresh.
        assert!(throttle.allow_at(LogKind::Origin, start + WINDOW));
        assert_eq!(throttle.suppressed(LogKind::Origin), 990);
    }
}
