//! The `/echo` endpoint: every text and binary message is returned unchanged.

use ferrosocket_wire::{CloseCode, CloseReason};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

use crate::connection::Handler;
use crate::outbox::Outbox;

/// What the query string of an `/echo` request asks for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EchoOptions {
    /// Close right after the handshake with this frame (`?close=CODE&reason=TEXT`).
    pub close: Option<CloseFrame>,
    /// Swallow every message instead of echoing it (`?mute=1`): a peer that stopped
    /// answering, for testing client heartbeats.
    pub mute: bool,
}

impl EchoOptions {
    /// Parses `close=CODE`, `reason=TEXT` and `mute=1` from a query string; the error says
    /// which parameter is wrong and why. `CODE` may be any code a server may send
    /// ([`CloseCode::server_may_send`]), so clients can be tested against 1001, 1011...
    pub fn from_query(query: Option<&str>) -> Result<EchoOptions, String> {
        let mut code = None;
        let mut mute = false;
        let mut reason = String::new();
        for (name, value) in crate::http_parts::query_pairs(query) {
            match name {
                "close" => {
                    let number: u16 = value
                        .parse()
                        .map_err(|_| format!("close={value:?} is not a close code"))?;
                    if !CloseCode::server_may_send(number) {
                        return Err(format!(
                            "close={number} is not a code a server may send \
                             (1000-1003, 1007-1014 or 3000-4999)"
                        ));
                    }
                    code = Some(number);
                }
                "reason" => {
                    let decoded = crate::http_parts::percent_decode(&value.replace('+', " "))
                        .ok_or_else(|| {
                            format!("reason={value:?} is not valid percent-encoded UTF-8")
                        })?;
                    reason = CloseReason::new(&decoded)
                        .map_err(|err| err.to_string())?
                        .as_str()
                        .to_owned();
                }
                "mute" => mute = value == "1" || value == "true",
                _ => {}
            }
        }
        if code.is_none() && !reason.is_empty() {
            return Err("reason= needs close=CODE as well".to_owned());
        }
        Ok(EchoOptions {
            close: code.map(|code| CloseFrame {
                code: code.into(),
                reason: reason.into(),
            }),
            mute,
        })
    }
}

/// The `/echo` connection: every text and binary message goes back unchanged.
///
/// Replies wait for room in the connection's outbound queue, so a client that sends
/// faster than it reads is slowed down (TCP backpressure) rather than disconnected.
#[derive(Debug, Default)]
pub(crate) struct EchoSession {
    /// Swallow instead of echoing.
    pub mute: bool,
}

impl Handler for EchoSession {
    async fn on_message(&mut self, message: Message, outbox: &Outbox) {
        if !self.mute {
            let _ = outbox.send(message).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_close_and_reason() {
        let options = EchoOptions::from_query(Some("close=4001&reason=going+away%21")).unwrap();
        let frame = options.close.unwrap();
        assert_eq!(u16::from(frame.code), 4001);
        assert_eq!(frame.reason.as_str(), "going away!");
        assert_eq!(
            EchoOptions::from_query(None).unwrap(),
            EchoOptions::default()
        );
    }

    #[test]
    fn refuses_codes_and_reasons_a_client_could_not_send() {
        assert!(EchoOptions::from_query(Some("close=1006"))
            .unwrap_err()
            .contains("1006"));
        assert!(EchoOptions::from_query(Some("close=abc")).is_err());
        let long = format!("close=4000&reason={}", "x".repeat(124));
        assert!(EchoOptions::from_query(Some(&long))
            .unwrap_err()
            .contains("124"));
        assert!(EchoOptions::from_query(Some("reason=hi")).is_err());
    }
}
