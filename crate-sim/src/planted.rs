//! Deliberately wrong variants of a client or a server, built as wrappers around a correct
//! one, each reproducing a bug of the code before issue 13. Tests plug them in and assert
//! that the simulation reports a broken invariant: proof that the invariants can fail.
//!
//! - [`SwallowRateLimited`]: a line refused `rate_limited` is dropped without a word (the
//!   old session forgot a refused line, or kept it forever when the refusal named none).
//! - [`StripLineNumbers`]: lines go out without `n`, so a line refused and re-sent lands
//!   after the lines sent behind it (the old reorder).
//! - [`OldSeenMark`]: one "seen" number per room that jumps to whatever arrives last, and
//!   (optionally) to the client's own acknowledged lines; anything at or below it is
//!   dropped and resumes start above it.
//! - [`LaggingDeliveries`]: a server whose deliveries reach a client late while its acks
//!   go straight out, as through the old Redis subscription (acks overtake deliveries).
//! - [`JoinOvertaken`]: a server whose `joined` answer can be overtaken by a live line of
//!   that room (the old Redis join).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use ferrosocket_wire::chat::{ClientEnvelope, ErrorCode, HistoryEntry, Seq, ServerEnvelope};

use crate::actor::{AppEvent, ConnId, Millis, ServerOutput, SimClient, SimServer};
use crate::rng::Rng;

/// Drops every line the server refuses with `rate_limited`, telling no one.
#[derive(Debug)]
pub struct SwallowRateLimited<C> {
    inner: C,
    rooms: BTreeMap<String, String>,
    hidden: BTreeSet<String>,
}

impl<C> SwallowRateLimited<C> {
    /// Wraps `inner`.
    pub fn new(inner: C) -> Self {
        SwallowRateLimited {
            inner,
            rooms: BTreeMap::new(),
            hidden: BTreeSet::new(),
        }
    }
}

impl<C: SimClient> SimClient for SwallowRateLimited<C> {
    fn connected(&mut self, now: Millis) {
        self.inner.connected(now)
    }
    fn disconnected(&mut self, now: Millis) {
        self.inner.disconnected(now)
    }
    fn received(&mut self, envelope: ServerEnvelope, now: Millis) {
        if let ServerEnvelope::Error {
            code: ErrorCode::RateLimited,
            reference,
            ..
        } = &envelope
        {
            // The inner client is made to forget the line (a pretend acknowledgement
            // whose report is hidden); a refusal naming no line is just lost.
            if let Some(id) = reference {
                if let Some(room) = self.rooms.get(id).cloned() {
                    self.hidden.insert(id.clone());
                    let forget = ServerEnvelope::Ack {
                        id: Some(id.clone()),
                        room,
                        seq: 0,
                    };
                    return self.inner.received(forget, now);
                }
            }
            return;
        }
        self.inner.received(envelope, now)
    }
    fn send(&mut self, room: &str, text: &str, now: Millis) -> String {
        self.inner.send(room, text, now)
    }
    fn join(&mut self, room: &str, now: Millis) {
        self.inner.join(room, now)
    }
    fn tick(&mut self, now: Millis) {
        self.inner.tick(now)
    }
    fn poll_transmit(&mut self) -> Option<ClientEnvelope> {
        let envelope = self.inner.poll_transmit()?;
        if let ClientEnvelope::Send {
            room, id: Some(id), ..
        } = &envelope
        {
            self.rooms.insert(id.clone(), room.clone());
        }
        Some(envelope)
    }
    fn poll_event(&mut self) -> Option<AppEvent> {
        loop {
            let event = self.inner.poll_event()?;
            match &event {
                AppEvent::Sent { id, .. } if self.hidden.contains(id) => continue,
                _ => return Some(event),
            }
        }
    }
    fn next_wakeup(&self) -> Option<Millis> {
        self.inner.next_wakeup()
    }
    fn unacknowledged(&self) -> usize {
        self.inner.unacknowledged()
    }
}

/// Sends every line without its number `n` (and sessions without `next`).
#[derive(Debug)]
pub struct StripLineNumbers<C> {
    inner: C,
}

impl<C> StripLineNumbers<C> {
    /// Wraps `inner`.
    pub fn new(inner: C) -> Self {
        StripLineNumbers { inner }
    }
}

