//! The command table: every command the engine knows, with its arity, flags, key positions and
//! documentation. Dispatch, COMMAND COUNT/INFO/DOCS/LIST and INFO commandstats all read it, so a
//! command exists exactly when it is listed here (like Redis's `commands.def`).

use std::collections::HashMap;
use std::sync::OnceLock;

use super::flags::*;
#[allow(unused_imports)] // families are being filled in
use super::{
    acl, connection, generic, hash, server, set, stream, string, transaction, zset, CmdError,
    CmdResult, CommandSpec, Ctx, Group,
};

/// Builds one table entry. Arguments: name, arity, flags, (first key, last key, step), group,
/// since, summary, complexity, handler[, container = subcommands] — or, for a container that
/// only dispatches, `container = subcommands` in place of the handler.
macro_rules! cmd {
    // `container = ...` after a handler: a container that also runs on its own when called
    // without a subcommand (COMMAND).
    ($name:literal, $arity:expr, $flags:expr, ($f:expr, $l:expr, $s:expr), $group:ident, $since:literal, $summary:literal, $complexity:literal, $handler:path $(, container = $subs:expr)?) => {
        CommandSpec {
            name: $name,
            arity: $arity,
            flags: $flags,
            first_key: $f,
            last_key: $l,
            step: $s,
            group: Group::$group,
            since: $since,
            summary: $summary,
            complexity: $complexity,
            handler: $handler,
            subcommands: cmd!(@subcommands $($subs)?),
        }
    };
    ($name:literal, $arity:expr, $flags:expr, ($f:expr, $l:expr, $s:expr), $group:ident, $since:literal, $summary:literal, $complexity:literal, container = $subs:expr) => {
        cmd!(
            $name,
            $arity,
            $flags,
            ($f, $l, $s),
            $group,
            $since,
            $summary,
            $complexity,
            container,
            container = $subs
        )
    };
    (@subcommands) => {
        &[]
    };
    (@subcommands $subs:expr) => {
        $subs
    };
}

/// Container commands (CONFIG, CLIENT, ...) dispatch to a subcommand; this never runs (their
/// arity rejects a call without one).
fn container(_ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    Err(CmdError::msg(
        "ERR container command called without a subcommand",
    ))
}

