//! A partition's spill log: where updates its partition cannot take right now (it
//! is down, stalled, or slow to acknowledge) are kept on disk, acknowledged `spooled`, and
//! written to the partition once it can take them.
//!
//! - `record`: one op as a checksummed frame; `log`: the segment files, loading them at start
//!   and the thread that appends (one write and, with `fsync = always`, one fsync per group of
//!   appends); `replay`: the task that feeds spooled ops back through the partition's queue and
//!   writer, so the same stale-seq and signal-dedupe checks apply.
//! - This file: the in-memory index of what is spooled and not yet written (in file order,
//!   newest update per state key), which decides where a live update goes: a key with spooled
//!   updates, and every signal while signals are spooled, goes through the spill until it has
//!   drained, so replay never reorders one key's updates.

pub mod hints;
mod log;
pub mod record;
pub mod replay;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{oneshot, Notify};

use crate::ops::{Kind, Op, Partition};
use crate::writer::unix_ms;
pub use log::Fsync;

/// How one partition's spill is bounded and synced.
#[derive(Debug, Clone)]
pub struct Settings {
    pub fsync: Fsync,
    pub max_bytes: u64,
    pub min_free_bytes: u64,
    pub segment_bytes: u64,
}

/// Longest a request waits for the spill's disk.
const APPEND_TIMEOUT: Duration = Duration::from_secs(10);

/// Why an update could not be spooled; the caller refuses it (503 / `-TRYAGAIN`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpillError {
    /// Over `spill.max_bytes`, or the disk is under `spill.min_free_bytes`.
    Full(String),
    /// The write or fsync failed (the partial record was cut off again).
    Io(String),
    /// The spill's writer thread has stopped (the service is stopping).
    Stopped,
}

impl std::fmt::Display for SpillError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SpillError::Full(why) => write!(f, "spill full: {why}"),
            SpillError::Io(why) => write!(f, "spill write failed: {why}"),
            SpillError::Stopped => f.write_str("spill stopped"),
        }
    }
}

/// What `/readyz` and `/v1/instances` say about a spill.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Snapshot {
    /// Updates spooled and not yet written to the partition (superseded ones not counted).
    pub records: u64,
    /// Bytes of spill files on disk.
    pub bytes: u64,
    /// Age of the oldest spooled update not yet written.
    pub oldest_age_ms: Option<u64>,
    /// New updates of this partition go to the spill (it is down or stalled).
    pub spilling: bool,
    /// Records a previous run left are still being replayed.
    pub replaying_startup: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One spooled op not yet written to its partition.
struct Pending {
    op: Arc<Op>,
    key: Option<String>,
    segment: u64,
    frame_bytes: u64,
    spooled_ms: u64,
    /// Handed to the partition's queue by replay; its outcome is awaited.
    in_flight: bool,
}

#[derive(Default)]
struct SegmentInfo {
    /// Pending records in this segment; at 0 (and not being appended to) the file goes.
    live: usize,
    bytes: u64,
}

#[derive(Default)]
struct State {
    next_id: u64,
    /// In file order, which is replay order.
    pending: BTreeMap<u64, Pending>,
    /// The newest pending record of each state key.
    by_key: HashMap<String, u64>,
    segments: BTreeMap<u64, SegmentInfo>,
    /// The segment being appended to.
    active: Option<u64>,
    bytes: u64,
    /// Ids up to this one were loaded at start.
    startup_last: Option<u64>,
    error: Option<String>,
}

