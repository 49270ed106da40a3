//! Blocking commands (BLPOP, BLMOVE, XREAD BLOCK, ...), following Redis's design: a command
//! that finds nothing to serve asks to block instead of replying ([`BlockRequest`]); the
//! connection then saves its arguments in the server's waiter registry ([`Blocking`]) and stops
//! running its pipelined input. A write to a key someone waits on marks the key ready; after
//! that command the engine re-runs the saved commands of the key's waiters in the order they
//! blocked (FIFO), and a waiter whose command now produces a reply gets it through its
//! [`Waiter`] slot and is woken. Timeouts are the blocked connection's own timer.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet, VecDeque};
use std::rc::Rc;
use std::time::Duration;

use tokio::sync::Notify;

use crate::commands::{self, CmdError, Ctx};
use crate::protocol::reply::Reply;
use crate::types::Value;

/// What a blocked command waits for, which decides what wakes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockKind {
    /// BLPOP & co: served when a key holds a list again (other types keep it waiting).
    List,
    /// XREAD BLOCK: served when a key holds a stream with newer entries.
    Stream,
    /// XREADGROUP BLOCK: as `Stream`, but the key's deletion or retyping ends the wait with
    /// an error.
    StreamGroup,
}

/// Set by a handler that has nothing to serve and wants to block (it writes no reply).
#[derive(Debug)]
pub struct BlockRequest {
    pub kind: BlockKind,
    pub keys: Vec<Box<[u8]>>,
    /// `None` waits forever (timeout 0).
    pub timeout: Option<Duration>,
    /// Arguments to replace in the saved command (argument index, new text), e.g. XREAD's `$`
    /// by the ID it stood for when the client blocked.
    pub rewrites: Vec<(usize, Vec<u8>)>,
}

/// One blocked client's slot: the saved command, and where its reply goes when served.
pub struct Waiter {
    pub client_id: u64,
    pub db: usize,
    pub kind: BlockKind,
    pub keys: Vec<Box<[u8]>>,
    pub argv: Vec<Vec<u8>>,
    pub reply: RefCell<Option<Vec<u8>>>,
    pub notify: Notify,
}

/// The waiter registry of one engine.
#[derive(Default)]
pub struct Blocking {
    /// Client ids waiting on each (db, key), in the order they blocked.
    by_key: HashMap<(usize, Box<[u8]>), VecDeque<u64>>,
    /// Every blocked client by id.
    waiters: HashMap<u64, Rc<Waiter>>,
    /// Keys written since the last serving pass that have waiters (and the set for dedup).
    ready: Vec<(usize, Box<[u8]>)>,
    ready_set: HashSet<(usize, Box<[u8]>)>,
    /// Set while ready keys are being served: serving must not start again from within.
    serving: bool,
}

impl Blocking {
    /// INFO clients `blocked_clients`.
    pub fn blocked_clients(&self) -> usize {
        self.waiters.len()
    }

    /// Registers a client as blocked on the request's keys and returns its slot.
    pub fn block(
        &mut self,
        client_id: u64,
        db: usize,
        request: BlockRequest,
        argv: Vec<Vec<u8>>,
    ) -> Rc<Waiter> {
        let waiter = Rc::new(Waiter {
            client_id,
            db,
            kind: request.kind,
            keys: request.keys,
            argv,
            reply: RefCell::new(None),
            notify: Notify::new(),
        });
        for key in &waiter.keys {
            let queue = self.by_key.entry((db, key.clone())).or_default();
            // The same key twice in one command waits once.
            if !queue.contains(&client_id) {
                queue.push_back(client_id);
            }
        }
        self.waiters.insert(client_id, waiter.clone());
        waiter
    }

    /// Removes a client from the registry (served, timed out or disconnected).
    pub fn unblock(&mut self, client_id: u64) {
        let Some(waiter) = self.waiters.remove(&client_id) else {
            return;
        };
        for key in &waiter.keys {
            let slot = (waiter.db, key.clone());
            if let Some(queue) = self.by_key.get_mut(&slot) {
                queue.retain(|&id| id != client_id);
                if queue.is_empty() {
                    self.by_key.remove(&slot);
                }
            }
        }
    }

    /// A write touched `key`: if anyone waits on it, it is served after this command.
    pub fn signal_key(&mut self, db: usize, key: &[u8]) {
        if self.by_key.is_empty() {
            return;
        }
        let slot = (db, Box::<[u8]>::from(key));
        if self.by_key.contains_key(&slot) && self.ready_set.insert(slot.clone()) {
            self.ready.push(slot);
        }
    }

    pub fn has_ready(&self) -> bool {
        !self.ready.is_empty() && !self.serving
    }
}

/// Serves the waiters of every ready key, in the order the keys became ready and, per key, in
/// the order the clients blocked. Serving may make more keys ready (BLMOVE pushes): loops until
/// none is left.
pub fn serve_ready_keys(ctx: &mut Ctx) {
    if !ctx.server.blocking.has_ready() {
        return;
    }
    ctx.server.blocking.serving = true;
    while !ctx.server.blocking.ready.is_empty() {
        let ready = std::mem::take(&mut ctx.server.blocking.ready);
        ctx.server.blocking.ready_set.clear();
        for (db, key) in ready {
            serve_key(ctx, db, &key);
        }
    }
    ctx.server.blocking.serving = false;
}

/// What a waiter's key holds now, as far as waking it is concerned.
enum KeyState {
    Missing,
    List,
    Stream,
    Other,
}

