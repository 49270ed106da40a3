//! Stream IDs and the parsing of ID arguments (XADD's ID, range bounds,
//! strict IDs), ported from `t_stream.c` with Redis 7.0's quirks, plus the
//! C number helpers (`string2ll`, `string2ull`) that the option parsing and
//! the listpack size model share.

use std::fmt;

use super::StreamError;

/// Longest ID argument Redis accepts (its parse buffer is 128 bytes).
const ID_MAX_LEN: usize = 127;

/// A stream entry ID, ordered by `ms` then `seq`; displays as `ms-seq`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    pub const fn new(ms: u64, seq: u64) -> Self {
        StreamId { ms, seq }
    }

    pub fn is_zero(self) -> bool {
        self == StreamId::MIN
    }

    /// Redis `streamIncrID`: the next ID (seq overflow moves to `ms+1`-0);
    /// `None` for `MAX`.
    pub fn incr(self) -> Option<StreamId> {
        if self.seq == u64::MAX {
            if self.ms == u64::MAX {
                None
            } else {
                Some(StreamId::new(self.ms + 1, 0))
            }
        } else {
            Some(StreamId::new(self.ms, self.seq + 1))
        }
    }

    /// Redis `streamDecrID`: the previous ID; `None` for `0-0`.
    pub fn decr(self) -> Option<StreamId> {
        if self.seq == 0 {
            if self.ms == 0 {
                None
            } else {
                Some(StreamId::new(self.ms - 1, u64::MAX))
            }
        } else {
            Some(StreamId::new(self.ms, self.seq - 1))
        }
    }

    /// Redis `streamParseStrictIDOrReply(.., missing_seq = 0, NULL)`:
    /// `<ms>` (seq 0) or `<ms>-<seq>`; `-`, `+`, `<ms>-*` are invalid.
    /// For XDEL IDs, MINID thresholds, XSETID and the like.
    pub fn parse_strict(arg: &[u8]) -> Result<StreamId, StreamError> {
        parse_id(arg, 0, true, false).map(|(id, _)| id)
    }

    /// Redis `streamParseIDOrReply`: like [`StreamId::parse_strict`] but also
    /// `-` (0-0) and `+` (MAX), and `<ms>` gets `missing_seq`.
    pub fn parse(arg: &[u8], missing_seq: u64) -> Result<StreamId, StreamError> {
        parse_id(arg, missing_seq, false, false).map(|(id, _)| id)
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// Redis compares many arguments as C strings: everything from the first
/// NUL byte on is invisible.
pub(super) fn c_str(arg: &[u8]) -> &[u8] {
    match arg.iter().position(|&b| b == 0) {
        Some(i) => &arg[..i],
        None => arg,
    }
}

/// Redis `string2ll` (also `lpStringToInt64`): canonical decimal only, no
/// sign but `-`, no leading zeros, no spaces, fewer than 21 bytes.
pub(super) fn string2ll(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() >= 21 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (negative, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    if negative {
        if v > (i64::MAX as u64) + 1 {
            return None;
        }
        Some(0u64.wrapping_sub(v) as i64)
    } else if v > i64::MAX as u64 {
        None
    } else {
        Some(v as i64)
    }
}

/// Redis `string2ull`: `string2ll` (negative rejected), else glibc
/// `strtoull(s, &end, 10)` that must consume everything: leading
/// whitespace, `+`, leading zeros and values up to `u64::MAX` are accepted,
/// and `-<n>` that `string2ll` rejected wraps around like C does.
fn string2ull(s: &[u8]) -> Option<u64> {
    if let Some(v) = string2ll(s) {
        return if v < 0 { None } else { Some(v as u64) };
    }
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
        i += 1;
    }
    let mut negative = false;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        negative = s[i] == b'-';
        i += 1;
    }
    let digits_start = i;
    let mut v: u64 = 0;
    let mut overflow = false;
    while i < s.len() && s[i].is_ascii_digit() {
        match v
            .checked_mul(10)
            .and_then(|x| x.checked_add(u64::from(s[i] - b'0')))
        {
            Some(x) => v = x,
            None => overflow = true,
        }
        i += 1;
    }
    if i == digits_start || overflow || i != s.len() {
        return None;
    }
    Some(if negative { v.wrapping_neg() } else { v })
}

/// Redis `streamGenericParseIDOrReply`. Returns the ID and whether the seq
/// was given (false only for `<ms>-*` when `allow_auto_seq`).
fn parse_id(
    arg: &[u8],
    missing_seq: u64,
    strict: bool,
    allow_auto_seq: bool,
) -> Result<(StreamId, bool), StreamError> {
    if arg.len() > ID_MAX_LEN {
        return Err(StreamError::InvalidId);
    }
    let buf = c_str(arg);
    if buf == b"-" || buf == b"+" {
        if strict {
            return Err(StreamError::InvalidId);
        }
        let id = if buf == b"-" {
            StreamId::MIN
        } else {
            StreamId::MAX
        };
        return Ok((id, true));
    }
    let (ms_part, seq_part) = match buf.iter().position(|&b| b == b'-') {
        Some(dash) => (&buf[..dash], Some(&buf[dash + 1..])),
        None => (buf, None),
    };
    let ms = string2ull(ms_part).ok_or(StreamError::InvalidId)?;
    match seq_part {
        Some(b"*") if allow_auto_seq => Ok((StreamId::new(ms, 0), false)),
        Some(seq) => {
            let seq = string2ull(seq).ok_or(StreamError::InvalidId)?;
            Ok((StreamId::new(ms, seq), true))
        }
        None => Ok((StreamId::new(ms, missing_seq), true)),
    }
}

