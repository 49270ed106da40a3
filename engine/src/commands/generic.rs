//! Keyspace commands that work on any type: DEL, EXISTS, TYPE, the EXPIRE family, RENAME, KEYS,
//! SCAN, RANDOMKEY, OBJECT, TOUCH, DBSIZE, FLUSHDB/FLUSHALL and SELECT.

use super::{arg_i64, c_text, CmdError, CmdResult, Ctx};
use crate::notify::class;
use crate::util::{eq_ignore_case, glob_match};

pub fn del(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let lazy = ctx.server.config.memory.lazy_user_del;
    let removed = super::memory::delete_keys(ctx, &argv[1..], lazy);
    ctx.out.int(removed as i64);
    Ok(())
}

pub fn exists(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let now = ctx.now_ms;
    let db = ctx.db();
    let n = argv[1..].iter().filter(|k| db.contains(k, now)).count();
    ctx.out.int(n as i64);
    Ok(())
}

pub fn touch(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    exists(ctx, argv)
}

pub fn type_(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let now = ctx.now_ms;
    let name = ctx
        .db()
        .peek(argv[1], now)
        .map(|e| e.value.type_name())
        .unwrap_or("none");
    ctx.out.simple(name);
    Ok(())
}

/// Which EXPIRE variant: seconds or milliseconds, relative or absolute.
struct ExpireKind {
    unit_ms: i64,
    absolute: bool,
    name: &'static str,
}

fn expire_generic(ctx: &mut Ctx, argv: &[&[u8]], kind: ExpireKind) -> CmdResult {
    let mut when = arg_i64(argv[2])?;
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for opt in &argv[3..] {
        if eq_ignore_case(opt, "nx") {
            nx = true;
        } else if eq_ignore_case(opt, "xx") {
            xx = true;
        } else if eq_ignore_case(opt, "gt") {
            gt = true;
        } else if eq_ignore_case(opt, "lt") {
            lt = true;
        } else {
            return Err(CmdError::msg(format!(
                "ERR Unsupported option {}",
                c_text(opt, usize::MAX)
            )));
        }
    }
    if nx && (xx || gt || lt) {
        return Err(CmdError::msg(
            "ERR NX and XX, GT or LT options at the same time are not compatible",
        ));
    }
    if gt && lt {
        return Err(CmdError::msg(
            "ERR GT and LT options at the same time are not compatible",
        ));
    }
    let invalid = || {
        CmdError::msg(format!(
            "ERR invalid expire time in '{}' command",
            kind.name
        ))
    };
    if kind.unit_ms == 1000 {
        if !(i64::MIN / 1000..=i64::MAX / 1000).contains(&when) {
            return Err(invalid());
        }
        when *= 1000;
    }
    if !kind.absolute {
        when = when.checked_add(ctx.now_ms).ok_or_else(invalid)?;
    }
    let now = ctx.now_ms;
    let db = ctx.db();
    if !db.contains(argv[1], now) {
        ctx.out.int(0);
        return Ok(());
    }
    let current = db.expire_at(argv[1]);
    let allowed = match current {
        Some(cur) => !nx && (!gt || when > cur) && (!lt || when < cur),
        // No TTL counts as an infinite one: GT can never pass, LT always does.
        None => !xx && !gt,
    };
    if !allowed {
        ctx.out.int(0);
        return Ok(());
    }
    if when <= now {
        db.remove(argv[1], now);
        ctx.notify(class::GENERIC, "del", argv[1]);
    } else {
        db.set_expire(argv[1], when);
        ctx.notify(class::GENERIC, "expire", argv[1]);
    }
    ctx.out.int(1);
    Ok(())
}

pub fn expire(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    expire_generic(
        ctx,
        argv,
        ExpireKind {
            unit_ms: 1000,
            absolute: false,
            name: "expire",
        },
    )
}

pub fn pexpire(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    expire_generic(
        ctx,
        argv,
        ExpireKind {
            unit_ms: 1,
            absolute: false,
            name: "pexpire",
        },
    )
}

pub fn expireat(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    expire_generic(
        ctx,
        argv,
        ExpireKind {
            unit_ms: 1000,
            absolute: true,
            name: "expireat",
        },
    )
}

pub fn pexpireat(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    expire_generic(
        ctx,
        argv,
        ExpireKind {
            unit_ms: 1,
            absolute: true,
            name: "pexpireat",
        },
    )
}

/// TTL-style replies: -2 missing key, -1 no TTL, else `f(expire_at_ms, now_ms)`.
fn ttl_generic(ctx: &mut Ctx, key: &[u8], f: impl Fn(i64, i64) -> i64) -> CmdResult {
    let now = ctx.now_ms;
    let db = ctx.db();
    let reply = if !db.contains(key, now) {
        -2
    } else {
        match db.expire_at(key) {
            Some(at) => f(at, now),
            None => -1,
        }
    };
    ctx.out.int(reply);
    Ok(())
}

