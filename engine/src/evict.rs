//! `maxmemory`: eviction by the eight `maxmemory-policy` values and the OOM rejection of
//! writes, after Redis 7.0's `evict.c`.
//!
//! Before every command (when `maxmemory` is set) [`before_command`] runs
//! [`perform_evictions`]: while used memory is above the limit it deletes keys chosen by the
//! policy. LRU, LFU and TTL policies sample `maxmemory-samples` keys per database into an
//! eviction pool of the 16 best candidates kept between calls (Redis's `EVPOOL_SIZE`), scored by
//! idle time, inverse frequency or closeness to expiry; random policies pick random keys. The
//! work per command is bounded by `maxmemory-eviction-tenacity` (Redis's time limit, checked
//! every 16 keys); what remains is continued from the cron. When nothing can be evicted (or the
//! policy is `noeviction`) commands flagged `denyoom` get `-OOM` and everything else, reads and
//! deletions included, keeps working.

use std::time::Instant;

use crate::commands::{flags, CmdError};
use crate::db::{lfu_decayed, ClockMode};
use crate::key::Key;
use crate::server::Server;

/// Redis's OOM error, for `denyoom` commands that cannot be served.
pub const OOM_ERROR: &str = "OOM command not allowed when used memory > 'maxmemory'.";

/// Candidates kept in the eviction pool (`EVPOOL_SIZE`).
pub const EVPOOL_SIZE: usize = 16;

/// `maxmemory-policy`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Policy {
    #[default]
    NoEviction,
    AllkeysLru,
    AllkeysLfu,
    AllkeysRandom,
    VolatileLru,
    VolatileLfu,
    VolatileRandom,
    VolatileTtl,
}

impl Policy {
    pub fn parse(name: &str) -> Policy {
        match name {
            "allkeys-lru" => Policy::AllkeysLru,
            "allkeys-lfu" => Policy::AllkeysLfu,
            "allkeys-random" => Policy::AllkeysRandom,
            "volatile-lru" => Policy::VolatileLru,
            "volatile-lfu" => Policy::VolatileLfu,
            "volatile-random" => Policy::VolatileRandom,
            "volatile-ttl" => Policy::VolatileTtl,
            _ => Policy::NoEviction,
        }
    }

    pub fn is_lfu(self) -> bool {
        matches!(self, Policy::AllkeysLfu | Policy::VolatileLfu)
    }

    /// Only keys with a TTL may be evicted.
    fn volatile(self) -> bool {
        matches!(
            self,
            Policy::VolatileLru
                | Policy::VolatileLfu
                | Policy::VolatileRandom
                | Policy::VolatileTtl
        )
    }

    fn random(self) -> bool {
        matches!(self, Policy::AllkeysRandom | Policy::VolatileRandom)
    }
}

/// What [`perform_evictions`] achieved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Under the limit (or no limit).
    Ok,
    /// Still over the limit when the time budget ran out; the cron continues.
    Running,
    /// Over the limit and nothing (more) can be evicted.
    Fail,
}

struct PoolEntry {
    /// Higher = better candidate (idle ms, 255 - frequency, or u64::MAX - expiry).
    score: u64,
    key: Key,
    db: usize,
}

/// Eviction state an engine keeps between commands.
#[derive(Default)]
pub struct EvictState {
    /// Best candidates, ascending by score (the best is last).
    pool: Vec<PoolEntry>,
    /// Next database a random policy looks at (round robin, as Redis's `next_db`).
    next_db: usize,
    /// The last run stopped on its time budget: the cron continues it.
    pub running: bool,
    /// Memory could not be brought under `maxmemory` before the command running now (Redis's
    /// `pre_command_oom_state`, which scripts consult).
    pub pre_command_oom: bool,
    /// The memory settings last copied into the databases.
    synced: Option<crate::config::MemoryConfig>,
    /// When memory first exceeded the limit in the current episode (INFO
    /// `current_eviction_exceeded_time`), and the finished episodes' total in ms.
    pub exceeded_since: Option<Instant>,
    pub total_exceeded_ms: u64,
}

