//! Command-line flags, each with an environment-variable twin.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

/// How the server runs. Every flag can also be set through the environment variable
/// named in `--help`.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "ferrosocket-server",
    version,
    about = "Serves the www/ pages and the ferrosocket WebSocket endpoints on one port.",
    long_about = "Serves the www/ pages over HTTP and the WebSocket endpoints on the same port:\n\n  \
        /echo      returns every text and binary message unchanged\n  \
        /chat      chat rooms: plain text for a plain WebSocket, JSON with subprotocol chat.v1\n  \
        /healthz   200 \"ok\" while the server runs\n  \
        /metrics   Prometheus text format (only on --admin-addr when that is set)\n\n\
        Open the printed URL in a browser after building the wasm package into www/pkg \
        (scripts/run.sh does both). Log verbosity follows RUST_LOG (default: info); logs never \
        contain message bodies.",
    next_line_help = false
)]
pub struct Config {
    /// Address and port to listen on; port 0 picks a free port (the chosen address is
    /// printed on start).
    #[arg(long, env = "FERROSOCKET_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,

    /// Directory whose files are served over HTTP (`/` serves its `index.html`).
    #[arg(long, env = "FERROSOCKET_WWW", default_value = "www")]
    pub www: PathBuf,

    /// Largest WebSocket message (and frame) accepted, in bytes; a larger one closes the
    /// connection with code 1009 (message too big).
    #[arg(long, env = "FERROSOCKET_MAX_MESSAGE_BYTES", default_value_t = 1 << 20)]
    pub max_message_bytes: usize,

    /// Messages per second a chat connection may send, sustained (token bucket).
    #[arg(long, env = "FERROSOCKET_RATE_LIMIT", default_value_t = 20)]
    pub rate_limit: u32,

    /// Messages a chat connection may send in a burst above the sustained rate. Over it,
    /// each message is refused with a `rate_limited` error; a connection that keeps going
    /// for another burst's worth is closed with 1008 (policy violation).
    #[arg(long, env = "FERROSOCKET_RATE_BURST", default_value_t = 40)]
    pub rate_burst: u32,

    /// Most WebSocket connections open at once; more are refused with HTTP 503.
    #[arg(long, env = "FERROSOCKET_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,

