//! Consumer-group commands: XGROUP, XREADGROUP's group side, XACK, XPENDING, XCLAIM, XAUTOCLAIM
//! and XINFO GROUPS / CONSUMERS (with the groups part of XINFO STREAM FULL), in the order Redis
//! 7.0's `t_stream.c` checks things. The groups themselves live in
//! [`crate::types::stream::group`].

use super::server::subcommand_syntax_error;
use super::stream::{
    as_stream, c_eq, err_arg, is_option, read_generic, reply_entry, reply_id, reply_stream_header,
    scratch, ReadFrom,
};
use super::{arg_i64, CmdError, CmdResult, Ctx};
use crate::protocol::reply::Reply;
use crate::types::stream::group::{ConsumerGroup, Nack, INVALID_ENTRIES_READ};
use crate::types::stream::{parse_range_end, parse_range_start, StreamEntry, StreamId};
use crate::types::{Stream, Value};

/// XAUTOCLAIM looks at up to COUNT × this many PEL entries per call.
const XAUTOCLAIM_ATTEMPTS_FACTOR: i64 = 10;
/// XAUTOCLAIM's COUNT when not given.
const XAUTOCLAIM_DEFAULT_COUNT: i64 = 100;

fn no_group_error(group: &[u8], key: &[u8]) -> CmdError {
    CmdError::msg(format!(
        "NOGROUP No such consumer group '{}' for key name '{}'",
        err_arg(group),
        err_arg(key)
    ))
}

fn no_key_or_group_error(key: &[u8], group: &[u8]) -> CmdError {
    CmdError::msg(format!(
        "NOGROUP No such key '{}' or consumer group '{}'",
        err_arg(key),
        err_arg(group)
    ))
}

/// `getLongLongFromObjectOrReply` with a custom message.
fn arg_i64_or(arg: &[u8], message: &'static str) -> Result<i64, CmdError> {
    arg_i64(arg).map_err(|_| CmdError::msg(message))
}

/// ENTRIESREAD's value: a count or -1 (unknown).
fn parse_entries_read(arg: &[u8]) -> Result<i64, CmdError> {
    let n = arg_i64(arg)?;
    if n < 0 && n != INVALID_ENTRIES_READ {
        return Err(CmdError::msg(
            "ERR value for ENTRIESREAD must be positive or -1",
        ));
    }
    Ok(n)
}

/// One entry as a group read emits it: the entry, or `[id, null array]` when it was deleted.
fn reply_entry_or_deleted(out: &mut Reply, stream: &Stream, id: StreamId) {
    match stream.get(id) {
        Some(entry) => reply_entry(out, &entry),
        None => {
            out.array(2);
            reply_id(out, id);
            out.null_array();
        }
    }
}

fn reply_opt_int(out: &mut Reply, n: Option<i64>) {
    match n {
        Some(n) => out.int(n),
        None => out.null(),
    }
}

/// How far a group has read, as XINFO GROUPS and XINFO STREAM FULL both show it:
/// `last-delivered-id`, `entries-read` and `lag`.
fn reply_group_position(out: &mut Reply, stream: &Stream, g: &ConsumerGroup) {
    out.bulk(b"last-delivered-id");
    reply_id(out, g.last_id);
    out.bulk(b"entries-read");
    reply_opt_int(out, g.entries_read());
    out.bulk(b"lag");
    reply_opt_int(out, g.lag(stream).map(|n| n as i64));
}

// --- XGROUP ----------------------------------------------------------------------------------

