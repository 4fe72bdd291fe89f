//! Close codes and reasons, validated the way browsers validate `WebSocket.close()`.
//!
//! See [RFC 6455 §7.4](https://www.rfc-editor.org/rfc/rfc6455#section-7.4) and
//! [MDN: `WebSocket.close()`](https://developer.mozilla.org/en-US/docs/Web/API/WebSocket/close).

use std::fmt;

/// The longest close reason, in UTF-8 bytes, that fits a close frame (125 − 2 code bytes).
pub const MAX_CLOSE_REASON_BYTES: usize = 123;

/// A close code an application may send: `1000` (normal closure) or `3000..=4999`.
///
/// Browsers throw `InvalidAccessError` for any other code; this type turns that into a
/// value checked before the browser is asked.
///
/// # Examples
/// ```
/// use ferrosocket_wire::CloseCode;
/// assert_eq!(CloseCode::new(4001).unwrap().get(), 4001);
/// assert!(CloseCode::new(1006).is_err());
/// assert_eq!(CloseCode::NORMAL.get(), 1000);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CloseCode(u16);

impl CloseCode {
    /// `1000`: the purpose of the connection has been fulfilled.
    pub const NORMAL: CloseCode = CloseCode(1000);

    /// `4000`: the client's heartbeat heard nothing within its timeout and gave up on the
    /// connection (sent by `ResilientSocket`, reason `heartbeat timeout`).
    pub const HEARTBEAT_TIMEOUT: CloseCode = CloseCode(4000);

    /// `4001`: the connection did not open within the client's connect timeout (sent by
    /// `ResilientSocket`, reason `connect timeout`, when the server got that far).
    pub const CONNECT_TIMEOUT: CloseCode = CloseCode(4001);

    /// Validates `code` as one an application may send.
    pub fn new(code: u16) -> Result<Self, CloseCodeError> {
        match code {
            1000 | 3000..=4999 => Ok(CloseCode(code)),
            _ => Err(CloseCodeError { code }),
        }
    }

    /// Whether a server may send `code` in a close frame: the application range
    /// (1000, 3000–4999) plus the codes RFC 6455 and its registry reserve for endpoints to
    /// report conditions (1001–1003, 1007–1014). 1004–1006 and 1015 never appear on the wire.
    ///
    /// # Examples
    /// ```
    /// use ferrosocket_wire::CloseCode;
    /// assert!(CloseCode::server_may_send(1013));
    /// assert!(!CloseCode::server_may_send(1006));
    /// ```
    pub fn server_may_send(code: u16) -> bool {
        matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }

    /// The numeric code.
    pub fn get(self) -> u16 {
        self.0
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A close code outside `1000` and `3000..=4999`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseCodeError {
    /// The rejected code.
    pub code: u16,
}

impl fmt::Display for CloseCodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "close code {} is not allowed: use 1000 or a code from 3000 to 4999",
            self.code
        )
    }
}

impl std::error::Error for CloseCodeError {}

/// A close reason of at most [`MAX_CLOSE_REASON_BYTES`] UTF-8 bytes.
///
/// # Examples
/// ```
/// use ferrosocket_wire::CloseReason;
/// assert_eq!(CloseReason::new("bye").unwrap().as_str(), "bye");
/// assert!(CloseReason::new(&"é".repeat(62)).is_err()); // 124 bytes
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct CloseReason(String);

impl CloseReason {
    /// Validates the length of `reason` in UTF-8 bytes.
    pub fn new(reason: &str) -> Result<Self, CloseReasonError> {
        if reason.len() > MAX_CLOSE_REASON_BYTES {
            return Err(CloseReasonError { len: reason.len() });
        }
        Ok(CloseReason(reason.to_owned()))
    }

    /// The reason text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A close reason longer than [`MAX_CLOSE_REASON_BYTES`] UTF-8 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseReasonError {
    /// The length of the rejected reason in UTF-8 bytes.
    pub len: usize,
}

impl fmt::Display for CloseReasonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "close reason is {} UTF-8 bytes long; at most {MAX_CLOSE_REASON_BYTES} fit in a close frame",
            self.len
        )
    }
}

impl std::error::Error for CloseReasonError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_exactly_the_codes_browsers_accept() {
        for code in [1000, 3000, 3999, 4000, 4999] {
            assert!(CloseCode::new(code).is_ok(), "{code} should be accepted");
        }
        for code in [0, 999, 1001, 1005, 1006, 1011, 2999, 5000, u16::MAX] {
            let err = CloseCode::new(code).unwrap_err();
            assert_eq!(err.code, code);
            assert!(err.to_string().contains(&code.to_string()));
        }
    }

    #[test]
    fn reason_limit_counts_utf8_bytes_not_chars() {
        assert!(CloseReason::new(&"a".repeat(123)).is_ok());
        assert_eq!(CloseReason::new(&"a".repeat(124)).unwrap_err().len, 124);
        // 41 three-byte characters = 123 bytes: fits; 42 = 126: does not.
        assert!(CloseReason::new(&"€".repeat(41)).is_ok());
        assert_eq!(CloseReason::new(&"€".repeat(42)).unwrap_err().len, 126);
    }
}
