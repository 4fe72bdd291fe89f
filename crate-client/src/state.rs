//! The connection's ready state.

/// [`WebSocket.readyState`](https://developer.mozilla.org/en-US/docs/Web/API/WebSocket/readyState).
///
/// # Examples
/// ```
/// use ferrosocket::ReadyState;
/// assert_eq!(ReadyState::from_code(1), ReadyState::Open);
/// assert_eq!(ReadyState::Closing as u16, 2);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum ReadyState {
    /// `0`: the connection is being established.
    Connecting = 0,
    /// `1`: messages can be sent and received.
    Open = 1,
    /// `2`: the closing handshake is under way.
    Closing = 2,
    /// `3`: the connection is closed or could not be opened.
    Closed = 3,
}

impl ReadyState {
    /// The state's name, as in `Debug` (`"Open"`).
    pub fn name(self) -> &'static str {
        match self {
            ReadyState::Connecting => "Connecting",
            ReadyState::Open => "Open",
            ReadyState::Closing => "Closing",
            ReadyState::Closed => "Closed",
        }
    }

    /// Maps the browser's numeric state; anything unknown is treated as closed.
    pub fn from_code(code: u16) -> ReadyState {
        match code {
            0 => ReadyState::Connecting,
            1 => ReadyState::Open,
            2 => ReadyState::Closing,
            _ => ReadyState::Closed,
        }
    }
}
