//! [`ModelServer`]: a small in-memory hub written straight from the agreed delivery design
//! (issue 13, docs/PROTOCOL.md): session scopes with line numbers, a ring of recent
//! outcomes, ids shown only to their own scope. It tests the simulator itself and stands in
//! for the real hub core where that is absent.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use ferrosocket_wire::chat::{
    ClientEnvelope, ErrorCode, HistoryEntry, ProtocolError, Seq, ServerEnvelope, LOBBY,
};

use crate::actor::{ConnId, Millis, ServerOutput, SimServer};

/// Outcomes a scope remembers (the design's ring of 256).
const RING: u64 = 256;

type Outcome = Result<(String, Seq), (ErrorCode, String)>;

#[derive(Debug, Default)]
struct Scope {
    expected: u64,
    outcomes: BTreeMap<u64, Outcome>,
    ids: BTreeMap<String, (String, Seq)>,
}

#[derive(Debug)]
struct Member {
    nick: String,
    scope: String,
    rooms: BTreeSet<String>,
}

#[derive(Debug, Default)]
struct Room {
    members: BTreeSet<ConnId>,
    /// Entries with the scope of their sender.
    history: VecDeque<(HistoryEntry, String)>,
    last_seq: Seq,
}

/// The reference hub: one server's rooms in memory.
#[derive(Debug)]
pub struct ModelServer {
    epoch: String,
    rate: (u32, u32),
    history_limit: usize,
    max_text_bytes: usize,
    members: BTreeMap<ConnId, Member>,
    rooms: BTreeMap<String, Room>,
    scopes: BTreeMap<String, Scope>,
    out: VecDeque<ServerOutput>,
}

impl ModelServer {
    /// A server in epoch `epoch` with the given limits.
    pub fn new(epoch: &str, rate: (u32, u32), max_text_bytes: usize) -> ModelServer {
        ModelServer {
            epoch: epoch.to_owned(),
            rate,
            history_limit: 100_000,
            max_text_bytes,
            members: BTreeMap::new(),
            rooms: BTreeMap::new(),
            scopes: BTreeMap::new(),
            out: VecDeque::new(),
        }
    }

    fn reply(&mut self, conn: ConnId, envelope: ServerEnvelope) {
        self.out.push_back(ServerOutput::Send(conn, envelope));
    }

    fn refuse(&mut self, conn: ConnId, code: ErrorCode, message: &str, reference: Option<String>) {
        self.reply(
            conn,
            ServerEnvelope::Error {
                code,
                message: message.to_owned(),
                reference,
            },
        );
    }

    /// The entry as `conn` may see it: the key only for its own scope.
    fn shown(&self, conn: ConnId, entry: &HistoryEntry, scope: &str) -> HistoryEntry {
        let mut entry = entry.clone();
        if self.members[&conn].scope != scope {
            entry.id = None;
        }
        entry
    }

    fn enter(&mut self, conn: ConnId, room: &str) -> bool {
        let member = self.members.get_mut(&conn).expect("connected");
        if !member.rooms.insert(room.to_owned()) {
            return false;
        }
        self.rooms
            .entry(room.to_owned())
            .or_default()
            .members
            .insert(conn);
        true
    }

    fn join(&mut self, conn: ConnId, room: &str) {
        self.enter(conn, room);
        let state = &self.rooms[room];
        let members = state
            .members
            .iter()
            .map(|m| self.members[m].nick.clone())
            .collect();
        let history = state
            .history
            .iter()
            .map(|(entry, scope)| self.shown(conn, entry, scope))
            .collect();
        self.reply(
            conn,
            ServerEnvelope::Joined {
                room: room.to_owned(),
                members,
                history,
            },
        );
    }

