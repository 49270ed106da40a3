//! Reading a stream: borrowed views of live entries and their fields, and
//! the lazy range iterator behind XRANGE, XREVRANGE, XREAD and the rest.

use std::collections::{btree_map, BTreeMap};
use std::iter::FusedIterator;

use super::node::{get_str, Header, Node, FLAG_DELETED, FLAG_SAMEFIELDS};
use super::StreamId;

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
    /// The entry of `node` whose decoded header is `h`.
    fn new(node: &'a Node, h: &Header) -> Self {
        StreamEntry {
            id: h.id,
            buf: &node.buf,
            master_fields_off: node.master_fields_off,
            fields_off: h.fields_off,
            nfields: h.nfields,
            same: h.flags & FLAG_SAMEFIELDS != 0,
        }
    }

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

impl<'a> StreamRange<'a> {
    /// See [`super::Stream::iter_range`].
    pub(super) fn new(
        nodes: &'a BTreeMap<StreamId, Node>,
        start: StreamId,
        end: StreamId,
        rev: bool,
    ) -> Self {
        let done = start > end;
        let nodes = if done {
            nodes.range(StreamId::MIN..StreamId::MIN)
        } else if rev {
            nodes.range(..=end)
        } else {
            let from = nodes.range(..=start).next_back().map_or(start, |(k, _)| *k);
            nodes.range(from..=end)
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
                return Some(StreamEntry::new(node, &h));
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
                return Some(StreamEntry::new(node, &h));
            }
        }
        self.cur = None;
        None
    }
}

impl FusedIterator for StreamRange<'_> {}
