//! [`WebSocket`]: one browser socket, its listeners owned by it.

use gloo_events::EventListener;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::BinaryType;

use crate::error::{CloseError, JsError, OpenError, SendError};
use crate::message::{CloseEvent, Message};
use crate::state::ReadyState;
use crate::{url, CloseCode, CloseReason};

/// A browser WebSocket whose handlers are owned Rust values.
///
/// Setting a handler replaces the previous one (its listener is removed). Dropping the
/// `WebSocket` removes every listener and closes the connection if it is still
/// connecting or open; it never panics.
///
/// See [MDN: WebSocket](https://developer.mozilla.org/en-US/docs/Web/API/WebSocket).
///
/// # Examples
/// ```no_run
/// use ferrosocket::{Message, WebSocket};
///
/// let mut socket = WebSocket::open("ws://127.0.0.1:8080/echo")?;
/// socket.set_on_open(|| web_sys::console::log_1(&"open".into()));
/// socket.set_on_message(|message: Message| web_sys::console::log_1(&format!("{message:?}").into()));
/// # Ok::<(), ferrosocket::OpenError>(())
/// ```
#[derive(Debug)]
pub struct WebSocket {
    inner: web_sys::WebSocket,
    on_open: Option<EventListener>,
    on_message: Option<EventListener>,
    on_error: Option<EventListener>,
    on_close: Option<EventListener>,
    /// Set by [`detach`](Self::detach): the listener that releases this socket once closed.
    on_detached_close: Option<EventListener>,
}

impl WebSocket {
    /// Whether this JavaScript environment has a `WebSocket` constructor.
    ///
    /// # Examples
    /// ```no_run
    /// if !ferrosocket::WebSocket::is_supported() {
    ///     web_sys::console::warn_1(&"no WebSocket here".into());
    /// }
    /// ```
    pub fn is_supported() -> bool {
        js_sys::Reflect::get(&js_sys::global(), &"WebSocket".into())
            .map(|ctor| ctor.is_function())
            .unwrap_or(false)
    }

    /// Opens a socket to `url`: `ws:`/`wss:`, or `http:`/`https:` or a relative path,
    /// resolved against the page's location.
    ///
    /// # Examples
    /// ```no_run
    /// // On a page served from http://127.0.0.1:8080/ this opens ws://127.0.0.1:8080/echo.
    /// let socket = ferrosocket::WebSocket::open("/echo")?;
    /// # Ok::<(), ferrosocket::OpenError>(())
    /// ```
    pub fn open(url: &str) -> Result<WebSocket, OpenError> {
        Self::open_with_protocols(url, &[])
    }

    /// Opens a socket to `url`, offering `protocols` (most preferred first); after the
    /// open event, [`protocol`](Self::protocol) is the one the server selected.
    ///
    /// Each protocol must be a non-empty HTTP token (no spaces, commas, quotes...) and
    /// appear once, else [`OpenError::InvalidProtocol`].
    ///
    /// # Examples
    /// ```no_run
    /// let socket = ferrosocket::WebSocket::open_with_protocols("/echo", &["echo.v2", "echo.v1"])?;
    /// # Ok::<(), ferrosocket::OpenError>(())
    /// ```
    pub fn open_with_protocols(url: &str, protocols: &[&str]) -> Result<WebSocket, OpenError> {
        if !Self::is_supported() {
            return Err(OpenError::NotSupported);
        }
        let resolved = url::resolve(url)?;
        check_protocols(protocols)?;
        let inner = if protocols.is_empty() {
            web_sys::WebSocket::new(&resolved)
        } else {
            let list: js_sys::Array = protocols.iter().map(|p| JsValue::from_str(p)).collect();
            web_sys::WebSocket::new_with_str_sequence(&resolved, &list)
        }
        .map_err(|err| OpenError::Browser(JsError::from(err)))?;
        // ArrayBuffer, not Blob: reading a Blob is asynchronous and would let a later
        // text message overtake an earlier binary one.
        inner.set_binary_type(BinaryType::Arraybuffer);
        Ok(WebSocket {
            inner,
            on_open: None,
            on_message: None,
            on_error: None,
            on_close: None,
            on_detached_close: None,
        })
    }