    fn resume(&mut self, conn: ConnId, room: &str, after_seq: Seq) {
        self.enter(conn, room);
        let state = &self.rooms[room];
        let missed: Vec<HistoryEntry> = state
            .history
            .iter()
            .filter(|(entry, _)| entry.seq > after_seq)
            .map(|(entry, scope)| self.shown(conn, entry, scope))
            .collect();
        let first_kept = state
            .history
            .front()
            .map_or(state.last_seq + 1, |(e, _)| e.seq);
        let last_seq = state.last_seq;
        for entry in missed {
            self.reply(
                conn,
                ServerEnvelope::Message {
                    room: room.to_owned(),
                    seq: entry.seq,
                    from: entry.from,
                    text: entry.text,
                    ts: entry.ts,
                    id: entry.id,
                },
            );
        }
        self.reply(
            conn,
            ServerEnvelope::Resumed {
                room: room.to_owned(),
                last_seq,
                complete: after_seq + 1 >= first_kept || after_seq >= last_seq,
            },
        );
    }

    /// Validates and accepts one line; the outcome the design stores.
    fn accept(&mut self, conn: ConnId, room: &str, text: &str, id: Option<&str>) -> Outcome {
        let member = &self.members[&conn];
        if !member.rooms.contains(room) {
            return Err((
                ErrorCode::NotJoined,
                format!("you are not in room {room:?}"),
            ));
        }
        if text.len() > self.max_text_bytes {
            return Err((ErrorCode::TooLarge, "the text is too long".to_owned()));
        }
        let (from, scope) = (member.nick.clone(), member.scope.clone());
        let state = self.rooms.get_mut(room).expect("joined rooms exist");
        state.last_seq += 1;
        let entry = HistoryEntry {
            seq: state.last_seq,
            from,
            text: text.to_owned(),
            ts: 0,
            id: id.map(str::to_owned),
        };
        if state.history.len() == self.history_limit {
            state.history.pop_front();
        }
        state.history.push_back((entry.clone(), scope.clone()));
        let others: Vec<ConnId> = state
            .members
            .iter()
            .copied()
            .filter(|&m| m != conn)
            .collect();
        for other in others {
            let shown = self.shown(other, &entry, &scope);
            self.reply(
                other,
                ServerEnvelope::Message {
                    room: room.to_owned(),
                    seq: shown.seq,
                    from: shown.from,
                    text: shown.text,
                    ts: shown.ts,
                    id: shown.id,
                },
            );
        }
        Ok((room.to_owned(), entry.seq))
    }

    fn answer(&mut self, conn: ConnId, outcome: Outcome, id: Option<String>) {
        match outcome {
            Ok((room, seq)) => self.reply(conn, ServerEnvelope::Ack { id, room, seq }),
            Err((code, message)) => self.refuse(conn, code, &message, id),
        }
    }

    fn send(&mut self, conn: ConnId, room: &str, text: &str, id: Option<String>, n: Option<u64>) {
        let scope_name = self.members[&conn].scope.clone();
        if id.as_ref().is_some_and(|id| id.len() > 64) {
            return self.refuse(conn, ErrorCode::InvalidField, "id too long", id);
        }
        let Some(n) = n else {
            if let Some(key) = &id {
                if let Some((room, seq)) = self.scopes[&scope_name].ids.get(key).cloned() {
                    return self.answer(conn, Ok((room, seq)), id);
                }
            }
            let outcome = self.accept(conn, room, text, id.as_deref());
            if let (Ok(accepted), Some(key)) = (&outcome, &id) {
                let scope = self.scopes.get_mut(&scope_name).expect("scope");
                scope.ids.insert(key.clone(), accepted.clone());
            }
            return self.answer(conn, outcome, id);
        };
        let expected = self.scopes[&scope_name].expected;
        if n < expected {
            let stored = self.scopes[&scope_name].outcomes.get(&n).cloned();
            let outcome = stored.unwrap_or_else(|| {
                Err((
                    ErrorCode::InvalidField,
                    format!("line {n} is too old to answer"),
                ))
            });
            return self.answer(conn, outcome, id);
        }
        if n > expected {
            return self.refuse(
                conn,
                ErrorCode::OutOfOrder,
                &format!("expected line {expected}"),
                id,
            );
        }
        let outcome = self.accept(conn, room, text, id.as_deref());
        let scope = self.scopes.get_mut(&scope_name).expect("scope");
        scope.expected += 1;
        scope.outcomes.insert(n, outcome.clone());
        if n >= RING {
            scope.outcomes.remove(&(n - RING));
        }
        self.answer(conn, outcome, id);
    }

