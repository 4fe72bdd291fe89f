//! What a [`ResilientSocket`](super::ResilientSocket) reports: its state, its events and their `Stream`.

use super::*;

/// Where the connection stands; readable at any time with
/// [`ResilientSocket::state`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionState {
    /// A socket is being opened.
    Connecting,
    /// The socket is open.
    Open,
    /// Waiting before reconnect attempt `attempt`.
    Reconnecting {
        /// The attempt about to be made, from 1.
        attempt: u32,
    },
    /// Closed for good: by [`ResilientSocket::close`], or by a close the policy does not
    /// reconnect after.
    Closed,
    /// Closed after the policy's maximum number of attempts.
    GaveUp,
    /// Stopped because the server refused the token twice in a row (see
    /// [`ResilientEvent::AuthFailed`]); [`ResilientSocket::reconnect`] starts again.
    AuthFailed,
}

/// What a [`ResilientSocket`] reports, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum ResilientEvent {
    /// The first connection opened.
    Open,
    /// A later connection opened, after `attempts` attempts since the last connection that
    /// stayed open for the policy's `min_uptime`. Messages the handler sends while handling
    /// this event go out before the offline queue.
    Reconnected {
        /// How many attempts it took.
        attempts: u32,
    },
    /// A message arrived.
    Message(Message),
    /// The current socket closed or was found dead. A heartbeat timeout or a connect
    /// timeout reports code 1006, like any lost connection, with the reason
    /// `heartbeat timeout` or `connect timeout` (the server is sent
    /// [`CloseCode::HEARTBEAT_TIMEOUT`] or [`CloseCode::CONNECT_TIMEOUT`]).
    /// A `Reconnecting`, `GaveUp` or `Closed` follows.
    Disconnected(CloseEvent),
    /// The next attempt will be made after `delay`.
    Reconnecting {
        /// The attempt, from 1.
        attempt: u32,
        /// The wait before it (random, at most the policy's cap for this attempt).
        delay: Duration,
    },
    /// The policy's maximum number of attempts was reached; nothing more will happen.
    GaveUp,
    /// The server refused the token of an attempt, and then the fresh one the provider
    /// gave (or the provider failed): reconnecting would only be refused again, so the
    /// socket stops until [`ResilientSocket::reconnect`]. Messages stay queued.
    AuthFailed {
        /// The server's reason (or the provider's error).
        reason: String,
    },
    /// Closed for good.
    Closed(CloseEvent),
}

#[derive(Debug, Default)]
pub(super) struct EventQueue {
    events: VecDeque<ResilientEvent>,
    ended: bool,
    waker: Option<Waker>,
}

impl EventQueue {
    pub(super) fn push(&mut self, event: ResilientEvent) {
        if self.ended {
            return;
        }
        self.ended = matches!(event, ResilientEvent::Closed(_) | ResilientEvent::GaveUp);
        self.events.push_back(event);
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }
}

/// The events of a [`ResilientSocket`] as a `Stream` (see [`ResilientSocket::events`]).
#[derive(Debug)]
pub struct ResilientEvents {
    pub(super) queue: Rc<RefCell<EventQueue>>,
    pub(super) socket: Weak<Shared>,
}

impl Stream for ResilientEvents {
    type Item = ResilientEvent;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<ResilientEvent>> {
        let mut queue = self.queue.borrow_mut();
        if let Some(event) = queue.events.pop_front() {
            return Poll::Ready(Some(event));
        }
        // Ended, or the socket (and so the handler feeding this queue) is gone.
        if queue.ended || self.socket.strong_count() == 0 {
            return Poll::Ready(None);
        }
        queue.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}
