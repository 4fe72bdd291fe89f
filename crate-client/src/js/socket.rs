//! `FerroSocket`: the browser's `WebSocket` shape over [`WebSocket`], for JavaScript.

use std::cell::RefCell;
use std::rc::Rc;

use gloo_events::EventListener;
use wasm_bindgen::prelude::*;
use web_sys::BinaryType;

use super::convert::*;
use crate::error::CloseError;
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

/// Gives `FerroSocket` the way to make its cores (once).
pub(super) fn install_ferro_socket() {
    thread_local!(static INSTALLED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) });
    if INSTALLED.with(|installed| installed.replace(true)) {
        return;
    }
    // socket.js hands over the URL as a string (`${url}`) and its dispatch function.
    install_socket_core(&core_maker(|url, protocols, dispatch| {
        SocketCore::new(
            &url.as_string().unwrap_or_default(),
            protocols,
            dispatch.unchecked_into(),
        )
        .map(JsValue::from)
    }));
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
        // socket.js hands over a list of strings (`protocolList`).
        let protocols = string_list(&protocols).unwrap_or_default();
        let protocols: Vec<&str> = protocols.iter().map(String::as_str).collect();
        let socket = WebSocket::open_with_protocols(url, &protocols)
            .map_err(|err| js_error(open_error_name(&err), &err))?;
        // "blob" is the browser's default; the Rust `WebSocket` picks ArrayBuffer for itself.
        socket.as_web_sys().set_binary_type(BinaryType::Blob);
        let dispatch = Rc::new(RefCell::new(Some(dispatch)));
        let listeners = EVENT_NAMES.map(|name| {
            let dispatch = Rc::clone(&dispatch);
            EventListener::new(socket.as_web_sys(), name, move |event| {
                // dispatchEvent reports handler exceptions itself; an exception here would
                // be a bug in socket.js, and must not unwind into Rust.
                let forward = |target: &js_sys::Function| {
                    if let Err(err) = target.call1(&JsValue::NULL, event) {
                        report_error(&err);
                    }
                };
                if name == "close" {
                    // The last event: from now on nothing keeps the object alive but the
                    // page's own references.
                    // Taken out first: the handler runs with nothing borrowed.
                    let target = dispatch.borrow_mut().take();
                    if let Some(target) = target {
                        forward(&target);
                    }
                } else {
                    // Called under a shared borrow, without cloning the function (a clone
                    // and its drop are two more calls into JavaScript per event). Nothing
                    // a handler can do takes the function meanwhile: only the close
                    // listener does, and the browser never nests socket events.
                    if let Some(target) = dispatch.borrow().as_ref() {
                        forward(target);
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
        } else if let Some(blob) = as_blob(&data) {
            self.socket.send_blob(blob)
        } else if let Some(bytes) = buffer_bytes(&data)? {
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
    pub fn close(&self, code: Option<f64>, reason: Option<String>) -> Result<(), JsValue> {
        close_call(
            code,
            reason,
            &|| {
                self.socket
                    .as_web_sys()
                    .close()
                    .map_err(|err| CloseError::Browser(err.into()))
            },
            &|code, reason| self.socket.close_with(code, reason),
        )
    }

    /// `0` connecting, `1` open, `2` closing, `3` closed.
    #[wasm_bindgen(getter = readyState)]
    pub fn ready_state(&self) -> u16 {
        self.socket.ready_state() as u16
    }

    /// The resolved `ws:`/`wss:` URL.
    #[wasm_bindgen(getter, unchecked_return_type = "string")]
    pub fn url(&self) -> JsValue {
        self.socket.url().into()
    }

    /// Bytes queued by `send` that the browser has not yet sent.
    #[wasm_bindgen(getter = bufferedAmount)]
    pub fn buffered_amount(&self) -> u32 {
        self.socket.buffered_amount()
    }

    /// The subprotocol the server selected, or `""`.
    #[wasm_bindgen(getter, unchecked_return_type = "string")]
    pub fn protocol(&self) -> JsValue {
        self.socket.protocol().into()
    }

    /// The extensions the server selected, or `""`.
    #[wasm_bindgen(getter, unchecked_return_type = "string")]
    pub fn extensions(&self) -> JsValue {
        self.socket.extensions().into()
    }

    /// `"blob"` (the default) or `"arraybuffer"`: what binary messages arrive as.
    #[wasm_bindgen(getter = binaryType, unchecked_return_type = "string")]
    pub fn binary_type(&self) -> JsValue {
        JsValue::from_str(match self.socket.as_web_sys().binary_type() {
            BinaryType::Arraybuffer => "arraybuffer",
            _ => "blob",
        })
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
