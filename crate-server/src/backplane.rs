//! The Redis backplane: several servers, one chat.
//!
//! - **Sequencing and history**: one Lua script, run atomically by Redis, checks the
//!   sender's idempotency key, takes the room's next sequence number (`INCR`), appends the
//!   message to the room's Stream (`XADD`, bounded by `MAXLEN`, entry id `SEQ-0`) and
//!   publishes it. Sequence numbers are therefore strictly increasing per room across all
//!   servers, and the Stream, the publication order and the numbers all agree.
//! - **Fan-out**: every server subscribes once to one channel; each message crosses Redis
//!   once per server, and each server delivers it to its own members.
//! - **Presence**: each server keeps its members in a hash per room (field
//!   `SERVER:CONNECTION`, value the nickname) and refreshes a liveness key; member lists skip
//!   servers whose key expired. Join, leave and rename notices and application events travel
//!   on the same channel.
//! - **Reserved names**: token nicknames are held in a key per name with a TTL refreshed
//!   on each liveness tick (`names.rs`).
//! - **Sessions**: the line numbers and idempotency keys of a session live in a hash keyed
//!   by the digest of its token (never the token), with a time to live; the send script
//!   takes a numbered line only when its `n` is above the last one taken, and answers a
//!   repeat with its original sequence number.
//! - **Failure**: while Redis is unreachable, sends are refused with the `unavailable` error
//!   (the client keeps and retries them: nothing acknowledged is lost, nothing is numbered
//!   twice), while joins, presence and pings keep working locally. The subscriber checks
//!   the epoch key every [`LIVENESS_INTERVAL`]; a failed check counts as a lost
//!   subscription. It reconnects with backoff and, once back, the hub replays from each
//!   room's Stream what this server missed.
//! - **Lost data**: if the epoch key is gone or changed (Redis lost its data), the first
//!   server to notice writes a new epoch, every server adopts it ([`BackplaneEvent::Epoch`])
//!   and the send script refuses lines stamped with an old epoch, so no line is numbered in
//!   a history its server does not know.
//!
//! This module talks to Redis and reports what arrives through a channel of
//! [`BackplaneEvent`]s; it knows nothing of the hub that consumes them.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrosocket_wire::chat::{HistoryEntry, RoomInfo, Seq, ServerEnvelope};
use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::streams::StreamRangeReply;
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::chat::core::{Announcement, ConnId, Line, Publish, Snapshot, SCOPE_IDLE_MS};
use crate::names::HeldNames;
use crate::secret::new_id;

const CHANNEL: &str = "ferrosocket:chat";
const EPOCH_KEY: &str = "ferrosocket:epoch";
const ROOMS_KEY: &str = "ferrosocket:rooms";
const LIVENESS_TTL_SECONDS: u64 = 10;
/// How often the subscriber checks that Redis answers and still holds our epoch.
pub const LIVENESS_INTERVAL: Duration = Duration::from_secs(2);
/// How long a room's history lives after its last line (refreshed by every line). Its
/// sequence counter never expires: a room's numbers must never start over within an epoch,
/// or clients that remember them would take new lines for ones they have seen.
const ROOM_TTL_SECONDS: u64 = 7 * 24 * 3600;

fn seq_key(room: &str) -> String {
    format!("ferrosocket:room:{room}:seq")
}
fn stream_key(room: &str) -> String {
    format!("ferrosocket:room:{room}:history")
}
fn members_key(room: &str) -> String {
    format!("ferrosocket:room:{room}:members")
}
fn server_key(server: &str) -> String {
    format!("ferrosocket:server:{server}")
}
fn scope_key(scope: &str) -> String {
    format!("ferrosocket:scope:{scope}")
}
fn scope_ids_key(scope: &str) -> String {
    format!("ferrosocket:scope:{scope}:ids")
}

/// Numbers, stores and publishes one line, atomically. KEYS: seq, stream, scope hash,
/// channel, epoch, scope id list. ARGV: room, from, text, ts, id, origin, maxlen, scope
/// ttl, n (0: none), scope, epoch, room ttl, remembered lines, remembered ids.
const SEND_SCRIPT: &str = r#"
if redis.call('GET', KEYS[5]) ~= ARGV[11] then
  return redis.error_reply('EPOCH the history was reset')
