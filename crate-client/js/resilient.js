// ReconnectingSocket and ChatClient as JavaScript users construct them: each makes its Rust
// core (ReconnectingSocketCore, ChatClientCore in crate-client/src/js/{reconnecting,chat}.rs) and asks
// the core to hold it until the connection is closed for good or gives up. A wasm-bindgen
// object alone would be collected, and its connection closed, as soon as the page dropped
// its last reference, even with handlers set; the browser's WebSocket is not.
//
// Shipped in the wasm-pack package as a wasm-bindgen snippet and re-exported from the
// package's main module.

let makeReconnecting = null;
let makeChat = null;

/** Called once by the Rust module when it is instantiated (its start function). */
export function installResilientCores(reconnecting, chat) {
  makeReconnecting = reconnecting;
  makeChat = chat;
}

// The cores' classes, learnt from the first instance of each: `instanceof` answers for
// them, since that is what the constructors return.
const coreClasses = new Map();

function made(make, url, options) {
  if (make === null) throw new Error("initialise the module first (await init())");
  // A URL function (called before every attempt) is passed as it is; anything else is
  // made a string, as `new WebSocket(url)` does with a URL object.
  const core = make(typeof url === "function" ? url : String(url), options);
  coreClasses.set(make, Object.getPrototypeOf(core).constructor);
  core.__holdUntilClosed(core);
  return core;
}

function isInstance(value, make) {
  const core = coreClasses.get(make);
  return core !== undefined && value instanceof core;
}

/**
 * A WebSocket that reconnects with backoff, queues while offline and detects dead
 * connections: `new ReconnectingSocket(url, options)` returns its `ReconnectingSocketCore`.
 */
export class ReconnectingSocket {
  constructor(url, options) {
    return made(makeReconnecting, url, options);
  }

  static [Symbol.hasInstance](value) {
    return isInstance(value, makeReconnecting);
  }
}

/**
 * A `chat.v1` client with exactly-once delivery across reconnects:
 * `new ChatClient(url, options)` returns its `ChatClientCore`.
 */
export class ChatClient {
  constructor(url, options) {
    return made(makeChat, url, options);
  }

  static [Symbol.hasInstance](value) {
    return isInstance(value, makeChat);
  }
}

/** The classes, for Rust code that hands them to JavaScript. */
export function reconnectingSocketClass() {
  return ReconnectingSocket;
}
export function chatClientClass() {
  return ChatClient;
}
