//! Engine configuration: every parameter Redis clients and tools read or set, parsed from a
//! redis.conf-style file, `--name value` flags, or `CONFIG SET`.
//!
//! Parameters are kept as one table of specs (name, aliases, kind, default, whether CONFIG SET
//! may change it) so the file parser, the flag parser, CONFIG GET and CONFIG SET all agree; the
//! values the hot path reads are mirrored into typed fields after every change.

use crate::util::{glob_match, parse_i64};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Bool,
    /// Integer with an inclusive range.
    Int(i64, i64),
    /// A byte size that accepts `kb`/`mb`/`gb` suffixes; reported back as bytes.
    Memory,
    /// One of a fixed set of words.
    Enum(&'static [&'static str]),
    /// Free text.
    Text,
}

pub struct ParamSpec {
    pub name: &'static str,
    pub alias: Option<&'static str>,
    pub kind: Kind,
    pub default: &'static str,
    /// `CONFIG SET` may change it at runtime.
    pub mutable: bool,
}

const fn p(name: &'static str, kind: Kind, default: &'static str) -> ParamSpec {
    ParamSpec {
        name,
        alias: None,
        kind,
        default,
        mutable: true,
    }
}

const fn fixed(name: &'static str, kind: Kind, default: &'static str) -> ParamSpec {
    ParamSpec {
        name,
        alias: None,
        kind,
        default,
        mutable: false,
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
        mutable: true,
    }
}

const YES_NO: Kind = Kind::Bool;
const I32: Kind = Kind::Int(i32::MIN as i64, i32::MAX as i64);
const POS: Kind = Kind::Int(0, i64::MAX);
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

/// Every parameter the engine knows, in the order CONFIG GET * reports them.
pub static PARAMS: &[ParamSpec] = &[
    fixed("port", Kind::Int(0, 65535), "6379"),
    fixed("bind", Kind::Text, "* -::*"),
    fixed("unixsocket", Kind::Text, ""),
    fixed("unixsocketperm", Kind::Int(0, 0o777), "0"),
    fixed("databases", Kind::Int(1, i32::MAX as i64), "16"),
    fixed("daemonize", YES_NO, "no"),
    fixed("pidfile", Kind::Text, ""),
    fixed(
        "supervised",
        Kind::Enum(&["upstart", "systemd", "auto", "no"]),
        "no",
    ),
    fixed("tcp-backlog", POS, "511"),
    p("protected-mode", YES_NO, "yes"),
    p("timeout", POS, "0"),
    p("tcp-keepalive", POS, "300"),
    p("maxclients", Kind::Int(1, i32::MAX as i64), "10000"),
    p("proto-max-bulk-len", Kind::Memory, "536870912"),
    p("client-query-buffer-limit", Kind::Memory, "1073741824"),
    p(
        "loglevel",
        Kind::Enum(&["debug", "verbose", "notice", "warning", "nothing"]),
        "notice",
    ),
    p("logfile", Kind::Text, ""),
    p("requirepass", Kind::Text, ""),
    p("maxmemory", Kind::Memory, "0"),
    p("maxmemory-policy", Kind::Enum(POLICIES), "noeviction"),
    p("maxmemory-samples", Kind::Int(1, 64), "5"),
    p("maxmemory-eviction-tenacity", Kind::Int(0, 100), "10"),
    p("hz", Kind::Int(1, 500), "10"),
    p("dynamic-hz", YES_NO, "yes"),
    p("active-expire-effort", Kind::Int(1, 10), "1"),
    p("lazyfree-lazy-eviction", YES_NO, "no"),
    p("lazyfree-lazy-expire", YES_NO, "no"),
    p("lazyfree-lazy-server-del", YES_NO, "no"),
    p("lazyfree-lazy-user-del", YES_NO, "no"),
    p("lazyfree-lazy-user-flush", YES_NO, "no"),
    aliased(
        "hash-max-listpack-entries",
        "hash-max-ziplist-entries",
        POS,
        "128",
    ),
    aliased(
        "hash-max-listpack-value",
        "hash-max-ziplist-value",
        POS,
        "64",
    ),
    p("set-max-intset-entries", POS, "512"),
    aliased(
        "zset-max-listpack-entries",
        "zset-max-ziplist-entries",
        POS,
        "128",
    ),
    aliased(
        "zset-max-listpack-value",
        "zset-max-ziplist-value",
        POS,
        "64",
    ),
    aliased("list-max-listpack-size", "list-max-ziplist-size", I32, "-2"),
    p("list-compress-depth", POS, "0"),
    p("stream-node-max-bytes", Kind::Memory, "4096"),
    p("stream-node-max-entries", POS, "100"),
    p("notify-keyspace-events", Kind::Text, ""),
    p("slowlog-log-slower-than", Kind::Int(-1, i64::MAX), "10000"),
    p("slowlog-max-len", POS, "128"),
    p("latency-monitor-threshold", POS, "0"),
    p("save", Kind::Text, ""),
    p("appendonly", YES_NO, "no"),
    p(
        "appendfsync",
        Kind::Enum(&["always", "everysec", "no"]),
        "everysec",
    ),
    p("dir", Kind::Text, "."),
    p("dbfilename", Kind::Text, "dump.rdb"),
    fixed("appendfilename", Kind::Text, "appendonly.aof"),
    p(
        "client-output-buffer-limit",
        Kind::Text,
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
    ),
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
    pub hz: u32,
    pub active_expire_effort: u32,
    pub requirepass: Option<Vec<u8>>,
    pub protected_mode: bool,
    pub hash_max_listpack_entries: usize,
    pub hash_max_listpack_value: usize,
    pub set_max_intset_entries: usize,
    pub zset_max_listpack_entries: usize,
    pub zset_max_listpack_value: usize,
    pub stream_node_max_bytes: usize,
    pub stream_node_max_entries: usize,
    pub timeout_secs: u64,
}

