//! The hand-written codec in `wire.rs` against the reference, `ferrosocket-wire`'s serde
//! types: on thousands of seeded random envelopes, and on mutations of them (a field
//! removed, retyped, repeated or added, the text cut or garbled), both must accept the
//! same texts and read the same envelopes, and the client's envelopes must be written
//! byte for byte as serde writes them. A failing seed is printed.

use super::test_rng::Rng;
use ferrosocket_wire::chat::{
    ClientEnvelope, ErrorCode, HistoryEntry, JsonText, PresenceChange, RoomInfo, ServerEnvelope,
    MAX_DATA_DEPTH,
};
use serde_json::{json, Map, Value};

use super::wire::{decode, encode, json_text, parse_value};

/// Whether two JSON values are the same, floats within a few units in the last place:
/// serde_json's default float parser is not exact (it reads `0.00022463700000000002`, which
/// it wrote itself, one unit off); Rust's, used by `wire.rs`, is.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            x == y || (x - y).abs() <= 1e-15 * x.abs().max(y.abs())
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|((k, x), (l, y))| k == l && same(x, y))
        }
        _ => a == b,
    }
}

/// [`same`] for anything serde writes.
fn same_as<T: serde::Serialize>(a: &T, b: &T) -> bool {
    same(
        &serde_json::to_value(a).unwrap(),
        &serde_json::to_value(b).unwrap(),
    )
}

/// Text with what is hard to escape: quotes, backslashes, control characters, `/`,
/// non-ASCII and astral characters.
fn text(rng: &mut Rng) -> String {
    const PIECES: &[&str] = &[
        "a", "lobby", " ", "\"", "\\", "/", "\n", "\r", "\t", "\u{0}", "\u{1f}", "\u{7f}", "\u{8}",
        "\u{c}", "é", "日本", "😀", "\u{2028}", "{", "}", "[", "]", ":", ",",
    ];
    (0..rng.below(8)).map(|_| *rng.pick(PIECES)).collect()
}

fn number(rng: &mut Rng) -> u64 {
    match rng.below(4) {
        0 => rng.below(10),
        1 => rng.below(1 << 20),
        2 => *rng.pick(&[u64::from(u32::MAX), u64::from(u32::MAX) + 1, u64::MAX]),
        _ => rng.next(),
    }
}

fn optional_text(rng: &mut Rng) -> Option<String> {
    rng.chance(50).then(|| text(rng))
}

fn optional_number(rng: &mut Rng) -> Option<u64> {
    rng.chance(50).then(|| number(rng))
}

/// Floats with few significant digits: serde_json's default parser is exact for them
/// (for others it may be one unit off, where Rust's is exact).
fn float(rng: &mut Rng) -> f64 {
    let mantissa = rng.below(2_000_001) as f64 - 1_000_000.0;
    *rng.pick(&[
        mantissa / 1000.0,
        mantissa * 1e20,
        mantissa * 1e-9,
        0.5,
        -0.0,
        1e300,
        1e-7,
    ])
}

/// An event's data as an application would write it: compact, or with whitespace
/// (which the client keeps as it is).
fn json_text_of(rng: &mut Rng) -> JsonText {
    let value = value(rng, 0);
    if rng.chance(50) {
        value.into()
    } else {
        JsonText::parse(&format!(
            " {}\n",
            serde_json::to_string_pretty(&value).unwrap()
        ))
        .unwrap()
    }
}

fn value(rng: &mut Rng, depth: u32) -> Value {
    match rng.below(if depth > 2 { 6 } else { 8 }) {
        0 => Value::Null,
        1 => Value::Bool(rng.chance(50)),
        2 => json!(number(rng)),
        3 => json!(-(rng.below(1 << 40) as i64) - 1),
        4 => json!(float(rng)),
        5 => Value::String(text(rng)),
        6 => Value::Array((0..rng.below(4)).map(|_| value(rng, depth + 1)).collect()),
        _ => Value::Object(
            (0..rng.below(4))
                .map(|_| (text(rng), value(rng, depth + 1)))
                .collect::<Map<_, _>>(),
        ),
    }
}

