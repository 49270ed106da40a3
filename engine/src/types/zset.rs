//! Sorted sets (the ZSET value type), modelled on Redis 7.0's `t_zset.c`.
//!
//! Owns: the two encodings (`listpack`: a small sorted vector; `skiplist`: a
//! span-annotated skiplist plus a member -> score index), the one-way
//! conversion between them, ordering (score, then member bytes as `memcmp`),
//! ZADD flag semantics, rank / score / lex range primitives (query, count,
//! remove), pops, random access by rank, the ZSCAN cursor, a memory estimate,
//! and the Redis parsers for score and lex range bounds.
//!
//! Not owned: command parsing, RESP, score formatting, key lifetime (the
//! caller deletes the key when a set becomes empty) and the set algebra of
//! ZUNION/ZINTER/ZDIFF (built by the command layer from `iter` + `score`).

use std::cmp::Ordering;
use std::collections::HashMap;

use crate::key::Key;
use std::fmt;
use std::iter::FusedIterator;

/// Member -> score lookup for the skiplist encoding. Stand-in for the
/// engine's own `Dict<K, V>`; only `get`, `get_mut`, `insert`, `remove`,
/// `len`, `capacity`, `shrink_to` and `with_capacity_and_hasher` are used.
type MemberIndex = HashMap<Key, f64, ahash::RandomState>;

/// One listpack entry: member bytes and score.
type Entry = (Box<[u8]>, f64);

/// `LISTPACK_MAX_SAFETY_SIZE` in Redis: a listpack never grows past 1 GiB.
const LISTPACK_MAX_SAFETY_SIZE: usize = 1 << 30;

// ---------------------------------------------------------------------------
// Public value types
// ---------------------------------------------------------------------------

/// Runtime CONFIG thresholds (`zset-max-listpack-entries`,
/// `zset-max-listpack-value`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZsetLimits {
    pub max_listpack_entries: usize,
    pub max_listpack_value: usize,
}

impl Default for ZsetLimits {
    fn default() -> Self {
        ZsetLimits {
            max_listpack_entries: 128,
            max_listpack_value: 64,
        }
    }
}

/// ZADD options. Validation of combinations (NX+XX, GT+LT, NX with GT/LT,
/// INCR with several pairs) is the command layer's job.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ZaddFlags {
    pub nx: bool,
    pub xx: bool,
    pub gt: bool,
    pub lt: bool,
    pub incr: bool,
}

/// Result of [`Zset::insert_or_update`], mirroring Redis' `ZADD_OUT_*` flags.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ZaddOutcome {
    /// New member inserted with this score.
    Added(f64),
    /// Existing member whose score changed to this value.
    Updated(f64),
    /// Existing member, (incremented) score equal to the old one: nothing
    /// changed, but the pair was "processed" (ZADD INCR replies this score;
    /// note `-0` == `0`, so the stored score keeps its old sign).
    Unchanged(f64),
    /// NX on an existing member, XX on a missing one, or GT/LT refused the
    /// new score (`ZADD_OUT_NOP`). ZADD INCR replies nil.
    Skipped,
}

impl ZaddOutcome {
    /// Score to reply for ZADD INCR / ZINCRBY (`None` -> nil reply).
    pub fn score(self) -> Option<f64> {
        match self {
            ZaddOutcome::Added(s) | ZaddOutcome::Updated(s) | ZaddOutcome::Unchanged(s) => Some(s),
            ZaddOutcome::Skipped => None,
        }
    }

    pub fn is_added(self) -> bool {
        matches!(self, ZaddOutcome::Added(_))
    }

    /// Counted by ZADD CH (added or updated).
    pub fn is_changed(self) -> bool {
        matches!(self, ZaddOutcome::Added(_) | ZaddOutcome::Updated(_))
    }
}

/// Errors with their exact Redis reply text (without the leading `-`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZsetError {
    /// `ERR min or max is not a float`
    ScoreBoundNotFloat,
    /// `ERR min or max not valid string range item`
    LexBoundInvalid,
    /// `ERR resulting score is not a number (NaN)`
    NanScore,
}

impl ZsetError {
    /// Full error line as Redis sends it, minus the leading `-` and CRLF.
    pub fn message(self) -> &'static str {
        match self {
            ZsetError::ScoreBoundNotFloat => "ERR min or max is not a float",
            ZsetError::LexBoundInvalid => "ERR min or max not valid string range item",
            ZsetError::NanScore => "ERR resulting score is not a number (NaN)",
        }
    }
}

