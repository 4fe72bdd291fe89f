//! The chat page (`www/index.html`): view and controller in Rust, on top of
//! [`ChatSession`]. The page's HTML holds the static, labelled structure; this module binds
//! to it by id, renders rooms, members and messages, and reacts to the user and the session.
//!
//! Every user-supplied string reaches the DOM through `textContent`, never as HTML. The
//! message list keeps at most [`MAX_LINES`] entries per room, and scrolls to new messages
//! only when the reader is already at the bottom.

pub mod bench;
mod dom;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::rc::{Rc, Weak};

use gloo_events::{EventListener, EventListenerOptions};
use gloo_timers::callback::Interval;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{Element, HtmlButtonElement, HtmlElement, HtmlInputElement, HtmlTextAreaElement};

use crate::resilient::{ResilientEvent, SendOutcome};
use crate::session::{ChatEvent, ChatOptions, ChatSession};
use crate::socket::WebSocket;
use dom::{append, by_id, clear, document, element};
use ferrosocket_wire::chat::{HistoryEntry, PresenceChange, LOBBY};

/// Lines (messages and notices) kept per room, in memory and in the DOM.
pub const MAX_LINES: usize = 300;
const NICK_KEY: &str = "ferrosocket.nick";
const TITLE: &str = "ferrosocket chat";

#[derive(Debug, Clone)]
enum Line {
    Message {
        from: String,
        text: String,
        ts: u64,
        /// This session's message, with its key while the server has not confirmed it.
        own_pending: Option<String>,
    },
    Notice(String),
}

#[derive(Debug, Default)]
struct RoomView {
    lines: VecDeque<Line>,
    members: BTreeSet<String>,
    unread: u32,
}

impl RoomView {
    fn push(&mut self, line: Line) {
        if self.lines.len() == MAX_LINES {
            self.lines.pop_front();
        }
        self.lines.push_back(line);
    }
}

struct Elements {
    state: HtmlElement,
    retry: HtmlButtonElement,
    rooms: Element,
    members: Element,
    messages: HtmlElement,
    room_title: Element,
    announcer: Element,
    nick: HtmlInputElement,
    room_name: HtmlInputElement,
    input: HtmlTextAreaElement,
}

struct View {
    els: Elements,
    /// This page's nickname, as the server knows it.
    nick: String,
    current: String,
    rooms: BTreeMap<String, RoomView>,
    /// A room the user asked to join: shown once the server confirms.
    joining: Option<String>,
    /// Messages that arrived while the tab was hidden.
    hidden_unread: u32,
    countdown: Option<Interval>,
}

struct App {
    session: ChatSession,
    view: RefCell<View>,
    listeners: RefCell<Vec<EventListener>>,
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
#[wasm_bindgen(js_name = startChat)]
pub fn start_chat(url: &str) -> Result<Option<ChatApp>, JsValue> {
    if !WebSocket::is_supported() {
        by_id::<HtmlElement>("unsupported").set_hidden(false);
        by_id::<HtmlElement>("app").set_hidden(true);
        return Ok(None);
    }
    let stored_nick = storage().and_then(|s| s.get_item(NICK_KEY).ok().flatten());
    let session = ChatSession::connect(
        url,
        ChatOptions {
            nick: stored_nick.clone(),
            ..ChatOptions::default()
        },
    )
    .map_err(|err| JsValue::from(js_sys::Error::new(&err.to_string())))?;
    let els = Elements {
        state: by_id("connection-state"),
        retry: by_id("retry"),
        rooms: by_id("rooms"),
        members: by_id("members"),
        messages: by_id("messages"),
        room_title: by_id("room-title"),
        announcer: by_id("announcer"),
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
            joining: None,
            hidden_unread: 0,
            countdown: None,
        }),
        listeners: RefCell::new(Vec::new()),
    });
    let weak = Rc::downgrade(&app);
    app.session.set_on_event(move |event| {
        if let Some(app) = weak.upgrade() {
            app.on_event(event);
        }
    });
    bind(&app);
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

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

