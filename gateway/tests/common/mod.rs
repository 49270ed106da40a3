//! Test harness: starts the real service in-process on ephemeral ports, against embedded engines
//! or (feature `redis-server-tests`) against the three real redis-server processes `.ci/run`
//! starts, whose URLs come in `TRADESTATE_TEST_REDIS_URLS` ("ris_url,rts_url,rtss_url").
#![allow(dead_code)]

use std::time::Duration;

use tradestate_config::{Backend, Config, TerminalToken};
use tradestate_gateway::ops::Partition;
use tradestate_gateway::service::Service;

/// Terminals every harness configures, with their tokens.
pub const TERMINALS: [(&str, &str); 3] = [
    ("T1", "token-for-terminal-one"),
    ("T2", "token-for-terminal-two"),
    ("T3", "token-for-terminal-three"),
];
pub const OPERATOR_TOKEN: &str = "operator-token-for-tests";

#[derive(Debug, Clone)]
pub enum Target {
    Embedded,
    Redis([String; 3]),
}

impl Target {
    pub fn name(&self) -> &'static str {
        match self {
            Target::Embedded => "embedded",
            Target::Redis(urls) if urls[0].starts_with("redis+sentinel") => "sentinel",
            Target::Redis(urls) if urls[0].starts_with("redis+cluster") => "cluster",
            Target::Redis(_) => "redis-server",
        }
    }
}

/// The backends each suite runs against: embedded always, real redis-server with the feature.
pub fn targets() -> Vec<Target> {
    let mut targets = vec![Target::Embedded];
    if cfg!(feature = "redis-server-tests") {
        let urls = std::env::var("TRADESTATE_TEST_REDIS_URLS").unwrap_or_else(|_| {
            panic!("feature redis-server-tests needs TRADESTATE_TEST_REDIS_URLS=\"ris_url,rts_url,rtss_url\" (or space-separated; run .ci/run, which starts three redis-server processes)")
        });
        // Sentinel URLs hold commas themselves: those come separated by spaces.
        let urls: Vec<String> = if urls.contains(char::is_whitespace) {
            urls.split_whitespace().map(str::to_string).collect()
        } else {
            urls.split(',').map(|u| u.trim().to_string()).collect()
        };
        let urls: [String; 3] = urls
            .try_into()
            .unwrap_or_else(|_| panic!("TRADESTATE_TEST_REDIS_URLS needs exactly three URLs"));
        targets.push(Target::Redis(urls));
    }
    targets
}

pub struct Harness {
    pub target: Target,
    pub service: Service,
    pub base: String,
    pub http: reqwest::Client,
}

/// A config for tests: ephemeral ports, three terminals with tokens, an operator token.
pub fn test_config(target: &Target) -> Config {
    let mut config = tradestate_config::load_from(None, &[]).expect("defaults load");
    config.listen.http = "127.0.0.1:0".parse().unwrap();
    config.listen.resp = Some("127.0.0.1:0".parse().unwrap());
    config.auth.terminals = TERMINALS
        .iter()
        .map(|(id, token)| TerminalToken::new(id, token))
        .collect();
    config.auth.operator_tokens = vec![OPERATOR_TOKEN.to_string()];
    // Embedded engines persist under data_dir: each service gets a fresh one.
    config.data_dir = temp_data_dir();
    // A debug build on a busy machine can take longer than the 50 ms default to acknowledge;
    // suites that expect `stored` must not see `spooled` for that. tests/spill.rs sets it back.
    config.spill.after_ms = 5_000;
    for (i, name) in ["ris", "rts", "rtss"].iter().enumerate() {
        let partition = config.partitions.get_mut(name).unwrap();
        partition.embedded_port = 0;
        partition.write_timeout_ms = 1000;
        partition.connect_timeout_ms = 500;
        if let Target::Redis(urls) = target {
            partition.backend = Backend::Url(urls[i].clone());
        }
    }
    config
}

