//! Consumer groups of a stream (XGROUP, XREADGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM), modelled
//! on Redis 7.0's `streamCG` / `streamConsumer` / `streamNACK`.
//!
//! A group keeps its last delivered ID, its logical read counter (`entries_read`, used for the
//! `lag` that XINFO reports) and its pending entries list (PEL): every entry delivered to a
//! consumer and not yet acknowledged, with the consumer that owns it, the last delivery time and
//! the delivery count. Each consumer keeps the IDs it owns (its own PEL), so both views stay in
//! step: every ID in a consumer's PEL is in the group PEL with that consumer as owner.
//!
//! Groups and consumers are kept sorted by name, as Redis's rax iterates them.
//! Times are milliseconds (the command's clock).

use std::collections::{BTreeMap, BTreeSet};

use super::{Stream, StreamId};

/// Redis `SCG_INVALID_ENTRIES_READ`: the group's read counter is not known.
pub const INVALID_ENTRIES_READ: i64 = -1;

/// One pending entry (Redis `streamNACK`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nack {
    /// Name of the consumer owning the entry.
    pub consumer: Box<[u8]>,
    /// Last time the entry was delivered (ms).
    pub delivery_time: i64,
    pub delivery_count: u64,
}

/// One consumer of a group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Consumer {
    /// Last time the consumer was seen reading or claiming (ms).
    pub seen_time: i64,
    /// The IDs this consumer owns in the group PEL.
    pub pel: BTreeSet<StreamId>,
}

/// One consumer group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumerGroup {
    pub last_id: StreamId,
    /// Logical read counter, or [`INVALID_ENTRIES_READ`].
    pub entries_read: i64,
    pub pel: BTreeMap<StreamId, Nack>,
    pub consumers: BTreeMap<Box<[u8]>, Consumer>,
}

/// The groups of one stream, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConsumerGroups {
    groups: BTreeMap<Box<[u8]>, ConsumerGroup>,
}

impl ConsumerGroups {
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    pub fn get(&self, name: &[u8]) -> Option<&ConsumerGroup> {
        self.groups.get(name)
    }

    pub fn get_mut(&mut self, name: &[u8]) -> Option<&mut ConsumerGroup> {
        self.groups.get_mut(name)
    }

    /// XGROUP CREATE: false when a group of that name exists already.
    pub fn create(&mut self, name: &[u8], last_id: StreamId, entries_read: i64) -> bool {
        if self.groups.contains_key(name) {
            return false;
        }
        let group = ConsumerGroup {
            last_id,
            entries_read,
            pel: BTreeMap::new(),
            consumers: BTreeMap::new(),
        };
        self.groups.insert(name.into(), group);
        true
    }

    /// XGROUP DESTROY: whether the group existed.
    pub fn destroy(&mut self, name: &[u8]) -> bool {
        self.groups.remove(name).is_some()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &ConsumerGroup)> {
        self.groups.iter().map(|(k, g)| (&**k, g))
    }
}

/// Redis `streamEstimateDistanceFromFirstEverEntry` as in 7.0.15: the logical read counter of
/// `id` (how many entries were added up to it), or `None` when it cannot be known (the ID lies
/// between the first and last entries, beyond the last one, or tombstones may hide entries).
pub fn estimate_entries_read(s: &Stream, id: StreamId) -> Option<u64> {
    let added = s.entries_added();
    if added == 0 {
        return Some(0);
    }
    if s.is_empty() && id <= s.last_id() {
        return Some(added);
    }
    if id == s.last_id() {
        return Some(added);
    }
    if id > s.last_id() {
        return None;
    }
    let max_deleted = s.max_deleted_entry_id();
    if max_deleted.is_zero() || max_deleted < s.first_id() {
        // No fragmentation ahead.
        if id < s.first_id() {
            return Some(added - s.len());
        }
        if id == s.first_id() {
            return Some(added - s.len() + 1);
        }
    }
    None
}