/// XGROUP CREATE|SETID|DESTROY|CREATECONSUMER|DELCONSUMER: one function like Redis's, so the
/// checks shared by the subcommands come in the same order.
pub fn xgroup(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let sub = argv[1];
    let key = argv[2];
    let group = argv[3];
    let mut mkstream = false;
    let mut entries_read = INVALID_ENTRIES_READ;
    if is_option(sub, "create") {
        let mut i = 5;
        while i < argv.len() {
            if is_option(argv[i], "mkstream") {
                mkstream = true;
                i += 1;
            } else if is_option(argv[i], "entriesread") && i + 1 < argv.len() {
                entries_read = parse_entries_read(argv[i + 1])?;
                i += 2;
            } else {
                return Err(subcommand_syntax_error(argv));
            }
        }
    }
    let stream = as_stream(ctx.write(key))?;
    let group_exists =
        match stream {
            None if !mkstream => return Err(CmdError::msg(
                "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you \
                 may want to use the MKSTREAM option to create an empty stream automatically.",
            )),
            None => false,
            Some(s) => s.groups().get(group).is_some(),
        };
    let needs_group = ["setid", "createconsumer", "delconsumer"]
        .iter()
        .any(|name| is_option(sub, name));
    if !mkstream && !group_exists && needs_group {
        return Err(no_group_error(group, key));
    }
    let argc = argv.len();
    if is_option(sub, "create") && (5..=8).contains(&argc) {
        xgroup_create(ctx, argv, entries_read)
    } else if is_option(sub, "setid") && (argc == 5 || argc == 7) {
        xgroup_setid(ctx, argv)
    } else if is_option(sub, "destroy") && argc == 4 {
        let destroyed = stream_mut(ctx, key)?.groups_mut().destroy(group);
        ctx.out.int(i64::from(destroyed));
        Ok(())
    } else if is_option(sub, "createconsumer") && argc == 5 {
        let now = ctx.now_ms;
        let created = group_mut(ctx, key, group)?.create_consumer(argv[4], now);
        ctx.out.int(i64::from(created));
        Ok(())
    } else if is_option(sub, "delconsumer") && argc == 5 {
        let pending = group_mut(ctx, key, group)?.delete_consumer(argv[4]);
        ctx.out.int(pending as i64);
        Ok(())
    } else {
        Err(subcommand_syntax_error(argv))
    }
}

/// The stream at `key`, known to exist.
fn stream_mut<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<&'a mut Stream, CmdError> {
    as_stream(ctx.write(key))?.ok_or(CmdError::NoSuchKey)
}

/// The group `name` of the stream at `key`, both known to exist.
fn group_mut<'a>(
    ctx: &'a mut Ctx,
    key: &[u8],
    name: &[u8],
) -> Result<&'a mut ConsumerGroup, CmdError> {
    stream_mut(ctx, key)?
        .groups_mut()
        .get_mut(name)
        .ok_or_else(|| no_group_error(name, key))
}

fn xgroup_create(ctx: &mut Ctx, argv: &[&[u8]], entries_read: i64) -> CmdResult {
    let (key, name) = (argv[2], argv[3]);
    let existing = as_stream(ctx.write(key))?;
    let id = if c_eq(argv[4], b"$") {
        existing.map_or(StreamId::MIN, |s| s.last_id())
    } else {
        StreamId::parse_strict(argv[4])?
    };
    // MKSTREAM creates the key only now that nothing can fail any more.
    if ctx.write(key).is_none() {
        ctx.db().insert_new(key, Value::Stream(Box::default()));
    }
    if stream_mut(ctx, key)?
        .groups_mut()
        .create(name, id, entries_read)
    {
        ctx.out.ok();
        Ok(())
    } else {
        Err(CmdError::msg(
            "BUSYGROUP Consumer Group name already exists",
        ))
    }
}

fn xgroup_setid(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (key, name) = (argv[2], argv[3]);
    let id = if c_eq(argv[4], b"$") {
        stream_mut(ctx, key)?.last_id()
    } else {
        StreamId::parse(argv[4], 0)?
    };
    let mut entries_read = INVALID_ENTRIES_READ;
    if argv.len() == 7 {
        if !is_option(argv[5], "entriesread") {
            return Err(subcommand_syntax_error(argv));
        }
        entries_read = parse_entries_read(argv[6])?;
    }
    let group = group_mut(ctx, key, name)?;
    group.last_id = id;
    group.entries_read = entries_read;
    ctx.out.ok();
    Ok(())
}

