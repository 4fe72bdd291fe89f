//! Counters for `/metrics`, in the Prometheus text exposition format.
//!
//! Plain atomics: incrementing one is a single relaxed add on the hot path, and rendering
//! reads them all without stopping anyone.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::log_throttle::{LogKind, LogThrottle};

/// Why a WebSocket handshake was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeRejection {
    /// Not a valid WebSocket handshake (400, 405, 426).
    Malformed,
    /// The Origin is not allowed (403).
    Origin,
    /// Too many connections in total (503).
    Capacity,
    /// Too many connections from one address (429).
    PerIp,
    /// Too many sockets not yet upgraded, in total (`--max-pending-connections`): closed
    /// right after accept with a 503.
    Pending,
    /// Too many sockets not yet upgraded from one address
    /// (`--max-pending-connections-per-ip`): closed right after accept with a 429.
    PendingPerIp,
    /// A `/chat` handshake without a valid token (401), or whose token's nickname is in
    /// use (409).
    Auth,
}

/// Which limit a connection hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitHit {
    /// A message over the size limit (close 1009).
    MessageSize,
    /// A message over the rate limit (error envelope).
    Rate,
    /// Persistently over the rate limit (close 1008).
    RateClose,
    /// No answer to the server's ping in time (close 1001).
    Idle,
    /// The handshake took too long.
    HandshakeTimeout,
    /// The peer took no data for `--write-timeout` (connection dropped).
    WriteTimeout,
}

/// All counters of one server.
#[derive(Debug, Default)]
pub struct Metrics {
    connections_open: AtomicU64,
    connections_total: AtomicU64,
    rooms: AtomicU64,
    messages_in: AtomicU64,
    messages_out: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    rejected: [AtomicU64; 7],
    limits: [AtomicU64; 6],
    log: LogThrottle,
    slow_consumer_closes: AtomicU64,
    protocol_violations: AtomicU64,
    envelope_errors: AtomicU64,
}

