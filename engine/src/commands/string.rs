//! String commands: GET/SET and options, multi-key MGET/MSET, counters, ranges and GETEX.

use super::{arg_i64, CmdError, CmdResult, Ctx};
use crate::notify::class;
use crate::types::{StrValue, Value};
use crate::util::{eq_ignore_case, long_double_add, LdAddError};

/// Returns the string stored at `key`, `None` if missing, WRONGTYPE for other types.
fn read_str<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<Option<&'a mut StrValue>, CmdError> {
    ctx.read_as(key, Value::as_str_mut)
}

fn write_str<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<Option<&'a mut StrValue>, CmdError> {
    ctx.write_as(key, Value::as_str_mut)
}

fn max_len(ctx: &Ctx) -> usize {
    ctx.server.config.proto_max_bulk_len as usize
}

fn too_big() -> CmdError {
    CmdError::msg("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
}

pub fn get(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    match ctx.read_with_out(argv[1]) {
        (None, out) => out.null(),
        (Some(Value::Str(s)), out) => s.with_bytes(|b| out.bulk(b)),
        (Some(_), _) => return Err(CmdError::WrongType),
    }
    Ok(())
}

/// How SET should treat the key's TTL.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ttl {
    Clear,
    Keep,
    At(i64),
}

/// EX, PX, EXAT or PXAT (any case) as SET and GETEX take them: the unit of its argument in
/// milliseconds (1000 for EX/EXAT, 1 for PX/PXAT) and whether it is absolute (EXAT/PXAT).
fn expire_option(opt: &[u8]) -> Option<(i64, bool)> {
    let known = ["ex", "px", "exat", "pxat"]
        .iter()
        .any(|o| eq_ignore_case(opt, o));
    known.then(|| {
        let lower = opt.to_ascii_lowercase();
        let unit = if lower[0] == b'e' { 1000 } else { 1 };
        (unit, lower.ends_with(b"at"))
    })
}

/// Parses an expire amount for SET/GETEX: `unit_ms` 1000 for EX/EXAT, 1 for PX/PXAT,
/// `absolute` for EXAT/PXAT. Errors as Redis: not an integer, or non-positive/overflowing.
fn parse_expire(
    ctx: &Ctx,
    arg: &[u8],
    unit_ms: i64,
    absolute: bool,
    command: &str,
) -> Result<i64, CmdError> {
    let n = arg_i64(arg)?;
    let invalid = || CmdError::msg(format!("ERR invalid expire time in '{command}' command"));
    if n <= 0 {
        return Err(invalid());
    }
    let ms = n.checked_mul(unit_ms).ok_or_else(invalid)?;
    if absolute {
        Ok(ms)
    } else {
        ms.checked_add(ctx.now_ms).ok_or_else(invalid)
    }
}

