//! Token authentication for `/chat`: who a connection is, and which rooms it may use.
//!
//! With `--auth-jwt-secret` (HS256) or `--auth-jwt-public-key` (RS256/RS384/RS512/PS256 or
//! ES256/ES384, from a PEM file), a `/chat` handshake must carry a JSON Web Token, checked
//! before the upgrade: a missing, malformed, tampered, wrongly signed, expired or
//! not-yet-valid token is answered HTTP 401 with the reason. The token travels as the
//! `access_token` query parameter (RFC 6750 §2.3: the one place a browser's `WebSocket`
//! can put it) or, for other clients, an `Authorization: Bearer` header.
//!
//! Claims: `sub` (required) is the identity; `name` (else `sub`) the nickname, fixed for
//! the connection; `exp` (required) when the server closes the connection with 4401;
//! `rooms` (optional) `{"join": [...], "post": [...]}`, room names or `prefix*` patterns,
//! each list absent for "every room".

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ferrosocket_wire::chat::validate_nick;
use hyper::header::HeaderMap;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::chat::core::RoomRights;

/// The shortest HS256 secret accepted: a shorter one could be guessed offline from any
/// token it signed.
pub(crate) const MIN_SECRET_BYTES: usize = 32;

/// Clock skew allowed on `exp` and `nbf`.
const LEEWAY_SECONDS: u64 = 5;

/// Nicknames of this form are generated for guests; tokens may not claim them.
const GUEST_PREFIX: &str = "guest-";

/// Whether `nick` is, or looks like, a guest's generated name: `guest-` in any case, so
/// that a token cannot pass for a guest with `Guest-7`.
pub(crate) fn is_guest_name(nick: &str) -> bool {
    nick.get(..GUEST_PREFIX.len())
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case(GUEST_PREFIX))
}

/// The close code sent when a connection's token expires.
pub(crate) const EXPIRED_CLOSE_CODE: u16 = 4401;

/// The close code sent to a plain client whose token does not allow the lobby.
pub(crate) const FORBIDDEN_CLOSE_CODE: u16 = 4403;

/// The close code sent when a token's nickname is taken by the time the connection opens.
pub(crate) const NICK_IN_USE_CLOSE_CODE: u16 = 4409;

/// Checks the tokens of `/chat` handshakes.
pub(crate) struct Authenticator {
    key: DecodingKey,
    validation: Validation,
    allow_guests: bool,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("algorithms", &self.validation.algorithms)
            .field("allow_guests", &self.allow_guests)
            .finish_non_exhaustive()
    }
}

/// Who a `/chat` connection is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Access {
    /// The server checks no tokens: anyone, with a nickname of their choosing.
    Open,
    /// No token, and the server lets guests in: a generated nickname it cannot change.
    Guest,
    /// A valid token's identity.
    Token(Identity),
}

/// What a valid token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Identity {
    /// `sub`.
    pub subject: String,
    /// `name`, else `sub`.
    pub nick: String,
    /// `exp`, in seconds since the Unix epoch.
    pub expires_at: u64,
    /// From `rooms`.
    pub rights: RoomRights,
}

/// How long until `exp` (seconds since the Unix epoch); zero once it has passed.
pub(crate) fn until(exp: u64) -> Duration {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Duration::from_secs(exp).saturating_sub(now)
}

/// Why a handshake's token was refused: the text of the 401 answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AuthError {
    /// No token, and guests are not let in.
    Missing,
    /// The token has expired.
    Expired,
    /// The token is not valid yet (`nbf`).
    NotYetValid,
    /// The signature does not match (tampered, or another key).
    BadSignature,
    /// Signed with an algorithm this server does not accept for its key.
    WrongAlgorithm,
    /// Not a JWT, or its claims are missing or of the wrong type.
    Malformed(String),
    /// The claims are well-formed but unusable (a bad nickname...).
    InvalidClaims(String),
}

