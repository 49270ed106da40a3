//! Set values: an `intset` (sorted i64s) while every member is an integer and the set is at most
//! `set-max-intset-entries`, else a `hashtable` — Redis 7.0's encodings, so SMEMBERS of small
//! integer sets comes back sorted as Redis's does.

use crate::dict::Dict;
use crate::util::canonical_i64;

pub enum Set {
    Intset(Vec<i64>),
    Table(Dict<Box<[u8]>, ()>),
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
                d.insert(Box::from(buf.format(*n).as_bytes()), ());
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
}
