//! The client inside a dedicated Web Worker, which has no `window` and no document:
//! relative URLs resolve against the worker's own location, and sockets, streams and
//! resilient sockets work against the real server.
#![cfg(target_arch = "wasm32")]

mod common;

use common::{within, ECHO_URL};
use ferrosocket::{
    Event, Message, ResilientEvent, ResilientOptions, ResilientSocket, WebSocket, WebSocketStream,
};
use futures_util::{SinkExt, StreamExt};
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_dedicated_worker);

fn worker_location() -> web_sys::WorkerLocation {
    js_sys::global()
        .unchecked_into::<web_sys::WorkerGlobalScope>()
        .location()
}

#[wasm_bindgen_test]
fn relative_urls_resolve_against_the_workers_location() {
    assert!(web_sys::window().is_none(), "this test runs in a worker");
    let location = worker_location();
    let socket = WebSocket::open("/echo?from=worker").expect("a relative URL opens in a worker");
    assert_eq!(
        socket.url(),
        format!("ws://{}/echo?from=worker", location.host())
    );
    let socket = WebSocket::open("sub/path").unwrap();
    let expected = web_sys::Url::new_with_base("sub/path", &location.href()).unwrap();
    expected.set_protocol("ws:");
    assert_eq!(socket.url(), expected.href());
}

#[wasm_bindgen_test]
async fn a_stream_round_trips_in_a_worker() {
    let mut stream = WebSocketStream::open(ECHO_URL).unwrap();
    stream
        .send(Message::Text("from a worker".into()))
        .await
        .unwrap();
    loop {
        match within(5_000, stream.next()).await.flatten() {
            Some(Event::Open) => continue,
            Some(Event::Message(message)) => {
                assert_eq!(message, Message::Text("from a worker".into()));
                break;
            }
            other => panic!("expected the echo, got {other:?}"),
        }
    }
    stream.close().await.unwrap();
}

#[wasm_bindgen_test]
async fn a_resilient_socket_queues_and_delivers_in_a_worker() {
    let socket = ResilientSocket::open(ECHO_URL, ResilientOptions::default()).unwrap();
    let mut events = socket.events();
    socket.send(Message::Text("queued in a worker".into()));
    assert_eq!(
        within(5_000, events.next()).await.flatten(),
        Some(ResilientEvent::Open)
    );
    assert_eq!(
        within(5_000, events.next()).await.flatten(),
        Some(ResilientEvent::Message(Message::Text(
            "queued in a worker".into()
        )))
    );
    socket.close();
}
