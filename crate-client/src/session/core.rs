//! [`SessionCore`]: the rules of a `chat.v1` session as a plain state machine, with no
//! sockets, timers or browser inside (the model is quinn-proto and rustls).
//!
//! Events go in — [`connected`](SessionCore::connected),
//! [`disconnected`](SessionCore::disconnected), [`received`](SessionCore::received), the
//! application's [`send`](SessionCore::send), [`join`](SessionCore::join)... and
//! [`tick`](SessionCore::tick) — each with the time now, a plain number of milliseconds.
//! Outputs are pulled: [`poll_transmit`](SessionCore::poll_transmit) (envelopes to put on
//! the open connection, in order), [`poll_event`](SessionCore::poll_event) (what to tell
//! the application) and [`next_wakeup`](SessionCore::next_wakeup) (when to call `tick`).
//! The browser's [`ChatSession`](crate::chat::ChatSession) is a thin driver of it; a simulator
//! can drive it on the host.
//!
//! What it guarantees (see docs/PROTOCOL.md, "Delivery"):
//! - **One owner for every line.** A line is kept here from `send` until the server
//!   acknowledges it ([`ChatEvent::Sent`]) or it fails ([`ChatEvent::Failed`]); exactly one
//!   of the two happens, and [`unacknowledged`](SessionCore::unacknowledged) counts the rest.
//! - **Send order.** Each line gets the next number `n` of the session when it is first
//!   transmitted, and the server takes a session's lines only in that order. At most
//!   [`WINDOW`] lines are unanswered at once; a retryable refusal (`rate_limited`,
//!   `unavailable`, `out_of_order`) puts that line and every later one back, in order, and
//!   they go again after a delay.
//! - **Paced.** Envelopes leave at 90% of the server's announced rate, with a burst of at
//!   most half the server's (and at most 16).
//! - **Nothing silently abandoned.** A line fails only when the server refuses it for good,
//!   when it is longer than the server's `max_text_bytes` (at once, using no number), when
//!   its deadline passes while it is not awaiting an answer on an open connection, or when
//!   the session is closed or gives up.
//! - **Contiguous delivery.** A room's messages reach the application once, in order; a
//!   message after a missing number waits while a `resume` fills the gap, and is shown
//!   without it only when the server says that history is gone.

use std::collections::VecDeque;
use std::time::Duration;

use ferrosocket_wire::chat::{
    ClientEnvelope, ErrorCode, HistoryEntry, JsonText, Seq, ServerEnvelope, LOBBY,
};

use super::event::ChatEvent;
use super::pacing::Pacing;
use super::room::RoomLog;
use super::sorted::SortedMap;
use crate::resilient::SendOutcome;

/// A time in milliseconds, on any clock that only goes forward (the driver's choice).
pub type Millis = u64;

/// The most lines awaiting an answer at once.
pub const WINDOW: usize = 16;

/// The default bound on lines kept at once ([`CoreConfig::max_pending`]).
pub const DEFAULT_MAX_PENDING: usize = 10_000;

/// How a [`SessionCore`] behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct CoreConfig {
    /// A random string unique to this session (the driver's randomness): the prefix of
    /// every line's key.
    pub client_id: String,
    /// The nickname to ask for on every connection.
    pub nick: Option<String>,
    /// A line not acknowledged this long after `send` fails — unless it is awaiting its
    /// answer on an open connection, which is coming. `None` (default): no deadline.
    pub line_deadline: Option<Duration>,
    /// The most lines kept at once; a `send` beyond it fails at once. Default 10,000.
    pub max_pending: usize,
}

impl CoreConfig {
    /// The defaults, with `client_id`.
    pub fn new(client_id: impl Into<String>) -> CoreConfig {
        CoreConfig {
            client_id: client_id.into(),
            nick: None,
            line_deadline: None,
            max_pending: DEFAULT_MAX_PENDING,
        }
    }
}

/// Where a line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flight {
    /// Waiting to be (re)transmitted.
    Queued,
    /// Transmitted on the open connection; its answer is coming.
    InFlight,
}

#[derive(Debug, Clone)]
struct Line {
    id: String,
    room: String,
    text: String,
    /// Its number in the session, given at its first transmission and kept.
    n: Option<u64>,
    deadline: Option<Millis>,
    /// Transmitted at least once: the server may have it.
    transmitted: bool,
    flight: Flight,
}

