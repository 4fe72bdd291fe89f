//! The `ReconnectingSocket` and `ChatClient` classes driven from JavaScript, against the
//! real server, through a real connection drop.
#![cfg(target_arch = "wasm32")]

mod common;

use common::{chat_url, http_base, ECHO_URL};
use ferrosocket::js_resilient::{ChatClient, ReconnectingSocket};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen(module = "/tests/js_resilient.js")]
extern "C" {
    #[wasm_bindgen(js_name = driveReconnectingSocket)]
    fn drive_reconnecting_socket(
        class: &JsValue,
        echo_url: &str,
        http_base: &str,
    ) -> js_sys::Promise;
    #[wasm_bindgen(js_name = driveChatClient)]
    fn drive_chat_client(class: &JsValue, chat_url: &str, http_base: &str) -> js_sys::Promise;
}

fn class_of(instance: JsValue) -> JsValue {
    js_sys::Reflect::get(
        &js_sys::Object::get_prototype_of(&instance),
        &"constructor".into(),
    )
    .unwrap()
}

async fn run(promise: js_sys::Promise) {
    if let Err(err) = JsFuture::from(promise).await {
        let message = js_sys::Reflect::get(&err, &"message".into()).unwrap_or(err);
        panic!("{}", message.as_string().unwrap_or_default());
    }
}

#[wasm_bindgen_test]
async fn the_reconnecting_socket_class_queues_reconnects_and_flushes() {
    let sample =
        ReconnectingSocket::new(JsValue::from_str(ECHO_URL).unchecked_into(), None).unwrap();
    sample.close();
    run(drive_reconnecting_socket(
        &class_of(sample.into()),
        ECHO_URL,
        &http_base(),
    ))
    .await;
}

#[wasm_bindgen_test]
async fn the_chat_client_class_delivers_exactly_once_across_a_drop() {
    let sample = ChatClient::new(&chat_url(), None).unwrap();
    sample.close();
    run(drive_chat_client(
        &class_of(sample.into()),
        &chat_url(),
        &http_base(),
    ))
    .await;
}
