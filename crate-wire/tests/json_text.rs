//! An event's `data` as [`JsonText`]: the server refuses exactly the `emit`s it refused
//! when `data` was a `serde_json::Value`, and forwards exactly the text that `Value` was
//! written as; the text is written onto the wire as it is.

use ferrosocket_wire::chat::{ClientEnvelope, JsonText, ServerEnvelope};
use serde_json::Value;

/// The `data` texts most likely to tell a `Value` and a text apart: deep nesting, numbers
/// out of range or beyond 64 bits, lone and paired surrogates, repeated keys, escapes that
/// compact away, whitespace, and what is not JSON at all.
const TRICKY: &[&str] = &[
    "null",
    r#"{"b": 1, "a": [1.0, 2, -0, -0.0, 1E2, 1e-7, 1e21]}"#,
    "1e400",
    "-1e400",
    "1e-400",
    "123456789012345678901234567890",
    "-9223372036854775809",
    "18446744073709551615",
    "18446744073709551616",
    r#""\udc00""#,
    r#""\ud800""#,
    r#""\ud800\udc00""#,
    r#""\ud800x""#,
    r#"{"a": 1, "a": 2}"#,
    r#"{"a": {"x": 1}, "a": [2]}"#,
    r#""\u00e9 \/ \u0001 \"""#,
    r#"[{"a]": "[\"{\\", "b": [[]]}, "}}]"]"#,
    " \t\n[ 1 , { } ]\r\n",
    "{x: 1}",
    "[1, 2",
    "01",
    "1.",
    "NaN",
    "'text'",
    "[1] [2]",
];

/// The bytes a garbled text may get: JSON's punctuation and a few of its letters and digits.
const GARBLE: &[u8] = b"[]{}\",:\\u0e-+. 19adn";

/// `n` arrays nested in each other.
fn nested(n: usize) -> String {
    format!("{}{}", "[".repeat(n), "]".repeat(n))
}

/// A tiny seeded generator (xorshift), so that the garbled texts are the same every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// How deeply arrays and objects nest in `value`.
fn depth_of(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth_of).max().unwrap_or(0),
        Value::Object(members) => 1 + members.values().map(depth_of).max().unwrap_or(0),
        _ => 0,
    }
}

/// What the server did before `data` was a `JsonText`: read the envelope as a `Value`
/// (the same reader `ClientEnvelope::parse` starts with) and write its `data` back out.
fn as_a_value_did(envelope: &str) -> Option<String> {
    let value = serde_json::from_str::<Value>(envelope).ok()?;
    Some(
        value
            .get("data")
            .map_or("null".to_owned(), Value::to_string),
    )
}

/// Checks one `emit` carrying `data` (as written into the envelope, whitespace and all).
fn check(data: &str) {
    let envelope = format!(r#"{{"type":"emit","room":"r","event":"e","data":{data},"ack":1}}"#);
    match (ClientEnvelope::parse(&envelope), as_a_value_did(&envelope)) {
        (Ok(ClientEnvelope::Emit { data: ours, .. }), Some(theirs)) => {
            assert_eq!(ours.as_str(), theirs, "{data}");
            assert_eq!(ours.depth(), depth_of(&ours.to_value()), "{data}");
            // What goes out in the `event` is that text, byte for byte.
            let event = ServerEnvelope::Event {
                room: "r".into(),
                event: "e".into(),
                from: "n".into(),
                data: ours,
            };
            assert_eq!(
                event.to_json(),
                format!(r#"{{"type":"event","room":"r","event":"e","from":"n","data":{theirs}}}"#)
            );
        }
        (Err(_), None) => {}
        (ours, theirs) => panic!("{data}\n ours: {ours:?}\n as a Value: {theirs:?}"),
    }
}

#[test]
fn emit_data_is_refused_exactly_as_a_value_refused_it_and_forwarded_as_its_compact_text() {
    for data in TRICKY {
        check(data);
    }
    // Around serde_json's depth limit (the envelope is one level itself).
    for depth in 120..=130 {
        check(&nested(depth));
    }
    // Garbled: a byte of a tricky text replaced, removed or repeated.
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..20_000 {
        let mut bytes = TRICKY[rng.below(TRICKY.len())].as_bytes().to_vec();
        let at = rng.below(bytes.len());
        match rng.below(3) {
            0 => bytes[at] = GARBLE[rng.below(GARBLE.len())],
            1 => drop(bytes.remove(at)),
            _ => bytes.insert(at, bytes[at]),
        }
        if let Ok(data) = String::from_utf8(bytes) {
            check(&data);
        }
    }
}

#[test]
fn parse_accepts_what_a_value_accepts_and_keeps_the_text_as_written() {
    for data in TRICKY {
        match (JsonText::parse(data), serde_json::from_str::<Value>(data)) {
            (Ok(text), Ok(value)) => {
                assert_eq!(text.as_str(), data.trim_matches([' ', '\t', '\n', '\r']));
                assert_eq!(text.to_value(), value);
            }
            (Err(_), Err(_)) => {}
            (ours, theirs) => panic!("{data}\n ours: {ours:?}\n serde_json: {theirs:?}"),
        }
    }
    // Written as it is, not re-formatted: the server forwards what it measured.
    let text = JsonText::parse(r#" {"b": 1.50, "a" : [1E2]} "#).unwrap();
    let event = ServerEnvelope::Event {
        room: "r".into(),
        event: "e".into(),
        from: "n".into(),
        data: text,
    };
    assert!(
        event
            .to_json()
            .ends_with(r#""data":{"b": 1.50, "a" : [1E2]}}"#),
        "{}",
        event.to_json()
    );
}
