//! [`Scenario`]: one run's cast, script and network, drawn from a seed.

use crate::actor::Millis;
use crate::rng::Rng;

/// Something a user does, or a fault, at a scripted time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Client `client`'s user sends `text` to `room`; `valid` is false for a line the
    /// system must refuse (too large, or for a room the client is not in).
    Send {
        /// The client.
        client: usize,
        /// The room.
        room: String,
        /// The line (unique in the run).
        text: String,
        /// Whether the line can be accepted.
        valid: bool,
    },
    /// Client `client`'s user joins `room`.
    Join {
        /// The client.
        client: usize,
        /// The room.
        room: String,
    },
    /// Client `client`'s connection dies abruptly (frames in flight are lost).
    Drop {
        /// The client.
        client: usize,
    },
    /// Server `server` crashes (every connection dies) and restarts a little later.
    Crash {
        /// The server.
        server: usize,
    },
    /// Client `client`'s token is about to expire: its server warns it (`token_expiring`)
    /// and, unless a `refresh` arrives first, closes the connection with 4401 a little
    /// later.
    TokenExpires {
        /// The client.
        client: usize,
    },
    /// Redis mode: server `server` loses its link to the shared log (requests fail, lines
    /// in flight on its subscription are lost) and gets it back a little later.
    LinkDrop {
        /// The server.
        server: usize,
    },
}

/// Which faults and what kind of system a run simulates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Knobs {
    /// How many servers (more than one only makes sense with a shared log).
    pub servers: usize,
    /// Connections die abruptly.
    pub drops: bool,
    /// Servers crash and restart.
    pub crashes: bool,
    /// A crash starts a new epoch (in-memory mode: the history is lost).
    pub crash_starts_epoch: bool,
    /// Some lines are ones the system must refuse.
    pub invalid_lines: bool,
    /// A `rate_limited` refusal of a `send` carries the line's `id` as `ref`.
    pub refusal_names_line: bool,
    /// Redis mode: the servers share a log that numbers lines and survives crashes.
    pub shared_log: bool,
    /// Redis mode: servers lose their link to the log now and then.
    pub link_faults: bool,
    /// Connections' tokens expire now and then: warned, refreshed by the client or closed
    /// with 4401.
    pub token_expiry: bool,
}

impl Knobs {
    /// One in-memory server with every fault.
    pub fn in_memory() -> Knobs {
        Knobs {
            servers: 1,
            drops: true,
            crashes: true,
            crash_starts_epoch: true,
            invalid_lines: true,
            refusal_names_line: false,
            shared_log: false,
            link_faults: false,
            token_expiry: false,
        }
    }

    /// Two servers sharing a log (Redis mode) with every fault: a crash loses nothing
    /// the log holds, so it starts no new epoch.
    pub fn redis() -> Knobs {
        Knobs {
            servers: 2,
            drops: true,
            crashes: true,
            crash_starts_epoch: false,
            invalid_lines: true,
            refusal_names_line: false,
            shared_log: true,
            link_faults: true,
            token_expiry: false,
        }
    }
}

/// One run, fully decided by its seed and knobs.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The seed it was drawn from.
    pub seed: u64,
    /// Servers.
    pub servers: usize,
    /// Each client's rooms (the lobby included), fixed for the run.
    pub members: Vec<Vec<String>>,
    /// What happens when, in time order.
    pub actions: Vec<(Millis, Action)>,
    /// When faults and user actions stop.
    pub active_ms: Millis,
    /// How long the world then runs without faults before the invariants are checked.
    pub quiet_ms: Millis,
    /// The largest base latency of a connection.
    pub max_latency_ms: Millis,
    /// Percent of frames delayed by a latency spike (which bunches the frames after them).
    pub spike_percent: u64,
    /// A crash starts a new epoch.
    pub crash_starts_epoch: bool,
    /// A `rate_limited` refusal of a `send` names the line.
    pub refusal_names_line: bool,
    /// Redis mode.
    pub shared_log: bool,
    /// The servers' rate limit: messages per second, burst.
    pub rate: (u32, u32),
    /// The longest text the servers accept.
    pub max_text_bytes: usize,
}

/// The rooms besides the lobby.
const ROOMS: [&str; 2] = ["rust", "wasm"];

