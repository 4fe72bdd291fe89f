//! What a page asks the server about tokens before it opens `/chat` — a browser's
//! WebSocket learns nothing of a refused handshake (just 1006), so a page that wants to say
//! *why* it cannot connect, rather than retry forever, asks here first:
//!
//! - `GET /auth/config`: `{"tokens": "off" | "optional" | "required", "demo": bool}`;
//! - `GET /auth/check` with `Authorization: Bearer <token>`: 200 `{"nick", "expires_in"}`
//!   when `/chat` would take the token now, else the status and reason `/chat` would give
//!   (401 `{"error"}` for a bad token, 409 for a name in use).

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::json;

use crate::auth::Access;
use crate::auth_demo::json_response;
use crate::http_parts::Body;
use crate::state::AppState;

/// `GET /auth/config`: whether `/chat` wants a token, and whether the demo issues them.
pub(crate) fn config(tokens: bool, guests: bool, demo: bool) -> Response<Body> {
    let tokens = match (tokens, guests) {
        (false, _) => "off",
        (true, true) => "optional",
        (true, false) => "required",
    };
    json_response(StatusCode::OK, &json!({"tokens": tokens, "demo": demo}))
}

/// `GET /auth/check`: what `/chat` would say to the bearer token, without connecting.
pub(crate) async fn check(state: &AppState, req: &Request<Incoming>) -> Response<Body> {
    let Some(auth) = &state.auth else {
        return json_response(
            StatusCode::NOT_FOUND,
            &json!({"error": "this server checks no tokens"}),
        );
    };
    let token = crate::http_parts::bearer(req.headers())
        .and_then(|token| std::str::from_utf8(token).ok())
        .map(str::trim)
        .filter(|token| !token.is_empty());
    let identity = match auth.check(token, state.config.max_nick_len) {
        Ok(Access::Token(identity)) => identity,
        Ok(_) => {
            return json_response(
                StatusCode::UNAUTHORIZED,
                &json!({"error": crate::auth::AuthError::Missing.to_string()}),
            )
        }
        Err(err) => {
            return json_response(StatusCode::UNAUTHORIZED, &json!({"error": err.to_string()}))
        }
    };
    let mut in_use = state.hub.nick_in_use(&identity.nick);
    if let (false, Some(backplane)) = (in_use, state.hub.backplane()) {
        in_use = crate::names::is_reserved(backplane, &identity.nick)
            .await
            .unwrap_or(false);
    }
    if in_use {
        return json_response(
            StatusCode::CONFLICT,
            &json!({"error": format!("the nickname {:?} is in use by another connection", identity.nick)}),
        );
    }
    json_response(
        StatusCode::OK,
        &json!({"nick": identity.nick, "expires_in": crate::auth::until(identity.expires_at).as_secs()}),
    )
}
