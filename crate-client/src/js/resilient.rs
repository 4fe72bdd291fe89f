//! What `ReconnectingSocket` and `ChatClient` share: their JavaScript classes and typings,
//! the options they take, and the hold that keeps them alive until closed for good.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use wasm_bindgen::prelude::*;

#[cfg(feature = "js-chat")]
use super::chat::ChatClient;
use super::convert::*;
use super::reconnecting::ReconnectingSocket;
use crate::message::Message;
use crate::resilient::{
    ConnectionState, Endpoint, EndpointFuture, Heartbeat, Overflow, QueueLimits, ReconnectPolicy,
    ResilientOptions, SendOutcome, TokenFuture, TokenProvider,
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
  /** The access token: a string, or a function returning one (or a Promise of one),
   *  called before every attempt (sent as the `access_token` query parameter) and, for
   *  `ChatClient`, when the server warns that the token expires (sent as `refresh`). If
   *  an attempt fails before opening, one HTTP request asks the server whether it refused
   *  the token; refused twice in a row (or the function fails right after a refusal), the
   *  socket stops with an `authfailed` event `{reason}` until `reconnect()`. */
  token?: string | (() => string | Promise<string>);
  /** `ChatClient` only: answer the server's `token_expiring` with a fresh token from
   *  `token` (true), or let the connection close with 4401 and reconnect with a fresh one
   *  (false). Default true. */
  refreshToken?: boolean;
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
/** A `reconnecting` event: the next attempt is made after `delay` ms. */
export interface ReconnectingEvent extends Event {
  readonly type: "reconnecting";
  /** The attempt, from 1. */
  readonly attempt: number;
  /** The wait before it in ms (random, at most the policy's cap for this attempt). */
  readonly delay: number;
}
/** A `reconnected` event (after the `open` of a later connection). */
export interface ReconnectedEvent extends Event {
  readonly type: "reconnected";
  /** How many attempts it took. */
  readonly attempts: number;
}
/** The events of a `ReconnectingSocket`. `close` is dispatched for every connection that
 *  ends (as partysocket does), `error` before the close of one that failed or was lost. */
export interface ReconnectingSocketEventMap {
  open: Event;
  message: MessageEvent;
  error: Event;
  close: CloseEvent;
  reconnecting: ReconnectingEvent;
  reconnected: ReconnectedEvent;
  /** The policy's maximum number of attempts was reached; nothing more will happen. */
  giveup: Event;
  /** The server refused the token twice in a row (`reason` says why); nothing more
   *  happens until `reconnect()`. */
  authfailed: AuthFailedEvent;
}
/** An `authfailed` event. */
export interface AuthFailedEvent extends Event {
  readonly type: "authfailed";
  /** The server's reason, or the token function's error. */
  readonly reason: string;
}
/** Data `send` takes. */
export type ReconnectingSocketData = string | ArrayBuffer | ArrayBufferView | Blob;
/** partysocket's option names, accepted as aliases of ours (see the README). */
export interface PartysocketOptionAliases {
  /** `maxAttempts`. */
  maxRetries?: number;
  /** `initialDelay`. */
  minReconnectionDelay?: number;
  /** `maxDelay`. */
  maxReconnectionDelay?: number;
  /** `factor`. */
  reconnectionDelayGrowFactor?: number;
  /** `connectTimeout`. */
  connectionTimeout?: number;
  /** `maxQueuedMessages`. */
  maxEnqueuedMessages?: number;
  /** `shouldReconnect`. */
  shouldReconnectOnClose?: (close: { code: number; reason: string; wasClean: boolean }) => boolean;
  /** Do not connect until `reconnect()` is called. */
  startClosed?: boolean;
}
/** A WebSocket that reconnects with backoff, queues while offline and detects dead
 *  connections; the browser `WebSocket`'s shape and an EventTarget, like partysocket's
 *  `ReconnectingWebSocket`. It stays alive without a reference from the page until it is
 *  closed for good or gives up. */
export declare class ReconnectingSocket extends EventTarget {
  constructor(url: UrlSource | URL, options?: ReconnectingSocketOptions & PartysocketOptionAliases);
  constructor(url: UrlSource | URL, protocols: ReconnectingSocketOptions["protocols"], options?: ReconnectingSocketOptions & PartysocketOptionAliases);
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
  /** The resolved URL of the current (or last) attempt. */
  readonly url: string;
  /** CONNECTING also while waiting to reconnect; CLOSING after `close()`. */
  readonly readyState: 0 | 1 | 2 | 3;
  /** Where the connection stands. */
  readonly state: ConnectionState;
  readonly protocol: string;
  /** Always "". */
  readonly extensions: string;
  /** The current connection's `bufferedAmount`. */
  readonly bufferedAmount: number;
  /** Messages waiting in the offline queue. */
  readonly queued: number;
  /** The attempt being made or waited for since the last connection opened. */
  readonly retryCount: number;
  binaryType: BinaryType;
  onopen: ((this: ReconnectingSocket, event: Event) => any) | null;
  onmessage: ((this: ReconnectingSocket, event: MessageEvent) => any) | null;
  onerror: ((this: ReconnectingSocket, event: Event) => any) | null;
  onclose: ((this: ReconnectingSocket, event: CloseEvent) => any) | null;
  /** Sends now or queues (in order, Blobs included); says which. */
  send(data: ReconnectingSocketData): SendOutcome;
  /** Resolves when everything queued has left the browser; rejects (`ClosedError`,
   *  `GaveUpError`) if the socket ends first. */
  flushed(): Promise<void>;
  /** Closes for good, sending `code` and `reason` if given. */
  close(code?: number, reason?: string): void;
  /** Reconnects now: closes the current connection with `code` and `reason` (default
   *  1000 "reconnect"), or cuts a wait short, or starts again after a close, a give-up or
   *  an `authfailed`. Throws as `close` does for a bad code or reason. */
  reconnect(code?: number, reason?: string): void;
  /** Cuts a wait between attempts short. */
  retryNow(): void;
  addEventListener<K extends keyof ReconnectingSocketEventMap>(type: K, listener: (this: ReconnectingSocket, event: ReconnectingSocketEventMap[K]) => any, options?: boolean | AddEventListenerOptions): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void;
  removeEventListener<K extends keyof ReconnectingSocketEventMap>(type: K, listener: (this: ReconnectingSocket, event: ReconnectingSocketEventMap[K]) => any, options?: boolean | EventListenerOptions): void;
  removeEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | EventListenerOptions): void;
}
/** Where a `ReconnectingSocket` stands. */
export type ConnectionState =
  "connecting" | "open" | "reconnecting" | "closed" | "gave-up" | "auth-failed";
