//! One partition's connection to its engine: embedded, any `redis://` / `rediss://` / `unix://`
//! URL, a Sentinel-managed master (`redis+sentinel://`, `rediss+sentinel://`, resolved by
//! `tradestate_backend::sentinel`), or a Redis Cluster (`redis+cluster://`,
//! `tradestate_backend::cluster`: pipelines split per node, redirects followed; a failure reads
//! the slot map anew on the next connection). TLS certificates come from `with_tls`.
//!
//! An embedded engine is called in-process (a channel to its thread, no socket) while it runs;
//! its loopback port stays the fallback, so an engine restarted on that port is reached again.
//!
//! A multiplexed connection is opened lazily and replaced after any I/O error or timeout, so a
//! killed connection or a restarted server costs the in-flight batch (answered 503) and nothing
//! more. Reconnects are spaced by a short backoff so a dead server is not hammered. Every call is
//! bounded by a timeout: callers see `Unavailable`, never a hang.
//!
//! A node that answers READONLY (demoted to a replica), LOADING or MASTERDOWN cannot take the
//! batch: the batch fails as a whole, as an outage would, and the connection is replaced, which
//! for Sentinel means asking the sentinels again. A `+switch-master` announcement replaces it
//! before any write has to fail, and from `+try-failover` until then writes are held back (they
//! fail as unavailable, so the spill takes them): what the old master takes once its replica is
//! being promoted is lost with it.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::aio::ConnectionLike;
use redis::{ConnectionInfo, IntoConnectionInfo, Pipeline, Value};

use tokio::sync::Mutex;
use tradestate_backend::{
    node, redact, Address, Cluster, ClusterAddress, Connection, SentinelAddress, Tls,
};
use tradestate_engine::LocalClient;

use crate::ops::Partition;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable(pub String);

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

pub struct Backend {
    partition: Partition,
    /// The embedded engine's in-process door, while it is open.
    local: Option<LocalClient>,
    /// The URL without credentials, for logs and errors.
    display_url: String,
    target: Target,
    connect_timeout: Duration,
    response_timeout: Duration,
    slot: Mutex<Slot>,
    up: AtomicBool,
    /// What the engine said of its append only file: [`AOF_UNKNOWN`], [`AOF_ON`], [`AOF_OFF`].
    aof: AtomicU8,
    /// `ack = "replicated"`: how many replicas must have a write, and how long to wait.
    replicated: Option<(u32, Duration)>,
}

/// Where connections go.
enum Target {
    /// One server (an embedded engine's port, or a URL).
    Direct(ConnectionInfo),
    Sentinel(Box<SentinelTarget>),
    Cluster(ClusterAddress),
}

struct SentinelTarget {
    address: SentinelAddress,
    /// The sentinel that named the master last, asked first next time.
    first: AtomicUsize,
    /// Set by the watch on `+switch-master`: the live connection is to the old master.
    switched: Arc<AtomicBool>,
    /// Set by the watch on `+try-failover`: until the switch (at most [`FAILOVER_PAUSE`]),
    /// writes are not sent, since the replica being promoted no longer copies what the old
    /// master takes.
    failing_over: Arc<std::sync::Mutex<Option<Instant>>>,
    watch: tokio::task::AbortHandle,
}

impl SentinelTarget {
    fn failing_over(&self) -> bool {
        let mut until = self
            .failing_over
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match *until {
            Some(t) if Instant::now() < t => true,
            Some(_) => {
                *until = None;
                false
            }
            None => false,
        }
    }
}

/// The longest writes wait for a failover's end once a sentinel said it started.
const FAILOVER_PAUSE: Duration = Duration::from_secs(10);

impl Drop for SentinelTarget {
    fn drop(&mut self) {
        self.watch.abort();
    }
}

/// Error codes after which a node cannot take this partition's writes until it is asked anew
/// (for a cluster, until the slot map is read again).
const NOT_A_WRITABLE_MASTER: [&str; 4] = ["READONLY", "LOADING", "MASTERDOWN", "CLUSTERDOWN"];

const AOF_UNKNOWN: u8 = 0;
const AOF_ON: u8 = 1;
const AOF_OFF: u8 = 2;

struct Slot {
    /// The live connection and its generation, so a failure drops only the connection it saw.
    conn: Option<(u64, Connection)>,
    generation: u64,
    next_attempt: Option<Instant>,
    backoff: Duration,
    /// Why the last attempt failed, repeated while waiting out the backoff.
    last_failure: String,
}

const MIN_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

