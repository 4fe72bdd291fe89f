//! [`Endpoint`]: where an attempt connects, fixed or computed anew for every attempt (a URL
//! carrying a fresh token, a server picked from a list...).

use std::future::Future;
use std::pin::Pin;

/// The URL and subprotocols of one connection attempt.
///
/// # Examples
/// ```
/// let endpoint = ferrosocket::Endpoint::new("/chat?token=abc").with_protocols(["chat.v1"]);
/// assert_eq!(endpoint.protocols, ["chat.v1"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// As for [`WebSocket::open`](crate::WebSocket::open).
    pub url: String,
    /// Subprotocols to offer, most preferred first.
    pub protocols: Vec<String>,
}

impl Endpoint {
    /// `url`, with no subprotocol.
    pub fn new(url: impl Into<String>) -> Endpoint {
        Endpoint {
            url: url.into(),
            protocols: Vec::new(),
        }
    }

    /// The same endpoint, offering `protocols`.
    pub fn with_protocols<I, S>(mut self, protocols: I) -> Endpoint
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.protocols = protocols.into_iter().map(Into::into).collect();
        self
    }
}

/// What an endpoint function returns: the endpoint, or why there is none this time (the
/// attempt then fails like a lost connection, and is retried).
pub type EndpointFuture = Pin<Box<dyn Future<Output = Result<Endpoint, String>>>>;

/// Called before every attempt.
pub(super) type EndpointFn = Box<dyn FnMut() -> EndpointFuture>;