fn texts(rng: &mut Rng) -> Vec<String> {
    (0..rng.below(4)).map(|_| text(rng)).collect()
}

fn entry(rng: &mut Rng) -> HistoryEntry {
    HistoryEntry {
        seq: number(rng),
        from: text(rng),
        text: text(rng),
        ts: number(rng),
        id: optional_text(rng),
    }
}

fn server_envelope(rng: &mut Rng) -> ServerEnvelope {
    let small = |rng: &mut Rng| rng.below(1 << 31);
    match rng.below(16) {
        0 => ServerEnvelope::Welcome {
            nick: text(rng),
            history_limit: small(rng) as usize,
            rate_limit: small(rng) as u32,
            epoch: text(rng),
            rate_burst: small(rng) as u32,
            max_text_bytes: small(rng) as usize,
            session: text(rng),
        },
        1 => ServerEnvelope::Nick { nick: text(rng) },
        2 => ServerEnvelope::Rooms {
            rooms: (0..rng.below(4))
                .map(|_| RoomInfo {
                    name: text(rng),
                    members: small(rng) as usize,
                })
                .collect(),
        },
        3 => ServerEnvelope::Joined {
            room: text(rng),
            members: texts(rng),
            history: (0..rng.below(4)).map(|_| entry(rng)).collect(),
        },
        4 => ServerEnvelope::Left { room: text(rng) },
        5 => ServerEnvelope::Presence {
            room: text(rng),
            change: *rng.pick(&[
                PresenceChange::Join,
                PresenceChange::Leave,
                PresenceChange::Rename,
            ]),
            nick: text(rng),
            old_nick: optional_text(rng),
        },
        6 => {
            let e = entry(rng);
            ServerEnvelope::Message {
                room: text(rng),
                seq: e.seq,
                from: e.from,
                text: e.text,
                ts: e.ts,
                id: e.id,
            }
        }
        7 => ServerEnvelope::Ack {
            id: optional_text(rng),
            room: text(rng),
            seq: number(rng),
        },
        8 => ServerEnvelope::Resumed {
            room: text(rng),
            last_seq: number(rng),
            complete: rng.chance(50),
        },
        9 => ServerEnvelope::Pong {
            id: optional_text(rng),
        },
        10 => ServerEnvelope::Event {
            room: text(rng),
            event: text(rng),
            from: text(rng),
            data: value(rng, 0).into(),
        },
        11 => ServerEnvelope::EventAck { ack: number(rng) },
        12 => ServerEnvelope::Error {
            code: *rng.pick(&ErrorCode::ALL),
            message: text(rng),
            reference: optional_text(rng),
        },
        13 => ServerEnvelope::TokenExpiring { exp: number(rng) },
        14 => ServerEnvelope::Refreshed { exp: number(rng) },
        _ => ServerEnvelope::Pong { id: None },
    }
}

fn client_envelope(rng: &mut Rng) -> ClientEnvelope {
    match rng.below(10) {
        0 => ClientEnvelope::Nick { nick: text(rng) },
        1 => ClientEnvelope::ListRooms,
        2 => ClientEnvelope::Join { rooms: texts(rng) },
        3 => ClientEnvelope::Leave { rooms: texts(rng) },
        4 => ClientEnvelope::Send {
            room: text(rng),
            text: text(rng),
            id: optional_text(rng),
            n: optional_number(rng),
        },
        5 => ClientEnvelope::Session {
            token: text(rng),
            next: optional_number(rng),
        },
        6 => ClientEnvelope::Resume {
            room: text(rng),
            after_seq: number(rng),
            epoch: optional_text(rng),
        },
        7 => ClientEnvelope::Ping {
            id: optional_text(rng),
        },
        8 => ClientEnvelope::Refresh { token: text(rng) },
        _ => ClientEnvelope::Emit {
            room: text(rng),
            event: text(rng),
            data: json_text_of(rng),
            ack: optional_number(rng),
        },
    }
}

