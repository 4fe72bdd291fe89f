// ReconnectingSocket's reconnect options from plain JavaScript, as a partysocket user would
// write them. Each function rejects with a message naming the first expectation that failed.

function expect(condition, what) {
  if (!condition) throw new Error(`expected ${what}`);
}

/** Resolves with the first event `predicate` accepts; rejects after 10 s. */
function nextEvent(socket, predicate, what) {
  return new Promise((resolve, reject) => {
    const seen = [];
    const timer = setTimeout(() => reject(new Error(`no ${what} within 10 s; saw ${JSON.stringify(seen)}`)), 10000);
    const types = ["open", "close", "error", "reconnecting", "reconnected", "giveup"];
    const listener = (event) => {
      seen.push({ type: event.type, code: event.code, reason: event.reason });
      if (predicate(event)) {
        clearTimeout(timer);
        for (const type of types) socket.removeEventListener(type, listener);
        resolve(event);
      }
    };
    for (const type of types) socket.addEventListener(type, listener);
  });
}

export async function oneProtocolAsAStringAndAnInfiniteMaxDelay(ReconnectingSocket, echoUrl) {
  // `new WebSocket(url, "echo.v1")` offers one protocol; so must this, not "e", "c", "h"...
  const socket = new ReconnectingSocket(echoUrl, { protocols: "echo.v1", maxDelay: Infinity });
  await nextEvent(socket, (e) => e.type === "open", "open");
  expect(socket.protocol === "echo.v1", `protocol "echo.v1", got ${JSON.stringify(socket.protocol)}`);
  socket.close();
}

export async function shouldReconnectDecidesAndItsExceptionsAreReported(ReconnectingSocket, flappingUrl) {
  const asked = [];
  const no = new ReconnectingSocket(flappingUrl, {
    initialDelay: 10,
    shouldReconnect: (close) => {
      asked.push(close);
      return false;
    },
  });
  const closed = await nextEvent(no, (e) => e.type === "close", "close");
  expect(closed.code === 1011, `a close with 1011, got ${closed.code}`);
  expect(asked.length === 1 && asked[0].code === 1011 && asked[0].reason === "flap",
    `the predicate to see the close once, saw ${JSON.stringify(asked)}`);

  // A predicate that throws: the exception goes to reportError (window "error"), and the
  // socket reconnects as the close-code rules would.
  const reported = [];
  const onError = (event) => {
    reported.push(event.error?.message);
    event.preventDefault();
  };
  globalThis.addEventListener("error", onError);
  try {
    const throws = new ReconnectingSocket(flappingUrl, {
      initialDelay: 10,
      maxAttempts: 2,
      shouldReconnect: () => {
        throw new Error("predicate failed");
      },
    });
    await nextEvent(throws, (e) => e.type === "reconnecting", "reconnecting");
    throws.close();
  } finally {
    globalThis.removeEventListener("error", onError);
  }
  expect(reported.includes("predicate failed"), `reportError to see the exception, saw ${JSON.stringify(reported)}`);
}

export async function aStalledHandshakeMeetsTheConnectTimeout(ReconnectingSocket, hangUrl) {
  const socket = new ReconnectingSocket(hangUrl, { connectTimeout: 300, initialDelay: 10, maxAttempts: 1 });
  const disconnect = await nextEvent(socket, (e) => e.type === "close", "close");
  expect(disconnect.code === 1006 && disconnect.reason === "connect timeout",
    `a 1006 "connect timeout", got ${disconnect.code} ${disconnect.reason}`);
  socket.close();
}

