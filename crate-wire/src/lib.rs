//! Wire types shared by the ferrosocket browser client (`crate-client`, compiled to
//! WebAssembly) and the server (`crate-server`).
//!
//! This crate is the single definition of what crosses the wire: endpoint paths, close
//! codes and the rules both sides validate against. It performs no I/O, so it compiles
//! unchanged for `wasm32-unknown-unknown` and for the server.
#![deny(missing_docs, missing_debug_implementations)]

pub mod chat;
mod close;
pub mod endpoints;
mod json_text;

pub use close::{CloseCode, CloseCodeError, CloseReason, CloseReasonError, MAX_CLOSE_REASON_BYTES};
