//! The typed configuration: what each setting is, its default, and how one TOML value becomes it.
//! The defaults here must equal `tradestate.example.toml` (a test holds them together), which is
//! the file `load` actually starts from.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use crate::PARTITIONS;

/// Everything the service reads at start-up.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub listen: Listen,
    pub auth: Auth,
    pub partitions: Partitions,
    pub policy: Policy,
    pub limits: Limits,
    pub spill: Spill,
    /// Embedded engines' data and the spill log live here.
    pub data_dir: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listen {
    #[serde(deserialize_with = "socket_addr")]
    pub http: SocketAddr,
    /// `None` when the file says `""` or `"off"`.
    #[serde(deserialize_with = "optional_socket_addr")]
    pub resp: Option<SocketAddr>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    pub terminals: Vec<TerminalToken>,
    /// `None` when the file says `""`.
    #[serde(deserialize_with = "optional_path")]
    pub tokens_file: Option<PathBuf>,
    pub operator_tokens: Vec<String>,
}

/// One terminal's credentials. TOML: `[[auth.terminals]] id = "T1" token = "..."`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TerminalToken {
    #[serde(rename = "id")]
    pub instance_id: String,
    pub token: String,
}

impl TerminalToken {
    pub fn new(instance_id: &str, token: &str) -> TerminalToken {
        TerminalToken {
            instance_id: instance_id.to_string(),
            token: token.to_string(),
        }
    }
}

// Tokens are secrets: keep them out of logs that print a Config with {:?}.
impl fmt::Debug for TerminalToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TerminalToken")
            .field("instance_id", &self.instance_id)
            .field("token", &"<redacted>")
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Partitions {
    pub ris: Partition,
    pub rts: Partition,
    pub rtss: Partition,
}

impl Partitions {
    /// The partition called `name` (one of [`PARTITIONS`]).
    pub fn get(&self, name: &str) -> Option<&Partition> {
        match name {
            "ris" => Some(&self.ris),
            "rts" => Some(&self.rts),
            "rtss" => Some(&self.rtss),
            _ => None,
        }
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut Partition> {
        match name {
            "ris" => Some(&mut self.ris),
            "rts" => Some(&mut self.rts),
            "rtss" => Some(&mut self.rtss),
            _ => None,
        }
    }

    /// `("ris", ..), ("rts", ..), ("rtss", ..)`, in the order of [`PARTITIONS`].
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &Partition)> {
        [
            (PARTITIONS[0], &self.ris),
            (PARTITIONS[1], &self.rts),
            (PARTITIONS[2], &self.rtss),
        ]
        .into_iter()
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Partition {
    pub backend: Backend,
    /// Loopback port of the embedded engine; 0 asks the OS for a free one.
    pub embedded_port: u16,
    pub queue_capacity: usize,
    pub batch_max: usize,
    pub write_timeout_ms: u64,
    pub connect_timeout_ms: u64,
    /// When a terminal is answered: once the write is in the master (`written`), or once
    /// `ack_replicas` replicas have it too (`replicated`, `WAIT` within `ack_timeout_ms`).
    pub ack: Ack,
    pub ack_replicas: u32,
    pub ack_timeout_ms: u64,
    /// TLS (`rediss://`, `rediss+sentinel://`): the CA bundle the server's certificate must
    /// chain to (`None`: the system's roots), and a client certificate with its key (both or
    /// neither). `None` when the file says `""`.
    #[serde(deserialize_with = "optional_path")]
    pub tls_ca_file: Option<PathBuf>,
    #[serde(deserialize_with = "optional_path")]
    pub tls_cert_file: Option<PathBuf>,
    #[serde(deserialize_with = "optional_path")]
    pub tls_key_file: Option<PathBuf>,
    /// Extra redis.conf parameters for the embedded engine (`hz = "10"`); numbers and booleans
    /// are accepted and turned into the strings redis.conf would hold.
    #[serde(deserialize_with = "engine_params")]
    pub engine: BTreeMap<String, String>,
}

/// What an acknowledgement to a terminal waits for (TOML: `"written"` or `"replicated"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Ack {
    /// In the engine, and in its append only file when it keeps one.
    Written,
    /// Also in `ack_replicas` replicas (`WAIT`); a timeout is not an acknowledgement.
    Replicated,
}

/// Where a partition's engine is. TOML: `"embedded"`, a URL string, or a table naming a
/// Sentinel-managed master field by field (turned into its `redis+sentinel://` URL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    Embedded,
    /// `redis://`, `rediss://`, `unix://`, `redis+sentinel://`, `rediss+sentinel://` or
    /// `redis+cluster://`; its syntax is checked by validation.
    Url(String),
}

