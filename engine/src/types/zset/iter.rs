//! Iteration over a sorted set in either encoding: [`Iter`] walks a listpack
//! slice or a skiplist rank window, both ways, knowing its exact length.

use std::iter::FusedIterator;

use super::skiplist::SkipList;
use super::Entry;

/// Iterator over `(member, score)` pairs; double-ended and exact-size.
pub struct Iter<'a> {
    pub(super) inner: IterInner<'a>,
    pub(super) remaining: usize,
    pub(super) reverse: bool,
}

pub(super) enum IterInner<'a> {
    Listpack(std::slice::Iter<'a, Entry>),
    Skiplist {
        list: &'a SkipList,
        front: u32,
        back: u32,
    },
}

impl<'a> Iter<'a> {
    /// Takes the pair at the front of the window, or with `from_back` the one at its back.
    #[inline]
    fn pull(&mut self, from_back: bool) -> Option<(&'a [u8], f64)> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        match &mut self.inner {
            IterInner::Listpack(it) => {
                let e = if from_back { it.next_back() } else { it.next() };
                e.map(|e| (&*e.0, e.1))
            }
            IterInner::Skiplist { list, front, back } => {
                let list: &'a SkipList = list;
                let end = if from_back { back } else { front };
                let n = list.node(*end);
                *end = if from_back {
                    n.backward
                } else {
                    n.levels[0].forward
                };
                Some((&n.member, n.score))
            }
        }
    }
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], f64);

    fn next(&mut self) -> Option<Self::Item> {
        self.pull(self.reverse)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.pull(!self.reverse)
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl FusedIterator for Iter<'_> {}