/// Every member name an envelope may have, and some it may not.
const KEYS: &[&str] = &[
    "type",
    "nick",
    "history_limit",
    "rate_limit",
    "epoch",
    "rate_burst",
    "max_text_bytes",
    "session",
    "rooms",
    "room",
    "members",
    "history",
    "change",
    "old_nick",
    "seq",
    "from",
    "text",
    "ts",
    "id",
    "last_seq",
    "complete",
    "event",
    "data",
    "ack",
    "code",
    "message",
    "ref",
    "name",
    "exp",
    "unknown",
];

/// A member value of any kind, including ones envelopes never hold.
fn odd_value(rng: &mut Rng) -> Value {
    match rng.below(10) {
        0 => json!("welcome"),
        1 => json!(*rng.pick(&[
            "join",
            "leave",
            "rename",
            "nick_taken",
            "pong",
            "message",
            "token_expiring",
            "refreshed"
        ])),
        2 => json!(u64::MAX),
        3 => json!(u64::from(u32::MAX) + 1),
        4 => json!(-1),
        5 => json!(1.0),
        6 => json!([{"name": "a", "members": 1}]),
        7 => json!([{"seq": 1, "from": "a", "text": "b", "ts": 2}]),
        8 => json!(["a", 1]),
        _ => value(rng, 1),
    }
}

/// A variation of a valid envelope's text that may or may not still be valid.
fn mutate(rng: &mut Rng, text: &str) -> String {
    let mut object = match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(object)) => object,
        _ => unreachable!("envelopes are objects"),
    };
    match rng.below(7) {
        0 => {
            let key = object
                .keys()
                .nth(rng.below(object.len() as u64) as usize)
                .cloned();
            object.remove(&key.unwrap_or_default());
        }
        1 | 2 => {
            object.insert(rng.pick(KEYS).to_string(), odd_value(rng));
        }
        3 => {
            // A member repeated: serde refuses a known one, ignores an unknown one.
            let key = rng.pick(KEYS);
            let extra = serde_json::to_string(&odd_value(rng)).unwrap();
            return format!("{{\"{key}\":{extra},{}", &text[1..]);
        }
        4 => {
            let cut = rng.below(text.len() as u64) as usize;
            return text.get(..cut).unwrap_or(text).to_owned();
        }
        5 => {
            let mut bytes = text.as_bytes().to_vec();
            let at = rng.below(bytes.len() as u64) as usize;
            bytes.insert(at, *rng.pick(b"\"\\{}[],:0-.e \x01atn"));
            return String::from_utf8(bytes).unwrap_or_default();
        }
        _ => {
            object.insert("type".into(), json!(*rng.pick(&["nope", "Welcome", ""])));
        }
    }
    serde_json::to_string(&Value::Object(object)).unwrap()
}

#[test]
fn server_envelopes_are_read_as_serde_reads_them() {
    for seed in 0..4000 {
        let mut rng = Rng(seed);
        let envelope = server_envelope(&mut rng);
        let compact = serde_json::to_string(&envelope).unwrap();
        let pretty = serde_json::to_string_pretty(&envelope).unwrap();
        assert_eq!(
            decode(&compact).as_ref(),
            Ok(&envelope),
            "seed {seed}: {compact}"
        );
        // Pretty-printed, an event's `data` is handed on as the (pretty) text it was.
        let ours = decode(&pretty).unwrap_or_else(|err| panic!("seed {seed}: {err}"));
        assert!(same_as(&ours, &envelope), "seed {seed}: {pretty}");
        if let ServerEnvelope::Event { data, .. } = &ours {
            assert!(
                pretty.contains(data.as_str()),
                "seed {seed}: {data} in {pretty}"
            );
        }
    }
}

