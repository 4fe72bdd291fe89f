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
//! - **Failure**: while Redis is unreachable, sends are refused with the `unavailable` error
//!   (the client keeps and retries them: nothing acknowledged is lost, nothing is numbered
//!   twice), while joins, presence and pings keep working locally. The subscriber
//!   reconnects with backoff and, once back, replays from each room's Stream what this
//!   server missed.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use ferrosocket_wire::chat::{HistoryEntry, PresenceChange, RoomInfo, Seq, ServerEnvelope};
use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::streams::StreamRangeReply;
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::chat::{new_id, ConnId, Hub};

const CHANNEL: &str = "ferrosocket:chat";
const EPOCH_KEY: &str = "ferrosocket:epoch";
const ROOMS_KEY: &str = "ferrosocket:rooms";
/// How long an idempotency key is remembered, in seconds.
const ID_TTL_SECONDS: u64 = 24 * 3600;
const LIVENESS_TTL_SECONDS: u64 = 10;

fn seq_key(room: &str) -> String {
    format!("ferrosocket:room:{room}:seq")
}
fn stream_key(room: &str) -> String {
    format!("ferrosocket:room:{room}:history")
}
fn id_key(room: &str, id: &str) -> String {
    format!("ferrosocket:room:{room}:id:{id}")
}
fn members_key(room: &str) -> String {
    format!("ferrosocket:room:{room}:members")
}
fn server_key(server: &str) -> String {
    format!("ferrosocket:server:{server}")
}

const SEND_SCRIPT: &str = r#"
if ARGV[5] ~= '' then
  local existing = redis.call('GET', KEYS[3])
  if existing then return {tonumber(existing), 1} end
end
local seq = redis.call('INCR', KEYS[1])
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[7], seq .. '-0',
  'from', ARGV[2], 'text', ARGV[3], 'ts', ARGV[4], 'id', ARGV[5])
if ARGV[5] ~= '' then redis.call('SET', KEYS[3], seq, 'EX', ARGV[8]) end
redis.call('PUBLISH', KEYS[4], cjson.encode({kind = 'message', room = ARGV[1], seq = seq,
  from = ARGV[2], text = ARGV[3], ts = tonumber(ARGV[4]), id = ARGV[5], origin = ARGV[6]}))
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
    },
    Notice {
        room: String,
        origin: String,
        envelope: ServerEnvelope,
    },
}

/// A membership change to record in Redis and announce to the other servers.
#[derive(Debug)]
pub(crate) enum PresenceUpdate {
    Set {
        room: String,
        conn: ConnId,
        nick: String,
    },
    Remove {
        room: String,
        conn: ConnId,
    },
    Announce {
        room: String,
        conn: ConnId,
        envelope: ServerEnvelope,
    },
}

/// The result of publishing a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Numbered {
    /// Its sequence number in the room.
    pub seq: Seq,
    /// Whether the idempotency key was already known (nothing was published again).
    pub duplicate: bool,
}

/// The connection to Redis shared by one server's hub.
#[derive(Debug)]
pub struct RedisBackplane {
    commands: ConnectionManager,
    url: String,
    server_id: String,
    epoch: String,
    history: usize,
    up: AtomicBool,
    errors: AtomicU64,
    presence: mpsc::Sender<PresenceUpdate>,
    presence_rx: std::sync::Mutex<Option<mpsc::Receiver<PresenceUpdate>>>,
}

