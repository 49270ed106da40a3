//! Command execution: the command spec type, the error type every handler returns, the context a
//! handler runs in, and `execute`, which looks a command up in the one table
//! ([`table::COMMANDS`]), checks arity, runs it and keeps its statistics.
//!
//! Families live in their own files (`string.rs`, `hash.rs`, ...), like Redis's `t_*.c`.

pub mod acl;
pub mod command;
pub mod config;
pub mod connection;
pub mod debug;
pub mod function;
pub mod generic;
pub mod hash;
pub mod info;
pub mod list;
pub mod memory;
pub mod persist;
pub mod pubsub;
pub mod scripting;
pub mod server;
pub mod set;
pub mod shutdown;
pub mod stream;
pub mod stream_group;
pub mod string;
pub mod table;
pub mod transaction;
pub mod zset;

use std::borrow::Cow;
use std::time::Instant;

use crate::db::Db;
use crate::protocol::reply::Reply;
use crate::server::{Client, Server};

/// Command flags, named as COMMAND INFO reports them.
pub mod flags {
    pub const WRITE: u32 = 1 << 0;
    pub const READONLY: u32 = 1 << 1;
    pub const DENYOOM: u32 = 1 << 2;
    pub const ADMIN: u32 = 1 << 3;
    pub const PUBSUB: u32 = 1 << 4;
    pub const NOSCRIPT: u32 = 1 << 5;
    pub const BLOCKING: u32 = 1 << 6;
    pub const LOADING: u32 = 1 << 7;
    pub const STALE: u32 = 1 << 8;
    pub const SKIP_MONITOR: u32 = 1 << 9;
    pub const SKIP_SLOWLOG: u32 = 1 << 10;
    pub const FAST: u32 = 1 << 11;
    pub const NO_AUTH: u32 = 1 << 12;
    pub const MAY_REPLICATE: u32 = 1 << 13;
    pub const NO_MULTI: u32 = 1 << 14;
    pub const MOVABLE_KEYS: u32 = 1 << 15;
    pub const ALLOW_BUSY: u32 = 1 << 16;
    pub const SENTINEL: u32 = 1 << 17;
    /// Persistence: SAVE, BGSAVE and BGREWRITEAOF are refused while loading asynchronously.
    pub const NO_ASYNC_LOADING: u32 = 1 << 18;
    /// EVAL and friends: a call naming no key is still valid.
    pub const NO_MANDATORY_KEYS: u32 = 1 << 19;

    /// (flag, name) in the order Redis prints them.
    pub const NAMES: &[(u32, &str)] = &[
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (NOSCRIPT, "noscript"),
        (BLOCKING, "blocking"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (SKIP_MONITOR, "skip_monitor"),
        (SKIP_SLOWLOG, "skip_slowlog"),
        (FAST, "fast"),
        (NO_AUTH, "no_auth"),
        (MAY_REPLICATE, "may_replicate"),
        (SENTINEL, "sentinel"),
        (NO_MANDATORY_KEYS, "no_mandatory_keys"),
        (NO_ASYNC_LOADING, "no_async_loading"),
        (NO_MULTI, "no_multi"),
        (MOVABLE_KEYS, "movablekeys"),
        (ALLOW_BUSY, "allow_busy"),
    ];
}

/// Command groups, as COMMAND DOCS reports them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    Generic,
    String,
    Hash,
    Set,
    SortedSet,
    Stream,
    List,
    Server,
    Connection,
    PubSub,
    Transactions,
    Scripting,
    Bitmap,
}

impl Group {
    pub fn name(self) -> &'static str {
        match self {
            Group::Generic => "generic",
            Group::String => "string",
            Group::Hash => "hash",
            Group::Set => "set",
            Group::SortedSet => "sorted-set",
            Group::Stream => "stream",
            Group::List => "list",
            Group::Server => "server",
            Group::Connection => "connection",
            Group::PubSub => "pubsub",
            Group::Transactions => "transactions",
            Group::Scripting => "scripting",
            Group::Bitmap => "bitmap",
        }
    }
}

