//! Tokens from the browser, against a real server started with `--auth-jwt-secret` (the
//! test command's second server): a valid token connects with its identity; a bad one ends
//! in one `AuthFailed` after a bounded number of attempts, counted at the server; a session
//! whose tokens expire keeps going — refreshed on the open connection, or, with refresh
//! off, reconnected with a fresh token — and every line sent around the expiries arrives
//! once, in order.
// (Needs the whole module: its last test drives `ChatClient`.)
#![cfg(all(target_arch = "wasm32", feature = "js-chat"))]

mod common;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use common::{run, unique, within};
use ferrosocket::chat::{ChatEvent, ChatOptions, ChatSession};
use ferrosocket::{ReconnectPolicy, ResilientEvent, ResilientOptions, TokenProvider};
use futures_channel::mpsc;
use futures_util::StreamExt;
use gloo_timers::future::TimeoutFuture;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen::prelude::wasm_bindgen(module = "/tests/auth.js")]
extern "C" {
    #[wasm_bindgen(js_name = aRefusedTokenEndsInOneAuthFailedEvent)]
    fn refused_token_from_js(class: &JsValue, url: &str, bad_token: &str) -> js_sys::Promise;
    #[wasm_bindgen(js_name = aChatClientConnectsWithItsTokensIdentity)]
    fn chat_client_token_from_js(
        class: &JsValue,
        url: &str,
        token: &str,
        nick: &str,
    ) -> js_sys::Promise;
    #[wasm_bindgen(js_name = typeErrorForABadTokenOption, catch)]
    fn bad_token_option_from_js(class: &JsValue, url: &str) -> Result<(), JsValue>;
}

/// The `/chat` URL of the server with token authentication.
const AUTH_URL: &str = match option_env!("FERROSOCKET_AUTH_URL") {
    Some(url) => url,
    None => "ws://127.0.0.1:8081/chat",
};

/// Its `--auth-jwt-secret` (scripts/test.sh passes the same).
const SECRET: &str = "the browser tests' HS256 secret, 32+ bytes";

fn now_s() -> u64 {
    (js_sys::Date::now() / 1000.0) as u64
}

fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

fn get(object: &JsValue, key: &str) -> JsValue {
    js_sys::Reflect::get(object, &key.into()).unwrap()
}

