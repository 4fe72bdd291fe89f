// Drives ReconnectingSocket and ChatClient from plain JavaScript, as a user's page would.
// Rejects with a message naming the first expectation that failed.

function expect(condition, what) {
  if (!condition) throw new Error(`expected ${what}`);
}

function expectThrows(fn, name, what) {
  try {
    fn();
  } catch (error) {
    expect(error.name === name, `${what} to throw ${name}, got ${error.name}: ${error.message}`);
    return;
  }
  throw new Error(`expected ${what} to throw ${name}`);
}

/** A queue of everything a callback receives, with `next(predicate)`. */
function recorder() {
  const items = [];
  const waiters = [];
  const record = (item) => {
    items.push(item);
    waiters.splice(0).forEach((wake) => wake());
  };
  record.count = (predicate) => items.filter(predicate).length;
  record.next = async (predicate = () => true, what = "an event") => {
    const deadline = Date.now() + 10000;
    for (;;) {
      const index = items.findIndex(predicate);
      if (index >= 0) return items.splice(index, 1)[0];
      if (Date.now() > deadline) throw new Error(`no ${what} within 10 s; got ${JSON.stringify(items)}`);
      await new Promise((resolve) => {
        waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
  };
  return record;
}

// The event types each class dispatches (besides `message` on ReconnectingSocket).
const SOCKET_TYPES = ["open", "close", "error", "reconnecting", "reconnected", "giveup"];
const CHAT_TYPES = [...SOCKET_TYPES, "welcome", "nick", "joined", "left", "presence", "message", "sent", "failed", "rooms", "event", "chaterror"];

/** Hands every event of `types` that `target` dispatches to `record`. */
function listen(target, types, record) {
  for (const type of types) target.addEventListener(type, record);
}

async function dropConnections(httpBase, outageMs) {
  const response = await fetch(`${httpBase}/test/drop?outage_ms=${outageMs}`);
  expect(response.ok, "/test/drop to answer 200");
}

export async function driveReconnectingSocket(ReconnectingSocket, echoUrl, httpBase) {
  expectThrows(() => new ReconnectingSocket(echoUrl, { overflow: "sometimes" }), "TypeError", "a bad overflow option");
  expectThrows(() => new ReconnectingSocket("ftp://x/"), "UnsupportedSchemeError", "an ftp: URL");
  // A Symbol is no string, as WebIDL's DOMString conversion says (the browser's WebSocket throws too).
  expectThrows(() => new ReconnectingSocket(Symbol("url")), "TypeError", "a Symbol URL");

  const socket = new ReconnectingSocket(echoUrl, { initialDelay: 20, maxDelay: 100, maxQueuedMessages: 2 });
  expectThrows(() => socket.close(4000, Symbol("reason")), "TypeError", "a Symbol close reason");
  const events = recorder();
  const messages = recorder();
  listen(socket, SOCKET_TYPES, events);
  socket.binaryType = "arraybuffer";
  socket.onmessage = (event) => messages(event.data);
  expect(socket.state === "connecting", `state connecting, got ${socket.state}`);
  const outcomes = [socket.send("q1"), socket.send(new TextEncoder().encode("q2")), socket.send("q3")];
  expect(JSON.stringify(outcomes) === '["queued","queued","rejected"]', `queued, queued, rejected; got ${outcomes}`);
  expect(socket.queued === 2, "two queued");

  await events.next((e) => e.type === "open", "open");
  expect(socket.state === "open", "state open");
  expect((await messages.next()) === "q1", "q1 echoed first");
  const q2 = await messages.next();
  expect(q2 instanceof ArrayBuffer && new TextDecoder().decode(q2) === "q2", "q2 echoed as binary");

  await dropConnections(httpBase, 3000); // long: the sends below must fall in it, however late
  const disconnect = await events.next((e) => e.type === "close", "close");
  expect(disconnect.code === 1006 && disconnect instanceof CloseEvent && disconnect.target === socket,
    `a 1006 CloseEvent, got ${disconnect.code}`);
  const reconnecting = await events.next((e) => e.type === "reconnecting", "reconnecting");
  expect(reconnecting.attempt === 1 && reconnecting.delay <= 20, `attempt 1 within 20 ms, got ${JSON.stringify(reconnecting)}`);
  expect(socket.send("during outage") === "queued", "a send during the outage to be queued");
  await events.next((e) => e.type === "reconnected", "reconnected");
  expect((await messages.next()) === "during outage", "the queued message echoed after the reconnect");

  socket.send("x".repeat(100000));
  await socket.flushed();
  expect(socket.queued === 0 && socket.bufferedAmount === 0, "nothing left after flushed()");

  socket.close();
  const close = await events.next((e) => e.type === "close" && e.code === 1000, "close");
  expect(close.wasClean && socket.readyState === socket.CLOSED, "closed cleanly");
  expect(socket.state === "closed", "state closed");
  expect(socket.send("late") === "rejected", "sends after close rejected");

  // flushed() rejects with a ClosedError when the socket is closed with messages still
  // queued (here: sent before it could open).
  const early = new ReconnectingSocket(echoUrl);
  early.send("never sent");
  const flushed = early.flushed();
  early.close();
  const refusal = await flushed.then(() => null, (error) => error);
  expect(refusal instanceof Error && refusal.name === "ClosedError",
    `flushed() to reject with a ClosedError, got ${refusal && refusal.name}: ${refusal && refusal.message}`);
}

export async function driveChatClient(ChatClient, chatUrl, httpBase) {
  expectThrows(() => new ChatClient(Symbol("url")), "TypeError", "a Symbol URL");
  const room = `js-${Math.floor(Math.random() * 1e9)}`;
  const ada = new ChatClient(chatUrl, { nick: `ada-${room}`, initialDelay: 20, maxDelay: 100 });
  const bob = new ChatClient(chatUrl, { nick: `bob-${room}`, initialDelay: 20, maxDelay: 100 });
  const adaEvents = recorder();
  const bobEvents = recorder();
  listen(ada, CHAT_TYPES, adaEvents);
  listen(bob, CHAT_TYPES, bobEvents);
  for (const [client, events] of [[ada, adaEvents], [bob, bobEvents]]) {
    await events.next((e) => e.type === "nick", "nick");
    client.join(room);
    await events.next((e) => e.type === "joined" && e.room === room, "joined");
  }
  expect(ada.nick === `ada-${room}`, "ada's nickname");

  const first = ada.send(room, "before the drop");
  expect(first.outcome === "sent" && typeof first.id === "string", `sent with an id, got ${JSON.stringify(first)}`);
  const sent = await adaEvents.next((e) => e.type === "sent" && e.id === first.id, "sent");
  expect(sent.seq === 1, "seq 1");
  const message = await bobEvents.next((e) => e.type === "message" && e.room === room, "message");
  expect(message.from === `ada-${room}` && message.text === "before the drop", `bob got it, got ${JSON.stringify(message)}`);

  await dropConnections(httpBase, 3000); // long: the sends below must fall in it, however late
  await adaEvents.next((e) => e.type === "close", "close");
  const during = ada.send(room, "during the outage");
  expect(during.outcome === "queued", `queued during the outage, got ${during.outcome}`);
  await adaEvents.next((e) => e.type === "sent" && e.id === during.id, "sent after the reconnect");
  const replayed = await bobEvents.next((e) => e.type === "message" && e.room === room, "the outage message");
  expect(replayed.text === "during the outage" && replayed.seq === 2, `seq 2, got ${JSON.stringify(replayed)}`);
  // Nothing arrives twice, whatever the reconnect replayed.
  await new Promise((resolve) => setTimeout(resolve, 300));
  const duplicates = bobEvents.count((e) => e.type === "message" && e.room === room);
  expect(duplicates === 0, `no message delivered twice, got ${duplicates} more`);
  expect(ada.unacknowledged === 0, "nothing unacknowledged");

  // Bob's join reached Ada as a presence event, with the fields a page reads.
  const presence = await adaEvents.next((e) => e.type === "presence" && e.room === room, "presence");
  expect(presence.change === "join" && presence.nick === `bob-${room}` && presence.oldNick === null,
    `a join by bob with oldNick null, got ${JSON.stringify(presence)}`);
  ada.listRooms();
  const rooms = await adaEvents.next((e) => e.type === "rooms", "rooms");
  expect(rooms.rooms.some((r) => r.name === room && r.members === 2), `the room with 2 members, got ${JSON.stringify(rooms)}`);
  // An application event's data arrives as sent: floats, big and negative numbers, nested
  // values, strings that need escaping (keys in sorted order: the server's JSON map sorts).
  const data = {
    big: 1e21, deep: [[{ s: "quote \" backslash \\ \u0001 \u2028 é 😀" }], []], exact: 9007199254740991,
    n: 1.5, neg: -42, t: true, tiny: 1.5e-7, z: null,
  };
  const emitted = ada.emit(room, "cursor", data);
  expect(emitted === "sent", `emit sent, got ${emitted}`);
  const event = await bobEvents.next((e) => e.type === "event" && e.event === "cursor", "event");
  expect(event.room === room && event.from === `ada-${room}` && JSON.stringify(event.data) === JSON.stringify(data),
    `the event's data as sent, got ${JSON.stringify(event)}`);
  // Data JSON.stringify cannot write is refused with a TypeError, and nothing is sent;
  // no data at all is sent as null.
  const cyclic = {};
  cyclic.self = cyclic;
  // Nor is data the server would refuse: a lone surrogate, nesting past the limit (125).
  let deep = 1;
  for (let i = 0; i < 126; i++) deep = [deep];
  for (const [what, bad] of [["a cycle", cyclic], ["a BigInt", 1n], ["a function", () => 1],
    ["a lone surrogate", { s: "\ud800" }], ["nesting 126 deep", deep]]) {
    let thrown = null;
    try {
      ada.emit(room, "unsendable", bad);
    } catch (err) {
      thrown = err;
    }
    expect(thrown instanceof TypeError && thrown.message.startsWith("the event data is not JSON: "),
      `${what}: a TypeError saying the data is not JSON, got ${thrown}`);
  }
  expect(ada.emit(room, "bare") === "sent", "emit without data sent");
  const bare = await bobEvents.next((e) => e.type === "event" && e.event === "bare", "the event without data");
  expect(bare.data === null, `data null, got ${JSON.stringify(bare.data)}`);
  expect(bobEvents.count((e) => e.type === "event" && e.event === "unsendable") === 0, "no unsendable event delivered");

  const nowhere = ada.send("nowhere", "x");
  const error = await adaEvents.next((e) => e.type === "chaterror", "chaterror");
  expect(error.code === "not_joined", `not_joined, got ${JSON.stringify(error)}`);
  const refused = await adaEvents.next((e) => e.type === "failed" && e.id === nowhere.id, "failed for the refused line");
  expect(refused.room === "nowhere" && refused.reason.includes("not_joined"), `a failed event naming not_joined, got ${JSON.stringify(refused)}`);
  expect(ada.unacknowledged === 0, "a refused line is not counted as waiting");

  // A line still waiting when the client is closed is reported failed, never dropped silently.
  await dropConnections(httpBase, 3000);
  // (Attempts refused during the first outage left `close` events behind: wait on the state.)
  for (let waited = 0; ada.state === "open"; waited += 10) {
    expect(waited < 5000, "the connection to drop");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const waiting = ada.send(room, "never sent");
  expect(waiting.outcome === "queued" && ada.unacknowledged === 1, `kept while offline, got ${JSON.stringify(waiting)}`);
  ada.close();
  const closed = await adaEvents.next((e) => e.type === "failed" && e.id === waiting.id, "failed on close");
  expect(closed.reason.includes("never transmitted"), `the reason says it was never sent, got ${closed.reason}`);
  expect(ada.unacknowledged === 0, "nothing waits after close");
  bob.close();
  // Leave the server as found: later test binaries share it.
  await untilAccepting(httpBase);
}

/** Waits until the server accepts WebSocket handshakes again after a `/test/drop` outage. */
async function untilAccepting(httpBase) {
  const url = `${httpBase.replace(/^http/, "ws")}/echo`;
  for (let tries = 0; tries < 150; tries++) {
    const opened = await new Promise((resolve) => {
      const probe = new WebSocket(url);
      probe.onopen = () => {
        probe.close();
        resolve(true);
      };
      probe.onclose = () => resolve(false);
    });
    if (opened) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error("the server still refused handshakes 15 s after the outage");
}

const macrotask = () => new Promise((resolve) => setTimeout(resolve, 0));

async function collectGarbage() {
  for (let i = 0; i < 3; i++) {
    await macrotask();
    globalThis.gc?.();
  }
  await macrotask();
}

async function until(condition, what) {
  const deadline = Date.now() + 10000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

// Makes an object with `make(events)` inside a function of its own, so that only a weak
// reference to it remains here; `events` records what its handlers see.
function unreferenced(make) {
  const events = [];
  let ref;
  (() => {
    ref = new WeakRef(make(events));
  })();
  return { ref, events };
}

/** An object's life without references: alive while connected, released once closed. */
async function liveUntilClosed(name, { ref, events }, connected, use, used) {
  await until(() => events.some(connected), `${name} to connect`);
  await collectGarbage();
  expect(ref.deref() !== undefined, `an unreferenced, connected ${name} to survive garbage collection`);
  use(ref.deref());
  await until(() => events.some(used), `${name} to work after garbage collection`);
  ref.deref().close();
  await until(() => events.some((event) => event.type === "close"), `${name} to close`);
  await collectGarbage();
  if (typeof globalThis.gc === "function") {
    expect(ref.deref() === undefined, `a closed, unreferenced ${name} to be released`);
  }
}

export async function survivesGarbageCollection(ReconnectingSocket, ChatClient, echoUrl, chatUrl) {
  await liveUntilClosed(
    "ReconnectingSocket",
    unreferenced((events) => {
      const socket = new ReconnectingSocket(echoUrl);
      // Copies: an event's `target` is the object, which a kept event would keep alive.
      listen(socket, [...SOCKET_TYPES, "message"], (event) => events.push({ type: event.type, data: event.data }));
      return socket;
    }),
    (event) => event.type === "open",
    (socket) => socket.send("after gc"),
    (event) => event.type === "message" && event.data === "after gc",
  );
  await liveUntilClosed(
    "ChatClient",
    unreferenced((events) => {
      const chat = new ChatClient(chatUrl, { nick: "gc-survivor" });
      listen(chat, CHAT_TYPES, (event) => events.push({ type: event.type, room: event.room }));
      return chat;
    }),
    (event) => event.type === "welcome",
    (chat) => chat.join("gc-room"),
    (event) => event.type === "joined" && event.room === "gc-room",
  );
  const socket = new ReconnectingSocket(echoUrl);
  expect(socket instanceof ReconnectingSocket, "instanceof ReconnectingSocket");
  socket.close();
}

/**
 * ReconnectingSocket's events are real Event/CloseEvent/MessageEvent objects whose target
 * is the socket, dispatched as tasks in order; a listener's exception goes to reportError
 * and the next listener still runs; close() from an open listener is not lost; an event
 * type with no special handling (here `giveup`) is dispatched with the core's fields.
 */
export async function eventsAreRealEventsInOrder(ReconnectingSocket, echoUrl) {
  const reported = [];
  const onError = (event) => {
    reported.push(event.error?.message);
    event.preventDefault();
  };
  globalThis.addEventListener("error", onError);
  try {
    const socket = new ReconnectingSocket(echoUrl, { initialDelay: 10 });
    const seen = [];
    for (const type of ["open", "message", "close", "error", "reconnecting", "reconnected", "giveup"]) {
      socket.addEventListener(type, (event) => {
        // (Not readyState in `reconnected`: the close that close() started may or may not
        // have completed by then.)
        const state = type === "reconnected" ? "" : `:${socket.readyState}`;
        seen.push(`${event.type}:${event.constructor.name}:${event.target === socket}${state}`);
      });
    }
    socket.addEventListener(
      "open",
      () => {
        throw new Error("listener failed");
      },
      { once: true },
    );
    // reconnect() raises its close event at once, inside this listener: it must come as a
    // task of its own after the listener, not nested in it.
    let opens = 0;
    socket.addEventListener("open", () => {
      opens++;
      if (opens === 1) {
        socket.reconnect();
        seen.push("after reconnect()");
      } else {
        socket.close(4000, "from open");
        seen.push("after close()");
      }
    });
    const closed = await new Promise((resolve, reject) => {
      socket.addEventListener("close", (event) => event.code === 4000 && resolve(event));
      setTimeout(() => reject(new Error(`no close 4000 within 10 s; saw ${JSON.stringify(seen)}`)), 10000);
    });
    // close(code, reason) reached the server, which closed with them.
    expect(closed.reason === "from open", `close 4000 "from open", got ${closed.code} ${closed.reason}`);
    const want = [
      "open:Event:true:1",
      "after reconnect()",
      "close:CloseEvent:true:0",
      "open:Event:true:1",
      "after close()",
      "reconnected:Event:true",
      "close:CloseEvent:true:3",
    ];
    expect(JSON.stringify(seen) === JSON.stringify(want), `${JSON.stringify(want)}, saw ${JSON.stringify(seen)}`);
    expect(reported.includes("listener failed"), `reportError to see the listener's exception, saw ${JSON.stringify(reported)}`);

    // giveup: no attempt allowed after a failed first one.
    const doomed = new ReconnectingSocket("ws://127.0.0.1:1/", { maxAttempts: 0, connectTimeout: 2000 });
    const giveup = await new Promise((resolve, reject) => {
      doomed.addEventListener("giveup", resolve, { once: true });
      setTimeout(() => reject(new Error("no giveup within 10 s")), 10000);
    });
    expect(giveup instanceof Event && giveup.target === doomed && giveup.type === "giveup" && doomed.readyState === 3,
      "giveup to be an Event targeted at the socket, the socket CLOSED");
  } finally {
    globalThis.removeEventListener("error", onError);
  }
}
