//! The `/chat` endpoint: rooms shared by plain-text clients and JSON protocol clients.

pub mod core;
mod expiry;
mod hub;
mod plain;
mod protocol;

pub use self::core::{ConnId, Dialect};
pub(crate) use expiry::Expiry;
pub use hub::{FanOut, Hub, Session};
pub(crate) use plain::PlainSession;
pub(crate) use protocol::ProtocolSession;

use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::auth::{Access, NICK_IN_USE_CLOSE_CODE};
use crate::limits::TokenBucket;
use crate::metrics::{LimitHit, Metrics};
use crate::outbox::Outbox;

/// What the rate limit says about one incoming message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gate {
    /// Within the limit: handle it.
    Pass,
    /// Over the limit: refuse it, tell the client.
    Refuse,
    /// Over the limit for another whole burst: close the connection with 1008.
    Close,
}

/// A token bucket plus the count of refusals in a row.
#[derive(Debug)]
pub(crate) struct RateGate {
    bucket: TokenBucket,
    refused_in_row: u32,
    burst: u32,
}

impl RateGate {
    pub fn new(rate: u32, burst: u32) -> RateGate {
        RateGate {
            bucket: TokenBucket::new(rate, burst),
            refused_in_row: 0,
            burst: burst.max(1),
        }
    }

    /// Waits for, and takes, a token: the connection is paced rather than refused. Used
    /// for a plain client's every line, and for each further room of a `join` or `leave`.
    /// The connection's driver abandons the wait if the connection or the server closes.
    pub async fn pay(&mut self, metrics: &Metrics) {
        let mut counted = false;
        while !self.bucket.try_take() {
            if !counted {
                metrics.limit_hit(LimitHit::Rate);
                counted = true;
            }
            tokio::time::sleep(self.bucket.next_token_in()).await;
        }
    }

    pub fn check(&mut self, metrics: &Metrics) -> Gate {
        if self.bucket.try_take() {
            self.refused_in_row = 0;
            return Gate::Pass;
        }
        self.refused_in_row += 1;
        if self.refused_in_row > self.burst {
            metrics.limit_hit(LimitHit::RateClose);
            Gate::Close
        } else {
            metrics.limit_hit(LimitHit::Rate);
            Gate::Refuse
        }
    }
}

/// Gives connection `id` the identity of `access` and, for a token, starts its [`Expiry`]
/// (with the `token_expiring` warning when `warn`): the connection is closed with 4401
/// "token expired" when the token expires, unless a refresh moves it. Returns `Err` (and
/// closes the connection with 4409) when the token's nickname was taken between the
/// handshake's check and now.
pub(crate) fn apply_access(
    hub: &Hub,
    id: ConnId,
    access: &Access,
    outbox: &Outbox,
    warn: bool,
) -> Result<Option<Expiry>, NickTaken> {
    if let Err(err) = hub.apply_access(id, access) {
        let signal = outbox.close_signal();
        signal.close(CloseCode::from(NICK_IN_USE_CLOSE_CODE), &err.message);
        return Err(NickTaken);
    }
    Ok(match access {
        Access::Token(identity) => Some(Expiry::start(identity.expires_at, outbox, warn)),
        Access::Open | Access::Guest => None,
    })
}

/// A token's nickname was taken before its connection opened: the connection is closing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NickTaken;
