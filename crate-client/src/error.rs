//! One error type per operation, each variant a case a caller can act on.

use std::fmt;

use ferrosocket_wire::{CloseCodeError, CloseReasonError};
use wasm_bindgen::{JsCast, JsValue};

use crate::state::ReadyState;

/// A value thrown by the browser, turned into Rust data at the boundary.
///
/// # Examples
/// ```
/// let err = ferrosocket::JsError { name: "SyntaxError".into(), message: "bad URL".into() };
/// assert_eq!(err.to_string(), "SyntaxError: bad URL");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsError {
    /// The exception's `name`, e.g. `SyntaxError` (empty when the value was not an `Error`).
    pub name: String,
    /// The exception's `message`, or the thrown value as a string.
    pub message: String,
}

impl From<JsValue> for JsError {
    fn from(value: JsValue) -> Self {
        match value.dyn_ref::<js_sys::Error>() {
            Some(error) => JsError {
                name: error.name().into(),
                message: error.message().into(),
            },
            None => JsError {
                name: String::new(),
                message: thrown_text(&value),
            },
        }
    }
}

/// What `String(value)` gives for a thrown value that is not an `Error`, without `Debug`
/// (whose JavaScript side, `debugString`, would ship in every module).
fn thrown_text(value: &JsValue) -> String {
    if let Some(text) = value.as_string() {
        return text;
    }
    if value.is_undefined() {
        return "undefined".into();
    }
    if value.is_null() {
        return "null".into();
    }
    value.unchecked_ref::<js_sys::Object>().to_string().into()
}

/// Writes `text` in double quotes (error messages quote the caller's input).
fn quoted(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    f.write_str("\"")?;
    f.write_str(text)?;
    f.write_str("\"")
}

/// Writes "the browser refused to `what`: `err`".
fn browser(f: &mut fmt::Formatter<'_>, what: &str, err: &JsError) -> fmt::Result {
    f.write_str("the browser refused to ")?;
    f.write_str(what)?;
    f.write_str(": ")?;
    fmt::Display::fmt(err, f)
}

impl fmt::Display for JsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.name.is_empty() {
            f.write_str(&self.message)
        } else {
            f.write_str(&self.name)?;
            f.write_str(": ")?;
            f.write_str(&self.message)
        }
    }
}

impl std::error::Error for JsError {}

/// Why a socket could not be opened.
///
/// # Examples
/// ```no_run
/// use ferrosocket::{OpenError, WebSocket};
/// match WebSocket::open("ftp://example.com/") {
///     Err(OpenError::UnsupportedScheme { scheme, .. }) => assert_eq!(scheme, "ftp:"),
///     other => panic!("{other:?}"),
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OpenError {
    /// The URL could not be parsed, even relative to the page's location.
    InvalidUrl {
        /// The URL as given.
        url: String,
    },
    /// The URL's scheme is not `ws:`, `wss:`, `http:` or `https:`.
    UnsupportedScheme {
        /// The URL as given.
        url: String,
        /// The scheme found, with its colon (e.g. `ftp:`).
        scheme: String,
    },
    /// The URL has a `#fragment`, which WebSocket URLs may not carry.
    Fragment {
        /// The URL as given.
        url: String,
    },
    /// A subprotocol is not a valid HTTP token, or is offered twice.
    InvalidProtocol {
        /// The offending protocol.
        protocol: String,
        /// Why it is invalid.
        reason: &'static str,
    },
    /// This JavaScript environment has no `WebSocket` constructor.
    NotSupported,
    /// The browser refused to open the socket.
    Browser(JsError),
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::InvalidUrl { url } => {
                f.write_str("invalid WebSocket URL ")?;
                quoted(f, url)
            }
            OpenError::UnsupportedScheme { url, scheme } => {
                f.write_str("unsupported scheme ")?;
                quoted(f, scheme)?;
                f.write_str(" in ")?;
                quoted(f, url)?;
                f.write_str(": use ws:, wss:, http: or https:")
            }
            OpenError::Fragment { url } => {
                f.write_str("WebSocket URL ")?;
                quoted(f, url)?;
                f.write_str(" must not have a #fragment")
            }
            OpenError::InvalidProtocol { protocol, reason } => {
                f.write_str("invalid subprotocol ")?;
                quoted(f, protocol)?;
                f.write_str(": ")?;
                f.write_str(reason)
            }
            OpenError::NotSupported => f.write_str("this browser does not support WebSocket"),
            OpenError::Browser(err) => browser(f, "open the socket", err),
        }
    }
}

