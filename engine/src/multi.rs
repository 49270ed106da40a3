//! Transactions (MULTI/EXEC/DISCARD) and optimistic locking (WATCH), following Redis's
//! `multi.c`.
//!
//! A client in MULTI gets `+QUEUED` for each command, which is stored, not run; an error found
//! while queueing (unknown command, wrong arity, a command not allowed in a transaction) flags
//! the transaction, and EXEC then refuses it with EXECABORT. EXEC runs the queue back to back,
//! so nothing else runs in between; runtime errors of single commands do not roll back.
//!
//! WATCH remembers keys; a later change to one of them, by any client, marks the watcher's
//! transaction dirty, and its EXEC replies with a null array. The registry lives on the server
//! (not on the client) so that a write can mark any watcher without borrowing its client.

use std::collections::HashMap;

use crate::commands::{CmdError, Ctx};

/// The transaction state of one client.
#[derive(Debug, Default)]
pub struct ClientTx {
    /// `Some` between MULTI and EXEC/DISCARD: the queued commands.
    queue: Option<Queue>,
    /// Set while EXEC runs the queue: blocking commands must not block and blocked clients are
    /// served after the whole transaction.
    pub executing: bool,
}

#[derive(Debug, Default)]
struct Queue {
    commands: Vec<Vec<Vec<u8>>>,
    /// An error was found while queueing: EXEC answers EXECABORT.
    aborted: bool,
}

impl ClientTx {
    pub fn in_multi(&self) -> bool {
        self.queue.is_some()
    }
}

/// One watched key of a client.
#[derive(Debug)]
struct WatchedKey {
    db: usize,
    key: Box<[u8]>,
    /// The key was already logically expired when WATCH ran (Redis 7.0 `wk->expired`): its
    /// removal is then not a change.
    expired: bool,
}

#[derive(Debug, Default)]
struct Watcher {
    keys: Vec<WatchedKey>,
    /// A watched key changed: the next EXEC fails (Redis's `CLIENT_DIRTY_CAS`).
    dirty: bool,
}

/// The server-wide WATCH registry.
#[derive(Debug, Default)]
pub struct Watches {
    /// Clients watching each (db, key).
    by_key: HashMap<(usize, Box<[u8]>), Vec<u64>>,
    by_client: HashMap<u64, Watcher>,
}

impl Watches {
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// A key changed: every client watching it gets a dirty transaction (`touchWatchedKey`).
    pub fn touch(&mut self, db: usize, key: &[u8], key_exists_now: bool) {
        if self.by_key.is_empty() {
            return;
        }
        let Some(ids) = self.by_key.get(&(db, Box::from(key))) else {
            return;
        };
        for id in ids.clone() {
            let Some(w) = self.by_client.get_mut(&id) else {
                continue;
            };
            if let Some(wk) = w
                .keys
                .iter_mut()
                .find(|wk| wk.expired && wk.db == db && &*wk.key == key)
            {
                // Watched while already expired, and now gone: logically no change.
                if !key_exists_now {
                    wk.expired = false;
                    continue;
                }
            }
            w.dirty = true;
        }
    }

    /// Every client watching a key of `db` for which `affected` holds becomes dirty (FLUSHDB,
    /// FLUSHALL, SWAPDB: Redis's `touchAllWatchedKeysInDb`).
    pub fn touch_db_keys(&mut self, db: usize, mut affected: impl FnMut(&[u8]) -> bool) {
        let mut dirty = Vec::new();
        for ((d, key), ids) in &self.by_key {
            if *d == db && affected(key) {
                dirty.extend(ids.iter().copied());
            }
        }
        for id in dirty {
            if let Some(w) = self.by_client.get_mut(&id) {
                w.dirty = true;
            }
        }
    }

    /// Forgets every key a client watches (UNWATCH, EXEC, DISCARD, disconnect).
    pub fn unwatch_all(&mut self, client_id: u64) {
        let Some(w) = self.by_client.remove(&client_id) else {
            return;
        };
        for wk in w.keys {
            let slot = (wk.db, wk.key);
            if let Some(ids) = self.by_key.get_mut(&slot) {
                ids.retain(|&id| id != client_id);
                if ids.is_empty() {
                    self.by_key.remove(&slot);
                }
            }
        }
    }
}

/// Commands that run at once inside MULTI instead of being queued.
fn runs_inside_multi(name: &str) -> bool {
    matches!(
        name,
        "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
    )
}

