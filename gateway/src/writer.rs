//! A partition's writer: drains its queue in batches and writes each batch as one pipeline,
//! applying the policies of DESIGN 5.2 and the ordering rules of 5.3.
//!
//! The writer is the only writer of its partition's keys, so it can check `seq` against a cache
//! of stored sequence numbers (filled from the engine on a miss, dropped after any failure)
//! without a round trip per update, and a signal's `signal_id` against stored markers.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use redis::Value;
use tokio::sync::broadcast;

use crate::backend::{server_error, Backend, Commands};
use crate::keys;
use crate::ops::{Fields, Op, OpBody, Outcome, Partition};
use crate::queue::{Entry, PartitionQueue};
pub use tradestate_config::Policy;

/// A stored signal, as the live tail (SSE) sends it.
#[derive(Debug, Clone)]
pub struct SignalEvent {
    pub entry_id: String,
    pub instance_id: Arc<str>,
    pub fields: Fields,
}

/// Cached stored `seq` of a key, valid until the key may have expired in the engine.
#[derive(Clone, Copy)]
struct Known {
    seq: Option<u64>,
    until: Option<Instant>,
}

const SEQ_CACHE_MAX: usize = 200_000;
const PRUNE_EVERY: Duration = Duration::from_secs(5);
const MARKER_CACHE_MAX: usize = 100_000;

pub struct Writer {
    partition: Partition,
    backend: Arc<Backend>,
    queue: Arc<PartitionQueue>,
    policy: Arc<Policy>,
    batch_max: usize,
    known: HashMap<String, Known>,
    next_prune: Instant,
    markers: HashMap<String, Instant>,
    signals: broadcast::Sender<Arc<SignalEvent>>,
}

/// Commands a pipeline holds for one entry: `first..first + count`.
struct Planned {
    entry: Entry,
    first: usize,
    count: usize,
    new_known: Option<(String, Known)>,
}

impl Writer {
    pub fn new(
        backend: Arc<Backend>,
        queue: Arc<PartitionQueue>,
        policy: Arc<Policy>,
        batch_max: usize,
        signals: broadcast::Sender<Arc<SignalEvent>>,
    ) -> Writer {
        Writer {
            partition: backend.partition(),
            backend,
            queue,
            policy,
            batch_max: batch_max.max(1),
            known: HashMap::new(),
            next_prune: Instant::now(),
            markers: HashMap::new(),
            signals,
        }
    }

    pub async fn run(mut self) {
        loop {
            let batch = self.queue.take(self.batch_max).await;
            let depth = self.queue.depth();
            metrics::gauge!("tradestate_queue_depth", "partition" => self.partition.name())
                .set(depth as f64);
            metrics::histogram!("tradestate_batch_size", "partition" => self.partition.name())
                .record(batch.len() as f64);
            let started = Instant::now();
            match self.partition {
                Partition::Ris | Partition::Rts => self.write_states(batch).await,
                Partition::Rtss => self.write_signals(batch).await,
            }
            metrics::histogram!("tradestate_write_seconds", "partition" => self.partition.name())
                .record(started.elapsed().as_secs_f64());
        }
    }

    async fn write_states(&mut self, batch: Vec<Entry>) {
        self.prune_known();
        if let Err(outcome) = self.load_known(&batch).await {
            return fail_all(batch, outcome);
        }
        let received_ms = unix_ms();
        let mut pipe = Commands::new();
        let mut planned = Vec::with_capacity(batch.len());
        let mut seen_ids: Vec<Arc<str>> = Vec::new();
        for mut entry in batch {
            let key = entry.key.take().unwrap_or_default();
            let stored = self.cached(&key).and_then(|k| k.seq);
            match stored {
                Some(stored) if entry.op.seq < stored => {
                    entry.finish(Outcome::Stale { stored_seq: stored });
                    continue;
                }
                Some(stored) if entry.op.seq == stored => {
                    entry.finish(Outcome::Duplicate { entry_id: None });
                    continue;
                }
                _ => {}
            }
            let first = pipe.len();
            // A trade's hash, TTL and open/closed indexes change together or not at all.
            let atomic = matches!(entry.op.body, OpBody::Trade { .. });
            if atomic {
                pipe.cmd("MULTI");
            }
            let until = self.plan_state(&mut pipe, &key, &entry.op, received_ms);
            if atomic {
                pipe.cmd("EXEC");
            }
            if matches!(entry.op.body, OpBody::Instance { .. }) {
                seen_ids.push(entry.op.instance_id.clone());
            }
            let new_known = Some((
                key,
                Known {
                    seq: Some(entry.op.seq),
                    until,
                },
            ));
            planned.push(Planned {
                count: pipe.len() - first,
                first,
                entry,
                new_known,
            });
        }
        if !seen_ids.is_empty() {
            let mut zadd = redis::cmd("ZADD");
            zadd.arg(&self.policy.ris_seen_key);
            for id in &seen_ids {
                zadd.arg(received_ms).arg(&**id);
            }
            pipe.add(zadd);
        }
        self.finish_planned(&pipe, planned).await;
    }

