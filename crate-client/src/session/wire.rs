//! The client's side of the `chat.v1` wire format, read and written by hand.
//!
//! `ferrosocket-wire`'s serde types are the reference (the server uses them), but their
//! derived code for internally tagged enums (`#[serde(tag = "type")]`) buffers every
//! envelope in serde's generic `Content` tree and instantiates a visitor per field type:
//! it was the largest part of the browser library. This module reads server envelopes and
//! writes client envelopes directly, with a small JSON reader, and accepts and produces
//! exactly what serde does (the tests in `wire_tests.rs` compare the two on many generated
//! envelopes, so they cannot drift apart).
//!
//! An event's `data` is not taken apart: the reader checks it is JSON and hands on the
//! text the server wrote ([`JsonText`]), and the writer puts in the application's text,
//! checked and without the whitespace between its tokens ([`json_text`]).

use std::fmt::Write as _;
use std::ops::Range;

use ferrosocket_wire::chat::{
    ClientEnvelope, ErrorCode, HistoryEntry, JsonText, PresenceChange, RoomInfo, ServerEnvelope,
    MAX_DATA_DEPTH,
};

/// How deeply arrays and objects may nest: serde_json refuses 128 levels.
const MAX_DEPTH: usize = 127;

/// A parsed JSON value that keeps an object's members in order, duplicates included: an
/// envelope with a field given twice is refused, as serde refuses it.
enum Json {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    Array(Vec<Json>),
    Object(Vec<Member>),
}

/// A JSON number, classified as serde_json classifies it: an integer that fits is
/// `Unsigned` (from 0) or `Negative`; anything else is a `Float`.
/// (Envelopes' numbers are all `Unsigned`: the other values are read only by the tests
/// that hold this reader to serde_json's, and outside them a negative integer is a `Float`.)
#[derive(Clone, Copy)]
#[cfg_attr(not(test), allow(dead_code))]
enum Number {
    Unsigned(u64),
    Negative(i64),
    Float(f64),
}

/// One member of an object: its name, its value, and where the value's text lies in the
/// input (an event's `data` is handed on as that text).
struct Member {
    name: String,
    value: Json,
    span: Range<usize>,
}

impl Json {
    /// The value as serde_json's `Value` (a repeated member keeps its last value, as
    /// serde_json does): for the tests that hold this reader to serde_json's.
    #[cfg(test)]
    fn to_value(&self) -> serde_json::Value {
        use serde_json::{Map, Value};

        match self {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::Number(Number::Unsigned(n)) => Value::from(*n),
            Json::Number(Number::Negative(n)) => Value::from(*n),
            Json::Number(Number::Float(x)) => Value::from(*x),
            Json::String(s) => Value::String(s.clone()),
            Json::Array(items) => Value::Array(items.iter().map(Json::to_value).collect()),
            Json::Object(members) => {
                let mut map = Map::new();
                for member in members {
                    map.insert(member.name.clone(), member.value.to_value());
                }
                Value::Object(map)
            }
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::Number(_) => "a number",
            Json::String(_) => "a string",
            Json::Array(_) => "an array",
            Json::Object(_) => "an object",
        }
    }
}

