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

#[tokio::test]
async fn symlinks_and_dotfiles_are_never_served() {
    let www = fixture_www("hidden");
    let outside = std::env::temp_dir().join(format!("ferrosocket-secret-{}", std::process::id()));
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret.txt"), "the secret").unwrap();
    let _ = std::fs::remove_file(www.join("link.txt"));
    let _ = std::fs::remove_file(www.join("linkdir"));
    std::os::unix::fs::symlink(outside.join("secret.txt"), www.join("link.txt")).unwrap();
    std::os::unix::fs::symlink(&outside, www.join("linkdir")).unwrap();
    std::fs::write(www.join(".env"), "the secret").unwrap();
    std::fs::create_dir_all(www.join(".git")).unwrap();
    std::fs::write(www.join(".git/config"), "the secret").unwrap();
    std::fs::create_dir_all(www.join("pkg/.cache")).unwrap();
    std::fs::write(www.join("pkg/.cache/x.js"), "the secret").unwrap();
    let addr = common::start(www).await;

    for path in [
        "/link.txt",
        "/linkdir/secret.txt",
        "/linkdir/",
        "/.env",
        "/%2eenv",
        "/.git/config",
        "/pkg/.cache/x.js",
        "/./.env",
    ] {
        let response = common::get(addr, path).await;
        assert_eq!(response.status, 404, "{path} must not be served");
        assert!(
            !String::from_utf8_lossy(&response.body).contains("the secret"),
            "{path} leaked"
        );
    }
    // The ordinary files next to them still are.
    assert_eq!(common::get(addr, "/pkg/app.js").await.status, 200);
}

#[tokio::test]
async fn a_large_file_is_served_intact_and_head_gives_its_length() {
    let www = fixture_www("large");
    // 5 MiB that no two offsets confuse: a chunk sent twice or out of order would show.
    let contents: Vec<u8> = (0..5 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    std::fs::write(www.join("pkg/big_bg.wasm"), &contents).unwrap();
    let addr = common::start(www).await;

    let response = common::get(addr, "/pkg/big_bg.wasm").await;
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("content-length"),
        Some(contents.len().to_string().as_str())
    );
    assert!(response.body == contents, "the body differs from the file");

    let head = common::raw_request(
        addr,
        &format!("HEAD /pkg/big_bg.wasm HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("content-length"),
        Some(contents.len().to_string().as_str())
    );
    assert!(head.body.is_empty());
}

/// The repository's own `www/`.
fn repository_www() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../www")
}

#[tokio::test]
async fn pages_carry_a_content_security_policy_and_the_security_headers() {
    let addr = common::start(fixture_www("headers")).await;
    for path in ["/", "/pkg/app.js", "/pkg/app_bg.wasm"] {
        let response = common::get(addr, path).await;
        assert_eq!(response.status, 200, "{path}");
        let csp = response
            .header("content-security-policy")
            .unwrap_or_else(|| panic!("{path} has no Content-Security-Policy"));
        for directive in [
            "default-src 'self'",
            "script-src 'self' 'wasm-unsafe-eval'",
            "frame-ancestors 'none'",
            "object-src 'none'",
        ] {
            assert!(csp.contains(directive), "{path}: {csp} lacks {directive}");
        }
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(response.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(response.header("referrer-policy"), Some("same-origin"));
        assert_eq!(response.header("x-frame-options"), Some("DENY"));
    }
}

#[tokio::test]
async fn the_favicon_is_served_and_every_page_links_it_and_has_no_inline_script() {
    let addr = common::start(repository_www()).await;
    let icon = common::get(addr, "/favicon.svg").await;
    assert_eq!(icon.status, 200);
    assert_eq!(icon.header("content-type"), Some("image/svg+xml"));
    assert!(icon.body.starts_with(b"<svg"));

    let mut pages = 0;
    for entry in std::fs::read_dir(repository_www()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("html") {
            continue;
        }
        pages += 1;
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let page = common::get(addr, &format!("/{name}")).await;
        assert_eq!(page.status, 200, "{name}");
        let html = String::from_utf8(page.body).unwrap();
        assert!(
            html.contains(r#"<link rel="icon" href="favicon.svg""#),
            "{name} does not link the favicon"
        );
        // The policy forbids inline scripts: every script must come from a file, and
        // that file must be served.
        for script in html.split("<script").skip(1) {
            let tag = &script[..script.find('>').unwrap()];
            let src = tag
                .split("src=\"")
                .nth(1)
                .unwrap_or_else(|| panic!("{name} has an inline script, which the CSP blocks"));
            let src = &src[..src.find('"').unwrap()];
            assert_eq!(
                common::get(addr, &format!("/{src}")).await.status,
                200,
                "{name}: {src}"
            );
        }
    }
    assert!(pages >= 4, "found only {pages} pages");
}
