//! [`ResilientError`]: why a message was refused or a flush failed.

use super::*;

/// Why a [`ResilientSocket`] refused a message (the `Sink`'s error) or could not flush
/// ([`ResilientSocket::flushed`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResilientError {
    /// Closed for good: by [`ResilientSocket::close`], or by a close the reconnect policy
    /// does not retry. `unsent` messages were never sent.
    Closed {
        /// Messages thrown away or left in the queue.
        unsent: usize,
    },
    /// The reconnect policy gave up. `unsent` messages will never be sent.
    GaveUp {
        /// Messages left in the queue.
        unsent: usize,
    },
    /// The offline queue is full and its overflow policy refuses new messages.
    QueueFull,
}

impl fmt::Display for ResilientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResilientError::Closed { unsent } => {
                write!(
                    f,
                    "the socket is closed for good; {unsent} messages were never sent"
                )
            }
            ResilientError::GaveUp { unsent } => write!(
                f,
                "the socket gave up reconnecting; {unsent} messages will never be sent"
            ),
            ResilientError::QueueFull => f.write_str("the offline queue is full"),
        }
    }
}

impl std::error::Error for ResilientError {}

/// The error for a socket that is closed for good or gave up, if it is.
pub(super) fn final_error(core: &Core) -> Option<ResilientError> {
    let unsent = core.queue.len() + core.discarded;
    match core.state {
        ConnectionState::GaveUp => Some(ResilientError::GaveUp { unsent }),
        ConnectionState::Closed => Some(ResilientError::Closed { unsent }),
        _ if core.user_closed => Some(ResilientError::Closed { unsent }),
        _ => None,
    }
}
