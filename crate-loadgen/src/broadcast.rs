//! The broadcast scenarios: one sender and N receivers in one room.
//!
//! [`Room`] opens the connections once; each [`Room::round`] sends at one rate for a fixed
//! time and waits for the deliveries. `broadcast` runs one round; `broadcast-max` searches
//! for the highest rate a server sustains — every message delivered to every receiver,
//! with p99 latency under a bound — on the same connections.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

use crate::dialect::{Dialect, Received};
use crate::measure::{histogram, now_micros, percentiles, ServerCpu};
use crate::scenarios::{open_many, Socket};

/// How long a round waits for its last deliveries after the sender stops.
const SETTLE: Duration = Duration::from_secs(5);

/// What one round measured.
#[derive(Debug)]
pub struct Round {
    /// Messages per second asked of the sender (0: as fast as it can).
    pub rate: u32,
    /// Deliveries counted by the receivers.
    pub delivered: u64,
    /// `sent` × receivers.
    pub expected: u64,
    /// Deliveries per second over the round (sending time plus the wait for the last ones).
    pub deliveries_per_s: f64,
    /// Send-to-receive latency, microseconds.
    pub latency: Histogram<u64>,
    /// Server CPU time per delivery, microseconds (NaN without a pid).
    pub cpu_us_per_delivery: f64,
    /// Receivers the server disconnected during the round (a server that sheds slow
    /// consumers does so under overload).
    pub receivers_lost: usize,
}

impl Round {
    /// Whether every message reached every receiver with p99 latency within `p99_limit`.
    pub fn sustained(&self, p99_limit: Duration) -> bool {
        self.expected > 0
            && self.receivers_lost == 0
            && self.delivered == self.expected
            && self.latency.value_at_quantile(0.99) <= p99_limit.as_micros() as u64
    }

    /// The human summary and the `RESULT` line, labelled `scenario`.
    pub fn print(&self, scenario: &str, clients: usize) {
        let label = match self.rate {
            0 => "full".to_owned(),
            rate => rate.to_string(),
        };
        println!(
            "{scenario} to {clients} at {label}/s: {:.0} deliveries/s ({}/{}), {}, server CPU {:.3} µs/delivery, {} receivers disconnected",
            self.deliveries_per_s,
            self.delivered,
            self.expected,
            percentiles(&self.latency),
            self.cpu_us_per_delivery,
            self.receivers_lost
        );
        println!(
            "RESULT scenario={scenario} clients={clients} rate={label} deliveries_per_s={:.0} delivered={} expected={} p50_us={} p99_us={} cpu_us_per_delivery={:.4} receivers_lost={}",
            self.deliveries_per_s,
            self.delivered,
            self.expected,
            self.latency.value_at_quantile(0.5),
            self.latency.value_at_quantile(0.99),
            self.cpu_us_per_delivery,
            self.receivers_lost
        );
    }
}

/// What the receivers share: the round they count for, and its counts.
#[derive(Debug)]
struct Tally {
    round: AtomicU64,
    delivered: AtomicU64,
    /// Every data message, whatever its round: the room is quiet when this stops moving.
    seen: AtomicU64,
    latency: Mutex<Histogram<u64>>,
    receivers_alive: AtomicUsize,
}

/// One sender and `clients` receivers, connected and in the room.
pub struct Room {
    clients: usize,
    dialect: Dialect,
    sink: SplitSink<Socket, Message>,
    tally: Arc<Tally>,
    tasks: Vec<JoinHandle<()>>,
    server_pid: Option<u32>,
}

impl Room {
    /// Opens `clients` receivers and one sender on `url`.
    pub async fn open(url: &str, clients: usize, server_pid: Option<u32>) -> Result<Room, String> {
        let mut sockets = open_many(url, clients + 1, 256).await?;
        let sender = sockets.pop().expect("one more than the receivers");
        // Let joins settle before timing anything.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let dialect = Dialect::of(url);
        let tally = Arc::new(Tally {
            round: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            seen: AtomicU64::new(0),
            latency: Mutex::new(histogram()),
            receivers_alive: AtomicUsize::new(clients),
        });
        let mut tasks: Vec<JoinHandle<()>> = sockets
            .into_iter()
            .map(|ws| tokio::spawn(receive(ws, dialect, Arc::clone(&tally))))
            .collect();
        // The sender drains what comes back to it (servers that echo to the sender).
        let (sink, mut echoes) = sender.split();
        tasks.push(tokio::spawn(async move {
            while echoes.next().await.is_some() {}
        }));
        Ok(Room {
            clients,
            dialect,
            sink,
            tally,
            tasks,
            server_pid,
        })
    }

