//! The chat page's sign-in (issue 16) in real headless Chromium and Firefox, against the
//! real server binary: the demo sign-in form of `--auth-demo` gets a token and the user
//! appears under that name to others; a refused name is explained on the form; a valid
//! `?token=` in the address signs in directly; a bad one is explained in words, with no
//! WebSocket attempt at all (no reconnect storm of refused handshakes); the panel passes
//! axe-core.

use fantoccini::Locator;
use ferrosocket_e2e::accessibility::assert_no_axe_violations;
use ferrosocket_e2e::chat_page::{xpath_literal, ChatPage};
use ferrosocket_e2e::{open_browser, start_server, Browser};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SECRET: &str = "the sign-in page tests' secret, 32 bytes or more";

/// One HTTP/1.1 request with `Connection: close`: the status and the body.
async fn http(addr: &str, method: &str, path: &str, headers: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// `ferrosocket_handshakes_rejected_total{reason="auth"}`.
async fn auth_refusals(addr: &str) -> u64 {
    let (_, metrics) = http(addr, "GET", "/metrics", "", "").await;
    metrics
        .lines()
        .find(|line| line.starts_with("ferrosocket_handshakes_rejected_total{reason=\"auth\"}"))
        .and_then(|line| line.rsplit(' ').next())
        .map_or(0, |count| count.parse().unwrap())
}

/// Opens `path` in a new browser; the page is not expected to connect by itself.
async fn page_at(browser: Browser, base_url: &str, path: &str) -> ChatPage {
    let session = open_browser(browser).await;
    session
        .client
        .goto(&format!("{base_url}{path}"))
        .await
        .unwrap();
    ChatPage { session }
}

/// Types `nick` into the sign-in form, once it is shown, and submits it.
async fn sign_in(page: &ChatPage, nick: &str) {
    page.wait_for(
        "//main[@id='sign-in'][not(@hidden)]/form[@id='sign-in-form'][not(@hidden)]",
        "the demo sign-in form",
    )
    .await;
    let input = page
        .client()
        .find(Locator::Id("sign-in-nick"))
        .await
        .unwrap();
    input.clear().await.unwrap();
    input.send_keys(&format!("{nick}\u{E007}")).await.unwrap();
}

async fn wait_message_text(page: &ChatPage, fragment: &str) {
    page.wait_for(
        &format!(
            "//p[@id='sign-in-message'][contains(., {})]",
            xpath_literal(fragment)
        ),
        &format!("the sign-in message saying {fragment:?}"),
    )
    .await;
}

async fn the_demo_form_signs_in_and_others_see_that_name(browser: Browser) {
    let server = start_server(&["--auth-demo"]).await;
    let ada = page_at(browser, &server.base_url, "/").await;
    ada.wait_state("signed-out").await;
    ada.wait_for(
        "//form[@id='sign-in-form'][not(@hidden)]",
        "the demo sign-in form",
    )
    .await;
    assert_no_axe_violations(ada.client(), "the sign-in form").await;
    sign_in(&ada, "ada").await;
    ada.wait_state("open").await;
    ada.wait_for(
        "//ul[@id='members']/li[. = 'ada']",
        "ada in her member list",
    )
    .await;

    let bob = page_at(browser, &server.base_url, "/").await;
    // A name in use is refused with the reason, on the form, which stays.
    sign_in(&bob, "ada").await;
    wait_message_text(&bob, "in use").await;
    sign_in(&bob, "guest-7").await;
    wait_message_text(&bob, "guest").await;
    bob.wait_state("signed-out").await;
    sign_in(&bob, "bob").await;
    bob.wait_state("open").await;
    ada.wait_for(
        "//ul[@id='members']/li[. = 'bob']",
        "bob in ada's member list",
    )
    .await;
    bob.say("signed in as bob").await;
    ada.wait_message("bob", "signed in as bob").await;
    ada.close().await;
    bob.close().await;
}

async fn a_token_in_the_address_signs_in_and_a_bad_one_is_explained_without_connecting(
    browser: Browser,
) {
    // A demo server: the test gets a valid token from it, as an application would give one.
    let demo = start_server(&["--auth-demo"]).await;
    let (status, body) = http(
        demo.addr(),
        "POST",
        "/auth/demo",
        "Content-Type: application/json\r\n",
        r#"{"nick":"carol"}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let token = serde_json::from_str::<serde_json::Value>(&body).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let carol = page_at(browser, &demo.base_url, &format!("/?token={token}")).await;
    carol.wait_state("open").await;
    carol
        .wait_for(
            "//ul[@id='members']/li[. = 'carol']",
            "carol, from her token",
        )
        .await;
    carol.close().await;

    // A server with a real secret and no demo: a bad token is explained, and nothing else
    // happens — no form, no connection attempt.
    let server = start_server(&["--auth-jwt-secret", SECRET]).await;
    for (token, reason) in [("not-a-jwt", "malformed"), (token.as_str(), "signature")] {
        let page = page_at(browser, &server.base_url, &format!("/?token={token}")).await;
        page.wait_state("signed-out").await;
        wait_message_text(&page, "refused").await;
        wait_message_text(&page, reason).await;
        wait_message_text(&page, "Open it from your application").await;
        assert!(page
            .client()
            .find(Locator::XPath("//form[@id='sign-in-form'][not(@hidden)]"))
            .await
            .is_err());
        assert_no_axe_violations(page.client(), "the refused-token message").await;
        // Time in which a reconnecting socket would have tried several times.
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
        page.wait_state("signed-out").await;
        page.close().await;
    }
    assert_eq!(
        auth_refusals(server.addr()).await,
        0,
        "the page tried /chat with a token it knew was refused"
    );
    // Without any token: the same page says sign-in is needed.
    let page = page_at(browser, &server.base_url, "/").await;
    wait_message_text(&page, "signed-in users").await;
    page.close().await;
}

async fn a_demo_session_outlives_its_tokens_and_an_expired_address_token_is_explained(
    browser: Browser,
) {
    let server = start_server(&["--auth-demo", "--auth-demo-token-seconds", "6"]).await;
    let ada = page_at(browser, &server.base_url, "/").await;
    sign_in(&ada, "ada").await;
    ada.wait_state("open").await;
    // Every state the connection light takes from now on.
    ada.run(
        "window.__states = [];\
         new MutationObserver(() => window.__states.push(\
           document.getElementById('connection-state').dataset.state))\
           .observe(document.getElementById('connection-state'), {attributes: true});\
         return true;",
        vec![],
    )
    .await;
    let bob = page_at(browser, &server.base_url, "/").await;
    sign_in(&bob, "bob").await;
    bob.wait_state("open").await;
    // Three token lifetimes: the page refreshes its token over the open connection each
    // time the server warns, so the connection never closes.
    tokio::time::sleep(std::time::Duration::from_secs(18)).await;
    ada.say("still signed in").await;
    bob.wait_message("ada", "still signed in").await;
    let states = ada.run("return window.__states;", vec![]).await;
    assert!(
        states
            .as_array()
            .unwrap()
            .iter()
            .all(|state| state == "open"),
        "ada's connection left 'open' while her tokens expired: {states}"
    );

    // A token in the address cannot be refreshed: once it expires the page says so and
    // stops, rather than reconnecting forever. (The browser starts before the token is
    // made: it lives only 6 s.)
    let carol = ChatPage {
        session: open_browser(browser).await,
    };
    let (_, body) = http(
        server.addr(),
        "POST",
        "/auth/demo",
        "Content-Type: application/json\r\n",
        r#"{"nick":"carol"}"#,
    )
    .await;
    let token = serde_json::from_str::<serde_json::Value>(&body).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    carol
        .client()
        .goto(&format!("{}/?token={token}", server.base_url))
        .await
        .unwrap();
    carol.wait_state("open").await;
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    carol
        .wait_for(
            "//*[@id='connection-state'][contains(., 'expired')]",
            "the light saying the token expired",
        )
        .await;
    for page in [ada, bob, carol] {
        page.close().await;
    }
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
    the_demo_form_signs_in_and_others_see_that_name,
    a_token_in_the_address_signs_in_and_a_bad_one_is_explained_without_connecting,
    a_demo_session_outlives_its_tokens_and_an_expired_address_token_is_explained,
);
