//! [`JsonText`]: an event's payload, carried as the JSON text it arrived as.

use std::fmt;

use serde::de::Error as _;
use serde::ser::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::Value;

/// One JSON value kept as its text, so that it crosses the wire without being taken apart
/// and put together again: the server measures and forwards an event's `data` as text, and
/// the browser client hands it to the application as text (its module carries no
/// general-purpose JSON value type).
///
/// The text is always exactly one valid JSON value: [`parse`](JsonText::parse) and
/// deserialisation check it; [`from_checked`](JsonText::from_checked) is for a caller that
/// has already checked it with its own reader.
///
/// Equality compares the text: `{"a":1}` and `{ "a": 1 }` are the same value but not equal
/// `JsonText`s; compare [`to_value`](JsonText::to_value)s for that.
///
/// ```
/// use ferrosocket_wire::chat::JsonText;
///
/// let data = JsonText::parse(r#"{"x": 1}"#).unwrap();
/// assert_eq!(data.as_str(), r#"{"x": 1}"#);
/// assert_eq!(data.to_value()["x"], 1);
/// assert!(JsonText::parse("{x: 1}").is_err());
/// // Serialised as the value itself, not as a string.
/// let envelope = serde_json::json!({ "data": data });
/// assert_eq!(envelope.to_string(), r#"{"data":{"x":1}}"#);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct JsonText(String);

impl JsonText {
    /// `null`, the payload of an `emit` without `data`.
    pub fn null() -> JsonText {
        JsonText("null".to_owned())
    }

    /// Checks that `text` is one JSON value, accepting exactly what a `Value` is read from,
    /// and keeps it as it is (without the whitespace around it).
    pub fn parse(text: &str) -> Result<JsonText, serde_json::Error> {
        // Not `RawValue`: it lets a lone surrogate escape (`"\udc00"`) and a number out
        // of range (`1e400`) through, which the server, reading a `Value`, refuses.
        serde_json::from_str::<Value>(text)?;
        Ok(JsonText(trim_json_space(text).to_owned()))
    }

    /// Keeps `text`, which the caller has already checked is one JSON value with no
    /// whitespace around it, accepted by [`parse`](JsonText::parse) (the browser client's
    /// own reader does, so that its module does not carry serde_json's). Nothing checks it
    /// again: with text that is not, serialising fails, [`to_value`](JsonText::to_value)
    /// panics, and the client's hand-written encoder sends an envelope the server refuses
    /// as `invalid_json`.
    pub fn from_checked(text: String) -> JsonText {
        JsonText(text)
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The text, owned.
    pub fn into_string(self) -> String {
        self.0
    }

    /// How deeply arrays and objects nest in the value: 0 for a number, string, boolean or
    /// `null`, 1 for `[1]` or `{}`, 2 for `[{}]` (brackets inside strings do not count).
    ///
    /// ```
    /// use ferrosocket_wire::chat::JsonText;
    ///
    /// assert_eq!(JsonText::parse("7").unwrap().depth(), 0);
    /// assert_eq!(JsonText::parse(r#"[{"a": "[[["}, []]"#).unwrap().depth(), 2);
    /// ```
    pub fn depth(&self) -> usize {
        let (mut depth, mut deepest) = (0usize, 0);
        let (mut in_string, mut escaped) = (false, false);
        for byte in self.0.bytes() {
            if in_string {
                match byte {
                    _ if escaped => escaped = false,
                    b'\\' => escaped = true,
                    b'"' => in_string = false,
                    _ => {}
                }
                continue;
            }
            match byte {
                b'"' => in_string = true,
                b'[' | b'{' => {
                    depth += 1;
                    deepest = deepest.max(depth);
                }
                b']' | b'}' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        deepest
    }

    /// The value the text stands for.
    pub fn to_value(&self) -> Value {
        serde_json::from_str(&self.0).expect("a JsonText is always valid JSON")
    }
}

impl From<Value> for JsonText {
    /// The value written as compact JSON text.
    fn from(value: Value) -> JsonText {
        JsonText(value.to_string())
    }
}

impl Default for JsonText {
    /// [`JsonText::null`].
    fn default() -> JsonText {
        JsonText::null()
    }
}

impl fmt::Display for JsonText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for JsonText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for JsonText {
    /// The value itself (through serde_json's `RawValue`, so the text is written as it is).
    /// Only serde_json's serializers know `RawValue`: another format gets serde_json's
    /// private wrapper struct instead of the value.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serde_json::from_str::<&RawValue>(&self.0)
            .map_err(S::Error::custom)?
            .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for JsonText {
    /// Any JSON value, kept as compact text. (Not through `RawValue`: the envelopes are
    /// internally tagged enums, whose fields serde buffers, and a `RawValue` cannot be read
    /// from that buffer.)
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<JsonText, D::Error> {
        let value = Value::deserialize(deserializer)?;
        serde_json::to_string(&value)
            .map(JsonText)
            .map_err(D::Error::custom)
    }
}

/// `text` without the whitespace JSON allows around a value.
fn trim_json_space(text: &str) -> &str {
    text.trim_matches([' ', '\t', '\n', '\r'])
}
