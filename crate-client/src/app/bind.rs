//! The page's listeners and timers: what each click, key and tick does.

use super::*;

pub(super) fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

/// Adds a DOM listener that reaches the app through a weak reference.
pub(super) fn listen(
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
pub(super) fn every(app: &Rc<App>, millis: u32, tick: impl Fn(&Rc<App>) + 'static) {
    let weak: Weak<App> = Rc::downgrade(app);
    let interval = Interval::new(millis, move || {
        if let Some(app) = weak.upgrade() {
            tick(&app);
        }
    });
    app.timers.borrow_mut().push(interval);
}

pub(super) fn start_timers(app: &Rc<App>) {
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
pub(super) fn clicked_button(event: &web_sys::Event) -> Option<Element> {
    event
        .target()
        .and_then(|t| t.dyn_into::<Element>().ok())
        .and_then(|t| t.closest("button").ok().flatten())
}

pub(super) fn bind(app: &Rc<App>) {
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
