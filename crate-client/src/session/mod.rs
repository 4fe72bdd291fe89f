//! [`ChatSession`]: the `chat.v1` protocol over a [`ResilientSocket`], delivering every
//! message to the application exactly once and in order across reconnects.
//!
//! The rules live in [`SessionCore`](core::SessionCore), a state machine with no I/O; this
//! module is its browser driver: it feeds the core the socket's events and the clock, puts
//! what the core transmits on the open socket (never in the socket's offline queue: the
//! core is the one owner of every unacknowledged line), hands the core's events to the
//! application, and keeps one timer for the core's next wakeup.
//!
//! How exactly-once works:
//! - **Incoming**: the core keeps, per room, the last contiguous sequence number shown.
//!   A message after a missing number waits while the core asks the server to `resume`
//!   after the mark; on reconnect it resumes every room after it; repeats are dropped.
//! - **Outgoing**: every line carries a key (`id`) and its number in the session (`n`); the
//!   session is presented again after a reconnect (`session {token, next}`), so the server
//!   recognises a line sent twice and takes lines only in send order. Refusals that mean
//!   "not now" (`rate_limited`, `unavailable`, `out_of_order`) are retried in order after a
//!   delay; every line ends with a [`ChatEvent::Sent`] or a [`ChatEvent::Failed`].

pub mod core;
mod event;
mod pacing;
mod room;
pub(crate) mod sorted;
#[cfg(test)]
mod test_rng;
pub(crate) mod wire;
#[cfg(test)]
mod wire_tests;

#[cfg(test)]
mod core_tests;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use gloo_timers::callback::Timeout;

use ferrosocket_wire::chat::{ClientEnvelope, ErrorCode, Seq, SUBPROTOCOL};

use self::core::{CoreConfig, Millis, SessionCore, DEFAULT_MAX_PENDING};
use crate::error::OpenError;
use crate::message::Message;
use crate::resilient::{
    ConnectionState, Heartbeat, ResilientEvent, ResilientOptions, ResilientSocket, SendOutcome,
    Sender, TokenProvider,
};
pub use event::ChatEvent;

/// Why [`ChatSession::emit`] refused an event's `data`: it is not one JSON value. The
/// message names the problem and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidJson(pub(crate) String);

impl std::fmt::Display for InvalidJson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the event data is not JSON: ")?;
        f.write_str(&self.0)
    }
}

impl std::error::Error for InvalidJson {}

/// How a [`ChatSession`] connects.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatOptions {
    /// The connection's behaviour. `protocols` is set to `chat.v1`, and a heartbeat
    /// (`{"type":"ping"}` every 15 s, dead after 10 s more) is added if none is given.
    pub connection: ResilientOptions,
    /// The nickname to ask for on every connection.
    pub nick: Option<String>,
    /// A line not acknowledged this long after `send` fails with [`ChatEvent::Failed`] —
    /// unless it awaits its answer on an open connection. Default: none (lines wait for as
    /// long as the session lives).
    pub line_deadline: Option<Duration>,
    /// The most lines kept unacknowledged at once; a `send` beyond it is rejected.
    /// Default: 10,000.
    pub max_pending: usize,
    /// With a token (`connection.token`): whether to answer the server's
    /// [`ChatEvent::TokenExpiring`] by presenting a fresh token from the provider on the
    /// open connection (`refresh`). With `false` (or when the refresh fails) the server
    /// closes the connection with 4401 at the expiry, and the session reconnects with a
    /// fresh token and resumes. Default: `true`.
    pub refresh_token: bool,
}

impl Default for ChatOptions {
    fn default() -> Self {
        ChatOptions {
            connection: ResilientOptions::default(),
            nick: None,
            line_deadline: None,
            max_pending: DEFAULT_MAX_PENDING,
            refresh_token: true,
        }
    }
}

type Handler = Box<dyn FnMut(ChatEvent)>;

