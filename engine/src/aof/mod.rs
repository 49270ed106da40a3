//! The append only file: every successful write is logged as a RESP command, in
//! the form that replays to the same state (`propagate.rs`: absolute expiry times, the effect
//! of random or time dependent commands), and loaded at start (`load.rs`). The commands of one
//! EXEC are logged inside MULTI/EXEC, so a crash never leaves half a transaction.
//!
//! Files: Redis 7's multi-part layout (`manifest.rs`): a base file written by the last rewrite
//! (`rewrite.rs`, an RDB snapshot by default) and incremental files of commands since; the
//! engine logs to the last incremental file. A one-file AOF of the older layout is moved into
//! the directory as its base at start, as redis-server 7 upgrades.
//!
//! Durability: commands are appended to `Aof::buf` while they run; the buffer is written
//! (write(2)) before any reply leaves the engine — a connection flushes it before writing its
//! replies (`connection.rs`), the in-process client before answering (`local.rs`) — and with
//! `appendfsync always` it is also fsynced then. With `everysec` a background thread fsyncs
//! once a second; with `no` the kernel decides.

pub mod load;
pub mod manifest;
pub mod propagate;
pub mod resp;
pub mod rewrite;

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::server::Server;

/// `appendfsync`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Fsync {
    Always,
    #[default]
    Everysec,
    No,
}

impl Fsync {
    fn parse(text: &str) -> Fsync {
        match text {
            "always" => Fsync::Always,
            "no" => Fsync::No,
            _ => Fsync::Everysec,
        }
    }
}

/// What the everysec thread shares with the engine thread.
#[derive(Default)]
struct Syncer {
    file: Mutex<Option<Arc<File>>>,
    /// Bytes were written since the last fsync.
    pending: AtomicBool,
    stop: AtomicBool,
}

/// Where the commands of the EXEC running now stand in the log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum TxLog {
    #[default]
    Outside,
    /// EXEC runs; MULTI is written before its first logged command.
    Pending,
    /// MULTI is written: EXEC follows when the transaction ends.
    Open,
    /// A script runs outside any transaction: its first write is logged bare, and MULTI is
    /// put in front of it when a second one follows (Redis 7 wraps a script's effects only
    /// when there is more than one).
    Script { first_at: Option<usize> },
}

/// The append only file state of one engine.
#[derive(Default)]
pub struct Aof {
    /// Logging is on: writes are appended to `buf` and the file.
    pub enabled: bool,
    /// `appendonly yes` was set at runtime and waits for its first rewrite to start logging
    /// (Redis's AOF_WAIT_REWRITE).
    pub enabling: bool,
    file: Option<Arc<File>>,
    /// Commands not yet written to the file.
    pub buf: Vec<u8>,
    /// The database the last logged command ran in (a SELECT is logged on change).
    selected_db: Option<usize>,
    tx: TxLog,
    pub fsync: Fsync,
    syncer: Option<Arc<Syncer>>,
    /// The file set on disk, and the incremental file logged to.
    pub manifest: manifest::Manifest,
    pub path: PathBuf,
    /// Bytes of the whole set, and of the set when the last rewrite ended (or at load).
    pub current_size: u64,
    pub base_size: u64,
    /// The last write failed (INFO `aof_last_write_status`); writes are retried by the cron.
    pub last_write_error: Option<String>,
    pub last_fsync: Option<Instant>,
    pub delayed_fsync: u64,
    /// BGREWRITEAOF in progress (`rewrite.rs`).
    pub rewrite: Option<rewrite::Rewrite>,
    pub rewrite_scheduled: bool,
    /// No rewrite starts before this (after a failed one).
    pub rewrite_retry_at: Option<Instant>,
    pub rewrites: u64,
    pub rewrite_failures: u64,
    pub last_rewrite_ok: bool,
    pub last_rewrite_secs: i64,
    /// The keyspace is being loaded from the file.
    pub loading: bool,
}

