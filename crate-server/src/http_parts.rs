//! The parts of HTTP every endpoint uses: the response body (bytes in memory, or a file
//! streamed in chunks), plain-text answers, the security headers of pages, bearer
//! credentials, query strings and percent-decoding.
//!
//! A leaf: it imports nothing else of this crate, so the endpoint modules can all use it
//! without importing each other.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper::body::{Bytes, Frame, SizeHint};
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};
use tokio::io::{AsyncRead, ReadBuf};

/// The largest piece of a file held in memory at once while it is sent.
pub(crate) const FILE_CHUNK: usize = 64 * 1024;

/// The body of every response this server writes: bytes already in memory, or a file read
/// [`FILE_CHUNK`] bytes at a time as the peer takes them, so a large file never sits in
/// memory whole.
#[derive(Debug)]
pub(crate) struct Body {
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    /// In memory; `None` once sent.
    Bytes(Option<Bytes>),
    /// A file and how many of its bytes are still to be sent.
    File {
        file: tokio::fs::File,
        remaining: u64,
    },
}

impl Body {
    /// No body at all.
    pub(crate) fn empty() -> Body {
        Body {
            kind: Kind::Bytes(None),
        }
    }

    /// `bytes`, sent as they are.
    pub(crate) fn bytes(bytes: impl Into<Bytes>) -> Body {
        let bytes = bytes.into();
        Body {
            kind: Kind::Bytes((!bytes.is_empty()).then_some(bytes)),
        }
    }

