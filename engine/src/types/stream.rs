//! Stream values (XADD / XRANGE / XREVRANGE / XDEL / XTRIM / XLEN; consumer
//! groups live in `stream_group.rs`): the entry store, ID generation, trimming, and the exact
//! Redis 7.0 parsing helpers for stream IDs and XADD/XTRIM options, modelled
//! on `t_stream.c`. Replies and RESP encoding belong to the command layer.
//!
//! # Layout
//! Like Redis (a rax of listpacks), entries live in nodes kept in a
//! `BTreeMap<StreamId, Node>` keyed by each node's master ID (the ID of its
//! first entry). A node owns one packed byte buffer:
//!
//! ```text
//! master:  nfields:varint (len:varint bytes){nfields}
//! entry:   flags:u8 ms_delta:varint seq:varint
//!          [nfields:varint]                    (only without SAMEFIELDS)
//!          ([flen:varint field] vlen:varint value){nfields}
//!          backlen: varint of the entry length, bytes reversed
//! ```
//!
//! `seq` is relative to the master seq when `ms_delta == 0`, absolute
//! otherwise. Entries whose field names equal the master fields store only
//! values (`SAMEFIELDS` flag). XDEL/XTRIM set the `DELETED` flag in place and
//! keep the bytes (Redis does no garbage collection either). A node is dropped
//! when XDEL removes its last live entry, or when XTRIM removes it whole.
//!
//! # Node size: exact Redis decisions
//! A new node is started when `listpack_bytes + Σ len(field)+len(value)` of
//! the new entry is `>= stream-node-max-bytes` (0 or more than 1 GiB means
//! 1 GiB), or when the tail node holds `>= stream-node-max-entries` entries,
//! live or deleted (0 means no limit). `listpack_bytes` is not this node's
//! buffer length: each node tracks the byte size its content would have as a
//! Redis listpack (integer-looking strings encoded as integers, entry and
//! backlen header sizes, the count/deleted header fields), so node
//! boundaries, `XINFO STREAM` `radix-tree-keys` and `~` trimming match
//! redis-server 7 for entries of any size.
//!
//! Known difference from redis-server: `approx_bytes` is this layout's
//! memory, not jemalloc's. A rax's internal node count (`radix-tree-nodes`)
//! is derived from the node keys ([`Stream::radix_tree_nodes`]).

use std::collections::btree_map;
use std::collections::BTreeMap;
use std::fmt;
use std::iter::FusedIterator;

/// Default of the `stream-node-max-bytes` config.
pub const DEFAULT_NODE_MAX_BYTES: usize = 4096;
/// Default of the `stream-node-max-entries` config.
pub const DEFAULT_NODE_MAX_ENTRIES: usize = 100;
/// Redis `STREAM_LISTPACK_MAX_SIZE`: cap of a node, and of one entry's
/// total field + value bytes (beyond it XADD fails with
/// [`StreamError::ElementsTooLarge`]).
pub const LISTPACK_MAX_SIZE: usize = 1 << 30;

const FLAG_DELETED: u8 = 1;
const FLAG_SAMEFIELDS: u8 = 2;
/// Longest ID argument Redis accepts (its parse buffer is 128 bytes).
const ID_MAX_LEN: usize = 127;

// ---------------------------------------------------------------------------
// IDs
// ---------------------------------------------------------------------------

/// A stream entry ID, ordered by `ms` then `seq`; displays as `ms-seq`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    pub const fn new(ms: u64, seq: u64) -> Self {
        StreamId { ms, seq }
    }

    pub fn is_zero(self) -> bool {
        self == StreamId::MIN
    }

    /// Redis `streamIncrID`: the next ID (seq overflow moves to `ms+1`-0);
    /// `None` for `MAX`.
    pub fn incr(self) -> Option<StreamId> {
        if self.seq == u64::MAX {
            if self.ms == u64::MAX {
                None
            } else {
                Some(StreamId::new(self.ms + 1, 0))
            }
        } else {
            Some(StreamId::new(self.ms, self.seq + 1))
        }
    }

    /// Redis `streamDecrID`: the previous ID; `None` for `0-0`.
    pub fn decr(self) -> Option<StreamId> {
        if self.seq == 0 {
            if self.ms == 0 {
                None
            } else {
                Some(StreamId::new(self.ms - 1, u64::MAX))
            }
        } else {
            Some(StreamId::new(self.ms, self.seq - 1))
        }
    }

    /// Redis `streamParseStrictIDOrReply(.., missing_seq = 0, NULL)`:
    /// `<ms>` (seq 0) or `<ms>-<seq>`; `-`, `+`, `<ms>-*` are invalid.
    /// For XDEL IDs, MINID thresholds, XSETID and the like.
    pub fn parse_strict(arg: &[u8]) -> Result<StreamId, StreamError> {
        parse_id(arg, 0, true, false).map(|(id, _)| id)
    }

    /// Redis `streamParseIDOrReply`: like [`StreamId::parse_strict`] but also
    /// `-` (0-0) and `+` (MAX), and `<ms>` gets `missing_seq`.
    pub fn parse(arg: &[u8], missing_seq: u64) -> Result<StreamId, StreamError> {
        parse_id(arg, missing_seq, false, false).map(|(id, _)| id)
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// Errors with Redis 7.0's exact texts; [`StreamError::message`] is the full
/// error line without the leading `-` (e.g. `"ERR syntax error"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamError {
    InvalidId,
    InvalidStartInterval,
    InvalidEndInterval,
    XaddIdZero,
    XaddIdTooSmall,
    Exhausted,
    ElementsTooLarge,
    NotAnInteger,
    SyntaxError,
    MaxLenNegative,
    LimitNegative,
    MaxLenAndMinId,
    LimitWithoutStrategy,
    LimitWithoutApprox,
    XtrimWithoutStrategy,
}

impl StreamError {
    pub fn message(self) -> &'static str {
        match self {
            StreamError::InvalidId => "ERR Invalid stream ID specified as stream command argument",
            StreamError::InvalidStartInterval => "ERR invalid start ID for the interval",
            StreamError::InvalidEndInterval => "ERR invalid end ID for the interval",
            StreamError::XaddIdZero => "ERR The ID specified in XADD must be greater than 0-0",
            StreamError::XaddIdTooSmall => {
                "ERR The ID specified in XADD is equal or smaller than the target stream top item"
            }
            StreamError::Exhausted => {
                "ERR The stream has exhausted the last possible ID, unable to add more items"
            }
            StreamError::ElementsTooLarge => "ERR Elements are too large to be stored",
            StreamError::NotAnInteger => "ERR value is not an integer or out of range",
            StreamError::SyntaxError => "ERR syntax error",
            StreamError::MaxLenNegative => "ERR The MAXLEN argument must be >= 0.",
            StreamError::LimitNegative => "ERR The LIMIT argument must be >= 0.",
            StreamError::MaxLenAndMinId => {
                "ERR syntax error, MAXLEN and MINID options at the same time are not compatible"
            }
            StreamError::LimitWithoutStrategy => {
                "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy"
            }
            StreamError::LimitWithoutApprox => {
                "ERR syntax error, LIMIT cannot be used without the special ~ option"
            }
            StreamError::XtrimWithoutStrategy => {
                "ERR syntax error, XTRIM must be called with a trimming strategy"
            }
        }
    }
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for StreamError {}

// ---------------------------------------------------------------------------
// Number and ID parsing (ports of Redis's C helpers, quirks included)
// ---------------------------------------------------------------------------

/// Redis compares many arguments as C strings: everything from the first
/// NUL byte on is invisible.
fn c_str(arg: &[u8]) -> &[u8] {
    match arg.iter().position(|&b| b == 0) {
        Some(i) => &arg[..i],
        None => arg,
    }
}

/// Redis `string2ll` (also `lpStringToInt64`): canonical decimal only, no
/// sign but `-`, no leading zeros, no spaces, fewer than 21 bytes.
fn string2ll(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() >= 21 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (negative, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    if negative {
        if v > (i64::MAX as u64) + 1 {
            return None;
        }
        Some(0u64.wrapping_sub(v) as i64)
    } else if v > i64::MAX as u64 {
        None
    } else {
        Some(v as i64)
    }
}

/// Redis `string2ull`: `string2ll` (negative rejected), else glibc
/// `strtoull(s, &end, 10)` that must consume everything: leading
/// whitespace, `+`, leading zeros and values up to `u64::MAX` are accepted,
/// and `-<n>` that `string2ll` rejected wraps around like C does.
fn string2ull(s: &[u8]) -> Option<u64> {
    if let Some(v) = string2ll(s) {
        return if v < 0 { None } else { Some(v as u64) };
    }
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
        i += 1;
    }
    let mut negative = false;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        negative = s[i] == b'-';
        i += 1;
    }
    let digits_start = i;
    let mut v: u64 = 0;
    let mut overflow = false;
    while i < s.len() && s[i].is_ascii_digit() {
        match v
            .checked_mul(10)
            .and_then(|x| x.checked_add(u64::from(s[i] - b'0')))
        {
            Some(x) => v = x,
            None => overflow = true,
        }
        i += 1;
    }
    if i == digits_start || overflow || i != s.len() {
        return None;
    }
    Some(if negative { v.wrapping_neg() } else { v })
}

/// Redis `streamGenericParseIDOrReply`. Returns the ID and whether the seq
/// was given (false only for `<ms>-*` when `allow_auto_seq`).
fn parse_id(
    arg: &[u8],
    missing_seq: u64,
    strict: bool,
    allow_auto_seq: bool,
) -> Result<(StreamId, bool), StreamError> {
    if arg.len() > ID_MAX_LEN {
        return Err(StreamError::InvalidId);
    }
    let buf = c_str(arg);
    if buf == b"-" || buf == b"+" {
        if strict {
            return Err(StreamError::InvalidId);
        }
        let id = if buf == b"-" {
            StreamId::MIN
        } else {
            StreamId::MAX
        };
        return Ok((id, true));
    }
    let (ms_part, seq_part) = match buf.iter().position(|&b| b == b'-') {
        Some(dash) => (&buf[..dash], Some(&buf[dash + 1..])),
        None => (buf, None),
    };
    let ms = string2ull(ms_part).ok_or(StreamError::InvalidId)?;
    match seq_part {
        Some(b"*") if allow_auto_seq => Ok((StreamId::new(ms, 0), false)),
        Some(seq) => {
            let seq = string2ull(seq).ok_or(StreamError::InvalidId)?;
            Ok((StreamId::new(ms, seq), true))
        }
        None => Ok((StreamId::new(ms, missing_seq), true)),
    }
}

