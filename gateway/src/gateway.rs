//! The transport-independent core: takes a terminal's validated updates, admits them (quotas,
//! watermarks), queues them on their partitions and waits for the acknowledgements
//! (docs/ARCHITECTURE.md, Acknowledgements). HTTP and RESP both end here, so both get the same
//! policies, limits and metrics.
//!
//! With a spill (docs/ARCHITECTURE.md, "When a partition is down or slow") an update goes to it
//! instead of the queue when its partition is not answering or when order requires it (see
//! `spill`), when the queue is over its reject watermark, when its write fails for want of the
//! partition, or when it is not acknowledged within `spill.after_ms`; it is then answered
//! `spooled`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, oneshot};

use crate::admission::{queue_hint_ms, Admission, Rejection};
use crate::auth::Auth;
use crate::backend::Backend;
use crate::ops::{Kind, Op, Outcome, Partition};
use crate::queue::{PartitionQueue, Push};
use crate::spill::{Spill, SpillError};
use crate::writer::{Policy, SignalEvent};

/// Which listener a submission came through (a metrics label): the contract's label.
pub use tradestate_mt5_bridge::Transport;

/// Watermarks as shares of each queue's capacity.
#[derive(Debug, Clone)]
pub struct Watermarks {
    pub throttle: f64,
    pub reject: f64,
    pub retry_after: Duration,
}

/// What became of each update of one submission, plus the hint to slow down.
#[derive(Debug)]
pub struct Submitted {
    pub results: Vec<Result<Outcome, Rejection>>,
    pub throttle_ms: u32,
    /// The terminal must number above this: a spooled update of its was dropped as stale
    /// against another numbering when it was replayed (mt5-bridge/CLIENT.md).
    pub renumber_above: Option<u64>,
}

impl Submitted {
    pub fn all_acked(&self) -> bool {
        self.results
            .iter()
            .all(|r| matches!(r, Ok(o) if o.is_ack()))
    }
}

pub struct Gateway {
    pub auth: Auth,
    pub admission: Admission,
    pub policy: Arc<Policy>,
    pub watermarks: Watermarks,
    pub backends: [Arc<Backend>; 3],
    pub queues: [Arc<PartitionQueue>; 3],
    pub signals: broadcast::Sender<Arc<SignalEvent>>,
    /// Each partition's spill, unless `spill.enabled` is off.
    pub spills: [Option<Arc<Spill>>; 3],
    /// An update not acknowledged within this time is spooled instead (`spill.after_ms`).
    pub spill_after: Duration,
    /// Turns true when the service stops; long-lived responses (signal tails) end on it.
    pub stopping: tokio::sync::watch::Receiver<bool>,
    /// Seqs replay found above a terminal's spooled updates, for its next reply.
    pub renumber: Arc<crate::spill::hints::RenumberHints>,
}

impl Gateway {
    pub fn backend(&self, partition: Partition) -> &Arc<Backend> {
        &self.backends[partition.index()]
    }

    pub fn queue(&self, partition: Partition) -> &Arc<PartitionQueue> {
        &self.queues[partition.index()]
    }

    pub fn spill(&self, partition: Partition) -> Option<&Arc<Spill>> {
        self.spills[partition.index()].as_ref()
    }

    pub fn subscribe_signals(&self) -> broadcast::Receiver<Arc<SignalEvent>> {
        self.signals.subscribe()
    }