impl<C: SimClient> SimClient for StripLineNumbers<C> {
    fn connected(&mut self, now: Millis) {
        self.inner.connected(now)
    }
    fn disconnected(&mut self, now: Millis) {
        self.inner.disconnected(now)
    }
    fn received(&mut self, envelope: ServerEnvelope, now: Millis) {
        self.inner.received(envelope, now)
    }
    fn send(&mut self, room: &str, text: &str, now: Millis) -> String {
        self.inner.send(room, text, now)
    }
    fn join(&mut self, room: &str, now: Millis) {
        self.inner.join(room, now)
    }
    fn tick(&mut self, now: Millis) {
        self.inner.tick(now)
    }
    fn poll_transmit(&mut self) -> Option<ClientEnvelope> {
        Some(match self.inner.poll_transmit()? {
            ClientEnvelope::Send { room, text, id, .. } => ClientEnvelope::Send {
                room,
                text,
                id,
                n: None,
            },
            ClientEnvelope::Session { token, .. } => ClientEnvelope::Session { token, next: None },
            other => other,
        })
    }
    fn poll_event(&mut self) -> Option<AppEvent> {
        self.inner.poll_event()
    }
    fn next_wakeup(&self) -> Option<Millis> {
        self.inner.next_wakeup()
    }
    fn unacknowledged(&self) -> usize {
        self.inner.unacknowledged()
    }
}

/// The old client's "seen" rule: one number per room, raised by every line that arrives
/// live or in a replay (and, with
/// `acks_raise`, by the client's own acknowledgements); lines at or below it are dropped
/// and a resume asks only for what is above it.
#[derive(Debug)]
pub struct OldSeenMark<C> {
    inner: C,
    acks_raise: bool,
    marks: BTreeMap<String, Seq>,
    epoch: Option<String>,
}

impl<C> OldSeenMark<C> {
    /// Wraps `inner`; `acks_raise` makes acknowledgements raise the mark too.
    pub fn new(inner: C, acks_raise: bool) -> Self {
        OldSeenMark {
            inner,
            acks_raise,
            marks: BTreeMap::new(),
            epoch: None,
        }
    }

    /// Whether an entry numbered `seq` in `room` passes (and raises the mark).
    fn pass(&mut self, room: &str, seq: Seq) -> bool {
        let mark = self.marks.entry(room.to_owned()).or_insert(0);
        if seq <= *mark {
            return false;
        }
        *mark = seq;
        true
    }
}

impl<C: SimClient> SimClient for OldSeenMark<C> {
    fn connected(&mut self, now: Millis) {
        self.inner.connected(now)
    }
    fn disconnected(&mut self, now: Millis) {
        self.inner.disconnected(now)
    }
    fn received(&mut self, envelope: ServerEnvelope, now: Millis) {
        let envelope = match envelope {
            ServerEnvelope::Welcome { ref epoch, .. } => {
                if self.epoch.as_ref().is_some_and(|known| known != epoch) {
                    self.marks.clear();
                }
                self.epoch = Some(epoch.clone());
                envelope
            }
            ServerEnvelope::Message { ref room, seq, .. } => {
                if !self.pass(&room.clone(), seq) {
                    return;
                }
                envelope
            }
            ServerEnvelope::Joined {
                room,
                members,
                history,
            } => {
                // Filtered by the mark but not raising it: a wrapped client may ignore a
                // `joined` (its own rules), and the mark must not claim what it never read.
                let mark = self.marks.get(&room).copied().unwrap_or(0);
                let history: Vec<HistoryEntry> = history
                    .into_iter()
                    .filter(|entry| entry.seq > mark)
                    .collect();
                ServerEnvelope::Joined {
                    room,
                    members,
                    history,
                }
            }
            ServerEnvelope::Ack { ref room, seq, .. } if self.acks_raise => {
                let mark = self.marks.entry(room.clone()).or_insert(0);
                *mark = (*mark).max(seq);
                envelope
            }
            other => other,
        };
        self.inner.received(envelope, now)
    }
    fn send(&mut self, room: &str, text: &str, now: Millis) -> String {
        self.inner.send(room, text, now)
    }
    fn join(&mut self, room: &str, now: Millis) {
        self.inner.join(room, now)
    }
    fn tick(&mut self, now: Millis) {
        self.inner.tick(now)
    }
    fn poll_transmit(&mut self) -> Option<ClientEnvelope> {
        Some(match self.inner.poll_transmit()? {
            ClientEnvelope::Resume {
                room,
                after_seq,
                epoch,
            } => {
                let mark = self.marks.get(&room).copied().unwrap_or(0);
                ClientEnvelope::Resume {
                    room,
                    after_seq: after_seq.max(mark),
                    epoch,
                }
            }
            other => other,
        })
    }
    fn poll_event(&mut self) -> Option<AppEvent> {
        self.inner.poll_event()
    }
    fn next_wakeup(&self) -> Option<Millis> {
        self.inner.next_wakeup()
    }
    fn unacknowledged(&self) -> usize {
        self.inner.unacknowledged()
    }
}

/// Holds each connection's envelopes for a random while, in order, except acks, which go
/// straight out: the old Redis mode, where acks overtook deliveries.
#[derive(Debug)]
pub struct LaggingDeliveries<S> {
    inner: S,
    rng: Rng,
    held: BTreeMap<ConnId, (Millis, VecDeque<ServerOutput>)>,
    out: VecDeque<ServerOutput>,
    now: Millis,
}

