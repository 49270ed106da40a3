//! List commands: pushes, pops, LRANGE/LINDEX/LSET/LINSERT/LREM/LTRIM, LPOS,
//! LMOVE/RPOPLPUSH and LMPOP, and the blocking forms BLPOP/BRPOP/BLMOVE/BRPOPLPUSH/BLMPOP.
//!
//! Follows Redis 7.0's `t_list.c`, including its order of checks (which argument is parsed
//! before the key is looked up decides which error a client sees) and its null rules: a missing
//! key answers a null bulk, or a null array when a COUNT was given.

use super::{arg_i64, as_type, optional_count, CmdError, CmdResult, Ctx};
use crate::blocking::{parse_seconds_timeout, BlockKind, BlockRequest};
use crate::notify::class;
use crate::protocol::reply::Reply;
use crate::types::{List, Value};
use crate::util::normalize_range;
use std::time::Duration;

/// The list at `key` with the reply buffer: `None` if missing, WRONGTYPE for other types.
/// `read` lookups count keyspace hits and misses (Redis's `lookupKeyRead`), write lookups don't.
fn lookup<'a>(
    ctx: &'a mut Ctx,
    key: &[u8],
    read: bool,
) -> Result<(Option<&'a mut List>, &'a mut Reply), CmdError> {
    let (value, out, _) = ctx.lookup_parts(key, read);
    Ok((as_type(value, Value::as_list_mut)?, out))
}

/// Deletes `key` if its list has become empty (Redis never keeps empty lists).
fn delete_if_empty(ctx: &mut Ctx, key: &[u8]) {
    ctx.delete_if_empty(key, Value::as_list_mut, List::is_empty);
}

/// The list at `key` for a push, created empty if missing.
fn list_for_push<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<&'a mut List, CmdError> {
    let fill = ctx.server.config.list_max_listpack_size;
    ctx.write_or_create(key, Value::as_list_mut, || {
        Value::List(Box::new(List::new(fill)))
    })
}

/// LEFT / RIGHT (any case) as "is left"; anything else is a syntax error.
fn parse_side(arg: &[u8]) -> Result<bool, CmdError> {
    if arg.eq_ignore_ascii_case(b"left") {
        Ok(true)
    } else if arg.eq_ignore_ascii_case(b"right") {
        Ok(false)
    } else {
        Err(CmdError::Syntax)
    }
}

/// An integer in `min..=i64::MAX`, else `msg` (also for non-integers), as Redis's
/// `getRangeLongFromObjectOrReply` with a message.
fn arg_at_least(arg: &[u8], min: i64, msg: &'static str) -> Result<i64, CmdError> {
    match crate::util::parse_i64(arg) {
        Some(n) if n >= min => Ok(n),
        _ => Err(CmdError::msg(msg)),
    }
}

/// A list position (negative counts from the tail) as an index, if within `len`.
fn resolve_index(index: i64, len: usize) -> Option<usize> {
    let i = if index < 0 { index + len as i64 } else { index };
    (0..len as i64).contains(&i).then_some(i as usize)
}

// ---------------------------------------------------------------------------------------------
// Pushes and pops

fn push_generic(ctx: &mut Ctx, argv: &[&[u8]], left: bool, only_existing: bool) -> CmdResult {
    let key = argv[1];
    let list = if only_existing {
        match lookup(ctx, key, false)?.0 {
            Some(l) => l,
            None => {
                ctx.out.int(0);
                return Ok(());
            }
        }
    } else {
        list_for_push(ctx, key)?
    };
    for elem in &argv[2..] {
        list.push(left, elem);
    }
    let len = list.len();
    ctx.notify(class::LIST, if left { "lpush" } else { "rpush" }, key);
    ctx.out.int(len as i64);
    Ok(())
}

pub fn lpush(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    push_generic(ctx, argv, true, false)
}

pub fn rpush(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    push_generic(ctx, argv, false, false)
}

pub fn lpushx(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    push_generic(ctx, argv, true, true)
}

pub fn rpushx(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    push_generic(ctx, argv, false, true)
}

/// Pops up to `count` elements and replies with them as an array.
fn pop_range_reply(list: &mut List, out: &mut Reply, left: bool, count: usize) {
    let n = count.min(list.len());
    out.array(n);
    for _ in 0..n {
        if let Some(e) = list.pop(left) {
            out.bulk(&e);
        }
    }
}