end
local n = tonumber(ARGV[9])
if n > 0 then
  local last = tonumber(redis.call('HGET', KEYS[3], 'last') or '0')
  if n <= last then
    local seen = redis.call('HGET', KEYS[3], 'n:' .. n)
    if seen then return {tonumber(seen), 1} end
    return redis.error_reply('STALE line too old to be recognised')
  end
elseif ARGV[5] ~= '' then
  local seen = redis.call('HGET', KEYS[3], 'i:' .. ARGV[5])
  if seen then return {tonumber(seen), 1} end
end
local seq = redis.call('INCR', KEYS[1])
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[7], seq .. '-0',
  'from', ARGV[2], 'text', ARGV[3], 'ts', ARGV[4], 'id', ARGV[5], 'scope', ARGV[10],
  'origin', ARGV[6])
redis.call('EXPIRE', KEYS[2], ARGV[12])
if n > 0 then
  redis.call('HSET', KEYS[3], 'last', n, 'n:' .. n, seq)
  redis.call('HDEL', KEYS[3], 'n:' .. (n - tonumber(ARGV[13])))
elseif ARGV[5] ~= '' then
  redis.call('HSET', KEYS[3], 'i:' .. ARGV[5], seq)
  redis.call('RPUSH', KEYS[6], ARGV[5])
  if redis.call('LLEN', KEYS[6]) > tonumber(ARGV[14]) then
    local old = redis.call('LPOP', KEYS[6])
    redis.call('HDEL', KEYS[3], 'i:' .. old)
  end
  redis.call('EXPIRE', KEYS[6], ARGV[8])
end
if n > 0 or ARGV[5] ~= '' then redis.call('EXPIRE', KEYS[3], ARGV[8]) end
redis.call('PUBLISH', KEYS[4], cjson.encode({kind = 'message', room = ARGV[1], seq = seq,
  from = ARGV[2], text = ARGV[3], ts = tonumber(ARGV[4]), id = ARGV[5], origin = ARGV[6],
  scope = ARGV[10]}))
return {seq, 0}
"#;

/// What travels on the channel besides messages.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Published {
    Message {
        room: String,
        seq: Seq,
        from: String,
        text: String,
        ts: u64,
        #[serde(default)]
        id: String,
        /// `SERVER:CONNECTION` of the sender.
        origin: String,
        /// The digest of the sender's session token.
        #[serde(default)]
        scope: String,
    },
    Notice {
        room: String,
        origin: String,
        envelope: ServerEnvelope,
    },
}

/// What the backplane reports to the hub, in the order it happened.
#[derive(Debug, Clone)]
pub enum BackplaneEvent {
    /// The subscription is (again) live: whatever was published while it was down must be
    /// read from the rooms' Streams.
    Subscribed,
    /// A line of `room`; `origin` is the sending connection when it is on this server.
    Line {
        /// The room.
        room: String,
        /// The line.
        line: Line,
        /// The local sender, if any.
        origin: Option<ConnId>,
    },
    /// A notice (presence, event) from another server.
    Notice {
        /// The room.
        room: String,
        /// The envelope for the room's members here.
        envelope: ServerEnvelope,
    },
    /// Redis lost its data: the history starts over under this new epoch.
    Epoch(String),
}

/// Why a line was not published.
#[derive(Debug)]
pub enum PublishError {
    /// Redis did not answer, or holds another epoch: try again later.
    Unavailable(redis::RedisError),
    /// A line number so old that Redis no longer remembers what became of it.
    Stale,
}

/// The connection to Redis shared by one server's hub.
#[derive(Debug)]
pub struct RedisBackplane {
    commands: ConnectionManager,
    url: String,
    server_id: String,
    epoch: Mutex<String>,
    history: usize,
    up: AtomicBool,
    errors: AtomicU64,
    presence: mpsc::Sender<Announcement>,
    presence_rx: Mutex<Option<mpsc::Receiver<Announcement>>>,
    /// The last `rooms` answer and when it was read: listing costs Redis a call per room,
    /// so many `list_rooms` in a second share one listing.
    rooms_cache: Mutex<Option<(std::time::Instant, Vec<RoomInfo>)>>,
    /// The token nicknames this server reserves (see [`crate::names`]).
    held_names: HeldNames,
}

