//! [`SharedLog`]: the Redis of "Redis mode", reduced to what the hub relies on: each room's
//! lines numbered atomically and kept, and each session scope's lines deduplicated by their
//! number `n` (or by `id` without one), as the Lua send script does. It outlives server
//! crashes; what reaches a server over the subscription can be lost when its link drops.

use std::collections::BTreeMap;

use ferrosocket_wire::chat::Seq;

use crate::actor::{LogLine, LogReply, LogRequest};

#[derive(Debug, Default)]
struct ScopeLog {
    last_n: u64,
    by_n: BTreeMap<u64, Seq>,
    by_id: BTreeMap<String, Seq>,
}

/// The shared log.
#[derive(Debug, Default)]
pub struct SharedLog {
    rooms: BTreeMap<String, Vec<LogLine>>,
    scopes: BTreeMap<String, ScopeLog>,
}

impl SharedLog {
    /// Serves one request; returns the reply and the line appended, if any (to go out on
    /// every subscription).
    pub fn serve(&mut self, request: LogRequest) -> (LogReply, Option<LogLine>) {
        match request {
            LogRequest::Publish { tag, mut line, n } => {
                let scope = self.scopes.entry(line.scope.clone()).or_default();
                let known = match (n, &line.id) {
                    (Some(n), _) if n <= scope.last_n => scope.by_n.get(&n).copied(),
                    (None, Some(id)) => scope.by_id.get(id).copied(),
                    _ => None,
                };
                if let Some(seq) = known {
                    return (LogReply::Published { tag, seq }, None);
                }
                let lines = self.rooms.entry(line.room.clone()).or_default();
                line.seq = lines.len() as Seq + 1;
                lines.push(line.clone());
                match (n, &line.id) {
                    (Some(n), _) => {
                        scope.last_n = n;
                        scope.by_n.insert(n, line.seq);
                    }
                    (None, Some(id)) => {
                        scope.by_id.insert(id.clone(), line.seq);
                    }
                    _ => {}
                }
                (LogReply::Published { tag, seq: line.seq }, Some(line))
            }
            LogRequest::Range {
                tag,
                room,
                after,
                through,
            } => {
                let lines = self.rooms.get(&room).map_or(&[][..], Vec::as_slice);
                let last_seq = lines.len() as Seq;
                let picked = lines
                    .iter()
                    .filter(|l| l.seq > after && l.seq <= through)
                    .cloned()
                    .collect();
                (
                    LogReply::Lines {
                        tag,
                        lines: picked,
                        last_seq,
                    },
                    None,
                )
            }
            LogRequest::Snapshot {
                tag,
                room,
                after,
                limit,
            } => {
                let lines = self.rooms.get(&room).map_or(&[][..], Vec::as_slice);
                let last_seq = lines.len() as Seq;
                let picked: Vec<LogLine> = match after {
                    Some(after) => lines.iter().filter(|l| l.seq > after).cloned().collect(),
                    None => lines[lines.len().saturating_sub(limit)..].to_vec(),
                };
                (
                    LogReply::Lines {
                        tag,
                        lines: picked,
                        last_seq,
                    },
                    None,
                )
            }
        }
    }
}
