//! [`ChatEvent`]: what a chat session reports to the application.

use ferrosocket_wire::chat::{ErrorCode, HistoryEntry, PresenceChange, RoomInfo, Seq};

use crate::resilient::ResilientEvent;

/// What a [`ChatSession`](crate::chat::ChatSession) (or a
/// [`SessionCore`](crate::session::core::SessionCore)) reports to the application.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatEvent {
    /// The connection changed: open, reconnected, disconnected, reconnecting (attempt,
    /// delay), gave up, closed. Never [`ResilientEvent::Message`]. (Only the browser
    /// [`ChatSession`](crate::chat::ChatSession) reports these; the sans-IO core is told of them.)
    Connection(ResilientEvent),
    /// The server greeted a connection; `nick` is the nickname in force.
    Welcome {
        /// The nickname.
        nick: String,
    },
    /// The nickname changed to `nick`.
    Nick {
        /// The nickname.
        nick: String,
    },
    /// A room was joined: its members and the history this session had not seen yet.
    Joined {
        /// The room.
        room: String,
        /// Its members' nicknames.
        members: Vec<String>,
        /// Messages not delivered before, oldest first.
        history: Vec<HistoryEntry>,
    },
    /// A room was left.
    Left {
        /// The room.
        room: String,
    },
    /// Someone joined, left or was renamed.
    Presence {
        /// The room.
        room: String,
        /// What happened.
        change: PresenceChange,
        /// Who.
        nick: String,
        /// The former nickname, for a rename.
        old_nick: Option<String>,
    },
    /// A message from someone else, delivered once, in the room's order, with no gap the
    /// server could still fill.
    Message {
        /// The room.
        room: String,
        /// The message.
        entry: HistoryEntry,
    },
    /// The server accepted one of this session's lines.
    Sent {
        /// The key `send` returned.
        id: String,
        /// The room.
        room: String,
        /// Its sequence number.
        seq: Seq,
    },
    /// One of this session's lines will not be delivered by this session: the server
    /// refused it for good, it was too large, its deadline passed, or the session was
    /// closed. Every line ends with exactly one `Sent` or one `Failed`.
    Failed {
        /// The key `send` returned.
        id: String,
        /// The room.
        room: String,
        /// Why, for people; it says when the line may nevertheless have been delivered
        /// (it had been transmitted, and the connection was lost before the answer).
        reason: String,
    },
    /// The rooms and their member counts (answer to `list_rooms`).
    Rooms(Vec<RoomInfo>),
    /// An application event from another member.
    Event {
        /// The room.
        room: String,
        /// The event's name.
        event: String,
        /// The sender.
        from: String,
        /// The JSON payload, as text.
        data: String,
    },
    /// The connection's access token expires at `exp` (seconds since the Unix epoch):
    /// the session needs a fresh token for the same identity, to present with
    /// [`refresh`](crate::session::core::SessionCore::refresh) — a
    /// [`ChatSession`](crate::chat::ChatSession) with a token provider does it itself. Without
    /// one, the server closes the connection with 4401 at `exp`.
    TokenExpiring {
        /// The expiry, in seconds since the Unix epoch.
        exp: u64,
    },
    /// The server accepted a fresh token: the connection now lasts until `exp`.
    Refreshed {
        /// The new expiry, in seconds since the Unix epoch.
        exp: u64,
    },
    /// The server refused a request.
    Error {
        /// What kind of problem.
        code: ErrorCode,
        /// The server's explanation.
        message: String,
        /// The refused request's `id`, if it had one.
        reference: Option<String>,
    },
}
