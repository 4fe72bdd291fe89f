//! [`ResilientSocket`]: one logical connection over a succession of browser sockets, never
//! two at once — automatic reconnect, an offline send queue, backpressure and a heartbeat.

mod attempts;
mod auth_check;
mod endpoint;
mod error;
mod events;
mod options;
mod outgoing;
mod policy;
mod queue;
mod sender;
mod sink;
mod token;

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

use attempts::*;
use endpoint::EndpointFn;
pub use endpoint::{Endpoint, EndpointFuture};
use error::final_error;
pub use error::ResilientError;
use events::EventQueue;
pub use events::{ConnectionState, ResilientEvent, ResilientEvents};
pub use options::{Heartbeat, ResilientOptions};
use outgoing::*;
#[cfg(feature = "js")]
pub(crate) use policy::duration_from_secs;
pub use policy::ReconnectPolicy;
use queue::{Outgoing, SendQueue};
pub use queue::{Overflow, QueueLimits, SendOutcome};
pub use sender::Sender;
pub use sink::Flushed;
pub(crate) use token::with_access_token;
pub use token::{TokenFuture, TokenProvider};

use crate::drain::DrainWait;
use crate::error::{CloseError, OpenError};
use crate::message::{CloseEvent, Message};
use crate::socket::WebSocket;
use crate::state::ReadyState;
use crate::{CloseCode, CloseReason};

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
    /// Whoever waits for the queue or the buffer to drain ([`Flushed`], the `Sink`): all
    /// are woken together.
    waiters: Vec<Waker>,
    /// Queued messages thrown away by [`ResilientSocket::close`].
    discarded: usize,
    /// Set by [`ResilientSocket::detach`]: the socket keeps itself alive until it is closed
    /// for good.
    keep_alive: Option<Rc<Shared>>,
    /// The URL of the current socket (absolute) when it carries a token: if the attempt fails
    /// before opening, the server is asked whether the token was the reason.
    token_url: Option<String>,
    /// Attempts in a row whose token the server refused (HTTP 401). The second ends in
    /// [`ResilientEvent::AuthFailed`]; an open connection resets it.
    auth_refusals: u32,
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
/// when a connection died may be lost. [`ChatSession`](crate::chat::ChatSession) adds
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
        let with_token = options.token.is_some();
        let shared = Self::new_shared(url, options, None);
        if with_token {
            // The token comes first (maybe from a future): check the URL now, connect once
            // it is there.
            crate::url::resolve(url)?;
            start_attempt(&shared);
        } else {
            open_now(&shared)?;
        }
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
                waiters: Vec::new(),
                discarded: 0,
                keep_alive: None,
                token_url: None,
                auth_refusals: 0,
            }),
            handler: RefCell::new(None),
        })
    }

    /// Listens for the `online` event of the global scope (a page's window, or a worker's
    /// scope: both fire it) and wraps `shared`.
    fn finish_open(shared: Rc<Shared>) -> ResilientSocket {
        if let Ok(global) = js_sys::global().dyn_into::<web_sys::EventTarget>() {
            let mut retry = with(&Rc::downgrade(&shared), retry_now);
            let online = EventListener::new(&global, "online", move |_| retry());
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
    /// acknowledged (as [`ChatSession`](crate::chat::ChatSession) does), so that no second copy
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
    /// closed with 1000 and reported as a `Disconnected` (1000, `"reconnect"`), the count of
    /// attempts (and of refused tokens) starts again, and a new attempt is made at once.
    /// After a close, a give-up or a refused token ([`ConnectionState::AuthFailed`]: e.g.
    /// once the user has logged in again) the socket comes back to life. Messages queued
    /// meanwhile are still sent.
    pub fn reconnect(&self) {
        reconnect(&self.shared, CloseCode::NORMAL.get(), "reconnect");
    }

    /// Starts over as [`reconnect`](Self::reconnect) does, closing the current connection
    /// (if there is one) with `code` (1000 or 3000–4999) and `reason` (at most 123 UTF-8
    /// bytes) instead of 1000 `reconnect`; the `Disconnected` event carries them. A bad
    /// code or reason is an error and changes nothing.
    pub fn reconnect_with(&self, code: u16, reason: &str) -> Result<(), CloseError> {
        let code = CloseCode::new(code)?;
        let reason = CloseReason::new(reason)?;
        reconnect(&self.shared, code.get(), reason.as_str());
        Ok(())
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

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Shared")
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
    let wakers = std::mem::take(&mut shared.core.borrow_mut().waiters);
    for waker in wakers {
        waker.wake();
    }
}
