//! [`ResilientSocket`]: one logical connection over a succession of browser sockets, never
//! two at once — automatic reconnect, an offline send queue, backpressure and a heartbeat.

mod endpoint;
mod policy;
mod queue;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures_core::Stream;
use futures_sink::Sink;
use gloo_events::EventListener;
use gloo_timers::callback::{Interval, Timeout};
use wasm_bindgen::JsCast;

use endpoint::EndpointFn;
pub use endpoint::{Endpoint, EndpointFuture};
pub use policy::ReconnectPolicy;
use queue::{Outgoing, SendQueue};
pub use queue::{Overflow, QueueLimits, SendOutcome};

use crate::drain::DrainWait;
use crate::error::{CloseError, OpenError};
use crate::message::{CloseEvent, Message};
use crate::socket::WebSocket;
use crate::state::ReadyState;
use crate::{CloseCode, CloseReason};

/// An application-level heartbeat: browsers cannot send WebSocket pings nor see a TCP
/// connection that silently died, so the socket sends `ping` after `interval` without any
/// incoming message, and treats the connection as dead (and reconnects) when nothing at all
/// arrives within `timeout` after it.
#[derive(Debug, Clone, PartialEq)]
pub struct Heartbeat {
    /// Quiet time before a ping. Default: 15 s.
    pub interval: Duration,
    /// Time to wait for any message after the ping. Default: 10 s.
    pub timeout: Duration,
    /// The ping to send; the server must answer it with any message (`chat.v1`:
    /// `{"type":"ping"}`, answered by `pong`).
    pub ping: Message,
}

/// How a [`ResilientSocket`] behaves. `Default` gives sane values for each part.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use ferrosocket::{Heartbeat, Message, ResilientOptions};
///
/// let options = ResilientOptions {
///     heartbeat: Some(Heartbeat {
///         interval: Duration::from_secs(20),
///         timeout: Duration::from_secs(5),
///         ping: Message::Text(r#"{"type":"ping"}"#.into()),
///     }),
///     ..ResilientOptions::default()
/// };
/// assert_eq!(options.high_water_mark, 1 << 20);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ResilientOptions {
    /// When and how fast to reconnect.
    pub reconnect: ReconnectPolicy,
    /// The bounds of the offline queue.
    pub queue: QueueLimits,
    /// Above this many bytes in the browser's send buffer (`bufferedAmount`), sends are
    /// queued instead. Default: 1 MiB.
    pub high_water_mark: u32,
    /// The heartbeat, if any. Default: none.
    pub heartbeat: Option<Heartbeat>,
    /// Subprotocols to offer on every connection.
    pub protocols: Vec<String>,
    /// How long an attempt may take to open before it is given up (closed with
    /// [`CloseCode::CONNECT_TIMEOUT`], reported as a 1006 `connect timeout`) and retried;
    /// `None`: as long as the browser takes. Default: 10 s.
    pub connect_timeout: Option<Duration>,
}

impl Default for ResilientOptions {
    fn default() -> Self {
        ResilientOptions {
            reconnect: ReconnectPolicy::default(),
            queue: QueueLimits::default(),
            high_water_mark: 1 << 20,
            heartbeat: None,
            protocols: Vec::new(),
            connect_timeout: Some(Duration::from_secs(10)),
        }
    }
}

/// Where the connection stands; readable at any time with
/// [`ResilientSocket::state`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionState {
    /// A socket is being opened.
    Connecting,
    /// The socket is open.
    Open,
    /// Waiting before reconnect attempt `attempt`.
    Reconnecting {
        /// The attempt about to be made, from 1.
        attempt: u32,
    },
    /// Closed for good: by [`ResilientSocket::close`], or by a close the policy does not
    /// reconnect after.
    Closed,
    /// Closed after the policy's maximum number of attempts.
    GaveUp,
}

/// What a [`ResilientSocket`] reports, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum ResilientEvent {
    /// The first connection opened.
    Open,
    /// A later connection opened, after `attempts` attempts since the last connection that
    /// stayed open for the policy's `min_uptime`. Messages the handler sends while handling
    /// this event go out before the offline queue.
    Reconnected {
        /// How many attempts it took.
        attempts: u32,
    },
    /// A message arrived.
    Message(Message),
    /// The current socket closed or was found dead. A heartbeat timeout or a connect
    /// timeout reports code 1006, like any lost connection, with the reason
    /// `heartbeat timeout` or `connect timeout` (the server is sent
    /// [`CloseCode::HEARTBEAT_TIMEOUT`] or [`CloseCode::CONNECT_TIMEOUT`]).
    /// A `Reconnecting`, `GaveUp` or `Closed` follows.
    Disconnected(CloseEvent),
    /// The next attempt will be made after `delay`.
    Reconnecting {
        /// The attempt, from 1.
        attempt: u32,
        /// The wait before it (random, at most the policy's cap for this attempt).
        delay: Duration,
    },
    /// The policy's maximum number of attempts was reached; nothing more will happen.
    GaveUp,
    /// Closed for good.
    Closed(CloseEvent),
}

type Handler = Box<dyn FnMut(ResilientEvent)>;
type ReconnectPredicate = Box<dyn FnMut(&CloseEvent) -> bool>;