/// XGROUP HELP
pub fn xgroup_help(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    const LINES: &[&str] = &[
        "CREATE <key> <groupname> <id|$> [option]",
        "    Create a new consumer group. Options are:",
        "    * MKSTREAM",
        "      Create the empty stream if it does not exist.",
        "    * ENTRIESREAD entries_read",
        "      Set the group's entries_read counter (internal use).",
        "CREATECONSUMER <key> <groupname> <consumer>",
        "    Create a new consumer in the specified group.",
        "DELCONSUMER <key> <groupname> <consumer>",
        "    Remove the specified consumer.",
        "DESTROY <key> <groupname>",
        "    Remove the specified group.",
        "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
        "    Set the current group ID and entries_read counter.",
    ];
    super::server::reply_help(ctx, argv[0], LINES);
    Ok(())
}

// --- XREADGROUP ------------------------------------------------------------------------------

/// XREADGROUP GROUP group consumer [COUNT count] [BLOCK ms] [NOACK] STREAMS key [key ...] id [id ...]
pub fn xreadgroup(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    read_generic(ctx, argv, true)
}

/// One XREADGROUP stream read.
pub(super) struct GroupRead<'a> {
    pub(super) key: &'a [u8],
    pub(super) consumer: &'a [u8],
    pub(super) count: usize,
    pub(super) noack: bool,
    pub(super) now: i64,
}

impl GroupRead<'_> {
    fn limit(&self) -> usize {
        if self.count == 0 {
            usize::MAX
        } else {
            self.count
        }
    }

    /// Serves history (`After`) or new entries (`New`); false when nothing is to be served.
    pub(super) fn serve(
        &self,
        out: &mut Reply,
        s: &Stream,
        g: &mut ConsumerGroup,
        from: ReadFrom,
    ) -> bool {
        let after = match from {
            ReadFrom::After(id) => Some(id),
            ReadFrom::New if s.last_entry().is_some_and(|e| e.id() > g.last_id) => None,
            ReadFrom::New => {
                g.consumer_seen(self.consumer, self.now);
                return false;
            }
        };
        g.consumer_seen(self.consumer, self.now);
        reply_stream_header(out, self.key);
        match after {
            Some(id) => self.serve_history(out, s, g, id.incr().unwrap_or(StreamId::MIN)),
            None => self.serve_new(out, s, g),
        }
        true
    }

    /// The consumer's own pending entries from `start` on.
    fn serve_history(&self, out: &mut Reply, s: &Stream, g: &mut ConsumerGroup, start: StreamId) {
        let ids: Vec<StreamId> = g
            .consumers
            .get(self.consumer)
            .map(|c| c.pel.range(start..).take(self.limit()).copied().collect())
            .unwrap_or_default();
        out.array(ids.len());
        for id in ids {
            if s.contains(id) {
                g.redeliver(id, self.now);
            }
            reply_entry_or_deleted(out, s, id);
        }
    }

    /// Entries after the group's last delivered ID, moving it forward and (without NOACK)
    /// adding them to the consumer's PEL.
    fn serve_new(&self, out: &mut Reply, s: &Stream, g: &mut ConsumerGroup) {
        let start = g.last_id.incr().unwrap_or(StreamId::MIN);
        let entries: Vec<StreamEntry> = s
            .iter_range(start, StreamId::MAX, false)
            .take(self.limit())
            .collect();
        out.array(entries.len());
        for entry in &entries {
            g.advance_to(s, entry.id());
            reply_entry(out, entry);
            if !self.noack {
                g.deliver_new(entry.id(), self.consumer, self.now);
            }
        }
    }
}

// --- XACK / XPENDING -------------------------------------------------------------------------

