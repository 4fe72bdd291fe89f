//! The npm package (`scripts/package.sh` builds it into `crate-client/pkg`), used the way
//! its users would: packed with `npm pack`, installed into a fresh app with `npm install`,
//! imported as `import { FerroSocket, ReconnectingSocket } from "ferrosocket"` (or from
//! `"ferrosocket/sockets"`, the module without `ChatClient`) with no `init()` call, bundled
//! with esbuild or loaded unbundled by its path, and served by the real server to headless
//! Chromium and Firefox, which echo messages through `/echo`. Its TypeScript declarations
//! are checked with `tsc --strict`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fantoccini::{Client, Locator};
use ferrosocket_e2e::{open_browser, repo_root, start_server_serving, Browser};

/// A directory under the system's temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!(
            "ferrosocket-{label}-{}-{}",
            std::process::id(),
            unique()
        ));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Nanoseconds since the epoch: a value no page could know in advance.
fn unique() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// The built package: `FERROSOCKET_NPM_PACKAGE`, or `crate-client/pkg`.
fn package_dir() -> PathBuf {
    let dir = std::env::var_os("FERROSOCKET_NPM_PACKAGE")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("crate-client/pkg"));
    assert!(
        dir.join("index.js").is_file() && dir.join("package.json").is_file(),
        "{} holds no npm package: build it with scripts/package.sh (scripts/test.sh does)",
        dir.display()
    );
    dir
}

/// A tool installed by `npm ci` in `tests/interop` (esbuild, tsc).
fn interop_tool(name: &str) -> PathBuf {
    let path = repo_root()
        .join("tests/interop/node_modules/.bin")
        .join(name);
    assert!(
        path.is_file(),
        "{} is missing: run scripts/setup.sh (it runs `npm ci` in tests/interop)",
        path.display()
    );
    path
}

/// Runs `command` in `dir`, panicking with its output if it fails; returns its stdout.
fn run(dir: &Path, command: &mut Command) -> String {
    let output = command
        .current_dir(dir)
        .output()
        .unwrap_or_else(|err| panic!("cannot run {command:?}: {err}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Packs the package as `npm publish` would and installs the tarball into a new app in
/// `app` (no registry involved: the package has no dependencies).
fn install_package(work: &Path, app: &Path) {
    let packed = run(
        work,
        Command::new("npm")
            .arg("pack")
            .arg(package_dir())
            .args(["--pack-destination", "."]),
    );
    let tarball = packed
        .lines()
        .last()
        .expect("npm pack names the tarball")
        .trim();
    assert!(tarball.ends_with(".tgz"), "npm pack printed {packed:?}");
    std::fs::create_dir_all(app).unwrap();
    std::fs::write(
        app.join("package.json"),
        r#"{ "name": "app", "private": true, "type": "module" }"#,
    )
    .unwrap();
    run(
        app,
        Command::new("npm")
            .args(["install", "--offline", "--no-audit", "--no-fund"])
            .arg(work.join(tarball)),
    );
}

/// The app: both classes from the package's main entry, no `init()`. Each message carries
/// the page's token, so an echo can only be this page's.
const APP_JS: &str = r#"import { FerroSocket, ReconnectingSocket } from "ferrosocket";

const log = (line) => {
  const item = document.createElement("li");
  item.textContent = line;
  document.getElementById("log").append(item);
};
const token = new URLSearchParams(location.search).get("token");

const socket = new FerroSocket("/echo");
socket.onopen = () => socket.send(`FerroSocket ${token}`);
socket.onmessage = (event) => {
  log(`echoed: ${event.data}`);
  socket.close();
};
socket.onerror = () => log("FerroSocket error");

const reconnecting = new ReconnectingSocket("/echo");
reconnecting.onmessage = (message) => {
  log(`echoed: ${message.data}`);
  reconnecting.close();
};
reconnecting.send(`ReconnectingSocket ${token}`);
"#;

/// Shows every uncaught error as a line with class `error` (a module that fails to load
/// or evaluate reports it to the window). A file, like every script here: the server's
/// Content-Security-Policy allows no inline script.
const ERRORS_JS: &str = r#"addEventListener("error", (event) => {
  const item = document.createElement("li");
  item.className = "error";
  item.textContent = String(event.error?.message ?? event.message);
  document.getElementById("log").append(item);
});
"#;

/// A page that loads the module `script`, after the error reporter.
fn page(script: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>ferrosocket from npm</title></head>
<body>
<ul id="log"></ul>
<script src="/errors.js"></script>
<script type="module" src="{script}"></script>
</body>
</html>
"#
    )
}

