//! BGREWRITEAOF without stalling and without fork: the keyspace is written as commands
//! (RPUSH/SADD/HSET/ZADD/XADD + XSETID + XGROUP CREATE + XCLAIM, PEXPIREAT) to a temporary
//! file in bounded slices from the cron, while every new write still goes to the old file
//! and also to a rewrite buffer. At the end the buffer is appended, the file fsynced and
//! renamed over the old one.
//!
//! Consistency: the buffer holds every command since the rewrite began, so each key must be
//! written in the state it had just before the first buffered command touching it. A write
//! command therefore first writes the keys it names that the rewrite has not written yet
//! ([`before_write`]); a key the command finds absent is remembered as touched (its whole
//! life is in the buffer) and the scan skips it. Written keys carry the rewrite's number in
//! `Entry::aof_visit`, so the scan (which may see a key twice across a table resize) writes
//! each key once. Expiry and eviction deletions are logged as DEL, which the buffer holds too.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::resp::encode;
use crate::commands::{flags, CmdResult, CommandSpec, Ctx};
use crate::key::Key;
use crate::server::Server;
use crate::types::stream::StreamId;
use crate::types::Value;

/// Elements per emitted command (Redis's AOF_REWRITE_ITEMS_PER_CMD).
const ITEMS_PER_COMMAND: usize = 64;
/// Output buffered before it is written to the temporary file.
const WRITE_CHUNK: usize = 1 << 20;

enum Phase {
    Scanning,
    /// The written part is fsynced by a thread; the engine keeps serving meanwhile.
    Syncing(JoinHandle<std::io::Result<File>>),
}

pub struct Rewrite {
    pub started: Instant,
    epoch: u16,
    tmp_path: PathBuf,
    out: Option<BufWriter<File>>,
    /// Serialised commands not yet handed to `out` (one per slice).
    pending: Vec<u8>,
    snapshot_db: Option<usize>,
    db: usize,
    cursor: u64,
    /// Keys a command found absent (db, key): their whole life since is in the buffer.
    touched: HashSet<(usize, Key)>,
    /// Every command logged since the rewrite began.
    buffer: Vec<u8>,
    buffer_db: Option<usize>,
    phase: Phase,
    /// The rewrite also turns logging on at the end (CONFIG SET appendonly yes).
    enables: bool,
}

impl Rewrite {
    /// Removes the unfinished file (the engine stops, or the rewrite is abandoned).
    pub fn discard(self) {
        let _ = std::fs::remove_file(&self.tmp_path);
    }

    pub fn buffer_command(&mut self, db: usize, args: &[&[u8]]) {
        if self.buffer_db != Some(db) {
            let n = db.to_string();
            encode(&mut self.buffer, &[b"SELECT", n.as_bytes()]);
            self.buffer_db = Some(db);
        }
        encode(&mut self.buffer, args);
    }

    fn select(&mut self, db: usize) {
        if self.snapshot_db != Some(db) {
            let n = db.to_string();
            encode(&mut self.pending, &[b"SELECT", n.as_bytes()]);
            self.snapshot_db = Some(db);
        }
    }
}

/// Writes one key as commands that rebuild it.
pub fn emit_key(out: &mut Vec<u8>, key: &[u8], value: &Value, expire_at: Option<i64>) {
    match value {
        Value::Str(s) => {
            let v = s.to_vec();
            encode(out, &[b"SET", key, &v]);
        }
        Value::List(l) => emit_chunked(out, b"RPUSH", key, l.iter().map(|e| vec![e.to_vec()])),
        Value::Set(s) => {
            let mut members = Vec::with_capacity(s.len());
            s.for_each(|m| members.push(vec![m.to_vec()]));
            emit_chunked(out, b"SADD", key, members.into_iter());
        }
        Value::Hash(h) => {
            let mut pairs = Vec::with_capacity(h.len());
            h.for_each(|f, v| pairs.push(vec![f.to_vec(), v.to_vec()]));
            emit_chunked(out, b"HSET", key, pairs.into_iter());
        }
        Value::ZSet(z) => emit_chunked(
            out,
            b"ZADD",
            key,
            z.iter()
                .map(|(m, score)| vec![crate::util::format_double(score).into_bytes(), m.to_vec()]),
        ),
        Value::Stream(s) => emit_stream(out, key, s),
    }
    if let Some(at) = expire_at {
        let at = at.to_string();
        encode(out, &[b"PEXPIREAT", key, at.as_bytes()]);
    }
}

