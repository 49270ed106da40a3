//! BGREWRITEAOF without stalling and without fork, as Redis 7 rewrites a multi-part AOF.
//!
//! At one instant the engine starts logging to a new incremental file (listed in the manifest
//! at once) and starts a snapshot of the keyspace as it is at that instant (`rdb::snapshot`,
//! the same slices and write barrier as BGSAVE) into a new base file: an RDB file, or RESP
//! commands with `aof-use-rdb-preamble no`. When the base is on disk the manifest is replaced
//! by one naming the new base and the new incremental file, and the older files are deleted.
//! A crash at any point leaves a manifest whose files rebuild every acknowledged write.
//!
//! `appendonly yes` set at runtime is a rewrite that also starts logging: its commands go to
//! a temporary incremental file that joins the set once the base exists.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::manifest::{self, AofFile, Manifest};
use super::resp::encode;
use crate::commands::{CmdError, CmdResult, Ctx};
use crate::rdb::snapshot::{self, Format, Purpose};
use crate::server::Server;
use crate::types::stream::StreamId;
use crate::types::Value;

/// Elements per emitted command (Redis's AOF_REWRITE_ITEMS_PER_CMD).
const ITEMS_PER_COMMAND: usize = 64;
/// After a failed rewrite, the next one waits this long (Redis waits for its cron).
const RETRY_DELAY: Duration = Duration::from_secs(5);

/// A rewrite in progress: its snapshot is `server.rdb.bg`.
pub struct Rewrite {
    pub started: Instant,
    base: AofFile,
    /// Logging started with this rewrite: the temporary incremental file it logs to.
    enabling: Option<PathBuf>,
}

