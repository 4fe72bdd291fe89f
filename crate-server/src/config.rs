//! Command-line flags, each with an environment-variable twin.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

/// How the server runs. Every flag can also be set through the environment variable
/// named in `--help`.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "ferrosocket-server",
    version,
    about = "Serves the www/ pages and the ferrosocket WebSocket endpoints on one port.",
    long_about = "Serves the www/ pages over HTTP and the WebSocket endpoints on the same port:\n\n  \
        /echo   returns every text and binary message unchanged\n\n\
        Open the printed URL in a browser after building the wasm package into www/pkg \
        (scripts/run.sh does both). Log verbosity follows RUST_LOG (default: info)."
)]
pub struct Config {
    /// Address and port to listen on; port 0 picks a free port (the chosen address is
    /// printed on start).
    #[arg(long, env = "FERROSOCKET_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,

    /// Directory whose files are served over HTTP (`/` serves its `index.html`).
    #[arg(long, env = "FERROSOCKET_WWW", default_value = "www")]
    pub www: PathBuf,

    /// Largest WebSocket message accepted, in bytes; a larger one closes the connection
    /// with code 1009 (message too big).
    #[arg(long, env = "FERROSOCKET_MAX_MESSAGE_BYTES", default_value_t = 1 << 20)]
    pub max_message_bytes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config::parse_from(["ferrosocket-server"])
    }
}
