//! `Dict`: the hash table behind the keyspace, hashes and sets — a port of
//! Redis's `src/dict.c`.
//!
//! It exists because `std::collections::HashMap` cannot provide what a
//! Redis-compatible engine needs: its resizes are stop-the-world (a latency
//! spike proportional to the table size on the GET/SET hot path), and it has no
//! stable bucket cursor, so `SCAN`'s guarantee — every element present for the
//! whole scan is returned at least once, even while the table grows or shrinks
//! between calls — cannot be built on it. Like Redis this table uses separate
//! chaining over power-of-two bucket arrays, *incremental* rehashing between two
//! tables (one bucket moved per mutating call, plus `rehash_steps` from the
//! cron), the reverse-binary `dictScan` cursor, and `dictGetSomeKeys`-style
//! sampling for eviction and active expiry.

// Unsafe code here: a prefetch hint; each block says why it is sound.
#![allow(unsafe_code)]

use std::borrow::Borrow;
use std::fmt;
use std::hash::Hash;
use std::iter::{Chain, FusedIterator};
use std::mem;

use ahash::RandomState;

/// Size of a table when the first element is inserted.
const INITIAL_SIZE: usize = 4;
/// Shrink when the fill ratio falls below this percentage (`HASHTABLE_MIN_FILL`).
const MIN_FILL_PERCENT: usize = 10;
/// Empty buckets a single rehash step may skip (`_dictRehashStep`).
const EMPTY_VISITS_PER_STEP: usize = 10;
/// Random probes in `random_entry` before falling back to a linear walk.
const RANDOM_PROBES: usize = 1000;

type Link<K, V> = Option<Box<Node<K, V>>>;

struct Node<K, V> {
    key: K,
    value: V,
    next: Link<K, V>,
}

/// Drops a chain node by node, so long chains never recurse.
fn free_chain<K, V>(mut link: Link<K, V>) {
    while let Some(mut node) = link {
        link = node.next.take();
    }
}

/// Calls `f` on every entry of one chain.
fn visit_chain<K, V>(link: &Link<K, V>, f: &mut impl FnMut(&K, &V)) {
    let mut cur = link.as_deref();
    while let Some(n) = cur {
        f(&n.key, &n.value);
        cur = n.next.as_deref();
    }
}

