//! The chat protocol, version 1: JSON envelopes exchanged on `/chat` when the client asks
//! for the [`SUBPROTOCOL`]. `docs/PROTOCOL.md` describes it with an example of each.
//!
//! Every envelope is a JSON object whose `type` field names it. Clients send
//! [`ClientEnvelope`]s and receive [`ServerEnvelope`]s. Anything a client sends that is not
//! a valid envelope gets an [`ServerEnvelope::Error`] that names the problem, and the
//! connection goes on.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::json_text::JsonText;

/// The subprotocol a client asks for to speak this protocol.
pub const SUBPROTOCOL: &str = "chat.v1";

/// The room every plain-text client is in, and the one protocol clients start in.
pub const LOBBY: &str = "lobby";

/// A sequence number: position of a message in its room, from 1, strictly increasing.
pub type Seq = u64;

/// The longest idempotency key (`id` of a `send`) the server accepts, in bytes.
pub const MAX_ID_LEN: usize = 64;

/// How deeply an event's `data` may nest arrays and objects ([`JsonText::depth`]).
/// serde_json reads at most 127 levels, and the data sits one level deep in an `emit` or an
/// `event` and two in the notice that carries an event to the other servers of a Redis
/// backplane: 125 is what every one of them can read.
pub const MAX_DATA_DEPTH: usize = 125;

/// What a client sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientEnvelope {
    /// Change nickname. Answered by [`ServerEnvelope::Nick`].
    Nick {
        /// The new nickname.
        nick: String,
    },
    /// List the rooms. Answered by [`ServerEnvelope::Rooms`].
    ListRooms,
    /// Join rooms (created if new). Each is answered by [`ServerEnvelope::Joined`].
    Join {
        /// The rooms to join.
        rooms: Vec<String>,
    },
    /// Leave rooms. Each is answered by [`ServerEnvelope::Left`].
    Leave {
        /// The rooms to leave.
        rooms: Vec<String>,
    },
    /// Send a message to a joined room: delivered to every other member as
    /// [`ServerEnvelope::Message`], acknowledged with [`ServerEnvelope::Ack`].
    Send {
        /// The room.
        room: String,
        /// The message.
        text: String,
        /// An idempotency key chosen by the client (at most [`MAX_ID_LEN`] bytes), scoped
        /// to its session: a repeated `send` with the same `id` is acknowledged again
        /// with the original sequence number and not delivered twice. Never shown to
        /// other members.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        /// The line's number in its session (1, 2, 3...): with it, the server accepts a
        /// session's lines only in this order, refusing one that skips ahead with
        /// [`ErrorCode::OutOfOrder`], so a refused line can never be overtaken.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        n: Option<u64>,
    },
    /// Continue an earlier connection's session: its idempotency keys and line numbers
    /// carry over. Sent first after a reconnect, before any `send`. Not answered unless
    /// refused.
    Session {
        /// The `session` of an earlier `welcome`.
        token: String,
        /// The `n` of the oldest line the client still wants delivered: lines numbered
        /// below it that the server never accepted are given up, and numbering goes on
        /// from here.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next: Option<u64>,
    },
    /// Replay what was missed in `room` after `after_seq` (joining it if needed). Answered
    /// by the missed [`ServerEnvelope::Message`]s, then [`ServerEnvelope::Resumed`].
    Resume {
        /// The room.
        room: String,
        /// The last sequence number the client saw in that room (0 for none).
        after_seq: Seq,
        /// The `epoch` of the `welcome` that sequence number belongs to. If the server's
        /// epoch differs (its history started over), it replays from the beginning.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        epoch: Option<String>,
    },
    /// Application-level ping. Answered by [`ServerEnvelope::Pong`] with the same `id`.
    Ping {
        /// Echoed back in the pong.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
    },
    /// A named application event with a JSON payload, delivered to the other members of
    /// `room` as [`ServerEnvelope::Event`]; with `ack`, the server confirms delivery with
    /// [`ServerEnvelope::EventAck`].
    Emit {
        /// The room to deliver to (must be joined).
        room: String,
        /// The event's name.
        event: String,
        /// Any JSON value (`null` when left out), as its text.
        #[serde(default)]
        data: JsonText,
        /// Ask for an [`ServerEnvelope::EventAck`] carrying this number.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ack: Option<u64>,
    },
    /// Replace the connection's access token with a fresh one for the same identity, so
    /// that it is not closed when the old one expires (the answer to
    /// [`ServerEnvelope::TokenExpiring`], or sent at any time). Answered by
    /// [`ServerEnvelope::Refreshed`]; refused with [`ErrorCode::Unauthorized`] (the token is
    /// not valid) or [`ErrorCode::Forbidden`] (it names another identity), and then the old
    /// expiry stands.
    Refresh {
        /// The new token (a JWT signed like the one of the handshake).
        token: String,
    },
}

