//! Why did an attempt fail before opening? A browser cannot tell: a handshake refused with
//! HTTP 401 looks like any lost connection (1006). So when an attempt that carried a token
//! fails before opening, one plain `GET` of the same URL (its `ws:` scheme made `http:`,
//! token included, no upgrade headers) asks the server: 401 means the token was refused,
//! with the reason as the body; anything else (426 for a good token, no answer at all)
//! means it was not the token.
//!
//! Cost: one extra request per failed attempt, only with a token. The request is a
//! "simple" cross-origin request (no custom header, so no preflight); the server answers
//! its 401 with `Access-Control-Allow-Origin` only for origins it accepts WebSockets from,
//! so another origin's page learns nothing — and its failures count as "not the token".

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// The `http:`/`https:` URL of the same endpoint as `ws_url`, an absolute `ws:`/`wss:` URL
/// (a socket's `url`).
pub(super) fn check_url(ws_url: &str) -> Option<String> {
    let (scheme, rest) = if let Some(rest) = ws_url.strip_prefix("ws:") {
        ("http:", rest)
    } else {
        ("https:", ws_url.strip_prefix("wss:")?)
    };
    let mut url = String::with_capacity(scheme.len() + rest.len());
    url.push_str(scheme);
    url.push_str(rest);
    Some(url)
}

/// How long the answer may take before the failure counts as "not the token": a server
/// that stalls must not stall the reconnecting too.
const CHECK_TIMEOUT_MS: u32 = 10_000;

/// Asks the server about the attempt that used `ws_url` with a `GET` over HTTP, through
/// the global `fetch` (a page's or a worker's): why it refused the token (HTTP 401: the
/// trimmed body, or a general reason for an empty one), or `None` when the failure was not
/// about the token (any other answer, or none).
pub(super) async fn refusal(ws_url: &str) -> Option<String> {
    let url = check_url(ws_url)?;
    let init = js_sys::Object::new();
    js_sys::Reflect::set(&init, &"cache".into(), &"no-store".into()).ok()?;
    // `AbortSignal.timeout` where the browser has it (all current ones).
    if let Ok(signal) = AbortSignal::timeout(CHECK_TIMEOUT_MS) {
        js_sys::Reflect::set(&init, &"signal".into(), &signal).ok()?;
    }
    let response = JsFuture::from(fetch(&url, &init).ok()?).await.ok()?;
    let response: &Response = response.unchecked_ref();
    if response.status() != 401 {
        return None;
    }
    let body = JsFuture::from(response.text().ok()?).await.ok()?;
    // Trimmed by JavaScript's `trim`, whose whitespace is Rust's (plus U+FEFF).
    let body = String::from(body.unchecked_ref::<js_sys::JsString>().trim());
    Some(if body.is_empty() {
        "the server refused the token (HTTP 401)".to_owned()
    } else {
        body
    })
}

// Typed bindings to the globals (in the glue module, like web-sys's: no snippet of ours).
#[wasm_bindgen]
extern "C" {
    /// The global `fetch`, a page's or a worker's.
    #[wasm_bindgen(catch)]
    fn fetch(url: &str, init: &js_sys::Object) -> Result<js_sys::Promise, JsValue>;

    type AbortSignal;
    /// Throws where the browser has no `AbortSignal.timeout`.
    #[wasm_bindgen(static_method_of = AbortSignal, catch)]
    fn timeout(ms: u32) -> Result<JsValue, JsValue>;

    type Response;
    #[wasm_bindgen(method, getter)]
    fn status(this: &Response) -> u16;
    #[wasm_bindgen(method, catch)]
    fn text(this: &Response) -> Result<js_sys::Promise, JsValue>;
}