    /// Admits, queues and awaits `ops` of one terminal. A rejection of the whole submission
    /// (quota) comes back as `Err`; per-update rejections (a full queue) as per-update results.
    pub async fn submit(
        &self,
        instance_id: &Arc<str>,
        ops: Vec<Op>,
        transport: Transport,
    ) -> Result<Submitted, Rejection> {
        let quota_hint = match self.admission.admit(instance_id, ops.len()) {
            Ok(hint) => hint,
            Err(rejection) => {
                let mut tally = Tally::default();
                for op in &ops {
                    tally.add(op.kind().name(), rejection.reason());
                }
                tally.publish(transport);
                metrics::counter!("tradestate_rejected_total", "reason" => rejection.reason())
                    .increment(ops.len() as u64);
                return Err(rejection);
            }
        };
        let mut throttle_ms = quota_hint;
        let mut pending = Vec::with_capacity(ops.len());
        let mut to_spool: [Vec<Arc<Op>>; 3] = Default::default();
        for op in ops {
            let kind = op.kind();
            let partition = kind.partition();
            let op = Arc::new(op);
            // Once one of this submission's signals goes to the spill, the ones after it
            // follow, so they are written in the order sent.
            let behind_spooled_signal =
                kind == Kind::Signal && !to_spool[partition.index()].is_empty();
            if behind_spooled_signal || self.spill(partition).is_some_and(|s| s.must_take(&op)) {
                pending.push((kind, self.spool_or_stale(partition, op, &mut to_spool)));
                continue;
            }
            let queue = self.queue(partition);
            let capacity = queue.capacity();
            let limit = (capacity as f64 * self.watermarks.reject).floor() as usize;
            let (tx, rx) = oneshot::channel();
            match queue.push(op.clone(), tx, limit.max(1)) {
                Ok(push) => {
                    if push == Push::Coalesced {
                        metrics::counter!("tradestate_coalesced_total", "partition" => partition.name())
                            .increment(1);
                    }
                    let hint = queue_hint_ms(
                        queue.depth(),
                        capacity,
                        self.watermarks.throttle,
                        self.watermarks.reject,
                        self.watermarks.retry_after.as_millis() as u32,
                    );
                    throttle_ms = throttle_ms.max(hint);
                    pending.push((kind, Waiting::Queued(op, rx)));
                }
                Err(_) if self.spill(partition).is_some() => {
                    pending.push((kind, self.spool_or_stale(partition, op, &mut to_spool)));
                }
                Err(_) => {
                    let rejection = Rejection::QueueFull {
                        partition: partition.name(),
                        retry_after: self.watermarks.retry_after,
                    };
                    metrics::counter!("tradestate_rejected_total", "reason" => rejection.reason())
                        .increment(1);
                    pending.push((kind, Waiting::Rejected(rejection)));
                }
            }
        }
        if throttle_ms > 0 {
            metrics::counter!("tradestate_throttled_total", "reason" => if quota_hint >= throttle_ms { "terminal_quota" } else { "queue_depth" })
                .increment(1);
        }
        // One append per partition for everything this submission spools.
        let mut spooled: [Result<(), SpillError>; 3] = [Ok(()), Ok(()), Ok(())];
        for partition in Partition::ALL {
            let ops = std::mem::take(&mut to_spool[partition.index()]);
            if let (false, Some(spill)) = (ops.is_empty(), self.spill(partition)) {
                spooled[partition.index()] = spill.append(ops).await;
            }
        }
        let deadline = Instant::now() + self.spill_after;
        let mut results = Vec::with_capacity(pending.len());
        let mut tally = Tally::default();
        for (kind, waiting) in pending {
            let partition = kind.partition();
            let result = match waiting {
                Waiting::Queued(op, rx) => Ok(self.acknowledged(partition, op, rx, deadline).await),
                Waiting::Spooling => match &spooled[partition.index()] {
                    Ok(()) => Ok(Outcome::Spooled),
                    Err(e) => Err(self.spill_refusal(partition, e)),
                },
                Waiting::Answered(outcome) => Ok(outcome),
                Waiting::Rejected(rejection) => Err(rejection),
            };
            let result = match result {
                Ok(Outcome::Stored { entry_id }) if self.backend(partition).acks_from_memory() => {
                    Ok(Outcome::Volatile { entry_id })
                }
                other => other,
            };
            let outcome = match &result {
                Ok(outcome) => outcome.name(),
                Err(rejection) => rejection.reason(),
            };
            tally.add(kind.name(), outcome);
            results.push(result);
        }
        tally.publish(transport);
        Ok(Submitted {
            results,
            throttle_ms,
            renumber_above: self.renumber.take(instance_id),
        })
    }

