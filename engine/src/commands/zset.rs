//! Sorted set commands: ZADD, ZRANGE and its variants, ZRANK, ZSCORE, ZPOP*, set algebra, ZSCAN.
//!
//! Argument parsing, the order of checks (and so which error wins), reply shapes and key
//! lifetime follow Redis 7.0's `t_zset.c`; the data structure itself is [`Zset`].
//! REV commands take their bounds as `max min`, so they swap the two before parsing.

use std::collections::HashMap;

use super::generic::parse_scan_options;
use super::{arg_count, arg_i64, as_type, optional_count, remove_each, CmdError, CmdResult, Ctx};
use crate::notify::class;
use crate::protocol::reply::Reply;
use crate::types::zset::{
    normalize_rank_range, LexRange, Limit, ScoreRange, ZaddFlags, ZaddOutcome, ZsetError,
    ZsetLimits,
};
use crate::types::{Set, Value, Zset};
use crate::util::{eq_ignore_case, format_double, glob_match, parse_f64, Rng};

fn zset_error(e: ZsetError) -> CmdError {
    CmdError::msg(e.message())
}

fn limits(ctx: &Ctx) -> ZsetLimits {
    ZsetLimits {
        max_listpack_entries: ctx.server.config.zset_max_listpack_entries,
        max_listpack_value: ctx.server.config.zset_max_listpack_value,
    }
}

/// The sorted set at `key` for reading (counts a keyspace hit or miss); WRONGTYPE otherwise.
fn read_zset<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<Option<&'a mut Zset>, CmdError> {
    ctx.read_as(key, Value::as_zset_mut)
}

/// The sorted set at `key` for writing; WRONGTYPE for other types.
fn write_zset<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<Option<&'a mut Zset>, CmdError> {
    ctx.write_as(key, Value::as_zset_mut)
}

/// The sorted set at `key` for writing, created empty if missing; WRONGTYPE for other types.
fn zset_or_create<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<&'a mut Zset, CmdError> {
    ctx.write_or_create(key, Value::as_zset_mut, || Value::ZSet(Box::default()))
}

/// Deletes `key` (a set that just became empty: Redis never keeps empty sorted sets).
fn delete_key(ctx: &mut Ctx, key: &[u8]) {
    let now = ctx.now_ms;
    ctx.db().remove(key, now);
}

/// Stores a command's result set at `dst` (dropping any TTL, like Redis's `setKey`), or
/// deletes `dst` when the result is empty; replies the stored cardinality.
fn store_result(ctx: &mut Ctx, dst: &[u8], result: Zset) {
    let len = result.len();
    if len == 0 {
        delete_key(ctx, dst);
    } else {
        ctx.db().set(dst, Value::ZSet(Box::new(result)));
    }
    ctx.out.int(len as i64);
}

/// Writes `(member, score)` items the way ZRANGE does: a flat array in RESP2 (scores
/// interleaved if asked), and with WITHSCORES in RESP3 an array of `[member, score]` pairs.
fn reply_items<'a>(
    out: &mut Reply,
    items: impl ExactSizeIterator<Item = (&'a [u8], f64)>,
    withscores: bool,
) {
    reply_items_header(out, items.len(), withscores);
    for (member, score) in items {
        reply_item(out, member, score, withscores);
    }
}

/// The array header for `n` items of [`reply_items`].
fn reply_items_header(out: &mut Reply, n: usize, withscores: bool) {
    let flat_pairs = withscores && !out.resp3;
    out.array(if flat_pairs { 2 * n } else { n });
}

/// One item of [`reply_items`].
fn reply_item(out: &mut Reply, member: &[u8], score: f64, withscores: bool) {
    if withscores && out.resp3 {
        out.array(2);
    }
    out.bulk(member);
    if withscores {
        out.double(score);
    }
}

// ---------------------------------------------------------------------------------------------
// ZADD / ZINCRBY

pub fn zadd(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    zadd_generic(ctx, argv, false)
}

pub fn zincrby(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    zadd_generic(ctx, argv, true)
}

