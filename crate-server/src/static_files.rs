//! Serving the files under the `--www` directory, with the MIME types browsers require
//! (`application/wasm` for `WebAssembly.instantiateStreaming`, `text/javascript` for ES
//! modules).

use std::path::{Component, Path, PathBuf};

use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use crate::http::{text, Body};

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
    let mut path = root.join(relative);
    if path.is_dir() {
        path.push("index.html");
    }
    let contents = match tokio::fs::read(&path).await {
        Ok(contents) => contents,
        Err(_) => {
            return text(
                StatusCode::NOT_FOUND,
                format!("{} not found\n", req.uri().path()),
            )
        }
    };
    let len = contents.len();
    let body = if req.method() == Method::HEAD {
        Full::default()
    } else {
        Full::new(contents.into())
    };
    Response::builder()
        .header(header::CONTENT_TYPE, content_type(&path))
        .header(header::CONTENT_LENGTH, len)
        // A development server: always revalidate, so a rebuilt wasm package is picked up.
        .header(header::CACHE_CONTROL, "no-cache")
        .header("x-content-type-options", "nosniff")
        .body(body)
        .expect("static headers are valid")
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

pub(crate) fn percent_decode(input: &str) -> Option<String> {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
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
}
