//! Searching tests of [`SessionCore`]: two sessions against a small fake server that keeps
//! the agreed rules (session scopes, line numbers, a token bucket, room logs with history)
//! through many seeded random schedules of lost connections, refusals, an unavailable
//! backplane, a server whose real rate is lower than it says, deliveries that lag behind
//! acks or are lost, and duplicate acks. After each schedule has run to quiescence the
//! invariants a user would notice are checked. A failing seed is printed; replay one with
//! `CORE_SEED=1234 cargo test -p ferrosocket --lib core_tests`.

use super::test_rng::Rng;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use ferrosocket_wire::chat::{ClientEnvelope, ErrorCode, HistoryEntry, Seq, ServerEnvelope, LOBBY};

use super::core::{CoreConfig, Millis, SessionCore, WINDOW};
use super::event::ChatEvent;
use crate::resilient::SendOutcome;

/// What a schedule may do to the sessions.
#[derive(Debug, Clone, Copy)]
struct Faults {
    disconnects: bool,
    unavailable: bool,
    /// The server's real bucket is smaller than the one it announces.
    lying_rate: bool,
    /// Deliveries to other members lag behind acks, and some are lost (a backplane).
    lagging_deliveries: bool,
    duplicate_acks: bool,
    /// `rate_limited` refusals do not name the refused line (the server refuses before it
    /// reads the envelope).
    unnamed_refusals: bool,
    deadline: Option<Duration>,
}

const RATE: u32 = 20;
const BURST: u32 = 40;
const ROOM: &str = "r";

#[derive(Debug, Clone)]
struct Logged {
    entry: HistoryEntry,
    scope: String,
}

#[derive(Debug, Default)]
struct Scope {
    expected: u64,
    outcomes: BTreeMap<u64, ServerEnvelope>,
}

#[derive(Debug)]
struct Conn {
    client: usize,
    scope: String,
    nick: String,
    rooms: BTreeSet<String>,
    tokens: f64,
    at: Millis,
    to_server: VecDeque<ClientEnvelope>,
    to_client: VecDeque<ServerEnvelope>,
    /// Deliveries held back like a backplane would, released in order.
    lagging: VecDeque<(Millis, ServerEnvelope)>,
}

struct Server {
    epoch: String,
    logs: BTreeMap<String, Vec<Logged>>,
    scopes: BTreeMap<String, Scope>,
    conns: BTreeMap<u64, Conn>,
    next_conn: u64,
    unavailable_until: Millis,
    real_rate: f64,
    real_burst: f64,
    faults: Faults,
    /// Faults are injected only while this is set; then the schedule runs to quiescence.
    faulty: bool,
    refused_rate: usize,
}

impl Server {
    fn open(&mut self, client: usize, now: Millis, rng: &mut Rng) -> u64 {
        self.next_conn += 1;
        let id = self.next_conn;
        let token = format!("tok{}-{}", id, rng.next());
        let nick = format!("guest-{id}");
        let mut conn = Conn {
            client,
            scope: token.clone(),
            nick: nick.clone(),
            rooms: BTreeSet::new(),
            tokens: self.real_burst,
            at: now,
            to_server: VecDeque::new(),
            to_client: VecDeque::new(),
            lagging: VecDeque::new(),
        };
        conn.to_client.push_back(ServerEnvelope::Welcome {
            nick,
            history_limit: 1_000,
            rate_limit: RATE,
            epoch: self.epoch.clone(),
            rate_burst: BURST,
            max_text_bytes: 64,
            session: token,
        });
        self.conns.insert(id, conn);
        self.join(id, LOBBY);
        id
    }