/// One message of a room's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// Its sequence number in the room.
    pub seq: Seq,
    /// The sender's nickname.
    pub from: String,
    /// The message.
    pub text: String,
    /// When the server accepted it, in milliseconds since the Unix epoch.
    pub ts: u64,
    /// The sender's idempotency key, if the `send` had one: lets a sender recognise its own
    /// message in a replay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// A room and how many members it has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomInfo {
    /// The room's name.
    pub name: String,
    /// How many connections are in it.
    pub members: usize,
}

/// What changed in a room's membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PresenceChange {
    /// `nick` joined.
    Join,
    /// `nick` left (or disconnected).
    Leave,
    /// `old_nick` is now called `nick`.
    Rename,
}

impl PresenceChange {
    /// Every change, in declaration order: for readers that map wire names back without
    /// serde (the browser client's codec).
    pub const ALL: [PresenceChange; 3] = [
        PresenceChange::Join,
        PresenceChange::Leave,
        PresenceChange::Rename,
    ];

    /// The change as it appears on the wire, e.g. `"join"`.
    pub fn as_str(self) -> &'static str {
        match self {
            PresenceChange::Join => "join",
            PresenceChange::Leave => "leave",
            PresenceChange::Rename => "rename",
        }
    }
}

/// What the server sends to a protocol client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerEnvelope {
    /// First envelope on every connection: the generated nickname and the limits.
    Welcome {
        /// The nickname the server gave this connection.
        nick: String,
        /// How many messages each room keeps for history and resume.
        history_limit: usize,
        /// Messages per second a connection may send, sustained.
        rate_limit: u32,
        /// Identifies the history this server holds: it changes when the history starts
        /// over (an in-memory server restarted), and then sequence numbers start again
        /// from 1, so a client must forget the ones it remembers.
        epoch: String,
        /// Messages a connection may send in a burst above `rate_limit` (0 from servers
        /// that do not say).
        #[serde(default)]
        rate_burst: u32,
        /// The longest `text` of a `send`, in bytes (0 from servers that do not say).
        #[serde(default)]
        max_text_bytes: usize,
        /// This connection's session: a secret that scopes its idempotency keys and line
        /// numbers. Present it with a `session` envelope after a reconnect; never share it.
        #[serde(default)]
        session: String,
    },
    /// The nickname is now `nick`.
    Nick {
        /// The nickname in force.
        nick: String,
    },
    /// The rooms and their member counts.
    Rooms {
        /// Every room, by name.
        rooms: Vec<RoomInfo>,
    },
    /// This connection joined `room`.
    Joined {
        /// The room.
        room: String,
        /// Its members' nicknames, this connection's included.
        members: Vec<String>,
        /// Its latest messages, oldest first.
        history: Vec<HistoryEntry>,
    },
    /// This connection left `room`.
    Left {
        /// The room.
        room: String,
    },
    /// Someone else joined, left or was renamed in `room`.
    Presence {
        /// The room.
        room: String,
        /// What happened.
        change: PresenceChange,
        /// Who (the new nickname, for a rename).
        nick: String,
        /// The former nickname, for a rename.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        old_nick: Option<String>,
    },
    /// A message in a joined room.
    Message {
        /// The room.
        room: String,
        /// Its sequence number in the room.
        seq: Seq,
        /// The sender's nickname.
        from: String,
        /// The message.
        text: String,
        /// When the server accepted it, in milliseconds since the Unix epoch.
        ts: u64,
        /// The sender's idempotency key, if its `send` had one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
    },
    /// The server accepted the client's `send` as message `seq` of `room`.
    Ack {
        /// The `id` of the `send`, if it had one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        /// The room.
        room: String,
        /// The message's sequence number.
        seq: Seq,
    },
    /// The replay asked for by `resume` is over.
    Resumed {
        /// The room.
        room: String,
        /// The room's latest sequence number.
        last_seq: Seq,
        /// `false` when messages after `after_seq` had already left the history: the
        /// replay starts later than asked.
        complete: bool,
    },
    /// Answer to a `ping`.
    Pong {
        /// The ping's `id`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
    },
    /// An application event from another member.
    Event {
        /// The room.
        room: String,
        /// The event's name.
        event: String,
        /// The sender's nickname.
        from: String,
        /// The payload, as the text the server wrote.
        data: JsonText,
    },
    /// The event sent with this `ack` number was delivered.
    EventAck {
        /// The `ack` number of the `emit`.
        ack: u64,
    },
    /// The connection's access token expires at `exp`: send a [`ClientEnvelope::Refresh`]
    /// before then, or the connection is closed with 4401. Sent once per token, a third of
    /// its remaining lifetime (at most 60 s) before it expires.
    TokenExpiring {
        /// When the token expires, in seconds since the Unix epoch.
        exp: u64,
    },
    /// A `refresh` was accepted: the connection now closes at `exp` (the new token's
    /// expiry), and the new token's room permissions apply.
    Refreshed {
        /// The new expiry, in seconds since the Unix epoch.
        exp: u64,
    },
    /// The client's envelope was refused; the connection goes on.
    Error {
        /// What kind of problem.
        code: ErrorCode,
        /// A human-readable explanation naming the problem.
        message: String,
        /// The `id` (or `ack`) of the refused envelope, when it had one.
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
    },
}

