//! The HTTP edge before any WebSocket exists: caps on sockets that have not become
//! WebSockets (in total and per address), and the admin address that keeps `/metrics` and
//! the test endpoints off the public port.
//!
//! Flood sockets come from other loopback addresses (127.0.0.2, 127.0.0.3...), so that the
//! honest client on 127.0.0.1 is a different address, as it would be on a real network.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::Message;

/// A TCP connection to `addr` from the loopback address `from`, that never sends a byte.
async fn silent_socket(from: &str, addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::new(from.parse::<IpAddr>().unwrap(), 0))
        .unwrap();
    socket.connect(addr).await.unwrap()
}

/// What the server says on `stream` within `wait`: its first bytes, or `None` if it says
/// nothing (the socket is held open, waiting for a request).
async fn first_words(stream: &mut TcpStream, wait: Duration) -> Option<String> {
    let mut buf = vec![0; 256];
    match tokio::time::timeout(wait, stream.read(&mut buf)).await {
        Ok(Ok(n)) => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
        Ok(Err(err)) => Some(format!("error: {err}")),
        Err(_) => None,
    }
}

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no metric {name} in:\n{text}"))
}

/// The honest client: a page, and a WebSocket that echoes.
async fn honest_client_is_served(addr: SocketAddr) {
    let health = common::get(addr, "/healthz").await;
    assert_eq!(health.status, 200, "an honest HTTP request was refused");
    let (mut ws, _) = connect_async(format!("ws://{addr}/echo"))
        .await
        .expect("an honest WebSocket was refused");
    ws.send(Message::text("still here")).await.unwrap();
    assert_eq!(
        ws.next().await.unwrap().unwrap(),
        Message::text("still here")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_silent_sockets_from_one_address_is_capped_and_others_still_connect() {
    let addr = common::start_with(|config| {
        config.max_pending_connections = 100;
        config.max_pending_connections_per_ip = 20;
        // Long enough that no held socket is timed out during the test.
        config.handshake_timeout = Duration::from_secs(60);
    })
    .await;

    let mut flood = Vec::new();
    for _ in 0..60 {
        flood.push(silent_socket("127.0.0.2", addr).await);
    }
    // Wait until the server has looked at every one of them.
    let refusals = "ferrosocket_handshakes_rejected_total{reason=\"pending_per_ip\"}";
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let text = String::from_utf8(common::get(addr, "/metrics").await.body).unwrap();
        if metric(&text, refusals) >= 40 || tokio::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut held = 0;
    let mut refused = 0;
    for stream in &mut flood {
        match first_words(stream, Duration::from_millis(100)).await {
            None => held += 1,
            Some(words) => {
                assert!(words.starts_with("HTTP/1.1 429"), "{words}");
                refused += 1;
            }
        }
    }
    assert_eq!((held, refused), (20, 40), "the per-address cap is 20");

    // Another address is not affected: pages and WebSockets work.
    honest_client_is_served(addr).await;

    let text = String::from_utf8(common::get(addr, "/metrics").await.body).unwrap();
    assert_eq!(metric(&text, refusals), 40);

    // Once the flood goes away, its address may connect again.
    // (The server frees their places as it notices them closed: retried until it has.)
    drop(flood);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mut again = silent_socket("127.0.0.2", addr).await;
        match first_words(&mut again, Duration::from_millis(300)).await {
            None => break,
            Some(words) => assert!(
                words.starts_with("HTTP/1.1 429") && tokio::time::Instant::now() < deadline,
                "the address was never let in again: {words}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_total_of_pending_sockets_is_capped_and_the_handshake_timeout_frees_places() {
    let addr = common::start_with(|config| {
        config.max_pending_connections = 30;
        config.max_pending_connections_per_ip = 10;
        config.handshake_timeout = Duration::from_secs(5);
    })
    .await;

    // Three addresses take every place; a fourth still gets in: the oldest silent socket
    // of the busiest address is dropped to make room, so a flood never locks a newcomer out.
    let mut flood = Vec::new();
    for from in ["127.0.0.2", "127.0.0.3", "127.0.0.4"] {
        for _ in 0..10 {
            flood.push(silent_socket(from, addr).await);
        }
    }
    let mut late = silent_socket("127.0.0.5", addr).await;
    assert_eq!(
        first_words(&mut late, Duration::from_millis(500)).await,
        None,
        "the newcomer was refused although the flood could make room"
    );
    // The socket that made room is closed as soon as its task runs: looked for until then.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut dropped = 0;
    while dropped == 0 && tokio::time::Instant::now() < deadline {
        for stream in &mut flood {
            if first_words(stream, Duration::from_millis(20))
                .await
                .is_some()
            {
                dropped += 1;
            }
        }
    }
    assert_eq!(dropped, 1, "exactly one flood socket made room");

    // Silent sockets are dropped after the handshake timeout, and honest clients are
    // served again without the flood going away by itself.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let mut probe = TcpStream::connect(addr).await.unwrap();
        let healthy = async {
            use tokio::io::AsyncWriteExt;
            probe
                .write_all(
                    format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
                        .as_bytes(),
                )
                .await
                .ok()?;
            let mut response = Vec::new();
            probe.read_to_end(&mut response).await.ok()?;
            Some(response.starts_with(b"HTTP/1.1 200"))
        };
        if tokio::time::timeout(Duration::from_secs(2), healthy).await == Ok(Some(true)) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the pending places were never freed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The flood's sockets were closed by the server.
    for stream in &mut flood {
        let words = first_words(stream, Duration::from_secs(5)).await;
        assert!(
            words
                .as_deref()
                .is_some_and(|w| w.is_empty() || w.starts_with("error")),
            "a silent socket outlived the handshake timeout: {words:?}"
        );
    }
    honest_client_is_served(addr).await;
    let text = String::from_utf8(common::get(addr, "/metrics").await.body).unwrap();
    assert!(
        metric(
            &text,
            "ferrosocket_handshakes_rejected_total{reason=\"pending\"}"
        ) >= 1
    );
}

#[tokio::test]
async fn with_an_admin_address_metrics_and_test_endpoints_are_served_only_there() {
    let www = std::env::temp_dir().join(format!("ferrosocket-www-admin-{}", std::process::id()));
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("index.html"), "<!doctype html><title>t</title>").unwrap();
    let server = common::bind_with(|config| {
        config.www = www;
        config.test_endpoints = true;
        config.admin_addr = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let public = server.local_addr();
    let admin = server.admin_addr().expect("an admin address");
    assert_ne!(public, admin);
    tokio::spawn(server.run_until(std::future::pending()));

    for path in ["/metrics", "/test/unavailable?ms=1", "/test/drop"] {
        assert_eq!(
            common::get(public, path).await.status,
            404,
            "{path} on the public port"
        );
    }
    let firehose = connect_async(format!("ws://{public}/test/firehose?count=1")).await;
    assert!(
        firehose.is_err(),
        "the firehose must not open on the public port"
    );
    assert_eq!(common::get(public, "/").await.status, 200);
    assert_eq!(common::get(public, "/healthz").await.status, 200);
    honest_client_is_served(public).await;

    let metrics = common::get(admin, "/metrics").await;
    assert_eq!(metrics.status, 200);
    let text = String::from_utf8(metrics.body).unwrap();
    assert!(metric(&text, "ferrosocket_connections_total") >= 1);
    assert_eq!(
        common::get(admin, "/test/unavailable?ms=1").await.status,
        200
    );
    assert_eq!(common::get(admin, "/healthz").await.status, 200);
    // The admin port serves nothing else: no pages, no chat.
    assert_eq!(common::get(admin, "/").await.status, 404);
    assert!(connect_async(format!("ws://{admin}/echo")).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_nobody_reads_is_dropped_after_the_write_timeout() {
    use tokio::io::AsyncWriteExt;
    let www = std::env::temp_dir().join(format!("ferrosocket-www-stall-{}", std::process::id()));
    std::fs::create_dir_all(&www).unwrap();
    // Far more than the kernel buffers between the server and this client hold.
    std::fs::write(www.join("big.bin"), vec![7u8; 48 << 20]).unwrap();
    let server = common::bind_with(|config| {
        config.www = www;
        config.write_timeout = Duration::from_secs(1);
    })
    .await;
    let metrics = server.metrics();
    let addr = server.local_addr();
    tokio::spawn(server.run_until(std::future::pending()));

    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(format!("GET /big.bin HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    // Never read: the server's writes stall, and after the write timeout it gives up.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !metrics
        .render()
        .contains("ferrosocket_limit_hits_total{limit=\"write_timeout\"} 1")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the stalled download was never dropped"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The client gets what the buffers held, then the end: far less than the file.
    let mut received = 0;
    let mut buf = vec![0; 1 << 20];
    loop {
        match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => received += n,
            Err(_) => panic!("the connection was left open"),
        }
    }
    assert!(received < 48 << 20, "received {received} bytes");
}
