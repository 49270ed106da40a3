//! Set commands: SADD, SREM, SMEMBERS, SISMEMBER, set algebra, SPOP, SRANDMEMBER, SSCAN.
//!
//! Follows Redis 7.0's `t_set.c`, including where it shows: computed sets (SUNION, SDIFF,
//! SINTERSTORE, SPOP of a whole set) are built up from an empty intset, so an all-integer
//! result comes back sorted and is stored as an intset; SINTER walks the smallest set; SDIFF
//! picks between Redis's two algorithms by the same cost estimate, which decides the encoding of
//! an SDIFFSTORE result.

use super::generic::{parse_cursor, parse_scan_options, reply_scan, scan_buckets};
use super::{arg_count, arg_i64, as_type, remove_each, CmdError, CmdResult, Ctx, NOT_POSITIVE};
use crate::notify::class;
use crate::protocol::reply::Reply;
use crate::types::{Set, Value};
use crate::util::{glob_match, Rng};

fn max_intset(ctx: &Ctx) -> usize {
    ctx.server.config.set_max_intset_entries
}

/// The set at `key` for reading: `None` if missing, WRONGTYPE for other types.
fn read_set<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<Option<&'a mut Set>, CmdError> {
    ctx.read_as(key, Value::as_set_mut)
}

fn write_set<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<Option<&'a mut Set>, CmdError> {
    ctx.write_as(key, Value::as_set_mut)
}

/// Looks a set up and hands out the reply buffer and the random generator with it.
/// `count_hits` is true for read lookups (keyspace hits/misses), false for write lookups.
fn set_with_rng<'a>(
    ctx: &'a mut Ctx,
    key: &[u8],
    count_hits: bool,
) -> Result<(Option<&'a mut Set>, &'a mut Reply, &'a mut Rng), CmdError> {
    let (value, out, rng) = ctx.lookup_parts(key, count_hits);
    Ok((as_type(value, Value::as_set_mut)?, out, rng))
}

/// Deletes `key` if its set has become empty.
fn delete_if_empty(ctx: &mut Ctx, key: &[u8]) {
    ctx.delete_if_empty(key, Value::as_set_mut, Set::is_empty);
}

/// Writes the members of `set` as bulk strings, in its iteration order.
fn reply_members(out: &mut Reply, set: &Set) {
    set.for_each(|m| out.bulk(m));
}

pub fn sadd(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let max = max_intset(ctx);
    let now = ctx.now_ms;
    let db = ctx.db();
    let set = match db.get_mut(argv[1], now) {
        Some(Value::Set(s)) => s,
        Some(_) => return Err(CmdError::WrongType),
        None => match db.insert_new(argv[1], Value::Set(Box::new(Set::for_member(argv[2])))) {
            Value::Set(s) => s,
            _ => return Err(CmdError::WrongType),
        },
    };
    let added = argv[2..].iter().filter(|m| set.add(m, max)).count();
    if added > 0 {
        ctx.notify(class::SET, "sadd", argv[1]);
    }
    ctx.out.int(added as i64);
    Ok(())
}

pub fn srem(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let Some(set) = write_set(ctx, argv[1])? else {
        ctx.out.int(0);
        return Ok(());
    };
    let removed = remove_each(set, &argv[2..], |s, m| s.remove(m), Set::is_empty);
    if removed > 0 {
        ctx.notify(class::SET, "srem", argv[1]);
    }
    delete_if_empty(ctx, argv[1]);
    ctx.out.int(removed);
    Ok(())
}

pub fn sismember(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let found = read_set(ctx, argv[1])?.is_some_and(|s| s.contains(argv[2]));
    ctx.out.int(found as i64);
    Ok(())
}

pub fn smismember(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (set, out, _) = set_with_rng(ctx, argv[1], true)?;
    out.array(argv.len() - 2);
    for m in &argv[2..] {
        out.int(set.as_ref().is_some_and(|s| s.contains(m)) as i64);
    }
    Ok(())
}

pub fn scard(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let n = read_set(ctx, argv[1])?.map_or(0, |s| s.len());
    ctx.out.int(n as i64);
    Ok(())
}

