//! How the scenarios speak to a server: plain WebSocket messages, or socket.io's framing
//! (Engine.IO v4 packets over its WebSocket transport) for URLs under `/socket.io/`.
//!
//! A socket.io connection opens with the server's `0{...}` packet, the client's `40`
//! (connect to the default namespace) and the server's `40{"sid":...}`; each message is the
//! event packet `42["message","..."]`; the server's ping `2` is answered with `3`. The
//! payload travels as a string inside that envelope, which is how a socket.io client sends
//! text.

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use crate::scenarios::Socket;

/// The framing a scenario uses on one URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Plain WebSocket messages.
    Plain,
    /// socket.io (Engine.IO v4) packets.
    SocketIo,
}

/// What one received message is to a scenario.
#[derive(Debug, PartialEq, Eq)]
pub enum Received<'a> {
    /// Application data: the text of a text message or of a socket.io event.
    Text(&'a str),
    /// The bytes of a binary message.
    Binary(&'a [u8]),
    /// Protocol traffic the scenario ignores (after answering it, for a ping).
    Other,
}

impl Dialect {
    /// socket.io for URLs under `/socket.io/`, plain otherwise.
    pub fn of(url: &str) -> Dialect {
        if url.contains("/socket.io/") {
            Dialect::SocketIo
        } else {
            Dialect::Plain
        }
    }

    /// Completes the dialect's own handshake on a freshly opened WebSocket.
    pub async fn handshake(self, ws: &mut Socket) -> Result<(), String> {
        if self == Dialect::Plain {
            return Ok(());
        }
        let mut connected = false;
        while let Some(message) = ws.next().await {
            let text = match message.map_err(|err| format!("socket.io handshake: {err}"))? {
                Message::Text(text) => text,
                _ => continue,
            };
            if text.starts_with('0') && !connected {
                ws.send(Message::text("40"))
                    .await
                    .map_err(|err| format!("socket.io handshake: {err}"))?;
                connected = true;
            } else if text.starts_with("40") {
                return Ok(());
            } else if text.starts_with("44") {
                return Err(format!("socket.io refused the connection: {text}"));
            }
        }
        Err("socket.io handshake: the connection closed".to_owned())
    }

    /// A text message carrying `text` (ASCII without quotes or backslashes).
    pub fn text(self, text: &str) -> Message {
        match self {
            Dialect::Plain => Message::text(text),
            Dialect::SocketIo => Message::text(format!("42[\"message\",\"{text}\"]")),
        }
    }

    /// The echo scenario's payload of `len` bytes: binary for plain servers, the same
    /// number of characters in an event for socket.io.
    pub fn payload(self, len: usize) -> Message {
        match self {
            Dialect::Plain => Message::binary(vec![b'x'; len]),
            Dialect::SocketIo => self.text(&"x".repeat(len)),
        }
    }

    /// Classifies `message`; for socket.io, answers a ping on `ws` first.
    pub async fn receive<'a>(self, message: &'a Message, ws: &mut Socket) -> Received<'a> {
        match (self, message) {
            (Dialect::Plain, Message::Text(text)) => Received::Text(text.as_str()),
            (Dialect::Plain, Message::Binary(bytes)) => Received::Binary(bytes),
            (Dialect::SocketIo, Message::Text(text)) => match text.as_str() {
                "2" => {
                    let _ = ws.send(Message::text("3")).await;
                    Received::Other
                }
                event => match event.strip_prefix("42[\"message\",\"") {
                    Some(rest) => Received::Text(rest.strip_suffix("\"]").unwrap_or(rest)),
                    None => Received::Other,
                },
            },
            _ => Received::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_dialect_by_path_and_frames_socket_io_events() {
        assert_eq!(Dialect::of("ws://127.0.0.1:1/echo"), Dialect::Plain);
        let io = Dialect::of("ws://127.0.0.1:1/socket.io/?EIO=4&transport=websocket");
        assert_eq!(io, Dialect::SocketIo);
        assert_eq!(
            io.text("bench 1 2"),
            Message::text("42[\"message\",\"bench 1 2\"]")
        );
        assert_eq!(io.payload(3), Message::text("42[\"message\",\"xxx\"]"));
        assert_eq!(Dialect::Plain.payload(2), Message::binary(vec![b'x'; 2]));
    }
}
