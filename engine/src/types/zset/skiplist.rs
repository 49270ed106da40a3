//! The skiplist encoding's ordered list: Redis's `zskiplist` with span-annotated
//! levels, so rank queries and rank-based deletes are O(log n). Nodes live in an
//! arena addressed by `u32` (a node is one cache line); the member -> score
//! index that goes with it is the parent module's.

// Unsafe code here: a prefetch hint; each block says why it is sound.
#![allow(unsafe_code)]

use super::{before, Entry};

pub(super) const NIL: u32 = u32::MAX;
const HEAD: u32 = 0;
/// `ZSKIPLIST_MAXLEVEL`.
const MAX_LEVEL: usize = 32;

#[derive(Clone, Copy, Debug)]
pub(super) struct Level {
    pub(super) forward: u32,
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
pub(super) struct Node {
    pub(super) member: Box<[u8]>,
    pub(super) score: f64,
    pub(super) backward: u32,
    /// Index into `SkipList::tall` when `height > INLINE_LEVELS`, else NIL.
    tall: u32,
    pub(super) levels: [Level; INLINE_LEVELS],
    height: u8,
}

// One cache line per node (on 64-bit targets the fields fill it exactly).
const _: () = assert!(std::mem::size_of::<Node>() == 64);

/// Redis' `zskiplist`, with nodes in an arena (`nodes[0]` is the header)
/// and freed slots recycled through `free`. Capacity: fewer than `u32::MAX`
/// nodes.
#[derive(Clone, Debug)]
pub(super) struct SkipList {
    nodes: Vec<Node>,
    free: Vec<u32>,
    /// Levels `INLINE_LEVELS..height` of tall nodes, recycled via `tall_free`.
    tall: Vec<Box<[Level]>>,
    tall_free: Vec<u32>,
    tail: u32,
    pub(super) len: usize,
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
    pub(super) fn with_capacity(n: usize) -> SkipList {
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
    pub(super) fn node(&self, x: u32) -> &Node {
        &self.nodes[x as usize]
    }

    #[inline]
    pub(super) fn node_mut(&mut self, x: u32) -> &mut Node {
        &mut self.nodes[x as usize]
    }

    /// Level `i` of node `x`.
    #[inline]
    pub(super) fn lvl(&self, x: u32, i: usize) -> Level {
        let n = &self.nodes[x as usize];
        debug_assert!(i < usize::from(n.height), "level {i} above node height");
        if i < INLINE_LEVELS {
            n.levels[i]
        } else {
            self.tall[n.tall as usize][i - INLINE_LEVELS]
        }
    }

    #[inline]
    pub(super) fn lvl_mut(&mut self, x: u32, i: usize) -> &mut Level {
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
    pub(super) fn first(&self) -> u32 {
        self.node(HEAD).levels[0].forward
    }

    /// Starts loading the node one level down from `x` while the current level's candidate is
    /// still in flight: a search ends each level by dropping down, so that node is usually the
    /// next one compared, and overlapping the two cache misses shortens every search.
    #[inline]
    pub(super) fn prefetch_below(&self, x: u32, i: usize) {
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
    pub(super) fn random_level(&mut self) -> usize {
        // xorshift64*: never returns 0 for a non-zero state.
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        let r = x.wrapping_mul(0x2545_f491_4f6c_dd1d);
        (1 + r.trailing_zeros() as usize / 2).min(MAX_LEVEL)
    }

    pub(super) fn alloc(&mut self, member: Box<[u8]>, score: f64, height: usize) -> u32 {
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
    pub(super) fn release(&mut self, x: u32) -> (Box<[u8]>, f64) {
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
    pub(super) fn insert(&mut self, score: f64, member: Box<[u8]>) -> u32 {
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
    pub(super) fn find_update(&self, score: f64, member: &[u8]) -> [u32; MAX_LEVEL] {
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
    pub(super) fn unlink(&mut self, x: u32, update: &[u32; MAX_LEVEL]) {
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
    pub(super) fn delete(&mut self, score: f64, member: &[u8]) -> Option<Box<[u8]>> {
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
    pub(super) fn update_score(&mut self, cur: f64, member: &[u8], new: f64) {
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
    pub(super) fn get_rank(&self, score: f64, member: &[u8]) -> Option<usize> {
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

    /// Moves right from `x` along level `i` as long as the rank reached stays within `limit`,
    /// adding the spans crossed to `traversed`; returns the last node reached.
    #[inline]
    fn advance_within_rank(
        &self,
        mut x: u32,
        i: usize,
        traversed: &mut usize,
        limit: usize,
    ) -> u32 {
        loop {
            let l = self.lvl(x, i);
            if l.forward == NIL || *traversed + l.span as usize > limit {
                return x;
            }
            *traversed += l.span as usize;
            x = l.forward;
        }
    }

    /// Node at 0-based `rank`, or NIL.
    pub(super) fn node_at(&self, rank: usize) -> u32 {
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
            x = self.advance_within_rank(x, i, &mut traversed, target);
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
    pub(super) fn rank_while(&self, mut pred: impl FnMut(&Node) -> bool) -> (usize, u32) {
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
    pub(super) fn delete_from_rank_while(
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
            x = self.advance_within_rank(x, i, &mut traversed, lo);
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
    pub(super) fn from_sorted(items: impl ExactSizeIterator<Item = Entry>) -> SkipList {
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
    pub(super) fn take_all(&mut self) -> Vec<Entry> {
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
    pub(super) fn maybe_compact(&mut self) {
        if self.nodes.len() >= 1024 && self.free.len() > 3 * (self.len + 1) {
            let items = self.take_all();
            *self = SkipList::from_sorted(items.into_iter());
        }
    }

    pub(super) fn heap_bytes(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<Node>()
            + self.tall.capacity() * std::mem::size_of::<Box<[Level]>>()
            + (self.tall_levels + MAX_LEVEL - INLINE_LEVELS) * std::mem::size_of::<Level>()
            + self.tall_free.capacity() * std::mem::size_of::<u32>()
            + self.free.capacity() * std::mem::size_of::<u32>()
    }
}

#[cfg(test)]
impl SkipList {
    /// Structural checks: links both ways, heights, tall-level bookkeeping,
    /// the arena's free lists and every level's spans.
    pub(super) fn check_invariants(&self) {
        assert_eq!(self.nodes.len(), self.len + 1 + self.free.len());
        let mut rank_of = vec![usize::MAX; self.nodes.len()];
        let mut x = self.first();
        let mut prev = NIL;
        let mut r = 0usize;
        let mut upper = 0usize;
        let mut talls = 0usize;
        while x != NIL {
            r += 1;
            rank_of[x as usize] = r;
            let n = self.node(x);
            let h = n.height as usize;
            assert_eq!(n.backward, prev);
            assert!(h >= 1 && h <= self.level);
            assert_eq!(n.tall != NIL, h > INLINE_LEVELS);
            if n.tall != NIL {
                assert_eq!(self.tall[n.tall as usize].len(), h - INLINE_LEVELS);
                talls += 1;
            }
            upper += h.saturating_sub(INLINE_LEVELS);
            prev = x;
            x = n.levels[0].forward;
        }
        assert_eq!(self.tail, prev);
        assert_eq!(upper, self.tall_levels);
        assert_eq!(self.tall.len(), talls + 1 + self.tall_free.len());
        assert!(self.level >= 1 && self.level <= MAX_LEVEL);
        if self.level > 1 {
            assert_ne!(self.lvl(HEAD, self.level - 1).forward, NIL);
        }
        for i in 0..self.level {
            let mut x = HEAD;
            let mut r = 0usize;
            loop {
                let lv = self.lvl(x, i);
                if lv.forward == NIL {
                    assert_eq!(lv.span as usize, self.len - r, "tail span level {i}");
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
