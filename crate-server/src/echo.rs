//! The `/echo` endpoint: every text and binary message is returned unchanged.

use futures_util::{Sink, SinkExt, Stream, StreamExt};
use tokio_tungstenite::tungstenite::{Error, Message};

use crate::violation::close_frame_for;

/// Echoes every text and binary message on `socket` until the peer closes.
///
/// Pings are answered and close frames acknowledged by tungstenite itself. Generic over
/// the socket so tests can drive it with any `Stream` + `Sink` of messages.
pub async fn serve<S>(socket: S) -> Result<(), Error>
where
    S: Stream<Item = Result<Message, Error>> + Sink<Message, Error = Error> + Unpin,
{
    let (mut outgoing, mut incoming) = socket.split();
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
