//! The chat page (`www/index.html`): view and controller in Rust, on top of
//! [`ChatSession`]. The page's HTML holds the static, labelled structure; this module binds
//! to it by id, renders rooms, members and messages, and reacts to the user and the session.
//!
//! Every user-supplied string reaches the DOM through `textContent`, never as HTML. The
//! message list keeps at most [`MAX_LINES`] entries per room, and scrolls to new messages
//! only when the reader is already at the bottom.

pub mod bench;
mod bind;
mod dom;
mod lines;
mod sign_in;
mod typing;
mod view;

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::rc::{Rc, Weak};

use gloo_events::{EventListener, EventListenerOptions};
use gloo_timers::callback::{Interval, Timeout};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{Element, HtmlButtonElement, HtmlElement, HtmlInputElement, HtmlTextAreaElement};

use crate::resilient::{ResilientEvent, ResilientOptions, SendOutcome, TokenProvider};
use crate::session::{ChatEvent, ChatOptions, ChatSession};
use crate::socket::WebSocket;
use bind::*;
use dom::{append, by_id, clear, document, element};
use ferrosocket_wire::chat::{HistoryEntry, PresenceChange, RoomInfo, LOBBY};
use lines::{render_line, Delivery, Line, Own};
use typing::{Typists, TYPING_EVENT, TYPING_IDLE_MS, TYPING_REFRESH_MS};
use view::{Elements, RoomView, View};

/// Lines (messages and notices) kept per room, in memory and in the DOM.
pub const MAX_LINES: usize = 300;
/// How often the room directory is refreshed while the page is visible.
const DIRECTORY_REFRESH_MS: u32 = 30_000;
const NICK_KEY: &str = "ferrosocket.nick";
const TITLE: &str = "ferrosocket chat";

/// This page's own typing state, as last told to the room.
#[derive(Default)]
struct Typing {
    /// The room told `active: true`, and when.
    active: Option<(String, f64)>,
    /// Says `active: false` after an idle while.
    idle: Option<Timeout>,
}

struct App {
    session: ChatSession,
    view: RefCell<View>,
    typing: RefCell<Typing>,
    /// Set while `session.send` runs: a `Failed` event then belongs to the line being added.
    in_send: Cell<bool>,
    listeners: RefCell<Vec<EventListener>>,
    timers: RefCell<Vec<Interval>>,
}

/// The running chat page; dropping it disconnects and removes every listener.
#[wasm_bindgen]
pub struct ChatApp {
    app: Rc<App>,
}

impl std::fmt::Debug for ChatApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatApp")
            .field("session", &self.app.session)
            .finish()
    }
}

/// Starts the chat page against the chat endpoint `url` (e.g. `"/chat"`). Returns
/// `undefined` after showing the page's `#unsupported` notice when the browser has no
/// WebSocket.
/// (`startChatPage` signs in first when the server wants a token.)
#[wasm_bindgen(js_name = startChat)]
pub fn start_chat(url: &str) -> Result<Option<ChatApp>, JsValue> {
    start_chat_as(url, None)
}

/// Starts the chat page, presenting `token` (checked already, or fetched anew for every
/// attempt and refresh) on `/chat`: the nickname is then the token's, and no stored
/// nickname is asked for.
fn start_chat_as(url: &str, token: Option<TokenProvider>) -> Result<Option<ChatApp>, JsValue> {
    if !WebSocket::is_supported() {
        by_id::<HtmlElement>("unsupported").set_hidden(false);
        by_id::<HtmlElement>("app").set_hidden(true);
        return Ok(None);
    }
    let stored_nick = match token {
        Some(_) => None,
        None => storage().and_then(|s| s.get_item(NICK_KEY).ok().flatten()),
    };
    let session = ChatSession::connect(
        url,
        ChatOptions {
            nick: stored_nick.clone(),
            connection: ResilientOptions {
                token,
                ..ResilientOptions::default()
            },
            ..ChatOptions::default()
        },
    )
    .map_err(|err| JsValue::from(js_sys::Error::new(&err.to_string())))?;
    let els = Elements {
        state: by_id("connection-state"),
        retry: by_id("retry"),
        drawer_toggle: by_id("drawer-toggle"),
        sidebar: by_id("sidebar"),
        rooms: by_id("rooms"),
        directory: by_id("directory"),
        members: by_id("members"),
        messages: by_id("messages"),
        room_title: by_id("room-title"),
        announcer: by_id("announcer"),
        typing: by_id("typing"),
        nick: by_id("nick"),
        room_name: by_id("room-name"),
        input: by_id("message-input"),
    };
    if let Some(nick) = &stored_nick {
        els.nick.set_value(nick);
    }
    let mut rooms = BTreeMap::new();
    rooms.insert(LOBBY.to_owned(), RoomView::default());
    let app = Rc::new(App {
        session,
        view: RefCell::new(View {
            els,
            nick: String::new(),
            current: LOBBY.to_owned(),
            rooms,
            directory: Vec::new(),
            joining: None,
            hidden_unread: 0,
            countdown: None,
            typists: Typists::default(),
            failed_in_send: None,
        }),
        typing: RefCell::new(Typing::default()),
        in_send: Cell::new(false),
        listeners: RefCell::new(Vec::new()),
        timers: RefCell::new(Vec::new()),
    });
    let weak = Rc::downgrade(&app);
    app.session.set_on_event(move |event| {
        if let Some(app) = weak.upgrade() {
            app.on_event(event);
        }
    });
    bind(&app);
    start_timers(&app);
    {
        let view = app.view.borrow();
        view.set_state("connecting", "Connecting…", false);
        view.render_rooms();
        view.render_current();
    }
    Ok(Some(ChatApp { app }))
}

