//! `ChatSession` against the real server: two sessions keep talking through a real
//! connection drop, and each sees every message of the other exactly once, in order.
#![cfg(target_arch = "wasm32")]

mod common;

use std::time::Duration;

use common::{chat_url, drop_connections, unique, within};
use ferrosocket::chat::{ChatEvent, ChatOptions, ChatSession, ErrorCode};
use ferrosocket::{ReconnectPolicy, ResilientEvent, ResilientOptions, SendOutcome};
use futures_channel::mpsc;
use futures_util::StreamExt;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

struct Chat {
    session: ChatSession,
    events: mpsc::UnboundedReceiver<ChatEvent>,
}

impl Chat {
    fn connect(nick: &str) -> Chat {
        Chat::connect_with(nick, |_| {})
    }

    fn connect_with(nick: &str, adjust: impl FnOnce(&mut ChatOptions)) -> Chat {
        let mut options = ChatOptions {
            nick: Some(nick.to_owned()),
            connection: ResilientOptions {
                reconnect: ReconnectPolicy {
                    initial_delay: Duration::from_millis(50),
                    max_delay: Duration::from_millis(200),
                    ..ReconnectPolicy::default()
                },
                ..ResilientOptions::default()
            },
            ..ChatOptions::default()
        };
        adjust(&mut options);
        let session = ChatSession::connect(&chat_url(), options).unwrap();
        let (tx, events) = mpsc::unbounded();
        session.set_on_event(move |event| {
            let _ = tx.unbounded_send(event);
        });
        Chat { session, events }
    }

    async fn until(&mut self, wanted: impl Fn(&ChatEvent) -> bool) -> ChatEvent {
        loop {
            let event = within(10_000, self.events.next())
                .await
                .expect("an event within 10 s")
                .expect("the session is alive");
            if wanted(&event) {
                return event;
            }
        }
    }

    async fn joined(&mut self, room: &str) {
        self.session.join(room);
        self.until(|e| matches!(e, ChatEvent::Joined { room: r, .. } if r == room))
            .await;
    }
}

/// Collects, until `count` arrive, the texts of messages from others in `room` and the
/// sequence numbers of this session's own confirmed sends there.
async fn collect(
    chat: &mut Chat,
    room: &str,
    count: usize,
    sent: &mut Vec<u64>,
) -> Vec<(u64, String)> {
    let mut received = Vec::new();
    while received.len() < count {
        match chat
            .until(|e| matches!(e, ChatEvent::Message { .. } | ChatEvent::Sent { .. }))
            .await
        {
            ChatEvent::Message { room: r, entry } if r == room => {
                received.push((entry.seq, entry.text))
            }
            ChatEvent::Sent { room: r, seq, .. } if r == room => sent.push(seq),
            _ => {}
        }
    }
    received
}

