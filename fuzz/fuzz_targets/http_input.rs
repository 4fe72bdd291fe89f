//! What the server reads from HTTP before any WebSocket exists: request paths (which must
//! never escape the www root), handshake headers and `/echo` query strings.
//!
//! Input: a path line, then `name: value` header lines, then an empty line and a query.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let text = String::from_utf8_lossy(bytes);
    let mut lines = text.split('\n');
    let path = lines.next().unwrap_or("");
    let _ = ferrosocket_server::fuzzing::static_path(path);
    let mut pairs: Vec<(&[u8], &[u8])> = Vec::new();
    let mut query = "";
    for line in lines.by_ref() {
        match line.split_once(':') {
            Some((name, value)) => pairs.push((name.as_bytes(), value.trim().as_bytes())),
            None => {
                query = line;
                break;
            }
        }
    }
    let _ = ferrosocket_server::fuzzing::handshake(&pairs);
    let _ = ferrosocket_server::fuzzing::echo_query(query);
});
