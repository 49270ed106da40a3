//! Server commands: INFO, CONFIG, COMMAND, TIME, LASTSAVE, DEBUG, FUNCTION FLUSH and SHUTDOWN.

use std::fmt::Write as _;

use super::{c_text, flags, table, CmdError, CmdResult, CommandSpec, Ctx, Group};
use crate::config::SetError;
use crate::util::{eq_ignore_case, glob_match, now_us};

#[path = "command_meta.rs"]
mod command_meta;

/// The Redis version whose behaviour the engine implements (reported by INFO and HELLO).
pub const REDIS_VERSION: &str = "7.0.15";

/// Redis's `addReplyHelp`: a header naming the command, the given lines, and the HELP footer.
pub fn reply_help(ctx: &mut Ctx, command: &[u8], lines: &[&str]) {
    let name = String::from_utf8_lossy(command).to_ascii_uppercase();
    ctx.out.array(lines.len() + 3);
    ctx.out.simple(&format!(
        "{name} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    ));
    for l in lines {
        ctx.out.simple(l);
    }
    ctx.out.simple("HELP");
    ctx.out.simple("    Prints this help.");
}

/// Redis's `addReplySubcommandSyntaxError`.
fn subcommand_syntax_error(argv: &[&[u8]]) -> CmdError {
    CmdError::msg(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try {} HELP.",
        c_text(argv[1], 128),
        String::from_utf8_lossy(argv[0]).to_ascii_uppercase()
    ))
}

pub fn time(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let us = now_us();
    ctx.out.array(2);
    ctx.out
        .bulk(itoa::Buffer::new().format(us / 1_000_000).as_bytes());
    ctx.out
        .bulk(itoa::Buffer::new().format(us % 1_000_000).as_bytes());
    Ok(())
}

/// LASTSAVE: nothing is ever saved (there is no persistence), so like a Redis that has not
/// saved since it started, this is the start time.
pub fn lastsave(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    super::persist::lastsave(ctx, argv) // rdb helper
}

// ---------------------------------------------------------------------------------------------
// INFO

/// Every section, in the order Redis prints them.
const SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "commandstats",
    "errorstats",
    "latencystats",
    "cluster",
    "keyspace",
];
/// The sections of a plain `INFO` (and `INFO default`).
const DEFAULT_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "errorstats",
    "cluster",
    "keyspace",
];

/// The sections an INFO call asks for, Redis's `genInfoSectionDict`: `default`, `all` and
/// `everything` expand, names are case-insensitive, unknown names select nothing.
fn wanted_sections(args: &[&[u8]]) -> Vec<&'static str> {
    if args.is_empty() {
        return DEFAULT_SECTIONS.to_vec();
    }
    let mut wanted: Vec<&'static str> = Vec::new();
    for arg in args {
        let name = String::from_utf8_lossy(arg).to_ascii_lowercase();
        match name.as_str() {
            "default" => wanted.extend(DEFAULT_SECTIONS),
            "all" | "everything" => wanted.extend(SECTIONS),
            other => wanted.extend(SECTIONS.iter().filter(|s| **s == other)),
        }
    }
    SECTIONS
        .iter()
        .copied()
        .filter(|s| wanted.contains(s))
        .collect()
}

pub fn info(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let sections = wanted_sections(&argv[1..]);
    let mut text = String::new();
    for (i, section) in sections.iter().enumerate() {
        if i > 0 {
            text.push_str("\r\n");
        }
        write_section(ctx, section, &mut text);
    }
    ctx.out.verbatim(text.as_bytes(), "txt");
    Ok(())
}

/// Appends `name:value\r\n` lines.
macro_rules! fields {
    ($t:expr, $( $name:literal => $value:expr ),* $(,)?) => {{
        $( let _ = write!($t, concat!($name, ":{}\r\n"), $value); )*
    }};
}

fn write_section(ctx: &mut Ctx, section: &str, t: &mut String) {
    match section {
        "server" => info_server(ctx, t),
        "clients" => info_clients(ctx, t),
        "memory" => info_memory(ctx, t),
        "persistence" => info_persistence(ctx, t),
        "stats" => info_stats(ctx, t),
        "replication" => info_replication(ctx, t),
        "cpu" => info_cpu(t),
        "modules" => t.push_str("# Modules\r\n"),
        "commandstats" => info_commandstats(ctx, t),
        "errorstats" => info_errorstats(ctx, t),
        "latencystats" => info_latencystats(ctx, t),
        "cluster" => t.push_str("# Cluster\r\ncluster_enabled:0\r\n"),
        "keyspace" => info_keyspace(ctx, t),
        _ => {}
    }
}

/// `uname -srm`, as Redis's `os` field.
fn os_name() -> String {
    // SAFETY: uname only writes the struct we pass; its fields are NUL-terminated.
    unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut u) != 0 {
            return std::env::consts::OS.to_string();
        }
        let field = |f: &[libc::c_char]| {
            std::ffi::CStr::from_ptr(f.as_ptr())
                .to_string_lossy()
                .into_owned()
        };
        format!(
            "{} {} {}",
            field(&u.sysname),
            field(&u.release),
            field(&u.machine)
        )
    }
}

fn info_server(ctx: &mut Ctx, t: &mut String) {
    let s = &*ctx.server;
    let uptime = s.started_at.elapsed().as_secs();
    let now = now_us();
    t.push_str("# Server\r\n");
    fields!(t,
        "redis_version" => REDIS_VERSION,
        "redis_git_sha1" => "00000000",
        "redis_git_dirty" => 0,
        "redis_build_id" => 0,
        "redis_mode" => "standalone",
        "os" => os_name(),
        "arch_bits" => usize::BITS,
        "monotonic_clock" => "POSIX clock_gettime",
        "multiplexing_api" => "epoll",
        "atomicvar_api" => "c11-builtin",
        // Redis reports the GCC that built it; this engine is not built with GCC.
        "gcc_version" => "0.0.0",
        "process_id" => std::process::id(),
        "process_supervised" => "no",
        "run_id" => s.run_id,
        "tcp_port" => s.tcp_port,
        "server_time_usec" => now,
        "uptime_in_seconds" => uptime,
        "uptime_in_days" => uptime / 86400,
        "hz" => s.config.hz,
        "configured_hz" => s.config.hz,
        // Redis's LRU clock: seconds, 24 bits.
        "lru_clock" => (now / 1_000_000) & ((1 << 24) - 1),
        "executable" => s.executable,
        "config_file" => s.config.config_file,
        "io_threads_active" => 0,
        "tradestate_version" => env!("CARGO_PKG_VERSION"),
        "tradestate_engine" => s.name,
    );
}

/// Calls `f` on every client, the calling one included (it is borrowed by the command).
fn for_each_client(ctx: &Ctx, mut f: impl FnMut(&crate::server::Client)) {
    for (&id, c) in &ctx.server.clients {
        if id == ctx.client.id {
            f(ctx.client);
        } else if let Ok(c) = c.try_borrow() {
            f(&c);
        }
    }
}

