//! `Listpack`: a sequence of byte strings packed in one exact-size allocation, the compact
//! encoding of small hashes (Redis's `listpack.c`, simplified to what a forward-only reader
//! needs).
//!
//! Why: a small hash stored as a vector of boxed pairs costs two allocations per field plus the
//! vector; the service's hashes (15-20 short fields, mostly numbers) would use two to three times
//! Redis's memory. Packed, with integers stored in binary, they use less than Redis.
//!
//! Layout: a 2-byte little-endian entry count (`u16::MAX` = too many to count, walk instead),
//! then the entries. Each entry starts with a header byte:
//! - `0x00..=0x7f`: a string of that many bytes follows;
//! - `0x80..=0x87`: an integer of `header - 0x7f` bytes follows (little-endian, sign-extended),
//!   used only for canonical decimal integers (`"12"`, never `"012"`) whose binary form is
//!   shorter than their text, so the text is rebuilt exactly;
//! - `0x88`: a 4-byte little-endian length and that many bytes follow.
//!
//! An empty listpack owns no allocation. Every change reallocates to the exact size, as Redis's
//! listpack does (jemalloc resizes in place within a size class).

use std::ops::Deref;

use crate::util::canonical_i64;

const HEADER: usize = 2;
const SHORT_MAX: usize = 0x7f;
const INT_BASE: u8 = 0x80;
const LONG_STR: u8 = 0x88;
const UNCOUNTED: u16 = u16::MAX;

#[derive(Clone, Default)]
pub struct Listpack {
    buf: Box<[u8]>,
}

/// One decoded entry: borrowed bytes, or an integer rendered on the stack. Derefs to the bytes.
/// RDB loading reads its elements through the same type.
#[derive(Clone, Copy)]
pub enum LpStr<'a> {
    Slice(&'a [u8]),
    Int { text: [u8; 20], len: u8 },
}

impl<'a> LpStr<'a> {
    #[inline]
    pub fn int(n: i64) -> Self {
        let mut text = [0u8; 20];
        let mut b = itoa::Buffer::new();
        let s = b.format(n).as_bytes();
        text[..s.len()].copy_from_slice(s);
        LpStr::Int {
            text,
            len: s.len() as u8,
        }
    }
}

impl Deref for LpStr<'_> {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        match self {
            LpStr::Slice(s) => s,
            LpStr::Int { text, len } => &text[..*len as usize],
        }
    }
}

impl AsRef<[u8]> for LpStr<'_> {
    #[inline]
    fn as_ref(&self) -> &[u8] {
        self
    }
}

/// The binary width of `n` when storing it saves bytes over `text`, else `None`.
fn int_width(text: &[u8]) -> Option<(i64, usize)> {
    if text.len() < 2 || text.len() > 20 {
        return None;
    }
    let n = canonical_i64(text)?;
    let width = int_bytes(n);
    (width < text.len()).then_some((n, width))
}

/// Bytes `n` needs as a sign-extended little-endian integer.
fn int_bytes(n: i64) -> usize {
    (1..=8)
        .find(|&w| {
            let bits = 8 * w as u32;
            bits == 64 || (n >= -(1i64 << (bits - 1)) && n < (1i64 << (bits - 1)))
        })
        .unwrap_or(8)
}

/// Bytes `s` takes once encoded.
pub fn encoded_len(s: &[u8]) -> usize {
    match int_width(s) {
        Some((_, w)) => 1 + w,
        None if s.len() <= SHORT_MAX => 1 + s.len(),
        None => 5 + s.len(),
    }
}

fn encode_into(out: &mut Vec<u8>, s: &[u8]) {
    if let Some((n, w)) = int_width(s) {
        out.push(INT_BASE + (w as u8 - 1));
        out.extend_from_slice(&n.to_le_bytes()[..w]);
    } else if s.len() <= SHORT_MAX {
        out.push(s.len() as u8);
        out.extend_from_slice(s);
    } else {
        out.push(LONG_STR);
        out.extend_from_slice(&(s.len() as u32).to_le_bytes());
        out.extend_from_slice(s);
    }
}

/// Decodes the entry at `pos`: the value and the position after it.
#[inline]
fn decode(buf: &[u8], pos: usize) -> (LpStr<'_>, usize) {
    let h = buf[pos];
    match h {
        0..=0x7f => {
            let end = pos + 1 + h as usize;
            (LpStr::Slice(&buf[pos + 1..end]), end)
        }
        LONG_STR => {
            let mut len = [0u8; 4];
            len.copy_from_slice(&buf[pos + 1..pos + 5]);
            let end = pos + 5 + u32::from_le_bytes(len) as usize;
            (LpStr::Slice(&buf[pos + 5..end]), end)
        }
        _ => {
            let w = (h - INT_BASE) as usize + 1;
            let bytes = &buf[pos + 1..pos + 1 + w];
            // Sign-extend from the top byte.
            let fill = if bytes[w - 1] & 0x80 != 0 { 0xff } else { 0 };
            let mut le = [fill; 8];
            le[..w].copy_from_slice(bytes);
            (LpStr::int(i64::from_le_bytes(le)), pos + 1 + w)
        }
    }
}

