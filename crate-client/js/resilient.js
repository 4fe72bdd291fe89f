// ReconnectingSocket and ChatClient as JavaScript users construct them: EventTarget classes
// with the browser WebSocket's shape (ReconnectingSocket is a drop-in for partysocket's
// ReconnectingWebSocket) over their Rust cores (ReconnectingSocketCore, ChatClientCore in
// crate-client/src/js/). Each asks its core to hold it until the connection is closed for
// good or gives up: a wasm-bindgen object alone would be collected, and its connection
// closed, as soon as the page dropped its last reference, even with listeners; the
// browser's WebSocket is not.
//
// Events are real Event/MessageEvent/CloseEvent objects whose target is the class's object,
// dispatched each in a task of its own, in the order the core reported them: an event the
// core raises inside a listener (close() from a close listener) is neither lost nor nested.
// A listener's exception goes to reportError (dispatchEvent does that) and the next
// listener still runs. An event type this file does not know (one a newer core adds) is
// still dispatched, as an Event of that type with the core's fields copied onto it.
//
// Shipped in the wasm-pack package as a wasm-bindgen snippet and re-exported from the
// package's main module.

// The parts of the browser WebSocket's shape FerroSocket has too (the same directory of
// the package's snippets: no module more to load).
import { defineConstants, defineHandlerAttributes, domString, HANDLER_TYPES, HandlerSlots, STATES } from "./socket.js";

let makeReconnecting = null;
let makeChat = null;
// Installed, but the module was built without ChatClient (cargo feature `js-chat`).
let chatLeftOut = false;

/** Called once by the Rust module when it is instantiated (its start function); `chat`
 *  is null in a module built without `ChatClient`. */
export function installResilientCores(reconnecting, chat) {
  makeReconnecting = reconnecting;
  makeChat = chat;
  chatLeftOut = chat === null;
}

// partysocket's option names, accepted as aliases of ours (ours win when both are given).
// Their meanings overlap but are not identical; README "ReconnectingSocket and
// partysocket" lists how they differ.
const OPTION_ALIASES = {
  maxRetries: "maxAttempts",
  minReconnectionDelay: "initialDelay",
  maxReconnectionDelay: "maxDelay",
  reconnectionDelayGrowFactor: "factor",
  connectionTimeout: "connectTimeout",
  maxEnqueuedMessages: "maxQueuedMessages",
  shouldReconnectOnClose: "shouldReconnect",
};

function withAliases(options) {
  if (options === undefined || options === null) return undefined;
  if (typeof options !== "object") throw new TypeError("the options must be an object");
  const out = { ...options };
  for (const [theirs, ours] of Object.entries(OPTION_ALIASES)) {
    if (out[theirs] !== undefined && out[ours] === undefined) out[ours] = out[theirs];
    delete out[theirs];
  }
  delete out.startClosed;
  return out;
}

// The options that are numbers, then those that are flags, in the order of `Slot`
// (crate-client/src/js/resilient.rs); `overflow` comes last, as the flag "drop-oldest".
const NUMBER_OPTIONS = ["initialDelay", "factor", "maxDelay", "maxAttempts", "minUptime",
  "maxQueuedMessages", "maxQueuedBytes", "highWaterMark", "heartbeatInterval",
  "heartbeatTimeout", "connectTimeout", "lineDeadline", "maxPending"];
const FLAG_OPTIONS = ["reconnectAfterNormalClose", "reconnectAfterPolicyClose", "refreshToken"];

/**
 * The options (after `withAliases`) as the cores take them (`CoreOptions` in
 * crate-client/src/js/resilient.rs): one array, the numbers and flags first (NaN for one
 * not given or of another type, which is ignored; a NaN given counts as 0), then the
 * protocols as a list of strings (none when they are a function, which the class asks),
 * `heartbeatPing`, `token` (a function as one `answerOf` asks), `shouldReconnect` and
 * `nick`. Throws a TypeError for a bad `overflow`, `protocols` or
 * `token`, in that order.
 */