fn info_clients(ctx: &mut Ctx, t: &mut String) {
    let mut max_input = 0;
    for_each_client(ctx, |c| max_input = max_input.max(c.query_buffer_len));
    let s = &*ctx.server;
    t.push_str("# Clients\r\n");
    fields!(t,
        "connected_clients" => s.clients.len(),
        "cluster_connections" => 0,
        "maxclients" => s.config.maxclients,
        "client_recent_max_input_buffer" => max_input,
        // Replies are written as soon as a batch of commands has run: nothing stays queued.
        "client_recent_max_output_buffer" => 0,
        "blocked_clients" => s.blocking.blocked_clients(),
        "tracking_clients" => 0,
        "clients_in_timeout_table" => 0,
    );
}

/// Memory held for clients: their input and output buffers (INFO `mem_clients_normal`).
pub(crate) fn clients_memory(ctx: &Ctx) -> u64 {
    let mut total = 0u64;
    for_each_client(ctx, |c| {
        total += (c.query_buffer_cap + c.reply_buffer_cap + c.argv_mem) as u64
    });
    total
}

/// Bytes the keyspace's own structures take (hash table buckets and entries), which Redis
/// counts as overhead rather than data.
pub(crate) fn keyspace_overhead(ctx: &Ctx) -> u64 {
    ctx.server
        .dbs
        .iter()
        .map(|db| (db.keys.overhead_bytes() + db.expires.overhead_bytes()) as u64)
        .sum()
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

fn info_memory(ctx: &mut Ctx, t: &mut String) {
    let used = ctx.server.used_memory();
    let peak = ctx.server.peak_memory;
    let startup = ctx.server.startup_memory.min(used);
    let clients = clients_memory(ctx);
    let overhead = (startup + clients + keyspace_overhead(ctx)).min(used);
    let dataset = used - overhead;
    let rss = crate::memory::rss_bytes();
    let alloc = crate::memory::allocator_stats();
    let total = crate::memory::total_system_memory();
    let s = &*ctx.server;
    let maxmemory: u64 = s
        .config
        .get("maxmemory")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let policy = s.config.get("maxmemory-policy").unwrap_or("noeviction");
    let net = used.saturating_sub(startup);
    t.push_str("# Memory\r\n");
    fields!(t,
        "used_memory" => used,
        "used_memory_human" => human_bytes(used),
        "used_memory_rss" => rss,
        "used_memory_rss_human" => human_bytes(rss),
        "used_memory_peak" => peak,
        "used_memory_peak_human" => human_bytes(peak),
        "used_memory_peak_perc" => format!("{:.2}%", ratio(used * 100, peak)),
        "used_memory_overhead" => overhead,
        "used_memory_startup" => startup,
        "used_memory_dataset" => dataset,
        "used_memory_dataset_perc" => format!("{:.2}%", ratio(dataset * 100, net)),
        "allocator_allocated" => alloc.allocated,
        "allocator_active" => alloc.active,
        "allocator_resident" => alloc.resident,
        "total_system_memory" => total,
        "total_system_memory_human" => human_bytes(total),
        // There is no Lua and there are no functions: their memory is truly zero.
        "used_memory_lua" => 0,
        "used_memory_vm_eval" => 0,
        "used_memory_lua_human" => "0B",
        "used_memory_scripts_eval" => 0,
        "number_of_cached_scripts" => 0,
        "number_of_functions" => 0,
        "number_of_libraries" => 0,
        "used_memory_vm_functions" => 0,
        "used_memory_vm_total" => 0,
        "used_memory_vm_total_human" => "0B",
        "used_memory_functions" => 0,
        "used_memory_scripts" => 0,
        "used_memory_scripts_human" => "0B",
        "maxmemory" => maxmemory,
        "maxmemory_human" => human_bytes(maxmemory),
        "maxmemory_policy" => policy,
        "allocator_frag_ratio" => format!("{:.2}", ratio(alloc.active, alloc.allocated)),
        "allocator_frag_bytes" => alloc.active as i64 - alloc.allocated as i64,
        "allocator_rss_ratio" => format!("{:.2}", ratio(alloc.resident, alloc.active)),
        "allocator_rss_bytes" => alloc.resident as i64 - alloc.active as i64,
        "rss_overhead_ratio" => format!("{:.2}", ratio(rss, alloc.resident)),
        "rss_overhead_bytes" => rss as i64 - alloc.resident as i64,
        "mem_fragmentation_ratio" => format!("{:.2}", ratio(rss, used)),
        "mem_fragmentation_bytes" => rss as i64 - used as i64,
        "mem_not_counted_for_evict" => 0,
        "mem_replication_backlog" => 0,
        "mem_total_replication_buffers" => 0,
        "mem_clients_slaves" => 0,
        "mem_clients_normal" => clients,
        "mem_cluster_links" => 0,
        "mem_aof_buffer" => ctx.server.aof.buf.capacity(),
        "mem_allocator" => crate::memory::allocator_name(),
        "active_defrag_running" => 0,
        "lazyfree_pending_objects" => crate::lazyfree::pending_objects(),
        "lazyfreed_objects" => crate::lazyfree::freed_objects(),
    );
}

fn info_persistence(ctx: &mut Ctx, t: &mut String) {
    let s = &*ctx.server;
    t.push_str("# Persistence\r\n");
    fields!(t,
        "loading" => s.rdb.loading as u8,
        "async_loading" => 0,
        "current_cow_peak" => 0,
        "current_cow_size" => 0,
        "current_cow_size_age" => 0,
        "current_fork_perc" => "0.00",
        // RDB fields (rdb helper): snapshots never fork, so there is no COW.
        "current_save_keys_processed" => crate::rdb::snapshot::keys_processed(s),
        "current_save_keys_total" => s.rdb.bg.as_ref().map_or(0, |b| b.keys_total),
        "rdb_changes_since_last_save" => s.dirty,
        "rdb_bgsave_in_progress" => crate::rdb::snapshot::bgsave_in_progress(s) as u8,
        "rdb_last_save_time" => s.rdb.lastsave_s,
        "rdb_last_bgsave_status" => if s.rdb.last_bgsave_ok { "ok" } else { "err" },
        "rdb_last_bgsave_time_sec" => s.rdb.last_bgsave_time_sec,
        "rdb_current_bgsave_time_sec" => crate::rdb::state::current_bgsave_secs(s),
        "rdb_saves" => s.rdb.saves,
        "rdb_last_cow_size" => 0,
        "rdb_last_load_keys_expired" => s.rdb.last_load_keys_expired,
        "rdb_last_load_keys_loaded" => s.rdb.last_load_keys_loaded,
    );
    // Persistence (aof helper).
    crate::aof::info_fields(s, t);
    fields!(t,
        "module_fork_in_progress" => 0,
        "module_fork_last_cow_size" => 0,
    );
    crate::aof::info_enabled_fields(s, t);
}

fn info_stats(ctx: &mut Ctx, t: &mut String) {
    let s = &*ctx.server;
    let st = &s.stats;
    let m = &s.metrics;
    let kbps = |v: i64| format!("{:.2}", v as f64 / 1024.0);
    t.push_str("# Stats\r\n");
    fields!(t,
        "total_connections_received" => st.connections_received,
        "total_commands_processed" => st.commands_processed,
        "instantaneous_ops_per_sec" => m.commands.value(),
        "total_net_input_bytes" => st.net_input_bytes,
        "total_net_output_bytes" => st.net_output_bytes,
        "total_net_repl_input_bytes" => 0,
        "total_net_repl_output_bytes" => 0,
        "instantaneous_input_kbps" => kbps(m.net_input.value()),
        "instantaneous_output_kbps" => kbps(m.net_output.value()),
        "instantaneous_input_repl_kbps" => "0.00",
        "instantaneous_output_repl_kbps" => "0.00",
        "rejected_connections" => st.rejected_connections,
        "sync_full" => 0,
        "sync_partial_ok" => 0,
        "sync_partial_err" => 0,
        "expired_keys" => s.expired_keys(),
        "expired_stale_perc" => format!("{:.2}", st.expired_stale_perc * 100.0),
        "expired_time_cap_reached_count" => st.expired_time_cap_reached_count,
        "expire_cycle_cpu_milliseconds" => st.expire_cycle_cpu_us / 1000,
        "evicted_keys" => st.evicted_keys,
        "evicted_clients" => 0,
        "total_eviction_exceeded_time" => s.evict.total_exceeded_ms,
        "current_eviction_exceeded_time" => s.evict.exceeded_since.map_or(0, |t| t.elapsed().as_millis() as u64),
        "keyspace_hits" => st.keyspace_hits,
        "keyspace_misses" => st.keyspace_misses,
        "pubsub_channels" => s.pubsub.num_channels(),
        "pubsub_patterns" => s.pubsub.num_patterns(),
        "pubsubshard_channels" => 0,
        "latest_fork_usec" => 0,
        "total_forks" => 0,
        "migrate_cached_sockets" => 0,
        "slave_expires_tracked_keys" => 0,
        "active_defrag_hits" => 0,
        "active_defrag_misses" => 0,
        "active_defrag_key_hits" => 0,
        "active_defrag_key_misses" => 0,
        "total_active_defrag_time" => 0,
        "current_active_defrag_time" => 0,
        "tracking_total_keys" => 0,
        "tracking_total_items" => 0,
        "tracking_total_prefixes" => 0,
        "unexpected_error_replies" => st.unexpected_error_replies,
        "total_error_replies" => st.total_error_replies,
        "dump_payload_sanitizations" => 0,
        "total_reads_processed" => st.reads_processed,
        "total_writes_processed" => st.writes_processed,
        "io_threaded_reads_processed" => 0,
        "io_threaded_writes_processed" => 0,
        "reply_buffer_shrinks" => 0,
        "reply_buffer_expands" => 0,
    );
}

fn info_replication(ctx: &mut Ctx, t: &mut String) {
    let s = &*ctx.server;
    let backlog = s.config.get("repl-backlog-size").unwrap_or("1048576");
    t.push_str("# Replication\r\n");
    fields!(t,
        "role" => "master",
        "connected_slaves" => 0,
        "master_failover_state" => "no-failover",
        "master_replid" => s.master_replid,
        "master_replid2" => "0000000000000000000000000000000000000000",
        "master_repl_offset" => 0,
        "second_repl_offset" => -1,
        "repl_backlog_active" => 0,
        "repl_backlog_size" => backlog,
        "repl_backlog_first_byte_offset" => 0,
        "repl_backlog_histlen" => 0,
    );
}

fn info_cpu(t: &mut String) {
    let process = crate::memory::cpu_times(false);
    // INFO runs on the engine's thread, which is the "main thread" of this engine.
    let thread = crate::memory::cpu_times(true);
    t.push_str("# CPU\r\n");
    fields!(t,
        "used_cpu_sys" => format!("{:.6}", process.1),
        "used_cpu_user" => format!("{:.6}", process.0),
        "used_cpu_sys_children" => "0.000000",
        "used_cpu_user_children" => "0.000000",
        "used_cpu_sys_main_thread" => format!("{:.6}", thread.1),
        "used_cpu_user_main_thread" => format!("{:.6}", thread.0),
    );
}

fn info_commandstats(ctx: &mut Ctx, t: &mut String) {
    t.push_str("# Commandstats\r\n");
    for (i, st) in ctx.server.command_stats.iter().enumerate() {
        if st.calls == 0 && st.failed_calls == 0 && st.rejected_calls == 0 {
            continue;
        }
        let Some(name) = table::stat_name(i) else {
            continue;
        };
        let per = ratio(st.usec, st.calls);
        let _ = write!(
            t,
            "cmdstat_{name}:calls={},usec={},usec_per_call={per:.2},rejected_calls={},failed_calls={}\r\n",
            st.calls, st.usec, st.rejected_calls, st.failed_calls
        );
    }
}

fn info_errorstats(ctx: &mut Ctx, t: &mut String) {
    t.push_str("# Errorstats\r\n");
    let mut codes: Vec<_> = ctx.server.stats.errors_by_code.iter().collect();
    codes.sort();
    for (code, n) in codes {
        let _ = write!(t, "errorstat_{code}:count={n}\r\n");
    }
}

fn info_latencystats(ctx: &mut Ctx, t: &mut String) {
    t.push_str("# Latencystats\r\n");
    // Like Redis, nothing is listed while tracking is off (histograms are kept).
    if !ctx.server.config.latency_tracking {
        return;
    }
    let percentiles = ctx.server.config.latency_percentiles.clone();
    for (i, st) in ctx.server.command_stats.iter().enumerate() {
        let (Some(hist), Some(name)) = (st.latency.as_deref(), table::stat_name(i)) else {
            continue;
        };
        let values: Vec<String> = percentiles
            .iter()
            .map(|p| {
                let ns = hist.value_at_percentile(*p);
                format!("p{}={:.3}", trim_double(*p), ns as f64 / 1000.0)
            })
            .collect();
        let _ = write!(
            t,
            "latency_percentiles_usec_{name}:{}\r\n",
            values.join(",")
        );
    }
}

fn info_keyspace(ctx: &mut Ctx, t: &mut String) {
    t.push_str("# Keyspace\r\n");
    for (i, db) in ctx.server.dbs.iter().enumerate() {
        if db.is_empty() {
            continue;
        }
        let _ = write!(
            t,
            "db{i}:keys={},expires={},avg_ttl={}\r\n",
            db.len(),
            db.expires.len(),
            db.avg_ttl
        );
    }
}

/// `%f` with trailing zeros removed (Redis's `trimDoubleString`), for percentile names.
fn trim_double(d: f64) -> String {
    let s = format!("{d:.6}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Redis's `bytesToHuman`.
pub fn human_bytes(n: u64) -> String {
    let d = n as f64;
    const K: f64 = 1024.0;
    if n < 1024 {
        format!("{n}B")
    } else if n < 1 << 20 {
        format!("{:.2}K", d / K)
    } else if n < 1 << 30 {
        format!("{:.2}M", d / (K * K))
    } else if n < 1 << 40 {
        format!("{:.2}G", d / (K * K * K))
    } else if n < 1 << 50 {
        format!("{:.2}T", d / (K * K * K * K))
    } else if n < 1 << 60 {
        format!("{:.2}P", d / (K * K * K * K * K))
    } else {
        format!("{n}B")
    }
}

// ---------------------------------------------------------------------------------------------
// Latency histograms (INFO latencystats)

/// Redis records command latency in an HDR histogram tracking 1 ns .. 1 s with 2 significant
/// digits; this is the same bucket layout (256 sub-buckets, unit magnitude 0), so the
/// percentiles INFO reports round exactly like Redis's.
#[derive(Clone, Debug)]
pub struct LatencyHistogram {
    counts: Vec<u64>,
    total: u64,
}

const HIST_SUB_HALF_MAGNITUDE: u32 = 7;
const HIST_SUB_HALF: usize = 1 << HIST_SUB_HALF_MAGNITUDE;
const HIST_SUB_MASK: u64 = (2 * HIST_SUB_HALF as u64) - 1;
/// Buckets needed to reach 1e9 (2^30) from 256 (2^8): 1 + 22.
const HIST_BUCKETS: usize = 23;
const HIST_MIN: u64 = 1;
const HIST_MAX: u64 = 1_000_000_000;

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            counts: vec![0; (HIST_BUCKETS + 1) * HIST_SUB_HALF],
            total: 0,
        }
    }
}