pub fn ttl(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    ttl_generic(ctx, argv[1], |at, now| ((at - now).max(0) + 500) / 1000)
}

pub fn pttl(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    ttl_generic(ctx, argv[1], |at, now| (at - now).max(0))
}

pub fn expiretime(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    ttl_generic(ctx, argv[1], |at, _| (at + 500) / 1000)
}

pub fn pexpiretime(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    ttl_generic(ctx, argv[1], |at, _| at)
}

pub fn persist(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let now = ctx.now_ms;
    let db = ctx.db();
    let n = db.contains(argv[1], now) && db.persist(argv[1]);
    if n {
        ctx.notify(class::GENERIC, "persist", argv[1]);
    }
    ctx.out.int(n as i64);
    Ok(())
}

fn rename_generic(ctx: &mut Ctx, argv: &[&[u8]], only_if_absent: bool) -> CmdResult {
    let (src, dst) = (argv[1], argv[2]);
    let now = ctx.now_ms;
    let db = ctx.db();
    if !db.contains(src, now) {
        return Err(CmdError::NoSuchKey);
    }
    if src == dst {
        if only_if_absent {
            ctx.out.int(0);
        } else {
            ctx.out.ok();
        }
        return Ok(());
    }
    if only_if_absent && db.contains(dst, now) {
        ctx.out.int(0);
        return Ok(());
    }
    let ttl = db.expire_at(src);
    let Some(value) = db.remove(src, now) else {
        return Err(CmdError::NoSuchKey);
    };
    db.set_with_expire(dst, value, ttl);
    ctx.notify(class::GENERIC, "rename_from", src);
    ctx.notify(class::GENERIC, "rename_to", dst);
    if only_if_absent {
        ctx.out.int(1);
    } else {
        ctx.out.ok();
    }
    Ok(())
}

/// A database index argument of SELECT/MOVE/COPY, read as Redis's `getIntFromObjectOrReply` and
/// then checked like `selectDb`.
fn parse_target_db(ctx: &Ctx, arg: &[u8]) -> Result<usize, CmdError> {
    let index = crate::util::parse_i64(arg)
        .ok_or_else(|| CmdError::msg("ERR value is not an integer or out of range"))?;
    if i32::try_from(index).is_err() {
        return Err(CmdError::msg(
            "ERR value is out of range, value must between -2147483648 and 2147483647",
        ));
    }
    if index < 0 || index as usize >= ctx.server.dbs.len() {
        return Err(CmdError::msg("ERR DB index is out of range"));
    }
    Ok(index as usize)
}

const SAME_OBJECT: &str = "ERR source and destination objects are the same";

pub fn move_(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let key = argv[1];
    let target = parse_target_db(ctx, argv[2])?;
    let source = ctx.client.db;
    if source == target {
        return Err(CmdError::msg(SAME_OBJECT));
    }
    let now = ctx.now_ms;
    if !ctx.server.dbs[source].contains(key, now) || ctx.server.dbs[target].contains(key, now) {
        ctx.out.int(0);
        return Ok(());
    }
    let ttl = ctx.server.dbs[source].expire_at(key);
    let Some(value) = ctx.server.dbs[source].remove(key, now) else {
        ctx.out.int(0);
        return Ok(());
    };
    ctx.server.dbs[target].set_with_expire(key, value, ttl);
    ctx.notify_db(class::GENERIC, "move_from", key, source);
    ctx.notify_db(class::GENERIC, "move_to", key, target);
    ctx.out.int(1);
    Ok(())
}