/// A hint to load the cache line holding `value` (no effect elsewhere than x86-64).
#[inline]
fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint that never faults; the pointer is to a live value.
    unsafe {
        let ptr = value as *const T as *const i8;
        std::arch::x86_64::_mm_prefetch(ptr, std::arch::x86_64::_MM_HINT_T0);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

/// Smallest power of two >= `n`, at least `INITIAL_SIZE`.
fn table_size_for(n: usize) -> usize {
    n.max(INITIAL_SIZE)
        .checked_next_power_of_two()
        .expect("Dict capacity overflow")
}

struct Table<K, V> {
    /// Length is zero (unallocated) or a power of two.
    buckets: Box<[Link<K, V>]>,
    used: usize,
}

impl<K, V> Default for Table<K, V> {
    fn default() -> Self {
        Table {
            buckets: Box::default(),
            used: 0,
        }
    }
}

impl<K, V> Drop for Table<K, V> {
    fn drop(&mut self) {
        if self.used > 0 {
            for slot in self.buckets.iter_mut() {
                free_chain(slot.take());
            }
        }
    }
}

impl<K, V> Table<K, V> {
    fn with_size(size: usize) -> Self {
        debug_assert!(size.is_power_of_two());
        Table {
            buckets: std::iter::repeat_with(|| None).take(size).collect(),
            used: 0,
        }
    }

    #[inline]
    fn size(&self) -> usize {
        self.buckets.len()
    }

    /// Only meaningful when the table is allocated.
    #[inline]
    fn mask(&self) -> usize {
        self.buckets.len().wrapping_sub(1)
    }

    #[inline]
    fn find<Q>(&self, hash: u64, key: &Q) -> Option<&Node<K, V>>
    where
        K: Borrow<Q>,
        Q: ?Sized + Eq,
    {
        let mut cur = self.buckets[hash as usize & self.mask()].as_deref();
        while let Some(node) = cur {
            if node.key.borrow() == key {
                return Some(node);
            }
            cur = node.next.as_deref();
        }
        None
    }

    #[inline]
    fn find_mut<Q>(&mut self, hash: u64, key: &Q) -> Option<&mut Node<K, V>>
    where
        K: Borrow<Q>,
        Q: ?Sized + Eq,
    {
        let mask = self.mask();
        let mut cur = self.buckets[hash as usize & mask].as_deref_mut();
        while let Some(node) = cur {
            if node.key.borrow() == key {
                return Some(node);
            }
            cur = node.next.as_deref_mut();
        }
        None
    }

    /// `(bucket, depth in chain)` of `key`.
    fn find_depth<Q>(&self, hash: u64, key: &Q) -> Option<(usize, usize)>
    where
        K: Borrow<Q>,
        Q: ?Sized + Eq,
    {
        let bucket = hash as usize & self.mask();
        let mut cur = self.buckets[bucket].as_deref();
        let mut depth = 0;
        while let Some(node) = cur {
            if node.key.borrow() == key {
                return Some((bucket, depth));
            }
            depth += 1;
            cur = node.next.as_deref();
        }
        None
    }

    /// Unlinks `key` from its chain.
    fn remove<Q>(&mut self, hash: u64, key: &Q) -> Option<Box<Node<K, V>>>
    where
        K: Borrow<Q>,
        Q: ?Sized + Eq,
    {
        let mask = self.mask();
        let mut cur = &mut self.buckets[hash as usize & mask];
        loop {
            let hit = match cur.as_deref() {
                None => return None,
                Some(n) => n.key.borrow() == key,
            };
            if hit {
                let mut node = cur.take()?;
                *cur = node.next.take();
                self.used -= 1;
                return Some(node);
            }
            cur = &mut cur.as_mut()?.next;
        }
    }

    /// Removes entries for which `f` returns false; returns how many.
    fn retain(&mut self, f: &mut impl FnMut(&K, &mut V) -> bool) {
        let mut removed = 0;
        for slot in self.buckets.iter_mut() {
            let mut cur = slot;
            loop {
                let keep = match cur.as_deref_mut() {
                    None => break,
                    Some(n) => f(&n.key, &mut n.value),
                };
                if keep {
                    cur = &mut cur.as_mut().expect("checked above").next;
                } else {
                    let mut node = cur.take().expect("checked above");
                    *cur = node.next.take();
                    removed += 1;
                }
            }
        }
        self.used -= removed;
    }
}

impl<K: Clone, V: Clone> Clone for Table<K, V> {
    fn clone(&self) -> Self {
        let buckets = self
            .buckets
            .iter()
            .map(|slot| {
                let mut out: Link<K, V> = None;
                let mut cur = slot.as_deref();
                while let Some(n) = cur {
                    out = Some(Box::new(Node {
                        key: n.key.clone(),
                        value: n.value.clone(),
                        next: out,
                    }));
                    cur = n.next.as_deref();
                }
                out
            })
            .collect();
        Table {
            buckets,
            used: self.used,
        }
    }
}

/// Location of a node, used to hand out `&mut` after a shared search.
#[derive(Clone, Copy)]
struct Pos {
    table: usize,
    bucket: usize,
    depth: usize,
}

/// Redis-style hash table with incremental rehashing and a resize-safe SCAN
/// cursor. See the module docs.
///
/// Iteration order is unspecified (bucket order of table 0, then table 1) and
/// changes as the table resizes.
pub struct Dict<K, V> {
    /// `tables[1]` is allocated only while rehashing from `tables[0]`.
    tables: [Table<K, V>; 2],
    /// `Some(i)`: rehash in progress; buckets `< i` of `tables[0]` are empty.
    rehash_idx: Option<usize>,
    hasher: RandomState,
}

impl<K, V> Default for Dict<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K, V> Dict<K, V> {
    /// Empty dict; no allocation until the first insert.
    pub fn new() -> Self {
        Dict {
            tables: [Table::default(), Table::default()],
            rehash_idx: None,
            hasher: RandomState::new(),
        }
    }

    /// Dict that holds `n` entries without resizing.
    pub fn with_capacity(n: usize) -> Self {
        let mut d = Self::new();
        if n > 0 {
            d.tables[0] = Table::with_size(table_size_for(n));
        }
        d
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.tables[0].used + self.tables[1].used
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[inline]
    pub fn is_rehashing(&self) -> bool {
        self.rehash_idx.is_some()
    }

    /// Total buckets across both tables (for stats / tests).
    pub fn bucket_count(&self) -> usize {
        self.tables[0].size() + self.tables[1].size()
    }

    #[inline]
    fn num_tables(&self) -> usize {
        if self.is_rehashing() {
            2
        } else {
            1
        }
    }

    /// Removes everything and frees the tables.
    pub fn clear(&mut self) {
        self.tables = [Table::default(), Table::default()];
        self.rehash_idx = None;
    }

    /// Bytes held by the bucket arrays and nodes (not by heap data owned by
    /// keys/values, and not `size_of::<Dict>()` itself).
    pub fn overhead_bytes(&self) -> usize {
        self.bucket_count() * mem::size_of::<Link<K, V>>()
            + self.len() * mem::size_of::<Node<K, V>>()
    }

    pub fn iter(&self) -> Iter<'_, K, V> {
        Iter {
            buckets: self.tables[0]
                .buckets
                .iter()
                .chain(self.tables[1].buckets.iter()),
            node: None,
            remaining: self.len(),
        }
    }

    pub fn iter_mut(&mut self) -> IterMut<'_, K, V> {
        let remaining = self.len();
        let [t0, t1] = &mut self.tables;
        IterMut {
            buckets: t0.buckets.iter_mut().chain(t1.buckets.iter_mut()),
            node: None,
            remaining,
        }
    }

    /// Moves all entries out; the dict is left empty (tables freed) even if
    /// the iterator is not fully consumed.
    pub fn drain(&mut self) -> IntoIter<K, V> {
        let remaining = self.len();
        let b0 = mem::take(&mut self.tables[0].buckets);
        let b1 = mem::take(&mut self.tables[1].buckets);
        self.tables[0].used = 0;
        self.tables[1].used = 0;
        self.rehash_idx = None;
        IntoIter {
            buckets: b0.into_vec().into_iter().chain(b1.into_vec()),
            node: None,
            remaining,
        }
    }

    /// Redis `dictScan`: visits the bucket(s) addressed by `cursor` and returns
    /// the next cursor (0 = scan complete; start with 0). Every element present
    /// for the whole scan is reported at least once, even if the table is
    /// resized or rehashed between calls; elements may be reported more than
    /// once. Does not rehash.
    pub fn scan(&self, cursor: u64, mut f: impl FnMut(&K, &V)) -> u64 {
        if self.is_empty() {
            return 0;
        }
        let mut v = cursor;
        if !self.is_rehashing() {
            let t0 = &self.tables[0];
            let m0 = t0.mask() as u64;
            visit_chain(&t0.buckets[(v & m0) as usize], &mut f);
            // Set unmasked bits so incrementing the reversed cursor operates
            // on the masked bits only, then increment the reversed cursor.
            v |= !m0;
            v = v.reverse_bits().wrapping_add(1).reverse_bits();
        } else {
            let [a, b] = &self.tables;
            let (small, big) = if a.size() > b.size() { (b, a) } else { (a, b) };
            let m0 = small.mask() as u64;
            let m1 = big.mask() as u64;
            visit_chain(&small.buckets[(v & m0) as usize], &mut f);
            // Visit every bucket of the larger table that is an expansion of
            // the smaller table's bucket.
            loop {
                visit_chain(&big.buckets[(v & m1) as usize], &mut f);
                v |= !m1;
                v = v.reverse_bits().wrapping_add(1).reverse_bits();
                if v & (m0 ^ m1) == 0 {
                    break;
                }
            }
        }
        v
    }

    /// One random entry (`dictGetRandomKey`): a uniformly random non-empty
    /// bucket, then a uniformly random element of its chain. `rand` must yield
    /// uniform u64s. Does not rehash.
    pub fn random_entry(&self, rand: &mut impl FnMut() -> u64) -> Option<(&K, &V)> {
        if self.is_empty() {
            return None;
        }
        let [t0, t1] = &self.tables;
        let s0 = t0.size();
        // Buckets below rehash_idx in table 0 are known to be empty.
        let lo = self.rehash_idx.unwrap_or(0);
        let span = s0 + t1.size() - lo;
        let slot = |h: usize| {
            if h >= s0 {
                t1.buckets[h - s0].as_deref()
            } else {
                t0.buckets[h].as_deref()
            }
        };
        let mut head = None;
        let mut h = lo;
        for _ in 0..RANDOM_PROBES {
            h = lo + (rand() % span as u64) as usize;
            head = slot(h);
            if head.is_some() {
                break;
            }
        }
        // Fallback for a very sparse table or a poor `rand`: walk from `h`.
        let mut off = 0;
        while head.is_none() {
            off += 1;
            head = slot(lo + (h - lo + off) % span);
        }
        let head = head?;
        let mut len = 0u64;
        let mut cur = Some(head);
        while let Some(n) = cur {
            len += 1;
            cur = n.next.as_deref();
        }
        let mut node = head;
        for _ in 0..rand() % len {
            node = node.next.as_deref()?;
        }
        Some((&node.key, &node.value))
    }

    /// Up to `count` entries (`dictGetSomeKeys`): starts at a random bucket and
    /// walks consecutive buckets in both tables, jumping elsewhere after a run
    /// of empty buckets, and gives up after `count * 10` steps. May return
    /// fewer than `count` entries and, rarely, the same entry twice. Does not
    /// rehash.
    pub fn sample(&self, count: usize, rand: &mut impl FnMut() -> u64) -> Vec<(&K, &V)> {
        let count = count.min(self.len());
        let mut out = Vec::with_capacity(count);
        if count == 0 {
            return out;
        }
        let ntables = self.num_tables();
        let ri = self.rehash_idx.unwrap_or(0);
        let mut maxsizemask = self.tables[0].mask();
        if ntables > 1 {
            maxsizemask = maxsizemask.max(self.tables[1].mask());
        }
        let mut maxsteps = count.saturating_mul(10);
        let mut i = rand() as usize & maxsizemask;
        let mut emptylen = 0usize;
        let mut stored = 0usize;
        while stored < count && maxsteps > 0 {
            maxsteps -= 1;
            for j in 0..ntables {
                // Buckets of table 0 below rehash_idx are empty. If `i` is also
                // out of range for table 1 (shrinking), jump to rehash_idx.
                if ntables == 2 && j == 0 && i < ri {
                    if i >= self.tables[1].size() {
                        i = ri;
                    } else {
                        continue;
                    }
                }
                let table = &self.tables[j];
                if i >= table.size() {
                    continue;
                }
                match table.buckets[i].as_deref() {
                    None => {
                        emptylen += 1;
                        if emptylen >= 5 && emptylen > count {
                            i = rand() as usize & maxsizemask;
                            emptylen = 0;
                        }
                    }
                    Some(head) => {
                        emptylen = 0;
                        let mut cur = Some(head);
                        while let Some(n) = cur {
                            // Reservoir sampling so the tail of a long chain
                            // can be picked too.
                            if stored < count {
                                out.push((&n.key, &n.value));
                            } else {
                                let r = (rand() % (stored as u64 + 1)) as usize;
                                if r < count {
                                    out[r] = (&n.key, &n.value);
                                }
                            }
                            stored += 1;
                            cur = n.next.as_deref();
                        }
                        if stored >= count {
                            return out;
                        }
                    }
                }
            }
            i = (i + 1) & maxsizemask;
        }
        out
    }
}