/// Redis `streamParseIntervalIDOrReply`: an optional `(` prefix (only when
/// the argument is longer than 1 byte) makes the bound exclusive and the
/// rest is then parsed strictly (`(-` / `(+` are invalid IDs); otherwise
/// `-`, `+`, `<ms>` (seq = `missing_seq`) and `<ms>-<seq>`.
/// Returns `(id, exclusive)`; the caller adjusts exclusive bounds.
pub fn parse_interval_id(arg: &[u8], missing_seq: u64) -> Result<(StreamId, bool), StreamError> {
    if arg.len() > 1 && arg[0] == b'(' {
        parse_id(&arg[1..], missing_seq, true, false).map(|(id, _)| (id, true))
    } else {
        parse_id(arg, missing_seq, false, false).map(|(id, _)| (id, false))
    }
}

/// XRANGE start / XREVRANGE's second ID argument, as the inclusive lower
/// bound. `-` → 0-0, `<ms>` → ms-0, `(<id>` → id + 1.
///
/// Errors: [`StreamError::InvalidId`] for anything unparsable, including
/// `(`, `(-`, `(+`; [`StreamError::InvalidStartInterval`] for
/// `(18446744073709551615-18446744073709551615`. Redis parses (and reports
/// errors for) the start bound before the end bound, also in XREVRANGE.
pub fn parse_range_start(arg: &[u8]) -> Result<StreamId, StreamError> {
    let (id, exclusive) = parse_interval_id(arg, 0)?;
    if exclusive {
        id.incr().ok_or(StreamError::InvalidStartInterval)
    } else {
        Ok(id)
    }
}

/// XRANGE end / XREVRANGE's first ID argument, as the inclusive upper
/// bound. `+` → MAX, `<ms>` → ms-18446744073709551615, `(<id>` → id − 1.
///
/// Errors: [`StreamError::InvalidId`] for anything unparsable, including
/// `(`, `(-`, `(+`; [`StreamError::InvalidEndInterval`] for `(0-0` (and
/// `(-0`-like spellings of it).
pub fn parse_range_end(arg: &[u8]) -> Result<StreamId, StreamError> {
    let (id, exclusive) = parse_interval_id(arg, u64::MAX)?;
    if exclusive {
        id.decr().ok_or(StreamError::InvalidEndInterval)
    } else {
        Ok(id)
    }
}

/// The ID argument of XADD.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XaddId {
    /// `*`: from the clock (see [`Stream::next_id`]).
    Auto,
    /// `<ms>-*`: given ms, generated seq.
    AutoSeq(u64),
    /// `<ms>-<seq>` or `<ms>` (seq 0).
    Explicit(StreamId),
}

impl XaddId {
    /// Parses `*`, `<ms>-*`, `<ms>-<seq>`, `<ms>`; `-` and `+` are invalid.
    /// Error: [`StreamError::InvalidId`].
    pub fn parse(arg: &[u8]) -> Result<XaddId, StreamError> {
        if c_str(arg) == b"*" {
            return Ok(XaddId::Auto);
        }
        let (id, seq_given) = parse_id(arg, 0, true, true)?;
        Ok(if seq_given {
            XaddId::Explicit(id)
        } else {
            XaddId::AutoSeq(id.ms)
        })
    }

    /// Redis rejects an explicit `0-0` (or `0`) right after the arity check
    /// and before looking the key up (so before WRONGTYPE, and without
    /// creating the key), whatever the stream holds:
    /// [`StreamError::XaddIdZero`]. `0-*` is fine.
    pub fn validate(self) -> Result<(), StreamError> {
        match self {
            XaddId::Explicit(id) if id.is_zero() => Err(StreamError::XaddIdZero),
            _ => Ok(()),
        }
    }
}

// ---------------------------------------------------------------------------
// Trimming options
// ---------------------------------------------------------------------------

/// What XTRIM / XADD trimming keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrimStrategy {
    /// Keep (at least, with `~`) this many entries.
    MaxLen(u64),
    /// Remove entries with IDs below this one.
    MinId(StreamId),
}

/// One trim request, as Redis's `streamTrim` takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrimArgs {
    pub strategy: TrimStrategy,
    /// `~`: remove whole nodes only.
    pub approx: bool,
    /// Stop before a node whose removal would bring the removed count above
    /// this; 0 = no limit. Exact trims have 0 (LIMIT needs `~`).
    pub limit: u64,
}

/// The LIMIT Redis 7.0 uses for `~` trims without LIMIT:
/// `100 * stream-node-max-entries` (so 0, no limit, when that config is 0).
pub fn default_approx_limit(node_max_entries: usize) -> u64 {
    (node_max_entries as u64).saturating_mul(100)
}

/// Result of [`parse_add_or_trim_args`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddTrimArgs {
    pub trim: Option<TrimArgs>,
    /// XADD NOMKSTREAM.
    pub nomkstream: bool,
    /// XADD's ID ([`XaddId::Auto`] when `*`, or when no ID was reached).
    pub id: XaddId,
    /// Index (into the slice given) where the loop stopped: XADD's ID, so
    /// field/value pairs start at `id_index + 1`; `args.len()` when the
    /// options ran to the end. XADD's arity check is then
    /// `args.len() < id_index + 3 || (args.len() - id_index - 1) % 2 == 1`.
    pub id_index: usize,
    /// Index of the MAXLEN count / MINID argument (Redis rewrites it, and
    /// the `~` before it, when propagating an approximate trim).
    pub trim_arg_index: Option<usize>,
}

/// Redis `streamParseAddOrTrimArgsOrReply` for a normal client. `args` is
/// argv after the key (`argv[2..]`); `xadd` selects XADD (ID, NOMKSTREAM)
/// vs XTRIM. Errors come in Redis's order. For commands from a master or the
/// AOF, Redis then forces `limit = 0` (not done here).
pub fn parse_add_or_trim_args(
    args: &[&[u8]],
    xadd: bool,
    node_max_entries: usize,
) -> Result<AddTrimArgs, StreamError> {
    let mut strategy: Option<TrimStrategy> = None;
    let mut approx = false;
    let mut limit: u64 = 0;
    let mut limit_given = false;
    let mut nomkstream = false;
    let mut id = XaddId::Auto;
    let mut trim_arg_index = None;
    let argc = args.len();
    let mut i = 0;
    while i < argc {
        let moreargs = argc - 1 - i;
        let opt = c_str(args[i]);
        if xadd && opt == b"*" {
            break;
        } else if moreargs > 0
            && (opt.eq_ignore_ascii_case(b"maxlen") || opt.eq_ignore_ascii_case(b"minid"))
        {
            if strategy.is_some() {
                return Err(StreamError::MaxLenAndMinId);
            }
            approx = false;
            let next = c_str(args[i + 1]);
            if moreargs >= 2 && next == b"~" {
                approx = true;
                i += 1;
            } else if moreargs >= 2 && next == b"=" {
                i += 1;
            }
            if opt.eq_ignore_ascii_case(b"maxlen") {
                let n = string2ll(args[i + 1]).ok_or(StreamError::NotAnInteger)?;
                if n < 0 {
                    return Err(StreamError::MaxLenNegative);
                }
                strategy = Some(TrimStrategy::MaxLen(n as u64));
            } else {
                strategy = Some(TrimStrategy::MinId(StreamId::parse_strict(args[i + 1])?));
            }
            i += 1;
            trim_arg_index = Some(i);
        } else if moreargs > 0 && opt.eq_ignore_ascii_case(b"limit") {
            let n = string2ll(args[i + 1]).ok_or(StreamError::NotAnInteger)?;
            if n < 0 {
                return Err(StreamError::LimitNegative);
            }
            limit = n as u64;
            limit_given = true;
            i += 1;
        } else if xadd && opt.eq_ignore_ascii_case(b"nomkstream") {
            nomkstream = true;
        } else if xadd {
            id = XaddId::parse(args[i])?;
            break;
        } else {
            return Err(StreamError::SyntaxError);
        }
        i += 1;
    }
    if limit != 0 && strategy.is_none() {
        return Err(StreamError::LimitWithoutStrategy);
    }
    if !xadd && strategy.is_none() {
        return Err(StreamError::XtrimWithoutStrategy);
    }
    if limit_given {
        if !approx {
            return Err(StreamError::LimitWithoutApprox);
        }
    } else if approx {
        limit = default_approx_limit(node_max_entries);
    }
    Ok(AddTrimArgs {
        trim: strategy.map(|strategy| TrimArgs {
            strategy,
            approx,
            limit,
        }),
        nomkstream,
        id,
        id_index: i,
        trim_arg_index,
    })
}

// ---------------------------------------------------------------------------
// Listpack size model (for Redis-identical node boundaries)
// ---------------------------------------------------------------------------

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
fn lp_str_size(s: &[u8]) -> usize {
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

// ---------------------------------------------------------------------------
// Packed buffer helpers
// ---------------------------------------------------------------------------

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
fn get_str<'a>(buf: &'a [u8], pos: &mut usize) -> &'a [u8] {
    let len = get_varint(buf, pos) as usize;
    let s = &buf[*pos..*pos + len];
    *pos += len;
    s
}

// ---------------------------------------------------------------------------
// Nodes
// ---------------------------------------------------------------------------

/// Decoded fixed part of one entry.
#[derive(Clone, Copy, Debug)]
struct Header {
    flags: u8,
    id: StreamId,
    nfields: usize,
    fields_off: usize,
}

#[derive(Clone, Debug)]
struct Node {
    master_id: StreamId,
    buf: Vec<u8>,
    master_nfields: usize,
    /// Offset of the first master field name.
    master_fields_off: usize,
    /// Offset of the first entry.
    entries_off: usize,
    live: u64,
    deleted: u64,
    /// Listpack size of everything but the fixed bytes and the live/deleted
    /// counters (which change size as they grow).
    lp_body: usize,
}