/// Called by `execute` for a client in MULTI before the command would run: queues it and
/// replies `+QUEUED` (true), or lets it run now (false). Commands flagged `no_multi` are
/// refused and flag the transaction.
pub fn queue_if_in_multi(
    ctx: &mut Ctx,
    spec: &crate::commands::CommandSpec,
    flags: u32,
    argv: &[&[u8]],
) -> bool {
    let Some(queue) = ctx.client.tx.queue.as_mut() else {
        return false;
    };
    if runs_inside_multi(spec.name) {
        return false;
    }
    if flags & crate::commands::flags::NO_MULTI != 0 {
        queue.aborted = true;
        let e = CmdError::msg("ERR Command not allowed inside a transaction");
        ctx.server.stats.record_error(e.text());
        ctx.out.error(e.text());
        return true;
    }
    queue
        .commands
        .push(argv.iter().map(|a| a.to_vec()).collect());
    ctx.out.simple("QUEUED");
    true
}

/// A command was rejected before running (unknown, wrong arity, NOAUTH, pub/sub context):
/// the transaction, if any, is flagged. A rejected EXEC ends the transaction (if any) with
/// Redis's `execCommandAbort` text; returns true when that reply was written instead of `e`.
pub fn reject(ctx: &mut Ctx, is_exec: bool, e: &CmdError) -> bool {
    if !is_exec {
        if let Some(queue) = ctx.client.tx.queue.as_mut() {
            queue.aborted = true;
        }
        return false;
    }
    // Even outside MULTI, as Redis's `rejectCommand` does for EXEC.
    discard(ctx);
    let text = e.text();
    // The reason without its error code when it is the generic ERR.
    let reason = text.strip_prefix("ERR ").unwrap_or(text);
    let abort = format!("EXECABORT Transaction discarded because of: {reason}");
    ctx.server.stats.record_error(&abort);
    ctx.out.error(&abort);
    true
}

/// MULTI.
pub fn begin(ctx: &mut Ctx) -> Result<(), CmdError> {
    if ctx.client.tx.in_multi() {
        return Err(CmdError::msg("ERR MULTI calls can not be nested"));
    }
    ctx.client.tx.queue = Some(Queue::default());
    ctx.out.ok();
    Ok(())
}

/// DISCARD's work (also RESET's): drops the queue and the watched keys.
pub fn discard(ctx: &mut Ctx) {
    ctx.client.tx.queue = None;
    ctx.server.watches.unwatch_all(ctx.client.id);
}

/// What EXEC must do, decided before anything runs.
pub enum ExecPlan {
    NotInMulti,
    /// Errors were found while queueing.
    Aborted,
    /// A watched key changed: reply with a null array.
    WatchFailed,
    Run(Vec<Vec<Vec<u8>>>),
}

/// Ends the transaction and says how EXEC goes on; watched keys are forgotten in every case.
pub fn take_for_exec(ctx: &mut Ctx) -> ExecPlan {
    let Some(queue) = ctx.client.tx.queue.take() else {
        return ExecPlan::NotInMulti;
    };
    let failed = watch_failed(ctx);
    ctx.server.watches.unwatch_all(ctx.client.id);
    if queue.aborted {
        ExecPlan::Aborted
    } else if failed {
        ExecPlan::WatchFailed
    } else {
        ExecPlan::Run(queue.commands)
    }
}

/// A watched key changed, or expired since WATCH (Redis 7.0 `isWatchedKeyExpired`: expiry
/// counts even when nobody touched the key yet).
fn watch_failed(ctx: &mut Ctx) -> bool {
    let Some(w) = ctx.server.watches.by_client.get(&ctx.client.id) else {
        return false;
    };
    if w.dirty {
        return true;
    }
    let now = ctx.now_ms;
    w.keys
        .iter()
        .any(|wk| !wk.expired && logically_expired(&ctx.server.dbs[wk.db], &wk.key, now))
}

/// The key is still stored but its TTL has passed (Redis's `keyIsExpired`), without removing it.
fn logically_expired(db: &crate::db::Db, key: &[u8], now_ms: i64) -> bool {
    db.expire_at(key).is_some_and(|at| at <= now_ms) && db.keys.get(key).is_some()
}

/// WATCH key...: the client is told of later changes to these keys in its selected db.
pub fn watch(ctx: &mut Ctx, keys: &[&[u8]]) -> Result<(), CmdError> {
    if ctx.client.tx.in_multi() {
        return Err(CmdError::msg("ERR WATCH inside MULTI is not allowed"));
    }
    let id = ctx.client.id;
    let db = ctx.client.db;
    let now = ctx.now_ms;
    let watches = &mut ctx.server.watches;
    let watcher = watches.by_client.entry(id).or_default();
    // No point in watching more once a change is known (as Redis).
    if !watcher.dirty {
        for &key in keys {
            if watcher.keys.iter().any(|wk| wk.db == db && &*wk.key == key) {
                continue;
            }
            let expired = logically_expired(&ctx.server.dbs[db], key, now);
            watcher.keys.push(WatchedKey {
                db,
                key: key.into(),
                expired,
            });
            watches.by_key.entry((db, key.into())).or_default().push(id);
        }
    }
    ctx.out.ok();
    Ok(())
}