impl LatencyHistogram {
    fn bucket_of(v: u64) -> (u32, u64) {
        let pow2ceiling = 64 - (v | HIST_SUB_MASK).leading_zeros();
        let bucket = pow2ceiling - (HIST_SUB_HALF_MAGNITUDE + 1);
        (bucket, v >> bucket)
    }

    fn index_of(v: u64) -> usize {
        let (bucket, sub) = Self::bucket_of(v);
        ((bucket as usize + 1) << HIST_SUB_HALF_MAGNITUDE) + sub as usize - HIST_SUB_HALF
    }

    fn value_at_index(idx: usize) -> u64 {
        let mut bucket = (idx >> HIST_SUB_HALF_MAGNITUDE) as i64 - 1;
        let mut sub = (idx & (HIST_SUB_HALF - 1)) + HIST_SUB_HALF;
        if bucket < 0 {
            sub -= HIST_SUB_HALF;
            bucket = 0;
        }
        (sub as u64) << bucket
    }

    fn highest_equivalent(v: u64) -> u64 {
        let (bucket, sub) = Self::bucket_of(v);
        let adjusted = bucket + u32::from(sub >= 2 * HIST_SUB_HALF as u64);
        (sub << bucket) + (1u64 << adjusted) - 1
    }

    /// Records one latency in nanoseconds (clamped to the tracked range, as Redis does).
    pub fn record(&mut self, ns: u64) {
        let v = ns.clamp(HIST_MIN, HIST_MAX);
        if let Some(c) = self.counts.get_mut(Self::index_of(v)) {
            *c += 1;
            self.total += 1;
        }
    }

