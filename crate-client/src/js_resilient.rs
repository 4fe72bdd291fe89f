//! The JavaScript classes for the resilient layers: [`ReconnectingSocket`] (reconnect,
//! offline queue, backpressure, heartbeat) and [`ChatClient`] (the `chat.v1` protocol with
//! exactly-once delivery across reconnects).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use wasm_bindgen::prelude::*;

use crate::js::{buffer_bytes, js_error, report_error, SocketData};
use crate::js_events::{chat_event, close_object, connection_event, Obj};
use crate::message::Message;
use crate::resilient::{
    ConnectionState, Endpoint, EndpointFuture, Heartbeat, Overflow, QueueLimits, ReconnectPolicy,
    ResilientError, ResilientEvent, ResilientOptions, ResilientSocket, SendOutcome,
};
use crate::session::{ChatEvent, ChatOptions, ChatSession};

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &str = r#"
/** Options of `ReconnectingSocket` (and `ChatClient`); every field is optional. Times in ms. */
export interface ReconnectingSocketOptions {
  /** Subprotocols to offer: one, a list, or a function returning either (or a Promise of
   *  either), called before every attempt (ignored by `ChatClient`, which uses chat.v1). */
  protocols?: string | string[] | (() => string | string[] | Promise<string | string[]>);
  /** Cap of the first reconnect delay. Default 500. */
  initialDelay?: number;
  /** Growth of the cap per attempt. Default 2. */
  factor?: number;
  /** Largest cap (`Infinity`: none). Default 30000. */
  maxDelay?: number;
  /** A connection must stay open this long before its end starts the backoff over (so a
   *  server that accepts and closes at once is not hammered). Default 5000. */
  minUptime?: number;
  /** An attempt not open after this long is closed (code 4001 "connect timeout" to the
   *  server, a 1006 "connect timeout" disconnect here) and retried; 0 for none.
   *  Default 10000. */
  connectTimeout?: number;
  /** Decides instead of the close-code rules whether to reconnect after a close; the
   *  delays and `maxAttempts` still apply. */
  shouldReconnect?: (close: { code: number; reason: string; wasClean: boolean }) => boolean;
  /** Attempts before giving up; omit for never. */
  maxAttempts?: number;
  /** Reconnect after a normal close (1000) too. Default false. */
  reconnectAfterNormalClose?: boolean;
  /** Reconnect after a policy close (1008, 4000-4999) too. Default false. */
  reconnectAfterPolicyClose?: boolean;
  /** Most messages kept while offline. Default 1000. */
  maxQueuedMessages?: number;
  /** Most bytes kept while offline. Default 1048576. */
  maxQueuedBytes?: number;
  /** What a full queue does with a new message. Default "reject-new". */
  overflow?: "reject-new" | "drop-oldest";
  /** Above this bufferedAmount, sends are queued. Default 1048576. */
  highWaterMark?: number;
  /** Quiet time before a heartbeat ping; set it to enable the heartbeat. */
  heartbeatInterval?: number;
  /** Time to wait for any message after the ping; then the socket is closed (code 4000
   *  "heartbeat timeout" to the server) and reconnected. Default 10000. */
  heartbeatTimeout?: number;
  /** The ping message. Default '{"type":"ping"}'. */
  heartbeatPing?: string;
  /** `ChatClient` only: the nickname to ask for on every connection. */
  nick?: string;
  /** `ChatClient` only: a line not acknowledged this long after `send` gets a `failed`
   *  event (unless its answer is coming on an open connection). Omit for no deadline. */
  lineDeadline?: number;
  /** `ChatClient` only: the most lines kept unacknowledged; a `send` beyond it fails at
   *  once. Default 10000. */
  maxPending?: number;
}
/** `ChatClient`: one of its lines will not be delivered by it. Every line ends with one
 *  `sent` or one `failed` event. */
export interface ChatFailedEvent {
  type: "failed";
  /** The id `send` returned. */
  id: string;
  room: string;
  /** Why; says when the line may nevertheless have been delivered. */
  reason: string;
}
/** A URL, or a function called before every attempt that returns one (or a Promise of
 *  one): for URLs that change, such as a token that expires. */
export type UrlSource = string | (() => string | Promise<string>);
/** What `send` did: sent now, kept for later, or refused. */
export type SendOutcome = "sent" | "queued" | "queued-dropping-oldest" | "rejected";
/** `new ReconnectingSocket(url, options)`: a `ReconnectingSocketCore` that stays alive
 *  without a reference from the page until it is closed for good or gives up. */
