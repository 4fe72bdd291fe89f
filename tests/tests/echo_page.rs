//! The echo page (`www/index.html`), served by the real server, in real headless
//! Chromium and Firefox: a message typed by a user round-trips through `/echo`.

use std::time::Duration;

use fantoccini::{Client, Locator};
use ferrosocket_e2e::{open_browser, start_server, Browser};

async fn wait_for_text(client: &Client, selector: &str, expected: &str) {
    let found = client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::XPath(&format!(
            "//*[@id='log']/li[contains(@class, '{}')][. = {}]",
            selector,
            xpath_literal(expected)
        )))
        .await;
    if found.is_err() {
        let log = client
            .find(Locator::Id("log"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        panic!("no {selector} line {expected:?} in the log; it shows:\n{log}");
    }
}

fn xpath_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "&apos;"))
}

async fn typed_messages_round_trip(browser: Browser) {
    let server = start_server(&[]).await;
    let session = open_browser(browser).await;
    let client = &session.client;
    client.goto(&format!("{}/", server.base_url)).await.unwrap();

    client
        .wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css("#status[data-state='open']"))
        .await
        .expect("the page loaded the wasm module and opened /echo");

    // Text typed into the form and submitted with Enter.
    let input = client.find(Locator::Id("message")).await.unwrap();
    input.send_keys("hello <b>there</b>\u{E007}").await.unwrap();
    wait_for_text(client, "received", "received text: hello <b>there</b>").await;
    // Shown as text: the markup was not parsed into an element.
    assert!(client.find(Locator::Css("#log b")).await.is_err());

    // The same input sent as binary.
    input.send_keys("bytes ✓").await.unwrap();
    client
        .find(Locator::Id("send-binary"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_text(client, "received", "received binary (9 bytes): bytes ✓").await;

    session.close().await;
}

#[tokio::test]
async fn typed_messages_round_trip_in_chromium() {
    typed_messages_round_trip(Browser::Chromium).await;
}

#[tokio::test]
async fn typed_messages_round_trip_in_firefox() {
    typed_messages_round_trip(Browser::Firefox).await;
}
