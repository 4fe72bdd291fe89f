//! [`Hub`]: drives the [`RoomsCore`] for tokio.
//!
//! One mutex guards the core and the connections' outboxes, and is never held across an
//! `.await`. Every operation is a short synchronous call into the core whose output is
//! pushed into the recipients' bounded outboxes *before the lock is released*, so each
//! connection receives what the core decided in the order it decided it: a `joined` or a
//! replay can never be overtaken by a line delivered after it.
//!
//! The hub owns its fan-out seam, [`FanOut`], chosen once when the server starts: in
//! process, or through the Redis backplane, which feeds the hub through a channel of
//! [`BackplaneEvent`]s and never calls into it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use ferrosocket_wire::chat::{ErrorCode, JsonText, ProtocolError, RoomInfo, Seq};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::core::RoomRights;
use super::core::{ConnId, CoreLimits, Dialect, Gap, JoinStep, Mode, RoomsCore, SendStep};
use crate::auth::Access;
use crate::backplane::{BackplaneEvent, PublishError, RedisBackplane};
use crate::budget::{Budgets, MAX_LISTED_MEMBERS};
use crate::config::Config;
use crate::metrics::Metrics;
use crate::outbox::Outbox;
use crate::secret::{new_id, new_token, scope_of};

/// Where the lines of a room are numbered and how they reach other servers.
#[derive(Debug)]
pub enum FanOut {
    /// This server alone: the hub numbers and delivers.
    InProcess,
    /// Every server on one Redis: Redis numbers, the subscription delivers.
    Redis(Arc<RedisBackplane>),
}

#[derive(Debug)]
struct Inner {
    core: RoomsCore,
    outboxes: HashMap<ConnId, Outbox>,
}

/// The chat rooms of one server.
#[derive(Debug)]
pub struct Hub {
    inner: Mutex<Inner>,
    fanout: FanOut,
    epoch: Mutex<String>,
    history_limit: usize,
    metrics: Arc<Metrics>,
    started: Instant,
    gaps: mpsc::UnboundedSender<Gap>,
    gaps_rx: Mutex<Option<mpsc::UnboundedReceiver<Gap>>>,
}

/// A new connection's identity.
#[derive(Debug)]
pub struct Session {
    /// The connection.
    pub id: ConnId,
    /// Its generated nickname.
    pub nick: String,
    /// Its session secret, for `welcome`.
    pub token: String,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The error for a send the backplane could not take.
pub(crate) fn unavailable_error() -> ProtocolError {
    ProtocolError::new(
        ErrorCode::Unavailable,
        "the chat backplane (Redis) is unreachable: the message was not accepted; retry later",
    )
}

impl Hub {
    /// An empty hub with the configuration's limits; with a backplane, rooms are shared
    /// with every server on the same Redis. Call [`Hub::start`] to begin receiving.
    pub fn new(
        config: &Config,
        budgets: &Budgets,
        metrics: Arc<Metrics>,
        backplane: Option<Arc<RedisBackplane>>,
    ) -> Hub {
        let limits = CoreLimits {
            history: config.history,
            history_bytes: budgets.history_bytes,
            max_nick_len: config.max_nick_len,
            max_room_len: config.max_room_len,
            max_rooms: config.max_rooms,
            max_rooms_per_connection: config.max_rooms_per_connection,
            max_text_bytes: budgets.max_text_bytes,
            max_listed_members: MAX_LISTED_MEMBERS,
        };
        let (fanout, mode, epoch) = match backplane {
            Some(backplane) => {
                let epoch = backplane.epoch();
                (FanOut::Redis(backplane), Mode::Shared, epoch)
            }
            None => (FanOut::InProcess, Mode::Local, new_id()),
        };
        let (gaps, gaps_rx) = mpsc::unbounded_channel();
        Hub {
            inner: Mutex::new(Inner {
                core: RoomsCore::new(mode, limits),
                outboxes: HashMap::new(),
            }),
            fanout,
            epoch: Mutex::new(epoch),
            history_limit: config.history,
            metrics,
            started: Instant::now(),
            gaps,
            gaps_rx: Mutex::new(gaps_rx.into()),
        }
    }