"#;

/// `ChatClient`'s typings (feature `js-chat`).
#[cfg(feature = "js-chat")]
#[wasm_bindgen(typescript_custom_section)]
const CHAT_TYPES: &str = r#"
/** A chat event: an Event with the fields of docs/PROTOCOL.md on it. */
export type ChatEventOf<T extends string, F> = Event & { readonly type: T } & Readonly<F>;
/** One history entry or live line. */
export interface ChatLine { seq: number; from: string; text: string; ts: number }
/** The events of a `ChatClient`. */
export interface ChatClientEventMap {
  open: Event;
  close: CloseEvent;
  error: Event;
  reconnecting: ReconnectingEvent;
  reconnected: ReconnectedEvent;
  giveup: Event;
  authfailed: AuthFailedEvent;
  /** The token expires at `exp` (Unix seconds); with a `token` function it is refreshed. */
  tokenexpiring: ChatEventOf<"tokenexpiring", { exp: number }>;
  /** A fresh token was accepted: the connection lasts until `exp`. */
  refreshed: ChatEventOf<"refreshed", { exp: number }>;
  welcome: ChatEventOf<"welcome", { nick: string }>;
  nick: ChatEventOf<"nick", { nick: string }>;
  joined: ChatEventOf<"joined", { room: string; members: string[]; history: ChatLine[] }>;
  left: ChatEventOf<"left", { room: string }>;
  presence: ChatEventOf<"presence", { room: string; change: "join" | "leave" | "rename"; nick: string; oldNick: string | null }>;
  message: ChatEventOf<"message", { room: string } & ChatLine>;
  sent: ChatEventOf<"sent", { id: string; room: string; seq: number }>;
  failed: ChatEventOf<"failed", { id: string; room: string; reason: string }>;
  rooms: ChatEventOf<"rooms", { rooms: { name: string; members: number }[] }>;
  event: ChatEventOf<"event", { room: string; event: string; from: string; data: unknown }>;
  /** The server's `error` message (the connection's errors are `error`). */
  chaterror: ChatEventOf<"chaterror", { code: string; message: string; ref: string | null }>;
}
/** A `chat.v1` client with exactly-once delivery across reconnects; an EventTarget that
 *  stays alive without a reference from the page until it is closed for good or gives up. */
