//! [`CoreServer`]: the real hub core (`ferrosocket_server::chat::core::RoomsCore`) as a
//! [`SimServer`], with the glue the server's tokio code puts around it, step for step:
//! `chat/protocol.rs` (envelope dispatch, `welcome`, the lobby join, session tokens) and
//! `chat/hub.rs` (snapshots for joins and resumes, publishing, the backplane task that
//! feeds arrivals and fills gaps one at a time).
//!
//! Like the real connection, each connection handles one envelope at a time: while its
//! join, resume or send waits for the shared log, its next envelopes wait too.

use std::collections::{BTreeMap, VecDeque};

use ferrosocket_server::chat::core::{
    CoreLimits, Dialect, Gap, JoinStep, Line, Mode, Publish, RoomsCore, SendStep, Snapshot,
};
use ferrosocket_wire::chat::{
    ClientEnvelope, ErrorCode, HistoryEntry, ProtocolError, Seq, ServerEnvelope, LOBBY,
};

use crate::actor::{ConnId, LogLine, LogReply, LogRequest, Millis, ServerOutput, SimServer};

/// Session tokens the server accepts in a `session` envelope (`protocol.rs` TOKEN_LEN).
const TOKEN_LEN: std::ops::RangeInclusive<usize> = 16..=128;

/// Work waiting on one connection, in order.
#[derive(Debug)]
enum Work {
    Frame(String),
    Join(String),
}

#[derive(Debug)]
struct Conn {
    id: u64,
    busy: bool,
    work: VecDeque<Work>,
}

/// What a request to the log was for.
#[derive(Debug)]
enum Waiting {
    Publish(ConnId, Publish),
    Snapshot(ConnId, String, Option<Seq>),
    Fill(Gap),
}

/// Work of the backplane task (`hub.rs` `drive_backplane`), one at a time.
#[derive(Debug)]
enum Backplane {
    Arrive(LogLine),
    Fill(Gap),
    Subscribed,
}

/// One server: the real rooms core plus its connection and hub glue.
#[derive(Debug)]
pub struct CoreServer {
    core: RoomsCore,
    name: u64,
    epoch: String,
    rate: (u32, u32),
    history: usize,
    max_text_bytes: usize,
    conns: BTreeMap<ConnId, Conn>,
    by_core: BTreeMap<u64, ConnId>,
    out: VecDeque<ServerOutput>,
    next_tag: u64,
    waiting: BTreeMap<u64, Waiting>,
    requests: VecDeque<LogRequest>,
    backplane: VecDeque<Backplane>,
    backplane_busy: bool,
    now: Millis,
}

impl CoreServer {
    /// A server; `shared` for Redis mode. `name` is unique per server life; `epoch` is the
    /// history's epoch (a new one per life in memory, the log's in Redis mode).
    pub fn new(
        shared: bool,
        name: u64,
        epoch: &str,
        rate: (u32, u32),
        max_text_bytes: usize,
    ) -> CoreServer {
        let history = 100_000;
        let limits = CoreLimits {
            history,
            history_bytes: usize::MAX / 2,
            max_text_bytes,
            ..CoreLimits::default()
        };
        let mode = if shared { Mode::Shared } else { Mode::Local };
        CoreServer {
            core: RoomsCore::new(mode, limits),
            name,
            epoch: epoch.to_owned(),
            rate,
            history,
            max_text_bytes,
            conns: BTreeMap::new(),
            by_core: BTreeMap::new(),
            out: VecDeque::new(),
            next_tag: 0,
            waiting: BTreeMap::new(),
            requests: VecDeque::new(),
            backplane: VecDeque::new(),
            backplane_busy: false,
            now: 0,
        }
    }

    fn reply(&mut self, conn: ConnId, envelope: ServerEnvelope) {
        self.out.push_back(ServerOutput::Send(conn, envelope));
    }

    fn refuse(&mut self, conn: ConnId, err: ProtocolError) {
        self.reply(conn, err.into_envelope());
    }