/// Redis `streamParseIntervalIDOrReply`: an optional `(` prefix (only when
/// the argument is longer than 1 byte) makes the bound exclusive and the
/// rest is then parsed strictly (`(-` / `(+` are invalid IDs); otherwise
/// `-`, `+`, `<ms>` (seq = `missing_seq`) and `<ms>-<seq>`.
/// Returns `(id, exclusive)`; the caller adjusts exclusive bounds.
pub fn parse_interval_id(arg: &[u8], missing_seq: u64) -> Result<(StreamId, bool), StreamError> {
    if arg.len() > 1 && arg[0] == b'(' {
        parse_id(&arg[1..], missing_seq, true, false).map(|(id, _)| (id, true))
    } else {
        parse_id(arg, missing_seq, false, false).map(|(id, _)| (id, false))
    }
}

/// XRANGE start / XREVRANGE's second ID argument, as the inclusive lower
/// bound. `-` → 0-0, `<ms>` → ms-0, `(<id>` → id + 1.
///
/// Errors: [`StreamError::InvalidId`] for anything unparsable, including
/// `(`, `(-`, `(+`; [`StreamError::InvalidStartInterval`] for
/// `(18446744073709551615-18446744073709551615`. Redis parses (and reports
/// errors for) the start bound before the end bound, also in XREVRANGE.
pub fn parse_range_start(arg: &[u8]) -> Result<StreamId, StreamError> {
    let (id, exclusive) = parse_interval_id(arg, 0)?;
    if exclusive {
        id.incr().ok_or(StreamError::InvalidStartInterval)
    } else {
        Ok(id)
    }
}

/// XRANGE end / XREVRANGE's first ID argument, as the inclusive upper
/// bound. `+` → MAX, `<ms>` → ms-18446744073709551615, `(<id>` → id − 1.
///
/// Errors: [`StreamError::InvalidId`] for anything unparsable, including
/// `(`, `(-`, `(+`; [`StreamError::InvalidEndInterval`] for `(0-0` (and
/// `(-0`-like spellings of it).
pub fn parse_range_end(arg: &[u8]) -> Result<StreamId, StreamError> {
    let (id, exclusive) = parse_interval_id(arg, u64::MAX)?;
    if exclusive {
        id.decr().ok_or(StreamError::InvalidEndInterval)
    } else {
        Ok(id)
    }
}

/// The ID argument of XADD.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XaddId {
    /// `*`: from the clock (see [`super::Stream::next_id`]).
    Auto,
    /// `<ms>-*`: given ms, generated seq.
    AutoSeq(u64),
    /// `<ms>-<seq>` or `<ms>` (seq 0).
    Explicit(StreamId),
}

impl XaddId {
    /// Parses `*`, `<ms>-*`, `<ms>-<seq>`, `<ms>`; `-` and `+` are invalid.
    /// Error: [`StreamError::InvalidId`].
    pub fn parse(arg: &[u8]) -> Result<XaddId, StreamError> {
        if c_str(arg) == b"*" {
            return Ok(XaddId::Auto);
        }
        let (id, seq_given) = parse_id(arg, 0, true, true)?;
        Ok(if seq_given {
            XaddId::Explicit(id)
        } else {
            XaddId::AutoSeq(id.ms)
        })
    }