/// Adds a DOM listener that reaches the app through a weak reference.
fn listen(
    app: &Rc<App>,
    target: &web_sys::EventTarget,
    event: &'static str,
    mut handler: impl FnMut(&Rc<App>, &web_sys::Event) + 'static,
) {
    let weak: Weak<App> = Rc::downgrade(app);
    let listener = EventListener::new_with_options(
        target,
        event,
        EventListenerOptions::enable_prevent_default(),
        move |event| {
            if let Some(app) = weak.upgrade() {
                handler(&app, event);
            }
        },
    );
    app.listeners.borrow_mut().push(listener);
}

fn bind(app: &Rc<App>) {
    let page = document();
    let window = web_sys::window().expect("a window");
    listen(
        app,
        &by_id::<Element>("send-form"),
        "submit",
        |app, event| {
            event.prevent_default();
            app.send_input();
        },
    );
    listen(
        app,
        &by_id::<Element>("message-input"),
        "keydown",
        |app, event| {
            let key = event.unchecked_ref::<web_sys::KeyboardEvent>();
            // Enter sends; Shift+Enter is a new line; an IME composition is left alone.
            if key.key() == "Enter" && !key.shift_key() && !key.is_composing() {
                event.prevent_default();
                app.send_input();
            }
        },
    );
    listen(
        app,
        &by_id::<Element>("join-form"),
        "submit",
        |app, event| {
            event.prevent_default();
            let name = {
                let view = app.view.borrow();
                let name = view.els.room_name.value().trim().to_owned();
                view.els.room_name.set_value("");
                name
            };
            if name.is_empty() {
                return;
            }
            if app.view.borrow().rooms.contains_key(&name) {
                app.view.borrow_mut().switch_to(&name);
            } else {
                app.view.borrow_mut().joining = Some(name.clone());
                app.session.join(&name);
            }
        },
    );
    listen(
        app,
        &by_id::<Element>("nick-form"),
        "submit",
        |app, event| {
            event.prevent_default();
            let nick = app.view.borrow().els.nick.value().trim().to_owned();
            if !nick.is_empty() {
                app.session.set_nick(&nick);
            }
        },
    );
    listen(app, &by_id::<Element>("rooms"), "click", |app, event| {
        let Some(button) = event
            .target()
            .and_then(|t| t.dyn_into::<Element>().ok())
            .and_then(|t| t.closest("button").ok().flatten())
        else {
            return;
        };
        let Some(room) = button.get_attribute("data-room") else {
            return;
        };
        if button.get_attribute("data-action").as_deref() == Some("leave") {
            app.session.leave(&room);
        } else {
            app.view.borrow_mut().switch_to(&room);
        }
    });
    listen(app, &by_id::<Element>("retry"), "click", |app, _| {
        app.session.connection().retry_now();
    });
    listen(app, &page, "visibilitychange", |app, _| {
        if !document().hidden() {
            let mut view = app.view.borrow_mut();
            view.hidden_unread = 0;
            view.update_title();
        }
    });
    listen(app, &window, "offline", |app, _| {
        app.view
            .borrow()
            .set_state("offline", "Offline: waiting for the network", true);
    });
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
        let (id, outcome) = self.session.send(&room, &text);
        let mut view = self.view.borrow_mut();
        if outcome == SendOutcome::Rejected {
            // The `Failed` event has already put its reason on screen; the text stays in
            // the input so it can be sent again.
            return;
        }
        view.els.input.set_value("");
        let nick = self.session.nick();
        view.add_line(
            &room,
            Line::Message {
                from: nick,
                text,
                ts: js_sys::Date::now() as u64,
                own_pending: Some(id),
            },
        );
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
                        own_pending: None,
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
                view.notice(&room, &notice);
                if view.current == room {
                    view.render_members();
                }
            }
            ChatEvent::Message { room, entry } => {
                let HistoryEntry { from, text, ts, .. } = entry;
                let announcement = format!("{from}: {text}");
                view.add_line(
                    &room,
                    Line::Message {
                        from,
                        text,
                        ts,
                        own_pending: None,
                    },
                );
                if view.current == room {
                    view.els.announcer.set_text_content(Some(&announcement));
                } else if let Some(entry) = view.rooms.get_mut(&room) {
                    entry.unread += 1;
                    view.render_rooms();
                }
                if document().hidden() {
                    view.hidden_unread += 1;
                    view.update_title();
                }
            }
            ChatEvent::Sent { id, room, .. } => view.confirm(&room, &id),
            ChatEvent::Failed { id, room, reason } => {
                // No longer pending, and said so next to it.
                view.confirm(&room, &id);
                let room = if view.rooms.contains_key(&room) {
                    room
                } else {
                    view.current.clone()
                };
                view.notice(&room, &format!("⚠ A message was not delivered: {reason}"));
            }
            // The message stays dimmed (pending) and is retried: no notice per retry.
            ChatEvent::Error {
                code: crate::ErrorCode::Unavailable | crate::ErrorCode::RateLimited,
                ..
            } => {}
            // A line refused for good: its `Failed` event says so.
            ChatEvent::Error {
                reference: Some(reference),
                ..
            } if view.is_pending(&reference) => {}
            ChatEvent::Error { message, .. } => {
                view.joining = None;
                let current = view.current.clone();
                view.notice(&current, &format!("⚠ {message}"));
            }
            ChatEvent::Rooms(_) | ChatEvent::Event { .. } => {}
        }
    }
}