fn pop_generic(ctx: &mut Ctx, argv: &[&[u8]], left: bool) -> CmdResult {
    if argv.len() > 3 {
        return Err(CmdError::msg(format!(
            "ERR wrong number of arguments for '{}' command",
            if left { "lpop" } else { "rpop" }
        )));
    }
    let count = optional_count(argv.get(2).copied())?;
    let key = argv[1];
    let popped = match (lookup(ctx, key, false)?, count) {
        ((None, out), None) => {
            out.null();
            false
        }
        ((None, out), Some(_)) => {
            out.null_array();
            false
        }
        ((Some(list), out), None) => match list.pop(left) {
            Some(e) => {
                out.bulk(&e);
                true
            }
            None => {
                out.null();
                false
            }
        },
        ((Some(list), out), Some(n)) => {
            let before = list.len();
            pop_range_reply(list, out, left, n);
            list.len() < before
        }
    };
    if popped {
        ctx.notify(class::LIST, if left { "lpop" } else { "rpop" }, key);
    }
    delete_if_empty(ctx, key);
    Ok(())
}

pub fn lpop(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    pop_generic(ctx, argv, true)
}

pub fn rpop(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    pop_generic(ctx, argv, false)
}

// ---------------------------------------------------------------------------------------------
// Reading and editing by position

pub fn llen(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (list, out) = lookup(ctx, argv[1], true)?;
    out.int(list.map_or(0, |l| l.len()) as i64);
    Ok(())
}

pub fn lindex(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (list, out) = lookup(ctx, argv[1], true)?;
    let Some(list) = list else {
        out.null();
        return Ok(());
    };
    let index = arg_i64(argv[2])?;
    out.bulk_or_null(resolve_index(index, list.len()).and_then(|i| list.get(i)));
    Ok(())
}

pub fn lset(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (list, out) = lookup(ctx, argv[1], false)?;
    let list = list.ok_or(CmdError::NoSuchKey)?;
    let index = arg_i64(argv[2])?;
    let i = resolve_index(index, list.len()).ok_or(CmdError::OutOfRange)?;
    list.set(i, argv[3]);
    out.ok();
    Ok(())
}

pub fn lrange(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let start = arg_i64(argv[2])?;
    let end = arg_i64(argv[3])?;
    let (list, out) = lookup(ctx, argv[1], true)?;
    match list.and_then(|l| normalize_range(start, end, l.len()).map(|r| (l, r))) {
        None => out.array(0),
        Some((list, (start, end))) => {
            out.array(end - start + 1);
            list.iter_from(start)
                .take(end - start + 1)
                .for_each(|e| out.bulk(e));
        }
    }
    Ok(())
}

pub fn ltrim(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let start = arg_i64(argv[2])?;
    let end = arg_i64(argv[3])?;
    let (list, out) = lookup(ctx, argv[1], false)?;
    if let Some(list) = list {
        let len = list.len();
        match normalize_range(start, end, len) {
            None => list.remove_front(len),
            Some((start, end)) => {
                list.remove_back(len - end - 1);
                list.remove_front(start);
            }
        }
    }
    out.ok();
    delete_if_empty(ctx, argv[1]);
    Ok(())
}

pub fn linsert(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let after = if argv[2].eq_ignore_ascii_case(b"after") {
        true
    } else if argv[2].eq_ignore_ascii_case(b"before") {
        false
    } else {
        return Err(CmdError::Syntax);
    };
    let (list, out) = lookup(ctx, argv[1], false)?;
    let Some(list) = list else {
        out.int(0);
        return Ok(());
    };
    match list.iter().position(|e| e == argv[3]) {
        Some(i) => {
            list.insert(i + after as usize, argv[4]);
            out.int(list.len() as i64);
        }
        None => out.int(-1),
    }
    Ok(())
}

pub fn lrem(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let count = arg_i64(argv[2])?;
    let (list, out) = lookup(ctx, argv[1], false)?;
    let removed = match list {
        None => 0,
        Some(list) => {
            let limit = usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX);
            list.remove_matching(argv[3], limit, count < 0)
        }
    };
    out.int(removed as i64);
    delete_if_empty(ctx, argv[1]);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// LPOS

struct LposOptions {
    /// Which match to start from (1 = first); counted from the tail when `from_tail`.
    rank: u64,
    from_tail: bool,
    /// `None` = no COUNT (reply one position or null); `Some(0)` = all matches.
    count: Option<u64>,
    /// Elements to compare at most (0 = all).
    maxlen: u64,
}

