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

use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// What the server said about the token of a failed attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Verdict {
    /// HTTP 401: the token was refused, for this reason.
    Refused(String),
    /// Anything else: the failure was not about the token.
    NotTheToken,
}

/// The `http:`/`https:` URL of the same endpoint as `ws_url`.
pub(super) fn check_url(ws_url: &str) -> Option<String> {
    let absolute = crate::url::resolve(ws_url).ok()?;
    let (scheme, rest) = if let Some(rest) = absolute.strip_prefix("ws:") {
        ("http:", rest)
    } else {
        ("https:", absolute.strip_prefix("wss:")?)
    };
    Some([scheme, rest].concat())
}

/// How long the answer may take before the failure counts as "not the token": a server
/// that stalls must not stall the reconnecting too.
const CHECK_TIMEOUT_MS: u32 = 10_000;

/// Asks the server about the attempt that used `ws_url`.
pub(super) async fn ask(ws_url: &str) -> Verdict {
    match fetch_status(ws_url).await {
        Ok((401, body)) => Verdict::Refused(if body.trim().is_empty() {
            "the server refused the token (HTTP 401)".to_owned()
        } else {
            body.trim().to_owned()
        }),
        _ => Verdict::NotTheToken,
    }
}

/// The status and (for a 401) body of a `GET` of `ws_url` over HTTP, through the global
/// `fetch` (a page's or a worker's).
async fn fetch_status(ws_url: &str) -> Result<(u16, String), JsValue> {
    let url = check_url(ws_url).ok_or_else(|| JsValue::from_str("no HTTP URL"))?;
    let global = js_sys::global();
    let fetch: js_sys::Function = js_sys::Reflect::get(&global, &"fetch".into())?.dyn_into()?;
    let init = js_sys::Object::new();
    js_sys::Reflect::set(&init, &"cache".into(), &"no-store".into())?;
    // `AbortSignal.timeout` where the browser has it (all current ones).
    let abort_signal = js_sys::Reflect::get(&global, &"AbortSignal".into())?;
    if let Ok(timeout) = js_sys::Reflect::get(&abort_signal, &"timeout".into())
        .and_then(|f| f.dyn_into::<js_sys::Function>())
    {
        let signal = timeout.call1(&abort_signal, &CHECK_TIMEOUT_MS.into())?;
        js_sys::Reflect::set(&init, &"signal".into(), &signal)?;
    }
    let promise: js_sys::Promise = fetch.call2(&global, &url.into(), &init)?.dyn_into()?;
    let response = JsFuture::from(promise).await?;
    let status = js_sys::Reflect::get(&response, &"status".into())?
        .as_f64()
        .unwrap_or(0.0) as u16;
    if status != 401 {
        return Ok((status, String::new()));
    }
    let text: js_sys::Function = js_sys::Reflect::get(&response, &"text".into())?.dyn_into()?;
    let body: js_sys::Promise = text.call0(&response)?.dyn_into()?;
    let body = JsFuture::from(body).await?.as_string().unwrap_or_default();
    Ok((status, body))
}
