//! A chat page (`www/index.html`) in a real browser, driven as a person would: the helpers
//! the chat page tests and the screenshot tool share.

use std::time::Duration;

use fantoccini::{Client, Locator};
use serde_json::{json, Value};

use crate::{open_browser, Browser, BrowserSession};

/// How long a test waits for something a person would see.
pub const WAIT: Duration = Duration::from_secs(15);

/// `text` as an XPath string literal (quotes included), whatever quotes it holds.
pub fn xpath_literal(text: &str) -> String {
    if !text.contains('\'') {
        return format!("'{text}'");
    }
    let parts: Vec<String> = text.split('\'').map(|p| format!("'{p}'")).collect();
    format!("concat({})", parts.join(", \"'\", "))
}

/// One browser showing the chat page.
#[derive(Debug)]
pub struct ChatPage {
    /// The browser.
    pub session: BrowserSession,
}

impl ChatPage {
    /// Opens `base_url` + `path` (e.g. `/` or `/?theme=dark`) in a new `browser`, waits for
    /// the connection and takes the nickname `nick`.
    pub async fn open_at(browser: Browser, base_url: &str, path: &str, nick: &str) -> ChatPage {
        let session = open_browser(browser).await;
        session
            .client
            .goto(&format!("{base_url}{path}"))
            .await
            .unwrap();
        let page = ChatPage { session };
        page.wait_state("open").await;
        page.set_nick(nick).await;
        page
    }

    /// [`open_at`](Self::open_at) the page's root.
    pub async fn open(browser: Browser, base_url: &str, nick: &str) -> ChatPage {
        ChatPage::open_at(browser, base_url, "/", nick).await
    }

    /// The WebDriver client.
    pub fn client(&self) -> &Client {
        &self.session.client
    }

    /// Waits for an element matching `xpath`; panics with the page's text if none comes.
    pub async fn wait_for(&self, xpath: &str, what: &str) {
        if self
            .client()
            .wait()
            .at_most(WAIT)
            .for_element(Locator::XPath(xpath))
            .await
            .is_err()
        {
            let body = self
                .client()
                .find(Locator::Css("body"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            panic!("{what} never appeared; the page shows:\n{body}");
        }
    }

    /// Waits for the connection light to show `state`.
    pub async fn wait_state(&self, state: &str) {
        self.wait_for(
            &format!("//*[@id='connection-state'][@data-state='{state}']"),
            &format!("connection state {state}"),
        )
        .await;
    }

    /// Runs `script` in the page (with `arguments`) and returns its result.
    pub async fn run(&self, script: &str, args: Vec<Value>) -> Value {
        self.client().execute(script, args).await.unwrap()
    }

    /// Opens the drawer if the page shows its button (phone width), so that the sidebar's
    /// controls can be used.
    pub async fn reveal_sidebar(&self) {
        self.run(
            "const toggle = document.getElementById('drawer-toggle');\
             if (toggle.offsetParent !== null && toggle.getAttribute('aria-expanded') !== 'true') toggle.click();\
             return true;",
            vec![],
        )
        .await;
    }

    /// Types `nick` into the nickname box and waits for the member list to show it.
    pub async fn set_nick(&self, nick: &str) {
        self.reveal_sidebar().await;
        let input = self.client().find(Locator::Id("nick")).await.unwrap();
        input.clear().await.unwrap();
        input.send_keys(&format!("{nick}\u{E007}")).await.unwrap();
        self.wait_for(
            &format!("//ul[@id='members']/li[. = {}]", xpath_literal(nick)),
            &format!("{nick} in the member list"),
        )
        .await;
    }

    /// Joins (or creates) `room` through the form, and waits for it to be in view.
    pub async fn join(&self, room: &str) {
        self.reveal_sidebar().await;
        let input = self.client().find(Locator::Id("room-name")).await.unwrap();
        input.send_keys(&format!("{room}\u{E007}")).await.unwrap();
        self.wait_room(room).await;
    }

    /// Waits for `room` to be the one in view.
    pub async fn wait_room(&self, room: &str) {
        self.wait_for(
            &format!("//h2[@id='room-title'][. = '{room}']"),
            &format!("room {room} in view"),
        )
        .await;
    }

    /// Clicks `room` in the list of joined rooms.
    pub async fn switch_to(&self, room: &str) {
        self.reveal_sidebar().await;
        self.client()
            .find(Locator::XPath(&format!(
                "//ul[@id='rooms']//button[@data-room='{room}'][not(@data-action)]"
            )))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        self.wait_room(room).await;
    }

    /// Types `text` into the message box and presses Enter.
    pub async fn say(&self, text: &str) {
        let input = self
            .client()
            .find(Locator::Id("message-input"))
            .await
            .unwrap();
        input.send_keys(&format!("{text}\u{E007}")).await.unwrap();
    }

    /// Waits for `from: text` in the log.
    pub async fn wait_message(&self, from: &str, text: &str) {
        self.wait_for(
            &format!(
                "//ol[@id='messages']/li[contains(@class, 'message')][span[@class='author'] = {}][span[@class='text'] = {}]",
                xpath_literal(from),
                xpath_literal(text)
            ),
            &format!("{from}: {text}"),
        )
        .await;
    }

    /// How many messages with exactly `text` are on the page.
    pub async fn count_messages(&self, text: &str) -> usize {
        self.client()
            .find_all(Locator::XPath(&format!(
                "//li[contains(@class, 'message')][span[@class='text'] = {}]",
                xpath_literal(text)
            )))
            .await
            .unwrap()
            .len()
    }

    /// The member list, as shown.
    pub async fn members(&self) -> Vec<String> {
        let value = self
            .run(
                "return Array.from(document.querySelectorAll('#members li'), li => li.textContent);",
                vec![],
            )
            .await;
        serde_json::from_value(value).unwrap()
    }

    /// Closes the browser.
    pub async fn close(self) {
        self.session.close().await;
    }
}

/// Resizes the browser window so that the page's viewport (`innerWidth` × `innerHeight`)
/// is `width` × `height` CSS pixels, as near as the browser allows: whatever it adds around
/// the page is measured and added, and a browser with a smallest window (headless Firefox
/// keeps at least 500 pixels of width) stops there. Returns the viewport reached.
pub async fn set_viewport(client: &Client, width: u32, height: u32) -> (u32, u32) {
    let inner = || async {
        let size = client
            .execute("return [window.innerWidth, window.innerHeight];", vec![])
            .await
            .unwrap();
        (
            size[0].as_u64().unwrap() as u32,
            size[1].as_u64().unwrap() as u32,
        )
    };
    let mut window = (width, height);
    let mut reached = (0, 0);
    for _ in 0..4 {
        client.set_window_size(window.0, window.1).await.unwrap();
        reached = inner().await;
        if reached == (width, height) {
            break;
        }
        let (outer_width, outer_height) = client.get_window_size().await.unwrap();
        window = (
            (width + outer_width as u32).saturating_sub(reached.0),
            (height + outer_height as u32).saturating_sub(reached.1),
        );
    }
    reached
}

/// The bounding rectangle of the element `selector` matches, as
/// `{top, bottom, left, right, width, height}` in CSS pixels, or `null` if none matches.
pub async fn rect(client: &Client, selector: &str) -> Value {
    client
        .execute(
            "const e = document.querySelector(arguments[0]); if (!e) return null;\
             const r = e.getBoundingClientRect();\
             return {top: r.top, bottom: r.bottom, left: r.left, right: r.right, width: r.width, height: r.height};",
            vec![json!(selector)],
        )
        .await
        .unwrap()
}