impl Scenario {
    /// Draws a scenario from `seed`.
    pub fn generate(seed: u64, knobs: Knobs) -> Scenario {
        let mut rng = Rng::new(seed);
        let clients = rng.range(2, 5) as usize;
        let active_ms = 20_000;
        let max_text_bytes = 64;
        let members: Vec<Vec<String>> = (0..clients)
            .map(|_| {
                let mut rooms = vec![ferrosocket_wire::chat::LOBBY.to_owned()];
                rooms.extend(
                    ROOMS
                        .iter()
                        .filter(|_| rng.chance(60))
                        .map(|room| (*room).to_owned()),
                );
                rooms
            })
            .collect();
        let mut actions: Vec<(Millis, Action)> = Vec::new();
        // When each client joins each of its rooms (the lobby at once): mostly at the
        // start, sometimes later, when the room already has history.
        let mut joined_at: Vec<Vec<Millis>> = Vec::new();
        for (client, rooms) in members.iter().enumerate() {
            let mut times = vec![0];
            for room in &rooms[1..] {
                let at = if rng.chance(70) {
                    rng.range(0, 50)
                } else {
                    rng.range(0, active_ms / 2)
                };
                times.push(at);
                actions.push((
                    at,
                    Action::Join {
                        client,
                        room: room.clone(),
                    },
                ));
            }
            joined_at.push(times);
        }
        // Sends: bursts, each to one room, of lines a few ms apart (or all at once).
        let mut sends: Vec<(Millis, usize, String, Option<bool>)> = Vec::new();
        for (client, rooms) in members.iter().enumerate() {
            for _ in 0..rng.range(1, 4) {
                let which = rng.index(rooms.len());
                let start = rng
                    .range(0, active_ms * 4 / 5)
                    .max(joined_at[client][which] + 1);
                let size = if rng.chance(10) {
                    rng.range(40, 120)
                } else {
                    rng.range(1, 25)
                };
                let gap = rng.range(0, 30);
                let room = rooms[which].clone();
                for i in 0..size {
                    let broken = knobs.invalid_lines && rng.chance(3);
                    let (room, too_large) = if broken && rng.chance(50) {
                        (room.clone(), Some(true))
                    } else if broken {
                        let outside = ROOMS.iter().find(|r| !rooms.iter().any(|m| m == *r));
                        match outside {
                            Some(outside) => ((*outside).to_owned(), Some(false)),
                            None => (room.clone(), Some(true)),
                        }
                    } else {
                        (room.clone(), None)
                    };
                    sends.push((start + i * gap, client, room, too_large));
                }
            }
        }
        sends.sort_by_key(|(at, ..)| *at);
        let mut counts = vec![0usize; clients];
        for (at, client, room, broken) in sends {
            let mut text = format!("c{client}-{}", counts[client]);
            counts[client] += 1;
            if broken == Some(true) {
                text.push('-');
                text.push_str(&"x".repeat(max_text_bytes));
            }
            actions.push((
                at,
                Action::Send {
                    client,
                    room,
                    text,
                    valid: broken.is_none(),
                },
            ));
        }
        if knobs.drops {
            for _ in 0..rng.range(0, 6) {
                let client = rng.index(clients);
                actions.push((rng.range(0, active_ms), Action::Drop { client }));
            }
        }
        if knobs.crashes {
            for _ in 0..rng.range(0, 2) {
                let server = rng.index(knobs.servers);
                actions.push((rng.range(0, active_ms), Action::Crash { server }));
            }
        }
        if knobs.link_faults {
            for _ in 0..rng.range(0, 3) {
                let server = rng.index(knobs.servers);
                actions.push((rng.range(0, active_ms), Action::LinkDrop { server }));
            }
        }
        if knobs.token_expiry {
            // Drawn from a fork of the seed, so that runs without expiries stay as they were.
            let mut expiries = Rng::new(seed ^ 0x7045_4e5f_4558_5059);
            for _ in 0..expiries.range(1, 8) {
                let client = expiries.index(clients);
                actions.push((
                    expiries.range(0, active_ms),
                    Action::TokenExpires { client },
                ));
            }
        }
        actions.sort_by_key(|(at, _)| *at);
        let rate = match rng.range(0, 3) {
            0 => (10, 10),
            1 => (20, 10),
            2 => (20, 40),
            _ => (50, 20),
        };
        Scenario {
            seed,
            servers: knobs.servers,
            members,
            actions,
            active_ms,
            quiet_ms: 180_000,
            max_latency_ms: rng.range(2, 60),
            spike_percent: rng.range(0, 4),
            crash_starts_epoch: knobs.crash_starts_epoch,
            refusal_names_line: knobs.refusal_names_line,
            shared_log: knobs.shared_log,
            rate,
            max_text_bytes,
        }
    }
}
