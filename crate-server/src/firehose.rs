//! `/test/firehose?count=N&size=B` (behind `--test-endpoints`): right after the handshake
//! the server sends N text messages of B bytes as fast as the peer reads them, then closes
//! with 1000. It measures how fast a client *receives* (the browser benchmark page).

use std::fmt::Display;
use std::ops::RangeInclusive;
use std::str::FromStr;

use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use crate::connection::Handler;
use crate::http_parts::query_pairs;
use crate::outbox::Outbox;

/// The most messages one firehose sends.
const MAX_COUNT: u64 = 10_000_000;
/// The largest message one firehose sends.
const MAX_SIZE: usize = 1 << 20;

/// What a `/test/firehose` request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Firehose {
    count: u64,
    size: usize,
}

impl Firehose {
    /// Parses `count=N` (default 100,000) and `size=B` (default 64); the error names the
    /// parameter that is out of range.
    pub(crate) fn from_query(query: Option<&str>) -> Result<Firehose, String> {
        let mut firehose = Firehose {
            count: 100_000,
            size: 64,
        };
        for (name, value) in query_pairs(query) {
            match name {
                "count" => firehose.count = number_in(name, value, 1..=MAX_COUNT)?,
                "size" => firehose.size = number_in(name, value, 1..=MAX_SIZE)?,
                _ => {}
            }
        }
        Ok(firehose)
    }
}

/// `value` as a number within `range`, or an error naming the parameter.
fn number_in<T>(name: &str, value: &str, range: RangeInclusive<T>) -> Result<T, String>
where
    T: FromStr + PartialOrd + Display,
{
    value
        .parse()
        .ok()
        .filter(|n| range.contains(n))
        .ok_or_else(|| {
            format!(
                "{name}={value:?} must be {}..={}",
                range.start(),
                range.end()
            )
        })
}

impl Handler for Firehose {
    async fn on_message(&mut self, _message: Message, _outbox: &Outbox) {}

    async fn on_start(&mut self, outbox: &Outbox) {
        // The writer only starts once `on_start` returns: feed the queue from a task.
        let (count, outbox) = (self.count, outbox.clone());
        // Encoded once: every message shares the same bytes.
        let body = Utf8Bytes::from("x".repeat(self.size));
        tokio::spawn(async move {
            for _ in 0..count {
                if outbox.send(Message::Text(body.clone())).await.is_err() {
                    return;
                }
            }
            outbox.close_signal().close(CloseCode::Normal, "done");
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_count_and_size_and_names_bad_ones() {
        assert_eq!(
            Firehose::from_query(Some("count=10&size=3")).unwrap(),
            Firehose { count: 10, size: 3 }
        );
        assert_eq!(Firehose::from_query(None).unwrap().count, 100_000);
        assert!(Firehose::from_query(Some("count=0"))
            .unwrap_err()
            .contains("count"));
        assert!(Firehose::from_query(Some("size=abc"))
            .unwrap_err()
            .contains("size"));
    }
}
