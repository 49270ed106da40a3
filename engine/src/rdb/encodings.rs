//! The packed blobs inside RDB values, in Redis's exact byte layouts: listpacks (written and
//! read), ziplists (read: older RDB files) and intsets (written and read).
//!
//! Decoders return errors instead of panicking: the input is an untrusted file.

use crate::util::canonical_i64;

/// One decoded listpack/ziplist element.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Item<'a> {
    Str(&'a [u8]),
    Int(i64),
}

impl<'a> Item<'a> {
    /// The element as bytes (integers rendered in decimal).
    pub fn to_vec(self) -> Vec<u8> {
        match self {
            Item::Str(s) => s.to_vec(),
            Item::Int(n) => itoa::Buffer::new().format(n).as_bytes().to_vec(),
        }
    }

    /// The element's bytes without allocating: loading turns millions of elements into
    /// values, and a heap copy per element only to read it once was most of that cost.
    #[inline]
    pub fn text(self) -> Text<'a> {
        match self {
            Item::Str(s) => Text::Slice(s),
            Item::Int(n) => Text::int(n),
        }
    }

    /// The element as an integer, if it is one (or a canonical integer string).
    pub fn as_i64(self) -> Option<i64> {
        match self {
            Item::Int(n) => Some(n),
            Item::Str(s) => canonical_i64(s),
        }
    }
}

/// An element as bytes: borrowed from the blob, or an integer rendered on the stack (the same
/// view a stored listpack hands out).
pub use crate::types::listpack::LpStr as Text;

// ---------------------------------------------------------------------------
// Listpack (listpack.c)
// ---------------------------------------------------------------------------

const LP_HEADER: usize = 6;
const LP_EOF: u8 = 0xff;
const LP_COUNT_UNKNOWN: u16 = u16::MAX;

/// Builds a listpack the way `lpAppend` does (integer-looking strings stored as integers).
pub struct LpBuilder {
    buf: Vec<u8>,
    count: usize,
}

