//! Every size budget of the chat in one place, checked to fit together.
//!
//! A chat line, an event's data, names and ids each have a limit. From them follows the
//! largest envelope the server can ever send — JSON escaping included: a control character
//! becomes `\u0001`, six bytes for one — and the largest answer (a `joined`, a replay, a
//! room list). Each connection's outbound queue must hold the largest answer plus several
//! of the largest envelopes, or an honest reader could be closed as a slow consumer for
//! what somebody else sent. [`Budgets::new`] does that arithmetic once, at start, and
//! refuses settings that contradict each other, naming the flags.

use ferrosocket_wire::chat::{
    ErrorCode, HistoryEntry, JsonText, ProtocolError, RoomInfo, ServerEnvelope, MAX_DATA_DEPTH,
    MAX_ID_LEN,
};

use crate::config::Config;
use crate::limits::TokenBucket;

/// A JSON-escaped byte takes at most this many bytes (`\u0001`).
pub const ESCAPE_FACTOR: usize = 6;

/// The longest event name of an `emit`, in bytes.
pub const MAX_EVENT_NAME_LEN: usize = 64;

/// The most rooms one `rooms` answer lists (the first by name).
pub const MAX_LISTED_ROOMS: usize = 1_000;

/// The most members one `joined` lists (the joiner always among them).
pub const MAX_LISTED_MEMBERS: usize = 1_000;

/// How many of the largest envelopes a queue must hold besides the largest answer.
pub const HEADROOM: usize = 4;

/// How many of the largest envelopes a queue must hold at all ("many times over").
pub const MANY: usize = 8;

/// What one connection costs besides its buffers: its tasks, queue and state (about
/// 5 KiB idle), counted generously.
pub const CONNECTION_FIXED_BYTES: usize = 16 * 1024;

/// What one stored history line costs besides its text: the entry, its nickname and id.
pub const HISTORY_ENTRY_FIXED_BYTES: usize = 256;

/// The longest explanation an `error` envelope carries, in characters.
const MAX_ERROR_MESSAGE_CHARS: usize = 300;

/// The chat's size budgets, derived from the configuration and known to fit together.
///
/// # Examples
/// ```
/// use ferrosocket_server::{Budgets, Config};
///
/// let budgets = Budgets::new(&Config::default()).unwrap();
/// // The largest possible envelope fits each connection's queue many times over.
/// assert!(budgets.outbound_bytes >= 8 * budgets.largest_envelope());
///
/// let config = Config { outbound_bytes: 64 * 1024, ..Config::default() };
/// let err = Budgets::new(&config).unwrap_err();
/// assert!(err.contains("--outbound-bytes"), "{err}");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budgets {
    /// The longest `text` of a chat line (a `send`, or a plain client's message), in bytes.
    pub max_text_bytes: usize,
    /// The largest `data` of an `emit`, JSON-encoded, in bytes.
    pub max_event_bytes: usize,
    /// The most bytes of history (as encoded on the wire) a `joined` or a replay carries.
    pub history_bytes: usize,
    /// Bytes that may wait in one connection's outbound queue.
    pub outbound_bytes: usize,
    /// Messages that may wait in one connection's outbound queue.
    pub outbound_messages: usize,
    /// Bytes (as delivered, JSON-escaped) of lines and events one connection may send in a
    /// burst: what is left of a queue after the largest answer, divided by [`HEADROOM`], so
    /// that one sender's burst fits every receiver's queue that many times over.
    pub send_burst_bytes: usize,
    /// Those bytes a connection may send per second, sustained: `--rate-bytes`, by default
    /// half a burst.
    pub send_rate_bytes: usize,
    /// The largest message (and frame) a client may send, in bytes.
    pub max_message_bytes: usize,
    largest_line: usize,
    largest_event: usize,
    largest_envelope: usize,
    largest_answer: usize,
    max_connections: usize,
    max_rooms: usize,
    history: usize,
}