export type ReconnectingSocket = ReconnectingSocketCore;
export declare const ReconnectingSocket: {
  new (url: UrlSource | URL, options?: ReconnectingSocketOptions): ReconnectingSocketCore;
  readonly prototype: ReconnectingSocketCore;
};
/** `new ChatClient(url, options)`: a `ChatClientCore` that stays alive without a reference
 *  from the page until it is closed for good or gives up. */
export type ChatClient = ChatClientCore;
export declare const ChatClient: {
  new (url: string | URL, options?: ReconnectingSocketOptions): ChatClientCore;
  readonly prototype: ChatClientCore;
};
/** Where a `ReconnectingSocket` stands. */
export type ConnectionState = "connecting" | "open" | "reconnecting" | "closed" | "gave-up";
"#;

#[wasm_bindgen]
extern "C" {
    /// `ReconnectingSocketOptions` in TypeScript.
    #[wasm_bindgen(typescript_type = "ReconnectingSocketOptions")]
    pub type ReconnectingSocketOptions;
    /// `string | (() => string | Promise<string>)` in TypeScript.
    #[wasm_bindgen(typescript_type = "UrlSource")]
    pub type UrlSource;
}

#[wasm_bindgen(module = "/js/resilient.js")]
extern "C" {
    // The user-facing `ReconnectingSocket` and `ChatClient` (crate-client/js/resilient.js),
    // re-exported from the package's main module. Declared as functions because only
    // function imports can skip wasm-bindgen's `unknown` typing (TYPES declares them).
    #[wasm_bindgen(reexport, skip_typescript, js_name = ReconnectingSocket)]
    fn reexported_reconnecting_socket_class();
    #[wasm_bindgen(reexport, skip_typescript, js_name = ChatClient)]
    fn reexported_chat_client_class();

    #[wasm_bindgen(js_name = installResilientCores)]
    fn install_resilient_cores(make_reconnecting: &JsValue, make_chat: &JsValue);

    #[wasm_bindgen(js_name = reconnectingSocketClass)]
    fn reconnecting_socket_class_js() -> js_sys::Function;

    #[wasm_bindgen(js_name = chatClientClass)]
    fn chat_client_class_js() -> js_sys::Function;
}

/// Gives the `ReconnectingSocket` and `ChatClient` JavaScript classes the way to make their
/// Rust cores (from the module's start function, in crate::js).
pub(crate) fn install_resilient_classes() {
    thread_local!(static INSTALLED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) });
    if INSTALLED.with(|installed| installed.replace(true)) {
        return;
    }
    // One function each per module instance, alive as long as the module.
    // The URL is passed as it came: a string, or a function called per attempt.
    let make_reconnecting = Closure::<dyn Fn(JsValue, JsValue) -> Result<JsValue, JsValue>>::new(
        |url: JsValue, options: JsValue| {
            let options = (!options.is_undefined()).then(|| options.unchecked_into());
            ReconnectingSocket::new(url.unchecked_into(), options).map(JsValue::from)
        },
    );
    let make_chat = Closure::<dyn Fn(String, JsValue) -> Result<JsValue, JsValue>>::new(
        |url: String, options: JsValue| {
            let options = (!options.is_undefined()).then(|| options.unchecked_into());
            ChatClient::new(&url, options).map(JsValue::from)
        },
    );
    install_resilient_cores(
        &make_reconnecting.into_js_value(),
        &make_chat.into_js_value(),
    );
}

/// The user-facing `ReconnectingSocket` JavaScript class, for Rust code that hands it to
/// JavaScript.
///
/// # Examples
/// ```no_run
/// let class = ferrosocket::js_resilient::reconnecting_socket_class();
/// let socket = js_sys::Reflect::construct(&class, &js_sys::Array::of1(&"/echo".into()));
/// ```
pub fn reconnecting_socket_class() -> js_sys::Function {
    // wasm-bindgen-test runs no library start function: install here too.
    install_resilient_classes();
    reconnecting_socket_class_js()
}

/// The user-facing `ChatClient` JavaScript class, for Rust code that hands it to
/// JavaScript.
///
/// # Examples
/// ```no_run
/// let class = ferrosocket::js_resilient::chat_client_class();
/// let chat = js_sys::Reflect::construct(&class, &js_sys::Array::of1(&"/chat".into()));
/// ```
pub fn chat_client_class() -> js_sys::Function {
    install_resilient_classes();
    chat_client_class_js()
}