impl<K: Hash + Eq, V> Dict<K, V> {
    #[inline]
    fn hash_of<Q: ?Sized + Hash>(&self, q: &Q) -> u64 {
        self.hasher.hash_one(q)
    }

    #[inline]
    fn find<Q>(&self, key: &Q) -> Option<&Node<K, V>>
    where
        K: Borrow<Q>,
        Q: ?Sized + Hash + Eq,
    {
        if self.is_empty() {
            return None;
        }
        let hash = self.hash_of(key);
        let found = self.tables[0].find(hash, key);
        if found.is_none() && self.is_rehashing() {
            return self.tables[1].find(hash, key);
        }
        found
    }

    fn find_mut_hashed<Q>(&mut self, hash: u64, key: &Q) -> Option<&mut Node<K, V>>
    where
        K: Borrow<Q>,
        Q: ?Sized + Eq,
    {
        if self.is_empty() {
            return None;
        }
        let rehashing = self.is_rehashing();
        let [t0, t1] = &mut self.tables;
        if let Some(n) = t0.find_mut(hash, key) {
            return Some(n);
        }
        if rehashing {
            t1.find_mut(hash, key)
        } else {
            None
        }
    }

    fn find_pos<Q>(&self, hash: u64, key: &Q) -> Option<Pos>
    where
        K: Borrow<Q>,
        Q: ?Sized + Eq,
    {
        if self.is_empty() {
            return None;
        }
        (0..self.num_tables()).find_map(|table| {
            let (bucket, depth) = self.tables[table].find_depth(hash, key)?;
            Some(Pos {
                table,
                bucket,
                depth,
            })
        })
    }

    fn node_at_mut(&mut self, pos: Pos) -> &mut Node<K, V> {
        let mut node = self.tables[pos.table].buckets[pos.bucket]
            .as_deref_mut()
            .expect("stale Pos");
        for _ in 0..pos.depth {
            node = node.next.as_deref_mut().expect("stale Pos");
        }
        node
    }

    /// Links a new node (key known absent) at the head of its chain.
    fn insert_new(&mut self, hash: u64, key: K, value: V) -> &mut Node<K, V> {
        self.expand_if_needed();
        let table = &mut self.tables[self.num_tables() - 1];
        let bucket = hash as usize & table.mask();
        table.used += 1;
        let slot = &mut table.buckets[bucket];
        let next = slot.take();
        slot.insert(Box::new(Node { key, value, next }))
    }

    #[inline]
    fn rehash_step(&mut self) {
        if self.rehash_idx.is_some() {
            self.rehash(1);
        }
    }

    /// `dictRehash`: moves up to `n` buckets from table 0 to table 1, visiting
    /// at most `n * 10` empty buckets. Returns true while still rehashing.
    fn rehash(&mut self, n: usize) -> bool {
        let Some(mut idx) = self.rehash_idx else {
            return false;
        };
        let mut empty_visits = n.saturating_mul(EMPTY_VISITS_PER_STEP);
        let mut n = n;
        let [t0, t1] = &mut self.tables;
        let shrinking = t1.size() < t0.size();
        let mask1 = t1.mask();
        while n > 0 && t0.used != 0 {
            n -= 1;
            // used != 0 guarantees a non-empty bucket at or after idx.
            while t0.buckets[idx].is_none() {
                idx += 1;
                empty_visits -= 1;
                if empty_visits == 0 {
                    self.rehash_idx = Some(idx);
                    return true;
                }
            }
            let mut cur = t0.buckets[idx].take();
            while let Some(mut node) = cur {
                cur = node.next.take();
                // When shrinking, hash & mask1 == idx & mask1: no rehash needed.
                let b = if shrinking {
                    idx & mask1
                } else {
                    self.hasher.hash_one(&node.key) as usize & mask1
                };
                node.next = t1.buckets[b].take();
                t1.buckets[b] = Some(node);
                t0.used -= 1;
                t1.used += 1;
            }
            idx += 1;
        }
        if t0.used == 0 {
            self.tables[0] = mem::take(&mut self.tables[1]);
            self.rehash_idx = None;
            false
        } else {
            self.rehash_idx = Some(idx);
            true
        }
    }

    /// Starts a resize to `new_size` buckets (power of two). No-op while
    /// rehashing or if the size does not change.
    fn resize_to(&mut self, new_size: usize) {
        if self.is_rehashing() || new_size == self.tables[0].size() {
            return;
        }
        let table = Table::with_size(new_size);
        if self.tables[0].used == 0 {
            self.tables[0] = table;
        } else {
            self.tables[1] = table;
            self.rehash_idx = Some(0);
        }
    }

    fn expand_if_needed(&mut self) {
        if self.is_rehashing() {
            return;
        }
        let size = self.tables[0].size();
        if size == 0 {
            self.tables[0] = Table::with_size(INITIAL_SIZE);
        } else if self.tables[0].used >= size {
            self.resize_to(table_size_for(self.tables[0].used * 2));
        }
    }

    // --- bulk loading (RDB load): overlap the cache misses of upcoming inserts ---

