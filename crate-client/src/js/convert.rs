//! Conversions every JavaScript class uses: arguments in, errors and data out.

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::error::{CloseError, OpenError, SendError};

/// Hands JavaScript the function its class calls to make a Rust core, `(url, options or
/// protocols, dispatch)` (what a class does not use is `undefined`): one closure type for
/// every class, so that wasm-bindgen's code for calling it exists once. One function per
/// class and module instance, alive as long as the module: handing it over as a plain JS
/// value (rather than keeping the `Closure`) is not a leak per object.
pub(super) fn core_maker(
    make: impl Fn(JsValue, JsValue, JsValue) -> Result<JsValue, JsValue> + 'static,
) -> JsValue {
    Closure::<dyn Fn(JsValue, JsValue, JsValue) -> Result<JsValue, JsValue>>::new(make)
        .into_js_value()
}

/// The strings of `list` (anything `Array.from` takes), or `None` if one is not a string.
pub(super) fn string_list(list: &JsValue) -> Option<Vec<String>> {
    let mut strings = Vec::new();
    for item in js_sys::Array::from(list).iter() {
        strings.push(item.as_string()?);
    }
    Some(strings)
}

#[wasm_bindgen(module = "/js/socket.js")]
extern "C" {
    // `catch` on both: the glue calls them through a shim, and an exception (there is
    // none) cannot unwind into Rust.
    #[wasm_bindgen(catch, js_name = reportListenerError)]
    fn report_listener_error(err: &JsValue) -> Result<(), JsValue>;
    #[wasm_bindgen(catch, js_name = hasBrand)]
    fn has_brand_js(value: &JsValue, class: &str, getter: &str) -> Result<bool, JsValue>;
}

/// Reports `err` the way the browser reports an exception thrown in an event listener:
/// through `reportError` (so `window.onerror` and error trackers see it), or to the console
/// where there is no `reportError`.
pub(crate) fn report_error(err: &JsValue) {
    let _ = report_listener_error(err);
}

pub(crate) fn js_error(name: &str, err: &dyn std::fmt::Display) -> JsValue {
    let error = js_sys::Error::new(&err.to_string());
    error.set_name(name);
    error.into()
}

/// The bytes of an `ArrayBuffer` or of a typed array's view (only the viewed range),
/// `Ok(None)` for anything else, or a `TypeError` for a resizable buffer or a view of one,
/// which the browser's `send` refuses too.
///
/// A buffer from another realm (an iframe's) counts: the browser sends it. A detached
/// buffer (one transferred away), and any view of it, has no bytes: the browser sends it
/// as an empty message, and so do we (making a view of it would throw).
pub(crate) fn buffer_bytes(data: &JsValue) -> Result<Option<Vec<u8>>, JsValue> {
    if data.is_instance_of::<js_sys::ArrayBuffer>() || has_brand(data, "ArrayBuffer", "byteLength")
    {
        let buffer = data.unchecked_ref::<js_sys::ArrayBuffer>();
        refuse_resizable(buffer)?;
        if buffer.byte_length() == 0 {
            return Ok(Some(Vec::new()));
        }
        return Ok(Some(js_sys::Uint8Array::new(data).to_vec()));
    }
    if !js_sys::ArrayBuffer::is_view(data) {
        return Ok(None);
    }
    let view = data.unchecked_ref::<js_sys::Uint8Array>();
    let buffer = view.buffer();
    refuse_resizable(&buffer)?;
    if view.byte_length() == 0 {
        return Ok(Some(Vec::new()));
    }
    let bytes = js_sys::Uint8Array::new_with_byte_offset_and_length(
        &buffer,
        view.byte_offset(),
        view.byte_length(),
    );
    Ok(Some(bytes.to_vec()))
}

/// `data` as a `Blob` (or `File`), also one from another realm, which the browser sends.
pub(crate) fn as_blob(data: &JsValue) -> Option<&web_sys::Blob> {
    if data.is_instance_of::<web_sys::Blob>() || has_brand(data, "Blob", "size") {
        Some(data.unchecked_ref())
    } else {
        None
    }
}

