//! What arrives on a socket.

/// One WebSocket message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message.
    Text(String),
    /// A binary message, copied out of the browser's `ArrayBuffer`.
    Binary(Vec<u8>),
}

/// How a connection closed: what the browser's
/// [`CloseEvent`](https://developer.mozilla.org/en-US/docs/Web/API/CloseEvent) says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseEvent {
    /// The close code: the peer's, or `1006` when the connection dropped without one.
    pub code: u16,
    /// The close reason the peer sent, possibly empty.
    pub reason: String,
    /// Whether the closing handshake completed.
    pub was_clean: bool,
}
