//! Number parsing and formatting with Redis's exact rules, plus small helpers shared by commands.
//!
//! Clients compare our replies with Redis's byte for byte, so numbers are formatted by the same C
//! routines Redis uses (`%.17g`, long double `%.17Lf`) rather than Rust's own, whose digits
//! differ, and parsed by a port of glibc's `strtod` that the tests check against the C one.

// Unsafe code here: the long double C helper and snprintf/strtod calls; each block says why it is
// sound.
#![allow(unsafe_code)]

use std::time::{SystemTime, UNIX_EPOCH};

pub use crate::protocol::parser::parse_i64;

extern "C" {
    fn tradestate_ld_add(
        a: *const libc::c_char,
        alen: usize,
        b: *const libc::c_char,
        blen: usize,
        out: *mut libc::c_char,
        outlen: usize,
        written: *mut usize,
    ) -> libc::c_int;
}

/// Why a long double addition failed.
#[derive(Debug, PartialEq, Eq)]
pub enum LdAddError {
    /// The stored value is not a float.
    StoredNotFloat,
    /// The increment is not a float.
    IncrNotFloat,
    /// The sum is NaN or infinite.
    NanOrInfinity,
}

/// `current + incr` computed and formatted as Redis's INCRBYFLOAT does (long double, `%.17Lf`,
/// trailing zeros removed). `current` is `None` for a missing key (zero).
pub fn long_double_add(current: Option<&[u8]>, incr: &[u8]) -> Result<Vec<u8>, LdAddError> {
    let mut out = [0u8; 5200];
    let mut written = 0usize;
    let (a_ptr, a_len) = match current {
        Some(c) => (c.as_ptr() as *const libc::c_char, c.len()),
        None => (std::ptr::null(), 0),
    };
    // SAFETY: the C side reads exactly `alen`/`blen` bytes from the given pointers (or nothing
    // for a null `a`), writes at most `outlen` bytes into `out`, and stores the length written.
    let rc = unsafe {
        tradestate_ld_add(
            a_ptr,
            a_len,
            incr.as_ptr() as *const libc::c_char,
            incr.len(),
            out.as_mut_ptr() as *mut libc::c_char,
            out.len(),
            &mut written,
        )
    };
    match rc {
        0 => Ok(out[..written].to_vec()),
        -3 => Err(LdAddError::StoredNotFloat),
        -1 => Err(LdAddError::IncrNotFloat),
        _ => Err(LdAddError::NanOrInfinity),
    }
}