struct SessionShared {
    core: RefCell<SessionCore>,
    handler: RefCell<Option<Handler>>,
    /// The handler is being called: events found meanwhile wait in the core's queue.
    delivering: Cell<bool>,
    sender: Sender,
    /// The core's next wakeup, and the timer for it.
    wakeup: RefCell<Option<(Millis, Timeout)>>,
    /// Where fresh tokens come from when the server warns of an expiry (`None`: it is not
    /// answered).
    refresher: Option<TokenProvider>,
}

/// A chat connection that survives reconnects with nothing lost, nothing duplicated and
/// nothing reordered.
///
/// # Examples
/// ```no_run
/// use ferrosocket::chat::{ChatEvent, ChatOptions, ChatSession};
///
/// let chat = ChatSession::connect("/chat", ChatOptions { nick: Some("ada".into()), ..Default::default() })?;
/// chat.set_on_event(|event| match event {
///     ChatEvent::Message { room, entry } => {
///         web_sys::console::log_1(&format!("[{room}] {}: {}", entry.from, entry.text).into())
///     }
///     ChatEvent::Failed { id, reason, .. } => {
///         web_sys::console::warn_1(&format!("{id} not delivered: {reason}").into())
///     }
///     _ => {}
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
            .field("core", &self.shared.core.borrow())
            .finish()
    }
}

/// A fresh session key: 16 random hex digits (written by hand: `{:08x}` would link
/// core::fmt's width padding).
fn random_id() -> String {
    let mut id = String::with_capacity(16);
    for _ in 0..2 {
        let half = (js_sys::Math::random() * f64::from(u32::MAX)) as u32;
        wire::push_hex(&mut id, half, 8);
    }
    id
}

fn envelope(envelope: &ClientEnvelope) -> Message {
    Message::Text(wire::encode(envelope))
}

fn now_ms() -> Millis {
    js_sys::Date::now().max(0.0) as Millis
}

