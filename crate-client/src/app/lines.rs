//! One line of a room's log (a message or a notice), and how it is drawn. This page's own
//! messages carry their delivery state, shown in words and as `data-state` on the line.

use wasm_bindgen::JsValue;
use web_sys::HtmlElement;

use super::dom::{append, element};

/// Where one of this page's own messages stands.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Delivery {
    /// Sent or waiting to be sent; the server has not confirmed it.
    Sending,
    /// The server accepted it.
    Sent,
    /// It will not be delivered (the reason, for people); the line offers Retry.
    Failed(String),
}

impl Delivery {
    /// The line's `data-state`.
    fn state(&self) -> &'static str {
        match self {
            Delivery::Sending => "sending",
            Delivery::Sent => "sent",
            Delivery::Failed(_) => "failed",
        }
    }
}

/// One of this page's own messages: its key (from `ChatSession::send`) and state.
#[derive(Debug, Clone)]
pub(crate) struct Own {
    pub(crate) id: String,
    pub(crate) delivery: Delivery,
}

#[derive(Debug, Clone)]
pub(crate) enum Line {
    Message {
        from: String,
        text: String,
        ts: u64,
        /// Set on this page's own messages.
        own: Option<Own>,
    },
    Notice(String),
}

impl Line {
    /// This page's message with key `id`, if this is it.
    pub(crate) fn own_mut(&mut self, id: &str) -> Option<&mut Own> {
        match self {
            Line::Message { own: Some(own), .. } if own.id == id => Some(own),
            _ => None,
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

fn set(element: &HtmlElement, name: &str, value: &str) {
    element
        .set_attribute(name, value)
        .expect("setting an attribute");
}

/// The `<li>` for `line`. Every user-supplied string is set as text.
pub(crate) fn render_line(line: &Line) -> HtmlElement {
    match line {
        Line::Notice(text) => element("li", "notice", text),
        Line::Message {
            from,
            text,
            ts,
            own,
        } => {
            let item = element("li", "message", "");
            let (iso, short) = clock(*ts);
            let time = element("time", "", &short);
            set(&time, "datetime", &iso);
            append(&item, &time);
            append(&item, &element("span", "author", from));
            if own.is_some() {
                // Not by colour alone: screen readers hear it, and the line has a bar.
                append(&item, &element("span", "visually-hidden", "(you) "));
            }
            append(&item, &element("span", "text", text));
            if let Some(Own { id, delivery }) = own {
                let classes = item.class_list();
                let _ = classes.add_1("own");
                set(&item, "data-id", id);
                set(&item, "data-state", delivery.state());
                let words = match delivery {
                    Delivery::Sending => {
                        // Kept for scripts that look for lines not yet confirmed.
                        let _ = classes.add_1("pending");
                        "sending…".to_owned()
                    }
                    Delivery::Sent => "✓ sent".to_owned(),
                    Delivery::Failed(reason) => format!("not delivered: {reason}"),
                };
                let state = element("span", "line-state", &words);
                if let Delivery::Failed(_) = delivery {
                    let retry = element("button", "retry-line", "Retry");
                    set(&retry, "type", "button");
                    set(&retry, "data-action", "retry");
                    set(&retry, "data-id", id);
                    append(&state, &retry);
                }
                append(&item, &state);
            }
            item
        }
    }
}
