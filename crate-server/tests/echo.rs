//! `/echo` against a real tokio-tungstenite client over a real loopback port.

mod common;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn echoes_text_and_binary_unchanged_and_in_order() {
    let addr = common::start(std::env::temp_dir()).await;
    let (mut socket, response) = connect_async(format!("ws://{addr}/echo")).await.unwrap();
    assert_eq!(response.status(), 101);

    let sent = vec![
        Message::text("hello"),
        Message::binary(vec![0u8, 1, 2, 255]),
        Message::text("ünïcødé ✓"),
        Message::binary(Vec::new()),
        Message::text(""),
        Message::binary(vec![7u8; 200_000]),
    ];
    for message in &sent {
        socket.send(message.clone()).await.unwrap();
    }
    for expected in &sent {
        let got = socket.next().await.unwrap().unwrap();
        assert_eq!(&got, expected);
    }

    socket
        .close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: "bye".into(),
        }))
        .await
        .unwrap();
    // The server answers the close handshake, then the stream ends.
    match socket.next().await {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(frame.code, CloseCode::Normal),
        other => panic!("expected the server's close frame, got {other:?}"),
    }
}

#[tokio::test]
async fn a_message_over_the_size_limit_is_closed_with_1009() {
    let config = ferrosocket_server::Config {
        addr: "127.0.0.1:0".parse().unwrap(),
        max_message_bytes: 1024,
        // Chat lines and events must fit a message, escaped (the server checks).
        max_text_bytes: 32,
        max_event_bytes: 256,
        ..Default::default()
    };
    let server = ferrosocket_server::Server::bind(config).await.unwrap();
    let addr = server.local_addr();
    tokio::spawn(server.run_until(std::future::pending()));

    let (mut socket, _) = connect_async(format!("ws://{addr}/echo")).await.unwrap();
    socket.send(Message::text("x".repeat(1024))).await.unwrap();
    assert_eq!(socket.next().await.unwrap().unwrap().len(), 1024);

    socket.send(Message::text("x".repeat(1025))).await.unwrap();
    match socket.next().await {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(frame.code, CloseCode::Size),
        other => panic!("expected close 1009, got {other:?}"),
    }
}

#[tokio::test]
async fn plain_http_to_the_echo_path_gets_426() {
    let addr = common::start(std::env::temp_dir()).await;
    let response = common::get(addr, "/echo").await;
    assert_eq!(response.status, 426);
    assert_eq!(response.header("sec-websocket-version"), Some("13"));
    assert!(String::from_utf8_lossy(&response.body).contains("WebSocket endpoint"));
}

#[tokio::test]
async fn selects_the_first_offered_subprotocol_it_supports() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let addr = common::start(std::env::temp_dir()).await;
    let mut request = format!("ws://{addr}/echo").into_client_request().unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "unknown.v9, echo.v2, echo.v1".parse().unwrap(),
    );
    let (_, response) = connect_async(request).await.unwrap();
    assert_eq!(
        response.headers().get("sec-websocket-protocol").unwrap(),
        "echo.v2"
    );
}

#[tokio::test]
async fn close_query_closes_with_that_code_and_reason() {
    let addr = common::start(std::env::temp_dir()).await;
    let (mut socket, _) = connect_async(format!("ws://{addr}/echo?close=4321&reason=see%20you"))
        .await
        .unwrap();
    match socket.next().await {
        Some(Ok(Message::Close(Some(frame)))) => {
            assert_eq!(u16::from(frame.code), 4321);
            assert_eq!(frame.reason.as_str(), "see you");
        }
        other => panic!("expected close 4321, got {other:?}"),
    }
}

#[tokio::test]
async fn an_invalid_close_query_is_refused_before_the_upgrade() {
    let addr = common::start(std::env::temp_dir()).await;
    let err = connect_async(format!("ws://{addr}/echo?close=1006"))
        .await
        .unwrap_err();
    match err {
        tokio_tungstenite::tungstenite::Error::Http(response) => {
            assert_eq!(response.status(), 400);
            let body = String::from_utf8_lossy(response.body().as_deref().unwrap_or_default());
            assert!(body.contains("1006"), "{body}");
        }
        other => panic!("expected HTTP 400, got {other:?}"),
    }
}
