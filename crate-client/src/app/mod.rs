//! The chat page (`www/index.html`): view and controller in Rust, on top of
//! [`ChatSession`]. The page's HTML holds the static, labelled structure; this module binds
//! to it by id, renders rooms, members and messages, and reacts to the user and the session.
//!
//! Every user-supplied string reaches the DOM through `textContent`, never as HTML. The
//! message list keeps at most [`MAX_LINES`] entries per room, and scrolls to new messages
//! only when the reader is already at the bottom.

pub mod bench;
mod dom;
mod lines;
mod typing;

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::rc::{Rc, Weak};

use gloo_events::{EventListener, EventListenerOptions};
use gloo_timers::callback::{Interval, Timeout};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{Element, HtmlButtonElement, HtmlElement, HtmlInputElement, HtmlTextAreaElement};

use crate::resilient::{ResilientEvent, SendOutcome};
use crate::session::{ChatEvent, ChatOptions, ChatSession};
use crate::socket::WebSocket;
use dom::{append, by_id, clear, document, element};
use ferrosocket_wire::chat::{HistoryEntry, PresenceChange, RoomInfo, LOBBY};
use lines::{render_line, Delivery, Line, Own};
use typing::{Typists, TYPING_EVENT, TYPING_IDLE_MS, TYPING_REFRESH_MS};

/// Lines (messages and notices) kept per room, in memory and in the DOM.
pub const MAX_LINES: usize = 300;
/// How often the room directory is refreshed while the page is visible.
const DIRECTORY_REFRESH_MS: u32 = 30_000;
const NICK_KEY: &str = "ferrosocket.nick";
const TITLE: &str = "ferrosocket chat";

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
    drawer_toggle: HtmlButtonElement,
    sidebar: HtmlElement,
    rooms: Element,
    directory: Element,
    members: Element,
    messages: HtmlElement,
    room_title: Element,
    announcer: Element,
    typing: Element,
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
    /// The last `list_rooms` answer.
    directory: Vec<RoomInfo>,
    /// A room the user asked to join: shown once the server confirms.
    joining: Option<String>,
    /// Messages that arrived while the tab was hidden.
    hidden_unread: u32,
    countdown: Option<Interval>,
    /// Others typing.
    typists: Typists,
    /// A `Failed` event that came during a `send` call, before its line was on screen.
    failed_in_send: Option<(String, String)>,
}

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

/// Runs `tick` every `millis` while the app lives.
fn every(app: &Rc<App>, millis: u32, tick: impl Fn(&Rc<App>) + 'static) {
    let weak: Weak<App> = Rc::downgrade(app);
    let interval = Interval::new(millis, move || {
        if let Some(app) = weak.upgrade() {
            tick(&app);
        }
    });
    app.timers.borrow_mut().push(interval);
}

fn start_timers(app: &Rc<App>) {
    // The directory's member counts, while someone can see them.
    every(app, DIRECTORY_REFRESH_MS, |app| {
        if !document().hidden() {
            app.session.list_rooms();
        }
    });
    // Typing indicators expire without a refresh.
    every(app, 500, |app| {
        let mut view = app.view.borrow_mut();
        if view.typists.expire(js_sys::Date::now()) {
            view.render_typing();
        }
    });
}

