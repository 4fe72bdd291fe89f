//! Per-connection rate limiting and server-wide connection counting.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio_util::sync::CancellationToken;

/// A token bucket: `rate` tokens a second, holding at most `burst`.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    refilled: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate: u32, burst: u32) -> TokenBucket {
        TokenBucket {
            rate: f64::from(rate),
            burst: f64::from(burst.max(1)),
            tokens: f64::from(burst.max(1)),
            refilled: Instant::now(),
        }
    }

    /// Takes a token if there is one.
    pub fn try_take(&mut self) -> bool {
        self.try_take_at(Instant::now())
    }

    /// Takes `amount` tokens if there are that many (a cost in bytes, say).
    pub fn try_take_amount(&mut self, amount: f64) -> bool {
        self.take_at(Instant::now(), amount)
    }

    /// How long until the bucket holds a whole token again (zero if it does).
    pub fn next_token_in(&self) -> std::time::Duration {
        let elapsed = self.refilled.elapsed().as_secs_f64();
        let missing = (1.0 - (self.tokens + elapsed * self.rate)).max(0.0);
        std::time::Duration::from_secs_f64(missing / self.rate.max(f64::MIN_POSITIVE))
            .min(std::time::Duration::from_secs(1))
    }

    fn try_take_at(&mut self, now: Instant) -> bool {
        self.take_at(now, 1.0)
    }

    fn take_at(&mut self, now: Instant, amount: f64) -> bool {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.refilled = now;
        if self.tokens >= amount {
            self.tokens -= amount;
            true
        } else {
            false
        }
    }
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdmissionError {
    /// The server is at `--max-connections`.
    Full,
    /// This address is at `--max-connections-per-ip`.
    PerIp,
}

/// Counts open WebSocket connections, in total and per IP address.
#[derive(Debug)]
pub struct ConnectionLimiter {
    max_total: usize,
    max_per_ip: usize,
    open: Mutex<(usize, HashMap<IpAddr, usize>)>,
}

/// One admitted connection; dropping it frees its place.
#[derive(Debug)]
pub struct ConnectionPermit {
    limiter: Arc<ConnectionLimiter>,
    ip: IpAddr,
}

impl ConnectionLimiter {
    /// A limiter for `max_total` connections, `max_per_ip` of them from one address.
    pub fn new(max_total: usize, max_per_ip: usize) -> Arc<ConnectionLimiter> {
        Arc::new(ConnectionLimiter {
            max_total,
            max_per_ip,
            open: Mutex::new((0, HashMap::new())),
        })
    }

    /// Admits one more connection from `ip`, or says which limit it would exceed.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<ConnectionPermit, AdmissionError> {
        let mut open = self.open.lock().expect("limiter lock");
        let (total, per_ip) = &mut *open;
        if *total >= self.max_total {
            return Err(AdmissionError::Full);
        }
        let from_ip = per_ip.entry(ip).or_insert(0);
        if *from_ip >= self.max_per_ip {
            return Err(AdmissionError::PerIp);
        }
        *from_ip += 1;
        *total += 1;
        Ok(ConnectionPermit {
            limiter: Arc::clone(self),
            ip,
        })
    }
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        let mut open = self.limiter.open.lock().expect("limiter lock");
        let (total, per_ip) = &mut *open;
        *total -= 1;
        if let Some(count) = per_ip.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                per_ip.remove(&self.ip);
            }
        }
    }
}

/// Counts sockets that are not WebSockets yet (TCP accepted, request not yet upgraded), in
/// total and per address. When every place is taken, a newcomer still gets in: the oldest
/// pending socket of the address holding the most places is dropped to make room, so a
/// flood of silent sockets from a few addresses cannot lock everyone else out until the
/// handshake timeout frees them. Only the per-address cap refuses outright.
#[derive(Debug)]
pub struct PendingLimiter {
    max_total: usize,
    max_per_ip: usize,
    state: Mutex<PendingState>,
}

#[derive(Debug, Default)]
struct PendingState {
    next_id: u64,
    total: usize,
    /// Per address, its pending sockets by admission order.
    by_ip: HashMap<IpAddr, BTreeMap<u64, CancellationToken>>,
}

/// One pending socket's place; dropping it frees the place. [`PendingPermit::evicted`]
/// completes if the place was given to a newcomer.
#[derive(Debug)]
pub struct PendingPermit {
    limiter: Arc<PendingLimiter>,
    ip: IpAddr,
    id: u64,
    evicted: CancellationToken,
}

impl PendingLimiter {
    /// A limiter for `max_total` pending sockets, `max_per_ip` of them from one address.
    pub fn new(max_total: usize, max_per_ip: usize) -> Arc<PendingLimiter> {
        Arc::new(PendingLimiter {
            max_total: max_total.max(1),
            max_per_ip,
            state: Mutex::default(),
        })
    }

