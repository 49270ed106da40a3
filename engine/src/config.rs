//! Engine configuration: every parameter Redis 7.0 has (so clients and tools that read or set
//! them keep working), parsed from a redis.conf-style file, `--name value` flags, or
//! `CONFIG SET`, with Redis's value syntax, bounds and error texts.
//!
//! Parameters are one table of specs (name, alias, kind, default, flags) so the file parser,
//! CONFIG GET and CONFIG SET all agree; the values the hot path reads are mirrored into typed
//! fields after every change.
//!
//! Honesty rule: a parameter whose feature does not exist in this engine keeps the value that
//! describes what actually happens (`save ""`, `appendonly no`, ...). Setting
//! it to anything else is refused with the reason ([`ParamSpec::only`]), from a file or from
//! CONFIG SET, instead of being accepted and silently ignored. Parameters that only tune a
//! feature that is off (replication, AOF rewrite, TLS ciphers, ...) are stored and reported.
//!
//! What each parameter does here:
//! - Honoured: port, bind, unixsocket(perm), tcp-backlog, tcp-keepalive, timeout, databases,
//!   maxclients, protected-mode, requirepass, proto-max-bulk-len, client-query-buffer-limit,
//!   hz, active-expire-effort, activerehashing, the hash/set/zset/stream encoding limits,
//!   maxmemory, maxmemory-policy/-samples/-eviction-tenacity, lfu-log-factor, lfu-decay-time,
//!   lazyfree-lazy-eviction/-expire/-server-del/-user-del/-user-flush,
//!   latency-tracking(-info-percentiles), enable-debug-command, enable-protected-configs,
//!   slowlog-log-slower-than, slowlog-max-len, latency-monitor-threshold,
//!   client-output-buffer-limit normal (replica and pubsub classes are stored), aclfile,
//!   loglevel/logfile/pidfile (the standalone binary), appendonly, appendfsync,
//!   appendfilename, aof-load-truncated, auto-aof-rewrite-percentage/-min-size (aof/), save,
//!   dbfilename, dir (the RDB file is `dir/dbfilename`; `dir` does not chdir, several engines
//!   share a process), rdbcompression, rdbchecksum (rdb/).
//! - Only the value that describes this engine is accepted (the feature does not exist):
//!   maxmemory-clients 0,
//!   daemonize no, supervised no, syslog-enabled no, cluster-enabled no, replicaof "",
//!   tls-port 0, io-threads 1, activedefrag no, oom-score-adj no,
//!   shutdown-on-sigint/sigterm default.
//! - Stored and reported, inert because their feature is absent or off: repl-*, min-replicas-*,
//!   cluster-*, aof-*, rdb-del-sync-files, rdb-key-save-delay, tls-*,
//!   active-defrag-*, and the process tuning knobs (jemalloc-bg-thread, set-proc-title, ...).
//! - Fixed here although Redis 7 can change them at runtime: port and bind (the listeners are
//!   bound once, when the engine starts).

use std::sync::OnceLock;

use crate::util::{glob_match, parse_i64};

/// How a parameter's value is written and checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Bool,
    /// Integer (`string2ll` syntax) with inclusive bounds.
    Int(i128, i128),
    /// Byte size with `kb`/`mb`/`gb`/`k`/`m`/`g`/`b` suffixes (`memtoull`); reported as bytes.
    Memory(i128, i128),
    /// A byte size or `N%` of maxmemory (stored as -N, as Redis does).
    MemoryOrPercent(i128, i128),
    /// Octal integer (`unixsocketperm`).
    Octal(i128, i128),
    /// One of a fixed set of words (any case; stored lower-case).
    Enum(&'static [&'static str]),
    /// Free text.
    Text,
    /// A file name without directories (`dbfilename`, `appendfilename`).
    BaseName,
    /// A cluster hostname.
    Hostname,
    /// `save <seconds> <changes> ...`.
    Save,
    /// `client-output-buffer-limit <class> <hard> <soft> <seconds> ...`.
    OutputBufferLimit,
    /// `oom-score-adj-values <master> <replica> <bgchild>`.
    OomScoreAdjValues,
    /// `notify-keyspace-events` class characters.
    NotifyEvents,
    /// `bind <addr> ...`.
    Bind,
    /// `replicaof <host> <port>` (or empty).
    ReplicaOf,
    /// `latency-tracking-info-percentiles <p> ...`.
    Percentiles,
    /// `dir`: an existing directory, reported as an absolute path.
    Dir,
}

/// `CONFIG SET` cannot change it.
pub const IMMUTABLE: u8 = 1;
/// `CONFIG SET` may change it only when `enable-protected-configs` allows.
pub const PROTECTED: u8 = 2;
/// Holds a secret (Redis redacts it from logs and SLOWLOG; this engine never logs values).
pub const SENSITIVE: u8 = 4;

pub struct ParamSpec {
    pub name: &'static str,
    pub alias: Option<&'static str>,
    pub kind: Kind,
    pub default: &'static str,
    pub flags: u8,
    /// The only (normalised) value this engine can honour, and why: the feature behind any
    /// other value does not exist here.
    pub only: Option<(&'static str, &'static str)>,
}

impl ParamSpec {
    fn is_multi_arg(&self) -> bool {
        matches!(
            self.kind,
            Kind::Save
                | Kind::OutputBufferLimit
                | Kind::OomScoreAdjValues
                | Kind::Bind
                | Kind::ReplicaOf
                | Kind::Percentiles
        )
    }
}

const fn p(name: &'static str, kind: Kind, default: &'static str) -> ParamSpec {
    ParamSpec {
        name,
        alias: None,
        kind,
        default,
        flags: 0,
        only: None,
    }
}

const fn fixed(name: &'static str, kind: Kind, default: &'static str) -> ParamSpec {
    ParamSpec {
        name,
        alias: None,
        kind,
        default,
        flags: IMMUTABLE,
        only: None,
    }
}

const fn aliased(
    name: &'static str,
    alias: &'static str,
    kind: Kind,
    default: &'static str,
) -> ParamSpec {
    ParamSpec {
        name,
        alias: Some(alias),
        kind,
        default,
        flags: 0,
        only: None,
    }
}

impl ParamSpec {
    const fn flags(mut self, flags: u8) -> Self {
        self.flags |= flags;
        self
    }

    const fn only(mut self, value: &'static str, why: &'static str) -> Self {
        self.only = Some((value, why));
        self
    }
}

const BOOL: Kind = Kind::Bool;
const INT_MAX: i128 = i32::MAX as i128;
const UINT_MAX: i128 = u32::MAX as i128;
const LONG_MAX: i128 = i64::MAX as i128;
const ULLONG_MAX: i128 = u64::MAX as i128;
const INT: Kind = Kind::Int(i32::MIN as i128, INT_MAX);
const NON_NEG_INT: Kind = Kind::Int(0, INT_MAX);
const NON_NEG_LONG: Kind = Kind::Int(0, LONG_MAX);
const PORT: Kind = Kind::Int(0, 65535);