/// How long a room listing read from Redis is reused.
const ROOMS_CACHE_TTL: Duration = Duration::from_secs(1);

/// Why Redis could not be used.
pub type BackplaneError = redis::RedisError;

/// Sets the epoch key if it is missing and returns what it holds.
async fn load_epoch(commands: &mut ConnectionManager) -> Result<String, redis::RedisError> {
    let _: Option<String> = redis::cmd("SET")
        .arg(EPOCH_KEY)
        .arg(new_id())
        .arg("NX")
        .query_async(commands)
        .await?;
    commands.get(EPOCH_KEY).await
}

impl RedisBackplane {
    /// Connects to `url`, failing with a clear error when Redis is not there, and loads
    /// (or creates) the shared history epoch.
    pub async fn connect(url: &str, history: usize) -> Result<Arc<RedisBackplane>, String> {
        let explain = |err: redis::RedisError| format!("cannot use Redis at {url}: {err}");
        let client = redis::Client::open(url).map_err(explain)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let mut commands = tokio::time::timeout(
            Duration::from_secs(5),
            client.get_connection_manager_with_config(config),
        )
        .await
        .map_err(|_| format!("cannot use Redis at {url}: no answer within 5 s"))?
        .map_err(explain)?;
        let epoch = load_epoch(&mut commands).await.map_err(explain)?;
        let (presence, presence_rx) = mpsc::channel(4096);
        Ok(Arc::new(RedisBackplane {
            commands,
            url: url.to_owned(),
            server_id: new_id(),
            epoch: Mutex::new(epoch),
            history,
            up: AtomicBool::new(false),
            errors: AtomicU64::new(0),
            presence,
            presence_rx: Mutex::new(Some(presence_rx)),
            rooms_cache: Mutex::new(None),
            held_names: HeldNames::default(),
        }))
    }

    /// The history epoch shared by every server on this Redis.
    pub fn epoch(&self) -> String {
        self.epoch.lock().expect("epoch lock").clone()
    }

    /// Whether the subscription to Redis is live (and answered its last check).
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Failed Redis operations so far.
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    fn origin(&self, conn: ConnId) -> String {
        format!("{}:{conn}", self.server_id)
    }

    /// A handle on the shared command connection.
    pub(crate) fn commands(&self) -> ConnectionManager {
        self.commands.clone()
    }

    /// This server's id among those sharing Redis.
    pub(crate) fn server_id(&self) -> &str {
        &self.server_id
    }

    /// The nicknames this server holds.
    pub(crate) fn held_names(&self) -> &HeldNames {
        &self.held_names
    }