/// A cursor over JSON text.
struct Reader<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    /// `what` went wrong here (one function for every kind of result).
    fn error(&self, what: &str) -> String {
        format!("{what} at byte {}", self.pos)
    }

    /// The text from `start` to here. Both are at ASCII bytes (a number's, a string's run
    /// ends), so `get` always finds it, with no panic path and no UTF-8 check.
    fn slice(&self, start: usize) -> &str {
        self.text.get(start..self.pos).unwrap_or_default()
    }

    fn skip_space(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// Whether the text here starts with `prefix` (`get`, not indexing: no slice panic
    /// path).
    fn at(&self, prefix: &[u8]) -> bool {
        self.bytes
            .get(self.pos..)
            .is_some_and(|rest| rest.starts_with(prefix))
    }

    fn literal(&mut self, word: &str, value: Json) -> Result<Json, String> {
        if self.at(word.as_bytes()) {
            self.pos += word.len();
            Ok(value)
        } else {
            Err(self.error("expected a JSON value"))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json, String> {
        self.skip_space();
        match self.peek() {
            None => Err(self.error("unexpected end of JSON")),
            Some(b'n') => self.literal("null", Json::Null),
            Some(b't') => self.literal("true", Json::Bool(true)),
            Some(b'f') => self.literal("false", Json::Bool(false)),
            Some(b'"') => self.string().map(Json::String),
            Some(b'[' | b'{') if depth >= MAX_DEPTH => Err(self.error("nested too deeply")),
            Some(b'[') => {
                self.pos += 1;
                let mut items = Vec::new();
                self.skip_space();
                if self.peek() == Some(b']') {
                    self.pos += 1;
                    return Ok(Json::Array(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    self.skip_space();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b']') => {
                            self.pos += 1;
                            return Ok(Json::Array(items));
                        }
                        _ => return Err(self.error("expected `,` or `]`")),
                    }
                }
            }
            Some(b'{') => {
                self.pos += 1;
                let mut members = Vec::new();
                self.skip_space();
                if self.peek() == Some(b'}') {
                    self.pos += 1;
                    return Ok(Json::Object(members));
                }
                loop {
                    self.skip_space();
                    if self.peek() != Some(b'"') {
                        return Err(self.error("expected a member name"));
                    }
                    let name = self.string()?;
                    self.skip_space();
                    if self.peek() != Some(b':') {
                        return Err(self.error("expected `:`"));
                    }
                    self.pos += 1;
                    self.skip_space();
                    let start = self.pos;
                    let value = self.value(depth + 1)?;
                    members.push(Member {
                        name,
                        value,
                        span: start..self.pos,
                    });
                    self.skip_space();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b'}') => {
                            self.pos += 1;
                            return Ok(Json::Object(members));
                        }
                        _ => return Err(self.error("expected `,` or `}`")),
                    }
                }
            }
            Some(b'-' | b'0'..=b'9') => self.number().map(Json::Number),
            Some(_) => Err(self.error("expected a JSON value")),
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        self.pos - start
    }

    /// A number, classified as serde_json does (see [`Number`]).
    fn number(&mut self) -> Result<Number, String> {
        let start = self.pos;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.pos += 1;
        }
        let int_start = self.pos;
        match self.digits() {
            0 => return Err(self.error("expected a digit")),
            n if n > 1 && self.bytes.get(int_start) == Some(&b'0') => {
                return Err(self.error("a number cannot start with 0"))
            }
            _ => {}
        }
        let mut integer = true;
        if self.peek() == Some(b'.') {
            integer = false;
            self.pos += 1;
            if self.digits() == 0 {
                return Err(self.error("expected a digit after `.`"));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            integer = false;
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(self.error("expected a digit in the exponent"));
            }
        }
        let text = self.slice(start);
        if integer && !negative {
            // Its value, unless that overflows a `u64` (serde_json then reads a float).
            let value = text.bytes().try_fold(0u64, |n, digit| {
                n.checked_mul(10)?.checked_add(u64::from(digit - b'0'))
            });
            if let Some(n) = value {
                return Ok(Number::Unsigned(n));
            }
        }
        // Only the tests tell a negative integer from a float (the browser build does not
        // parse it twice). serde_json keeps `-0` as the float -0.0.
        #[cfg(test)]
        if integer && negative {
            if let Ok(n @ ..=-1) = text.parse::<i64>() {
                return Ok(Number::Negative(n));
            }
        }
        match parse_float(text) {
            x if x.is_finite() => Ok(Number::Float(x)),
            _ => Err(self.error("number out of range")),
        }
    }

    /// The four hex digits of a `\u` escape (the error points at the first).
    fn hex4(&mut self) -> Result<u32, String> {
        let start = self.pos;
        let mut value = 0;
        for _ in 0..4 {
            match self.peek().and_then(|b| char::from(b).to_digit(16)) {
                Some(digit) => value = value * 16 + digit,
                None => {
                    self.pos = start;
                    return Err(self.error("invalid `\\u` escape"));
                }
            }
            self.pos += 1;
        }
        Ok(value)
    }

    fn string(&mut self) -> Result<String, String> {
        self.pos += 1; // the opening quote
        let mut out = String::new();
        loop {
            let start = self.pos;
            while let Some(&b) = self.bytes.get(self.pos) {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            out.push_str(self.slice(start));
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let escape = self.peek();
                    self.pos += 1;
                    out.push(match escape {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => self.unicode_escape()?,
                        _ => {
                            self.pos -= 1;
                            return Err(self.error("invalid escape"));
                        }
                    });
                }
                Some(_) => return Err(self.error("control character in a string")),
                None => return Err(self.error("unterminated string")),
            }
        }
    }

    /// The character of a `\uXXXX` escape (after the `u`), joining a surrogate pair.
    fn unicode_escape(&mut self) -> Result<char, String> {
        let first = self.hex4()?;
        let code = match first {
            0xD800..=0xDBFF => {
                if !self.at(b"\\u") {
                    return Err(self.error("lone leading surrogate in a `\\u` escape"));
                }
                self.pos += 2;
                let second = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&second) {
                    return Err(self.error("invalid surrogate pair in a `\\u` escape"));
                }
                0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
            }
            0xDC00..=0xDFFF => return Err(self.error("lone trailing surrogate in a `\\u` escape")),
            code => code,
        };
        char::from_u32(code).ok_or_else(|| self.error("invalid `\\u` escape"))
    }
}

