//! [`RateGate`]: the server connection's rate limit on simulated time, the same rules as
//! `crate-server/src/limits.rs` `TokenBucket` and `crate-server/src/chat/mod.rs` `RateGate`:
//! a full bucket of `burst` tokens refilled at `rate` per second; an envelope without a
//! token is refused, and more refusals in a row than a whole burst close the connection.

use crate::actor::Millis;

/// What the gate says about one incoming envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Within the limit: handle it.
    Pass,
    /// Over the limit: refused with `rate_limited`.
    Refuse,
    /// Over the limit for another whole burst: closed with 1008.
    Close,
}

/// A token bucket plus the count of refusals in a row.
#[derive(Debug, Clone)]
pub struct RateGate {
    rate: f64,
    burst: f64,
    tokens: f64,
    refilled: Millis,
    refused_in_row: u32,
    burst_count: u32,
}

impl RateGate {
    /// A full gate at time `now`.
    pub fn new(rate: u32, burst: u32, now: Millis) -> RateGate {
        RateGate {
            rate: f64::from(rate),
            burst: f64::from(burst.max(1)),
            tokens: f64::from(burst.max(1)),
            refilled: now,
            refused_in_row: 0,
            burst_count: burst.max(1),
        }
    }

    /// Takes a token for an envelope arriving at `now`.
    pub fn check(&mut self, now: Millis) -> Gate {
        let elapsed = now.saturating_sub(self.refilled) as f64 / 1000.0;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.refilled = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            self.refused_in_row = 0;
            return Gate::Pass;
        }
        self.refused_in_row += 1;
        if self.refused_in_row > self.burst_count {
            Gate::Close
        } else {
            Gate::Refuse
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Gate, RateGate};

    #[test]
    fn the_gate_refuses_past_the_burst_refills_and_closes_after_a_burst_of_refusals() {
        let mut gate = RateGate::new(10, 3, 0);
        assert!((0..3).all(|_| gate.check(0) == Gate::Pass));
        assert_eq!(gate.check(0), Gate::Refuse);
        assert_eq!(gate.check(100), Gate::Pass);
        assert!((0..3).all(|_| gate.check(100) == Gate::Refuse));
        assert_eq!(gate.check(100), Gate::Close);
    }
}
