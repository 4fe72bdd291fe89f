//! `ReconnectingSocket`: [`ResilientSocket`] for JavaScript.

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::prelude::*;

use super::convert::*;
use super::events::*;
use super::resilient::*;
use super::SocketData;
use crate::resilient::{ConnectionState, ResilientError, ResilientEvent, ResilientSocket};

/// A WebSocket that reconnects with backoff, queues what is sent while offline, holds back
/// above a `bufferedAmount` high-water mark, and detects dead connections with a heartbeat:
/// the Rust core of the `ReconnectingSocket` JavaScript class (crate-client/js/resilient.js),
/// which turns what this hands to `onevent` and `onmessage` into DOM events.
///
/// # Examples
/// ```js
/// const socket = new ReconnectingSocket("/echo", { maxAttempts: 10, heartbeatInterval: 15000, heartbeatPing: "ping" });
/// socket.addEventListener("reconnecting", (event) => console.log(event.attempt, event.delay));
/// socket.onmessage = (event) => console.log(event.data);
/// console.log(socket.send("hello"));                            // "queued" until open
/// await socket.flushed();
/// ```
#[wasm_bindgen(js_name = ReconnectingSocketCore)]
#[derive(Debug)]
pub struct ReconnectingSocket {
    socket: ResilientSocket,
    handlers: Rc<RefCell<[Option<js_sys::Function>; 2]>>,
    hold: Hold,
}

const ON_EVENT: usize = 0;
const ON_MESSAGE: usize = 1;

// Not a wasm-bindgen constructor: JavaScript makes the core through the
// `ReconnectingSocket` class (`core_maker` in js/resilient.rs), and an exported constructor
// would be a second, unused way in (with its own shim in the module).
impl ReconnectingSocket {
    /// Opens a connection to `url` that survives failures. Throws `InvalidUrlError`,
    /// `UnsupportedSchemeError`, `InvalidProtocolError` or `TypeError` for bad options.
    pub(super) fn new(url: JsValue, options: &CoreOptions) -> Result<ReconnectingSocket, JsValue> {
        let should_reconnect = options.given(Value::ShouldReconnect);
        let options = parse_options(options);
        // A function when the URL or the protocols are (see `endpoint_fn`).
        let socket =
            match url.as_string() {
                Some(url) => ResilientSocket::open(&url, options)
                    .map_err(|err| js_error(open_error_name(&err), &err))?,
                None if url.is_function() => {
                    let fixed = options.protocols.clone();
                    ResilientSocket::open_with(endpoint_fn(url, fixed), options)
                }
                _ => return Err(js_sys::TypeError::new(
                    "the URL must be a string or a function returning one (or a Promise of one)",
                )
                .into()),
            };
        if let Some(predicate) = should_reconnect {
            let predicate: js_sys::Function = predicate.dyn_into().map_err(|_| {
                JsValue::from(js_sys::TypeError::new("shouldReconnect must be a function"))
            })?;
            socket.set_should_reconnect(move |close| {
                let close = close_object(close);
                // A predicate that throws is reported like a handler that throws, and the
                // close-code rules' usual answer for an abnormal close applies: reconnect.
                match predicate.call1(&JsValue::NULL, &close) {
                    Ok(answer) => answer.is_truthy(),
                    Err(err) => {
                        report_error(&err);
                        true
                    }
                }
            });
        }
        let handlers: Rc<RefCell<[Option<js_sys::Function>; 2]>> = Rc::default();
        let slots = Rc::clone(&handlers);
        let hold = Hold::default();
        let held = hold.clone();
        socket.set_on_event(move |event| {
            let finished = matches!(event, ResilientEvent::Closed(_) | ResilientEvent::GaveUp);
            let (on_event, on_message) = {
                let slots = slots.borrow();
                (slots[ON_EVENT].clone(), slots[ON_MESSAGE].clone())
            };
            match &event {
                ResilientEvent::Message(message) => {
                    let event = js_sys::Object::new();
                    let _ = js_sys::Reflect::set(&event, &"data".into(), &message_data(message));
                    call(&on_message, &event);
                }
                other => {
                    if let Some(object) = connection_event(other) {
                        call(&on_event, &object);
                    }
                }
            }
            if finished {
                held.release();
            }
        });
        Ok(ReconnectingSocket {
            socket,
            handlers,
            hold,
        })
    }
}

