//! Parses RDB files (versions 1 to 11) into values: every encoding redis-server 7.0 writes
//! (listpack hashes/zsets, quicklist-2 lists, intsets, `STREAM_LISTPACKS_2`), the ziplist and
//! quicklist encodings of older files, and the plain encodings of all versions.
//!
//! The input is untrusted: every read is bounds-checked and every inconsistency is an
//! [`RdbError`] naming the byte offset where it was found. Nothing here panics on bad input.

use super::encodings::{intset_decode, lp_decode, zl_decode, Item, Text};
use super::*;
use crate::types::hash::HashLimits;
use crate::types::listpack;
use crate::types::stream::group::{Consumer, Nack, INVALID_ENTRIES_READ};
use crate::types::stream::{NodeLimits, StreamId};
use crate::types::zset::{ZaddFlags, ZsetLimits};
use crate::types::{Hash, List, Set, StrValue, Stream, Value, Zset};

/// The encoding limits loaded values are built with (from the engine's config).
#[derive(Clone, Copy, Debug)]
pub struct LoadLimits {
    pub list_fill: i32,
    pub hash: HashLimits,
    pub zset: ZsetLimits,
    pub max_intset: usize,
    pub stream: NodeLimits,
    pub databases: usize,
    /// Verify the CRC64 trailer (`rdbchecksum`).
    pub verify_checksum: bool,
}

impl LoadLimits {
    pub fn from_config(c: &crate::config::Config) -> Self {
        LoadLimits {
            list_fill: c.list_max_listpack_size,
            hash: HashLimits {
                max_listpack_entries: c.hash_max_listpack_entries,
                max_listpack_value: c.hash_max_listpack_value,
            },
            zset: ZsetLimits {
                max_listpack_entries: c.zset_max_listpack_entries,
                max_listpack_value: c.zset_max_listpack_value,
            },
            max_intset: c.set_max_intset_entries,
            stream: NodeLimits {
                max_bytes: c.stream_node_max_bytes,
                max_entries: c.stream_node_max_entries,
            },
            databases: c.databases,
            verify_checksum: c.get("rdbchecksum") != Some("no"),
        }
    }
}

impl Default for LoadLimits {
    fn default() -> Self {
        LoadLimits::from_config(&crate::config::Config::default())
    }
}

/// One key read from the file.
pub struct LoadedKey {
    pub db: usize,
    pub key: Vec<u8>,
    pub value: Value,
    pub expire_ms: Option<i64>,
}

/// What a load found besides the keys.
#[derive(Debug, Default)]
pub struct LoadInfo {
    pub version: u32,
    pub aux: Vec<(Vec<u8>, Vec<u8>)>,
    pub keys: u64,
    /// Where the RDB data ends (after the checksum): an AOF's commands may follow.
    pub end: usize,
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    limits: LoadLimits,
    /// Reused for every compressed blob (see `with_blob`).
    scratch: Vec<u8>,
    /// Reused to encode small hashes before their one exact allocation.
    lp: Vec<u8>,
}

type R<T> = Result<T, RdbError>;

impl<'a> Reader<'a> {
    fn err<T>(&self, at: usize, msg: impl Into<String>) -> R<T> {
        Err(RdbError {
            offset: at,
            msg: msg.into(),
        })
    }

