//! The test endpoints (only with `--test-endpoints`, never in production) and the switches
//! they flip, for testing clients' resilience and speed:
//!
//! - `/test/drop?outage_ms=N` drops every WebSocket without a close frame (clients see
//!   1006, as after a network failure) and refuses new ones for N milliseconds;
//! - `/test/unavailable?ms=N` refuses chat sends as `unavailable` for N milliseconds, as a
//!   lost Redis backplane would;
//! - the WebSocket `/test/firehose?count=N&size=B` sends N messages of B bytes and closes
//!   (the browser receive benchmark, www/bench.html).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use tokio::sync::watch;

use crate::firehose::Firehose;
use crate::http_parts::{query_number, text, Body};
use crate::state::AppState;
use crate::upgrade;

/// What the test endpoints have switched on.
#[derive(Debug)]
pub(crate) struct TestSwitches {
    /// Bumped by `/test/drop`: every connection ends without a close frame.
    drop_generation: watch::Sender<u64>,
    /// Until when new WebSocket handshakes are refused (a simulated outage).
    outage_until: Mutex<Option<Instant>>,
    /// Until when chat sends are refused as `unavailable` (a simulated backplane outage).
    refuse_sends_until: Mutex<Option<Instant>>,
}

impl Default for TestSwitches {
    fn default() -> Self {
        TestSwitches {
            drop_generation: watch::channel(0).0,
            outage_until: Mutex::new(None),
            refuse_sends_until: Mutex::new(None),
        }
    }
}

impl TestSwitches {
    /// Drops every WebSocket without a close frame and refuses new ones for `outage`.
    pub(crate) fn drop_all(&self, outage: Duration) {
        *self.outage_until.lock().expect("outage lock") = Some(Instant::now() + outage);
        self.drop_generation
            .send_modify(|generation| *generation += 1);
    }

    /// Changes once `/test/drop` asks every connection to drop.
    pub(crate) fn dropped(&self) -> watch::Receiver<u64> {
        self.drop_generation.subscribe()
    }

    /// Refuses chat sends as `unavailable` for `period`.
    pub(crate) fn refuse_sends(&self, period: Duration) {
        *self.refuse_sends_until.lock().expect("refusal lock") = Some(Instant::now() + period);
    }

    /// Whether chat sends are being refused now.
    pub(crate) fn refusing_sends(&self) -> bool {
        until_passed(&self.refuse_sends_until)
    }

    /// Whether a simulated outage is refusing handshakes now.
    pub(crate) fn in_outage(&self) -> bool {
        until_passed(&self.outage_until)
    }
}

/// Whether the instant in `until` is still ahead.
fn until_passed(until: &Mutex<Option<Instant>>) -> bool {
    until
        .lock()
        .expect("test switch lock")
        .is_some_and(|until| Instant::now() < until)
}

/// The paths of the test endpoints.
pub(crate) const PATHS: [&str; 5] = [
    "/test/drop",
    "/test/metrics",
    "/test/unavailable",
    "/test/firehose",
    "/test/hang",
];

/// The longest `/test/hang` holds a request.
const MAX_HANG: Duration = Duration::from_secs(60);

/// Answers `req`, whose path is one of [`PATHS`].
///
/// `/test/hang?ms=N` answers only after `N` ms (at most a minute), with a 503: a WebSocket
/// handshake to it stays unanswered that long, like a server that accepted the TCP
/// connection and then stalled — what a client's connect timeout is for.
pub(crate) async fn route(
    req: Request<Incoming>,
    state: &Arc<AppState>,
    peer: SocketAddr,
) -> Response<Body> {
    let query = req.uri().query();
    match req.uri().path() {
        "/test/drop" => {
            let outage_ms = query_number(query, "outage_ms");
            let dropped = state.metrics.connections_open();
            state.test.drop_all(Duration::from_millis(outage_ms));
            readable_anywhere(format!("dropped {dropped} connections\n"))
        }
        "/test/unavailable" => {
            let ms = query_number(query, "ms");
            state.test.refuse_sends(Duration::from_millis(ms));
            readable_anywhere(format!("refusing sends for {ms} ms\n"))
        }
        // `/metrics`, readable by the browser tests (which run on another origin) to count
        // what the server saw, e.g. refused handshakes.
        "/test/metrics" => readable_anywhere(crate::http::metrics_text(state)),
        "/test/hang" => {
            let hang = Duration::from_millis(query_number(query, "ms")).min(MAX_HANG);
            tokio::time::sleep(hang).await;
            text(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("hung for {} ms\n", hang.as_millis()),
            )
        }
        "/test/firehose" => match Firehose::from_query(query) {
            Ok(firehose) => upgrade::accept(req, state, peer, &[], move |_, _, _| firehose),
            Err(problem) => text(StatusCode::BAD_REQUEST, format!("{problem}\n")),
        },
        other => text(
            StatusCode::NOT_FOUND,
            format!("{other} is not a test endpoint\n"),
        ),
    }
}

/// A test endpoint's answer, readable from test pages on other origins.
fn readable_anywhere(body: String) -> Response<Body> {
    let mut response = text(StatusCode::OK, body);
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}