impl Backend {
    pub fn new(
        partition: Partition,
        url: &str,
        connect_timeout: Duration,
        response_timeout: Duration,
    ) -> Result<Backend, String> {
        let fail = |e: String| {
            format!(
                "partitions.{}.backend: cannot use {:?}: {e}",
                partition.name(),
                redact(url)
            )
        };
        let target = match tradestate_backend::parse(url).map_err(fail)? {
            Address::Direct(url) => Target::Direct(
                url.as_str()
                    .into_connection_info()
                    .map_err(|e| fail(e.to_string()))?,
            ),
            Address::Sentinel(address) => Target::Sentinel(Box::new(watch_sentinels(
                partition,
                address,
                connect_timeout,
            ))),
            Address::Cluster(address) => Target::Cluster(address),
        };
        Ok(Backend {
            partition,
            local: None,
            display_url: redact(url),
            target,
            connect_timeout,
            response_timeout,
            slot: Mutex::new(Slot {
                conn: None,
                generation: 0,
                next_attempt: None,
                backoff: MIN_BACKOFF,
                last_failure: String::new(),
            }),
            up: AtomicBool::new(false),
            aof: AtomicU8::new(AOF_UNKNOWN),
            replicated: None,
        })
    }

    /// Writes count as done once `replicas` replicas have them (`WAIT`, at most `timeout`).
    pub fn replicated(mut self, replicas: u32, timeout: Duration) -> Backend {
        self.replicated = Some((replicas, timeout));
        self
    }

    /// Connections (to the sentinels too, for `rediss+sentinel://`) use `tls`'s certificates;
    /// an error for a URL without TLS, where they would go unused.
    pub fn with_tls(mut self, tls: &Tls) -> Result<Backend, String> {
        let plain = || {
            format!(
                "partitions.{}: TLS files are set, but the backend {:?} does not use TLS; write \
                 rediss:// or rediss+sentinel://",
                self.partition.name(),
                self.display_url
            )
        };
        self.target = match self.target {
            Target::Direct(info) => Target::Direct(tls.apply(info).ok_or_else(plain)?),
            // The watch started by `new` speaks to the sentinels without these certificates:
            // dropping its target stops it, and the new target's watch has them.
            Target::Sentinel(old) => {
                let address = old.address.clone().with_tls(tls).ok_or_else(plain)?;
                Target::Sentinel(Box::new(watch_sentinels(
                    self.partition,
                    address,
                    self.connect_timeout,
                )))
            }
            // A cluster URL has no TLS form yet.
            Target::Cluster(_) => return Err(plain()),
        };
        Ok(self)
    }

    /// Calls go to `engine` in-process while it runs; the URL is the fallback.
    pub fn with_local(mut self, engine: LocalClient) -> Backend {
        self.local = Some(engine);
        self
    }

    pub fn partition(&self) -> Partition {
        self.partition
    }

    /// Whether this is the service's own embedded engine (whose only writer is this service).
    pub fn is_embedded(&self) -> bool {
        self.local.is_some()
    }

    pub fn url(&self) -> &str {
        &self.display_url
    }

    /// Whether the last call reached the engine.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Asks the engine (`INFO persistence`) whether it logs writes to an append only file
    /// before answering; without one an acknowledgement is only as durable as memory.
    pub async fn refresh_persistence(&self) {
        let mut info = redis::cmd("INFO");
        info.arg("persistence");
        let text = match self.exec_one(info).await {
            Ok(Value::BulkString(bytes)) => String::from_utf8_lossy(&bytes).into_owned(),
            Ok(Value::VerbatimString { text, .. }) => text,
            _ => return,
        };
        let state = match text
            .lines()
            .find_map(|line| line.trim().strip_prefix("aof_enabled:"))
        {
            Some("1") => AOF_ON,
            Some("0") => AOF_OFF,
            _ => return,
        };
        let before = self.aof.swap(state, Ordering::Relaxed);
        if state == AOF_OFF && before != AOF_OFF {
            tracing::warn!(
                partition = self.partition.name(),
                url = %self.display_url,
                "the engine has no append only file: its acknowledgements say `volatile` (kept in memory only until its next snapshot)"
            );
        }
    }

    /// Whether the engine said it keeps writes in memory only.
    pub fn acks_from_memory(&self) -> bool {
        self.aof.load(Ordering::Relaxed) == AOF_OFF
    }

