//! What arrives on a socket.

/// One WebSocket message.
///
/// # Examples
/// ```
/// use ferrosocket::Message;
/// let describe = |message: &Message| match message {
///     Message::Text(text) => format!("text: {text}"),
///     Message::Binary(bytes) => format!("{} bytes", bytes.len()),
/// };
/// assert_eq!(describe(&Message::Binary(vec![1, 2])), "2 bytes");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message.
    Text(String),
    /// A binary message, copied out of the browser's `ArrayBuffer`.
    Binary(Vec<u8>),
}

/// How a connection closed: what the browser's
/// [`CloseEvent`](https://developer.mozilla.org/en-US/docs/Web/API/CloseEvent) says.
///
/// # Examples
/// ```
/// # let close = ferrosocket::CloseEvent { code: 1006, reason: String::new(), was_clean: false };
/// let dropped = close.code == 1006 || !close.was_clean;
/// assert!(dropped);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseEvent {
    /// The close code: the peer's, or `1006` when the connection dropped without one.
    pub code: u16,
    /// The close reason the peer sent, possibly empty.
    pub reason: String,
    /// Whether the closing handshake completed.
    pub was_clean: bool,
}