/// Formats a double as Redis 7.0's `addReplyDouble` does: `%.17g`, with `inf`/`-inf`.
pub fn format_double(d: f64) -> String {
    if d.is_infinite() {
        return if d > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let mut buf = [0u8; 64];
    // SAFETY: the format string is NUL-terminated and consumes exactly one double; snprintf
    // never writes past the given length.
    let n = unsafe {
        libc::snprintf(
            buf.as_mut_ptr() as *mut libc::c_char,
            buf.len(),
            c"%.17g".as_ptr(),
            d,
        )
    };
    String::from_utf8_lossy(&buf[..(n.max(0) as usize).min(buf.len() - 1)]).into_owned()
}

/// Parses a double like Redis's `getDoubleFromObject` (`string2d`): [`strtod`] must consume
/// the whole string, with no leading C whitespace (`\v` included), no overflow to +-inf, no
/// underflow to 0 (subnormals are fine) and no NaN; `inf`, `+inf`, `-inf`, `infinity` in any
/// case and hex floats are accepted. There is no length limit, as in `string2d`.
pub fn parse_f64(s: &[u8]) -> Option<f64> {
    if s.is_empty() || is_c_space(s[0]) {
        return None;
    }
    let r = strtod(s);
    if r.consumed != s.len() || r.value.is_nan() || r.overflow || r.underflow {
        return None;
    }
    Some(r.value)
}

fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Outcome of [`strtod`]. `consumed == 0` means "no conversion" (C sets
/// `endptr` back to the start of the string, leading whitespace included).
#[derive(Debug)]
pub struct Strtod {
    pub value: f64,
    pub consumed: usize,
    /// ERANGE with +-HUGE_VAL.
    pub overflow: bool,
    /// ERANGE with a zero result.
    pub underflow: bool,
}

fn starts_with_ignore_case(s: &[u8], prefix: &[u8]) -> bool {
    s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// glibc `strtod` in the C locale, on a byte string: the engine's one float parser. A port
/// rather than a call through libc because it needs no NUL-terminated copy and runs in half
/// the time on typical scores; `tests::strtod_matches_c` holds it to the C function.
pub fn strtod(s: &[u8]) -> Strtod {
    let none = Strtod {
        value: 0.0,
        consumed: 0,
        overflow: false,
        underflow: false,
    };
    let mut i = 0;
    while i < s.len() && is_c_space(s[i]) {
        i += 1;
    }
    let mut negative = false;
    if let Some(&c @ (b'+' | b'-')) = s.get(i) {
        negative = c == b'-';
        i += 1;
    }
    let sign = |v: f64| if negative { -v } else { v };
    let rest = &s[i..];

    if starts_with_ignore_case(rest, b"inf") {
        let n = if starts_with_ignore_case(rest, b"infinity") {
            8
        } else {
            3
        };
        return Strtod {
            value: sign(f64::INFINITY),
            consumed: i + n,
            ..none
        };
    }
    if starts_with_ignore_case(rest, b"nan") {
        let mut n = 3;
        if rest.get(3) == Some(&b'(') {
            let mut j = 4;
            while j < rest.len() && (rest[j].is_ascii_alphanumeric() || rest[j] == b'_') {
                j += 1;
            }
            if rest.get(j) == Some(&b')') {
                n = j + 1;
            }
        }
        return Strtod {
            value: f64::NAN,
            consumed: i + n,
            ..none
        };
    }
    let hex_prefix = rest.len() >= 2 && rest[0] == b'0' && (rest[1] | 0x20) == b'x';
    // "0x" without hex digits: only the "0" is converted (decimal path).
    if let Some((magnitude, n, nonzero)) = hex_prefix.then(|| parse_hex_body(&rest[2..])).flatten()
    {
        return Strtod {
            value: sign(magnitude),
            consumed: i + 2 + n,
            overflow: magnitude.is_infinite(),
            underflow: magnitude == 0.0 && nonzero,
        };
    }

    // Decimal: digits [. digits] [e [sign] digits], at least one digit.
    let mut j = 0;
    let mut digits = 0usize;
    let mut nonzero = false;
    while j < rest.len() && rest[j].is_ascii_digit() {
        nonzero |= rest[j] != b'0';
        digits += 1;
        j += 1;
    }
    if rest.get(j) == Some(&b'.') {
        j += 1;
        while j < rest.len() && rest[j].is_ascii_digit() {
            nonzero |= rest[j] != b'0';
            digits += 1;
            j += 1;
        }
    }
    if digits == 0 {
        return none;
    }
    if matches!(rest.get(j), Some(b'e' | b'E')) {
        let mut k = j + 1;
        if matches!(rest.get(k), Some(b'+' | b'-')) {
            k += 1;
        }
        if rest.get(k).is_some_and(u8::is_ascii_digit) {
            while rest.get(k).is_some_and(u8::is_ascii_digit) {
                k += 1;
            }
            j = k;
        }
    }
    // The slice is plain ASCII matching Rust's float grammar, which rounds
    // correctly and saturates to inf / 0 like glibc.
    let magnitude = std::str::from_utf8(&rest[..j])
        .ok()
        .and_then(|t| t.parse::<f64>().ok())
        .unwrap_or(f64::NAN);
    Strtod {
        value: sign(magnitude),
        consumed: i + j,
        overflow: magnitude.is_infinite(),
        underflow: magnitude == 0.0 && nonzero,
    }
}

/// Hex float body after `0x`: `h*[.h*][p[+-]d+]` with at least one hex
/// digit. Returns (magnitude, bytes consumed, mantissa was non-zero).
fn parse_hex_body(s: &[u8]) -> Option<(f64, usize, bool)> {
    let hex = |i: usize| {
        s.get(i)
            .and_then(|&b| (b as char).to_digit(16))
            .map(u64::from)
    };
    let mut i = 0;
    let mut mant: u64 = 0;
    let mut exp: i64 = 0;
    let mut sticky = false;
    let mut any = false;
    while let Some(d) = hex(i) {
        any = true;
        if mant < (1 << 60) {
            mant = mant * 16 + d;
        } else {
            exp += 4;
            sticky |= d != 0;
        }
        i += 1;
    }
    if s.get(i) == Some(&b'.') {
        let mut j = i + 1;
        let mut frac = false;
        while let Some(d) = hex(j) {
            frac = true;
            if mant < (1 << 60) {
                mant = mant * 16 + d;
                exp -= 4;
            } else {
                sticky |= d != 0;
            }
            j += 1;
        }
        if any || frac {
            any = true;
            i = j;
        }
    }
    if !any {
        return None;
    }
    if matches!(s.get(i), Some(b'p' | b'P')) {
        let mut j = i + 1;
        let mut neg = false;
        if let Some(&c @ (b'+' | b'-')) = s.get(j) {
            neg = c == b'-';
            j += 1;
        }
        if s.get(j).is_some_and(u8::is_ascii_digit) {
            let mut e: i64 = 0;
            while let Some(&c) = s.get(j).filter(|c| c.is_ascii_digit()) {
                e = (e * 10 + i64::from(c - b'0')).min(1 << 40);
                j += 1;
            }
            exp += if neg { -e } else { e };
            i = j;
        }
    }
    Some((compose_binary(mant, sticky, exp), i, mant != 0 || sticky))
}

/// `mant * 2^exp` (plus a non-zero tail below `mant` if `sticky`), rounded
/// to nearest-even as an f64.
fn compose_binary(mant: u64, sticky: bool, exp: i64) -> f64 {
    if mant == 0 {
        return 0.0;
    }
    let lz = i64::from(mant.leading_zeros());
    let m = u128::from(mant) << lz; // top bit at position 63
    let mut top = exp - lz + 63; // value in [2^top, 2^(top+1))
    if top > 1023 {
        return f64::INFINITY;
    }
    let drop = (if top >= -1022 {
        11
    } else {
        (11 + (-1022 - top)).min(65)
    }) as u32;
    let kept = m >> drop;
    let rem = m & ((1u128 << drop) - 1);
    let half = 1u128 << (drop - 1);
    let round_up = rem > half || (rem == half && (sticky || kept & 1 == 1));
    let mut kept = kept + u128::from(round_up);
    if top >= -1022 {
        if kept == 1 << 53 {
            kept >>= 1;
            top += 1;
            if top > 1023 {
                return f64::INFINITY;
            }
        }
        f64::from_bits((((top + 1023) as u64) << 52) | (kept as u64 & ((1 << 52) - 1)))
    } else {
        // Subnormal; a carry into bit 52 yields the smallest normal.
        f64::from_bits(kept as u64)
    }
}

/// Redis's `ld2string`-free integer check for values stored as strings: the canonical decimal
/// form of an i64 (what `string2ll` accepts and formats back identically).
pub fn canonical_i64(s: &[u8]) -> Option<i64> {
    parse_i64(s)
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

thread_local! {
    /// This thread's cached clock in ms (0 = not set): refreshed once per batch of commands so
    /// the hot path does not read the clock per key, like Redis's cached `server.mstime`.
    static CACHED_MS: std::cell::Cell<i64> = const { std::cell::Cell::new(0) };
}

/// Refreshes this thread's cached clock and returns it.
pub fn refresh_cached_ms() -> i64 {
    let now = now_ms();
    CACHED_MS.with(|c| c.set(now));
    now
}

/// This thread's cached clock in ms, or the clock itself when the thread has none: for
/// per-key timestamps that tolerate a cron tick of staleness (access times), never for expiry.
#[inline]
pub fn cached_ms() -> i64 {
    let cached = CACHED_MS.with(|c| c.get());
    if cached > 0 {
        cached
    } else {
        now_ms()
    }
}

/// Seconds since the Unix epoch truncated to 32 bits (per-key access times), from the cached
/// clock when this thread has one.
pub fn now_s32() -> u32 {
    (cached_ms() / 1000) as u32
}

/// Microseconds since the Unix epoch.
pub fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// ASCII case-insensitive comparison of an argument with a keyword.
#[inline]
pub fn eq_ignore_case(arg: &[u8], keyword: &str) -> bool {
    arg.eq_ignore_ascii_case(keyword.as_bytes())
}

/// Redis's `stringmatchlen`: glob matching with `*`, `?`, `[...]` (with `^` and ranges) and
/// backslash escapes, optionally case-insensitive.
pub fn glob_match(pattern: &[u8], string: &[u8], nocase: bool) -> bool {
    let mut skip_longer = false;
    glob_match_impl(pattern, string, nocase, &mut skip_longer, 0)
}

fn glob_match_impl(
    mut p: &[u8],
    mut s: &[u8],
    nocase: bool,
    skip_longer: &mut bool,
    depth: usize,
) -> bool {
    // Redis caps recursion for patterns like "a*a*a*..."; a bounded depth keeps a hostile
    // pattern from blowing the stack.
    if depth > 1000 {
        return false;
    }
    let eq = |a: u8, b: u8| {
        if nocase {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    while !p.is_empty() && !s.is_empty() {
        match p[0] {
            b'*' => {
                while p.len() > 1 && p[1] == b'*' {
                    p = &p[1..];
                }
                if p.len() == 1 {
                    return true;
                }
                while !s.is_empty() {
                    if glob_match_impl(&p[1..], s, nocase, skip_longer, depth + 1) {
                        return true;
                    }
                    if *skip_longer {
                        return false;
                    }
                    s = &s[1..];
                }
                // The rest of the pattern matches nowhere in the rest of the string, so an
                // earlier '*' consuming more can't help either: Redis stops here, which keeps
                // "a*a*a*...b" patterns from going exponential.
                *skip_longer = true;
                return false;
            }
            b'?' => {
                s = &s[1..];
            }
            b'[' => {
                p = &p[1..];
                let not = p.first() == Some(&b'^');
                if not {
                    p = &p[1..];
                }
                let mut matched = false;
                loop {
                    if p.is_empty() {
                        break;
                    }
                    if p[0] == b'\\' && p.len() >= 2 {
                        p = &p[1..];
                        if eq(p[0], s[0]) {
                            matched = true;
                        }
                    } else if p[0] == b']' {
                        break;
                    } else if p.len() >= 3 && p[1] == b'-' {
                        let (mut start, mut end) = (p[0], p[2]);
                        if start > end {
                            std::mem::swap(&mut start, &mut end);
                        }
                        let mut c = s[0];
                        if nocase {
                            start = start.to_ascii_lowercase();
                            end = end.to_ascii_lowercase();
                            c = c.to_ascii_lowercase();
                        }
                        p = &p[2..];
                        if c >= start && c <= end {
                            matched = true;
                        }
                    } else if eq(p[0], s[0]) {
                        matched = true;
                    }
                    p = &p[1..];
                }
                if p.is_empty() {
                    // Redis treats an unterminated class as ending at the pattern's end.
                    p = &p[..0];
                    if not {
                        matched = !matched;
                    }
                    if !matched {
                        return false;
                    }
                    s = &s[1..];
                    continue;
                }
                if not {
                    matched = !matched;
                }
                if !matched {
                    return false;
                }
                s = &s[1..];
            }
            b'\\' if p.len() >= 2 => {
                p = &p[1..];
                if !eq(p[0], s[0]) {
                    return false;
                }
                s = &s[1..];
            }
            c => {
                if !eq(c, s[0]) {
                    return false;
                }
                s = &s[1..];
            }
        }
        p = &p[1..];
        if s.is_empty() {
            while p.first() == Some(&b'*') {
                p = &p[1..];
            }
            break;
        }
    }
    p.is_empty() && s.is_empty()
}

/// A small, fast PRNG (xorshift64*) for sampling keys and members; not for anything secret.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn seeded() -> Self {
        let seed = now_us() as u64 ^ (std::process::id() as u64).rotate_left(32);
        Rng(seed | 1)
    }

    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0).
    #[inline]
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// Normalises Redis-style inclusive `start`/`end` indexes (negative from the end) against a
/// length, as LRANGE, LTRIM and ZRANGE compute them; `None` when the range is empty.
pub fn normalize_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let mut s = if start < 0 { len + start } else { start };
    let mut e = if end < 0 { len + end } else { end };
    if s < 0 {
        s = 0;
    }
    if s > e || s >= len {
        return None;
    }
    if e >= len {
        e = len - 1;
    }
    Some((s as usize, e as usize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_format_like_redis_7_0() {
        assert_eq!(format_double(1.1), "1.1000000000000001");
        assert_eq!(format_double(3.0), "3");
        assert_eq!(format_double(-0.0), "-0");
        assert_eq!(format_double(1e20), "1e+20");
        assert_eq!(format_double(f64::NEG_INFINITY), "-inf");
    }

    #[test]
    fn long_double_addition_matches_redis() {
        assert_eq!(long_double_add(Some(b"0.1"), b"0.2").unwrap(), b"0.3");
        assert_eq!(long_double_add(Some(b"10.5"), b"0.1").unwrap(), b"10.6");
        assert_eq!(long_double_add(None, b"5.0e3").unwrap(), b"5000");
        assert_eq!(long_double_add(Some(b"3"), b"-3").unwrap(), b"0");
        assert_eq!(
            long_double_add(Some(b"abc"), b"1"),
            Err(LdAddError::StoredNotFloat)
        );
        assert_eq!(
            long_double_add(Some(b"1"), b" 1"),
            Err(LdAddError::IncrNotFloat)
        );
        assert_eq!(
            long_double_add(Some(b"1"), b"inf"),
            Err(LdAddError::NanOrInfinity)
        );
    }

    /// `string2d` rules: accepted values bit for bit, and what Redis refuses.
    #[test]
    fn parse_f64_like_string2d() {
        let some = |s: &[u8], v: f64| {
            assert_eq!(parse_f64(s).map(f64::to_bits), Some(v.to_bits()), "{s:?}");
        };
        some(b"1", 1.0);
        some(b"1.5", 1.5);
        some(b"-1.5", -1.5);
        some(b"+2", 2.0);
        some(b"inf", f64::INFINITY);
        some(b"-inf", f64::NEG_INFINITY);
        some(b"+inf", f64::INFINITY);
        some(b"INF", f64::INFINITY);
        some(b"-Infinity", f64::NEG_INFINITY);
        some(b"1e308", 1e308);
        some(b"4e-320", 4e-320);
        some(b"0e-400", 0.0);
        some(b"-0", -0.0);
        some(b".5", 0.5);
        some(b"5.", 5.0);
        some(b"0x1p-1074", f64::from_bits(1));
        some(b"0x1.8p1", 3.0);
        some(b"0X.8", 0.5);
        some(b"0x1.fffffffffffffp1023", f64::MAX);
        some(b"0x1.00000000000008p0", 1.0); // tie -> even
        some(b"0x1.00000000000018p0", 1.0 + 2f64.powi(-51)); // tie -> even (up)
        some(b"0x1.0000000000000800000000001p0", 1.0 + 2f64.powi(-52)); // above tie
        some(b"0x123456789abcdef0123", 0x123456789abcdef0123u128 as f64);
        some(b"0x0.0000000000000000000000001p0", 2f64.powi(-100));
        some(b"0x1.8p-1074", f64::from_bits(2)); // tie -> even (up)
        some(b"0x1.0000001p-1075", f64::from_bits(1)); // above half of the minimum
                                                       // `string2d` has no length limit.
        some(format!("1.{}", "0".repeat(6000)).as_bytes(), 1.0);
        for bad in [
            &b""[..],
            b" 1",
            b"\t1",
            b"\x0b1", // C's isspace includes \v
            b"\x0c1",
            b"1 ",
            b"1e400",
            b"-1e400",
            b"1e-400",
            b"nan",
            b"-nan",
            b"nan(1)",
            b"abc",
            b"1\0",
            b"0x1p1024",
            b"0x1.fffffffffffff8p1023",
            b"0x1p-1075",
            b"0x1p-1076",
            b"0x",
            b"1e",
            b"(1",
            b"1,5",
        ] {
            assert_eq!(parse_f64(bad), None, "{bad:?}");
        }
    }

    /// glibc's `strtod` through libc, as Redis calls it: (bits, bytes consumed, ERANGE).
    #[cfg(target_env = "gnu")]
    fn c_strtod(s: &[u8]) -> (u64, usize, bool) {
        let c = std::ffi::CString::new(s).expect("no NUL in test input");
        let mut end: *mut libc::c_char = std::ptr::null_mut();
        // SAFETY: `c` is NUL-terminated and outlives the call; strtod points `end` into it.
        unsafe {
            *libc::__errno_location() = 0;
            let v = libc::strtod(c.as_ptr(), &mut end);
            let consumed = end.offset_from(c.as_ptr()) as usize;
            let erange = *libc::__errno_location() == libc::ERANGE;
            // NaN payloads are not compared; Redis refuses every NaN.
            (
                if v.is_nan() { u64::MAX } else { v.to_bits() },
                consumed,
                erange,
            )
        }
    }

    /// The port and the C function agree on value, end position and the range errors that
    /// matter (glibc also sets ERANGE for inexact subnormals, which nothing refuses).
    #[cfg(target_env = "gnu")]
    fn assert_strtod_matches_c(s: &[u8]) {
        let r = strtod(s);
        let port = (
            if r.value.is_nan() {
                u64::MAX
            } else {
                r.value.to_bits()
            },
            r.consumed,
            r.overflow || r.underflow,
        );
        let (bits, consumed, erange) = c_strtod(s);
        let v = f64::from_bits(bits);
        let refused_range = erange && bits != u64::MAX && (v.is_infinite() || v == 0.0);
        assert_eq!(
            port,
            (bits, consumed, refused_range),
            "{:?}",
            String::from_utf8_lossy(s)
        );
    }

    #[cfg(target_env = "gnu")]
    #[test]
    fn strtod_matches_c() {
        let mut cases: Vec<Vec<u8>> = [
            "inf",
            "+inf",
            "-inf",
            "INF",
            "Inf",
            "iNfInItY",
            "infinity",
            "-Infinity",
            "infinit",
            "infx",
            "nan",
            "NaN",
            "-nan",
            "+NAN",
            "nan(123)",
            "nan()",
            "nan(",
            "nan(a_b)",
            "nan(a-b)",
            " 1",
            "\t1",
            "\n1",
            "\x0b1",
            "\x0c1",
            "\r1",
            "  -inf",
            "1 ",
            "1\t",
            "",
            " ",
            "+",
            "-",
            ".",
            "1.",
            ".1",
            "-.5",
            "1e",
            "1e+",
            "1e-5",
            "1E5",
            "1.e5",
            ".e5",
            "e5",
            "0x10",
            "0X1P4",
            "0x1p-1074",
            "0x1p-1075",
            "0x1.8p-1074",
            "0x",
            "0x.",
            "0x.p1",
            "0xp1",
            "0x1p",
            "0x1p+",
            "-0x1.8",
            "0xg",
            "0x1.fffffffffffffp1023",
            "0x1.fffffffffffff8p1023",
            "0x1p1024",
            "1e308",
            "1e309",
            "-1e309",
            "1e-320",
            "1e-400",
            "-1e-400",
            "2.4703282292062327e-324",
            "2.4703282292062328e-324",
            "4.9406564584124654e-324",
            "1.7976931348623157e308",
            "1.7976931348623158e308",
            "1.7976931348623159e308",
            "2.2250738585072011e-308",
            "2.2250738585072012e-308",
            "00001",
            "-0",
            "+0",
            "0e999999999",
            "1e-99999999999",
            "1e99999999999",
            "0.0e-400",
            "1,5",
            "1_000",
            "0b1",
            "\u{ff11}",
            "++1",
            "--1",
            "+-1",
            "(1",
            "1.5.5",
            "123abc",
            "9007199254740993",
            "1e23",
            "8.5e-323",
            "0.1",
            "3.14159265358979323846",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
        cases.push(format!("1.{}", "0".repeat(6000)).into_bytes());
        cases.push(format!("0.{}1", "0".repeat(400)).into_bytes());
        cases.push("9".repeat(400).into_bytes());
        cases.push(format!("{}e-400", "1".repeat(400)).into_bytes());
        cases.push(format!("0x{}p-4000", "f".repeat(1100)).into_bytes());
        for s in &cases {
            assert_strtod_matches_c(s);
        }
    }

    #[cfg(target_env = "gnu")]
    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(20_000))]

        /// Short strings over the characters strtod treats specially.
        #[test]
        fn strtod_matches_c_on_noise(s in "[0-9.eEpPxX+\\- \t\x0binfatyINFATY()_a-f]{0,24}") {
            assert_strtod_matches_c(s.as_bytes());
        }

        /// Well-formed decimal and hex numbers around the subnormal and overflow edges.
        #[test]
        fn strtod_matches_c_on_numbers(
            int in 0u64..1_000_000,
            frac in proptest::prelude::any::<u64>(),
            exp in -350i32..350,
            mant in proptest::prelude::any::<u64>(),
            bexp in -1150i32..1100,
            bits in proptest::prelude::any::<u64>(),
        ) {
            assert_strtod_matches_c(format!("{int}.{frac}e{exp}").as_bytes());
            assert_strtod_matches_c(format!("0x{mant:x}.{frac:x}p{bexp}").as_bytes());
            assert_strtod_matches_c(format!("{:e}", f64::from_bits(bits)).as_bytes());
        }
    }

    #[test]
    fn glob() {
        assert!(glob_match(b"h?llo", b"hello", false));
        assert!(glob_match(b"h*llo", b"heeeello", false));
        assert!(glob_match(b"h[ae]llo", b"hallo", false));
        assert!(!glob_match(b"h[^e]llo", b"hello", false));
        assert!(glob_match(b"h[a-b]llo", b"hbllo", false));
        assert!(glob_match(b"ris:\\{*", b"ris:{a}", false));
        assert!(!glob_match(b"a*", b"b", false));
        assert!(glob_match(b"HELLO", b"hello", true));
    }

    #[test]
    fn glob_many_stars_is_not_exponential() {
        let key = [b'a'; 40];
        let pattern = b"a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b";
        let started = std::time::Instant::now();
        assert!(!glob_match(pattern, &key, false));
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        assert!(glob_match(b"a*a*a*a", &key, false));
    }

    #[test]
    fn ranges() {
        assert_eq!(normalize_range(0, -1, 3), Some((0, 2)));
        assert_eq!(normalize_range(-100, 100, 3), Some((0, 2)));
        assert_eq!(normalize_range(2, 1, 3), None);
        assert_eq!(normalize_range(5, 10, 3), None);
        assert_eq!(normalize_range(0, -1, 0), None);
        assert_eq!(normalize_range(3, 5, 3), None);
        assert_eq!(normalize_range(i64::MIN, i64::MAX, 3), Some((0, 2)));
        assert_eq!(normalize_range(0, i64::MIN, 3), None);
    }
}
