//! Several servers, one chat: rooms, presence and history shared through a real
//! redis-server. Each "server" is the real library on its own loopback port.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::chat::ChatClient;
use common::redis::RedisServer;
use ferrosocket_server::Server;
use ferrosocket_wire::chat::{ErrorCode, PresenceChange, ServerEnvelope, MAX_DATA_DEPTH};
use futures_util::StreamExt;
use serde_json::json;
use tokio::sync::oneshot;

/// A server on a free port sharing `redis`; stops when the handle is dropped.
struct Running {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    async fn start(redis: &RedisServer) -> Running {
        let server = common::bind_with(|config| {
            config.redis_url = Some(redis.url());
            config.rate_limit = 1000;
            config.rate_burst = 1000;
        })
        .await;
        let addr = server.local_addr();
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(server.run_until(async {
            let _ = stopped.await;
        }));
        Running {
            addr,
            stop: Some(stop),
            task,
        }
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        let _ = (&mut self.task).await;
    }
}

async fn join(client: &mut ChatClient, room: &str) -> Vec<String> {
    client.send(json!({"type": "join", "rooms": [room]})).await;
    loop {
        match client.recv().await {
            ServerEnvelope::Joined {
                room: r, members, ..
            } if r == room => return members,
            _ => continue,
        }
    }
}

/// Reads until `count` messages of `room` arrived; returns (seq, from, text).
async fn messages(client: &mut ChatClient, room: &str, count: usize) -> Vec<(u64, String, String)> {
    let mut got = Vec::new();
    while got.len() < count {
        if let ServerEnvelope::Message {
            room: r,
            seq,
            from,
            text,
            ..
        } = client.recv().await
        {
            if r == room {
                got.push((seq, from, text));
            }
        }
    }
    got
}