    /// Calls `handler` when the connection opens, replacing any previous open handler.
    /// # Examples
    /// ```no_run
    /// # let mut socket = ferrosocket::WebSocket::open("/echo").unwrap();
    /// socket.set_on_open(|| web_sys::console::log_1(&"open".into()));
    /// ```
    pub fn set_on_open(&mut self, mut handler: impl FnMut() + 'static) {
        self.on_open = Some(EventListener::new(&self.inner, "open", move |_| handler()));
    }

    /// Calls `handler` with each message, in the order the peer sent them, replacing any
    /// previous message handler.
    /// # Examples
    /// ```no_run
    /// # let mut socket = ferrosocket::WebSocket::open("/echo").unwrap();
    /// socket.set_on_message(|message| {
    ///     if let ferrosocket::Message::Text(text) = message {
    ///         web_sys::console::log_1(&text.into());
    ///     }
    /// });
    /// ```
    pub fn set_on_message(&mut self, mut handler: impl FnMut(Message) + 'static) {
        self.on_message = Some(EventListener::new(&self.inner, "message", move |event| {
            let event = event.unchecked_ref::<web_sys::MessageEvent>();
            handler(message_from_event(event));
        }));
    }

    /// Calls `handler` when the browser reports an error (it gives no details; a close
    /// event with code 1006 follows), replacing any previous error handler.
    /// # Examples
    /// ```no_run
    /// # let mut socket = ferrosocket::WebSocket::open("/echo").unwrap();
    /// socket.set_on_error(|| web_sys::console::warn_1(&"connection error".into()));
    /// ```
    pub fn set_on_error(&mut self, mut handler: impl FnMut() + 'static) {
        self.on_error = Some(EventListener::new(&self.inner, "error", move |_| handler()));
    }

    /// Calls `handler` when the connection has closed, replacing any previous close
    /// handler.
    /// # Examples
    /// ```no_run
    /// # let mut socket = ferrosocket::WebSocket::open("/echo").unwrap();
    /// socket.set_on_close(|close| {
    ///     let text = format!("closed {} {:?} clean={}", close.code, close.reason, close.was_clean);
    ///     web_sys::console::log_1(&text.into());
    /// });
    /// ```
    pub fn set_on_close(&mut self, mut handler: impl FnMut(CloseEvent) + 'static) {
        self.on_close = Some(EventListener::new(&self.inner, "close", move |event| {
            let event = event.unchecked_ref::<web_sys::CloseEvent>();
            handler(CloseEvent {
                code: event.code(),
                reason: event.reason(),
                was_clean: event.was_clean(),
            });
        }));
    }

    /// Sends a text message.
    /// # Examples
    /// ```no_run
    /// # let mut socket = ferrosocket::WebSocket::open("/echo").unwrap();
    /// socket.send_text("hello")?;
    /// # Ok::<(), ferrosocket::SendError>(())
    /// ```
    pub fn send_text(&self, text: &str) -> Result<(), SendError> {
        send(&self.inner, Payload::Text(text))
    }

    /// Sends a binary message.
    /// # Examples
    /// ```no_run
    /// # let mut socket = ferrosocket::WebSocket::open("/echo").unwrap();
    /// socket.send_bytes(&[1, 2, 3])?;
    /// # Ok::<(), ferrosocket::SendError>(())
    /// ```
    pub fn send_bytes(&self, bytes: &[u8]) -> Result<(), SendError> {
        send(&self.inner, Payload::Bytes(bytes))
    }

