//! List values: a quicklist like Redis 7.0's — a deque of small packed nodes, each a byte buffer
//! of entries, sized by `list-max-listpack-size` (negative = a byte limit per node, positive = an
//! entry count per node). Redis 7.0 reports every list as `quicklist`, so there is one encoding.
//!
//! An entry is `[len varint][bytes][back varint]`: the forward varint (LEB128) gives the data
//! length, the back varint (read from its last byte backwards) the length of header plus data,
//! so a node can be walked from either end, as a listpack can. Overhead is two bytes per small
//! element, close to a listpack's.

use std::collections::VecDeque;

/// Node byte limits for fill -1 ..= -5, as Redis's `optimization_level`.
const SIZE_LIMITS: [usize; 5] = [4096, 8192, 16384, 32768, 65536];
/// With a positive fill (an entry count) nodes still stay below this many bytes.
const SIZE_SAFETY_LIMIT: usize = 8192;

#[derive(Clone, Default)]
struct Node {
    buf: Vec<u8>,
    count: u32,
}

fn varint_len(mut n: usize) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

/// Bytes one entry of `data_len` bytes takes in a node.
fn entry_size(data_len: usize) -> usize {
    let head = varint_len(data_len) + data_len;
    head + varint_len(head)
}

fn encode_entry(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entry_size(data.len()));
    append_entry(&mut out, data);
    out
}

/// Appends one encoded entry to `out`.
fn append_entry(out: &mut Vec<u8>, data: &[u8]) {
    let start = out.len();
    let mut n = data.len();
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
    out.extend_from_slice(data);
    // The back varint, read from its last byte backwards: the last byte holds the low 7 bits
    // and every byte but the first carries a "more bytes precede" flag.
    let head = out.len() - start;
    let k = varint_len(head);
    for i in (0..k).rev() {
        let group = ((head >> (7 * i)) & 0x7f) as u8;
        out.push(if i + 1 < k { group | 0x80 } else { group });
    }
}

impl Node {
    /// The entry starting at `off`: its data and the offset of the next entry.
    fn entry(&self, off: usize) -> (&[u8], usize) {
        let mut len = 0usize;
        let mut shift = 0;
        let mut pos = off;
        loop {
            let b = self.buf[pos];
            pos += 1;
            len |= ((b & 0x7f) as usize) << shift;
            shift += 7;
            if b & 0x80 == 0 {
                break;
            }
        }
        let data = &self.buf[pos..pos + len];
        let head = pos + len - off;
        (data, pos + len + varint_len(head))
    }

    /// The start of the entry that ends at `end`.
    fn prev(&self, end: usize) -> usize {
        let mut pos = end - 1;
        let mut head = 0usize;
        let mut shift = 0;
        loop {
            let b = self.buf[pos];
            head |= ((b & 0x7f) as usize) << shift;
            shift += 7;
            if b & 0x80 == 0 {
                break;
            }
            pos -= 1;
        }
        pos - head
    }

    /// Byte offset of the `i`th entry (`i == count` gives the end), walking from the nearer end.
    fn offset_of(&self, i: usize) -> usize {
        let count = self.count as usize;
        if i <= count / 2 {
            (0..i).fold(0, |off, _| self.entry(off).1)
        } else {
            (i..count).fold(self.buf.len(), |end, _| self.prev(end))
        }
    }

    fn insert_at(&mut self, off: usize, data: &[u8]) {
        let bytes = encode_entry(data);
        self.buf.reserve_exact(bytes.len());
        self.buf.splice(off..off, bytes);
        self.count += 1;
    }

    fn remove_at(&mut self, off: usize) -> Vec<u8> {
        let (data, next) = self.entry(off);
        let data = data.to_vec();
        self.buf.drain(off..next);
        self.count -= 1;
        data
    }

    /// Offsets of every entry, and the end.
    fn offsets(&self) -> Vec<usize> {
        let mut out = Vec::with_capacity(self.count as usize + 1);
        let mut off = 0;
        while off < self.buf.len() {
            out.push(off);
            off = self.entry(off).1;
        }
        out.push(off);
        out
    }

    /// Splits off the entries from the `i`th on into a new node.
    fn split_off(&mut self, i: usize) -> Node {
        let off = self.offset_of(i);
        let tail = Node {
            buf: self.buf[off..].to_vec(),
            count: self.count - i as u32,
        };
        self.buf.truncate(off);
        self.buf.shrink_to_fit();
        self.count = i as u32;
        tail
    }
}