/// `[partitions.<p>.backend]` as a table: the parts of a Sentinel URL, which a deployment's
/// tooling often fills in one by one.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SentinelTable {
    /// `host:port` of each sentinel (the port defaults to 26379).
    sentinels: Vec<String>,
    /// The name the sentinels monitor the master under.
    master: String,
    #[serde(default)]
    db: u32,
    /// The data nodes' credentials (master and replicas).
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    /// The sentinels' own credentials.
    #[serde(default)]
    sentinel_username: String,
    #[serde(default)]
    sentinel_password: String,
    /// TLS to the sentinels and the data nodes (`rediss+sentinel://`).
    #[serde(default)]
    tls: bool,
}

impl SentinelTable {
    fn url(&self) -> String {
        let encode = tradestate_backend::url::encode;
        let scheme = if self.tls {
            "rediss+sentinel"
        } else {
            "redis+sentinel"
        };
        let userinfo = match (self.username.as_str(), self.password.as_str()) {
            ("", "") => String::new(),
            (user, pass) => format!("{}:{}@", encode(user), encode(pass)),
        };
        let mut url = format!(
            "{scheme}://{userinfo}{}/{}/{}",
            self.sentinels.join(","),
            encode(&self.master),
            self.db
        );
        let mut query = Vec::new();
        if !self.sentinel_username.is_empty() {
            query.push(format!(
                "sentinel_username={}",
                encode(&self.sentinel_username)
            ));
        }
        if !self.sentinel_password.is_empty() {
            query.push(format!(
                "sentinel_password={}",
                encode(&self.sentinel_password)
            ));
        }
        if !query.is_empty() {
            url.push('?');
            url.push_str(&query.join("&"));
        }
        url
    }
}

impl<'de> Deserialize<'de> for Backend {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct BackendVisitor;
        impl<'de> Visitor<'de> for BackendVisitor {
            type Value = Backend;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "\"embedded\", a URL, or a table with sentinels = [...] and master = \"...\"",
                )
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Backend, E> {
                Ok(if s == "embedded" {
                    Backend::Embedded
                } else {
                    Backend::Url(s.to_string())
                })
            }
            fn visit_map<M: de::MapAccess<'de>>(self, map: M) -> Result<Backend, M::Error> {
                let table = SentinelTable::deserialize(de::value::MapAccessDeserializer::new(map))?;
                if table.sentinels.is_empty() {
                    return Err(de::Error::custom(
                        "sentinels is empty: list at least one, e.g. sentinels = [\"10.0.0.7:26379\"]",
                    ));
                }
                Ok(Backend::Url(table.url()))
            }
        }
        d.deserialize_any(BackendVisitor)
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub ris_ttl_s: u64,
    pub ris_seen_key: String,
    pub rts_closed_ttl_s: u64,
    pub rtss_stream: String,
    pub rtss_maxlen: u64,
    pub signal_dedupe_ttl_s: u64,
    /// Online for this long after the last heartbeat, then stale until `ris_ttl_s`, then offline.
    pub instance_stale_after_s: u64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Updates per second per terminal.
    pub per_terminal_rate: u32,
    pub per_terminal_burst: u32,
    /// Updates per second across all terminals.
    pub global_rate: u32,
    pub max_body_bytes: usize,
    pub max_batch_updates: usize,
    /// Fraction of a queue's capacity above which replies carry `throttle_ms`.
    pub throttle_watermark: f64,
    /// Fraction of a queue's capacity above which updates get 429 / `-TRYAGAIN`.
    pub reject_watermark: f64,
    pub retry_after_s: u64,
    pub max_resp_clients: usize,
}

/// The spill log: where updates a partition cannot take right now are kept, on
/// disk, until it can.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spill {
    pub enabled: bool,
    /// `always`, `everysec` or `no`, as the engines' `appendfsync`.
    pub fsync: String,
    /// Most bytes one partition's spill may hold on disk.
    pub max_bytes: u64,
    /// Spilling stops while the disk holding it has less free space than this.
    pub min_free_bytes: u64,
    /// An update its partition has not acknowledged within this time is spooled instead.
    pub after_ms: u64,
    /// Size at which a spill segment file is closed and a new one started.
    pub segment_bytes: u64,
}

impl Default for Spill {
    fn default() -> Self {
        Spill {
            enabled: true,
            fsync: "everysec".to_string(),
            max_bytes: 1 << 30,
            min_free_bytes: 256 << 20,
            after_ms: 50,
            segment_bytes: 64 << 20,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: Listen::default(),
            auth: Auth::default(),
            partitions: Partitions::default(),
            policy: Policy::default(),
            limits: Limits::default(),
            spill: Spill::default(),
            data_dir: PathBuf::from("data"),
        }
    }
}

