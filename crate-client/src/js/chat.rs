//! `ChatClient`: [`ChatSession`] for JavaScript.

use std::cell::RefCell;
use std::rc::Rc;

use ferrosocket_wire::chat::HistoryEntry;
use wasm_bindgen::prelude::*;

use super::convert::*;
use super::events::*;
use super::resilient::*;
use crate::resilient::{ConnectionState, ResilientEvent};
use crate::session::{ChatEvent, ChatOptions, ChatSession};

/// A chat client speaking `chat.v1`, with exactly-once delivery across reconnects: the Rust
/// core of the `ChatClient` JavaScript class (crate-client/js/resilient.js), which turns
/// what this hands to `onevent` into DOM events.
///
/// # Examples
/// ```js
/// const chat = new ChatClient("/chat", { nick: "ada" });
/// chat.addEventListener("message", (event) => console.log(event.room, event.from, event.text));
/// chat.join("rust");
/// const { id, outcome } = chat.send("rust", "hello");   // later: a "sent" event {id, seq}
/// ```
#[wasm_bindgen(js_name = ChatClientCore)]
#[derive(Debug)]
pub struct ChatClient {
    session: ChatSession,
    handler: Rc<RefCell<Option<js_sys::Function>>>,
    hold: Hold,
}

// Not a wasm-bindgen constructor: JavaScript makes the core through the `ChatClient`
// class (`core_maker` in js/resilient.rs), and an exported constructor would be a second,
// unused way in (with its own shim in the module).
impl ChatClient {
    /// Connects to the chat endpoint `url` (e.g. `"/chat"`); `options` as for
    /// `ReconnectingSocket`, plus `nick`.
    pub(super) fn new(url: &str, options: &CoreOptions) -> Result<ChatClient, JsValue> {
        // The heartbeat's default ping, `{"type":"ping"}`, is the chat's own ping.
        let options = ChatOptions {
            connection: parse_options(options),
            nick: options.string(Value::Nick),
            line_deadline: options.millis(Slot::LineDeadline),
            max_pending: options.count(Slot::MaxPending, crate::session::core::DEFAULT_MAX_PENDING),
            // `refreshToken: false`: let the token expire and reconnect with a fresh one.
            refresh_token: options.flag(Slot::RefreshToken) != Some(false),
        };
        let session = ChatSession::connect(url, options)
            .map_err(|err| js_error(open_error_name(&err), &err))?;
        let handler: Rc<RefCell<Option<js_sys::Function>>> = Rc::default();
        let slot = Rc::clone(&handler);
        let hold = Hold::default();
        let held = hold.clone();
        session.set_on_event(move |event| {
            let handler = slot.borrow().clone();
            if let Some(object) = chat_event(&event) {
                call(&handler, &object);
            }
            if matches!(
                event,
                ChatEvent::Connection(ResilientEvent::Closed(_) | ResilientEvent::GaveUp)
            ) {
                held.release();
            }
        });
        Ok(ChatClient {
            session,
            handler,
            hold,
        })
    }
}

#[wasm_bindgen(js_class = ChatClientCore)]
impl ChatClient {
    /// Keeps `wrapper` (this object's JavaScript side) alive until the connection is
    /// closed for good or gives up; called by the `ChatClient` constructor
    /// (crate-client/js/resilient.js).
    #[wasm_bindgen(js_name = __holdUntilClosed, skip_typescript)]
    pub fn hold_until_closed(&self, wrapper: JsValue) {
        if !matches!(
            self.session.connection().state(),
            ConnectionState::Closed | ConnectionState::GaveUp
        ) {
            self.hold.keep(wrapper);
        }
    }

    /// Called with every event as a `{type, ...}` object: the connection events of
    /// `ReconnectingSocket`, and `welcome`, `nick`, `joined`, `left`, `presence`, `message`,
    /// `sent`, `failed {id, room, reason}`, `rooms`, `event`, `error` (fields as in
    /// docs/PROTOCOL.md). Every line sent ends with one `sent` or one `failed`.
    #[wasm_bindgen(setter)]
    pub fn set_onevent(&self, handler: Option<js_sys::Function>) {
        *self.handler.borrow_mut() = handler;
    }