impl Node {
    fn new(id: StreamId, fields: &[(&[u8], &[u8])]) -> Node {
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
    fn lp_bytes(&self) -> usize {
        LP_FIXED + lp_int_size(self.live as i64) + lp_int_size(self.deleted as i64) + self.lp_body
    }

    /// Redis's "start a new node" test in `streamAppendItem`.
    fn is_full(&self, new_entry_bytes: usize, limits: NodeLimits) -> bool {
        let mut max_bytes = limits.max_bytes;
        if max_bytes == 0 || max_bytes > LISTPACK_MAX_SIZE {
            max_bytes = LISTPACK_MAX_SIZE;
        }
        if self.lp_bytes() + new_entry_bytes >= max_bytes {
            return true;
        }
        limits.max_entries != 0 && self.live + self.deleted >= limits.max_entries as u64
    }

    fn same_fields(&self, fields: &[(&[u8], &[u8])]) -> bool {
        if fields.len() != self.master_nfields {
            return false;
        }
        let mut pos = self.master_fields_off;
        fields
            .iter()
            .all(|(f, _)| get_str(&self.buf, &mut pos) == *f)
    }

    fn push_entry(&mut self, id: StreamId, fields: &[(&[u8], &[u8])], same: bool) {
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

    fn header(&self, start: usize) -> Header {
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
    fn entry_end(&self, start: usize, h: &Header) -> usize {
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
    fn prev_start(&self, end: usize) -> usize {
        let (content, back_start) = get_back_varint(&self.buf, end);
        back_start - content as usize
    }

    /// ID of the last entry, deleted or not.
    fn last_id(&self) -> StreamId {
        self.header(self.prev_start(self.buf.len())).id
    }

    fn mark_deleted(&mut self, start: usize) {
        self.buf[start] |= FLAG_DELETED;
        self.live -= 1;
        self.deleted += 1;
    }

    /// Offset of the live entry `id`, if this node has it.
    fn find_live(&self, id: StreamId) -> Option<usize> {
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

    fn view(&self, h: &Header) -> StreamEntry<'_> {
        StreamEntry {
            id: h.id,
            buf: &self.buf,
            master_fields_off: self.master_fields_off,
            fields_off: h.fields_off,
            nfields: h.nfields,
            same: h.flags & FLAG_SAMEFIELDS != 0,
        }
    }
}

// ---------------------------------------------------------------------------
// Rax shape (for XINFO STREAM radix-tree-nodes)
// ---------------------------------------------------------------------------

/// Length of a rax key: the ID as two big-endian u64.
const RAX_KEY_LEN: u32 = 16;

/// Leading bytes two distinct IDs share in their rax key form.
fn shared_key_bytes(a: StreamId, b: StreamId) -> u32 {
    let key = |id: StreamId| (u128::from(id.ms) << 64) | u128::from(id.seq);
    (key(a) ^ key(b)).leading_zeros() / 8
}

/// Nodes of a canonical rax holding `keys` (sorted, distinct, all 16 bytes).
///
/// Over the compressed trie of the keys, a rax has: the head node (a
/// compressed chain when all keys share a first byte, else the first
/// branching node); one node per other branching vertex and per key (an
/// empty leaf); and, for each edge leaving a branching node whose label is
/// longer than one byte, a node for the label after its first byte (that
/// byte lives in the branching node). Branching vertices sit at the depths
/// of the common prefixes of adjacent keys; a monotonic stack finds each one
/// once, with its parent (the deeper of its nearest shallower neighbours).
fn rax_node_count(keys: &[StreamId]) -> u64 {
    let Some(last) = keys.len().checked_sub(1) else {
        return 1;
    };
    let shared: Vec<u32> = keys
        .windows(2)
        .map(|w| shared_key_bytes(w[0], w[1]))
        .collect();
    let mut nodes = 1 + keys.len() as u64;
    for i in 0..=last {
        let left = i.checked_sub(1).map(|j| shared[j]);
        let right = shared.get(i).copied();
        // A parent at depth 0 is a branching head; no parent: the key hangs
        // off the head's chain.
        if let Some(parent) = left.max(right) {
            nodes += u64::from(RAX_KEY_LEN - parent > 1);
        }
    }
    let branch_nodes = |depth: u32, parent: Option<u32>| -> u64 {
        if depth == 0 {
            return 0; // the head itself
        }
        1 + parent.map_or(0, |p| u64::from(depth - p > 1))
    };
    let mut stack: Vec<u32> = Vec::new();
    for &depth in &shared {
        while let Some(&top) = stack.last() {
            if top <= depth {
                break;
            }
            stack.pop();
            nodes += branch_nodes(top, stack.last().copied().max(Some(depth)));
        }
        if stack.last() != Some(&depth) {
            stack.push(depth);
        }
    }
    while let Some(top) = stack.pop() {
        nodes += branch_nodes(top, stack.last().copied());
    }
    nodes
}

// ---------------------------------------------------------------------------
// Entries and iteration
// ---------------------------------------------------------------------------

/// A live entry borrowed from the stream.
#[derive(Clone, Copy, Debug)]
pub struct StreamEntry<'a> {
    id: StreamId,
    buf: &'a [u8],
    master_fields_off: usize,
    fields_off: usize,
    nfields: usize,
    same: bool,
}

impl<'a> StreamEntry<'a> {
    pub fn id(&self) -> StreamId {
        self.id
    }

    pub fn num_fields(&self) -> usize {
        self.nfields
    }

    /// The field/value pairs, in insertion order.
    pub fn fields(&self) -> EntryFields<'a> {
        EntryFields {
            buf: self.buf,
            master_pos: self.master_fields_off,
            pos: self.fields_off,
            remaining: self.nfields,
            same: self.same,
        }
    }

    /// Owned copy of the field/value pairs.
    pub fn to_vec(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.fields()
            .map(|(f, v)| (f.to_vec(), v.to_vec()))
            .collect()
    }
}

/// Iterator over one entry's `(field, value)` pairs.
#[derive(Clone, Debug)]
pub struct EntryFields<'a> {
    buf: &'a [u8],
    master_pos: usize,
    pos: usize,
    remaining: usize,
    same: bool,
}

impl<'a> Iterator for EntryFields<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let field = if self.same {
            get_str(self.buf, &mut self.master_pos)
        } else {
            get_str(self.buf, &mut self.pos)
        };
        let value = get_str(self.buf, &mut self.pos);
        Some((field, value))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for EntryFields<'_> {}
impl FusedIterator for EntryFields<'_> {}

/// Lazy iterator over the live entries in an inclusive ID range, forward or
/// reverse; decodes one entry per `next`, so `.take(count)` touches at most
/// `count` live entries (plus skipped tombstones).
#[derive(Clone, Debug)]
pub struct StreamRange<'a> {
    nodes: btree_map::Range<'a, StreamId, Node>,
    cur: Option<&'a Node>,
    /// Forward: offset of the next entry; reverse: end of the next entry.
    pos: usize,
    start: StreamId,
    end: StreamId,
    rev: bool,
    done: bool,
}

impl<'a> Iterator for StreamRange<'a> {
    type Item = StreamEntry<'a>;

    fn next(&mut self) -> Option<StreamEntry<'a>> {
        while !self.done {
            let node = match self.cur {
                Some(node) => node,
                None => {
                    let next = if self.rev {
                        self.nodes.next_back()
                    } else {
                        self.nodes.next()
                    };
                    let Some((_, node)) = next else {
                        self.done = true;
                        break;
                    };
                    self.pos = if self.rev {
                        node.buf.len()
                    } else {
                        node.entries_off
                    };
                    self.cur = Some(node);
                    node
                }
            };
            if !self.rev {
                if self.pos >= node.buf.len() {
                    self.cur = None;
                    continue;
                }
                let start = self.pos;
                let h = node.header(start);
                self.pos = node.entry_end(start, &h);
                if h.flags & FLAG_DELETED != 0 || h.id < self.start {
                    continue;
                }
                if h.id > self.end {
                    self.done = true;
                    break;
                }
                return Some(node.view(&h));
            } else {
                if self.pos <= node.entries_off {
                    self.cur = None;
                    continue;
                }
                let start = node.prev_start(self.pos);
                self.pos = start;
                let h = node.header(start);
                if h.flags & FLAG_DELETED != 0 || h.id > self.end {
                    continue;
                }
                if h.id < self.start {
                    self.done = true;
                    break;
                }
                return Some(node.view(&h));
            }
        }
        self.cur = None;
        None
    }
}

impl FusedIterator for StreamRange<'_> {}

// ---------------------------------------------------------------------------
// The stream
// ---------------------------------------------------------------------------

/// Node size limits: the `stream-node-max-bytes` / `stream-node-max-entries`
/// configs, read at every append like Redis does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeLimits {
    /// 0 (or above 1 GiB) means 1 GiB.
    pub max_bytes: usize,
    /// 0 means no limit.
    pub max_entries: usize,
}

impl Default for NodeLimits {
    fn default() -> Self {
        NodeLimits {
            max_bytes: DEFAULT_NODE_MAX_BYTES,
            max_entries: DEFAULT_NODE_MAX_ENTRIES,
        }
    }
}

pub use super::stream_group::ConsumerGroups;

/// Owned entry as returned by [`Stream::range`].
pub type OwnedEntry = (StreamId, Vec<(Vec<u8>, Vec<u8>)>);

/// A stream value.
#[derive(Clone, Debug, Default)]
pub struct Stream {
    nodes: BTreeMap<StreamId, Node>,
    /// Live entries.
    length: u64,
    last_id: StreamId,
    /// First live entry ID, 0-0 when empty (Redis `first_id`).
    first_id: StreamId,
    max_deleted_entry_id: StreamId,
    entries_added: u64,
    groups: ConsumerGroups,
}

impl Stream {
    pub fn new() -> Self {
        Stream::default()
    }

    /// Number of live entries (XLEN).
    pub fn len(&self) -> u64 {
        self.length
    }

    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    /// Last generated ID (`last-generated-id`); stays after XDEL/XTRIM.
    pub fn last_id(&self) -> StreamId {
        self.last_id
    }

