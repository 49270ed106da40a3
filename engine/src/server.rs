//! The state one engine thread owns: databases, configuration, statistics and the client
//! registry, plus the periodic housekeeping (`cron`) that expires keys and rehashes tables.
//!
//! Everything here lives on the engine's own thread and is touched by one command at a time,
//! so commands are atomic without locks (docs/ARCHITECTURE.md, Threads and tasks at run time).

// Unsafe code here: shutdown(2) on a killed client's socket; each block says why it is sound.
#![allow(unsafe_code)]

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::commands::{table, CommandStat};
use crate::config::Config;
use crate::db::Db;
use crate::util::{now_ms, Rng};

/// Counters reported by INFO stats.
#[derive(Debug, Default)]
pub struct Stats {
    pub commands_processed: u64,
    pub connections_received: u64,
    pub rejected_connections: u64,
    pub net_input_bytes: u64,
    pub net_output_bytes: u64,
    pub keyspace_hits: u64,
    pub keyspace_misses: u64,
    pub evicted_keys: u64,
    pub total_error_replies: u64,
    pub unexpected_error_replies: u64,
    pub expired_stale_perc: f64,
    pub expired_time_cap_reached_count: u64,
    pub expire_cycle_cpu_us: u64,
    /// Socket reads and writes done for clients (`total_reads_processed`, ...).
    pub reads_processed: u64,
    pub writes_processed: u64,
    /// Error replies by their code (`ERR`, `WRONGTYPE`, ...), for INFO errorstats.
    pub errors_by_code: HashMap<String, u64>,
}

impl Stats {
    /// Counts an error reply under its code: the first word when it is found within the first
    /// 32 bytes, as Redis's `afterErrorReply` does, else `ERR`.
    pub fn record_error(&mut self, text: &str) {
        let head = &text.as_bytes()[..text.len().min(32)];
        let code = match head.iter().position(|&b| b == b' ') {
            Some(end) => &text[..end],
            None => "ERR",
        };
        self.total_error_replies += 1;
        *self.errors_by_code.entry(code.to_string()).or_insert(0) += 1;
    }
}

/// Number of samples averaged by an instantaneous metric (`STATS_METRIC_SAMPLES`).
const METRIC_SAMPLES: usize = 16;
/// How often the metrics are sampled (Redis: every 100 ms from the cron).
const METRIC_PERIOD: Duration = Duration::from_millis(100);

/// A rate computed like Redis's `trackInstantaneousMetric`: every 100 ms, the increase of a
/// counter since the previous sample, per second; the reported value is the mean of the last
/// 16 samples.
#[derive(Clone, Copy, Debug)]
pub struct InstantMetric {
    samples: [i64; METRIC_SAMPLES],
    idx: usize,
    last_sample_ms: i64,
    last_count: u64,
}

impl InstantMetric {
    fn new(now_ms: i64) -> Self {
        InstantMetric {
            samples: [0; METRIC_SAMPLES],
            idx: 0,
            last_sample_ms: now_ms,
            last_count: 0,
        }
    }

    fn track(&mut self, now_ms: i64, count: u64) {
        let elapsed = now_ms - self.last_sample_ms;
        let delta = count as i64 - self.last_count as i64;
        self.samples[self.idx] = if elapsed > 0 {
            delta * 1000 / elapsed
        } else {
            0
        };
        self.idx = (self.idx + 1) % METRIC_SAMPLES;
        self.last_sample_ms = now_ms;
        self.last_count = count;
    }

    /// The per-second rate.
    pub fn value(&self) -> i64 {
        self.samples.iter().sum::<i64>() / METRIC_SAMPLES as i64
    }
}

/// The instantaneous metrics INFO stats reports.
#[derive(Clone, Copy, Debug)]
pub struct InstantMetrics {
    pub commands: InstantMetric,
    pub net_input: InstantMetric,
    pub net_output: InstantMetric,
    last_run: Option<Instant>,
}

impl InstantMetrics {
    pub fn new() -> Self {
        let now = now_ms();
        InstantMetrics {
            commands: InstantMetric::new(now),
            net_input: InstantMetric::new(now),
            net_output: InstantMetric::new(now),
            last_run: None,
        }
    }
}

impl Default for InstantMetrics {
    fn default() -> Self {
        Self::new()
    }
}