    /// Sends a `Blob` as one binary message. The browser reads the Blob itself and keeps
    /// it in order with the messages sent before and after it.
    /// # Examples
    /// ```no_run
    /// # let mut socket = ferrosocket::WebSocket::open("/echo").unwrap();
    /// let parts = js_sys::Array::of1(&"in a blob".into());
    /// let blob = web_sys::Blob::new_with_str_sequence(&parts).unwrap();
    /// socket.send_blob(&blob)?;
    /// # Ok::<(), ferrosocket::SendError>(())
    /// ```
    pub fn send_blob(&self, blob: &web_sys::Blob) -> Result<(), SendError> {
        send(&self.inner, Payload::Blob(blob))
    }

    /// Sends `message`, text or binary.
    /// # Examples
    /// ```no_run
    /// # let mut socket = ferrosocket::WebSocket::open("/echo").unwrap();
    /// socket.send(&ferrosocket::Message::Text("hello".into()))?;
    /// # Ok::<(), ferrosocket::SendError>(())
    /// ```
    pub fn send(&self, message: &Message) -> Result<(), SendError> {
        send(&self.inner, Payload::from(message))
    }

    /// A handle that sends on (and closes) this socket, cheap to clone: what a handler
    /// needs to answer on its own socket, without `Rc<RefCell<…>>`.
    ///
    /// It does not keep the socket open: once the `WebSocket` is dropped (and so closed),
    /// its sends fail with [`SendError::NotOpen`].
    ///
    /// # Examples
    /// ```no_run
    /// use ferrosocket::{Message, WebSocket};
    ///
    /// let mut socket = WebSocket::open("/echo")?;
    /// let sender = socket.sender();
    /// socket.set_on_message(move |message| {
    ///     if message == Message::Text("ping".into()) {
    ///         let _ = sender.send_text("pong");
    ///     }
    /// });
    /// # Ok::<(), ferrosocket::OpenError>(())
    /// ```
    pub fn sender(&self) -> SocketSender {
        SocketSender {
            inner: self.inner.clone(),
        }
    }

    /// Lets the socket outlive its owner, as a browser socket does: it stays connected,
    /// with its handlers, until it closes (by either side), and then releases them. Returns
    /// a [`SocketSender`] to keep sending on it or to close it.
    ///
    /// # Examples
    /// ```no_run
    /// fn start() -> ferrosocket::SocketSender {
    ///     let mut socket = ferrosocket::WebSocket::open("/echo").unwrap();
    ///     socket.set_on_message(|message| web_sys::console::log_1(&format!("{message:?}").into()));
    ///     // Without `detach`, the socket would close when `start` returns.
    ///     socket.detach()
    /// }
    /// let sender = start();
    /// ```
    pub fn detach(mut self) -> SocketSender {
        let sender = self.sender();
        if self.ready_state() == ReadyState::Closed {
            return sender;
        }
        // The socket holds the listener that holds the socket: kept alive by that cycle
        // until the close event breaks it. Registered last, so the owner's close handler
        // has run by then; released on the next task, not inside its own listener.
        let inner = self.inner.clone();
        let cell = std::rc::Rc::new(std::cell::RefCell::new(None::<WebSocket>));
        let release = std::rc::Rc::clone(&cell);
        self.on_detached_close = Some(EventListener::new(&inner, "close", move |_| {
            if let Some(socket) = release.borrow_mut().take() {
                crate::drain::on_next_task(move || drop(socket));
            }
        }));
        *cell.borrow_mut() = Some(self);
        sender
    }

    /// Closes the connection normally: the peer receives code 1000. (The browser's own
    /// `close()` without a code sends none, which the peer reports as 1005.)
    /// # Examples
    /// ```no_run
    /// # let mut socket = ferrosocket::WebSocket::open("/echo").unwrap();
    /// socket.close()?;
    /// # Ok::<(), ferrosocket::CloseError>(())
    /// ```
    pub fn close(&self) -> Result<(), CloseError> {
        close_normally(&self.inner)
    }