export declare class ChatClient extends EventTarget {
  constructor(url: string | URL, options?: ReconnectingSocketOptions & PartysocketOptionAliases);
  static readonly CONNECTING: 0;
  static readonly OPEN: 1;
  static readonly CLOSING: 2;
  static readonly CLOSED: 3;
  readonly CONNECTING: 0;
  readonly OPEN: 1;
  readonly CLOSING: 2;
  readonly CLOSED: 3;
  readonly readyState: 0 | 1 | 2 | 3;
  readonly state: ConnectionState;
  readonly nick: string;
  readonly unacknowledged: number;
  readonly retryCount: number;
  onopen: ((this: ChatClient, event: Event) => any) | null;
  onmessage: ((this: ChatClient, event: ChatClientEventMap["message"]) => any) | null;
  onerror: ((this: ChatClient, event: Event) => any) | null;
  onclose: ((this: ChatClient, event: CloseEvent) => any) | null;
  join(room: string): SendOutcome;
  leave(room: string): SendOutcome;
  setNick(nick: string): SendOutcome;
  listRooms(): SendOutcome;
  send(room: string, text: string): { id: string; outcome: SendOutcome };
  /** Sends the event with `data` (what `JSON.stringify` writes; `undefined` sends `null`)
   *  to the room's other members. Throws a `TypeError`, and sends nothing, for data it
   *  cannot write (a cycle, a `BigInt`, a function) or the server would refuse (a string
   *  with a lone surrogate, arrays or objects nested over 125 deep). */
  emit(room: string, event: string, data?: unknown): SendOutcome;
  retryNow(): void;
  /** Connects again after an `authfailed` (the `token` function is asked anew) or a
   *  `giveup`. */
  reconnect(): void;
  close(): void;
  addEventListener<K extends keyof ChatClientEventMap>(type: K, listener: (this: ChatClient, event: ChatClientEventMap[K]) => any, options?: boolean | AddEventListenerOptions): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void;
  removeEventListener<K extends keyof ChatClientEventMap>(type: K, listener: (this: ChatClient, event: ChatClientEventMap[K]) => any, options?: boolean | EventListenerOptions): void;
  removeEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | EventListenerOptions): void;
}
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
    #[wasm_bindgen(js_name = installResilientCores)]
    fn install_resilient_cores(make_reconnecting: &JsValue, make_chat: &JsValue);

    #[wasm_bindgen(js_name = reconnectingSocketClass)]
    fn reconnecting_socket_class_js() -> js_sys::Function;

    // `catch` (it never throws) gives it a shim in the glue: imported directly, it would be
    // a second import object for this file, which bundlers warn about (a duplicate key).
    #[wasm_bindgen(catch, js_name = deferred)]
    fn deferred_js() -> Result<js_sys::Array, JsValue>;

}

