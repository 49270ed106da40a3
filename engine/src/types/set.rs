//! Set values: an `intset` (sorted i64s) while every member is an integer and the set is at most
//! `set-max-intset-entries`, else a `hashtable` — Redis 7.0's encodings, so SMEMBERS of small
//! integer sets comes back sorted as Redis's does.

use crate::dict::Dict;
use crate::key::Key;
use crate::util::canonical_i64;

#[derive(Clone)]
pub enum Set {
    Intset(Vec<i64>),
    Table(Dict<Key, ()>),
}

/// An empty intset, as Redis's `createIntsetObject`: the start of every computed set (SUNION,
/// SDIFF, SINTERSTORE results), which turns into a hashtable as members require.
impl Default for Set {
    fn default() -> Self {
        Set::Intset(Vec::new())
    }
}

impl Set {
    /// An empty set shaped for its first member, as Redis's `setTypeCreate`.
    pub fn for_member(member: &[u8]) -> Self {
        if canonical_i64(member).is_some() {
            Set::Intset(Vec::new())
        } else {
            Set::Table(Dict::new())
        }
    }

    pub fn encoding_name(&self) -> &'static str {
        match self {
            Set::Intset(_) => "intset",
            Set::Table(_) => "hashtable",
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Set::Intset(v) => v.len(),
            Set::Table(d) => d.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        match self {
            Set::Intset(v) => canonical_i64(member).is_some_and(|n| v.binary_search(&n).is_ok()),
            Set::Table(d) => d.contains_key(member),
        }
    }

    /// Adds a member; returns true when it was not there. `max_intset` is
    /// `set-max-intset-entries`.
    pub fn add(&mut self, member: &[u8], max_intset: usize) -> bool {
        if let Set::Intset(v) = self {
            match canonical_i64(member) {
                Some(n) => match v.binary_search(&n) {
                    Ok(_) => return false,
                    Err(pos) => {
                        v.insert(pos, n);
                        if v.len() > max_intset {
                            self.convert_to_table();
                        }
                        return true;
                    }
                },
                None => self.convert_to_table(),
            }
        }
        match self {
            Set::Table(d) => {
                let (_, inserted) = d.get_or_insert_with(member, || member.into(), || ());
                inserted
            }
            Set::Intset(_) => unreachable!("converted above"),
        }
    }

    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self {
            Set::Intset(v) => match canonical_i64(member).map(|n| v.binary_search(&n)) {
                Some(Ok(pos)) => {
                    v.remove(pos);
                    true
                }
                _ => false,
            },
            Set::Table(d) => d.remove(member).is_some(),
        }
    }

    /// Visits every member (ascending for intsets).
    pub fn for_each(&self, mut f: impl FnMut(&[u8])) {
        match self {
            Set::Intset(v) => {
                let mut buf = itoa::Buffer::new();
                v.iter().for_each(|n| f(buf.format(*n).as_bytes()))
            }
            Set::Table(d) => d.iter().for_each(|(k, _)| f(k)),
        }
    }

    pub fn members(&self) -> Vec<Vec<u8>> {
        let mut out = Vec::with_capacity(self.len());
        self.for_each(|m| out.push(m.to_vec()));
        out
    }

    /// One random member.
    pub fn random_member(&self, rand: &mut impl FnMut() -> u64) -> Option<Vec<u8>> {
        match self {
            Set::Intset(v) if v.is_empty() => None,
            Set::Intset(v) => {
                let n = v[(rand() % v.len() as u64) as usize];
                Some(itoa::Buffer::new().format(n).as_bytes().to_vec())
            }
            Set::Table(d) => d.random_entry(rand).map(|(k, _)| k.to_vec()),
        }
    }

    /// Removes and returns one random member (SPOP).
    pub fn pop_random(&mut self, rand: &mut impl FnMut() -> u64) -> Option<Vec<u8>> {
        let member = self.random_member(rand)?;
        self.remove(&member);
        Some(member)
    }

    /// `count` distinct random members, `count` below the cardinality (SRANDMEMBER with a
    /// positive count smaller than the set). Intsets pick positions; hashtables pick random
    /// entries while `count` is a small share of the set and otherwise sample the whole table,
    /// like Redis's two strategies.
    pub fn random_distinct(&self, count: usize, rand: &mut impl FnMut() -> u64) -> Vec<Vec<u8>> {
        match self {
            Set::Intset(v) => {
                let mut buf = itoa::Buffer::new();
                distinct_indices(v.len(), count, rand)
                    .into_iter()
                    .map(|i| buf.format(v[i]).as_bytes().to_vec())
                    .collect()
            }
            Set::Table(d) => distinct_entries(d, count, rand, |k, _| k.to_vec()),
        }
    }

    /// SSCAN: an intset is returned whole with cursor 0, as Redis does.
    pub fn scan(&self, cursor: u64, mut f: impl FnMut(&[u8])) -> u64 {
        match self {
            Set::Intset(_) => {
                self.for_each(f);
                0
            }
            Set::Table(d) => d.scan(cursor, |k, _| f(k)),
        }
    }

    fn convert_to_table(&mut self) {
        if let Set::Intset(v) = self {
            let mut d = Dict::with_capacity(v.len());
            let mut buf = itoa::Buffer::new();
            for n in v.iter() {
                d.insert(Key::new(buf.format(*n).as_bytes()), ());
            }
            *self = Set::Table(d);
        }
    }

    pub fn approx_bytes(&self) -> usize {
        match self {
            Set::Intset(v) => v.capacity() * 8,
            Set::Table(d) => d.iter().map(|(k, _)| k.len() + 24).sum(),
        }
    }
}