#[wasm_bindgen]
impl ChatApp {
    /// Disconnects for good.
    pub fn close(&self) {
        self.app.session.close();
    }
}

impl App {
    fn send_input(&self) {
        let (room, text) = {
            let view = self.view.borrow();
            (view.current.clone(), view.els.input.value())
        };
        if text.trim().is_empty() {
            return;
        }
        self.stop_typing();
        self.view.borrow().els.input.set_value("");
        self.send_line(&room, text);
    }

    /// Sends `text` to `room` and shows it as this page's line, sending or failed.
    fn send_line(&self, room: &str, text: String) {
        self.in_send.set(true);
        let (id, outcome) = self.session.send(room, &text);
        self.in_send.set(false);
        let mut view = self.view.borrow_mut();
        let delivery = if outcome == SendOutcome::Rejected {
            // Its `Failed` event came during `send`, before the line was on screen.
            let reason = match view.failed_in_send.take() {
                Some((failed, reason)) if failed == id => reason,
                _ => "refused by this page".to_owned(),
            };
            view.announce(&format!("A message was not delivered: {reason}"));
            Delivery::Failed(reason)
        } else {
            Delivery::Sending
        };
        let nick = self.session.nick();
        view.add_line(
            room,
            Line::Message {
                from: nick,
                text,
                ts: js_sys::Date::now() as u64,
                own: Some(Own { id, delivery }),
            },
        );
    }

    /// Sends a failed line's text again, as a new line at the end of its room.
    fn retry(&self, id: &str) {
        let Some((room, text)) = self.view.borrow_mut().take_failed(id) else {
            return;
        };
        self.send_line(&room, text);
        let _ = self.view.borrow().els.input.focus();
    }

    /// Shows `room`, joining it first if needed.
    fn open_room(&self, room: &str) {
        if self.view.borrow().rooms.contains_key(room) {
            self.stop_typing();
            self.view.borrow_mut().switch_to(room);
        } else {
            self.view.borrow_mut().joining = Some(room.to_owned());
            self.session.join(room);
        }
    }

    /// The user typed in the message box: tell the room, at most once per
    /// [`TYPING_REFRESH_MS`], and plan to say "stopped" after an idle while.
    fn typed(self: &Rc<Self>) {
        let (room, empty) = {
            let view = self.view.borrow();
            (
                view.current.clone(),
                view.els.input.value().trim().is_empty(),
            )
        };
        if empty {
            self.stop_typing();
            return;
        }
        let now = js_sys::Date::now();
        let due = match &self.typing.borrow().active {
            Some((told, at)) => *told != room || now - at >= TYPING_REFRESH_MS,
            None => true,
        };
        if due {
            let _ = self.session.emit(&room, TYPING_EVENT, "{\"active\":true}");
            self.typing.borrow_mut().active = Some((room, now));
        }
        let weak = Rc::downgrade(self);
        self.typing.borrow_mut().idle = Some(Timeout::new(TYPING_IDLE_MS, move || {
            if let Some(app) = weak.upgrade() {
                app.stop_typing();
            }
        }));
    }

    /// Tells the room this page stopped typing, if it had said it was.
    fn stop_typing(&self) {
        let told = {
            let mut typing = self.typing.borrow_mut();
            typing.idle = None;
            typing.active.take()
        };
        if let Some((room, _)) = told {
            let _ = self.session.emit(&room, TYPING_EVENT, "{\"active\":false}");
        }
    }

