//! The server's hard limits and operations: rate, size, connection counts, Origin,
//! heartbeat, slow consumers, protocol violations at the socket level, shutdown, TLS,
//! `/healthz` and `/metrics`.

mod common;

use std::time::Duration;

use common::chat::ChatClient;
use ferrosocket_wire::chat::{ErrorCode, ServerEnvelope};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no metric {name} in:\n{text}"))
}

async fn metrics(addr: std::net::SocketAddr) -> String {
    String::from_utf8(common::get(addr, "/metrics").await.body).unwrap()
}

#[tokio::test]
async fn over_the_rate_limit_messages_are_refused_then_the_connection_is_closed_1008() {
    let addr = common::start_with(|config| {
        config.rate_limit = 1;
        config.rate_burst = 3;
    })
    .await;
    let mut ada = ChatClient::connect(addr).await;
    for i in 0..3 {
        ada.send(json!({"type": "ping", "id": i.to_string()})).await;
        assert!(matches!(ada.recv().await, ServerEnvelope::Pong { .. }));
    }
    ada.send(json!({"type": "ping", "id": "over"})).await;
    match ada.recv().await {
        ServerEnvelope::Error {
            code,
            message,
            reference,
        } => {
            assert_eq!(code, ErrorCode::RateLimited);
            assert!(message.contains("1 messages per second"), "{message}");
            // The refusal names the envelope it refused.
            assert_eq!(reference.as_deref(), Some("over"));
        }
        other => panic!("{other:?}"),
    }
    // Persisting for another whole burst closes the connection.
    for _ in 0..4 {
        ada.send(json!({"type": "ping"})).await;
    }
    let frame = ada.closed().await;
    assert_eq!(u16::from(frame.code), 1008);
    let text = metrics(addr).await;
    assert!(metric(&text, "ferrosocket_limit_hits_total{limit=\"rate\"}") >= 3);
    assert_eq!(
        metric(&text, "ferrosocket_limit_hits_total{limit=\"rate_close\"}"),
        1
    );
}

#[tokio::test]
async fn a_chat_message_over_the_size_limit_is_closed_1009() {
    let addr = common::start_with(|config| common::small_messages(config, 1024)).await;
    let mut ada = ChatClient::connect(addr).await;
    ada.send(json!({"type": "send", "room": "lobby", "text": "x".repeat(1100)}))
        .await;
    assert_eq!(u16::from(ada.closed().await.code), 1009);
    assert_eq!(
        metric(
            &metrics(addr).await,
            "ferrosocket_limit_hits_total{limit=\"message_size\"}"
        ),
        1
    );
}