    /// Closes the connection with `code` (1000 or 3000–4999) and `reason` (at most 123
    /// UTF-8 bytes); both are checked before the browser is asked.
    ///
    /// # Examples
    /// ```no_run
    /// # let socket = ferrosocket::WebSocket::open("/echo").unwrap();
    /// socket.close_with(4000, "done")?;
    /// assert!(socket.close_with(1006, "").is_err());
    /// # Ok::<(), ferrosocket::CloseError>(())
    /// ```
    pub fn close_with(&self, code: u16, reason: &str) -> Result<(), CloseError> {
        close_with(&self.inner, code, reason)
    }

    /// The connection's current state.
    /// # Examples
    /// ```no_run
    /// # let mut socket = ferrosocket::WebSocket::open("/echo").unwrap();
    /// if socket.ready_state() == ferrosocket::ReadyState::Open {
    ///     socket.send_text("ready").unwrap();
    /// }
    /// ```
    pub fn ready_state(&self) -> ReadyState {
        ready_state(&self.inner)
    }

    /// The resolved `ws:`/`wss:` URL.
    /// # Examples
    /// ```no_run
    /// # let mut socket = ferrosocket::WebSocket::open("/echo").unwrap();
    /// assert!(socket.url().starts_with("ws"));
    /// ```
    pub fn url(&self) -> String {
        self.inner.url()
    }

    /// Bytes passed to `send` that the browser has not yet handed to the network
    /// ([MDN](https://developer.mozilla.org/en-US/docs/Web/API/WebSocket/bufferedAmount)).
    /// # Examples
    /// ```no_run
    /// # let mut socket = ferrosocket::WebSocket::open("/echo").unwrap();
    /// if socket.buffered_amount() < 1 << 20 {
    ///     socket.send_bytes(&[0; 1024]).unwrap();
    /// }
    /// ```
    pub fn buffered_amount(&self) -> u32 {
        self.inner.buffered_amount()
    }

    /// The subprotocol the server selected; empty before open or when none was.
    /// # Examples
    /// ```no_run
    /// # let mut socket = ferrosocket::WebSocket::open("/echo").unwrap();
    /// let socket = ferrosocket::WebSocket::open_with_protocols("/echo", &["echo.v1"]).unwrap();
    /// // After the open event:
    /// let selected = socket.protocol(); // "echo.v1"
    /// ```
    pub fn protocol(&self) -> String {
        self.inner.protocol()
    }

    /// The extensions the server selected (e.g. `permessage-deflate`); empty before open.
    /// # Examples
    /// ```no_run
    /// # let mut socket = ferrosocket::WebSocket::open("/echo").unwrap();
    /// let extensions = socket.extensions(); // e.g. "permessage-deflate"
    /// ```
    pub fn extensions(&self) -> String {
        self.inner.extensions()
    }

    /// The browser's own `WebSocket` object, for what this type does not cover.
    ///
    /// Listeners added to it directly are not owned by this value: remove them yourself.
    /// # Examples
    /// ```no_run
    /// # let mut socket = ferrosocket::WebSocket::open("/echo").unwrap();
    /// let raw: &web_sys::WebSocket = socket.as_web_sys();
    /// ```
    pub fn as_web_sys(&self) -> &web_sys::WebSocket {
        &self.inner
    }
}

/// Sends on (and closes) a [`WebSocket`], cheap to clone (see [`WebSocket::sender`]).
#[derive(Debug, Clone)]
pub struct SocketSender {
    inner: web_sys::WebSocket,
}

impl SocketSender {
    /// [`WebSocket::send_text`].
    pub fn send_text(&self, text: &str) -> Result<(), SendError> {
        send(&self.inner, Payload::Text(text))
    }

    /// [`WebSocket::send_bytes`].
    pub fn send_bytes(&self, bytes: &[u8]) -> Result<(), SendError> {
        send(&self.inner, Payload::Bytes(bytes))
    }

    /// [`WebSocket::send_blob`].
    pub fn send_blob(&self, blob: &web_sys::Blob) -> Result<(), SendError> {
        send(&self.inner, Payload::Blob(blob))
    }

    /// [`WebSocket::send`].
    pub fn send(&self, message: &Message) -> Result<(), SendError> {
        send(&self.inner, Payload::from(message))
    }

