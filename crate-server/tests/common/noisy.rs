//! The noisy-neighbour harness: a server with the default limits, ten honest `chat.v1`
//! clients in one room reading everything in the background, the checks that an attack
//! left them (and the server) well, and the process's memory read from `/proc`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrosocket_server::{Budgets, Config, Server};
use ferrosocket_wire::chat::ServerEnvelope;
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use super::chat::{ChatClient, Ws};

/// The room the honest clients share (they are in the lobby too).
pub const ROOM: &str = "commons";

/// How long an honest client may take to see a line.
const DEADLINE: Duration = Duration::from_secs(20);

/// Memory of the test process that is not any connection's: the runtime's threads, the
/// allocator's arenas, the test's own data.
pub const SLACK_BYTES: usize = 64 << 20;

/// Tests measure the whole process's memory: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Holds the suite's lock: the memory one test measures is not another test's.
pub async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    SERIAL.lock().await
}

/// What an honest client's reader saw, kept small: long lines are counted, not kept.
#[derive(Debug, Clone, PartialEq)]
pub enum Seen {
    /// A line of at most 200 bytes.
    Line { room: String, text: String },
    /// A longer line, by its length.
    LongLine { room: String, bytes: usize },
}

/// One honest `chat.v1` client, reading everything as it arrives.
pub struct Honest {
    pub nick: String,
    sink: SplitSink<Ws, Message>,
    seen: mpsc::UnboundedReceiver<Seen>,
    log: Vec<Seen>,
    closed: Arc<Mutex<Option<String>>>,
}

/// Connects `nick`, joins [`ROOM`] and starts reading in the background.
pub async fn honest(addr: SocketAddr, nick: &str) -> Honest {
    let mut client = ChatClient::named(addr, nick).await;
    client.send(json!({"type": "join", "rooms": [ROOM]})).await;
    loop {
        match client.recv().await {
            ServerEnvelope::Joined { room, .. } if room == ROOM => break,
            ServerEnvelope::Presence { .. } | ServerEnvelope::Message { .. } => continue,
            other => panic!("{nick} expected to join {ROOM}, got {other:?}"),
        }
    }
    let ChatClient { ws, nick } = client;
    let (sink, mut stream) = ws.split();
    let (tx, seen) = mpsc::unbounded_channel();
    let closed = Arc::new(Mutex::new(None));
    tokio::spawn({
        let closed = Arc::clone(&closed);
        async move {
            let why = loop {
                match stream.next().await {
                    Some(Ok(Message::Text(frame))) => {
                        if let Ok(ServerEnvelope::Message { room, text, .. }) =
                            serde_json::from_str(frame.as_str())
                        {
                            let _ = tx.send(if text.len() > 200 {
                                Seen::LongLine {
                                    room,
                                    bytes: text.len(),
                                }
                            } else {
                                Seen::Line { room, text }
                            });
                        }
                    }
                    Some(Ok(Message::Close(frame))) => {
                        break format!("closed by the server: {frame:?}")
                    }
                    Some(Ok(_)) => {}
                    Some(Err(err)) => break format!("connection error: {err}"),
                    None => break "the connection ended".to_owned(),
                }
            };
            *closed.lock().unwrap() = Some(why);
        }
    });
    Honest {
        nick,
        sink,
        seen,
        log: Vec::new(),
        closed,
    }
}

impl Honest {
    /// Why the connection ended, if it did.
    pub fn closed(&self) -> Option<String> {
        self.closed.lock().unwrap().clone()
    }

    /// Sends an envelope.
    pub async fn send(&mut self, envelope: Value) {
        self.sink
            .send(Message::text(envelope.to_string()))
            .await
            .unwrap_or_else(|err| panic!("{} could not send: {err}", self.nick));
    }

    fn drain(&mut self) {
        while let Ok(seen) = self.seen.try_recv() {
            self.log.push(seen);
        }
    }

    /// Waits until the line `text` arrived in `room`; panics if the connection ends or
    /// the line does not come within 20 s.
    pub async fn expect_line(&mut self, room: &str, text: &str) {
        let wanted = Seen::Line {
            room: room.to_owned(),
            text: text.to_owned(),
        };
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            self.drain();
            if self.log.contains(&wanted) {
                return;
            }
            if let Some(why) = self.closed() {
                panic!("{} never saw {text:?}: {why}", self.nick);
            }
            match tokio::time::timeout_at(deadline, self.seen.recv()).await {
                Ok(Some(seen)) => self.log.push(seen),
                Ok(None) => {}
                Err(_) => panic!("{} did not see {text:?} within {DEADLINE:?}", self.nick),
            }
        }
    }

    /// How many lines longer than 200 bytes arrived in `room` so far.
    pub fn long_lines(&mut self, room: &str) -> usize {
        self.drain();
        self.log
            .iter()
            .filter(|seen| matches!(seen, Seen::LongLine { room: r, .. } if r == room))
            .count()
    }
}

/// A server with the default limits and ten honest clients in [`ROOM`].
pub struct Neighbourhood {
    pub addr: SocketAddr,
    pub honest: Vec<Honest>,
    pub budgets: Budgets,
    baseline: usize,
    peak_reset: bool,
    newcomers: usize,
}

