//! A deterministic simulation of ferrosocket's chat: many clients' session state machines
//! against servers' hub state machines, through seeded random schedules of bursts, rate
//! refusals, dropped connections and server crashes, checked for lost, duplicated,
//! reordered and stuck lines.
//!
//! One seed decides everything (see [`Scenario::generate`]); a failing seed replays
//! exactly: `SIM_SEED=1234 cargo test -p ferrosocket-sim`.
//!
//! - [`actor`]: the traits a state machine implements to be simulated.
//! - [`world`]: the network, the clock, the faults.
//! - [`check`]: the record of a run and its invariants.
//! - [`log`]: the shared log of Redis mode.
//! - [`planted`]: deliberately wrong variants, to show the invariants catch them.
//! - [`model`]: reference state machines written from the agreed design.
//! - [`adapters`]: the real cores behind the traits.
#![deny(missing_docs, missing_debug_implementations)]

pub mod actor;
pub mod adapters;
pub mod check;
pub mod log;
pub mod model;
pub mod planted;
pub mod rate;
pub mod rng;
pub mod scenario;
pub mod world;

pub use actor::{AppEvent, ConnId, Millis, ServerOutput, SimClient, SimServer};
pub use check::{Durability, Ledger};
pub use scenario::{Action, Knobs, Scenario};
pub use world::{Outcome, World};

/// Builds one client of a scenario: its index and the scenario.
pub type MakeClient<C> = fn(usize, &Scenario) -> C;
/// Builds one server of a scenario: its index, its life (0 at the start, +1 per restart)
/// and the scenario.
pub type MakeServer<S> = fn(usize, u32, &Scenario) -> S;

/// Runs the scenario of `seed` with `knobs`, printing every frame and fault to stderr
/// when the environment variable `SIM_TRACE` is set.
pub fn run<C: SimClient, S: SimServer + 'static>(
    seed: u64,
    knobs: Knobs,
    make_client: MakeClient<C>,
    make_server: MakeServer<S>,
) -> Outcome {
    let trace = std::env::var_os("SIM_TRACE").is_some();
    run_traced(seed, knobs, make_client, make_server, trace)
}

/// [`run`], printing every frame and fault when `trace` is set.
pub fn run_traced<C: SimClient, S: SimServer + 'static>(
    seed: u64,
    knobs: Knobs,
    make_client: MakeClient<C>,
    make_server: MakeServer<S>,
    trace: bool,
) -> Outcome {
    let scenario = Scenario::generate(seed, knobs);
    let clients = (0..scenario.members.len())
        .map(|index| make_client(index, &scenario))
        .collect();
    let shared = scenario.clone();
    let durability = if knobs.crashes && knobs.crash_starts_epoch {
        Durability::CrashLosesHistory
    } else {
        Durability::Durable
    };
    World::new(
        scenario,
        clients,
        Box::new(move |index, life| make_server(index, life, &shared)),
        durability,
        trace,
    )
    .run()
}

/// What a search over many seeds found.
#[derive(Debug, Default)]
pub struct Search {
    /// Seeds run.
    pub seeds: u64,
    /// Seeds with at least one violation, with the first violations of each.
    pub failures: Vec<(u64, Vec<String>)>,
    /// Lines sent over all seeds.
    pub lines: usize,
    /// Rate refusals over all seeds.
    pub rate_refusals: u64,
}

/// Runs `seeds`, stopping after `max_failures` failing seeds.
pub fn search<C: SimClient, S: SimServer + 'static>(
    seeds: std::ops::Range<u64>,
    knobs: Knobs,
    make_client: MakeClient<C>,
    make_server: MakeServer<S>,
    max_failures: usize,
) -> Search {
    let mut found = Search::default();
    for seed in seeds {
        let outcome = run(seed, knobs, make_client, make_server);
        found.seeds += 1;
        found.lines += outcome.lines;
        found.rate_refusals += outcome.rate_refusals;
        if !outcome.violations.is_empty() {
            let mut first = outcome.violations;
            first.truncate(5);
            found.failures.push((seed, first));
            if found.failures.len() >= max_failures {
                break;
            }
        }
    }
    found
}

/// The seeds to run: `SIM_SEED=n` for just that one, else `SIM_SEEDS=n` (or `default`)
/// seeds from `SIM_START` (or 0).
pub fn seeds_from_env(default: u64) -> std::ops::Range<u64> {
    let number = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
    if let Some(seed) = number("SIM_SEED") {
        return seed..seed + 1;
    }
    let start = number("SIM_START").unwrap_or(0);
    start..start + number("SIM_SEEDS").unwrap_or(default)
}