/// UNWATCH.
pub fn unwatch(ctx: &mut Ctx) {
    ctx.server.watches.unwatch_all(ctx.client.id);
    ctx.out.ok();
}

/// A write command succeeded: the keys it named are changed for their watchers. Keys come from
/// the command's key positions, plus the numkeys/STREAMS forms of the movable-key writes.
pub fn touch_written_keys(ctx: &mut Ctx, spec: &crate::commands::CommandSpec, argv: &[&[u8]]) {
    if ctx.server.watches.is_empty() {
        return;
    }
    let db = ctx.client.db;
    let now = ctx.now_ms;
    for key in written_keys(spec, argv) {
        let exists = ctx.server.dbs[db].keys.get(key).is_some()
            && !logically_expired(&ctx.server.dbs[db], key, now);
        ctx.server.watches.touch(db, key, exists);
    }
}

fn written_keys<'a>(spec: &crate::commands::CommandSpec, argv: &[&'a [u8]]) -> Vec<&'a [u8]> {
    let argc = argv.len() as i32;
    let numkeys_at = |i: usize| -> Vec<&'a [u8]> {
        let n = argv
            .get(i)
            .and_then(|a| crate::util::parse_i64(a))
            .unwrap_or(0)
            .max(0) as usize;
        argv.iter().skip(i + 1).take(n).copied().collect()
    };
    match spec.name {
        "lmpop" | "zmpop" => return numkeys_at(1),
        "blmpop" | "bzmpop" => return numkeys_at(2),
        "xreadgroup" => {
            let Some(pos) = argv.iter().position(|a| a.eq_ignore_ascii_case(b"streams")) else {
                return Vec::new();
            };
            let rest = &argv[pos + 1..];
            return rest[..rest.len() / 2].to_vec();
        }
        _ => {}
    }
    if spec.first_key <= 0 {
        return Vec::new();
    }
    let last = if spec.last_key < 0 {
        argc + spec.last_key
    } else {
        spec.last_key
    };
    let step = spec.step.max(1);
    let mut keys = Vec::new();
    let mut i = spec.first_key;
    while i <= last && i < argc {
        keys.push(argv[i as usize]);
        i += step;
    }
    keys
}

/// Watchers to mark dirty if a FLUSHDB, FLUSHALL or SWAPDB about to run succeeds: those
/// watching a key that exists in a database being emptied or swapped (Redis's
/// `touchAllWatchedKeysInDb`). Computed before the command, applied after it.
pub fn before_flush(ctx: &mut Ctx, name: &str, argv: &[&[u8]]) -> Option<Vec<(usize, Vec<u8>)>> {
    if ctx.server.watches.is_empty() {
        return None;
    }
    let dbs: Vec<(usize, Option<usize>)> = match name {
        "flushdb" => vec![(ctx.client.db, None)],
        "flushall" => (0..ctx.server.dbs.len()).map(|d| (d, None)).collect(),
        "swapdb" => {
            let a = argv.get(1).and_then(|a| crate::util::parse_i64(a))?;
            let b = argv.get(2).and_then(|a| crate::util::parse_i64(a))?;
            let n = ctx.server.dbs.len() as i64;
            if !(0..n).contains(&a) || !(0..n).contains(&b) {
                return None;
            }
            vec![
                (a as usize, Some(b as usize)),
                (b as usize, Some(a as usize)),
            ]
        }
        _ => return None,
    };
    let mut touched = Vec::new();
    for (db, key) in ctx.server.watches.by_key.keys() {
        let Some(&(_, other)) = dbs.iter().find(|(d, _)| d == db) else {
            continue;
        };
        let exists = |d: usize| ctx.server.dbs[d].keys.get(&key[..]).is_some();
        if exists(*db) || other.is_some_and(exists) {
            touched.push((*db, key.to_vec()));
        }
    }
    Some(touched)
}

/// Applies what [`before_flush`] found.
pub fn after_flush(ctx: &mut Ctx, touched: Vec<(usize, Vec<u8>)>) {
    for (db, key) in touched {
        ctx.server
            .watches
            .touch_db_keys(db, |k| k == key.as_slice());
    }
}

/// Keys removed by lazy or active expiry since the last call are changes for their watchers
/// (Redis's `deleteExpiredKeyAndPropagate` → `signalModifiedKey`). Runs after every command and
/// after the cron's expiry cycle.
pub fn drain_expired(server: &mut crate::server::Server) {
    for db in 0..server.dbs.len() {
        if server.dbs[db].expired_log.is_empty() {
            continue;
        }
        let log = std::mem::take(&mut server.dbs[db].expired_log);
        for key in &log {
            server.watches.touch(db, key, false);
        }
        crate::notify::keys_expired(server, db, &log);
    }
}
