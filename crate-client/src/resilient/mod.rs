//! [`ResilientSocket`]: one logical connection over a succession of browser sockets, never
//! two at once — automatic reconnect, an offline send queue, backpressure and a heartbeat.

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

pub use policy::ReconnectPolicy;
use queue::SendQueue;
pub use queue::{Overflow, QueueLimits, SendOutcome};

use crate::drain::DrainWait;
use crate::error::OpenError;
use crate::message::{CloseEvent, Message};
use crate::socket::WebSocket;
use crate::state::ReadyState;

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
}

impl Default for ResilientOptions {
    fn default() -> Self {
        ResilientOptions {
            reconnect: ReconnectPolicy::default(),
            queue: QueueLimits::default(),
            high_water_mark: 1 << 20,
            heartbeat: None,
            protocols: Vec::new(),
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
    /// A later connection opened, after `attempts` attempts. Messages the handler sends
    /// while handling this event go out before the offline queue.
    Reconnected {
        /// How many attempts it took.
        attempts: u32,
    },
    /// A message arrived.
    Message(Message),
    /// The current socket closed or was found dead (a heartbeat timeout reports code 1006,
    /// like any lost connection, with the reason `heartbeat timeout`);
    /// a `Reconnecting`, `GaveUp` or `Closed` follows.
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

struct Core {
    url: String,
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
        let shared = Rc::new(Shared {
            core: RefCell::new(Core {
                url: url.to_owned(),
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
        });
        let socket = connect(&shared)?;
        shared.core.borrow_mut().socket = Some(socket);
        if let Some(window) = web_sys::window() {
            let weak = Rc::downgrade(&shared);
            let online = EventListener::new(&window, "online", move |_| {
                if let Some(shared) = weak.upgrade() {
                    retry_now(&shared);
                }
            });
            shared.core.borrow_mut().online = Some(online);
        }
        Ok(ResilientSocket { shared })
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

    /// Closes for good with 1000: no reconnect, queued messages are discarded, later sends
    /// are rejected. A `Closed` event follows.
    pub fn close(&self) {
        close(&self.shared);
    }
}

fn close(shared: &Rc<Shared>) {
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
                let _ = socket.close();
                None
            }
            _ => {
                core.state = ConnectionState::Closed;
                core.socket = None;
                Some(ResilientEvent::Closed(CloseEvent {
                    code: 1000,
                    reason: String::new(),
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
            close(&shared);
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
    let protocols: Vec<&str> = protocols.iter().map(String::as_str).collect();
    let mut socket = WebSocket::open_with_protocols(&url, &protocols)?;
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
        let attempts = std::mem::take(&mut core.attempts);
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
        core.user_closed
    };
    if user_closed {
        shared.core.borrow_mut().state = ConnectionState::Closed;
        wake_all(shared);
        emit(shared, Some(ResilientEvent::Closed(close)));
        return release_if_final(shared);
    }
    emit(shared, Some(ResilientEvent::Disconnected(close.clone())));
    let reconnect = shared
        .core
        .borrow()
        .options
        .reconnect
        .should_reconnect(close.code);
    if reconnect {
        schedule_retry(shared);
    } else {
        shared.core.borrow_mut().state = ConnectionState::Closed;
        wake_all(shared);
        emit(shared, Some(ResilientEvent::Closed(close)));
        release_if_final(shared);
    }
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
    match connect(shared) {
        Ok(socket) => shared.core.borrow_mut().socket = Some(socket),
        // The URL was valid once; treat a refusal like a failed attempt.
        Err(_) => schedule_retry(shared),
    }
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

fn send(shared: &Rc<Shared>, message: Message) -> SendOutcome {
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
        if direct && send_on_socket(&core, &message) {
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
    let Some(socket) = &core.socket else {
        return false;
    };
    match message {
        Message::Text(text) => socket.send_text(text),
        Message::Binary(bytes) => socket.send_bytes(bytes),
    }
    .is_ok()
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
                if !room || !send_on_socket(&core, front) {
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
        // Dropping the socket detaches its handlers and starts its close; a dead
        // connection would take the browser minutes to notice.
        let socket = shared.core.borrow_mut().socket.take();
        drop(socket);
        on_close(
            shared,
            CloseEvent {
                code: 1006,
                reason: "heartbeat timeout".into(),
                was_clean: false,
            },
        );
    }
}
