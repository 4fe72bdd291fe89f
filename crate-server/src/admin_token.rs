//! `--metrics-token`: the bearer token that `/metrics` and the test endpoints may require,
//! compared in constant time so that response timing says nothing about how much of a
//! guess was right.

use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Response, StatusCode};
use ring::digest::{digest, SHA256};

use crate::http_parts::{text, Body};

/// The operations token, kept only as its SHA-256 digest: comparing digests of equal
/// length in constant time hides the token's length too.
pub(crate) struct AdminToken {
    digest: [u8; 32],
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(..)")
    }
}

impl AdminToken {
    /// The token `--metrics-token` gives; an empty one is refused (it would let a bare
    /// `Authorization: Bearer ` in).
    pub fn new(token: &str) -> Result<AdminToken, String> {
        if token.trim().is_empty() {
            return Err("--metrics-token is empty; give a random string".into());
        }
        Ok(AdminToken {
            digest: sha256(token.as_bytes()),
        })
    }

    /// Whether `headers` carry `Authorization: Bearer <the token>` (the scheme in any case).
    pub fn allows(&self, headers: &HeaderMap) -> bool {
        let Some(given) = crate::http_parts::bearer(headers) else {
            return false;
        };
        let given = sha256(given);
        // Every byte is compared whatever the earlier ones were.
        given
            .iter()
            .zip(self.digest.iter())
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
    }

    /// The answer to a request without the token: 401 with a `WWW-Authenticate`
    /// challenge (RFC 6750), saying how to pass it but never what it is.
    pub fn refusal() -> Response<Body> {
        let mut response = text(
            StatusCode::UNAUTHORIZED,
            "this endpoint requires the operations token: Authorization: Bearer <--metrics-token>\n",
        );
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"ferrosocket-admin\""),
        );
        response
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    digest(&SHA256, bytes)
        .as_ref()
        .try_into()
        .expect("SHA-256 is 32 bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(authorization: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, authorization.parse().unwrap());
        headers
    }

    #[test]
    fn only_the_exact_bearer_token_is_allowed() {
        let token = AdminToken::new("s3cret-ops-token").unwrap();
        for scheme in ["Bearer", "bearer", "BEARER"] {
            assert!(token.allows(&headers(&format!("{scheme} s3cret-ops-token"))));
        }
        for wrong in [
            "Bearer s3cret-ops-toke",
            "Bearer s3cret-ops-token ",
            "Bearer S3cret-ops-token",
            "bearer-s3cret-ops-token",
            "bearer  s3cret-ops-token",
            "Basic s3cret-ops-token",
            "Bearer ",
            "s3cret-ops-token",
        ] {
            assert!(!token.allows(&headers(wrong)), "{wrong:?} let in");
        }
        assert!(!token.allows(&HeaderMap::new()));
        assert!(AdminToken::new(" ").is_err());
        assert!(!format!("{token:?}").contains("s3cret"));
    }
}