    fn on_event(&self, event: ChatEvent) {
        let mut view = self.view.borrow_mut();
        match event {
            ChatEvent::Connection(event) => view.on_connection(event),
            ChatEvent::Welcome { nick } => {
                // The generated name, until the stored one (if any) is confirmed.
                if view.els.nick.value().is_empty() {
                    view.els.nick.set_value(&nick);
                }
                view.nick = nick;
                drop(view);
                self.session.list_rooms();
            }
            ChatEvent::Nick { nick } => {
                // Confirmed by the server: keep it for the next visit.
                if let Some(storage) = storage() {
                    let _ = storage.set_item(NICK_KEY, &nick);
                }
                view.els.nick.set_value(&nick);
                // Others are told by a presence notice; this page renames itself.
                let old = std::mem::replace(&mut view.nick, nick.clone());
                for room in view.rooms.values_mut() {
                    if room.members.remove(&old) {
                        room.members.insert(nick.clone());
                    }
                }
                view.render_members();
            }
            ChatEvent::Joined {
                room,
                members,
                history,
            } => {
                let entry = view.rooms.entry(room.clone()).or_default();
                entry.members = members.into_iter().collect();
                for HistoryEntry { from, text, ts, .. } in history {
                    entry.push(Line::Message {
                        from,
                        text,
                        ts,
                        own: None,
                    });
                }
                if view.joining.as_deref() == Some(room.as_str()) {
                    view.joining = None;
                    view.switch_to(&room);
                } else {
                    view.render_rooms();
                    if view.current == room {
                        view.render_current();
                    }
                }
                drop(view);
                self.session.list_rooms();
            }
            ChatEvent::Left { room } => {
                view.rooms.remove(&room);
                if view.current == room {
                    let next = view
                        .rooms
                        .keys()
                        .next()
                        .cloned()
                        .unwrap_or_else(|| LOBBY.to_owned());
                    view.rooms.entry(next.clone()).or_default();
                    view.switch_to(&next);
                } else {
                    view.render_rooms();
                }
                drop(view);
                self.session.list_rooms();
            }
            ChatEvent::Presence {
                room,
                change,
                nick,
                old_nick,
            } => {
                let Some(entry) = view.rooms.get_mut(&room) else {
                    return;
                };
                let notice = match change {
                    PresenceChange::Join => {
                        entry.members.insert(nick.clone());
                        format!("{nick} joined")
                    }
                    PresenceChange::Leave => {
                        entry.members.remove(&nick);
                        format!("{nick} left")
                    }
                    PresenceChange::Rename => {
                        let old = old_nick.unwrap_or_default();
                        entry.members.remove(&old);
                        entry.members.insert(nick.clone());
                        format!("{old} is now {nick}")
                    }
                };
                if change != PresenceChange::Join && view.typists.remove(&room, &nick) {
                    view.render_typing();
                }
                view.notice(&room, &notice);
                if view.current == room {
                    view.render_members();
                }
            }
            ChatEvent::Message { room, entry } => {
                let HistoryEntry { from, text, ts, .. } = entry;
                let announcement = format!("{from}: {text}");
                if view.typists.remove(&room, &from) {
                    view.render_typing();
                }
                view.add_line(
                    &room,
                    Line::Message {
                        from,
                        text,
                        ts,
                        own: None,
                    },
                );
                if view.current == room {
                    view.announce(&announcement);
                } else if let Some(entry) = view.rooms.get_mut(&room) {
                    entry.unread += 1;
                    view.render_rooms();
                }
                if document().hidden() {
                    view.hidden_unread += 1;
                    view.update_title();
                }
            }
            ChatEvent::Sent { id, room, .. } => {
                view.set_delivery(&room, &id, Delivery::Sent);
            }
            ChatEvent::Failed { id, room, reason } => {
                if view.set_delivery(&room, &id, Delivery::Failed(reason.clone())) {
                    view.announce(&format!("A message was not delivered: {reason}"));
                } else if self.in_send.get() {
                    view.failed_in_send = Some((id, reason));
                } else {
                    // Its room was left: said in the room in view.
                    let current = view.current.clone();
                    view.notice(
                        &current,
                        &format!("⚠ A message to {room} was not delivered: {reason}"),
                    );
                }
            }
            // The message stays "sending" and is retried: no notice per retry.
            ChatEvent::Error {
                code: crate::chat::ErrorCode::Unavailable | crate::chat::ErrorCode::RateLimited,
                ..
            } => {}
            // A line refused for good: its `Failed` event says so.
            ChatEvent::Error {
                reference: Some(reference),
                ..
            } if view.is_sending(&reference) => {}
            ChatEvent::Error { message, .. } => {
                view.joining = None;
                let current = view.current.clone();
                view.notice(&current, &format!("⚠ {message}"));
            }
            ChatEvent::Rooms(rooms) => {
                view.directory = rooms;
                view.render_directory();
            }
            ChatEvent::Event {
                room,
                event,
                from,
                data,
            } => {
                if event != TYPING_EVENT || from == view.nick {
                    return;
                }
                // `{"active": bool}`, read with the browser's parser.
                let active = js_sys::JSON::parse(&data)
                    .ok()
                    .filter(|data| data.is_object())
                    .and_then(|data| js_sys::Reflect::get(&data, &"active".into()).ok())
                    .and_then(|active| active.as_bool())
                    .unwrap_or(false);
                view.typists.set(&room, &from, active, js_sys::Date::now());
                if view.current == room {
                    view.render_typing();
                }
            }
            // The session refreshes its token itself when it has a provider.
            ChatEvent::TokenExpiring { .. } | ChatEvent::Refreshed { .. } => {}
        }
    }
}