/// The app on the `"ferrosocket/sockets"` entry, saying whether that entry exports
/// `ChatClient` (it must not: its module is built without it).
fn sockets_app_js() -> String {
    let app = APP_JS.replace(r#"from "ferrosocket""#, r#"from "ferrosocket/sockets""#);
    assert_ne!(app, APP_JS, "the app imports \"ferrosocket\"");
    app + r#"
import * as entry from "ferrosocket/sockets";
log(`ChatClient exported: ${"ChatClient" in entry}`);
"#
}

/// Builds the app four ways under `app`: `bundle.html` (esbuild, with the wasm copied
/// next to the bundle as the README says), `plain.html` (no bundler: the browser imports
/// the installed package's entry by its path), `no-wasm.html` (esbuild without the
/// copy, which must fail with a clear error), and `sockets.html` (esbuild, on the
/// `"ferrosocket/sockets"` entry, its own wasm copied).
fn build_app(app: &Path) {
    std::fs::write(app.join("app.js"), APP_JS).unwrap();
    std::fs::write(app.join("sockets-app.js"), sockets_app_js()).unwrap();
    let esbuild = interop_tool("esbuild");
    for (script, out) in [
        ("app.js", "bundle"),
        ("app.js", "no-wasm"),
        ("sockets-app.js", "sockets"),
    ] {
        run(
            app,
            Command::new(&esbuild).args([
                script,
                "--bundle",
                "--format=esm",
                &format!("--outfile={out}/app.js"),
            ]),
        );
    }
    for (wasm, out) in [
        ("node_modules/ferrosocket/ferrosocket_bg.wasm", "bundle"),
        (
            "node_modules/ferrosocket/sockets/ferrosocket_bg.wasm",
            "sockets",
        ),
    ] {
        std::fs::copy(app.join(wasm), app.join(out).join("ferrosocket_bg.wasm")).unwrap();
    }
    let plain = APP_JS.replace(
        r#"from "ferrosocket""#,
        r#"from "/node_modules/ferrosocket/index.js""#,
    );
    assert_ne!(plain, APP_JS, "the app imports \"ferrosocket\"");
    std::fs::write(app.join("plain.js"), plain).unwrap();
    std::fs::write(app.join("errors.js"), ERRORS_JS).unwrap();
    for (name, script) in [
        ("bundle.html", "/bundle/app.js"),
        ("no-wasm.html", "/no-wasm/app.js"),
        ("plain.html", "/plain.js"),
        ("sockets.html", "/sockets/app.js"),
    ] {
        std::fs::write(app.join(name), page(script)).unwrap();
    }
    // The server warns about a --www without one.
    std::fs::write(
        app.join("index.html"),
        "<!doctype html><title>npm app</title>",
    )
    .unwrap();
}

async fn log_lines(client: &Client) -> String {
    match client.find(Locator::Id("log")).await {
        Ok(log) => log.text().await.unwrap_or_default(),
        Err(err) => format!("(no log: {err})"),
    }
}

/// Waits until the page's log has a line (of `class`, if given) containing `text`.
async fn wait_for_line(client: &Client, class: Option<&str>, text: &str) {
    let class_test = class
        .map(|class| format!("[@class = '{class}']"))
        .unwrap_or_default();
    let found = client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::XPath(&format!(
            "//*[@id='log']/li{class_test}[contains(., '{text}')]"
        )))
        .await;
    if found.is_err() {
        panic!(
            "no line containing {text:?} on {}; the log shows:\n{}",
            client.current_url().await.unwrap(),
            log_lines(client).await
        );
    }
}

/// Loads `page` and checks that both classes echoed this visit's token, with no error.
async fn echoes_without_init(client: &Client, base_url: &str, page: &str) {
    let token = unique().to_string();
    client
        .goto(&format!("{base_url}/{page}?token={token}"))
        .await
        .unwrap();
    wait_for_line(client, None, &format!("echoed: FerroSocket {token}")).await;
    wait_for_line(client, None, &format!("echoed: ReconnectingSocket {token}")).await;
    let log = log_lines(client).await;
    assert!(
        client
            .find_all(Locator::Css("#log li.error"))
            .await
            .unwrap()
            .is_empty(),
        "{page} reported an error:\n{log}"
    );
}

async fn package_imported_without_init_echoes(browser: Browser) {
    let work = TempDir::new("npm-app");
    let app = work.0.join("app");
    install_package(&work.0, &app);
    build_app(&app);

    let server = start_server_serving(&app, "127.0.0.1:0", &[]).await;
    let session = open_browser(browser).await;
    let client = &session.client;

    echoes_without_init(client, &server.base_url, "bundle.html").await;
    echoes_without_init(client, &server.base_url, "plain.html").await;
    // The entry without ChatClient: the same classes work, ChatClient is not there, and
    // its module is the smaller one.
    echoes_without_init(client, &server.base_url, "sockets.html").await;
    wait_for_line(client, None, "ChatClient exported: false").await;
    let size = |path: &str| std::fs::metadata(app.join(path)).unwrap().len();
    let (sockets, full) = (
        size("sockets/ferrosocket_bg.wasm"),
        size("bundle/ferrosocket_bg.wasm"),
    );
    assert!(
        sockets * 4 < full * 3,
        "the module without ChatClient is {sockets} bytes, the whole one {full}"
    );

    // A bundle whose wasm was not copied says what is missing and how to fix it.
    client
        .goto(&format!("{}/no-wasm.html", server.base_url))
        .await
        .unwrap();
    wait_for_line(client, Some("error"), "ferrosocket_bg.wasm").await;
    let log = log_lines(client).await;
    assert!(
        log.contains("esbuild") && log.contains("ferrosocket/init"),
        "the error does not say how to fix it:\n{log}"
    );
    assert!(!log.contains("echoed"), "echoed without its wasm:\n{log}");

    session.close().await;
}