/// How soon to try again when the browser's send buffer is above the high-water mark.
const BACKPRESSURE_RETRY_MS: u32 = 20;

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
        let refresher = connection.token.clone().filter(|_| options.refresh_token);
        let socket = ResilientSocket::open(url, connection)?;
        let core = SessionCore::new(CoreConfig {
            client_id: random_id(),
            nick: options.nick,
            line_deadline: options.line_deadline,
            max_pending: options.max_pending,
        });
        let shared = Rc::new(SessionShared {
            core: RefCell::new(core),
            handler: RefCell::new(None),
            delivering: Cell::new(false),
            sender: socket.sender(),
            wakeup: RefCell::new(None),
            refresher,
        });
        let weak = Rc::downgrade(&shared);
        socket.set_on_event(move |event| {
            if let Some(shared) = weak.upgrade() {
                on_socket_event(&shared, event);
            }
        });
        Ok(ChatSession { shared, socket })
    }

    /// Sets the handler that receives every [`ChatEvent`], replacing any previous one.
    pub fn set_on_event(&self, handler: impl FnMut(ChatEvent) + 'static) {
        *self.shared.handler.borrow_mut() = Some(Box::new(handler));
    }

    /// Joins `room` (and keeps it joined across reconnects). `Queued`: it is joined once
    /// the connection is up.
    pub fn join(&self, room: &str) -> SendOutcome {
        self.with_core(|core| core.join(room))
    }

    /// Leaves `room`.
    pub fn leave(&self, room: &str) -> SendOutcome {
        self.with_core(|core| core.leave(room))
    }

    /// Asks for `nick` now and on every later connection.
    pub fn set_nick(&self, nick: &str) -> SendOutcome {
        self.with_core(|core| core.set_nick(nick))
    }

    /// Asks for the list of rooms; a [`ChatEvent::Rooms`] follows.
    pub fn list_rooms(&self) -> SendOutcome {
        self.with_core(SessionCore::list_rooms)
    }

    /// Sends `text` to `room`. Returns the line's key — [`ChatEvent::Sent`] with the same
    /// key confirms it, [`ChatEvent::Failed`] says it will not be delivered — and whether it
    /// went out now (`Sent`), waits for the connection or the pace (`Queued`), or failed at
    /// once (`Rejected`: too large, too many waiting, or closed; a `Failed` event follows).
    /// Lines reach the room in the order of the calls, each at most once.
    pub fn send(&self, room: &str, text: &str) -> (String, SendOutcome) {
        let (id, outcome) = self.shared.core.borrow_mut().send(room, text, now_ms());
        drive(&self.shared);
        let core = self.shared.core.borrow();
        let outcome = match outcome {
            SendOutcome::Sent if core.is_pending(&id) && !core.is_in_flight(&id) => {
                SendOutcome::Queued
            }
            other => other,
        };
        (id, outcome)
    }

    /// Sends the application event `event` with a JSON `data` payload (as text) to `room`.
    /// The text goes out without the whitespace between its tokens; the server reads
    /// the value and writes it compactly (no whitespace, object keys sorted, a repeated key
    /// keeping its last value), and that compact text is what is held to the server's
    /// `--max-event-bytes` and what the other members receive. Text that is not one JSON
    /// value, or that the server would refuse (nested too deeply, a number out of range, a
    /// lone surrogate escape), is refused, and nothing is sent.
    ///
    /// ```no_run
    /// # use ferrosocket::chat::{ChatOptions, ChatSession};
    /// let chat = ChatSession::connect("/chat", ChatOptions::default()).unwrap();
    /// chat.emit("lobby", "typing", r#"{"active":true}"#).unwrap();
    /// let err = chat.emit("lobby", "typing", "{active: true}").unwrap_err();
    /// assert_eq!(err.to_string(), "the event data is not JSON: expected a member name at byte 1");
    /// ```
    pub fn emit(&self, room: &str, event: &str, data: &str) -> Result<SendOutcome, InvalidJson> {
        let data = wire::json_text(data).map_err(InvalidJson)?;
        Ok(self.with_core(|core| core.emit(room, event, data)))
    }

    /// Lines sent but neither acknowledged nor failed yet; 0 once every line has its
    /// [`ChatEvent::Sent`] or [`ChatEvent::Failed`].
    pub fn unacknowledged(&self) -> usize {
        self.shared.core.borrow().unacknowledged()
    }

    /// The last sequence number of `room` up to which every message was delivered (or
    /// was this session's own), if joined.
    pub fn last_seq(&self, room: &str) -> Option<Seq> {
        self.shared.core.borrow().last_seq(room)
    }

    /// The nickname in force.
    pub fn nick(&self) -> String {
        self.shared.core.borrow().nick().to_owned()
    }

    /// The connection's state.
    pub fn state(&self) -> ConnectionState {
        self.socket.state()
    }

    /// Closes for good: every line not yet acknowledged fails ([`ChatEvent::Failed`]),
    /// then the connection closes with 1000.
    pub fn close(&self) {
        self.shared.core.borrow_mut().close(now_ms());
        drive(&self.shared);
        self.socket.close();
    }

    /// The underlying connection, for `state`, `retry_now`...
    pub fn connection(&self) -> &ResilientSocket {
        &self.socket
    }

    fn with_core(&self, f: impl FnOnce(&mut SessionCore) -> SendOutcome) -> SendOutcome {
        let outcome = f(&mut self.shared.core.borrow_mut());
        drive(&self.shared);
        outcome
    }
}

/// Puts what the core transmits on the socket, hands its events to the application and
/// sets the timer for its next wakeup.
fn drive(shared: &Rc<SessionShared>) {
    let now = now_ms();
    shared.core.borrow_mut().tick(now);
    let mut blocked = false;
    loop {
        if !shared.sender.can_send_now() {
            blocked = shared.core.borrow().is_ready();
            break;
        }
        let Some(next) = shared.core.borrow_mut().poll_transmit() else {
            break;
        };
        // Can only fail if the socket closed just now: its close event follows and puts
        // the line back.
        shared.sender.send_now(&envelope(&next));
    }
    schedule_wakeup(shared, now, blocked);
    deliver(shared);
}

