//! Hostile input at the socket level, below any WebSocket library: every RFC 6455
//! violation gets its close code, every broken handshake its HTTP error, the server stays
//! up, other clients keep being served, and `/metrics` counts what happened.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::Message;

use common::raw::{close_code, frame, CLOSE, CONTINUATION, FIN, KEY, PING, TEXT};

async fn handshake(addr: SocketAddr) -> TcpStream {
    common::raw::handshake(addr, "/echo").await
}

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name}"))
}

async fn echo_still_works(addr: SocketAddr) {
    let (mut ws, _) = connect_async(format!("ws://{addr}/echo")).await.unwrap();
    ws.send(Message::text("still served")).await.unwrap();
    let reply = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(reply, Message::text("still served"));
}

#[tokio::test]
async fn every_frame_level_violation_gets_its_close_code() {
    let addr = common::start_with(|config| common::small_messages(config, 1024)).await;
    // "é" is 0xC3 0xA9: split across fragments it is valid; 0xC3 then 0x28 is not.
    let cases: Vec<(&str, Vec<Vec<u8>>, u16)> = vec![
        (
            "an unmasked frame",
            vec![frame(FIN | TEXT, b"hi", false)],
            1002,
        ),
        (
            "a reserved bit (RSV1) without an extension",
            vec![frame(FIN | 0x40 | TEXT, b"hi", true)],
            1002,
        ),
        (
            "a reserved data opcode",
            vec![frame(FIN | 0x3, b"", true)],
            1002,
        ),
        (
            "a reserved control opcode",
            vec![frame(FIN | 0xB, b"", true)],
            1002,
        ),
        (
            "a fragmented control frame",
            vec![frame(PING, b"x", true)],
            1002,
        ),
        (
            "an oversized control frame",
            vec![frame(FIN | PING, &[0; 126], true)],
            1002,
        ),
        (
            "a continuation without a start",
            vec![frame(FIN | CONTINUATION, b"x", true)],
            1002,
        ),
        (
            "a new message inside a fragmented one",
            vec![frame(TEXT, b"a", true), frame(FIN | TEXT, b"b", true)],
            1002,
        ),
        (
            "invalid UTF-8 in a text frame",
            vec![frame(FIN | TEXT, &[0xff, 0xfe], true)],
            1007,
        ),
        (
            "invalid UTF-8 split across fragments",
            vec![
                frame(TEXT, &[b'a', 0xC3], true),
                frame(FIN | CONTINUATION, &[0x28], true),
            ],
            1007,
        ),
        (
            "a close code that may not be sent (1005)",
            vec![frame(FIN | CLOSE, &1005u16.to_be_bytes(), true)],
            1002,
        ),
        (
            "a close code out of range (999)",
            vec![frame(FIN | CLOSE, &999u16.to_be_bytes(), true)],
            1002,
        ),
        (
            "a one-byte close payload",
            vec![frame(FIN | CLOSE, &[3], true)],
            1002,
        ),
        (
            "a close reason that is not UTF-8",
            vec![frame(FIN | CLOSE, &[0x03, 0xE8, 0xff], true)],
            1007,
        ),
        (
            "a message over the limit",
            vec![frame(FIN | TEXT, &vec![b'a'; 2000], true)],
            1009,
        ),
        (
            "fragments adding up over the limit",
            vec![
                frame(TEXT, &vec![b'a'; 700], true),
                frame(FIN | CONTINUATION, &vec![b'a'; 700], true),
            ],
            1009,
        ),
    ];
    // Each violation is counted once, as it happens: the counter is read around every case.
    let violations = || async {
        metric(
            &String::from_utf8(common::get(addr, "/metrics").await.body).unwrap(),
            "ferrosocket_protocol_violations_total",
        )
    };
    for (what, frames, expected) in &cases {
        let before = violations().await;
        let mut stream = handshake(addr).await;
        for bytes in frames {
            stream.write_all(bytes).await.unwrap();
        }
        assert_eq!(close_code(&mut stream).await, *expected, "{what}");
        assert_eq!(violations().await, before + 1, "{what}: not counted once");
    }
    // A frame header announcing more than the limit is refused before its payload arrives.
    let before = violations().await;
    let mut stream = handshake(addr).await;
    stream.write_all(&[FIN | TEXT, 0x80 | 127]).await.unwrap();
    stream.write_all(&(1u64 << 40).to_be_bytes()).await.unwrap();
    stream.write_all(&KEY).await.unwrap();
    assert_eq!(
        close_code(&mut stream).await,
        1009,
        "a huge announced length"
    );
    assert_eq!(
        violations().await,
        before + 1,
        "a huge announced length: not counted once"
    );

    echo_still_works(addr).await;
}

