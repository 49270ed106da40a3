//! Hash values: a `listpack` (insertion-ordered pairs, scanned linearly) while small, a
//! `hashtable` once it passes `hash-max-listpack-entries` or a field/value passes
//! `hash-max-listpack-value` — the same encodings and thresholds as Redis 7, so ordering of
//! HGETALL on small hashes matches Redis's.

use super::listpack::{Listpack, LpStr};
use super::set::{distinct_entries, distinct_indices};
use crate::dict::Dict;
use crate::key::Key;

/// The conversion thresholds (runtime CONFIG values).
#[derive(Clone, Copy, Debug)]
pub struct HashLimits {
    pub max_listpack_entries: usize,
    pub max_listpack_value: usize,
}

/// A hash: a packed listpack of alternating fields and values while small, a hashtable once
/// large (boxed, so the value stored under a key stays two words).
#[derive(Clone)]
pub enum Hash {
    Listpack(Listpack),
    Table(Box<Dict<Key, Box<[u8]>>>),
}

impl Default for Hash {
    fn default() -> Self {
        Hash::Listpack(Listpack::default())
    }
}

impl Hash {
    pub fn encoding_name(&self) -> &'static str {
        match self {
            Hash::Listpack(_) => "listpack",
            Hash::Table(_) => "hashtable",
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Hash::Listpack(lp) => lp.len() / 2,
            Hash::Table(d) => d.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, field: &[u8]) -> Option<LpStr<'_>> {
        match self {
            Hash::Listpack(lp) => lp.pair_get(field),
            Hash::Table(d) => d.get(field).map(|v| LpStr::Slice(v)),
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        self.get(field).is_some()
    }

    /// Converts to a hashtable first if any of `sizes` (lengths of fields/values about to be
    /// written) passes the listpack value limit, as Redis's `hashTypeTryConversion` does.
    pub fn prepare_for_lengths(&mut self, sizes: impl Iterator<Item = usize>, limits: HashLimits) {
        if let Hash::Listpack(_) = self {
            let mut sizes = sizes;
            if sizes.any(|n| n > limits.max_listpack_value) {
                self.convert_to_table();
            }
        }
    }

    /// Sets a field; returns true when the field is new.
    pub fn set(&mut self, field: &[u8], value: &[u8], limits: HashLimits) -> bool {
        if field.len() > limits.max_listpack_value || value.len() > limits.max_listpack_value {
            self.convert_to_table();
        }
        let inserted = match self {
            Hash::Listpack(lp) => lp.pair_set(field, value),
            Hash::Table(d) => {
                let (slot, inserted) =
                    d.get_or_insert_with(field, || field.into(), || Box::from(&[][..]));
                *slot = value.into();
                inserted
            }
        };
        if let Hash::Listpack(lp) = self {
            if lp.len() / 2 > limits.max_listpack_entries {
                self.convert_to_table();
            }
        }
        inserted
    }

    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self {
            Hash::Listpack(lp) => lp.pair_remove(field),
            Hash::Table(d) => d.remove(field).is_some(),
        }
    }

    /// Visits every pair (insertion order for listpacks).
    pub fn for_each(&self, mut f: impl FnMut(&[u8], &[u8])) {
        match self {
            Hash::Listpack(lp) => {
                let mut it = lp.iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    f(&k, &v);
                }
            }
            Hash::Table(d) => d.iter().for_each(|(k, val)| f(k, val)),
        }
    }

    /// The pair at a position of a stable iteration order, for random picks.
    pub fn nth(&self, n: usize) -> Option<(LpStr<'_>, LpStr<'_>)> {
        match self {
            Hash::Listpack(lp) => {
                let mut it = lp.iter().skip(2 * n);
                Some((it.next()?, it.next()?))
            }
            Hash::Table(d) => d
                .iter()
                .nth(n)
                .map(|(k, val)| (LpStr::Slice(k), LpStr::Slice(val))),
        }
    }

    /// One random pair.
    pub fn random_pair(&self, rand: &mut impl FnMut() -> u64) -> Option<(LpStr<'_>, LpStr<'_>)> {
        match self {
            Hash::Listpack(_) => {
                let len = self.len();
                if len == 0 {
                    return None;
                }
                self.nth((rand() % len as u64) as usize)
            }
            Hash::Table(d) => d
                .random_entry(rand)
                .map(|(k, val)| (LpStr::Slice(k), LpStr::Slice(val))),
        }
    }

    /// `count` distinct random pairs, `count` below the length (HRANDFIELD with a positive
    /// count smaller than the hash). A listpack gives them in listpack order, as Redis's
    /// `lpRandomPairsUnique`; a hashtable picks random entries while `count` is a small share
    /// of the hash and otherwise samples the whole table.
    pub fn random_distinct(
        &self,
        count: usize,
        rand: &mut impl FnMut() -> u64,
    ) -> Vec<(Vec<u8>, Vec<u8>)> {
        match self {
            Hash::Listpack(_) => {
                let mut all = Vec::with_capacity(self.len());
                self.for_each(|k, v| all.push((k.to_vec(), v.to_vec())));
                let mut picked = distinct_indices(all.len(), count, rand);
                picked.sort_unstable();
                let mut all: Vec<Option<(Vec<u8>, Vec<u8>)>> = all.into_iter().map(Some).collect();
                picked.into_iter().filter_map(|i| all[i].take()).collect()
            }
            Hash::Table(d) => distinct_entries(d, count, rand, |k, v| (k.to_vec(), v.to_vec())),
        }
    }

    /// HSCAN: a listpack is returned whole with cursor 0, as Redis does.
    pub fn scan(&self, cursor: u64, f: impl FnMut(&[u8], &[u8])) -> u64 {
        let mut f = f;
        match self {
            Hash::Listpack(_) => {
                self.for_each(f);
                0
            }
            Hash::Table(d) => d.scan(cursor, |k, v| f(k, v)),
        }
    }

    fn convert_to_table(&mut self) {
        if let Hash::Listpack(lp) = self {
            let mut d = Dict::with_capacity(lp.len() / 2);
            let mut it = lp.iter();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                d.insert(Key::new(&k), Box::from(&*v));
            }
            *self = Hash::Table(Box::new(d));
        }
    }

    /// Heap bytes held (MEMORY USAGE): the listpack's allocation, or the table's buckets, nodes
    /// and strings.
    pub fn approx_bytes(&self) -> usize {
        match self {
            Hash::Listpack(lp) => lp.bytes(),
            Hash::Table(d) => {
                let mut n = d.overhead_bytes();
                d.iter().for_each(|(k, v)| n += heap_key(k) + v.len());
                n
            }
        }
    }

    /// Allocations a free has to release (lazy-free effort, as Redis's `lazyfreeGetFreeEffort`).
    pub fn free_effort(&self) -> usize {
        match self {
            Hash::Listpack(_) => 1,
            Hash::Table(d) => d.len(),
        }
    }
}

