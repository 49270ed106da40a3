//! One logical database (SELECT n): the key dictionary, the expiry dictionary, lazy expiry on
//! access and the sampling step of active expiry.
//!
//! As in Redis, expiry times live in a second dictionary holding only keys that have a TTL, so
//! the active cycle samples exactly the keys that can expire.

use crate::dict::Dict;
use crate::types::{StrValue, Value};
use crate::util::Rng;

pub use crate::key::Key;

/// A stored value plus the access time OBJECT IDLETIME reports (and LRU eviction will use).
pub struct Entry {
    pub value: Value,
    /// Seconds since the Unix epoch of the last access, truncated to 32 bits.
    pub access_s: u32,
}

impl Entry {
    pub fn new(value: Value, now_ms: i64) -> Self {
        Entry {
            value,
            access_s: (now_ms / 1000) as u32,
        }
    }
}

#[derive(Default)]
pub struct Db {
    pub keys: Dict<Key, Entry>,
    pub expires: Dict<Key, i64>,
    /// Keys removed because their TTL passed (INFO `expired_keys`).
    pub expired_count: u64,
    /// Running estimate of the average TTL of sampled keys (INFO keyspace `avg_ttl`).
    pub avg_ttl: i64,
    /// Keys removed by expiry since the server last looked (WATCH and keyspace notifications
    /// learn of them from here, see `multi::drain_expired`).
    pub expired_log: Vec<Key>,
}

impl Db {
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Deletes `key` if its TTL has passed; returns true if it did.
    #[inline]
    pub fn expire_if_needed(&mut self, key: &[u8], now_ms: i64) -> bool {
        if self.expires.is_empty() {
            return false;
        }
        match self.expires.get(key) {
            Some(&when) if when <= now_ms => {
                self.expires.remove(key);
                self.keys.remove(key);
                self.expired_count += 1;
                self.expired_log.push(Key::new(key));
                true
            }
            _ => false,
        }
    }

    /// The live value of `key`, expiring it first if due.
    #[inline]
    pub fn get(&mut self, key: &[u8], now_ms: i64) -> Option<&Value> {
        self.get_mut(key, now_ms).map(|v| &*v)
    }

    #[inline]
    pub fn get_mut(&mut self, key: &[u8], now_ms: i64) -> Option<&mut Value> {
        self.expire_if_needed(key, now_ms);
        self.keys.get_mut(key).map(|e| {
            e.access_s = (now_ms / 1000) as u32;
            &mut e.value
        })
    }

    /// The entry without touching its access time (OBJECT, SCAN, TYPE-less peeks).
    pub fn peek(&mut self, key: &[u8], now_ms: i64) -> Option<&Entry> {
        self.expire_if_needed(key, now_ms);
        self.keys.get(key)
    }

    pub fn contains(&mut self, key: &[u8], now_ms: i64) -> bool {
        self.get(key, now_ms).is_some()
    }

    /// Stores `value` under `key`, dropping any TTL (SET semantics).
    pub fn set(&mut self, key: &[u8], value: Value) {
        let (slot, _) = self.keys.get_or_insert_with(
            key,
            || key.into(),
            || Entry::new(Value::Str(StrValue::Int(0)), 0),
        );
        slot.value = value;
        slot.access_s = crate::util::now_s32();
        if !self.expires.is_empty() {
            self.expires.remove(key);
        }
    }

    /// Stores `value` under `key`, keeping the TTL of an existing key (KEEPTTL / in-place edits
    /// that replace the value object).
    pub fn set_keep_ttl(&mut self, key: &[u8], value: Value) {
        let (slot, _) = self.keys.get_or_insert_with(
            key,
            || key.into(),
            || Entry::new(Value::Str(StrValue::Int(0)), 0),
        );
        slot.value = value;
        slot.access_s = crate::util::now_s32();
    }

    /// Inserts a value for a key known to be absent, returning a reference to it.
    pub fn insert_new(&mut self, key: &[u8], value: Value) -> &mut Value {
        let (slot, _) = self.keys.get_or_insert_with(
            key,
            || key.into(),
            || Entry::new(value, crate::util::now_ms()),
        );
        &mut slot.value
    }

    /// Removes a key and its TTL; returns the value if it existed (expired keys count as absent).
    pub fn remove(&mut self, key: &[u8], now_ms: i64) -> Option<Value> {
        if self.expire_if_needed(key, now_ms) {
            return None;
        }
        if !self.expires.is_empty() {
            self.expires.remove(key);
        }
        self.keys.remove(key).map(|e| e.value)
    }

    /// Absolute expiry in ms, if the key has one.
    pub fn expire_at(&self, key: &[u8]) -> Option<i64> {
        self.expires.get(key).copied()
    }

    pub fn set_expire(&mut self, key: &[u8], when_ms: i64) {
        if let Some(slot) = self.expires.get_mut(key) {
            *slot = when_ms;
        } else {
            self.expires.insert(key.into(), when_ms);
        }
    }

    /// Stores `value` under `key` with the given absolute expiry (or none): the shape of
    /// RENAME, MOVE and COPY, which carry a key's TTL along.
    pub fn set_with_expire(&mut self, key: &[u8], value: Value, expire_at: Option<i64>) {
        self.set(key, value);
        if let Some(at) = expire_at {
            self.set_expire(key, at);
        }
    }

    pub fn persist(&mut self, key: &[u8]) -> bool {
        self.expires.remove(key).is_some()
    }

    pub fn clear(&mut self) {
        self.keys.clear();
        self.expires.clear();
        self.avg_ttl = 0;
    }

    /// One sampling round of active expiry: looks at up to `sample` keys with a TTL and deletes
    /// the expired ones. Returns (sampled, expired) so the caller can decide whether to repeat.
    pub fn active_expire_round(
        &mut self,
        sample: usize,
        now_ms: i64,
        rng: &mut Rng,
    ) -> (usize, usize) {
        if self.expires.is_empty() {
            return (0, 0);
        }
        let mut rand = || rng.next_u64();
        let picked: Vec<(Key, i64)> = self
            .expires
            .sample(sample, &mut rand)
            .into_iter()
            .map(|(k, &when)| (k.clone(), when))
            .collect();
        let mut expired = 0;
        let mut ttl_sum = 0i64;
        let mut ttl_samples = 0i64;
        for (key, when) in &picked {
            if *when <= now_ms {
                // A sample may hold the same key twice; count only the first removal.
                if self.expires.remove(&key[..]).is_some() {
                    self.keys.remove(&key[..]);
                    self.expired_count += 1;
                    self.expired_log.push(key.clone());
                    expired += 1;
                }
            } else {
                ttl_sum += when - now_ms;
                ttl_samples += 1;
            }
        }
        if ttl_samples > 0 {
            let avg = ttl_sum / ttl_samples;
            // Same smoothing as Redis: new samples weigh 2%.
            self.avg_ttl = if self.avg_ttl == 0 {
                avg
            } else {
                (self.avg_ttl / 50) * 49 + avg / 50
            };
        }
        (picked.len(), expired)
    }

    /// Incremental housekeeping from the cron: rehash and shrink the dictionaries.
    pub fn housekeeping(&mut self, rehash_steps: usize) {
        self.keys.shrink_if_needed();
        self.expires.shrink_if_needed();
        self.keys.rehash_steps(rehash_steps);
        self.expires.rehash_steps(rehash_steps);
    }
}
