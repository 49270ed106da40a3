//! Process-level measurements for INFO: bytes allocated (counted on every allocation, like
//! Redis's zmalloc), resident set size, system memory and CPU time.

// Unsafe code here: the counting global allocator, nallocx, sysconf and getrusage calls; each block
// says why it is sound.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Bytes held by live allocations, counted at their usable (size-class) size.
static USED: AtomicUsize = AtomicUsize::new(0);

/// jemalloc with a running count of the bytes it has handed out (INFO `used_memory`).
///
/// Why not jemalloc's own `stats.allocated`: it is refreshed only by an epoch advance (a
/// mallctl on every read) and counts objects parked in a thread cache as allocated, so a key
/// freed by eviction does not show as freed; eviction would then delete far more than needed.
/// Redis counts in `zmalloc` for the same reason. The counter is process-wide: engines embedded
/// side by side in one process share it (and `maxmemory` applies to their sum).
#[cfg(feature = "jemalloc")]
pub struct CountingJemalloc;

// SAFETY: every call is forwarded unchanged (same pointer, layout and size) to jemalloc's own
// `GlobalAlloc`, which upholds the contract; the count beside it touches no allocation.
#[cfg(feature = "jemalloc")]
unsafe impl GlobalAlloc for CountingJemalloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = tikv_jemallocator::Jemalloc.alloc(layout);
        if !p.is_null() {
            USED.fetch_add(size_class(layout.size(), layout.align()), Ordering::Relaxed);
        }
        p
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = tikv_jemallocator::Jemalloc.alloc_zeroed(layout);
        if !p.is_null() {
            USED.fetch_add(size_class(layout.size(), layout.align()), Ordering::Relaxed);
        }
        p
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        USED.fetch_sub(size_class(layout.size(), layout.align()), Ordering::Relaxed);
        tikv_jemallocator::Jemalloc.dealloc(ptr, layout)
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let old = size_class(layout.size(), layout.align());
        let p = tikv_jemallocator::Jemalloc.realloc(ptr, layout, new_size);
        if !p.is_null() {
            let new = size_class(new_size, layout.align());
            if new >= old {
                USED.fetch_add(new - old, Ordering::Relaxed);
            } else {
                USED.fetch_sub(old - new, Ordering::Relaxed);
            }
        }
        p
    }
}

/// The usable size jemalloc gives a request (`nallocx`, with the flags `tikv_jemallocator`
/// passes): the same number `malloc_usable_size` reports for the allocation, computed from
/// the size alone instead of looking the pointer up in jemalloc's page map (a cache miss per
/// free on a large heap).
#[cfg(feature = "jemalloc")]
#[inline]
fn size_class(size: usize, align: usize) -> usize {
    // `alignof(max_align_t)` on the platforms jemalloc supports.
    const MAX_ALIGN_T: usize = 16;
    let flags = if align <= MAX_ALIGN_T && align <= size {
        0
    } else {
        tikv_jemalloc_sys::MALLOCX_ALIGN(align)
    };
    // SAFETY: `nallocx` only computes a size class; `size` is non-zero (GlobalAlloc's contract).
    unsafe { tikv_jemalloc_sys::nallocx(size, flags) }
}

/// Bytes currently allocated by the process (`used_memory`): the running count when the
/// counting allocator is installed, else jemalloc's statistics.
pub fn allocated_bytes() -> u64 {
    let counted = USED.load(Ordering::Relaxed);
    if counted > 0 {
        return counted as u64;
    }
    use tikv_jemalloc_ctl::{epoch, stats};
    // jemalloc caches its statistics; advancing the epoch refreshes them.
    let _ = epoch::advance();
    stats::allocated::read().map(|n| n as u64).unwrap_or(0)
}

/// Resident set size of the process (`used_memory_rss`).
pub fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as u64;
    pages * page
}

/// Physical memory of the machine (`total_system_memory`).
pub fn total_system_memory() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let (pages, page) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    (pages.max(0) as u64) * (page.max(0) as u64)
}