    fn request(&mut self, waiting: Waiting, make: impl FnOnce(u64) -> LogRequest) {
        self.next_tag += 1;
        let tag = self.next_tag;
        self.waiting.insert(tag, waiting);
        self.requests.push_back(make(tag));
    }

    /// Moves the core's output to the connections and its gaps to the backplane task.
    fn flush(&mut self) {
        for out in self.core.take_output() {
            let Some(&conn) = self.by_core.get(&out.to) else {
                continue;
            };
            let text = out.message.to_text().unwrap_or_default().to_owned();
            match serde_json::from_str::<ServerEnvelope>(&text) {
                Ok(envelope) => self.reply(conn, envelope),
                Err(err) => panic!("the core wrote an unreadable envelope {text}: {err}"),
            }
        }
        let _ = self.core.take_announcements();
        let mut gaps = self.core.take_gaps();
        gaps.sort_by(|a, b| a.room.cmp(&b.room));
        for gap in gaps {
            self.backplane.push_back(Backplane::Fill(gap));
        }
        self.drive_backplane();
    }

    fn drive_backplane(&mut self) {
        while !self.backplane_busy {
            let Some(work) = self.backplane.pop_front() else {
                return;
            };
            match work {
                Backplane::Arrive(line) => {
                    let (room, line, origin) = self.core_line(line);
                    self.core.arrive(&room, line, origin);
                }
                Backplane::Fill(gap) => {
                    self.backplane_busy = true;
                    let (room, after, through) = (gap.room.clone(), gap.after, gap.through);
                    self.request(Waiting::Fill(gap), |tag| LogRequest::Range {
                        tag,
                        room,
                        after,
                        through,
                    });
                }
                Backplane::Subscribed => {
                    let _ = self.core.memberships();
                    let mut gaps = self.core.resynchronise();
                    // `RoomsCore` keeps rooms in a HashMap: its order is not reproducible.
                    gaps.sort_by(|a, b| a.room.cmp(&b.room));
                    for gap in gaps.into_iter().rev() {
                        self.backplane.push_front(Backplane::Fill(gap));
                    }
                }
            }
            // Output of arrivals (and gaps they reveal) goes out before the next work.
            for out in self.core.take_output() {
                if let Some(&conn) = self.by_core.get(&out.to) {
                    let text = out.message.to_text().unwrap_or_default().to_owned();
                    let envelope = serde_json::from_str::<ServerEnvelope>(&text)
                        .unwrap_or_else(|err| panic!("unreadable envelope {text}: {err}"));
                    self.reply(conn, envelope);
                }
            }
            let mut gaps = self.core.take_gaps();
            gaps.sort_by(|a, b| a.room.cmp(&b.room));
            for gap in gaps {
                self.backplane.push_back(Backplane::Fill(gap));
            }
        }
    }

    fn core_line(&self, line: LogLine) -> (String, Line, Option<u64>) {
        let origin = (line.origin.0 == self.name).then_some(line.origin.1);
        (
            line.room,
            Line {
                entry: HistoryEntry {
                    seq: line.seq,
                    from: line.from,
                    text: line.text,
                    ts: 0,
                    id: line.id,
                },
                scope: Some(line.scope),
            },
            origin,
        )
    }

    /// Handles what waits on `conn` until it must wait for the log.
    fn pump(&mut self, conn: ConnId) {
        loop {
            let Some(state) = self.conns.get_mut(&conn) else {
                return;
            };
            if state.busy {
                return;
            }
            let Some(work) = state.work.pop_front() else {
                return;
            };
            let id = state.id;
            match work {
                Work::Frame(text) => match ClientEnvelope::parse(&text) {
                    Ok(envelope) => self.handle(conn, id, envelope),
                    Err(err) => self.refuse(conn, err),
                },
                Work::Join(room) => match self.core.join(id, &room) {
                    Ok(step) => self.step(conn, id, &room, step),
                    Err(err) => {
                        self.flush();
                        self.refuse(conn, err);
                    }
                },
            }
            self.flush();
        }
    }

