//! Hash commands: HSET, HGET, HMGET, HGETALL, HDEL, HINCRBY, HSCAN, HRANDFIELD and the rest.
//!
//! Follows Redis 7.0's `t_hash.c`: argument errors before key lookups, `hashTypeTryConversion`
//! before writes (a long field or value turns a listpack into a hashtable before anything is
//! written), and a hash that loses its last field is deleted.

use super::generic::{parse_cursor, parse_scan_options, reply_scan, scan_buckets};
use super::{arg_i64, as_type, remove_each, CmdError, CmdResult, Ctx};
use crate::notify::class;
use crate::protocol::reply::Reply;
use crate::types::hash::HashLimits;
use crate::types::{Hash, Value};
use crate::util::{eq_ignore_case, glob_match, long_double_add, LdAddError, Rng};

fn limits(ctx: &Ctx) -> HashLimits {
    HashLimits {
        max_listpack_entries: ctx.server.config.hash_max_listpack_entries,
        max_listpack_value: ctx.server.config.hash_max_listpack_value,
    }
}

/// The hash at `key` for reading: `None` if missing, WRONGTYPE for other types.
fn read_hash<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<Option<&'a mut Hash>, CmdError> {
    ctx.read_as(key, Value::as_hash_mut)
}

/// The hash at `key` for writing, without creating it.
fn write_hash<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<Option<&'a mut Hash>, CmdError> {
    ctx.write_as(key, Value::as_hash_mut)
}

/// Redis's `hashTypeLookupWriteOrCreate`: the hash at `key`, created empty if missing.
fn hash_or_create<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<&'a mut Hash, CmdError> {
    ctx.write_or_create(key, Value::as_hash_mut, || Value::Hash(Hash::default()))
}

/// Looks a hash up for reading and hands out the reply buffer and the random generator with it
/// (HRANDFIELD replies straight from the stored value).
fn read_hash_with_rng<'a>(
    ctx: &'a mut Ctx,
    key: &[u8],
) -> Result<(Option<&'a Hash>, &'a mut Reply, &'a mut Rng), CmdError> {
    let (value, out, rng) = ctx.lookup_parts(key, true);
    Ok((as_type(value, Value::as_hash_mut)?.map(|h| &*h), out, rng))
}

fn arity_error(name: &str) -> CmdError {
    CmdError::msg(format!(
        "ERR wrong number of arguments for '{name}' command"
    ))
}

/// HSET and HMSET: the same write, different replies (count of new fields / OK).
fn set_pairs(ctx: &mut Ctx, argv: &[&[u8]], name: &str) -> Result<i64, CmdError> {
    if argv.len() % 2 == 1 {
        return Err(arity_error(name));
    }
    let limits = limits(ctx);
    let h = hash_or_create(ctx, argv[1])?;
    h.prepare_for_lengths(argv[2..].iter().map(|a| a.len()), limits);
    let created = argv[2..]
        .chunks(2)
        .filter(|pair| h.set(pair[0], pair[1], limits))
        .count();
    ctx.notify(class::HASH, "hset", argv[1]);
    Ok(created as i64)
}

pub fn hset(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let created = set_pairs(ctx, argv, "hset")?;
    ctx.out.int(created);
    Ok(())
}

pub fn hmset(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    set_pairs(ctx, argv, "hmset")?;
    ctx.out.ok();
    Ok(())
}

pub fn hsetnx(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let limits = limits(ctx);
    let h = hash_or_create(ctx, argv[1])?;
    // Redis converts only when it actually writes, so an existing field leaves a listpack be.
    let written = !h.contains(argv[2]);
    if written {
        h.prepare_for_lengths([argv[2].len(), argv[3].len()].into_iter(), limits);
        h.set(argv[2], argv[3], limits);
        ctx.notify(class::HASH, "hset", argv[1]);
    }
    ctx.out.int(written as i64);
    Ok(())
}

pub fn hget(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    match ctx.read_with_out(argv[1]) {
        (Some(Value::Hash(h)), out) => out.bulk_or_null(h.get(argv[2]).as_deref()),
        (None, out) => out.null(),
        (Some(_), _) => return Err(CmdError::WrongType),
    }
    Ok(())
}