    fn take(&mut self, n: usize) -> R<&'a [u8]> {
        let start = self.pos;
        match start.checked_add(n).filter(|&e| e <= self.buf.len()) {
            Some(end) => {
                self.pos = end;
                Ok(&self.buf[start..end])
            }
            None => self.err(start, format!("unexpected end of file reading {n} bytes")),
        }
    }

    fn byte(&mut self) -> R<u8> {
        Ok(self.take(1)?[0])
    }

    fn u64_le(&mut self) -> R<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    /// `rdbLoadLenByRef`: the length, or the special string encoding (`Err(kind)` inside Ok).
    fn len_or_enc(&mut self) -> R<Result<u64, u8>> {
        let at = self.pos;
        let first = self.byte()?;
        Ok(match first >> 6 {
            0 => Ok((first & 0x3f) as u64),
            1 => Ok((((first & 0x3f) as u64) << 8) | self.byte()? as u64),
            2 => match first {
                LEN_32BIT => {
                    let b = self.take(4)?;
                    Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as u64)
                }
                LEN_64BIT => {
                    let b = self.take(8)?;
                    let mut a = [0u8; 8];
                    a.copy_from_slice(b);
                    Ok(u64::from_be_bytes(a))
                }
                _ => return self.err(at, format!("unknown length encoding {first:#x}")),
            },
            _ => Err(first & 0x3f),
        })
    }

    fn len(&mut self) -> R<u64> {
        let at = self.pos;
        match self.len_or_enc()? {
            Ok(n) => Ok(n),
            Err(_) => self.err(at, "expected a length, found an encoded string"),
        }
    }

    /// A length used to size an allocation: never more than the bytes left could hold.
    fn count(&mut self) -> R<usize> {
        let at = self.pos;
        let n = self.len()?;
        if n > (self.buf.len() - self.pos) as u64 {
            return self.err(at, format!("count {n} exceeds the rest of the file"));
        }
        Ok(n as usize)
    }

    /// `rdbGenericLoadStringObject`.
    fn string(&mut self) -> R<Vec<u8>> {
        let at = self.pos;
        match self.len_or_enc()? {
            Ok(n) => {
                let n = usize::try_from(n).unwrap_or(usize::MAX);
                Ok(self.take(n)?.to_vec())
            }
            Err(ENC_INT8_KIND) => Ok(int_text(self.take(1)?[0] as i8 as i64)),
            Err(ENC_INT16_KIND) => {
                let b = self.take(2)?;
                Ok(int_text(i16::from_le_bytes([b[0], b[1]]) as i64))
            }
            Err(ENC_INT32_KIND) => {
                let b = self.take(4)?;
                Ok(int_text(i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64))
            }
            Err(ENC_LZF_KIND) => {
                let clen = self.len()? as usize;
                let len = self.len()?;
                if len > MAX_STRING {
                    return self.err(at, format!("LZF string of {len} bytes is too large"));
                }
                let data = self.take(clen)?;
                match super::lzf::decompress(data, len as usize) {
                    Ok(v) => Ok(v),
                    Err(e) => self.err(at, e),
                }
            }
            Err(k) => self.err(at, format!("unknown string encoding {k}")),
        }
    }

    /// A string value (`TYPE_STRING`): plain strings are stored straight from the file and
    /// compressed ones from the scratch buffer, so each costs the one allocation it keeps.
    fn str_value(&mut self) -> R<StrValue> {
        let at = self.pos;
        match self.len_or_enc()? {
            Ok(n) => {
                let n = usize::try_from(n).unwrap_or(usize::MAX);
                Ok(StrValue::from_bytes(self.take(n)?))
            }
            Err(ENC_LZF_KIND) => {
                self.pos = at;
                self.with_blob(|_, b| Ok(StrValue::from_bytes(b)))
            }
            Err(_) => {
                self.pos = at;
                Ok(StrValue::from_bytes(&self.string()?))
            }
        }
    }

    /// Reads a string that is only looked at (a listpack, intset or ziplist blob) and calls
    /// `f` with its bytes: borrowed from the file when stored plainly, else decompressed into
    /// the reused scratch buffer. Saves the allocation and copy per blob `string()` makes.
    fn with_blob<T>(&mut self, f: impl FnOnce(&mut Self, &[u8]) -> R<T>) -> R<T> {
        let mut scratch = std::mem::take(&mut self.scratch);
        let result = match self.blob(&mut scratch) {
            Ok(blob) => f(self, blob),
            Err(e) => Err(e),
        };
        self.scratch = scratch;
        result
    }

    /// `string()` for `with_blob`: the bytes, borrowed from the file or written to `scratch`.
    fn blob<'s>(&mut self, scratch: &'s mut Vec<u8>) -> R<&'s [u8]>
    where
        'a: 's,
    {
        let at = self.pos;
        match self.len_or_enc()? {
            Ok(n) => self.take(usize::try_from(n).unwrap_or(usize::MAX)),
            Err(ENC_LZF_KIND) => {
                let clen = self.len()? as usize;
                let len = self.len()?;
                if len > MAX_STRING {
                    return self.err(at, format!("LZF string of {len} bytes is too large"));
                }
                let data = self.take(clen)?;
                match super::lzf::decompress_into(data, len as usize, scratch) {
                    Ok(()) => Ok(&scratch[..]),
                    Err(e) => self.err(at, e),
                }
            }
            Err(_) => {
                self.pos = at;
                let text = self.string()?;
                scratch.clear();
                scratch.extend_from_slice(&text);
                Ok(&scratch[..])
            }
        }
    }

    fn id16(&mut self) -> R<StreamId> {
        let b = self.take(16)?;
        Ok(decode_id(b))
    }

    fn blob_items<'b>(&self, at: usize, blob: &'b [u8], ziplist: bool) -> R<Vec<Item<'b>>> {
        let r = if ziplist {
            zl_decode(blob)
        } else {
            lp_decode(blob)
        };
        r.or_else(|e| self.err(at, e))
    }

    fn value(&mut self, kind: u8) -> R<Value> {
        let at = self.pos;
        Ok(match kind {
            TYPE_STRING => Value::Str(self.str_value()?),
            TYPE_LIST => {
                let n = self.count()?;
                let mut l = List::new(self.limits.list_fill);
                for _ in 0..n {
                    l.push_back(&self.string()?);
                }
                Value::List(Box::new(l))
            }
            TYPE_LIST_ZIPLIST => {
                let mut l = List::new(self.limits.list_fill);
                self.with_blob(|r, blob| {
                    l.extend_back(r.blob_items(at, blob, true)?.into_iter().map(Item::text));
                    Ok(())
                })?;
                Value::List(Box::new(l))
            }
            TYPE_LIST_QUICKLIST | TYPE_LIST_QUICKLIST_2 => {
                let nodes = self.count()?;
                let mut l = List::new(self.limits.list_fill);
                for _ in 0..nodes {
                    let container = if kind == TYPE_LIST_QUICKLIST_2 {
                        self.len()?
                    } else {
                        QUICKLIST_NODE_PACKED
                    };
                    let node_at = self.pos;
                    let zl = kind == TYPE_LIST_QUICKLIST;
                    self.with_blob(|r, blob| match container {
                        QUICKLIST_NODE_PLAIN => {
                            l.push_back(blob);
                            Ok(())
                        }
                        QUICKLIST_NODE_PACKED => {
                            let items = r.blob_items(node_at, blob, zl)?;
                            l.extend_back(items.into_iter().map(Item::text));
                            Ok(())
                        }
                        c => r.err(node_at, format!("unknown quicklist container {c}")),
                    })?;
                }
                Value::List(Box::new(l))
            }
            TYPE_SET => {
                let n = self.count()?;
                let mut s = Set::default();
                for _ in 0..n {
                    s.add(&self.string()?, self.limits.max_intset);
                }
                Value::Set(Box::new(s))
            }
            TYPE_SET_INTSET => {
                let ints =
                    self.with_blob(|r, blob| intset_decode(blob).or_else(|e| r.err(at, e)))?;
                Value::Set(Box::new(self.set_from_ints(ints)))
            }
            TYPE_SET_LISTPACK => {
                let max_intset = self.limits.max_intset;
                let mut s = Set::default();
                self.with_blob(|r, blob| {
                    for it in r.blob_items(at, blob, false)? {
                        s.add(&it.text(), max_intset);
                    }
                    Ok(())
                })?;
                Value::Set(Box::new(s))
            }
            TYPE_ZSET | TYPE_ZSET_2 => {
                let n = self.count()?;
                let mut z = Zset::with_hint(&self.limits.zset, n, 0);
                for _ in 0..n {
                    let member = self.string()?;
                    let score_at = self.pos;
                    let score = if kind == TYPE_ZSET_2 {
                        f64::from_bits(self.u64_le()?)
                    } else {
                        self.old_double()?
                    };
                    self.zadd(&mut z, &member, score, score_at)?;
                }
                Value::ZSet(Box::new(z))
            }
            TYPE_ZSET_ZIPLIST | TYPE_ZSET_LISTPACK => {
                let zl = kind == TYPE_ZSET_ZIPLIST;
                let z = self.with_blob(|r, blob| {
                    let items = r.blob_items(at, blob, zl)?;
                    r.zset_from_items(&items, at)
                })?;
                Value::ZSet(Box::new(z))
            }
            TYPE_HASH => {
                let n = self.count()?;
                let mut h = Hash::default();
                for _ in 0..n {
                    let f = self.string()?;
                    let v = self.string()?;
                    h.set(&f, &v, self.limits.hash);
                }
                Value::Hash(h)
            }
            TYPE_HASH_ZIPLIST | TYPE_HASH_LISTPACK => {
                let zl = kind == TYPE_HASH_ZIPLIST;
                let h = self.with_blob(|r, blob| {
                    let items = r.blob_items(at, blob, zl)?;
                    if !items.len().is_multiple_of(2) {
                        return r.err(at, "hash blob with an odd number of elements");
                    }
                    Ok(r.hash_from_items(&items))
                })?;
                Value::Hash(h)
            }
            TYPE_STREAM_LISTPACKS | TYPE_STREAM_LISTPACKS_2 | TYPE_STREAM_LISTPACKS_3 => {
                Value::Stream(Box::new(self.stream(kind)?))
            }
            TYPE_HASH_ZIPMAP => {
                return self.err(at, "zipmap hashes (Redis 2.x files) are not supported")
            }
            TYPE_MODULE | TYPE_MODULE_2 => return self.err(at, "module values are not supported"),
            other => return self.err(at.saturating_sub(1), format!("unknown value type {other}")),
        })
    }

    /// An intset blob's members. Sorted, distinct and within `set-max-intset-entries` (what
    /// any valid file holds) they are the intset as is; otherwise they are added one by one,
    /// which sorts, drops duplicates and converts as `SADD` would.
    fn set_from_ints(&self, ints: Vec<i64>) -> Set {
        let max_intset = self.limits.max_intset;
        if ints.len() <= max_intset && ints.windows(2).all(|w| w[0] < w[1]) {
            return Set::Intset(ints);
        }
        let mut s = Set::default();
        for n in ints {
            s.add(&Text::int(n), max_intset);
        }
        s
    }

    /// A small hash from its listpack/ziplist elements. Within the listpack limits and without
    /// a repeated field (any file Redis wrote) it is packed in one allocation; otherwise it is
    /// built field by field, which keeps the last value of a repeated field and converts to a
    /// table as `HSET` would.
    fn hash_from_items(&mut self, items: &[Item]) -> Hash {
        let limits = self.limits.hash;
        let fits = items.len() / 2 <= limits.max_listpack_entries
            && items
                .iter()
                .all(|it| it.text().len() <= limits.max_listpack_value);
        if fits && !has_repeated_field(items) {
            let mut w = listpack::Writer::new(&mut self.lp);
            for it in items {
                match *it {
                    Item::Int(n) => w.push_int(n),
                    Item::Str(s) => w.push(s),
                }
            }
            return Hash::Listpack(w.finish());
        }
        let mut h = Hash::default();
        for pair in items.chunks_exact(2) {
            h.set(&pair[0].text(), &pair[1].text(), limits);
        }
        h
    }

    fn zset_from_items(&self, items: &[Item], at: usize) -> R<Zset> {
        if !items.len().is_multiple_of(2) {
            return self.err(at, "sorted set blob with an odd number of elements");
        }
        let mut z = Zset::with_hint(&self.limits.zset, items.len() / 2, 0);
        for pair in items.chunks_exact(2) {
            let score = match pair[1] {
                Item::Int(n) => n as f64,
                Item::Str(s) => match parse_blob_score(s) {
                    Some(d) => d,
                    None => return self.err(at, "sorted set score is not a number"),
                },
            };
            self.zadd(&mut z, &pair[0].text(), score, at)?;
        }
        Ok(z)
    }

    fn zadd(&self, z: &mut Zset, member: &[u8], score: f64, at: usize) -> R<()> {
        match z.insert_or_update(member, score, ZaddFlags::default(), &self.limits.zset) {
            Ok(_) => Ok(()),
            Err(_) => self.err(at, "sorted set score is NaN"),
        }
    }

    /// `rdbLoadDoubleValue`: the text doubles of `RDB_TYPE_ZSET`.
    fn old_double(&mut self) -> R<f64> {
        let at = self.pos;
        match self.byte()? {
            253 => Ok(f64::NAN),
            254 => Ok(f64::INFINITY),
            255 => Ok(f64::NEG_INFINITY),
            n => {
                let text = self.take(n as usize)?;
                crate::util::parse_f64(text).map_or_else(|| self.err(at, "invalid double"), Ok)
            }
        }
    }

    fn stream(&mut self, kind: u8) -> R<Stream> {
        let mut s = Stream::new();
        let nodes = self.count()?;
        for _ in 0..nodes {
            let key_at = self.pos;
            let key = self.string()?;
            if key.len() != 16 {
                return self.err(key_at, "stream node key is not a 16-byte ID");
            }
            let master = decode_id(&key);
            let lp_at = self.pos;
            let blob = self.string()?;
            let items = self.blob_items(lp_at, &blob, false)?;
            if items.is_empty() {
                return self.err(lp_at, "empty listpack inside stream");
            }
            self.stream_node(&mut s, master, &items, lp_at)?;
        }
        let len_at = self.pos;
        let length = self.len()?;
        let last = StreamId::new(self.len()?, self.len()?);
        let (max_deleted, entries_added) = if kind >= TYPE_STREAM_LISTPACKS_2 {
            let _first = StreamId::new(self.len()?, self.len()?);
            let max_deleted = StreamId::new(self.len()?, self.len()?);
            (max_deleted, self.len()?)
        } else {
            (StreamId::MIN, length)
        };
        if s.len() != length {
            return self.err(
                len_at,
                format!("stream length {length} but {} entries found", s.len()),
            );
        }
        s.set_last_id(last);
        s.set_max_deleted_entry_id(max_deleted);
        s.set_entries_added(entries_added);
        let groups = self.count()?;
        for _ in 0..groups {
            self.group(&mut s, kind)?;
        }
        Ok(s)
    }

    /// One listpack node in Redis's stream layout: a master entry, then entries relative to it.
    fn stream_node(&self, s: &mut Stream, master: StreamId, items: &[Item], at: usize) -> R<()> {
        let get = |i: usize| -> R<Item> {
            items
                .get(i)
                .copied()
                .map_or_else(|| self.err(at, "stream listpack entry is truncated"), Ok)
        };
        let int = |i: usize| -> R<i64> {
            get(i)?
                .as_i64()
                .map_or_else(|| self.err(at, "stream listpack: expected an integer"), Ok)
        };
        let nfields = usize::try_from(int(2)?).unwrap_or(usize::MAX);
        if nfields > items.len() {
            return self.err(at, "stream master entry is truncated");
        }
        let master_fields: Vec<Vec<u8>> = (0..nfields)
            .map(|i| get(3 + i).map(|it| it.to_vec()))
            .collect::<R<_>>()?;
        let mut p = 3 + nfields + 1;
        while p < items.len() {
            let flags = int(p)?;
            let ms = master.ms.wrapping_add(int(p + 1)? as u64);
            let seq = master.seq.wrapping_add(int(p + 2)? as u64);
            p += 3;
            let mut fields: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
            if flags & STREAM_FLAG_SAMEFIELDS != 0 {
                for (i, f) in master_fields.iter().enumerate() {
                    fields.push((f.clone(), get(p + i)?.to_vec()));
                }
                p += nfields;
            } else {
                let n = usize::try_from(int(p)?).unwrap_or(usize::MAX);
                if n > items.len() {
                    return self.err(at, "stream entry is truncated");
                }
                p += 1;
                for i in 0..n {
                    fields.push((get(p + 2 * i)?.to_vec(), get(p + 2 * i + 1)?.to_vec()));
                }
                p += 2 * n;
            }
            get(p)?; // lp-count
            p += 1;
            if flags & STREAM_FLAG_DELETED != 0 {
                continue;
            }
            let refs: Vec<(&[u8], &[u8])> = fields.iter().map(|(f, v)| (&f[..], &v[..])).collect();
            if s.add(StreamId::new(ms, seq), &refs, self.limits.stream)
                .is_err()
            {
                return self.err(at, format!("stream entry {ms}-{seq} is out of order"));
            }
        }
        Ok(())
    }

    fn group(&mut self, s: &mut Stream, kind: u8) -> R<()> {
        let at = self.pos;
        let name = self.string()?;
        let last_id = StreamId::new(self.len()?, self.len()?);
        let entries_read = if kind >= TYPE_STREAM_LISTPACKS_2 {
            self.len()? as i64
        } else {
            INVALID_ENTRIES_READ
        };
        if !s.groups_mut().create(&name, last_id, entries_read) {
            return self.err(at, "duplicated consumer group name");
        }
        let npel = self.count()?;
        let mut pel = std::collections::BTreeMap::new();
        for _ in 0..npel {
            let id = self.id16()?;
            let delivery_time = self.u64_le()? as i64;
            let delivery_count = self.len()?;
            let nack = Nack {
                consumer: Box::from(&[][..]),
                delivery_time,
                delivery_count,
            };
            pel.insert(id, nack);
        }
        let nconsumers = self.count()?;
        let mut consumers = std::collections::BTreeMap::new();
        let mut owned = 0usize;
        for _ in 0..nconsumers {
            let cname = self.string()?;
            let seen_time = self.u64_le()? as i64;
            if kind >= TYPE_STREAM_LISTPACKS_3 {
                self.u64_le()?; // active-time (Redis 7.2), not kept here
            }
            let n = self.count()?;
            let mut c = Consumer {
                seen_time,
                pel: Default::default(),
            };
            for _ in 0..n {
                let id_at = self.pos;
                let id = self.id16()?;
                match pel.get_mut(&id) {
                    Some(nack) => nack.consumer = Box::from(&cname[..]),
                    None => return self.err(id_at, "consumer PEL entry not in the group PEL"),
                }
                c.pel.insert(id);
                owned += 1;
            }
            consumers.insert(Box::from(&cname[..]), c);
        }
        if owned != pel.len() {
            return self.err(at, "group PEL entry without a consumer");
        }
        if let Some(g) = s.groups_mut().get_mut(&name) {
            g.pel = pel;
            g.consumers = consumers;
        }
        Ok(())
    }
}