impl Default for LpBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl LpBuilder {
    pub fn new() -> Self {
        let mut buf = Vec::with_capacity(64);
        buf.extend_from_slice(&[0; LP_HEADER]);
        LpBuilder { buf, count: 0 }
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Bytes the finished listpack will take.
    pub fn bytes(&self) -> usize {
        self.buf.len() + 1
    }

    fn push_backlen(&mut self, l: usize) {
        let l = l as u64;
        if l <= 127 {
            self.buf.push(l as u8);
        } else if l < 16383 {
            self.buf
                .extend_from_slice(&[(l >> 7) as u8, (l & 127) as u8 | 128]);
        } else if l < 2_097_151 {
            self.buf.extend_from_slice(&[
                (l >> 14) as u8,
                ((l >> 7) & 127) as u8 | 128,
                (l & 127) as u8 | 128,
            ]);
        } else if l < 268_435_455 {
            self.buf.extend_from_slice(&[
                (l >> 21) as u8,
                ((l >> 14) & 127) as u8 | 128,
                ((l >> 7) & 127) as u8 | 128,
                (l & 127) as u8 | 128,
            ]);
        } else {
            self.buf.extend_from_slice(&[
                (l >> 28) as u8,
                ((l >> 21) & 127) as u8 | 128,
                ((l >> 14) & 127) as u8 | 128,
                ((l >> 7) & 127) as u8 | 128,
                (l & 127) as u8 | 128,
            ]);
        }
    }

    pub fn push_int(&mut self, v: i64) {
        let start = self.buf.len();
        if (0..=127).contains(&v) {
            self.buf.push(v as u8);
        } else if (-4096..=4095).contains(&v) {
            let uv = (v as u64) & 0x1fff;
            self.buf
                .extend_from_slice(&[(uv >> 8) as u8 | 0xc0, uv as u8]);
        } else if (i16::MIN as i64..=i16::MAX as i64).contains(&v) {
            self.buf.push(0xf1);
            self.buf.extend_from_slice(&(v as i16).to_le_bytes());
        } else if (-8_388_608..=8_388_607).contains(&v) {
            self.buf.push(0xf2);
            self.buf.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
        } else if (i32::MIN as i64..=i32::MAX as i64).contains(&v) {
            self.buf.push(0xf3);
            self.buf.extend_from_slice(&(v as i32).to_le_bytes());
        } else {
            self.buf.push(0xf4);
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
        let len = self.buf.len() - start;
        self.push_backlen(len);
        self.count += 1;
    }

    /// Appends a string; canonical integers are stored as integers, as `lpAppend` does.
    pub fn push(&mut self, s: &[u8]) {
        if s.len() <= 20 {
            if let Some(n) = canonical_i64(s) {
                self.push_int(n);
                return;
            }
        }
        let start = self.buf.len();
        let len = s.len();
        if len < 64 {
            self.buf.push(0x80 | len as u8);
        } else if len < 4096 {
            self.buf
                .extend_from_slice(&[0xe0 | (len >> 8) as u8, len as u8]);
        } else {
            self.buf.push(0xf0);
            self.buf.extend_from_slice(&(len as u32).to_le_bytes());
        }
        self.buf.extend_from_slice(s);
        let entry = self.buf.len() - start;
        self.push_backlen(entry);
        self.count += 1;
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.buf.push(LP_EOF);
        let total = self.buf.len() as u32;
        self.buf[..4].copy_from_slice(&total.to_le_bytes());
        let count = if self.count < LP_COUNT_UNKNOWN as usize {
            self.count as u16
        } else {
            LP_COUNT_UNKNOWN
        };
        self.buf[4..6].copy_from_slice(&count.to_le_bytes());
        self.buf
    }
}

fn backlen_size(l: usize) -> usize {
    match l {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2_097_150 => 3,
        2_097_151..=268_435_454 => 4,
        _ => 5,
    }
}

fn slice(buf: &[u8], start: usize, len: usize) -> Result<&[u8], String> {
    buf.get(start..start.saturating_add(len))
        .ok_or_else(|| format!("listpack entry at byte {start} runs past the end"))
}

fn int_le(bytes: &[u8]) -> i64 {
    let fill = if bytes.last().is_some_and(|b| b & 0x80 != 0) {
        0xff
    } else {
        0
    };
    let mut le = [fill; 8];
    le[..bytes.len()].copy_from_slice(bytes);
    i64::from_le_bytes(le)
}

/// Listpacks and ziplists both open with their total size as a little-endian u32; a blob
/// whose size disagrees, or that cannot hold the header and the end marker, is corrupt.
fn check_total_bytes(buf: &[u8], header: usize, kind: &str) -> Result<(), String> {
    if buf.len() < header + 1 {
        return Err(format!("{kind} shorter than its header"));
    }
    let total = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    if total != buf.len() {
        return Err(format!(
            "{kind} header says {total} bytes, blob has {}",
            buf.len()
        ));
    }
    Ok(())
}

/// Decodes every element of a listpack. Errors name the byte offset inside the blob.
pub fn lp_decode(buf: &[u8]) -> Result<Vec<Item<'_>>, String> {
    check_total_bytes(buf, LP_HEADER, "listpack")?;
    // The header's element count sizes the vector (capped by what the bytes could hold, as
    // the header is untrusted; `u16::MAX` means "not counted").
    let counted = match u16::from_le_bytes([buf[4], buf[5]]) {
        LP_COUNT_UNKNOWN => 0,
        n => (n as usize).min(buf.len() - LP_HEADER),
    };
    let mut items = Vec::with_capacity(counted);
    let mut p = LP_HEADER;
    loop {
        let Some(&b) = buf.get(p) else {
            return Err("listpack without its end marker".into());
        };
        let (item, head_and_data) = match b {
            0x00..=0x7f => (Item::Int(b as i64), 1),
            0x80..=0xbf => {
                let len = (b & 0x3f) as usize;
                (Item::Str(slice(buf, p + 1, len)?), 1 + len)
            }
            0xc0..=0xdf => {
                let lo = *slice(buf, p + 1, 1)?.first().unwrap_or(&0) as u64;
                let uv = ((b as u64 & 0x1f) << 8) | lo;
                let v = if uv >= 1 << 12 {
                    uv as i64 - (1 << 13)
                } else {
                    uv as i64
                };
                (Item::Int(v), 2)
            }
            0xe0..=0xef => {
                let lo = *slice(buf, p + 1, 1)?.first().unwrap_or(&0) as usize;
                let len = ((b as usize & 0x0f) << 8) | lo;
                (Item::Str(slice(buf, p + 2, len)?), 2 + len)
            }
            0xf0 => {
                let l = slice(buf, p + 1, 4)?;
                let len = u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as usize;
                (Item::Str(slice(buf, p + 5, len)?), 5 + len)
            }
            0xf1 => (Item::Int(int_le(slice(buf, p + 1, 2)?)), 3),
            0xf2 => (Item::Int(int_le(slice(buf, p + 1, 3)?)), 4),
            0xf3 => (Item::Int(int_le(slice(buf, p + 1, 4)?)), 5),
            0xf4 => (Item::Int(int_le(slice(buf, p + 1, 8)?)), 9),
            LP_EOF => break,
            _ => return Err(format!("invalid listpack encoding byte {b:#x} at byte {p}")),
        };
        items.push(item);
        p += head_and_data + backlen_size(head_and_data);
        if p > buf.len() {
            return Err("listpack entry runs past the end".into());
        }
    }
    if p + 1 != buf.len() {
        return Err(format!(
            "listpack end marker at byte {p} is not the last byte"
        ));
    }
    Ok(items)
}

// ---------------------------------------------------------------------------
// Ziplist (ziplist.c), read only: RDB files from Redis < 7
// ---------------------------------------------------------------------------

const ZL_HEADER: usize = 10;

/// Decodes every element of a ziplist.
pub fn zl_decode(buf: &[u8]) -> Result<Vec<Item<'_>>, String> {
    check_total_bytes(buf, ZL_HEADER, "ziplist")?;
    let mut items = Vec::new();
    let mut p = ZL_HEADER;
    loop {
        let Some(&first) = buf.get(p) else {
            return Err("ziplist without its end marker".into());
        };
        if first == 0xff {
            break;
        }
        p += if first < 254 { 1 } else { 5 };
        let Some(&e) = buf.get(p) else {
            return Err("ziplist entry runs past the end".into());
        };
        let (item, size) = match e >> 6 {
            0 => {
                let len = (e & 0x3f) as usize;
                (Item::Str(slice(buf, p + 1, len)?), 1 + len)
            }
            1 => {
                let lo = *slice(buf, p + 1, 1)?.first().unwrap_or(&0) as usize;
                let len = ((e as usize & 0x3f) << 8) | lo;
                (Item::Str(slice(buf, p + 2, len)?), 2 + len)
            }
            2 => {
                let l = slice(buf, p + 1, 4)?;
                let len = u32::from_be_bytes([l[0], l[1], l[2], l[3]]) as usize;
                (Item::Str(slice(buf, p + 5, len)?), 5 + len)
            }
            _ => match e {
                0xc0 => (Item::Int(int_le(slice(buf, p + 1, 2)?)), 3),
                0xd0 => (Item::Int(int_le(slice(buf, p + 1, 4)?)), 5),
                0xe0 => (Item::Int(int_le(slice(buf, p + 1, 8)?)), 9),
                0xf0 => (Item::Int(int_le(slice(buf, p + 1, 3)?)), 4),
                0xfe => (Item::Int(int_le(slice(buf, p + 1, 1)?)), 2),
                0xf1..=0xfd => (Item::Int((e & 0x0f) as i64 - 1), 1),
                _ => return Err(format!("invalid ziplist encoding byte {e:#x} at byte {p}")),
            },
        };
        items.push(item);
        p += size;
    }
    Ok(items)
}

