//! Harness pieces the workspace's test suites share: fresh directories under the system temp dir
//! (with a sweep of the ones test processes that have exited left behind), a free TCP port, and
//! polling until a condition holds. Dev-only: crates list it under `[dev-dependencies]`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A path `<temp dir>/<prefix>-<pid>-<n>` no other call in this process returns, with nothing
/// there (a leftover is removed); the directory itself is not created. The first call for a
/// `prefix` sweeps what exited processes left under it ([`sweep_stale_dirs`]).
pub fn temp_path(prefix: &str) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    sweep_stale_dirs(prefix);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("{prefix}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&path);
    path
}

/// A new, empty directory at [`temp_path`]`(prefix)`.
pub fn fresh_dir(prefix: &str) -> PathBuf {
    let dir = temp_path(prefix);
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create temp dir {}: {e}", dir.display()));
    dir
}

/// Removes the `<prefix>-<pid>-*` entries of the temp dir whose process has exited (a test
/// cannot clean up after the whole run; the next run does), once per prefix and process.
/// Only where `/proc` tells which processes live (Linux); elsewhere nothing is removed.
pub fn sweep_stale_dirs(prefix: &str) {
    static SWEPT: Mutex<Vec<String>> = Mutex::new(Vec::new());
    {
        let mut swept = SWEPT.lock().unwrap_or_else(|e| e.into_inner());
        if swept.iter().any(|p| p == prefix) {
            return;
        }
        swept.push(prefix.to_string());
    }
    let proc = Path::new("/proc");
    if !proc.join("self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(prefix).and_then(|r| r.strip_prefix('-')) else {
            continue;
        };
        // All digits: `<prefix>-other-<pid>-*` belongs to a longer prefix, not to a pid.
        let pid = rest.split('-').next().unwrap_or("");
        if !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()) && !proc.join(pid).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// A TCP port nobody listens on right now on 127.0.0.1 (bound once by the OS, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Calls `attempt` every `every` until it returns `Some` (returned) or `within` has passed
/// since the first call (`None`). It is always called at least once.
pub fn poll<T>(
    within: Duration,
    every: Duration,
    mut attempt: impl FnMut() -> Option<T>,
) -> Option<T> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = attempt() {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(every);
    }
}

/// Checks `done` every 20 ms until it holds; panics with "timed out waiting for {what}" after
/// 10 s. [`poll`] takes other times.
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let within = Duration::from_secs(10);
    if poll(within, Duration::from_millis(20), || done().then_some(())).is_none() {
        panic!("timed out waiting for {what}");
    }
}

/// A command that runs `bin` (a `redis-server`) on 127.0.0.1:`port` with persistence off and its
/// output discarded; callers add their own arguments before spawning it.
pub fn redis_server_command(bin: &str, port: u16) -> std::process::Command {
    let mut command = std::process::Command::new(bin);
    command
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    command
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_paths_are_distinct_and_empty() {
        let a = temp_path("tradestate-test-support-unit");
        let b = fresh_dir("tradestate-test-support-unit");
        assert_ne!(a, b);
        assert!(!a.exists());
        assert!(b.is_dir());
        assert_eq!(std::fs::read_dir(&b).unwrap().count(), 0);
        let _ = std::fs::remove_dir_all(&b);
    }

    #[test]
    fn the_sweep_keeps_live_processes_and_longer_prefixes() {
        let tmp = std::env::temp_dir();
        let prefix = format!("tradestate-test-support-sweep-{}", std::process::id());
        let live = tmp.join(format!("{prefix}-{}-0", std::process::id()));
        let longer = tmp.join(format!("{prefix}-other-1"));
        std::fs::create_dir_all(&live).unwrap();
        std::fs::create_dir_all(&longer).unwrap();
        sweep_stale_dirs(&prefix);
        assert!(live.exists());
        assert!(longer.exists());
        let _ = std::fs::remove_dir_all(&live);
        let _ = std::fs::remove_dir_all(&longer);
    }

    #[test]
    fn poll_returns_the_first_success_or_none() {
        let mut calls = 0;
        let got = poll(Duration::from_secs(5), Duration::from_millis(1), || {
            calls += 1;
            (calls == 3).then_some(calls)
        });
        assert_eq!(got, Some(3));
        assert_eq!(
            poll(Duration::ZERO, Duration::from_millis(1), || None::<()>),
            None
        );
        wait_until("nothing", || true);
    }
}
