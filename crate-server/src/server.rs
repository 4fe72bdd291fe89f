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
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use crate::admin_token::AdminToken;
use crate::auth::Authenticator;
use crate::auth_demo::DemoIssuer;
use crate::backplane::RedisBackplane;
use crate::budget::Budgets;
use crate::config::Config;
use crate::http::{self, Listener};
use crate::limits::{AdmissionError, PendingPermit};
use crate::log_throttle::LogKind;
use crate::metrics::{HandshakeRejection, LimitHit, Metrics};
use crate::state::AppState;
use crate::tls;
use crate::write_deadline::WriteDeadline;

/// The most one HTTP connection buffers before it becomes a WebSocket (hyper's
/// `max_buf_size`): request heads larger than this are refused with 431.
pub(crate) const HTTP_BUFFER_BYTES: usize = 64 * 1024;

/// A bound, not yet running server.
pub struct Server {
    listener: TcpListener,
    admin: Option<TcpListener>,
    state: Arc<AppState>,
    tls: Option<TlsAcceptor>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.local_addr())
            .field("admin_addr", &self.admin_addr())
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
        if config.auth_demo
            && (config.auth_jwt_secret.is_some() || config.auth_jwt_public_key.is_some())
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "--auth-demo signs with its own random secret and cannot be combined with \
                 --auth-jwt-secret or --auth-jwt-public-key",
            ));
        }
        let (demo, demo_secret) = match config.auth_demo {
            true => {
                tracing::warn!("{}", crate::auth_demo::WARNING);
                let (issuer, secret) = DemoIssuer::generate(config.auth_demo_token_seconds);
                (Some(issuer), Some(secret))
            }
            false => (None, None),
        };
        let secret = config.auth_jwt_secret.as_ref().or(demo_secret.as_ref());
        let auth = match (secret, &config.auth_jwt_public_key) {
            (Some(secret), _) => Some(Authenticator::with_secret(secret, config.auth_allow_guests)),
            (None, Some(path)) => Some(Authenticator::with_public_key(
                path,
                config.auth_allow_guests,
            )),
            (None, None) => None,
        }
        .transpose()
        .map_err(|err| io::Error::new(io::ErrorKind::InvalidInput, err))?;
        let admin_token = config
            .metrics_token
            .as_deref()
            .map(AdminToken::new)
            .transpose()
            .map_err(|err| io::Error::new(io::ErrorKind::InvalidInput, err))?;
        let listener = TcpListener::bind(config.addr).await?;
        let admin = match config.admin_addr {
            Some(addr) => Some(TcpListener::bind(addr).await?),
            None => None,
        };
        Ok(Server {
            listener,
            admin,
            state: AppState::new(
                config,
                budgets,
                tls.is_some(),
                backplane,
                auth,
                admin_token,
                demo,
            ),
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

    /// The admin address actually bound, with `--admin-addr`.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin
            .as_ref()
            .map(|admin| admin.local_addr().expect("a bound listener has an address"))
    }

    /// Serves connections until `shutdown` completes; then stops accepting, sends close
    /// 1001 to every WebSocket, and waits up to `--shutdown-timeout` for them to close.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> io::Result<()> {
        tokio::pin!(shutdown);
        loop {
            let (accepted, listener) = tokio::select! {
                accepted = self.listener.accept() => (accepted, Listener::Public),
                accepted = accept_admin(self.admin.as_ref()) => (accepted, Listener::Admin),
                () = &mut shutdown => break,
            };
            let (stream, peer) = match accepted {
                Ok(pair) => pair,
                // Per-connection failures (the peer reset before accept, or file
                // descriptors running out) must not stop the server.
                Err(err) => {
                    if self.state.metrics.should_log(LogKind::Accept) {
                        tracing::warn!(%err, "accept failed");
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
            };
            // The admin listener is meant for a private network: a flood on the public
            // port must not take its places.
            let permit = match listener {
                Listener::Admin => None,
                Listener::Public => match self.state.pending.admit(peer.ip()) {
                    Ok((permit, evicted)) => {
                        if evicted {
                            // The busiest address's oldest silent socket made room.
                            self.state.metrics.rejected(HandshakeRejection::Pending);
                        }
                        Some(permit)
                    }
                    Err(why) => {
                        refuse_early(stream, peer, why, self.tls.is_some(), &self.state);
                        continue;
                    }
                },
            };
            let _ = stream.set_nodelay(true);
            let state = Arc::clone(&self.state);
            let stream = WriteDeadline::new(
                stream,
                state.config.write_timeout,
                Arc::clone(&state.metrics),
            );
            match (&self.tls, listener) {
                (Some(acceptor), Listener::Public) => {
                    let acceptor = acceptor.clone();
                    tokio::spawn(async move {
                        let timeout = state.config.handshake_timeout;
                        let serve = async {
                            match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
                                Ok(Ok(stream)) => serve_http(stream, peer, state, listener).await,
                                Ok(Err(err)) => {
                                    tracing::debug!(%peer, %err, "TLS handshake failed")
                                }
                                Err(_) => state.metrics.limit_hit(LimitHit::HandshakeTimeout),
                            }
                        };
                        unless_evicted(permit, serve).await;
                    });
                }
                _ => {
                    tokio::spawn(async move {
                        // Held until the connection ends or becomes a WebSocket (which
                        // `--max-connections` counts instead).
                        unless_evicted(permit, serve_http(stream, peer, state, listener)).await;
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

/// Runs `serve` holding the pending place `permit` (if any), and drops it — closing the
/// socket — if the place is given to a newcomer first.
async fn unless_evicted(permit: Option<PendingPermit>, serve: impl Future<Output = ()>) {
    match permit {
        Some(permit) => {
            tokio::select! {
                () = serve => {}
                () = permit.evicted() => {}
            }
        }
        None => serve.await,
    }
}

/// Accepts on the admin listener, or never without one.
async fn accept_admin(admin: Option<&TcpListener>) -> io::Result<(TcpStream, SocketAddr)> {
    match admin {
        Some(admin) => admin.accept().await,
        None => std::future::pending().await,
    }
}

/// Closes a socket over the pending limits at once, before reading anything from it. On
/// plain HTTP it first gets a one-line answer, if the socket takes it without waiting.
fn refuse_early(
    stream: TcpStream,
    peer: SocketAddr,
    why: AdmissionError,
    tls: bool,
    state: &AppState,
) {
    let (rejection, response): (_, &[u8]) = match why {
        AdmissionError::Full => (
            HandshakeRejection::Pending,
            b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n\
              content-length: 44\r\nconnection: close\r\n\r\n\
              too many connections in progress; try again\n",
        ),
        AdmissionError::PerIp => (
            HandshakeRejection::PendingPerIp,
            b"HTTP/1.1 429 Too Many Requests\r\ncontent-type: text/plain; charset=utf-8\r\n\
              content-length: 51\r\nconnection: close\r\n\r\n\
              too many connections in progress from your address\n",
        ),
    };
    state.metrics.rejected(rejection);
    if state.metrics.should_log(LogKind::Accept) {
        tracing::warn!(%peer, ?why, "refused a connection before its request: too many pending");
    }
    if !tls {
        let _ = stream.try_write(response);
    }
}

async fn serve_http<IO>(stream: IO, peer: SocketAddr, state: Arc<AppState>, listener: Listener)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service_state = Arc::clone(&state);
    let service =
        service_fn(move |req| http::route(req, Arc::clone(&service_state), peer, listener));
    let result = http1::Builder::new()
        .timer(TokioTimer::new())
        // Also closes keep-alive connections idle for this long: the timer runs while
        // waiting for the next request's head.
        .header_read_timeout(state.config.handshake_timeout)
        // Bounds what one connection may make the server buffer before the upgrade (the
        // request head, mostly); the default is about 400 KiB.
        .max_buf_size(HTTP_BUFFER_BYTES)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades()
        .await;
    if let Err(err) = result {
        if err.is_timeout() {
            state.metrics.limit_hit(LimitHit::HandshakeTimeout);
        }
        // Debug only: any client can cause these at will.
        tracing::debug!(%peer, %err, "http connection ended with an error");
    }
}
