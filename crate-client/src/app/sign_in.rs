//! The chat page's sign-in step, before it connects: a token from the page's address
//! (`?token=...`), or, when the server offers `--auth-demo`, a small form that gets one
//! from `POST /auth/demo`.
//!
//! A browser's WebSocket learns nothing of a refused handshake (it sees 1006, and would
//! reconnect forever), so the page first asks the server what `/chat` would say:
//! `GET /auth/config` (are tokens off, optional or required; is there a demo) and
//! `GET /auth/check` with the token (its nickname, or why it would be refused). A refused
//! token is explained on the page, and no connection is attempted with it.
//!
//! The token reaches `/chat` through the session's token provider (`ResilientOptions::
//! token`): the address's token as it is; the demo's fetched anew for the same nickname
//! before every attempt and whenever the server warns that it expires, so a demo session
//! refreshes over the open connection and outlives its tokens.

use gloo_events::{EventListener, EventListenerOptions};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{HtmlElement, HtmlFormElement, HtmlInputElement};

use super::dom::by_id;
use super::{start_chat_as, ChatApp};
use crate::resilient::TokenProvider;

/// What `GET /auth/config` said.
struct AuthConfig {
    /// `"off"`, `"optional"` or `"required"`.
    tokens: String,
    /// Whether `POST /auth/demo` issues tokens.
    demo: bool,
}

/// Starts the chat page against `url` (e.g. `"/chat"`), signing in first when the server
/// wants a token: resolves to the running page once connected (after the sign-in form,
/// if one is shown), or `undefined` when the browser has no WebSocket.
#[wasm_bindgen(js_name = startChatPage)]
pub async fn start_chat_page(url: String) -> Result<Option<ChatApp>, JsValue> {
    let config = auth_config().await;
    if config.tokens == "off" {
        return start_chat_as(&url, None);
    }
    let mut message = match page_token() {
        Some(token) => match check(&token).await {
            Ok(_) => return start_chat_as(&url, Some(TokenProvider::fixed(token))),
            Err(reason) => {
                format!("The sign-in token in this page's address was refused: {reason}")
            }
        },
        None if config.tokens == "optional" => return start_chat_as(&url, None),
        None => "This chat is for signed-in users.".to_owned(),
    };
    if !config.demo {
        message.push_str(
            " Open it from your application, which adds a valid ?token=… to the address.",
        );
    }
    let form: HtmlFormElement = by_id("sign-in-form");
    show(&message, config.demo);
    if !config.demo {
        return Ok(None);
    }
    loop {
        submitted(&form).await;
        let nick = by_id::<HtmlInputElement>("sign-in-nick").value();
        let nick = nick.trim().to_owned();
        let result = match demo_token(&nick).await {
            Ok(token) => check(&token).await,
            Err(reason) => Err(reason),
        };
        match result {
            Ok(_) => {
                by_id::<HtmlElement>("sign-in").set_hidden(true);
                by_id::<HtmlElement>("app").set_hidden(false);
                let provider = TokenProvider::from_fn(move || {
                    let nick = nick.clone();
                    async move { demo_token(&nick).await }
                });
                return start_chat_as(&url, Some(provider));
            }
            Err(reason) => show(&format!("Could not sign in: {reason}"), true),
        }
    }
}

/// Shows the sign-in panel (and its form, for a demo server) instead of the chat.
fn show(message: &str, form: bool) {
    by_id::<HtmlElement>("app").set_hidden(true);
    by_id::<HtmlElement>("sign-in").set_hidden(false);
    by_id::<HtmlElement>("sign-in-message").set_text_content(Some(message));
    by_id::<HtmlElement>("sign-in-form").set_hidden(!form);
    let state: HtmlElement = by_id("connection-state");
    let _ = state.set_attribute("data-state", "signed-out");
    state.set_text_content(Some("Not signed in"));
    if form {
        let _ = by_id::<HtmlElement>("sign-in-nick").focus();
    }
}

/// The `token` parameter of the page's address, if any.
fn page_token() -> Option<String> {
    let search = web_sys::window()?.location().search().ok()?;
    web_sys::UrlSearchParams::new_with_str(&search)
        .ok()?
        .get("token")
        .filter(|token| !token.is_empty())
}

