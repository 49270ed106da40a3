//! BGSAVE without fork: a point-in-time snapshot serialised incrementally on the
//! engine thread while commands keep running.
//!
//! How the file stays a consistent point in time:
//! - Starting a snapshot bumps each database's epoch; every entry carries the epoch in which
//!   it was last handled (`Entry::snap`). Entries whose mark differs from the epoch are
//!   pending: they still hold their value from the snapshot instant.
//! - The driver task walks each dictionary with its scan cursor in slices of about a tenth of
//!   a millisecond, serialising pending entries and marking them done.
//! - Write barrier: `Db` calls [`DbSnap::save_if_pending`] before any change to a key (value,
//!   TTL, deletion, expiry, eviction), so the old value is serialised first. Keys created
//!   after the instant get the current epoch at birth and are skipped.
//! - FLUSHDB/FLUSHALL move the old dictionaries into the snapshot (`frozen`), which finishes
//!   from there; SWAPDB moves the per-database state along with the database (records are
//!   written under the database index of the snapshot instant).
//!
//! The serialised bytes go over a channel to a writer thread that checksums, writes and
//! fsyncs the temp file and renames it into place; the engine thread never touches the disk.
//!
//! The same machinery writes the base file of an AOF rewrite ([`Purpose::AofBase`], in RDB
//! format or, with `aof-use-rdb-preamble no`, as commands): one snapshot runs at a time, as
//! Redis runs one child at a time.

use std::cell::Cell;
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::file::{preamble, rdb_path, FileSink, Trailer};
use super::Encoder;
use crate::db::{Db, Entry, Key};
use crate::dict::Dict;
use crate::server::Server;

/// Engine time one slice may take (a client waits at most about this long for its turn).
const SLICE: Duration = Duration::from_micros(100);
/// Bytes queued for the writer above which the driver waits instead of serialising more.
const MAX_BACKLOG: usize = 64 << 20;
/// Serialised bytes handed to the writer at once.
const CHUNK: usize = 256 << 10;

/// A database's key and expiry dictionaries, taken whole.
type Frozen = (Dict<Key, Entry>, Dict<Key, i64>);

/// What a snapshot is for, which decides who is told when it ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// BGSAVE or a save rule: `dir/dbfilename`.
    Rdb,
    /// The base file of an AOF rewrite (`aof::rewrite`).
    AofBase,
}

/// How records are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Rdb,
    /// RESP commands that rebuild each key (an AOF base with `aof-use-rdb-preamble no`).
    Commands,
}

/// Per-database snapshot state, kept inside the `Db` so SWAPDB moves it along.
pub struct DbSnap {
    pub epoch: u16,
    /// Database index at the snapshot instant.
    pub origin: usize,
    /// Records serialised and not yet handed to the writer.
    pub enc: Encoder,
    format: Format,
    cursor: u64,
    scan_done: bool,
    /// The dictionaries as they were when FLUSHDB/FLUSHALL emptied this database mid-snapshot.
    frozen: Option<Box<Frozen>>,
    keys_at_start: usize,
    expires_at_start: usize,
    announced: bool,
    pub processed: u64,
}

impl DbSnap {
    /// Serialises `key` if the snapshot has not reached it yet, and marks it done.
    #[inline]
    pub fn save_if_pending(&mut self, key: &[u8], entry: &Entry, expire: Option<i64>) {
        if entry.snap.get() != self.epoch {
            entry.snap.set(self.epoch);
            record(&mut self.enc, self.format, key, &entry.value, expire);
            self.processed += 1;
        }
    }

    /// FLUSHDB/FLUSHALL mid-snapshot: keep the old dictionaries to finish from.
    pub fn freeze(&mut self, keys: Dict<Key, Entry>, expires: Dict<Key, i64>) {
        if self.frozen.is_none() && !self.scan_done {
            self.frozen = Some(Box::new((keys, expires)));
        }
    }