    /// `recorded-first-entry-id`: first live ID, 0-0 when empty.
    pub fn first_id(&self) -> StreamId {
        self.first_id
    }

    /// Largest ID removed by XDEL (`max-deleted-entry-id`); trimming does
    /// not change it, as in Redis 7.0.
    pub fn max_deleted_entry_id(&self) -> StreamId {
        self.max_deleted_entry_id
    }

    /// Entries ever added (`entries-added`).
    pub fn entries_added(&self) -> u64 {
        self.entries_added
    }

    /// XSETID: raw setters, the command layer validates.
    pub fn set_last_id(&mut self, id: StreamId) {
        self.last_id = id;
    }

    pub fn set_entries_added(&mut self, n: u64) {
        self.entries_added = n;
    }

    pub fn set_max_deleted_entry_id(&mut self, id: StreamId) {
        self.max_deleted_entry_id = id;
    }

    /// Number of nodes (`radix-tree-keys` in XINFO STREAM).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// `radix-tree-nodes` in XINFO STREAM: the node count of the rax Redis
    /// would hold for these node keys. Redis keys nodes by the 16-byte
    /// big-endian master ID in a rax that insertion and removal keep in its
    /// canonical compressed form, so the count follows from the key set
    /// alone. O(nodes); checked against redis-server 7.0.15 with random
    /// XADD/XDEL sequences.
    pub fn radix_tree_nodes(&self) -> u64 {
        let keys: Vec<StreamId> = self.nodes.keys().copied().collect();
        rax_node_count(&keys)
    }

    pub fn groups(&self) -> &ConsumerGroups {
        &self.groups
    }

    pub fn groups_mut(&mut self) -> &mut ConsumerGroups {
        &mut self.groups
    }

    /// Runs `f` with the entries readable and the groups writable at once (a group read needs
    /// both). The groups are moved out meanwhile: `f` sees the stream without them.
    pub fn with_groups<R>(&mut self, f: impl FnOnce(&Stream, &mut ConsumerGroups) -> R) -> R {
        let mut groups = std::mem::take(&mut self.groups);
        let result = f(self, &mut groups);
        self.groups = groups;
        result
    }

    /// Whether the live entry `id` exists (Redis `streamEntryExists`).
    pub fn contains(&self, id: StreamId) -> bool {
        self.iter_range(id, id, false).next().is_some()
    }