/// Resolves at the form's next submission (which it keeps from reloading the page).
async fn submitted(form: &HtmlFormElement) {
    let form = form.clone();
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        EventListener::once_with_options(
            &form,
            "submit",
            EventListenerOptions::enable_prevent_default(),
            move |event| {
                event.prevent_default();
                let _ = resolve.call0(&JsValue::NULL);
            },
        )
        // Fires once; the browser then drops it.
        .forget();
    });
    let _ = JsFuture::from(promise).await;
}

/// `GET /auth/config`; a server that does not answer it (an older one) checks no tokens.
async fn auth_config() -> AuthConfig {
    let answer = fetch("GET", "/auth/config", None, None).await;
    let (tokens, demo) = match answer {
        Ok((200, value)) => (
            value.field("tokens").unwrap_or_else(|| "off".to_owned()),
            value.flag("demo"),
        ),
        _ => ("off".to_owned(), false),
    };
    AuthConfig { tokens, demo }
}

/// `GET /auth/check`: the token's nickname, or why `/chat` would refuse it.
async fn check(token: &str) -> Result<String, String> {
    match fetch("GET", "/auth/check", Some(token), None).await? {
        (200, value) => Ok(value.field("nick").unwrap_or_default()),
        (_, value) => Err(reason_of(&value)),
    }
}

/// `POST /auth/demo` for `nick`: a demo token, or why not.
async fn demo_token(nick: &str) -> Result<String, String> {
    let body = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&body, &"nick".into(), &nick.into());
    let body = js_sys::JSON::stringify(&body)
        .ok()
        .and_then(|text| text.as_string())
        .unwrap_or_default();
    match fetch("POST", "/auth/demo", None, Some(&body)).await? {
        (200, value) => value
            .field("token")
            .ok_or_else(|| "the server sent no token".to_owned()),
        (_, value) => Err(reason_of(&value)),
    }
}

fn reason_of(body: &Body) -> String {
    match body {
        Body::Text(text) => text.trim().to_owned(),
        Body::Json(_) => body
            .field("error")
            .unwrap_or_else(|| "the server refused it".to_owned()),
    }
}

/// A response body: JSON (read by the browser's parser, which costs the module nothing)
/// or, when it is not JSON, its text.
enum Body {
    Json(JsValue),
    Text(String),
}

impl Body {
    /// The string field `name` of a JSON object body.
    fn field(&self, name: &str) -> Option<String> {
        match self {
            Body::Json(value) => js_sys::Reflect::get(value, &name.into())
                .ok()
                .and_then(|field| field.as_string()),
            Body::Text(_) => None,
        }
    }

    /// Whether the boolean field `name` of a JSON object body is `true`.
    fn flag(&self, name: &str) -> bool {
        match self {
            Body::Json(value) => js_sys::Reflect::get(value, &name.into())
                .ok()
                .and_then(|field| field.as_bool())
                .unwrap_or(false),
            Body::Text(_) => false,
        }
    }
}

/// One request: its status and its body, as JSON when it is, else as a string.
async fn fetch(
    method: &str,
    path: &str,
    bearer: Option<&str>,
    body: Option<&str>,
) -> Result<(u16, Body), String> {
    let unreachable = |_| "the server could not be reached".to_owned();
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    let headers = web_sys::Headers::new().map_err(unreachable)?;
    if let Some(token) = bearer {
        headers
            .set("Authorization", &format!("Bearer {token}"))
            .map_err(|_| "the token cannot be sent in a header".to_owned())?;
    }
    if let Some(body) = body {
        headers
            .set("Content-Type", "application/json")
            .map_err(unreachable)?;
        init.set_body(&JsValue::from_str(body));
    }
    init.set_headers(&headers);
    let request = web_sys::Request::new_with_str_and_init(path, &init).map_err(unreachable)?;
    let window = web_sys::window().ok_or("no window")?;
    let response: web_sys::Response = JsFuture::from(window.fetch_with_request(&request))
        .await
        .map_err(unreachable)?
        .unchecked_into();
    let text = JsFuture::from(response.text().map_err(unreachable)?)
        .await
        .map_err(unreachable)?
        .as_string()
        .unwrap_or_default();
    let body = match js_sys::JSON::parse(&text) {
        Ok(value) if value.is_object() => Body::Json(value),
        _ => Body::Text(text),
    };
    Ok((response.status(), body))
}
