//! Server commands: INFO, CONFIG, COMMAND, TIME, DEBUG and FUNCTION FLUSH.

use std::fmt::Write as _;

use super::{c_text, flags, table, CmdError, CmdResult, CommandSpec, Ctx};
use crate::util::{eq_ignore_case, glob_match, now_us};

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

pub fn time(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let us = now_us();
    ctx.out.array(2);
    ctx.out
        .bulk(itoa::Buffer::new().format(us / 1_000_000).as_bytes());
    ctx.out
        .bulk(itoa::Buffer::new().format(us % 1_000_000).as_bytes());
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// INFO

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
const ALL_EXTRA: &[&str] = &["commandstats", "latencystats"];

pub fn info(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut wanted: Vec<String> = Vec::new();
    if argv.len() == 1 {
        wanted.extend(DEFAULT_SECTIONS.iter().map(|s| s.to_string()));
    }
    for a in &argv[1..] {
        let s = String::from_utf8_lossy(a).to_ascii_lowercase();
        match s.as_str() {
            "default" => wanted.extend(DEFAULT_SECTIONS.iter().map(|s| s.to_string())),
            "all" | "everything" => {
                wanted.extend(DEFAULT_SECTIONS.iter().map(|s| s.to_string()));
                wanted.extend(ALL_EXTRA.iter().map(|s| s.to_string()));
            }
            _ => wanted.push(s),
        }
    }
    let order: Vec<&str> = DEFAULT_SECTIONS
        .iter()
        .chain(ALL_EXTRA.iter())
        .copied()
        .filter(|s| wanted.iter().any(|w| w == s))
        .collect();
    let mut text = String::new();
    for (i, section) in order.iter().enumerate() {
        if i > 0 {
            text.push_str("\r\n");
        }
        write_section(ctx, section, &mut text);
    }
    ctx.out.verbatim(text.as_bytes(), "txt");
    Ok(())
}

fn write_section(ctx: &mut Ctx, section: &str, t: &mut String) {
    let s = &*ctx.server;
    let uptime = s.started_at.elapsed().as_secs();
    match section {
        "server" => {
            let _ = write!(
                t,
                "# Server\r\nredis_version:{REDIS_VERSION}\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\nredis_build_id:0\r\nredis_mode:standalone\r\nos:{} {}\r\narch_bits:64\r\nmonotonic_clock:POSIX clock_gettime\r\nmultiplexing_api:epoll\r\natomicvar_api:c11-builtin\r\ngcc_version:0.0.0\r\nprocess_id:{}\r\nprocess_supervised:no\r\nrun_id:{}\r\ntcp_port:{}\r\nserver_time_usec:{}\r\nuptime_in_seconds:{}\r\nuptime_in_days:{}\r\nhz:{}\r\nconfigured_hz:{}\r\nlru_clock:{}\r\nexecutable:{}\r\nconfig_file:{}\r\nio_threads_active:0\r\ntradestate_version:{}\r\ntradestate_engine:{}\r\n",
                std::env::consts::OS,
                std::env::consts::ARCH,
                std::process::id(),
                s.run_id,
                s.tcp_port,
                now_us(),
                uptime,
                uptime / 86400,
                s.config.hz,
                s.config.hz,
                (now_us() / 1_000_000) & ((1 << 24) - 1),
                s.executable,
                s.config_file,
                env!("CARGO_PKG_VERSION"),
                s.name,
            );
        }
        "clients" => {
            let _ = write!(
                t,
                "# Clients\r\nconnected_clients:{}\r\ncluster_connections:0\r\nmaxclients:{}\r\nclient_recent_max_input_buffer:0\r\nclient_recent_max_output_buffer:0\r\nblocked_clients:0\r\ntracking_clients:0\r\nclients_in_timeout_table:0\r\n",
                s.clients.len(),
                s.config.maxclients
            );
        }
        "memory" => {
            let used = crate::memory::allocated_bytes();
            let rss = crate::memory::rss_bytes();
            let maxmemory = s.config.get("maxmemory").unwrap_or("0");
            let policy = s.config.get("maxmemory-policy").unwrap_or("noeviction");
            let total = crate::memory::total_system_memory();
            let ratio = if used > 0 {
                rss as f64 / used as f64
            } else {
                0.0
            };
            let _ = write!(
                t,
                "# Memory\r\nused_memory:{used}\r\nused_memory_human:{}\r\nused_memory_rss:{rss}\r\nused_memory_rss_human:{}\r\nused_memory_peak:{used}\r\nused_memory_peak_human:{}\r\ntotal_system_memory:{total}\r\ntotal_system_memory_human:{}\r\nmaxmemory:{maxmemory}\r\nmaxmemory_human:{}\r\nmaxmemory_policy:{policy}\r\nmem_fragmentation_ratio:{ratio:.2}\r\nmem_allocator:jemalloc\r\nlazyfree_pending_objects:0\r\n",
                human_bytes(used),
                human_bytes(rss),
                human_bytes(used),
                human_bytes(total),
                human_bytes(maxmemory.parse().unwrap_or(0)),
            );
        }
        "persistence" => {
            let _ = write!(
                t,
                "# Persistence\r\nloading:0\r\nasync_loading:0\r\ncurrent_cow_peak:0\r\ncurrent_cow_size:0\r\ncurrent_cow_size_age:0\r\ncurrent_fork_perc:0.00\r\ncurrent_save_keys_processed:0\r\ncurrent_save_keys_total:0\r\nrdb_changes_since_last_save:0\r\nrdb_bgsave_in_progress:0\r\nrdb_last_save_time:{}\r\nrdb_last_bgsave_status:ok\r\nrdb_last_bgsave_time_sec:-1\r\nrdb_current_bgsave_time_sec:-1\r\naof_enabled:0\r\naof_rewrite_in_progress:0\r\naof_rewrite_scheduled:0\r\naof_last_rewrite_time_sec:-1\r\naof_current_rewrite_time_sec:-1\r\naof_last_bgrewrite_status:ok\r\naof_last_write_status:ok\r\n",
                s.started_unix_ms / 1000
            );
        }
        "stats" => {
            let st = &s.stats;
            let _ = write!(
                t,
                "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\ninstantaneous_ops_per_sec:0\r\ntotal_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\nrejected_connections:{}\r\nexpired_keys:{}\r\nexpired_stale_perc:{:.2}\r\nexpired_time_cap_reached_count:0\r\nexpire_cycle_cpu_milliseconds:{}\r\nevicted_keys:{}\r\nkeyspace_hits:{}\r\nkeyspace_misses:{}\r\npubsub_channels:0\r\npubsub_patterns:0\r\nlatest_fork_usec:0\r\ntotal_forks:0\r\ntotal_error_replies:{}\r\nunexpected_error_replies:{}\r\n",
                st.connections_received,
                st.commands_processed,
                st.net_input_bytes,
                st.net_output_bytes,
                st.rejected_connections,
                s.expired_keys(),
                st.expired_stale_perc * 100.0,
                st.expire_cycle_cpu_us / 1000,
                st.evicted_keys,
                st.keyspace_hits,
                st.keyspace_misses,
                st.total_error_replies,
                st.unexpected_error_replies,
            );
        }
        "replication" => {
            let _ = write!(
                t,
                "# Replication\r\nrole:master\r\nconnected_slaves:0\r\nmaster_failover_state:no-failover\r\nmaster_replid:{}\r\nmaster_replid2:0000000000000000000000000000000000000000\r\nmaster_repl_offset:0\r\nsecond_repl_offset:-1\r\nrepl_backlog_active:0\r\nrepl_backlog_size:1048576\r\nrepl_backlog_first_byte_offset:0\r\nrepl_backlog_histlen:0\r\n",
                s.run_id
            );
        }
        "cpu" => {
            let (user, sys) = crate::memory::cpu_times();
            let _ = write!(
                t,
                "# CPU\r\nused_cpu_sys:{sys:.6}\r\nused_cpu_user:{user:.6}\r\nused_cpu_sys_children:0.000000\r\nused_cpu_user_children:0.000000\r\n"
            );
        }
        "modules" => t.push_str("# Modules\r\n"),
        "cluster" => t.push_str("# Cluster\r\ncluster_enabled:0\r\n"),
        "errorstats" => {
            t.push_str("# Errorstats\r\n");
            let mut codes: Vec<_> = s.stats.errors_by_code.iter().collect();
            codes.sort();
            for (code, n) in codes {
                let _ = write!(t, "errorstat_{code}:count={n}\r\n");
            }
        }
        "commandstats" => {
            t.push_str("# Commandstats\r\n");
            for (i, st) in s.command_stats.iter().enumerate() {
                if st.calls == 0 && st.failed_calls == 0 && st.rejected_calls == 0 {
                    continue;
                }
                if let Some(name) = table::stat_name(i) {
                    let per = if st.calls > 0 {
                        st.usec as f64 / st.calls as f64
                    } else {
                        0.0
                    };
                    let _ = write!(
                        t,
                        "cmdstat_{name}:calls={},usec={},usec_per_call={per:.2},rejected_calls={},failed_calls={}\r\n",
                        st.calls, st.usec, st.rejected_calls, st.failed_calls
                    );
                }
            }
        }
        "latencystats" => t.push_str("# Latencystats\r\n"),
        "keyspace" => {
            t.push_str("# Keyspace\r\n");
            for (i, db) in s.dbs.iter().enumerate() {
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
        _ => {}
    }
}

/// Redis's `bytesToHuman`.
pub fn human_bytes(n: u64) -> String {
    let d = n as f64;
    if n < 1024 {
        format!("{n}B")
    } else if n < 1024 * 1024 {
        format!("{:.2}K", d / 1024.0)
    } else if n < 1024 * 1024 * 1024 {
        format!("{:.2}M", d / (1024.0 * 1024.0))
    } else if n < 1024u64.pow(4) {
        format!("{:.2}G", d / (1024.0 * 1024.0 * 1024.0))
    } else {
        format!("{:.2}T", d / 1024f64.powi(4))
    }
}

// ---------------------------------------------------------------------------------------------
// CONFIG

pub fn config_get(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let pairs = ctx.server.config.matching(&argv[2..]);
    ctx.out.map(pairs.len());
    for (name, value) in pairs {
        ctx.out.bulk(name.as_bytes());
        ctx.out.bulk(value.as_bytes());
    }
    Ok(())
}

pub fn config_set(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if argv.len() % 2 == 1 {
        return Err(CmdError::msg(
            "ERR wrong number of arguments for 'config|set' command",
        ));
    }
    // All or nothing: validate on a copy, then swap it in.
    let mut next = ctx.server.config.clone();
    for pair in argv[2..].chunks(2) {
        let name = String::from_utf8_lossy(pair[0]).into_owned();
        let value = String::from_utf8_lossy(pair[1]).into_owned();
        next.set(&name, &value, true).map_err(|e| {
            CmdError::msg(format!(
                "ERR CONFIG SET failed (possibly related to argument '{name}') - {}",
                strip_set_prefix(&e.0, &name)
            ))
        })?;
    }
    ctx.server.config = next;
    ctx.out.ok();
    Ok(())
}

/// Config errors carry the full `Invalid argument ... for CONFIG SET 'x' - reason` text for
/// file loading; CONFIG SET in Redis 7 reports just the reason after its own prefix.
fn strip_set_prefix(msg: &str, name: &str) -> String {
    if msg.starts_with("Unknown option") {
        return "Unknown option or number of arguments for CONFIG SET - '".to_string() + name + "'";
    }
    msg.split_once(" - ")
        .map(|(_, reason)| reason.to_string())
        .unwrap_or_else(|| msg.to_string())
}

pub fn config_resetstat(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let s = &mut *ctx.server;
    s.stats = Default::default();
    for st in &mut s.command_stats {
        *st = Default::default();
    }
    for db in &mut s.dbs {
        db.expired_count = 0;
    }
    ctx.out.ok();
    Ok(())
}

pub fn config_help(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
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

fn flag_names(spec: &CommandSpec) -> Vec<&'static str> {
    flags::NAMES
        .iter()
        .filter(|(bit, _)| spec.flags & bit != 0)
        .map(|(_, n)| *n)
        .collect()
}

fn acl_categories(spec: &CommandSpec) -> Vec<String> {
    let mut cats = Vec::new();
    let f = spec.flags;
    if f & flags::WRITE != 0 {
        cats.push("@write".to_string());
    }
    if f & flags::READONLY != 0 {
        cats.push("@read".to_string());
    }
    if f & flags::ADMIN != 0 {
        cats.push("@admin".to_string());
        cats.push("@dangerous".to_string());
    }
    let group = spec.group.name();
    if !matches!(group, "server" | "generic") {
        cats.push(format!("@{}", group.replace("sorted-set", "sortedset")));
    } else if group == "generic" {
        cats.push("@keyspace".to_string());
    }
    if f & flags::FAST != 0 {
        cats.push("@fast".to_string());
    } else if f & (flags::READONLY | flags::WRITE) != 0 {
        cats.push("@slow".to_string());
    }
    if f & flags::BLOCKING != 0 {
        cats.push("@blocking".to_string());
    }
    cats
}

fn reply_command_info(ctx: &mut Ctx, spec: &CommandSpec, full_name: &str) {
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
    let cats = acl_categories(spec);
    ctx.out.set(cats.len());
    for c in cats {
        ctx.out.simple(&c);
    }
    ctx.out.set(0); // tips
    ctx.out.array(0); // key specifications
    ctx.out.array(spec.subcommands.len());
    for sub in spec.subcommands {
        let name = format!("{}|{}", spec.name, sub.name);
        reply_command_info(ctx, sub, &name);
    }
}

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
            None => ctx.out.null_array(),
        }
    }
    Ok(())
}