fn refuse_resizable(buffer: &js_sys::ArrayBuffer) -> Result<(), JsValue> {
    if buffer.resizable() {
        return Err(js_type_error(
            "send() cannot send a resizable ArrayBuffer or a view of one (nor can the browser's WebSocket)",
        ));
    }
    Ok(())
}

/// Whether `value` is a `class` of any realm: `class.prototype`'s `getter` accepts it (it
/// checks the internal slots, not the prototype chain as `instanceof` does). Only asked
/// when `instanceof` said no, so it costs nothing on the usual path.
fn has_brand(value: &JsValue, class: &str, getter: &str) -> bool {
    has_brand_js(value, class, getter).unwrap_or(false)
}

pub(super) fn js_type_error(message: &str) -> JsValue {
    js_sys::TypeError::new(message).into()
}

pub(crate) fn open_error_name(err: &OpenError) -> &'static str {
    match err {
        OpenError::InvalidUrl { .. } | OpenError::Fragment { .. } => "InvalidUrlError",
        OpenError::UnsupportedScheme { .. } => "UnsupportedSchemeError",
        OpenError::NotSupported => "NotSupportedError",
        OpenError::InvalidProtocol { .. } => "InvalidProtocolError",
        _ => "OpenError",
    }
}

pub(super) fn send_error_name(err: &SendError) -> &'static str {
    match err {
        SendError::NotOpen(_) => "NotOpenError",
        _ => "SendError",
    }
}

pub(super) fn close_error_name(err: &CloseError) -> &'static str {
    match err {
        CloseError::Code(_) => "InvalidCloseCodeError",
        CloseError::Reason(_) => "InvalidCloseReasonError",
        _ => "CloseError",
    }
}

/// Carries out a `close(code?, reason?)`-shaped call as the browser reads its arguments:
/// with neither, `bare`; otherwise `given` with the code (converted as [`close_code`]
/// does; 1000 when only a reason is given) and the reason (`""` when not given). A refusal
/// is thrown as an `Error` named for what is wrong (`InvalidCloseCodeError`...).
///
/// `dyn` rather than generic: one copy of this for the three methods that call it.
pub(super) fn close_call(
    code: Option<f64>,
    reason: Option<String>,
    bare: &dyn Fn() -> Result<(), CloseError>,
    given: &dyn Fn(u16, &str) -> Result<(), CloseError>,
) -> Result<(), JsValue> {
    let result = match (code, reason) {
        (None, None) => bare(),
        (code, reason) => given(
            code.map_or(1000, close_code),
            reason.as_deref().unwrap_or(""),
        ),
    };
    result.map_err(|err| js_error(close_error_name(&err), &err))
}

/// A close code as the browser converts `close(code)`'s argument (WebIDL's `[Clamp]
/// unsigned short`; the class has already applied `ToNumber`): rounded to the nearest
/// integer, ties to even, then clamped to 0–65535, NaN being 0. So 70000 is refused as
/// 65535 rather than wrapped round to a valid 4464, and 4001.5 is 4002.
fn close_code(code: f64) -> u16 {
    // `as` saturates, and NaN becomes 0.
    code.round_ties_even() as u16
}

#[cfg(test)]
mod tests {
    use super::close_code;

    /// The codes `close()` gets after WebIDL's `[Clamp] unsigned short`: never wrapped
    /// round into a valid code, fractions to the nearest (ties to even), NaN to 0.
    #[test]
    fn close_codes_are_clamped_and_rounded_as_webidl_says() {
        for (given, code) in [
            (1000.0, 1000),
            (4001.4, 4001),
            (4001.5, 4002),
            (4002.5, 4002),
            (2999.5, 3000),
            (2999.4, 2999),
            (65535.5, 65535),
            (66536.0, 65535),
            (70000.0, 65535),
            (f64::INFINITY, 65535),
            (-0.4, 0),
            (-1.0, 0),
            (f64::NEG_INFINITY, 0),
            (f64::NAN, 0),
        ] {
            assert_eq!(close_code(given), code, "close({given})");
        }
    }
}
