//! A hostile outsider against token authentication, on the real server on a real port:
//! forged algorithms, claims of every wrong shape, names that look like others, room
//! patterns probed at their edges, tokens in odd places of the handshake, and refreshes
//! that try to change who a connection is or keep it alive for free.

mod common;

use common::tokens::now;

use std::net::SocketAddr;
use std::time::Duration;

use common::chat::Ws;
use common::{raw_request, start_with};
use ferrosocket_wire::chat::{ErrorCode, ServerEnvelope, SUBPROTOCOL};
use futures_util::{SinkExt, StreamExt};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

const SECRET: &str = "the attackers' tests' secret, at least 32 bytes long";

fn signed(header: Header, claims: &Value) -> String {
    encode(
        &header,
        claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

fn hs256(claims: Value) -> String {
    signed(Header::default(), &claims)
}

/// Base64url without padding (RFC 7515 §2), written out so the forgeries depend on
/// nothing the server uses.
fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// A token put together by hand: any header, any payload, any signature.
fn forged(header: &Value, claims: &Value, signature: &str) -> String {
    let part = |value: &Value| base64url(value.to_string().as_bytes());
    format!("{}.{}.{signature}", part(header), part(claims))
}

async fn server(allow_guests: bool) -> SocketAddr {
    start_with(|config| {
        config.auth_jwt_secret = Some(SECRET.into());
        config.auth_allow_guests = allow_guests;
    })
    .await
}

/// A `chat.v1` handshake with `query` and an optional `Authorization` value: the socket,
/// or the refusal's status and body.
async fn attempt(
    addr: SocketAddr,
    query: &str,
    authorization: Option<&str>,
) -> Result<Ws, (u16, String)> {
    let mut request = format!("ws://{addr}/chat{query}")
        .into_client_request()
        .unwrap();
    let headers = request.headers_mut();
    headers.insert("sec-websocket-protocol", SUBPROTOCOL.parse().unwrap());
    if let Some(value) = authorization {
        headers.insert("authorization", value.parse().unwrap());
    }
    match connect_async(request).await {
        Ok((ws, _)) => Ok(ws),
        Err(WsError::Http(response)) => Err((
            response.status().as_u16(),
            String::from_utf8_lossy(response.body().as_deref().unwrap_or_default()).into_owned(),
        )),
        Err(other) => panic!("the handshake failed without an answer: {other}"),
    }
}

/// The next envelope, or the close code if the connection closes instead.
async fn next_or_close(ws: &mut Ws) -> Result<ServerEnvelope, u16> {
    loop {
        match tokio::time::timeout(Duration::from_secs(15), ws.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => {
                return Ok(serde_json::from_str(text.as_str()).unwrap())
            }
            Ok(Some(Ok(Message::Close(frame)))) => {
                return Err(frame.map_or(1005, |frame| u16::from(frame.code)))
            }
            Ok(Some(Ok(_))) => continue,
            other => panic!("expected an envelope or a close within 15 s, got {other:?}"),
        }
    }
}

async fn welcome_nick(ws: &mut Ws) -> String {
    match next_or_close(ws).await {
        Ok(ServerEnvelope::Welcome { nick, .. }) => nick,
        other => panic!("expected welcome, got {other:?}"),
    }
}

async fn send(ws: &mut Ws, envelope: Value) {
    ws.send(Message::Text(envelope.to_string().into()))
        .await
        .unwrap();
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

/// The answer to a `join` of one room: `Ok(())` when joined, else the error's code.
async fn joined(ws: &mut Ws, room: &str) -> Result<(), ErrorCode> {
    send(ws, json!({"type": "join", "rooms": [room]})).await;
    loop {
        match next_or_close(ws).await {
            Ok(ServerEnvelope::Joined { room: r, .. }) if r == room => return Ok(()),
            Ok(ServerEnvelope::Error { code, .. }) => return Err(code),
            Ok(_) => continue,
            Err(code) => panic!("closed with {code} before the join was answered"),
        }
    }
}

/// Tokens an attacker (or a careless issuer) might present; every one must be refused 401
/// before the upgrade.
fn hostile_tokens() -> Vec<(&'static str, String)> {
    let exp = now() + 300;
    let claims = json!({"sub": "ada", "exp": exp});
    let with = |extra: Value| {
        let mut claims = claims.clone();
        for (key, value) in extra.as_object().unwrap() {
            claims[key] = value.clone();
        }
        hs256(claims)
    };
    let good = hs256(claims.clone());
    let signature = good.rsplit('.').next().unwrap().to_owned();
    vec![
        (
            "alg none",
            forged(&json!({"alg": "none", "typ": "JWT"}), &claims, ""),
        ),
        ("alg None", forged(&json!({"alg": "None"}), &claims, "")),
        (
            "alg none, real signature",
            forged(&json!({"alg": "none"}), &claims, &signature),
        ),
        (
            "alg missing",
            forged(&json!({"typ": "JWT"}), &claims, &signature),
        ),
        (
            "HS384 with the secret",
            signed(Header::new(Algorithm::HS384), &claims),
        ),
        (
            "HS512 with the secret",
            signed(Header::new(Algorithm::HS512), &claims),
        ),
        (
            "other claims, kept signature",
            forged(
                &json!({"alg": "HS256", "typ": "JWT"}),
                &json!({"sub": "eve", "exp": exp}),
                &signature,
            ),
        ),
        ("no signature", good.rsplit_once('.').unwrap().0.to_owned()),
        (
            "empty signature",
            format!("{}.", good.rsplit_once('.').unwrap().0),
        ),
        ("a fourth part", format!("{good}.x")),
        ("two tokens", format!("{good}{good}")),
        ("percent-encoded dots", good.replace('.', "%2E")),
        ("exp missing", hs256(json!({"sub": "ada"}))),
        ("exp null", with(json!({"exp": null}))),
        ("exp a string", with(json!({"exp": exp.to_string()}))),
        ("exp negative", with(json!({"exp": -1}))),
        ("exp zero", with(json!({"exp": 0}))),
        ("exp a fraction", with(json!({"exp": exp as f64 + 0.5}))),
        ("exp past", with(json!({"exp": now() - 1}))),
        ("nbf in the future", with(json!({"nbf": now() + 600}))),
        ("nbf a string", with(json!({"nbf": "soon"}))),
        ("sub missing", hs256(json!({"name": "ada", "exp": exp}))),
        ("sub a number", with(json!({"sub": 42}))),
        ("sub empty", with(json!({"sub": ""}))),
        (
            "sub empty with a name",
            with(json!({"sub": "", "name": "ada"})),
        ),
        ("name empty", with(json!({"name": ""}))),
        ("name a number", with(json!({"name": 7}))),
        ("name with a space", with(json!({"name": "ada lovelace"}))),
        ("name with a newline", with(json!({"name": "ada\nbob"}))),
        ("name with NUL", with(json!({"name": "ada\u{0}"}))),
        (
            "name with a bidi override",
            with(json!({"name": "\u{202e}ada"})),
        ),
        ("name with a Cyrillic a", with(json!({"name": "\u{430}da"}))),
        ("name fullwidth", with(json!({"name": "\u{ff41}da"}))),
        ("name too long", with(json!({"name": "a".repeat(200)}))),
        ("name guest-", with(json!({"name": "guest-1"}))),
        ("name Guest-", with(json!({"name": "Guest-1"}))),
        ("name GUEST-", with(json!({"name": "GUEST-1"}))),
        ("sub guest- without name", with(json!({"sub": "guest-"}))),
        ("rooms a string", with(json!({"rooms": "lobby"}))),
        ("rooms a list", with(json!({"rooms": ["lobby"]}))),
        (
            "rooms.join a string",
            with(json!({"rooms": {"join": "lobby"}})),
        ),
        ("rooms.join numbers", with(json!({"rooms": {"join": [1]}}))),
        (
            "rooms.post null inside",
            with(json!({"rooms": {"post": [null]}})),
        ),
        // A misspelt list must not silently mean "every room".
        (
            "rooms.joins (typo)",
            with(json!({"rooms": {"joins": ["lobby"]}})),
        ),
        (
            "rooms.Post (case)",
            with(json!({"rooms": {"join": ["lobby"], "Post": []}})),
        ),
    ]
}

#[tokio::test]
async fn hostile_tokens_are_refused_401_before_the_upgrade() {
    let addr = server(false).await;
    let mut let_in = Vec::new();
    for (label, token) in hostile_tokens() {
        for in_header in [false, true] {
            let result = if in_header {
                // A header cannot carry control characters: hyper would refuse it first.
                let Ok(value) = hyper::header::HeaderValue::from_str(&format!("Bearer {token}"))
                else {
                    continue;
                };
                attempt(addr, "", value.to_str().ok()).await
            } else {
                attempt(addr, &format!("?access_token={token}"), None).await
            };
            match result {
                Err((401, body)) => assert!(!body.trim().is_empty(), "{label}: no reason"),
                Err((status, body)) => let_in.push(format!("{label}: {status} {body}")),
                Ok(_) => let_in.push(format!("{label} (header: {in_header}): upgraded")),
            }
        }
    }
    assert!(let_in.is_empty(), "not refused 401: {let_in:#?}");
}

#[tokio::test]
async fn the_bearer_scheme_is_matched_without_regard_to_case() {
    // RFC 9110 §11.1: the authentication scheme is case-insensitive. A client sending
    // `bearer` must not be treated as one sending no token at all (a guest, or a 401
    // "a token is required" that hides the real mistake).
    let addr = server(false).await;
    let token = hs256(json!({"sub": "ada", "exp": now() + 300}));
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let mut ws = attempt(addr, "", Some(&format!("{scheme} {token}")))
            .await
            .unwrap_or_else(|refusal| panic!("{scheme}: refused {refusal:?}"));
        assert_eq!(welcome_nick(&mut ws).await, "ada", "{scheme}");
        ws.close(None).await.unwrap();
        // Wait for the name to be free again before the next scheme.
        while ws.next().await.is_some() {}
        let check = raw_request(
            addr,
            &format!(
                "GET /auth/check HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {scheme} {token}\r\n\
                 Connection: close\r\n\r\n"
            ),
        )
        .await;
        assert_eq!(check.status, 200, "/auth/check with {scheme}");
    }
    for near_miss in ["Bearer", "Bearertoken", "Bearer\ttoken", "Bear token"] {
        let near_miss = near_miss.replace("token", &token);
        assert_eq!(
            attempt(addr, "", Some(&near_miss)).await.err().map(|e| e.0),
            Some(401),
            "{near_miss:?}"
        );
    }

    let ops = "ops-token-4Hq9Lr2Zx";
    let addr = start_with(|config| config.metrics_token = Some(ops.into())).await;
    for (authorization, status) in [
        (format!("Bearer {ops}"), 200),
        (format!("bearer {ops}"), 200),
        (format!("BEARER {ops}"), 200),
        (format!("Bearer {}", ops.to_uppercase()), 401),
        (format!("Basic {ops}"), 401),
        (format!("bearer  {ops}"), 401),
    ] {
        let response = raw_request(
            addr,
            &format!(
                "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {authorization}\r\n\
                 Connection: close\r\n\r\n"
            ),
        )
        .await;
        assert_eq!(response.status, status, "/metrics with {authorization:?}");
    }
}

#[tokio::test]
async fn the_query_token_wins_over_the_header_and_a_repeated_one_is_refused() {
    let addr = server(true).await;
    let ada = hs256(json!({"sub": "ada", "exp": now() + 300}));
    let eve = hs256(json!({"sub": "eve", "exp": now() + 300}));

    // Both given: the query parameter is the token (documented); the header is not
    // consulted, not even when the query's token is bad.
    let mut ws = attempt(
        addr,
        &format!("?access_token={ada}"),
        Some(&format!("Bearer {eve}")),
    )
    .await
    .unwrap();
    assert_eq!(welcome_nick(&mut ws).await, "ada");
    drop(ws);
    let refused = attempt(
        addr,
        "?access_token=garbage",
        Some(&format!("Bearer {eve}")),
    )
    .await;
    assert_eq!(refused.err().map(|e| e.0), Some(401));

    // Two `access_token` parameters are ambiguous (a proxy in front may read the other
    // one): refused, whichever is valid, rather than silently taking the first.
    for query in [
        format!("?access_token={ada}&access_token={eve}"),
        format!("?access_token={ada}&access_token=garbage"),
        format!("?access_token=garbage&access_token={ada}"),
        format!("?access_token=&access_token={ada}"),
        format!("?access_token={ada}&access_token="),
    ] {
        match attempt(addr, &query, None).await {
            Err((401, body)) => assert!(body.contains("more than once"), "{query}: {body}"),
            Err(other) => panic!("{query}: {other:?}"),
            Ok(mut ws) => panic!("{query}: let in as {}", welcome_nick(&mut ws).await),
        }
    }

    // Neither an empty parameter nor an empty header makes a guest into anything else.
    for (query, authorization) in [("?access_token=", None), ("", Some("Bearer "))] {
        let mut ws = attempt(addr, query, authorization).await.unwrap();
        assert!(welcome_nick(&mut ws).await.starts_with("guest-"));
    }
}

#[tokio::test]
async fn rooms_just_outside_a_pattern_are_forbidden() {
    let addr = server(false).await;
    let token = hs256(json!({
        "sub": "ada",
        "exp": now() + 300,
        "rooms": {"join": ["team-*", "lobby", "te*m", ""], "post": ["news"]},
    }));
    let mut ws = attempt(addr, &format!("?access_token={token}"), None)
        .await
        .unwrap();
    welcome_nick(&mut ws).await;
    for (room, allowed) in [
        ("team-", true),
        ("team-a", true),
        ("team-a.b", true),
        ("news", true),
        ("lobby", true),
        ("team", false),
        ("teamx", false),
        ("Team-a", false),
        ("TEAM-a", false),
        ("team_a", false),
        ("lobby2", false),
        ("lobb", false),
        ("Lobby", false),
        ("news2", false),
        ("tem", false),
        ("teXm", false),
        ("te*m", false),
    ] {
        let result = joined(&mut ws, room).await;
        let expected = if allowed {
            Ok(())
        } else {
            Err(ErrorCode::Forbidden)
        };
        // `te*m` is no valid room name: refused for that, before any right is asked.
        if room == "te*m" {
            assert!(result.is_err(), "{room}: {result:?}");
        } else {
            assert_eq!(result, expected, "{room}");
        }
    }
}

#[tokio::test]
async fn refreshes_that_would_change_the_identity_or_live_for_free_are_refused() {
    let addr = server(true).await;
    let exp = now() + 300;
    let token = hs256(json!({"sub": "u1", "name": "ada", "exp": exp}));
    let mut ws = attempt(addr, &format!("?access_token={token}"), None)
        .await
        .unwrap();
    assert_eq!(welcome_nick(&mut ws).await, "ada");
    let refresh = |token: String| json!({"type": "refresh", "token": token});
    for (label, token, expected) in [
        (
            "same sub, another name",
            hs256(json!({"sub": "u1", "name": "bob", "exp": exp + 60})),
            ErrorCode::Forbidden,
        ),
        (
            "another sub, same name",
            hs256(json!({"sub": "u2", "name": "ada", "exp": exp + 60})),
            ErrorCode::Forbidden,
        ),
        (
            "the name as sub, no name",
            hs256(json!({"sub": "ada", "exp": exp + 60})),
            ErrorCode::Forbidden,
        ),
        (
            "exactly at expiry",
            hs256(json!({"sub": "u1", "name": "ada", "exp": now()})),
            ErrorCode::Unauthorized,
        ),
        (
            "a misspelt rooms list",
            hs256(json!({"sub": "u1", "name": "ada", "exp": exp + 60, "rooms": {"joins": []}})),
            ErrorCode::Unauthorized,
        ),
        (
            "alg none",
            forged(
                &json!({"alg": "none"}),
                &json!({"sub": "u1", "name": "ada", "exp": exp + 60}),
                "",
            ),
            ErrorCode::Unauthorized,
        ),
        (
            "16 KiB of garbage",
            "x".repeat(16 * 1024),
            ErrorCode::Unauthorized,
        ),
    ] {
        send(&mut ws, refresh(token)).await;
        assert_eq!(refreshed(&mut ws).await, Err(expected), "{label}");
    }
    // After all that, the connection is intact and a proper refresh works.
    let good = hs256(json!({"sub": "u1", "name": "ada", "exp": exp + 120}));
    send(&mut ws, refresh(good.clone())).await;
    assert_eq!(refreshed(&mut ws).await, Ok(exp + 120));

    // A flood of refreshes goes through the connection's rate limit like anything else.
    for _ in 0..200 {
        send(&mut ws, refresh(good.clone())).await;
    }
    let (mut answered, mut limited) = (0, 0);
    loop {
        match tokio::time::timeout(Duration::from_secs(2), next_or_close(&mut ws)).await {
            Ok(Ok(ServerEnvelope::Refreshed { .. })) => answered += 1,
            Ok(Ok(ServerEnvelope::Error {
                code: ErrorCode::RateLimited,
                ..
            })) => limited += 1,
            Ok(Ok(other)) => panic!("unexpected {other:?}"),
            Ok(Err(code)) => {
                assert_eq!(code, 1008, "closed for the flood with a policy close");
                break;
            }
            Err(_) => break,
        }
    }
    assert!(
        answered < 200,
        "all {answered} refreshes of the flood were checked"
    );
    assert!(
        answered > 0 && (limited > 0 || answered < 200),
        "{answered} {limited}"
    );

    // A guest has no token to refresh.
    let mut guest = attempt(addr, "", None).await.unwrap();
    welcome_nick(&mut guest).await;
    send(&mut guest, refresh(good)).await;
    assert_eq!(refreshed(&mut guest).await, Err(ErrorCode::Forbidden));
}

#[tokio::test]
async fn far_future_expiries_neither_panic_nor_close_the_connection() {
    let addr = server(false).await;
    for (nick, exp) in [
        ("far", json!(u64::MAX)),
        ("beyond-f64", json!(9_007_199_254_740_993u64)),
        ("year-33000", json!(1_000_000_000_000u64)),
    ] {
        let token = hs256(json!({"sub": nick, "exp": exp}));
        let mut ws = attempt(addr, &format!("?access_token={token}"), None)
            .await
            .unwrap_or_else(|refusal| panic!("{nick}: {refusal:?}"));
        assert_eq!(welcome_nick(&mut ws).await, nick);
        send(&mut ws, json!({"type": "refresh", "token": token})).await;
        assert_eq!(
            refreshed(&mut ws).await.map(|e| json!(e)),
            Ok(exp),
            "{nick}"
        );
        assert_eq!(joined(&mut ws, "lobby").await, Ok(()), "{nick}");
    }
    // The server is still well.
    let token = hs256(json!({"sub": "after", "exp": now() + 60}));
    let mut ws = attempt(addr, &format!("?access_token={token}"), None)
        .await
        .unwrap();
    assert_eq!(welcome_nick(&mut ws).await, "after");
}

#[tokio::test]
async fn oversized_tokens_are_refused_with_an_answer_and_harm_nothing() {
    let addr = server(false).await;
    let huge = "A".repeat(70 * 1024);
    for (query, authorization) in [
        (format!("?access_token={huge}"), None),
        (String::new(), Some(format!("Bearer {huge}"))),
        (format!("?access_token={}", "B".repeat(8 * 1024)), None),
    ] {
        let response = raw_request(
            addr,
            &format!(
                "GET /chat{query} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\n\
                 Connection: Upgrade, close\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                 Sec-WebSocket-Version: 13\r\n{}\r\n",
                authorization.map_or(String::new(), |a| format!("Authorization: {a}\r\n"))
            ),
        )
        .await;
        assert!(
            matches!(response.status, 401 | 414 | 431),
            "{} bytes: {}",
            query.len(),
            response.status
        );
    }
    let token = hs256(json!({"sub": "ada", "exp": now() + 60}));
    let mut ws = attempt(addr, &format!("?access_token={token}"), None)
        .await
        .unwrap();
    assert_eq!(welcome_nick(&mut ws).await, "ada");
}

/// Connects with `token` and returns the socket and its `welcome`'s session.
async fn signed_in(addr: SocketAddr, token: &str) -> (Ws, String) {
    let mut ws = attempt(addr, &format!("?access_token={token}"), None)
        .await
        .unwrap();
    match next_or_close(&mut ws).await {
        Ok(ServerEnvelope::Welcome { session, .. }) => (ws, session),
        other => panic!("expected welcome, got {other:?}"),
    }
}

/// Waits until `ws` receives a message with `text` in the lobby; `false` after 3 s.
async fn hears(ws: &mut Ws, text: &str) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    loop {
        match tokio::time::timeout_at(deadline, next_or_close(ws)).await {
            Ok(Ok(ServerEnvelope::Message { text: t, .. })) if t == text => return true,
            Ok(Ok(_)) => continue,
            Ok(Err(code)) => panic!("closed with {code}"),
            Err(_) => return false,
        }
    }
}

#[tokio::test]
async fn another_identity_cannot_continue_a_tokens_session() {
    // A `session` is a secret that scopes line numbers; if it leaks (a shared device, a
    // log), a signed-in stranger must not be able to spend its numbers: the owner's next
    // lines would be taken for repeats and silently not delivered.
    let addr = server(false).await;
    let token = |sub: &str| hs256(json!({"sub": sub, "exp": now() + 300}));
    let (mut bob, _) = signed_in(addr, &token("bob")).await;
    let (ada, session) = signed_in(addr, &token("ada")).await;
    drop(ada);
    let (mut eve, _) = signed_in(addr, &token("eve")).await;
    send(
        &mut eve,
        json!({"type": "session", "token": session, "next": 1}),
    )
    .await;
    for n in 1..=3 {
        let text = format!("eve {n}");
        send(
            &mut eve,
            json!({"type": "send", "room": "lobby", "text": text, "n": n}),
        )
        .await;
        assert!(
            hears(&mut bob, &text).await,
            "eve's own line {n} is delivered"
        );
    }
    // Ada comes back (her name is free once her first connection is gone) and continues
    // her session: her lines 1..3 are new lines, and delivered.
    let mut ada = loop {
        match attempt(addr, &format!("?access_token={}", token("ada")), None).await {
            Ok(ws) => break ws,
            Err((409, _)) => tokio::time::sleep(Duration::from_millis(20)).await,
            Err(other) => panic!("{other:?}"),
        }
    };
    welcome_nick(&mut ada).await;
    send(
        &mut ada,
        json!({"type": "session", "token": session, "next": 1}),
    )
    .await;
    for n in 1..=3 {
        let text = format!("ada {n}");
        send(
            &mut ada,
            json!({"type": "send", "room": "lobby", "text": text, "n": n}),
        )
        .await;
        assert!(
            hears(&mut bob, &text).await,
            "ada's line {n} was not delivered"
        );
    }
    // Ada's own session still carries over: after another reconnect her line 3 sent again
    // is a repeat (not delivered twice), her line 4 is new.
    drop(ada);
    let mut ada = loop {
        match attempt(addr, &format!("?access_token={}", token("ada")), None).await {
            Ok(ws) => break ws,
            Err((409, _)) => tokio::time::sleep(Duration::from_millis(20)).await,
            Err(other) => panic!("{other:?}"),
        }
    };
    welcome_nick(&mut ada).await;
    send(
        &mut ada,
        json!({"type": "session", "token": session, "next": 3}),
    )
    .await;
    send(
        &mut ada,
        json!({"type": "send", "room": "lobby", "text": "ada 3", "n": 3}),
    )
    .await;
    send(
        &mut ada,
        json!({"type": "send", "room": "lobby", "text": "ada 4", "n": 4}),
    )
    .await;
    assert!(
        hears(&mut bob, "ada 4").await,
        "ada's line 4 was not delivered"
    );
    assert!(
        !hears(&mut bob, "ada 3").await,
        "ada's repeated line 3 delivered twice"
    );
}

#[tokio::test]
async fn a_token_for_an_audience_is_refused_with_that_reason() {
    // No audience is configured: a token naming one (perhaps another service's, from the
    // same issuer) is refused — and the reason says so, not "malformed".
    let addr = server(false).await;
    for aud in [json!("chat"), json!(["chat", "billing"])] {
        let token = hs256(json!({"sub": "ada", "exp": now() + 300, "aud": aud}));
        match attempt(addr, &format!("?access_token={token}"), None).await {
            Err((401, body)) => assert!(body.contains("\"aud\""), "{aud}: {body}"),
            Err(other) => panic!("{aud}: {other:?}"),
            Ok(_) => panic!("{aud}: let in"),
        }
    }
    // Other registered claims are no obstacle.
    let token =
        hs256(json!({"sub": "ada", "exp": now() + 300, "iss": "me", "iat": now(), "jti": "1"}));
    let mut ws = attempt(addr, &format!("?access_token={token}"), None)
        .await
        .unwrap();
    assert_eq!(welcome_nick(&mut ws).await, "ada");
}

#[tokio::test]
async fn a_public_key_server_refuses_every_other_key_and_algorithm() {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let attacker = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let dir = std::env::temp_dir().join(format!("ferrosocket-attacks-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let public_pem = dir.join("public.pem");
    std::fs::write(&public_pem, key.public_key_pem()).unwrap();
    let addr = start_with(|config| config.auth_jwt_public_key = Some(public_pem.clone())).await;

    let claims = json!({"sub": "eve", "exp": now() + 300});
    let es = |alg: Algorithm, pair: &rcgen::KeyPair, kid: Option<&str>| {
        let mut header = Header::new(alg);
        header.kid = kid.map(str::to_owned);
        let key = EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).unwrap();
        encode(&header, &claims, &key).ok()
    };
    let with_secret = |alg: Algorithm, secret: &[u8]| {
        encode(
            &Header::new(alg),
            &claims,
            &EncodingKey::from_secret(secret),
        )
        .unwrap()
    };
    let pem = key.public_key_pem();
    let mut tokens = vec![
        (
            "HS256 with the PEM",
            Some(with_secret(Algorithm::HS256, pem.as_bytes())),
        ),
        (
            "HS256 with the PEM, trimmed",
            Some(with_secret(Algorithm::HS256, pem.trim().as_bytes())),
        ),
        (
            "HS256 with the DER",
            Some(with_secret(Algorithm::HS256, &key.public_key_der())),
        ),
        (
            "HS512 with the PEM",
            Some(with_secret(Algorithm::HS512, pem.as_bytes())),
        ),
        (
            "ES256 by another key",
            es(Algorithm::ES256, &attacker, None),
        ),
        (
            "ES256 by another key, with a kid",
            es(Algorithm::ES256, &attacker, Some("main")),
        ),
        (
            "ES384 header by the right key",
            es(Algorithm::ES384, &key, None),
        ),
        (
            "alg none",
            Some(forged(&json!({"alg": "none"}), &claims, "")),
        ),
    ];
    // The right key's own ES256 token with the header's alg swapped keeps its signature.
    let good = es(Algorithm::ES256, &key, None).unwrap();
    let signature = good.rsplit('.').next().unwrap();
    for alg in ["ES384", "RS256", "PS256", "HS256", "EdDSA"] {
        tokens.push((
            "header alg swapped",
            Some(forged(
                &json!({"alg": alg, "typ": "JWT"}),
                &claims,
                signature,
            )),
        ));
    }
    for (label, token) in tokens {
        let Some(token) = token else { continue };
        assert_eq!(
            attempt(addr, &format!("?access_token={token}"), None)
                .await
                .err()
                .map(|e| e.0),
            Some(401),
            "{label}"
        );
    }
    let mut ws = attempt(addr, &format!("?access_token={good}"), None)
        .await
        .unwrap();
    assert_eq!(welcome_nick(&mut ws).await, "eve");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn two_authorization_headers_are_refused_not_guessed_between() {
    let addr = server(true).await;
    let ada = hs256(json!({"sub": "ada", "exp": now() + 300}));
    for pair in [
        [format!("Bearer {ada}"), "Bearer garbage".to_owned()],
        ["Bearer garbage".to_owned(), format!("Bearer {ada}")],
    ] {
        let mut request = format!("ws://{addr}/chat").into_client_request().unwrap();
        let headers = request.headers_mut();
        headers.insert("sec-websocket-protocol", SUBPROTOCOL.parse().unwrap());
        for value in &pair {
            headers.append("authorization", value.parse().unwrap());
        }
        match connect_async(request).await {
            Err(WsError::Http(response)) => {
                assert_eq!(response.status(), 401);
                let body = String::from_utf8_lossy(response.body().as_deref().unwrap_or_default())
                    .into_owned();
                assert!(body.contains("more than once"), "{body}");
            }
            Err(other) => panic!("{other}"),
            Ok((mut ws, _)) => panic!("let in as {}", welcome_nick(&mut ws).await),
        }
    }

    let ops = "ops-token-4Hq9Lr2Zx";
    let addr = start_with(|config| config.metrics_token = Some(ops.into())).await;
    for (first, second) in [(ops, "wrong"), ("wrong", ops)] {
        let response = raw_request(
            addr,
            &format!(
                "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {first}\r\n\
                 Authorization: Bearer {second}\r\nConnection: close\r\n\r\n"
            ),
        )
        .await;
        assert_eq!(response.status, 401, "{first}, {second}");
    }
}

/// An HS256 token over `payload` exactly as written (duplicate keys and all).
fn raw_hs256(payload: &str) -> String {
    let message = format!(
        "{}.{}",
        base64url(br#"{"alg":"HS256","typ":"JWT"}"#),
        base64url(payload.as_bytes())
    );
    let key = EncodingKey::from_secret(SECRET.as_bytes());
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &key, Algorithm::HS256).unwrap();
    format!("{message}.{signature}")
}

#[tokio::test]
async fn claims_given_twice_are_refused_not_guessed_between() {
    // Two parsers of one payload (the JWT library's and ours) must not read different
    // values of one claim: a payload with a claim twice is refused whole.
    let addr = server(false).await;
    let (future, past) = (now() + 300, now() - 300);
    let control = raw_hs256(&format!(r#"{{"sub":"ada","exp":{future}}}"#));
    let mut ws = attempt(addr, &format!("?access_token={control}"), None)
        .await
        .unwrap();
    assert_eq!(welcome_nick(&mut ws).await, "ada");
    drop(ws);
    let mut let_in = Vec::new();
    for payload in [
        format!(r#"{{"sub":"bob","exp":{future},"exp":{past}}}"#),
        format!(r#"{{"sub":"bob","exp":{past},"exp":{future}}}"#),
        format!(r#"{{"sub":"bob","sub":"eve","exp":{future}}}"#),
        format!(r#"{{"sub":"bob","name":"bob","name":"eve","exp":{future}}}"#),
        format!(r#"{{"sub":"bob","exp":{future},"nbf":{future},"nbf":0}}"#),
        format!(r#"{{"sub":"bob","exp":{future},"rooms":{{"join":["a"]}},"rooms":null}}"#),
        format!(r#"{{"sub":"bob","exp":{future},"rooms":{{"join":["a"],"join":["*"]}}}}"#),
    ] {
        if let Ok(mut ws) = attempt(
            addr,
            &format!("?access_token={}", raw_hs256(&payload)),
            None,
        )
        .await
        {
            let nick = welcome_nick(&mut ws).await;
            let_in.push(format!("{payload} as {nick}"));
        }
    }
    assert!(let_in.is_empty(), "let in: {let_in:#?}");
}

#[tokio::test]
async fn a_refresh_that_narrows_the_rooms_leaves_those_no_longer_allowed() {
    // Otherwise a user whose access to a room was withdrawn would keep reading it for as
    // long as the connection lives, refresh after refresh.
    let addr = server(false).await;
    let exp = now() + 300;
    let token = |rooms: Value| hs256(json!({"sub": "ada", "exp": exp, "rooms": rooms}));
    let (mut ada, _) = signed_in(addr, &token(json!({"join": ["*"]}))).await;
    for room in ["secret", "team-a"] {
        assert_eq!(joined(&mut ada, room).await, Ok(()));
    }
    let (mut bob, _) = signed_in(addr, &hs256(json!({"sub": "bob", "exp": exp}))).await;
    assert_eq!(joined(&mut bob, "secret").await, Ok(()));

    send(
        &mut ada,
        json!({"type": "refresh", "token": token(json!({"join": ["lobby", "team-*"]}))}),
    )
    .await;
    let mut left = Vec::new();
    loop {
        match next_or_close(&mut ada).await {
            Ok(ServerEnvelope::Left { room }) => left.push(room),
            Ok(ServerEnvelope::Refreshed { .. }) => break,
            Ok(ServerEnvelope::Error { code, message, .. }) => panic!("{code}: {message}"),
            Ok(_) => continue,
            Err(code) => panic!("closed with {code}"),
        }
    }
    assert_eq!(left, ["secret"], "left before `refreshed`");
    send(
        &mut bob,
        json!({"type": "send", "room": "secret", "text": "for members only"}),
    )
    .await;
    assert!(!hears(&mut ada, "for members only").await);
    send(
        &mut bob,
        json!({"type": "send", "room": "lobby", "text": "hello all"}),
    )
    .await;
    assert!(
        hears(&mut ada, "hello all").await,
        "rooms still allowed are kept"
    );
    assert_eq!(joined(&mut ada, "secret").await, Err(ErrorCode::Forbidden));
}

#[tokio::test]
async fn a_plain_client_cannot_outlive_its_token() {
    // A plain client has no `refresh` (a line that looks like one is only a chat line):
    // it is closed with 4401 at `exp` like any other.
    let addr = server(false).await;
    let exp = now() + 2;
    let token = hs256(json!({"sub": "ada", "exp": exp}));
    let (mut ws, _) = connect_async(format!("ws://{addr}/chat?access_token={token}"))
        .await
        .unwrap();
    let later = hs256(json!({"sub": "ada", "exp": exp + 600}));
    ws.send(Message::Text(
        json!({"type": "refresh", "token": later})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    let code = loop {
        match tokio::time::timeout(Duration::from_secs(15), ws.next()).await {
            Ok(Some(Ok(Message::Close(frame)))) => break frame.map(|f| u16::from(f.code)),
            Ok(Some(Ok(_))) => continue,
            other => panic!("expected the close, got {other:?}"),
        }
    };
    assert_eq!(code, Some(4401));
    assert!(now() >= exp, "closed before exp");
}

#[tokio::test]
async fn a_reason_that_echoes_a_forged_header_is_plain_text_never_a_page() {
    // The reason for an unsigned token may quote it (an unknown `alg`): it must reach a
    // browser as inert text, not as HTML another site could make it render.
    let addr = server(false).await;
    let token = forged(
        &json!({"alg": "<script>alert(1)</script>"}),
        &json!({"sub": "ada", "exp": now() + 60}),
        "",
    );
    let response = common::get(addr, &format!("/chat?access_token={token}")).await;
    assert_eq!(response.status, 401);
    assert_eq!(
        response.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(response.header("x-content-type-options"), Some("nosniff"));
    let challenge = response.header("www-authenticate").unwrap_or_default();
    assert!(!challenge.contains('\n') && !challenge.contains('\r'));
}

#[tokio::test]
async fn the_demo_gives_no_token_for_a_guest_look_alike() {
    let addr = start_with(|config| config.auth_demo = true).await;
    for nick in ["guest-1", "Guest-1", "GUEST-x", "gUeSt-"] {
        let body = format!(r#"{{"nick": "{nick}"}}"#);
        let response = raw_request(
            addr,
            &format!(
                "POST /auth/demo HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            ),
        )
        .await;
        assert_eq!(response.status, 400, "{nick}");
    }
}