/// The strong reference from Rust to a class's JavaScript object that keeps it (and so
/// its connection) alive without a reference from the page, until the connection closes
/// for good: like the browser's `WebSocket`, not collected while it can deliver events.
#[derive(Debug, Default, Clone)]
struct Hold(Rc<RefCell<Option<JsValue>>>);

impl Hold {
    fn keep(&self, wrapper: JsValue) {
        *self.0.borrow_mut() = Some(wrapper);
    }

    fn release(&self) {
        // Taken out first: dropping the value must not happen under the borrow.
        let released = self.0.borrow_mut().take();
        drop(released);
    }
}

fn get(options: &JsValue, key: &str) -> Option<JsValue> {
    if options.is_undefined() || options.is_null() {
        return None;
    }
    js_sys::Reflect::get(options, &key.into())
        .ok()
        .filter(|value| !value.is_undefined() && !value.is_null())
}

fn millis(options: &JsValue, key: &str) -> Option<Duration> {
    get(options, key)?
        .as_f64()
        // `Infinity` (say, `maxDelay: Infinity`) means "no limit", not a panic.
        .map(|ms| Duration::try_from_secs_f64(ms.max(0.0) / 1000.0).unwrap_or(Duration::MAX))
}

fn parse_options(options: &JsValue) -> Result<(ResilientOptions, Option<String>), JsValue> {
    let defaults = ResilientOptions::default();
    let number = |key: &str| get(options, key).and_then(|v| v.as_f64());
    let flag = |key: &str| get(options, key).and_then(|v| v.as_bool()).unwrap_or(false);
    let overflow = match get(options, "overflow")
        .and_then(|v| v.as_string())
        .as_deref()
    {
        None | Some("reject-new") => Overflow::RejectNew,
        Some("drop-oldest") => Overflow::DropOldest,
        Some(other) => {
            return Err(js_sys::TypeError::new(&format!(
                "overflow must be \"reject-new\" or \"drop-oldest\", not {other:?}"
            ))
            .into())
        }
    };
    let protocols = match get(options, "protocols") {
        None => Vec::new(),
        // Called per attempt instead (see `endpoint_fn`).
        Some(function) if function.is_function() => Vec::new(),
        // One protocol may be given as a string, as `new WebSocket(url, "x")` allows.
        Some(one) if one.is_string() => vec![one.as_string().unwrap_or_default()],
        Some(list) => js_sys::Array::from(&list)
            .iter()
            .map(|p| {
                p.as_string().ok_or_else(|| {
                    JsValue::from(js_sys::TypeError::new("protocols must be strings"))
                })
            })
            .collect::<Result<_, _>>()?,
    };
    let heartbeat = millis(options, "heartbeatInterval").map(|interval| Heartbeat {
        interval,
        timeout: millis(options, "heartbeatTimeout").unwrap_or(Duration::from_secs(10)),
        ping: Message::Text(
            get(options, "heartbeatPing")
                .and_then(|v| v.as_string())
                .unwrap_or_else(|| r#"{"type":"ping"}"#.to_owned()),
        ),
    });
    let resilient = ResilientOptions {
        reconnect: ReconnectPolicy {
            initial_delay: millis(options, "initialDelay")
                .unwrap_or(defaults.reconnect.initial_delay),
            factor: number("factor").unwrap_or(defaults.reconnect.factor),
            max_delay: millis(options, "maxDelay").unwrap_or(defaults.reconnect.max_delay),
            max_attempts: number("maxAttempts").map(|n| n.max(0.0) as u32),
            after_normal_close: flag("reconnectAfterNormalClose"),
            after_policy_close: flag("reconnectAfterPolicyClose"),
            min_uptime: millis(options, "minUptime").unwrap_or(defaults.reconnect.min_uptime),
        },
        queue: QueueLimits {
            max_messages: number("maxQueuedMessages")
                .map_or(defaults.queue.max_messages, |n| n.max(0.0) as usize),
            max_bytes: number("maxQueuedBytes")
                .map_or(defaults.queue.max_bytes, |n| n.max(0.0) as usize),
            overflow,
        },
        high_water_mark: number("highWaterMark")
            .map_or(defaults.high_water_mark, |n| n.max(0.0) as u32),
        heartbeat,
        protocols,
        connect_timeout: match millis(options, "connectTimeout") {
            // `connectTimeout: 0`: no timeout.
            Some(Duration::ZERO) => None,
            Some(timeout) => Some(timeout),
            None => defaults.connect_timeout,
        },
    };
    Ok((resilient, get(options, "nick").and_then(|v| v.as_string())))
}

/// Computes every attempt's endpoint from a URL and protocols each given as a value or a
/// function (whose result may be a Promise).
fn endpoint_fn(
    url: JsValue,
    protocols: Option<JsValue>,
    fixed_protocols: Vec<String>,
) -> impl FnMut() -> EndpointFuture {
    move || {
        let (url, protocols, fixed) = (url.clone(), protocols.clone(), fixed_protocols.clone());
        Box::pin(async move {
            let url = resolve(&url)
                .await
                .map_err(|err| format!("the URL function failed: {err}"))?
                .as_string()
                .ok_or("the URL function returned something other than a string")?;
            let protocols = match protocols {
                None => fixed,
                Some(protocols) => {
                    let value = resolve(&protocols)
                        .await
                        .map_err(|err| format!("the protocols function failed: {err}"))?;
                    match value.as_string() {
                        Some(one) => vec![one],
                        None if js_sys::Array::is_array(&value) => js_sys::Array::from(&value)
                            .iter()
                            .map(|p| p.as_string().ok_or("protocols must be strings"))
                            .collect::<Result<_, _>>()?,
                        None => {
                            return Err(
                                "the protocols function returned neither a string nor a list"
                                    .into(),
                            )
                        }
                    }
                }
            };
            Ok(Endpoint { url, protocols })
        })
    }
}

/// `value`, or what calling it returns if it is a function, awaited if it is a Promise;
/// an exception or a rejection as its message.
async fn resolve(value: &JsValue) -> Result<JsValue, String> {
    let describe = |err: JsValue| crate::error::JsError::from(err).to_string();
    let value = match value.dyn_ref::<js_sys::Function>() {
        Some(function) => function.call0(&JsValue::NULL).map_err(describe)?,
        None => value.clone(),
    };
    wasm_bindgen_futures::JsFuture::from(js_sys::Promise::resolve(&value))
        .await
        .map_err(describe)
}

fn outcome_name(outcome: SendOutcome) -> &'static str {
    match outcome {
        SendOutcome::Sent => "sent",
        SendOutcome::Queued => "queued",
        SendOutcome::QueuedDroppingOldest { .. } => "queued-dropping-oldest",
        SendOutcome::Rejected => "rejected",
    }
}