    /// The cached seq of `key`, unless the key may have expired in the engine since.
    fn cached(&self, key: &str) -> Option<Known> {
        let known = self.known.get(key)?;
        known
            .until
            .is_none_or(|t| t > Instant::now())
            .then_some(*known)
    }

    /// Forgets cached seqs of keys that may have expired, at most every few seconds: a scan per
    /// batch would cost more than the batch as the cache grows with terminals and positions.
    fn prune_known(&mut self) {
        let now = Instant::now();
        if now < self.next_prune {
            return;
        }
        self.next_prune = now + PRUNE_EVERY;
        self.known.retain(|_, k| k.until.is_none_or(|t| t > now));
        if self.known.len() > SEQ_CACHE_MAX {
            self.known.clear();
        }
    }

    /// Adds one state update's commands; returns when its cached `seq` stops being reliable.
    fn plan_state(
        &self,
        pipe: &mut Commands,
        key: &str,
        op: &Op,
        received_ms: u64,
    ) -> Option<Instant> {
        let mut hset = redis::cmd("HSET");
        hset.arg(key)
            .arg("instance_id")
            .arg(&*op.instance_id)
            .arg("received_msc")
            .arg(received_ms);
        for (field, value) in &op.fields {
            hset.arg(*field).arg(value);
        }
        pipe.add(hset);
        match &op.body {
            OpBody::Instance { absent } => {
                add_hdel(pipe, key, absent);
                pipe.cmd("EXPIRE").arg(key).arg(self.policy.ris_ttl_s);
                Some(Instant::now() + Duration::from_secs(self.policy.ris_ttl_s))
            }
            OpBody::Trade {
                ticket,
                closed,
                absent,
            } => {
                add_hdel(pipe, key, absent);
                let open = keys::open_trades(&op.instance_id);
                if !*closed {
                    pipe.cmd("PERSIST").arg(key);
                    pipe.cmd("SADD").arg(&open).arg(ticket);
                    return None;
                }
                let ttl = self.policy.rts_closed_ttl_s;
                let closed_index = keys::closed_trades(&op.instance_id);
                pipe.cmd("EXPIRE").arg(key).arg(ttl);
                pipe.cmd("SREM").arg(&open).arg(ticket);
                // Scored by when the close was recorded, the same clock the hash's
                // TTL runs on, so the index and the hashes expire together.
                pipe.cmd("ZADD")
                    .arg(&closed_index)
                    .arg(received_ms)
                    .arg(ticket);
                let horizon = received_ms.saturating_sub(ttl.saturating_mul(1000));
                pipe.cmd("ZREMRANGEBYSCORE")
                    .arg(&closed_index)
                    .arg("-inf")
                    .arg(format!("({horizon}"));
                pipe.cmd("EXPIRE").arg(&closed_index).arg(ttl);
                Some(Instant::now() + Duration::from_secs(ttl))
            }
            OpBody::Signal { .. } => None,
        }
    }