impl Drop for Aof {
    fn drop(&mut self) {
        // A stopping engine writes and syncs what it has: a clean stop loses nothing.
        if self.enabled {
            let _ = self.write_buffer();
            if let Some(f) = &self.file {
                let _ = f.sync_data();
            }
        }
        self.stop_syncer();
        if let Some(rw) = self.rewrite.take() {
            rw.discard();
        }
    }
}

impl Aof {
    /// Appends one command (RESP multibulk) for database `db`, with a SELECT first when the
    /// database changes (and MULTI first when it is the first of an EXEC).
    pub fn append(&mut self, db: usize, args: &[&[u8]]) {
        if self.selected_db != Some(db) {
            let n = db.to_string();
            resp::encode(&mut self.buf, &[b"SELECT", n.as_bytes()]);
            self.selected_db = Some(db);
        }
        match self.tx {
            TxLog::Pending => {
                resp::encode(&mut self.buf, &[b"MULTI"]);
                self.tx = TxLog::Open;
            }
            TxLog::Script { first_at: None } => {
                self.tx = TxLog::Script {
                    first_at: Some(self.buf.len()),
                }
            }
            TxLog::Script { first_at: Some(at) } => {
                // Nothing is written out while a script runs, so the first write is still in
                // the buffer where it was put.
                let mut multi = Vec::with_capacity(16);
                resp::encode(&mut multi, &[b"MULTI"]);
                self.buf.splice(at..at, multi);
                self.tx = TxLog::Open;
            }
            TxLog::Outside | TxLog::Open => {}
        }
        resp::encode(&mut self.buf, args);
    }

    /// A script starts running: its writes are logged as one transaction. False inside EXEC,
    /// whose own MULTI/EXEC already holds them (nothing to end then).
    pub fn begin_script(&mut self) -> bool {
        if !self.enabled || self.tx != TxLog::Outside {
            return false;
        }
        self.tx = TxLog::Script { first_at: None };
        true
    }

    /// The script [`Aof::begin_script`] started ended.
    pub fn end_script(&mut self) {
        if self.tx == TxLog::Open {
            resp::encode(&mut self.buf, &[b"EXEC"]);
        }
        self.tx = TxLog::Outside;
    }

    /// EXEC starts running its commands.
    pub fn begin_transaction(&mut self) {
        if self.enabled {
            self.tx = TxLog::Pending;
        }
    }

    /// EXEC ended: closes the MULTI its writes opened.
    pub fn end_transaction(&mut self) {
        if self.tx == TxLog::Open {
            resp::encode(&mut self.buf, &[b"EXEC"]);
        }
        self.tx = TxLog::Outside;
    }

