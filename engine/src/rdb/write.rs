//! Serialises values into RDB version 10 records, in the encodings redis-server 7.0 writes
//! (`rdb.c`): strings (integer-encoded when short, LZF-compressed when long), quicklist-2
//! lists of listpack nodes, intsets or plain sets, listpack or skiplist sorted sets, listpack
//! or plain hashes, and streams as `STREAM_LISTPACKS_2` with their consumer groups.
//!
//! An [`Encoder`] only appends to its byte buffer; callers drain `out` in chunks (the snapshot
//! sends them to the writer thread, SAVE writes them to the file) and the checksum is computed
//! where the bytes are written.

use super::encodings::{intset_encode, LpBuilder};
use super::*;
use crate::types::{Hash, Set, StrValue, Stream, Value};

/// Byte limit of a list node written to the file (Redis's default `list-max-listpack-size -2`).
const LIST_NODE_BYTES: usize = 8192;
/// Entries per stream node written to the file (Redis's default `stream-node-max-entries`).
const STREAM_NODE_ENTRIES: usize = 100;

pub struct Encoder {
    pub out: Vec<u8>,
    /// `rdbcompression`: LZF-compress strings longer than 20 bytes when it saves space.
    pub compress: bool,
    lzf: super::lzf::Compressor,
}

impl Encoder {
    pub fn new(compress: bool) -> Self {
        Self::with_buffer(Vec::with_capacity(64 * 1024), compress)
    }

    /// An encoder that appends to `out`.
    pub fn with_buffer(out: Vec<u8>, compress: bool) -> Self {
        Encoder {
            out,
            compress,
            lzf: super::lzf::Compressor::default(),
        }
    }

    fn byte(&mut self, b: u8) {
        self.out.push(b);
    }

    /// `rdbSaveLen`.
    pub fn len(&mut self, n: u64) {
        put_len(&mut self.out, n);
    }

    /// `rdbEncodeInteger`: false when `v` does not fit 32 bits.
    fn encoded_int(&mut self, v: i64) -> bool {
        if let Ok(b) = i8::try_from(v) {
            self.out.extend_from_slice(&[ENC_INT8, b as u8]);
        } else if let Ok(h) = i16::try_from(v) {
            self.out.push(ENC_INT16);
            self.out.extend_from_slice(&h.to_le_bytes());
        } else if let Ok(w) = i32::try_from(v) {
            self.out.push(ENC_INT32);
            self.out.extend_from_slice(&w.to_le_bytes());
        } else {
            return false;
        }
        true
    }

    /// `rdbSaveRawString`: integer encoding for short canonical integers, LZF for long
    /// strings when it helps, else length + bytes.
    pub fn string(&mut self, s: &[u8]) {
        if s.len() <= 11 {
            if let Some(n) = crate::util::canonical_i64(s) {
                if self.encoded_int(n) {
                    return;
                }
            }
        }
        if self.compress && s.len() > 20 {
            if let Some(c) = self.lzf.compress(s, s.len() - 4) {
                self.out.push(ENC_LZF);
                put_len(&mut self.out, c.len() as u64);
                put_len(&mut self.out, s.len() as u64);
                self.out.extend_from_slice(c);
                return;
            }
        }
        self.len(s.len() as u64);
        self.out.extend_from_slice(s);
    }

    /// `rdbSaveLongLongAsStringObject`.
    fn int_string(&mut self, v: i64) {
        if !self.encoded_int(v) {
            let mut b = itoa::Buffer::new();
            let text = b.format(v).as_bytes();
            self.len(text.len() as u64);
            self.out.extend_from_slice(text);
        }
    }

    fn millis(&mut self, ms: i64) {
        self.out.extend_from_slice(&ms.to_le_bytes());
    }

    /// The file header: magic and version.
    pub fn header(&mut self) {
        self.out.extend_from_slice(b"REDIS");
        self.out
            .extend_from_slice(format!("{RDB_VERSION:04}").as_bytes());
    }

    pub fn aux(&mut self, key: &str, value: &[u8]) {
        self.byte(OP_AUX);
        self.string(key.as_bytes());
        self.string(value);
    }