struct Core {
    url: String,
    /// Computes the endpoint of every attempt, when given to
    /// [`ResilientSocket::open_with`]; `url` and the options' protocols otherwise.
    endpoint_fn: Option<EndpointFn>,
    /// Bumped by every attempt, so that an endpoint computed for an attempt that was
    /// overtaken (closed meanwhile) is ignored.
    attempt_id: u64,
    options: ResilientOptions,
    socket: Option<WebSocket>,
    state: ConnectionState,
    attempts: u32,
    ever_opened: bool,
    user_closed: bool,
    /// While the `Open`/`Reconnected` handler runs, sends bypass the queue.
    in_open_handler: bool,
    queue: SendQueue,
    last_heard_ms: f64,
    ping_sent_ms: Option<f64>,
    /// When the current socket opened, to tell a stable connection from a flapping one.
    opened_at_ms: Option<f64>,
    should_reconnect: Option<ReconnectPredicate>,
    connect_timer: Option<Timeout>,
    retry_timer: Option<Timeout>,
    /// Whether a pump is scheduled, and when the next one runs.
    pump_scheduled: bool,
    pump_wait: DrainWait,
    heartbeat_timer: Option<Interval>,
    online: Option<EventListener>,
    flush_waiters: Vec<Waker>,
    sink_waiters: Vec<Waker>,
    /// Queued messages thrown away by [`ResilientSocket::close`].
    discarded: usize,
    /// Set by [`ResilientSocket::detach`]: the socket keeps itself alive until it is closed
    /// for good.
    keep_alive: Option<Rc<Shared>>,
}

struct Shared {
    core: RefCell<Core>,
    handler: RefCell<Option<Handler>>,
}

/// A connection that survives network failures: it reconnects with backoff, keeps what is
/// sent while offline, holds back when the browser's buffer is full, and detects dead
/// connections with a heartbeat.
///
/// - **Never two sockets at once**: a new one is opened only after the old one is gone.
/// - **Offline queue**: [`send`](Self::send) while not open keeps the message, bounded by
///   [`QueueLimits`]; on (re)open the queue is sent in order before anything newer.
/// - **Backpressure**: above the high-water mark, sends are queued; [`flushed`](Self::flushed)
///   (and the `Sink`) wait until everything has left the browser.
/// - **Retry now** when the window fires `online`.
///
/// Messages are not deduplicated or replayed here: a message the browser had buffered
/// when a connection died may be lost. [`ChatSession`](crate::ChatSession) adds
/// acknowledgements and resume on top to make delivery exactly-once.
///
/// Dropping it closes the socket and cancels every timer and listener.
///
/// # Examples
/// ```no_run
/// use ferrosocket::{Message, ResilientEvent, ResilientOptions, ResilientSocket, SendOutcome};
///
/// let socket = ResilientSocket::open("/echo", ResilientOptions::default())?;
/// socket.set_on_event(|event| match event {
///     ResilientEvent::Reconnecting { attempt, delay } => {
///         web_sys::console::log_1(&format!("retry {attempt} in {delay:?}").into())
///     }
///     ResilientEvent::Message(message) => web_sys::console::log_1(&format!("{message:?}").into()),
///     _ => {}
/// });
/// // Kept and sent once the connection is open.
/// assert_eq!(socket.send(Message::Text("hello".into())), SendOutcome::Queued);
/// # Ok::<(), ferrosocket::OpenError>(())
/// ```
pub struct ResilientSocket {
    shared: Rc<Shared>,
}

impl std::fmt::Debug for ResilientSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let core = self.shared.core.borrow();
        f.debug_struct("ResilientSocket")
            .field("url", &core.url)
            .field("state", &core.state)
            .field("queued", &core.queue.len())
            .finish_non_exhaustive()
    }
}

fn now_ms() -> f64 {
    js_sys::Date::now()
}

impl ResilientSocket {
    /// Opens the first connection to `url` (see [`WebSocket::open`]). An invalid URL or
    /// subprotocol is an error now; network failures later are retried.
    pub fn open(url: &str, options: ResilientOptions) -> Result<ResilientSocket, OpenError> {
        let shared = Self::new_shared(url, options, None);
        let socket = connect(&shared)?;
        shared.core.borrow_mut().socket = Some(socket);
        arm_connect_timeout(&shared);
        Ok(Self::finish_open(shared))
    }

    /// Opens a connection whose endpoint — URL and subprotocols — `endpoint` computes
    /// before every attempt, for URLs that change: a token that expires, a server picked
    /// per attempt. An `Err` from it, or an invalid URL, fails that attempt like a lost
    /// connection (a 1006 `Disconnected` with the reason), and it is retried.
    ///
    /// # Examples
    /// ```no_run
    /// use ferrosocket::{Endpoint, EndpointFuture, ResilientOptions, ResilientSocket};
    ///
    /// async fn fresh_token() -> Result<String, String> {
    ///     Ok("abc".into()) // e.g. fetched from the app's server
    /// }
    ///
    /// let socket = ResilientSocket::open_with(
    ///     || -> EndpointFuture {
    ///         Box::pin(async { Ok(Endpoint::new(format!("/chat?token={}", fresh_token().await?))) })
    ///     },
    ///     ResilientOptions::default(),
    /// );
    /// ```
    pub fn open_with(
        endpoint: impl FnMut() -> EndpointFuture + 'static,
        options: ResilientOptions,
    ) -> ResilientSocket {
        let shared = Self::new_shared("", options, Some(Box::new(endpoint)));
        start_attempt(&shared);
        Self::finish_open(shared)
    }