/// Why an envelope was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// Not JSON, or not a JSON object.
    InvalidJson,
    /// `type` names no envelope.
    UnknownType,
    /// A required field is missing.
    MissingField,
    /// A field has the wrong type or value.
    InvalidField,
    /// The room is not one this connection has joined.
    NotJoined,
    /// The nickname is in use by another connection.
    NickTaken,
    /// The nickname is empty, too long or has characters outside `A-Z a-z 0-9 _ - .`.
    InvalidNick,
    /// The room name is empty, too long or has characters outside `A-Z a-z 0-9 _ - .`.
    InvalidRoom,
    /// The server holds as many rooms as it may, or this connection joined as many as it may.
    TooManyRooms,
    /// The connection sends faster than its rate limit; the envelope was dropped.
    RateLimited,
    /// Binary frames carry nothing in this protocol.
    BinaryNotSupported,
    /// The server cannot accept this right now (its Redis backplane is unreachable);
    /// nothing was delivered. Retry later: a `send` with the same `id` is safe to repeat.
    Unavailable,
    /// A `send` whose `n` is not the session's next line number: nothing was delivered.
    /// Send again from the line the message names (every later line was refused too).
    OutOfOrder,
    /// A field is larger than its limit (a line's `text`, an event's `data`).
    TooLarge,
    /// The connection's token does not allow it: joining or posting to a room outside its
    /// permissions, or changing a nickname that comes from the token. Final: nothing was
    /// delivered.
    Forbidden,
    /// The token of a `refresh` is not valid (expired, malformed, signed with another key,
    /// unusable claims): the connection keeps its old expiry.
    Unauthorized,
}

