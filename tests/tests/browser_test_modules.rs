//! Every browser test binary of crate-client imports at most four JavaScript modules (the
//! wasm-bindgen snippets of the library, of tests/common and of the test itself).
//!
//! Why four: `wasm-pack test` serves a test's page from wasm-bindgen-test-runner's own HTTP
//! server (tiny_http 0.12), which gives each keep-alive connection a thread of a pool that
//! starts with four. The page's modules are fetched in one burst, one connection per module
//! in flight. The pool spawns a thread for a new connection only when none is idle, and counts
//! a thread it has just woken as still idle: a fifth connection accepted before the thread
//! woken for the fourth has taken it is queued with no thread to serve it. Chromium keeps the
//! four others open, so the module never arrives, the page never loads, and after 300 s
//! ChromeDriver reports "Timed out receiving message from renderer" with the page still at
//! "Loading scripts...". With five modules the partysocket differential hung that way in
//! about one Chromium run in three. With at most four, each connection's notification wakes
//! a thread of its own among the four the pool starts with (nothing else connects to that
//! server before the page loads).

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use ferrosocket_e2e::repo_root;

/// The most modules a test page may import (tiny_http's initial pool size).
const MAX_MODULES: usize = 4;

/// The JS modules the Rust source `text` imports: each `module = "..."` or
/// `raw_module = "..."` path, and each `inline_js` snippet (its own file).
fn modules_in(text: &str, file: &str) -> BTreeSet<String> {
    let mut modules = BTreeSet::new();
    for key in ["module = \"", "raw_module = \""] {
        for (at, _) in text.match_indices(key) {
            // `raw_module = "` also contains `module = "`; the path is the same either way.
            let rest = &text[at + key.len()..];
            if let Some(end) = rest.find('"') {
                modules.insert(rest[..end].to_owned());
            }
        }
    }
    for (n, _) in text.match_indices("inline_js").enumerate() {
        modules.insert(format!("{file}: inline_js #{n}"));
    }
    modules
}

fn modules_under(dir: &Path) -> BTreeSet<String> {
    let mut modules = BTreeSet::new();
    for entry in fs::read_dir(dir).expect("read a source folder") {
        let path = entry.expect("a folder entry").path();
        if path.is_dir() {
            modules.extend(modules_under(&path));
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            let text = fs::read_to_string(&path).expect("read a source file");
            modules.extend(modules_in(&text, &path.display().to_string()));
        }
    }
    modules
}

#[test]
fn every_browser_test_page_imports_at_most_four_modules() {
    let client = repo_root().join("crate-client");
    let library = modules_under(&client.join("src"));
    let common = modules_under(&client.join("tests/common"));
    let mut binaries = 0;
    let mut too_many = Vec::new();
    for entry in fs::read_dir(client.join("tests")).expect("read crate-client/tests") {
        let path = entry.expect("a folder entry").path();
        if path.extension().is_none_or(|ext| ext != "rs") {
            continue;
        }
        binaries += 1;
        let text = fs::read_to_string(&path).expect("read a test binary's source");
        let mut modules = library.clone();
        if text.contains("mod common;") {
            modules.extend(common.iter().cloned());
        }
        modules.extend(modules_in(&text, &path.display().to_string()));
        if modules.len() > MAX_MODULES {
            too_many.push(format!("{}: {modules:?}", path.display()));
        }
    }
    assert!(binaries > 0, "no test binaries found in crate-client/tests");
    assert!(
        too_many.is_empty(),
        "these browser test pages import more than {MAX_MODULES} JS modules, which can hang \
         the page load in Chromium (see this file's header); merge modules:\n{}",
        too_many.join("\n")
    );
}
