//! Key names as the keyspace stores them: names up to 22 bytes (the usual `ris:{term-42}` or
//! `rts:{term-42}:1234567890`) live inline in the dictionary node, longer ones on the heap.
//!
//! A lookup compares the searched name with the stored one; inline names are already in the
//! cache line the node brought in, which saves one cache miss per command, like Redis's
//! embedded key strings.

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

const INLINE: usize = 22;

#[derive(Clone)]
pub enum Key {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<[u8]>),
}

impl Key {
    pub fn new(name: &[u8]) -> Self {
        if name.len() <= INLINE {
            let mut bytes = [0u8; INLINE];
            bytes[..name.len()].copy_from_slice(name);
            Key::Inline {
                len: name.len() as u8,
                bytes,
            }
        } else {
            Key::Heap(name.into())
        }
    }
}

impl Deref for Key {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        match self {
            Key::Inline { len, bytes } => &bytes[..*len as usize],
            Key::Heap(b) => b,
        }
    }
}

impl Borrow<[u8]> for Key {
    #[inline]
    fn borrow(&self) -> &[u8] {
        self
    }
}

/// Hashes exactly as `[u8]` does, so lookups by `&[u8]` find the key (the `Borrow` contract).
impl Hash for Key {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        (**self).hash(state)
    }
}

impl PartialEq for Key {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for Key {}

impl From<&[u8]> for Key {
    fn from(name: &[u8]) -> Self {
        Key::new(name)
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_inline_long_ones_on_the_heap() {
        assert!(matches!(Key::new(b"ris:{term-42}"), Key::Inline { .. }));
        assert!(matches!(Key::new(&[b'k'; 23]), Key::Heap(_)));
        assert_eq!(&*Key::new(b""), b"");
        assert_eq!(&*Key::new(&[7u8; 22]), &[7u8; 22][..]);
        assert_eq!(std::mem::size_of::<Key>(), 24);
    }

    #[test]
    fn hashes_like_the_slice() {
        let s = ahash::RandomState::new();
        for name in [&b"a"[..], &[b'x'; 40][..]] {
            assert_eq!(s.hash_one(Key::new(name)), s.hash_one(name));
        }
    }
}