    /// `hdr_value_at_percentile`: the highest value equivalent to the one at `percentile`.
    pub fn value_at_percentile(&self, percentile: f64) -> u64 {
        let wanted = ((percentile.min(100.0) / 100.0 * self.total as f64) + 0.5) as u64;
        let wanted = wanted.max(1);
        let mut seen = 0;
        for (idx, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= wanted {
                return Self::highest_equivalent(Self::value_at_index(idx));
            }
        }
        0
    }
}

// ---------------------------------------------------------------------------------------------
// CONFIG

pub fn config_get(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let pairs = ctx.server.config.matching(&argv[2..]);
    ctx.out.map(pairs.len());
    for (name, value) in pairs {
        ctx.out.bulk(&name);
        ctx.out.bulk(value.as_bytes());
    }
    Ok(())
}

pub fn config_set(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if !argv.len().is_multiple_of(2) {
        return Err(CmdError::Syntax);
    }
    let pairs: Vec<(&[u8], &[u8])> = argv[2..].chunks(2).map(|p| (p[0], p[1])).collect();
    let local = ctx.client.local;
    let old_password = ctx.server.config.requirepass.clone();
    match ctx.server.config.set_many(&pairs, local) {
        Ok(()) => {
            // requirepass is the default user's password (acl helper).
            if ctx.server.config.requirepass != old_password {
                let new_password = ctx.server.config.requirepass.clone();
                ctx.server.acl.set_default_password(new_password.as_deref());
            }
            // Persistence (aof helper): appendonly / appendfsync take effect.
            if let Err(e) = crate::aof::config_changed(ctx.server) {
                return Err(CmdError::msg(format!("ERR CONFIG SET failed - {e}")));
            }
            ctx.out.ok();
            Ok(())
        }
        Err((name, SetError::Unknown)) => Err(CmdError::msg(format!(
            "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
        ))),
        Err((name, why)) => {
            let reason = match why {
                SetError::Immutable => "can't set immutable config".to_string(),
                SetError::Protected => "can't set protected config".to_string(),
                SetError::Invalid(r) => r,
                SetError::Unknown => String::new(),
            };
            Err(CmdError::msg(format!(
                "ERR CONFIG SET failed (possibly related to argument '{name}') - {reason}"
            )))
        }
    }
}

pub fn config_resetstat(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    ctx.server.reset_stats();
    ctx.out.ok();
    Ok(())
}

pub fn config_help(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    // Redis also lists REWRITE; there is no config file rewriting here.
    let lines = [
        "GET <pattern>",
        "    Return parameters matching the glob-like <pattern> and their values.",
        "SET <directive> <value>",
        "    Set the configuration <directive> to <value>.",
        "RESETSTAT",
        "    Reset statistics reported by the INFO command.",
    ];
    reply_help(ctx, argv[0], &lines);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// COMMAND

/// What COMMAND INFO reports about a Redis command beyond the command table (generated from
/// Redis 7.0 into `command_meta.rs`).
pub struct CommandMeta {
    pub name: &'static str,
    pub arity: i32,
    pub flags: &'static [&'static str],
    pub keys: (i32, i32, i32),
    /// ACL categories declared explicitly (those implied by the flags are added at runtime).
    pub categories: &'static [&'static str],
    pub tips: &'static [&'static str],
    pub key_specs: &'static [KeySpec],
}

/// One key specification (Redis 7 `key_specs`).
pub struct KeySpec {
    pub notes: &'static str,
    pub flags: &'static [&'static str],
    pub begin: Begin,
    pub find: Find,
}

pub enum Begin {
    Index(i64),
    /// Keyword, start index (negative: from the end).
    Keyword(&'static str, i64),
    Unknown,
}

pub enum Find {
    /// Last key (relative), key step, limit.
    Range(i64, i64, i64),
    /// Index of the key count (relative), first key (relative to it), key step.
    Keynum(i64, i64, i64),
    Unknown,
}

/// The generated metadata of a command by full name (`get`, `config|get`).
pub fn meta(full_name: &str) -> Option<&'static CommandMeta> {
    let all = command_meta::META;
    all.binary_search_by(|m| m.name.cmp(full_name))
        .ok()
        .map(|i| &all[i])
}

