//! A partition's bounded queue between the transports and its writer.
//!
//! State updates are last-write-wins, so a second update of a key still waiting here replaces
//! the first (the higher `seq` wins) instead of taking a new slot: the queue is bounded by live
//! keys, not by the arrival rate. Signals are events: each takes its own slot, in order.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::sync::{oneshot, Notify};

use crate::ops::{Op, Outcome};

/// Someone waiting for the acknowledgement of an update.
pub struct Waiter {
    pub seq: u64,
    pub reply: oneshot::Sender<Outcome>,
    /// Arrived with a lower `seq` than the update of its key already queued: not superseded by a
    /// newer update but older than one, from another numbering of the terminal (a reinstall whose
    /// clock is behind). It is answered `stale` with the queued seq, so the terminal renumbers.
    pub behind: bool,
}

/// One queued write with everyone waiting on it.
pub struct Entry {
    /// Shared so an update can also be spooled while its write is still in flight.
    pub op: Arc<Op>,
    pub key: Option<String>,
    pub waiters: Vec<Waiter>,
}

impl Entry {
    /// Answers every waiter: the one(s) whose update was written get `outcome`; those whose
    /// older update was replaced in the queue get `Coalesced` when the write was acknowledged.
    pub fn finish(self, outcome: Outcome) {
        let seq = self.op.seq;
        for waiter in self.waiters {
            let answer = if waiter.behind && outcome.is_ack() {
                Outcome::Stale { stored_seq: seq }
            } else if waiter.seq >= seq || !outcome.is_ack() {
                outcome.clone()
            } else if matches!(outcome, Outcome::Stored { .. }) {
                Outcome::Coalesced
            } else {
                // The newest queued update was itself not newer than the engine's state.
                let stored_seq = match outcome {
                    Outcome::Stale { stored_seq } => stored_seq,
                    _ => seq,
                };
                Outcome::Stale { stored_seq }
            };
            let _ = waiter.reply.send(answer);
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Push {
    /// Took a new slot.
    Queued,
    /// Joined an update of the same key already queued.
    Coalesced,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

pub struct PartitionQueue {
    inner: Mutex<Inner>,
    notify: Notify,
    capacity: usize,
}

#[derive(Default)]
struct Inner {
    /// Entries in arrival order. They leave only from the front (`take`), which advances
    /// `first_id` by as many, so the ids in `by_key` stay valid.
    entries: VecDeque<Entry>,
    /// Position of each queued state key, as `first_id + index`.
    by_key: HashMap<String, u64>,
    first_id: u64,
}

impl PartitionQueue {
    pub fn new(capacity: usize) -> PartitionQueue {
        PartitionQueue {
            inner: Mutex::new(Inner::default()),
            notify: Notify::new(),
            capacity: capacity.max(1),
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn depth(&self) -> usize {
        self.lock().entries.len()
    }

    /// Queues `op`; a state update of a key already queued joins it even when the queue is at
    /// `limit`, because that costs no slot.
    pub fn push(
        &self,
        op: Arc<Op>,
        reply: oneshot::Sender<Outcome>,
        limit: usize,
    ) -> Result<Push, (Full, oneshot::Sender<Outcome>)> {
        let key = op.state_key();
        let mut waiter = Waiter {
            seq: op.seq,
            reply,
            behind: false,
        };
        let mut inner = self.lock();
        if let Some(key) = &key {
            if let Some(&id) = inner.by_key.get(key) {
                let index = (id - inner.first_id) as usize;
                if let Some(entry) = inner.entries.get_mut(index) {
                    if op.seq > entry.op.seq {
                        entry.op = op;
                    } else {
                        waiter.behind = op.seq < entry.op.seq;
                    }
                    entry.waiters.push(waiter);
                    return Ok(Push::Coalesced);
                }
            }
        }
        if inner.entries.len() >= limit.min(self.capacity) {
            return Err((Full, waiter.reply));
        }
        let id = inner.first_id + inner.entries.len() as u64;
        if let Some(key) = &key {
            inner.by_key.insert(key.clone(), id);
        }
        inner.entries.push_back(Entry {
            op,
            key,
            waiters: vec![waiter],
        });
        drop(inner);
        self.notify.notify_one();
        Ok(Push::Queued)
    }

    /// Takes up to `max` entries in arrival order, waiting until there is at least one.
    pub async fn take(&self, max: usize) -> Vec<Entry> {
        loop {
            let notified = self.notify.notified();
            {
                let mut inner = self.lock();
                if !inner.entries.is_empty() {
                    let n = inner.entries.len().min(max.max(1));
                    let batch: Vec<Entry> = inner.entries.drain(..n).collect();
                    inner.first_id += n as u64;
                    for entry in &batch {
                        if let Some(key) = &entry.key {
                            inner.by_key.remove(key);
                        }
                    }
                    return batch;
                }
            }
            notified.await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave the queue half-updated in a way that
        // matters more than stopping the service, so recover the guard.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::OpBody;

    fn instance_op(id: &str, seq: u64) -> Arc<Op> {
        Arc::new(Op {
            instance_id: Arc::from(id),
            seq,
            fields: vec![("seq", seq.to_string())],
            body: OpBody::Instance { absent: vec![] },
        })
    }

    fn signal_op(id: &str, seq: u64) -> Arc<Op> {
        Arc::new(Op {
            instance_id: Arc::from(id),
            seq,
            fields: vec![],
            body: OpBody::Signal {
                signal_id: format!("s{seq}"),
            },
        })
    }

    /// Pushes `op` with room for `limit` ops: how it was taken (`None` when the queue is full)
    /// and where its outcome arrives.
    fn push(
        queue: &PartitionQueue,
        op: Arc<Op>,
        limit: usize,
    ) -> (Option<Push>, oneshot::Receiver<Outcome>) {
        let (tx, rx) = oneshot::channel();
        (queue.push(op, tx, limit).ok(), rx)
    }

    #[tokio::test]
    async fn state_updates_of_one_key_coalesce_to_the_newest() {
        let queue = PartitionQueue::new(10);
        let (pushed, rx1) = push(&queue, instance_op("T1", 5), 10);
        assert_eq!(pushed, Some(Push::Queued));
        let (pushed, rx2) = push(&queue, instance_op("T1", 7), 10);
        assert_eq!(pushed, Some(Push::Coalesced));
        let (pushed, rx3) = push(&queue, instance_op("T1", 6), 10);
        assert_eq!(pushed, Some(Push::Coalesced));
        assert_eq!(queue.depth(), 1);
        let mut batch = queue.take(10).await;
        assert_eq!(batch.len(), 1);
        let entry = batch.remove(0);
        assert_eq!(entry.op.seq, 7);
        entry.finish(Outcome::Stored { entry_id: None });
        assert_eq!(rx1.await.ok(), Some(Outcome::Coalesced));
        assert_eq!(rx2.await.ok(), Some(Outcome::Stored { entry_id: None }));
        // 6 came after 7: not superseded but older, from another numbering of the terminal.
        assert_eq!(rx3.await.ok(), Some(Outcome::Stale { stored_seq: 7 }));
    }

    #[tokio::test]
    async fn a_failed_write_fails_everyone_who_joined_it() {
        let queue = PartitionQueue::new(10);
        let (_, rx1) = push(&queue, instance_op("T1", 1), 10);
        let (_, _rx2) = push(&queue, instance_op("T1", 2), 10);
        let entry = queue.take(10).await.remove(0);
        let down = Outcome::Unavailable {
            reason: "down".into(),
        };
        entry.finish(down.clone());
        assert_eq!(rx1.await.ok(), Some(down));
    }

    #[tokio::test]
    async fn signals_keep_their_order_and_are_bounded() {
        let queue = PartitionQueue::new(3);
        for seq in 0..3 {
            assert!(push(&queue, signal_op("T1", seq), 3).0.is_some());
        }
        assert!(push(&queue, signal_op("T1", 9), 3).0.is_none());
        let batch = queue.take(2).await;
        assert_eq!(
            batch.iter().map(|e| e.op.seq).collect::<Vec<_>>(),
            vec![0, 1]
        );
        assert_eq!(queue.depth(), 1);
    }

    #[tokio::test]
    async fn a_full_queue_still_takes_updates_of_queued_keys() {
        let queue = PartitionQueue::new(1);
        let (pushed, _rx1) = push(&queue, instance_op("T1", 1), 1);
        assert!(pushed.is_some());
        let (pushed, _rx2) = push(&queue, instance_op("T2", 1), 1);
        assert!(pushed.is_none());
        let (pushed, _rx3) = push(&queue, instance_op("T1", 2), 1);
        assert_eq!(pushed, Some(Push::Coalesced));
        // Keys drained by the writer are no longer coalescing targets.
        let _ = queue.take(10).await;
        let (pushed, _rx4) = push(&queue, instance_op("T1", 3), 1);
        assert_eq!(pushed, Some(Push::Queued));
    }
}
