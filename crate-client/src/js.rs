//! `FerroSocket`: the JavaScript face of [`WebSocket`], a class of its own that extends
//! the browser's `EventTarget`, so code written for the browser's `WebSocket` runs
//! unchanged.
//!
//! ```js
//! import init, { FerroSocket } from "./pkg/ferrosocket.js";
//! await init();
//! const socket = new FerroSocket("/echo");
//! socket.addEventListener("open", () => socket.send("hello"));
//! socket.onmessage = (event) => console.log(event.data);
//! ```
//!
//! Why a hand-written JavaScript class (`crate-client/js/socket.js`) over a Rust core
//! ([`SocketCore`]) rather than one exported Rust struct:
//! - lifetime: a browser keeps a connecting or open socket alive while it has listeners,
//!   even with no reference from the page. A wasm-bindgen struct's wrapper is freed (and
//!   the socket closed) when the page drops it, and Rust cannot hold its own wrapper. Here
//!   the core holds the JavaScript object's dispatch function until the close event, which
//!   keeps the object reachable exactly while the connection can still deliver events;
//! - events: `extends EventTarget` gives `addEventListener`, `once`, `handleEvent`
//!   objects, `event.target`, ordering and exception reporting from the browser itself.
//!
//! The class is re-exported from the package's main module (`reexport`), so
//! `import { FerroSocket } from "./pkg/ferrosocket.js"` keeps working.

use std::cell::RefCell;
use std::rc::Rc;

use gloo_events::EventListener;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::BinaryType;

use crate::error::{CloseError, OpenError, SendError};
use crate::socket::WebSocket;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &str = r#"
/** What `FerroSocket.send` accepts: the same data as `WebSocket.send`. */
export type SocketData = string | ArrayBuffer | ArrayBufferView | Blob;
/** The subprotocols to offer: one, or a list with the most preferred first. */
export type SocketProtocols = string | string[];
/** An event handler, or `null` for none. */
export type SocketHandler<E extends Event> = ((this: FerroSocket, event: E) => any) | null;
/** The events of a `FerroSocket`, by type. */
export interface FerroSocketEventMap {
  open: Event;
  message: MessageEvent;
  error: Event;
  close: CloseEvent;
}
/**
 * A WebSocket backed by the Rust client, with the browser `WebSocket`'s shape and
 * `EventTarget` behaviour, except where README.md lists a deliberate difference: misuse
 * throws an `Error` whose `name` says which (`NotOpenError`, `InvalidCloseCodeError`...).
 */
export declare class FerroSocket extends EventTarget {
  /** Opens a socket to `url` (`ws:`, `wss:`, `http:`, `https:` or relative). */
  constructor(url: string | URL, protocols?: SocketProtocols);
  static readonly CONNECTING: 0;
  static readonly OPEN: 1;
  static readonly CLOSING: 2;
  static readonly CLOSED: 3;
  readonly CONNECTING: 0;
  readonly OPEN: 1;
  readonly CLOSING: 2;
  readonly CLOSED: 3;
  /** Whether this environment has a `WebSocket` constructor at all. */
  static isSupported(): boolean;
  /** The resolved `ws:`/`wss:` URL. */
  readonly url: string;
  /** `0` connecting, `1` open, `2` closing, `3` closed. */
  readonly readyState: number;
  /** Bytes queued by `send` that the browser has not yet sent. */
  readonly bufferedAmount: number;
  /** The subprotocol the server selected, or `""`. */
  readonly protocol: string;
  /** The extensions the server selected, or `""`. */
  readonly extensions: string;
  /** What binary messages arrive as: `"blob"` (the default) or `"arraybuffer"`. */
  binaryType: "blob" | "arraybuffer";
  onopen: SocketHandler<Event>;
  onmessage: SocketHandler<MessageEvent>;
  onerror: SocketHandler<Event>;
  onclose: SocketHandler<CloseEvent>;
  /** Sends text or binary; throws `NotOpenError` unless open. */
  send(data: SocketData): void;
  /** Closes; without a code none is sent (the peer sees 1005). */
  close(code?: number, reason?: string): void;
  /** Closes the socket (if open) and releases it now, without waiting for garbage collection. */
  free(): void;
  addEventListener<K extends keyof FerroSocketEventMap>(type: K, listener: (this: FerroSocket, event: FerroSocketEventMap[K]) => any, options?: boolean | AddEventListenerOptions): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void;
  removeEventListener<K extends keyof FerroSocketEventMap>(type: K, listener: (this: FerroSocket, event: FerroSocketEventMap[K]) => any, options?: boolean | EventListenerOptions): void;
  removeEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | EventListenerOptions): void;
}
"#;