async fn until_ack(client: &mut ChatClient) -> ServerEnvelope {
    loop {
        match client.recv().await {
            envelope @ (ServerEnvelope::Ack { .. } | ServerEnvelope::Error { .. }) => {
                return envelope
            }
            _ => continue,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_share_rooms_presence_and_one_order() {
    let redis = RedisServer::start().await;
    let (a, b) = (Running::start(&redis).await, Running::start(&redis).await);
    let mut ada = ChatClient::named(a.addr, "ada").await;
    let mut bob = ChatClient::named(b.addr, "bob").await;
    let mut watcher_a = ChatClient::named(a.addr, "watch-a").await;
    let mut watcher_b = ChatClient::named(b.addr, "watch-b").await;
    join(&mut ada, "r").await;
    join(&mut watcher_a, "r").await;
    join(&mut watcher_b, "r").await;
    // Presence crosses servers: bob (on B) sees ada (on A), and ada is told bob joined.
    let members = join(&mut bob, "r").await;
    for nick in ["ada", "bob", "watch-a", "watch-b"] {
        assert!(
            members.contains(&nick.to_owned()),
            "{nick} missing from {members:?}"
        );
    }
    loop {
        if let ServerEnvelope::Presence {
            room,
            change: PresenceChange::Join,
            nick,
            ..
        } = ada.recv().await
        {
            if room == "r" && nick == "bob" {
                break;
            }
        }
    }

    // Both send at once, interleaved.
    for i in 0..10 {
        ada.send(json!({"type": "send", "room": "r", "text": format!("ada {i}")}))
            .await;
        bob.send(json!({"type": "send", "room": "r", "text": format!("bob {i}")}))
            .await;
    }
    let seen_a = messages(&mut watcher_a, "r", 20).await;
    let seen_b = messages(&mut watcher_b, "r", 20).await;
    assert_eq!(seen_a, seen_b, "both servers deliver in the same order");
    let seqs: Vec<u64> = seen_a.iter().map(|(seq, _, _)| *seq).collect();
    assert_eq!(
        seqs,
        (1..=20).collect::<Vec<_>>(),
        "strictly increasing across servers"
    );
    let from_bob: Vec<String> = messages(&mut ada, "r", 10)
        .await
        .into_iter()
        .map(|(_, _, t)| t)
        .collect();
    assert_eq!(
        from_bob,
        (0..10).map(|i| format!("bob {i}")).collect::<Vec<_>>()
    );
    let from_ada: Vec<String> = messages(&mut bob, "r", 10)
        .await
        .into_iter()
        .map(|(_, _, t)| t)
        .collect();
    assert_eq!(
        from_ada,
        (0..10).map(|i| format!("ada {i}")).collect::<Vec<_>>()
    );
    for client in [&mut ada, &mut bob, &mut watcher_a, &mut watcher_b] {
        client.sync().await;
        client.expect_silence(200).await;
    }
}

/// An event crosses to the other servers however deeply its data nests, up to the limit;
/// one level deeper is refused `too_large` to its sender and delivered to nobody. (Before
/// the limit, data nested 126 deep was delivered on its sender's server only: the notice
/// that carries it to the others nests it two levels deeper, and serde_json would not read
/// that, so the other servers dropped it with a warning.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_cross_servers_up_to_the_depth_limit_and_deeper_ones_are_refused() {
    let redis = RedisServer::start().await;
    let (a, b) = (Running::start(&redis).await, Running::start(&redis).await);
    let mut ada = ChatClient::named(a.addr, "ada").await;
    let mut bob = ChatClient::named(b.addr, "bob").await;
    join(&mut bob, "r").await;
    join(&mut ada, "r").await;
    // Ada's join crossing to Bob shows that server B hears server A.
    loop {
        if let ServerEnvelope::Presence {
            change: PresenceChange::Join,
            nick,
            ..
        } = bob.recv().await
        {
            if nick == "ada" {
                break;
            }
        }
    }
    for depth in [1, MAX_DATA_DEPTH - 1, MAX_DATA_DEPTH, MAX_DATA_DEPTH + 1] {
        let data = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        ada.send_raw(&format!(
            r#"{{"type":"emit","room":"r","event":"deep","data":{data},"ack":{depth}}}"#
        ))
        .await;
        let answer = loop {
            match ada.recv().await {
                ServerEnvelope::Presence { .. } => continue,
                other => break other,
            }
        };
        if depth <= MAX_DATA_DEPTH {
            assert_eq!(answer, ServerEnvelope::EventAck { ack: depth as u64 });
            match bob.recv_skipping_presence().await {
                ServerEnvelope::Event {
                    event, from, data, ..
                } => {
                    assert_eq!((event.as_str(), from.as_str()), ("deep", "ada"));
                    assert_eq!(data.depth(), depth);
                }
                other => panic!("depth {depth}: expected the event, got {other:?}"),
            }
        } else {
            match answer {
                ServerEnvelope::Error {
                    code, reference, ..
                } => {
                    assert_eq!(code, ErrorCode::TooLarge);
                    assert_eq!(reference, Some(depth.to_string()));
                }
                other => panic!("depth {depth}: expected too_large, got {other:?}"),
            }
        }
    }
    // Nothing more reaches Bob: the refused event was delivered to nobody.
    ada.send(json!({"type": "emit", "room": "r", "event": "last"}))
        .await;
    match bob.recv_skipping_presence().await {
        ServerEnvelope::Event { event, .. } => assert_eq!(event, "last"),
        other => panic!("expected the last event, got {other:?}"),
    }
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_message_crosses_redis_once_per_server() {
    let redis = RedisServer::start().await;
    let (a, b) = (Running::start(&redis).await, Running::start(&redis).await);
    let client = redis::Client::open(redis.url()).unwrap();
    let mut monitor = client.get_async_pubsub().await.unwrap();
    monitor.subscribe("ferrosocket:chat").await.unwrap();
    let mut commands = client.get_multiplexed_async_connection().await.unwrap();
    let (_, subscribers): (String, u64) = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg("ferrosocket:chat")
        .query_async(&mut commands)
        .await
        .unwrap();
    assert_eq!(
        subscribers, 3,
        "one subscription per server (and this monitor)"
    );

    let mut ada = ChatClient::named(a.addr, "ada").await;
    let mut readers = Vec::new();
    for server in [a.addr, b.addr, a.addr, b.addr] {
        let mut reader = ChatClient::connect(server).await;
        join(&mut reader, "fan").await;
        readers.push(reader);
    }
    join(&mut ada, "fan").await;
    let mut monitor = monitor.into_on_message();
    for i in 0..5 {
        ada.send(json!({"type": "send", "room": "fan", "text": format!("m{i}")}))
            .await;
        assert!(matches!(
            until_ack(&mut ada).await,
            ServerEnvelope::Ack { .. }
        ));
    }
    for reader in &mut readers {
        assert_eq!(messages(reader, "fan", 5).await.len(), 5);
    }
    // Waits generously for the five, then 300 ms more for any extra copy.
    let mut published = 0;
    while let Ok(Some(message)) = tokio::time::timeout(
        Duration::from_millis(if published < 5 { 30_000 } else { 300 }),
        monitor.next(),
    )
    .await
    {
        let payload: String = message.get_payload().unwrap();
        if payload.contains("\"kind\":\"message\"") {
            published += 1;
        }
    }
    assert_eq!(published, 5, "once per message, not once per recipient");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_moves_to_another_server_resumes_exactly_what_it_missed() {
    let redis = RedisServer::start().await;
    let (a, b) = (Running::start(&redis).await, Running::start(&redis).await);
    let mut bob = ChatClient::named(b.addr, "bob").await;
    join(&mut bob, "r").await;
    let mut carol = ChatClient::named(a.addr, "carol").await;
    join(&mut carol, "r").await;
    bob.send(json!({"type": "send", "room": "r", "text": "seen"}))
        .await;
    assert_eq!(messages(&mut carol, "r", 1).await[0].0, 1);
    drop(carol);
    for text in ["missed 1", "missed 2", "missed 3"] {
        bob.send(json!({"type": "send", "room": "r", "text": text}))
            .await;
        until_ack(&mut bob).await;
    }
    let mut carol = ChatClient::named(b.addr, "carol2").await;
    carol
        .send(json!({"type": "resume", "room": "r", "after_seq": 1}))
        .await;
    let mut replay = Vec::new();
    loop {
        match carol.recv().await {
            ServerEnvelope::Message { seq, text, .. } => replay.push((seq, text)),
            ServerEnvelope::Resumed {
                last_seq, complete, ..
            } => {
                assert_eq!((last_seq, complete), (4, true));
                break;
            }
            _ => continue,
        }
    }
    assert_eq!(
        replay,
        [
            (2, "missed 1".to_owned()),
            (3, "missed 2".to_owned()),
            (4, "missed 3".to_owned())
        ]
    );
}

async fn welcome_epoch(addr: SocketAddr) -> String {
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(format!(
            "ws://{addr}/chat"
        ))
        .unwrap();
    request
        .headers_mut()
        .insert("sec-websocket-protocol", "chat.v1".parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let first = ws.next().await.unwrap().unwrap();
    match serde_json::from_str(first.to_text().unwrap()).unwrap() {
        ServerEnvelope::Welcome { epoch, .. } => epoch,
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_and_epoch_survive_restarting_every_server() {
    let redis = RedisServer::start().await;
    let (a, b) = (Running::start(&redis).await, Running::start(&redis).await);
    let epoch = welcome_epoch(a.addr).await;
    assert_eq!(
        welcome_epoch(b.addr).await,
        epoch,
        "one epoch for all servers"
    );
    let mut ada = ChatClient::named(a.addr, "ada").await;
    join(&mut ada, "kept").await;
    for text in ["one", "two", "three"] {
        ada.send(json!({"type": "send", "room": "kept", "text": text}))
            .await;
        until_ack(&mut ada).await;
    }
    drop(ada);
    a.stop().await;
    b.stop().await;

    let (a, _b) = (Running::start(&redis).await, Running::start(&redis).await);
    assert_eq!(welcome_epoch(a.addr).await, epoch);
    let mut bob = ChatClient::named(a.addr, "bob").await;
    bob.send(json!({"type": "join", "rooms": ["kept"]})).await;
    loop {
        if let ServerEnvelope::Joined { room, history, .. } = bob.recv().await {
            if room == "kept" {
                let texts: Vec<&str> = history.iter().map(|h| h.text.as_str()).collect();
                assert_eq!(texts, ["one", "two", "three"]);
                break;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_redis_refuses_sends_without_losing_any_and_recovers() {
    let mut redis = RedisServer::start().await;
    let (a, b) = (Running::start(&redis).await, Running::start(&redis).await);
    let mut ada = ChatClient::named(a.addr, "ada").await;
    let mut bob = ChatClient::named(b.addr, "bob").await;
    join(&mut ada, "r").await;
    join(&mut bob, "r").await;
    ada.send(json!({"type": "send", "room": "r", "text": "before", "id": "k0"}))
        .await;
    assert!(matches!(
        until_ack(&mut ada).await,
        ServerEnvelope::Ack { seq: 1, .. }
    ));
    assert_eq!(messages(&mut bob, "r", 1).await[0].2, "before");

    redis.stop().await;
    for addr in [a.addr, b.addr] {
        let mut down = false;
        for _ in 0..100 {
            if common::get(addr, "/healthz").await.status == 503 {
                down = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(down, "/healthz reports the lost backplane");
        let metrics = String::from_utf8(common::get(addr, "/metrics").await.body).unwrap();
        assert!(metrics.contains("ferrosocket_redis_up 0"), "{metrics}");
    }
    // Sends are refused, not lost: the client keeps the message and retries later.
    ada.send(json!({"type": "send", "room": "r", "text": "during", "id": "k1"}))
        .await;
    match until_ack(&mut ada).await {
        ServerEnvelope::Error {
            code, reference, ..
        } => {
            assert_eq!(
                (code, reference.as_deref()),
                (ErrorCode::Unavailable, Some("k1"))
            );
        }
        other => panic!("expected unavailable, got {other:?}"),
    }
    // The server itself goes on.
    ada.sync().await;
    bob.sync().await;

    redis.restart().await;
    for addr in [a.addr, b.addr] {
        let mut up = false;
        for _ in 0..200 {
            if common::get(addr, "/healthz").await.status == 200 {
                up = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(up, "the server re-synchronised with Redis");
    }
    // The retried message goes through exactly once, and traffic flows both ways again.
    let mut seq = 0;
    for _ in 0..50 {
        ada.send(json!({"type": "send", "room": "r", "text": "during", "id": "k1"}))
            .await;
        match until_ack(&mut ada).await {
            ServerEnvelope::Ack { seq: s, .. } => {
                seq = s;
                break;
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    assert_eq!(seq, 2, "numbering continues after the outage");
    ada.send(json!({"type": "send", "room": "r", "text": "during", "id": "k1"}))
        .await;
    assert!(
        matches!(
            until_ack(&mut ada).await,
            ServerEnvelope::Ack { seq: 2, .. }
        ),
        "a repeat is not renumbered"
    );
    assert_eq!(
        messages(&mut bob, "r", 1).await,
        [(2, "ada".to_owned(), "during".to_owned())]
    );
    bob.send(json!({"type": "send", "room": "r", "text": "after"}))
        .await;
    assert!(matches!(
        until_ack(&mut bob).await,
        ServerEnvelope::Ack { seq: 3, .. }
    ));
    assert_eq!(
        messages(&mut ada, "r", 1).await,
        [(3, "bob".to_owned(), "after".to_owned())]
    );
    bob.sync().await;
    bob.expect_silence(200).await;
}

#[tokio::test]
async fn an_unreachable_redis_at_start_is_a_clear_error() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = ferrosocket_server::Config {
        addr: "127.0.0.1:0".parse().unwrap(),
        redis_url: Some(format!("redis://127.0.0.1:{closed}/")),
        ..Default::default()
    };
    let err = Server::bind(config).await.unwrap_err().to_string();
    assert!(
        err.contains("cannot use Redis at redis://127.0.0.1:"),
        "{err}"
    );
}