/// ACL categories in the order Redis prints them.
pub(crate) const CATEGORY_ORDER: &[&str] = &[
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
];

/// Flags COMMAND INFO shows (Redis hides `may_replicate` and `sentinel`).
fn flag_names(spec: &CommandSpec) -> Vec<&'static str> {
    flags::NAMES
        .iter()
        .filter(|(bit, _)| spec.flags & bit != 0)
        .filter(|(bit, _)| *bit != flags::MAY_REPLICATE && *bit != flags::SENTINEL)
        .map(|(_, n)| *n)
        .collect()
}

/// The category a command of this group declares when it has no generated metadata.
fn group_category(group: Group) -> Option<&'static str> {
    Some(match group {
        Group::Generic => "keyspace",
        Group::String => "string",
        Group::Hash => "hash",
        Group::Set => "set",
        Group::SortedSet => "sortedset",
        Group::Stream => "stream",
        Group::List => "list",
        Group::Connection => "connection",
        Group::PubSub => "pubsub",
        Group::Transactions => "transaction",
        Group::Scripting => "scripting",
        Group::Bitmap => "bitmap",
        Group::Server => return None,
    })
}

/// Redis's `setImplicitACLCategories` plus the command's declared ones, in Redis's order.
pub(crate) fn acl_categories(spec: &CommandSpec, full_name: &str) -> Vec<&'static str> {
    let f = spec.flags;
    let mut cats: Vec<&'static str> = match meta(full_name) {
        Some(m) => m.categories.to_vec(),
        None => group_category(spec.group).into_iter().collect(),
    };
    let implied = [
        (flags::WRITE, "write"),
        (flags::READONLY, "read"),
        (flags::ADMIN, "admin"),
        (flags::ADMIN, "dangerous"),
        (flags::PUBSUB, "pubsub"),
        (flags::FAST, "fast"),
        (flags::BLOCKING, "blocking"),
    ];
    for (bit, cat) in implied {
        if f & bit != 0 && !(cat == "read" && cats.contains(&"scripting")) {
            cats.push(cat);
        }
    }
    if !cats.contains(&"fast") {
        cats.push("slow");
    }
    cats.sort_by_key(|c| CATEGORY_ORDER.iter().position(|o| o == c));
    cats.dedup();
    cats
}

fn reply_key_spec(ctx: &mut Ctx, ks: &KeySpec) {
    let has_notes = !ks.notes.is_empty();
    ctx.out.map(3 + has_notes as usize);
    if has_notes {
        ctx.out.bulk(b"notes");
        ctx.out.bulk(ks.notes.as_bytes());
    }
    ctx.out.bulk(b"flags");
    ctx.out.set(ks.flags.len());
    for f in ks.flags {
        ctx.out.simple(f);
    }
    ctx.out.bulk(b"begin_search");
    ctx.out.map(2);
    ctx.out.bulk(b"type");
    match ks.begin {
        Begin::Index(i) => {
            ctx.out.bulk(b"index");
            ctx.out.bulk(b"spec");
            ctx.out.map(1);
            ctx.out.bulk(b"index");
            ctx.out.int(i);
        }
        Begin::Keyword(word, from) => {
            ctx.out.bulk(b"keyword");
            ctx.out.bulk(b"spec");
            ctx.out.map(2);
            ctx.out.bulk(b"keyword");
            ctx.out.bulk(word.as_bytes());
            ctx.out.bulk(b"startfrom");
            ctx.out.int(from);
        }
        Begin::Unknown => {
            ctx.out.bulk(b"unknown");
            ctx.out.bulk(b"spec");
            ctx.out.map(0);
        }
    }
    ctx.out.bulk(b"find_keys");
    ctx.out.map(2);
    ctx.out.bulk(b"type");
    match ks.find {
        Find::Range(last, step, limit) => {
            ctx.out.bulk(b"range");
            ctx.out.bulk(b"spec");
            ctx.out.map(3);
            for (k, v) in [("lastkey", last), ("keystep", step), ("limit", limit)] {
                ctx.out.bulk(k.as_bytes());
                ctx.out.int(v);
            }
        }
        Find::Keynum(idx, first, step) => {
            ctx.out.bulk(b"keynum");
            ctx.out.bulk(b"spec");
            ctx.out.map(3);
            for (k, v) in [("keynumidx", idx), ("firstkey", first), ("keystep", step)] {
                ctx.out.bulk(k.as_bytes());
                ctx.out.int(v);
            }
        }
        Find::Unknown => {
            ctx.out.bulk(b"unknown");
            ctx.out.bulk(b"spec");
            ctx.out.map(0);
        }
    }
}

/// Redis's `addReplyCommandInfo`.
fn reply_command_info(ctx: &mut Ctx, spec: &CommandSpec, full_name: &str) {
    let m = meta(full_name);
    ctx.out.array(10);
    ctx.out.bulk(full_name.as_bytes());
    ctx.out.int(spec.arity as i64);
    let fl = flag_names(spec);
    ctx.out.set(fl.len());
    for f in fl {
        ctx.out.simple(f);
    }
    ctx.out.int(spec.first_key as i64);
    ctx.out.int(spec.last_key as i64);
    ctx.out.int(spec.step as i64);
    let cats = acl_categories(spec, full_name);
    ctx.out.set(cats.len());
    for c in cats {
        ctx.out.simple(&format!("@{c}"));
    }
    let tips = m.map(|m| m.tips).unwrap_or(&[]);
    ctx.out.set(tips.len());
    for tip in tips {
        ctx.out.bulk(tip.as_bytes());
    }
    let specs = m.map(|m| m.key_specs).unwrap_or(&[]);
    ctx.out.set(specs.len());
    for ks in specs {
        reply_key_spec(ctx, ks);
    }
    if spec.subcommands.is_empty() {
        ctx.out.set(0);
    } else {
        ctx.out.array(spec.subcommands.len());
        for sub in spec.subcommands {
            let name = format!("{}|{}", spec.name, sub.name);
            reply_command_info(ctx, sub, &name);
        }
    }
}

/// COMMAND with no subcommand: every command's info.
pub fn command(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let all = table::COMMANDS;
    ctx.out.array(all.len());
    for spec in all {
        reply_command_info(ctx, spec, spec.name);
    }
    Ok(())
}

pub fn command_count(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    ctx.out.int(table::COMMANDS.len() as i64);
    Ok(())
}

pub fn command_info(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if argv.len() == 2 {
        return command(ctx, argv);
    }
    ctx.out.array(argv.len() - 2);
    for name in &argv[2..] {
        match find_spec(name) {
            Some((spec, full)) => reply_command_info(ctx, spec, &full),
            // Redis replies a null bulk string here, not a null array.
            None => ctx.out.null(),
        }
    }
    Ok(())
}

