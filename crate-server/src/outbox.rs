//! Each connection's bounded outbound queue, and the signal that closes the connection.
//!
//! The hub pushes into a member's [`Outbox`] without ever waiting: if the queue is full
//! (by count or by bytes) the member is too slow, its connection is closed with 1013, and
//! the hub moves on to the next member.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

/// Asks a connection's writer to send a close frame and stop. The first request wins.
#[derive(Debug, Clone, Default)]
pub struct CloseSignal {
    token: CancellationToken,
    frame: Arc<Mutex<Option<CloseFrame>>>,
}

impl CloseSignal {
    /// Requests a close with `code` and `reason`, unless one was already requested.
    pub fn close(&self, code: CloseCode, reason: &str) {
        let mut frame = self.frame.lock().expect("close frame lock");
        if !self.token.is_cancelled() {
            *frame = Some(CloseFrame {
                code,
                reason: reason.into(),
            });
            self.token.cancel();
        }
    }

    /// Stops the writer without sending a close frame (the connection is already gone).
    pub fn stop(&self) {
        self.token.cancel();
    }

    /// Whether a close was requested.
    pub fn is_closing(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Completes once a close was requested.
    pub async fn requested(&self) {
        self.token.cancelled().await;
    }

    /// Whether the requested close is the one for a slow consumer (1013).
    pub fn is_slow_consumer(&self) -> bool {
        let frame = self.frame.lock().expect("close frame lock");
        frame
            .as_ref()
            .is_some_and(|frame| frame.code == CloseCode::Again)
    }

    /// The frame to send, if any (taken once).
    pub fn take_frame(&self) -> Option<CloseFrame> {
        self.frame.lock().expect("close frame lock").take()
    }
}

/// Why a push was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushError {
    /// The queue is full: the connection is being closed as a slow consumer.
    Overflow,
    /// The connection is gone.
    Closed,
}

/// The sending side of a connection's queue; cheap to clone.
#[derive(Debug, Clone)]
pub struct Outbox {
    tx: mpsc::Sender<Message>,
    queued_bytes: Arc<AtomicUsize>,
    max_bytes: usize,
    close: CloseSignal,
}

/// The receiving side, owned by the connection's writer.
#[derive(Debug)]
pub struct OutboxReceiver {
    rx: mpsc::Receiver<Message>,
    queued_bytes: Arc<AtomicUsize>,
}

/// A queue of at most `max_messages` messages and `max_bytes` payload bytes.
pub fn outbox(
    max_messages: usize,
    max_bytes: usize,
    close: CloseSignal,
) -> (Outbox, OutboxReceiver) {
    let (tx, rx) = mpsc::channel(max_messages.max(1));
    let queued_bytes = Arc::new(AtomicUsize::new(0));
    (
        Outbox {
            tx,
            queued_bytes: Arc::clone(&queued_bytes),
            max_bytes,
            close,
        },
        OutboxReceiver { rx, queued_bytes },
    )
}

impl Outbox {
    /// Queues `message` without waiting. On overflow the connection is asked to close
    /// with 1013 (try again later).
    pub fn push(&self, message: Message) -> Result<(), PushError> {
        if self.close.is_closing() {
            return Err(PushError::Closed);
        }
        let len = message.len();
        let queued = self.queued_bytes.fetch_add(len, Ordering::Relaxed) + len;
        let result = if queued > self.max_bytes {
            Err(PushError::Overflow)
        } else {
            self.tx.try_send(message).map_err(|err| match err {
                mpsc::error::TrySendError::Full(_) => PushError::Overflow,
                mpsc::error::TrySendError::Closed(_) => PushError::Closed,
            })
        };
        if let Err(err) = result {
            self.queued_bytes.fetch_sub(len, Ordering::Relaxed);
            if err == PushError::Overflow {
                self.close.close(CloseCode::Again, "too slow to keep up");
            }
        }
        result
    }

    /// Queues `message`, waiting while the queue is full: backpressure on a peer that is
    /// only ever sent its own replies (echo). Gives up if the connection closes.
    pub async fn send(&self, message: Message) -> Result<(), PushError> {
        let len = message.len();
        tokio::select! {
            sent = self.tx.send(message) => {
                sent.map_err(|_| PushError::Closed)?;
                self.queued_bytes.fetch_add(len, Ordering::Relaxed);
                Ok(())
            }
            () = self.close.requested() => Err(PushError::Closed),
        }
    }

    /// The connection's close signal.
    pub fn close_signal(&self) -> &CloseSignal {
        &self.close
    }
}

impl OutboxReceiver {
    /// The next queued message; `None` once every sender is gone.
    pub async fn recv(&mut self) -> Option<Message> {
        let message = self.rx.recv().await?;
        self.queued_bytes
            .fetch_sub(message.len(), Ordering::Relaxed);
        Some(message)
    }

    /// The next queued message if one is ready now.
    pub fn try_recv(&mut self) -> Option<Message> {
        let message = self.rx.try_recv().ok()?;
        self.queued_bytes
            .fetch_sub(message.len(), Ordering::Relaxed);
        Some(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn overflow_by_count_or_bytes_closes_with_1013() {
        let close = CloseSignal::default();
        let (tx, mut rx) = outbox(2, 1000, close.clone());
        tx.push(Message::text("a")).unwrap();
        tx.push(Message::text("b")).unwrap();
        assert_eq!(tx.push(Message::text("c")), Err(PushError::Overflow));
        assert!(close.is_closing());
        assert_eq!(u16::from(close.take_frame().unwrap().code), 1013);
        assert_eq!(rx.recv().await, Some(Message::text("a")));

        let close = CloseSignal::default();
        let (tx, mut rx) = outbox(10, 10, close.clone());
        tx.push(Message::binary(vec![0; 6])).unwrap();
        assert_eq!(
            tx.push(Message::binary(vec![0; 6])),
            Err(PushError::Overflow)
        );
        assert_eq!(rx.recv().await.unwrap().len(), 6);
        // Nothing more is taken once the connection is closing.
        assert_eq!(tx.push(Message::text("x")), Err(PushError::Closed));
    }

    #[tokio::test]
    async fn draining_frees_bytes() {
        let (tx, mut rx) = outbox(10, 10, CloseSignal::default());
        tx.push(Message::binary(vec![0; 8])).unwrap();
        rx.recv().await.unwrap();
        tx.push(Message::binary(vec![0; 8])).unwrap();
        assert!(rx.try_recv().is_some());
    }
}