function coreOptions(options) {
  const given = options ?? {};
  const values = NUMBER_OPTIONS.map((key) => {
    const value = given[key];
    return typeof value === "number" ? value || 0 : NaN;
  });
  for (const key of FLAG_OPTIONS) {
    const value = given[key];
    values.push(typeof value === "boolean" ? +value : NaN);
  }
  const { overflow, protocols, heartbeatPing, token, nick } = given;
  if (typeof overflow === "string" && overflow !== "reject-new" && overflow !== "drop-oldest") {
    throw new TypeError(`overflow must be "reject-new" or "drop-oldest", not "${overflow}"`);
  }
  values.push(+(overflow === "drop-oldest"));
  // One protocol may be given as a string, as `new WebSocket(url, "x")` allows; a
  // function is called per attempt instead.
  const fixed = protocols == null || typeof protocols === "function" ? []
    : typeof protocols === "string" ? [protocols] : Array.from(protocols);
  if (fixed.some((protocol) => typeof protocol !== "string")) {
    throw new TypeError("protocols must be strings");
  }
  if (token != null && typeof token !== "string" && typeof token !== "function") {
    throw new TypeError("token must be a string or a function");
  }
  const string = (value) => (typeof value === "string" ? value : undefined);
  // A token function is asked through a function that answers as the core expects (see
  // `answerOf`).
  const tokenSource = typeof token === "function"
    ? async () => {
      const answer = await answerOf(() => token.call(null), "token");
      if (typeof answer !== "string") throw somethingElse("token");
      return answer;
    }
    : token ?? undefined;
  values.push(fixed, string(heartbeatPing), tokenSource, given.shouldReconnect ?? undefined, string(nick));
  return values;
}

/** What calling `call` returns, awaited; an exception or a rejection as the message the
 *  core reports (a string): "the `what` function failed: " and the error. */
async function answerOf(call, what) {
  try {
    return await call();
  } catch (error) {
    throw `the ${what} function failed: ${errorText(error)}`;
  }
}

/** A thrown value as the core's messages quote it: an Error as `name: message` (its
 *  message alone if it has no name), anything else as String() makes it. */
function errorText(error) {
  if (!(error instanceof Error)) return String(error);
  return error.name ? `${error.name}: ${error.message}` : error.message;
}

function somethingElse(what) {
  return `the ${what} function returned something other than a string`;
}

/** A protocols function's answer as the list the core takes: one string, or a list of
 *  strings. */
function protocolsAnswer(answer) {
  if (typeof answer === "string") return [answer];
  if (!Array.isArray(answer)) throw "the protocols function returned neither a string nor a list";
  const list = Array.from(answer);
  if (list.some((protocol) => typeof protocol !== "string")) throw "protocols must be strings";
  return list;
}

// One task per event, in order, across every object of this module: a MessageChannel's
// messages run as tasks in the order they were posted (setTimeout would clamp to 4 ms
// when nested).
const pending = [];
let channel = null;

function dispatchAsTask(target, event) {
  if (channel === null) {
    channel = new MessageChannel();
    channel.port1.onmessage = () => {
      const [to, what] = pending.shift();
      to.dispatchEvent(what);
    };
  }
  pending.push([target, event]);
  channel.port2.postMessage(null);
}

// Fields of Event itself (type, target, timeStamp...) are never shadowed by a core's field.
function copyFields(event, fields) {
  for (const [key, value] of Object.entries(fields)) {
    if (key === "type" || key in event) continue;
    Object.defineProperty(event, key, { value, enumerable: true });
  }
  return event;
}

function closeEvent(close) {
  return new CloseEvent("close", { code: close.code, reason: close.reason, wasClean: close.wasClean });
}

/**
 * Turns one of a core's connection events (`{type, ...}`) into the events to dispatch, and
 * tracks what the class needs to know. `state` is the class's private record:
 * `{ lastWasDisconnect, retryCount, opened }`.
 */
