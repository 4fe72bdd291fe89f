//! Resolving the URL a caller passes into the `ws:`/`wss:` URL the browser needs.

use crate::error::OpenError;

/// Resolves `url` against the base URL of the global scope — the page's, or a worker's
/// script location — and maps `http:`/`https:` to `ws:`/`wss:`, the way browsers since 2023
/// do in the `WebSocket` constructor.
pub(crate) fn resolve(url: &str) -> Result<String, OpenError> {
    let parsed = match base_url() {
        Some(base) => web_sys::Url::new_with_base(url, &base),
        None => web_sys::Url::new(url),
    }
    .map_err(|_| OpenError::InvalidUrl {
        url: url.to_owned(),
    })?;
    match parsed.protocol().as_str() {
        "ws:" | "wss:" => {}
        "http:" => parsed.set_protocol("ws:"),
        "https:" => parsed.set_protocol("wss:"),
        other => {
            return Err(OpenError::UnsupportedScheme {
                url: url.to_owned(),
                scheme: other.to_owned(),
            })
        }
    }
    if !parsed.hash().is_empty() || url.contains('#') {
        return Err(OpenError::Fragment {
            url: url.to_owned(),
        });
    }
    Ok(parsed.href())
}

/// The document's base URL (which honours `<base href>`) in a page; the script's location
/// in a worker, which has no `window` and no document.
fn base_url() -> Option<String> {
    let global = js_sys::global();
    let property = |object: &wasm_bindgen::JsValue, name: &str| {
        js_sys::Reflect::get(object, &name.into())
            .ok()
            .filter(|value| !value.is_undefined() && !value.is_null())
    };
    property(&global, "document")
        .and_then(|document| property(&document, "baseURI"))
        .or_else(|| property(&global, "location").and_then(|location| property(&location, "href")))
        .and_then(|href| href.as_string())
}