/// Skips the entry at `pos` without rendering it.
#[inline]
fn skip(buf: &[u8], pos: usize) -> usize {
    let h = buf[pos];
    match h {
        0..=0x7f => pos + 1 + h as usize,
        LONG_STR => {
            let mut len = [0u8; 4];
            len.copy_from_slice(&buf[pos + 1..pos + 5]);
            pos + 5 + u32::from_le_bytes(len) as usize
        }
        _ => pos + 2 + (h - INT_BASE) as usize,
    }
}

/// Whether the entry at `pos` equals `s` (whose integer form, if canonical, is `as_int`).
#[inline]
fn entry_eq(buf: &[u8], pos: usize, s: &[u8], as_int: Option<i64>) -> bool {
    let h = buf[pos];
    match h {
        0..=0x7f => h as usize == s.len() && &buf[pos + 1..pos + 1 + s.len()] == s,
        LONG_STR => matches!(decode(buf, pos).0, LpStr::Slice(b) if b == s),
        // An integer entry can only equal a canonical integer text.
        _ => as_int.is_some() && *decode(buf, pos).0 == *s,
    }
}

impl Listpack {
    /// Number of entries.
    pub fn len(&self) -> usize {
        if self.buf.is_empty() {
            return 0;
        }
        match u16::from_le_bytes([self.buf[0], self.buf[1]]) {
            UNCOUNTED => self.iter().count(),
            n => n as usize,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.buf.len() <= HEADER
    }

    /// Bytes of the allocation.
    pub fn bytes(&self) -> usize {
        self.buf.len()
    }

    pub fn iter(&self) -> Iter<'_> {
        Iter {
            buf: &self.buf,
            pos: HEADER.min(self.buf.len()),
        }
    }

    /// Position of the first entry at an even index (a "field" of a pair list) equal to `s`.
    fn find_pair(&self, s: &[u8]) -> Option<usize> {
        let as_int = if s.len() <= 20 {
            canonical_i64(s)
        } else {
            None
        };
        let buf = &self.buf;
        let mut pos = HEADER;
        while pos < buf.len() {
            if entry_eq(buf, pos, s, as_int) {
                return Some(pos);
            }
            pos = skip(buf, skip(buf, pos));
        }
        None
    }

    /// The value following field `field` in a pair list.
    pub fn pair_get(&self, field: &[u8]) -> Option<LpStr<'_>> {
        let pos = self.find_pair(field)?;
        Some(decode(&self.buf, skip(&self.buf, pos)).0)
    }

    /// Sets the value of `field` in a pair list; returns true when the field was added.
    pub fn pair_set(&mut self, field: &[u8], value: &[u8]) -> bool {
        match self.find_pair(field) {
            Some(pos) => {
                let value_at = skip(&self.buf, pos);
                let end = skip(&self.buf, value_at);
                let mut enc = Vec::with_capacity(encoded_len(value));
                encode_into(&mut enc, value);
                self.edit(
                    |v| {
                        v.splice(value_at..end, enc);
                    },
                    0,
                );
                false
            }
            None => {
                let add = encoded_len(field) + encoded_len(value);
                self.edit(
                    |v| {
                        v.reserve_exact(add);
                        encode_into(v, field);
                        encode_into(v, value);
                    },
                    2,
                );
                true
            }
        }
    }

    /// Removes `field` and its value from a pair list.
    pub fn pair_remove(&mut self, field: &[u8]) -> bool {
        let Some(pos) = self.find_pair(field) else {
            return false;
        };
        let end = skip(&self.buf, skip(&self.buf, pos));
        self.edit(
            |v| {
                v.drain(pos..end);
            },
            -2,
        );
        true
    }

    /// Appends one entry.
    pub fn push(&mut self, s: &[u8]) {
        let add = encoded_len(s);
        self.edit(
            |v| {
                v.reserve_exact(add);
                encode_into(v, s);
            },
            1,
        );
    }

    /// Runs `change` on the bytes (header included), adjusts the count by `delta` and stores
    /// the result at its exact size.
    fn edit(&mut self, change: impl FnOnce(&mut Vec<u8>), delta: i64) {
        let count = self.len() as i64;
        let mut v = std::mem::take(&mut self.buf).into_vec();
        if v.is_empty() {
            v.extend_from_slice(&[0, 0]);
        }
        change(&mut v);
        let count = count + delta;
        let stored = if count >= UNCOUNTED as i64 {
            UNCOUNTED
        } else {
            count as u16
        };
        v[..HEADER].copy_from_slice(&stored.to_le_bytes());
        if count == 0 {
            v = Vec::new();
        }
        self.buf = v.into_boxed_slice();
    }
}

/// Writes a listpack from entries known up front (RDB loading): entries are encoded into a
/// reusable scratch buffer and the listpack is allocated once at its exact size, instead of
/// one reallocation per entry as `push`/`pair_set` do. The result is the same bytes those build.
pub struct Writer<'s> {
    buf: &'s mut Vec<u8>,
    count: usize,
}