    fn new_shared(
        url: &str,
        options: ResilientOptions,
        endpoint_fn: Option<EndpointFn>,
    ) -> Rc<Shared> {
        Rc::new(Shared {
            core: RefCell::new(Core {
                url: url.to_owned(),
                endpoint_fn,
                attempt_id: 0,
                queue: SendQueue::new(options.queue),
                options,
                socket: None,
                state: ConnectionState::Connecting,
                attempts: 0,
                ever_opened: false,
                user_closed: false,
                in_open_handler: false,
                last_heard_ms: now_ms(),
                ping_sent_ms: None,
                opened_at_ms: None,
                should_reconnect: None,
                connect_timer: None,
                retry_timer: None,
                pump_scheduled: false,
                pump_wait: DrainWait::default(),
                heartbeat_timer: None,
                online: None,
                flush_waiters: Vec::new(),
                sink_waiters: Vec::new(),
                discarded: 0,
                keep_alive: None,
            }),
            handler: RefCell::new(None),
        })
    }

    /// Listens for the `online` event of the global scope (a page's window, or a worker's
    /// scope: both fire it) and wraps `shared`.
    fn finish_open(shared: Rc<Shared>) -> ResilientSocket {
        if let Ok(global) = js_sys::global().dyn_into::<web_sys::EventTarget>() {
            let weak = Rc::downgrade(&shared);
            let online = EventListener::new(&global, "online", move |_| {
                if let Some(shared) = weak.upgrade() {
                    retry_now(&shared);
                }
            });
            shared.core.borrow_mut().online = Some(online);
        }
        ResilientSocket { shared }
    }

    /// Decides, instead of the policy's close-code rules, whether to reconnect after the
    /// server (or the network) closed the connection; the policy still sets the delays and
    /// the maximum number of attempts. Not consulted after [`close`](Self::close).
    ///
    /// # Examples
    /// ```no_run
    /// use ferrosocket::{ResilientOptions, ResilientSocket};
    ///
    /// let socket = ResilientSocket::open("/chat", ResilientOptions::default())?;
    /// // 4401: our server's "log in again"; reconnecting would not help.
    /// socket.set_should_reconnect(|close| close.code != 4401);
    /// # Ok::<(), ferrosocket::OpenError>(())
    /// ```
    pub fn set_should_reconnect(&self, predicate: impl FnMut(&CloseEvent) -> bool + 'static) {
        self.shared.core.borrow_mut().should_reconnect = Some(Box::new(predicate));
    }

    /// Sets the handler that receives every [`ResilientEvent`], replacing any previous one.
    pub fn set_on_event(&self, handler: impl FnMut(ResilientEvent) + 'static) {
        *self.shared.handler.borrow_mut() = Some(Box::new(handler));
    }

    /// Sends `message` now if the socket is open, nothing is queued before it and the
    /// browser's buffer is under the high-water mark; otherwise queues it. Says which.
    pub fn send(&self, message: Message) -> SendOutcome {
        send(&self.shared, message)
    }

    /// Sends `blob` as one binary message, like [`send`](Self::send): now if possible,
    /// otherwise queued in order with the other messages (the browser reads the Blob when
    /// it is sent; its `size` counts against the queue's byte bound).
    ///
    /// # Examples
    /// ```no_run
    /// # let socket = ferrosocket::ResilientSocket::open("/echo", Default::default()).unwrap();
    /// let parts = js_sys::Array::of1(&"in a blob".into());
    /// let blob = web_sys::Blob::new_with_str_sequence(&parts).unwrap();
    /// socket.send_blob(&blob);
    /// ```
    pub fn send_blob(&self, blob: &web_sys::Blob) -> SendOutcome {
        send(&self.shared, Outgoing::Blob(blob.clone()))
    }

    /// Sends `message` only if it can go on the open socket right now (open, and the
    /// browser's buffer under the high-water mark); never queues it. Returns whether it was
    /// handed to the socket. For a layer above that keeps its own messages until they are
    /// acknowledged (as [`ChatSession`](crate::ChatSession) does), so that no second copy
    /// waits here.
    pub fn send_now(&self, message: &Message) -> bool {
        send_now(&self.shared, message)
    }

    /// Whether [`send_now`](Self::send_now) would send now.
    pub fn can_send_now(&self) -> bool {
        can_send_now(&self.shared)
    }

    /// Where the connection stands.
    pub fn state(&self) -> ConnectionState {
        self.shared.core.borrow().state
    }

    /// Messages waiting in the queue.
    pub fn queued(&self) -> usize {
        self.shared.core.borrow().queue.len()
    }

    /// The current socket's `bufferedAmount` (0 when there is none).
    pub fn buffered_amount(&self) -> u32 {
        let core = self.shared.core.borrow();
        core.socket.as_ref().map_or(0, WebSocket::buffered_amount)
    }

    /// The current socket's selected subprotocol (empty when there is none).
    pub fn protocol(&self) -> String {
        let core = self.shared.core.borrow();
        core.socket
            .as_ref()
            .map_or_else(String::new, WebSocket::protocol)
    }

    /// Completes when the queue is empty and the browser has sent everything
    /// (`bufferedAmount` is 0) — after a reconnect if need be. Fails when the socket is
    /// closed for good or gives up with messages never sent, and says how many.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn run() {
    /// use ferrosocket::{Message, ResilientError, ResilientOptions, ResilientSocket};
    ///
    /// let socket = ResilientSocket::open("/echo", ResilientOptions::default()).unwrap();
    /// socket.send(Message::Text("hello".into()));
    /// match socket.flushed().await {
    ///     Ok(()) => {}
    ///     Err(ResilientError::GaveUp { unsent }) => {
    ///         web_sys::console::warn_1(&format!("{unsent} messages never sent").into())
    ///     }
    ///     Err(other) => web_sys::console::warn_1(&other.to_string().into()),
    /// }
    /// # }
    /// ```
    pub fn flushed(&self) -> Flushed {
        Flushed {
            shared: Rc::clone(&self.shared),
        }
    }