pub static COMMANDS: &[CommandSpec] = &[
    // --- connection ---------------------------------------------------------------------------
    cmd!("ping", -1, FAST | SENTINEL, (0, 0, 0), Connection, "1.0.0", "Returns the server's liveliness response.", "O(1)", connection::ping),
    cmd!("echo", 2, LOADING | STALE | FAST, (0, 0, 0), Connection, "1.0.0", "Returns the given string.", "O(1)", connection::echo),
    cmd!("hello", -1, NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | SENTINEL | ALLOW_BUSY, (0, 0, 0), Connection, "6.0.0", "Handshakes with the Redis server.", "O(1)", connection::hello),
    cmd!("auth", -2, NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | SENTINEL | ALLOW_BUSY, (0, 0, 0), Connection, "1.0.0", "Authenticates the connection.", "O(N) where N is the number of passwords defined for the user", connection::auth),
    cmd!("quit", -1, ALLOW_BUSY | NOSCRIPT | LOADING | STALE | FAST | NO_AUTH, (0, 0, 0), Connection, "1.0.0", "Closes the connection.", "O(1)", connection::quit),
    cmd!("reset", 1, NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY, (0, 0, 0), Connection, "6.2.0", "Resets the connection.", "O(1)", connection::reset),
    cmd!("select", 2, LOADING | STALE | FAST, (0, 0, 0), Connection, "1.0.0", "Changes the selected database.", "O(1)", generic::select),
    cmd!("client", -2, SENTINEL, (0, 0, 0), Connection, "2.4.0", "A container for client connection commands.", "Depends on subcommand.", container = &[
        cmd!("id", 2, NOSCRIPT | LOADING | STALE, (0, 0, 0), Connection, "5.0.0", "Returns the unique client ID of the connection.", "O(1)", connection::client_id),
        cmd!("setname", 3, NOSCRIPT | LOADING | STALE, (0, 0, 0), Connection, "2.6.9", "Sets the connection name.", "O(1)", connection::client_setname),
        cmd!("getname", 2, NOSCRIPT | LOADING | STALE, (0, 0, 0), Connection, "2.6.9", "Returns the name of the connection.", "O(1)", connection::client_getname),
        cmd!("setinfo", 4, NOSCRIPT | LOADING | STALE | SENTINEL, (0, 0, 0), Connection, "7.2.0", "Sets information specific to the client or connection.", "O(1)", connection::client_setinfo),
        cmd!("list", -2, ADMIN | NOSCRIPT | LOADING | STALE, (0, 0, 0), Connection, "2.4.0", "Lists open connections.", "O(N) where N is the number of client connections", connection::client_list),
        cmd!("info", 2, NOSCRIPT | LOADING | STALE, (0, 0, 0), Connection, "6.2.0", "Returns information about the connection.", "O(1)", connection::client_info),
        cmd!("kill", -3, ADMIN | NOSCRIPT | LOADING | STALE, (0, 0, 0), Connection, "2.4.0", "Terminates open connections.", "O(N) where N is the number of client connections", connection::client_kill),
        cmd!("no-evict", 3, ADMIN | NOSCRIPT | LOADING | STALE, (0, 0, 0), Connection, "7.0.0", "Sets the client eviction mode of the connection.", "O(1)", connection::client_no_evict),
        cmd!("help", 2, LOADING | STALE, (0, 0, 0), Connection, "5.0.0", "Returns helpful text about the different subcommands.", "O(1)", connection::client_help),
        // --- introspection ---
        cmd!("pause", -3, ADMIN | NOSCRIPT | LOADING | STALE, (0, 0, 0), Connection, "3.0.0", "Suspends commands processing.", "O(1)", connection::client_pause),
        cmd!("unpause", 2, ADMIN | NOSCRIPT | LOADING | STALE, (0, 0, 0), Connection, "6.2.0", "Resumes processing commands from paused clients.", "O(N) Where N is the number of paused clients", connection::client_unpause),
        cmd!("reply", 3, NOSCRIPT | LOADING | STALE, (0, 0, 0), Connection, "3.2.0", "Instructs the server whether to reply to commands.", "O(1)", connection::client_reply),
    ]),
    // --- security -----------------------------------------------------------------------------
    cmd!("acl", -2, SENTINEL, (0, 0, 0), Server, "6.0.0", "A container for Access List Control commands.", "Depends on subcommand.", container = &[
        cmd!("cat", -2, NOSCRIPT | LOADING | STALE | SENTINEL, (0, 0, 0), Server, "6.0.0", "Lists the ACL categories, or the commands inside a category.", "O(1) since the categories and commands are a fixed set.", acl::acl_cat),
        cmd!("deluser", -3, ADMIN | NOSCRIPT | LOADING | STALE | SENTINEL, (0, 0, 0), Server, "6.0.0", "Deletes ACL users, and terminates their connections.", "O(1) amortized time considering the typical user.", acl::acl_deluser),
        cmd!("dryrun", -4, ADMIN | NOSCRIPT | LOADING | STALE | SENTINEL, (0, 0, 0), Server, "7.0.0", "Simulates the execution of a command by a user, without executing the command.", "O(1).", acl::acl_dryrun),
        cmd!("genpass", -2, NOSCRIPT | LOADING | STALE | SENTINEL, (0, 0, 0), Server, "6.0.0", "Generates a pseudorandom, secure password that can be used to identify ACL users.", "O(1)", acl::acl_genpass),
        cmd!("getuser", 3, ADMIN | NOSCRIPT | LOADING | STALE | SENTINEL, (0, 0, 0), Server, "6.0.0", "Lists the ACL rules of a user.", "O(N). Where N is the number of password, command and pattern rules that the user has.", acl::acl_getuser),
        cmd!("help", 2, LOADING | STALE | SENTINEL, (0, 0, 0), Server, "6.0.0", "Returns helpful text about the different subcommands.", "O(1)", acl::acl_help),
        cmd!("list", 2, ADMIN | NOSCRIPT | LOADING | STALE | SENTINEL, (0, 0, 0), Server, "6.0.0", "Dumps the effective rules in ACL file format.", "O(N). Where N is the number of configured users.", acl::acl_list),
        cmd!("load", 2, ADMIN | NOSCRIPT | LOADING | STALE | SENTINEL, (0, 0, 0), Server, "6.0.0", "Reloads the rules from the configured ACL file.", "O(N). Where N is the number of configured users.", acl::acl_load),
        cmd!("log", -2, ADMIN | NOSCRIPT | LOADING | STALE | SENTINEL, (0, 0, 0), Server, "6.0.0", "Lists recent security events generated due to commands rejected by ACL rules.", "O(N) with N being the number of entries shown.", acl::acl_log),
        cmd!("save", 2, ADMIN | NOSCRIPT | LOADING | STALE | SENTINEL, (0, 0, 0), Server, "6.0.0", "Saves the effective ACL rules in the configured ACL file.", "O(N). Where N is the number of configured users.", acl::acl_save),
        cmd!("setuser", -3, ADMIN | NOSCRIPT | LOADING | STALE | SENTINEL, (0, 0, 0), Server, "6.0.0", "Creates and modifies an ACL user and its rules.", "O(N). Where N is the number of rules provided.", acl::acl_setuser),
        cmd!("users", 2, ADMIN | NOSCRIPT | LOADING | STALE | SENTINEL, (0, 0, 0), Server, "6.0.0", "Lists all ACL users.", "O(N). Where N is the number of configured users.", acl::acl_users),
        cmd!("whoami", 2, NOSCRIPT | LOADING | STALE | SENTINEL, (0, 0, 0), Server, "6.0.0", "Returns the authenticated username of the current connection.", "O(1)", acl::acl_whoami),
    ]),
    // --- introspection ------------------------------------------------------------------------
    cmd!("slowlog", -2, NO_KEYS_FLAGS, (0, 0, 0), Server, "2.2.12", "A container for slow log commands.", "Depends on subcommand.", container = &[
        cmd!("get", -2, ADMIN | LOADING | STALE, (0, 0, 0), Server, "2.2.12", "Returns the slow log's entries.", "O(N) where N is the number of entries returned", crate::slowlog::slowlog_get),
        cmd!("help", 2, LOADING | STALE, (0, 0, 0), Server, "6.2.0", "Show helpful text about the different subcommands", "O(1)", crate::slowlog::slowlog_help),
        cmd!("len", 2, ADMIN | LOADING | STALE, (0, 0, 0), Server, "2.2.12", "Returns the number of entries in the slow log.", "O(1)", crate::slowlog::slowlog_len),
        cmd!("reset", 2, ADMIN | LOADING | STALE, (0, 0, 0), Server, "2.2.12", "Clears all entries from the slow log.", "O(N) where N is the number of entries in the slowlog", crate::slowlog::slowlog_reset),
    ]),
    cmd!("latency", -2, NO_KEYS_FLAGS, (0, 0, 0), Server, "2.8.13", "A container for latency diagnostics commands.", "Depends on subcommand.", container = &[
        cmd!("help", 2, LOADING | STALE, (0, 0, 0), Server, "2.8.13", "Returns helpful text about the different subcommands.", "O(1)", crate::latency::latency_help),
        cmd!("history", 3, ADMIN | NOSCRIPT | LOADING | STALE, (0, 0, 0), Server, "2.8.13", "Returns timestamp-latency samples for an event.", "O(1)", crate::latency::latency_history),
        cmd!("latest", 2, ADMIN | NOSCRIPT | LOADING | STALE, (0, 0, 0), Server, "2.8.13", "Returns the latest latency samples for all events.", "O(1)", crate::latency::latency_latest),
        cmd!("reset", -2, ADMIN | NOSCRIPT | LOADING | STALE, (0, 0, 0), Server, "2.8.13", "Resets the latency data for one or more events.", "O(1)", crate::latency::latency_reset),
    ]),
    // --- server -------------------------------------------------------------------------------
    cmd!("info", -1, LOADING | STALE | SENTINEL, (0, 0, 0), Server, "1.0.0", "Returns information and statistics about the server.", "O(1)", super::info::info),
    cmd!("time", 1, LOADING | STALE | FAST, (0, 0, 0), Server, "2.6.0", "Returns the server time.", "O(1)", server::time),
    cmd!("bgrewriteaof", 1, ADMIN | NOSCRIPT | NO_ASYNC_LOADING, (0, 0, 0), Server, "1.0.0", "Asynchronously rewrites the append-only file to disk.", "O(1)", crate::aof::rewrite::bgrewriteaof),
    cmd!("lastsave", 1, LOADING | STALE | FAST, (0, 0, 0), Server, "1.0.0", "Returns the Unix timestamp of the last successful save to disk.", "O(1)", super::persist::lastsave),
    cmd!("shutdown", -1, ADMIN | NOSCRIPT | LOADING | STALE | NO_MULTI | SENTINEL | ALLOW_BUSY, (0, 0, 0), Server, "1.0.0", "Synchronously saves the database(s) to disk and shuts down the Redis server.", "O(N) when saving, where N is the total number of keys in all databases when saving data, otherwise O(1)", super::shutdown::shutdown),
    // --- persistence ---
    cmd!("save", 1, ADMIN | NOSCRIPT | NO_ASYNC_LOADING | NO_MULTI, (0, 0, 0), Server, "1.0.0", "Synchronously saves the database(s) to disk.", "O(N) where N is the total number of keys in all databases", super::persist::save),
    cmd!("bgsave", -1, ADMIN | NOSCRIPT | NO_ASYNC_LOADING, (0, 0, 0), Server, "1.0.0", "Asynchronously saves the database(s) to disk.", "O(1)", super::persist::bgsave),
    cmd!("dbsize", 1, READONLY | FAST, (0, 0, 0), Server, "1.0.0", "Returns the number of keys in the database.", "O(1)", generic::dbsize),
    cmd!("flushdb", -1, WRITE, (0, 0, 0), Server, "1.0.0", "Removes all keys from the current database.", "O(N) where N is the number of keys in the selected database", generic::flushdb),
    cmd!("flushall", -1, WRITE, (0, 0, 0), Server, "1.0.0", "Removes all keys from all databases.", "O(N) where N is the total number of keys in all databases", generic::flushall),
    cmd!("swapdb", 3, WRITE | FAST, (0, 0, 0), Server, "4.0.0", "Swaps two Redis databases.", "O(N) where N is the count of clients watching or blocking on keys from both databases.", generic::swapdb),
    cmd!("debug", -2, ADMIN | NOSCRIPT | LOADING | STALE, (0, 0, 0), Server, "1.0.0", "A container for debugging commands.", "Depends on subcommand.", super::debug::debug),
    cmd!("config", -2, NO_KEYS_FLAGS, (0, 0, 0), Server, "2.0.0", "A container for server configuration commands.", "Depends on subcommand.", container = &[
        cmd!("get", -3, ADMIN | NOSCRIPT | LOADING | STALE, (0, 0, 0), Server, "2.0.0", "Returns the effective values of configuration parameters.", "O(N) when N is the number of configuration parameters provided", super::config::config_get),
        cmd!("set", -4, ADMIN | NOSCRIPT | LOADING | STALE, (0, 0, 0), Server, "2.0.0", "Sets configuration parameters in-flight.", "O(N) when N is the number of configuration parameters provided", super::config::config_set),
        cmd!("resetstat", 2, ADMIN | NOSCRIPT | LOADING | STALE, (0, 0, 0), Server, "2.0.0", "Resets the server's statistics.", "O(1)", super::config::config_resetstat),
        cmd!("help", 2, LOADING | STALE, (0, 0, 0), Server, "5.0.0", "Returns helpful text about the different subcommands.", "O(1)", super::config::config_help),
    ]),
    cmd!("command", -1, LOADING | STALE | SENTINEL, (0, 0, 0), Server, "2.8.13", "Returns detailed information about all commands.", "O(N) where N is the total number of Redis commands", super::command::command, container = &[
        cmd!("count", 2, LOADING | STALE | SENTINEL, (0, 0, 0), Server, "2.8.13", "Returns a count of commands.", "O(1)", super::command::command_count),
        cmd!("docs", -2, LOADING | STALE | SENTINEL, (0, 0, 0), Server, "7.0.0", "Returns documentary information about one, multiple or all commands.", "O(N) where N is the number of commands to look up", super::command::command_docs),
        cmd!("getkeys", -4, LOADING | STALE | SENTINEL, (0, 0, 0), Server, "2.8.13", "Extracts the key names from an arbitrary command.", "O(N) where N is the number of arguments to the command", super::command::command_getkeys),
        cmd!("getkeysandflags", -4, LOADING | STALE | SENTINEL, (0, 0, 0), Server, "7.0.0", "Extracts the key names and access flags for an arbitrary command.", "O(N) where N is the number of arguments to the command", super::command::command_getkeysandflags),
        cmd!("help", 2, LOADING | STALE | SENTINEL, (0, 0, 0), Server, "5.0.0", "Returns helpful text about the different subcommands.", "O(1)", super::command::command_help),
        cmd!("info", -2, LOADING | STALE | SENTINEL, (0, 0, 0), Server, "2.8.13", "Returns information about one, multiple or all commands.", "O(N) where N is the number of commands to look up", super::command::command_info),
        cmd!("list", -2, LOADING | STALE | SENTINEL, (0, 0, 0), Server, "7.0.0", "Returns a list of command names.", "O(N) where N is the total number of Redis commands", super::command::command_list),
    ]),
    // --- scripting (scripting.rs, crate::scripting) ---
    cmd!("eval", -3, NOSCRIPT | STALE | SKIP_MONITOR | NO_MANDATORY_KEYS | MOVABLE_KEYS, (0, 0, 0), Scripting, "2.6.0", "Execute a Lua script server side", "Depends on the script that is executed.", super::scripting::eval),
    cmd!("eval_ro", -3, READONLY | NOSCRIPT | STALE | SKIP_MONITOR | NO_MANDATORY_KEYS | MOVABLE_KEYS, (0, 0, 0), Scripting, "7.0.0", "Execute a read-only Lua script server side", "Depends on the script that is executed.", super::scripting::eval_ro),
    cmd!("evalsha", -3, NOSCRIPT | STALE | SKIP_MONITOR | NO_MANDATORY_KEYS | MOVABLE_KEYS, (0, 0, 0), Scripting, "2.6.0", "Execute a Lua script server side", "Depends on the script that is executed.", super::scripting::evalsha),
    cmd!("evalsha_ro", -3, READONLY | NOSCRIPT | STALE | SKIP_MONITOR | NO_MANDATORY_KEYS | MOVABLE_KEYS, (0, 0, 0), Scripting, "7.0.0", "Execute a read-only Lua script server side", "Depends on the script that is executed.", super::scripting::evalsha_ro),
    cmd!("script", -2, NO_KEYS_FLAGS, (0, 0, 0), Scripting, "2.6.0", "A container for Lua scripts management commands", "Depends on subcommand.", container = &[
        cmd!("exists", -3, NOSCRIPT, (0, 0, 0), Scripting, "2.6.0", "Check existence of scripts in the script cache.", "O(N) with N being the number of scripts to check (so checking a single script is an O(1) operation).", super::scripting::script_exists),
        cmd!("flush", -2, NOSCRIPT, (0, 0, 0), Scripting, "2.6.0", "Remove all the scripts from the script cache.", "O(N) with N being the number of scripts in cache", super::scripting::script_flush),
        cmd!("help", 2, LOADING | STALE, (0, 0, 0), Scripting, "5.0.0", "Show helpful text about the different subcommands", "O(1)", super::scripting::script_help),
        cmd!("load", 3, NOSCRIPT | STALE, (0, 0, 0), Scripting, "2.6.0", "Load the specified Lua script into the script cache.", "O(N) with N being the length in bytes of the script body.", super::scripting::script_load),
    ]),
    cmd!("function", -2, NO_KEYS_FLAGS, (0, 0, 0), Scripting, "7.0.0", "A container for function commands.", "Depends on subcommand.", container = &[
        cmd!("flush", -2, NOSCRIPT | WRITE, (0, 0, 0), Scripting, "7.0.0", "Deletes all libraries and functions.", "O(N) where N is the number of functions deleted", super::function::function_flush),
        cmd!("help", 2, LOADING | STALE, (0, 0, 0), Scripting, "7.0.0", "Returns helpful text about the different subcommands.", "O(1)", super::function::function_help),
    ]),
    cmd!("object", -2, NO_KEYS_FLAGS, (0, 0, 0), Generic, "2.2.3", "A container for object introspection commands.", "Depends on subcommand.", container = &[
        cmd!("encoding", 3, READONLY, (2, 2, 1), Generic, "2.2.3", "Returns the internal encoding of a Redis object.", "O(1)", generic::object_encoding),
        // Memory (evict.rs, lazyfree.rs): OBJECT FREQ.
        cmd!("freq", 3, READONLY, (2, 2, 1), Generic, "4.0.0", "Returns the logarithmic access frequency counter of a Redis object.", "O(1)", super::memory::object_freq),
        cmd!("idletime", 3, READONLY, (2, 2, 1), Generic, "2.2.3", "Returns the time since the last access to a Redis object.", "O(1)", generic::object_idletime),
        cmd!("refcount", 3, READONLY, (2, 2, 1), Generic, "2.2.3", "Returns the reference count of a value of a key.", "O(1)", generic::object_refcount),
        cmd!("help", 2, LOADING | STALE, (0, 0, 0), Generic, "6.2.0", "Returns helpful text about the different subcommands.", "O(1)", generic::object_help),
    ]),
    // Memory (evict.rs, lazyfree.rs, commands/memory.rs): MEMORY.
    cmd!("memory", -2, NO_KEYS_FLAGS, (0, 0, 0), Server, "4.0.0", "A container for memory diagnostics commands.", "Depends on subcommand.", container = &[
        cmd!("doctor", 2, 0, (0, 0, 0), Server, "4.0.0", "Outputs memory problems report.", "O(1)", super::memory::memory_doctor),
        cmd!("help", 2, LOADING | STALE, (0, 0, 0), Server, "4.0.0", "Returns helpful text about the different subcommands.", "O(1)", super::memory::memory_help),
        cmd!("malloc-stats", 2, 0, (0, 0, 0), Server, "4.0.0", "Returns the allocator statistics.", "Depends on how much memory is allocated, could be slow", super::memory::memory_malloc_stats),
        cmd!("purge", 2, 0, (0, 0, 0), Server, "4.0.0", "Asks the allocator to release memory.", "Depends on how much memory is allocated, could be slow", super::memory::memory_purge),
        cmd!("stats", 2, 0, (0, 0, 0), Server, "4.0.0", "Returns details about memory usage.", "O(1)", super::memory::memory_stats),
        cmd!("usage", -3, READONLY, (2, 2, 1), Server, "4.0.0", "Estimates the memory usage of a key.", "O(N) where N is the number of samples.", super::memory::memory_usage),
    ]),
    // --- generic ------------------------------------------------------------------------------
    cmd!("del", -2, WRITE, (1, -1, 1), Generic, "1.0.0", "Deletes one or more keys.", "O(N) where N is the number of keys that will be removed.", generic::del),
    cmd!("unlink", -2, WRITE | FAST, (1, -1, 1), Generic, "4.0.0", "Asynchronously deletes one or more keys.", "O(1) for each key removed regardless of its size.", super::memory::unlink),
    cmd!("exists", -2, READONLY | FAST, (1, -1, 1), Generic, "1.0.0", "Determines whether one or more keys exist.", "O(N) where N is the number of keys to check.", generic::exists),
    cmd!("touch", -2, READONLY | FAST, (1, -1, 1), Generic, "3.2.1", "Returns the number of existing keys out of those specified after updating the time they were last accessed.", "O(N) where N is the number of keys that will be touched.", generic::touch),
    cmd!("type", 2, READONLY | FAST, (1, 1, 1), Generic, "1.0.0", "Determines the type of value stored at a key.", "O(1)", generic::type_),
    cmd!("expire", -3, WRITE | FAST, (1, 1, 1), Generic, "1.0.0", "Sets the expiration time of a key in seconds.", "O(1)", generic::expire),
    cmd!("pexpire", -3, WRITE | FAST, (1, 1, 1), Generic, "2.6.0", "Sets the expiration time of a key in milliseconds.", "O(1)", generic::pexpire),
    cmd!("expireat", -3, WRITE | FAST, (1, 1, 1), Generic, "1.2.0", "Sets the expiration time of a key to a Unix timestamp.", "O(1)", generic::expireat),
    cmd!("pexpireat", -3, WRITE | FAST, (1, 1, 1), Generic, "2.6.0", "Sets the expiration time of a key to a Unix milliseconds timestamp.", "O(1)", generic::pexpireat),
    cmd!("expiretime", 2, READONLY | FAST, (1, 1, 1), Generic, "7.0.0", "Returns the expiration time of a key as a Unix timestamp.", "O(1)", generic::expiretime),
    cmd!("pexpiretime", 2, READONLY | FAST, (1, 1, 1), Generic, "7.0.0", "Returns the expiration time of a key as a Unix milliseconds timestamp.", "O(1)", generic::pexpiretime),
    cmd!("ttl", 2, READONLY | FAST, (1, 1, 1), Generic, "1.0.0", "Returns the expiration time in seconds of a key.", "O(1)", generic::ttl),
    cmd!("pttl", 2, READONLY | FAST, (1, 1, 1), Generic, "2.6.0", "Returns the expiration time in milliseconds of a key.", "O(1)", generic::pttl),
    cmd!("persist", 2, WRITE | FAST, (1, 1, 1), Generic, "2.2.0", "Removes the expiration time of a key.", "O(1)", generic::persist),
    cmd!("rename", 3, WRITE, (1, 2, 1), Generic, "1.0.0", "Renames a key and overwrites the destination.", "O(1)", generic::rename),
    cmd!("renamenx", 3, WRITE | FAST, (1, 2, 1), Generic, "1.0.0", "Renames a key only when the target key name doesn't exist.", "O(1)", generic::renamenx),
    cmd!("move", 3, WRITE | FAST, (1, 1, 1), Generic, "1.0.0", "Move a key to another database", "O(1)", generic::move_),
    cmd!("copy", -3, WRITE | DENYOOM, (1, 2, 1), Generic, "6.2.0", "Copy a key", "O(N) worst case for collections, where N is the number of nested items. O(1) for string values.", generic::copy),
    cmd!("keys", 2, READONLY, (0, 0, 0), Generic, "1.0.0", "Returns all key names that match a pattern.", "O(N) with N being the number of keys in the database, under the assumption that the key names in the database and the given pattern have limited length.", generic::keys),
    cmd!("scan", -2, READONLY, (0, 0, 0), Generic, "2.8.0", "Iterates over the key names in the database.", "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.", generic::scan),
    cmd!("randomkey", 1, READONLY, (0, 0, 0), Generic, "1.0.0", "Returns a random key name from the database.", "O(1)", generic::randomkey),
    // --- strings ------------------------------------------------------------------------------
    cmd!("get", 2, READONLY | FAST, (1, 1, 1), String, "1.0.0", "Returns the string value of a key.", "O(1)", string::get),
    cmd!("set", -3, WRITE | DENYOOM, (1, 1, 1), String, "1.0.0", "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.", "O(1)", string::set),
    cmd!("setnx", 3, WRITE | DENYOOM | FAST, (1, 1, 1), String, "1.0.0", "Set the string value of a key only when the key doesn't exist.", "O(1)", string::setnx),
    cmd!("setex", 4, WRITE | DENYOOM, (1, 1, 1), String, "2.0.0", "Sets the string value and expiration time of a key. Creates the key if it doesn't exist.", "O(1)", string::setex),
    cmd!("psetex", 4, WRITE | DENYOOM, (1, 1, 1), String, "2.6.0", "Sets both string value and expiration time in milliseconds of a key. The key is created if it doesn't exist.", "O(1)", string::psetex),
    cmd!("getset", 3, WRITE | DENYOOM | FAST, (1, 1, 1), String, "1.0.0", "Returns the previous string value of a key after setting it to a new value.", "O(1)", string::getset),
    cmd!("getdel", 2, WRITE | FAST, (1, 1, 1), String, "6.2.0", "Returns the string value of a key after deleting the key.", "O(1)", string::getdel),
    cmd!("getex", -2, WRITE | FAST, (1, 1, 1), String, "6.2.0", "Returns the string value of a key after setting its expiration time.", "O(1)", string::getex),
    cmd!("mget", -2, READONLY | FAST, (1, -1, 1), String, "1.0.0", "Atomically returns the string values of one or more keys.", "O(N) where N is the number of keys to retrieve.", string::mget),
    cmd!("mset", -3, WRITE | DENYOOM, (1, -1, 2), String, "1.0.1", "Atomically creates or modifies the string values of one or more keys.", "O(N) where N is the number of keys to set.", string::mset),
    cmd!("msetnx", -3, WRITE | DENYOOM, (1, -1, 2), String, "1.0.1", "Atomically modifies the string values of one or more keys only when all keys don't exist.", "O(N) where N is the number of keys to set.", string::msetnx),
    cmd!("incr", 2, WRITE | DENYOOM | FAST, (1, 1, 1), String, "1.0.0", "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.", "O(1)", string::incr),
    cmd!("decr", 2, WRITE | DENYOOM | FAST, (1, 1, 1), String, "1.0.0", "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.", "O(1)", string::decr),
    cmd!("incrby", 3, WRITE | DENYOOM | FAST, (1, 1, 1), String, "1.0.0", "Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist.", "O(1)", string::incrby),
    cmd!("decrby", 3, WRITE | DENYOOM | FAST, (1, 1, 1), String, "1.0.0", "Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist.", "O(1)", string::decrby),
    cmd!("incrbyfloat", 3, WRITE | DENYOOM | FAST, (1, 1, 1), String, "2.6.0", "Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn't exist.", "O(1)", string::incrbyfloat),
    cmd!("append", 3, WRITE | DENYOOM | FAST, (1, 1, 1), String, "2.0.0", "Appends a string to the value of a key. Creates the key if it doesn't exist.", "O(1). The amortized time complexity is O(1) assuming the appended value is small and the already present value is of any size, since the dynamic string library used by Redis will double the free space available on every reallocation.", string::append),
    cmd!("strlen", 2, READONLY | FAST, (1, 1, 1), String, "2.2.0", "Returns the length of a string value.", "O(1)", string::strlen),
    cmd!("setbit", 4, WRITE | DENYOOM, (1, 1, 1), Bitmap, "2.2.0", "Sets or clears the bit at offset in the string value stored at key", "O(1)", string::setbit),
    cmd!("getbit", 3, READONLY | FAST, (1, 1, 1), Bitmap, "2.2.0", "Returns the bit value at offset in the string value stored at key", "O(1)", string::getbit),
    cmd!("lcs", -3, READONLY, (1, 2, 1), String, "7.0.0", "Find longest common substring", "O(N*M) where N and M are the lengths of s1 and s2, respectively", string::lcs),
    cmd!("getrange", 4, READONLY, (1, 1, 1), String, "2.4.0", "Returns a substring of the string stored at a key.", "O(N) where N is the length of the returned string. The complexity is ultimately determined by the returned length, but because creating a substring from an existing string is very cheap, it can be considered O(1) for small strings.", string::getrange),
    cmd!("substr", 4, READONLY, (1, 1, 1), String, "1.0.0", "Returns a substring from a string value.", "O(N) where N is the length of the returned string. The complexity is ultimately determined by the returned length, but because creating a substring from an existing string is very cheap, it can be considered O(1) for small strings.", string::getrange),
    cmd!("setrange", 4, WRITE | DENYOOM, (1, 1, 1), String, "2.2.0", "Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist.", "O(1), not counting the time taken to copy the new string in place. Usually, this string is very small so the amortized complexity is O(1). Otherwise, complexity is O(M) with M being the length of the value argument.", string::setrange),
    // --- hashes -------------------------------------------------------------------------------
    cmd!("hset", -4, WRITE | DENYOOM | FAST, (1, 1, 1), Hash, "2.0.0", "Set the string value of a hash field", "O(1) for each field/value pair added, so O(N) to add N field/value pairs when the command is called with multiple field/value pairs.", hash::hset),
    cmd!("hsetnx", 4, WRITE | DENYOOM | FAST, (1, 1, 1), Hash, "2.0.0", "Set the value of a hash field, only if the field does not exist", "O(1)", hash::hsetnx),
    cmd!("hget", 3, READONLY | FAST, (1, 1, 1), Hash, "2.0.0", "Get the value of a hash field", "O(1)", hash::hget),
    cmd!("hmget", -3, READONLY | FAST, (1, 1, 1), Hash, "2.0.0", "Get the values of all the given hash fields", "O(N) where N is the number of fields being requested.", hash::hmget),
    cmd!("hmset", -4, WRITE | DENYOOM | FAST, (1, 1, 1), Hash, "2.0.0", "Set multiple hash fields to multiple values", "O(N) where N is the number of fields being set.", hash::hmset),
    cmd!("hgetall", 2, READONLY, (1, 1, 1), Hash, "2.0.0", "Get all the fields and values in a hash", "O(N) where N is the size of the hash.", hash::hgetall),
    cmd!("hdel", -3, WRITE | FAST, (1, 1, 1), Hash, "2.0.0", "Delete one or more hash fields", "O(N) where N is the number of fields to be removed.", hash::hdel),
    cmd!("hexists", 3, READONLY | FAST, (1, 1, 1), Hash, "2.0.0", "Determine if a hash field exists", "O(1)", hash::hexists),
    cmd!("hlen", 2, READONLY | FAST, (1, 1, 1), Hash, "2.0.0", "Get the number of fields in a hash", "O(1)", hash::hlen),
    cmd!("hkeys", 2, READONLY, (1, 1, 1), Hash, "2.0.0", "Get all the fields in a hash", "O(N) where N is the size of the hash.", hash::hkeys),
    cmd!("hvals", 2, READONLY, (1, 1, 1), Hash, "2.0.0", "Get all the values in a hash", "O(N) where N is the size of the hash.", hash::hvals),
    cmd!("hincrby", 4, WRITE | DENYOOM | FAST, (1, 1, 1), Hash, "2.0.0", "Increment the integer value of a hash field by the given number", "O(1)", hash::hincrby),
    cmd!("hincrbyfloat", 4, WRITE | DENYOOM | FAST, (1, 1, 1), Hash, "2.6.0", "Increment the float value of a hash field by the given amount", "O(1)", hash::hincrbyfloat),
    cmd!("hstrlen", 3, READONLY | FAST, (1, 1, 1), Hash, "3.2.0", "Get the length of the value of a hash field", "O(1)", hash::hstrlen),
    cmd!("hscan", -3, READONLY, (1, 1, 1), Hash, "2.8.0", "Incrementally iterate hash fields and associated values", "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection..", hash::hscan),
    cmd!("hrandfield", -2, READONLY, (1, 1, 1), Hash, "6.2.0", "Get one or multiple random fields from a hash", "O(N) where N is the number of fields returned", hash::hrandfield),
    // --- sets ---------------------------------------------------------------------------------
    cmd!("sadd", -3, WRITE | DENYOOM | FAST, (1, 1, 1), Set, "1.0.0", "Add one or more members to a set", "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.", set::sadd),
    cmd!("srem", -3, WRITE | FAST, (1, 1, 1), Set, "1.0.0", "Remove one or more members from a set", "O(N) where N is the number of members to be removed.", set::srem),
    cmd!("smembers", 2, READONLY, (1, 1, 1), Set, "1.0.0", "Get all the members in a set", "O(N) where N is the set cardinality.", set::smembers),
    cmd!("sismember", 3, READONLY | FAST, (1, 1, 1), Set, "1.0.0", "Determine if a given value is a member of a set", "O(1)", set::sismember),
    cmd!("smismember", -3, READONLY | FAST, (1, 1, 1), Set, "6.2.0", "Returns the membership associated with the given elements for a set", "O(N) where N is the number of elements being checked for membership", set::smismember),
    cmd!("scard", 2, READONLY | FAST, (1, 1, 1), Set, "1.0.0", "Get the number of members in a set", "O(1)", set::scard),
    cmd!("spop", -2, WRITE | FAST, (1, 1, 1), Set, "1.0.0", "Remove and return one or multiple random members from a set", "Without the count argument O(1), otherwise O(N) where N is the value of the passed count.", set::spop),
    cmd!("srandmember", -2, READONLY, (1, 1, 1), Set, "1.0.0", "Get one or multiple random members from a set", "Without the count argument O(1), otherwise O(N) where N is the absolute value of the passed count.", set::srandmember),
    cmd!("smove", 4, WRITE | FAST, (1, 2, 1), Set, "1.0.0", "Move a member from one set to another", "O(1)", set::smove),
    cmd!("sinter", -2, READONLY, (1, -1, 1), Set, "1.0.0", "Intersect multiple sets", "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.", set::sinter),
    cmd!("sintercard", -3, READONLY | MOVABLE_KEYS, (0, 0, 0), Set, "7.0.0", "Intersect multiple sets and return the cardinality of the result", "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.", set::sintercard),
    cmd!("sinterstore", -3, WRITE | DENYOOM, (1, -1, 1), Set, "1.0.0", "Intersect multiple sets and store the resulting set in a key", "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.", set::sinterstore),
    cmd!("sunion", -2, READONLY, (1, -1, 1), Set, "1.0.0", "Add multiple sets", "O(N) where N is the total number of elements in all given sets.", set::sunion),
    cmd!("sunionstore", -3, WRITE | DENYOOM, (1, -1, 1), Set, "1.0.0", "Add multiple sets and store the resulting set in a key", "O(N) where N is the total number of elements in all given sets.", set::sunionstore),
    cmd!("sdiff", -2, READONLY, (1, -1, 1), Set, "1.0.0", "Subtract multiple sets", "O(N) where N is the total number of elements in all given sets.", set::sdiff),
    cmd!("sdiffstore", -3, WRITE | DENYOOM, (1, -1, 1), Set, "1.0.0", "Subtract multiple sets and store the resulting set in a key", "O(N) where N is the total number of elements in all given sets.", set::sdiffstore),
    cmd!("sscan", -3, READONLY, (1, 1, 1), Set, "2.8.0", "Incrementally iterate Set elements", "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection..", set::sscan),
    // --- sorted sets --------------------------------------------------------------------------
    cmd!("zadd", -4, WRITE | DENYOOM | FAST, (1, 1, 1), SortedSet, "1.2.0", "Add one or more members to a sorted set, or update its score if it already exists", "O(log(N)) for each item added, where N is the number of elements in the sorted set.", zset::zadd),
    cmd!("zincrby", 4, WRITE | DENYOOM | FAST, (1, 1, 1), SortedSet, "1.2.0", "Increment the score of a member in a sorted set", "O(log(N)) where N is the number of elements in the sorted set.", zset::zincrby),
    cmd!("zrem", -3, WRITE | FAST, (1, 1, 1), SortedSet, "1.2.0", "Remove one or more members from a sorted set", "O(M*log(N)) with N being the number of elements in the sorted set and M the number of elements to be removed.", zset::zrem),
    cmd!("zcard", 2, READONLY | FAST, (1, 1, 1), SortedSet, "1.2.0", "Get the number of members in a sorted set", "O(1)", zset::zcard),
    cmd!("zscore", 3, READONLY | FAST, (1, 1, 1), SortedSet, "1.2.0", "Get the score associated with the given member in a sorted set", "O(1)", zset::zscore),
    cmd!("zmscore", -3, READONLY | FAST, (1, 1, 1), SortedSet, "6.2.0", "Get the score associated with the given members in a sorted set", "O(N) where N is the number of members being requested.", zset::zmscore),
    cmd!("zcount", 4, READONLY | FAST, (1, 1, 1), SortedSet, "2.0.0", "Count the members in a sorted set with scores within the given values", "O(log(N)) with N being the number of elements in the sorted set.", zset::zcount),
    cmd!("zlexcount", 4, READONLY | FAST, (1, 1, 1), SortedSet, "2.8.9", "Count the number of members in a sorted set between a given lexicographical range", "O(log(N)) with N being the number of elements in the sorted set.", zset::zlexcount),
    cmd!("zrank", 3, READONLY | FAST, (1, 1, 1), SortedSet, "2.0.0", "Determine the index of a member in a sorted set", "O(log(N))", zset::zrank),
    cmd!("zrevrank", 3, READONLY | FAST, (1, 1, 1), SortedSet, "2.0.0", "Determine the index of a member in a sorted set, with scores ordered from high to low", "O(log(N))", zset::zrevrank),
    cmd!("zrange", -4, READONLY, (1, 1, 1), SortedSet, "1.2.0", "Return a range of members in a sorted set", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements returned.", zset::zrange),
    cmd!("zrangebyscore", -4, READONLY, (1, 1, 1), SortedSet, "1.0.5", "Return a range of members in a sorted set, by score", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N)).", zset::zrangebyscore),
    cmd!("zrevrangebyscore", -4, READONLY, (1, 1, 1), SortedSet, "2.2.0", "Return a range of members in a sorted set, by score, with scores ordered from high to low", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N)).", zset::zrevrangebyscore),
    cmd!("zrangebylex", -4, READONLY, (1, 1, 1), SortedSet, "2.8.9", "Return a range of members in a sorted set, by lexicographical range", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N)).", zset::zrangebylex),
    cmd!("zrevrangebylex", -4, READONLY, (1, 1, 1), SortedSet, "2.8.9", "Return a range of members in a sorted set, by lexicographical range, ordered from higher to lower strings.", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N)).", zset::zrevrangebylex),
    cmd!("zrangestore", -5, WRITE | DENYOOM, (1, 2, 1), SortedSet, "6.2.0", "Store a range of members from sorted set into another key", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements stored into the destination key.", zset::zrangestore),
    cmd!("zrevrange", -4, READONLY, (1, 1, 1), SortedSet, "1.2.0", "Return a range of members in a sorted set, by index, with scores ordered from high to low", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements returned.", zset::zrevrange),
    cmd!("zremrangebyrank", 4, WRITE, (1, 1, 1), SortedSet, "2.0.0", "Remove all members in a sorted set within the given indexes", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation.", zset::zremrangebyrank),
    cmd!("zremrangebyscore", 4, WRITE, (1, 1, 1), SortedSet, "1.2.0", "Remove all members in a sorted set within the given scores", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation.", zset::zremrangebyscore),
    cmd!("zremrangebylex", 4, WRITE, (1, 1, 1), SortedSet, "2.8.9", "Remove all members in a sorted set between the given lexicographical range", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation.", zset::zremrangebylex),
    cmd!("zpopmin", -2, WRITE | FAST, (1, 1, 1), SortedSet, "5.0.0", "Remove and return members with the lowest scores in a sorted set", "O(log(N)*M) with N being the number of elements in the sorted set, and M being the number of elements popped.", zset::zpopmin),
    cmd!("zpopmax", -2, WRITE | FAST, (1, 1, 1), SortedSet, "5.0.0", "Remove and return members with the highest scores in a sorted set", "O(log(N)*M) with N being the number of elements in the sorted set, and M being the number of elements popped.", zset::zpopmax),
    cmd!("zrandmember", -2, READONLY, (1, 1, 1), SortedSet, "6.2.0", "Get one or multiple random elements from a sorted set", "O(N) where N is the number of elements returned", zset::zrandmember),
    cmd!("zunionstore", -4, WRITE | DENYOOM | MOVABLE_KEYS, (1, 1, 1), SortedSet, "2.0.0", "Add multiple sorted sets and store the resulting sorted set in a new key", "O(N)+O(M log(M)) with N being the sum of the sizes of the input sorted sets, and M being the number of elements in the resulting sorted set.", zset::zunionstore),
    cmd!("zinterstore", -4, WRITE | DENYOOM | MOVABLE_KEYS, (1, 1, 1), SortedSet, "2.0.0", "Intersect multiple sorted sets and store the resulting sorted set in a new key", "O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, K being the number of input sorted sets and M being the number of elements in the resulting sorted set.", zset::zinterstore),
    cmd!("zdiffstore", -4, WRITE | DENYOOM | MOVABLE_KEYS, (1, 1, 1), SortedSet, "6.2.0", "Subtract multiple sorted sets and store the resulting sorted set in a new key", "O(L + (N-K)log(N)) worst case where L is the total number of elements in all the sets, N is the size of the first set, and K is the size of the result set.", zset::zdiffstore),
    cmd!("zunion", -3, READONLY | MOVABLE_KEYS, (0, 0, 0), SortedSet, "6.2.0", "Add multiple sorted sets", "O(N)+O(M*log(M)) with N being the sum of the sizes of the input sorted sets, and M being the number of elements in the resulting sorted set.", zset::zunion),
    cmd!("zinter", -3, READONLY | MOVABLE_KEYS, (0, 0, 0), SortedSet, "6.2.0", "Intersect multiple sorted sets", "O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, K being the number of input sorted sets and M being the number of elements in the resulting sorted set.", zset::zinter),
    cmd!("zdiff", -3, READONLY | MOVABLE_KEYS, (0, 0, 0), SortedSet, "6.2.0", "Subtract multiple sorted sets", "O(L + (N-K)log(N)) worst case where L is the total number of elements in all the sets, N is the size of the first set, and K is the size of the result set.", zset::zdiff),
    cmd!("zintercard", -3, READONLY | MOVABLE_KEYS, (0, 0, 0), SortedSet, "7.0.0", "Intersect multiple sorted sets and return the cardinality of the result", "O(N*K) worst case with N being the smallest input sorted set, K being the number of input sorted sets.", zset::zintercard),
    cmd!("zscan", -3, READONLY, (1, 1, 1), SortedSet, "2.8.0", "Incrementally iterate sorted sets elements and associated scores", "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection..", zset::zscan),
    // --- lists --------------------------------------------------------------------------------
    // (non-blocking list commands: see commands/list.rs; handlers by path, the `use` line is shared)
    cmd!("lpush", -3, WRITE | DENYOOM | FAST, (1, 1, 1), List, "1.0.0", "Prepend one or multiple elements to a list", "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.", super::list::lpush),
    cmd!("rpush", -3, WRITE | DENYOOM | FAST, (1, 1, 1), List, "1.0.0", "Append one or multiple elements to a list", "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.", super::list::rpush),
    cmd!("lpushx", -3, WRITE | DENYOOM | FAST, (1, 1, 1), List, "2.2.0", "Prepend an element to a list, only if the list exists", "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.", super::list::lpushx),
    cmd!("rpushx", -3, WRITE | DENYOOM | FAST, (1, 1, 1), List, "2.2.0", "Append an element to a list, only if the list exists", "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.", super::list::rpushx),
    cmd!("lpop", -2, WRITE | FAST, (1, 1, 1), List, "1.0.0", "Remove and get the first elements in a list", "O(N) where N is the number of elements returned", super::list::lpop),
    cmd!("rpop", -2, WRITE | FAST, (1, 1, 1), List, "1.0.0", "Remove and get the last elements in a list", "O(N) where N is the number of elements returned", super::list::rpop),
    cmd!("llen", 2, READONLY | FAST, (1, 1, 1), List, "1.0.0", "Get the length of a list", "O(1)", super::list::llen),
    cmd!("lrange", 4, READONLY, (1, 1, 1), List, "1.0.0", "Get a range of elements from a list", "O(S+N) where S is the distance of start offset from HEAD for small lists, from nearest end (HEAD or TAIL) for large lists; and N is the number of elements in the specified range.", super::list::lrange),
    cmd!("lindex", 3, READONLY, (1, 1, 1), List, "1.0.0", "Get an element from a list by its index", "O(N) where N is the number of elements to traverse to get to the element at index. This makes asking for the first or the last element of the list O(1).", super::list::lindex),
    cmd!("lset", 4, WRITE | DENYOOM, (1, 1, 1), List, "1.0.0", "Set the value of an element in a list by its index", "O(N) where N is the length of the list. Setting either the first or the last element of the list is O(1).", super::list::lset),
    cmd!("linsert", 5, WRITE | DENYOOM, (1, 1, 1), List, "2.2.0", "Insert an element before or after another element in a list", "O(N) where N is the number of elements to traverse before seeing the value pivot. This means that inserting somewhere on the left end on the list (head) can be considered O(1) and inserting somewhere on the right end (tail) is O(N).", super::list::linsert),
    cmd!("lrem", 4, WRITE, (1, 1, 1), List, "1.0.0", "Remove elements from a list", "O(N+M) where N is the length of the list and M is the number of elements removed.", super::list::lrem),
    cmd!("ltrim", 4, WRITE, (1, 1, 1), List, "1.0.0", "Trim a list to the specified range", "O(N) where N is the number of elements to be removed by the operation.", super::list::ltrim),
    cmd!("lpos", -3, READONLY, (1, 1, 1), List, "6.0.6", "Return the index of matching elements on a list", "O(N) where N is the number of elements in the list, for the average case. When searching for elements near the head or the tail of the list, or when the MAXLEN option is provided, the command may run in constant time.", super::list::lpos),
    cmd!("lmove", 5, WRITE | DENYOOM, (1, 2, 1), List, "6.2.0", "Pop an element from a list, push it to another list and return it", "O(1)", super::list::lmove),
    cmd!("rpoplpush", 3, WRITE | DENYOOM, (1, 2, 1), List, "1.2.0", "Remove the last element in a list, prepend it to another list and return it", "O(1)", super::list::rpoplpush),
    cmd!("lmpop", -4, WRITE | MOVABLE_KEYS, (0, 0, 0), List, "7.0.0", "Pop elements from a list", "O(N+M) where N is the number of provided keys and M is the number of elements returned.", super::list::lmpop),
    cmd!("blpop", -3, WRITE | NOSCRIPT | BLOCKING, (1, -2, 1), List, "2.0.0", "Remove and get the first element in a list, or block until one is available", "O(N) where N is the number of provided keys.", super::list::blpop),
    cmd!("brpop", -3, WRITE | NOSCRIPT | BLOCKING, (1, -2, 1), List, "2.0.0", "Remove and get the last element in a list, or block until one is available", "O(N) where N is the number of provided keys.", super::list::brpop),
    cmd!("brpoplpush", 4, WRITE | DENYOOM | NOSCRIPT | BLOCKING, (1, 2, 1), List, "2.2.0", "Pop an element from a list, push it to another list and return it; or block until one is available", "O(1)", super::list::brpoplpush),
    cmd!("blmove", 6, WRITE | DENYOOM | NOSCRIPT | BLOCKING, (1, 2, 1), List, "6.2.0", "Pop an element from a list, push it to another list and return it; or block until one is available", "O(1)", super::list::blmove),
    cmd!("blmpop", -5, WRITE | BLOCKING | MOVABLE_KEYS, (0, 0, 0), List, "7.0.0", "Pop elements from a list, or block until one is available", "O(N+M) where N is the number of provided keys and M is the number of elements returned.", super::list::blmpop),
    // --- streams ------------------------------------------------------------------------------
    // (see commands/stream.rs; consumer groups: commands/stream_group.rs)
    cmd!("xadd", -5, WRITE | DENYOOM | FAST, (1, 1, 1), Stream, "5.0.0", "Appends a new entry to a stream", "O(1) when adding a new entry, O(N) when trimming where N being the number of entries evicted.", stream::xadd),
    cmd!("xlen", 2, READONLY | FAST, (1, 1, 1), Stream, "5.0.0", "Return the number of entries in a stream", "O(1)", stream::xlen),
    cmd!("xrange", -4, READONLY, (1, 1, 1), Stream, "5.0.0", "Return a range of elements in a stream, with IDs matching the specified IDs interval", "O(N) with N being the number of elements being returned. If N is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1).", stream::xrange),
    cmd!("xrevrange", -4, READONLY, (1, 1, 1), Stream, "5.0.0", "Return a range of elements in a stream, with IDs matching the specified IDs interval, in reverse order (from greater to smaller IDs) compared to XRANGE", "O(N) with N being the number of elements returned. If N is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1).", stream::xrevrange),
    cmd!("xdel", -3, WRITE | FAST, (1, 1, 1), Stream, "5.0.0", "Removes the specified entries from the stream. Returns the number of items actually deleted, that may be different from the number of IDs passed in case certain IDs do not exist.", "O(1) for each single item to delete in the stream, regardless of the stream size.", stream::xdel),
    cmd!("xtrim", -4, WRITE, (1, 1, 1), Stream, "5.0.0", "Trims the stream to (approximately if '~' is passed) a certain size", "O(N), with N being the number of evicted entries. Constant times are very small however, since entries are organized in macro nodes containing multiple entries that can be released with a single deallocation.", stream::xtrim),
    cmd!("xinfo", -2, NO_KEYS_FLAGS, (0, 0, 0), Stream, "5.0.0", "A container for stream introspection commands", "Depends on subcommand.", container = &[
        cmd!("stream", -3, READONLY, (2, 2, 1), Stream, "5.0.0", "Get information about a stream", "O(1)", stream::xinfo_stream),
        cmd!("help", 2, LOADING | STALE, (0, 0, 0), Stream, "5.0.0", "Show helpful text about the different subcommands", "O(1)", stream::xinfo_help),
        cmd!("groups", 3, READONLY, (2, 2, 1), Stream, "5.0.0", "List the consumer groups of a stream", "O(1)", super::stream_group::xinfo_groups),
        cmd!("consumers", 4, READONLY, (2, 2, 1), Stream, "5.0.0", "List the consumers in a consumer group", "O(1)", super::stream_group::xinfo_consumers),
    ]),
    cmd!("xgroup", -2, NO_KEYS_FLAGS, (0, 0, 0), Stream, "5.0.0", "A container for consumer groups commands", "Depends on subcommand.", container = &[
        cmd!("create", -5, WRITE | DENYOOM, (2, 2, 1), Stream, "5.0.0", "Create a consumer group.", "O(1)", super::stream_group::xgroup),
        cmd!("setid", -5, WRITE, (2, 2, 1), Stream, "5.0.0", "Set a consumer group to an arbitrary last delivered ID value.", "O(1)", super::stream_group::xgroup),
        cmd!("destroy", 4, WRITE, (2, 2, 1), Stream, "5.0.0", "Destroy a consumer group.", "O(N) where N is the number of entries in the group's pending entries list (PEL).", super::stream_group::xgroup),
        cmd!("createconsumer", 5, WRITE | DENYOOM, (2, 2, 1), Stream, "6.2.0", "Create a consumer in a consumer group.", "O(1)", super::stream_group::xgroup),
        cmd!("delconsumer", 5, WRITE, (2, 2, 1), Stream, "5.0.0", "Delete a consumer from a consumer group.", "O(1)", super::stream_group::xgroup),
        cmd!("help", 2, LOADING | STALE, (0, 0, 0), Stream, "5.0.0", "Show helpful text about the different subcommands", "O(1)", super::stream_group::xgroup_help),
    ]),
    cmd!("xread", -4, READONLY | BLOCKING | MOVABLE_KEYS, (0, 0, 0), Stream, "5.0.0", "Return never seen elements in multiple streams, with IDs greater than the ones reported by the caller for each stream. Can block.", "For each stream mentioned: O(N) with N being the number of elements being returned, it means that XREAD-ing with a fixed COUNT is O(1). Note that when the BLOCK option is used, XADD will pay O(M) time in order to serve the M clients blocked on the stream getting new data.", stream::xread),
    cmd!("xreadgroup", -7, WRITE | BLOCKING | MOVABLE_KEYS, (0, 0, 0), Stream, "5.0.0", "Return new entries from a stream using a consumer group, or access the history of the pending entries for a given consumer. Can block.", "For each stream mentioned: O(M) with M being the number of elements returned. If M is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1). On the other side when XREADGROUP blocks, XADD will pay the O(N) time in order to serve the N clients blocked on the stream getting new data.", super::stream_group::xreadgroup),
    cmd!("xack", -4, WRITE | FAST, (1, 1, 1), Stream, "5.0.0", "Marks a pending message as correctly processed, effectively removing it from the pending entries list of the consumer group. Return value of the command is the number of messages successfully acknowledged, that is, the IDs we were actually able to resolve in the PEL.", "O(1) for each message ID processed.", super::stream_group::xack),
    cmd!("xpending", -3, READONLY, (1, 1, 1), Stream, "5.0.0", "Return information and entries from a stream consumer group pending entries list, that are messages fetched but never acknowledged.", "O(N) with N being the number of elements returned, so asking for a small fixed number of entries per call is O(1). O(M), where M is the total number of entries scanned when used with the IDLE filter. When the command returns just the summary and the list of consumers is small, it runs in O(1) time; otherwise, an additional O(N) time for iterating every consumer.", super::stream_group::xpending),
    cmd!("xclaim", -6, WRITE | FAST, (1, 1, 1), Stream, "5.0.0", "Changes (or acquires) ownership of a message in a consumer group, as if the message was delivered to the specified consumer.", "O(log N) with N being the number of messages in the PEL of the consumer group.", super::stream_group::xclaim),
    cmd!("xautoclaim", -6, WRITE | FAST, (1, 1, 1), Stream, "6.2.0", "Changes (or acquires) ownership of messages in a consumer group, as if the messages were delivered to the specified consumer.", "O(1) if COUNT is small.", super::stream_group::xautoclaim),
    cmd!("xsetid", -3, WRITE | DENYOOM | FAST, (1, 1, 1), Stream, "5.0.0", "An internal command for replicating stream values", "O(1)", stream::xsetid),
    // --- pub/sub (commands/pubsub.rs, pubsub.rs) ------------------------------------------------
    cmd!("subscribe", -2, PUBSUB | NOSCRIPT | LOADING | STALE, (0, 0, 0), PubSub, "2.0.0", "Listen for messages published to the given channels", "O(N) where N is the number of channels to subscribe to.", super::pubsub::subscribe),
    cmd!("unsubscribe", -1, PUBSUB | NOSCRIPT | LOADING | STALE, (0, 0, 0), PubSub, "2.0.0", "Stop listening for messages posted to the given channels", "O(N) where N is the number of clients already subscribed to a channel.", super::pubsub::unsubscribe),
    cmd!("psubscribe", -2, PUBSUB | NOSCRIPT | LOADING | STALE, (0, 0, 0), PubSub, "2.0.0", "Listen for messages published to channels matching the given patterns", "O(N) where N is the number of patterns the client is already subscribed to.", super::pubsub::psubscribe),
    cmd!("punsubscribe", -1, PUBSUB | NOSCRIPT | LOADING | STALE, (0, 0, 0), PubSub, "2.0.0", "Stop listening for messages posted to channels matching the given patterns", "O(N+M) where N is the number of patterns the client is already subscribed and M is the number of total patterns subscribed in the system (by any client).", super::pubsub::punsubscribe),
    cmd!("publish", 3, PUBSUB | LOADING | STALE | FAST, (0, 0, 0), PubSub, "2.0.0", "Post a message to a channel", "O(N+M) where N is the number of clients subscribed to the receiving channel and M is the total number of subscribed patterns (by any client).", super::pubsub::publish),
    cmd!("pubsub", -2, NO_KEYS_FLAGS, (0, 0, 0), PubSub, "2.8.0", "A container for Pub/Sub commands", "Depends on subcommand.", container = &[
        cmd!("numpat", 2, PUBSUB | LOADING | STALE, (0, 0, 0), PubSub, "2.8.0", "Get the count of unique patterns pattern subscriptions", "O(1)", super::pubsub::pubsub_numpat),
        cmd!("help", 2, LOADING | STALE, (0, 0, 0), PubSub, "6.2.0", "Show helpful text about the different subcommands", "O(1)", super::pubsub::pubsub_help),
        cmd!("channels", -2, PUBSUB | LOADING | STALE, (0, 0, 0), PubSub, "2.8.0", "List active channels", "O(N) where N is the number of active channels, and assuming constant time pattern matching (relatively short channels and patterns)", super::pubsub::pubsub_channels),
        cmd!("numsub", -2, PUBSUB | LOADING | STALE, (0, 0, 0), PubSub, "2.8.0", "Get the count of subscribers for channels", "O(N) for the NUMSUB subcommand, where N is the number of requested channels", super::pubsub::pubsub_numsub),
    ]),
    // --- transactions (commands/transaction.rs, multi.rs) --------------------------------------
    cmd!("multi", 1, NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY, (0, 0, 0), Transactions, "1.2.0", "Mark the start of a transaction block", "O(1)", transaction::multi),
    cmd!("exec", 1, NOSCRIPT | LOADING | STALE | SKIP_SLOWLOG, (0, 0, 0), Transactions, "1.2.0", "Execute all commands issued after MULTI", "Depends on commands in the transaction", transaction::exec),
    cmd!("discard", 1, NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY, (0, 0, 0), Transactions, "2.0.0", "Discard all commands issued after MULTI", "O(N), when N is the number of queued commands", transaction::discard),
    cmd!("watch", -2, NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY, (1, -1, 1), Transactions, "2.2.0", "Watch the given keys to determine execution of the MULTI/EXEC block", "O(1) for every key.", transaction::watch),
    cmd!("unwatch", 1, NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY, (0, 0, 0), Transactions, "2.2.0", "Forget about all watched keys", "O(1)", transaction::unwatch),
];

/// Flags of container commands, which carry none themselves.
const NO_KEYS_FLAGS: u32 = 0;

struct Index {
    by_name: HashMap<Vec<u8>, usize, ahash::RandomState>,
    /// First stats slot of each command; its subcommands follow it.
    stat_base: Vec<usize>,
    stat_names: Vec<String>,
}

fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut by_name = HashMap::default();
        let mut stat_base = Vec::new();
        let mut stat_names = Vec::new();
        for (i, spec) in COMMANDS.iter().enumerate() {
            by_name.insert(spec.name.as_bytes().to_vec(), i);
            stat_base.push(stat_names.len());
            stat_names.push(spec.name.to_string());
            for sub in spec.subcommands {
                stat_names.push(format!("{}|{}", spec.name, sub.name));
            }
        }
        Index {
            by_name,
            stat_base,
            stat_names,
        }
    })
}

/// Finds a command by name, in any case, without allocating for names up to 32 bytes.
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    let idx = index();
    let mut buf = [0u8; 32];
    let i = if name.len() <= buf.len() {
        let lower = &mut buf[..name.len()];
        lower.copy_from_slice(name);
        lower.make_ascii_lowercase();
        idx.by_name.get(&lower[..]).copied()
    } else {
        idx.by_name.get(&name.to_ascii_lowercase()).copied()
    };
    i.map(|i| &COMMANDS[i])
}

