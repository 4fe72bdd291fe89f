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

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();

    let config = Config::parse();
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
    // Scripts and tests read this line to learn the port when --addr ends in :0.
    println!("listening on {}", server.url());

    match server.run_until(shutdown_signal()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing a SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down");
}