    /// A handle that sends on this socket without keeping it alive, cheap to clone, for use
    /// inside its own event handler.
    pub fn sender(&self) -> Sender {
        Sender {
            shared: Rc::downgrade(&self.shared),
        }
    }

    /// Every event from now on as a `Stream`, ending after `Closed` or `GaveUp` (or when the
    /// socket is dropped). It takes the place of the [`set_on_event`](Self::set_on_event)
    /// handler: there is one consumer of events.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn run() {
    /// use ferrosocket::{ResilientEvent, ResilientOptions, ResilientSocket};
    /// use futures_util::StreamExt;
    ///
    /// let socket = ResilientSocket::open("/echo", ResilientOptions::default()).unwrap();
    /// let mut events = socket.events();
    /// while let Some(event) = events.next().await {
    ///     if let ResilientEvent::Message(message) = event {
    ///         web_sys::console::log_1(&format!("{message:?}").into());
    ///     }
    /// }
    /// # }
    /// ```
    pub fn events(&self) -> ResilientEvents {
        let queue = Rc::new(RefCell::new(EventQueue::default()));
        let feed = Rc::clone(&queue);
        self.set_on_event(move |event| feed.borrow_mut().push(event));
        ResilientEvents {
            queue,
            socket: Rc::downgrade(&self.shared),
        }
    }

    /// Lets the connection outlive this value: it goes on (reconnecting, sending its queue,
    /// calling its handler) until it is closed for good — by [`Sender::close`], by a close
    /// the policy does not reconnect after, or by giving up — and is then released. Returns
    /// a [`Sender`] to keep using it.
    ///
    /// # Examples
    /// ```no_run
    /// use ferrosocket::{Message, ResilientOptions, ResilientSocket};
    ///
    /// fn start() -> ferrosocket::Sender {
    ///     let socket = ResilientSocket::open("/echo", ResilientOptions::default()).unwrap();
    ///     socket.set_on_event(|event| web_sys::console::log_1(&format!("{event:?}").into()));
    ///     socket.detach()
    /// }
    /// let sender = start();
    /// sender.send(Message::Text("still here".into()));
    /// ```
    pub fn detach(self) -> Sender {
        let sender = self.sender();
        let mut core = self.shared.core.borrow_mut();
        if !matches!(
            core.state,
            ConnectionState::Closed | ConnectionState::GaveUp
        ) {
            core.keep_alive = Some(Rc::clone(&self.shared));
        }
        sender
    }

    /// Reconnects now if waiting between attempts (what a "retry now" button does).
    pub fn retry_now(&self) {
        retry_now(&self.shared);
    }

    /// Starts over now, as partysocket's `reconnect()` does: the current socket (if any) is
    /// closed with 1000 and reported as a `Disconnected` (1000, `"reconnect"`), the attempt
    /// count starts again, and a new attempt is made at once. After a close or a give-up
    /// the socket comes back to life, with the queue empty; what is queued now is kept.
    pub fn reconnect(&self) {
        reconnect(&self.shared);
    }

    /// Closes for good with 1000: no reconnect, queued messages are discarded, later sends
    /// are rejected. A `Closed` event follows.
    pub fn close(&self) {
        close(&self.shared, None);
    }

    /// Closes for good as [`close`](Self::close) does, sending `code` (1000 or 3000–4999)
    /// and `reason` (at most 123 UTF-8 bytes) to the server. A bad code or reason is an
    /// error and changes nothing.
    pub fn close_with(&self, code: u16, reason: &str) -> Result<(), CloseError> {
        let code = CloseCode::new(code)?;
        let reason = CloseReason::new(reason)?;
        close(&self.shared, Some((code.get(), reason.as_str().to_owned())));
        Ok(())
    }
}

/// `how`: the code and reason to send, already checked; `None` for 1000 and no reason.
fn close(shared: &Rc<Shared>, how: Option<(u16, String)>) {
    let event = {
        let mut core = shared.core.borrow_mut();
        core.user_closed = true;
        core.retry_timer = None;
        core.heartbeat_timer = None;
        while core.queue.pop().is_some() {
            core.discarded += 1;
        }
        match &core.socket {
            Some(socket) if socket.ready_state() != ReadyState::Closed => {
                let _ = match &how {
                    Some((code, reason)) => socket.close_with(*code, reason),
                    None => socket.close(),
                };
                None
            }
            _ => {
                core.state = ConnectionState::Closed;
                core.socket = None;
                let (code, reason) = how.unwrap_or((1000, String::new()));
                Some(ResilientEvent::Closed(CloseEvent {
                    code,
                    reason,
                    was_clean: true,
                }))
            }
        }
    };
    wake_all(shared);
    emit(shared, event);
    release_if_final(shared);
}

/// A detached socket closed for good lets go of itself (on the next task: this may run
/// inside one of its own listeners).
fn release_if_final(shared: &Rc<Shared>) {
    let mut core = shared.core.borrow_mut();
    if matches!(
        core.state,
        ConnectionState::Closed | ConnectionState::GaveUp
    ) {
        if let Some(keep_alive) = core.keep_alive.take() {
            crate::drain::on_next_task(move || drop(keep_alive));
        }
    }
}