/// `name key item...` with at most [`ITEMS_PER_COMMAND`] items per command.
fn emit_chunked(
    out: &mut Vec<u8>,
    name: &[u8],
    key: &[u8],
    items: impl Iterator<Item = Vec<Vec<u8>>>,
) {
    let mut batch: Vec<Vec<u8>> = Vec::new();
    let mut count = 0;
    let flush = |out: &mut Vec<u8>, batch: &mut Vec<Vec<u8>>| {
        let mut args: Vec<&[u8]> = vec![name, key];
        args.extend(batch.iter().map(Vec::as_slice));
        encode(out, &args);
        batch.clear();
    };
    for item in items {
        batch.extend(item);
        count += 1;
        if count == ITEMS_PER_COMMAND {
            flush(out, &mut batch);
            count = 0;
        }
    }
    if count > 0 {
        flush(out, &mut batch);
    }
}

fn emit_stream(out: &mut Vec<u8>, key: &[u8], s: &crate::types::stream::Stream) {
    let last = s.last_id().to_string();
    if s.is_empty() {
        if s.last_id() == StreamId::MIN {
            // XADD cannot use 0-0: a temporary group creates the empty stream.
            encode(
                out,
                &[b"XGROUP", b"CREATE", key, b"__aof_tmp", b"0", b"MKSTREAM"],
            );
            encode(out, &[b"XGROUP", b"DESTROY", key, b"__aof_tmp"]);
        } else {
            encode(
                out,
                &[b"XADD", key, b"MAXLEN", b"0", last.as_bytes(), b"x", b"y"],
            );
        }
    }
    for entry in s.iter_range(StreamId::MIN, StreamId::MAX, false) {
        let id = entry.id().to_string();
        let fields = entry.to_vec();
        let mut args: Vec<&[u8]> = vec![b"XADD", key, id.as_bytes()];
        for (f, v) in &fields {
            args.push(f);
            args.push(v);
        }
        encode(out, &args);
    }
    let added = s.entries_added().to_string();
    let max_deleted = s.max_deleted_entry_id().to_string();
    encode(
        out,
        &[
            b"XSETID",
            key,
            last.as_bytes(),
            b"ENTRIESADDED",
            added.as_bytes(),
            b"MAXDELETEDID",
            max_deleted.as_bytes(),
        ],
    );
    for (name, g) in s.groups().iter() {
        let gl = g.last_id.to_string();
        let read = g.entries_read.to_string();
        encode(
            out,
            &[
                b"XGROUP",
                b"CREATE",
                key,
                name,
                gl.as_bytes(),
                b"ENTRIESREAD",
                read.as_bytes(),
            ],
        );
        for (id, nack) in &g.pel {
            let id = id.to_string();
            let t = nack.delivery_time.to_string();
            let c = nack.delivery_count.to_string();
            encode(
                out,
                &[
                    b"XCLAIM",
                    key,
                    name,
                    &nack.consumer,
                    b"0",
                    id.as_bytes(),
                    b"TIME",
                    t.as_bytes(),
                    b"RETRYCOUNT",
                    c.as_bytes(),
                    b"JUSTID",
                    b"FORCE",
                ],
            );
        }
        for (consumer, c) in &g.consumers {
            if c.pel.is_empty() {
                encode(out, &[b"XGROUP", b"CREATECONSUMER", key, name, consumer]);
            }
        }
    }
}

