//! `ferrosocket-loadgen`: drives WebSocket servers with many connections on loopback and
//! reports what it measured. Every run is bounded in connections and time, refuses
//! non-loopback targets, and stops by itself.
//!
//! ```text
//! ferrosocket-loadgen soak --url ws://127.0.0.1:8080/chat --connections 10000 --seconds 60 --server-pid 1234
//! ferrosocket-loadgen echo --url ws://127.0.0.1:8080/echo --connections 100 --payload 1024 --server-pid 1234
//! ferrosocket-loadgen broadcast --url ws://127.0.0.1:8080/chat --clients 1000 --rate 0
//! ferrosocket-loadgen broadcast-max --url ws://127.0.0.1:8080/chat --clients 1000 --p99-ms 250
//! ferrosocket-loadgen connect --url ws://127.0.0.1:8080/echo --connections 10000 --server-pid 1234
//! ferrosocket-loadgen peer-tungstenite --addr 127.0.0.1:9001
//! ```
//!
//! The scenarios print a human summary and one `RESULT key=value ...` line for scripts.
//! URLs under `/socket.io/` are spoken to in socket.io's protocol (see `dialect.rs`).

mod broadcast;
mod dialect;
mod measure;
mod peers;
mod scenarios;
mod soak;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "ferrosocket-loadgen",
    version,
    about = "Load generator and benchmark peers for WebSocket servers (loopback only).",
    after_help = "URLs under /socket.io/ (e.g. ws://127.0.0.1:3000/socket.io/?EIO=4&transport=websocket) \
                  are driven in socket.io's protocol: Engine.IO v4 packets, \"message\" events."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Arguments of `soak`.