    /// Scans until `deadline`; true when this database is fully serialised.
    fn scan_until(
        &mut self,
        keys: &Dict<Key, Entry>,
        expires: &Dict<Key, i64>,
        deadline: Instant,
    ) -> bool {
        let DbSnap {
            epoch,
            enc,
            format,
            cursor,
            scan_done,
            frozen,
            processed,
            ..
        } = self;
        let (keys, expires) = match frozen {
            Some(f) => (&f.0, &f.1),
            None => (keys, expires),
        };
        while !*scan_done {
            for _ in 0..32 {
                *cursor = keys.scan(*cursor, |k, e| {
                    if e.snap.get() != *epoch {
                        e.snap.set(*epoch);
                        record(enc, *format, k, &e.value, expires.get(&k[..]).copied());
                        *processed += 1;
                    }
                });
                if *cursor == 0 {
                    *scan_done = true;
                    break;
                }
            }
            if enc.out.len() >= CHUNK || Instant::now() >= deadline {
                break;
            }
        }
        *scan_done
    }
}

/// One key in the snapshot's format.
fn record(
    enc: &mut Encoder,
    format: Format,
    key: &[u8],
    value: &crate::types::Value,
    expire: Option<i64>,
) {
    match format {
        Format::Rdb => enc.key_value(key, value, expire),
        Format::Commands => crate::aof::rewrite::emit_key(&mut enc.out, key, value, expire),
    }
}

enum Msg {
    Data(Vec<u8>),
    Finish(Trailer),
}

/// A background save in progress.
pub struct BgSave {
    pub purpose: Purpose,
    format: Format,
    pub started: Instant,
    tx: Sender<Msg>,
    backlog: Arc<std::sync::atomic::AtomicUsize>,
    result: Arc<Mutex<Option<Result<u64, String>>>>,
    finished_sending: bool,
    dirty_at_start: u64,
    pub keys_total: u64,
    trailer: Trailer,
}

impl BgSave {
    fn send(&self, bytes: Vec<u8>) {
        self.backlog
            .fetch_add(bytes.len(), std::sync::atomic::Ordering::Relaxed);
        let _ = self.tx.send(Msg::Data(bytes));
    }
}

/// Starts a background save (BGSAVE): marks the snapshot instant and wakes the driver.
pub fn start(server: &mut Server) -> Result<(), String> {
    let path = rdb_path(&server.config);
    start_to(server, &path, Purpose::Rdb, Format::Rdb).inspect_err(|_| {
        server.rdb.last_bgsave_ok = false;
        server.rdb.last_bgsave_try_s = crate::util::now_ms() / 1000;
    })
}

/// Starts a snapshot into `path` (written to a temp file beside it, renamed when complete).
pub fn start_to(
    server: &mut Server,
    path: &std::path::Path,
    purpose: Purpose,
    format: Format,
) -> Result<(), String> {
    if server.rdb.bg.is_some() {
        return Err("Background save already in progress".into());
    }
    let compress = server.config.get("rdbcompression") != Some("no");
    let trailer = match format {
        Format::Rdb => Trailer::from_config(&server.config),
        Format::Commands => Trailer::None,
    };
    let sink = FileSink::create(path).map_err(|e| {
        format!(
            "cannot create the temp file next to {}: {e}",
            path.display()
        )
    })?;
    let (tx, rx) = channel::<Msg>();
    let backlog = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let result = Arc::new(Mutex::new(None));
    let (thread_backlog, thread_result) = (backlog.clone(), result.clone());
    std::thread::Builder::new()
        .name(format!("rdb-{}", server.name))
        .spawn(move || writer(sink, rx, thread_backlog, thread_result))
        .map_err(|e| format!("cannot start the writer thread: {e}"))?;
    let mut keys_total = 0u64;
    for (i, db) in server.dbs.iter_mut().enumerate() {
        db.snap_epoch = db.snap_epoch.wrapping_add(1);
        if db.snap_epoch == 0 {
            // Wrapped: marks left from 65,536 snapshots ago would look current. Clear them
            // (one pass over the keys, once per 65,535 snapshots).
            for (_, entry) in db.keys.iter() {
                entry.snap.set(0);
            }
            db.snap_epoch = 1;
        }
        if db.is_empty() {
            continue;
        }
        keys_total += db.len() as u64;
        db.snap = Some(Box::new(DbSnap {
            epoch: db.snap_epoch,
            origin: i,
            enc: Encoder::new(compress),
            format,
            cursor: 0,
            scan_done: false,
            frozen: None,
            keys_at_start: db.keys.len(),
            expires_at_start: db.expires.len(),
            announced: false,
            processed: 0,
        }));
    }
    let mut head = Encoder::new(compress);
    if format == Format::Rdb {
        preamble(&mut head, server.used_memory(), purpose == Purpose::AofBase);
    }
    let bg = BgSave {
        purpose,
        format,
        started: Instant::now(),
        tx,
        backlog,
        result,
        finished_sending: false,
        dirty_at_start: server.dirty,
        keys_total,
        trailer,
    };
    bg.send(head.out);
    server.rdb.bg = Some(bg);
    if purpose == Purpose::Rdb {
        server.rdb.last_bgsave_try_s = crate::util::now_ms() / 1000;
    }
    server.rdb.wake.notify_one();
    tracing::info!(engine = %server.name, keys = keys_total, file = %path.display(), "background saving started");
    Ok(())
}

