//! A Redis Cluster as one connection: the slot map (CLUSTER SHARDS, or CLUSTER SLOTS from a
//! server older than 7), a connection per master opened on first use, and pipelines split per
//! node, sent side by side and reassembled in the caller's order.
//!
//! A pipeline is cut into units: one command, or a `MULTI ... EXEC` block, which goes whole to
//! the node owning the slot of its first key (Tradestate's keys of one terminal share a hash
//! tag, so a terminal's transaction stays in one slot). A unit answered `MOVED` is sent again
//! to the node named (and the map is read again for the next calls), one answered `ASK` is sent
//! to the importing node behind `ASKING`, and one answered `TRYAGAIN` (a multi-key unit whose
//! keys a resharding has split) is sent again after a short pause. A redirected unit ran
//! nowhere (Redis refuses it, or aborts its transaction), so sending it again cannot apply it
//! twice. Units of one slot keep their order: they are redirected together, in order.
//!
//! `WAIT` has no key: it goes to every node this call wrote to, after the writes (to every
//! master when the call wrote nothing), and the smallest count is the answer, so
//! `ack = "replicated"` holds on every node a batch touched.
//! Commands about a server (`FLUSHALL`, `FLUSHDB`, `DBSIZE`, `CLIENT`, `CONFIG`, `DEBUG`) go to
//! every master, integer replies summed. Other keyless commands go to one node.
//!
//! Any I/O failure fails the whole call, as on one node: the caller drops the connection and
//! the next one reads the map anew, which is how a failover (a replica promoted) is followed.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{Cmd, ErrorKind, Pipeline, RedisError, RedisFuture, RedisResult, Value};

use crate::node::{open, query, Timeouts};
use crate::url::ClusterAddress;

/// The number of hash slots in a Redis Cluster.
pub const SLOTS: usize = 16384;

/// How many times a unit is redirected or retried before the call fails; retries also stop
/// once three quarters of the response timeout are spent, so the caller hears why before its
/// own bound runs out.
const MAX_ROUNDS: usize = 32;
/// The pause before sending again what a node answered `TRYAGAIN` (a slot half moved: it
/// lasts as long as the migration of that slot's keys), growing by this much each round.
const TRYAGAIN_PAUSE: Duration = Duration::from_millis(10);
const TRYAGAIN_PAUSE_MAX: Duration = Duration::from_millis(100);

/// The slot of `key`, as Redis computes it: CRC16 (XMODEM) of the key, or of the text between
/// the first `{` and the next `}` when that text is not empty.
pub fn key_slot(key: &[u8]) -> u16 {
    let tagged = key.iter().position(|&b| b == b'{').and_then(|open| {
        let rest = &key[open + 1..];
        let close = rest.iter().position(|&b| b == b'}')?;
        (close > 0).then(|| &rest[..close])
    });
    crc16(tagged.unwrap_or(key)) % SLOTS as u16
}

