//! [`ReconnectPolicy`]: when to reconnect and how long to wait.

use std::time::Duration;

/// When a [`ResilientSocket`](super::ResilientSocket) reconnects, and how long it waits.
///
/// Delays follow exponential backoff with *full jitter*: before attempt `n` (from 1) the
/// socket waits a random time between zero and
/// `min(max_delay, initial_delay × factor^(n−1))`, so that clients dropped together do not
/// come back together.
///
/// It reconnects after abnormal closes — 1006 (connection lost), 1001 (going away), 1011,
/// 1012, 1013, any other code — but not after a normal close (1000) or a policy close (1008,
/// 4000–4999) unless told to, and never after [`close`](super::ResilientSocket::close).
///
/// The backoff starts over only after a connection stayed open for `min_uptime`: a server
/// that accepts and at once closes is retried with growing delays, not in a storm.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use ferrosocket::ReconnectPolicy;
///
/// let policy = ReconnectPolicy {
///     initial_delay: Duration::from_millis(100),
///     max_attempts: Some(5),
///     ..ReconnectPolicy::default()
/// };
/// assert_eq!(policy.cap(1), Duration::from_millis(100));
/// assert_eq!(policy.cap(3), Duration::from_millis(400));
/// assert!(policy.should_reconnect(1006));
/// assert!(!policy.should_reconnect(1000));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ReconnectPolicy {
    /// The cap of the first delay. Default: 500 ms.
    pub initial_delay: Duration,
    /// How much the cap grows per attempt. Default: 2.
    pub factor: f64,
    /// The largest cap. Default: 30 s.
    pub max_delay: Duration,
    /// Attempts before giving up (`None`: never give up). Default: `None`.
    pub max_attempts: Option<u32>,
    /// Reconnect after a normal close (1000) from the server too. Default: `false`.
    pub after_normal_close: bool,
    /// Reconnect after a policy close (1008, 4000–4999) too. Default: `false`.
    pub after_policy_close: bool,
    /// How long a connection must stay open before its end starts the backoff over from
    /// attempt 1 (and resets the count `max_attempts` bounds). Default: 5 s.
    pub min_uptime: Duration,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        ReconnectPolicy {
            initial_delay: Duration::from_millis(500),
            factor: 2.0,
            max_delay: Duration::from_secs(30),
            max_attempts: None,
            after_normal_close: false,
            after_policy_close: false,
            min_uptime: Duration::from_secs(5),
        }
    }
}

impl ReconnectPolicy {
    /// The longest wait before attempt `attempt` (from 1).
    pub fn cap(&self, attempt: u32) -> Duration {
        let growth = self
            .factor
            .max(1.0)
            .powi(attempt.saturating_sub(1).min(64) as i32);
        let cap = self.initial_delay.as_secs_f64() * growth;
        // A `max_delay` of `Duration::MAX` (no limit) must not overflow.
        duration_from_secs(cap.min(self.max_delay.as_secs_f64()))
    }

    /// The wait before attempt `attempt`, given a uniform random number in `[0, 1)`.
    pub fn delay(&self, attempt: u32, random: f64) -> Duration {
        let cap = self.cap(attempt);
        // `mul_f64` without its panic path (and its messages): the product is at most `cap`.
        duration_from_secs(cap.as_secs_f64() * random.clamp(0.0, 1.0)).min(cap)
    }

    /// Whether a close with `code` should be followed by a reconnect.
    pub fn should_reconnect(&self, code: u16) -> bool {
        match code {
            1000 => self.after_normal_close,
            1008 | 4000..=4999 => self.after_policy_close,
            _ => true,
        }
    }

    /// Whether a connection that stayed open for `uptime` was stable, so that the backoff
    /// starts over after it.
    pub fn was_stable(&self, uptime: Duration) -> bool {
        uptime >= self.min_uptime
    }

    /// Whether attempt `attempt` (from 1) is allowed.
    pub fn allows_attempt(&self, attempt: u32) -> bool {
        self.max_attempts.is_none_or(|max| attempt <= max)
    }
}