    /// The AUX fields redis-server writes at the start of every RDB file.
    pub fn aux_fields(&mut self, ctime_s: i64, used_mem: u64, aof_base: bool) {
        self.aux("redis-ver", REDIS_VERSION.as_bytes());
        self.aux("redis-bits", b"64");
        self.byte(OP_AUX);
        self.string(b"ctime");
        self.int_string(ctime_s);
        self.byte(OP_AUX);
        self.string(b"used-mem");
        self.int_string(used_mem as i64);
        self.byte(OP_AUX);
        self.string(b"aof-base");
        self.int_string(aof_base as i64);
    }

    pub fn select_db(&mut self, db: usize) {
        self.byte(OP_SELECTDB);
        self.len(db as u64);
    }

    pub fn resize_db(&mut self, keys: usize, expires: usize) {
        self.byte(OP_RESIZEDB);
        self.len(keys as u64);
        self.len(expires as u64);
    }

    pub fn eof(&mut self) {
        self.byte(OP_EOF);
    }

    /// One key: its expiry (absolute ms), type, name and value.
    pub fn key_value(&mut self, key: &[u8], value: &Value, expire_ms: Option<i64>) {
        if let Some(at) = expire_ms {
            self.byte(OP_EXPIRETIME_MS);
            self.millis(at);
        }
        match value {
            Value::Str(s) => {
                self.byte(TYPE_STRING);
                self.string(key);
                match s {
                    StrValue::Int(n) => self.int_string(*n),
                    other => other.with_bytes(|b| self.string(b)),
                }
            }
            Value::List(l) => {
                self.byte(TYPE_LIST_QUICKLIST_2);
                self.string(key);
                self.list(l.iter());
            }
            Value::Set(s) => self.set(key, s),
            Value::ZSet(z) => {
                if z.is_listpack() {
                    self.byte(TYPE_ZSET_LISTPACK);
                    self.string(key);
                    let mut lp = LpBuilder::new();
                    let mut text = Vec::new();
                    for (member, score) in z.iter() {
                        lp.push(member);
                        text.clear();
                        d2string(score, &mut text);
                        lp.push(&text);
                    }
                    self.string(&lp.finish());
                } else {
                    self.byte(TYPE_ZSET_2);
                    self.string(key);
                    self.len(z.len() as u64);
                    // Highest first, as Redis does, so a loader inserting at the head is O(1).
                    for (member, score) in z.iter().rev() {
                        self.string(member);
                        self.out.extend_from_slice(&score.to_le_bytes());
                    }
                }
            }
            Value::Hash(h) => self.hash(key, h),
            Value::Stream(s) => {
                self.byte(TYPE_STREAM_LISTPACKS_2);
                self.string(key);
                self.stream(s);
            }
        }
    }

