//! The seams between the simulated world and the state machines it drives: [`SimClient`]
//! (one chat session) and [`SimServer`] (one server's hub). Adapters to the real cores are
//! thin implementations of these traits; everything else in the crate is the world.

use ferrosocket_wire::chat::{ClientEnvelope, Seq, ServerEnvelope};

/// Milliseconds of simulated time since the run began.
pub type Millis = u64;

/// Identifies one simulated connection (unique over a whole run, across servers).
pub type ConnId = u64;

/// What a client tells its application, reduced to what the invariants need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppEvent {
    /// A line from someone else (live, replayed or from a join's history) is shown.
    Message {
        /// The room.
        room: String,
        /// Its sequence number.
        seq: Seq,
        /// Its text (unique per line in the simulation, so it names the line).
        text: String,
    },
    /// One of this client's lines was accepted by the server.
    Sent {
        /// The key [`SimClient::send`] returned.
        id: String,
        /// The room.
        room: String,
        /// Its sequence number.
        seq: Seq,
    },
    /// One of this client's lines will never be delivered.
    Failed {
        /// The key [`SimClient::send`] returned.
        id: String,
        /// The room.
        room: String,
        /// Why, for the report.
        reason: String,
    },
}

/// One client's chat session as a sans-IO state machine.
pub trait SimClient {
    /// The connection opened (the server's `welcome` follows).
    fn connected(&mut self, now: Millis);
    /// The connection is gone; frames sent on it may or may not have arrived.
    fn disconnected(&mut self, now: Millis);
    /// An envelope arrived from the server.
    fn received(&mut self, envelope: ServerEnvelope, now: Millis);
    /// The user sends `text` to `room`; returns the line's key (as later events name it).
    fn send(&mut self, room: &str, text: &str, now: Millis) -> String;
    /// The user joins `room` (kept across reconnects).
    fn join(&mut self, room: &str, now: Millis);
    /// Time passed; called at (or after) [`SimClient::next_wakeup`].
    fn tick(&mut self, now: Millis);
    /// The next envelope to write to the connection, if any.
    fn poll_transmit(&mut self) -> Option<ClientEnvelope>;
    /// The next event for the application, if any.
    fn poll_event(&mut self) -> Option<AppEvent>;
    /// When the client next wants [`SimClient::tick`] called.
    fn next_wakeup(&self) -> Option<Millis>;
    /// Lines neither acknowledged nor reported failed.
    fn unacknowledged(&self) -> usize;
    /// The client's state, for a trace.
    fn describe(&self) -> String {
        String::new()
    }
}

/// What a server wants done on a connection.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerOutput {
    /// Write `envelope` to connection `conn`.
    Send(ConnId, ServerEnvelope),
    /// Close connection `conn` after what was written to it (a close frame with `code`).
    Close(ConnId, u16),
}

/// One server's chat hub as a sans-IO state machine. The world puts the connection's
/// rate gate in front of it (as the server's connection task does), so `received` is only
/// called for envelopes the gate let through.
pub trait SimServer {
    /// A new connection was accepted (the server greets it with `welcome`).
    fn connect(&mut self, conn: ConnId, now: Millis);
    /// A text frame arrived on `conn` (JSON, as sent by the client).
    fn received(&mut self, conn: ConnId, text: &str, now: Millis);
    /// `conn` is gone.
    fn disconnected(&mut self, conn: ConnId, now: Millis);
    /// Time passed; called at (or after) [`SimServer::next_wakeup`].
    fn tick(&mut self, _now: Millis) {}
    /// When the server next wants [`SimServer::tick`] called.
    fn next_wakeup(&self) -> Option<Millis> {
        None
    }
    /// The next thing to do on a connection, if any.
    fn poll_output(&mut self) -> Option<ServerOutput>;
    /// The rate limit the server announces and enforces (messages per second, burst).
    fn rate(&self) -> (u32, u32);
    /// Redis mode: a name unique to this server's life, to recognise its own lines.
    fn log_name(&self) -> u64 {
        0
    }
    /// Redis mode: the next request for the shared log, if any.
    fn poll_log_request(&mut self) -> Option<LogRequest> {
        None
    }
    /// Redis mode: the log answered.
    fn log_reply(&mut self, _reply: LogReply, _now: Millis) {}
    /// Redis mode: a line came on the subscription.
    fn log_arrived(&mut self, _line: LogLine, _now: Millis) {}
    /// Redis mode: the subscription was lost (`false`) or is back (`true`).
    fn log_link(&mut self, _up: bool, _now: Millis) {}
}

/// A line as the shared log (Redis mode) holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// The room.
    pub room: String,
    /// Its number in the room, given by the log.
    pub seq: Seq,
    /// The sender's nickname.
    pub from: String,
    /// The text.
    pub text: String,
    /// The sender's key.
    pub id: Option<String>,
    /// The sender's session scope.
    pub scope: String,
    /// The server (its [`SimServer::log_name`]) and connection that published it.
    pub origin: (u64, ConnId),
}

/// A request from a server to the shared log; `tag` matches the reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogRequest {
    /// Number and store a line (or answer the number it got before: the log dedupes a
    /// scope's lines by `n`, or by `id` without `n`).
    Publish {
        /// Matches the reply.
        tag: u64,
        /// The line (its `seq` is ignored).
        line: LogLine,
        /// Its number in the session.
        n: Option<u64>,
    },
    /// The lines of `room` numbered after `after`, up to `through`.
    Range {
        /// Matches the reply.
        tag: u64,
        /// The room.
        room: String,
        /// Exclusive lower bound.
        after: Seq,
        /// Inclusive upper bound.
        through: Seq,
    },
    /// The room's latest `limit` lines (`after: None`) or those after `after`, and its last
    /// number.
    Snapshot {
        /// Matches the reply.
        tag: u64,
        /// The room.
        room: String,
        /// For a resume.
        after: Option<Seq>,
        /// The most lines wanted.
        limit: usize,
    },
}

/// The log's answer to a [`LogRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogReply {
    /// The line's number (a repeat's earlier number).
    Published {
        /// The request's tag.
        tag: u64,
        /// Its number.
        seq: Seq,
    },
    /// Lines, oldest first.
    Lines {
        /// The request's tag.
        tag: u64,
        /// The lines.
        lines: Vec<LogLine>,
        /// The room's last number.
        last_seq: Seq,
    },
    /// The log could not be reached.
    Unreachable {
        /// The request's tag.
        tag: u64,
    },
}