#[wasm_bindgen]
extern "C" {
    /// `string | ArrayBuffer | ArrayBufferView | Blob` in TypeScript.
    #[wasm_bindgen(typescript_type = "SocketData")]
    pub type SocketData;
}

#[wasm_bindgen(module = "/js/socket.js")]
extern "C" {
    // The `FerroSocket` class (`crate-client/js/socket.js`), re-exported from the
    // package's main module; declared as a function because only function imports can
    // skip wasm-bindgen's `unknown` typing (TYPES above declares the class). Never called
    // from Rust.
    #[wasm_bindgen(reexport, skip_typescript, js_name = FerroSocket)]
    fn reexported_ferro_socket_class();

    /// Hands the class the function that makes its Rust cores.
    #[wasm_bindgen(js_name = installSocketCore)]
    fn install_socket_core(make_core: &JsValue);

    /// The `FerroSocket` class itself, for Rust callers (tests, other bindings).
    #[wasm_bindgen(js_name = ferroSocketClass)]
    fn ferro_socket_class_js() -> js_sys::Function;
}

/// The `FerroSocket` JavaScript class (the constructor function), for Rust code that
/// hands it to JavaScript.
///
/// # Examples
/// ```no_run
/// let class = ferrosocket::js::ferro_socket_class();
/// let socket = js_sys::Reflect::construct(&class, &js_sys::Array::of1(&"/echo".into()));
/// ```
pub fn ferro_socket_class() -> js_sys::Function {
    // The start function has run in a module built by wasm-pack, but not in every host
    // (wasm-bindgen-test runs no library start function): install here too.
    install_ferro_socket();
    ferro_socket_class_js()
}

/// Runs when the module is instantiated: gives the JavaScript classes (`FerroSocket`,
/// `ReconnectingSocket`, `ChatClient`) the way to make their Rust cores.
#[wasm_bindgen(start, skip_typescript)]
fn install_js_classes() {
    install_ferro_socket();
    crate::js_resilient::install_resilient_classes();
}

/// Gives `FerroSocket` the way to make its cores (once).
fn install_ferro_socket() {
    thread_local!(static INSTALLED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) });
    if INSTALLED.with(|installed| installed.replace(true)) {
        return;
    }
    // One function per module instance, alive as long as the module: handing it over as a
    // plain JS value (rather than keeping the `Closure`) is not a leak per socket.
    let make_core =
        Closure::<dyn Fn(String, JsValue, js_sys::Function) -> Result<JsValue, JsValue>>::new(
            |url: String, protocols: JsValue, dispatch: js_sys::Function| {
                SocketCore::new(&url, protocols, dispatch).map(JsValue::from)
            },
        );
    install_socket_core(&make_core.into_js_value());
}

/// The Rust side of one `FerroSocket`: the browser socket, its validation and typed
/// errors, and the strong reference that keeps the JavaScript object alive until close.
///
/// Not for direct use: `new FerroSocket(url)` makes one. Each browser event is handed
/// unchanged to the object's dispatch function, inside the browser's own event task, so
/// order and timing are the browser's.
#[wasm_bindgen(js_name = FerroSocketCore, skip_typescript)]
#[derive(Debug)]
pub struct SocketCore {
    // Listeners first: they are removed before the socket closes on drop.
    _listeners: [EventListener; 4],
    /// The JavaScript object's dispatch function until the close event: this strong
    /// reference is what keeps an unreferenced, connecting or open socket alive.
    dispatch: Rc<RefCell<Option<js_sys::Function>>>,
    socket: WebSocket,
}

const EVENT_NAMES: [&str; 4] = ["open", "message", "error", "close"];