/// What the server announced in its `welcome`.
#[derive(Debug, Clone, Copy, Default)]
struct Limits {
    max_text_bytes: usize,
}

/// Retry delays after a retryable refusal, doubled per refusal in a row up to 8 times this.
const RATE_LIMITED_RETRY_MS: Millis = 500;
const UNAVAILABLE_RETRY_MS: Millis = 1_000;
const OUT_OF_ORDER_RETRY_MS: Millis = 100;

/// The chat session's state machine: see the [module documentation](self).
///
/// # Examples
/// ```
/// use ferrosocket::chat::core::{CoreConfig, SessionCore};
/// use ferrosocket_wire::chat::{ClientEnvelope, ServerEnvelope};
///
/// let mut core = SessionCore::new(CoreConfig::new("c1"));
/// let (id, _) = core.send("lobby", "hello", 0);   // kept: not connected yet
/// assert_eq!(core.poll_transmit(), None);
/// core.connected(10);
/// core.received(ServerEnvelope::Welcome {
///     nick: "guest-1".into(), history_limit: 100, rate_limit: 20, epoch: "e1".into(),
///     rate_burst: 40, max_text_bytes: 16_384, session: "secret".into(),
/// }, 11);
/// match core.poll_transmit() {
///     Some(ClientEnvelope::Send { id: Some(sent), n: Some(1), .. }) => assert_eq!(sent, id),
///     other => panic!("{other:?}"),
/// }
/// assert_eq!(core.unacknowledged(), 1);
/// ```
#[derive(Debug)]
pub struct SessionCore {
    config: CoreConfig,
    now: Millis,
    next_key: u64,
    next_n: u64,
    /// Every unacknowledged line, in send order. Lines in flight come before queued ones.
    lines: VecDeque<Line>,
    /// Keys of the lines whose answers are due on this connection, in transmission order
    /// (at most [`WINDOW`]).
    awaiting: Vec<String>,
    rooms: SortedMap<String, RoomLog>,
    wanted_nick: Option<String>,
    nick: String,
    /// The session scope: the first `welcome`'s `session`, presented on every reconnect.
    token: Option<String>,
    epoch: Option<String>,
    limits: Limits,
    pacing: Pacing,
    connected: bool,
    welcomed: bool,
    ever_welcomed: bool,
    closed: bool,
    /// The oldest line was refused `out_of_order`: the server waits for a number this
    /// session gave up, so present the session again with `next` before it.
    need_skip: bool,
    /// After a reconnect the server puts the connection in the lobby before it reads the
    /// `session` envelope, so that `joined` shows this session's own lines without their
    /// keys: its history is left to the `resume` that follows.
    lobby_history_unscoped: bool,
    retry_at: Option<Millis>,
    refusals_in_a_row: u32,
    /// State and request envelopes to send before any line, on this connection (a few:
    /// a `Vec`, taken from the front).
    control: Vec<ClientEnvelope>,
    /// Requests made while not welcomed (`list_rooms`, `emit`): sent once welcomed.
    deferred: Vec<ClientEnvelope>,
    events: VecDeque<ChatEvent>,
}

/// What brings `room` up to date: `resume` after its mark once the server has answered a
/// `join` for it, else `join`.
fn state_request(name: &str, room: &RoomLog, epoch: &Option<String>) -> ClientEnvelope {
    if room.confirmed {
        ClientEnvelope::Resume {
            room: name.to_owned(),
            after_seq: room.seen(),
            epoch: epoch.clone(),
        }
    } else {
        ClientEnvelope::Join {
            rooms: vec![name.to_owned()],
        }
    }
}

fn retryable(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::RateLimited | ErrorCode::OutOfOrder | ErrorCode::Unavailable
    )
}

impl SessionCore {
    /// A session that has not connected yet.
    pub fn new(config: CoreConfig) -> SessionCore {
        SessionCore {
            wanted_nick: config.nick.clone(),
            config,
            now: 0,
            next_key: 0,
            next_n: 1,
            lines: VecDeque::new(),
            awaiting: Vec::new(),
            rooms: SortedMap::default(),
            nick: String::new(),
            token: None,
            epoch: None,
            limits: Limits::default(),
            pacing: Pacing::unlimited(),
            connected: false,
            welcomed: false,
            ever_welcomed: false,
            closed: false,
            need_skip: false,
            lobby_history_unscoped: false,
            retry_at: None,
            refusals_in_a_row: 0,
            control: Vec::new(),
            deferred: Vec::new(),
            events: VecDeque::new(),
        }
    }