/// `zaddGenericCommand`. ZINCRBY shares it, including the option scan: `ZINCRBY k nx m` leaves
/// an odd number of arguments and is a syntax error, as in Redis.
fn zadd_generic(ctx: &mut Ctx, argv: &[&[u8]], incr_command: bool) -> CmdResult {
    let key = argv[1];
    let mut flags = ZaddFlags {
        incr: incr_command,
        ..ZaddFlags::default()
    };
    let mut ch = false;
    let mut idx = 2;
    while idx < argv.len() {
        let opt = argv[idx];
        if eq_ignore_case(opt, "nx") {
            flags.nx = true;
        } else if eq_ignore_case(opt, "xx") {
            flags.xx = true;
        } else if eq_ignore_case(opt, "ch") {
            ch = true;
        } else if eq_ignore_case(opt, "incr") {
            flags.incr = true;
        } else if eq_ignore_case(opt, "gt") {
            flags.gt = true;
        } else if eq_ignore_case(opt, "lt") {
            flags.lt = true;
        } else {
            break;
        }
        idx += 1;
    }
    let pairs = &argv[idx..];
    if pairs.is_empty() || !pairs.len().is_multiple_of(2) {
        return Err(CmdError::Syntax);
    }
    if flags.nx && flags.xx {
        return Err(CmdError::msg(
            "ERR XX and NX options at the same time are not compatible",
        ));
    }
    if (flags.nx && (flags.gt || flags.lt)) || (flags.gt && flags.lt) {
        return Err(CmdError::msg(
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if flags.incr && pairs.len() > 2 {
        return Err(CmdError::msg(
            "ERR INCR option supports a single increment-element pair",
        ));
    }
    // All scores are checked before anything changes: the command applies fully or not at all.
    let scores = pairs
        .chunks_exact(2)
        .map(|p| parse_f64(p[0]).ok_or(CmdError::NotFloat))
        .collect::<Result<Vec<f64>, _>>()?;
    let limits = limits(ctx);

    let exists = write_zset(ctx, key)?.is_some();
    let (mut added, mut updated, mut processed) = (0i64, 0i64, 0i64);
    let mut last_score = 0.0;
    if exists || !flags.xx {
        let z = zset_or_create(ctx, key)?;
        let mut failure = None;
        for (pair, &score) in pairs.chunks_exact(2).zip(&scores) {
            match z.insert_or_update(pair[1], score, flags, &limits) {
                Ok(outcome) => {
                    added += outcome.is_added() as i64;
                    updated += matches!(outcome, ZaddOutcome::Updated(_)) as i64;
                    if let Some(s) = outcome.score() {
                        processed += 1;
                        last_score = s;
                    }
                }
                Err(e) => {
                    failure = Some(zset_error(e));
                    break;
                }
            }
        }
        let empty = z.is_empty();
        if empty {
            delete_key(ctx, key);
        }
        if let Some(e) = failure {
            return Err(e);
        }
    }
    if added + updated > 0 {
        let event = if flags.incr { "zincr" } else { "zadd" };
        ctx.notify(class::ZSET, event, key);
    }
    if flags.incr {
        if processed > 0 {
            ctx.out.double(last_score);
        } else {
            ctx.out.null();
        }
    } else {
        ctx.out.int(if ch { added + updated } else { added });
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Simple reads and ZREM

pub fn zrem(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let key = argv[1];
    let Some(z) = write_zset(ctx, key)? else {
        ctx.out.int(0);
        return Ok(());
    };
    let deleted = remove_each(z, &argv[2..], |z, m| z.remove(m), Zset::is_empty);
    let emptied = z.is_empty();
    if deleted > 0 {
        ctx.notify(class::ZSET, "zrem", key);
    }
    if emptied {
        delete_key(ctx, key);
        ctx.notify(class::GENERIC, "del", key);
    }
    ctx.out.int(deleted);
    Ok(())
}

pub fn zcard(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let n = read_zset(ctx, argv[1])?.map_or(0, |z| z.len());
    ctx.out.int(n as i64);
    Ok(())
}

pub fn zscore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    match read_zset(ctx, argv[1])?.and_then(|z| z.score(argv[2])) {
        Some(score) => ctx.out.double(score),
        None => ctx.out.null(),
    }
    Ok(())
}

pub fn zmscore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let scores: Vec<Option<f64>> = match read_zset(ctx, argv[1])? {
        Some(z) => argv[2..].iter().map(|m| z.score(m)).collect(),
        None => vec![None; argv.len() - 2],
    };
    ctx.out.array(scores.len());
    for score in scores {
        match score {
            Some(s) => ctx.out.double(s),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

pub fn zcount(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let range = ScoreRange::parse(argv[2], argv[3]).map_err(zset_error)?;
    let n = read_zset(ctx, argv[1])?.map_or(0, |z| z.count_in_score_range(&range));
    ctx.out.int(n as i64);
    Ok(())
}

pub fn zlexcount(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let range = LexRange::parse(argv[2], argv[3]).map_err(zset_error)?;
    let n = read_zset(ctx, argv[1])?.map_or(0, |z| z.count_in_lex_range(&range));
    ctx.out.int(n as i64);
    Ok(())
}

pub fn zrank(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    rank_generic(ctx, argv, false)
}

pub fn zrevrank(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    rank_generic(ctx, argv, true)
}

fn rank_generic(ctx: &mut Ctx, argv: &[&[u8]], reverse: bool) -> CmdResult {
    match read_zset(ctx, argv[1])?.and_then(|z| z.rank(argv[2], reverse)) {
        Some(rank) => ctx.out.int(rank as i64),
        None => ctx.out.null(),
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// ZRANGE family

/// What the range bounds mean; `Auto` until ZRANGE's BYSCORE/BYLEX decide (default: rank).
#[derive(Clone, Copy, PartialEq, Eq)]
enum RangeKind {
    Auto,
    Rank,
    Score,
    Lex,
}

/// `Auto` until ZRANGE's REV decides (default: forward).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Auto,
    Forward,
    Reverse,
}

enum Bounds {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange),
}

/// A parsed ZRANGE-style request.
struct RangeRequest {
    bounds: Bounds,
    reverse: bool,
    withscores: bool,
    /// LIMIT of BYSCORE/BYLEX; `None` when a negative offset makes the result empty.
    limit: Option<Limit>,
}

/// `zrangeGenericCommand` steps 1 and 2: options (from `key_idx + 3`), conflicts, bounds.
/// `kind`/`dir` are fixed by the legacy commands and `Auto` for ZRANGE and ZRANGESTORE.
fn parse_range_request(
    argv: &[&[u8]],
    key_idx: usize,
    store: bool,
    mut kind: RangeKind,
    mut dir: Direction,
) -> Result<RangeRequest, CmdError> {
    let mut withscores = false;
    let (mut offset, mut count) = (0i64, -1i64);
    let mut j = key_idx + 3;
    while j < argv.len() {
        let arg = argv[j];
        let left = argv.len() - j - 1;
        if !store && eq_ignore_case(arg, "withscores") {
            withscores = true;
        } else if eq_ignore_case(arg, "limit") && left >= 2 {
            offset = arg_i64(argv[j + 1])?;
            count = arg_i64(argv[j + 2])?;
            j += 2;
        } else if dir == Direction::Auto && eq_ignore_case(arg, "rev") {
            dir = Direction::Reverse;
        } else if kind == RangeKind::Auto && eq_ignore_case(arg, "bylex") {
            kind = RangeKind::Lex;
        } else if kind == RangeKind::Auto && eq_ignore_case(arg, "byscore") {
            kind = RangeKind::Score;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    if kind == RangeKind::Auto {
        kind = RangeKind::Rank;
    }
    let reverse = dir == Direction::Reverse;
    if count != -1 && kind == RangeKind::Rank {
        return Err(CmdError::msg(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if withscores && kind == RangeKind::Lex {
        return Err(CmdError::msg(
            "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    let (mut lo, mut hi) = (argv[key_idx + 1], argv[key_idx + 2]);
    if reverse && kind != RangeKind::Rank {
        // Given as `max min`.
        std::mem::swap(&mut lo, &mut hi);
    }
    let bounds = match kind {
        RangeKind::Score => Bounds::Score(ScoreRange::parse(lo, hi).map_err(zset_error)?),
        RangeKind::Lex => Bounds::Lex(LexRange::parse(lo, hi).map_err(zset_error)?),
        _ => Bounds::Rank(arg_i64(lo)?, arg_i64(hi)?),
    };
    Ok(RangeRequest {
        bounds,
        reverse,
        withscores,
        limit: Limit::from_redis(offset, count),
    })
}

/// The elements a request selects, in reply order.
fn select_range<'z>(z: &'z Zset, req: &RangeRequest) -> Vec<(&'z [u8], f64)> {
    match (&req.bounds, req.limit) {
        (Bounds::Rank(start, end), _) => match normalize_rank_range(*start, *end, z.len()) {
            Some((s, e)) => z.range_by_rank(s, e, req.reverse).collect(),
            None => Vec::new(),
        },
        (_, None) => Vec::new(),
        (Bounds::Score(range), Some(limit)) => z.range_by_score(range, limit, req.reverse),
        (Bounds::Lex(range), Some(limit)) => z.range_by_lex(range, limit, req.reverse),
    }
}

fn range_to_client(ctx: &mut Ctx, argv: &[&[u8]], kind: RangeKind, dir: Direction) -> CmdResult {
    let req = parse_range_request(argv, 1, false, kind, dir)?;
    match ctx.read_with_out(argv[1]) {
        (None, out) => out.array(0),
        (Some(Value::ZSet(z)), out) => {
            let items = select_range(z, &req);
            reply_items(out, items.into_iter(), req.withscores);
        }
        (Some(_), _) => return Err(CmdError::WrongType),
    }
    Ok(())
}

pub fn zrange(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    range_to_client(ctx, argv, RangeKind::Auto, Direction::Auto)
}

pub fn zrevrange(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    range_to_client(ctx, argv, RangeKind::Rank, Direction::Reverse)
}

pub fn zrangebyscore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    range_to_client(ctx, argv, RangeKind::Score, Direction::Forward)
}

pub fn zrevrangebyscore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    range_to_client(ctx, argv, RangeKind::Score, Direction::Reverse)
}

pub fn zrangebylex(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    range_to_client(ctx, argv, RangeKind::Lex, Direction::Forward)
}

pub fn zrevrangebylex(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    range_to_client(ctx, argv, RangeKind::Lex, Direction::Reverse)
}

/// ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count].
pub fn zrangestore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let req = parse_range_request(argv, 2, true, RangeKind::Auto, Direction::Auto)?;
    let limits = limits(ctx);
    let mut result = Zset::new();
    if let Some(src) = read_zset(ctx, argv[2])? {
        for (member, score) in select_range(src, &req) {
            // Members of one set are distinct, so this never fails or skips.
            let _ = result.insert_or_update(member, score, ZaddFlags::default(), &limits);
        }
    }
    store_result(ctx, argv[1], result);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// ZREMRANGEBY*

pub fn zremrangebyrank(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (start, end) = (arg_i64(argv[2])?, arg_i64(argv[3])?);
    remove_range(ctx, argv[1], |z| {
        normalize_rank_range(start, end, z.len()).map_or(0, |(s, e)| z.remove_range_by_rank(s, e))
    })
}

pub fn zremrangebyscore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let range = ScoreRange::parse(argv[2], argv[3]).map_err(zset_error)?;
    remove_range(ctx, argv[1], |z| z.remove_range_by_score(&range))
}

pub fn zremrangebylex(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let range = LexRange::parse(argv[2], argv[3]).map_err(zset_error)?;
    remove_range(ctx, argv[1], |z| z.remove_range_by_lex(&range))
}

fn remove_range(ctx: &mut Ctx, key: &[u8], remove: impl FnOnce(&mut Zset) -> usize) -> CmdResult {
    let Some(z) = write_zset(ctx, key)? else {
        ctx.out.int(0);
        return Ok(());
    };
    let removed = remove(z);
    if z.is_empty() {
        delete_key(ctx, key);
    }
    ctx.out.int(removed as i64);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// ZPOPMIN / ZPOPMAX

pub fn zpopmin(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    pop_generic(ctx, argv, false)
}

pub fn zpopmax(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    pop_generic(ctx, argv, true)
}

fn pop_generic(ctx: &mut Ctx, argv: &[&[u8]], max: bool) -> CmdResult {
    if argv.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let count = optional_count(argv.get(2).copied())?;
    let key = argv[1];
    let Some(z) = write_zset(ctx, key)? else {
        ctx.out.array(0);
        return Ok(());
    };
    let n = count.unwrap_or(1);
    if n == 0 {
        ctx.out.array(0);
        return Ok(());
    }
    let popped = if max { z.pop_max(n) } else { z.pop_min(n) };
    if z.is_empty() {
        delete_key(ctx, key);
    }
    // A plain pop replies one flat [member, score]; with COUNT, RESP3 nests the pairs.
    let nested = ctx.out.resp3 && count.is_some();
    let out = &mut *ctx.out;
    out.array(if nested {
        popped.len()
    } else {
        2 * popped.len()
    });
    for (member, score) in &popped {
        if nested {
            out.array(2);
        }
        out.bulk(member);
        out.double(*score);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// ZRANDMEMBER

pub fn zrandmember(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if argv.len() >= 3 {
        let count = arg_i64(argv[2])?;
        if count == i64::MIN {
            return Err(CmdError::msg(
                "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
            ));
        }
        let withscores = argv.len() == 4;
        if argv.len() > 4 || (withscores && !eq_ignore_case(argv[3], "withscores")) {
            return Err(CmdError::Syntax);
        }
        // Bounds the reply size with scores (2 items per element in RESP2).
        if withscores && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
            return Err(CmdError::msg("ERR value is out of range"));
        }
        return randmember_with_count(ctx, argv[1], count, withscores);
    }
    let Some((z, rng, out)) = read_zset_with_rng(ctx, argv[1])? else {
        ctx.out.null();
        return Ok(());
    };
    if let Some((member, _)) = z.get_by_rank(rng.below(z.len())) {
        out.bulk(member);
    }
    Ok(())
}

/// For ZRANDMEMBER, which needs the sorted set, the engine's RNG and the reply buffer at once:
/// looks `key` up as [`read_zset`] does (expiry, hit/miss, WRONGTYPE), then lends all three.
fn read_zset_with_rng<'a>(
    ctx: &'a mut Ctx,
    key: &[u8],
) -> Result<Option<(&'a Zset, &'a mut Rng, &'a mut Reply)>, CmdError> {
    let (value, out, rng) = ctx.lookup_parts(key, true);
    Ok(as_type(value, Value::as_zset_mut)?.map(|z| (&*z, rng, out)))
}

/// `zrandmemberWithCountCommand`: a negative count may repeat members; a positive one returns
/// distinct members, the whole set (in reverse order) when it asks for at least its size.
fn randmember_with_count(ctx: &mut Ctx, key: &[u8], count: i64, withscores: bool) -> CmdResult {
    let Some((z, rng, out)) = read_zset_with_rng(ctx, key)? else {
        ctx.out.array(0);
        return Ok(());
    };
    if count == 0 {
        out.array(0);
        return Ok(());
    }
    let size = z.len();
    let wanted = count.unsigned_abs() as usize;
    if count < 0 || count == 1 {
        // Streamed, not collected: the count may be far beyond what fits in memory, and Redis
        // too just keeps writing.
        reply_items_header(out, wanted, withscores);
        for _ in 0..wanted {
            if let Some((member, score)) = z.get_by_rank(rng.below(size)) {
                reply_item(out, member, score, withscores);
            }
        }
        return Ok(());
    }
    let ranks: Vec<usize> = if wanted >= size {
        // The whole set, highest rank first (what Redis 7.0 replies here).
        (0..size).rev().collect()
    } else if wanted * 3 > size {
        // Most of the set: shuffle the first `wanted` places of all ranks.
        let mut all: Vec<usize> = (0..size).collect();
        for i in 0..wanted {
            let j = i + rng.below(size - i);
            all.swap(i, j);
        }
        all.truncate(wanted);
        all
    } else {
        // A small part: draw until `wanted` distinct ranks.
        let mut seen = std::collections::HashSet::with_capacity(wanted);
        let mut picked = Vec::with_capacity(wanted);
        while picked.len() < wanted {
            let r = rng.below(size);
            if seen.insert(r) {
                picked.push(r);
            }
        }
        picked
    };
    reply_items_header(out, ranks.len(), withscores);
    for (member, score) in ranks.iter().filter_map(|&r| z.get_by_rank(r)) {
        reply_item(out, member, score, withscores);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// ZUNION / ZINTER / ZDIFF (+STORE) and ZINTERCARD

#[derive(Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

impl Aggregate {
    /// `zunionInterAggregate`: inf + -inf is taken as 0, never NaN.
    fn apply(self, target: &mut f64, value: f64) {
        match self {
            Aggregate::Sum => {
                *target += value;
                if target.is_nan() {
                    *target = 0.0;
                }
            }
            Aggregate::Min => {
                if value < *target {
                    *target = value;
                }
            }
            Aggregate::Max => {
                if value > *target {
                    *target = value;
                }
            }
        }
    }
}

/// One input of the set algebra: a sorted set, a plain set (every member scores 1) or nothing.
#[derive(Clone, Copy)]
enum Source<'a> {
    Missing,
    Sorted(&'a Zset),
    Plain(&'a Set),
}

impl Source<'_> {
    fn len(&self) -> usize {
        match self {
            Source::Missing => 0,
            Source::Sorted(z) => z.len(),
            Source::Plain(s) => s.len(),
        }
    }

    fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            Source::Missing => None,
            Source::Sorted(z) => z.score(member),
            Source::Plain(s) => s.contains(member).then_some(1.0),
        }
    }

    fn for_each(&self, mut f: impl FnMut(&[u8], f64)) {
        match self {
            Source::Missing => {}
            Source::Sorted(z) => z.iter().for_each(|(m, s)| f(m, s)),
            Source::Plain(s) => s.for_each(|m| f(m, 1.0)),
        }
    }
}

/// What the caller of [`set_algebra`] wants done with the result.
#[derive(Clone, Copy)]
enum Output<'a> {
    Store(&'a [u8]),
    Reply,
    Cardinality,
}

/// Parsed options of the algebra commands.
struct AlgebraOptions {
    weights: Vec<f64>,
    aggregate: Aggregate,
    withscores: bool,
    /// ZINTERCARD LIMIT; 0 means none.
    limit: usize,
}

pub fn zunionstore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    set_algebra(
        ctx,
        argv,
        SetOp::Union,
        Output::Store(argv[1]),
        "zunionstore",
    )
}

pub fn zinterstore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    set_algebra(
        ctx,
        argv,
        SetOp::Inter,
        Output::Store(argv[1]),
        "zinterstore",
    )
}

pub fn zdiffstore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    set_algebra(ctx, argv, SetOp::Diff, Output::Store(argv[1]), "zdiffstore")
}

pub fn zunion(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    set_algebra(ctx, argv, SetOp::Union, Output::Reply, "zunion")
}

pub fn zinter(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    set_algebra(ctx, argv, SetOp::Inter, Output::Reply, "zinter")
}

pub fn zdiff(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    set_algebra(ctx, argv, SetOp::Diff, Output::Reply, "zdiff")
}

pub fn zintercard(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    set_algebra(ctx, argv, SetOp::Inter, Output::Cardinality, "zintercard")
}

/// `zunionInterDiffGenericCommand`: numkeys, then the keys' types, then the options.
fn set_algebra(ctx: &mut Ctx, argv: &[&[u8]], op: SetOp, output: Output, name: &str) -> CmdResult {
    let numkeys_idx = if matches!(output, Output::Store(_)) {
        2
    } else {
        1
    };
    let numkeys = arg_i64(argv[numkeys_idx])?;
    if numkeys < 1 {
        return Err(CmdError::msg(format!(
            "ERR at least 1 input key is needed for '{name}' command"
        )));
    }
    let first = numkeys_idx + 1;
    let available = argv.len() - first;
    if numkeys as u64 > available as u64 {
        return Err(CmdError::Syntax);
    }
    let keys = &argv[first..first + numkeys as usize];
    for key in keys {
        match ctx.read(key) {
            None | Some(Value::ZSet(_)) | Some(Value::Set(_)) => {}
            Some(_) => return Err(CmdError::WrongType),
        }
    }
    let opts = parse_algebra_options(&argv[first + keys.len()..], keys.len(), op, output)?;

    let db = &ctx.server.dbs[ctx.client.db];
    // Expired inputs were just removed by `ctx.read`, so plain lookups see live keys only.
    let mut inputs: Vec<(Source, f64)> = keys
        .iter()
        .zip(&opts.weights)
        .map(|(key, &weight)| {
            let source = match db.keys.get(*key).map(|e| &e.value) {
                Some(Value::ZSet(z)) => Source::Sorted(z),
                Some(Value::Set(s)) => Source::Plain(s),
                _ => Source::Missing,
            };
            (source, weight)
        })
        .collect();
    if op != SetOp::Diff {
        // Smallest first, as Redis does: the order also fixes the order of the score sums.
        inputs.sort_by_key(|(s, _)| s.len());
    }
    if let Output::Cardinality = output {
        let n = intersection_cardinality(&inputs, opts.limit);
        ctx.out.int(n as i64);
        return Ok(());
    }
    let mut result = match op {
        SetOp::Union => union(&inputs, opts.aggregate),
        SetOp::Inter => intersection(&inputs, opts.aggregate),
        SetOp::Diff => difference(&inputs),
    };
    match output {
        Output::Store(dst) => {
            let limits = limits(ctx);
            let mut z = Zset::new_skiplist();
            for (member, score) in &result {
                let _ = z.insert_or_update(member, *score, ZaddFlags::default(), &limits);
            }
            z.convert_to_listpack_if_fits(&limits);
            store_result(ctx, dst, z);
        }
        _ => {
            result.sort_by(skiplist_order);
            let items = result.iter().map(|(m, s)| (m.as_slice(), *s));
            reply_items(ctx.out, items, opts.withscores);
        }
    }
    Ok(())
}

fn parse_algebra_options(
    args: &[&[u8]],
    numkeys: usize,
    op: SetOp,
    output: Output,
) -> Result<AlgebraOptions, CmdError> {
    let cardinality_only = matches!(output, Output::Cardinality);
    let may_weigh = op != SetOp::Diff && !cardinality_only;
    let mut opts = AlgebraOptions {
        weights: vec![1.0; numkeys],
        aggregate: Aggregate::Sum,
        withscores: false,
        limit: 0,
    };
    let mut j = 0;
    while j < args.len() {
        let remaining = args.len() - j;
        let arg = args[j];
        if may_weigh && remaining > numkeys && eq_ignore_case(arg, "weights") {
            for (w, text) in opts.weights.iter_mut().zip(&args[j + 1..]) {
                *w = parse_f64(text).ok_or(CmdError::msg("ERR weight value is not a float"))?;
            }
            j += 1 + numkeys;
        } else if may_weigh && remaining >= 2 && eq_ignore_case(arg, "aggregate") {
            let how = args[j + 1];
            opts.aggregate = if eq_ignore_case(how, "sum") {
                Aggregate::Sum
            } else if eq_ignore_case(how, "min") {
                Aggregate::Min
            } else if eq_ignore_case(how, "max") {
                Aggregate::Max
            } else {
                return Err(CmdError::Syntax);
            };
            j += 2;
        } else if matches!(output, Output::Reply) && eq_ignore_case(arg, "withscores") {
            opts.withscores = true;
            j += 1;
        } else if cardinality_only && remaining >= 2 && eq_ignore_case(arg, "limit") {
            opts.limit = arg_count(args[j + 1], "ERR LIMIT can't be negative")?;
            j += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok(opts)
}

/// Skiplist order: score by IEEE comparison (so `-0` and `0` tie), then member bytes.
fn skiplist_order(a: &(Vec<u8>, f64), b: &(Vec<u8>, f64)) -> std::cmp::Ordering {
    a.1.partial_cmp(&b.1)
        .unwrap_or(std::cmp::Ordering::Equal)
        .then_with(|| a.0.cmp(&b.0))
}

/// The weighted score of an input element; a NaN product (0 * inf) counts as 0.
fn weighted(score: f64, weight: f64) -> f64 {
    let w = score * weight;
    if w.is_nan() {
        0.0
    } else {
        w
    }
}

type Scored = Vec<(Vec<u8>, f64)>;

/// Members of every input, each with its aggregated weighted score. The first input is the
/// smallest; calls `f` per member in the result.
fn for_each_in_all(
    inputs: &[(Source, f64)],
    aggregate: Aggregate,
    mut f: impl FnMut(&[u8], f64) -> bool,
) {
    let Some(&(first, first_weight)) = inputs.first() else {
        return;
    };
    let mut go_on = true;
    first.for_each(|member, score| {
        if !go_on {
            return;
        }
        let mut acc = weighted(score, first_weight);
        for (other, weight) in &inputs[1..] {
            match other.score(member) {
                // Not NaN-guarded per input, as in Redis; the aggregate absorbs a NaN.
                Some(s) => aggregate.apply(&mut acc, s * weight),
                None => return,
            }
        }
        go_on = f(member, acc);
    });
}

fn intersection(inputs: &[(Source, f64)], aggregate: Aggregate) -> Scored {
    let mut out = Vec::new();
    for_each_in_all(inputs, aggregate, |m, s| {
        out.push((m.to_vec(), s));
        true
    });
    out
}

fn intersection_cardinality(inputs: &[(Source, f64)], limit: usize) -> usize {
    let mut n = 0;
    for_each_in_all(inputs, Aggregate::Sum, |_, _| {
        n += 1;
        limit == 0 || n < limit
    });
    n
}

fn union(inputs: &[(Source, f64)], aggregate: Aggregate) -> Scored {
    let largest = inputs.last().map_or(0, |(s, _)| s.len());
    let mut acc: HashMap<Vec<u8>, f64, ahash::RandomState> =
        HashMap::with_capacity_and_hasher(largest, ahash::RandomState::new());
    for (source, weight) in inputs {
        source.for_each(|member, score| {
            let value = weighted(score, *weight);
            match acc.get_mut(member) {
                Some(target) => aggregate.apply(target, value),
                None => {
                    acc.insert(member.to_vec(), value);
                }
            }
        });
    }
    acc.into_iter().collect()
}

/// Members of the first input found in no other input, with their unweighted scores.
fn difference(inputs: &[(Source, f64)]) -> Scored {
    let Some(((first, _), rest)) = inputs.split_first() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    first.for_each(|member, score| {
        if rest.iter().all(|(other, _)| other.score(member).is_none()) {
            out.push((member.to_vec(), score));
        }
    });
    out
}

// ---------------------------------------------------------------------------------------------
// ZSCAN

pub fn zscan(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let cursor = super::generic::parse_cursor(argv[2])?;
    let Some(z) = read_zset(ctx, argv[1])? else {
        ctx.out.array(2);
        ctx.out.bulk(b"0");
        ctx.out.array(0);
        return Ok(());
    };
    let z = &*z;
    // Options are checked only for an existing key, as in Redis.
    let opts = parse_scan_options(&argv[3..], false)?;
    let mut found: Vec<(Vec<u8>, f64)> = Vec::new();
    let next = z.scan(cursor, opts.count, |m, s| {
        if opts.pattern.is_none_or(|p| glob_match(p, m, false)) {
            found.push((m.to_vec(), s));
        }
    });
    let out = &mut *ctx.out;
    out.array(2);
    out.bulk(next.to_string().as_bytes());
    out.array(2 * found.len());
    for (member, score) in &found {
        out.bulk(member);
        // Scores come back as strings in both protocols, as Redis formats them.
        out.bulk(format_double(*score).as_bytes());
    }
    Ok(())
}
