//! What a run measured, shared by its terminal tasks: HDR histograms of acknowledgement latency
//! (from each update's due time) per kind and transport and per ramp step, the count of every
//! answer, and a per-second timeline for the progress line and the chart.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::link::{AckStatus, RetryReason};
use crate::model::Kind;

/// HTTP or RESP, the label a measurement is kept under: the contract's.
pub use tradestate_mt5_bridge::Transport;

/// An auto-resizing histogram: no latency is ever clipped. `sigfig` is 2 or 3 here, always in
/// the 0..=5 hdrhistogram takes.
pub fn histogram(sigfig: u8) -> Histogram<u64> {
    let mut h = Histogram::new(sigfig.min(5)).expect("0..=5 significant figures are valid");
    h.auto(true);
    h
}

/// Acknowledgements of one kind over one transport.
#[derive(Debug, Clone)]
pub struct Cell {
    pub latency_us: Histogram<u64>,
    pub stored: u64,
    pub coalesced: u64,
    pub duplicate: u64,
    pub stale: u64,
    /// Taken into the service's spill log, stored later.
    pub spooled: u64,
    /// Stored by a partition without an append-only file.
    pub volatile: u64,
}

impl Default for Cell {
    fn default() -> Self {
        Cell {
            latency_us: histogram(3),
            stored: 0,
            coalesced: 0,
            duplicate: 0,
            stale: 0,
            spooled: 0,
            volatile: 0,
        }
    }
}

impl Cell {
    pub fn acked(&self) -> u64 {
        self.stored + self.coalesced + self.duplicate + self.stale + self.spooled + self.volatile
    }
}

/// Answers that were not acknowledgements.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Retries {
    /// HTTP 429 / RESP -TRYAGAIN over a quota or a queue watermark (resent after Retry-After).
    pub throttled: u64,
    /// HTTP 503 / RESP -TRYAGAIN partition unavailable (resent).
    pub unavailable: u64,
    /// No answer: connection refused, reset or timed out (resent on a new connection).
    pub failed: u64,
    /// Refused as invalid or unauthorised: a bug in the simulator or the configuration; never resent.
    pub refused: u64,
}

impl Retries {
    pub fn total(&self) -> u64 {
        self.throttled + self.unavailable + self.failed
    }
}

/// One second of the run, by when the acknowledgement arrived.
#[derive(Debug, Clone)]
pub struct Second {
    pub acked: u64,
    pub retries: u64,
    pub latency_us: Histogram<u64>,
}

impl Default for Second {
    fn default() -> Self {
        Second {
            acked: 0,
            retries: 0,
            latency_us: histogram(2),
        }
    }
}

/// One step of a ramp (one step in a fixed-rate run), by the due time of the updates.
#[derive(Debug, Clone)]
pub struct Step {
    pub rate: f64,
    pub from: Duration,
    pub until: Duration,
    pub sent: u64,
    pub acked: u64,
    /// Sent, then replaced in the terminal's queue by a newer state before an answer came.
    pub superseded: u64,
    pub retries: Retries,
    pub latency_us: Histogram<u64>,
}

#[derive(Debug)]
pub struct Stats {
    pub started: Instant,
    cells: Vec<Cell>,
    pub retries: Retries,
    pub timeline: Vec<Second>,
    pub steps: Vec<Step>,
    /// Updates handed to a transport for the first time.
    pub sent: u64,
    /// Updates still unanswered when the run's deadline came.
    pub unanswered: u64,
    pub reconnects: u64,
    /// Restarts with a reset numbering (`--restart-every`).
    pub restarts: u64,
    /// Recoveries from a reset numbering: `seq` jumps past a `stale` answer's `stored_seq`, by
    /// transport (`Transport::ALL` order).
    pub seq_jumps: [u64; 2],
    /// State updates a `stale` answer sent back to the queue with a new `seq`.
    pub renumbered: u64,
    /// `renumber_above` hints (a spooled state dropped as stale when the gateway wrote it), by
    /// transport (`Transport::ALL` order).
    pub renumber_hints: [u64; 2],
    /// Recent closes a hint sent again with a new `seq`.
    pub hint_closes: u64,
    /// Updates sent once, then replaced in the terminal's queue by a newer state of the same key
    /// numbered in a later epoch (acknowledged never, needed never).
    pub superseded: u64,
    pub first_problem: Option<String>,
}

fn cell_index(kind: Kind, transport: Transport) -> usize {
    let k = match kind {
        Kind::Instance => 0,
        Kind::Trade => 1,
        Kind::Signal => 2,
    };
    k * 2 + usize::from(transport == Transport::Resp)
}

impl Stats {
    pub fn new(started: Instant) -> Stats {
        Stats {
            started,
            cells: vec![Cell::default(); 6],
            retries: Retries::default(),
            timeline: Vec::new(),
            steps: Vec::new(),
            sent: 0,
            unanswered: 0,
            reconnects: 0,
            restarts: 0,
            seq_jumps: [0; 2],
            renumbered: 0,
            renumber_hints: [0; 2],
            hint_closes: 0,
            superseded: 0,
            first_problem: None,
        }
    }

    pub fn cell(&self, kind: Kind, transport: Transport) -> &Cell {
        &self.cells[cell_index(kind, transport)]
    }

    pub fn acked(&self) -> u64 {
        self.cells.iter().map(Cell::acked).sum()
    }