fn clock(ts: u64) -> (String, String) {
    let date = js_sys::Date::new(&JsValue::from_f64(ts as f64));
    let iso = date.to_iso_string().as_string().unwrap_or_default();
    (
        iso,
        format!("{:02}:{:02}", date.get_hours(), date.get_minutes()),
    )
}

impl View {
    fn set_state(&self, state: &str, text: &str, show_retry: bool) {
        self.els
            .state
            .set_attribute("data-state", state)
            .expect("setting an attribute");
        self.els.state.set_text_content(Some(text));
        self.els.retry.set_hidden(!show_retry);
    }

    fn on_connection(&mut self, event: ResilientEvent) {
        self.countdown = None;
        match event {
            ResilientEvent::Open => self.set_state("open", "Connected", false),
            ResilientEvent::Reconnected { .. } => {
                self.set_state("open", "Connected", false);
                let current = self.current.clone();
                self.notice(&current, "Reconnected.");
            }
            ResilientEvent::Disconnected(_) => {
                self.set_state("reconnecting", "Connection lost", true)
            }
            ResilientEvent::Reconnecting { attempt, delay } => {
                let deadline = js_sys::Date::now() + delay.as_secs_f64() * 1000.0;
                let state = self.els.state.clone();
                let show = move || {
                    let left = ((deadline - js_sys::Date::now()) / 1000.0).max(0.0);
                    state.set_text_content(Some(&format!(
                        "Reconnecting in {left:.0} s (attempt {attempt})"
                    )));
                };
                self.set_state("reconnecting", "", true);
                show();
                self.countdown = Some(Interval::new(250, show));
            }
            ResilientEvent::GaveUp => {
                self.set_state("offline", "Offline: gave up reconnecting", true)
            }
            ResilientEvent::Closed(_) => self.set_state("closed", "Closed", false),
            ResilientEvent::Message(_) => {}
        }
    }

    fn update_title(&self) {
        let title = if self.hidden_unread > 0 {
            format!("({}) {TITLE}", self.hidden_unread)
        } else {
            TITLE.to_owned()
        };
        document().set_title(&title);
    }

    fn switch_to(&mut self, room: &str) {
        self.current = room.to_owned();
        if let Some(entry) = self.rooms.get_mut(room) {
            entry.unread = 0;
        }
        self.render_rooms();
        self.render_current();
        let _ = self.els.input.focus();
    }

    fn notice(&mut self, room: &str, text: &str) {
        self.add_line(room, Line::Notice(text.to_owned()));
    }