/// Writes the whole keyspace to `path` at once (temp file, fsync, rename).
pub fn write_snapshot_now(server: &Server, path: &Path) -> std::io::Result<()> {
    let tmp = temp_path(path, "now");
    let mut out = BufWriter::new(File::create(&tmp)?);
    let mut buf = Vec::new();
    for (i, db) in server.dbs.iter().enumerate() {
        if db.is_empty() {
            continue;
        }
        let n = i.to_string();
        encode(&mut buf, &[b"SELECT", n.as_bytes()]);
        for (k, e) in db.keys.iter() {
            emit_key(&mut buf, k, &e.value, db.expire_at(k));
            if buf.len() > WRITE_CHUNK {
                out.write_all(&buf)?;
                buf.clear();
            }
        }
    }
    out.write_all(&buf)?;
    let file = out.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    sync_dir(path);
    Ok(())
}

fn temp_path(path: &Path, tag: &str) -> PathBuf {
    let name = format!("temp-rewriteaof-{tag}-{}.aof", std::process::id());
    path.parent().unwrap_or(Path::new(".")).join(name)
}

fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
}

/// Starts a background rewrite. `enables`: logging starts when it ends (CONFIG SET
/// appendonly yes), until then commands are only buffered.
pub fn start(server: &mut Server, enables: bool) -> std::io::Result<()> {
    let path = if enables {
        super::file_path(server)
    } else {
        server.aof.path.clone()
    };
    let tmp = temp_path(&path, "bg");
    let out = BufWriter::new(File::create(&tmp)?);
    let epoch = next_epoch(server);
    if enables {
        server.aof.path = path;
    }
    // Commands logged from now on belong after the snapshot: flush what came before.
    super::flush(server);
    server.aof.rewrite = Some(Rewrite {
        started: Instant::now(),
        epoch,
        tmp_path: tmp,
        out: Some(out),
        pending: Vec::new(),
        snapshot_db: None,
        db: 0,
        cursor: 0,
        touched: HashSet::new(),
        buffer: Vec::new(),
        buffer_db: None,
        phase: Phase::Scanning,
        enables,
    });
    server.aof.rewrite_scheduled = false;
    tracing::info!("background append only file rewriting started");
    Ok(())
}

/// Writes `key` of database `db` now if the rewrite has not yet (before a command changes it).
fn visit(server: &mut Server, db: usize, key: &[u8]) {
    let Some(rw) = server.aof.rewrite.as_mut() else {
        return;
    };
    if !matches!(rw.phase, Phase::Scanning) {
        return;
    }
    let Some(d) = server.dbs.get_mut(db) else {
        return;
    };
    let expire = d.expire_at(key);
    match d.keys.get_mut(key) {
        Some(e) if e.aof_visit == rw.epoch => {}
        Some(e) => {
            if rw.touched.contains(&(db, Key::new(key))) {
                return;
            }
            e.aof_visit = rw.epoch;
            rw.select(db);
            emit_key(&mut rw.pending, key, &e.value, expire);
        }
        None => {
            rw.touched.insert((db, Key::new(key)));
        }
    }
}

/// Before a write command runs during a rewrite: the keys it names are written first.
pub fn before_write(
    server: &mut Server,
    db: usize,
    spec: &CommandSpec,
    sub: Option<&CommandSpec>,
    argv: &[&[u8]],
) {
    let target = sub.unwrap_or(spec);
    if target.flags & flags::WRITE == 0 {
        return;
    }
    match spec.name {
        "swapdb" => {
            // Databases trade places under the scan: start over once this one is done.
            abort(server, "SWAPDB during the rewrite");
            server.aof.rewrite_scheduled = true;
            return;
        }
        "move" => {
            if let Some(to) = argv.get(2).and_then(|a| crate::util::parse_i64(a)) {
                if to >= 0 && (to as usize) < server.dbs.len() {
                    visit(server, to as usize, argv[1]);
                }
            }
        }
        "copy" => {
            if let Some(i) = argv.iter().position(|a| a.eq_ignore_ascii_case(b"db")) {
                if let Some(to) = argv.get(i + 1).and_then(|a| crate::util::parse_i64(a)) {
                    if to >= 0 && (to as usize) < server.dbs.len() {
                        visit(server, to as usize, argv[2]);
                    }
                }
            }
        }
        _ => {}
    }
    let full = crate::commands::full_name(sub.map(|_| spec), target);
    for (pos, _, _) in crate::commands::server::keys_of(target, &full, argv) {
        if let Some(key) = argv.get(pos) {
            visit(server, db, key);
        }
    }
}

