//! The soak scenario: many connections in the chat lobby with broadcast traffic.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use crate::measure::{check_loopback, histogram, now_micros, rss_kib};
use crate::scenarios::open_many;
use crate::SoakArgs;

/// The text of the lines that check every connection is in the lobby before traffic starts.
const SYNC: &str = "soak-sync";

pub async fn soak(args: SoakArgs) -> std::process::ExitCode {
    if let Err(err) = check_loopback(&args.url) {
        eprintln!("error: {err}");
        return std::process::ExitCode::FAILURE;
    }
    let delivered = Arc::new(AtomicU64::new(0));
    let histogram = Arc::new(Mutex::new(histogram()));
    let started = Instant::now();

    // Ramp up.
    let sockets = match open_many(&args.url, args.connections, args.concurrency).await {
        Ok(sockets) => sockets,
        Err(err) => {
            eprintln!("error: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let ramp = started.elapsed();
    println!(
        "opened {} connections in {:.1} s",
        sockets.len(),
        ramp.as_secs_f64()
    );
    let rss_after_ramp = args.server_pid.and_then(rss_kib);

    // Readers.
    let mut writers = Vec::new();
    let mut readers = Vec::new();
    let synced = Arc::new(AtomicU64::new(0));
    for ws in sockets {
        let (sink, mut stream) = ws.split();
        writers.push(sink);
        let delivered = Arc::clone(&delivered);
        let histogram = Arc::clone(&histogram);
        let synced = Arc::clone(&synced);
        readers.push(tokio::spawn(async move {
            let mut local = Vec::new();
            let mut in_lobby = false;
            while let Some(Ok(message)) = stream.next().await {
                if let Message::Text(text) = message {
                    if text.as_str().ends_with(SYNC) {
                        if !in_lobby {
                            in_lobby = true;
                            synced.fetch_add(1, Ordering::Relaxed);
                        }
                        continue;
                    }
                    if let Some(sent) = text
                        .as_str()
                        .rsplit(' ')
                        .next()
                        .and_then(|t| t.parse::<u64>().ok())
                    {
                        delivered.fetch_add(1, Ordering::Relaxed);
                        local.push(now_micros().saturating_sub(sent));
                        if local.len() >= 256 {
                            let mut h = histogram.lock().unwrap();
                            for v in local.drain(..) {
                                let _ = h.record(v.max(1));
                            }
                        }
                    }
                }
            }
            let mut h = histogram.lock().unwrap();
            for v in local {
                let _ = h.record(v.max(1));
            }
        }));
    }

    // A plain client is put in the lobby just after its handshake: a line sent at once may
    // reach the lobby before the last ones to connect. Sync lines (not counted) go out
    // until every connection has seen one, so that the run counts only lines sent to all.
    let sync_deadline = Instant::now() + Duration::from_secs(60);
    while synced.load(Ordering::Relaxed) < writers.len() as u64 {
        if Instant::now() > sync_deadline {
            eprintln!(
                "error: only {} of {} connections heard the lobby within 60 s",
                synced.load(Ordering::Relaxed),
                writers.len()
            );
            return std::process::ExitCode::FAILURE;
        }
        if writers[0].send(Message::text(SYNC)).await.is_err() {
            eprintln!("error: a sender's connection closed");
            return std::process::ExitCode::FAILURE;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // Traffic.
    let senders = args.senders.clamp(1, writers.len().max(1));
    let interval = Duration::from_secs_f64(1.0 / f64::from(args.rate.max(1)));
    let mut ticker = tokio::time::interval(interval);
    let mut sent = 0u64;
    let mut samples = Vec::new();
    let traffic_start = Instant::now();
    let mut next_sample = Instant::now();
    while traffic_start.elapsed() < Duration::from_secs(args.seconds) {
        ticker.tick().await;
        let writer = &mut writers[(sent as usize) % senders];
        if writer
            .send(Message::text(format!("soak {sent} {}", now_micros())))
            .await
            .is_err()
        {
            eprintln!("error: a sender's connection closed");
            break;
        }
        sent += 1;
        if Instant::now() >= next_sample {
            let rss = args.server_pid.and_then(rss_kib);
            samples.push((
                traffic_start.elapsed().as_secs(),
                rss,
                delivered.load(Ordering::Relaxed),
            ));
            println!(
                "t={:>3}s sent={sent} delivered={} server_rss={}",
                traffic_start.elapsed().as_secs(),
                delivered.load(Ordering::Relaxed),
                rss.map_or("?".into(), |kib| format!("{} MiB", kib / 1024))
            );
            next_sample += Duration::from_secs(5);
        }
    }
    // Let in-flight lines arrive, then close everything.
    let expected = sent * writers.len() as u64;
    let drain_deadline = Instant::now() + Duration::from_secs(10);
    while delivered.load(Ordering::Relaxed) < expected && Instant::now() < drain_deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let final_rss = args.server_pid.and_then(rss_kib);
    for mut writer in writers {
        let _ = writer.close().await;
    }
    for reader in readers {
        let _ = tokio::time::timeout(Duration::from_secs(5), reader).await;
    }
    let delivered = delivered.load(Ordering::Relaxed);
    let h = histogram.lock().unwrap();
    let ms = |v: u64| v as f64 / 1000.0;
    println!();
    println!(
        "connections        {}",
        expected.checked_div(sent).unwrap_or(0)
    );
    println!("lines sent         {sent} ({} per second)", args.rate);
    println!(
        "delivered/expected {delivered}/{expected}{}",
        if delivered == expected {
            " (all)"
        } else {
            " (MISSING)"
        }
    );
    println!(
        "latency ms         p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}",
        ms(h.value_at_quantile(0.5)),
        ms(h.value_at_quantile(0.9)),
        ms(h.value_at_quantile(0.99)),
        ms(h.max())
    );
    if let (Some(ramp_rss), Some(final_rss)) = (rss_after_ramp, final_rss) {
        let max = samples
            .iter()
            .filter_map(|(_, rss, _)| *rss)
            .max()
            .unwrap_or(final_rss);
        println!(
            "server RSS         after ramp-up {} MiB, max {} MiB, end {} MiB ({:.1} KiB per connection)",
            ramp_rss / 1024,
            max / 1024,
            final_rss / 1024,
            ramp_rss as f64 / args.connections as f64
        );
    }
    let mut later: Vec<(u64, u64)> = samples
        .iter()
        .filter_map(|&(t, rss, _)| Some((t, rss?)))
        .collect();
    if let Some(rss) = final_rss {
        later.push((traffic_start.elapsed().as_secs(), rss));
    }
    let memory_flat = match memory_verdict(&later, args.warm_up, args.rss_tolerance_percent) {
        Ok(verdict) => {
            println!("server RSS flat    {verdict}");
            true
        }
        Err(verdict) => {
            println!("server RSS GREW    {verdict}");
            false
        }
    };
    if delivered == expected && memory_flat {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}

/// Whether the server's RSS stayed flat: every sample (seconds into the traffic, KiB)
/// after the first one at or past `warm_up` seconds within `tolerance_percent` of that
/// one (and at least 8 MiB). `Ok` with the figures, or `Err` naming the growth; a run too
/// short (or without a server pid) to have a sample after the baseline passes, saying so.
fn memory_verdict(
    samples: &[(u64, u64)],
    warm_up: u64,
    tolerance_percent: u64,
) -> Result<String, String> {
    let Some(start) = samples.iter().position(|&(t, _)| t >= warm_up) else {
        return Ok(format!(
            "not judged: no sample after the {warm_up} s warm-up"
        ));
    };
    let baseline = samples[start].1;
    let allowed = (baseline * tolerance_percent / 100).max(8 * 1024);
    let rest = &samples[start + 1..];
    let Some(&(t, peak)) = rest.iter().max_by_key(|&&(_, rss)| rss) else {
        return Ok(format!(
            "not judged: no sample after the baseline at {}s",
            samples[start].0
        ));
    };
    let verdict = format!(
        "baseline {} MiB at t={}s, highest later {} MiB at t={t}s, allowed +{} MiB ({tolerance_percent}%, at least 8 MiB)",
        baseline / 1024,
        samples[start].0,
        peak / 1024,
        allowed / 1024
    );
    if peak > baseline + allowed {
        Err(verdict)
    } else {
        Ok(verdict)
    }
}

#[cfg(test)]
mod tests {
    use super::memory_verdict;

    #[test]
    fn growth_after_the_warm_up_beyond_the_tolerance_fails_and_noise_does_not() {
        const MIB: u64 = 1024;
        let flat = [
            (0, 100 * MIB),
            (5, 180 * MIB),
            (10, 200 * MIB),
            (15, 205 * MIB),
            (20, 198 * MIB),
        ];
        assert!(memory_verdict(&flat, 10, 10).is_ok());
        let leak = [
            (0, 100 * MIB),
            (10, 200 * MIB),
            (15, 215 * MIB),
            (20, 230 * MIB),
        ];
        assert!(memory_verdict(&leak, 10, 10).is_err());
        // Small servers: the 8 MiB floor, not 10% of 20 MiB.
        let small = [(10, 20 * MIB), (15, 27 * MIB)];
        assert!(memory_verdict(&small, 10, 10).is_ok());
        assert!(memory_verdict(&[(10, 20 * MIB), (15, 29 * MIB)], 10, 10).is_err());
        // Growth during the warm-up is not judged; a run without later samples says so.
        assert!(memory_verdict(&[(0, MIB), (10, 500 * MIB)], 10, 10)
            .unwrap()
            .contains("not judged"));
    }
}
