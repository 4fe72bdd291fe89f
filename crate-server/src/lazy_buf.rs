//! A read buffer that exists only while there is data to read.
//!
//! tungstenite allocates its read buffer when the socket is made and keeps it for the
//! connection's life, and caps every read at that buffer's size: a large buffer makes
//! idle connections expensive, a small one makes large messages cost many syscalls.
//! [`LazyBuf`] lets it keep a small buffer: a read that asks for less than [`CHUNK`]
//! bytes is served from a [`CHUNK`]-byte buffer filled by one syscall, allocated for that
//! read and freed as soon as it has been handed out. Idle connections hold no buffer.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The size of one read from the socket.
pub(crate) const CHUNK: usize = 64 * 1024;

/// `io` with a read buffer allocated only while it holds unread bytes.
#[derive(Debug)]
pub(crate) struct LazyBuf<T> {
    io: T,
    buf: Vec<u8>,
    pos: usize,
}

impl<T> LazyBuf<T> {
    pub(crate) fn new(io: T) -> LazyBuf<T> {
        LazyBuf {
            io,
            buf: Vec::new(),
            pos: 0,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for LazyBuf<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        dst: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.pos == this.buf.len() {
            if dst.remaining() >= CHUNK {
                return Pin::new(&mut this.io).poll_read(cx, dst);
            }
            let mut buf = Vec::with_capacity(CHUNK);
            let mut read = ReadBuf::uninit(buf.spare_capacity_mut());
            match Pin::new(&mut this.io).poll_read(cx, &mut read) {
                Poll::Ready(Ok(())) => {
                    let filled = read.filled().len();
                    // SAFETY: `ReadBuf` guarantees its first `filled` bytes were written.
                    unsafe { buf.set_len(filled) };
                    this.buf = buf;
                    this.pos = 0;
                }
                other => return other,
            }
        }
        let n = dst.remaining().min(this.buf.len() - this.pos);
        dst.put_slice(&this.buf[this.pos..this.pos + n]);
        this.pos += n;
        if this.pos == this.buf.len() {
            // Drained: give the memory back while the connection is quiet.
            this.buf = Vec::new();
            this.pos = 0;
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for LazyBuf<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn small_reads_see_every_byte_in_order_and_the_buffer_goes_when_drained() {
        let (mut writer, reader) = tokio::io::duplex(256 * 1024);
        let sent: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        writer.write_all(&sent).await.unwrap();
        drop(writer);

        let mut lazy = LazyBuf::new(reader);
        let mut received = Vec::new();
        let mut chunk = [0u8; 512];
        loop {
            let n = lazy.read(&mut chunk).await.unwrap();
            if n == 0 {
                break;
            }
            assert!(lazy.buf.len() <= CHUNK, "one socket read at most");
            received.extend_from_slice(&chunk[..n]);
        }
        assert_eq!(received, sent);
        assert_eq!(lazy.buf.capacity(), 0, "no buffer is held once drained");
    }

    #[tokio::test]
    async fn large_reads_bypass_the_buffer() {
        let (mut writer, reader) = tokio::io::duplex(256 * 1024);
        writer.write_all(&[7; 1000]).await.unwrap();
        let mut lazy = LazyBuf::new(reader);
        let mut big = vec![0u8; CHUNK];
        assert_eq!(lazy.read(&mut big).await.unwrap(), 1000);
        assert_eq!(lazy.buf.capacity(), 0);
    }
}