pub type Handler = fn(&mut Ctx, &[&[u8]]) -> CmdResult;

/// A view of a stored value as one type (`Value::as_hash_mut` and friends).
pub type Project<T> = fn(&mut crate::types::Value) -> Option<&mut T>;

/// A looked-up value as one type: `None` if missing, WRONGTYPE if it holds another type.
fn as_type<T: ?Sized>(
    found: Option<&mut crate::types::Value>,
    project: Project<T>,
) -> Result<Option<&mut T>, CmdError> {
    match found {
        None => Ok(None),
        Some(v) => project(v).map(Some).ok_or(CmdError::WrongType),
    }
}

/// Removes each of `items` from a collection (`remove` says whether it was there), stopping
/// once it is empty as HDEL, SREM and ZREM do (the caller then deletes the key); how many
/// were removed.
fn remove_each<C: ?Sized>(
    collection: &mut C,
    items: &[&[u8]],
    mut remove: impl FnMut(&mut C, &[u8]) -> bool,
    is_empty: impl Fn(&C) -> bool,
) -> i64 {
    let mut removed = 0;
    for item in items {
        if remove(collection, item) {
            removed += 1;
            if is_empty(collection) {
                break;
            }
        }
    }
    removed
}

/// One entry of the command table.
pub struct CommandSpec {
    /// Lower-case name (`config|get` style full names are built for subcommands).
    pub name: &'static str,
    /// Redis arity: positive = exact argument count including the name, negative = at least.
    pub arity: i32,
    pub flags: u32,
    pub first_key: i32,
    pub last_key: i32,
    pub step: i32,
    pub group: Group,
    pub since: &'static str,
    pub summary: &'static str,
    pub complexity: &'static str,
    pub handler: Handler,
    pub subcommands: &'static [CommandSpec],
}

/// An error reply. The text includes the error code, as on the wire (`ERR ...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CmdError {
    WrongType,
    NotInteger,
    NotFloat,
    Syntax,
    Overflow,
    NoSuchKey,
    OutOfRange,
    Msg(Cow<'static, str>),
}

impl CmdError {
    pub fn msg(text: impl Into<Cow<'static, str>>) -> Self {
        CmdError::Msg(text.into())
    }

    pub fn text(&self) -> &str {
        match self {
            CmdError::WrongType => {
                "WRONGTYPE Operation against a key holding the wrong kind of value"
            }
            CmdError::NotInteger => "ERR value is not an integer or out of range",
            CmdError::NotFloat => "ERR value is not a valid float",
            CmdError::Syntax => "ERR syntax error",
            CmdError::Overflow => "ERR increment or decrement would overflow",
            CmdError::NoSuchKey => "ERR no such key",
            CmdError::OutOfRange => "ERR index out of range",
            CmdError::Msg(m) => m,
        }
    }
}

pub type CmdResult = Result<(), CmdError>;

/// What a handler runs with: the engine's state, the calling client, the reply buffer and the
/// time snapshot of this command.
pub struct Ctx<'a> {
    pub server: &'a mut Server,
    pub client: &'a mut Client,
    pub out: &'a mut Reply,
    pub now_ms: i64,
}

impl Ctx<'_> {
    /// The database the client has selected.
    #[inline]
    pub fn db(&mut self) -> &mut Db {
        &mut self.server.dbs[self.client.db]
    }

    #[inline]
    pub fn rand(&mut self) -> u64 {
        self.server.rng.next_u64()
    }
}

/// Parses an integer argument (`ERR value is not an integer or out of range`).
pub fn arg_i64(arg: &[u8]) -> Result<i64, CmdError> {
    crate::util::parse_i64(arg).ok_or(CmdError::NotInteger)
}

/// Redis's reply when a count is not a "positive long" (`getPositiveLongFromObjectOrReply`).
pub const NOT_POSITIVE: &str = "ERR value is out of range, must be positive";

