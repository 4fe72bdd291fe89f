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

use crate::config::Config;
use crate::metrics::Metrics;
use crate::outbox::{Outbox, PushError};

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

/// A new random epoch: the start time and an address make it unique enough to tell one
/// server run from the next.
fn new_epoch() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let salt = &nanos as *const u128 as usize as u128;
    format!("{:016x}", (nanos ^ (salt << 17)) as u64)
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
    /// An empty hub with the configuration's limits.
    pub fn new(config: &Config, metrics: Arc<Metrics>) -> Hub {
        Hub {
            state: Mutex::new(HubState::default()),
            epoch: new_epoch(),
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
            },
        );
        (id, nick)
    }

    /// Removes a connection: it leaves every room (members are told) and frees its nick.
    pub fn disconnect(&self, id: ConnId) {
        let mut state = self.lock();
        let Some(member) = state.members.get(&id) else {
            return;
        };
        let rooms: Vec<String> = member.rooms.iter().cloned().collect();
        for room in rooms {
            leave_room(&mut state, id, &room);
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
            let notice = ServerEnvelope::Presence {
                room: room.clone(),
                change: PresenceChange::Rename,
                nick: nick.to_owned(),
                old_nick: Some(old.clone()),
            };
            broadcast_json(&state, &room, Some(id), &notice);
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
            let notice = ServerEnvelope::Presence {
                room: room.to_owned(),
                change: PresenceChange::Join,
                nick,
                old_nick: None,
            };
            broadcast_json(&state, room, Some(id), &notice);
            self.metrics.set_rooms(state.rooms.len());
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
        leave_room(&mut state, id, room);
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
        deliver_message(&state, room, id, &entry);
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
        Ok(())
    }
}

fn leave_room(state: &mut HubState, id: ConnId, room: &str) {
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
    let notice = ServerEnvelope::Presence {
        room: room.to_owned(),
        change: PresenceChange::Leave,
        nick,
        old_nick: None,
    };
    broadcast_json(state, room, Some(id), &notice);
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
            push(member, message);
        }
    }
}

/// Delivers a chat line: JSON members but the sender get a `message` envelope, plain
/// members (the sender too) get `nick: text`. Each format is encoded once.
fn deliver_message(state: &HubState, room: &str, sender: ConnId, entry: &HistoryEntry) {
    let room_state = &state.rooms[room];
    let mut json: Option<Message> = None;
    let mut plain: Option<Message> = None;
    for member_id in &room_state.members {
        let member = &state.members[member_id];
        let message = match member.dialect {
            Dialect::Json if *member_id == sender => continue,
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
        push(member, message);
    }
}

fn push(member: &Member, message: Message) {
    if let Err(PushError::Overflow) = member.outbox.push(message) {
        tracing::info!(nick = %member.nick, "closing a slow consumer");
    }
}