    /// The live entry `id`, if any.
    pub fn get(&self, id: StreamId) -> Option<StreamEntry<'_>> {
        self.iter_range(id, id, false).next()
    }

    /// The ID XADD would use (Redis `streamNextID` / `streamAppendItem`):
    /// - `Auto`: `now_ms-0` if `now_ms > last.ms`, else `last_id + 1`
    ///   (`streamIncrID`: seq overflow goes to `last.ms+1`-0), so a clock
    ///   that went backwards keeps IDs increasing.
    /// - `AutoSeq(ms)`: `ms-(last.seq+1)` if `ms == last.ms`, else `ms-0`.
    /// - `Explicit(id)`: `id`.
    ///
    /// Errors: [`StreamError::Exhausted`] when `last_id` is MAX (checked
    /// first, like XADD); [`StreamError::XaddIdTooSmall`] when the result is
    /// not above `last_id`, including `AutoSeq(last.ms)` when `last.seq` is
    /// u64::MAX. For that last case Redis 7.0 forgets to set errno, so
    /// redis-server 7.0.15 replies either this or "Elements are too large to
    /// be stored" depending on a leftover errno (EDOM after an earlier XADD
    /// ID error on the same connection); 7.2+ always gives this one.
    pub fn next_id(&self, spec: XaddId, now_ms: u64) -> Result<StreamId, StreamError> {
        let last = self.last_id;
        if last == StreamId::MAX {
            return Err(StreamError::Exhausted);
        }
        let id = match spec {
            XaddId::Auto if now_ms > last.ms => StreamId::new(now_ms, 0),
            XaddId::Auto => last.incr().unwrap_or(StreamId::MIN),
            XaddId::AutoSeq(ms) if ms == last.ms => {
                if last.seq == u64::MAX {
                    return Err(StreamError::XaddIdTooSmall);
                }
                StreamId::new(ms, last.seq + 1)
            }
            XaddId::AutoSeq(ms) => StreamId::new(ms, 0),
            XaddId::Explicit(id) => id,
        };
        if id <= last {
            return Err(StreamError::XaddIdTooSmall);
        }
        Ok(id)
    }

    /// Appends an entry with ID `id` (Redis `streamAppendItem` with a
    /// resolved ID). Errors: [`StreamError::XaddIdTooSmall`] if
    /// `id <= last_id`, then [`StreamError::ElementsTooLarge`] if the field
    /// and value bytes total more than 1 GiB. Does not trim.
    pub fn add(
        &mut self,
        id: StreamId,
        fields: &[(&[u8], &[u8])],
        limits: NodeLimits,
    ) -> Result<StreamId, StreamError> {
        if id <= self.last_id {
            return Err(StreamError::XaddIdTooSmall);
        }
        let total = fields
            .iter()
            .fold(0usize, |acc, (f, v)| acc.saturating_add(f.len() + v.len()));
        if total > LISTPACK_MAX_SIZE {
            return Err(StreamError::ElementsTooLarge);
        }
        let mut appended = false;
        if let Some(mut tail) = self.nodes.last_entry() {
            let node = tail.get_mut();
            if node.is_full(total, limits) {
                node.buf.shrink_to_fit();
            } else {
                let same = node.same_fields(fields);
                node.push_entry(id, fields, same);
                appended = true;
            }
        }
        if !appended {
            self.nodes.insert(id, Node::new(id, fields));
        }
        self.length += 1;
        self.entries_added += 1;
        self.last_id = id;
        if self.length == 1 {
            self.first_id = id;
        }
        Ok(id)
    }

    /// XADD's stream part in Redis's order: [`XaddId::validate`],
    /// [`Stream::next_id`], [`Stream::add`]. Trimming is separate
    /// ([`Stream::trim`], after a successful add).
    pub fn xadd(
        &mut self,
        spec: XaddId,
        fields: &[(&[u8], &[u8])],
        now_ms: u64,
        limits: NodeLimits,
    ) -> Result<StreamId, StreamError> {
        spec.validate()?;
        let id = self.next_id(spec, now_ms)?;
        self.add(id, fields, limits)
    }

    fn delete_one(&mut self, id: StreamId) -> bool {
        let Some((&key, node)) = self.nodes.range_mut(..=id).next_back() else {
            return false;
        };
        let Some(pos) = node.find_live(id) else {
            return false;
        };
        if node.live == 1 {
            self.nodes.remove(&key);
        } else {
            node.mark_deleted(pos);
        }
        self.length -= 1;
        true
    }

    /// XDEL: deletes the live entries among `ids` (repeats count once) and
    /// returns how many were deleted; updates `max_deleted_entry_id` and
    /// `first_id` like Redis.
    pub fn delete(&mut self, ids: &[StreamId]) -> u64 {
        let mut deleted = 0;
        let mut first_entry = false;
        for &id in ids {
            if self.delete_one(id) {
                if id == self.first_id {
                    first_entry = true;
                }
                if id > self.max_deleted_entry_id {
                    self.max_deleted_entry_id = id;
                }
                deleted += 1;
            }
        }
        if deleted > 0 {
            if self.length == 0 {
                self.first_id = StreamId::MIN;
            } else if first_entry {
                self.first_id = self.first_live_id();
            }
        }
        deleted
    }

    /// Redis `streamTrim`; returns the number of entries removed.
    ///
    /// Walks nodes from the oldest. A node goes whole when, for MAXLEN,
    /// `len - node_live >= maxlen`, or, for MINID, its last entry (deleted
    /// or not) is `< minid`; but the walk stops first when
    /// `limit != 0 && removed + node_live > limit`. With `approx` it stops
    /// at the first node it cannot remove whole; otherwise it marks that
    /// node's entries deleted one by one until `len <= maxlen` / an ID
    /// `>= minid`, and stops. As in Redis 7.0 a node emptied this way (MINID
    /// when its tail entries were already XDELed) stays until a later trim
    /// removes it, and still takes appends when it is the tail node.
    pub fn trim(&mut self, args: TrimArgs) -> u64 {
        let mut deleted: u64 = 0;
        while let Some(mut slot) = self.nodes.first_entry() {
            if matches!(args.strategy, TrimStrategy::MaxLen(maxlen) if self.length <= maxlen) {
                break;
            }
            let entries = slot.get().live;
            if args.limit != 0 && deleted + entries > args.limit {
                break;
            }
            let remove = match args.strategy {
                TrimStrategy::MaxLen(maxlen) => self.length - entries >= maxlen,
                TrimStrategy::MinId(min) => slot.get().last_id() < min,
            };
            if remove {
                slot.remove();
                self.length -= entries;
                deleted += entries;
                continue;
            }
            if args.approx {
                break;
            }
            let node = slot.get_mut();
            let mut pos = node.entries_off;
            while pos < node.buf.len() {
                let h = node.header(pos);
                let stop = match args.strategy {
                    TrimStrategy::MaxLen(maxlen) => self.length <= maxlen,
                    TrimStrategy::MinId(min) => h.id >= min,
                };
                if stop {
                    break;
                }
                let next = node.entry_end(pos, &h);
                if h.flags & FLAG_DELETED == 0 {
                    node.mark_deleted(pos);
                    self.length -= 1;
                    deleted += 1;
                }
                pos = next;
            }
            break;
        }
        self.first_id = if self.length == 0 {
            StreamId::MIN
        } else {
            self.first_live_id()
        };
        deleted
    }

    fn first_live_id(&self) -> StreamId {
        self.iter().next().map_or(StreamId::MAX, |e| e.id())
    }

    /// Live entries with `start <= id <= end` (inclusive bounds, as
    /// returned by [`parse_range_start`] / [`parse_range_end`]), ascending,
    /// or descending when `rev`. Empty when `start > end`.
    pub fn iter_range(&self, start: StreamId, end: StreamId, rev: bool) -> StreamRange<'_> {
        let done = start > end;
        let nodes = if done {
            self.nodes.range(StreamId::MIN..StreamId::MIN)
        } else if rev {
            self.nodes.range(..=end)
        } else {
            let from = self
                .nodes
                .range(..=start)
                .next_back()
                .map_or(start, |(k, _)| *k);
            self.nodes.range(from..=end)
        };
        StreamRange {
            nodes,
            cur: None,
            pos: 0,
            start,
            end,
            rev,
            done,
        }
    }

    /// All live entries, ascending.
    pub fn iter(&self) -> StreamRange<'_> {
        self.iter_range(StreamId::MIN, StreamId::MAX, false)
    }

    /// XRANGE / XREVRANGE data: at most `count` entries (None = all), owned.
    /// `Some(0)` gives an empty Vec; Redis replies a null array for COUNT 0
    /// (or negative), which the command layer must do itself.
    pub fn range(
        &self,
        start: StreamId,
        end: StreamId,
        count: Option<usize>,
        rev: bool,
    ) -> Vec<OwnedEntry> {
        self.iter_range(start, end, rev)
            .take(count.unwrap_or(usize::MAX))
            .map(|e| (e.id(), e.to_vec()))
            .collect()
    }

    /// First live entry (XINFO `first-entry`).
    pub fn first_entry(&self) -> Option<StreamEntry<'_>> {
        self.iter().next()
    }

    /// Last live entry (XINFO `last-entry`).
    pub fn last_entry(&self) -> Option<StreamEntry<'_>> {
        self.iter_range(StreamId::MIN, StreamId::MAX, true).next()
    }

    /// Estimated heap + inline bytes of this value.
    pub fn approx_bytes(&self) -> usize {
        const PER_NODE: usize = std::mem::size_of::<Node>() + std::mem::size_of::<StreamId>() + 16;
        std::mem::size_of::<Stream>()
            + self
                .nodes
                .values()
                .map(|n| n.buf.capacity() + PER_NODE)
                .sum::<usize>()
    }

    /// (master id, live, deleted, listpack bytes) per node, for tests.
    #[cfg(test)]
    fn node_summary(&self) -> Vec<(StreamId, u64, u64, usize)> {
        self.nodes
            .iter()
            .map(|(k, n)| (*k, n.live, n.deleted, n.lp_bytes()))
            .collect()
    }

    /// Panics if the internal structure is inconsistent.
    #[cfg(test)]
    fn check_invariants(&self, limits: NodeLimits) {
        let mut live_total = 0;
        let mut prev_last: Option<StreamId> = None;
        for (key, node) in &self.nodes {
            assert_eq!(*key, node.master_id);
            let mut pos = node.entries_off;
            let (mut live, mut deleted, mut first) = (0, 0, true);
            let mut prev: Option<StreamId> = prev_last;
            while pos < node.buf.len() {
                let h = node.header(pos);
                if first {
                    assert_eq!(h.id, *key, "node key is its first entry id");
                    first = false;
                }
                if let Some(p) = prev {
                    assert!(h.id > p, "ids ascending");
                }
                prev = Some(h.id);
                let end = node.entry_end(pos, &h);
                assert_eq!(node.prev_start(end), pos, "backlen");
                if h.flags & FLAG_DELETED != 0 {
                    deleted += 1;
                } else {
                    live += 1;
                }
                pos = end;
            }
            assert_eq!(pos, node.buf.len());
            assert!(!first, "node has entries");
            assert_eq!((live, deleted), (node.live, node.deleted));
            if limits.max_entries != 0 {
                assert!(live + deleted <= limits.max_entries as u64);
            }
            assert_eq!(node.last_id(), prev.unwrap());
            prev_last = prev;
            live_total += live;
        }
        assert_eq!(live_total, self.length);
        if let Some(p) = prev_last {
            assert!(p <= self.last_id);
        }
        let first = self.first_entry().map_or(StreamId::MIN, |e| e.id());
        assert_eq!(self.first_id, first);
    }
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    type Fields = Vec<(Vec<u8>, Vec<u8>)>;

    fn id(ms: u64, seq: u64) -> StreamId {
        StreamId::new(ms, seq)
    }

    fn fv<'a>(pairs: &'a [(&'a str, &'a str)]) -> Vec<(&'a [u8], &'a [u8])> {
        pairs
            .iter()
            .map(|(f, v)| (f.as_bytes(), v.as_bytes()))
            .collect()
    }

    fn ids(s: &Stream) -> Vec<StreamId> {
        s.iter().map(|e| e.id()).collect()
    }

    fn add(s: &mut Stream, ms: u64, seq: u64, limits: NodeLimits) {
        s.add(id(ms, seq), &fv(&[("f", "v")]), limits).unwrap();
    }

    // ----- IDs and parsing -------------------------------------------------

    #[test]
    fn id_order_display_incr_decr() {
        assert!(id(1, 5) < id(2, 0));
        assert!(id(1, 5) < id(1, 6));
        assert_eq!(id(12, 34).to_string(), "12-34");
        assert_eq!(
            StreamId::MAX.to_string(),
            "18446744073709551615-18446744073709551615"
        );
        assert_eq!(id(1, u64::MAX).incr(), Some(id(2, 0)));
        assert_eq!(StreamId::MAX.incr(), None);
        assert_eq!(id(2, 0).decr(), Some(id(1, u64::MAX)));
        assert_eq!(StreamId::MIN.decr(), None);
    }

    #[test]
    fn xadd_id_parsing() {
        let p = |s: &str| XaddId::parse(s.as_bytes());
        assert_eq!(p("*"), Ok(XaddId::Auto));
        assert_eq!(p("5-*"), Ok(XaddId::AutoSeq(5)));
        assert_eq!(p("5"), Ok(XaddId::Explicit(id(5, 0))));
        assert_eq!(p("5-3"), Ok(XaddId::Explicit(id(5, 3))));
        // Quirks verified against redis-server 7.0.15.
        assert_eq!(p("1-+5"), Ok(XaddId::Explicit(id(1, 5))));
        assert_eq!(p("2- 5"), Ok(XaddId::Explicit(id(2, 5))));
        assert_eq!(
            p("4--05"),
            Ok(XaddId::Explicit(id(4, 18446744073709551611)))
        );
        assert_eq!(p("+5"), Ok(XaddId::Explicit(id(5, 0))));
        assert_eq!(p(" 12"), Ok(XaddId::Explicit(id(12, 0))));
        assert_eq!(p("007-1"), Ok(XaddId::Explicit(id(7, 1))));
        assert_eq!(
            p("8-18446744073709551615"),
            Ok(XaddId::Explicit(id(8, u64::MAX)))
        );
        for bad in [
            "3--5",
            "6 ",
            "18446744073709551616",
            "10-",
            "-",
            "+",
            "11-1-1",
            "14-0x1",
            "",
            "*-1",
            "-*",
            "5-**",
            "(5",
            "-0",
        ] {
            assert_eq!(p(bad), Err(StreamError::InvalidId), "{bad:?}");
        }
        assert_eq!(
            XaddId::parse(&[b'1'; 128]),
            Err(StreamError::InvalidId),
            "longer than 127 bytes"
        );
        assert_eq!(XaddId::parse(b"5-7\0junk"), Ok(XaddId::Explicit(id(5, 7))));
        assert_eq!(
            StreamError::InvalidId.to_string(),
            "ERR Invalid stream ID specified as stream command argument"
        );
        assert_eq!(p("0-0").unwrap().validate(), Err(StreamError::XaddIdZero));
        assert_eq!(p("0").unwrap().validate(), Err(StreamError::XaddIdZero));
        assert_eq!(p("0-*").unwrap().validate(), Ok(()));
        assert_eq!(
            StreamError::XaddIdZero.message(),
            "ERR The ID specified in XADD must be greater than 0-0"
        );
    }

    #[test]
    fn range_id_parsing() {
        let s = |a: &str| parse_range_start(a.as_bytes());
        let e = |a: &str| parse_range_end(a.as_bytes());
        assert_eq!(s("-"), Ok(StreamId::MIN));
        assert_eq!(e("+"), Ok(StreamId::MAX));
        assert_eq!(s("+"), Ok(StreamId::MAX));
        assert_eq!(e("-"), Ok(StreamId::MIN));
        assert_eq!(s("5"), Ok(id(5, 0)));
        assert_eq!(e("5"), Ok(id(5, u64::MAX)));
        assert_eq!(s("5-3"), Ok(id(5, 3)));
        assert_eq!(s("(5-3"), Ok(id(5, 4)));
        assert_eq!(s("(5"), Ok(id(5, 1)));
        assert_eq!(s("(5-18446744073709551615"), Ok(id(6, 0)));
        assert_eq!(e("(5-3"), Ok(id(5, 2)));
        assert_eq!(e("(5"), Ok(id(5, u64::MAX - 1)));
        assert_eq!(e("(5-0"), Ok(id(4, u64::MAX)));
        assert_eq!(s(" 1"), Ok(id(1, 0)));
        for bad in ["(", "(-", "(+", "(-1", "-0", "-05", "", "x", "((1"] {
            assert_eq!(s(bad), Err(StreamError::InvalidId), "start {bad:?}");
            assert_eq!(e(bad), Err(StreamError::InvalidId), "end {bad:?}");
        }
        assert_eq!(
            s("(18446744073709551615-18446744073709551615"),
            Err(StreamError::InvalidStartInterval)
        );
        assert_eq!(e("(0-0"), Err(StreamError::InvalidEndInterval));
        assert_eq!(e("(0"), Ok(id(0, u64::MAX - 1)));
        assert_eq!(
            StreamError::InvalidStartInterval.message(),
            "ERR invalid start ID for the interval"
        );
        assert_eq!(
            StreamError::InvalidEndInterval.message(),
            "ERR invalid end ID for the interval"
        );
        assert_eq!(StreamId::parse_strict(b"7"), Ok(id(7, 0)));
        assert_eq!(StreamId::parse_strict(b"-"), Err(StreamError::InvalidId));
        assert_eq!(StreamId::parse_strict(b"7-*"), Err(StreamError::InvalidId));
        assert_eq!(StreamId::parse(b"7", 9), Ok(id(7, 9)));
    }

    #[test]
    fn add_trim_option_parsing() {
        let p = |xadd: bool, a: &[&str]| {
            let v: Vec<&[u8]> = a.iter().map(|s| s.as_bytes()).collect();
            parse_add_or_trim_args(&v, xadd, 100)
        };
        let r = p(true, &["*", "f", "v"]).unwrap();
        assert_eq!((r.trim, r.id, r.id_index), (None, XaddId::Auto, 0));
        let r = p(true, &["NOMKSTREAM", "maxlen", "~", "10", "5-*", "f", "v"]).unwrap();
        assert!(r.nomkstream);
        assert_eq!(r.id, XaddId::AutoSeq(5));
        assert_eq!(r.id_index, 4);
        assert_eq!(r.trim_arg_index, Some(3));
        assert_eq!(
            r.trim,
            Some(TrimArgs {
                strategy: TrimStrategy::MaxLen(10),
                approx: true,
                limit: 10_000
            })
        );
        let r = p(false, &["MINID", "=", "5-1"]).unwrap();
        assert_eq!(
            r.trim,
            Some(TrimArgs {
                strategy: TrimStrategy::MinId(id(5, 1)),
                approx: false,
                limit: 0
            })
        );
        let r = p(false, &["minid", "~", "5", "LIMIT", "0"]).unwrap();
        assert_eq!(r.trim.unwrap().limit, 0);
        let r = p(false, &["maxlen", "~", "5", "limit", "7"]).unwrap();
        assert_eq!(r.trim.unwrap().limit, 7);
        // Ran off the end: the command layer's arity check then fails.
        assert_eq!(p(true, &["maxlen", "=", "1"]).unwrap().id_index, 3);
        use StreamError::*;
        let cases: &[(bool, &[&str], StreamError)] = &[
            (true, &["limit", "5", "*", "a", "b"], LimitWithoutStrategy),
            (true, &["limit", "0", "*", "a", "b"], LimitWithoutApprox),
            (false, &["limit", "0", "maxlen", "1"], LimitWithoutApprox),
            (
                false,
                &["maxlen", "=", "1", "limit", "0"],
                LimitWithoutApprox,
            ),
            (true, &["maxlen", "-1", "*", "a", "b"], MaxLenNegative),
            (true, &["maxlen", "1", "limit", "-1", "*"], LimitNegative),
            (true, &["maxlen", "1", "minid", "5", "*"], MaxLenAndMinId),
            (true, &["maxlen", "1", "maxlen", "2", "*"], MaxLenAndMinId),
            (false, &["limit", "1"], LimitWithoutStrategy),
            (false, &[], XtrimWithoutStrategy),
            (false, &["maxlen", "1", "foo"], SyntaxError),
            (true, &["maxlen", "x", "*"], NotAnInteger),
            (false, &["maxlen", "00"], NotAnInteger),
            (false, &["maxlen", "-0"], NotAnInteger),
            (false, &["maxlen", " 1"], NotAnInteger),
            (false, &["maxlen", "18446744073709551615"], NotAnInteger),
            (false, &["minid", "5-*"], InvalidId),
            (true, &["maxlen"], InvalidId),
            (true, &["-", "f", "v"], InvalidId),
        ];
        for (xadd, args, err) in cases {
            assert_eq!(p(*xadd, args).unwrap_err(), *err, "{args:?}");
        }
        assert_eq!(
            MaxLenAndMinId.message(),
            "ERR syntax error, MAXLEN and MINID options at the same time are not compatible"
        );
        assert_eq!(default_approx_limit(0), 0);
        assert_eq!(default_approx_limit(1000), 100_000);
    }

    // ----- ID generation ---------------------------------------------------

    #[test]
    fn auto_ids_and_clock() {
        let l = NodeLimits::default();
        let f = fv(&[("f", "v")]);
        let mut s = Stream::new();
        assert_eq!(s.xadd(XaddId::Auto, &f, 1000, l), Ok(id(1000, 0)));
        assert_eq!(s.xadd(XaddId::Auto, &f, 1000, l), Ok(id(1000, 1)));
        // Clock went backwards: keep increasing the seq.
        assert_eq!(s.xadd(XaddId::Auto, &f, 900, l), Ok(id(1000, 2)));
        assert_eq!(s.xadd(XaddId::Auto, &f, 1001, l), Ok(id(1001, 0)));
        // Auto seq.
        assert_eq!(s.xadd(XaddId::AutoSeq(1001), &f, 0, l), Ok(id(1001, 1)));
        assert_eq!(s.xadd(XaddId::AutoSeq(2000), &f, 0, l), Ok(id(2000, 0)));
        assert_eq!(
            s.xadd(XaddId::AutoSeq(1999), &f, 0, l),
            Err(StreamError::XaddIdTooSmall)
        );
        assert_eq!(
            s.xadd(XaddId::Explicit(id(2000, 0)), &f, 0, l),
            Err(StreamError::XaddIdTooSmall)
        );
        assert_eq!(
            s.xadd(XaddId::Explicit(StreamId::MIN), &f, 0, l),
            Err(StreamError::XaddIdZero)
        );
        assert_eq!(
            s.xadd(XaddId::Explicit(id(2000, 5)), &f, 0, l),
            Ok(id(2000, 5))
        );
        assert_eq!(s.len(), 7);
        assert_eq!(s.entries_added(), 7);
        assert_eq!(s.last_id(), id(2000, 5));

        // Seq overflow.
        let mut s = Stream::new();
        s.add(id(5, u64::MAX), &f, l).unwrap();
        assert_eq!(s.next_id(XaddId::Auto, 3), Ok(id(6, 0)));
        assert_eq!(
            s.next_id(XaddId::AutoSeq(5), 3),
            Err(StreamError::XaddIdTooSmall)
        );
        assert_eq!(
            s.next_id(XaddId::AutoSeq(4), 3),
            Err(StreamError::XaddIdTooSmall)
        );
        assert_eq!(s.next_id(XaddId::AutoSeq(6), 3), Ok(id(6, 0)));

        // Last possible ID.
        let mut s = Stream::new();
        s.add(id(u64::MAX, u64::MAX - 1), &f, l).unwrap();
        assert_eq!(s.xadd(XaddId::Auto, &f, 0, l), Ok(StreamId::MAX));
        for spec in [
            XaddId::Auto,
            XaddId::AutoSeq(u64::MAX),
            XaddId::Explicit(StreamId::MAX),
        ] {
            assert_eq!(s.xadd(spec, &f, 0, l), Err(StreamError::Exhausted));
        }
        let mut s = Stream::new();
        s.add(id(u64::MAX, 7), &f, l).unwrap();
        assert_eq!(s.next_id(XaddId::Auto, u64::MAX), Ok(id(u64::MAX, 8)));

        // Empty stream: 0-* gives 0-1; ms-only means seq 0.
        let s = Stream::new();
        assert_eq!(s.next_id(XaddId::AutoSeq(0), 0), Ok(id(0, 1)));
        assert_eq!(s.next_id(XaddId::Auto, 0), Ok(id(0, 1)));
        assert_eq!(s.next_id(XaddId::Auto, 5), Ok(id(5, 0)));
    }

    // ----- Nodes, delete, trim ---------------------------------------------

    #[test]
    fn nodes_split_by_entries_and_fields_roundtrip() {
        let l = NodeLimits {
            max_bytes: 4096,
            max_entries: 3,
        };
        let mut s = Stream::new();
        s.add(id(1, 0), &fv(&[("a", "1"), ("b", "2")]), l).unwrap();
        s.add(id(1, 1), &fv(&[("a", "x"), ("b", "")]), l).unwrap(); // same fields
        s.add(id(2, 0), &fv(&[("b", "1"), ("a", "2")]), l).unwrap(); // other order
        s.add(id(3, 7), &fv(&[("", "")]), l).unwrap();
        s.add(id(4, 0), &fv(&[("k", "v"), ("k", "w")]), l).unwrap();
        assert_eq!(s.node_count(), 2);
        s.check_invariants(l);
        let all = s.range(StreamId::MIN, StreamId::MAX, None, false);
        let as_str = |e: &OwnedEntry| {
            e.1.iter()
                .map(|(f, v)| {
                    format!(
                        "{}={}",
                        String::from_utf8_lossy(f),
                        String::from_utf8_lossy(v)
                    )
                })
                .collect::<Vec<_>>()
                .join(",")
        };
        let got: Vec<String> = all
            .iter()
            .map(|e| format!("{} {}", e.0, as_str(e)))
            .collect();
        assert_eq!(
            got,
            [
                "1-0 a=1,b=2",
                "1-1 a=x,b=",
                "2-0 b=1,a=2",
                "3-7 =",
                "4-0 k=v,k=w"
            ]
        );
        let rev = s.range(StreamId::MIN, StreamId::MAX, Some(2), true);
        assert_eq!(
            rev.iter().map(|e| e.0).collect::<Vec<_>>(),
            [id(4, 0), id(3, 7)]
        );
        assert_eq!(s.first_entry().unwrap().id(), id(1, 0));
        assert_eq!(s.last_entry().unwrap().num_fields(), 2);
        assert!(s.approx_bytes() > 0);
    }

    /// Listpack byte model: node boundaries match redis-server 7.0.15
    /// (XINFO STREAM radix-tree-keys after the same XADDs and configs).
    #[test]
    fn node_split_by_listpack_bytes() {
        // A fresh node with one entry f=v: header+end 7, count 2, deleted 2,
        // master nfields 2, "f" 3, master terminator 2; entry: flags 2,
        // ms 2, seq 2, "v" 3, lp-count 2 => 29 bytes; each further
        // same-fields entry adds 11.
        let mut s = Stream::new();
        add(&mut s, 1, 0, NodeLimits::default());
        assert_eq!(s.node_summary()[0].3, 29);
        add(&mut s, 1, 1, NodeLimits::default());
        assert_eq!(s.node_summary()[0].3, 40);
        // New node when lp_bytes + len("f") + len("v") >= max_bytes.
        for (max_bytes, nodes) in [(31, 3), (32, 2), (41, 2), (42, 2), (43, 1)] {
            let l = NodeLimits {
                max_bytes,
                max_entries: 0,
            };
            let mut s = Stream::new();
            for seq in 0..3 {
                add(&mut s, 1, seq, l);
            }
            assert_eq!(s.node_count(), nodes, "max_bytes {max_bytes}");
        }
        // Integer-looking values are stored as integers.
        assert_eq!(lp_str_size(b"127"), 2);
        assert_eq!(lp_str_size(b"128"), 3);
        assert_eq!(lp_str_size(b"-4096"), 3);
        assert_eq!(lp_str_size(b"-4097"), 4);
        assert_eq!(lp_str_size(b"9223372036854775807"), 10);
        assert_eq!(lp_str_size(b"9223372036854775808"), 21);
        assert_eq!(lp_str_size(b"0123"), 6);
        assert_eq!(lp_str_size(&[b'x'; 63]), 65);
        assert_eq!(lp_str_size(&[b'x'; 64]), 67);
        assert_eq!(lp_str_size(&[b'x'; 125]), 128);
        assert_eq!(lp_str_size(&[b'x'; 126]), 130);
        assert_eq!(lp_str_size(&[b'x'; 4096]), 4103);
    }

    /// Big nodes: the live/deleted counters grow past one-byte listpack
    /// integers and deleted entries still count. Node counts observed on
    /// redis-server 7.0.15 with the same commands.
    #[test]
    fn node_split_matches_redis_for_large_nodes() {
        for (max_bytes, nodes) in [(3000, 6), (2000, 9), (1500, 12)] {
            let l = NodeLimits {
                max_bytes,
                max_entries: 0,
            };
            let mut s = Stream::new();
            for i in 1..=1000u64 {
                let v = (i % 100).to_string();
                s.add(id(1, i), &[(b"f", v.as_bytes())], l).unwrap();
            }
            let dels: Vec<StreamId> = (200..=400).step_by(2).map(|q| id(1, q)).collect();
            assert_eq!(s.delete(&dels), 101);
            for i in 1001..=1500u64 {
                let v = (i * 37).to_string();
                s.add(id(1, i), &[(b"f", v.as_bytes())], l).unwrap();
            }
            assert_eq!((s.len(), s.node_count()), (1399, nodes), "{max_bytes}");
            s.check_invariants(l);
        }
    }

    #[test]
    fn delete_updates_metadata() {
        let l = NodeLimits {
            max_bytes: 4096,
            max_entries: 2,
        };
        let mut s = Stream::new();
        for seq in 1..=5 {
            add(&mut s, 1, seq, l);
        }
        assert_eq!(s.node_count(), 3);
        assert_eq!(s.delete(&[id(1, 1), id(1, 1), id(9, 9)]), 1);
        assert_eq!(s.first_id(), id(1, 2));
        assert_eq!(s.max_deleted_entry_id(), id(1, 1));
        assert_eq!(s.node_count(), 3);
        // Last live entry of a node: the node goes.
        assert_eq!(s.delete(&[id(1, 2)]), 1);
        assert_eq!(s.node_count(), 2);
        assert_eq!(s.delete(&[id(1, 4), id(1, 3)]), 2);
        assert_eq!(s.max_deleted_entry_id(), id(1, 4));
        assert_eq!(s.first_id(), id(1, 5));
        assert_eq!(s.delete(&[id(1, 5)]), 1);
        assert_eq!(
            (s.len(), s.first_id(), s.node_count()),
            (0, StreamId::MIN, 0)
        );
        assert_eq!(s.last_id(), id(1, 5));
        assert_eq!(s.entries_added(), 5);
        s.check_invariants(l);
    }

    #[test]
    fn trim_exact_and_approx() {
        let l = NodeLimits {
            max_bytes: 4096,
            max_entries: 3,
        };
        let build = || {
            let mut s = Stream::new();
            for seq in 1..=10 {
                add(&mut s, 1, seq, l);
            }
            s
        };
        let maxlen = |n, approx, limit| TrimArgs {
            strategy: TrimStrategy::MaxLen(n),
            approx,
            limit,
        };
        let mut s = build();
        assert_eq!(s.trim(maxlen(5, true, 0)), 3);
        assert_eq!(s.len(), 7);
        assert_eq!(s.first_id(), id(1, 4));
        assert_eq!(s.trim(maxlen(5, false, 0)), 2);
        assert_eq!(ids(&s), (6..=10).map(|q| id(1, q)).collect::<Vec<_>>());
        s.check_invariants(l);

        let mut s = build();
        assert_eq!(s.trim(maxlen(0, true, 5)), 3, "limit stops before node 2");
        assert_eq!(s.trim(maxlen(0, true, 0)), 7);
        assert_eq!(
            (s.len(), s.node_count(), s.first_id()),
            (0, 0, StreamId::MIN)
        );

        let minid = |m, approx| TrimArgs {
            strategy: TrimStrategy::MinId(m),
            approx,
            limit: 0,
        };
        let mut s = build();
        assert_eq!(s.trim(minid(id(1, 6), true)), 3);
        assert_eq!(s.trim(minid(id(1, 6), false)), 2);
        assert_eq!(s.first_id(), id(1, 6));
        assert_eq!(s.max_deleted_entry_id(), StreamId::MIN);
        s.check_invariants(l);

        // Redis keeps a node that an exact MINID trim empties
        // (redis-server 7.0.15: radix-tree-keys stays 2).
        let mut s = Stream::new();
        for (ms, seq) in [(1, 1), (1, 2), (1, 3), (2, 1), (2, 2)] {
            add(&mut s, ms, seq, l);
        }
        assert_eq!(s.delete(&[id(1, 3)]), 1);
        assert_eq!(s.trim(minid(id(1, 3), false)), 2);
        assert_eq!((s.len(), s.node_count(), s.first_id()), (2, 2, id(2, 1)));
        assert_eq!(s.trim(maxlen(2, true, 100)), 0);
        assert_eq!(s.node_count(), 2);
        s.check_invariants(l);
        // An empty head node goes with the next MAXLEN trim that runs.
        assert_eq!(s.trim(maxlen(1, false, 0)), 1);
        assert_eq!(s.node_count(), 1);
        s.check_invariants(l);
    }

    // ----- Property tests ---------------------------------------------------

    #[derive(Clone, Debug)]
    enum Op {
        Add {
            ms_step: u64,
            seq: u64,
            shape: u8,
        },
        AddBad {
            back: u64,
        },
        AddAuto {
            clock: i64,
            shape: u8,
        },
        AddAutoSeq {
            ms_step: u64,
            shape: u8,
        },
        Del {
            picks: Vec<u16>,
        },
        TrimMaxLen {
            maxlen: u16,
        },
        TrimMinId {
            pick: u16,
        },
        Range {
            a: RangeArg,
            b: RangeArg,
            count: Option<u8>,
            rev: bool,
        },
    }

    #[derive(Clone, Debug)]
    enum RangeArg {
        Min,
        Max,
        Ms { ms: u64, ex: bool },
        Full { ms: u64, seq: u64, ex: bool },
    }

    impl RangeArg {
        fn text(&self) -> String {
            let p = |ex: &bool| if *ex { "(" } else { "" };
            match self {
                RangeArg::Min => "-".into(),
                RangeArg::Max => "+".into(),
                RangeArg::Ms { ms, ex } => format!("{}{ms}", p(ex)),
                RangeArg::Full { ms, seq, ex } => format!("{}{ms}-{seq}", p(ex)),
            }
        }
    }

    fn range_arg() -> impl Strategy<Value = RangeArg> {
        prop_oneof![
            1 => Just(RangeArg::Min),
            1 => Just(RangeArg::Max),
            3 => (0u64..40, any::<bool>()).prop_map(|(ms, ex)| RangeArg::Ms { ms, ex }),
            6 => (0u64..40, 0u64..6, any::<bool>())
                .prop_map(|(ms, seq, ex)| RangeArg::Full { ms, seq, ex }),
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            12 => (0u64..3, 0u64..3, any::<u8>()).prop_map(|(ms_step, seq, shape)| Op::Add { ms_step, seq, shape }),
            1 => (0u64..3).prop_map(|back| Op::AddBad { back }),
            3 => (-3i64..3, any::<u8>()).prop_map(|(clock, shape)| Op::AddAuto { clock, shape }),
            2 => (0u64..2, any::<u8>()).prop_map(|(ms_step, shape)| Op::AddAutoSeq { ms_step, shape }),
            4 => prop::collection::vec(any::<u16>(), 1..4).prop_map(|picks| Op::Del { picks }),
            2 => (0u16..40).prop_map(|maxlen| Op::TrimMaxLen { maxlen }),
            2 => any::<u16>().prop_map(|pick| Op::TrimMinId { pick }),
            6 => (range_arg(), range_arg(), prop::option::of(0u8..8), any::<bool>())
                .prop_map(|(a, b, count, rev)| Op::Range { a, b, count, rev }),
        ]
    }

    fn limits() -> impl Strategy<Value = NodeLimits> {
        (
            prop_oneof![Just(0usize), 20usize..120, Just(4096)],
            prop_oneof![Just(0usize), 1usize..6, Just(100)],
        )
            .prop_map(|(max_bytes, max_entries)| NodeLimits {
                max_bytes,
                max_entries,
            })
    }

    fn shape_fields(shape: u8, n: u64) -> Fields {
        let b = |s: &str| s.as_bytes().to_vec();
        let v = format!("v{n}").into_bytes();
        match shape % 7 {
            0 | 1 => vec![(b("f"), v)],
            2 => vec![(b("f"), v), (b("g"), n.to_string().into_bytes())],
            3 => vec![(b("123"), b("-5")), (b(""), b(""))],
            4 => vec![(b("f"), vec![b'x'; (n % 90) as usize])],
            5 => vec![(b("g"), v), (b("f"), b("w"))],
            _ => vec![],
        }
    }

    struct Model {
        map: BTreeMap<StreamId, Fields>,
        last: StreamId,
        max_deleted: StreamId,
        added: u64,
        clock: u64,
        n: u64,
    }

    impl Model {
        fn new() -> Self {
            Model {
                map: BTreeMap::new(),
                last: StreamId::MIN,
                max_deleted: StreamId::MIN,
                added: 0,
                clock: 5,
                n: 0,
            }
        }

        fn pick(&self, pick: u16) -> StreamId {
            if self.map.is_empty() || pick.is_multiple_of(5) {
                id(u64::from(pick % 40), u64::from(pick / 40 % 6))
            } else {
                *self.map.keys().nth(pick as usize % self.map.len()).unwrap()
            }
        }
    }

    fn as_refs(f: &Fields) -> Vec<(&[u8], &[u8])> {
        f.iter()
            .map(|(a, b)| (a.as_slice(), b.as_slice()))
            .collect()
    }

    fn check_same(s: &Stream, m: &Model, l: NodeLimits) {
        s.check_invariants(l);
        assert_eq!(s.len(), m.map.len() as u64);
        assert_eq!(s.last_id(), m.last);
        assert_eq!(s.max_deleted_entry_id(), m.max_deleted);
        assert_eq!(s.entries_added(), m.added);
        assert_eq!(
            s.first_id(),
            m.map.keys().next().copied().unwrap_or(StreamId::MIN)
        );
        let all: Vec<OwnedEntry> = m.map.iter().map(|(k, v)| (*k, v.clone())).collect();
        assert_eq!(s.range(StreamId::MIN, StreamId::MAX, None, false), all);
        let rev: Vec<OwnedEntry> = all.into_iter().rev().collect();
        assert_eq!(s.range(StreamId::MIN, StreamId::MAX, None, true), rev);
        assert_eq!(
            s.last_entry().map(|e| e.id()),
            m.map.keys().next_back().copied()
        );
    }

    fn apply(s: &mut Stream, m: &mut Model, op: &Op, l: NodeLimits) {
        match op {
            Op::Add {
                ms_step,
                seq,
                shape,
            } => {
                let new = if *ms_step == 0 {
                    id(m.last.ms, m.last.seq + 1 + seq)
                } else {
                    id(m.last.ms + ms_step, *seq)
                };
                m.n += 1;
                let f = shape_fields(*shape, m.n);
                assert_eq!(s.xadd(XaddId::Explicit(new), &as_refs(&f), 0, l), Ok(new));
                m.map.insert(new, f);
                m.last = new;
                m.added += 1;
            }
            Op::AddBad { back } => {
                let bad = id(m.last.ms.saturating_sub(*back), m.last.seq);
                let f = shape_fields(0, 0);
                let want = if bad.is_zero() {
                    StreamError::XaddIdZero
                } else {
                    StreamError::XaddIdTooSmall
                };
                assert_eq!(s.xadd(XaddId::Explicit(bad), &as_refs(&f), 0, l), Err(want));
            }
            Op::AddAuto { clock, shape } => {
                m.clock = m.clock.saturating_add_signed(*clock);
                let want = if m.clock > m.last.ms {
                    id(m.clock, 0)
                } else {
                    id(m.last.ms, m.last.seq + 1)
                };
                m.n += 1;
                let f = shape_fields(*shape, m.n);
                assert_eq!(s.xadd(XaddId::Auto, &as_refs(&f), m.clock, l), Ok(want));
                m.map.insert(want, f);
                m.last = want;
                m.added += 1;
            }
            Op::AddAutoSeq { ms_step, shape } => {
                let ms = m.last.ms + ms_step;
                let want = if *ms_step == 0 {
                    id(ms, m.last.seq + 1)
                } else {
                    id(ms, 0)
                };
                let want = if want.is_zero() { id(0, 1) } else { want };
                m.n += 1;
                let f = shape_fields(*shape, m.n);
                assert_eq!(s.xadd(XaddId::AutoSeq(ms), &as_refs(&f), 0, l), Ok(want));
                m.map.insert(want, f);
                m.last = want;
                m.added += 1;
            }
            Op::Del { picks } => {
                let targets: Vec<StreamId> = picks.iter().map(|p| m.pick(*p)).collect();
                let mut want = 0;
                for t in &targets {
                    if m.map.remove(t).is_some() {
                        want += 1;
                        m.max_deleted = m.max_deleted.max(*t);
                    }
                }
                assert_eq!(s.delete(&targets), want);
            }
            Op::TrimMaxLen { maxlen } => {
                let maxlen = u64::from(*maxlen);
                let mut want = 0;
                while m.map.len() as u64 > maxlen {
                    m.map.pop_first();
                    want += 1;
                }
                let args = TrimArgs {
                    strategy: TrimStrategy::MaxLen(maxlen),
                    approx: false,
                    limit: 0,
                };
                assert_eq!(s.trim(args), want);
            }
            Op::TrimMinId { pick } => {
                let min = m.pick(*pick);
                let keep = m.map.split_off(&min);
                let want = m.map.len() as u64;
                m.map = keep;
                let args = TrimArgs {
                    strategy: TrimStrategy::MinId(min),
                    approx: false,
                    limit: 0,
                };
                assert_eq!(s.trim(args), want);
            }
            Op::Range { a, b, count, rev } => {
                let (lo_arg, hi_arg) = (a.text(), b.text());
                let Ok(lo) = parse_range_start(lo_arg.as_bytes()) else {
                    return;
                };
                let Ok(hi) = parse_range_end(hi_arg.as_bytes()) else {
                    return;
                };
                let count = count.map(usize::from);
                let mut want: Vec<OwnedEntry> = if lo <= hi {
                    m.map.range(lo..=hi).map(|(k, v)| (*k, v.clone())).collect()
                } else {
                    Vec::new()
                };
                if *rev {
                    want.reverse();
                }
                want.truncate(count.unwrap_or(usize::MAX));
                assert_eq!(s.range(lo, hi, count, *rev), want, "{lo_arg} {hi_arg}");
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        #[test]
        fn prop_matches_model(l in limits(), ops in prop::collection::vec(op(), 1..80)) {
            let mut s = Stream::new();
            let mut m = Model::new();
            for op in &ops {
                apply(&mut s, &mut m, op, l);
                check_same(&s, &m, l);
            }
        }

        #[test]
        fn prop_approx_trim_removes_whole_nodes(
            l in limits(),
            ops in prop::collection::vec(op(), 1..80),
            maxlen in 0u64..40,
            use_minid in any::<bool>(),
            pick in any::<u16>(),
            limit in prop_oneof![Just(0u64), 1u64..20],
        ) {
            let mut s = Stream::new();
            let mut m = Model::new();
            for op in &ops {
                apply(&mut s, &mut m, op, l);
            }
            let before = s.node_summary();
            let len_before = s.len();
            let min = m.pick(pick);
            let strategy = if use_minid {
                TrimStrategy::MinId(min)
            } else {
                TrimStrategy::MaxLen(maxlen)
            };
            let removed = s.trim(TrimArgs { strategy, approx: true, limit });
            let after = s.node_summary();
            // What remains is an untouched suffix of the old nodes.
            prop_assert!(after.len() <= before.len());
            let gone = &before[..before.len() - after.len()];
            prop_assert_eq!(&before[gone.len()..], &after[..]);
            let gone_live: u64 = gone.iter().map(|n| n.1).sum();
            prop_assert_eq!(removed, gone_live);
            prop_assert_eq!(s.len(), len_before - removed);
            if limit != 0 {
                prop_assert!(removed <= limit);
            }
            match strategy {
                TrimStrategy::MaxLen(n) => prop_assert!(s.len() >= n.min(len_before)),
                TrimStrategy::MinId(min) => {
                    let below = m.map.range(..min).count() as u64;
                    prop_assert!(removed <= below);
                }
            }
            // Model update: everything below the first remaining node went.
            match after.first() {
                Some((k, ..)) => m.map = m.map.split_off(k),
                None => m.map.clear(),
            }
            check_same(&s, &m, l);
        }
    }

    /// The rax node count built literally: a chain node where keys share
    /// bytes, a branching node where they split, a leaf per key.
    fn naive_rax_nodes(keys: &[[u8; 16]]) -> u64 {
        fn start(keys: &[[u8; 16]], depth: usize) -> u64 {
            if depth == 16 {
                return 1;
            }
            let mut shared = 16;
            for k in &keys[1..] {
                let same = (depth..16).take_while(|&i| k[i] == keys[0][i]).count();
                shared = shared.min(depth + same);
            }
            if shared > depth {
                return 1 + if shared == 16 {
                    1
                } else {
                    branch(keys, shared)
                };
            }
            branch(keys, depth)
        }
        fn branch(keys: &[[u8; 16]], depth: usize) -> u64 {
            let mut nodes = 1;
            let mut i = 0;
            while i < keys.len() {
                let j = i + keys[i..]
                    .iter()
                    .take_while(|k| k[depth] == keys[i][depth])
                    .count();
                nodes += start(&keys[i..j], depth + 1);
                i = j;
            }
            nodes
        }
        if keys.is_empty() {
            1
        } else {
            start(keys, 0)
        }
    }

    fn rax_key(id: StreamId) -> [u8; 16] {
        let mut k = [0u8; 16];
        k[..8].copy_from_slice(&id.ms.to_be_bytes());
        k[8..].copy_from_slice(&id.seq.to_be_bytes());
        k
    }

    #[test]
    fn rax_nodes_match_redis_samples() {
        // Values read from redis-server 7.0.15 XINFO STREAM.
        assert_eq!(rax_node_count(&[]), 1);
        assert_eq!(rax_node_count(&[id(1, 1)]), 2);
        assert_eq!(rax_node_count(&[id(1, 1), id(1, 2)]), 4);
    }

    proptest! {
        #[test]
        fn prop_rax_nodes_match_naive(raw in prop::collection::btree_set(
            (prop::sample::select(vec![0u64, 1, 255, 256, 65_536, 1 << 40, u64::MAX]),
             prop::sample::select(vec![0u64, 1, 2, 255, 256, 300, 1 << 20, u64::MAX])),
            0..40,
        )) {
            let ids: Vec<StreamId> = raw.iter().map(|&(ms, seq)| id(ms, seq)).collect();
            let keys: Vec<[u8; 16]> = ids.iter().map(|&i| rax_key(i)).collect();
            prop_assert_eq!(rax_node_count(&ids), naive_rax_nodes(&keys));
        }
    }
}