    pub(crate) fn failed(&self, err: &redis::RedisError) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(%err, "redis operation failed");
    }

    /// Numbers, stores and publishes one line, once whatever its `n` or `id` say: a
    /// repeat is answered with the original sequence number.
    pub async fn publish_line(&self, line: &Publish, ts: u64) -> Result<Seq, PublishError> {
        let id = line.id.as_deref().unwrap_or("");
        let result: Result<(Seq, u8), _> = redis::Script::new(SEND_SCRIPT)
            .key(seq_key(&line.room))
            .key(stream_key(&line.room))
            .key(scope_key(&line.scope))
            .key(CHANNEL)
            .key(EPOCH_KEY)
            .key(scope_ids_key(&line.scope))
            .arg(&line.room)
            .arg(&line.from)
            .arg(&line.text)
            .arg(ts)
            .arg(id)
            .arg(self.origin(line.conn))
            .arg(self.history.max(1))
            .arg(SCOPE_IDLE_MS / 1000)
            .arg(line.n.unwrap_or(0))
            .arg(&line.scope)
            .arg(self.epoch())
            .arg(ROOM_TTL_SECONDS)
            .arg(crate::chat::core::REMEMBERED_LINES)
            .arg(crate::chat::core::REMEMBERED_IDS)
            .invoke_async(&mut self.commands.clone())
            .await;
        match result {
            Ok((seq, _duplicate)) => Ok(seq),
            Err(err) if err.code() == Some("STALE") => Err(PublishError::Stale),
            Err(err) => {
                self.failed(&err);
                Err(PublishError::Unavailable(err))
            }
        }
    }

    /// Publishes an application event or notice for the members on other servers.
    async fn publish_notice(
        &self,
        room: &str,
        conn: ConnId,
        envelope: ServerEnvelope,
    ) -> Result<(), BackplaneError> {
        let payload = serde_json::to_string(&Published::Notice {
            room: room.to_owned(),
            origin: self.origin(conn),
            envelope,
        })
        .expect("notices serialise");
        let result: Result<i64, _> = self.commands.clone().publish(CHANNEL, payload).await;
        result.map(|_| ()).inspect_err(|err| self.failed(err))
    }

    /// Records a membership change or announces a notice; never waits (best effort: a
    /// lost update is repaired when the subscriber re-synchronises).
    pub fn announce(&self, announcement: Announcement) {
        let _ = self.presence.try_send(announcement);
    }

    /// The lines of `room` after `after` up to `through`, oldest first, as far as the
    /// Stream still holds them, each with its sender if that connection is on this server.
    pub async fn range(
        &self,
        room: &str,
        after: Seq,
        through: Seq,
    ) -> Result<Vec<(Line, Option<ConnId>)>, BackplaneError> {
        let end = if through == Seq::MAX {
            "+".to_owned()
        } else {
            format!("{through}-0")
        };
        let reply: Result<StreamRangeReply, _> = self
            .commands
            .clone()
            .xrange(stream_key(room), format!("{}-0", after + 1), end)
            .await;
        reply
            .map(|reply| {
                reply
                    .ids
                    .iter()
                    .filter_map(|entry| {
                        let origin = entry
                            .get::<String>("origin")
                            .and_then(|origin| local_conn(self, &origin));
                        line_from_stream(entry).map(|line| (line, origin))
                    })
                    .collect()
            })
            .inspect_err(|err| self.failed(err))
    }

    /// A snapshot of `room` for a join (its latest lines and members) or a resume (the
    /// lines after `resume_after`); the lines and the latest number are read atomically.
    pub async fn snapshot(
        &self,
        room: &str,
        resume_after: Option<Seq>,
    ) -> Result<Snapshot, BackplaneError> {
        let mut pipe = redis::pipe();
        pipe.atomic();
        match resume_after {
            Some(after) => pipe
                .cmd("XRANGE")
                .arg(stream_key(room))
                .arg(format!("{}-0", after + 1))
                .arg("+"),
            None => pipe
                .cmd("XREVRANGE")
                .arg(stream_key(room))
                .arg("+")
                .arg("-")
                .arg("COUNT")
                .arg(self.history.max(1)),
        };
        pipe.get(seq_key(room));
        let (reply, last_seq): (StreamRangeReply, Option<Seq>) = pipe
            .query_async(&mut self.commands.clone())
            .await
            .inspect_err(|err| self.failed(err))?;
        let mut lines: Vec<Line> = reply.ids.iter().filter_map(line_from_stream).collect();
        if resume_after.is_none() {
            lines.reverse();
        }
        let members = match resume_after {
            Some(_) => Vec::new(),
            None => self.members(room).await.unwrap_or_default(),
        };
        let last_seq = last_seq
            .unwrap_or_default()
            .max(lines.last().map_or(0, |line| line.entry.seq));
        Ok(Snapshot {
            lines,
            last_seq,
            members,
        })
    }

    /// The nicknames in `room` on every live server.
    pub async fn members(&self, room: &str) -> Result<Vec<String>, BackplaneError> {
        let mut commands = self.commands.clone();
        let fields: HashMap<String, String> = commands
            .hgetall(members_key(room))
            .await
            .inspect_err(|err| self.failed(err))?;
        let servers: HashSet<&str> = fields
            .keys()
            .filter_map(|field| field.split(':').next())
            .collect();
        let mut live = HashSet::new();
        for server in servers {
            let exists: bool = commands
                .exists(server_key(server))
                .await
                .inspect_err(|err| self.failed(err))?;
            if exists || server == self.server_id {
                live.insert(server.to_owned());
            }
        }
        let mut nicks: Vec<String> = fields
            .into_iter()
            .filter(|(field, _)| {
                field
                    .split(':')
                    .next()
                    .is_some_and(|server| live.contains(server))
            })
            .map(|(_, nick)| nick)
            .collect();
        nicks.sort();
        Ok(nicks)
    }

    /// Every room any server has seen, with its member count.
    pub async fn rooms(&self) -> Result<Vec<RoomInfo>, BackplaneError> {
        if let Some((read, rooms)) = &*self.rooms_cache.lock().expect("rooms cache lock") {
            if read.elapsed() < ROOMS_CACHE_TTL {
                return Ok(rooms.clone());
            }
        }
        let names: Vec<String> = self
            .commands
            .clone()
            .smembers(ROOMS_KEY)
            .await
            .inspect_err(|err| self.failed(err))?;
        let mut rooms = Vec::new();
        for name in names {
            let members = self.members(&name).await?.len();
            rooms.push(RoomInfo { name, members });
        }
        rooms.sort_by(|a, b| a.name.cmp(&b.name));
        *self.rooms_cache.lock().expect("rooms cache lock") =
            Some((std::time::Instant::now(), rooms.clone()));
        Ok(rooms)
    }

    /// Starts the subscriber and the presence writer; what arrives comes out of the
    /// returned channel. Both stop once the receiver is dropped.
    pub fn start(self: &Arc<Self>) -> mpsc::Receiver<BackplaneEvent> {
        let (events, receiver) = mpsc::channel(4096);
        let presence_rx = self.presence_rx.lock().expect("presence lock").take();
        if let Some(presence_rx) = presence_rx {
            tokio::spawn(write_presence(Arc::clone(self), presence_rx));
        }
        tokio::spawn(subscribe(Arc::clone(self), events));
        receiver
    }

    /// Reads the epoch key (writing a new epoch if Redis lost it); `Some(new)` when it
    /// differs from the one this server holds, which it then adopts.
    async fn check_epoch(&self) -> Result<Option<String>, BackplaneError> {
        let mut commands = self.commands.clone();
        let current = tokio::time::timeout(LIVENESS_INTERVAL, load_epoch(&mut commands))
            .await
            .map_err(|_| {
                redis::RedisError::from((redis::ErrorKind::Io, "epoch check timed out"))
            })??;
        let mut epoch = self.epoch.lock().expect("epoch lock");
        if *epoch == current {
            return Ok(None);
        }
        tracing::warn!(old = %*epoch, new = %current, "redis lost its data: the history starts over");
        *epoch = current.clone();
        Ok(Some(current))
    }
}

