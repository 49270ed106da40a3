//! Who may put how much into the queues: per-terminal quotas (governor, keyed by
//! instance id, idle keys pruned), a global admission limit, and the early throttle hint.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

type KeyedLimiter = RateLimiter<
    Arc<str>,
    DefaultKeyedStateStore<Arc<str>>,
    DefaultClock,
    StateInformationMiddleware,
>;
type DirectLimiter = RateLimiter<NotKeyed, InMemoryState, DefaultClock, StateInformationMiddleware>;

#[derive(Debug, Clone)]
pub struct Quotas {
    pub per_terminal_rate: u32,
    pub per_terminal_burst: u32,
    pub global_rate: u32,
}

/// Why an update was not admitted; each maps to 429 or 503 with `Retry-After`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    TerminalRate {
        retry_after: Duration,
    },
    GlobalRate {
        retry_after: Duration,
    },
    QueueFull {
        partition: &'static str,
        retry_after: Duration,
    },
    /// The partition cannot take the update and its spill is full (or failed): 503.
    SpillFull {
        partition: &'static str,
        why: String,
        retry_after: Duration,
    },
}

impl Rejection {
    /// Whether the service, not the terminal's pace, is the cause (503 rather than 429).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Rejection::SpillFull { .. })
    }

    pub fn reason(&self) -> &'static str {
        match self {
            Rejection::TerminalRate { .. } => "terminal_rate",
            Rejection::GlobalRate { .. } => "global_rate",
            Rejection::QueueFull { .. } => "queue_full",
            Rejection::SpillFull { .. } => "spill_full",
        }
    }

    pub fn retry_after(&self) -> Duration {
        match self {
            Rejection::TerminalRate { retry_after }
            | Rejection::GlobalRate { retry_after }
            | Rejection::QueueFull { retry_after, .. }
            | Rejection::SpillFull { retry_after, .. } => *retry_after,
        }
    }

    pub fn message(&self) -> String {
        match self {
            Rejection::TerminalRate { .. } => {
                "this terminal is over its update quota; slow down".into()
            }
            Rejection::GlobalRate { .. } => {
                "the gateway is over its global admission limit; retry later".into()
            }
            Rejection::QueueFull { partition, .. } => {
                format!("partition {partition} is over its queue watermark; retry later")
            }
            Rejection::SpillFull { partition, why, .. } => format!(
                "partition {partition} cannot take updates now and its spill cannot either ({why}); retry later"
            ),
        }
    }
}

pub struct Admission {
    quotas: Quotas,
    per_terminal: KeyedLimiter,
    global: DirectLimiter,
}

impl Admission {
    pub fn new(quotas: Quotas) -> Admission {
        let rate = NonZeroU32::new(quotas.per_terminal_rate).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(quotas.per_terminal_burst).unwrap_or(rate);
        let global = NonZeroU32::new(quotas.global_rate).unwrap_or(NonZeroU32::MIN);
        Admission {
            per_terminal: RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
                .with_middleware::<StateInformationMiddleware>(),
            global: RateLimiter::direct(Quota::per_second(global))
                .with_middleware::<StateInformationMiddleware>(),
            quotas,
        }
    }

    /// Takes `updates` cells from the terminal's and the global quota; returns the throttle
    /// hint (ms) the terminal's remaining quota suggests.
    pub fn admit(&self, instance_id: &Arc<str>, updates: usize) -> Result<u32, Rejection> {
        let burst = self.quotas.per_terminal_burst.max(1);
        // A batch larger than the burst can never fit at once; charge it as a full burst.
        let cells = NonZeroU32::new((updates as u32).clamp(1, burst)).unwrap_or(NonZeroU32::MIN);
        let snapshot = wait_if_refused(self.per_terminal.check_key_n(instance_id, cells))
            .map_err(|retry_after| Rejection::TerminalRate { retry_after })?;
        let global_cells =
            NonZeroU32::new((updates as u32).clamp(1, self.quotas.global_rate.max(1)))
                .unwrap_or(NonZeroU32::MIN);
        wait_if_refused(self.global.check_n(global_cells))
            .map_err(|retry_after| Rejection::GlobalRate { retry_after })?;
        Ok(self.quota_hint_ms(snapshot.remaining_burst_capacity()))
    }

