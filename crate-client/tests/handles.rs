//! Async-first Rust against the real server: clonable senders used from inside handlers,
//! sockets detached from their owner, `ResilientSocket` as a `Stream`, and `flushed()` /
//! the `Sink` reporting messages that will never be sent.
#![cfg(target_arch = "wasm32")]

mod common;

use std::rc::{Rc, Weak};
use std::time::Duration;

use common::{within, ECHO_URL};
use ferrosocket::{
    Event, Message, ReadyState, ReconnectPolicy, ResilientError, ResilientEvent, ResilientOptions,
    ResilientSocket, SendError, SendOutcome, SocketSender, WebSocket, WebSocketStream,
};
use futures_channel::mpsc;
use futures_util::{SinkExt, StreamExt};
use gloo_timers::future::TimeoutFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn text(s: &str) -> Message {
    Message::Text(s.into())
}

/// Waits (generously) until `alive` is gone: what a released handler leaves behind.
async fn released(alive: &Weak<()>, what: &str) {
    for _ in 0..100 {
        if alive.strong_count() == 0 {
            return;
        }
        TimeoutFuture::new(50).await;
    }
    panic!("{what} was not released within 5 s of closing");
}

#[wasm_bindgen_test]
async fn a_sender_answers_from_inside_the_sockets_own_handler() {
    let mut socket = WebSocket::open(ECHO_URL).unwrap();
    let (tx, mut rx) = mpsc::unbounded();
    let sender = socket.sender();
    let on_open = sender.clone();
    socket.set_on_open(move || on_open.send_text("ping").unwrap());
    socket.set_on_message(move |message| {
        // The echo of "ping" is answered on the same socket, from its own handler.
        if message == text("ping") {
            sender.send(&text("pong")).unwrap();
        }
        let _ = tx.unbounded_send(message);
    });
    let mut seen = Vec::new();
    for _ in 0..2 {
        let message = within(5_000, rx.next()).await.expect("an echo within 5 s");
        seen.push(message.unwrap());
    }
    assert_eq!(seen, [text("ping"), text("pong")]);

    // A sender does not keep the socket open: once its owner is gone, sends fail.
    let late = socket.sender();
    drop(socket);
    assert!(matches!(
        late.send_text("late"),
        Err(SendError::NotOpen(ReadyState::Closing | ReadyState::Closed))
    ));
}

/// Opens a socket whose handlers record into `tx` and own `token`, and detaches it: the
/// function that opened it returns at once.
fn open_detached(tx: mpsc::UnboundedSender<Event>, token: Rc<()>) -> SocketSender {
    let mut socket = WebSocket::open(ECHO_URL).unwrap();
    let on_message = tx.clone();
    socket.set_on_open(move || {
        let _ = tx.unbounded_send(Event::Open);
    });
    socket.set_on_message(move |message| {
        let _ = &token;
        let _ = on_message.unbounded_send(Event::Message(message));
    });
    socket.detach()
}

#[wasm_bindgen_test]
async fn a_detached_socket_lives_on_until_it_closes_then_is_released() {
    let (tx, mut rx) = mpsc::unbounded();
    let token = Rc::new(());
    let alive = Rc::downgrade(&token);
    let sender = open_detached(tx, token);
    assert_eq!(within(5_000, rx.next()).await.flatten(), Some(Event::Open));
    for n in 0..3 {
        sender.send_text(&format!("still here {n}")).unwrap();
    }
    for n in 0..3 {
        assert_eq!(
            within(5_000, rx.next()).await.flatten(),
            Some(Event::Message(text(&format!("still here {n}"))))
        );
    }
    assert!(alive.strong_count() > 0, "released while open");
    sender.close().unwrap();
    released(&alive, "the detached socket's handlers").await;
    assert_eq!(sender.ready_state(), ReadyState::Closed);
}

#[wasm_bindgen_test]
async fn a_stream_sink_sends_many_awaited_messages_in_order() {
    // Each `send().await` waits for the browser's buffer to drain; with a fixed timer that
    // cost a timer period per message. 500 in order, each awaited, must all arrive.
    let mut stream = WebSocketStream::open(ECHO_URL).unwrap();
    for n in 0..500 {
        stream.send(text(&n.to_string())).await.unwrap();
    }
    let mut next = 0;
    while next < 500 {
        match within(10_000, stream.next()).await.flatten() {
            Some(Event::Open) => {}
            Some(Event::Message(message)) => {
                assert_eq!(message, text(&next.to_string()));
                next += 1;
            }
            other => panic!("after {next} echoes: {other:?}"),
        }
    }
    stream.close().await.unwrap();
}