/// A "positive long" argument, 0..=i64::MAX (`getPositiveLongFromObjectOrReply`); `msg` when
/// it is anything else.
pub fn arg_count(arg: &[u8], msg: &'static str) -> Result<usize, CmdError> {
    crate::util::parse_i64(arg)
        .and_then(|n| usize::try_from(n).ok())
        .ok_or(CmdError::msg(msg))
}

/// The optional COUNT of LPOP, ZPOPMIN and the like: `None` when not given.
pub fn optional_count(arg: Option<&[u8]>) -> Result<Option<usize>, CmdError> {
    arg.map(|a| arg_count(a, NOT_POSITIVE)).transpose()
}

/// Parses a float argument (`ERR value is not a valid float`).
pub fn arg_f64(arg: &[u8]) -> Result<f64, CmdError> {
    crate::util::parse_f64(arg).ok_or(CmdError::NotFloat)
}

/// Truncates binary text the way `%.Ns` does in Redis's error formatting (stops at NUL).
pub fn c_text(arg: &[u8], max: usize) -> String {
    let end = arg
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(arg.len())
        .min(max);
    String::from_utf8_lossy(&arg[..end]).into_owned()
}

/// The table entry for a command name (any case).
#[inline]
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    table::lookup(name)
}

/// Full name for stats and errors (`config|get`).
pub fn full_name(parent: Option<&CommandSpec>, spec: &CommandSpec) -> String {
    match parent {
        Some(p) => format!("{}|{}", p.name, spec.name),
        None => spec.name.to_string(),
    }
}

fn arity_ok(arity: i32, argc: usize) -> bool {
    (arity > 0 && argc as i32 == arity) || (arity < 0 && argc as i32 >= -arity)
}

/// Resolves the spec (and subcommand spec) that `argv` names, or writes the error Redis would
/// reply for an unknown command or a wrong argument count.
pub fn resolve(argv: &[&[u8]]) -> Result<Resolved, CmdError> {
    resolve_counting(argv).map_err(|(e, _)| e)
}

/// Redis's reply to a command name it does not know.
fn unknown_command(argv: &[&[u8]]) -> CmdError {
    let mut args = String::new();
    for a in argv.iter().skip(1) {
        if args.len() >= 128 {
            break;
        }
        let room = 128 - args.len();
        args.push_str(&format!("'{}' ", c_text(a, room)));
    }
    CmdError::msg(format!(
        "ERR unknown command '{}', with args beginning with: {}",
        c_text(argv[0], 128),
        args
    ))
}

/// A resolved command: its spec and, for a container, the subcommand's.
type Resolved = (&'static CommandSpec, Option<&'static CommandSpec>);

/// [`resolve`], also naming the stats slot of a command that was found but rejected (wrong
/// argument count), which Redis counts in `rejected_calls`.
fn resolve_counting(argv: &[&[u8]]) -> Result<Resolved, (CmdError, Option<usize>)> {
    let name = argv[0];
    let Some(spec) = lookup(name) else {
        return Err((unknown_command(argv), None));
    };
    let wrong_arity = |full: String, slot: usize| {
        (
            CmdError::msg(format!(
                "ERR wrong number of arguments for '{full}' command"
            )),
            Some(slot),
        )
    };
    // A container called alone runs itself when its arity allows it (COMMAND), like Redis,
    // which only looks for a subcommand when there is a second argument.
    if spec.subcommands.is_empty() || argv.len() == 1 {
        if !arity_ok(spec.arity, argv.len()) {
            return Err(wrong_arity(
                spec.name.to_string(),
                table::stat_index(spec, None),
            ));
        }
        return Ok((spec, None));
    }
    let sub_name = argv[1];
    let Some(sub) = spec
        .subcommands
        .iter()
        .find(|s| sub_name.eq_ignore_ascii_case(s.name.as_bytes()))
    else {
        return Err((
            CmdError::msg(format!(
                "ERR unknown subcommand '{}'. Try {} HELP.",
                c_text(sub_name, 128),
                spec.name.to_ascii_uppercase()
            )),
            None,
        ));
    };
    if !arity_ok(sub.arity, argv.len()) {
        return Err(wrong_arity(
            format!("{}|{}", spec.name, sub.name),
            table::stat_index(spec, Some(sub)),
        ));
    }
    Ok((spec, Some(sub)))
}

