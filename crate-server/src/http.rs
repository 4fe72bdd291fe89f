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
use crate::names::{self, NameClaim};
use crate::state::AppState;
use crate::{auth_page, static_files, test_endpoints, upgrade};

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
        endpoints::CHAT => match chat_access(&state, &req).await {
            Err(refusal) => *refusal,
            Ok((access, name)) => upgrade::accept(req, &state, peer, CHAT_SUBPROTOCOLS, {
                move |state, protocol, outbox| ChatSession {
                    dialect: match protocol {
                        Some(_) => {
                            ChatDialect::Protocol(ProtocolSession::start(state, outbox, access))
                        }
                        None => ChatDialect::Plain(PlainSession::start(state, outbox, access)),
                    },
                    _name: name,
                }
            }),
        },
        "/auth/check" => auth_page::check(&state, &req).await,
        "/auth/config" => auth_page::config(
            state.auth.is_some(),
            state.config.auth_allow_guests,
            state.demo.is_some(),
        ),
        "/auth/demo" => match &state.demo {
            Some(demo) => demo.serve(req, state.config.max_nick_len).await,
            None => text(
                StatusCode::NOT_FOUND,
                "this server issues no demo tokens (start it with --auth-demo to try tokens)\n",
            ),
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

/// Who a `/chat` handshake is, with the reservation of its token's nickname across
/// servers (Redis mode), or its refusal: 401 for a missing or bad token (with the reason,
/// and `WWW-Authenticate` as RFC 6750 has it), 409 when the token's nickname is in use by
/// another connection here or on another server, 503 when Redis cannot reserve it.
async fn chat_access(
    state: &AppState,
    req: &Request<Incoming>,
) -> Result<(Access, Option<NameClaim>), Box<Response<Body>>> {
    let Some(auth) = &state.auth else {
        return Ok((Access::Open, None));
    };
    // A plain GET (no `Upgrade`) is a client asking why its handshake failed (a browser
    // cannot see a 401): answered the same, but it is no handshake to count.
    let handshake = req.headers().contains_key(header::UPGRADE);
    let access = auth::token_of(req.uri().query(), req.headers())
        .and_then(|token| auth.check(token.as_deref(), state.config.max_nick_len))
        .map_err(|err| {
            if handshake {
                state.metrics.rejected(HandshakeRejection::Auth);
            }
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
            allow_reading_from_origin(state, req, &mut response);
            Box::new(response)
        })?;
    let Access::Token(identity) = &access else {
        return Ok((access, None));
    };
    let in_use = |place: &str| {
        if handshake {
            state.metrics.rejected(HandshakeRejection::Auth);
        }
        Box::new(text(
            StatusCode::CONFLICT,
            format!(
                "the nickname {:?} is in use by another connection {place}\n",
                identity.nick
            ),
        ))
    };
    if state.hub.nick_in_use(&identity.nick) {
        return Err(in_use("on this server"));
    }
    let Some(backplane) = state.hub.backplane() else {
        return Ok((access, None));
    };
    if !handshake {
        // A plain GET becomes no connection: it must not take (even briefly) the name,
        // but it hears what the handshake would (as `/auth/check` does).
        return match names::is_reserved(backplane, &identity.nick).await {
            Ok(true) => Err(in_use("on this or another server")),
            _ => Ok((access, None)),
        };
    }
    match names::reserve(backplane, &identity.nick).await {
        Ok(Some(claim)) => Ok((access, Some(claim))),
        Ok(None) => Err(in_use("on this or another server")),
        Err(_) => {
            let mut response = text(
                StatusCode::SERVICE_UNAVAILABLE,
                "redis unavailable: signed-in names cannot be reserved until it is back\n",
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
            Err(Box::new(response))
        }
    }
}

/// Lets a page of an origin this server accepts WebSockets from read the 401 (CORS), so
/// that its client can tell a refused token from a lost connection; other origins get the
/// answer without the header, which their browser keeps from the page.
fn allow_reading_from_origin(
    state: &AppState,
    req: &Request<Incoming>,
    response: &mut Response<Body>,
) {
    let Some(origin) = req.headers().get(header::ORIGIN) else {
        return;
    };
    if state.origins.allows(req.headers(), state.tls) {
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        headers.insert(header::VARY, HeaderValue::from_static("origin"));
    }
}

/// `/metrics`: the server's counters, plus the backplane's when there is one.
pub(crate) fn metrics_text(state: &AppState) -> String {
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

/// A `/chat` connection, in whichever dialect the client asked for, holding its token's
/// nickname across servers (released when the connection ends and this is dropped).
#[derive(Debug)]
struct ChatSession {
    dialect: ChatDialect,
    _name: Option<NameClaim>,
}

#[derive(Debug)]
enum ChatDialect {
    Plain(PlainSession),
    Protocol(ProtocolSession),
}

impl crate::connection::Handler for ChatSession {
    async fn on_message(
        &mut self,
        message: tokio_tungstenite::tungstenite::Message,
        outbox: &crate::outbox::Outbox,
    ) {
        match &mut self.dialect {
            ChatDialect::Plain(session) => session.on_message(message, outbox).await,
            ChatDialect::Protocol(session) => session.on_message(message, outbox).await,
        }
    }

    async fn on_start(&mut self, outbox: &crate::outbox::Outbox) {
        match &mut self.dialect {
            ChatDialect::Plain(session) => session.on_start(outbox).await,
            ChatDialect::Protocol(session) => session.on_start(outbox).await,
        }
    }

    fn on_end(&mut self) {
        match &mut self.dialect {
            ChatDialect::Plain(session) => session.on_end(),
            ChatDialect::Protocol(session) => session.on_end(),
        }
    }
}