/// Asks the token provider for a fresh token and presents it on the open connection. If
/// the provider fails, or the connection is lost meanwhile, nothing is sent: the server
/// closes with 4401 at the expiry and the next connection gets a fresh token.
fn refresh(shared: &Rc<SessionShared>) {
    let Some(provider) = &shared.refresher else {
        return;
    };
    let future = provider.token();
    let weak = Rc::downgrade(shared);
    crate::spawn(Box::pin(async move {
        let token = future.await;
        let Some(shared) = weak.upgrade() else { return };
        match token {
            Ok(token) => {
                shared.core.borrow_mut().refresh(&token);
            }
            Err(err) => shared.core.borrow_mut().report(ChatEvent::Error {
                code: ErrorCode::Unauthorized,
                message: "no fresh token to refresh with: ".to_owned() + &err,
                reference: None,
            }),
        }
        drive(&shared);
    }));
}

fn schedule_wakeup(shared: &Rc<SessionShared>, now: Millis, blocked: bool) {
    let mut at = shared.core.borrow().next_wakeup();
    if blocked {
        // Nothing can go before the buffer drains: look again then (not sooner, or a
        // wakeup already due would spin).
        let retry = now + Millis::from(BACKPRESSURE_RETRY_MS);
        at = Some(at.map_or(retry, |at| at.max(retry)));
    }
    let mut wakeup = shared.wakeup.borrow_mut();
    let Some(at) = at else {
        *wakeup = None;
        return;
    };
    if wakeup.as_ref().is_some_and(|(known, _)| *known == at) {
        return;
    }
    let weak = Rc::downgrade(shared);
    let delay = at.saturating_sub(now).min(Millis::from(u32::MAX)) as u32;
    // Boxed: the timer is then of the type `drain`'s timers are (one instantiation of
    // gloo's timer and its closure glue for both).
    let tick: Box<dyn FnOnce()> = Box::new(move || {
        if let Some(shared) = weak.upgrade() {
            shared.wakeup.borrow_mut().take();
            drive(&shared);
        }
    });
    *wakeup = Some((at, Timeout::new(delay, tick)));
}

/// Calls the handler with every event the core has waiting, in order, outside any borrow
/// so that the handler may call back in; events produced meanwhile are delivered by this
/// same loop. A token expiry is answered (`refresh`) on its way.
fn deliver(shared: &Rc<SessionShared>) {
    if shared.delivering.replace(true) {
        return;
    }
    loop {
        let Some(event) = shared.core.borrow_mut().poll_event() else {
            break;
        };
        if let ChatEvent::TokenExpiring { .. } = event {
            refresh(shared);
        }
        let taken = shared.handler.borrow_mut().take();
        if let Some(mut handler) = taken {
            handler(event);
            let mut slot = shared.handler.borrow_mut();
            // Keep a handler the callback installed; otherwise put this one back.
            if slot.is_none() {
                *slot = Some(handler);
            }
        }
    }
    shared.delivering.set(false);
}

fn on_socket_event(shared: &Rc<SessionShared>, event: ResilientEvent) {
    let now = now_ms();
    match event {
        ResilientEvent::Message(Message::Text(text)) => match wire::decode(&text) {
            Ok(envelope) => shared.core.borrow_mut().received(envelope, now),
            Err(err) => shared.core.borrow_mut().report(ChatEvent::Error {
                code: ErrorCode::InvalidJson,
                message: "the server sent something that is not an envelope: ".to_owned() + &err,
                reference: None,
            }),
        },
        ResilientEvent::Message(Message::Binary(_)) => return,
        other => {
            let mut core = shared.core.borrow_mut();
            let react: Option<fn(&mut SessionCore, Millis)> = match &other {
                ResilientEvent::Open | ResilientEvent::Reconnected { .. } => {
                    Some(SessionCore::connected)
                }
                ResilientEvent::Disconnected(_) => Some(SessionCore::disconnected),
                ResilientEvent::GaveUp => Some(SessionCore::give_up),
                ResilientEvent::Closed(_) if !core.is_closed() => Some(SessionCore::close),
                // Lines stay kept: `reconnect()` may still deliver them.
                _ => None,
            };
            // The application hears of the change before what the core makes of it.
            core.report(ChatEvent::Connection(other));
            if let Some(react) = react {
                react(&mut core, now);
            }
        }
    }
    drive(shared);
}