/// Copies the memory settings the databases read on access into every database, when they
/// changed (CONFIG SET, config file).
pub fn sync_config(server: &mut Server) {
    let cfg = server.config.memory;
    if server.evict.synced == Some(cfg) {
        return;
    }
    server.evict.synced = Some(cfg);
    let clock = if cfg.policy.is_lfu() {
        ClockMode::Lfu {
            log_factor: cfg.lfu_log_factor,
            decay_minutes: cfg.lfu_decay_time,
        }
    } else {
        ClockMode::Lru
    };
    for db in &mut server.dbs {
        db.mode.clock = clock;
        db.mode.lazy_expire = cfg.lazy_expire;
        db.mode.lazy_server_del = cfg.lazy_server_del;
    }
    // Scores from another policy mean nothing under this one.
    server.evict.pool.clear();
}

/// The hook `execute()` runs before a command: keeps the databases' memory settings current
/// and, with `maxmemory` set, evicts; a `denyoom` command is refused when memory cannot be
/// brought under the limit.
#[inline]
pub fn before_command(server: &mut Server, command_flags: u32) -> Result<(), CmdError> {
    sync_config(server);
    server.evict.pre_command_oom = false;
    if server.config.memory.maxmemory == 0 {
        return Ok(());
    }
    let out_of_memory = perform_evictions(server) == Outcome::Fail;
    server.evict.pre_command_oom = out_of_memory;
    if out_of_memory && command_flags & flags::DENYOOM != 0 {
        return Err(CmdError::msg(OOM_ERROR));
    }
    Ok(())
}

/// Continues an eviction that ran out of time, from the cron (Redis's `evictionTimeProc`).
pub fn cron(server: &mut Server) {
    sync_config(server);
    if server.evict.running {
        perform_evictions(server);
    }
}

/// Redis's `evictionTimeLimitUs`: 50 us per tenacity step up to 10, then 15% more per step,
/// unlimited at 100.
fn time_limit_us(tenacity: u32) -> u64 {
    match tenacity {
        0..=10 => 50 * tenacity as u64,
        11..=99 => (500.0 * 1.15f64.powi(tenacity as i32 - 10)) as u64,
        _ => u64::MAX,
    }
}

/// Frees memory until used memory is under `maxmemory`, within the time budget.
pub fn perform_evictions(server: &mut Server) -> Outcome {
    let cfg = server.config.memory;
    if cfg.maxmemory == 0 {
        return Outcome::Ok;
    }
    let used = crate::memory::allocated_bytes();
    if used <= cfg.maxmemory {
        end_episode(server);
        return Outcome::Ok;
    }
    server.evict.exceeded_since.get_or_insert_with(Instant::now);
    if cfg.policy == Policy::NoEviction {
        server.evict.running = false;
        return Outcome::Fail;
    }
    let to_free = used - cfg.maxmemory;
    let limit_us = time_limit_us(cfg.tenacity);
    let started = Instant::now();
    let mut freed = 0u64;
    let mut keys_freed = 0u64;
    while freed < to_free {
        let Some((db, key)) = pick_victim(server) else {
            return cannot_free(server, limit_us);
        };
        let before = crate::memory::allocated_bytes();
        evict_one(server, db, &key);
        freed += before.saturating_sub(crate::memory::allocated_bytes());
        keys_freed += 1;
        if keys_freed.is_multiple_of(16) {
            // Lazily freed values leave memory later: stop once the limit is met.
            if cfg.lazy_eviction && crate::memory::allocated_bytes() <= cfg.maxmemory {
                break;
            }
            if started.elapsed().as_micros() as u64 > limit_us {
                server.evict.running = true;
                return Outcome::Running;
            }
        }
    }
    server.evict.running = false;
    if crate::memory::allocated_bytes() <= cfg.maxmemory {
        end_episode(server);
    }
    Outcome::Ok
}

