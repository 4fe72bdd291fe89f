// FerroSocket: the browser WebSocket's shape and EventTarget behaviour over the Rust core
// (FerroSocketCore, crate-client/src/js/socket.rs). Shipped in the wasm-pack package as a
// wasm-bindgen snippet and re-exported from the package's main module.
//
// Why a JavaScript class: extending EventTarget gives addEventListener, `once`,
// handleEvent objects, event.target, in-order dispatch and exception reporting from the
// browser itself; and the core can keep this object alive while the connection can still
// deliver events (a wasm-bindgen struct's wrapper would be collected and its socket closed).

let makeCore = null;

/** Called once by the Rust module when it is instantiated (its start function). */
export function installSocketCore(make) {
  makeCore = make;
}

/** The class, for Rust code that hands it to JavaScript. */
export function ferroSocketClass() {
  return FerroSocket;
}

// Helpers for every class's Rust core (crate-client/src/js/convert.rs): smaller here than
// as Rust making the same calls through the glue one at a time.

/** Reports `error` as the browser reports an exception thrown in an event listener:
 *  through `reportError` (so `window.onerror` and error trackers see it), or to the console
 *  where there is no `reportError`. */
export function reportListenerError(error) {
  if (typeof globalThis.reportError === "function") globalThis.reportError(error);
  else console.error(error);
}

/** Whether `value` is a `className` (`"Blob"`...) of any realm: the `getter` of
 *  `className.prototype` accepts it (it checks the internal slots, not the prototype chain
 *  as `instanceof` does). */
export function hasBrand(value, className, getter) {
  if (value === null || typeof value !== "object") return false;
  try {
    Object.getOwnPropertyDescriptor(globalThis[className].prototype, getter).get.call(value);
    return true;
  } catch {
    return false;
  }
}

// Shared with resilient.js (ReconnectingSocket, ChatClient), which imports them.
export const STATES = { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 };
export const HANDLER_TYPES = ["open", "message", "error", "close"];
const addListener = EventTarget.prototype.addEventListener;
const removeListener = EventTarget.prototype.removeEventListener;

/** The handler attributes (onopen...) of an EventTarget, as the browser's WebSocket has. */
export class HandlerSlots {
  #target;
  // type -> { value, listener }: a handler keeps the position among listeners it had
  // when first set, as the browser's do.
  #slots = new Map();

  constructor(target) {
    this.#target = target;
  }

  get(type) {
    return this.#slots.get(type)?.value ?? null;
  }

  set(type, value) {
    // [LegacyTreatNonObjectAsNull]: anything but a function or an object means none.
    if (value === undefined || (typeof value !== "function" && typeof value !== "object")) {
      value = null;
    }
    const slot = this.#slots.get(type);
    if (value === null) {
      if (slot) {
        removeListener.call(this.#target, type, slot.listener);
        this.#slots.delete(type);
      }
      return;
    }
    if (slot) {
      slot.value = value;
      return;
    }
    const target = this.#target;
    const entry = { value, listener: null };
    // As WebIDL calls a handler: a function directly (not through its own `call`), an
    // object never (handleEvent is for listeners), and `return false` cancels the event.
    entry.listener = (event) => {
      if (typeof entry.value !== "function") return;
      if (Reflect.apply(entry.value, target, [event]) === false) event.preventDefault();
    };
    this.#slots.set(type, entry);
    addListener.call(target, type, entry.listener);
  }
}

/** Defines `Class`'s `on<type>` attributes (enumerable, as WebIDL makes them) over the
 *  HandlerSlots `slotsOf(object)` returns. */
export function defineHandlerAttributes(Class, types, slotsOf) {
  for (const type of types) {
    Object.defineProperty(Class.prototype, `on${type}`, {
      get() {
        return slotsOf(this).get(type);
      },
      set(value) {
        slotsOf(this).set(type, value);
      },
      enumerable: true,
      configurable: true,
    });
  }
}

/** Defines CONNECTING, OPEN, CLOSING and CLOSED on `Class` and its prototype. */
export function defineConstants(Class) {
  for (const [name, value] of Object.entries(STATES)) {
    const constant = { value, enumerable: true };
    Object.defineProperty(Class, name, constant);
    Object.defineProperty(Class.prototype, name, constant);
  }
}

export class FerroSocket extends EventTarget {
  #core;
  #url;
  #origin;
  // Event handler attributes (onopen...).
  #handlers = new HandlerSlots(this);