/// `k` distinct positions out of `0..n` (k <= n), ascending, chosen uniformly (Floyd's
/// algorithm: k random draws, no rejection loop).
pub fn distinct_indices(n: usize, k: usize, rand: &mut impl FnMut() -> u64) -> Vec<usize> {
    let k = k.min(n);
    let mut chosen = std::collections::HashSet::with_capacity(k);
    for j in n - k..n {
        let t = (rand() % (j as u64 + 1)) as usize;
        if !chosen.insert(t) {
            chosen.insert(j);
        }
    }
    let mut out: Vec<usize> = chosen.into_iter().collect();
    out.sort_unstable();
    out
}

/// `count` distinct entries of a hashtable (`count` below its length), mapped by `f`, by
/// Redis's two strategies: while `count` is a small share of the table, random entries with
/// repeats skipped; otherwise positions sampled from the whole table, where repeats would
/// make random picking slow.
pub fn distinct_entries<V, T>(
    d: &Dict<Key, V>,
    count: usize,
    rand: &mut impl FnMut() -> u64,
    f: impl Fn(&Key, &V) -> T,
) -> Vec<T> {
    if count.saturating_mul(3) > d.len() {
        let all: Vec<(&Key, &V)> = d.iter().collect();
        return distinct_indices(all.len(), count, rand)
            .into_iter()
            .map(|i| f(all[i].0, all[i].1))
            .collect();
    }
    let mut seen = std::collections::HashSet::with_capacity(count);
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        match d.random_entry(rand) {
            Some((k, v)) if seen.insert(&**k) => out.push(f(k, v)),
            Some(_) => {}
            None => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intset_until_a_string_or_too_many() {
        let mut s = Set::for_member(b"3");
        assert!(s.add(b"3", 4));
        assert!(s.add(b"1", 4));
        assert!(!s.add(b"1", 4));
        assert_eq!(s.members(), vec![b"1".to_vec(), b"3".to_vec()]);
        assert_eq!(s.encoding_name(), "intset");
        s.add(b"x", 4);
        assert_eq!(s.encoding_name(), "hashtable");
        assert!(s.contains(b"3") && s.contains(b"x"));
        let mut t = Set::for_member(b"1");
        for i in 0..5 {
            t.add(i.to_string().as_bytes(), 4);
        }
        assert_eq!(t.encoding_name(), "hashtable");
        assert!(t.remove(b"4"));
        assert_eq!(t.len(), 4);
    }

    fn counter_rand() -> impl FnMut() -> u64 {
        let mut rng = crate::util::Rng::seeded();
        move || rng.next_u64()
    }

    #[test]
    fn distinct_indices_are_distinct_sorted_and_in_range() {
        let mut rand = counter_rand();
        for (n, k) in [(0, 0), (1, 1), (10, 3), (10, 10), (100, 99), (5, 9)] {
            let idx = distinct_indices(n, k, &mut rand);
            assert_eq!(idx.len(), k.min(n));
            assert!(idx.windows(2).all(|w| w[0] < w[1]));
            assert!(idx.iter().all(|&i| i < n));
        }
    }

    #[test]
    fn random_distinct_and_pop_in_both_encodings() {
        let mut rand = counter_rand();
        let mut ints = Set::default();
        let mut strs = Set::default();
        for i in 0..100 {
            ints.add(i.to_string().as_bytes(), 512);
            strs.add(format!("m{i}").as_bytes(), 512);
        }
        assert_eq!(
            (ints.encoding_name(), strs.encoding_name()),
            ("intset", "hashtable")
        );
        for set in [&ints, &strs] {
            for count in [1, 10, 40, 99] {
                let picked = set.random_distinct(count, &mut rand);
                let unique: std::collections::HashSet<_> = picked.iter().collect();
                assert_eq!((picked.len(), unique.len()), (count, count));
                assert!(picked.iter().all(|m| set.contains(m)));
            }
        }
        let popped = strs.pop_random(&mut rand).unwrap_or_default();
        assert!(!strs.contains(&popped));
        assert_eq!(strs.len(), 99);
        let mut empty = Set::default();
        assert_eq!(empty.pop_random(&mut rand), None);
    }
}