#[wasm_bindgen_test]
async fn both_sides_see_every_message_exactly_once_in_order_across_a_drop() {
    let room = unique("resume");
    let mut ada = Chat::connect(&unique("ada"));
    let mut bob = Chat::connect(&unique("bob"));
    ada.joined(&room).await;
    bob.joined(&room).await;

    for i in 0..5 {
        ada.session.send(&room, &format!("ada {i}"));
        bob.session.send(&room, &format!("bob {i}"));
    }
    // Everything before this point reached the server.
    let (mut ada_sent, mut bob_sent) = (Vec::new(), Vec::new());
    let bob_got = collect(&mut bob, &room, 5, &mut bob_sent).await;
    let ada_got = collect(&mut ada, &room, 5, &mut ada_sent).await;

    drop_connections(300).await;
    // Sent while the server refuses connections: queued, then delivered after the reconnect.
    for i in 5..10 {
        let (_, outcome) = ada.session.send(&room, &format!("ada {i}"));
        assert_ne!(outcome, SendOutcome::Rejected);
        bob.session.send(&room, &format!("bob {i}"));
    }
    let bob_got: Vec<_> = bob_got
        .into_iter()
        .chain(collect(&mut bob, &room, 5, &mut bob_sent).await)
        .collect();
    let ada_got: Vec<_> = ada_got
        .into_iter()
        .chain(collect(&mut ada, &room, 5, &mut ada_sent).await)
        .collect();

    let texts = |got: &[(u64, String)]| got.iter().map(|(_, t)| t.clone()).collect::<Vec<_>>();
    let expected = |who: &str| (0..10).map(|i| format!("{who} {i}")).collect::<Vec<_>>();
    assert_eq!(
        texts(&bob_got),
        expected("ada"),
        "bob sees each of ada's messages once, in order"
    );
    assert_eq!(
        texts(&ada_got),
        expected("bob"),
        "ada sees each of bob's messages once, in order"
    );
    let seqs = |got: &[(u64, String)]| got.iter().map(|(s, _)| *s).collect::<Vec<_>>();
    assert!(seqs(&bob_got).windows(2).all(|w| w[0] < w[1]));
    assert!(seqs(&ada_got).windows(2).all(|w| w[0] < w[1]));

    // Wait for every acknowledgement; then the two views add up to one sequence 1..=20.
    while ada.session.unacknowledged() > 0 || ada_sent.len() < 10 {
        if let ChatEvent::Sent { seq, .. } =
            ada.until(|e| matches!(e, ChatEvent::Sent { .. })).await
        {
            ada_sent.push(seq);
        }
    }
    while bob.session.unacknowledged() > 0 || bob_sent.len() < 10 {
        if let ChatEvent::Sent { seq, .. } =
            bob.until(|e| matches!(e, ChatEvent::Sent { .. })).await
        {
            bob_sent.push(seq);
        }
    }
    let mut all: Vec<u64> = ada_sent.iter().chain(&seqs(&ada_got)).copied().collect();
    all.sort();
    assert_eq!(
        all,
        (1..=20).collect::<Vec<u64>>(),
        "no message lost or duplicated"
    );
    assert_eq!(ada.session.last_seq(&room), Some(20));
}

#[wasm_bindgen_test]
async fn the_session_reports_reconnection_and_keeps_its_nickname() {
    let nick = unique("carol");
    let mut carol = Chat::connect(&nick);
    carol.until(|e| matches!(e, ChatEvent::Nick { .. })).await;
    drop_connections(100).await;
    carol
        .until(|e| {
            matches!(
                e,
                ChatEvent::Connection(ResilientEvent::Reconnecting { .. })
            )
        })
        .await;
    carol
        .until(|e| matches!(e, ChatEvent::Connection(ResilientEvent::Reconnected { .. })))
        .await;
    match carol.until(|e| matches!(e, ChatEvent::Nick { .. })).await {
        ChatEvent::Nick { nick: again } => assert_eq!(again, nick),
        _ => unreachable!(),
    }
    assert_eq!(carol.session.nick(), nick);
}

#[wasm_bindgen_test]
async fn a_refused_send_is_reported_and_forgotten() {
    let mut dave = Chat::connect(&unique("dave"));
    dave.until(|e| matches!(e, ChatEvent::Nick { .. })).await;
    let (id, _) = dave.session.send("not-joined-room", "hello?");
    match dave.until(|e| matches!(e, ChatEvent::Error { .. })).await {
        ChatEvent::Error {
            code, reference, ..
        } => {
            assert_eq!((code, reference), (ErrorCode::NotJoined, Some(id)));
        }
        _ => unreachable!(),
    }
    assert_eq!(dave.session.unacknowledged(), 0);
}