impl SocketCore {
    fn new(
        url: &str,
        protocols: JsValue,
        dispatch: js_sys::Function,
    ) -> Result<SocketCore, JsValue> {
        let protocols = protocol_list(protocols)?;
        let protocols: Vec<&str> = protocols.iter().map(String::as_str).collect();
        let socket = WebSocket::open_with_protocols(url, &protocols)
            .map_err(|err| js_error(open_error_name(&err), &err))?;
        // "blob" is the browser's default; the Rust `WebSocket` picks ArrayBuffer for itself.
        socket.as_web_sys().set_binary_type(BinaryType::Blob);
        let dispatch = Rc::new(RefCell::new(Some(dispatch)));
        let listeners = EVENT_NAMES.map(|name| {
            let dispatch = Rc::clone(&dispatch);
            EventListener::new(socket.as_web_sys(), name, move |event| {
                // Cloned out so that a handler may free the socket while it runs.
                let target = if name == "close" {
                    // The last event: from now on nothing keeps the object alive but
                    // the page's own references.
                    dispatch.borrow_mut().take()
                } else {
                    dispatch.borrow().clone()
                };
                if let Some(target) = target {
                    // dispatchEvent reports handler exceptions itself; an exception here
                    // would be a bug in socket.js, and must not unwind into Rust.
                    if let Err(err) = target.call1(&JsValue::NULL, event) {
                        report_error(&err);
                    }
                }
            })
        });
        Ok(SocketCore {
            _listeners: listeners,
            dispatch,
            socket,
        })
    }
}

#[wasm_bindgen(js_class = FerroSocketCore)]
impl SocketCore {
    /// Sends a string (as text) or an `ArrayBuffer`, typed array or `Blob` (as binary).
    /// Throws `NotOpenError` unless the socket is open.
    pub fn send(&self, data: JsValue) -> Result<(), JsValue> {
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

    /// Closes the connection: without a code, none is sent (the peer sees 1005), as the
    /// browser does; with a reason but no code, 1000. Throws `InvalidCloseCodeError` or
    /// `InvalidCloseReasonError` for values the browser would reject.
    pub fn close(&self, code: Option<u16>, reason: Option<String>) -> Result<(), JsValue> {
        let result = match (code, reason) {
            (None, None) => self
                .socket
                .as_web_sys()
                .close()
                .map_err(|err| CloseError::Browser(err.into())),
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

    /// `"blob"` (the default) or `"arraybuffer"`: what binary messages arrive as.
    #[wasm_bindgen(getter = binaryType)]
    pub fn binary_type(&self) -> String {
        match self.socket.as_web_sys().binary_type() {
            BinaryType::Arraybuffer => "arraybuffer",
            _ => "blob",
        }
        .to_owned()
    }

    /// Sets what binary messages arrive as; any other value than `"blob"` or
    /// `"arraybuffer"` is ignored, as the browser does.
    #[wasm_bindgen(setter = binaryType)]
    pub fn set_binary_type(&self, value: &str) {
        let binary_type = match value {
            "blob" => BinaryType::Blob,
            "arraybuffer" => BinaryType::Arraybuffer,
            _ => return,
        };
        self.socket.as_web_sys().set_binary_type(binary_type);
    }

    /// Whether the JavaScript object is still held for events to come (until the close
    /// event or `free()`).
    #[wasm_bindgen(getter = keepsAlive)]
    pub fn keeps_alive(&self) -> bool {
        self.dispatch.borrow().is_some()
    }
}

/// The protocols argument of the constructor: nothing, one string or a list of strings.
fn protocol_list(protocols: JsValue) -> Result<Vec<String>, JsValue> {
    if protocols.is_undefined() {
        return Ok(Vec::new());
    }
    if let Some(one) = protocols.as_string() {
        return Ok(vec![one]);
    }
    if js_sys::Array::is_array(&protocols) {
        return js_sys::Array::from(&protocols)
            .iter()
            .map(|item| item.as_string().ok_or(()))
            .collect::<Result<_, ()>>()
            .map_err(|()| js_type_error("protocols must be strings"));
    }
    Err(js_type_error(
        "protocols must be a string or an array of strings",
    ))
}

/// Reports `err` the way the browser reports an exception thrown in an event listener:
/// through `reportError` (so `window.onerror` and error trackers see it), or to the console
/// where there is no `reportError`.
pub(crate) fn report_error(err: &JsValue) {
    let report = js_sys::Reflect::get(&js_sys::global(), &"reportError".into())
        .ok()
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
    match report {
        Some(report) => {
            let _ = report.call1(&JsValue::NULL, err);
        }
        None => web_sys::console::error_1(err),
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