/// One connected client as the rest of the engine sees it (CLIENT LIST, CLIENT KILL, ...).
#[derive(Debug)]
pub struct Client {
    pub id: u64,
    pub name: Option<Vec<u8>>,
    pub lib_name: Option<Vec<u8>>,
    pub lib_ver: Option<Vec<u8>>,
    pub db: usize,
    pub resp: u8,
    pub authenticated: bool,
    pub user: String,
    pub addr: String,
    pub laddr: String,
    pub fd: i32,
    pub created: Instant,
    pub last_interaction: Instant,
    /// Index into the command stats table of the last command run.
    pub last_command: usize,
    /// Close the connection once pending replies are written (QUIT, protocol errors).
    pub close_after_reply: bool,
    /// Bytes buffered but not yet parsed (CLIENT LIST `qbuf`), and the buffer's capacity.
    pub query_buffer_len: usize,
    pub query_buffer_cap: usize,
    /// Capacity of the reply buffer (CLIENT LIST `rbs`).
    pub reply_buffer_cap: usize,
    /// Bytes of the arguments of the command being executed (CLIENT LIST `argv-mem`).
    pub argv_mem: usize,
    /// Connected over loopback or the Unix socket (for `enable-*` = `local`).
    pub local: bool,
    /// Connected through the Unix socket (CLIENT LIST flag `U`).
    pub unix_socket: bool,
    /// CLIENT NO-EVICT ON.
    pub no_evict: bool,
    /// Killed by CLIENT KILL (or the idle timeout): its connection must run nothing more.
    pub killed: bool,
    /// Set by a blocking command that found nothing to serve (its connection blocks).
    pub block_request: Option<crate::blocking::BlockRequest>,
    // --- introspection: CLIENT REPLY OFF / SKIP ---
    pub reply_off: bool,
    pub reply_skip: bool,
    pub reply_skip_next: bool,
    /// MULTI queue (multi.rs).
    pub tx: crate::multi::ClientTx,
    /// Pub/sub messages waiting to be written to this client (pubsub.rs).
    pub outbox: Rc<crate::pubsub::Outbox>,
}

impl Client {
    pub fn new(id: u64, addr: String, laddr: String, fd: i32) -> Self {
        let now = Instant::now();
        Client {
            id,
            name: None,
            lib_name: None,
            lib_ver: None,
            db: 0,
            resp: 2,
            authenticated: false,
            user: "default".into(),
            addr,
            laddr,
            fd,
            created: now,
            last_interaction: now,
            last_command: usize::MAX,
            close_after_reply: false,
            query_buffer_len: 0,
            query_buffer_cap: 0,
            reply_buffer_cap: 0,
            argv_mem: 0,
            local: false,
            unix_socket: false,
            no_evict: false,
            killed: false,
            block_request: None,
            reply_off: false,
            reply_skip: false,
            reply_skip_next: false,
            tx: Default::default(),
            outbox: Rc::new(crate::pubsub::Outbox::new(fd)),
        }
    }

    /// CLIENT LIST `flags`, in Redis's order; `N` when none apply.
    pub fn flags_text(&self) -> String {
        let mut f = String::new();
        if self.close_after_reply {
            f.push('c');
        }
        if self.unix_socket {
            f.push('U');
        }
        if self.no_evict {
            f.push('e');
        }
        if f.is_empty() {
            f.push('N');
        }
        f
    }

    /// Closes the connection from outside its task: marks it killed and shuts the socket down,
    /// which wakes its task (a read returns end-of-file) so it ends and drops the socket.
    pub fn kill(&mut self) {
        self.killed = true;
        self.close_after_reply = true;
        // SAFETY: the fd belongs to this client's live socket, owned by its connection task
        // on this same thread; shutdown does not close it, so it cannot be reused before that
        // task drops the socket, and that task unregisters the client in the same drop (a guard
        // in `Connection::run`, panics included).
        unsafe {
            libc::shutdown(self.fd, libc::SHUT_RDWR);
        }
    }
}