/// Runs one command and writes its reply.
pub fn execute(ctx: &mut Ctx, argv: &[&[u8]]) {
    // --- security: `rename-command` from the config file ---
    if ctx.server.acl.has_renames() {
        match ctx.server.acl.renamed(argv[0]) {
            crate::acl::Renamed::Same => {}
            crate::acl::Renamed::Hidden => {
                // Reported exactly as a command that does not exist.
                let e = unknown_command(argv);
                ctx.server.stats.record_error(e.text());
                ctx.out.error(e.text());
                return;
            }
            crate::acl::Renamed::To(original) => {
                let mut renamed = argv.to_vec();
                renamed[0] = original.as_bytes();
                return execute_named(ctx, &renamed);
            }
        }
    }
    execute_named(ctx, argv)
}

/// Refuses a command before it runs, as Redis's `rejectCommand`: counted as rejected, and
/// inside MULTI it flags the transaction (a rejected EXEC ends it) instead of being answered.
fn reject(ctx: &mut Ctx, stat: Option<usize>, is_exec: bool, e: &CmdError) {
    if let Some(stat) = stat {
        ctx.server.command_stats[stat].rejected_calls += 1;
    }
    if crate::multi::reject(ctx, is_exec, e) {
        return;
    }
    ctx.server.stats.record_error(e.text());
    ctx.out.error(e.text());
}

/// [`execute`] once the name is the command's own.
fn execute_named(ctx: &mut Ctx, argv: &[&[u8]]) {
    let (spec, sub) = match resolve_counting(argv) {
        Ok(found) => found,
        Err((e, slot)) => {
            let is_exec = slot.is_some() && argv[0].eq_ignore_ascii_case(b"exec");
            return reject(ctx, slot, is_exec, &e);
        }
    };
    let target = sub.unwrap_or(spec);
    let stat_id = table::stat_index(spec, sub);
    // --- security: NOAUTH, then the user's command and key permissions ---
    let is_exec = spec.name == "exec";
    if let Err(e) = acl::check_command(ctx, spec, sub, stat_id, argv) {
        return reject(ctx, Some(stat_id), is_exec, &e);
    }
    // maxmemory: evict before the command; refuse a denyoom command when nothing can be freed.
    if let Err(e) = crate::evict::before_command(ctx.server, target.flags) {
        return reject(ctx, Some(stat_id), is_exec, &e);
    }
    // --- pub/sub and transactions (pubsub.rs, multi.rs) ---------------------------------------
    if ctx.client.resp == 2
        && ctx.server.pubsub.is_subscribed(ctx.client.id)
        && !crate::pubsub::allowed_when_subscribed(spec.name)
    {
        let e = CmdError::msg(format!(
            "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
            full_name(sub.map(|_| spec), target)
        ));
        return reject(ctx, Some(stat_id), is_exec, &e);
    }
    if crate::multi::queue_if_in_multi(ctx, spec, target.flags, argv) {
        return;
    }
    // --- end pub/sub and transactions ---------------------------------------------------------
    // --- persistence: writes refused while the AOF cannot be written ---
    if ctx.server.aof.enabled && target.flags & flags::WRITE != 0 {
        if let Some(e) = crate::aof::refuse_writes(ctx.server) {
            ctx.client.last_command = stat_id;
            return reject(ctx, Some(stat_id), is_exec, &CmdError::msg(e));
        }
    }
    call(ctx, spec, sub, stat_id, argv, true);
    // A subscriber's messages follow its protocol (HELLO while subscribed).
    if ctx.server.pubsub.is_subscribed(ctx.client.id) {
        ctx.server
            .pubsub
            .set_resp3(ctx.client.id, ctx.client.resp == 3);
    }
    // Clients blocked on keys a transaction or a script writes are served after the whole
    // EXEC or EVAL.
    if !ctx.client.tx.executing {
        crate::blocking::serve_ready_keys(ctx);
    }
}

