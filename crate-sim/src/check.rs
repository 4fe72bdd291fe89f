//! [`Ledger`]: what every client did and saw during a run, and the invariants checked on it
//! once the run is quiet.
//!
//! Lines are named by their text, which the world makes unique (`c3-17` is client 3's
//! 17th line). An epoch is one life of the history the clients read from: in-memory mode
//! starts a new one at every server crash; with a shared log it never changes.

use std::collections::BTreeMap;

use ferrosocket_wire::chat::Seq;

use crate::actor::{AppEvent, Millis};

/// How much the system promises across a server crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Every acknowledged line reaches every member exactly once (a shared log survives
    /// server crashes, or nothing crashes).
    Durable,
    /// In-memory servers: a crash may lose lines acknowledged before it, and a line in
    /// flight at the crash (not yet acknowledged) may reach a member once in each epoch.
    /// Within an epoch, and for lines acknowledged in the last epoch, the durable rules hold.
    CrashLosesHistory,
}

/// One line a user sent.
#[derive(Debug, Clone)]
struct Line {
    client: usize,
    room: String,
    id: String,
    text: String,
    /// False for a line the server must refuse (too large, or to a room not joined).
    valid: bool,
    sent: Vec<(u32, Seq)>,
    failed: Vec<String>,
}

/// One line shown to a client.
#[derive(Debug, Clone)]
struct Shown {
    epoch: u32,
    room: String,
    seq: Seq,
    text: String,
    at: Millis,
}

/// The record of a run.
#[derive(Debug)]
pub struct Ledger {
    durability: Durability,
    lines: Vec<Line>,
    by_text: BTreeMap<String, usize>,
    by_id: BTreeMap<(usize, String), usize>,
    shown: Vec<Vec<Shown>>,
    members: Vec<Vec<String>>,
    unknown: Vec<String>,
    last_epoch: u32,
}

impl Ledger {
    /// An empty record for clients whose room memberships are `members` (client index ->
    /// rooms, fixed for the run).
    pub fn new(durability: Durability, members: Vec<Vec<String>>) -> Ledger {
        Ledger {
            durability,
            lines: Vec::new(),
            by_text: BTreeMap::new(),
            by_id: BTreeMap::new(),
            shown: vec![Vec::new(); members.len()],
            members,
            unknown: Vec::new(),
            last_epoch: 0,
        }
    }

    /// Client `client` sent `text` to `room` and got the key `id`.
    pub fn sent_line(&mut self, client: usize, room: &str, text: &str, id: &str, valid: bool) {
        self.by_text.insert(text.to_owned(), self.lines.len());
        self.by_id.insert((client, id.to_owned()), self.lines.len());
        self.lines.push(Line {
            client,
            room: room.to_owned(),
            id: id.to_owned(),
            text: text.to_owned(),
            valid,
            sent: Vec::new(),
            failed: Vec::new(),
        });
    }

    /// The latest epoch any server is in.
    pub fn epoch_started(&mut self, epoch: u32) {
        self.last_epoch = self.last_epoch.max(epoch);
    }

    /// Client `client` reported `event` while reading from epoch `epoch`.
    pub fn event(&mut self, client: usize, epoch: u32, event: AppEvent, now: Millis) {
        match event {
            AppEvent::Message { room, seq, text } => self.shown[client].push(Shown {
                epoch,
                room,
                seq,
                text,
                at: now,
            }),
            AppEvent::Sent { id, room, seq } => match self.by_id.get(&(client, id.clone())) {
                Some(&line) => {
                    if self.lines[line].room != room {
                        self.unknown.push(format!(
                            "client {client}: line {id} of room {} acknowledged for room {room}",
                            self.lines[line].room
                        ));
                    }
                    self.lines[line].sent.push((epoch, seq));
                }
                None => self
                    .unknown
                    .push(format!("client {client}: `Sent` for unknown key {id}")),
            },
            AppEvent::Failed { id, reason, .. } => match self.by_id.get(&(client, id.clone())) {
                Some(&line) => self.lines[line].failed.push(reason),
                None => self
                    .unknown
                    .push(format!("client {client}: `Failed` for unknown key {id}")),
            },
        }
    }

