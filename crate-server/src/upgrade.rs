//! The WebSocket opening handshake (RFC 6455 §4.2) on top of hyper's HTTP/1.1 upgrade,
//! with the checks made before saying yes: the handshake itself, the Origin, and the
//! connection limits.
//!
//! Refusals are HTTP answers, not hangs or dropped connections: 405 for a method other than
//! GET, 426 (naming the supported version) for a plain HTTP request or an unsupported
//! `Sec-WebSocket-Version`, 400 for a missing or malformed `Sec-WebSocket-Key`, 403 for a
//! foreign Origin, 503 when the server is full and 429 when one address has too many
//! connections.

use std::net::SocketAddr;
use std::sync::Arc;

use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;

use crate::connection::{drive, new_outbox, Handler};
use crate::http_parts::{text, Body};
use crate::lazy_buf::LazyBuf;
use crate::limits::AdmissionError;
use crate::log_throttle::LogKind;
use crate::metrics::HandshakeRejection;
use crate::outbox::Outbox;
use crate::state::AppState;

/// Answers the handshake in `req` and, once the connection is upgraded, runs the session
/// that `start` makes for it (given the selected subprotocol, if any, from `protocols`).
pub(crate) fn accept<H>(
    req: Request<hyper::body::Incoming>,
    state: &Arc<AppState>,
    peer: SocketAddr,
    protocols: &'static [&'static str],
    start: impl FnOnce(Arc<AppState>, Option<&'static str>, &Outbox) -> H + Send + 'static,
) -> Response<Body>
where
    H: Handler + Send + 'static,
{
    let accept_key = match check_handshake(req.method(), req.headers()) {
        Ok(key) => key,
        Err(rejection) => {
            state.metrics.rejected(HandshakeRejection::Malformed);
            return rejection.into_response();
        }
    };
    if !state.origins.allows(req.headers(), state.tls) {
        state.metrics.rejected(HandshakeRejection::Origin);
        let origin = req
            .headers()
            .get(header::ORIGIN)
            .and_then(|o| o.to_str().ok())
            .unwrap_or("?");
        if state.metrics.should_log(LogKind::Origin) {
            tracing::info!(%peer, origin, "refused a handshake from a foreign origin");
        }
        return text(
            StatusCode::FORBIDDEN,
            format!("origin {origin} may not open WebSockets here (see --allow-origin)\n"),
        );
    }
    if state.test.in_outage() {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "simulated outage (/test/drop)\n",
        );
    }
    let permit = match state.limiter.admit(peer.ip()) {
        Ok(permit) => permit,
        Err(AdmissionError::Full) => {
            state.metrics.rejected(HandshakeRejection::Capacity);
            return text(
                StatusCode::SERVICE_UNAVAILABLE,
                "the server is at its connection limit; try again later\n",
            );
        }
        Err(AdmissionError::PerIp) => {
            state.metrics.rejected(HandshakeRejection::PerIp);
            return text(
                StatusCode::TOO_MANY_REQUESTS,
                "too many connections from your address\n",
            );
        }
    };
    let protocol = select_protocol(req.headers(), protocols);
    let path = req.uri().path().to_owned();
    let ws_config = WebSocketConfig::default()
        .max_message_size(Some(state.config.max_message_bytes))
        .max_frame_size(Some(state.config.max_message_bytes))
        // Reads arrive through `LazyBuf` (64 KiB at a time, no buffer while idle), so
        // tungstenite's own read buffer, held for the connection's life, stays small.
        .read_buffer_size(512)
        // Frames fed in one batch (connection.rs) leave in one write; the buffer is empty,
        // and costs nothing, on idle connections.
        .write_buffer_size(64 * 1024)
        .accept_unmasked_frames(false);

    let tracker = state.connections.clone();
    let state = Arc::clone(state);
    let task = async move {
        let _permit = permit;
        let upgraded = match hyper::upgrade::on(req).await {
            Ok(upgraded) => upgraded,
            Err(err) => {
                tracing::debug!(%peer, %err, "upgrade failed");
                return;
            }
        };
        state.metrics.connection_opened();
        tracing::debug!(%peer, %path, ?protocol, "websocket opened");
        let (outbox, outbox_rx) = new_outbox(&state);
        let session = start(Arc::clone(&state), protocol, &outbox);
        let socket = WebSocketStream::from_raw_socket(
            LazyBuf::new(TokioIo::new(upgraded)),
            Role::Server,
            Some(ws_config),
        )
        .await;
        drive(socket, &state, outbox, outbox_rx, session).await;
        state.metrics.connection_closed();
        tracing::debug!(%peer, %path, "websocket closed");
    };
    tracker.spawn(task);

    let mut response = Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "upgrade")
        .header(header::UPGRADE, "websocket")
        .header(header::SEC_WEBSOCKET_ACCEPT, accept_key);
    if let Some(protocol) = protocol {
        response = response.header(header::SEC_WEBSOCKET_PROTOCOL, protocol);
    }
    response
        .body(Body::empty())
        .expect("handshake headers are valid")
}

/// Whether `headers` make a valid handshake (for the fuzz targets).
pub(crate) fn check(method: &Method, headers: &HeaderMap) -> bool {
    check_handshake(method, headers).is_ok()
}