impl Rewrite {
    /// Removes what only this rewrite would have used (the engine stops mid-rewrite).
    pub fn discard(self) {
        if let Some(temp) = self.enabling {
            let _ = std::fs::remove_file(temp);
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

/// How a rewrite request went.
pub enum Started {
    Now,
    /// A snapshot (BGSAVE) runs: the rewrite starts after it.
    Scheduled,
}

/// Starts a rewrite at this instant, or schedules it behind a running BGSAVE. With
/// `aof.enabling` it also starts logging.
pub fn start(server: &mut Server) -> Result<Started, String> {
    if server.aof.rewrite.is_some() {
        return Err("Background append only file rewriting already in progress".into());
    }
    if server.rdb.bg.is_some() {
        server.aof.rewrite_scheduled = true;
        return Ok(Started::Scheduled);
    }
    server.aof.rewrite_scheduled = false;
    let dir = manifest::dir_path(&server.config);
    let prefix = manifest::prefix(&server.config);
    std::fs::create_dir_all(&dir)
        .map_err(|e| format!("can't create the AOF directory {}: {e}", dir.display()))?;
    if !server.aof.enabled {
        // Not logging: the set on disk (if any) is the one the new base replaces.
        server.aof.manifest = manifest::read(&dir, &prefix)?.unwrap_or_default();
    }
    let commands = server.config.get("aof-use-rdb-preamble") == Some("no");
    let base = server.aof.manifest.next_base(&prefix, commands);
    // What was logged before this instant belongs to the old files.
    super::flush(server);
    let enabling = if server.aof.enabling {
        let temp = dir.join(format!("temp-{prefix}.incr"));
        std::fs::File::create(&temp)
            .and_then(|_| server.aof.open(temp.clone()))
            .map_err(|e| format!("can't create {}: {e}", temp.display()))?;
        super::set_tracking(server, true);
        Some(temp)
    } else {
        if server.aof.enabled {
            server.aof.switch_to_new_incr(&dir, &prefix).map_err(|e| {
                format!(
                    "can't open a new incremental file in {}: {e}",
                    dir.display()
                )
            })?;
        }
        None
    };
    let format = if commands {
        Format::Commands
    } else {
        Format::Rdb
    };
    if let Err(e) = snapshot::start_to(server, &dir.join(&base.name), Purpose::AofBase, format) {
        if let Some(temp) = enabling {
            stop_logging(server, &temp);
        }
        return Err(e);
    }
    server.aof.rewrite = Some(Rewrite {
        started: Instant::now(),
        base,
        enabling,
    });
    tracing::info!("background append only file rewriting started");
    Ok(Started::Now)
}

/// The snapshot of a rewrite ended (`rdb::snapshot`): installs the new base, or counts the
/// failure.
pub fn base_finished(server: &mut Server, outcome: Result<u64, String>) {
    let Some(rw) = server.aof.rewrite.take() else {
        return;
    };
    let installed = outcome.and_then(|bytes| install(server, &rw, bytes));
    let secs = rw.started.elapsed().as_secs() as i64;
    server.aof.last_rewrite_secs = secs;
    match installed {
        Ok(()) => {
            server.aof.rewrites += 1;
            server.aof.rewrite_failures = 0;
            server.aof.last_rewrite_ok = true;
            server.aof.enabling = false;
            tracing::info!(
                base = %rw.base.name,
                bytes = server.aof.current_size,
                ms = rw.started.elapsed().as_millis() as u64,
                "background AOF rewrite finished successfully"
            );
        }
        Err(e) => {
            server.aof.rewrite_failures += 1;
            server.aof.last_rewrite_ok = false;
            server.aof.rewrite_retry_at = Some(Instant::now() + RETRY_DELAY);
            let dir = manifest::dir_path(&server.config);
            let _ = std::fs::remove_file(dir.join(&rw.base.name));
            if let Some(temp) = &rw.enabling {
                // Logging waits for a base: try again later, as Redis's AOF_WAIT_REWRITE.
                stop_logging(server, temp);
                server.aof.rewrite_scheduled = true;
            }
            tracing::warn!(error = %e, "background append only file rewrite failed");
        }
    }
}

/// The base is on disk: the manifest names it and the incremental file logged to since the
/// rewrite began; the files it replaces are deleted.
fn install(server: &mut Server, rw: &Rewrite, base_bytes: u64) -> Result<(), String> {
    let dir = manifest::dir_path(&server.config);
    let prefix = manifest::prefix(&server.config);
    let old = std::mem::take(&mut server.aof.manifest);
    let mut new = Manifest {
        base: Some(rw.base.clone()),
        ..Default::default()
    };
    if let Some(temp) = &rw.enabling {
        let incr = old.next_incr(&prefix);
        let path = dir.join(&incr.name);
        std::fs::rename(temp, &path)
            .map_err(|e| format!("can't rename {} to {}: {e}", temp.display(), path.display()))?;
        server.aof.path = path;
        new.incrs.push(incr);
    } else if server.aof.enabled {
        new.incrs.extend(old.incrs.last().cloned());
    }
    if let Err(e) = manifest::write(&dir, &prefix, &new) {
        server.aof.manifest = old;
        return Err(format!(
            "can't write the AOF manifest in {}: {e}",
            dir.display()
        ));
    }
    let kept: Vec<&str> = new.load_order().map(|f| f.name.as_str()).collect();
    let replaced = old.load_order().chain(old.history.iter());
    let replaced: Vec<PathBuf> = replaced
        .filter(|f| !kept.contains(&f.name.as_str()))
        .map(|f| dir.join(&f.name))
        .collect();
    remove_in_background(replaced);
    let incr_bytes = if server.aof.enabled {
        std::fs::metadata(&server.aof.path).map_or(0, |m| m.len())
    } else {
        0
    };
    server.aof.manifest = new;
    server.aof.current_size = base_bytes + incr_bytes;
    server.aof.base_size = server.aof.current_size;
    Ok(())
}

/// Deletes replaced files on another thread: unlinking a file of hundreds of megabytes takes
/// the file system tens of milliseconds (Redis's `bg_unlink`).
fn remove_in_background(paths: Vec<PathBuf>) {
    if paths.is_empty() {
        return;
    }
    let remove = |paths: &[PathBuf]| {
        for path in paths {
            let _ = std::fs::remove_file(path);
        }
    };
    let background = paths.clone();
    let spawned = std::thread::Builder::new()
        .name("aof-unlink".into())
        .spawn(move || remove(&background));
    if spawned.is_err() {
        remove(&paths);
    }
}

/// Logging that began with a failed rewrite ends; its temporary file goes.
fn stop_logging(server: &mut Server, temp: &Path) {
    server.aof.close();
    super::set_tracking(server, false);
    let _ = std::fs::remove_file(temp);
}

/// From the cron: starts a scheduled or automatic rewrite once no snapshot runs.
pub fn cron(server: &mut Server) {
    if server.aof.rewrite.is_some() || server.rdb.bg.is_some() {
        return;
    }
    if server
        .aof
        .rewrite_retry_at
        .is_some_and(|at| Instant::now() < at)
    {
        return;
    }
    if server.aof.rewrite_scheduled || auto_rewrite_due(server) {
        if let Err(e) = start(server) {
            tracing::warn!(error = %e, "cannot start the append only file rewrite");
            server.aof.rewrite_failures += 1;
            server.aof.rewrite_retry_at = Some(Instant::now() + RETRY_DELAY);
        }
    }
}

fn auto_rewrite_due(server: &Server) -> bool {
    let a = &server.aof;
    if !a.enabled {
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

/// BGREWRITEAOF.
pub fn bgrewriteaof(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    if ctx.client.tx.executing && ctx.server.aof.rewrite.is_none() {
        // Inside EXEC the log is between MULTI and EXEC: the files switch after it.
        ctx.server.aof.rewrite_scheduled = true;
        ctx.out
            .simple("Background append only file rewriting scheduled");
        return Ok(());
    }
    match start(ctx.server) {
        Ok(Started::Now) => ctx
            .out
            .simple("Background append only file rewriting started"),
        Ok(Started::Scheduled) => ctx
            .out
            .simple("Background append only file rewriting scheduled"),
        Err(e) if ctx.server.aof.rewrite.is_some() => {
            return Err(CmdError::msg(format!("ERR {e}")))
        }
        Err(e) => {
            tracing::warn!(error = %e, "BGREWRITEAOF failed");
            return Err(CmdError::msg(
                "ERR Can't execute an AOF background rewriting. Please check the server logs for more information.",
            ));
        }
    }
    Ok(())
}