    /// Sends at `rate` per second (0: as fast as the server takes them) for `duration`, then
    /// waits up to [`SETTLE`] for every delivery.
    pub async fn round(&mut self, rate: u32, duration: Duration) -> Result<Round, String> {
        let tally = &self.tally;
        let round = tally.round.fetch_add(1, Ordering::SeqCst) + 1;
        tally.delivered.store(0, Ordering::SeqCst);
        tally.latency.lock().unwrap().reset();
        let server_cpu = ServerCpu::start(self.server_pid);
        let started = Instant::now();
        let mut ticker = (rate > 0)
            .then(|| tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate))));
        let deadline = tokio::time::Instant::now() + duration;
        let mut sent = 0u64;
        while tokio::time::Instant::now() < deadline {
            if let Some(ticker) = ticker.as_mut() {
                ticker.tick().await;
            }
            let text = format!("bench {round} {sent} {}", now_micros());
            // A server that stops reading must not hold the round past its deadline.
            match tokio::time::timeout_at(deadline, self.sink.send(self.dialect.text(&text))).await
            {
                Ok(Ok(())) => sent += 1,
                Ok(Err(err)) => return Err(format!("the sender's connection failed: {err}")),
                Err(_) => break,
            }
        }
        let expected = sent * self.clients as u64;
        let settle = Instant::now() + SETTLE;
        while tally.delivered.load(Ordering::SeqCst) < expected && Instant::now() < settle {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let elapsed = started.elapsed().as_secs_f64();
        let delivered = tally.delivered.load(Ordering::SeqCst);
        Ok(Round {
            rate,
            delivered,
            expected,
            deliveries_per_s: delivered as f64 / elapsed,
            latency: tally.latency.lock().unwrap().clone(),
            cpu_us_per_delivery: server_cpu.micros_per(delivered),
            receivers_lost: self.clients - tally.receivers_alive.load(Ordering::SeqCst),
        })
    }

    /// Waits until no message has arrived for 500 ms (a backlog from an overloaded round
    /// must not run into the next one), at most 30 s.
    pub async fn quiesce(&self) {
        let give_up = Instant::now() + Duration::from_secs(30);
        let mut last = self.tally.seen.load(Ordering::SeqCst);
        while Instant::now() < give_up {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let now = self.tally.seen.load(Ordering::SeqCst);
            if now == last {
                return;
            }
            last = now;
        }
    }
}

impl Drop for Room {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// A receiver: counts and times the messages of the current round.
async fn receive(mut ws: Socket, dialect: Dialect, tally: Arc<Tally>) {
    while let Some(Ok(message)) = ws.next().await {
        let Received::Text(text) = dialect.receive(&message, &mut ws).await else {
            continue;
        };
        // Servers may prefix the line (the sender's name): read from the marker on.
        let Some((_, fields)) = text.split_once("bench ") else {
            continue;
        };
        let mut fields = fields.split(' ');
        let (Some(round), Some(_seq), Some(sent)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        tally.seen.fetch_add(1, Ordering::Relaxed);
        if round.parse() == Ok(tally.round.load(Ordering::Relaxed)) {
            if let Ok(sent) = sent.parse::<u64>() {
                let latency = now_micros().saturating_sub(sent).max(1);
                let _ = tally.latency.lock().unwrap().record(latency);
                tally.delivered.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    tally.receivers_alive.fetch_sub(1, Ordering::SeqCst);
}

/// One round at `rate` (0: full speed) for `seconds`.
pub async fn broadcast(
    url: &str,
    clients: usize,
    rate: u32,
    seconds: u64,
    server_pid: Option<u32>,
) -> Result<(), String> {
    let mut room = Room::open(url, clients, server_pid).await?;
    let round = room.round(rate, Duration::from_secs(seconds)).await?;
    round.print("broadcast", clients);
    Ok(())
}

/// What `broadcast-max` searches with.
#[derive(Debug, Clone, Copy)]
pub struct Search {
    /// The first rate tried, messages per second.
    pub start: u32,
    /// Each round's sending time.
    pub round: Duration,
    /// The p99 latency a sustained rate stays within.
    pub p99_limit: Duration,
    /// The most rounds to run.
    pub max_rounds: u32,
}

/// The highest rate the server sustains with every message delivered and p99 latency
/// within the limit: doubles the rate from `search.start` until a round fails (halves it
/// while none has held), then bisects between the last rate that held and the first that
/// did not, until they are within 10 %.
pub async fn broadcast_max(
    url: &str,
    clients: usize,
    search: Search,
    server_pid: Option<u32>,
) -> Result<(), String> {
    let mut room = Room::open(url, clients, server_pid).await?;
    let mut best: Option<Round> = None;
    let mut failed_at: Option<u32> = None;
    let mut rate = search.start.max(1);
    for _ in 0..search.max_rounds {
        let round = room.round(rate, search.round).await?;
        let held = round.sustained(search.p99_limit);
        println!(
            "  {rate}/s: {}/{} delivered, p99 {:.1} ms, {} receivers disconnected -> {}",
            round.delivered,
            round.expected,
            round.latency.value_at_quantile(0.99) as f64 / 1000.0,
            round.receivers_lost,
            if held { "holds" } else { "does not hold" }
        );
        if round.receivers_lost > 0 {
            // The next round needs every receiver again.
            drop(room);
            room = Room::open(url, clients, server_pid).await?;
        } else {
            room.quiesce().await;
        }
        if held {
            best = Some(round);
        } else {
            failed_at = Some(rate);
        }
        let low = best.as_ref().map_or(0, |round| round.rate);
        rate = match failed_at {
            None => rate.saturating_mul(2),
            // Stop once the bracket is within 10 %.
            Some(high) if high - low <= (high / 10).max(1) => break,
            Some(high) => low + (high - low) / 2,
        };
        if rate == 0 {
            break;
        }
    }
    let limit = search.p99_limit.as_millis();
    match best {
        Some(round) => {
            println!("max sustainable (every message delivered, p99 ≤ {limit} ms):");
            round.print("broadcast-max", clients);
        }
        None => {
            let lowest = failed_at.unwrap_or(search.start);
            println!(
                "no rate held (every message delivered, p99 ≤ {limit} ms), down to {lowest}/s"
            );
            println!("RESULT scenario=broadcast-max clients={clients} rate=below-{lowest}");
        }
    }
    Ok(())
}
