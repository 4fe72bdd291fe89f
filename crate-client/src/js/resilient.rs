//! What `ReconnectingSocket` and `ChatClient` share: their JavaScript classes and typings,
//! the options they take, and the hold that keeps them alive until closed for good.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use wasm_bindgen::prelude::*;

use super::chat::ChatClient;
use super::convert::*;
use super::reconnecting::ReconnectingSocket;
use crate::message::Message;
use crate::resilient::{
    ConnectionState, Endpoint, EndpointFuture, Heartbeat, Overflow, QueueLimits, ReconnectPolicy,
    ResilientOptions, SendOutcome,
};

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
/// let class = ferrosocket::js::reconnecting_socket_class();
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
/// let class = ferrosocket::js::chat_client_class();
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
pub(super) struct Hold(Rc<RefCell<Option<JsValue>>>);

impl Hold {
    pub(super) fn keep(&self, wrapper: JsValue) {
        *self.0.borrow_mut() = Some(wrapper);
    }

    pub(super) fn release(&self) {
        // Taken out first: dropping the value must not happen under the borrow.
        let released = self.0.borrow_mut().take();
        drop(released);
    }
}

pub(super) fn get(options: &JsValue, key: &str) -> Option<JsValue> {
    if options.is_undefined() || options.is_null() {
        return None;
    }
    js_sys::Reflect::get(options, &key.into())
        .ok()
        .filter(|value| !value.is_undefined() && !value.is_null())
}

pub(super) fn millis(options: &JsValue, key: &str) -> Option<Duration> {
    get(options, key)?
        .as_f64()
        // `Infinity` (say, `maxDelay: Infinity`) means "no limit", not a panic.
        .map(|ms| Duration::try_from_secs_f64(ms.max(0.0) / 1000.0).unwrap_or(Duration::MAX))
}

pub(super) fn parse_options(
    options: &JsValue,
) -> Result<(ResilientOptions, Option<String>), JsValue> {
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
pub(super) fn endpoint_fn(
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
pub(super) async fn resolve(value: &JsValue) -> Result<JsValue, String> {
    let describe = |err: JsValue| crate::error::JsError::from(err).to_string();
    let value = match value.dyn_ref::<js_sys::Function>() {
        Some(function) => function.call0(&JsValue::NULL).map_err(describe)?,
        None => value.clone(),
    };
    wasm_bindgen_futures::JsFuture::from(js_sys::Promise::resolve(&value))
        .await
        .map_err(describe)
}

pub(super) fn outcome_name(outcome: SendOutcome) -> &'static str {
    match outcome {
        SendOutcome::Sent => "sent",
        SendOutcome::Queued => "queued",
        SendOutcome::QueuedDroppingOldest { .. } => "queued-dropping-oldest",
        SendOutcome::Rejected => "rejected",
    }
}

pub(super) fn state_name(state: ConnectionState) -> &'static str {
    match state {
        ConnectionState::Connecting => "connecting",
        ConnectionState::Open => "open",
        ConnectionState::Reconnecting { .. } => "reconnecting",
        ConnectionState::Closed => "closed",
        ConnectionState::GaveUp => "gave-up",
    }
}

pub(super) fn message_data(message: &Message) -> JsValue {
    match message {
        Message::Text(text) => JsValue::from_str(text),
        Message::Binary(bytes) => js_sys::Uint8Array::from(bytes.as_slice()).buffer().into(),
    }
}

pub(super) fn data_to_message(data: JsValue) -> Result<Message, JsValue> {
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

pub(super) fn call(handler: &Option<js_sys::Function>, argument: &JsValue) {
    if let Some(handler) = handler {
        if let Err(err) = handler.call1(&JsValue::NULL, argument) {
            report_error(&err);
        }
    }
}
