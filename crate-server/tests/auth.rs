//! Token authentication on `/chat`, against the real server on a real port: a valid token
//! connects with its identity; every bad token is refused before the upgrade with its
//! reason; room permissions hold for join and send; expiry closes the connection; guests
//! cannot take names; an RSA/EC server refuses the HS256 algorithm-confusion trick.

mod common;

use common::tokens::now;

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

fn hs256(claims: Value, secret: &str) -> String {
    common::tokens::hs256(&claims, secret)
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

/// Seconds since the Unix epoch, with the fraction: when exactly a close arrived.
fn now_f64() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// The next envelope, or the close frame's code if the connection closes instead.
async fn next_or_close(ws: &mut Ws) -> Result<ServerEnvelope, u16> {
    loop {
        match tokio::time::timeout(Duration::from_secs(15), ws.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => {
                return Ok(serde_json::from_str(text.as_str()).unwrap())
            }
            Ok(Some(Ok(Message::Close(Some(frame))))) => return Err(u16::from(frame.code)),
            Ok(Some(Ok(_))) => continue,
            other => panic!("expected an envelope or a close within 15 s, got {other:?}"),
        }
    }
}

/// Waits for the `token_expiring` warning (skipping presence, joins, acks...); panics on a
/// close or an error first.
async fn expiring(ws: &mut Ws) -> u64 {
    loop {
        match next_or_close(ws).await {
            Ok(ServerEnvelope::TokenExpiring { exp }) => return exp,
            Ok(ServerEnvelope::Error { code, message, .. }) => panic!("{code}: {message}"),
            Ok(_) => continue,
            Err(code) => panic!("closed with {code} before the warning"),
        }
    }
}

/// The answer to a `refresh`: `Ok(exp)` for `refreshed`, else the error's code.
async fn refreshed(ws: &mut Ws) -> Result<u64, ErrorCode> {
    loop {
        match next_or_close(ws).await {
            Ok(ServerEnvelope::Refreshed { exp }) => return Ok(exp),
            Ok(ServerEnvelope::Error { code, .. }) => return Err(code),
            Ok(_) => continue,
            Err(code) => panic!("closed with {code} before the refresh was answered"),
        }
    }
}

/// Waits for the close, checking nothing but presence, joins and warnings come first;
/// returns its code and when it came.
async fn close_time(ws: &mut Ws) -> (u16, f64) {
    loop {
        match next_or_close(ws).await {
            Ok(ServerEnvelope::Error { code, message, .. }) => panic!("{code}: {message}"),
            Ok(_) => continue,
            Err(code) => return (code, now_f64()),
        }
    }
}

#[tokio::test]
async fn a_refresh_moves_the_expiry_and_the_connection_closes_at_the_new_one() {
    let addr = server(false).await;
    let old_exp = now() + 3;
    let token = hs256(json!({"sub": "ada", "exp": old_exp}), SECRET);
    let (mut ws, _) = connect(addr, Some(&token)).await;
    let warned = expiring(&mut ws).await;
    assert_eq!(warned, old_exp, "the warning names the token's expiry");
    assert!(
        now_f64() < old_exp as f64,
        "the warning comes before the expiry"
    );
    let new_exp = old_exp + 3;
    let fresh = hs256(json!({"sub": "ada", "exp": new_exp}), SECRET);
    send(&mut ws, json!({"type": "refresh", "token": fresh})).await;
    assert_eq!(refreshed(&mut ws).await, Ok(new_exp));
    // Past the old expiry the connection still answers, and the new token is warned about.
    assert_eq!(expiring(&mut ws).await, new_exp);
    assert!(
        now_f64() > old_exp as f64,
        "warned for the new token only after the old exp"
    );
    send(&mut ws, json!({"type": "ping", "id": "alive"})).await;
    loop {
        match next_or_close(&mut ws).await {
            Ok(ServerEnvelope::Pong { id }) => break assert_eq!(id.as_deref(), Some("alive")),
            Ok(_) => continue,
            Err(code) => panic!("closed with {code} after a refresh"),
        }
    }
    let (code, at) = close_time(&mut ws).await;
    assert_eq!(code, 4401);
    assert!(
        at >= new_exp as f64 - 0.05,
        "closed at {at}, before the new expiry {new_exp}"
    );
}

#[tokio::test]
async fn a_bad_or_foreign_refresh_is_refused_and_the_old_expiry_stands() {
    let addr = server(true).await;
    let old_exp = now() + 4;
    let token = hs256(
        json!({"sub": "u-ada", "name": "ada", "exp": old_exp}),
        SECRET,
    );
    let (mut ws, _) = connect(addr, Some(&token)).await;
    let later = old_exp + 30;
    let refusals = [
        (
            hs256(json!({"sub": "u-bob", "name": "bob", "exp": later}), SECRET),
            ErrorCode::Forbidden,
        ),
        (
            // Same nickname, another subject: not the same identity either.
            hs256(json!({"sub": "u-eve", "name": "ada", "exp": later}), SECRET),
            ErrorCode::Forbidden,
        ),
        (
            hs256(
                json!({"sub": "u-ada", "name": "ada", "exp": later}),
                "another secret that is at least 32 bytes long",
            ),
            ErrorCode::Unauthorized,
        ),
        (
            hs256(
                json!({"sub": "u-ada", "name": "ada", "exp": now() - 60}),
                SECRET,
            ),
            ErrorCode::Unauthorized,
        ),
        ("not a token".to_owned(), ErrorCode::Unauthorized),
    ];
    for (bad, code) in &refusals {
        send(&mut ws, json!({"type": "refresh", "token": bad})).await;
        assert_eq!(refreshed(&mut ws).await, Err(*code), "{bad}");
    }
    send(&mut ws, json!({"type": "refresh"})).await;
    assert_eq!(refreshed(&mut ws).await, Err(ErrorCode::MissingField));
    let (code, at) = close_time(&mut ws).await;
    assert_eq!(code, 4401);
    assert!(
        at < old_exp as f64 + 2.0,
        "closed at {at}: the refused tokens' expiry ({later}) was taken"
    );

    // A guest has no token to refresh, even with a valid one.
    let (mut guest, _) = connect(addr, None).await;
    let valid = hs256(json!({"sub": "carol", "exp": now() + 60}), SECRET);
    send(&mut guest, json!({"type": "refresh", "token": valid})).await;
    assert_eq!(refreshed(&mut guest).await, Err(ErrorCode::Forbidden));
}

/// A seeded xorshift generator, so a failing schedule can be replayed.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Over several lifetimes of 2–4 s, the client answers each warning (sometimes after a bad
/// refresh, sometimes early, before the warning) while sending lines; every line is
/// acknowledged, the connection lives exactly as long as its latest token, and closes with
/// 4401 at the last one's expiry.
#[tokio::test]
async fn seeded_refreshes_keep_a_connection_alive_over_several_lifetimes() {
    let addr = server(false).await;
    let seed = std::env::var("AUTH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(now);
    let mut rng = Rng(seed | 1);
    let mut exp = now() + 2 + rng.below(3);
    let token = hs256(json!({"sub": "ada", "exp": exp}), SECRET);
    let (mut ws, _) = connect(addr, Some(&token)).await;
    let mut sent = 0u64;
    for round in 0..4 {
        let early = rng.below(3) == 0;
        if !early {
            assert_eq!(expiring(&mut ws).await, exp, "seed {seed} round {round}");
        }
        assert!(now_f64() < exp as f64, "seed {seed} round {round}: alive");
        if rng.below(2) == 0 {
            let foreign = hs256(json!({"sub": "bob", "exp": exp + 60}), SECRET);
            send(&mut ws, json!({"type": "refresh", "token": foreign})).await;
            assert_eq!(
                refreshed(&mut ws).await,
                Err(ErrorCode::Forbidden),
                "seed {seed}"
            );
        }
        for _ in 0..rng.below(3) {
            sent += 1;
            let id = format!("line-{sent}");
            send(
                &mut ws,
                json!({"type": "send", "room": "lobby", "text": id, "id": id}),
            )
            .await;
            loop {
                match next_or_close(&mut ws).await {
                    Ok(ServerEnvelope::Ack {
                        id: Some(acked), ..
                    }) => break assert_eq!(acked, id, "seed {seed}"),
                    Ok(ServerEnvelope::Error { code, message, .. }) => {
                        panic!("seed {seed}: {code}: {message}")
                    }
                    Ok(_) => continue,
                    Err(code) => panic!("seed {seed}: closed with {code} while sending"),
                }
            }
        }
        let next = now() + 2 + rng.below(3);
        let fresh = hs256(json!({"sub": "ada", "exp": next}), SECRET);
        send(&mut ws, json!({"type": "refresh", "token": fresh})).await;
        assert_eq!(refreshed(&mut ws).await, Ok(next), "seed {seed}");
        exp = next;
    }
    let (code, at) = close_time(&mut ws).await;
    assert_eq!(code, 4401, "seed {seed}");
    assert!(
        at >= exp as f64 - 0.05 && at < exp as f64 + 2.0,
        "seed {seed}: closed at {at}, the last token expires at {exp}"
    );
}

#[tokio::test]
async fn a_server_without_tokens_refuses_a_refresh_clearly() {
    let addr = start_with(|_| {}).await;
    let (mut ws, _) = connect(addr, None).await;
    send(&mut ws, json!({"type": "refresh", "token": "x.y.z"})).await;
    assert_eq!(refreshed(&mut ws).await, Err(ErrorCode::InvalidField));
}

/// `GET /chat` without upgrade headers, as the browser client sends it after a failed
/// attempt to learn whether its token was refused.
async fn check(addr: SocketAddr, query: &str, origin: Option<&str>) -> common::RawResponse {
    let origin = origin.map_or(String::new(), |o| format!("Origin: {o}\r\n"));
    raw_request(
        addr,
        &format!("GET /chat{query} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{origin}\r\n"),
    )
    .await
}

#[tokio::test]
async fn a_plain_get_tells_a_client_why_its_handshake_failed_and_only_allowed_origins_may_read_it()
{
    let addr = start_with(|config| {
        config.auth_jwt_secret = Some(SECRET.into());
        config.allow_origins = vec!["https://app.example".into()];
    })
    .await;
    let expired = hs256(json!({"sub": "ada", "exp": now() - 60}), SECRET);
    let query = format!("?access_token={expired}");
    let refused = check(addr, &query, Some("https://app.example")).await;
    assert_eq!(refused.status, 401);
    assert!(
        String::from_utf8_lossy(&refused.body).contains("expired"),
        "the reason: {:?}",
        String::from_utf8_lossy(&refused.body)
    );
    assert_eq!(
        refused.header("access-control-allow-origin"),
        Some("https://app.example"),
        "an allowed origin's page may read the reason"
    );
    let foreign = check(addr, &query, Some("https://evil.example")).await;
    assert_eq!(foreign.status, 401);
    assert_eq!(
        foreign.header("access-control-allow-origin"),
        None,
        "another origin's page learns nothing"
    );
    let valid = hs256(json!({"sub": "ada", "exp": now() + 60}), SECRET);
    let accepted = check(addr, &format!("?access_token={valid}"), None).await;
    assert_ne!(accepted.status, 401, "a good token is not refused");
    // The checks are no handshakes: only the real one below is counted.
    let count = |metrics: &str| {
        metrics
            .lines()
            .find_map(|line| {
                line.strip_prefix("ferrosocket_handshakes_rejected_total{reason=\"auth\"} ")
            })
            .map_or(0, |n| n.parse::<u64>().unwrap())
    };
    let metrics = String::from_utf8(common::get(addr, "/metrics").await.body).unwrap();
    assert_eq!(count(&metrics), 0, "{metrics}");
    assert_eq!(handshake(addr, &query, "").await.status, 401);
    let metrics = String::from_utf8(common::get(addr, "/metrics").await.body).unwrap();
    assert_eq!(count(&metrics), 1, "{metrics}");
}