    /// The first `len` bytes of `file`, read chunk by chunk while they are sent.
    pub(crate) fn file(file: tokio::fs::File, len: u64) -> Body {
        Body {
            kind: Kind::File {
                file,
                remaining: len,
            },
        }
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match &mut self.get_mut().kind {
            Kind::Bytes(bytes) => Poll::Ready(bytes.take().map(|bytes| Ok(Frame::data(bytes)))),
            Kind::File { remaining: 0, .. } => Poll::Ready(None),
            Kind::File { file, remaining } => {
                let want = FILE_CHUNK.min(usize::try_from(*remaining).unwrap_or(FILE_CHUNK));
                let mut chunk = Vec::with_capacity(want);
                let mut read = ReadBuf::uninit(&mut chunk.spare_capacity_mut()[..want]);
                match Pin::new(file).poll_read(cx, &mut read) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(Err(err)) => Poll::Ready(Some(Err(err))),
                    Poll::Ready(Ok(())) => {
                        let filled = read.filled().len();
                        if filled == 0 {
                            // The file shrank after its length was sent: the response
                            // cannot be completed honestly, so it is cut off.
                            return Poll::Ready(Some(Err(io::Error::new(
                                io::ErrorKind::UnexpectedEof,
                                "the file shrank while it was being sent",
                            ))));
                        }
                        // SAFETY: `ReadBuf` guarantees its first `filled` bytes were written.
                        unsafe { chunk.set_len(filled) };
                        *remaining -= filled as u64;
                        Poll::Ready(Some(Ok(Frame::data(Bytes::from(chunk)))))
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(
            self.kind,
            Kind::Bytes(None) | Kind::File { remaining: 0, .. }
        )
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Bytes(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            Kind::File { remaining, .. } => SizeHint::with_exact(*remaining),
        }
    }
}

/// A plain-text response with `status`.
pub(crate) fn text(status: StatusCode, body: impl Into<String>) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .body(Body::bytes(body.into()))
        .expect("static headers are valid")
}

/// What pages may do, for the browser to enforce: scripts, styles and images only from
/// this server and never inline (an injected `<script>` does not run);
/// `'wasm-unsafe-eval'` because `WebAssembly.instantiateStreaming` needs it in Chromium;
/// WebSockets to any host (the echo page may be pointed at another server); no framing
/// by other sites (clickjacking), no plugins, no `<base>` rewriting.
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; \
    script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; \
    connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; form-action 'self'; \
    frame-ancestors 'none'";

/// Adds the headers every served file carries: the [`CONTENT_SECURITY_POLICY`], `nosniff`
/// (a file is only ever what its Content-Type says), no Referer to other sites, and no
/// framing for browsers that predate `frame-ancestors`.
pub(crate) fn add_page_headers<B>(response: &mut Response<B>) {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

/// Whether the request carries more than one `Authorization` header: which one counts
/// would be a guess (and a proxy in front may guess otherwise), so it carries none that
/// [`bearer`] will read.
pub(crate) fn authorization_repeated(headers: &hyper::HeaderMap) -> bool {
    headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .nth(1)
        .is_some()
}

/// The credentials of an `Authorization: Bearer <credentials>` header, exactly as sent
/// (not trimmed); `None` when there are several such headers. The scheme is matched
/// without regard to case (RFC 9110 §11.1): a client writing `bearer` sent a token, and
/// must be told what is wrong with it rather than taken for one that sent none.
pub(crate) fn bearer(headers: &hyper::HeaderMap) -> Option<&[u8]> {
    const SCHEME: &[u8] = b"Bearer ";
    if authorization_repeated(headers) {
        return None;
    }
    let value = headers.get(header::AUTHORIZATION)?.as_bytes();
    let scheme = value.get(..SCHEME.len())?;
    scheme
        .eq_ignore_ascii_case(SCHEME)
        .then(|| &value[SCHEME.len()..])
}

/// The `name=value` pairs of a query string, in order (pairs without `=` are skipped).
pub(crate) fn query_pairs(query: Option<&str>) -> impl Iterator<Item = (&str, &str)> {
    query
        .unwrap_or("")
        .split('&')
        .filter_map(|pair| pair.split_once('='))
}

/// The number in the query parameter `name`, or 0 when it is absent or not a number.
pub(crate) fn query_number(query: Option<&str>, name: &str) -> u64 {
    query_pairs(query)
        .find_map(|(key, value)| (key == name).then(|| value.parse().ok()).flatten())
        .unwrap_or(0)
}

/// Decodes `%XX` escapes; `None` for a broken escape or bytes that are not UTF-8.
pub(crate) fn percent_decode(input: &str) -> Option<String> {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[test]
    fn queries_and_escapes_decode() {
        let pairs: Vec<_> = query_pairs(Some("a=1&flag&b=x%20y")).collect();
        assert_eq!(pairs, [("a", "1"), ("b", "x%20y")]);
        assert_eq!(query_number(Some("ms=250&x=1"), "ms"), 250);
        assert_eq!(query_number(Some("ms=soon"), "ms"), 0);
        assert_eq!(percent_decode("x%20y%21").as_deref(), Some("x y!"));
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%ff"), None, "not UTF-8");
        assert_eq!(percent_decode("%4"), None, "cut short");
    }

    #[tokio::test]
    async fn a_file_body_arrives_whole_in_bounded_chunks() {
        let path = std::env::temp_dir().join(format!("ferrosocket-body-{}", std::process::id()));
        let contents: Vec<u8> = (0..(3 * FILE_CHUNK + 17))
            .map(|i| (i % 251) as u8)
            .collect();
        std::fs::write(&path, &contents).unwrap();
        let file = tokio::fs::File::open(&path).await.unwrap();
        let mut body = Body::file(file, contents.len() as u64);
        assert_eq!(
            hyper::body::Body::size_hint(&body).exact(),
            Some(contents.len() as u64)
        );
        let mut received = Vec::new();
        while let Some(frame) = body.frame().await {
            let chunk = frame.unwrap().into_data().unwrap();
            assert!(chunk.len() <= FILE_CHUNK);
            received.extend_from_slice(&chunk);
        }
        std::fs::remove_file(&path).unwrap();
        assert_eq!(received, contents);
    }
}