/// Whether two fields (even positions) of a pair list are equal as text.
fn has_repeated_field(items: &[Item]) -> bool {
    let fields = || items.iter().step_by(2);
    fields().enumerate().any(|(i, a)| {
        fields().skip(i + 1).any(|b| match (a, b) {
            (Item::Str(x), Item::Str(y)) => x == y,
            (Item::Int(x), Item::Int(y)) => x == y,
            _ => *a.text() == *b.text(),
        })
    })
}

/// A score stored as text in a sorted set blob (Redis writes `%.17g`). A plain decimal of at
/// most 30 characters parses to the same double with Rust's parser as with `strtod` (both
/// round correctly, and no such text overflows or underflows), without the NUL-terminated
/// copy `parse_f64` makes for `strtod`; anything else (exponents, inf) goes to `strtod`.
fn parse_blob_score(s: &[u8]) -> Option<f64> {
    if s.len() <= 30 && is_plain_decimal(s) {
        let parsed = std::str::from_utf8(s)
            .ok()
            .and_then(|t| t.parse::<f64>().ok());
        if parsed.is_some() {
            return parsed;
        }
    }
    crate::util::parse_f64(s)
}

/// `-?[0-9]+(\.[0-9]+)?`
fn is_plain_decimal(s: &[u8]) -> bool {
    let unsigned = s.strip_prefix(b"-").unwrap_or(s);
    let (int, frac) = match unsigned.iter().position(|&b| b == b'.') {
        Some(p) => (&unsigned[..p], Some(&unsigned[p + 1..])),
        None => (unsigned, None),
    };
    let digits = |d: &[u8]| !d.is_empty() && d.iter().all(u8::is_ascii_digit);
    digits(int) && frac.is_none_or(digits)
}

