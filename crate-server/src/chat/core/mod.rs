//! [`RoomsCore`]: the rules of the chat rooms as a plain state machine, with no I/O, no
//! locks, no clocks and no tasks.
//!
//! Every operation updates the state and queues what must be sent to which connection
//! ([`Out`], encoded once and shared by every recipient). The caller drains the queue with
//! [`RoomsCore::take_output`] and pushes each message to its connection, in order; doing so
//! before anything else touches the core is what keeps every connection's stream in order.
//!
//! Two modes ([`Mode`]):
//! - [`Mode::Local`]: this core numbers the lines of each room itself (one server, no Redis).
//! - [`Mode::Shared`]: lines are numbered by a shared log (Redis) and come back to every
//!   server with [`RoomsCore::arrive`]. The core delivers each room strictly in sequence: a
//!   line that arrives after a gap waits, the gap is reported ([`RoomsCore::take_gaps`]) for
//!   the caller to read from the log and hand back with [`RoomsCore::fill`]. A sender's
//!   `ack` is held until its own line has been delivered here, so it never overtakes the
//!   lines numbered before it. Joins and resumes read a [`Snapshot`] of the log
//!   ([`RoomsCore::complete_join`]); meanwhile the joiner receives nothing from the room,
//!   and the answer covers everything up to what the room had delivered.
//!
//! Sessions: each connection belongs to a scope (the digest of its secret session token).
//! Line numbers (`n`) and idempotency keys (`id`) are per scope, so no other client can
//! pre-empt or observe them: an `id` goes out only to connections of the sender's scope.

mod rights;
mod scope;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use ferrosocket_wire::chat::{
    validate_nick, validate_room, ErrorCode, HistoryEntry, JsonText, PresenceChange, ProtocolError,
    RoomInfo, Seq, ServerEnvelope, MAX_ID_LEN,
};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use crate::budget::entry_len;

pub use rights::RoomRights;
use scope::Scope;
pub use scope::{LineOutcome, REMEMBERED_IDS, REMEMBERED_LINES, SCOPE_IDLE_MS};

/// Lines of a room kept while its first snapshot is read.
const PENDING_BEFORE_SNAPSHOT: usize = 1024;

/// Identifies one connection.
pub type ConnId = u64;

/// Identifies a session scope: a digest of the session's secret token (never the token).
pub type ScopeKey = String;

/// Which wire format a member speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Plain text: receives `name: text` lines from the lobby, sees its own messages.
    Plain,
    /// The JSON protocol (`chat.v1`).
    Json,
}

/// Who numbers the lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// This core numbers each room's lines (a single server).
    Local,
    /// A shared log numbers them; they come back through [`RoomsCore::arrive`].
    Shared,
}

/// The limits a core enforces.
#[derive(Debug, Clone)]
pub struct CoreLimits {
    /// Messages each room keeps.
    pub history: usize,
    /// Bytes of history (as encoded on the wire, JSON-escaped) a room keeps, and a
    /// `joined` or a replay carries, at most: the newest lines that fit.
    pub history_bytes: usize,
    /// Longest nickname.
    pub max_nick_len: usize,
    /// Longest room name.
    pub max_room_len: usize,
    /// Most rooms on the server.
    pub max_rooms: usize,
    /// Most rooms one connection may be in.
    pub max_rooms_per_connection: usize,
    /// Longest `text` of a line, in bytes.
    pub max_text_bytes: usize,
    /// Most members one `joined` lists (the joiner always among them).
    pub max_listed_members: usize,
}

impl Default for CoreLimits {
    fn default() -> Self {
        CoreLimits {
            history: 100,
            history_bytes: 256 * 1024,
            max_nick_len: 32,
            max_room_len: 64,
            max_rooms: 10_000,
            max_rooms_per_connection: 64,
            max_text_bytes: 16 * 1024,
            max_listed_members: 1000,
        }
    }
}

/// One message for one connection.
#[derive(Debug, Clone)]
pub struct Out {
    /// The recipient.
    pub to: ConnId,
    /// The encoded message (shared among recipients of the same broadcast).
    pub message: Message,
}

/// A line of a room as stored: the entry plus the scope of its sender, which decides who
/// may see its `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The message.
    pub entry: HistoryEntry,
    /// The sender's scope, when known.
    pub scope: Option<ScopeKey>,
}

/// A range of sequence numbers a room is missing (shared mode): read the log after
/// `after` up to and including `through` and hand it to [`RoomsCore::fill`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    /// The room.
    pub room: String,
    /// The last sequence number delivered.
    pub after: Seq,
    /// The last one wanted (`Seq::MAX`: everything the log has).
    pub through: Seq,
}

/// A room as read from the shared log for a join or resume.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Lines, oldest first (the latest ones for a join; those after `after_seq` for a
    /// resume).
    pub lines: Vec<Line>,
    /// The room's latest sequence number at the time of reading.
    pub last_seq: Seq,
    /// Every member's nickname on every server (joins only; empty: use the local ones).
    pub members: Vec<String>,
}

/// What a join or resume needs next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinStep {
    /// Answered (queued in the output).
    Done,
    /// Shared mode: read a [`Snapshot`] of the room (the latest lines for a join, the lines
    /// after `after` for a resume) and call [`RoomsCore::complete_join`].
    NeedSnapshot {
        /// `None` for a join; `Some(after_seq)` for a resume.
        resume_after: Option<Seq>,
    },
}

/// A line to publish to the shared log (shared mode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    /// The sender.
    pub conn: ConnId,
    /// The room.
    pub room: String,
    /// The sender's nickname.
    pub from: String,
    /// The text.
    pub text: String,
    /// The sender's idempotency key.
    pub id: Option<String>,
    /// The line's number in its session.
    pub n: Option<u64>,
    /// The sender's scope.
    pub scope: ScopeKey,
}

/// What a `send` needs next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendStep {
    /// Answered (queued in the output: an ack, an error, or a repeat's earlier outcome).
    Done,
    /// Shared mode: publish it, then call [`RoomsCore::published`].
    Publish(Publish),
}

/// A membership change or notice for the other servers (shared mode).
#[derive(Debug, Clone, PartialEq)]
pub enum Announcement {
    /// `conn` is in `room` as `nick`.
    Set {
        /// The room.
        room: String,
        /// The connection.
        conn: ConnId,
        /// Its nickname.
        nick: String,
    },
    /// `conn` left `room`.
    Remove {
        /// The room.
        room: String,
        /// The connection.
        conn: ConnId,
    },
    /// An envelope for the room's members on other servers.
    Notice {
        /// The room.
        room: String,
        /// The connection it is about.
        conn: ConnId,
        /// The envelope.
        envelope: ServerEnvelope,
    },
}

