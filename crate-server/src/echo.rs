//! The `/echo` endpoint: every text and binary message is returned unchanged.

use ferrosocket_wire::{CloseCode, CloseReason};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error, Message};

use crate::violation::close_frame_for;

/// What the query string of an `/echo` request asks for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EchoOptions {
    /// Close right after the handshake with this frame (`?close=CODE&reason=TEXT`).
    pub close: Option<CloseFrame>,
}

impl EchoOptions {
    /// Parses `close=CODE` and `reason=TEXT` from a query string; the error says which
    /// parameter is wrong and why.
    pub fn from_query(query: Option<&str>) -> Result<EchoOptions, String> {
        let mut code = None;
        let mut reason = String::new();
        for (name, value) in query
            .unwrap_or("")
            .split('&')
            .filter_map(|p| p.split_once('='))
        {
            match name {
                "close" => {
                    let number: u16 = value
                        .parse()
                        .map_err(|_| format!("close={value:?} is not a close code"))?;
                    code = Some(CloseCode::new(number).map_err(|err| err.to_string())?);
                }
                "reason" => {
                    let decoded = crate::static_files::percent_decode(&value.replace('+', " "))
                        .ok_or_else(|| {
                            format!("reason={value:?} is not valid percent-encoded UTF-8")
                        })?;
                    reason = CloseReason::new(&decoded)
                        .map_err(|err| err.to_string())?
                        .as_str()
                        .to_owned();
                }
                _ => {}
            }
        }
        if code.is_none() && !reason.is_empty() {
            return Err("reason= needs close=CODE as well".to_owned());
        }
        Ok(EchoOptions {
            close: code.map(|code| CloseFrame {
                code: code.get().into(),
                reason: reason.into(),
            }),
        })
    }
}

/// Echoes every text and binary message on `socket` until the peer closes.
///
/// Pings are answered and close frames acknowledged by tungstenite itself. A protocol
/// violation by the peer is answered with its close code before the connection ends.
/// Generic over the socket so tests can drive it with any `Stream` + `Sink` of messages.
///
/// # Examples
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use ferrosocket_server::echo::{serve, EchoOptions};
/// use tokio::io::duplex;
/// use tokio_tungstenite::tungstenite::protocol::Role;
/// use tokio_tungstenite::tungstenite::Message;
/// use tokio_tungstenite::WebSocketStream;
/// use futures_util::{SinkExt, StreamExt};
///
/// let (client_io, server_io) = duplex(4096);
/// let server = WebSocketStream::from_raw_socket(server_io, Role::Server, None).await;
/// tokio::spawn(serve(server, EchoOptions::default()));
///
/// let mut client = WebSocketStream::from_raw_socket(client_io, Role::Client, None).await;
/// client.send(Message::text("ping?")).await.unwrap();
/// assert_eq!(client.next().await.unwrap().unwrap(), Message::text("ping?"));
/// # }
/// ```
pub async fn serve<S>(socket: S, options: EchoOptions) -> Result<(), Error>
where
    S: Stream<Item = Result<Message, Error>> + Sink<Message, Error = Error> + Unpin,
{
    let (mut outgoing, mut incoming) = socket.split();
    if let Some(frame) = options.close {
        outgoing.send(Message::Close(Some(frame))).await?;
    }
    while let Some(message) = incoming.next().await {
        let message = match message {
            Ok(message) => message,
            Err(err) => {
                if let Some(frame) = close_frame_for(&err) {
                    // Best effort: the peer may already be gone.
                    let _ = outgoing.send(Message::Close(Some(frame))).await;
                }
                return Err(err);
            }
        };
        match message {
            message @ (Message::Text(_) | Message::Binary(_)) => outgoing.send(message).await?,
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
            // Keep reading: tungstenite replies to the close and ends the stream.
            Message::Close(_) => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_close_and_reason() {
        let options = EchoOptions::from_query(Some("close=4001&reason=going+away%21")).unwrap();
        let frame = options.close.unwrap();
        assert_eq!(u16::from(frame.code), 4001);
        assert_eq!(frame.reason.as_str(), "going away!");
        assert_eq!(
            EchoOptions::from_query(None).unwrap(),
            EchoOptions::default()
        );
    }

    #[test]
    fn refuses_codes_and_reasons_a_client_could_not_send() {
        assert!(EchoOptions::from_query(Some("close=1006"))
            .unwrap_err()
            .contains("1006"));
        assert!(EchoOptions::from_query(Some("close=abc")).is_err());
        let long = format!("close=4000&reason={}", "x".repeat(124));
        assert!(EchoOptions::from_query(Some(&long))
            .unwrap_err()
            .contains("124"));
        assert!(EchoOptions::from_query(Some("reason=hi")).is_err());
    }
}
