//! Number parsing and formatting with Redis's exact rules, plus small helpers shared by commands.
//!
//! Clients compare our replies with Redis's byte for byte, so numbers go through the same C
//! routines Redis uses (`strtod`, `%.17g`, long double `%.17Lf`) rather than Rust's own, whose
//! digits differ.

use std::ffi::CString;
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

/// Parses a double like Redis's `getDoubleFromObject` (C `strtod`, no leading space, whole
/// string consumed, no NaN, no overflow).
pub fn parse_f64(s: &[u8]) -> Option<f64> {
    if s.is_empty() || s[0].is_ascii_whitespace() || s.len() > 5000 {
        return None;
    }
    let c = CString::new(s).ok()?;
    let mut end: *mut libc::c_char = std::ptr::null_mut();
    // SAFETY: `c` is a valid NUL-terminated string that outlives the call; strtod sets `end`
    // to a position within it.
    let (v, consumed, erange) = unsafe {
        *libc::__errno_location() = 0;
        let v = libc::strtod(c.as_ptr(), &mut end);
        let consumed = end.offset_from(c.as_ptr()) as usize;
        (v, consumed, *libc::__errno_location() == libc::ERANGE)
    };
    if consumed != s.len() || v.is_nan() {
        return None;
    }
    if erange && (v.is_infinite() || v == 0.0) {
        return None;
    }
    Some(v)
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
/// length; `None` when the range is empty.
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

    #[test]
    fn strtod_rules() {
        assert_eq!(parse_f64(b"1.5"), Some(1.5));
        assert_eq!(parse_f64(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_f64(b"1e400"), None);
        assert_eq!(parse_f64(b"nan"), None);
        assert_eq!(parse_f64(b" 1"), None);
        assert_eq!(parse_f64(b"1 "), None);
        assert_eq!(parse_f64(b""), None);
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
    }
}