fn int_text(n: i64) -> Vec<u8> {
    itoa::Buffer::new().format(n).as_bytes().to_vec()
}

fn decode_id(b: &[u8]) -> StreamId {
    let mut ms = [0u8; 8];
    let mut seq = [0u8; 8];
    ms.copy_from_slice(&b[..8]);
    seq.copy_from_slice(&b[8..16]);
    StreamId::new(u64::from_be_bytes(ms), u64::from_be_bytes(seq))
}

/// Parses a whole RDB file, calling `sink` for every key (expired ones included: the caller
/// decides). Checks the header, the opcodes and, when asked and present, the CRC64 trailer.
pub fn load(
    buf: &[u8],
    limits: LoadLimits,
    sink: &mut dyn FnMut(LoadedKey) -> Result<(), String>,
) -> Result<LoadInfo, RdbError> {
    load_with_sizes(buf, limits, sink, &mut |_, _, _| {})
}

/// [`load`], also passing each RESIZEDB hint (db, keys, expires) so tables can be sized
/// once instead of growing while loading.
pub fn load_with_sizes(
    buf: &[u8],
    limits: LoadLimits,
    sink: &mut dyn FnMut(LoadedKey) -> Result<(), String>,
    sizes: &mut dyn FnMut(usize, u64, u64),
) -> Result<LoadInfo, RdbError> {
    load_with_hooks(buf, limits, sink, sizes, &mut |_, _| {})
}

