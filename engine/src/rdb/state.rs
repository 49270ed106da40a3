//! Persistence state of one engine: the `save <seconds> <changes>` rules checked by the cron,
//! LASTSAVE, and the counters INFO persistence reports.

use std::rc::Rc;
use std::time::Instant;

use tokio::sync::Notify;

use super::snapshot::BgSave;
use crate::server::Server;

/// Redis's `CONFIG_BGSAVE_RETRY_DELAY`: after a failed BGSAVE, rules wait this long.
const BGSAVE_RETRY_DELAY_S: i64 = 5;

pub struct RdbState {
    /// Unix time (s) of the last successful save (LASTSAVE); the start time until then.
    pub lastsave_s: i64,
    pub last_bgsave_ok: bool,
    pub last_bgsave_try_s: i64,
    pub last_bgsave_time_sec: i64,
    pub saves: u64,
    /// The background save in progress.
    pub bg: Option<BgSave>,
    /// BGSAVE SCHEDULE asked for a save once the current one ends.
    pub scheduled: bool,
    pub loading: bool,
    /// SHUTDOWN already saved (or was told NOSAVE): the stop path must not save.
    pub shutdown_handled: bool,
    pub last_load_keys_loaded: u64,
    pub last_load_keys_expired: u64,
    /// Wakes the snapshot driver task.
    pub wake: Rc<Notify>,
}

impl Default for RdbState {
    fn default() -> Self {
        RdbState {
            lastsave_s: crate::util::now_ms() / 1000,
            last_bgsave_ok: true,
            last_bgsave_try_s: 0,
            last_bgsave_time_sec: -1,
            saves: 0,
            bg: None,
            scheduled: false,
            loading: false,
            shutdown_handled: false,
            last_load_keys_loaded: 0,
            last_load_keys_expired: 0,
            wake: Rc::new(Notify::new()),
        }
    }
}

/// The `save` parameter as (seconds, changes) pairs.
pub fn save_rules(config: &crate::config::Config) -> Vec<(i64, u64)> {
    let text = config.get("save").unwrap_or("");
    let words: Vec<&str> = text.split_whitespace().collect();
    words
        .chunks_exact(2)
        .filter_map(|p| Some((p[0].parse().ok()?, p[1].parse().ok()?)))
        .collect()
}

/// Records a finished save (foreground or background) in the counters.
pub fn saved(server: &mut Server, dirty_at_start: u64) {
    server.dirty = server.dirty.saturating_sub(dirty_at_start);
    server.rdb.lastsave_s = crate::util::now_ms() / 1000;
    server.rdb.saves += 1;
}

/// Called from the server cron: collects a finished background save, then starts one when
/// a save rule is due (or one was scheduled).
pub fn cron(server: &mut Server) {
    super::snapshot::poll_finished(server);
    if server.rdb.bg.is_some() {
        return;
    }
    let now_s = crate::util::now_ms() / 1000;
    let due = save_rules(&server.config)
        .into_iter()
        .any(|(secs, changes)| {
            server.dirty >= changes
                && now_s - server.rdb.lastsave_s > secs
                && (now_s - server.rdb.last_bgsave_try_s > BGSAVE_RETRY_DELAY_S
                    || server.rdb.last_bgsave_ok)
        });
    if due || server.rdb.scheduled {
        server.rdb.scheduled = false;
        if let Err(e) = super::snapshot::start(server) {
            tracing::warn!(engine = %server.name, error = %e, "background save failed to start");
        }
    }
}

/// Seconds the background save in progress has run, or -1.
pub fn current_bgsave_secs(server: &Server) -> i64 {
    match server.rdb.bg.as_ref() {
        Some(b) if b.purpose == super::snapshot::Purpose::Rdb => {
            Instant::now().duration_since(b.started).as_secs() as i64
        }
        _ => -1,
    }
}
