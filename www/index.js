// The script of index.html, kept in a file of its own so the page's Content-Security-Policy
// can forbid inline scripts.
import init, { startChat } from "./pkg/ferrosocket.js";
try {
  await init();
  window.chatApp = startChat("/chat");
} catch (error) {
  const state = document.getElementById("connection-state");
  state.dataset.state = "error";
  state.textContent = "Could not start: build the wasm package with scripts/run.sh";
  throw error;
}
