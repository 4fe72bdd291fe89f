//! `ferrosocket-server`: serves `www/` and the WebSocket endpoints on one port.
//!
//! Run it from the repository root after building the wasm package into `www/pkg`:
//!
//! ```text
//! wasm-pack build crate-client --target web --out-dir ../www/pkg
//! cargo run -p ferrosocket-server -- --addr 127.0.0.1:8080
//! ```
//!
//! `--help` lists every flag and its environment variable.

use clap::Parser;
use ferrosocket_server::{Budgets, Config, Server};
use tracing_subscriber::EnvFilter;

/// `RUST_LOG` (default `info`), with tungstenite capped at `info` whatever it says: at
/// `debug` it prints frames and close reasons, and our logs never contain what peers send.
fn log_filter() -> EnvFilter {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    ["tungstenite=info", "tokio_tungstenite=info"]
        .into_iter()
        .fold(filter, |filter, directive| {
            filter.add_directive(directive.parse().expect("a valid directive"))
        })
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(log_filter())
        .with_writer(std::io::stderr)
        .init();

    let config = Config::parse();
    if config.auth_demo {
        // On stderr whatever RUST_LOG says: this must not go unnoticed.
        eprintln!("\n{}\n", ferrosocket_server::auth_demo::WARNING);
    }
    if let Err(problem) = Budgets::new(&config) {
        eprintln!("error: {problem}");
        return std::process::ExitCode::from(2);
    }
    if !config.www.join("index.html").is_file() {
        eprintln!(
            "warning: {} has no index.html; run from the repository root or pass --www",
            config.www.display()
        );
    }
    let server = match Server::bind(config.clone()).await {
        Ok(server) => server,
        Err(err) => {
            eprintln!("error: cannot listen on {}: {err}", config.addr);
            return std::process::ExitCode::FAILURE;
        }
    };
    // The handlers are installed before the address is printed: a signal sent as soon as
    // the server says it listens must shut it down gracefully (close 1001 to every
    // WebSocket), not kill it by the signal's default action.
    let shutdown = shutdown_signal();
    // Scripts and tests read this line to learn the port when --addr ends in :0.
    println!("listening on {}", server.url());

    match server.run_until(shutdown).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed when this is called, not when
/// the future is first polled.
#[cfg(unix)]
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt()).expect("installing a SIGINT handler");
    let mut terminate = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        tracing::info!("shutting down");
    }
}

/// Resolves on Ctrl-C.
#[cfg(not(unix))]
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
    }
}
