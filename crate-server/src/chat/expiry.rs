//! [`Expiry`]: when a token-authenticated connection ends — a warning some time before its
//! token's `exp` (JSON clients only), the close with 4401 at it — and how a `refresh` moves
//! it.

use std::time::Duration;

use ferrosocket_wire::chat::ServerEnvelope;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use crate::auth::{until, EXPIRED_CLOSE_CODE};
use crate::outbox::Outbox;

/// The longest lead of the `token_expiring` warning: long enough for a client to fetch a
/// token from its own server, short enough that an hour-long token is not refreshed early.
pub(crate) const MAX_WARNING_LEAD: Duration = Duration::from_secs(60);

/// How long before a token's expiry its warning goes out, given the lifetime it had left
/// when it was presented: a third of it, at most [`MAX_WARNING_LEAD`] — so a short-lived
/// token still leaves the client time to answer, and the warning never comes before the
/// token has served most of its life.
pub(crate) fn warning_lead(remaining: Duration) -> Duration {
    (remaining / 3).min(MAX_WARNING_LEAD)
}

/// The expiry of one connection's token, watched by a task that warns and then closes.
/// Dropping it (the connection ended) stops the task.
#[derive(Debug)]
pub(crate) struct Expiry {
    exp: watch::Sender<u64>,
}

impl Expiry {
    /// Starts watching `exp` for the connection of `outbox`: with `warn`, a
    /// `token_expiring` envelope goes out [`warning_lead`] before it; at `exp` the
    /// connection is closed with 4401 "token expired".
    pub fn start(exp: u64, outbox: &Outbox, warn: bool) -> Expiry {
        let (sender, receiver) = watch::channel(exp);
        let warn_to = warn.then(|| outbox.clone());
        tokio::spawn(watch_expiry(receiver, warn_to, outbox.clone()));
        Expiry { exp: sender }
    }

    /// When the connection closes now, in seconds since the Unix epoch.
    pub fn current(&self) -> u64 {
        *self.exp.borrow()
    }

    /// Moves the expiry to `exp` (a refreshed token's): the warning and the close are
    /// planned afresh from it.
    pub fn move_to(&self, exp: u64) {
        self.exp.send_replace(exp);
    }
}

/// The task behind an [`Expiry`]: ends when the connection closes, when the [`Expiry`] is
/// dropped, or after closing the connection at the expiry.
async fn watch_expiry(mut exp: watch::Receiver<u64>, warn_to: Option<Outbox>, outbox: Outbox) {
    let signal = outbox.close_signal().clone();
    drop(outbox);
    loop {
        let current = *exp.borrow_and_update();
        let remaining = until(current);
        if let Some(warn_to) = &warn_to {
            let lead = warning_lead(remaining);
            tokio::select! {
                () = tokio::time::sleep(remaining.saturating_sub(lead)) => {
                    // Pushed while the expiry cannot move: a refresh's `refreshed` answer
                    // (queued after the move) never precedes a warning about the old token.
                    let latest = exp.borrow();
                    if *latest != current {
                        drop(latest);
                        continue;
                    }
                    let warning = ServerEnvelope::TokenExpiring { exp: current };
                    let _ = warn_to.push(Message::Text(Utf8Bytes::from(warning.to_json())));
                }
                changed = exp.changed() => match changed {
                    Ok(()) => continue,
                    Err(_) => return,
                },
                () = signal.requested() => return,
            }
        }
        tokio::select! {
            () = tokio::time::sleep(until(current)) => {
                signal.close(CloseCode::from(EXPIRED_CLOSE_CODE), "token expired");
                return;
            }
            changed = exp.changed() => match changed {
                Ok(()) => continue,
                Err(_) => return,
            },
            () = signal.requested() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lead_is_a_third_of_the_lifetime_left_at_most_a_minute() {
        assert_eq!(warning_lead(Duration::from_secs(3)), Duration::from_secs(1));
        assert_eq!(
            warning_lead(Duration::from_secs(90)),
            Duration::from_secs(30)
        );
        assert_eq!(warning_lead(Duration::from_secs(3600)), MAX_WARNING_LEAD);
        assert_eq!(warning_lead(Duration::ZERO), Duration::ZERO);
    }
}
