//! String values with Redis's three encodings: `int` for canonical 64-bit integers, `embstr` for
//! short strings as set, and `raw` for long or in-place modified ones (APPEND, SETRANGE).

use crate::util::canonical_i64;

/// Strings up to this length are `embstr` in Redis.
const EMBSTR_MAX: usize = 44;

#[derive(Clone, Debug, PartialEq)]
pub enum StrValue {
    Int(i64),
    Embstr(Box<[u8]>),
    Raw(Vec<u8>),
}

impl StrValue {
    /// Stores bytes with the encoding Redis would pick for a fresh SET.
    pub fn from_bytes(b: &[u8]) -> Self {
        if b.len() <= 20 {
            if let Some(n) = canonical_i64(b) {
                return StrValue::Int(n);
            }
        }
        if b.len() <= EMBSTR_MAX {
            StrValue::Embstr(b.into())
        } else {
            StrValue::Raw(b.to_vec())
        }
    }

    /// Stores a value produced by an in-place edit; Redis keeps those `raw`.
    pub fn raw(b: Vec<u8>) -> Self {
        StrValue::Raw(b)
    }

    pub fn encoding_name(&self) -> &'static str {
        match self {
            StrValue::Int(_) => "int",
            StrValue::Embstr(_) => "embstr",
            StrValue::Raw(_) => "raw",
        }
    }

    /// Calls `f` with the value's bytes (formatting integers on the stack).
    #[inline]
    pub fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            StrValue::Int(n) => f(itoa::Buffer::new().format(*n).as_bytes()),
            StrValue::Embstr(b) => f(b),
            StrValue::Raw(b) => f(b),
        }
    }

    pub fn to_vec(&self) -> Vec<u8> {
        self.with_bytes(|b| b.to_vec())
    }

    pub fn len(&self) -> usize {
        match self {
            StrValue::Int(n) => itoa::Buffer::new().format(*n).len(),
            StrValue::Embstr(b) => b.len(),
            StrValue::Raw(b) => b.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value as an integer if it is one (INCR and friends).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            StrValue::Int(n) => Some(*n),
            StrValue::Embstr(b) => canonical_i64(b),
            StrValue::Raw(b) => canonical_i64(b),
        }
    }

    /// Turns the value into an owned growable buffer for in-place edits.
    pub fn make_raw(&mut self) -> &mut Vec<u8> {
        if !matches!(self, StrValue::Raw(_)) {
            *self = StrValue::Raw(self.to_vec());
        }
        match self {
            StrValue::Raw(v) => v,
            _ => unreachable!("just converted to raw"),
        }
    }

    pub fn approx_bytes(&self) -> usize {
        match self {
            StrValue::Int(_) => 0,
            StrValue::Embstr(b) => b.len(),
            StrValue::Raw(b) => b.capacity(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_follow_redis() {
        assert_eq!(StrValue::from_bytes(b"123").encoding_name(), "int");
        assert_eq!(StrValue::from_bytes(b"0123").encoding_name(), "embstr");
        assert_eq!(StrValue::from_bytes(&[b'a'; 44]).encoding_name(), "embstr");
        assert_eq!(StrValue::from_bytes(&[b'a'; 45]).encoding_name(), "raw");
        let mut v = StrValue::from_bytes(b"12");
        v.make_raw().push(b'3');
        assert_eq!(v.encoding_name(), "raw");
        assert_eq!(v.as_i64(), Some(123));
    }
}