impl std::fmt::Display for AuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuthError::Missing => f.write_str(
                "a token is required: pass it as the access_token query parameter \
                 (or an Authorization: Bearer header)",
            ),
            AuthError::Expired => f.write_str("the token has expired"),
            AuthError::NotYetValid => f.write_str("the token is not valid yet (nbf)"),
            AuthError::BadSignature => {
                f.write_str("the token's signature does not match this server's key")
            }
            AuthError::WrongAlgorithm => {
                f.write_str("the token is signed with an algorithm this server does not accept")
            }
            AuthError::Malformed(why) => write!(f, "the token is malformed: {why}"),
            AuthError::InvalidClaims(why) => write!(f, "the token's claims are unusable: {why}"),
        }
    }
}

/// Optional here so that a missing one is reported by name (jsonwebtoken also requires
/// them, but its report of a missing field is serde's).
#[derive(Debug, Deserialize)]
struct Claims {
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    exp: Option<u64>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    rooms: Option<RoomsClaim>,
}

/// Unknown keys are refused: a misspelt list (`"joins"`) would otherwise be absent, and an
/// absent list means every room — a typo must not grant more than the issuer meant.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RoomsClaim {
    #[serde(default)]
    join: Option<Vec<String>>,
    #[serde(default)]
    post: Option<Vec<String>>,
}

impl Authenticator {
    /// HS256 tokens signed with `secret` (at least [`MIN_SECRET_BYTES`] bytes).
    pub fn with_secret(secret: &str, allow_guests: bool) -> Result<Authenticator, String> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(format!(
                "--auth-jwt-secret is {} bytes; use at least {MIN_SECRET_BYTES} random bytes",
                secret.len()
            ));
        }
        Ok(Authenticator::new(
            DecodingKey::from_secret(secret.as_bytes()),
            &[Algorithm::HS256],
            allow_guests,
        ))
    }

    /// Tokens signed by the private half of the PEM public key in `path`: RSA (RS256,
    /// RS384, RS512, PS256) or EC (ES256, ES384).
    pub fn with_public_key(path: &Path, allow_guests: bool) -> Result<Authenticator, String> {
        let pem = std::fs::read(path).map_err(|err| {
            format!(
                "cannot read --auth-jwt-public-key {}: {err}",
                path.display()
            )
        })?;
        if let Ok(key) = DecodingKey::from_rsa_pem(&pem) {
            let algorithms = [
                Algorithm::RS256,
                Algorithm::RS384,
                Algorithm::RS512,
                Algorithm::PS256,
            ];
            return Ok(Authenticator::new(key, &algorithms, allow_guests));
        }
        if let Ok(key) = DecodingKey::from_ec_pem(&pem) {
            return Ok(Authenticator::new(
                key,
                &[Algorithm::ES256, Algorithm::ES384],
                allow_guests,
            ));
        }
        Err(format!(
            "--auth-jwt-public-key {} is not a PEM RSA or EC public key",
            path.display()
        ))
    }

    fn new(key: DecodingKey, algorithms: &[Algorithm], allow_guests: bool) -> Authenticator {
        let mut validation = Validation::new(algorithms[0]);
        validation.algorithms = algorithms.to_vec();
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Authenticator {
            key,
            validation,
            allow_guests,
        }
    }

    /// Who the handshake with `token` (if any) is; `max_nick_len` bounds the nickname.
    pub fn check(&self, token: Option<&str>, max_nick_len: usize) -> Result<Access, AuthError> {
        let Some(token) = token else {
            return if self.allow_guests {
                Ok(Access::Guest)
            } else {
                Err(AuthError::Missing)
            };
        };
        let claims = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation)
            .map_err(|err| match err.kind() {
                ErrorKind::ExpiredSignature => AuthError::Expired,
                ErrorKind::ImmatureSignature => AuthError::NotYetValid,
                ErrorKind::InvalidSignature => AuthError::BadSignature,
                ErrorKind::InvalidAlgorithm => AuthError::WrongAlgorithm,
                // jsonwebtoken refuses any `aud` when none is expected: fail-closed (a token
                // for another service of the same issuer must not get in), but say so.
                ErrorKind::InvalidAudience => AuthError::InvalidClaims(
                    "the token names an audience (\"aud\"), and this server expects none: \
                     issue its tokens without \"aud\""
                        .into(),
                ),
                ErrorKind::MissingRequiredClaim(claim) => {
                    AuthError::Malformed(format!("the claim {claim:?} is missing"))
                }
                _ => AuthError::Malformed(err.to_string()),
            })?
            .claims;
        let missing =
            |claim: &str| AuthError::Malformed(format!("the claim \"{claim}\" is missing"));
        let subject = claims.sub.ok_or_else(|| missing("sub"))?;
        // An empty subject names nobody (an issuer's mistake, e.g. a missing user id): it is
        // refused rather than taken as an identity that `refresh` would compare against.
        if subject.trim().is_empty() {
            return Err(AuthError::InvalidClaims(
                "the claim \"sub\" is empty".into(),
            ));
        }
        let expires_at = claims.exp.ok_or_else(|| missing("exp"))?;
        // The leeway forgives clock skew on `nbf` and on `exp`, but a connection closes at
        // `exp` by this server's clock (4401): a token past it would be let in only to be
        // closed at once, and a reconnecting client would loop on that until the leeway ran
        // out. So a token this server holds expired is refused here.
        if until(expires_at).is_zero() {
            return Err(AuthError::Expired);
        }
        let nick = claims.name.unwrap_or_else(|| subject.clone());
        validate_nick(&nick, max_nick_len)
            .map_err(|err| AuthError::InvalidClaims(format!("nickname: {}", err.message)))?;
        if is_guest_name(&nick) {
            return Err(AuthError::InvalidClaims(format!(
                "nicknames starting with {GUEST_PREFIX:?} (in any case) are for guests"
            )));
        }
        let rights = match claims.rooms {
            None => RoomRights::all(),
            Some(rooms) => RoomRights::new(rooms.join, rooms.post),
        };
        Ok(Access::Token(Identity {
            subject,
            nick,
            expires_at,
            rights,
        }))
    }
}