function connectionEvents(raw, state) {
  const previousWasDisconnect = state.lastWasDisconnect;
  state.lastWasDisconnect = raw.type === "disconnect";
  switch (raw.type) {
    case "open":
      state.retryCount = 0;
      state.opened = true;
      return [new Event("open")];
    case "reconnected":
      state.retryCount = 0;
      state.opened = true;
      return [new Event("open"), copyFields(new Event("reconnected"), raw)];
    case "disconnect": {
      const events = [];
      // As the browser's WebSocket does: an attempt that failed (or timed out) before it
      // opened is reported with an error first; a connection that was open, not.
      if (!state.opened) events.push(new Event("error"));
      state.opened = false;
      events.push(closeEvent(raw.close));
      return events;
    }
    case "reconnecting":
      state.retryCount = raw.attempt;
      return [copyFields(new Event("reconnecting"), raw)];
    case "close":
      // A close the policy does not reconnect after was already dispatched as the
      // disconnect just before; a close() is dispatched here.
      return previousWasDisconnect ? [] : [closeEvent(raw.close)];
    default:
      // "giveup", and any type a newer core reports.
      return [copyFields(new Event(raw.type), raw)];
  }
}

function readyStateOf(coreState, closing) {
  switch (coreState) {
    case "open":
      return closing ? STATES.CLOSING : STATES.OPEN;
    case "connecting":
    case "reconnecting":
      return closing ? STATES.CLOSING : STATES.CONNECTING;
    default:
      return STATES.CLOSED;
  }
}

function isFinal(raw) {
  return raw.type === "close" || raw.type === "giveup";
}

/** `ws:`/`wss:` form of `url` resolved against the page, as `new WebSocket(url).url`. */
function resolveUrl(url) {
  try {
    const resolved = new URL(url, globalThis.location?.href);
    if (resolved.protocol === "http:") resolved.protocol = "ws:";
    if (resolved.protocol === "https:") resolved.protocol = "wss:";
    return resolved.href;
  } catch {
    return String(url);
  }
}

/** `close()`'s and `reconnect()`'s arguments as the core takes them: the code a number
 *  (the core converts it as WebIDL's [Clamp] does), the reason a string, each left out
 *  when not given. */
function closeArgs(code, reason) {
  return [code === undefined ? undefined : +code, reason === undefined ? undefined : domString(reason)];
}

function requireMade(make, name) {
  if (make !== null) return;
  if (chatLeftOut && name === "ChatClient") {
    throw new Error("ChatClient: this module was built without it (cargo feature `js-chat`)");
  }
  throw new Error(`${name}: initialise the module first (await init())`);
}

/**
 * A WebSocket that reconnects with backoff, queues what is sent while offline and detects
 * dead connections, with the shape of the browser's `WebSocket` and of partysocket's
 * `ReconnectingWebSocket`: `new ReconnectingSocket(url, protocols?, options?)` or
 * `new ReconnectingSocket(url, options?)`.
 */
export class ReconnectingSocket extends EventTarget {
  #core = null;
  #url;
  #options;
  #currentUrl = "";
  #binaryType = "blob";
  #closing = false;
  #handlers = new HandlerSlots(this);
  #state = { lastWasDisconnect: false, retryCount: 0, opened: false };