    /// Writes the buffer to the file (write(2)), and fsyncs under `always`.
    fn write_buffer(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let Some(file) = self.file.clone() else {
            self.buf.clear();
            return Ok(());
        };
        let mut written = 0;
        let result = loop {
            if written == self.buf.len() {
                break Ok(());
            }
            match (&*file).write(&self.buf[written..]) {
                Ok(0) => break Err(std::io::Error::other("write returned 0")),
                Ok(n) => written += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        self.current_size += written as u64;
        self.buf.drain(..written);
        result?;
        match self.fsync {
            Fsync::Always => {
                file.sync_data()?;
                self.last_fsync = Some(Instant::now());
            }
            Fsync::Everysec => {
                if let Some(s) = &self.syncer {
                    s.pending.store(true, Ordering::Release);
                }
            }
            Fsync::No => {}
        }
        Ok(())
    }

    fn stop_syncer(&mut self) {
        if let Some(s) = self.syncer.take() {
            s.stop.store(true, Ordering::Release);
        }
    }

    /// Opens `path` for appending and makes it the log (the everysec thread follows). What
    /// was logged before is written to the previous file first.
    fn open(&mut self, path: PathBuf) -> std::io::Result<()> {
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        if let Some(dir) = path.parent() {
            manifest::sync_dir(dir);
        }
        if self.file.is_some() {
            self.write_buffer()?;
        }
        if let Some(old) = self.file.clone() {
            // The previous file's tail reaches the disk off the engine thread, as Redis's
            // background fsync job does: a switch does not pause clients.
            let background = old.clone();
            let spawned = std::thread::Builder::new()
                .name("aof-fsync-old".into())
                .spawn(move || background.sync_data());
            if spawned.is_err() {
                old.sync_data()?;
            }
        }
        let file = Arc::new(file);
        self.file = Some(file.clone());
        self.path = path;
        self.selected_db = None;
        self.enabled = true;
        match &self.syncer {
            Some(s) => *s.file.lock().unwrap_or_else(|e| e.into_inner()) = Some(file),
            None => self.syncer = Some(spawn_syncer(file)),
        }
        Ok(())
    }

    /// Logging goes to a new incremental file, listed in the manifest before the first byte
    /// goes to it (a rewrite starts).
    fn switch_to_new_incr(&mut self, dir: &Path, prefix: &str) -> std::io::Result<()> {
        let incr = self.manifest.next_incr(prefix);
        let path = dir.join(&incr.name);
        let mut listed = self.manifest.clone();
        listed.incrs.push(incr);
        File::create(&path)?;
        manifest::write(dir, prefix, &listed)?;
        self.manifest = listed;
        self.open(path)
    }

    fn close(&mut self) {
        let _ = self.write_buffer();
        if let Some(f) = &self.file {
            let _ = f.sync_data();
        }
        self.file = None;
        self.enabled = false;
        self.buf.clear();
        self.selected_db = None;
        self.stop_syncer();
        if let Some(rw) = self.rewrite.take() {
            rw.discard();
        }
    }
}

/// The everysec thread: fsyncs once a second when something was written.
fn spawn_syncer(file: Arc<File>) -> Arc<Syncer> {
    let syncer = Arc::new(Syncer::default());
    *syncer.file.lock().unwrap_or_else(|e| e.into_inner()) = Some(file);
    let shared = syncer.clone();
    let spawned = std::thread::Builder::new()
        .name("aof-fsync".into())
        .spawn(move || loop {
            std::thread::sleep(Duration::from_secs(1));
            if shared.stop.load(Ordering::Acquire) {
                return;
            }
            if shared.pending.swap(false, Ordering::AcqRel) {
                let file = shared
                    .file
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone();
                if let Some(f) = file {
                    if let Err(e) = f.sync_data() {
                        tracing::warn!(error = %e, "fsync of the append only file failed");
                    }
                }
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start the AOF fsync thread; appendfsync everysec falls back to the kernel");
    }
    syncer
}

/// `<dir>/<appendfilename>`: the one-file AOF of Redis 6 and earlier engines.
fn one_file_path(server: &Server) -> PathBuf {
    let dir = server.config.get("dir").unwrap_or("").to_string();
    let name = server
        .config
        .get("appendfilename")
        .unwrap_or("appendonly.aof")
        .to_string();
    let dir = if dir.is_empty() {
        PathBuf::from(".")
    } else {
        PathBuf::from(dir)
    };
    dir.join(name)
}

fn config_on(server: &Server) -> bool {
    server.config.get("appendonly") == Some("yes")
}

/// At start, before clients are accepted: with `appendonly yes`, loads the file set and
/// starts logging to its last incremental file (a new one when it has none). The error names
/// the file and what is wrong.
pub fn start(server: &mut Server) -> Result<(), String> {
    server.aof.fsync = Fsync::parse(server.config.get("appendfsync").unwrap_or("everysec"));
    if !config_on(server) {
        return Ok(());
    }
    let dir = manifest::dir_path(&server.config);
    let prefix = manifest::prefix(&server.config);
    let set = find_file_set(server, &dir, &prefix)?;
    load::load_set(server, &dir, &set)?;
    server.aof.manifest = set;
    let opened = match server.aof.manifest.incrs.last() {
        Some(last) => {
            let path = dir.join(&last.name);
            server.aof.open(path)
        }
        None => server.aof.switch_to_new_incr(&dir, &prefix),
    };
    opened.map_err(|e| format!("Can't open the append-only file in {}: {e}", dir.display()))?;
    server.aof.current_size = set_size(&dir, &server.aof.manifest);
    // As redis-server does at start: the base file alone, since the size after the last
    // rewrite is not stored anywhere. A set that grew far past its base since (a rewrite that
    // ran under a long write burst) is rewritten soon after the start instead of at twice the
    // whole set.
    server.aof.base_size = server
        .aof
        .manifest
        .base
        .as_ref()
        .map_or(0, |f| file_bytes(&dir, f));
    set_tracking(server, true);
    Ok(())
}

/// The manifest of `dir`; a one-file AOF of the older layout becomes the base of a new set
/// (the manifest is written before the file moves, so a crash in between finds the file
/// where the manifest says or where it was); none at all is an empty set.
fn find_file_set(server: &Server, dir: &Path, prefix: &str) -> Result<manifest::Manifest, String> {
    let found = manifest::read(dir, prefix)?;
    let old = one_file_path(server);
    let upgrading = old.is_file()
        && match &found {
            None => true,
            Some(m) => {
                m.incrs.is_empty()
                    && m.base.as_ref().is_some_and(|b| b.name == prefix)
                    && !dir.join(prefix).exists()
            }
        };
    if !upgrading {
        return match found {
            Some(m) => Ok(m),
            None => {
                std::fs::create_dir_all(dir).map_err(|e| {
                    format!("Can't create the AOF directory {}: {e}", dir.display())
                })?;
                Ok(manifest::Manifest::default())
            }
        };
    }
    let set = manifest::Manifest {
        base: Some(manifest::AofFile {
            name: prefix.to_string(),
            seq: 1,
            kind: manifest::Kind::Base,
        }),
        ..Default::default()
    };
    let moved = std::fs::create_dir_all(dir)
        .and_then(|_| manifest::write(dir, prefix, &set))
        .and_then(|_| std::fs::rename(&old, dir.join(prefix)));
    moved.map_err(|e| {
        format!(
            "Can't move the append only file {} into {}: {e}",
            old.display(),
            dir.display()
        )
    })?;
    manifest::sync_dir(dir);
    tracing::info!(
        file = %old.display(),
        dir = %dir.display(),
        "moved the one-file AOF into the multi-part AOF directory as its base"
    );
    Ok(set)
}

/// Bytes of every file of the set.
fn set_size(dir: &Path, set: &manifest::Manifest) -> u64 {
    set.load_order().map(|f| file_bytes(dir, f)).sum()
}

/// Bytes of one file of the set (0 when it cannot be read).
fn file_bytes(dir: &Path, file: &manifest::AofFile) -> u64 {
    std::fs::metadata(dir.join(&file.name)).map_or(0, |m| m.len())
}

/// Keys deleted by expiry or eviction are recorded only while logging.
pub(crate) fn set_tracking(server: &mut Server, on: bool) {
    for db in &mut server.dbs {
        db.aof_track = on;
        if !on {
            db.aof_deleted.clear();
        }
    }
}

/// After CONFIG SET: `appendfsync` takes effect at once; `appendonly yes` writes the current
/// keyspace to the file and starts logging (as Redis does with a rewrite), `appendonly no`
/// stops it.
pub fn config_changed(server: &mut Server) -> Result<(), String> {
    server.aof.fsync = Fsync::parse(server.config.get("appendfsync").unwrap_or("everysec"));
    let want = config_on(server);
    if want && !server.aof.enabled && !server.aof.enabling {
        // Logging starts with a rewrite of the current keyspace: its base plus what is
        // logged from the same instant on.
        server.aof.enabling = true;
        if server.aof.rewrite.is_some() {
            // A rewrite without logging runs (BGREWRITEAOF while off): start over with one
            // that logs from its instant on.
            crate::rdb::snapshot::abort(server);
        }
        if let Err(e) = rewrite::start(server) {
            server.aof.enabling = false;
            return Err(format!("can't start the append only file: {e}"));
        }
        tracing::info!("append only file enabled: writing the current keyspace");
    } else if !want && (server.aof.enabled || server.aof.enabling) {
        if server.aof.rewrite.is_some() {
            crate::rdb::snapshot::abort(server);
        }
        server.aof.enabling = false;
        server.aof.rewrite_scheduled = false;
        server.aof.close();
        set_tracking(server, false);
        tracing::info!("append only file disabled");
    }
    Ok(())
}

/// Logs the deletions by expiry and eviction recorded since the last call, as DEL.
fn log_deletions(server: &mut Server) {
    for i in 0..server.dbs.len() {
        if server.dbs[i].aof_deleted.is_empty() {
            continue;
        }
        let keys = std::mem::take(&mut server.dbs[i].aof_deleted);
        for key in &keys {
            server.aof.append(i, &[b"DEL", &key[..]]);
        }
    }
}

/// Logs one command that ran in database `db` (deletions recorded before it come first).
pub fn log(server: &mut Server, db: usize, args: &[&[u8]]) {
    log_deletions(server);
    server.aof.append(db, args);
}

/// Writes what is buffered; called before replies are written. Under `always` the data is
/// on disk when this returns.
#[inline]
pub fn flush(server: &mut Server) {
    if !server.aof.enabled {
        return;
    }
    log_deletions(server);
    if server.aof.buf.is_empty() {
        return;
    }
    match server.aof.write_buffer() {
        Ok(()) => {
            if server.aof.last_write_error.take().is_some() {
                tracing::warn!(
                    "AOF write error looks solved; writing to the append only file again"
                );
            }
        }
        Err(e) => {
            if server.aof.last_write_error.is_none() {
                tracing::error!(path = %server.aof.path.display(), error = %e, "error writing to the append only file");
            }
            server.aof.last_write_error = Some(e.to_string());
        }
    }
}

/// From the cron: deletions by active expiry, retries after a failed write, the rewrite's
/// next slice and the automatic rewrite trigger.
pub fn cron(server: &mut Server) {
    flush(server);
    rewrite::cron(server);
}

/// Writes are refused while the file cannot be written (Redis's MISCONF for the AOF).
pub fn refuse_writes(server: &Server) -> Option<String> {
    server
        .aof
        .last_write_error
        .as_ref()
        .map(|e| format!("MISCONF Errors writing to the AOF file: {e}"))
}

/// INFO persistence's aof_* fields.
pub fn info_fields(server: &Server, t: &mut String) {
    use std::fmt::Write as _;
    let a = &server.aof;
    let rewriting = a.rewrite.is_some();
    let current_rewrite = a
        .rewrite
        .as_ref()
        .map(|r| r.started.elapsed().as_secs() as i64)
        .unwrap_or(-1);
    let _ = write!(
        t,
        "aof_enabled:{}\r\naof_rewrite_in_progress:{}\r\naof_rewrite_scheduled:{}\r\n\
         aof_last_rewrite_time_sec:{}\r\naof_current_rewrite_time_sec:{}\r\n\
         aof_last_bgrewrite_status:{}\r\naof_rewrites:{}\r\naof_rewrites_consecutive_failures:{}\r\n\
         aof_last_write_status:{}\r\naof_last_cow_size:0\r\n",
        (a.enabled || a.enabling) as u8,
        rewriting as u8,
        a.rewrite_scheduled as u8,
        if a.rewrites == 0 { -1 } else { a.last_rewrite_secs },
        current_rewrite,
        if a.rewrites == 0 || a.last_rewrite_ok { "ok" } else { "err" },
        a.rewrites,
        a.rewrite_failures,
        if a.last_write_error.is_none() { "ok" } else { "err" },
    );
}

/// INFO persistence's fields shown only while the AOF is on (after `module_fork_*`).
pub fn info_enabled_fields(server: &Server, t: &mut String) {
    use std::fmt::Write as _;
    let a = &server.aof;
    if !a.enabled {
        return;
    }
    let _ = write!(
        t,
        "aof_current_size:{}\r\naof_base_size:{}\r\naof_pending_rewrite:{}\r\n\
         aof_buffer_length:{}\r\naof_pending_bio_fsync:0\r\naof_delayed_fsync:{}\r\n",
        a.current_size,
        a.base_size,
        a.rewrite_scheduled as u8,
        a.buf.len(),
        a.delayed_fsync,
    );
}
