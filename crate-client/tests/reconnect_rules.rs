//! `ResilientSocket`'s rules for when to reconnect, against the real server: a flapping
//! server meets growing delays (minimum uptime), a stalled handshake is given up on
//! (connect timeout), and the application may decide per close (`set_should_reconnect`).
#![cfg(target_arch = "wasm32")]

mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use common::{echo_url_with, http_base, until_accepting, within};
use ferrosocket::{
    ConnectionState, ReconnectPolicy, ResilientEvent, ResilientOptions, ResilientSocket,
};
use futures_util::StreamExt;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// A server that accepts every connection and closes it at once with 1011.
fn flapping_url() -> String {
    echo_url_with("close=1011&reason=flap")
}

fn quick(min_uptime: Duration, max_attempts: u32) -> ResilientOptions {
    ResilientOptions {
        reconnect: ReconnectPolicy {
            initial_delay: Duration::from_millis(10),
            factor: 2.0,
            max_delay: Duration::from_millis(40),
            max_attempts: Some(max_attempts),
            min_uptime,
            ..ReconnectPolicy::default()
        },
        ..ResilientOptions::default()
    }
}

/// Collects events until `GaveUp`, `Closed`, or `limit` events.
async fn events_until_the_end(socket: &ResilientSocket, limit: usize) -> Vec<ResilientEvent> {
    let mut events = socket.events();
    let mut seen = Vec::new();
    while seen.len() < limit {
        match within(20_000, events.next()).await {
            Some(Some(event)) => {
                let end = matches!(event, ResilientEvent::GaveUp | ResilientEvent::Closed(_));
                seen.push(event);
                if end {
                    break;
                }
            }
            Some(None) => break,
            None => panic!("no event within 20 s; so far {seen:?}"),
        }
    }
    seen
}

/// The attempt numbers of the `Reconnecting` events, in order.
fn attempts_of(events: &[ResilientEvent]) -> Vec<u32> {
    events
        .iter()
        .filter_map(|event| match event {
            ResilientEvent::Reconnecting { attempt, .. } => Some(*attempt),
            _ => None,
        })
        .collect()
}

#[wasm_bindgen_test]
async fn a_server_that_accepts_and_closes_at_once_is_not_retried_in_a_storm() {
    until_accepting().await;
    // Every connection opens and dies well inside the minimum uptime: the attempts keep
    // counting (so the delays keep growing) and the policy's limit is reached.
    let socket = ResilientSocket::open(&flapping_url(), quick(Duration::from_secs(30), 4)).unwrap();
    let events = events_until_the_end(&socket, 100).await;
    let attempts = attempts_of(&events);
    assert_eq!(attempts, [1, 2, 3, 4], "{events:?}");
    assert_eq!(events.last(), Some(&ResilientEvent::GaveUp), "{events:?}");
    assert!(
        events.contains(&ResilientEvent::Reconnected { attempts: 3 }),
        "the count runs on across short-lived connections: {events:?}"
    );
}

#[wasm_bindgen_test]
async fn a_connection_that_stayed_up_long_enough_starts_the_backoff_over() {
    until_accepting().await;
    // The control: with no minimum uptime every open connection counts as stable, so each
    // reconnect is attempt 1 again and the limit of 4 is never reached.
    let socket = ResilientSocket::open(&flapping_url(), quick(Duration::ZERO, 4)).unwrap();
    let events = events_until_the_end(&socket, 40).await;
    let attempts = attempts_of(&events);
    assert!(attempts.len() >= 6, "{events:?}");
    assert!(attempts.iter().all(|&attempt| attempt == 1), "{attempts:?}");
    assert!(!events.contains(&ResilientEvent::GaveUp));
    socket.close();
}

#[wasm_bindgen_test]
async fn a_handshake_that_stalls_is_given_up_on_after_the_connect_timeout() {
    until_accepting().await;
    // `/test/hang` holds the handshake for 20 s; the timeout is 300 ms.
    let url = format!(
        "{}/test/hang?ms=20000",
        http_base().replacen("http", "ws", 1)
    );
    let options = ResilientOptions {
        connect_timeout: Some(Duration::from_millis(300)),
        ..quick(Duration::from_secs(5), 2)
    };
    let socket = ResilientSocket::open(&url, options).unwrap();
    let events = events_until_the_end(&socket, 20).await;
    let timeouts = events
        .iter()
        .filter(|event| {
            matches!(event, ResilientEvent::Disconnected(close)
                if close.code == 1006 && close.reason == "connect timeout")
        })
        .count();
    // The first connection and both retries each time out; then it gives up, long
    // before the 20 s the server would have held each one.
    assert_eq!(timeouts, 3, "{events:?}");
    assert_eq!(events.last(), Some(&ResilientEvent::GaveUp));
    assert_eq!(socket.state(), ConnectionState::GaveUp);
}

#[wasm_bindgen_test]
async fn the_application_decides_whether_to_reconnect_after_each_close() {
    until_accepting().await;
    // 1011 would be retried by the close-code rules; the predicate says no, and sees the
    // close it decides on.
    let socket = ResilientSocket::open(&flapping_url(), quick(Duration::ZERO, 10)).unwrap();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let record = Rc::clone(&seen);
    socket.set_should_reconnect(move |close| {
        record.borrow_mut().push((close.code, close.reason.clone()));
        false
    });
    let events = events_until_the_end(&socket, 20).await;
    assert!(
        matches!(events.last(), Some(ResilientEvent::Closed(close)) if close.code == 1011),
        "{events:?}"
    );
    assert_eq!(*seen.borrow(), [(1011, "flap".to_owned())]);
    assert!(!events
        .iter()
        .any(|event| matches!(event, ResilientEvent::Reconnecting { .. })));
}