/// Ends a rewrite without using it.
fn abort(server: &mut Server, why: &str) {
    if let Some(rw) = server.aof.rewrite.take() {
        if rw.enables {
            server.aof.enabled = false;
            for db in &mut server.dbs {
                db.aof_track = false;
                db.aof_deleted.clear();
            }
        }
        rw.discard();
        server.aof.rewrite_failures += 1;
        server.aof.last_rewrite_ok = false;
        tracing::warn!(reason = why, "background append only file rewrite aborted");
    }
}

/// One cron step: scan a slice, or finish; start an automatic rewrite when the file grew.
pub fn cron(server: &mut Server) {
    if server.aof.rewrite.is_none() {
        if server.aof.rewrite_scheduled || auto_rewrite_due(server) {
            if let Err(e) = start(server, false) {
                tracing::warn!(error = %e, "cannot start the append only file rewrite");
                server.aof.rewrite_failures += 1;
            }
        }
        return;
    }
    let budget = Duration::from_micros(250_000 / server.config.hz.max(1) as u64);
    if let Err(e) = step(server, budget) {
        abort(server, &e.to_string());
    }
}

fn auto_rewrite_due(server: &Server) -> bool {
    let a = &server.aof;
    if !a.enabled || a.file.is_none() {
        return false;
    }
    let pct: u64 = server
        .config
        .get("auto-aof-rewrite-percentage")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let min: u64 = server
        .config
        .get("auto-aof-rewrite-min-size")
        .and_then(|v| v.parse().ok())
        .unwrap_or(64 << 20);
    if pct == 0 || a.current_size < min {
        return false;
    }
    let base = a.base_size.max(1);
    a.current_size.saturating_sub(base) * 100 / base >= pct
}

fn step(server: &mut Server, budget: Duration) -> std::io::Result<()> {
    let started = Instant::now();
    let scanning = matches!(
        server.aof.rewrite.as_ref().map(|r| &r.phase),
        Some(Phase::Scanning)
    );
    if scanning {
        while started.elapsed() < budget {
            if scan_slice(server) {
                break;
            }
        }
        write_pending(server)?;
        if scan_finished(server) {
            begin_sync(server)?;
        }
        return Ok(());
    }
    let done = matches!(
        server.aof.rewrite.as_ref().map(|r| &r.phase),
        Some(Phase::Syncing(h)) if h.is_finished()
    );
    if done {
        finish(server)?;
    }
    Ok(())
}

/// Scans a few buckets; returns true when every database is done.
fn scan_slice(server: &mut Server) -> bool {
    let Some(rw) = server.aof.rewrite.as_mut() else {
        return true;
    };
    for _ in 0..64 {
        if rw.db >= server.dbs.len() {
            return true;
        }
        let d = &mut server.dbs[rw.db];
        let mut found: Vec<Key> = Vec::new();
        let epoch = rw.epoch;
        let db_index = rw.db;
        let touched = &rw.touched;
        let next = d.keys.scan(rw.cursor, |k, e| {
            if e.aof_visit != epoch && !touched.contains(&(db_index, k.clone())) {
                found.push(k.clone());
            }
        });
        for k in found {
            let expire = d.expire_at(&k);
            if let Some(e) = d.keys.get_mut(&k[..]) {
                if e.aof_visit == epoch {
                    continue;
                }
                e.aof_visit = epoch;
                if rw.snapshot_db != Some(db_index) {
                    let n = db_index.to_string();
                    encode(&mut rw.pending, &[b"SELECT", n.as_bytes()]);
                    rw.snapshot_db = Some(db_index);
                }
                emit_key(&mut rw.pending, &k, &e.value, expire);
            }
        }
        rw.cursor = next;
        if next == 0 {
            rw.db += 1;
        }
        if rw.pending.len() > WRITE_CHUNK {
            break;
        }
    }
    rw.db >= server.dbs.len()
}