#[derive(Debug)]
struct Member {
    nick: String,
    dialect: Dialect,
    scope: ScopeKey,
    /// Joined rooms, with the last sequence number its join or replay covered there:
    /// deliveries at or below it are skipped for this member.
    rooms: BTreeMap<String, Seq>,
    /// Rooms whose join or resume waits for a snapshot: nothing is delivered to them.
    waiting: BTreeSet<String>,
    /// The rooms it may join and post to (all, unless a token says otherwise).
    rights: RoomRights,
    /// Whether its nickname is fixed (it came from a token, or the server gives guests
    /// only generated names).
    nick_fixed: bool,
}

#[derive(Debug, Default)]
struct Room {
    members: BTreeSet<ConnId>,
    history: VecDeque<Line>,
    history_bytes: usize,
    /// Local: the last number given. Shared: the last number delivered (`None` until a
    /// snapshot says where the room stands).
    mark: Option<Seq>,
    /// Shared: lines that arrived after a gap, waiting for it to be filled.
    pending: BTreeMap<Seq, (Line, Option<ConnId>)>,
    /// Shared: the highest number a requested fill will cover.
    filling: Seq,
    /// Shared: acks held until the room has delivered their line.
    acks: BTreeMap<Seq, Vec<Out>>,
    /// Shared: members whose resume could not read the log and was answered only up to
    /// what this server still had: each misses the lines after the first number up to
    /// the second (lines this server delivered before that member resumed). The next
    /// re-synchronisation reads them from the log for those members alone.
    behind: BTreeMap<ConnId, (Seq, Seq)>,
    /// Shared: the history holds the room's latest lines as a `joined` shows them (it was
    /// completed from a join's snapshot, or the room started over), not only what
    /// followed a resume point.
    full_history: bool,
    /// Local: while the room is empty but keeps lines for members who will resume, its
    /// place in `RoomsCore::dormant`.
    dormant: Option<u64>,
}

/// The rooms of one server: members, nicknames, sequence numbers, history, session scopes
/// and, in shared mode, the delivered marks and gap filling. See the module docs.
#[derive(Debug)]
pub struct RoomsCore {
    mode: Mode,
    limits: CoreLimits,
    members: HashMap<ConnId, Member>,
    nicks: HashMap<String, ConnId>,
    rooms: HashMap<String, Room>,
    scopes: HashMap<ScopeKey, Scope>,
    /// Scopes that became idle, in order: (idle since, key).
    idle: VecDeque<(u64, ScopeKey)>,
    next_id: ConnId,
    /// Local: where each freed room's numbers stopped, so a room made again goes on from
    /// there and its numbers never start over within an epoch (a client that remembers
    /// them would take new lines for seen ones).
    freed: FreedRooms,
    /// Local: empty rooms that keep their lines (a member away may still resume them), oldest
    /// first. They are freed only to make room for a new room when the table is full.
    dormant: BTreeMap<u64, String>,
    next_dormant: u64,
    out: Vec<Out>,
    gaps: Vec<Gap>,
    announcements: Vec<Announcement>,
}

/// Where freed rooms' numbers stopped: the last [`FreedRooms::KEEP`] by name, and for the
/// rooms forgotten beyond that one mark above all of them — a room made again starts there,
/// so numbers never start over within an epoch whatever the churn, and a room never seen
/// before starts from 1 until that many rooms have been freed.
#[derive(Debug, Default)]
struct FreedRooms {
    marks: HashMap<String, Seq>,
    /// Names in the order they were freed (stale entries skipped when they come up).
    order: VecDeque<String>,
    /// The highest mark of every room forgotten.
    forgotten: Seq,
}

impl FreedRooms {
    /// How many freed rooms are remembered by name (about 100 bytes each).
    const KEEP: usize = 65_536;

    fn remember(&mut self, room: &str, mark: Seq) {
        if mark == 0 {
            return;
        }
        self.marks.insert(room.to_owned(), mark);
        self.order.push_back(room.to_owned());
        while self.marks.len() > Self::KEEP || self.order.len() > 2 * Self::KEEP {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            if let Some(mark) = self.marks.remove(&oldest) {
                self.forgotten = self.forgotten.max(mark);
            }
        }
    }

    /// Where a room made now starts numbering.
    fn take(&mut self, room: &str) -> Seq {
        self.marks.remove(room).unwrap_or(self.forgotten)
    }
}

fn encode(envelope: &ServerEnvelope) -> Message {
    Message::Text(Utf8Bytes::from(envelope.to_json()))
}

fn not_joined(room: &str) -> ProtocolError {
    // The name is quoted only when it could be a room's: the answer stays small.
    let message = if room.len() <= 64 {
        format!("you are not in room {room:?}: join it first")
    } else {
        "you are not in that room: join it first".to_owned()
    };
    ProtocolError::new(ErrorCode::NotJoined, message)
}

fn presence(room: &str, change: PresenceChange, nick: &str, old: Option<&str>) -> ServerEnvelope {
    ServerEnvelope::Presence {
        room: room.to_owned(),
        change,
        nick: nick.to_owned(),
        old_nick: old.map(str::to_owned),
    }
}

/// A line's size inside a `joined` or a replay, as the budgets count it.
fn line_bytes(line: &Line) -> usize {
    entry_len(&line.entry)
}

/// Keeps the newest entries whose encoded size fits `budget`; whether any were cut.
fn trim_to(entries: &mut Vec<HistoryEntry>, budget: usize) -> bool {
    let mut total = 0;
    let keep_from = entries
        .iter()
        .rposition(|entry| {
            total += entry_len(entry);
            total > budget
        })
        .map_or(0, |too_many| too_many + 1);
    entries.drain(..keep_from);
    keep_from > 0
}

/// The entry as `scope` may see it: the `id` only for the sender's own scope.
fn entry_for(line: &Line, scope: &str) -> HistoryEntry {
    let mut entry = line.entry.clone();
    if line.scope.as_deref() != Some(scope) {
        entry.id = None;
    }
    entry
}

fn message_envelope(room: &str, entry: HistoryEntry) -> ServerEnvelope {
    ServerEnvelope::Message {
        room: room.to_owned(),
        seq: entry.seq,
        from: entry.from,
        text: entry.text,
        ts: entry.ts,
        id: entry.id,
    }
}

fn refusal(outcome: &LineOutcome, id: Option<String>) -> ServerEnvelope {
    match outcome {
        LineOutcome::Accepted { room, seq } => ServerEnvelope::Ack {
            id,
            room: room.clone(),
            seq: *seq,
        },
        LineOutcome::Refused { code, message } => ServerEnvelope::Error {
            code: *code,
            message: message.clone(),
            reference: id,
        },
    }
}

impl RoomsCore {
    /// An empty core.
    pub fn new(mode: Mode, limits: CoreLimits) -> RoomsCore {
        RoomsCore {
            mode,
            limits,
            members: HashMap::new(),
            nicks: HashMap::new(),
            rooms: HashMap::new(),
            scopes: HashMap::new(),
            idle: VecDeque::new(),
            next_id: 0,
            freed: FreedRooms::default(),
            dormant: BTreeMap::new(),
            next_dormant: 0,
            out: Vec::new(),
            gaps: Vec::new(),
            announcements: Vec::new(),
        }
    }

