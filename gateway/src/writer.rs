//! A partition's writer: drains its queue in batches and writes each batch as one pipeline,
//! applying the TTL/MAXLEN policies and ordering rules of docs/ARCHITECTURE.md, Key layout and
//! policies.
//!
//! On a shared backend (any URL) each update is written by one guarded script (`guard`): the
//! backend applies it only when its `seq` is above the stored one, or for a signal when its
//! dedupe marker is absent, so ordering and dedupe hold even with a second gateway writing the
//! same terminal's keys. The service's own embedded engine has one writer, this one: there a
//! state update is a plain `MULTI ... EXEC` and the writer's cache of stored sequence numbers
//! (filled from the engine on a miss, dropped after any failure) is the guard, which spares the
//! engine a script per update. Signals are always guarded (their marker check is the script's).
//!
//! A positions snapshot (contract 1.1) is the one update that reads before it writes: a batch
//! holding snapshots first reads their terminals' live sets and the stored `seq` / `state` of
//! the live trades they do not list (two round trips for the whole batch, none for a batch
//! without one), then closes those trades in its pipeline as the terminal's own close would,
//! after the batch's other entries so that seqs, not places in the batch, decide what it closes.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use redis::Value;
use tokio::sync::broadcast;

use crate::backend::{server_error, Backend, Commands, Unavailable};
use crate::guard::{self, Guard, Verdict};
use crate::keys;
use crate::ops::{Fields, Op, OpBody, Outcome, Partition};
use crate::queue::{Entry, PartitionQueue};
use crate::status::text;
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

/// Commands a pipeline holds for one entry: `first..first + count`, the last of them the
/// entry's own guarded write.
struct Planned {
    entry: Entry,
    first: usize,
    count: usize,
    new_known: Option<(String, Known)>,
    /// Keys the entry changed besides its own, with the pipeline index of the guarded write
    /// that changes each: the trades a snapshot closes (empty, and so allocation-free, for
    /// every other entry).
    also_known: Vec<(usize, String, Known)>,
}

impl Planned {
    /// A state entry whose commands are `first..end` of the pipeline: once they succeed, `key`
    /// is known at the entry's seq, live until `until`.
    fn state(
        entry: Entry,
        key: String,
        (first, end): (usize, usize),
        until: Option<Instant>,
        also_known: Vec<(usize, String, Known)>,
    ) -> Planned {
        let seq = Some(entry.op.seq);
        Planned {
            count: end - first,
            first,
            new_known: Some((key, Known { seq, until })),
            entry,
            also_known,
        }
    }
}

/// What `closed_by` says of a trade the gateway closed from a positions snapshot.
pub const CLOSED_BY_SNAPSHOT: &str = "snapshot";

/// Where a live trade is, as far as a snapshot needs to know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Life {
    /// An open position: a snapshot that does not list it closes it.
    Open,
    /// A pending order: a snapshot that does not list it cancels it.
    Pending,
    /// Closed, cancelled or filled already.
    Done,
    /// In the live set without a hash (written by something else): only the member goes.
    Missing,
}

impl Life {
    fn of_state(state: Option<&str>) -> Life {
        match state {
            Some("open") => Life::Open,
            Some("pending") => Life::Pending,
            Some(_) => Life::Done,
            None => Life::Missing,
        }
    }
}

