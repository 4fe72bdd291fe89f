//! `ReconnectingSocket`'s reconnect options (`protocols` as one string, `maxDelay:
//! Infinity`, Blobs, `shouldReconnect`, `connectTimeout`, the URL and protocols as functions
//! called per attempt) driven from JavaScript against the real server.
#![cfg(target_arch = "wasm32")]

mod common;

use common::{echo_url_with, http_base, run, ECHO_URL};
use ferrosocket::js::reconnecting_socket_class;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen(module = "/tests/js_reconnect_options.js")]
extern "C" {
    #[wasm_bindgen(js_name = oneProtocolAsAStringAndAnInfiniteMaxDelay)]
    fn one_protocol_as_a_string(class: &JsValue, echo_url: &str) -> js_sys::Promise;
    #[wasm_bindgen(js_name = shouldReconnectDecidesAndItsExceptionsAreReported)]
    fn should_reconnect_decides(class: &JsValue, flapping_url: &str) -> js_sys::Promise;
    #[wasm_bindgen(js_name = aStalledHandshakeMeetsTheConnectTimeout)]
    fn stalled_handshake(class: &JsValue, hang_url: &str) -> js_sys::Promise;
    #[wasm_bindgen(js_name = blobsAreQueuedInOrderWithEverythingElse)]
    fn blobs_in_order(class: &JsValue, echo_url: &str) -> js_sys::Promise;
    #[wasm_bindgen(js_name = reconnectClosesWithTheCodeAndReasonGiven)]
    fn reconnect_with_code(class: &JsValue, echo_url: &str) -> js_sys::Promise;
    #[wasm_bindgen(js_name = urlAndProtocolsMayBeFunctionsCalledPerAttempt)]
    fn url_and_protocols_per_attempt(
        class: &JsValue,
        echo_url: &str,
        flapping_url: &str,
    ) -> js_sys::Promise;
}

/// The class JavaScript users construct.
fn class() -> JsValue {
    reconnecting_socket_class().into()
}

#[wasm_bindgen_test]
async fn one_protocol_may_be_a_string_and_max_delay_may_be_infinite() {
    run(one_protocol_as_a_string(&class(), ECHO_URL)).await;
}

#[wasm_bindgen_test]
async fn should_reconnect_decides_and_its_exceptions_are_reported() {
    run(should_reconnect_decides(
        &class(),
        &echo_url_with("close=1011&reason=flap"),
    ))
    .await;
}

#[wasm_bindgen_test]
async fn a_stalled_handshake_meets_the_connect_timeout() {
    let hang = format!(
        "{}/test/hang?ms=20000",
        http_base().replacen("http", "ws", 1)
    );
    run(stalled_handshake(&class(), &hang)).await;
}

#[wasm_bindgen_test]
async fn url_and_protocols_may_be_functions_called_per_attempt() {
    run(url_and_protocols_per_attempt(
        &class(),
        ECHO_URL,
        &echo_url_with("close=1011&reason=flap"),
    ))
    .await;
}

#[wasm_bindgen_test]
async fn blobs_are_queued_in_order_with_everything_else() {
    run(blobs_in_order(&class(), ECHO_URL)).await;
}

#[wasm_bindgen_test]
async fn reconnect_closes_with_the_code_and_reason_given() {
    run(reconnect_with_code(&class(), ECHO_URL)).await;
}
