//! Everything a connection needs from the server, in one struct behind an `Arc`.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::backplane::RedisBackplane;
use crate::budget::Budgets;
use crate::chat::Hub;
use crate::config::Config;
use crate::limits::ConnectionLimiter;
use crate::metrics::Metrics;
use crate::origin::OriginPolicy;

/// The server's shared state.
#[derive(Debug)]
pub(crate) struct AppState {
    pub config: Config,
    /// The chat's size budgets, checked to fit together.
    pub budgets: Budgets,
    pub metrics: Arc<Metrics>,
    pub limiter: Arc<ConnectionLimiter>,
    pub origins: OriginPolicy,
    pub hub: Arc<Hub>,
    /// Cancelled when the server shuts down: every connection closes with 1001.
    pub shutdown: CancellationToken,
    /// Every WebSocket connection's task, so shutdown can wait for them.
    pub connections: TaskTracker,
    pub tls: bool,
    /// Bumped by `/test/drop`: every connection ends without a close frame.
    pub drop_generation: tokio::sync::watch::Sender<u64>,
    /// Until when new WebSocket handshakes are refused (a simulated outage).
    pub outage_until: std::sync::Mutex<Option<std::time::Instant>>,
    /// Until when chat sends are refused as `unavailable` (a simulated backplane outage).
    pub refuse_sends_until: std::sync::Mutex<Option<std::time::Instant>>,
}

impl AppState {
    pub fn new(
        config: Config,
        budgets: Budgets,
        tls: bool,
        backplane: Option<Arc<RedisBackplane>>,
    ) -> Arc<AppState> {
        let metrics = Arc::new(Metrics::default());
        let hub = Arc::new(Hub::new(&config, &budgets, Arc::clone(&metrics), backplane));
        hub.start();
        Arc::new(AppState {
            limiter: ConnectionLimiter::new(config.max_connections, config.max_connections_per_ip),
            origins: OriginPolicy::new(&config.allow_origins),
            hub,
            metrics,
            shutdown: CancellationToken::new(),
            connections: TaskTracker::new(),
            tls,
            drop_generation: tokio::sync::watch::channel(0).0,
            outage_until: std::sync::Mutex::new(None),
            refuse_sends_until: std::sync::Mutex::new(None),
            budgets,
            config,
        })
    }

    /// Drops every WebSocket without a close frame and refuses new ones for `outage`.
    pub fn drop_all(&self, outage: std::time::Duration) {
        *self.outage_until.lock().expect("outage lock") = Some(std::time::Instant::now() + outage);
        self.drop_generation
            .send_modify(|generation| *generation += 1);
    }

    /// Refuses chat sends as `unavailable` for `period` (`/test/unavailable`).
    pub fn refuse_sends(&self, period: std::time::Duration) {
        *self.refuse_sends_until.lock().expect("refusal lock") =
            Some(std::time::Instant::now() + period);
    }

    /// Whether chat sends are being refused now (a simulated backplane outage).
    pub fn refusing_sends(&self) -> bool {
        self.refuse_sends_until
            .lock()
            .expect("refusal lock")
            .is_some_and(|until| std::time::Instant::now() < until)
    }

    /// Whether a simulated outage is refusing handshakes now.
    pub fn in_outage(&self) -> bool {
        self.outage_until
            .lock()
            .expect("outage lock")
            .is_some_and(|until| std::time::Instant::now() < until)
    }
}
