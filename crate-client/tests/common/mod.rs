//! Shared by the browser tests: where the real server is, and recording a socket's events.
//!
//! The test command starts the server on a free port and passes its address at compile
//! time in `FERROSOCKET_ECHO_URL`; by hand, run `scripts/run.sh` and these default to port
//! 8080.
#![allow(dead_code)] // each test binary uses a different subset

use std::future::Future;

use ferrosocket::{Event, WebSocket};
use futures_channel::mpsc;
use futures_util::future::{select, Either};
use futures_util::StreamExt;
use gloo_timers::future::TimeoutFuture;

pub const ECHO_URL: &str = match option_env!("FERROSOCKET_ECHO_URL") {
    Some(url) => url,
    None => "ws://127.0.0.1:8080/echo",
};

/// `fut`'s output, or `None` if it takes longer than `ms` milliseconds.
pub async fn within<F: Future + Unpin>(ms: u32, fut: F) -> Option<F::Output> {
    match select(fut, TimeoutFuture::new(ms)).await {
        Either::Left((output, _)) => Some(output),
        Either::Right(_) => None,
    }
}

/// A socket's events, as the handlers saw them.
pub struct Recorder(pub mpsc::UnboundedReceiver<Event>);

impl Recorder {
    /// The next event; fails the test after 5 s without one.
    pub async fn next(&mut self) -> Event {
        within(5_000, self.0.next())
            .await
            .expect("an event within 5 s")
            .expect("the handlers are still installed")
    }

    /// The next event, skipping `Error` (browsers differ on whether one precedes a close).
    pub async fn next_skipping_errors(&mut self) -> Event {
        loop {
            match self.next().await {
                Event::Error => continue,
                event => return event,
            }
        }
    }
}

/// Installs handlers on `socket` that record every event.
pub fn record(socket: &mut WebSocket) -> Recorder {
    let (tx, rx) = mpsc::unbounded();
    let sender = tx.clone();
    socket.set_on_open(move || {
        let _ = sender.unbounded_send(Event::Open);
    });
    let sender = tx.clone();
    socket.set_on_message(move |m| {
        let _ = sender.unbounded_send(Event::Message(m));
    });
    let sender = tx.clone();
    socket.set_on_close(move |close| {
        let _ = sender.unbounded_send(Event::Close(close));
    });
    socket.set_on_error(move || {
        let _ = tx.unbounded_send(Event::Error);
    });
    Recorder(rx)
}

/// Opens `url` with recording handlers and waits for it to open.
pub async fn open_recorded(url: &str) -> (WebSocket, Recorder) {
    let mut socket = WebSocket::open(url).expect("a valid URL");
    let mut events = record(&mut socket);
    assert_eq!(
        events.next().await,
        Event::Open,
        "could not open {url}: is the server running?"
    );
    (socket, events)
}

/// The echo URL with a query string.
pub fn echo_url_with(query: &str) -> String {
    format!("{ECHO_URL}?{query}")
}

/// The server's HTTP base URL, e.g. `http://127.0.0.1:PORT`.
pub fn http_base() -> String {
    ECHO_URL
        .replacen("ws://", "http://", 1)
        .trim_end_matches("/echo")
        .to_owned()
}

/// The chat endpoint of the same server.
pub fn chat_url() -> String {
    ECHO_URL.trim_end_matches("/echo").to_owned() + "/chat"
}

/// Drops every WebSocket on the server without a close frame and refuses new ones for
/// `outage_ms` (the server runs with `--test-endpoints` in the test command).
pub async fn drop_connections(outage_ms: u32) {
    let url = format!("{}/test/drop?outage_ms={outage_ms}", http_base());
    let window = web_sys::window().unwrap();
    let response = wasm_bindgen_futures::JsFuture::from(window.fetch_with_str(&url))
        .await
        .expect("fetch /test/drop");
    let response: web_sys::Response = wasm_bindgen::JsCast::unchecked_into(response);
    assert_eq!(
        response.status(),
        200,
        "/test/drop needs the server's --test-endpoints"
    );
}

/// Waits (at most about 15 s) until the server accepts WebSocket handshakes: a `/test/drop`
/// outage started by another test binary sharing the server may still be running.
pub async fn until_accepting() {
    for _ in 0..150 {
        let mut socket = WebSocket::open(ECHO_URL).expect("a valid URL");
        let mut events = record(&mut socket);
        if events.next_skipping_errors().await == Event::Open {
            return;
        }
        TimeoutFuture::new(100).await;
    }
    panic!("the server refused WebSocket handshakes for 15 s");
}

/// A unique name, so tests sharing one server do not see each other's rooms.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", (js_sys::Math::random() * 1e9) as u64)
}

/// Makes the server refuse chat sends as `unavailable` for `ms` (a lost Redis backplane).
pub async fn refuse_sends(ms: u32) {
    let url = format!("{}/test/unavailable?ms={ms}", http_base());
    let window = web_sys::window().unwrap();
    let response = wasm_bindgen_futures::JsFuture::from(window.fetch_with_str(&url))
        .await
        .expect("fetch /test/unavailable");
    let response: web_sys::Response = wasm_bindgen::JsCast::unchecked_into(response);
    assert_eq!(
        response.status(),
        200,
        "/test/unavailable needs the server's --test-endpoints"
    );
}

/// Awaits a test script's promise; a rejection fails the test with the script's message
/// (the first expectation that failed).
pub async fn run(promise: js_sys::Promise) {
    if let Err(err) = wasm_bindgen_futures::JsFuture::from(promise).await {
        let message = js_sys::Reflect::get(&err, &"message".into()).unwrap_or(err);
        panic!("{}", message.as_string().unwrap_or_default());
    }
}