pub fn smove(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (src, dst, member) = (argv[1], argv[2], argv[3]);
    let max = max_intset(ctx);
    let now = ctx.now_ms;
    let db = ctx.db();
    // Both keys are looked up (and expired) first; a missing source wins over a wrong-typed
    // destination, as in Redis.
    let dst_kind = db.get(dst, now).map(|v| matches!(v, Value::Set(_)));
    let Some(src_value) = db.get_mut(src, now) else {
        ctx.out.int(0);
        return Ok(());
    };
    let Value::Set(src_set) = src_value else {
        return Err(CmdError::WrongType);
    };
    if dst_kind == Some(false) {
        return Err(CmdError::WrongType);
    }
    if src == dst {
        let found = src_set.contains(member);
        ctx.out.int(found as i64);
        return Ok(());
    }
    if !src_set.remove(member) {
        ctx.out.int(0);
        return Ok(());
    }
    let src_emptied = src_set.is_empty();
    if src_emptied {
        db.remove(src, now);
    }
    ctx.notify(class::SET, "srem", src);
    if src_emptied {
        ctx.notify(class::GENERIC, "del", src);
    }
    let db = ctx.db();
    let dst_set = match db.get_mut(dst, now) {
        Some(Value::Set(s)) => s,
        Some(_) => return Err(CmdError::WrongType),
        None => match db.insert_new(dst, Value::Set(Box::new(Set::for_member(member)))) {
            Value::Set(s) => s,
            _ => return Err(CmdError::WrongType),
        },
    };
    if dst_set.add(member, max) {
        ctx.notify(class::SET, "sadd", dst);
    }
    ctx.out.int(1);
    Ok(())
}

pub fn spop(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    match argv.len() {
        3 => return spop_with_count(ctx, argv),
        n if n > 3 => return Err(CmdError::Syntax),
        _ => {}
    }
    let (set, out, rng) = set_with_rng(ctx, argv[1], false)?;
    let popped = set.and_then(|s| s.pop_random(&mut || rng.next_u64()));
    out.bulk_or_null(popped.as_ref());
    if popped.is_some() {
        ctx.notify(class::SET, "spop", argv[1]);
    }
    delete_if_empty(ctx, argv[1]);
    Ok(())
}

fn spop_with_count(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let count = arg_count(argv[2], NOT_POSITIVE)?;
    let max = max_intset(ctx);
    let (set, out, rng) = set_with_rng(ctx, argv[1], false)?;
    let Some(set) = set.filter(|_| count != 0) else {
        out.set(0);
        return Ok(());
    };
    if count >= set.len() {
        // Redis replies with the union of the one set, then deletes the key.
        let all = union_of(&[Some(&*set)], max);
        out.set(all.len());
        reply_members(out, &all);
        let now = ctx.now_ms;
        ctx.db().remove(argv[1], now);
        ctx.notify(class::SET, "spop", argv[1]);
        ctx.notify(class::GENERIC, "del", argv[1]);
        return Ok(());
    }
    out.set(count);
    let mut rand = || rng.next_u64();
    let popped = if count.saturating_mul(3) <= set.len() {
        (0..count)
            .filter_map(|_| set.pop_random(&mut rand))
            .collect()
    } else {
        let picked = set.random_distinct(count, &mut rand);
        picked.iter().for_each(|m| {
            set.remove(m);
        });
        picked
    };
    popped.iter().for_each(|m| out.bulk(m));
    ctx.notify(class::SET, "spop", argv[1]);
    Ok(())
}

pub fn srandmember(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    match argv.len() {
        3 => return srandmember_with_count(ctx, argv),
        n if n > 3 => return Err(CmdError::Syntax),
        _ => {}
    }
    let (set, out, rng) = set_with_rng(ctx, argv[1], true)?;
    out.bulk_or_null(set.and_then(|s| s.random_member(&mut || rng.next_u64())));
    Ok(())
}

