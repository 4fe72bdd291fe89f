//! `ResilientSocket` against the real server: backoff, which closes reconnect, the offline
//! queue under each overflow policy, backpressure, heartbeat, and a real connection drop.
#![cfg(target_arch = "wasm32")]

mod common;

use std::time::Duration;

use common::{drop_connections, echo_url_with, within, ECHO_URL};
use ferrosocket::{
    ConnectionState, Heartbeat, Message, Overflow, QueueLimits, ReconnectPolicy, ResilientEvent,
    ResilientOptions, ResilientSocket, SendOutcome,
};
use futures_channel::mpsc;
use futures_util::StreamExt;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

struct Events(mpsc::UnboundedReceiver<ResilientEvent>);

impl Events {
    async fn next(&mut self) -> ResilientEvent {
        within(10_000, self.0.next())
            .await
            .expect("an event within 10 s")
            .expect("the socket is alive")
    }

    /// Skips events until one matches `wanted`, returning it; fails after 10 s.
    async fn until(&mut self, wanted: impl Fn(&ResilientEvent) -> bool) -> ResilientEvent {
        loop {
            let event = self.next().await;
            if wanted(&event) {
                return event;
            }
        }
    }

    async fn text(&mut self) -> String {
        match self
            .until(|e| matches!(e, ResilientEvent::Message(_)))
            .await
        {
            ResilientEvent::Message(Message::Text(text)) => text,
            other => panic!("expected text, got {other:?}"),
        }
    }

    async fn expect_none(&mut self, ms: u32, what: &str) {
        if let Some(Some(event)) = within(ms, self.0.next()).await {
            panic!("{what}: unexpected {event:?}");
        }
    }
}

fn open(url: &str, options: ResilientOptions) -> (ResilientSocket, Events) {
    let socket = ResilientSocket::open(url, options).unwrap();
    let (tx, rx) = mpsc::unbounded();
    socket.set_on_event(move |event| {
        let _ = tx.unbounded_send(event);
    });
    (socket, Events(rx))
}

fn fast_policy() -> ReconnectPolicy {
    ReconnectPolicy {
        initial_delay: Duration::from_millis(20),
        factor: 2.0,
        max_delay: Duration::from_millis(80),
        max_attempts: Some(4),
        ..ReconnectPolicy::default()
    }
}

fn text(s: &str) -> Message {
    Message::Text(s.into())
}