impl<S> LaggingDeliveries<S> {
    /// Wraps `inner`; `seed` decides the lags.
    pub fn new(inner: S, seed: u64) -> Self {
        LaggingDeliveries {
            inner,
            rng: Rng::new(seed),
            held: BTreeMap::new(),
            out: VecDeque::new(),
            now: 0,
        }
    }
}

impl<S: SimServer> LaggingDeliveries<S> {
    fn collect(&mut self, now: Millis) {
        self.now = now;
        while let Some(output) = self.inner.poll_output() {
            let conn = match &output {
                ServerOutput::Send(_, ServerEnvelope::Ack { .. }) => {
                    self.out.push_back(output);
                    continue;
                }
                ServerOutput::Send(conn, _) | ServerOutput::Close(conn, _) => *conn,
            };
            let lag = self.rng.range(1, 300);
            let slot = self
                .held
                .entry(conn)
                .or_insert_with(|| (now + lag, VecDeque::new()));
            slot.1.push_back(output);
        }
        let due: Vec<ConnId> = self
            .held
            .iter()
            .filter(|(_, (at, _))| *at <= now)
            .map(|(&conn, _)| conn)
            .collect();
        for conn in due {
            let (_, queue) = self.held.remove(&conn).expect("due");
            self.out.extend(queue);
        }
    }
}

impl<S: SimServer> SimServer for LaggingDeliveries<S> {
    fn connect(&mut self, conn: ConnId, now: Millis) {
        self.inner.connect(conn, now);
        self.collect(now);
    }
    fn received(&mut self, conn: ConnId, text: &str, now: Millis) {
        self.inner.received(conn, text, now);
        self.collect(now);
    }
    fn disconnected(&mut self, conn: ConnId, now: Millis) {
        self.inner.disconnected(conn, now);
        self.held.remove(&conn);
        self.collect(now);
    }
    fn tick(&mut self, now: Millis) {
        self.inner.tick(now);
        self.collect(now);
    }
    fn next_wakeup(&self) -> Option<Millis> {
        let held = self.held.values().map(|(at, _)| *at).min();
        match (held, self.inner.next_wakeup()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
    fn poll_output(&mut self) -> Option<ServerOutput> {
        self.out.pop_front()
    }
    fn rate(&self) -> (u32, u32) {
        self.inner.rate()
    }
}

/// Lets the next live line of a room overtake the `joined` answer of that room.
#[derive(Debug)]
pub struct JoinOvertaken<S> {
    inner: S,
    parked: BTreeMap<(ConnId, String), (Millis, ServerOutput)>,
    out: VecDeque<ServerOutput>,
}

/// How long a parked `joined` waits for a live line to overtake it.
const PARK_MS: Millis = 200;

impl<S> JoinOvertaken<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        JoinOvertaken {
            inner,
            parked: BTreeMap::new(),
            out: VecDeque::new(),
        }
    }
}

impl<S: SimServer> JoinOvertaken<S> {
    fn collect(&mut self, now: Millis) {
        while let Some(output) = self.inner.poll_output() {
            match &output {
                ServerOutput::Send(conn, ServerEnvelope::Joined { room, .. }) => {
                    let key = (*conn, room.clone());
                    if let Some((_, earlier)) = self.parked.remove(&key) {
                        self.out.push_back(earlier);
                    }
                    self.parked.insert(key, (now + PARK_MS, output));
                }
                ServerOutput::Send(conn, ServerEnvelope::Message { room, .. }) => {
                    let key = (*conn, room.clone());
                    self.out.push_back(output);
                    if let Some((_, joined)) = self.parked.remove(&key) {
                        self.out.push_back(joined);
                    }
                }
                _ => self.out.push_back(output),
            }
        }
        let due: Vec<(ConnId, String)> = self
            .parked
            .iter()
            .filter(|(_, (at, _))| *at <= now)
            .map(|(key, _)| key.clone())
            .collect();
        for key in due {
            let (_, joined) = self.parked.remove(&key).expect("due");
            self.out.push_back(joined);
        }
    }
}

impl<S: SimServer> SimServer for JoinOvertaken<S> {
    fn connect(&mut self, conn: ConnId, now: Millis) {
        self.inner.connect(conn, now);
        self.collect(now);
    }
    fn received(&mut self, conn: ConnId, text: &str, now: Millis) {
        self.inner.received(conn, text, now);
        self.collect(now);
    }
    fn disconnected(&mut self, conn: ConnId, now: Millis) {
        self.inner.disconnected(conn, now);
        self.parked.retain(|(c, _), _| *c != conn);
        self.collect(now);
    }
    fn tick(&mut self, now: Millis) {
        self.inner.tick(now);
        self.collect(now);
    }
    fn next_wakeup(&self) -> Option<Millis> {
        let parked = self.parked.values().map(|(at, _)| *at).min();
        match (parked, self.inner.next_wakeup()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
    fn poll_output(&mut self) -> Option<ServerOutput> {
        self.out.pop_front()
    }
    fn rate(&self) -> (u32, u32) {
        self.inner.rate()
    }
}
