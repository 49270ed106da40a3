//! Tradestate's Redis-compatible in-memory engine.
//!
//! Real Redis clients (redis-cli, redis-benchmark, the `redis` crate, redis-py) talk to it
//! unchanged. One engine instance owns its keyspace on one thread (like Redis), so commands are
//! atomic without locks; a process can run several instances side by side ([`engine::start`]),
//! which is how the Tradestate gateway embeds its ris, rts and rtss partitions.
//!
//! Layout: `protocol/` (RESP parsing and replies), `connection` (one client's buffers and
//! loop), `engine` (threads and listeners), `server` (the state an engine owns), `db` (one
//! database with expiry), `dict` (the hash table), `types/` (one module per data type) and
//! `commands/` (one module per command family, plus the one command table).

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
pub mod server;
pub mod slowlog;
pub mod types;
pub mod util;

pub use config::Config;
pub use engine::{start, EngineHandle, StartError};
pub use local::{EngineStopped, LocalClient};
