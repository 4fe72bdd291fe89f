//! [`World`]: the simulated network, clocks and faults around many [`SimClient`]s and
//! [`SimServer`]s, driven by one time-ordered event queue and one seeded [`Rng`].
//!
//! Nothing here reads a wall clock, spawns a thread or iterates a `HashMap`, so a seed
//! replays exactly. A connection is two FIFO pipes (TCP keeps order within a connection)
//! with a random latency per frame; a connection can die with frames in flight in either
//! direction, and each side learns of it at its own time.

use std::collections::BTreeMap;

use ferrosocket_wire::chat::{ClientEnvelope, ErrorCode, ServerEnvelope};

use crate::actor::{
    ConnId, LogLine, LogReply, LogRequest, Millis, ServerOutput, SimClient, SimServer,
};
use crate::check::{Durability, Ledger};
use crate::log::SharedLog;
use crate::rate::RateGate;
use crate::rng::Rng;
use crate::scenario::{Action, Scenario};

/// What travels on a pipe.
#[derive(Debug, Clone)]
enum Frame {
    /// The client's `open` event (the handshake completed).
    Open,
    /// A text frame.
    Text(String),
    /// The server closed the connection (after what it wrote before).
    Close(u16),
}

#[derive(Debug)]
enum Event {
    /// A scripted user action or fault.
    Act(Action),
    /// A frame arrives at the server (`to_server`) or at the client.
    Arrive {
        conn: ConnId,
        to_server: bool,
        frame: Frame,
    },
    /// The client notices that `conn` died.
    ClientNotices { conn: ConnId },
    /// The server notices that `conn` died.
    ServerNotices { conn: ConnId },
    /// The client tries to connect.
    Connect { client: usize },
    /// The client asked to be woken now.
    WakeClient { client: usize },
    /// The server asked to be woken now.
    WakeServer { server: usize },
    /// A crashed server comes back.
    Restart { server: usize },
    /// Redis mode: a request reaches the log.
    LogServe {
        server: usize,
        link: u32,
        request: LogRequest,
    },
    /// Redis mode: the log's answer reaches the server.
    LogAnswer {
        server: usize,
        link: u32,
        reply: LogReply,
    },
    /// Redis mode: a line reaches a server on its subscription.
    LogArrive {
        server: usize,
        link: u32,
        line: LogLine,
    },
    /// Redis mode: a server's link to the log is back.
    LinkUp { server: usize },
    /// The token of `conn` expires: closed with 4401 unless refreshed since warning
    /// `warning`.
    Expire { conn: ConnId, warning: u32 },
}

#[derive(Debug)]
struct Conn {
    client: usize,
    server: usize,
    /// The server's life this connection belongs to.
    life: u32,
    to_server_open: bool,
    to_client_open: bool,
    /// Died abruptly: nothing in flight arrives any more.
    killed: bool,
    /// The server was told the connection ended.
    server_told: bool,
    to_server_last: Millis,
    to_client_last: Millis,
    latency: Millis,
    gate: RateGate,
    /// Token warnings sent on this connection, and the last one a `refresh` answered.
    warnings: u32,
    refreshed: u32,
}

struct ClientSlot<C> {
    core: C,
    conn: Option<ConnId>,
    connecting: bool,
    wake: Option<Millis>,
    /// The epoch of the last frame this client read.
    epoch: u32,
    sent: usize,
}

struct ServerSlot<S> {
    core: Option<S>,
    life: u32,
    wake: Option<Millis>,
    /// Redis mode: the link to the log, its generation (bumped when it drops or the
    /// server restarts: what was in flight on the old one is lost), FIFO times.
    link_up: bool,
    link: u32,
    to_log_last: Millis,
    from_log_last: Millis,
    /// Requests sent and not answered yet (tags).
    outstanding: std::collections::BTreeSet<u64>,
}

/// Makes a server for its `life`-th start (a new epoch in in-memory mode).
pub type ServerFactory<S> = Box<dyn FnMut(usize, u32) -> S>;