    /// Who numbers the lines.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The limits.
    pub fn limits(&self) -> &CoreLimits {
        &self.limits
    }

    /// Everything queued for connections since the last call, in the order it must be sent.
    pub fn take_output(&mut self) -> Vec<Out> {
        std::mem::take(&mut self.out)
    }

    /// The gaps found since the last call (shared mode): fill each with [`RoomsCore::fill`].
    pub fn take_gaps(&mut self) -> Vec<Gap> {
        std::mem::take(&mut self.gaps)
    }

    /// The announcements for other servers since the last call (shared mode only).
    pub fn take_announcements(&mut self) -> Vec<Announcement> {
        std::mem::take(&mut self.announcements)
    }

    fn announce(&mut self, announcement: Announcement) {
        if self.mode == Mode::Shared {
            self.announcements.push(announcement);
        }
    }

    fn reply(&mut self, to: ConnId, envelope: &ServerEnvelope) {
        // A reference longer than any valid id (an invalid one being refused) is not
        // echoed: answers stay within the outbound budgets.
        if let ServerEnvelope::Error {
            code,
            message,
            reference: Some(reference),
        } = envelope
        {
            if reference.len() > ferrosocket_wire::chat::MAX_ID_LEN {
                let bounded = ServerEnvelope::Error {
                    code: *code,
                    message: message.clone(),
                    reference: None,
                };
                self.out.push(Out {
                    to,
                    message: encode(&bounded),
                });
                return;
            }
        }
        self.out.push(Out {
            to,
            message: encode(envelope),
        });
    }

    /// Registers a connection of session `scope` under a generated nickname (`guest-N`).
    /// `now` (ms, any monotonic origin) only times out idle scopes.
    pub fn connect(&mut self, dialect: Dialect, scope: ScopeKey, now: u64) -> (ConnId, String) {
        self.expire_scopes(now);
        self.next_id += 1;
        let id = self.next_id;
        let mut n = id;
        let nick = loop {
            let candidate = format!("guest-{n}");
            if !self.nicks.contains_key(&candidate) {
                break candidate;
            }
            n += 1000;
        };
        self.nicks.insert(nick.clone(), id);
        self.enter_scope(&scope, None);
        self.members.insert(
            id,
            Member {
                nick: nick.clone(),
                dialect,
                scope,
                rooms: BTreeMap::new(),
                waiting: BTreeSet::new(),
                rights: RoomRights::all(),
                nick_fixed: false,
            },
        );
        (id, nick)
    }

    /// Gives a connection the identity its token carries — when it has just connected, or
    /// on a refresh: `nick` (unless it is a guest, which keeps its generated name), the
    /// rooms it may use (it leaves, told `left`, those it is in that they no longer allow),
    /// and a nickname it may not change. Refused `nick_taken` when another connection
    /// holds `nick`.
    pub fn set_identity(
        &mut self,
        conn: ConnId,
        nick: Option<&str>,
        rights: RoomRights,
    ) -> Result<(), ProtocolError> {
        if let Some(nick) = nick {
            validate_nick(nick, self.limits.max_nick_len)?;
            match self.nicks.get(nick) {
                Some(owner) if *owner != conn => {
                    return Err(ProtocolError::new(
                        ErrorCode::NickTaken,
                        format!("the nickname {nick:?} is in use by another connection"),
                    ))
                }
                _ => {}
            }
            let member = self.members.get_mut(&conn).expect("connected");
            let old = std::mem::replace(&mut member.nick, nick.to_owned());
            self.nicks.remove(&old);
            self.nicks.insert(nick.to_owned(), conn);
        }
        let member = self.members.get_mut(&conn).expect("connected");
        // Rooms the new rights no longer allow are left (a refresh that withdraws a room
        // must stop the reading too, not only later joins and sends).
        let withdrawn: Vec<String> = member
            .rooms
            .keys()
            .chain(member.waiting.iter())
            .filter(|room| !rights.may_join(room))
            .cloned()
            .collect();
        member.rights = rights;
        member.nick_fixed = true;
        for room in withdrawn {
            self.leave_room(conn, &room);
            self.reply(conn, &ServerEnvelope::Left { room });
        }
        Ok(())
    }

    /// Whether `nick` is held by a connection here.
    pub fn nick_in_use(&self, nick: &str) -> bool {
        self.nicks.contains_key(nick)
    }

    /// Whether `conn` may join `room` (a token may limit it).
    pub fn may_join(&self, conn: ConnId, room: &str) -> bool {
        self.members
            .get(&conn)
            .is_some_and(|member| member.rights.may_join(room))
    }

    fn enter_scope(&mut self, scope: &str, next: Option<u64>) {
        let state = self
            .scopes
            .entry(scope.to_owned())
            .or_insert_with(|| Scope::new(next.unwrap_or(1)));
        if let Some(next) = next {
            state.expected = state.expected.max(next);
        }
        state.connections += 1;
        state.idle_since = None;
    }

    fn leave_scope(&mut self, scope: &str, now: u64) {
        if let Some(state) = self.scopes.get_mut(scope) {
            state.connections = state.connections.saturating_sub(1);
            if state.connections == 0 {
                state.idle_since = Some(now);
                self.idle.push_back((now, scope.to_owned()));
            }
        }
    }

    /// Forgets scopes idle for [`SCOPE_IDLE_MS`] or longer.
    pub fn expire_scopes(&mut self, now: u64) {
        while let Some((since, _)) = self.idle.front() {
            if now.saturating_sub(*since) < SCOPE_IDLE_MS {
                break;
            }
            let (since, key) = self.idle.pop_front().expect("checked");
            if self
                .scopes
                .get(&key)
                .is_some_and(|scope| scope.idle_since == Some(since))
            {
                self.scopes.remove(&key);
            }
        }
    }

    /// How many session scopes are held (connected or not yet expired).
    pub fn scope_count(&self) -> usize {
        self.scopes.len()
    }

    /// Moves connection `conn` into the scope of an earlier session (`session` envelope):
    /// its line numbers and keys carry over; the next line number becomes at least `next`.
    pub fn adopt_scope(&mut self, conn: ConnId, scope: ScopeKey, next: Option<u64>, now: u64) {
        let Some(member) = self.members.get_mut(&conn) else {
            return;
        };
        let old = std::mem::replace(&mut member.scope, scope.clone());
        self.leave_scope(&old, now);
        self.enter_scope(&scope, next);
    }

    /// The nickname of `conn`.
    pub fn nick_of(&self, conn: ConnId) -> Option<&str> {
        self.members.get(&conn).map(|member| member.nick.as_str())
    }