/// Sends on a [`ResilientSocket`] without keeping it alive (see
/// [`ResilientSocket::sender`]).
#[derive(Debug, Clone)]
pub struct Sender {
    shared: Weak<Shared>,
}

impl Sender {
    /// [`ResilientSocket::send`], or [`SendOutcome::Rejected`] once the socket is dropped.
    pub fn send(&self, message: Message) -> SendOutcome {
        match self.shared.upgrade() {
            Some(shared) => send(&shared, message),
            None => SendOutcome::Rejected,
        }
    }

    /// [`ResilientSocket::send_now`], or `false` once the socket is dropped.
    pub fn send_now(&self, message: &Message) -> bool {
        self.shared
            .upgrade()
            .is_some_and(|shared| send_now(&shared, message))
    }

    /// [`ResilientSocket::can_send_now`], or `false` once the socket is dropped.
    pub fn can_send_now(&self) -> bool {
        self.shared
            .upgrade()
            .is_some_and(|shared| can_send_now(&shared))
    }

    /// [`ResilientSocket::close`]; nothing once the socket is dropped.
    pub fn close(&self) {
        if let Some(shared) = self.shared.upgrade() {
            close(&shared, None);
        }
    }

    /// [`ResilientSocket::state`], or `Closed` once the socket is dropped.
    pub fn state(&self) -> ConnectionState {
        self.shared
            .upgrade()
            .map_or(ConnectionState::Closed, |shared| shared.core.borrow().state)
    }
}

/// Why a [`ResilientSocket`] refused a message (the `Sink`'s error) or could not flush
/// ([`ResilientSocket::flushed`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResilientError {
    /// Closed for good: by [`ResilientSocket::close`], or by a close the reconnect policy
    /// does not retry. `unsent` messages were never sent.
    Closed {
        /// Messages thrown away or left in the queue.
        unsent: usize,
    },
    /// The reconnect policy gave up. `unsent` messages will never be sent.
    GaveUp {
        /// Messages left in the queue.
        unsent: usize,
    },
    /// The offline queue is full and its overflow policy refuses new messages.
    QueueFull,
}

impl fmt::Display for ResilientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResilientError::Closed { unsent } => {
                write!(
                    f,
                    "the socket is closed for good; {unsent} messages were never sent"
                )
            }
            ResilientError::GaveUp { unsent } => write!(
                f,
                "the socket gave up reconnecting; {unsent} messages will never be sent"
            ),
            ResilientError::QueueFull => f.write_str("the offline queue is full"),
        }
    }
}

impl std::error::Error for ResilientError {}

/// The error for a socket that is closed for good or gave up, if it is.
fn final_error(core: &Core) -> Option<ResilientError> {
    let unsent = core.queue.len() + core.discarded;
    match core.state {
        ConnectionState::GaveUp => Some(ResilientError::GaveUp { unsent }),
        ConnectionState::Closed => Some(ResilientError::Closed { unsent }),
        _ if core.user_closed => Some(ResilientError::Closed { unsent }),
        _ => None,
    }
}

#[derive(Debug, Default)]
struct EventQueue {
    events: VecDeque<ResilientEvent>,
    ended: bool,
    waker: Option<Waker>,
}

impl EventQueue {
    fn push(&mut self, event: ResilientEvent) {
        if self.ended {
            return;
        }
        self.ended = matches!(event, ResilientEvent::Closed(_) | ResilientEvent::GaveUp);
        self.events.push_back(event);
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }
}

/// The events of a [`ResilientSocket`] as a `Stream` (see [`ResilientSocket::events`]).
#[derive(Debug)]
pub struct ResilientEvents {
    queue: Rc<RefCell<EventQueue>>,
    socket: Weak<Shared>,
}

impl Stream for ResilientEvents {
    type Item = ResilientEvent;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<ResilientEvent>> {
        let mut queue = self.queue.borrow_mut();
        if let Some(event) = queue.events.pop_front() {
            return Poll::Ready(Some(event));
        }
        // Ended, or the socket (and so the handler feeding this queue) is gone.
        if queue.ended || self.socket.strong_count() == 0 {
            return Poll::Ready(None);
        }
        queue.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// The future of [`ResilientSocket::flushed`].
#[derive(Debug)]
pub struct Flushed {
    shared: Rc<Shared>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Shared")
    }
}

impl Future for Flushed {
    type Output = Result<(), ResilientError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut core = self.shared.core.borrow_mut();
        let buffered = core.socket.as_ref().map_or(0, WebSocket::buffered_amount);
        let done = core.queue.is_empty() && buffered == 0 && core.discarded == 0;
        if done {
            return Poll::Ready(Ok(()));
        }
        if let Some(error) = final_error(&core) {
            return Poll::Ready(Err(error));
        }
        core.flush_waiters.push(cx.waker().clone());
        drop(core);
        ensure_pump(&self.shared);
        Poll::Pending
    }
}

impl Sink<Message> for ResilientSocket {
    type Error = ResilientError;