    /// [`WebSocket::close`].
    pub fn close(&self) -> Result<(), CloseError> {
        close_normally(&self.inner)
    }

    /// [`WebSocket::close_with`].
    pub fn close_with(&self, code: u16, reason: &str) -> Result<(), CloseError> {
        close_with(&self.inner, code, reason)
    }

    /// [`WebSocket::ready_state`].
    pub fn ready_state(&self) -> ReadyState {
        ready_state(&self.inner)
    }

    /// [`WebSocket::buffered_amount`].
    pub fn buffered_amount(&self) -> u32 {
        self.inner.buffered_amount()
    }
}

fn ready_state(inner: &web_sys::WebSocket) -> ReadyState {
    ReadyState::from_code(inner.ready_state())
}

fn close_normally(inner: &web_sys::WebSocket) -> Result<(), CloseError> {
    inner
        .close_with_code(CloseCode::NORMAL.get())
        .map_err(|err| CloseError::Browser(err.into()))
}

fn ensure_open(inner: &web_sys::WebSocket) -> Result<(), SendError> {
    match ready_state(inner) {
        ReadyState::Open => Ok(()),
        state => Err(SendError::NotOpen(state)),
    }
}

/// What one send hands the browser: one path (state check, error mapping) for every kind.
enum Payload<'a> {
    Text(&'a str),
    Bytes(&'a [u8]),
    Blob(&'a web_sys::Blob),
}

impl<'a> From<&'a Message> for Payload<'a> {
    fn from(message: &'a Message) -> Self {
        match message {
            Message::Text(text) => Payload::Text(text),
            Message::Binary(bytes) => Payload::Bytes(bytes),
        }
    }
}

fn send(inner: &web_sys::WebSocket, payload: Payload<'_>) -> Result<(), SendError> {
    ensure_open(inner)?;
    match payload {
        Payload::Text(text) => inner.send_with_str(text),
        Payload::Bytes(bytes) => inner.send_with_u8_array(bytes),
        Payload::Blob(blob) => inner.send_with_blob(blob),
    }
    .map_err(|err| SendError::Browser(err.into()))
}

fn close_with(inner: &web_sys::WebSocket, code: u16, reason: &str) -> Result<(), CloseError> {
    let code = CloseCode::new(code)?;
    let reason = CloseReason::new(reason)?;
    inner
        .close_with_code_and_reason(code.get(), reason.as_str())
        .map_err(|err| CloseError::Browser(err.into()))
}

impl Drop for WebSocket {
    fn drop(&mut self) {
        // The listeners drop with their fields; only the connection needs closing. A
        // failure here is ignored on purpose: Drop must not panic.
        if matches!(
            self.ready_state(),
            ReadyState::Connecting | ReadyState::Open
        ) {
            let _ = self.inner.close_with_code(CloseCode::NORMAL.get());
        }
    }
}

/// Rejects what the browser would throw a `SyntaxError` for, with the reason.
fn check_protocols(protocols: &[&str]) -> Result<(), OpenError> {
    for (index, protocol) in protocols.iter().enumerate() {
        let invalid = |reason: &'static str| OpenError::InvalidProtocol {
            protocol: (*protocol).to_owned(),
            reason,
        };
        if protocol.is_empty() {
            return Err(invalid("it is empty"));
        }
        if !protocol.bytes().all(is_token_byte) {
            return Err(invalid(
                "it may only contain letters, digits and !#$%&'*+-.^_`|~",
            ));
        }
        if protocols[..index].contains(protocol) {
            return Err(invalid("it is offered twice"));
        }
    }
    Ok(())
}

/// RFC 7230 `tchar`.
fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

fn message_from_event(event: &web_sys::MessageEvent) -> Message {
    let data = event.data();
    match data.as_string() {
        Some(text) => Message::Text(text),
        None => Message::Binary(js_sys::Uint8Array::new(&data).to_vec()),
    }
}