/// XACK key group id [id ...]
pub fn xack(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (key, name) = (argv[1], argv[2]);
    let (value, out) = ctx.read_with_out(key);
    let Some(group) = as_stream(value)?.and_then(|s| s.groups_mut().get_mut(name)) else {
        out.int(0);
        return Ok(());
    };
    // All IDs are parsed first: the command acknowledges all or nothing.
    let ids: Vec<StreamId> = argv[3..]
        .iter()
        .map(|a| StreamId::parse_strict(a))
        .collect::<Result<_, _>>()?;
    let acked = ids.into_iter().filter(|&id| group.ack(id)).count();
    out.int(acked as i64);
    Ok(())
}

/// The range form of XPENDING.
struct PendingRange<'a> {
    min_idle: i64,
    start: StreamId,
    end: StreamId,
    count: usize,
    consumer: Option<&'a [u8]>,
}

fn parse_pending_range<'a>(argv: &[&'a [u8]]) -> Result<PendingRange<'a>, CmdError> {
    let mut min_idle = 0;
    let mut at = 3;
    if is_option(argv[3], "idle") {
        min_idle = arg_i64(argv[4])?;
        if argv.len() < 8 {
            return Err(CmdError::Syntax);
        }
        at += 2;
    }
    let count = arg_i64(argv[at + 2])?.max(0) as usize;
    let start = parse_range_start(argv[at])?;
    let end = parse_range_end(argv[at + 1])?;
    Ok(PendingRange {
        min_idle,
        start,
        end,
        count,
        consumer: argv.get(at + 3).copied(),
    })
}

/// XPENDING key group [[IDLE min-idle-time] start end count [consumer]]
pub fn xpending(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let argc = argv.len();
    if argc != 3 && !(6..=9).contains(&argc) {
        return Err(CmdError::Syntax);
    }
    let range = if argc >= 6 {
        Some(parse_pending_range(argv)?)
    } else {
        None
    };
    let (key, name) = (argv[1], argv[2]);
    let now = ctx.now_ms;
    let (value, out) = ctx.read_with_out(key);
    let Some(group) = as_stream(value)?.and_then(|s| s.groups().get(name)) else {
        return Err(no_key_or_group_error(key, name));
    };
    match range {
        None => reply_pending_summary(out, group),
        Some(range) => reply_pending_range(out, group, &range, now),
    }
    Ok(())
}

fn reply_pending_summary(out: &mut Reply, group: &ConsumerGroup) {
    out.array(4);
    out.int(group.pel.len() as i64);
    let (Some((first, _)), Some((last, _))) =
        (group.pel.first_key_value(), group.pel.last_key_value())
    else {
        out.null();
        out.null();
        out.null_array();
        return;
    };
    reply_id(out, *first);
    reply_id(out, *last);
    let owners: Vec<(&[u8], usize)> = group
        .consumers
        .iter()
        .filter(|(_, c)| !c.pel.is_empty())
        .map(|(name, c)| (&**name, c.pel.len()))
        .collect();
    out.array(owners.len());
    for (name, pending) in owners {
        out.array(2);
        out.bulk(name);
        out.bulk_int(pending as i64);
    }
}

fn reply_pending_range(out: &mut Reply, group: &ConsumerGroup, range: &PendingRange, now: i64) {
    let ids: Vec<StreamId> = match range.consumer {
        Some(name) => match group.consumers.get(name) {
            Some(c) => c.pel.iter().copied().collect(),
            // An unknown consumer simply has nothing pending.
            None => Vec::new(),
        },
        None => group.pel.keys().copied().collect(),
    };
    let rows: Vec<(StreamId, &Nack)> = if range.start > range.end {
        Vec::new()
    } else {
        ids.into_iter()
            .filter(|id| (range.start..=range.end).contains(id))
            .filter_map(|id| group.pel.get(&id).map(|n| (id, n)))
            .filter(|(_, n)| range.min_idle == 0 || now - n.delivery_time >= range.min_idle)
            .take(range.count)
            .collect()
    };
    out.array(rows.len());
    for (id, nack) in rows {
        out.array(4);
        reply_id(out, id);
        out.bulk(&nack.consumer);
        out.int((now - nack.delivery_time).max(0));
        out.int(nack.delivery_count as i64);
    }
}

