//! The browser's [`WebSocket`](https://developer.mozilla.org/en-US/docs/Web/API/WebSocket)
//! for Rust compiled to WebAssembly, and for JavaScript through the exported
//! `FerroSocket` class (see [`js`]).
//!
//! - Handlers are owned values: replacing one removes the old listener, and dropping the
//!   [`WebSocket`] removes every listener and closes the connection. No closure is leaked.
//! - Binary messages arrive as `ArrayBuffer`, so text and binary keep the order they were
//!   sent in.
//! - Misuse the browser would throw on, or silently ignore, is a typed error.
//!
//! # Examples
//! ```no_run
//! use ferrosocket::{Message, WebSocket};
//!
//! let mut socket = WebSocket::open("/echo").expect("a valid URL");
//! socket.set_on_message(|message| match message {
//!     Message::Text(text) => web_sys::console::log_1(&text.into()),
//!     Message::Binary(bytes) => web_sys::console::log_1(&bytes.len().into()),
//! });
//! ```
#![deny(missing_docs, missing_debug_implementations)]

#[cfg(feature = "app")]
pub mod app;
mod drain;
mod error;
#[cfg(feature = "js")]
pub mod js;
mod message;
mod resilient;
mod session;
mod socket;
mod state;
mod stream;
mod url;

/// The chat client: [`ChatSession`](chat::ChatSession) speaks `chat.v1` over a
/// [`ResilientSocket`], with exactly-once delivery across reconnects; its options, its
/// events, the wire types they carry, and [`core`](chat::core), the sans-IO state machine
/// that holds its rules.
pub mod chat {
    pub use crate::session::core;
    pub use crate::session::{ChatEvent, ChatOptions, ChatSession, InvalidJson};
    pub use ferrosocket_wire::chat::{ErrorCode, HistoryEntry, JsonText, PresenceChange, RoomInfo};
}

/// The module's allocator when it ships the JavaScript classes (feature `js`): talc, which
/// is smaller than the default dlmalloc and faster on the many small, short-lived
/// allocations of message handling. A module that sets its own `#[global_allocator]`
/// turns the `js` feature off.
#[cfg(all(
    feature = "js",
    target_arch = "wasm32",
    not(target_feature = "atomics")
))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

/// Runs `task` on the browser's event loop. Every task of the crate goes through this one
/// instantiation of the executor's `spawn_local` (which is generic over the future, twice:
/// its task and its JSPI path) instead of one per `async` block.
pub(crate) fn spawn(task: std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>) {
    wasm_bindgen_futures::spawn_local(task);
}

pub use error::{CloseError, JsError, OpenError, SendError};
pub use ferrosocket_wire::{CloseCode, CloseReason};
pub use message::{CloseEvent, Message};
pub use resilient::{
    ConnectionState, Endpoint, EndpointFuture, Flushed, Heartbeat, Overflow, QueueLimits,
    ReconnectPolicy, ResilientError, ResilientEvent, ResilientEvents, ResilientOptions,
    ResilientSocket, SendOutcome, Sender, TokenFuture, TokenProvider,
};
pub use socket::{SocketSender, WebSocket};
pub use state::ReadyState;
pub use stream::{Event, WebSocketStream, DEFAULT_HIGH_WATER_MARK};