/// Runs a command that passed every check (Redis's `call`): the handler, its statistics, and
/// the effects of a write: dirty count, the AOF (when `propagate`), blocked clients and WATCH.
/// Scripts run their `redis.call`s through here too.
pub(crate) fn call(
    ctx: &mut Ctx,
    spec: &'static CommandSpec,
    sub: Option<&'static CommandSpec>,
    stat_id: usize,
    argv: &[&[u8]],
    propagate: bool,
) {
    let target = sub.unwrap_or(spec);
    let flush_touches = if spec.first_key == 0 && target.flags & flags::WRITE != 0 {
        crate::multi::before_flush(ctx, spec.name, argv)
    } else {
        None
    };
    // CLIENT LIST shows the running command and the memory of its arguments.
    ctx.client.last_command = stat_id;
    ctx.client.argv_mem = argv.iter().map(|a| a.len()).sum();
    let reply_mark = ctx.out.buf.len();
    let started = Instant::now();
    let result = (target.handler)(ctx, argv);
    let elapsed = started.elapsed().as_micros() as u64;
    ctx.client.argv_mem = 0;
    let track_latency = ctx.server.config.latency_tracking;
    let stat = &mut ctx.server.command_stats[stat_id];
    stat.calls += 1;
    stat.usec += elapsed;
    if track_latency {
        // Redis measures in microseconds and records nanoseconds.
        stat.latency
            .get_or_insert_with(Default::default)
            .record(elapsed * 1000);
    }
    ctx.server.stats.commands_processed += 1;
    match result {
        Err(e) => {
            stat.failed_calls += 1;
            ctx.server.stats.record_error(e.text());
            ctx.out.error(e.text());
        }
        Ok(()) if target.flags & flags::WRITE != 0 => {
            ctx.server.dirty += 1;
            // Persistence (AOF): log the write (a blocked command has done nothing).
            if propagate && ctx.server.aof.enabled && ctx.client.block_request.is_none() {
                let reply = &ctx.out.buf[reply_mark.min(ctx.out.buf.len())..];
                crate::aof::propagate::after_write(ctx.server, ctx.client.db, spec, argv, reply);
            }
            signal_written_keys(ctx, target, argv);
            crate::multi::touch_written_keys(ctx, target, argv);
            if let Some(touched) = flush_touches {
                crate::multi::after_flush(ctx, touched);
            }
        }
        Ok(()) => {}
    }
    // --- introspection: slow log and latency monitor (a command that blocked
    // is measured when it is served, as in Redis: not here) ---
    if ctx.client.block_request.is_none() {
        crate::slowlog::record(ctx, target, stat_id, argv, elapsed);
        crate::latency::record_command(ctx, target.flags & flags::FAST != 0, elapsed);
    }
    crate::multi::drain_expired(ctx.server);
}

/// Marks the keys a write command named as ready for the clients blocked on them (Redis's
/// `signalKeyAsReady` for pushes, XADD, deletions and overwrites). Keys are taken from the
/// command's key positions; what a waiter finds decides whether it is served.
pub(crate) fn signal_written_keys(ctx: &mut Ctx, spec: &CommandSpec, argv: &[&[u8]]) {
    if ctx.server.blocking.blocked_clients() == 0 || spec.first_key <= 0 {
        return;
    }
    let argc = argv.len() as i32;
    let last = if spec.last_key < 0 {
        argc + spec.last_key
    } else {
        spec.last_key
    };
    let step = spec.step.max(1);
    let db = ctx.client.db;
    let mut i = spec.first_key;
    while i <= last && i < argc {
        ctx.server.blocking.signal_key(db, argv[i as usize]);
        i += step;
    }
}