/// The length of `text` as a JSON string's contents: what serde_json writes between
/// the quotes.
pub fn escaped_len(text: &str) -> usize {
    text.bytes()
        .map(|byte| match byte {
            b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 2,
            0..=0x1f => ESCAPE_FACTOR,
            _ => 1,
        })
        .sum()
}

fn json_len(envelope: &ServerEnvelope) -> usize {
    envelope.to_json().len()
}

/// Encoded size of one history entry inside a `joined` (or, near enough, as a `message`
/// of a replay, which adds the room name, accounted for separately).
pub fn entry_len(entry: &HistoryEntry) -> usize {
    // `{"seq":N,"from":"","text":"","ts":N,"id":""},` with both numbers at their widest.
    const FRAME: usize = 60 + 2 * 20;
    FRAME
        + escaped_len(&entry.from)
        + escaped_len(&entry.text)
        + entry.id.as_deref().map_or(0, escaped_len)
}

impl Budgets {
    /// The budgets of `config`, or why they contradict each other, naming the flags.
    pub fn new(config: &Config) -> Result<Budgets, String> {
        let max_u64 = u64::MAX;
        let room = "r".repeat(config.max_room_len);
        let nick = "n".repeat(config.max_nick_len);
        // Names are limited to `A-Z a-z 0-9 _ - .`, which JSON never escapes; ids, texts and
        // event names may be anything and are counted escaped.
        let id_escaped = ESCAPE_FACTOR * MAX_ID_LEN;
        let largest_line = json_len(&ServerEnvelope::Message {
            room: room.clone(),
            seq: max_u64,
            from: nick.clone(),
            text: String::new(),
            ts: max_u64,
            id: Some(String::new()),
        }) + id_escaped
            + ESCAPE_FACTOR * config.max_text_bytes;
        let largest_event = json_len(&ServerEnvelope::Event {
            room: room.clone(),
            event: String::new(),
            from: nick.clone(),
            data: JsonText::null(),
        }) + ESCAPE_FACTOR * MAX_EVENT_NAME_LEN
            + config.max_event_bytes;
        let largest_plain = config.max_nick_len + 2 + config.max_text_bytes;
        let largest_notice = [
            json_len(&ServerEnvelope::Presence {
                room: room.clone(),
                change: ferrosocket_wire::chat::PresenceChange::Rename,
                nick: nick.clone(),
                old_nick: Some(nick.clone()),
            }),
            json_len(&ServerEnvelope::Pong {
                id: Some(String::new()),
            }) + id_escaped,
            json_len(&ServerEnvelope::Error {
                code: ErrorCode::BinaryNotSupported,
                message: String::new(),
                reference: Some(String::new()),
            }) + ESCAPE_FACTOR * (MAX_ERROR_MESSAGE_CHARS + 3 + MAX_ID_LEN),
        ]
        .into_iter()
        .max()
        .unwrap_or(0);
        let largest_envelope = largest_line
            .max(largest_event)
            .max(largest_plain)
            .max(largest_notice);

        let members_bytes = MAX_LISTED_MEMBERS * (config.max_nick_len + 3);
        let joined = json_len(&ServerEnvelope::Joined {
            room: room.clone(),
            members: Vec::new(),
            history: Vec::new(),
        }) + members_bytes
            + config.history_bytes;
        let replay = config.history_bytes
            + config.history.max(1) * (room.len() + 40)
            + json_len(&ServerEnvelope::Resumed {
                room: room.clone(),
                last_seq: max_u64,
                complete: false,
            });
        let listed = config.max_rooms.min(MAX_LISTED_ROOMS);
        let rooms = json_len(&ServerEnvelope::Rooms { rooms: Vec::new() })
            + listed
                * json_len(&ServerEnvelope::Rooms {
                    rooms: vec![RoomInfo {
                        name: room.clone(),
                        members: usize::MAX,
                    }],
                });
        let largest_answer = joined.max(replay).max(rooms);

        let mut problems = Vec::new();
        if config.max_text_bytes == 0 {
            problems.push("--max-text-bytes must be at least 1".to_owned());
        }
        // The client's `send` carries the text escaped the same way.
        let largest_send = largest_line + 64;
        if config.max_message_bytes < largest_send {
            problems.push(format!(
                "--max-message-bytes ({}) is smaller than the largest `send` a client may make \
                 under --max-text-bytes {} ({largest_send} bytes once JSON-escaped): raise \
                 --max-message-bytes or lower --max-text-bytes",
                config.max_message_bytes, config.max_text_bytes
            ));
        }
        let largest_emit = largest_event + 64;
        if config.max_message_bytes < largest_emit {
            problems.push(format!(
                "--max-message-bytes ({}) is smaller than the largest `emit` under \
                 --max-event-bytes {} ({largest_emit} bytes): raise --max-message-bytes or \
                 lower --max-event-bytes",
                config.max_message_bytes, config.max_event_bytes
            ));
        }
        if config.history > 0 && config.history_bytes < largest_line {
            problems.push(format!(
                "--history-bytes ({}) cannot hold even the newest line: a line under \
                 --max-text-bytes {} takes up to {largest_line} bytes; raise --history-bytes \
                 or lower --max-text-bytes",
                config.history_bytes, config.max_text_bytes
            ));
        }
        let needed = (largest_answer + HEADROOM * largest_envelope).max(MANY * largest_envelope);
        if config.outbound_bytes < needed {
            problems.push(format!(
                "--outbound-bytes ({}) must be at least {needed}: the largest answer (a join \
                 with --history-bytes {} and {MAX_LISTED_MEMBERS} members, or a replay, or a \
                 room list: {largest_answer} bytes) plus {HEADROOM} of the largest \
                 envelope (a line under --max-text-bytes {} escaped, or an event under \
                 --max-event-bytes {}: {largest_envelope} bytes), and at least {MANY} of \
                 those; raise --outbound-bytes or lower the others",
                config.outbound_bytes,
                config.history_bytes,
                config.max_text_bytes,
                config.max_event_bytes
            ));
        }
        let needed_messages = config.history + 1 + 4 * HEADROOM;
        if config.outbound_messages < needed_messages {
            problems.push(format!(
                "--outbound-messages ({}) must be at least {needed_messages}: a replay of \
                 --history {} lines, its end, and room for live traffic",
                config.outbound_messages, config.history
            ));
        }
        if !problems.is_empty() {
            return Err(format!(
                "the limits contradict each other:\n  - {}",
                problems.join("\n  - ")
            ));
        }
        Ok(Budgets {
            max_text_bytes: config.max_text_bytes,
            max_event_bytes: config.max_event_bytes,
            history_bytes: config.history_bytes,
            outbound_bytes: config.outbound_bytes,
            outbound_messages: config.outbound_messages,
            send_burst_bytes: (config.outbound_bytes - largest_answer) / HEADROOM,
            send_rate_bytes: config
                .rate_bytes
                .unwrap_or((config.outbound_bytes - largest_answer) / HEADROOM / 2),
            max_message_bytes: config.max_message_bytes,
            largest_line,
            largest_event,
            largest_envelope,
            largest_answer,
            max_connections: config.max_connections,
            max_rooms: config.max_rooms,
            history: config.history,
        })
    }

