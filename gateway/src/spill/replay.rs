//! Feeds a partition's spooled updates back to it: oldest first, through the partition's own
//! queue and writer (so the stale-seq and signal-id checks decide as for live updates), one
//! batch at a time and only while the queue is under its throttle watermark, so live traffic
//! keeps its latency. While the partition does not answer, it is probed instead.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{oneshot, watch};

use super::hints::RenumberHints;
use super::Spill;
use crate::backend::Backend;
use crate::ops::{Kind, Outcome};
use crate::queue::PartitionQueue;

const PROBE_EVERY: Duration = Duration::from_millis(200);
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);
/// A replayed update is given up on (and tried again later) after this long.
const OUTCOME_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause after the partition refused a replayed write (e.g. out of memory).
const REFUSED_BACKOFF: Duration = Duration::from_secs(1);

pub struct Replay {
    pub spill: Arc<Spill>,
    pub backend: Arc<Backend>,
    pub queue: Arc<PartitionQueue>,
    /// Most records handed to the queue at once.
    pub batch: usize,
    /// Replay waits while the queue holds more than this many entries.
    pub max_depth: usize,
    /// Where a stale replayed state is reported for its terminal's next reply.
    pub renumber: Arc<RenumberHints>,
}

impl Replay {
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut gauges = tokio::time::interval(Duration::from_secs(1));
        loop {
            if *shutdown.borrow() {
                return;
            }
            if !self.spill.is_healthy() {
                self.probe().await;
                continue;
            }
            if !self.spill.has_pending() {
                tokio::select! {
                    _ = self.spill.notify.notified() => {}
                    _ = gauges.tick() => self.spill.publish(),
                    _ = shutdown.changed() => {}
                }
                continue;
            }
            if self.queue.depth() > self.max_depth {
                tokio::time::sleep(Duration::from_millis(2)).await;
                continue;
            }
            self.replay_batch().await;
            self.spill.publish();
        }
    }

    async fn probe(&self) {
        match tokio::time::timeout(PROBE_TIMEOUT, self.backend.writable()).await {
            Ok(Ok(())) => self.spill.mark_healthy(),
            _ => {
                self.spill.publish();
                tokio::time::sleep(PROBE_EVERY).await;
            }
        }
    }

    async fn replay_batch(&self) {
        let batch = self.spill.take(self.batch);
        if batch.is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
            return;
        }
        let capacity = self.queue.capacity();
        let mut waiting = Vec::with_capacity(batch.len());
        let mut rest = batch.into_iter();
        for (id, op) in rest.by_ref() {
            let (tx, rx) = oneshot::channel();
            let sender = (op.kind() != Kind::Signal).then(|| (op.instance_id.clone(), op.seq));
            if self.queue.push(op, tx, capacity).is_err() {
                self.spill.retry(id);
                break;
            }
            waiting.push((id, sender, rx));
        }
        for (id, _) in rest {
            self.spill.retry(id);
        }
        let p = self.spill.partition().name();
        let (mut records, mut bytes) = (0u64, 0u64);
        let deadline = tokio::time::Instant::now() + OUTCOME_TIMEOUT;
        let mut waiting = waiting.into_iter();
        for (id, sender, rx) in waiting.by_ref() {
            let failure = match tokio::time::timeout_at(deadline, rx).await {
                Ok(Ok(outcome)) if outcome.is_ack() => {
                    // Acknowledged as spooled long ago: a stale verdict from another numbering
                    // must still reach the terminal (hints.rs).
                    if let (Outcome::Stale { stored_seq }, Some((instance_id, seq))) =
                        (&outcome, &sender)
                    {
                        if stored_seq > seq {
                            self.renumber.note(instance_id, *stored_seq);
                            metrics::counter!("tradestate_replay_stale_total", "partition" => self.spill.partition().name())
                                .increment(1);
                        }
                    }
                    bytes += self.spill.written(id);
                    records += 1;
                    continue;
                }
                Ok(Ok(Outcome::Refused { reason })) => {
                    tracing::warn!(
                        partition = p,
                        reason,
                        "spill: the partition refused a replayed update; retrying"
                    );
                    None
                }
                Ok(Ok(Outcome::Unavailable { reason })) => Some(reason),
                _ => Some("a replayed update got no answer".to_string()),
            };
            // The rest go back as they are, in order, to be tried again from here.
            self.spill.retry(id);
            match failure {
                Some(reason) => self.spill.mark_unhealthy(&reason),
                None => tokio::time::sleep(REFUSED_BACKOFF).await,
            }
            break;
        }
        for (id, _, _) in waiting {
            self.spill.retry(id);
        }
        metrics::counter!("tradestate_replayed_records_total", "partition" => p).increment(records);
        metrics::counter!("tradestate_replayed_bytes_total", "partition" => p).increment(bytes);
    }
}