/// Why Redis could not be used.
pub type BackplaneError = redis::RedisError;

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
        let fresh = new_id();
        let _: Option<String> = redis::cmd("SET")
            .arg(EPOCH_KEY)
            .arg(&fresh)
            .arg("NX")
            .query_async(&mut commands)
            .await
            .map_err(explain)?;
        let epoch: String = commands.get(EPOCH_KEY).await.map_err(explain)?;
        let (presence, presence_rx) = mpsc::channel(4096);
        Ok(Arc::new(RedisBackplane {
            commands,
            url: url.to_owned(),
            server_id: new_id(),
            epoch,
            history,
            up: AtomicBool::new(false),
            errors: AtomicU64::new(0),
            presence,
            presence_rx: std::sync::Mutex::new(Some(presence_rx)),
        }))
    }

    /// The history epoch shared by every server on this Redis.
    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    /// Whether the subscription to Redis is live.
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

    fn failed(&self, err: &redis::RedisError) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(%err, "redis operation failed");
    }

    /// Numbers, stores and publishes one message (once, whatever its `id` says).
    pub async fn publish_message(
        &self,
        room: &str,
        conn: ConnId,
        from: &str,
        text: &str,
        ts: u64,
        id: Option<&str>,
    ) -> Result<Numbered, BackplaneError> {
        let id = id.unwrap_or("");
        let result: Result<(Seq, u8), _> = redis::Script::new(SEND_SCRIPT)
            .key(seq_key(room))
            .key(stream_key(room))
            .key(id_key(room, id))
            .key(CHANNEL)
            .arg(room)
            .arg(from)
            .arg(text)
            .arg(ts)
            .arg(id)
            .arg(self.origin(conn))
            .arg(self.history.max(1))
            .arg(ID_TTL_SECONDS)
            .invoke_async(&mut self.commands.clone())
            .await;
        match result {
            Ok((seq, duplicate)) => Ok(Numbered {
                seq,
                duplicate: duplicate == 1,
            }),
            Err(err) => {
                self.failed(&err);
                Err(err)
            }
        }
    }

    /// Publishes an application event or notice for the members on other servers.
    pub async fn publish_notice(
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

    /// Records a membership change and announces it; never waits (best effort: a
    /// lost update is repaired when the subscriber re-synchronises).
    pub(crate) fn presence(&self, update: PresenceUpdate) {
        let _ = self.presence.try_send(update);
    }

    /// The messages of `room` after `after_seq`, oldest first, as far as the Stream
    /// still holds them.
    pub async fn range(
        &self,
        room: &str,
        after_seq: Seq,
    ) -> Result<Vec<HistoryEntry>, BackplaneError> {
        let reply: Result<StreamRangeReply, _> = self
            .commands
            .clone()
            .xrange(stream_key(room), format!("{}-0", after_seq + 1), "+")
            .await;
        reply
            .map(|reply| reply.ids.iter().filter_map(entry_from_stream).collect())
            .inspect_err(|err| self.failed(err))
    }

    /// The latest `history` messages of `room`, oldest first.
    pub async fn latest(&self, room: &str) -> Result<Vec<HistoryEntry>, BackplaneError> {
        let reply: Result<StreamRangeReply, _> = self
            .commands
            .clone()
            .xrevrange_count(stream_key(room), "+", "-", self.history)
            .await;
        reply
            .map(|reply| {
                reply
                    .ids
                    .iter()
                    .rev()
                    .filter_map(entry_from_stream)
                    .collect()
            })
            .inspect_err(|err| self.failed(err))
    }

    /// The room's latest sequence number.
    pub async fn last_seq(&self, room: &str) -> Result<Seq, BackplaneError> {
        let seq: Result<Option<Seq>, _> = self.commands.clone().get(seq_key(room)).await;
        seq.map(Option::unwrap_or_default)
            .inspect_err(|err| self.failed(err))
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
        Ok(rooms)
    }

    /// Starts the subscriber and the presence writer; they stop when `hub` is dropped.
    pub(crate) fn start(self: &Arc<Self>, hub: Weak<Hub>) {
        let presence_rx = self.presence_rx.lock().expect("presence lock").take();
        if let Some(presence_rx) = presence_rx {
            tokio::spawn(write_presence(Arc::clone(self), presence_rx));
        }
        tokio::spawn(subscribe(Arc::clone(self), hub));
    }
}