pub fn hmget(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let fields = &argv[2..];
    match ctx.read_with_out(argv[1]) {
        (Some(Value::Hash(h)), out) => {
            out.array(fields.len());
            for f in fields {
                out.bulk_or_null(h.get(f).as_deref());
            }
        }
        (None, out) => {
            out.array(fields.len());
            fields.iter().for_each(|_| out.null());
        }
        (Some(_), _) => return Err(CmdError::WrongType),
    }
    Ok(())
}

pub fn hdel(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let Some(h) = write_hash(ctx, argv[1])? else {
        ctx.out.int(0);
        return Ok(());
    };
    let deleted = remove_each(h, &argv[2..], |h, f| h.remove(f), Hash::is_empty);
    let emptied = h.is_empty();
    if deleted > 0 {
        ctx.notify(class::HASH, "hdel", argv[1]);
    }
    if emptied {
        let now = ctx.now_ms;
        ctx.db().remove(argv[1], now);
        ctx.notify(class::GENERIC, "del", argv[1]);
    }
    ctx.out.int(deleted);
    Ok(())
}

pub fn hlen(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let n = read_hash(ctx, argv[1])?.map_or(0, |h| h.len());
    ctx.out.int(n as i64);
    Ok(())
}

pub fn hstrlen(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let n = read_hash(ctx, argv[1])?
        .and_then(|h| h.get(argv[2]).map(|v| v.len()))
        .unwrap_or(0);
    ctx.out.int(n as i64);
    Ok(())
}

pub fn hexists(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let found = read_hash(ctx, argv[1])?.is_some_and(|h| h.contains(argv[2]));
    ctx.out.int(found as i64);
    Ok(())
}

/// What HGETALL, HKEYS and HVALS reply with.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Parts {
    Both,
    Fields,
    Values,
}

fn get_all(ctx: &mut Ctx, key: &[u8], parts: Parts) -> CmdResult {
    let (value, out) = ctx.read_with_out(key);
    let h = match value {
        None => None,
        Some(Value::Hash(h)) => Some(&*h),
        Some(_) => return Err(CmdError::WrongType),
    };
    let len = h.map_or(0, |h| h.len());
    if parts == Parts::Both {
        out.map(len);
    } else {
        out.array(len);
    }
    if let Some(h) = h {
        h.for_each(|f, v| {
            if parts != Parts::Values {
                out.bulk(f);
            }
            if parts != Parts::Fields {
                out.bulk(v);
            }
        });
    }
    Ok(())
}

pub fn hgetall(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    get_all(ctx, argv[1], Parts::Both)
}

pub fn hkeys(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    get_all(ctx, argv[1], Parts::Fields)
}

pub fn hvals(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    get_all(ctx, argv[1], Parts::Values)
}

pub fn hincrby(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let incr = arg_i64(argv[3])?;
    let limits = limits(ctx);
    let h = hash_or_create(ctx, argv[1])?;
    let current = match h.get(argv[2]) {
        Some(v) => crate::util::parse_i64(&v)
            .ok_or_else(|| CmdError::msg("ERR hash value is not an integer"))?,
        None => 0,
    };
    let new = current.checked_add(incr).ok_or(CmdError::Overflow)?;
    h.set(argv[2], itoa::Buffer::new().format(new).as_bytes(), limits);
    ctx.notify(class::HASH, "hincrby", argv[1]);
    ctx.out.int(new);
    Ok(())
}

pub fn hincrbyfloat(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    // The increment is checked on its own first, as Redis does before looking the key up.
    match long_double_add(None, argv[3]) {
        Ok(_) => {}
        Err(LdAddError::NanOrInfinity) => {
            return Err(CmdError::msg("ERR value is NaN or Infinity"))
        }
        Err(_) => return Err(CmdError::NotFloat),
    }
    let limits = limits(ctx);
    let h = hash_or_create(ctx, argv[1])?;
    let sum = long_double_add(h.get(argv[2]).as_deref(), argv[3]).map_err(|e| match e {
        LdAddError::StoredNotFloat => CmdError::msg("ERR hash value is not a float"),
        LdAddError::NanOrInfinity => CmdError::msg("ERR increment would produce NaN or Infinity"),
        LdAddError::IncrNotFloat => CmdError::NotFloat,
    })?;
    h.set(argv[2], &sum, limits);
    ctx.notify(class::HASH, "hincrbyfloat", argv[1]);
    ctx.out.bulk(&sum);
    Ok(())
}

