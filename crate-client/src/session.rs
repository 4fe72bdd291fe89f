//! [`ChatSession`]: the `chat.v1` protocol over a [`ResilientSocket`], delivering every
//! message to the application exactly once and in order across reconnects.
//!
//! How exactly-once works:
//! - **Incoming**: the session remembers the last sequence number it delivered per room.
//!   On reconnect it asks the server to `resume` each room after that number, and drops any
//!   message at or below it, so replays and overlaps never reach the application twice.
//! - **Outgoing**: every `send` carries an idempotency key (`id`, unique per session). The
//!   session keeps each message until the server acknowledges it, and after a reconnect
//!   re-sends the unacknowledged ones first; the server acknowledges a key it already holds
//!   with the original sequence number instead of delivering it again. A send the server
//!   refuses as `unavailable` (its Redis backplane is down) is kept and re-sent a second
//!   later, until it is accepted.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;
use std::time::Duration;

use gloo_timers::callback::Timeout;

use ferrosocket_wire::chat::{
    ClientEnvelope, ErrorCode, HistoryEntry, PresenceChange, RoomInfo, Seq, ServerEnvelope, LOBBY,
    SUBPROTOCOL,
};

use crate::error::OpenError;
use crate::message::Message;
use crate::resilient::{
    ConnectionState, Heartbeat, ResilientEvent, ResilientOptions, ResilientSocket, SendOutcome,
    Sender,
};

/// What a [`ChatSession`] reports to the application.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatEvent {
    /// The connection changed: open, reconnected, disconnected, reconnecting (attempt,
    /// delay), gave up, closed. Never [`ResilientEvent::Message`].
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
    /// A message from someone else, delivered once, in order.
    Message {
        /// The room.
        room: String,
        /// The message.
        entry: HistoryEntry,
    },
    /// The server accepted one of this session's messages.
    Sent {
        /// The key [`ChatSession::send`] returned.
        id: String,
        /// The room.
        room: String,
        /// Its sequence number.
        seq: Seq,
    },
    /// The rooms and their member counts (answer to [`ChatSession::list_rooms`]).
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

/// How a [`ChatSession`] connects.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChatOptions {
    /// The connection's behaviour. `protocols` is set to `chat.v1`, and a heartbeat
    /// (`{"type":"ping"}` every 15 s, dead after 10 s more) is added if none is given.
    pub connection: ResilientOptions,
    /// The nickname to ask for on every connection.
    pub nick: Option<String>,
}

#[derive(Debug, Clone)]
struct PendingSend {
    id: String,
    room: String,
    text: String,
}

#[derive(Debug, Default)]
struct SessionState {
    client_id: String,
    next_id: u64,
    wanted_nick: Option<String>,
    nick: String,
    /// Joined rooms and the last sequence number delivered in each.
    rooms: BTreeMap<String, Seq>,
    pending: VecDeque<PendingSend>,
    welcomed: bool,
    /// The server's history epoch seen last (see `ServerEnvelope::Welcome`).
    epoch: Option<String>,
    /// Pending re-send of messages the server could not accept (`unavailable`).
    resend: Option<Timeout>,
}

type Handler = Box<dyn FnMut(ChatEvent)>;

struct SessionShared {
    state: RefCell<SessionState>,
    handler: RefCell<Option<Handler>>,
}

/// A chat connection that survives reconnects with nothing lost and nothing duplicated.
///
/// # Examples
/// ```no_run
/// use ferrosocket::{ChatEvent, ChatOptions, ChatSession};
///
/// let chat = ChatSession::connect("/chat", ChatOptions { nick: Some("ada".into()), ..Default::default() })?;
/// chat.set_on_event(|event| {
///     if let ChatEvent::Message { room, entry } = event {
///         web_sys::console::log_1(&format!("[{room}] {}: {}", entry.from, entry.text).into());
///     }
/// });
/// chat.join("rust");
/// let (id, _outcome) = chat.send("rust", "hello"); // later: ChatEvent::Sent { id, .. }
/// # Ok::<(), ferrosocket::OpenError>(())
/// ```
pub struct ChatSession {
    shared: Rc<SessionShared>,
    socket: ResilientSocket,
}

impl std::fmt::Debug for ChatSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatSession")
            .field("socket", &self.socket)
            .field("state", &self.shared.state.borrow())
            .finish()
    }
}