#[wasm_bindgen_test]
async fn resilient_events_are_a_stream_that_ends_after_closed() {
    let socket = ResilientSocket::open(ECHO_URL, ResilientOptions::default()).unwrap();
    let mut events = socket.events();
    assert_eq!(
        within(5_000, events.next()).await.flatten(),
        Some(ResilientEvent::Open)
    );
    assert_eq!(socket.send(text("hello")), SendOutcome::Sent);
    assert_eq!(
        within(5_000, events.next()).await.flatten(),
        Some(ResilientEvent::Message(text("hello")))
    );
    socket.close();
    match within(5_000, events.next()).await.flatten() {
        Some(ResilientEvent::Closed(close)) => assert_eq!(close.code, 1000),
        other => panic!("expected Closed, got {other:?}"),
    }
    assert_eq!(within(5_000, events.next()).await, Some(None), "ended");
}

#[wasm_bindgen_test]
async fn a_detached_resilient_socket_lives_on_until_closed_for_good() {
    let token = Rc::new(());
    let alive = Rc::downgrade(&token);
    let (tx, mut rx) = mpsc::unbounded();
    let sender = {
        let socket = ResilientSocket::open(ECHO_URL, ResilientOptions::default()).unwrap();
        socket.set_on_event(move |event| {
            let _ = &token;
            let _ = tx.unbounded_send(event);
        });
        socket.detach()
    };
    // Queued while connecting, sent once open: the socket outlived its scope.
    assert_eq!(sender.send(text("after the scope")), SendOutcome::Queued);
    let mut seen = Vec::new();
    while seen.len() < 2 {
        seen.push(within(5_000, rx.next()).await.flatten().expect("an event"));
    }
    assert_eq!(
        seen,
        [
            ResilientEvent::Open,
            ResilientEvent::Message(text("after the scope"))
        ]
    );
    sender.close();
    released(&alive, "the detached resilient socket").await;
    assert_eq!(sender.send(text("gone")), SendOutcome::Rejected);
}

#[wasm_bindgen_test]
async fn flushed_fails_with_the_unsent_count_when_closed_or_given_up() {
    // Closed for good with two messages still queued (the socket never opened).
    let socket = ResilientSocket::open(ECHO_URL, ResilientOptions::default()).unwrap();
    socket.send(text("one"));
    socket.send(text("two"));
    socket.close();
    assert_eq!(
        socket.flushed().await,
        Err(ResilientError::Closed { unsent: 2 })
    );

    // Nothing listens on the discard port: it gives up with three never sent.
    let options = ResilientOptions {
        reconnect: ReconnectPolicy {
            initial_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(20),
            max_attempts: Some(1),
            ..ReconnectPolicy::default()
        },
        ..ResilientOptions::default()
    };
    let mut socket = ResilientSocket::open("ws://127.0.0.1:9/", options).unwrap();
    for n in 0..3 {
        socket.send(text(&n.to_string()));
    }
    let result = within(10_000, socket.flushed())
        .await
        .expect("gave up in 10 s");
    assert_eq!(result, Err(ResilientError::GaveUp { unsent: 3 }));

    // The Sink says the same, as a real `std::error::Error`.
    let err = SinkExt::send(&mut socket, text("late")).await.unwrap_err();
    let err: &dyn std::error::Error = &err;
    assert!(err.to_string().contains("gave up"), "{err}");
}

#[wasm_bindgen_test]
async fn flushed_succeeds_once_everything_left_even_if_closed_later() {
    let socket = ResilientSocket::open(ECHO_URL, ResilientOptions::default()).unwrap();
    socket.send(text("queued while connecting"));
    within(5_000, socket.flushed())
        .await
        .expect("flushed within 5 s")
        .unwrap();
    socket.close();
    assert_eq!(socket.flushed().await, Ok(()), "nothing was thrown away");
}
