//! [`Flushed`] and the `Sink` of [`ResilientSocket`](super::ResilientSocket).

use super::*;

/// The future of [`ResilientSocket::flushed`].
#[derive(Debug)]
pub struct Flushed {
    pub(super) shared: Rc<Shared>,
}

impl Future for Flushed {
    type Output = Result<(), ResilientError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut core = self.shared.core.borrow_mut();
        let buffered = core.socket.as_ref().map_or(0, WebSocket::buffered_amount);
        let done = core.queue.is_empty() && buffered == 0 && core.discarded == 0;
        if done {
            return Poll::Ready(Ok(()));
        }
        if let Some(error) = final_error(&core) {
            return Poll::Ready(Err(error));
        }
        core.waiters.push(cx.waker().clone());
        drop(core);
        ensure_pump(&self.shared);
        Poll::Pending
    }
}

impl Sink<Message> for ResilientSocket {
    type Error = ResilientError;

    /// Ready while the queue has room; while the socket is open, also waits until the
    /// browser's buffer is under the high-water mark.
    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), ResilientError>> {
        let mut core = self.shared.core.borrow_mut();
        if let Some(error) = final_error(&core) {
            return Poll::Ready(Err(error));
        }
        let over_mark = core.state == ConnectionState::Open
            && core.socket.as_ref().map_or(0, WebSocket::buffered_amount)
                > core.options.high_water_mark;
        if !core.queue.is_full() && !over_mark {
            return Poll::Ready(Ok(()));
        }
        core.waiters.push(cx.waker().clone());
        drop(core);
        ensure_pump(&self.shared);
        Poll::Pending
    }

    fn start_send(self: Pin<&mut Self>, message: Message) -> Result<(), ResilientError> {
        match send(&self.shared, message) {
            SendOutcome::Rejected => {
                Err(final_error(&self.shared.core.borrow()).unwrap_or(ResilientError::QueueFull))
            }
            _ => Ok(()),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), ResilientError>> {
        let mut flushed = self.flushed();
        Pin::new(&mut flushed).poll(cx)
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), ResilientError>> {
        self.close();
        Poll::Ready(Ok(()))
    }
}
