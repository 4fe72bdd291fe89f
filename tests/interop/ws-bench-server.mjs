// The Node `ws` peer, written the way ws's README shows: /echo returns every message,
// /chat broadcasts every message to every other open client.
// Usage: node tests/interop/ws-bench-server.mjs PORT   (prints "listening on http://127.0.0.1:PORT/")
import { WebSocketServer, WebSocket } from "ws";

const port = Number(process.argv[2] ?? 0);
const wss = new WebSocketServer({ host: "127.0.0.1", port });

wss.on("connection", (ws, request) => {
  const broadcast = request.url === "/chat";
  ws.on("message", (data, isBinary) => {
    if (!broadcast) {
      ws.send(data, { binary: isBinary });
      return;
    }
    wss.clients.forEach((client) => {
      if (client !== ws && client.readyState === WebSocket.OPEN) {
        client.send(data, { binary: isBinary });
      }
    });
  });
});

wss.on("listening", () => console.log(`listening on http://127.0.0.1:${wss.address().port}/`));
