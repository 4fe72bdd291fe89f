// The differential test's scenarios: one script, run against the browser's WebSocket and
// against FerroSocket in the same page, recording a trace of what a user's code would see
// (events and their order, readyState at each step, close codes, data types and bytes,
// bufferedAmount, errors, garbage collection). `compareTraces` then accepts only the
// differences listed in differences.js (passed in: a wasm-bindgen snippet cannot import
// its neighbours).


const TIMEOUT_MS = 10000;

// The members WebSocket.prototype defines itself.
const WEBSOCKET_MEMBERS = [
  "url", "readyState", "bufferedAmount", "onopen", "onerror", "onclose", "extensions", "protocol",
  "onmessage", "binaryType", "CONNECTING", "OPEN", "CLOSING", "CLOSED", "close", "send",
];

// What send() is given that is not data (differences.js lists each).
const MISUSED_DATA = [
  ["object", {}],
  ["number", 42],
  ["null", null],
  ["undefined", undefined],
  ["boolean", true],
  ["String object", new String("boxed")],
];

// Close codes every browser refuses (differences.js lists their error names).
const MISUSED_CODES = [1006, 999, 5000, 2000, 66536, 70000, -1, NaN, null, 2999.4];

function withTimeout(promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// The next event of `type`, through addEventListener with `once`.
function next(socket, type) {
  return withTimeout(new Promise((resolve) => socket.addEventListener(type, resolve, { once: true })), type);
}

const macrotask = () => new Promise((resolve) => setTimeout(resolve, 0));

function errorName(fn) {
  try {
    fn();
    return null;
  } catch (error) {
    return error.name;
  }
}

async function bytesOf(data) {
  if (typeof data === "string") return `text:${data}`;
  const buffer = data instanceof Blob ? await data.arrayBuffer() : data;
  return `bytes:${[...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}

const kind = (value) => Object.prototype.toString.call(value);

// A small seeded PRNG, so that both sockets run the same random schedule.
function mulberry32(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// `length` pieces: ASCII, two-, three- and four-byte UTF-8, NUL and lone surrogates.
function randomText(random, length) {
  const pieces = ["a", "Z", " ", "\0", "é", "✓", "€", "😀", "\uD800", "\uDFFF"];
  let text = "";
  for (let i = 0; i < length; i++) text += pieces[Math.floor(random() * pieces.length)];
  return text;
}

// Bytes as a buffer or a view of any kind, at an offset into a larger buffer.
function randomView(random, pick) {
  const bytes = Array.from({ length: Math.floor(random() * 40) }, () => Math.floor(random() * 256));
  const before = pick([0, 3, 8]);
  const backing = new Uint8Array(before + bytes.length + 8);
  backing.set(bytes, before);
  const length = bytes.length;
  switch (pick(["buffer", "uint8", "dataview", "int16", "float64"])) {
    case "buffer":
      return backing.slice(before, before + length).buffer;
    case "uint8":
      return new Uint8Array(backing.buffer, before, length);
    case "dataview":
      return new DataView(backing.buffer, before, length);
    case "int16":
      return new Int16Array(backing.slice(before, before + length - (length % 2)).buffer);
    default:
      return new Float64Array(backing.slice(before, before + length - (length % 8)).buffer);
  }
}

// Which kind of error `fn` throws, by what it means (the names differ on purpose, see
// differences.js): "code", "reason", "state", "type", another name, or null.
function errorClass(fn) {
  const name = errorName(fn);
  const classes = {
    InvalidAccessError: "code",
    InvalidCloseCodeError: "code",
    SyntaxError: "reason",
    InvalidCloseReasonError: "reason",
    InvalidStateError: "state",
    NotOpenError: "state",
  };
  return name === null ? null : (classes[name] ?? name);
}

async function openSocket(Socket, url, protocols) {
  const socket = protocols === undefined ? new Socket(url) : new Socket(url, protocols);
  await next(socket, "open");
  return socket;
}

// Collects `count` messages (their kind, and bytes once all have arrived).
async function receive(socket, count) {
  const received = [];
  await withTimeout(
    new Promise((resolve) => {
      const listener = (event) => {
        received.push(event.data);
        if (received.length === count) {
          socket.removeEventListener("message", listener);
          resolve();
        }
      };
      socket.addEventListener("message", listener);
    }),
    `${count} messages`,
  );
  return Promise.all(received.map(async (data) => `${kind(data)} ${await bytesOf(data)}`));
}

async function closeEvent(socket, ...args) {
  const closed = next(socket, "close");
  socket.close(...args);
  const state = socket.readyState;
  const event = await closed;
  return { stateAfterClose: state, code: event.code, reason: event.reason, wasClean: event.wasClean, final: socket.readyState };
}

const scenarios = {
  // The object itself: constants, defaults, handler properties.
  async shape(Socket, url, record) {
    const socket = new Socket(url);
    record("shape.instance-constants", [socket.CONNECTING, socket.OPEN, socket.CLOSING, socket.CLOSED]);
    record("shape.class-constants", [Socket.CONNECTING, Socket.OPEN, Socket.CLOSING, Socket.CLOSED]);
    record("shape.is-event-target", socket instanceof EventTarget);
    record("shape.initial", {
      readyState: socket.readyState,
      protocol: socket.protocol,
      extensions: socket.extensions,
      bufferedAmount: socket.bufferedAmount,
      binaryType: socket.binaryType,
      handlers: [socket.onopen, socket.onmessage, socket.onerror, socket.onclose],
    });
    record("shape.url", socket.url === url);
    socket.binaryType = "arraybuffer";
    record("shape.binaryType-set", socket.binaryType);
    socket.binaryType = "bogus";
    record("shape.binaryType-invalid-ignored", socket.binaryType);
    const handler = () => {};
    socket.onmessage = handler;
    record("shape.handler-readable", socket.onmessage === handler);
    socket.onmessage = "not a function";
    record("shape.handler-non-object", socket.onmessage);
    const object = { handleEvent() {} };
    socket.onmessage = object;
    record("shape.handler-object", socket.onmessage === object);
    socket.onmessage = null;
    record("shape.handler-removed", socket.onmessage);
    record("shape.enumerable", ["onopen", "binaryType", "OPEN"].map((name) => name in socket));
    // Closing while connecting fails the connection.
    const events = [];
    socket.addEventListener("error", () => events.push("error"));
    const closed = await closeEvent(socket);
    record("shape.close-while-connecting", { ...closed, events });
  },

  // Event order, listeners of every kind, event.target and `this`, close() in a handler.
  async events(Socket, url, record) {
    const socket = new Socket(url, ["unknown.v9", "echo.v1"]);
    const calls = [];
    const note = (name) =>
      function (event) {
        calls.push(`${name}:${event.type}:${event.target === socket}:${this === socket}:${socket.readyState}`);
      };
    socket.onopen = note("onopen");
    socket.addEventListener("open", note("listener"));
    socket.addEventListener("open", { handleEvent: (event) => calls.push(`handleEvent:${event.type}:${event.target === socket}`) });
    const removed = note("removed");
    socket.addEventListener("open", removed);
    socket.removeEventListener("open", removed);
    socket.addEventListener("message", note("once"), { once: true });
    socket.addEventListener("message", (event) => record("events.isTrusted", event.isTrusted), { once: true });
    const messages = [];
    socket.onmessage = (event) => {
      messages.push(event.data);
      calls.push(`onmessage:${event.data}:${typeof event.origin}:${event.origin === new URL(url).origin}`);
      if (messages.length === 2) {
        socket.close();
        calls.push(`after-close():${socket.readyState}`);
      }
    };
    socket.addEventListener("open", () => {
      socket.send("one");
      socket.send("two");
    });
    const closed = new Promise((resolve) => {
      socket.onclose = (event) => {
        calls.push(`onclose:${event.code}:${event.reason}:${event.wasClean}:${socket.readyState}`);
        resolve();
      };
    });
    await withTimeout(closed, "close");
    await macrotask();
    record("events.calls", calls);
    record("events.protocol", socket.protocol);
  },

  // Handler properties keep their place among listeners; synthetic events reach them.
  async handlerOrder(Socket, url, record) {
    const socket = new Socket(url);
    const order = [];
    socket.onopen = () => order.push("attr1");
    socket.addEventListener("open", () => order.push("listener"));
    socket.onopen = () => order.push("attr2");
    socket.dispatchEvent(new Event("open"));
    socket.onopen = null;
    socket.onopen = () => order.push("attr3");
    socket.dispatchEvent(new Event("open"));
    order.push(`returns:${socket.dispatchEvent(new Event("custom", { cancelable: true }))}`);
    record("handlerOrder", order);
    await closeEvent(socket);
  },

  // When a microtask queued by one listener runs: before the next listener (each native
  // listener call ends with a microtask checkpoint), or after all of them.
  async microtasks(Socket, url, record) {
    const socket = new Socket(url);
    const order = [];
    socket.addEventListener("open", () => {
      order.push("first");
      queueMicrotask(() => order.push("microtask"));
    });
    socket.addEventListener("open", () => order.push("second"));
    await next(socket, "open");
    await macrotask();
    record("events.microtasks", order);
    await closeEvent(socket);
  },

  // An event raised inside a handler: close() from onopen.
  async closeInOpen(Socket, url, record) {
    const socket = new Socket(url);
    const events = [];
    socket.onopen = () => {
      events.push(`open:${socket.readyState}`);
      socket.close(4001, "from onopen");
      events.push(`closed-called:${socket.readyState}`);
    };
    socket.onerror = () => events.push("error");
    const closed = new Promise((resolve) => {
      socket.onclose = (event) => {
        events.push(`close:${event.code}:${event.reason}:${event.wasClean}`);
        resolve();
      };
    });
    await withTimeout(closed, "close");
    await macrotask();
    record("closeInOpen.events", events);
  },

  // Every kind of data, with both binary types.
  async data(Socket, url, record) {
    for (const binaryType of ["blob", "arraybuffer"]) {
      const socket = await openSocket(Socket, url);
      socket.binaryType = binaryType;
      const backing = new Uint16Array([0x0102, 0x0304, 0x0506, 0x0708]);
      const sent = [
        "text é ✓",
        "",
        new Uint8Array([0, 1, 2, 255]).buffer,
        new ArrayBuffer(0),
        new Uint8Array([9, 8, 7]),
        backing.subarray(1, 3),
        new DataView(new Uint8Array([1, 2, 3, 4, 5]).buffer, 1, 3),
        new Blob(["blob ✓"]),
        new Blob([]),
        "last",
      ];
      const received = receive(socket, sent.length);
      for (const data of sent) socket.send(data);
      record(`data.${binaryType}`, await received);
      record(`data.${binaryType}.close`, await closeEvent(socket, 4000, "done"));
    }
  },

  // bufferedAmount grows on send and drains to 0.
  async buffered(Socket, url, record) {
    const socket = await openSocket(Socket, url);
    socket.binaryType = "arraybuffer";
    const before = socket.bufferedAmount;
    const chunk = new Uint8Array(256 * 1024);
    const received = receive(socket, 4);
    for (let i = 0; i < 4; i++) socket.send(chunk);
    const after = socket.bufferedAmount;
    record("buffered.send", { before, grew: after > before, atMostSent: after <= 4 * chunk.length });
    await received;
    record("buffered.drained", socket.bufferedAmount);
    record("buffered.close", await closeEvent(socket));
  },

  // What the browser throws on or ignores.
  async misuse(Socket, url, record) {
    const early = new Socket(url);
    record("misuse.send-before-open", errorName(() => early.send("too early")));
    await next(early, "open");
    const socket = early;
    // Out of range after WebIDL's [Clamp] conversion (70000 is 65535, not 4464; null and
    // NaN are 0). Fractions are in convertedCodes: browsers disagree on them.
    for (const code of MISUSED_CODES) {
      record(`misuse.close(${code})`, errorName(() => socket.close(code)));
    }
    record("misuse.close(4000, 124 bytes)", errorName(() => socket.close(4000, "x".repeat(124))));
    record("misuse.still-open", socket.readyState);
    socket.binaryType = "arraybuffer";
    // What is not data: the browser sends String(value); we throw (differences.js).
    for (const [what, value] of MISUSED_DATA) {
      const threw = errorName(() => socket.send(value));
      // The echo can only arrive in a later task, so listening after send() loses nothing.
      const [echo] = threw === null ? await receive(socket, 1) : [null];
      record(`misuse.send-${what}`, { threw, echo });
    }
    record("misuse.close-no-code", await closeEvent(socket));
    const before = socket.bufferedAmount;
    const late = errorName(() => socket.send("too late"));
    record("misuse.send-after-close", { threw: late, bufferedAmountGrew: socket.bufferedAmount > before });
    record("misuse.close-again", errorName(() => socket.close()));
  },

  // A code that is not an integer: rounded to the nearest, ties to even, as WebIDL's
  // [Clamp] says and Firefox does (Chromium truncates: differences.js); a string is read
  // as a number.
  async convertedCodes(Socket, url, record) {
    for (const code of [4001.5, 4002.5, "4003"]) {
      const socket = await openSocket(Socket, url);
      record(`convertedCodes.close(${JSON.stringify(code)})`, await closeEvent(socket, code, "converted"));
    }
  },

  // Bad URLs and protocols.
  async urls(Socket, url, record) {
    const attempt = (step, make) => {
      try {
        const socket = make();
        socket.close();
        record(step, "ok");
      } catch (error) {
        record(step, error.name);
      }
    };
    for (const bad of ["ftp://127.0.0.1/", "ws://[bad/", "ws://"]) attempt(`url.${bad}`, () => new Socket(bad));
    attempt("url.fragment", () => new Socket(`${url}#fragment`));
    attempt("url.empty fragment", () => new Socket(`${url}#`));
    attempt("url.http", () => new Socket(url.replace(/^ws/, "http")));
    attempt("url.protocol with a space", () => new Socket(url, ["a b"]));
    attempt("url.protocol twice", () => new Socket(url, ["x", "x"]));
    attempt("url.protocol string", () => new Socket(url, "echo.v1"));
    // Converted as WebIDL's (DOMString or sequence<DOMString>): any iterable is a list,
    // items and other values become strings.
    attempt("url.protocol Set", () => new Socket(url, new Set(["echo.v1", "x"])));
    attempt("url.protocol numbers", () => new Socket(url, [1, 2]));
    attempt("url.protocol null", () => new Socket(url, null));
    attempt("url.protocol object", () => new Socket(url, {}));
  },

  // A handler's exception goes to the page's error reporting, and later listeners still run.
  async exceptions(Socket, url, record) {
    const reported = [];
    const onError = (event) => {
      if (event.error?.message?.startsWith("boom")) {
        reported.push(event.error.message);
        event.preventDefault();
      }
    };
    globalThis.addEventListener("error", onError);
    try {
      const socket = new Socket(url);
      socket.onopen = () => {
        throw new Error("boom from onopen");
      };
      socket.addEventListener("open", () => {
        throw new Error("boom from a listener");
      });
      const last = withTimeout(new Promise((resolve) => socket.addEventListener("open", resolve)), "open");
      await last;
      await macrotask();
      record("exceptions.reported", reported);
      await closeEvent(socket);
    } finally {
      globalThis.removeEventListener("error", onError);
    }
  },

  // The class as code inspects it: arity, brand, enumerable members and their
  // descriptors, `new`-less calls, subclasses.
  async identity(Socket, url, record) {
    record("identity.length", [Socket.length, Socket.prototype.send.length, Socket.prototype.close.length]);
    const socket = new Socket(url);
    record("identity.toStringTag", [kind(socket), kind(Socket.prototype)].map((tag) => tag === `[object ${Socket.name}]`));
    record("identity.own-keys", Reflect.ownKeys(socket).map(String));
    // Members of the socket's own prototypes a for-in loop lists (EventTarget's vary by
    // browser: Chromium's has `when`).
    const listed = [];
    for (const name in socket) if (!(name in EventTarget.prototype)) listed.push(name);
    record("identity.enumerable", listed.sort());
    const descriptors = {};
    for (const name of [...WEBSOCKET_MEMBERS].sort()) {
      const d = Object.getOwnPropertyDescriptor(Socket.prototype, name);
      descriptors[name] = d && [!!d.get, !!d.set, typeof d.value, d.enumerable, d.configurable, d.writable ?? null];
    }
    record("identity.descriptors", descriptors);
    const state = Object.getOwnPropertyDescriptor(Socket, "OPEN");
    record("identity.static-constant", [state.enumerable, state.configurable, state.writable]);
    record("identity.without-new", errorName(() => Socket(url)));
    record("identity.no-arguments", errorName(() => new Socket()));
    record(
      "identity.wrong-this",
      ["url", "readyState", "binaryType"].map((name) => errorName(() => Object.getOwnPropertyDescriptor(Socket.prototype, name).get.call({}))),
    );
    class Derived extends Socket {
      greet() {
        return `hello ${this.readyState}`;
      }
    }
    const derived = await openSocket(Derived, url);
    record("identity.subclass", [derived instanceof Derived, derived instanceof Socket, derived.greet()]);
    record("identity.subclass-close", await closeEvent(derived, 4000, "derived"));
    await closeEvent(socket);
  },

  // Handler attributes as WebIDL calls them: `return false` cancels the event, an object
  // (even with handleEvent) is stored but never called, a function is called directly.
  async handlerCalls(Socket, url, record) {
    const socket = new Socket(url);
    const calls = [];
    const onError = (event) => {
      calls.push(`reported:${event.error?.name}`);
      event.preventDefault();
    };
    globalThis.addEventListener("error", onError);
    try {
      socket.onopen = () => false;
      calls.push(`false:${socket.dispatchEvent(new Event("open", { cancelable: true }))}`);
      socket.onopen = () => 0;
      calls.push(`zero:${socket.dispatchEvent(new Event("open", { cancelable: true }))}`);
      socket.onopen = { handleEvent: () => calls.push("handleEvent") };
      calls.push(`object:${socket.dispatchEvent(new Event("open"))}`);
      const direct = () => calls.push("direct");
      direct.call = () => calls.push("own call");
      socket.onopen = direct;
      socket.dispatchEvent(new Event("open"));
      socket.onopen = null;
    } finally {
      globalThis.removeEventListener("error", onError);
    }
    record("handlerCalls", calls);
    await closeEvent(socket);
  },

  // The URL as the browser parses and serialises it.
  async urlForms(Socket, url, record) {
    const host = new URL(url).host;
    const forms = {
      "URL object": new URL(url),
      relative: "/echo",
      "upper-case scheme": url.replace(/^ws/, "WS"),
      whitespace: `  ${url}\n`,
      "ws default port": "ws://127.0.0.1:80/echo",
      "http default port": "http://127.0.0.1:80/echo",
      "https default port": "https://127.0.0.1:443/echo",
      credentials: `ws://user:pass@${host}/echo`,
      "no path": `ws://${host}`,
      ipv6: "ws://[::1]:1/echo",
      "empty query": `${url}?`,
      "dot segments": "ws://LOCALHOST:1/x/../y",
      "lone surrogate": `${url}/\uD800`,
      "protocol-relative": `//${host}/echo`,
      undefined,
    };
    for (const [what, form] of Object.entries(forms)) {
      try {
        const socket = new Socket(form);
        record(`urlForms.${what}`, socket.url);
        socket.close();
      } catch (error) {
        record(`urlForms.${what}`, error.name);
      }
    }
    const protocols = {
      "empty list": [],
      "differing case": ["X", "x"],
      long: "p".repeat(5000),
      "String object": new String("ab"),
    };
    for (const [what, list] of Object.entries(protocols)) {
      try {
        new Socket(url, list).close();
        record(`urlForms.protocols ${what}`, "ok");
      } catch (error) {
        record(`urlForms.protocols ${what}`, error.name);
      }
    }
    record("urlForms.symbol", errorName(() => new Socket(Symbol("url"))));
    record("urlForms.symbol protocol", errorName(() => new Socket(url, [Symbol("p")])));
  },

  // Values converted as WebIDL converts them: lone surrogates, symbols, detached buffers.
  async conversions(Socket, url, record) {
    const socket = await openSocket(Socket, url);
    socket.binaryType = "arraybuffer";
    record("conversions.send no arguments", errorName(() => socket.send()));
    record("conversions.binaryType symbol", errorName(() => (socket.binaryType = Symbol("t"))));
    const received = receive(socket, 7);
    socket.send("a\uD800b");
    const before = socket.bufferedAmount;
    socket.send("é".repeat(100));
    record("conversions.bufferedAmount counts UTF-8", socket.bufferedAmount - before);
    const detached = new ArrayBuffer(8);
    structuredClone(detached, { transfer: [detached] });
    record("conversions.send detached buffer", errorName(() => socket.send(detached)));
    const backing = new ArrayBuffer(8);
    const view = new Uint8Array(backing, 2, 4);
    structuredClone(backing, { transfer: [backing] });
    record("conversions.send detached view", errorName(() => socket.send(view)));
    // Data made in another realm (an iframe) is data too.
    const frame = document.createElement("iframe");
    document.body.append(frame);
    const other = frame.contentWindow;
    record(
      "conversions.send from another realm",
      [new other.Uint8Array([1, 2]).buffer, new other.Uint8Array([3, 4]), new other.Blob(["xy"])].map((data) =>
        errorName(() => socket.send(data)),
      ),
    );
    frame.remove();
    // The browser refuses resizable buffers and views of them.
    record("conversions.send resizable", [
      errorName(() => socket.send(new ArrayBuffer(2, { maxByteLength: 16 }))),
      errorName(() => socket.send(new Uint8Array(new ArrayBuffer(2, { maxByteLength: 16 }), 1))),
    ]);
    record("conversions.received", await received);
    record("conversions.still usable", socket.readyState);
    record("conversions.close symbol reason", errorName(() => socket.close(4000, Symbol("r"))));
    record("conversions.close bigint", errorName(() => socket.close(4000n)));
    record("conversions.close(999, 124 bytes)", errorName(() => socket.close(999, "x".repeat(124))));
    record("conversions.close(4000, 42 lone surrogates)", errorName(() => socket.close(4000, "\uD800".repeat(42))));
    const closed = await closeEvent(socket, 4000, "\uD800".repeat(41));
    record("conversions.close 41 lone surrogates", { ...closed, reason: closed.reason === "\uFFFD".repeat(41) });
  },

  // What the events carry, beyond type and data.
  async eventFields(Socket, url, record) {
    const socket = await openSocket(Socket, url);
    const fields = (event) => ({
      kind: kind(event),
      bubbles: event.bubbles,
      cancelable: event.cancelable,
      composed: event.composed,
      phase: event.eventPhase,
      currentTarget: event.currentTarget === socket,
      defaultPrevented: event.defaultPrevented,
    });
    const message = new Promise((resolve) =>
      socket.addEventListener(
        "message",
        (event) =>
          resolve({
            ...fields(event),
            lastEventId: event.lastEventId,
            source: event.source,
            ports: [Array.isArray(event.ports), event.ports.length, Object.isFrozen(event.ports)],
          }),
        { once: true },
      ),
    );
    socket.send("fields");
    record("eventFields.message", await withTimeout(message, "message"));
    // binaryType switched inside a handler applies to the next message.
    const kinds = [];
    const both = withTimeout(
      new Promise((resolve) => {
        socket.onmessage = (event) => {
          kinds.push(kind(event.data));
          socket.binaryType = "arraybuffer";
          if (kinds.length === 2) resolve();
        };
      }),
      "two messages",
    );
    socket.send(new Uint8Array([1]));
    socket.send(new Uint8Array([2]));
    await both;
    record("eventFields.binaryType switched", kinds);
    // A listener added with an aborted signal never runs; one aborted later stops.
    const controller = new AbortController();
    const signalled = [];
    socket.addEventListener("close", () => signalled.push("aborted listener"), { signal: controller.signal });
    controller.abort();
    const close = new Promise((resolve) => socket.addEventListener("close", (event) => resolve(fields(event)), { once: true }));
    socket.close();
    record("eventFields.close", await withTimeout(close, "close"));
    record("eventFields.signal", signalled);
    // A connection that fails: error (already CLOSED) then close 1006.
    const failed = new Socket("ws://127.0.0.1:1/");
    const events = [];
    failed.onerror = (event) => events.push(`error:${kind(event)}:${failed.readyState}`);
    await withTimeout(
      new Promise((resolve) => {
        failed.onclose = (event) => {
          events.push(`close:${event.code}:${event.wasClean}:${event.reason}`);
          resolve();
        };
      }),
      "the failed connection's close",
    );
    record("eventFields.failed connection", events);
  },

  // An open socket with handlers and no reference from the page survives garbage
  // collection, and is released once closed. GC is forced only where the page has gc()
  // (Chromium with --js-flags=--expose-gc).
  async gc(Socket, url, record) {
    const collect = async () => {
      for (let i = 0; i < 3; i++) {
        await macrotask();
        globalThis.gc?.();
      }
      await macrotask();
    };
    const received = [];
    let ref;
    let opened;
    (() => {
      const socket = new Socket(url);
      socket.binaryType = "arraybuffer";
      socket.onmessage = (event) => received.push(event.data);
      opened = new Promise((resolve) => socket.addEventListener("open", () => resolve(), { once: true }));
      ref = new WeakRef(socket);
    })();
    await withTimeout(opened, "open");
    await collect();
    record("gc.forced", typeof globalThis.gc === "function");
    record("gc.alive-while-open", ref.deref() !== undefined);
    if (ref.deref() === undefined) return;
    // Only through the weak reference from here on, so that nothing here keeps it alive.
    ref.deref().send("after gc");
    const closed = withTimeout(
      new Promise((resolve) => ref.deref().addEventListener("close", (event) => resolve(event.code), { once: true })),
      "close",
    );
    await withTimeout(
      (async () => {
        while (received.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
      })(),
      "the echo after gc",
    );
    record("gc.message-after-gc", received.map((data) => kind(data)));
    ref.deref().close(4002);
    record("gc.close", await closed);
    // Drop every reference this function holds, then collect.
    await macrotask();
    await collect();
    record("gc.released-after-close", typeof globalThis.gc === "function" ? ref.deref() === undefined : "not forced");
  },

  // A socket with no listeners and no reference from the page: the browser keeps it
  // while it is open (as it may still be sent on and closed through a WeakRef).
  async gcWithoutListeners(Socket, url, record) {
    let ref;
    (() => {
      ref = new WeakRef(new Socket(url));
    })();
    const sleep = () => new Promise((resolve) => setTimeout(resolve, 10));
    await withTimeout(
      (async () => {
        while (ref.deref()?.readyState === 0) await sleep();
      })(),
      "open, polled",
    );
    for (let i = 0; i < 3; i++) {
      await macrotask();
      globalThis.gc?.();
    }
    record("gcWithoutListeners.alive-while-open", ref.deref()?.readyState ?? "collected");
    ref.deref()?.close();
    await withTimeout(
      (async () => {
        while (ref.deref() !== undefined && ref.deref().readyState !== 3) await sleep();
      })(),
      "closed, polled",
    );
  },

  // Seeded random schedules of handler and listener changes — onopen set, replaced,
  // cleared, set to what is not a function; listeners added (once, capture, an abort
  // signal) and removed; changes made by a listener in the middle of a dispatch — each
  // followed by a dispatch that records who was called, in which order.
  async listenerSchedules(Socket, url, record) {
    const socket = new Socket(url);
    for (let seed = 1; seed <= 8; seed++) {
      const random = mulberry32(1000 + seed);
      const pick = (list) => list[Math.floor(random() * list.length)];
      const calls = [];
      const made = [];
      const make = (label) => {
        const behaviour = pick(["plain", "plain", "false", "mutate"]);
        const fn = function () {
          calls.push(label);
          if (behaviour === "false") return false;
          if (behaviour === "mutate") mutate(`${label}'`);
          return undefined;
        };
        made.push(fn);
        return fn;
      };
      const controllers = [];
      const mutate = (label) => {
        switch (pick(["handler", "clear", "add", "remove", "abort", "nothing"])) {
          case "handler":
            socket.onopen = make(`h${label}`);
            break;
          case "clear":
            socket.onopen = pick([null, undefined, "text", 5, { handleEvent: () => calls.push("object") }]);
            break;
          case "add": {
            const options = { once: random() < 0.3, capture: random() < 0.3 };
            if (random() < 0.3) {
              const controller = new AbortController();
              controllers.push(controller);
              options.signal = controller.signal;
            }
            socket.addEventListener("open", pick([...made.slice(-3), make(`l${label}`)]), options);
            break;
          }
          case "remove":
            if (made.length) socket.removeEventListener("open", pick(made), { capture: random() < 0.3 });
            break;
          case "abort":
            if (controllers.length) controllers.splice(Math.floor(random() * controllers.length), 1)[0].abort();
            break;
          default:
        }
      };
      for (let op = 0; op < 20; op++) {
        mutate(`${op}`);
        if (random() < 0.5) {
          calls.push(`dispatch:${socket.dispatchEvent(new Event("open", { cancelable: true }))}`);
        }
      }
      calls.push(`final:${typeof socket.onopen}:${socket.dispatchEvent(new Event("open", { cancelable: true }))}`);
      record(`listenerSchedules.${seed}`, calls);
      socket.onopen = null;
      for (const fn of made) {
        socket.removeEventListener("open", fn);
        socket.removeEventListener("open", fn, { capture: true });
      }
    }
    await closeEvent(socket);
  },

  // Seeded random schedules of sends (text with any code points, every kind of binary,
  // Blobs), binaryType switches once everything sent has come back, bad and good close
  // codes and reasons near the 123-byte limit: the same schedule against both.
  async schedules(Socket, url, record) {
    for (let seed = 1; seed <= 6; seed++) {
      const random = mulberry32(seed);
      const pick = (list) => list[Math.floor(random() * list.length)];
      const socket = await openSocket(Socket, url);
      const received = [];
      socket.addEventListener("message", (event) => received.push(event.data));
      const outcomes = [];
      let sent = 0;
      for (let op = 0; op < 25; op++) {
        const what = pick(["text", "text", "bytes", "bytes", "blob", "binaryType", "badClose"]);
        let data;
        switch (what) {
          case "text":
            data = randomText(random, pick([0, 1, 5, 40, 300]));
            break;
          case "bytes":
            data = randomView(random, pick);
            break;
          case "blob":
            data = new Blob([randomText(random, 3), randomView(random, pick)]);
            break;
          case "binaryType": {
            // Only once all sent has come back, so the switch lands between known messages.
            await withTimeout(
              (async () => {
                while (received.length < sent) await macrotask();
              })(),
              `${sent} echoes`,
            );
            socket.binaryType = pick(["blob", "arraybuffer", "bogus"]);
            outcomes.push(`binaryType:${socket.binaryType}`);
            continue;
          }
          case "badClose": {
            const code = pick([999, 1001, 1005, 1006, 2999, 5000, 65536, "x", 4000]);
            const reason = randomText(random, pick([10, 41, 42, 61, 62, 123, 124]));
            const bytes = new TextEncoder().encode(reason.replace(/[\uD800-\uDFFF]/gu, "\uFFFD")).length;
            const problem = code === 4000 && bytes <= 123 ? null : code === 4000 ? "reason" : "code";
            if (problem === null) continue; // a good close ends the schedule below
            outcomes.push(`close:${problem}:${errorClass(() => socket.close(code, reason))}:${socket.readyState}`);
            continue;
          }
        }
        const threw = errorClass(() => socket.send(data));
        if (threw === null) sent++;
        else outcomes.push(`send:${threw}`);
      }
      await withTimeout(
        (async () => {
          while (received.length < sent) await macrotask();
        })(),
        `${sent} echoes`,
      );
      record(`schedules.${seed}.outcomes`, outcomes);
      record(`schedules.${seed}.received`, await Promise.all(received.map(async (data) => `${kind(data)} ${await bytesOf(data)}`)));
      const reason = randomText(random, 20);
      const closed = await closeEvent(socket, 4000 + seed, reason);
      record(`schedules.${seed}.close`, { ...closed, reason: closed.reason === reason.replace(/[\uD800-\uDFFF]/gu, "\uFFFD") });
    }
  },

  // Many sockets opened and closed.
  async many(Socket, url, record) {
    const total = 200;
    const batch = 50;
    let opened = 0;
    const codes = new Map();
    for (let start = 0; start < total; start += batch) {
      await Promise.all(
        Array.from({ length: batch }, async () => {
          const socket = await openSocket(Socket, url);
          opened++;
          const { code } = await closeEvent(socket);
          codes.set(code, (codes.get(code) ?? 0) + 1);
        }),
      );
    }
    record("many", { opened, codes: [...codes.entries()] });
  },
};

/** Runs every scenario against `Socket`; resolves to the trace, a list of [step, JSON]. */
export async function runScenarios(Socket, url) {
  const trace = [];
  const record = (step, value) => trace.push([step, JSON.stringify(value)]);
  for (const [name, scenario] of Object.entries(scenarios)) {
    try {
      await scenario(Socket, url, record);
    } catch (error) {
      record(`${name}.failed`, `${error.name}: ${error.message}`);
    }
  }
  return trace;
}

/**
 * The differences between two traces that differences.js does not list, as readable
 * lines (none when the traces agree up to the documented differences).
 */
export function compareTraces(browser, ferro, differences) {
  const problems = [];
  const steps = [...new Set([...browser.map(([step]) => step), ...ferro.map(([step]) => step)])];
  const valuesAt = (trace, step) => trace.filter(([s]) => s === step).map(([, value]) => value);
  for (const step of steps) {
    const b = valuesAt(browser, step);
    const f = valuesAt(ferro, step);
    if (JSON.stringify(b) === JSON.stringify(f)) continue;
    const allowed = differences.find(
      (d) => d.step === step && b.length === 1 && f.length === 1 && d.browser.includes(b[0]) && d.ferro.includes(f[0]),
    );
    if (!allowed) problems.push(`${step}: WebSocket ${b.join(" | ") || "(nothing)"}, FerroSocket ${f.join(" | ") || "(nothing)"}`);
  }
  return problems;
}

/** Runs both and compares; resolves to { problems, browser, ferro }. */
export async function differential(FerroSocket, url, differences) {
  const browser = await runScenarios(WebSocket, url);
  const ferro = await runScenarios(FerroSocket, url);
  return { problems: compareTraces(browser, ferro, differences), browser, ferro };
}