/// Finds a command or a `parent|sub` subcommand by name.
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

pub fn command_list(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut filter: Option<(String, Vec<u8>)> = None;
    if argv.len() == 5 && eq_ignore_case(argv[2], "filterby") {
        let kind = String::from_utf8_lossy(argv[3]).to_ascii_lowercase();
        if !["module", "aclcat", "pattern"].contains(&kind.as_str()) {
            return Err(CmdError::Syntax);
        }
        filter = Some((kind, argv[4].to_vec()));
    } else if argv.len() != 2 {
        return Err(CmdError::Syntax);
    }
    let mut names = Vec::new();
    for spec in table::COMMANDS {
        let keep = match &filter {
            None => true,
            Some((kind, v)) if kind == "pattern" => glob_match(v, spec.name.as_bytes(), true),
            Some((kind, v)) if kind == "aclcat" => {
                let want = format!("@{}", String::from_utf8_lossy(v).to_ascii_lowercase());
                acl_categories(spec).contains(&want)
            }
            Some(_) => false,
        };
        if keep {
            names.push(spec.name);
        }
    }
    ctx.out.array(names.len());
    for n in names {
        ctx.out.bulk(n.as_bytes());
    }
    Ok(())
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
    ];
    reply_help(ctx, argv[0], &lines);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// DEBUG and FUNCTION