#[derive(Clone)]
pub struct List {
    nodes: VecDeque<Node>,
    len: usize,
    /// `list-max-listpack-size` when the list was created (Redis keeps it per quicklist too).
    fill: i32,
}

impl List {
    pub fn new(fill: i32) -> Self {
        List {
            nodes: VecDeque::new(),
            len: 0,
            fill,
        }
    }

    pub fn encoding_name(&self) -> &'static str {
        "quicklist"
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether a node of `bytes` bytes and `count` entries is within the fill limits.
    fn fits(&self, bytes: usize, count: usize) -> bool {
        if self.fill < 0 {
            bytes <= SIZE_LIMITS[(self.fill.unsigned_abs() as usize).min(5) - 1]
        } else {
            bytes <= SIZE_SAFETY_LIMIT && count <= (self.fill as usize).max(1)
        }
    }

    fn can_add(&self, node: &Node, data_len: usize) -> bool {
        self.fits(
            node.buf.len() + entry_size(data_len),
            node.count as usize + 1,
        )
    }

    pub fn push_back(&mut self, data: &[u8]) {
        match self.nodes.back() {
            Some(n) if self.can_add(n, data.len()) => {}
            _ => self.nodes.push_back(Node::default()),
        }
        if let Some(n) = self.nodes.back_mut() {
            let end = n.buf.len();
            n.insert_at(end, data);
        }
        self.len += 1;
    }

    /// `push_back` of many entries (RDB loading): a node grows amortised while it fills and is
    /// trimmed to its exact size once, instead of one reallocation per entry. Same nodes and
    /// bytes as the `push_back` calls would make.
    pub fn extend_back<T: AsRef<[u8]>>(&mut self, items: impl IntoIterator<Item = T>) {
        for data in items {
            let data = data.as_ref();
            if !matches!(self.nodes.back(), Some(n) if self.can_add(n, data.len())) {
                if let Some(full) = self.nodes.back_mut() {
                    full.buf.shrink_to_fit();
                }
                self.nodes.push_back(Node::default());
            }
            if let Some(n) = self.nodes.back_mut() {
                append_entry(&mut n.buf, data);
                n.count += 1;
            }
            self.len += 1;
        }
        if let Some(last) = self.nodes.back_mut() {
            last.buf.shrink_to_fit();
        }
    }

    pub fn push_front(&mut self, data: &[u8]) {
        match self.nodes.front() {
            Some(n) if self.can_add(n, data.len()) => {}
            _ => self.nodes.push_front(Node::default()),
        }
        if let Some(n) = self.nodes.front_mut() {
            n.insert_at(0, data);
        }
        self.len += 1;
    }

    pub fn pop_front(&mut self) -> Option<Vec<u8>> {
        let node = self.nodes.front_mut()?;
        let data = node.remove_at(0);
        if node.count == 0 {
            self.nodes.pop_front();
        }
        self.len -= 1;
        Some(data)
    }

    pub fn pop_back(&mut self) -> Option<Vec<u8>> {
        let node = self.nodes.back_mut()?;
        let last = node.prev(node.buf.len());
        let data = node.remove_at(last);
        if node.count == 0 {
            self.nodes.pop_back();
        }
        self.len -= 1;
        Some(data)
    }

    /// Pops from the head (`left`) or the tail.
    pub fn pop(&mut self, left: bool) -> Option<Vec<u8>> {
        if left {
            self.pop_front()
        } else {
            self.pop_back()
        }
    }

    pub fn push(&mut self, left: bool, data: &[u8]) {
        if left {
            self.push_front(data)
        } else {
            self.push_back(data)
        }
    }

    /// The node holding element `i` (< len) and the element's position in it, walking from the
    /// nearer end of the list.
    fn locate(&self, i: usize) -> (usize, usize) {
        if i < self.len / 2 {
            let mut rest = i;
            for (ni, n) in self.nodes.iter().enumerate() {
                if rest < n.count as usize {
                    return (ni, rest);
                }
                rest -= n.count as usize;
            }
        } else {
            let mut from_end = self.len - i;
            for (ni, n) in self.nodes.iter().enumerate().rev() {
                if from_end <= n.count as usize {
                    return (ni, n.count as usize - from_end);
                }
                from_end -= n.count as usize;
            }
        }
        (self.nodes.len(), 0)
    }

