//! What a [`ResilientSocket`](super::ResilientSocket) is opened with: its options and heartbeat.

use super::*;

/// An application-level heartbeat: browsers cannot send WebSocket pings nor see a TCP
/// connection that silently died, so the socket sends `ping` after `interval` without any
/// incoming message, and treats the connection as dead (and reconnects) when nothing at all
/// arrives within `timeout` after it.
#[derive(Debug, Clone, PartialEq)]
pub struct Heartbeat {
    /// Quiet time before a ping. Default: 15 s.
    pub interval: Duration,
    /// Time to wait for any message after the ping. Default: 10 s.
    pub timeout: Duration,
    /// The ping to send; the server must answer it with any message (`chat.v1`:
    /// `{"type":"ping"}`, answered by `pong`).
    pub ping: Message,
}

/// How a [`ResilientSocket`] behaves. `Default` gives sane values for each part.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use ferrosocket::{Heartbeat, Message, ResilientOptions};
///
/// let options = ResilientOptions {
///     heartbeat: Some(Heartbeat {
///         interval: Duration::from_secs(20),
///         timeout: Duration::from_secs(5),
///         ping: Message::Text(r#"{"type":"ping"}"#.into()),
///     }),
///     ..ResilientOptions::default()
/// };
/// assert_eq!(options.high_water_mark, 1 << 20);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ResilientOptions {
    /// When and how fast to reconnect.
    pub reconnect: ReconnectPolicy,
    /// The bounds of the offline queue.
    pub queue: QueueLimits,
    /// Above this many bytes in the browser's send buffer (`bufferedAmount`), sends are
    /// queued instead. Default: 1 MiB.
    pub high_water_mark: u32,
    /// The heartbeat, if any. Default: none.
    pub heartbeat: Option<Heartbeat>,
    /// Subprotocols to offer on every connection.
    pub protocols: Vec<String>,
    /// How long an attempt may take to open before it is given up (closed with
    /// [`CloseCode::CONNECT_TIMEOUT`], reported as a 1006 `connect timeout`) and retried;
    /// `None`: as long as the browser takes. Default: 10 s.
    pub connect_timeout: Option<Duration>,
    /// The access token sent with every attempt (as the `access_token` query parameter),
    /// asked for anew before each one. With a token, an attempt that fails before opening
    /// makes one HTTP request to learn whether the server refused the token; two refusals
    /// in a row stop the socket with [`ResilientEvent::AuthFailed`] until
    /// [`ResilientSocket::reconnect`]. A close with 4401 (token expired) is always
    /// reconnected after. Default: none.
    pub token: Option<TokenProvider>,
}

impl Default for ResilientOptions {
    fn default() -> Self {
        ResilientOptions {
            reconnect: ReconnectPolicy::default(),
            queue: QueueLimits::default(),
            high_water_mark: 1 << 20,
            heartbeat: None,
            protocols: Vec::new(),
            connect_timeout: Some(Duration::from_secs(10)),
            token: None,
        }
    }
}
