// The script of plain.html, kept in a file of its own so the page's Content-Security-Policy
// can forbid inline scripts.
const url = new URL("/chat", location.href);
url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
const socket = new WebSocket(url);
const log = document.getElementById("log");
const status = document.getElementById("status");
socket.onopen = () => { status.textContent = "open"; };
socket.onclose = (event) => { status.textContent = `closed (${event.code})`; };
socket.onmessage = (event) => {
  const item = document.createElement("li");
  item.textContent = event.data; // text, never HTML
  log.append(item);
};
document.getElementById("form").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = document.getElementById("line");
  socket.send(input.value);
  input.value = "";
});