/// The button an event happened in, if any.
fn clicked_button(event: &web_sys::Event) -> Option<Element> {
    event
        .target()
        .and_then(|t| t.dyn_into::<Element>().ok())
        .and_then(|t| t.closest("button").ok().flatten())
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
    let input = by_id::<Element>("message-input");
    listen(app, &input, "keydown", |app, event| {
        let key = event.unchecked_ref::<web_sys::KeyboardEvent>();
        // Enter sends; Shift+Enter is a new line; an IME composition is left alone.
        if key.key() == "Enter" && !key.shift_key() && !key.is_composing() {
            event.prevent_default();
            app.send_input();
        }
    });
    listen(app, &input, "input", |app, _| app.typed());
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
            if !name.is_empty() {
                app.open_room(&name);
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
        let Some(button) = clicked_button(event) else {
            return;
        };
        let Some(room) = button.get_attribute("data-room") else {
            return;
        };
        if button.get_attribute("data-action").as_deref() == Some("leave") {
            app.session.leave(&room);
        } else {
            app.stop_typing();
            let mut view = app.view.borrow_mut();
            view.switch_to(&room);
            view.set_drawer(false);
        }
    });
    listen(
        app,
        &by_id::<Element>("directory"),
        "click",
        |app, event| {
            if let Some(room) = clicked_button(event).and_then(|b| b.get_attribute("data-join")) {
                app.open_room(&room);
                app.view.borrow().set_drawer(false);
            }
        },
    );
    listen(
        app,
        &by_id::<Element>("refresh-rooms"),
        "click",
        |app, _| {
            app.session.list_rooms();
        },
    );
    listen(app, &by_id::<Element>("messages"), "click", |app, event| {
        let Some(button) = clicked_button(event) else {
            return;
        };
        if button.get_attribute("data-action").as_deref() == Some("retry") {
            if let Some(id) = button.get_attribute("data-id") {
                app.retry(&id);
            }
        }
    });
    listen(
        app,
        &by_id::<Element>("drawer-toggle"),
        "click",
        |app, _| {
            let open = !app.view.borrow().drawer_open();
            app.view.borrow().set_drawer(open);
            if open {
                app.session.list_rooms();
                let _ = app.view.borrow().els.nick.focus();
            }
        },
    );
    listen(app, &page, "keydown", |app, event| {
        let key = event.unchecked_ref::<web_sys::KeyboardEvent>();
        let view = app.view.borrow();
        // Escape closes the drawer and gives focus back to what opened it.
        if key.key() == "Escape" && view.drawer_open() {
            view.set_drawer(false);
            let _ = view.els.drawer_toggle.focus();
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
    // The connection reconnects by itself on `online`; a connection that survived the
    // outage sends no new event, so the light is put right here.
    listen(app, &window, "online", |app, _| {
        if app.session.state() == crate::ConnectionState::Open {
            app.view.borrow().set_state("open", "Connected", false);
        }
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
                code: crate::ErrorCode::Unavailable | crate::ErrorCode::RateLimited,
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
                let active = crate::session::wire::parse_value(&data)
                    .ok()
                    .and_then(|data| data.get("active").and_then(serde_json::Value::as_bool))
                    .unwrap_or(false);
                view.typists.set(&room, &from, active, js_sys::Date::now());
                if view.current == room {
                    view.render_typing();
                }
            }
        }
    }
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
                    // Whole seconds as an integer: `{:.0}` on a float would link float
                    // formatting and its tables into the page's module.
                    let left = ((deadline - js_sys::Date::now()) / 1000.0).max(0.0).round() as u64;
                    state.set_text_content(Some(&format!(
                        "Reconnecting in {left} s (attempt {attempt})"
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

    fn drawer_open(&self) -> bool {
        self.els.sidebar.class_list().contains("open")
    }

    /// Opens or closes the rooms-and-people drawer (only a drawer at phone width).
    fn set_drawer(&self, open: bool) {
        let _ = self
            .els
            .sidebar
            .class_list()
            .toggle_with_force("open", open);
        self.els
            .drawer_toggle
            .set_attribute("aria-expanded", if open { "true" } else { "false" })
            .expect("setting an attribute");
    }

    fn announce(&self, text: &str) {
        self.els.announcer.set_text_content(Some(text));
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
        self.render_directory();
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
    fn is_sending(&self, id: &str) -> bool {
        self.rooms.values().any(|room| {
            room.lines.iter().any(|line| {
                matches!(line, Line::Message { own: Some(own), .. }
                    if own.id == id && own.delivery == Delivery::Sending)
            })
        })
    }

    /// The on-screen element of this page's line `id`, if its room is in view.
    fn own_element(&self, room: &str, id: &str) -> Option<Element> {
        if self.current != room {
            return None;
        }
        // Keys are hex and digits: safe inside a selector.
        self.els
            .messages
            .query_selector(&format!("[data-id=\"{id}\"]"))
            .ok()
            .flatten()
    }

    /// Moves this page's line `id` in `room` to `delivery`; whether it was found.
    fn set_delivery(&mut self, room: &str, id: &str, delivery: Delivery) -> bool {
        let Some(line) = self.rooms.get_mut(room).and_then(|entry| {
            entry
                .lines
                .iter_mut()
                .rev()
                .find_map(|line| line.own_mut(id).is_some().then_some(line))
        }) else {
            return false;
        };
        if let Some(own) = line.own_mut(id) {
            own.delivery = delivery;
        }
        let line = line.clone();
        if let Some(old) = self.own_element(room, id) {
            let _ = old.replace_with_with_node_1(&render_line(&line));
        }
        true
    }

    /// Removes the failed line `id` (to be sent again); its room and text.
    fn take_failed(&mut self, id: &str) -> Option<(String, String)> {
        let (room, index) = self.rooms.iter().find_map(|(name, entry)| {
            entry
                .lines
                .iter()
                .position(|line| {
                    matches!(line, Line::Message { own: Some(own), .. }
                        if own.id == id && matches!(own.delivery, Delivery::Failed(_)))
                })
                .map(|index| (name.clone(), index))
        })?;
        let line = self.rooms.get_mut(&room)?.lines.remove(index)?;
        if let Some(element) = self.own_element(&room, id) {
            element.remove();
        }
        match line {
            Line::Message { text, .. } => Some((room, text)),
            Line::Notice(_) => None,
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
        self.render_typing();
    }

    fn render_typing(&self) {
        self.els
            .typing
            .set_text_content(Some(&self.typists.sentence(&self.current)));
    }

    fn render_members(&self) {
        clear(&self.els.members);
        if let Some(entry) = self.rooms.get(&self.current) {
            for member in &entry.members {
                append(&self.els.members, &element("li", "member", member));
            }
        }
    }

    fn render_directory(&self) {
        clear(&self.els.directory);
        for RoomInfo { name, members } in &self.directory {
            let item = element("li", "", "");
            let button = element("button", "", "");
            button.set_attribute("type", "button").expect("attribute");
            button.set_attribute("data-join", name).expect("attribute");
            append(&button, &element("span", "name", name));
            let people = if *members == 1 { "member" } else { "members" };
            let joined = if self.rooms.contains_key(name) {
                " · joined"
            } else {
                ""
            };
            append(
                &button,
                &element("span", "count", &format!("{members} {people}{joined}")),
            );
            append(&item, &button);
            append(&self.els.directory, &item);
        }
    }

    fn render_rooms(&self) {
        clear(&self.els.rooms);
        let mut unread = 0;
        for (name, room) in &self.rooms {
            unread += room.unread;
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
        // At phone width the drawer is closed: its button tells of unread lines.
        let label = if unread > 0 {
            format!("Rooms ({unread} unread)")
        } else {
            "Rooms".to_owned()
        };
        self.els.drawer_toggle.set_text_content(Some(&label));
    }
}