fn entry_from_stream(entry: &redis::streams::StreamId) -> Option<HistoryEntry> {
    let seq = entry.id.split('-').next()?.parse().ok()?;
    let text = |field: &str| entry.get::<String>(field);
    let id = text("id").filter(|id| !id.is_empty());
    Some(HistoryEntry {
        seq,
        from: text("from")?,
        text: text("text")?,
        ts: text("ts")?.parse().ok()?,
        id,
    })
}

/// Writes membership changes to Redis and refreshes this server's liveness key.
async fn write_presence(
    backplane: Arc<RedisBackplane>,
    mut updates: mpsc::Receiver<PresenceUpdate>,
) {
    let mut commands = backplane.commands.clone();
    let mut liveness = tokio::time::interval(Duration::from_secs(3));
    loop {
        tokio::select! {
            _ = liveness.tick() => {
                let result: Result<(), _> = commands
                    .set_ex(server_key(&backplane.server_id), 1, LIVENESS_TTL_SECONDS)
                    .await;
                if let Err(err) = result {
                    backplane.failed(&err);
                }
            }
            update = updates.recv() => {
                let Some(update) = update else { return };
                let result: Result<(), redis::RedisError> = match update {
                    PresenceUpdate::Set { room, conn, nick } => {
                        let field = backplane.origin(conn);
                        redis::pipe()
                            .hset(members_key(&room), field, nick)
                            .sadd(ROOMS_KEY, &room)
                            .query_async(&mut commands)
                            .await
                    }
                    PresenceUpdate::Remove { room, conn } => {
                        commands.hdel(members_key(&room), backplane.origin(conn)).await
                    }
                    PresenceUpdate::Announce { room, conn, envelope } => {
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

/// Subscribes to the channel, delivers what arrives, and on every (re)connection replays
/// what was missed; reconnects with exponential backoff.
async fn subscribe(backplane: Arc<RedisBackplane>, hub: Weak<Hub>) {
    let mut delay = Duration::from_millis(100);
    loop {
        if hub.strong_count() == 0 {
            return;
        }
        match subscription(&backplane).await {
            Ok(mut messages) => {
                delay = Duration::from_millis(100);
                backplane.up.store(true, Ordering::Relaxed);
                tracing::info!(url = %backplane.url, "redis backplane connected");
                if let Some(hub) = hub.upgrade() {
                    hub.resynchronise(&backplane).await;
                }
                while let Some(message) = messages.next().await {
                    let Some(hub) = hub.upgrade() else { return };
                    let Ok(payload) = message.get_payload::<String>() else {
                        continue;
                    };
                    match serde_json::from_str::<Published>(&payload) {
                        Ok(published) => deliver(&hub, &backplane, published),
                        Err(err) => tracing::warn!(%err, "unreadable message on the backplane"),
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

fn deliver(hub: &Hub, backplane: &RedisBackplane, published: Published) {
    match published {
        Published::Message {
            room,
            seq,
            from,
            text,
            ts,
            id,
            origin,
        } => {
            let sender = local_conn(backplane, &origin);
            let id = (!id.is_empty()).then_some(id);
            hub.deliver(
                &room,
                HistoryEntry {
                    seq,
                    from,
                    text,
                    ts,
                    id,
                },
                sender,
            );
        }
        Published::Notice {
            room,
            origin,
            envelope,
        } => {
            // Notices from this server were delivered locally already.
            if local_conn(backplane, &origin).is_none() {
                hub.deliver_notice(&room, &envelope);
            }
        }
    }
}

/// The connection of `origin` if it is on this server.
fn local_conn(backplane: &RedisBackplane, origin: &str) -> Option<ConnId> {
    let (server, conn) = origin.split_once(':')?;
    (server == backplane.server_id)
        .then(|| conn.parse().ok())
        .flatten()
}

/// A presence notice, as published to the other servers.
pub(crate) fn presence_envelope(
    room: &str,
    change: PresenceChange,
    nick: &str,
    old_nick: Option<&str>,
) -> ServerEnvelope {
    ServerEnvelope::Presence {
        room: room.to_owned(),
        change,
        nick: nick.to_owned(),
        old_nick: old_nick.map(str::to_owned),
    }
}
