//! A module that uses only ferrosocket's socket layer — open, message handler, send,
//! close — built with `default-features = false` (no exported classes).
//! `scripts/wasm-size.sh` measures its size beside `size_gloo_net.rs`, which does the same
//! work with gloo-net's WebSocket.

use ferrosocket::{Message, WebSocket};
use wasm_bindgen::prelude::*;

/// A connection that calls `on_text` with every text message it receives.
#[wasm_bindgen]
pub struct Probe {
    socket: WebSocket,
}

#[wasm_bindgen]
impl Probe {
    /// Connects to `url`; throws the error's text for a bad URL.
    #[wasm_bindgen(constructor)]
    pub fn new(url: &str, on_text: js_sys::Function) -> Result<Probe, JsValue> {
        let mut socket = WebSocket::open(url).map_err(|err| JsValue::from(err.to_string()))?;
        socket.set_on_message(move |message| {
            if let Message::Text(text) = message {
                let _ = on_text.call1(&JsValue::NULL, &text.into());
            }
        });
        Ok(Probe { socket })
    }

    /// Sends a text message.
    pub fn send(&self, text: &str) -> Result<(), JsValue> {
        self.socket
            .send_text(text)
            .map_err(|err| JsValue::from(err.to_string()))
    }

    /// Closes with 1000.
    pub fn close(&self) -> Result<(), JsValue> {
        self.socket
            .close()
            .map_err(|err| JsValue::from(err.to_string()))
    }
}
