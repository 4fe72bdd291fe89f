//! Peers that stop reading. A client that sends to `/echo` and never reads makes every
//! write wait and the echo handler wait for queue room; none of that may pin memory beyond
//! the connection's budget, keep the connection open past `--write-timeout`, or stop the
//! heartbeat and shutdown from being noticed.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrosocket_server::metrics::Metrics;
use ferrosocket_server::Config;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use common::raw;

const BINARY: u8 = 0x2;

/// Opens `/echo` on raw TCP and sends 64 KiB messages without ever reading, until the
/// server stops taking them (its queue and the kernel's buffers on both sides full): a
/// write blocked for a second after [`STALL_BYTES`] (more than the kernel buffers between
/// the server's writer and this client take), or for three seconds in any case, so that
/// a loaded machine's pauses are not mistaken for a stall. Ends early if the server drops
/// the connection.
async fn stalled_echo(addr: SocketAddr) -> TcpStream {
    let mut stream = raw::handshake(addr, "/echo").await;
    let frame = raw::frame(raw::FIN | BINARY, &vec![0x5a; 64 * 1024], true);
    let mut sent = 0;
    'sending: loop {
        let write = stream.write_all(&frame);
        tokio::pin!(write);
        let mut blocked_seconds = 0;
        loop {
            // A frame cut short would break the framing: a stalled write is resumed, not
            // dropped, unless this is the end.
            match tokio::time::timeout(Duration::from_secs(1), &mut write).await {
                Ok(Ok(())) => {
                    sent += frame.len();
                    break;
                }
                // The server has already dropped this connection (its write timeout).
                Ok(Err(_)) => break 'sending,
                Err(_) if sent >= STALL_BYTES || blocked_seconds >= 3 => break 'sending,
                Err(_) => blocked_seconds += 1,
            }
        }
    }
    stream
}

/// More than the server's send buffer plus this client's receive buffer (a few MiB while
/// it never reads) plus the outbound queue.
const STALL_BYTES: usize = 8 << 20;

/// The process's resident memory, from /proc.
fn rss_bytes() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: usize = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().strip_suffix("kB"))
        .and_then(|kib| kib.trim().parse().ok())
        .expect("VmRSS in /proc/self/status");
    kib * 1024
}

/// The most one `/echo` connection may hold, per docs/HARDENING.md "Memory bound": the
/// outbound budget (or one message, if larger), tungstenite's write buffer and the frame
/// being written, the read side (a message being assembled and the next frame), the read
/// chunk, hyper's leftover buffer, and a fixed cost.
fn connection_bound(config: &Config) -> usize {
    let message = config.max_message_bytes;
    let chunk = 64 * 1024;
    config.outbound_bytes.max(message)
        + (64 * 1024 + message + 14)
        + (2 * message + chunk)
        + chunk
        + 64 * 1024
        + 16 * 1024
}

fn counter(metrics: &Metrics, name: &str) -> u64 {
    let text = metrics.render();
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no metric {name} in:\n{text}"))
}

/// Waits until no WebSocket is open, or panics after `deadline`.
async fn all_closed_within(metrics: &Metrics, deadline: Duration) -> Duration {
    let started = Instant::now();
    while metrics.connections_open() > 0 {
        assert!(
            started.elapsed() < deadline,
            "{} connections still open after {deadline:?}",
            metrics.connections_open()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writers_that_never_read_are_closed_within_the_write_timeout_and_hold_at_most_their_budget()
{
    const CLIENTS: usize = 8;
    let server = common::bind_with(|config| config.write_timeout = Duration::from_secs(2)).await;
    let metrics: Arc<Metrics> = server.metrics();
    let addr = server.local_addr();
    tokio::spawn(server.run_until(std::future::pending()));
    let bound = connection_bound(&Config::default());

    let before = rss_bytes();
    // The peak, sampled all along: connections are dropped one by one as they time out.
    let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = tokio::spawn({
        let sampling = Arc::clone(&sampling);
        async move {
            let mut peak = 0;
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(rss_bytes());
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            peak
        }
    });
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        clients.push(tokio::spawn(stalled_echo(addr)));
    }
    let mut streams = Vec::new();
    for client in clients {
        streams.push(client.await.unwrap());
    }
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    let held = sampler.await.unwrap().saturating_sub(before);
    assert!(
        held <= CLIENTS * bound,
        "{CLIENTS} stalled echo connections hold {} KiB, over {CLIENTS} x {} KiB",
        held / 1024,
        bound / 1024
    );

    // Stalled since before the last client stopped: each is closed within the write
    // timeout plus the close grace periods (generously: the machine may be loaded).
    let took = all_closed_within(&metrics, Duration::from_secs(30)).await;
    assert_eq!(
        counter(
            &metrics,
            "ferrosocket_limit_hits_total{limit=\"write_timeout\"}"
        ),
        CLIENTS as u64
    );
    // The clients see their connections end.
    for mut stream in streams {
        let ended = tokio::time::timeout(Duration::from_secs(10), async {
            let mut sink = vec![0; 1 << 20];
            loop {
                match tokio::io::AsyncReadExt::read(&mut stream, &mut sink).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        });
        assert!(ended.await.is_ok(), "a client's connection was left open");
    }
    eprintln!(
        "closed {took:?} after the last client stalled; held {} KiB",
        held / 1024
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_waiting_for_queue_room_does_not_stop_the_heartbeat() {
    let server = common::bind_with(|config| {
        config.ping_interval = Duration::from_millis(500);
        config.pong_timeout = Duration::from_millis(500);
        // Only the heartbeat may close it here.
        config.write_timeout = Duration::from_secs(120);
    })
    .await;
    let metrics = server.metrics();
    let addr = server.local_addr();
    tokio::spawn(server.run_until(std::future::pending()));

    let _stream = stalled_echo(addr).await;
    // The echo handler waits for room that never comes; the peer answers no ping (it
    // reads nothing): closed after ping interval + pong timeout + close grace.
    all_closed_within(&metrics, Duration::from_secs(15)).await;
    assert_eq!(
        counter(&metrics, "ferrosocket_limit_hits_total{limit=\"idle\"}"),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_waiting_for_queue_room_does_not_delay_shutdown() {
    let server = common::bind_with(|config| {
        config.write_timeout = Duration::from_secs(120);
        config.shutdown_timeout = Duration::from_secs(60);
    })
    .await;
    let metrics = server.metrics();
    let addr = server.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.run_until(async {
        let _ = stopped.await;
    }));

    let _streams = [stalled_echo(addr).await, stalled_echo(addr).await];
    let started = Instant::now();
    stop.send(()).unwrap();
    // run_until returns once every connection has closed (or after the 60 s shutdown
    // timeout, which would fail this).
    tokio::time::timeout(Duration::from_secs(15), running)
        .await
        .expect("shutdown waited for the stalled connections")
        .unwrap()
        .unwrap();
    assert_eq!(metrics.connections_open(), 0);
    eprintln!("shut down in {:?}", started.elapsed());
}
