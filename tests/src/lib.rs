//! Harness for the end-to-end tests in `tests/tests/`: the real server binary on a free
//! loopback port, and real headless browsers driven through WebDriver.
//!
//! The test command (`scripts/test.sh`) builds everything first and exports
//! `FERROSOCKET_SERVER_BIN`; run by hand, the tests fall back to `target/debug`.

pub mod accessibility;
pub mod chat_page;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the repository")
        .to_owned()
}

/// The server binary, started for real; killed when dropped.
#[derive(Debug)]
pub struct ServerProcess {
    /// The process.
    pub child: Child,
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub base_url: String,
}

/// Starts the server binary on a free port serving `www/`, once it has built its wasm
/// package into `www/pkg` (`scripts/test.sh` does).
pub async fn start_server(extra_args: &[&str]) -> ServerProcess {
    start_server_at("127.0.0.1:0", extra_args).await
}

/// Starts the server binary on `addr` (e.g. the address of a server that was stopped, to
/// restart it), serving `www/`.
pub async fn start_server_at(addr: &str, extra_args: &[&str]) -> ServerProcess {
    let root = repo_root();
    assert!(
        root.join("www/pkg/ferrosocket.js").is_file(),
        "www/pkg is missing: build it with `wasm-pack build crate-client --target web --out-dir ../www/pkg` (scripts/test.sh does)"
    );
    start_server_serving(&root.join("www"), addr, extra_args).await
}

/// Starts the server binary on `addr` serving the files under `www` (e.g. a page built
/// by a test in a temporary directory) instead of the repository's `www/`.
pub async fn start_server_serving(www: &Path, addr: &str, extra_args: &[&str]) -> ServerProcess {
    let binary = server_binary();
    let mut child = Command::new(&binary)
        .args(["--addr", addr, "--www"])
        .arg(www)
        .args(extra_args)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|err| panic!("cannot start {}: {err}", binary.display()));
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
        .await
        .expect("the server printed its address within 10 s")
        .unwrap()
        .expect("the server printed its address");
    let base_url = line
        .strip_prefix("listening on ")
        .and_then(|url| url.strip_suffix('/'))
        .unwrap_or_else(|| panic!("unexpected first line from the server: {line:?}"))
        .to_owned();
    ServerProcess { child, base_url }
}

impl ServerProcess {
    /// `host:port`.
    pub fn addr(&self) -> &str {
        self.base_url.trim_start_matches("http://")
    }

    /// Kills the process (SIGKILL: no goodbye to anyone) and waits for it to exit.
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
    }
}

/// The server binary: `FERROSOCKET_SERVER_BIN`, or `target/debug/ferrosocket-server`.
pub fn server_binary() -> PathBuf {
    std::env::var_os("FERROSOCKET_SERVER_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/debug/ferrosocket-server"))
}

/// A browser the end-to-end tests run in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Browser {
    /// Debian's Chromium through chromedriver.
    Chromium,
    /// Firefox ESR through geckodriver.
    Firefox,
}

/// A headless browser session; the driver process is killed when dropped.
#[derive(Debug)]
pub struct BrowserSession {
    /// The WebDriver client.
    pub client: Client,
    browser: Browser,
    _driver: Child,
}

impl BrowserSession {
    /// Ends the WebDriver session (closing the browser) and stops the driver.
    pub async fn close(self) {
        let _ = self.client.close().await;
    }

