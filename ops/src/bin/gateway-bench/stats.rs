//! What one run measured: an HDR histogram of acknowledgement latency (from the intended send
//! time) and the count of every kind of answer, shared by the terminal tasks of a run.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// How one request (HTTP) or command (RESP) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// HTTP 200 / RESP `:N` with N > 0: in the engine.
    Ok,
    /// RESP `:0`: the gateway already had a newer state (never expected here).
    Stale,
    /// HTTP 429 / RESP `-TRYAGAIN`: over a quota or a queue watermark.
    Throttled,
    /// HTTP 503: a partition could not take it.
    Unavailable,
    /// Any other status or error reply.
    Other,
    /// The connection failed or the answer did not come before the run's deadline.
    Failed,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct Counts {
    pub ok: u64,
    pub stale: u64,
    pub throttled: u64,
    pub unavailable: u64,
    pub other: u64,
    pub failed: u64,
    /// Sends whose intended time passed while the terminal was still waiting on earlier ones.
    pub unsent: u64,
    /// Updates acknowledged (an HTTP batch counts its size).
    pub updates_acked: u64,
}

impl Counts {
    pub fn answered(&self) -> u64 {
        self.ok + self.stale + self.throttled + self.unavailable + self.other
    }

    /// Requests that did not end in an acknowledgement, including those never sent.
    pub fn not_ok(&self) -> u64 {
        self.stale + self.throttled + self.unavailable + self.other + self.failed + self.unsent
    }

    pub fn intended(&self) -> u64 {
        self.answered() + self.failed + self.unsent
    }
}

pub struct Tally {
    /// Latency in microseconds of every answered request whose intended time was in the window.
    pub latency_us: Histogram<u64>,
    pub counts: Counts,
    /// Everything answered, warm-up included, for the progress line.
    pub progress_answered: u64,
    /// The first answer that was not an acknowledgement, to show why a run failed.
    pub first_problem: Option<String>,
}

#[derive(Clone)]
pub struct SharedTally(Arc<Mutex<Tally>>);

impl SharedTally {
    pub fn new() -> Result<SharedTally, String> {
        // 1 us .. 10 min at 3 significant digits.
        let latency_us = Histogram::new_with_bounds(1, 600_000_000, 3)
            .map_err(|e| format!("cannot create the latency histogram: {e}"))?;
        Ok(SharedTally(Arc::new(Mutex::new(Tally {
            latency_us,
            counts: Counts::default(),
            progress_answered: 0,
            first_problem: None,
        }))))
    }

    pub fn lock(&self) -> MutexGuard<'_, Tally> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records one answer; `measured` is false during warm-up.
    pub fn record(&self, answer: Answer, latency: Duration, updates: u64, measured: bool) {
        let mut tally = self.lock();
        tally.progress_answered += 1;
        if !measured {
            return;
        }
        let counts = &mut tally.counts;
        match answer {
            Answer::Ok => {
                counts.ok += 1;
                counts.updates_acked += updates;
            }
            Answer::Stale => counts.stale += 1,
            Answer::Throttled => counts.throttled += 1,
            Answer::Unavailable => counts.unavailable += 1,
            Answer::Other => counts.other += 1,
            Answer::Failed => {
                counts.failed += 1;
                return;
            }
        }
        let us = (latency.as_micros() as u64).clamp(1, 600_000_000);
        let _ = tally.latency_us.record(us);
    }

    /// Keeps `problem` if it is the first one of the run.
    pub fn problem(&self, problem: impl FnOnce() -> String) {
        let mut tally = self.lock();
        if tally.first_problem.is_none() {
            tally.first_problem = Some(problem());
        }
    }

    pub fn unsent(&self, count: u64) {
        self.lock().counts.unsent += count;
    }
}

/// The summary of one run at one target rate.
#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    pub transport: &'static str,
    pub target_updates_per_s: f64,
    pub acked_updates_per_s: f64,
    pub seconds: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub counts: Counts,
    pub not_ok_pct: f64,
    pub pass: bool,
    pub verdict: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_problem: Option<String>,
}

impl RunResult {
    pub fn from_tally(
        transport: &'static str,
        target: f64,
        seconds: f64,
        tally: &Tally,
        p99_limit_ms: f64,
        max_not_ok_pct: f64,
    ) -> RunResult {
        let h = &tally.latency_us;
        let ms = |us: u64| us as f64 / 1000.0;
        let counts = tally.counts.clone();
        let intended = counts.intended().max(1);
        let not_ok_pct = counts.not_ok() as f64 * 100.0 / intended as f64;
        let p99_ms = ms(h.value_at_quantile(0.99));
        let verdict = if counts.answered() == 0 {
            "no answers".to_string()
        } else if p99_ms > p99_limit_ms {
            format!("p99 {p99_ms:.2} ms > {p99_limit_ms} ms")
        } else if not_ok_pct > max_not_ok_pct {
            format!("{not_ok_pct:.3}% not acknowledged > {max_not_ok_pct}%")
        } else {
            "ok".to_string()
        };
        RunResult {
            transport,
            target_updates_per_s: target,
            acked_updates_per_s: counts.updates_acked as f64 / seconds,
            seconds,
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms,
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
            not_ok_pct,
            pass: verdict == "ok",
            verdict,
            counts,
            first_problem: tally.first_problem.clone(),
        }
    }

    pub const HEADER: &'static str = "transport   target/s    acked/s   p50 ms   p90 ms   p99 ms p99.9 ms   max ms       ok stale   429   503 other failed unsent  verdict";

    pub fn row(&self) -> String {
        let c = &self.counts;
        format!(
            "{:<9} {:>10.0} {:>10.0} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8} {:>5} {:>5} {:>5} {:>5} {:>6} {:>6}  {}",
            self.transport,
            self.target_updates_per_s,
            self.acked_updates_per_s,
            self.p50_ms,
            self.p90_ms,
            self.p99_ms,
            self.p999_ms,
            self.max_ms,
            c.ok,
            c.stale,
            c.throttled,
            c.unavailable,
            c.other,
            c.failed,
            c.unsent,
            self.verdict
        )
    }
}
