//! The library built without `ChatClient` (cargo feature `js-chat` off: `--no-default-features
//! --features js`, 30 KiB smaller): `FerroSocket` and `ReconnectingSocket` work as they do
//! in the full module. scripts/test.sh runs this binary in that configuration; in the
//! default one it is empty.
#![cfg(all(target_arch = "wasm32", feature = "js", not(feature = "js-chat")))]

mod common;

use common::{http_base, run, ECHO_URL};
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

// The scripts of js_class.rs and js_resilient.rs, run against this module's classes.
#[wasm_bindgen(module = "/tests/js_class.js")]
extern "C" {
    #[wasm_bindgen(js_name = driveFerroSocket)]
    fn drive_ferro_socket(ferro_socket_class: &JsValue, echo_url: &str) -> js_sys::Promise;
}

#[wasm_bindgen(module = "/tests/js_resilient.js")]
extern "C" {
    #[wasm_bindgen(js_name = driveReconnectingSocket)]
    fn drive_reconnecting_socket(
        class: &JsValue,
        echo_url: &str,
        http_base: &str,
    ) -> js_sys::Promise;
}

#[wasm_bindgen_test]
async fn ferro_socket_works_without_chat_client() {
    run(drive_ferro_socket(
        &ferrosocket::js::ferro_socket_class(),
        ECHO_URL,
    ))
    .await;
}

#[wasm_bindgen_test]
async fn reconnecting_socket_works_without_chat_client() {
    run(drive_reconnecting_socket(
        &ferrosocket::js::reconnecting_socket_class(),
        ECHO_URL,
        &http_base(),
    ))
    .await;
}