fn writer(
    mut sink: FileSink,
    rx: std::sync::mpsc::Receiver<Msg>,
    backlog: Arc<std::sync::atomic::AtomicUsize>,
    result: Arc<Mutex<Option<Result<u64, String>>>>,
) {
    let mut failed: Option<String> = None;
    let outcome = loop {
        match rx.recv() {
            Ok(Msg::Data(bytes)) => {
                backlog.fetch_sub(bytes.len(), std::sync::atomic::Ordering::Relaxed);
                if failed.is_none() {
                    if let Err(e) = sink.write(&bytes) {
                        failed = Some(format!("write error: {e}"));
                    }
                }
            }
            Ok(Msg::Finish(trailer)) => {
                break match failed {
                    Some(e) => {
                        sink.abort();
                        Err(e)
                    }
                    None => sink.finish(trailer).map_err(|e| format!("{e}")),
                };
            }
            // The engine dropped the save (SHUTDOWN, engine stop): no file.
            Err(_) => {
                sink.abort();
                break Err("aborted".into());
            }
        }
    };
    if let Ok(mut slot) = result.lock() {
        *slot = Some(outcome);
    }
}

/// What one slice achieved.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// No snapshot is being produced.
    Idle,
    /// More to do: yield to clients, then call again.
    More,
    /// The writer is behind: wait a little before the next slice.
    Backlogged,
    /// Everything is sent; the writer finishes the file.
    Sent,
}

/// One slice of serialisation, bounded by [`SLICE`].
pub fn step(server: &mut Server) -> Step {
    let Some(bg) = server.rdb.bg.as_ref() else {
        return Step::Idle;
    };
    if bg.finished_sending {
        return Step::Idle;
    }
    if bg.backlog.load(std::sync::atomic::Ordering::Relaxed) > MAX_BACKLOG {
        return Step::Backlogged;
    }
    let deadline = Instant::now() + SLICE;
    let mut all_done = true;
    for db in server.dbs.iter_mut() {
        let Db {
            keys,
            expires,
            snap,
            ..
        } = db;
        let Some(s) = snap.as_deref_mut() else {
            continue;
        };
        if !s.scan_done && Instant::now() < deadline {
            s.scan_until(keys, expires, deadline);
        }
        // Whole chunks only: a hand-off per slice woke the writer thousands of times a second.
        if s.enc.out.len() >= CHUNK || s.scan_done {
            flush(s, bg);
        }
        if !s.scan_done {
            all_done = false;
        }
    }
    if !all_done {
        return Step::More;
    }
    // Every database is written: close the file and drop the per-database state (the barrier
    // is off from here on).
    for db in server.dbs.iter_mut() {
        // A frozen (flushed) dictionary is dropped here; only a FLUSH mid-snapshot has one.
        db.snap = None;
    }
    if let Some(bg) = server.rdb.bg.as_mut() {
        if bg.format == Format::Rdb {
            let mut tail = Encoder::new(false);
            tail.eof();
            bg.send(tail.out);
        }
        let _ = bg.tx.send(Msg::Finish(bg.trailer));
        bg.finished_sending = true;
    }
    Step::Sent
}

