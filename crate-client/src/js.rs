//! [`FerroSocket`]: the JavaScript face of [`WebSocket`], shaped like the
//! browser's own class so existing code can switch by changing one constructor call.
//!
//! ```js
//! import init, { FerroSocket } from "./pkg/ferrosocket.js";
//! await init();
//! const socket = new FerroSocket("/echo");
//! socket.onopen = () => socket.send("hello");
//! socket.onmessage = (event) => console.log(event.data);
//! ```

use gloo_events::EventListener;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::error::{CloseError, OpenError, SendError};
use crate::socket::WebSocket;
use crate::state::ReadyState;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &str = r#"
/** What `FerroSocket.send` accepts: the same data as `WebSocket.send`. */
export type SocketData = string | ArrayBuffer | ArrayBufferView | Blob;
/** The subprotocols to offer: one, or a list with the most preferred first. */
export type SocketProtocols = string | string[];
/** An event handler, or `null` for none. */
export type SocketHandler<E extends Event> = ((event: E) => void) | null;
"#;

#[wasm_bindgen]
extern "C" {
    /// `string | ArrayBuffer | ArrayBufferView | Blob` in TypeScript.
    #[wasm_bindgen(typescript_type = "SocketData")]
    pub type SocketData;
    /// `string | string[]` in TypeScript.
    #[wasm_bindgen(typescript_type = "SocketProtocols")]
    pub type SocketProtocols;
    /// `((event: Event) => void) | null` in TypeScript.
    #[wasm_bindgen(typescript_type = "SocketHandler<Event>")]
    pub type EventHandler;
    /// `((event: MessageEvent) => void) | null` in TypeScript.
    #[wasm_bindgen(typescript_type = "SocketHandler<MessageEvent>")]
    pub type MessageHandler;
    /// `((event: CloseEvent) => void) | null` in TypeScript.
    #[wasm_bindgen(typescript_type = "SocketHandler<CloseEvent>")]
    pub type CloseHandler;
}

/// A WebSocket for JavaScript callers, backed by the Rust client.
///
/// Behaves like the browser's `WebSocket`, except that misuse throws a descriptive
/// `Error` (its `name` says which) where the browser would silently drop data: sending
/// while not open throws `NotOpenError`; an invalid close code or reason throws before
/// the browser is asked.
///
/// # Examples
/// ```js
/// const socket = new FerroSocket("/echo", ["echo.v1"]);
/// socket.onopen = () => {
///   console.log(socket.protocol);               // "echo.v1"
///   socket.send(new Uint8Array([1, 2, 3]));
/// };
/// socket.onmessage = (event) => console.log(event.data); // ArrayBuffer
/// socket.onclose = (event) => console.log(event.code, event.reason, event.wasClean);
/// try {
///   socket.close(1006);                         // not allowed for applications
/// } catch (error) {
///   console.log(error.name);                    // "InvalidCloseCodeError"
/// }
/// ```
#[wasm_bindgen]
#[derive(Debug)]
pub struct FerroSocket {
    // Listeners first: they are removed before the socket closes on drop.
    handlers: [Option<(JsValue, EventListener)>; 4],
    socket: WebSocket,
}

const OPEN: usize = 0;
const MESSAGE: usize = 1;
const ERROR: usize = 2;
const CLOSE: usize = 3;
const EVENT_NAMES: [&str; 4] = ["open", "message", "error", "close"];

#[wasm_bindgen]
impl FerroSocket {
    /// Opens a socket to `url` (`ws:`, `wss:`, `http:`, `https:` or a path relative to
    /// the page), offering `protocols` if given. Throws `InvalidUrlError`,
    /// `UnsupportedSchemeError`, `InvalidProtocolError`, `NotSupportedError` or the
    /// browser's own error.
    #[wasm_bindgen(constructor)]
    pub fn new(url: &str, protocols: Option<SocketProtocols>) -> Result<FerroSocket, JsValue> {
        let protocols: Vec<String> = match protocols.map(JsValue::from) {
            None => Vec::new(),
            Some(value) if value.is_undefined() || value.is_null() => Vec::new(),
            Some(value) => match value.as_string() {
                Some(one) => vec![one],
                None if js_sys::Array::is_array(&value) => js_sys::Array::from(&value)
                    .iter()
                    .map(|item| item.as_string().ok_or(()))
                    .collect::<Result<_, ()>>()
                    .map_err(|()| js_type_error("protocols must be strings"))?,
                None => {
                    return Err(js_type_error(
                        "protocols must be a string or an array of strings",
                    ))
                }
            },
        };
        let protocols: Vec<&str> = protocols.iter().map(String::as_str).collect();
        let socket = WebSocket::open_with_protocols(url, &protocols)
            .map_err(|err| js_error(open_error_name(&err), &err))?;
        Ok(FerroSocket {
            handlers: Default::default(),
            socket,
        })
    }