impl Metrics {
    pub(crate) fn connection_opened(&self) {
        self.connections_open.fetch_add(1, Ordering::Relaxed);
        self.connections_total.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn connection_closed(&self) {
        self.connections_open.fetch_sub(1, Ordering::Relaxed);
    }
    pub(crate) fn set_rooms(&self, rooms: usize) {
        self.rooms.store(rooms as u64, Ordering::Relaxed);
    }
    pub(crate) fn message_in(&self, bytes: usize) {
        self.messages_in.fetch_add(1, Ordering::Relaxed);
        self.bytes_in.fetch_add(bytes as u64, Ordering::Relaxed);
    }
    pub(crate) fn message_out(&self, bytes: usize) {
        self.messages_out.fetch_add(1, Ordering::Relaxed);
        self.bytes_out.fetch_add(bytes as u64, Ordering::Relaxed);
    }
    pub(crate) fn rejected(&self, why: HandshakeRejection) {
        self.rejected[why as usize].fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn limit_hit(&self, limit: LimitHit) {
        self.limits[limit as usize].fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn slow_consumer_closed(&self) {
        self.slow_consumer_closes.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn protocol_violation(&self) {
        self.protocol_violations.fetch_add(1, Ordering::Relaxed);
    }
    /// Whether a client-triggered warning of `kind` may be logged now (see
    /// [`LogThrottle`]); lines left out are counted.
    pub(crate) fn should_log(&self, kind: LogKind) -> bool {
        self.log.allow(kind)
    }
    pub(crate) fn envelope_error(&self) {
        self.envelope_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// WebSocket connections open now.
    pub fn connections_open(&self) -> u64 {
        self.connections_open.load(Ordering::Relaxed)
    }

    /// The Prometheus text exposition of every counter.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, samples: &[(&str, u64)]| {
            let _ = writeln!(out, "# HELP ferrosocket_{name} {help}");
            let _ = writeln!(out, "# TYPE ferrosocket_{name} {kind}");
            for (labels, value) in samples {
                let _ = writeln!(out, "ferrosocket_{name}{labels} {value}");
            }
        };
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        metric(
            "connections",
            "gauge",
            "WebSocket connections open now.",
            &[("", get(&self.connections_open))],
        );
        metric(
            "connections_total",
            "counter",
            "WebSocket connections accepted.",
            &[("", get(&self.connections_total))],
        );
        metric(
            "rooms",
            "gauge",
            "Chat rooms that exist now.",
            &[("", get(&self.rooms))],
        );
        metric(
            "messages_in_total",
            "counter",
            "WebSocket messages received.",
            &[("", get(&self.messages_in))],
        );
        metric(
            "messages_out_total",
            "counter",
            "WebSocket messages sent.",
            &[("", get(&self.messages_out))],
        );
        metric(
            "bytes_in_total",
            "counter",
            "Payload bytes received.",
            &[("", get(&self.bytes_in))],
        );
        metric(
            "bytes_out_total",
            "counter",
            "Payload bytes sent.",
            &[("", get(&self.bytes_out))],
        );
        metric(
            "handshakes_rejected_total",
            "counter",
            "WebSocket handshakes refused, by reason.",
            &[
                (
                    "{reason=\"malformed\"}",
                    get(&self.rejected[HandshakeRejection::Malformed as usize]),
                ),
                (
                    "{reason=\"origin\"}",
                    get(&self.rejected[HandshakeRejection::Origin as usize]),
                ),
                (
                    "{reason=\"capacity\"}",
                    get(&self.rejected[HandshakeRejection::Capacity as usize]),
                ),
                (
                    "{reason=\"per_ip\"}",
                    get(&self.rejected[HandshakeRejection::PerIp as usize]),
                ),
                (
                    "{reason=\"pending\"}",
                    get(&self.rejected[HandshakeRejection::Pending as usize]),
                ),
                (
                    "{reason=\"pending_per_ip\"}",
                    get(&self.rejected[HandshakeRejection::PendingPerIp as usize]),
                ),
                (
                    "{reason=\"auth\"}",
                    get(&self.rejected[HandshakeRejection::Auth as usize]),
                ),
            ],
        );
        metric(
            "limit_hits_total",
            "counter",
            "Limits hit by clients, by limit.",
            &[
                (
                    "{limit=\"message_size\"}",
                    get(&self.limits[LimitHit::MessageSize as usize]),
                ),
                (
                    "{limit=\"rate\"}",
                    get(&self.limits[LimitHit::Rate as usize]),
                ),
                (
                    "{limit=\"rate_close\"}",
                    get(&self.limits[LimitHit::RateClose as usize]),
                ),
                (
                    "{limit=\"idle\"}",
                    get(&self.limits[LimitHit::Idle as usize]),
                ),
                (
                    "{limit=\"handshake_timeout\"}",
                    get(&self.limits[LimitHit::HandshakeTimeout as usize]),
                ),
                (
                    "{limit=\"write_timeout\"}",
                    get(&self.limits[LimitHit::WriteTimeout as usize]),
                ),
            ],
        );
        let suppressed: Vec<(String, u64)> = LogKind::ALL
            .iter()
            .map(|kind| {
                (
                    format!("{{kind=\"{}\"}}", kind.name()),
                    self.log.suppressed(*kind),
                )
            })
            .collect();
        let suppressed: Vec<(&str, u64)> = suppressed
            .iter()
            .map(|(labels, value)| (labels.as_str(), *value))
            .collect();
        metric(
            "log_lines_suppressed_total",
            "counter",
            "Warnings left out of the log because too many similar ones came at once, by kind.",
            &suppressed,
        );
        metric(
            "slow_consumer_closes_total",
            "counter",
            "Connections closed because they could not keep up.",
            &[("", get(&self.slow_consumer_closes))],
        );
        metric(
            "protocol_violations_total",
            "counter",
            "Connections closed for violating RFC 6455 (1002, 1007, 1009).",
            &[("", get(&self.protocol_violations))],
        );
        metric(
            "envelope_errors_total",
            "counter",
            "Chat envelopes refused with an error envelope.",
            &[("", get(&self.envelope_errors))],
        );
        out
    }
}
