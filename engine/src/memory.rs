//! Process-level measurements for INFO: bytes allocated (from jemalloc), resident set size,
//! system memory and CPU time.

/// Bytes currently allocated by the application, as jemalloc counts them (`used_memory`).
pub fn allocated_bytes() -> u64 {
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
    // SAFETY: getrusage only writes the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe {
        libc::getrusage(who, &mut ru);
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (secs(ru.ru_utime), secs(ru.ru_stime))
}
