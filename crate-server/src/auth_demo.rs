//! `--auth-demo`: a token endpoint for trying token authentication without an application
//! server — never for production, as it hands anyone a token for any free name.
//!
//! - `POST /auth/demo` with `{"nick": "ada"}` answers `{"token": "...", "expires_in": 600}`:
//!   an HS256 token for that nickname, valid for `--auth-demo-token-seconds` (600);
//! - `GET /auth/config` and `GET /auth/check` (`auth_page.rs`) serve the chat page.
//!
//! So that it cannot hand out tokens for a real deployment, the demo never signs with a
//! configured key: `--auth-demo` conflicts with `--auth-jwt-secret` and
//! `--auth-jwt-public-key`, and signs with a random secret generated at start and never
//! shown (its tokens are valid on this server process only). It has no environment twin:
//! it must be typed on the command line, and the server warns about it at start.

use std::time::{SystemTime, UNIX_EPOCH};

use ferrosocket_wire::chat::validate_nick;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use jsonwebtoken::{EncodingKey, Header};
use serde::Deserialize;
use serde_json::json;

use crate::http_parts::{text, Body};
use crate::secret::new_token;

/// The largest request body `POST /auth/demo` reads.
const MAX_BODY_BYTES: usize = 1024;

/// The warning printed at start.
pub const WARNING: &str = "WARNING: --auth-demo is on: POST /auth/demo gives ANYONE a token for \
    ANY free nickname. It is a demonstration, NOT FOR PRODUCTION; issue tokens from your \
    application instead (docs/DEPLOY.md).";

/// Signs demo tokens.
pub(crate) struct DemoIssuer {
    key: EncodingKey,
    /// How long its tokens are valid, in seconds.
    lifetime: u64,
}

impl std::fmt::Debug for DemoIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DemoIssuer(..)")
    }
}

#[derive(Deserialize)]
struct DemoRequest {
    nick: String,
}

impl DemoIssuer {
    /// A fresh random secret (256 bits, as hex), and the issuer that signs with it; the
    /// secret goes to the server's [`crate::auth::Authenticator`] and nowhere else.
    /// Its tokens are valid for `lifetime` seconds.
    pub fn generate(lifetime: u64) -> (DemoIssuer, String) {
        let secret = format!("{}{}", new_token(), new_token());
        let issuer = DemoIssuer {
            key: EncodingKey::from_secret(secret.as_bytes()),
            lifetime,
        };
        (issuer, secret)
    }

    /// A token for `nick`, valid for its lifetime.
    fn sign(&self, nick: &str) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let claims = json!({"sub": nick, "iat": now, "exp": now + self.lifetime, "demo": true});
        jsonwebtoken::encode(&Header::default(), &claims, &self.key).expect("HS256 signs")
    }

    /// `POST /auth/demo`: a token for the nickname asked for, or 400 with the reason.
    pub async fn serve(&self, req: Request<Incoming>, max_nick_len: usize) -> Response<Body> {
        if req.method() != Method::POST {
            let mut response = text(
                StatusCode::METHOD_NOT_ALLOWED,
                "POST {\"nick\": \"...\"} to get a demo token\n",
            );
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST"));
            return response;
        }
        let body = match Limited::new(req.into_body(), MAX_BODY_BYTES)
            .collect()
            .await
        {
            Ok(body) => body.to_bytes(),
            Err(_) => {
                return text(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("the body must be a JSON object of at most {MAX_BODY_BYTES} bytes\n"),
                )
            }
        };
        let Ok(request) = serde_json::from_slice::<DemoRequest>(&body) else {
            return text(
                StatusCode::BAD_REQUEST,
                "the body must be JSON: {\"nick\": \"...\"}\n",
            );
        };
        if let Err(err) = validate_nick(&request.nick, max_nick_len) {
            return text(StatusCode::BAD_REQUEST, format!("{}\n", err.message));
        }
        if crate::auth::is_guest_name(&request.nick) {
            return text(
                StatusCode::BAD_REQUEST,
                "nicknames starting with \"guest-\" (in any case) are for guests\n",
            );
        }
        json_response(
            StatusCode::OK,
            &json!({"token": self.sign(&request.nick), "expires_in": self.lifetime}),
        )
    }
}

pub(crate) fn json_response(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    let mut response = text(status, value.to_string());
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    // A token must not be kept by a cache along the way.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