#[tokio::test]
async fn broken_handshakes_get_http_errors() {
    let addr = common::start_with(|_| {}).await;
    let request = |headers: &str| {
        format!("GET /chat HTTP/1.1\r\nHost: {addr}\r\n{headers}Connection: close\r\n\r\n")
    };
    let upgrade = "Upgrade: websocket\r\nConnection: Upgrade\r\n";
    let cases: Vec<(&str, String, u16)> = vec![
        ("plain HTTP to a WebSocket path", request(""), 426),
        ("no Sec-WebSocket-Key", request(&format!("{upgrade}Sec-WebSocket-Version: 13\r\n")), 400),
        (
            "a key that is not 16 bytes",
            request(&format!("{upgrade}Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: c2hvcnQ=\r\n")),
            400,
        ),
        (
            "an old protocol version",
            request(&format!("{upgrade}Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n")),
            426,
        ),
        (
            "Upgrade to something else",
            request("Upgrade: h2c\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"),
            426,
        ),
    ];
    for (what, raw, status) in &cases {
        assert_eq!(
            common::raw_request(addr, raw).await.status,
            *status,
            "{what}"
        );
    }
    let post = format!(
        "POST /chat HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    assert_eq!(common::raw_request(addr, &post).await.status, 405);
    // Garbage instead of HTTP: hyper answers 400 and closes.
    let garbage = common::raw_request(addr, "\x16\x03\x01 not http at all\r\n\r\n").await;
    assert_eq!(garbage.status, 400);
    echo_still_works(addr).await;
    let text = String::from_utf8(common::get(addr, "/metrics").await.body).unwrap();
    assert_eq!(
        metric(
            &text,
            "ferrosocket_handshakes_rejected_total{reason=\"malformed\"}"
        ),
        6
    );
}

#[tokio::test]
async fn a_handshake_sent_one_byte_at_a_time_is_served_if_timely_and_cut_off_if_not() {
    // 3 s: the timely handshake below takes a fraction of it even on a loaded machine, the
    // slowloris (a byte every 100 ms) would need 15 s.
    let addr = common::start_with(|config| config.handshake_timeout = Duration::from_secs(3)).await;
    let request = format!(
        "GET /echo HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    // Slow but within the timeout: served.
    let mut stream = TcpStream::connect(addr).await.unwrap();
    for byte in request.as_bytes() {
        stream.write_all(&[*byte]).await.unwrap();
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
    let mut status = [0u8; 12];
    stream.read_exact(&mut status).await.unwrap();
    assert_eq!(&status, b"HTTP/1.1 101");
    // Slowloris: a byte every 100 ms never completes the head in time and is cut off,
    // while everyone else is served.
    let mut slow = TcpStream::connect(addr).await.unwrap();
    let cut_off = tokio::spawn(async move {
        for byte in request.as_bytes() {
            if slow.write_all(&[*byte]).await.is_err() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            let mut probe = [0u8; 1];
            if let Ok(Ok(0)) =
                tokio::time::timeout(Duration::from_millis(1), slow.peek(&mut probe)).await
            {
                return true;
            }
        }
        false
    });
    echo_still_works(addr).await;
    assert!(
        cut_off.await.unwrap(),
        "the slowloris connection was never cut off"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_connections_is_bounded_and_others_are_still_served() {
    let addr = common::start_with(|config| {
        config.max_connections = 300;
        config.max_connections_per_ip = 300;
    })
    .await;
    let mut held = Vec::new();
    let mut refused = 0;
    for _ in 0..400 {
        match connect_async(format!("ws://{addr}/echo")).await {
            Ok((ws, _)) => held.push(ws),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 503);
                refused += 1;
            }
            Err(other) => panic!("{other:?}"),
        }
    }
    assert_eq!((held.len(), refused), (300, 100));
    // Plain TCP connections that never speak do not starve anyone either.
    let mut idle = Vec::new();
    for _ in 0..200 {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    // A held connection is still served at once.
    let ws = &mut held[150];
    ws.send(Message::text("in the flood")).await.unwrap();
    assert_eq!(
        ws.next().await.unwrap().unwrap(),
        Message::text("in the flood")
    );
    let text = String::from_utf8(common::get(addr, "/metrics").await.body).unwrap();
    assert_eq!(metric(&text, "ferrosocket_connections"), 300);
    assert_eq!(
        metric(
            &text,
            "ferrosocket_handshakes_rejected_total{reason=\"capacity\"}"
        ),
        100
    );
}
