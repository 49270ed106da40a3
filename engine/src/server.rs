//! The state one engine thread owns: databases, configuration, statistics and the client
//! registry, plus the periodic housekeeping (`cron`) that expires keys and rehashes tables.
//!
//! Everything here lives on the engine's own thread and is touched by one command at a time,
//! so commands are atomic without locks (DESIGN 4.2).

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

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
    pub expire_cycle_cpu_us: u64,
    /// Error replies by their code (`ERR`, `WRONGTYPE`, ...), for INFO errorstats.
    pub errors_by_code: HashMap<String, u64>,
}

impl Stats {
    pub fn record_error(&mut self, text: &str) {
        let code = text.split(' ').next().unwrap_or("ERR");
        self.total_error_replies += 1;
        *self.errors_by_code.entry(code.to_string()).or_insert(0) += 1;
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
    /// Bytes buffered but not yet parsed (CLIENT LIST `qbuf`).
    pub query_buffer_len: usize,
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
    pub config_file: String,
    pub cron_loops: u64,
}

impl Server {
    pub fn new(name: &str, config: Config) -> Self {
        let mut rng = Rng::seeded();
        let run_id: String = (0..40)
            .map(|_| char::from_digit((rng.next_u64() % 16) as u32, 16).unwrap_or('0'))
            .collect();
        let dbs = (0..config.databases).map(|_| Db::default()).collect();
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
            config_file: String::new(),
            cron_loops: 0,
        }
    }

    pub fn expired_keys(&self) -> u64 {
        self.dbs.iter().map(|d| d.expired_count).sum()
    }

    /// Registers a new connection and returns its shared handle.
    pub fn register_client(&mut self, addr: String, laddr: String, fd: i32) -> Rc<RefCell<Client>> {
        let id = self.next_client_id;
        self.next_client_id += 1;
        let mut c = Client::new(id, addr, laddr, fd);
        c.authenticated = self.config.requirepass.is_none();
        let c = Rc::new(RefCell::new(c));
        self.clients.insert(id, c.clone());
        self.stats.connections_received += 1;
        c
    }

    pub fn unregister_client(&mut self, id: u64) {
        self.clients.remove(&id);
    }

    /// One housekeeping tick: active expiry within its CPU budget, then incremental rehash.
    pub fn cron(&mut self) {
        self.cron_loops += 1;
        self.close_idle_clients();
        self.active_expire_cycle();
        for db in &mut self.dbs {
            db.housekeeping(100);
        }
    }

    /// Closes clients idle for longer than `timeout` seconds (0 disables it), as Redis's
    /// `clientsCronHandleTimeout` does.
    fn close_idle_clients(&mut self) {
        let timeout = self.config.timeout_secs;
        if timeout == 0 {
            return;
        }
        let limit = Duration::from_secs(timeout);
        for client in self.clients.values() {
            let c = client.borrow();
            if c.last_interaction.elapsed() > limit {
                tracing::debug!(client = c.id, "closing idle client (timeout)");
                // SAFETY: the fd belongs to a live connection owned by this thread; shutdown
                // ends its read loop, and the task then drops (closes) the socket itself.
                unsafe {
                    libc::shutdown(c.fd, libc::SHUT_RDWR);
                }
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