    fn history(&self, room: &str, scope: &str, after: Seq) -> Vec<HistoryEntry> {
        self.logs
            .get(room)
            .map(|log| {
                log.iter()
                    .filter(|l| l.entry.seq > after)
                    .map(|l| {
                        let mut entry = l.entry.clone();
                        if l.scope != scope {
                            entry.id = None;
                        }
                        entry
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn join(&mut self, conn: u64, room: &str) {
        let scope = self.conns[&conn].scope.clone();
        let history = self.history(room, &scope, 0);
        let c = self.conns.get_mut(&conn).unwrap();
        c.rooms.insert(room.to_owned());
        c.to_client.push_back(ServerEnvelope::Joined {
            room: room.to_owned(),
            members: vec![c.nick.clone()],
            history,
        });
    }

    fn take_token(&mut self, conn: u64, now: Millis) -> bool {
        let c = self.conns.get_mut(&conn).unwrap();
        c.tokens = (c.tokens + (now - c.at) as f64 * self.real_rate / 1000.0).min(self.real_burst);
        c.at = now;
        if c.tokens >= 1.0 {
            c.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn reply(&mut self, conn: u64, envelope: ServerEnvelope) {
        self.conns
            .get_mut(&conn)
            .unwrap()
            .to_client
            .push_back(envelope);
    }

    fn handle(&mut self, conn: u64, envelope: ClientEnvelope, now: Millis, rng: &mut Rng) {
        let passes = self.take_token(conn, now);
        let reference = match &envelope {
            ClientEnvelope::Send { id, .. } if !self.faults.unnamed_refusals => id.clone(),
            _ => None,
        };
        if !passes {
            self.refused_rate += 1;
            return self.reply(
                conn,
                ServerEnvelope::Error {
                    code: ErrorCode::RateLimited,
                    message: "over the rate".into(),
                    reference,
                },
            );
        }
        match envelope {
            ClientEnvelope::Session { token, next } => {
                let scope = self.scopes.entry(token.clone()).or_default();
                scope.expected = scope.expected.max(next.unwrap_or(1));
                self.conns.get_mut(&conn).unwrap().scope = token;
            }
            ClientEnvelope::Nick { nick } => self.reply(conn, ServerEnvelope::Nick { nick }),
            ClientEnvelope::Join { rooms } => {
                for room in rooms {
                    self.join(conn, &room);
                }
            }
            ClientEnvelope::Leave { rooms } => {
                for room in rooms {
                    self.conns.get_mut(&conn).unwrap().rooms.remove(&room);
                    self.reply(conn, ServerEnvelope::Left { room });
                }
            }
            ClientEnvelope::Resume {
                room,
                after_seq,
                epoch,
            } => {
                let after = if epoch.as_deref() == Some(self.epoch.as_str()) {
                    after_seq
                } else {
                    0
                };
                let scope = self.conns[&conn].scope.clone();
                self.conns
                    .get_mut(&conn)
                    .unwrap()
                    .rooms
                    .insert(room.clone());
                for entry in self.history(&room, &scope, after) {
                    self.reply(
                        conn,
                        ServerEnvelope::Message {
                            room: room.clone(),
                            seq: entry.seq,
                            from: entry.from,
                            text: entry.text,
                            ts: entry.ts,
                            id: entry.id,
                        },
                    );
                }
                let last_seq = self.logs.get(&room).map_or(0, |l| l.len() as Seq);
                self.reply(
                    conn,
                    ServerEnvelope::Resumed {
                        room,
                        last_seq,
                        complete: true,
                    },
                );
            }
            ClientEnvelope::Send { room, text, id, n } => {
                self.on_send(conn, room, text, id, n, now, rng)
            }
            ClientEnvelope::ListRooms
            | ClientEnvelope::Ping { .. }
            | ClientEnvelope::Emit { .. }
            | ClientEnvelope::Refresh { .. } => {}
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_send(
        &mut self,
        conn: u64,
        room: String,
        text: String,
        id: Option<String>,
        n: Option<u64>,
        now: Millis,
        rng: &mut Rng,
    ) {
        let scope_name = self.conns[&conn].scope.clone();
        let n = n.expect("the core numbers every line");
        let scope = self.scopes.entry(scope_name.clone()).or_insert(Scope {
            expected: 1,
            ..Scope::default()
        });
        if scope.expected == 0 {
            scope.expected = 1;
        }
        let error = |code, message: String| ServerEnvelope::Error {
            code,
            message,
            reference: id.clone(),
        };
        if n < scope.expected {
            let answer = scope
                .outcomes
                .get(&n)
                .cloned()
                .expect("a repeated line is within the kept outcomes");
            return self.reply(conn, answer);
        }
        if n > scope.expected {
            let expected = scope.expected;
            return self.reply(
                conn,
                error(ErrorCode::OutOfOrder, format!("expected line {expected}")),
            );
        }
        if !self.conns[&conn].rooms.contains(&room) {
            let answer = error(ErrorCode::NotJoined, format!("not in {room}"));
            let scope = self.scopes.get_mut(&scope_name).unwrap();
            scope.expected += 1;
            scope.outcomes.insert(n, answer.clone());
            return self.reply(conn, answer);
        }
        if now < self.unavailable_until {
            return self.reply(conn, error(ErrorCode::Unavailable, "backplane down".into()));
        }
        let log = self.logs.entry(room.clone()).or_default();
        let seq = log.len() as Seq + 1;
        let entry = HistoryEntry {
            seq,
            from: self.conns[&conn].nick.clone(),
            text,
            ts: now,
            id: id.clone(),
        };
        log.push(Logged {
            entry: entry.clone(),
            scope: scope_name.clone(),
        });
        let ack = ServerEnvelope::Ack {
            id: id.clone(),
            room: room.clone(),
            seq,
        };
        let scope = self.scopes.get_mut(&scope_name).unwrap();
        scope.expected += 1;
        scope.outcomes.insert(n, ack.clone());
        self.reply(conn, ack.clone());
        if self.faults.duplicate_acks && rng.chance(10) {
            self.reply(conn, ack);
        }
        let members: Vec<u64> = self
            .conns
            .iter()
            .filter(|(c, m)| **c != conn && m.rooms.contains(&room))
            .map(|(c, _)| *c)
            .collect();
        for member in members {
            let message = ServerEnvelope::Message {
                room: room.clone(),
                seq,
                from: entry.from.clone(),
                text: entry.text.clone(),
                ts: entry.ts,
                id: None,
            };
            let lag = self.faults.lagging_deliveries;
            let delay = rng.below(300);
            let lost = lag && self.faulty && rng.chance(5);
            let m = self.conns.get_mut(&member).unwrap();
            if lost {
                continue;
            }
            if lag {
                let at = m.lagging.back().map_or(now, |(at, _)| *at).max(now + delay);
                m.lagging.push_back((at, message));
            } else {
                m.to_client.push_back(message);
            }
        }
    }

    fn release_lagging(&mut self, now: Millis) {
        for conn in self.conns.values_mut() {
            while conn.lagging.front().is_some_and(|(at, _)| *at <= now) {
                let (_, message) = conn.lagging.pop_front().unwrap();
                conn.to_client.push_back(message);
            }
        }
    }
}

/// One session under test and everything it reported.
struct Client {
    core: SessionCore,
    conn: Option<u64>,
    reconnect_at: Option<Millis>,
    /// Keys in send order, with the room and whether the line was meant to succeed.
    sent: Vec<(String, String)>,
    acked: BTreeMap<String, Seq>,
    failed: BTreeMap<String, String>,
    /// Per room, the sequence numbers shown (messages and joined history), in order.
    shown: BTreeMap<String, Vec<Seq>>,
    rate_limited_events: usize,
}

impl Client {
    fn new(index: usize, deadline: Option<Duration>) -> Client {
        let mut config = CoreConfig::new(format!("c{index}"));
        config.line_deadline = deadline;
        let mut core = SessionCore::new(config);
        core.join(ROOM);
        Client {
            core,
            conn: None,
            reconnect_at: Some(0),
            sent: Vec::new(),
            acked: BTreeMap::new(),
            failed: BTreeMap::new(),
            shown: BTreeMap::new(),
            rate_limited_events: 0,
        }
    }

    fn collect(&mut self, seed: u64) {
        while let Some(event) = self.core.poll_event() {
            if std::env::var("CORE_TRACE").is_ok() {
                eprintln!("{:?} <- {event:?}", self.core.nick());
            }
            match event {
                ChatEvent::Sent { id, seq, .. } => {
                    assert!(
                        !self.acked.contains_key(&id) && !self.failed.contains_key(&id),
                        "seed {seed}: {id} settled twice"
                    );
                    self.acked.insert(id, seq);
                }
                ChatEvent::Failed { id, reason, .. } => {
                    assert!(
                        !self.acked.contains_key(&id) && !self.failed.contains_key(&id),
                        "seed {seed}: {id} settled twice"
                    );
                    self.failed.insert(id, reason);
                }
                ChatEvent::Message { room, entry } => {
                    self.shown.entry(room).or_default().push(entry.seq)
                }
                ChatEvent::Joined { room, history, .. } => self
                    .shown
                    .entry(room)
                    .or_default()
                    .extend(history.iter().map(|e| e.seq)),
                ChatEvent::Error {
                    code: ErrorCode::RateLimited,
                    ..
                } => self.rate_limited_events += 1,
                _ => {}
            }
        }
    }
}

/// Runs one schedule; panics with the seed on a broken invariant.
fn run(seed: u64, faults: Faults) -> (usize, usize) {
    let mut rng = Rng(seed);
    let mut server = Server {
        epoch: "e1".into(),
        logs: BTreeMap::new(),
        scopes: BTreeMap::new(),
        conns: BTreeMap::new(),
        next_conn: 0,
        unavailable_until: 0,
        real_rate: if faults.lying_rate {
            f64::from(RATE) / 3.0
        } else {
            f64::from(RATE)
        },
        real_burst: if faults.lying_rate {
            4.0
        } else {
            f64::from(BURST)
        },
        faults,
        faulty: true,
        refused_rate: 0,
    };
    let mut clients = vec![
        Client::new(0, faults.deadline),
        Client::new(1, faults.deadline),
    ];
    let mut now: Millis = 0;
    let lines_each = 40 + rng.below(40) as usize;
    let mut step = 0u64;
    let mut quiet_steps = 0;
    loop {
        step += 1;
        let faulty = step < 4_000;
        server.faulty = faulty;
        if step == 4_000 {
            // A last line each, to both rooms: whoever missed the end of a room sees the
            // gap before it.
            for client in &mut clients {
                for room in [ROOM, LOBBY] {
                    let (id, _) = client.core.send(room, "last", now);
                    client.sent.push((id, room.to_owned()));
                }
            }
        }
        // Time passes.
        now += if rng.chance(5) {
            rng.below(2_000)
        } else {
            rng.below(30)
        };
        server.release_lagging(now);
        if faulty && faults.unavailable && rng.chance(1) {
            server.unavailable_until = now + rng.below(3_000);
        }
        for (index, client) in clients.iter_mut().enumerate() {
            // (Re)connect when due.
            if client.conn.is_none() && client.reconnect_at.is_some_and(|at| at <= now) {
                client.conn = Some(server.open(index, now, &mut rng));
                client.reconnect_at = None;
                client.core.connected(now);
            }
            // Lose the connection, with whatever is in flight either way.
            if faulty && faults.disconnects && client.conn.is_some() && rng.chance(1) {
                let conn = client.conn.take().unwrap();
                server.conns.remove(&conn);
                client.core.disconnected(now);
                client.reconnect_at = Some(now + rng.below(3_000));
            }
            // The application sends: mostly to the room, sometimes to the lobby, rarely
            // to a room it is not in or too long a line.
            if client.sent.len() < lines_each && rng.chance(20) {
                let big = rng.chance(10);
                let burst = 1 + rng.below(if big { 30 } else { 3 });
                for _ in 0..burst {
                    let pick = rng.below(100);
                    let room = match pick {
                        0..=79 => ROOM,
                        80..=94 => LOBBY,
                        _ => "elsewhere",
                    };
                    let text = if rng.chance(2) {
                        "x".repeat(100)
                    } else {
                        format!("{index}:{}", client.sent.len())
                    };
                    let (id, outcome) = client.core.send(room, &text, now);
                    if text.len() > 64 && client.core.is_ready() {
                        assert_eq!(outcome, SendOutcome::Rejected, "seed {seed}");
                    }
                    client.sent.push((id, room.to_owned()));
                }
            }
            if client.core.next_wakeup().is_some_and(|at| at <= now) {
                client.core.tick(now);
            }
            client.core.tick(now);
            // Transmit what the core lets go; the window is never exceeded.
            if let Some(conn) = client.conn {
                while let Some(envelope) = client.core.poll_transmit() {
                    server
                        .conns
                        .get_mut(&conn)
                        .unwrap()
                        .to_server
                        .push_back(envelope);
                }
                assert!(client.core.in_flight() <= WINDOW, "seed {seed}: window");
            }
            client.collect(seed);
        }
        // The network moves a few frames each way, in order per connection.
        let conn_ids: Vec<u64> = server.conns.keys().copied().collect();
        for conn in conn_ids {
            for _ in 0..rng.below(6) {
                let Some(envelope) = server
                    .conns
                    .get_mut(&conn)
                    .and_then(|c| c.to_server.pop_front())
                else {
                    break;
                };
                if std::env::var("CORE_TRACE").is_ok() {
                    eprintln!("{now} conn {conn} server <- {envelope:?}");
                }
                server.handle(conn, envelope, now, &mut rng);
            }
            for _ in 0..rng.below(8) {
                let Some(c) = server.conns.get_mut(&conn) else {
                    break;
                };
                let Some(envelope) = c.to_client.pop_front() else {
                    break;
                };
                let client = &mut clients[c.client];
                if std::env::var("CORE_TRACE").is_ok() {
                    eprintln!("{now} conn {conn} -> c{}: {envelope:?}", c.client);
                }
                client.core.received(envelope, now);
            }
        }
        let quiet = !faulty
            && clients.iter().all(|c| {
                c.sent.len() >= lines_each && c.core.unacknowledged() == 0 && c.conn.is_some()
            })
            && server
                .conns
                .values()
                .all(|c| c.to_server.is_empty() && c.to_client.is_empty() && c.lagging.is_empty());
        // Quiet for a while: whatever a core still had to say has been said.
        quiet_steps = if quiet { quiet_steps + 1 } else { 0 };
        if quiet_steps > 50 {
            break;
        }
        assert!(
            step < 200_000,
            "seed {seed}: stuck; unacknowledged {:?}",
            clients
                .iter()
                .map(|c| c.core.unacknowledged())
                .collect::<Vec<_>>()
        );
    }
    for client in &mut clients {
        client.collect(seed);
    }
    check(seed, faults, &server, &clients);
    (
        server.refused_rate,
        clients.iter().map(|c| c.rate_limited_events).sum(),
    )
}

fn check(seed: u64, faults: Faults, server: &Server, clients: &[Client]) {
    for (index, client) in clients.iter().enumerate() {
        // Every line ended with exactly one Sent or one Failed.
        for (id, _) in &client.sent {
            assert!(
                client.acked.contains_key(id) ^ client.failed.contains_key(id),
                "seed {seed}: {id} neither acknowledged nor failed"
            );
        }
        assert_eq!(client.core.unacknowledged(), 0, "seed {seed}");
        let prefix = format!("c{index}-");
        let key_number = |id: &str| -> u64 { id[prefix.len()..].parse().unwrap() };
        for (room, log) in &server.logs {
            // This client's lines in the room: each at most once, in send order.
            let mine: Vec<u64> = log
                .iter()
                .filter_map(|l| l.entry.id.as_deref())
                .filter(|id| id.starts_with(&prefix))
                .map(key_number)
                .collect();
            assert!(
                mine.windows(2).all(|w| w[0] < w[1]),
                "seed {seed}: c{index}'s lines in {room} out of send order or twice: {mine:?}"
            );
            for l in log {
                if let Some(id) = l.entry.id.as_deref().filter(|id| id.starts_with(&prefix)) {
                    match (client.acked.get(id), client.failed.get(id)) {
                        (Some(seq), _) => assert_eq!(*seq, l.entry.seq, "seed {seed}: ack of {id}"),
                        (None, Some(reason)) => assert!(
                            reason.contains("may or may not"),
                            "seed {seed}: {id} delivered but reported failed: {reason}"
                        ),
                        (None, None) => panic!("seed {seed}: {id} delivered, never settled"),
                    }
                }
            }
            // What this client was shown, plus its own lines, is the whole room, once,
            // in order.
            let shown = client.shown.get(room).cloned().unwrap_or_default();
            assert!(
                shown.windows(2).all(|w| w[0] < w[1]),
                "seed {seed}: c{index} shown {room} out of order or twice: {shown:?}"
            );
            let own: BTreeSet<Seq> = log
                .iter()
                .filter(|l| {
                    l.entry
                        .id
                        .as_deref()
                        .is_some_and(|id| client.acked.contains_key(id))
                })
                .map(|l| l.entry.seq)
                .collect();
            let mut all: Vec<Seq> = shown.iter().copied().chain(own).collect();
            all.sort_unstable();
            let expected: Vec<Seq> = (1..=log.len() as Seq).collect();
            assert_eq!(all, expected, "seed {seed}: c{index}'s view of {room}");
        }
        if faults.deadline.is_none() {
            // Without a deadline, only a line refused for good or too long fails.
            for (id, reason) in &client.failed {
                let room = &client.sent.iter().find(|(k, _)| k == id).unwrap().1;
                assert!(
                    room == "elsewhere" || reason.starts_with("too_large"),
                    "seed {seed}: {id} to {room} failed: {reason}"
                );
            }
        }
    }
}

fn seeds(count: u64) -> Vec<u64> {
    match std::env::var("CORE_SEED") {
        Ok(seed) => vec![seed.parse().expect("CORE_SEED is a number")],
        Err(_) => (1..=count).collect(),
    }
}

const ALL: Faults = Faults {
    disconnects: true,
    unavailable: true,
    lying_rate: true,
    lagging_deliveries: true,
    duplicate_acks: true,
    unnamed_refusals: false,
    deadline: None,
};

#[test]
fn an_honest_server_refuses_nothing_and_every_line_arrives_once_in_order() {
    let calm = Faults {
        disconnects: false,
        unavailable: false,
        lying_rate: false,
        lagging_deliveries: false,
        duplicate_acks: false,
        unnamed_refusals: false,
        deadline: None,
    };
    for seed in seeds(100) {
        let (refused, events) = run(seed, calm);
        assert_eq!(
            (refused, events),
            (0, 0),
            "seed {seed}: pacing let a refusal through"
        );
    }
}

#[test]
fn lost_connections_keep_every_line_once_in_send_order_and_refuse_nothing() {
    let faults = Faults {
        disconnects: true,
        duplicate_acks: true,
        ..ALL
    };
    for seed in seeds(100) {
        let faults = Faults {
            lying_rate: false,
            unavailable: false,
            lagging_deliveries: false,
            ..faults
        };
        let (refused, _) = run(seed, faults);
        assert_eq!(refused, 0, "seed {seed}: pacing let a refusal through");
    }
}

#[test]
fn refusals_and_lost_connections_never_reorder_lose_or_duplicate_a_line() {
    for seed in seeds(200) {
        run(seed, ALL);
    }
}

#[test]
fn refusals_that_do_not_name_the_line_still_never_reorder_lose_or_duplicate_one() {
    for seed in seeds(150) {
        run(
            seed,
            Faults {
                unnamed_refusals: true,
                ..ALL
            },
        );
    }
}

#[test]
fn lagging_or_lost_deliveries_are_shown_only_without_gaps() {
    for seed in seeds(100) {
        run(
            seed,
            Faults {
                lagging_deliveries: true,
                ..ALL
            },
        );
    }
}

#[test]
fn with_a_deadline_every_line_still_ends_acknowledged_or_failed_and_none_is_reordered() {
    for seed in seeds(200) {
        run(
            seed,
            Faults {
                deadline: Some(Duration::from_millis(1 + seed * 37 % 4_000)),
                ..ALL
            },
        );
    }
}

// ---- single schedules, one guarantee each ---------------------------------------------

fn welcome(token: &str, epoch: &str) -> ServerEnvelope {
    ServerEnvelope::Welcome {
        nick: "guest-1".into(),
        history_limit: 100,
        rate_limit: RATE,
        epoch: epoch.into(),
        rate_burst: BURST,
        max_text_bytes: 64,
        session: token.into(),
    }
}

fn transmits(core: &mut SessionCore) -> Vec<ClientEnvelope> {
    std::iter::from_fn(|| core.poll_transmit()).collect()
}

fn events(core: &mut SessionCore) -> Vec<ChatEvent> {
    std::iter::from_fn(|| core.poll_event()).collect()
}

fn sends(envelopes: &[ClientEnvelope]) -> Vec<(String, u64)> {
    envelopes
        .iter()
        .filter_map(|e| match e {
            ClientEnvelope::Send { text, n, .. } => Some((text.clone(), n.unwrap())),
            _ => None,
        })
        .collect()
}

fn connected_core(config: CoreConfig) -> SessionCore {
    let mut core = SessionCore::new(config);
    core.connected(0);
    core.received(welcome("tok", "e1"), 0);
    core.received(
        ServerEnvelope::Joined {
            room: LOBBY.into(),
            members: vec![],
            history: vec![],
        },
        0,
    );
    transmits(&mut core);
    events(&mut core);
    core
}

#[test]
fn a_rate_limited_line_goes_back_with_every_later_one_and_all_go_again_in_order() {
    let mut core = connected_core(CoreConfig::new("c"));
    let ids: Vec<String> = (0..4)
        .map(|i| core.send(LOBBY, &format!("l{i}"), 0).0)
        .collect();
    let first = transmits(&mut core);
    assert_eq!(sends(&first).len(), 4);
    core.received(
        ServerEnvelope::Ack {
            id: Some(ids[0].clone()),
            room: LOBBY.into(),
            seq: 1,
        },
        1,
    );
    core.received(
        ServerEnvelope::Error {
            code: ErrorCode::RateLimited,
            message: "slow down".into(),
            reference: Some(ids[1].clone()),
        },
        1,
    );
    for id in &ids[2..] {
        core.received(
            ServerEnvelope::Error {
                code: ErrorCode::OutOfOrder,
                message: "expected 2".into(),
                reference: Some(id.clone()),
            },
            1,
        );
    }
    assert!(transmits(&mut core).is_empty(), "nothing before the delay");
    let at = core.next_wakeup().expect("a retry is scheduled");
    core.tick(at);
    assert_eq!(
        sends(&transmits(&mut core)),
        [("l1".into(), 2), ("l2".into(), 3), ("l3".into(), 4)],
        "the refused line and every later one, same numbers, same order"
    );
    assert_eq!(core.unacknowledged(), 3);
    let told = events(&mut core);
    assert!(told.iter().all(|e| !matches!(e, ChatEvent::Failed { .. })));
}

#[test]
fn a_line_awaiting_its_answer_on_an_open_connection_never_fails_by_deadline() {
    let mut config = CoreConfig::new("c");
    config.line_deadline = Some(Duration::from_millis(100));
    let mut core = connected_core(config);
    let (id, outcome) = core.send(LOBBY, "hello", 0);
    assert_eq!(outcome, SendOutcome::Sent);
    assert_eq!(sends(&transmits(&mut core)).len(), 1);
    core.tick(10_000);
    assert!(core.is_pending(&id), "its answer is coming");
    assert!(events(&mut core).is_empty());
    // Once the connection is lost, the deadline applies, and the reason says it may
    // have been delivered.
    core.disconnected(10_001);
    match events(&mut core).as_slice() {
        [ChatEvent::Failed {
            id: failed, reason, ..
        }] => {
            assert_eq!(failed, &id);
            assert!(reason.contains("may or may not"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(core.unacknowledged(), 0);
}

#[test]
fn a_too_large_line_fails_at_once_and_uses_no_number() {
    let mut core = connected_core(CoreConfig::new("c"));
    let (big, outcome) = core.send(LOBBY, &"x".repeat(65), 0);
    assert_eq!(outcome, SendOutcome::Rejected);
    assert!(matches!(
        events(&mut core).as_slice(),
        [ChatEvent::Failed { id, reason, .. }] if *id == big && reason.starts_with("too_large")
    ));
    core.send(LOBBY, "fits", 0);
    assert_eq!(sends(&transmits(&mut core)), [("fits".into(), 1)]);
}

#[test]
fn close_fails_every_kept_line_saying_whether_it_was_transmitted() {
    let mut core = connected_core(CoreConfig::new("c"));
    let (sent, _) = core.send(LOBBY, "out", 0);
    transmits(&mut core);
    core.disconnected(1);
    let (kept, outcome) = core.send(LOBBY, "kept", 2);
    assert_eq!(outcome, SendOutcome::Queued);
    core.close(3);
    let reasons: BTreeMap<String, String> = events(&mut core)
        .into_iter()
        .filter_map(|e| match e {
            ChatEvent::Failed { id, reason, .. } => Some((id, reason)),
            _ => None,
        })
        .collect();
    assert!(
        reasons[&sent].contains("may or may not"),
        "{}",
        reasons[&sent]
    );
    assert!(
        reasons[&kept].contains("never transmitted"),
        "{}",
        reasons[&kept]
    );
    assert_eq!(core.unacknowledged(), 0);
    assert_eq!(core.send(LOBBY, "late", 4).1, SendOutcome::Rejected);
}

#[test]
fn a_reconnect_presents_the_session_first_with_the_oldest_number_still_wanted() {
    let mut core = connected_core(CoreConfig::new("c"));
    for i in 0..3 {
        core.send(LOBBY, &format!("l{i}"), 0);
    }
    let ids: Vec<String> = transmits(&mut core)
        .into_iter()
        .filter_map(|e| match e {
            ClientEnvelope::Send { id, .. } => id,
            _ => None,
        })
        .collect();
    core.received(
        ServerEnvelope::Ack {
            id: Some(ids[0].clone()),
            room: LOBBY.into(),
            seq: 1,
        },
        1,
    );
    core.disconnected(2);
    assert!(core.poll_transmit().is_none(), "nothing while offline");
    core.connected(3);
    assert_eq!(
        transmits(&mut core),
        [ClientEnvelope::Session {
            token: "tok".into(),
            next: Some(2)
        }]
    );
    core.received(welcome("other", "e1"), 4);
    let after = transmits(&mut core);
    assert!(
        matches!(after.first(), Some(ClientEnvelope::Resume { room, after_seq: 1, .. }) if room == LOBBY),
        "{after:?}"
    );
    assert_eq!(sends(&after), [("l1".into(), 2), ("l2".into(), 3)]);
    assert_eq!(core.token(), Some("tok"), "the first session is kept");
}

#[test]
fn a_new_epoch_resumes_every_room_from_zero() {
    let mut core = connected_core(CoreConfig::new("c"));
    core.received(
        ServerEnvelope::Joined {
            room: LOBBY.into(),
            members: vec![],
            history: vec![HistoryEntry {
                seq: 7,
                from: "bob".into(),
                text: "hi".into(),
                ts: 0,
                id: None,
            }],
        },
        1,
    );
    assert_eq!(core.last_seq(LOBBY), Some(7));
    core.disconnected(2);
    core.connected(3);
    core.received(welcome("tok2", "e2"), 4);
    let after = transmits(&mut core);
    assert!(
        after.iter().any(|e| matches!(e, ClientEnvelope::Resume { after_seq: 0, epoch: Some(epoch), .. } if epoch == "e2")),
        "{after:?}"
    );
    assert_eq!(core.last_seq(LOBBY), Some(0));
}

#[test]
fn a_message_after_a_gap_waits_for_the_resume_that_fills_it() {
    let mut core = connected_core(CoreConfig::new("c"));
    core.received(
        ServerEnvelope::Joined {
            room: LOBBY.into(),
            members: vec![],
            history: vec![],
        },
        0,
    );
    events(&mut core);
    let message = |seq: Seq| ServerEnvelope::Message {
        room: LOBBY.into(),
        seq,
        from: "bob".into(),
        text: format!("m{seq}"),
        ts: 0,
        id: None,
    };
    core.received(message(1), 1);
    core.received(message(3), 1);
    let shown = |core: &mut SessionCore| -> Vec<Seq> {
        events(core)
            .into_iter()
            .filter_map(|e| match e {
                ChatEvent::Message { entry, .. } => Some(entry.seq),
                _ => None,
            })
            .collect()
    };
    assert_eq!(shown(&mut core), [1], "3 waits for 2");
    assert_eq!(
        transmits(&mut core),
        [ClientEnvelope::Resume {
            room: LOBBY.into(),
            after_seq: 1,
            epoch: Some("e1".into())
        }]
    );
    core.received(message(2), 2);
    core.received(message(3), 2);
    core.received(
        ServerEnvelope::Resumed {
            room: LOBBY.into(),
            last_seq: 3,
            complete: true,
        },
        2,
    );
    assert_eq!(shown(&mut core), [2, 3], "each once, in order");
}

#[test]
fn a_token_warning_asks_for_a_token_and_the_refresh_goes_before_any_line() {
    let mut core = connected_core(CoreConfig::new("c"));
    core.received(ServerEnvelope::TokenExpiring { exp: 1_000 }, 5);
    assert_eq!(
        events(&mut core),
        [ChatEvent::TokenExpiring { exp: 1_000 }],
        "the warning is the session's \"need a token\" output"
    );
    core.send(LOBBY, "before", 6);
    assert_eq!(core.refresh("fresh.jwt.token"), SendOutcome::Sent);
    let out = transmits(&mut core);
    assert!(
        matches!(&out[0], ClientEnvelope::Refresh { token } if token == "fresh.jwt.token"),
        "the refresh leads: {out:?}"
    );
    assert_eq!(sends(&out), [("before".into(), 1)]);
    core.received(ServerEnvelope::Refreshed { exp: 2_000 }, 7);
    assert_eq!(events(&mut core), [ChatEvent::Refreshed { exp: 2_000 }]);
}

#[test]
fn a_refresh_while_disconnected_is_rejected_and_never_sent_later() {
    let mut core = connected_core(CoreConfig::new("c"));
    core.disconnected(1);
    assert_eq!(core.refresh("stale"), SendOutcome::Rejected);
    core.connected(2);
    core.received(welcome("tok", "e1"), 2);
    let out = transmits(&mut core);
    assert!(
        out.iter()
            .all(|e| !matches!(e, ClientEnvelope::Refresh { .. })),
        "the next connection has its own token: {out:?}"
    );
    // A refresh queued on a connection that is then lost is not carried over either.
    assert_eq!(core.refresh("also stale"), SendOutcome::Sent);
    core.disconnected(3);
    core.connected(4);
    core.received(welcome("tok", "e1"), 4);
    let out = transmits(&mut core);
    assert!(
        out.iter()
            .all(|e| !matches!(e, ClientEnvelope::Refresh { .. })),
        "{out:?}"
    );
    core.close(5);
    assert_eq!(core.refresh("closed"), SendOutcome::Rejected);
}

/// Whether any envelope asks for `room` again (a join or a resume).
fn asks_for(envelopes: &[ClientEnvelope], room: &str) -> bool {
    envelopes.iter().any(|e| match e {
        ClientEnvelope::Join { rooms } => rooms.iter().any(|r| r == room),
        ClientEnvelope::Resume { room: r, .. } => r == room,
        _ => false,
    })
}

#[test]
fn a_room_the_server_leaves_unasked_is_not_asked_for_again_after_a_reconnect() {
    // A refresh whose token withdraws a room makes the server leave it (`left`): resuming
    // it on the next connection would only be refused `forbidden`.
    let mut core = connected_core(CoreConfig::new("c"));
    for room in ["secret", "kept"] {
        core.join(room);
        core.received(
            ServerEnvelope::Joined {
                room: room.into(),
                members: vec![],
                history: vec![],
            },
            1,
        );
    }
    core.received(
        ServerEnvelope::Left {
            room: "secret".into(),
        },
        2,
    );
    assert!(core.rooms().all(|room| room != "secret"));
    assert!(events(&mut core).contains(&ChatEvent::Left {
        room: "secret".into()
    }));
    transmits(&mut core);
    core.disconnected(3);
    core.connected(4);
    core.received(welcome("tok", "e1"), 5);
    let after = transmits(&mut core);
    assert!(!asks_for(&after, "secret"), "{after:?}");
    assert!(asks_for(&after, "kept"), "{after:?}");

    // The `left` of a leave the user then undid with a join does not undo the join.
    core.leave("kept");
    core.join("kept");
    core.received(
        ServerEnvelope::Left {
            room: "kept".into(),
        },
        6,
    );
    assert!(core.rooms().any(|room| room == "kept"));
}
