//! A `/chat` connection that speaks the JSON protocol (`chat.v1`).

use std::sync::Arc;

use ferrosocket_wire::chat::{ClientEnvelope, ErrorCode, ProtocolError, ServerEnvelope, LOBBY};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use super::hub::unavailable_error;
use super::{apply_access, ConnId, Dialect, Expiry, Gate, RateGate};
use crate::auth::{Access, Identity};
use crate::budget::SendBytes;
use crate::connection::Handler;
use crate::outbox::Outbox;
use crate::state::AppState;

/// The shortest and longest session token a `session` envelope may carry.
const TOKEN_LEN: std::ops::RangeInclusive<usize> = 16..=128;

/// One JSON protocol connection.
#[derive(Debug)]
pub(crate) struct ProtocolSession {
    state: Arc<AppState>,
    id: ConnId,
    token: String,
    rate: RateGate,
    bytes: SendBytes,
    /// Whether this connection may still continue an earlier session: only once, and only
    /// before its first `send` (so one connection cannot fill the server with scopes).
    may_adopt: bool,
    /// `false` when its token's nickname was taken meanwhile: it is being closed.
    admitted: bool,
    /// Who the connection is: what a `refresh` must match.
    access: Access,
    /// When its token expires (warned, then closed with 4401); `None` without a token.
    expiry: Option<Expiry>,
}

fn reply(outbox: &Outbox, envelope: &ServerEnvelope) {
    let _ = outbox.push(Message::Text(Utf8Bytes::from(envelope.to_json())));
}

/// The `ref` an error about `message` carries: a `send`'s or `ping`'s `id`, an `emit`'s
/// `ack`.
fn reference_of(message: &Message) -> Option<String> {
    let Message::Text(text) = message else {
        return None;
    };
    match ClientEnvelope::parse(text.as_str()).ok()? {
        ClientEnvelope::Send { id, .. } | ClientEnvelope::Ping { id } => id,
        ClientEnvelope::Emit { ack, .. } => ack.map(|ack| ack.to_string()),
        _ => None,
    }
}

impl ProtocolSession {
    /// Registers the connection; [`Handler::on_start`] greets it.
    pub fn start(state: Arc<AppState>, outbox: &Outbox, access: Access) -> ProtocolSession {
        let session = state.hub.connect(Dialect::Json, outbox.clone());
        if let Access::Token(_) = access {
            // Bound to the identity from the start, so that continuing it later finds it.
            state
                .hub
                .adopt_session(session.id, &bound_session(&access, &session.token), None);
        }
        let admission = apply_access(&state.hub, session.id, &access, outbox, true);
        let admitted = admission.is_ok();
        let rate = RateGate::new(state.config.rate_limit, state.config.rate_burst);
        ProtocolSession {
            bytes: SendBytes::new(&state.budgets),
            state,
            id: session.id,
            token: session.token,
            rate,
            may_adopt: true,
            admitted,
            access,
            expiry: admission.ok().flatten(),
        }
    }

    /// Why `nick` may not be chosen because a signed-in user on a server sharing Redis holds
    /// it ([`crate::names`]); a name is checked, not reserved, for clients choosing their
    /// own. Only open servers let clients choose; while Redis is unreachable the check
    /// cannot be made, so the change is refused as `unavailable`.
    async fn reserved_elsewhere(&self, nick: &str) -> Option<ProtocolError> {
        let backplane = self.state.hub.backplane()?;
        match crate::names::is_reserved(backplane, nick).await {
            Ok(false) => None,
            Ok(true) => Some(ProtocolError::new(
                ErrorCode::NickTaken,
                format!("the nickname {nick:?} belongs to a signed-in user"),
            )),
            Err(_) => Some(ProtocolError::new(
                ErrorCode::Unavailable,
                "the chat backplane (Redis) is unreachable: nicknames cannot be checked; retry later",
            )),
        }
    }

