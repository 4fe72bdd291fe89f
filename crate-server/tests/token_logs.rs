//! No token ever reaches the server's logs: the real binary, at `RUST_LOG=debug` and at
//! `trace`, sees chat tokens (valid, tampered, expired, wrongly signed) in the query and in
//! the `Authorization` header, plain and `chat.v1` clients, and right and wrong operations
//! tokens; neither a token, nor a part of one, nor the signing secret, nor the operations
//! token appears anywhere in its stdout or stderr — while the logs do record those
//! connections, so the search looked at something.

mod common;

use common::tokens::now;

use std::net::SocketAddr;
use std::time::Duration;

use common::binary::ServerProcess;
use common::raw_request;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const SECRET: &str = "token-logs secret Qx7vT2mK9pL4wZ8nB3cF6hJ1";
const METRICS_TOKEN: &str = "ops-token-Hs72kPq0Wz";

fn sign(claims: serde_json::Value, secret: &str) -> String {
    common::tokens::hs256(&claims, secret)
}

/// Tokens of every kind the server must keep out of its logs.
fn tokens() -> Vec<(&'static str, String)> {
    let valid = sign(json!({"sub": "logger", "exp": now() + 600}), SECRET);
    let mut tampered = valid.clone();
    let at = tampered.find('.').unwrap() + 4;
    let flipped = if &tampered[at..=at] == "A" { "B" } else { "A" };
    tampered.replace_range(at..=at, flipped);
    vec![
        ("valid", valid),
        ("tampered", tampered),
        (
            "expired",
            sign(json!({"sub": "late", "exp": now() - 600}), SECRET),
        ),
        (
            "wrong key",
            sign(
                json!({"sub": "forger", "exp": now() + 600}),
                "another secret that is long enough too!!",
            ),
        ),
        ("garbage", "not-a-jwt-Vb93LqPzX0".to_owned()),
    ]
}

/// Opens `/chat` with `token` in the query or in the header, as a `chat.v1` or a plain
/// client; exchanges a message when it is let in, then closes.
async fn use_token(addr: SocketAddr, token: &str, in_header: bool, protocol: bool) {
    let url = if in_header {
        format!("ws://{addr}/chat")
    } else {
        format!("ws://{addr}/chat?access_token={token}")
    };
    let mut request = url.into_client_request().unwrap();
    if in_header {
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    if protocol {
        request
            .headers_mut()
            .insert("sec-websocket-protocol", "chat.v1".parse().unwrap());
    }
    let Ok((mut ws, _)) = connect_async(request).await else {
        return;
    };
    let line = if protocol {
        json!({"type": "send", "room": "lobby", "text": "hello"}).to_string()
    } else {
        "hello".to_owned()
    };
    let _ = ws.send(Message::text(line)).await;
    let _ = tokio::time::timeout(Duration::from_millis(300), ws.next()).await;
    let _ = ws.close(None).await;
    while let Ok(Some(Ok(_))) = tokio::time::timeout(Duration::from_secs(2), ws.next()).await {}
}

async fn scrape(addr: SocketAddr, token: &str) -> u16 {
    raw_request(
        addr,
        &format!(
            "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
        ),
    )
    .await
    .status
}

/// Runs every kind of token past a server logging at `level`; returns its output.
async fn logs_at(level: &str) -> (String, Vec<(&'static str, String)>) {
    let mut server = ServerProcess::start(
        &["--test-endpoints", "--auth-allow-guests"],
        &[
            ("RUST_LOG", level),
            ("FERROSOCKET_AUTH_JWT_SECRET", SECRET),
            ("FERROSOCKET_METRICS_TOKEN", METRICS_TOKEN),
        ],
    );
    let tokens = tokens();
    for (_, token) in &tokens {
        for in_header in [false, true] {
            for protocol in [false, true] {
                use_token(server.addr, token, in_header, protocol).await;
            }
        }
    }
    assert_eq!(scrape(server.addr, METRICS_TOKEN).await, 200);
    assert_eq!(scrape(server.addr, "wrong-ops-token").await, 401);
    assert_eq!(scrape(server.addr, &tokens[0].1).await, 401);
    server.stop();
    (server.output(), tokens)
}

/// Pieces of `secret` long enough that finding one in the logs means it leaked: a JWT's
/// three parts and every 12-character window of each.
fn pieces(secret: &str) -> Vec<String> {
    let mut pieces = vec![secret.to_owned()];
    for part in secret.split('.').filter(|part| part.len() >= 12) {
        pieces.push(part.to_owned());
        let chars: Vec<char> = part.chars().collect();
        pieces.extend(chars.windows(12).map(|window| window.iter().collect()));
    }
    pieces
}

fn assert_clean(level: &str, logs: &str, tokens: &[(&'static str, String)]) {
    // The search must have looked at something: the connections were logged.
    assert!(
        logs.contains("websocket opened") && logs.contains("/chat"),
        "RUST_LOG={level} logged no connection:\n{logs}"
    );
    let mut secrets: Vec<(String, String)> = tokens
        .iter()
        .map(|(kind, token)| (format!("{kind} token"), token.clone()))
        .collect();
    secrets.push(("the signing secret".into(), SECRET.into()));
    secrets.push(("the operations token".into(), METRICS_TOKEN.into()));
    for (what, secret) in secrets {
        for piece in pieces(&secret) {
            assert!(
                !logs.contains(&piece),
                "RUST_LOG={level}: {what} appears in the logs ({piece:?}):\n{logs}"
            );
        }
    }
    assert!(
        !logs.contains("access_token="),
        "a query string was logged:\n{logs}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_nor_secret_appears_in_the_logs_at_debug() {
    let (logs, tokens) = logs_at("debug").await;
    assert_clean("debug", &logs, &tokens);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_nor_secret_appears_in_the_logs_at_trace() {
    let (logs, tokens) = logs_at("trace").await;
    assert_clean("trace", &logs, &tokens);
}