    /// Ready while the queue has room; while the socket is open, also waits until the
    /// browser's buffer is under the high-water mark.
    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), ResilientError>> {
        let mut core = self.shared.core.borrow_mut();
        if let Some(error) = final_error(&core) {
            return Poll::Ready(Err(error));
        }
        let over_mark = core.state == ConnectionState::Open
            && core.socket.as_ref().map_or(0, WebSocket::buffered_amount)
                > core.options.high_water_mark;
        if !core.queue.is_full() && !over_mark {
            return Poll::Ready(Ok(()));
        }
        core.sink_waiters.push(cx.waker().clone());
        drop(core);
        ensure_pump(&self.shared);
        Poll::Pending
    }

    fn start_send(self: Pin<&mut Self>, message: Message) -> Result<(), ResilientError> {
        match send(&self.shared, message) {
            SendOutcome::Rejected => {
                Err(final_error(&self.shared.core.borrow()).unwrap_or(ResilientError::QueueFull))
            }
            _ => Ok(()),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), ResilientError>> {
        let mut flushed = self.flushed();
        Pin::new(&mut flushed).poll(cx)
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), ResilientError>> {
        self.close();
        Poll::Ready(Ok(()))
    }
}

/// Calls the handler with `event`, outside any borrow so the handler may call back in.
fn emit(shared: &Rc<Shared>, event: Option<ResilientEvent>) {
    let Some(event) = event else { return };
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

fn wake_all(shared: &Rc<Shared>) {
    let wakers: Vec<Waker> = {
        let mut core = shared.core.borrow_mut();
        let mut wakers = std::mem::take(&mut core.flush_waiters);
        wakers.append(&mut core.sink_waiters);
        wakers
    };
    for waker in wakers {
        waker.wake();
    }
}

/// Opens a socket for `shared` with handlers that hold only a weak reference.
fn connect(shared: &Rc<Shared>) -> Result<WebSocket, OpenError> {
    let (url, protocols) = {
        let core = shared.core.borrow();
        (core.url.clone(), core.options.protocols.clone())
    };
    connect_to(shared, &url, &protocols)
}

fn connect_to(
    shared: &Rc<Shared>,
    url: &str,
    protocols: &[String],
) -> Result<WebSocket, OpenError> {
    let protocols: Vec<&str> = protocols.iter().map(String::as_str).collect();
    let mut socket = WebSocket::open_with_protocols(url, &protocols)?;
    let weak = Rc::downgrade(shared);
    socket.set_on_open(with(&weak, on_open));
    let weak_message = weak.clone();
    socket.set_on_message(move |message| {
        if let Some(shared) = weak_message.upgrade() {
            on_message(&shared, message);
        }
    });
    let weak_close = weak.clone();
    socket.set_on_close(move |close| {
        if let Some(shared) = weak_close.upgrade() {
            on_close(&shared, close);
        }
    });
    Ok(socket)
}

fn with(weak: &Weak<Shared>, f: fn(&Rc<Shared>)) -> impl FnMut() + 'static {
    let weak = weak.clone();
    move || {
        if let Some(shared) = weak.upgrade() {
            f(&shared);
        }
    }
}

fn on_open(shared: &Rc<Shared>) {
    let event = {
        let mut core = shared.core.borrow_mut();
        core.state = ConnectionState::Open;
        core.last_heard_ms = now_ms();
        core.ping_sent_ms = None;
        core.opened_at_ms = Some(now_ms());
        core.connect_timer = None;
        // Counted until this connection proves stable (see `on_close`).
        let attempts = core.attempts;
        let event = if core.ever_opened {
            ResilientEvent::Reconnected { attempts }
        } else {
            ResilientEvent::Open
        };
        core.ever_opened = true;
        core.in_open_handler = true;
        event
    };
    start_heartbeat(shared);
    emit(shared, Some(event));
    shared.core.borrow_mut().in_open_handler = false;
    pump(shared);
}

fn on_message(shared: &Rc<Shared>, message: Message) {
    {
        let mut core = shared.core.borrow_mut();
        core.last_heard_ms = now_ms();
        core.ping_sent_ms = None;
    }
    emit(shared, Some(ResilientEvent::Message(message)));
}

fn on_close(shared: &Rc<Shared>, close: CloseEvent) {
    let user_closed = {
        let mut core = shared.core.borrow_mut();
        core.socket = None;
        core.heartbeat_timer = None;
        core.connect_timer = None;
        if let Some(opened) = core.opened_at_ms.take() {
            let uptime = Duration::from_secs_f64(((now_ms() - opened) / 1000.0).max(0.0));
            if core.options.reconnect.was_stable(uptime) {
                core.attempts = 0;
            }
        }
        core.user_closed
    };
    if user_closed {
        shared.core.borrow_mut().state = ConnectionState::Closed;
        wake_all(shared);
        emit(shared, Some(ResilientEvent::Closed(close)));
        return release_if_final(shared);
    }
    emit(shared, Some(ResilientEvent::Disconnected(close.clone())));
    let reconnect = should_reconnect(shared, &close);
    if reconnect {
        schedule_retry(shared);
    } else {
        shared.core.borrow_mut().state = ConnectionState::Closed;
        wake_all(shared);
        emit(shared, Some(ResilientEvent::Closed(close)));
        release_if_final(shared);
    }
}

/// The user's predicate if there is one (called outside any borrow: it may call back in),
/// else the policy's close-code rules.
fn should_reconnect(shared: &Rc<Shared>, close: &CloseEvent) -> bool {
    let predicate = shared.core.borrow_mut().should_reconnect.take();
    match predicate {
        Some(mut predicate) => {
            let answer = predicate(close);
            let mut core = shared.core.borrow_mut();
            if core.should_reconnect.is_none() {
                core.should_reconnect = Some(predicate);
            }
            answer
        }
        None => shared
            .core
            .borrow()
            .options
            .reconnect
            .should_reconnect(close.code),
    }
}

