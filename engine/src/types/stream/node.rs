//! One node of a stream: the packed byte buffer of entries described in the
//! parent module, and the model of the size Redis's listpack would have for
//! the same content, which decides where nodes split exactly as in Redis.

use super::id::string2ll;
use super::{NodeLimits, StreamId, LISTPACK_MAX_SIZE};

/// Entry flag: removed by XDEL or XTRIM; the bytes stay, like in Redis.
pub(super) const FLAG_DELETED: u8 = 1;
/// Entry flag: the field names are the master's, so only values are stored.
pub(super) const FLAG_SAMEFIELDS: u8 = 2;

// Listpack size model (for Redis-identical node boundaries).

/// Bytes of a listpack integer element (encoding + 1 backlen byte).
fn lp_int_size(v: i64) -> usize {
    let enc = if (0..=127).contains(&v) {
        1
    } else if (-4096..=4095).contains(&v) {
        2
    } else if (-32768..=32767).contains(&v) {
        3
    } else if (-8_388_608..=8_388_607).contains(&v) {
        4
    } else if (i64::from(i32::MIN)..=i64::from(i32::MAX)).contains(&v) {
        5
    } else {
        9
    };
    enc + 1
}

/// Bytes of a listpack string element as `lpAppend` stores it (strings
/// that `lpStringToInt64` accepts become integers).
pub(super) fn lp_str_size(s: &[u8]) -> usize {
    if let Some(v) = string2ll(s) {
        return lp_int_size(v);
    }
    let len = s.len();
    let enc = if len < 64 {
        1 + len
    } else if len < 4096 {
        2 + len
    } else {
        5 + len
    };
    let backlen = if enc <= 127 {
        1
    } else if enc < 16383 {
        2
    } else if enc < 2_097_151 {
        3
    } else if enc < 268_435_455 {
        4
    } else {
        5
    };
    enc + backlen
}

/// Header (total bytes + element count) and end byte of a listpack.
const LP_FIXED: usize = 7;

// Packed buffer encoding.

fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn varint_len(v: u64) -> usize {
    let bits = 64 - (v | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

fn get_varint(buf: &[u8], pos: &mut usize) -> u64 {
    let mut v = 0u64;
    let mut shift = 0;
    loop {
        let b = buf[*pos];
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return v;
        }
        shift += 7;
    }
}

/// A varint written back to front, so it can be read from its end.
fn put_back_varint(buf: &mut Vec<u8>, v: u64) {
    let start = buf.len();
    put_varint(buf, v);
    buf[start..].reverse();
}

/// Reads a back varint ending at `end`; returns (value, its first byte).
fn get_back_varint(buf: &[u8], end: usize) -> (u64, usize) {
    let mut v = 0u64;
    let mut shift = 0;
    let mut pos = end;
    loop {
        pos -= 1;
        let b = buf[pos];
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return (v, pos);
        }
        shift += 7;
    }
}

/// Reads a length-prefixed string at `pos`, advancing it.
pub(super) fn get_str<'a>(buf: &'a [u8], pos: &mut usize) -> &'a [u8] {
    let len = get_varint(buf, pos) as usize;
    let s = &buf[*pos..*pos + len];
    *pos += len;
    s
}

// Nodes.

/// Decoded fixed part of one entry.
#[derive(Clone, Copy, Debug)]
pub(super) struct Header {
    pub(super) flags: u8,
    pub(super) id: StreamId,
    pub(super) nfields: usize,
    pub(super) fields_off: usize,
}

/// A node: its entries packed in one buffer, keyed in the stream by its
/// master ID.
#[derive(Clone, Debug)]
pub(super) struct Node {
    pub(super) master_id: StreamId,
    pub(super) buf: Vec<u8>,
    pub(super) master_nfields: usize,
    /// Offset of the first master field name.
    pub(super) master_fields_off: usize,
    /// Offset of the first entry.
    pub(super) entries_off: usize,
    pub(super) live: u64,
    pub(super) deleted: u64,
    /// Listpack size of everything but the fixed bytes and the live/deleted
    /// counters (which change size as they grow).
    pub(super) lp_body: usize,
}

impl Node {
    pub(super) fn new(id: StreamId, fields: &[(&[u8], &[u8])]) -> Node {
        let mut buf = Vec::new();
        put_varint(&mut buf, fields.len() as u64);
        let master_fields_off = buf.len();
        let mut lp_body = lp_int_size(fields.len() as i64) + lp_int_size(0);
        for (f, _) in fields {
            put_varint(&mut buf, f.len() as u64);
            buf.extend_from_slice(f);
            lp_body += lp_str_size(f);
        }
        let entries_off = buf.len();
        let mut node = Node {
            master_id: id,
            buf,
            master_nfields: fields.len(),
            master_fields_off,
            entries_off,
            live: 0,
            deleted: 0,
            lp_body,
        };
        node.push_entry(id, fields, true);
        node
    }