    /// The outcome of a queued update; with a spill, one that is not acknowledged by
    /// `deadline`, or whose partition turns out to be unreachable, is spooled instead. The
    /// queued write goes on regardless: replay then finds it written (or writes it).
    async fn acknowledged(
        &self,
        partition: Partition,
        op: Arc<Op>,
        mut rx: oneshot::Receiver<Outcome>,
        deadline: Instant,
    ) -> Outcome {
        let stopped = || Outcome::Unavailable {
            reason: "the partition writer stopped".into(),
        };
        let Some(spill) = self.spill(partition) else {
            return rx.await.unwrap_or_else(|_| stopped());
        };
        let outcome = match tokio::time::timeout_at(deadline.into(), &mut rx).await {
            Ok(answer) => answer.unwrap_or_else(|_| stopped()),
            Err(_) => {
                spill.mark_unhealthy(&format!(
                    "no acknowledgement within spill.after_ms ({} ms)",
                    self.spill_after.as_millis()
                ));
                if let Some(stored_seq) = spill.newer_spooled(&op) {
                    return Outcome::Stale { stored_seq };
                }
                if spill.append(vec![op.clone()]).await.is_ok() {
                    return Outcome::Spooled;
                }
                rx.await.unwrap_or_else(|_| stopped())
            }
        };
        if let Outcome::Unavailable { reason } = &outcome {
            spill.mark_unhealthy(reason);
            if let Some(stored_seq) = spill.newer_spooled(&op) {
                return Outcome::Stale { stored_seq };
            }
            if spill.append(vec![op]).await.is_ok() {
                return Outcome::Spooled;
            }
        }
        outcome
    }

    /// Adds `op` to this submission's spooling, or answers it `stale` when an update of its key
    /// with a higher seq is spooled already (Spill::newer_spooled).
    fn spool_or_stale(
        &self,
        partition: Partition,
        op: Arc<Op>,
        to_spool: &mut [Vec<Arc<Op>>; 3],
    ) -> Waiting {
        if let Some(stored_seq) = self.spill(partition).and_then(|s| s.newer_spooled(&op)) {
            return Waiting::Answered(Outcome::Stale { stored_seq });
        }
        to_spool[partition.index()].push(op);
        Waiting::Spooling
    }

    fn spill_refusal(&self, partition: Partition, error: &SpillError) -> Rejection {
        let rejection = Rejection::SpillFull {
            partition: partition.name(),
            why: error.to_string(),
            retry_after: self.watermarks.retry_after,
        };
        metrics::counter!("tradestate_rejected_total", "reason" => rejection.reason()).increment(1);
        rejection
    }
}

/// Where one update of a submission is, until its outcome is known.
enum Waiting {
    Queued(Arc<Op>, oneshot::Receiver<Outcome>),
    /// Answered without a write (older than an update of its key already spooled).
    Answered(Outcome),
    /// In this submission's append to its partition's spill.
    Spooling,
    Rejected(Rejection),
}

/// Ingest outcomes of one submission, counted locally and published once per distinct
/// (kind, outcome): a metrics lookup per update costs more than the rest of admission.
#[derive(Default)]
struct Tally(Vec<(&'static str, &'static str, u64)>);

impl Tally {
    fn add(&mut self, kind: &'static str, outcome: &'static str) {
        match self
            .0
            .iter_mut()
            .find(|(k, o, _)| *k == kind && *o == outcome)
        {
            Some((_, _, n)) => *n += 1,
            None => self.0.push((kind, outcome, 1)),
        }
    }

    fn publish(self, transport: Transport) {
        for (kind, outcome, n) in self.0 {
            metrics::counter!("tradestate_ingest_total", "kind" => kind, "transport" => transport.name(), "outcome" => outcome)
                .increment(n);
        }
    }
}