const POLICIES: &[&str] = &[
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "noeviction",
];
const PROTECTED_ACTION: &[&str] = &["no", "yes", "local"];

const NO_CLUSTER: &str = "cluster mode is not supported by this server";
const NO_REPLICATION: &str = "replication is not supported by this server";
const NO_TLS: &str = "TLS is not supported by this server";

/// Every parameter the engine knows, in Redis's declaration order (CONFIG GET * order).
pub static PARAMS: &[ParamSpec] = &[
    // Booleans.
    fixed("rdbchecksum", BOOL, "yes"),
    fixed("daemonize", BOOL, "no").only("no", "daemonizing is not supported: run it under a supervisor"),
    fixed("io-threads-do-reads", BOOL, "no"),
    fixed("always-show-logo", BOOL, "no"),
    p("protected-mode", BOOL, "yes"),
    p("rdbcompression", BOOL, "yes"),
    p("rdb-del-sync-files", BOOL, "no"),
    p("activerehashing", BOOL, "yes"),
    p("stop-writes-on-bgsave-error", BOOL, "yes"),
    fixed("set-proc-title", BOOL, "yes"),
    p("dynamic-hz", BOOL, "yes"),
    p("lazyfree-lazy-eviction", BOOL, "no"),
    p("lazyfree-lazy-expire", BOOL, "no"),
    p("lazyfree-lazy-server-del", BOOL, "no"),
    p("lazyfree-lazy-user-del", BOOL, "no"),
    p("lazyfree-lazy-user-flush", BOOL, "no"),
    p("repl-disable-tcp-nodelay", BOOL, "no"),
    p("repl-diskless-sync", BOOL, "yes"),
    p("aof-rewrite-incremental-fsync", BOOL, "yes"),
    p("no-appendfsync-on-rewrite", BOOL, "no"),
    p("cluster-require-full-coverage", BOOL, "yes"),
    p("rdb-save-incremental-fsync", BOOL, "yes"),
    p("aof-load-truncated", BOOL, "yes"),
    p("aof-use-rdb-preamble", BOOL, "yes"),
    p("aof-timestamp-enabled", BOOL, "no"),
    aliased("cluster-replica-no-failover", "cluster-slave-no-failover", BOOL, "no"),
    aliased("replica-lazy-flush", "slave-lazy-flush", BOOL, "no"),
    aliased("replica-serve-stale-data", "slave-serve-stale-data", BOOL, "yes"),
    aliased("replica-read-only", "slave-read-only", BOOL, "yes"),
    aliased("replica-ignore-maxmemory", "slave-ignore-maxmemory", BOOL, "yes"),
    p("jemalloc-bg-thread", BOOL, "yes"),
    p("activedefrag", BOOL, "no").only("no", "Active defragmentation cannot be enabled: it requires a Redis server compiled with a modified Jemalloc like the one shipped by default with the Redis source distribution"),
    fixed("syslog-enabled", BOOL, "no").only("no", "syslog is not supported by this server: use logfile or standard output"),
    fixed("cluster-enabled", BOOL, "no").only("no", NO_CLUSTER),
    // Persistence: the append only file (aof/).
    p("appendonly", BOOL, "no"),
    p("cluster-allow-reads-when-down", BOOL, "no"),
    p("cluster-allow-pubsubshard-when-down", BOOL, "yes"),
    p("crash-log-enabled", BOOL, "yes"),
    p("crash-memcheck-enabled", BOOL, "yes"),
    fixed("disable-thp", BOOL, "yes"),
    p("cluster-allow-replica-migration", BOOL, "yes"),
    p("replica-announced", BOOL, "yes"),
    p("latency-tracking", BOOL, "yes"),
    p("aof-disable-auto-gc", BOOL, "no"),
    p("replica-ignore-disk-write-errors", BOOL, "no"),
    // Strings.
    fixed("aclfile", Kind::Text, ""),
    fixed("unixsocket", Kind::Text, ""),
    fixed("pidfile", Kind::Text, ""),
    aliased("replica-announce-ip", "slave-announce-ip", Kind::Text, ""),
    p("masteruser", Kind::Text, "").flags(SENSITIVE),
    p("cluster-announce-ip", Kind::Text, ""),
    fixed("cluster-config-file", Kind::Text, "nodes.conf"),
    p("cluster-announce-hostname", Kind::Hostname, ""),
    fixed("syslog-ident", Kind::Text, "redis"),
    p("dbfilename", Kind::BaseName, "dump.rdb").flags(PROTECTED),
    fixed("appendfilename", Kind::BaseName, "appendonly.aof"),
    fixed("appenddirname", Kind::BaseName, "appendonlydir"),
    fixed("server_cpulist", Kind::Text, ""),
    fixed("bio_cpulist", Kind::Text, ""),
    fixed("aof_rewrite_cpulist", Kind::Text, ""),
    fixed("bgsave_cpulist", Kind::Text, ""),
    p("ignore-warnings", Kind::Text, ""),
    p("proc-title-template", Kind::Text, "{title} {listen-addr} {server-mode}"),
    p("bind-source-addr", Kind::Text, ""),
    fixed("logfile", Kind::Text, ""),
    p("masterauth", Kind::Text, "").flags(SENSITIVE),
    p("requirepass", Kind::Text, "").flags(SENSITIVE),
    // Enums.
    fixed("supervised", Kind::Enum(&["upstart", "systemd", "auto", "no"]), "no")
        .only("no", "supervision (readiness notification) is not supported by this server"),
    fixed(
        "syslog-facility",
        Kind::Enum(&["user", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"]),
        "local0",
    ),
    p("repl-diskless-load", Kind::Enum(&["disabled", "on-empty-db", "swapdb"]), "disabled"),
    p("loglevel", Kind::Enum(&["debug", "verbose", "notice", "warning"]), "notice"),
    p("maxmemory-policy", Kind::Enum(POLICIES), "noeviction"),
    p("appendfsync", Kind::Enum(&["everysec", "always", "no"]), "everysec"),
    p("oom-score-adj", Kind::Enum(&["no", "yes", "relative", "absolute"]), "no")
        .only("no", "adjusting the OOM score is not supported by this server"),
    p("acl-pubsub-default", Kind::Enum(&["allchannels", "resetchannels"]), "resetchannels"),
    p("sanitize-dump-payload", Kind::Enum(&["no", "yes", "clients"]), "no"),
    fixed("enable-protected-configs", Kind::Enum(PROTECTED_ACTION), "no"),
    fixed("enable-debug-command", Kind::Enum(PROTECTED_ACTION), "no"),
    fixed("enable-module-command", Kind::Enum(PROTECTED_ACTION), "no"),
    p("cluster-preferred-endpoint-type", Kind::Enum(&["ip", "hostname", "unknown-endpoint"]), "ip"),
    p("propagation-error-behavior", Kind::Enum(&["ignore", "panic", "panic-on-replicas"]), "ignore"),
    p("shutdown-on-sigint", Kind::Text, "default")
        .only("default", "only the default signal behaviour (stop without saving) is supported"),
    p("shutdown-on-sigterm", Kind::Text, "default")
        .only("default", "only the default signal behaviour (stop without saving) is supported"),
    // Integers.
    fixed("databases", Kind::Int(1, INT_MAX), "16"),
    // Redis can move the listener with CONFIG SET port/bind; this engine binds once at start.
    fixed("port", PORT, "6379"),
    fixed("io-threads", Kind::Int(1, 128), "1").only("1", "I/O threads are not supported by this server (one thread per engine)"),
    p("auto-aof-rewrite-percentage", NON_NEG_INT, "100"),
    aliased("cluster-replica-validity-factor", "cluster-slave-validity-factor", NON_NEG_INT, "10"),
    aliased("list-max-listpack-size", "list-max-ziplist-size", INT, "-2"),
    p("tcp-keepalive", NON_NEG_INT, "300"),
    p("cluster-migration-barrier", NON_NEG_INT, "1"),
    p("active-defrag-cycle-min", Kind::Int(1, 99), "1"),
    p("active-defrag-cycle-max", Kind::Int(1, 99), "25"),
    p("active-defrag-threshold-lower", Kind::Int(0, 1000), "10"),
    p("active-defrag-threshold-upper", Kind::Int(0, 1000), "100"),
    p("lfu-log-factor", NON_NEG_INT, "10"),
    p("lfu-decay-time", NON_NEG_INT, "1"),
    aliased("replica-priority", "slave-priority", NON_NEG_INT, "100"),
    p("repl-diskless-sync-delay", NON_NEG_INT, "5"),
    p("maxmemory-samples", Kind::Int(1, INT_MAX), "5"),
    p("maxmemory-eviction-tenacity", Kind::Int(0, 100), "10"),
    p("timeout", NON_NEG_INT, "0"),
    aliased("replica-announce-port", "slave-announce-port", PORT, "0"),
    fixed("tcp-backlog", NON_NEG_INT, "511"),
    fixed("cluster-port", PORT, "0"),
    p("cluster-announce-bus-port", PORT, "0"),
    p("cluster-announce-port", PORT, "0"),
    p("cluster-announce-tls-port", PORT, "0"),
    p("repl-timeout", Kind::Int(1, INT_MAX), "60"),
    aliased("repl-ping-replica-period", "repl-ping-slave-period", Kind::Int(1, INT_MAX), "10"),
    p("list-compress-depth", NON_NEG_INT, "0"),
    p("active-expire-effort", Kind::Int(1, 10), "1"),
    // Redis accepts any non-negative hz and caps it to 1..500 (`updateHZ`).
    p("hz", NON_NEG_INT, "10"),
    aliased("min-replicas-to-write", "min-slaves-to-write", NON_NEG_INT, "0"),
    aliased("min-replicas-max-lag", "min-slaves-max-lag", NON_NEG_INT, "10"),
    p("shutdown-timeout", NON_NEG_INT, "10"),
    p("repl-diskless-sync-max-replicas", NON_NEG_INT, "0"),
    p("maxclients", Kind::Int(1, UINT_MAX), "10000"),
    fixed("unixsocketperm", Kind::Octal(0, 0o777), "0"),
    p("socket-mark-id", Kind::Int(0, UINT_MAX), "0"),
    p("active-defrag-max-scan-fields", Kind::Int(1, LONG_MAX), "1000"),
    p("slowlog-max-len", NON_NEG_LONG, "128"),
    p("acllog-max-len", NON_NEG_LONG, "128"),
    aliased("busy-reply-threshold", "lua-time-limit", NON_NEG_LONG, "5000"),
    p("cluster-node-timeout", NON_NEG_LONG, "15000"),
    p("slowlog-log-slower-than", Kind::Int(-1, LONG_MAX), "10000"),
    p("latency-monitor-threshold", NON_NEG_LONG, "0"),
    p("proto-max-bulk-len", Kind::Memory(1024 * 1024, LONG_MAX), "536870912"),
    p("stream-node-max-entries", NON_NEG_LONG, "100"),
    p("repl-backlog-size", Kind::Memory(1, LONG_MAX), "1048576"),
    p("maxmemory", Kind::Memory(0, ULLONG_MAX), "0"),
    p("cluster-link-sendbuf-limit", Kind::Memory(0, ULLONG_MAX), "0"),
    aliased("hash-max-listpack-entries", "hash-max-ziplist-entries", NON_NEG_LONG, "512"),
    p("set-max-intset-entries", NON_NEG_LONG, "512"),
    aliased("zset-max-listpack-entries", "zset-max-ziplist-entries", NON_NEG_LONG, "128"),
    p("active-defrag-ignore-bytes", Kind::Memory(1, LONG_MAX), "104857600"),
    aliased("hash-max-listpack-value", "hash-max-ziplist-value", Kind::Memory(0, LONG_MAX), "64"),
    p("stream-node-max-bytes", Kind::Memory(0, LONG_MAX), "4096"),
    aliased("zset-max-listpack-value", "zset-max-ziplist-value", Kind::Memory(0, LONG_MAX), "64"),
    p("hll-sparse-max-bytes", Kind::Memory(0, LONG_MAX), "3000"),
    p("tracking-table-max-keys", NON_NEG_LONG, "1000000"),
    p("client-query-buffer-limit", Kind::Memory(1024 * 1024, LONG_MAX), "1073741824"),
    p("maxmemory-clients", Kind::MemoryOrPercent(-100, LONG_MAX), "0")
        .only("0", "maxmemory-clients is not supported by this server (no client eviction)"),
    p("repl-backlog-ttl", NON_NEG_LONG, "3600"),
    p("auto-aof-rewrite-min-size", Kind::Memory(0, LONG_MAX), "67108864"),
    // TLS (Debian's redis-server is built with it).
    p("tls-port", PORT, "0").only("0", NO_TLS),
    p("tls-session-cache-size", NON_NEG_INT, "20480"),
    p("tls-session-cache-timeout", NON_NEG_INT, "300"),
    p("tls-cluster", BOOL, "no"),
    p("tls-replication", BOOL, "no"),
    p("tls-auth-clients", Kind::Enum(&["no", "yes", "optional"]), "yes"),
    p("tls-prefer-server-ciphers", BOOL, "no"),
    p("tls-session-caching", BOOL, "yes"),
    p("tls-cert-file", Kind::Text, ""),
    p("tls-key-file", Kind::Text, ""),
    p("tls-key-file-pass", Kind::Text, ""),
    p("tls-client-cert-file", Kind::Text, ""),
    p("tls-client-key-file", Kind::Text, ""),
    p("tls-client-key-file-pass", Kind::Text, ""),
    p("tls-dh-params-file", Kind::Text, ""),
    p("tls-ca-cert-file", Kind::Text, ""),
    p("tls-ca-cert-dir", Kind::Text, ""),
    p("tls-protocols", Kind::Text, ""),
    p("tls-ciphers", Kind::Text, ""),
    p("tls-ciphersuites", Kind::Text, ""),
    // Special syntax.
    p("dir", Kind::Dir, "").flags(PROTECTED),
    // Persistence (RDB `save` rules): honoured. The default stays "" (no automatic saves) so an
    // embedded engine writes nothing unless configured; redis.conf files set their rules.
    p("save", Kind::Save, ""),
    p(
        "client-output-buffer-limit",
        Kind::OutputBufferLimit,
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
    ),
    p("oom-score-adj-values", Kind::OomScoreAdjValues, "0 200 800"),
    // Keyspace notifications (notify.rs).
    p("notify-keyspace-events", Kind::NotifyEvents, ""),
    // Redis can move the listener with CONFIG SET bind; this engine binds once at start.
    fixed("bind", Kind::Bind, "* -::*"),
    ParamSpec {
        name: "replicaof",
        alias: Some("slaveof"),
        kind: Kind::ReplicaOf,
        default: "",
        flags: IMMUTABLE,
        only: Some(("", NO_REPLICATION)),
    },
    p("latency-tracking-info-percentiles", Kind::Percentiles, "50 99 99.9"),
];

/// Why a value was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// Why `CONFIG SET` refused one pair (the reply is built by the command).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetError {
    Unknown,
    Immutable,
    Protected,
    /// The value is invalid or unsupported; the text is Redis's reason.
    Invalid(String),
}

/// Limits of one client class (`client-output-buffer-limit`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BufferLimit {
    pub hard: u64,
    pub soft: u64,
    pub soft_seconds: i64,
}