export async function urlAndProtocolsMayBeFunctionsCalledPerAttempt(ReconnectingSocket, echoUrl, flappingUrl) {
  let urlCalls = 0;
  let protocolCalls = 0;
  const socket = new ReconnectingSocket(
    // The first attempt goes to a server that closes at once; the next to the echo.
    async () => (++urlCalls === 1 ? flappingUrl : echoUrl),
    { initialDelay: 10, protocols: () => Promise.resolve(++protocolCalls === 1 ? "echo.v1" : ["echo.v2"]) },
  );
  await nextEvent(socket, (e) => e.type === "reconnected", "reconnected");
  expect(urlCalls === 2 && protocolCalls === 2, `one call of each function per attempt, got ${urlCalls} and ${protocolCalls}`);
  expect(socket.protocol === "echo.v2", `the second attempt's protocol "echo.v2", got ${JSON.stringify(socket.protocol)}`);
  socket.close();

  // A URL function that throws (or rejects) fails that attempt only.
  let calls = 0;
  const flaky = new ReconnectingSocket(() => {
    if (++calls === 1) throw new Error("token service down");
    return echoUrl;
  }, { initialDelay: 10 });
  const failed = await nextEvent(flaky, (e) => e.type === "close", "close");
  expect(failed.code === 1006 && failed.reason.includes("token service down"),
    `a 1006 naming the failure, got ${failed.code} ${failed.reason}`);
  await nextEvent(flaky, (e) => e.type === "open", "open");
  flaky.close();

}

export async function blobsAreQueuedInOrderWithEverythingElse(ReconnectingSocket, echoUrl) {
  const socket = new ReconnectingSocket(echoUrl);
  socket.binaryType = "arraybuffer";
  const received = [];
  socket.onmessage = (event) => received.push(event.data);
  // All sent while connecting: queued, and delivered in this order once open.
  const outcomes = [
    socket.send("one"),
    socket.send(new Blob([new Uint8Array([2, 2])])),
    socket.send("three"),
    socket.send(new Uint8Array([4])),
    socket.send(new Blob(["five"])),
  ];
  expect(outcomes.every((o) => o === "queued"), `every send queued while connecting, got ${outcomes}`);
  const deadline = Date.now() + 10000;
  while (received.length < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const shown = received.map((d) => (typeof d === "string" ? d : Array.from(new Uint8Array(d)).join(",")));
  const want = ["one", "2,2", "three", "4", "102,105,118,101"];
  expect(JSON.stringify(shown) === JSON.stringify(want), `${JSON.stringify(want)} in order, got ${JSON.stringify(shown)}`);
  socket.close();
}

/** reconnect(code, reason) closes the current connection with them (partysocket's form),
 *  and refuses what close() refuses before anything changes. */
export async function reconnectClosesWithTheCodeAndReasonGiven(ReconnectingSocket, echoUrl) {
  const socket = new ReconnectingSocket(echoUrl, { initialDelay: 20, maxDelay: 100 });
  await nextEvent(socket, (e) => e.type === "open", "the first open");
  // (66536 is clamped to 65535 as the browser's close() does, not wrapped round to 1000.)
  const refused = [[1006, "", "InvalidCloseCodeError"], [66536, "", "InvalidCloseCodeError"], [null, "", "InvalidCloseCodeError"], [4000, "é".repeat(62), "InvalidCloseReasonError"]];
  for (const [code, reason, name] of refused) {
    let thrown = null;
    try {
      socket.reconnect(code, reason);
    } catch (err) {
      thrown = err;
    }
    expect(thrown?.name === name, `reconnect(${code}, …) to throw ${name}, got ${thrown}`);
    expect(socket.readyState === 1, `still open after a refused reconnect, got ${socket.readyState}`);
  }
  const closed = nextEvent(socket, (e) => e.type === "close", "the close reconnect() causes");
  socket.reconnect(4001, "switching rooms");
  const close = await closed;
  expect(close.code === 4001 && close.reason === "switching rooms" && close.wasClean,
    `close 4001 "switching rooms", got ${close.code} "${close.reason}"`);
  await nextEvent(socket, (e) => e.type === "open", "the open after reconnect(4001, …)");
  // Without arguments: 1000 "reconnect", as before.
  const again = nextEvent(socket, (e) => e.type === "close", "the close of reconnect()");
  socket.reconnect();
  const plain = await again;
  expect(plain.code === 1000 && plain.reason === "reconnect", `close 1000 "reconnect", got ${plain.code} "${plain.reason}"`);
  // The connection it made works.
  await nextEvent(socket, (e) => e.type === "open", "the open after reconnect()");
  const echoed = new Promise((resolve) => socket.addEventListener("message", (e) => resolve(e.data), { once: true }));
  socket.send("still here");
  expect((await echoed) === "still here", "the echo after the reconnects");
  socket.close();
}
