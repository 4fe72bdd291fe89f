//! The benchmark scenarios: closed-loop echo, broadcast, and connection setup/idle memory.
//! Each prints one machine-readable `RESULT key=value ...` line after its human summary.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

use crate::measure::{cpu_seconds, histogram, now_micros, percentiles, rss_kib};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens `count` connections to `url`, at most `concurrency` handshakes at a time.
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
            let result = tokio_tungstenite::connect_async(url)
                .await
                .map(|(ws, _)| ws);
            drop(permit);
            result
        }));
    }
    let mut sockets = Vec::with_capacity(count);
    for task in tasks {
        sockets.push(
            task.await
                .expect("connect task")
                .map_err(|err| format!("connect failed: {err}"))?,
        );
    }
    Ok(sockets)
}

/// `connections` connections each sending `payload` bytes and waiting for the echo,
/// for `seconds`.
pub async fn echo(
    url: &str,
    connections: usize,
    payload: usize,
    seconds: u64,
    server_pid: Option<u32>,
) -> Result<(), String> {
    let sockets = open_many(url, connections, 256).await?;
    let done = Arc::new(AtomicU64::new(0));
    let latency = Arc::new(Mutex::new(histogram()));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let cpu_before = server_pid.and_then(cpu_seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for mut ws in sockets {
        let done = Arc::clone(&done);
        let latency = Arc::clone(&latency);
        let body = vec![b'x'; payload];
        tasks.push(tokio::spawn(async move {
            let mut local = histogram();
            while Instant::now() < deadline {
                let sent = Instant::now();
                if ws.send(Message::binary(body.clone())).await.is_err() {
                    break;
                }
                match ws.next().await {
                    Some(Ok(_)) => {
                        let _ = local.record(sent.elapsed().as_micros().max(1) as u64);
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => break,
                }
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
    let cpu = match (cpu_before, server_pid.and_then(cpu_seconds)) {
        (Some(before), Some(after)) => after - before,
        _ => f64::NAN,
    };
    let h = latency.lock().unwrap();
    let rate = messages as f64 / elapsed;
    let cpu_per_message_us = cpu / messages.max(1) as f64 * 1e6;
    println!("echo {connections} x {payload} B: {rate:.0} msg/s, {}, server CPU {cpu_per_message_us:.2} µs/msg", percentiles(&h));
    println!(
        "RESULT scenario=echo payload={payload} connections={connections} rate={rate:.0} p50_us={} p99_us={} max_us={} cpu_us_per_msg={cpu_per_message_us:.3}",
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.99),
        h.max()
    );
    Ok(())
}

/// One sender and `clients` receivers in one room; the sender sends at `rate` per second
/// (0: as fast as it can) for `seconds`; receivers time every message from the sender.
pub async fn broadcast(
    url: &str,
    clients: usize,
    rate: u32,
    seconds: u64,
    server_pid: Option<u32>,
) -> Result<(), String> {
    let mut sockets = open_many(url, clients + 1, 256).await?;
    let sender = sockets.pop().expect("one more than the receivers");
    // Let joins settle before timing anything.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let delivered = Arc::new(AtomicU64::new(0));
    let latency = Arc::new(Mutex::new(histogram()));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut readers = Vec::new();
    for mut ws in sockets {
        let delivered = Arc::clone(&delivered);
        let latency = Arc::clone(&latency);
        let mut stopped = stopped.clone();
        readers.push(tokio::spawn(async move {
            let mut local = histogram();
            loop {
                let message = tokio::select! {
                    message = ws.next() => message,
                    _ = stopped.changed() => break,
                };
                match message {
                    Some(Ok(Message::Text(text))) => {
                        if let Some(sent) = text
                            .as_str()
                            .rsplit(' ')
                            .next()
                            .and_then(|t| t.parse::<u64>().ok())
                        {
                            let _ = local.record(now_micros().saturating_sub(sent).max(1));
                            delivered.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Some(Ok(_)) => {}
                    _ => break,
                }
            }
            latency.lock().unwrap().add(&local).expect("same bounds");
        }));
    }
    let cpu_before = server_pid.and_then(cpu_seconds);
    let started = Instant::now();
    let mut sent = 0u64;
    let interval = (rate > 0).then(|| Duration::from_secs_f64(1.0 / f64::from(rate)));
    let mut ticker = interval.map(tokio::time::interval);
    // The sender drains what comes back to it (servers that echo to the sender).
    let (mut sink, mut echoes) = sender.split();
    let drain = tokio::spawn(async move { while echoes.next().await.is_some() {} });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    while tokio::time::Instant::now() < deadline {
        if let Some(ticker) = ticker.as_mut() {
            ticker.tick().await;
        }
        // A server that stops reading must not hold the run past its deadline.
        let message = Message::text(format!("bench {sent} {}", now_micros()));
        match tokio::time::timeout_at(deadline, sink.send(message)).await {
            Ok(Ok(())) => sent += 1,
            Ok(Err(_)) | Err(_) => break,
        }
    }
    let expected = sent * clients as u64;
    let settle = Instant::now() + Duration::from_secs(10);
    while delivered.load(Ordering::Relaxed) < expected && Instant::now() < settle {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = match (cpu_before, server_pid.and_then(cpu_seconds)) {
        (Some(before), Some(after)) => after - before,
        _ => f64::NAN,
    };
    let got = delivered.load(Ordering::Relaxed);
    drain.abort();
    let _ = stop.send(true);
    for reader in readers {
        let _ = reader.await;
    }
    let h = latency.lock().unwrap();
    let rate_label = if rate == 0 {
        "full".to_owned()
    } else {
        rate.to_string()
    };
    let deliveries = got as f64 / elapsed;
    let cpu_per_delivery_us = cpu / got.max(1) as f64 * 1e6;
    println!(
        "broadcast to {clients} at {rate_label}/s: {deliveries:.0} deliveries/s ({got}/{expected}), {}, server CPU {cpu_per_delivery_us:.3} µs/delivery",
        percentiles(&h)
    );
    println!(
        "RESULT scenario=broadcast clients={clients} rate={rate_label} deliveries_per_s={deliveries:.0} delivered={got} expected={expected} p50_us={} p99_us={} cpu_us_per_delivery={cpu_per_delivery_us:.4}",
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.99)
    );
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