    /// Starts fetching the bucket `key` hashes to. A bulk load calls this a few keys ahead of
    /// inserting `key`, so the insert's lookup finds the bucket in cache instead of waiting
    /// for memory (most of the cost of filling a large table).
    #[inline]
    pub fn prefetch_bucket<Q>(&self, key: &Q)
    where
        K: Borrow<Q>,
        Q: ?Sized + Hash,
    {
        if let Some(bucket) = self.insert_bucket(key) {
            prefetch(bucket);
        }
    }

    /// Starts fetching the first node of `key`'s chain (the insert compares its key); call it
    /// once the bucket itself has had time to arrive (`prefetch_bucket` earlier).
    #[inline]
    pub fn prefetch_chain<Q>(&self, key: &Q)
    where
        K: Borrow<Q>,
        Q: ?Sized + Hash,
    {
        if let Some(node) = self.insert_bucket(key).and_then(|b| b.as_deref()) {
            prefetch(node);
        }
    }

    /// The bucket an insert of `key` would go to: in the new table while rehashing. `None`
    /// while the table has no buckets yet.
    #[inline]
    fn insert_bucket<Q>(&self, key: &Q) -> Option<&Link<K, V>>
    where
        K: Borrow<Q>,
        Q: ?Sized + Hash,
    {
        let table = &self.tables[self.num_tables() - 1];
        if table.size() == 0 {
            return None;
        }
        Some(&table.buckets[self.hash_of(key) as usize & table.mask()])
    }

    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: ?Sized + Hash + Eq,
    {
        self.find(key).map(|n| &n.value)
    }

    pub fn get_key_value<Q>(&self, key: &Q) -> Option<(&K, &V)>
    where
        K: Borrow<Q>,
        Q: ?Sized + Hash + Eq,
    {
        self.find(key).map(|n| (&n.key, &n.value))
    }

    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: ?Sized + Hash + Eq,
    {
        self.find(key).is_some()
    }

    /// Mutable lookup; performs one rehash step.
    pub fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: ?Sized + Hash + Eq,
    {
        if self.is_empty() {
            return None;
        }
        self.rehash_step();
        let hash = self.hash_of(key);
        self.find_mut_hashed(hash, key).map(|n| &mut n.value)
    }

    /// Inserts or replaces. On replace the stored key is kept and the old
    /// value returned.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        self.rehash_step();
        let hash = self.hash_of(&key);
        if let Some(n) = self.find_mut_hashed(hash, &key) {
            return Some(mem::replace(&mut n.value, value));
        }
        self.insert_new(hash, key, value);
        None
    }

    /// Returns the value for `key`, inserting `make_value()` under
    /// `make_key()` if absent (one hash computation). `make_key()` must return
    /// a key equal to `key` (checked in debug builds). The bool is true if the
    /// entry was inserted.
    pub fn get_or_insert_with<Q>(
        &mut self,
        key: &Q,
        make_key: impl FnOnce() -> K,
        make_value: impl FnOnce() -> V,
    ) -> (&mut V, bool)
    where
        K: Borrow<Q>,
        Q: ?Sized + Hash + Eq,
    {
        self.rehash_step();
        let hash = self.hash_of(key);
        if let Some(pos) = self.find_pos(hash, key) {
            return (&mut self.node_at_mut(pos).value, false);
        }
        let k = make_key();
        debug_assert!(k.borrow() == key, "make_key() returned a different key");
        debug_assert_eq!(self.hash_of(&k), hash, "K and Q hash differently");
        (&mut self.insert_new(hash, k, make_value()).value, true)
    }

    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: ?Sized + Hash + Eq,
    {
        self.remove_entry(key).map(|(_, v)| v)
    }

    /// Removes `key`; performs one rehash step and may start a shrink.
    pub fn remove_entry<Q>(&mut self, key: &Q) -> Option<(K, V)>
    where
        K: Borrow<Q>,
        Q: ?Sized + Hash + Eq,
    {
        if self.is_empty() {
            return None;
        }
        self.rehash_step();
        let hash = self.hash_of(key);
        let n = self.num_tables();
        let node = self.tables[..n]
            .iter_mut()
            .find_map(|t| t.remove(hash, key))?;
        self.shrink_if_needed();
        let Node { key, value, .. } = *node;
        Some((key, value))
    }

    /// Keeps only entries for which `f` returns true, then may start a shrink.
    pub fn retain(&mut self, mut f: impl FnMut(&K, &mut V) -> bool) {
        for t in &mut self.tables {
            if t.used > 0 {
                t.retain(&mut f);
            }
        }
        self.shrink_if_needed();
    }

    /// Performs up to `n` rehash steps (each moves one bucket, skipping at most
    /// 10 empty ones). Returns true while rehashing is still in progress.
    pub fn rehash_steps(&mut self, n: usize) -> bool {
        self.rehash(n)
    }

    /// Starts an incremental shrink if the table has more than 4 buckets and
    /// is less than 10% full (no-op while rehashing).
    pub fn shrink_if_needed(&mut self) {
        if self.is_rehashing() {
            return;
        }
        let size = self.tables[0].size();
        let used = self.tables[0].used;
        if size > INITIAL_SIZE && used * 100 / size < MIN_FILL_PERCENT {
            self.resize_to(table_size_for(used * 2));
        }
    }

    /// Ensures `additional` more entries fit without a resize. Finishes any
    /// rehash in progress first (O(n) at worst).
    pub fn reserve(&mut self, additional: usize) {
        let want = table_size_for(self.len().saturating_add(additional));
        if want > self.tables[0].size().max(self.tables[1].size()) {
            while self.rehash(usize::MAX) {}
            self.resize_to(want);
        }
    }

    #[cfg(test)]
    fn check_invariants(&self) {
        let mut seen = std::collections::HashSet::new();
        for (ti, t) in self.tables.iter().enumerate() {
            assert!(t.size() == 0 || t.size().is_power_of_two());
            let mut count = 0;
            for (b, slot) in t.buckets.iter().enumerate() {
                let mut cur = slot.as_deref();
                if let (0, Some(ri)) = (ti, self.rehash_idx) {
                    assert!(b >= ri || cur.is_none(), "bucket below rehash_idx");
                }
                while let Some(n) = cur {
                    assert_eq!(self.hash_of(&n.key) as usize & t.mask(), b);
                    assert!(seen.insert(&n.key), "duplicate key");
                    count += 1;
                    cur = n.next.as_deref();
                }
            }
            assert_eq!(count, t.used);
        }
        if self.is_rehashing() {
            assert!(self.tables[1].size() > 0);
        } else {
            assert_eq!(self.tables[1].size(), 0);
        }
    }
}

impl<K: Clone, V: Clone> Clone for Dict<K, V> {
    fn clone(&self) -> Self {
        Dict {
            tables: self.tables.clone(),
            rehash_idx: self.rehash_idx,
            hasher: self.hasher.clone(),
        }
    }
}