impl Neighbourhood {
    /// Starts the server (defaults, port 0) and the ten honest clients.
    pub async fn start() -> Neighbourhood {
        Neighbourhood::start_with(|_| {}).await
    }

    /// The same with the defaults changed by `configure`.
    pub async fn start_with(configure: impl FnOnce(&mut Config)) -> Neighbourhood {
        let mut config = Config {
            addr: "127.0.0.1:0".parse().unwrap(),
            www: std::env::temp_dir(),
            ..Config::default()
        };
        configure(&mut config);
        let budgets = Budgets::new(&config).expect("the defaults fit together");
        let server = Server::bind(config).await.expect("binding a free port");
        let addr = server.local_addr();
        tokio::spawn(server.run_until(std::future::pending()));
        let mut honest = Vec::new();
        for i in 0..10 {
            honest.push(self::honest(addr, &format!("honest-{i}")).await);
        }
        let baseline = rss_bytes();
        let peak_reset = reset_peak();
        Neighbourhood {
            addr,
            honest,
            budgets,
            baseline,
            peak_reset,
            newcomers: 0,
        }
    }

    /// The checks every noisy-neighbour test ends with, after `attack`: all ten honest
    /// clients are still connected; a newcomer connects, joins [`ROOM`], creates a room and
    /// sends a line that all ten receive; and the process's memory grew by no more than
    /// the stated bound for the connections open (each end of each one counted as one
    /// connection at its worst) plus `attacker_bytes` and [`SLACK_BYTES`].
    pub async fn assert_unharmed(&mut self, attack: &str, attacker_bytes: usize) {
        for honest in &self.honest {
            if let Some(why) = honest.closed() {
                panic!("after {attack}: {} lost its connection: {why}", honest.nick);
            }
        }
        self.newcomers += 1;
        let n = self.newcomers;
        let mut newcomer = tokio::time::timeout(DEADLINE, ChatClient::connect(self.addr))
            .await
            .unwrap_or_else(|_| panic!("after {attack}: a newcomer could not connect in time"));
        let fresh_room = format!("fresh-{n}");
        newcomer
            .send(json!({"type": "join", "rooms": [ROOM, fresh_room]}))
            .await;
        let mut joined = Vec::new();
        while joined.len() < 2 {
            match newcomer.recv().await {
                ServerEnvelope::Joined { room, .. } => joined.push(room),
                ServerEnvelope::Error { code, message, .. } => {
                    panic!("after {attack}: a newcomer could not join: {code}: {message}")
                }
                _ => {}
            }
        }
        let text = format!("fresh line {n} after {attack}");
        newcomer
            .send(json!({"type": "send", "room": ROOM, "text": text, "id": format!("fresh-{n}")}))
            .await;
        loop {
            match newcomer.recv().await {
                ServerEnvelope::Ack { .. } => break,
                ServerEnvelope::Error { code, message, .. } => {
                    panic!("after {attack}: the newcomer's line was refused: {code}: {message}")
                }
                _ => {}
            }
        }
        for honest in &mut self.honest {
            honest.expect_line(ROOM, &text).await;
        }
        for honest in &self.honest {
            if let Some(why) = honest.closed() {
                panic!("after {attack}: {} lost its connection: {why}", honest.nick);
            }
        }

        let used = self.peak().saturating_sub(self.baseline);
        let connections = 2 * (self.honest.len() + 1);
        let bound =
            connections * self.budgets.connection_memory_bound() + attacker_bytes + SLACK_BYTES;
        eprintln!(
            "{attack}: the process grew by {:.1} MiB at most (bound {:.1} MiB)",
            mib(used),
            mib(bound)
        );
        assert!(
            used <= bound,
            "after {attack}: the process grew by {:.1} MiB, over the bound of {:.1} MiB",
            mib(used),
            mib(bound)
        );
    }

    /// The highest memory use since the start (or now, where the peak cannot be reset).
    pub fn peak(&self) -> usize {
        if self.peak_reset {
            status_bytes("VmHWM:").max(rss_bytes())
        } else {
            rss_bytes()
        }
    }

    /// How much the process grew since the ten honest clients connected.
    pub fn growth(&self) -> usize {
        self.peak().saturating_sub(self.baseline)
    }
}

/// Bytes as MiB, for messages.
pub fn mib(bytes: usize) -> f64 {
    bytes as f64 / f64::from(1u32 << 20)
}

fn status_bytes(field: &str) -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("reading /proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().strip_suffix("kB"))
        .and_then(|kib| kib.trim().parse::<usize>().ok())
        .map(|kib| kib * 1024)
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
}

/// The process's resident memory now.
pub fn rss_bytes() -> usize {
    status_bytes("VmRSS:")
}

/// Resets the peak resident memory (`VmHWM`) to the current one, where Linux allows.
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// A `chat.v1` client that reads and discards everything in the background (an attacker
/// that keeps up with its own answers), and the sink to send with.
pub async fn draining(addr: SocketAddr) -> SplitSink<Ws, Message> {
    let client = ChatClient::connect(addr).await;
    let (sink, mut stream) = client.ws.split();
    tokio::spawn(async move { while let Some(Ok(_)) = stream.next().await {} });
    sink
}

/// Sends one envelope on a split sink.
pub async fn send(sink: &mut SplitSink<Ws, Message>, envelope: Value) {
    let _ = sink.send(Message::text(envelope.to_string())).await;
}