    /// Most WebSocket connections open at once from one IP address; more are refused
    /// with HTTP 429.
    #[arg(
        long,
        env = "FERROSOCKET_MAX_CONNECTIONS_PER_IP",
        default_value_t = 1_000
    )]
    pub max_connections_per_ip: usize,

    /// Seconds a client has to send a complete HTTP request head (the handshake).
    #[arg(long, env = "FERROSOCKET_HANDSHAKE_TIMEOUT", default_value = "10", value_parser = parse_seconds)]
    pub handshake_timeout: Duration,

    /// Seconds of silence from a client after which the server sends a ping.
    #[arg(long, env = "FERROSOCKET_PING_INTERVAL", default_value = "30", value_parser = parse_seconds)]
    pub ping_interval: Duration,

    /// Seconds the server waits for any frame after its ping before closing the
    /// connection with 1001 (going away).
    #[arg(long, env = "FERROSOCKET_PONG_TIMEOUT", default_value = "10", value_parser = parse_seconds)]
    pub pong_timeout: Duration,

    /// Messages waiting to be written to one connection; a client too slow to take them
    /// is closed with 1013 (try again later) instead of delaying anyone else.
    #[arg(long, env = "FERROSOCKET_OUTBOUND_MESSAGES", default_value_t = 256)]
    pub outbound_messages: usize,

    /// Bytes waiting to be written to one connection, the same way.
    #[arg(long, env = "FERROSOCKET_OUTBOUND_BYTES", default_value_t = 1 << 20)]
    pub outbound_bytes: usize,

    /// Messages each chat room keeps for history on join and for resume.
    #[arg(long, env = "FERROSOCKET_HISTORY", default_value_t = 100)]
    pub history: usize,

    /// Longest nickname, in characters.
    #[arg(long, env = "FERROSOCKET_MAX_NICK_LEN", default_value_t = 32)]
    pub max_nick_len: usize,

    /// Longest room name, in characters.
    #[arg(long, env = "FERROSOCKET_MAX_ROOM_LEN", default_value_t = 64)]
    pub max_room_len: usize,

    /// Most rooms the server holds.
    #[arg(long, env = "FERROSOCKET_MAX_ROOMS", default_value_t = 10_000)]
    pub max_rooms: usize,

    /// Most rooms one connection may be in.
    #[arg(
        long,
        env = "FERROSOCKET_MAX_ROOMS_PER_CONNECTION",
        default_value_t = 32
    )]
    pub max_rooms_per_connection: usize,

    /// Another origin (`scheme://host[:port]`) whose pages may open WebSockets here, besides
    /// the server's own; repeat it for several, or `*` for any (only for development).
    /// A handshake from any other origin is refused with HTTP 403. Clients that send no
    /// Origin header (not browsers) are always allowed.
    #[arg(
        long = "allow-origin",
        env = "FERROSOCKET_ALLOW_ORIGIN",
        value_delimiter = ','
    )]
    pub allow_origins: Vec<String>,

    /// PEM certificate chain: with --tls-key, serve https and wss instead of http and ws.
    #[arg(long, env = "FERROSOCKET_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key for --tls-cert.
    #[arg(long, env = "FERROSOCKET_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Share rooms, presence and history with every server on this Redis
    /// (`redis://host:port/db`). Without it everything stays in this process.
    #[arg(long, env = "FERROSOCKET_REDIS_URL")]
    pub redis_url: Option<String>,

    /// Enable the test endpoints, for testing clients' resilience (never in production):
    /// `/test/drop?outage_ms=N` drops every WebSocket without a close frame and refuses
    /// new ones for N ms (a network failure); `/test/unavailable?ms=N` refuses chat sends
    /// as `unavailable` for N ms (a lost Redis backplane); the WebSocket
    /// `/test/firehose?count=N&size=B` sends N messages of B bytes and closes (the browser
    /// receive benchmark, www/bench.html).
    #[arg(long, env = "FERROSOCKET_TEST_ENDPOINTS")]
    pub test_endpoints: bool,

    /// Seconds to wait for connections to close on shutdown (SIGINT/SIGTERM) after
    /// sending them close 1001, before exiting anyway.
    #[arg(long, env = "FERROSOCKET_SHUTDOWN_TIMEOUT", default_value = "5", value_parser = parse_seconds)]
    pub shutdown_timeout: Duration,

    /// Longest chat line, in bytes: the `text` of a `send`, or a plain client's message.
    /// A longer one is refused (`too_large`, or a `*` notice for plain clients) and
    /// delivered to nobody. The outbound budgets must hold it JSON-escaped (up to six
    /// times its size) several times over; the server refuses to start otherwise.
    #[arg(long, env = "FERROSOCKET_MAX_TEXT_BYTES", default_value_t = 16 * 1024)]
    pub max_text_bytes: usize,

    /// Largest `data` of an `emit`, in bytes of JSON; a larger one is refused
    /// (`too_large`) and delivered to nobody.
    #[arg(long, env = "FERROSOCKET_MAX_EVENT_BYTES", default_value_t = 4 * 1024)]
    pub max_event_bytes: usize,

    /// Bytes of history (as sent, JSON-escaped) a join or a resume answer carries at most:
    /// the newest lines that fit. Must hold at least one line at --max-text-bytes.
    #[arg(long, env = "FERROSOCKET_HISTORY_BYTES", default_value_t = 128 * 1024)]
    pub history_bytes: usize,

    /// Bytes per second of lines and events (as delivered, JSON-escaped) a chat connection
    /// may send, sustained; over it, `rate_limited`. Its burst is derived: what is left of
    /// --outbound-bytes after the largest answer, divided by 4, so one sender's burst fits
    /// every reader's queue four times over. Default: half a burst per second.
    #[arg(long, env = "FERROSOCKET_RATE_BYTES")]
    pub rate_bytes: Option<usize>,

    /// Seconds a write to a client may make no progress (the client takes no data) before
    /// the connection is dropped: a peer that stops reading cannot pin the server's memory
    /// for longer. A slow client that keeps reading is never cut off.
    #[arg(long, env = "FERROSOCKET_WRITE_TIMEOUT", default_value = "30", value_parser = parse_seconds)]
    pub write_timeout: Duration,

    /// Most TCP connections that have not (yet) become WebSockets, in total: HTTP requests
    /// in progress, handshakes, idle keep-alive connections. More are closed right after
    /// accept with HTTP 503, before the server reads or buffers anything from them.
    #[arg(
        long,
        env = "FERROSOCKET_MAX_PENDING_CONNECTIONS",
        default_value_t = 1_024
    )]
    pub max_pending_connections: usize,

    /// Most TCP connections not yet upgraded from one IP address; more are closed right
    /// after accept with HTTP 429, so one address cannot take every pending place.
    #[arg(
        long,
        env = "FERROSOCKET_MAX_PENDING_CONNECTIONS_PER_IP",
        default_value_t = 256
    )]
    pub max_pending_connections_per_ip: usize,

    /// A separate address for `/metrics` and the test endpoints (with `--test-endpoints`);
    /// when set, they are served only there (and `/healthz` on both), never on `--addr`.
    /// Plain HTTP: bind it to loopback or a private network.
    #[arg(long, env = "FERROSOCKET_ADMIN_ADDR")]
    pub admin_addr: Option<SocketAddr>,

    /// Require a JSON Web Token signed with this HS256 secret (at least 32 bytes) on
    /// `/chat` handshakes, as the `access_token` query parameter or an `Authorization:
    /// Bearer` header; its `sub`/`name` is the nickname, `exp` ends the connection (close
    /// 4401), `rooms` limits the rooms (docs/SECURITY.md). Prefer the environment variable:
    /// a command line is visible to other users of the machine.
    #[arg(
        long,
        env = "FERROSOCKET_AUTH_JWT_SECRET",
        hide_env_values = true,
        conflicts_with = "auth_jwt_public_key"
    )]
    pub auth_jwt_secret: Option<String>,

    /// Like --auth-jwt-secret, for tokens signed with RS256/RS384/RS512/PS256 or
    /// ES256/ES384: the PEM file of the public key.
    #[arg(long, env = "FERROSOCKET_AUTH_JWT_PUBLIC_KEY")]
    pub auth_jwt_public_key: Option<PathBuf>,

    /// Require `Authorization: Bearer <this>` on `/metrics` and the test endpoints (on
    /// whichever listener serves them); without it they answer 401. `/healthz` stays open.
    /// Prefer the environment variable: a command line is visible to other users.
    #[arg(long, env = "FERROSOCKET_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,

    /// NOT FOR PRODUCTION: serve `POST /auth/demo`, which gives anyone a token for any
    /// free nickname (signed with a random secret made at start; the page's login form
    /// uses it). Has no environment variable, so it is never on by accident, and
    /// conflicts with --auth-jwt-secret and --auth-jwt-public-key.
    #[arg(long, conflicts_with_all = ["auth_jwt_secret", "auth_jwt_public_key"])]
    pub auth_demo: bool,

    /// How long the tokens of --auth-demo are valid, in seconds.
    #[arg(long, default_value_t = 600, requires = "auth_demo", value_parser = clap::value_parser!(u64).range(1..))]
    pub auth_demo_token_seconds: u64,

    /// With token authentication, let connections without a token in as guests: a
    /// generated nickname (guest-N) they cannot change, every room.
    #[arg(long, env = "FERROSOCKET_AUTH_ALLOW_GUESTS")]
    pub auth_allow_guests: bool,
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if !(seconds > 0.0 && seconds.is_finite()) {
        return Err(format!("{text:?} must be a positive number of seconds"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

impl Default for Config {
    fn default() -> Self {
        Config::parse_from(["ferrosocket-server"])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_documented_ones() {
        let config = Config::default();
        assert_eq!(config.addr.to_string(), "127.0.0.1:8080");
        assert_eq!(config.max_message_bytes, 1 << 20);
        assert_eq!(config.ping_interval, Duration::from_secs(30));
        assert!(config.allow_origins.is_empty());
        assert!(config.tls_cert.is_none());
        assert_eq!(config.write_timeout, Duration::from_secs(30));
        assert_eq!(config.max_pending_connections, 1_024);
        assert_eq!(config.max_pending_connections_per_ip, 256);
        assert!(config.admin_addr.is_none());
    }

    #[test]
    fn flags_are_parsed_and_bad_values_explained() {
        let config = Config::try_parse_from([
            "ferrosocket-server",
            "--rate-limit",
            "5",
            "--pong-timeout",
            "0.5",
            "--allow-origin",
            "https://a.example,https://b.example",
        ])
        .unwrap();
        assert_eq!(config.rate_limit, 5);
        assert_eq!(config.pong_timeout, Duration::from_millis(500));
        assert_eq!(config.allow_origins.len(), 2);

        let err = Config::try_parse_from(["ferrosocket-server", "--ping-interval=0"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("positive"), "{err}");
        let err = Config::try_parse_from(["ferrosocket-server", "--tls-cert", "c.pem"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--tls-key"), "{err}");
    }
}