    /// The most memory one WebSocket connection can hold, in bytes, as docs/HARDENING.md
    /// ("Memory bound") derives it: the outbound queue, max(B, M); what is being written,
    /// W + M + 14; what is being read, 2M + C; a read chunk C; hyper's bytes read ahead
    /// before the upgrade, H; the fixed cost F — with M = `max_message_bytes`,
    /// B = `outbound_bytes`, W = C = H = 64 KiB and F = 16 KiB.
    ///
    /// Under the defaults: 1 MiB + 3 x 1 MiB + 1 MiB + 4 x 64 KiB + 16 KiB + 14 = 4.27 MiB.
    pub fn connection_memory_bound(&self) -> usize {
        const KIB_64: usize = 64 * 1024;
        let (m, b) = (self.max_message_bytes, self.outbound_bytes);
        b.max(m) + KIB_64 + 3 * m + 2 * KIB_64 + KIB_64 + CONNECTION_FIXED_BYTES + 14
    }

    /// The most memory the rooms' history can hold, in bytes: every room keeps at most
    /// `history` lines and at most `history_bytes` of them as sent (the newest line always),
    /// each with [`HISTORY_ENTRY_FIXED_BYTES`] of bookkeeping.
    pub fn history_memory_bound(&self) -> usize {
        let per_room = (self.history * self.max_text_bytes)
            .min(self.history_bytes.max(self.max_text_bytes))
            + self.history * HISTORY_ENTRY_FIXED_BYTES;
        self.max_rooms * per_room
    }

