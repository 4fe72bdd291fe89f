//! What the page shows: the elements it binds to, the rooms with their lines, and how
//! each is drawn.

use super::*;

#[derive(Debug, Default)]
pub(super) struct RoomView {
    pub(super) lines: VecDeque<Line>,
    pub(super) members: BTreeSet<String>,
    pub(super) unread: u32,
}

impl RoomView {
    pub(super) fn push(&mut self, line: Line) {
        if self.lines.len() == MAX_LINES {
            self.lines.pop_front();
        }
        self.lines.push_back(line);
    }
}

pub(super) struct Elements {
    pub(super) state: HtmlElement,
    pub(super) retry: HtmlButtonElement,
    pub(super) drawer_toggle: HtmlButtonElement,
    pub(super) sidebar: HtmlElement,
    pub(super) rooms: Element,
    pub(super) directory: Element,
    pub(super) members: Element,
    pub(super) messages: HtmlElement,
    pub(super) room_title: Element,
    pub(super) announcer: Element,
    pub(super) typing: Element,
    pub(super) nick: HtmlInputElement,
    pub(super) room_name: HtmlInputElement,
    pub(super) input: HtmlTextAreaElement,
}

pub(super) struct View {
    pub(super) els: Elements,
    /// This page's nickname, as the server knows it.
    pub(super) nick: String,
    pub(super) current: String,
    pub(super) rooms: BTreeMap<String, RoomView>,
    /// The last `list_rooms` answer.
    pub(super) directory: Vec<RoomInfo>,
    /// A room the user asked to join: shown once the server confirms.
    pub(super) joining: Option<String>,
    /// Messages that arrived while the tab was hidden.
    pub(super) hidden_unread: u32,
    pub(super) countdown: Option<Interval>,
    /// Others typing.
    pub(super) typists: Typists,
    /// A `Failed` event that came during a `send` call, before its line was on screen.
    pub(super) failed_in_send: Option<(String, String)>,
}

impl View {
    pub(super) fn set_state(&self, state: &str, text: &str, show_retry: bool) {
        self.els
            .state
            .set_attribute("data-state", state)
            .expect("setting an attribute");
        self.els.state.set_text_content(Some(text));
        self.els.retry.set_hidden(!show_retry);
    }

    pub(super) fn on_connection(&mut self, event: ResilientEvent) {
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
            ResilientEvent::AuthFailed { reason } => {
                self.set_state("offline", &format!("Not signed in: {reason}"), false)
            }
            ResilientEvent::Closed(_) => self.set_state("closed", "Closed", false),
            ResilientEvent::Message(_) => {}
        }
    }

    pub(super) fn drawer_open(&self) -> bool {
        self.els.sidebar.class_list().contains("open")
    }

    /// Opens or closes the rooms-and-people drawer (only a drawer at phone width).
    pub(super) fn set_drawer(&self, open: bool) {
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

    pub(super) fn announce(&self, text: &str) {
        self.els.announcer.set_text_content(Some(text));
    }

    pub(super) fn update_title(&self) {
        let title = if self.hidden_unread > 0 {
            format!("({}) {TITLE}", self.hidden_unread)
        } else {
            TITLE.to_owned()
        };
        document().set_title(&title);
    }

    pub(super) fn switch_to(&mut self, room: &str) {
        self.current = room.to_owned();
        if let Some(entry) = self.rooms.get_mut(room) {
            entry.unread = 0;
        }
        self.render_rooms();
        self.render_current();
        self.render_directory();
        let _ = self.els.input.focus();
    }

    pub(super) fn notice(&mut self, room: &str, text: &str) {
        self.add_line(room, Line::Notice(text.to_owned()));
    }

    pub(super) fn add_line(&mut self, room: &str, line: Line) {
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
    pub(super) fn is_sending(&self, id: &str) -> bool {
        self.rooms.values().any(|room| {
            room.lines.iter().any(|line| {
                matches!(line, Line::Message { own: Some(own), .. }
                    if own.id == id && own.delivery == Delivery::Sending)
            })
        })
    }

    /// The on-screen element of this page's line `id`, if its room is in view.
    pub(super) fn own_element(&self, room: &str, id: &str) -> Option<Element> {
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
    pub(super) fn set_delivery(&mut self, room: &str, id: &str, delivery: Delivery) -> bool {
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
    pub(super) fn take_failed(&mut self, id: &str) -> Option<(String, String)> {
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

    pub(super) fn render_current(&self) {
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

    pub(super) fn render_typing(&self) {
        self.els
            .typing
            .set_text_content(Some(&self.typists.sentence(&self.current)));
    }

    pub(super) fn render_members(&self) {
        clear(&self.els.members);
        if let Some(entry) = self.rooms.get(&self.current) {
            for member in &entry.members {
                append(&self.els.members, &element("li", "member", member));
            }
        }
    }

    pub(super) fn render_directory(&self) {
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

    pub(super) fn render_rooms(&self) {
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
