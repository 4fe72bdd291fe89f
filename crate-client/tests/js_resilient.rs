//! The `ReconnectingSocket` and `ChatClient` classes driven from JavaScript, against the
//! real server, through a real connection drop. (Not in a module built without `ChatClient`:
//! tests/sockets_only.rs runs the `ReconnectingSocket` script there.)
#![cfg(all(target_arch = "wasm32", feature = "js-chat"))]

mod common;

use common::{chat_url, http_base, run, ECHO_URL};
use ferrosocket::js::{chat_client_class, reconnecting_socket_class};
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen(module = "/tests/js_resilient.js")]
extern "C" {
    #[wasm_bindgen(js_name = survivesGarbageCollection)]
    fn survives_garbage_collection(
        reconnecting_socket_class: &JsValue,
        chat_client_class: &JsValue,
        echo_url: &str,
        chat_url: &str,
    ) -> js_sys::Promise;
    #[wasm_bindgen(js_name = driveReconnectingSocket)]
    fn drive_reconnecting_socket(
        class: &JsValue,
        echo_url: &str,
        http_base: &str,
    ) -> js_sys::Promise;
    #[wasm_bindgen(js_name = eventsAreRealEventsInOrder)]
    fn events_are_real_events_in_order(class: &JsValue, echo_url: &str) -> js_sys::Promise;
    #[wasm_bindgen(js_name = driveChatClient)]
    fn drive_chat_client(class: &JsValue, chat_url: &str, http_base: &str) -> js_sys::Promise;
}

#[wasm_bindgen_test]
async fn the_reconnecting_socket_class_queues_reconnects_and_flushes() {
    run(drive_reconnecting_socket(
        &reconnecting_socket_class(),
        ECHO_URL,
        &http_base(),
    ))
    .await;
}

/// Events are real `Event`s targeted at the socket, dispatched as tasks in order, a
/// listener's exception goes to `reportError`, and a `close()` inside a listener is not lost.
#[wasm_bindgen_test]
async fn reconnecting_socket_events_are_real_events_in_order() {
    run(events_are_real_events_in_order(
        &reconnecting_socket_class(),
        ECHO_URL,
    ))
    .await;
}

#[wasm_bindgen_test]
async fn the_chat_client_class_delivers_exactly_once_across_a_drop() {
    run(drive_chat_client(
        &chat_client_class(),
        &chat_url(),
        &http_base(),
    ))
    .await;
}

/// Unreferenced, connected `ReconnectingSocket` and `ChatClient` objects with handlers
/// survive a forced garbage collection and keep working, and are released once closed.
/// (GC is forced only in Chromium, which exposes `gc()` via webdriver.json; elsewhere the
/// script checks only that they keep working.)
#[wasm_bindgen_test]
async fn unreferenced_resilient_objects_live_until_closed() {
    run(survives_garbage_collection(
        &reconnecting_socket_class(),
        &chat_client_class(),
        ECHO_URL,
        &chat_url(),
    ))
    .await;
}
