//! The plain objects the Rust cores hand to their `onevent` callbacks (which the JavaScript
//! classes in crate-client/js/resilient.js turn into DOM events), built
//! directly as JS objects: going through `serde_json::json!`, `to_string` and `JSON.parse`
//! cost the library tens of KiB of serde code and float formatting.
//!
//! The objects have exactly the fields (and `null`s) the JSON route produced, so a page
//! sees no difference. The chat's own events are built the same way in `js/chat.rs`
//! (feature `js-chat`).

use wasm_bindgen::JsValue;

use crate::message::CloseEvent;
use crate::resilient::ResilientEvent;

/// A JS object under construction, one field at a time.
pub(crate) struct Obj(js_sys::Object);

impl Obj {
    /// An empty object.
    pub(crate) fn new() -> Obj {
        Obj(js_sys::Object::new())
    }

    /// An object whose `type` is `kind`.
    pub(super) fn typed(kind: &str) -> Obj {
        Obj::new().set("type", kind)
    }

    /// Sets `key` to `value`.
    pub(crate) fn set(self, key: &str, value: impl Into<JsValue>) -> Obj {
        // Setting a data property on a fresh plain object cannot fail.
        let _ = js_sys::Reflect::set(&self.0, &JsValue::from_str(key), &value.into());
        self
    }

    /// Sets `key` to the number `n` (a JS number, as `JSON.parse` would give).
    pub(super) fn num(self, key: &str, n: u64) -> Obj {
        self.set(key, n as f64)
    }

    /// The finished object.
    pub(crate) fn build(self) -> JsValue {
        self.0.into()
    }
}

/// `{code, reason, wasClean}` of a close.
pub(crate) fn close_object(close: &CloseEvent) -> JsValue {
    Obj::new()
        .set("code", close.code)
        .set("reason", close.reason.as_str())
        .set("wasClean", close.was_clean)
        .build()
}

/// A connection event as a plain object with a `type`; `None` for messages.
pub(crate) fn connection_event(event: &ResilientEvent) -> Option<JsValue> {
    Some(
        match event {
            ResilientEvent::Open => Obj::typed("open"),
            ResilientEvent::Reconnected { attempts } => {
                Obj::typed("reconnected").num("attempts", u64::from(*attempts))
            }
            ResilientEvent::Disconnected(close) => {
                Obj::typed("disconnect").set("close", close_object(close))
            }
            ResilientEvent::Reconnecting { attempt, delay } => Obj::typed("reconnecting")
                .num("attempt", u64::from(*attempt))
                .num("delay", delay.as_millis() as u64),
            ResilientEvent::GaveUp => Obj::typed("giveup"),
            ResilientEvent::AuthFailed { reason } => {
                Obj::typed("authfailed").set("reason", reason.as_str())
            }
            ResilientEvent::Closed(close) => Obj::typed("close").set("close", close_object(close)),
            ResilientEvent::Message(_) => return None,
        }
        .build(),
    )
}
