//! One open-loop run at one target rate: the schedule every terminal follows, the progress line,
//! and the summary. Each terminal's send times are fixed in advance (`first_due + k * interval`)
//! and latency is measured from them, so a slow gateway shows up as latency, not as a lower
//! send rate (no coordinated omission).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::stats::{RunResult, SharedTally};
use crate::{http, resp, Transport};

/// Everything a run needs besides the rate.
#[derive(Debug, Clone)]
pub struct Plan {
    pub transport: Transport,
    pub url: String,
    pub resp_addr: String,
    pub token: String,
    pub id_prefix: String,
    pub terminals: usize,
    /// Updates per HTTP request.
    pub batch: usize,
    /// Open positions per terminal (trade updates cycle over them).
    pub positions: u32,
    /// RESP: also send `HSET rts:{id}:<ticket>` position snapshots, in the HTTP batch's mix.
    pub resp_trades: bool,
    /// RESP: commands written together at each send, like redis-benchmark's -P.
    pub pipeline: usize,
    pub warmup: Duration,
    pub seconds: Duration,
    pub drain: Duration,
    pub p99_limit_ms: f64,
    pub max_not_ok_pct: f64,
    pub progress: bool,
}

impl Plan {
    /// Updates each send carries: a batch over HTTP, `pipeline` commands over RESP.
    pub fn updates_per_send(&self) -> usize {
        match self.transport {
            Transport::Http => self.batch,
            Transport::Resp => self.pipeline.max(1),
        }
    }
}

/// The phases of a run, shared by its terminals.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// Answers to sends intended before this are warm-up and not measured.
    pub measure_from: Instant,
    /// No send is intended at or after this.
    pub send_until: Instant,
    /// Whatever is unanswered now has failed.
    pub deadline: Instant,
}

impl Window {
    pub fn measured(&self, due: Instant) -> bool {
        due >= self.measure_from
    }

    /// How many measured sends of a schedule at `interval` fall in `[from, send_until)`.
    pub fn remaining(&self, from: Instant, interval: Duration) -> u64 {
        let from = from.max(self.measure_from);
        if from >= self.send_until {
            return 0;
        }
        let span = (self.send_until - from).as_nanos();
        let step = interval.as_nanos().max(1);
        span.div_ceil(step) as u64
    }
}

/// One terminal's fixed schedule.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub first_due: Instant,
    pub interval: Duration,
}

pub async fn run(plan: Arc<Plan>, rate: f64) -> Result<RunResult, String> {
    let tally = SharedTally::new()?;
    let sends_per_s = rate / plan.updates_per_send() as f64;
    let per_terminal = sends_per_s / plan.terminals as f64;
    if !per_terminal.is_finite() || per_terminal <= 0.0 {
        return Err(format!("rate {rate} gives no sends; use a rate above 0"));
    }
    let interval = Duration::from_secs_f64(1.0 / per_terminal);
    // Connections and AUTH happen before the first intended send.
    let start = Instant::now() + Duration::from_millis(200);
    let window = Window {
        measure_from: start + plan.warmup,
        send_until: start + plan.warmup + plan.seconds,
        deadline: start + plan.warmup + plan.seconds + plan.drain,
    };
    let seq_base = crate::payload::seq_base();
    let client = match plan.transport {
        Transport::Http => Some(http::client(plan.terminals)?),
        Transport::Resp => None,
    };
    let mut tasks = Vec::with_capacity(plan.terminals);
    for index in 0..plan.terminals {
        let terminal =
            crate::payload::Terminal::new(&plan.id_prefix, index, seq_base, plan.positions);
        // Terminals are spread evenly over one interval so the load is smooth.
        let schedule = Schedule {
            first_due: start + interval.mul_f64(index as f64 / plan.terminals as f64),
            interval,
        };
        let (plan, tally) = (plan.clone(), tally.clone());
        tasks.push(match &client {
            Some(client) => tokio::spawn(http::terminal(
                plan,
                client.clone(),
                terminal,
                schedule,
                window,
                tally,
            )),
            None => tokio::spawn(resp::terminal(plan, terminal, schedule, window, tally)),
        });
    }
    let progress = plan.progress.then(|| {
        let (tally, transport) = (tally.clone(), plan.transport.name());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(
                (start + Duration::from_secs(1)).into(),
                Duration::from_secs(1),
            );
            let mut last = 0u64;
            loop {
                tick.tick().await;
                let (answered, problem) = {
                    let t = tally.lock();
                    (t.progress_answered, t.counts.not_ok())
                };
                eprint!(
                    "\r  {transport} {rate:>9.0} updates/s: {:>4.0}s, {:>8.0} answers/s, {problem} not ok   ",
                    start.elapsed().as_secs_f64(),
                    answered - last
                );
                last = answered;
            }
        })
    });
    for task in tasks {
        let _ = task.await;
    }
    if let Some(progress) = progress {
        progress.abort();
        eprint!("\r{:>100}\r", "");
    }
    let tally = tally.lock();
    Ok(RunResult::from_tally(
        plan.transport.name(),
        rate,
        plan.seconds.as_secs_f64(),
        &tally,
        plan.p99_limit_ms,
        plan.max_not_ok_pct,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remaining_counts_only_measured_sends_before_the_end() {
        let t0 = Instant::now();
        let window = Window {
            measure_from: t0 + Duration::from_secs(1),
            send_until: t0 + Duration::from_secs(2),
            deadline: t0 + Duration::from_secs(3),
        };
        let step = Duration::from_millis(100);
        assert_eq!(window.remaining(t0, step), 10);
        assert_eq!(window.remaining(t0 + Duration::from_millis(1500), step), 5);
        assert_eq!(window.remaining(t0 + Duration::from_secs(2), step), 0);
    }
}
