//! `browser-bench`: opens `www/bench.html` in headless Chromium against the real server
//! and prints how fast the page received messages through (a) the raw browser WebSocket,
//! (b) ferrosocket's Rust handlers and (c) its `FerroSocket` class, with the ratios to (a).
//!
//! ```text
//! browser-bench [--count N] [--size BYTES] [--rounds R] [--browser chromium|firefox]
//! ```
//!
//! The server binary is `FERROSOCKET_SERVER_BIN` (else `target/debug`); `www/pkg` must hold
//! the wasm package built with `--features app` (`scripts/bench.sh` builds both). Prints a
//! human table and one `RESULT scenario=browser ...` line per client.

use std::process::ExitCode;
use std::time::Duration;

use fantoccini::wd::TimeoutConfiguration;
use ferrosocket_e2e::{open_browser, start_server, Browser};
use serde_json::Value;

const USAGE: &str =
    "usage: browser-bench [--count N] [--size BYTES] [--rounds R] [--browser chromium|firefox]";

#[tokio::main]
async fn main() -> ExitCode {
    let mut count = 100_000u64;
    let mut size = 64u64;
    let mut rounds = 5u64;
    let mut browser = Browser::Chromium;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next();
        let number = value.as_deref().and_then(|v| v.parse::<u64>().ok());
        match (flag.as_str(), number, value.as_deref()) {
            ("--count", Some(n), _) if n > 0 => count = n,
            ("--size", Some(n), _) if n > 0 => size = n,
            ("--rounds", Some(n), _) if n > 0 => rounds = n,
            ("--browser", _, Some("chromium")) => browser = Browser::Chromium,
            ("--browser", _, Some("firefox")) => browser = Browser::Firefox,
            ("-h" | "--help", _, _) => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            _ => {
                eprintln!(
                    "error: bad argument {flag} {}\n{USAGE}",
                    value.unwrap_or_default()
                );
                return ExitCode::FAILURE;
            }
        }
    }

    let server = start_server(&["--test-endpoints"]).await;
    let session = open_browser(browser).await;
    let page = format!(
        "{}/bench.html?count={count}&size={size}&rounds={rounds}",
        server.base_url
    );
    let outcome = async {
        // The whole run is one script call: allow it far longer than WebDriver's 30 s.
        let timeouts = TimeoutConfiguration::new(Some(Duration::from_secs(600)), None, None);
        session
            .client
            .update_timeouts(timeouts)
            .await
            .map_err(|e| e.to_string())?;
        session
            .client
            .goto(&page)
            .await
            .map_err(|e| e.to_string())?;
        // WebDriver waits for the promise the script returns (the page's whole run).
        session
            .client
            .execute("return await window.benchResult;", vec![])
            .await
            .map_err(|e| e.to_string())
    }
    .await;
    session.close().await;
    let result = match outcome {
        Ok(result) => result,
        Err(err) => {
            eprintln!("error: the benchmark page did not finish: {err}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(error) = result.get("error").and_then(Value::as_str) {
        eprintln!("error: the benchmark page failed: {error}");
        return ExitCode::FAILURE;
    }
    println!(
        "receive {count} x {size} B in {browser:?}, median of {rounds}: {}",
        result["userAgent"].as_str().unwrap_or("?")
    );
    for name in ["raw-js", "rust-handlers", "js-class"] {
        let client = &result["clients"][name];
        let (rate, ratio) = (
            client["rate"].as_f64().unwrap_or(f64::NAN),
            client["ratio"].as_f64().unwrap_or(f64::NAN),
        );
        println!("  {name:<14} {rate:>10.0} msg/s  {ratio:.2}× raw JS");
        println!(
            "RESULT scenario=browser browser={browser:?} client={name} count={count} size={size} rate={rate:.0} ratio={ratio:.3}"
        );
    }
    ExitCode::SUCCESS
}
