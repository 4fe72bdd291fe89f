//! A `/chat` connection that speaks the JSON protocol (`chat.v1`).

use std::sync::Arc;

use ferrosocket_wire::chat::{
    ClientEnvelope, ErrorCode, ProtocolError, Seq, ServerEnvelope, LOBBY,
};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use super::hub::{backplane_error, Replay};
use super::{ConnId, Dialect, Gate, RateGate};
use crate::budget::{Budgets, SendBytes};
use crate::connection::Handler;
use crate::outbox::Outbox;
use crate::state::AppState;

/// One JSON protocol connection.
#[derive(Debug)]
pub(crate) struct ProtocolSession {
    state: Arc<AppState>,
    id: ConnId,
    rate: RateGate,
    bytes: SendBytes,
}

fn encode(envelope: &ServerEnvelope) -> Message {
    Message::Text(Utf8Bytes::from(envelope.to_json()))
}

fn reply(outbox: &Outbox, envelope: &ServerEnvelope) {
    let _ = outbox.push(encode(envelope));
}

/// The `message` envelopes of a replay, then `resumed`: the newest missed lines that fit
/// the history budget (`complete` is false when older ones were left out).
fn replay_messages(budgets: &Budgets, room: &str, mut replay: Replay) -> Vec<Message> {
    if budgets.trim_history(&mut replay.missed) {
        replay.complete = false;
    }
    let mut messages: Vec<Message> = replay
        .missed
        .into_iter()
        .map(|entry| {
            encode(&ServerEnvelope::Message {
                room: room.to_owned(),
                seq: entry.seq,
                from: entry.from,
                text: entry.text,
                ts: entry.ts,
                id: entry.id,
            })
        })
        .collect();
    messages.push(encode(&ServerEnvelope::Resumed {
        room: room.to_owned(),
        last_seq: replay.last_seq,
        complete: replay.complete,
    }));
    messages
}

impl ProtocolSession {
    /// Registers the connection; [`Handler::on_start`] greets it.
    pub fn start(state: Arc<AppState>, outbox: &Outbox) -> ProtocolSession {
        let (id, _nick) = state.hub.connect(Dialect::Json, outbox.clone());
        let rate = RateGate::new(state.config.rate_limit, state.config.rate_burst);
        let bytes = SendBytes::new(&state.budgets);
        ProtocolSession {
            state,
            id,
            rate,
            bytes,
        }
    }

    /// Joins `room` and answers with its members and history, from Redis when the server
    /// shares rooms (falling back to what this server knows if Redis is unreachable).
    async fn join(&self, room: String, outbox: &Outbox) {
        let hub = &self.state.hub;
        let budgets = &self.state.budgets;
        // An answer goes out only once the queue has room for the largest one plus live
        // traffic: a client joining many rooms at once is paced, never closed as slow.
        outbox.room_for(budgets.largest_answer()).await;
        let Some(backplane) = hub.backplane() else {
            match hub.join(self.id, &room) {
                Ok(mut joined) => {
                    budgets.trim_history(&mut joined.history);
                    budgets.trim_members(&mut joined.members, || hub.nick_of(self.id));
                    reply(
                        outbox,
                        &ServerEnvelope::Joined {
                            room,
                            members: joined.members,
                            history: joined.history,
                        },
                    )
                }
                Err(err) => self.refuse(err, outbox),
            }
            return;
        };
        let already = hub.sender_in(self.id, &room).is_ok();
        if !already {
            hub.hold(self.id, &room);
        }
        let mut joined = match hub.join(self.id, &room) {
            Ok(joined) => joined,
            Err(err) => {
                hub.finish_join(self.id, &room, 0, Vec::new());
                return self.refuse(err, outbox);
            }
        };
        if let Ok(last) = backplane.last_seq(&room).await {
            hub.note_seq(&room, last);
        }
        if let Ok(history) = backplane.latest(&room).await {
            joined.history = history;
        }
        if let Ok(members) = backplane.members(&room).await {
            if !members.is_empty() {
                joined.members = members;
            }
        }
        budgets.trim_history(&mut joined.history);
        budgets.trim_members(&mut joined.members, || hub.nick_of(self.id));
        let covered = joined.history.last().map_or(0, |entry| entry.seq);
        let answer = encode(&ServerEnvelope::Joined {
            room: room.clone(),
            members: joined.members,
            history: joined.history,
        });
        hub.finish_join(self.id, &room, covered, vec![answer]);
    }