fn parse_lpos_options(args: &[&[u8]]) -> Result<LposOptions, CmdError> {
    let mut opts = LposOptions {
        rank: 1,
        from_tail: false,
        count: None,
        maxlen: 0,
    };
    let mut i = 0;
    while i < args.len() {
        let opt = args[i];
        let value = args.get(i + 1).ok_or(CmdError::Syntax);
        if opt.eq_ignore_ascii_case(b"rank") {
            let rank = arg_i64(value?)?;
            if rank == 0 {
                return Err(CmdError::msg("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list"));
            }
            opts.from_tail = rank < 0;
            // Redis 7.0 negates LONG_MIN (undefined behaviour) and, as built, then treats it
            // like -1: the first match from the tail.
            opts.rank = if rank == i64::MIN {
                1
            } else {
                rank.unsigned_abs()
            };
        } else if opt.eq_ignore_ascii_case(b"count") {
            opts.count = Some(arg_at_least(value?, 0, "ERR COUNT can't be negative")? as u64);
        } else if opt.eq_ignore_ascii_case(b"maxlen") {
            opts.maxlen = arg_at_least(value?, 0, "ERR MAXLEN can't be negative")? as u64;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 2;
    }
    Ok(opts)
}

/// Positions (from the head) of the matches LPOS asks for.
fn lpos_matches(list: &List, elem: &[u8], opts: &LposOptions) -> Vec<usize> {
    let len = list.len();
    let want = match opts.count {
        None => 1,
        Some(0) => u64::MAX,
        Some(n) => n,
    };
    let limit = if opts.maxlen == 0 {
        len
    } else {
        usize::try_from(opts.maxlen).unwrap_or(usize::MAX).min(len)
    };
    let elements: Box<dyn Iterator<Item = &[u8]>> = if opts.from_tail {
        Box::new(list.iter_rev())
    } else {
        Box::new(list.iter())
    };
    let mut skip = opts.rank - 1;
    let mut found = Vec::new();
    for (i, e) in elements.take(limit).enumerate() {
        if e != elem {
            continue;
        }
        if skip > 0 {
            skip -= 1;
            continue;
        }
        found.push(if opts.from_tail { len - i - 1 } else { i });
        if found.len() as u64 == want {
            break;
        }
    }
    found
}

pub fn lpos(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let opts = parse_lpos_options(&argv[3..])?;
    let (list, out) = lookup(ctx, argv[1], true)?;
    let found = list.map_or_else(Vec::new, |l| lpos_matches(l, argv[2], &opts));
    match (opts.count, found.first()) {
        (Some(_), _) => {
            out.array(found.len());
            found.iter().for_each(|&p| out.int(p as i64));
        }
        (None, Some(&p)) => out.int(p as i64),
        (None, None) => out.null(),
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// LMOVE, RPOPLPUSH, LMPOP

/// Moves one element from `src` to `dst` (which may be the same key), as Redis's
/// `lmoveGenericCommand`: the destination's type is checked before anything is popped.
fn lmove_generic(
    ctx: &mut Ctx,
    src: &[u8],
    dst: &[u8],
    from_left: bool,
    to_left: bool,
) -> CmdResult {
    let now = ctx.now_ms;
    if lookup(ctx, src, false)?.0.is_none_or(|l| l.is_empty()) {
        ctx.out.null();
        return Ok(());
    }
    if ctx
        .db()
        .get(dst, now)
        .is_some_and(|v| !matches!(v, Value::List(_)))
    {
        return Err(CmdError::WrongType);
    }
    let Some(elem) = lookup(ctx, src, false)?.0.and_then(|l| l.pop(from_left)) else {
        ctx.out.null();
        return Ok(());
    };
    list_for_push(ctx, dst)?.push(to_left, &elem);
    ctx.out.bulk(&elem);
    delete_if_empty(ctx, src);
    Ok(())
}

pub fn lmove(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let from_left = parse_side(argv[3])?;
    let to_left = parse_side(argv[4])?;
    lmove_generic(ctx, argv[1], argv[2], from_left, to_left)
}

pub fn rpoplpush(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    lmove_generic(ctx, argv[1], argv[2], false, true)
}

pub fn lmpop(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    lmpop_generic(ctx, &argv[1..], None)
}

/// BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT count]
pub fn blmpop(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let timeout = parse_seconds_timeout(argv[1])?;
    lmpop_generic(ctx, &argv[2..], Some(timeout))
}

/// LMPOP / BLMPOP from the numkeys argument on (`args[0]`); `block` holds BLMPOP's timeout.
fn lmpop_generic(ctx: &mut Ctx, args: &[&[u8]], block: Option<Option<Duration>>) -> CmdResult {
    let numkeys = arg_at_least(args[0], 1, "ERR numkeys should be greater than 0")?;
    // Positions below are those of LMPOP's argv (the command name at 0).
    let argv: Vec<&[u8]> = std::iter::once(&b""[..])
        .chain(args.iter().copied())
        .collect();
    let side_at = usize::try_from(numkeys)
        .ok()
        .and_then(|n| n.checked_add(2))
        .filter(|&i| i < argv.len())
        .ok_or(CmdError::Syntax)?;
    let left = parse_side(argv[side_at])?;
    let mut count = None;
    let mut i = side_at + 1;
    while i < argv.len() {
        match argv.get(i + 1) {
            Some(value) if count.is_none() && argv[i].eq_ignore_ascii_case(b"count") => {
                count = Some(arg_at_least(
                    value,
                    1,
                    "ERR count should be greater than 0",
                )?);
            }
            _ => return Err(CmdError::Syntax),
        }
        i += 2;
    }
    let count = usize::try_from(count.unwrap_or(1)).unwrap_or(usize::MAX);
    for &key in &argv[2..side_at] {
        let (Some(list), out) = lookup(ctx, key, false)? else {
            continue;
        };
        if list.is_empty() {
            continue;
        }
        out.array(2);
        out.bulk(key);
        pop_range_reply(list, out, left, count);
        delete_if_empty(ctx, key);
        return Ok(());
    }
    match block {
        Some(timeout) => request_block(ctx, BlockKind::List, &argv[2..side_at], timeout),
        None => ctx.out.null_array(),
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Blocking forms: they serve at once when they can, else ask their connection to block
// (crate::blocking); being re-run when a key gets a list, they serve or ask again.

/// Asks to block on `keys` (no reply is written).
pub(crate) fn request_block(
    ctx: &mut Ctx,
    kind: BlockKind,
    keys: &[&[u8]],
    timeout: Option<Duration>,
) {
    ctx.client.block_request = Some(BlockRequest {
        kind,
        keys: keys.iter().map(|&k| Box::from(k)).collect(),
        timeout,
        rewrites: Vec::new(),
    });
}

fn blocking_pop(ctx: &mut Ctx, argv: &[&[u8]], left: bool) -> CmdResult {
    let timeout = parse_seconds_timeout(argv[argv.len() - 1])?;
    let keys = &argv[1..argv.len() - 1];
    for &key in keys {
        let (Some(list), out) = lookup(ctx, key, false)? else {
            continue;
        };
        let Some(elem) = list.pop(left) else {
            continue;
        };
        out.array(2);
        out.bulk(key);
        out.bulk(&elem);
        delete_if_empty(ctx, key);
        return Ok(());
    }
    request_block(ctx, BlockKind::List, keys, timeout);
    Ok(())
}

/// BLPOP key [key ...] timeout
pub fn blpop(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    blocking_pop(ctx, argv, true)
}

/// BRPOP key [key ...] timeout
pub fn brpop(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    blocking_pop(ctx, argv, false)
}

fn blocking_move(
    ctx: &mut Ctx,
    src: &[u8],
    dst: &[u8],
    sides: (bool, bool),
    timeout: Option<Duration>,
) -> CmdResult {
    if lookup(ctx, src, false)?.0.is_none_or(|l| l.is_empty()) {
        request_block(ctx, BlockKind::List, &[src], timeout);
        return Ok(());
    }
    lmove_generic(ctx, src, dst, sides.0, sides.1)
}

/// BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout
pub fn blmove(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let from_left = parse_side(argv[3])?;
    let to_left = parse_side(argv[4])?;
    let timeout = parse_seconds_timeout(argv[5])?;
    blocking_move(ctx, argv[1], argv[2], (from_left, to_left), timeout)
}

/// BRPOPLPUSH source destination timeout
pub fn brpoplpush(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let timeout = parse_seconds_timeout(argv[3])?;
    blocking_move(ctx, argv[1], argv[2], (false, true), timeout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_resolve_like_redis() {
        assert_eq!(resolve_index(-1, 3), Some(2));
        assert_eq!(resolve_index(-4, 3), None);
        assert_eq!(resolve_index(i64::MIN, 3), None);
        assert_eq!(resolve_index(3, 3), None);
    }
}