    /// Takes a `refresh`: a valid token for the same identity moves the expiry and replaces
    /// the room permissions; anything else is refused and the old expiry stands.
    fn refresh(&mut self, token: &str, outbox: &Outbox) -> Result<(), ProtocolError> {
        let Some(auth) = &self.state.auth else {
            return Err(ProtocolError::new(
                ErrorCode::InvalidField,
                "this server checks no tokens: there is nothing to refresh",
            ));
        };
        let (Access::Token(current), Some(expiry)) = (&self.access, &self.expiry) else {
            return Err(ProtocolError::new(
                ErrorCode::Forbidden,
                "a guest connection has no token to refresh: reconnect with a token",
            ));
        };
        let old_exp = expiry.current();
        let fresh = match auth.check(Some(token), self.state.config.max_nick_len) {
            Ok(Access::Token(fresh)) => fresh,
            Ok(Access::Open | Access::Guest) => unreachable!("a token was given"),
            Err(err) => {
                return Err(ProtocolError::new(
                    ErrorCode::Unauthorized,
                    format!("refresh refused: {err}; the connection still closes at {old_exp}"),
                ))
            }
        };
        if !same_identity(current, &fresh) {
            return Err(ProtocolError::new(
                ErrorCode::Forbidden,
                format!(
                    "refresh refused: the token is for {:?} (nickname {:?}), this connection is \
                     {:?} (nickname {:?}); the connection still closes at {old_exp}",
                    fresh.subject, fresh.nick, current.subject, current.nick
                ),
            ));
        }
        let access = Access::Token(fresh.clone());
        // Same nickname, held by this connection: only the rights change.
        self.state.hub.apply_access(self.id, &access)?;
        expiry.move_to(fresh.expires_at);
        self.access = access;
        reply(
            outbox,
            &ServerEnvelope::Refreshed {
                exp: fresh.expires_at,
            },
        );
        Ok(())
    }

    async fn handle(&mut self, envelope: ClientEnvelope, outbox: &Outbox) {
        let hub = &self.state.hub;
        let result: Result<(), ProtocolError> = match envelope {
            ClientEnvelope::Nick { nick } => match self.reserved_elsewhere(&nick).await {
                Some(err) => Err(err),
                None => hub.set_nick(self.id, &nick),
            },
            ClientEnvelope::ListRooms => {
                let mut rooms = hub.rooms().await;
                self.state.budgets.trim_rooms(&mut rooms);
                reply(outbox, &ServerEnvelope::Rooms { rooms });
                Ok(())
            }
            ClientEnvelope::Join { rooms } => match self.room_list(rooms) {
                Ok(rooms) => {
                    for (i, room) in rooms.into_iter().enumerate() {
                        // Each room after the first costs a rate token, like an envelope
                        // of its own.
                        if i > 0 {
                            self.rate.pay(&self.state.metrics).await;
                        }
                        // An answer goes out only once the queue has room for the
                        // largest one: asking for many paces the client, never closes it.
                        outbox.room_for(self.state.budgets.largest_answer()).await;
                        if let Err(err) = hub.join(self.id, &room).await {
                            self.refuse(err, outbox);
                        }
                    }
                    Ok(())
                }
                Err(err) => Err(err),
            },
            ClientEnvelope::Leave { rooms } => match self.room_list(rooms) {
                Ok(rooms) => {
                    for (i, room) in rooms.into_iter().enumerate() {
                        if i > 0 {
                            self.rate.pay(&self.state.metrics).await;
                        }
                        if let Err(err) = hub.leave(self.id, &room) {
                            self.refuse(err, outbox);
                        }
                    }
                    Ok(())
                }
                Err(err) => Err(err),
            },
            ClientEnvelope::Send { room, text, id, n } => {
                self.may_adopt = false;
                let budgets = &self.state.budgets;
                // Over the byte rate, refused before the hub sees it: the line is not used
                // up (one over the text limit is left to the hub's final `too_large`).
                let over_rate = match budgets.check_text(&text) {
                    Ok(()) => self.bytes.spend(budgets.line_cost(&text)).err(),
                    Err(_) => None,
                };
                if let Some(mut err) = over_rate {
                    err.reference = id;
                    Err(err)
                } else if self.state.refusing_sends() {
                    // A simulated outage: like Redis being down, the line is not used up.
                    let mut err = unavailable_error();
                    err.reference = id;
                    Err(err)
                } else {
                    // Every answer is queued by the hub, in order with the deliveries.
                    let _ = hub.send(self.id, &room, &text, id, n).await;
                    Ok(())
                }
            }
            ClientEnvelope::Resume {
                room,
                after_seq,
                epoch,
            } => {
                // Numbers from another epoch mean nothing here: replay everything.
                let stale = epoch.is_some_and(|epoch| epoch != hub.epoch());
                let after_seq = if stale { 0 } else { after_seq };
                outbox.room_for(self.state.budgets.largest_answer()).await;
                hub.resume(self.id, &room, after_seq).await
            }
            ClientEnvelope::Session { token, next } => {
                if !self.may_adopt {
                    Err(ProtocolError::new(
                        ErrorCode::InvalidField,
                        "a `session` may be continued once per connection, before any `send`",
                    ))
                } else if TOKEN_LEN.contains(&token.len()) {
                    self.may_adopt = false;
                    self.token = token;
                    hub.adopt_session(self.id, &bound_session(&self.access, &self.token), next);
                    Ok(())
                } else {
                    Err(ProtocolError::new(
                        ErrorCode::InvalidField,
                        "`token` must be the `session` of an earlier `welcome`",
                    ))
                }
            }
            ClientEnvelope::Refresh { token } => self.refresh(&token, outbox),
            ClientEnvelope::Ping { id } => self
                .state
                .budgets
                .check_ping(id.as_deref())
                .map(|()| reply(outbox, &ServerEnvelope::Pong { id })),
            ClientEnvelope::Emit {
                room,
                event,
                data,
                ack,
            } => self
                .state
                .budgets
                .check_event(&event, &data)
                .and_then(|cost| self.bytes.spend(cost))
                .and_then(|()| hub.emit(self.id, &room, &event, data, ack))
                .map_err(|mut err| {
                    err.reference = ack.map(|ack| ack.to_string());
                    err
                }),
        };
        if let Err(err) = result {
            self.refuse(err, outbox);
        }
    }

