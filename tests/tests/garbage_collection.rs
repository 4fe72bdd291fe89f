//! Garbage collection of sockets nobody references, forced for real in both browsers, side by
//! side with the browser's own `WebSocket`.
//!
//! The browser keeps a connecting or open `WebSocket` with listeners alive when the page
//! drops every reference to it, and lets it go once it has closed. `FerroSocket`,
//! `ReconnectingSocket` and `ChatClient` promise the same (README, docs/CLIENT.md). The
//! wasm-bindgen tests check it in Chromium only, where a page may call `gc()`; here the
//! WebDriver session forces the collection itself (`BrowserSession::collect_garbage`: `gc()`
//! in Chromium, the content processes' garbage and cycle collectors in Firefox), and a control
//! object that nothing refers to must be gone afterwards, or the run proves nothing.

use std::time::Duration;

use ferrosocket_e2e::{open_browser, start_server, Browser, BrowserSession};
use serde_json::{json, Value};

/// The four kinds of socket, each made inside a function of its own so that only a
/// `WeakRef` to it is left in `window.__gc`, with listeners that record into an array (never
/// the socket itself: an event's `target` would keep it alive). Waits until all are open.
/// One more `ReconnectingSocket` points at a port nobody listens on: it is `CONNECTING`
/// between attempts, with no browser socket at all while it waits a minute to retry.
const SETUP: &str = r#"
const [echoUrl, chatUrl, done] = arguments;
(async () => {
  const { default: init, FerroSocket, ReconnectingSocket, ChatClient } = await import("/pkg/ferrosocket.js");
  await init();
  const socket = (Socket) => (events) => {
    const socket = new Socket(echoUrl);
    socket.onopen = () => events.push("open");
    socket.onmessage = (event) => events.push(`message:${event.data}`);
    socket.onclose = () => events.push("close");
    return socket;
  };
  const make = {
    WebSocket: socket(WebSocket),
    FerroSocket: socket(FerroSocket),
    ReconnectingSocket: socket(ReconnectingSocket),
    ChatClient: (events) => {
      const chat = new ChatClient(chatUrl, { nick: "gc-survivor" });
      chat.addEventListener("welcome", () => events.push("open"));
      chat.addEventListener("joined", (event) => events.push(`message:joined ${event.room}`));
      chat.addEventListener("close", () => events.push("close"));
      return chat;
    },
  };
  make.Retrying = (events) => {
    const retrying = new ReconnectingSocket("ws://127.0.0.1:1/", [], { minReconnectionDelay: 60000 });
    retrying.onclose = () => events.push("close");
    return retrying;
  };
  const state = { refs: {}, events: {} };
  for (const [name, create] of Object.entries(make)) {
    const events = (state.events[name] = []);
    (() => {
      state.refs[name] = new WeakRef(create(events));
    })();
  }
  window.__gc = state;
  const deadline = Date.now() + 10000;
  const ready = ([name, events]) => events.includes(name === "Retrying" ? "close" : "open");
  while (!Object.entries(state.events).every(ready)) {
    if (Date.now() > deadline) throw new Error(`not all open: ${JSON.stringify(state.events)}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
})().then(() => done(null), (error) => done(String(error)));
"#;

/// A fresh control object, reachable only through a `WeakRef`.
const NEW_CONTROL: &str = r#"
(() => {
  window.__gc.control = new WeakRef({ control: new Array(1000).fill(1) });
})();
"#;

/// Which objects are still there: `{ control, WebSocket, FerroSocket, ... }`, true if alive.
const ALIVE: &str = r#"
const alive = { control: window.__gc.control.deref() !== undefined };
for (const [name, ref] of Object.entries(window.__gc.refs)) alive[name] = ref.deref() !== undefined;
return alive;
"#;

/// Through the weak references only: each one works (an echo; the chat joins a room; the
/// retrying socket is still `CONNECTING`), then is closed; waits for every `close`.
const USE_THEN_CLOSE: &str = r#"
const done = arguments[0];
(async () => {
  const { refs, events } = window.__gc;
  const until = async (name, event) => {
    const deadline = Date.now() + 10000;
    while (!events[name].includes(event)) {
      if (Date.now() > deadline) throw new Error(`${name}: no ${event} in ${JSON.stringify(events[name])}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };
  const sockets = Object.keys(refs).filter((name) => name !== "Retrying");
  for (const name of sockets) {
    if (name === "ChatClient") refs[name].deref().join("gc-room");
    else refs[name].deref().send("after gc");
  }
  for (const name of sockets) {
    await until(name, name === "ChatClient" ? "message:joined gc-room" : "message:after gc");
  }
  const retrying = refs.Retrying.deref();
  if (retrying.readyState !== retrying.CONNECTING) {
    throw new Error(`the retrying socket is in state ${retrying.readyState}, not CONNECTING`);
  }
  for (const name of Object.keys(refs)) refs[name].deref().close();
  for (const name of sockets) await until(name, "close");
})().then(() => done(null), (error) => done(String(error)));
"#;

/// Collects with a new control object and returns what is still alive; fails the test if
/// the control survived (then the collection did not happen, and nothing can be concluded).
async fn collect(session: &BrowserSession, when: &str) -> Value {
    let client = &session.client;
    client
        .execute(NEW_CONTROL, vec![])
        .await
        .expect("making the control object");
    session.collect_garbage().await;
    let alive = client
        .execute(ALIVE, vec![])
        .await
        .expect("reading the weak references");
    assert_eq!(
        alive["control"],
        json!(false),
        "{when}: the forced collection did not collect an object nothing refers to, so it \
         proves nothing: {alive}"
    );
    alive
}

async fn unreferenced_sockets_live_until_closed(browser: Browser) {
    let server = start_server(&[]).await;
    let session = open_browser(browser).await;
    let client = &session.client;
    client
        .update_timeouts(fantoccini::wd::TimeoutConfiguration::new(
            Some(Duration::from_secs(30)),
            Some(Duration::from_secs(30)),
            Some(Duration::from_secs(0)),
        ))
        .await
        .unwrap();
    // Any page of the server's origin; the module is imported by the script.
    client
        .goto(&format!("{}/plain.html", server.base_url))
        .await
        .unwrap();
    let ws = server.base_url.replacen("http://", "ws://", 1);
    let setup = client
        .execute_async(
            SETUP,
            vec![json!(format!("{ws}/echo")), json!(format!("{ws}/chat"))],
        )
        .await
        .expect("the setup script");
    assert_eq!(setup, Value::Null, "{browser:?}: setting up: {setup}");

    let open = collect(&session, "while open").await;
    assert_eq!(
        open,
        json!({
            "control": false,
            "WebSocket": true,
            "FerroSocket": true,
            "ReconnectingSocket": true,
            "ChatClient": true,
            "Retrying": true,
        }),
        "{browser:?}: an open socket with listeners and no reference from the page must \
         survive garbage collection, as the browser's WebSocket does"
    );

    let used = client
        .execute_async(USE_THEN_CLOSE, vec![])
        .await
        .expect("the use-then-close script");
    assert_eq!(
        used,
        Value::Null,
        "{browser:?}: after the collection: {used}"
    );

    let closed = collect(&session, "after close").await;
    assert_eq!(
        closed,
        json!({
            "control": false,
            "WebSocket": false,
            "FerroSocket": false,
            "ReconnectingSocket": false,
            "ChatClient": false,
            "Retrying": false,
        }),
        "{browser:?}: a closed socket nobody refers to must be released, as the browser's \
         WebSocket is"
    );
    session.close().await;
}

#[tokio::test]
async fn unreferenced_sockets_live_until_closed_in_chromium() {
    unreferenced_sockets_live_until_closed(Browser::Chromium).await;
}

#[tokio::test]
async fn unreferenced_sockets_live_until_closed_in_firefox() {
    unreferenced_sockets_live_until_closed(Browser::Firefox).await;
}