    /// Below half the burst left, suggest waiting as long as refilling to half takes.
    fn quota_hint_ms(&self, remaining: u32) -> u32 {
        let half = self.quotas.per_terminal_burst / 2;
        if remaining >= half {
            return 0;
        }
        let per_cell_ms = 1000.0 / f64::from(self.quotas.per_terminal_rate.max(1));
        (f64::from(half - remaining) * per_cell_ms).ceil() as u32
    }

    /// Forgets terminals whose quota is full again, so the map holds active terminals only.
    pub fn prune(&self) {
        self.per_terminal.retain_recent();
        self.per_terminal.shrink_to_fit();
    }

    pub fn tracked_terminals(&self) -> usize {
        self.per_terminal.len()
    }
}

/// A governor verdict as the snapshot on success or the wait before retrying; a request larger
/// than the quota can ever hold is told to wait a second.
fn wait_if_refused<T>(
    verdict: Result<
        Result<T, governor::NotUntil<<DefaultClock as Clock>::Instant>>,
        governor::InsufficientCapacity,
    >,
) -> Result<T, Duration> {
    match verdict {
        Ok(Ok(snapshot)) => Ok(snapshot),
        Ok(Err(not_until)) => Err(not_until.wait_time_from(DefaultClock::default().now())),
        Err(_) => Err(Duration::from_secs(1)),
    }
}

/// The hint a queue's depth suggests: 0 below the throttle watermark, rising linearly to
/// `max_ms` at the reject watermark.
pub fn queue_hint_ms(
    depth: usize,
    capacity: usize,
    throttle: f64,
    reject: f64,
    max_ms: u32,
) -> u32 {
    let fill = depth as f64 / capacity.max(1) as f64;
    if fill < throttle || reject <= throttle {
        return 0;
    }
    let share = ((fill - throttle) / (reject - throttle)).min(1.0);
    (share * f64::from(max_ms)).ceil().max(1.0) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admission(rate: u32, burst: u32, global: u32) -> Admission {
        Admission::new(Quotas {
            per_terminal_rate: rate,
            per_terminal_burst: burst,
            global_rate: global,
        })
    }

    #[test]
    fn a_flooding_terminal_is_limited_and_others_are_not() {
        let a = admission(10, 20, 1_000_000);
        let flood: Arc<str> = Arc::from("T1");
        let calm: Arc<str> = Arc::from("T2");
        let mut rejected = 0;
        for _ in 0..100 {
            if a.admit(&flood, 1).is_err() {
                rejected += 1;
            }
        }
        assert!(rejected >= 75, "rejected {rejected}");
        assert!(a.admit(&calm, 1).is_ok());
        match a.admit(&flood, 1) {
            Err(Rejection::TerminalRate { retry_after }) => {
                assert!(retry_after <= Duration::from_millis(200))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_hint_comes_before_the_rejection() {
        let a = admission(10, 20, 1_000_000);
        let t: Arc<str> = Arc::from("T1");
        assert_eq!(a.admit(&t, 5), Ok(0));
        let hint = a.admit(&t, 10).unwrap_or(0);
        assert!(hint > 0, "expected a throttle hint with 5 of 20 left");
    }

    #[test]
    fn the_global_limit_applies_across_terminals() {
        let a = admission(1000, 1000, 50);
        let mut ok = 0;
        for i in 0..100 {
            let id: Arc<str> = Arc::from(format!("T{i}").as_str());
            if a.admit(&id, 1).is_ok() {
                ok += 1;
            }
        }
        assert!(ok <= 55, "admitted {ok}");
    }

    #[test]
    fn queue_hint_rises_between_watermarks() {
        assert_eq!(queue_hint_ms(10, 100, 0.5, 0.9, 1000), 0);
        assert_eq!(queue_hint_ms(70, 100, 0.5, 0.9, 1000), 500);
        assert_eq!(queue_hint_ms(95, 100, 0.5, 0.9, 1000), 1000);
    }
}
