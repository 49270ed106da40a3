//! Sorted sets (the ZSET value type), modelled on Redis 7.0's `t_zset.c`.
//!
//! This module owns the value type [`Zset`] and its API: the two encodings
//! (`listpack`: a small sorted vector, handled in this file; `skiplist`: the
//! `skiplist` module's list plus a member -> score index), the one-way
//! conversion between them, ordering (score, then member bytes as `memcmp`),
//! ZADD flag semantics, rank / score / lex range queries, counts and
//! removals, pops, random access by rank, the ZSCAN cursor and a memory
//! estimate. Range bounds and their Redis parsers live in `range`, iteration
//! in `iter`.
//!
//! Not owned: command parsing, RESP, score formatting, key lifetime (the
//! caller deletes the key when a set becomes empty) and the set algebra of
//! ZUNION/ZINTER/ZDIFF (built by the command layer from `iter` + `score`).

mod iter;
mod range;
mod skiplist;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;

use crate::key::Key;

pub use iter::Iter;
use iter::IterInner;
use range::Spec;
pub use range::{
    parse_lex_bound, parse_score_bound, LexBound, LexRange, Limit, ScoreBound, ScoreRange,
};
use skiplist::{SkipList, NIL};

/// Member -> score lookup for the skiplist encoding.
///
/// Not the engine's `Dict`, on purpose. A `Dict` entry is a separately
/// allocated chain node (key 24 + score 8 + link 8 = 40 bytes, a 48-byte
/// jemalloc class) plus an 8-byte bucket at a load factor of 0.5 to 1, so
/// 56-64 bytes a member; this open-addressed table keeps the 32-byte pair
/// inline with a control byte at a load of 7/16 to 7/8, 38-75 bytes: no
/// saving on average, while every ZADD/ZREM would gain an allocation and
/// every ZSCORE/ZRANK/ZADD lookup a pointer chase. It would also change
/// MEMORY USAGE replies (`approx_bytes` counts this table's capacity). The
/// price of staying: growing a very large set rehashes it in one step rather
/// than incrementally as `Dict` does, and ZSCAN cannot use a bucket cursor
/// (see [`Zset::scan`]).
type MemberIndex = HashMap<Key, f64, ahash::RandomState>;

/// One listpack entry: member bytes and score.
type Entry = (Box<[u8]>, f64);

/// `LISTPACK_MAX_SAFETY_SIZE` in Redis: a listpack never grows past 1 GiB.
const LISTPACK_MAX_SAFETY_SIZE: usize = 1 << 30;

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

pub use crate::util::normalize_range as normalize_rank_range;

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
    ///   is accepted. (Redis' own guarantee also covers re-scored elements,
    ///   because it walks the buckets of its dict; `MemberIndex` says why the
    ///   index is not one.)
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