/// Gives the attempt just started `connect_timeout` to open.
fn arm_connect_timeout(shared: &Rc<Shared>) {
    let mut core = shared.core.borrow_mut();
    let Some(timeout) = core.options.connect_timeout else {
        return;
    };
    let millis = timeout.as_millis().min(u128::from(u32::MAX)) as u32;
    let weak = Rc::downgrade(shared);
    core.connect_timer = Some(Timeout::new(millis, move || {
        let Some(shared) = weak.upgrade() else { return };
        let connecting = {
            let mut core = shared.core.borrow_mut();
            core.connect_timer = None;
            core.state == ConnectionState::Connecting && core.socket.is_some()
        };
        if connecting {
            give_up_on_socket(&shared, CloseCode::CONNECT_TIMEOUT, "connect timeout");
        }
    }));
}

/// Closes the current socket with `code` and `reason`, without waiting for the browser
/// (which could take minutes to notice a dead connection), and carries on as after a lost
/// connection.
fn give_up_on_socket(shared: &Rc<Shared>, code: CloseCode, reason: &str) {
    let socket = shared.core.borrow_mut().socket.take();
    if let Some(socket) = socket {
        // Closing with a valid code and a short reason cannot fail; dropping the socket
        // then removes its listeners, so its own close event never reaches us.
        let _ = socket.close_with(code.get(), reason);
    }
    on_close(
        shared,
        CloseEvent {
            code: 1006,
            reason: reason.into(),
            was_clean: false,
        },
    );
}

fn schedule_retry(shared: &Rc<Shared>) {
    let event = {
        let mut core = shared.core.borrow_mut();
        if core.user_closed {
            return;
        }
        core.attempts += 1;
        let attempt = core.attempts;
        if !core.options.reconnect.allows_attempt(attempt) {
            core.state = ConnectionState::GaveUp;
            core.retry_timer = None;
            ResilientEvent::GaveUp
        } else {
            let delay = core
                .options
                .reconnect
                .delay(attempt, js_sys::Math::random());
            core.state = ConnectionState::Reconnecting { attempt };
            let weak = Rc::downgrade(shared);
            let millis = delay.as_millis().min(u128::from(u32::MAX)) as u32;
            core.retry_timer = Some(Timeout::new(millis, move || {
                if let Some(shared) = weak.upgrade() {
                    attempt_now(&shared);
                }
            }));
            ResilientEvent::Reconnecting { attempt, delay }
        }
    };
    let gave_up = event == ResilientEvent::GaveUp;
    if gave_up {
        wake_all(shared);
    }
    emit(shared, Some(event));
    if gave_up {
        release_if_final(shared);
    }
}

fn attempt_now(shared: &Rc<Shared>) {
    {
        let mut core = shared.core.borrow_mut();
        core.retry_timer = None;
        core.state = ConnectionState::Connecting;
    }
    start_attempt(shared);
}

/// Opens the socket of an attempt: at once for a fixed URL; once the endpoint function's
/// future resolves otherwise.
fn start_attempt(shared: &Rc<Shared>) {
    let (attempt_id, endpoint_fn) = {
        let mut core = shared.core.borrow_mut();
        core.attempt_id += 1;
        (core.attempt_id, core.endpoint_fn.take())
    };
    let Some(mut endpoint_fn) = endpoint_fn else {
        return match connect(shared) {
            Ok(socket) => {
                shared.core.borrow_mut().socket = Some(socket);
                arm_connect_timeout(shared);
            }
            // The URL was valid once; treat a refusal like a failed attempt.
            Err(_) => schedule_retry(shared),
        };
    };
    // Called with nothing borrowed: it may look at the socket.
    let future = endpoint_fn();
    shared.core.borrow_mut().endpoint_fn = Some(endpoint_fn);
    let weak = Rc::downgrade(shared);
    wasm_bindgen_futures::spawn_local(async move {
        let endpoint = future.await;
        let Some(shared) = weak.upgrade() else { return };
        let current = {
            let core = shared.core.borrow();
            !core.user_closed
                && core.attempt_id == attempt_id
                && core.state == ConnectionState::Connecting
                && core.socket.is_none()
        };
        if !current {
            return;
        }
        let opened = endpoint.and_then(|endpoint| {
            connect_to(&shared, &endpoint.url, &endpoint.protocols).map_err(|err| err.to_string())
        });
        match opened {
            Ok(socket) => {
                shared.core.borrow_mut().socket = Some(socket);
                arm_connect_timeout(&shared);
            }
            Err(reason) => on_close(
                &shared,
                CloseEvent {
                    code: 1006,
                    reason,
                    was_clean: false,
                },
            ),
        }
    });
}

fn reconnect(shared: &Rc<Shared>) {
    let socket = {
        let mut core = shared.core.borrow_mut();
        core.user_closed = false;
        core.attempts = 0;
        core.retry_timer = None;
        core.connect_timer = None;
        core.heartbeat_timer = None;
        core.opened_at_ms = None;
        core.socket.take()
    };
    if let Some(socket) = socket {
        if matches!(
            socket.ready_state(),
            ReadyState::Connecting | ReadyState::Open
        ) {
            // Dropping the socket below removes its listeners: its own close event never
            // reaches us, so the disconnect is reported here.
            let _ = socket.close_with(CloseCode::NORMAL.get(), "reconnect");
            drop(socket);
            emit(
                shared,
                Some(ResilientEvent::Disconnected(CloseEvent {
                    code: CloseCode::NORMAL.get(),
                    reason: "reconnect".into(),
                    was_clean: true,
                })),
            );
        }
    }
    attempt_now(shared);
}