/// Nothing left to evict: if the lazy-free thread still holds memory, wait briefly for it
/// (as Redis does) before giving up.
fn cannot_free(server: &mut Server, limit_us: u64) -> Outcome {
    server.evict.running = false;
    if crate::lazyfree::pending_objects() > 0 {
        std::thread::sleep(std::time::Duration::from_micros(limit_us.min(100_000)));
        if crate::memory::allocated_bytes() <= server.config.memory.maxmemory {
            end_episode(server);
            return Outcome::Ok;
        }
    }
    Outcome::Fail
}

fn end_episode(server: &mut Server) {
    if let Some(since) = server.evict.exceeded_since.take() {
        server.evict.total_exceeded_ms += since.elapsed().as_millis() as u64;
    }
}

/// Deletes one key chosen by eviction and counts it (INFO `evicted_keys`). The single place
/// where a key is evicted: WATCHers of the key fail their EXEC, and the `evicted` keyspace
/// event goes out, as Redis's evict.c does.
pub fn evict_one(server: &mut Server, db: usize, key: &[u8]) -> bool {
    let lazy = server.config.memory.lazy_eviction;
    let Some(d) = server.dbs.get_mut(db) else {
        return false;
    };
    d.snapshot_barrier(key); // RDB snapshot: save the old value first
    if !d.expires.is_empty() {
        d.expires.remove(key);
    }
    let Some(entry) = d.keys.remove(key) else {
        return false;
    };
    if d.aof_track {
        d.aof_deleted.push(crate::key::Key::new(key));
    }
    crate::lazyfree::free_value(entry.value, lazy);
    server.stats.evicted_keys += 1;
    server.dirty += 1;
    server.watches.touch(db, key, false);
    crate::notify::key_evicted(server, db, key);
    true
}

/// The next key to evict: (database, key), or `None` when no key may be evicted.
fn pick_victim(server: &mut Server) -> Option<(usize, Vec<u8>)> {
    let policy = server.config.memory.policy;
    if policy.random() {
        return pick_random(server, policy.volatile());
    }
    // Refill the pool until it yields a live key, as Redis's `while (bestkey == NULL)` loop;
    // stop when no database has a candidate at all.
    for _ in 0..64 {
        if populate_pool(server) == 0 {
            return None;
        }
        while let Some(entry) = server.evict.pool.pop() {
            let d = &server.dbs[entry.db];
            let live = if policy.volatile() {
                d.expires.contains_key(&entry.key[..])
            } else {
                d.keys.contains_key(&entry.key[..])
            };
            if live {
                return Some((entry.db, entry.key.to_vec()));
            }
        }
    }
    None
}

/// Samples every database into the pool; returns how many keys the sampled dictionaries held
/// (0 = nothing evictable anywhere).
fn populate_pool(server: &mut Server) -> usize {
    let cfg = server.config.memory;
    let policy = cfg.policy;
    let now_ms = crate::util::now_ms();
    let mut total = 0;
    let Server {
        dbs, rng, evict, ..
    } = server;
    let mut rand = || rng.next_u64();
    for (i, d) in dbs.iter().enumerate() {
        let candidates: Vec<(Key, u64)> = if policy.volatile() {
            total += d.expires.len();
            d.expires
                .sample(cfg.samples, &mut rand)
                .into_iter()
                .filter_map(|(k, &when)| {
                    let score = if policy == Policy::VolatileTtl {
                        u64::MAX - when.max(0) as u64
                    } else {
                        let entry = d.keys.get(&k[..])?;
                        clock_score(entry.access_s, policy, cfg.lfu_decay_time, now_ms)
                    };
                    Some((k.clone(), score))
                })
                .collect()
        } else {
            total += d.keys.len();
            d.keys
                .sample(cfg.samples, &mut rand)
                .into_iter()
                .map(|(k, e)| {
                    let score = clock_score(e.access_s, policy, cfg.lfu_decay_time, now_ms);
                    (k.clone(), score)
                })
                .collect()
        };
        for (key, score) in candidates {
            pool_insert(&mut evict.pool, PoolEntry { score, key, db: i });
        }
    }
    total
}