/// The first subprotocol the client offers that the endpoint supports.
fn select_protocol(
    headers: &HeaderMap,
    supported: &'static [&'static str],
) -> Option<&'static str> {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .find_map(|offered| supported.iter().copied().find(|s| *s == offered.trim()))
}

/// Why a request to a WebSocket path is not a handshake we can accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rejection {
    /// Not GET: 405.
    Method,
    /// No `Connection: Upgrade` + `Upgrade: websocket`, e.g. plain HTTP: 426.
    NotAnUpgrade,
    /// `Sec-WebSocket-Version` other than 13: 426 naming the supported version.
    Version,
    /// `Sec-WebSocket-Key` missing or not 16 base64-encoded bytes: 400.
    Key,
}

impl Rejection {
    fn into_response(self) -> Response<Body> {
        let (status, message) = match self {
            Rejection::Method => (
                StatusCode::METHOD_NOT_ALLOWED,
                "a WebSocket handshake must use GET\n",
            ),
            Rejection::NotAnUpgrade => (
                StatusCode::UPGRADE_REQUIRED,
                "this is a WebSocket endpoint: connect with a WebSocket client \
                 (Connection: Upgrade, Upgrade: websocket)\n",
            ),
            Rejection::Version => (
                StatusCode::UPGRADE_REQUIRED,
                "unsupported Sec-WebSocket-Version: use 13\n",
            ),
            Rejection::Key => (
                StatusCode::BAD_REQUEST,
                "missing or malformed Sec-WebSocket-Key (must be 16 bytes, base64-encoded)\n",
            ),
        };
        let mut res = text(status, message);
        let headers = res.headers_mut();
        match self {
            Rejection::Method => {
                headers.insert(header::ALLOW, HeaderValue::from_static("GET"));
            }
            Rejection::NotAnUpgrade | Rejection::Version => {
                headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
                headers.insert(
                    header::SEC_WEBSOCKET_VERSION,
                    HeaderValue::from_static("13"),
                );
            }
            Rejection::Key => {}
        }
        res
    }
}

/// Validates the client's handshake and returns the `Sec-WebSocket-Accept` value.
fn check_handshake(method: &Method, headers: &HeaderMap) -> Result<String, Rejection> {
    if method != Method::GET {
        return Err(Rejection::Method);
    }
    if !(has_token(headers, header::CONNECTION, "upgrade")
        && has_token(headers, header::UPGRADE, "websocket"))
    {
        return Err(Rejection::NotAnUpgrade);
    }
    if headers.get(header::SEC_WEBSOCKET_VERSION) != Some(&HeaderValue::from_static("13")) {
        return Err(Rejection::Version);
    }
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .filter(|key| is_valid_key(key.as_bytes()))
        .ok_or(Rejection::Key)?;
    Ok(derive_accept_key(key.as_bytes()))
}

/// Whether a comma-separated header contains `token`, case-insensitively.
fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|part| part.trim().eq_ignore_ascii_case(token))
}

/// A key is 16 random bytes in base64: 22 base64 characters followed by `==`.
fn is_valid_key(key: &[u8]) -> bool {
    key.len() == 24
        && key.ends_with(b"==")
        && key[..22]
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handshake(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_static(value));
        }
        headers
    }

    const GOOD: &[(&str, &str)] = &[
        ("connection", "keep-alive, Upgrade"),
        ("upgrade", "WebSocket"),
        ("sec-websocket-version", "13"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ];

    #[test]
    fn accepts_the_rfc_example_and_derives_its_accept_key() {
        let accept = check_handshake(&Method::GET, &handshake(GOOD)).unwrap();
        assert_eq!(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn selects_the_first_offered_protocol_the_endpoint_supports() {
        let supported = &["echo.v1", "echo.v2"];
        let offered = handshake(&[("sec-websocket-protocol", "chat.v9, echo.v2, echo.v1")]);
        assert_eq!(select_protocol(&offered, supported), Some("echo.v2"));
        let none = handshake(&[("sec-websocket-protocol", "chat.v9")]);
        assert_eq!(select_protocol(&none, supported), None);
        assert_eq!(select_protocol(&HeaderMap::new(), supported), None);
    }

    #[test]
    fn rejects_each_broken_header_with_its_status() {
        let status = |method: Method, pairs: &[(&'static str, &'static str)]| {
            check_handshake(&method, &handshake(pairs))
                .unwrap_err()
                .into_response()
                .status()
        };
        assert_eq!(status(Method::POST, GOOD), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(
            status(Method::GET, &GOOD[2..]),
            StatusCode::UPGRADE_REQUIRED
        );
        let mut v8 = GOOD.to_vec();
        v8[2] = ("sec-websocket-version", "8");
        assert_eq!(status(Method::GET, &v8), StatusCode::UPGRADE_REQUIRED);
        assert_eq!(status(Method::GET, &GOOD[..3]), StatusCode::BAD_REQUEST);
        let mut short = GOOD.to_vec();
        short[3] = ("sec-websocket-key", "c2hvcnQ=");
        assert_eq!(status(Method::GET, &short), StatusCode::BAD_REQUEST);
    }
}