    /// Removes a connection: it leaves every room (members are told), frees its nickname,
    /// and its held acks are dropped.
    pub fn disconnect(&mut self, conn: ConnId, now: u64) {
        let Some(member) = self.members.get(&conn) else {
            return;
        };
        let rooms: Vec<String> = member.rooms.keys().cloned().collect();
        let waiting: Vec<String> = member.waiting.iter().cloned().collect();
        for room in rooms {
            if let Some(room_state) = self.rooms.get_mut(&room) {
                for acks in room_state.acks.values_mut() {
                    acks.retain(|out| out.to != conn);
                }
            }
            self.leave_room(conn, &room);
        }
        for room in waiting {
            if self.mode == Mode::Shared
                && self.rooms.get(&room).is_some_and(|r| r.members.is_empty())
            {
                self.rooms.remove(&room);
            }
        }
        if let Some(member) = self.members.remove(&conn) {
            self.nicks.remove(&member.nick);
            self.leave_scope(&member.scope, now);
        }
    }

    /// Changes a connection's nickname; every room it is in is told.
    pub fn set_nick(&mut self, conn: ConnId, nick: &str) -> Result<(), ProtocolError> {
        validate_nick(nick, self.limits.max_nick_len)?;
        if self
            .members
            .get(&conn)
            .is_some_and(|member| member.nick_fixed)
        {
            return Err(ProtocolError::new(
                ErrorCode::Forbidden,
                "this server gives nicknames from tokens: yours cannot be changed",
            ));
        }
        match self.nicks.get(nick) {
            Some(owner) if *owner == conn => {
                self.reply(conn, &ServerEnvelope::Nick { nick: nick.into() });
                return Ok(());
            }
            Some(_) => {
                return Err(ProtocolError::new(
                    ErrorCode::NickTaken,
                    format!("the nickname {nick:?} is taken"),
                ))
            }
            None => {}
        }
        let member = self.members.get_mut(&conn).expect("connected");
        let old = std::mem::replace(&mut member.nick, nick.to_owned());
        let rooms: Vec<String> = member.rooms.keys().cloned().collect();
        self.nicks.remove(&old);
        self.nicks.insert(nick.to_owned(), conn);
        self.reply(conn, &ServerEnvelope::Nick { nick: nick.into() });
        for room in rooms {
            let notice = presence(&room, PresenceChange::Rename, nick, Some(&old));
            self.broadcast_json(&room, Some(conn), &notice);
            self.announce(Announcement::Set {
                room: room.clone(),
                conn,
                nick: nick.to_owned(),
            });
            self.announce(Announcement::Notice {
                room,
                conn,
                envelope: notice,
            });
        }
        Ok(())
    }

    /// Every room this server knows with its member count, by name.
    pub fn rooms(&self) -> Vec<RoomInfo> {
        let mut rooms = self.room_counts();
        rooms.sort_by(|a, b| a.name.cmp(&b.name));
        rooms
    }

    /// Every room this server knows with its member count, in no particular order.
    pub fn room_counts(&self) -> Vec<RoomInfo> {
        self.rooms
            .iter()
            .map(|(name, room)| RoomInfo {
                name: name.clone(),
                members: room.members.len(),
            })
            .collect()
    }

    /// How many rooms exist.
    pub fn rooms_len(&self) -> usize {
        self.rooms.len()
    }

    /// Whether `conn` is in `room` (or joining it).
    pub fn is_member(&self, conn: ConnId, room: &str) -> bool {
        self.members
            .get(&conn)
            .is_some_and(|member| member.rooms.contains_key(room) || member.waiting.contains(room))
    }

    /// Frees the empty room that has waited longest for its members, remembering where its
    /// numbers stopped; `false` if there is none.
    fn free_oldest_dormant(&mut self) -> bool {
        while let Some((_, room)) = self.dormant.pop_first() {
            let empty = self.rooms.get(&room).is_some_and(|r| r.members.is_empty());
            if empty {
                if let Some(gone) = self.rooms.remove(&room) {
                    self.freed.remember(&room, gone.mark.unwrap_or(0));
                }
                return true;
            }
        }
        false
    }

    fn check_room_limits(&mut self, conn: ConnId, room: &str) -> Result<(), ProtocolError> {
        validate_room(room, self.limits.max_room_len)?;
        let member = &self.members[&conn];
        if member.rooms.len() + member.waiting.len() >= self.limits.max_rooms_per_connection {
            return Err(ProtocolError::new(
                ErrorCode::TooManyRooms,
                format!(
                    "you are in {} rooms already, the most a connection may join",
                    self.limits.max_rooms_per_connection
                ),
            ));
        }
        if !self.rooms.contains_key(room)
            && self.rooms.len() >= self.limits.max_rooms
            && !self.free_oldest_dormant()
        {
            return Err(ProtocolError::new(
                ErrorCode::TooManyRooms,
                "the server holds as many rooms as it may; join an existing one",
            ));
        }
        Ok(())
    }

    /// Joins `room` (creating it) and answers `joined`; the room's other members are told.
    /// Joining a room already joined answers `joined` again. In shared mode a new join
    /// needs a snapshot first.
    pub fn join(&mut self, conn: ConnId, room: &str) -> Result<JoinStep, ProtocolError> {
        self.begin_join(conn, room, None)
    }

    /// Replays what `conn` missed in `room` after `after_seq` (joining it silently if
    /// needed), then `resumed`. In shared mode it needs a snapshot first.
    pub fn resume(
        &mut self,
        conn: ConnId,
        room: &str,
        after_seq: Seq,
    ) -> Result<JoinStep, ProtocolError> {
        self.begin_join(conn, room, Some(after_seq))
    }

    fn begin_join(
        &mut self,
        conn: ConnId,
        room: &str,
        resume_after: Option<Seq>,
    ) -> Result<JoinStep, ProtocolError> {
        let member = self.members.get(&conn).expect("connected");
        if !member.rights.may_join(room) {
            return Err(ProtocolError::new(
                ErrorCode::Forbidden,
                format!("your token does not allow joining {room:?}"),
            ));
        }
        if member.waiting.contains(room) {
            // A snapshot is on its way for this room already: this request follows it.
            return Ok(JoinStep::NeedSnapshot { resume_after });
        }
        let already = member.rooms.contains_key(room);
        if !already {
            self.check_room_limits(conn, room)?;
        }
        if self.mode == Mode::Shared && (resume_after.is_some() || !already) {
            self.rooms.entry(room.to_owned()).or_default();
            let member = self.members.get_mut(&conn).expect("connected");
            member.rooms.remove(room);
            member.waiting.insert(room.to_owned());
            // Out of the delivery list until the answer is queued; still counted.
            return Ok(JoinStep::NeedSnapshot { resume_after });
        }
        if !already {
            self.add_member(conn, room);
        }
        let room_state = &self.rooms[room];
        let mark = room_state.mark.unwrap_or(0);
        self.members
            .get_mut(&conn)
            .expect("connected")
            .rooms
            .insert(room.to_owned(), mark);
        match resume_after {
            None => self.answer_joined(conn, room, Vec::new(), Vec::new(), false),
            Some(after) => self.answer_resumed(conn, room, after, Snapshot::default(), None),
        }
        Ok(JoinStep::Done)
    }

