//! [`ModelClient`]: a small chat session written straight from the agreed client rules
//! (issue 13): lines numbered in send order, at most 16 in flight, paced below the
//! server's rate, retryable refusals put back in order, a contiguous seen mark per room
//! with gap filling. It tests the simulator itself and stands in for the real session core
//! where that is absent.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use ferrosocket_wire::chat::{ClientEnvelope, ErrorCode, Seq, ServerEnvelope};

use crate::actor::{AppEvent, Millis, SimClient};

/// Lines in flight at most.
const WINDOW: usize = 16;
/// Wait after a retryable refusal.
const RETRY_MS: Millis = 1_000;
/// Wait before asking again for a gap that is still open.
const GAP_RETRY_MS: Millis = 2_000;

#[derive(Debug, Clone)]
struct Line {
    id: String,
    n: u64,
    room: String,
    text: String,
}

#[derive(Debug, Default)]
struct RoomView {
    /// Every line up to here was shown (or is one of ours).
    mark: Seq,
    /// Our own acknowledged lines above the mark.
    own: BTreeSet<Seq>,
    /// Lines above a gap, waiting for it to fill.
    waiting: BTreeMap<Seq, String>,
    /// When we last asked for the gap.
    asked: Option<Millis>,
}

/// The reference session.
#[derive(Debug)]
pub struct ModelClient {
    tag: String,
    next_id: u64,
    next_n: u64,
    token: Option<String>,
    epoch: Option<String>,
    open: bool,
    welcomed: bool,
    /// This connection continues an earlier session.
    reconnected: bool,
    /// Rooms whose `joined` answer we asked for on this connection.
    asked: BTreeSet<String>,
    rooms: BTreeMap<String, RoomView>,
    queue: VecDeque<Line>,
    flight: VecDeque<Line>,
    pace: f64,
    burst: f64,
    tokens: f64,
    refilled: Millis,
    retry_at: Millis,
    resync_at: Option<Millis>,
    max_text_bytes: usize,
    out: VecDeque<ClientEnvelope>,
    events: VecDeque<AppEvent>,
}