/// Finds a command or a `parent|sub` subcommand by name (Redis's `lookupCommandBySds`).
fn find_spec(name: &[u8]) -> Option<(&'static CommandSpec, String)> {
    let text = String::from_utf8_lossy(name).to_ascii_lowercase();
    if let Some((parent, sub)) = text.split_once('|') {
        let p = table::lookup(parent.as_bytes())?;
        let s = p.subcommands.iter().find(|s| s.name == sub)?;
        return Some((s, format!("{}|{}", p.name, s.name)));
    }
    table::lookup(name).map(|s| (s, s.name.to_string()))
}

fn reply_command_docs(ctx: &mut Ctx, spec: &CommandSpec, full: &str) {
    ctx.out.bulk(full.as_bytes());
    let has_subs = !spec.subcommands.is_empty();
    ctx.out.map(4 + has_subs as usize);
    ctx.out.bulk(b"summary");
    ctx.out.bulk(spec.summary.as_bytes());
    ctx.out.bulk(b"since");
    ctx.out.bulk(spec.since.as_bytes());
    ctx.out.bulk(b"group");
    ctx.out.bulk(spec.group.name().as_bytes());
    ctx.out.bulk(b"complexity");
    ctx.out.bulk(spec.complexity.as_bytes());
    if has_subs {
        ctx.out.bulk(b"subcommands");
        ctx.out.map(spec.subcommands.len());
        for sub in spec.subcommands {
            let name = format!("{}|{}", spec.name, sub.name);
            reply_command_docs(ctx, sub, &name);
        }
    }
}

pub fn command_docs(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let found: Vec<(&CommandSpec, String)> = if argv.len() == 2 {
        table::COMMANDS
            .iter()
            .map(|s| (s, s.name.to_string()))
            .collect()
    } else {
        argv[2..].iter().filter_map(|n| find_spec(n)).collect()
    };
    ctx.out.map(found.len());
    for (spec, full) in found {
        reply_command_docs(ctx, spec, &full);
    }
    Ok(())
}

/// COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN pattern]: full names of
/// commands and subcommands.
pub fn command_list(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut filter: Option<(String, &[u8])> = None;
    let mut i = 2;
    while i < argv.len() {
        let more = argv.len() - 1 - i;
        if eq_ignore_case(argv[i], "filterby") && more == 2 {
            let kind = String::from_utf8_lossy(argv[i + 1]).to_ascii_lowercase();
            if !["module", "aclcat", "pattern"].contains(&kind.as_str()) {
                return Err(CmdError::Syntax);
            }
            filter = Some((kind, argv[i + 2]));
            i += 3;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let keep = |spec: &CommandSpec, full: &str| match &filter {
        None => true,
        Some((kind, v)) if kind == "pattern" => glob_match(v, full.as_bytes(), true),
        Some((kind, v)) if kind == "aclcat" => {
            let want = String::from_utf8_lossy(v).to_ascii_lowercase();
            acl_categories(spec, full).contains(&want.as_str())
        }
        // There are no modules.
        Some(_) => false,
    };
    let mut names = Vec::new();
    for spec in table::COMMANDS {
        if keep(spec, spec.name) {
            names.push(spec.name.to_string());
        }
        for sub in spec.subcommands {
            let full = format!("{}|{}", spec.name, sub.name);
            if keep(sub, &full) {
                names.push(full);
            }
        }
    }
    ctx.out.array(names.len());
    for n in names {
        ctx.out.bulk(n.as_bytes());
    }
    Ok(())
}

/// A key found by COMMAND GETKEYS: its argument index and its key-spec flags.
struct FoundKey {
    pos: usize,
    flags: &'static [&'static str],
}

/// Redis's `getKeysUsingKeySpecs`: `None` when a spec cannot be applied (bad key count, keys
/// out of range), which makes the command's arguments invalid.
fn keys_from_specs(specs: &'static [KeySpec], argv: &[&[u8]]) -> Option<Vec<FoundKey>> {
    let argc = argv.len() as i64;
    let mut out = Vec::new();
    for ks in specs {
        if ks.flags.contains(&"not_key") {
            continue;
        }
        let first = match ks.begin {
            Begin::Index(i) => i,
            Begin::Keyword(word, from) => {
                let (start, end) = if from > 0 {
                    (from, argc - 1)
                } else {
                    (argc + from, 0)
                };
                let mut i = start;
                let mut found = 0;
                while i != end {
                    if i >= argc || i < 1 {
                        break;
                    }
                    if eq_ignore_case(argv[i as usize], word) {
                        found = i + 1;
                        break;
                    }
                    i = if start <= end { i + 1 } else { i - 1 };
                }
                if found == 0 {
                    continue;
                }
                found
            }
            Begin::Unknown => continue,
        };
        let (first, last, step) = match ks.find {
            Find::Range(lastkey, step, limit) => {
                let last = if lastkey >= 0 {
                    first + lastkey
                } else if limit == 0 {
                    argc + lastkey
                } else {
                    first + ((argc - first) / limit + lastkey)
                };
                (first, last, step)
            }
            Find::Keynum(idx, firstkey, step) => {
                if idx >= argc || first + idx >= argc {
                    return None;
                }
                // More keys than arguments cannot fit (and must not overflow below).
                let n = crate::util::parse_i64(argv[(first + idx) as usize])
                    .filter(|n| (0..=argc).contains(n))?;
                let first = first + firstkey;
                (first, first + n - 1, step)
            }
            Find::Unknown => continue,
        };
        if last >= argc || last < first || first >= argc {
            return None;
        }
        let mut i = first;
        while i <= last {
            out.push(FoundKey {
                pos: i as usize,
                flags: ks.flags,
            });
            i += step.max(1);
        }
        if ks.flags.contains(&"incomplete") {
            return None;
        }
    }
    Some(out)
}

/// The keys a command uses, for ACL checks: (argument index, needs read, needs write), from
/// the key specs (Redis's `ACLSelectorCheckKey` flags: ACCESS reads; INSERT, DELETE and
/// UPDATE write). Arguments the specs cannot be applied to yield no keys.
pub(crate) fn keys_of(spec: &CommandSpec, full: &str, argv: &[&[u8]]) -> Vec<(usize, bool, bool)> {
    let found = match meta(full) {
        Some(m) => keys_from_specs(m.key_specs, argv).unwrap_or_default(),
        None => keys_from_positions(spec, argv.len()),
    };
    found
        .iter()
        .map(|k| {
            let flags = key_flags(full, argv, k);
            let has = |f: &str| flags.contains(&f);
            (
                k.pos,
                has("access"),
                has("insert") || has("delete") || has("update"),
            )
        })
        .collect()
}

/// Legacy (first, last, step) key positions, for a command without generated key specs.
fn keys_from_positions(spec: &CommandSpec, argc: usize) -> Vec<FoundKey> {
    let mut out = Vec::new();
    if spec.first_key <= 0 {
        return out;
    }
    let last = if spec.last_key < 0 {
        argc as i64 + spec.last_key as i64
    } else {
        spec.last_key as i64
    };
    let mut i = spec.first_key as i64;
    while i <= last && (i as usize) < argc {
        out.push(FoundKey {
            pos: i as usize,
            flags: &[],
        });
        i += spec.step.max(1) as i64;
    }
    out
}

fn getkeys(ctx: &mut Ctx, argv: &[&[u8]], with_flags: bool) -> CmdResult {
    let (target, full) = getkeys_target(argv)?;
    let args = &argv[2..];
    let keys = match meta(&full) {
        Some(m) => keys_from_specs(m.key_specs, args),
        None => Some(keys_from_positions(target, args.len())),
    };
    let Some(keys) = keys.filter(|k| !k.is_empty()) else {
        return Err(CmdError::msg("ERR Invalid arguments specified for command"));
    };
    ctx.out.array(keys.len());
    for k in &keys {
        if with_flags {
            ctx.out.array(2);
            ctx.out.bulk(args[k.pos]);
            let flags = key_flags(&full, args, k);
            ctx.out.set(flags.len());
            for f in flags {
                ctx.out.simple(f);
            }
        } else {
            ctx.out.bulk(args[k.pos]);
        }
    }
    Ok(())
}

/// Flags of one key: the spec's, except for commands whose flags depend on the arguments
/// (Redis's `setGetKeys`: SET with GET reads the old value).
fn key_flags(full: &str, args: &[&[u8]], key: &FoundKey) -> &'static [&'static str] {
    if full == "set" {
        return if args.iter().skip(3).any(|a| eq_ignore_case(a, "get")) {
            &["RW", "access", "update"]
        } else {
            &["OW", "update"]
        };
    }
    key.flags
}

