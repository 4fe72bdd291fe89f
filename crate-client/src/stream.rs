//! [`WebSocketStream`]: the async face of a [`WebSocket`], a `Stream` of [`Event`]s and a
//! `Sink` of [`Message`]s whose readiness honours a `bufferedAmount` high-water mark.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use futures_core::Stream;
use futures_sink::Sink;

use crate::drain::DrainWait;
use crate::error::{OpenError, SendError};
use crate::message::{CloseEvent, Message};
use crate::socket::{SocketSender, WebSocket};
use crate::state::ReadyState;

/// The default high-water mark: above this many buffered bytes the sink is not ready.
pub const DEFAULT_HIGH_WATER_MARK: u32 = 1 << 20;

/// Something that happened on the socket, in the order the browser reported it.
///
/// # Examples
/// ```no_run
/// use ferrosocket::{Event, WebSocketStream};
/// use futures_util::StreamExt;
/// # async fn run() {
/// let mut events = WebSocketStream::open("/echo").unwrap();
/// while let Some(event) = events.next().await {
///     if let Event::Close(close) = event {
///         web_sys::console::log_1(&format!("closed with {}", close.code).into());
///     }
/// }
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The connection opened.
    Open,
    /// A message arrived.
    Message(Message),
    /// The browser reported an error (a [`Event::Close`] follows).
    Error,
    /// The connection closed; the stream ends after this event.
    Close(CloseEvent),
}

#[derive(Debug, Default)]
struct Shared {
    events: VecDeque<Event>,
    closed: bool,
    stream_waker: Option<Waker>,
    sink_waker: Option<Waker>,
}

impl Shared {
    fn push(&mut self, event: Event) {
        if matches!(event, Event::Close(_)) {
            self.closed = true;
        }
        let opens_or_closes = matches!(event, Event::Open | Event::Close(_));
        self.events.push_back(event);
        if let Some(waker) = self.stream_waker.take() {
            waker.wake();
        }
        if opens_or_closes {
            if let Some(waker) = self.sink_waker.take() {
                waker.wake();
            }
        }
    }
}

/// A [`WebSocket`] as a `Stream<Item = Event>` and a `Sink<Message, Error = SendError>`.
///
/// The sink waits for the connection to open, and is not ready while the browser holds
/// more than the high-water mark of unsent bytes, so a fast producer cannot pile data into
/// the browser's memory. `flush` waits until the browser has sent everything; `close`
/// closes with 1000 and waits for the close event.
///
/// # Examples
/// ```no_run
/// use ferrosocket::{Event, Message, WebSocketStream};
/// use futures_util::{SinkExt, StreamExt};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let mut socket = WebSocketStream::open("/echo")?.with_high_water_mark(64 * 1024);
/// socket.send(Message::Text("hello".into())).await?; // waits for open
/// while let Some(event) = socket.next().await {
///     if let Event::Message(message) = event {
///         assert_eq!(message, Message::Text("hello".into()));
///         break;
///     }
/// }
/// socket.close().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct WebSocketStream {
    shared: Rc<RefCell<Shared>>,
    high_water_mark: u32,
    drain: DrainWait,
    socket: WebSocket,
}

impl WebSocketStream {
    /// Opens a socket to `url` (see [`WebSocket::open`]).
    pub fn open(url: &str) -> Result<WebSocketStream, OpenError> {
        WebSocket::open(url).map(WebSocketStream::new)
    }

    /// Wraps `socket`, replacing its handlers with ones that feed this stream. Events
    /// that happened before are not replayed, so wrap a socket before it opens.
    pub fn new(mut socket: WebSocket) -> WebSocketStream {
        let shared = Rc::new(RefCell::new(Shared::default()));
        let state = Rc::clone(&shared);
        socket.set_on_open(move || state.borrow_mut().push(Event::Open));
        let state = Rc::clone(&shared);
        socket.set_on_message(move |message| state.borrow_mut().push(Event::Message(message)));
        let state = Rc::clone(&shared);
        socket.set_on_error(move || state.borrow_mut().push(Event::Error));
        let state = Rc::clone(&shared);
        socket.set_on_close(move |close| state.borrow_mut().push(Event::Close(close)));
        WebSocketStream {
            shared,
            high_water_mark: DEFAULT_HIGH_WATER_MARK,
            drain: DrainWait::default(),
            socket,
        }
    }

    /// Sets the `bufferedAmount`, in bytes, above which the sink is not ready
    /// (default [`DEFAULT_HIGH_WATER_MARK`]).
    pub fn with_high_water_mark(mut self, bytes: u32) -> WebSocketStream {
        self.high_water_mark = bytes;
        self
    }

    /// The underlying socket, for its state and properties.
    pub fn socket(&self) -> &WebSocket {
        &self.socket
    }

    /// A handle that sends on this socket, cheap to clone (see [`WebSocket::sender`]).
    pub fn sender(&self) -> SocketSender {
        self.socket.sender()
    }

    /// Wakes `cx` again to re-read `bufferedAmount`: on the next task at first, then after
    /// growing delays (see `drain.rs`).
    fn wake_later(&mut self, cx: &Context<'_>) {
        let waker = cx.waker().clone();
        self.drain.later(move || waker.wake());
    }

    fn wait_for_open_or_close(&mut self, cx: &Context<'_>) {
        self.shared.borrow_mut().sink_waker = Some(cx.waker().clone());
    }
}

impl Stream for WebSocketStream {
    type Item = Event;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        let mut shared = self.shared.borrow_mut();
        if let Some(event) = shared.events.pop_front() {
            return Poll::Ready(Some(event));
        }
        if shared.closed {
            return Poll::Ready(None);
        }
        shared.stream_waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Sink<Message> for WebSocketStream {
    type Error = SendError;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), SendError>> {
        let this = self.get_mut();
        match this.socket.ready_state() {
            ReadyState::Connecting => {
                this.wait_for_open_or_close(cx);
                Poll::Pending
            }
            ReadyState::Open if this.socket.buffered_amount() > this.high_water_mark => {
                this.wake_later(cx);
                Poll::Pending
            }
            ReadyState::Open => {
                this.drain.reset();
                Poll::Ready(Ok(()))
            }
            state => Poll::Ready(Err(SendError::NotOpen(state))),
        }
    }

    fn start_send(self: Pin<&mut Self>, message: Message) -> Result<(), SendError> {
        match message {
            Message::Text(text) => self.socket.send_text(&text),
            Message::Binary(bytes) => self.socket.send_bytes(&bytes),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), SendError>> {
        let this = self.get_mut();
        if this.socket.buffered_amount() == 0 {
            this.drain.reset();
            return Poll::Ready(Ok(()));
        }
        match this.socket.ready_state() {
            ReadyState::Open => {
                this.wake_later(cx);
                Poll::Pending
            }
            // The browser will never send what is left.
            state => Poll::Ready(Err(SendError::NotOpen(state))),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), SendError>> {
        let this = self.get_mut();
        if this.shared.borrow().closed {
            return Poll::Ready(Ok(()));
        }
        if matches!(
            this.socket.ready_state(),
            ReadyState::Connecting | ReadyState::Open
        ) {
            // Closing with a valid code cannot fail.
            let _ = this.socket.close();
        }
        this.wait_for_open_or_close(cx);
        Poll::Pending
    }
}
