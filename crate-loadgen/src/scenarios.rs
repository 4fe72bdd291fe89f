//! The benchmark scenarios: closed-loop echo, and connection setup/idle memory (broadcast
//! is in `broadcast.rs`).
//! Each prints one machine-readable `RESULT key=value ...` line after its human summary.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::sync::Semaphore;

use crate::dialect::{Dialect, Received};
use crate::measure::{histogram, percentiles, rss_kib, ServerCpu};

/// A load generator's connection.
pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens `count` connections to `url`, at most `concurrency` handshakes at a time, each
/// through its [`Dialect`]'s handshake.
pub async fn open_many(url: &str, count: usize, concurrency: usize) -> Result<Vec<Socket>, String> {
    let gate = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut tasks = Vec::with_capacity(count);
    for _ in 0..count {
        let permit = Arc::clone(&gate)
            .acquire_owned()
            .await
            .expect("semaphore open");
        let url = url.to_owned();
        tasks.push(tokio::spawn(async move {
            let result = match tokio_tungstenite::connect_async(&url).await {
                Ok((mut ws, _)) => Dialect::of(&url).handshake(&mut ws).await.map(|()| ws),
                Err(err) => Err(format!("connect failed: {err}")),
            };
            drop(permit);
            result
        }));
    }
    let mut sockets = Vec::with_capacity(count);
    for task in tasks {
        sockets.push(task.await.expect("connect task")?);
    }
    Ok(sockets)
}

/// `connections` connections each sending `payload` bytes and waiting for the echo, for
/// `seconds`: closed-loop, or paced to `rate` messages per second in total (0: closed-loop).
pub async fn echo(
    url: &str,
    connections: usize,
    payload: usize,
    seconds: u64,
    rate: u32,
    server_pid: Option<u32>,
) -> Result<(), String> {
    let sockets = open_many(url, connections, 256).await?;
    let done = Arc::new(AtomicU64::new(0));
    let corrupted = Arc::new(AtomicU64::new(0));
    let latency = Arc::new(Mutex::new(histogram()));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let server_cpu = ServerCpu::start(server_pid);
    let started = Instant::now();
    let mut tasks = Vec::new();
    let dialect = Dialect::of(url);
    for mut ws in sockets {
        let done = Arc::clone(&done);
        let latency = Arc::clone(&latency);
        let corrupted = Arc::clone(&corrupted);
        let body = dialect.payload(payload);
        // What must come back: the payload's application bytes, whatever the framing.
        let expected = vec![b'x'; payload];
        let mut pace = (rate > 0).then(|| {
            let period = Duration::from_secs_f64(connections as f64 / f64::from(rate));
            let mut pace = tokio::time::interval(period);
            pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            pace
        });
        tasks.push(tokio::spawn(async move {
            let mut local = histogram();
            'run: while Instant::now() < deadline {
                if let Some(pace) = pace.as_mut() {
                    pace.tick().await;
                }
                let sent = Instant::now();
                if ws.send(body.clone()).await.is_err() {
                    break;
                }
                loop {
                    let Some(Ok(message)) = ws.next().await else {
                        break 'run;
                    };
                    let intact = match dialect.receive(&message, &mut ws).await {
                        Received::Other => continue,
                        Received::Text(text) => text.as_bytes() == expected,
                        Received::Binary(bytes) => bytes == expected,
                    };
                    if !intact {
                        corrupted.fetch_add(1, Ordering::Relaxed);
                    }
                    break;
                }
                let _ = local.record(sent.elapsed().as_micros().max(1) as u64);
                done.fetch_add(1, Ordering::Relaxed);
            }
            latency.lock().unwrap().add(&local).expect("same bounds");
            let _ = ws.close(None).await;
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let messages = done.load(Ordering::Relaxed);
    let h = latency.lock().unwrap();
    let target = match rate {
        0 => "closed-loop".to_owned(),
        rate => format!("{rate}/s"),
    };
    let rate = messages as f64 / elapsed;
    let cpu_per_message_us = server_cpu.micros_per(messages);
    println!("echo {connections} x {payload} B at {target}: {rate:.0} msg/s, {}, server CPU {cpu_per_message_us:.2} µs/msg", percentiles(&h));
    println!(
        "RESULT scenario=echo payload={payload} connections={connections} target={target} rate={rate:.0} p50_us={} p99_us={} max_us={} cpu_us_per_msg={cpu_per_message_us:.3}",
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.99),
        h.max()
    );
    let corrupted = corrupted.load(Ordering::Relaxed);
    if corrupted > 0 {
        return Err(format!(
            "{corrupted} of {messages} echoes differed from the payload sent"
        ));
    }
    if messages == 0 {
        return Err("no echo came back".into());
    }
    Ok(())
}

/// Opens `connections` connections, reports the setup rate, holds them idle and reports
/// the server's memory per connection.
pub async fn connect(url: &str, connections: usize, server_pid: Option<u32>) -> Result<(), String> {
    let rss_before = server_pid.and_then(rss_kib);
    let started = Instant::now();
    let sockets = open_many(url, connections, 128).await?;
    let setup_rate = connections as f64 / started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = server_pid.and_then(rss_kib);
    let per_connection = match (rss_before, rss_after) {
        (Some(before), Some(after)) => (after.saturating_sub(before)) as f64 / connections as f64,
        _ => f64::NAN,
    };
    println!("connect {connections}: {setup_rate:.0} connections/s, {per_connection:.2} KiB server RSS per idle connection");
    println!("RESULT scenario=connect connections={connections} setup_per_s={setup_rate:.0} kib_per_connection={per_connection:.3}");
    drop(sockets);
    Ok(())
}