#[cfg(feature = "js-chat")]
#[wasm_bindgen(module = "/js/resilient.js")]
extern "C" {
    // As `ReconnectingSocket` above: exported only when the module has `ChatClient`.
    #[wasm_bindgen(reexport, skip_typescript, js_name = ChatClient)]
    fn reexported_chat_client_class();

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
    // The options come read by `coreOptions` (crate-client/js/resilient.js).
    let make_reconnecting = core_maker(|url, options, _| {
        ReconnectingSocket::new(url, &CoreOptions::new(options)).map(JsValue::from)
    });
    // resilient.js hands over the URL as a string (`domString(url)`).
    #[cfg(feature = "js-chat")]
    let make_chat = core_maker(|url, options, _| {
        ChatClient::new(
            &url.as_string().unwrap_or_default(),
            &CoreOptions::new(options),
        )
        .map(JsValue::from)
    });
    // Built without `js-chat`: the module does not export `ChatClient`.
    #[cfg(not(feature = "js-chat"))]
    let make_chat = JsValue::NULL;
    install_resilient_cores(&make_reconnecting, &make_chat);
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
/// JavaScript (feature `js-chat`).
///
/// # Examples
/// ```no_run
/// let class = ferrosocket::js::chat_client_class();
/// let chat = js_sys::Reflect::construct(&class, &js_sys::Array::of1(&"/chat".into()));
/// ```
#[cfg(feature = "js-chat")]
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

/// The options as the classes hand them to their cores: `coreOptions` in
/// crate-client/js/resilient.js reads the options object (and throws the `TypeError`s for
/// bad values) into one flat array, indexed by [`Slot`] (numbers, then flags) and then by
/// [`Value`]. Cheaper in the module than reading and checking the object from Rust.
pub(super) struct CoreOptions(js_sys::Array);

impl CoreOptions {
    /// `values`, an array from `coreOptions` (anything else reads as no options).
    pub(super) fn new(values: JsValue) -> CoreOptions {
        CoreOptions(values.dyn_into().unwrap_or_default())
    }

    /// The value at `index`: `undefined` when not given.
    pub(super) fn value(&self, index: Value) -> JsValue {
        self.0.get_unchecked(index as u32)
    }

    /// The value at `index` if it is a string.
    pub(super) fn string(&self, index: Value) -> Option<String> {
        self.value(index).as_string()
    }

    /// The value at `index` unless it is `undefined`.
    pub(super) fn given(&self, index: Value) -> Option<JsValue> {
        Some(self.value(index)).filter(|value| !value.is_undefined())
    }

    /// The number in `slot`, if given.
    pub(super) fn number(&self, slot: Slot) -> Option<f64> {
        self.0
            .get_unchecked(slot as u32)
            .as_f64()
            .filter(|n| !n.is_nan())
    }

    /// The flag in `slot`, if given.
    pub(super) fn flag(&self, slot: Slot) -> Option<bool> {
        self.number(slot).map(|n| n != 0.0)
    }

    /// The count in `slot` (a negative one as 0), or `default`.
    pub(super) fn count(&self, slot: Slot, default: usize) -> usize {
        self.number(slot).map_or(default, |n| n.max(0.0) as usize)
    }

    /// The time in `slot`, given in milliseconds.
    pub(super) fn millis(&self, slot: Slot) -> Option<Duration> {
        self.number(slot)
            // `Infinity` (say, `maxDelay: Infinity`) means "no limit", not a panic.
            .map(|ms| crate::resilient::duration_from_secs(ms / 1000.0))
    }
}

/// The options that are numbers or flags, in the order of `coreOptions`'s `SLOTS`
/// (crate-client/js/resilient.js): a number is NaN when not given (or given as something
/// else, a string for a number, which is ignored), a flag 1, 0 or NaN.
#[derive(Clone, Copy)]
// `LineDeadline`, `MaxPending` and `RefreshToken` are `ChatClient`'s own: read only in a
// module built with it.
#[cfg_attr(not(feature = "js-chat"), allow(dead_code))]
pub(super) enum Slot {
    InitialDelay,
    Factor,
    MaxDelay,
    MaxAttempts,
    MinUptime,
    MaxQueuedMessages,
    MaxQueuedBytes,
    HighWaterMark,
    HeartbeatInterval,
    HeartbeatTimeout,
    ConnectTimeout,
    LineDeadline,
    MaxPending,
    ReconnectAfterNormalClose,
    ReconnectAfterPolicyClose,
    RefreshToken,
    /// `overflow: "drop-oldest"`.
    DropOldest,
}

/// The options that are other values, after the [`Slot`]s in `coreOptions`'s array.
#[derive(Clone, Copy)]
#[cfg_attr(not(feature = "js-chat"), allow(dead_code))]
pub(super) enum Value {
    /// The protocols given as a string or a list: always a list of strings (empty when
    /// they are a function: the class's endpoint function asks it, see `endpoint_fn`).
    Protocols = Slot::DropOldest as isize + 1,
    /// `heartbeatPing` if it is a string.
    HeartbeatPing,
    /// `token`: a string, or an async function that resolves to one or rejects with the
    /// message to report (see `ask`).
    Token,
    /// `shouldReconnect`, as given (checked by `ReconnectingSocket`).
    ShouldReconnect,
    /// `nick` if it is a string.
    Nick,
}

/// Reads the options into what the cores take.
pub(super) fn parse_options(options: &CoreOptions) -> ResilientOptions {
    let defaults = ResilientOptions::default();
    let heartbeat = options
        .millis(Slot::HeartbeatInterval)
        .map(|interval| Heartbeat {
            interval,
            timeout: options
                .millis(Slot::HeartbeatTimeout)
                .unwrap_or(Duration::from_secs(10)),
            ping: Message::Text(
                options
                    .string(Value::HeartbeatPing)
                    .unwrap_or_else(|| r#"{"type":"ping"}"#.to_owned()),
            ),
        });
    ResilientOptions {
        reconnect: ReconnectPolicy {
            initial_delay: options
                .millis(Slot::InitialDelay)
                .unwrap_or(defaults.reconnect.initial_delay),
            factor: options
                .number(Slot::Factor)
                .unwrap_or(defaults.reconnect.factor),
            max_delay: options
                .millis(Slot::MaxDelay)
                .unwrap_or(defaults.reconnect.max_delay),
            max_attempts: options.number(Slot::MaxAttempts).map(|n| n.max(0.0) as u32),
            after_normal_close: options.flag(Slot::ReconnectAfterNormalClose) == Some(true),
            after_policy_close: options.flag(Slot::ReconnectAfterPolicyClose) == Some(true),
            min_uptime: options
                .millis(Slot::MinUptime)
                .unwrap_or(defaults.reconnect.min_uptime),
        },
        queue: QueueLimits {
            max_messages: options.count(Slot::MaxQueuedMessages, defaults.queue.max_messages),
            max_bytes: options.count(Slot::MaxQueuedBytes, defaults.queue.max_bytes),
            overflow: if options.flag(Slot::DropOldest) == Some(true) {
                Overflow::DropOldest
            } else {
                Overflow::RejectNew
            },
        },
        high_water_mark: options
            .number(Slot::HighWaterMark)
            .map_or(defaults.high_water_mark, |n| n.max(0.0) as u32),
        heartbeat,
        // Checked to be strings by `coreOptions`.
        protocols: options
            .given(Value::Protocols)
            .and_then(|list| string_list(&list))
            .unwrap_or_default(),
        connect_timeout: match options.millis(Slot::ConnectTimeout) {
            // `connectTimeout: 0`: no timeout.
            Some(Duration::ZERO) => None,
            Some(timeout) => Some(timeout),
            None => defaults.connect_timeout,
        },
        token: options.given(Value::Token).map(token_provider),
    }
}

/// Computes every attempt's endpoint with `endpoint`, the `ReconnectingSocket` class's
/// async function (crate-client/js/resilient.js) that asks the URL and protocols functions:
/// it resolves to `[url]` or `[url, protocols]` (without protocols, `fixed_protocols`), or
/// rejects with the message to report.
pub(super) fn endpoint_fn(
    endpoint: JsValue,
    fixed_protocols: Vec<String>,
) -> impl FnMut() -> EndpointFuture {
    move || {
        let (endpoint, fixed) = (endpoint.clone(), fixed_protocols.clone());
        Box::pin(async move {
            let answer: js_sys::Array = ask(&endpoint).await?.unchecked_into();
            let protocols = answer.get_unchecked(1);
            Ok(Endpoint {
                url: answer.get_unchecked(0).as_string().unwrap_or_default(),
                protocols: if protocols.is_undefined() {
                    fixed
                } else {
                    string_list(&protocols).unwrap_or_default()
                },
            })
        })
    }
}

/// The `token` option: a string, or an async function (made by `coreOptions`) that
/// resolves to one or rejects with the message to report, called before every attempt and
/// for every refresh.
pub(super) fn token_provider(token: JsValue) -> TokenProvider {
    if let Some(fixed) = token.as_string() {
        return TokenProvider::Fixed(fixed);
    }
    TokenProvider::Function(Rc::new(move || -> TokenFuture {
        let token = token.clone();
        Box::pin(async move { Ok(ask(&token).await?.as_string().unwrap_or_default()) })
    }))
}

/// Calls `function`, one of resilient.js's async functions, and awaits it: what it
/// resolves to, or the message it rejects with. The checks and the messages are theirs.
async fn ask(function: &JsValue) -> Result<JsValue, String> {
    let promise = function
        .unchecked_ref::<js_sys::Function>()
        .call0(&JsValue::NULL)
        .unwrap_or_default();
    wasm_bindgen_futures::JsFuture::from(js_sys::Promise::from(promise))
        .await
        .map_err(|message| message.as_string().unwrap_or_default())
}

/// A Promise and the function that settles it: called with nothing, it resolves the
/// promise; with an error, rejects it. Smaller in wasm than turning a Rust future into a
/// Promise (`future_to_promise`).
pub(super) fn deferred() -> (js_sys::Promise, js_sys::Function) {
    let pair = deferred_js().unwrap_or_default();
    (
        pair.get_unchecked(0).unchecked_into(),
        pair.get_unchecked(1).unchecked_into(),
    )
}

/// What `send` did, as the string JavaScript sees (`"sent"`...).
pub(super) fn outcome_name(outcome: SendOutcome) -> JsValue {
    JsValue::from_str(match outcome {
        SendOutcome::Sent => "sent",
        SendOutcome::Queued => "queued",
        SendOutcome::QueuedDroppingOldest { .. } => "queued-dropping-oldest",
        SendOutcome::Rejected => "rejected",
    })
}

/// `state` as the string JavaScript sees (`"open"`...).
pub(super) fn state_name(state: ConnectionState) -> JsValue {
    JsValue::from_str(match state {
        ConnectionState::Connecting => "connecting",
        ConnectionState::Open => "open",
        ConnectionState::Reconnecting { .. } => "reconnecting",
        ConnectionState::Closed => "closed",
        ConnectionState::GaveUp => "gave-up",
        ConnectionState::AuthFailed => "auth-failed",
    })
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
    } else if let Some(bytes) = buffer_bytes(&data)? {
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