#[wasm_bindgen(js_class = ReconnectingSocketCore)]
impl ReconnectingSocket {
    /// Keeps `wrapper` (this object's JavaScript side) alive until the connection is
    /// closed for good or gives up; called by the `ReconnectingSocket` constructor
    /// (crate-client/js/resilient.js).
    #[wasm_bindgen(js_name = __holdUntilClosed, skip_typescript)]
    pub fn hold_until_closed(&self, wrapper: JsValue) {
        if !matches!(
            self.socket.state(),
            ConnectionState::Closed | ConnectionState::GaveUp
        ) {
            self.hold.keep(wrapper);
        }
    }

    /// Called with every connection event, a `{type, ...}` object: `open`,
    /// `reconnected {attempts}`, `disconnect {close}`, `reconnecting {attempt, delay}`,
    /// `giveup`, `close {close}` (`close` is `{code, reason, wasClean}`).
    #[wasm_bindgen(setter)]
    pub fn set_onevent(&self, handler: Option<js_sys::Function>) {
        self.handlers.borrow_mut()[ON_EVENT] = handler;
    }

    /// Called with `{data}` for every message (`data` is a string or an `ArrayBuffer`).
    #[wasm_bindgen(setter)]
    pub fn set_onmessage(&self, handler: Option<js_sys::Function>) {
        self.handlers.borrow_mut()[ON_MESSAGE] = handler;
    }

    /// Sends now, or queues; returns what happened.
    #[wasm_bindgen(unchecked_return_type = "string")]
    pub fn send(&self, data: SocketData) -> Result<JsValue, JsValue> {
        let data: JsValue = data.into();
        // A Blob is queued as it is, in order; the browser reads it when it is sent.
        if let Some(blob) = as_blob(&data) {
            return Ok(outcome_name(self.socket.send_blob(blob)));
        }
        let message = data_to_message(data)?;
        Ok(outcome_name(self.socket.send(message)))
    }

    /// `"connecting"`, `"open"`, `"reconnecting"`, `"closed"` or `"gave-up"`.
    #[wasm_bindgen(getter, unchecked_return_type = "string")]
    pub fn state(&self) -> JsValue {
        state_name(self.socket.state())
    }

    /// Messages waiting in the offline queue.
    #[wasm_bindgen(getter)]
    pub fn queued(&self) -> usize {
        self.socket.queued()
    }

    /// The subprotocol the server selected on the current connection ("" when none).
    #[wasm_bindgen(getter, unchecked_return_type = "string")]
    pub fn protocol(&self) -> JsValue {
        self.socket.protocol().into()
    }

    /// The current socket's `bufferedAmount`.
    #[wasm_bindgen(getter = bufferedAmount)]
    pub fn buffered_amount(&self) -> u32 {
        self.socket.buffered_amount()
    }

    /// Resolves when the queue is empty and the browser has sent everything; rejects with
    /// an `Error` named `ClosedError` or `GaveUpError` (its message says how many messages
    /// were never sent) when the socket is closed for good or gives up first.
    pub fn flushed(&self) -> js_sys::Promise {
        let flushed = self.socket.flushed();
        let (promise, settle) = deferred();
        crate::spawn(Box::pin(async move {
            let outcome = match flushed.await {
                Ok(()) => JsValue::UNDEFINED,
                Err(err @ ResilientError::GaveUp { .. }) => js_error("GaveUpError", &err),
                Err(err) => js_error("ClosedError", &err),
            };
            let _ = settle.call1(&JsValue::NULL, &outcome);
        }));
        promise
    }

    /// Starts over now: closes the current connection (with `code` and `reason` when given,
    /// 1000 when only a reason is, else 1000 "reconnect"), resets the attempt count and
    /// connects at once; after a close, a give-up or an `authfailed` (the `token` function
    /// is asked anew), comes back to life. Throws as `close` does for a bad code or reason,
    /// and then changes nothing.
    pub fn reconnect(&self, code: Option<f64>, reason: Option<String>) -> Result<(), JsValue> {
        close_call(
            code,
            reason,
            &|| {
                self.socket.reconnect();
                Ok(())
            },
            &|code, reason| self.socket.reconnect_with(code, reason),
        )
    }

    /// Reconnects now if waiting between attempts.
    #[wasm_bindgen(js_name = retryNow)]
    pub fn retry_now(&self) {
        self.socket.retry_now();
    }

    /// Closes for good; no reconnect. Sends `code` and `reason` when given (1000 when only
    /// a reason is), else 1000; throws `InvalidCloseCodeError` or `InvalidCloseReasonError`
    /// for values the browser would reject, and then changes nothing.
    pub fn close(&self, code: Option<f64>, reason: Option<String>) -> Result<(), JsValue> {
        close_call(
            code,
            reason,
            &|| {
                self.socket.close();
                Ok(())
            },
            &|code, reason| self.socket.close_with(code, reason),
        )
    }
}
