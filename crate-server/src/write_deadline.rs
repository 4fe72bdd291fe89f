//! A socket whose writes fail once they have made no progress for `--write-timeout`.
//!
//! A peer that stops reading makes every write wait forever: the kernel's send buffer is
//! full and stays full. Without a deadline, whatever the writer holds (a WebSocket message
//! being sent, the next chunk of a file) stays pinned for as long as the peer keeps the TCP
//! connection open. With [`WriteDeadline`] the stalled write fails with
//! [`io::ErrorKind::TimedOut`], the connection ends and its memory is freed. A slow peer
//! that does read, however slowly, is never cut off: any byte written restarts the clock.
//!
//! It wraps the raw TCP stream, below TLS and HTTP, so the same deadline covers the
//! handshake, files and every WebSocket endpoint.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use crate::metrics::{LimitHit, Metrics};

/// `io` whose writes and flushes fail after `timeout` without progress.
#[derive(Debug)]
pub(crate) struct WriteDeadline<T> {
    io: T,
    timeout: Duration,
    /// Armed at the first write that could not proceed; `None` while writes flow, so a
    /// connection that is not stalled holds no timer.
    stalled: Option<Pin<Box<Sleep>>>,
    /// Once timed out, every later write fails too: the stream may hold half a frame.
    timed_out: bool,
    metrics: Arc<Metrics>,
}

impl<T> WriteDeadline<T> {
    /// Wraps `io`; `metrics` counts the connections cut off.
    pub(crate) fn new(io: T, timeout: Duration, metrics: Arc<Metrics>) -> WriteDeadline<T> {
        WriteDeadline {
            io,
            timeout,
            stalled: None,
            timed_out: false,
            metrics,
        }
    }

    /// Turns the inner result into ours: progress disarms the clock, waiting arms it (once)
    /// and fails when it runs out.
    fn watch<R>(
        &mut self,
        cx: &mut Context<'_>,
        result: Poll<io::Result<R>>,
    ) -> Poll<io::Result<R>> {
        match result {
            Poll::Ready(result) => {
                self.stalled = None;
                Poll::Ready(result)
            }
            Poll::Pending => {
                let timeout = self.timeout;
                let sleep = self.stalled.get_or_insert_with(|| {
                    Box::pin(tokio::time::sleep_until(Instant::now() + timeout))
                });
                if sleep.as_mut().poll(cx).is_ready() {
                    self.timed_out = true;
                    self.stalled = None;
                    self.metrics.limit_hit(LimitHit::WriteTimeout);
                    Poll::Ready(Err(timed_out()))
                } else {
                    Poll::Pending
                }
            }
        }
    }
}

fn timed_out() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        "the peer took no data for the write timeout",
    )
}

impl<T: AsyncRead + Unpin> AsyncRead for WriteDeadline<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for WriteDeadline<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.timed_out {
            return Poll::Ready(Err(timed_out()));
        }
        let result = Pin::new(&mut this.io).poll_write(cx, buf);
        this.watch(cx, result)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.timed_out {
            return Poll::Ready(Err(timed_out()));
        }
        let result = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.watch(cx, result)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.timed_out {
            return Poll::Ready(Err(timed_out()));
        }
        let result = Pin::new(&mut this.io).poll_flush(cx);
        this.watch(cx, result)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.timed_out {
            // Nothing more can be sent; the socket is closed when dropped.
            return Poll::Ready(Ok(()));
        }
        let result = Pin::new(&mut this.io).poll_shutdown(cx);
        this.watch(cx, result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn a_write_nobody_reads_fails_after_the_timeout_and_is_counted() {
        let metrics = Arc::new(Metrics::default());
        // A 1 KiB pipe whose far end never reads.
        let (near, _far) = tokio::io::duplex(1024);
        let mut io = WriteDeadline::new(near, Duration::from_millis(200), Arc::clone(&metrics));
        let started = std::time::Instant::now();
        let err = io.write_all(&[0; 64 * 1024]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert!(metrics.render().contains("limit=\"write_timeout\"} 1"));
        // It stays failed: the stream may hold half of something.
        assert!(io.write_all(b"x").await.is_err());
    }

    #[tokio::test]
    async fn a_slow_reader_that_keeps_reading_is_never_cut_off() {
        let metrics = Arc::new(Metrics::default());
        let (near, mut far) = tokio::io::duplex(1024);
        let mut io = WriteDeadline::new(near, Duration::from_millis(300), metrics);
        let reader = tokio::spawn(async move {
            let mut total = 0;
            let mut buf = [0; 512];
            while total < 16 * 1024 {
                // Each read comes well within the timeout, but the whole write takes
                // several timeouts.
                tokio::time::sleep(Duration::from_millis(50)).await;
                total += far.read(&mut buf).await.unwrap();
            }
            total
        });
        io.write_all(&[7; 16 * 1024]).await.unwrap();
        io.flush().await.unwrap();
        assert_eq!(reader.await.unwrap(), 16 * 1024);
    }
}