fn key_state(ctx: &mut Ctx, db: usize, key: &[u8]) -> KeyState {
    let now = ctx.now_ms;
    match ctx.server.dbs[db].get(key, now) {
        None => KeyState::Missing,
        Some(Value::List(_)) => KeyState::List,
        Some(Value::Stream(_)) => KeyState::Stream,
        Some(_) => KeyState::Other,
    }
}

fn serve_key(ctx: &mut Ctx, db: usize, key: &[u8]) {
    let ids: Vec<u64> = match ctx.server.blocking.by_key.get(&(db, Box::from(key))) {
        Some(queue) => queue.iter().copied().collect(),
        None => return,
    };
    for id in ids {
        let Some(waiter) = ctx.server.blocking.waiters.get(&id).cloned() else {
            continue;
        };
        let state = key_state(ctx, db, key);
        let outcome = match (waiter.kind, state) {
            (BlockKind::List, KeyState::List) => rerun(ctx, &waiter),
            (BlockKind::Stream | BlockKind::StreamGroup, KeyState::Stream) => rerun(ctx, &waiter),
            (BlockKind::StreamGroup, KeyState::Missing | KeyState::Other) => {
                Some(unblocked_error(ctx, &waiter))
            }
            _ => None,
        };
        if let Some(reply) = outcome {
            ctx.server.blocking.unblock(id);
            *waiter.reply.borrow_mut() = Some(reply);
            waiter.notify.notify_one();
        }
    }
}

fn waiter_reply(ctx: &Ctx, waiter: &Waiter) -> Reply {
    let mut out = Reply::new();
    out.resp3 = ctx
        .server
        .clients
        .get(&waiter.client_id)
        .is_some_and(|c| c.try_borrow().is_ok_and(|c| c.resp == 3));
    out
}

/// Redis 7.0: XREADGROUP clients blocked on a key that is deleted or retyped are released with
/// this error.
fn unblocked_error(ctx: &mut Ctx, waiter: &Waiter) -> Vec<u8> {
    let e = CmdError::msg("UNBLOCKED the stream key no longer exists");
    ctx.server.stats.record_error(e.text());
    let mut out = waiter_reply(ctx, waiter);
    out.error(e.text());
    out.buf
}

/// Runs the waiter's saved command as its client: the reply if it produced one, `None` if it
/// asked to block again.
fn rerun(ctx: &mut Ctx, waiter: &Waiter) -> Option<Vec<u8>> {
    let client_rc = ctx.server.clients.get(&waiter.client_id).cloned()?;
    let mut client = client_rc.try_borrow_mut().ok()?;
    let mut out = waiter_reply(ctx, waiter);
    let argv: Vec<&[u8]> = waiter.argv.iter().map(Vec::as_slice).collect();
    let (spec, sub) = commands::resolve(&argv).ok()?;
    let saved_db = client.db;
    client.db = waiter.db;
    let mut wctx = Ctx {
        server: &mut *ctx.server,
        client: &mut client,
        out: &mut out,
        now_ms: ctx.now_ms,
    };
    let target = sub.unwrap_or(spec);
    let result = (target.handler)(&mut wctx, &argv);
    let blocked_again = wctx.client.block_request.take().is_some();
    match result {
        Err(e) => {
            // Redis 7.0 releases an XREADGROUP whose group was destroyed with its own text.
            let e = match e {
                CmdError::Msg(m)
                    if waiter.kind == BlockKind::StreamGroup && m.starts_with("NOGROUP") =>
                {
                    CmdError::msg(
                        "NOGROUP the consumer group this client was blocked on no longer exists",
                    )
                }
                other => other,
            };
            ctx.server.stats.record_error(e.text());
            out.error(e.text());
        }
        Ok(()) if blocked_again => {
            client.db = saved_db;
            return None;
        }
        Ok(()) => {
            // Redis counts a served write (a pop) as a change; a BLMOVE's push may serve
            // others in turn.
            ctx.server.dirty += 1;
            let mut wctx = Ctx {
                server: &mut *ctx.server,
                client: &mut client,
                out: &mut out,
                now_ms: ctx.now_ms,
            };
            commands::signal_written_keys(&mut wctx, target, &argv);
        }
    }
    client.db = saved_db;
    Some(out.buf)
}

/// Parses a blocking timeout in seconds (BLPOP & co) like Redis's
/// `getTimeoutFromObjectOrReply`: `None` waits forever.
pub fn parse_seconds_timeout(arg: &[u8]) -> Result<Option<Duration>, CmdError> {
    let secs = crate::util::parse_f64(arg)
        .filter(|v| !v.is_nan())
        .ok_or_else(|| CmdError::msg("ERR timeout is not a float or out of range"))?;
    let ms = (secs * 1000.0).ceil();
    // Redis casts to long long: out-of-range values turn negative on x86.
    if !(ms >= 0.0 && ms < i64::MAX as f64) {
        return Err(CmdError::msg("ERR timeout is negative"));
    }
    Ok(timeout_from_ms(ms as i64))
}

/// Parses a blocking timeout in milliseconds (XREAD BLOCK).
pub fn parse_ms_timeout(arg: &[u8]) -> Result<Option<Duration>, CmdError> {
    let ms = crate::util::parse_i64(arg)
        .ok_or_else(|| CmdError::msg("ERR timeout is not an integer or out of range"))?;
    if ms < 0 {
        return Err(CmdError::msg("ERR timeout is negative"));
    }
    Ok(timeout_from_ms(ms))
}

fn timeout_from_ms(ms: i64) -> Option<Duration> {
    (ms > 0).then(|| Duration::from_millis(ms as u64))
}