pub fn copy(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (key, new_key) = (argv[1], argv[2]);
    let source = ctx.client.db;
    let mut target = source;
    let mut replace = false;
    let mut j = 3;
    while j < argv.len() {
        if eq_ignore_case(argv[j], "replace") {
            replace = true;
        } else if eq_ignore_case(argv[j], "db") && j + 1 < argv.len() {
            target = parse_target_db(ctx, argv[j + 1])?;
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    if source == target && key == new_key {
        return Err(CmdError::msg(SAME_OBJECT));
    }
    let now = ctx.now_ms;
    let Some(value) = ctx.read(key).map(|v| v.clone()) else {
        ctx.out.int(0);
        return Ok(());
    };
    let ttl = ctx.server.dbs[source].expire_at(key);
    let dst = &mut ctx.server.dbs[target];
    if dst.contains(new_key, now) {
        if !replace {
            ctx.out.int(0);
            return Ok(());
        }
        dst.remove(new_key, now);
    }
    dst.set_with_expire(new_key, value, ttl);
    ctx.notify_db(class::GENERIC, "copy_to", new_key, target);
    ctx.out.int(1);
    Ok(())
}

pub fn rename(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    rename_generic(ctx, argv, false)
}

pub fn renamenx(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    rename_generic(ctx, argv, true)
}

/// Live (non-expired) keys of the selected database matching a glob.
fn live_keys(ctx: &mut Ctx, pattern: &[u8]) -> Vec<Vec<u8>> {
    let now = ctx.now_ms;
    let db = ctx.db();
    let all = pattern == b"*";
    db.keys
        .iter()
        .filter(|(k, _)| all || glob_match(pattern, k, false))
        .filter(|(k, _)| db.expires.get(&k[..]).is_none_or(|&at| at > now))
        .map(|(k, _)| k.to_vec())
        .collect()
}

pub fn keys(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let keys = live_keys(ctx, argv[1]);
    ctx.out.array(keys.len());
    for k in &keys {
        ctx.out.bulk(k);
    }
    Ok(())
}

/// Parses a SCAN cursor as Redis 7.0 does with `strtoul`: the argument is read as a C string (up
/// to a NUL), an optional sign is allowed and a negative value wraps (`-1` is the largest
/// cursor), an empty string is cursor 0; leading spaces, trailing garbage and values past
/// u64 are invalid.
pub fn parse_cursor(arg: &[u8]) -> Result<u64, CmdError> {
    let invalid = || CmdError::msg("ERR invalid cursor");
    let text = &arg[..arg.iter().position(|&b| b == 0).unwrap_or(arg.len())];
    if text.is_empty() {
        return Ok(0);
    }
    let (negative, digits) = match text[0] {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(invalid());
    }
    let mut value: u64 = 0;
    for d in digits {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(d - b'0')))
            .ok_or_else(invalid)?;
    }
    Ok(if negative {
        value.wrapping_neg()
    } else {
        value
    })
}

/// MATCH / COUNT (/ TYPE for SCAN) options shared by the SCAN family.
pub struct ScanOptions<'a> {
    pub pattern: Option<&'a [u8]>,
    pub count: usize,
    pub type_name: Option<Vec<u8>>,
}

pub fn parse_scan_options<'a>(
    args: &[&'a [u8]],
    allow_type: bool,
) -> Result<ScanOptions<'a>, CmdError> {
    let mut opts = ScanOptions {
        pattern: None,
        count: 10,
        type_name: None,
    };
    let mut i = 0;
    while i < args.len() {
        let has_value = i + 1 < args.len();
        if eq_ignore_case(args[i], "count") && has_value {
            let n = arg_i64(args[i + 1])?;
            if n < 1 {
                return Err(CmdError::Syntax);
            }
            opts.count = n as usize;
        } else if eq_ignore_case(args[i], "match") && has_value {
            let p = args[i + 1];
            opts.pattern = if p == b"*" { None } else { Some(p) };
        } else if allow_type && eq_ignore_case(args[i], "type") && has_value {
            opts.type_name = Some(args[i + 1].to_ascii_lowercase());
        } else {
            return Err(CmdError::Syntax);
        }
        i += 2;
    }
    Ok(opts)
}

/// Writes a SCAN-family reply: the next cursor as a bulk string and the elements.
pub fn reply_scan(ctx: &mut Ctx, cursor: u64, items: &[Vec<u8>]) {
    ctx.out.array(2);
    ctx.out.bulk(cursor.to_string().as_bytes());
    ctx.out.array(items.len());
    for i in items {
        ctx.out.bulk(i);
    }
}

/// Redis's SCAN loop over a hash table: `step` scans the bucket at a cursor and says the next
/// cursor and how many items are collected so far. Stops when the table is done, COUNT items
/// are in, or after COUNT*10 buckets, so a sparse table cannot make one call walk it all.
pub fn scan_buckets(cursor: u64, count: usize, mut step: impl FnMut(u64) -> (u64, usize)) -> u64 {
    let mut next = cursor;
    let mut budget = count.saturating_mul(10);
    loop {
        let (n, collected) = step(next);
        next = n;
        budget = budget.saturating_sub(1);
        if next == 0 || budget == 0 || collected >= count {
            return next;
        }
    }
}

pub fn scan(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let cursor = parse_cursor(argv[1])?;
    let opts = parse_scan_options(&argv[2..], true)?;
    let now = ctx.now_ms;
    let db = ctx.db();
    let mut found: Vec<Vec<u8>> = Vec::new();
    let next = scan_buckets(cursor, opts.count, |c| {
        let next = db.keys.scan(c, |k, _| found.push(k.to_vec()));
        (next, found.len())
    });
    found.retain(|k| {
        opts.pattern.is_none_or(|p| glob_match(p, k, false))
            && db.expires.get(&k[..]).is_none_or(|&at| at > now)
            && opts.type_name.as_ref().is_none_or(|t| {
                db.keys
                    .get(&k[..])
                    .is_some_and(|e| e.value.type_name().as_bytes() == &t[..])
            })
    });
    reply_scan(ctx, next, &found);
    Ok(())
}

