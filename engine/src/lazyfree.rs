//! Lazy free: large values are dropped on a background thread so deleting them never stalls
//! the engine thread (Redis's `lazyfree.c` and its BIO_LAZY_FREE thread).
//!
//! Values are owned by the engine thread; a deletion that may be slow moves the value into a
//! box and sends it over a channel to one process-wide thread that drops it. Which deletions
//! go there: UNLINK, FLUSHALL/FLUSHDB ASYNC, and DEL, eviction, expiry and implicit
//! overwrites when `lazyfree-lazy-user-del`, `-eviction`, `-expire`, `-server-del` are on — and
//! then only values whose free effort (allocations to release) passes
//! [`LAZYFREE_THRESHOLD`]; small values are cheaper to drop in place than to send.
//!
//! INFO's `lazyfree_pending_objects` and `lazyfreed_objects` are process-wide (engines
//! embedded in one process share the thread).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Mutex, OnceLock};

use crate::db::Db;
use crate::types::Value;

/// Redis's `LAZYFREE_THRESHOLD`: values needing more allocations than this to free go to the
/// background thread.
pub const LAZYFREE_THRESHOLD: usize = 64;

/// Something dropped on the background thread: one value, or whole dictionaries.
type Garbage = Box<dyn Send>;

static PENDING: AtomicU64 = AtomicU64::new(0);
static FREED: AtomicU64 = AtomicU64::new(0);
static SENDER: OnceLock<Mutex<Sender<(Garbage, u64)>>> = OnceLock::new();

/// Objects queued and not yet freed (INFO `lazyfree_pending_objects`).
pub fn pending_objects() -> u64 {
    PENDING.load(Ordering::Relaxed)
}

/// Objects freed in the background since start (INFO `lazyfreed_objects`).
pub fn freed_objects() -> u64 {
    FREED.load(Ordering::Relaxed)
}

/// The channel to the lazy-free thread, started on first use.
fn sender() -> Option<Sender<(Garbage, u64)>> {
    let cell = SENDER.get_or_init(|| {
        let (tx, rx) = channel::<(Garbage, u64)>();
        let spawned = std::thread::Builder::new()
            .name("lazyfree".into())
            .spawn(move || {
                for (garbage, objects) in rx {
                    drop(garbage);
                    PENDING.fetch_sub(objects, Ordering::Relaxed);
                    FREED.fetch_add(objects, Ordering::Relaxed);
                }
            });
        if let Err(e) = spawned {
            tracing::warn!("cannot start the lazy free thread ({e}); frees stay synchronous");
        }
        Mutex::new(tx)
    });
    cell.lock().ok().map(|tx| tx.clone())
}

/// Sends `garbage` (counting `objects`) to the background thread; drops it here if the thread
/// is not available.
fn send(garbage: Garbage, objects: u64) {
    PENDING.fetch_add(objects, Ordering::Relaxed);
    let sent = sender().map(|tx| tx.send((garbage, objects)));
    match sent {
        Some(Ok(())) => {}
        Some(Err(returned)) => {
            drop(returned.0);
            PENDING.fetch_sub(objects, Ordering::Relaxed);
        }
        None => {
            PENDING.fetch_sub(objects, Ordering::Relaxed);
        }
    }
}

/// Allocations freeing `value` releases, like Redis's `lazyfreeGetFreeEffort`: 1 for compact
/// encodings, the element count for tables, lists and streams.
pub fn free_effort(value: &Value) -> usize {
    match value {
        Value::Str(_) => 1,
        Value::Hash(h) => h.free_effort(),
        Value::Set(s) => match &**s {
            crate::types::Set::Intset(_) => 1,
            crate::types::Set::Table(d) => d.len(),
        },
        Value::ZSet(z) => z.len(),
        Value::List(l) => l.len() / 128 + 1,
        Value::Stream(s) => s.approx_bytes() / 4096 + 1,
    }
}

/// Drops a deleted value: on the background thread when `lazy` and it is large, else here.
pub fn free_value(value: Value, lazy: bool) {
    if lazy && free_effort(&value) > LAZYFREE_THRESHOLD {
        send(Box::new(value), 1);
    }
}

/// Empties a database; with `lazy`, its dictionaries are swapped for empty ones and dropped
/// in the background (FLUSHALL/FLUSHDB ASYNC), as Redis's `emptyDbAsync`.
pub fn flush_db(db: &mut Db, lazy: bool) {
    if db.snap.is_some() {
        // RDB snapshot in progress: `clear` hands the old dictionaries to it.
        db.clear();
        return;
    }
    if lazy && db.len() > LAZYFREE_THRESHOLD {
        let objects = db.len() as u64;
        let keys = std::mem::take(&mut db.keys);
        let expires = std::mem::take(&mut db.expires);
        db.clear();
        send(Box::new((keys, expires)), objects);
    } else {
        db.clear();
    }
}

/// Blocks until the background thread has freed everything queued so far (tests, DEBUG).
pub fn wait_idle() {
    for _ in 0..10_000 {
        if pending_objects() == 0 {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::hash::HashLimits;
    use crate::types::Hash;

    #[test]
    fn large_values_are_freed_in_the_background() {
        let limits = HashLimits {
            max_listpack_entries: 16,
            max_listpack_value: 64,
        };
        let mut h = Hash::default();
        for i in 0..1000 {
            h.set(format!("f{i}").as_bytes(), b"v", limits);
        }
        let before = freed_objects();
        free_value(Value::Hash(h), true);
        wait_idle();
        assert!(freed_objects() > before);
        // Small values are dropped in place.
        let before = freed_objects();
        free_value(Value::Hash(Hash::default()), true);
        assert_eq!(freed_objects(), before);
    }
}