/// An event's `data` goes out as the text given (the server writes it compactly) and
/// arrives as text; text that is not JSON is refused at once, naming the problem, and
/// nothing is sent.
#[wasm_bindgen_test]
async fn event_data_is_text_end_to_end_and_bad_json_is_refused_before_sending() {
    let room = unique("events");
    let mut ada = Chat::connect(&unique("ada"));
    let mut bob = Chat::connect(&unique("bob"));
    ada.joined(&room).await;
    bob.joined(&room).await;
    for (bad, problem) in [
        ("{active: true}", "expected a member name at byte 1"),
        ("[1, 2", "expected `,` or `]` at byte 5"),
        ("", "unexpected end of JSON at byte 0"),
        ("1 2", "trailing characters at byte 2"),
        (r#""\udc00""#, "lone trailing surrogate"),
    ] {
        let err = ada.session.emit(&room, "bad", bad).unwrap_err();
        assert!(
            err.to_string().starts_with("the event data is not JSON: ")
                && err.to_string().contains(problem),
            "{bad:?}: {err}"
        );
    }
    let sent = r#" { "z": [1.5e-7, -0.0, 1e21], "a": "\u00e9 \"q\"" } "#;
    assert_eq!(
        ada.session.emit(&room, "cursor", sent),
        Ok(SendOutcome::Sent)
    );
    match bob.until(|e| matches!(e, ChatEvent::Event { .. })).await {
        ChatEvent::Event {
            event, data, from, ..
        } => {
            // The first event Bob sees is the good one: the refused ones never left.
            assert_eq!((event.as_str(), from), ("cursor", ada.session.nick()));
            // The server read the value and wrote it compactly, keys in order.
            assert_eq!(data, r#"{"a":"é \"q\"","z":[1.5e-7,-0.0,1e+21]}"#);
        }
        _ => unreachable!(),
    }
}

#[wasm_bindgen_test]
async fn history_replayed_on_reconnect_is_not_delivered_twice() {
    let tag = unique("lobby-line");
    let mut ada = Chat::connect(&unique("ada"));
    let mut bob = Chat::connect(&unique("bob"));
    for chat in [&mut ada, &mut bob] {
        chat.until(|e| matches!(e, ChatEvent::Nick { .. })).await;
    }
    // Every line of ours that bob is shown in the lobby, as a message or as history.
    async fn lines_seen(bob: &mut Chat, tag: &str, until_line: &str) -> Vec<String> {
        let mut seen = Vec::new();
        while !seen.iter().any(|l: &String| l == until_line) {
            let event = bob
                .until(|e| matches!(e, ChatEvent::Message { .. } | ChatEvent::Joined { .. }))
                .await;
            let entries = match event {
                ChatEvent::Message { room, entry } if room == "lobby" => vec![entry],
                ChatEvent::Joined { room, history, .. } if room == "lobby" => history,
                _ => vec![],
            };
            seen.extend(
                entries
                    .into_iter()
                    .map(|e| e.text)
                    .filter(|t| t.starts_with(tag)),
            );
        }
        seen
    }
    for i in 0..3 {
        ada.session.send("lobby", &format!("{tag} {i}"));
    }
    let mut seen = lines_seen(&mut bob, &tag, &format!("{tag} 2")).await;
    // On reconnect the server puts both back in the lobby and sends its history again.
    drop_connections(100).await;
    bob.until(|e| matches!(e, ChatEvent::Connection(ResilientEvent::Reconnected { .. })))
        .await;
    ada.until(|e| matches!(e, ChatEvent::Connection(ResilientEvent::Reconnected { .. })))
        .await;
    ada.session.send("lobby", &format!("{tag} 3"));
    seen.extend(lines_seen(&mut bob, &tag, &format!("{tag} 3")).await);
    let expected: Vec<String> = (0..4).map(|i| format!("{tag} {i}")).collect();
    assert_eq!(seen, expected);
}

#[wasm_bindgen_test]
async fn a_send_refused_as_unavailable_is_kept_and_delivered_once_later() {
    let room = unique("busy");
    let mut ada = Chat::connect(&unique("ada"));
    let mut bob = Chat::connect(&unique("bob"));
    ada.joined(&room).await;
    bob.joined(&room).await;
    common::refuse_sends(1_500).await;
    let (id, _) = ada.session.send(&room, "while the backplane is down");
    match ada.until(|e| matches!(e, ChatEvent::Error { .. })).await {
        ChatEvent::Error {
            code, reference, ..
        } => {
            assert_eq!(
                (code, reference.as_deref()),
                (ErrorCode::Unavailable, Some(id.as_str()))
            );
        }
        _ => unreachable!(),
    }
    assert_eq!(ada.session.unacknowledged(), 1, "kept, not dropped");
    // Retried every second until the server takes it, then confirmed and delivered once.
    match ada.until(|e| matches!(e, ChatEvent::Sent { .. })).await {
        ChatEvent::Sent { id: sent, seq, .. } => assert_eq!((sent, seq), (id, 1)),
        _ => unreachable!(),
    }
    match bob.until(|e| matches!(e, ChatEvent::Message { .. })).await {
        ChatEvent::Message { entry, .. } => assert_eq!(entry.text, "while the backplane is down"),
        _ => unreachable!(),
    }
    let again = Box::pin(bob.until(|e| matches!(e, ChatEvent::Message { .. })));
    assert!(within(500, again).await.is_none(), "delivered twice");
}

#[wasm_bindgen_test]
async fn a_thousand_lines_sent_offline_arrive_once_in_order_paced_with_no_refusal() {
    const LINES: usize = 1_000;
    let room = unique("flood");
    let mut ada = Chat::connect(&unique("ada"));
    let mut bob = Chat::connect(&unique("bob"));
    ada.joined(&room).await;
    bob.joined(&room).await;
    // Long enough that the lines below are sent offline however late this test runs.
    drop_connections(3_000).await;
    ada.until(|e| matches!(e, ChatEvent::Connection(ResilientEvent::Disconnected(_))))
        .await;
    for i in 0..LINES {
        let (_, outcome) = ada.session.send(&room, &format!("line {i}"));
        assert_eq!(outcome, SendOutcome::Queued, "line {i} kept while offline");
    }
    assert_eq!(ada.session.unacknowledged(), LINES);
    assert_eq!(
        ada.session.connection().queued(),
        0,
        "the connection keeps no second copy"
    );

    // Bob sees every line once, in the order sent (the server's rate is 20/s: a minute).
    let mut texts = Vec::new();
    let mut seqs = Vec::new();
    while texts.len() < LINES {
        if let ChatEvent::Message { room: r, entry } =
            bob.until(|e| matches!(e, ChatEvent::Message { .. })).await
        {
            if r == room {
                texts.push(entry.text);
                seqs.push(entry.seq);
            }
        }
    }
    let expected: Vec<String> = (0..LINES).map(|i| format!("line {i}")).collect();
    assert_eq!(texts, expected, "every line once, in send order");
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));

    // Ada: every line acknowledged, none failed, and the pace meant no refusal at all.
    let mut acknowledged = 0;
    while acknowledged < LINES {
        match ada
            .until(|e| {
                matches!(
                    e,
                    ChatEvent::Sent { .. } | ChatEvent::Failed { .. } | ChatEvent::Error { .. }
                )
            })
            .await
        {
            ChatEvent::Sent { .. } => acknowledged += 1,
            other => panic!("expected only acknowledgements, got {other:?}"),
        }
    }
    assert_eq!(ada.session.unacknowledged(), 0);
    let extra = Box::pin(bob.until(|e| matches!(e, ChatEvent::Message { .. })));
    assert!(within(500, extra).await.is_none(), "a line delivered twice");
}

