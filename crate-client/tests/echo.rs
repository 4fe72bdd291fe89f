//! Round trips through the real server's `/echo`, in a real browser.
#![cfg(target_arch = "wasm32")]

mod common;

use common::{open_recorded, record, ECHO_URL};
use ferrosocket::{CloseEvent, Event, Message, ReadyState, WebSocket};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
async fn text_and_binary_round_trip_in_order() {
    let mut socket = WebSocket::open(ECHO_URL).unwrap();
    let mut events = record(&mut socket);
    assert_eq!(socket.ready_state(), ReadyState::Connecting);
    assert_eq!(events.next().await, Event::Open);
    assert_eq!(socket.ready_state(), ReadyState::Open);

    socket.send_text("hello, echo").unwrap();
    socket.send_bytes(&[0, 1, 2, 254, 255]).unwrap();
    socket.send_text("ünïcødé ✓").unwrap();

    assert_eq!(
        events.next().await,
        Event::Message(Message::Text("hello, echo".into()))
    );
    assert_eq!(
        events.next().await,
        Event::Message(Message::Binary(vec![0, 1, 2, 254, 255]))
    );
    assert_eq!(
        events.next().await,
        Event::Message(Message::Text("ünïcødé ✓".into()))
    );

    socket.close().unwrap();
    assert_eq!(
        events.next().await,
        Event::Close(CloseEvent {
            code: 1000,
            reason: String::new(),
            was_clean: true
        })
    );
    assert_eq!(socket.ready_state(), ReadyState::Closed);
}

#[wasm_bindgen_test]
async fn interleaved_text_and_binary_keep_their_order_over_1000_messages() {
    let (socket, mut events) = open_recorded(ECHO_URL).await;
    let sent: Vec<Message> = (0..1000u32)
        .map(|i| match i % 3 {
            0 => Message::Text(format!("text {i}")),
            1 => Message::Binary(i.to_be_bytes().to_vec()),
            _ => Message::Binary(vec![(i % 251) as u8; (i as usize * 37) % 5000]),
        })
        .collect();
    for message in &sent {
        match message {
            Message::Text(text) => socket.send_text(text).unwrap(),
            Message::Binary(bytes) => socket.send_bytes(bytes).unwrap(),
        }
    }
    for (i, expected) in sent.into_iter().enumerate() {
        assert_eq!(events.next().await, Event::Message(expected), "message {i}");
    }
}

#[wasm_bindgen_test]
async fn blobs_are_sent_as_binary_in_order_with_text() {
    let (socket, mut events) = open_recorded(ECHO_URL).await;
    let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(&b"blob bytes"[..]));
    let blob = web_sys::Blob::new_with_u8_array_sequence(&parts).unwrap();

    socket.send_text("before").unwrap();
    socket.send_blob(&blob).unwrap();
    socket.send_text("after").unwrap();

    assert_eq!(
        events.next().await,
        Event::Message(Message::Text("before".into()))
    );
    assert_eq!(
        events.next().await,
        Event::Message(Message::Binary(b"blob bytes".to_vec()))
    );
    assert_eq!(
        events.next().await,
        Event::Message(Message::Text("after".into()))
    );
}

#[wasm_bindgen_test]
async fn http_urls_are_mapped_to_ws() {
    let http_url = ECHO_URL.replacen("ws://", "http://", 1);
    let (socket, _events) = open_recorded(&http_url).await;
    assert_eq!(socket.url(), ECHO_URL);
}

#[wasm_bindgen_test]
async fn the_selected_subprotocol_is_reported() {
    let mut socket = WebSocket::open_with_protocols(ECHO_URL, &["unknown.v9", "echo.v1"]).unwrap();
    let mut events = record(&mut socket);
    assert_eq!(socket.protocol(), "", "nothing is selected before open");
    assert_eq!(events.next().await, Event::Open);
    assert_eq!(socket.protocol(), "echo.v1");

    let (plain, _events) = open_recorded(ECHO_URL).await;
    assert_eq!(plain.protocol(), "");
    assert_eq!(plain.buffered_amount(), 0);
    // Our server negotiates no extension.
    assert_eq!(plain.extensions(), "");
}