fn state_name(state: ConnectionState) -> &'static str {
    match state {
        ConnectionState::Connecting => "connecting",
        ConnectionState::Open => "open",
        ConnectionState::Reconnecting { .. } => "reconnecting",
        ConnectionState::Closed => "closed",
        ConnectionState::GaveUp => "gave-up",
    }
}

fn message_data(message: &Message) -> JsValue {
    match message {
        Message::Text(text) => JsValue::from_str(text),
        Message::Binary(bytes) => js_sys::Uint8Array::from(bytes.as_slice()).buffer().into(),
    }
}

fn data_to_message(data: JsValue) -> Result<Message, JsValue> {
    if let Some(text) = data.as_string() {
        Ok(Message::Text(text))
    } else if let Some(bytes) = buffer_bytes(&data) {
        Ok(Message::Binary(bytes))
    } else {
        Err(
            js_sys::TypeError::new("send() takes a string, ArrayBuffer, typed array or Blob")
                .into(),
        )
    }
}

fn call(handler: &Option<js_sys::Function>, argument: &JsValue) {
    if let Some(handler) = handler {
        if let Err(err) = handler.call1(&JsValue::NULL, argument) {
            report_error(&err);
        }
    }
}

/// A WebSocket that reconnects with backoff, queues what is sent while offline, holds back
/// above a `bufferedAmount` high-water mark, and detects dead connections with a heartbeat.
///
/// # Examples
/// ```js
/// const socket = new ReconnectingSocket("/echo", { maxAttempts: 10, heartbeatInterval: 15000, heartbeatPing: "ping" });
/// socket.onevent = (event) => console.log(event.type, event);  // open, reconnecting, ...
/// socket.onmessage = (event) => console.log(event.data);
/// console.log(socket.send("hello"));                            // "queued" until open
/// await socket.flushed();
/// ```
#[wasm_bindgen(js_name = ReconnectingSocketCore)]
#[derive(Debug)]
pub struct ReconnectingSocket {
    socket: ResilientSocket,
    handlers: Rc<RefCell<[Option<js_sys::Function>; 2]>>,
    hold: Hold,
}

