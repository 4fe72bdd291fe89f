//! Entry points for the fuzz targets in `fuzz/` (not a stable API): the parsers that read
//! untrusted input before a WebSocket exists.

use std::path::{Component, PathBuf};

use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::Method;

/// Maps a request path to a file path below the root, as the static file server does;
/// panics if the result could escape the root.
pub fn static_path(url_path: &str) -> Option<PathBuf> {
    let path = crate::static_files::safe_relative_path(url_path)?;
    assert!(
        path.components().all(|c| matches!(c, Component::Normal(_))),
        "{url_path:?} escaped the root as {path:?}"
    );
    Some(path)
}

/// Checks a handshake made of `(name, value)` header pairs, as the server does.
pub fn handshake(pairs: &[(&[u8], &[u8])]) -> bool {
    let mut headers = HeaderMap::new();
    for (name, value) in pairs {
        if let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
        {
            headers.append(name, value);
        }
    }
    crate::upgrade::check(&Method::GET, &headers)
}

/// Parses an `/echo` query string.
pub fn echo_query(query: &str) -> bool {
    crate::echo::EchoOptions::from_query(Some(query)).is_ok()
}
