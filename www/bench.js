// The script of bench.html, kept in a file of its own so the page's Content-Security-Policy
// can forbid inline scripts.
import init, { FerroSocket, benchReceiveRust } from "./pkg/ferrosocket.js";

const params = new URLSearchParams(location.search);
const count = Number(params.get("count") ?? 100000);
const size = Number(params.get("size") ?? 64);
const rounds = Number(params.get("rounds") ?? 5);
const url = new URL(`/test/firehose?count=${count}&size=${size}`, location.href);
url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
const status = document.getElementById("status");

// Each client resolves to { ms, messages, bytes }, timed from `open` to the last message.
function receiveWith(Socket) {
  return new Promise((resolve, reject) => {
    const socket = new Socket(url.href);
    let started = 0, received = 0, bytes = 0;
    socket.onopen = () => { started = performance.now(); };
    socket.onmessage = (event) => {
      bytes += event.data.length;
      if (++received === count) {
        resolve({ ms: performance.now() - started, messages: count, bytes });
        socket.onclose = null;
      }
    };
    socket.onclose = (event) =>
      reject(new Error(`closed (${event.code} ${event.reason}) after ${received} of ${count} messages`));
  });
}

const clients = {
  "raw-js": () => receiveWith(WebSocket),
  "rust-handlers": () => benchReceiveRust(url.href, count),
  "js-class": () => receiveWith(FerroSocket),
};
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function run() {
  await init();
  const rates = Object.fromEntries(Object.keys(clients).map((name) => [name, []]));
  for (let round = 1; round <= rounds; round++) {
    for (const [name, receive] of Object.entries(clients)) {
      status.textContent = `round ${round} of ${rounds}: ${name}`;
      const { ms, bytes } = await receive();
      if (bytes !== count * size) throw new Error(`${name} received ${bytes} bytes, expected ${count * size}`);
      rates[name].push(count / (ms / 1000));
    }
  }
  const base = median(rates["raw-js"]);
  const result = { count, size, rounds, userAgent: navigator.userAgent, clients: {} };
  const body = document.getElementById("results");
  for (const [name, runs] of Object.entries(rates)) {
    const rate = median(runs);
    result.clients[name] = { rate, ratio: rate / base, runs };
    const row = body.insertRow();
    for (const cell of [name, rate.toFixed(0), `${(rate / base).toFixed(2)}×`, runs.map((r) => r.toFixed(0)).join(", ")]) {
      row.insertCell().textContent = cell;
    }
  }
  status.textContent = "done";
  return result;
}

window.benchResult = run().catch((error) => {
  status.textContent = `failed: ${error.message}`;
  return { error: error.message };
});
