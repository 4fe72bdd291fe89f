//! Conversions every JavaScript class uses: arguments in, errors and data out.

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::error::{CloseError, OpenError, SendError};

/// The protocols argument of the constructor: nothing, one string or a list of strings.
pub(super) fn protocol_list(protocols: JsValue) -> Result<Vec<String>, JsValue> {
    if protocols.is_undefined() {
        return Ok(Vec::new());
    }
    if let Some(one) = protocols.as_string() {
        return Ok(vec![one]);
    }
    if js_sys::Array::is_array(&protocols) {
        return js_sys::Array::from(&protocols)
            .iter()
            .map(|item| item.as_string().ok_or(()))
            .collect::<Result<_, ()>>()
            .map_err(|()| js_type_error("protocols must be strings"));
    }
    Err(js_type_error(
        "protocols must be a string or an array of strings",
    ))
}

/// Reports `err` the way the browser reports an exception thrown in an event listener:
/// through `reportError` (so `window.onerror` and error trackers see it), or to the console
/// where there is no `reportError`.
pub(crate) fn report_error(err: &JsValue) {
    let report = js_sys::Reflect::get(&js_sys::global(), &"reportError".into())
        .ok()
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
    match report {
        Some(report) => {
            let _ = report.call1(&JsValue::NULL, err);
        }
        None => web_sys::console::error_1(err),
    }
}

pub(crate) fn js_error(name: &str, err: &dyn std::fmt::Display) -> JsValue {
    let error = js_sys::Error::new(&err.to_string());
    error.set_name(name);
    error.into()
}

/// The bytes of an `ArrayBuffer` or of a typed array's view (only the viewed range), or
/// `None` for anything else.
///
/// A detached buffer (one transferred away), and any view of it, has no bytes: the browser
/// sends it as an empty message, and so do we (making a view of it would throw).
pub(crate) fn buffer_bytes(data: &JsValue) -> Option<Vec<u8>> {
    if data.is_instance_of::<js_sys::ArrayBuffer>() {
        if data.unchecked_ref::<js_sys::ArrayBuffer>().byte_length() == 0 {
            return Some(Vec::new());
        }
        return Some(js_sys::Uint8Array::new(data).to_vec());
    }
    if !js_sys::ArrayBuffer::is_view(data) {
        return None;
    }
    let view = data.unchecked_ref::<js_sys::Uint8Array>();
    if view.byte_length() == 0 {
        return Some(Vec::new());
    }
    let bytes = js_sys::Uint8Array::new_with_byte_offset_and_length(
        &view.buffer(),
        view.byte_offset(),
        view.byte_length(),
    );
    Some(bytes.to_vec())
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

/// A close code as the browser converts `close(code)`'s argument (WebIDL's `[Clamp]
/// unsigned short`; the class has already applied `ToNumber`): rounded to the nearest
/// integer, ties to even, then clamped to 0–65535, NaN being 0. So 70000 is refused as
/// 65535 rather than wrapped round to a valid 4464, and 4001.5 is 4002.
pub(super) fn close_code(code: f64) -> u16 {
    // `as` saturates, and NaN becomes 0.
    code.round_ties_even() as u16
}