/// Parses one JSON text (a value with optional whitespace around it).
fn parse(text: &str) -> Result<Json, String> {
    parse_at(text, 0)
}

/// Parses one JSON text as if it sat `depth` arrays and objects deep (so it may nest
/// `MAX_DEPTH - depth` levels itself).
fn parse_at(text: &str, depth: usize) -> Result<Json, String> {
    let mut reader = Reader {
        text,
        bytes: text.as_bytes(),
        pos: 0,
    };
    let value = reader.value(depth)?;
    reader.skip_space();
    if reader.pos != text.len() {
        return Err(reader.error("trailing characters"));
    }
    Ok(value)
}

/// The value of a JSON number's text (already checked against JSON's grammar); infinite
/// when out of range. In the browser, the engine's `parseFloat` (exact, and already there)
/// instead of Rust's parser, which would add its tables to the module.
fn parse_float(text: &str) -> f64 {
    #[cfg(target_arch = "wasm32")]
    return js_sys::parse_float(text);
    #[cfg(not(target_arch = "wasm32"))]
    return text.parse().unwrap_or(f64::NAN);
}

/// Checks that `text` is one JSON value the server accepts as an event's `data` — what
/// `serde_json::from_str` accepts, nesting at most [`MAX_DATA_DEPTH`] deep — and keeps it
/// without the whitespace between its tokens (keys in their order, numbers as written), so
/// that what goes on the wire is never larger than the value needs.
pub(crate) fn json_text(text: &str) -> Result<JsonText, String> {
    parse_at(text, MAX_DEPTH - MAX_DATA_DEPTH)?;
    Ok(JsonText::from_checked(without_space(text)))
}

/// `text`, which is valid JSON, without the whitespace outside its strings.
fn without_space(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in text.chars() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if matches!(c, ' ' | '\t' | '\n' | '\r') {
            continue;
        } else if c == '"' {
            in_string = true;
        }
        out.push(c);
    }
    out
}

/// Parses JSON text into a `Value`, accepting what `serde_json::from_str` accepts.
#[cfg(test)]
pub(crate) fn parse_value(text: &str) -> Result<serde_json::Value, String> {
    parse(text).map(|json| json.to_value())
}

/// The members of an object, taken out by name the way serde's derived code reads them: a
/// member it does not know is ignored, one it knows may appear only once.
///
/// Every read returns a value — an empty placeholder after a problem — and notes the first
/// problem, which is the answer: no read needs an error path of its own (in the browser
/// build, each `?` after a `String` was read added code to drop it), and a string is moved
/// out of the parsed tree rather than copied.
struct Fields {
    members: Vec<Member>,
    problem: Option<String>,
}

impl Fields {
    fn note(&mut self, problem: String) {
        self.problem.get_or_insert(problem);
    }

    /// The members of `value`, which must be an object (`what` names it).
    fn object(&mut self, value: Json, what: &str) -> Vec<Member> {
        match value {
            Json::Object(members) => members,
            other => {
                self.note(format!("{what} must be an object, not {}", other.kind()));
                Vec::new()
            }
        }
    }

