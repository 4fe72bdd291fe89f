//! [`Hub`]: the rooms, their members and history, and fan-out to members' outboxes.
//!
//! One mutex guards the whole state and is never held across an `.await`: every operation
//! is a short synchronous update followed by non-blocking pushes into bounded outboxes. A
//! message broadcast to a room is encoded once per wire format (JSON, plain text) and the
//! encoded bytes are shared by every recipient.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use ferrosocket_wire::chat::{
    validate_nick, validate_room, ErrorCode, HistoryEntry, PresenceChange, ProtocolError, RoomInfo,
    Seq, ServerEnvelope,
};
use serde_json::Value;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use crate::backplane::{presence_envelope, BackplaneError, PresenceUpdate, RedisBackplane};
use crate::config::Config;
use crate::metrics::Metrics;
use crate::outbox::Outbox;

/// Identifies one connection in the hub.
pub type ConnId = u64;

/// Which wire format a member speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Plain text: receives `name: text` lines from the lobby, sees its own messages.
    Plain,
    /// The JSON protocol (`chat.v1`).
    Json,
}

#[derive(Debug)]
struct Member {
    nick: String,
    dialect: Dialect,
    outbox: Outbox,
    rooms: BTreeSet<String>,
    /// Rooms whose `joined` (or replay) is being prepared from Redis: what arrives for
    /// them meanwhile waits here, with its sequence number (0 for notices), so that it
    /// follows the answer instead of overtaking it.
    joining: std::cell::RefCell<HashMap<String, Vec<(Seq, Message)>>>,
}

#[derive(Debug)]
struct StoredMessage {
    /// The message; its `id` (the sender's idempotency key) lets a repeated `send` be
    /// acknowledged without being delivered twice.
    entry: HistoryEntry,
}

#[derive(Debug, Default)]
struct Room {
    members: BTreeSet<ConnId>,
    history: VecDeque<StoredMessage>,
    last_seq: Seq,
}

#[derive(Debug, Default)]
struct HubState {
    members: HashMap<ConnId, Member>,
    nicks: HashMap<String, ConnId>,
    rooms: HashMap<String, Room>,
    next_id: ConnId,
}

/// The chat rooms of one server.
#[derive(Debug)]
pub struct Hub {
    state: Mutex<HubState>,
    epoch: String,
    backplane: Option<Arc<RedisBackplane>>,
    limits: HubLimits,
    metrics: Arc<Metrics>,
}

#[derive(Debug, Clone)]
struct HubLimits {
    history: usize,
    max_nick_len: usize,
    max_room_len: usize,
    max_rooms: usize,
    max_rooms_per_connection: usize,
}

/// What a client sees when it joins a room.
#[derive(Debug)]
pub struct Joined {
    /// The members' nicknames, the joiner's included.
    pub members: Vec<String>,
    /// The room's latest messages, oldest first.
    pub history: Vec<HistoryEntry>,
}

/// The result of a `send`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    /// The message's sequence number in its room.
    pub seq: Seq,
    /// Whether this was a repeat of an earlier `send` with the same `id`.
    pub duplicate: bool,
}

/// Messages to replay for a `resume`.
#[derive(Debug)]
pub struct Replay {
    /// The missed messages, oldest first.
    pub missed: Vec<HistoryEntry>,
    /// The room's latest sequence number.
    pub last_seq: Seq,
    /// Whether the history still held everything after the requested sequence number.
    pub complete: bool,
}

/// A 16-hex-digit id that differs from one server run (or server) to the next: the
/// start time, a stack address and the process id mixed together. Not a secret.
pub(crate) fn new_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let stack = &nanos as *const u128 as usize as u128;
    format!(
        "{:016x}",
        (nanos ^ (stack << 21) ^ (u128::from(std::process::id()) << 40)) as u64
    )
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn not_joined(room: &str) -> ProtocolError {
    ProtocolError::new(
        ErrorCode::NotJoined,
        format!("you are not in room {room:?}: join it first"),
    )
}

/// Encodes an envelope once, for sharing among recipients.
fn encode(envelope: &ServerEnvelope) -> Message {
    Message::Text(Utf8Bytes::from(envelope.to_json()))
}

