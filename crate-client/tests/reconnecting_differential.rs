//! The `ReconnectingSocket` differential test: one scripted set of scenarios
//! (tests/reconnecting_differential.js) run against partysocket's `ReconnectingWebSocket`
//! (the npm package, bundled by scripts/bundle-partysocket.sh into tests/vendor/) and against
//! our `ReconnectingSocket`, in the same page, against the real server; the traces may differ
//! only as the `DIFFERENCES` list at the end of tests/reconnecting_differential.js documents.
#![cfg(target_arch = "wasm32")]

mod common;

use common::ECHO_URL;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen(module = "/tests/reconnecting_differential.js")]
extern "C" {
    #[wasm_bindgen(js_name = reconnectingDifferential)]
    fn reconnecting_differential(
        reconnecting_socket_class: &JsValue,
        partysocket_class: &JsValue,
        echo_url: &str,
    ) -> js_sys::Promise;
}

#[wasm_bindgen(module = "/tests/vendor/partysocket.js")]
extern "C" {
    #[wasm_bindgen(js_name = partysocketClass)]
    fn partysocket_class() -> JsValue;
}

fn field(object: &JsValue, name: &str) -> JsValue {
    js_sys::Reflect::get(object, &name.into()).unwrap_or(JsValue::UNDEFINED)
}

/// `[[step, json], ...]` as lines.
fn lines(trace: &JsValue) -> Vec<String> {
    js_sys::Array::from(trace)
        .iter()
        .map(|entry| {
            let entry = js_sys::Array::from(&entry);
            format!(
                "{} = {}",
                entry.get(0).as_string().unwrap_or_default(),
                entry.get(1).as_string().unwrap_or_default()
            )
        })
        .collect()
}

#[wasm_bindgen_test]
async fn reconnecting_socket_traces_match_partysocket() {
    let class = ferrosocket::js::reconnecting_socket_class();
    let result = JsFuture::from(reconnecting_differential(
        &class,
        &partysocket_class(),
        ECHO_URL,
    ))
    .await
    .unwrap_or_else(|err| panic!("the scenarios threw: {err:?}"));
    let problems: Vec<String> = js_sys::Array::from(&field(&result, "problems"))
        .iter()
        .filter_map(|problem| problem.as_string())
        .collect();
    let theirs = lines(&field(&result, "partysocket"));
    let ours = lines(&field(&result, "ours"));
    // Every scenario ran to its end on both sides.
    for (who, trace) in [("partysocket", &theirs), ("ReconnectingSocket", &ours)] {
        let failed: Vec<&String> = trace
            .iter()
            .filter(|line| line.contains(".failed ="))
            .collect();
        assert!(failed.is_empty(), "{who}: scenarios failed: {failed:#?}");
    }
    assert!(
        problems.is_empty(),
        "undocumented differences from partysocket:\n{}\n\npartysocket trace:\n{}\n\nReconnectingSocket trace:\n{}",
        problems.join("\n"),
        theirs.join("\n"),
        ours.join("\n"),
    );
    // The scenarios reached the steps that matter (a trace that stopped early would agree
    // trivially).
    for step in [
        "order.echoes = ",
        "drop.events = ",
        "reconnect.after-close = 1",
        "startClosed.echo = \"started\"",
        "maxRetries.attempts = 3",
        "urlProvider.calls = 2",
        "connectionTimeout.before-the-server-answered = true",
    ] {
        assert!(
            ours.iter().any(|line| line.starts_with(step)),
            "no `{step}` in the trace:\n{}",
            ours.join("\n")
        );
    }
}
