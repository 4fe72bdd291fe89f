//! The JavaScript classes: `FerroSocket` (the JavaScript face of
//! [`WebSocket`](crate::WebSocket)), `ReconnectingSocket` and `ChatClient`.
//!
//! `FerroSocket` is a class of its own that extends the browser's `EventTarget`, so code
//! written for the browser's `WebSocket` runs unchanged.
//!
//! ```js
//! import init, { FerroSocket } from "./pkg/ferrosocket.js";
//! await init();
//! const socket = new FerroSocket("/echo");
//! socket.addEventListener("open", () => socket.send("hello"));
//! socket.onmessage = (event) => console.log(event.data);
//! ```
//!
//! Why a hand-written JavaScript class (`crate-client/js/socket.js`) over a Rust core
//! ([`SocketCore`]) rather than one exported Rust struct:
//! - lifetime: a browser keeps a connecting or open socket alive while it has listeners,
//!   even with no reference from the page. A wasm-bindgen struct's wrapper is freed (and
//!   the socket closed) when the page drops it, and Rust cannot hold its own wrapper. Here
//!   the core holds the JavaScript object's dispatch function until the close event, which
//!   keeps the object reachable exactly while the connection can still deliver events;
//! - events: `extends EventTarget` gives `addEventListener`, `once`, `handleEvent`
//!   objects, `event.target`, ordering and exception reporting from the browser itself.
//!
//! The class is re-exported from the package's main module (`reexport`), so
//! `import { FerroSocket } from "./pkg/ferrosocket.js"` keeps working.
//!
//! One file per class: `socket` (`FerroSocket`), `reconnecting` (`ReconnectingSocket`),
//! `chat` (`ChatClient`); `resilient` holds what the last two share (options, the
//! hold that keeps them alive, their JavaScript classes), `convert` the conversions every
//! class uses and `events` the event objects.

#[cfg(feature = "js-chat")]
mod chat;
mod convert;
mod events;
mod reconnecting;
mod resilient;
mod socket;

use wasm_bindgen::prelude::*;

#[cfg(feature = "js-chat")]
pub use chat::ChatClient;
pub use reconnecting::ReconnectingSocket;
#[cfg(feature = "js-chat")]
pub use resilient::chat_client_class;
pub use resilient::{reconnecting_socket_class, ReconnectingSocketOptions, UrlSource};
pub use socket::{ferro_socket_class, SocketCore, SocketData};

/// Runs when the module is instantiated: gives the JavaScript classes (`FerroSocket`,
/// `ReconnectingSocket`, `ChatClient`) the way to make their Rust cores.
#[wasm_bindgen(start, skip_typescript)]
fn install_js_classes() {
    socket::install_ferro_socket();
    resilient::install_resilient_classes();
}