impl State {
    /// Indexes a record of `frame_bytes` just written (or read back at start) to `segment`;
    /// the segment's size is the caller's to count. Segments this leaves with no pending record
    /// (every record in them superseded) are added to `gone`, for the caller to delete once the
    /// lock is released.
    fn insert(
        &mut self,
        op: Arc<Op>,
        segment: u64,
        frame_bytes: u64,
        spooled_ms: u64,
        gone: &mut Vec<u64>,
    ) {
        let id = self.next_id;
        self.next_id += 1;
        self.segments.entry(segment).or_default();
        let key = op.state_key();
        if let Some(key) = &key {
            let newer_spooled = self
                .by_key
                .get(key)
                .and_then(|older| self.pending.get(older))
                .is_some_and(|p| p.op.seq > op.seq);
            if newer_spooled {
                // A newer update of this key is already spooled: this one can never be
                // written (the newest seq wins), so it is dead on arrival.
                return;
            }
        }
        // Counted before an older record is dropped, so replacing one in the same segment never
        // empties it.
        if let Some(info) = self.segments.get_mut(&segment) {
            info.live += 1;
        }
        if let Some(key) = &key {
            if let Some(older) = self.by_key.insert(key.clone(), id) {
                // One already handed to replay is left to finish; its outcome forgets it.
                if self.pending.get(&older).is_some_and(|p| !p.in_flight) {
                    gone.extend(self.forget(older));
                }
            }
        }
        self.pending.insert(
            id,
            Pending {
                op,
                key,
                segment,
                frame_bytes,
                spooled_ms,
                in_flight: false,
            },
        );
    }

    /// Counts `bytes` more written to `segment`.
    fn add_bytes(&mut self, segment: u64, bytes: u64) {
        self.segments.entry(segment).or_default().bytes += bytes;
        self.bytes += bytes;
    }

    /// Drops a pending record (written, or superseded); returns a segment file left with no
    /// pending records, to delete.
    fn forget(&mut self, id: u64) -> Option<u64> {
        let pending = self.pending.remove(&id)?;
        if let Some(key) = &pending.key {
            if self.by_key.get(key) == Some(&id) {
                self.by_key.remove(key);
            }
        }
        let info = self.segments.get_mut(&pending.segment)?;
        debug_assert!(info.live > 0, "segment {} live count", pending.segment);
        info.live = info.live.saturating_sub(1);
        if info.live == 0 && self.active != Some(pending.segment) {
            let bytes = info.bytes;
            self.segments.remove(&pending.segment);
            self.bytes -= bytes;
            return Some(pending.segment);
        }
        None
    }
}

