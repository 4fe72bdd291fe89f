//! [`TokenProvider`]: the access token a connection presents — fixed, or fetched anew by an
//! async function before every attempt and when the server warns that it expires.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

/// What a token function returns: the token, or why there is none (see
/// [`TokenProvider`]).
pub type TokenFuture = Pin<Box<dyn Future<Output = Result<String, String>>>>;

/// Where a connection's access token comes from. It travels as the `access_token` query
/// parameter of every attempt's URL (the one place a browser's `WebSocket` can put it), and
/// a [`ChatSession`](crate::chat::ChatSession) also presents a fresh one when the server says
/// the current one expires (`token_expiring` → `refresh`).
///
/// # Examples
/// ```
/// use ferrosocket::TokenProvider;
///
/// let fixed = TokenProvider::fixed("eyJhbGciOi...");
/// let fetched = TokenProvider::from_fn(|| async {
///     // e.g. ask the app's own server for a token
///     Ok::<_, String>("eyJhbGciOi...".to_owned())
/// });
/// assert_ne!(fixed, fetched);
/// // A token is never printed in full.
/// assert!(!format!("{fixed:?}").contains("eyJ"));
/// ```
#[derive(Clone)]
pub enum TokenProvider {
    /// The same token for every attempt.
    Fixed(String),
    /// Called before every attempt and for every refresh; an `Err` fails that attempt
    /// like a lost connection (or, just after the server refused a token, ends in
    /// [`ResilientEvent::AuthFailed`](crate::ResilientEvent::AuthFailed)).
    Function(Rc<dyn Fn() -> TokenFuture>),
}

impl TokenProvider {
    /// Always `token`.
    pub fn fixed(token: impl Into<String>) -> TokenProvider {
        TokenProvider::Fixed(token.into())
    }

    /// The token `f`'s future resolves to, asked for anew each time.
    pub fn from_fn<F, Fut>(f: F) -> TokenProvider
    where
        F: Fn() -> Fut + 'static,
        Fut: Future<Output = Result<String, String>> + 'static,
    {
        TokenProvider::Function(Rc::new(move || -> TokenFuture { Box::pin(f()) }))
    }

    /// A token, now or once the function's future resolves.
    pub fn token(&self) -> TokenFuture {
        match self {
            TokenProvider::Fixed(token) => {
                let token = token.clone();
                Box::pin(async move { Ok(token) })
            }
            TokenProvider::Function(f) => f(),
        }
    }
}

impl PartialEq for TokenProvider {
    /// The same fixed token, or the very same function.
    fn eq(&self, other: &TokenProvider) -> bool {
        match (self, other) {
            (TokenProvider::Fixed(a), TokenProvider::Fixed(b)) => a == b,
            (TokenProvider::Function(a), TokenProvider::Function(b)) => Rc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl fmt::Debug for TokenProvider {
    /// Never the token itself: debug output ends up in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenProvider::Fixed(token) => write!(f, "Fixed(<{} bytes>)", token.len()),
            TokenProvider::Function(_) => f.write_str("Function(..)"),
        }
    }
}

/// `url` with `token` as its `access_token` query parameter, replacing one already there
/// (a fragment-free URL, as [`WebSocket::open`](crate::WebSocket::open) requires).
pub(crate) fn with_access_token(url: &str, token: &str) -> String {
    let (base, mut query) = cut(url, b'?').unwrap_or((url, ""));
    let mut out = String::with_capacity(url.len() + token.len() + 16);
    out.push_str(base);
    out.push('?');
    while !query.is_empty() {
        let (pair, rest) = cut(query, b'&').unwrap_or((query, ""));
        query = rest;
        let name = cut(pair, b'=').map_or(pair, |(name, _)| name);
        if !pair.is_empty() && name != "access_token" {
            out.push_str(pair);
            out.push('&');
        }
    }
    out.push_str("access_token=");
    // A JWT is base64url and dots; anything else a provider returns is escaped.
    for byte in token.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            let hex = |digit: u8| char::from(b"0123456789ABCDEF"[usize::from(digit & 0xf)]);
            out.push('%');
            out.push(hex(byte >> 4));
            out.push(hex(byte));
        }
    }
    out
}

/// `text` before the first `byte` (an ASCII one) and after it, if it is there: a byte
/// search, lighter in wasm than `split_once` and its `char` searcher.
fn cut(text: &str, byte: u8) -> Option<(&str, &str)> {
    let (before, after) = text.split_at_checked(text.bytes().position(|b| b == byte)?)?;
    Some((before, after.get(1..)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_added_to_the_query_replacing_an_old_one_and_escaped() {
        assert_eq!(
            with_access_token("/chat", "a.b-c_d"),
            "/chat?access_token=a.b-c_d"
        );
        assert_eq!(
            with_access_token("ws://h/chat?x=1&access_token=old&y=2", "new"),
            "ws://h/chat?x=1&y=2&access_token=new"
        );
        assert_eq!(
            with_access_token("/a&b?access_token&&z=é=1&", "t"),
            "/a&b?z=é=1&access_token=t"
        );
        assert_eq!(
            with_access_token("/chat?", "a b&c=d"),
            "/chat?access_token=a%20b%26c%3Dd"
        );
    }
}
