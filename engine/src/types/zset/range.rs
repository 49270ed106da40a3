//! Range arguments of the sorted set commands: score bounds (`1.5`, `(1.5`,
//! `-inf`), lex bounds (`-`, `+`, `[abc`, `(abc`), the ranges built from them
//! and LIMIT, with Redis's parsers for each, plus [`Spec`], which lets one
//! range walk in the parent module serve both kinds.

use std::cmp::Ordering;

use super::ZsetError;

/// One end of a score interval: `1.5` (inclusive) or `(1.5` (exclusive).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScoreBound {
    pub value: f64,
    pub exclusive: bool,
}

impl ScoreBound {
    pub const NEG_INF: ScoreBound = ScoreBound {
        value: f64::NEG_INFINITY,
        exclusive: false,
    };
    pub const POS_INF: ScoreBound = ScoreBound {
        value: f64::INFINITY,
        exclusive: false,
    };

    pub fn inclusive(value: f64) -> Self {
        ScoreBound {
            value,
            exclusive: false,
        }
    }

    pub fn exclusive(value: f64) -> Self {
        ScoreBound {
            value,
            exclusive: true,
        }
    }
}

/// A score interval, always given as (min, max); REV commands swap their
/// arguments before building it, exactly like Redis.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScoreRange {
    pub min: ScoreBound,
    pub max: ScoreBound,
}

impl ScoreRange {
    pub fn new(min: ScoreBound, max: ScoreBound) -> Self {
        ScoreRange { min, max }
    }

    /// `zslParseRange`: parses both bounds.
    pub fn parse(min: &[u8], max: &[u8]) -> Result<Self, ZsetError> {
        Ok(ScoreRange {
            min: parse_score_bound(min)?,
            max: parse_score_bound(max)?,
        })
    }

    pub(super) fn gte_min(&self, v: f64) -> bool {
        if self.min.exclusive {
            v > self.min.value
        } else {
            v >= self.min.value
        }
    }

    pub(super) fn lte_max(&self, v: f64) -> bool {
        if self.max.exclusive {
            v < self.max.value
        } else {
            v <= self.max.value
        }
    }

    /// Ranges that can never match anything (`min > max`, or equal with an
    /// exclusive end).
    pub fn is_trivially_empty(&self) -> bool {
        self.min.value > self.max.value
            || (self.min.value == self.max.value && (self.min.exclusive || self.max.exclusive))
    }
}

/// One end of a lex interval: `-`, `+`, `[abc` or `(abc`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LexBound {
    NegInf,
    PosInf,
    Inclusive(Vec<u8>),
    Exclusive(Vec<u8>),
}

impl LexBound {
    fn is_exclusive(&self) -> bool {
        !matches!(self, LexBound::Inclusive(_))
    }

    /// `sdscmplex`: `-` < every string < `+`, strings by memcmp.
    fn cmp_bound(&self, other: &LexBound) -> Ordering {
        use LexBound::*;
        match (self, other) {
            (NegInf, NegInf) | (PosInf, PosInf) => Ordering::Equal,
            (NegInf, _) | (_, PosInf) => Ordering::Less,
            (PosInf, _) | (_, NegInf) => Ordering::Greater,
            (Inclusive(a) | Exclusive(a), Inclusive(b) | Exclusive(b)) => {
                a.as_slice().cmp(b.as_slice())
            }
        }
    }
}

/// A lex interval (min, max); REV commands swap their arguments first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LexRange {
    pub min: LexBound,
    pub max: LexBound,
}

impl LexRange {
    pub fn new(min: LexBound, max: LexBound) -> Self {
        LexRange { min, max }
    }

    /// `zslParseLexRange`: parses both bounds.
    pub fn parse(min: &[u8], max: &[u8]) -> Result<Self, ZsetError> {
        Ok(LexRange {
            min: parse_lex_bound(min)?,
            max: parse_lex_bound(max)?,
        })
    }

    pub(super) fn gte_min(&self, m: &[u8]) -> bool {
        match &self.min {
            LexBound::NegInf => true,
            LexBound::PosInf => false,
            LexBound::Inclusive(b) => m >= b.as_slice(),
            LexBound::Exclusive(b) => m > b.as_slice(),
        }
    }

    pub(super) fn lte_max(&self, m: &[u8]) -> bool {
        match &self.max {
            LexBound::NegInf => false,
            LexBound::PosInf => true,
            LexBound::Inclusive(b) => m <= b.as_slice(),
            LexBound::Exclusive(b) => m < b.as_slice(),
        }
    }

    /// Ranges that can never match anything (`zslIsInLexRange` prologue).
    pub fn is_trivially_empty(&self) -> bool {
        match self.min.cmp_bound(&self.max) {
            Ordering::Greater => true,
            Ordering::Equal => self.min.is_exclusive() || self.max.is_exclusive(),
            Ordering::Less => false,
        }
    }
}

/// LIMIT offset count of the BYSCORE / BYLEX ranges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    pub offset: usize,
    /// `None`: no limit.
    pub count: Option<usize>,
}

impl Limit {
    pub const ALL: Limit = Limit {
        offset: 0,
        count: None,
    };

    /// From the raw `LIMIT offset count` longs. Redis semantics: a negative
    /// offset yields an empty result (returns `None`: reply an empty array /
    /// store nothing), a negative count means "no limit".
    pub fn from_redis(offset: i64, count: i64) -> Option<Limit> {
        let offset = usize::try_from(offset).ok()?;
        Some(Limit {
            offset,
            count: usize::try_from(count).ok(),
        })
    }
}

impl Default for Limit {
    fn default() -> Self {
        Limit::ALL
    }
}