/// A new, empty directory path under the system's temp dir (`tradestate-gateway-test-<pid>-<n>`,
/// not created: the service creates what it needs).
pub fn temp_data_dir() -> std::path::PathBuf {
    tradestate_test_support::temp_path("tradestate-gateway-test")
}

/// Starts the service for `target` after `tweak` adjusts the test config. Real redis-servers
/// are flushed first, so suites using them must run with `--test-threads=1` (as `.ci/run` does).
pub async fn start(target: &Target, tweak: impl FnOnce(&mut Config)) -> Harness {
    if let Target::Redis(urls) = target {
        for url in urls {
            let mut conn = connect_backend(url).await;
            let _: () = redis::cmd("FLUSHALL")
                .query_async(&mut conn)
                .await
                .expect("FLUSHALL");
        }
    }
    let mut config = test_config(target);
    tweak(&mut config);
    let service = Service::start(config).await.expect("service starts");
    let base = format!("http://{}", service.http_addr);
    Harness {
        target: target.clone(),
        service,
        base,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap(),
    }
}

/// Runs `test` once per target of [`targets`], each time against a fresh service whose config
/// `tweak` adjusted, and stops that service after it; `test` gets the target's name for its
/// messages. A panic in `test` ends the run there, as a failed assertion should.
pub async fn on_each_target(
    tweak: impl Fn(&mut Config),
    test: impl AsyncFn(&Harness, &'static str),
) {
    for target in targets() {
        let h = start(&target, &tweak).await;
        test(&h, target.name()).await;
        h.stop().await;
    }
}

/// The test config as [`test_config`] makes it, for suites that need nothing else.
pub fn defaults(_: &mut Config) {}

/// A config tweak: terminals may send `rate` requests a second after a burst of `burst`.
pub fn terminal_rate(rate: u32, burst: u32) -> impl Fn(&mut Config) {
    move |config| {
        config.limits.per_terminal_rate = rate;
        config.limits.per_terminal_burst = burst;
    }
}

/// Development mode (no terminal tokens): any instance id is accepted with the dev token, as
/// the mt5-bridge fixtures name several.
pub fn dev_mode(config: &mut Config) {
    config.auth.terminals.clear();
    config.auth.tokens_file = None;
}

/// Starts the service in [`dev_mode`].
pub async fn start_dev(target: &Target) -> Harness {
    start(target, dev_mode).await
}

pub fn token(instance_id: &str) -> &'static str {
    TERMINALS
        .iter()
        .find(|(id, _)| *id == instance_id)
        .map(|(_, t)| *t)
        .unwrap_or("no-such-token")
}

impl Harness {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// `partition`'s entry in `/readyz` (its status and reason).
    pub async fn readiness(&self, partition: Partition) -> serde_json::Value {
        let (_, ready) = status_and_json(self.get("/readyz").await).await;
        ready["partitions"][partition.name()].clone()
    }

    /// A direct connection to a partition's engine (embedded or real), to check what was stored.
    pub async fn engine(&self, partition: Partition) -> tradestate_backend::Connection {
        connect_backend(&self.backend_url(partition)).await
    }

    /// The URL of `partition`'s backend (an embedded engine's port, with its password).
    pub fn backend_url(&self, partition: Partition) -> String {
        match &self.target {
            Target::Embedded => {
                let port = self
                    .service
                    .engine(partition)
                    .expect("embedded engine")
                    .port();
                let url = format!("redis://127.0.0.1:{port}");
                match &self.service.engine_password {
                    Some(password) => tradestate_backend::with_password(&url, password),
                    None => url,
                }
            }
            Target::Redis(urls) => urls[partition.index()].clone(),
        }
    }