pub fn command_getkeys(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    getkeys(ctx, argv, false)
}

pub fn command_getkeysandflags(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    getkeys(ctx, argv, true)
}

/// The command COMMAND GETKEYS asks about, with Redis's checks in its order: the command (or
/// subcommand) exists, has key arguments, and gets a valid number of arguments.
fn getkeys_target(argv: &[&[u8]]) -> Result<(&'static CommandSpec, String), CmdError> {
    let args = &argv[2..];
    let invalid = || CmdError::msg("ERR Invalid command specified");
    let spec = table::lookup(args[0]).ok_or_else(invalid)?;
    let (target, full) = if args.len() >= 2 && !spec.subcommands.is_empty() {
        let sub = spec
            .subcommands
            .iter()
            .find(|s| args[1].eq_ignore_ascii_case(s.name.as_bytes()))
            .ok_or_else(invalid)?;
        (sub, format!("{}|{}", spec.name, sub.name))
    } else {
        (spec, spec.name.to_string())
    };
    let has_keys = match meta(&full) {
        Some(m) => m.key_specs.iter().any(|k| !k.flags.contains(&"not_key")),
        None => target.first_key > 0,
    };
    if !has_keys {
        return Err(CmdError::msg("ERR The command has no key arguments"));
    }
    let argc = args.len() as i32;
    if (target.arity > 0 && target.arity != argc) || argc < -target.arity {
        return Err(CmdError::msg(
            "ERR Invalid number of arguments specified for command",
        ));
    }
    Ok((target, full))
}

