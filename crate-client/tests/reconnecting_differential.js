// The ReconnectingSocket differential test's scenarios: one script, run against
// partysocket's ReconnectingWebSocket and against our ReconnectingSocket in the same page,
// against the same real server, recording what a user's code would see (events and their
// order, readyState in each, close codes, data types and bytes, what send() while
// connecting delivers, reconnects after a server drop, close(), reconnect(), maxRetries,
// the URL function, the connection timeout). Both are constructed the partysocket way,
// `new Socket(url, protocols, options)` with partysocket's option names.
// `compareTraces` then accepts only the differences in DIFFERENCES, at the end of this file.
//
// The list lives here, not in a module of its own: every JS module the test binary imports
// is fetched in one burst when its page loads, and with more than four modules Chromium
// opens a fifth connection to wasm-bindgen-test-runner's page server, whose thread pool can
// leave it unanswered and the page never loads (see
// tests/tests/browser_test_modules.rs).

const TIMEOUT_MS = 15000;

function withTimeout(promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// The next event of `type`, through addEventListener with `once`.
function next(socket, type) {
  return withTimeout(new Promise((resolve) => socket.addEventListener(type, resolve, { once: true })), type);
}

const kind = (value) => Object.prototype.toString.call(value);

async function bytesOf(data) {
  if (typeof data === "string") return `text:${data}`;
  const buffer = data instanceof Blob ? await data.arrayBuffer() : data;
  return `bytes:${[...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}

// Small delays so that reconnecting takes milliseconds (partysocket's names).
const FAST = { minReconnectionDelay: 20, maxReconnectionDelay: 100, reconnectionDelayGrowFactor: 1.5, minUptime: 200 };

/**
 * Records every open/message/error/close event of `socket` as `type:readyState` (messages
 * with their data, closes with code and wasClean), checking `target` on each; `wait(n,
 * type)` resolves once `n` events of `type` have been seen.
 */
function eventLog(socket) {
  const entries = [];
  const counts = { open: 0, message: 0, error: 0, close: 0 };
  const waiters = [];
  for (const type of Object.keys(counts)) {
    socket.addEventListener(type, (event) => {
      counts[type]++;
      let entry = `${type}:${socket.readyState}`;
      if (event.target !== socket) entry += ":wrong-target";
      if (type === "message") entry += `:${typeof event.data === "string" ? event.data : kind(event.data)}`;
      entries.push(entry);
      waiters.splice(0).forEach((wake) => wake());
    });
  }
  return {
    entries,
    counts,
    wait(n, type) {
      return withTimeout(
        new Promise((resolve) => {
          const check = () => (counts[type] >= n ? resolve() : waiters.push(check));
          check();
        }),
        `${n} ${type} events (log: ${entries.join(" ")})`,
      );
    },
    // The entries up to the first close, then the opens and messages: the failed attempts
    // of an outage left out.
    withoutFailedAttempts() {
      const first = entries.findIndex((entry) => entry.startsWith("close"));
      if (first < 0) return entries;
      return [...entries.slice(0, first + 1), ...entries.slice(first + 1).filter((entry) => /^(open|message)/.test(entry))];
    },
    // The entries with repeats (of one entry, or of a pair such as error-close: failed
    // attempts during an outage, whose number depends on timing) collapsed into one.
    collapsed() {
      const out = [];
      for (const entry of entries) {
        out.push(entry);
        const n = out.length;
        if (n >= 2 && out[n - 1] === out[n - 2]) out.pop();
        else if (n >= 4 && out[n - 1] === out[n - 3] && out[n - 2] === out[n - 4]) out.length -= 2;
      }
      return out;
    },
  };
}

async function dropConnections(httpBase, outageMs) {
  const response = await fetch(`${httpBase}/test/drop?outage_ms=${outageMs}`);
  if (!response.ok) throw new Error(`/test/drop answered ${response.status}`);
}

async function until(condition, what) {
  const deadline = Date.now() + TIMEOUT_MS;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

// Waits until `read()` has not changed for `quietMs` (or `maxMs` passed); returns it.
async function settled(read, quietMs, maxMs) {
  const start = Date.now();
  let last = read();
  let since = Date.now();
  while (Date.now() - start < maxMs) {
    await sleep(50);
    const now = read();
    if (now !== last) {
      last = now;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) {
      break;
    }
  }
  return last;
}

const scenarios = {
  // The object itself: constants, EventTarget, initial values, url, binaryType.
  async shape(Socket, { url }, record) {
    const socket = new Socket(url, undefined, FAST);
    record("shape.instance-constants", [socket.CONNECTING, socket.OPEN, socket.CLOSING, socket.CLOSED]);
    record("shape.class-constants", [Socket.CONNECTING, Socket.OPEN, Socket.CLOSING, Socket.CLOSED]);
    record("shape.is-event-target", socket instanceof EventTarget);
    record("shape.initial", {
      readyState: socket.readyState,
      binaryType: socket.binaryType,
      bufferedAmount: socket.bufferedAmount,
      retryCount: socket.retryCount,
      handlers: [socket.onopen, socket.onmessage, socket.onerror, socket.onclose],
    });
    await next(socket, "open");
    record("shape.open", { readyState: socket.readyState, url: socket.url === url, protocol: socket.protocol });
    socket.binaryType = "arraybuffer";
    record("shape.binaryType-set", socket.binaryType);
    socket.binaryType = "bogus";
    record("shape.binaryType-invalid-ignored", socket.binaryType);
    const closed = next(socket, "close");
    socket.close();
    await closed;
  },

  // Sends while connecting are queued and delivered in order after open; the handlers and
  // listeners see open, the echoes, close, in order, with readyState in each.
  async order(Socket, { url }, record) {
    const socket = new Socket(url, undefined, FAST);
    const log = eventLog(socket);
    const handlerCalls = [];
    let onopenTarget = null;
    socket.onopen = (event) => {
      handlerCalls.push(`onopen:${event.type}`);
      onopenTarget = event.target === socket;
    };
    socket.onmessage = (event) => handlerCalls.push(`onmessage:${typeof event.data}`);
    socket.onclose = (event) => handlerCalls.push(`onclose:${event.code}`);
    socket.binaryType = "arraybuffer";
    socket.send("a");
    socket.send(new Uint8Array([1, 2]));
    socket.send("c");
    socket.send(new Blob([new Uint8Array([4])]));
    socket.send(new Uint8Array([9, 5, 6]).subarray(1));
    record("order.readyState-while-connecting", socket.readyState);
    const received = [];
    socket.addEventListener("message", (event) => received.push(event.data));
    await log.wait(5, "message");
    record("order.echoes", await Promise.all(received.map(async (data) => `${kind(data)} ${await bytesOf(data)}`)));
    const closed = next(socket, "close");
    socket.close();
    record("order.readyState-after-close()", socket.readyState);
    const event = await closed;
    record("order.close-event", { code: event.code, wasClean: event.wasClean, isCloseEvent: event instanceof CloseEvent });
    // close() stops for good: no open follows.
    await sleep(300);
    record("order.final", { readyState: socket.readyState, opens: log.counts.open });
    record("order.events", log.entries);
    record("order.handlers", handlerCalls);
    record("order.onopen-target-is-the-socket", onopenTarget);
  },

  // binaryType "blob" (the default) delivers binary messages as Blobs.
  async blob(Socket, { url }, record) {
    const socket = new Socket(url, undefined, FAST);
    const message = next(socket, "message");
    socket.send(new Uint8Array([7, 8]));
    const event = await message;
    record("blob.data", `${kind(event.data)} ${await bytesOf(event.data)}`);
    const closed = next(socket, "close");
    socket.close();
    await closed;
  },

  // Data the browser's send() takes that `instanceof` does not recognise: buffers, views
  // and Blobs made in another realm (an iframe), a detached buffer (sent empty); queued
  // while connecting and sent when open.
  async otherRealm(Socket, { url }, record) {
    const frame = document.createElement("iframe");
    document.body.append(frame);
    const other = frame.contentWindow;
    const data = () => [new other.Uint8Array([1, 2]).buffer, new other.Uint8Array([3, 4]), new other.Blob(["xy"])];
    const socket = new Socket(url, undefined, FAST);
    socket.binaryType = "arraybuffer";
    const received = [];
    socket.addEventListener("message", (event) => received.push(event.data));
    for (const item of data()) socket.send(item);
    await next(socket, "open");
    for (const item of data()) socket.send(item);
    const detached = new ArrayBuffer(4);
    structuredClone(detached, { transfer: [detached] });
    socket.send(detached);
    socket.send("last");
    await until(() => received.length >= 8, "8 echoes");
    frame.remove();
    record("otherRealm.echoes", await Promise.all(received.map(async (item) => `${kind(item)} ${await bytesOf(item)}`)));
    const closed = next(socket, "close");
    socket.close();
    await closed;
  },

  // The onX handlers and events dispatched by the page's own code: WebSocket's handler
  // attributes are called for them (`return false` cancels, an object is never called).
  async handlerCalls(Socket, { url }, record) {
    const socket = new Socket(url, undefined, { ...FAST, startClosed: true });
    const calls = [];
    socket.onopen = () => false;
    calls.push(`false:${socket.dispatchEvent(new Event("open", { cancelable: true }))}`);
    socket.onopen = { handleEvent: () => calls.push("handleEvent") };
    calls.push(`object:${socket.dispatchEvent(new Event("open"))}`);
    socket.onopen = () => calls.push("function");
    socket.dispatchEvent(new Event("open"));
    record("handlerCalls", calls);
    socket.close();
  },

  // What send() and close() do where code written for one might trip on the other:
  // bufferedAmount while connecting, send()'s return, a buffer changed after send(), a
  // close code the browser refuses.
  async sendAndClose(Socket, { url }, record) {
    const socket = new Socket(url, undefined, FAST);
    socket.binaryType = "arraybuffer";
    const log = eventLog(socket);
    const received = [];
    socket.addEventListener("message", (event) => received.push(event.data));
    const buffer = new Uint8Array([1, 2, 3, 4, 5]);
    const returns = [socket.send("é✓"), socket.send(buffer), socket.send(new Blob(["abc"]))];
    record("sendAndClose.bufferedAmount-while-connecting", socket.bufferedAmount);
    // Changed after send(): the browser's WebSocket sends what it was given.
    buffer[0] = 99;
    await log.wait(1, "open");
    returns.push(socket.send("now"));
    record("sendAndClose.returns", returns);
    await log.wait(4, "message");
    record("sendAndClose.echoes", await Promise.all(received.map(async (data) => `${kind(data)} ${await bytesOf(data)}`)));
    let threw = null;
    try {
      socket.close(999);
    } catch (error) {
      threw = error.name;
    }
    record("sendAndClose.close(999)", { threw, readyState: socket.readyState });
    // Still open and listened to? An echo comes back within a second if so.
    socket.send("after close(999)");
    await Promise.race([log.wait(5, "message").catch(() => {}), sleep(1000)]);
    record("sendAndClose.echo-after-close(999)", log.counts.message === 5);
    const closed = next(socket, "close");
    socket.close();
    await closed;
  },

  // A connection the server drops is reconnected; what is sent meanwhile is delivered
  // after the reconnect, in order.
  async drop(Socket, { url, httpBase }, record) {
    const socket = new Socket(url, undefined, FAST);
    const log = eventLog(socket);
    await log.wait(1, "open");
    let closeState = null;
    socket.addEventListener(
      "close",
      (event) =>
        (closeState = { code: event.code, wasClean: event.wasClean, readyState: socket.readyState, retryCount: socket.retryCount }),
      { once: true },
    );
    await dropConnections(httpBase, 300);
    await log.wait(1, "close");
    record("drop.in-close-listener", closeState);
    socket.send("during 1");
    socket.send("during 2");
    await log.wait(2, "open");
    await log.wait(2, "message");
    // Without the attempts refused during the outage: how many there are depends on the
    // browser (Firefox holds a reconnect to a host that just failed) and on timing.
    record("drop.events", log.withoutFailedAttempts());
    const closed = next(socket, "close");
    socket.close();
    await closed;
  },

  // close() from the close listener of a dropped connection stops the reconnecting.
  async closeStops(Socket, { url, httpBase }, record) {
    const socket = new Socket(url, undefined, FAST);
    const log = eventLog(socket);
    await log.wait(1, "open");
    socket.addEventListener("close", () => socket.close(), { once: true });
    await dropConnections(httpBase, 0);
    await log.wait(1, "close");
    await sleep(800);
    record("closeStops.final", { readyState: socket.readyState, opens: log.counts.open });
    record("closeStops.events", log.entries);
  },

  // reconnect() on an open socket closes it and connects again; after close() it comes
  // back to life.
  async reconnect(Socket, { url }, record) {
    const socket = new Socket(url, undefined, FAST);
    const log = eventLog(socket);
    await log.wait(1, "open");
    socket.reconnect();
    await log.wait(2, "open");
    const echo = next(socket, "message");
    socket.send("after reconnect()");
    record("reconnect.echo", (await echo).data);
    const closed = next(socket, "close");
    socket.close();
    await closed;
    socket.reconnect();
    await log.wait(3, "open");
    record("reconnect.after-close", socket.readyState);
    record("reconnect.events", log.entries.filter((entry) => !entry.startsWith("message")));
    const closedAgain = next(socket, "close");
    socket.close();
    await closedAgain;
  },

  // startClosed: no connection until reconnect().
  async startClosed(Socket, { url }, record) {
    const socket = new Socket(url, undefined, { ...FAST, startClosed: true });
    const log = eventLog(socket);
    await sleep(300);
    record("startClosed.before-reconnect()", { readyState: socket.readyState, opens: log.counts.open });
    socket.reconnect();
    await log.wait(1, "open");
    const echo = next(socket, "message");
    socket.send("started");
    record("startClosed.echo", (await echo).data);
    const closed = next(socket, "close");
    socket.close();
    await closed;
  },

  // maxRetries: the first attempt and then maxRetries more, then nothing; the URL
  // function is called once per attempt.
  async maxRetries(Socket, { refusedUrl }, record) {
    let calls = 0;
    const socket = new Socket(
      () => {
        calls++;
        return refusedUrl;
      },
      undefined,
      { ...FAST, maxRetries: 2, connectionTimeout: 1000 },
    );
    const log = eventLog(socket);
    // Until it stops (CLOSED), and then a while longer to see no attempt follows. (Not the
    // events: Firefox holds back reconnects to a host that refused, so whether an attempt
    // is refused or times out varies.)
    await until(() => socket.readyState === socket.CLOSED, "CLOSED after the last retry");
    const attempts = await settled(() => calls, 1000, 5000);
    record("maxRetries.attempts", attempts);
    record("maxRetries.final", { readyState: socket.readyState, opens: log.counts.open });
    socket.close();
  },

  // The URL function (sync or async) is called before every attempt, and `url` is what it
  // returned.
  async urlProvider(Socket, { url, httpBase }, record) {
    const calls = [];
    const socket = new Socket(
      async () => {
        calls.push(calls.length);
        return url;
      },
      undefined,
      FAST,
    );
    const log = eventLog(socket);
    await log.wait(1, "open");
    record("urlProvider.url", socket.url === url);
    await dropConnections(httpBase, 0);
    await log.wait(2, "open");
    record("urlProvider.calls", calls.length);
    const closed = next(socket, "close");
    socket.close();
    await closed;
  },

  // An attempt that does not open within connectionTimeout is given up and retried.
  async connectionTimeout(Socket, { hangUrl }, record) {
    let calls = 0;
    const started = Date.now();
    const socket = new Socket(
      () => {
        calls++;
        return hangUrl;
      },
      undefined,
      { ...FAST, connectionTimeout: 300, maxRetries: 1 },
    );
    const log = eventLog(socket);
    const attempts = await settled(() => calls, 1500, 10000);
    record("connectionTimeout.attempts", attempts);
    // Well before the server would have answered (it hangs for 20 s).
    record("connectionTimeout.before-the-server-answered", Date.now() - started < 15000);
    record("connectionTimeout.events", log.collapsed());
    record("connectionTimeout.final", socket.readyState);
    socket.close();
  },
};

/** Runs every scenario against `Socket`; resolves to the trace, a list of [step, JSON]. */
export async function runScenarios(Socket, endpoints) {
  const trace = [];
  const record = (step, value) => trace.push([step, JSON.stringify(value)]);
  for (const [name, scenario] of Object.entries(scenarios)) {
    try {
      await scenario(Socket, endpoints, record);
    } catch (error) {
      record(`${name}.failed`, `${error.name}: ${error.message}`);
    }
    // Nothing of one scenario (a late reconnect) reaches the next.
    await sleep(100);
  }
  return trace;
}

/**
 * The differences between the traces that the list does not allow, as readable lines
 * (none when the traces agree up to the documented differences).
 */
export function compareTraces(theirs, ours, differences) {
  const problems = [];
  const steps = [...new Set([...theirs.map(([step]) => step), ...ours.map(([step]) => step)])];
  const valuesAt = (trace, step) => trace.filter(([s]) => s === step).map(([, value]) => value);
  for (const step of steps) {
    const t = valuesAt(theirs, step);
    const o = valuesAt(ours, step);
    if (JSON.stringify(t) === JSON.stringify(o)) continue;
    const allowed = differences.find(
      (d) => d.step === step && t.length === 1 && o.length === 1 && d.partysocket.includes(t[0]) && d.ours.includes(o[0]),
    );
    if (!allowed) problems.push(`${step}: partysocket ${t.join(" | ") || "(nothing)"}, ReconnectingSocket ${o.join(" | ") || "(nothing)"}`);
  }
  return problems;
}

/**
 * Runs both and compares; resolves to { problems, partysocket, ours }. `echoUrl` is the
 * server's `/echo`; the server must run with `--test-endpoints`.
 */
export async function reconnectingDifferential(ReconnectingSocket, PartySocket, echoUrl) {
  const httpBase = echoUrl.replace(/^ws/, "http").replace(/\/echo$/, "");
  const endpoints = {
    url: echoUrl,
    httpBase,
    // A port nobody listens on (the server's own port, one below, is not known to be free;
    // port 1 on loopback is refused at once).
    refusedUrl: "ws://127.0.0.1:1/",
    hangUrl: `${echoUrl.replace(/\/echo$/, "")}/test/hang?ms=20000`,
  };
  const partysocket = await runScenarios(PartySocket, endpoints);
  const ours = await runScenarios(ReconnectingSocket, endpoints);
  return { problems: compareTraces(partysocket, ours, DIFFERENCES), partysocket, ours };
}

// The deliberate differences between our ReconnectingSocket and partysocket's
// ReconnectingWebSocket: the one list the differential accepts, and that README.md
// ("ReconnectingSocket as a drop-in for partysocket") describes. Each entry names the trace
// step, what partysocket records there, what we record, and why we differ.
//
// A step's value is compared as JSON; `partysocket` and `ours` are lists of the values
// allowed on each side (browsers disagree on some).

const CONNECTING_WHILE_RECONNECTING =
  "while it waits to reconnect, readyState is CONNECTING (as partysocket's README says); partysocket reads the last socket's CLOSED until the next attempt's socket exists";
const FAILED_ATTEMPT =
  "a failed attempt is reported as the browser reports it, error then a 1006 close; partysocket dispatches a close (1000, clean) of its own first, then the error";

const DIFFERENCES = [
  {
    step: "order.readyState-after-close()",
    partysocket: ["3"],
    ours: ["2"],
    why: "like the browser's WebSocket, CLOSING until the close event; partysocket reads CLOSED at once",
  },
  {
    step: "order.close-event",
    partysocket: ['{"code":"close","wasClean":true,"isCloseEvent":false}'],
    ours: ['{"code":1000,"wasClean":true,"isCloseEvent":true}'],
    why: "listeners get a real CloseEvent with the code the server closed with; partysocket's close() dispatches its own event, which its browser clone turns into an Event whose code is the string \"close\" (its onclose handler gets 1000)",
  },
  {
    step: "order.onopen-target-is-the-socket",
    partysocket: ["false"],
    ours: ["true"],
    why: "the onX handlers get the same event as listeners, whose target is the ReconnectingSocket; partysocket hands onopen the inner WebSocket's event",
  },
  {
    step: "drop.in-close-listener",
    partysocket: ['{"code":1006,"wasClean":false,"readyState":3,"retryCount":1}'],
    ours: ['{"code":1006,"wasClean":false,"readyState":0,"retryCount":1}'],
    why: CONNECTING_WHILE_RECONNECTING,
  },
  {
    step: "drop.events",
    partysocket: ['["open:1","close:3","open:1","message:1:during 1","message:1:during 2"]'],
    ours: ['["open:1","close:0","open:1","message:1:during 1","message:1:during 2"]'],
    why: CONNECTING_WHILE_RECONNECTING,
  },
  {
    step: "closeStops.events",
    partysocket: ['["open:1","close:3"]'],
    ours: ['["open:1","close:0","close:3"]'],
    why: "close() while waiting to reconnect is answered with a close event (1000), so every close() ends with one; partysocket dispatches none when its socket is already closed (and reads CLOSED in the first close, as above)",
  },
  {
    step: "reconnect.events",
    partysocket: ['["open:1","close:2","open:1","close:3","open:1"]'],
    ours: ['["open:1","close:0","open:1","close:3","open:1"]'],
    why: "in the close event reconnect() causes, readyState is CONNECTING: the new attempt is under way; partysocket's reads the old socket's CLOSING",
  },
  {
    step: "handlerCalls",
    partysocket: ['["false:true","object:true"]'],
    ours: ['["false:false","object:true","function"]'],
    why: "onopen... are event handler attributes, as WebSocket's: called for every event of their type, also one the page dispatches, and `return false` cancels it; partysocket's are plain properties it calls itself for the inner socket's events only",
  },
  {
    step: "sendAndClose.bufferedAmount-while-connecting",
    partysocket: ["10"],
    ours: ["0"],
    why: "bufferedAmount is the connection's, as WebSocket's (the offline queue is `queued`); partysocket adds the queued strings' UTF-16 lengths and the buffers' and Blobs' sizes",
  },
  {
    step: "sendAndClose.returns",
    partysocket: ["[false,false,false,true]"],
    ours: ['["queued","queued","queued","sent"]'],
    why: "send() says what became of the data, including a full queue (\"rejected\", \"queued-dropping-oldest\")",
  },
  {
    step: "sendAndClose.echoes",
    partysocket: ['["[object String] text:é✓","[object ArrayBuffer] bytes:6302030405","[object ArrayBuffer] bytes:616263","[object String] text:now"]'],
    ours: ['["[object String] text:é✓","[object ArrayBuffer] bytes:0102030405","[object ArrayBuffer] bytes:616263","[object String] text:now"]'],
    why: "data is copied when send() is called, as WebSocket copies it; partysocket queues the buffer itself and sends whatever it holds once open",
  },
  {
    step: "sendAndClose.close(999)",
    partysocket: ['{"threw":null,"readyState":3}'],
    ours: ['{"threw":"InvalidCloseCodeError","readyState":1}'],
    why: "a code the browser refuses throws, as WebSocket's close() does, and changes nothing (the socket stays OPEN); partysocket swallows the error, reads CLOSED and stops listening to a connection that stays open",
  },
  {
    step: "sendAndClose.echo-after-close(999)",
    partysocket: ["false"],
    ours: ["true"],
    why: "after a refused close() the socket is open and delivers messages as before; partysocket no longer listens to it",
  },
  {
    step: "connectionTimeout.events",
    partysocket: ['["close:2","error:2"]'],
    ours: ['["error:0","close:0","error:3","close:3"]'],
    why: `${FAILED_ATTEMPT} (reason "connect timeout"); ${CONNECTING_WHILE_RECONNECTING} (partysocket's reads CLOSING)`,
  },
];