/// `secs` seconds to the nearest nanosecond, saturating at zero (also for NaN) and at
/// [`Duration::MAX`]: what `Duration::try_from_secs_f64` does for a valid input, without its
/// error type and its exact rounding code (half a kilobyte of wasm).
pub(crate) fn duration_from_secs(secs: f64) -> Duration {
    if secs.is_nan() || secs <= 0.0 {
        return Duration::ZERO;
    }
    if secs >= u64::MAX as f64 {
        return Duration::MAX;
    }
    let whole = secs as u64;
    let nanos = ((secs - whole as f64) * 1e9 + 0.5) as u64;
    Duration::from_secs(whole).saturating_add(Duration::from_nanos(nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_grow_by_the_factor_up_to_the_maximum() {
        let policy = ReconnectPolicy {
            initial_delay: Duration::from_millis(100),
            factor: 3.0,
            max_delay: Duration::from_secs(1),
            ..ReconnectPolicy::default()
        };
        let caps: Vec<u128> = (1..=5).map(|n| policy.cap(n).as_millis()).collect();
        assert_eq!(caps, [100, 300, 900, 1000, 1000]);
        assert_eq!(policy.cap(10_000), Duration::from_secs(1), "no overflow");
    }

    #[test]
    fn delays_are_jittered_within_the_cap() {
        let policy = ReconnectPolicy::default();
        assert_eq!(policy.delay(3, 0.0), Duration::ZERO);
        assert_eq!(policy.delay(3, 0.5), Duration::from_secs(1));
        assert!(policy.delay(3, 0.999_999) < policy.cap(3));
    }

    #[test]
    fn abnormal_closes_reconnect_normal_and_policy_ones_only_when_configured() {
        let policy = ReconnectPolicy::default();
        for code in [1001, 1006, 1011, 1012, 1013, 3000] {
            assert!(policy.should_reconnect(code), "{code}");
        }
        for code in [1000, 1008, 4000, 4999] {
            assert!(!policy.should_reconnect(code), "{code}");
        }
        let eager = ReconnectPolicy {
            after_normal_close: true,
            after_policy_close: true,
            ..policy
        };
        assert!(eager.should_reconnect(1000) && eager.should_reconnect(4001));
    }

    #[test]
    fn an_unlimited_max_delay_does_not_overflow() {
        let policy = ReconnectPolicy {
            max_delay: Duration::MAX,
            ..ReconnectPolicy::default()
        };
        assert_eq!(policy.cap(2), Duration::from_secs(1));
        assert!(
            policy.cap(10_000) > Duration::from_secs(1 << 40),
            "grows without limit"
        );
        assert!(policy.delay(10_000, 0.5) <= policy.cap(10_000));
    }

    #[test]
    fn seconds_become_the_nearest_duration_saturating_at_both_ends() {
        for secs in [
            0.0,
            0.3,
            0.9,
            1.0,
            2.5,
            1e-9,
            0.123_456_789,
            86_400.75,
            1e12,
        ] {
            assert_eq!(
                duration_from_secs(secs),
                Duration::from_secs_f64(secs),
                "{secs}"
            );
        }
        assert_eq!(duration_from_secs(-1.0), Duration::ZERO);
        assert_eq!(duration_from_secs(f64::NAN), Duration::ZERO);
        assert_eq!(duration_from_secs(f64::INFINITY), Duration::MAX);
        assert_eq!(duration_from_secs(1e30), Duration::MAX);
    }

    #[test]
    fn only_a_connection_up_for_min_uptime_was_stable() {
        let policy = ReconnectPolicy::default();
        assert!(!policy.was_stable(Duration::from_millis(4_999)));
        assert!(policy.was_stable(Duration::from_secs(5)));
    }

    #[test]
    fn attempts_are_bounded_when_asked() {
        let policy = ReconnectPolicy {
            max_attempts: Some(2),
            ..ReconnectPolicy::default()
        };
        assert!(policy.allows_attempt(2));
        assert!(!policy.allows_attempt(3));
        assert!(ReconnectPolicy::default().allows_attempt(u32::MAX));
    }
}