pub fn command_help(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let lines = [
        "(no subcommand)",
        "    Return details about all Redis commands.",
        "COUNT",
        "    Return the total number of commands in this Redis server.",
        "LIST",
        "    Return a list of all commands in this Redis server.",
        "INFO [<command-name> ...]",
        "    Return details about multiple Redis commands.",
        "    If no command names are given, documentation details for all",
        "    commands are returned.",
        "DOCS [<command-name> ...]",
        "    Return documentation details about multiple Redis commands.",
        "    If no command names are given, documentation details for all",
        "    commands are returned.",
        "GETKEYS <full-command>",
        "    Return the keys from a full Redis command.",
        "GETKEYSANDFLAGS <full-command>",
        "    Return the keys and the access flags from a full Redis command.",
    ];
    reply_help(ctx, argv[0], &lines);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// DEBUG, FUNCTION and SHUTDOWN

const DEBUG_NOT_ALLOWED: &str = "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.";

pub fn debug(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if !ctx
        .server
        .config
        .enable_debug_command
        .allows(ctx.client.local)
    {
        return Err(CmdError::msg(DEBUG_NOT_ALLOWED));
    }
    let sub = String::from_utf8_lossy(argv[1]).to_ascii_lowercase();
    match (sub.as_str(), argv.len()) {
        ("help", 2) => debug_help(ctx, argv),
        ("sleep", 3) => {
            // strtod semantics: a bad number sleeps 0 seconds. Blocking the engine's thread
            // is the point: it simulates a slow command.
            let secs = strtod_prefix(argv[2]);
            if secs > 0.0 && secs.is_finite() {
                std::thread::sleep(std::time::Duration::from_secs_f64(secs.min(1e9)));
            }
            ctx.out.ok();
        }
        ("set-active-expire", 3) => {
            ctx.server.active_expire_enabled = atoi(argv[2]) != 0;
            ctx.out.ok();
        }
        ("error", 3) => {
            // Sent as given (the text carries its own code) and, as in Redis, not counted
            // as an error reply.
            ctx.out.buf.push(b'-');
            ctx.out.buf.extend(
                argv[2]
                    .iter()
                    .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
            );
            ctx.out.buf.extend_from_slice(b"\r\n");
        }
        ("log", 3) => {
            tracing::warn!("DEBUG LOG: {}", String::from_utf8_lossy(argv[2]));
            ctx.out.ok();
        }
        ("protocol", 3) => debug_protocol(ctx, argv[2])?,
        ("reload", _) => super::persist::debug_reload(ctx, argv)?, // rdb helper
        _ => return Err(subcommand_syntax_error(argv)),
    }
    Ok(())
}

fn debug_help(ctx: &mut Ctx, argv: &[&[u8]]) {
    let lines = [
        "ERROR <string>",
        "    Return a Redis protocol error with <string> as message. Useful for clients",
        "    unit tests to simulate Redis errors.",
        "LOG <message>",
        "    Write <message> to the server log.",
        "PROTOCOL <type>",
        "    Reply with a test value of the specified type. <type> can be: string,",
        "    integer, double, bignum, null, array, set, map, attrib, push, verbatim,",
        "    true, false.",
        "SET-ACTIVE-EXPIRE <0|1>",
        "    Setting it to 0 disables expiring keys in background when they are not",
        "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
        "    default.",
        "SLEEP <seconds>",
        "    Stop the server for <seconds>. Decimals allowed.",
    ];
    reply_help(ctx, argv[0], &lines);
}

/// DEBUG PROTOCOL <type>: one sample reply of each RESP type.
fn debug_protocol(ctx: &mut Ctx, kind: &[u8]) -> CmdResult {
    let kind = String::from_utf8_lossy(kind).to_ascii_lowercase();
    let out = &mut *ctx.out;
    match kind.as_str() {
        "string" => out.bulk(b"Hello World"),
        "integer" => out.int(12345),
        // Redis's sample value, not an approximation of pi.
        #[allow(clippy::approx_constant)]
        "double" => out.double(3.141),
        "bignum" => {
            const BIG: &[u8] = b"1234567999999999999999999999999999999";
            if out.resp3 {
                out.buf.push(b'(');
                out.buf.extend_from_slice(BIG);
                out.buf.extend_from_slice(b"\r\n");
            } else {
                out.bulk(BIG);
            }
        }
        "null" => out.null(),
        "array" => {
            out.array(3);
            (0..3).for_each(|j| out.int(j));
        }
        "set" => {
            out.set(3);
            (0..3).for_each(|j| out.int(j));
        }
        "map" => {
            out.map(3);
            for j in 0..3 {
                out.int(j);
                out.boolean(j == 1);
            }
        }
        "attrib" => {
            if out.resp3 {
                out.buf.extend_from_slice(b"|1\r\n");
                out.bulk(b"key-popularity");
                out.array(2);
                out.bulk(b"key:123");
                out.int(90);
            }
            out.bulk(b"Some real reply following the attribute");
        }
        "push" => {
            if !out.resp3 {
                return Err(CmdError::msg("ERR RESP2 is not supported by this command"));
            }
            out.push(2);
            out.bulk(b"server-cpu-usage");
            out.int(42);
            out.bulk(b"Some real reply following the push reply");
        }
        "verbatim" => out.verbatim(b"This is a verbatim\nstring", "txt"),
        "true" => out.boolean(true),
        "false" => out.boolean(false),
        _ => {
            return Err(CmdError::msg(
                "ERR Wrong protocol type name. Please use one of the following: string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false",
            ))
        }
    }
    Ok(())
}

/// C's `atoi`: leading spaces, optional sign, digits; anything else ends the number.
fn atoi(arg: &[u8]) -> i64 {
    let s = String::from_utf8_lossy(arg);
    let t = s.trim_start();
    let (sign, rest) = match t.as_bytes().first() {
        Some(b'-') => (-1, &t[1..]),
        Some(b'+') => (1, &t[1..]),
        _ => (1, t),
    };
    let digits: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .take(18)
        .collect();
    sign * digits.parse::<i64>().unwrap_or(0)
}

/// C's `strtod` on the longest valid prefix (0 when there is none). Only the first 64 bytes
/// are looked at: no meaningful number of seconds is longer.
fn strtod_prefix(arg: &[u8]) -> f64 {
    let s = String::from_utf8_lossy(&arg[..arg.len().min(64)]);
    let t = s.trim_start();
    (1..=t.len())
        .rev()
        .filter(|&n| t.is_char_boundary(n))
        .find_map(|n| t[..n].parse::<f64>().ok())
        .unwrap_or(0.0)
}

pub fn function_flush(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if argv.len() > 3 {
        return Err(subcommand_syntax_error(argv));
    }
    if argv.len() == 3 && !(eq_ignore_case(argv[2], "async") || eq_ignore_case(argv[2], "sync")) {
        return Err(CmdError::msg(
            "ERR FUNCTION FLUSH only supports SYNC|ASYNC option",
        ));
    }
    // There is no FUNCTION LOAD, so no library can exist: flushing has nothing to delete.
    ctx.out.ok();
    Ok(())
}

pub fn function_help(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    // Only the subcommands that exist here (Redis also lists LOAD, DELETE, LIST, ...).
    let lines = [
        "FLUSH [ASYNC|SYNC]",
        "    Delete all the libraries.",
        "    When called without the optional mode argument, the behavior is determined by the",
        "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
        "    * ASYNC: Asynchronously flush the libraries.",
        "    * SYNC: Synchronously flush the libraries.",
    ];
    reply_help(ctx, argv[0], &lines);
    Ok(())
}

/// SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]: stops this engine (and the standalone
/// process). There is nothing to save: SAVE fails unless FORCE is given, and NOW has no
/// replicas to skip waiting for.
pub fn shutdown(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (mut nosave, mut save, mut now, mut force, mut abort) = (false, false, false, false, false);
    for arg in &argv[1..] {
        let word = String::from_utf8_lossy(arg).to_ascii_lowercase();
        match word.as_str() {
            "nosave" => nosave = true,
            "save" => save = true,
            "now" => now = true,
            "force" => force = true,
            "abort" => abort = true,
            _ => return Err(CmdError::Syntax),
        }
    }
    if (abort && (nosave || save || now || force)) || (nosave && save) {
        return Err(CmdError::Syntax);
    }
    if abort {
        // A shutdown here is immediate: one can never be in progress.
        return Err(CmdError::msg("ERR No shutdown in progress."));
    }
    // Persistence (rdb helper): SAVE, or save rules without NOSAVE, save first.
    super::persist::shutdown_save(ctx, save, nosave, force)?;
    tracing::warn!(engine = %ctx.server.name, client = ctx.client.id, "user requested shutdown");
    // Like Redis, no reply: the connection closes and the engine stops.
    ctx.client.close_after_reply = true;
    ctx.server.request_shutdown();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_matches_hdr_rounding() {
        let mut h = LatencyHistogram::default();
        h.record(14_000);
        assert_eq!(h.value_at_percentile(50.0), 14_015);
        let mut h = LatencyHistogram::default();
        h.record(4_000);
        assert_eq!(h.value_at_percentile(99.9), 4_015);
        let mut h = LatencyHistogram::default();
        h.record(0);
        assert_eq!(h.value_at_percentile(50.0), 1);
        h.record(5_000_000_000);
        assert!(h.value_at_percentile(100.0) >= 1_000_000_000);
    }

    #[test]
    fn meta_is_sorted_and_found() {
        let all = command_meta::META;
        assert!(all.windows(2).all(|w| w[0].name < w[1].name));
        assert_eq!(meta("get").map(|m| m.categories), Some(&["string"][..]));
        assert!(meta("config|set").is_some_and(|m| !m.tips.is_empty()));
    }

    /// Every command the table has that Redis 7.0 also has must declare Redis's arity, flags
    /// and key positions: COMMAND INFO, dispatch and the ACL categories derive from them.
    #[test]
    fn table_matches_redis_metadata() {
        let mut wrong = Vec::new();
        let check = |spec: &CommandSpec, full: &str, wrong: &mut Vec<String>| {
            let Some(m) = meta(full) else { return };
            let ours = flag_names(spec);
            if m.arity != spec.arity
                || ours != m.flags
                || m.keys != (spec.first_key, spec.last_key, spec.step)
            {
                wrong.push(format!(
                    "{full}: ours arity {} flags {:?} keys {:?}, redis arity {} flags {:?} keys {:?}",
                    spec.arity,
                    ours,
                    (spec.first_key, spec.last_key, spec.step),
                    m.arity,
                    m.flags,
                    m.keys
                ));
            }
        };
        for spec in table::COMMANDS {
            check(spec, spec.name, &mut wrong);
            for sub in spec.subcommands {
                check(sub, &format!("{}|{}", spec.name, sub.name), &mut wrong);
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn c_number_parsing() {
        assert_eq!(atoi(b"12abc"), 12);
        assert_eq!(atoi(b"x"), 0);
        assert_eq!(strtod_prefix(b"0.5s"), 0.5);
        assert_eq!(strtod_prefix(b"abc"), 0.0);
    }
}
