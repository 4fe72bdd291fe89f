//! Serving the files under the `--www` directory, with the MIME types browsers require
//! (`application/wasm` for `WebAssembly.instantiateStreaming`, `text/javascript` for ES
//! modules) and the security headers of pages.
//!
//! Files are streamed in chunks, never read whole; every file call runs off the async
//! workers; symbolic links (at any step below the root) and dotfiles are never served, so
//! a link or a `.env` left in `www/` does not leak what it points to.

use std::fs::File;
use std::io;
use std::path::{Component, Path, PathBuf};

use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use crate::http_parts::{add_page_headers, percent_decode, text, Body};

/// Answers a GET or HEAD for a file below `root`; `/` and directories serve `index.html`.
pub(crate) async fn serve<B>(root: &Path, req: &Request<B>) -> Response<Body> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut res = text(
            StatusCode::METHOD_NOT_ALLOWED,
            "only GET and HEAD are served\n",
        );
        res.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return res;
    }
    let Some(relative) = safe_relative_path(req.uri().path()) else {
        return text(StatusCode::BAD_REQUEST, "malformed path\n");
    };
    let not_found = || {
        text(
            StatusCode::NOT_FOUND,
            format!("{} not found\n", req.uri().path()),
        )
    };
    if is_hidden(&relative) {
        return not_found();
    }
    let root = root.to_owned();
    let opened = tokio::task::spawn_blocking(move || open_below(&root, &relative)).await;
    let Ok(Ok((file, len, path))) = opened else {
        return not_found();
    };
    let body = if req.method() == Method::HEAD {
        Body::empty()
    } else {
        Body::file(tokio::fs::File::from_std(file), len)
    };
    let mut response = Response::builder()
        .header(header::CONTENT_TYPE, content_type(&path))
        .header(header::CONTENT_LENGTH, len)
        // A development server: always revalidate, so a rebuilt wasm package is picked up.
        .header(header::CACHE_CONTROL, "no-cache")
        .body(body)
        .expect("static headers are valid");
    add_page_headers(&mut response);
    response
}

/// Whether any part of the path starts with a dot (`.env`, `.git/config`): such files are
/// an editor's or a tool's, never the site's.
fn is_hidden(relative: &Path) -> bool {
    relative
        .components()
        .any(|part| part.as_os_str().as_encoded_bytes().starts_with(b"."))
}

/// Opens `relative` below `root` as a regular file, refusing a symbolic link at any step
/// below the root (the root itself may be one); a directory means its `index.html`.
/// Blocking: run it with `spawn_blocking`.
fn open_below(root: &Path, relative: &Path) -> io::Result<(File, u64, PathBuf)> {
    let mut path = root.to_path_buf();
    let mut is_dir = std::fs::metadata(&path)?.is_dir();
    for part in relative.components() {
        path.push(part);
        let metadata = std::fs::symlink_metadata(&path)?;
        if metadata.file_type().is_symlink() {
            return Err(io::Error::new(io::ErrorKind::NotFound, "a symbolic link"));
        }
        is_dir = metadata.is_dir();
    }
    if is_dir {
        path.push("index.html");
        if std::fs::symlink_metadata(&path)?.file_type().is_symlink() {
            return Err(io::Error::new(io::ErrorKind::NotFound, "a symbolic link"));
        }
    }
    let file = File::open(&path)?;
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            "not a regular file",
        ));
    }
    Ok((file, metadata.len(), path))
}

/// Percent-decodes a URL path and keeps it below the root: `None` for `..`, absolute
/// components, NUL bytes or invalid UTF-8.
pub(crate) fn safe_relative_path(url_path: &str) -> Option<PathBuf> {
    let decoded = percent_decode(url_path)?;
    if decoded.contains('\0') || decoded.contains('\\') {
        return None;
    }
    let mut relative = PathBuf::new();
    for component in Path::new(decoded.trim_start_matches('/')).components() {
        match component {
            Component::Normal(part) => relative.push(part),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(relative)
}

fn content_type(path: &Path) -> &'static str {
    let extension = path
        .extension()
        .and_then(|ext| ext.to_str())
        .map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("json" | "map") => "application/json",
        Some("ts") => "text/plain; charset=utf-8",
        Some("txt" | "md") => "text/plain; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_below_the_root() {
        assert_eq!(safe_relative_path("/"), Some(PathBuf::new()));
        assert_eq!(
            safe_relative_path("/pkg/a%20b.js"),
            Some(PathBuf::from("pkg/a b.js"))
        );
        for bad in [
            "/../etc/passwd",
            "/pkg/../../x",
            "/%2e%2e/x",
            "/a%00b",
            "/%zz",
            "/a%5c..%5cb",
        ] {
            assert_eq!(safe_relative_path(bad), None, "{bad} must be rejected");
        }
    }

    #[test]
    fn wasm_and_modules_get_the_types_browsers_require() {
        assert_eq!(content_type(Path::new("pkg/x_bg.wasm")), "application/wasm");
        assert!(content_type(Path::new("pkg/x.js")).starts_with("text/javascript"));
        assert!(content_type(Path::new("index.HTML")).starts_with("text/html"));
    }

    #[test]
    fn dotfiles_are_hidden_wherever_they_are() {
        assert!(is_hidden(Path::new(".env")));
        assert!(is_hidden(Path::new("pkg/.git/config")));
        assert!(!is_hidden(Path::new("pkg/app.js")));
        assert!(!is_hidden(Path::new("")));
    }
}