    /// Makes `conn` a member of `room` and tells the others.
    fn add_member(&mut self, conn: ConnId, room: &str) {
        let room_state = self.rooms.entry(room.to_owned()).or_default();
        if self.mode == Mode::Local && room_state.mark.is_none() {
            room_state.mark = Some(self.freed.take(room));
        }
        if let Some(place) = room_state.dormant.take() {
            self.dormant.remove(&place);
        }
        room_state.members.insert(conn);
        let nick = self.members[&conn].nick.clone();
        let notice = presence(room, PresenceChange::Join, &nick, None);
        self.broadcast_json(room, Some(conn), &notice);
        self.announce(Announcement::Set {
            room: room.to_owned(),
            conn,
            nick,
        });
        self.announce(Announcement::Notice {
            room: room.to_owned(),
            conn,
            envelope: notice,
        });
    }

    /// Shared mode: finishes a join or resume of `conn` with `snapshot` read from the log
    /// (`None` when the log could not be read: the answer then uses what this server has).
    /// The answer covers everything the room has delivered here, so nothing that follows
    /// it repeats or skips a line.
    pub fn complete_join(
        &mut self,
        conn: ConnId,
        room: &str,
        resume_after: Option<Seq>,
        snapshot: Option<Snapshot>,
    ) {
        let Some(member) = self.members.get_mut(&conn) else {
            return;
        };
        if !member.waiting.remove(room) {
            return;
        }
        let known = snapshot.is_some();
        let snapshot = snapshot.unwrap_or_default();
        let room_state = self.rooms.entry(room.to_owned()).or_default();
        if room_state.mark.is_none() {
            if known {
                // The first member here: the room starts where the log stands.
                room_state.mark = Some(snapshot.last_seq);
                room_state.pending.retain(|seq, _| *seq > snapshot.last_seq);
            } else {
                // The log is unreachable: the room starts from nothing here, and once the
                // log is back, re-synchronising fills it from the beginning; each member
                // gets what follows its own mark.
                room_state.mark = Some(0);
            }
        }
        let mark = room_state.mark.unwrap_or(0);
        // Lines of a join's snapshot beyond what was delivered here: in the answer only.
        let mut ahead = Vec::new();
        if known && resume_after.is_none() {
            // The snapshot has the room's latest lines: they complete this server's
            // history (which may hold only what followed an earlier resume point).
            let mut by_seq: BTreeMap<Seq, Line> = room_state
                .history
                .drain(..)
                .map(|line| (line.entry.seq, line))
                .collect();
            for line in &snapshot.lines {
                by_seq.entry(line.entry.seq).or_insert_with(|| line.clone());
            }
            room_state.history_bytes = 0;
            room_state.full_history = true;
            for (seq, line) in by_seq {
                if seq <= mark {
                    push_history(room_state, line, &self.limits);
                } else {
                    ahead.push(line);
                }
            }
        }
        let was_member = room_state.members.contains(&conn);
        if !was_member {
            self.add_member(conn, room);
        }
        // Everything up to here is in the answer (or was, for a resume, already seen). A
        // resume the log could not answer covers only what this server's history holds
        // without a hole after the resume point: claiming more would tell the client that
        // lines the log still has are gone.
        let room_state = self.rooms.get_mut(room).expect("joined rooms exist");
        let given = match resume_after {
            Some(after) if !known => {
                let reach = local_reach(room_state, after);
                if reach < mark {
                    room_state.behind.insert(conn, (reach, mark));
                } else {
                    room_state.behind.remove(&conn);
                }
                reach
            }
            None if !known && mark > 0 && !room_state.full_history => {
                // A join the log could not answer, where this server's history may lack
                // the room's earlier lines: answered without a history (a client takes
                // what precedes a `joined` history for gone), those lines follow when the
                // link is back.
                room_state.behind.insert(conn, (0, mark));
                mark
            }
            _ => {
                room_state.behind.remove(&conn);
                mark.max(snapshot.last_seq)
            }
        };
        let partial = room_state.behind.contains_key(&conn);
        self.members
            .get_mut(&conn)
            .expect("connected")
            .rooms
            .insert(room.to_owned(), given);
        match resume_after {
            None => {
                let members = snapshot.members.clone();
                self.answer_joined(conn, room, members, ahead, partial);
            }
            Some(after) => {
                let reach = (!known).then_some(given);
                self.answer_resumed(conn, room, after, snapshot, reach)
            }
        }
        self.drain_pending(room);
    }

    /// Answers a join: members and the latest lines (none when `partial`: the history
    /// here may lack earlier lines, which follow once the log can be read).
    fn answer_joined(
        &mut self,
        conn: ConnId,
        room: &str,
        members: Vec<String>,
        ahead: Vec<Line>,
        partial: bool,
    ) {
        if self.members[&conn].dialect != Dialect::Json {
            return;
        }
        let scope = self.members[&conn].scope.clone();
        let room_state = &self.rooms[room];
        // Every server's members (from the snapshot) and this server's, the joiner
        // included even before the shared registry has recorded it.
        let mut members: BTreeSet<String> = members.into_iter().collect();
        members.extend(
            room_state
                .members
                .iter()
                .map(|id| self.members[id].nick.clone()),
        );
        let own = self.members[&conn].nick.clone();
        let mut members: Vec<String> = members.into_iter().collect();
        if members.len() > self.limits.max_listed_members {
            members.retain(|nick| *nick != own);
            members.truncate(self.limits.max_listed_members.saturating_sub(1));
            members.push(own);
            members.sort();
        }
        let mut history: Vec<HistoryEntry> = if partial {
            Vec::new()
        } else {
            room_state
                .history
                .iter()
                .chain(ahead.iter())
                .map(|line| entry_for(line, &scope))
                .collect()
        };
        let over = history.len().saturating_sub(self.limits.history);
        history.drain(..over);
        trim_to(&mut history, self.limits.history_bytes);
        self.reply(
            conn,
            &ServerEnvelope::Joined {
                room: room.to_owned(),
                members,
                history,
            },
        );
    }

    /// Answers a resume: the lines after `after` from `snapshot` and this server's
    /// history, then `resumed`. `unread` is `Some(reach)` when the log could not be read:
    /// the answer then covers only up to `reach` (what the history holds without a hole).
    fn answer_resumed(
        &mut self,
        conn: ConnId,
        room: &str,
        after: Seq,
        snapshot: Snapshot,
        unread: Option<Seq>,
    ) {
        if self.members[&conn].dialect != Dialect::Json {
            return;
        }
        let scope = self.members[&conn].scope.clone();
        let room_state = &self.rooms[room];
        let mut missed: Vec<HistoryEntry> = snapshot
            .lines
            .iter()
            .filter(|line| line.entry.seq > after)
            .map(|line| entry_for(line, &scope))
            .collect();
        let covered = missed.last().map_or(after, |entry| entry.seq).max(after);
        let reach = unread.unwrap_or(Seq::MAX);
        missed.extend(
            room_state
                .history
                .iter()
                .filter(|line| line.entry.seq > covered && line.entry.seq <= reach)
                .map(|line| entry_for(line, &scope)),
        );
        let trimmed = trim_to(&mut missed, self.limits.history_bytes);
        let (last_seq, complete) = match unread {
            None => {
                let last_seq = room_state.mark.unwrap_or(0).max(snapshot.last_seq);
                let complete = after >= last_seq
                    || (!trimmed && missed.first().is_some_and(|m| m.seq == after + 1));
                (last_seq, complete)
            }
            // The log could not be read: the answer vouches only for what it replayed; the
            // rest follows when the link is back (re-synchronising), or when the client,
            // seeing a hole, asks again.
            Some(reach) => (reach, false),
        };
        let mut messages: Vec<Out> = missed
            .into_iter()
            .map(|entry| Out {
                to: conn,
                message: encode(&message_envelope(room, entry)),
            })
            .collect();
        self.out.append(&mut messages);
        self.reply(
            conn,
            &ServerEnvelope::Resumed {
                room: room.to_owned(),
                last_seq,
                complete,
            },
        );
    }