// --- XCLAIM / XAUTOCLAIM ---------------------------------------------------------------------

/// XCLAIM's options after the IDs.
struct ClaimOptions {
    /// Delivery time to set (ms), from IDLE or TIME.
    delivery_time: Option<i64>,
    retry_count: Option<i64>,
    force: bool,
    justid: bool,
    last_id: StreamId,
}

fn parse_claim_options(options: &[&[u8]], now: i64) -> Result<ClaimOptions, CmdError> {
    let mut o = ClaimOptions {
        delivery_time: None,
        retry_count: None,
        force: false,
        justid: false,
        last_id: StreamId::MIN,
    };
    let mut j = 0;
    while j < options.len() {
        let moreargs = options.len() - 1 - j;
        let opt = options[j];
        if is_option(opt, "force") {
            o.force = true;
        } else if is_option(opt, "justid") {
            o.justid = true;
        } else if is_option(opt, "idle") && moreargs > 0 {
            j += 1;
            let idle = arg_i64_or(options[j], "ERR Invalid IDLE option argument for XCLAIM")?;
            o.delivery_time = Some(now.wrapping_sub(idle));
        } else if is_option(opt, "time") && moreargs > 0 {
            j += 1;
            let time = arg_i64_or(options[j], "ERR Invalid TIME option argument for XCLAIM")?;
            o.delivery_time = Some(time);
        } else if is_option(opt, "retrycount") && moreargs > 0 {
            j += 1;
            let n = arg_i64_or(
                options[j],
                "ERR Invalid RETRYCOUNT option argument for XCLAIM",
            )?;
            o.retry_count = Some(n);
        } else if is_option(opt, "lastid") && moreargs > 0 {
            j += 1;
            o.last_id = StreamId::parse_strict(options[j])?;
        } else {
            return Err(CmdError::msg(format!(
                "ERR Unrecognized XCLAIM option '{}'",
                err_arg(opt)
            )));
        }
        j += 1;
    }
    Ok(o)
}

/// XCLAIM key group consumer min-idle-time id [id ...] [IDLE ms] [TIME ms] [RETRYCOUNT n]
/// [FORCE] [JUSTID] [LASTID id]
pub fn xclaim(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (key, name, consumer) = (argv[1], argv[2], argv[3]);
    let now = ctx.now_ms;
    let exists = as_stream(ctx.read(key))?.is_some_and(|s| s.groups().get(name).is_some());
    if !exists {
        return Err(no_key_or_group_error(key, name));
    }
    let min_idle = arg_i64_or(argv[4], "ERR Invalid min-idle-time argument for XCLAIM")?.max(0);
    // The IDs run up to the first argument that is not one; options follow.
    let ids: Vec<StreamId> = argv[5..]
        .iter()
        .map_while(|a| StreamId::parse_strict(a).ok())
        .collect();
    let o = parse_claim_options(&argv[5 + ids.len()..], now)?;
    let delivery_time = match o.delivery_time {
        Some(t) if (0..=now).contains(&t) => t,
        _ => now,
    };
    let mut body = scratch(ctx.out);
    let (value, out) = ctx.read_with_out(key);
    let Some(stream) = as_stream(value)? else {
        return Err(no_key_or_group_error(key, name));
    };
    let claimed = stream.with_groups(|s, groups| {
        let Some(g) = groups.get_mut(name) else {
            return 0;
        };
        if o.last_id > g.last_id {
            g.last_id = o.last_id;
        }
        let mut claimed = 0;
        for &id in &ids {
            if !s.contains(id) {
                // The entry is gone: so is its pending entry.
                g.ack(id);
                continue;
            }
            let mut forced = false;
            if !g.pel.contains_key(&id) {
                if !o.force {
                    continue;
                }
                forced = true;
            }
            if !forced && min_idle > 0 {
                let idle = g.pel.get(&id).map_or(0, |n| now - n.delivery_time);
                if idle < min_idle {
                    continue;
                }
            }
            g.consumer_seen(consumer, now);
            if forced {
                g.deliver_new(id, consumer, now);
            }
            if let Some(nack) = g.transfer(id, consumer, delivery_time) {
                if let Some(n) = o.retry_count.filter(|n| *n >= 0) {
                    nack.delivery_count = n as u64;
                } else if !o.justid {
                    nack.delivery_count += 1;
                }
            }
            if o.justid {
                reply_id(&mut body, id);
            } else {
                reply_entry_or_deleted(&mut body, s, id);
            }
            claimed += 1;
        }
        claimed
    });
    out.array(claimed);
    out.buf.extend_from_slice(&body.buf);
    Ok(())
}

