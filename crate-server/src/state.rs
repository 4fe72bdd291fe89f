//! Everything a connection needs from the server, in one struct behind an `Arc`.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::admin_token::AdminToken;
use crate::auth::Authenticator;
use crate::auth_demo::DemoIssuer;
use crate::backplane::RedisBackplane;
use crate::budget::Budgets;
use crate::chat::Hub;
use crate::config::Config;
use crate::limits::{ConnectionLimiter, PendingLimiter};
use crate::metrics::Metrics;
use crate::origin::OriginPolicy;
use crate::test_endpoints::TestSwitches;

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
    /// TCP connections accepted and not (yet) upgraded, in total and per IP address.
    pub pending: Arc<PendingLimiter>,
    /// What the test endpoints have switched on.
    pub test: TestSwitches,
    /// Checks `/chat` tokens, when the server requires them.
    pub auth: Option<Authenticator>,
    /// `--metrics-token`: what `/metrics` and the test endpoints require, when set.
    pub admin_token: Option<AdminToken>,
    /// `--auth-demo`: signs demo tokens.
    pub demo: Option<DemoIssuer>,
}

impl AppState {
    pub fn new(
        config: Config,
        budgets: Budgets,
        tls: bool,
        backplane: Option<Arc<RedisBackplane>>,
        auth: Option<Authenticator>,
        admin_token: Option<AdminToken>,
        demo: Option<DemoIssuer>,
    ) -> Arc<AppState> {
        let metrics = Arc::new(Metrics::default());
        let hub = Arc::new(Hub::new(&config, &budgets, Arc::clone(&metrics), backplane));
        hub.start();
        Arc::new(AppState {
            auth,
            admin_token,
            demo,
            limiter: ConnectionLimiter::new(config.max_connections, config.max_connections_per_ip),
            origins: OriginPolicy::new(&config.allow_origins),
            hub,
            metrics,
            shutdown: CancellationToken::new(),
            connections: TaskTracker::new(),
            tls,
            pending: PendingLimiter::new(
                config.max_pending_connections,
                config.max_pending_connections_per_ip,
            ),
            test: TestSwitches::default(),
            budgets,
            config,
        })
    }

    /// Whether chat sends are being refused now (a simulated backplane outage).
    pub fn refusing_sends(&self) -> bool {
        self.test.refusing_sends()
    }
}