    /// Leaves `room` (answered `left`), telling its other members.
    pub fn leave(&mut self, conn: ConnId, room: &str) -> Result<(), ProtocolError> {
        if !self.is_member(conn, room) {
            return Err(not_joined(room));
        }
        self.leave_room(conn, room);
        self.reply(
            conn,
            &ServerEnvelope::Left {
                room: room.to_owned(),
            },
        );
        Ok(())
    }

    fn leave_room(&mut self, conn: ConnId, room: &str) {
        let Some(member) = self.members.get_mut(&conn) else {
            return;
        };
        member.rooms.remove(room);
        member.waiting.remove(room);
        let nick = member.nick.clone();
        let was_member = self.rooms.get_mut(room).is_some_and(|room_state| {
            room_state.behind.remove(&conn);
            room_state.members.remove(&conn)
        });
        if !was_member {
            return;
        }
        let notice = presence(room, PresenceChange::Leave, &nick, None);
        self.broadcast_json(room, Some(conn), &notice);
        if self.mode == Mode::Local && self.rooms[room].members.is_empty() {
            if self.rooms[room].mark.unwrap_or(0) == 0 {
                // Never had a line: nothing anyone could resume.
                self.rooms.remove(room);
            } else {
                // Its lines wait for members who are away and will resume; the room is
                // freed only when a new room needs its place (`free_oldest_dormant`), and
                // then where its numbers stopped is remembered in `freed`.
                self.next_dormant += 1;
                let place = self.next_dormant;
                self.dormant.insert(place, room.to_owned());
                if let Some(room_state) = self.rooms.get_mut(room) {
                    room_state.dormant = Some(place);
                }
            }
        }
        if self.mode == Mode::Shared && self.rooms.get(room).is_some_and(|r| r.members.is_empty()) {
            // The log keeps the room; this server forgets it until someone here joins
            // again (and a snapshot says where it stands). Held acks go out now.
            if let Some(gone) = self.rooms.remove(room) {
                for (_, acks) in gone.acks {
                    self.out.extend(acks);
                }
            }
        }
        self.announce(Announcement::Remove {
            room: room.to_owned(),
            conn,
        });
        self.announce(Announcement::Notice {
            room: room.to_owned(),
            conn,
            envelope: notice,
        });
    }

    /// A `send` of `text` to `room` by `conn`, with its optional key `id` and line number
    /// `n`, accepted at `ts` (ms since the Unix epoch). Local mode: numbered, stored,
    /// delivered and acknowledged here. Shared mode: checked here, then published by the
    /// caller. Every answer (ack, error, a repeat's earlier outcome) is queued as output.
    pub fn send(
        &mut self,
        conn: ConnId,
        room: &str,
        text: &str,
        id: Option<String>,
        n: Option<u64>,
        ts: u64,
    ) -> SendStep {
        let Some(member) = self.members.get(&conn) else {
            return SendStep::Done;
        };
        let scope_key = member.scope.clone();
        let dialect = member.dialect;
        let scope = self
            .scopes
            .entry(scope_key.clone())
            .or_insert_with(|| Scope::new(1));
        // Repeats and order first: a repeat is answered as it was the first time.
        if let Some(n) = n {
            if n < scope.expected {
                let envelope = match scope.outcome_of(n) {
                    Some(outcome) => refusal(outcome, id),
                    None => ProtocolError {
                        code: ErrorCode::InvalidField,
                        message: format!(
                            "line {n} is too old to be recognised (the next is {})",
                            scope.expected
                        ),
                        reference: id,
                    }
                    .into_envelope(),
                };
                self.reply(conn, &envelope);
                return SendStep::Done;
            }
            if n > scope.expected {
                let envelope = ProtocolError {
                    code: ErrorCode::OutOfOrder,
                    message: format!(
                        "line {n} skips ahead: the next line must be n = {}",
                        scope.expected
                    ),
                    reference: id,
                }
                .into_envelope();
                self.reply(conn, &envelope);
                return SendStep::Done;
            }
        } else if let Some(key) = &id {
            if let Some(outcome) = scope.ids.get(key) {
                let envelope = refusal(outcome, id.clone());
                self.reply(conn, &envelope);
                return SendStep::Done;
            }
        }
        // Validation: a refusal consumes the line number (a repeat gets the same answer).
        if let Err(err) = self.validate_send(conn, room, text, id.as_deref()) {
            let outcome = LineOutcome::Refused {
                code: err.code,
                message: err.message,
            };
            self.record(&scope_key, n, id.as_deref(), outcome.clone());
            if dialect == Dialect::Json {
                self.reply(conn, &refusal(&outcome, id));
            }
            return SendStep::Done;
        }
        let from = self.members[&conn].nick.clone();
        if self.mode == Mode::Shared {
            return SendStep::Publish(Publish {
                conn,
                room: room.to_owned(),
                from,
                text: text.to_owned(),
                id,
                n,
                scope: scope_key,
            });
        }
        let room_state = self.rooms.get_mut(room).expect("joined rooms exist");
        let seq = room_state.mark.unwrap_or(0) + 1;
        room_state.mark = Some(seq);
        let line = Line {
            entry: HistoryEntry {
                seq,
                from,
                text: text.to_owned(),
                ts,
                id: id.clone(),
            },
            scope: Some(scope_key.clone()),
        };
        push_history(room_state, line.clone(), &self.limits);
        self.deliver_line(room, &line, Some(conn));
        let outcome = LineOutcome::Accepted {
            room: room.to_owned(),
            seq,
        };
        self.record(&scope_key, n, id.as_deref(), outcome.clone());
        if dialect == Dialect::Json {
            self.reply(conn, &refusal(&outcome, id));
        }
        SendStep::Done
    }

