//! The ferrosocket server: one port that serves the `www/` pages over HTTP and the
//! WebSocket endpoints the browser client talks to — `/echo`, and `/chat` with rooms,
//! presence, history and resume — hardened with size and rate limits, an Origin check,
//! bounded queues, heartbeats, graceful shutdown, TLS and metrics.
//!
//! The binary (`ferrosocket-server --help`) is a thin shell around [`Server`]; tests and
//! embedders use the library directly:
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use ferrosocket_server::{Config, Server};
//!
//! let server = Server::bind(Config::default()).await?;
//! println!("listening on {}", server.url());
//! server.run_until(std::future::pending()).await
//! # }
//! ```
#![deny(missing_docs, missing_debug_implementations)]

mod admin_token;
mod auth;
#[doc(hidden)]
pub mod auth_demo;
mod auth_page;
pub mod backplane;
pub mod budget;
pub mod chat;
mod config;
mod connection;
pub mod echo;
mod firehose;
#[doc(hidden)]
pub mod fuzzing;
mod http;
mod http_parts;
mod lazy_buf;
mod limits;
mod log_throttle;
pub mod metrics;
mod names;
mod origin;
mod outbox;
mod secret;
mod server;
mod state;
mod static_files;
mod test_endpoints;
mod tls;
mod upgrade;
pub mod violation;
mod write_deadline;

pub use budget::Budgets;
pub use config::Config;
pub use server::Server;