/// Parses one score bound like `zslParseRange`: optional `(` prefix, then C
/// `strtod` which must stop at the end of the string (or at a NUL byte, as
/// in C). Accepts `inf`, `+inf`, `-inf`, `infinity`, hex floats, leading
/// whitespace, and even the empty string (= 0, a C quirk Redis keeps);
/// rejects NaN.
pub fn parse_score_bound(s: &[u8]) -> Result<ScoreBound, ZsetError> {
    let (body, exclusive) = match s.first() {
        Some(b'(') => (&s[1..], true),
        _ => (s, false),
    };
    let r = crate::util::strtod(body);
    let at_end = r.consumed == body.len() || body[r.consumed] == 0;
    if !at_end || r.value.is_nan() {
        return Err(ZsetError::ScoreBoundNotFloat);
    }
    Ok(ScoreBound {
        value: r.value,
        exclusive,
    })
}

/// Parses one lex bound like `zslParseLexRangeItem`: `-`, `+`, `[str`,
/// `(str`; anything else is [`ZsetError::LexBoundInvalid`].
pub fn parse_lex_bound(s: &[u8]) -> Result<LexBound, ZsetError> {
    // C checks `c[1] != '\0'`, so a NUL right after `+`/`-` also counts.
    let alone = s.len() == 1 || s.get(1) == Some(&0);
    match s.first() {
        Some(b'+') if alone => Ok(LexBound::PosInf),
        Some(b'-') if alone => Ok(LexBound::NegInf),
        Some(b'(') => Ok(LexBound::Exclusive(s[1..].to_vec())),
        Some(b'[') => Ok(LexBound::Inclusive(s[1..].to_vec())),
        _ => Err(ZsetError::LexBoundInvalid),
    }
}

/// A range predicate pair shared by the score and lex code paths.
#[derive(Clone, Copy)]
pub(super) enum Spec<'a> {
    Score(&'a ScoreRange),
    Lex(&'a LexRange),
}

impl Spec<'_> {
    #[inline]
    pub(super) fn gte_min(&self, m: &[u8], s: f64) -> bool {
        match self {
            Spec::Score(r) => r.gte_min(s),
            Spec::Lex(r) => r.gte_min(m),
        }
    }

    #[inline]
    pub(super) fn lte_max(&self, m: &[u8], s: f64) -> bool {
        match self {
            Spec::Score(r) => r.lte_max(s),
            Spec::Lex(r) => r.lte_max(m),
        }
    }

    pub(super) fn is_trivially_empty(&self) -> bool {
        match self {
            Spec::Score(r) => r.is_trivially_empty(),
            Spec::Lex(r) => r.is_trivially_empty(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_bound_parsing() {
        let ok = |s: &str, v: f64, ex: bool| {
            let b = parse_score_bound(s.as_bytes()).unwrap_or_else(|e| panic!("{s:?}: {e}"));
            assert_eq!((b.value.to_bits(), b.exclusive), (v.to_bits(), ex), "{s:?}");
        };
        ok("1.5", 1.5, false);
        ok("(1.5", 1.5, true);
        ok("-inf", f64::NEG_INFINITY, false);
        ok("+inf", f64::INFINITY, false);
        ok("inf", f64::INFINITY, false);
        ok("(-inf", f64::NEG_INFINITY, true);
        ok("(+INF", f64::INFINITY, true);
        ok("-Infinity", f64::NEG_INFINITY, false);
        ok("", 0.0, false);
        ok("(", 0.0, true);
        ok(" 1", 1.0, false);
        ok("\t-2e3", -2000.0, false);
        ok("0x10", 16.0, false);
        ok("0x1p-2", 0.25, false);
        ok(".5", 0.5, false);
        ok("5.", 5.0, false);
        ok("1e400", f64::INFINITY, false);
        ok("-0", -0.0, false);
        ok("10", 10.0, false);
        ok("1\0junk", 1.0, false);
        ok("\0", 0.0, false);
        for bad in [
            "1 ", "abc", "nan", "(nan", "NaN(123)", "0x", "1e", "1e+", "+", "-", " ", "((1",
            "1.5.5", "--1", "[1", "inf1", "1,5",
        ] {
            assert_eq!(
                parse_score_bound(bad.as_bytes()),
                Err(ZsetError::ScoreBoundNotFloat),
                "{bad:?}"
            );
        }
        assert_eq!(
            ZsetError::ScoreBoundNotFloat.message(),
            "ERR min or max is not a float"
        );
        assert!(ScoreRange::parse(b"1", b"x").is_err());
        assert!(ScoreRange::parse(b"x", b"1").is_err());
    }

    #[test]
    fn lex_bound_parsing() {
        use LexBound::*;
        assert_eq!(parse_lex_bound(b"-"), Ok(NegInf));
        assert_eq!(parse_lex_bound(b"+"), Ok(PosInf));
        assert_eq!(parse_lex_bound(b"+\0x"), Ok(PosInf));
        assert_eq!(parse_lex_bound(b"[a"), Ok(Inclusive(b"a".to_vec())));
        assert_eq!(parse_lex_bound(b"(a\0b"), Ok(Exclusive(b"a\0b".to_vec())));
        assert_eq!(parse_lex_bound(b"["), Ok(Inclusive(vec![])));
        assert_eq!(parse_lex_bound(b"("), Ok(Exclusive(vec![])));
        for bad in [&b""[..], b"a", b"+a", b"-a", b"++", b"\0", b" [a"] {
            assert_eq!(
                parse_lex_bound(bad),
                Err(ZsetError::LexBoundInvalid),
                "{bad:?}"
            );
        }
        assert_eq!(
            ZsetError::LexBoundInvalid.to_string(),
            "ERR min or max not valid string range item"
        );
    }
}