    pub fn get(&self, i: usize) -> Option<&[u8]> {
        if i >= self.len {
            return None;
        }
        let (ni, k) = self.locate(i);
        let node = &self.nodes[ni];
        Some(node.entry(node.offset_of(k)).0)
    }

    /// Replaces element `i`; false if out of range.
    pub fn set(&mut self, i: usize, data: &[u8]) -> bool {
        if i >= self.len {
            return false;
        }
        let (ni, k) = self.locate(i);
        let node = &mut self.nodes[ni];
        let off = node.offset_of(k);
        node.remove_at(off);
        node.insert_at(off, data);
        self.split_if_oversized(ni);
        true
    }

    /// Inserts `data` so that it becomes element `i` (`i == len` appends).
    pub fn insert(&mut self, i: usize, data: &[u8]) {
        if i == 0 {
            return self.push_front(data);
        }
        if i >= self.len {
            return self.push_back(data);
        }
        let (ni, k) = self.locate(i);
        let node = &mut self.nodes[ni];
        let off = node.offset_of(k);
        node.insert_at(off, data);
        self.len += 1;
        self.split_if_oversized(ni);
    }

    /// Removes element `i`; false if out of range.
    pub fn remove(&mut self, i: usize) -> bool {
        if i >= self.len {
            return false;
        }
        let (ni, k) = self.locate(i);
        let node = &mut self.nodes[ni];
        let off = node.offset_of(k);
        node.remove_at(off);
        self.len -= 1;
        if node.count == 0 {
            self.nodes.remove(ni);
        }
        true
    }

    /// Halves node `ni` until its parts fit (a single huge element stays alone in its node).
    fn split_if_oversized(&mut self, ni: usize) {
        let node = &self.nodes[ni];
        if node.count < 2 || self.fits(node.buf.len(), node.count as usize) {
            return;
        }
        let half = node.count as usize / 2;
        let tail = self.nodes[ni].split_off(half);
        self.nodes.insert(ni + 1, tail);
        self.split_if_oversized(ni + 1);
        self.split_if_oversized(ni);
    }

    /// Drops `n` elements from the head.
    pub fn remove_front(&mut self, n: usize) {
        self.remove_end(n, false);
    }

    /// Drops `n` elements from the tail.
    pub fn remove_back(&mut self, n: usize) {
        self.remove_end(n, true);
    }

    /// Drops `n` elements from the tail (`back`) or the head: whole nodes while they fit, then
    /// the rest from the node that is left at that end.
    fn remove_end(&mut self, n: usize, back: bool) {
        let mut n = n.min(self.len);
        self.len -= n;
        while n > 0 {
            let end = if back {
                self.nodes.back_mut()
            } else {
                self.nodes.front_mut()
            };
            let Some(node) = end else {
                break;
            };
            let count = node.count as usize;
            if count <= n {
                n -= count;
                if back {
                    self.nodes.pop_back();
                } else {
                    self.nodes.pop_front();
                }
            } else {
                if back {
                    let off = node.offset_of(count - n);
                    node.buf.truncate(off);
                } else {
                    let off = node.offset_of(n);
                    node.buf.drain(..off);
                }
                node.count -= n as u32;
                n = 0;
            }
        }
    }

    /// Removes up to `limit` elements equal to `value` (0 = all), from the head or, with
    /// `from_tail`, from the tail (LREM). Returns how many were removed.
    pub fn remove_matching(&mut self, value: &[u8], limit: usize, from_tail: bool) -> usize {
        let mut removed = 0;
        let order: Vec<usize> = if from_tail {
            (0..self.nodes.len()).rev().collect()
        } else {
            (0..self.nodes.len()).collect()
        };
        for ni in order {
            if limit != 0 && removed == limit {
                break;
            }
            let node = &self.nodes[ni];
            let offsets = node.offsets();
            let mut doomed = vec![false; node.count as usize];
            let mut any = false;
            let mut visit = |k: usize| {
                if (limit == 0 || removed < limit) && node.entry(offsets[k]).0 == value {
                    doomed[k] = true;
                    removed += 1;
                    any = true;
                }
            };
            if from_tail {
                (0..node.count as usize).rev().for_each(&mut visit);
            } else {
                (0..node.count as usize).for_each(&mut visit);
            }
            if any {
                let mut buf = Vec::with_capacity(node.buf.len());
                let mut kept = 0;
                for k in 0..node.count as usize {
                    if !doomed[k] {
                        buf.extend_from_slice(&node.buf[offsets[k]..offsets[k + 1]]);
                        kept += 1;
                    }
                }
                let node = &mut self.nodes[ni];
                node.buf = buf;
                node.count = kept;
            }
        }
        self.len -= removed;
        if removed > 0 {
            self.compact();
        }
        removed
    }

