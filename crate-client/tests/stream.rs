//! The async interface: `WebSocketStream` as a Stream of events and a Sink of messages.
#![cfg(target_arch = "wasm32")]

mod common;

use common::{within, ECHO_URL};
use ferrosocket::{Event, Message, ReadyState, SendError, WebSocketStream};
use futures_util::{SinkExt, StreamExt};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

async fn next_message(stream: &mut WebSocketStream) -> Message {
    loop {
        match within(5_000, stream.next())
            .await
            .expect("an event within 5 s")
        {
            Some(Event::Message(message)) => return message,
            Some(Event::Open) => continue,
            other => panic!("expected a message, got {other:?}"),
        }
    }
}

#[wasm_bindgen_test]
async fn sink_and_stream_round_trip_and_close() {
    let mut stream = WebSocketStream::open(ECHO_URL).unwrap();
    // `send` waits for the socket to open.
    stream.send(Message::Text("first".into())).await.unwrap();
    stream.send(Message::Binary(vec![1, 2, 3])).await.unwrap();
    assert_eq!(
        next_message(&mut stream).await,
        Message::Text("first".into())
    );
    assert_eq!(
        next_message(&mut stream).await,
        Message::Binary(vec![1, 2, 3])
    );

    stream.close().await.unwrap();
    assert_eq!(stream.socket().ready_state(), ReadyState::Closed);
    match stream.next().await {
        Some(Event::Close(close)) => assert_eq!(close.code, 1000),
        other => panic!("expected the close event, got {other:?}"),
    }
    assert_eq!(stream.next().await, None, "the stream ends after the close");
    assert_eq!(
        stream.send(Message::Text("late".into())).await,
        Err(SendError::NotOpen(ReadyState::Closed))
    );
}

#[wasm_bindgen_test]
async fn flush_waits_until_the_browser_has_sent_everything() {
    let mut stream = WebSocketStream::open(ECHO_URL)
        .unwrap()
        .with_high_water_mark(16 * 1024);
    let chunk = vec![42u8; 512 * 1024];
    for _ in 0..8 {
        // `send` = ready (waits below the high-water mark) + send + flush.
        stream.send(Message::Binary(chunk.clone())).await.unwrap();
        assert_eq!(
            stream.socket().buffered_amount(),
            0,
            "flush returned before the buffer drained"
        );
    }
    for _ in 0..8 {
        assert_eq!(
            next_message(&mut stream).await,
            Message::Binary(chunk.clone())
        );
    }
}

#[wasm_bindgen_test]
async fn readiness_holds_back_a_producer_above_the_high_water_mark() {
    let high_water_mark = 64 * 1024;
    let mut stream = WebSocketStream::open(ECHO_URL)
        .unwrap()
        .with_high_water_mark(high_water_mark);
    let chunk = vec![7u8; 256 * 1024];
    for _ in 0..16 {
        // `feed` = ready + send, no flush: each send starts only once the buffer is back
        // under the mark, so it never holds more than the mark plus one chunk.
        stream.feed(Message::Binary(chunk.clone())).await.unwrap();
        let buffered = stream.socket().buffered_amount();
        assert!(
            buffered <= high_water_mark + chunk.len() as u32,
            "{buffered} bytes buffered: readiness ignored the high-water mark"
        );
    }
    stream.flush().await.unwrap();
    for _ in 0..16 {
        assert_eq!(
            next_message(&mut stream).await,
            Message::Binary(chunk.clone())
        );
    }
}
