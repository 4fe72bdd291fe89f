// Drives the exported FerroSocket class from plain JavaScript, as a user's page would.
// Throws (rejects) with a message naming the first expectation that failed.

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

function nextEvent(socket, type, timeoutMs = 5000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${type} event in ${timeoutMs} ms`)), timeoutMs);
    socket[`on${type}`] = (event) => {
      clearTimeout(timer);
      resolve(event);
    };
  });
}

function messages(socket, count) {
  return new Promise((resolve, reject) => {
    const received = [];
    const timer = setTimeout(() => reject(new Error(`only ${received.length} of ${count} messages`)), 5000);
    socket.onmessage = (event) => {
      received.push(event.data);
      if (received.length === count) {
        clearTimeout(timer);
        resolve(received);
      }
    };
  });
}

const text = (data) => new TextDecoder().decode(new Uint8Array(data));

export async function driveFerroSocket(FerroSocket, echoUrl) {
  expect(FerroSocket.CONNECTING === 0 && FerroSocket.OPEN === 1, "CONNECTING 0 and OPEN 1");
  expect(FerroSocket.CLOSING === 2 && FerroSocket.CLOSED === 3, "CLOSING 2 and CLOSED 3");
  expect(FerroSocket.isSupported() === true, "isSupported()");

  expectThrows(() => new FerroSocket("ftp://127.0.0.1/"), "UnsupportedSchemeError", "an ftp: URL");
  expectThrows(() => new FerroSocket("ws://[bad/"), "InvalidUrlError", "a malformed URL");
  expectThrows(() => new FerroSocket(echoUrl, ["a b"]), "InvalidProtocolError", "a protocol with a space");

  const socket = new FerroSocket(echoUrl, ["unknown.v9", "echo.v1"]);
  expect(socket.readyState === FerroSocket.CONNECTING, "readyState CONNECTING at first");
  expect(socket.url === echoUrl, `url ${echoUrl}, got ${socket.url}`);
  expectThrows(() => socket.send("too early"), "NotOpenError", "send before open");

  await nextEvent(socket, "open");
  expect(socket.readyState === FerroSocket.OPEN, "readyState OPEN after open");
  expect(socket.protocol === "echo.v1", `protocol echo.v1, got "${socket.protocol}"`);
  expect(socket.extensions === "", "no extensions");
  expect(typeof socket.bufferedAmount === "number", "a numeric bufferedAmount");
  expect(socket.binaryType === "blob", `binaryType "blob" by default, got ${socket.binaryType}`);
  socket.binaryType = "arraybuffer";

  const received = messages(socket, 5);
  const backing = new TextEncoder().encode("[view]");
  socket.send("a string");
  socket.send(new TextEncoder().encode("an array buffer").buffer);
  socket.send(new TextEncoder().encode("a Uint8Array"));
  socket.send(backing.subarray(1, 5)); // a view with an offset: only "view" is sent
  socket.send(new Blob(["a blob"]));
  const [s, ab, u8, view, blob] = await received;
  expect(s === "a string", `the string back, got ${s}`);
  expect(ab instanceof ArrayBuffer && text(ab) === "an array buffer", "the ArrayBuffer back as ArrayBuffer");
  expect(text(u8) === "a Uint8Array", `the Uint8Array back, got ${text(u8)}`);
  expect(text(view) === "view", `only the view's bytes, got ${text(view)}`);
  expect(text(blob) === "a blob", `the Blob back, got ${text(blob)}`);
  expectThrows(() => socket.send({}), "TypeError", "sending an object");

  const handler = () => {};
  socket.onmessage = handler;
  expect(socket.onmessage === handler, "the onmessage getter to return the handler");
  socket.onmessage = null;
  expect(socket.onmessage === null, "onmessage null after removal");

  expectThrows(() => socket.close(1006), "InvalidCloseCodeError", "close(1006)");
  expectThrows(() => socket.close(4000, "x".repeat(124)), "InvalidCloseReasonError", "a 124-byte reason");
  expect(socket.readyState === FerroSocket.OPEN, "still OPEN after refused closes");

  const closed = nextEvent(socket, "close");
  socket.close(4000, "bye from js");
  expect(socket.readyState === FerroSocket.CLOSING, "readyState CLOSING after close()");
  const event = await closed;
  expect(event.code === 4000 && event.reason === "bye from js", `close 4000 "bye from js", got ${event.code} "${event.reason}"`);
  expect(event.wasClean === true, "a clean close");
  expect(socket.readyState === FerroSocket.CLOSED, "readyState CLOSED");
  expectThrows(() => socket.send("too late"), "NotOpenError", "send after close");
  socket.free();

  // free() on an open socket closes it at once; no event follows.
  const freed = new FerroSocket(echoUrl);
  await nextEvent(freed, "open");
  const after = [];
  freed.onclose = () => after.push("close");
  freed.onmessage = () => after.push("message");
  freed.send("in flight");
  freed.free();
  expect(freed.readyState === FerroSocket.CLOSED, "readyState CLOSED after free()");
  expectThrows(() => freed.send("x"), "NotOpenError", "send after free()");
  freed.close(); // a no-op, as on a closed WebSocket
  await new Promise((resolve) => setTimeout(resolve, 300));
  expect(after.length === 0, `no events after free(), got ${after.join(", ")}`);
}