impl Default for Config {
    fn default() -> Self {
        let values = PARAMS.iter().map(|p| p.default.to_string()).collect();
        let mut c = Config {
            values,
            port: 6379,
            databases: 16,
            maxclients: 10000,
            proto_max_bulk_len: 512 << 20,
            query_buffer_limit: 1 << 30,
            hz: 10,
            active_expire_effort: 1,
            requirepass: None,
            protected_mode: true,
            hash_max_listpack_entries: 128,
            hash_max_listpack_value: 64,
            set_max_intset_entries: 512,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
            stream_node_max_bytes: 4096,
            stream_node_max_entries: 100,
            timeout_secs: 0,
        };
        c.refresh();
        c
    }
}

fn find(name: &str) -> Option<usize> {
    PARAMS.iter().position(|p| {
        p.name.eq_ignore_ascii_case(name) || p.alias.is_some_and(|a| a.eq_ignore_ascii_case(name))
    })
}

/// Parses `1gb`, `100mb`, `64k`, `1024`: Redis's `memtoull`.
pub fn parse_memory(s: &str) -> Option<i64> {
    let lower = s.to_ascii_lowercase();
    let (digits, mul) = [
        ("gb", 1i64 << 30),
        ("mb", 1 << 20),
        ("kb", 1 << 10),
        ("g", 1_000_000_000),
        ("m", 1_000_000),
        ("k", 1000),
        ("b", 1),
    ]
    .iter()
    .find_map(|(suf, mul)| lower.strip_suffix(suf).map(|d| (d.to_string(), *mul)))
    .unwrap_or((lower.clone(), 1));
    let n: i64 = digits.parse().ok()?;
    if n < 0 {
        return None;
    }
    n.checked_mul(mul)
}

impl Config {
    /// The current value of a parameter by exact name or alias.
    pub fn get(&self, name: &str) -> Option<&str> {
        find(name).map(|i| self.values[i].as_str())
    }

