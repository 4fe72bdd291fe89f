// Interoperability check with Node's `ws`, an independent WebSocket implementation:
// echo (text and binary) and a chat exchange in the chat.v1 protocol.
// Usage: node client.mjs ws://127.0.0.1:PORT   (exits 0 and prints "ok" on success)
import WebSocket from "ws";

const base = process.argv[2];
if (!base) {
  console.error("usage: node client.mjs ws://HOST:PORT");
  process.exit(2);
}

function open(url, protocols) {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, protocols);
    const queue = [];
    const waiters = [];
    socket.on("message", (data, isBinary) => {
      const message = { data, isBinary };
      const waiter = waiters.shift();
      if (waiter) waiter(message); else queue.push(message);
    });
    socket.next = () => new Promise((res, rej) => {
      const queued = queue.shift();
      if (queued) return res(queued);
      const timer = setTimeout(() => rej(new Error("no message within 5 s")), 5000);
      waiters.push((m) => { clearTimeout(timer); res(m); });
    });
    socket.nextEnvelope = async (type) => {
      for (;;) {
        const { data } = await socket.next();
        const envelope = JSON.parse(data.toString());
        if (!type || envelope.type === type) return envelope;
      }
    };
    socket.on("open", () => resolve(socket));
    socket.on("error", reject);
  });
}

function check(condition, what) {
  if (!condition) throw new Error(`expected ${what}`);
}

const echo = await open(`${base}/echo`);
echo.send("text from ws");
let reply = await echo.next();
check(!reply.isBinary && reply.data.toString() === "text from ws", "the text echoed");
echo.send(Buffer.from([0, 1, 2, 255]));
reply = await echo.next();
check(reply.isBinary && Buffer.compare(reply.data, Buffer.from([0, 1, 2, 255])) === 0, "the bytes echoed");
echo.close(1000);

const ada = await open(`${base}/chat`, ["chat.v1"]);
check(ada.protocol === "chat.v1", "chat.v1 selected");
await ada.nextEnvelope("joined");
ada.send(JSON.stringify({ type: "nick", nick: "node-ada" }));
check((await ada.nextEnvelope("nick")).nick === "node-ada", "the nickname set");
ada.send(JSON.stringify({ type: "join", rooms: ["interop-node"] }));
await ada.nextEnvelope("joined");

const bob = await open(`${base}/chat`, ["chat.v1"]);
await bob.nextEnvelope("joined");
bob.send(JSON.stringify({ type: "join", rooms: ["interop-node"] }));
await bob.nextEnvelope("joined");

ada.send(JSON.stringify({ type: "send", room: "interop-node", text: "hello from node", id: "node-1" }));
const ack = await ada.nextEnvelope("ack");
check(ack.id === "node-1" && ack.seq === 1, `ack 1, got ${JSON.stringify(ack)}`);
const message = await bob.nextEnvelope("message");
check(message.from === "node-ada" && message.text === "hello from node" && message.seq === 1,
  `the message delivered, got ${JSON.stringify(message)}`);

ada.send("{broken");
const error = await ada.nextEnvelope("error");
check(error.code === "invalid_json", `invalid_json, got ${JSON.stringify(error)}`);

ada.close();
bob.close();
console.log("ok");
