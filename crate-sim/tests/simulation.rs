//! The real cores in the simulator: the browser session's `SessionCore` against the
//! server's `RoomsCore` (with the glue of the server's connection and hub), in memory and
//! in Redis mode. Every seed must keep every invariant; a failing seed is printed with
//! the command that replays it.
//!
//! `SIM_SEEDS=20000 cargo test -p ferrosocket-sim --test simulation` searches more;
//! `SIM_SEED=n SIM_TRACE=1 cargo test -p ferrosocket-sim --test simulation NAME` replays
//! one seed and prints every frame.

use ferrosocket_sim::adapters::{CoreClient, CoreServer};
use ferrosocket_sim::model::ModelServer;
use ferrosocket_sim::{search, seeds_from_env, Knobs, MakeClient, MakeServer, Scenario, Search};

fn client(index: usize, _: &Scenario) -> CoreClient {
    CoreClient::new(&format!("c{index}")).skipping_reconnect_lobby_history()
}

fn client_as_is(index: usize, _: &Scenario) -> CoreClient {
    CoreClient::new(&format!("c{index}"))
}

fn memory_server(index: usize, life: u32, scenario: &Scenario) -> CoreServer {
    CoreServer::new(
        false,
        (index as u64 + 1) * 1000 + u64::from(life),
        &format!("epoch{life}"),
        scenario.rate,
        scenario.max_text_bytes,
    )
}

fn redis_server(index: usize, life: u32, scenario: &Scenario) -> CoreServer {
    CoreServer::new(
        true,
        (index as u64 + 1) * 1000 + u64::from(life),
        "shared-epoch",
        scenario.rate,
        scenario.max_text_bytes,
    )
}

fn model_server(_: usize, life: u32, scenario: &Scenario) -> ModelServer {
    ModelServer::new(&format!("epoch{life}"), scenario.rate, scenario.max_text_bytes)
}

fn report(search: &Search, test: &str) -> String {
    let mut text = format!(
        "{} seeds, {} lines, {} rate refusals, {} failing seeds\n",
        search.seeds,
        search.lines,
        search.rate_refusals,
        search.failures.len()
    );
    for (seed, violations) in &search.failures {
        text.push_str(&format!(
            "seed {seed} (replay: SIM_SEED={seed} SIM_TRACE=1 cargo test -p ferrosocket-sim --test simulation {test}):\n"
        ));
        for violation in violations {
            text.push_str(&format!("  {violation}\n"));
        }
    }
    text
}

fn assert_clean<C: ferrosocket_sim::SimClient, S: ferrosocket_sim::SimServer + 'static>(
    test: &str,
    seeds: u64,
    knobs: Knobs,
    make_client: MakeClient<C>,
    make_server: MakeServer<S>,
) {
    let found = search(seeds_from_env(seeds), knobs, make_client, make_server, 3);
    assert!(found.failures.is_empty(), "{}", report(&found, test));
}

/// The server's rate refusal as the cores' contract needs it: naming the refused line.
fn named(knobs: Knobs) -> Knobs {
    Knobs {
        refusal_names_line: true,
        ..knobs
    }
}

#[test]
fn in_memory_the_real_cores_keep_every_invariant() {
    assert_clean(
        "in_memory_the_real_cores_keep_every_invariant",
        1000,
        named(Knobs::in_memory()),
        client,
        memory_server,
    );
}

#[test]
fn redis_mode_the_real_cores_keep_every_invariant() {
    assert_clean(
        "redis_mode_the_real_cores_keep_every_invariant",
        1000,
        named(Knobs::redis()),
        client,
        redis_server,
    );
}

#[test]
fn the_session_core_against_the_reference_hub_keeps_every_invariant() {
    assert_clean(
        "the_session_core_against_the_reference_hub_keeps_every_invariant",
        200,
        named(Knobs::in_memory()),
        client,
        model_server,
    );
}
