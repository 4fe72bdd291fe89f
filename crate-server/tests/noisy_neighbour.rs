//! The noisy-neighbour suite (issue 17). For each hostile behaviour, ten honest `chat.v1`
//! clients share a room (and the lobby) with the attacker on a server with the default
//! limits. After the attack all ten are still connected, all receive a fresh line, a
//! newcomer can join and create a room, and the process's memory stayed under the bound
//! stated in docs/HARDENING.md ([`Budgets::connection_memory_bound`] per connection end).
//!
//! The server runs in this process, so the memory measured is the server's plus the
//! clients'; the tests run one at a time (`common::noisy::serial`).

mod common;

use std::time::Duration;

use common::chat::ChatClient;
use common::noisy::{draining, send, serial, Neighbourhood, ROOM};
use common::raw::{frame, BINARY, FIN, TEXT};
use ferrosocket_wire::chat::{ErrorCode, ServerEnvelope};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::{sleep, timeout};
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// The memory of `n` attacking connections at their worst, both ends counted.
fn attackers(hood: &Neighbourhood, n: usize) -> usize {
    2 * n * hood.budgets.connection_memory_bound()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_line_of_175_kib_of_control_characters_reaches_nobody() {
    let _serial = serial().await;
    let mut hood = Neighbourhood::start().await;
    let (mut plain, _) = connect_async(format!("ws://{}/chat", hood.addr))
        .await
        .unwrap();
    // Six times larger once JSON-escaped than under the old outbound budget.
    let line = "\u{1}".repeat(175 * 1024);
    for _ in 0..3 {
        plain.send(Message::text(line.clone())).await.unwrap();
    }
    let mut notices = 0;
    while notices < 3 {
        match timeout(Duration::from_secs(10), plain.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => {
                if text.starts_with("* your message is 179200 bytes, over the 16384-byte limit") {
                    notices += 1;
                }
            }
            Ok(Some(Ok(_))) => {}
            other => panic!("the plain client was not told its line was too long: {other:?}"),
        }
    }
    hood.assert_unharmed(
        "a plain line of 175 KiB of control characters",
        attackers(&hood, 1),
    )
    .await;
    for honest in &mut hood.honest {
        assert_eq!(honest.long_lines("lobby"), 0, "nothing of it was broadcast");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_lines_at_the_limit_full_of_control_characters_harm_nobody() {
    let _serial = serial().await;
    let mut hood = Neighbourhood::start().await;
    let mut attacker = draining(hood.addr).await;
    send(&mut attacker, json!({"type": "join", "rooms": [ROOM]})).await;
    let line = "\u{1}".repeat(hood.budgets.max_text_bytes);
    // A whole burst at once, then the sustained rate, to both shared rooms.
    for i in 0..60 {
        let room = if i % 2 == 0 { "lobby" } else { ROOM };
        send(
            &mut attacker,
            json!({"type": "send", "room": room, "text": line, "id": format!("a{i}")}),
        )
        .await;
        if i >= 40 {
            sleep(Duration::from_millis(55)).await;
        }
    }
    hood.assert_unharmed(
        "lines at the limit full of control characters",
        attackers(&hood, 1),
    )
    .await;
    for honest in &mut hood.honest {
        // Within the limits, the first ones are delivered; the rest wait for the byte rate.
        let delivered = honest.long_lines(ROOM) + honest.long_lines("lobby");
        assert!(
            delivered >= 2,
            "{} saw {delivered} of the lines",
            honest.nick
        );
    }
    // A newcomer's lobby history holds such lines: its `joined` still fits.
    let mut newcomer = ChatClient::connect(hood.addr).await;
    newcomer.sync().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_with_a_huge_room_list_harms_nobody() {
    let _serial = serial().await;
    let mut hood = Neighbourhood::start().await;
    let mut attacker = ChatClient::connect(hood.addr).await;
    let rooms: Vec<String> = (0..60_000).map(|i| format!("j{i}")).collect();
    attacker.send(json!({"type": "join", "rooms": rooms})).await;
    // It never reads its answers.
    hood.assert_unharmed("a join of 60,000 rooms", attackers(&hood, 1))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_churn_does_not_use_up_the_room_table() {
    let _serial = serial().await;
    let mut hood = Neighbourhood::start().await;
    let mut tasks = Vec::new();
    for a in 0..6 {
        let mut attacker = draining(hood.addr).await;
        tasks.push(tokio::spawn(async move {
            let start = tokio::time::Instant::now();
            let mut batch = 0;
            while start.elapsed() < Duration::from_secs(10) {
                let rooms: Vec<String> =
                    (0..31).map(|i| format!("churn-{a}-{batch}-{i}")).collect();
                send(&mut attacker, json!({"type": "join", "rooms": rooms})).await;
                sleep(Duration::from_millis(55)).await;
                send(&mut attacker, json!({"type": "leave", "rooms": rooms})).await;
                sleep(Duration::from_millis(55)).await;
                batch += 1;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    hood.assert_unharmed(
        "6 connections joining and leaving new rooms for 10 s",
        attackers(&hood, 6),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_clients_that_never_read_harm_nobody() {
    let _serial = serial().await;
    let mut hood = Neighbourhood::start().await;
    let mut silent = Vec::new();
    for _ in 0..4 {
        let mut attacker = ChatClient::connect(hood.addr).await;
        attacker
            .send(json!({"type": "join", "rooms": [ROOM]}))
            .await;
        for i in 0..30 {
            attacker
                .send(json!({"type": "send", "room": ROOM, "text": "never reading", "id": i.to_string()}))
                .await;
        }
        silent.push(attacker);
    }
    for _ in 0..3 {
        // Plain clients in the lobby.
        silent.push(ChatClient {
            ws: connect_async(format!("ws://{}/chat", hood.addr))
                .await
                .unwrap()
                .0,
            nick: String::new(),
        });
    }
    // Someone talks a lot, within the limits: every silent queue overflows.
    let line = "\u{1}".repeat(hood.budgets.max_text_bytes);
    for i in 0..40 {
        let room = if i % 2 == 0 { "lobby" } else { ROOM };
        hood.honest[0]
            .send(json!({"type": "send", "room": room, "text": line, "id": format!("big-{i}")}))
            .await;
    }
    hood.assert_unharmed("7 chat clients that never read", attackers(&hood, 7))
        .await;
    drop(silent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_clients_that_send_and_never_read_hold_only_their_budget() {
    let _serial = serial().await;
    let mut hood = Neighbourhood::start().await;
    let payload = vec![0x42; 1_000_000];
    let big = frame(FIN | BINARY, &payload, true);
    let mut writers = Vec::new();
    for _ in 0..2 {
        let mut stream = common::raw::handshake(hood.addr, "/echo").await;
        let big = big.clone();
        writers.push(tokio::spawn(async move {
            // Up to 200 MB, until the server stops taking them.
            for _ in 0..200 {
                match timeout(Duration::from_secs(3), stream.write_all(&big)).await {
                    Ok(Ok(())) => {}
                    _ => break,
                }
            }
            stream
        }));
    }
    let mut held = Vec::new();
    for writer in writers {
        held.push(writer.await.unwrap());
    }
    hood.assert_unharmed(
        "2 /echo clients that send and never read",
        attackers(&hood, 2),
    )
    .await;
    drop(held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_connections_before_the_upgrade_harms_nobody() {
    let _serial = serial().await;
    let mut hood = Neighbourhood::start().await;
    let addr = hood.addr;
    let mut flood = Vec::new();
    for i in 0..2_000u32 {
        // From other loopback addresses, as from another machine.
        let source = std::net::SocketAddr::from(([127, 0, 1, 1 + (i % 50) as u8], 0));
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind(source).unwrap();
        let Ok(mut stream) = socket.connect(addr).await else {
            continue;
        };
        if i % 2 == 0 {
            // A request head that never ends.
            let _ = stream.write_all(b"GET /chat HTTP/1.1\r\nHost: x\r\n").await;
        }
        flood.push(stream);
    }
    assert!(
        flood.len() >= 1_000,
        "the flood opened {} sockets",
        flood.len()
    );
    // What a pending connection may cost: hyper's buffers for a request head.
    hood.assert_unharmed(
        "2,000 sockets that never finish a request",
        2_000 * 64 * 1024,
    )
    .await;
    drop(flood);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rapid_reconnects_harm_nobody() {
    let _serial = serial().await;
    let mut hood = Neighbourhood::start().await;
    let addr = hood.addr;
    let mut tasks = Vec::new();
    for _ in 0..4 {
        tasks.push(tokio::spawn(async move {
            for _ in 0..100 {
                let (ws, _) = connect_async(format!("ws://{addr}/chat")).await.unwrap();
                drop(ws);
                // A chat.v1 client that takes its welcome and lobby answer, then vanishes.
                let mut request = format!("ws://{addr}/chat").into_client_request().unwrap();
                request
                    .headers_mut()
                    .insert("sec-websocket-protocol", "chat.v1".parse().unwrap());
                let (mut ws, _) = connect_async(request).await.unwrap();
                for _ in 0..2 {
                    let _ = ws.next().await;
                }
                drop(ws);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    hood.assert_unharmed("800 connections opened and dropped", attackers(&hood, 8))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_churn_harms_nobody() {
    let _serial = serial().await;
    let mut hood = Neighbourhood::start().await;
    let mut tasks = Vec::new();
    for a in 0..3 {
        let mut attacker = draining(hood.addr).await;
        tasks.push(tokio::spawn(async move {
            let start = tokio::time::Instant::now();
            let mut i = 0;
            while start.elapsed() < Duration::from_secs(6) {
                send(
                    &mut attacker,
                    json!({"type": "nick", "nick": format!("churn-{a}-{i}")}),
                )
                .await;
                sleep(Duration::from_millis(55)).await;
                send(
                    &mut attacker,
                    json!({"type": "leave", "rooms": [ROOM, "lobby"]}),
                )
                .await;
                sleep(Duration::from_millis(55)).await;
                send(
                    &mut attacker,
                    json!({"type": "join", "rooms": [ROOM, "lobby"]}),
                )
                .await;
                sleep(Duration::from_millis(55)).await;
                i += 1;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    hood.assert_unharmed(
        "3 connections renaming, leaving and joining for 6 s",
        attackers(&hood, 3),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_event_payloads_are_refused_and_harm_nobody() {
    let _serial = serial().await;
    let mut hood = Neighbourhood::start().await;
    let mut attacker = ChatClient::connect(hood.addr).await;
    attacker
        .send(json!({"type": "join", "rooms": [ROOM]}))
        .await;
    // 150,000 control characters: 900 KB of JSON, within the message limit.
    let huge = "\u{1}".repeat(150_000);
    for ack in 0..5 {
        attacker
            .send(json!({"type": "emit", "room": ROOM, "event": "blob", "data": huge, "ack": ack}))
            .await;
    }
    let mut refused = 0;
    while refused < 5 {
        match attacker.recv().await {
            ServerEnvelope::Error {
                code, reference, ..
            } => {
                assert_eq!(code, ErrorCode::TooLarge);
                assert_eq!(reference, Some(refused.to_string()));
                refused += 1;
            }
            ServerEnvelope::EventAck { ack } => panic!("event {ack} over the limit was delivered"),
            _ => {}
        }
    }
    // At the limit, a burst of them is delivered and harms nobody either.
    let at_limit = "x".repeat(hood.budgets.max_event_bytes - 2);
    for ack in 100..130 {
        attacker
            .send(json!({"type": "emit", "room": ROOM, "event": "blob", "data": at_limit, "ack": ack}))
            .await;
    }
    hood.assert_unharmed(
        "events of 900 KB and a burst at the limit",
        attackers(&hood, 1),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_ids_and_names_get_small_errors() {
    let _serial = serial().await;
    let mut hood = Neighbourhood::start().await;
    let mut attacker = ChatClient::connect(hood.addr).await;
    let long = "\u{1}".repeat(150_000);
    let envelopes = [
        json!({"type": "ping", "id": long}),
        json!({"type": long}),
        json!({"type": "nick", "nick": long}),
        json!({"type": "join", "rooms": [long]}),
        json!({"type": "send", "room": "lobby", "text": "hi", "id": long}),
        json!({"type": "emit", "room": "lobby", "event": long}),
    ];
    for envelope in envelopes {
        attacker.send(envelope.clone()).await;
        let answer = loop {
            match attacker.ws.next().await {
                Some(Ok(Message::Text(text))) => {
                    if !text.contains("\"presence\"") {
                        break text;
                    }
                }
                other => panic!("no answer to {:.80}: {other:?}", envelope.to_string()),
            }
        };
        assert!(
            answer.len() <= hood.budgets.largest_envelope(),
            "an answer of {} bytes to {:.60}: {:.200}",
            answer.len(),
            envelope.to_string(),
            answer.as_str()
        );
        let answer: ServerEnvelope = serde_json::from_str(answer.as_str()).unwrap();
        assert!(matches!(answer, ServerEnvelope::Error { .. }), "{answer:?}");
    }
    attacker.sync().await;
    hood.assert_unharmed(
        "ids and names of 150,000 control characters",
        attackers(&hood, 1),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joining_and_resuming_every_room_full_of_long_lines_is_paced_not_closed() {
    let _serial = serial().await;
    let mut hood = Neighbourhood::start().await;
    let rooms: Vec<String> = (0..31).map(|i| format!("full-{i}")).collect();
    let line = "\u{1}".repeat(hood.budgets.max_text_bytes);
    // One filler per room: two lines at the limit are within one connection's burst.
    let mut fillers = Vec::new();
    for room in &rooms {
        let mut filler = ChatClient::connect(hood.addr).await;
        filler.send(json!({"type": "join", "rooms": [room]})).await;
        for i in 0..2 {
            filler
                .send(json!({"type": "send", "room": room, "text": line, "id": format!("f{i}")}))
                .await;
        }
        let mut acked = 0;
        while acked < 2 {
            match filler.recv().await {
                ServerEnvelope::Ack { .. } => acked += 1,
                ServerEnvelope::Error { code, message, .. } => panic!("{code}: {message}"),
                _ => {}
            }
        }
        fillers.push(filler);
    }
    // 31 answers of about 100 KB each, asked for at once: three times the queue.
    let mut reader = ChatClient::connect(hood.addr).await;
    reader.send(json!({"type": "join", "rooms": rooms})).await;
    let mut joined = 0;
    while joined < rooms.len() {
        match reader.recv().await {
            ServerEnvelope::Joined { history, .. } => {
                assert!(!history.is_empty(), "the newest line always fits");
                joined += 1;
            }
            ServerEnvelope::Error { code, message, .. } => panic!("{code}: {message}"),
            _ => {}
        }
    }
    // The join's rooms cost a rate token each: resume at an honest client's pace (the
    // answers still pile up three queues deep, which is what this test is about).
    for room in &rooms {
        reader
            .send(json!({"type": "resume", "room": room, "after_seq": 0}))
            .await;
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    let mut resumed = 0;
    while resumed < rooms.len() {
        match reader.recv().await {
            ServerEnvelope::Resumed { complete, .. } => {
                assert!(!complete, "two long lines do not fit one answer");
                resumed += 1;
            }
            ServerEnvelope::Error { code, message, .. } => panic!("{code}: {message}"),
            _ => {}
        }
    }
    reader.sync().await;
    drop(fillers);
    hood.assert_unharmed(
        "joining and resuming 31 rooms full of long lines",
        attackers(&hood, 33),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_driven_to_their_worst_stay_under_the_memory_bound() {
    let _serial = serial().await;
    let hood = Neighbourhood::start().await;
    let per_connection = hood.budgets.connection_memory_bound();
    let n = 8;
    let mut held: Vec<TcpStream> = Vec::new();
    for _ in 0..n {
        // A chat.v1 client in room `quiet` that never reads, holding a message at the
        // limit sent but for its last byte.
        let mut stream =
            common::raw::handshake_with(hood.addr, "/chat", "Sec-WebSocket-Protocol: chat.v1\r\n")
                .await;
        let join = json!({"type": "join", "rooms": ["quiet"]}).to_string();
        stream
            .write_all(&frame(FIN | TEXT, join.as_bytes(), true))
            .await
            .unwrap();
        let payload = vec![b'x'; hood.budgets.max_message_bytes];
        let whole = frame(FIN | TEXT, &payload, true);
        stream.write_all(&whole[..whole.len() - 1]).await.unwrap();
        held.push(stream);
    }
    // Twenty neighbours talk within their limits, two lines each of about 100 KB once
    // escaped: 4 MB for each silent connection, more than its kernel buffers and queue.
    let line = "\u{1}".repeat(hood.budgets.max_text_bytes);
    let mut talkers = Vec::new();
    for t in 0..20 {
        let mut talker = draining(hood.addr).await;
        send(&mut talker, json!({"type": "join", "rooms": ["quiet"]})).await;
        for i in 0..2 {
            send(
                &mut talker,
                json!({"type": "send", "room": "quiet", "text": line, "id": format!("t{t}-{i}")}),
            )
            .await;
        }
        talkers.push(talker);
    }
    sleep(Duration::from_secs(2)).await;
    let used = hood.growth();
    // The talkers keep up with what they receive: the silent ones are what is at its worst.
    let bound = 2 * n * per_connection + common::noisy::SLACK_BYTES;
    eprintln!(
        "{n} connections at their worst: the process grew by {:.1} MiB ({:.2} MiB per \
         connection); bound {:.1} MiB ({:.2} MiB per connection end, plus slack)",
        common::noisy::mib(used),
        common::noisy::mib(used / n),
        common::noisy::mib(bound),
        common::noisy::mib(per_connection),
    );
    assert!(used <= bound);
    drop((held, talkers));
}