fn random_id() -> String {
    let high = (js_sys::Math::random() * f64::from(u32::MAX)) as u32;
    let low = (js_sys::Math::random() * f64::from(u32::MAX)) as u32;
    format!("{high:08x}{low:08x}")
}

fn envelope(envelope: &ClientEnvelope) -> Message {
    Message::Text(serde_json::to_string(envelope).expect("envelopes always serialise"))
}

impl ChatSession {
    /// Connects to the chat endpoint at `url` (e.g. `/chat`) with the `chat.v1` protocol.
    pub fn connect(url: &str, options: ChatOptions) -> Result<ChatSession, OpenError> {
        let mut connection = options.connection;
        connection.protocols = vec![SUBPROTOCOL.to_owned()];
        connection.heartbeat.get_or_insert_with(|| Heartbeat {
            interval: Duration::from_secs(15),
            timeout: Duration::from_secs(10),
            ping: envelope(&ClientEnvelope::Ping { id: None }),
        });
        let socket = ResilientSocket::open(url, connection)?;
        let shared = Rc::new(SessionShared {
            state: RefCell::new(SessionState {
                client_id: random_id(),
                wanted_nick: options.nick,
                ..SessionState::default()
            }),
            handler: RefCell::new(None),
        });
        let weak = Rc::downgrade(&shared);
        let sender = socket.sender();
        socket.set_on_event(move |event| {
            if let Some(shared) = weak.upgrade() {
                on_socket_event(&shared, &sender, event);
            }
        });
        Ok(ChatSession { shared, socket })
    }

    /// Sets the handler that receives every [`ChatEvent`], replacing any previous one.
    pub fn set_on_event(&self, handler: impl FnMut(ChatEvent) + 'static) {
        *self.shared.handler.borrow_mut() = Some(Box::new(handler));
    }

    /// Joins `room` (and keeps it joined across reconnects).
    pub fn join(&self, room: &str) -> SendOutcome {
        self.shared
            .state
            .borrow_mut()
            .rooms
            .entry(room.to_owned())
            .or_insert(0);
        self.socket.send(envelope(&ClientEnvelope::Join {
            rooms: vec![room.to_owned()],
        }))
    }

    /// Leaves `room`.
    pub fn leave(&self, room: &str) -> SendOutcome {
        self.shared.state.borrow_mut().rooms.remove(room);
        self.socket.send(envelope(&ClientEnvelope::Leave {
            rooms: vec![room.to_owned()],
        }))
    }

    /// Asks for `nick` now and on every later connection.
    pub fn set_nick(&self, nick: &str) -> SendOutcome {
        self.shared.state.borrow_mut().wanted_nick = Some(nick.to_owned());
        self.socket.send(envelope(&ClientEnvelope::Nick {
            nick: nick.to_owned(),
        }))
    }

    /// Asks for the list of rooms; a [`ChatEvent::Rooms`] follows.
    pub fn list_rooms(&self) -> SendOutcome {
        self.socket.send(envelope(&ClientEnvelope::ListRooms))
    }

    /// Sends `text` to `room`. Returns the message's key — [`ChatEvent::Sent`] with the
    /// same key confirms it — and what the connection did with it. Unless rejected, the
    /// message is delivered exactly once, even across reconnects.
    pub fn send(&self, room: &str, text: &str) -> (String, SendOutcome) {
        let id = {
            let mut state = self.shared.state.borrow_mut();
            state.next_id += 1;
            let id = format!("{}-{}", state.client_id, state.next_id);
            state.pending.push_back(PendingSend {
                id: id.clone(),
                room: room.to_owned(),
                text: text.to_owned(),
            });
            id
        };
        let outcome = self.socket.send(envelope(&ClientEnvelope::Send {
            room: room.to_owned(),
            text: text.to_owned(),
            id: Some(id.clone()),
            n: None,
        }));
        if outcome == SendOutcome::Rejected {
            self.shared
                .state
                .borrow_mut()
                .pending
                .retain(|p| p.id != id);
        }
        (id, outcome)
    }

    /// Sends the application event `event` with a JSON `data` payload (as text) to `room`.
    pub fn emit(
        &self,
        room: &str,
        event: &str,
        data: &str,
    ) -> Result<SendOutcome, serde_json::Error> {
        let data = serde_json::from_str(data)?;
        Ok(self.socket.send(envelope(&ClientEnvelope::Emit {
            room: room.to_owned(),
            event: event.to_owned(),
            data,
            ack: None,
        })))
    }

