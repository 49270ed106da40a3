//! Hash values: a `listpack` (insertion-ordered pairs, scanned linearly) while small, a
//! `hashtable` once it passes `hash-max-listpack-entries` or a field/value passes
//! `hash-max-listpack-value` — the same encodings and thresholds as Redis 7, so ordering of
//! HGETALL on small hashes matches Redis's.

use crate::dict::Dict;

/// The conversion thresholds (runtime CONFIG values).
#[derive(Clone, Copy, Debug)]
pub struct HashLimits {
    pub max_listpack_entries: usize,
    pub max_listpack_value: usize,
}

/// Field/value pairs in insertion order.
pub type Pairs = Vec<(Box<[u8]>, Box<[u8]>)>;

pub enum Hash {
    Listpack(Pairs),
    Table(Dict<Box<[u8]>, Box<[u8]>>),
}

impl Default for Hash {
    fn default() -> Self {
        Hash::Listpack(Vec::new())
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
            Hash::Listpack(v) => v.len(),
            Hash::Table(d) => d.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match self {
            Hash::Listpack(v) => v.iter().find(|(f, _)| &**f == field).map(|(_, v)| &**v),
            Hash::Table(d) => d.get(field).map(|v| &**v),
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
            self.convert_to_table_if_listpack();
        }
        let inserted = match self {
            Hash::Listpack(v) => {
                if let Some(slot) = v.iter_mut().find(|(f, _)| &**f == field) {
                    slot.1 = value.into();
                    false
                } else {
                    v.push((field.into(), value.into()));
                    true
                }
            }
            Hash::Table(d) => {
                let (slot, inserted) =
                    d.get_or_insert_with(field, || field.into(), || Box::from(&[][..]));
                *slot = value.into();
                inserted
            }
        };
        if let Hash::Listpack(v) = self {
            if v.len() > limits.max_listpack_entries {
                self.convert_to_table();
            }
        }
        inserted
    }

    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self {
            Hash::Listpack(v) => match v.iter().position(|(f, _)| &**f == field) {
                Some(i) => {
                    v.remove(i);
                    true
                }
                None => false,
            },
            Hash::Table(d) => d.remove(field).is_some(),
        }
    }

    /// Visits every pair (insertion order for listpacks).
    pub fn for_each(&self, mut f: impl FnMut(&[u8], &[u8])) {
        match self {
            Hash::Listpack(v) => v.iter().for_each(|(k, val)| f(k, val)),
            Hash::Table(d) => d.iter().for_each(|(k, val)| f(k, val)),
        }
    }

    /// The pair at a position of a stable iteration order, for random picks.
    pub fn nth(&self, n: usize) -> Option<(&[u8], &[u8])> {
        match self {
            Hash::Listpack(v) => v.get(n).map(|(k, val)| (&**k, &**val)),
            Hash::Table(d) => d.iter().nth(n).map(|(k, val)| (&**k, &**val)),
        }
    }

    /// One random pair.
    pub fn random_pair(&self, rand: &mut impl FnMut() -> u64) -> Option<(&[u8], &[u8])> {
        match self {
            Hash::Listpack(v) if v.is_empty() => None,
            Hash::Listpack(v) => {
                let i = (rand() % v.len() as u64) as usize;
                Some((&*v[i].0, &*v[i].1))
            }
            Hash::Table(d) => d.random_entry(rand).map(|(k, val)| (&**k, &**val)),
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

    fn convert_to_table_if_listpack(&mut self) {
        if let Hash::Listpack(_) = self {
            self.convert_to_table();
        }
    }

    fn convert_to_table(&mut self) {
        if let Hash::Listpack(v) = self {
            let mut d = Dict::with_capacity(v.len());
            for (k, val) in v.drain(..) {
                d.insert(k, val);
            }
            *self = Hash::Table(d);
        }
    }

    pub fn approx_bytes(&self) -> usize {
        let mut n = 0;
        self.for_each(|k, v| n += k.len() + v.len() + 32);
        n
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
        assert_eq!(h.get(b"f0"), Some(&b"w"[..]));
        h.set(b"f4", b"v", LIMITS);
        assert_eq!(h.encoding_name(), "hashtable");
        assert_eq!(h.len(), 5);
        let mut small = Hash::default();
        small.set(b"f", b"a-long-value", LIMITS);
        assert_eq!(small.encoding_name(), "hashtable");
        assert!(small.remove(b"f"));
        assert!(small.is_empty());
    }
}