  static {
    defineHandlerAttributes(ReconnectingSocket, HANDLER_TYPES, (socket) => socket.#handlers);
  }

  constructor(url, protocolsOrOptions, maybeOptions) {
    super();
    requireMade(makeReconnecting, "ReconnectingSocket");
    if (arguments.length === 0) throw new TypeError("ReconnectingSocket: a URL is required");
    let options;
    // partysocket's (url, protocols, options), or our (url, options).
    const second = protocolsOrOptions;
    if (typeof second === "string" || typeof second === "function" || Array.isArray(second)) {
      options = { ...(withAliases(maybeOptions) ?? {}), protocols: second };
    } else {
      options = withAliases(second ?? maybeOptions);
    }
    const protocols = options?.protocols;
    if (typeof url !== "function") {
      // As `new WebSocket(url)` does with a URL object.
      url = domString(url);
      this.#currentUrl = resolveUrl(url);
    }
    this.#url = url;
    if (typeof url === "function" || typeof protocols === "function") {
      // Asked by the core before every attempt: `[url, protocols]` (without protocols
      // when they are not a function: the core has them), or a rejection with the
      // message the core reports. The URL function's answer is what `url` reads.
      this.#url = async () => {
        let answer = url;
        if (typeof url === "function") {
          answer = await answerOf(() => url(), "URL");
          this.#currentUrl = resolveUrl(answer);
          if (typeof answer !== "string") throw somethingElse("URL");
        }
        if (typeof protocols !== "function") return [answer];
        return [answer, protocolsAnswer(await answerOf(() => protocols.call(null), "protocols"))];
      };
    }
    this.#options = options;
    const startClosed = Boolean((second ?? maybeOptions)?.startClosed ?? maybeOptions?.startClosed);
    if (!startClosed) this.#start();
  }