    /// Messages sent but not yet acknowledged by the server.
    pub fn unacknowledged(&self) -> usize {
        self.shared.state.borrow().pending.len()
    }

    /// The last sequence number delivered in `room`, if joined.
    pub fn last_seq(&self, room: &str) -> Option<Seq> {
        self.shared.state.borrow().rooms.get(room).copied()
    }

    /// The nickname in force.
    pub fn nick(&self) -> String {
        self.shared.state.borrow().nick.clone()
    }

    /// The connection's state.
    pub fn state(&self) -> ConnectionState {
        self.socket.state()
    }

    /// The underlying connection, for `flushed`, `retry_now`, `close`...
    pub fn connection(&self) -> &ResilientSocket {
        &self.socket
    }
}

fn emit_event(shared: &Rc<SessionShared>, event: ChatEvent) {
    let taken = shared.handler.borrow_mut().take();
    if let Some(mut handler) = taken {
        handler(event);
        let mut slot = shared.handler.borrow_mut();
        if slot.is_none() {
            *slot = Some(handler);
        }
    }
}

fn on_socket_event(shared: &Rc<SessionShared>, sender: &Sender, event: ResilientEvent) {
    match event {
        ResilientEvent::Message(Message::Text(text)) => {
            match serde_json::from_str::<ServerEnvelope>(&text) {
                Ok(envelope) => on_envelope(shared, sender, envelope),
                Err(err) => emit_event(
                    shared,
                    ChatEvent::Error {
                        code: ErrorCode::InvalidJson,
                        message: format!(
                            "the server sent something that is not an envelope: {err}"
                        ),
                        reference: None,
                    },
                ),
            }
        }
        ResilientEvent::Message(Message::Binary(_)) => {}
        ResilientEvent::Reconnected { .. } => {
            // Sent from the reconnect handler: these go out before the offline queue.
            let (nick, rooms, pending, epoch) = {
                let state = shared.state.borrow();
                (
                    state.wanted_nick.clone(),
                    state.rooms.clone(),
                    state.pending.clone(),
                    state.epoch.clone(),
                )
            };
            if let Some(nick) = nick {
                sender.send(envelope(&ClientEnvelope::Nick { nick }));
            }
            if !rooms.contains_key(LOBBY) {
                sender.send(envelope(&ClientEnvelope::Leave {
                    rooms: vec![LOBBY.to_owned()],
                }));
            }
            for (room, after_seq) in rooms {
                sender.send(envelope(&ClientEnvelope::Resume {
                    room,
                    after_seq,
                    epoch: epoch.clone(),
                }));
            }
            for pending in pending {
                sender.send(envelope(&ClientEnvelope::Send {
                    room: pending.room,
                    text: pending.text,
                    id: Some(pending.id),
                    n: None,
                }));
            }
            emit_event(shared, ChatEvent::Connection(event));
        }
        ResilientEvent::Open => {
            let nick = shared.state.borrow().wanted_nick.clone();
            if let Some(nick) = nick {
                sender.send(envelope(&ClientEnvelope::Nick { nick }));
            }
            emit_event(shared, ChatEvent::Connection(event));
        }
        other => emit_event(shared, ChatEvent::Connection(other)),
    }
}

/// Delivers `entry` of `room` unless already delivered; a message carrying one of this
/// session's own keys confirms that send instead.
fn deliver(shared: &Rc<SessionShared>, room: String, entry: HistoryEntry) -> Option<ChatEvent> {
    let mut state = shared.state.borrow_mut();
    let last = state.rooms.get_mut(&room)?;
    if entry.seq <= *last {
        return None;
    }
    *last = entry.seq;
    if let Some(id) = &entry.id {
        if let Some(index) = state.pending.iter().position(|p| &p.id == id) {
            state.pending.remove(index);
            return Some(ChatEvent::Sent {
                id: id.clone(),
                room,
                seq: entry.seq,
            });
        }
    }
    Some(ChatEvent::Message { room, entry })
}

/// Confirms a pending send; a repeated ack (for a send re-sent after a reconnect) is
/// ignored.
fn acknowledge(
    shared: &Rc<SessionShared>,
    id: Option<String>,
    room: String,
    seq: Seq,
) -> Option<ChatEvent> {
    let mut state = shared.state.borrow_mut();
    let id = id?;
    let index = state.pending.iter().position(|p| p.id == id)?;
    state.pending.remove(index);
    if let Some(last) = state.rooms.get_mut(&room) {
        // Our own message counts as seen: a resume must not replay it.
        *last = (*last).max(seq);
    }
    Some(ChatEvent::Sent { id, room, seq })
}

