//! `screenshots`: makes `docs/screenshots/{desktop,phone}-{light,dark}.png` from the real
//! chat page in headless Chromium, against the real server, with a short real conversation
//! between two people (and one of them typing).
//!
//! ```text
//! screenshots [OUTPUT_DIR]   (default: docs/screenshots)
//! ```
//!
//! The server binary is `FERROSOCKET_SERVER_BIN` (else `target/debug`); `www/pkg` must hold
//! the wasm package built with `--features app`. `scripts/screenshots.sh` builds both and
//! runs this.

use std::path::{Path, PathBuf};

use fantoccini::Locator;
use ferrosocket_e2e::chat_page::{set_viewport, ChatPage};
use ferrosocket_e2e::{open_browser, repo_root, start_server, Browser};
use serde_json::json;

/// The conversation: who says what, in order.
const LINES: [(&str, &str); 4] = [
    ("bob", "Morning! The new build is on staging."),
    ("ada", "Great, I'm trying the reconnect path now."),
    (
        "bob",
        "Kill the server mid-send: the line should still arrive, once.",
    ),
    ("ada", "It did. Sent after the restart, in order."),
];

async fn shot(out: &Path, layout: &str, (width, height): (u32, u32), theme: &str) {
    let server = start_server(&[]).await;
    let bob = ChatPage::open(Browser::Chromium, &server.base_url, "bob").await;
    bob.join("rust").await;
    let carol = ChatPage::open(Browser::Chromium, &server.base_url, "carol").await;
    carol.join("rust").await;

    let session = open_browser(Browser::Chromium).await;
    let reached = set_viewport(&session.client, width, height).await;
    assert_eq!(reached, (width, height), "Chromium's viewport");
    session
        .client
        .goto(&format!("{}/?theme={theme}", server.base_url))
        .await
        .unwrap();
    let ada = ChatPage { session };
    ada.wait_state("open").await;
    ada.set_nick("ada").await;
    ada.join("rust").await;
    for (who, text) in LINES {
        let page = if who == "ada" { &ada } else { &bob };
        page.say(text).await;
        ada.wait_message(who, text).await;
    }
    ada.wait_for(
        "//li[contains(@class,'own')][@data-state='sent'][last()]",
        "ada's lines sent",
    )
    .await;
    // A line in the lobby: an unread count on the desktop's room list.
    carol.switch_to("lobby").await;
    carol.say("Lunch at noon?").await;
    ada.wait_for("//span[@class='unread']", "the lobby's unread count")
        .await;
    ada.client()
        .find(Locator::Id("refresh-rooms"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // Bob starts typing.
    bob.client()
        .find(Locator::Id("message-input"))
        .await
        .unwrap()
        .send_keys("Nice, merging")
        .await
        .unwrap();
    ada.wait_for(
        "//p[@id='typing'][. = 'bob is typing…']",
        "bob typing on ada's page",
    )
    .await;
    // The drawer closed (phone), nothing focused: the page as one sees it on arrival.
    ada.client()
        .execute(
            "const t = document.getElementById('drawer-toggle');\
             if (t.getAttribute('aria-expanded') === 'true') t.click();\
             document.activeElement && document.activeElement.blur(); return 0;",
            vec![json!(null)],
        )
        .await
        .unwrap();
    let png = ada.client().screenshot().await.unwrap();
    let path = out.join(format!("{layout}-{theme}.png"));
    std::fs::write(&path, &png).unwrap();
    println!("{} ({} bytes)", path.display(), png.len());
    for page in [ada, bob, carol] {
        page.close().await;
    }
}

#[tokio::main]
async fn main() {
    let out = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("docs/screenshots"));
    std::fs::create_dir_all(&out).unwrap();
    for theme in ["light", "dark"] {
        shot(&out, "desktop", (1280, 800), theme).await;
        shot(&out, "phone", (390, 844), theme).await;
    }
}