#[wasm_bindgen_test]
async fn backoff_delays_grow_within_their_caps_then_it_gives_up() {
    let policy = fast_policy();
    // Nothing listens on the discard port: every attempt fails at once.
    let (socket, mut events) = open(
        "ws://127.0.0.1:9/",
        ResilientOptions {
            reconnect: policy.clone(),
            ..Default::default()
        },
    );
    let mut attempts = Vec::new();
    loop {
        match events.next().await {
            ResilientEvent::Reconnecting { attempt, delay } => {
                assert!(
                    delay <= policy.cap(attempt),
                    "attempt {attempt}: {delay:?} over its cap"
                );
                assert_eq!(socket.state(), ConnectionState::Reconnecting { attempt });
                attempts.push(attempt);
            }
            ResilientEvent::Disconnected(close) => assert_eq!(close.code, 1006),
            ResilientEvent::GaveUp => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(attempts, [1, 2, 3, 4]);
    assert_eq!(socket.state(), ConnectionState::GaveUp);
    assert_eq!(socket.send(text("too late")), SendOutcome::Rejected);
    let caps: Vec<u128> = (1..=4).map(|n| policy.cap(n).as_millis()).collect();
    assert_eq!(caps, [20, 40, 80, 80]);
}

#[wasm_bindgen_test]
async fn normal_and_policy_closes_do_not_reconnect_unless_configured() {
    for code in [1000, 1008, 4001] {
        let (socket, mut events) = open(
            &echo_url_with(&format!("close={code}")),
            ResilientOptions {
                reconnect: fast_policy(),
                ..Default::default()
            },
        );
        assert_eq!(events.next().await, ResilientEvent::Open);
        assert!(matches!(events.next().await, ResilientEvent::Disconnected(c) if c.code == code));
        assert!(matches!(events.next().await, ResilientEvent::Closed(c) if c.code == code));
        events.expect_none(200, "after a final close").await;
        assert_eq!(socket.state(), ConnectionState::Closed);
    }
    let eager = ReconnectPolicy {
        after_policy_close: true,
        ..fast_policy()
    };
    let (_socket, mut events) = open(
        &echo_url_with("close=4001"),
        ResilientOptions {
            reconnect: eager,
            ..Default::default()
        },
    );
    events
        .until(|e| matches!(e, ResilientEvent::Reconnecting { attempt: 1, .. }))
        .await;
}

#[wasm_bindgen_test]
async fn abnormal_closes_reconnect() {
    for code in [1001, 1011, 1012, 1013] {
        let (_socket, mut events) = open(
            &echo_url_with(&format!("close={code}")),
            ResilientOptions {
                reconnect: fast_policy(),
                ..Default::default()
            },
        );
        assert_eq!(events.next().await, ResilientEvent::Open);
        assert!(matches!(events.next().await, ResilientEvent::Disconnected(c) if c.code == code));
        assert!(
            matches!(
                events.next().await,
                ResilientEvent::Reconnecting { attempt: 1, .. }
            ),
            "after {code}"
        );
        assert_eq!(
            events.next().await,
            ResilientEvent::Reconnected { attempts: 1 }
        );
    }
}

async fn queue_outcomes(overflow: Overflow) -> (Vec<SendOutcome>, Vec<String>) {
    let options = ResilientOptions {
        queue: QueueLimits {
            max_messages: 3,
            overflow,
            ..QueueLimits::default()
        },
        ..Default::default()
    };
    let (socket, mut events) = open(ECHO_URL, options);
    // Still connecting: everything is queued, within the bounds.
    let outcomes = (1..=5).map(|i| socket.send(text(&i.to_string()))).collect();
    assert_eq!(events.next().await, ResilientEvent::Open);
    // Newer than the queue: goes out after it.
    socket.send(text("newer"));
    let mut received = Vec::new();
    while received.last().map(String::as_str) != Some("newer") {
        received.push(events.text().await);
    }
    (outcomes, received)
}

#[wasm_bindgen_test]
async fn the_offline_queue_rejects_new_messages_when_full_under_reject_new() {
    let (outcomes, received) = queue_outcomes(Overflow::RejectNew).await;
    use SendOutcome::*;
    assert_eq!(outcomes, [Queued, Queued, Queued, Rejected, Rejected]);
    assert_eq!(received, ["1", "2", "3", "newer"]);
}

#[wasm_bindgen_test]
async fn the_offline_queue_drops_the_oldest_when_full_under_drop_oldest() {
    let (outcomes, received) = queue_outcomes(Overflow::DropOldest).await;
    use SendOutcome::*;
    assert_eq!(
        outcomes,
        [
            Queued,
            Queued,
            Queued,
            QueuedDroppingOldest { dropped: 1 },
            QueuedDroppingOldest { dropped: 1 }
        ]
    );
    assert_eq!(received, ["3", "4", "5", "newer"]);
}

#[wasm_bindgen_test]
async fn above_the_high_water_mark_sends_queue_and_flushed_waits_for_the_drain() {
    let options = ResilientOptions {
        high_water_mark: 64 * 1024,
        queue: QueueLimits {
            max_bytes: 4 << 20,
            ..QueueLimits::default()
        },
        ..Default::default()
    };
    let (socket, mut events) = open(ECHO_URL, options);
    assert_eq!(events.next().await, ResilientEvent::Open);
    let chunk = vec![5u8; 256 * 1024];
    let outcomes: Vec<SendOutcome> = (0..8)
        .map(|_| socket.send(Message::Binary(chunk.clone())))
        .collect();
    assert_eq!(outcomes[0], SendOutcome::Sent);
    assert!(
        outcomes[1..].iter().all(|o| *o == SendOutcome::Queued),
        "{outcomes:?}"
    );
    assert!(socket.queued() > 0);
    socket.flushed().await.unwrap();
    assert_eq!((socket.queued(), socket.buffered_amount()), (0, 0));
    for _ in 0..8 {
        let event = events
            .until(|e| matches!(e, ResilientEvent::Message(_)))
            .await;
        assert_eq!(
            event,
            ResilientEvent::Message(Message::Binary(chunk.clone()))
        );
    }
}

fn heartbeat() -> Heartbeat {
    Heartbeat {
        interval: Duration::from_millis(100),
        timeout: Duration::from_millis(200),
        ping: text("ping"),
    }
}

#[wasm_bindgen_test]
async fn a_peer_that_stops_answering_is_declared_dead_and_reconnected() {
    let options = ResilientOptions {
        heartbeat: Some(heartbeat()),
        reconnect: fast_policy(),
        ..Default::default()
    };
    let (_socket, mut events) = open(&echo_url_with("mute=1"), options);
    assert_eq!(events.next().await, ResilientEvent::Open);
    match events.next().await {
        ResilientEvent::Disconnected(close) => assert_eq!(
            (close.code, close.reason.as_str()),
            (1006, "heartbeat timeout")
        ),
        other => panic!("expected a heartbeat timeout, got {other:?}"),
    }
    let next = events.next().await;
    assert!(
        matches!(next, ResilientEvent::Reconnecting { attempt: 1, .. }),
        "{next:?}"
    );
    assert_eq!(
        events.next().await,
        ResilientEvent::Reconnected { attempts: 1 }
    );
}

#[wasm_bindgen_test]
async fn an_answering_peer_keeps_the_connection() {
    // A generous timeout: a loaded machine may take a while to answer, and a false timeout
    // here is exactly what the test must catch.
    let options = ResilientOptions {
        heartbeat: Some(Heartbeat {
            timeout: Duration::from_secs(5),
            ..heartbeat()
        }),
        ..Default::default()
    };
    let (socket, mut events) = open(ECHO_URL, options);
    assert_eq!(events.next().await, ResilientEvent::Open);
    // The echo answers each ping; over several intervals the only events are the pings
    // coming back: no disconnect, no reconnect in between.
    for _ in 0..5 {
        assert_eq!(events.next().await, ResilientEvent::Message(text("ping")));
    }
    assert_eq!(socket.state(), ConnectionState::Open);
}

#[wasm_bindgen_test]
async fn a_dropped_connection_comes_back_and_sends_what_was_queued_meanwhile_in_order() {
    let options = ResilientOptions {
        reconnect: ReconnectPolicy {
            max_attempts: None,
            ..fast_policy()
        },
        ..Default::default()
    };
    let (socket, mut events) = open(ECHO_URL, options);
    assert_eq!(events.next().await, ResilientEvent::Open);
    socket.send(text("before"));
    assert_eq!(events.text().await, "before");

    // Long enough that the sends below fall in the outage however late this test runs (the
    // events it waits on may have been queued long before).
    drop_connections(3_000).await;
    assert!(matches!(events.next().await, ResilientEvent::Disconnected(c) if c.code == 1006));
    for i in 0..3 {
        assert_eq!(
            socket.send(text(&format!("during {i}"))),
            SendOutcome::Queued
        );
    }
    events
        .until(|e| matches!(e, ResilientEvent::Reconnected { .. }))
        .await;
    socket.send(text("after"));
    for expected in ["during 0", "during 1", "during 2", "after"] {
        assert_eq!(events.text().await, expected);
    }
}

#[wasm_bindgen_test]
async fn the_window_coming_online_reconnects_at_once_instead_of_waiting_out_the_backoff() {
    let options = ResilientOptions {
        reconnect: ReconnectPolicy {
            initial_delay: Duration::from_secs(3_600),
            max_delay: Duration::from_secs(3_600),
            ..ReconnectPolicy::default()
        },
        ..Default::default()
    };
    // Full jitter may draw a short first delay (below 20 s once in 180): drawn again then.
    let (socket, mut events, dropped_at, delay) = loop {
        let (socket, mut events) = open(ECHO_URL, options.clone());
        assert_eq!(events.next().await, ResilientEvent::Open);
        let dropped_at = js_sys::Date::now();
        drop_connections(200).await;
        match events
            .until(|e| matches!(e, ResilientEvent::Reconnecting { .. }))
            .await
        {
            ResilientEvent::Reconnecting { attempt: 1, delay }
                if delay >= Duration::from_secs(20) =>
            {
                break (socket, events, dropped_at, delay)
            }
            ResilientEvent::Reconnecting { attempt: 1, .. } => socket.close(),
            other => panic!("expected the first attempt's wait, got {other:?}"),
        }
    };
    // The outage (200 ms) ends meanwhile; the socket keeps waiting out its backoff.
    events
        .expect_none(1_000, "before the window came online")
        .await;
    assert!(matches!(
        socket.state(),
        ConnectionState::Reconnecting { .. }
    ));

    let window = web_sys::window().unwrap();
    window
        .dispatch_event(&web_sys::Event::new("online").unwrap())
        .unwrap();
    assert_eq!(
        events.next().await,
        ResilientEvent::Reconnected { attempts: 1 }
    );
    let took = js_sys::Date::now() - dropped_at;
    assert!(
        took < delay.as_millis() as f64,
        "reconnected {took} ms after the drop, not before the backoff of {delay:?}"
    );
    socket.send(text("back"));
    assert_eq!(events.text().await, "back");
}