/// Which part of a key's upcoming insert the `prefetch` hook of [`load_with_hooks`] should
/// start fetching into the cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prefetch {
    /// The table slot the key hashes to.
    Bucket,
    /// What that slot points to (asked for a few keys after `Bucket`, once it has arrived).
    Chain,
}

/// [`load_with_sizes`], also calling `prefetch` for each key some keys before handing it to
/// `sink`: filling a table larger than the caches mostly waits for memory, and a few lookups
/// in flight at once hide most of that wait. `sink` still sees the keys in file order, and a
/// key is handed over before any error found after it is returned.
pub fn load_with_hooks(
    buf: &[u8],
    limits: LoadLimits,
    sink: &mut dyn FnMut(LoadedKey) -> Result<(), String>,
    sizes: &mut dyn FnMut(usize, u64, u64),
    prefetch: &mut dyn FnMut(&LoadedKey, Prefetch),
) -> Result<LoadInfo, RdbError> {
    let mut r = Reader {
        buf,
        pos: 0,
        limits,
        scratch: Vec::new(),
        lp: Vec::new(),
    };
    let mut info = LoadInfo {
        version: read_header(&mut r)?,
        ..Default::default()
    };
    let verify = limits.verify_checksum && info.version >= 5;
    std::thread::scope(|scope| {
        let early_crc = if verify {
            spawn_trailer_crc(scope, buf)
        } else {
            None
        };
        let mut keys = Pipeline {
            queue: std::collections::VecDeque::with_capacity(PIPELINE + 1),
            sink,
            prefetch,
        };
        let body = read_body(&mut r, &mut info, &mut keys, sizes);
        // Keys parsed before an error reach the sink before it is returned (a sink error
        // about one of them comes first, as it would have without the pipeline).
        keys.flush()?;
        let eof_end = body?;
        if info.version >= 5 {
            let stored = r.u64_le()?;
            if verify && stored != 0 {
                // The thread summed everything before the last 8 bytes: the right range
                // unless the file continues past the checksum.
                let crc = match early_crc {
                    Some(h) if r.pos == buf.len() => h.join().ok(),
                    _ => None,
                }
                .unwrap_or_else(|| super::crc64::update(0, &buf[..eof_end]));
                if crc != stored {
                    return r.err(
                        eof_end,
                        format!("wrong RDB checksum: expected {stored:#x}, got {crc:#x}"),
                    );
                }
            }
        }
        info.end = r.pos;
        Ok(info)
    })
}