pub fn dbsize(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let n = ctx.db().len();
    ctx.out.int(n as i64);
    Ok(())
}

/// Reads the optional ASYNC/SYNC argument of FLUSHDB/FLUSHALL.
fn flush_mode(argv: &[&[u8]]) -> CmdResult {
    match argv.len() {
        1 => Ok(()),
        2 if eq_ignore_case(argv[1], "async") || eq_ignore_case(argv[1], "sync") => Ok(()),
        _ => Err(CmdError::Syntax),
    }
}

pub fn flushdb(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    flush_mode(argv)?;
    let lazy = super::memory::flush_is_async(ctx, argv);
    crate::lazyfree::flush_db(ctx.db(), lazy);
    ctx.out.ok();
    Ok(())
}

pub fn flushall(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    flush_mode(argv)?;
    let lazy = super::memory::flush_is_async(ctx, argv);
    for db in &mut ctx.server.dbs {
        crate::lazyfree::flush_db(db, lazy);
    }
    ctx.out.ok();
    Ok(())
}

pub fn select(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    // Redis reads the index as an int (`getIntFromObjectOrReply`), as MOVE and COPY do.
    ctx.client.db = parse_target_db(ctx, argv[1])?;
    ctx.out.ok();
    Ok(())
}

pub fn swapdb(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let parse = |a: &[u8]| {
        crate::util::parse_i64(a).ok_or_else(|| CmdError::msg("ERR invalid first DB index"))
    };
    let a = parse(argv[1])?;
    let b = crate::util::parse_i64(argv[2])
        .ok_or_else(|| CmdError::msg("ERR invalid second DB index"))?;
    let n = ctx.server.dbs.len() as i64;
    if a < 0 || a >= n || b < 0 || b >= n {
        return Err(CmdError::msg("ERR DB index is out of range"));
    }
    ctx.server.dbs.swap(a as usize, b as usize);
    ctx.out.ok();
    Ok(())
}

pub fn randomkey(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let now = ctx.now_ms;
    // Bounded retries: a database full of expired keys must not loop forever.
    for _ in 0..100 {
        let mut rng = ctx.server.rng.clone();
        let db = &mut ctx.server.dbs[ctx.client.db];
        let key = db
            .keys
            .random_entry(&mut || rng.next_u64())
            .map(|(k, _)| k.to_vec());
        ctx.server.rng = rng;
        let Some(key) = key else {
            ctx.out.null();
            return Ok(());
        };
        if ctx.server.dbs[ctx.client.db].expire_if_needed(&key, now) {
            continue;
        }
        ctx.out.bulk(&key);
        return Ok(());
    }
    ctx.out.null();
    Ok(())
}

pub fn object_encoding(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let now = ctx.now_ms;
    match ctx.db().peek(argv[2], now).map(|e| e.value.encoding_name()) {
        Some(name) => ctx.out.bulk(name.as_bytes()),
        None => ctx.out.null(),
    }
    Ok(())
}

pub fn object_refcount(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let now = ctx.now_ms;
    match ctx.db().peek(argv[2], now).map(|e| &e.value) {
        // Redis shares small integers (refcount INT_MAX); every other value has one owner.
        Some(crate::types::Value::Str(crate::types::StrValue::Int(n)))
            if (0..10000).contains(n) =>
        {
            ctx.out.int(i32::MAX as i64)
        }
        Some(_) => ctx.out.int(1),
        None => ctx.out.null(),
    }
    Ok(())
}

pub fn object_idletime(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if ctx
        .server
        .config
        .get("maxmemory-policy")
        .is_some_and(|p| p.contains("lfu"))
    {
        return Err(CmdError::msg("ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."));
    }
    let now = ctx.now_ms;
    let now_s = (now / 1000) as u32;
    match ctx.db().peek(argv[2], now).map(|e| e.access_s) {
        Some(at) => ctx.out.int(now_s.saturating_sub(at) as i64),
        None => ctx.out.null(),
    }
    Ok(())
}

pub fn object_help(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let lines = [
        "ENCODING <key>",
        "    Return the kind of internal representation used in order to store the value",
        "    associated with a <key>.",
        "FREQ <key>",
        "    Return the access frequency index of the <key>. The returned integer is",
        "    proportional to the logarithm of the recent access frequency of the key.",
        "IDLETIME <key>",
        "    Return the idle time of the <key>, that is the approximated number of",
        "    seconds elapsed since the last access to the key.",
        "REFCOUNT <key>",
        "    Return the number of references of the value associated with the specified",
        "    <key>.",
    ];
    super::server::reply_help(ctx, _argv[0], &lines);
    Ok(())
}