#[wasm_bindgen_test]
async fn a_line_past_its_deadline_while_offline_fails_with_a_reason_and_the_next_goes_on() {
    let room = unique("deadline");
    let mut ada = Chat::connect_with(&unique("ada"), |options| {
        options.line_deadline = Some(Duration::from_millis(300));
    });
    let mut bob = Chat::connect(&unique("bob"));
    ada.joined(&room).await;
    bob.joined(&room).await;
    // The outage outlasts the 300 ms deadline many times over, even on a loaded machine.
    drop_connections(5_000).await;
    ada.until(|e| matches!(e, ChatEvent::Connection(ResilientEvent::Disconnected(_))))
        .await;
    let (late, outcome) = ada.session.send(&room, "too late");
    assert_eq!(outcome, SendOutcome::Queued);
    match ada.until(|e| matches!(e, ChatEvent::Failed { .. })).await {
        ChatEvent::Failed {
            id,
            room: r,
            reason,
        } => {
            assert_eq!((id, r), (late, room.clone()));
            assert!(reason.contains("not sent"), "{reason}");
        }
        _ => unreachable!(),
    }
    assert_eq!(ada.session.unacknowledged(), 0);
    // After the reconnect, a new line is numbered and delivered as usual.
    ada.until(|e| matches!(e, ChatEvent::Connection(ResilientEvent::Reconnected { .. })))
        .await;
    let (next, _) = ada.session.send(&room, "on time");
    match ada.until(|e| matches!(e, ChatEvent::Sent { .. })).await {
        ChatEvent::Sent { id, .. } => assert_eq!(id, next),
        _ => unreachable!(),
    }
    match bob
        .until(|e| matches!(e, ChatEvent::Message { room: r, .. } if *r == room))
        .await
    {
        ChatEvent::Message { entry, .. } => {
            assert_eq!(entry.text, "on time", "the failed line never arrives")
        }
        _ => unreachable!(),
    }
}