fn crc16(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in bytes {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// Which master serves each slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotMap {
    /// `host:port` of each master.
    pub nodes: Vec<String>,
    /// Index into `nodes` per slot; `u16::MAX` where no master serves it.
    owner: Vec<u16>,
}

const UNSERVED: u16 = u16::MAX;

impl SlotMap {
    /// The master serving `slot`, if any.
    pub fn node_of(&self, slot: u16) -> Option<&str> {
        match self.owner.get(slot as usize) {
            Some(&i) if i != UNSERVED => self.nodes.get(i as usize).map(String::as_str),
            _ => None,
        }
    }

    /// The slots no master serves, as ranges (`0-99, 5000`), or `None` when all are served.
    pub fn unserved(&self) -> Option<String> {
        let mut ranges = Vec::new();
        let mut slot = 0;
        while slot < SLOTS {
            if self.owner[slot] != UNSERVED {
                slot += 1;
                continue;
            }
            let start = slot;
            while slot < SLOTS && self.owner[slot] == UNSERVED {
                slot += 1;
            }
            ranges.push(if slot - 1 == start {
                start.to_string()
            } else {
                format!("{start}-{}", slot - 1)
            });
        }
        (!ranges.is_empty()).then(|| ranges.join(", "))
    }

    fn from_ranges(ranges: Vec<(usize, usize, String)>) -> SlotMap {
        let mut map = SlotMap {
            nodes: Vec::new(),
            owner: vec![UNSERVED; SLOTS],
        };
        for (start, end, node) in ranges {
            let index = match map.nodes.iter().position(|n| *n == node) {
                Some(i) => i,
                None => {
                    map.nodes.push(node);
                    map.nodes.len() - 1
                }
            };
            for slot in start..=end.min(SLOTS - 1) {
                map.owner[slot] = index as u16;
            }
        }
        map
    }
}

/// Reads the slot map from `conn` (the node at `asked`, whose address stands in for a node
/// that does not know its own): CLUSTER SHARDS, else CLUSTER SLOTS.
pub async fn read_slot_map(
    conn: &mut MultiplexedConnection,
    asked: &str,
    timeout: Duration,
) -> Result<SlotMap, String> {
    let mut shards = redis::cmd("CLUSTER");
    shards.arg("SHARDS");
    let ranges = match query(conn, &shards, timeout).await? {
        Value::ServerError(e) if e.code() != "ERR" => {
            return Err(format!(
                "CLUSTER SHARDS: {} {}",
                e.code(),
                e.details().unwrap_or("")
            ))
        }
        Value::ServerError(_) => {
            let mut slots = redis::cmd("CLUSTER");
            slots.arg("SLOTS");
            match query(conn, &slots, timeout).await? {
                Value::ServerError(e) => {
                    return Err(format!(
                        "CLUSTER SLOTS: {} {} (is cluster mode on? cluster-enabled yes)",
                        e.code(),
                        e.details().unwrap_or("")
                    ))
                }
                reply => ranges_from_slots(&reply, asked)?,
            }
        }
        reply => ranges_from_shards(&reply, asked)?,
    };
    Ok(SlotMap::from_ranges(ranges))
}

/// `CLUSTER SHARDS`: per shard, its slot ranges and its nodes; the online master serves them.
fn ranges_from_shards(reply: &Value, asked: &str) -> Result<Vec<(usize, usize, String)>, String> {
    let Value::Array(shards) = reply else {
        return Err(format!("CLUSTER SHARDS answered {reply:?}"));
    };
    let mut ranges = Vec::new();
    for shard in shards {
        let fields = pairs(shard);
        let slots = match fields.get("slots") {
            Some(Value::Array(bounds)) => bounds.iter().filter_map(int).collect::<Vec<_>>(),
            _ => continue,
        };
        let Some(Value::Array(nodes)) = fields.get("nodes") else {
            continue;
        };
        let master = nodes.iter().map(pairs).find(|node| {
            node.get("role").and_then(|v| text(v)).as_deref() == Some("master")
                && node.get("health").and_then(|v| text(v)).as_deref() != Some("fail")
        });
        let Some(master) = master else {
            continue;
        };
        let Some(port) = master.get("port").and_then(|v| int(v)) else {
            continue;
        };
        let host = ["endpoint", "ip"]
            .iter()
            .filter_map(|field| master.get(*field).and_then(|v| text(v)))
            .find(|h| !h.is_empty() && h != "?");
        let node = node_name(host.as_deref(), port, asked);
        for bounds in slots.chunks_exact(2) {
            ranges.push((bounds[0] as usize, bounds[1] as usize, node.clone()));
        }
    }
    Ok(ranges)
}

/// `CLUSTER SLOTS`: `[start, end, [ip, port, id], replicas...]` per range.
fn ranges_from_slots(reply: &Value, asked: &str) -> Result<Vec<(usize, usize, String)>, String> {
    let Value::Array(entries) = reply else {
        return Err(format!("CLUSTER SLOTS answered {reply:?}"));
    };
    let mut ranges = Vec::new();
    for entry in entries {
        let Value::Array(parts) = entry else { continue };
        let (Some(start), Some(end), Some(Value::Array(master))) = (
            parts.first().and_then(int),
            parts.get(1).and_then(int),
            parts.get(2),
        ) else {
            continue;
        };
        let Some(port) = master.get(1).and_then(int) else {
            continue;
        };
        let host = master.first().and_then(text);
        ranges.push((
            start as usize,
            end as usize,
            node_name(host.as_deref(), port, asked),
        ));
    }
    Ok(ranges)
}

fn node_name(host: Option<&str>, port: i64, asked: &str) -> String {
    match host.filter(|h| !h.is_empty()) {
        Some(host) if host.contains(':') => format!("[{host}]:{port}"),
        Some(host) => format!("{host}:{port}"),
        // A node that does not know its own address answers "": it is the one asked.
        None => {
            let asked_host = asked.rsplit_once(':').map_or(asked, |(h, _)| h);
            format!("{asked_host}:{port}")
        }
    }
}

/// A RESP2 flat `[key, value, ...]` array or a RESP3 map, by key.
fn pairs(value: &Value) -> HashMap<String, &Value> {
    match value {
        Value::Array(items) => items
            .chunks_exact(2)
            .filter_map(|kv| Some((text(&kv[0])?, &kv[1])))
            .collect(),
        Value::Map(items) => items
            .iter()
            .filter_map(|(k, v)| Some((text(k)?, v)))
            .collect(),
        _ => HashMap::new(),
    }
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        Value::VerbatimString { text, .. } => Some(text.clone()),
        _ => None,
    }
}