    /// A live connection, opening one if needed (within the backoff schedule).
    pub async fn connection(&self) -> Result<(u64, Connection), Unavailable> {
        let mut slot = self.slot.lock().await;
        if let Target::Sentinel(sentinel) = &self.target {
            if sentinel.switched.swap(false, Ordering::Relaxed) && slot.conn.is_some() {
                slot.conn = None;
                slot.next_attempt = None;
            }
        }
        if let Some((generation, conn)) = &slot.conn {
            return Ok((*generation, conn.clone()));
        }
        if let Some(at) = slot.next_attempt {
            if Instant::now() < at {
                let why = format!("reconnecting (last attempt: {})", slot.last_failure);
                return Err(self.unavailable(&why));
            }
        }
        match self.open().await {
            Ok(conn) => {
                slot.generation += 1;
                let generation = slot.generation;
                slot.conn = Some((generation, conn.clone()));
                slot.next_attempt = None;
                slot.backoff = MIN_BACKOFF;
                if !self.up.swap(true, Ordering::Relaxed) {
                    tracing::info!(partition = self.partition.name(), url = %self.display_url, "engine connected");
                }
                self.report_up(true);
                Ok((generation, conn))
            }
            Err(why) => Err(self.failed_connect(&mut slot, why)),
        }
    }

    /// A new connection to the server, or for Sentinel to the master the sentinels name now.
    async fn open(&self) -> Result<Connection, String> {
        match &self.target {
            Target::Direct(info) => node::open(info.clone(), self.timeouts())
                .await
                .map(Connection::Node),
            Target::Cluster(address) => {
                let cluster = Cluster::open(address.clone(), self.timeouts()).await?;
                tracing::info!(partition = self.partition.name(), masters = ?cluster.masters(), "cluster slot map read");
                Ok(Connection::Cluster(cluster))
            }
            Target::Sentinel(sentinel) => {
                let first = sentinel.first.load(Ordering::Relaxed);
                let timeouts = self.timeouts();
                let master =
                    tradestate_backend::sentinel::find_master(&sentinel.address, first, timeouts)
                        .await?;
                sentinel.first.store(master.sentinel, Ordering::Relaxed);
                tracing::info!(partition = self.partition.name(), master = %master.addr, "sentinel named the master");
                Ok(Connection::Node(master.conn))
            }
        }
    }

    fn timeouts(&self) -> node::Timeouts {
        node::Timeouts {
            connect: self.connect_timeout,
            response: self.response_timeout,
        }
    }

    /// `WAIT <replicas> <timeout>` and the count it must reach, with `ack = "replicated"`.
    fn wait_command(&self) -> Option<(redis::Cmd, i64)> {
        let (replicas, timeout) = self.replicated?;
        let mut wait = redis::cmd("WAIT");
        wait.arg(replicas).arg(timeout.as_millis() as u64);
        Some((wait, replicas as i64))
    }

    fn failed_connect(&self, slot: &mut Slot, why: String) -> Unavailable {
        slot.next_attempt = Some(Instant::now() + slot.backoff);
        slot.backoff = (slot.backoff * 2).min(MAX_BACKOFF);
        slot.last_failure.clone_from(&why);
        self.mark_down(&why);
        self.unavailable(&why)
    }

    /// Sends a pipeline and returns one reply per command, engine errors inline as
    /// `Value::ServerError` so one failing command does not fail its neighbours.
    pub async fn exec(&self, commands: &Commands) -> Result<Vec<Value>, Unavailable> {
        let (pipe, count) = (&commands.pipe, commands.len);
        if count == 0 {
            return Ok(Vec::new());
        }
        if let Some(local) = self.local.as_ref().filter(|l| !l.is_closed()) {
            return self.exec_local(local, commands).await;
        }
        let (generation, mut conn) = self.connection().await?;
        let sent = tokio::time::timeout(
            self.response_timeout,
            conn.req_packed_commands(pipe, 0, count),
        )
        .await;
        match sent {
            Ok(Ok(values)) if values.len() == count => match not_writable(&values) {
                None => Ok(values),
                Some(code) => {
                    let why = format!("the node answered {code}");
                    Err(self.drop_connection(generation, why).await)
                }
            },
            Ok(Ok(values)) => {
                let why = format!("expected {count} replies, got {}", values.len());
                Err(self.drop_connection(generation, why).await)
            }
            // Any whole-pipeline error (I/O, dropped, protocol) leaves the connection's state
            // unknown: replace it.
            Ok(Err(e)) => Err(self.drop_connection(generation, e.to_string()).await),
            Err(_) => {
                let why = format!("no reply within {} ms", self.response_timeout.as_millis());
                Err(self.drop_connection(generation, why).await)
            }
        }
    }