    /// Every broken invariant, one sentence each (empty when the run was correct).
    /// `unacknowledged[c]` is what client `c` still holds at the end.
    pub fn violations(&self, unacknowledged: &[usize]) -> Vec<String> {
        let mut out = self.unknown.clone();
        self.check_outcomes(unacknowledged, &mut out);
        self.check_room_orders(&mut out);
        self.check_exactly_once(&mut out);
        self.check_sender_order(&mut out);
        out
    }

    fn text_of(&self, line: &Line) -> String {
        line.text.clone()
    }

    /// Every line ends acknowledged once or failed once, never both, never neither.
    fn check_outcomes(&self, unacknowledged: &[usize], out: &mut Vec<String>) {
        for line in &self.lines {
            let name = self.text_of(line);
            match (line.sent.len(), line.failed.len()) {
                (0, 0) => out.push(format!(
                    "stuck: line {name} ({}) of client {} in room {} was never acknowledged nor reported failed",
                    line.id, line.client, line.room
                )),
                (1, 0) if !line.valid => out.push(format!(
                    "line {name} should have been refused but was acknowledged as {:?}",
                    line.sent[0]
                )),
                (1, 0) => {}
                (0, 1) if line.valid => out.push(format!(
                    "line {name} failed although it was valid: {}",
                    line.failed[0]
                )),
                (0, 1) => {}
                (sent, failed) => out.push(format!(
                    "line {name} reported {sent} acknowledgement(s) {:?} and {failed} failure(s) {:?}",
                    line.sent, line.failed
                )),
            }
        }
        for (client, &count) in unacknowledged.iter().enumerate() {
            if count != 0 {
                out.push(format!(
                    "client {client} still holds {count} unacknowledged line(s) at the end"
                ));
            }
        }
    }

    /// Each client sees a room's lines in increasing sequence numbers per epoch, and every
    /// client (and every acknowledgement) agrees which line a number is.
    fn check_room_orders(&self, out: &mut Vec<String>) {
        let mut numbered: BTreeMap<(u32, &str, Seq), &str> = BTreeMap::new();
        for line in &self.lines {
            for &(epoch, seq) in &line.sent {
                let text = line.text.as_str();
                if let Some(other) = numbered.insert((epoch, &line.room, seq), text) {
                    if other != text {
                        out.push(format!(
                            "room {} epoch {epoch} seq {seq} acknowledged for both {other} and {text}",
                            line.room
                        ));
                    }
                }
            }
        }
        for (client, shown) in self.shown.iter().enumerate() {
            let mut last: BTreeMap<(u32, &str), (Seq, &str)> = BTreeMap::new();
            for s in shown {
                if let Some(&(seq, text)) = last.get(&(s.epoch, s.room.as_str())) {
                    if s.seq <= seq {
                        out.push(format!(
                            "client {client} saw room {} out of order: seq {} ({}) at {} ms after seq {seq} ({text}) in epoch {}",
                            s.room, s.seq, s.text, s.at, s.epoch
                        ));
                    }
                }
                last.insert((s.epoch, &s.room), (s.seq, &s.text));
                match numbered.get(&(s.epoch, s.room.as_str(), s.seq)) {
                    Some(&text) if text != s.text => out.push(format!(
                        "client {client} saw {} as seq {} of room {} (epoch {}), which is {text} elsewhere",
                        s.text, s.seq, s.room, s.epoch
                    )),
                    Some(_) => {}
                    None => {
                        numbered.insert((s.epoch, &s.room, s.seq), &s.text);
                    }
                }
            }
        }
    }