fn int(value: &Value) -> Option<i64> {
    match value {
        Value::Int(n) => Some(*n),
        other => text(other)?.parse().ok(),
    }
}

/// `host:port` split for connecting (`[v6]:port` too).
fn host_port(node: &str) -> Option<(String, u16)> {
    let (host, port) = node.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Some((host.to_string(), port.parse().ok()?))
}

/// A connection to a whole Redis Cluster; cheap to clone (clones share the map and the node
/// connections).
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
}

struct Inner {
    address: ClusterAddress,
    timeouts: Timeouts,
    state: Mutex<State>,
}

struct State {
    map: Arc<SlotMap>,
    conns: HashMap<String, MultiplexedConnection>,
    /// A redirect said the map is out of date: read it again before the next call routes.
    stale: bool,
}

/// Where a unit goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Slot(u16),
    /// Any node (PING, INFO...).
    Any,
    /// Every master (FLUSHALL, FLUSHDB).
    Masters,
    /// Every node written to in this call, after the writes (WAIT).
    Written,
}

struct Unit {
    /// Indexes of the caller's commands, in order.
    cmds: Vec<usize>,
    route: Route,
}

/// Where one unit is sent in one round.
#[derive(Clone)]
struct Dispatch {
    unit: usize,
    node: String,
    asking: bool,
}

impl Cluster {
    /// Reads the slot map from the first seed that answers; a map that leaves slots unserved
    /// is refused, since an update of a terminal hashed there could never be written.
    pub async fn open(address: ClusterAddress, timeouts: Timeouts) -> Result<Cluster, String> {
        let mut said = Vec::new();
        for (host, port) in &address.seeds {
            let asked = format!("{host}:{port}");
            let mut conn = match open(address.node(host, *port), timeouts).await {
                Ok(conn) => conn,
                Err(e) => {
                    said.push(format!("{asked}: {e}"));
                    continue;
                }
            };
            let map = match read_slot_map(&mut conn, &asked, timeouts.connect).await {
                Ok(map) => map,
                Err(e) => {
                    said.push(format!("{asked}: {e}"));
                    continue;
                }
            };
            if let Some(unserved) = map.unserved() {
                return Err(format!(
                    "the cluster (as {asked} sees it) serves no master for slots {unserved}: \
                     assign them (redis-cli --cluster fix) before writing to it"
                ));
            }
            let mut conns = HashMap::new();
            if map.nodes.contains(&asked) {
                conns.insert(asked, conn);
            }
            return Ok(Cluster {
                inner: Arc::new(Inner {
                    address,
                    timeouts,
                    state: Mutex::new(State {
                        map: Arc::new(map),
                        conns,
                        stale: false,
                    }),
                }),
            });
        }
        Err(format!("no seed gave the slot map: {}", said.join("; ")))
    }