  #start() {
    this.#core = makeReconnecting(this.#url, coreOptions(this.#options));
    this.#attach();
  }

  // Listens to the core and has it hold this object until the connection ends for good.
  #attach() {
    const core = this.#core;
    this.#closing = false;
    this.#state = { lastWasDisconnect: false, retryCount: 0, opened: false };
    core.onevent = (raw) => {
      for (const event of connectionEvents(raw, this.#state)) dispatchAsTask(this, event);
      // Let go of the listeners (the core's references to this object): a closed socket
      // nobody refers to can then be collected.
      if (isFinal(raw)) {
        core.onevent = null;
        core.onmessage = null;
      }
    };
    core.onmessage = (raw) => {
      const data = this.#binaryType === "blob" && raw.data instanceof ArrayBuffer ? new Blob([raw.data]) : raw.data;
      dispatchAsTask(this, new MessageEvent("message", { data, origin: originOf(this.#currentUrl) }));
    };
    core.__holdUntilClosed(this);
  }

  /** Whether this environment has a `WebSocket` constructor at all. */
  static isSupported() {
    return typeof globalThis.WebSocket === "function";
  }

  /** The resolved `ws:`/`wss:` URL of the current (or last) attempt; `""` before the first
   *  attempt of a URL function. */
  get url() { return this.#currentUrl; }
  /** `CONNECTING` (0) while connecting or waiting to reconnect, `OPEN` (1), `CLOSING` (2)
   *  after `close()` until the close event, `CLOSED` (3) once closed for good or given up. */
  get readyState() {
    return this.#core ? readyStateOf(this.#core.state, this.#closing) : STATES.CLOSED;
  }
  /** `"connecting"`, `"open"`, `"reconnecting"`, `"closed"`, `"gave-up"` or
   *  `"auth-failed"`. */
  get state() { return this.#core ? this.#core.state : "closed"; }
  /** The subprotocol the server selected on the current connection, or `""`. */
  get protocol() { return this.#core ? this.#core.protocol : ""; }
  /** Always `""`: the extensions of the current connection are not reported. */
  get extensions() { return ""; }
  /** The current connection's `bufferedAmount` (what the offline queue holds is `queued`). */
  get bufferedAmount() { return this.#core ? this.#core.bufferedAmount : 0; }
  /** Messages waiting in the offline queue. */
  get queued() { return this.#core ? this.#core.queued : 0; }
  /** The attempt being made or waited for since the last connection opened (0 when open). */
  get retryCount() { return this.#state.retryCount; }
  /** What binary messages arrive as: `"blob"` (the default) or `"arraybuffer"`. */
  get binaryType() { return this.#binaryType; }
  set binaryType(value) {
    // Like the browser: any other value is ignored, without an exception.
    if (value === "blob" || value === "arraybuffer") this.#binaryType = value;
  }

  /**
   * Sends now, or queues while not open (in order, Blobs included); returns `"sent"`,
   * `"queued"`, `"queued-dropping-oldest"` or `"rejected"` (after close, or a full queue).
   */
  send(data) {
    if (!this.#core) return "rejected";
    return this.#core.send(data);
  }

  /** Resolves when the queue is empty and the browser has sent everything; rejects with
   *  `ClosedError` or `GaveUpError` if the socket is closed for good or gives up first. */
  flushed() {
    if (!this.#core) return Promise.reject(closedError());
    return this.#core.flushed();
  }

  /**
   * Closes for good: no more reconnects; queued messages are discarded. A close event
   * follows (unless the socket was already closed). `code` and `reason` are sent to the
   * server when the core supports them (else 1000).
   */
  close(code, reason) {
    if (!this.#core) return;
    const state = this.#core.state;
    if (state === "closed" || state === "gave-up") return;
    // Checks the code and reason (and throws) before anything changes: a refused close()
    // leaves the socket OPEN, as WebSocket's does.
    this.#core.close(...closeArgs(code, reason));
    this.#closing = true;
  }

  /**
   * Starts over now, as partysocket's `reconnect(code, reason)`: the current connection (if
   * any) is closed with `code` and `reason` (default 1000 "reconnect"; dispatched as a
   * close event), the attempt count starts again and a new attempt is made at once. After
   * `close()` or a give-up (or with `startClosed`) the socket comes back to life. What is
   * queued is kept. A code or reason `close()` would refuse throws the same error, and
   * changes nothing.
   */
  reconnect(code, reason) {
    if (!this.#core) return this.#start();
    const state = this.#core.state;
    // Checks the code and reason (and throws) before anything changes.
    this.#core.reconnect(...closeArgs(code, reason));
    this.#closing = false;
    if (state === "closed" || state === "gave-up" || state === "auth-failed") {
      // Stopped: the same core started again (a token function is asked anew); this
      // object listens to it again.
      this.#attach();
    }
  }

  /** Reconnects now if waiting between attempts (what a "retry now" button does). */
  retryNow() {
    if (this.#core) this.#core.retryNow();
  }
}

function originOf(url) {
  try {
    return new URL(url).origin;
  } catch {
    return "";
  }
}

function closedError() {
  const error = new Error("the socket is closed");
  error.name = "ClosedError";
  return error;
}

defineConstants(ReconnectingSocket);

/**
 * A `chat.v1` client with exactly-once delivery across reconnects, an EventTarget:
 * `new ChatClient(url, options)`. Its events: the connection's (`open`, `close`,
 * `error`, `reconnecting`, `reconnected`, `giveup`) and the chat's (`welcome`, `nick`,
 * `joined`, `left`, `presence`, `message`, `sent`, `failed`, `rooms`, `event`,
 * `chaterror`), each an Event with the fields of docs/PROTOCOL.md on it.
 */
export class ChatClient extends EventTarget {
  #core;
  #handlers = new HandlerSlots(this);
  #state = { lastWasDisconnect: false, retryCount: 0, opened: false };

  static {
    defineHandlerAttributes(ChatClient, ["open", "message", "close", "error"], (chat) => chat.#handlers);
  }

  constructor(url, options) {
    super();
    requireMade(makeChat, "ChatClient");
    if (arguments.length === 0) throw new TypeError("ChatClient: a URL is required");
    this.#core = makeChat(domString(url), coreOptions(withAliases(options)));
    this.#attach();
  }

  // Listens to the core and has it hold this object until the connection ends for good.
  #attach() {
    const core = this.#core;
    core.onevent = (raw) => {
      for (const event of chatEvents(raw, this.#state)) dispatchAsTask(this, event);
      // Let go of the listener (the core's reference to this object).
      if (isFinal(raw)) core.onevent = null;
    };
    core.__holdUntilClosed(this);
  }

  /** Joins `room`, and keeps it joined across reconnects. */
  join(room) { return this.#core.request(0, room); }
  /** Leaves `room`. */
  leave(room) { return this.#core.request(1, room); }
  /** Asks for `nick`, now and on every later connection. */
  setNick(nick) { return this.#core.request(2, nick); }
  /** Asks for the rooms; a `rooms` event follows. */
  listRooms() { return this.#core.request(3, ""); }
  /** Sends `text` to `room`; returns `{id, outcome}`; a `sent` or a `failed` event with
   *  the same `id` follows. */
  send(room, text) { return this.#core.send(room, text); }
  /** Sends the application event `event` with `data` (any JSON value) to `room`. */
  emit(room, event, data) {
    // The room and event converted first, as the core's arguments were before the data.
    room = domString(room);
    event = domString(event);
    // `undefined` sends `null`; data JSON.stringify refuses (a cycle, a BigInt) or cannot
    // write (a function) is a TypeError, and nothing is sent. The core refuses what the
    // server would (a lone surrogate, nesting over 125 deep) with the same wording.
    let text = "null";
    if (data !== undefined) {
      try {
        text = JSON.stringify(data);
      } catch (error) {
        throw notJson(errorText(error));
      }
      if (text === undefined) throw notJson("JSON.stringify cannot write it");
    }
    return this.#core.emit(room, event, text);
  }
  /** Reconnects now if waiting between attempts. */
  retryNow() { this.#core.retryNow(); }
  /** Starts over now: after an `authfailed` (the `token` function is asked anew) or a
   *  `giveup`, or while connected (closed with 1000 "reconnect"). A client closed with
   *  `close()` stays closed: its lines were failed. */
  reconnect() {
    const state = this.#core.state;
    if (state === "closed") return;
    this.#core.reconnect();
    if (state === "gave-up") this.#attach();
  }
  /** Closes for good: every line not yet acknowledged gets a `failed` event. */
  close() { this.#core.close(); }
  /** `"connecting"`, `"open"`, `"reconnecting"`, `"closed"`, `"gave-up"` or
   *  `"auth-failed"`. */
  get state() { return this.#core.state; }
  /** `CONNECTING`, `OPEN` or `CLOSED`, as `ReconnectingSocket.readyState`. */
  get readyState() { return readyStateOf(this.#core.state, false); }
  /** The nickname in force. */
  get nick() { return this.#core.nick; }
  /** Lines sent but neither acknowledged nor failed yet. */
  get unacknowledged() { return this.#core.unacknowledged; }
  /** The attempt being made or waited for since the last connection opened. */
  get retryCount() { return this.#state.retryCount; }
}

function notJson(why) {
  return new TypeError(`the event data is not JSON: ${why}`);
}

const CONNECTION_TYPES = new Set(["open", "reconnected", "disconnect", "reconnecting", "close", "giveup"]);

function chatEvents(raw, state) {
  if (CONNECTION_TYPES.has(raw.type)) return connectionEvents(raw, state);
  state.lastWasDisconnect = false;
  // The server's error message is not a connection error: its own type, so that an
  // `error` listener means the same on both classes.
  const type = raw.type === "error" ? "chaterror" : raw.type;
  return [copyFields(new Event(type), raw)];
}

defineConstants(ChatClient);

/** Called by the Rust cores (ReconnectingSocketCore.flushed): `[promise, settle]`, where
 *  `settle()` resolves the promise and `settle(error)` rejects it (smaller in wasm than
 *  turning a Rust future into a Promise). */
export function deferred() {
  let settle;
  const promise = new Promise((resolve, reject) => {
    settle = (error) => (error === undefined ? resolve() : reject(error));
  });
  return [promise, settle];
}

/** The classes, for Rust code that hands them to JavaScript. */
export function reconnectingSocketClass() {
  return ReconnectingSocket;
}
export function chatClientClass() {
  return ChatClient;
}