    /// Admits a socket from `ip`, making room by evicting the oldest socket of the busiest
    /// address if every place is taken (unless `ip` is that address at its own cap); refuses
    /// only past the per-address cap. Returns the permit and whether someone was evicted.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<(PendingPermit, bool), AdmissionError> {
        let mut state = self.state.lock().expect("pending lock");
        let from_ip = state.by_ip.get(&ip).map_or(0, BTreeMap::len);
        if from_ip >= self.max_per_ip {
            return Err(AdmissionError::PerIp);
        }
        let mut evicted = false;
        if state.total >= self.max_total {
            let busiest = state
                .by_ip
                .iter()
                .max_by_key(|(_, sockets)| sockets.len())
                .map(|(ip, _)| *ip);
            let Some(busiest) = busiest else {
                return Err(AdmissionError::Full);
            };
            let sockets = state.by_ip.get_mut(&busiest).expect("just found");
            if let Some((_, token)) = sockets.pop_first() {
                token.cancel();
                evicted = true;
                state.total -= 1;
            }
            if state.by_ip.get(&busiest).is_some_and(BTreeMap::is_empty) {
                state.by_ip.remove(&busiest);
            }
        }
        state.next_id += 1;
        let id = state.next_id;
        let token = CancellationToken::new();
        state.by_ip.entry(ip).or_default().insert(id, token.clone());
        state.total += 1;
        Ok((
            PendingPermit {
                limiter: Arc::clone(self),
                ip,
                id,
                evicted: token,
            },
            evicted,
        ))
    }

    /// Sockets pending now.
    #[cfg(test)]
    fn pending(&self) -> usize {
        self.state.lock().expect("pending lock").total
    }
}

impl PendingPermit {
    /// Completes when this socket's place was given to a newcomer: drop the socket.
    pub async fn evicted(&self) {
        self.evicted.cancelled().await;
    }
}

impl Drop for PendingPermit {
    fn drop(&mut self) {
        let mut state = self.limiter.state.lock().expect("pending lock");
        let Some(sockets) = state.by_ip.get_mut(&self.ip) else {
            return;
        };
        if sockets.remove(&self.id).is_some() {
            if sockets.is_empty() {
                state.by_ip.remove(&self.ip);
            }
            state.total -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_bucket_allows_its_burst_then_its_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(10, 3);
        bucket.refilled = start;
        assert!((0..3).all(|_| bucket.try_take_at(start)));
        assert!(!bucket.try_take_at(start));
        // 100 ms at 10/s refills one token.
        assert!(bucket.try_take_at(start + Duration::from_millis(100)));
        assert!(!bucket.try_take_at(start + Duration::from_millis(100)));
        // A long pause refills only up to the burst.
        let later = start + Duration::from_secs(60);
        assert!((0..3).all(|_| bucket.try_take_at(later)));
        assert!(!bucket.try_take_at(later));
    }

    #[test]
    fn permits_are_counted_per_ip_and_released_on_drop() {
        let limiter = ConnectionLimiter::new(3, 2);
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        let a1 = limiter.admit(a).unwrap();
        let _a2 = limiter.admit(a).unwrap();
        assert_eq!(limiter.admit(a).unwrap_err(), AdmissionError::PerIp);
        let _b1 = limiter.admit(b).unwrap();
        assert_eq!(limiter.admit(b).unwrap_err(), AdmissionError::Full);
        drop(a1);
        assert!(limiter.admit(a).is_ok());
    }

    #[test]
    fn a_full_pending_table_makes_room_by_dropping_the_busiest_addresses_oldest_socket() {
        let limiter = PendingLimiter::new(4, 3);
        let flood: IpAddr = "10.0.0.1".parse().unwrap();
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        let newcomer: IpAddr = "10.0.0.3".parse().unwrap();
        let (oldest, _) = limiter.admit(flood).unwrap();
        let (_second, _) = limiter.admit(flood).unwrap();
        let (_third, _) = limiter.admit(flood).unwrap();
        assert_eq!(limiter.admit(flood).unwrap_err(), AdmissionError::PerIp);
        let (other_permit, evicted) = limiter.admit(other).unwrap();
        assert!(!evicted);
        assert_eq!(limiter.pending(), 4);
        // Full: the newcomer gets in, the flood's oldest socket goes.
        let (_new, evicted) = limiter.admit(newcomer).unwrap();
        assert!(evicted);
        assert!(oldest.evicted.is_cancelled());
        assert!(!other_permit.evicted.is_cancelled());
        assert_eq!(limiter.pending(), 4);
        // Dropping an evicted permit does not free a place twice.
        drop(oldest);
        assert_eq!(limiter.pending(), 4);
        drop(other_permit);
        assert_eq!(limiter.pending(), 3);
    }
}