/// The outcome of one run.
#[derive(Debug)]
pub struct Outcome {
    /// Broken invariants, one sentence each.
    pub violations: Vec<String>,
    /// Events processed (a measure of the run's size).
    pub events: u64,
    /// Lines users sent.
    pub lines: usize,
    /// `rate_limited` refusals the servers' gates gave.
    pub rate_refusals: u64,
    /// Connections closed by a server.
    pub server_closes: u64,
}

/// Events after which a run counts as not settling (a livelock).
const MAX_EVENTS: u64 = 3_000_000;

/// The simulated world of one run.
pub struct World<C, S> {
    rng: Rng,
    now: Millis,
    counter: u64,
    queue: BTreeMap<(Millis, u64), Event>,
    clients: Vec<ClientSlot<C>>,
    servers: Vec<ServerSlot<S>>,
    make_server: ServerFactory<S>,
    conns: BTreeMap<ConnId, Conn>,
    next_conn: ConnId,
    ledger: Ledger,
    scenario: Scenario,
    log: SharedLog,
    rate_refusals: u64,
    server_closes: u64,
    /// Set once the scripted part is over: faults stop, reconnects are quick.
    quiet: bool,
    errors: Vec<String>,
    trace: bool,
}

impl<C, S> std::fmt::Debug for World<C, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("World")
            .field("now", &self.now)
            .finish_non_exhaustive()
    }
}

impl<C: SimClient, S: SimServer> World<C, S> {
    /// A world running `scenario` with `clients` (one per scenario client) and servers made
    /// by `make_server`.
    pub fn new(
        scenario: Scenario,
        clients: Vec<C>,
        mut make_server: ServerFactory<S>,
        durability: Durability,
        trace: bool,
    ) -> World<C, S> {
        let servers = (0..scenario.servers)
            .map(|index| ServerSlot {
                core: Some(make_server(index, 0)),
                life: 0,
                wake: None,
                link_up: true,
                link: 0,
                to_log_last: 0,
                from_log_last: 0,
                outstanding: Default::default(),
            })
            .collect();
        let ledger = Ledger::new(durability, scenario.members.clone());
        let clients = clients
            .into_iter()
            .map(|core| ClientSlot {
                core,
                conn: None,
                connecting: false,
                wake: None,
                epoch: 0,
                sent: 0,
            })
            .collect();
        let mut world = World {
            rng: Rng::new(scenario.seed ^ 0x005E_ED0F_3A11),
            now: 0,
            counter: 0,
            queue: BTreeMap::new(),
            clients,
            servers,
            make_server,
            conns: BTreeMap::new(),
            next_conn: 1,
            ledger,
            scenario,
            log: SharedLog::default(),
            rate_refusals: 0,
            server_closes: 0,
            quiet: false,
            errors: Vec::new(),
            trace,
        };
        for (at, action) in world.scenario.actions.clone() {
            world.schedule(at, Event::Act(action));
        }
        for client in 0..world.clients.len() {
            world.schedule(0, Event::Connect { client });
        }
        world
    }

    fn note(&self, what: impl FnOnce() -> String) {
        if self.trace {
            eprintln!("{:>7} {}", self.now, what());
        }
    }

    fn schedule(&mut self, at: Millis, event: Event) {
        self.counter += 1;
        self.queue.insert((at.max(self.now), self.counter), event);
    }