    /// Forces garbage collection in the current page's process, as a test of object
    /// lifetimes needs (allocation pressure alone is no proof: Firefox kept even a plain
    /// object reachable only through a `WeakRef` through 30 s of it).
    ///
    /// - Chromium runs with `--js-flags=--expose-gc`: the page's `gc()`, three times, each
    ///   after a macrotask (so that finished jobs release their `WeakRef` targets).
    /// - Firefox has no `gc()` for pages. geckodriver runs with `--allow-system-access`, so
    ///   this switches to the browser's chrome context and asks every content process for a
    ///   garbage and a cycle collection (the `child-gc-request` and `child-cc-request`
    ///   notifications behind about:memory's buttons), three times with a pause, then
    ///   switches back to the page.
    ///
    /// Whether it worked is for the caller to check, with a control object nothing refers to.
    pub async fn collect_garbage(&self) {
        match self.browser {
            Browser::Chromium => {
                self.client
                    .execute_async(
                        "const done = arguments[0];
                         (async () => {
                           for (let i = 0; i < 3; i++) {
                             await new Promise((resolve) => setTimeout(resolve, 0));
                             gc();
                           }
                           await new Promise((resolve) => setTimeout(resolve, 0));
                         })().then(() => done(null), (error) => done(String(error)));",
                        vec![],
                    )
                    .await
                    .expect("gc() in Chromium");
            }
            Browser::Firefox => {
                self.client
                    .issue_cmd(MozContext("chrome"))
                    .await
                    .expect("switching geckodriver to the chrome context");
                for _ in 0..3 {
                    self.client
                        .execute(
                            "for (const topic of ['child-gc-request', 'child-cc-request', 'child-gc-request']) {
                               Services.obs.notifyObservers(null, topic);
                             }",
                            vec![],
                        )
                        .await
                        .expect("asking Firefox's content processes to collect");
                    // The requests are handled by the content process in its own time.
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
                self.client
                    .issue_cmd(MozContext("content"))
                    .await
                    .expect("switching geckodriver back to the content context");
            }
        }
    }
}

/// geckodriver's `POST /session/{id}/moz/context`: runs later scripts in the page
/// (`"content"`) or in the browser itself (`"chrome"`, which needs `--allow-system-access`).
#[derive(Debug)]
struct MozContext(&'static str);

impl fantoccini::wd::WebDriverCompatibleCommand for MozContext {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/moz/context",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({ "context": self.0 }).to_string()),
        )
    }
}

/// Starts `browser`'s WebDriver on a free port and opens a headless session.
pub async fn open_browser(browser: Browser) -> BrowserSession {
    let port = free_port();
    let (driver, capabilities) = match browser {
        Browser::Chromium => (
            Command::new(find_tool("chromedriver"))
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .expect("starting chromedriver"),
            json!({
                "goog:chromeOptions": {
                    "binary": "/usr/bin/chromium",
                    "args": [
                        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                        "--disable-background-networking", "--disable-component-update",
                        "--no-first-run", "--disable-sync", "--window-size=1024,768",
                        // `gc()` for BrowserSession::collect_garbage.
                        "--js-flags=--expose-gc"
                    ]
                }
            }),
        ),
        Browser::Firefox => (
            Command::new(find_tool("geckodriver"))
                // System access: the chrome context of BrowserSession::collect_garbage.
                .args([
                    "--port",
                    &port.to_string(),
                    "--log",
                    "error",
                    "--allow-system-access",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .expect("starting geckodriver"),
            json!({
                "moz:firefoxOptions": {
                    "binary": "/usr/bin/firefox-esr",
                    "args": ["-headless"],
                    "prefs": { "network.proxy.type": 0 }
                }
            }),
        ),
    };
    let capabilities = match capabilities {
        serde_json::Value::Object(map) => map,
        _ => unreachable!(),
    };
    let url = format!("http://127.0.0.1:{port}");
    let mut last_error = None;
    for _ in 0..100 {
        // WebDriver is plain HTTP on loopback: no TLS connector needed.
        match ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities.clone())
            .connect(&url)
            .await
        {
            Ok(client) => {
                return BrowserSession {
                    client,
                    browser,
                    _driver: driver,
                }
            }
            Err(err) => last_error = Some(err),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("could not start a {browser:?} session: {last_error:?}");
}

fn find_tool(name: &str) -> PathBuf {
    let home_bin =
        std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo/bin").join(name));
    ["/usr/bin"]
        .iter()
        .map(|dir| PathBuf::from(dir).join(name))
        .chain(home_bin)
        .find(|path| path.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free loopback port")
}
