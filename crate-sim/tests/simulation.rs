//! The real cores in the simulator: the browser session's `SessionCore` against the
//! server hub. Every seed must keep every invariant; a failing seed is printed with the
//! command that replays it.
//!
//! `SIM_SEEDS=20000 cargo test -p ferrosocket-sim --release --test simulation` searches
//! more; `SIM_SEED=n SIM_TRACE=1 ...` replays one seed and prints every frame.

use ferrosocket_sim::adapters::CoreClient;
use ferrosocket_sim::model::ModelServer;
use ferrosocket_sim::{search, seeds_from_env, Knobs, Scenario, Search};

fn client(index: usize, _: &Scenario) -> CoreClient {
    CoreClient::new(&format!("c{index}")).skipping_reconnect_lobby_history()
}

fn model_server(_: usize, life: u32, scenario: &Scenario) -> ModelServer {
    ModelServer::new(&format!("epoch{life}"), scenario.rate, scenario.max_text_bytes)
}

fn report(search: &Search) -> String {
    let mut text = format!(
        "{} seeds, {} lines, {} rate refusals, {} failing seeds\n",
        search.seeds,
        search.lines,
        search.rate_refusals,
        search.failures.len()
    );
    for (seed, violations) in &search.failures {
        text.push_str(&format!(
            "seed {seed} (replay: SIM_SEED={seed} SIM_TRACE=1 cargo test -p ferrosocket-sim --test simulation):\n"
        ));
        for violation in violations {
            text.push_str(&format!("  {violation}\n"));
        }
    }
    text
}

#[test]
fn the_session_core_against_the_reference_hub_keeps_every_invariant() {
    let found = search(
        seeds_from_env(300),
        Knobs {
            refusal_names_line: true,
            ..Knobs::in_memory()
        },
        client,
        model_server,
        3,
    );
    assert!(found.failures.is_empty(), "{}", report(&found));
}