/// Redis `streamRangeHasTombstones(s, start, NULL)`: whether an XDEL tombstone may lie at or
/// after `start`.
pub fn has_tombstones_from(s: &Stream, start: StreamId) -> bool {
    let max_deleted = s.max_deleted_entry_id();
    if s.is_empty() || max_deleted.is_zero() {
        return false;
    }
    if s.first_id() > max_deleted {
        return false;
    }
    start <= max_deleted
}

impl ConsumerGroup {
    /// Redis `streamReplyWithCGLag`: entries not yet delivered to the group, `None` when it
    /// cannot be known.
    pub fn lag(&self, s: &Stream) -> Option<u64> {
        let added = s.entries_added();
        if added == 0 {
            return Some(0);
        }
        if self.entries_read != INVALID_ENTRIES_READ && !has_tombstones_from(s, self.last_id) {
            return Some(added.saturating_sub(self.entries_read as u64));
        }
        estimate_entries_read(s, self.last_id).map(|read| added.saturating_sub(read))
    }

    /// The `entries-read` XINFO reports (`None` = invalid).
    pub fn entries_read(&self) -> Option<i64> {
        (self.entries_read != INVALID_ENTRIES_READ).then_some(self.entries_read)
    }

    /// Redis `streamLookupConsumer` (refreshing the seen time) or `streamCreateConsumer`.
    pub fn consumer_seen(&mut self, name: &[u8], now: i64) -> &mut Consumer {
        let consumer = self.consumers.entry(name.into()).or_default();
        consumer.seen_time = now;
        consumer
    }

    /// XGROUP CREATECONSUMER: false when the consumer exists.
    pub fn create_consumer(&mut self, name: &[u8], now: i64) -> bool {
        if self.consumers.contains_key(name) {
            return false;
        }
        self.consumer_seen(name, now);
        true
    }

    /// XGROUP DELCONSUMER: removes the consumer and its pending entries from the group PEL;
    /// returns how many it had (0 when it does not exist).
    pub fn delete_consumer(&mut self, name: &[u8]) -> usize {
        let Some(consumer) = self.consumers.remove(name) else {
            return 0;
        };
        for id in &consumer.pel {
            self.pel.remove(id);
        }
        consumer.pel.len()
    }

    /// Moves the group's position forward to `id` as `streamReplyWithRange` does for each entry
    /// it serves to `>` readers, keeping the read counter valid when it can.
    pub fn advance_to(&mut self, s: &Stream, id: StreamId) {
        if id <= self.last_id {
            return;
        }
        if self.entries_read != INVALID_ENTRIES_READ && !has_tombstones_from(s, id) {
            self.entries_read += 1;
        } else if s.entries_added() != 0 {
            self.entries_read =
                estimate_entries_read(s, id).map_or(INVALID_ENTRIES_READ, |n| n as i64);
        }
        self.last_id = id;
    }

    /// Records a new delivery of `id` to `consumer` (which must exist): a new pending entry, or
    /// one taken over from its previous owner with its count reset to 1.
    pub fn deliver_new(&mut self, id: StreamId, consumer: &[u8], now: i64) {
        if let Some(old) = self.pel.get(&id) {
            let owner = old.consumer.clone();
            if let Some(c) = self.consumers.get_mut(&owner) {
                c.pel.remove(&id);
            }
        }
        self.pel.insert(
            id,
            Nack {
                consumer: consumer.into(),
                delivery_time: now,
                delivery_count: 1,
            },
        );
        if let Some(c) = self.consumers.get_mut(consumer) {
            c.pel.insert(id);
        }
    }

    /// Re-delivery from a consumer's own history: bumps time and count.
    pub fn redeliver(&mut self, id: StreamId, now: i64) {
        if let Some(nack) = self.pel.get_mut(&id) {
            nack.delivery_time = now;
            nack.delivery_count += 1;
        }
    }