    /// Every acknowledged line reaches every other member of its room exactly once (with
    /// the crash allowance of [`Durability::CrashLosesHistory`]); nobody is shown their own
    /// line as someone else's, and a refused line reaches nobody.
    fn check_exactly_once(&self, out: &mut Vec<String>) {
        let mut seen: BTreeMap<(usize, &str), Vec<u32>> = BTreeMap::new();
        for (client, shown) in self.shown.iter().enumerate() {
            for s in shown {
                seen.entry((client, &s.text)).or_default().push(s.epoch);
            }
        }
        for ((client, text), epochs) in &seen {
            let Some(&index) = self.by_text.get(*text) else {
                out.push(format!(
                    "client {client} was shown {text}, which nobody sent"
                ));
                continue;
            };
            let line = &self.lines[index];
            if line.client == *client {
                out.push(format!(
                    "client {client} was shown its own line {text} as a message from someone else"
                ));
                continue;
            }
            if !line.failed.is_empty() {
                out.push(format!(
                    "client {client} was shown {text}, which its sender was told failed ({})",
                    line.failed[0]
                ));
            }
            let mut sorted = epochs.clone();
            sorted.sort_unstable();
            let distinct = {
                let mut d = sorted.clone();
                d.dedup();
                d
            };
            if distinct.len() != sorted.len() {
                out.push(format!(
                    "client {client} was shown {text} {} times (epochs {epochs:?})",
                    epochs.len()
                ));
            } else if distinct.len() > 1 {
                let ack_epoch = line.sent.first().map(|&(e, _)| e);
                let allowed = self.durability == Durability::CrashLosesHistory
                    && ack_epoch.is_none_or(|ack| distinct.iter().all(|&e| e <= ack));
                if !allowed {
                    out.push(format!(
                        "client {client} was shown {text} in epochs {epochs:?} (acknowledged in {ack_epoch:?})"
                    ));
                }
            }
        }
        for line in &self.lines {
            let Some(&(epoch, _)) = line.sent.first() else {
                continue;
            };
            if self.durability == Durability::CrashLosesHistory && epoch != self.last_epoch {
                continue;
            }
            let text = self.text_of(line);
            for (client, rooms) in self.members.iter().enumerate() {
                if client == line.client || !rooms.contains(&line.room) {
                    continue;
                }
                if !seen.contains_key(&(client, text.as_str())) {
                    out.push(format!(
                        "lost: client {client} never saw {text} of room {}, acknowledged as {:?}",
                        line.room, line.sent[0]
                    ));
                }
            }
        }
    }

    /// A sender's lines are accepted in the order it sent them: never a later line in an
    /// earlier epoch, never a later line of a room with a lower number.
    fn check_sender_order(&self, out: &mut Vec<String>) {
        let mut last: BTreeMap<usize, (&Line, u32)> = BTreeMap::new();
        let mut last_in_room: BTreeMap<(usize, &str, u32), (&Line, Seq)> = BTreeMap::new();
        for line in &self.lines {
            let Some(&(epoch, seq)) = line.sent.first() else {
                continue;
            };
            if let Some(&(earlier, earlier_epoch)) = last.get(&line.client) {
                if earlier_epoch > epoch {
                    out.push(format!(
                        "reordered: {} was accepted in epoch {epoch}, after {} in epoch {earlier_epoch}",
                        self.text_of(line),
                        self.text_of(earlier)
                    ));
                }
            }
            last.insert(line.client, (line, epoch));
            let key = (line.client, line.room.as_str(), epoch);
            if let Some(&(earlier, earlier_seq)) = last_in_room.get(&key) {
                if earlier_seq >= seq {
                    out.push(format!(
                        "reordered: client {} sent {} before {} but room {} numbered them {earlier_seq} and {seq}",
                        line.client,
                        self.text_of(earlier),
                        self.text_of(line),
                        line.room
                    ));
                }
            }
            last_in_room.insert(key, (line, seq));
        }
    }
}