    /// A request to `path` with `token` as bearer (none if `None`) and `instance` as the
    /// `x-tradestate-instance` header (none if `None`).
    pub fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        instance: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let mut request = self.http.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(instance) = instance {
            request = request.header("x-tradestate-instance", instance);
        }
        request
    }

    /// POSTs `body` to `path` as terminal `instance_id` with its token.
    pub async fn post_as(
        &self,
        instance_id: &str,
        path: &str,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        let id = Some(instance_id);
        sent(
            self.request(reqwest::Method::POST, path, Some(token(instance_id)), id)
                .body(body),
        )
        .await
    }

    /// PUTs `body` to `path` with terminal `instance_id`'s token (and no instance header).
    pub async fn put_as(
        &self,
        instance_id: &str,
        path: &str,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        sent(
            self.request(reqwest::Method::PUT, path, Some(token(instance_id)), None)
                .body(body),
        )
        .await
    }

    /// GETs `path` with the operator token.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        sent(self.request(reqwest::Method::GET, path, Some(OPERATOR_TOKEN), None)).await
    }

    /// The Prometheus text of `/metrics`.
    pub async fn metrics(&self) -> String {
        self.get("/metrics")
            .await
            .text()
            .await
            .expect("metrics text")
    }

    /// Takes `partition`'s embedded engine out of the service and shuts it down (the gateway
    /// keeps its URL); returns the port it listened on, for `restart_engine`.
    pub async fn stop_engine(&mut self, partition: Partition) -> u16 {
        let engines = &mut self.service.engines;
        let index = engines
            .iter()
            .position(|(p, _)| *p == partition)
            .unwrap_or_else(|| panic!("embedded {} engine", partition.name()));
        let (_, engine) = engines.remove(index);
        let port = engine.port();
        shutdown_engine(engine).await;
        port
    }

    pub async fn stop(self) {
        self.service.stop().await;
    }
}

/// A new embedded engine named `name` on `port`, where `Harness::stop_engine` stopped one,
/// with the service's engine password as the gateway expects.
pub fn restart_engine(h: &Harness, name: &str, port: u16) -> tradestate_engine::EngineHandle {
    let mut config = tradestate_engine::Config::default();
    config.set("bind", "127.0.0.1", false).unwrap();
    config.set("port", &port.to_string(), false).unwrap();
    if let Some(password) = &h.service.engine_password {
        config.set("requirepass", password, false).unwrap();
    }
    tradestate_engine::start(name, config).expect("engine restarts on its port")
}

/// Shuts an embedded engine down off the async runtime.
pub async fn shutdown_engine(engine: tradestate_engine::EngineHandle) {
    tokio::task::spawn_blocking(move || engine.shutdown())
        .await
        .expect("engine shut down");
}

/// A heartbeat batch body for `instance_id` with sequence number `seq`.
pub fn heartbeat(instance_id: &str, seq: u64) -> String {
    serde_json::json!({
        "instance_id": instance_id,
        "updates": [instance_state(seq)]
    })
    .to_string()
}

pub fn instance_state(seq: u64) -> serde_json::Value {
    serde_json::json!({
        "kind": "instance", "seq": seq, "time_msc": 1_763_000_000_000i64 + seq as i64,
        "login": 5001234, "server": "Broker-Demo", "currency": "USD", "leverage": 100,
        "balance": 10000.0, "credit": 0.0, "equity": 10012.5, "profit": 12.5,
        "margin": 100.0, "margin_free": 9912.5, "margin_level": 10012.5,
        "connected": true, "trade_allowed": true, "ping_us": 3500, "build": 4755,
        "positions": 1, "orders": 0
    })
}

pub fn trade(seq: u64, ticket: &str, closed: bool) -> serde_json::Value {
    let mut trade = serde_json::json!({
        "kind": "trade", "seq": seq, "ticket": ticket, "time_msc": 1_763_000_000_000i64,
        "time_update_msc": 1_763_000_000_000i64 + seq as i64, "symbol": "EURUSD", "type": "buy",
        "volume": 0.1, "price_open": 1.1, "price_current": 1.1005, "sl": 1.09, "tp": 1.12,
        "profit": 5.0, "swap": 0.0, "commission": -0.7, "magic": 42,
        "state": if closed { "closed" } else { "open" }
    });
    if closed {
        trade["time_close_msc"] = serde_json::json!(1_763_000_000_000i64 + seq as i64);
        trade["price_close"] = serde_json::json!(1.1005);
    }
    trade
}