    /// Drops empty nodes and merges neighbours that fit together, after removals in the middle.
    fn compact(&mut self) {
        let mut merged: VecDeque<Node> = VecDeque::with_capacity(self.nodes.len());
        for node in std::mem::take(&mut self.nodes) {
            if node.count == 0 {
                continue;
            }
            match merged.back_mut() {
                Some(last)
                    if self.fits(
                        last.buf.len() + node.buf.len(),
                        (last.count + node.count) as usize,
                    ) =>
                {
                    last.buf.extend_from_slice(&node.buf);
                    last.count += node.count;
                }
                _ => merged.push_back(node),
            }
        }
        self.nodes = merged;
    }

    /// Elements from index `start` on, head to tail.
    pub fn iter_from(&self, start: usize) -> Iter<'_> {
        if start >= self.len {
            return Iter {
                list: self,
                node: self.nodes.len(),
                off: 0,
            };
        }
        let (ni, k) = self.locate(start);
        Iter {
            list: self,
            node: ni,
            off: self.nodes[ni].offset_of(k),
        }
    }

    pub fn iter(&self) -> Iter<'_> {
        self.iter_from(0)
    }

    /// Elements tail to head.
    pub fn iter_rev(&self) -> RevIter<'_> {
        RevIter {
            list: self,
            node: self.nodes.len(),
            end: 0,
        }
    }

    /// Heap bytes held: node buffers plus the node table.
    pub fn approx_bytes(&self) -> usize {
        self.nodes.iter().map(|n| n.buf.capacity()).sum::<usize>()
            + self.nodes.capacity() * std::mem::size_of::<Node>()
            + std::mem::size_of::<List>()
    }
}

pub struct Iter<'a> {
    list: &'a List,
    node: usize,
    off: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        loop {
            let node = self.list.nodes.get(self.node)?;
            if self.off < node.buf.len() {
                let (data, next) = node.entry(self.off);
                self.off = next;
                return Some(data);
            }
            self.node += 1;
            self.off = 0;
        }
    }
}

pub struct RevIter<'a> {
    list: &'a List,
    /// One past the node being read; `end` is the end of the next entry to yield in it.
    node: usize,
    end: usize,
}