/// Everything an engine thread owns.
pub struct Server {
    /// Name of this engine instance (`ris`, `rts`, ... or `tradestate-engine`).
    pub name: String,
    pub config: Config,
    pub dbs: Vec<Db>,
    pub stats: Stats,
    pub command_stats: Vec<CommandStat>,
    pub clients: HashMap<u64, Rc<RefCell<Client>>>,
    pub next_client_id: u64,
    pub rng: Rng,
    pub started_at: Instant,
    pub started_unix_ms: i64,
    pub run_id: String,
    /// The TCP port actually bound (differs from the config when it was 0).
    pub tcp_port: u16,
    pub executable: String,
    pub cron_loops: u64,
    /// Successful write commands since start (INFO `rdb_changes_since_last_save`: nothing is
    /// ever saved, so every change counts).
    pub dirty: u64,
    /// Replication ID (INFO `master_replid`): random per start, like Redis's.
    pub master_replid: String,
    /// Allocated bytes when the server started, and the highest seen since (INFO memory).
    pub startup_memory: u64,
    pub peak_memory: u64,
    pub metrics: InstantMetrics,
    /// DEBUG SET-ACTIVE-EXPIRE 0 turns the active expire cycle off.
    pub active_expire_enabled: bool,
    /// SHUTDOWN was accepted: the engine stops after this command's replies are written.
    pub shutdown_requested: bool,
    pub shutdown_notify: Rc<Notify>,
    /// Clients blocked in BLPOP, XREAD BLOCK, ... and the keys that may serve them.
    pub blocking: crate::blocking::Blocking,
    /// maxmemory eviction state (evict.rs).
    pub evict: crate::evict::EvictState,
    // --- security and introspection ---
    /// ACL users (the default user carries `requirepass`).
    pub acl: crate::acl::Acl,
    /// SLOWLOG entries and LATENCY samples.
    pub slowlog: crate::slowlog::SlowLog,
    pub latency: crate::latency::LatencyMonitor,
    /// CLIENT PAUSE.
    pub pause: crate::clientctl::PauseState,
    /// WATCHed keys of every client (multi.rs).
    pub watches: crate::multi::Watches,
    /// Channel and pattern subscriptions (pubsub.rs).
    pub pubsub: crate::pubsub::PubSub,
    // --- persistence (AOF) ---
    pub aof: crate::aof::Aof,
    // --- persistence (RDB) ---
    pub rdb: crate::rdb::RdbState,
    /// The Lua state and the script cache (EVAL).
    pub scripting: crate::scripting::Scripting,
}

impl Server {
    pub fn new(name: &str, config: Config) -> Self {
        let mut rng = Rng::seeded();
        let mut hex40 = || -> String {
            (0..40)
                .map(|_| char::from_digit((rng.next_u64() % 16) as u32, 16).unwrap_or('0'))
                .collect()
        };
        let run_id = hex40();
        let master_replid = hex40();
        let dbs = (0..config.databases).map(|_| Db::default()).collect();
        let startup_memory = crate::memory::allocated_bytes();
        let mut acl = crate::acl::Acl::new(config.requirepass.as_deref(), &config.acl_users);
        acl.set_renames(&config.renamed_commands);
        Server {
            name: name.to_string(),
            tcp_port: config.port,
            config,
            dbs,
            stats: Stats::default(),
            command_stats: vec![CommandStat::default(); table::stat_slots()],
            clients: HashMap::new(),
            next_client_id: 1,
            rng,
            started_at: Instant::now(),
            started_unix_ms: now_ms(),
            run_id,
            executable: std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            cron_loops: 0,
            dirty: 0,
            master_replid,
            startup_memory,
            peak_memory: startup_memory,
            metrics: InstantMetrics::new(),
            active_expire_enabled: true,
            shutdown_requested: false,
            shutdown_notify: Rc::new(Notify::new()),
            blocking: Default::default(),
            evict: Default::default(),
            acl,
            slowlog: Default::default(),
            latency: Default::default(),
            pause: Default::default(),
            watches: Default::default(),
            pubsub: Default::default(),
            aof: Default::default(),
            rdb: Default::default(),
            scripting: Default::default(),
        }
    }

    /// Used memory now, raising the recorded peak when it is higher.
    pub fn used_memory(&mut self) -> u64 {
        let used = crate::memory::allocated_bytes();
        self.peak_memory = self.peak_memory.max(used);
        used
    }

    /// CONFIG RESETSTAT: statistics and rates start over.
    pub fn reset_stats(&mut self) {
        self.stats = Stats::default();
        for st in &mut self.command_stats {
            *st = Default::default();
        }
        for db in &mut self.dbs {
            db.expired_count = 0;
        }
        self.metrics = InstantMetrics::new();
    }

    /// Asks the engine to stop once the current batch of replies is written.
    pub fn request_shutdown(&mut self) {
        self.shutdown_requested = true;
        self.shutdown_notify.notify_one();
    }

    pub fn expired_keys(&self) -> u64 {
        self.dbs.iter().map(|d| d.expired_count).sum()
    }