    /// Whether this environment has a `WebSocket` constructor at all.
    #[wasm_bindgen(js_name = isSupported)]
    pub fn is_supported() -> bool {
        WebSocket::is_supported()
    }

    /// Called with the browser's `open` event.
    #[wasm_bindgen(getter)]
    pub fn onopen(&self) -> EventHandler {
        self.handler(OPEN).unchecked_into()
    }
    /// Sets the `open` handler; `null` removes it.
    #[wasm_bindgen(setter)]
    pub fn set_onopen(&mut self, handler: EventHandler) {
        self.set_handler(OPEN, handler.into());
    }

    /// Called with each `MessageEvent`; `event.data` is a string or an `ArrayBuffer`.
    #[wasm_bindgen(getter)]
    pub fn onmessage(&self) -> MessageHandler {
        self.handler(MESSAGE).unchecked_into()
    }
    /// Sets the `message` handler; `null` removes it.
    #[wasm_bindgen(setter)]
    pub fn set_onmessage(&mut self, handler: MessageHandler) {
        self.set_handler(MESSAGE, handler.into());
    }

    /// Called with the browser's `error` event.
    #[wasm_bindgen(getter)]
    pub fn onerror(&self) -> EventHandler {
        self.handler(ERROR).unchecked_into()
    }
    /// Sets the `error` handler; `null` removes it.
    #[wasm_bindgen(setter)]
    pub fn set_onerror(&mut self, handler: EventHandler) {
        self.set_handler(ERROR, handler.into());
    }

    /// Called with the `CloseEvent` (`code`, `reason`, `wasClean`).
    #[wasm_bindgen(getter)]
    pub fn onclose(&self) -> CloseHandler {
        self.handler(CLOSE).unchecked_into()
    }
    /// Sets the `close` handler; `null` removes it.
    #[wasm_bindgen(setter)]
    pub fn set_onclose(&mut self, handler: CloseHandler) {
        self.set_handler(CLOSE, handler.into());
    }

    /// Sends a string (as text) or an `ArrayBuffer`, typed array or `Blob` (as binary).
    /// Throws `NotOpenError` unless the socket is open.
    pub fn send(&self, data: SocketData) -> Result<(), JsValue> {
        let data: JsValue = data.into();
        let result = if let Some(text) = data.as_string() {
            self.socket.send_text(&text)
        } else if let Some(blob) = data.dyn_ref::<web_sys::Blob>() {
            self.socket.send_blob(blob)
        } else if let Some(bytes) = buffer_bytes(&data) {
            self.socket.send_bytes(&bytes)
        } else {
            return Err(js_type_error(
                "send() takes a string, ArrayBuffer, typed array or Blob",
            ));
        };
        result.map_err(|err| js_error(send_error_name(&err), &err))
    }

    /// Closes the connection, with an optional `code` (1000 or 3000–4999) and `reason`
    /// (at most 123 UTF-8 bytes). Throws `InvalidCloseCodeError` or
    /// `InvalidCloseReasonError` for values the browser would reject.
    pub fn close(&self, code: Option<u16>, reason: Option<String>) -> Result<(), JsValue> {
        let result = match (code, reason) {
            (None, None) => self.socket.close(),
            (code, reason) => self
                .socket
                .close_with(code.unwrap_or(1000), reason.as_deref().unwrap_or("")),
        };
        result.map_err(|err| js_error(close_error_name(&err), &err))
    }

    /// `0` connecting, `1` open, `2` closing, `3` closed.
    #[wasm_bindgen(getter = readyState)]
    pub fn ready_state(&self) -> u16 {
        self.socket.ready_state() as u16
    }