    /// After a join or resume: wait for a snapshot if the core needs one.
    fn step(&mut self, conn: ConnId, id: u64, room: &str, step: JoinStep) {
        let JoinStep::NeedSnapshot { resume_after } = step else {
            return;
        };
        let _ = id;
        self.conns.get_mut(&conn).expect("known").busy = true;
        let limit = self.history;
        let owned = room.to_owned();
        self.request(
            Waiting::Snapshot(conn, room.to_owned(), resume_after),
            |tag| LogRequest::Snapshot {
                tag,
                room: owned,
                after: resume_after,
                limit,
            },
        );
    }

    fn handle(&mut self, conn: ConnId, id: u64, envelope: ClientEnvelope) {
        let now = self.now;
        match envelope {
            ClientEnvelope::Nick { nick } => {
                if let Err(err) = self.core.set_nick(id, &nick) {
                    self.flush();
                    self.refuse(conn, err);
                }
            }
            ClientEnvelope::ListRooms => {
                let rooms = self.core.room_counts();
                self.reply(conn, ServerEnvelope::Rooms { rooms });
            }
            ClientEnvelope::Join { rooms } => {
                let mut seen = std::collections::BTreeSet::new();
                let rooms: Vec<String> = rooms
                    .into_iter()
                    .filter(|r| seen.insert(r.clone()))
                    .collect();
                let work = &mut self.conns.get_mut(&conn).expect("known").work;
                for room in rooms.into_iter().rev() {
                    work.push_front(Work::Join(room));
                }
            }
            ClientEnvelope::Leave { rooms } => {
                for room in rooms {
                    if let Err(err) = self.core.leave(id, &room) {
                        self.flush();
                        self.refuse(conn, err);
                    }
                }
            }
            ClientEnvelope::Send {
                room,
                text,
                id: key,
                n,
            } => match self.core.send(id, &room, &text, key, n, now) {
                SendStep::Done => {}
                SendStep::Publish(publish) => {
                    self.conns.get_mut(&conn).expect("known").busy = true;
                    let line = LogLine {
                        room: publish.room.clone(),
                        seq: 0,
                        from: publish.from.clone(),
                        text: publish.text.clone(),
                        id: publish.id.clone(),
                        scope: publish.scope.clone(),
                        origin: (self.name, publish.conn),
                    };
                    let n = publish.n;
                    self.request(Waiting::Publish(conn, publish), |tag| LogRequest::Publish {
                        tag,
                        line,
                        n,
                    });
                }
            },
            ClientEnvelope::Resume {
                room,
                after_seq,
                epoch,
            } => {
                let stale = epoch.is_some_and(|epoch| epoch != self.epoch);
                let after_seq = if stale { 0 } else { after_seq };
                match self.core.resume(id, &room, after_seq) {
                    Ok(step) => self.step(conn, id, &room, step),
                    Err(err) => {
                        self.flush();
                        self.refuse(conn, err);
                    }
                }
            }
            ClientEnvelope::Session { token, next } => {
                if TOKEN_LEN.contains(&token.len()) {
                    self.core.adopt_scope(id, scope_of(&token), next, now);
                } else {
                    self.refuse(
                        conn,
                        ProtocolError::new(
                            ErrorCode::InvalidField,
                            "`token` must be the `session` of an earlier `welcome`",
                        ),
                    );
                }
            }
            ClientEnvelope::Ping { id: ping } => {
                self.reply(conn, ServerEnvelope::Pong { id: ping })
            }
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
            ClientEnvelope::Emit {
                room,
                event,
                data,
                ack,
            } => {
                if let Err(mut err) = self.core.emit(id, &room, &event, data, ack) {
                    err.reference = ack.map(|ack| ack.to_string());
                    self.flush();
                    self.refuse(conn, err);
                }
            }
        }
    }
}

/// The scope a token names (the server keeps a digest, never the token).
fn scope_of(token: &str) -> String {
    format!("scope:{token}")
}

fn unavailable() -> ProtocolError {
    ProtocolError::new(
        ErrorCode::Unavailable,
        "the chat backplane (Redis) is unreachable: the message was not accepted; retry later",
    )
}