/// One terminal's live trades as a snapshot of it in this batch sees them.
#[derive(Default)]
struct LiveView {
    /// Members of the engine's live set that the snapshot does not list, with their stored
    /// `seq` (`None` when absent or unreadable) and state.
    unlisted: Vec<(u64, Option<u64>, Life)>,
    /// Trades of this terminal written in this batch (its snapshot is planned after them):
    /// their seq and state replace what the engine held when it was read.
    written: HashMap<u64, (u64, Life)>,
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
        let mut views = match self.load_live(&batch).await {
            Ok(views) => views,
            Err(outcome) => return fail_all(batch, outcome),
        };
        let received_ms = unix_ms();
        let mut pipe = Commands::new();
        let mut planned = Vec::with_capacity(batch.len());
        let mut seen_ids: Vec<Arc<str>> = Vec::new();
        // Snapshots are planned after every other entry: a trade a snapshot does not list is
        // closed when its seq is below the snapshot's, wherever it stands in the batch (a newer
        // snapshot takes the queue slot of the one it replaces, ahead of trades sent before it).
        let mut snapshots: Vec<(Entry, String)> = Vec::new();
        for mut entry in batch {
            let key = entry.key.take().unwrap_or_default();
            let known = self.cached(&key);
            match known.and_then(|k| k.seq) {
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
            let mut own = Commands::new();
            let until = match &entry.op.body {
                OpBody::Positions { .. } => {
                    snapshots.push((entry, key));
                    continue;
                }
                OpBody::Trade { ticket, closed, .. } => {
                    // A trade with a TTL was closed (by the terminal or a snapshot): written
                    // live again, it leaves the closed index.
                    let was_closed = known.is_some_and(|k| k.until.is_some());
                    // Only a batch holding a snapshot has views; others skip the lookup.
                    if !views.is_empty() {
                        if let Some(view) = views.get_mut(&entry.op.instance_id) {
                            note_written(view, ticket, *closed, &entry.op);
                        }
                    }
                    // A trade's hash, TTL and open/closed indexes change together or not
                    // at all: the guarded script runs them as one.
                    self.plan_state(&mut own, &key, &entry.op, received_ms, was_closed)
                }
                _ => self.plan_state(&mut own, &key, &entry.op, received_ms, false),
            };
            self.add_state_write(&mut pipe, &key, entry.op.seq, &own);
            if matches!(entry.op.body, OpBody::Instance { .. }) {
                seen_ids.push(entry.op.instance_id.clone());
            }
            planned.push(Planned::state(
                entry,
                key,
                (first, pipe.len()),
                until,
                Vec::new(),
            ));
        }
        for (entry, key) in snapshots {
            let first = pipe.len();
            let also_known = match &entry.op.body {
                OpBody::Positions { tickets } => {
                    let view = views.get(&entry.op.instance_id);
                    self.plan_snapshot(&mut pipe, &entry.op, tickets, view, received_ms)
                }
                _ => Vec::new(),
            };
            let mut own = Commands::new();
            let until = self.plan_state(&mut own, &key, &entry.op, received_ms, false);
            self.add_state_write(&mut pipe, &key, entry.op.seq, &own);
            planned.push(Planned::state(
                entry,
                key,
                (first, pipe.len()),
                until,
                also_known,
            ));
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

    /// For a batch holding positions snapshots that are newer than the stored one: each
    /// terminal's live set (one SMEMBERS each, one round trip), then the stored `seq` and
    /// `state` of the members its snapshot does not list (one HMGET each, one round trip).
    /// Nothing at all for a batch without a snapshot.
    async fn load_live(&mut self, batch: &[Entry]) -> Result<HashMap<Arc<str>, LiveView>, Outcome> {
        let mut views = HashMap::new();
        let snapshots: Vec<(&Arc<str>, &Vec<u64>)> = batch
            .iter()
            .filter_map(|entry| match &entry.op.body {
                OpBody::Positions { tickets } => {
                    let stored = entry
                        .key
                        .as_deref()
                        .and_then(|key| self.cached(key))
                        .and_then(|known| known.seq);
                    // A stale or repeated snapshot closes nothing: no need to read for it.
                    let newer = stored.is_none_or(|stored| entry.op.seq > stored);
                    newer.then_some((&entry.op.instance_id, tickets))
                }
                _ => None,
            })
            .collect();
        if snapshots.is_empty() {
            return Ok(views);
        }
        let mut members = Commands::new();
        for (instance_id, _) in &snapshots {
            members.cmd("SMEMBERS").arg(keys::open_trades(instance_id));
        }
        let sets = self.read(&members).await?;
        let mut lookups = Commands::new();
        let mut asked: Vec<(&Arc<str>, u64)> = Vec::new();
        for ((instance_id, listed), set) in snapshots.iter().zip(&sets) {
            views.insert((*instance_id).clone(), LiveView::default());
            for ticket in members_of(set) {
                if listed.binary_search(&ticket).is_err() {
                    lookups
                        .cmd("HMGET")
                        .arg(keys::trade(instance_id, &ticket.to_string()))
                        .arg("seq")
                        .arg("state");
                    asked.push((instance_id, ticket));
                }
            }
        }
        if asked.is_empty() {
            return Ok(views);
        }
        let stored = self.read(&lookups).await?;
        for ((instance_id, ticket), reply) in asked.into_iter().zip(&stored) {
            let (seq, state) = match reply {
                Value::Array(pair) => (
                    pair.first().and_then(text).and_then(|s| s.parse().ok()),
                    pair.get(1).and_then(text),
                ),
                _ => (None, None),
            };
            if let Some(view) = views.get_mut(instance_id) {
                view.unlisted
                    .push((ticket, seq, Life::of_state(state.as_deref())));
            }
        }
        Ok(views)
    }

    /// Runs a read pipeline; any failure or error reply fails the batch, as `load_known` does.
    async fn read(&mut self, commands: &Commands) -> Result<Vec<Value>, Outcome> {
        let values = self.backend.exec(commands).await.map_err(|e| {
            self.known.clear();
            Outcome::Unavailable { reason: e.0 }
        })?;
        if let Some(reason) = values.iter().find_map(server_error) {
            return Err(Outcome::Refused { reason });
        }
        Ok(values)
    }

    /// Closes (a position) or cancels (an order) every live trade of the snapshot's terminal
    /// that it does not list and whose seq is below its own, each in its own transaction, as
    /// the terminal's close would: `state`, `closed_by`, `time_close_msc`, the closed TTL, out
    /// of the live set into the closed index. The trade keeps its own `seq`, so the terminal's
    /// real close (newer than the trade, whatever the snapshot's seq) still replaces it.
    /// Each close is guarded: it runs only while the trade's stored seq is still below the
    /// snapshot's (another gateway may have written the trade since it was read). Returns the
    /// closes' pipeline indexes, the trades' keys and what the seq cache must say of them.
    fn plan_snapshot(
        &self,
        pipe: &mut Commands,
        op: &Op,
        tickets: &[u64],
        view: Option<&LiveView>,
        received_ms: u64,
    ) -> Vec<(usize, String, Known)> {
        let Some(view) = view else {
            return Vec::new();
        };
        let time_close = op
            .fields
            .iter()
            .find(|(name, _)| *name == "time_msc")
            .map_or("", |(_, value)| value.as_str());
        let from_engine = view
            .unlisted
            .iter()
            .filter(|(ticket, _, _)| !view.written.contains_key(ticket))
            .map(|&(ticket, seq, life)| (ticket, seq, life, true));
        let mut from_batch: Vec<_> = view
            .written
            .iter()
            .filter(|(ticket, _)| tickets.binary_search(ticket).is_err())
            .map(|(&ticket, &(seq, life))| (ticket, Some(seq), life, false))
            .collect();
        from_batch.sort_unstable_by_key(|(ticket, ..)| *ticket);
        let open = keys::open_trades(&op.instance_id);
        let mut closed = Vec::new();
        for (ticket, seq, life, in_engine) in from_engine.chain(from_batch) {
            let ticket_text = ticket.to_string();
            let state = match life {
                Life::Open => "closed",
                Life::Pending => "cancelled",
                // A member without a hash, or whose hash says it is done, only leaves the
                // live set; what this batch wrote is left alone.
                Life::Done | Life::Missing => {
                    if in_engine {
                        pipe.cmd("SREM").arg(&open).arg(&ticket_text);
                    }
                    continue;
                }
            };
            // Newer than the snapshot (or unreadable): the terminal reported it after.
            let Some(seq) = seq.filter(|seq| *seq < op.seq) else {
                continue;
            };
            let key = keys::trade(&op.instance_id, &ticket_text);
            let mut close = Commands::new();
            close
                .cmd("HSET")
                .arg(&key)
                .arg("state")
                .arg(state)
                .arg("closed_by")
                .arg(CLOSED_BY_SNAPSHOT)
                .arg("time_close_msc")
                .arg(time_close)
                .arg("received_msc")
                .arg(received_ms);
            let until =
                self.plan_closed(&mut close, &key, &op.instance_id, &ticket_text, received_ms);
            let decides = self.add_state_write(pipe, &key, op.seq, &close);
            closed.push((
                decides,
                key.clone(),
                Known {
                    seq: Some(seq),
                    until: Some(until),
                },
            ));
        }
        closed
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
    /// `was_closed`: the trade is in the closed index now, and must leave it if live again.
    fn plan_state(
        &self,
        pipe: &mut Commands,
        key: &str,
        op: &Op,
        received_ms: u64,
        was_closed: bool,
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
                // `closed_by` is the gateway's, set by a snapshot close: a state from the
                // terminal replaces it. Only a trade that has been closed can carry one.
                if was_closed {
                    let mut hdel = redis::cmd("HDEL");
                    hdel.arg(key).arg(absent).arg("closed_by");
                    pipe.add(hdel);
                } else {
                    add_hdel(pipe, key, absent);
                }
                let open = keys::open_trades(&op.instance_id);
                if !*closed {
                    pipe.cmd("PERSIST").arg(key);
                    pipe.cmd("SADD").arg(&open).arg(ticket);
                    if was_closed {
                        pipe.cmd("ZREM")
                            .arg(keys::closed_trades(&op.instance_id))
                            .arg(ticket);
                    }
                    return None;
                }
                Some(self.plan_closed(pipe, key, &op.instance_id, ticket, received_ms))
            }
            // The snapshot's own hash: seq, time_msc and tickets, kept without expiry like the
            // live trades it describes.
            OpBody::Positions { .. } => None,
            OpBody::Signal { .. } => None,
        }
    }

    /// Moves a trade that is no longer live out of the live set into the closed index, with
    /// the closed-trade TTL on its hash and on the index; returns when that TTL ends.
    fn plan_closed(
        &self,
        pipe: &mut Commands,
        key: &str,
        instance_id: &str,
        ticket: &str,
        received_ms: u64,
    ) -> Instant {
        let ttl = self.policy.rts_closed_ttl_s;
        let closed_index = keys::closed_trades(instance_id);
        pipe.cmd("EXPIRE").arg(key).arg(ttl);
        pipe.cmd("SREM")
            .arg(keys::open_trades(instance_id))
            .arg(ticket);
        // Scored by when the close was recorded, the same clock the hash's TTL runs on, so the
        // index and the hashes expire together.
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
        Instant::now() + Duration::from_secs(ttl)
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
        let values = match self.exec_guarded(pipe).await {
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
        // Keys an entry of this batch failed to write (allocated only on a failure): a snapshot
        // later in the batch closes a trade keeping the seq it assumed the trade had, which an
        // earlier entry's failed write leaves unknown.
        let mut unwritten: HashSet<String> = HashSet::new();
        for p in planned {
            let sent = values.get(p.first..p.first + p.count).unwrap_or(&[]);
            let (own, before) = match sent.split_last() {
                Some((own, before)) => (
                    self.verdict(own, matches!(p.entry.op.body, OpBody::Signal { .. })),
                    before,
                ),
                None => (Verdict::Failed("no reply".into()), sent),
            };
            let failure = match &own {
                Verdict::Failed(reason) => Some(reason.clone()),
                _ => before.iter().find_map(server_error),
            };
            if let Some(reason) = failure {
                // Part of this entry may be written; its stored seqs are unknown now.
                if let Some((key, _)) = &p.new_known {
                    self.known.remove(key);
                    unwritten.insert(key.clone());
                }
                for (_, key, _) in &p.also_known {
                    self.known.remove(key);
                }
                let outcome = Outcome::Refused { reason };
                p.entry.finish(outcome.clone());
                outcomes.push(outcome);
                continue;
            }
            let mut closes = 0;
            for (index, key, known) in p.also_known {
                let closed = matches!(
                    values.get(index).map(|v| self.verdict(v, false)),
                    Some(Verdict::Applied(_))
                );
                if closed && !unwritten.contains(&key) {
                    closes += 1;
                    self.known.insert(key, known);
                } else {
                    // Written since it was read (by this terminal through another gateway):
                    // what it holds now is read again when needed.
                    self.known.remove(&key);
                }
            }
            if closes > 0 {
                metrics::counter!("tradestate_snapshot_closes_total").increment(closes);
            }
            let replies = match own {
                Verdict::Applied(replies) => replies,
                Verdict::NotNewer(stored) => {
                    // Another writer stored this seq or a newer one first.
                    if let Some((key, _)) = &p.new_known {
                        self.known.remove(key);
                    }
                    let outcome = if stored == p.entry.op.seq {
                        Outcome::Duplicate { entry_id: None }
                    } else {
                        Outcome::Stale { stored_seq: stored }
                    };
                    p.entry.finish(outcome.clone());
                    outcomes.push(outcome);
                    continue;
                }
                Verdict::Exists | Verdict::Failed(_) => {
                    if let OpBody::Signal { signal_id } = &p.entry.op.body {
                        self.remember_marker(keys::signal_marker(
                            &self.policy.rtss_stream,
                            &p.entry.op.instance_id,
                            signal_id,
                        ));
                    }
                    let outcome = Outcome::Duplicate { entry_id: None };
                    p.entry.finish(outcome.clone());
                    outcomes.push(outcome);
                    continue;
                }
            };
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
                self.remember_marker(keys::signal_marker(
                    &self.policy.rtss_stream,
                    &p.entry.op.instance_id,
                    signal_id,
                ));
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

    /// Adds a state update's commands: one guarded script on a shared backend, a `MULTI ...
    /// EXEC` on the embedded engine. Returns the index of the reply that says what happened
    /// (the script's, or EXEC's).
    fn add_state_write(&self, pipe: &mut Commands, key: &str, seq: u64, own: &Commands) -> usize {
        if !self.backend.is_embedded() {
            pipe.add(guard::guarded(key, Guard::SeqBelow(seq), own));
            return pipe.len() - 1;
        }
        pipe.cmd("MULTI");
        for cmd in own.iter() {
            pipe.add(cmd.clone());
        }
        pipe.cmd("EXEC");
        pipe.len() - 1
    }

    /// What the reply that decides an entry says: a guarded script's answer (every signal, and
    /// every write to a URL backend), or for a state update on the embedded engine its EXEC's.
    fn verdict(&self, value: &Value, signal: bool) -> Verdict {
        if signal || !self.backend.is_embedded() {
            return guard::verdict(value);
        }
        match value {
            Value::Array(replies) => match replies.iter().find_map(server_error) {
                Some(reason) => Verdict::Failed(reason),
                None => Verdict::Applied(replies.clone()),
            },
            Value::Nil => {
                Verdict::Failed("the engine aborted the transaction (EXEC answered nil)".into())
            }
            other => Verdict::Failed(
                server_error(other).unwrap_or_else(|| format!("EXEC answered {other:?}")),
            ),
        }
    }

    /// Sends a pipeline of guarded writes; those a node answered `NOSCRIPT` (it never ran the
    /// script, or lost it in a failover or `SCRIPT FLUSH`) are sent again as `EVAL`, in order,
    /// which loads it there. A `NOSCRIPT` call ran nothing, so nothing is written twice.
    async fn exec_guarded(&self, pipe: &Commands) -> Result<Vec<Value>, Unavailable> {
        let mut values = self.backend.exec_write(pipe).await?;
        let missing: Vec<usize> = (0..values.len())
            .filter(|&i| guard::no_script(&values[i]))
            .collect();
        if missing.is_empty() {
            return Ok(values);
        }
        let mut again = Commands::new();
        for &i in &missing {
            if let Some(call) = pipe.get(i) {
                again.add(guard::as_eval(call));
            }
        }
        let replies = self.backend.exec_write(&again).await?;
        for (i, reply) in missing.into_iter().zip(replies) {
            values[i] = reply;
        }
        Ok(values)
    }

    async fn write_signals(&mut self, batch: Vec<Entry>) {
        let now = Instant::now();
        self.markers.retain(|_, until| *until > now);
        // Markers seen here answer at once; the others are checked by the guarded write itself.
        let mut fresh = Vec::with_capacity(batch.len());
        let mut in_batch: HashMap<String, usize> = HashMap::new();
        let mut duplicates_in_batch: Vec<(usize, Entry)> = Vec::new();
        for entry in batch {
            let marker = match &entry.op.body {
                OpBody::Signal { signal_id } => {
                    keys::signal_marker(&self.policy.rtss_stream, &entry.op.instance_id, signal_id)
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
        let mut pipe = Commands::new();
        let mut planned = Vec::with_capacity(fresh.len());
        for (marker, entry) in fresh {
            let first = pipe.len();
            // The entry and its dedupe marker are written together, and only while the marker
            // is absent: neither a crash between them nor a second gateway can store the
            // signal twice.
            let mut own = Commands::new();
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
            own.add(xadd);
            own.cmd("SET")
                .arg(&marker)
                .arg(1)
                .arg("EX")
                .arg(self.policy.signal_dedupe_ttl_s);
            pipe.add(guard::guarded(&marker, Guard::Absent, &own));
            planned.push(Planned {
                count: pipe.len() - first,
                first,
                entry,
                new_known: None,
                also_known: Vec::new(),
            });
        }
        let fresh_outcomes = self.finish_planned(&pipe, planned).await;
        // A signal retried inside one batch is stored once, by its first copy.
        for (first, entry) in duplicates_in_batch {
            let outcome = match fresh_outcomes.get(first).cloned() {
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

/// Records a trade written in this batch, which its terminal's snapshot (planned after it) must
/// see as written rather than as the engine held it.
fn note_written(view: &mut LiveView, ticket: &str, closed: bool, op: &Op) {
    let Ok(ticket) = ticket.parse::<u64>() else {
        return;
    };
    let life = if closed {
        Life::Done
    } else {
        let state = op.fields.iter().find(|(name, _)| *name == "state");
        Life::of_state(state.map(|(_, value)| value.as_str()))
    };
    view.written.insert(ticket, (op.seq, life));
}

/// The tickets of a live set (SMEMBERS; an array in RESP2, a set in RESP3); members that are
/// not tickets are not the gateway's and are left alone.
fn members_of(reply: &Value) -> Vec<u64> {
    let items = match reply {
        Value::Array(items) | Value::Set(items) => items,
        _ => return Vec::new(),
    };
    items
        .iter()
        .filter_map(text)
        .filter_map(|member| member.parse().ok())
        .collect()
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

#[cfg(test)]
mod tests {
    //! The snapshot path with batches made by hand, so that what one batch holds (a trade
    //! before or after its terminal's snapshot) is certain; tests/orders.rs covers the same
    //! over the transports, where the batching is the writer's.

    use std::sync::Arc;

    use tokio::sync::oneshot;
    use tradestate_mt5_bridge::{parse_batch, Update};

    use super::*;
    use crate::convert::op_from_update;

    struct Rig {
        _engine: tradestate_engine::EngineHandle,
        backend: Arc<Backend>,
        queue: Arc<PartitionQueue>,
        writer: Writer,
    }

    fn rig() -> Rig {
        let (engine, backend) = crate::backend::test_engine(Partition::Rts);
        let queue = Arc::new(PartitionQueue::new(100));
        let (signals, _) = broadcast::channel(4);
        let writer = Writer::new(
            backend.clone(),
            queue.clone(),
            Arc::new(Policy::default()),
            100,
            signals,
        );
        Rig {
            _engine: engine,
            backend,
            queue,
            writer,
        }
    }

    /// A rig whose engine holds ticket 1 open, stored at seq 1.
    async fn rig_with_ticket_1_open() -> Rig {
        let mut rig = rig();
        assert_eq!(rig.batch(&[trade(1, "1", "open")]).await, [STORED]);
        rig
    }

    fn trade(seq: u64, ticket: &str, state: &str) -> String {
        let ty = if state == "pending" {
            "buy_limit"
        } else {
            "buy"
        };
        format!(
            r#"{{"kind":"trade","seq":{seq},"ticket":"{ticket}","time_msc":1763000000000,"time_update_msc":1763000000000,"symbol":"EURUSD","type":"{ty}","volume":0.1,"price_open":1.1,"price_current":1.1,"sl":0,"tp":0,"profit":0,"swap":0,"commission":0,"magic":0,"state":"{state}"}}"#
        )
    }

    fn snapshot(seq: u64, tickets: &str) -> String {
        format!(
            r#"{{"kind":"positions","seq":{seq},"time_msc":1763000050000,"tickets":"{tickets}"}}"#
        )
    }

    impl Rig {
        /// Writes `updates` (batch entries of T1) as ONE writer batch; their outcomes in order.
        async fn batch(&mut self, updates: &[String]) -> Vec<Outcome> {
            let body = format!(
                r#"{{"instance_id":"T1","updates":[{}]}}"#,
                updates.join(",")
            );
            let batch = parse_batch(body.as_bytes()).expect("valid updates");
            let id: Arc<str> = Arc::from("T1");
            let mut replies = Vec::new();
            for update in batch.updates {
                assert!(!matches!(update, Update::Signal(_)));
                let (tx, rx) = oneshot::channel();
                let op = Arc::new(op_from_update(&id, update));
                assert!(self.queue.push(op, tx, 100).is_ok());
                replies.push(rx);
            }
            let entries = self.queue.take(100).await;
            assert_eq!(entries.len(), replies.len(), "one entry per key");
            self.writer.write_states(entries).await;
            let mut outcomes = Vec::new();
            for rx in replies {
                outcomes.push(rx.await.expect("answered"));
            }
            outcomes
        }

        async fn field(&self, ticket: &str, field: &str) -> Option<String> {
            let mut cmd = redis::cmd("HGET");
            cmd.arg(keys::trade("T1", ticket)).arg(field);
            text(&self.backend.exec_one(cmd).await.expect("hget"))
        }

        async fn live(&self, ticket: &str) -> bool {
            let mut cmd = redis::cmd("SISMEMBER");
            cmd.arg(keys::open_trades("T1")).arg(ticket);
            matches!(self.backend.exec_one(cmd).await, Ok(Value::Int(1)))
        }

        async fn in_closed_index(&self, ticket: &str) -> bool {
            let mut cmd = redis::cmd("ZSCORE");
            cmd.arg(keys::closed_trades("T1")).arg(ticket);
            !matches!(self.backend.exec_one(cmd).await, Ok(Value::Nil))
        }
    }

    const STORED: Outcome = Outcome::Stored { entry_id: None };

    #[tokio::test]
    async fn a_snapshot_sees_the_trades_written_before_it_in_its_batch() {
        let mut rig = rig();
        // 1 is live in the engine; 2 opens and 3 closes in the same batch, before the snapshot.
        assert_eq!(
            rig.batch(&[trade(1, "1", "open"), trade(2, "3", "open")])
                .await,
            [STORED, STORED]
        );
        let mut close_3 = trade(4, "3", "closed");
        close_3.insert_str(
            close_3.len() - 1,
            r#","time_close_msc":1763000001000,"price_close":1.2"#,
        );
        let outcomes = rig
            .batch(&[
                trade(3, "2", "pending"),
                trade(5, "1", "open"),
                close_3,
                snapshot(6, ""),
            ])
            .await;
        assert_eq!(outcomes, [STORED, STORED, STORED, STORED]);
        // The order written in this batch is cancelled, with its seq; 1 is closed with the seq
        // of its state in this batch, not the engine's older one.
        assert_eq!(rig.field("2", "state").await.as_deref(), Some("cancelled"));
        assert_eq!(rig.field("2", "seq").await.as_deref(), Some("3"));
        assert_eq!(
            rig.field("2", "closed_by").await.as_deref(),
            Some("snapshot")
        );
        assert_eq!(rig.field("1", "state").await.as_deref(), Some("closed"));
        assert_eq!(rig.field("1", "seq").await.as_deref(), Some("5"));
        // 3 was closed by the terminal itself in the batch: left as the terminal wrote it.
        assert_eq!(rig.field("3", "closed_by").await, None);
        assert_eq!(rig.field("3", "price_close").await.as_deref(), Some("1.2"));
        for ticket in ["1", "2", "3"] {
            assert!(!rig.live(ticket).await, "{ticket}");
            assert!(rig.in_closed_index(ticket).await, "{ticket}");
        }
        // The cache knows the closed trades' own seqs: their real states replace them.
        let outcomes = rig
            .batch(&[trade(5, "1", "open"), trade(4, "2", "pending")])
            .await;
        assert_eq!(outcomes, [Outcome::Duplicate { entry_id: None }, STORED]);
        assert_eq!(rig.field("2", "closed_by").await, None);
        assert!(rig.live("2").await);
        assert!(
            !rig.in_closed_index("2").await,
            "live again, out of the index"
        );
    }

    #[tokio::test]
    async fn trades_after_a_snapshot_in_its_batch_are_not_its_to_close() {
        let mut rig = rig_with_ticket_1_open().await;
        // 1 is closed by the snapshot, then written live again by a newer state in the same
        // batch; 2 opens after the snapshot.
        let outcomes = rig
            .batch(&[
                snapshot(2, ""),
                trade(3, "1", "open"),
                trade(4, "2", "open"),
            ])
            .await;
        assert_eq!(outcomes, [STORED, STORED, STORED]);
        for ticket in ["1", "2"] {
            assert!(rig.live(ticket).await, "{ticket}");
            assert!(!rig.in_closed_index(ticket).await, "{ticket}");
            assert_eq!(rig.field(ticket, "state").await.as_deref(), Some("open"));
            assert_eq!(rig.field(ticket, "closed_by").await, None, "{ticket}");
            assert_eq!(rig.field(ticket, "time_close_msc").await, None, "{ticket}");
        }
        let mut ttl = redis::cmd("TTL");
        ttl.arg(keys::trade("T1", "1"));
        assert_eq!(rig.backend.exec_one(ttl).await.ok(), Some(Value::Int(-1)));
    }

    #[tokio::test]
    async fn a_stale_snapshot_reads_nothing_and_closes_nothing() {
        let mut rig = rig();
        assert_eq!(
            rig.batch(&[trade(1, "1", "open"), snapshot(5, "1")]).await,
            [STORED, STORED]
        );
        assert_eq!(
            rig.batch(&[snapshot(4, "")]).await,
            [Outcome::Stale { stored_seq: 5 }]
        );
        assert_eq!(
            rig.batch(&[snapshot(5, "")]).await,
            [Outcome::Duplicate { entry_id: None }]
        );
        assert!(rig.live("1").await);
        // A member without a hash only leaves the live set.
        let mut sadd = redis::cmd("SADD");
        sadd.arg(keys::open_trades("T1")).arg("99");
        rig.backend.exec_one(sadd).await.expect("sadd");
        assert_eq!(rig.batch(&[snapshot(6, "1")]).await, [STORED]);
        assert!(!rig.live("99").await);
        assert!(rig.live("1").await);
    }

    async fn acl(rig: &Rig, rule: &str) {
        let mut cmd = redis::cmd("ACL");
        cmd.arg("SETUSER").arg("default").arg(rule);
        assert_eq!(rig.backend.exec_one(cmd).await.ok(), Some(Value::Okay));
    }

    #[tokio::test]
    async fn a_snapshot_does_not_vouch_for_a_trade_of_its_batch_whose_write_failed() {
        let mut rig = rig();
        // PERSIST refused: the order's transaction is discarded (EXECABORT), while the
        // snapshot's close of it, which does not use PERSIST, goes through.
        acl(&rig, "-persist").await;
        let outcomes = rig
            .batch(&[trade(2, "5", "pending"), snapshot(3, "")])
            .await;
        assert!(
            matches!(outcomes[0], Outcome::Refused { .. }),
            "{outcomes:?}"
        );
        assert_eq!(outcomes[1], STORED);
        assert_eq!(rig.field("5", "seq").await, None, "never written");
        acl(&rig, "+persist").await;
        // The terminal sends the refused order again: it is written, not taken for a retry of
        // something stored.
        assert_eq!(rig.batch(&[trade(2, "5", "pending")]).await, [STORED]);
        assert_eq!(rig.field("5", "seq").await.as_deref(), Some("2"));
        assert_eq!(rig.field("5", "symbol").await.as_deref(), Some("EURUSD"));
        assert_eq!(rig.field("5", "closed_by").await, None);
    }

    #[tokio::test]
    async fn a_real_close_replaces_a_snapshot_close_with_the_cache_cold() {
        let mut rig = rig_with_ticket_1_open().await;
        assert_eq!(rig.batch(&[snapshot(9, "")]).await, [STORED]);
        assert_eq!(
            rig.field("1", "closed_by").await.as_deref(),
            Some("snapshot")
        );
        // As after a restart or an engine failure: what the writer knows comes from the engine.
        rig.writer.known.clear();
        let mut close = trade(5, "1", "closed");
        close.insert_str(
            close.len() - 1,
            r#","time_close_msc":1763000001000,"price_close":1.2"#,
        );
        assert_eq!(rig.batch(&[close]).await, [STORED]);
        assert_eq!(rig.field("1", "closed_by").await, None);
        assert_eq!(rig.field("1", "seq").await.as_deref(), Some("5"));
        assert_eq!(rig.field("1", "price_close").await.as_deref(), Some("1.2"));
        assert!(!rig.live("1").await);
        assert!(rig.in_closed_index("1").await);
        // And a snapshot-closed trade written live again leaves the closed index, cold too.
        assert_eq!(rig.batch(&[trade(10, "2", "open")]).await, [STORED]);
        assert_eq!(rig.batch(&[snapshot(11, "")]).await, [STORED]);
        rig.writer.known.clear();
        assert_eq!(rig.batch(&[trade(12, "2", "open")]).await, [STORED]);
        assert!(rig.live("2").await);
        assert!(!rig.in_closed_index("2").await);
        assert_eq!(rig.field("2", "closed_by").await, None);
    }

    #[tokio::test]
    async fn a_trade_older_than_a_snapshot_is_closed_by_it_wherever_it_stands_in_the_batch() {
        let mut rig = rig_with_ticket_1_open().await;
        // A snapshot keeps the slot of the first one queued when a newer one replaces it, so
        // trades sent before the newer one can follow it in the batch. Seqs decide, not slots:
        // 1 (stored at seq 1) and 2 (seq 7) are older than the snapshot and not listed; 3 is
        // newer than it.
        let outcomes = rig
            .batch(&[
                snapshot(8, ""),
                trade(7, "2", "pending"),
                trade(6, "1", "open"),
                trade(9, "3", "open"),
            ])
            .await;
        assert_eq!(outcomes, [STORED, STORED, STORED, STORED]);
        for (ticket, state, seq) in [("1", "closed", "6"), ("2", "cancelled", "7")] {
            assert_eq!(rig.field(ticket, "state").await.as_deref(), Some(state));
            assert_eq!(rig.field(ticket, "seq").await.as_deref(), Some(seq));
            assert_eq!(
                rig.field(ticket, "closed_by").await.as_deref(),
                Some("snapshot")
            );
            assert!(!rig.live(ticket).await, "{ticket}");
            assert!(rig.in_closed_index(ticket).await, "{ticket}");
        }
        assert!(rig.live("3").await);
        assert_eq!(rig.field("3", "closed_by").await, None);
        // The cache holds the trades' own seqs.
        assert_eq!(
            rig.batch(&[trade(7, "2", "pending")]).await,
            [Outcome::Duplicate { entry_id: None }]
        );
    }
}
