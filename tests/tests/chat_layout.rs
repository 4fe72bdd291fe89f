//! The chat page as people use it on a phone and a desktop (issue 15), in real headless
//! Chromium and Firefox against the real server binary: layout by element geometry, the
//! drawer and the keyboard, own lines' delivery states, the room directory, typing
//! indicators, the connection light's countdown and "Retry now", and axe-core's verdict.

use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};
use ferrosocket_e2e::accessibility::assert_no_axe_violations;
use ferrosocket_e2e::chat_page::{rect, set_viewport, ChatPage, WAIT};
use ferrosocket_e2e::{open_browser, start_server, start_server_at, Browser};
use serde_json::{json, Value};

fn num(value: &Value, key: &str) -> f64 {
    value[key]
        .as_f64()
        .unwrap_or_else(|| panic!("no {key} in {value}"))
}

async fn viewport(client: &Client) -> (f64, f64) {
    let size = client
        .execute("return [window.innerWidth, window.innerHeight];", vec![])
        .await
        .unwrap();
    (size[0].as_f64().unwrap(), size[1].as_f64().unwrap())
}

async fn active_id(client: &Client) -> String {
    client
        .execute(
            "const e = document.activeElement; return e ? (e.id || e.getAttribute('data-room') || e.tagName) : '';",
            vec![],
        )
        .await
        .unwrap()
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn press(client: &Client, key: &str) {
    client
        .active_element()
        .await
        .unwrap()
        .send_keys(key)
        .await
        .unwrap();
}

async fn text_of(client: &Client, id: &str) -> String {
    client
        .find(Locator::Id(id))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn phone_layout_puts_the_conversation_first(browser: Browser) {
    let server = start_server(&[]).await;
    let session = open_browser(browser).await;
    let reached = set_viewport(&session.client, 390, 844).await;
    // Headless Firefox keeps windows at least 500 pixels wide: still a phone's layout
    // (below the 40rem breakpoint), measured against the viewport it really has.
    assert!(reached.0 <= 500 && reached.1 == 844, "viewport {reached:?}");
    session
        .client
        .goto(&format!("{}/", server.base_url))
        .await
        .unwrap();
    let page = ChatPage { session };
    page.wait_state("open").await;
    let client = page.client();
    let (width, height) = viewport(client).await;

    // Drawer closed: the log starts near the top and fills the screen, the message box
    // sits at the bottom, and the sidebar takes no room.
    let toggle = client.find(Locator::Id("drawer-toggle")).await.unwrap();
    assert_eq!(
        toggle.attr("aria-expanded").await.unwrap().as_deref(),
        Some("false")
    );
    let log = rect(client, "#messages").await;
    let send = rect(client, "#send-form").await;
    let sidebar = rect(client, "#sidebar").await;
    assert!(
        num(&log, "top") <= 0.25 * height,
        "the log starts at {} of {height}",
        num(&log, "top")
    );
    assert!(
        num(&log, "height") >= 0.5 * height,
        "the log is only {} tall",
        num(&log, "height")
    );
    assert!(
        num(&send, "bottom") <= height && num(&send, "bottom") >= height - 16.0,
        "the message box ends at {} of {height}",
        num(&send, "bottom")
    );
    assert!(num(&log, "bottom") <= num(&send, "top"));
    assert_eq!(num(&sidebar, "width"), 0.0, "the closed drawer takes room");
    assert!(
        num(&log, "width") >= width - 24.0,
        "the log is narrow: {log}"
    );
    let overflow = client
        .execute(
            "return document.documentElement.scrollWidth - window.innerWidth;",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        overflow.as_f64().unwrap() <= 0.0,
        "the page scrolls sideways by {overflow}"
    );

    // The drawer opens over the conversation; Escape closes it and gives focus back.
    toggle.click().await.unwrap();
    assert_eq!(
        toggle.attr("aria-expanded").await.unwrap().as_deref(),
        Some("true")
    );
    let open = rect(client, "#sidebar").await;
    assert!(num(&open, "width") > 200.0, "the open drawer: {open}");
    assert_eq!(
        active_id(client).await,
        "nick",
        "focus moves into the drawer"
    );
    page.set_nick("ada").await;
    press(client, "\u{E00C}").await; // Escape
    assert_eq!(
        toggle.attr("aria-expanded").await.unwrap().as_deref(),
        Some("false")
    );
    assert_eq!(num(&rect(client, "#sidebar").await, "width"), 0.0);
    assert_eq!(active_id(client).await, "drawer-toggle");

    // Choosing a room in the drawer closes it and shows the room.
    page.join("phones").await;
    page.switch_to("lobby").await;
    assert_eq!(
        toggle.attr("aria-expanded").await.unwrap().as_deref(),
        Some("false"),
        "the drawer stays open over the room chosen"
    );
    page.say("from a phone").await;
    page.wait_for(
        "//li[contains(@class,'own')][@data-state='sent'][span[@class='text']='from a phone']",
        "the phone's line, sent",
    )
    .await;
    let send = rect(client, "#send-form").await;
    assert!(num(&send, "bottom") <= height && num(&send, "bottom") >= height - 16.0);
    page.close().await;
}

async fn desktop_layout_keeps_the_sidebar_and_200_percent_zoom_stays_usable(browser: Browser) {
    let server = start_server(&[]).await;
    let session = open_browser(browser).await;
    assert_eq!(set_viewport(&session.client, 1280, 800).await, (1280, 800));
    session
        .client
        .goto(&format!("{}/", server.base_url))
        .await
        .unwrap();
    let page = ChatPage { session };
    page.wait_state("open").await;
    page.set_nick("ada").await;
    let client = page.client();
    let (_, height) = viewport(client).await;
    let sidebar = rect(client, "#sidebar").await;
    let log = rect(client, "#messages").await;
    let send = rect(client, "#send-form").await;
    assert!(num(&sidebar, "width") > 150.0, "no sidebar: {sidebar}");
    assert!(
        num(&sidebar, "right") <= num(&log, "left"),
        "sidebar {sidebar} is not left of the log {log}"
    );
    assert_eq!(
        num(&rect(client, "#drawer-toggle").await, "width"),
        0.0,
        "no drawer button on a desktop"
    );
    assert!(num(&send, "bottom") <= height && num(&send, "bottom") >= height - 16.0);
    assert!(num(&log, "height") >= 0.5 * height);

    // 200 % zoom of a 1280×800 window is a 640×400 CSS viewport: the phone layout, with
    // the log, the message box and the drawer button all on screen and nothing clipped
    // sideways.
    assert_eq!(set_viewport(client, 640, 400).await, (640, 400));
    let log = rect(client, "#messages").await;
    let send = rect(client, "#send-form").await;
    let toggle = rect(client, "#drawer-toggle").await;
    assert!(num(&toggle, "width") > 0.0 && num(&toggle, "bottom") <= 400.0);
    assert!(
        num(&log, "height") >= 100.0,
        "the log at 200 %: {log}, message box {send}"
    );
    assert!(num(&send, "bottom") <= 400.0 && num(&send, "top") >= num(&log, "bottom"));
    let overflow = client
        .execute(
            "return document.documentElement.scrollWidth - window.innerWidth;",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        overflow.as_f64().unwrap() <= 0.0,
        "sideways scroll {overflow}"
    );
    page.close().await;
}

async fn keyboard_alone_reaches_nick_rooms_and_the_message_box(browser: Browser) {
    let server = start_server(&[]).await;
    let session = open_browser(browser).await;
    set_viewport(&session.client, 1280, 800).await;
    session
        .client
        .goto(&format!("{}/", server.base_url))
        .await
        .unwrap();
    let page = ChatPage { session };
    page.wait_state("open").await;
    let client = page.client();
    client
        .execute(
            "document.activeElement && document.activeElement.blur(); return 0;",
            vec![],
        )
        .await
        .unwrap();
    // Tab from the top of the page: the order reaches the nickname, a room and the message
    // box, each with a visible focus ring.
    let mut seen = Vec::new();
    for _ in 0..40 {
        press(client, "\u{E004}").await; // Tab
        let id = active_id(client).await;
        let outline = client
            .execute(
                "const s = getComputedStyle(document.activeElement); return [s.outlineStyle, parseFloat(s.outlineWidth)];",
                vec![],
            )
            .await
            .unwrap();
        assert!(
            outline[0] != json!("none") && outline[1].as_f64().unwrap_or(0.0) >= 2.0,
            "no visible focus on {id}: {outline}"
        );
        seen.push(id.clone());
        if id == "message-input" {
            break;
        }
    }
    let position = |id: &str| seen.iter().position(|s| s == id);
    let nick =
        position("nick").unwrap_or_else(|| panic!("Tab never reached the nickname: {seen:?}"));
    let room = position("lobby").unwrap_or_else(|| panic!("Tab never reached a room: {seen:?}"));
    let input = position("message-input")
        .unwrap_or_else(|| panic!("Tab never reached the message box: {seen:?}"));
    assert!(nick < room && room < input, "tab order {seen:?}");
    // Enter sends.
    press(client, "typed only\u{E007}").await;
    page.wait_for(
        "//li[contains(@class,'own')][span[@class='text']='typed only']",
        "the typed line",
    )
    .await;
    page.close().await;
}

async fn own_lines_show_sending_sent_and_failed_with_retry(browser: Browser) {
    // The first server takes lines of at most 64 bytes: a longer one fails for good.
    let server = start_server(&["--max-text-bytes", "64"]).await;
    let addr = server.addr().to_owned();
    let ada = ChatPage::open(browser, &server.base_url, "ada").await;
    let client = ada.client();
    ada.say("short and sweet").await;
    ada.wait_for(
        "//li[contains(@class,'message')][contains(@class,'own')][@data-state='sent'][span[@class='text']='short and sweet']",
        "the own line, sent",
    )
    .await;
    // Marked as one's own in words too, not by colour alone.
    let you = client
        .execute(
            "const li = document.querySelector('#messages li.own'); return li.textContent;",
            vec![],
        )
        .await
        .unwrap();
    assert!(you.as_str().unwrap().contains("(you)"), "{you}");

    let long = "x".repeat(100);
    ada.say(&long).await;
    ada.wait_for(
        &format!("//li[contains(@class,'own')][@data-state='failed'][span[@class='text']='{long}']//button[@data-action='retry']"),
        "the too-long line, failed with Retry",
    )
    .await;
    let reason = client
        .execute(
            "return document.querySelector('#messages li[data-state=failed] .line-state').textContent;",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        reason.as_str().unwrap().contains("too_large"),
        "reason: {reason}"
    );
    assert_eq!(
        text_of(client, "announcer").await,
        format!(
            "A message was not delivered: {}",
            reason
                .as_str()
                .unwrap()
                .trim_start_matches("not delivered: ")
                .trim_end_matches("Retry")
        )
    );

    // While the server is down a line stays "sending".
    server.kill().await;
    ada.wait_state("reconnecting").await;
    ada.say("while down").await;
    ada.wait_for(
        "//li[contains(@class,'own')][@data-state='sending'][span[@class='text']='while down']",
        "the line typed while down, sending",
    )
    .await;
    // Back with a larger limit: the waiting line is sent, and Retry sends the long one.
    let server = start_server_at(&addr, &[]).await;
    ada.wait_state("open").await;
    ada.wait_for(
        "//li[contains(@class,'own')][@data-state='sent'][span[@class='text']='while down']",
        "the waiting line, sent after the restart",
    )
    .await;
    let bob = ChatPage::open(browser, &server.base_url, "bob").await;
    client
        .find(Locator::Css(
            "#messages li[data-state=failed] button[data-action=retry]",
        ))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    ada.wait_for(
        &format!("//li[contains(@class,'own')][@data-state='sent'][span[@class='text']='{long}']"),
        "the retried line, sent",
    )
    .await;
    assert_eq!(
        ada.count_messages(&long).await,
        1,
        "the failed copy is gone"
    );
    bob.wait_message("ada", &long).await;
    assert_eq!(bob.count_messages(&long).await, 1);
    ada.close().await;
    bob.close().await;
}

async fn the_room_directory_lists_counts_and_joins(browser: Browser) {
    let server = start_server(&[]).await;
    let ada = ChatPage::open(browser, &server.base_url, "ada").await;
    // On open: the lobby, with ada in it.
    ada.wait_for(
        "//ul[@id='directory']//button[@data-join='lobby'][span[@class='count'][starts-with(., '1 member')]]",
        "the lobby in the directory",
    )
    .await;
    let bob = ChatPage::open(browser, &server.base_url, "bob").await;
    bob.join("rust").await;
    let carol = ChatPage::open(browser, &server.base_url, "carol").await;
    carol.join("rust").await;
    // Refreshed on the button.
    ada.client()
        .find(Locator::Id("refresh-rooms"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    ada.wait_for(
        "//ul[@id='directory']//button[@data-join='rust'][span[@class='count'] = '2 members']",
        "rust with 2 members",
    )
    .await;
    ada.wait_for(
        "//ul[@id='directory']//button[@data-join='lobby'][span[@class='count'] = '3 members · joined']",
        "the lobby with 3 members",
    )
    .await;
    // Joined from the directory: in view, counted, and marked joined.
    ada.client()
        .find(Locator::Css("#directory button[data-join='rust']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    ada.wait_room("rust").await;
    ada.wait_for(
        "//ul[@id='directory']//button[@data-join='rust'][span[@class='count'] = '3 members · joined']",
        "rust with 3 members, joined",
    )
    .await;
    bob.say("welcome ada").await;
    ada.wait_message("bob", "welcome ada").await;
    // Refreshed by itself while visible: a room made elsewhere shows up within ~30 s
    // without a click (nothing ada does asks for the list).
    carol.join("quiet").await;
    if ada
        .client()
        .wait()
        .at_most(Duration::from_secs(45))
        .for_element(Locator::XPath(
            "//ul[@id='directory']//button[@data-join='quiet'][span[@class='count'] = '1 member']",
        ))
        .await
        .is_err()
    {
        panic!("the directory was not refreshed within 45 s");
    }
    for page in [ada, bob, carol] {
        page.close().await;
    }
}

/// Opens a raw `chat.v1` socket in `page` that records every `typing` event it receives in
/// `window.typingSeen` and can emit its own with `window.typingSocket`.
async fn typing_listener(page: &ChatPage, nick: &str) {
    page.client()
        .execute_async(
            "const done = arguments[arguments.length - 1];\
             const url = new URL('/chat', location.href); url.protocol = 'ws:';\
             const ws = new WebSocket(url, ['chat.v1']);\
             window.typingSocket = ws; window.typingSeen = [];\
             ws.onmessage = (m) => { const e = JSON.parse(m.data);\
               if (e.type === 'event' && e.event === 'typing') window.typingSeen.push([e.from, e.data.active, Date.now()]);\
               if (e.type === 'nick') done(true); };\
             ws.onopen = () => ws.send(JSON.stringify({type: 'nick', nick: arguments[0]}));",
            vec![json!(nick)],
        )
        .await
        .unwrap();
}

async fn typing_is_shown_rate_limited_and_expires(browser: Browser) {
    let server = start_server(&[]).await;
    let ada = ChatPage::open(browser, &server.base_url, "ada").await;
    let bob = ChatPage::open(browser, &server.base_url, "bob").await;
    typing_listener(&bob, "eve").await;

    // Typing without sending: bob sees it; ada does not see herself.
    let input = ada
        .client()
        .find(Locator::Id("message-input"))
        .await
        .unwrap();
    input.send_keys("hel").await.unwrap();
    bob.wait_for(
        "//p[@id='typing'][. = 'ada is typing…']",
        "ada typing, on bob's page",
    )
    .await;
    assert_eq!(text_of(ada.client(), "typing").await, "");
    // Keep typing for 5 s, a key every 200 ms: at most one `active: true` per 3 s goes out.
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(5) {
        input.send_keys("l").await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Sending says "stopped" at once.
    input.send_keys("o\u{E007}").await.unwrap();
    bob.wait_for(
        "//li[contains(@class,'message')][span[@class='author']='ada'][starts-with(span[@class='text'], 'hell')]",
        "ada's line",
    )
    .await;
    bob.wait_for("//p[@id='typing'][. = '']", "the typing line cleared")
        .await;
    let seen = bob
        .client()
        .execute("return window.typingSeen;", vec![])
        .await
        .unwrap();
    let seen = seen.as_array().unwrap();
    let actives: Vec<f64> = seen
        .iter()
        .filter(|e| e[0] == json!("ada") && e[1] == json!(true))
        .map(|e| e[2].as_f64().unwrap())
        .collect();
    assert!(
        (2..=3).contains(&actives.len()),
        "{} `active: true` in about 5 s of typing: {seen:?}",
        actives.len()
    );
    for pair in actives.windows(2) {
        assert!(pair[1] - pair[0] >= 2_500.0, "refreshed too soon: {seen:?}");
    }
    assert_eq!(
        seen.last().map(|e| (e[0].clone(), e[1].clone())),
        Some((json!("ada"), json!(false))),
        "the last word is `active: false`: {seen:?}"
    );

    // Someone who says they type and then vanishes is shown for about 6 s, not forever.
    bob.client()
        .execute(
            "window.typingSocket.send(JSON.stringify({type: 'emit', room: 'lobby', event: 'typing', data: {active: true}})); return 0;",
            vec![],
        )
        .await
        .unwrap();
    ada.wait_for(
        "//p[@id='typing'][. = 'eve is typing…']",
        "eve typing, on ada's page",
    )
    .await;
    let shown = Instant::now();
    ada.wait_for("//p[@id='typing'][. = '']", "eve's typing expired")
        .await;
    assert!(
        shown.elapsed() >= Duration::from_secs(4),
        "expired after only {:?}",
        shown.elapsed()
    );
    ada.close().await;
    bob.close().await;
}

async fn the_light_counts_down_and_retry_now_reconnects_early(browser: Browser) {
    let server = start_server(&[]).await;
    let addr = server.addr().to_owned();
    let ada = ChatPage::open(browser, &server.base_url, "ada").await;
    let client = ada.client();

    // The browser says it is offline: the light says so (the socket itself is still up,
    // so it is back to Connected when the browser is online again).
    client
        .execute(
            "window.dispatchEvent(new Event('offline')); return 0;",
            vec![],
        )
        .await
        .unwrap();
    ada.wait_state("offline").await;
    assert_eq!(
        text_of(client, "connection-state").await,
        "Offline: waiting for the network"
    );
    assert!(client
        .find(Locator::Id("retry"))
        .await
        .unwrap()
        .is_displayed()
        .await
        .unwrap());
    client
        .execute(
            "window.dispatchEvent(new Event('online')); return 0;",
            vec![],
        )
        .await
        .unwrap();
    ada.wait_state("open").await;
    assert!(!client
        .find(Locator::Id("retry"))
        .await
        .unwrap()
        .is_displayed()
        .await
        .unwrap());

    // The server goes away: a countdown to the next attempt, with "Retry now".
    server.kill().await;
    ada.wait_state("reconnecting").await;
    // Wait for a long enough wait (backoff grows) to tell "Retry now" from the timer.
    let countdown = "const t = document.getElementById('connection-state').textContent;\
        const m = /^Reconnecting in (\\d+) s \\(attempt (\\d+)\\)$/.exec(t);\
        return m ? [Number(m[1]), Number(m[2])] : t;";
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let value = client.execute(countdown, vec![]).await.unwrap();
        if value[0].as_f64().is_some_and(|left| left >= 6.0) {
            break;
        }
        assert!(Instant::now() < deadline, "no long countdown: {value}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(client
        .find(Locator::Id("retry"))
        .await
        .unwrap()
        .is_displayed()
        .await
        .unwrap());
    let server = start_server_at(&addr, &[]).await;
    let value = client.execute(countdown, vec![]).await.unwrap();
    let left = value[0]
        .as_f64()
        .unwrap_or_else(|| panic!("the countdown ended while the server restarted: {value}"));
    let clicked = Instant::now();
    client
        .find(Locator::Id("retry"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    ada.wait_state("open").await;
    assert!(
        clicked.elapsed().as_secs_f64() < left - 1.0,
        "connected after {:?}, the timer had {left} s left",
        clicked.elapsed()
    );
    ada.say("back").await;
    ada.wait_for(
        "//li[contains(@class,'own')][@data-state='sent'][span[@class='text']='back']",
        "a line after Retry now",
    )
    .await;
    ada.close().await;
    drop(server);
}

async fn axe_finds_no_violations_on_the_three_pages(browser: Browser) {
    let server = start_server(&["--max-text-bytes", "64"]).await;
    for theme in ["light", "dark"] {
        let ada = ChatPage::open_at(
            browser,
            &server.base_url,
            &format!("/?theme={theme}"),
            "ada",
        )
        .await;
        let bob = ChatPage::open(browser, &server.base_url, &format!("bob-{theme}")).await;
        ada.join("axe").await;
        bob.join("axe").await;
        // Every kind of line: others', own sent, own failed (with its Retry), notices, an
        // unread badge and someone typing.
        bob.say("hello from bob").await;
        ada.say("hello from ada").await;
        ada.say(&"y".repeat(100)).await;
        ada.wait_for(
            "//li[@data-state='failed']//button",
            "a failed line with Retry",
        )
        .await;
        ada.wait_for("//li[@data-state='sent']", "a sent line")
            .await;
        bob.switch_to("lobby").await;
        bob.say("in the lobby").await;
        ada.wait_for("//span[@class='unread']", "an unread badge")
            .await;
        ada.client()
            .find(Locator::Id("refresh-rooms"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        ada.wait_for("//ul[@id='directory']/li", "the directory")
            .await;
        assert_no_axe_violations(ada.client(), &format!("the chat page ({theme})")).await;
        // And at phone width, drawer open.
        set_viewport(ada.client(), 390, 844).await;
        ada.reveal_sidebar().await;
        assert_no_axe_violations(
            ada.client(),
            &format!("the chat page at phone width, drawer open ({theme})"),
        )
        .await;
        ada.close().await;
        bob.close().await;
    }
    let other = open_browser(browser).await;
    other
        .client
        .goto(&format!("{}/echo.html", server.base_url))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_no_axe_violations(&other.client, "the echo page").await;
    other
        .client
        .goto(&format!("{}/plain.html", server.base_url))
        .await
        .unwrap();
    other
        .client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::XPath("//output[@id='status'][. = 'open']"))
        .await
        .unwrap();
    assert_no_axe_violations(&other.client, "the plain page").await;
    other.close().await;
}

macro_rules! in_both_browsers {
    ($($name:ident),* $(,)?) => {
        mod chromium {
            $(#[tokio::test] async fn $name() { super::$name(ferrosocket_e2e::Browser::Chromium).await; })*
        }
        mod firefox {
            $(#[tokio::test] async fn $name() { super::$name(ferrosocket_e2e::Browser::Firefox).await; })*
        }
    };
}

in_both_browsers!(
    phone_layout_puts_the_conversation_first,
    desktop_layout_keeps_the_sidebar_and_200_percent_zoom_stays_usable,
    keyboard_alone_reaches_nick_rooms_and_the_message_box,
    own_lines_show_sending_sent_and_failed_with_retry,
    the_room_directory_lists_counts_and_joins,
    typing_is_shown_rate_limited_and_expires,
    the_light_counts_down_and_retry_now_reconnects_early,
    axe_finds_no_violations_on_the_three_pages,
);
