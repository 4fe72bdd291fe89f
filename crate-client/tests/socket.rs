//! The socket's contract beyond round trips: closes, errors, handler ownership, feature
//! detection. Against the real server, in a real browser.
#![cfg(target_arch = "wasm32")]

mod common;

use common::{echo_url_with, open_recorded, record, within, ECHO_URL};
use ferrosocket::{
    CloseError, CloseEvent, Event, Message, OpenError, ReadyState, SendError, WebSocket,
};
use futures_util::StreamExt;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
async fn a_close_from_the_server_reaches_the_handler_with_code_and_reason() {
    let mut socket =
        WebSocket::open(&echo_url_with("close=4001&reason=server%20says%20bye")).unwrap();
    let mut events = record(&mut socket);
    assert_eq!(events.next().await, Event::Open);
    assert_eq!(
        events.next().await,
        Event::Close(CloseEvent {
            code: 4001,
            reason: "server says bye".into(),
            was_clean: true
        })
    );
    assert_eq!(socket.ready_state(), ReadyState::Closed);
}

#[wasm_bindgen_test]
async fn a_close_from_the_client_carries_its_code_and_reason() {
    let (socket, mut events) = open_recorded(ECHO_URL).await;
    socket.close_with(4321, "client is done").unwrap();
    assert_eq!(socket.ready_state(), ReadyState::Closing);
    // The server echoes the client's close frame back.
    assert_eq!(
        events.next().await,
        Event::Close(CloseEvent {
            code: 4321,
            reason: "client is done".into(),
            was_clean: true
        })
    );
}

#[wasm_bindgen_test]
async fn invalid_close_codes_and_reasons_are_refused_before_the_browser_sees_them() {
    let (socket, mut events) = open_recorded(ECHO_URL).await;
    for code in [0, 999, 1001, 1005, 1006, 2999, 5000] {
        match socket.close_with(code, "") {
            Err(CloseError::Code(err)) => assert_eq!(err.code, code),
            other => panic!("close code {code}: expected a code error, got {other:?}"),
        }
    }
    match socket.close_with(4000, &"é".repeat(62)) {
        Err(CloseError::Reason(err)) => assert_eq!(err.len, 124),
        other => panic!("expected a reason error, got {other:?}"),
    }
    // Nothing was closed: the socket still echoes.
    assert_eq!(socket.ready_state(), ReadyState::Open);
    socket.send_text("still open").unwrap();
    assert_eq!(
        events.next().await,
        Event::Message(Message::Text("still open".into()))
    );
}

#[wasm_bindgen_test]
fn invalid_urls_schemes_and_protocols_are_typed_errors() {
    assert!(matches!(
        WebSocket::open("ftp://127.0.0.1/echo"),
        Err(OpenError::UnsupportedScheme { scheme, .. }) if scheme == "ftp:"
    ));
    assert!(matches!(
        WebSocket::open("javascript:alert(1)"),
        Err(OpenError::UnsupportedScheme { scheme, .. }) if scheme == "javascript:"
    ));
    assert!(matches!(
        WebSocket::open("ws://[bad/"),
        Err(OpenError::InvalidUrl { .. })
    ));
    assert!(matches!(
        WebSocket::open(&format!("{ECHO_URL}#frag")),
        Err(OpenError::Fragment { .. })
    ));
    for (protocols, bad) in [
        (&["ok", "has space"][..], "has space"),
        (&["", "ok"][..], ""),
        (&["twice", "twice"][..], "twice"),
        (&["comma,separated"][..], "comma,separated"),
    ] {
        match WebSocket::open_with_protocols(ECHO_URL, protocols) {
            Err(OpenError::InvalidProtocol { protocol, .. }) => assert_eq!(protocol, bad),
            other => panic!("{protocols:?}: expected InvalidProtocol, got {other:?}"),
        }
    }
    // Every error explains itself.
    let message = WebSocket::open("ftp://x/").unwrap_err().to_string();
    assert!(
        message.contains("ftp:") && message.contains("ws:"),
        "{message}"
    );
}

#[wasm_bindgen_test]
async fn sending_before_open_and_after_close_is_a_typed_error() {
    let mut socket = WebSocket::open(ECHO_URL).unwrap();
    let mut events = record(&mut socket);
    assert_eq!(
        socket.send_text("too early"),
        Err(SendError::NotOpen(ReadyState::Connecting))
    );
    assert_eq!(
        socket.send_bytes(b"too early"),
        Err(SendError::NotOpen(ReadyState::Connecting))
    );
    assert_eq!(events.next().await, Event::Open);

    socket.close().unwrap();
    assert_eq!(
        socket.send_text("while closing"),
        Err(SendError::NotOpen(ReadyState::Closing))
    );
    assert!(matches!(events.next().await, Event::Close(_)));
    assert_eq!(
        socket.send_text("too late"),
        Err(SendError::NotOpen(ReadyState::Closed))
    );
    let err = socket.send_bytes(b"too late").unwrap_err();
    assert!(err.to_string().contains("Closed"), "{err}");
}

#[wasm_bindgen_test]
async fn a_replaced_handler_is_no_longer_called() {
    let (mut socket, mut first) = open_recorded(ECHO_URL).await;
    let (tx, mut second) = futures_channel::mpsc::unbounded();
    socket.set_on_message(move |message| tx.unbounded_send(message).unwrap());

    socket.send_text("to the new handler").unwrap();
    assert_eq!(
        within(5_000, second.next()).await.flatten(),
        Some(Message::Text("to the new handler".into()))
    );
    // The first message handler is gone: its recorder sees no message, only the close.
    socket.close().unwrap();
    assert!(matches!(first.next().await, Event::Close(_)));
}

#[wasm_bindgen_test]
async fn a_dropped_socket_closes_and_its_handlers_are_released() {
    let (socket, mut events) = open_recorded(ECHO_URL).await;
    // A second view of the browser object, to observe the close after the drop.
    let browser_socket = socket.as_web_sys().clone();
    socket.send_text("in flight").unwrap();
    drop(socket);
    assert_eq!(browser_socket.ready_state(), web_sys::WebSocket::CLOSING);
    // Every handler closure was dropped with the socket, so the channel's senders are gone
    // and it ends, instead of delivering the echo or the close event.
    assert_eq!(within(2_000, events.0.next()).await, Some(None));
    // ...and the closing handshake completes.
    for _ in 0..250 {
        if browser_socket.ready_state() == web_sys::WebSocket::CLOSED {
            return;
        }
        gloo_timers::future::TimeoutFuture::new(20).await;
    }
    panic!("the dropped socket never finished closing");
}

#[wasm_bindgen_test]
fn without_websocket_in_the_global_scope_nothing_panics() {
    let global = js_sys::global();
    let constructor = js_sys::Reflect::get(&global, &"WebSocket".into()).unwrap();
    assert!(WebSocket::is_supported());

    js_sys::Reflect::delete_property(&global, &"WebSocket".into()).unwrap();
    let supported = WebSocket::is_supported();
    let opened = WebSocket::open(ECHO_URL);
    js_sys::Reflect::set(&js_sys::global(), &"WebSocket".into(), &constructor).unwrap();

    assert!(!supported);
    assert_eq!(opened.unwrap_err(), OpenError::NotSupported);
    assert!(WebSocket::is_supported(), "restored");
}
