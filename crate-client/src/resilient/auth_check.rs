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
use wasm_bindgen_futures::JsFuture;

// The request in JavaScript: one import instead of a dozen `Reflect` calls, each with its
// error path, in the module.
#[wasm_bindgen(inline_js = r#"
export async function refusedToken(url, ms) {
  const init = { cache: "no-store" };
  // `AbortSignal.timeout` where the browser has it (all current ones).
  if (typeof AbortSignal === "function" && typeof AbortSignal.timeout === "function") {
    init.signal = AbortSignal.timeout(ms);
  }
  const response = await fetch(url, init);
  return response.status === 401 ? await response.text() : undefined;
}
"#)]
extern "C" {
    /// A `GET` of `url` through the global `fetch` (a page's or a worker's), given up after
    /// `ms`: resolves to the body of a 401, to `undefined` for any other status, and
    /// rejects when there is no answer.
    #[wasm_bindgen(js_name = refusedToken)]
    fn refused_token(url: &str, ms: u32) -> js_sys::Promise;
}

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
    let Some(url) = check_url(ws_url) else {
        return Verdict::NotTheToken;
    };
    let answer = JsFuture::from(refused_token(&url, CHECK_TIMEOUT_MS)).await;
    match answer.ok().and_then(|body| body.as_string()) {
        Some(body) if body.trim().is_empty() => {
            Verdict::Refused("the server refused the token (HTTP 401)".to_owned())
        }
        Some(body) => Verdict::Refused(body.trim().to_owned()),
        None => Verdict::NotTheToken,
    }
}
