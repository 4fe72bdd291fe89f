//! The echo page (`www/echo.html`), served by the real server, in real headless
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
    client
        .goto(&format!("{}/echo.html", server.base_url))
        .await
        .unwrap();

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

    // A close code the browser would reject is explained on the page, and nothing closes.
    let code = client.find(Locator::Id("close-code")).await.unwrap();
    code.clear().await.unwrap();
    code.send_keys("1006").await.unwrap();
    let close_button = client
        .find(Locator::Css("#close-form button"))
        .await
        .unwrap();
    close_button.click().await.unwrap();
    wait_for_text(
        client,
        "error",
        "InvalidCloseCodeError: close code 1006 is not allowed: use 1000 or a code from 3000 to 4999",
    )
    .await;

    // A valid one closes, and the page logs each readyState it went through.
    code.clear().await.unwrap();
    code.send_keys("4000").await.unwrap();
    close_button.click().await.unwrap();
    wait_for_text(client, "system", "closed: code 4000, reason \"bye\", clean").await;
    let states: Vec<String> = {
        let mut texts = Vec::new();
        for item in client
            .find_all(Locator::Css("#log li.state"))
            .await
            .unwrap()
        {
            texts.push(item.text().await.unwrap());
        }
        texts
    };
    assert_eq!(
        states,
        [
            "readyState 0 (CONNECTING)",
            "readyState 1 (OPEN)",
            "readyState 2 (CLOSING)",
            "readyState 3 (CLOSED)"
        ]
    );

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
