//! The Rust side of the browser receive benchmark (`www/bench.html`): the same count of
//! messages received through [`WebSocket`]'s Rust handlers that the page also receives
//! through the raw browser `WebSocket` and through the `FerroSocket` class.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::{Object, Promise, Reflect};
use wasm_bindgen::prelude::*;

use crate::message::Message;
use crate::socket::WebSocket;

/// Receives `count` messages from `url` (the server's `/test/firehose`) through a Rust
/// message handler that reads each message's length, as a user's handler would at least.
///
/// Resolves to `{ ms, messages, bytes }`, timed from the `open` event to the last message;
/// rejects if the connection closes first.
#[wasm_bindgen(js_name = benchReceiveRust)]
pub fn bench_receive_rust(url: &str, count: u32) -> Result<Promise, JsValue> {
    let socket =
        WebSocket::open(url).map_err(|err| JsValue::from(js_sys::Error::new(&err.to_string())))?;
    let holder = Rc::new(RefCell::new(Some(socket)));
    let promise = Promise::new(&mut |resolve, reject| {
        let started = Rc::new(Cell::new(0.0));
        let received = Rc::new(Cell::new(0u32));
        let mut guard = holder.borrow_mut();
        let socket = guard.as_mut().expect("just opened");
        socket.set_on_open({
            let started = Rc::clone(&started);
            move || started.set(now())
        });
        socket.set_on_message({
            let (holder, received) = (Rc::clone(&holder), Rc::clone(&received));
            let mut bytes = 0usize;
            move |message| {
                bytes += match &message {
                    Message::Text(text) => text.len(),
                    Message::Binary(data) => data.len(),
                };
                received.set(received.get() + 1);
                if received.get() == count {
                    let result = Object::new();
                    let _ = Reflect::set(&result, &"ms".into(), &(now() - started.get()).into());
                    let _ = Reflect::set(&result, &"messages".into(), &count.into());
                    let _ = Reflect::set(&result, &"bytes".into(), &(bytes as f64).into());
                    let _ = resolve.call1(&JsValue::NULL, &result);
                    release(&holder);
                }
            }
        });
        socket.set_on_close({
            let holder = Rc::clone(&holder);
            move |close| {
                if received.get() < count {
                    let message = format!(
                        "closed ({} {:?}) after {} of {count} messages",
                        close.code,
                        close.reason,
                        received.get()
                    );
                    let _ = reject.call1(&JsValue::NULL, &js_sys::Error::new(&message));
                }
                release(&holder);
            }
        });
    });
    Ok(promise)
}

/// Drops the socket once the running handler has returned (a handler must not drop the
/// listener that is calling it).
fn release(holder: &Rc<RefCell<Option<WebSocket>>>) {
    let holder = Rc::clone(holder);
    crate::spawn(Box::pin(async move {
        holder.borrow_mut().take();
    }));
}

fn now() -> f64 {
    web_sys::window()
        .and_then(|window| window.performance())
        .map_or_else(js_sys::Date::now, |performance| performance.now())
}
