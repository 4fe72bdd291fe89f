//! Round trips through the real server's `/echo`, in a real browser.
//!
//! The test command starts the server on a free port and passes its address at compile
//! time in `FERROSOCKET_ECHO_URL`; by hand, run `scripts/run.sh` and these default to port 8080.
#![cfg(target_arch = "wasm32")]

use ferrosocket::{Message, ReadyState, WebSocket};
use futures_channel::mpsc;
use futures_util::StreamExt;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const ECHO_URL: &str = match option_env!("FERROSOCKET_ECHO_URL") {
    Some(url) => url,
    None => "ws://127.0.0.1:8080/echo",
};

#[derive(Debug, PartialEq)]
enum Event {
    Open,
    Message(Message),
    Close(u16),
    Error,
}

/// Opens a socket whose every event goes into the returned channel.
fn open_recording(url: &str) -> (WebSocket, mpsc::UnboundedReceiver<Event>) {
    let (tx, rx) = mpsc::unbounded();
    let mut socket = WebSocket::open(url).expect("the echo URL is valid");
    let sender = tx.clone();
    socket.set_on_open(move || sender.unbounded_send(Event::Open).unwrap());
    let sender = tx.clone();
    socket.set_on_message(move |m| sender.unbounded_send(Event::Message(m)).unwrap());
    let sender = tx.clone();
    socket.set_on_close(move |close| sender.unbounded_send(Event::Close(close.code)).unwrap());
    socket.set_on_error(move || tx.unbounded_send(Event::Error).unwrap());
    (socket, rx)
}

#[wasm_bindgen_test]
async fn text_and_binary_round_trip_in_order() {
    let (socket, mut events) = open_recording(ECHO_URL);
    assert_eq!(socket.ready_state(), ReadyState::Connecting);
    assert_eq!(
        events.next().await,
        Some(Event::Open),
        "could not open {ECHO_URL}: is the server running?"
    );
    assert_eq!(socket.ready_state(), ReadyState::Open);

    socket.send_text("hello, echo").unwrap();
    socket.send_bytes(&[0, 1, 2, 254, 255]).unwrap();
    socket.send_text("ünïcødé ✓").unwrap();

    assert_eq!(
        events.next().await,
        Some(Event::Message(Message::Text("hello, echo".into())))
    );
    assert_eq!(
        events.next().await,
        Some(Event::Message(Message::Binary(vec![0, 1, 2, 254, 255])))
    );
    assert_eq!(
        events.next().await,
        Some(Event::Message(Message::Text("ünïcødé ✓".into())))
    );

    socket.close().unwrap();
    assert_eq!(events.next().await, Some(Event::Close(1000)));
    assert_eq!(socket.ready_state(), ReadyState::Closed);
}

#[wasm_bindgen_test]
async fn http_urls_are_mapped_to_ws() {
    let http_url = ECHO_URL.replacen("ws://", "http://", 1);
    let (socket, mut events) = open_recording(&http_url);
    assert_eq!(socket.url(), ECHO_URL);
    assert_eq!(events.next().await, Some(Event::Open));
}

#[wasm_bindgen_test]
fn a_wrong_scheme_is_a_typed_error() {
    let err = WebSocket::open("ftp://127.0.0.1/echo").unwrap_err();
    assert!(
        matches!(&err, ferrosocket::OpenError::UnsupportedScheme { scheme, .. } if scheme == "ftp:"),
        "{err:?}"
    );
}