    /// The resolved `ws:`/`wss:` URL.
    #[wasm_bindgen(getter)]
    pub fn url(&self) -> String {
        self.socket.url()
    }

    /// Bytes queued by `send` that the browser has not yet sent.
    #[wasm_bindgen(getter = bufferedAmount)]
    pub fn buffered_amount(&self) -> u32 {
        self.socket.buffered_amount()
    }

    /// The subprotocol the server selected, or `""`.
    #[wasm_bindgen(getter)]
    pub fn protocol(&self) -> String {
        self.socket.protocol()
    }

    /// The extensions the server selected, or `""`.
    #[wasm_bindgen(getter)]
    pub fn extensions(&self) -> String {
        self.socket.extensions()
    }

    /// `readyState` while connecting: `0`.
    #[wasm_bindgen(getter = CONNECTING)]
    pub fn connecting() -> u16 {
        ReadyState::Connecting as u16
    }

    /// `readyState` while open: `1`.
    #[wasm_bindgen(getter = OPEN)]
    pub fn open() -> u16 {
        ReadyState::Open as u16
    }

    /// `readyState` while closing: `2`.
    #[wasm_bindgen(getter = CLOSING)]
    pub fn closing() -> u16 {
        ReadyState::Closing as u16
    }

    /// `readyState` once closed: `3`.
    #[wasm_bindgen(getter = CLOSED)]
    pub fn closed() -> u16 {
        ReadyState::Closed as u16
    }

    fn handler(&self, index: usize) -> JsValue {
        self.handlers[index]
            .as_ref()
            .map_or(JsValue::NULL, |(function, _)| function.clone())
    }

    fn set_handler(&mut self, index: usize, handler: JsValue) {
        // Dropping the previous listener removes it from the socket.
        self.handlers[index] = handler.dyn_into::<js_sys::Function>().ok().map(|function| {
            let callback = function.clone();
            let listener =
                EventListener::new(self.socket.as_web_sys(), EVENT_NAMES[index], move |event| {
                    // An exception in a user's handler is reported like the browser does, and
                    // must not unwind into Rust.
                    if let Err(err) = callback.call1(&JsValue::NULL, event) {
                        web_sys::console::error_1(&err);
                    }
                });
            (function.into(), listener)
        });
    }
}

pub(crate) fn js_error(name: &str, err: &dyn std::fmt::Display) -> JsValue {
    let error = js_sys::Error::new(&err.to_string());
    error.set_name(name);
    error.into()
}

/// The bytes of an `ArrayBuffer` or of a typed array's view (only the viewed range), or
/// `None` for anything else.
pub(crate) fn buffer_bytes(data: &JsValue) -> Option<Vec<u8>> {
    if data.is_instance_of::<js_sys::ArrayBuffer>() {
        return Some(js_sys::Uint8Array::new(data).to_vec());
    }
    if !js_sys::ArrayBuffer::is_view(data) {
        return None;
    }
    let view = data.unchecked_ref::<js_sys::Uint8Array>();
    let bytes = js_sys::Uint8Array::new_with_byte_offset_and_length(
        &view.buffer(),
        view.byte_offset(),
        view.byte_length(),
    );
    Some(bytes.to_vec())
}

fn js_type_error(message: &str) -> JsValue {
    js_sys::TypeError::new(message).into()
}

pub(crate) fn open_error_name(err: &OpenError) -> &'static str {
    match err {
        OpenError::InvalidUrl { .. } | OpenError::Fragment { .. } => "InvalidUrlError",
        OpenError::UnsupportedScheme { .. } => "UnsupportedSchemeError",
        OpenError::NotSupported => "NotSupportedError",
        OpenError::InvalidProtocol { .. } => "InvalidProtocolError",
        _ => "OpenError",
    }
}

fn send_error_name(err: &SendError) -> &'static str {
    match err {
        SendError::NotOpen(_) => "NotOpenError",
        _ => "SendError",
    }
}

fn close_error_name(err: &CloseError) -> &'static str {
    match err {
        CloseError::Code(_) => "InvalidCloseCodeError",
        CloseError::Reason(_) => "InvalidCloseReasonError",
        _ => "CloseError",
    }
}