impl fmt::Display for ZsetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for ZsetError {}

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

    fn gte_min(&self, v: f64) -> bool {
        if self.min.exclusive {
            v > self.min.value
        } else {
            v >= self.min.value
        }
    }

    fn lte_max(&self, v: f64) -> bool {
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

    fn gte_min(&self, m: &[u8]) -> bool {
        match &self.min {
            LexBound::NegInf => true,
            LexBound::PosInf => false,
            LexBound::Inclusive(b) => m >= b.as_slice(),
            LexBound::Exclusive(b) => m > b.as_slice(),
        }
    }

    fn lte_max(&self, m: &[u8]) -> bool {
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

pub use crate::util::normalize_range as normalize_rank_range;

// ---------------------------------------------------------------------------
// Parsing helpers (exact Redis / glibc behaviour)
// ---------------------------------------------------------------------------

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
    let r = c_strtod(body);
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

/// Parses a ZADD / ZINCRBY score like Redis' `getDoubleFromObject`
/// (`string2d`): the whole string must be a float, no leading space, no
/// overflow to +-inf or underflow to 0 (subnormals are fine), no NaN;
/// `inf`/`-inf` are accepted. On `None` the command layer replies
/// `ERR value is not a valid float`.
pub fn parse_score(s: &[u8]) -> Option<f64> {
    if s.is_empty() || is_c_space(s[0]) {
        return None;
    }
    let r = c_strtod(s);
    if r.consumed != s.len() || r.value.is_nan() || r.overflow || r.underflow {
        return None;
    }
    Some(r.value)
}

fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Outcome of [`c_strtod`]. `consumed == 0` means "no conversion" (C sets
/// `endptr` back to the start of the string, leading whitespace included).
#[derive(Debug)]
struct Strtod {
    value: f64,
    consumed: usize,
    /// ERANGE with +-HUGE_VAL.
    overflow: bool,
    /// ERANGE with a zero result.
    underflow: bool,
}

fn starts_with_ignore_case(s: &[u8], prefix: &[u8]) -> bool {
    s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// glibc `strtod` in the C locale, on a byte string.
fn c_strtod(s: &[u8]) -> Strtod {
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

// ---------------------------------------------------------------------------
// Ordering helpers
// ---------------------------------------------------------------------------

/// True when `(s, m)` sorts strictly before `(score, member)`. Uses IEEE
/// `<`/`==`, so `-0.0` and `0.0` tie (broken by member) exactly like Redis.
#[inline]
fn before(s: f64, m: &[u8], score: f64, member: &[u8]) -> bool {
    s < score || (s == score && m < member)
}

/// Order-preserving map of a score to `u64` (the ZSCAN cursor space).
/// `-0.0` maps like `0.0`. Never 0 for a non-NaN score.
fn score_key(score: f64) -> u64 {
    let score = if score == 0.0 { 0.0 } else { score };
    let bits = score.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    }
}

/// A range predicate pair shared by the score and lex code paths.
#[derive(Clone, Copy)]
enum Spec<'a> {
    Score(&'a ScoreRange),
    Lex(&'a LexRange),
}

impl Spec<'_> {
    #[inline]
    fn gte_min(&self, m: &[u8], s: f64) -> bool {
        match self {
            Spec::Score(r) => r.gte_min(s),
            Spec::Lex(r) => r.gte_min(m),
        }
    }

    #[inline]
    fn lte_max(&self, m: &[u8], s: f64) -> bool {
        match self {
            Spec::Score(r) => r.lte_max(s),
            Spec::Lex(r) => r.lte_max(m),
        }
    }

    fn is_trivially_empty(&self) -> bool {
        match self {
            Spec::Score(r) => r.is_trivially_empty(),
            Spec::Lex(r) => r.is_trivially_empty(),
        }
    }
}

// ---------------------------------------------------------------------------
// Skiplist (arena of nodes, u32 links, spans for O(log n) ranks)
// ---------------------------------------------------------------------------

const NIL: u32 = u32::MAX;
const HEAD: u32 = 0;
/// `ZSKIPLIST_MAXLEVEL`.
const MAX_LEVEL: usize = 32;

#[derive(Clone, Copy, Debug)]
struct Level {
    forward: u32,
    /// Number of level-0 steps to `forward`; for a NIL `forward`, the number
    /// of nodes after this one (Redis' invariant, relied on by insert).
    span: u32,
}

const EMPTY_LEVEL: Level = Level {
    forward: NIL,
    span: 0,
};

/// Levels stored inside the node; taller nodes (1 in 64) keep the rest in
/// `SkipList::tall`. Three inline levels keep a node at exactly one cache
/// line, so a search step costs one memory access, as in Redis.
const INLINE_LEVELS: usize = 3;

#[derive(Clone, Debug)]
#[repr(align(64))]
struct Node {
    member: Box<[u8]>,
    score: f64,
    backward: u32,
    /// Index into `SkipList::tall` when `height > INLINE_LEVELS`, else NIL.
    tall: u32,
    levels: [Level; INLINE_LEVELS],
    height: u8,
}

// One cache line per node (on 64-bit targets the fields fill it exactly).
const _: () = assert!(std::mem::size_of::<Node>() == 64);

/// Redis' `zskiplist`, with nodes in an arena (`nodes[0]` is the header)
/// and freed slots recycled through `free`. Capacity: fewer than `u32::MAX`
/// nodes.
#[derive(Clone, Debug)]
struct SkipList {
    nodes: Vec<Node>,
    free: Vec<u32>,
    /// Levels `INLINE_LEVELS..height` of tall nodes, recycled via `tall_free`.
    tall: Vec<Box<[Level]>>,
    tall_free: Vec<u32>,
    tail: u32,
    len: usize,
    level: usize,
    /// Sum of the live `tall` slice lengths, for the memory estimate.
    tall_levels: usize,
    rng: u64,
}

fn random_seed() -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(0x7a73_6574_u64) | 1
}

impl SkipList {
    fn with_capacity(n: usize) -> SkipList {
        let mut sl = SkipList {
            nodes: Vec::with_capacity(n + 1),
            free: Vec::new(),
            tall: Vec::new(),
            tall_free: Vec::new(),
            tail: NIL,
            len: 0,
            level: 1,
            tall_levels: 0,
            rng: random_seed(),
        };
        sl.alloc(Box::default(), 0.0, MAX_LEVEL);
        sl.tall_levels = 0; // the header does not count
        sl
    }

    #[inline]
    fn node(&self, x: u32) -> &Node {
        &self.nodes[x as usize]
    }

    #[inline]
    fn node_mut(&mut self, x: u32) -> &mut Node {
        &mut self.nodes[x as usize]
    }

    /// Level `i` of node `x`.
    #[inline]
    fn lvl(&self, x: u32, i: usize) -> Level {
        let n = &self.nodes[x as usize];
        debug_assert!(i < usize::from(n.height), "level {i} above node height");
        if i < INLINE_LEVELS {
            n.levels[i]
        } else {
            self.tall[n.tall as usize][i - INLINE_LEVELS]
        }
    }

    #[inline]
    fn lvl_mut(&mut self, x: u32, i: usize) -> &mut Level {
        debug_assert!(
            i < usize::from(self.nodes[x as usize].height),
            "level {i} above node height"
        );
        if i < INLINE_LEVELS {
            &mut self.nodes[x as usize].levels[i]
        } else {
            let t = self.nodes[x as usize].tall as usize;
            &mut self.tall[t][i - INLINE_LEVELS]
        }
    }

    #[inline]
    fn first(&self) -> u32 {
        self.node(HEAD).levels[0].forward
    }

    /// Starts loading the node one level down from `x` while the current level's candidate is
    /// still in flight: a search ends each level by dropping down, so that node is usually the
    /// next one compared, and overlapping the two cache misses shortens every search.
    #[inline]
    fn prefetch_below(&self, x: u32, i: usize) {
        if i == 0 {
            return;
        }
        let below = self.lvl(x, i - 1).forward;
        if below == NIL {
            return;
        }
        #[cfg(target_arch = "x86_64")]
        {
            let ptr = &self.nodes[below as usize] as *const Node as *const i8;
            // SAFETY: a prefetch is a hint; the pointer is to a live element of `nodes`.
            unsafe {
                std::arch::x86_64::_mm_prefetch(ptr, std::arch::x86_64::_MM_HINT_T0);
            }
        }
    }

    /// Level in 1..=32 with P(level > k) = 0.25^k (`zslRandomLevel`).
    fn random_level(&mut self) -> usize {
        // xorshift64*: never returns 0 for a non-zero state.
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        let r = x.wrapping_mul(0x2545_f491_4f6c_dd1d);
        (1 + r.trailing_zeros() as usize / 2).min(MAX_LEVEL)
    }

    fn alloc(&mut self, member: Box<[u8]>, score: f64, height: usize) -> u32 {
        let tall = if height > INLINE_LEVELS {
            let extra = vec![EMPTY_LEVEL; height - INLINE_LEVELS].into_boxed_slice();
            self.tall_levels += extra.len();
            match self.tall_free.pop() {
                Some(t) => {
                    self.tall[t as usize] = extra;
                    t
                }
                None => {
                    self.tall.push(extra);
                    (self.tall.len() - 1) as u32
                }
            }
        } else {
            NIL
        };
        let node = Node {
            member,
            score,
            backward: NIL,
            tall,
            levels: [EMPTY_LEVEL; INLINE_LEVELS],
            height: u8::try_from(height).expect("height <= MAX_LEVEL"),
        };
        if let Some(x) = self.free.pop() {
            self.nodes[x as usize] = node;
            x
        } else {
            let x = u32::try_from(self.nodes.len())
                .ok()
                .filter(|&x| x != NIL)
                .expect("sorted set exceeds u32::MAX - 1 elements");
            self.nodes.push(node);
            x
        }
    }

    /// Frees an already unlinked node, handing back its member and score.
    fn release(&mut self, x: u32) -> (Box<[u8]>, f64) {
        let node = &mut self.nodes[x as usize];
        let member = std::mem::take(&mut node.member);
        let score = node.score;
        let t = std::mem::replace(&mut node.tall, NIL);
        if t != NIL {
            let extra = std::mem::take(&mut self.tall[t as usize]);
            self.tall_levels -= extra.len();
            self.tall_free.push(t);
        }
        self.free.push(x);
        (member, score)
    }

    /// `zslInsert`; the member must not be present.
    fn insert(&mut self, score: f64, member: Box<[u8]>) -> u32 {
        let mut update = [HEAD; MAX_LEVEL];
        let mut rank = [0usize; MAX_LEVEL];
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            rank[i] = if i == self.level - 1 { 0 } else { rank[i + 1] };
            loop {
                let l = self.lvl(x, i);
                if l.forward == NIL {
                    break;
                }
                self.prefetch_below(x, i);
                let f = self.node(l.forward);
                if !before(f.score, &f.member, score, &member) {
                    break;
                }
                rank[i] += l.span as usize;
                x = l.forward;
            }
            update[i] = x;
        }
        let height = self.random_level();
        if height > self.level {
            let len = self.len as u32;
            for i in self.level..height {
                rank[i] = 0;
                update[i] = HEAD;
                self.lvl_mut(HEAD, i).span = len;
            }
            self.level = height;
        }
        let x = self.alloc(member, score, height);
        for i in 0..height {
            let u = update[i];
            let ul = self.lvl(u, i);
            let crossed = (rank[0] - rank[i]) as u32;
            *self.lvl_mut(x, i) = Level {
                forward: ul.forward,
                span: ul.span - crossed,
            };
            *self.lvl_mut(u, i) = Level {
                forward: x,
                span: crossed + 1,
            };
        }
        for (i, &u) in update.iter().enumerate().take(self.level).skip(height) {
            self.lvl_mut(u, i).span += 1;
        }
        self.node_mut(x).backward = if update[0] == HEAD { NIL } else { update[0] };
        let f = self.node(x).levels[0].forward;
        if f == NIL {
            self.tail = x;
        } else {
            self.node_mut(f).backward = x;
        }
        self.len += 1;
        x
    }

    /// Last node at each level strictly before (score, member).
    fn find_update(&self, score: f64, member: &[u8]) -> [u32; MAX_LEVEL] {
        let mut update = [HEAD; MAX_LEVEL];
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let f = self.lvl(x, i).forward;
                if f == NIL {
                    break;
                }
                self.prefetch_below(x, i);
                let fnode = self.node(f);
                if !before(fnode.score, &fnode.member, score, member) {
                    break;
                }
                x = f;
            }
            update[i] = x;
        }
        update
    }

    /// `zslDeleteNode`: unlinks `x` (does not free it).
    fn unlink(&mut self, x: u32, update: &[u32; MAX_LEVEL]) {
        for (i, &u) in update.iter().enumerate().take(self.level) {
            let ul = self.lvl(u, i);
            if ul.forward == x {
                let xl = self.lvl(x, i);
                *self.lvl_mut(u, i) = Level {
                    forward: xl.forward,
                    span: ul.span + xl.span - 1,
                };
            } else {
                self.lvl_mut(u, i).span -= 1;
            }
        }
        let (f, b) = (self.node(x).levels[0].forward, self.node(x).backward);
        if f == NIL {
            self.tail = b;
        } else {
            self.node_mut(f).backward = b;
        }
        while self.level > 1 && self.lvl(HEAD, self.level - 1).forward == NIL {
            self.level -= 1;
        }
        self.len -= 1;
    }

    /// `zslDelete`: removes (score, member) and returns the member box.
    fn delete(&mut self, score: f64, member: &[u8]) -> Option<Box<[u8]>> {
        let update = self.find_update(score, member);
        let x = self.node(update[0]).levels[0].forward;
        if x != NIL && self.node(x).score == score && *self.node(x).member == *member {
            self.unlink(x, &update);
            Some(self.release(x).0)
        } else {
            None
        }
    }

    /// `zslUpdateScore`: in place when the order is preserved, otherwise
    /// unlink and re-insert (reusing the member allocation).
    fn update_score(&mut self, cur: f64, member: &[u8], new: f64) {
        let update = self.find_update(cur, member);
        let x = self.node(update[0]).levels[0].forward;
        debug_assert!(x != NIL && *self.node(x).member == *member);
        let n = self.node(x);
        let back_ok = n.backward == NIL || self.node(n.backward).score < new;
        let fwd_ok = n.levels[0].forward == NIL || self.node(n.levels[0].forward).score > new;
        if back_ok && fwd_ok {
            self.node_mut(x).score = new;
            return;
        }
        self.unlink(x, &update);
        let (m, _) = self.release(x);
        self.insert(new, m);
    }

    /// `zslGetRank`: 1-based rank of (score, member).
    fn get_rank(&self, score: f64, member: &[u8]) -> Option<usize> {
        let mut x = HEAD;
        let mut rank = 0usize;
        for i in (0..self.level).rev() {
            loop {
                let l = self.lvl(x, i);
                if l.forward == NIL {
                    break;
                }
                let f = self.node(l.forward);
                if !(f.score < score || (f.score == score && *f.member <= *member)) {
                    break;
                }
                rank += l.span as usize;
                x = l.forward;
            }
            // Score first: it shares the node's cache line, the bytes do not.
            if x != HEAD && self.node(x).score == score && *self.node(x).member == *member {
                return Some(rank);
            }
        }
        None
    }

    /// Node at 0-based `rank`, or NIL.
    fn node_at(&self, rank: usize) -> u32 {
        if rank >= self.len {
            return NIL;
        }
        if rank == 0 {
            return self.first();
        }
        if rank == self.len - 1 {
            return self.tail;
        }
        let target = rank + 1;
        let mut traversed = 0usize;
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let l = self.lvl(x, i);
                if l.forward == NIL || traversed + l.span as usize > target {
                    break;
                }
                traversed += l.span as usize;
                x = l.forward;
            }
            if traversed == target {
                return x;
            }
        }
        NIL
    }

    /// Top-down search advancing while `pred(next)` holds. Returns the
    /// number of nodes passed and the last one passed (HEAD if none). For a
    /// monotone predicate (true..true false..false) this is the length of
    /// the true prefix.
    fn rank_while(&self, mut pred: impl FnMut(&Node) -> bool) -> (usize, u32) {
        let mut x = HEAD;
        let mut rank = 0usize;
        for i in (0..self.level).rev() {
            loop {
                let l = self.lvl(x, i);
                if l.forward == NIL || !pred(self.node(l.forward)) {
                    break;
                }
                rank += l.span as usize;
                x = l.forward;
            }
        }
        (rank, x)
    }

    /// Deletes up to `max` consecutive nodes starting at 0-based rank `lo`,
    /// stopping at the first one failing `pred`. Each removed pair goes to
    /// `sink`. Returns the number removed.
    fn delete_from_rank_while(
        &mut self,
        lo: usize,
        max: usize,
        mut pred: impl FnMut(&Node) -> bool,
        mut sink: impl FnMut(Box<[u8]>, f64),
    ) -> usize {
        let mut update = [HEAD; MAX_LEVEL];
        let mut traversed = 0usize;
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let l = self.lvl(x, i);
                if l.forward == NIL || traversed + l.span as usize > lo {
                    break;
                }
                traversed += l.span as usize;
                x = l.forward;
            }
            update[i] = x;
        }
        let mut x = self.node(x).levels[0].forward;
        let mut removed = 0;
        while x != NIL && removed < max && pred(self.node(x)) {
            let next = self.node(x).levels[0].forward;
            self.unlink(x, &update);
            let (m, s) = self.release(x);
            sink(m, s);
            removed += 1;
            x = next;
        }
        removed
    }

    /// Builds a skiplist from pairs already in order, in O(n).
    fn from_sorted(items: impl ExactSizeIterator<Item = Entry>) -> SkipList {
        let mut sl = SkipList::with_capacity(items.len());
        let mut last = [HEAD; MAX_LEVEL];
        let mut last_rank = [0usize; MAX_LEVEL];
        let mut prev = NIL;
        let mut rank = 0usize;
        for (member, score) in items {
            rank += 1;
            let height = sl.random_level();
            sl.level = sl.level.max(height);
            let x = sl.alloc(member, score, height);
            sl.node_mut(x).backward = prev;
            for i in 0..height {
                let p = last[i];
                *sl.lvl_mut(p, i) = Level {
                    forward: x,
                    span: (rank - last_rank[i]) as u32,
                };
                last[i] = x;
                last_rank[i] = rank;
            }
            prev = x;
        }
        for i in 0..MAX_LEVEL {
            *sl.lvl_mut(last[i], i) = Level {
                forward: NIL,
                span: (rank - last_rank[i]) as u32,
            };
        }
        sl.tail = prev;
        sl.len = rank;
        sl
    }

    /// Drains all pairs in order, leaving an empty list.
    fn take_all(&mut self) -> Vec<Entry> {
        let mut out = Vec::with_capacity(self.len);
        let mut x = self.first();
        while x != NIL {
            let n = &mut self.nodes[x as usize];
            out.push((std::mem::take(&mut n.member), n.score));
            x = n.levels[0].forward;
        }
        *self = SkipList::with_capacity(0);
        out
    }

    /// Rebuilds the arena when mostly free slots, so memory follows the
    /// live size (amortised O(1) per deletion).
    fn maybe_compact(&mut self) {
        if self.nodes.len() >= 1024 && self.free.len() > 3 * (self.len + 1) {
            let items = self.take_all();
            *self = SkipList::from_sorted(items.into_iter());
        }
    }

    fn heap_bytes(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<Node>()
            + self.tall.capacity() * std::mem::size_of::<Box<[Level]>>()
            + (self.tall_levels + MAX_LEVEL - INLINE_LEVELS) * std::mem::size_of::<Level>()
            + self.tall_free.capacity() * std::mem::size_of::<u32>()
            + self.free.capacity() * std::mem::size_of::<u32>()
    }
}

// ---------------------------------------------------------------------------
// The sorted set
// ---------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct Large {
    list: SkipList,
    index: MemberIndex,
}