fn line_from_stream(entry: &redis::streams::StreamId) -> Option<Line> {
    let seq = entry.id.split('-').next()?.parse().ok()?;
    let text = |field: &str| entry.get::<String>(field);
    let id = text("id").filter(|id| !id.is_empty());
    Some(Line {
        entry: HistoryEntry {
            seq,
            from: text("from")?,
            text: text("text")?,
            ts: text("ts")?.parse().ok()?,
            id,
        },
        scope: text("scope").filter(|scope| !scope.is_empty()),
    })
}

/// Writes membership changes to Redis and refreshes this server's liveness key.
async fn write_presence(backplane: Arc<RedisBackplane>, mut updates: mpsc::Receiver<Announcement>) {
    let mut commands = backplane.commands.clone();
    let mut liveness = tokio::time::interval(crate::names::REFRESH_INTERVAL);
    loop {
        tokio::select! {
            _ = liveness.tick() => {
                let result: Result<(), _> = commands
                    .set_ex(server_key(&backplane.server_id), 1, LIVENESS_TTL_SECONDS)
                    .await;
                if let Err(err) = result {
                    backplane.failed(&err);
                }
                crate::names::refresh(&backplane).await;
            }
            update = updates.recv() => {
                let Some(update) = update else { return };
                let result: Result<(), redis::RedisError> = match update {
                    Announcement::Set { room, conn, nick } => {
                        let field = backplane.origin(conn);
                        redis::pipe()
                            .hset(members_key(&room), field, nick)
                            .sadd(ROOMS_KEY, &room)
                            .query_async(&mut commands)
                            .await
                    }
                    Announcement::Remove { room, conn } => {
                        commands.hdel(members_key(&room), backplane.origin(conn)).await
                    }
                    Announcement::Notice { room, conn, envelope } => {
                        backplane.publish_notice(&room, conn, envelope).await
                    }
                };
                if let Err(err) = result {
                    backplane.failed(&err);
                }
            }
        }
    }
}