    fn clock(&mut self, now: Millis) {
        self.now = self.now.max(now);
    }

    // ---- events in -------------------------------------------------------------------

    /// A connection opened. After a reconnect the session is presented again first
    /// (`session {token, next}`); the rest of the state goes once `welcome` arrives.
    pub fn connected(&mut self, now: Millis) {
        self.clock(now);
        if self.closed {
            return;
        }
        self.connected = true;
        self.welcomed = false;
        self.awaiting.clear();
        self.control.clear();
        self.pacing = Pacing::unlimited();
        self.need_skip = false;
        self.retry_at = None;
        if let Some(token) = self.token.clone() {
            self.control.push(ClientEnvelope::Session {
                token,
                next: Some(self.next_wanted_n()),
            });
        }
    }

    /// The connection was lost (or closed): lines awaiting an answer go back to the
    /// queue, to be sent again on the next connection with the same key and number.
    pub fn disconnected(&mut self, now: Millis) {
        self.clock(now);
        self.connected = false;
        self.welcomed = false;
        self.awaiting.clear();
        // State envelopes are sent again from the state on the next `welcome`; requests
        // not yet transmitted wait for it, before those made meanwhile.
        self.control
            .retain(|e| matches!(e, ClientEnvelope::ListRooms | ClientEnvelope::Emit { .. }));
        self.control.append(&mut self.deferred);
        std::mem::swap(&mut self.control, &mut self.deferred);
        self.need_skip = false;
        self.retry_at = None;
        for line in &mut self.lines {
            line.flight = Flight::Queued;
        }
        for room in self.rooms.values_mut() {
            room.answer_due = false;
        }
        self.expire();
    }

    /// `close()`: every line still kept fails, and nothing more is sent.
    pub fn close(&mut self, now: Millis) {
        self.finish(
            now,
            "the session was closed before the server acknowledged it",
        );
    }

    /// The connection gave up reconnecting: every line still kept fails.
    pub fn give_up(&mut self, now: Millis) {
        self.finish(
            now,
            "the connection gave up reconnecting before the server acknowledged it",
        );
    }

    fn finish(&mut self, now: Millis, why: &str) {
        self.clock(now);
        self.closed = true;
        self.connected = false;
        self.welcomed = false;
        self.control.clear();
        self.deferred.clear();
        self.awaiting.clear();
        while let Some(line) = self.lines.pop_front() {
            let reason = why.to_owned()
                + if line.transmitted {
                    "; it was transmitted, so it may or may not have been delivered"
                } else {
                    "; it was never transmitted"
                };
            self.fail(line, reason);
        }
    }

    /// Time passed: fails lines past their deadline (see [`CoreConfig::line_deadline`]).
    pub fn tick(&mut self, now: Millis) {
        self.clock(now);
        self.expire();
    }

    /// Sends `text` to `room`: returns the line's key (a later [`ChatEvent::Sent`] or
    /// [`ChatEvent::Failed`] carries it) and whether it goes out at the next
    /// [`poll_transmit`](Self::poll_transmit) (`Sent`), waits (`Queued`), or failed at
    /// once (`Rejected`, with a `Failed` event: closed, too large, too many waiting).
    pub fn send(&mut self, room: &str, text: &str, now: Millis) -> (String, SendOutcome) {
        self.clock(now);
        self.next_key += 1;
        let id = format!("{}-{}", self.config.client_id, self.next_key);
        let line = Line {
            id: id.clone(),
            room: room.to_owned(),
            text: text.to_owned(),
            n: None,
            deadline: self
                .config
                .line_deadline
                .map(|d| self.now + d.as_millis() as Millis),
            transmitted: false,
            flight: Flight::Queued,
        };
        if self.closed {
            self.fail(line, "the session is closed".into());
            return (id, SendOutcome::Rejected);
        }
        if let Some(reason) = self.too_large(&line) {
            self.fail(line, reason);
            return (id, SendOutcome::Rejected);
        }
        if self.lines.len() >= self.config.max_pending {
            let reason = format!(
                "too many lines are waiting ({}) for the connection",
                self.lines.len()
            );
            self.fail(line, reason);
            return (id, SendOutcome::Rejected);
        }
        let goes_now = self.connected
            && self.welcomed
            && self.control.is_empty()
            && !self.need_skip
            && self.retry_at.is_none_or(|at| self.now >= at)
            && self.awaiting.len() < WINDOW
            && self.lines.iter().all(|l| l.flight == Flight::InFlight)
            && self.pacing.ready_at(self.now) <= self.now;
        self.lines.push_back(line);
        let outcome = if goes_now {
            SendOutcome::Sent
        } else {
            SendOutcome::Queued
        };
        (id, outcome)
    }