/// Files at least this large have their checksum computed on a second thread.
const PARALLEL_CRC_MIN: usize = 1 << 20;

/// Starts the CRC64 of a large file (all but its 8-byte trailer) on a second thread: it costs
/// a tenth of a load, and runs while the keys are parsed. The caller compares it with the
/// trailer before the load succeeds, so a corrupt file still fails. `None` for small files or
/// when no thread can be started (the caller then computes it inline).
fn spawn_trailer_crc<'s, 'b: 's>(
    scope: &'s std::thread::Scope<'s, '_>,
    buf: &'b [u8],
) -> Option<std::thread::ScopedJoinHandle<'s, u64>> {
    if buf.len() < PARALLEL_CRC_MIN {
        return None;
    }
    let body = &buf[..buf.len() - 8];
    std::thread::Builder::new()
        .name("rdb-crc".into())
        .spawn_scoped(scope, move || super::crc64::update(0, body))
        .ok()
}

/// The `REDIS0011` signature; returns the version.
fn read_header(r: &mut Reader) -> R<u32> {
    let magic = r.take(9)?;
    if &magic[..5] != b"REDIS" {
        return r.err(0, "wrong signature trying to load DB from file");
    }
    let version = std::str::from_utf8(&magic[5..])
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(0);
    if !(1..=MAX_READ_VERSION).contains(&version) {
        return r.err(
            5,
            format!(
                "can't handle RDB format version {}",
                String::from_utf8_lossy(&magic[5..])
            ),
        );
    }
    Ok(version)
}