const ON_EVENT: usize = 0;
const ON_MESSAGE: usize = 1;

#[wasm_bindgen(js_class = ReconnectingSocketCore)]
impl ReconnectingSocket {
    /// Opens a connection to `url` that survives failures. Throws `InvalidUrlError`,
    /// `UnsupportedSchemeError`, `InvalidProtocolError` or `TypeError` for bad options.
    #[wasm_bindgen(constructor)]
    pub fn new(
        url: UrlSource,
        options: Option<ReconnectingSocketOptions>,
    ) -> Result<ReconnectingSocket, JsValue> {
        let raw = options.map_or(JsValue::UNDEFINED, Into::into);
        let (options, _) = parse_options(&raw)?;
        let url: JsValue = url.into();
        let protocols_fn = get(&raw, "protocols").filter(JsValue::is_function);
        let socket =
            match url.as_string() {
                Some(url) if protocols_fn.is_none() => ResilientSocket::open(&url, options)
                    .map_err(|err| js_error(crate::js::open_error_name(&err), &err))?,
                _ if url.is_string() || url.is_function() => {
                    let fixed = options.protocols.clone();
                    ResilientSocket::open_with(endpoint_fn(url, protocols_fn, fixed), options)
                }
                _ => return Err(js_sys::TypeError::new(
                    "the URL must be a string or a function returning one (or a Promise of one)",
                )
                .into()),
            };
        if let Some(predicate) = get(&raw, "shouldReconnect") {
            let predicate: js_sys::Function = predicate.dyn_into().map_err(|_| {
                JsValue::from(js_sys::TypeError::new("shouldReconnect must be a function"))
            })?;
            socket.set_should_reconnect(move |close| {
                let close = close_object(close);
                // A predicate that throws is reported like a handler that throws, and the
                // close-code rules' usual answer for an abnormal close applies: reconnect.
                match predicate.call1(&JsValue::NULL, &close) {
                    Ok(answer) => answer.is_truthy(),
                    Err(err) => {
                        report_error(&err);
                        true
                    }
                }
            });
        }
        let handlers: Rc<RefCell<[Option<js_sys::Function>; 2]>> = Rc::default();
        let slots = Rc::clone(&handlers);
        let hold = Hold::default();
        let held = hold.clone();
        socket.set_on_event(move |event| {
            let finished = matches!(event, ResilientEvent::Closed(_) | ResilientEvent::GaveUp);
            let (on_event, on_message) = {
                let slots = slots.borrow();
                (slots[ON_EVENT].clone(), slots[ON_MESSAGE].clone())
            };
            match &event {
                ResilientEvent::Message(message) => {
                    let event = js_sys::Object::new();
                    let _ = js_sys::Reflect::set(&event, &"data".into(), &message_data(message));
                    call(&on_message, &event);
                }
                other => {
                    if let Some(object) = connection_event(other) {
                        call(&on_event, &object);
                    }
                }
            }
            if finished {
                held.release();
            }
        });
        Ok(ReconnectingSocket {
            socket,
            handlers,
            hold,
        })
    }

    /// Keeps `wrapper` (this object's JavaScript side) alive until the connection is
    /// closed for good or gives up; called by the `ReconnectingSocket` constructor
    /// (crate-client/js/resilient.js).
    #[wasm_bindgen(js_name = __holdUntilClosed, skip_typescript)]
    pub fn hold_until_closed(&self, wrapper: JsValue) {
        if !matches!(
            self.socket.state(),
            ConnectionState::Closed | ConnectionState::GaveUp
        ) {
            self.hold.keep(wrapper);
        }
    }

    /// Called with every connection event, a `{type, ...}` object: `open`,
    /// `reconnected {attempts}`, `disconnect {close}`, `reconnecting {attempt, delay}`,
    /// `giveup`, `close {close}` (`close` is `{code, reason, wasClean}`).
    #[wasm_bindgen(setter)]
    pub fn set_onevent(&self, handler: Option<js_sys::Function>) {
        self.handlers.borrow_mut()[ON_EVENT] = handler;
    }

