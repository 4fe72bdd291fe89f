//! The same work as `size_socket_only.rs` — open, receive text, send, close — done with
//! gloo-net's WebSocket, the peer a Rust web developer would pick instead.
//! `scripts/wasm-size.sh` measures both modules.

use std::cell::RefCell;
use std::rc::Rc;

use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use gloo_net::websocket::futures::WebSocket;
use gloo_net::websocket::Message;
use wasm_bindgen::prelude::*;

/// A connection that calls `on_text` with every text message it receives.
#[wasm_bindgen]
pub struct Probe {
    sink: Rc<RefCell<Option<SplitSink<WebSocket, Message>>>>,
}

#[wasm_bindgen]
impl Probe {
    /// Connects to `url`; throws the error's text for a bad URL.
    #[wasm_bindgen(constructor)]
    pub fn new(url: &str, on_text: js_sys::Function) -> Result<Probe, JsValue> {
        let socket = WebSocket::open(url).map_err(|err| JsValue::from(err.to_string()))?;
        let (sink, mut stream) = socket.split();
        wasm_bindgen_futures::spawn_local(async move {
            while let Some(Ok(message)) = stream.next().await {
                if let Message::Text(text) = message {
                    let _ = on_text.call1(&JsValue::NULL, &text.into());
                }
            }
        });
        Ok(Probe {
            sink: Rc::new(RefCell::new(Some(sink))),
        })
    }

    /// Sends a text message.
    pub fn send(&self, text: String) {
        let sink = Rc::clone(&self.sink);
        wasm_bindgen_futures::spawn_local(async move {
            let taken = sink.borrow_mut().take();
            if let Some(mut writer) = taken {
                let _ = writer.send(Message::Text(text)).await;
                *sink.borrow_mut() = Some(writer);
            }
        });
    }

    /// Closes with 1000.
    pub fn close(&self) {
        let sink = Rc::clone(&self.sink);
        wasm_bindgen_futures::spawn_local(async move {
            let taken = sink.borrow_mut().take();
            if let Some(mut writer) = taken {
                let _ = writer.close().await;
            }
        });
    }
}
