//! [`SendQueue`]: messages kept while the connection is not open (or the browser's
//! buffer is above the high-water mark), bounded by count and bytes.

use std::collections::VecDeque;

use crate::message::Message;

/// What to do with a message that would overflow the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    /// Refuse the new message ([`SendOutcome::Rejected`]); keep what is queued.
    RejectNew,
    /// Drop the oldest queued messages to make room
    /// ([`SendOutcome::QueuedDroppingOldest`]).
    DropOldest,
}

/// The bounds of the offline queue.
///
/// # Examples
/// ```
/// use ferrosocket::{Overflow, QueueLimits};
/// let limits = QueueLimits { max_messages: 100, overflow: Overflow::DropOldest, ..QueueLimits::default() };
/// assert_eq!(limits.max_bytes, 1 << 20);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueLimits {
    /// Most messages kept. Default: 1,000.
    pub max_messages: usize,
    /// Most payload bytes kept. Default: 1 MiB.
    pub max_bytes: usize,
    /// What happens on overflow. Default: [`Overflow::RejectNew`].
    pub overflow: Overflow,
}

impl Default for QueueLimits {
    fn default() -> Self {
        QueueLimits {
            max_messages: 1_000,
            max_bytes: 1 << 20,
            overflow: Overflow::RejectNew,
        }
    }
}

/// What `send` did with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendOutcome {
    /// Handed to the browser's socket.
    Sent,
    /// Kept in the queue; it will be sent in order once possible.
    Queued,
    /// Kept in the queue after dropping `dropped` older messages to make room.
    QueuedDroppingOldest {
        /// How many queued messages were dropped.
        dropped: usize,
    },
    /// Refused: the queue is full (or the message alone exceeds its byte bound), or the
    /// socket was closed for good.
    Rejected,
}

/// One message waiting to be sent: a [`Message`], or a `Blob` that the browser reads itself
/// when it is sent (so it keeps its place among the others without being read here).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outgoing {
    Message(Message),
    Blob(web_sys::Blob),
}

impl Outgoing {
    fn size(&self) -> usize {
        match self {
            Outgoing::Message(Message::Text(text)) => text.len(),
            Outgoing::Message(Message::Binary(bytes)) => bytes.len(),
            Outgoing::Blob(blob) => blob.size() as usize,
        }
    }
}

impl From<Message> for Outgoing {
    fn from(message: Message) -> Self {
        Outgoing::Message(message)
    }
}

/// A bounded FIFO of messages waiting to be sent.
#[derive(Debug, Default)]
pub(crate) struct SendQueue {
    items: VecDeque<Outgoing>,
    bytes: usize,
    limits: QueueLimits,
}

impl SendQueue {
    pub fn new(limits: QueueLimits) -> SendQueue {
        SendQueue {
            items: VecDeque::new(),
            bytes: 0,
            limits,
        }
    }

    pub fn push(&mut self, message: impl Into<Outgoing>) -> SendOutcome {
        let message = message.into();
        let len = message.size();
        if len > self.limits.max_bytes || self.limits.max_messages == 0 {
            return SendOutcome::Rejected;
        }
        let fits = |queue: &SendQueue| {
            queue.items.len() < queue.limits.max_messages
                && queue.bytes + len <= queue.limits.max_bytes
        };
        let mut dropped = 0;
        if !fits(self) {
            match self.limits.overflow {
                Overflow::RejectNew => return SendOutcome::Rejected,
                Overflow::DropOldest => {
                    while !fits(self) {
                        self.pop();
                        dropped += 1;
                    }
                }
            }
        }
        self.bytes += len;
        self.items.push_back(message);
        if dropped > 0 {
            SendOutcome::QueuedDroppingOldest { dropped }
        } else {
            SendOutcome::Queued
        }
    }

    pub fn front(&self) -> Option<&Outgoing> {
        self.items.front()
    }

    pub fn pop(&mut self) -> Option<Outgoing> {
        let message = self.items.pop_front()?;
        self.bytes -= message.size();
        Some(message)
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn is_full(&self) -> bool {
        self.items.len() >= self.limits.max_messages || self.bytes >= self.limits.max_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Message {
        Message::Text(s.into())
    }

    fn drain(queue: &mut SendQueue) -> Vec<Message> {
        std::iter::from_fn(|| queue.pop())
            .map(|item| match item {
                Outgoing::Message(message) => message,
                Outgoing::Blob(_) => unreachable!("these tests queue no Blob"),
            })
            .collect()
    }

    #[test]
    fn reject_new_keeps_the_oldest() {
        let mut queue = SendQueue::new(QueueLimits {
            max_messages: 2,
            ..QueueLimits::default()
        });
        assert_eq!(queue.push(text("1")), SendOutcome::Queued);
        assert_eq!(queue.push(text("2")), SendOutcome::Queued);
        assert_eq!(queue.push(text("3")), SendOutcome::Rejected);
        assert_eq!(drain(&mut queue), [text("1"), text("2")]);
    }

    #[test]
    fn drop_oldest_keeps_the_newest_and_says_how_many_went() {
        let mut queue = SendQueue::new(QueueLimits {
            max_messages: 10,
            max_bytes: 6,
            overflow: Overflow::DropOldest,
        });
        queue.push(text("aa"));
        queue.push(text("bb"));
        queue.push(text("cc"));
        assert_eq!(
            queue.push(text("dddd")),
            SendOutcome::QueuedDroppingOldest { dropped: 2 }
        );
        assert_eq!(drain(&mut queue), [text("cc"), text("dddd")]);
        assert_eq!(
            queue.push(Message::Binary(vec![0; 7])),
            SendOutcome::Rejected,
            "alone too big"
        );
    }
}
