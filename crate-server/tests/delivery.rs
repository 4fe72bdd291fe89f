//! Delivery guarantees of `/chat` (issue 13), tried against the real server on loopback
//! ports, alone and as two servers sharing a real redis-server: lines of a room arrive in
//! sequence with no gaps and once each, acks never overtake earlier lines, join and resume
//! answers are never overtaken, idempotency keys belong to their session, plain clients
//! are paced rather than dropped, and a Redis that lost its data is noticed.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::time::Duration;

use common::chat::ChatClient;
use common::redis::RedisServer;
use ferrosocket_wire::chat::{ErrorCode, ServerEnvelope, SUBPROTOCOL};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// A server with a generous rate limit, alone or sharing `redis`.
async fn server(redis: Option<&RedisServer>) -> SocketAddr {
    let url = redis.map(RedisServer::url);
    common::start_with(|config| {
        config.redis_url = url;
        config.rate_limit = 100_000;
        config.rate_burst = 100_000;
    })
    .await
}

/// Connects with `chat.v1`; returns the client and its `welcome`'s (session, epoch).
async fn connect(addr: SocketAddr) -> (ChatClient, String, String) {
    let mut request = format!("ws://{addr}/chat").into_client_request().unwrap();
    request
        .headers_mut()
        .insert("sec-websocket-protocol", SUBPROTOCOL.parse().unwrap());
    let (ws, _) = connect_async(request).await.expect("connecting to /chat");
    let mut client = ChatClient {
        ws,
        nick: String::new(),
    };
    let ServerEnvelope::Welcome {
        nick,
        session,
        epoch,
        ..
    } = client.recv().await
    else {
        panic!("expected welcome")
    };
    client.nick = nick;
    assert!(matches!(client.recv().await, ServerEnvelope::Joined { .. }));
    (client, session, epoch)
}

/// Joins `room` and returns the last sequence number of the `joined` history (0: none).
async fn join(client: &mut ChatClient, room: &str) -> u64 {
    client.send(json!({"type": "join", "rooms": [room]})).await;
    loop {
        if let ServerEnvelope::Joined {
            room: r, history, ..
        } = client.recv().await
        {
            if r == room {
                return history.last().map_or(0, |entry| entry.seq);
            }
        }
    }
}

