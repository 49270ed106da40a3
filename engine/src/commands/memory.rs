//! Memory commands: MEMORY USAGE/STATS/DOCTOR/MALLOC-STATS/PURGE/HELP, OBJECT FREQ, UNLINK and
//! the lazy-free side of DEL and FLUSHALL/FLUSHDB (Redis 7.0's `object.c`, `lazyfree.c`).

// Unsafe code here: the jemalloc purge mallctl; each block says why it is sound.
#![allow(unsafe_code)]

use super::{arg_i64, CmdError, CmdResult, Ctx};
use crate::types::{Set, Value};
use crate::util::eq_ignore_case;

/// Bytes of one keyspace dictionary node (key inline, value, access clock, chain link): what
/// Redis counts as `sizeof(dictEntry)` plus the object header.
const NODE_BYTES: usize = 64;

pub fn memory_help(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let lines = [
        "DOCTOR",
        "    Return memory problems reports.",
        "MALLOC-STATS",
        "    Return internal statistics report from the memory allocator.",
        "PURGE",
        "    Attempt to purge dirty pages for reclamation by the allocator.",
        "STATS",
        "    Return information about the memory usage of the server.",
        "USAGE <key> [SAMPLES <count>]",
        "    Return memory in bytes used by <key> and its value. Nested values are",
        "    sampled up to <count> times (default: 5, 0 means sample all).",
    ];
    super::server::reply_help(ctx, argv[0], &lines);
    Ok(())
}