    /// Runs the scenario, then a quiet period with no faults, and checks the invariants.
    pub fn run(mut self) -> Outcome {
        let quiet_at = self.scenario.active_ms;
        let end = quiet_at + self.scenario.quiet_ms;
        let mut events = 0u64;
        while let Some(((at, _), event)) = self.queue.pop_first() {
            if at > end {
                break;
            }
            self.now = at;
            if !self.quiet && at >= quiet_at {
                self.quiet = true;
            }
            events += 1;
            if events > MAX_EVENTS {
                self.errors
                    .push(format!("livelock: over {MAX_EVENTS} events by {at} ms"));
                break;
            }
            self.handle(event);
        }
        for (index, slot) in self.clients.iter().enumerate() {
            self.note(|| format!("client {index} at the end: {}", slot.core.describe()));
        }
        let unacknowledged: Vec<usize> = self
            .clients
            .iter()
            .map(|slot| slot.core.unacknowledged())
            .collect();
        let mut violations = std::mem::take(&mut self.errors);
        violations.extend(self.ledger.violations(&unacknowledged));
        Outcome {
            violations,
            events,
            lines: self.clients.iter().map(|c| c.sent).sum(),
            rate_refusals: self.rate_refusals,
            server_closes: self.server_closes,
        }
    }

    fn handle(&mut self, event: Event) {
        if !matches!(
            event,
            Event::Arrive { .. } | Event::WakeClient { .. } | Event::WakeServer { .. }
        ) {
            self.note(|| format!("{event:?}"));
        }
        match event {
            Event::Act(action) => self.act(action),
            Event::Arrive {
                conn,
                to_server,
                frame,
            } => {
                if to_server {
                    self.arrive_at_server(conn, frame);
                } else {
                    self.arrive_at_client(conn, frame);
                }
            }
            Event::ClientNotices { conn } => {
                let client = self.conns[&conn].client;
                if self.clients[client].conn == Some(conn) {
                    self.clients[client].conn = None;
                    self.clients[client].connecting = false;
                    let now = self.now;
                    self.clients[client].core.disconnected(now);
                    self.after_client(client);
                    let delay = self.backoff();
                    self.schedule(self.now + delay, Event::Connect { client });
                }
            }
            Event::ServerNotices { conn } => {
                let c = self.conns.get_mut(&conn).expect("known");
                let (server, life, told) = (c.server, c.life, c.server_told);
                c.server_told = true;
                if !told && self.servers[server].life == life {
                    if let Some(core) = self.servers[server].core.as_mut() {
                        core.disconnected(conn, self.now);
                        self.after_server(server);
                    }
                }
            }
            Event::Connect { client } => self.connect(client),
            Event::WakeClient { client } => {
                if self.clients[client].wake == Some(self.now) {
                    self.clients[client].wake = None;
                    let now = self.now;
                    self.clients[client].core.tick(now);
                    self.after_client(client);
                }
            }
            Event::WakeServer { server } => {
                if self.servers[server].wake == Some(self.now) {
                    self.servers[server].wake = None;
                    let now = self.now;
                    if let Some(core) = self.servers[server].core.as_mut() {
                        core.tick(now);
                    }
                    self.after_server(server);
                }
            }
            Event::Expire { conn, warning } => self.expire(conn, warning),
            Event::Restart { server } => {
                let slot = &mut self.servers[server];
                slot.life += 1;
                slot.wake = None;
                slot.link += 1;
                slot.link_up = true;
                slot.outstanding.clear();
                let life = slot.life;
                slot.core = Some((self.make_server)(server, life));
                if self.scenario.crash_starts_epoch {
                    self.ledger.epoch_started(life);
                }
            }
            Event::LogServe {
                server,
                link,
                request,
            } => self.log_serve(server, link, request),
            Event::LogAnswer {
                server,
                link,
                reply,
            } => {
                let slot = &mut self.servers[server];
                if slot.link == link {
                    let tag = match &reply {
                        LogReply::Published { tag, .. }
                        | LogReply::Lines { tag, .. }
                        | LogReply::Unreachable { tag } => *tag,
                    };
                    slot.outstanding.remove(&tag);
                    let now = self.now;
                    if let Some(core) = slot.core.as_mut() {
                        core.log_reply(reply, now);
                    }
                    self.after_server(server);
                }
            }
            Event::LogArrive { server, link, line } => {
                if self.servers[server].link == link {
                    let now = self.now;
                    if let Some(core) = self.servers[server].core.as_mut() {
                        core.log_arrived(line, now);
                    }
                    self.after_server(server);
                }
            }
            Event::LinkUp { server } => {
                let slot = &mut self.servers[server];
                if !slot.link_up {
                    slot.link_up = true;
                    let now = self.now;
                    if let Some(core) = slot.core.as_mut() {
                        core.log_link(true, now);
                    }
                    self.after_server(server);
                }
            }
        }
    }

