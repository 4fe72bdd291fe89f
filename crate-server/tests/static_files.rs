//! Serving `www/`: the MIME types browsers insist on, and nothing outside the root.

mod common;

use std::path::PathBuf;

/// A `www/` of its own for each test, so parallel tests never rewrite each other's files.
fn fixture_www(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ferrosocket-www-{}-{test}", std::process::id()));
    std::fs::create_dir_all(dir.join("pkg")).unwrap();
    std::fs::write(dir.join("index.html"), "<!doctype html><title>t</title>").unwrap();
    std::fs::write(dir.join("pkg/app.js"), "export const x = 1;").unwrap();
    std::fs::write(dir.join("pkg/app_bg.wasm"), b"\0asm\x01\0\0\0").unwrap();
    dir
}

#[tokio::test]
async fn serves_index_modules_and_wasm_with_their_types() {
    let addr = common::start(fixture_www("types")).await;

    let index = common::get(addr, "/").await;
    assert_eq!(index.status, 200);
    assert_eq!(
        index.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(index.body, b"<!doctype html><title>t</title>");

    let module = common::get(addr, "/pkg/app.js").await;
    assert_eq!(
        module.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );

    let wasm = common::get(addr, "/pkg/app_bg.wasm").await;
    assert_eq!(wasm.status, 200);
    assert_eq!(wasm.header("content-type"), Some("application/wasm"));
    assert_eq!(wasm.body, b"\0asm\x01\0\0\0");
}

#[tokio::test]
async fn missing_files_are_404_and_escapes_are_refused() {
    let addr = common::start(fixture_www("escapes")).await;
    assert_eq!(common::get(addr, "/nope.js").await.status, 404);
    assert_eq!(common::get(addr, "/../Cargo.toml").await.status, 400);
    assert_eq!(common::get(addr, "/%2e%2e/Cargo.toml").await.status, 400);

    let post = common::raw_request(
        addr,
        &format!(
            "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        ),
    )
    .await;
    assert_eq!(post.status, 405);
}
