//! One logical database (SELECT n): the key dictionary, the expiry dictionary, lazy expiry on
//! access and the sampling step of active expiry.
//!
//! As in Redis, expiry times live in a second dictionary holding only keys that have a TTL, so
//! the active cycle samples exactly the keys that can expire.

use crate::dict::Dict;
use crate::types::{StrValue, Value};
use crate::util::Rng;

pub use crate::key::Key;

/// A stored value plus its access clock (Redis's 24-bit `lru` field of the object).
pub struct Entry {
    pub value: Value,
    /// Under an LRU (or no) policy: seconds since the Unix epoch of the last access, truncated
    /// to 32 bits (OBJECT IDLETIME, LRU eviction). Under an LFU policy: the minute of the last
    /// decrement (16 bits) shifted left by 8, plus the logarithmic access counter (8 bits) —
    /// Redis's layout (OBJECT FREQ, LFU eviction).
    pub access_s: u32,
    /// The snapshot epoch in which the key was last saved or created (`rdb::snapshot`, which
    /// also writes AOF rewrites). 16 bits, in the padding after `access_s` (an entry stays 32
    /// bytes); the counter resets every mark when it wraps, so an old mark can never pass for
    /// the current one.
    pub snap: std::cell::Cell<u16>,
}

impl Entry {
    pub fn new(value: Value, now_ms: i64) -> Self {
        Entry {
            value,
            access_s: (now_ms / 1000) as u32,
            snap: std::cell::Cell::new(0),
        }
    }
}

/// What the access clock of entries holds, from `maxmemory-policy` (and `lfu-*`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ClockMode {
    #[default]
    Lru,
    Lfu {
        log_factor: u32,
        decay_minutes: u32,
    },
}

/// The LFU counter a new key starts with (`LFU_INIT_VAL`), so it is not evicted at once.
pub const LFU_INIT_VAL: u32 = 5;

/// Minutes since the epoch, 16 bits (Redis's `LFUGetTimeInMinutes`).
fn lfu_minutes(now_ms: i64) -> u32 {
    ((now_ms / 60_000) & 0xffff) as u32
}

/// The LFU counter of `clock` after decay (`LFUDecrAndReturn`): one step per `decay_minutes`
/// elapsed since the last decrement.
pub fn lfu_decayed(clock: u32, decay_minutes: u32, now_ms: i64) -> u32 {
    let last = clock >> 8;
    let counter = clock & 0xff;
    let now = lfu_minutes(now_ms);
    let elapsed = if now >= last {
        now - last
    } else {
        65535 - last + now
    };
    let periods = elapsed.checked_div(decay_minutes).unwrap_or(0);
    counter.saturating_sub(periods)
}

/// The access clock of a key created now.
#[inline]
pub fn fresh_clock(mode: ClockMode, now_ms: i64) -> u32 {
    match mode {
        ClockMode::Lru => (now_ms / 1000) as u32,
        ClockMode::Lfu { .. } => (lfu_minutes(now_ms) << 8) | LFU_INIT_VAL,
    }
}

/// The access clock after an access (`updateLFU`: decay, then a logarithmic increment).
#[inline]
fn touched_clock(clock: u32, mode: ClockMode, now_ms: i64, seed: &mut u64) -> u32 {
    match mode {
        ClockMode::Lru => (now_ms / 1000) as u32,
        ClockMode::Lfu {
            log_factor,
            decay_minutes,
        } => {
            let mut counter = lfu_decayed(clock, decay_minutes, now_ms);
            if counter < 255 {
                // xorshift64: a cheap draw in [0, 1) for `LFULogIncr`.
                *seed ^= *seed << 13;
                *seed ^= *seed >> 7;
                *seed ^= *seed << 17;
                let r = (*seed >> 11) as f64 / (1u64 << 53) as f64;
                let base = counter.saturating_sub(LFU_INIT_VAL) as f64;
                if r < 1.0 / (base * log_factor as f64 + 1.0) {
                    counter += 1;
                }
            }
            (lfu_minutes(now_ms) << 8) | counter
        }
    }
}

/// Per-database copies of the memory settings the hot paths read (kept in sync with the
/// config by `evict::sync_config`).
#[derive(Clone, Copy, Debug)]
pub struct MemoryMode {
    pub clock: ClockMode,
    /// `lazyfree-lazy-expire`: expired values are freed in the background.
    pub lazy_expire: bool,
    /// `lazyfree-lazy-server-del`: values replaced by an overwrite are freed in the background.
    pub lazy_server_del: bool,
    /// State of the LFU increment's random draw.
    pub seed: u64,
}

