//! A test client for `/chat` speaking `chat.v1`, over tokio-tungstenite.

use std::net::SocketAddr;
use std::time::Duration;

use ferrosocket_wire::chat::{ServerEnvelope, SUBPROTOCOL};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{connect_async, MaybeTlsStream, WebSocketStream};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A protocol client; `nick` is the one the server generated (or the last one set).
pub struct ChatClient {
    pub ws: Ws,
    pub nick: String,
}

impl ChatClient {
    /// Connects with `chat.v1` and consumes the `welcome` and lobby `joined` envelopes.
    pub async fn connect(addr: SocketAddr) -> ChatClient {
        let mut request = format!("ws://{addr}/chat").into_client_request().unwrap();
        request
            .headers_mut()
            .insert("sec-websocket-protocol", SUBPROTOCOL.parse().unwrap());
        let (ws, response) = connect_async(request).await.expect("connecting to /chat");
        assert_eq!(response.headers()["sec-websocket-protocol"], SUBPROTOCOL);
        let mut client = ChatClient {
            ws,
            nick: String::new(),
        };
        match client.recv().await {
            ServerEnvelope::Welcome { nick, .. } => client.nick = nick,
            other => panic!("expected welcome, got {other:?}"),
        }
        match client.recv().await {
            ServerEnvelope::Joined { room, .. } => assert_eq!(room, "lobby"),
            other => panic!("expected the lobby join, got {other:?}"),
        }
        client
    }

    /// Connects and sets the nickname.
    pub async fn named(addr: SocketAddr, nick: &str) -> ChatClient {
        let mut client = ChatClient::connect(addr).await;
        client
            .send(serde_json::json!({"type": "nick", "nick": nick}))
            .await;
        assert_eq!(
            client.recv_skipping_presence().await,
            ServerEnvelope::Nick { nick: nick.into() }
        );
        client.nick = nick.into();
        client
    }

    pub async fn send(&mut self, envelope: Value) {
        self.ws
            .send(Message::text(envelope.to_string()))
            .await
            .unwrap();
    }

    pub async fn send_raw(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.unwrap();
    }

    /// The next envelope; fails after 5 s.
    pub async fn recv(&mut self) -> ServerEnvelope {
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(5), self.ws.next())
                .await
                .expect("an envelope within 5 s")
                .expect("the connection is open")
                .expect("no protocol error");
            match frame {
                Message::Text(text) => {
                    return serde_json::from_str(text.as_str())
                        .unwrap_or_else(|err| panic!("not an envelope ({err}): {text}"))
                }
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("expected an envelope, got {other:?}"),
            }
        }
    }

    /// The next envelope, skipping presence notices.
    pub async fn recv_skipping_presence(&mut self) -> ServerEnvelope {
        loop {
            match self.recv().await {
                ServerEnvelope::Presence { .. } => continue,
                other => return other,
            }
        }
    }

    /// Asserts nothing arrives within `ms` milliseconds.
    pub async fn expect_silence(&mut self, ms: u64) {
        if let Ok(frame) = tokio::time::timeout(Duration::from_millis(ms), self.ws.next()).await {
            panic!("{} expected nothing, got {frame:?}", self.nick);
        }
    }

    /// A ping/pong round trip: proves the connection still works and that everything
    /// sent before has been handled.
    pub async fn sync(&mut self) {
        self.send(serde_json::json!({"type": "ping", "id": "sync"}))
            .await;
        loop {
            match self.recv().await {
                ServerEnvelope::Pong { id } if id.as_deref() == Some("sync") => return,
                // Acknowledgements of earlier sends may still be on their way.
                ServerEnvelope::Presence { .. } | ServerEnvelope::Ack { .. } => continue,
                other => panic!("expected pong, got {other:?}"),
            }
        }
    }

    /// Waits for the server's close frame and returns it.
    pub async fn closed(&mut self) -> CloseFrame {
        loop {
            match tokio::time::timeout(Duration::from_secs(5), self.ws.next()).await {
                Ok(Some(Ok(Message::Close(Some(frame))))) => return frame,
                Ok(Some(Ok(_))) => continue,
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    }
}
