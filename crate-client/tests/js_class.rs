//! The exported `FerroSocket` class, driven from JavaScript the way a JS caller uses it,
//! against the real server.
#![cfg(target_arch = "wasm32")]

mod common;

use common::ECHO_URL;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen(module = "/tests/js_class.js")]
extern "C" {
    #[wasm_bindgen(js_name = driveFerroSocket)]
    fn drive_ferro_socket(ferro_socket_class: &JsValue, echo_url: &str) -> js_sys::Promise;
}

#[wasm_bindgen_test]
async fn the_js_class_behaves_like_a_websocket() {
    // The test hands JavaScript the class itself; the script constructs its own sockets.
    let class = ferrosocket::js::ferro_socket_class();
    if let Err(err) = JsFuture::from(drive_ferro_socket(&class, ECHO_URL)).await {
        let message = js_sys::Reflect::get(&err, &"message".into()).unwrap_or(err);
        panic!("{}", message.as_string().unwrap_or_default());
    }
}