#[tokio::test]
async fn package_imported_without_init_echoes_in_chromium() {
    package_imported_without_init_echoes(Browser::Chromium).await;
}

#[tokio::test]
async fn package_imported_without_init_echoes_in_firefox() {
    package_imported_without_init_echoes(Browser::Firefox).await;
}

/// A strict TypeScript project that uses both entries. The `@ts-expect-error` lines make
/// declarations that degrade to `any` fail too (an unused expectation is an error).
const CHECK_TS: &str = r#"import { ChatClient, FerroSocket, ReconnectingSocket, type SocketData } from "ferrosocket";
import init, { initSync } from "ferrosocket/init";
import { FerroSocket as SocketOnly, ReconnectingSocket as ReconnectingOnly } from "ferrosocket/sockets";
// @ts-expect-error: the module without ChatClient does not declare it
import { ChatClient as NotThere } from "ferrosocket/sockets";
import initSockets from "ferrosocket/sockets/init";

const socket: FerroSocket = new FerroSocket("/echo", ["echo.v1"]);
socket.binaryType = "arraybuffer";
socket.addEventListener("message", (event: MessageEvent) => console.log(event.data));
socket.onclose = (event) => {
  const code: number = event.code;
  const clean: boolean = event.wasClean;
  console.log(code, clean);
};
const data: SocketData = new Uint8Array([1, 2]);
socket.send(data);
const open: boolean = socket.readyState === FerroSocket.OPEN && socket.OPEN === 1;
const reconnecting = new ReconnectingSocket("/echo", { maxDelay: 10_000 });
const outcome: "sent" | "queued" | "queued-dropping-oldest" | "rejected" = reconnecting.send("hello");
// partysocket's constructor shape and option names.
const party = new ReconnectingSocket(() => Promise.resolve("/echo"), ["echo.v1"], { maxRetries: 3, connectionTimeout: 1000, startClosed: true });
party.reconnect();
reconnecting.onclose = (event) => console.log(event.code + 1, event.wasClean);
reconnecting.addEventListener("message", (event) => console.log(event.data));
reconnecting.addEventListener("reconnecting", (event) => console.log(event.attempt + event.delay));
reconnecting.addEventListener("custom-from-a-newer-core", (event: Event) => console.log(event.type));
const state: 0 | 1 | 2 | 3 = reconnecting.readyState;
const retries: number = reconnecting.retryCount;
reconnecting.binaryType = "arraybuffer";
reconnecting.close(4000, "bye");
const chat = new ChatClient("/chat", { nick: "ada" });
chat.addEventListener("message", (event) => console.log(event.room, event.from, event.text, event.seq + 1));
chat.addEventListener("failed", (event) => console.log(event.id, event.reason));
const line: { id: string } = chat.send("rust", "hi");
console.log(outcome, state, retries, line);
const ready: Promise<unknown> = init();
console.log(open, ready, typeof initSync);
console.log(new SocketOnly("/echo").readyState, new ReconnectingOnly("/echo").retryCount, initSockets);

// @ts-expect-error: send takes string | ArrayBuffer | ArrayBufferView | Blob
socket.send(42);
// @ts-expect-error: a close code is a number
socket.close("1000");
// @ts-expect-error: a reconnecting event's delay is a number
reconnecting.addEventListener("reconnecting", (event) => event.delay.toUpperCase());
// @ts-expect-error: a chat message has no data field
chat.addEventListener("message", (event) => event.data);
// @ts-expect-error: the main entry has no default export: it initialised itself
import("ferrosocket").then((module) => module.default);
"#;

/// A strict project's settings, for `module` and `moduleResolution` (the same two
/// values: `esnext`+`bundler` is what bundler users pick, `nodenext` follows `exports` as
/// Node does).
fn tsconfig(module: &str, resolution: &str) -> String {
    format!(
        r#"{{
  "compilerOptions": {{
    "strict": true,
    "noEmit": true,
    "target": "es2022",
    "module": "{module}",
    "moduleResolution": "{resolution}",
    "lib": ["es2022", "dom"]
  }},
  "files": ["check.ts"]
}}
"#
    )
}

#[test]
fn package_types_check_under_tsc_strict() {
    let work = TempDir::new("npm-types");
    let app = work.0.join("app");
    install_package(&work.0, &app);
    std::fs::write(app.join("check.ts"), CHECK_TS).unwrap();
    for (module, resolution) in [("esnext", "bundler"), ("nodenext", "nodenext")] {
        std::fs::write(app.join("tsconfig.json"), tsconfig(module, resolution)).unwrap();
        run(&app, Command::new(interop_tool("tsc")).args(["-p", "."]));
    }
}