impl<K: fmt::Debug, V: fmt::Debug> fmt::Debug for Dict<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<K: Hash + Eq, V> Extend<(K, V)> for Dict<K, V> {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

impl<K: Hash + Eq, V> FromIterator<(K, V)> for Dict<K, V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut d = Dict::new();
        d.extend(iter);
        d
    }
}

type SliceChain<'a, K, V> =
    Chain<std::slice::Iter<'a, Link<K, V>>, std::slice::Iter<'a, Link<K, V>>>;
type SliceChainMut<'a, K, V> =
    Chain<std::slice::IterMut<'a, Link<K, V>>, std::slice::IterMut<'a, Link<K, V>>>;
type VecChain<K, V> = Chain<std::vec::IntoIter<Link<K, V>>, std::vec::IntoIter<Link<K, V>>>;

/// Borrowing iterator over `(&K, &V)`, see [`Dict::iter`].
pub struct Iter<'a, K, V> {
    buckets: SliceChain<'a, K, V>,
    node: Option<&'a Node<K, V>>,
    remaining: usize,
}

impl<K, V> Clone for Iter<'_, K, V> {
    fn clone(&self) -> Self {
        Iter {
            buckets: self.buckets.clone(),
            node: self.node,
            remaining: self.remaining,
        }
    }
}

/// One step of a walk over the bucket chains, shared by the three iterators, which differ only
/// in how they hold a node: `enter` turns a bucket into its first node, `split` turns a node
/// into the next one and the item. `remaining` stops the walk at the last entry instead of
/// scanning the empty buckets after it.
#[inline(always)]
fn chain_next<N, B: Iterator, T>(
    node: &mut Option<N>,
    remaining: &mut usize,
    buckets: &mut B,
    enter: impl Fn(B::Item) -> Option<N>,
    split: impl FnOnce(N) -> (Option<N>, T),
) -> Option<T> {
    loop {
        if let Some(n) = node.take() {
            let (next, item) = split(n);
            *node = next;
            *remaining -= 1;
            return Some(item);
        }
        if *remaining == 0 {
            return None;
        }
        *node = enter(buckets.next()?);
    }
}

impl<'a, K, V> Iterator for Iter<'a, K, V> {
    type Item = (&'a K, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        chain_next(
            &mut self.node,
            &mut self.remaining,
            &mut self.buckets,
            |slot| slot.as_deref(),
            |n| (n.next.as_deref(), (&n.key, &n.value)),
        )
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl<K, V> ExactSizeIterator for Iter<'_, K, V> {}
impl<K, V> FusedIterator for Iter<'_, K, V> {}

/// Borrowing iterator over `(&K, &mut V)`, see [`Dict::iter_mut`].
pub struct IterMut<'a, K, V> {
    buckets: SliceChainMut<'a, K, V>,
    node: Option<&'a mut Node<K, V>>,
    remaining: usize,
}

impl<'a, K, V> Iterator for IterMut<'a, K, V> {
    type Item = (&'a K, &'a mut V);