/// Per-command counters for INFO commandstats and latencystats.
#[derive(Clone, Debug, Default)]
pub struct CommandStat {
    pub calls: u64,
    pub usec: u64,
    pub rejected_calls: u64,
    pub failed_calls: u64,
    /// Allocated on the first call (it is 24 KiB), like Redis's per-command histogram.
    pub latency: Option<Box<crate::latency::LatencyHistogram>>,
}

impl Ctx<'_> {
    /// Looks a key up for reading, counting a keyspace hit or miss as Redis's
    /// `lookupKeyRead` does.
    #[inline]
    pub fn read(&mut self, key: &[u8]) -> Option<&mut crate::types::Value> {
        self.lookup_parts(key, true).0
    }

    /// [`Ctx::read`] that also hands out the reply buffer, so a handler can reply straight
    /// from the stored value without copying it.
    #[inline]
    pub fn read_with_out(&mut self, key: &[u8]) -> (Option<&mut crate::types::Value>, &mut Reply) {
        let (value, out, _) = self.lookup_parts(key, true);
        (value, out)
    }

    /// Looks a key up and lends the reply buffer and the random generator with it (SRANDMEMBER,
    /// HRANDFIELD... reply straight from the stored value). `read` lookups count a keyspace hit
    /// or miss (Redis's `lookupKeyRead`), write lookups don't.
    #[inline]
    pub fn lookup_parts(
        &mut self,
        key: &[u8],
        read: bool,
    ) -> (
        Option<&mut crate::types::Value>,
        &mut Reply,
        &mut crate::util::Rng,
    ) {
        let now = self.now_ms;
        let server = &mut *self.server;
        let value = server.dbs[self.client.db].get_mut(key, now);
        if read {
            if value.is_some() {
                server.stats.keyspace_hits += 1;
            } else {
                server.stats.keyspace_misses += 1;
            }
        }
        (value, &mut *self.out, &mut server.rng)
    }

    /// The value at `key` as one type, for reading: `None` if missing, WRONGTYPE if it holds
    /// another type (`project` is one of `Value::as_*_mut`).
    pub fn read_as<T: ?Sized>(
        &mut self,
        key: &[u8],
        project: Project<T>,
    ) -> Result<Option<&mut T>, CmdError> {
        as_type(self.read(key), project)
    }

    /// [`Ctx::read_as`] for writing (no hit/miss accounting).
    pub fn write_as<T: ?Sized>(
        &mut self,
        key: &[u8],
        project: Project<T>,
    ) -> Result<Option<&mut T>, CmdError> {
        as_type(self.write(key), project)
    }

    /// The value at `key` as one type, created with `create` if missing (Redis's
    /// `lookupKeyWrite` + create pattern); WRONGTYPE if it holds another type.
    pub fn write_or_create<T: ?Sized>(
        &mut self,
        key: &[u8],
        project: Project<T>,
        create: impl FnOnce() -> crate::types::Value,
    ) -> Result<&mut T, CmdError> {
        let now = self.now_ms;
        let db = self.db();
        if !db.contains(key, now) {
            db.insert_new(key, create());
        }
        db.get_mut(key, now)
            .and_then(project)
            .ok_or(CmdError::WrongType)
    }

    /// Looks a key up for writing (expires it first if due; no hit/miss accounting).
    #[inline]
    pub fn write(&mut self, key: &[u8]) -> Option<&mut crate::types::Value> {
        let now = self.now_ms;
        self.server.dbs[self.client.db].get_mut(key, now)
    }

    /// Deletes `key` if it holds a `T` that has become empty, with the `del` event Redis sends
    /// then: Redis never keeps an empty list or set.
    pub fn delete_if_empty<T: ?Sized>(
        &mut self,
        key: &[u8],
        project: Project<T>,
        is_empty: fn(&T) -> bool,
    ) {
        let now = self.now_ms;
        let db = self.db();
        if db
            .get_mut(key, now)
            .and_then(project)
            .is_some_and(|v| is_empty(v))
        {
            db.remove(key, now);
            self.notify(crate::notify::class::GENERIC, "del", key);
        }
    }
}