  static {
    defineHandlerAttributes(FerroSocket, HANDLER_TYPES, (socket) => socket.#handlers);
  }

  /**
   * Opens a socket to `url` (`ws:`, `wss:`, `http:`, `https:` or a path relative to the
   * page), offering `protocols` (a string or a list of strings) if given.
   */
  // `protocols = undefined` so that FerroSocket.length is 1, as WebSocket.length is.
  constructor(url, protocols = undefined) {
    super();
    if (makeCore === null) {
      throw new Error("FerroSocket: initialise the module first (await init())");
    }
    if (arguments.length === 0) throw new TypeError("FerroSocket: a URL is required");
    // The core calls this for every browser event, inside the browser's event task, and
    // holds it (and so this object) until the close event.
    this.#core = makeCore(domString(url), protocolList(protocols), (event) => this.#forward(event));
    this.#url = this.#core.url;
    this.#origin = new URL(this.#url).origin;
  }

  /** Whether this environment has a `WebSocket` constructor at all. */
  static isSupported() {
    return typeof globalThis.WebSocket === "function";
  }

  #forward(event) {
    let copy;
    switch (event.type) {
      case "message":
        // A WebSocket message's origin is its URL's, and its lastEventId always "":
        // reading them from every browser event cost a third of this forwarding.
        copy = new MessageEvent("message", { data: event.data, origin: this.#origin });
        break;
      case "close":
        copy = new CloseEvent("close", {
          code: event.code,
          reason: event.reason,
          wasClean: event.wasClean,
        });
        break;
      default:
        copy = new Event(event.type);
    }
    // dispatchEvent reports a listener's exception (reportError) and goes on with the
    // next listener, exactly as for the browser's own events.
    this.dispatchEvent(copy);
  }

  /** The resolved `ws:`/`wss:` URL. */
  get url() { return this.#url; }
  /** `0` connecting, `1` open, `2` closing, `3` closed. */
  get readyState() { return this.#core ? this.#core.readyState : STATES.CLOSED; }
  /** Bytes queued by `send` that the browser has not yet sent. */
  get bufferedAmount() { return this.#core ? this.#core.bufferedAmount : 0; }
  /** The subprotocol the server selected, or `""`. */
  get protocol() { return this.#core ? this.#core.protocol : ""; }
  /** The extensions the server selected, or `""`. */
  get extensions() { return this.#core ? this.#core.extensions : ""; }
  /** What binary messages arrive as: `"blob"` (the default) or `"arraybuffer"`. */
  get binaryType() { return this.#core ? this.#core.binaryType : "blob"; }
  set binaryType(value) {
    // Like the browser: any other value is ignored, without an exception.
    if (this.#core) this.#core.binaryType = domString(value);
  }

  /**
   * Sends a string (as text) or an `ArrayBuffer`, typed array, `DataView` or `Blob` (as
   * binary). Throws `NotOpenError` unless the socket is open.
   */
  send(data) {
    if (!this.#core) throw freed();
    this.#core.send(data);
  }

  /**
   * Closes the connection. Without a code none is sent (the peer sees 1005); a code must
   * be 1000 or 3000–4999 (else `InvalidCloseCodeError`) and a reason at most 123 UTF-8
   * bytes (else `InvalidCloseReasonError`).
   */
  // Defaults so that close.length is 0, as WebSocket's is.
  close(code = undefined, reason = undefined) {
    if (!this.#core) return;
    this.#core.close(code === undefined ? undefined : +code, reason === undefined ? undefined : domString(reason));
  }

  /**
   * Closes the connection (if connecting or open) and releases it now, without waiting
   * for garbage collection. No event follows; afterwards the socket reads as closed.
   */
  free() {
    const core = this.#core;
    this.#core = null;
    if (core) core.free();
  }
}

/**
 * The protocols argument converted as the browser converts it (WebIDL's
 * `(DOMString or sequence<DOMString>)`), as the list of strings the core takes: an
 * iterable object (an array, a Set) is a list of `String(item)`s, anything else given is
 * one `String(value)` (`null` is "null"), none given is none.
 */
function protocolList(protocols) {
  if (protocols === undefined) return [];
  if (protocols !== null && typeof protocols === "object" && typeof protocols[Symbol.iterator] === "function") {
    return Array.from(protocols, (item) => domString(item));
  }
  return [domString(protocols)];
}

/**
 * `value` converted to a string as WebIDL's DOMString is: like `String(value)`, except that
 * a Symbol throws a TypeError rather than becoming "Symbol(...)".
 */
export function domString(value) {
  return `${value}`;
}

function freed() {
  const error = new Error("send() on a socket that was freed");
  error.name = "NotOpenError";
  return error;
}

defineConstants(FerroSocket);
// WebSocket's own members are enumerable on its prototype (a for-in loop lists them), as
// WebIDL makes every attribute and operation; class syntax makes them non-enumerable (the
// handler attributes are defined enumerable). `free` is ours, and stays out of such loops.
for (const name of [
  "url", "readyState", "bufferedAmount", "protocol", "extensions", "binaryType", "send", "close",
]) {
  const descriptor = Object.getOwnPropertyDescriptor(FerroSocket.prototype, name);
  Object.defineProperty(FerroSocket.prototype, name, { ...descriptor, enumerable: true });
}
// Object.prototype.toString.call(socket) is "[object FerroSocket]", as a WebSocket's is
// "[object WebSocket]" (else EventTarget's tag would show).
Object.defineProperty(FerroSocket.prototype, Symbol.toStringTag, { value: "FerroSocket", configurable: true });