#[test]
fn mutated_server_envelopes_are_refused_exactly_when_serde_refuses_them() {
    let (mut accepted, mut refused) = (0, 0);
    for seed in 0..20_000 {
        let mut rng = Rng(seed);
        let envelope = server_envelope(&mut rng);
        let text = mutate(&mut rng, &serde_json::to_string(&envelope).unwrap());
        let ours = decode(&text);
        let theirs = serde_json::from_str::<ServerEnvelope>(&text);
        match (&ours, &theirs) {
            (Ok(ours), Ok(theirs)) => {
                assert!(
                    same_as(ours, theirs),
                    "seed {seed}: {text}\n ours: {ours:?}\n serde: {theirs:?}"
                );
                accepted += 1;
            }
            (Err(_), Err(_)) => refused += 1,
            _ => panic!("seed {seed}: {text}\n ours: {ours:?}\n serde: {theirs:?}"),
        }
    }
    // The mutations must test both sides.
    assert!(
        accepted > 2000 && refused > 2000,
        "{accepted} accepted, {refused} refused"
    );
}

#[test]
fn client_envelopes_are_written_as_serde_writes_them() {
    for seed in 0..4000 {
        let mut rng = Rng(seed);
        let envelope = client_envelope(&mut rng);
        let ours = encode(&envelope);
        let theirs = serde_json::to_string(&envelope).unwrap();
        assert_eq!(ours, theirs, "seed {seed}");
        // And the server reads it back as sent.
        let back = ClientEnvelope::parse(&ours).unwrap();
        assert!(same_as(&back, &envelope), "seed {seed}: {ours}");
    }
}

#[test]
fn json_values_are_read_as_serde_reads_them() {
    for seed in 0..10_000 {
        let mut rng = Rng(seed);
        let value = value(&mut rng, 0);
        let text = serde_json::to_string(&value).unwrap();
        // Rust's float parser is exact: what serde wrote reads back as the same value.
        assert_eq!(
            parse_value(&text).as_ref(),
            Ok(&value),
            "seed {seed}: {text}"
        );
        // Garbled: both parsers agree on whether it is JSON, and on what it says.
        let mut bytes = text.into_bytes();
        let at = rng.below(bytes.len() as u64 + 1) as usize;
        match rng.below(3) {
            0 => bytes.truncate(at),
            1 => bytes.insert(at, *rng.pick(b"\"\\{}[],:0-.eE+ \x01atnu")),
            _ => {
                let pieces: [&[u8]; 8] = [
                    &b"\\ud83d"[..],
                    b"\\udc00",
                    b"\\u00e9",
                    b"01",
                    b"-0",
                    b"1e999",
                    b"1.5e3",
                    b"[[[]]]",
                ];
                let piece = pieces[rng.below(8) as usize];
                bytes.splice(at..at, piece.iter().copied());
            }
        }
        let Ok(garbled) = String::from_utf8(bytes) else {
            continue;
        };
        // An event's data is accepted exactly when serde accepts it, and kept as the same
        // value (see the test below for the whitespace it drops).
        match (json_text(&garbled), JsonText::parse(&garbled)) {
            (Ok(ours), Ok(theirs)) => {
                let value = |text: &str| serde_json::from_str::<Value>(text).unwrap();
                assert!(
                    same(&value(ours.as_str()), &value(theirs.as_str())),
                    "seed {seed}: {garbled}\n ours: {ours}"
                );
                assert!(ours.as_str().len() <= garbled.trim().len(), "seed {seed}");
            }
            (Err(_), Err(_)) => {}
            (ours, theirs) => panic!("seed {seed}: {garbled}\n ours: {ours:?}\n serde: {theirs:?}"),
        }
        match (
            parse_value(&garbled),
            serde_json::from_str::<Value>(&garbled),
        ) {
            (Ok(ours), Ok(theirs)) => assert!(same(&ours, &theirs), "seed {seed}: {garbled}"),
            (Err(_), Err(_)) => {}
            (ours, theirs) => panic!("seed {seed}: {garbled}\n ours: {ours:?}\n serde: {theirs:?}"),
        }
    }
}

