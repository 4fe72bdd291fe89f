//! [`Sender`]: sending without keeping the socket alive.

use super::*;

/// Sends on a [`ResilientSocket`] without keeping it alive (see
/// [`ResilientSocket::sender`]).
#[derive(Debug, Clone)]
pub struct Sender {
    pub(super) shared: Weak<Shared>,
}

impl Sender {
    /// [`ResilientSocket::send`], or [`SendOutcome::Rejected`] once the socket is dropped.
    pub fn send(&self, message: Message) -> SendOutcome {
        match self.shared.upgrade() {
            Some(shared) => send(&shared, message),
            None => SendOutcome::Rejected,
        }
    }

    /// [`ResilientSocket::send_now`], or `false` once the socket is dropped.
    pub fn send_now(&self, message: &Message) -> bool {
        self.shared
            .upgrade()
            .is_some_and(|shared| send_now(&shared, message))
    }

    /// [`ResilientSocket::can_send_now`], or `false` once the socket is dropped.
    pub fn can_send_now(&self) -> bool {
        self.shared
            .upgrade()
            .is_some_and(|shared| can_send_now(&shared))
    }

    /// [`ResilientSocket::close`]; nothing once the socket is dropped.
    pub fn close(&self) {
        if let Some(shared) = self.shared.upgrade() {
            close(&shared, None);
        }
    }

    /// [`ResilientSocket::state`], or `Closed` once the socket is dropped.
    pub fn state(&self) -> ConnectionState {
        self.shared
            .upgrade()
            .map_or(ConnectionState::Closed, |shared| shared.core.borrow().state)
    }
}