/// The token a handshake carries: the `access_token` query parameter, else an
/// `Authorization: Bearer` header (the scheme in any case). A parameter or a header given
/// twice is refused: which one counts would be a guess, and a proxy in front may guess
/// otherwise.
pub(crate) fn token_of(
    query: Option<&str>,
    headers: &HeaderMap,
) -> Result<Option<String>, AuthError> {
    // A JWT is base64url and dots: nothing in it is percent-encoded.
    let mut given = crate::http_parts::query_pairs(query)
        .filter(|(name, _)| *name == "access_token")
        .map(|(_, value)| value);
    let from_query = given.next();
    if given.next().is_some() {
        return Err(AuthError::Malformed(
            "the access_token parameter is given more than once".into(),
        ));
    }
    if let Some(token) = from_query.filter(|token| !token.is_empty()) {
        return Ok(Some(token.to_owned()));
    }
    if crate::http_parts::authorization_repeated(headers) {
        return Err(AuthError::Malformed(
            "the Authorization header is given more than once".into(),
        ));
    }
    Ok(crate::http_parts::bearer(headers)
        .and_then(|token| std::str::from_utf8(token).ok())
        .map(|token| token.trim().to_owned())
        .filter(|token| !token.is_empty()))
}

#[cfg(test)]
mod tests {
    use hyper::header;
    use jsonwebtoken::{encode, EncodingKey, Header};
    use serde_json::json;

    use super::*;

    const SECRET: &str = "a test secret that is long enough for HS256";