    /// The server's total bound: every connection at its worst plus every room's history.
    pub fn server_memory_bound(&self) -> usize {
        self.max_connections * self.connection_memory_bound() + self.history_memory_bound()
    }

    /// The largest envelope the server may send on its own (not an answer), in bytes.
    pub fn largest_envelope(&self) -> usize {
        self.largest_envelope
    }

    /// The largest `message` envelope, in bytes.
    pub fn largest_line(&self) -> usize {
        self.largest_line
    }

    /// The largest `event` envelope, in bytes.
    pub fn largest_event(&self) -> usize {
        self.largest_event
    }

    /// The largest answer (`joined`, a replay, `rooms`), in bytes.
    pub fn largest_answer(&self) -> usize {
        self.largest_answer
    }

    /// `Err(length)` when a chat line is longer than `max_text_bytes`.
    pub fn check_text(&self, text: &str) -> Result<(), usize> {
        if text.len() > self.max_text_bytes {
            Err(text.len())
        } else {
            Ok(())
        }
    }

    /// The notice a plain client gets for a line over `max_text_bytes`.
    pub fn plain_too_large(&self, text_bytes: usize) -> String {
        format!(
            "* your message is {text_bytes} bytes, over the {}-byte limit: not delivered",
            self.max_text_bytes
        )
    }

    /// What a line costs against [`SendBytes`]: its text as delivered, JSON-escaped.
    pub fn line_cost(&self, text: &str) -> usize {
        escaped_len(text)
    }

    /// Checks an `emit`: the event name within [`MAX_EVENT_NAME_LEN`] bytes and the data,
    /// JSON-encoded, within `max_event_bytes` and nesting at most [`MAX_DATA_DEPTH`] deep
    /// (deeper data would be lost on its way to the other servers); `too_large` otherwise.
    /// Returns what it costs against [`SendBytes`].
    pub fn check_event(&self, event: &str, data: &JsonText) -> Result<usize, ProtocolError> {
        if event.len() > MAX_EVENT_NAME_LEN {
            return Err(ProtocolError::new(
                ErrorCode::TooLarge,
                format!(
                    "the event name is {} bytes, over the {MAX_EVENT_NAME_LEN}-byte limit: \
                     nothing was delivered",
                    event.len()
                ),
            ));
        }
        // Compact JSON text: the server read it into a value and wrote it back out.
        let data_bytes = data.as_str().len();
        if data_bytes > self.max_event_bytes {
            return Err(ProtocolError::new(
                ErrorCode::TooLarge,
                format!(
                    "the event data is {data_bytes} bytes as JSON, over the {}-byte limit: \
                     nothing was delivered",
                    self.max_event_bytes
                ),
            ));
        }
        let depth = data.depth();
        if depth > MAX_DATA_DEPTH {
            return Err(ProtocolError::new(
                ErrorCode::TooLarge,
                format!(
                    "the event data nests arrays and objects {depth} deep, over the \
                     {MAX_DATA_DEPTH}-level limit: nothing was delivered"
                ),
            ));
        }
        Ok(data_bytes + escaped_len(event))
    }

