//! Accepting TCP connections and handing each to the HTTP layer.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::http;

/// A bound, not yet running server.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    config: Arc<Config>,
}

impl Server {
    /// Binds `config.addr`. Port 0 picks a free port; see [`Server::local_addr`].
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
    pub async fn bind(config: Config) -> io::Result<Server> {
        let listener = TcpListener::bind(config.addr).await?;
        Ok(Server {
            listener,
            config: Arc::new(config),
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves connections until `shutdown` completes, then stops accepting.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> io::Result<()> {
        tokio::pin!(shutdown);
        loop {
            let (stream, peer) = tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok(pair) => pair,
                    // Per-connection failures (e.g. the peer reset before accept) and
                    // resource exhaustion must not stop the server.
                    Err(err) => {
                        tracing::warn!(%err, "accept failed");
                        continue;
                    }
                },
                () = &mut shutdown => return Ok(()),
            };
            let config = Arc::clone(&self.config);
            tokio::spawn(async move {
                let service = service_fn(move |req| http::route(req, Arc::clone(&config), peer));
                if let Err(err) = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades()
                    .await
                {
                    tracing::debug!(%peer, %err, "http connection ended with an error");
                }
            });
        }
    }
}
