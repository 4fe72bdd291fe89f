//! Answering a peer's protocol violation with the close code RFC 6455 assigns to it, so
//! that the client learns why, instead of seeing a bare TCP reset (close 1006).

use tokio_tungstenite::tungstenite::error::{CapacityError, Error, ProtocolError};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;

/// The close frame to send for a read error, or `None` when the connection is already
/// gone (closed, reset, I/O failure) and there is no one left to tell.
///
/// # Examples
/// ```
/// use ferrosocket_server::violation::close_frame_for;
/// use tokio_tungstenite::tungstenite::error::{CapacityError, Error};
///
/// let too_big = Error::Capacity(CapacityError::MessageTooLong { size: 2048, max_size: 1024 });
/// assert_eq!(u16::from(close_frame_for(&too_big).unwrap().code), 1009);
/// assert!(close_frame_for(&Error::ConnectionClosed).is_none());
/// ```
pub fn close_frame_for(err: &Error) -> Option<CloseFrame> {
    let (code, reason) = match err {
        Error::Capacity(CapacityError::MessageTooLong { .. }) => {
            (CloseCode::Size, "message too big")
        }
        Error::Capacity(_) => (CloseCode::Size, "frame too big"),
        Error::Utf8(_) => (CloseCode::Invalid, "invalid UTF-8 in a text message"),
        Error::Protocol(ProtocolError::ResetWithoutClosingHandshake)
        | Error::Protocol(ProtocolError::SendAfterClosing)
        | Error::Protocol(ProtocolError::ReceivedAfterClosing) => return None,
        Error::Protocol(_) => (CloseCode::Protocol, "protocol error"),
        _ => return None,
    };
    Some(CloseFrame {
        code,
        reason: reason.into(),
    })
}

/// Whether a close frame read from the peer stands for a close code the peer may not send
/// (1005, 1006, 1015, below 1000, ...). tungstenite answers such a frame itself, with 1002,
/// and hands on the frame with its code already replaced by 1002 "Protocol violation", so
/// that replacement is the only trace of the violation left to count. (A peer that sends
/// exactly 1002 "Protocol violation" itself is counted too: it claims one.)
///
/// # Examples
/// ```
/// use ferrosocket_server::violation::is_refused_close;
/// use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
/// use tokio_tungstenite::tungstenite::protocol::CloseFrame;
///
/// let replaced = CloseFrame { code: CloseCode::Protocol, reason: "Protocol violation".into() };
/// assert!(is_refused_close(&replaced));
/// let normal = CloseFrame { code: CloseCode::Normal, reason: "bye".into() };
/// assert!(!is_refused_close(&normal));
/// ```
pub fn is_refused_close(frame: &CloseFrame) -> bool {
    frame.code == CloseCode::Protocol && frame.reason.as_str() == "Protocol violation"
}