/// The engine's settings. `values[i]` is the normalised text of `PARAMS[i]`.
#[derive(Clone, Debug)]
pub struct Config {
    values: Vec<String>,
    // Typed mirrors of values read on hot paths.
    pub port: u16,
    pub databases: usize,
    pub maxclients: usize,
    pub proto_max_bulk_len: i64,
    pub query_buffer_limit: usize,
    /// `hz` capped to 1..=500.
    pub hz: u32,
    pub active_expire_effort: u32,
    pub active_rehashing: bool,
    pub requirepass: Option<Vec<u8>>,
    pub protected_mode: bool,
    pub list_max_listpack_size: i32,
    pub hash_max_listpack_entries: usize,
    pub hash_max_listpack_value: usize,
    pub set_max_intset_entries: usize,
    pub zset_max_listpack_entries: usize,
    pub zset_max_listpack_value: usize,
    pub stream_node_max_bytes: usize,
    pub stream_node_max_entries: usize,
    pub timeout_secs: u64,
    pub tcp_keepalive_secs: u32,
    pub tcp_backlog: u32,
    pub unixsocketperm: u32,
    pub latency_tracking: bool,
    pub latency_percentiles: Vec<f64>,
    pub enable_debug_command: ProtectedAction,
    pub enable_protected_configs: ProtectedAction,
    pub client_output_buffer_limits: [BufferLimit; 3],
    /// `notify-keyspace-events` as `notify::class` flags.
    pub notify_keyspace_events: u32,
    /// Where the configuration was loaded from (INFO's `config_file`), empty if none.
    pub config_file: String,
    // --- security: directives that are not parameters ---
    /// `user <name> <rule> ...` lines, in file order.
    pub acl_users: Vec<Vec<String>>,
    /// `rename-command <name> <new name>` ("" disables the command).
    pub renamed_commands: Vec<(String, String)>,
    /// `slowlog-log-slower-than` (µs, negative = off), `slowlog-max-len`,
    /// `latency-monitor-threshold` (ms, 0 = off).
    pub slowlog_log_slower_than: i64,
    pub slowlog_max_len: usize,
    pub latency_monitor_threshold: u64,
    /// Memory limits, eviction and lazy free (evict.rs, lazyfree.rs).
    pub memory: MemoryConfig,
}