    /// One of the requests that take a string, or none, and return what happened
    /// (`"sent"`...): `join(room)` (0; the room is kept joined across reconnects),
    /// `leave(room)` (1), `setNick(nick)` (2; asked for now and on every later connection)
    /// or `listRooms()` (3, `argument` unused; a `rooms` event follows). One export for the
    /// four: the `ChatClient` class (crate-client/js/resilient.js) names them.
    #[wasm_bindgen(unchecked_return_type = "string")]
    pub fn request(&self, kind: u8, argument: &str) -> JsValue {
        outcome_name(match kind {
            0 => self.session.join(argument),
            1 => self.session.leave(argument),
            2 => self.session.set_nick(argument),
            _ => self.session.list_rooms(),
        })
    }

    /// Sends `text` to `room`; returns `{id, outcome}`. A `sent` event with the same `id`
    /// confirms it, a `failed` event says it will not be delivered; lines are delivered at
    /// most once each and in the order of the calls, even across reconnects.
    pub fn send(&self, room: &str, text: &str) -> JsValue {
        let (id, outcome) = self.session.send(room, text);
        Obj::new()
            .set("id", id)
            .set("outcome", outcome_name(outcome))
            .build()
    }

    /// Sends the application event `event` with `data`, JSON text (the `ChatClient` class
    /// writes it with `JSON.stringify`, and throws for data it cannot write), to `room`.
    /// Throws a `TypeError`, and sends nothing, for text the server would refuse (a string
    /// with a lone surrogate, arrays or objects nested over 125 deep).
    #[wasm_bindgen(unchecked_return_type = "string")]
    pub fn emit(&self, room: &str, event: &str, data: &str) -> Result<JsValue, JsValue> {
        self.session
            .emit(room, event, data)
            .map(outcome_name)
            .map_err(|err| js_sys::TypeError::new(&err.to_string()).into())
    }

    /// The connection's state (as `ReconnectingSocket.state`).
    #[wasm_bindgen(getter, unchecked_return_type = "string")]
    pub fn state(&self) -> JsValue {
        state_name(self.session.state())
    }

    /// The nickname in force.
    #[wasm_bindgen(getter, unchecked_return_type = "string")]
    pub fn nick(&self) -> JsValue {
        self.session.nick().into()
    }

    /// Lines sent but neither acknowledged (`sent`) nor failed (`failed`) yet.
    #[wasm_bindgen(getter)]
    pub fn unacknowledged(&self) -> usize {
        self.session.unacknowledged()
    }

    /// Reconnects now if waiting between attempts.
    #[wasm_bindgen(js_name = retryNow)]
    pub fn retry_now(&self) {
        self.session.connection().retry_now();
    }

    /// Starts over now, as `ReconnectingSocket.reconnect()`: after an `authfailed` (say,
    /// once the user has signed in again: the `token` function is asked anew), a `giveup`
    /// or while connected.
    pub fn reconnect(&self) {
        self.session.connection().reconnect();
    }

    /// Closes for good: every line not yet acknowledged gets a `failed` event.
    pub fn close(&self) {
        self.session.close();
    }
}

// ---- the chat's events as plain objects, built as js/events.rs builds the connection's ----

impl Obj {
    /// Sets `key` to `value`, or to `null` when there is none.
    fn opt(self, key: &str, value: &Option<String>) -> Obj {
        match value {
            Some(value) => self.set(key, value.as_str()),
            None => self.set(key, JsValue::NULL),
        }
    }
}

/// A list of strings as a JS array.
fn strings(items: &[String]) -> JsValue {
    items
        .iter()
        .map(|item| JsValue::from_str(item))
        .collect::<js_sys::Array>()
        .into()
}

impl Obj {
    /// Sets the fields of a history entry or live line: `seq`, `from`, `text`, `ts`.
    fn line(self, entry: &HistoryEntry) -> Obj {
        self.num("seq", entry.seq)
            .set("from", entry.from.as_str())
            .set("text", entry.text.as_str())
            .num("ts", entry.ts)
    }
}

fn entry(entry: &HistoryEntry) -> JsValue {
    Obj::new().line(entry).build()
}

/// A chat event as a plain object with a `type`; `None` for socket messages.
fn chat_event(event: &ChatEvent) -> Option<JsValue> {
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
                .set("change", change.as_str())
                .set("nick", nick.as_str())
                .opt("oldNick", old_nick),
            ChatEvent::Message { room, entry } => {
                Obj::typed("message").set("room", room.as_str()).line(entry)
            }
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
