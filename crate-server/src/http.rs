//! Routing of one HTTP request: WebSocket endpoints by path, operations endpoints, and
//! files for everything else.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use ferrosocket_wire::{chat, endpoints};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};

use crate::chat::{PlainSession, ProtocolSession};
use crate::echo::{EchoOptions, EchoSession};
use crate::firehose::Firehose;
use crate::state::AppState;
use crate::{static_files, upgrade};

/// The body type of every response this server writes.
pub(crate) type Body = Full<Bytes>;

/// The subprotocols `/chat` speaks.
const CHAT_SUBPROTOCOLS: &[&str] = &[chat::SUBPROTOCOL];

pub(crate) async fn route(
    req: Request<Incoming>,
    state: Arc<AppState>,
    peer: SocketAddr,
) -> Result<Response<Body>, Infallible> {
    let response = match req.uri().path() {
        endpoints::ECHO => match EchoOptions::from_query(req.uri().query()) {
            Ok(options) => upgrade::accept(req, &state, peer, endpoints::ECHO_SUBPROTOCOLS, {
                move |_, _, outbox| {
                    if let Some(frame) = options.close {
                        outbox.close_signal().close(frame.code, &frame.reason);
                    }
                    EchoSession { mute: options.mute }
                }
            }),
            Err(problem) => text(StatusCode::BAD_REQUEST, format!("{problem}\n")),
        },
        endpoints::CHAT => upgrade::accept(req, &state, peer, CHAT_SUBPROTOCOLS, {
            |state, protocol, outbox| match protocol {
                Some(_) => ChatSession::Protocol(ProtocolSession::start(state, outbox)),
                None => ChatSession::Plain(PlainSession::start(state, outbox)),
            }
        }),
        "/healthz" => match state.hub.backplane() {
            Some(backplane) if !backplane.is_up() => text(
                StatusCode::SERVICE_UNAVAILABLE,
                "redis unavailable: local rooms work, sends are refused until it is back\n",
            ),
            _ => text(StatusCode::OK, "ok\n"),
        },
        "/test/drop" if state.config.test_endpoints => drop_connections(&state, req.uri().query()),
        "/test/firehose" if state.config.test_endpoints => {
            match Firehose::from_query(req.uri().query()) {
                Ok(firehose) => upgrade::accept(req, &state, peer, &[], move |_, _, _| firehose),
                Err(problem) => text(StatusCode::BAD_REQUEST, format!("{problem}\n")),
            }
        }
        "/test/unavailable" if state.config.test_endpoints => {
            refuse_sends(&state, req.uri().query())
        }
        "/metrics" => Response::builder()
            .header("content-type", "text/plain; version=0.0.4; charset=utf-8")
            .body(Full::new(Bytes::from(metrics_text(&state))))
            .expect("static headers are valid"),
        _ => static_files::serve(&state.config.www, &req).await,
    };
    Ok(response)
}

/// `/test/unavailable?ms=N`: refuses chat sends as `unavailable` for N milliseconds, as a
/// lost Redis backplane would.
fn refuse_sends(state: &AppState, query: Option<&str>) -> Response<Body> {
    let ms = query_number(query, "ms");
    state.refuse_sends(std::time::Duration::from_millis(ms));
    test_response(format!("refusing sends for {ms} ms\n"))
}

fn query_number(query: Option<&str>, name: &str) -> u64 {
    query_pairs(query)
        .find_map(|(key, value)| (key == name).then(|| value.parse().ok()).flatten())
        .unwrap_or(0)
}

/// The `name=value` pairs of a query string, in order (pairs without `=` are skipped).
pub(crate) fn query_pairs(query: Option<&str>) -> impl Iterator<Item = (&str, &str)> {
    query
        .unwrap_or("")
        .split('&')
        .filter_map(|pair| pair.split_once('='))
}

/// A test endpoint's answer, readable from test pages on other origins.
fn test_response(body: String) -> Response<Body> {
    let mut response = text(StatusCode::OK, body);
    response.headers_mut().insert(
        hyper::header::ACCESS_CONTROL_ALLOW_ORIGIN,
        hyper::header::HeaderValue::from_static("*"),
    );
    response
}

/// `/test/drop?outage_ms=N`: drops every WebSocket at once without a close frame (clients
/// see 1006, as after a network failure) and refuses new ones for N milliseconds.
fn drop_connections(state: &AppState, query: Option<&str>) -> Response<Body> {
    let outage_ms = query_number(query, "outage_ms");
    let dropped = state.metrics.connections_open();
    state.drop_all(std::time::Duration::from_millis(outage_ms));
    test_response(format!("dropped {dropped} connections\n"))
}

/// `/metrics`: the server's counters, plus the backplane's when there is one.
fn metrics_text(state: &AppState) -> String {
    let mut text = state.metrics.render();
    if let Some(backplane) = state.hub.backplane() {
        text.push_str(&format!(
            "# HELP ferrosocket_redis_up Whether the Redis backplane subscription is live.\n\
             # TYPE ferrosocket_redis_up gauge\nferrosocket_redis_up {}\n\
             # HELP ferrosocket_redis_errors_total Failed Redis operations.\n\
             # TYPE ferrosocket_redis_errors_total counter\nferrosocket_redis_errors_total {}\n",
            u8::from(backplane.is_up()),
            backplane.errors()
        ));
    }
    text
}

/// A `/chat` connection, in whichever dialect the client asked for.
#[derive(Debug)]
enum ChatSession {
    Plain(PlainSession),
    Protocol(ProtocolSession),
}

impl crate::connection::Handler for ChatSession {
    async fn on_message(
        &mut self,
        message: tokio_tungstenite::tungstenite::Message,
        outbox: &crate::outbox::Outbox,
    ) {
        match self {
            ChatSession::Plain(session) => session.on_message(message, outbox).await,
            ChatSession::Protocol(session) => session.on_message(message, outbox).await,
        }
    }

    async fn on_start(&mut self, outbox: &crate::outbox::Outbox) {
        match self {
            ChatSession::Plain(session) => session.on_start(outbox).await,
            ChatSession::Protocol(session) => session.on_start(outbox).await,
        }
    }

    fn on_end(&mut self) {
        match self {
            ChatSession::Plain(session) => session.on_end(),
            ChatSession::Protocol(session) => session.on_end(),
        }
    }
}

/// A plain-text response with `status`.
pub(crate) fn text(status: StatusCode, body: impl Into<String>) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain; charset=utf-8")
        .body(Full::new(Bytes::from(body.into())))
        .expect("static headers are valid")
}