/// Keys handed to the sink this many keys after being read: their prefetches have that long
/// to arrive (the chain's from half way).
const PIPELINE: usize = 16;

/// Parsed keys on their way to the sink (see [`load_with_hooks`]).
struct Pipeline<'h> {
    /// Each key with the offset of its record, for errors.
    queue: std::collections::VecDeque<(LoadedKey, usize)>,
    sink: &'h mut dyn FnMut(LoadedKey) -> Result<(), String>,
    prefetch: &'h mut dyn FnMut(&LoadedKey, Prefetch),
}

impl Pipeline<'_> {
    fn push(&mut self, key: LoadedKey, at: usize) -> R<()> {
        (self.prefetch)(&key, Prefetch::Bucket);
        self.queue.push_back((key, at));
        let n = self.queue.len();
        if n > PIPELINE / 2 {
            (self.prefetch)(&self.queue[n - 1 - PIPELINE / 2].0, Prefetch::Chain);
        }
        if n > PIPELINE {
            self.pop()?;
        }
        Ok(())
    }

    fn pop(&mut self) -> R<()> {
        match self.queue.pop_front() {
            Some((key, at)) => (self.sink)(key).map_err(|msg| RdbError { offset: at, msg }),
            None => Ok(()),
        }
    }

    fn flush(&mut self) -> R<()> {
        while !self.queue.is_empty() {
            self.pop()?;
        }
        Ok(())
    }
}