pub fn signal(seq: u64, signal_id: &str) -> serde_json::Value {
    serde_json::json!({
        "kind": "signal", "seq": seq, "signal_id": signal_id, "time_msc": 1_763_000_000_000i64 + seq as i64,
        "strategy": "trend-1", "symbol": "EURUSD", "action": "buy", "volume": 0.1
    })
}

pub fn batch(instance_id: &str, updates: Vec<serde_json::Value>) -> String {
    serde_json::json!({"instance_id": instance_id, "updates": updates}).to_string()
}

// ---- Helpers for the HTTP, fixture and outage suites. ----

/// Lets every engine of `config` run `DEBUG SLEEP` from loopback clients, which the suites use
/// to stall a partition on purpose. Real redis-servers need `--enable-debug-command local` at
/// start (`.ci/run` passes it); it cannot be changed at runtime.
pub fn allow_debug_command(config: &mut Config) {
    for name in ["ris", "rts", "rtss"] {
        if let Some(partition) = config.partitions.get_mut(name) {
            partition
                .engine
                .insert("enable-debug-command".into(), "local".into());
        }
    }
}

/// Blocks `partition`'s engine for `secs` seconds with `DEBUG SLEEP` on a connection of its own.
/// Returns once the command is sent (it replies when the sleep ends).
pub async fn stall_engine(
    h: &Harness,
    partition: Partition,
    secs: f64,
) -> tokio::task::JoinHandle<()> {
    let mut conn = h.engine(partition).await;
    let task = tokio::spawn(async move {
        let reply: redis::RedisResult<()> = redis::cmd("DEBUG")
            .arg("SLEEP")
            .arg(secs)
            .query_async(&mut conn)
            .await;
        if let Err(e) = reply {
            panic!(
                "DEBUG SLEEP failed (real redis-server needs --enable-debug-command local): {e}"
            );
        }
    });
    // Give the command time to reach the engine before the caller sends traffic.
    tokio::time::sleep(Duration::from_millis(150)).await;
    task
}

/// A request with full control over the credentials: `token` as bearer (none if `None`) and
/// `instance` as the `x-tradestate-instance` header (none if `None`).
pub async fn send(
    h: &Harness,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    instance: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    sent(h.request(method, path, token, instance).body(body)).await
}

async fn sent(request: reqwest::RequestBuilder) -> reqwest::Response {
    request.send().await.expect("request sent")
}

/// The status and JSON body of a response (`Value::Null` when the body is not JSON).
pub async fn status_and_json(response: reqwest::Response) -> (u16, serde_json::Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}

/// The body of a single-object route: the update without its batch `kind` tag.
pub fn single_body(mut update: serde_json::Value) -> String {
    if let Some(object) = update.as_object_mut() {
        object.remove("kind");
    }
    update.to_string()
}

/// `HGETALL key` as a map.
pub async fn hash(
    conn: &mut impl redis::aio::ConnectionLike,
    key: &str,
) -> std::collections::HashMap<String, String> {
    redis::cmd("HGETALL")
        .arg(key)
        .query_async(conn)
        .await
        .expect("HGETALL")
}