/// Number of statistics slots (commands plus subcommands).
pub fn stat_slots() -> usize {
    index().stat_names.len()
}

/// The stats slot of a command or one of its subcommands.
pub fn stat_index(spec: &CommandSpec, sub: Option<&CommandSpec>) -> usize {
    let idx = index();
    // `spec` always points into COMMANDS, so its position is pointer arithmetic, not a lookup.
    let i = (spec as *const CommandSpec as usize - COMMANDS.as_ptr() as usize)
        / std::mem::size_of::<CommandSpec>();
    let base = idx.stat_base[i];
    match sub {
        None => base,
        Some(s) => {
            base + 1
                + spec
                    .subcommands
                    .iter()
                    .position(|x| std::ptr::eq(x, s))
                    .unwrap_or(0)
        }
    }
}

/// The full name of a stats slot (`get`, `config|get`).
pub fn stat_name(slot: usize) -> Option<String> {
    index().stat_names.get(slot).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_lowercase() {
        let mut seen = std::collections::HashSet::new();
        for spec in COMMANDS {
            assert_eq!(spec.name, spec.name.to_ascii_lowercase());
            assert!(seen.insert(spec.name), "duplicate command {}", spec.name);
            assert!(spec.arity != 0, "{} has arity 0", spec.name);
        }
    }

    #[test]
    fn lookup_ignores_case() {
        assert_eq!(lookup(b"GeT").map(|s| s.name), Some("get"));
        assert!(lookup(b"nosuchcommand").is_none());
    }
}