/// Every opcode up to and including EOF; returns the offset after the EOF opcode.
fn read_body(
    r: &mut Reader,
    info: &mut LoadInfo,
    keys: &mut Pipeline,
    sizes: &mut dyn FnMut(usize, u64, u64),
) -> R<usize> {
    let databases = r.limits.databases;
    let mut db = 0usize;
    let mut expire: Option<i64> = None;
    loop {
        let op_at = r.pos;
        let op = r.byte()?;
        match op {
            OP_EXPIRETIME => {
                let b = r.take(4)?;
                expire = Some(i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64 * 1000);
            }
            OP_EXPIRETIME_MS => expire = Some(r.u64_le()? as i64),
            OP_FREQ => {
                r.byte()?;
            }
            OP_IDLE => {
                r.len()?;
            }
            OP_EOF => return Ok(r.pos),
            OP_SELECTDB => {
                let n = r.len()?;
                if n >= databases as u64 {
                    return r.err(
                        op_at,
                        format!(
                            "the file uses database {n}, this server has {databases} databases"
                        ),
                    );
                }
                db = n as usize;
            }
            OP_RESIZEDB => {
                let keys = r.len()?;
                let expires = r.len()?;
                sizes(db, keys, expires);
            }
            OP_AUX => {
                let k = r.string()?;
                let v = r.string()?;
                info.aux.push((k, v));
            }
            OP_MODULE_AUX => return r.err(op_at, "module data is not supported"),
            OP_FUNCTION | OP_FUNCTION2 => return r.err(op_at, "functions are not supported"),
            kind => {
                let key = r.string()?;
                let value = r.value(kind)?;
                let expire_ms = expire.take();
                info.keys += 1;
                if value_is_empty(&value) {
                    continue;
                }
                let loaded = LoadedKey {
                    db,
                    key,
                    value,
                    expire_ms,
                };
                keys.push(loaded, op_at)?;
            }
        }
    }
}

fn value_is_empty(v: &Value) -> bool {
    match v {
        Value::List(l) => l.is_empty(),
        Value::Set(s) => s.is_empty(),
        Value::ZSet(z) => z.is_empty(),
        Value::Hash(h) => h.is_empty(),
        Value::Str(_) | Value::Stream(_) => false,
    }
}