    /// Joins `room` and keeps it joined across reconnects.
    pub fn join(&mut self, room: &str) -> SendOutcome {
        if self.closed {
            return SendOutcome::Rejected;
        }
        let log = self.rooms.get_or_default(room.to_owned());
        if self.welcomed {
            log.answer_due = true;
            self.control.push(ClientEnvelope::Join {
                rooms: vec![room.to_owned()],
            });
            SendOutcome::Sent
        } else {
            // Sent when the connection is welcomed, with the rest of the state.
            SendOutcome::Queued
        }
    }

    /// Leaves `room`.
    pub fn leave(&mut self, room: &str) -> SendOutcome {
        if self.closed {
            return SendOutcome::Rejected;
        }
        self.rooms.remove(room);
        if self.welcomed {
            self.control.push(ClientEnvelope::Leave {
                rooms: vec![room.to_owned()],
            });
            SendOutcome::Sent
        } else {
            SendOutcome::Queued
        }
    }

    /// Asks for `nick` now and on every later connection.
    pub fn set_nick(&mut self, nick: &str) -> SendOutcome {
        if self.closed {
            return SendOutcome::Rejected;
        }
        self.wanted_nick = Some(nick.to_owned());
        if self.welcomed {
            self.control.push(ClientEnvelope::Nick {
                nick: nick.to_owned(),
            });
            SendOutcome::Sent
        } else {
            SendOutcome::Queued
        }
    }

    /// Asks for the list of rooms; a [`ChatEvent::Rooms`] follows.
    pub fn list_rooms(&mut self) -> SendOutcome {
        self.request(ClientEnvelope::ListRooms)
    }

    /// Sends an application event (not kept across a lost connection once transmitted).
    pub fn emit(&mut self, room: &str, event: &str, data: JsonText) -> SendOutcome {
        self.request(ClientEnvelope::Emit {
            room: room.to_owned(),
            event: event.to_owned(),
            data,
            ack: None,
        })
    }

    fn request(&mut self, envelope: ClientEnvelope) -> SendOutcome {
        if self.closed {
            SendOutcome::Rejected
        } else if self.welcomed {
            self.control.push(envelope);
            SendOutcome::Sent
        } else {
            self.deferred.push(envelope);
            SendOutcome::Queued
        }
    }

    /// Presents a fresh access token for this connection's identity (the answer to
    /// [`ChatEvent::TokenExpiring`]): sent before any line. `Rejected` when not connected
    /// — the next connection is opened with a fresh token anyway — or closed. The server
    /// answers [`ChatEvent::Refreshed`], or an [`ChatEvent::Error`] (`unauthorized`,
    /// `forbidden`) after which the connection still ends at the old expiry.
    pub fn refresh(&mut self, token: &str) -> SendOutcome {
        if self.closed || !self.welcomed {
            return SendOutcome::Rejected;
        }
        self.control.push(ClientEnvelope::Refresh {
            token: token.to_owned(),
        });
        SendOutcome::Sent
    }