/// An event's data nested as deep as the server takes is accepted, and one level deeper
/// is refused before sending, naming the problem (the server would refuse it `too_large`,
/// or, two levels deeper, not read the `emit` at all and so not name its `ack`).
#[test]
fn event_data_is_accepted_exactly_as_deep_as_the_server_accepts_it() {
    for depth in (0..=10).chain(MAX_DATA_DEPTH - 5..=MAX_DATA_DEPTH + 5) {
        for (open, close) in [("[", "]"), (r#"{"a":"#, "}")] {
            let text = format!("{}1{}", open.repeat(depth), close.repeat(depth));
            let data = json_text(&text);
            let server_side = JsonText::parse(&text)
                .ok()
                .filter(|data| data.depth() <= MAX_DATA_DEPTH);
            match (data, server_side) {
                (Ok(ours), Some(theirs)) => {
                    assert_eq!(ours, theirs, "depth {depth}");
                    let emit = ClientEnvelope::Emit {
                        room: "r".into(),
                        event: "e".into(),
                        data: ours,
                        ack: Some(1),
                    };
                    assert!(
                        ClientEnvelope::parse(&encode(&emit)).is_ok(),
                        "depth {depth}"
                    );
                }
                (Err(err), None) => assert!(err.starts_with("nested too deeply"), "{err}"),
                (ours, theirs) => panic!("depth {depth}: ours {ours:?}, the server's {theirs:?}"),
            }
        }
    }
}

#[test]
fn event_data_goes_out_without_the_whitespace_between_its_tokens() {
    for (text, sent) in [
        (
            " { \"a\" : [ 1 , 2.50 ] ,\n\t\"s\" : \"x y\" } ",
            r#"{"a":[1,2.50],"s":"x y"}"#,
        ),
        // Quotes and backslashes escaped inside strings do not end them.
        (
            r#"[ "a \" b" , "c \\" , " d " ]"#,
            r#"["a \" b","c \\"," d "]"#,
        ),
        // Keys stay in their order, repeated ones too: the server keeps the last.
        (
            r#"{ "b" : 1 , "a" : 2 , "b" : 3 }"#,
            r#"{"b":1,"a":2,"b":3}"#,
        ),
        ("\r\n true \n", "true"),
    ] {
        assert_eq!(json_text(text).unwrap().as_str(), sent, "{text:?}");
    }
}

#[test]
fn deep_nesting_is_refused_as_serde_refuses_it() {
    for depth in [100, 127, 128, 129, 1000] {
        let text = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        assert_eq!(
            parse_value(&text).is_ok(),
            serde_json::from_str::<Value>(&text).is_ok(),
            "depth {depth}"
        );
    }
}

#[test]
fn bad_envelopes_are_refused_with_the_problem_named() {
    for (text, problem) in [
        ("", "end of JSON"),
        ("[]", "must be an object"),
        (r#"{"nick":"a"}"#, "missing field `type`"),
        (r#"{"type":"nope"}"#, "unknown envelope type"),
        (r#"{"type":"nick"}"#, "missing field `nick`"),
        (
            r#"{"type":"nick","nick":5}"#,
            "field `nick` must be a string",
        ),
        (
            r#"{"type":"nick","nick":"a","nick":"b"}"#,
            "duplicate field `nick`",
        ),
        (r#"{"type":"event_ack","ack":-1}"#, "out of range"),
        (r#"{"type":"pong"} x"#, "trailing characters"),
    ] {
        let err = decode(text).unwrap_err();
        assert!(err.contains(problem), "{text}: {err}");
    }
}
