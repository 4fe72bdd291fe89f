// The socket.io peer, written the way socket.io's documentation shows, over its WebSocket
// transport only (no long-polling upgrade, which a WebSocket load generator cannot drive).
// A connection made with `?endpoint=chat` broadcasts every "message" event to every other
// client; any other connection gets its "message" events back (echo).
// Usage: node tests/interop/socketio-bench-server.mjs PORT   (prints "listening on http://127.0.0.1:PORT/")
import { createServer } from "node:http";
import { Server } from "socket.io";

const port = Number(process.argv[2] ?? 0);
const httpServer = createServer();
const io = new Server(httpServer, { transports: ["websocket"], serveClient: false });

io.on("connection", (socket) => {
  if (socket.handshake.query.endpoint === "chat") {
    socket.on("message", (data) => socket.broadcast.emit("message", data));
  } else {
    socket.on("message", (data) => socket.send(data));
  }
});

httpServer.listen(port, "127.0.0.1", () =>
  console.log(`listening on http://127.0.0.1:${httpServer.address().port}/`));
