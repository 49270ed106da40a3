//! The transport-independent core: takes a terminal's validated updates, admits them (quotas,
//! watermarks), queues them on their partitions and waits for the acknowledgements (DESIGN 5.5).
//! HTTP and RESP both end here, so both get the same policies, limits and metrics.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, oneshot};

use crate::admission::{queue_hint_ms, Admission, Rejection};
use crate::auth::Auth;
use crate::backend::Backend;
use crate::ops::{Op, Outcome, Partition};
use crate::queue::{PartitionQueue, Push};
use crate::writer::{Policy, SignalEvent};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Http,
    Resp,
}

impl Transport {
    pub fn name(self) -> &'static str {
        match self {
            Transport::Http => "http",
            Transport::Resp => "resp",
        }
    }
}

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
    /// Turns true when the service stops; long-lived responses (signal tails) end on it.
    pub stopping: tokio::sync::watch::Receiver<bool>,
}

impl Gateway {
    pub fn backend(&self, partition: Partition) -> &Arc<Backend> {
        &self.backends[partition.index()]
    }

    pub fn queue(&self, partition: Partition) -> &Arc<PartitionQueue> {
        &self.queues[partition.index()]
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
        for op in ops {
            let kind = op.kind();
            let queue = self.queue(kind.partition());
            let capacity = queue.capacity();
            let limit = (capacity as f64 * self.watermarks.reject).floor() as usize;
            let (tx, rx) = oneshot::channel();
            match queue.push(op, tx, limit.max(1)) {
                Ok(push) => {
                    if push == Push::Coalesced {
                        metrics::counter!("tradestate_coalesced_total", "partition" => kind.partition().name())
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
                    pending.push((kind, Ok(rx)));
                }
                Err(_) => {
                    let rejection = Rejection::QueueFull {
                        partition: kind.partition().name(),
                        retry_after: self.watermarks.retry_after,
                    };
                    metrics::counter!("tradestate_rejected_total", "reason" => rejection.reason())
                        .increment(1);
                    pending.push((kind, Err(rejection)));
                }
            }
        }
        if throttle_ms > 0 {
            metrics::counter!("tradestate_throttled_total", "reason" => if quota_hint >= throttle_ms { "terminal_quota" } else { "queue_depth" })
                .increment(1);
        }
        let mut results = Vec::with_capacity(pending.len());
        let mut tally = Tally::default();
        for (kind, waiting) in pending {
            let result = match waiting {
                Ok(rx) => Ok(rx.await.unwrap_or_else(|_| Outcome::Unavailable {
                    reason: "the partition writer stopped".into(),
                })),
                Err(rejection) => Err(rejection),
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
        })
    }
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
