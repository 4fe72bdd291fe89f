//! Token authentication on `/chat`, against the real server on a real port: a valid token
//! connects with its identity; every bad token is refused before the upgrade with its
//! reason; room permissions hold for join and send; expiry closes the connection; guests
//! cannot take names; an RSA/EC server refuses the HS256 algorithm-confusion trick.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::chat::Ws;
use common::{raw_request, start_with};
use ferrosocket_wire::chat::{ErrorCode, ServerEnvelope, SUBPROTOCOL};
use futures_util::{SinkExt, StreamExt};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const SECRET: &str = "the integration tests' secret, at least 32 bytes";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn hs256(claims: Value, secret: &str) -> String {
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

async fn server(allow_guests: bool) -> SocketAddr {
    start_with(|config| {
        config.auth_jwt_secret = Some(SECRET.into());
        config.auth_allow_guests = allow_guests;
    })
    .await
}

/// Opens `/chat` with `chat.v1` and `token` (if any) in the query; returns the socket and
/// the nickname of its `welcome`.
async fn connect(addr: SocketAddr, token: Option<&str>) -> (Ws, String) {
    let query = token.map_or(String::new(), |t| format!("?access_token={t}"));
    let mut request = format!("ws://{addr}/chat{query}")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("sec-websocket-protocol", SUBPROTOCOL.parse().unwrap());
    let (mut ws, _) = connect_async(request)
        .await
        .expect("the handshake succeeds");
    match recv(&mut ws).await {
        ServerEnvelope::Welcome { nick, .. } => (ws, nick),
        other => panic!("expected welcome, got {other:?}"),
    }
}

async fn recv(ws: &mut Ws) -> ServerEnvelope {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("an envelope within 10 s")
            .expect("the connection is open")
            .expect("no protocol error");
        if let Message::Text(text) = frame {
            return serde_json::from_str(text.as_str()).unwrap();
        }
    }
}

/// The next envelope that is not presence.
async fn answer(ws: &mut Ws) -> ServerEnvelope {
    loop {
        match recv(ws).await {
            ServerEnvelope::Presence { .. } => continue,
            other => return other,
        }
    }
}

async fn send(ws: &mut Ws, envelope: Value) {
    ws.send(Message::text(envelope.to_string())).await.unwrap();
}

fn error_code(envelope: &ServerEnvelope) -> Option<ErrorCode> {
    match envelope {
        ServerEnvelope::Error { code, .. } => Some(*code),
        _ => None,
    }
}

/// A `/chat` handshake by hand, to read the refusal the server answers.
async fn handshake(addr: SocketAddr, query: &str, extra_header: &str) -> common::RawResponse {
    raw_request(
        addr,
        &format!(
            "GET /chat{query} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade, close\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Protocol: chat.v1\r\n{extra_header}\r\n"
        ),
    )
    .await
}

#[tokio::test]
async fn a_valid_token_connects_with_its_identity_which_cannot_be_changed() {
    let addr = server(false).await;
    let ada = hs256(
        json!({"sub": "u-1", "name": "ada", "exp": now() + 300}),
        SECRET,
    );
    let (mut ws, nick) = connect(addr, Some(&ada)).await;
    assert_eq!(nick, "ada");
    assert!(
        matches!(answer(&mut ws).await, ServerEnvelope::Joined { room, .. } if room == "lobby")
    );
    send(&mut ws, json!({"type": "nick", "nick": "eve"})).await;
    assert_eq!(
        error_code(&answer(&mut ws).await),
        Some(ErrorCode::Forbidden)
    );

    // `sub` is the nickname when there is no `name`; others see it. The header works too.
    let bob = hs256(json!({"sub": "bob", "exp": now() + 300}), SECRET);
    let mut request = format!("ws://{addr}/chat").into_client_request().unwrap();
    request
        .headers_mut()
        .insert("sec-websocket-protocol", SUBPROTOCOL.parse().unwrap());
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {bob}").parse().unwrap());
    let (mut bob_ws, _) = connect_async(request).await.unwrap();
    assert!(
        matches!(recv(&mut bob_ws).await, ServerEnvelope::Welcome { nick, .. } if nick == "bob")
    );
    match recv(&mut bob_ws).await {
        ServerEnvelope::Joined { members, .. } => {
            assert!(
                members.contains(&"ada".to_owned()) && members.contains(&"bob".to_owned()),
                "{members:?}"
            )
        }
        other => panic!("expected the lobby, got {other:?}"),
    }

    // While ada is connected, her name is refused to a second connection (409).
    let again = handshake(addr, &format!("?access_token={ada}"), "").await;
    assert_eq!(
        again.status,
        409,
        "{}",
        String::from_utf8_lossy(&again.body)
    );
}

