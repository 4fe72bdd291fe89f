//! What the load generator measures: latency histograms, and the server's CPU time and
//! memory read from `/proc`.

use hdrhistogram::Histogram;

/// A latency histogram in microseconds, 1 µs to 60 s.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds")
}

/// `p50 p90 p99 max` in milliseconds.
pub fn percentiles(h: &Histogram<u64>) -> String {
    let ms = |v: u64| v as f64 / 1000.0;
    format!(
        "p50 {:.3} ms  p90 {:.3} ms  p99 {:.3} ms  max {:.3} ms",
        ms(h.value_at_quantile(0.5)),
        ms(h.value_at_quantile(0.9)),
        ms(h.value_at_quantile(0.99)),
        ms(h.max())
    )
}

/// The process's resident memory in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
}

/// A server's CPU time from a starting point, to divide among the messages of a run.
#[derive(Debug, Clone, Copy)]
pub struct ServerCpu {
    pid: Option<u32>,
    start: Option<f64>,
}

impl ServerCpu {
    /// Starts counting the CPU time of `pid` (nothing to count without one).
    pub fn start(pid: Option<u32>) -> ServerCpu {
        ServerCpu {
            pid,
            start: pid.and_then(cpu_seconds),
        }
    }

    /// Microseconds of server CPU per event since [`ServerCpu::start`]; NaN without a pid.
    pub fn micros_per(&self, events: u64) -> f64 {
        match (self.start, self.pid.and_then(cpu_seconds)) {
            (Some(before), Some(after)) => (after - before) / events.max(1) as f64 * 1e6,
            _ => f64::NAN,
        }
    }
}

/// The process's CPU time so far (user + system), in seconds.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start after ") ".
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / clock_ticks())
}

fn clock_ticks() -> f64 {
    // sysconf(_SC_CLK_TCK) is 100 on every Linux this runs on.
    100.0
}

/// Microseconds since the Unix epoch.
pub fn now_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// Refuses anything but loopback targets.
pub fn check_loopback(url: &str) -> Result<(), String> {
    let host = url
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or("");
    if host.starts_with("127.") || host.starts_with("localhost") || host.starts_with("[::1]") {
        Ok(())
    } else {
        Err(format!(
            "{url} is not a loopback address: only 127.0.0.0/8, localhost and [::1] may be targets"
        ))
    }
}