impl Default for Listen {
    fn default() -> Self {
        Listen {
            http: loopback(8080),
            resp: Some(loopback(6390)),
        }
    }
}

impl Default for Partitions {
    fn default() -> Self {
        Partitions {
            ris: Partition::embedded(6380, "volatile-ttl", true),
            rts: Partition::embedded(6381, "volatile-ttl", true),
            rtss: Partition::embedded(6382, "volatile-lru", true),
        }
    }
}

/// RDB snapshot rules of the embedded engines: after 1 hour with 1 change, 5 minutes with
/// 100, 1 minute with 10000.
pub const DEFAULT_SAVE: &str = "3600 1 300 100 60 10000";

impl Partition {
    /// Persistence: every partition snapshots (RDB `save` rules) and (`aof`)
    /// logs every write to an append only file before it is acknowledged, fsynced every second.
    fn embedded(port: u16, eviction: &str, aof: bool) -> Self {
        let mut engine = BTreeMap::from([
            ("maxmemory-policy".to_string(), eviction.to_string()),
            ("save".to_string(), DEFAULT_SAVE.to_string()),
        ]);
        if aof {
            engine.insert("appendonly".to_string(), "yes".to_string());
            engine.insert("appendfsync".to_string(), "everysec".to_string());
        }
        Partition {
            backend: Backend::Embedded,
            embedded_port: port,
            queue_capacity: 10_000,
            batch_max: 512,
            write_timeout_ms: 2000,
            connect_timeout_ms: 1000,
            ack: Ack::Written,
            ack_replicas: 1,
            ack_timeout_ms: 1000,
            tls_ca_file: None,
            tls_cert_file: None,
            tls_key_file: None,
            engine,
        }
    }

    /// The TLS files, as the backend crate reads them.
    pub fn tls_files(&self) -> tradestate_backend::TlsFiles {
        tradestate_backend::TlsFiles {
            ca_file: self.tls_ca_file.clone(),
            cert_file: self.tls_cert_file.clone(),
            key_file: self.tls_key_file.clone(),
        }
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            ris_ttl_s: 120,
            ris_seen_key: tradestate_mt5_bridge::keys::SEEN_INDEX.to_string(),
            rts_closed_ttl_s: 2_592_000,
            rtss_stream: tradestate_mt5_bridge::keys::SIGNAL_STREAM.to_string(),
            rtss_maxlen: 10_000,
            signal_dedupe_ttl_s: 86_400,
            instance_stale_after_s: 30,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            per_terminal_rate: 200,
            per_terminal_burst: 400,
            global_rate: 100_000,
            max_body_bytes: 1 << 20,
            max_batch_updates: 1000,
            throttle_watermark: 0.5,
            reject_watermark: 0.9,
            retry_after_s: 1,
            max_resp_clients: 10_000,
        }
    }
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port))
}

fn parse_socket_addr<E: de::Error>(s: &str) -> Result<SocketAddr, E> {
    s.parse().map_err(|_| {
        E::custom(format!(
            "cannot parse {s:?} as an address: use IP:port, e.g. 127.0.0.1:8080, 0.0.0.0:8080 \
             or [::1]:8080 (host names are not resolved)"
        ))
    })
}

fn socket_addr<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    parse_socket_addr(&String::deserialize(d)?)
}

fn optional_socket_addr<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
    let s = String::deserialize(d)?;
    if s.is_empty() || s == "off" {
        return Ok(None);
    }
    parse_socket_addr(&s).map(Some)
}

fn optional_path<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
    let s = String::deserialize(d)?;
    Ok((!s.is_empty()).then(|| PathBuf::from(s)))
}

/// A redis.conf value: written as a string, or as a number/boolean for convenience.
struct EngineValue(String);

impl<'de> Deserialize<'de> for EngineValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = EngineValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a redis.conf value (a string, number or boolean)")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<EngineValue, E> {
                Ok(EngineValue(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<EngineValue, E> {
                Ok(EngineValue(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<EngineValue, E> {
                Ok(EngineValue(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<EngineValue, E> {
                Ok(EngineValue(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<EngineValue, E> {
                Ok(EngineValue(if v { "yes" } else { "no" }.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

fn engine_params<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let raw = BTreeMap::<String, EngineValue>::deserialize(d)?;
    Ok(raw.into_iter().map(|(k, v)| (k, v.0)).collect())
}
