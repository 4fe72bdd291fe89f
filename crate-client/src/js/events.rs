//! The plain objects the Rust cores hand to their `onevent` callbacks (which the JavaScript
//! classes in crate-client/js/resilient.js turn into DOM events), built
//! directly as JS objects: going through `serde_json::json!`, `to_string` and `JSON.parse`
//! cost the library tens of KiB of serde code and float formatting.
//!
//! The objects have exactly the fields (and `null`s) the JSON route produced, so a page
//! sees no difference.

#[cfg(feature = "js-chat")]
use ferrosocket_wire::chat::{HistoryEntry, PresenceChange};
use wasm_bindgen::JsValue;

use crate::message::CloseEvent;
use crate::resilient::ResilientEvent;
#[cfg(feature = "js-chat")]
use crate::session::ChatEvent;

/// A JS object under construction, one field at a time.
pub(crate) struct Obj(js_sys::Object);

impl Obj {
    /// An empty object.
    pub(crate) fn new() -> Obj {
        Obj(js_sys::Object::new())
    }

    /// An object whose `type` is `kind`.
    fn typed(kind: &str) -> Obj {
        Obj::new().set("type", kind)
    }

    /// Sets `key` to `value`.
    pub(crate) fn set(self, key: &str, value: impl Into<JsValue>) -> Obj {
        // Setting a data property on a fresh plain object cannot fail.
        let _ = js_sys::Reflect::set(&self.0, &JsValue::from_str(key), &value.into());
        self
    }

    /// Sets `key` to the number `n` (a JS number, as `JSON.parse` would give).
    fn num(self, key: &str, n: u64) -> Obj {
        self.set(key, n as f64)
    }

    /// Sets `key` to `value`, or to `null` when there is none.
    #[cfg(feature = "js-chat")]
    fn opt(self, key: &str, value: &Option<String>) -> Obj {
        match value {
            Some(value) => self.set(key, value.as_str()),
            None => self.set(key, JsValue::NULL),
        }
    }

    /// The finished object.
    pub(crate) fn build(self) -> JsValue {
        self.0.into()
    }
}

/// A list of strings as a JS array.
#[cfg(feature = "js-chat")]
fn strings(items: &[String]) -> JsValue {
    items
        .iter()
        .map(|item| JsValue::from_str(item))
        .collect::<js_sys::Array>()
        .into()
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

#[cfg(feature = "js-chat")]
fn entry(entry: &HistoryEntry) -> JsValue {
    Obj::new()
        .num("seq", entry.seq)
        .set("from", entry.from.as_str())
        .set("text", entry.text.as_str())
        .num("ts", entry.ts)
        .build()
}

#[cfg(feature = "js-chat")]
fn change_name(change: PresenceChange) -> &'static str {
    match change {
        PresenceChange::Join => "join",
        PresenceChange::Leave => "leave",
        PresenceChange::Rename => "rename",
    }
}

/// A chat event as a plain object with a `type`; `None` for socket messages.
#[cfg(feature = "js-chat")]
pub(crate) fn chat_event(event: &ChatEvent) -> Option<JsValue> {
    Some(
        match event {
            ChatEvent::Connection(event) => return connection_event(event),
            ChatEvent::Welcome { nick } => Obj::typed("welcome").set("nick", nick.as_str()),
            ChatEvent::Nick { nick } => Obj::typed("nick").set("nick", nick.as_str()),
            ChatEvent::Joined {
                room,
                members,
                history,
            } => Obj::typed("joined")
                .set("room", room.as_str())
                .set("members", strings(members))
                .set(
                    "history",
                    history.iter().map(entry).collect::<js_sys::Array>(),
                ),
            ChatEvent::Left { room } => Obj::typed("left").set("room", room.as_str()),
            ChatEvent::Presence {
                room,
                change,
                nick,
                old_nick,
            } => Obj::typed("presence")
                .set("room", room.as_str())
                .set("change", change_name(*change))
                .set("nick", nick.as_str())
                .opt("oldNick", old_nick),
            ChatEvent::Message { room, entry } => Obj::typed("message")
                .set("room", room.as_str())
                .num("seq", entry.seq)
                .set("from", entry.from.as_str())
                .set("text", entry.text.as_str())
                .num("ts", entry.ts),
            ChatEvent::Sent { id, room, seq } => Obj::typed("sent")
                .set("id", id.as_str())
                .set("room", room.as_str())
                .num("seq", *seq),
            ChatEvent::Failed { id, room, reason } => Obj::typed("failed")
                .set("id", id.as_str())
                .set("room", room.as_str())
                .set("reason", reason.as_str()),
            ChatEvent::Rooms(rooms) => Obj::typed("rooms").set(
                "rooms",
                rooms
                    .iter()
                    .map(|room| {
                        Obj::new()
                            .set("name", room.name.as_str())
                            .num("members", room.members as u64)
                            .build()
                    })
                    .collect::<js_sys::Array>(),
            ),
            ChatEvent::Event {
                room,
                event,
                from,
                data,
            } => Obj::typed("event")
                .set("room", room.as_str())
                .set("event", event.as_str())
                .set("from", from.as_str())
                // The core hands over valid JSON text; the browser's parser reads it.
                .set("data", js_sys::JSON::parse(data).unwrap_or(JsValue::NULL)),
            ChatEvent::TokenExpiring { exp } => Obj::typed("tokenexpiring").num("exp", *exp),
            ChatEvent::Refreshed { exp } => Obj::typed("refreshed").num("exp", *exp),
            ChatEvent::Error {
                code,
                message,
                reference,
            } => Obj::typed("error")
                .set("code", code.as_str())
                .set("message", message.as_str())
                .opt("ref", reference),
        }
        .build(),
    )
}