    /// Checks a `ping`'s `id`: echoed in the `pong`, so it is held to [`MAX_ID_LEN`].
    pub fn check_ping(&self, id: Option<&str>) -> Result<(), ProtocolError> {
        match id {
            Some(id) if id.len() > MAX_ID_LEN => Err(ProtocolError::new(
                ErrorCode::InvalidField,
                format!(
                    "field `id` of a `ping` is {} bytes, longer than {MAX_ID_LEN}",
                    id.len()
                ),
            )),
            _ => Ok(()),
        }
    }

    /// Keeps the newest entries of `history` whose encoded size fits `history_bytes`
    /// (oldest first, as given); returns whether any were left out.
    pub fn trim_history(&self, history: &mut Vec<HistoryEntry>) -> bool {
        let mut total = 0;
        let keep_from = history
            .iter()
            .rposition(|entry| {
                total += entry_len(entry);
                total > self.history_bytes
            })
            .map_or(0, |too_many| too_many + 1);
        history.drain(..keep_from);
        keep_from > 0
    }

    /// At most [`MAX_LISTED_MEMBERS`] members, `own` (the joiner's nickname, asked for only
    /// when the list is cut) among them.
    pub fn trim_members(&self, members: &mut Vec<String>, own: impl FnOnce() -> String) {
        if members.len() <= MAX_LISTED_MEMBERS {
            return;
        }
        let own = own();
        members.retain(|nick| *nick != own);
        members.truncate(MAX_LISTED_MEMBERS - 1);
        members.push(own);
        members.sort();
    }

    /// At most [`MAX_LISTED_ROOMS`] rooms, the first by name.
    pub fn trim_rooms(&self, rooms: &mut Vec<RoomInfo>) {
        rooms.truncate(MAX_LISTED_ROOMS);
    }

    /// An error cut to a bounded size: its explanation may quote what the client sent,
    /// and its reference is dropped when it is longer than any valid id.
    pub fn bound_error(&self, mut err: ProtocolError) -> ProtocolError {
        if let Some((cut, _)) = err.message.char_indices().nth(MAX_ERROR_MESSAGE_CHARS) {
            err.message.truncate(cut);
            err.message.push_str("...");
        }
        if err.reference.as_ref().is_some_and(|r| r.len() > MAX_ID_LEN) {
            err.reference = None;
        }
        err
    }
}

/// The bytes a connection's lines and events put on the wire, paced by a token bucket of
/// [`Budgets::send_burst_bytes`] refilled at [`Budgets::send_rate_bytes`] a second: within
/// it, one sender's burst fits every receiver's queue [`HEADROOM`] times over, so nobody
/// reading at a fair pace is closed as a slow consumer for what one neighbour sent.
#[derive(Debug)]
pub struct SendBytes {
    bucket: TokenBucket,
    rate: usize,
}

impl SendBytes {
    /// A full bucket for `budgets`.
    pub fn new(budgets: &Budgets) -> SendBytes {
        let clamp = |bytes: usize| u32::try_from(bytes).unwrap_or(u32::MAX);
        SendBytes {
            bucket: TokenBucket::new(
                clamp(budgets.send_rate_bytes),
                clamp(budgets.send_burst_bytes),
            ),
            rate: budgets.send_rate_bytes,
        }
    }