/// The pool score of an entry's access clock: idle milliseconds (LRU) or 255 minus the
/// decayed frequency (LFU).
fn clock_score(clock: u32, policy: Policy, decay_minutes: u32, now_ms: i64) -> u64 {
    if policy.is_lfu() {
        255 - lfu_decayed(clock, decay_minutes, now_ms) as u64
    } else {
        let now_s = (now_ms / 1000) as u32;
        now_s.wrapping_sub(clock) as u64 * 1000
    }
}

/// Inserts a candidate keeping the pool sorted ascending and at most `EVPOOL_SIZE` long: when
/// full, a candidate worse than all is dropped, else the worst entry makes room.
fn pool_insert(pool: &mut Vec<PoolEntry>, entry: PoolEntry) {
    if pool
        .iter()
        .any(|e| e.db == entry.db && e.key[..] == entry.key[..])
    {
        return;
    }
    let k = pool.iter().take_while(|e| e.score < entry.score).count();
    if pool.len() < EVPOOL_SIZE {
        pool.insert(k, entry);
    } else if k > 0 {
        pool.remove(0);
        pool.insert(k - 1, entry);
    }
}

/// A random key (with a TTL for volatile-random), looking at databases round robin.
fn pick_random(server: &mut Server, volatile: bool) -> Option<(usize, Vec<u8>)> {
    let n = server.dbs.len();
    let Server {
        dbs, rng, evict, ..
    } = server;
    let mut rand = || rng.next_u64();
    for _ in 0..n {
        let i = evict.next_db % n;
        evict.next_db = evict.next_db.wrapping_add(1);
        let d = &dbs[i];
        let key = if volatile {
            d.expires.random_entry(&mut rand).map(|(k, _)| k.to_vec())
        } else {
            d.keys.random_entry(&mut rand).map(|(k, _)| k.to_vec())
        };
        if let Some(key) = key {
            return Some((i, key));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(score: u64, name: &str) -> PoolEntry {
        PoolEntry {
            score,
            key: Key::new(name.as_bytes()),
            db: 0,
        }
    }

    #[test]
    fn the_pool_keeps_the_sixteen_best_in_order() {
        let mut pool = Vec::new();
        for i in 0..40u64 {
            let score = (i * 7919) % 101;
            pool_insert(&mut pool, entry(score, &format!("k{i}")));
        }
        assert_eq!(pool.len(), EVPOOL_SIZE);
        assert!(pool.windows(2).all(|w| w[0].score <= w[1].score));
        let mut all: Vec<u64> = (0..40u64).map(|i| (i * 7919) % 101).collect();
        all.sort_unstable();
        let best: Vec<u64> = all[all.len() - EVPOOL_SIZE..].to_vec();
        assert_eq!(pool.iter().map(|e| e.score).collect::<Vec<_>>(), best);
        // The same key is not pooled twice.
        let top = pool.last().map(|e| e.key.to_vec()).unwrap_or_default();
        pool_insert(
            &mut pool,
            entry(1000, std::str::from_utf8(&top).unwrap_or("")),
        );
        assert_eq!(pool.last().map(|e| e.score), Some(best[EVPOOL_SIZE - 1]));
    }

    #[test]
    fn time_limit_follows_tenacity() {
        assert_eq!(time_limit_us(0), 0);
        assert_eq!(time_limit_us(10), 500);
        assert!(time_limit_us(20) > 2000);
        assert_eq!(time_limit_us(100), u64::MAX);
    }

    #[test]
    fn policies_parse() {
        for (name, lfu) in [("allkeys-lfu", true), ("volatile-ttl", false)] {
            assert_eq!(Policy::parse(name).is_lfu(), lfu);
        }
        assert_eq!(Policy::parse("noeviction"), Policy::NoEviction);
    }
}