impl ErrorCode {
    /// Every code, in declaration order: for readers that map wire names back to codes
    /// without serde (the browser client's codec).
    pub const ALL: [ErrorCode; 16] = [
        ErrorCode::InvalidJson,
        ErrorCode::UnknownType,
        ErrorCode::MissingField,
        ErrorCode::InvalidField,
        ErrorCode::NotJoined,
        ErrorCode::NickTaken,
        ErrorCode::InvalidNick,
        ErrorCode::InvalidRoom,
        ErrorCode::TooManyRooms,
        ErrorCode::RateLimited,
        ErrorCode::BinaryNotSupported,
        ErrorCode::Unavailable,
        ErrorCode::OutOfOrder,
        ErrorCode::TooLarge,
        ErrorCode::Forbidden,
        ErrorCode::Unauthorized,
    ];

    /// The code as it appears on the wire, e.g. `"invalid_json"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidJson => "invalid_json",
            ErrorCode::UnknownType => "unknown_type",
            ErrorCode::MissingField => "missing_field",
            ErrorCode::InvalidField => "invalid_field",
            ErrorCode::NotJoined => "not_joined",
            ErrorCode::NickTaken => "nick_taken",
            ErrorCode::InvalidNick => "invalid_nick",
            ErrorCode::InvalidRoom => "invalid_room",
            ErrorCode::TooManyRooms => "too_many_rooms",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::BinaryNotSupported => "binary_not_supported",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::OutOfOrder => "out_of_order",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::Unauthorized => "unauthorized",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refused envelope: what goes into [`ServerEnvelope::Error`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError {
    /// What kind of problem.
    pub code: ErrorCode,
    /// The explanation.
    pub message: String,
    /// The `id` or `ack` of the refused envelope, when it had one.
    pub reference: Option<String>,
}

impl ProtocolError {
    /// A new error without a reference.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ProtocolError {
            code,
            message: message.into(),
            reference: None,
        }
    }