    /// The masters, as the map says now.
    pub fn masters(&self) -> Vec<String> {
        self.lock().map.nodes.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `cmds` (a `MULTI`/`EXEC` block when `transaction`, answered by EXEC's reply alone)
    /// and returns one reply per command, errors inline.
    pub async fn run(&self, cmds: &[&Cmd], transaction: bool) -> RedisResult<Vec<Value>> {
        self.refresh_if_stale().await?;
        let map = self.lock().map.clone();
        let units = if transaction {
            vec![Unit {
                route: cmds
                    .iter()
                    .find_map(|c| slot_route(c))
                    .unwrap_or(Route::Any),
                cmds: (0..cmds.len()).collect(),
            }]
        } else {
            units_of(cmds)
        };
        let mut replies: Vec<Option<Vec<Value>>> = (0..units.len()).map(|_| None).collect();
        let mut written: HashSet<String> = HashSet::new();
        let mut pending: Vec<Dispatch> = Vec::new();
        let any = map.nodes.first().cloned().unwrap_or_default();
        for (i, unit) in units.iter().enumerate() {
            match unit.route {
                Route::Slot(slot) => {
                    let node = map.node_of(slot).ok_or_else(|| {
                        fail(format!("no master serves slot {slot} (CLUSTERDOWN?)"))
                    })?;
                    pending.push(Dispatch {
                        unit: i,
                        node: node.to_string(),
                        asking: false,
                    });
                }
                Route::Any => pending.push(Dispatch {
                    unit: i,
                    node: any.clone(),
                    asking: false,
                }),
                Route::Masters => {
                    for node in &map.nodes {
                        pending.push(Dispatch {
                            unit: i,
                            node: node.clone(),
                            asking: false,
                        });
                    }
                }
                Route::Written => {}
            }
        }
        let budget = tokio::time::Instant::now() + self.inner.timeouts.response * 3 / 4;
        for round in 0..MAX_ROUNDS {
            let last = round + 1 == MAX_ROUNDS || tokio::time::Instant::now() >= budget;
            if pending.is_empty() {
                break;
            }
            let answered = self.send_round(cmds, &units, &pending, transaction).await?;
            let mut again = Vec::new();
            let mut pause = false;
            for (send, values) in pending.iter().zip(answered) {
                let redirected = redirect(&values);
                if let Some(kind) = &redirected {
                    metrics::counter!("tradestate_cluster_redirects_total", "kind" => kind.name())
                        .increment(1);
                }
                match redirected {
                    Some(Redirect::Moved(node)) => {
                        self.lock().stale = true;
                        again.push(Dispatch {
                            node,
                            asking: false,
                            ..send.clone()
                        });
                    }
                    Some(Redirect::Ask(node)) => again.push(Dispatch {
                        node,
                        asking: true,
                        ..send.clone()
                    }),
                    Some(Redirect::TryAgain) if !last => {
                        pause = true;
                        again.push(send.clone());
                    }
                    _ => {
                        if matches!(units[send.unit].route, Route::Slot(_)) {
                            written.insert(send.node.clone());
                        }
                        merge(&mut replies[send.unit], values);
                    }
                }
            }
            if last && !again.is_empty() {
                return Err(fail(format!(
                    "still redirected after {} rounds (the cluster is resharding or failing \
                     over)",
                    round + 1
                )));
            }
            if pause {
                let pause = (TRYAGAIN_PAUSE * (round as u32 + 1)).min(TRYAGAIN_PAUSE_MAX);
                tokio::time::sleep(
                    pause.min(budget.saturating_duration_since(tokio::time::Instant::now())),
                )
                .await;
            }
            pending = again;
        }
        let waits: Vec<usize> = (0..units.len())
            .filter(|&i| units[i].route == Route::Written)
            .collect();
        if !waits.is_empty() {
            // A WAIT after no write (the spill's probe) asks every master: it says whether
            // each has the replicas a write would need.
            let nodes: Vec<String> = if written.is_empty() {
                map.nodes.clone()
            } else {
                written.into_iter().collect()
            };
            for i in waits {
                let sends: Vec<Dispatch> = nodes
                    .iter()
                    .map(|node| Dispatch {
                        unit: i,
                        node: node.clone(),
                        asking: false,
                    })
                    .collect();
                let answered = self.send_round(cmds, &units, &sends, false).await?;
                replies[i] = Some(vec![least(answered.into_iter().flatten())]);
            }
        }
        let mut out = Vec::with_capacity(cmds.len());
        for (unit, reply) in units.iter().zip(replies) {
            let reply = reply.unwrap_or_default();
            if reply.len() != unit.cmds.len() && !transaction {
                return Err(fail(format!(
                    "expected {} replies for a unit, got {}",
                    unit.cmds.len(),
                    reply.len()
                )));
            }
            out.extend(reply);
        }
        Ok(out)
    }

    /// Sends every `Dispatch` of one round, one pipeline per node, the nodes side by side; returns
    /// each unit's replies (without the `ASKING` reply) in `sends`' order.
    async fn send_round(
        &self,
        cmds: &[&Cmd],
        units: &[Unit],
        sends: &[Dispatch],
        transaction: bool,
    ) -> RedisResult<Vec<Vec<Value>>> {
        let mut by_node: Vec<(String, Vec<usize>)> = Vec::new();
        for (k, send) in sends.iter().enumerate() {
            match by_node.iter_mut().find(|(node, _)| *node == send.node) {
                Some((_, list)) => list.push(k),
                None => by_node.push((send.node.clone(), vec![k])),
            }
        }
        let mut jobs = Vec::with_capacity(by_node.len());
        for (node, list) in &by_node {
            let mut conn = self.node(node).await?;
            let mut pipe = Pipeline::new();
            for &k in list {
                if sends[k].asking {
                    pipe.cmd("ASKING");
                }
                if transaction {
                    pipe.cmd("MULTI");
                }
                for &c in &units[sends[k].unit].cmds {
                    pipe.add_command(cmds[c].clone());
                }
                if transaction {
                    pipe.cmd("EXEC");
                }
            }
            let count = list
                .iter()
                .map(|&k| {
                    units[sends[k].unit].cmds.len()
                        + usize::from(sends[k].asking)
                        + if transaction { 2 } else { 0 }
                })
                .sum();
            let node = node.clone();
            jobs.push(async move {
                let result = tokio::time::timeout(
                    self.inner.timeouts.response,
                    conn.req_packed_commands(&pipe, 0, count),
                )
                .await;
                (node, count, result)
            });
        }
        let results = futures_util::future::join_all(jobs).await;
        let mut out: Vec<Vec<Value>> = vec![Vec::new(); sends.len()];
        for ((node, list), (_, count, result)) in by_node.iter().zip(results) {
            let values = match result {
                Ok(Ok(values)) if values.len() == count => values,
                Ok(Ok(values)) => {
                    self.forget(node);
                    return Err(fail(format!(
                        "{node}: expected {count} replies, got {}",
                        values.len()
                    )));
                }
                Ok(Err(e)) => {
                    self.forget(node);
                    return Err(fail(format!("{node}: {e}")));
                }
                Err(_) => {
                    self.forget(node);
                    return Err(fail(format!(
                        "{node}: no reply within {} ms",
                        self.inner.timeouts.response.as_millis()
                    )));
                }
            };
            let mut values = values.into_iter();
            for &k in list {
                if sends[k].asking {
                    values.next();
                }
                let n = units[sends[k].unit].cmds.len();
                out[k] = if transaction {
                    // MULTI's +OK and each +QUEUED say nothing once EXEC answers; a refusal
                    // while queueing (MOVED, ASK) is what decides where the block goes.
                    let queued: Vec<Value> = values.by_ref().take(n + 1).collect();
                    let exec = values.next().unwrap_or(Value::Nil);
                    match queued.into_iter().find(|v| redirect_code(v).is_some()) {
                        Some(refusal) => vec![refusal],
                        None => vec![exec],
                    }
                } else {
                    values.by_ref().take(n).collect()
                };
            }
        }
        Ok(out)
    }

    /// The connection to `node`, opened now if there is none.
    async fn node(&self, node: &str) -> RedisResult<MultiplexedConnection> {
        if let Some(conn) = self.lock().conns.get(node) {
            return Ok(conn.clone());
        }
        let (host, port) =
            host_port(node).ok_or_else(|| fail(format!("unreadable node address {node:?}")))?;
        let conn = open(self.inner.address.node(&host, port), self.inner.timeouts)
            .await
            .map_err(|e| fail(format!("{node}: {e}")))?;
        self.lock().conns.insert(node.to_string(), conn.clone());
        Ok(conn)
    }

    /// Drops the connection to `node` after a failure, and has the map read again: a node
    /// that fails may have been replaced by its replica.
    fn forget(&self, node: &str) {
        let mut state = self.lock();
        state.conns.remove(node);
        state.stale = true;
    }

    /// Reads the map again (from any node it can reach) when a redirect said it changed.
    async fn refresh_if_stale(&self) -> RedisResult<()> {
        let (stale, nodes) = {
            let state = self.lock();
            (state.stale, state.map.nodes.clone())
        };
        if !stale {
            return Ok(());
        }
        let seeds = self
            .inner
            .address
            .seeds
            .iter()
            .map(|(h, p)| format!("{h}:{p}"));
        let mut said = Vec::new();
        for node in nodes.into_iter().chain(seeds) {
            let read = async {
                let mut conn = self.node(&node).await.map_err(|e| e.to_string())?;
                read_slot_map(&mut conn, &node, self.inner.timeouts.response).await
            };
            match read.await {
                Ok(map) if map.unserved().is_none() => {
                    let mut state = self.lock();
                    state.map = Arc::new(map);
                    state.stale = false;
                    return Ok(());
                }
                Ok(map) => said.push(format!(
                    "{node}: slots {} unserved",
                    map.unserved().unwrap_or_default()
                )),
                Err(e) => {
                    self.lock().conns.remove(&node);
                    said.push(format!("{node}: {e}"));
                }
            }
        }
        Err(fail(format!(
            "cannot read the slot map again: {}",
            said.join("; ")
        )))
    }
}

fn fail(why: String) -> RedisError {
    RedisError::from((ErrorKind::IoError, "Redis Cluster", why))
}

/// Replies of one unit sent to several masters: the first error, else the sum of integers
/// (DBSIZE, CLIENT KILL), else the first reply.
fn merge(slot: &mut Option<Vec<Value>>, values: Vec<Value>) {
    match slot {
        None => *slot = Some(values),
        Some(kept) => {
            for (kept, new) in kept.iter_mut().zip(values) {
                match (&*kept, new) {
                    (Value::ServerError(_), _) => {}
                    (_, new @ Value::ServerError(_)) => *kept = new,
                    (Value::Int(a), Value::Int(b)) => *kept = Value::Int(a + b),
                    _ => {}
                }
            }
        }
    }
}

/// The smallest integer of `WAIT`'s replies from each node (0 when there was none), or the
/// first error.
fn least(values: impl Iterator<Item = Value>) -> Value {
    let mut least: Option<i64> = None;
    for value in values {
        match value {
            Value::Int(n) => least = Some(least.map_or(n, |l| l.min(n))),
            other => return other,
        }
    }
    Value::Int(least.unwrap_or(0))
}

enum Redirect {
    Moved(String),
    Ask(String),
    TryAgain,
}

impl Redirect {
    /// The label of `tradestate_cluster_redirects_total`.
    fn name(&self) -> &'static str {
        match self {
            Redirect::Moved(_) => "moved",
            Redirect::Ask(_) => "ask",
            Redirect::TryAgain => "tryagain",
        }
    }
}

fn redirect_code(value: &Value) -> Option<&str> {
    match value {
        Value::ServerError(e) if matches!(e.code(), "MOVED" | "ASK" | "TRYAGAIN") => Some(e.code()),
        _ => None,
    }
}

/// Whether a unit's replies send it elsewhere: `MOVED <slot> <node>`, `ASK <slot> <node>`,
/// `TRYAGAIN`.
fn redirect(values: &[Value]) -> Option<Redirect> {
    values.iter().find_map(|value| {
        let Value::ServerError(e) = value else {
            return None;
        };
        let target = || e.details()?.split_whitespace().nth(1).map(str::to_string);
        match e.code() {
            "MOVED" => target().map(Redirect::Moved),
            "ASK" => target().map(Redirect::Ask),
            "TRYAGAIN" => Some(Redirect::TryAgain),
            _ => None,
        }
    })
}

/// Cuts a pipeline into units: single commands, and `MULTI ... EXEC|DISCARD` blocks.
fn units_of(cmds: &[&Cmd]) -> Vec<Unit> {
    let mut units: Vec<Unit> = Vec::new();
    let mut open_block: Option<Unit> = None;
    for (i, cmd) in cmds.iter().enumerate() {
        let name = name_of(cmd);
        if let Some(block) = open_block.as_mut() {
            block.cmds.push(i);
            if block.route == Route::Any {
                if let Some(route) = slot_route(cmd) {
                    block.route = route;
                }
            }
            if name.eq_ignore_ascii_case(b"EXEC") || name.eq_ignore_ascii_case(b"DISCARD") {
                units.extend(open_block.take());
            }
            continue;
        }
        if name.eq_ignore_ascii_case(b"MULTI") {
            open_block = Some(Unit {
                cmds: vec![i],
                route: Route::Any,
            });
            continue;
        }
        let route = if name.eq_ignore_ascii_case(b"WAIT") {
            Route::Written
        } else if EVERY_MASTER
            .iter()
            .any(|m| name.eq_ignore_ascii_case(m.as_bytes()))
        {
            Route::Masters
        } else {
            slot_route(cmd).unwrap_or(Route::Any)
        };
        units.push(Unit {
            cmds: vec![i],
            route,
        });
    }
    // A MULTI without its EXEC goes as it is: the node answers what it would alone.
    units.extend(open_block);
    units
}

fn name_of(cmd: &Cmd) -> &[u8] {
    match cmd.args_iter().next() {
        Some(redis::Arg::Simple(name)) => name,
        _ => b"",
    }
}

/// Commands whose second word is not a key.
const KEYLESS: [&str; 18] = [
    "MULTI", "EXEC", "DISCARD", "PING", "ECHO", "INFO", "TIME", "WAIT", "WAITAOF", "CLUSTER",
    "HELLO", "AUTH", "SELECT", "ACL", "COMMAND", "ROLE", "SCRIPT", "FUNCTION",
];

/// Commands about a whole server, which for a cluster means every master (see [`merge`] for
/// the reply).
const EVERY_MASTER: [&str; 6] = ["FLUSHALL", "FLUSHDB", "DEBUG", "CONFIG", "CLIENT", "DBSIZE"];

/// The slot of a command's first key, if it has one: the second word, or for scripts the one
/// after `numkeys`, for XREAD/XREADGROUP the first after `STREAMS`.
fn slot_route(cmd: &Cmd) -> Option<Route> {
    let args: Vec<&[u8]> = cmd
        .args_iter()
        .filter_map(|arg| match arg {
            redis::Arg::Simple(bytes) => Some(bytes),
            redis::Arg::Cursor => None,
        })
        .collect();
    let name = String::from_utf8_lossy(args.first()?).to_ascii_uppercase();
    if KEYLESS.contains(&name.as_str()) {
        return None;
    }
    let key = match name.as_str() {
        "EVAL" | "EVALSHA" | "EVAL_RO" | "EVALSHA_RO" | "FCALL" | "FCALL_RO" => {
            let numkeys: usize = std::str::from_utf8(args.get(2)?).ok()?.parse().ok()?;
            (numkeys > 0).then(|| args.get(3)).flatten()?
        }
        "XREAD" | "XREADGROUP" => {
            let at = args
                .iter()
                .position(|a| a.eq_ignore_ascii_case(b"STREAMS"))?;
            args.get(at + 1)?
        }
        _ => args.get(1)?,
    };
    Some(Route::Slot(key_slot(key)))
}

impl ConnectionLike for Cluster {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let mut values = self.run(&[cmd], false).await?;
            values.pop().ok_or_else(|| fail("no reply".into()))
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let cmds: Vec<&Cmd> = pipeline.cmd_iter().collect();
            // The redis crate asks for replies past an offset only for an atomic pipeline
            // (its MULTI's and QUEUED replies skipped): one transaction, one slot.
            let transaction = offset > 0;
            let values = self.run(&cmds, transaction).await?;
            if transaction {
                return Ok(values.into_iter().take(count).collect());
            }
            Ok(values)
        })
    }

    fn get_db(&self) -> i64 {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_match_redis() {
        // Values from CLUSTER KEYSLOT on redis-server 7.
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"bar"), 5061);
        assert_eq!(key_slot(b"123456789"), 12739);
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        assert_eq!(key_slot(b"{}x"), key_slot(b"{}x"));
        assert_ne!(key_slot(b"{}x"), key_slot(b"x"));
        assert_eq!(key_slot(b"a{}{b}"), key_slot(b"a{}{b}"));
        assert_eq!(key_slot(b"ris:{T1}"), key_slot(b"rts:{T1}:trade:7"));
    }

    #[test]
    fn a_pipeline_is_cut_into_units() {
        let multi = redis::cmd("MULTI");
        let mut hset = redis::cmd("HSET");
        hset.arg("rts:{T1}:trade:1").arg("seq").arg(1);
        let mut sadd = redis::cmd("SADD");
        sadd.arg("rts:{T1}:open").arg(1);
        let exec = redis::cmd("EXEC");
        let mut wait = redis::cmd("WAIT");
        wait.arg(1).arg(100);
        let mut get = redis::cmd("GET");
        get.arg("foo");
        let ping = redis::cmd("PING");
        let cmds = [&multi, &hset, &sadd, &exec, &get, &ping, &wait];
        let units = units_of(&cmds);
        assert_eq!(units.len(), 4);
        assert_eq!(units[0].cmds, [0, 1, 2, 3]);
        assert_eq!(units[0].route, Route::Slot(key_slot(b"T1")));
        assert_eq!(units[1].route, Route::Slot(12182));
        assert_eq!(units[2].route, Route::Any);
        assert_eq!(units[3].route, Route::Written);
    }

    #[test]
    fn unserved_slots_are_named() {
        let full = SlotMap::from_ranges(vec![
            (0, 5460, "a:1".into()),
            (5461, 10922, "b:1".into()),
            (10923, 16383, "c:1".into()),
        ]);
        assert_eq!(full.unserved(), None);
        assert_eq!(full.node_of(12182), Some("c:1"));
        let holes =
            SlotMap::from_ranges(vec![(1, 5460, "a:1".into()), (5462, 16000, "b:1".into())]);
        assert_eq!(holes.unserved().as_deref(), Some("0, 5461, 16001-16383"));
        assert_eq!(holes.node_of(0), None);
    }

    #[test]
    fn redirects_are_read() {
        let moved = redis::Parser::new()
            .parse_value(&b"-MOVED 3999 127.0.0.1:7001\r\n"[..])
            .expect("an error reply");
        assert!(matches!(redirect(&[moved]), Some(Redirect::Moved(n)) if n == "127.0.0.1:7001"));
        assert_eq!(
            least([Value::Int(2), Value::Int(1), Value::Int(3)].into_iter()),
            Value::Int(1)
        );
    }
}