    /// Reads a nested object with `read`, which takes its fields from `self` meanwhile.
    fn nested<T>(&mut self, value: Json, what: &str, read: impl FnOnce(&mut Fields) -> T) -> T {
        let members = self.object(value, what);
        let outer = std::mem::replace(&mut self.members, members);
        let result = read(self);
        self.members = outer;
        result
    }

    /// The member `name`, if present: its value, taken out, and where its text lies.
    fn member(&mut self, name: &str) -> Option<(Json, Range<usize>)> {
        let mut found = self.members.iter_mut().filter(|member| member.name == name);
        let first = found.next().map(|member| {
            (
                std::mem::replace(&mut member.value, Json::Null),
                member.span.clone(),
            )
        });
        if found.next().is_some() {
            self.note(format!("duplicate field `{name}`"));
        }
        first
    }

    /// The value of the member `name`, if present.
    fn get(&mut self, name: &str) -> Option<Json> {
        self.member(name).map(|(value, _)| value)
    }

    /// The value of the member `name`, which must be present.
    fn required(&mut self, name: &str) -> Json {
        self.get(name).unwrap_or_else(|| {
            self.note(format!("missing field `{name}`"));
            Json::Null
        })
    }

    /// The text of the member `name`'s value, as it is in `text` (the JSON these fields
    /// were read from).
    fn raw(&mut self, name: &str, text: &str) -> JsonText {
        let span = match self.member(name) {
            Some((_, span)) => span,
            None => {
                self.note(format!("missing field `{name}`"));
                0..0
            }
        };
        // The span starts and ends at ASCII bytes of `text`, so `get` always finds it (and,
        // unlike indexing, pulls in no panic message that formats chars and ranges).
        JsonText::from_checked(text.get(span).unwrap_or_default().to_owned())
    }

    fn wrong(&mut self, name: &str, expected: &str, got: &Json) {
        self.note(format!(
            "field `{name}` must be {expected}, not {}",
            got.kind()
        ));
    }

    fn text_of(&mut self, name: &str, value: Json) -> String {
        match value {
            Json::String(s) => s,
            other => {
                self.wrong(name, "a string", &other);
                String::new()
            }
        }
    }

    fn text(&mut self, name: &str) -> String {
        let value = self.required(name);
        self.text_of(name, value)
    }

    /// A string that may be absent (then empty), as `#[serde(default)]`.
    fn text_or_default(&mut self, name: &str) -> String {
        let value = self.get(name).unwrap_or(Json::String(String::new()));
        self.text_of(name, value)
    }

    /// An `Option<String>`: absent or `null` is `None`.
    fn optional_text(&mut self, name: &str) -> Option<String> {
        match self.get(name)? {
            Json::Null => None,
            value => Some(self.text_of(name, value)),
        }
    }

    fn number_of(&mut self, name: &str, value: Json, max: u64) -> u64 {
        match value {
            Json::Number(Number::Unsigned(n)) if n <= max => return n,
            Json::Number(_) => self.note(format!("field `{name}` is out of range")),
            other => self.wrong(name, "a whole number", &other),
        }
        0
    }

    fn number(&mut self, name: &str, max: u64) -> u64 {
        let value = self.required(name);
        self.number_of(name, value, max)
    }

    /// A number that may be absent (then 0), as `#[serde(default)]`.
    fn number_or_zero(&mut self, name: &str, max: u64) -> u64 {
        let value = self.get(name).unwrap_or(Json::Number(Number::Unsigned(0)));
        self.number_of(name, value, max)
    }

    fn flag(&mut self, name: &str) -> bool {
        match self.required(name) {
            Json::Bool(b) => b,
            other => {
                self.wrong(name, "a boolean", &other);
                false
            }
        }
    }

    /// The elements of the array `name`.
    fn list(&mut self, name: &str) -> Vec<Json> {
        match self.required(name) {
            Json::Array(items) => items,
            other => {
                self.wrong(name, "an array", &other);
                Vec::new()
            }
        }
    }

