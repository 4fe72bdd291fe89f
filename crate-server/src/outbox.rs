//! Each connection's bounded outbound queue, and the signal that closes the connection.
//!
//! The hub pushes into a member's [`Outbox`] without ever waiting: if the queue is full
//! (by count or by bytes) the member is too slow, its connection is closed with 1013, and
//! the hub moves on to the next member.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;
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

/// The queue both sides share. Its memory is allocated by the first message, not when the
/// connection opens, and given back once it drains: idle connections hold no slots.
#[derive(Debug)]
struct Queue {
    state: Mutex<QueueState>,
    /// Wakes the writer: a message arrived, or the last sender went away.
    readable: Notify,
    /// Wakes a sender waiting for room: a message left, or the writer went away.
    writable: Notify,
    max_messages: usize,
    max_bytes: usize,
}

#[derive(Debug, Default)]
struct QueueState {
    messages: VecDeque<Message>,
    bytes: usize,
    senders: usize,
    receiver_gone: bool,
}

/// A drained queue keeps at most this many slots.
const KEEP_SLOTS: usize = 16;

impl QueueState {
    fn pop(&mut self) -> Option<Message> {
        let message = self.messages.pop_front()?;
        self.bytes -= message.len();
        if self.messages.is_empty() && self.messages.capacity() > KEEP_SLOTS {
            self.messages = VecDeque::new();
        }
        Some(message)
    }

    fn push(&mut self, message: Message) {
        self.bytes += message.len();
        self.messages.push_back(message);
    }
}

/// The sending side of a connection's queue; cheap to clone.
#[derive(Debug)]
pub struct Outbox {
    queue: Arc<Queue>,
    close: CloseSignal,
}

/// The receiving side, owned by the connection's writer.
#[derive(Debug)]
pub struct OutboxReceiver {
    queue: Arc<Queue>,
}

/// A queue of at most `max_messages` messages and `max_bytes` payload bytes.
pub fn outbox(
    max_messages: usize,
    max_bytes: usize,
    close: CloseSignal,
) -> (Outbox, OutboxReceiver) {
    let queue = Arc::new(Queue {
        state: Mutex::new(QueueState {
            senders: 1,
            ..QueueState::default()
        }),
        readable: Notify::new(),
        writable: Notify::new(),
        max_messages: max_messages.max(1),
        max_bytes,
    });
    (
        Outbox {
            queue: Arc::clone(&queue),
            close,
        },
        OutboxReceiver { queue },
    )
}

impl Queue {
    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        self.state.lock().expect("outbox lock")
    }
}

impl Clone for Outbox {
    fn clone(&self) -> Outbox {
        self.queue.lock().senders += 1;
        Outbox {
            queue: Arc::clone(&self.queue),
            close: self.close.clone(),
        }
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        let last = {
            let mut state = self.queue.lock();
            state.senders -= 1;
            state.senders == 0
        };
        if last {
            self.queue.readable.notify_one();
        }
    }
}

impl Outbox {
    /// Queues `message` without waiting. On overflow the connection is asked to close
    /// with 1013 (try again later).
    pub fn push(&self, message: Message) -> Result<(), PushError> {
        if self.close.is_closing() {
            return Err(PushError::Closed);
        }
        let result = {
            let mut state = self.queue.lock();
            if state.receiver_gone {
                Err(PushError::Closed)
            } else if state.messages.len() >= self.queue.max_messages
                || state.bytes + message.len() > self.queue.max_bytes
            {
                Err(PushError::Overflow)
            } else {
                state.push(message);
                Ok(())
            }
        };
        match result {
            Ok(()) => self.queue.readable.notify_one(),
            Err(PushError::Overflow) => self.close.close(CloseCode::Again, "too slow to keep up"),
            Err(PushError::Closed) => {}
        }
        result
    }

    /// Queues `message`, waiting while the queue is full: backpressure on a peer that is
    /// only ever sent its own replies (echo). Gives up if the connection closes.
    pub async fn send(&self, message: Message) -> Result<(), PushError> {
        loop {
            // Registered before looking, so that neither a message leaving nor the writer
            // going away in between is missed.
            let room = self.queue.writable.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            {
                let mut state = self.queue.lock();
                if state.receiver_gone {
                    return Err(PushError::Closed);
                }
                if state.messages.len() < self.queue.max_messages {
                    state.push(message);
                    drop(state);
                    self.queue.readable.notify_one();
                    return Ok(());
                }
            }
            tokio::select! {
                () = room => {}
                () = self.close.requested() => return Err(PushError::Closed),
            }
        }
    }