#[tokio::test]
async fn connections_beyond_the_limits_are_refused_503_and_429() {
    let addr = common::start_with(|config| {
        config.max_connections = 2;
        config.max_connections_per_ip = 1;
    })
    .await;
    let (_first, _) = connect_async(format!("ws://{addr}/echo")).await.unwrap();
    let status = |err| match err {
        tokio_tungstenite::tungstenite::Error::Http(response) => response.status().as_u16(),
        other => panic!("expected an HTTP refusal, got {other:?}"),
    };
    assert_eq!(
        status(
            connect_async(format!("ws://{addr}/echo"))
                .await
                .unwrap_err()
        ),
        429
    );

    let addr = common::start_with(|config| config.max_connections = 1).await;
    let (first, _) = connect_async(format!("ws://{addr}/echo")).await.unwrap();
    assert_eq!(
        status(
            connect_async(format!("ws://{addr}/echo"))
                .await
                .unwrap_err()
        ),
        503
    );
    drop(first);
    // The place is freed once the connection has ended.
    let mut admitted = false;
    for _ in 0..50 {
        if connect_async(format!("ws://{addr}/echo")).await.is_ok() {
            admitted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(admitted);
    let text = metrics(addr).await;
    assert!(
        metric(
            &text,
            "ferrosocket_handshakes_rejected_total{reason=\"capacity\"}"
        ) >= 1
    );
}

async fn handshake_status(addr: std::net::SocketAddr, origin: &str) -> u16 {
    let mut request = format!("ws://{addr}/chat").into_client_request().unwrap();
    request
        .headers_mut()
        .insert("origin", origin.parse().unwrap());
    match connect_async(request).await {
        Ok((_, response)) => response.status().as_u16(),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn only_the_own_origin_and_allowed_ones_may_connect() {
    let addr = common::start_with(|config| {
        config.allow_origins = vec!["https://app.example".into()];
    })
    .await;
    assert_eq!(handshake_status(addr, &format!("http://{addr}")).await, 101);
    assert_eq!(handshake_status(addr, "https://app.example").await, 101);
    assert_eq!(handshake_status(addr, "http://evil.example").await, 403);
    assert_eq!(handshake_status(addr, "null").await, 403);
    let text = metrics(addr).await;
    assert_eq!(
        metric(
            &text,
            "ferrosocket_handshakes_rejected_total{reason=\"origin\"}"
        ),
        2
    );
}

#[tokio::test]
async fn a_silent_peer_is_pinged_then_closed_while_a_live_one_stays() {
    // Pings come quickly, but a ping may go unanswered for 5 s before the peer is closed:
    // a live peer on a loaded machine answers well within that, a silent one never does.
    let addr = common::start_with(|config| {
        config.ping_interval = Duration::from_millis(200);
        config.pong_timeout = Duration::from_secs(5);
    })
    .await;
    // This one reads, so tungstenite answers the server's pings.
    let (mut live, _) = connect_async(format!("ws://{addr}/echo")).await.unwrap();
    let live_task = tokio::spawn(async move {
        let mut pings = 0;
        while let Some(Ok(message)) = live.next().await {
            if message.is_ping() {
                pings += 1;
                if pings == 4 {
                    break;
                }
            }
        }
        live.send(Message::text("alive")).await.unwrap();
        live.next().await.unwrap().unwrap()
    });
    // This one completed the handshake and then went silent.
    let mut silent = common::raw::handshake(addr, "/echo").await;
    assert_eq!(common::raw::close_code(&mut silent).await, 1001);
    assert_eq!(live_task.await.unwrap(), Message::text("alive"));
    assert!(
        metric(
            &metrics(addr).await,
            "ferrosocket_limit_hits_total{limit=\"idle\"}"
        ) >= 1
    );
}

#[tokio::test]
async fn a_slow_consumer_is_closed_1013_and_everyone_else_gets_every_message() {
    let addr = common::start_with(|config| {
        config.rate_limit = 1_000_000;
        config.rate_burst = 1_000_000;
        config.rate_bytes = Some(1 << 30);
    })
    .await;
    // Joins the lobby, then never reads again.
    let mut slow = common::raw::handshake(addr, "/chat").await;
    let mut fast = ChatClient::connect(addr).await;
    let mut sender = ChatClient::connect(addr).await;
    fast.sync().await;
    sender.sync().await;

    let text = "y".repeat(16 * 1024);
    let total = 600; // ~10 MB: more than the kernel buffers of the silent socket hold
                     // The slow one reads nothing until the server has decided to close it, then reads what
                     // is left: the server finishes the frame it was writing and adds a close frame, within
                     // its grace period. (A peer that reads nothing at all can get no close frame.)
    let slow_reader = tokio::spawn(async move {
        while metric(
            &metrics(addr).await,
            "ferrosocket_slow_consumer_closes_total",
        ) == 0
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut sink = Vec::new();
        let drained =
            tokio::time::timeout(Duration::from_secs(10), slow.read_to_end(&mut sink)).await;
        assert!(
            drained.is_ok(),
            "the slow consumer's connection was not closed"
        );
        sink
    });
    let fast_reader = tokio::spawn(async move {
        let mut received = 0;
        while received < total {
            if let ServerEnvelope::Message { .. } = fast.recv().await {
                received += 1;
            }
        }
        received
    });
    for i in 0..total {
        sender
            .send(json!({"type": "send", "room": "lobby", "text": text, "id": i.to_string()}))
            .await;
        loop {
            if let ServerEnvelope::Ack { .. } = sender.recv().await {
                break;
            }
        }
    }
    assert_eq!(fast_reader.await.unwrap(), total);
    assert_eq!(
        metric(
            &metrics(addr).await,
            "ferrosocket_slow_consumer_closes_total"
        ),
        1
    );
    // The slow one's socket is closed (after whatever was already in flight), and the last
    // frame on it is a close frame with 1013.
    let sink = slow_reader.await.unwrap();
    assert_eq!(
        last_close_code(&sink),
        Some(1013),
        "the slow consumer must be told why: 1013 (try again later)"
    );
}

/// The code of the close frame that ends `stream` (server frames are unmasked), if it ends
/// with one.
fn last_close_code(stream: &[u8]) -> Option<u16> {
    // A close frame with a reason under 126 bytes: 0x88, length, code (2 bytes), reason.
    (0..stream.len().saturating_sub(3)).rev().find_map(|start| {
        let len = usize::from(stream[start + 1]);
        (stream[start] == 0x88 && (2..126).contains(&len) && start + 2 + len == stream.len())
            .then(|| u16::from_be_bytes([stream[start + 2], stream[start + 3]]))
    })
}

#[tokio::test]
async fn shutdown_closes_every_websocket_with_1001_and_returns() {
    let server = common::bind_with(|_| {}).await;
    let addr = server.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.run_until(async {
        let _ = stopped.await;
    }));
    let mut chat = ChatClient::connect(addr).await;
    let (mut echo, _) = connect_async(format!("ws://{addr}/echo")).await.unwrap();
    stop.send(()).unwrap();
    assert_eq!(u16::from(chat.closed().await.code), 1001);
    match echo.next().await {
        Some(Ok(Message::Close(Some(frame)))) => {
            assert_eq!(frame.reason.as_str(), "server shutting down")
        }
        other => panic!("{other:?}"),
    }
    tokio::time::timeout(Duration::from_secs(6), running)
        .await
        .expect("run_until returns within the shutdown timeout")
        .unwrap()
        .unwrap();
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "no longer accepting"
    );
}

#[tokio::test]
async fn healthz_and_metrics_answer() {
    let addr = common::start_with(|_| {}).await;
    let health = common::get(addr, "/healthz").await;
    assert_eq!((health.status, health.body.as_slice()), (200, &b"ok\n"[..]));
    let (mut ws, _) = connect_async(format!("ws://{addr}/echo")).await.unwrap();
    ws.send(Message::text("12345")).await.unwrap();
    ws.next().await.unwrap().unwrap();
    let response = common::get(addr, "/metrics").await;
    assert!(response
        .header("content-type")
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = String::from_utf8(response.body).unwrap();
    assert_eq!(metric(&text, "ferrosocket_connections"), 1);
    assert_eq!(metric(&text, "ferrosocket_messages_in_total"), 1);
    assert_eq!(metric(&text, "ferrosocket_bytes_in_total"), 5);
    assert!(text.contains("# TYPE ferrosocket_messages_out_total counter"));
}

#[tokio::test]
async fn a_handshake_sent_too_slowly_is_cut_off() {
    let addr =
        common::start_with(|config| config.handshake_timeout = Duration::from_millis(300)).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /echo HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut rest = Vec::new();
    // The server's timeout is short; the wait for it generous (a loaded machine is late).
    let ended = tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut rest)).await;
    assert!(ended.is_ok(), "the server kept a half-sent handshake open");
    // Others are served meanwhile and after.
    assert_eq!(common::get(addr, "/healthz").await.status, 200);
    assert!(
        metric(
            &metrics(addr).await,
            "ferrosocket_limit_hits_total{limit=\"handshake_timeout\"}"
        ) >= 1
    );
}

#[tokio::test]
async fn the_test_drop_endpoint_exists_only_when_enabled_and_drops_without_a_close_frame() {
    let addr = common::start_with(|_| {}).await;
    assert_eq!(common::get(addr, "/test/drop").await.status, 404);

    let addr = common::start_with(|config| config.test_endpoints = true).await;
    let (mut socket, _) = connect_async(format!("ws://{addr}/echo")).await.unwrap();
    // A long outage, so that the refusal below is seen however late this task runs; its end
    // is waited for, not slept through.
    let response = common::get(addr, "/test/drop?outage_ms=3000").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("access-control-allow-origin"), Some("*"));
    match tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .unwrap()
    {
        None | Some(Err(_)) => {}
        other => panic!("expected the connection to drop without a close frame, got {other:?}"),
    }
    let refused = connect_async(format!("ws://{addr}/echo"))
        .await
        .unwrap_err();
    assert!(matches!(refused, tokio_tungstenite::tungstenite::Error::Http(r) if r.status() == 503));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while connect_async(format!("ws://{addr}/echo")).await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the outage never ends"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_firehose_delivers_every_message_then_closes_normally_and_checks_its_query() {
    let addr = common::start_with(|_| {}).await;
    assert_eq!(common::get(addr, "/test/firehose").await.status, 404);

    let addr = common::start_with(|config| config.test_endpoints = true).await;
    let response = common::get(addr, "/test/firehose?count=0").await;
    assert_eq!(response.status, 400);
    assert!(String::from_utf8_lossy(&response.body).contains("count"));

    // 16 MiB, more than the socket buffers hold: with the client not reading yet, the
    // writer is in the middle of a batch when the firehose asks to close. No message
    // already taken from the queue may be lost to that close.
    let (count, size) = (1024, 16 * 1024);
    let (mut socket, _) = connect_async(format!(
        "ws://{addr}/test/firehose?count={count}&size={size}"
    ))
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut received = 0;
    let close = loop {
        match tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("the firehose keeps going until it closes")
        {
            Some(Ok(Message::Text(text))) => {
                assert_eq!(text.len(), size);
                received += 1;
            }
            Some(Ok(Message::Close(frame))) => break frame,
            other => panic!("unexpected {other:?} after {received} messages"),
        }
    };
    assert_eq!(received, count);
    assert_eq!(close.map(|frame| u16::from(frame.code)), Some(1000));
}