    /// The log serves a request (even from a server that crashed since: Redis got it),
    /// answers over the same link, and sends an appended line to every subscriber.
    fn log_serve(&mut self, server: usize, link: u32, request: LogRequest) {
        let (reply, appended) = self.log.serve(request);
        self.note(|| format!("log serves server {server}: {reply:?}"));
        if self.servers[server].link == link && self.servers[server].link_up {
            let at = (self.now + self.rng.range(1, 10)).max(self.servers[server].from_log_last);
            self.servers[server].from_log_last = at;
            self.schedule(
                at,
                Event::LogAnswer {
                    server,
                    link,
                    reply,
                },
            );
        }
        if let Some(line) = appended {
            for target in 0..self.servers.len() {
                let slot = &self.servers[target];
                if !slot.link_up || slot.core.is_none() {
                    continue;
                }
                let link = slot.link;
                let at = (self.now + self.rng.range(1, 30)).max(slot.from_log_last);
                self.servers[target].from_log_last = at;
                self.schedule(
                    at,
                    Event::LogArrive {
                        server: target,
                        link,
                        line: line.clone(),
                    },
                );
            }
        }
    }

    /// Redis mode: the server's link drops; every request it awaits fails.
    fn drop_link(&mut self, server: usize) {
        let slot = &mut self.servers[server];
        if !slot.link_up || slot.core.is_none() {
            return;
        }
        slot.link_up = false;
        slot.link += 1;
        let link = slot.link;
        let failed: Vec<u64> = std::mem::take(&mut slot.outstanding).into_iter().collect();
        let now = self.now;
        if let Some(core) = slot.core.as_mut() {
            core.log_link(false, now);
        }
        for tag in failed {
            self.servers[server].outstanding.insert(tag);
            self.schedule(
                now,
                Event::LogAnswer {
                    server,
                    link,
                    reply: LogReply::Unreachable { tag },
                },
            );
        }
        let down = self.rng.range(100, 3_000);
        self.schedule(now + down, Event::LinkUp { server });
        self.after_server(server);
    }

    fn backoff(&mut self) -> Millis {
        if self.quiet {
            self.rng.range(50, 500)
        } else {
            self.rng.range(50, 3_000)
        }
    }

    fn act(&mut self, action: Action) {
        match action {
            Action::Send {
                client,
                room,
                text,
                valid,
            } => {
                let now = self.now;
                let slot = &mut self.clients[client];
                let id = slot.core.send(&room, &text, now);
                slot.sent += 1;
                self.ledger.sent_line(client, &room, &text, &id, valid);
                self.after_client(client);
            }
            Action::Join { client, room } => {
                let now = self.now;
                self.clients[client].core.join(&room, now);
                self.after_client(client);
            }
            Action::Drop { client } if !self.quiet => {
                if let Some(conn) = self.clients[client].conn {
                    self.kill(conn);
                }
            }
            Action::Crash { server } if !self.quiet => {
                if self.servers[server].core.take().is_some() {
                    let doomed: Vec<ConnId> = self
                        .conns
                        .iter()
                        .filter(|(_, c)| c.server == server && c.to_client_open)
                        .map(|(&id, _)| id)
                        .collect();
                    for conn in doomed {
                        self.kill(conn);
                    }
                    let down = self.rng.range(10, 2_000);
                    self.schedule(self.now + down, Event::Restart { server });
                }
            }
            Action::LinkDrop { server } if !self.quiet => self.drop_link(server),
            Action::TokenExpires { client } if !self.quiet => self.warn_token(client),
            Action::Drop { .. }
            | Action::Crash { .. }
            | Action::LinkDrop { .. }
            | Action::TokenExpires { .. } => {}
        }
    }