fn srandmember_with_count(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let count = arg_i64(argv[2])?;
    if count == i64::MIN {
        return Err(CmdError::msg(
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    let (set, out, rng) = set_with_rng(ctx, argv[1], true)?;
    let Some(set) = set.filter(|_| count != 0) else {
        out.array(0);
        return Ok(());
    };
    let mut rand = || rng.next_u64();
    let n = count.unsigned_abs() as usize;
    // A negative count may repeat members; a count of one is the same single random pick.
    if count < 0 || n == 1 {
        out.array(n);
        for _ in 0..n {
            if let Some(m) = set.random_member(&mut rand) {
                out.bulk(&m);
            }
        }
        return Ok(());
    }
    if n >= set.len() {
        out.array(set.len());
        reply_members(out, set);
        return Ok(());
    }
    let picked = set.random_distinct(n, &mut rand);
    out.array(picked.len());
    picked.iter().for_each(|m| out.bulk(m));
    Ok(())
}

pub fn sscan(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let cursor = parse_cursor(argv[2])?;
    // A missing key replies an empty scan before the options are even parsed, as in Redis.
    let Some(set) = read_set(ctx, argv[1])? else {
        reply_scan(ctx, 0, &[]);
        return Ok(());
    };
    let opts = parse_scan_options(&argv[3..], false)?;
    let mut members: Vec<Vec<u8>> = Vec::new();
    let next = match set {
        Set::Intset(_) => set.scan(0, |m| members.push(m.to_vec())),
        Set::Table(_) => scan_buckets(cursor, opts.count, |c| {
            let next = set.scan(c, |m| members.push(m.to_vec()));
            (next, members.len())
        }),
    };
    members.retain(|m| opts.pattern.is_none_or(|p| glob_match(p, m, false)));
    reply_scan(ctx, next, &members);
    Ok(())
}

// --- set algebra ------------------------------------------------------------------------------

/// Looks every key up as Redis's multi-key set commands do (expiring, counting hits and
/// misses, WRONGTYPE on the first non-set), then returns the sets, `None` for missing keys.
fn lookup_sets<'a>(ctx: &'a mut Ctx, keys: &[&[u8]]) -> Result<Vec<Option<&'a Set>>, CmdError> {
    for key in keys {
        read_set(ctx, key)?;
    }
    let db = &ctx.server.dbs[ctx.client.db];
    Ok(keys
        .iter()
        .map(|k| match db.keys.get(*k).map(|e| &e.value) {
            Some(Value::Set(s)) => Some(&**s),
            _ => None,
        })
        .collect())
}

/// The union, built from an empty intset as Redis builds it.
fn union_of(sets: &[Option<&Set>], max_intset: usize) -> Set {
    let mut out = Set::default();
    for set in sets.iter().flatten() {
        set.for_each(|m| {
            out.add(m, max_intset);
        });
    }
    out
}

/// `first` minus the rest (keys given so that repeating the first key empties the result).
fn difference_of(keys: &[&[u8]], sets: &[Option<&Set>], max_intset: usize) -> Set {
    let mut out = Set::default();
    let Some(first) = sets[0] else {
        return out;
    };
    if keys[1..]
        .iter()
        .zip(&sets[1..])
        .any(|(k, s)| s.is_some() && *k == keys[0])
    {
        return out;
    }
    let others: Vec<&Set> = sets[1..].iter().flatten().copied().collect();
    // Redis's choice: walk the first set probing the others (favoured 2:1), or copy the first
    // and remove the others' members. The result is the same; its encoding may not be.
    let probe_work = first.len() * (others.len() + 1) / 2;
    let copy_work = first.len() + others.iter().map(|s| s.len()).sum::<usize>();
    if probe_work <= copy_work {
        first.for_each(|m| {
            if !others.iter().any(|s| s.contains(m)) {
                out.add(m, max_intset);
            }
        });
    } else {
        first.for_each(|m| {
            out.add(m, max_intset);
        });
        for s in others {
            if out.is_empty() {
                break;
            }
            s.for_each(|m| {
                out.remove(m);
            });
        }
    }
    out
}

/// The members of the intersection, in the iteration order of the smallest set (the first of
/// equally small ones). `limit` stops early (SINTERCARD); 0 means no limit.
fn intersection_of(keys: &[&[u8]], sets: &[&Set], limit: usize) -> Vec<Vec<u8>> {
    let mut order: Vec<usize> = (0..sets.len()).collect();
    order.sort_by_key(|&i| sets[i].len());
    let (smallest, rest) = (order[0], &order[1..]);
    let mut out = Vec::new();
    sets[smallest].for_each(|m| {
        if limit != 0 && out.len() >= limit {
            return;
        }
        // The smallest key given again is the same set: no need to probe it.
        if rest
            .iter()
            .all(|&j| keys[j] == keys[smallest] || sets[j].contains(m))
        {
            out.push(m.to_vec());
        }
    });
    out
}

/// What a set-algebra command does with its result.
enum Output<'k> {
    Reply,
    Store(&'k [u8]),
}

/// Stores `result` at `dst` (replacing whatever is there, dropping its TTL) or deletes `dst`
/// when the result is empty; replies with the cardinality.
fn store_result(ctx: &mut Ctx, dst: &[u8], result: Set) {
    let n = result.len();
    let now = ctx.now_ms;
    let db = ctx.db();
    if n == 0 {
        db.remove(dst, now);
    } else {
        db.set(dst, Value::Set(Box::new(result)));
    }
    ctx.out.int(n as i64);
}

fn inter_generic(ctx: &mut Ctx, keys: &[&[u8]], output: Output) -> CmdResult {
    let max = max_intset(ctx);
    let sets = lookup_sets(ctx, keys)?;
    let present: Option<Vec<&Set>> = sets.iter().copied().collect();
    let members = present.map_or_else(Vec::new, |sets| intersection_of(keys, &sets, 0));
    match output {
        Output::Reply => {
            ctx.out.set(members.len());
            members.iter().for_each(|m| ctx.out.bulk(m));
        }
        Output::Store(dst) => {
            let mut result = Set::default();
            members.iter().for_each(|m| {
                result.add(m, max);
            });
            store_result(ctx, dst, result);
        }
    }
    Ok(())
}

pub fn smembers(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    inter_generic(ctx, &argv[1..2], Output::Reply)
}

pub fn sinter(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    inter_generic(ctx, &argv[1..], Output::Reply)
}

pub fn sinterstore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    inter_generic(ctx, &argv[2..], Output::Store(argv[1]))
}

