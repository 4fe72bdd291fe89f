//! `--auth-demo`: `POST /auth/demo` gives a token for a nickname that `/chat` accepts with
//! that identity; bad nicknames and bodies get 400/413 and no token; the demo signs with a
//! secret of its own per process (another demo server refuses its tokens); it cannot be
//! combined with a real key nor switched on from the environment, and the binary warns
//! loudly; `/auth/config` tells a page what the server wants.

mod common;

use std::net::SocketAddr;

use clap::{CommandFactory, Parser};
use common::binary::ServerProcess;
use common::{get, raw_request, start_with, RawResponse};
use ferrosocket_server::{Config, Server};
use ferrosocket_wire::chat::{ServerEnvelope, SUBPROTOCOL};
use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

async fn post(addr: SocketAddr, path: &str, body: &str) -> RawResponse {
    raw_request(
        addr,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
    .await
}

fn json_of(response: &RawResponse) -> Value {
    serde_json::from_slice(&response.body).unwrap_or_else(|err| {
        panic!(
            "{err}: {:?}",
            String::from_utf8_lossy(&response.body).into_owned()
        )
    })
}

async fn demo_token(addr: SocketAddr, nick: &str) -> String {
    let response = post(addr, "/auth/demo", &json!({ "nick": nick }).to_string()).await;
    assert_eq!(
        response.status,
        200,
        "{:?}",
        String::from_utf8_lossy(&response.body)
    );
    assert_eq!(response.header("cache-control"), Some("no-store"));
    let answer = json_of(&response);
    assert_eq!(answer["expires_in"], 600);
    answer["token"].as_str().unwrap().to_owned()
}

/// `/chat` with `token`: the welcomed nickname, or the refusal's HTTP status.
async fn chat_as(addr: SocketAddr, token: &str) -> Result<String, u16> {
    let mut request = format!("ws://{addr}/chat?access_token={token}")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("sec-websocket-protocol", SUBPROTOCOL.parse().unwrap());
    let mut ws = match connect_async(request).await {
        Ok((ws, _)) => ws,
        Err(WsError::Http(response)) => return Err(response.status().as_u16()),
        Err(err) => panic!("{err}"),
    };
    while let Some(frame) = ws.next().await {
        if let Message::Text(text) = frame.unwrap() {
            if let ServerEnvelope::Welcome { nick, .. } = serde_json::from_str(&text).unwrap() {
                return Ok(nick);
            }
        }
    }
    panic!("closed before welcome")
}

async fn demo_server() -> SocketAddr {
    start_with(|config| config.auth_demo = true).await
}

#[tokio::test]
async fn a_demo_token_connects_with_its_nickname_and_bad_requests_get_none() {
    let addr = demo_server().await;
    let config = json_of(&get(addr, "/auth/config").await);
    assert_eq!(config, json!({"tokens": "required", "demo": true}));
    for nick in ["ada", "Bob_2", "c.d-e"] {
        let token = demo_token(addr, nick).await;
        assert_eq!(chat_as(addr, &token).await, Ok(nick.to_owned()));
    }
    // Without a token the server refuses, as any token server does.
    assert_eq!(chat_as(addr, "").await, Err(401));
    let long = "n".repeat(33);
    let too_big = json!({ "nick": "x".repeat(2000) }).to_string();
    for (body, status) in [
        (json!({"nick": "two words"}).to_string(), 400),
        (json!({"nick": ""}).to_string(), 400),
        (json!({ "nick": long }).to_string(), 400),
        (json!({"nick": "guest-1"}).to_string(), 400),
        (json!({"nick": 7}).to_string(), 400),
        ("nick=ada".to_owned(), 400),
        (String::new(), 400),
        (too_big, 413),
    ] {
        let response = post(addr, "/auth/demo", &body).await;
        assert_eq!(response.status, status, "{body:.60}");
        assert!(
            !String::from_utf8_lossy(&response.body).contains("token\""),
            "{body:.60} got a token"
        );
    }
    assert_eq!(get(addr, "/auth/demo").await.status, 405);
}

#[tokio::test]
async fn each_demo_server_signs_with_its_own_secret() {
    let (a, b) = (demo_server().await, demo_server().await);
    let from_a = demo_token(a, "ada").await;
    assert_eq!(chat_as(a, &from_a).await, Ok("ada".into()));
    assert_eq!(chat_as(b, &from_a).await, Err(401));
}

#[tokio::test]
async fn without_the_flag_there_is_no_demo_and_config_says_what_the_server_wants() {
    let open = start_with(|_| {}).await;
    assert_eq!(
        post(open, "/auth/demo", r#"{"nick":"ada"}"#).await.status,
        404
    );
    assert_eq!(
        json_of(&get(open, "/auth/config").await),
        json!({"tokens": "off", "demo": false})
    );
    let guests = start_with(|config| {
        config.auth_jwt_secret = Some("a real deployment's secret, 32 bytes+".into());
        config.auth_allow_guests = true;
    })
    .await;
    assert_eq!(
        post(guests, "/auth/demo", r#"{"nick":"ada"}"#).await.status,
        404
    );
    assert_eq!(
        json_of(&get(guests, "/auth/config").await),
        json!({"tokens": "optional", "demo": false})
    );
}

#[tokio::test]
async fn the_demo_cannot_sign_with_a_real_key_nor_be_enabled_from_the_environment() {
    let config = Config {
        addr: "127.0.0.1:0".parse().unwrap(),
        auth_demo: true,
        auth_jwt_secret: Some("a real deployment's secret, 32 bytes+".into()),
        ..Config::default()
    };
    let err = Server::bind(config)
        .await
        .expect_err("demo with a real secret");
    assert!(err.to_string().contains("--auth-demo"), "{err}");
    let err = Config::try_parse_from([
        "ferrosocket-server",
        "--auth-demo",
        "--auth-jwt-public-key",
        "key.pem",
    ])
    .expect_err("demo with a public key");
    assert!(err.to_string().contains("--auth-demo"), "{err}");
    let command = Config::command();
    let flag = command
        .get_arguments()
        .find(|arg| arg.get_long() == Some("auth-demo"))
        .expect("the flag exists");
    assert_eq!(
        flag.get_env(),
        None,
        "--auth-demo must not have an environment twin"
    );
}

#[tokio::test]
async fn the_binary_warns_loudly_that_the_demo_is_not_for_production() {
    let mut server = ServerProcess::start(&["--auth-demo"], &[]);
    let token = demo_token(server.addr, "ada").await;
    assert_eq!(chat_as(server.addr, &token).await, Ok("ada".into()));
    server.stop();
    let output = server.output();
    assert!(output.contains("NOT FOR PRODUCTION"), "{output}");
    assert!(!output.contains(&token), "the demo token was logged");
}

async fn check(addr: SocketAddr, token: Option<&str>) -> (u16, Value) {
    let header = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let response = raw_request(
        addr,
        &format!("GET /auth/check HTTP/1.1\r\nHost: {addr}\r\n{header}Connection: close\r\n\r\n"),
    )
    .await;
    (response.status, json_of(&response))
}

#[tokio::test]
async fn auth_check_says_what_chat_would_say_to_a_token() {
    let addr = demo_server().await;
    let token = demo_token(addr, "ada").await;
    let (status, answer) = check(addr, Some(&token)).await;
    assert_eq!((status, answer["nick"].as_str()), (200, Some("ada")));
    assert!(answer["expires_in"].as_u64().unwrap() > 500);
    // Another payload under the same signature.
    let mut tampered = token.clone();
    let at = tampered.find('.').unwrap() + 3;
    let flipped = if &tampered[at..=at] == "A" { "B" } else { "A" };
    tampered.replace_range(at..=at, flipped);
    for (bad, what) in [(None, "required"), (Some(tampered.as_str()), "token")] {
        let (status, answer) = check(addr, bad).await;
        assert_eq!(status, 401);
        assert!(answer["error"].as_str().unwrap().contains(what), "{answer}");
        assert_eq!(chat_as(addr, bad.unwrap_or("")).await, Err(401));
    }
    // While ada is connected, her token would get 409, as /chat would answer.
    let mut request = format!("ws://{addr}/chat?access_token={token}")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("sec-websocket-protocol", SUBPROTOCOL.parse().unwrap());
    let (_ada, _) = connect_async(request).await.unwrap();
    let (status, _) = check(addr, Some(&token)).await;
    assert_eq!(status, 409);
    assert_eq!(chat_as(addr, &token).await, Err(409));
    let open = start_with(|_| {}).await;
    assert_eq!(check(open, Some(&token)).await.0, 404);
}
