//! The server's envelope handling: any text a client sends either parses into an envelope
//! that survives a round trip, or is refused with an error; nothing panics.
#![no_main]

use ferrosocket_wire::chat::{validate_nick, validate_room, ClientEnvelope};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    match ClientEnvelope::parse(text) {
        Ok(envelope) => {
            let again = serde_json::to_string(&envelope).expect("envelopes serialise");
            assert_eq!(ClientEnvelope::parse(&again).expect("a serialised envelope parses"), envelope);
        }
        Err(err) => assert!(!err.message.is_empty()),
    }
    let _ = validate_nick(text, 32);
    let _ = validate_room(text, 64);
});
