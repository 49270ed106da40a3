//! Stream values (XADD / XRANGE / XREVRANGE / XDEL / XTRIM / XLEN), modelled
//! on Redis 7.0's `t_stream.c`: this module owns [`Stream`] itself (the node
//! map, appends with ID generation, XDEL) and its submodules the rest:
//! `id` (IDs and the parsing of ID arguments), `error`, `node` (the packed
//! node storage and its listpack size model), `iter` (entry views and range
//! iteration), `trim` (XADD/XTRIM options and trimming), `rax` (XINFO's rax
//! shape) and [`group`] (consumer groups). Replies and RESP encoding belong
//! to the command layer.
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

mod error;
pub mod group;
mod id;
mod iter;
mod node;
mod rax;
#[cfg(test)]
mod tests;
mod trim;

use std::collections::BTreeMap;

pub use error::StreamError;
pub use group::ConsumerGroups;
pub use id::{parse_interval_id, parse_range_end, parse_range_start, StreamId, XaddId};
pub use iter::{EntryFields, StreamEntry, StreamRange};
pub use trim::{default_approx_limit, parse_add_or_trim_args, AddTrimArgs, TrimArgs, TrimStrategy};

use node::Node;

/// Default of the `stream-node-max-bytes` config.
pub const DEFAULT_NODE_MAX_BYTES: usize = 4096;
/// Default of the `stream-node-max-entries` config.
pub const DEFAULT_NODE_MAX_ENTRIES: usize = 100;
/// Redis `STREAM_LISTPACK_MAX_SIZE`: cap of a node, and of one entry's
/// total field + value bytes (beyond it XADD fails with
/// [`StreamError::ElementsTooLarge`]).
pub const LISTPACK_MAX_SIZE: usize = 1 << 30;

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
        rax::rax_node_count(&keys)
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

    fn first_live_id(&self) -> StreamId {
        self.iter().next().map_or(StreamId::MAX, |e| e.id())
    }

    /// Live entries with `start <= id <= end` (inclusive bounds, as
    /// returned by [`parse_range_start`] / [`parse_range_end`]), ascending,
    /// or descending when `rev`. Empty when `start > end`.
    pub fn iter_range(&self, start: StreamId, end: StreamId, rev: bool) -> StreamRange<'_> {
        StreamRange::new(&self.nodes, start, end, rev)
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
}