pub struct Spill {
    partition: Partition,
    dir: PathBuf,
    state: Mutex<State>,
    /// Wakes replay: records arrived, or the partition may be back.
    notify: Notify,
    /// The partition answered its last probe or write; false sends its updates to the spill.
    healthy: AtomicBool,
    /// Whether anything is pending, so the live path skips the lock when nothing is.
    any_pending: AtomicBool,
    /// Appends sent to the thread and not yet indexed: signals wait behind them too.
    appending: AtomicUsize,
    /// `<dir>/LOCK`, held (flock) while this spill is open: one process per directory.
    dir_lock: Mutex<Option<std::fs::File>>,
    appender: Mutex<Option<std::sync::mpsc::Sender<log::Request>>>,
    appender_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Spill {
    /// Opens `dir` (created if needed), indexes what a previous run left there and starts the
    /// thread that appends. A torn last record is cut off; a corrupt one stops the load of the
    /// rest, whose files are moved aside and named in [`Snapshot::error`] and the log.
    pub fn open(
        partition: Partition,
        dir: &Path,
        settings: Settings,
    ) -> Result<Arc<Spill>, String> {
        std::fs::create_dir_all(dir).map_err(|e| {
            format!(
                "spill: cannot create {} for partition {}: {e} (check data_dir)",
                dir.display(),
                partition.name()
            )
        })?;
        let dir_lock = log::lock_dir(dir, partition)?;
        let loaded = log::load(dir, partition)?;
        let mut state = State::default();
        for (segment, bytes) in &loaded.segments {
            state.segments.entry(*segment).or_default().bytes = *bytes;
            state.bytes += bytes;
        }
        let mut gone = Vec::new();
        for record in loaded.records {
            // The files' sizes are counted above, whole.
            state.insert(
                Arc::new(record.op),
                record.segment,
                record.frame_bytes,
                record.spooled_ms,
                &mut gone,
            );
        }
        for n in gone {
            log::remove_segment(dir, n);
        }
        state.error = loaded.error;
        // Segments whose every record was superseded are not needed any more.
        let empty: Vec<u64> = state
            .segments
            .iter()
            .filter(|(_, info)| info.live == 0)
            .map(|(n, _)| *n)
            .collect();
        for n in empty {
            if let Some(info) = state.segments.remove(&n) {
                state.bytes -= info.bytes;
            }
            log::remove_segment(dir, n);
        }
        let next_segment = loaded.next_segment;
        if !state.pending.is_empty() {
            state.startup_last = Some(state.next_id - 1);
            tracing::warn!(
                partition = partition.name(),
                records = state.pending.len(),
                bytes = state.bytes,
                "spill: a previous run left updates not yet written; replaying them before reporting ready"
            );
        }
        let any_pending = !state.pending.is_empty();
        let spill = Arc::new(Spill {
            partition,
            dir: dir.to_path_buf(),
            state: Mutex::new(state),
            notify: Notify::new(),
            healthy: AtomicBool::new(true),
            any_pending: AtomicBool::new(false),
            appending: AtomicUsize::new(0),
            dir_lock: Mutex::new(Some(dir_lock)),
            appender: Mutex::new(None),
            appender_thread: Mutex::new(None),
        });
        let (tx, thread) = log::start_appender(spill.clone(), settings, next_segment)?;
        spill.any_pending.store(any_pending, Ordering::Relaxed);
        *lock(&spill.appender) = Some(tx);
        *lock(&spill.appender_thread) = Some(thread);
        spill.publish();
        Ok(spill)
    }

    pub fn partition(&self) -> Partition {
        self.partition
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Whether `op` must go through the spill to keep order: its partition is not answering,
    /// a spooled update of its key is not written yet, or (signals) any signal is.
    pub fn must_take(&self, op: &Op) -> bool {
        if !self.healthy.load(Ordering::Relaxed) {
            return true;
        }
        let signal = op.kind() == Kind::Signal;
        if signal && self.appending.load(Ordering::Acquire) > 0 {
            return true;
        }
        // The common case, nothing spooled, costs two atomic loads and no key.
        if !self.any_pending.load(Ordering::Relaxed) {
            return false;
        }
        let state = self.lock();
        if state.pending.is_empty() {
            return false;
        }
        match op.state_key() {
            Some(key) => state.by_key.contains_key(&key),
            None => true,
        }
    }

    /// The seq of a spooled update of `op`'s key above `op`'s own: `op` is older than what the
    /// spill will write, from another numbering of its terminal, and must be answered `stale`
    /// with that seq rather than spooled and dropped unseen (the terminal renumbers on it).
    pub fn newer_spooled(&self, op: &Op) -> Option<u64> {
        if !self.any_pending.load(Ordering::Relaxed) {
            return None;
        }
        let key = op.state_key()?;
        let state = self.lock();
        let spooled = state.pending.get(state.by_key.get(&key)?)?.op.seq;
        (spooled > op.seq).then_some(spooled)
    }

    /// Writes `ops` to the spill (durable per `spill.fsync` when this returns `Ok`).
    pub async fn append(&self, ops: Vec<Arc<Op>>) -> Result<(), SpillError> {
        if ops.is_empty() {
            return Ok(());
        }
        let (reply, rx) = oneshot::channel();
        self.appending.fetch_add(1, Ordering::AcqRel);
        let sent = match lock(&self.appender).as_ref() {
            Some(tx) => tx.send(log::Request { ops, reply }).is_ok(),
            None => false,
        };
        let result = if sent {
            // A disk that stops answering must not hang the terminals' requests; a write that
            // lands after this gave up is harmless (replay's checks make it a duplicate).
            match tokio::time::timeout(APPEND_TIMEOUT, rx).await {
                Ok(answer) => answer.unwrap_or(Err(SpillError::Stopped)),
                Err(_) => Err(SpillError::Io(format!(
                    "the spill's disk did not answer within {} s",
                    APPEND_TIMEOUT.as_secs()
                ))),
            }
        } else {
            Err(SpillError::Stopped)
        };
        self.appending.fetch_sub(1, Ordering::AcqRel);
        result
    }

    /// The partition failed or stalled: its updates go to the spill until a probe succeeds.
    pub fn mark_unhealthy(&self, why: &str) {
        if self.healthy.swap(false, Ordering::Relaxed) {
            tracing::warn!(
                partition = self.partition.name(),
                reason = why,
                "spill: partition not answering; spooling its updates"
            );
            self.notify.notify_one();
            self.publish();
        }
    }

    fn mark_healthy(&self) {
        if !self.healthy.swap(true, Ordering::Relaxed) {
            tracing::info!(
                partition = self.partition.name(),
                "spill: partition answering again; replaying"
            );
            self.publish();
        }
    }

    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    pub fn snapshot(&self) -> Snapshot {
        let state = self.lock();
        let now = unix_ms();
        let oldest = state.pending.values().next().map(|p| p.spooled_ms);
        Snapshot {
            records: state.pending.len() as u64,
            bytes: state.bytes,
            oldest_age_ms: oldest.map(|t| now.saturating_sub(t)),
            spilling: !self.healthy.load(Ordering::Relaxed),
            replaying_startup: startup_pending(&state),
            error: state.error.clone(),
        }
    }

    /// Publishes the gauges of this spill.
    pub fn publish(&self) {
        let s = self.snapshot();
        let p = self.partition.name();
        metrics::gauge!("tradestate_spill_records", "partition" => p).set(s.records as f64);
        metrics::gauge!("tradestate_spill_bytes", "partition" => p).set(s.bytes as f64);
        metrics::gauge!("tradestate_spill_oldest_age_seconds", "partition" => p)
            .set(s.oldest_age_ms.unwrap_or(0) as f64 / 1000.0);
        metrics::gauge!("tradestate_spilling", "partition" => p).set(if s.spilling {
            1.0
        } else {
            0.0
        });
    }

    /// Up to `max` of the oldest pending records not yet handed to replay, marked in flight.
    /// Signals stop at the first one already in flight, so they are written in order.
    fn take(&self, max: usize) -> Vec<(u64, Arc<Op>)> {
        let mut state = self.lock();
        let mut out = Vec::new();
        for (id, pending) in state.pending.iter_mut() {
            if out.len() >= max {
                break;
            }
            if pending.in_flight {
                if pending.key.is_none() {
                    break;
                }
                continue;
            }
            pending.in_flight = true;
            out.push((*id, pending.op.clone()));
        }
        out
    }

    /// A replayed record was written (or found already written): it leaves the spill.
    /// Returns its size on disk.
    fn written(&self, id: u64) -> u64 {
        let mut state = self.lock();
        let bytes = state.pending.get(&id).map_or(0, |p| p.frame_bytes);
        let gone = state.forget(id);
        self.any_pending
            .store(!state.pending.is_empty(), Ordering::Relaxed);
        drop(state);
        if let Some(segment) = gone {
            log::remove_segment(&self.dir, segment);
        }
        bytes
    }

    /// A replayed record could not be written: it stays, to be tried again in order.
    fn retry(&self, id: u64) {
        if let Some(p) = self.lock().pending.get_mut(&id) {
            p.in_flight = false;
        }
    }

    fn has_pending(&self) -> bool {
        !self.lock().pending.is_empty()
    }

    /// Stops the appending thread after it has synced what it wrote, and releases the
    /// directory for the next process.
    pub fn stop(&self) {
        lock(&self.appender).take();
        if let Some(thread) = lock(&self.appender_thread).take() {
            let _ = thread.join();
        }
        lock(&self.dir_lock).take();
    }
}

fn startup_pending(state: &State) -> bool {
    match (state.startup_last, state.pending.keys().next()) {
        (Some(last), Some(first)) => *first <= last,
        _ => false,
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The index is updated in single steps under the lock; a panic elsewhere leaves it whole.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests;