    fn validate_send(
        &self,
        conn: ConnId,
        room: &str,
        text: &str,
        id: Option<&str>,
    ) -> Result<(), ProtocolError> {
        if id.is_some_and(|id| id.len() > MAX_ID_LEN) {
            return Err(ProtocolError::new(
                ErrorCode::InvalidField,
                format!(
                    "field `id` is {} bytes, longer than {MAX_ID_LEN}: nothing was delivered",
                    id.map_or(0, str::len)
                ),
            ));
        }
        if text.len() > self.limits.max_text_bytes {
            return Err(ProtocolError::new(
                ErrorCode::TooLarge,
                format!(
                    "the text is {} bytes, over the {}-byte limit (max_text_bytes in \
                     welcome): nothing was delivered",
                    text.len(),
                    self.limits.max_text_bytes
                ),
            ));
        }
        if !self.members[&conn].rooms.contains_key(room) {
            return Err(not_joined(room));
        }
        if !self.members[&conn].rights.may_post(room) {
            return Err(ProtocolError::new(
                ErrorCode::Forbidden,
                format!("your token does not allow posting to {room:?}: nothing was delivered"),
            ));
        }
        Ok(())
    }

    fn record(&mut self, scope: &str, n: Option<u64>, id: Option<&str>, outcome: LineOutcome) {
        let Some(state) = self.scopes.get_mut(scope) else {
            return;
        };
        match (n, id) {
            (Some(n), _) => state.consume(n, outcome),
            (None, Some(id)) => state.remember_id(id, outcome),
            (None, None) => {}
        }
    }

    /// Shared mode: the result of publishing `publish`: `Ok(seq)` once the log numbered it
    /// (or knew it already), `Err` when it was refused (`unavailable`: the log was
    /// unreachable and the line number is not used up, the client may send it again). The ack is held until the room has
    /// delivered line `seq` here.
    pub fn published(&mut self, publish: Publish, result: Result<Seq, ProtocolError>) {
        let Some(member) = self.members.get(&publish.conn) else {
            return;
        };
        let dialect = member.dialect;
        match result {
            Ok(seq) => {
                let outcome = LineOutcome::Accepted {
                    room: publish.room.clone(),
                    seq,
                };
                self.record(
                    &publish.scope,
                    publish.n,
                    publish.id.as_deref(),
                    outcome.clone(),
                );
                if dialect != Dialect::Json {
                    return;
                }
                let ack = Out {
                    to: publish.conn,
                    message: encode(&refusal(&outcome, publish.id)),
                };
                match self.rooms.get_mut(&publish.room) {
                    Some(room) if room.mark.is_some_and(|mark| mark < seq) => {
                        room.acks.entry(seq).or_default().push(ack);
                    }
                    _ => self.out.push(ack),
                }
            }
            Err(mut err) => {
                if err.code != ErrorCode::Unavailable {
                    // A final refusal uses the number up; `unavailable` does not.
                    let outcome = LineOutcome::Refused {
                        code: err.code,
                        message: err.message.clone(),
                    };
                    self.record(&publish.scope, publish.n, publish.id.as_deref(), outcome);
                }
                if dialect == Dialect::Json {
                    err.reference = publish.id;
                    self.reply(publish.conn, &err.into_envelope());
                }
            }
        }
    }

    /// Shared mode: line `line` of `room` came from the log; `origin` is its sender when
    /// that connection is on this server. Delivered in sequence: a line after a gap waits
    /// and the gap is reported; a line already delivered is ignored.
    pub fn arrive(&mut self, room: &str, line: Line, origin: Option<ConnId>) {
        let Some(room_state) = self.rooms.get_mut(room) else {
            return;
        };
        let seq = line.entry.seq;
        match room_state.mark {
            Some(mark) if seq <= mark => return,
            Some(_) => {}
            None => {
                let settled = room_state.members.iter().any(|id| {
                    self.members
                        .get(id)
                        .is_some_and(|member| member.rooms.contains_key(room))
                });
                if settled {
                    // Members joined without a snapshot (the log was unreadable): the
                    // room starts with the first line that arrives.
                    room_state.mark = Some(seq - 1);
                } else if room_state.pending.len() >= PENDING_BEFORE_SNAPSHOT {
                    // A snapshot is on its way and will say where the room stands; keep
                    // only the latest lines meanwhile.
                    room_state.pending.pop_first();
                }
            }
        }
        room_state.pending.insert(seq, (line, origin));
        self.drain_pending(room);
    }

    /// Shared mode: the lines read from the log for a [`Gap`] (oldest first), each with its
    /// sender when that connection is on this server (it gets its ack, not the line).
    /// Numbers the log no longer holds up to `through` are skipped (a finite `through`
    /// only).
    pub fn fill(&mut self, room: &str, lines: Vec<(Line, Option<ConnId>)>, through: Seq) {
        let Some(room_state) = self.rooms.get_mut(room) else {
            return;
        };
        let Some(mark) = room_state.mark else {
            return;
        };
        let mut earlier = Vec::new();
        for (line, origin) in lines {
            if line.entry.seq > mark {
                room_state
                    .pending
                    .entry(line.entry.seq)
                    .or_insert((line, origin));
            } else if !room_state.behind.is_empty() {
                earlier.push(line);
            }
        }
        if through == Seq::MAX {
            // A re-synchronisation: it read from the oldest line any member here missed.
            let behind = std::mem::take(&mut room_state.behind);
            self.catch_up(room, &behind, &earlier);
        }
        let room_state = self.rooms.get_mut(room).expect("still there");
        room_state.filling = 0;
        self.drain_pending(room);
        let room_state = self.rooms.get_mut(room).expect("still there");
        if through != Seq::MAX && room_state.mark.is_some_and(|mark| mark < through) {
            // Gone from the log: move on rather than wait for ever.
            room_state.mark = Some(through);
            self.drain_pending(room);
        }
    }

    /// Delivers to each member `behind` the lines it missed (already delivered here
    /// before its resume), oldest first.
    fn catch_up(&mut self, room: &str, behind: &BTreeMap<ConnId, (Seq, Seq)>, lines: &[Line]) {
        for (conn, (from, upto)) in behind {
            let Some(member) = self.members.get(conn) else {
                continue;
            };
            if member.dialect != Dialect::Json || !member.rooms.contains_key(room) {
                continue;
            }
            let scope = member.scope.clone();
            for line in lines {
                if line.entry.seq > *from && line.entry.seq <= *upto {
                    let envelope = message_envelope(room, entry_for(line, &scope));
                    self.reply(*conn, &envelope);
                }
            }
        }
    }

    /// Delivers the pending lines that follow the mark, in order; reports a gap when the
    /// next pending line does not follow.
    fn drain_pending(&mut self, room: &str) {
        loop {
            let Some(room_state) = self.rooms.get_mut(room) else {
                return;
            };
            let Some(mark) = room_state.mark else {
                return;
            };
            room_state.pending.retain(|seq, _| *seq > mark);
            let Some((&next, _)) = room_state.pending.iter().next() else {
                break;
            };
            if next != mark + 1 {
                if room_state.filling < next - 1 {
                    room_state.filling = next - 1;
                    self.gaps.push(Gap {
                        room: room.to_owned(),
                        after: mark,
                        through: next - 1,
                    });
                }
                break;
            }
            let (line, origin) = room_state.pending.remove(&next).expect("present");
            room_state.mark = Some(next);
            push_history(room_state, line.clone(), &self.limits);
            self.deliver_line(room, &line, origin);
            // Each ack right after its own line: after every earlier one, before later ones.
            self.release_acks(room);
        }
        self.release_acks(room);
    }