    fn add_line(&mut self, room: &str, line: Line) {
        let Some(entry) = self.rooms.get_mut(room) else {
            return;
        };
        entry.push(line.clone());
        if self.current != room {
            return;
        }
        let list = &self.els.messages;
        let at_bottom = list.scroll_height() - list.scroll_top() - list.client_height() < 48;
        append(list, &render_line(&line));
        while list.child_element_count() as usize > MAX_LINES {
            if let Some(first) = list.first_element_child() {
                first.remove();
            }
        }
        if at_bottom {
            list.set_scroll_top(list.scroll_height());
        }
    }

    /// Whether one of this page's lines with key `id` awaits the server.
    fn is_pending(&self, id: &str) -> bool {
        self.rooms.values().any(|room| {
            room.lines.iter().any(
                |line| matches!(line, Line::Message { own_pending: Some(key), .. } if key == id),
            )
        })
    }

    fn confirm(&mut self, room: &str, id: &str) {
        if let Some(entry) = self.rooms.get_mut(room) {
            for line in entry.lines.iter_mut().rev() {
                if let Line::Message { own_pending, .. } = line {
                    if own_pending.as_deref() == Some(id) {
                        *own_pending = None;
                        break;
                    }
                }
            }
        }
        if self.current == room {
            // Keys are hex and digits: safe inside a selector.
            let selector = format!("[data-id=\"{id}\"]");
            if let Ok(Some(item)) = self.els.messages.query_selector(&selector) {
                let _ = item.class_list().remove_1("pending");
                let _ = item.remove_attribute("data-id");
            }
        }
    }

    fn render_current(&self) {
        self.els.room_title.set_text_content(Some(&self.current));
        clear(&self.els.messages);
        if let Some(entry) = self.rooms.get(&self.current) {
            for line in &entry.lines {
                append(&self.els.messages, &render_line(line));
            }
        }
        self.els
            .messages
            .set_scroll_top(self.els.messages.scroll_height());
        self.render_members();
    }

    fn render_members(&self) {
        clear(&self.els.members);
        if let Some(entry) = self.rooms.get(&self.current) {
            for member in &entry.members {
                append(&self.els.members, &element("li", "member", member));
            }
        }
    }

    fn render_rooms(&self) {
        clear(&self.els.rooms);
        for (name, room) in &self.rooms {
            let item = element("li", "room", "");
            let open = element("button", "room-name", name);
            open.set_attribute("type", "button").expect("attribute");
            open.set_attribute("data-room", name).expect("attribute");
            if *name == self.current {
                open.set_attribute("aria-current", "true")
                    .expect("attribute");
            }
            append(&item, &open);
            if room.unread > 0 {
                let badge = element("span", "unread", &room.unread.to_string());
                badge
                    .set_attribute("aria-label", &format!("{} unread", room.unread))
                    .expect("attribute");
                append(&open, &badge);
            }
            let leave = element("button", "leave", "Leave");
            leave.set_attribute("type", "button").expect("attribute");
            leave.set_attribute("data-room", name).expect("attribute");
            leave
                .set_attribute("data-action", "leave")
                .expect("attribute");
            leave
                .set_attribute("aria-label", &format!("Leave {name}"))
                .expect("attribute");
            append(&item, &leave);
            append(&self.els.rooms, &item);
        }
    }
}

fn render_line(line: &Line) -> HtmlElement {
    match line {
        Line::Notice(text) => element("li", "notice", text),
        Line::Message {
            from,
            text,
            ts,
            own_pending,
        } => {
            let item = element("li", "message", "");
            if let Some(id) = own_pending {
                let _ = item.class_list().add_1("pending");
                item.set_attribute("data-id", id).expect("attribute");
            }
            let (iso, short) = clock(*ts);
            let time = element("time", "", &short);
            time.set_attribute("datetime", &iso).expect("attribute");
            append(&item, &time);
            append(&item, &element("span", "author", from));
            append(&item, &element("span", "text", text));
            item
        }
    }
}
