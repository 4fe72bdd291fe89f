//! The WebSocket endpoints the server exposes, by path, and what each accepts.

/// Echo endpoint: every text and binary message is returned unchanged.
///
/// Query parameters, for testing how closes propagate:
/// - `close=CODE`: right after the handshake the server closes with `CODE` (1000 or
///   3000–4999);
/// - `reason=TEXT`: the close reason to send with it (at most 123 UTF-8 bytes).
///
/// An invalid `close` or `reason` is refused with HTTP 400 before the upgrade.
pub const ECHO: &str = "/echo";

/// The subprotocols `/echo` accepts, in the server's order of preference. The server
/// selects the first protocol in the client's list that appears here; a client that
/// offers none of them is refused by its browser (the server selects nothing).
pub const ECHO_SUBPROTOCOLS: &[&str] = &["echo.v1", "echo.v2"];

/// Chat endpoint. A client that asks for [`crate::chat::SUBPROTOCOL`] speaks the JSON
/// protocol of [`crate::chat`]; a plain client (no subprotocol) is in the
/// [`crate::chat::LOBBY`] under a generated name, everything it sends is broadcast to the
/// lobby (itself included), and it receives lobby messages as `name: text`.
pub const CHAT: &str = "/chat";