/// Typed mirror of the memory parameters: `maxmemory*`, `lfu-*`, `lazyfree-lazy-*`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryConfig {
    pub maxmemory: u64,
    pub policy: crate::evict::Policy,
    pub samples: usize,
    pub tenacity: u32,
    pub lfu_log_factor: u32,
    pub lfu_decay_time: u32,
    pub lazy_eviction: bool,
    pub lazy_expire: bool,
    pub lazy_server_del: bool,
    pub lazy_user_del: bool,
    pub lazy_user_flush: bool,
}

/// `enable-debug-command` / `enable-protected-configs`: who may use the protected feature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtectedAction {
    No,
    Yes,
    /// Only clients connected over loopback or the Unix socket.
    Local,
}

impl ProtectedAction {
    pub fn allows(self, local_client: bool) -> bool {
        match self {
            ProtectedAction::Yes => true,
            ProtectedAction::Local => local_client,
            ProtectedAction::No => false,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        let values = PARAMS
            .iter()
            .map(|p| match p.kind {
                Kind::Dir => current_dir(),
                _ => p.default.to_string(),
            })
            .collect();
        let mut c = Config {
            values,
            port: 6379,
            databases: 16,
            maxclients: 10000,
            proto_max_bulk_len: 512 << 20,
            query_buffer_limit: 1 << 30,
            hz: 10,
            active_expire_effort: 1,
            active_rehashing: true,
            requirepass: None,
            protected_mode: true,
            list_max_listpack_size: -2,
            hash_max_listpack_entries: 512,
            hash_max_listpack_value: 64,
            set_max_intset_entries: 512,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
            stream_node_max_bytes: 4096,
            stream_node_max_entries: 100,
            timeout_secs: 0,
            tcp_keepalive_secs: 300,
            tcp_backlog: 511,
            unixsocketperm: 0,
            latency_tracking: true,
            latency_percentiles: vec![50.0, 99.0, 99.9],
            enable_debug_command: ProtectedAction::No,
            enable_protected_configs: ProtectedAction::No,
            client_output_buffer_limits: [BufferLimit {
                hard: 0,
                soft: 0,
                soft_seconds: 0,
            }; 3],
            notify_keyspace_events: 0,
            config_file: String::new(),
            memory: MemoryConfig::default(),
            acl_users: Vec::new(),
            renamed_commands: Vec::new(),
            slowlog_log_slower_than: 10_000,
            slowlog_max_len: 128,
            latency_monitor_threshold: 0,
        };
        c.refresh();
        c
    }
}

fn current_dir() -> String {
    std::env::current_dir()
        .map(|d| d.display().to_string())
        .unwrap_or_default()
}

/// Index of the parameter named `name` (or its alias), in any case.
fn find(name: &str) -> Option<usize> {
    PARAMS.iter().position(|p| {
        p.name.eq_ignore_ascii_case(name) || p.alias.is_some_and(|a| a.eq_ignore_ascii_case(name))
    })
}

/// The spec a name refers to, and the name itself in canonical (lower) case: Redis reports
/// an alias under the alias's own name.
pub fn lookup(name: &[u8]) -> Option<(usize, &'static str)> {
    let name = std::str::from_utf8(name).ok()?;
    let i = find(name)?;
    let spec = &PARAMS[i];
    let canonical = if spec.name.eq_ignore_ascii_case(name) {
        spec.name
    } else {
        spec.alias.unwrap_or(spec.name)
    };
    Some((i, canonical))
}

/// Redis's `memtoull`: digits with an optional unit (`b`, `k`, `kb`, `m`, `mb`, `g`, `gb`,
/// any case). `None` on anything else, including a sign.
pub fn parse_memory(s: &str) -> Option<u64> {
    let digits_end = s
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(s.len());
    let (digits, unit) = s.split_at(digits_end);
    let mul: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    // strtoull("") is 0 without an error, so an empty number (or a bare unit) means 0.
    let n: u64 = if digits.is_empty() {
        0
    } else {
        digits.parse().ok()?
    };
    n.checked_mul(mul)
}

/// `%f` then trailing zeros (and a trailing dot) removed: Redis's `trimDoubleString`.
fn trim_double(d: f64) -> String {
    let s = format!("{d:.6}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Redis's `string2d` for the percentile list: a plain decimal number, no spaces.
fn parse_percentile(s: &str) -> Option<f64> {
    if s.is_empty() || s.starts_with(|c: char| c.is_whitespace()) {
        return None;
    }
    let d: f64 = s.parse().ok()?;
    (!d.is_nan()).then_some(d)
}

/// strtoll with base 10 that must consume the whole string (used by `save` and friends).
fn strtoll_whole(s: &str) -> Option<i64> {
    let t = s.trim_start();
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty() {
        // strtoll consumed nothing: endptr points at the start, which is the end only if empty.
        return if s.is_empty() { Some(0) } else { None };
    }
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let v: i128 = digits.parse().ok()?;
    let v = if neg { -v } else { v };
    Some(v.clamp(i64::MIN as i128, i64::MAX as i128) as i64)
}

/// The value as Redis's `set` callbacks would store it, or the reason it is refused.
fn normalise(spec: &ParamSpec, value: &str) -> Result<String, String> {
    match spec.kind {
        Kind::Bool => match value.to_ascii_lowercase().as_str() {
            "yes" => Ok("yes".into()),
            "no" => Ok("no".into()),
            _ => Err("argument must be 'yes' or 'no'".into()),
        },
        Kind::Int(min, max) => {
            let n =
                parse_i64(value.as_bytes()).ok_or("argument couldn't be parsed into an integer")?;
            bounded(n as i128, min, max)
        }
        Kind::Memory(min, max) => {
            let n = parse_memory(value).ok_or("argument must be a memory value")?;
            bounded(n as i128, min, max)
        }
        Kind::MemoryOrPercent(min, max) => {
            if let Some(n) = parse_memory(value) {
                return bounded(n as i128, min, max);
            }
            let percent = value
                .strip_suffix('%')
                .filter(|d| !d.is_empty())
                .and_then(|d| parse_i64(d.as_bytes()))
                .filter(|n| *n >= 0)
                .ok_or("argument must be a memory or percent value")?;
            if -(percent as i128) < min {
                return Err(format!(
                    "percentage argument must be less or equal to {}",
                    -min
                ));
            }
            Ok(if percent == 0 {
                "0".into()
            } else {
                format!("{percent}%")
            })
        }
        Kind::Octal(min, max) => {
            // strtoll(value, &end, 8) that must consume everything; "" parses as 0.
            let n = if value.is_empty() {
                0
            } else {
                i64::from_str_radix(value, 8)
                    .map_err(|_| "argument couldn't be parsed as an octal number")?
            };
            if (n as i128) < min || (n as i128) > max {
                return Err(format!(
                    "argument must be between {min:o} and {max:o} inclusive"
                ));
            }
            Ok(format!("{n:o}"))
        }
        Kind::Enum(words) => {
            let lower = value.to_ascii_lowercase();
            if words.contains(&lower.as_str()) {
                Ok(lower)
            } else {
                Err(format!(
                    "argument(s) must be one of the following: {}",
                    words.join(", ")
                ))
            }
        }
        Kind::Text => Ok(value.to_string()),
        Kind::BaseName => {
            if value.contains('/') || value.contains('\\') {
                Err(format!("{} can't be a path, just a filename", spec.name))
            } else if value.is_empty() && spec.name != "dbfilename" {
                Err(format!("{} can't be empty", spec.name))
            } else {
                Ok(value.to_string())
            }
        }
        Kind::Hostname => normalise_hostname(value),
        Kind::Save => normalise_save(value),
        Kind::OutputBufferLimit => normalise_output_buffer_limit(value, "").map(|_| value.into()),
        Kind::OomScoreAdjValues => normalise_oom_values(value),
        Kind::NotifyEvents => normalise_notify_events(value),
        Kind::Bind => {
            let words: Vec<&str> = value.split(' ').collect();
            if words.len() > 16 {
                return Err("Too many bind addresses specified.".into());
            }
            Ok(if value.is_empty() {
                String::new()
            } else {
                words.join(" ")
            })
        }
        Kind::ReplicaOf => {
            let words: Vec<&str> = value.split(' ').collect();
            if words.len() != 2 {
                return Err("wrong number of arguments".into());
            }
            if words[0].eq_ignore_ascii_case("no") && words[1].eq_ignore_ascii_case("one") {
                return Ok(String::new());
            }
            match strtoll_whole(words[1]) {
                Some(port) if (0..=65535).contains(&port) && !words[1].is_empty() => {
                    Ok(format!("{} {port}", words[0]))
                }
                _ => Err("Invalid master port".into()),
            }
        }
        Kind::Percentiles => {
            if value.is_empty() {
                return Ok(String::new());
            }
            let mut out = Vec::new();
            for word in value.split(' ') {
                let d = parse_percentile(word)
                    .ok_or("Invalid latency-tracking-info-percentiles parameters")?;
                if !(0.0..=100.0).contains(&d) {
                    return Err(
                        "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"
                            .into(),
                    );
                }
                out.push(trim_double(d));
            }
            Ok(out.join(" "))
        }
        Kind::Dir => {
            let path = std::fs::canonicalize(value).map_err(|e| os_error_text(&e))?;
            if !path.is_dir() {
                return Err("Not a directory".into());
            }
            Ok(path.display().to_string())
        }
    }
}

/// The C library's text for an OS error (Redis replies `strerror(errno)`).
fn os_error_text(e: &std::io::Error) -> String {
    let text = e.to_string();
    // "No such file or directory (os error 2)" -> "No such file or directory".
    match text.rfind(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

fn bounded(n: i128, min: i128, max: i128) -> Result<String, String> {
    if n < min || n > max {
        return Err(format!(
            "argument must be between {min} and {max} inclusive"
        ));
    }
    Ok(n.to_string())
}

fn normalise_hostname(value: &str) -> Result<String, String> {
    if value.len() >= 256 {
        return Err("Hostnames must be less than 256 characters".into());
    }
    if !value
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.')
    {
        return Err("Hostnames may only contain alphanumeric characters, hyphens or dots".into());
    }
    Ok(value.to_string())
}

fn normalise_save(value: &str) -> Result<String, String> {
    const INVALID: &str = "Invalid save parameters";
    if value.is_empty() {
        return Ok(String::new());
    }
    let words: Vec<&str> = value.split(' ').collect();
    if !words.len().is_multiple_of(2) {
        return Err(INVALID.into());
    }
    let mut out = Vec::new();
    for (j, word) in words.iter().enumerate() {
        let n = strtoll_whole(word).ok_or(INVALID)?;
        if (j % 2 == 0 && n < 1) || (j % 2 == 1 && n < 0) {
            return Err(INVALID.into());
        }
        out.push(if j % 2 == 1 {
            (n as i32).to_string()
        } else {
            n.to_string()
        });
    }
    Ok(out.join(" "))
}

/// Applies a `client-output-buffer-limit` value over `current` (classes not named keep their
/// limits) and returns the normalised full text.
fn normalise_output_buffer_limit(value: &str, current: &str) -> Result<String, String> {
    let mut limits = parse_limits_text(current).unwrap_or(
        [BufferLimit {
            hard: 0,
            soft: 0,
            soft_seconds: 0,
        }; 3],
    );
    let words: Vec<&str> = value.split(' ').collect();
    if !words.len().is_multiple_of(4) {
        return Err("Wrong number of arguments in buffer limit configuration.".into());
    }
    let mut updates = Vec::new();
    for chunk in words.chunks(4) {
        let class = match chunk[0].to_ascii_lowercase().as_str() {
            "normal" => 0,
            "slave" | "replica" => 1,
            "pubsub" => 2,
            _ => {
                return Err("Invalid client class specified in buffer limit configuration.".into())
            }
        };
        let hard = parse_memory(chunk[1]);
        let soft = parse_memory(chunk[2]);
        let seconds = strtoll_whole(chunk[3]).filter(|s| *s >= 0 && !chunk[3].is_empty());
        match (hard, soft, seconds) {
            (Some(hard), Some(soft), Some(soft_seconds)) => updates.push((
                class,
                BufferLimit {
                    hard,
                    soft,
                    soft_seconds,
                },
            )),
            _ => {
                return Err(
                    "Error in hard, soft or soft_seconds setting in buffer limit configuration."
                        .into(),
                )
            }
        }
    }
    for (class, limit) in updates {
        limits[class] = limit;
    }
    Ok(limits_text(&limits))
}

fn limits_text(limits: &[BufferLimit; 3]) -> String {
    ["normal", "slave", "pubsub"]
        .iter()
        .zip(limits)
        .map(|(name, l)| format!("{name} {} {} {}", l.hard, l.soft, l.soft_seconds))
        .collect::<Vec<_>>()
        .join(" ")
}

fn parse_limits_text(text: &str) -> Option<[BufferLimit; 3]> {
    let words: Vec<&str> = text.split(' ').collect();
    if words.len() != 12 {
        return None;
    }
    let mut out = [BufferLimit {
        hard: 0,
        soft: 0,
        soft_seconds: 0,
    }; 3];
    for (i, chunk) in words.chunks(4).enumerate() {
        out[i] = BufferLimit {
            hard: chunk[1].parse().ok()?,
            soft: chunk[2].parse().ok()?,
            soft_seconds: chunk[3].parse().ok()?,
        };
    }
    Some(out)
}

fn normalise_oom_values(value: &str) -> Result<String, String> {
    let words: Vec<&str> = value.split(' ').collect();
    if words.len() != 3 {
        return Err("wrong number of arguments".into());
    }
    let mut out = Vec::new();
    for w in words {
        match strtoll_whole(w) {
            Some(n) if (-2000..=2000).contains(&n) && !w.is_empty() => out.push(n.to_string()),
            _ => {
                return Err(
                    "Invalid oom-score-adj-values, elements must be between -2000 and 2000.".into(),
                )
            }
        }
    }
    Ok(out.join(" "))
}

/// Redis's `keyspaceEventsStringToFlags` + `keyspaceEventsFlagsToString`.
fn normalise_notify_events(value: &str) -> Result<String, String> {
    const CLASSES: &str = "g$lshzxetd";
    let mut set = std::collections::BTreeSet::new();
    for c in value.chars() {
        match c {
            'A' => set.extend(CLASSES.chars()),
            'g' | '$' | 'l' | 's' | 'h' | 'z' | 'x' | 'e' | 'K' | 'E' | 't' | 'm' | 'd' | 'n' => {
                set.insert(c);
            }
            _ => return Err("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".into()),
        }
    }
    let mut out = String::new();
    if CLASSES.chars().all(|c| set.contains(&c)) {
        out.push('A');
    } else {
        out.extend(CLASSES.chars().filter(|c| set.contains(c)));
    }
    // Redis 7.0 writes `n` only without `A` (its flags-to-string has it in the else branch).
    if !out.starts_with('A') && set.contains(&'n') {
        out.push('n');
    }
    out.extend("KEm".chars().filter(|c| set.contains(c)));
    Ok(out)
}

/// Called with the new level after `CONFIG SET loglevel` (the process installs it, since the
/// log subscriber belongs to the process, not to an engine).
pub type LogLevelHook = Box<dyn Fn(&str) + Send + Sync>;

static LOG_LEVEL_HOOK: OnceLock<LogLevelHook> = OnceLock::new();

/// Lets `CONFIG SET loglevel` change the process's log filter. Only the first call counts.
pub fn set_log_level_hook(hook: LogLevelHook) {
    let _ = LOG_LEVEL_HOOK.set(hook);
}

impl Config {
    /// The current value of a parameter by exact name or alias.
    pub fn get(&self, name: &str) -> Option<&str> {
        find(name).map(|i| self.values[i].as_str())
    }

    /// CONFIG GET: every (name, value) matching one of the arguments. An argument without glob
    /// characters is looked up exactly and reported as written; a pattern matches names and
    /// aliases. Each parameter name (in any case) appears once.
    pub fn matching(&self, patterns: &[&[u8]]) -> Vec<(Vec<u8>, String)> {
        let mut out: Vec<(Vec<u8>, String)> = Vec::new();
        let seen = |out: &Vec<(Vec<u8>, String)>, name: &[u8]| {
            out.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
        };
        for pat in patterns {
            if !pat.iter().any(|c| matches!(c, b'*' | b'?' | b'[')) {
                if let Some((i, _)) = lookup(pat) {
                    if !seen(&out, pat) {
                        out.push((pat.to_vec(), self.values[i].clone()));
                    }
                }
                continue;
            }
            for (i, spec) in PARAMS.iter().enumerate() {
                for name in std::iter::once(spec.name).chain(spec.alias) {
                    if !seen(&out, name.as_bytes()) && glob_match(pat, name.as_bytes(), true) {
                        out.push((name.as_bytes().to_vec(), self.values[i].clone()));
                    }
                }
            }
        }
        out
    }

    /// Checks and stores one value of `PARAMS[i]` without the CONFIG SET permission checks.
    fn store(&mut self, i: usize, value: &str) -> Result<(), String> {
        let spec = &PARAMS[i];
        let normalised = match spec.kind {
            Kind::OutputBufferLimit => normalise_output_buffer_limit(value, &self.values[i])?,
            _ => normalise(spec, value)?,
        };
        if let Some((only, why)) = spec.only {
            if normalised != only {
                return Err(why.to_string());
            }
        }
        self.values[i] = normalised;
        Ok(())
    }

    /// Validates and stores a value. `runtime` is true for CONFIG SET-like callers, which
    /// cannot change immutable parameters. Errors carry redis-server's startup wording.
    pub fn set(&mut self, name: &str, value: &str, runtime: bool) -> Result<(), ConfigError> {
        let i = find(name).ok_or_else(|| {
            ConfigError(format!(
                "Unknown option or number of arguments for CONFIG SET - '{name}'"
            ))
        })?;
        if runtime && PARAMS[i].flags & IMMUTABLE != 0 {
            return Err(ConfigError(format!(
                "Invalid argument '{value}' for CONFIG SET '{name}' - can't set immutable config"
            )));
        }
        self.store(i, value).map_err(|reason| {
            ConfigError(format!(
                "Invalid argument '{value}' for CONFIG SET '{name}' - {reason}"
            ))
        })?;
        self.refresh();
        Ok(())
    }

    /// CONFIG SET of several pairs, all or nothing, with Redis 7.0's checks and order: unknown
    /// names, immutable or protected parameters and duplicates are found before any value is
    /// parsed. On error returns the argument to name in the reply and why.
    pub fn set_many(
        &mut self,
        pairs: &[(&[u8], &[u8])],
        local_client: bool,
    ) -> Result<(), (String, SetError)> {
        let mut found: Vec<(usize, &'static str)> = Vec::with_capacity(pairs.len());
        let mut first_error: Option<(String, SetError)> = None;
        for (name, _) in pairs {
            let typed = String::from_utf8_lossy(name).into_owned();
            if first_error.is_some() {
                continue;
            }
            let Some((i, canonical)) = lookup(name) else {
                first_error = Some((typed, SetError::Unknown));
                continue;
            };
            let spec = &PARAMS[i];
            if spec.flags & IMMUTABLE != 0 {
                first_error = Some((typed, SetError::Immutable));
            } else if spec.flags & PROTECTED != 0
                && !self.enable_protected_configs.allows(local_client)
            {
                first_error = Some((typed, SetError::Protected));
            } else if found
                .iter()
                .any(|(j, n)| *j == i && n.eq_ignore_ascii_case(canonical))
            {
                first_error = Some((typed, SetError::Invalid("duplicate parameter".into())));
            }
            found.push((i, canonical));
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        let mut next = self.clone();
        for ((i, canonical), (_, value)) in found.iter().zip(pairs) {
            let value = String::from_utf8_lossy(value);
            next.store(*i, &value)
                .map_err(|reason| (canonical.to_string(), SetError::Invalid(reason)))?;
        }
        next.refresh();
        let level_changed = next.get("loglevel") != self.get("loglevel");
        *self = next;
        if level_changed {
            if let (Some(hook), Some(level)) = (LOG_LEVEL_HOOK.get(), self.get("loglevel")) {
                hook(level);
            }
        }
        Ok(())
    }

    /// Loads a redis.conf-style text: `name value...` per line, `#` comments, quoted values.
    pub fn load_text(&mut self, text: &str, origin: &str) -> Result<(), ConfigError> {
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let at = |reason: &str| ConfigError(format!("{origin}:{}: '{line}': {reason}", n + 1));
            let parts = crate::protocol::parser::split_args(line.as_bytes())
                .ok_or_else(|| at("Unbalanced quotes in configuration line"))?;
            let Some((name, rest)) = parts.split_first() else {
                continue;
            };
            let name = String::from_utf8_lossy(name).to_string();
            // Security directives: users and command renames.
            if let Some(done) = self.load_security_directive(&name, rest) {
                done.map_err(|reason| at(&reason))?;
                continue;
            }
            let Some(i) = find(&name) else {
                return Err(at("Bad directive or wrong number of arguments"));
            };
            if !PARAMS[i].is_multi_arg() && rest.len() != 1 {
                return Err(at("wrong number of arguments"));
            }
            let value = rest
                .iter()
                .map(|v| String::from_utf8_lossy(v).to_string())
                .collect::<Vec<_>>()
                .join(" ");
            self.store(i, &value).map_err(|reason| at(&reason))?;
        }
        self.refresh();
        Ok(())
    }

    fn refresh(&mut self) {
        let int =
            |c: &Config, name: &str| c.get(name).and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
        self.port = int(self, "port") as u16;
        self.databases = int(self, "databases").max(1) as usize;
        self.maxclients = int(self, "maxclients").max(1) as usize;
        self.proto_max_bulk_len = int(self, "proto-max-bulk-len");
        self.query_buffer_limit = int(self, "client-query-buffer-limit") as usize;
        self.hz = int(self, "hz").clamp(1, 500) as u32;
        // Redis stores the capped value, so CONFIG GET hz reports it.
        if let Some(i) = find("hz") {
            self.values[i] = self.hz.to_string();
        }
        self.active_expire_effort = int(self, "active-expire-effort").clamp(1, 10) as u32;
        self.active_rehashing = self.get("activerehashing") == Some("yes");
        self.requirepass = self
            .get("requirepass")
            .filter(|v| !v.is_empty())
            .map(|v| v.as_bytes().to_vec());
        self.protected_mode = self.get("protected-mode") == Some("yes");
        self.list_max_listpack_size = int(self, "list-max-listpack-size") as i32;
        self.hash_max_listpack_entries = int(self, "hash-max-listpack-entries") as usize;
        self.hash_max_listpack_value = int(self, "hash-max-listpack-value") as usize;
        self.set_max_intset_entries = int(self, "set-max-intset-entries") as usize;
        self.zset_max_listpack_entries = int(self, "zset-max-listpack-entries") as usize;
        self.zset_max_listpack_value = int(self, "zset-max-listpack-value") as usize;
        self.stream_node_max_bytes = int(self, "stream-node-max-bytes") as usize;
        self.stream_node_max_entries = int(self, "stream-node-max-entries") as usize;
        self.timeout_secs = int(self, "timeout") as u64;
        self.tcp_keepalive_secs = int(self, "tcp-keepalive") as u32;
        self.tcp_backlog = int(self, "tcp-backlog") as u32;
        self.unixsocketperm = self
            .get("unixsocketperm")
            .and_then(|v| u32::from_str_radix(v, 8).ok())
            .unwrap_or(0);
        self.latency_tracking = self.get("latency-tracking") == Some("yes");
        self.latency_percentiles = self
            .get("latency-tracking-info-percentiles")
            .unwrap_or("")
            .split(' ')
            .filter_map(|w| w.parse().ok())
            .collect();
        let action = |c: &Config, name: &str| match c.get(name) {
            Some("yes") => ProtectedAction::Yes,
            Some("local") => ProtectedAction::Local,
            _ => ProtectedAction::No,
        };
        // Introspection: slow log and latency monitor thresholds.
        self.slowlog_log_slower_than = int(self, "slowlog-log-slower-than");
        self.slowlog_max_len = int(self, "slowlog-max-len").max(0) as usize;
        self.latency_monitor_threshold = int(self, "latency-monitor-threshold").max(0) as u64;
        self.enable_debug_command = action(self, "enable-debug-command");
        self.enable_protected_configs = action(self, "enable-protected-configs");
        self.notify_keyspace_events =
            crate::notify::parse_flags(self.get("notify-keyspace-events").unwrap_or(""));
        if let Some(l) = self
            .get("client-output-buffer-limit")
            .and_then(parse_limits_text)
        {
            self.client_output_buffer_limits = l;
        }
        self.refresh_memory();
    }

    /// Memory limits, eviction and lazy free settings (evict.rs, lazyfree.rs).
    fn refresh_memory(&mut self) {
        let int =
            |c: &Config, name: &str| c.get(name).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        let yes = |c: &Config, name: &str| c.get(name) == Some("yes");
        self.memory = MemoryConfig {
            maxmemory: int(self, "maxmemory"),
            policy: crate::evict::Policy::parse(self.get("maxmemory-policy").unwrap_or("")),
            samples: int(self, "maxmemory-samples").max(1) as usize,
            tenacity: int(self, "maxmemory-eviction-tenacity") as u32,
            lfu_log_factor: int(self, "lfu-log-factor") as u32,
            lfu_decay_time: int(self, "lfu-decay-time") as u32,
            lazy_eviction: yes(self, "lazyfree-lazy-eviction"),
            lazy_expire: yes(self, "lazyfree-lazy-expire"),
            lazy_server_del: yes(self, "lazyfree-lazy-server-del"),
            lazy_user_del: yes(self, "lazyfree-lazy-user-del"),
            lazy_user_flush: yes(self, "lazyfree-lazy-user-flush"),
        };
    }

    /// `user` and `rename-command` lines (`None`: not one of them).
    fn load_security_directive(
        &mut self,
        name: &str,
        rest: &[Vec<u8>],
    ) -> Option<Result<(), String>> {
        let text = |v: &Vec<u8>| String::from_utf8_lossy(v).into_owned();
        if name.eq_ignore_ascii_case("user") {
            let Some((user, rules)) = rest.split_first() else {
                return Some(Err("Bad directive or wrong number of arguments".into()));
            };
            let mut check = crate::acl::Acl::new(None, &[]);
            let rules_ok = check.set_user(&text(user), rules.iter().map(Vec::as_slice));
            if let Err((e, rule)) = rules_ok {
                return Some(Err(format!(
                    "Error in user declaration '{}': {}",
                    String::from_utf8_lossy(&rule),
                    e.text()
                )));
            }
            if self
                .acl_users
                .iter()
                .any(|u| u.first() == Some(&text(user)))
            {
                return Some(Err(
                    "Duplicate user found. A user can only be defined once in config files".into(),
                ));
            }
            self.acl_users.push(rest.iter().map(text).collect());
            return Some(Ok(()));
        }
        if name.eq_ignore_ascii_case("rename-command") {
            if rest.len() != 2 {
                return Some(Err("Bad directive or wrong number of arguments".into()));
            }
            if crate::commands::table::lookup(&rest[0]).is_none() {
                return Some(Err("No such command in rename-command".into()));
            }
            self.renamed_commands.push((text(&rest[0]), text(&rest[1])));
            return Some(Ok(()));
        }
        None
    }

    /// The bind addresses, one per word.
    pub fn bind_addrs(&self) -> Vec<String> {
        self.get("bind")
            .unwrap_or("")
            .split_whitespace()
            .map(str::to_string)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_flags_and_aliases() {
        let mut c = Config::default();
        c.load_text(
            "# comment\nport 7000\nhash-max-ziplist-entries 10\nsave \"\"\n",
            "t.conf",
        )
        .unwrap();
        assert_eq!(c.port, 7000);
        assert_eq!(c.hash_max_listpack_entries, 10);
        let err = c.load_text("nosuch 1\n", "t.conf").unwrap_err();
        assert!(err.0.contains("t.conf:1"), "{err}");
        assert!(c.set("port", "1", true).is_err());
        assert!(c
            .set("hz", "x", true)
            .unwrap_err()
            .0
            .contains("couldn't be parsed"));
        let got = c.matching(&[b"hash-max-*-entries"]);
        assert_eq!(got.len(), 2);
    }

    #[test]
    fn redis_value_syntax() {
        assert_eq!(parse_memory("1gb"), Some(1 << 30));
        assert_eq!(parse_memory("1K"), Some(1000));
        assert_eq!(parse_memory(""), Some(0));
        assert_eq!(parse_memory("-1"), None);
        assert_eq!(parse_memory("+5"), None);
        assert_eq!(parse_memory("5x"), None);
        assert_eq!(normalise_notify_events("KEA").as_deref(), Ok("AKE"));
        assert_eq!(
            normalise_save("3600 1 300 100").as_deref(),
            Ok("3600 1 300 100")
        );
        assert!(normalise_save("100  5").is_err());
        assert_eq!(trim_double(99.9), "99.9");
        assert_eq!(trim_double(50.0), "50");
        let mut c = Config::default();
        c.set("hz", "1000", true).unwrap();
        assert_eq!(c.get("hz"), Some("500"));
        c.set("unixsocketperm", "700", false).unwrap();
        assert_eq!(c.unixsocketperm, 0o700);
        assert_eq!(c.get("unixsocketperm"), Some("700"));
    }

    #[test]
    fn config_set_is_all_or_nothing_with_redis_error_order() {
        let mut c = Config::default();
        let err = c
            .set_many(&[(b"hz", b"50"), (b"maxmemory-policy", b"bad")], true)
            .unwrap_err();
        assert_eq!(err.0, "maxmemory-policy");
        assert_eq!(c.get("hz"), Some("10"));
        let err = c
            .set_many(&[(b"daemonize", b"yes"), (b"nosuch", b"1")], true)
            .unwrap_err();
        assert_eq!(err, ("daemonize".to_string(), SetError::Immutable));
        let err = c
            .set_many(&[(b"nosuch", b"1"), (b"daemonize", b"yes")], true)
            .unwrap_err();
        assert_eq!(err, ("nosuch".to_string(), SetError::Unknown));
        let err = c
            .set_many(&[(b"hz", b"1"), (b"HZ", b"2")], true)
            .unwrap_err();
        assert_eq!(err.0, "HZ");
        c.set_many(
            &[
                (b"hash-max-ziplist-entries", b"5"),
                (b"hash-max-listpack-entries", b"6"),
            ],
            true,
        )
        .unwrap();
        assert_eq!(c.hash_max_listpack_entries, 6);
    }

    #[test]
    fn unsupported_features_keep_truthful_values() {
        let mut c = Config::default();
        c.set("save", "3600 1", false).unwrap();
        c.set("maxmemory", "1mb", false).unwrap();
        assert_eq!(c.memory.maxmemory, 1 << 20);
        c.set("maxmemory", "0", false).unwrap();
        c.set("save", "", false).unwrap();
        c.set("notify-keyspace-events", "KEA", false).unwrap();
        assert!(c
            .set("notify-keyspace-events", "xyz", false)
            .unwrap_err()
            .0
            .contains("Invalid event class"));
    }
}