    /// What Redis's `lpBytes` would say for this node.
    pub(super) fn lp_bytes(&self) -> usize {
        LP_FIXED + lp_int_size(self.live as i64) + lp_int_size(self.deleted as i64) + self.lp_body
    }

    /// Redis's "start a new node" test in `streamAppendItem`.
    pub(super) fn is_full(&self, new_entry_bytes: usize, limits: NodeLimits) -> bool {
        let mut max_bytes = limits.max_bytes;
        if max_bytes == 0 || max_bytes > LISTPACK_MAX_SIZE {
            max_bytes = LISTPACK_MAX_SIZE;
        }
        if self.lp_bytes() + new_entry_bytes >= max_bytes {
            return true;
        }
        limits.max_entries != 0 && self.live + self.deleted >= limits.max_entries as u64
    }

    pub(super) fn same_fields(&self, fields: &[(&[u8], &[u8])]) -> bool {
        if fields.len() != self.master_nfields {
            return false;
        }
        let mut pos = self.master_fields_off;
        fields
            .iter()
            .all(|(f, _)| get_str(&self.buf, &mut pos) == *f)
    }

    pub(super) fn push_entry(&mut self, id: StreamId, fields: &[(&[u8], &[u8])], same: bool) {
        let start = self.buf.len();
        let ms_delta = id.ms - self.master_id.ms;
        let flags = if same { FLAG_SAMEFIELDS } else { 0 };
        self.buf.push(flags);
        put_varint(&mut self.buf, ms_delta);
        put_varint(
            &mut self.buf,
            if ms_delta == 0 {
                id.seq - self.master_id.seq
            } else {
                id.seq
            },
        );
        // Redis stores the deltas as int64 of the wrapped differences.
        let mut lp = lp_int_size(i64::from(flags))
            + lp_int_size(ms_delta as i64)
            + lp_int_size(id.seq.wrapping_sub(self.master_id.seq) as i64);
        let n = fields.len() as u64;
        if !same {
            put_varint(&mut self.buf, n);
            lp += lp_int_size(n as i64);
        }
        for (f, v) in fields {
            if !same {
                put_varint(&mut self.buf, f.len() as u64);
                self.buf.extend_from_slice(f);
                lp += lp_str_size(f);
            }
            put_varint(&mut self.buf, v.len() as u64);
            self.buf.extend_from_slice(v);
            lp += lp_str_size(v);
        }
        let lp_count = if same { n + 3 } else { 2 * n + 4 };
        lp += lp_int_size(lp_count as i64);
        let content = (self.buf.len() - start) as u64;
        put_back_varint(&mut self.buf, content);
        self.lp_body += lp;
        self.live += 1;
    }

    pub(super) fn header(&self, start: usize) -> Header {
        let buf = &self.buf;
        let mut pos = start;
        let flags = buf[pos];
        pos += 1;
        let ms_delta = get_varint(buf, &mut pos);
        let seq = get_varint(buf, &mut pos);
        let id = if ms_delta == 0 {
            StreamId::new(self.master_id.ms, self.master_id.seq + seq)
        } else {
            StreamId::new(self.master_id.ms + ms_delta, seq)
        };
        let nfields = if flags & FLAG_SAMEFIELDS != 0 {
            self.master_nfields
        } else {
            get_varint(buf, &mut pos) as usize
        };
        Header {
            flags,
            id,
            nfields,
            fields_off: pos,
        }
    }

    /// Offset just past the entry starting at `start` (with header `h`).
    pub(super) fn entry_end(&self, start: usize, h: &Header) -> usize {
        let strings = if h.flags & FLAG_SAMEFIELDS != 0 {
            h.nfields
        } else {
            2 * h.nfields
        };
        let mut pos = h.fields_off;
        for _ in 0..strings {
            let len = get_varint(&self.buf, &mut pos) as usize;
            pos += len;
        }
        pos + varint_len((pos - start) as u64)
    }

    /// Start of the entry that ends at `end`.
    pub(super) fn prev_start(&self, end: usize) -> usize {
        let (content, back_start) = get_back_varint(&self.buf, end);
        back_start - content as usize
    }

    /// ID of the last entry, deleted or not.
    pub(super) fn last_id(&self) -> StreamId {
        self.header(self.prev_start(self.buf.len())).id
    }

    pub(super) fn mark_deleted(&mut self, start: usize) {
        self.buf[start] |= FLAG_DELETED;
        self.live -= 1;
        self.deleted += 1;
    }

    /// Offset of the live entry `id`, if this node has it.
    pub(super) fn find_live(&self, id: StreamId) -> Option<usize> {
        let mut pos = self.entries_off;
        while pos < self.buf.len() {
            let h = self.header(pos);
            if h.id >= id {
                return (h.id == id && h.flags & FLAG_DELETED == 0).then_some(pos);
            }
            pos = self.entry_end(pos, &h);
        }
        None
    }
}
