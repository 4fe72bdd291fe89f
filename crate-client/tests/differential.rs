//! The differential test: one scripted set of scenarios (tests/differential.js) run against
//! the browser's `WebSocket` and against `FerroSocket` in the same page, against the real
//! server; the traces may differ only as tests/differences.js documents.
#![cfg(target_arch = "wasm32")]

mod common;

use common::ECHO_URL;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen(module = "/tests/differential.js")]
extern "C" {
    fn differential(
        ferro_socket_class: &JsValue,
        echo_url: &str,
        differences: &JsValue,
    ) -> js_sys::Promise;
}

#[wasm_bindgen(module = "/tests/differences.js")]
extern "C" {
    #[wasm_bindgen(js_name = documentedDifferences)]
    fn documented_differences() -> JsValue;
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
async fn ferro_socket_traces_match_the_browsers_websocket() {
    let class = ferrosocket::js::ferro_socket_class();
    let result = JsFuture::from(differential(&class, ECHO_URL, &documented_differences()))
        .await
        .unwrap_or_else(|err| panic!("the scenarios threw: {err:?}"));
    let problems: Vec<String> = js_sys::Array::from(&field(&result, "problems"))
        .iter()
        .filter_map(|problem| problem.as_string())
        .collect();
    let browser = lines(&field(&result, "browser"));
    let ferro = lines(&field(&result, "ferro"));
    // Every scenario ran to its end on both sides (the differences so far say why not).
    for (who, trace) in [("WebSocket", &browser), ("FerroSocket", &ferro)] {
        let failed: Vec<&String> = trace
            .iter()
            .filter(|line| line.contains(".failed ="))
            .collect();
        assert!(
            failed.is_empty(),
            "{who}: scenarios failed: {failed:#?}\n\ndifferences from WebSocket:\n{}",
            problems.join("\n")
        );
    }
    assert!(
        problems.is_empty(),
        "undocumented differences from WebSocket:\n{}\n\nWebSocket trace:\n{}\n\nFerroSocket trace:\n{}",
        problems.join("\n"),
        browser.join("\n"),
        ferro.join("\n"),
    );
    // The scenarios reached the steps that matter (a trace that stopped early would agree
    // trivially).
    for step in [
        "gc.alive-while-open = true",
        "many = {\"opened\":200",
        "data.blob = ",
    ] {
        assert!(
            ferro.iter().any(|line| line.starts_with(step)),
            "no `{step}` in the trace:\n{}",
            ferro.join("\n")
        );
    }
}