impl ModelClient {
    /// A session whose keys start with `tag`.
    pub fn new(tag: &str) -> ModelClient {
        let mut rooms = BTreeMap::new();
        rooms.insert(
            ferrosocket_wire::chat::LOBBY.to_owned(),
            RoomView::default(),
        );
        ModelClient {
            tag: tag.to_owned(),
            next_id: 0,
            next_n: 1,
            token: None,
            epoch: None,
            open: false,
            welcomed: false,
            reconnected: false,
            asked: BTreeSet::new(),
            rooms,
            queue: VecDeque::new(),
            flight: VecDeque::new(),
            pace: 1.0,
            burst: 1.0,
            tokens: 0.0,
            refilled: 0,
            retry_at: 0,
            resync_at: None,
            max_text_bytes: 0,
            out: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    fn transmit(&mut self, envelope: ClientEnvelope) {
        self.tokens -= 1.0;
        self.out.push_back(envelope);
    }

    fn refill(&mut self, now: Millis) {
        let elapsed = now.saturating_sub(self.refilled) as f64 / 1000.0;
        self.tokens = (self.tokens + elapsed * self.pace).min(self.burst);
        self.refilled = now;
    }

    /// Everything in flight goes back to the front of the queue, in order.
    fn requeue_from(&mut self, index: usize) {
        while self.flight.len() > index {
            let line = self.flight.pop_back().expect("non-empty");
            self.queue.push_front(line);
        }
    }

    fn resume_all(&mut self) {
        let rooms: Vec<(String, Seq)> = self
            .rooms
            .iter()
            .map(|(r, v)| (r.clone(), v.mark))
            .collect();
        for (room, after_seq) in rooms {
            let epoch = self.epoch.clone();
            self.transmit(ClientEnvelope::Resume {
                room,
                after_seq,
                epoch,
            });
        }
    }

    fn pump(&mut self, now: Millis) {
        if !self.open || !self.welcomed {
            return;
        }
        self.refill(now);
        if let Some(at) = self.resync_at {
            if now >= at {
                self.resync_at = None;
                self.resume_all();
            }
        }
        let gaps: Vec<(String, Seq)> = self
            .rooms
            .iter()
            .filter(|(_, v)| {
                !v.waiting.is_empty() && v.asked.is_none_or(|t| now >= t + GAP_RETRY_MS)
            })
            .map(|(r, v)| (r.clone(), v.mark))
            .collect();
        for (room, after_seq) in gaps {
            self.rooms.get_mut(&room).expect("known").asked = Some(now);
            let epoch = self.epoch.clone();
            self.transmit(ClientEnvelope::Resume {
                room,
                after_seq,
                epoch,
            });
        }
        while now >= self.retry_at && self.flight.len() < WINDOW && self.tokens >= 1.0 {
            let Some(line) = self.queue.pop_front() else {
                break;
            };
            self.transmit(ClientEnvelope::Send {
                room: line.room.clone(),
                text: line.text.clone(),
                id: Some(line.id.clone()),
                n: Some(line.n),
            });
            self.flight.push_back(line);
        }
    }

    fn seen(&mut self, room: &str, seq: Seq, text: String, id: Option<String>) {
        if let Some(id) = &id {
            // Our own line in a replay: it was accepted.
            if let Some(index) = self.flight.iter().position(|l| &l.id == id) {
                let line = self.flight.remove(index).expect("found");
                return self.acknowledged(line, room, seq);
            }
            if let Some(index) = self.queue.iter().position(|l| &l.id == id) {
                let line = self.queue.remove(index).expect("found");
                return self.acknowledged(line, room, seq);
            }
            if id.starts_with(&format!("{}-", self.tag)) {
                if let Some(view) = self.rooms.get_mut(room) {
                    if seq > view.mark {
                        view.own.insert(seq);
                    }
                }
                return self.advance(room);
            }
        }
        let Some(view) = self.rooms.get_mut(room) else {
            return;
        };
        if seq <= view.mark || view.own.contains(&seq) {
            return;
        }
        view.waiting.insert(seq, text);
        self.advance(room);
    }

    fn acknowledged(&mut self, line: Line, room: &str, seq: Seq) {
        if let Some(view) = self.rooms.get_mut(room) {
            if seq > view.mark {
                view.own.insert(seq);
            }
        }
        self.events.push_back(AppEvent::Sent {
            id: line.id,
            room: room.to_owned(),
            seq,
        });
        self.advance(room);
    }

    /// Moves the mark through our own lines and the lines waiting right after it.
    fn advance(&mut self, room: &str) {
        let Some(view) = self.rooms.get_mut(room) else {
            return;
        };
        loop {
            let next = view.mark + 1;
            if view.own.remove(&next) {
                view.mark = next;
            } else if let Some(text) = view.waiting.remove(&next) {
                view.mark = next;
                self.events.push_back(AppEvent::Message {
                    room: room.to_owned(),
                    seq: next,
                    text,
                });
            } else {
                break;
            }
        }
        if view.waiting.is_empty() {
            view.asked = None;
        }
    }
}

impl SimClient for ModelClient {
    fn connected(&mut self, now: Millis) {
        self.open = true;
        self.welcomed = false;
        self.refilled = now;
        self.tokens = self.burst;
        self.requeue_from(0);
        self.asked.clear();
        if let Some(token) = self.token.clone() {
            self.reconnected = true;
            let next = self.queue.front().map_or(self.next_n, |l| l.n);
            self.transmit(ClientEnvelope::Session {
                token,
                next: Some(next),
            });
            self.resume_all();
        }
    }

    fn disconnected(&mut self, _now: Millis) {
        self.open = false;
        self.welcomed = false;
        self.requeue_from(0);
    }

    fn received(&mut self, envelope: ServerEnvelope, now: Millis) {
        match envelope {
            ServerEnvelope::Welcome {
                epoch,
                session,
                rate_limit,
                rate_burst,
                max_text_bytes,
                ..
            } => {
                let first = self.token.is_none();
                if first {
                    self.token = Some(session);
                }
                if self.epoch.as_ref().is_some_and(|known| *known != epoch) {
                    for view in self.rooms.values_mut() {
                        *view = RoomView::default();
                    }
                }
                self.epoch = Some(epoch);
                self.pace = f64::from(rate_limit) * 0.9;
                self.burst = f64::from((rate_burst / 2).clamp(1, 16));
                self.tokens = self.tokens.min(self.burst);
                self.max_text_bytes = max_text_bytes;
                self.welcomed = true;
                if first {
                    let rooms: Vec<String> = self
                        .rooms
                        .keys()
                        .filter(|r| r.as_str() != ferrosocket_wire::chat::LOBBY)
                        .filter(|r| !self.asked.contains(*r))
                        .cloned()
                        .collect();
                    if !rooms.is_empty() {
                        self.asked.extend(rooms.iter().cloned());
                        self.transmit(ClientEnvelope::Join { rooms });
                    }
                }
            }
            ServerEnvelope::Joined { room, history, .. } => {
                // After a reconnect the server's automatic lobby `joined` comes before our
                // `session` took effect, so our own lines in it carry no key: the `resume`
                // replay that follows is the one to read.
                if self.reconnected && !self.asked.remove(&room) {
                    return self.pump(now);
                }
                self.asked.remove(&room);
                for entry in history {
                    self.seen(&room, entry.seq, entry.text, entry.id);
                }
            }
            ServerEnvelope::Message {
                room,
                seq,
                text,
                id,
                ..
            } => self.seen(&room, seq, text, id),
            ServerEnvelope::Ack { id, room, seq } => {
                let index = id
                    .as_ref()
                    .and_then(|id| self.flight.iter().position(|l| &l.id == id));
                if let Some(index) = index {
                    let line = self.flight.remove(index).expect("found");
                    self.acknowledged(line, &room, seq);
                }
            }
            ServerEnvelope::Resumed {
                room,
                complete: false,
                ..
            } => {
                // The missing lines are gone from the history: show what waits.
                if let Some(view) = self.rooms.get_mut(&room) {
                    if let Some((&first, _)) = view.waiting.iter().next() {
                        view.mark = first - 1;
                    }
                }
                self.advance(&room);
            }
            ServerEnvelope::Error {
                code, reference, ..
            } => {
                let index = reference
                    .as_ref()
                    .and_then(|id| self.flight.iter().position(|l| &l.id == id));
                let queued = reference
                    .as_ref()
                    .is_some_and(|id| self.queue.iter().any(|l| &l.id == id));
                if queued {
                    // Already put back by an earlier refusal.
                    return self.pump(now);
                }
                let retry = matches!(
                    code,
                    ErrorCode::RateLimited | ErrorCode::OutOfOrder | ErrorCode::Unavailable
                );
                match (index, retry) {
                    (Some(index), true) => {
                        self.requeue_from(index);
                        self.retry_at = now + RETRY_MS;
                    }
                    (Some(index), false) => {
                        let line = self.flight.remove(index).expect("found");
                        self.events.push_back(AppEvent::Failed {
                            id: line.id,
                            room: line.room,
                            reason: code.to_string(),
                        });
                    }
                    (None, _) if code == ErrorCode::RateLimited => {
                        // A refused request that is not a line (a resume, a join):
                        // ask for every room again, a little later.
                        self.resync_at = Some(now + RETRY_MS);
                        self.retry_at = now + RETRY_MS;
                    }
                    (None, _) => {}
                }
            }
            _ => {}
        }
        self.pump(now);
    }

    fn send(&mut self, room: &str, text: &str, now: Millis) -> String {
        self.next_id += 1;
        let id = format!("{}-{}", self.tag, self.next_id);
        if self.max_text_bytes > 0 && text.len() > self.max_text_bytes {
            self.events.push_back(AppEvent::Failed {
                id: id.clone(),
                room: room.to_owned(),
                reason: ErrorCode::TooLarge.to_string(),
            });
            return id;
        }
        let n = self.next_n;
        self.next_n += 1;
        self.queue.push_back(Line {
            id: id.clone(),
            n,
            room: room.to_owned(),
            text: text.to_owned(),
        });
        self.pump(now);
        id
    }

    fn join(&mut self, room: &str, _now: Millis) {
        if self.rooms.contains_key(room) {
            return;
        }
        self.rooms.insert(room.to_owned(), RoomView::default());
        if self.open {
            self.asked.insert(room.to_owned());
            self.transmit(ClientEnvelope::Join {
                rooms: vec![room.to_owned()],
            });
        }
    }

    fn tick(&mut self, now: Millis) {
        self.pump(now);
    }

    fn poll_transmit(&mut self) -> Option<ClientEnvelope> {
        self.out.pop_front()
    }

    fn poll_event(&mut self) -> Option<AppEvent> {
        self.events.pop_front()
    }

    fn next_wakeup(&self) -> Option<Millis> {
        if !self.open || !self.welcomed {
            return None;
        }
        let mut wake: Option<Millis> = self.resync_at;
        for view in self.rooms.values() {
            if !view.waiting.is_empty() {
                let at = view.asked.map_or(self.refilled, |t| t + GAP_RETRY_MS);
                wake = Some(wake.map_or(at, |w| w.min(at)));
            }
        }
        if !self.queue.is_empty() && self.flight.len() < WINDOW {
            let missing = (1.0 - self.tokens).max(0.0);
            let wait = (missing / self.pace * 1000.0).ceil() as Millis;
            let at = (self.refilled + wait).max(self.retry_at);
            wake = Some(wake.map_or(at, |w| w.min(at)));
        }
        wake
    }

    fn unacknowledged(&self) -> usize {
        self.queue.len() + self.flight.len()
    }

    fn describe(&self) -> String {
        format!(
            "open {} welcomed {} queue {} flight {} tokens {:.2} retry_at {} resync_at {:?}",
            self.open,
            self.welcomed,
            self.queue.len(),
            self.flight.len(),
            self.tokens,
            self.retry_at,
            self.resync_at
        )
    }
}
