// The script of echo.html, kept in a file of its own so the page's Content-Security-Policy
// can forbid inline scripts.
import init, { FerroSocket } from "./pkg/ferrosocket.js";

const status = document.getElementById("status");
const log = document.getElementById("log");
const input = document.getElementById("message");
const reconnect = document.getElementById("reconnect");
const states = ["CONNECTING", "OPEN", "CLOSING", "CLOSED"];
let socket = null;

// Everything is shown as text, never parsed as HTML.
function append(kind, text) {
  const item = document.createElement("li");
  item.className = kind;
  item.textContent = text;
  log.append(item);
}
function showState() {
  const state = states[socket.readyState];
  status.dataset.state = state.toLowerCase();
  status.textContent = state.toLowerCase();
  reconnect.hidden = socket.readyState !== FerroSocket.CLOSED;
  append("state", `readyState ${socket.readyState} (${state})`);
}

function connect() {
  socket = new FerroSocket("/echo");
  socket.binaryType = "arraybuffer"; // binary shown at once, in order with text
  showState();
  socket.onopen = showState;
  socket.onerror = () => append("system", "connection error");
  socket.onclose = (event) => {
    append("system", `closed: code ${event.code}, reason "${event.reason}", ${event.wasClean ? "clean" : "not clean"}`);
    showState();
  };
  socket.onmessage = (event) => {
    if (typeof event.data === "string") {
      append("received", `received text: ${event.data}`);
    } else {
      const bytes = new Uint8Array(event.data);
      append("received", `received binary (${bytes.length} bytes): ${new TextDecoder().decode(bytes)}`);
    }
  };
}

function send(binary) {
  const text = input.value;
  if (!text) return;
  try {
    socket.send(binary ? new TextEncoder().encode(text) : text);
    append("sent", `sent ${binary ? "binary" : "text"}: ${text}`);
    input.value = "";
  } catch (error) {
    append("error", `${error.name}: ${error.message}`);
  }
}

try {
  await init();
} catch (error) {
  status.dataset.state = "error";
  status.textContent = "could not load pkg/ferrosocket.js: build it with scripts/run.sh";
  throw error;
}
if (!FerroSocket.isSupported()) {
  status.dataset.state = "unsupported";
  status.textContent = "this browser has no WebSocket support";
} else {
  connect();
  document.getElementById("send-form").addEventListener("submit", (event) => {
    event.preventDefault();
    send(false);
  });
  document.getElementById("send-binary").addEventListener("click", () => send(true));
  document.getElementById("close-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const code = Number(document.getElementById("close-code").value);
    try {
      socket.close(code, document.getElementById("close-reason").value);
      showState();
    } catch (error) {
      append("error", `${error.name}: ${error.message}`);
    }
  });
  reconnect.addEventListener("click", connect);
}