    fn list<'a>(&mut self, items: impl Iterator<Item = &'a [u8]>) {
        let mut nodes: Vec<Vec<u8>> = Vec::new();
        let mut lp = LpBuilder::new();
        for item in items {
            if !lp.is_empty() && lp.bytes() + item.len() + 11 > LIST_NODE_BYTES {
                nodes.push(std::mem::take(&mut lp).finish());
            }
            lp.push(item);
        }
        if !lp.is_empty() {
            nodes.push(lp.finish());
        }
        self.len(nodes.len() as u64);
        for node in nodes {
            self.len(QUICKLIST_NODE_PACKED);
            self.string(&node);
        }
    }

    fn set(&mut self, key: &[u8], s: &Set) {
        match s {
            Set::Intset(v) => {
                self.byte(TYPE_SET_INTSET);
                self.string(key);
                self.string(&intset_encode(v));
            }
            Set::Table(_) => {
                self.byte(TYPE_SET);
                self.string(key);
                self.len(s.len() as u64);
                s.for_each(|m| self.string(m));
            }
        }
    }

    fn hash(&mut self, key: &[u8], h: &Hash) {
        match h {
            Hash::Listpack(_) => {
                self.byte(TYPE_HASH_LISTPACK);
                self.string(key);
                let mut lp = LpBuilder::new();
                h.for_each(|f, v| {
                    lp.push(f);
                    lp.push(v);
                });
                self.string(&lp.finish());
            }
            Hash::Table(_) => {
                self.byte(TYPE_HASH);
                self.string(key);
                self.len(h.len() as u64);
                h.for_each(|f, v| {
                    self.string(f);
                    self.string(v);
                });
            }
        }
    }

    fn stream(&mut self, s: &Stream) {
        let mut nodes: Vec<([u8; 16], Vec<u8>)> = Vec::new();
        let mut entries = s.iter().peekable();
        while entries.peek().is_some() {
            let chunk: Vec<_> = entries.by_ref().take(STREAM_NODE_ENTRIES).collect();
            let master = chunk[0].id();
            let master_fields: Vec<&[u8]> = chunk[0].fields().map(|(f, _)| f).collect();
            let mut lp = LpBuilder::new();
            lp.push_int(chunk.len() as i64);
            lp.push_int(0);
            lp.push_int(master_fields.len() as i64);
            for f in &master_fields {
                lp.push(f);
            }
            lp.push_int(0);
            for e in &chunk {
                let id = e.id();
                let same = e.num_fields() == master_fields.len()
                    && e.fields().zip(&master_fields).all(|((f, _), m)| f == *m);
                lp.push_int(if same { STREAM_FLAG_SAMEFIELDS } else { 0 });
                lp.push_int(id.ms.wrapping_sub(master.ms) as i64);
                lp.push_int(id.seq.wrapping_sub(master.seq) as i64);
                let n = e.num_fields();
                if same {
                    for (_, v) in e.fields() {
                        lp.push(v);
                    }
                    lp.push_int(n as i64 + 3);
                } else {
                    lp.push_int(n as i64);
                    for (f, v) in e.fields() {
                        lp.push(f);
                        lp.push(v);
                    }
                    lp.push_int(2 * n as i64 + 4);
                }
            }
            nodes.push((encode_id(master), lp.finish()));
        }
        self.len(nodes.len() as u64);
        for (key, lp) in &nodes {
            self.string(key);
            self.string(lp);
        }
        self.len(s.len());
        let last = s.last_id();
        self.len(last.ms);
        self.len(last.seq);
        let first = s.first_id();
        self.len(first.ms);
        self.len(first.seq);
        let max_del = s.max_deleted_entry_id();
        self.len(max_del.ms);
        self.len(max_del.seq);
        self.len(s.entries_added());
        let groups = s.groups();
        self.len(groups.len() as u64);
        for (name, g) in groups.iter() {
            self.string(name);
            self.len(g.last_id.ms);
            self.len(g.last_id.seq);
            self.len(g.entries_read as u64);
            self.len(g.pel.len() as u64);
            for (id, nack) in &g.pel {
                self.out.extend_from_slice(&encode_id(*id));
                self.millis(nack.delivery_time);
                self.len(nack.delivery_count);
            }
            self.len(g.consumers.len() as u64);
            for (cname, c) in &g.consumers {
                self.string(cname);
                self.millis(c.seen_time);
                self.len(c.pel.len() as u64);
                for id in &c.pel {
                    self.out.extend_from_slice(&encode_id(*id));
                }
            }
        }
    }
}

/// `rdbSaveLen` into `out`.
fn put_len(out: &mut Vec<u8>, n: u64) {
    if n < 1 << 6 {
        out.push(n as u8);
    } else if n < 1 << 14 {
        out.extend_from_slice(&[((n >> 8) as u8 & 0x3f) | 0x40, n as u8]);
    } else if n <= u32::MAX as u64 {
        out.push(LEN_32BIT);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(LEN_64BIT);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// A stream ID as Redis stores it in rax keys: 16 bytes, big-endian ms then seq.
pub fn encode_id(id: crate::types::stream::StreamId) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&id.ms.to_be_bytes());
    k[8..].copy_from_slice(&id.seq.to_be_bytes());
    k
}

/// Redis's `d2string`: the text a sorted-set listpack stores for a score.
pub fn d2string(v: f64, out: &mut Vec<u8>) {
    if v.is_nan() {
        out.extend_from_slice(b"nan");
    } else if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 { b"inf" } else { b"-inf" });
    } else if v == 0.0 {
        out.extend_from_slice(if v.is_sign_negative() { b"-0" } else { b"0" });
    } else if v > -4_503_599_627_370_495.0 && v < 4_503_599_627_370_496.0 && v == v.trunc() {
        out.extend_from_slice(itoa::Buffer::new().format(v as i64).as_bytes());
    } else {
        // The shortest text that parses back to `v` (what Redis 7.2's `fpconv_dtoa` writes;
        // 7.0's `%.17g` is longer for most scores): any strtod reads it.
        out.extend_from_slice(ryu::Buffer::new().format_finite(v).as_bytes());
    }
}