pub fn set(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (key, value) = (argv[1], argv[2]);
    let mut nx = false;
    let mut xx = false;
    let mut get = false;
    let mut ttl = Ttl::Clear;
    let mut ttl_given = false;
    let mut i = 3;
    while i < argv.len() {
        let opt = argv[i];
        let next = argv.get(i + 1);
        if eq_ignore_case(opt, "nx") && !xx {
            nx = true;
        } else if eq_ignore_case(opt, "xx") && !nx {
            xx = true;
        } else if eq_ignore_case(opt, "get") {
            get = true;
        } else if eq_ignore_case(opt, "keepttl") && !ttl_given {
            ttl = Ttl::Keep;
            ttl_given = true;
        } else if let Some((unit, absolute)) =
            expire_option(opt).filter(|_| !ttl_given && next.is_some())
        {
            ttl = Ttl::At(parse_expire(
                ctx,
                next.copied().unwrap_or_default(),
                unit,
                absolute,
                "set",
            )?);
            ttl_given = true;
            i += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    // Plain SET needs nothing from the old value: one hash lookup (the store) in all.
    let (exists, old) = if nx || xx || get {
        match ctx.write(key) {
            None => (false, None),
            Some(Value::Str(s)) => (true, get.then(|| s.to_vec())),
            Some(_) if get => return Err(CmdError::WrongType),
            Some(_) => (true, None),
        }
    } else {
        (false, None)
    };
    if (nx && exists) || (xx && !exists) {
        // The old value with GET (`old` is only read then), a null without.
        ctx.out.bulk_or_null(old);
        return Ok(());
    }
    let db = ctx.db();
    let v = Value::Str(StrValue::from_bytes(value));
    match ttl {
        Ttl::Keep => db.set_keep_ttl(key, v),
        Ttl::Clear => db.set(key, v),
        Ttl::At(when) => {
            db.set(key, v);
            db.set_expire(key, when);
        }
    }
    ctx.notify(class::STRING, "set", key);
    if matches!(ttl, Ttl::At(_)) {
        ctx.notify(class::GENERIC, "expire", key);
    }
    if get {
        ctx.out.bulk_or_null(old);
    } else {
        ctx.out.ok();
    }
    Ok(())
}

pub fn setnx(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if ctx.write(argv[1]).is_some() {
        ctx.out.int(0);
    } else {
        ctx.db()
            .set(argv[1], Value::Str(StrValue::from_bytes(argv[2])));
        ctx.notify(class::STRING, "set", argv[1]);
        ctx.out.int(1);
    }
    Ok(())
}

fn set_with_ttl(ctx: &mut Ctx, argv: &[&[u8]], unit_ms: i64, command: &str) -> CmdResult {
    let when = parse_expire(ctx, argv[2], unit_ms, false, command)?;
    let db = ctx.db();
    db.set(argv[1], Value::Str(StrValue::from_bytes(argv[3])));
    db.set_expire(argv[1], when);
    ctx.notify(class::STRING, "set", argv[1]);
    ctx.notify(class::GENERIC, "expire", argv[1]);
    ctx.out.ok();
    Ok(())
}

pub fn setex(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    set_with_ttl(ctx, argv, 1000, "setex")
}

pub fn psetex(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    set_with_ttl(ctx, argv, 1, "psetex")
}

pub fn getset(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let old = write_str(ctx, argv[1])?.map(|s| s.to_vec());
    ctx.db()
        .set(argv[1], Value::Str(StrValue::from_bytes(argv[2])));
    ctx.notify(class::STRING, "set", argv[1]);
    ctx.out.bulk_or_null(old);
    Ok(())
}

pub fn getdel(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let old = read_str(ctx, argv[1])?.map(|s| s.to_vec());
    match old {
        Some(v) => {
            let now = ctx.now_ms;
            ctx.db().remove(argv[1], now);
            ctx.notify(class::GENERIC, "del", argv[1]);
            ctx.out.bulk(&v);
        }
        None => ctx.out.null(),
    }
    Ok(())
}

pub fn getex(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut ttl: Option<Ttl> = None;
    let mut i = 2;
    while i < argv.len() {
        let opt = argv[i];
        if eq_ignore_case(opt, "persist") && ttl.is_none() {
            ttl = Some(Ttl::Clear);
        } else if let Some((unit, absolute)) =
            expire_option(opt).filter(|_| ttl.is_none() && i + 1 < argv.len())
        {
            ttl = Some(Ttl::At(parse_expire(
                ctx,
                argv[i + 1],
                unit,
                absolute,
                "getex",
            )?));
            i += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    let Some(v) = read_str(ctx, argv[1])?.map(|s| s.to_vec()) else {
        ctx.out.null();
        return Ok(());
    };
    let now = ctx.now_ms;
    let db = ctx.db();
    match ttl {
        Some(Ttl::At(when)) if when <= now => {
            db.remove(argv[1], now);
            ctx.notify(class::GENERIC, "del", argv[1]);
        }
        Some(Ttl::At(when)) => {
            db.set_expire(argv[1], when);
            ctx.notify(class::GENERIC, "expire", argv[1]);
        }
        Some(Ttl::Clear) if db.persist(argv[1]) => {
            ctx.notify(class::GENERIC, "persist", argv[1]);
        }
        _ => {}
    }
    ctx.out.bulk(&v);
    Ok(())
}

pub fn mget(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    ctx.out.array(argv.len() - 1);
    for key in &argv[1..] {
        let v = match ctx.read(key) {
            Some(Value::Str(s)) => Some(s.to_vec()),
            _ => None,
        };
        ctx.out.bulk_or_null(v);
    }
    Ok(())
}

fn check_pairs(argv: &[&[u8]], name: &str) -> CmdResult {
    if argv.len().is_multiple_of(2) {
        return Err(CmdError::msg(format!(
            "ERR wrong number of arguments for '{name}' command"
        )));
    }
    Ok(())
}

pub fn mset(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    check_pairs(argv, "mset")?;
    for pair in argv[1..].chunks(2) {
        ctx.db()
            .set(pair[0], Value::Str(StrValue::from_bytes(pair[1])));
        ctx.notify(class::STRING, "set", pair[0]);
    }
    ctx.out.ok();
    Ok(())
}

pub fn msetnx(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    check_pairs(argv, "msetnx")?;
    let now = ctx.now_ms;
    let db = ctx.db();
    if argv[1..].chunks(2).any(|pair| db.contains(pair[0], now)) {
        ctx.out.int(0);
        return Ok(());
    }
    for pair in argv[1..].chunks(2) {
        ctx.db()
            .set(pair[0], Value::Str(StrValue::from_bytes(pair[1])));
        ctx.notify(class::STRING, "set", pair[0]);
    }
    ctx.out.int(1);
    Ok(())
}

fn incr_by(ctx: &mut Ctx, key: &[u8], by: i64) -> CmdResult {
    // One lookup: an existing value is edited in place (keeping its TTL).
    let new = match write_str(ctx, key)? {
        Some(s) => {
            let current = s.as_i64().ok_or(CmdError::NotInteger)?;
            let new = current.checked_add(by).ok_or(CmdError::Overflow)?;
            *s = StrValue::Int(new);
            new
        }
        None => {
            let new = by;
            ctx.db().set(key, Value::Str(StrValue::Int(new)));
            new
        }
    };
    ctx.notify(class::STRING, "incrby", key);
    ctx.out.int(new);
    Ok(())
}

pub fn incr(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    incr_by(ctx, argv[1], 1)
}

pub fn decr(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    incr_by(ctx, argv[1], -1)
}

pub fn incrby(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let by = arg_i64(argv[2])?;
    incr_by(ctx, argv[1], by)
}

pub fn decrby(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let by = arg_i64(argv[2])?;
    if by == i64::MIN {
        return Err(CmdError::msg("ERR decrement would overflow"));
    }
    incr_by(ctx, argv[1], -by)
}

pub fn incrbyfloat(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let current = write_str(ctx, argv[1])?.map(|s| s.to_vec());
    let sum = long_double_add(current.as_deref(), argv[2]).map_err(|e| match e {
        LdAddError::NanOrInfinity => CmdError::msg("ERR increment would produce NaN or Infinity"),
        _ => CmdError::NotFloat,
    })?;
    let out = sum.clone();
    match write_str(ctx, argv[1])? {
        Some(s) => *s = StrValue::from_bytes(&sum),
        None => ctx
            .db()
            .set(argv[1], Value::Str(StrValue::from_bytes(&sum))),
    }
    ctx.notify(class::STRING, "incrbyfloat", argv[1]);
    ctx.out.bulk(&out);
    Ok(())
}

pub fn append(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let limit = max_len(ctx);
    let len = match write_str(ctx, argv[1])? {
        Some(s) => {
            if s.len() + argv[2].len() > limit {
                return Err(too_big());
            }
            let raw = s.make_raw();
            raw.extend_from_slice(argv[2]);
            raw.len()
        }
        None => {
            ctx.db()
                .set(argv[1], Value::Str(StrValue::from_bytes(argv[2])));
            argv[2].len()
        }
    };
    ctx.notify(class::STRING, "append", argv[1]);
    ctx.out.int(len as i64);
    Ok(())
}

pub fn strlen(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let n = read_str(ctx, argv[1])?.map(|s| s.len()).unwrap_or(0);
    ctx.out.int(n as i64);
    Ok(())
}

pub fn getrange(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let start = arg_i64(argv[2])?;
    let end = arg_i64(argv[3])?;
    let Some(s) = read_str(ctx, argv[1])? else {
        ctx.out.bulk(b"");
        return Ok(());
    };
    let value = s.to_vec();
    // Redis's rules: both negative and start > end is empty; indexes clamp to the string.
    if start < 0 && end < 0 && start > end {
        ctx.out.bulk(b"");
        return Ok(());
    }
    let len = value.len() as i64;
    let mut s = if start < 0 { len + start } else { start };
    let mut e = if end < 0 { len + end } else { end };
    if s < 0 {
        s = 0;
    }
    if e < 0 {
        e = 0;
    }
    if e >= len {
        e = len - 1;
    }
    if s > e || len == 0 {
        ctx.out.bulk(b"");
    } else {
        ctx.out.bulk(&value[s as usize..=e as usize]);
    }
    Ok(())
}

pub fn setrange(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let offset = arg_i64(argv[2])?;
    if offset < 0 {
        return Err(CmdError::msg("ERR offset is out of range"));
    }
    let offset = offset as usize;
    let value = argv[3];
    let limit = max_len(ctx);
    match write_str(ctx, argv[1])? {
        Some(s) => {
            if value.is_empty() {
                let n = s.len();
                ctx.out.int(n as i64);
                return Ok(());
            }
            if offset + value.len() > limit {
                return Err(too_big());
            }
            let raw = s.make_raw();
            if raw.len() < offset + value.len() {
                raw.resize(offset + value.len(), 0);
            }
            raw[offset..offset + value.len()].copy_from_slice(value);
            let n = raw.len();
            ctx.notify(class::STRING, "setrange", argv[1]);
            ctx.out.int(n as i64);
        }
        None => {
            if value.is_empty() {
                ctx.out.int(0);
                return Ok(());
            }
            if offset + value.len() > limit {
                return Err(too_big());
            }
            let mut raw = vec![0u8; offset + value.len()];
            raw[offset..].copy_from_slice(value);
            let n = raw.len();
            ctx.db().set(argv[1], Value::Str(StrValue::raw(raw)));
            ctx.notify(class::STRING, "setrange", argv[1]);
            ctx.out.int(n as i64);
        }
    }
    Ok(())
}

/// The LCS operand of a key: missing keys are the empty string, other types are an error that
/// Redis reports before looking at the options.
fn lcs_operand(ctx: &mut Ctx, key: &[u8]) -> Result<Vec<u8>, CmdError> {
    match ctx.read(key) {
        None => Ok(Vec::new()),
        Some(Value::Str(s)) => Ok(s.to_vec()),
        Some(_) => Err(CmdError::msg(
            "ERR The specified keys must contain string values",
        )),
    }
}

/// One matched range of LCS IDX: positions in the first and second string, inclusive.
struct LcsRange {
    a: (u32, u32),
    b: (u32, u32),
}

pub fn lcs(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let a = lcs_operand(ctx, argv[1])?;
    let b = lcs_operand(ctx, argv[2])?;
    let (mut get_len, mut get_idx, mut with_match_len) = (false, false, false);
    let mut min_match_len: i64 = 0;
    let mut j = 3;
    while j < argv.len() {
        let opt = argv[j];
        if eq_ignore_case(opt, "idx") {
            get_idx = true;
        } else if eq_ignore_case(opt, "len") {
            get_len = true;
        } else if eq_ignore_case(opt, "withmatchlen") {
            with_match_len = true;
        } else if eq_ignore_case(opt, "minmatchlen") && j + 1 < argv.len() {
            min_match_len = arg_i64(argv[j + 1])?.max(0);
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    if get_idx && get_len {
        return Err(CmdError::msg(
            "ERR If you want both the length and indexes, please just use IDX.",
        ));
    }
    if a.len() as u64 >= u32::MAX as u64 - 1 || b.len() as u64 >= u32::MAX as u64 - 1 {
        return Err(CmdError::msg("ERR String too long for LCS"));
    }
    let (alen, blen) = (a.len(), b.len());
    let cells = (alen as u64 + 1) * (blen as u64 + 1);
    if cells * 4 > ctx.server.config.proto_max_bulk_len as u64 {
        return Err(CmdError::msg(
            "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
        ));
    }
    // The classic DP table: table[i][j] is the LCS length of a[..i] and b[..j].
    let width = blen + 1;
    let mut table = vec![0u32; cells as usize];
    for i in 1..=alen {
        for j in 1..=blen {
            table[i * width + j] = if a[i - 1] == b[j - 1] {
                table[(i - 1) * width + j - 1] + 1
            } else {
                table[(i - 1) * width + j].max(table[i * width + j - 1])
            };
        }
    }
    let total = table[alen * width + blen];
    if get_len {
        ctx.out.int(total as i64);
        return Ok(());
    }
    let (result, ranges) = lcs_backtrack(&a, &b, &table, min_match_len as u64);
    if !get_idx {
        ctx.out.bulk(&result);
        return Ok(());
    }
    ctx.out.map(2);
    ctx.out.bulk(b"matches");
    ctx.out.array(ranges.len());
    for r in &ranges {
        ctx.out.array(2 + with_match_len as usize);
        ctx.out.array(2);
        ctx.out.int(r.a.0 as i64);
        ctx.out.int(r.a.1 as i64);
        ctx.out.array(2);
        ctx.out.int(r.b.0 as i64);
        ctx.out.int(r.b.1 as i64);
        if with_match_len {
            ctx.out.int((r.a.1 - r.a.0 + 1) as i64);
        }
    }
    ctx.out.bulk(b"len");
    ctx.out.int(total as i64);
    Ok(())
}

/// Walks the LCS table back from the end, as Redis's lcsCommand does: builds the common
/// subsequence and the contiguous matched ranges (last ones first), keeping ranges of at least
/// `min_match_len` (0 = all).
fn lcs_backtrack(
    a: &[u8],
    b: &[u8],
    table: &[u32],
    min_match_len: u64,
) -> (Vec<u8>, Vec<LcsRange>) {
    let width = b.len() + 1;
    let at = |i: usize, j: usize| table[i * width + j];
    let mut result = Vec::with_capacity(at(a.len(), b.len()) as usize);
    let mut ranges = Vec::new();
    let mut current: Option<LcsRange> = None;
    let (mut i, mut j) = (a.len(), b.len());
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            result.push(a[i - 1]);
            let (ai, bj) = ((i - 1) as u32, (j - 1) as u32);
            match current.as_mut() {
                None => {
                    current = Some(LcsRange {
                        a: (ai, ai),
                        b: (bj, bj),
                    })
                }
                Some(r) if r.a.0 == ai + 1 && r.b.0 == bj + 1 => {
                    r.a.0 = ai;
                    r.b.0 = bj;
                }
                Some(_) => emit = true,
            }
            if current.as_ref().is_some_and(|r| r.a.0 == 0 || r.b.0 == 0) {
                emit = true;
            }
            i -= 1;
            j -= 1;
        } else {
            if at(i - 1, j) > at(i, j - 1) {
                i -= 1;
            } else {
                j -= 1;
            }
            emit = current.is_some();
        }
        if emit {
            if let Some(r) = current.take() {
                let len = (r.a.1 - r.a.0 + 1) as u64;
                if min_match_len == 0 || len >= min_match_len {
                    ranges.push(r);
                }
            }
        }
    }
    result.reverse();
    (result, ranges)
}

/// A SETBIT/GETBIT offset, as Redis's `getBitOffsetFromArgument`: non-negative and addressing a
/// byte below proto-max-bulk-len.
fn bit_offset(ctx: &Ctx, arg: &[u8]) -> Result<usize, CmdError> {
    let invalid = || CmdError::msg("ERR bit offset is not an integer or out of range");
    let offset = crate::util::parse_i64(arg).ok_or_else(invalid)?;
    if offset < 0 || (offset >> 3) >= ctx.server.config.proto_max_bulk_len {
        return Err(invalid());
    }
    Ok(offset as usize)
}

pub fn setbit(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let offset = bit_offset(ctx, argv[2])?;
    let on = match crate::util::parse_i64(argv[3]) {
        Some(0) => false,
        Some(1) => true,
        _ => return Err(CmdError::msg("ERR bit is not an integer or out of range")),
    };
    let (byte, mask) = (offset >> 3, 0x80u8 >> (offset & 7));
    // Redis creates (or zero-pads) the string even when the bit written is 0.
    let raw = match write_str(ctx, argv[1])? {
        Some(s) => s.make_raw(),
        None => match ctx
            .db()
            .insert_new(argv[1], Value::Str(StrValue::raw(Vec::new())))
        {
            Value::Str(s) => s.make_raw(),
            _ => return Err(CmdError::WrongType),
        },
    };
    if raw.len() <= byte {
        raw.resize(byte + 1, 0);
    }
    let old = raw[byte] & mask != 0;
    if on {
        raw[byte] |= mask;
    } else {
        raw[byte] &= !mask;
    }
    ctx.notify(class::STRING, "setbit", argv[1]);
    ctx.out.int(old as i64);
    Ok(())
}

pub fn getbit(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let offset = bit_offset(ctx, argv[2])?;
    let (byte, mask) = (offset >> 3, 0x80u8 >> (offset & 7));
    let bit = match read_str(ctx, argv[1])? {
        Some(s) => s.with_bytes(|b| b.get(byte).is_some_and(|&v| v & mask != 0)),
        None => false,
    };
    ctx.out.int(bit as i64);
    Ok(())
}