/// XAUTOCLAIM key group consumer min-idle-time start [COUNT count] [JUSTID]
pub fn xautoclaim(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (key, name, consumer) = (argv[1], argv[2], argv[3]);
    let now = ctx.now_ms;
    let min_idle = arg_i64_or(argv[4], "ERR Invalid min-idle-time argument for XAUTOCLAIM")?.max(0);
    let start = parse_range_start(argv[5])?;
    let mut count = XAUTOCLAIM_DEFAULT_COUNT;
    let mut justid = false;
    let mut j = 6;
    while j < argv.len() {
        let moreargs = argv.len() - 1 - j;
        if is_option(argv[j], "count") && moreargs > 0 {
            let max = i64::MAX / 16;
            count = arg_i64(argv[j + 1])
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| CmdError::msg("ERR COUNT must be > 0"))?;
            j += 1;
        } else if is_option(argv[j], "justid") {
            justid = true;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let mut body = scratch(ctx.out);
    let (value, out) = ctx.read_with_out(key);
    let Some(stream) = as_stream(value)?.filter(|s| s.groups().get(name).is_some()) else {
        return Err(no_key_or_group_error(key, name));
    };
    let (claimed, next, deleted) = stream.with_groups(|s, groups| {
        let Some(g) = groups.get_mut(name) else {
            return (0, StreamId::MIN, Vec::new());
        };
        let claim = AutoClaim {
            consumer,
            min_idle,
            justid,
            now,
        };
        claim.run(&mut body, s, g, start, count)
    });
    out.array(3);
    reply_id(out, next);
    out.array(claimed);
    out.buf.extend_from_slice(&body.buf);
    out.array(deleted.len());
    for id in deleted {
        reply_id(out, id);
    }
    Ok(())
}

struct AutoClaim<'a> {
    consumer: &'a [u8],
    min_idle: i64,
    justid: bool,
    now: i64,
}

impl AutoClaim<'_> {
    /// Walks the group PEL from `start` like Redis: at most `count` × 10 entries looked at, at
    /// most `count` claimed or dropped (entries deleted from the stream are dropped from the PEL
    /// and reported). Returns (claimed, next cursor or 0-0, deleted IDs).
    fn run(
        &self,
        out: &mut Reply,
        s: &Stream,
        g: &mut ConsumerGroup,
        start: StreamId,
        mut count: i64,
    ) -> (usize, StreamId, Vec<StreamId>) {
        let mut attempts = count * XAUTOCLAIM_ATTEMPTS_FACTOR;
        let mut claimed = 0;
        let mut deleted = Vec::new();
        let mut cursor = start;
        loop {
            if attempts == 0 || count == 0 {
                break;
            }
            attempts -= 1;
            let Some((&id, nack)) = g.pel.range(cursor..).next() else {
                return (claimed, StreamId::MIN, deleted);
            };
            let idle = self.now - nack.delivery_time;
            // The next entry to look at (0-0 after the last possible ID ends the walk).
            let after = id.incr();
            if !s.contains(id) {
                g.ack(id);
                deleted.push(id);
                count -= 1;
            } else if self.min_idle == 0 || idle >= self.min_idle {
                g.consumer_seen(self.consumer, self.now);
                if let Some(nack) = g.transfer(id, self.consumer, self.now) {
                    if !self.justid {
                        nack.delivery_count += 1;
                    }
                }
                if self.justid {
                    reply_id(out, id);
                } else {
                    reply_entry_or_deleted(out, s, id);
                }
                claimed += 1;
                count -= 1;
            }
            match after {
                Some(next) => cursor = next,
                None => return (claimed, StreamId::MIN, deleted),
            }
        }
        let next = g
            .pel
            .range(cursor..)
            .next()
            .map_or(StreamId::MIN, |(id, _)| *id);
        (claimed, next, deleted)
    }
}