    /// The server's token check, played by the world (the sim servers hold no tokens):
    /// warns `client`'s connection that its token expires, and closes it with 4401 a
    /// little later unless a `refresh` arrives first.
    fn warn_token(&mut self, client: usize) {
        let Some(conn) = self.clients[client].conn else {
            return;
        };
        let c = self.conns.get_mut(&conn).expect("known connection");
        if !c.to_client_open {
            return;
        }
        c.warnings += 1;
        let warning = c.warnings;
        let expiring = ServerEnvelope::TokenExpiring {
            exp: u64::from(warning),
        };
        self.pipe(conn, false, Frame::Text(expiring.to_json()));
        let lead = self.rng.range(1, 600);
        self.schedule(self.now + lead, Event::Expire { conn, warning });
    }

    fn expire(&mut self, conn: ConnId, warning: u32) {
        let c = &self.conns[&conn];
        if c.refreshed >= warning || !c.to_client_open || c.killed {
            return;
        }
        let (server, life) = (c.server, c.life);
        self.note(|| format!("conn {conn}: token expired"));
        self.close_by_server(conn, 4401);
        if self.servers[server].life == life {
            if let Some(core) = self.servers[server].core.as_mut() {
                core.disconnected(conn, self.now);
            }
            self.after_server(server);
        }
    }

    /// The connection dies with whatever is in flight; each side notices later.
    fn kill(&mut self, conn: ConnId) {
        let c = self.conns.get_mut(&conn).expect("known connection");
        if c.killed {
            return;
        }
        c.killed = true;
        c.to_client_open = false;
        c.to_server_open = false;
        let client_delay = self.rng.range(0, 2_000);
        let server_delay = self.rng.range(0, 2_000);
        self.schedule(self.now + client_delay, Event::ClientNotices { conn });
        self.schedule(self.now + server_delay, Event::ServerNotices { conn });
    }

    fn connect(&mut self, client: usize) {
        if self.clients[client].conn.is_some() || self.clients[client].connecting {
            return;
        }
        let up: Vec<usize> = (0..self.servers.len())
            .filter(|&s| self.servers[s].core.is_some())
            .collect();
        if up.is_empty() {
            let delay = self.backoff();
            self.schedule(self.now + delay, Event::Connect { client });
            return;
        }
        let server = up[self.rng.index(up.len())];
        let conn = self.next_conn;
        self.next_conn += 1;
        let (rate, burst) = self.servers[server].core.as_ref().expect("up").rate();
        let latency = self.rng.range(1, self.scenario.max_latency_ms);
        self.conns.insert(
            conn,
            Conn {
                client,
                server,
                life: self.servers[server].life,
                to_server_open: true,
                to_client_open: true,
                killed: false,
                server_told: false,
                to_server_last: self.now,
                to_client_last: self.now,
                latency,
                gate: RateGate::new(rate, burst, self.now),
                warnings: 0,
                refreshed: 0,
            },
        );
        self.clients[client].connecting = true;
        self.clients[client].conn = Some(conn);
        // The `open` event reaches the client before anything the server writes.
        self.pipe(conn, false, Frame::Open);
        let now = self.now;
        self.servers[server]
            .core
            .as_mut()
            .expect("up")
            .connect(conn, now);
        self.after_server(server);
    }