    fn release_acks(&mut self, room: &str) {
        let Some(room_state) = self.rooms.get_mut(room) else {
            return;
        };
        let Some(mark) = room_state.mark else {
            return;
        };
        let later = room_state.acks.split_off(&(mark + 1));
        let due = std::mem::replace(&mut room_state.acks, later);
        for (_, acks) in due {
            self.out.extend(acks);
        }
    }

    /// Shared mode, after the subscription to the log was (re)established: the gaps to
    /// fill (everything after each room's mark), one per room with members here.
    pub fn resynchronise(&mut self) -> Vec<Gap> {
        let mut gaps = Vec::new();
        for (name, room) in &mut self.rooms {
            if let Some(mark) = room.mark {
                if !room.members.is_empty() {
                    // From the oldest line a member here still misses, if any.
                    let after = room
                        .behind
                        .values()
                        .map(|(from, _)| *from)
                        .fold(mark, Seq::min);
                    gaps.push(Gap {
                        room: name.clone(),
                        after,
                        through: Seq::MAX,
                    });
                }
            }
        }
        gaps
    }

    /// Shared mode: every membership of this server, to record again in the shared
    /// registry after the connection to it was lost.
    pub fn memberships(&self) -> Vec<Announcement> {
        let mut all = Vec::new();
        for (name, room) in &self.rooms {
            for conn in &room.members {
                if let Some(member) = self.members.get(conn) {
                    all.push(Announcement::Set {
                        room: name.clone(),
                        conn: *conn,
                        nick: member.nick.clone(),
                    });
                }
            }
        }
        all
    }

    /// Every connection, for telling them all something (closing them after a reset).
    pub fn connections(&self) -> Vec<(ConnId, Dialect)> {
        self.members
            .iter()
            .map(|(id, member)| (*id, member.dialect))
            .collect()
    }

    /// Shared mode: the log lost its history (a new epoch). Every room starts again from
    /// nothing; held acks and pending lines are dropped and session scopes forgotten.
    pub fn reset_history(&mut self) {
        for room in self.rooms.values_mut() {
            room.history.clear();
            room.history_bytes = 0;
            room.pending.clear();
            room.acks.clear();
            room.behind.clear();
            room.full_history = true;
            room.filling = 0;
            room.mark = Some(0);
        }
        for member in self.members.values_mut() {
            for given in member.rooms.values_mut() {
                *given = 0;
            }
        }
        for scope in self.scopes.values_mut() {
            scope.lines.clear();
            scope.ids.clear();
            scope.ids_order.clear();
            scope.expected = 1;
        }
    }

    /// An application event from `conn` to the other JSON members of `room`; with `ack`,
    /// `event_ack` follows once the event is queued for every member here.
    pub fn emit(
        &mut self,
        conn: ConnId,
        room: &str,
        event: &str,
        data: JsonText,
        ack: Option<u64>,
    ) -> Result<(), ProtocolError> {
        let member = &self.members[&conn];
        if !member.rooms.contains_key(room) {
            return Err(not_joined(room));
        }
        let envelope = ServerEnvelope::Event {
            room: room.to_owned(),
            event: event.to_owned(),
            from: member.nick.clone(),
            data,
        };
        self.broadcast_json(room, Some(conn), &envelope);
        self.announce(Announcement::Notice {
            room: room.to_owned(),
            conn,
            envelope,
        });
        if let Some(ack) = ack {
            self.reply(conn, &ServerEnvelope::EventAck { ack });
        }
        Ok(())
    }

    /// A notice (presence, event) from another server for this server's JSON members of
    /// `room`.
    pub fn notice(&mut self, room: &str, envelope: &ServerEnvelope) {
        self.broadcast_json(room, None, envelope);
    }

    /// Sends `envelope`, encoded once, to every JSON member of `room` but `except`.
    fn broadcast_json(&mut self, room: &str, except: Option<ConnId>, envelope: &ServerEnvelope) {
        let Some(room_state) = self.rooms.get(room) else {
            return;
        };
        let mut encoded: Option<Message> = None;
        for id in &room_state.members {
            if Some(*id) == except {
                continue;
            }
            let member = &self.members[id];
            if member.dialect == Dialect::Json && member.rooms.contains_key(room) {
                let message = encoded.get_or_insert_with(|| encode(envelope)).clone();
                self.out.push(Out { to: *id, message });
            }
        }
    }

    /// Delivers a line: JSON members but the sender get `message` (with the `id` only in
    /// the sender's scope), plain members (the sender too) get `nick: text`. Members whose
    /// join or replay already covered it are skipped.
    fn deliver_line(&mut self, room: &str, line: &Line, sender: Option<ConnId>) {
        let room_state = &self.rooms[room];
        let seq = line.entry.seq;
        let mut public: Option<Message> = None;
        let mut own: Option<Message> = None;
        let mut plain: Option<Message> = None;
        for id in &room_state.members {
            let member = &self.members[id];
            match member.rooms.get(room) {
                Some(given) if *given < seq => {}
                _ => continue,
            }
            let message = match member.dialect {
                Dialect::Json if Some(*id) == sender => continue,
                Dialect::Json if line.scope.as_deref() == Some(member.scope.as_str()) => own
                    .get_or_insert_with(|| encode(&message_envelope(room, line.entry.clone())))
                    .clone(),
                Dialect::Json => public
                    .get_or_insert_with(|| {
                        let mut entry = line.entry.clone();
                        entry.id = None;
                        encode(&message_envelope(room, entry))
                    })
                    .clone(),
                Dialect::Plain => plain
                    .get_or_insert_with(|| {
                        Message::Text(Utf8Bytes::from(format!(
                            "{}: {}",
                            line.entry.from, line.entry.text
                        )))
                    })
                    .clone(),
            };
            self.out.push(Out { to: *id, message });
        }
        // No mark to move: lines are delivered in increasing order, so a member's mark
        // only matters for the lines its join or replay already covered.
    }
}

/// The last number of the lines after `after` that `room`'s history holds without a hole
/// (`after` itself when it holds none of them).
fn local_reach(room: &Room, after: Seq) -> Seq {
    let mut reach = after;
    for line in &room.history {
        let seq = line.entry.seq;
        if seq <= reach {
            continue;
        }
        if seq != reach + 1 {
            break;
        }
        reach = seq;
    }
    reach
}

/// Appends to a room's history, dropping the oldest lines past the count or byte budget.
fn push_history(room: &mut Room, line: Line, limits: &CoreLimits) {
    if limits.history == 0 {
        return;
    }
    room.history_bytes += line_bytes(&line);
    room.history.push_back(line);
    while room.history.len() > limits.history
        || (room.history_bytes > limits.history_bytes && room.history.len() > 1)
    {
        if let Some(old) = room.history.pop_front() {
            room.history_bytes -= line_bytes(&old);
        }
    }
}

#[cfg(test)]
mod tests;