    fn next(&mut self) -> Option<Self::Item> {
        chain_next(
            &mut self.node,
            &mut self.remaining,
            &mut self.buckets,
            |slot| slot.as_deref_mut(),
            |n| (n.next.as_deref_mut(), (&n.key, &mut n.value)),
        )
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl<K, V> ExactSizeIterator for IterMut<'_, K, V> {}
impl<K, V> FusedIterator for IterMut<'_, K, V> {}

/// Owning iterator over `(K, V)`, from [`Dict::drain`] or `into_iter`.
pub struct IntoIter<K, V> {
    buckets: VecChain<K, V>,
    node: Link<K, V>,
    remaining: usize,
}

impl<K, V> Iterator for IntoIter<K, V> {
    type Item = (K, V);

    fn next(&mut self) -> Option<Self::Item> {
        chain_next(
            &mut self.node,
            &mut self.remaining,
            &mut self.buckets,
            |slot| slot,
            |n| {
                let Node { key, value, next } = *n;
                (next, (key, value))
            },
        )
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl<K, V> ExactSizeIterator for IntoIter<K, V> {}
impl<K, V> FusedIterator for IntoIter<K, V> {}

impl<K, V> Drop for IntoIter<K, V> {
    fn drop(&mut self) {
        free_chain(self.node.take());
        if self.remaining > 0 {
            for slot in self.buckets.by_ref() {
                free_chain(slot);
            }
        }
    }
}

impl<K, V> IntoIterator for Dict<K, V> {
    type Item = (K, V);
    type IntoIter = IntoIter<K, V>;

    fn into_iter(mut self) -> IntoIter<K, V> {
        self.drain()
    }
}

impl<'a, K, V> IntoIterator for &'a Dict<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = Iter<'a, K, V>;

    fn into_iter(self) -> Iter<'a, K, V> {
        self.iter()
    }
}

impl<'a, K, V> IntoIterator for &'a mut Dict<K, V> {
    type Item = (&'a K, &'a mut V);
    type IntoIter = IterMut<'a, K, V>;

    fn into_iter(self) -> IterMut<'a, K, V> {
        self.iter_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::{HashMap, HashSet};

    fn key(i: u64) -> Box<[u8]> {
        format!("key:{i}").into_bytes().into_boxed_slice()
    }

    /// splitmix64
    fn rng(seed: u64) -> impl FnMut() -> u64 {
        let mut s = seed;
        move || {
            s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
    }

    /// Inserts fresh keys until a grow is in progress.
    fn start_grow(d: &mut Dict<u64, u64>, next: &mut u64) {
        while !d.is_rehashing() {
            d.insert(*next, *next);
            *next += 1;
        }
    }

    /// `n` keys in a settled table, then fresh keys until the next grow is in progress; also
    /// the next fresh key.
    fn growing(n: u64) -> (Dict<u64, u64>, u64) {
        let mut d: Dict<u64, u64> = (0..n).map(|i| (i, i)).collect();
        while d.rehash_steps(100) {}
        let mut next = n;
        start_grow(&mut d, &mut next);
        (d, next)
    }

    #[test]
    fn insert_get_remove_across_resizes() {
        let mut d: Dict<u64, u64> = Dict::new();
        assert_eq!(d.bucket_count(), 0);
        assert_eq!(d.get(&1), None);
        const N: u64 = 100_000;
        for i in 0..N {
            assert_eq!(d.insert(i, i * 2), None);
            if i % 9973 == 0 {
                d.check_invariants();
            }
        }
        assert_eq!(d.len(), N as usize);
        for i in 0..N {
            assert_eq!(d.get(&i), Some(&(i * 2)));
        }
        assert_eq!(d.get(&N), None);
        assert_eq!(d.insert(5, 7), Some(10));
        assert_eq!(d.get(&5), Some(&7));
        *d.get_mut(&5).unwrap() = 10;
        for i in (0..N).step_by(2) {
            assert_eq!(d.remove(&i), Some(i * 2));
            assert_eq!(d.remove(&i), None);
        }
        d.check_invariants();
        assert_eq!(d.len(), N as usize / 2);
        for i in 0..N {
            assert_eq!(d.contains_key(&i), i % 2 == 1);
        }
        for i in (1..N).step_by(2) {
            assert_eq!(d.remove_entry(&i), Some((i, i * 2)));
        }
        assert!(d.is_empty());
        while d.rehash_steps(100) {}
        d.shrink_if_needed();
        while d.rehash_steps(100) {}
        d.check_invariants();
        assert_eq!(d.bucket_count(), INITIAL_SIZE);
    }

    #[test]
    fn sizes_follow_policy() {
        let mut d: Dict<u64, ()> = Dict::new();
        d.insert(0, ());
        assert_eq!(d.bucket_count(), 4);
        for i in 1..4 {
            d.insert(i, ());
        }
        assert_eq!(d.bucket_count(), 4);
        d.insert(4, ()); // used == size -> grow to 8
        assert!(d.is_rehashing());
        while d.rehash_steps(1) {}
        assert_eq!(d.bucket_count(), 8);
        let d2: Dict<u64, ()> = Dict::with_capacity(100);
        assert_eq!(d2.bucket_count(), 128);
        let mut d3: Dict<u64, ()> = Dict::with_capacity(100);
        for i in 0..128 {
            d3.insert(i, ());
        }
        assert!(!d3.is_rehashing());
        assert_eq!(d3.bucket_count(), 128);
        // shrink: 128 buckets, 12 used (< 10%) -> 32
        for i in 12..128 {
            d3.remove(&i);
        }
        while d3.rehash_steps(10) {}
        assert_eq!(d3.bucket_count(), 32);
        d3.check_invariants();
        let mut d4: Dict<u64, ()> = Dict::new();
        d4.reserve(1000);
        assert_eq!(d4.bucket_count(), 1024);
    }

    #[test]
    fn borrowed_byte_slice_keys() {
        let mut d: Dict<Box<[u8]>, u32> = Dict::new();
        d.insert(Box::from(&b"foo"[..]), 1);
        assert_eq!(d.get(&b"foo"[..]), Some(&1));
        assert_eq!(d.get(&b"bar"[..]), None);
        let calls = std::cell::Cell::new(0);
        let (v, inserted) = d.get_or_insert_with(
            &b"bar"[..],
            || {
                calls.set(calls.get() + 1);
                Box::from(&b"bar"[..])
            },
            || 5,
        );
        assert!(inserted);
        *v += 1;
        let (v, inserted) = d.get_or_insert_with(&b"bar"[..], || unreachable!(), || 0);
        assert!(!inserted);
        assert_eq!(*v, 6);
        assert_eq!(calls.get(), 1);
        let (k, v) = d.get_key_value(&b"bar"[..]).unwrap();
        assert_eq!((&**k, *v), (&b"bar"[..], 6));
        assert_eq!(
            d.remove_entry(&b"foo"[..]),
            Some((Box::from(&b"foo"[..]), 1))
        );
        assert_eq!(d.len(), 1);
    }

    #[test]
    fn replace_keeps_stored_key() {
        // Keys equal by id, distinguishable by tag.
        #[derive(Debug)]
        struct K(u32, &'static str);
        impl PartialEq for K {
            fn eq(&self, o: &Self) -> bool {
                self.0 == o.0
            }
        }
        impl Eq for K {}
        impl Hash for K {
            fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
                self.0.hash(h)
            }
        }
        let mut d = Dict::new();
        d.insert(K(1, "first"), 1);
        assert_eq!(d.insert(K(1, "second"), 2), Some(1));
        let (k, v) = d.get_key_value(&K(1, "")).unwrap();
        assert_eq!((k.1, *v), ("first", 2));
    }

    #[test]
    fn operations_during_rehash() {
        let (mut d, mut next) = growing(1000);
        let mut model: HashMap<u64, u64> = d.iter().map(|(k, v)| (*k, *v)).collect();
        assert_eq!(model.len(), d.len());

        // Lookups through &self don't advance the rehash.
        let before = d.rehash_idx;
        for k in model.keys() {
            assert_eq!(d.get(k), Some(k));
        }
        assert_eq!(d.rehash_idx, before);
        let mut scanned = HashSet::new();
        let mut c = 0;
        loop {
            c = d.scan(c, |k, _| {
                scanned.insert(*k);
            });
            if c == 0 {
                break;
            }
        }
        assert_eq!(scanned.len(), model.len());
        assert_eq!(d.rehash_idx, before);

        let mut r = rng(7);
        let mut ops_while_rehashing = 0;
        while d.is_rehashing() {
            ops_while_rehashing += 1;
            match r() % 4 {
                0 => {
                    d.insert(next, next);
                    model.insert(next, next);
                    next += 1;
                }
                1 => {
                    let k = r() % next;
                    assert_eq!(d.remove(&k), model.remove(&k));
                }
                2 => {
                    let k = r() % next;
                    assert_eq!(d.get_mut(&k).map(|v| *v), model.get(&k).copied());
                }
                _ => {
                    let k = r() % (next + 10);
                    let (v, ins) = d.get_or_insert_with(&k, || k, || 0);
                    assert_eq!(ins, !model.contains_key(&k));
                    assert_eq!(*v, *model.entry(k).or_insert(0));
                }
            }
            d.check_invariants();
            assert_eq!(d.len(), model.len());
            for (k, v) in &model {
                assert_eq!(d.get(k), Some(v));
            }
        }
        assert!(ops_while_rehashing > 100);
        d.check_invariants();
    }

    #[test]
    fn rehash_steps_finish() {
        let (mut d, next) = growing(5000);
        assert!(d.rehash_steps(0));
        assert!(d.rehash_steps(10));
        d.check_invariants();
        while d.rehash_steps(10) {}
        assert!(!d.is_rehashing());
        d.check_invariants();
        assert_eq!(d.len(), next as usize);
    }

    #[test]
    fn iterators() {
        let mut d: Dict<u64, u64> = (0..1000).map(|i| (i, i)).collect();
        let mut next = 1000;
        start_grow(&mut d, &mut next);
        let n = d.len();
        assert_eq!(d.iter().len(), n);
        assert_eq!(d.iter().count(), n);
        let keys: HashSet<u64> = d.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys.len(), n);
        for (k, v) in d.iter_mut() {
            *v = k + 1;
        }
        for (k, v) in &d {
            assert_eq!(*v, k + 1);
        }
        let c = d.clone();
        c.check_invariants();
        assert_eq!(c.len(), n);
        let mut drained: Vec<(u64, u64)> = d.drain().collect();
        assert!(d.is_empty());
        assert_eq!(d.bucket_count(), 0);
        drained.sort_unstable();
        assert_eq!(drained.len(), n);
        assert!(drained.iter().all(|(k, v)| *v == k + 1));
        // Partially consumed drain.
        let mut it = c.clone().into_iter();
        assert!(it.next().is_some());
        assert_eq!(it.len(), n - 1);
        drop(it);
        d.insert(1, 1);
        assert_eq!(d.get(&1), Some(&1));
        assert_eq!(format!("{d:?}"), "{1: 1}");
    }

    #[test]
    fn retain_removes_and_shrinks() {
        let mut d: Dict<u64, u64> = (0..10_000).map(|i| (i, i)).collect();
        let mut next = 10_000;
        start_grow(&mut d, &mut next);
        d.retain(|k, v| {
            *v += 1;
            k % 3 == 0
        });
        d.check_invariants();
        for i in 0..next {
            assert_eq!(d.get(&i).copied(), (i % 3 == 0).then_some(i + 1));
        }
        while d.rehash_steps(100) {}
        d.retain(|k, _| k % 300 == 0);
        d.check_invariants();
        while d.rehash_steps(100) {}
        let expect = (0..next).filter(|k| k % 300 == 0).count();
        assert_eq!(d.len(), expect);
        assert!(d.bucket_count() <= table_size_for(expect * 2));
        d.retain(|_, _| false);
        assert!(d.is_empty());
        d.check_invariants();
    }

    #[test]
    fn random_and_sample_return_live_entries() {
        let mut d: Dict<u64, u64> = Dict::new();
        let mut r = rng(42);
        assert!(d.random_entry(&mut r).is_none());
        assert!(d.sample(10, &mut r).is_empty());
        let mut model = HashMap::new();
        let mut next = 0;
        for _ in 0..3000 {
            d.insert(next, next * 3);
            model.insert(next, next * 3);
            next += 1;
        }
        for i in (0..3000).filter(|i| i % 4 != 0) {
            d.remove(&i);
            model.remove(&i);
        }
        let check = |d: &Dict<u64, u64>, model: &HashMap<u64, u64>, r: &mut dyn FnMut() -> u64| {
            let mut r = r;
            for _ in 0..500 {
                let (k, v) = d.random_entry(&mut r).unwrap();
                assert_eq!(model.get(k), Some(v));
            }
            for count in [1, 5, 20, 100] {
                // Like dictGetSomeKeys, one call may come back short or empty.
                let mut total = 0;
                for _ in 0..200 {
                    let s = d.sample(count, &mut r);
                    assert!(s.len() <= count);
                    total += s.len();
                    for (k, v) in s {
                        assert_eq!(model.get(k), Some(v));
                    }
                }
                assert!(total > 0);
            }
        };
        check(&d, &model, &mut r);
        // While growing.
        while d.rehash_steps(100) {}
        while !d.is_rehashing() {
            d.insert(next, next * 3);
            model.insert(next, next * 3);
            next += 1;
        }
        check(&d, &model, &mut r);
        // While shrinking.
        while d.rehash_steps(100) {}
        let keys: Vec<u64> = model.keys().copied().collect();
        for k in keys.iter().skip(40) {
            d.remove(k);
            model.remove(k);
        }
        assert!(d.is_rehashing());
        d.check_invariants();
        check(&d, &model, &mut r);
        // A degenerate rand still terminates.
        let mut zero = || 0u64;
        let (k, v) = d.random_entry(&mut zero).unwrap();
        assert_eq!(model.get(k), Some(v));
        let _ = d.sample(10, &mut zero);
        // Small dict: every entry is eventually returned.
        let small: Dict<u64, u64> = (0..10).map(|i| (i, i)).collect();
        let mut seen = HashSet::new();
        for _ in 0..10_000 {
            seen.insert(*small.random_entry(&mut r).unwrap().0);
        }
        assert_eq!(seen.len(), 10);
        assert_eq!(small.sample(50, &mut r).len(), 10);
    }

    #[test]
    fn colliding_keys() {
        #[derive(PartialEq, Eq, Clone, Debug)]
        struct C(u32);
        impl Hash for C {
            fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
                (self.0 % 3).hash(h)
            }
        }
        let mut d = Dict::new();
        for i in 0..2000 {
            d.insert(C(i), i);
        }
        d.check_invariants();
        for i in (0..2000).step_by(3) {
            assert_eq!(d.remove(&C(i)), Some(i));
        }
        for i in 0..2000 {
            assert_eq!(d.get(&C(i)).is_some(), i % 3 != 0);
        }
        d.retain(|k, _| k.0 % 2 == 0);
        d.check_invariants();
        let mut r = rng(1);
        for _ in 0..100 {
            let (k, v) = d.random_entry(&mut r).unwrap();
            assert_eq!(k.0, *v);
        }
        // Only two non-empty buckets: sampling may miss them, but whatever it
        // returns must be live.
        for _ in 0..50 {
            let s = d.sample(30, &mut r);
            assert!(s.len() <= 30);
            assert!(s
                .iter()
                .all(|(k, v)| k.0 == **v && k.0 % 3 != 0 && k.0 % 2 == 0));
        }
    }

    /// A dict whose first bucket holds one chain of `n` nodes (bypasses
    /// hashing; only valid for drop/iteration tests).
    fn long_chain(n: u64) -> Dict<u64, u64> {
        let mut d = Dict::new();
        d.tables[0] = Table::with_size(4);
        let mut head = None;
        for i in 0..n {
            head = Some(Box::new(Node {
                key: i,
                value: i,
                next: head,
            }));
        }
        d.tables[0].buckets[0] = head;
        d.tables[0].used = n as usize;
        d
    }

    #[test]
    fn drop_does_not_recurse() {
        let mut d: Dict<u64, u64> = Dict::new();
        for i in 0..1_000_000 {
            d.insert(i, i);
        }
        drop(d);
        drop(long_chain(1_000_000));
        let mut c = long_chain(1_000_000);
        c.clear();
        assert!(c.is_empty());
        let mut it = long_chain(1_000_000).into_iter();
        assert_eq!(it.next(), Some((999_999, 999_999)));
        drop(it);
        let mut c = long_chain(1_000_000);
        assert_eq!(c.iter().count(), 1_000_000);
        c.tables[0].retain(&mut |k, _| k % 2 == 0);
        assert_eq!(c.len(), 500_000);
    }

    #[test]
    fn overhead_grows() {
        let mut d: Dict<u64, u64> = Dict::new();
        assert_eq!(d.overhead_bytes(), 0);
        d.insert(1, 1);
        let one = d.overhead_bytes();
        assert_eq!(one, 4 * 8 + mem::size_of::<Node<u64, u64>>());
        for i in 0..100 {
            d.insert(i, i);
        }
        assert!(d.overhead_bytes() > one);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u16, u32),
        Remove(u16),
        Get(u16),
        GetMut(u16, u32),
        GetOrInsert(u16, u32),
        Retain(u16),
        Rehash(usize),
        Shrink,
        Clear,
    }