    /// The string `name`, which must be one of `names` (`what` names the kind): its index.
    fn one_of(
        &mut self,
        name: &str,
        what: &str,
        mut names: impl Iterator<Item = &'static str>,
    ) -> usize {
        let value = self.text(name);
        let found = names.position(|known| known == value);
        found.unwrap_or_else(|| {
            self.note(format!("unknown {what} \"{value}\""));
            0
        })
    }
}

const U32: u64 = u32::MAX as u64;
const USIZE: u64 = usize::MAX as u64;

fn history_entry(f: &mut Fields, value: Json) -> HistoryEntry {
    f.nested(value, "a history entry", |f| HistoryEntry {
        seq: f.number("seq", u64::MAX),
        from: f.text("from"),
        text: f.text("text"),
        ts: f.number("ts", u64::MAX),
        id: f.optional_text("id"),
    })
}

fn room_info(f: &mut Fields, value: Json) -> RoomInfo {
    f.nested(value, "a room", |f| RoomInfo {
        name: f.text("name"),
        members: f.number("members", USIZE) as usize,
    })
}

/// Reads one text frame from the server as an envelope; accepts exactly what
/// `serde_json::from_str::<ServerEnvelope>` accepts for an object, and names the problem
/// otherwise.
pub(crate) fn decode(text: &str) -> Result<ServerEnvelope, String> {
    let json = parse(text)?;
    let mut f = Fields {
        members: Vec::new(),
        problem: None,
    };
    f.members = f.object(json, "an envelope");
    let kind = f.text("type");
    if let Some(problem) = f.problem {
        return Err(problem);
    }
    let envelope = match kind.as_str() {
        "welcome" => ServerEnvelope::Welcome {
            nick: f.text("nick"),
            history_limit: f.number("history_limit", USIZE) as usize,
            rate_limit: f.number("rate_limit", U32) as u32,
            epoch: f.text("epoch"),
            rate_burst: f.number_or_zero("rate_burst", U32) as u32,
            max_text_bytes: f.number_or_zero("max_text_bytes", USIZE) as usize,
            session: f.text_or_default("session"),
        },
        "nick" => ServerEnvelope::Nick {
            nick: f.text("nick"),
        },
        "rooms" => ServerEnvelope::Rooms {
            rooms: f
                .list("rooms")
                .into_iter()
                .map(|room| room_info(&mut f, room))
                .collect(),
        },
        "joined" => ServerEnvelope::Joined {
            room: f.text("room"),
            members: f
                .list("members")
                .into_iter()
                .map(|member| f.text_of("members", member))
                .collect(),
            history: f
                .list("history")
                .into_iter()
                .map(|entry| history_entry(&mut f, entry))
                .collect(),
        },
        "left" => ServerEnvelope::Left {
            room: f.text("room"),
        },
        "presence" => ServerEnvelope::Presence {
            room: f.text("room"),
            change: PresenceChange::ALL[f.one_of(
                "change",
                "presence change",
                PresenceChange::ALL.iter().map(|c| c.as_str()),
            )],
            nick: f.text("nick"),
            old_nick: f.optional_text("old_nick"),
        },
        "message" => ServerEnvelope::Message {
            room: f.text("room"),
            seq: f.number("seq", u64::MAX),
            from: f.text("from"),
            text: f.text("text"),
            ts: f.number("ts", u64::MAX),
            id: f.optional_text("id"),
        },
        "ack" => ServerEnvelope::Ack {
            id: f.optional_text("id"),
            room: f.text("room"),
            seq: f.number("seq", u64::MAX),
        },
        "resumed" => ServerEnvelope::Resumed {
            room: f.text("room"),
            last_seq: f.number("last_seq", u64::MAX),
            complete: f.flag("complete"),
        },
        "pong" => ServerEnvelope::Pong {
            id: f.optional_text("id"),
        },
        "event" => ServerEnvelope::Event {
            room: f.text("room"),
            event: f.text("event"),
            from: f.text("from"),
            data: f.raw("data", text),
        },
        "event_ack" => ServerEnvelope::EventAck {
            ack: f.number("ack", u64::MAX),
        },
        "token_expiring" => ServerEnvelope::TokenExpiring {
            exp: f.number("exp", u64::MAX),
        },
        "refreshed" => ServerEnvelope::Refreshed {
            exp: f.number("exp", u64::MAX),
        },
        "error" => ServerEnvelope::Error {
            code: ErrorCode::ALL[f.one_of(
                "code",
                "error code",
                ErrorCode::ALL.iter().map(|c| c.as_str()),
            )],
            message: f.text("message"),
            reference: f.optional_text("ref"),
        },
        other => return Err(format!("unknown envelope type \"{other}\"")),
    };
    match f.problem {
        Some(problem) => Err(problem),
        None => Ok(envelope),
    }
}

