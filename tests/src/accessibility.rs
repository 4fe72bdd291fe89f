//! Accessibility checks with axe-core (from npm, installed into `tests/interop/node_modules`
//! by `scripts/setup.sh`), injected into the page under test through WebDriver.

use fantoccini::Client;
use serde_json::{json, Value};

use crate::repo_root;

/// axe-core's script, read from `tests/interop/node_modules`.
fn axe_source() -> String {
    let path = repo_root().join("tests/interop/node_modules/axe-core/axe.min.js");
    std::fs::read_to_string(&path).unwrap_or_else(|err| {
        panic!(
            "cannot read {}: {err} (scripts/setup.sh installs axe-core with npm ci in tests/interop)",
            path.display()
        )
    })
}

/// Runs axe-core on the page `client` shows (the whole document, every rule axe runs by
/// default, WCAG 2.x A and AA included) and returns its violations, each as
/// `"id: help\n  node target: failure summary"` lines.
pub async fn axe_violations(client: &Client) -> Vec<String> {
    // The page's Content-Security-Policy forbids inline scripts, but WebDriver's execute
    // runs outside it: evaluating the source defines window.axe.
    client
        .execute(
            "(0, eval)(arguments[0]); return typeof window.axe;",
            vec![json!(axe_source())],
        )
        .await
        .expect("injecting axe-core");
    let result = client
        .execute_async(
            "const done = arguments[arguments.length - 1];\
             window.axe.run(document, {resultTypes: ['violations']})\
               .then(r => done(r.violations.map(v => ({id: v.id, help: v.help, impact: v.impact,\
                  nodes: v.nodes.map(n => ({target: n.target, html: n.html, summary: n.failureSummary}))}))))\
               .catch(e => done({error: String(e)}));",
            vec![],
        )
        .await
        .expect("running axe-core");
    if let Some(error) = result.get("error") {
        panic!("axe-core failed to run: {error}");
    }
    let Value::Array(violations) = result else {
        panic!("unexpected axe-core result: {result}");
    };
    violations
        .iter()
        .map(|violation| {
            let mut text = format!(
                "{} ({}): {}",
                violation["id"].as_str().unwrap_or("?"),
                violation["impact"].as_str().unwrap_or("?"),
                violation["help"].as_str().unwrap_or("?")
            );
            for node in violation["nodes"].as_array().into_iter().flatten() {
                text.push_str(&format!(
                    "\n    {} {}\n      {}",
                    node["target"],
                    node["html"].as_str().unwrap_or(""),
                    node["summary"]
                        .as_str()
                        .unwrap_or("")
                        .replace('\n', "\n      ")
                ));
            }
            text
        })
        .collect()
}

/// Panics, listing each violation, unless axe-core finds none on the page `client` shows.
pub async fn assert_no_axe_violations(client: &Client, what: &str) {
    let violations = axe_violations(client).await;
    assert!(
        violations.is_empty(),
        "axe-core found {} accessibility violation(s) on {what}:\n{}",
        violations.len(),
        violations.join("\n")
    );
}