/// Subscribes to the channel and reports what arrives; checks the epoch on every
/// (re)subscription and every [`LIVENESS_INTERVAL`]; reconnects with exponential backoff.
async fn subscribe(backplane: Arc<RedisBackplane>, events: mpsc::Sender<BackplaneEvent>) {
    let mut delay = Duration::from_millis(100);
    loop {
        if events.is_closed() {
            return;
        }
        match subscription(&backplane).await {
            Ok(mut messages) => {
                delay = Duration::from_millis(100);
                if let Ok(Some(epoch)) = backplane.check_epoch().await {
                    if events.send(BackplaneEvent::Epoch(epoch)).await.is_err() {
                        return;
                    }
                }
                backplane.up.store(true, Ordering::Relaxed);
                tracing::info!(url = %backplane.url, "redis backplane connected");
                if events.send(BackplaneEvent::Subscribed).await.is_err() {
                    return;
                }
                let mut check = tokio::time::interval(LIVENESS_INTERVAL);
                check.tick().await;
                loop {
                    tokio::select! {
                        message = messages.next() => {
                            let Some(message) = message else { break };
                            let Ok(payload) = message.get_payload::<String>() else {
                                continue;
                            };
                            let event = match serde_json::from_str::<Published>(&payload) {
                                Ok(published) => event_of(&backplane, published),
                                Err(err) => {
                                    tracing::warn!(%err, "unreadable message on the backplane");
                                    continue;
                                }
                            };
                            if let Some(event) = event {
                                if events.send(event).await.is_err() {
                                    return;
                                }
                            }
                        }
                        _ = check.tick() => match backplane.check_epoch().await {
                            Ok(None) => {}
                            Ok(Some(epoch)) => {
                                if events.send(BackplaneEvent::Epoch(epoch)).await.is_err() {
                                    return;
                                }
                                // Re-read everything of the new history.
                                if events.send(BackplaneEvent::Subscribed).await.is_err() {
                                    return;
                                }
                            }
                            Err(err) => {
                                backplane.failed(&err);
                                break;
                            }
                        },
                    }
                }
                backplane.up.store(false, Ordering::Relaxed);
                tracing::warn!("redis backplane subscription lost; reconnecting");
            }
            Err(err) => {
                backplane.up.store(false, Ordering::Relaxed);
                backplane.failed(&err);
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

async fn subscription(
    backplane: &RedisBackplane,
) -> Result<redis::aio::PubSubStream, redis::RedisError> {
    let client = redis::Client::open(backplane.url.as_str())?;
    let mut pubsub = tokio::time::timeout(Duration::from_secs(2), client.get_async_pubsub())
        .await
        .map_err(|_| redis::RedisError::from((redis::ErrorKind::Io, "connection timed out")))??;
    pubsub.subscribe(CHANNEL).await?;
    Ok(pubsub.into_on_message())
}

fn event_of(backplane: &RedisBackplane, published: Published) -> Option<BackplaneEvent> {
    match published {
        Published::Message {
            room,
            seq,
            from,
            text,
            ts,
            id,
            origin,
            scope,
        } => Some(BackplaneEvent::Line {
            origin: local_conn(backplane, &origin),
            line: Line {
                entry: HistoryEntry {
                    seq,
                    from,
                    text,
                    ts,
                    id: (!id.is_empty()).then_some(id),
                },
                scope: (!scope.is_empty()).then_some(scope),
            },
            room,
        }),
        // Notices from this server were delivered locally already.
        Published::Notice {
            room,
            origin,
            envelope,
        } => local_conn(backplane, &origin)
            .is_none()
            .then_some(BackplaneEvent::Notice { room, envelope }),
    }
}

/// The connection of `origin` if it is on this server.
fn local_conn(backplane: &RedisBackplane, origin: &str) -> Option<ConnId> {
    let (server, conn) = origin.split_once(':')?;
    (server == backplane.server_id)
        .then(|| conn.parse().ok())
        .flatten()
}
