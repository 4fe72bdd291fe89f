//! A plain browser `WebSocket` on `/chat`: in the lobby under a generated name; every text
//! it sends goes to the whole lobby, itself included, as `name: text`.
//!
//! A plain client cannot be told "slow down" in a way it understands, so instead of
//! refusing lines over the rate limit the server paces it: it stops reading until the
//! next token is due, and TCP pushes back on the sender. Nothing it sends is dropped.

use std::sync::Arc;
use std::time::Duration;

use ferrosocket_wire::chat::LOBBY;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

use super::{apply_access, ConnId, Dialect, RateGate};
use crate::auth::{Access, FORBIDDEN_CLOSE_CODE};
use crate::budget::SendBytes;
use crate::connection::Handler;
use crate::outbox::Outbox;
use crate::state::AppState;

/// One plain-text chat connection.
#[derive(Debug)]
pub(crate) struct PlainSession {
    state: Arc<AppState>,
    id: ConnId,
    /// The envelope rate, paid by waiting ([`RateGate::pay`]), never by refusal.
    rate: RateGate,
    /// The byte rate of its lines, paced the same way.
    bytes: SendBytes,
    /// Whether its token lets it post to the lobby, where every plain line goes: fixed for
    /// the connection, so decided once rather than per line.
    may_post: bool,
    /// Closes the connection when its token expires (plain clients get no warning and
    /// cannot refresh); `None` without a token.
    _expiry: Option<super::Expiry>,
}

impl PlainSession {
    /// Registers the connection; [`Handler::on_start`] puts it in the lobby.
    pub fn start(state: Arc<AppState>, outbox: &Outbox, access: Access) -> PlainSession {
        let session = state.hub.connect(Dialect::Plain, outbox.clone());
        let expiry = apply_access(&state.hub, session.id, &access, outbox, false)
            .ok()
            .flatten();
        let may_post = match &access {
            Access::Token(identity) => identity.rights.may_post(LOBBY),
            Access::Open | Access::Guest => true,
        };
        PlainSession {
            may_post,
            _expiry: expiry,
            rate: RateGate::new(state.config.rate_limit.max(1), state.config.rate_burst),
            bytes: SendBytes::new(&state.budgets),
            state,
            id: session.id,
        }
    }

    /// Waits for the rate limit's next token; `false` if the connection or the server is
    /// closing meanwhile.
    async fn paced(&mut self, outbox: &Outbox) -> bool {
        tokio::select! {
            () = self.rate.pay(&self.state.metrics) => true,
            () = outbox.close_signal().requested() => false,
            () = self.state.shutdown.cancelled() => false,
        }
    }

    /// Waits until the byte rate allows a line costing `cost`; `false` if the connection
    /// or the server is closing meanwhile. A line within the text limit always fits a
    /// burst (the budgets are checked at start), so this ends.
    async fn paced_bytes(&mut self, cost: usize, outbox: &Outbox) -> bool {
        while self.bytes.spend(cost).is_err() {
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(50)) => {}
                () = outbox.close_signal().requested() => return false,
                () = self.state.shutdown.cancelled() => return false,
            }
        }
        true
    }
}

impl Handler for PlainSession {
    async fn on_message(&mut self, message: Message, outbox: &Outbox) {
        let Message::Text(text) = message else {
            outbox
                .close_signal()
                .close(CloseCode::Unsupported, "this chat takes text messages only");
            return;
        };
        if !self.paced(outbox).await {
            return;
        }
        if !self.may_post {
            let _ = outbox.push(Message::text(
                "* your token does not allow posting here: message not delivered",
            ));
            return;
        }
        if let Err(text_bytes) = self.state.budgets.check_text(text.as_str()) {
            let notice = self.state.budgets.plain_too_large(text_bytes);
            let _ = outbox.push(Message::text(notice));
            return;
        }
        let cost = self.state.budgets.line_cost(text.as_str());
        if !self.paced_bytes(cost, outbox).await {
            return;
        }
        let sent = self
            .state
            .hub
            .send(self.id, LOBBY, text.as_str(), None, None)
            .await;
        if sent.is_err() {
            let _ = outbox.push(Message::text(
                "* the chat is unavailable: message not delivered",
            ));
        }
    }

    async fn on_start(&mut self, outbox: &Outbox) {
        if !self.state.hub.may_join(self.id, LOBBY) {
            // A plain client lives in the lobby only.
            outbox.close_signal().close(
                CloseCode::from(FORBIDDEN_CLOSE_CODE),
                "your token does not allow the lobby",
            );
            return;
        }
        if let Err(err) = self.state.hub.join(self.id, LOBBY).await {
            tracing::warn!(%err, "a plain client could not join the lobby");
        }
    }

    fn on_end(&mut self) {
        self.state.hub.disconnect(self.id);
    }
}
