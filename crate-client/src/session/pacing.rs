//! [`Pacing`]: the client's own token bucket, kept under the server's so that a burst of
//! lines (or a queue flushed after a reconnect) is spread out instead of refused.

use super::core::Millis;

/// The share of the server's sustained rate the client uses: the rest is left for the
/// heartbeat and for clocks that disagree.
const RATE_SHARE: f64 = 0.9;

/// The largest burst the client allows itself, whatever the server offers.
const MAX_BURST: u32 = 16;

/// A token bucket measured in envelopes, refilled continuously.
#[derive(Debug, Clone)]
pub(crate) struct Pacing {
    /// Tokens per millisecond; `None` = unlimited (the server announced no rate).
    per_ms: Option<f64>,
    burst: f64,
    tokens: f64,
    at: Millis,
}

impl Pacing {
    /// No limit: used until a `welcome` announces one.
    pub fn unlimited() -> Pacing {
        Pacing {
            per_ms: None,
            burst: 1.0,
            tokens: 1.0,
            at: 0,
        }
    }

    /// A full bucket at 90% of `rate_limit` per second with a burst of
    /// `min(rate_burst / 2, 16)` (at least 1). A `rate_limit` of 0 means unlimited.
    pub fn for_server(rate_limit: u32, rate_burst: u32, now: Millis) -> Pacing {
        if rate_limit == 0 {
            return Pacing::unlimited();
        }
        // A server that does not announce its burst gets half its rate as one.
        let offered = if rate_burst == 0 {
            rate_limit
        } else {
            rate_burst
        };
        let burst = f64::from((offered / 2).clamp(1, MAX_BURST));
        Pacing {
            per_ms: Some(f64::from(rate_limit) * RATE_SHARE / 1000.0),
            burst,
            tokens: burst,
            at: now,
        }
    }

    fn refill(&mut self, now: Millis) {
        if let Some(per_ms) = self.per_ms {
            if now > self.at {
                let earned = (now - self.at) as f64 * per_ms;
                self.tokens = (self.tokens + earned).min(self.burst);
            }
        }
        self.at = self.at.max(now);
    }

    /// Takes a token if one is there.
    pub fn try_take(&mut self, now: Millis) -> bool {
        if self.per_ms.is_none() {
            return true;
        }
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// After a `rate_limited` refusal: the server's bucket is emptier than ours thought,
    /// so start again from empty.
    pub fn drain(&mut self, now: Millis) {
        self.refill(now);
        self.tokens = self.tokens.min(0.0);
    }

    /// When the next token will be there (`now` if one is).
    pub fn ready_at(&self, now: Millis) -> Millis {
        let Some(per_ms) = self.per_ms else {
            return now;
        };
        let mut bucket = self.clone();
        bucket.refill(now);
        if bucket.tokens >= 1.0 {
            return now;
        }
        let wait = ((1.0 - bucket.tokens) / per_ms).ceil() as Millis;
        now + wait.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_run_stays_under_the_servers_rate_and_burst() {
        // Server: 20/s, burst 40. However greedily we take, no window of the run holds
        // more than the server's bucket would allow.
        let mut pacing = Pacing::for_server(20, 40, 0);
        let mut taken = Vec::new();
        for now in 0..60_000u64 {
            while pacing.try_take(now) {
                taken.push(now);
            }
        }
        // The server's bucket: starts with 40, earns 20/s.
        let mut server_tokens = 40.0f64;
        let mut last = 0u64;
        for &at in &taken {
            server_tokens = (server_tokens + (at - last) as f64 * 0.02).min(40.0);
            last = at;
            assert!(
                server_tokens >= 1.0,
                "the server would refuse the envelope at {at} ms"
            );
            server_tokens -= 1.0;
        }
        // And it is not needlessly slow: about 18/s over the minute.
        assert!(
            taken.len() > 1_050 && taken.len() < 1_100,
            "{}",
            taken.len()
        );
    }

    #[test]
    fn ready_at_is_when_a_token_is_there() {
        let mut pacing = Pacing::for_server(10, 2, 0);
        assert!(pacing.try_take(0));
        assert!(!pacing.try_take(0));
        let at = pacing.ready_at(0);
        assert!(!pacing.try_take(at - 1));
        assert!(pacing.try_take(at));
    }

    #[test]
    fn unlimited_never_waits() {
        let mut pacing = Pacing::unlimited();
        assert!((0..1000).all(|_| pacing.try_take(0)));
        assert_eq!(pacing.ready_at(5), 5);
    }
}