    async fn exec_local(
        &self,
        local: &LocalClient,
        commands: &Commands,
    ) -> Result<Vec<Value>, Unavailable> {
        let batch: Vec<Vec<Vec<u8>>> = commands
            .pipe
            .cmd_iter()
            .map(|cmd| {
                cmd.args_iter()
                    .map(|arg| match arg {
                        redis::Arg::Simple(bytes) => bytes.to_vec(),
                        redis::Arg::Cursor => b"0".to_vec(),
                    })
                    .collect()
            })
            .collect();
        let replies = match tokio::time::timeout(self.response_timeout, local.execute(batch)).await
        {
            Ok(Ok(replies)) => replies,
            Ok(Err(stopped)) => {
                self.mark_down(&stopped.to_string());
                return Err(self.unavailable(&stopped.to_string()));
            }
            Err(_) => {
                let why = format!("no reply within {} ms", self.response_timeout.as_millis());
                self.mark_down(&why);
                return Err(self.unavailable(&why));
            }
        };
        let mut parser = redis::Parser::new();
        let mut reader = std::io::Cursor::new(replies);
        let mut values = Vec::with_capacity(commands.len);
        for _ in 0..commands.len {
            match parser.parse_value(&mut reader) {
                Ok(value) => values.push(value),
                Err(e) => return Err(self.unavailable(&format!("unreadable reply: {e}"))),
            }
        }
        if !self.up.swap(true, Ordering::Relaxed) {
            tracing::info!(
                partition = self.partition.name(),
                "embedded engine answering in-process"
            );
            self.report_up(true);
        }
        Ok(values)
    }

    /// [`Backend::exec`] for a batch of writes: with `ack = "replicated"` the pipeline ends in
    /// `WAIT`, and fewer replicas than asked within the timeout fails the whole batch (its
    /// writes are in the master but not yet safe from its loss; a retry is answered only
    /// after a WAIT that covers them).
    pub async fn exec_write(&self, commands: &Commands) -> Result<Vec<Value>, Unavailable> {
        self.accepts_writes()?;
        let Some((wait, replicas)) = self.wait_command() else {
            return self.exec(commands).await;
        };
        let mut waited = Commands {
            pipe: commands.pipe.clone(),
            len: commands.len,
        };
        waited.add(wait);
        let mut values = self.exec(&waited).await?;
        match values.pop() {
            Some(Value::Int(n)) if n >= replicas => Ok(values),
            Some(Value::Int(n)) => {
                metrics::counter!("tradestate_replication_timeouts_total", "partition" => self.partition.name()).increment(1);
                let ms = self.replicated.map_or(0, |(_, t)| t.as_millis());
                Err(self.unavailable(&format!(
                    "{n} of {replicas} replicas acknowledged the write within {ms} ms"
                )))
            }
            other => Err(self.unavailable(&format!("WAIT answered {other:?}"))),
        }
    }

    /// Whether writes may be sent now: not while the sentinels fail the master over.
    fn accepts_writes(&self) -> Result<(), Unavailable> {
        match &self.target {
            Target::Sentinel(sentinel) if sentinel.failing_over() => {
                Err(self.unavailable("the sentinels are failing the master over"))
            }
            _ => Ok(()),
        }
    }

    /// Whether a write sent now would be acknowledged: the engine answers, no failover is in
    /// progress, and with `ack = "replicated"` enough replicas answer `WAIT`. The spill's probe:
    /// anything weaker lets the spill flap between replaying and spooling.
    pub async fn writable(&self) -> Result<(), Unavailable> {
        self.accepts_writes()?;
        let (probe, enough) = self
            .wait_command()
            .unwrap_or_else(|| (redis::cmd("PING"), 0));
        match self.exec_one(probe).await? {
            Value::SimpleString(pong) if pong == "PONG" => Ok(()),
            Value::Int(n) if n >= enough => Ok(()),
            other => Err(self.unavailable(&format!("the probe answered {other:?}"))),
        }
    }

    /// Runs one command; engine errors come back as `Value::ServerError`.
    pub async fn exec_one(&self, cmd: redis::Cmd) -> Result<Value, Unavailable> {
        let mut commands = Commands::new();
        commands.add(cmd);
        let mut values = self.exec(&commands).await?;
        values.pop().ok_or_else(|| self.unavailable("empty reply"))
    }

    async fn drop_connection(&self, generation: u64, why: String) -> Unavailable {
        let mut slot = self.slot.lock().await;
        if matches!(&slot.conn, Some((current, _)) if *current == generation) {
            slot.conn = None;
            self.mark_down(&why);
        }
        drop(slot);
        self.unavailable(&why)
    }