/// jemalloc's view of the heap (INFO `allocator_*`): bytes allocated, in active pages, and
/// resident.
#[derive(Clone, Copy, Debug, Default)]
pub struct AllocatorStats {
    pub allocated: u64,
    pub active: u64,
    pub resident: u64,
}

pub fn allocator_stats() -> AllocatorStats {
    use tikv_jemalloc_ctl::{epoch, stats};
    let _ = epoch::advance();
    AllocatorStats {
        allocated: stats::allocated::read().map(|n| n as u64).unwrap_or(0),
        active: stats::active::read().map(|n| n as u64).unwrap_or(0),
        resident: stats::resident::read().map(|n| n as u64).unwrap_or(0),
    }
}

/// INFO `mem_allocator`: `jemalloc-<version>` when jemalloc is the global allocator.
pub fn allocator_name() -> String {
    if cfg!(feature = "jemalloc") {
        let version = tikv_jemalloc_ctl::version::read().unwrap_or("unknown");
        // "5.3.0-0-g54eaed1d8b56b1aa528be3bdd1877e59c56fa90c" -> "5.3.0"
        format!("jemalloc-{}", version.split('-').next().unwrap_or(version))
    } else {
        "libc".to_string()
    }
}

/// (user, system) CPU seconds used by the process, or by the calling thread.
pub fn cpu_times(thread: bool) -> (f64, f64) {
    let who = if thread {
        libc::RUSAGE_THREAD
    } else {
        libc::RUSAGE_SELF
    };
    // SAFETY: `rusage` is plain integers, for which all-zero bytes are a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage only writes the struct we pass, which lives across the call.
    unsafe {
        libc::getrusage(who, &mut ru);
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (secs(ru.ru_utime), secs(ru.ru_stime))
}

#[cfg(all(test, feature = "jemalloc"))]
mod tests {
    #[test]
    fn the_count_follows_allocations_and_frees() {
        // The count is process-wide and other test threads allocate and free too, so 16 MiB is
        // allocated (far above their noise) and a measurement they disturbed is repeated.
        const BYTES: u64 = 16 << 20;
        let followed = (0..5).any(|_| {
            let before = super::allocated_bytes();
            let v: Vec<Box<[u8; 4096]>> =
                (0..BYTES / 4096).map(|_| Box::new([0u8; 4096])).collect();
            let during = super::allocated_bytes();
            drop(v);
            let after = super::allocated_bytes();
            during >= before + BYTES * 9 / 10 && after + BYTES * 9 / 10 <= during
        });
        assert!(
            followed,
            "allocated_bytes did not follow 16 MiB allocated and freed"
        );
    }

    /// The count charges `size_class(layout)` and must match what jemalloc really hands out,
    /// or frees and reallocations would drift the count.
    #[cfg(feature = "jemalloc")]
    #[test]
    fn size_classes_match_the_usable_size_of_allocations() {
        use std::alloc::{GlobalAlloc, Layout};
        let jemalloc = tikv_jemallocator::Jemalloc;
        for align in [1usize, 2, 8, 16, 32, 64, 4096] {
            for size in (1..600).chain([4095, 4096, 20_000, 100_000, 1 << 20, 3 << 20]) {
                let layout = Layout::from_size_align(size, align).expect("valid layout");
                // SAFETY: non-zero size; the pointer is freed with the layout it came from.
                unsafe {
                    let p = jemalloc.alloc(layout);
                    assert!(!p.is_null());
                    let real = tikv_jemallocator::usable_size(p);
                    assert_eq!(
                        super::size_class(size, align),
                        real,
                        "size {size} align {align}"
                    );
                    let grown = jemalloc.realloc(p, layout, size * 3);
                    assert!(!grown.is_null());
                    let real = tikv_jemallocator::usable_size(grown);
                    assert_eq!(
                        super::size_class(size * 3, align),
                        real,
                        "realloc {size} align {align}"
                    );
                    jemalloc.dealloc(
                        grown,
                        Layout::from_size_align(size * 3, align).expect("valid"),
                    );
                }
            }
        }
    }
}