    /// XACK of one ID: whether it was pending.
    pub fn ack(&mut self, id: StreamId) -> bool {
        let Some(nack) = self.pel.remove(&id) else {
            return false;
        };
        if let Some(c) = self.consumers.get_mut(&nack.consumer) {
            c.pel.remove(&id);
        }
        true
    }

    /// Gives the pending entry `id` to `consumer` (which must exist) with a new delivery
    /// time; returns the entry so the caller can set its delivery count, `None` if not pending.
    pub fn transfer(&mut self, id: StreamId, consumer: &[u8], time: i64) -> Option<&mut Nack> {
        let nack = self.pel.get_mut(&id)?;
        nack.delivery_time = time;
        if &*nack.consumer != consumer {
            let old = std::mem::replace(&mut nack.consumer, consumer.into());
            if let Some(c) = self.consumers.get_mut(&old) {
                c.pel.remove(&id);
            }
            if let Some(c) = self.consumers.get_mut(consumer) {
                c.pel.insert(id);
            }
        }
        Some(nack)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::stream::tests::id;
    use crate::types::stream::{NodeLimits, XaddId};

    fn stream_with(n: u64) -> Stream {
        let mut s = Stream::new();
        for i in 1..=n {
            let f: &[(&[u8], &[u8])] = &[(b"f", b"v")];
            s.xadd(XaddId::Explicit(id(i, 0)), f, 0, NodeLimits::default())
                .unwrap();
        }
        s
    }

    #[test]
    fn lag_follows_redis_7_0() {
        let mut s = stream_with(5);
        let mut groups = ConsumerGroups::default();
        assert!(groups.create(b"g", StreamId::MIN, INVALID_ENTRIES_READ));
        assert!(!groups.create(b"g", StreamId::MIN, INVALID_ENTRIES_READ));
        assert_eq!(groups.get(b"g").unwrap().lag(&s), Some(5));
        s.delete(&[id(3, 0)]);
        assert_eq!(groups.get(b"g").unwrap().lag(&s), None);
        let g = groups.get_mut(b"g").unwrap();
        for i in [1, 2, 4] {
            g.advance_to(&s, id(i, 0));
            assert_eq!(g.entries_read(), None);
        }
        g.advance_to(&s, id(5, 0));
        assert_eq!((g.entries_read(), g.lag(&s)), (Some(5), Some(0)));
    }

    #[test]
    fn estimate_below_first_entry_without_fragmentation() {
        let mut s = stream_with(5);
        s.delete(&[id(1, 0)]);
        assert_eq!(estimate_entries_read(&s, id(0, 1)), Some(1));
        assert_eq!(estimate_entries_read(&s, id(2, 0)), Some(2));
        assert_eq!(estimate_entries_read(&s, id(3, 0)), None);
        assert_eq!(estimate_entries_read(&s, id(9, 0)), None);
        let mut e = stream_with(1);
        e.delete(&[id(1, 0)]);
        assert_eq!(estimate_entries_read(&e, StreamId::MIN), Some(1));
    }

    #[test]
    fn pel_ownership_moves_with_claims_and_acks() {
        let mut groups = ConsumerGroups::default();
        groups.create(b"g", StreamId::MIN, 0);
        let g = groups.get_mut(b"g").unwrap();
        g.consumer_seen(b"a", 1);
        g.consumer_seen(b"b", 1);
        g.deliver_new(id(1, 0), b"a", 1);
        g.deliver_new(id(2, 0), b"a", 1);
        g.transfer(id(1, 0), b"b", 5);
        assert_eq!(g.consumers[&b"a"[..]].pel.len(), 1);
        assert_eq!(g.consumers[&b"b"[..]].pel.len(), 1);
        assert!(g.ack(id(1, 0)));
        assert!(!g.ack(id(1, 0)));
        assert_eq!(g.delete_consumer(b"a"), 1);
        assert!(g.pel.is_empty());
    }
}