/// Heap bytes of a key name (inline names take none).
fn heap_key(k: &Key) -> usize {
    match k {
        Key::Inline { .. } => 0,
        Key::Heap(b) => b.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: HashLimits = HashLimits {
        max_listpack_entries: 4,
        max_listpack_value: 8,
    };

    #[test]
    fn converts_on_size_and_on_long_values() {
        let mut h = Hash::default();
        for i in 0..4 {
            assert!(h.set(format!("f{i}").as_bytes(), b"v", LIMITS));
        }
        assert_eq!(h.encoding_name(), "listpack");
        assert!(!h.set(b"f0", b"w", LIMITS));
        assert_eq!(h.get(b"f0").as_deref(), Some(&b"w"[..]));
        h.set(b"f4", b"v", LIMITS);
        assert_eq!(h.encoding_name(), "hashtable");
        assert_eq!(h.len(), 5);
        let mut small = Hash::default();
        small.set(b"f", b"a-long-value", LIMITS);
        assert_eq!(small.encoding_name(), "hashtable");
        assert!(small.remove(b"f"));
        assert!(small.is_empty());
    }

    #[test]
    fn prepare_converts_before_writing_a_long_argument() {
        let mut h = Hash::default();
        h.prepare_for_lengths([1, 8, 2].into_iter(), LIMITS);
        assert_eq!(h.encoding_name(), "listpack");
        h.prepare_for_lengths([1, 9].into_iter(), LIMITS);
        assert_eq!(h.encoding_name(), "hashtable");
    }

    #[test]
    fn random_distinct_in_both_encodings() {
        let mut rng = crate::util::Rng::seeded();
        let mut rand = move || rng.next_u64();
        let big = HashLimits {
            max_listpack_entries: 1000,
            max_listpack_value: 64,
        };
        let mut small = Hash::default();
        let mut table = Hash::default();
        for i in 0..50 {
            small.set(format!("f{i}").as_bytes(), format!("v{i}").as_bytes(), big);
            table.set(
                format!("f{i}").as_bytes(),
                format!("v{i}").as_bytes(),
                LIMITS,
            );
        }
        assert_eq!(
            (small.encoding_name(), table.encoding_name()),
            ("listpack", "hashtable")
        );
        for h in [&small, &table] {
            for count in [1, 5, 30, 49] {
                let picked = h.random_distinct(count, &mut rand);
                let fields: std::collections::HashSet<_> = picked.iter().map(|p| &p.0).collect();
                assert_eq!((picked.len(), fields.len()), (count, count));
                assert!(picked
                    .iter()
                    .all(|(f, v)| h.get(f).as_deref() == Some(&v[..])));
            }
        }
        // Listpack picks keep listpack order.
        let picked = small.random_distinct(10, &mut rand);
        let pos: Vec<usize> = picked
            .iter()
            .map(|(f, _)| {
                let mut order = Vec::new();
                small.for_each(|k, _| order.push(k.to_vec()));
                order.iter().position(|k| *k == *f).unwrap_or(0)
            })
            .collect();
        assert!(pos.windows(2).all(|w| w[0] < w[1]));
    }
}