/// How long to wait before re-sending messages the server could not accept.
const RESEND_DELAY_MS: u32 = 1_000;

/// Re-sends every unacknowledged message after [`RESEND_DELAY_MS`] (once, however many
/// refusals arrive meanwhile).
fn schedule_resend(shared: &Rc<SessionShared>, sender: &Sender) {
    if shared.state.borrow().resend.is_some() {
        return;
    }
    let weak = Rc::downgrade(shared);
    let sender = sender.clone();
    let timer = Timeout::new(RESEND_DELAY_MS, move || {
        let Some(shared) = weak.upgrade() else { return };
        let pending = {
            let mut state = shared.state.borrow_mut();
            state.resend = None;
            state.pending.clone()
        };
        for pending in pending {
            sender.send(envelope(&ClientEnvelope::Send {
                room: pending.room,
                text: pending.text,
                id: Some(pending.id),
                n: None,
            }));
        }
    });
    shared.state.borrow_mut().resend = Some(timer);
}

fn on_envelope(shared: &Rc<SessionShared>, sender: &Sender, envelope: ServerEnvelope) {
    let event = match envelope {
        ServerEnvelope::Welcome { nick, epoch, .. } => {
            let mut state = shared.state.borrow_mut();
            state.nick = nick.clone();
            if state.epoch.as_ref().is_some_and(|known| *known != epoch) {
                // The server's history started over: its sequence numbers restart at 1.
                for last in state.rooms.values_mut() {
                    *last = 0;
                }
            }
            state.epoch = Some(epoch);
            if !state.welcomed {
                // First connection: the server put us in the lobby.
                state.welcomed = true;
                state.rooms.entry(LOBBY.to_owned()).or_insert(0);
            }
            Some(ChatEvent::Welcome { nick })
        }
        ServerEnvelope::Nick { nick } => {
            shared.state.borrow_mut().nick = nick.clone();
            Some(ChatEvent::Nick { nick })
        }
        ServerEnvelope::Joined {
            room,
            members,
            history,
        } => {
            let known = shared.state.borrow().rooms.contains_key(&room);
            if !known {
                None
            } else {
                let mut fresh = Vec::new();
                for entry in history {
                    match deliver(shared, room.clone(), entry) {
                        Some(ChatEvent::Message { entry, .. }) => fresh.push(entry),
                        Some(sent) => emit_event(shared, sent),
                        None => {}
                    }
                }
                Some(ChatEvent::Joined {
                    room,
                    members,
                    history: fresh,
                })
            }
        }
        ServerEnvelope::Left { room } => Some(ChatEvent::Left { room }),
        ServerEnvelope::Presence {
            room,
            change,
            nick,
            old_nick,
        } => Some(ChatEvent::Presence {
            room,
            change,
            nick,
            old_nick,
        }),
        ServerEnvelope::Message {
            room,
            seq,
            from,
            text,
            ts,
            id,
        } => deliver(
            shared,
            room,
            HistoryEntry {
                seq,
                from,
                text,
                ts,
                id,
            },
        ),
        ServerEnvelope::Ack { id, room, seq } => acknowledge(shared, id, room, seq),
        ServerEnvelope::Resumed { .. }
        | ServerEnvelope::Pong { .. }
        | ServerEnvelope::EventAck { .. } => None,
        ServerEnvelope::Rooms { rooms } => Some(ChatEvent::Rooms(rooms)),
        ServerEnvelope::Event {
            room,
            event,
            from,
            data,
        } => Some(ChatEvent::Event {
            room,
            event,
            from,
            data: data.to_string(),
        }),
        ServerEnvelope::Error {
            code: ErrorCode::Unavailable,
            message,
            reference,
        } => {
            // Not accepted, not lost: keep it and send it again (the key makes that safe).
            schedule_resend(shared, sender);
            Some(ChatEvent::Error {
                code: ErrorCode::Unavailable,
                message,
                reference,
            })
        }
        ServerEnvelope::Error {
            code,
            message,
            reference,
        } => {
            if let Some(reference) = &reference {
                shared
                    .state
                    .borrow_mut()
                    .pending
                    .retain(|p| &p.id != reference);
            }
            Some(ChatEvent::Error {
                code,
                message,
                reference,
            })
        }
    };
    if let Some(event) = event {
        emit_event(shared, event);
    }
}