    /// The error as the envelope the client receives.
    pub fn into_envelope(self) -> ServerEnvelope {
        ServerEnvelope::Error {
            code: self.code,
            message: self.message,
            reference: self.reference,
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ProtocolError {}

/// What a field of a client envelope must hold.
#[derive(Clone, Copy)]
enum FieldKind {
    Text,
    TextList,
    Number,
    Json,
}

impl FieldKind {
    fn accepts(self, value: &Value) -> bool {
        match self {
            FieldKind::Text => value.is_string(),
            FieldKind::TextList => value
                .as_array()
                .is_some_and(|items| items.iter().all(Value::is_string)),
            FieldKind::Number => value.is_u64(),
            FieldKind::Json => true,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            FieldKind::Text => "a string",
            FieldKind::TextList => "a list of strings",
            FieldKind::Number => "a whole number from 0",
            FieldKind::Json => "any JSON value",
        }
    }
}

/// A field's name, what it must hold, and whether it is required.
type Field = (&'static str, FieldKind, bool);

const REQUIRED: bool = true;
const OPTIONAL: bool = false;

/// Each client envelope type and its fields: the single table the parser checks against,
/// so that a bad field is named precisely (serde's own messages for tagged enums are not).
const CLIENT_TYPES: &[(&str, &[Field])] = &[
    ("nick", &[("nick", FieldKind::Text, REQUIRED)]),
    ("list_rooms", &[]),
    ("join", &[("rooms", FieldKind::TextList, REQUIRED)]),
    ("leave", &[("rooms", FieldKind::TextList, REQUIRED)]),
    (
        "send",
        &[
            ("room", FieldKind::Text, REQUIRED),
            ("text", FieldKind::Text, REQUIRED),
            ("id", FieldKind::Text, OPTIONAL),
            ("n", FieldKind::Number, OPTIONAL),
        ],
    ),
    (
        "session",
        &[
            ("token", FieldKind::Text, REQUIRED),
            ("next", FieldKind::Number, OPTIONAL),
        ],
    ),
    (
        "resume",
        &[
            ("room", FieldKind::Text, REQUIRED),
            ("after_seq", FieldKind::Number, REQUIRED),
            ("epoch", FieldKind::Text, OPTIONAL),
        ],
    ),
    ("ping", &[("id", FieldKind::Text, OPTIONAL)]),
    (
        "emit",
        &[
            ("room", FieldKind::Text, REQUIRED),
            ("event", FieldKind::Text, REQUIRED),
            ("data", FieldKind::Json, OPTIONAL),
            ("ack", FieldKind::Number, OPTIONAL),
        ],
    ),
    ("refresh", &[("token", FieldKind::Text, REQUIRED)]),
];

impl ClientEnvelope {
    /// Parses one text frame, naming the problem precisely when it is not a valid
    /// envelope.
    ///
    /// # Examples
    /// ```
    /// use ferrosocket_wire::chat::{ClientEnvelope, ErrorCode};
    ///
    /// let send = ClientEnvelope::parse(r#"{"type":"send","room":"lobby","text":"hi"}"#).unwrap();
    /// assert!(matches!(send, ClientEnvelope::Send { .. }));
    ///
    /// let err = ClientEnvelope::parse(r#"{"type":"send","room":"lobby","id":"7"}"#).unwrap_err();
    /// assert_eq!(err.code, ErrorCode::MissingField);
    /// assert_eq!(err.reference.as_deref(), Some("7"));
    /// assert!(err.message.contains("text"));
    /// ```
    pub fn parse(text: &str) -> Result<ClientEnvelope, ProtocolError> {
        let value: Value = serde_json::from_str(text).map_err(|err| {
            ProtocolError::new(ErrorCode::InvalidJson, format!("not valid JSON: {err}"))
        })?;
        let Value::Object(object) = &value else {
            return Err(ProtocolError::new(
                ErrorCode::InvalidJson,
                "an envelope must be a JSON object",
            ));
        };
        let reference = match object.get("id").or_else(|| object.get("ack")) {
            Some(Value::String(id)) => Some(id.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        let with_reference = |code, message: String| ProtocolError {
            code,
            message,
            reference: reference.clone(),
        };
        let kind = match object.get("type") {
            None => {
                return Err(with_reference(
                    ErrorCode::MissingField,
                    "missing field `type`".into(),
                ))
            }
            Some(Value::String(kind)) => kind,
            Some(_) => {
                return Err(with_reference(
                    ErrorCode::InvalidField,
                    "field `type` must be a string".into(),
                ))
            }
        };
        let Some((_, fields)) = CLIENT_TYPES.iter().find(|(name, _)| name == kind) else {
            let known: Vec<&str> = CLIENT_TYPES.iter().map(|(name, _)| *name).collect();
            return Err(with_reference(
                ErrorCode::UnknownType,
                format!(
                    "unknown envelope type {kind:?}; expected one of: {}",
                    known.join(", ")
                ),
            ));
        };
        for (field, field_kind, required) in *fields {
            match object.get(*field) {
                None | Some(Value::Null) if *required => {
                    return Err(with_reference(
                        ErrorCode::MissingField,
                        format!("missing field `{field}` in a `{kind}` envelope"),
                    ))
                }
                None | Some(Value::Null) => {}
                Some(value) if !field_kind.accepts(value) => {
                    return Err(with_reference(
                        ErrorCode::InvalidField,
                        format!(
                            "field `{field}` of a `{kind}` envelope must be {}",
                            field_kind.describe()
                        ),
                    ))
                }
                Some(_) => {}
            }
        }
        serde_json::from_value(value)
            .map_err(|err| with_reference(ErrorCode::InvalidField, err.to_string()))
    }
}

impl ServerEnvelope {
    /// The envelope as the JSON text sent on the wire.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("envelopes always serialise")
    }
}

/// Checks a nickname: 1 to `max_len` characters from `A-Z a-z 0-9 _ - .`.
///
/// # Examples
/// ```
/// use ferrosocket_wire::chat::validate_nick;
/// assert!(validate_nick("ada_l", 32).is_ok());
/// assert!(validate_nick("<script>", 32).is_err());
/// ```
pub fn validate_nick(nick: &str, max_len: usize) -> Result<(), ProtocolError> {
    validate_name(nick, max_len, "nickname", ErrorCode::InvalidNick)
}

/// Checks a room name: 1 to `max_len` characters from `A-Z a-z 0-9 _ - .`.
///
/// # Examples
/// ```
/// use ferrosocket_wire::chat::validate_room;
/// assert!(validate_room("rust-wasm", 64).is_ok());
/// assert!(validate_room("", 64).is_err());
/// ```
pub fn validate_room(room: &str, max_len: usize) -> Result<(), ProtocolError> {
    validate_name(room, max_len, "room name", ErrorCode::InvalidRoom)
}

fn validate_name(
    name: &str,
    max_len: usize,
    what: &str,
    code: ErrorCode,
) -> Result<(), ProtocolError> {
    if name.is_empty() {
        return Err(ProtocolError::new(code, format!("the {what} is empty")));
    }
    if name.chars().count() > max_len {
        return Err(ProtocolError::new(
            code,
            format!("the {what} {name:?} is longer than {max_len} characters"),
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return Err(ProtocolError::new(
            code,
            format!("the {what} {name:?} contains {bad:?}; use only A-Z a-z 0-9 _ - ."),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod error_code_tests {
    use super::ErrorCode;

    #[test]
    fn all_lists_every_error_code_once_and_each_reads_back_through_serde() {
        // Exhaustive: a new code does not compile until it has a place here — add it to
        // `ErrorCode::ALL` at that place too.
        fn place(code: ErrorCode) -> usize {
            match code {
                ErrorCode::InvalidJson => 0,
                ErrorCode::UnknownType => 1,
                ErrorCode::MissingField => 2,
                ErrorCode::InvalidField => 3,
                ErrorCode::NotJoined => 4,
                ErrorCode::NickTaken => 5,
                ErrorCode::InvalidNick => 6,
                ErrorCode::InvalidRoom => 7,
                ErrorCode::TooManyRooms => 8,
                ErrorCode::RateLimited => 9,
                ErrorCode::BinaryNotSupported => 10,
                ErrorCode::Unavailable => 11,
                ErrorCode::OutOfOrder => 12,
                ErrorCode::TooLarge => 13,
                ErrorCode::Forbidden => 14,
                ErrorCode::Unauthorized => 15,
            }
        }
        for (index, code) in ErrorCode::ALL.into_iter().enumerate() {
            assert_eq!(place(code), index, "{code:?}");
            let read: ErrorCode = serde_json::from_str(&format!("\"{code}\"")).unwrap();
            assert_eq!(read, code);
        }
        assert_eq!(place(ErrorCode::Unauthorized) + 1, ErrorCode::ALL.len());
    }

    #[test]
    fn all_lists_every_presence_change_once_and_each_reads_back_through_serde() {
        use super::PresenceChange;
        // Exhaustive, as above.
        fn place(change: PresenceChange) -> usize {
            match change {
                PresenceChange::Join => 0,
                PresenceChange::Leave => 1,
                PresenceChange::Rename => 2,
            }
        }
        for (index, change) in PresenceChange::ALL.into_iter().enumerate() {
            assert_eq!(place(change), index, "{change:?}");
            let read: PresenceChange =
                serde_json::from_str(&format!("\"{}\"", change.as_str())).unwrap();
            assert_eq!(read, change);
        }
        assert_eq!(place(PresenceChange::Rename) + 1, PresenceChange::ALL.len());
    }
}