#[derive(Clone, Debug)]
enum Repr {
    /// Sorted by (score, member); lookups by member are linear, as in Redis.
    Listpack(Vec<Entry>),
    Skiplist(Box<Large>),
}

/// A sorted set. All ranks are 0-based; "reverse" ranks count from the
/// highest element.
#[derive(Clone, Debug)]
pub struct Zset {
    repr: Repr,
    /// Sum of member lengths (memory estimate and listpack safety limit).
    member_bytes: usize,
}

impl Default for Zset {
    fn default() -> Self {
        Zset::new()
    }
}

impl Zset {
    /// An empty listpack-encoded set (`createZsetListpackObject`). ZADD on a
    /// missing key should start here: the first insert converts at once when
    /// `max_listpack_entries == 0` or the member is too long, matching 7.0.
    pub fn new() -> Self {
        Zset {
            repr: Repr::Listpack(Vec::new()),
            member_bytes: 0,
        }
    }

    /// An empty skiplist-encoded set (`createZsetObject`).
    pub fn new_skiplist() -> Self {
        Zset {
            repr: Repr::Skiplist(Box::new(Large {
                list: SkipList::with_capacity(0),
                index: MemberIndex::default(),
            })),
            member_bytes: 0,
        }
    }

    /// `zsetTypeCreate(size_hint, value_len_hint)`: skiplist when the hints
    /// already exceed the limits, else listpack.
    pub fn with_hint(limits: &ZsetLimits, size_hint: usize, max_member_len: usize) -> Self {
        if size_hint <= limits.max_listpack_entries && max_member_len <= limits.max_listpack_value {
            Zset {
                repr: Repr::Listpack(Vec::with_capacity(size_hint)),
                member_bytes: 0,
            }
        } else {
            let mut z = Zset::new_skiplist();
            if let Repr::Skiplist(l) = &mut z.repr {
                l.index.reserve(size_hint);
            }
            z
        }
    }

    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Listpack(v) => v.len(),
            Repr::Skiplist(l) => l.list.len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// OBJECT ENCODING: `"listpack"` or `"skiplist"`.
    pub fn encoding_name(&self) -> &'static str {
        match &self.repr {
            Repr::Listpack(_) => "listpack",
            Repr::Skiplist(_) => "skiplist",
        }
    }

    pub fn is_listpack(&self) -> bool {
        matches!(self.repr, Repr::Listpack(_))
    }

    /// ZSCORE / ZMSCORE.
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match &self.repr {
            Repr::Listpack(v) => v.iter().find(|e| *e.0 == *member).map(|e| e.1),
            Repr::Skiplist(l) => l.index.get(member).copied(),
        }
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        self.score(member).is_some()
    }

    /// ZADD / ZINCRBY for one pair (`zsetAdd`). `score` is the parsed score
    /// or increment. Errors only with [`ZsetError::NanScore`] (NaN input or
    /// INCR producing NaN); the set is then unchanged. May convert the set
    /// to the skiplist encoding when adding a member.
    pub fn insert_or_update(
        &mut self,
        member: &[u8],
        score: f64,
        flags: ZaddFlags,
        limits: &ZsetLimits,
    ) -> Result<ZaddOutcome, ZsetError> {
        if score.is_nan() {
            return Err(ZsetError::NanScore);
        }
        // Large sets: one index lookup serves both the current score and its update.
        if let Repr::Skiplist(l) = &mut self.repr {
            if let Some(slot) = l.index.get_mut(member) {
                let cur = *slot;
                let Some(new) = updated_score(cur, score, flags)? else {
                    return Ok(ZaddOutcome::Skipped);
                };
                if new == cur {
                    return Ok(ZaddOutcome::Unchanged(new));
                }
                *slot = new;
                l.list.update_score(cur, member, new);
                return Ok(ZaddOutcome::Updated(new));
            }
        }
        let Some(cur) = self.score(member) else {
            if flags.xx {
                return Ok(ZaddOutcome::Skipped);
            }
            self.insert_new(member, score, limits);
            return Ok(ZaddOutcome::Added(score));
        };
        let Some(new) = updated_score(cur, score, flags)? else {
            return Ok(ZaddOutcome::Skipped);
        };
        if new == cur {
            return Ok(ZaddOutcome::Unchanged(new));
        }
        // Only listpacks get here: existing members of skiplist sets were updated above.
        if let Repr::Listpack(v) = &mut self.repr {
            if let Some(pos) = v.iter().position(|e| *e.0 == *member) {
                let mut e = v.remove(pos);
                e.1 = listpack_score(new);
                let at = v.partition_point(|x| before(x.1, &x.0, new, member));
                v.insert(at, e);
            }
        }
        Ok(ZaddOutcome::Updated(new))
    }

    fn insert_new(&mut self, member: &[u8], score: f64, limits: &ZsetLimits) {
        if let Repr::Listpack(v) = &mut self.repr {
            let lp_bytes = listpack_bytes_estimate(v.len(), self.member_bytes);
            if v.len() < limits.max_listpack_entries
                && member.len() <= limits.max_listpack_value
                && lp_bytes + member.len() <= LISTPACK_MAX_SAFETY_SIZE
            {
                let at = v.partition_point(|x| before(x.1, &x.0, score, member));
                v.insert(at, (member.into(), listpack_score(score)));
                self.member_bytes += member.len();
                return;
            }
            self.convert_to_skiplist();
        }
        if let Repr::Skiplist(l) = &mut self.repr {
            l.list.insert(score, member.into());
            l.index.insert(member.into(), score);
            self.member_bytes += member.len();
        }
    }

    /// ZREM of one member.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        let removed = match &mut self.repr {
            Repr::Listpack(v) => match v.iter().position(|e| *e.0 == *member) {
                Some(pos) => {
                    v.remove(pos);
                    true
                }
                None => false,
            },
            Repr::Skiplist(l) => match l.index.remove(member) {
                Some(score) => {
                    l.list
                        .delete(score, member)
                        .expect("index and skiplist agree");
                    true
                }
                None => false,
            },
        };
        if removed {
            self.member_bytes -= member.len();
            self.after_removal();
        }
        removed
    }

    fn after_removal(&mut self) {
        if let Repr::Skiplist(l) = &mut self.repr {
            l.list.maybe_compact();
            let len = l.index.len();
            if l.index.capacity() > 1024 && l.index.capacity() > 8 * len {
                l.index.shrink_to(len * 2);
            }
        }
    }

    /// ZRANK / ZREVRANK (0-based).
    pub fn rank(&self, member: &[u8], reverse: bool) -> Option<usize> {
        let r = match &self.repr {
            Repr::Listpack(v) => v.iter().position(|e| *e.0 == *member)?,
            Repr::Skiplist(l) => {
                let score = *l.index.get(member)?;
                l.list
                    .get_rank(score, member)
                    .expect("index and skiplist agree")
                    - 1
            }
        };
        Some(if reverse { self.len() - 1 - r } else { r })
    }

    /// Element at 0-based ascending `rank` (O(1) listpack, O(log n)
    /// skiplist); used by ZRANDMEMBER.
    pub fn get_by_rank(&self, rank: usize) -> Option<(&[u8], f64)> {
        match &self.repr {
            Repr::Listpack(v) => v.get(rank).map(|e| (&*e.0, e.1)),
            Repr::Skiplist(l) => {
                let x = l.list.node_at(rank);
                (x != NIL).then(|| {
                    let n = l.list.node(x);
                    (&*n.member, n.score)
                })
            }
        }
    }

    /// Lowest element.
    pub fn first(&self) -> Option<(&[u8], f64)> {
        self.get_by_rank(0)
    }

    /// Highest element.
    pub fn last(&self) -> Option<(&[u8], f64)> {
        self.len().checked_sub(1).and_then(|r| self.get_by_rank(r))
    }

    /// All elements in ascending order (`.rev()` for descending).
    pub fn iter(&self) -> Iter<'_> {
        self.iter_ranks(0, self.len(), false)
    }

    /// Ascending ranks `lo..hi` (clamped), yielded descending if `reverse`.
    fn iter_ranks(&self, lo: usize, hi: usize, reverse: bool) -> Iter<'_> {
        let hi = hi.min(self.len());
        let lo = lo.min(hi);
        let inner = match &self.repr {
            Repr::Listpack(v) => IterInner::Listpack(v[lo..hi].iter()),
            Repr::Skiplist(l) => {
                let (front, back) = if lo == hi {
                    (NIL, NIL)
                } else {
                    (l.list.node_at(lo), l.list.node_at(hi - 1))
                };
                IterInner::Skiplist {
                    list: &l.list,
                    front,
                    back,
                }
            }
        };
        Iter {
            inner,
            remaining: hi - lo,
            reverse,
        }
    }

    /// ZRANGE by rank: `start..=end` as already normalised by
    /// [`normalize_rank_range`] (out-of-range input yields fewer items).
    /// With `reverse`, ranks count from the highest element and the items
    /// come out highest first (ZREVRANGE).
    pub fn range_by_rank(&self, start: usize, end: usize, reverse: bool) -> Iter<'_> {
        let len = self.len();
        if start > end || start >= len {
            return self.iter_ranks(0, 0, reverse);
        }
        let end = end.min(len - 1);
        if reverse {
            self.iter_ranks(len - 1 - end, len - start, true)
        } else {
            self.iter_ranks(start, end + 1, false)
        }
    }

    /// ZRANGEBYSCORE / ZREVRANGEBYSCORE / ZRANGE BYSCORE [REV] [LIMIT].
    /// `range` is (min, max) in both directions.
    pub fn range_by_score(
        &self,
        range: &ScoreRange,
        limit: Limit,
        reverse: bool,
    ) -> Vec<(&[u8], f64)> {
        self.range_spec(Spec::Score(range), limit, reverse)
    }

    /// ZRANGEBYLEX / ZREVRANGEBYLEX / ZRANGE BYLEX [REV] [LIMIT].
    /// Meaningful when all scores are equal (Redis' caveat applies).
    pub fn range_by_lex(&self, range: &LexRange, limit: Limit, reverse: bool) -> Vec<(&[u8], f64)> {
        self.range_spec(Spec::Lex(range), limit, reverse)
    }

    /// ZCOUNT, O(log n) for the skiplist.
    pub fn count_in_score_range(&self, range: &ScoreRange) -> usize {
        self.count_spec(Spec::Score(range))
    }

    /// ZLEXCOUNT, O(log n) for the skiplist.
    pub fn count_in_lex_range(&self, range: &LexRange) -> usize {
        self.count_spec(Spec::Lex(range))
    }

    /// ZREMRANGEBYRANK: `start..=end` as normalised by
    /// [`normalize_rank_range`]. Returns the number removed.
    pub fn remove_range_by_rank(&mut self, start: usize, end: usize) -> usize {
        let len = self.len();
        if start > end || start >= len {
            return 0;
        }
        let n = end.min(len - 1) - start + 1;
        let removed = self.remove_ranks(start, n, |_, _| {});
        self.after_removal();
        removed
    }

    /// ZREMRANGEBYSCORE. Returns the number removed.
    pub fn remove_range_by_score(&mut self, range: &ScoreRange) -> usize {
        self.remove_spec(Spec::Score(range))
    }

    /// ZREMRANGEBYLEX. Returns the number removed.
    pub fn remove_range_by_lex(&mut self, range: &LexRange) -> usize {
        self.remove_spec(Spec::Lex(range))
    }

    /// ZPOPMIN / BZPOPMIN / ZMPOP MIN: up to `count` lowest, lowest first.
    pub fn pop_min(&mut self, count: usize) -> Vec<(Box<[u8]>, f64)> {
        let n = count.min(self.len());
        let mut out = Vec::with_capacity(n);
        self.remove_ranks(0, n, |m, s| out.push((m, s)));
        self.after_removal();
        out
    }

    /// ZPOPMAX / BZPOPMAX / ZMPOP MAX: up to `count` highest, highest first.
    pub fn pop_max(&mut self, count: usize) -> Vec<(Box<[u8]>, f64)> {
        let n = count.min(self.len());
        let mut out = Vec::with_capacity(n);
        let lo = self.len() - n;
        self.remove_ranks(lo, n, |m, s| out.push((m, s)));
        out.reverse();
        self.after_removal();
        out
    }

    /// ZSCAN step. `count` is the COUNT hint (Redis default 10). Returns the
    /// next cursor; 0 means the iteration is complete.
    ///
    /// * listpack: every element in one call, cursor 0 (as Redis does).
    /// * skiplist: the cursor is an order-preserving 64-bit key of a score;
    ///   a call emits, in score order, all elements whose score key is >=
    ///   `cursor`: at least `count` of them, and then the rest of the last
    ///   equal-score run (so one call can return many more than `count` when
    ///   many members share a score). Guarantee: an element present from the
    ///   start to the end of a full iteration *whose score does not change*
    ///   is returned at least once; elements added, removed or re-scored
    ///   meanwhile may be returned zero, one or more times. Any cursor value
    ///   is accepted. (Redis' own guarantee also covers re-scored elements;
    ///   it can be had by switching to the engine Dict's bucket cursor once
    ///   `MemberIndex` becomes that Dict.)
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&[u8], f64)) -> u64 {
        match &self.repr {
            Repr::Listpack(v) => {
                for (m, s) in v {
                    f(m, *s);
                }
                0
            }
            Repr::Skiplist(l) => {
                let list = &l.list;
                let mut x = if cursor == 0 {
                    list.first()
                } else {
                    let (_, last) = list.rank_while(|n| score_key(n.score) < cursor);
                    list.node(last).levels[0].forward
                };
                let count = count.max(1);
                let mut emitted = 0usize;
                let mut last_key = 0u64;
                while x != NIL {
                    let n = list.node(x);
                    let key = score_key(n.score);
                    if emitted >= count && key != last_key {
                        return key;
                    }
                    f(&n.member, n.score);
                    emitted += 1;
                    last_key = key;
                    x = n.levels[0].forward;
                }
                0
            }
        }
    }

    /// Approximate heap + inline bytes used by this set (for MEMORY USAGE
    /// and maxmemory accounting).
    pub fn approx_bytes(&self) -> usize {
        let base = std::mem::size_of::<Zset>();
        match &self.repr {
            Repr::Listpack(v) => {
                base + v.capacity() * std::mem::size_of::<Entry>() + self.member_bytes
            }
            Repr::Skiplist(l) => {
                base + std::mem::size_of::<Large>()
                    + l.list.heap_bytes()
                    + l.index.capacity() * (std::mem::size_of::<Entry>() + 1)
                    + 2 * self.member_bytes
            }
        }
    }

    /// `zsetConvert(.., SKIPLIST)`; no-op if already a skiplist.
    pub fn convert_to_skiplist(&mut self) {
        if let Repr::Listpack(v) = &mut self.repr {
            let entries = std::mem::take(v);
            let mut index =
                MemberIndex::with_capacity_and_hasher(entries.len(), Default::default());
            for (m, s) in &entries {
                index.insert(Key::new(m), *s);
            }
            let list = SkipList::from_sorted(entries.into_iter());
            self.repr = Repr::Skiplist(Box::new(Large { list, index }));
        }
    }

    /// `zsetConvertToListpackIfNeeded`: back to listpack when the length and
    /// every member fit the limits (ZUNIONSTORE & co. on their result, RDB
    /// load, DEBUG RELOAD). Returns true if the set is listpack afterwards.
    pub fn convert_to_listpack_if_fits(&mut self, limits: &ZsetLimits) -> bool {
        let Repr::Skiplist(l) = &mut self.repr else {
            return true;
        };
        if l.list.len > limits.max_listpack_entries || self.member_bytes > LISTPACK_MAX_SAFETY_SIZE
        {
            return false;
        }
        let mut x = l.list.first();
        while x != NIL {
            let n = l.list.node(x);
            if n.member.len() > limits.max_listpack_value {
                return false;
            }
            x = n.levels[0].forward;
        }
        let mut entries = l.list.take_all();
        for e in &mut entries {
            e.1 = listpack_score(e.1);
        }
        self.repr = Repr::Listpack(entries);
        true
    }

    // -- shared range machinery ------------------------------------------

    /// Element at ascending rank (must exist).
    fn at(&self, rank: usize) -> (&[u8], f64) {
        self.get_by_rank(rank).expect("rank in bounds")
    }

    /// `zzlIsInRange` / `zslIsInRange` (and the lex twins).
    fn may_intersect(&self, spec: Spec<'_>) -> bool {
        let len = self.len();
        if len == 0 || spec.is_trivially_empty() {
            return false;
        }
        let (tm, ts) = self.at(len - 1);
        let (hm, hs) = self.at(0);
        spec.gte_min(tm, ts) && spec.lte_max(hm, hs)
    }

    /// `*FirstInRange`: rank of the first element in range.
    fn first_in_range(&self, spec: Spec<'_>) -> Option<usize> {
        if !self.may_intersect(spec) {
            return None;
        }
        let lo = match (&self.repr, spec) {
            (Repr::Listpack(v), Spec::Score(r)) => v.partition_point(|e| !r.gte_min(e.1)),
            (Repr::Listpack(v), Spec::Lex(r)) => {
                v.iter().position(|e| r.gte_min(&e.0)).unwrap_or(v.len())
            }
            (Repr::Skiplist(l), _) => l.list.rank_while(|n| !spec.gte_min(&n.member, n.score)).0,
        };
        let (m, s) = self.get_by_rank(lo)?;
        spec.lte_max(m, s).then_some(lo)
    }

    /// `*LastInRange`: rank of the last element in range.
    fn last_in_range(&self, spec: Spec<'_>) -> Option<usize> {
        if !self.may_intersect(spec) {
            return None;
        }
        let hi = match (&self.repr, spec) {
            (Repr::Listpack(v), Spec::Score(r)) => v.partition_point(|e| r.lte_max(e.1)),
            (Repr::Listpack(v), Spec::Lex(r)) => {
                v.iter().rposition(|e| r.lte_max(&e.0)).map_or(0, |i| i + 1)
            }
            (Repr::Skiplist(l), _) => l.list.rank_while(|n| spec.lte_max(&n.member, n.score)).0,
        };
        let last = hi.checked_sub(1)?;
        let (m, s) = self.at(last);
        spec.gte_min(m, s).then_some(last)
    }

    /// `genericZrangebyscoreCommand` / `genericZrangebylexCommand`: start at
    /// the first (last if reverse) element in range, skip `offset` without
    /// checking, then emit while in range, at most `count`.
    fn range_spec(&self, spec: Spec<'_>, limit: Limit, reverse: bool) -> Vec<(&[u8], f64)> {
        let len = self.len();
        let take = limit.count.unwrap_or(usize::MAX);
        if take == 0 || (limit.offset > 0 && limit.offset >= len) {
            return Vec::new();
        }
        if reverse {
            let Some(pos) = self
                .last_in_range(spec)
                .and_then(|l| l.checked_sub(limit.offset))
            else {
                return Vec::new();
            };
            self.iter_ranks(0, pos + 1, true)
                .take_while(|&(m, s)| spec.gte_min(m, s))
                .take(take)
                .collect()
        } else {
            let Some(pos) = self.first_in_range(spec).map(|f| f + limit.offset) else {
                return Vec::new();
            };
            self.iter_ranks(pos, len, false)
                .take_while(|&(m, s)| spec.lte_max(m, s))
                .take(take)
                .collect()
        }
    }

    /// ZCOUNT / ZLEXCOUNT: a walk for listpack, rank arithmetic for skiplist.
    fn count_spec(&self, spec: Spec<'_>) -> usize {
        let Some(first) = self.first_in_range(spec) else {
            return 0;
        };
        match &self.repr {
            Repr::Listpack(v) => v[first..]
                .iter()
                .take_while(|e| spec.lte_max(&e.0, e.1))
                .count(),
            Repr::Skiplist(l) => match self.last_in_range(spec) {
                Some(last) => (last + 1).saturating_sub(first),
                None => l.list.len - first,
            },
        }
    }

    /// ZREMRANGEBYSCORE / ZREMRANGEBYLEX.
    fn remove_spec(&mut self, spec: Spec<'_>) -> usize {
        let start = match &self.repr {
            Repr::Listpack(_) => self.first_in_range(spec),
            // zslDeleteRangeBy*: no "is in range" prologue.
            Repr::Skiplist(l) => Some(l.list.rank_while(|n| !spec.gte_min(&n.member, n.score)).0),
        };
        let removed = match start {
            Some(lo) => self.remove_ranks_while(lo, usize::MAX, spec),
            None => 0,
        };
        if removed > 0 {
            self.after_removal();
        }
        removed
    }

    fn remove_ranks_while(&mut self, lo: usize, max: usize, spec: Spec<'_>) -> usize {
        self.remove_generic(lo, max, |m, s| spec.lte_max(m, s), |_, _| {})
    }

    /// Removes `n` elements from ascending rank `lo`.
    fn remove_ranks(&mut self, lo: usize, n: usize, sink: impl FnMut(Box<[u8]>, f64)) -> usize {
        self.remove_generic(lo, n, |_, _| true, sink)
    }

    fn remove_generic(
        &mut self,
        lo: usize,
        max: usize,
        mut pred: impl FnMut(&[u8], f64) -> bool,
        mut sink: impl FnMut(Box<[u8]>, f64),
    ) -> usize {
        let Zset { repr, member_bytes } = self;
        match repr {
            Repr::Listpack(v) => {
                let lo = lo.min(v.len());
                let n = v[lo..]
                    .iter()
                    .take(max)
                    .take_while(|e| pred(&e.0, e.1))
                    .count();
                for (m, s) in v.drain(lo..lo + n) {
                    *member_bytes -= m.len();
                    sink(m, s);
                }
                n
            }
            Repr::Skiplist(l) => {
                let Large { list, index } = &mut **l;
                list.delete_from_rank_while(
                    lo,
                    max,
                    |n| pred(&n.member, n.score),
                    |m, s| {
                        index.remove(&m[..]);
                        *member_bytes -= m.len();
                        sink(m, s);
                    },
                )
            }
        }
    }
}