    /// Puts `frame` on a pipe of `conn`: it arrives after a random latency, never before
    /// the frames put there earlier.
    fn pipe(&mut self, conn: ConnId, to_server: bool, frame: Frame) {
        let spike = if self.rng.chance(self.scenario.spike_percent) {
            self.rng.range(50, 800)
        } else {
            0
        };
        let jitter = self.rng.range(0, 5);
        let c = self.conns.get_mut(&conn).expect("known connection");
        let open = if to_server {
            c.to_server_open
        } else {
            c.to_client_open
        };
        if !open {
            return;
        }
        let last = if to_server {
            &mut c.to_server_last
        } else {
            &mut c.to_client_last
        };
        let at = (self.now + c.latency + jitter + spike).max(*last);
        *last = at;
        self.schedule(
            at,
            Event::Arrive {
                conn,
                to_server,
                frame,
            },
        );
    }

    fn arrive_at_server(&mut self, conn: ConnId, frame: Frame) {
        let c = &self.conns[&conn];
        if !c.to_server_open {
            return;
        }
        let (server, life) = (c.server, c.life);
        if self.servers[server].life != life || self.servers[server].core.is_none() {
            return;
        }
        let Frame::Text(text) = frame else { return };
        let now = self.now;
        self.note(|| format!("conn {conn} -> server {server}: {text}"));
        let gate = self.conns.get_mut(&conn).expect("known").gate.check(now);
        match gate {
            crate::rate::Gate::Pass => {
                if let Ok(ClientEnvelope::Refresh { .. }) = ClientEnvelope::parse(&text) {
                    // The token check is the world's (see `warn_token`).
                    let c = self.conns.get_mut(&conn).expect("known");
                    c.refreshed = c.warnings;
                    let refreshed = ServerEnvelope::Refreshed {
                        exp: u64::from(c.warnings),
                    };
                    self.pipe(conn, false, Frame::Text(refreshed.to_json()));
                } else {
                    let core = self.servers[server].core.as_mut().expect("up");
                    core.received(conn, &text, now);
                }
            }
            crate::rate::Gate::Refuse => {
                self.note(|| format!("conn {conn}: refused by the rate gate"));
                self.rate_refusals += 1;
                let refusal = ServerEnvelope::Error {
                    code: ErrorCode::RateLimited,
                    message: "over the message rate: this envelope was dropped".into(),
                    reference: if self.scenario.refusal_names_line {
                        reference_of(&text)
                    } else {
                        None
                    },
                };
                self.pipe(conn, false, Frame::Text(refusal.to_json()));
            }
            crate::rate::Gate::Close => {
                self.close_by_server(conn, 1008);
                let core = self.servers[server].core.as_mut().expect("up");
                core.disconnected(conn, now);
            }
        }
        self.after_server(server);
    }

    /// The server closes `conn`: what it wrote still arrives, then the close; what the
    /// client sends meanwhile is lost.
    fn close_by_server(&mut self, conn: ConnId, code: u16) {
        self.server_closes += 1;
        self.pipe(conn, false, Frame::Close(code));
        let c = self.conns.get_mut(&conn).expect("known");
        c.to_server_open = false;
        c.to_client_open = false;
        c.server_told = true;
    }

    fn arrive_at_client(&mut self, conn: ConnId, frame: Frame) {
        let c = &self.conns[&conn];
        let (client, life) = (c.client, c.life);
        if c.killed || self.clients[client].conn != Some(conn) {
            return;
        }
        let now = self.now;
        self.note(|| format!("conn {conn} -> client {client}: {frame:?}"));
        match frame {
            Frame::Open => {
                self.clients[client].connecting = false;
                self.clients[client].core.connected(now);
            }
            Frame::Text(text) => {
                let envelope: ServerEnvelope = match serde_json::from_str(&text) {
                    Ok(envelope) => envelope,
                    Err(err) => {
                        self.errors.push(format!(
                            "the server wrote an unreadable frame {text}: {err}"
                        ));
                        return;
                    }
                };
                if self.scenario.crash_starts_epoch {
                    self.clients[client].epoch = life;
                }
                self.clients[client].core.received(envelope, now);
            }
            Frame::Close(code) => {
                self.note(|| format!("client {client}: closed by the server with {code}"));
                self.clients[client].conn = None;
                self.clients[client].connecting = false;
                self.clients[client].core.disconnected(now);
                let delay = self.backoff();
                self.schedule(self.now + delay, Event::Connect { client });
            }
        }
        self.after_client(client);
    }

