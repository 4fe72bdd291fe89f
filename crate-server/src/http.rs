//! Routing of one HTTP request: WebSocket endpoints by path, operations endpoints, and
//! files for everything else. With `--admin-addr`, `/metrics` and the test endpoints are
//! served only on the admin listener, and the admin listener serves nothing else (but
//! `/healthz`). With `--metrics-token`, `/metrics` and the test endpoints also require
//! that bearer token, on whichever listener serves them.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use ferrosocket_wire::{chat, endpoints};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};

use crate::admin_token::AdminToken;
use crate::auth::{self, Access, AuthError};
use crate::chat::{PlainSession, ProtocolSession};
use crate::echo::{EchoOptions, EchoSession};
use crate::http_parts::{text, Body};
use crate::metrics::HandshakeRejection;
use crate::state::AppState;
use crate::{static_files, test_endpoints, upgrade};

/// The subprotocols `/chat` speaks.
const CHAT_SUBPROTOCOLS: &[&str] = &[chat::SUBPROTOCOL];

/// Which listener a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Listener {
    /// `--addr`: pages and WebSockets (and, without `--admin-addr`, everything).
    Public,
    /// `--admin-addr`: `/metrics`, the test endpoints and `/healthz` only.
    Admin,
}

/// Whether `path` is an operations endpoint that `--admin-addr` moves off the public port.
fn is_admin_path(path: &str) -> bool {
    path == "/metrics" || path.starts_with("/test/")
}

pub(crate) async fn route(
    req: Request<Incoming>,
    state: Arc<AppState>,
    peer: SocketAddr,
    listener: Listener,
) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path();
    let admin_elsewhere = state.config.admin_addr.is_some() && listener == Listener::Public;
    let not_here = match listener {
        Listener::Public => admin_elsewhere && is_admin_path(path),
        Listener::Admin => !is_admin_path(path) && path != "/healthz",
    };
    if not_here {
        return Ok(text(
            StatusCode::NOT_FOUND,
            format!("{path} is not served on this address\n"),
        ));
    }
    if is_admin_path(path) {
        if let Some(token) = &state.admin_token {
            if !token.allows(req.headers()) {
                return Ok(AdminToken::refusal());
            }
        }
    }
    if state.config.test_endpoints && test_endpoints::PATHS.contains(&path) {
        return Ok(test_endpoints::route(req, &state, peer).await);
    }
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
        endpoints::CHAT => match chat_access(&state, &req) {
            Err(refusal) => *refusal,
            Ok(access) => upgrade::accept(req, &state, peer, CHAT_SUBPROTOCOLS, {
                move |state, protocol, outbox| match protocol {
                    Some(_) => ChatSession::Protocol(ProtocolSession::start(state, outbox, access)),
                    None => ChatSession::Plain(PlainSession::start(state, outbox, access)),
                }
            }),
        },
        "/healthz" => match state.hub.backplane() {
            Some(backplane) if !backplane.is_up() => text(
                StatusCode::SERVICE_UNAVAILABLE,
                "redis unavailable: local rooms work, sends are refused until it is back\n",
            ),
            _ => text(StatusCode::OK, "ok\n"),
        },
        "/metrics" => Response::builder()
            .header("content-type", "text/plain; version=0.0.4; charset=utf-8")
            .body(Body::bytes(metrics_text(&state)))
            .expect("static headers are valid"),
        _ => static_files::serve(&state.config.www, &req).await,
    };
    Ok(response)
}

/// Who a `/chat` handshake is, or its refusal: 401 for a missing or bad token (with the
/// reason, and `WWW-Authenticate` as RFC 6750 has it), 409 when the token's nickname is in
/// use by another connection here.
fn chat_access(state: &AppState, req: &Request<Incoming>) -> Result<Access, Box<Response<Body>>> {
    let Some(auth) = &state.auth else {
        return Ok(Access::Open);
    };
    let token = auth::token_of(req.uri().query(), req.headers());
    let access = auth
        .check(token.as_deref(), state.config.max_nick_len)
        .map_err(|err| {
            state.metrics.rejected(HandshakeRejection::Auth);
            let challenge = match err {
                AuthError::Missing => "Bearer realm=\"ferrosocket\"".to_owned(),
                _ => format!(
                    "Bearer realm=\"ferrosocket\", error=\"invalid_token\", error_description=\"{}\"",
                    err.to_string().replace('"', "'")
                ),
            };
            let mut response = text(StatusCode::UNAUTHORIZED, format!("{err}\n"));
            if let Ok(value) = HeaderValue::from_str(&challenge) {
                response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
            }
            Box::new(response)
        })?;
    if let Access::Token(identity) = &access {
        if state.hub.nick_in_use(&identity.nick) {
            state.metrics.rejected(HandshakeRejection::Auth);
            return Err(Box::new(text(
                StatusCode::CONFLICT,
                format!(
                    "the nickname {:?} is in use by another connection on this server\n",
                    identity.nick
                ),
            )));
        }
    }
    Ok(access)
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