/// A score as the listpack keeps it. Redis 7.0 stores listpack scores as text written by
/// `d2string`, whose integer fast path turns `-0` into `"0"`; every other double round-trips
/// exactly. (The skiplist keeps `-0`.)
fn listpack_score(score: f64) -> f64 {
    if score == 0.0 {
        0.0
    } else {
        score
    }
}

/// Rough `lpBytes` of a listpack with `len` pairs: header, per-entry
/// headers/backlens and scores (<= ~16 bytes), plus the member bytes. Only
/// used against the 1 GiB safety limit.
fn listpack_bytes_estimate(len: usize, member_bytes: usize) -> usize {
    7 + len * 16 + member_bytes
}

// ---------------------------------------------------------------------------
// Iterator
// ---------------------------------------------------------------------------

/// Iterator over `(member, score)` pairs; double-ended and exact-size.
pub struct Iter<'a> {
    inner: IterInner<'a>,
    remaining: usize,
    reverse: bool,
}

enum IterInner<'a> {
    Listpack(std::slice::Iter<'a, Entry>),
    Skiplist {
        list: &'a SkipList,
        front: u32,
        back: u32,
    },
}

impl<'a> Iter<'a> {
    fn pull_front(&mut self) -> Option<(&'a [u8], f64)> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        match &mut self.inner {
            IterInner::Listpack(it) => it.next().map(|e| (&*e.0, e.1)),
            IterInner::Skiplist { list, front, .. } => {
                let list: &'a SkipList = list;
                let n = list.node(*front);
                *front = n.levels[0].forward;
                Some((&n.member, n.score))
            }
        }
    }

    fn pull_back(&mut self) -> Option<(&'a [u8], f64)> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        match &mut self.inner {
            IterInner::Listpack(it) => it.next_back().map(|e| (&*e.0, e.1)),
            IterInner::Skiplist { list, back, .. } => {
                let list: &'a SkipList = list;
                let n = list.node(*back);
                *back = n.backward;
                Some((&n.member, n.score))
            }
        }
    }
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], f64);

    fn next(&mut self) -> Option<Self::Item> {
        if self.reverse {
            self.pull_back()
        } else {
            self.pull_front()
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.reverse {
            self.pull_front()
        } else {
            self.pull_back()
        }
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl FusedIterator for Iter<'_> {}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

/// The score an existing member gets from ZADD with `flags` (`None`: the flags skip it).
fn updated_score(cur: f64, score: f64, flags: ZaddFlags) -> Result<Option<f64>, ZsetError> {
    if flags.nx {
        return Ok(None);
    }
    let mut new = score;
    if flags.incr {
        new += cur;
        if new.is_nan() {
            return Err(ZsetError::NanScore);
        }
    }
    if (flags.lt && new >= cur) || (flags.gt && new <= cur) {
        return Ok(None);
    }
    Ok(Some(new))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::{BTreeSet, HashMap as StdMap, HashSet};

    // -- helpers -----------------------------------------------------------

    impl Zset {
        /// Structural checks: order, both iteration directions, byte
        /// accounting, and for the skiplist: links, spans, index, arena.
        fn check_invariants(&self) {
            let items: Vec<(Vec<u8>, f64)> = self.iter().map(|(m, s)| (m.to_vec(), s)).collect();
            assert_eq!(items.len(), self.len());
            for w in items.windows(2) {
                assert!(
                    before(w[0].1, &w[0].0, w[1].1, &w[1].0),
                    "order broken: {w:?}"
                );
            }
            let mut rev: Vec<(Vec<u8>, f64)> =
                self.iter().rev().map(|(m, s)| (m.to_vec(), s)).collect();
            rev.reverse();
            assert_eq!(bits(&rev), bits(&items));
            assert_eq!(
                self.member_bytes,
                items.iter().map(|e| e.0.len()).sum::<usize>()
            );
            if let Repr::Skiplist(l) = &self.repr {
                let sl = &l.list;
                assert_eq!(l.index.len(), sl.len);
                for (m, s) in &items {
                    assert_eq!(l.index.get(&m[..]).map(|v| v.to_bits()), Some(s.to_bits()));
                }
                assert_eq!(sl.nodes.len(), sl.len + 1 + sl.free.len());
                let mut rank_of = vec![usize::MAX; sl.nodes.len()];
                let mut x = sl.first();
                let mut prev = NIL;
                let mut r = 0usize;
                let mut upper = 0usize;
                let mut talls = 0usize;
                while x != NIL {
                    r += 1;
                    rank_of[x as usize] = r;
                    let n = sl.node(x);
                    let h = n.height as usize;
                    assert_eq!(n.backward, prev);
                    assert!(h >= 1 && h <= sl.level);
                    assert_eq!(n.tall != NIL, h > INLINE_LEVELS);
                    if n.tall != NIL {
                        assert_eq!(sl.tall[n.tall as usize].len(), h - INLINE_LEVELS);
                        talls += 1;
                    }
                    upper += h.saturating_sub(INLINE_LEVELS);
                    prev = x;
                    x = n.levels[0].forward;
                }
                assert_eq!(sl.tail, prev);
                assert_eq!(upper, sl.tall_levels);
                assert_eq!(sl.tall.len(), talls + 1 + sl.tall_free.len());
                assert!(sl.level >= 1 && sl.level <= MAX_LEVEL);
                if sl.level > 1 {
                    assert_ne!(sl.lvl(HEAD, sl.level - 1).forward, NIL);
                }
                for i in 0..sl.level {
                    let mut x = HEAD;
                    let mut r = 0usize;
                    loop {
                        let lv = sl.lvl(x, i);
                        if lv.forward == NIL {
                            assert_eq!(lv.span as usize, sl.len - r, "tail span level {i}");
                            break;
                        }
                        let fr = rank_of[lv.forward as usize];
                        assert_eq!(lv.span as usize, fr - r, "span level {i}");
                        x = lv.forward;
                        r = fr;
                    }
                }
            }
        }

        fn items(&self) -> Vec<(Vec<u8>, u64)> {
            self.iter()
                .map(|(m, s)| (m.to_vec(), s.to_bits()))
                .collect()
        }
    }

    fn bits(v: &[(Vec<u8>, f64)]) -> Vec<(Vec<u8>, u64)> {
        v.iter().map(|(m, s)| (m.clone(), s.to_bits())).collect()
    }

    fn owned(v: Vec<(&[u8], f64)>) -> Vec<(Vec<u8>, u64)> {
        v.into_iter()
            .map(|(m, s)| (m.to_vec(), s.to_bits()))
            .collect()
    }

    fn add(z: &mut Zset, m: &str, s: f64) -> ZaddOutcome {
        z.insert_or_update(
            m.as_bytes(),
            s,
            ZaddFlags::default(),
            &ZsetLimits::default(),
        )
        .unwrap()
    }

    fn names(v: Vec<(&[u8], f64)>) -> Vec<String> {
        v.into_iter()
            .map(|(m, _)| String::from_utf8_lossy(m).into_owned())
            .collect()
    }

    fn sr(min: &str, max: &str) -> ScoreRange {
        ScoreRange::parse(min.as_bytes(), max.as_bytes()).unwrap()
    }

    fn lr(min: &str, max: &str) -> LexRange {
        LexRange::parse(min.as_bytes(), max.as_bytes()).unwrap()
    }

    /// The same small set in both encodings.
    fn both(pairs: &[(f64, &str)]) -> [Zset; 2] {
        let mut a = Zset::new();
        for &(s, m) in pairs {
            add(&mut a, m, s);
        }
        assert!(a.is_listpack());
        let mut b = a.clone();
        b.convert_to_skiplist();
        assert_eq!(b.encoding_name(), "skiplist");
        b.check_invariants();
        [a, b]
    }

    fn lim(offset: usize, count: usize) -> Limit {
        Limit {
            offset,
            count: Some(count),
        }
    }

    // -- parsing -----------------------------------------------------------

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

    #[test]
    fn score_parsing_like_string2d() {
        let some = |s: &str, v: f64| {
            assert_eq!(
                parse_score(s.as_bytes()).map(f64::to_bits),
                Some(v.to_bits()),
                "{s:?}"
            );
        };
        some("1", 1.0);
        some("-1.5", -1.5);
        some("+2", 2.0);
        some("inf", f64::INFINITY);
        some("-inf", f64::NEG_INFINITY);
        some("+inf", f64::INFINITY);
        some("1e308", 1e308);
        some("4e-320", 4e-320);
        some("0e-400", 0.0);
        some("-0", -0.0);
        some("0x1p-1074", f64::from_bits(1));
        some("0x1.8p1", 3.0);
        some("0X.8", 0.5);
        some("0x1.fffffffffffffp1023", f64::MAX);
        some("0x1.00000000000008p0", 1.0); // tie -> even
        some("0x1.00000000000018p0", 1.0 + 2f64.powi(-51)); // tie -> even (up)
        some("0x1.0000000000000800000000001p0", 1.0 + 2f64.powi(-52)); // above tie
        some("0x123456789abcdef0123", 0x123456789abcdef0123u128 as f64);
        some("0x0.0000000000000000000000001p0", 2f64.powi(-100));
        some("0x1.8p-1074", f64::from_bits(2)); // tie -> even (up)
        some("0x1.0000001p-1075", f64::from_bits(1)); // above half of the minimum
        for bad in [
            "",
            " 1",
            "1 ",
            "1e400",
            "-1e400",
            "1e-400",
            "nan",
            "abc",
            "1\0",
            "0x1p1024",
            "0x1.fffffffffffff8p1023",
            "0x1p-1075",
            "0x1p-1076",
            "0x",
            "(1",
        ] {
            assert_eq!(parse_score(bad.as_bytes()), None, "{bad:?}");
        }
    }

    #[test]
    fn limit_and_rank_normalisation() {
        assert_eq!(Limit::from_redis(-1, 5), None);
        assert_eq!(Limit::from_redis(0, -1), Some(Limit::ALL));
        assert_eq!(Limit::from_redis(2, 3), Some(lim(2, 3)));
        assert_eq!(normalize_rank_range(0, -1, 5), Some((0, 4)));
        assert_eq!(normalize_rank_range(-100, 100, 5), Some((0, 4)));
        assert_eq!(normalize_rank_range(-2, -1, 5), Some((3, 4)));
        assert_eq!(normalize_rank_range(3, 1, 5), None);
        assert_eq!(normalize_rank_range(5, 10, 5), None);
        assert_eq!(normalize_rank_range(0, -6, 5), None);
        assert_eq!(normalize_rank_range(0, -1, 0), None);
        assert_eq!(normalize_rank_range(i64::MIN, i64::MAX, 3), Some((0, 2)));
    }

    // -- ZADD semantics ----------------------------------------------------

    #[test]
    fn zadd_flags() {
        let l = ZsetLimits::default();
        let f = |nx, xx, gt, lt, incr| ZaddFlags {
            nx,
            xx,
            gt,
            lt,
            incr,
        };
        for enc in 0..2 {
            let mut z = Zset::new();
            if enc == 1 {
                z.convert_to_skiplist();
            }
            let mut go =
                |m: &str, s: f64, fl: ZaddFlags| z.insert_or_update(m.as_bytes(), s, fl, &l);
            assert_eq!(
                go("a", 1.0, f(false, true, false, false, false)),
                Ok(ZaddOutcome::Skipped)
            );
            assert_eq!(
                go("a", 1.0, f(true, false, false, false, false)),
                Ok(ZaddOutcome::Added(1.0))
            );
            assert_eq!(
                go("a", 5.0, f(true, false, false, false, false)),
                Ok(ZaddOutcome::Skipped)
            );
            assert_eq!(
                go("a", 5.0, f(true, false, false, false, true)),
                Ok(ZaddOutcome::Skipped)
            );
            assert_eq!(
                go("a", 1.0, f(false, false, false, false, false)),
                Ok(ZaddOutcome::Unchanged(1.0))
            );
            assert_eq!(
                go("a", 0.5, f(false, false, true, false, false)),
                Ok(ZaddOutcome::Skipped)
            );
            assert_eq!(
                go("a", 1.0, f(false, false, true, false, false)),
                Ok(ZaddOutcome::Skipped)
            );
            assert_eq!(
                go("a", 2.0, f(false, false, true, false, false)),
                Ok(ZaddOutcome::Updated(2.0))
            );
            assert_eq!(
                go("a", 3.0, f(false, false, false, true, false)),
                Ok(ZaddOutcome::Skipped)
            );
            assert_eq!(
                go("a", 2.0, f(false, false, false, true, false)),
                Ok(ZaddOutcome::Skipped)
            );
            assert_eq!(
                go("a", 1.5, f(false, true, false, true, false)),
                Ok(ZaddOutcome::Updated(1.5))
            );
            // GT/LT never prevent adding a new member.
            assert_eq!(
                go("b", 9.0, f(false, false, false, true, false)),
                Ok(ZaddOutcome::Added(9.0))
            );
            assert_eq!(
                go("c", -9.0, f(false, false, true, false, false)),
                Ok(ZaddOutcome::Added(-9.0))
            );
            // INCR
            assert_eq!(
                go("a", 2.0, f(false, false, false, false, true)),
                Ok(ZaddOutcome::Updated(3.5))
            );
            assert_eq!(
                go("a", -1.0, f(false, false, true, false, true)),
                Ok(ZaddOutcome::Skipped)
            );
            assert_eq!(
                go("a", 0.0, f(false, false, false, false, true)),
                Ok(ZaddOutcome::Unchanged(3.5))
            );
            assert_eq!(
                go("d", 4.0, f(false, false, false, false, true)),
                Ok(ZaddOutcome::Added(4.0))
            );
            assert_eq!(
                go("d", 4.0, f(false, true, false, false, true)),
                Ok(ZaddOutcome::Updated(8.0))
            );
            // NaN
            assert_eq!(
                go("e", f64::INFINITY, f(false, false, false, false, false)),
                Ok(ZaddOutcome::Added(f64::INFINITY))
            );
            assert_eq!(
                go("e", f64::NEG_INFINITY, f(false, false, false, false, true)),
                Err(ZsetError::NanScore)
            );
            assert_eq!(
                go("e", f64::NAN, f(false, false, false, false, false)),
                Err(ZsetError::NanScore)
            );
            assert_eq!(
                go("zz", f64::NAN, f(false, false, false, false, true)),
                Err(ZsetError::NanScore)
            );
            assert_eq!(z.score(b"e"), Some(f64::INFINITY));
            assert_eq!(z.score(b"zz"), None);
            // -0 == 0: unchanged, stored sign kept (a listpack never stores -0, as in Redis).
            let mut go =
                |m: &str, s: f64, fl: ZaddFlags| z.insert_or_update(m.as_bytes(), s, fl, &l);
            assert_eq!(
                go("n", -0.0, ZaddFlags::default()),
                Ok(ZaddOutcome::Added(-0.0))
            );
            assert_eq!(
                go("n", 0.0, ZaddFlags::default()),
                Ok(ZaddOutcome::Unchanged(0.0))
            );
            let stored_zero = if enc == 0 { 0.0f64 } else { -0.0f64 };
            assert_eq!(z.score(b"n").map(f64::to_bits), Some(stored_zero.to_bits()));
            assert_eq!(
                ZsetError::NanScore.message(),
                "ERR resulting score is not a number (NaN)"
            );
            assert!(ZaddOutcome::Added(1.0).is_changed() && ZaddOutcome::Updated(1.0).is_changed());
            assert!(
                !ZaddOutcome::Unchanged(1.0).is_changed() && ZaddOutcome::Skipped.score().is_none()
            );
            z.check_invariants();
            assert_eq!(
                z.encoding_name(),
                if enc == 0 { "listpack" } else { "skiplist" }
            );
        }
    }

    // -- encodings ---------------------------------------------------------

    #[test]
    fn conversion_thresholds() {
        let l = ZsetLimits::default();
        let mut z = Zset::new();
        for i in 0..128 {
            add(&mut z, &format!("m{i:03}"), i as f64);
        }
        assert_eq!(z.encoding_name(), "listpack");
        // Updates at the limit do not convert.
        add(&mut z, "m000", 1000.0);
        assert_eq!(z.encoding_name(), "listpack");
        add(&mut z, "m128", 5.0);
        assert_eq!(z.encoding_name(), "skiplist");
        z.check_invariants();
        // Never converts back on shrink...
        z.remove_range_by_rank(0, 120);
        assert_eq!(z.len(), 8);
        assert_eq!(z.encoding_name(), "skiplist");
        // ...unless asked.
        assert!(z.convert_to_listpack_if_fits(&l));
        assert_eq!(z.encoding_name(), "listpack");
        z.check_invariants();

        // Member length.
        let mut z = Zset::new();
        add(&mut z, &"x".repeat(64), 1.0);
        assert!(z.is_listpack());
        add(&mut z, &"y".repeat(65), 1.0);
        assert!(!z.is_listpack());
        assert!(!z.convert_to_listpack_if_fits(&l));
        z.remove(&[b'y'; 65]);
        assert!(z.convert_to_listpack_if_fits(&l));

        // Zero entries: skiplist from the first insert.
        let zero = ZsetLimits {
            max_listpack_entries: 0,
            max_listpack_value: 64,
        };
        let mut z = Zset::new();
        z.insert_or_update(b"a", 1.0, ZaddFlags::default(), &zero)
            .unwrap();
        assert_eq!(z.encoding_name(), "skiplist");
        assert!(!z.convert_to_listpack_if_fits(&zero));

        assert!(Zset::with_hint(&l, 128, 64).is_listpack());
        assert!(!Zset::with_hint(&l, 129, 1).is_listpack());
        assert!(!Zset::with_hint(&l, 1, 65).is_listpack());
        assert!(!Zset::new_skiplist().is_listpack());
    }

    #[test]
    fn memory_estimate_tracks_size() {
        let mut z = Zset::new();
        let empty = z.approx_bytes();
        for i in 0..100 {
            add(&mut z, &format!("member-{i}"), i as f64);
        }
        let small = z.approx_bytes();
        assert!(small > empty + 100 * 8);
        for i in 100..5000 {
            add(&mut z, &format!("member-{i}"), i as f64);
        }
        let big = z.approx_bytes();
        assert!(big > small * 10);
        z.pop_min(4990);
        z.check_invariants();
        assert!(z.approx_bytes() < big / 4, "compaction after mass delete");
    }

    // -- ranges ------------------------------------------------------------

    const DATA: &[(f64, &str)] = &[
        (2.0, "d"),
        (1.0, "b"),
        (f64::INFINITY, "pinf"),
        (1.0, "a"),
        (2.0, "c"),
        (3.0, "e"),
        (f64::NEG_INFINITY, "ninf"),
        (1.0, "ab"),
    ];

    #[test]
    fn order_and_ranks() {
        for z in both(DATA) {
            let all: Vec<String> = z
                .iter()
                .map(|(m, _)| String::from_utf8_lossy(m).into_owned())
                .collect();
            assert_eq!(all, ["ninf", "a", "ab", "b", "c", "d", "e", "pinf"]);
            assert_eq!(z.rank(b"ninf", false), Some(0));
            assert_eq!(z.rank(b"ab", false), Some(2));
            assert_eq!(z.rank(b"ab", true), Some(5));
            assert_eq!(z.rank(b"pinf", true), Some(0));
            assert_eq!(z.rank(b"zz", false), None);
            assert_eq!(z.get_by_rank(3), Some((&b"b"[..], 1.0)));
            assert_eq!(z.get_by_rank(8), None);
            assert_eq!(z.first().unwrap().0, b"ninf");
            assert_eq!(z.last().unwrap().0, b"pinf");
            assert_eq!(
                names(z.range_by_rank(1, 3, false).collect()),
                ["a", "ab", "b"]
            );
            assert_eq!(names(z.range_by_rank(0, 1, true).collect()), ["pinf", "e"]);
            assert_eq!(
                names(z.range_by_rank(6, 100, true).collect()),
                ["a", "ninf"]
            );
            assert_eq!(z.range_by_rank(8, 9, false).len(), 0);
            assert_eq!(z.range_by_rank(3, 2, false).len(), 0);
            let it = z.range_by_rank(2, 5, false);
            assert_eq!(it.len(), 4);
            assert_eq!(names(it.rev().collect()), ["d", "c", "b", "ab"]);
            let mut it = z.iter();
            assert_eq!(it.next().unwrap().0, b"ninf");
            assert_eq!(it.next_back().unwrap().0, b"pinf");
            assert_eq!(it.len(), 6);
        }
    }

    #[test]
    fn score_ranges() {
        for z in both(DATA) {
            let q =
                |a: &str, b: &str, l: Limit, rev: bool| names(z.range_by_score(&sr(a, b), l, rev));
            let all = Limit::ALL;
            assert_eq!(q("1", "2", all, false), ["a", "ab", "b", "c", "d"]);
            assert_eq!(q("(1", "2", all, false), ["c", "d"]);
            assert_eq!(q("1", "(2", all, false), ["a", "ab", "b"]);
            assert_eq!(q("(1", "(2", all, false), Vec::<String>::new());
            assert_eq!(q("2", "2", all, false), ["c", "d"]);
            assert_eq!(q("(2", "2", all, false), Vec::<String>::new());
            assert_eq!(q("2", "(2", all, false), Vec::<String>::new());
            assert_eq!(q("2", "1", all, false), Vec::<String>::new());
            assert_eq!(q("-inf", "+inf", all, false).len(), 8);
            assert_eq!(
                q("(-inf", "(+inf", all, false),
                ["a", "ab", "b", "c", "d", "e"]
            );
            assert_eq!(q("inf", "inf", all, false), ["pinf"]);
            assert_eq!(q("-inf", "-inf", all, false), ["ninf"]);
            assert_eq!(q("4", "5", all, false), Vec::<String>::new());
            assert_eq!(q("1.5", "1.7", all, false), Vec::<String>::new());
            assert_eq!(q("1", "2", all, true), ["d", "c", "b", "ab", "a"]);
            assert_eq!(q("1", "2", lim(1, 2), false), ["ab", "b"]);
            assert_eq!(q("1", "2", lim(1, 2), true), ["c", "b"]);
            assert_eq!(q("1", "2", lim(4, 10), false), ["d"]);
            assert_eq!(q("1", "2", lim(5, 10), false), Vec::<String>::new());
            assert_eq!(q("1", "2", lim(4, 10), true), ["a"]);
            assert_eq!(q("1", "2", lim(5, 10), true), Vec::<String>::new());
            assert_eq!(q("1", "2", lim(8, 1), false), Vec::<String>::new());
            assert_eq!(q("1", "2", lim(0, 0), false), Vec::<String>::new());
            assert_eq!(
                q(
                    "-inf",
                    "inf",
                    Limit {
                        offset: 6,
                        count: None
                    },
                    false
                ),
                ["e", "pinf"]
            );
            let c = |a: &str, b: &str| z.count_in_score_range(&sr(a, b));
            assert_eq!(c("1", "2"), 5);
            assert_eq!(c("(1", "2"), 2);
            assert_eq!(c("-inf", "+inf"), 8);
            assert_eq!(c("(-inf", "(inf"), 6);
            assert_eq!(c("2", "1"), 0);
            assert_eq!(c("3", "3"), 1);
            assert_eq!(c("(3", "3"), 0);
            assert_eq!(c("10", "20"), 0);
            assert_eq!(c("-20", "-10"), 0);
        }
    }

    #[test]
    fn lex_ranges() {
        let pairs: Vec<(f64, &str)> = ["g", "a", "c", "b", "e", "f", "d", "", "aa"]
            .iter()
            .map(|m| (0.0, *m))
            .collect();
        for z in both(&pairs) {
            let q =
                |a: &str, b: &str, l: Limit, rev: bool| names(z.range_by_lex(&lr(a, b), l, rev));
            let all = Limit::ALL;
            assert_eq!(
                q("-", "+", all, false),
                ["", "a", "aa", "b", "c", "d", "e", "f", "g"]
            );
            assert_eq!(q("+", "-", all, false), Vec::<String>::new());
            assert_eq!(q("-", "-", all, false), Vec::<String>::new());
            assert_eq!(q("+", "+", all, false), Vec::<String>::new());
            assert_eq!(q("[b", "(d", all, false), ["b", "c"]);
            assert_eq!(q("(b", "[d", all, false), ["c", "d"]);
            assert_eq!(q("[a", "[a", all, false), ["a"]);
            assert_eq!(q("(a", "[a", all, false), Vec::<String>::new());
            assert_eq!(q("[a", "(a", all, false), Vec::<String>::new());
            assert_eq!(q("[d", "[b", all, false), Vec::<String>::new());
            assert_eq!(q("[", "(a", all, false), [""]);
            assert_eq!(q("(", "(b", all, false), ["a", "aa"]);
            assert_eq!(q("[a", "(b", all, false), ["a", "aa"]);
            assert_eq!(q("[e", "+", all, true), ["g", "f", "e"]);
            assert_eq!(q("-", "+", lim(2, 3), false), ["aa", "b", "c"]);
            assert_eq!(q("-", "+", lim(2, 3), true), ["e", "d", "c"]);
            assert_eq!(q("[b", "[d", lim(3, 3), false), Vec::<String>::new());
            assert_eq!(q("[h", "+", all, false), Vec::<String>::new());
            assert_eq!(q("-", "(", all, false), Vec::<String>::new());
            let c = |a: &str, b: &str| z.count_in_lex_range(&lr(a, b));
            assert_eq!(c("-", "+"), 9);
            assert_eq!(c("[b", "[d"), 3);
            assert_eq!(c("(b", "(d"), 1);
            assert_eq!(c("(d", "(b"), 0);
            assert_eq!(c("+", "-"), 0);
            assert_eq!(c("[zz", "+"), 0);
        }
    }

    #[test]
    fn lex_listpack_with_mixed_scores_follows_redis_walk() {
        // Scores disagree with member order: Redis walks from the head to the
        // first member >= min, then forward while <= max (so "a" is included).
        let [z, _] = both(&[(1.0, "c"), (2.0, "a"), (3.0, "d"), (4.0, "b")]);
        assert_eq!(
            names(z.range_by_lex(&lr("[b", "[c"), Limit::ALL, false)),
            ["c", "a"]
        );
        assert_eq!(z.count_in_lex_range(&lr("[b", "[c")), 2);
        // Reverse: from the tail to the first member <= max, then back while >= min.
        assert_eq!(
            names(z.range_by_lex(&lr("[b", "[c"), Limit::ALL, true)),
            ["b", "d"]
        );
        let mut z = z;
        assert_eq!(z.remove_range_by_lex(&lr("[b", "[c")), 2);
        assert_eq!(names(z.iter().collect()), ["d", "b"]);
    }

    #[test]
    fn remove_ranges_and_pops() {
        for z0 in both(DATA) {
            let mut z = z0.clone();
            assert_eq!(z.remove_range_by_score(&sr("(1", "2")), 2);
            assert_eq!(z.remove_range_by_score(&sr("(1", "2")), 0);
            assert_eq!(z.remove_range_by_score(&sr("5", "4")), 0);
            assert_eq!(
                names(z.iter().collect()),
                ["ninf", "a", "ab", "b", "e", "pinf"]
            );
            assert_eq!(z.remove_range_by_score(&sr("-inf", "(1")), 1);
            assert_eq!(z.remove_range_by_score(&sr("inf", "inf")), 1);
            z.check_invariants();
            assert_eq!(names(z.iter().collect()), ["a", "ab", "b", "e"]);

            let mut z = z0.clone();
            assert_eq!(z.remove_range_by_rank(1, 2), 2);
            assert_eq!(z.remove_range_by_rank(5, 100), 1);
            assert_eq!(z.remove_range_by_rank(5, 100), 0);
            assert_eq!(z.remove_range_by_rank(3, 2), 0);
            z.check_invariants();
            assert_eq!(names(z.iter().collect()), ["ninf", "b", "c", "d", "e"]);

            let mut z = z0.clone();
            let popped = z.pop_min(2);
            assert_eq!(
                popped,
                vec![
                    (b"ninf"[..].into(), f64::NEG_INFINITY),
                    (b"a"[..].into(), 1.0)
                ]
            );
            let popped = z.pop_max(3);
            let pn: Vec<&[u8]> = popped.iter().map(|p| &*p.0).collect();
            assert_eq!(pn, [&b"pinf"[..], b"e", b"d"]);
            assert_eq!(z.pop_max(0).len(), 0);
            assert_eq!(z.pop_min(100).len(), 3);
            assert!(z.is_empty());
            assert_eq!(z.pop_min(1).len(), 0);
            z.check_invariants();
        }
        let lex: Vec<(f64, &str)> = ["a", "b", "c", "d", "e"]
            .iter()
            .map(|m| (0.0, *m))
            .collect();
        for z0 in both(&lex) {
            let mut z = z0.clone();
            assert_eq!(z.remove_range_by_lex(&lr("(a", "[c")), 2);
            assert_eq!(z.remove_range_by_lex(&lr("+", "-")), 0);
            assert_eq!(z.remove_range_by_lex(&lr("[x", "+")), 0);
            assert_eq!(names(z.iter().collect()), ["a", "d", "e"]);
            assert_eq!(z.remove_range_by_lex(&lr("-", "+")), 3);
            assert!(z.is_empty());
            z.check_invariants();
        }
    }

    #[test]
    fn empty_set_queries() {
        for z in [Zset::new(), Zset::new_skiplist()] {
            assert_eq!(z.len(), 0);
            assert_eq!(z.iter().count(), 0);
            assert_eq!(z.rank(b"a", false), None);
            assert_eq!(z.get_by_rank(0), None);
            assert_eq!(z.first(), None);
            assert_eq!(z.last(), None);
            assert_eq!(z.range_by_rank(0, 0, true).count(), 0);
            assert!(z
                .range_by_score(&sr("-inf", "inf"), Limit::ALL, false)
                .is_empty());
            assert!(z
                .range_by_score(&sr("-inf", "inf"), Limit::ALL, true)
                .is_empty());
            assert!(z.range_by_lex(&lr("-", "+"), Limit::ALL, true).is_empty());
            assert_eq!(z.count_in_score_range(&sr("-inf", "inf")), 0);
            assert_eq!(z.count_in_lex_range(&lr("-", "+")), 0);
            assert_eq!(z.scan(0, 10, |_, _| panic!()), 0);
            let mut z = z;
            assert_eq!(z.remove_range_by_lex(&lr("-", "+")), 0);
            assert_eq!(z.remove_range_by_score(&sr("-inf", "inf")), 0);
            assert_eq!(z.remove_range_by_rank(0, 0), 0);
            assert!(!z.remove(b"a"));
            z.check_invariants();
        }
    }

    // -- ZSCAN -------------------------------------------------------------

    fn full_scan(z: &Zset, count: usize) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut cursor = 0;
        for _ in 0..=z.len() + 1 {
            cursor = z.scan(cursor, count, |m, _| out.push(m.to_vec()));
            if cursor == 0 {
                return out;
            }
        }
        panic!("scan did not terminate");
    }

    #[test]
    fn scan_listpack_and_skiplist() {
        let [a, b] = both(DATA);
        let mut calls = 0;
        assert_eq!(a.scan(12345, 1, |_, _| calls += 1), 0);
        assert_eq!(calls, 8);
        let got = full_scan(&b, 3);
        assert_eq!(got.len(), 8);
        // A tie group is never split: with count 1 the first call stops
        // after "ninf", the next returns all score-1 members.
        let mut first = Vec::new();
        let c = b.scan(0, 1, |m, _| first.push(m.to_vec()));
        assert_eq!(first, [b"ninf".to_vec()]);
        let mut second = Vec::new();
        b.scan(c, 1, |m, _| second.push(m.to_vec()));
        assert_eq!(second, [b"a".to_vec(), b"ab".to_vec(), b"b".to_vec()]);
    }

    #[test]
    fn scan_guarantee_under_writes() {
        let l = ZsetLimits::default();
        let mut z = Zset::new();
        for i in 0..2000u32 {
            let m = format!("m{i}");
            z.insert_or_update(m.as_bytes(), f64::from(i % 37), ZaddFlags::default(), &l)
                .unwrap();
        }
        assert!(!z.is_listpack());
        // Members i % 5 == 0 are never touched: they must all be seen.
        let stable: HashSet<Vec<u8>> = (0..2000u32)
            .filter(|i| i.is_multiple_of(5))
            .map(|i| format!("m{i}").into_bytes())
            .collect();
        let mut seen = HashSet::new();
        let mut cursor = 0;
        let mut step = 0u32;
        loop {
            cursor = z.scan(cursor, 10, |m, _| {
                seen.insert(m.to_vec());
            });
            if cursor == 0 {
                break;
            }
            step += 1;
            // Churn: remove and re-add unstable members, add new ones.
            for k in 0..5u32 {
                let i = (step * 7 + k * 13) % 2000;
                if !i.is_multiple_of(5) {
                    z.remove(format!("m{i}").as_bytes());
                }
                let n = format!("new{step}-{k}");
                z.insert_or_update(n.as_bytes(), f64::from(k), ZaddFlags::default(), &l)
                    .unwrap();
            }
            assert!(step < 10_000);
        }
        z.check_invariants();
        assert!(stable.is_subset(&seen));
    }

    // -- model-based property test ----------------------------------------

    #[derive(Clone, Copy, Debug)]
    struct OrdScore(f64);
    impl PartialEq for OrdScore {
        fn eq(&self, o: &Self) -> bool {
            self.0 == o.0
        }
    }
    impl Eq for OrdScore {}
    impl PartialOrd for OrdScore {
        fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
            Some(self.cmp(o))
        }
    }
    impl Ord for OrdScore {
        fn cmp(&self, o: &Self) -> Ordering {
            self.0.partial_cmp(&o.0).expect("no NaN")
        }
    }

    struct Model {
        set: BTreeSet<(OrdScore, Vec<u8>)>,
        map: StdMap<Vec<u8>, f64>,
        listpack: bool,
    }

    impl Model {
        fn new() -> Self {
            Model {
                set: BTreeSet::new(),
                map: StdMap::new(),
                listpack: true,
            }
        }

        fn sorted(&self) -> Vec<(Vec<u8>, f64)> {
            self.set.iter().map(|(s, m)| (m.clone(), s.0)).collect()
        }

        fn zadd(
            &mut self,
            m: &[u8],
            score: f64,
            f: ZaddFlags,
            l: &ZsetLimits,
        ) -> Result<ZaddOutcome, ZsetError> {
            match self.map.get(m).copied() {
                None => {
                    if f.xx {
                        return Ok(ZaddOutcome::Skipped);
                    }
                    if self.map.len() + 1 > l.max_listpack_entries || m.len() > l.max_listpack_value
                    {
                        self.listpack = false;
                    }
                    self.map.insert(m.to_vec(), score);
                    self.set.insert((OrdScore(score), m.to_vec()));
                    Ok(ZaddOutcome::Added(score))
                }
                Some(cur) => {
                    if f.nx {
                        return Ok(ZaddOutcome::Skipped);
                    }
                    let new = if f.incr { cur + score } else { score };
                    if new.is_nan() {
                        return Err(ZsetError::NanScore);
                    }
                    if (f.lt && new >= cur) || (f.gt && new <= cur) {
                        return Ok(ZaddOutcome::Skipped);
                    }
                    if new == cur {
                        return Ok(ZaddOutcome::Unchanged(new));
                    }
                    self.set.remove(&(OrdScore(cur), m.to_vec()));
                    self.set.insert((OrdScore(new), m.to_vec()));
                    self.map.insert(m.to_vec(), new);
                    Ok(ZaddOutcome::Updated(new))
                }
            }
        }

        /// A listpack never keeps `-0` (see `listpack_score`).
        fn settle_listpack_zeros(&mut self) {
            if !self.listpack {
                return;
            }
            for (m, s) in self.map.iter_mut() {
                if *s == 0.0 && s.is_sign_negative() {
                    *s = 0.0;
                    self.set.remove(&(OrdScore(0.0), m.clone()));
                    self.set.insert((OrdScore(0.0), m.clone()));
                }
            }
        }

        fn remove(&mut self, m: &[u8]) -> bool {
            match self.map.remove(m) {
                Some(s) => {
                    self.set.remove(&(OrdScore(s), m.to_vec()));
                    true
                }
                None => false,
            }
        }

        fn retain_out(&mut self, doomed: &[(Vec<u8>, f64)]) {
            for (m, _) in doomed {
                self.remove(m);
            }
        }
    }

    #[derive(Clone, Debug)]
    enum Op {
        Add(Vec<u8>, f64, ZaddFlags),
        AddMany(u16, f64),
        AddLong(usize),
        Remove(Vec<u8>),
        RangeRank(i64, i64, bool),
        RangeScore(ScoreRange, i64, i64, bool),
        RangeLex(LexRange, i64, i64, bool),
        CountScore(ScoreRange),
        CountLex(LexRange),
        RemRank(i64, i64),
        RemScore(ScoreRange),
        RemLex(LexRange),
        Pop(usize, bool),
        Rank(Vec<u8>, bool),
        ByRank(usize),
        Scan(usize),
        Shrink,
    }

    fn member() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(
            prop::sample::select(vec![b'a', b'b', b'c', 0u8, 0xff]),
            0..4,
        )
    }

    fn score() -> impl Strategy<Value = f64> {
        prop::sample::select(vec![
            f64::NEG_INFINITY,
            -2.5,
            -1.0,
            -0.0,
            0.0,
            1.0,
            1.5,
            2.0,
            3.0,
            f64::INFINITY,
        ])
    }

    fn score_range() -> impl Strategy<Value = ScoreRange> {
        (score(), any::<bool>(), score(), any::<bool>()).prop_map(|(a, ae, b, be)| ScoreRange {
            min: ScoreBound {
                value: a,
                exclusive: ae,
            },
            max: ScoreBound {
                value: b,
                exclusive: be,
            },
        })
    }

    fn lex_bound() -> impl Strategy<Value = LexBound> {
        prop_oneof![
            1 => Just(LexBound::NegInf),
            1 => Just(LexBound::PosInf),
            3 => member().prop_map(LexBound::Inclusive),
            3 => member().prop_map(LexBound::Exclusive),
        ]
    }

    fn lex_range() -> impl Strategy<Value = LexRange> {
        (lex_bound(), lex_bound()).prop_map(|(min, max)| LexRange { min, max })
    }

    fn flags() -> impl Strategy<Value = ZaddFlags> {
        let f = |nx, xx, gt, lt, incr| ZaddFlags {
            nx,
            xx,
            gt,
            lt,
            incr,
        };
        prop::sample::select(vec![
            f(false, false, false, false, false),
            f(false, false, false, false, false),
            f(false, false, false, false, false),
            f(true, false, false, false, false),
            f(false, true, false, false, false),
            f(false, false, true, false, false),
            f(false, false, false, true, false),
            f(false, true, true, false, false),
            f(false, true, false, true, false),
            f(false, false, false, false, true),
            f(true, false, false, false, true),
            f(false, true, false, false, true),
            f(false, false, true, false, true),
            f(false, false, false, true, true),
        ])
    }

    fn small_i64() -> impl Strategy<Value = i64> {
        -12i64..12
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            30 => (member(), score(), flags()).prop_map(|(m, s, f)| Op::Add(m, s, f)),
            2 => (1u16..80, score()).prop_map(|(n, s)| Op::AddMany(n, s)),
            1 => (60usize..70).prop_map(Op::AddLong),
            8 => member().prop_map(Op::Remove),
            3 => (small_i64(), small_i64(), any::<bool>()).prop_map(|(a, b, r)| Op::RangeRank(a, b, r)),
            3 => (score_range(), -1i64..4, -1i64..5, any::<bool>()).prop_map(|(r, o, c, v)| Op::RangeScore(r, o, c, v)),
            3 => (lex_range(), -1i64..4, -1i64..5, any::<bool>()).prop_map(|(r, o, c, v)| Op::RangeLex(r, o, c, v)),
            2 => score_range().prop_map(Op::CountScore),
            2 => lex_range().prop_map(Op::CountLex),
            1 => (small_i64(), small_i64()).prop_map(|(a, b)| Op::RemRank(a, b)),
            1 => score_range().prop_map(Op::RemScore),
            1 => lex_range().prop_map(Op::RemLex),
            1 => (0usize..4, any::<bool>()).prop_map(|(c, m)| Op::Pop(c, m)),
            3 => (member(), any::<bool>()).prop_map(|(m, r)| Op::Rank(m, r)),
            2 => any::<usize>().prop_map(Op::ByRank),
            1 => (1usize..6).prop_map(Op::Scan),
            1 => Just(Op::Shrink),
        ]
    }

    fn in_lex(r: &LexRange, m: &[u8]) -> bool {
        r.gte_min(m) && r.lte_max(m)
    }

    fn apply_limit<T>(mut v: Vec<T>, rev: bool, off: i64, cnt: i64) -> Vec<T> {
        let Some(l) = Limit::from_redis(off, cnt) else {
            return Vec::new();
        };
        if rev {
            v.reverse();
        }
        v.into_iter()
            .skip(l.offset)
            .take(l.count.unwrap_or(usize::MAX))
            .collect()
    }

    fn run_ops(ops: &[Op], limits: ZsetLimits) {
        let mut z = Zset::new();
        let mut m = Model::new();
        let mut seq = 0u32;
        for op in ops {
            let sorted = m.sorted();
            // Lex results are only defined when member order agrees with
            // score order (e.g. all scores equal).
            let lex_ok = sorted.windows(2).all(|w| w[0].0 < w[1].0);
            match op {
                Op::Add(mem, s, f) => {
                    assert_eq!(
                        z.insert_or_update(mem, *s, *f, &limits),
                        m.zadd(mem, *s, *f, &limits)
                    );
                }
                Op::AddMany(n, s) => {
                    for i in 0..*n {
                        seq += 1;
                        let mem = format!("k{seq}").into_bytes();
                        let sc = *s + f64::from(i % 3);
                        let f = ZaddFlags::default();
                        assert_eq!(
                            z.insert_or_update(&mem, sc, f, &limits),
                            m.zadd(&mem, sc, f, &limits)
                        );
                    }
                }
                Op::AddLong(n) => {
                    let mem = vec![b'L'; *n];
                    let f = ZaddFlags::default();
                    assert_eq!(
                        z.insert_or_update(&mem, 1.0, f, &limits),
                        m.zadd(&mem, 1.0, f, &limits)
                    );
                }
                Op::Remove(mem) => assert_eq!(z.remove(mem), m.remove(mem)),
                Op::RangeRank(a, b, rev) => {
                    let got = normalize_rank_range(*a, *b, z.len())
                        .map(|(s, e)| owned(z.range_by_rank(s, e, *rev).collect()))
                        .unwrap_or_default();
                    let want = match normalize_rank_range(*a, *b, sorted.len()) {
                        Some((s, e)) => {
                            let mut v = sorted.clone();
                            if *rev {
                                v.reverse();
                            }
                            bits(&v[s..=e])
                        }
                        None => vec![],
                    };
                    assert_eq!(got, want);
                }
                Op::RangeScore(r, off, cnt, rev) => {
                    let got = match Limit::from_redis(*off, *cnt) {
                        Some(l) => owned(z.range_by_score(r, l, *rev)),
                        None => vec![],
                    };
                    let inr: Vec<_> = sorted
                        .iter()
                        .filter(|e| r.gte_min(e.1) && r.lte_max(e.1))
                        .cloned()
                        .collect();
                    assert_eq!(got, bits(&apply_limit(inr, *rev, *off, *cnt)));
                }
                Op::RangeLex(r, off, cnt, rev) => {
                    let got = match Limit::from_redis(*off, *cnt) {
                        Some(l) => owned(z.range_by_lex(r, l, *rev)),
                        None => vec![],
                    };
                    if lex_ok {
                        let inr: Vec<_> =
                            sorted.iter().filter(|e| in_lex(r, &e.0)).cloned().collect();
                        assert_eq!(got, bits(&apply_limit(inr, *rev, *off, *cnt)));
                    }
                }
                Op::CountScore(r) => {
                    let want = sorted
                        .iter()
                        .filter(|e| r.gte_min(e.1) && r.lte_max(e.1))
                        .count();
                    assert_eq!(z.count_in_score_range(r), want);
                }
                Op::CountLex(r) => {
                    let got = z.count_in_lex_range(r);
                    if lex_ok {
                        assert_eq!(got, sorted.iter().filter(|e| in_lex(r, &e.0)).count());
                    }
                }
                Op::RemRank(a, b) => {
                    let got = normalize_rank_range(*a, *b, z.len())
                        .map_or(0, |(s, e)| z.remove_range_by_rank(s, e));
                    let doomed = normalize_rank_range(*a, *b, sorted.len())
                        .map_or(vec![], |(s, e)| sorted[s..=e].to_vec());
                    assert_eq!(got, doomed.len());
                    m.retain_out(&doomed);
                }
                Op::RemScore(r) => {
                    let doomed: Vec<_> = sorted
                        .iter()
                        .filter(|e| r.gte_min(e.1) && r.lte_max(e.1))
                        .cloned()
                        .collect();
                    assert_eq!(z.remove_range_by_score(r), doomed.len());
                    m.retain_out(&doomed);
                }
                Op::RemLex(r) => {
                    if lex_ok {
                        let doomed: Vec<_> =
                            sorted.iter().filter(|e| in_lex(r, &e.0)).cloned().collect();
                        assert_eq!(z.remove_range_by_lex(r), doomed.len());
                        m.retain_out(&doomed);
                    }
                }
                Op::Pop(c, max) => {
                    let got: Vec<(Vec<u8>, f64)> = if *max { z.pop_max(*c) } else { z.pop_min(*c) }
                        .into_iter()
                        .map(|(mm, s)| (mm.into_vec(), s))
                        .collect();
                    let mut want = sorted.clone();
                    if *max {
                        want.reverse();
                    }
                    want.truncate(*c);
                    assert_eq!(bits(&got), bits(&want));
                    m.retain_out(&want);
                }
                Op::Rank(mem, rev) => {
                    let want = sorted.iter().position(|e| e.0 == *mem).map(|p| {
                        if *rev {
                            sorted.len() - 1 - p
                        } else {
                            p
                        }
                    });
                    assert_eq!(z.rank(mem, *rev), want);
                    assert_eq!(
                        z.score(mem).map(f64::to_bits),
                        m.map.get(mem).map(|s| s.to_bits())
                    );
                }
                Op::ByRank(i) => {
                    let i = i % (sorted.len() + 1);
                    let got = z.get_by_rank(i).map(|(mm, s)| (mm.to_vec(), s.to_bits()));
                    assert_eq!(got, sorted.get(i).map(|(mm, s)| (mm.clone(), s.to_bits())));
                }
                Op::Scan(c) => {
                    let got: HashSet<Vec<u8>> = full_scan(&z, *c).into_iter().collect();
                    let want: HashSet<Vec<u8>> = m.map.keys().cloned().collect();
                    assert_eq!(got, want);
                }
                Op::Shrink => {
                    let fits = m.map.len() <= limits.max_listpack_entries
                        && m.map.keys().all(|k| k.len() <= limits.max_listpack_value);
                    if fits {
                        m.listpack = true;
                    }
                    assert_eq!(z.convert_to_listpack_if_fits(&limits), m.listpack);
                }
            }
            m.settle_listpack_zeros();
            z.check_invariants();
            assert_eq!(z.len(), m.map.len());
            assert_eq!(z.is_listpack(), m.listpack, "encoding after {op:?}");
            assert_eq!(z.items(), bits(&m.sorted()));
        }
    }

    fn limits() -> impl Strategy<Value = ZsetLimits> {
        prop_oneof![
            Just(ZsetLimits::default()),
            (0usize..10, 0usize..5).prop_map(|(e, v)| ZsetLimits {
                max_listpack_entries: e,
                max_listpack_value: v,
            }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn prop_matches_model(ops in prop::collection::vec(op(), 1..250), limits in limits()) {
            run_ops(&ops, limits);
        }

        /// Only equal scores: every lex operation is checked.
        #[test]
        fn prop_lex_equal_scores(
            ops in prop::collection::vec(
                prop_oneof![
                    6 => (member(), flags()).prop_map(|(m, f)| Op::Add(m, 0.0, ZaddFlags { incr: false, ..f })),
                    2 => member().prop_map(Op::Remove),
                    3 => (lex_range(), -1i64..4, -1i64..5, any::<bool>()).prop_map(|(r, o, c, v)| Op::RangeLex(r, o, c, v)),
                    2 => lex_range().prop_map(Op::CountLex),
                    1 => lex_range().prop_map(Op::RemLex),
                    1 => Just(Op::Shrink),
                ],
                1..200,
            ),
            limits in limits(),
        ) {
            run_ops(&ops, limits);
        }
    }

    // -- scale -------------------------------------------------------------

    #[test]
    fn million_inserts_then_ranks() {
        const N: u64 = 1_000_000;
        let l = ZsetLimits::default();
        let mut z = Zset::new();
        let mut expected: Vec<(u64, Vec<u8>)> = Vec::with_capacity(N as usize);
        for i in 0..N {
            let k = (i * 7919) % N;
            let m = format!("m{k}").into_bytes();
            let s = (k / 3) as f64; // ties in groups of three
            assert_eq!(
                z.insert_or_update(&m, s, ZaddFlags::default(), &l),
                Ok(ZaddOutcome::Added(s))
            );
            expected.push((k / 3, m));
        }
        expected.sort();
        assert_eq!(z.len(), N as usize);
        assert_eq!(z.encoding_name(), "skiplist");
        for i in (0..N as usize).step_by(9973).chain([0, N as usize - 1]) {
            let (s, m) = &expected[i];
            assert_eq!(z.rank(m, false), Some(i));
            assert_eq!(z.rank(m, true), Some(N as usize - 1 - i));
            assert_eq!(z.get_by_rank(i), Some((&m[..], *s as f64)));
        }
        let r = ScoreRange::new(ScoreBound::inclusive(1000.0), ScoreBound::exclusive(2000.0));
        assert_eq!(z.count_in_score_range(&r), 3000);
        let page = z.range_by_score(&r, lim(10, 5), false);
        assert_eq!(page.len(), 5);
        assert_eq!(page[0].0, &expected[3000 + 10].1[..]);
        let page = z.range_by_score(&r, lim(0, 2), true);
        assert_eq!(page[0].0, &expected[5999].1[..]);
        // Iteration is complete and ordered.
        assert!(z
            .iter()
            .map(|(m, _)| m)
            .eq(expected.iter().map(|e| &e.1[..])));
        // Delete a big slice and re-check ranks.
        assert_eq!(z.remove_range_by_rank(100_000, 899_999), 800_000);
        let kept: Vec<_> = expected[..100_000]
            .iter()
            .chain(&expected[900_000..])
            .collect();
        for i in (0..kept.len()).step_by(997) {
            assert_eq!(z.rank(&kept[i].1, false), Some(i));
        }
        z.check_invariants();
    }
}