    /// CONFIG GET: every (name, value) whose name or alias matches one of the globs, each
    /// parameter once, aliases reported under the name that matched.
    pub fn matching(&self, patterns: &[&[u8]]) -> Vec<(&'static str, String)> {
        let mut out: Vec<(&'static str, String)> = Vec::new();
        for pat in patterns {
            for (i, spec) in PARAMS.iter().enumerate() {
                for name in std::iter::once(spec.name).chain(spec.alias) {
                    if glob_match(pat, name.as_bytes(), true)
                        && !out.iter().any(|(n, _)| *n == name)
                    {
                        out.push((name, self.values[i].clone()));
                    }
                }
            }
        }
        out
    }

    /// Validates and stores a value. `runtime` is true for CONFIG SET, which cannot change
    /// immutable parameters.
    pub fn set(&mut self, name: &str, value: &str, runtime: bool) -> Result<(), ConfigError> {
        let i = find(name).ok_or_else(|| {
            ConfigError(format!(
                "Unknown option or number of arguments for CONFIG SET - '{name}'"
            ))
        })?;
        let spec = &PARAMS[i];
        if runtime && !spec.mutable {
            return Err(ConfigError(format!(
                "Invalid argument '{value}' for CONFIG SET '{name}' - can't set immutable config"
            )));
        }
        let normalised = match spec.kind {
            Kind::Bool => match value.to_ascii_lowercase().as_str() {
                "yes" => "yes".to_string(),
                "no" => "no".to_string(),
                _ => {
                    return Err(ConfigError(format!(
                        "Invalid argument '{value}' for CONFIG SET '{name}' - argument must be 'yes' or 'no'"
                    )))
                }
            },
            Kind::Int(min, max) => {
                let n = parse_i64(value.as_bytes()).ok_or_else(|| {
                    ConfigError(format!(
                        "Invalid argument '{value}' for CONFIG SET '{name}' - argument couldn't be parsed into an integer"
                    ))
                })?;
                if n < min || n > max {
                    return Err(ConfigError(format!(
                        "Invalid argument '{value}' for CONFIG SET '{name}' - argument must be between {min} and {max} inclusive"
                    )));
                }
                n.to_string()
            }
            Kind::Memory => parse_memory(value)
                .ok_or_else(|| {
                    ConfigError(format!(
                        "Invalid argument '{value}' for CONFIG SET '{name}' - argument must be a memory value"
                    ))
                })?
                .to_string(),
            Kind::Enum(words) => {
                let lower = value.to_ascii_lowercase();
                if !words.contains(&lower.as_str()) {
                    return Err(ConfigError(format!(
                        "Invalid argument '{value}' for CONFIG SET '{name}' - argument(s) must be one of the following: {}",
                        words.join(", ")
                    )));
                }
                lower
            }
            Kind::Text => value.to_string(),
        };
        self.values[i] = normalised;
        self.refresh();
        Ok(())
    }

    /// Loads a redis.conf-style text: `name value...` per line, `#` comments, quoted values.
    pub fn load_text(&mut self, text: &str, origin: &str) -> Result<(), ConfigError> {
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let parts = crate::protocol::parser::split_args(line.as_bytes()).ok_or_else(|| {
                ConfigError(format!("{origin}:{}: unbalanced quotes in '{line}'", n + 1))
            })?;
            let Some((name, rest)) = parts.split_first() else {
                continue;
            };
            let name = String::from_utf8_lossy(name).to_string();
            let value = rest
                .iter()
                .map(|v| String::from_utf8_lossy(v).to_string())
                .collect::<Vec<_>>()
                .join(" ");
            self.set(&name, &value, false).map_err(|e| {
                ConfigError(format!(
                    "{origin}:{}: '{line}': {}",
                    n + 1,
                    e.0.replace(
                        "Unknown option or number of arguments for CONFIG SET",
                        "Bad directive or wrong number of arguments",
                    )
                ))
            })?;
        }
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
        self.active_expire_effort = int(self, "active-expire-effort").clamp(1, 10) as u32;
        self.requirepass = self
            .get("requirepass")
            .filter(|v| !v.is_empty())
            .map(|v| v.as_bytes().to_vec());
        self.protected_mode = self.get("protected-mode") == Some("yes");
        self.hash_max_listpack_entries = int(self, "hash-max-listpack-entries") as usize;
        self.hash_max_listpack_value = int(self, "hash-max-listpack-value") as usize;
        self.set_max_intset_entries = int(self, "set-max-intset-entries") as usize;
        self.zset_max_listpack_entries = int(self, "zset-max-listpack-entries") as usize;
        self.zset_max_listpack_value = int(self, "zset-max-listpack-value") as usize;
        self.stream_node_max_bytes = int(self, "stream-node-max-bytes") as usize;
        self.stream_node_max_entries = int(self, "stream-node-max-entries") as usize;
        self.timeout_secs = int(self, "timeout") as u64;
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
            "# comment\nport 7000\nhash-max-ziplist-entries 10\nmaxmemory 1mb\nsave \"\"\n",
            "t.conf",
        )
        .unwrap();
        assert_eq!(c.port, 7000);
        assert_eq!(c.hash_max_listpack_entries, 10);
        assert_eq!(c.get("maxmemory"), Some("1048576"));
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
}
