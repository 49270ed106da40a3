//! Files: writing an RDB safely (a temp file in the target directory, fsync, rename over the
//! old file, fsync of the directory: a crash leaves either the old or the new file, never a
//! torn one) and loading one into the server's databases.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::{crc64, Encoder, LoadLimits, LoadedKey};
use crate::db::Db;
use crate::server::Server;

/// Distinguishes temp files of several engines (and saves) in one process.
static TEMP_SEQ: AtomicU64 = AtomicU64::new(0);

/// `dir/dbfilename` from the config.
pub fn rdb_path(config: &crate::config::Config) -> PathBuf {
    let dir = config.get("dir").unwrap_or(".");
    let name = config.get("dbfilename").unwrap_or("dump.rdb");
    Path::new(dir).join(name)
}

/// What ends a file: the CRC64 of everything before it, eight zero bytes (`rdbchecksum no`,
/// as Redis writes), or nothing (an AOF base written as commands).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trailer {
    Checksum,
    Zero,
    None,
}

impl Trailer {
    pub fn from_config(config: &crate::config::Config) -> Trailer {
        if config.get("rdbchecksum") == Some("no") {
            Trailer::Zero
        } else {
            Trailer::Checksum
        }
    }
}

/// An RDB file being written: bytes go through the checksum into a temp file that replaces
/// the target only once complete and on disk.
pub struct FileSink {
    file: BufWriter<File>,
    temp: PathBuf,
    target: PathBuf,
    crc: u64,
    written: u64,
    /// `written` at the last incremental fsync.
    synced: u64,
}

/// Bytes written between fsyncs of a file being written (Redis's `REDIS_AUTOSYNC_BYTES`, with
/// `rdb-save-incremental-fsync yes`): the kernel never holds a large backlog of dirty pages
/// whose writeback would stall the engine's own small AOF writes.
const AUTOSYNC_BYTES: u64 = 4 << 20;

