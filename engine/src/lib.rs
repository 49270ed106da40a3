//! Tradestate's Redis-compatible in-memory engine.
//!
//! Real Redis clients (redis-cli, redis-benchmark, the `redis` crate, redis-py) talk to it
//! unchanged. One engine instance owns its keyspace on one thread (like Redis), so commands are
//! atomic without locks; a process can run several instances side by side ([`engine::start`]),
//! which is how the Tradestate gateway embeds its ris, rts and rtss partitions.
//!
//! Modules (docs/ARCHITECTURE.md, Crates, has the same map by file):
//! - `engine`: starting and stopping an instance: its thread, runtime, listeners and cron.
//! - `server`: the state an engine thread owns (databases, config, stats, clients) and `cron`.
//! - `connection`: one client connection: read, run every complete command, one write of replies.
//! - `local`: in-process clients ([`LocalClient`]): command batches over a channel, RESP2 back.
//! - `protocol`: request parsing (`parser`) and RESP2/RESP3 reply encoding (`reply`).
//! - `commands`: the command table, `execute`, and one module per command family.
//! - `scripting`: Lua scripting (EVAL): the Lua state, the script cache, `redis.call`.
//! - `types`: the values a key can hold, one module per data type with its encodings.
//! - `db`: one logical database (SELECT n): keys, expiry dictionary, lazy and active expiry.
//! - `dict`: the incrementally rehashed hash table behind the keyspace, hashes and sets.
//! - `key`: key names, inline up to 22 bytes, on the heap beyond.
//! - `config`: every Redis 7.0 parameter: redis.conf file, `--name value` flags, CONFIG SET.
//! - `acl`: users and permissions (Redis 7 ACL), AUTH's check, protected mode.
//! - `multi`: transactions (MULTI/EXEC/DISCARD) and optimistic locking (WATCH).
//! - `blocking`: blocking commands (BLPOP, BLMOVE, XREAD BLOCK, ...) and their waiters.
//! - `pubsub`: the channel and pattern registry, message delivery, the pubsub output limit.
//! - `notify`: keyspace notifications (`notify-keyspace-events`).
//! - `clientctl`: CLIENT PAUSE, CLIENT REPLY and the normal clients' output buffer limit.
//! - `evict`: `maxmemory` eviction by `maxmemory-policy` and the OOM rejection of writes.
//! - `lazyfree`: large values dropped on a background thread.
//! - `memory`: process measurements for INFO (allocated bytes, RSS, system memory, CPU time).
//! - `rdb`: RDB persistence: Redis's snapshot format (version 10), BGSAVE without fork.
//! - `aof`: the append only file: logging, Redis 7's multi-part layout, loading, rewrite.
//! - `latency`: the latency monitor (LATENCY) and the per-command latency histograms.
//! - `slowlog`: the slow log and the SLOWLOG command.
//! - `util`: number parsing and formatting with Redis's exact rules, shared helpers.

#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOC: memory::CountingJemalloc = memory::CountingJemalloc;

pub mod acl;
pub mod aof;
pub mod blocking;
pub mod clientctl;
pub mod commands;
pub mod config;
pub mod connection;
pub mod db;
pub mod dict;
pub mod engine;
pub mod evict;
pub mod key;
pub mod latency;
pub mod lazyfree;
pub mod local;
pub mod memory;
pub mod multi;
pub mod notify;
pub mod protocol;
pub mod pubsub;
pub mod rdb;
pub mod scripting;
pub mod server;
pub mod slowlog;
pub mod types;
pub mod util;

pub use config::Config;
pub use engine::{start, EngineHandle, StartError};
pub use local::{EngineStopped, LocalClient};