    fn handle(&mut self, conn: ConnId, envelope: ClientEnvelope) {
        match envelope {
            ClientEnvelope::Nick { nick } => {
                self.members.get_mut(&conn).expect("connected").nick = nick.clone();
                self.reply(conn, ServerEnvelope::Nick { nick });
            }
            ClientEnvelope::ListRooms => self.reply(conn, ServerEnvelope::Rooms { rooms: vec![] }),
            ClientEnvelope::Join { rooms } => {
                for room in rooms {
                    self.join(conn, &room);
                }
            }
            ClientEnvelope::Leave { rooms } => {
                for room in rooms {
                    self.members
                        .get_mut(&conn)
                        .expect("connected")
                        .rooms
                        .remove(&room);
                    if let Some(state) = self.rooms.get_mut(&room) {
                        state.members.remove(&conn);
                    }
                    self.reply(conn, ServerEnvelope::Left { room });
                }
            }
            ClientEnvelope::Send { room, text, id, n } => self.send(conn, &room, &text, id, n),
            ClientEnvelope::Session { token, next } => {
                let scope = self.scopes.entry(token.clone()).or_insert_with(|| Scope {
                    expected: next.unwrap_or(1),
                    ..Scope::default()
                });
                scope.expected = scope.expected.max(next.unwrap_or(1));
                self.members.get_mut(&conn).expect("connected").scope = token;
            }
            ClientEnvelope::Resume {
                room,
                after_seq,
                epoch,
            } => {
                let stale = epoch.is_some_and(|epoch| epoch != self.epoch);
                self.resume(conn, &room, if stale { 0 } else { after_seq });
            }
            ClientEnvelope::Ping { id } => self.reply(conn, ServerEnvelope::Pong { id }),
            ClientEnvelope::Emit { .. } => {}
            // The simulated servers check no tokens, like a real one without
            // `--auth-jwt-secret`.
            ClientEnvelope::Refresh { .. } => self.reply(
                conn,
                ServerEnvelope::Error {
                    code: ferrosocket_wire::chat::ErrorCode::InvalidField,
                    message: "this server checks no tokens: there is nothing to refresh".into(),
                    reference: None,
                },
            ),
        }
    }
}

impl SimServer for ModelServer {
    fn connect(&mut self, conn: ConnId, _now: Millis) {
        let token = format!("{}-session-{conn}", self.epoch);
        self.scopes.insert(
            token.clone(),
            Scope {
                expected: 1,
                ..Scope::default()
            },
        );
        self.members.insert(
            conn,
            Member {
                nick: format!("guest-{conn}"),
                scope: token.clone(),
                rooms: BTreeSet::new(),
            },
        );
        self.reply(
            conn,
            ServerEnvelope::Welcome {
                nick: format!("guest-{conn}"),
                history_limit: self.history_limit,
                rate_limit: self.rate.0,
                epoch: self.epoch.clone(),
                rate_burst: self.rate.1,
                max_text_bytes: self.max_text_bytes,
                session: token,
            },
        );
        self.join(conn, LOBBY);
    }

    fn received(&mut self, conn: ConnId, text: &str, _now: Millis) {
        if !self.members.contains_key(&conn) {
            return;
        }
        match ClientEnvelope::parse(text) {
            Ok(envelope) => self.handle(conn, envelope),
            Err(ProtocolError {
                code,
                message,
                reference,
            }) => self.refuse(conn, code, &message, reference),
        }
    }

    fn disconnected(&mut self, conn: ConnId, _now: Millis) {
        if let Some(member) = self.members.remove(&conn) {
            for room in member.rooms {
                if let Some(state) = self.rooms.get_mut(&room) {
                    state.members.remove(&conn);
                }
            }
        }
    }

    fn poll_output(&mut self) -> Option<ServerOutput> {
        self.out.pop_front()
    }

    fn rate(&self) -> (u32, u32) {
        self.rate
    }
}