/// An HS256 JWT of `claims` signed with `secret`, by the browser's WebCrypto.
async fn sign_with(claims: &str, secret: &str) -> String {
    let signing_input = format!(
        "{}.{}",
        base64url(br#"{"alg":"HS256","typ":"JWT"}"#),
        base64url(claims.as_bytes())
    );
    let subtle = get(&get(&js_sys::global(), "crypto"), "subtle");
    let call = |name: &str, args: &[JsValue]| -> js_sys::Promise {
        let f: js_sys::Function = get(&subtle, name).unchecked_into();
        f.apply(&subtle, &args.iter().collect::<js_sys::Array>())
            .unwrap()
            .unchecked_into()
    };
    let algorithm = js_sys::Object::new();
    js_sys::Reflect::set(&algorithm, &"name".into(), &"HMAC".into()).unwrap();
    js_sys::Reflect::set(&algorithm, &"hash".into(), &"SHA-256".into()).unwrap();
    let key = JsFuture::from(call(
        "importKey",
        &[
            "raw".into(),
            js_sys::Uint8Array::from(secret.as_bytes()).into(),
            algorithm.into(),
            false.into(),
            js_sys::Array::of1(&"sign".into()).into(),
        ],
    ))
    .await
    .unwrap();
    let signature = JsFuture::from(call(
        "sign",
        &[
            "HMAC".into(),
            key,
            js_sys::Uint8Array::from(signing_input.as_bytes()).into(),
        ],
    ))
    .await
    .unwrap();
    let signature = js_sys::Uint8Array::new(&signature).to_vec();
    format!("{signing_input}.{}", base64url(&signature))
}

/// A token for `nick` that expires in `lifetime_s` seconds.
async fn token(nick: &str, lifetime_s: u64) -> String {
    sign_with(
        &format!(r#"{{"sub":"{nick}","exp":{}}}"#, now_s() + lifetime_s),
        SECRET,
    )
    .await
}

/// `handshakes_rejected_total{reason="auth"}` of the auth server (`/test/metrics`).
async fn auth_rejections() -> u64 {
    let url = AUTH_URL
        .replacen("ws://", "http://", 1)
        .replace("/chat", "/test/metrics");
    let response = JsFuture::from(web_sys::window().unwrap().fetch_with_str(&url))
        .await
        .expect("fetch /test/metrics");
    let response: web_sys::Response = response.unchecked_into();
    let text = JsFuture::from(response.text().unwrap())
        .await
        .unwrap()
        .as_string()
        .unwrap();
    text.lines()
        .find_map(|line| {
            line.strip_prefix("ferrosocket_handshakes_rejected_total{reason=\"auth\"} ")
        })
        .map_or(0, |n| n.parse().unwrap())
}

struct Chat {
    session: ChatSession,
    events: mpsc::UnboundedReceiver<ChatEvent>,
}

fn fast_reconnects() -> ResilientOptions {
    ResilientOptions {
        reconnect: ReconnectPolicy {
            initial_delay: Duration::from_millis(50),
            max_delay: Duration::from_millis(300),
            ..ReconnectPolicy::default()
        },
        ..ResilientOptions::default()
    }
}

impl Chat {
    fn connect(token: TokenProvider, refresh: bool) -> Chat {
        let options = ChatOptions {
            connection: ResilientOptions {
                token: Some(token),
                ..fast_reconnects()
            },
            refresh_token: refresh,
            ..ChatOptions::default()
        };
        let session = ChatSession::connect(AUTH_URL, options).unwrap();
        let (tx, events) = mpsc::unbounded();
        session.set_on_event(move |event| {
            let _ = tx.unbounded_send(event);
        });
        Chat { session, events }
    }

    async fn until(&mut self, wanted: impl Fn(&ChatEvent) -> bool) -> ChatEvent {
        loop {
            let event = within(15_000, self.events.next())
                .await
                .expect("an event within 15 s")
                .expect("the session is alive");
            if wanted(&event) {
                return event;
            }
        }
    }
}

/// A provider minting a fresh token for `nick`, `lifetime_s` long, at every call.
fn minting(nick: &str, lifetime_s: u64) -> TokenProvider {
    let nick = nick.to_owned();
    TokenProvider::from_fn(move || {
        let nick = nick.clone();
        async move { Ok(token(&nick, lifetime_s).await) }
    })
}

#[wasm_bindgen_test]
async fn a_valid_token_connects_with_its_identity() {
    let nick = unique("ada");
    let mut chat = Chat::connect(TokenProvider::fixed(token(&nick, 60).await), true);
    match chat.until(|e| matches!(e, ChatEvent::Welcome { .. })).await {
        ChatEvent::Welcome { nick: given } => assert_eq!(given, nick),
        _ => unreachable!(),
    }
    chat.session.close();
}

#[wasm_bindgen_test]
async fn a_refused_token_ends_in_one_auth_failure_after_two_attempts_and_no_storm() {
    let before = auth_rejections().await;
    let nick = unique("mallory");
    let calls = Rc::new(Cell::new(0u32));
    let good = Rc::new(Cell::new(false));
    let provider = {
        let (calls, good, nick) = (Rc::clone(&calls), Rc::clone(&good), nick.clone());
        TokenProvider::from_fn(move || {
            calls.set(calls.get() + 1);
            let (good, nick) = (good.get(), nick.clone());
            async move {
                let claims = format!(r#"{{"sub":"{nick}","exp":{}}}"#, now_s() + 60);
                let secret = if good {
                    SECRET
                } else {
                    "another secret, not the server's, 32+ bytes"
                };
                Ok(sign_with(&claims, secret).await)
            }
        })
    };
    let mut chat = Chat::connect(provider, true);
    let reason = match chat
        .until(|e| {
            matches!(
                e,
                ChatEvent::Connection(ResilientEvent::AuthFailed { .. } | ResilientEvent::Open)
            )
        })
        .await
    {
        ChatEvent::Connection(ResilientEvent::AuthFailed { reason }) => reason,
        other => panic!("opened with a bad token: {other:?}"),
    };
    assert!(
        reason.contains("signature"),
        "the server's reason: {reason}"
    );
    assert_eq!(
        calls.get(),
        2,
        "the provider was asked once more after the refusal"
    );
    // Nothing more happens by itself: no reconnect storm.
    TimeoutFuture::new(1_500).await;
    assert_eq!(
        auth_rejections().await - before,
        2,
        "two handshakes refused, then none"
    );
    assert_eq!(
        chat.session.state(),
        ferrosocket::ConnectionState::AuthFailed
    );
    let (_, outcome) = chat.session.send("lobby", "kept for later");
    assert_ne!(outcome, ferrosocket::SendOutcome::Rejected);

    // The user signs in again: reconnect() asks the provider anew, and the line kept
    // meanwhile goes out.
    good.set(true);
    chat.session.connection().reconnect();
    match chat
        .until(|e| {
            matches!(
                e,
                ChatEvent::Welcome { .. }
                    | ChatEvent::Connection(ResilientEvent::AuthFailed { .. })
            )
        })
        .await
    {
        ChatEvent::Welcome { nick: given } => assert_eq!(given, nick),
        other => panic!("{other:?}"),
    }
    chat.until(|e| matches!(e, ChatEvent::Sent { .. })).await;
    chat.session.close();
}

/// `sender` sends a line every 150 ms for `seconds` while its tokens (3 s each) expire;
/// `watcher` must see every line once, in order. Returns `sender`'s events meanwhile.
async fn lines_across_expiries(refresh: bool, seconds: u32) -> Vec<ChatEvent> {
    let room = unique("expiry");
    let mut watcher = Chat::connect(
        TokenProvider::fixed(token(&unique("watch"), 120).await),
        true,
    );
    let mut sender = Chat::connect(minting(&unique("send"), 3), refresh);
    for chat in [&mut watcher, &mut sender] {
        chat.session.join(&room);
        chat.until(|e| matches!(e, ChatEvent::Joined { room: r, .. } if *r == room))
            .await;
    }
    let count = seconds * 1000 / 150;
    let mut seen = Vec::new();
    for i in 0..count {
        sender.session.send(&room, &format!("line {i}"));
        TimeoutFuture::new(150).await;
        while let Ok(event) = sender.events.try_recv() {
            seen.push(event);
        }
    }
    let mut got = Vec::new();
    while got.len() < count as usize {
        if let ChatEvent::Message { room: r, entry } = watcher
            .until(|e| matches!(e, ChatEvent::Message { .. }))
            .await
        {
            if r == room {
                got.push(entry.text);
            }
        }
    }
    let expected: Vec<String> = (0..count).map(|i| format!("line {i}")).collect();
    assert_eq!(
        got, expected,
        "every line once, in order (refresh: {refresh})"
    );
    while sender.session.unacknowledged() > 0 {
        seen.push(sender.until(|_| true).await);
    }
    while let Ok(event) = sender.events.try_recv() {
        seen.push(event);
    }
    assert!(
        !seen.iter().any(|e| matches!(e, ChatEvent::Failed { .. })),
        "no line failed: {seen:?}"
    );
    sender.session.close();
    watcher.session.close();
    seen
}

#[wasm_bindgen_test]
async fn with_a_provider_the_session_refreshes_before_expiry_and_never_disconnects() {
    let seen = lines_across_expiries(true, 7).await;
    let refreshed = seen
        .iter()
        .filter(|e| matches!(e, ChatEvent::Refreshed { .. }))
        .count();
    assert!(refreshed >= 2, "refreshed {refreshed} times: {seen:?}");
    assert!(
        !seen
            .iter()
            .any(|e| matches!(e, ChatEvent::Connection(ResilientEvent::Disconnected(_)))),
        "the connection lived through every expiry: {seen:?}"
    );
}

#[wasm_bindgen_test]
async fn without_refresh_an_expired_token_reconnects_with_a_fresh_one_and_loses_nothing() {
    let seen = lines_across_expiries(false, 7).await;
    let expiries = seen
        .iter()
        .filter(|e| {
            matches!(e, ChatEvent::Connection(ResilientEvent::Disconnected(close)) if close.code == 4401)
        })
        .count();
    assert!(expiries >= 1, "closed by expiry {expiries} times: {seen:?}");
    assert!(
        seen.iter()
            .any(|e| matches!(e, ChatEvent::Connection(ResilientEvent::Reconnected { .. }))),
        "{seen:?}"
    );
}

#[wasm_bindgen_test]
async fn the_js_token_option_connects_refuses_with_authfailed_and_rejects_bad_values() {
    let socket_class: JsValue = ferrosocket::js::reconnecting_socket_class().into();
    let chat_class: JsValue = ferrosocket::js::chat_client_class().into();
    let bad = sign_with(
        &format!(r#"{{"sub":"{}","exp":{}}}"#, unique("eve"), now_s() + 60),
        "another secret, not the server's, 32+ bytes",
    )
    .await;
    run(refused_token_from_js(&socket_class, AUTH_URL, &bad)).await;
    let nick = unique("ada");
    run(chat_client_token_from_js(
        &chat_class,
        AUTH_URL,
        &token(&nick, 60).await,
        &nick,
    ))
    .await;
    if let Err(err) = bad_token_option_from_js(&socket_class, AUTH_URL) {
        panic!("{err:?}");
    }
}