    fn mark_down(&self, why: &str) {
        if self.up.swap(false, Ordering::Relaxed) {
            tracing::warn!(partition = self.partition.name(), url = %self.display_url, reason = why, "engine unreachable");
        }
        self.report_up(false);
    }

    fn report_up(&self, up: bool) {
        metrics::gauge!("tradestate_engine_up", "partition" => self.partition.name()).set(if up {
            1.0
        } else {
            0.0
        });
    }

    fn unavailable(&self, why: &str) -> Unavailable {
        Unavailable(format!(
            "partition {} ({}) unavailable: {why}",
            self.partition.name(),
            self.display_url
        ))
    }
}

/// The first reply saying the node cannot take writes now (see [`NOT_A_WRITABLE_MASTER`]).
fn not_writable(values: &[Value]) -> Option<&str> {
    values.iter().find_map(|v| match v {
        Value::ServerError(e) if NOT_A_WRITABLE_MASTER.contains(&e.code()) => Some(e.code()),
        _ => None,
    })
}

/// The Sentinel target, with its `+switch-master` watch started on this runtime.
fn watch_sentinels(
    partition: Partition,
    address: SentinelAddress,
    timeout: Duration,
) -> SentinelTarget {
    use tradestate_backend::sentinel::Announcement;
    let switched = Arc::new(AtomicBool::new(false));
    let failing_over = Arc::new(std::sync::Mutex::new(None));
    let (switch_flag, pause) = (switched.clone(), failing_over.clone());
    let watched = address.clone();
    let watch = tokio::spawn(async move {
        tradestate_backend::sentinel::watch(watched, timeout, MAX_BACKOFF, |heard| {
            let mut until = pause.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            match heard {
                Announcement::FailoverStarted => {
                    tracing::warn!(partition = partition.name(), "a sentinel is failing the master over: writes wait for the new master");
                    *until = Some(Instant::now() + FAILOVER_PAUSE);
                }
                Announcement::Switched(to) => {
                    tracing::info!(partition = partition.name(), master = %to, "the sentinels switched the master");
                    switch_flag.store(true, Ordering::Relaxed);
                    *until = None;
                }
                Announcement::FailoverEnded => *until = None,
            }
        })
        .await;
    })
    .abort_handle();
    SentinelTarget {
        address,
        first: AtomicUsize::new(0),
        switched,
        failing_over,
        watch,
    }
}

/// A pipeline that knows its length, so a writer can find each update's replies.
#[derive(Default)]
pub struct Commands {
    pipe: Pipeline,
    len: usize,
}

impl Commands {
    pub fn new() -> Commands {
        Commands::default()
    }

    /// Starts a command; chain `.arg(...)` on the result.
    pub fn cmd(&mut self, name: &str) -> &mut Pipeline {
        self.len += 1;
        self.pipe.cmd(name)
    }

    pub fn add(&mut self, cmd: redis::Cmd) {
        self.len += 1;
        self.pipe.add_command(cmd);
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// The commands, in order.
    pub fn iter(&self) -> impl Iterator<Item = &redis::Cmd> {
        self.pipe.cmd_iter()
    }

    /// Command `i`.
    pub fn get(&self, i: usize) -> Option<&redis::Cmd> {
        self.pipe.cmd_iter().nth(i)
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// The text of an engine error reply, if `value` is one.
pub fn server_error(value: &Value) -> Option<String> {
    match value {
        Value::ServerError(e) => Some(match e.details() {
            Some(details) => format!("{} {details}", e.code()),
            None => e.code().to_string(),
        }),
        _ => None,
    }
}

/// For the crate's unit tests: an embedded engine named after `partition` on an ephemeral
/// loopback port, and a backend for `partition` on it (1 s timeouts). The engine stops when its
/// handle drops.
#[cfg(test)]
pub(crate) fn test_engine(
    partition: Partition,
) -> (tradestate_engine::EngineHandle, std::sync::Arc<Backend>) {
    let mut config = tradestate_engine::Config::default();
    config.set("bind", "127.0.0.1", false).expect("bind");
    config.set("port", "0", false).expect("port");
    let engine = tradestate_engine::start(partition.name(), config).expect("engine");
    let backend = Backend::new(
        partition,
        &format!("redis://127.0.0.1:{}", engine.port()),
        Duration::from_secs(1),
        Duration::from_secs(1),
    )
    .expect("backend");
    (engine, std::sync::Arc::new(backend))
}