    fn op() -> impl Strategy<Value = Op> {
        let k = 0u16..1024;
        prop_oneof![
            20 => (k.clone(), any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
            12 => k.clone().prop_map(Op::Remove),
            5 => k.clone().prop_map(Op::Get),
            3 => (k.clone(), any::<u32>()).prop_map(|(k, v)| Op::GetMut(k, v)),
            5 => (k, any::<u32>()).prop_map(|(k, v)| Op::GetOrInsert(k, v)),
            1 => (2u16..50).prop_map(Op::Retain),
            2 => (0usize..64).prop_map(Op::Rehash),
            1 => Just(Op::Shrink),
            1 => Just(Op::Clear),
        ]
    }

    fn bkey(k: u16) -> Vec<u8> {
        key(k as u64).into_vec()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn matches_hashmap_model(ops in prop::collection::vec(op(), 1..1500)) {
            let mut d: Dict<Box<[u8]>, u32> = Dict::new();
            let mut m: HashMap<Vec<u8>, u32> = HashMap::new();
            for (i, op) in ops.into_iter().enumerate() {
                match op {
                    Op::Insert(k, v) => {
                        let k = bkey(k);
                        prop_assert_eq!(d.insert(k.clone().into(), v), m.insert(k, v));
                    }
                    Op::Remove(k) => {
                        let k = bkey(k);
                        prop_assert_eq!(d.remove(&k[..]), m.remove(&k));
                    }
                    Op::Get(k) => {
                        let k = bkey(k);
                        prop_assert_eq!(d.get(&k[..]), m.get(&k));
                        prop_assert_eq!(d.contains_key(&k[..]), m.contains_key(&k));
                    }
                    Op::GetMut(k, v) => {
                        let k = bkey(k);
                        if let Some(x) = d.get_mut(&k[..]) {
                            *x = v;
                        }
                        if let Some(x) = m.get_mut(&k) {
                            *x = v;
                        }
                    }
                    Op::GetOrInsert(k, v) => {
                        let k = bkey(k);
                        let (x, ins) = d.get_or_insert_with(&k[..], || k.clone().into(), || v);
                        prop_assert_eq!(ins, !m.contains_key(&k));
                        let y = m.entry(k).or_insert(v);
                        prop_assert_eq!(*x, *y);
                    }
                    Op::Retain(n) => {
                        let keep = |k: &[u8], v: u32| !(k.len() as u32).wrapping_add(v).is_multiple_of(n as u32);
                        d.retain(|k, v| keep(k, *v));
                        m.retain(|k, v| keep(k, *v));
                    }
                    Op::Rehash(n) => {
                        prop_assert_eq!(d.rehash_steps(n), d.is_rehashing());
                    }
                    Op::Shrink => d.shrink_if_needed(),
                    Op::Clear => {
                        d.clear();
                        m.clear();
                    }
                }
                prop_assert_eq!(d.len(), m.len());
                if i % 64 == 0 {
                    d.check_invariants();
                }
            }
            d.check_invariants();
            let got: HashMap<Vec<u8>, u32> = d.iter().map(|(k, v)| (k.to_vec(), *v)).collect();
            prop_assert_eq!(got, m);
        }

        #[test]
        fn scan_returns_every_stable_element(
            stable in 1u64..400,
            ops in prop::collection::vec((0u8..5, 1usize..3000), 0..60),
        ) {
            let mut d: Dict<u64, ()> = Dict::new();
            for i in 0..stable {
                d.insert(i, ());
            }
            let mut churn: Vec<u64> = Vec::new();
            let mut next = 1u64 << 40;
            let mut ops = ops.into_iter();
            let mut seen = HashSet::new();
            let mut cursor = 0;
            let mut calls = 0u64;
            loop {
                cursor = d.scan(cursor, |k, _| {
                    seen.insert(*k);
                });
                calls += 1;
                prop_assert!(calls < 10_000_000);
                if cursor == 0 {
                    break;
                }
                let Some((kind, n)) = ops.next() else { continue };
                match kind {
                    // Grow.
                    0 => {
                        for _ in 0..n {
                            d.insert(next, ());
                            churn.push(next);
                            next += 1;
                        }
                    }
                    // Remove some churn.
                    1 => {
                        for _ in 0..n.min(churn.len()) {
                            let k = churn.pop().unwrap();
                            prop_assert!(d.remove(&k).is_some());
                        }
                        d.shrink_if_needed();
                    }
                    2 => {
                        d.rehash_steps(n % 50);
                    }
                    // Remove all churn, forcing shrinks.
                    3 => {
                        for k in churn.drain(..) {
                            d.remove(&k);
                        }
                        d.shrink_if_needed();
                    }
                    // Grow then shrink in one go.
                    _ => {
                        for i in 0..n as u64 {
                            d.insert(next + i, ());
                        }
                        for i in 0..n as u64 {
                            d.remove(&(next + i));
                        }
                        next += n as u64;
                        d.shrink_if_needed();
                    }
                }
            }
            for i in 0..stable {
                prop_assert!(seen.contains(&i), "missing {}", i);
            }
            d.check_invariants();
        }
    }

    #[test]
    fn scan_across_grow_and_shrink() {
        let mut d: Dict<u64, ()> = (0..100).map(|i| (i, ())).collect();
        while d.rehash_steps(10) {}
        let mut seen = HashSet::new();
        let mut cursor = 0;
        let mut step = |d: &Dict<u64, ()>, cursor: &mut u64| {
            *cursor = d.scan(*cursor, |k, _| {
                seen.insert(*k);
            });
        };
        for _ in 0..10 {
            step(&d, &mut cursor);
        }
        assert_ne!(cursor, 0);
        // Grow 128 -> 4096+ buckets; scan some while rehashing.
        let small = d.bucket_count();
        let mut scanned_while_rehashing = 0;
        for i in 0..3000 {
            d.insert(1_000_000 + i, ());
            if i % 97 == 0 && d.is_rehashing() && cursor != 0 {
                step(&d, &mut cursor);
                scanned_while_rehashing += 1;
            }
        }
        assert!(scanned_while_rehashing > 0);
        while d.rehash_steps(10) {}
        let grown = d.bucket_count();
        assert!(grown > small);
        for _ in 0..5 {
            if cursor != 0 {
                step(&d, &mut cursor);
            }
        }
        // Shrink back; scan while the shrink rehash is in progress.
        for i in 0..3000 {
            d.remove(&(1_000_000 + i));
        }
        d.shrink_if_needed();
        let mut shrink_steps = 0;
        while cursor != 0 {
            step(&d, &mut cursor);
            if d.rehash_steps(1) {
                shrink_steps += 1;
            }
        }
        assert!(shrink_steps > 0);
        while d.rehash_steps(10) {}
        assert!(d.bucket_count() < grown);
        assert!((0..100).all(|i| seen.contains(&i)));
    }

    #[test]
    fn scan_without_changes_returns_each_once_when_stable() {
        let d: Dict<u64, ()> = (0..5000).map(|i| (i, ())).collect();
        let mut seen = Vec::new();
        let mut c = 0;
        loop {
            c = d.scan(c, |k, _| seen.push(*k));
            if c == 0 {
                break;
            }
        }
        if !d.is_rehashing() {
            assert_eq!(seen.len(), 5000);
        }
        let set: HashSet<u64> = seen.into_iter().collect();
        assert_eq!(set.len(), 5000);
    }
}