    pub fn begin_step(&mut self, rate: f64, from: Duration, until: Duration) {
        self.steps.push(Step {
            rate,
            from,
            until,
            sent: 0,
            acked: 0,
            superseded: 0,
            retries: Retries::default(),
            latency_us: histogram(3),
        });
    }

    fn step_of(&mut self, due: Instant) -> Option<&mut Step> {
        let at = due.saturating_duration_since(self.started);
        self.steps
            .iter_mut()
            .rev()
            .find(|s| at >= s.from && at < s.until)
    }

    fn second(&mut self, at: Instant) -> &mut Second {
        let i = at.saturating_duration_since(self.started).as_secs() as usize;
        if self.timeline.len() <= i {
            self.timeline.resize_with(i + 1, Second::default);
        }
        &mut self.timeline[i]
    }

    pub fn sent(&mut self, due: Instant) {
        self.sent += 1;
        if let Some(step) = self.step_of(due) {
            step.sent += 1;
        }
    }

    pub fn ack(
        &mut self,
        kind: Kind,
        transport: Transport,
        status: AckStatus,
        due: Instant,
        at: Instant,
    ) {
        let us = at.saturating_duration_since(due).as_micros() as u64;
        let cell = &mut self.cells[cell_index(kind, transport)];
        let _ = cell.latency_us.record(us.max(1));
        match status {
            AckStatus::Stored => cell.stored += 1,
            AckStatus::Coalesced => cell.coalesced += 1,
            AckStatus::Duplicate => cell.duplicate += 1,
            AckStatus::Stale => cell.stale += 1,
            AckStatus::Spooled => cell.spooled += 1,
            AckStatus::Volatile => cell.volatile += 1,
        }
        let second = self.second(at);
        second.acked += 1;
        let _ = second.latency_us.record(us.max(1));
        if let Some(step) = self.step_of(due) {
            step.acked += 1;
            let _ = step.latency_us.record(us.max(1));
        }
    }

    pub fn superseded(&mut self, due: Instant) {
        self.superseded += 1;
        if let Some(step) = self.step_of(due) {
            step.superseded += 1;
        }
    }

    pub fn retry(&mut self, reason: RetryReason, due: Instant, at: Instant) {
        fn bump(r: &mut Retries, reason: RetryReason) {
            match reason {
                RetryReason::Throttled => r.throttled += 1,
                RetryReason::Unavailable => r.unavailable += 1,
                RetryReason::Failed => r.failed += 1,
            }
        }
        bump(&mut self.retries, reason);
        self.second(at).retries += 1;
        if let Some(step) = self.step_of(due) {
            bump(&mut step.retries, reason);
        }
    }

    pub fn refused(&mut self, due: Instant, why: &str) {
        self.retries.refused += 1;
        if let Some(step) = self.step_of(due) {
            step.retries.refused += 1;
        }
        self.problem(|| why.to_string());
    }

    pub fn problem(&mut self, why: impl FnOnce() -> String) {
        if self.first_problem.is_none() {
            self.first_problem = Some(why());
        }
    }
}

#[derive(Clone)]
pub struct SharedStats(Arc<Mutex<Stats>>);

impl SharedStats {
    pub fn new(started: Instant) -> SharedStats {
        SharedStats(Arc::new(Mutex::new(Stats::new(started))))
    }

    pub fn lock(&self) -> MutexGuard<'_, Stats> {
        // A terminal task that panicked cannot leave the counters half-updated in a way that
        // matters more than losing the report, so a poisoned lock is used as is.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Percentiles of a histogram in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl Percentiles {
    pub fn of(h: &Histogram<u64>) -> Percentiles {
        let ms = |us: u64| us as f64 / 1000.0;
        Percentiles {
            count: h.len(),
            p50_ms: ms(h.value_at_quantile(0.50)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acks_land_in_their_cell_second_and_step() {
        let t0 = Instant::now();
        let mut stats = Stats::new(t0);
        stats.begin_step(100.0, Duration::ZERO, Duration::from_secs(10));
        let due = t0 + Duration::from_millis(1500);
        stats.sent(due);
        stats.ack(
            Kind::Trade,
            Transport::Resp,
            AckStatus::Stored,
            due,
            due + Duration::from_millis(4),
        );
        stats.retry(RetryReason::Throttled, due, due + Duration::from_millis(2));
        for status in [AckStatus::Spooled, AckStatus::Volatile] {
            stats.ack(
                Kind::Signal,
                Transport::Http,
                status,
                due,
                due + Duration::from_millis(6),
            );
        }
        let signals = stats.cell(Kind::Signal, Transport::Http);
        assert_eq!(
            (signals.spooled, signals.volatile, signals.acked()),
            (1, 1, 2)
        );
        assert_eq!(stats.acked(), 3);
        assert_eq!(stats.cell(Kind::Trade, Transport::Resp).stored, 1);
        assert_eq!(stats.cell(Kind::Trade, Transport::Http).acked(), 0);
        assert_eq!(stats.timeline.len(), 2);
        assert_eq!(stats.timeline[1].acked, 3);
        assert_eq!(stats.steps[0].acked, 3);
        assert_eq!(stats.steps[0].retries.throttled, 1);
        let p = Percentiles::of(&stats.cell(Kind::Trade, Transport::Resp).latency_us);
        assert!((3.9..4.1).contains(&p.p99_ms), "{p:?}");
    }
}