// --- XINFO GROUPS / CONSUMERS ----------------------------------------------------------------

/// XINFO GROUPS key
pub fn xinfo_groups(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (value, out) = ctx.read_with_out(argv[2]);
    let Some(stream) = as_stream(value)? else {
        return Err(CmdError::NoSuchKey);
    };
    out.array(stream.groups().len());
    for (name, g) in stream.groups().iter() {
        out.map(6);
        out.bulk(b"name");
        out.bulk(name);
        out.bulk(b"consumers");
        out.int(g.consumers.len() as i64);
        out.bulk(b"pending");
        out.int(g.pel.len() as i64);
        reply_group_position(out, stream, g);
    }
    Ok(())
}

/// XINFO CONSUMERS key group
pub fn xinfo_consumers(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (key, name) = (argv[2], argv[3]);
    let now = ctx.now_ms;
    let (value, out) = ctx.read_with_out(key);
    let Some(stream) = as_stream(value)? else {
        return Err(CmdError::NoSuchKey);
    };
    let Some(g) = stream.groups().get(name) else {
        return Err(no_group_error(name, key));
    };
    out.array(g.consumers.len());
    for (cname, c) in &g.consumers {
        out.map(3);
        out.bulk(b"name");
        out.bulk(cname);
        out.bulk(b"pending");
        out.int(c.pel.len() as i64);
        out.bulk(b"idle");
        out.int((now - c.seen_time).max(0));
    }
    Ok(())
}

/// The `groups` part of XINFO STREAM FULL: PELs limited to `limit` entries like the entries.
pub(super) fn reply_full_groups(out: &mut Reply, stream: &Stream, limit: usize) {
    out.array(stream.groups().len());
    for (name, g) in stream.groups().iter() {
        out.map(7);
        out.bulk(b"name");
        out.bulk(name);
        reply_group_position(out, stream, g);
        out.bulk(b"pel-count");
        out.int(g.pel.len() as i64);
        out.bulk(b"pending");
        let pel: Vec<_> = g.pel.iter().take(limit).collect();
        out.array(pel.len());
        for (id, nack) in pel {
            out.array(4);
            reply_id(out, *id);
            out.bulk(&nack.consumer);
            out.int(nack.delivery_time);
            out.int(nack.delivery_count as i64);
        }
        out.bulk(b"consumers");
        out.array(g.consumers.len());
        for (cname, c) in &g.consumers {
            out.map(4);
            out.bulk(b"name");
            out.bulk(cname);
            out.bulk(b"seen-time");
            out.int(c.seen_time);
            out.bulk(b"pel-count");
            out.int(c.pel.len() as i64);
            out.bulk(b"pending");
            let ids: Vec<StreamId> = c.pel.iter().take(limit).copied().collect();
            out.array(ids.len());
            for id in ids {
                let nack = g.pel.get(&id);
                out.array(3);
                reply_id(out, id);
                out.int(nack.map_or(0, |n| n.delivery_time));
                out.int(nack.map_or(0, |n| n.delivery_count as i64));
            }
        }
    }
}
