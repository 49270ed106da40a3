//! RDB persistence: Redis's snapshot file format, version 10, so
//! `redis-check-rdb` accepts our files and redis-server 7 loads them, and we load theirs.
//!
//! - `write.rs` / `read.rs`: the record format; `encodings.rs`: listpack, ziplist and intset
//!   blobs; `lzf.rs` and `crc64.rs`: string compression and the file checksum.
//! - `file.rs`: writing a file safely (temp file, fsync, rename) and loading one.
//! - `snapshot.rs`: BGSAVE without fork: the keyspace is serialised in small slices from the
//!   engine loop, with a write barrier that saves a key's old value before its first change,
//!   and a background thread writes and fsyncs the bytes.
//! - `state.rs`: save rules, LASTSAVE and the INFO persistence counters.

pub mod crc64;
pub mod encodings;
pub mod file;
pub mod lzf;
pub mod read;
pub mod snapshot;
pub mod state;
pub mod write;

pub use read::{load, LoadLimits, LoadedKey};
pub use state::RdbState;
pub use write::Encoder;

/// The RDB version written (Redis 7.0's).
pub const RDB_VERSION: u32 = 10;
/// The newest version read (Redis 7.2's 11 adds two types, both read).
pub const MAX_READ_VERSION: u32 = 11;
/// `redis-ver` written in the AUX fields: the Redis version this engine is compatible with.
pub const REDIS_VERSION: &str = "7.0.15";
/// Largest string accepted from a file (Redis's `proto-max-bulk-len` ceiling).
pub const MAX_STRING: u64 = 512 * 1024 * 1024 * 8;

// Value types (rdb.h).
pub const TYPE_STRING: u8 = 0;
pub const TYPE_LIST: u8 = 1;
pub const TYPE_SET: u8 = 2;
pub const TYPE_ZSET: u8 = 3;
pub const TYPE_HASH: u8 = 4;
pub const TYPE_ZSET_2: u8 = 5;
pub const TYPE_MODULE: u8 = 6;
pub const TYPE_MODULE_2: u8 = 7;
pub const TYPE_HASH_ZIPMAP: u8 = 9;
pub const TYPE_LIST_ZIPLIST: u8 = 10;
pub const TYPE_SET_INTSET: u8 = 11;
pub const TYPE_ZSET_ZIPLIST: u8 = 12;
pub const TYPE_HASH_ZIPLIST: u8 = 13;
pub const TYPE_LIST_QUICKLIST: u8 = 14;
pub const TYPE_STREAM_LISTPACKS: u8 = 15;
pub const TYPE_HASH_LISTPACK: u8 = 16;
pub const TYPE_ZSET_LISTPACK: u8 = 17;
pub const TYPE_LIST_QUICKLIST_2: u8 = 18;
pub const TYPE_STREAM_LISTPACKS_2: u8 = 19;
pub const TYPE_SET_LISTPACK: u8 = 20;
pub const TYPE_STREAM_LISTPACKS_3: u8 = 21;

// Opcodes.
pub const OP_FUNCTION2: u8 = 245;
pub const OP_FUNCTION: u8 = 246;
pub const OP_MODULE_AUX: u8 = 247;
pub const OP_IDLE: u8 = 248;
pub const OP_FREQ: u8 = 249;
pub const OP_AUX: u8 = 250;
pub const OP_RESIZEDB: u8 = 251;
pub const OP_EXPIRETIME_MS: u8 = 252;
pub const OP_EXPIRETIME: u8 = 253;
pub const OP_SELECTDB: u8 = 254;
pub const OP_EOF: u8 = 255;

// Length and string encodings.
pub const LEN_32BIT: u8 = 0x80;
pub const LEN_64BIT: u8 = 0x81;
pub const ENC_INT8: u8 = 0xc0;
pub const ENC_INT16: u8 = 0xc1;
pub const ENC_INT32: u8 = 0xc2;
pub const ENC_LZF: u8 = 0xc3;
const ENC_INT8_KIND: u8 = 0;
const ENC_INT16_KIND: u8 = 1;
const ENC_INT32_KIND: u8 = 2;
const ENC_LZF_KIND: u8 = 3;

pub const QUICKLIST_NODE_PLAIN: u64 = 1;
pub const QUICKLIST_NODE_PACKED: u64 = 2;
pub const STREAM_FLAG_DELETED: i64 = 1;
pub const STREAM_FLAG_SAMEFIELDS: i64 = 2;

/// A file that cannot be loaded: what is wrong and at which byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RdbError {
    pub offset: usize,
    pub msg: String,
}

impl std::fmt::Display for RdbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "bad RDB file at byte {}: {}", self.offset, self.msg)
    }
}

impl std::error::Error for RdbError {}

/// Engine start: loads `dir/dbfilename` if it exists. A file that cannot be loaded stops the
/// start with the reason (as redis-server exits), rather than running with missing data.
/// With `appendonly yes` the AOF is the source of truth and is loaded instead (AOF module).
pub fn load_at_start(server: &mut crate::server::Server) -> Result<(), String> {
    if server.config.get("appendonly") == Some("yes") {
        return Ok(());
    }
    file::load_file(server)?;
    Ok(())
}

/// Engine stop (SHUTDOWN, handle drop, signal): with save rules configured, a final
/// foreground save, as redis-server does on SIGTERM. SHUTDOWN handles its own NOSAVE/SAVE
/// and sets `shutdown_saved` so this does not save twice.
pub fn save_on_stop(server: &mut crate::server::Server) {
    if server.rdb.shutdown_handled || state::save_rules(&server.config).is_empty() {
        return;
    }
    snapshot::abort(server);
    match file::save_now(server) {
        Ok(bytes) => {
            tracing::info!(engine = %server.name, bytes, "DB saved on disk before stopping")
        }
        Err(e) => {
            tracing::warn!(engine = %server.name, error = %e, "error saving the DB before stopping")
        }
    }
}

#[cfg(test)]
mod tests;