impl Hub {
    /// An empty hub with the configuration's limits; with a backplane, rooms are shared
    /// with every server on the same Redis.
    pub fn new(
        config: &Config,
        metrics: Arc<Metrics>,
        backplane: Option<Arc<RedisBackplane>>,
    ) -> Hub {
        Hub {
            state: Mutex::new(HubState::default()),
            epoch: backplane
                .as_ref()
                .map_or_else(new_id, |backplane| backplane.epoch().to_owned()),
            backplane,
            limits: HubLimits {
                history: config.history,
                max_nick_len: config.max_nick_len,
                max_room_len: config.max_room_len,
                max_rooms: config.max_rooms,
                max_rooms_per_connection: config.max_rooms_per_connection,
            },
            metrics,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HubState> {
        self.state.lock().expect("hub lock")
    }

    /// Identifies this hub's history; a restarted in-memory server has a new one.
    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    /// The Redis backplane, when the server runs with one.
    pub fn backplane(&self) -> Option<&Arc<RedisBackplane>> {
        self.backplane.as_ref()
    }

    fn announce(&self, update: PresenceUpdate) {
        if let Some(backplane) = &self.backplane {
            backplane.presence(update);
        }
    }

    /// The number of messages each room keeps.
    pub fn history_limit(&self) -> usize {
        self.limits.history
    }

    /// Registers a connection under a generated nickname (`guest-N`).
    pub fn connect(&self, dialect: Dialect, outbox: Outbox) -> (ConnId, String) {
        let mut state = self.lock();
        state.next_id += 1;
        let id = state.next_id;
        let mut n = id;
        let nick = loop {
            let candidate = format!("guest-{n}");
            if !state.nicks.contains_key(&candidate) {
                break candidate;
            }
            n += 1000;
        };
        state.nicks.insert(nick.clone(), id);
        state.members.insert(
            id,
            Member {
                nick: nick.clone(),
                dialect,
                outbox,
                rooms: BTreeSet::new(),
                joining: Default::default(),
            },
        );
        (id, nick)
    }

    /// The nickname of connection `id`.
    pub fn nick_of(&self, id: ConnId) -> String {
        self.lock().members[&id].nick.clone()
    }

    /// Removes a connection: it leaves every room (members are told) and frees its nick.
    pub fn disconnect(&self, id: ConnId) {
        let mut state = self.lock();
        let Some(member) = state.members.get(&id) else {
            return;
        };
        let rooms: Vec<String> = member.rooms.iter().cloned().collect();
        for room in rooms {
            self.leave_room(&mut state, id, &room);
        }
        if let Some(member) = state.members.remove(&id) {
            state.nicks.remove(&member.nick);
        }
        self.metrics.set_rooms(state.rooms.len());
    }

    /// Changes a connection's nickname; every room it is in is told.
    pub fn set_nick(&self, id: ConnId, nick: &str) -> Result<String, ProtocolError> {
        validate_nick(nick, self.limits.max_nick_len)?;
        let mut state = self.lock();
        match state.nicks.get(nick) {
            Some(owner) if *owner == id => return Ok(nick.to_owned()),
            Some(_) => {
                return Err(ProtocolError::new(
                    ErrorCode::NickTaken,
                    format!("the nickname {nick:?} is taken"),
                ))
            }
            None => {}
        }
        let member = state.members.get_mut(&id).expect("connected");
        let old = std::mem::replace(&mut member.nick, nick.to_owned());
        let rooms: Vec<String> = member.rooms.iter().cloned().collect();
        state.nicks.remove(&old);
        state.nicks.insert(nick.to_owned(), id);
        for room in rooms {
            let notice = presence_envelope(&room, PresenceChange::Rename, nick, Some(&old));
            broadcast_json(&state, &room, Some(id), &notice);
            self.announce(PresenceUpdate::Set {
                room: room.clone(),
                conn: id,
                nick: nick.to_owned(),
            });
            self.announce(PresenceUpdate::Announce {
                room,
                conn: id,
                envelope: notice,
            });
        }
        Ok(nick.to_owned())
    }

    /// Every room with its member count, by name.
    pub fn rooms(&self) -> Vec<RoomInfo> {
        let state = self.lock();
        let mut rooms: Vec<RoomInfo> = state
            .rooms
            .iter()
            .map(|(name, room)| RoomInfo {
                name: name.clone(),
                members: room.members.len(),
            })
            .collect();
        rooms.sort_by(|a, b| a.name.cmp(&b.name));
        rooms
    }

    /// Joins `room` (creating it), telling its other members; joining a room twice is
    /// harmless and returns the same view.
    pub fn join(&self, id: ConnId, room: &str) -> Result<Joined, ProtocolError> {
        validate_room(room, self.limits.max_room_len)?;
        let mut state = self.lock();
        let member = state.members.get(&id).expect("connected");
        let already = member.rooms.contains(room);
        if !already && member.rooms.len() >= self.limits.max_rooms_per_connection {
            return Err(ProtocolError::new(
                ErrorCode::TooManyRooms,
                format!(
                    "you are in {} rooms already, the most a connection may join",
                    self.limits.max_rooms_per_connection
                ),
            ));
        }
        if !state.rooms.contains_key(room) && state.rooms.len() >= self.limits.max_rooms {
            return Err(ProtocolError::new(
                ErrorCode::TooManyRooms,
                "the server holds as many rooms as it may; join an existing one",
            ));
        }
        if !already {
            let nick = member.nick.clone();
            state
                .rooms
                .entry(room.to_owned())
                .or_default()
                .members
                .insert(id);
            state
                .members
                .get_mut(&id)
                .expect("connected")
                .rooms
                .insert(room.to_owned());
            let notice = presence_envelope(room, PresenceChange::Join, &nick, None);
            broadcast_json(&state, room, Some(id), &notice);
            self.metrics.set_rooms(state.rooms.len());
            self.announce(PresenceUpdate::Set {
                room: room.to_owned(),
                conn: id,
                nick,
            });
            self.announce(PresenceUpdate::Announce {
                room: room.to_owned(),
                conn: id,
                envelope: notice,
            });
        }
        let room_state = &state.rooms[room];
        Ok(Joined {
            members: room_state
                .members
                .iter()
                .map(|member| state.members[member].nick.clone())
                .collect(),
            history: room_state.history.iter().map(|m| m.entry.clone()).collect(),
        })
    }

    /// Leaves `room`, telling its other members.
    pub fn leave(&self, id: ConnId, room: &str) -> Result<(), ProtocolError> {
        let mut state = self.lock();
        if !state.members[&id].rooms.contains(room) {
            return Err(not_joined(room));
        }
        self.leave_room(&mut state, id, room);
        Ok(())
    }

    /// Accepts `text` from `id` into `room` and delivers it: to every other JSON member as
    /// a `message` envelope, to every plain member (the sender included) as `nick: text`.
    pub fn send(
        &self,
        id: ConnId,
        room: &str,
        text: &str,
        message_id: Option<&str>,
    ) -> Result<Accepted, ProtocolError> {
        let mut state = self.lock();
        let member = &state.members[&id];
        if !member.rooms.contains(room) {
            return Err(not_joined(room));
        }
        let from = member.nick.clone();
        let room_state = state.rooms.get_mut(room).expect("joined rooms exist");
        if let Some(key) = message_id {
            // Keys are chosen by clients to be unique (see the protocol docs), so a client
            // that reconnects and re-sends its queue is recognised on any connection.
            let repeat = room_state
                .history
                .iter()
                .find(|m| m.entry.id.as_deref() == Some(key));
            if let Some(earlier) = repeat {
                return Ok(Accepted {
                    seq: earlier.entry.seq,
                    duplicate: true,
                });
            }
        }
        room_state.last_seq += 1;
        let entry = HistoryEntry {
            seq: room_state.last_seq,
            from,
            text: text.to_owned(),
            ts: now_ms(),
            id: message_id.map(str::to_owned),
        };
        if self.limits.history > 0 {
            if room_state.history.len() == self.limits.history {
                room_state.history.pop_front();
            }
            room_state.history.push_back(StoredMessage {
                entry: entry.clone(),
            });
        }
        let seq = entry.seq;
        deliver_message(&state, room, Some(id), &entry);
        Ok(Accepted {
            seq,
            duplicate: false,
        })
    }

    /// What `id` missed in `room` after `after_seq`; joins the room first if needed
    /// (without the history dump of a plain join).
    pub fn resume(&self, id: ConnId, room: &str, after_seq: Seq) -> Result<Replay, ProtocolError> {
        if !self.lock().members[&id].rooms.contains(room) {
            self.join(id, room)?;
        }
        let state = self.lock();
        let room_state = &state.rooms[room];
        let missed: Vec<HistoryEntry> = room_state
            .history
            .iter()
            .filter(|m| m.entry.seq > after_seq)
            .map(|m| m.entry.clone())
            .collect();
        let first_kept = room_state
            .history
            .front()
            .map_or(room_state.last_seq + 1, |m| m.entry.seq);
        Ok(Replay {
            missed,
            last_seq: room_state.last_seq,
            complete: after_seq + 1 >= first_kept || after_seq >= room_state.last_seq,
        })
    }

    /// Delivers an application event to the other JSON members of `room`.
    pub fn emit(
        &self,
        id: ConnId,
        room: &str,
        event: &str,
        data: Value,
    ) -> Result<(), ProtocolError> {
        let state = self.lock();
        let member = &state.members[&id];
        if !member.rooms.contains(room) {
            return Err(not_joined(room));
        }
        let envelope = ServerEnvelope::Event {
            room: room.to_owned(),
            event: event.to_owned(),
            from: member.nick.clone(),
            data,
        };
        broadcast_json(&state, room, Some(id), &envelope);
        self.announce(PresenceUpdate::Announce {
            room: room.to_owned(),
            conn: id,
            envelope,
        });
        Ok(())
    }
}

impl Hub {
    fn leave_room(&self, state: &mut HubState, id: ConnId, room: &str) {
        let nick = match state.members.get_mut(&id) {
            Some(member) => {
                member.rooms.remove(room);
                member.nick.clone()
            }
            None => return,
        };
        if let Some(room_state) = state.rooms.get_mut(room) {
            room_state.members.remove(&id);
        }
        let notice = presence_envelope(room, PresenceChange::Leave, &nick, None);
        broadcast_json(state, room, Some(id), &notice);
        self.announce(PresenceUpdate::Remove {
            room: room.to_owned(),
            conn: id,
        });
        self.announce(PresenceUpdate::Announce {
            room: room.to_owned(),
            conn: id,
            envelope: notice,
        });
    }

    /// Checks that `id` may send to `room` and returns its nickname.
    pub fn sender_in(&self, id: ConnId, room: &str) -> Result<String, ProtocolError> {
        let state = self.lock();
        let member = &state.members[&id];
        if member.rooms.contains(room) {
            Ok(member.nick.clone())
        } else {
            Err(not_joined(room))
        }
    }

    /// Sends through the backplane: numbered and stored by Redis, delivered to every
    /// server's members (this one's included) when it comes back on the subscription.
    pub async fn send_replicated(
        &self,
        backplane: &RedisBackplane,
        id: ConnId,
        room: &str,
        text: &str,
        message_id: Option<&str>,
    ) -> Result<Accepted, ProtocolError> {
        let from = self.sender_in(id, room)?;
        backplane
            .publish_message(room, id, &from, text, now_ms(), message_id)
            .await
            .map(|numbered| Accepted {
                seq: numbered.seq,
                duplicate: numbered.duplicate,
            })
            .map_err(|_| unavailable_error())
    }

    /// Delivers a message that came through the backplane to this server's members of
    /// `room`: JSON members but the sender (if it is here), plain members all. Sequence
    /// numbers already delivered are skipped, so a re-synchronisation may overlap.
    pub fn deliver(&self, room: &str, entry: HistoryEntry, sender: Option<ConnId>) {
        let mut state = self.lock();
        let Some(room_state) = state.rooms.get_mut(room) else {
            return;
        };
        if entry.seq <= room_state.last_seq {
            return;
        }
        room_state.last_seq = entry.seq;
        deliver_message(&state, room, sender, &entry);
    }

    /// Delivers a notice (presence, event) from another server to this server's JSON
    /// members of `room`.
    pub fn deliver_notice(&self, room: &str, envelope: &ServerEnvelope) {
        broadcast_json(&self.lock(), room, None, envelope);
    }

    /// Holds what arrives for `id` in `room` until [`Hub::finish_join`]: used while the
    /// answer to a join or resume is read from Redis.
    pub fn hold(&self, id: ConnId, room: &str) {
        if let Some(member) = self.lock().members.get(&id) {
            member
                .joining
                .borrow_mut()
                .insert(room.to_owned(), Vec::new());
        }
    }

    /// Sends `answer` to `id`, then what was held for `room` that `answer` did not already
    /// cover (messages numbered after `covered`, and every notice).
    pub fn finish_join(&self, id: ConnId, room: &str, covered: Seq, answer: Vec<Message>) {
        let state = self.lock();
        let Some(member) = state.members.get(&id) else {
            return;
        };
        let held = member.joining.borrow_mut().remove(room).unwrap_or_default();
        for message in answer {
            let _ = member.outbox.push(message);
        }
        for (seq, message) in held {
            if seq == 0 || seq > covered {
                let _ = member.outbox.push(message);
            }
        }
    }

    /// Raises the last sequence number delivered in `room` (known from Redis on join).
    pub fn note_seq(&self, room: &str, seq: Seq) {
        if let Some(room_state) = self.lock().rooms.get_mut(room) {
            room_state.last_seq = room_state.last_seq.max(seq);
        }
    }

    /// After (re)connecting to Redis: re-registers this server's members and delivers,
    /// room by room, what was published while the subscription was down.
    pub async fn resynchronise(&self, backplane: &RedisBackplane) {
        /// A room with local members: its name, last delivered number, members.
        type LocalRoom = (String, Seq, Vec<(ConnId, String)>);
        let rooms: Vec<LocalRoom> = {
            let state = self.lock();
            state
                .rooms
                .iter()
                .filter(|(_, room)| !room.members.is_empty())
                .map(|(name, room)| {
                    let members = room
                        .members
                        .iter()
                        .map(|id| (*id, state.members[id].nick.clone()))
                        .collect();
                    (name.clone(), room.last_seq, members)
                })
                .collect()
        };
        for (room, after, members) in rooms {
            for (conn, nick) in members {
                backplane.presence(PresenceUpdate::Set {
                    room: room.clone(),
                    conn,
                    nick,
                });
            }
            match backplane.range(&room, after).await {
                Ok(missed) => {
                    for entry in missed {
                        self.deliver(&room, entry, None);
                    }
                }
                Err(err) => tracing::warn!(%err, %room, "could not re-synchronise a room"),
            }
        }
    }
}

/// The error for a send the backplane could not take.
pub(crate) fn unavailable_error() -> ProtocolError {
    ProtocolError::new(
        ErrorCode::Unavailable,
        "the chat backplane (Redis) is unreachable: the message was not accepted; retry later",
    )
}

/// Maps a backplane failure to the error clients see.
pub(crate) fn backplane_error(_: BackplaneError) -> ProtocolError {
    unavailable_error()
}

/// Sends `envelope`, encoded once, to every JSON member of `room` but `except`.
fn broadcast_json(state: &HubState, room: &str, except: Option<ConnId>, envelope: &ServerEnvelope) {
    let Some(room_state) = state.rooms.get(room) else {
        return;
    };
    let mut encoded: Option<Message> = None;
    for member_id in &room_state.members {
        if Some(*member_id) == except {
            continue;
        }
        let member = &state.members[member_id];
        if member.dialect == Dialect::Json {
            let message = encoded.get_or_insert_with(|| encode(envelope)).clone();
            push(member, room, 0, message);
        }
    }
}

/// Delivers a chat line: JSON members but the sender get a `message` envelope, plain
/// members (the sender too) get `nick: text`. Each format is encoded once.
fn deliver_message(state: &HubState, room: &str, sender: Option<ConnId>, entry: &HistoryEntry) {
    let room_state = &state.rooms[room];
    let mut json: Option<Message> = None;
    let mut plain: Option<Message> = None;
    for member_id in &room_state.members {
        let member = &state.members[member_id];
        let message = match member.dialect {
            Dialect::Json if Some(*member_id) == sender => continue,
            Dialect::Json => json
                .get_or_insert_with(|| {
                    encode(&ServerEnvelope::Message {
                        room: room.to_owned(),
                        seq: entry.seq,
                        from: entry.from.clone(),
                        text: entry.text.clone(),
                        ts: entry.ts,
                        id: entry.id.clone(),
                    })
                })
                .clone(),
            Dialect::Plain => plain
                .get_or_insert_with(|| {
                    Message::Text(Utf8Bytes::from(format!("{}: {}", entry.from, entry.text)))
                })
                .clone(),
        };
        push(member, room, entry.seq, message);
    }
}

fn push(member: &Member, room: &str, seq: Seq, message: Message) {
    if let Some(waiting) = member.joining.borrow_mut().get_mut(room) {
        waiting.push((seq, message));
        return;
    }
    // An overflow closes the member as a slow consumer; the connection logs it
    // (rate-limited) and counts it.
    let _ = member.outbox.push(message);
}