    fn now() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    fn sign(claims: serde_json::Value, secret: &str) -> String {
        encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    fn auth(allow_guests: bool) -> Authenticator {
        Authenticator::with_secret(SECRET, allow_guests).unwrap()
    }

    #[test]
    fn a_valid_token_gives_its_identity_and_rooms() {
        let token = sign(
            json!({"sub": "u1", "name": "ada", "exp": now() + 60, "rooms": {"join": ["lobby", "team-*"], "post": ["team-red"]}}),
            SECRET,
        );
        let Ok(Access::Token(identity)) = auth(false).check(Some(&token), 32) else {
            panic!("refused");
        };
        assert_eq!(
            (identity.subject.as_str(), identity.nick.as_str()),
            ("u1", "ada")
        );
        assert!(identity.rights.may_join("team-blue") && !identity.rights.may_post("team-blue"));
        assert!(until(identity.expires_at) > Duration::from_secs(50));
        let no_name = sign(json!({"sub": "bob", "exp": now() + 60}), SECRET);
        let Ok(Access::Token(identity)) = auth(false).check(Some(&no_name), 32) else {
            panic!("refused");
        };
        assert_eq!(identity.nick, "bob");
        assert_eq!(identity.rights, RoomRights::all());
    }

    #[test]
    fn every_bad_token_is_refused_with_its_reason() {
        let good = sign(json!({"sub": "ada", "exp": now() + 60}), SECRET);
        let mut tampered = good.clone();
        // Flip one character of the payload: the signature no longer matches.
        let dot = tampered.find('.').unwrap() + 3;
        let flipped = if &tampered[dot..=dot] == "A" {
            "B"
        } else {
            "A"
        };
        tampered.replace_range(dot..=dot, flipped);
        let cases = [
            (None, AuthError::Missing),
            (
                Some(sign(json!({"sub": "ada", "exp": now() - 60}), SECRET)),
                AuthError::Expired,
            ),
            (
                Some(sign(
                    json!({"sub": "ada", "exp": now() + 60, "nbf": now() + 600}),
                    SECRET,
                )),
                AuthError::NotYetValid,
            ),
            (
                Some(sign(
                    json!({"sub": "ada", "exp": now() + 60}),
                    "another secret, also long enough for HS256",
                )),
                AuthError::BadSignature,
            ),
            (
                Some("not.a.jwt".to_owned()),
                AuthError::Malformed(String::new()),
            ),
            (
                Some(sign(json!({"sub": "ada"}), SECRET)),
                AuthError::Malformed(String::new()),
            ),
            (
                Some(sign(
                    json!({"sub": "no spaces allowed", "exp": now() + 60}),
                    SECRET,
                )),
                AuthError::InvalidClaims(String::new()),
            ),
            (
                Some(sign(json!({"sub": "guest-7", "exp": now() + 60}), SECRET)),
                AuthError::InvalidClaims(String::new()),
            ),
        ];
        for (token, expected) in cases {
            let result = auth(false).check(token.as_deref(), 32);
            let same_kind = matches!(
                (&result, &expected),
                (Err(AuthError::Malformed(_)), AuthError::Malformed(_))
                    | (
                        Err(AuthError::InvalidClaims(_)),
                        AuthError::InvalidClaims(_)
                    )
            ) || result.as_ref().err() == Some(&expected);
            assert!(
                same_kind,
                "{token:?}: expected {expected:?}, got {result:?}"
            );
        }
        let result = auth(false).check(Some(&tampered), 32);
        assert!(
            matches!(
                result,
                Err(AuthError::BadSignature | AuthError::Malformed(_))
            ),
            "{result:?}"
        );
    }

    #[test]
    fn a_token_past_its_exp_is_refused_even_within_the_leeway() {
        // Within the 5 s leeway jsonwebtoken would accept it; the connection would be
        // closed with 4401 at once.
        let just_expired = sign(json!({"sub": "ada", "exp": now() - 2}), SECRET);
        assert_eq!(
            auth(false).check(Some(&just_expired), 32),
            Err(AuthError::Expired)
        );
    }

    #[test]
    fn guests_come_in_only_when_allowed_and_short_secrets_are_refused() {
        assert_eq!(auth(true).check(None, 32), Ok(Access::Guest));
        assert_eq!(auth(false).check(None, 32), Err(AuthError::Missing));
        assert!(Authenticator::with_secret("short", false).is_err());
    }

    #[test]
    fn the_token_comes_from_the_query_or_a_bearer_header() {
        let mut headers = HeaderMap::new();
        assert_eq!(
            token_of(Some("a=1&access_token=abc"), &headers),
            Ok(Some("abc".into()))
        );
        assert_eq!(token_of(Some("access_token="), &headers), Ok(None));
        assert!(token_of(Some("access_token=abc&access_token=abc"), &headers).is_err());
        headers.insert(header::AUTHORIZATION, "Bearer xyz".parse().unwrap());
        assert_eq!(token_of(None, &headers), Ok(Some("xyz".into())));
        let mut lower = HeaderMap::new();
        lower.insert(header::AUTHORIZATION, "bearer xyz".parse().unwrap());
        assert_eq!(token_of(None, &lower), Ok(Some("xyz".into())));
        assert_eq!(
            token_of(Some("access_token=abc"), &headers),
            Ok(Some("abc".into()))
        );
    }
}
