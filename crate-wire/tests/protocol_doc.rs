//! Keeps `docs/PROTOCOL.md` true: every example in it parses with the wire types and
//! survives a round trip, and every envelope type has an example.

use std::collections::BTreeSet;

use ferrosocket_wire::chat::{ClientEnvelope, ServerEnvelope};
use serde_json::Value;

/// The `json client` and `json server` code blocks of the document, in order.
fn examples() -> Vec<(String, String)> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/PROTOCOL.md"))
        .expect("docs/PROTOCOL.md exists");
    let mut examples = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in doc.lines() {
        match (&mut current, line.trim()) {
            (None, fence) if fence.starts_with("```json ") => {
                current = Some((fence["```json ".len()..].to_owned(), String::new()));
            }
            (Some(_), "```") => examples.push(current.take().unwrap()),
            (Some((_, body)), _) => body.push_str(line),
            (None, _) => {}
        }
    }
    examples
}

fn type_of(json: &str) -> String {
    serde_json::from_str::<Value>(json).unwrap()["type"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn every_example_parses_and_round_trips() {
    let examples = examples();
    assert!(
        examples.len() > 20,
        "found only {} examples",
        examples.len()
    );
    for (side, json) in &examples {
        let original: Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"));
        let round_trip = match side.as_str() {
            "client" => {
                let parsed = ClientEnvelope::parse(json).unwrap_or_else(|e| panic!("{e}: {json}"));
                serde_json::to_value(parsed).unwrap()
            }
            "server" => {
                let parsed: ServerEnvelope =
                    serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"));
                serde_json::from_str(&parsed.to_json()).unwrap()
            }
            other => panic!("unknown block kind `json {other}`"),
        };
        assert_eq!(round_trip, original, "{json}");
    }
}

#[test]
fn every_envelope_type_has_an_example() {
    let documented = |side: &str| -> BTreeSet<String> {
        examples()
            .iter()
            .filter(|(s, _)| s == side)
            .map(|(_, json)| type_of(json))
            .collect()
    };
    let client: BTreeSet<String> = [
        "nick",
        "list_rooms",
        "join",
        "leave",
        "send",
        "session",
        "resume",
        "ping",
        "emit",
        "refresh",
    ]
    .map(String::from)
    .into();
    let server: BTreeSet<String> = [
        "welcome",
        "nick",
        "rooms",
        "joined",
        "left",
        "presence",
        "message",
        "ack",
        "resumed",
        "pong",
        "event",
        "event_ack",
        "token_expiring",
        "refreshed",
        "error",
    ]
    .map(String::from)
    .into();
    assert_eq!(documented("client"), client);
    assert_eq!(documented("server"), server);
}
