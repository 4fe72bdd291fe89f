//! [`RoomLog`]: what a session has shown of one room, and the gap detection that keeps it
//! contiguous: messages after a missing number wait until it is filled.

use ferrosocket_wire::chat::{HistoryEntry, Seq};

use super::sorted::SortedMap;

/// One joined room's delivery state.
#[derive(Debug, Clone, Default)]
pub(crate) struct RoomLog {
    /// Every number up to here was shown, was this session's own, or is history that is
    /// gone: the contiguous mark (what `resume` asks after).
    seen: Seq,
    /// What is known above `seen`, waiting for a gap to be filled: messages received, and
    /// (`None`) this session's own acknowledged lines — an ack never moves the mark past a
    /// number not received. (One map for both: one instantiation of its code.)
    above: SortedMap<Seq, Option<HistoryEntry>>,
    /// The server answered a `join` for this room at least once in this session.
    pub confirmed: bool,
    /// A `join` or `resume` for it is unanswered on this connection: its answer will fill
    /// gaps, so no other resume is asked for meanwhile.
    pub answer_due: bool,
}

impl RoomLog {
    /// The contiguous mark.
    pub fn seen(&self) -> Seq {
        self.seen
    }

    /// A new history (epoch): every number starts over.
    pub fn reset(&mut self) {
        self.seen = 0;
        self.above.clear();
        self.answer_due = false;
    }

    /// Whether `seq` was shown, is own, or is already waiting.
    pub fn knows(&self, seq: Seq) -> bool {
        seq <= self.seen || self.above.contains_key(&seq)
    }

    /// Keeps a received message until it can be shown (duplicates are ignored).
    pub fn hold(&mut self, entry: HistoryEntry) {
        if !self.knows(entry.seq) {
            self.above.insert(entry.seq, Some(entry));
        }
    }

    /// Records one of this session's own lines, accepted as `seq`.
    pub fn own(&mut self, seq: Seq) {
        if seq > self.seen {
            // A message received with this number is this session's own line.
            self.above.insert(seq, None);
        }
    }

    /// Moves the mark through every contiguous number, returning the messages to show.
    pub fn advance(&mut self) -> Vec<HistoryEntry> {
        self.settle(self.seen)
    }

    /// The server says every number up to `upto` was sent already or is gone from its
    /// history: shows what is held up to there, in order, moves the mark to it, then
    /// through every contiguous number after it (one loop for `advance` too).
    pub fn settle(&mut self, upto: Seq) -> Vec<HistoryEntry> {
        let mut shown = Vec::new();
        self.seen = self.seen.max(upto);
        // Everything kept is above the mark: the first entry is at or below the mark's
        // next number while there is something to show.
        while let Some((seq, known)) = self.above.pop_first_if(|&seq| seq <= self.seen + 1) {
            self.seen = self.seen.max(seq);
            shown.extend(known);
        }
        shown
    }

    /// Something above the mark is missing.
    pub fn has_gap(&self) -> bool {
        !self.above.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: Seq) -> HistoryEntry {
        HistoryEntry {
            seq,
            from: "x".into(),
            text: format!("m{seq}"),
            ts: 0,
            id: None,
        }
    }

    fn seqs(entries: &[HistoryEntry]) -> Vec<Seq> {
        entries.iter().map(|e| e.seq).collect()
    }

    #[test]
    fn an_ack_never_moves_the_mark_past_a_missing_message() {
        let mut room = RoomLog::default();
        room.hold(entry(1));
        assert_eq!(seqs(&room.advance()), [1]);
        room.own(3);
        assert!(room.advance().is_empty());
        assert_eq!(room.seen(), 1, "2 was not received");
        assert!(room.has_gap());
        room.hold(entry(2));
        assert_eq!(seqs(&room.advance()), [2]);
        assert_eq!(room.seen(), 3);
        assert!(!room.has_gap());
    }

    #[test]
    fn a_gap_holds_later_messages_until_filled_and_shows_each_once() {
        let mut room = RoomLog::default();
        for seq in [3, 5, 4, 3] {
            room.hold(entry(seq));
            assert!(room.advance().is_empty());
        }
        room.hold(entry(1));
        assert_eq!(seqs(&room.advance()), [1]);
        room.hold(entry(2));
        assert_eq!(seqs(&room.advance()), [2, 3, 4, 5]);
        room.hold(entry(4));
        assert!(room.advance().is_empty());
    }

    #[test]
    fn settling_shows_what_is_held_when_the_gap_is_history_that_is_gone() {
        let mut room = RoomLog::default();
        room.hold(entry(7));
        room.hold(entry(9));
        room.own(8);
        room.hold(entry(12));
        assert_eq!(seqs(&room.settle(10)), [7, 9]);
        assert_eq!(room.seen(), 10);
        assert!(room.has_gap(), "12 still waits for 11");
        room.hold(entry(11));
        assert_eq!(seqs(&room.advance()), [11, 12]);
    }
}