fn scan_finished(server: &Server) -> bool {
    server
        .aof
        .rewrite
        .as_ref()
        .is_some_and(|rw| rw.db >= server.dbs.len())
}

fn write_pending(server: &mut Server) -> std::io::Result<()> {
    if let Some(rw) = server.aof.rewrite.as_mut() {
        if let Some(out) = rw.out.as_mut() {
            out.write_all(&rw.pending)?;
        }
        rw.pending.clear();
    }
    Ok(())
}

fn begin_sync(server: &mut Server) -> std::io::Result<()> {
    let Some(rw) = server.aof.rewrite.as_mut() else {
        return Ok(());
    };
    let Some(out) = rw.out.take() else {
        return Ok(());
    };
    let file = out.into_inner().map_err(|e| e.into_error())?;
    let handle = std::thread::Builder::new()
        .name("aof-rewrite-fsync".into())
        .spawn(move || file.sync_all().map(|_| file))?;
    rw.phase = Phase::Syncing(handle);
    Ok(())
}

/// Appends the buffer, renames the new file over the old one and logs to it from now on.
fn finish(server: &mut Server) -> std::io::Result<()> {
    // Everything logged so far goes to the old file first; the buffer holds it too.
    super::flush(server);
    let Some(rw) = server.aof.rewrite.take() else {
        return Ok(());
    };
    let Phase::Syncing(handle) = rw.phase else {
        return Ok(());
    };
    let mut file = handle
        .join()
        .map_err(|_| std::io::Error::other("the rewrite fsync thread panicked"))??;
    file.write_all(&rw.buffer)?;
    file.sync_all()?;
    let path = server.aof.path.clone();
    std::fs::rename(&rw.tmp_path, &path)?;
    sync_dir(&path);
    server.aof.reopen()?;
    server.aof.base_size = server.aof.current_size;
    server.aof.rewrites += 1;
    server.aof.last_rewrite_ok = true;
    server.aof.last_rewrite_secs = rw.started.elapsed().as_secs() as i64;
    tracing::info!(
        path = %path.display(),
        bytes = server.aof.current_size,
        buffered = rw.buffer.len(),
        "background AOF rewrite finished successfully"
    );
    Ok(())
}

/// BGREWRITEAOF.
pub fn bgrewriteaof(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    use crate::commands::CmdError;
    if ctx.server.aof.rewrite.is_some() {
        return Err(CmdError::msg(
            "ERR Background append only file rewriting already in progress",
        ));
    }
    if !ctx.server.aof.enabled {
        // Nothing logs while the AOF is off: the file is written at once.
        let path = super::file_path(ctx.server);
        write_snapshot_now(ctx.server, &path)
            .map_err(|e| CmdError::msg(format!("ERR Can't write the append only file: {e}")))?;
        ctx.out
            .simple("Background append only file rewriting started");
        return Ok(());
    }
    start(ctx.server, false)
        .map_err(|e| CmdError::msg(format!("ERR Can't rewrite the append only file: {e}")))?;
    ctx.out
        .simple("Background append only file rewriting started");
    Ok(())
}

/// The mark of the next rewrite. Marks are 16 bits (they live in an entry's padding): when the
/// counter wraps, every entry's mark is cleared first, so an old mark never passes for the new
/// one (one pass over the keys, once per 65,535 rewrites).
fn next_epoch(server: &mut Server) -> u16 {
    server.aof.rewrite_epoch = server.aof.rewrite_epoch.wrapping_add(1);
    if server.aof.rewrite_epoch == 0 {
        for db in server.dbs.iter_mut() {
            for (_, entry) in db.keys.iter_mut() {
                entry.aof_visit = 0;
            }
        }
        server.aof.rewrite_epoch = 1;
    }
    server.aof.rewrite_epoch
}