pub fn sintercard(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let numkeys = match crate::util::parse_i64(argv[1]) {
        Some(n) if n >= 1 => n as usize,
        _ => return Err(CmdError::msg("ERR numkeys should be greater than 0")),
    };
    if numkeys > argv.len() - 2 {
        return Err(CmdError::msg(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    let mut limit = 0;
    let mut i = 2 + numkeys;
    while i < argv.len() {
        if crate::util::eq_ignore_case(argv[i], "limit") && i + 1 < argv.len() {
            limit = match crate::util::parse_i64(argv[i + 1]) {
                Some(n) if n >= 0 => n as usize,
                _ => return Err(CmdError::msg("ERR LIMIT can't be negative")),
            };
            i += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let keys = &argv[2..2 + numkeys];
    let sets = lookup_sets(ctx, keys)?;
    let present: Option<Vec<&Set>> = sets.iter().copied().collect();
    let n = present.map_or(0, |sets| intersection_of(keys, &sets, limit).len());
    ctx.out.int(n as i64);
    Ok(())
}

/// SUNION, SDIFF and their STORE forms.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Algebra {
    Union,
    Diff,
}

fn union_diff_generic(ctx: &mut Ctx, keys: &[&[u8]], op: Algebra, output: Output) -> CmdResult {
    let max = max_intset(ctx);
    let sets = lookup_sets(ctx, keys)?;
    let result = match op {
        Algebra::Union => union_of(&sets, max),
        Algebra::Diff => difference_of(keys, &sets, max),
    };
    match output {
        Output::Reply => {
            ctx.out.set(result.len());
            reply_members(ctx.out, &result);
        }
        Output::Store(dst) => store_result(ctx, dst, result),
    }
    Ok(())
}

pub fn sunion(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    union_diff_generic(ctx, &argv[1..], Algebra::Union, Output::Reply)
}

pub fn sunionstore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    union_diff_generic(ctx, &argv[2..], Algebra::Union, Output::Store(argv[1]))
}

pub fn sdiff(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    union_diff_generic(ctx, &argv[1..], Algebra::Diff, Output::Reply)
}

pub fn sdiffstore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    union_diff_generic(ctx, &argv[2..], Algebra::Diff, Output::Store(argv[1]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set_of(members: &[&str]) -> Set {
        let mut s = Set::default();
        for m in members {
            s.add(m.as_bytes(), 512);
        }
        s
    }

    fn members(s: &Set) -> Vec<String> {
        let mut v: Vec<String> = s
            .members()
            .into_iter()
            .map(|m| String::from_utf8_lossy(&m).into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn difference_picks_the_algorithm_but_not_the_result() {
        let a = set_of(&["a", "1", "2"]);
        let b = set_of(&["a"]);
        // Probing: only the surviving integers are added, so the result is an intset.
        let probed = difference_of(&[b"a", b"b"], &[Some(&a), Some(&b)], 512);
        assert_eq!(members(&probed), ["1", "2"]);
        assert_eq!(probed.encoding_name(), "intset");
        // Copying (several small others, cheaper than probing each): "a" was added, so it
        // stays a hashtable.
        let first = set_of(&["a", "1", "2", "3"]);
        let (x, y) = (set_of(&["x"]), set_of(&["y"]));
        let keys: [&[u8]; 4] = [b"f", b"b", b"x", b"y"];
        let copied = difference_of(&keys, &[Some(&first), Some(&b), Some(&x), Some(&y)], 512);
        assert_eq!(members(&copied), ["1", "2", "3"]);
        assert_eq!(copied.encoding_name(), "hashtable");
        // The first key repeated: empty.
        let same = difference_of(&[b"a", b"a"], &[Some(&a), Some(&a)], 512);
        assert!(same.is_empty());
        // A missing first key: empty.
        assert!(difference_of(&[b"x", b"a"], &[None, Some(&a)], 512).is_empty());
    }

    #[test]
    fn intersection_walks_the_smallest_and_honours_the_limit() {
        let a = set_of(&["3", "1", "2", "x"]);
        let b = set_of(&["2", "3", "1"]);
        let got = intersection_of(&[b"a", b"b"], &[&a, &b], 0);
        assert_eq!(got, vec![b"1".to_vec(), b"2".to_vec(), b"3".to_vec()]);
        assert_eq!(intersection_of(&[b"a", b"b"], &[&a, &b], 2).len(), 2);
        assert_eq!(intersection_of(&[b"a", b"a"], &[&a, &a], 0).len(), 4);
    }
}