impl SimServer for CoreServer {
    fn connect(&mut self, conn: ConnId, now: Millis) {
        self.now = now;
        let token = format!("token-{:08}-{conn:08}", self.name);
        let (id, nick) = self.core.connect(Dialect::Json, scope_of(&token), now);
        self.by_core.insert(id, conn);
        self.conns.insert(
            conn,
            Conn {
                id,
                busy: false,
                work: VecDeque::from([Work::Join(LOBBY.to_owned())]),
            },
        );
        self.reply(
            conn,
            ServerEnvelope::Welcome {
                nick,
                history_limit: self.history,
                rate_limit: self.rate.0,
                epoch: self.epoch.clone(),
                rate_burst: self.rate.1,
                max_text_bytes: self.max_text_bytes,
                session: token,
            },
        );
        self.pump(conn);
    }

    fn received(&mut self, conn: ConnId, text: &str, now: Millis) {
        self.now = now;
        if let Some(state) = self.conns.get_mut(&conn) {
            state.work.push_back(Work::Frame(text.to_owned()));
            self.pump(conn);
        }
    }

    fn disconnected(&mut self, conn: ConnId, now: Millis) {
        self.now = now;
        if let Some(state) = self.conns.remove(&conn) {
            // Like a dropped connection task: whatever it awaited is abandoned.
            self.waiting.retain(|_, w| match w {
                Waiting::Publish(c, _) | Waiting::Snapshot(c, ..) => *c != conn,
                Waiting::Fill(_) => true,
            });
            self.by_core.remove(&state.id);
            self.core.disconnect(state.id, now);
            self.flush();
        }
    }

    fn poll_output(&mut self) -> Option<ServerOutput> {
        self.out.pop_front()
    }

    fn rate(&self) -> (u32, u32) {
        self.rate
    }

    fn log_name(&self) -> u64 {
        self.name
    }

    fn poll_log_request(&mut self) -> Option<LogRequest> {
        self.requests.pop_front()
    }

    fn log_reply(&mut self, reply: LogReply, now: Millis) {
        self.now = now;
        let tag = match &reply {
            LogReply::Published { tag, .. }
            | LogReply::Lines { tag, .. }
            | LogReply::Unreachable { tag } => *tag,
        };
        let Some(waiting) = self.waiting.remove(&tag) else {
            return;
        };
        match waiting {
            Waiting::Publish(conn, publish) => {
                let result = match reply {
                    LogReply::Published { seq, .. } => Ok(seq),
                    _ => Err(unavailable()),
                };
                self.core.published(publish, result);
                self.flush();
                if let Some(state) = self.conns.get_mut(&conn) {
                    state.busy = false;
                }
                self.pump(conn);
            }
            Waiting::Snapshot(conn, room, resume_after) => {
                let snapshot = match reply {
                    LogReply::Lines {
                        lines, last_seq, ..
                    } => Some(Snapshot {
                        lines: lines
                            .into_iter()
                            .map(|line| self.core_line(line).1)
                            .collect(),
                        last_seq,
                        members: Vec::new(),
                    }),
                    _ => None,
                };
                if let Some(&Conn { id, .. }) = self.conns.get(&conn) {
                    self.core.complete_join(id, &room, resume_after, snapshot);
                    self.flush();
                    self.conns.get_mut(&conn).expect("known").busy = false;
                    self.pump(conn);
                }
            }
            Waiting::Fill(gap) => {
                self.backplane_busy = false;
                if let LogReply::Lines { lines, .. } = reply {
                    let lines = lines
                        .into_iter()
                        .map(|line| {
                            let (_, line, origin) = self.core_line(line);
                            (line, origin)
                        })
                        .collect();
                    self.core.fill(&gap.room, lines, gap.through);
                }
                // A fill that failed waits for the next subscription (as the hub does).
                self.flush();
            }
        }
    }

    fn log_arrived(&mut self, line: LogLine, now: Millis) {
        self.now = now;
        self.backplane.push_back(Backplane::Arrive(line));
        self.flush();
    }

    fn log_link(&mut self, up: bool, now: Millis) {
        self.now = now;
        if up {
            self.backplane.push_back(Backplane::Subscribed);
            self.flush();
        }
    }
}