    /// Starts receiving from the backplane, if there is one; stops when the hub is dropped.
    pub fn start(self: &Arc<Self>) {
        if let FanOut::Redis(backplane) = &self.fanout {
            let events = backplane.start();
            let gaps = self.gaps_rx.lock().expect("gaps lock").take();
            if let Some(gaps) = gaps {
                tokio::spawn(drive_backplane(
                    Arc::downgrade(self),
                    Arc::clone(backplane),
                    events,
                    gaps,
                ));
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().expect("hub lock")
    }

    fn now(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Pushes the core's output into the outboxes (the caller holds the lock) and hands
    /// announcements and gaps to the backplane.
    fn flush(&self, inner: &mut Inner) {
        for out in inner.core.take_output() {
            if let Some(outbox) = inner.outboxes.get(&out.to) {
                // An overflow closes the member as a slow consumer; the connection logs it
                // and counts it.
                let _ = outbox.push(out.message);
            }
        }
        if let FanOut::Redis(backplane) = &self.fanout {
            for announcement in inner.core.take_announcements() {
                backplane.announce(announcement);
            }
            for gap in inner.core.take_gaps() {
                let _ = self.gaps.send(gap);
            }
        }
        self.metrics.set_rooms(inner.core.rooms_len());
    }

    /// Runs `op` on the core under the lock and delivers its output before unlocking.
    fn with_core<T>(&self, op: impl FnOnce(&mut RoomsCore) -> T) -> T {
        let mut inner = self.lock();
        let result = op(&mut inner.core);
        self.flush(&mut inner);
        result
    }

    /// Identifies this hub's history: a restarted in-memory server, or a Redis that lost
    /// its data, has a new one.
    pub fn epoch(&self) -> String {
        self.epoch.lock().expect("epoch lock").clone()
    }

    /// The Redis backplane, when the server runs with one.
    pub fn backplane(&self) -> Option<&Arc<RedisBackplane>> {
        match &self.fanout {
            FanOut::Redis(backplane) => Some(backplane),
            FanOut::InProcess => None,
        }
    }

    /// The number of messages each room keeps.
    pub fn history_limit(&self) -> usize {
        self.history_limit
    }

    /// Registers a connection under a generated nickname, in a fresh session scope.
    pub fn connect(&self, dialect: Dialect, outbox: Outbox) -> Session {
        let token = new_token();
        let now = self.now();
        let mut inner = self.lock();
        let (id, nick) = inner.core.connect(dialect, scope_of(&token), now);
        inner.outboxes.insert(id, outbox);
        Session { id, nick, token }
    }

    /// Gives connection `id`, just connected, the identity of `access` (see
    /// [`RoomsCore::set_identity`]); nothing for a server without tokens. On `Err` (its
    /// nickname was taken meanwhile) the connection must be closed.
    pub(crate) fn apply_access(&self, id: ConnId, access: &Access) -> Result<(), ProtocolError> {
        match access {
            Access::Open => Ok(()),
            Access::Guest => self.with_core(|core| core.set_identity(id, None, RoomRights::all())),
            Access::Token(identity) => self.with_core(|core| {
                core.set_identity(id, Some(&identity.nick), identity.rights.clone())
            }),
        }
    }

    /// Whether `nick` is held by a connection on this server.
    pub fn nick_in_use(&self, nick: &str) -> bool {
        self.lock().core.nick_in_use(nick)
    }

    /// Whether connection `id` may join `room`.
    pub fn may_join(&self, id: ConnId, room: &str) -> bool {
        self.lock().core.may_join(id, room)
    }

    /// The nickname of connection `id`.
    pub fn nick_of(&self, id: ConnId) -> String {
        self.lock().core.nick_of(id).unwrap_or_default().to_owned()
    }

    /// Removes a connection: it leaves every room (members are told) and frees its nick.
    pub fn disconnect(&self, id: ConnId) {
        let now = self.now();
        let mut inner = self.lock();
        inner.outboxes.remove(&id);
        inner.core.disconnect(id, now);
        self.flush(&mut inner);
    }

    /// Continues the session of `token` on connection `id` (`session` envelope).
    pub fn adopt_session(&self, id: ConnId, token: &str, next: Option<u64>) {
        let now = self.now();
        self.with_core(|core| core.adopt_scope(id, scope_of(token), next, now));
    }

    /// Changes a connection's nickname (answered `nick`); every room it is in is told.
    pub fn set_nick(&self, id: ConnId, nick: &str) -> Result<(), ProtocolError> {
        self.with_core(|core| core.set_nick(id, nick))
    }

    /// Every room with its member count, by name (every server's, with Redis).
    pub async fn rooms(&self) -> Vec<RoomInfo> {
        if let FanOut::Redis(backplane) = &self.fanout {
            if let Ok(rooms) = backplane.rooms().await {
                return rooms;
            }
        }
        // Copied under the lock, sorted after it: other connections need not wait.
        let mut rooms = self.lock().core.room_counts();
        rooms.sort_by(|a, b| a.name.cmp(&b.name));
        rooms
    }

    /// Joins `room` (answered `joined`), telling its other members.
    pub async fn join(&self, id: ConnId, room: &str) -> Result<(), ProtocolError> {
        let step = self.with_core(|core| core.join(id, room))?;
        self.finish_join(id, room, step).await;
        Ok(())
    }

    /// Replays `room` after `after_seq` (joining it if needed), then `resumed`.
    pub async fn resume(
        &self,
        id: ConnId,
        room: &str,
        after_seq: Seq,
    ) -> Result<(), ProtocolError> {
        let step = self.with_core(|core| core.resume(id, room, after_seq))?;
        self.finish_join(id, room, step).await;
        Ok(())
    }

    async fn finish_join(&self, id: ConnId, room: &str, step: JoinStep) {
        let JoinStep::NeedSnapshot { resume_after } = step else {
            return;
        };
        let snapshot = match &self.fanout {
            FanOut::Redis(backplane) => backplane.snapshot(room, resume_after).await.ok(),
            FanOut::InProcess => None,
        };
        self.with_core(|core| core.complete_join(id, room, resume_after, snapshot));
    }

    /// Leaves `room` (answered `left`), telling its other members.
    pub fn leave(&self, id: ConnId, room: &str) -> Result<(), ProtocolError> {
        self.with_core(|core| core.leave(id, room))
    }

    /// A `send`: every answer (ack, error, a repeat's earlier outcome) goes to the sender's
    /// outbox. `Err` only tells a caller without one (a plain client) that the line could
    /// not be taken because Redis is unreachable.
    pub async fn send(
        &self,
        id: ConnId,
        room: &str,
        text: &str,
        key: Option<String>,
        n: Option<u64>,
    ) -> Result<(), ProtocolError> {
        let ts = now_ms();
        let step = self.with_core(|core| core.send(id, room, text, key, n, ts));
        let SendStep::Publish(publish) = step else {
            return Ok(());
        };
        let FanOut::Redis(backplane) = &self.fanout else {
            return Ok(());
        };
        let result = backplane.publish_line(&publish, ts).await;
        let (result, returned) = match result {
            Ok(seq) => (Ok(seq), Ok(())),
            Err(PublishError::Unavailable(_)) => {
                (Err(unavailable_error()), Err(unavailable_error()))
            }
            Err(PublishError::Stale) => (
                Err(ProtocolError::new(
                    ErrorCode::InvalidField,
                    "this line number is too old to be recognised: it was not delivered again",
                )),
                Ok(()),
            ),
        };
        self.with_core(|core| core.published(publish, result));
        returned
    }

    /// An application event to the other JSON members of `room`; `event_ack` follows once
    /// it is queued for every member on this server (and handed on to the backplane).
    pub fn emit(
        &self,
        id: ConnId,
        room: &str,
        event: &str,
        data: JsonText,
        ack: Option<u64>,
    ) -> Result<(), ProtocolError> {
        self.with_core(|core| core.emit(id, room, event, data, ack))
    }

    /// Redis lost its data: adopt the new epoch, start every room over, and close every
    /// `chat.v1` connection with 1012 so its client reconnects and sees the new epoch.
    fn reset(&self, epoch: String) {
        *self.epoch.lock().expect("epoch lock") = epoch;
        let mut inner = self.lock();
        inner.core.reset_history();
        self.flush(&mut inner);
        for (id, dialect) in inner.core.connections() {
            if dialect == Dialect::Json {
                if let Some(outbox) = inner.outboxes.get(&id) {
                    outbox
                        .close_signal()
                        .close(CloseCode::Restart, "history reset");
                }
            }
        }
    }
}

/// Feeds what the backplane reports into the hub and fills the gaps the core finds.
async fn drive_backplane(
    hub: Weak<Hub>,
    backplane: Arc<RedisBackplane>,
    mut events: mpsc::Receiver<BackplaneEvent>,
    mut gaps: mpsc::UnboundedReceiver<Gap>,
) {
    loop {
        let gap = tokio::select! {
            event = events.recv() => {
                let Some(event) = event else { return };
                let Some(hub) = hub.upgrade() else { return };
                match event {
                    BackplaneEvent::Line { room, line, origin } => {
                        hub.with_core(|core| core.arrive(&room, line, origin));
                    }
                    BackplaneEvent::Notice { room, envelope } => {
                        hub.with_core(|core| core.notice(&room, &envelope));
                    }
                    BackplaneEvent::Epoch(epoch) => hub.reset(epoch),
                    BackplaneEvent::Subscribed => {
                        let resync = hub.with_core(|core| {
                            for membership in core.memberships() {
                                backplane.announce(membership);
                            }
                            core.resynchronise()
                        });
                        for gap in resync {
                            fill(&hub, &backplane, gap).await;
                        }
                    }
                }
                continue;
            }
            gap = gaps.recv() => gap,
        };
        let (Some(gap), Some(hub)) = (gap, hub.upgrade()) else {
            return;
        };
        fill(&hub, &backplane, gap).await;
    }
}

async fn fill(hub: &Hub, backplane: &RedisBackplane, gap: Gap) {
    match backplane.range(&gap.room, gap.after, gap.through).await {
        Ok(lines) => hub.with_core(|core| core.fill(&gap.room, lines, gap.through)),
        Err(err) => {
            tracing::warn!(%err, room = %gap.room, "could not fill a gap; waiting to resubscribe")
        }
    }
}