/// Hands a database's serialised records to the writer, under its SELECTDB.
fn flush(s: &mut DbSnap, bg: &BgSave) {
    if s.enc.out.is_empty() {
        return;
    }
    let mut head = Encoder::with_buffer(Vec::with_capacity(s.enc.out.len() + 16), false);
    match s.format {
        Format::Rdb => {
            head.select_db(s.origin);
            if !s.announced {
                head.resize_db(s.keys_at_start, s.expires_at_start);
            }
        }
        Format::Commands => {
            let db = s.origin.to_string();
            crate::aof::resp::encode(&mut head.out, &[b"SELECT", db.as_bytes()]);
        }
    }
    s.announced = true;
    let mut chunk = head.out;
    chunk.extend_from_slice(&s.enc.out);
    s.enc.out.clear();
    bg.send(chunk);
}

/// Collects a finished background save into the counters (cron and driver).
pub fn poll_finished(server: &mut Server) -> bool {
    let outcome = match server.rdb.bg.as_ref() {
        Some(bg) if bg.finished_sending => match bg.result.lock() {
            Ok(mut slot) => slot.take(),
            Err(_) => Some(Err("writer thread panicked".into())),
        },
        _ => None,
    };
    let Some(outcome) = outcome else {
        return false;
    };
    let Some(bg) = server.rdb.bg.take() else {
        return false;
    };
    if bg.purpose == Purpose::AofBase {
        crate::aof::rewrite::base_finished(server, outcome);
        return true;
    }
    let secs = bg.started.elapsed().as_secs() as i64;
    server.rdb.last_bgsave_time_sec = secs;
    match outcome {
        Ok(bytes) => {
            super::state::saved(server, bg.dirty_at_start);
            server.rdb.last_bgsave_ok = true;
            tracing::info!(engine = %server.name, bytes, ms = bg.started.elapsed().as_millis() as u64, "background saving terminated with success");
        }
        Err(e) => {
            server.rdb.last_bgsave_ok = false;
            tracing::warn!(engine = %server.name, error = %e, "background saving failed");
        }
    }
    true
}

/// Abandons a snapshot in progress (SHUTDOWN, DEBUG RELOAD): the barrier is switched off and
/// the writer deletes its temp file.
pub fn abort(server: &mut Server) {
    for db in server.dbs.iter_mut() {
        db.snap = None;
    }
    if let Some(bg) = server.rdb.bg.take() {
        let purpose = bg.purpose;
        drop(bg.tx);
        match purpose {
            Purpose::Rdb => server.rdb.last_bgsave_ok = false,
            Purpose::AofBase => crate::aof::rewrite::base_finished(server, Err("aborted".into())),
        }
    }
}

/// A BGSAVE (not an AOF rewrite's base) is being written.
pub fn bgsave_in_progress(server: &Server) -> bool {
    server
        .rdb
        .bg
        .as_ref()
        .is_some_and(|b| b.purpose == Purpose::Rdb)
}

/// Keys serialised so far by the save in progress (INFO `current_save_keys_processed`).
pub fn keys_processed(server: &Server) -> u64 {
    if server.rdb.bg.is_none() {
        return 0;
    }
    server
        .dbs
        .iter()
        .filter_map(|d| d.snap.as_ref())
        .map(|s| s.processed)
        .sum::<u64>()
}

/// The task that drives background saves: sleeps until one starts, then serialises in slices,
/// yielding to clients between them.
pub async fn driver(server: std::rc::Rc<std::cell::RefCell<Server>>) {
    let wake = server.borrow().rdb.wake.clone();
    loop {
        wake.notified().await;
        loop {
            let step = step(&mut server.borrow_mut());
            match step {
                Step::More => tokio::task::yield_now().await,
                Step::Backlogged => tokio::time::sleep(Duration::from_millis(1)).await,
                Step::Sent | Step::Idle => break,
            }
        }
        // Collect the result as soon as the writer is done (the cron would, later).
        for _ in 0..60_000 {
            if server.borrow().rdb.bg.is_none() || poll_finished(&mut server.borrow_mut()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

/// A fresh entry mark for a key created in epoch `epoch` (skipped by that epoch's snapshot).
pub fn mark(epoch: u16) -> Cell<u16> {
    Cell::new(epoch)
}
