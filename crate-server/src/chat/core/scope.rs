//! Session scopes: the line numbers and idempotency keys of one client session, which may
//! span several connections (a `session` envelope continues one after a reconnect).

use std::collections::{HashMap, VecDeque};

use ferrosocket_wire::chat::{ErrorCode, Seq};

/// How many handled lines a scope remembers by number. A client keeps at most 16 lines in
/// flight, so a repeat of any line it may still retry is far inside this window.
pub const REMEMBERED_LINES: usize = 256;
/// How many idempotency keys of `send`s without `n` a scope remembers.
pub const REMEMBERED_IDS: usize = 256;
/// How long a scope outlives its last connection, in milliseconds (in memory; the Redis
/// backplane gives its keys the same time to live).
pub const SCOPE_IDLE_MS: u64 = 10 * 60 * 1000;

/// What became of one line: what a repeat of it is answered again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineOutcome {
    /// Accepted as message `seq` of `room`.
    Accepted {
        /// The room.
        room: String,
        /// Its sequence number there.
        seq: Seq,
    },
    /// Refused for good (validation): a repeat gets the same error.
    Refused {
        /// The error code.
        code: ErrorCode,
        /// The explanation.
        message: String,
    },
}

/// One session's state: the next line number and the recent outcomes.
#[derive(Debug, Default)]
pub(crate) struct Scope {
    /// The `n` the next new line must carry.
    pub expected: u64,
    /// The outcomes of the last [`REMEMBERED_LINES`] numbered lines, oldest first.
    pub lines: VecDeque<(u64, LineOutcome)>,
    /// Outcomes by idempotency key (for `send`s without `n`), bounded by `ids_order`.
    pub ids: HashMap<String, LineOutcome>,
    pub ids_order: VecDeque<String>,
    /// Connections using this scope now.
    pub connections: usize,
    /// When the last connection left (ms), while none is left.
    pub idle_since: Option<u64>,
}

impl Scope {
    pub fn new(expected: u64) -> Scope {
        Scope {
            expected: expected.max(1),
            ..Scope::default()
        }
    }

    /// The stored outcome of line `n`, if still remembered.
    pub fn outcome_of(&self, n: u64) -> Option<&LineOutcome> {
        self.lines
            .iter()
            .rev()
            .find(|(line, _)| *line == n)
            .map(|(_, outcome)| outcome)
    }

    /// Records line `n`'s outcome and moves on to the next number.
    pub fn consume(&mut self, n: u64, outcome: LineOutcome) {
        if self.lines.len() == REMEMBERED_LINES {
            self.lines.pop_front();
        }
        self.lines.push_back((n, outcome));
        self.expected = self.expected.max(n + 1);
    }

    /// Records the outcome of a `send` with key `id` and no `n`.
    pub fn remember_id(&mut self, id: &str, outcome: LineOutcome) {
        if self.ids.insert(id.to_owned(), outcome).is_none() {
            self.ids_order.push_back(id.to_owned());
            if self.ids_order.len() > REMEMBERED_IDS {
                if let Some(oldest) = self.ids_order.pop_front() {
                    self.ids.remove(&oldest);
                }
            }
        }
    }
}