fn retry_now(shared: &Rc<Shared>) {
    let waiting = matches!(
        shared.core.borrow().state,
        ConnectionState::Reconnecting { .. }
    );
    if waiting {
        attempt_now(shared);
    }
}

fn send(shared: &Rc<Shared>, message: impl Into<Outgoing>) -> SendOutcome {
    let message = message.into();
    let outcome = {
        let mut core = shared.core.borrow_mut();
        if core.user_closed
            || matches!(
                core.state,
                ConnectionState::Closed | ConnectionState::GaveUp
            )
        {
            return SendOutcome::Rejected;
        }
        let direct = core.state == ConnectionState::Open
            && (core.in_open_handler || core.queue.is_empty())
            && core
                .socket
                .as_ref()
                .is_some_and(|s| s.buffered_amount() <= core.options.high_water_mark);
        if direct && send_outgoing(&core, &message) {
            return SendOutcome::Sent;
        }
        core.queue.push(message)
    };
    ensure_pump(shared);
    outcome
}

fn can_send_now(shared: &Rc<Shared>) -> bool {
    let core = shared.core.borrow();
    !core.user_closed
        && core.state == ConnectionState::Open
        && core
            .socket
            .as_ref()
            .is_some_and(|s| s.buffered_amount() <= core.options.high_water_mark)
}

fn send_now(shared: &Rc<Shared>, message: &Message) -> bool {
    can_send_now(shared) && send_on_socket(&shared.core.borrow(), message)
}

fn send_on_socket(core: &Core, message: &Message) -> bool {
    core.socket
        .as_ref()
        .is_some_and(|socket| socket.send(message).is_ok())
}

fn send_outgoing(core: &Core, item: &Outgoing) -> bool {
    match item {
        Outgoing::Message(message) => send_on_socket(core, message),
        Outgoing::Blob(blob) => core
            .socket
            .as_ref()
            .is_some_and(|socket| socket.send_blob(blob).is_ok()),
    }
}

/// Sends queued messages while the browser's buffer is under the high-water mark, and
/// wakes whoever waits for the queue or the buffer to drain. Returns whether it should
/// run again.
fn pump(shared: &Rc<Shared>) -> bool {
    let again = {
        let mut core = shared.core.borrow_mut();
        let queued_before = core.queue.len();
        if core.state == ConnectionState::Open {
            while let Some(front) = core.queue.front() {
                let room = core
                    .socket
                    .as_ref()
                    .is_some_and(|s| s.buffered_amount() <= core.options.high_water_mark);
                if !room || !send_outgoing(&core, front) {
                    break;
                }
                core.queue.pop();
            }
        }
        if core.queue.len() < queued_before {
            // Progress: keep looking on the next task rather than falling back to timers.
            core.pump_wait.reset();
        }
        let buffered = core.socket.as_ref().map_or(0, WebSocket::buffered_amount);
        let waiting = !core.flush_waiters.is_empty() || !core.sink_waiters.is_empty();
        // Only an open socket drains; opening (`on_open`) and closing (`wake_all`) wake
        // whoever waits meanwhile. A drained buffer with waiters needs no further look:
        // they are woken just below.
        core.state == ConnectionState::Open && (!core.queue.is_empty() || (buffered > 0 && waiting))
    };
    wake_all(shared);
    let mut core = shared.core.borrow_mut();
    core.pump_scheduled = false;
    if again {
        schedule_pump(shared, &mut core);
    } else {
        core.pump_wait.reset();
    }
    again
}

/// Runs [`pump`] at the next look for a draining buffer (see `drain.rs`): on the next
/// task at first, then after growing delays.
fn ensure_pump(shared: &Rc<Shared>) {
    let mut core = shared.core.borrow_mut();
    if !core.pump_scheduled {
        schedule_pump(shared, &mut core);
    }
}

fn schedule_pump(shared: &Rc<Shared>, core: &mut Core) {
    core.pump_scheduled = true;
    let weak = Rc::downgrade(shared);
    core.pump_wait.later(move || {
        if let Some(shared) = weak.upgrade() {
            pump(&shared);
        }
    });
}

fn start_heartbeat(shared: &Rc<Shared>) {
    let mut core = shared.core.borrow_mut();
    let Some(heartbeat) = core.options.heartbeat.clone() else {
        return;
    };
    let tick = (heartbeat.interval.min(heartbeat.timeout).as_millis() / 4).clamp(10, 1_000) as u32;
    let weak = Rc::downgrade(shared);
    core.heartbeat_timer = Some(Interval::new(tick, move || {
        if let Some(shared) = weak.upgrade() {
            check_heartbeat(&shared, &heartbeat);
        }
    }));
}

fn check_heartbeat(shared: &Rc<Shared>, heartbeat: &Heartbeat) {
    let dead = {
        let mut core = shared.core.borrow_mut();
        if core.state != ConnectionState::Open {
            return;
        }
        let now = now_ms();
        match core.ping_sent_ms {
            Some(sent) if now - sent >= heartbeat.timeout.as_secs_f64() * 1000.0 => true,
            Some(_) => false,
            None if now - core.last_heard_ms >= heartbeat.interval.as_secs_f64() * 1000.0 => {
                send_on_socket(&core, &heartbeat.ping);
                core.ping_sent_ms = Some(now);
                false
            }
            None => false,
        }
    };
    if dead {
        give_up_on_socket(shared, CloseCode::HEARTBEAT_TIMEOUT, "heartbeat timeout");
    }
}
