//! Who is typing, per room. Others' `typing` events ([`TYPING_EVENT`], data `{"active":
//! bool}`) are kept for [`TYPING_TTL_MS`] unless refreshed; this page sends at most one
//! `active: true` per [`TYPING_REFRESH_MS`] while its user types, and `active: false` on
//! sending or after [`TYPING_IDLE_MS`] without a keystroke.

use crate::session::sorted::SortedMap;

/// The named event (`emit`) that carries typing state.
pub(crate) const TYPING_EVENT: &str = "typing";
/// How long someone is shown typing after their last `active: true`.
pub(crate) const TYPING_TTL_MS: f64 = 6_000.0;
/// The least time between two `active: true` this page sends.
pub(crate) const TYPING_REFRESH_MS: f64 = 3_000.0;
/// Without a keystroke for this long, this page says it stopped typing.
pub(crate) const TYPING_IDLE_MS: u32 = 4_000;

/// Others typing: room → nickname → when to stop showing them (ms since the epoch).
#[derive(Debug, Default)]
pub(crate) struct Typists {
    rooms: SortedMap<String, SortedMap<String, f64>>,
}

impl Typists {
    /// `nick` started (or still is) typing in `room` at `now`, or stopped.
    pub(crate) fn set(&mut self, room: &str, nick: &str, active: bool, now: f64) {
        if active {
            self.rooms
                .get_or_default(room.to_owned())
                .insert(nick.to_owned(), now + TYPING_TTL_MS);
        } else {
            self.remove(room, nick);
        }
    }

    /// `nick` is no longer typing in `room` (they left, or their message arrived).
    pub(crate) fn remove(&mut self, room: &str, nick: &str) -> bool {
        self.rooms
            .get_mut(room)
            .is_some_and(|typists| typists.remove(nick).is_some())
    }

    /// Forgets everyone whose last refresh is too old; whether anything changed.
    pub(crate) fn expire(&mut self, now: f64) -> bool {
        let mut changed = false;
        for typists in self.rooms.values_mut() {
            let before = typists.len();
            typists.retain(|_, until| *until > now);
            changed |= typists.len() != before;
        }
        self.rooms.retain(|_, typists| !typists.is_empty());
        changed
    }

    /// "ada is typing…", "ada and bob are typing…", "3 people are typing…", or "".
    pub(crate) fn sentence(&self, room: &str) -> String {
        let names: Vec<&str> = self
            .rooms
            .get(room)
            .map(|typists| typists.keys().map(String::as_str).collect())
            .unwrap_or_default();
        match names.as_slice() {
            [] => String::new(),
            [one] => format!("{one} is typing…"),
            [one, two] => format!("{one} and {two} are typing…"),
            more => format!("{} people are typing…", more.len()),
        }
    }
}