    /// An envelope arrived from the server.
    pub fn received(&mut self, envelope: ServerEnvelope, now: Millis) {
        self.clock(now);
        if self.closed {
            return;
        }
        match envelope {
            ServerEnvelope::Welcome {
                nick,
                rate_limit,
                rate_burst,
                max_text_bytes,
                session,
                epoch,
                ..
            } => self.on_welcome(nick, rate_limit, rate_burst, max_text_bytes, session, epoch),
            ServerEnvelope::Nick { nick } => {
                self.nick = nick.clone();
                self.report(ChatEvent::Nick { nick });
            }
            ServerEnvelope::Joined {
                room,
                members,
                history,
            } => self.on_joined(room, members, history),
            ServerEnvelope::Left { room } => {
                // A `left` nobody asked for (a refreshed token withdrew the room): forget
                // it, or the next connection would resume it only to be refused. A room
                // with an answer due was joined again after a leave: this is that leave's.
                if self.rooms.get(&room).is_some_and(|log| !log.answer_due) {
                    self.rooms.remove(&room);
                }
                self.report(ChatEvent::Left { room });
            }
            ServerEnvelope::Presence {
                room,
                change,
                nick,
                old_nick,
            } => self.report(ChatEvent::Presence {
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
            } => self.on_message(
                room,
                HistoryEntry {
                    seq,
                    from,
                    text,
                    ts,
                    id,
                },
            ),
            ServerEnvelope::Ack { id, room, seq } => {
                if let Some(id) = id {
                    self.answered(&id);
                    if let Some(index) = self.line_index(&id) {
                        self.refusals_in_a_row = 0;
                        self.acknowledge(index, &room, seq);
                        self.check_gap(&room);
                    }
                }
            }
            ServerEnvelope::Resumed { room, last_seq, .. } => {
                // Every number up to `last_seq` was replayed just now, is this session's
                // own, or is gone from the server's history (`complete: false`).
                if let Some(log) = self.rooms.get_mut(&room) {
                    log.answer_due = false;
                    let shown = log.settle(last_seq);
                    self.show(&room, shown);
                    self.check_gap(&room);
                }
            }
            ServerEnvelope::Pong { .. } | ServerEnvelope::EventAck { .. } => {}
            ServerEnvelope::TokenExpiring { exp } => self.report(ChatEvent::TokenExpiring { exp }),
            ServerEnvelope::Refreshed { exp } => self.report(ChatEvent::Refreshed { exp }),
            ServerEnvelope::Rooms { rooms } => self.report(ChatEvent::Rooms(rooms)),
            ServerEnvelope::Event {
                room,
                event,
                from,
                data,
            } => self.report(ChatEvent::Event {
                room,
                event,
                from,
                data: data.into_string(),
            }),
            ServerEnvelope::Error {
                code,
                message,
                reference,
            } => self.on_error(code, message, reference),
        }
    }

    // ---- outputs ---------------------------------------------------------------------

    /// The next envelope to put on the open connection, if one may go now. Call until
    /// `None` after every event in; the driver must send each one it takes.
    pub fn poll_transmit(&mut self) -> Option<ClientEnvelope> {
        if !self.connected || self.closed {
            return None;
        }
        if !self.control.is_empty() {
            // Before `welcome` only the `session` envelope is queued; it goes unpaced.
            if self.welcomed && !self.pacing.try_take(self.now) {
                return None;
            }
            return Some(self.control.remove(0));
        }
        if !self.welcomed || self.retry_at.is_some_and(|at| self.now < at) {
            return None;
        }
        self.retry_at = None;
        if self.awaiting.len() >= WINDOW {
            return None;
        }
        let index = loop {
            let index = self.lines.iter().position(|l| l.flight == Flight::Queued)?;
            match self.too_large(&self.lines[index]) {
                Some(reason) => {
                    if let Some(line) = self.lines.remove(index) {
                        self.fail(line, reason);
                    }
                }
                None => break index,
            }
        };
        if !self.pacing.try_take(self.now) {
            return None;
        }
        if self.need_skip {
            self.need_skip = false;
            if let Some(token) = self.token.clone() {
                return Some(ClientEnvelope::Session {
                    token,
                    next: Some(self.lines[index].n.unwrap_or(self.next_n)),
                });
            }
        }
        let line = &mut self.lines[index];
        let n = *line.n.get_or_insert_with(|| {
            self.next_n += 1;
            self.next_n - 1
        });
        line.flight = Flight::InFlight;
        line.transmitted = true;
        self.awaiting.push(line.id.clone());
        Some(ClientEnvelope::Send {
            room: line.room.clone(),
            text: line.text.clone(),
            id: Some(line.id.clone()),
            n: Some(n),
        })
    }

    /// The next thing to tell the application.
    pub fn poll_event(&mut self) -> Option<ChatEvent> {
        self.events.pop_front()
    }

    /// Queues `event` for the application after those already waiting: the core's own
    /// events, and the driver's (connection changes, unreadable envelopes), in one queue
    /// (one push site instead of one per event).
    #[inline(never)]
    pub(crate) fn report(&mut self, event: ChatEvent) {
        self.events.push_back(event);
    }

    /// When [`tick`](Self::tick) must be called next (a retry delay ends, a pacing token is
    /// earned, a deadline passes), if anything waits on time.
    pub fn next_wakeup(&self) -> Option<Millis> {
        let mut wakeup: Option<Millis> = None;
        let mut at = |time: Millis| wakeup = Some(wakeup.map_or(time, |w| w.min(time)));
        if self.connected && self.welcomed {
            let queued = self.lines.iter().any(|l| l.flight == Flight::Queued);
            if !self.control.is_empty() {
                at(self.pacing.ready_at(self.now));
            } else if queued && self.awaiting.len() < WINDOW {
                let ready = self.pacing.ready_at(self.now);
                at(self.retry_at.map_or(ready, |retry| retry.max(ready)));
            }
        }
        for line in &self.lines {
            if let Some(deadline) = line.deadline {
                if !(self.connected && line.flight == Flight::InFlight) {
                    at(deadline);
                }
            }
        }
        wakeup
    }

    // ---- queries ---------------------------------------------------------------------

    /// Lines sent but neither acknowledged nor failed yet.
    pub fn unacknowledged(&self) -> usize {
        self.lines.len()
    }

    /// Lines awaiting their answer on the open connection.
    pub fn in_flight(&self) -> usize {
        self.awaiting.len()
    }

    /// Whether the line with key `id` is still kept (neither acknowledged nor failed).
    pub fn is_pending(&self, id: &str) -> bool {
        self.line_index(id).is_some()
    }

    /// Whether the line with key `id` awaits its answer on the open connection.
    pub fn is_in_flight(&self, id: &str) -> bool {
        self.line_index(id)
            .is_some_and(|index| self.lines[index].flight == Flight::InFlight)
    }

    /// The contiguous mark of `room`: every message up to it was shown (or was this
    /// session's own, or is gone from the server's history). `None` if not joined.
    pub fn last_seq(&self, room: &str) -> Option<Seq> {
        self.rooms.get(room).map(RoomLog::seen)
    }

    /// The rooms this session keeps joined.
    pub fn rooms(&self) -> impl Iterator<Item = &str> {
        self.rooms.keys().map(String::as_str)
    }

    /// The nickname in force.
    pub fn nick(&self) -> &str {
        &self.nick
    }

    /// The session secret in use (from the first `welcome`), if any.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// Whether a connection is open and greeted.
    pub fn is_ready(&self) -> bool {
        self.connected && self.welcomed
    }

    /// Whether [`close`](Self::close) or [`give_up`](Self::give_up) happened.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    // ---- the rules ---------------------------------------------------------------------

    fn line_index(&self, id: &str) -> Option<usize> {
        self.lines.iter().position(|l| l.id == id)
    }

    /// The `n` the server should expect next: the oldest kept line's, or the next new one.
    fn next_wanted_n(&self) -> u64 {
        self.lines.iter().find_map(|l| l.n).unwrap_or(self.next_n)
    }

    /// One answer for `id` arrived: it is no longer due.
    fn answered(&mut self, id: &str) {
        if let Some(index) = self.awaiting.iter().position(|a| a == id) {
            self.awaiting.remove(index);
        }
    }

    fn too_large(&self, line: &Line) -> Option<String> {
        let max = self.limits.max_text_bytes;
        (max > 0 && line.text.len() > max).then(|| {
            format!(
                "too_large: the line is {} bytes; the server takes at most {max}",
                line.text.len()
            )
        })
    }

    fn fail(&mut self, line: Line, reason: String) {
        self.report(ChatEvent::Failed {
            id: line.id,
            room: line.room,
            reason,
        });
    }

    /// Fails every line past its deadline that is not awaiting an answer on an open
    /// connection (that answer is coming, and says what happened).
    fn expire(&mut self) {
        let now = self.now;
        let connected = self.connected;
        let mut index = 0;
        while index < self.lines.len() {
            let line = &self.lines[index];
            let due = line.deadline.is_some_and(|d| d <= now);
            let expired = due && !(connected && line.flight == Flight::InFlight);
            let removed = if expired {
                self.lines.remove(index)
            } else {
                None
            };
            if let Some(line) = removed {
                let reason = if line.transmitted {
                    "not acknowledged before its deadline: it had been transmitted, so it \
                     may or may not have been delivered"
                } else {
                    "not sent before its deadline: the connection was not available"
                };
                self.fail(line, reason.into());
            } else {
                index += 1;
            }
        }
    }

    fn on_welcome(
        &mut self,
        nick: String,
        rate_limit: u32,
        rate_burst: u32,
        max_text_bytes: usize,
        session: String,
        epoch: String,
    ) {
        self.nick = nick.clone();
        if self.epoch.as_ref().is_some_and(|known| *known != epoch) {
            // The server's history started over: its numbers restart at 1.
            for room in self.rooms.values_mut() {
                room.reset();
            }
        }
        self.epoch = Some(epoch.clone());
        if self.token.is_none() && !session.is_empty() {
            self.token = Some(session);
        }
        self.limits = Limits { max_text_bytes };
        self.pacing = Pacing::for_server(rate_limit, rate_burst, self.now);
        let first = !self.ever_welcomed;
        self.ever_welcomed = true;
        self.welcomed = self.connected;
        self.lobby_history_unscoped = !first && self.token.is_some();
        if first {
            // The server put this connection in the lobby; its `joined` follows.
            let lobby = self.rooms.get_or_default(LOBBY.to_owned());
            lobby.answer_due = true;
        }
        if self.welcomed {
            if let Some(wanted) = self.wanted_nick.clone() {
                if wanted != nick {
                    self.control.push(ClientEnvelope::Nick { nick: wanted });
                }
            }
            if !self.rooms.contains_key(LOBBY) {
                self.control.push(ClientEnvelope::Leave {
                    rooms: vec![LOBBY.to_owned()],
                });
            }
            for (name, room) in self.rooms.iter_mut() {
                if first && name == LOBBY {
                    continue;
                }
                room.answer_due = true;
                self.control.push(state_request(name, room, &self.epoch));
            }
            self.control.append(&mut self.deferred);
        }
        self.report(ChatEvent::Welcome { nick });
    }

    /// No line goes before a delay fitting the refusal: doubled per refusal in a row.
    fn schedule_retry(&mut self, code: ErrorCode) {
        let delay = match code {
            ErrorCode::OutOfOrder => OUT_OF_ORDER_RETRY_MS,
            _ => {
                self.refusals_in_a_row += 1;
                let base = if code == ErrorCode::RateLimited {
                    RATE_LIMITED_RETRY_MS
                } else {
                    UNAVAILABLE_RETRY_MS
                };
                base << (self.refusals_in_a_row - 1).min(3)
            }
        };
        let at = self.now + delay;
        self.retry_at = Some(self.retry_at.map_or(at, |known| known.max(at)));
    }

    /// Queues again the requests whose answers are due (a `join` or `resume` per room, the
    /// wanted nickname): one of them was refused, and which one is not said.
    fn request_state_again(&mut self) {
        if !self.welcomed {
            return;
        }
        if let Some(wanted) = self.wanted_nick.clone() {
            if wanted != self.nick
                && !self.control.contains(&ClientEnvelope::Nick {
                    nick: wanted.clone(),
                })
            {
                self.control.push(ClientEnvelope::Nick { nick: wanted });
            }
        }
        for (name, room) in self.rooms.iter() {
            if !room.answer_due {
                continue;
            }
            let queued = self.control.iter().any(|e| match e {
                ClientEnvelope::Resume { room, .. } => room == name,
                ClientEnvelope::Join { rooms } => rooms.contains(name),
                _ => false,
            });
            if !queued {
                self.control.push(state_request(name, room, &self.epoch));
            }
        }
    }

    fn on_joined(&mut self, room: String, members: Vec<String>, history: Vec<HistoryEntry>) {
        if room == LOBBY && std::mem::take(&mut self.lobby_history_unscoped) {
            if self.rooms.contains_key(LOBBY) {
                self.report(ChatEvent::Joined {
                    room,
                    members,
                    history: Vec::new(),
                });
            }
            return;
        }
        let Some(log) = self.rooms.get_mut(&room) else {
            return; // left meanwhile
        };
        let mut acknowledged = Vec::new();
        let mut top = 0;
        for entry in history {
            top = top.max(entry.seq);
            let lines = &mut self.lines;
            let own = entry
                .id
                .as_deref()
                .and_then(|id| lines.iter().position(|l| l.id == id));
            match own.and_then(|index| lines.remove(index)) {
                // This session's own line, accepted before its ack could arrive.
                Some(line) => acknowledged.push((line.id, entry.seq)),
                None => log.hold(entry),
            }
        }
        log.confirmed = true;
        log.answer_due = false;
        for (_, seq) in &acknowledged {
            log.own(*seq);
        }
        // The history is the room's latest: what is older than it is gone.
        let fresh = log.settle(top);
        self.report(ChatEvent::Joined {
            room: room.clone(),
            members,
            history: fresh,
        });
        for (id, seq) in acknowledged {
            self.report(ChatEvent::Sent {
                id,
                room: room.clone(),
                seq,
            });
        }
        self.check_gap(&room);
    }

    fn on_message(&mut self, room: String, entry: HistoryEntry) {
        if let Some(index) = entry.id.as_deref().and_then(|id| self.line_index(id)) {
            // A replay of this session's own line whose ack was lost with a connection.
            self.acknowledge(index, &room, entry.seq);
            self.check_gap(&room);
            return;
        }
        let Some(log) = self.rooms.get_mut(&room) else {
            return; // not (or no longer) joined
        };
        log.hold(entry);
        let shown = log.advance();
        self.show(&room, shown);
        self.check_gap(&room);
    }

    /// The line at `index` was accepted as `seq` of `room`.
    fn acknowledge(&mut self, index: usize, room: &str, seq: Seq) {
        let Some(line) = self.lines.remove(index) else {
            return;
        };
        self.report(ChatEvent::Sent {
            id: line.id,
            room: room.to_owned(),
            seq,
        });
        if let Some(log) = self.rooms.get_mut(room) {
            log.own(seq);
            let shown = log.advance();
            self.show(room, shown);
        }
    }

    fn show(&mut self, room: &str, entries: Vec<HistoryEntry>) {
        for entry in entries {
            self.report(ChatEvent::Message {
                room: room.to_owned(),
                entry,
            });
        }
    }

    /// Asks the server to fill a gap in `room`, unless an answer that will is due.
    fn check_gap(&mut self, room: &str) {
        if !self.welcomed {
            return;
        }
        let Some(log) = self.rooms.get_mut(room) else {
            return;
        };
        if log.has_gap() && log.confirmed && !log.answer_due {
            log.answer_due = true;
            self.control.push(state_request(room, log, &self.epoch));
        }
    }

    fn on_error(&mut self, code: ErrorCode, message: String, reference: Option<String>) {
        let index = reference.as_deref().and_then(|id| self.line_index(id));
        if index.is_none() && reference.is_none() && code == ErrorCode::RateLimited {
            // Some envelope was dropped, and which is not said (a server may refuse before
            // reading it): ask again for every answer still due, and put every line
            // awaiting an answer back, in order — a repeat is recognised by its number.
            self.pacing.drain(self.now);
            self.request_state_again();
            if let Some(first) = self.lines.iter().position(|l| l.flight == Flight::InFlight) {
                for line in self.lines.iter_mut().skip(first) {
                    line.flight = Flight::Queued;
                }
                // Their answers may never come: they no longer hold the window.
                self.awaiting.clear();
                self.schedule_retry(code);
            }
        }
        let Some(index) = index else {
            // A late answer to a line already settled: its refusal says nothing new.
            let stale = reference.as_deref().is_some_and(|id| {
                id.strip_prefix(self.config.client_id.as_str())
                    .is_some_and(|rest| rest.starts_with('-'))
            });
            if let Some(id) = &reference {
                self.answered(id);
            }
            if !(stale && retryable(code)) {
                self.report(ChatEvent::Error {
                    code,
                    message,
                    reference,
                });
            }
            return;
        };
        let id = self.lines[index].id.clone();
        // Answers come in the order of the transmissions: with two copies of this line
        // awaiting answers, this one is the older copy's.
        let copies = self.awaiting.iter().filter(|a| **a == id).count();
        self.answered(&id);
        if !retryable(code) {
            // Refused for good: the server used its number.
            let line = self.lines.remove(index);
            self.report(ChatEvent::Error {
                code,
                message: message.clone(),
                reference,
            });
            if let Some(line) = line {
                self.fail(line, code.as_str().to_owned() + ": " + &message);
            }
            return;
        }
        if self.lines[index].flight != Flight::InFlight || copies > 1 {
            // Already put back by an earlier refusal: this answers an earlier copy.
            return;
        }
        // Not taken, and so neither were the lines sent after it: all go back, in order.
        for line in self.lines.iter_mut().skip(index) {
            line.flight = Flight::Queued;
        }
        if code == ErrorCode::OutOfOrder && index == 0 {
            // The server waits for a number this session gave up on.
            self.need_skip = true;
        }
        if code == ErrorCode::RateLimited {
            self.pacing.drain(self.now);
        }
        self.schedule_retry(code);
        if code != ErrorCode::OutOfOrder {
            // Told, though it is retried: the application may show the connection is busy.
            self.report(ChatEvent::Error {
                code,
                message,
                reference,
            });
        }
    }
}