/// A seeded xorshift generator, so a failing schedule can be replayed.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// Many senders on one room (split over `addrs`) send seeded random bursts; a watcher
/// checks every line arrives once, in sequence, and each sender checks that its ack for
/// line N comes only after it has seen every line before N.
async fn concurrent_senders(addrs: &[SocketAddr], seed: u64) {
    const SENDERS: usize = 5;
    const LINES: usize = 40;
    let (mut watcher, _, _) = connect(addrs[0]).await;
    let room = format!("r{seed}");
    join(&mut watcher, &room).await;
    let mut senders = Vec::new();
    for i in 0..SENDERS {
        let (mut client, _, _) = connect(addrs[i % addrs.len()]).await;
        join(&mut client, &room).await;
        senders.push(client);
    }
    let mut tasks = Vec::new();
    for (i, client) in senders.into_iter().enumerate() {
        let room = room.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng((seed + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ i as u64);
            let (mut sink, mut stream) = client.ws.split();
            let writer = async {
                let mut sent = 0;
                while sent < LINES {
                    let burst = (1 + rng.below(8) as usize).min(LINES - sent);
                    for _ in 0..burst {
                        sent += 1;
                        let envelope = json!({"type": "send", "room": room,
                            "text": format!("{i}/{sent}"), "id": format!("{i}-{sent}"), "n": sent});
                        sink.send(Message::text(envelope.to_string()))
                            .await
                            .unwrap();
                    }
                    tokio::time::sleep(Duration::from_millis(rng.below(4))).await;
                }
            };
            let reader = async {
                // Every line of the room this sender has seen or had acknowledged.
                let mut seen = BTreeSet::new();
                let mut acks = 0;
                while acks < LINES {
                    let frame = tokio::time::timeout(Duration::from_secs(10), stream.next())
                        .await
                        .expect("traffic within 10 s")
                        .unwrap()
                        .unwrap();
                    let Message::Text(text) = frame else { continue };
                    match serde_json::from_str::<ServerEnvelope>(text.as_str()).unwrap() {
                        ServerEnvelope::Message { room: r, seq, .. } if r == room => {
                            assert!(seen.insert(seq), "line {seq} delivered twice");
                        }
                        ServerEnvelope::Ack { seq, .. } => {
                            let missing: Vec<u64> =
                                (1..seq).filter(|s| !seen.contains(s)).collect();
                            assert!(
                                missing.is_empty(),
                                "seed {seed}: ack {seq} overtook lines {missing:?}"
                            );
                            seen.insert(seq);
                            acks += 1;
                        }
                        ServerEnvelope::Error { code, message, .. } => {
                            panic!("seed {seed}: refused {code:?}: {message}")
                        }
                        _ => {}
                    }
                }
            };
            tokio::join!(writer, reader);
        }));
    }
    let total = (SENDERS * LINES) as u64;
    let mut texts = BTreeSet::new();
    let mut last = 0;
    while last < total {
        match watcher.recv().await {
            ServerEnvelope::Message {
                room: r,
                seq,
                text,
                id,
                ..
            } if r == room => {
                assert_eq!(seq, last + 1, "seed {seed}: in sequence, no gaps");
                assert_eq!(id, None, "another member's key is never shown");
                assert!(texts.insert(text), "seed {seed}: once each");
                last = seq;
            }
            _ => {}
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_senders_are_delivered_in_sequence_and_acks_never_overtake() {
    let addr = server(None).await;
    for seed in 0..3 {
        concurrent_senders(&[addr], seed).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_concurrent_senders_on_two_servers_are_delivered_in_sequence_and_acks_never_overtake(
) {
    let redis = RedisServer::start().await;
    let addrs = [server(Some(&redis)).await, server(Some(&redis)).await];
    for seed in 0..3 {
        concurrent_senders(&addrs, seed).await;
    }
}

/// While a sender keeps a room busy, clients join it and resume it again and again: what
/// follows a `joined` or `resumed` always continues exactly where the answer ended.
async fn answers_not_overtaken(sender_addr: SocketAddr, joiner_addr: SocketAddr) {
    let (mut sender, _, _) = connect(sender_addr).await;
    join(&mut sender, "busy").await;
    let stop = tokio_util_stop();
    let flag = stop.clone();
    let spam = tokio::spawn(async move {
        let mut i = 0u64;
        while !flag.load(std::sync::atomic::Ordering::Relaxed) {
            i += 1;
            sender
                .send(json!({"type": "send", "room": "busy", "text": format!("line {i}")}))
                .await;
            if i % 2 == 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
                // Drain acks so the sender's queue never fills.
                while let Ok(Some(_)) =
                    tokio::time::timeout(Duration::from_millis(0), sender.ws.next()).await
                {
                }
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    for round in 0..20 {
        let (mut joiner, _, _) = connect(joiner_addr).await;
        let covered = join(&mut joiner, "busy").await;
        let next = next_seq(&mut joiner).await;
        assert_eq!(
            next,
            covered + 1,
            "round {round}: a line overtook or repeated the join"
        );
        // Resume from a little way back while the room keeps moving.
        let after = next.saturating_sub(5);
        joiner
            .send(json!({"type": "resume", "room": "busy", "after_seq": after}))
            .await;
        let mut expect = after + 1;
        let mut in_replay = false;
        loop {
            match joiner.recv().await {
                ServerEnvelope::Message { room, seq, .. } if room == "busy" => {
                    if seq == after + 1 {
                        in_replay = true;
                    }
                    if in_replay {
                        assert_eq!(seq, expect, "round {round}: the replay is in sequence");
                        expect += 1;
                    }
                }
                ServerEnvelope::Resumed { last_seq, .. } => {
                    assert!(in_replay || last_seq == after, "round {round}: replay seen");
                    assert_eq!(
                        last_seq + 1,
                        expect,
                        "round {round}: replay covers last_seq"
                    );
                    let following = next_seq(&mut joiner).await;
                    assert_eq!(
                        following,
                        last_seq + 1,
                        "round {round}: a line overtook resumed"
                    );
                    break;
                }
                _ => {}
            }
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    spam.await.unwrap();
}

fn tokio_util_stop() -> std::sync::Arc<std::sync::atomic::AtomicBool> {
    std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false))
}

/// The sequence number of the next `message` of room `busy`.
async fn next_seq(client: &mut ChatClient) -> u64 {
    loop {
        if let ServerEnvelope::Message { room, seq, .. } = client.recv().await {
            if room == "busy" {
                return seq;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_and_resume_answers_are_never_overtaken_by_live_lines() {
    let addr = server(None).await;
    answers_not_overtaken(addr, addr).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_join_and_resume_answers_are_never_overtaken_by_live_lines() {
    let redis = RedisServer::start().await;
    let (a, b) = (server(Some(&redis)).await, server(Some(&redis)).await);
    answers_not_overtaken(a, b).await;
}

/// Waits for the answer to a `send`: its ack's seq, or its error code.
async fn answer(client: &mut ChatClient) -> Result<u64, ErrorCode> {
    loop {
        match client.recv().await {
            ServerEnvelope::Ack { seq, .. } => return Ok(seq),
            ServerEnvelope::Error { code, .. } => return Err(code),
            _ => {}
        }
    }
}

/// The texts of room `r` that `client` receives until it sees `until`.
async fn texts_until(client: &mut ChatClient, until: &str) -> Vec<String> {
    let mut texts = Vec::new();
    loop {
        if let ServerEnvelope::Message { room, text, .. } = client.recv().await {
            if room == "r" {
                let done = text == until;
                texts.push(text);
                if done {
                    return texts;
                }
            }
        }
    }
}

async fn keys_belong_to_their_session(a: SocketAddr, b: SocketAddr) {
    let (mut ada, token, _) = connect(a).await;
    let (mut mallory, _, _) = connect(a).await;
    let (mut bob, _, _) = connect(b).await;
    for client in [&mut ada, &mut mallory, &mut bob] {
        join(client, "r").await;
    }
    // Mallory guesses ada's next key and sends it first: ada's line still goes through.
    mallory
        .send(json!({"type": "send", "room": "r", "text": "pre-empted", "id": "ada-1"}))
        .await;
    assert_eq!(answer(&mut mallory).await, Ok(1));
    ada.send(json!({"type": "send", "room": "r", "text": "mine", "id": "ada-1", "n": 1}))
        .await;
    assert_eq!(answer(&mut ada).await, Ok(2));
    // Numbers go in order: a skip is refused and uses nothing up.
    ada.send(json!({"type": "send", "room": "r", "text": "skip", "n": 3}))
        .await;
    assert_eq!(answer(&mut ada).await, Err(ErrorCode::OutOfOrder));
    assert_eq!(texts_until(&mut bob, "mine").await, ["pre-empted", "mine"]);

    // Ada reconnects (to the other server) and continues her session: the re-sent line
    // is recognised, and the next one goes on.
    drop(ada);
    let (mut again, _, _) = connect(b).await;
    again
        .send(json!({"type": "session", "token": token, "next": 1}))
        .await;
    join(&mut again, "r").await;
    again
        .send(json!({"type": "send", "room": "r", "text": "mine", "id": "ada-1", "n": 1}))
        .await;
    assert_eq!(
        answer(&mut again).await,
        Ok(2),
        "a repeat gets its first number"
    );
    again
        .send(json!({"type": "send", "room": "r", "text": "next", "id": "ada-2", "n": 2}))
        .await;
    assert_eq!(answer(&mut again).await, Ok(3));
    // A fresh session with the same key and number is a new line.
    let (mut fresh, _, _) = connect(a).await;
    join(&mut fresh, "r").await;
    fresh
        .send(json!({"type": "send", "room": "r", "text": "mine", "id": "ada-1", "n": 1}))
        .await;
    assert_eq!(answer(&mut fresh).await, Ok(4));
    assert_eq!(texts_until(&mut bob, "mine").await, ["next", "mine"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_keys_and_line_numbers_belong_to_their_session() {
    let addr = server(None).await;
    keys_belong_to_their_session(addr, addr).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_idempotency_keys_and_line_numbers_belong_to_their_session() {
    let redis = RedisServer::start().await;
    let (a, b) = (server(Some(&redis)).await, server(Some(&redis)).await);
    keys_belong_to_their_session(a, b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_clients_sending_fast_lose_nothing_to_the_rate_limit() {
    // The default limits: 20 lines a second, bursts of 40.
    let addr = common::start_with(|_| {}).await;
    let mut clients = Vec::new();
    for _ in 0..3 {
        let (ws, _) = connect_async(format!("ws://{addr}/chat")).await.unwrap();
        clients.push(ws);
    }
    let mut tasks = Vec::new();
    for (i, ws) in clients.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            let (mut sink, mut stream) = ws.split();
            let writer = async {
                for line in 0..50 {
                    sink.send(Message::text(format!("c{i} line {line}")))
                        .await
                        .unwrap();
                }
            };
            let reader = async {
                let mut got = HashMap::<String, usize>::new();
                let mut lines = 0;
                while lines < 150 {
                    let frame = tokio::time::timeout(Duration::from_secs(20), stream.next())
                        .await
                        .expect("every line within 20 s")
                        .unwrap()
                        .unwrap();
                    let Message::Text(text) = frame else { continue };
                    let text = text.as_str();
                    assert!(!text.starts_with('*'), "a line was refused: {text}");
                    let (_, body) = text.split_once(": ").expect("name: text");
                    *got.entry(body.split(" line ").next().unwrap().to_owned())
                        .or_default() += 1;
                    lines += 1;
                }
                got
            };
            let ((), got) = tokio::join!(writer, reader);
            got
        }));
    }
    for task in tasks {
        let got = task.await.unwrap();
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(got.values().all(|n| *n == 50), "{got:?}");
    }
}

async fn welcome_epoch(addr: SocketAddr) -> String {
    connect(addr).await.2
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_lost_its_data_gives_a_new_epoch_every_server_adopts_and_clients_are_told() {
    let redis = RedisServer::start().await;
    let (a, b) = (server(Some(&redis)).await, server(Some(&redis)).await);
    let (mut ada, _, old_epoch) = connect(a).await;
    let (mut bob, _, _) = connect(b).await;
    join(&mut ada, "r").await;
    join(&mut bob, "r").await;
    for i in 1..=3 {
        ada.send(json!({"type": "send", "room": "r", "text": format!("old {i}")}))
            .await;
        assert_eq!(answer(&mut ada).await, Ok(i));
    }

    let client = redis::Client::open(redis.url()).unwrap();
    let mut commands = client.get_multiplexed_async_connection().await.unwrap();
    let () = redis::cmd("FLUSHALL")
        .query_async(&mut commands)
        .await
        .unwrap();

    // Both are closed with 1012 so that they reconnect and learn the new epoch.
    for client in [&mut ada, &mut bob] {
        let frame = tokio::time::timeout(Duration::from_secs(10), client.closed())
            .await
            .expect("closed within 10 s");
        assert_eq!(u16::from(frame.code), 1012, "{frame:?}");
        assert_eq!(frame.reason.as_str(), "history reset");
    }
    let (new_a, new_b) = (welcome_epoch(a).await, welcome_epoch(b).await);
    assert_ne!(new_a, old_epoch);
    assert_eq!(new_a, new_b, "every server adopts the same new epoch");

    // Numbering starts over, and lines flow between the servers again.
    let (mut ada, _, _) = connect(a).await;
    let (mut bob, _, _) = connect(b).await;
    assert_eq!(join(&mut ada, "r").await, 0, "the old history is gone");
    join(&mut bob, "r").await;
    ada.send(json!({"type": "send", "room": "r", "text": "new 1"}))
        .await;
    assert_eq!(answer(&mut ada).await, Ok(1));
    assert_eq!(texts_until(&mut bob, "new 1").await, ["new 1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_redis_is_noticed_and_healthz_says_so_until_it_answers_again() {
    let redis = RedisServer::start().await;
    let addr = server(Some(&redis)).await;
    let healthz = |expected: u16| async move {
        for _ in 0..200 {
            if common::get(addr, "/healthz").await.status == expected {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    };
    assert!(healthz(200).await);
    // Redis stops answering but keeps every connection open.
    let client = redis::Client::open(redis.url()).unwrap();
    let mut commands = client.get_multiplexed_async_connection().await.unwrap();
    let () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(6000)
        .arg("ALL")
        .query_async(&mut commands)
        .await
        .unwrap();
    assert!(healthz(503).await, "the liveness check noticed");
    assert!(healthz(200).await, "and the backplane came back");
}

#[tokio::test]
async fn a_join_list_is_answered_once_per_room_and_refused_whole_past_the_room_cap() {
    let addr = common::start_with(|config| config.max_rooms_per_connection = 3).await;
    let (mut ada, _, _) = connect(addr).await;
    ada.send(json!({"type": "join", "rooms": ["a", "a", "b", "a"]}))
        .await;
    ada.send(json!({"type": "ping", "id": "done"})).await;
    let mut joined = Vec::new();
    loop {
        match ada.recv().await {
            ServerEnvelope::Joined { room, .. } => joined.push(room),
            ServerEnvelope::Pong { .. } => break,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(joined, ["a", "b"]);
    ada.send(json!({"type": "leave", "rooms": ["w", "x", "y", "z"]}))
        .await;
    match ada.recv().await {
        ServerEnvelope::Error { code, message, .. } => {
            assert_eq!(code, ErrorCode::TooManyRooms);
            assert!(message.contains("at most 3"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

/// Found by the simulator: a `rate_limited` refusal must name the refused line, or a
/// client cannot tell which line to send again.
#[tokio::test]
async fn a_rate_limited_send_names_the_refused_line_and_does_not_use_up_its_number() {
    let addr = common::start_with(|config| {
        config.rate_limit = 1;
        config.rate_burst = 1;
    })
    .await;
    let (mut ada, _, _) = connect(addr).await;
    ada.send(json!({"type": "send", "room": "lobby", "text": "one", "id": "k1", "n": 1}))
        .await;
    ada.send(json!({"type": "send", "room": "lobby", "text": "two", "id": "k2", "n": 2}))
        .await;
    assert_eq!(answer(&mut ada).await, Ok(1));
    match ada.recv().await {
        ServerEnvelope::Error {
            code, reference, ..
        } => assert_eq!(
            (code, reference.as_deref()),
            (ErrorCode::RateLimited, Some("k2"))
        ),
        other => panic!("{other:?}"),
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    ada.send(json!({"type": "send", "room": "lobby", "text": "two", "id": "k2", "n": 2}))
        .await;
    assert_eq!(answer(&mut ada).await, Ok(2), "line 2 is still the next");
}

#[tokio::test]
async fn a_session_is_continued_at_most_once_per_connection_and_before_any_send() {
    let addr = server(None).await;
    let (mut ada, token, _) = connect(addr).await;
    let (mut bob, _, _) = connect(addr).await;
    bob.send(json!({"type": "session", "token": token})).await;
    bob.send(json!({"type": "session", "token": token})).await;
    match bob.recv_skipping_presence().await {
        ServerEnvelope::Error { code, .. } => assert_eq!(code, ErrorCode::InvalidField),
        other => panic!("{other:?}"),
    }
    ada.send(json!({"type": "send", "room": "lobby", "text": "hi"}))
        .await;
    assert_eq!(answer(&mut ada).await, Ok(1));
    ada.send(json!({"type": "session", "token": "0123456789abcdef0123"}))
        .await;
    match ada.recv_skipping_presence().await {
        ServerEnvelope::Error { code, .. } => assert_eq!(code, ErrorCode::InvalidField),
        other => panic!("{other:?}"),
    }
}