impl Default for MemoryMode {
    fn default() -> Self {
        MemoryMode {
            clock: ClockMode::Lru,
            lazy_expire: false,
            lazy_server_del: false,
            seed: 0x9e37_79b9_7f4a_7c15,
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
    /// Memory settings read on access and deletion (LRU/LFU clock, lazy free).
    pub mode: MemoryMode,
    /// Keys removed by expiry since the server last looked (WATCH and keyspace notifications
    /// learn of them from here, see `multi::drain_expired`).
    pub expired_log: Vec<Key>,
    // --- persistence (AOF) ---
    /// The append only file is on: keys deleted by expiry or eviction are recorded in
    /// `aof_deleted` so they are logged as DEL before the next write (aof/mod.rs).
    pub aof_track: bool,
    pub aof_deleted: Vec<Key>,
    /// The append only file is loading: nothing expires (the log says when keys went away).
    pub expiry_paused: bool,
    // --- RDB snapshot: the write barrier's state, see `rdb::snapshot` ---
    pub snap_epoch: u16,
    pub snap: Option<Box<crate::rdb::snapshot::DbSnap>>,
}

impl Db {
    /// RDB write barrier: before `key` changes (value, TTL or deletion), a background save
    /// that has not reached it yet serialises its current value.
    #[inline]
    pub fn snapshot_barrier(&mut self, key: &[u8]) {
        if let Some(s) = self.snap.as_deref_mut() {
            if let Some(e) = self.keys.get(key) {
                s.save_if_pending(key, e, self.expires.get(key).copied());
            }
        }
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Deletes `key` if its TTL has passed; returns true if it did.
    #[inline]
    pub fn expire_if_needed(&mut self, key: &[u8], now_ms: i64) -> bool {
        if self.expires.is_empty() || self.expiry_paused {
            return false;
        }
        match self.expires.get(key) {
            Some(&when) if when <= now_ms => {
                self.snapshot_barrier(key);
                self.expires.remove(key);
                if self.aof_track {
                    self.aof_deleted.push(Key::new(key));
                }
                if let Some(e) = self.keys.remove(key) {
                    crate::lazyfree::free_value(e.value, self.mode.lazy_expire);
                }
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
        self.snapshot_barrier(key);
        let mode = &mut self.mode;
        self.keys.get_mut(key).map(|e| {
            e.access_s = touched_clock(e.access_s, mode.clock, now_ms, &mut mode.seed);
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
        self.set_keep_ttl(key, value);
        if !self.expires.is_empty() {
            self.expires.remove(key);
        }
    }

    /// Stores `value` under `key`, keeping the TTL of an existing key (KEEPTTL / in-place edits
    /// that replace the value object).
    pub fn set_keep_ttl(&mut self, key: &[u8], value: Value) {
        self.snapshot_barrier(key);
        let epoch = self.snap_epoch;
        let (slot, inserted) = self.keys.get_or_insert_with(
            key,
            || key.into(),
            || Entry::new(Value::Str(StrValue::Int(0)), 0),
        );
        if inserted {
            slot.snap.set(epoch);
        }
        let old = std::mem::replace(&mut slot.value, value);
        slot.access_s = fresh_clock(self.mode.clock, crate::util::cached_ms());
        crate::lazyfree::free_value(old, self.mode.lazy_server_del);
    }

    /// Inserts a value for a key known to be absent, returning a reference to it.
    pub fn insert_new(&mut self, key: &[u8], value: Value) -> &mut Value {
        let epoch = self.snap_epoch;
        // The cached clock: a clock read per key shows in the profile of a large RDB load.
        let clock = fresh_clock(self.mode.clock, crate::util::cached_ms());
        let (slot, _) = self.keys.get_or_insert_with(
            key,
            || key.into(),
            || Entry {
                value,
                access_s: clock,
                snap: std::cell::Cell::new(0),
            },
        );
        // `insert_new` is for absent keys: the entry is new whatever `inserted` says.
        slot.snap.set(epoch);
        &mut slot.value
    }

    /// Removes a key and its TTL; returns the value if it existed (expired keys count as absent).
    pub fn remove(&mut self, key: &[u8], now_ms: i64) -> Option<Value> {
        if self.expire_if_needed(key, now_ms) {
            return None;
        }
        self.snapshot_barrier(key);
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
        self.snapshot_barrier(key);
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
        self.snapshot_barrier(key);
        self.expires.remove(key).is_some()
    }

    pub fn clear(&mut self) {
        if let Some(s) = self.snap.as_deref_mut() {
            // A snapshot in progress finishes from the old dictionaries.
            s.freeze(
                std::mem::take(&mut self.keys),
                std::mem::take(&mut self.expires),
            );
        }
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
                if self.expires.get(&key[..]).is_some() {
                    self.snapshot_barrier(key);
                    self.expires.remove(&key[..]);
                    if self.aof_track {
                        self.aof_deleted.push(key.clone());
                    }
                    if let Some(e) = self.keys.remove(&key[..]) {
                        crate::lazyfree::free_value(e.value, self.mode.lazy_expire);
                    }
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

#[cfg(test)]
mod entry_size {
    #[test]
    fn an_entry_is_32_bytes() {
        // Memory per key is a product promise (docs/BENCHMARKS.md): keep new fields in padding.
        assert_eq!(std::mem::size_of::<super::Entry>(), 32);
    }
}