    /// Called with `{data}` for every message (`data` is a string or an `ArrayBuffer`).
    #[wasm_bindgen(setter)]
    pub fn set_onmessage(&self, handler: Option<js_sys::Function>) {
        self.handlers.borrow_mut()[ON_MESSAGE] = handler;
    }

    /// Sends now, or queues; returns what happened.
    pub fn send(&self, data: SocketData) -> Result<String, JsValue> {
        let data: JsValue = data.into();
        // A Blob is queued as it is, in order; the browser reads it when it is sent.
        if let Some(blob) = data.dyn_ref::<web_sys::Blob>() {
            return Ok(outcome_name(self.socket.send_blob(blob)).to_owned());
        }
        let message = data_to_message(data)?;
        Ok(outcome_name(self.socket.send(message)).to_owned())
    }

    /// `"connecting"`, `"open"`, `"reconnecting"`, `"closed"` or `"gave-up"`.
    #[wasm_bindgen(getter)]
    pub fn state(&self) -> String {
        state_name(self.socket.state()).to_owned()
    }

    /// Messages waiting in the offline queue.
    #[wasm_bindgen(getter)]
    pub fn queued(&self) -> usize {
        self.socket.queued()
    }

    /// The subprotocol the server selected on the current connection ("" when none).
    #[wasm_bindgen(getter)]
    pub fn protocol(&self) -> String {
        self.socket.protocol()
    }

    /// The current socket's `bufferedAmount`.
    #[wasm_bindgen(getter = bufferedAmount)]
    pub fn buffered_amount(&self) -> u32 {
        self.socket.buffered_amount()
    }