#[tokio::test]
async fn every_bad_token_is_refused_before_the_upgrade_with_its_reason() {
    let addr = server(false).await;
    let good = hs256(json!({"sub": "ada", "exp": now() + 300}), SECRET);
    let (head, rest) = good.split_once('.').unwrap();
    // Another payload under the original signature.
    let forged_payload = hs256(json!({"sub": "root", "exp": now() + 300}), SECRET);
    let forged = format!(
        "{head}.{}.{}",
        forged_payload.split('.').nth(1).unwrap(),
        rest.split('.').nth(1).unwrap()
    );
    let cases = [
        ("".to_owned(), "a token is required"),
        (
            format!(
                "?access_token={}",
                hs256(json!({"sub": "ada", "exp": now() - 600}), SECRET)
            ),
            "expired",
        ),
        (format!("?access_token={forged}"), "signature"),
        (
            format!(
                "?access_token={}",
                hs256(
                    json!({"sub": "ada", "exp": now() + 300}),
                    "a different secret of at least 32 bytes"
                )
            ),
            "signature",
        ),
        ("?access_token=not-a-jwt".to_owned(), "malformed"),
        (
            format!("?access_token={}", hs256(json!({"sub": "ada"}), SECRET)),
            "\"exp\" is missing",
        ),
        (
            format!(
                "?access_token={}",
                hs256(json!({"sub": "guest-1", "exp": now() + 300}), SECRET)
            ),
            "guests",
        ),
    ];
    for (query, reason) in cases {
        let response = handshake(addr, &query, "").await;
        let body = String::from_utf8_lossy(&response.body);
        assert_eq!(response.status, 401, "{query}: {body}");
        assert!(
            body.contains(reason),
            "{query}: expected {reason:?} in {body:?}"
        );
        assert!(
            response
                .header("www-authenticate")
                .is_some_and(|h| h.starts_with("Bearer")),
            "{query}: {:?}",
            response.headers
        );
        assert!(response.header("upgrade").is_none(), "{query}: no upgrade");
    }
    let metrics = String::from_utf8(common::get(addr, "/metrics").await.body).unwrap();
    assert!(
        metrics.contains("handshakes_rejected_total{reason=\"auth\"} 7"),
        "{metrics}"
    );
}