    /// Fills the `seq` cache for keys of `batch` it does not know, in one pipeline.
    async fn load_known(&mut self, batch: &[Entry]) -> Result<(), Outcome> {
        let missing: Vec<&String> = batch
            .iter()
            .filter_map(|e| e.key.as_ref())
            .filter(|k| self.cached(k).is_none())
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let mut pipe = Commands::new();
        for key in &missing {
            pipe.cmd("HGET").arg(key.as_str()).arg("seq");
            pipe.cmd("PTTL").arg(key.as_str());
        }
        let values = self.backend.exec(&pipe).await.map_err(|e| {
            self.known.clear();
            Outcome::Unavailable { reason: e.0 }
        })?;
        for (key, pair) in missing.iter().zip(values.chunks(2)) {
            if let Some(reason) = pair.iter().find_map(server_error) {
                return Err(Outcome::Refused { reason });
            }
            let seq = match &pair[0] {
                Value::BulkString(bytes) => {
                    std::str::from_utf8(bytes).ok().and_then(|s| s.parse().ok())
                }
                _ => None,
            };
            let until = match pair.get(1) {
                Some(Value::Int(ms)) if *ms >= 0 => {
                    Some(Instant::now() + Duration::from_millis(*ms as u64))
                }
                _ => None,
            };
            self.known.insert((*key).clone(), Known { seq, until });
        }
        Ok(())
    }

    /// Sends the pipeline and answers each planned entry; returns their outcomes in order.
    async fn finish_planned(&mut self, pipe: &Commands, planned: Vec<Planned>) -> Vec<Outcome> {
        if planned.is_empty() {
            return Vec::new();
        }
        let mut outcomes = Vec::with_capacity(planned.len());
        let values = match self.backend.exec(pipe).await {
            Ok(values) => values,
            Err(e) => {
                self.known.clear();
                self.markers.clear();
                let outcome = Outcome::Unavailable { reason: e.0 };
                for p in planned {
                    p.entry.finish(outcome.clone());
                    outcomes.push(outcome.clone());
                }
                return outcomes;
            }
        };
        for p in planned {
            let sent = values.get(p.first..p.first + p.count).unwrap_or(&[]);
            let replies = transaction_replies(sent);
            let aborted = matches!(sent, [Value::Okay, .., Value::Nil])
                .then(|| "the engine aborted the transaction (EXEC answered nil)".to_string());
            if let Some(reason) =
                aborted.or_else(|| sent.iter().chain(replies).find_map(server_error))
            {
                // Part of this entry may be written; its stored seq is unknown now.
                if let Some((key, _)) = &p.new_known {
                    self.known.remove(key);
                }
                let outcome = Outcome::Refused { reason };
                p.entry.finish(outcome.clone());
                outcomes.push(outcome);
                continue;
            }
            let entry_id = match (&p.entry.op.body, replies.first()) {
                (OpBody::Signal { .. }, Some(Value::BulkString(id))) => {
                    Some(String::from_utf8_lossy(id).into_owned())
                }
                _ => None,
            };
            if let Some((key, known)) = p.new_known {
                self.known.insert(key, known);
            }
            if let (OpBody::Signal { signal_id }, Some(id)) = (&p.entry.op.body, &entry_id) {
                self.remember_marker(keys::signal_marker(&p.entry.op.instance_id, signal_id));
                let _ = self.signals.send(Arc::new(SignalEvent {
                    entry_id: id.clone(),
                    instance_id: p.entry.op.instance_id.clone(),
                    fields: p.entry.op.fields.clone(),
                }));
            }
            let outcome = Outcome::Stored { entry_id };
            p.entry.finish(outcome.clone());
            outcomes.push(outcome);
        }
        outcomes
    }

