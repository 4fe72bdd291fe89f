//! Warnings a client can cause at will cannot flood the log. A test binary of its own: it
//! installs the process-wide log subscriber that captures what the server writes.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

/// Everything logged, as text.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no metric {name} in:\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_refused_origins_log_a_bounded_number_of_lines_and_are_counted() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();
    let addr = common::start_with(|_| {}).await;

    for _ in 0..1000 {
        let mut request = format!("ws://{addr}/echo").into_client_request().unwrap();
        request
            .headers_mut()
            .insert("origin", HeaderValue::from_static("http://evil.example"));
        match connect_async(request).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 403);
            }
            other => panic!("a foreign origin was not refused: {other:?}"),
        }
    }

    let log = captured.text();
    let refusals = log
        .matches("refused a handshake from a foreign origin")
        .count();
    let lines = log.lines().count();
    assert_eq!(
        refusals, 10,
        "one line per refusal up to the window's budget:\n{log}"
    );
    assert!(
        lines <= 12,
        "1,000 refusals wrote {lines} log lines:\n{log}"
    );
    assert!(
        log.contains("more warnings of this kind this minute are left out"),
        "the log must say that lines are being left out:\n{log}"
    );

    let text = String::from_utf8(common::get(addr, "/metrics").await.body).unwrap();
    assert_eq!(
        metric(
            &text,
            "ferrosocket_handshakes_rejected_total{reason=\"origin\"}"
        ),
        1000
    );
    assert_eq!(
        metric(
            &text,
            "ferrosocket_log_lines_suppressed_total{kind=\"origin\"}"
        ),
        990
    );
}
