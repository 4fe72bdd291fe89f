//! The ferrosocket server: one port that serves the `www/` pages over HTTP and the
//! WebSocket endpoints the browser client talks to.
//!
//! The binary (`ferrosocket-server --help`) is a thin shell around [`Server`]; tests and
//! embedders use the library directly:
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use ferrosocket_server::{Config, Server};
//!
//! let server = Server::bind(Config::default()).await?;
//! println!("listening on http://{}/", server.local_addr());
//! server.run_until(std::future::pending()).await
//! # }
//! ```
#![deny(missing_docs, missing_debug_implementations)]

mod config;
pub mod echo;
mod http;
mod server;
mod static_files;
mod upgrade;
pub mod violation;

pub use config::Config;
pub use server::Server;