// ---- writing -------------------------------------------------------------------------

/// Appends the last `digits` hex digits of `value`, in lowercase, zero-padded (by hand:
/// `{:04x}` would link core::fmt's width padding).
pub(crate) fn push_hex(out: &mut String, value: u32, digits: u32) {
    for shift in (0..digits).rev() {
        let digit = (value >> (shift * 4)) & 0xf;
        out.push(char::from_digit(digit, 16).unwrap_or('0'));
    }
}

/// Appends `text` as a JSON string, escaped as serde_json escapes it.
fn write_str(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                out.push_str("\\u");
                push_hex(out, c as u32, 4);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Builds one envelope's text, field by field, in serde's order.
struct Envelope(String);

impl Envelope {
    fn new(kind: &str) -> Envelope {
        let mut out = String::from("{\"type\":");
        write_str(&mut out, kind);
        Envelope(out)
    }

    fn key(&mut self, name: &str) -> &mut String {
        self.0.push(',');
        write_str(&mut self.0, name);
        self.0.push(':');
        &mut self.0
    }

    fn text(mut self, name: &str, value: &str) -> Envelope {
        write_str(self.key(name), value);
        self
    }

    fn texts(mut self, name: &str, values: &[String]) -> Envelope {
        let out = self.key(name);
        out.push('[');
        for (i, value) in values.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_str(out, value);
        }
        out.push(']');
        self
    }

    fn number(mut self, name: &str, value: u64) -> Envelope {
        let _ = write!(self.key(name), "{value}");
        self
    }

    /// Skipped when `None`, as `skip_serializing_if = "Option::is_none"`.
    fn optional_text(self, name: &str, value: &Option<String>) -> Envelope {
        match value {
            Some(value) => self.text(name, value),
            None => self,
        }
    }

    fn optional_number(self, name: &str, value: Option<u64>) -> Envelope {
        match value {
            Some(value) => self.number(name, value),
            None => self,
        }
    }

    /// A JSON value, written as its text.
    fn json(mut self, name: &str, value: &JsonText) -> Envelope {
        self.key(name).push_str(value.as_str());
        self
    }

    fn finish(mut self) -> String {
        self.0.push('}');
        self.0
    }
}

/// The envelope as JSON text, byte for byte what `serde_json::to_string` writes.
pub(crate) fn encode(envelope: &ClientEnvelope) -> String {
    match envelope {
        ClientEnvelope::Nick { nick } => Envelope::new("nick").text("nick", nick),
        ClientEnvelope::ListRooms => Envelope::new("list_rooms"),
        ClientEnvelope::Join { rooms } => Envelope::new("join").texts("rooms", rooms),
        ClientEnvelope::Leave { rooms } => Envelope::new("leave").texts("rooms", rooms),
        ClientEnvelope::Send { room, text, id, n } => Envelope::new("send")
            .text("room", room)
            .text("text", text)
            .optional_text("id", id)
            .optional_number("n", *n),
        ClientEnvelope::Session { token, next } => Envelope::new("session")
            .text("token", token)
            .optional_number("next", *next),
        ClientEnvelope::Resume {
            room,
            after_seq,
            epoch,
        } => Envelope::new("resume")
            .text("room", room)
            .number("after_seq", *after_seq)
            .optional_text("epoch", epoch),
        ClientEnvelope::Ping { id } => Envelope::new("ping").optional_text("id", id),
        ClientEnvelope::Emit {
            room,
            event,
            data,
            ack,
        } => Envelope::new("emit")
            .text("room", room)
            .text("event", event)
            .json("data", data)
            .optional_number("ack", *ack),
        ClientEnvelope::Refresh { token } => Envelope::new("refresh").text("token", token),
    }
    .finish()
}
