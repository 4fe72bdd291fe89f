//! Resolving the URL a caller passes into the `ws:`/`wss:` URL the browser needs.

use crate::error::OpenError;

/// Resolves `url` against the base URL of the global scope — the page's, or a worker's
/// script location — and maps `http:`/`https:` to `ws:`/`wss:`, the way browsers since 2023
/// do in the `WebSocket` constructor.
pub(crate) fn resolve(url: &str) -> Result<String, OpenError> {
    let Some(href) = absolute(url) else {
        return Err(OpenError::InvalidUrl {
            url: url.to_owned(),
        });
    };
    if !(href.starts_with("ws:") || href.starts_with("wss:")) {
        // An absolute URL always starts with its scheme and a colon.
        let scheme = href.split_inclusive(':').next().unwrap_or_default();
        return Err(OpenError::UnsupportedScheme {
            url: url.to_owned(),
            scheme: scheme.to_owned(),
        });
    }
    if href.contains('#') || url.contains('#') {
        return Err(OpenError::Fragment {
            url: url.to_owned(),
        });
    }
    Ok(href)
}

// Parsing in JavaScript: one import that returns one string, instead of a `URL` object
// whose scheme, fragment and text each cross the boundary as a string of their own.
#[wasm_bindgen::prelude::wasm_bindgen(inline_js = r#"
export function absoluteUrl(url) {
  // A page's base URL honours <base href>; a worker has no document, only its location.
  const base = globalThis.document?.baseURI ?? globalThis.location?.href;
  let parsed;
  try {
    parsed = base === undefined ? new URL(url) : new URL(url, base);
  } catch {
    return undefined;
  }
  if (parsed.protocol === "http:") parsed.protocol = "ws:";
  else if (parsed.protocol === "https:") parsed.protocol = "wss:";
  return parsed.href;
}
"#)]
extern "C" {
    /// `url` resolved against the global scope's base URL, `http:`/`https:` made
    /// `ws:`/`wss:`; `None` when it cannot be parsed.
    #[wasm_bindgen(js_name = absoluteUrl)]
    fn absolute(url: &str) -> Option<String>;
}