/// Checks every `(field, value)` the bridge encodes is what the engine holds.
pub fn assert_fields(
    what: &str,
    expected: Vec<(&'static str, String)>,
    stored: &std::collections::HashMap<String, String>,
) {
    for (field, value) in expected {
        assert_eq!(
            stored.get(field),
            Some(&value),
            "{what}: field {field} stored as {:?}, the bridge encodes {value:?}",
            stored.get(field)
        );
    }
}

/// POSTs `body` to `/v1/ingest` as `instance_id` and checks it is answered 200 with `statuses`
/// (one per update); `what` names the run in the message. Returns the reply.
pub async fn ingest_expecting(
    h: &Harness,
    instance_id: &str,
    body: String,
    expected: &[&str],
    what: &str,
) -> serde_json::Value {
    let (status, reply) = status_and_json(h.post_as(instance_id, "/v1/ingest", body).await).await;
    assert_eq!(
        (status, statuses(&reply)),
        (200, expected.iter().map(|s| s.to_string()).collect()),
        "{what}: {reply}"
    );
    reply
}

/// The `seq` field of the hash at `key`, read on a direct connection.
pub async fn stored_seq(conn: &mut impl redis::aio::ConnectionLike, key: &str) -> String {
    query(conn, &["HGET", key, "seq"]).await
}

/// Runs one command on a direct engine connection and decodes its reply.
pub async fn query<T: redis::FromRedisValue>(
    conn: &mut impl redis::aio::ConnectionLike,
    args: &[&str],
) -> T {
    let mut cmd = redis::cmd(args[0]);
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    cmd.query_async(conn)
        .await
        .unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

/// A TCP port nobody listens on right now (bound once by the OS, then released). Re-exported
/// for the suites' `use common::*`; not every suite uses it.
#[allow(unused_imports)]
pub use tradestate_test_support::free_port;

/// Whether the Prometheus text `metrics` has a sample line starting with `prefix` (a family
/// name, or a name and `{`) that contains `label` (`""` for any).
pub fn has_sample(metrics: &str, prefix: &str, label: &str) -> bool {
    metrics
        .lines()
        .any(|l| l.starts_with(prefix) && l.contains(label))
}

/// Checks the Prometheus text `metrics` has a sample of every family in `families` carrying
/// `label` (`""` for any); `what` names the run in the message.
pub fn assert_samples(metrics: &str, families: &[&str], label: &str, what: &str) {
    for family in families {
        assert!(
            has_sample(metrics, family, label),
            "{what}: {family} missing from /metrics:\n{metrics}"
        );
    }
}

/// The `results[i].status` strings of a batch reply.
pub fn statuses(reply: &serde_json::Value) -> Vec<String> {
    reply["results"]
        .as_array()
        .map(|results| {
            results
                .iter()
                .map(|r| r["status"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

// ---- RESP clients. ----

/// The RESP listener's address (the test config always opens one).
pub fn resp_addr(h: &Harness) -> std::net::SocketAddr {
    h.service
        .resp_addr
        .expect("the harness config listens on resp")
}

/// A connection to the backend `url` names (through Sentinel for a `redis+sentinel://` URL).
pub async fn connect_backend(url: &str) -> tradestate_backend::Connection {
    tradestate_backend::connect(url, Duration::from_secs(5))
        .await
        .unwrap_or_else(|e| panic!("test backend: {e}"))
}

/// A RESP connection authenticated as `instance_id` (the crate sends `AUTH <id> <token>`).
pub async fn connect_as(h: &Harness, instance_id: &str) -> redis::aio::MultiplexedConnection {
    let url = format!(
        "redis://{instance_id}:{}@{}/",
        token(instance_id),
        resp_addr(h)
    );
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .expect("resp connection")
}

/// A fixture object of the harness as RESP field/value pairs (the mt5-bridge encoding).
pub fn fields(update: &serde_json::Value) -> Vec<(String, String)> {
    update
        .as_object()
        .expect("fixture is an object")
        .iter()
        .filter(|(name, _)| *name != "kind")
        .map(|(name, value)| {
            let text = match value {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Bool(b) => if *b { "1" } else { "0" }.to_string(),
                other => other.to_string(),
            };
            (name.clone(), text)
        })
        .collect()
}

/// `HSET key` with `pairs`.
pub fn hset(key: &str, pairs: &[(String, String)]) -> redis::Cmd {
    hash_cmd("HSET", key, pairs)
}

/// `verb key` followed by `pairs` as field/value arguments.
pub fn hash_cmd(verb: &str, key: &str, pairs: &[(String, String)]) -> redis::Cmd {
    let mut cmd = redis::cmd(verb);
    cmd.arg(key);
    for (name, value) in pairs {
        cmd.arg(name).arg(value);
    }
    cmd
}