    /// The rooms of a `join` or `leave`, each once, in order; a list longer than a
    /// connection may be in is refused whole (it could only be answered with errors).
    fn room_list(&self, rooms: Vec<String>) -> Result<Vec<String>, ProtocolError> {
        let max = self.state.config.max_rooms_per_connection;
        let mut seen = std::collections::HashSet::new();
        let rooms: Vec<String> = rooms
            .into_iter()
            .filter(|room| seen.insert(room.clone()))
            .collect();
        if rooms.len() > max {
            return Err(ProtocolError::new(
                ErrorCode::TooManyRooms,
                format!(
                    "{} rooms in one envelope: a connection may be in at most {max}",
                    rooms.len()
                ),
            ));
        }
        Ok(rooms)
    }

    fn refuse(&self, err: ProtocolError, outbox: &Outbox) {
        self.state.metrics.envelope_error();
        reply(outbox, &self.state.budgets.bound_error(err).into_envelope());
    }
}

/// What a session's scope is derived from: the session alone for open and guest
/// connections, the session and the token's subject for a signed-in one — so a leaked
/// session continued by another identity is a fresh scope of its own, and cannot spend the
/// owner's line numbers (the owner's next lines would be taken for repeats and dropped).
fn bound_session(access: &Access, session: &str) -> String {
    match access {
        Access::Token(identity) => {
            format!("{}:{}:{session}", identity.subject.len(), identity.subject)
        }
        Access::Open | Access::Guest => session.to_owned(),
    }
}

/// Whether a refreshed token names the connection's identity: same subject, same nickname.
fn same_identity(current: &Identity, fresh: &Identity) -> bool {
    current.subject == fresh.subject && current.nick == fresh.nick
}

impl Handler for ProtocolSession {
    async fn on_message(&mut self, message: Message, outbox: &Outbox) {
        match self.rate.check(&self.state.metrics) {
            Gate::Pass => {}
            Gate::Refuse => {
                let mut err = ProtocolError::new(
                    ErrorCode::RateLimited,
                    format!(
                        "over {} messages per second: this envelope was dropped",
                        self.state.config.rate_limit
                    ),
                );
                // Name the refused envelope, so a client knows which line to send again.
                err.reference = reference_of(&message);
                return self.refuse(err, outbox);
            }
            Gate::Close => {
                return outbox
                    .close_signal()
                    .close(CloseCode::Policy, "rate limit exceeded")
            }
        }
        let Message::Text(text) = message else {
            return self.refuse(
                ProtocolError::new(
                    ErrorCode::BinaryNotSupported,
                    "binary frames carry nothing in chat.v1: send JSON text",
                ),
                outbox,
            );
        };
        match ClientEnvelope::parse(text.as_str()) {
            Ok(envelope) => self.handle(envelope, outbox).await,
            Err(err) => self.refuse(err, outbox),
        }
    }

    async fn on_start(&mut self, outbox: &Outbox) {
        let state = &self.state;
        if !self.admitted {
            return;
        }
        let nick = state.hub.nick_of(self.id);
        reply(
            outbox,
            &ServerEnvelope::Welcome {
                nick,
                history_limit: state.hub.history_limit(),
                rate_limit: state.config.rate_limit,
                epoch: state.hub.epoch(),
                rate_burst: state.config.rate_burst,
                max_text_bytes: state.budgets.max_text_bytes,
                session: self.token.clone(),
            },
        );
        // A token may not allow the lobby: then the client joins what it may.
        if state.hub.may_join(self.id, LOBBY) {
            if let Err(err) = state.hub.join(self.id, LOBBY).await {
                self.refuse(err, outbox);
            }
        }
    }

    fn on_end(&mut self) {
        self.state.hub.disconnect(self.id);
    }
}