    /// Redis rejects an explicit `0-0` (or `0`) right after the arity check
    /// and before looking the key up (so before WRONGTYPE, and without
    /// creating the key), whatever the stream holds:
    /// [`StreamError::XaddIdZero`]. `0-*` is fine.
    pub fn validate(self) -> Result<(), StreamError> {
        match self {
            XaddId::Explicit(id) if id.is_zero() => Err(StreamError::XaddIdZero),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::stream::tests::id;

    #[test]
    fn id_order_display_incr_decr() {
        assert!(id(1, 5) < id(2, 0));
        assert!(id(1, 5) < id(1, 6));
        assert_eq!(id(12, 34).to_string(), "12-34");
        assert_eq!(
            StreamId::MAX.to_string(),
            "18446744073709551615-18446744073709551615"
        );
        assert_eq!(id(1, u64::MAX).incr(), Some(id(2, 0)));
        assert_eq!(StreamId::MAX.incr(), None);
        assert_eq!(id(2, 0).decr(), Some(id(1, u64::MAX)));
        assert_eq!(StreamId::MIN.decr(), None);
    }

    #[test]
    fn xadd_id_parsing() {
        let p = |s: &str| XaddId::parse(s.as_bytes());
        assert_eq!(p("*"), Ok(XaddId::Auto));
        assert_eq!(p("5-*"), Ok(XaddId::AutoSeq(5)));
        assert_eq!(p("5"), Ok(XaddId::Explicit(id(5, 0))));
        assert_eq!(p("5-3"), Ok(XaddId::Explicit(id(5, 3))));
        // Quirks verified against redis-server 7.0.15.
        assert_eq!(p("1-+5"), Ok(XaddId::Explicit(id(1, 5))));
        assert_eq!(p("2- 5"), Ok(XaddId::Explicit(id(2, 5))));
        assert_eq!(
            p("4--05"),
            Ok(XaddId::Explicit(id(4, 18446744073709551611)))
        );
        assert_eq!(p("+5"), Ok(XaddId::Explicit(id(5, 0))));
        assert_eq!(p(" 12"), Ok(XaddId::Explicit(id(12, 0))));
        assert_eq!(p("007-1"), Ok(XaddId::Explicit(id(7, 1))));
        assert_eq!(
            p("8-18446744073709551615"),
            Ok(XaddId::Explicit(id(8, u64::MAX)))
        );
        for bad in [
            "3--5",
            "6 ",
            "18446744073709551616",
            "10-",
            "-",
            "+",
            "11-1-1",
            "14-0x1",
            "",
            "*-1",
            "-*",
            "5-**",
            "(5",
            "-0",
        ] {
            assert_eq!(p(bad), Err(StreamError::InvalidId), "{bad:?}");
        }
        assert_eq!(
            XaddId::parse(&[b'1'; 128]),
            Err(StreamError::InvalidId),
            "longer than 127 bytes"
        );
        assert_eq!(XaddId::parse(b"5-7\0junk"), Ok(XaddId::Explicit(id(5, 7))));
        assert_eq!(
            StreamError::InvalidId.to_string(),
            "ERR Invalid stream ID specified as stream command argument"
        );
        assert_eq!(p("0-0").unwrap().validate(), Err(StreamError::XaddIdZero));
        assert_eq!(p("0").unwrap().validate(), Err(StreamError::XaddIdZero));
        assert_eq!(p("0-*").unwrap().validate(), Ok(()));
        assert_eq!(
            StreamError::XaddIdZero.message(),
            "ERR The ID specified in XADD must be greater than 0-0"
        );
    }

    #[test]
    fn range_id_parsing() {
        let s = |a: &str| parse_range_start(a.as_bytes());
        let e = |a: &str| parse_range_end(a.as_bytes());
        assert_eq!(s("-"), Ok(StreamId::MIN));
        assert_eq!(e("+"), Ok(StreamId::MAX));
        assert_eq!(s("+"), Ok(StreamId::MAX));
        assert_eq!(e("-"), Ok(StreamId::MIN));
        assert_eq!(s("5"), Ok(id(5, 0)));
        assert_eq!(e("5"), Ok(id(5, u64::MAX)));
        assert_eq!(s("5-3"), Ok(id(5, 3)));
        assert_eq!(s("(5-3"), Ok(id(5, 4)));
        assert_eq!(s("(5"), Ok(id(5, 1)));
        assert_eq!(s("(5-18446744073709551615"), Ok(id(6, 0)));
        assert_eq!(e("(5-3"), Ok(id(5, 2)));
        assert_eq!(e("(5"), Ok(id(5, u64::MAX - 1)));
        assert_eq!(e("(5-0"), Ok(id(4, u64::MAX)));
        assert_eq!(s(" 1"), Ok(id(1, 0)));
        for bad in ["(", "(-", "(+", "(-1", "-0", "-05", "", "x", "((1"] {
            assert_eq!(s(bad), Err(StreamError::InvalidId), "start {bad:?}");
            assert_eq!(e(bad), Err(StreamError::InvalidId), "end {bad:?}");
        }
        assert_eq!(
            s("(18446744073709551615-18446744073709551615"),
            Err(StreamError::InvalidStartInterval)
        );
        assert_eq!(e("(0-0"), Err(StreamError::InvalidEndInterval));
        assert_eq!(e("(0"), Ok(id(0, u64::MAX - 1)));
        assert_eq!(
            StreamError::InvalidStartInterval.message(),
            "ERR invalid start ID for the interval"
        );
        assert_eq!(
            StreamError::InvalidEndInterval.message(),
            "ERR invalid end ID for the interval"
        );
        assert_eq!(StreamId::parse_strict(b"7"), Ok(id(7, 0)));
        assert_eq!(StreamId::parse_strict(b"-"), Err(StreamError::InvalidId));
        assert_eq!(StreamId::parse_strict(b"7-*"), Err(StreamError::InvalidId));
        assert_eq!(StreamId::parse(b"7", 9), Ok(id(7, 9)));
    }
}
