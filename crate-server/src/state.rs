//! Everything a connection needs from the server, in one struct behind an `Arc`.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::chat::Hub;
use crate::config::Config;
use crate::limits::ConnectionLimiter;
use crate::metrics::Metrics;
use crate::origin::OriginPolicy;

/// The server's shared state.
#[derive(Debug)]
pub(crate) struct AppState {
    pub config: Config,
    pub metrics: Arc<Metrics>,
    pub limiter: Arc<ConnectionLimiter>,
    pub origins: OriginPolicy,
    pub hub: Hub,
    /// Cancelled when the server shuts down: every connection closes with 1001.
    pub shutdown: CancellationToken,
    /// Every WebSocket connection's task, so shutdown can wait for them.
    pub connections: TaskTracker,
    pub tls: bool,
}

impl AppState {
    pub fn new(config: Config, tls: bool) -> Arc<AppState> {
        let metrics = Arc::new(Metrics::default());
        Arc::new(AppState {
            limiter: ConnectionLimiter::new(config.max_connections, config.max_connections_per_ip),
            origins: OriginPolicy::new(&config.allow_origins),
            hub: Hub::new(&config, Arc::clone(&metrics)),
            metrics,
            shutdown: CancellationToken::new(),
            connections: TaskTracker::new(),
            tls,
            config,
        })
    }
}
