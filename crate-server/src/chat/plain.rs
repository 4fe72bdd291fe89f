//! A plain browser `WebSocket` on `/chat`: in the lobby under a generated name; every text
//! it sends goes to the whole lobby, itself included, as `name: text`.

use std::sync::Arc;

use ferrosocket_wire::chat::LOBBY;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

use super::{ConnId, Dialect, Gate, RateGate};
use crate::budget::SendBytes;
use crate::connection::Handler;
use crate::outbox::Outbox;
use crate::state::AppState;

/// One plain-text chat connection.
#[derive(Debug)]
pub(crate) struct PlainSession {
    state: Arc<AppState>,
    id: ConnId,
    rate: RateGate,
    bytes: SendBytes,
}

impl PlainSession {
    /// Registers the connection and puts it in the lobby.
    pub fn start(state: Arc<AppState>, outbox: &Outbox) -> PlainSession {
        let (id, _nick) = state.hub.connect(Dialect::Plain, outbox.clone());
        state
            .hub
            .join(id, LOBBY)
            .expect("the lobby name is valid and a new connection is in no room");
        let rate = RateGate::new(state.config.rate_limit, state.config.rate_burst);
        let bytes = SendBytes::new(&state.budgets);
        PlainSession {
            state,
            id,
            rate,
            bytes,
        }
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
        match self.rate.check(&self.state.metrics) {
            Gate::Pass => {
                if let Err(text_bytes) = self.state.budgets.check_text(text.as_str()) {
                    let notice = self.state.budgets.plain_too_large(text_bytes);
                    let _ = outbox.push(Message::text(notice));
                    return;
                }
                let cost = self.state.budgets.line_cost(text.as_str());
                if self.bytes.spend(cost).is_err() {
                    let _ = outbox.push(Message::text("* rate limit: message not delivered"));
                    return;
                }
                let hub = &self.state.hub;
                let sent = match hub.backplane() {
                    Some(backplane) => {
                        hub.send_replicated(backplane, self.id, LOBBY, text.as_str(), None)
                            .await
                    }
                    None => hub.send(self.id, LOBBY, text.as_str(), None),
                };
                if sent.is_err() {
                    let _ = outbox.push(Message::text(
                        "* the chat is unavailable: message not delivered",
                    ));
                }
            }
            Gate::Refuse => {
                let _ = outbox.push(Message::text("* rate limit: message not delivered"));
            }
            Gate::Close => outbox
                .close_signal()
                .close(CloseCode::Policy, "rate limit exceeded"),
        }
    }

    fn on_end(&mut self) {
        self.state.hub.disconnect(self.id);
    }
}