    /// Waits until `bytes` more would fit in the queue (or it is empty), or the connection
    /// is closing. Answers a client asked for (a join, a replay) wait here first, so that
    /// asking for many at once paces the client instead of closing it as a slow consumer.
    pub async fn room_for(&self, bytes: usize) {
        loop {
            let room = self.queue.writable.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            {
                let state = self.queue.lock();
                if state.receiver_gone
                    || state.messages.is_empty()
                    || state.bytes + bytes <= self.queue.max_bytes
                {
                    return;
                }
            }
            tokio::select! {
                () = room => {}
                () = self.close.requested() => return,
            }
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
        loop {
            {
                let mut state = self.queue.lock();
                if let Some(message) = state.pop() {
                    drop(state);
                    self.queue.writable.notify_one();
                    return Some(message);
                }
                if state.senders == 0 {
                    return None;
                }
            }
            // `notify_one` keeps a permit when nobody waits: a push between the check
            // above and this wait is not missed.
            self.queue.readable.notified().await;
        }
    }

    /// The next queued message if one is ready now.
    pub fn try_recv(&mut self) -> Option<Message> {
        let message = self.queue.lock().pop()?;
        self.queue.writable.notify_one();
        Some(message)
    }
}

impl Drop for OutboxReceiver {
    fn drop(&mut self) {
        self.queue.lock().receiver_gone = true;
        self.queue.writable.notify_waiters();
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
    async fn an_idle_queue_holds_no_slots_and_a_drained_one_gives_them_back() {
        let (tx, mut rx) = outbox(1000, 1 << 20, CloseSignal::default());
        assert_eq!(rx.queue.lock().messages.capacity(), 0);
        for _ in 0..500 {
            tx.push(Message::text("x")).unwrap();
        }
        while rx.try_recv().is_some() {}
        assert!(rx.queue.lock().messages.capacity() <= KEEP_SLOTS);
    }

    #[tokio::test]
    async fn send_waits_for_room_and_gives_up_when_the_writer_is_gone() {
        let (tx, mut rx) = outbox(1, 1000, CloseSignal::default());
        tx.send(Message::text("a")).await.unwrap();
        let waiting = tokio::spawn({
            let tx = tx.clone();
            async move { tx.send(Message::text("b")).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "the queue is full: send waits");
        assert_eq!(rx.recv().await, Some(Message::text("a")));
        assert_eq!(waiting.await.unwrap(), Ok(()));
        assert_eq!(rx.recv().await, Some(Message::text("b")));

        tx.send(Message::text("c")).await.unwrap();
        let waiting = tokio::spawn({
            let tx = tx.clone();
            async move { tx.send(Message::text("d")).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        drop(rx);
        assert_eq!(waiting.await.unwrap(), Err(PushError::Closed));
    }

    #[tokio::test]
    async fn room_for_waits_until_the_bytes_would_fit() {
        let (tx, mut rx) = outbox(10, 100, CloseSignal::default());
        tx.room_for(1000).await; // an empty queue always has room
        tx.push(Message::binary(vec![0; 60])).unwrap();
        tx.push(Message::binary(vec![0; 30])).unwrap();
        let waiting = tokio::spawn({
            let tx = tx.clone();
            async move { tx.room_for(50).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "90 + 50 bytes would not fit in 100");
        rx.recv().await.unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
            .await
            .expect("30 + 50 bytes fit")
            .unwrap();
    }

    #[tokio::test]
    async fn recv_ends_once_every_sender_is_gone() {
        let (tx, mut rx) = outbox(4, 1000, CloseSignal::default());
        let other = tx.clone();
        tx.push(Message::text("last")).unwrap();
        drop(tx);
        drop(other);
        assert_eq!(rx.recv().await, Some(Message::text("last")));
        assert_eq!(rx.recv().await, None);
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