#[tokio::test]
async fn room_permissions_hold_for_join_and_send() {
    let addr = server(false).await;
    let token = hs256(
        json!({"sub": "ada", "exp": now() + 300, "rooms": {"join": ["lobby", "news-*"], "post": ["lobby"]}}),
        SECRET,
    );
    let (mut ws, _) = connect(addr, Some(&token)).await;
    assert!(matches!(
        answer(&mut ws).await,
        ServerEnvelope::Joined { .. }
    ));
    send(&mut ws, json!({"type": "join", "rooms": ["secret"]})).await;
    assert_eq!(
        error_code(&answer(&mut ws).await),
        Some(ErrorCode::Forbidden)
    );
    send(&mut ws, json!({"type": "join", "rooms": ["news-today"]})).await;
    assert!(
        matches!(answer(&mut ws).await, ServerEnvelope::Joined { room, .. } if room == "news-today")
    );
    // Read-only: refused for good, and the line number is used up, so the next line goes on.
    send(
        &mut ws,
        json!({"type": "send", "room": "news-today", "text": "hi", "id": "a", "n": 1}),
    )
    .await;
    assert_eq!(
        error_code(&answer(&mut ws).await),
        Some(ErrorCode::Forbidden)
    );
    send(
        &mut ws,
        json!({"type": "send", "room": "lobby", "text": "hi", "id": "b", "n": 2}),
    )
    .await;
    loop {
        match answer(&mut ws).await {
            ServerEnvelope::Ack { room, .. } => {
                assert_eq!(room, "lobby");
                break;
            }
            ServerEnvelope::Message { .. } => continue,
            other => panic!("expected the ack of line 2, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn the_connection_is_closed_with_4401_when_its_token_expires() {
    let addr = server(false).await;
    let token = hs256(json!({"sub": "ada", "exp": now() + 2}), SECRET);
    let (mut ws, _) = connect(addr, Some(&token)).await;
    let close = loop {
        match tokio::time::timeout(Duration::from_secs(15), ws.next()).await {
            Ok(Some(Ok(Message::Close(Some(frame))))) => break frame,
            Ok(Some(Ok(_))) => continue,
            other => panic!("expected a close frame within 15 s, got {other:?}"),
        }
    };
    assert_eq!(
        (u16::from(close.code), close.reason.as_str()),
        (4401, "token expired")
    );
}

#[tokio::test]
async fn guests_come_in_only_when_allowed_and_keep_their_generated_names() {
    let closed = server(false).await;
    assert_eq!(handshake(closed, "", "").await.status, 401);

    let open = server(true).await;
    let (mut guest, nick) = connect(open, None).await;
    assert!(nick.starts_with("guest-"), "{nick}");
    assert!(matches!(
        answer(&mut guest).await,
        ServerEnvelope::Joined { .. }
    ));
    send(&mut guest, json!({"type": "nick", "nick": "ada"})).await;
    assert_eq!(
        error_code(&answer(&mut guest).await),
        Some(ErrorCode::Forbidden)
    );
    // A bad token is still refused: guests are those without a token, not with a wrong one.
    let bad = hs256(
        json!({"sub": "ada", "exp": now() + 300}),
        "a different secret of at least 32 bytes",
    );
    assert_eq!(
        handshake(open, &format!("?access_token={bad}"), "")
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn a_public_key_server_accepts_its_algorithm_and_refuses_hs256_confusion() {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let dir = std::env::temp_dir().join(format!("ferrosocket-auth-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let public_pem = dir.join("public.pem");
    std::fs::write(&public_pem, key.public_key_pem()).unwrap();
    let addr = start_with(|config| config.auth_jwt_public_key = Some(public_pem.clone())).await;

    let es256 = encode(
        &Header::new(Algorithm::ES256),
        &json!({"sub": "ada", "exp": now() + 300}),
        &EncodingKey::from_ec_pem(key.serialize_pem().as_bytes()).unwrap(),
    )
    .unwrap();
    let (_ws, nick) = connect(addr, Some(&es256)).await;
    assert_eq!(nick, "ada");

    // The classic attack: HS256 "signed" with the public key as the secret.
    let confused = hs256(
        json!({"sub": "eve", "exp": now() + 300}),
        &key.public_key_pem(),
    );
    let response = handshake(addr, &format!("?access_token={confused}"), "").await;
    assert_eq!(
        response.status,
        401,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// Opens `/chat` with no subprotocol (a plain client) and `token`.
async fn connect_plain(addr: SocketAddr, token: &str) -> Ws {
    let (ws, _) = connect_async(format!("ws://{addr}/chat?access_token={token}"))
        .await
        .expect("the handshake succeeds");
    ws
}

/// The next text frame, or the close frame's code and reason.
async fn next_plain(ws: &mut Ws) -> Result<String, (u16, String)> {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => return Ok(text.to_string()),
            Ok(Some(Ok(Message::Close(Some(frame))))) => {
                return Err((u16::from(frame.code), frame.reason.to_string()))
            }
            Ok(Some(Ok(_))) => continue,
            other => panic!("expected a frame within 10 s, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_plain_client_gets_its_tokens_identity_and_limits() {
    let addr = server(false).await;
    // Not allowed in the lobby, where a plain client lives: closed with 4403.
    let elsewhere = hs256(
        json!({"sub": "ada", "exp": now() + 300, "rooms": {"join": ["news"]}}),
        SECRET,
    );
    let mut ws = connect_plain(addr, &elsewhere).await;
    assert_eq!(
        next_plain(&mut ws).await,
        Err((4403, "your token does not allow the lobby".to_owned()))
    );

    // Read-only in the lobby: its line is refused, with a notice saying why.
    let reader = hs256(
        json!({"sub": "bob", "exp": now() + 300, "rooms": {"post": []}}),
        SECRET,
    );
    let mut ws = connect_plain(addr, &reader).await;
    ws.send(Message::text("hello")).await.unwrap();
    let notice = next_plain(&mut ws).await.expect("a notice");
    assert!(notice.contains("does not allow posting"), "{notice}");
}