#[derive(Debug, clap::Args)]
pub struct SoakArgs {
    /// The server's plain-text chat endpoint (loopback only).
    #[arg(long, default_value = "ws://127.0.0.1:8080/chat")]
    pub url: String,
    /// Connections to open.
    #[arg(long, default_value_t = 10_000)]
    pub connections: usize,
    /// Seconds of traffic after every connection is open.
    #[arg(long, default_value_t = 60)]
    pub seconds: u64,
    /// Broadcast lines per second, in total.
    #[arg(long, default_value_t = 5)]
    pub rate: u32,
    /// Connections that send (the lines are spread over them).
    #[arg(long, default_value_t = 5)]
    pub senders: usize,
    /// The server's process id, to sample its RSS from /proc.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Connections opened at once while ramping up.
    #[arg(long, default_value_t = 256)]
    pub concurrency: usize,
    /// Seconds of traffic before the server's RSS is taken as the baseline (buffers and
    /// the rooms' history fill up first).
    #[arg(long, default_value_t = 10)]
    pub warm_up: u64,
    /// How far the server's RSS may rise above that baseline for the rest of the run, in
    /// percent of it (at least 8 MiB, the allocator's noise); more fails the run.
    #[arg(long, default_value_t = 10)]
    pub rss_tolerance_percent: u64,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Many connections in one room with broadcast traffic for a bounded time; fails if
    /// any line is not delivered to every connection.
    Soak(SoakArgs),
    /// Echo: each connection sends a binary payload and waits for it back, closed-loop or
    /// at a fixed total rate.
    Echo {
        /// The echo endpoint.
        #[arg(long)]
        url: String,
        /// Connections.
        #[arg(long, default_value_t = 100)]
        connections: usize,
        /// Payload size in bytes.
        #[arg(long, default_value_t = 20)]
        payload: usize,
        /// Seconds to run.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Messages per second in total, spread over the connections (each still waits for
        /// its echo); 0 runs closed-loop, as fast as the echoes come back.
        #[arg(long, default_value_t = 0)]
        rate: u32,
        /// The server's pid, for its CPU time per message.
        #[arg(long)]
        server_pid: Option<u32>,
    },
    /// One sender and N receivers in one room: deliveries per second and latency.
    Broadcast {
        /// The broadcast endpoint.
        #[arg(long)]
        url: String,
        /// Receivers.
        #[arg(long, default_value_t = 100)]
        clients: usize,
        /// Messages per second from the sender; 0 sends as fast as it can.
        #[arg(long, default_value_t = 100)]
        rate: u32,
        /// Seconds to run.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// The server's pid, for its CPU time per delivery.
        #[arg(long)]
        server_pid: Option<u32>,
    },
    /// Searches for the highest broadcast rate the server sustains: every message delivered
    /// to every receiver, p99 latency within --p99-ms. Doubles the rate until a round fails,
    /// then bisects, on the same connections.
    BroadcastMax {
        /// The broadcast endpoint.
        #[arg(long)]
        url: String,
        /// Receivers.
        #[arg(long, default_value_t = 1000)]
        clients: usize,
        /// The first rate tried, messages per second.
        #[arg(long, default_value_t = 10)]
        start: u32,
        /// Seconds per round.
        #[arg(long, default_value_t = 3)]
        seconds: u64,
        /// The p99 latency a sustained rate stays within, milliseconds.
        #[arg(long, default_value_t = 250)]
        p99_ms: u64,
        /// The most rounds to run.
        #[arg(long, default_value_t = 16)]
        max_rounds: u32,
        /// The server's pid, for its CPU time per delivery.
        #[arg(long)]
        server_pid: Option<u32>,
    },
    /// Opens K connections: the setup rate, then the server's RSS per idle connection.
    Connect {
        /// Any WebSocket endpoint.
        #[arg(long)]
        url: String,
        /// Connections (raise the file limit first).
        #[arg(long, default_value_t = 10_000)]
        connections: usize,
        /// The server's pid, for its memory.
        #[arg(long)]
        server_pid: Option<u32>,
    },
    /// Runs the bare tokio-tungstenite peer server (`/echo`; `/chat` broadcasts).
    PeerTungstenite {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:0")]
        addr: String,
    },
    /// Runs the fastwebsockets echo peer server.
    PeerFastwebsockets {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:0")]
        addr: String,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // A panic anywhere — in one connection's task too, which tokio would otherwise catch and
    // the scenario would outlive with a smaller but plausible figure — fails the whole run.
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        report(info);
        std::process::exit(101);
    }));
    let result = match Cli::parse().command {
        Command::Soak(args) => return soak::soak(args).await,
        Command::Echo {
            url,
            connections,
            payload,
            seconds,
            rate,
            server_pid,
        } => match measure::check_loopback(&url) {
            Ok(()) => scenarios::echo(&url, connections, payload, seconds, rate, server_pid).await,
            Err(err) => Err(err),
        },
        Command::Broadcast {
            url,
            clients,
            rate,
            seconds,
            server_pid,
        } => match measure::check_loopback(&url) {
            Ok(()) => broadcast::broadcast(&url, clients, rate, seconds, server_pid).await,
            Err(err) => Err(err),
        },
        Command::BroadcastMax {
            url,
            clients,
            start,
            seconds,
            p99_ms,
            max_rounds,
            server_pid,
        } => match measure::check_loopback(&url) {
            Ok(()) => {
                let search = broadcast::Search {
                    start,
                    round: std::time::Duration::from_secs(seconds),
                    p99_limit: std::time::Duration::from_millis(p99_ms),
                    max_rounds,
                };
                broadcast::broadcast_max(&url, clients, search, server_pid).await
            }
            Err(err) => Err(err),
        },
        Command::Connect {
            url,
            connections,
            server_pid,
        } => match measure::check_loopback(&url) {
            Ok(()) => scenarios::connect(&url, connections, server_pid).await,
            Err(err) => Err(err),
        },
        Command::PeerTungstenite { addr } => {
            peers::tungstenite(&addr).await.map_err(|e| e.to_string())
        }
        Command::PeerFastwebsockets { addr } => peers::fastwebsockets(&addr)
            .await
            .map_err(|e| e.to_string()),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}