    async fn write_signals(&mut self, batch: Vec<Entry>) {
        let now = Instant::now();
        self.markers.retain(|_, until| *until > now);
        // Markers this batch has not seen locally are looked up in the engine first.
        let mut fresh = Vec::with_capacity(batch.len());
        let mut in_batch: HashMap<String, usize> = HashMap::new();
        let mut duplicates_in_batch: Vec<(usize, Entry)> = Vec::new();
        for entry in batch {
            let marker = match &entry.op.body {
                OpBody::Signal { signal_id } => {
                    keys::signal_marker(&entry.op.instance_id, signal_id)
                }
                _ => String::new(),
            };
            if self.markers.contains_key(&marker) {
                entry.finish(Outcome::Duplicate { entry_id: None });
            } else if let Some(&first) = in_batch.get(&marker) {
                duplicates_in_batch.push((first, entry));
            } else {
                in_batch.insert(marker.clone(), fresh.len());
                fresh.push((marker, entry));
            }
        }
        let mut lookup = Commands::new();
        for (marker, _) in &fresh {
            lookup.cmd("EXISTS").arg(marker);
        }
        let exists = match self.backend.exec(&lookup).await {
            Ok(values) => values,
            Err(e) => {
                let outcome = Outcome::Unavailable { reason: e.0 };
                for (_, entry) in fresh {
                    entry.finish(outcome.clone());
                }
                for (_, entry) in duplicates_in_batch {
                    entry.finish(outcome.clone());
                }
                return;
            }
        };
        let mut pipe = Commands::new();
        let mut planned = Vec::with_capacity(fresh.len());
        // Outcome of each fresh signal, for copies of it later in this batch.
        let mut fresh_outcomes: Vec<Option<Outcome>> = vec![None; fresh.len()];
        let mut planned_index: Vec<usize> = Vec::with_capacity(fresh.len());
        for (index, ((marker, entry), exists)) in fresh.into_iter().zip(exists).enumerate() {
            if let Some(reason) = server_error(&exists) {
                let outcome = Outcome::Refused { reason };
                entry.finish(outcome.clone());
                fresh_outcomes[index] = Some(outcome);
                continue;
            }
            if matches!(exists, Value::Int(n) if n > 0) {
                self.remember_marker(marker);
                entry.finish(Outcome::Duplicate { entry_id: None });
                fresh_outcomes[index] = Some(Outcome::Duplicate { entry_id: None });
                continue;
            }
            planned_index.push(index);
            let first = pipe.len();
            // The entry and its dedupe marker are written together: a crash between them
            // cannot let a retry store the signal twice.
            pipe.cmd("MULTI");
            let mut xadd = redis::cmd("XADD");
            xadd.arg(&self.policy.rtss_stream)
                .arg("MAXLEN")
                .arg("~")
                .arg(self.policy.rtss_maxlen)
                .arg("*")
                .arg("instance_id")
                .arg(&*entry.op.instance_id);
            for (field, value) in &entry.op.fields {
                xadd.arg(*field).arg(value);
            }
            pipe.add(xadd);
            pipe.cmd("SET")
                .arg(&marker)
                .arg(1)
                .arg("EX")
                .arg(self.policy.signal_dedupe_ttl_s);
            pipe.cmd("EXEC");
            planned.push(Planned {
                count: pipe.len() - first,
                first,
                entry,
                new_known: None,
            });
        }
        let outcomes = self.finish_planned(&pipe, planned).await;
        for (index, outcome) in planned_index.into_iter().zip(outcomes) {
            fresh_outcomes[index] = Some(outcome);
        }
        // A signal retried inside one batch is stored once, by its first copy.
        for (first, entry) in duplicates_in_batch {
            let outcome = match fresh_outcomes.get(first).cloned().flatten() {
                Some(outcome) if outcome.is_ack() => Outcome::Duplicate {
                    entry_id: match outcome {
                        Outcome::Stored { entry_id } | Outcome::Duplicate { entry_id } => entry_id,
                        _ => None,
                    },
                },
                Some(failure) => failure,
                None => Outcome::Unavailable {
                    reason: "first copy of this signal was not written".into(),
                },
            };
            entry.finish(outcome);
        }
    }

    fn remember_marker(&mut self, marker: String) {
        if self.markers.len() >= MARKER_CACHE_MAX {
            self.markers.clear();
        }
        let ttl = Duration::from_secs(self.policy.signal_dedupe_ttl_s);
        self.markers.insert(marker, Instant::now() + ttl);
    }
}

/// The replies of an entry's own commands: inside `MULTI ... EXEC` they are EXEC's array
/// (the `+OK` and `+QUEUED` around them say nothing).
fn transaction_replies(replies: &[Value]) -> &[Value] {
    match replies {
        [Value::Okay, .., Value::Array(inner)] => inner,
        other => other,
    }
}

fn add_hdel(pipe: &mut Commands, key: &str, absent: &[&'static str]) {
    if !absent.is_empty() {
        pipe.cmd("HDEL").arg(key).arg(absent);
    }
}

fn fail_all(batch: Vec<Entry>, outcome: Outcome) {
    for entry in batch {
        entry.finish(outcome.clone());
    }
}

pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