impl<'s> Writer<'s> {
    pub fn new(scratch: &'s mut Vec<u8>) -> Self {
        scratch.clear();
        scratch.extend_from_slice(&[0; HEADER]);
        Writer {
            buf: scratch,
            count: 0,
        }
    }

    pub fn push(&mut self, s: &[u8]) {
        encode_into(self.buf, s);
        self.count += 1;
    }

    /// `push` of `n`'s decimal text, without rendering it only to parse it back.
    pub fn push_int(&mut self, n: i64) {
        let text_len = n
            .unsigned_abs()
            .checked_ilog10()
            .map_or(1, |l| l as usize + 1)
            + usize::from(n < 0);
        let width = int_bytes(n);
        if text_len >= 2 && width < text_len {
            self.buf.push(INT_BASE + (width as u8 - 1));
            self.buf.extend_from_slice(&n.to_le_bytes()[..width]);
            self.count += 1;
        } else {
            self.push(itoa::Buffer::new().format(n).as_bytes());
        }
    }

    pub fn finish(self) -> Listpack {
        if self.count == 0 {
            return Listpack::default();
        }
        let stored = u16::try_from(self.count).unwrap_or(UNCOUNTED);
        self.buf[..HEADER].copy_from_slice(&stored.to_le_bytes());
        Listpack {
            buf: Box::from(&self.buf[..]),
        }
    }
}

pub struct Iter<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = LpStr<'a>;

    #[inline]
    fn next(&mut self) -> Option<LpStr<'a>> {
        if self.pos >= self.buf.len() {
            return None;
        }
        let (item, next) = decode(self.buf, self.pos);
        self.pos = next;
        Some(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writer_builds_what_pair_set_builds() {
        let ints = [
            0i64,
            9,
            10,
            -1,
            -9,
            99,
            127,
            128,
            -129,
            65535,
            i64::MIN,
            i64::MAX,
        ];
        let mut scratch = Vec::new();
        let mut w = Writer::new(&mut scratch);
        let mut lp = Listpack::default();
        for (i, &n) in ints.iter().enumerate() {
            w.push(format!("f{i}").as_bytes());
            w.push_int(n);
            lp.pair_set(format!("f{i}").as_bytes(), n.to_string().as_bytes());
        }
        assert_eq!(w.finish().buf, lp.buf);
        assert!(Writer::new(&mut scratch).finish().buf.is_empty());
    }

    #[test]
    fn round_trips_strings_and_integers_exactly() {
        let mut lp = Listpack::default();
        let items: Vec<Vec<u8>> = [
            &b""[..],
            b"0",
            b"7",
            b"10",
            b"-1",
            b"012",
            b"127",
            b"128",
            b"-129",
            b"1718020800500",
            b"9223372036854775807",
            b"-9223372036854775808",
            b"9223372036854775808",
            b"+5",
            b"1.5",
            b"\x00\xff",
        ]
        .iter()
        .map(|s| s.to_vec())
        .chain([vec![b'x'; 127], vec![b'y'; 128], vec![b'z'; 70000]])
        .collect();
        for s in &items {
            lp.push(s);
        }
        assert_eq!(lp.len(), items.len());
        let back: Vec<Vec<u8>> = lp.iter().map(|s| s.to_vec()).collect();
        assert_eq!(back, items);
    }

    #[test]
    fn integers_are_smaller_than_their_text() {
        assert_eq!(encoded_len(b"1718020800500"), 7);
        assert_eq!(encoded_len(b"100"), 2);
        assert_eq!(encoded_len(b"1"), 2);
        assert_eq!(encoded_len(b"0100"), 5);
    }

    #[test]
    fn pairs_set_get_replace_remove() {
        let mut lp = Listpack::default();
        assert!(lp.pair_set(b"a", b"1"));
        assert!(lp.pair_set(b"10", b"ten"));
        assert!(lp.pair_set(b"b", b"x"));
        assert!(!lp.pair_set(b"10", b"123456789012"));
        assert_eq!(lp.pair_get(b"10").as_deref(), Some(&b"123456789012"[..]));
        assert_eq!(lp.pair_get(b"010").as_deref(), None);
        // A value equal to a searched field is not a field.
        assert_eq!(lp.pair_get(b"1").as_deref(), None);
        assert_eq!(lp.len(), 6);
        assert!(lp.pair_remove(b"a"));
        assert!(!lp.pair_remove(b"a"));
        let all: Vec<Vec<u8>> = lp.iter().map(|s| s.to_vec()).collect();
        assert_eq!(
            all,
            vec![
                b"10".to_vec(),
                b"123456789012".to_vec(),
                b"b".to_vec(),
                b"x".to_vec()
            ]
        );
        assert!(lp.pair_remove(b"10"));
        assert!(lp.pair_remove(b"b"));
        assert!(lp.is_empty());
        assert_eq!(lp.bytes(), 0);
    }

    #[test]
    fn counts_past_u16() {
        let mut lp = Listpack::default();
        for i in 0..70_000 {
            lp.push(if i % 2 == 0 { b"a" } else { b"12" });
        }
        assert_eq!(lp.len(), 70_000);
    }
}