// ---------------------------------------------------------------------------
// Intset (intset.c)
// ---------------------------------------------------------------------------

/// Encodes sorted integers as an intset of the narrowest width holding them all.
pub fn intset_encode(values: &[i64]) -> Vec<u8> {
    let width: usize = if values
        .iter()
        .all(|&v| (i16::MIN as i64..=i16::MAX as i64).contains(&v))
    {
        2
    } else if values
        .iter()
        .all(|&v| (i32::MIN as i64..=i32::MAX as i64).contains(&v))
    {
        4
    } else {
        8
    };
    let mut out = Vec::with_capacity(8 + width * values.len());
    out.extend_from_slice(&(width as u32).to_le_bytes());
    out.extend_from_slice(&(values.len() as u32).to_le_bytes());
    for &v in values {
        out.extend_from_slice(&v.to_le_bytes()[..width]);
    }
    out
}

/// Decodes an intset.
pub fn intset_decode(buf: &[u8]) -> Result<Vec<i64>, String> {
    if buf.len() < 8 {
        return Err("intset shorter than its header".into());
    }
    let width = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    let len = u32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]) as usize;
    if !matches!(width, 2 | 4 | 8) {
        return Err(format!("invalid intset encoding {width}"));
    }
    if buf.len() != 8 + width.saturating_mul(len) {
        return Err(format!(
            "intset of {len} x {width} bytes has {} bytes",
            buf.len()
        ));
    }
    Ok(buf[8..].chunks_exact(width).map(int_le).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listpack_round_trips_every_encoding() {
        let long = vec![b'x'; 5000];
        let mid = vec![b'y'; 300];
        let ints: [i64; 12] = [
            0,
            127,
            128,
            -1,
            -4096,
            4095,
            -32768,
            32767,
            8_388_607,
            -8_388_608,
            i32::MIN as i64,
            i64::MAX,
        ];
        let mut b = LpBuilder::new();
        for &n in &ints {
            b.push_int(n);
        }
        b.push(b"hello");
        b.push(&mid);
        b.push(&long);
        b.push(b"007");
        let lp = b.finish();
        let items = lp_decode(&lp).unwrap();
        let mut expect: Vec<Item> = ints.iter().map(|&n| Item::Int(n)).collect();
        expect.push(Item::Str(b"hello"));
        expect.push(Item::Str(&mid));
        expect.push(Item::Str(&long));
        expect.push(Item::Str(b"007"));
        assert_eq!(items, expect);
    }

    #[test]
    fn intset_round_trips_and_corrupt_blobs_are_errors() {
        for v in [
            vec![1i64, 2, 3],
            vec![-70000, 5],
            vec![i64::MIN, 0, i64::MAX],
        ] {
            assert_eq!(intset_decode(&intset_encode(&v)).unwrap(), v);
        }
        assert!(intset_decode(&[3, 0, 0, 0, 1, 0, 0, 0, 1, 2, 3]).is_err());
        assert!(lp_decode(&[7, 0, 0, 0, 0, 0, 0xff]).unwrap().is_empty());
        assert!(lp_decode(&[9, 0, 0, 0, 0, 0, 0xff]).is_err());
        assert!(lp_decode(&[8, 0, 0, 0, 1, 0, 0x85, 0xff]).is_err());
        assert!(zl_decode(&[11, 0, 0, 0, 10, 0, 0, 0, 0, 0, 0x00]).is_err());
    }

    #[test]
    fn ziplist_decodes_every_encoding() {
        // prevlen 0, "ab"; prevlen, int8 -3; imm 5; int16 300; then end.
        let mut zl = vec![0u8; 10];
        zl.extend_from_slice(&[0, 0x02, b'a', b'b']);
        zl.extend_from_slice(&[4, 0xfe, 0xfd]);
        zl.extend_from_slice(&[3, 0xf6]);
        zl.extend_from_slice(&[2, 0xc0, 0x2c, 0x01]);
        zl.push(0xff);
        let total = zl.len() as u32;
        zl[..4].copy_from_slice(&total.to_le_bytes());
        let items = zl_decode(&zl).unwrap();
        assert_eq!(
            items,
            vec![
                Item::Str(b"ab"),
                Item::Int(-3),
                Item::Int(5),
                Item::Int(300)
            ]
        );
    }
}