/// MEMORY USAGE key [SAMPLES count]: the node, the heap part of the key name and the value;
/// large hashtables and sets are estimated from `count` sampled elements (default 5, 0 = all).
pub fn memory_usage(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut samples = 5usize;
    let mut j = 3;
    while j < argv.len() {
        if eq_ignore_case(argv[j], "samples") && j + 1 < argv.len() {
            let n = arg_i64(argv[j + 1])?;
            if n < 0 {
                return Err(CmdError::Syntax);
            }
            samples = if n == 0 { usize::MAX } else { n as usize };
            j += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let now = ctx.now_ms;
    let key = argv[2];
    let usage = ctx.db().peek(key, now).map(|e| {
        let heap_key = if key.len() > 22 { key.len() } else { 0 };
        NODE_BYTES + heap_key + value_bytes(&e.value, samples)
    });
    match usage {
        Some(n) => ctx.out.int(n as i64),
        None => ctx.out.null(),
    }
    Ok(())
}

/// Heap bytes of a value, estimated from `samples` elements for large hashtables and sets (as
/// Redis's `objectComputeSize`); compact encodings are measured exactly.
fn value_bytes(value: &Value, samples: usize) -> usize {
    match value {
        Value::Hash(crate::types::Hash::Table(d)) if d.len() > samples => {
            let mut seen = 0usize;
            let mut bytes = 0usize;
            for (k, v) in d.iter().take(samples) {
                seen += 1;
                bytes += k.len() + v.len();
            }
            d.overhead_bytes() + bytes * d.len() / seen.max(1)
        }
        Value::Set(s) => match &**s {
            Set::Table(d) if d.len() > samples => {
                let mut seen = 0usize;
                let mut bytes = 0usize;
                for (k, _) in d.iter().take(samples) {
                    seen += 1;
                    bytes += k.len();
                }
                d.overhead_bytes() + bytes * d.len() / seen.max(1)
            }
            _ => value.approx_bytes(),
        },
        _ => value.approx_bytes(),
    }
}

/// Everything MEMORY STATS and MEMORY DOCTOR report.
struct Overview {
    peak: u64,
    used: u64,
    startup: u64,
    clients: u64,
    overhead: u64,
    keys: u64,
    dataset: u64,
    alloc: crate::memory::AllocatorStats,
    rss: u64,
}

fn overview(ctx: &mut Ctx) -> Overview {
    let used = ctx.server.used_memory();
    let startup = ctx.server.startup_memory.min(used);
    let clients = super::server::clients_memory(ctx);
    let overhead = (startup + clients + super::server::keyspace_overhead(ctx)).min(used);
    Overview {
        peak: ctx.server.peak_memory,
        used,
        startup,
        clients,
        overhead,
        keys: ctx.server.dbs.iter().map(|d| d.len() as u64).sum(),
        dataset: used - overhead,
        alloc: crate::memory::allocator_stats(),
        rss: crate::memory::rss_bytes(),
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

pub fn memory_stats(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let o = overview(ctx);
    let dbs: Vec<(usize, u64, u64)> = ctx
        .server
        .dbs
        .iter()
        .enumerate()
        .filter(|(_, d)| !d.is_empty())
        .map(|(i, d)| {
            (
                i,
                d.keys.overhead_bytes() as u64,
                d.expires.overhead_bytes() as u64,
            )
        })
        .collect();
    let out = &mut *ctx.out;
    out.map(27 + dbs.len());
    let int = |out: &mut crate::protocol::reply::Reply, name: &str, n: i64| {
        out.bulk(name.as_bytes());
        out.int(n);
    };
    let dbl = |out: &mut crate::protocol::reply::Reply, name: &str, d: f64| {
        out.bulk(name.as_bytes());
        out.double(d);
    };
    int(out, "peak.allocated", o.peak as i64);
    int(out, "total.allocated", o.used as i64);
    int(out, "startup.allocated", o.startup as i64);
    int(out, "replication.backlog", 0);
    int(out, "clients.slaves", 0);
    int(out, "clients.normal", o.clients as i64);
    int(out, "cluster.links", 0);
    int(out, "aof.buffer", 0);
    int(out, "lua.caches", 0);
    int(out, "functions.caches", 0);
    for (i, main, expires) in dbs {
        out.bulk(format!("db.{i}").as_bytes());
        out.map(3);
        int(out, "overhead.hashtable.main", main as i64);
        int(out, "overhead.hashtable.expires", expires as i64);
        int(out, "overhead.hashtable.slot-to-keys", 0);
    }
    let net = o.used.saturating_sub(o.startup);
    let a = o.alloc;
    int(out, "overhead.total", o.overhead as i64);
    int(out, "keys.count", o.keys as i64);
    int(
        out,
        "keys.bytes-per-key",
        net.checked_div(o.keys).unwrap_or(0) as i64,
    );
    int(out, "dataset.bytes", o.dataset as i64);
    dbl(out, "dataset.percentage", ratio(o.dataset * 100, net));
    dbl(out, "peak.percentage", ratio(o.used * 100, o.peak));
    int(out, "allocator.allocated", a.allocated as i64);
    int(out, "allocator.active", a.active as i64);
    int(out, "allocator.resident", a.resident as i64);
    dbl(
        out,
        "allocator-fragmentation.ratio",
        ratio(a.active, a.allocated),
    );
    int(
        out,
        "allocator-fragmentation.bytes",
        a.active as i64 - a.allocated as i64,
    );
    dbl(out, "allocator-rss.ratio", ratio(a.resident, a.active));
    int(
        out,
        "allocator-rss.bytes",
        a.resident as i64 - a.active as i64,
    );
    dbl(out, "rss-overhead.ratio", ratio(o.rss, a.resident));
    int(out, "rss-overhead.bytes", o.rss as i64 - a.resident as i64);
    dbl(out, "fragmentation", ratio(o.rss, o.used));
    int(out, "fragmentation.bytes", o.rss as i64 - o.used as i64);
    Ok(())
}

const DOCTOR_FINE: &str = "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.\n";
const DOCTOR_EMPTY: &str = "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.\n";
const DOCTOR_PEAK: &str = " * Peak memory: In the past this instance used more than 150% the memory that is currently using. The allocator is normally not able to release memory after a peak, so you can expect to see a big fragmentation ratio, however this is actually harmless and is only due to the memory peak, and if the Redis instance Resident Set Size (RSS) is currently bigger than expected, the memory will be used as soon as you fill the Redis instance with more data. If the memory peak was only occasional and you want to try to reclaim memory, please try the MEMORY PURGE command, otherwise the only other option is to shutdown and restart the instance.\n\n";
const DOCTOR_CLIENTS: &str = " * Big client buffers: The clients output buffers in this instance are greater than 200K per client (on average). This may result from different causes, like Pub/Sub clients subscribed to channels bot not receiving data fast enough, so that data piles on the Redis instance output buffer, or clients sending commands with large replies or very large sequences of commands in the same pipeline. Please use the CLIENT LIST command in order to investigate the issue if it causes problems in your instance, or to understand better why certain clients are using a big amount of memory.\n\n";

/// MEMORY DOCTOR: Redis's checks that apply here (little memory, a past peak, total RSS
/// overhead, allocator fragmentation and RSS overhead, big client buffers), with its texts.
pub fn memory_doctor(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let o = overview(ctx);
    let clients = ctx.server.clients.len().max(1) as u64;
    let a = o.alloc;
    let mut issues: Vec<String> = Vec::new();
    let empty = o.used < 5 << 20;
    if !empty {
        if ratio(o.peak, o.used) > 1.5 {
            issues.push(DOCTOR_PEAK.into());
        }
        if ratio(o.rss, o.used) > 1.4 && o.rss.saturating_sub(o.used) > 10 << 20 {
            issues.push(format!(" * High total RSS: This instance has a memory fragmentation and RSS overhead greater than 1.4 (this means that the Resident Set Size of the Redis process is much larger than the sum of the logical allocations Redis performed). This problem is usually due either to a large peak memory (check if there is a peak memory entry above in the report) or may result from a workload that causes the allocator to fragment memory a lot. If the problem is a large peak memory, then there is no issue. Otherwise, make sure you are using the Jemalloc allocator and not the default libc malloc. Note: The currently used allocator is \"{}\".\n\n", crate::memory::allocator_name()));
        }
        if ratio(a.active, a.allocated) > 1.1 && a.active.saturating_sub(a.allocated) > 10 << 20 {
            issues.push(" * High allocator fragmentation: This instance has an allocator external fragmentation greater than 1.1. This problem is usually due either to a large peak memory (check if there is a peak memory entry above in the report) or may result from a workload that causes the allocator to fragment memory a lot. You can try enabling 'activedefrag' config option.\n\n".into());
        }
        if ratio(a.resident, a.active) > 1.1 && a.resident.saturating_sub(a.active) > 10 << 20 {
            issues.push(" * High allocator RSS overhead: This instance has an RSS memory overhead is greater than 1.1 (this means that the Resident Set Size of the allocator is much larger than the sum what the allocator actually holds). This problem is usually due to a large peak memory (check if there is a peak memory entry above in the report), you can try the MEMORY PURGE command to reclaim it.\n\n".into());
        }
        if o.clients / clients > 200 * 1024 {
            issues.push(DOCTOR_CLIENTS.into());
        }
    }
    let report = if empty {
        DOCTOR_EMPTY.to_string()
    } else if issues.is_empty() {
        DOCTOR_FINE.to_string()
    } else {
        let mut s = String::from(
            "Sam, I detected a few issues in this Redis instance memory implants:\n\n",
        );
        issues.iter().for_each(|i| s.push_str(i));
        s.push_str("I'm here to keep you safe, Sam. I want to help you.\n");
        s
    };
    ctx.out.verbatim(report.as_bytes(), "txt");
    Ok(())
}

/// MEMORY MALLOC-STATS: jemalloc's own statistics report.
pub fn memory_malloc_stats(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let a = crate::memory::allocator_stats();
    let text = format!(
        "___ Begin jemalloc statistics ___\nVersion: \"{}\"\nallocated: {}, active: {}, resident: {}\n--- End jemalloc statistics ---\n",
        tikv_jemalloc_ctl::version::read().unwrap_or("unknown"),
        a.allocated,
        a.active,
        a.resident
    );
    ctx.out.verbatim(text.as_bytes(), "txt");
    Ok(())
}

/// MEMORY PURGE: returns dirty pages of every arena to the system.
pub fn memory_purge(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    // "arena.4096.purge" = MALLCTL_ARENAS_ALL: every arena.
    // SAFETY: the name is a NUL-terminated mallctl that neither reads nor writes a value.
    let rc = unsafe {
        tikv_jemalloc_sys::mallctl(
            c"arena.4096.purge".as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        )
    };
    if rc != 0 {
        return Err(CmdError::msg("ERR Error purging dirty pages"));
    }
    ctx.out.ok();
    Ok(())
}

/// OBJECT FREQ key: the decayed LFU counter; only under an LFU policy.
pub fn object_freq(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let now = ctx.now_ms;
    let memory = ctx.server.config.memory;
    let Some(clock) = ctx.db().peek(argv[2], now).map(|e| e.access_s) else {
        ctx.out.null();
        return Ok(());
    };
    if !memory.policy.is_lfu() {
        return Err(CmdError::msg("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."));
    }
    let freq = crate::db::lfu_decayed(clock, memory.lfu_decay_time, now);
    ctx.out.int(freq as i64);
    Ok(())
}

/// Deletes keys, freeing large values in the background when `lazy` (DEL with
/// `lazyfree-lazy-user-del`, UNLINK always).
pub fn delete_keys(ctx: &mut Ctx, keys: &[&[u8]], lazy: bool) -> usize {
    let now = ctx.now_ms;
    let mut removed = 0;
    for key in keys {
        if let Some(value) = ctx.db().remove(key, now) {
            crate::lazyfree::free_value(value, lazy);
            ctx.notify(crate::notify::class::GENERIC, "del", key);
            removed += 1;
        }
    }
    removed
}

pub fn unlink(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let n = delete_keys(ctx, &argv[1..], true);
    ctx.out.int(n as i64);
    Ok(())
}

/// FLUSHDB/FLUSHALL mode: ASYNC, SYNC, or `lazyfree-lazy-user-flush` when none is given.
pub fn flush_is_async(ctx: &Ctx, argv: &[&[u8]]) -> bool {
    match argv.get(1) {
        Some(a) => eq_ignore_case(a, "async"),
        None => ctx.server.config.memory.lazy_user_flush,
    }
}
