//! INFO: every section Redis prints, in its order and with its field names, filled from the
//! engine's state; and the client and keyspace memory figures MEMORY STATS reports too.

// Unsafe code here: the uname call; each block says why it is sound.
#![allow(unsafe_code)]

use std::fmt::Write as _;

use super::server::REDIS_VERSION;
use super::{table, CmdResult, Ctx};
use crate::util::now_us;

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
/// The sections a plain `INFO` (and `INFO default`) leaves out.
const NOT_DEFAULT: &[&str] = &["commandstats", "latencystats"];

fn default_sections() -> impl Iterator<Item = &'static str> {
    SECTIONS
        .iter()
        .copied()
        .filter(|s| !NOT_DEFAULT.contains(s))
}

/// The sections an INFO call asks for, Redis's `genInfoSectionDict`: `default`, `all` and
/// `everything` expand, names are case-insensitive, unknown names select nothing.
fn wanted_sections(args: &[&[u8]]) -> Vec<&'static str> {
    if args.is_empty() {
        return default_sections().collect();
    }
    let mut wanted: Vec<&'static str> = Vec::new();
    for arg in args {
        let name = String::from_utf8_lossy(arg).to_ascii_lowercase();
        match name.as_str() {
            "default" => wanted.extend(default_sections()),
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
    let lua = ctx.server.scripting.lua_memory() as u64;
    let scripts = ctx.server.scripting.scripts_memory() as u64;
    let script_count = ctx.server.scripting.count();
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
        // There are no functions: their memory is truly zero.
        "used_memory_lua" => lua,
        "used_memory_vm_eval" => lua,
        "used_memory_lua_human" => human_bytes(lua),
        "used_memory_scripts_eval" => scripts,
        "number_of_cached_scripts" => script_count,
        "number_of_functions" => 0,
        "number_of_libraries" => 0,
        "used_memory_vm_functions" => 0,
        "used_memory_vm_total" => lua,
        "used_memory_vm_total_human" => human_bytes(lua),
        "used_memory_functions" => 0,
        "used_memory_scripts" => scripts,
        "used_memory_scripts_human" => human_bytes(scripts),
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
        // Snapshots never fork, so there is no COW.
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