    /// Resolves when the queue is empty and the browser has sent everything; rejects with
    /// an `Error` named `ClosedError` or `GaveUpError` (its message says how many messages
    /// were never sent) when the socket is closed for good or gives up first.
    pub fn flushed(&self) -> js_sys::Promise {
        let flushed = self.socket.flushed();
        wasm_bindgen_futures::future_to_promise(async move {
            flushed.await.map_err(|err| {
                let name = match err {
                    ResilientError::GaveUp { .. } => "GaveUpError",
                    _ => "ClosedError",
                };
                js_error(name, &err)
            })?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Reconnects now if waiting between attempts.
    #[wasm_bindgen(js_name = retryNow)]
    pub fn retry_now(&self) {
        self.socket.retry_now();
    }

    /// Closes for good (1000); no reconnect.
    pub fn close(&self) {
        self.socket.close();
    }
}

/// A chat client speaking `chat.v1`, with exactly-once delivery across reconnects.
///
/// # Examples
/// ```js
/// const chat = new ChatClient("/chat", { nick: "ada" });
/// chat.onevent = (event) => {
///   if (event.type === "message") console.log(event.room, event.from, event.text);
/// };
/// chat.join("rust");
/// const { id, outcome } = chat.send("rust", "hello");   // later: {type: "sent", id, seq}
/// ```
#[wasm_bindgen(js_name = ChatClientCore)]
#[derive(Debug)]
pub struct ChatClient {
    session: ChatSession,
    handler: Rc<RefCell<Option<js_sys::Function>>>,
    hold: Hold,
}

#[wasm_bindgen(js_class = ChatClientCore)]
impl ChatClient {
    /// Connects to the chat endpoint `url` (e.g. `"/chat"`); `options` as for
    /// `ReconnectingSocket`, plus `nick`.
    #[wasm_bindgen(constructor)]
    pub fn new(
        url: &str,
        options: Option<ReconnectingSocketOptions>,
    ) -> Result<ChatClient, JsValue> {
        let raw = options.map_or(JsValue::UNDEFINED, Into::into);
        let (mut connection, nick) = parse_options(&raw)?;
        if get(&raw, "heartbeatPing").is_none() {
            if let Some(heartbeat) = &mut connection.heartbeat {
                heartbeat.ping = Message::Text(r#"{"type":"ping"}"#.to_owned());
            }
        }
        let options = ChatOptions {
            connection,
            nick,
            line_deadline: millis(&raw, "lineDeadline"),
            max_pending: get(&raw, "maxPending")
                .and_then(|v| v.as_f64())
                .map_or(crate::session_core::DEFAULT_MAX_PENDING, |n| {
                    n.max(0.0) as usize
                }),
        };
        let session = ChatSession::connect(url, options)
            .map_err(|err| js_error(crate::js::open_error_name(&err), &err))?;
        let handler: Rc<RefCell<Option<js_sys::Function>>> = Rc::default();
        let slot = Rc::clone(&handler);
        let hold = Hold::default();
        let held = hold.clone();
        session.set_on_event(move |event| {
            let handler = slot.borrow().clone();
            if let Some(object) = chat_event(&event) {
                call(&handler, &object);
            }
            if matches!(
                event,
                ChatEvent::Connection(ResilientEvent::Closed(_) | ResilientEvent::GaveUp)
            ) {
                held.release();
            }
        });
        Ok(ChatClient {
            session,
            handler,
            hold,
        })
    }

    /// Keeps `wrapper` (this object's JavaScript side) alive until the connection is
    /// closed for good or gives up; called by the `ChatClient` constructor
    /// (crate-client/js/resilient.js).
    #[wasm_bindgen(js_name = __holdUntilClosed, skip_typescript)]
    pub fn hold_until_closed(&self, wrapper: JsValue) {
        if !matches!(
            self.session.connection().state(),
            ConnectionState::Closed | ConnectionState::GaveUp
        ) {
            self.hold.keep(wrapper);
        }
    }

    /// Called with every event as a `{type, ...}` object: the connection events of
    /// `ReconnectingSocket`, and `welcome`, `nick`, `joined`, `left`, `presence`, `message`,
    /// `sent`, `failed {id, room, reason}`, `rooms`, `event`, `error` (fields as in
    /// docs/PROTOCOL.md). Every line sent ends with one `sent` or one `failed`.
    #[wasm_bindgen(setter)]
    pub fn set_onevent(&self, handler: Option<js_sys::Function>) {
        *self.handler.borrow_mut() = handler;
    }

    /// Joins `room`, and keeps it joined across reconnects.
    pub fn join(&self, room: &str) -> String {
        outcome_name(self.session.join(room)).to_owned()
    }

    /// Leaves `room`.
    pub fn leave(&self, room: &str) -> String {
        outcome_name(self.session.leave(room)).to_owned()
    }

    /// Asks for `nick`, now and on every later connection.
    #[wasm_bindgen(js_name = setNick)]
    pub fn set_nick(&self, nick: &str) -> String {
        outcome_name(self.session.set_nick(nick)).to_owned()
    }

    /// Asks for the rooms; a `rooms` event follows.
    #[wasm_bindgen(js_name = listRooms)]
    pub fn list_rooms(&self) -> String {
        outcome_name(self.session.list_rooms()).to_owned()
    }

    /// Sends `text` to `room`; returns `{id, outcome}`. A `sent` event with the same `id`
    /// confirms it, a `failed` event says it will not be delivered; lines are delivered at
    /// most once each and in the order of the calls, even across reconnects.
    pub fn send(&self, room: &str, text: &str) -> JsValue {
        let (id, outcome) = self.session.send(room, text);
        Obj::new()
            .set("id", id)
            .set("outcome", outcome_name(outcome))
            .build()
    }

    /// Sends the application event `event` with `data` (any JSON value) to `room`.
    pub fn emit(&self, room: &str, event: &str, data: JsValue) -> Result<String, JsValue> {
        let text = js_sys::JSON::stringify(&data)
            .map(String::from)
            .unwrap_or_else(|_| "null".into());
        self.session
            .emit(room, event, &text)
            .map(|outcome| outcome_name(outcome).to_owned())
            .map_err(|err| js_sys::TypeError::new(&format!("data is not JSON: {err}")).into())
    }

    /// The connection's state (as `ReconnectingSocket.state`).
    #[wasm_bindgen(getter)]
    pub fn state(&self) -> String {
        state_name(self.session.state()).to_owned()
    }

    /// The nickname in force.
    #[wasm_bindgen(getter)]
    pub fn nick(&self) -> String {
        self.session.nick()
    }

    /// Lines sent but neither acknowledged (`sent`) nor failed (`failed`) yet.
    #[wasm_bindgen(getter)]
    pub fn unacknowledged(&self) -> usize {
        self.session.unacknowledged()
    }

    /// Reconnects now if waiting between attempts.
    #[wasm_bindgen(js_name = retryNow)]
    pub fn retry_now(&self) {
        self.session.connection().retry_now();
    }

    /// Closes for good: every line not yet acknowledged gets a `failed` event.
    pub fn close(&self) {
        self.session.close();
    }
}