    /// Moves what a client produced onto its connection and into the ledger, and
    /// schedules its next wakeup.
    fn after_client(&mut self, client: usize) {
        while let Some(envelope) = self.clients[client].core.poll_transmit() {
            let open = self.clients[client]
                .conn
                .filter(|_| !self.clients[client].connecting);
            match open {
                Some(conn) => {
                    let text = serde_json::to_string(&envelope).expect("envelopes serialise");
                    self.pipe(conn, true, Frame::Text(text));
                }
                None => self.errors.push(format!(
                    "client {client} wrote {} while not connected (at {} ms)",
                    describe(&envelope),
                    self.now
                )),
            }
        }
        let epoch = self.clients[client].epoch;
        while let Some(event) = self.clients[client].core.poll_event() {
            self.note(|| format!("client {client} reports {event:?}"));
            self.ledger.event(client, epoch, event, self.now);
        }
        let wanted = self.clients[client]
            .core
            .next_wakeup()
            .map(|at| at.max(self.now));
        if let Some(at) = wanted {
            if self.clients[client].wake != Some(at) {
                self.clients[client].wake = Some(at);
                self.schedule(at, Event::WakeClient { client });
            }
        } else {
            self.clients[client].wake = None;
        }
    }

    /// Puts what a server produced on its connections and schedules its next wakeup.
    fn after_server(&mut self, server: usize) {
        loop {
            let Some(core) = self.servers[server].core.as_mut() else {
                return;
            };
            let Some(output) = core.poll_output() else {
                break;
            };
            match output {
                ServerOutput::Send(conn, envelope) => {
                    self.pipe(conn, false, Frame::Text(envelope.to_json()));
                }
                ServerOutput::Close(conn, code) => {
                    if self.conns.get(&conn).is_some_and(|c| c.to_client_open) {
                        self.close_by_server(conn, code);
                        let now = self.now;
                        if let Some(core) = self.servers[server].core.as_mut() {
                            core.disconnected(conn, now);
                        }
                    }
                }
            }
        }
        while let Some(request) = self.servers[server]
            .core
            .as_mut()
            .and_then(|core| core.poll_log_request())
        {
            let tag = match &request {
                LogRequest::Publish { tag, .. }
                | LogRequest::Range { tag, .. }
                | LogRequest::Snapshot { tag, .. } => *tag,
            };
            let slot = &mut self.servers[server];
            slot.outstanding.insert(tag);
            let link = slot.link;
            if !slot.link_up {
                // Refused at once: the link is down.
                self.schedule(
                    self.now + 1,
                    Event::LogAnswer {
                        server,
                        link,
                        reply: LogReply::Unreachable { tag },
                    },
                );
                continue;
            }
            let at = (self.now + self.rng.range(1, 10)).max(self.servers[server].to_log_last);
            self.servers[server].to_log_last = at;
            self.schedule(
                at,
                Event::LogServe {
                    server,
                    link,
                    request,
                },
            );
        }
        let wanted = self.servers[server]
            .core
            .as_ref()
            .and_then(|core| core.next_wakeup())
            .map(|at| at.max(self.now));
        if let Some(at) = wanted {
            if self.servers[server].wake != Some(at) {
                self.servers[server].wake = Some(at);
                self.schedule(at, Event::WakeServer { server });
            }
        }
    }
}

/// The `id` of a `send` frame, for a refusal that names the line.
fn reference_of(text: &str) -> Option<String> {
    match ClientEnvelope::parse(text) {
        Ok(ClientEnvelope::Send { id, .. }) => id,
        _ => None,
    }
}

fn describe(envelope: &ClientEnvelope) -> String {
    serde_json::to_string(envelope).unwrap_or_default()
}