    /// Registers a new connection and returns its shared handle.
    pub fn register_client(
        &mut self,
        addr: String,
        laddr: String,
        fd: i32,
        local: bool,
    ) -> Rc<RefCell<Client>> {
        let id = self.next_client_id;
        self.next_client_id += 1;
        let mut c = Client::new(id, addr, laddr, fd);
        c.authenticated = !self.acl.auth_required();
        c.local = local;
        let c = Rc::new(RefCell::new(c));
        self.clients.insert(id, c.clone());
        self.stats.connections_received += 1;
        c
    }

    pub fn unregister_client(&mut self, id: u64) {
        self.clients.remove(&id);
        self.blocking.unblock(id);
        self.watches.unwatch_all(id);
        self.pubsub.remove_client(id);
    }

    /// One housekeeping tick: rates, memory peak, idle clients, active expiry within its CPU
    /// budget, then incremental rehash (unless `activerehashing no`).
    pub fn cron(&mut self) {
        // Keys a tick creates (blocked pops served, lazy loads) get a current access time.
        crate::util::refresh_cached_ms();
        self.cron_loops += 1;
        self.track_metrics();
        self.used_memory();
        self.close_idle_clients();
        crate::evict::cron(self);
        if self.active_expire_enabled {
            self.active_expire_cycle();
        }
        crate::multi::drain_expired(self);
        // Persistence (AOF): expiry DELs, write retries, rewrite slices.
        crate::aof::cron(self);
        let steps = if self.config.active_rehashing { 100 } else { 0 };
        for db in &mut self.dbs {
            db.housekeeping(steps);
        }
        crate::rdb::state::cron(self); // save rules, finished BGSAVE
    }

    /// Samples the instantaneous metrics every 100 ms, whatever `hz` is.
    fn track_metrics(&mut self) {
        let now = Instant::now();
        if self
            .metrics
            .last_run
            .is_some_and(|t| now.duration_since(t) < METRIC_PERIOD)
        {
            return;
        }
        self.metrics.last_run = Some(now);
        let ms = now_ms();
        let st = &self.stats;
        self.metrics.commands.track(ms, st.commands_processed);
        self.metrics.net_input.track(ms, st.net_input_bytes);
        self.metrics.net_output.track(ms, st.net_output_bytes);
    }

    /// The `timeout` config: closes clients idle for longer than it (0 = never).
    fn close_idle_clients(&mut self) {
        let limit = self.config.timeout_secs;
        if limit == 0 {
            return;
        }
        let now = Instant::now();
        let mut idle = Vec::new();
        for (&id, c) in &self.clients {
            // A client borrowed right now is the one running a command: not idle.
            if let Ok(c) = c.try_borrow() {
                if now.duration_since(c.last_interaction).as_secs() > limit {
                    idle.push(id);
                }
            }
        }
        for id in idle {
            if let Some(c) = self.clients.remove(&id) {
                tracing::debug!(client = id, "closing idle client");
                c.borrow_mut().kill();
            }
        }
    }

    /// Redis's slow active-expire cycle: sample keys with a TTL in every database, delete the
    /// expired ones, and keep going while more than 10% of a sample was expired — but never
    /// past a time budget of 25% of one cron period (more with `active-expire-effort`).
    fn active_expire_cycle(&mut self) {
        let effort = self.config.active_expire_effort.saturating_sub(1) as usize;
        let keys_per_loop = 20 + 20 / 4 * effort;
        let acceptable_stale = 10usize.saturating_sub(effort);
        let budget_pct = 25 + 2 * effort as u64;
        let budget = Duration::from_micros(1_000_000 * budget_pct / self.config.hz as u64 / 100);
        let started = Instant::now();
        let mut total_sampled = 0usize;
        let mut total_expired = 0usize;
        'dbs: for i in 0..self.dbs.len() {
            loop {
                let now = now_ms();
                let (sampled, expired) =
                    self.dbs[i].active_expire_round(keys_per_loop, now, &mut self.rng);
                total_sampled += sampled;
                total_expired += expired;
                if sampled == 0 || expired * 100 <= sampled * acceptable_stale {
                    break;
                }
                if started.elapsed() > budget {
                    self.stats.expired_time_cap_reached_count += 1;
                    break 'dbs;
                }
            }
        }
        let elapsed = started.elapsed();
        self.stats.expire_cycle_cpu_us += elapsed.as_micros() as u64;
        let current = if total_sampled > 0 {
            total_expired as f64 / total_sampled as f64
        } else {
            0.0
        };
        self.stats.expired_stale_perc = current * 0.05 + self.stats.expired_stale_perc * 0.95;
    }
}
