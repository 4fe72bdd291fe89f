// The script of index.html, kept in a file of its own so the page's Content-Security-Policy
// can forbid inline scripts.
import init, { startChat } from "./pkg/ferrosocket.js";

// ?theme=light or ?theme=dark forces a colour theme (for screenshots); otherwise the
// system's preference (prefers-color-scheme) chooses.
const theme = new URLSearchParams(location.search).get("theme");
if (theme === "light" || theme === "dark") document.documentElement.dataset.theme = theme;

try {
  await init();
  window.chatApp = startChat("/chat");
} catch (error) {
  const state = document.getElementById("connection-state");
  state.dataset.state = "error";
  state.textContent = "Could not start: build the wasm package with scripts/run.sh";
  throw error;
}