impl FileSink {
    pub fn create(target: &Path) -> std::io::Result<FileSink> {
        let dir = target.parent().unwrap_or(Path::new("."));
        let temp = dir.join(format!(
            "temp-{}-{}.rdb",
            std::process::id(),
            TEMP_SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let file = File::create(&temp)?;
        Ok(FileSink {
            file: BufWriter::with_capacity(1 << 20, file),
            temp,
            target: target.to_path_buf(),
            crc: 0,
            written: 0,
            synced: 0,
        })
    }

    pub fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.crc = crc64::update(self.crc, bytes);
        self.written += bytes.len() as u64;
        self.file.write_all(bytes)?;
        if self.written - self.synced >= AUTOSYNC_BYTES {
            self.file.flush()?;
            self.file.get_ref().sync_data()?;
            self.synced = self.written;
        }
        Ok(())
    }

    /// Appends the trailer, syncs and renames. Returns the file size.
    pub fn finish(mut self, trailer: Trailer) -> std::io::Result<u64> {
        let trailer_bytes = match trailer {
            Trailer::Checksum => Some(self.crc),
            Trailer::Zero => Some(0),
            Trailer::None => None,
        };
        if let Some(crc) = trailer_bytes {
            self.file.write_all(&crc.to_le_bytes())?;
            self.written += 8;
        }
        self.file.flush()?;
        self.file.get_ref().sync_all()?;
        std::fs::rename(&self.temp, &self.target)?;
        if let Some(dir) = self.target.parent() {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(self.written)
    }

    /// Drops the temp file (a failed or aborted save).
    pub fn abort(self) {
        let temp = self.temp.clone();
        drop(self);
        let _ = std::fs::remove_file(temp);
    }
}

/// The header and AUX fields every file starts with (`aof_base`: the file is the base of an
/// append only file).
pub fn preamble(enc: &mut Encoder, used_mem: u64, aof_base: bool) {
    enc.header();
    enc.aux_fields(crate::util::now_ms() / 1000, used_mem, aof_base);
}

/// Serialises every database at once (SAVE, SHUTDOWN, DEBUG RELOAD): blocks the engine, as
/// Redis's SAVE does. Returns the file size.
pub fn save_now(server: &mut Server) -> std::io::Result<u64> {
    let path = rdb_path(&server.config);
    let compress = server.config.get("rdbcompression") != Some("no");
    let trailer = Trailer::from_config(&server.config);
    let used = server.used_memory();
    let mut sink = FileSink::create(&path)?;
    let mut enc = Encoder::new(compress);
    preamble(&mut enc, used, false);
    let result = write_dbs(&server.dbs, &mut enc, &mut sink);
    match result {
        Ok(()) => sink.finish(trailer),
        Err(e) => {
            sink.abort();
            Err(e)
        }
    }
}

fn write_dbs(dbs: &[Db], enc: &mut Encoder, sink: &mut FileSink) -> std::io::Result<()> {
    const CHUNK: usize = 1 << 20;
    for (i, db) in dbs.iter().enumerate() {
        if db.is_empty() {
            continue;
        }
        enc.select_db(i);
        enc.resize_db(db.keys.len(), db.expires.len());
        for (key, entry) in db.keys.iter() {
            enc.key_value(key, &entry.value, db.expires.get(&key[..]).copied());
            if enc.out.len() >= CHUNK {
                sink.write(&enc.out)?;
                enc.out.clear();
            }
        }
    }
    enc.eof();
    sink.write(&enc.out)?;
    enc.out.clear();
    Ok(())
}

/// Keys a load put in the databases and skipped as already expired.
#[derive(Debug, Default, Clone, Copy)]
pub struct LoadCounts {
    pub loaded: u64,
    pub expired: u64,
    /// Where the RDB data ends in the bytes (an AOF's commands may follow).
    pub end: usize,
}

/// Loads the RDB bytes into `dbs` (which the caller has emptied or knows to be empty).
/// Keys whose TTL has passed are skipped, as redis-server does on a master.
pub fn load_into(
    dbs: &mut [Db],
    bytes: &[u8],
    limits: LoadLimits,
    now_ms: i64,
) -> Result<LoadCounts, super::RdbError> {
    let counts = std::cell::Cell::new(LoadCounts::default());
    // Both callbacks need the databases: the key sink and the RESIZEDB hint, which sizes the
    // tables once instead of letting them grow (and rehash) while loading.
    let dbs = std::cell::RefCell::new(dbs);
    let mut sink = |k: LoadedKey| -> Result<(), String> {
        let mut c = counts.get();
        // New keys take their access time from the cached clock; a load runs for seconds.
        if (c.loaded + c.expired).is_multiple_of(4096) {
            crate::util::refresh_cached_ms();
        }
        if k.expire_ms.is_some_and(|at| at <= now_ms) {
            c.expired += 1;
            counts.set(c);
            return Ok(());
        }
        let mut dbs = dbs.borrow_mut();
        let Some(db) = dbs.get_mut(k.db) else {
            return Err(format!("database {} does not exist", k.db));
        };
        // One lookup: `insert_new` leaves an existing key alone, so an unchanged size means
        // the file holds the key twice.
        let before = db.keys.len();
        db.insert_new(&k.key, k.value);
        if db.keys.len() == before {
            return Err(format!(
                "duplicate key '{}'",
                String::from_utf8_lossy(&k.key)
            ));
        }
        if let Some(at) = k.expire_ms {
            db.set_expire(&k.key, at);
        }
        c.loaded += 1;
        counts.set(c);
        Ok(())
    };
    let mut sizes = |db: usize, keys: u64, expires: u64| {
        if let Some(d) = dbs.borrow_mut().get_mut(db) {
            // A hint only: capped so a corrupt file cannot make us allocate wildly.
            let cap = bytes.len() as u64 / 4;
            d.keys.reserve(keys.min(cap) as usize);
            d.expires.reserve(expires.min(cap) as usize);
        }
    };
    // Fetches a key's table slots ahead of its insert (most of a large load's time).
    let mut prefetch = |k: &LoadedKey, what: super::read::Prefetch| {
        if let Some(db) = dbs.borrow().get(k.db) {
            let ttl = k.expire_ms.is_some();
            match what {
                super::read::Prefetch::Bucket => {
                    db.keys.prefetch_bucket(&k.key[..]);
                    if ttl {
                        db.expires.prefetch_bucket(&k.key[..]);
                    }
                }
                super::read::Prefetch::Chain => {
                    db.keys.prefetch_chain(&k.key[..]);
                    if ttl {
                        db.expires.prefetch_chain(&k.key[..]);
                    }
                }
            }
        }
    };
    let info = super::read::load_with_hooks(bytes, limits, &mut sink, &mut sizes, &mut prefetch)?;
    Ok(LoadCounts {
        end: info.end,
        ..counts.get()
    })
}

/// Loads `dir/dbfilename` into the server if the file exists (engine start, DEBUG RELOAD).
/// `Ok(None)`: there is no file.
pub fn load_file(server: &mut Server) -> Result<Option<LoadCounts>, String> {
    let path = rdb_path(&server.config);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let limits = LoadLimits::from_config(&server.config);
    let started = std::time::Instant::now();
    server.rdb.loading = true;
    let result = load_into(&mut server.dbs, &bytes, limits, crate::util::now_ms());
    server.rdb.loading = false;
    let counts = result.map_err(|e| format!("{}: {e}", path.display()))?;
    server.rdb.last_load_keys_loaded = counts.loaded;
    server.rdb.last_load_keys_expired = counts.expired;
    tracing::info!(
        engine = %server.name,
        file = %path.display(),
        keys = counts.loaded,
        expired = counts.expired,
        ms = started.elapsed().as_millis() as u64,
        "DB loaded from disk"
    );
    Ok(Some(counts))
}
