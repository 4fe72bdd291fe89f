//! [`CoreClient`]: the real chat session core (`ferrosocket::chat::core::SessionCore`)
//! as a [`SimClient`].

use ferrosocket::chat::core::{CoreConfig, SessionCore};
use ferrosocket::chat::ChatEvent;
use ferrosocket_wire::chat::{ClientEnvelope, ServerEnvelope};

use crate::actor::{AppEvent, Millis, SimClient};

/// The browser session's rules, driven by the simulator instead of a browser.
#[derive(Debug)]
pub struct CoreClient {
    core: SessionCore,
    /// Events of one `joined` are reported one line at a time.
    pending: std::collections::VecDeque<AppEvent>,
}

impl CoreClient {
    /// A session whose keys start with `client_id`.
    pub fn new(client_id: &str) -> CoreClient {
        CoreClient {
            core: SessionCore::new(CoreConfig::new(client_id)),
            pending: Default::default(),
        }
    }

    /// The wrapped core, to inspect.
    pub fn core(&self) -> &SessionCore {
        &self.core
    }
}

impl SimClient for CoreClient {
    fn connected(&mut self, now: Millis) {
        self.core.connected(now);
    }

    fn disconnected(&mut self, now: Millis) {
        self.core.disconnected(now);
    }

    fn received(&mut self, envelope: ServerEnvelope, now: Millis) {
        let expiring = matches!(envelope, ServerEnvelope::TokenExpiring { .. });
        self.core.received(envelope, now);
        if expiring {
            // A token provider that answers at once, as `ChatSession`'s does once its
            // future resolves.
            let _ = self.core.refresh("a-fresh-token");
        }
    }

    fn send(&mut self, room: &str, text: &str, now: Millis) -> String {
        self.core.send(room, text, now).0
    }

    fn join(&mut self, room: &str, _now: Millis) {
        let _ = self.core.join(room);
    }

    fn tick(&mut self, now: Millis) {
        self.core.tick(now);
    }

    fn poll_transmit(&mut self) -> Option<ClientEnvelope> {
        self.core.poll_transmit()
    }

    fn poll_event(&mut self) -> Option<AppEvent> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(event);
            }
            match self.core.poll_event()? {
                ChatEvent::Message { room, entry } => {
                    return Some(AppEvent::Message {
                        room,
                        seq: entry.seq,
                        text: entry.text,
                    })
                }
                ChatEvent::Joined { room, history, .. } => {
                    self.pending
                        .extend(history.into_iter().map(|entry| AppEvent::Message {
                            room: room.clone(),
                            seq: entry.seq,
                            text: entry.text,
                        }));
                }
                ChatEvent::Sent { id, room, seq } => return Some(AppEvent::Sent { id, room, seq }),
                ChatEvent::Failed { id, room, reason } => {
                    return Some(AppEvent::Failed { id, room, reason })
                }
                _ => {}
            }
        }
    }

    fn next_wakeup(&self) -> Option<Millis> {
        self.core.next_wakeup()
    }

    fn unacknowledged(&self) -> usize {
        self.core.unacknowledged()
    }
}