impl<'a> Iterator for RevIter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        while self.end == 0 {
            if self.node == 0 {
                return None;
            }
            self.node -= 1;
            self.end = self.list.nodes[self.node].buf.len();
        }
        let node = &self.list.nodes[self.node];
        let start = node.prev(self.end);
        self.end = start;
        Some(node.entry(start).0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::VecDeque;

    fn contents(l: &List) -> Vec<Vec<u8>> {
        l.iter().map(|e| e.to_vec()).collect()
    }

    fn check(l: &List, model: &VecDeque<Vec<u8>>) {
        assert_eq!(l.len(), model.len());
        let fwd = contents(l);
        assert_eq!(fwd, model.iter().cloned().collect::<Vec<_>>());
        let mut rev: Vec<Vec<u8>> = l.iter_rev().map(|e| e.to_vec()).collect();
        rev.reverse();
        assert_eq!(rev, fwd);
        assert_eq!(
            l.nodes.iter().map(|n| n.count as usize).sum::<usize>(),
            l.len
        );
        assert!(l.nodes.iter().all(|n| n.count > 0));
        for n in &l.nodes {
            assert_eq!(n.offsets().len(), n.count as usize + 1);
            if n.count > 1 {
                assert!(l.fits(n.buf.len(), n.count as usize));
            }
        }
    }

    #[test]
    fn entries_round_trip_in_both_directions() {
        for len in [0, 1, 127, 128, 129, 16383, 16384, 20000] {
            let data = vec![7u8; len];
            let node = Node {
                buf: encode_entry(&data),
                count: 1,
            };
            assert_eq!(node.buf.len(), entry_size(len));
            let (got, next) = node.entry(0);
            assert_eq!((got, next), (&data[..], node.buf.len()));
            assert_eq!(node.prev(node.buf.len()), 0);
        }
    }

    #[test]
    fn positive_fill_counts_entries_per_node() {
        let mut l = List::new(3);
        for i in 0..10 {
            l.push_back(i.to_string().as_bytes());
        }
        assert_eq!(l.nodes.len(), 4);
        assert_eq!(l.get(9), Some(&b"9"[..]));
        l.insert(1, b"x");
        assert_eq!(l.get(1), Some(&b"x"[..]));
        assert_eq!(l.len(), 11);
    }

    #[test]
    fn big_elements_get_their_own_nodes() {
        let mut l = List::new(-2);
        let big = vec![1u8; 10_000];
        l.push_back(b"a");
        l.push_back(&big);
        l.push_back(b"b");
        assert_eq!(l.nodes.len(), 3);
        assert_eq!(l.get(1), Some(&big[..]));
        l.set(0, &big);
        assert_eq!(contents(&l), vec![big.clone(), big.clone(), b"b".to_vec()]);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Push(bool, Vec<u8>),
        Pop(bool),
        Set(usize, Vec<u8>),
        Insert(usize, Vec<u8>),
        Remove(usize),
        Trim(usize, usize),
        RemoveMatching(Vec<u8>, usize, bool),
    }

    fn value() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            4 => proptest::collection::vec(0u8..3, 0..3),
            1 => proptest::collection::vec(any::<u8>(), 100..300),
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (any::<bool>(), value()).prop_map(|(l, v)| Op::Push(l, v)),
            2 => any::<bool>().prop_map(Op::Pop),
            1 => (0usize..200, value()).prop_map(|(i, v)| Op::Set(i, v)),
            2 => (0usize..200, value()).prop_map(|(i, v)| Op::Insert(i, v)),
            1 => (0usize..200).prop_map(Op::Remove),
            1 => (0usize..5, 0usize..5).prop_map(|(a, b)| Op::Trim(a, b)),
            1 => (value(), 0usize..4, any::<bool>()).prop_map(|(v, n, t)| Op::RemoveMatching(v, n, t)),
        ]
    }

    fn apply(l: &mut List, model: &mut VecDeque<Vec<u8>>, op: Op) {
        match op {
            Op::Push(left, v) => {
                l.push(left, &v);
                if left {
                    model.push_front(v)
                } else {
                    model.push_back(v)
                }
            }
            Op::Pop(left) => {
                let want = if left {
                    model.pop_front()
                } else {
                    model.pop_back()
                };
                assert_eq!(l.pop(left), want);
            }
            Op::Set(i, v) => {
                assert_eq!(l.set(i, &v), i < model.len());
                if i < model.len() {
                    model[i] = v;
                }
            }
            Op::Insert(i, v) => {
                let i = i.min(model.len());
                l.insert(i, &v);
                model.insert(i, v);
            }
            Op::Remove(i) => {
                assert_eq!(l.remove(i), i < model.len());
                if i < model.len() {
                    model.remove(i);
                }
            }
            Op::Trim(front, back) => {
                l.remove_front(front);
                l.remove_back(back);
                for _ in 0..front {
                    model.pop_front();
                }
                for _ in 0..back {
                    model.pop_back();
                }
            }
            Op::RemoveMatching(v, limit, from_tail) => {
                let mut removed = 0;
                let mut keep: Vec<bool> = vec![true; model.len()];
                let idx: Vec<usize> = if from_tail {
                    (0..model.len()).rev().collect()
                } else {
                    (0..model.len()).collect()
                };
                for i in idx {
                    if (limit == 0 || removed < limit) && model[i] == v {
                        keep[i] = false;
                        removed += 1;
                    }
                }
                let mut k = keep.iter();
                model.retain(|_| *k.next().unwrap_or(&true));
                assert_eq!(l.remove_matching(&v, limit, from_tail), removed);
            }
        }
    }

    proptest! {
        #[test]
        fn behaves_like_a_vecdeque(
            fill in prop_oneof![Just(-1i32), Just(-2), Just(1), Just(2), Just(5), Just(0)],
            ops in proptest::collection::vec(op(), 0..300),
        ) {
            let mut l = List::new(fill);
            let mut model = VecDeque::new();
            for op in ops {
                apply(&mut l, &mut model, op);
                check(&l, &model);
            }
            for i in 0..model.len() {
                prop_assert_eq!(l.get(i), Some(&model[i][..]));
                let from: Vec<Vec<u8>> = l.iter_from(i).map(|e| e.to_vec()).collect();
                prop_assert_eq!(from.len(), model.len() - i);
            }
            prop_assert_eq!(l.get(model.len()), None);
        }
    }
}