/// The application hears of a connection change before what the session makes of it: when
/// the connection gives up, `Connection(GaveUp)` comes before the `Failed` of each line that
/// was still waiting, and each line fails exactly once, saying why.
#[wasm_bindgen_test]
async fn a_give_up_is_reported_before_the_lines_it_fails() {
    // Nothing listens on port 1: the first attempt fails, and one attempt is all it may make.
    let options = ChatOptions {
        nick: Some("nobody".to_owned()),
        connection: ResilientOptions {
            reconnect: ReconnectPolicy {
                initial_delay: Duration::from_millis(10),
                max_attempts: Some(1),
                ..ReconnectPolicy::default()
            },
            ..ResilientOptions::default()
        },
        ..ChatOptions::default()
    };
    let session = ChatSession::connect("ws://127.0.0.1:1/chat", options).unwrap();
    let (tx, mut events) = mpsc::unbounded();
    session.set_on_event(move |event| {
        let _ = tx.unbounded_send(event);
    });
    let ids: Vec<String> = ["one", "two"]
        .into_iter()
        .map(|text| session.send("lobby", text).0)
        .collect();
    let mut seen = Vec::new();
    while seen
        .iter()
        .filter(|e| matches!(e, ChatEvent::Failed { .. }))
        .count()
        < ids.len()
    {
        let event = within(10_000, events.next())
            .await
            .expect("an event within 10 s")
            .expect("the session is alive");
        seen.push(event);
    }
    let gave_up = seen
        .iter()
        .position(|e| matches!(e, ChatEvent::Connection(ResilientEvent::GaveUp)))
        .unwrap_or_else(|| panic!("no GaveUp before the lines failed: {seen:?}"));
    let failed: Vec<(usize, &String, &String)> = seen
        .iter()
        .enumerate()
        .filter_map(|(at, e)| match e {
            ChatEvent::Failed { id, reason, .. } => Some((at, id, reason)),
            _ => None,
        })
        .collect();
    assert_eq!(
        failed
            .iter()
            .map(|(_, id, _)| (*id).clone())
            .collect::<Vec<_>>(),
        ids,
        "each line fails once, in order: {seen:?}"
    );
    for (at, _, reason) in failed {
        assert!(
            at > gave_up,
            "a line failed before the GaveUp that failed it: {seen:?}"
        );
        assert!(reason.contains("gave up"), "{reason}");
    }
}
