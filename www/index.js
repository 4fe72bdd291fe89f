// The script of index.html, kept in a file of its own so the page's Content-Security-Policy
// can forbid inline scripts.
import init, { startChatPage } from "./pkg/ferrosocket.js";

// ?theme=light or ?theme=dark forces a colour theme (for screenshots); otherwise the
// system's preference (prefers-color-scheme) chooses.
const theme = new URLSearchParams(location.search).get("theme");
if (theme === "light" || theme === "dark") document.documentElement.dataset.theme = theme;

try {
  await init();
  // Signs in first when the server wants a token (?token=… in the address, or the demo
  // sign-in form of a server started with --auth-demo).
  window.chatApp = await startChatPage("/chat");
} catch (error) {
  const state = document.getElementById("connection-state");
  state.dataset.state = "error";
  state.textContent = "Could not start: build the wasm package with scripts/run.sh";
  throw error;
}