    /// Spends `bytes`, or says why not: the `rate_limited` error to answer with.
    pub fn spend(&mut self, bytes: usize) -> Result<(), ProtocolError> {
        if self.bucket.try_take_amount(bytes as f64) {
            Ok(())
        } else {
            Err(ProtocolError::new(
                ErrorCode::RateLimited,
                format!(
                    "over {} bytes per second of lines and events (as delivered, JSON-escaped): \
                     this envelope was dropped; send it again a little later",
                    self.rate
                ),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use serde_json::Value;

    fn config(args: &[&str]) -> Config {
        let mut all = vec!["ferrosocket-server"];
        all.extend_from_slice(args);
        Config::try_parse_from(all).unwrap()
    }

    #[test]
    fn the_defaults_fit_together_many_times_over() {
        let budgets = Budgets::new(&Config::default()).unwrap();
        assert_eq!(budgets.max_text_bytes, 16 * 1024);
        assert!(budgets.outbound_bytes >= MANY * budgets.largest_envelope());
        assert!(
            budgets.outbound_bytes
                >= budgets.largest_answer() + HEADROOM * budgets.largest_envelope()
        );
        // A line of control characters is six times its size on the wire.
        assert!(budgets.largest_line() > 6 * budgets.max_text_bytes);
        // The memory bound stated in docs/HARDENING.md.
        let mib = |bytes: usize| bytes as f64 / f64::from(1u32 << 20);
        assert!((4.2..4.3).contains(&mib(budgets.connection_memory_bound())));
        assert!((1400.0..1600.0).contains(&mib(budgets.history_memory_bound())));
    }

    #[test]
    fn the_largest_envelopes_really_are_the_largest() {
        let budgets = Budgets::new(&Config::default()).unwrap();
        let control = "\u{1}".repeat(budgets.max_text_bytes);
        let message = ServerEnvelope::Message {
            room: "r".repeat(64),
            seq: u64::MAX,
            from: "n".repeat(32),
            text: control.clone(),
            ts: u64::MAX,
            id: Some("\u{2}".repeat(MAX_ID_LEN)),
        };
        assert!(json_len(&message) <= budgets.largest_line());
        // The `data` of an event at its limit, the name at its limit of control characters.
        let data = JsonText::from(Value::String("x".repeat(budgets.max_event_bytes - 2)));
        budgets.check_event("e", &data).unwrap();
        let event = ServerEnvelope::Event {
            room: "r".repeat(64),
            event: "\u{3}".repeat(MAX_EVENT_NAME_LEN),
            from: "n".repeat(32),
            data,
        };
        assert!(json_len(&event) <= budgets.largest_event());
        // Escaped lengths match serde_json's for every byte value.
        let every: String = (0u8..=0x7f)
            .map(char::from)
            .chain(['é', '€', '😀'])
            .collect();
        assert_eq!(
            escaped_len(&every) + 2,
            serde_json::to_string(&every).unwrap().len()
        );
    }

    #[test]
    fn contradictions_are_refused_naming_the_flags() {
        let err = Budgets::new(&config(&["--outbound-bytes", "100000"])).unwrap_err();
        assert!(err.contains("--outbound-bytes (100000)"), "{err}");
        assert!(err.contains("--max-text-bytes"), "{err}");

        let err = Budgets::new(&config(&["--max-text-bytes", "200000"])).unwrap_err();
        assert!(err.contains("--max-message-bytes"), "{err}");
        assert!(err.contains("--history-bytes"), "{err}");

        let err = Budgets::new(&config(&["--max-event-bytes", "2000000"])).unwrap_err();
        assert!(err.contains("--max-event-bytes 2000000"), "{err}");

        let err = Budgets::new(&config(&["--outbound-messages", "50"])).unwrap_err();
        assert!(err.contains("--outbound-messages (50)"), "{err}");

        // Raising the text limit with the budgets that must follow it is accepted.
        Budgets::new(&config(&[
            "--max-text-bytes",
            "65536",
            "--history-bytes",
            "524288",
            "--outbound-bytes",
            "8388608",
        ]))
        .unwrap();
    }

    #[test]
    fn texts_events_and_pings_over_their_limits_are_refused() {
        let budgets = Budgets::new(&Config::default()).unwrap();
        let at_limit = "\u{1}".repeat(budgets.max_text_bytes);
        budgets.check_text(&at_limit).unwrap();
        assert_eq!(
            budgets.check_text(&format!("{at_limit}x")),
            Err(budgets.max_text_bytes + 1)
        );
        let long_id = "i".repeat(MAX_ID_LEN + 1);
        // Escaping counts: 1,000 control characters are 6,000 bytes of JSON.
        let data = JsonText::from(Value::String("\u{1}".repeat(1000)));
        assert_eq!(
            budgets.check_event("e", &data).unwrap_err().code,
            ErrorCode::TooLarge
        );
        assert!(budgets
            .check_event(&"e".repeat(65), &JsonText::null())
            .is_err());
        // Nesting: up to the limit, and not one level more.
        let nested = |n: usize| JsonText::parse(&format!("{}{}", "[".repeat(n), "]".repeat(n)));
        budgets
            .check_event("e", &nested(MAX_DATA_DEPTH).unwrap())
            .unwrap();
        assert_eq!(
            budgets
                .check_event("e", &nested(MAX_DATA_DEPTH + 1).unwrap())
                .unwrap_err()
                .code,
            ErrorCode::TooLarge
        );
        assert!(budgets.check_ping(Some(&long_id)).is_err());
        budgets.check_ping(Some("hb-1")).unwrap();
    }

    #[test]
    fn one_senders_burst_fits_every_queue_several_times_over() {
        let budgets = Budgets::new(&Config::default()).unwrap();
        assert!(budgets.send_burst_bytes >= budgets.largest_line());
        assert!(
            budgets.largest_answer() + HEADROOM * budgets.send_burst_bytes
                <= budgets.outbound_bytes
        );
        let mut bytes = SendBytes::new(&budgets);
        let line = "\u{1}".repeat(budgets.max_text_bytes);
        let mut sent = 0;
        while bytes.spend(budgets.line_cost(&line)).is_ok() {
            sent += 1;
        }
        assert!(sent >= 1, "a line at the limit can always be sent");
        assert!(sent * budgets.line_cost(&line) <= budgets.send_burst_bytes);
        let err = bytes.spend(budgets.line_cost(&line)).unwrap_err();
        assert_eq!(err.code, ErrorCode::RateLimited);
        // Short lines are not what this limits.
        let mut bytes = SendBytes::new(&budgets);
        assert!((0..1000).all(|_| bytes.spend(budgets.line_cost("hello")).is_ok()));
    }

    #[test]
    fn history_is_trimmed_to_its_newest_lines_that_fit() {
        let budgets = Budgets::new(&Config::default()).unwrap();
        let entry = |seq, text: &str| HistoryEntry {
            seq,
            from: "ada".into(),
            text: text.into(),
            ts: 1,
            id: None,
        };
        let mut small: Vec<HistoryEntry> = (1..=100).map(|seq| entry(seq, "hello")).collect();
        assert!(!budgets.trim_history(&mut small));
        assert_eq!(small.len(), 100);

        let control = "\u{1}".repeat(budgets.max_text_bytes);
        let mut big: Vec<HistoryEntry> = (1..=100).map(|seq| entry(seq, &control)).collect();
        assert!(budgets.trim_history(&mut big));
        assert!(!big.is_empty(), "the newest line always fits");
        assert_eq!(big.last().unwrap().seq, 100);
        let encoded = serde_json::to_string(&big).unwrap().len();
        assert!(encoded <= budgets.history_bytes, "{encoded}");
        // It kept as many as fit: one more would not have.
        let mut one_more = vec![entry(0, &control)];
        one_more.extend(big.iter().cloned());
        assert!(serde_json::to_string(&one_more).unwrap().len() > budgets.history_bytes);
    }

    #[test]
    fn errors_quoting_client_input_are_bounded() {
        let budgets = Budgets::new(&Config::default()).unwrap();
        let err = ProtocolError {
            code: ErrorCode::UnknownType,
            message: format!("unknown envelope type {:?}", "\u{1}".repeat(100_000)),
            reference: Some("r".repeat(10_000)),
        };
        let bounded = budgets.bound_error(err).into_envelope();
        assert!(json_len(&bounded) <= budgets.largest_envelope());
    }
}