impl std::error::Error for OpenError {}

/// Why a message was not sent.
///
/// # Examples
/// ```no_run
/// use ferrosocket::{ReadyState, SendError, WebSocket};
/// let socket = WebSocket::open("/echo").unwrap();
/// // Still connecting: the browser would throw; this is a value instead.
/// assert_eq!(socket.send_text("early"), Err(SendError::NotOpen(ReadyState::Connecting)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// The socket is not open; the browser would have thrown (while connecting) or
    /// silently dropped the data (while closing or closed).
    NotOpen(ReadyState),
    /// The browser refused the data.
    Browser(JsError),
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::NotOpen(state) => {
                f.write_str("cannot send: the socket is ")?;
                f.write_str(state.name())?;
                f.write_str(", not Open")
            }
            SendError::Browser(err) => browser(f, "send", err),
        }
    }
}

impl std::error::Error for SendError {}

/// Why `close` was refused.
///
/// # Examples
/// ```no_run
/// use ferrosocket::{CloseError, WebSocket};
/// let socket = WebSocket::open("/echo").unwrap();
/// assert!(matches!(socket.close_with(1006, ""), Err(CloseError::Code(_))));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseError {
    /// The code is not `1000` or in `3000..=4999`.
    Code(CloseCodeError),
    /// The reason is longer than 123 UTF-8 bytes.
    Reason(CloseReasonError),
    /// The browser refused to close.
    Browser(JsError),
}

impl fmt::Display for CloseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseError::Code(err) => err.fmt(f),
            CloseError::Reason(err) => err.fmt(f),
            CloseError::Browser(err) => browser(f, "close", err),
        }
    }
}

impl std::error::Error for CloseError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CloseError::Code(err) => Some(err),
            CloseError::Reason(err) => Some(err),
            CloseError::Browser(err) => Some(err),
        }
    }
}

impl From<CloseCodeError> for CloseError {
    fn from(err: CloseCodeError) -> Self {
        CloseError::Code(err)
    }
}

impl From<CloseReasonError> for CloseError {
    fn from(err: CloseReasonError) -> Self {
        CloseError::Reason(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The messages users read: the input quoted as given, the state named, the fix said.
    #[test]
    fn messages_quote_the_input_and_say_what_to_do() {
        let cases: [(Box<dyn std::error::Error>, &str); 5] = [
            (
                Box::new(OpenError::InvalidUrl {
                    url: "ws://[::1".into(),
                }),
                r#"invalid WebSocket URL "ws://[::1""#,
            ),
            (
                Box::new(OpenError::UnsupportedScheme {
                    url: "ftp://example.org/".into(),
                    scheme: "ftp:".into(),
                }),
                r#"unsupported scheme "ftp:" in "ftp://example.org/": use ws:, wss:, http: or https:"#,
            ),
            (
                Box::new(OpenError::Fragment {
                    url: "/echo#x".into(),
                }),
                r#"WebSocket URL "/echo#x" must not have a #fragment"#,
            ),
            (
                Box::new(OpenError::InvalidProtocol {
                    protocol: "a b".into(),
                    reason: "contains a space",
                }),
                r#"invalid subprotocol "a b": contains a space"#,
            ),
            (
                Box::new(SendError::NotOpen(ReadyState::Connecting)),
                "cannot send: the socket is Connecting, not Open",
            ),
        ];
        for (error, expected) in cases {
            assert_eq!(error.to_string(), expected);
        }
    }
}
