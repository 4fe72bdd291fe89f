//! Accepting TCP (and TLS) connections, handing each to the HTTP layer, and shutting down
//! gracefully.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::backplane::RedisBackplane;
use crate::budget::Budgets;
use crate::config::Config;
use crate::metrics::{LimitHit, Metrics};
use crate::state::AppState;
use crate::{http, tls};

/// A bound, not yet running server.
pub struct Server {
    listener: TcpListener,
    state: Arc<AppState>,
    tls: Option<TlsAcceptor>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.local_addr())
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Binds `config.addr` (port 0 picks a free port; see [`Server::local_addr`]), loads
    /// the TLS certificate and key, and connects to Redis, if configured. An unreachable
    /// Redis is an error here: a server must not start alone when it was meant to share
    /// rooms.
    ///
    /// # Examples
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// use ferrosocket_server::{Config, Server};
    ///
    /// let config = Config { addr: "127.0.0.1:0".parse().unwrap(), ..Config::default() };
    /// let server = Server::bind(config).await?;
    /// assert_ne!(server.local_addr().port(), 0);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// Limits that contradict each other (see [`Budgets::new`]) are an error of kind
    /// [`io::ErrorKind::InvalidInput`] naming the flags.
    pub async fn bind(config: Config) -> io::Result<Server> {
        let budgets = Budgets::new(&config)
            .map_err(|err| io::Error::new(io::ErrorKind::InvalidInput, err))?;
        let tls = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => Some(tls::acceptor(cert, key)?),
            _ => None,
        };
        let backplane = match &config.redis_url {
            Some(url) => Some(
                RedisBackplane::connect(url, config.history)
                    .await
                    .map_err(io::Error::other)?,
            ),
            None => None,
        };
        let listener = TcpListener::bind(config.addr).await?;
        Ok(Server {
            listener,
            state: AppState::new(config, budgets, tls.is_some(), backplane),
            tls,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The base URL to open in a browser: `http://ADDR/`, or `https://ADDR/` with TLS.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}/", self.local_addr())
    }

    /// The server's counters, as served on `/metrics`.
    pub fn metrics(&self) -> Arc<Metrics> {
        Arc::clone(&self.state.metrics)
    }

    /// Serves connections until `shutdown` completes; then stops accepting, sends close
    /// 1001 to every WebSocket, and waits up to `--shutdown-timeout` for them to close.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> io::Result<()> {
        tokio::pin!(shutdown);
        loop {
            let (stream, peer) = tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok(pair) => pair,
                    // Per-connection failures (the peer reset before accept, or file
                    // descriptors running out) must not stop the server.
                    Err(err) => {
                        tracing::warn!(%err, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let _ = stream.set_nodelay(true);
            let state = Arc::clone(&self.state);
            match &self.tls {
                None => {
                    tokio::spawn(serve_http(stream, peer, state));
                }
                Some(acceptor) => {
                    let acceptor = acceptor.clone();
                    tokio::spawn(async move {
                        let timeout = state.config.handshake_timeout;
                        match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
                            Ok(Ok(stream)) => serve_http(stream, peer, state).await,
                            Ok(Err(err)) => tracing::debug!(%peer, %err, "TLS handshake failed"),
                            Err(_) => state.metrics.limit_hit(LimitHit::HandshakeTimeout),
                        }
                    });
                }
            }
        }

        let state = &self.state;
        tracing::info!(
            connections = state.metrics.connections_open(),
            "closing every WebSocket with 1001"
        );
        state.shutdown.cancel();
        state.connections.close();
        if tokio::time::timeout(state.config.shutdown_timeout, state.connections.wait())
            .await
            .is_err()
        {
            tracing::warn!("some connections did not close in time");
        }
        Ok(())
    }
}

async fn serve_http<IO>(stream: IO, peer: SocketAddr, state: Arc<AppState>)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service_state = Arc::clone(&state);
    let service = service_fn(move |req| http::route(req, Arc::clone(&service_state), peer));
    let result = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(state.config.handshake_timeout)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades()
        .await;
    if let Err(err) = result {
        if err.is_timeout() {
            state.metrics.limit_hit(LimitHit::HandshakeTimeout);
        }
        tracing::debug!(%peer, %err, "http connection ended with an error");
    }
}
