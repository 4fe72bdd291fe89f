//! [`RoomRights`]: which rooms a connection may join and post to, and whether it may change
//! its nickname — all, for a connection without a token; what its token says otherwise.

/// Which rooms a connection may join and post to.
///
/// Each list holds room names or prefix patterns (`team-*`; `*` alone is every room).
/// `None` allows every room. A room one may post to may also be joined.
///
/// # Examples
/// ```
/// use ferrosocket_server::chat::core::RoomRights;
///
/// let rights = RoomRights::new(Some(vec!["lobby".into(), "team-*".into()]), Some(vec!["team-red".into()]));
/// assert!(rights.may_join("team-blue") && !rights.may_post("team-blue"));
/// assert!(rights.may_post("team-red"));
/// assert!(!rights.may_join("secret"));
/// assert!(RoomRights::all().may_post("anything"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoomRights {
    join: Option<Vec<String>>,
    post: Option<Vec<String>>,
}

impl RoomRights {
    /// Every room, to join and to post.
    pub fn all() -> RoomRights {
        RoomRights::default()
    }

    /// Rooms matching `join` may be joined, rooms matching `post` joined and posted to;
    /// `None` for either allows every room.
    pub fn new(join: Option<Vec<String>>, post: Option<Vec<String>>) -> RoomRights {
        RoomRights { join, post }
    }

    /// Whether `room` may be joined (or resumed).
    pub fn may_join(&self, room: &str) -> bool {
        allows(self.join.as_deref(), room) || self.post.as_deref().is_some_and(|p| any(p, room))
    }

    /// Whether lines may be sent to `room`.
    pub fn may_post(&self, room: &str) -> bool {
        allows(self.post.as_deref(), room)
    }
}

fn allows(patterns: Option<&[String]>, room: &str) -> bool {
    patterns.is_none_or(|patterns| any(patterns, room))
}

fn any(patterns: &[String], room: &str) -> bool {
    patterns.iter().any(|pattern| matches(pattern, room))
}

/// `*` matches every room, `prefix*` every room starting with `prefix`, anything else
/// only itself.
fn matches(pattern: &str, room: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => room.starts_with(prefix),
        None => pattern == room,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_exactly_by_prefix_or_everything() {
        assert!(matches("*", "x") && matches("team-*", "team-") && matches("team-*", "team-a"));
        assert!(
            !matches("team-*", "team") && !matches("lobby", "lobby2") && matches("lobby", "lobby")
        );
    }

    #[test]
    fn posting_implies_joining_and_none_allows_all() {
        let read_only = RoomRights::new(Some(vec!["*".into()]), Some(Vec::new()));
        assert!(read_only.may_join("news") && !read_only.may_post("news"));
        let post_only = RoomRights::new(Some(Vec::new()), Some(vec!["ops".into()]));
        assert!(post_only.may_join("ops") && !post_only.may_join("lobby"));
        let join_listed = RoomRights::new(Some(vec!["lobby".into()]), None);
        assert!(
            join_listed.may_post("anything"),
            "post: None allows every room"
        );
    }
}