pub fn debug(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let sub = String::from_utf8_lossy(argv[1]).to_ascii_lowercase();
    match sub.as_str() {
        "sleep" if argv.len() == 3 => {
            let secs = crate::util::parse_f64(argv[2]).ok_or(CmdError::NotFloat)?;
            // A blocking sleep of the engine thread is the point: it simulates a slow command.
            std::thread::sleep(std::time::Duration::from_secs_f64(secs.max(0.0)));
            ctx.out.ok();
        }
        "set-active-expire" if argv.len() == 3 => {
            ctx.out.ok();
        }
        "help" => {
            let lines = [
                "SLEEP <seconds>",
                "    Stop the server for <seconds>. Decimals allowed.",
            ];
            reply_help(ctx, argv[0], &lines);
        }
        _ => {
            return Err(CmdError::msg(format!(
                "ERR unknown subcommand '{}'. Try DEBUG HELP.",
                c_text(argv[1], 128)
            )))
        }
    }
    Ok(())
}

pub fn function_flush(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if argv.len() == 3 && !(eq_ignore_case(argv[2], "async") || eq_ignore_case(argv[2], "sync")) {
        return Err(CmdError::msg(
            "ERR FUNCTION FLUSH only supports SYNC|ASYNC option",
        ));
    }
    // No functions can exist yet (there is no FUNCTION LOAD), so there is nothing to flush.
    ctx.out.ok();
    Ok(())
}
