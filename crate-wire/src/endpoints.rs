//! The WebSocket endpoints the server exposes, by path.

/// Echo endpoint: every text and binary message is returned unchanged.
pub const ECHO: &str = "/echo";