pub fn hscan(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let cursor = parse_cursor(argv[2])?;
    // A missing key replies an empty scan before the options are even parsed, as in Redis.
    let Some(h) = read_hash(ctx, argv[1])? else {
        reply_scan(ctx, 0, &[]);
        return Ok(());
    };
    let opts = parse_scan_options(&argv[3..], false)?;
    let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let next = match h {
        Hash::Listpack(_) => h.scan(0, |f, v| pairs.push((f.to_vec(), v.to_vec()))),
        // COUNT counts fields and values both.
        Hash::Table(_) => scan_buckets(cursor, opts.count, |c| {
            let next = h.scan(c, |f, v| pairs.push((f.to_vec(), v.to_vec())));
            (next, pairs.len() * 2)
        }),
    };
    let items: Vec<Vec<u8>> = pairs
        .into_iter()
        .filter(|(f, _)| opts.pattern.is_none_or(|p| glob_match(p, f, false)))
        .flat_map(|(f, v)| [f, v])
        .collect();
    reply_scan(ctx, next, &items);
    Ok(())
}

/// Writes one HRANDFIELD element: the field, and with WITHVALUES its value (a nested pair in
/// RESP3, flat in RESP2).
fn reply_field(out: &mut Reply, field: &[u8], value: &[u8], with_values: bool) {
    if with_values && out.resp3 {
        out.array(2);
    }
    out.bulk(field);
    if with_values {
        out.bulk(value);
    }
}

/// The reply header for `n` HRANDFIELD elements.
fn reply_fields_len(out: &mut Reply, n: usize, with_values: bool) {
    if with_values && !out.resp3 {
        out.array(n.saturating_mul(2));
    } else {
        out.array(n);
    }
}

pub fn hrandfield(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if argv.len() >= 3 {
        let count = arg_i64(argv[2])?;
        if count == i64::MIN {
            return Err(CmdError::msg(
                "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
            ));
        }
        if argv.len() > 4 || (argv.len() == 4 && !eq_ignore_case(argv[3], "withvalues")) {
            return Err(CmdError::Syntax);
        }
        let with_values = argv.len() == 4;
        // Redis refuses counts whose doubled reply length would overflow.
        if with_values && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
            return Err(CmdError::msg("ERR value is out of range"));
        }
        return hrandfield_with_count(ctx, argv[1], count, with_values);
    }
    let (h, out, rng) = read_hash_with_rng(ctx, argv[1])?;
    match h.and_then(|h| h.random_pair(&mut || rng.next_u64())) {
        Some((f, _)) => out.bulk(&f),
        None => out.null(),
    }
    Ok(())
}

fn hrandfield_with_count(ctx: &mut Ctx, key: &[u8], count: i64, with_values: bool) -> CmdResult {
    let (h, out, rng) = read_hash_with_rng(ctx, key)?;
    let Some(h) = h.filter(|_| count != 0) else {
        out.array(0);
        return Ok(());
    };
    let mut rand = || rng.next_u64();
    let n = count.unsigned_abs() as usize;
    // A negative count may repeat fields; a count of one is the same single random pick.
    if count < 0 || n == 1 {
        reply_fields_len(out, n, with_values);
        for _ in 0..n {
            if let Some((f, v)) = h.random_pair(&mut rand) {
                reply_field(out, &f, &v, with_values);
            }
        }
        return Ok(());
    }
    if n >= h.len() {
        reply_fields_len(out, h.len(), with_values);
        h.for_each(|f, v| reply_field(out, f, v, with_values));
        return Ok(());
    }
    let picked = h.random_distinct(n, &mut rand);
    reply_fields_len(out, picked.len(), with_values);
    for (f, v) in &picked {
        reply_field(out, f, v, with_values);
    }
    Ok(())
}