    /// Replays `room` after `after_seq`.
    async fn resume(
        &self,
        room: String,
        after_seq: Seq,
        outbox: &Outbox,
    ) -> Result<(), ProtocolError> {
        let hub = &self.state.hub;
        let budgets = &self.state.budgets;
        outbox.room_for(budgets.largest_answer()).await;
        let Some(backplane) = hub.backplane() else {
            let replay = hub.resume(self.id, &room, after_seq)?;
            for message in replay_messages(budgets, &room, replay) {
                let _ = outbox.push(message);
            }
            return Ok(());
        };
        hub.hold(self.id, &room);
        if hub.sender_in(self.id, &room).is_err() {
            if let Err(err) = hub.join(self.id, &room) {
                hub.finish_join(self.id, &room, 0, Vec::new());
                return Err(err);
            }
        }
        let read = async {
            let missed = backplane.range(&room, after_seq).await?;
            let last_seq = backplane.last_seq(&room).await?;
            Ok::<_, crate::backplane::BackplaneError>((missed, last_seq))
        };
        match read.await {
            Ok((missed, last_seq)) => {
                hub.note_seq(&room, last_seq);
                let complete =
                    after_seq >= last_seq || missed.first().is_some_and(|m| m.seq == after_seq + 1);
                let covered = missed.last().map_or(after_seq, |m| m.seq);
                let replay = Replay {
                    missed,
                    last_seq,
                    complete,
                };
                hub.finish_join(
                    self.id,
                    &room,
                    covered,
                    replay_messages(budgets, &room, replay),
                );
                Ok(())
            }
            Err(err) => {
                hub.finish_join(self.id, &room, 0, Vec::new());
                Err(backplane_error(err))
            }
        }
    }

    async fn handle(&mut self, envelope: ClientEnvelope, outbox: &Outbox) {
        let hub = &self.state.hub;
        let result: Result<(), ProtocolError> = match envelope {
            ClientEnvelope::Nick { nick } => hub
                .set_nick(self.id, &nick)
                .map(|nick| reply(outbox, &ServerEnvelope::Nick { nick })),
            ClientEnvelope::ListRooms => {
                let mut rooms = match hub.backplane() {
                    Some(backplane) => backplane.rooms().await.unwrap_or_else(|_| hub.rooms()),
                    None => hub.rooms(),
                };
                self.state.budgets.trim_rooms(&mut rooms);
                reply(outbox, &ServerEnvelope::Rooms { rooms });
                Ok(())
            }
            ClientEnvelope::Join { rooms } => {
                for room in rooms {
                    self.join(room, outbox).await;
                }
                Ok(())
            }
            ClientEnvelope::Leave { rooms } => {
                for room in rooms {
                    match hub.leave(self.id, &room) {
                        Ok(()) => reply(outbox, &ServerEnvelope::Left { room }),
                        Err(err) => self.refuse(err, outbox),
                    }
                }
                Ok(())
            }
            ClientEnvelope::Send { room, text, id, .. } => {
                // Over its budget, a line is refused for good, whatever else is going on.
                let budgets = &self.state.budgets;
                let checked = budgets
                    .check_send(&text, id.as_deref())
                    .and_then(|()| self.bytes.spend(budgets.line_cost(&text)));
                let accepted = match (checked, hub.backplane()) {
                    (Err(err), _) => Err(err),
                    _ if self.state.refusing_sends() => Err(super::hub::unavailable_error()),
                    (Ok(()), Some(backplane)) => {
                        hub.send_replicated(backplane, self.id, &room, &text, id.as_deref())
                            .await
                    }
                    (Ok(()), None) => hub.send(self.id, &room, &text, id.as_deref()),
                };
                match accepted {
                    Ok(accepted) => {
                        reply(
                            outbox,
                            &ServerEnvelope::Ack {
                                id,
                                room,
                                seq: accepted.seq,
                            },
                        );
                        Ok(())
                    }
                    Err(mut err) => {
                        err.reference = id;
                        Err(err)
                    }
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
                self.resume(room, after_seq, outbox).await
            }
            // TODO(issue 13): adopt the session's scope and line numbering.
            ClientEnvelope::Session { .. } => Ok(()),
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
            } => match self
                .state
                .budgets
                .check_event(&event, &data)
                .and_then(|cost| self.bytes.spend(cost))
                .and_then(|()| hub.emit(self.id, &room, &event, data))
            {
                Ok(()) => {
                    if let Some(ack) = ack {
                        reply(outbox, &ServerEnvelope::EventAck { ack });
                    }
                    Ok(())
                }
                Err(mut err) => {
                    err.reference = ack.map(|ack| ack.to_string());
                    Err(err)
                }
            },
        };
        if let Err(err) = result {
            self.refuse(err, outbox);
        }
    }

    fn refuse(&self, err: ProtocolError, outbox: &Outbox) {
        self.state.metrics.envelope_error();
        reply(outbox, &self.state.budgets.bound_error(err).into_envelope());
    }
}

impl Handler for ProtocolSession {
    async fn on_message(&mut self, message: Message, outbox: &Outbox) {
        match self.rate.check(&self.state.metrics) {
            Gate::Pass => {}
            Gate::Refuse => {
                return self.refuse(
                    ProtocolError::new(
                        ErrorCode::RateLimited,
                        format!(
                            "over {} messages per second: this envelope was dropped",
                            self.state.config.rate_limit
                        ),
                    ),
                    outbox,
                )
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
        let nick = state.hub.nick_of(self.id);
        reply(
            outbox,
            &ServerEnvelope::Welcome {
                nick,
                history_limit: state.hub.history_limit(),
                rate_limit: state.config.rate_limit,
                epoch: state.hub.epoch().to_owned(),
                rate_burst: state.config.rate_burst,
                max_text_bytes: state.budgets.max_text_bytes,
                session: super::new_id(),
            },
        );
        self.join(LOBBY.to_owned(), outbox).await;
    }

    fn on_end(&mut self) {
        self.state.hub.disconnect(self.id);
    }
}
