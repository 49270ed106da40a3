//! Engine outages over real sockets: a killed engine connection, a stopped embedded engine and
//! (feature `redis-server-tests`) a killed and restarted redis-server process. Requests answer
//! 200 or 503 with `Retry-After` within a bound, never hang, and 200s come back by themselves
//! once the engine is back, without restarting the gateway.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;
use tradestate_gateway::ops::Partition;

/// What one request of the background traffic saw: when, and the status (`None`: no answer
/// within the bound).
type Seen = (Instant, Option<u16>, bool);

/// Sends one heartbeat + trade + signal batch per round until `stop`, each request bounded.
fn traffic(h: &Harness, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<Vec<Seen>> {
    let http = h.http.clone();
    let url = h.url("/v1/ingest");
    tokio::spawn(async move {
        let mut seen = Vec::new();
        let mut seq = 1_000u64;
        while !stop.load(Ordering::Relaxed) {
            seq += 1;
            let body = batch(
                "T1",
                vec![
                    instance_state(seq),
                    trade(seq, "555", false),
                    signal(seq, &format!("outage-{seq}")),
                ],
            );
            let request = http.post(&url).bearer_auth(token("T1")).body(body).send();
            let outcome = match tokio::time::timeout(Duration::from_secs(5), request).await {
                Ok(Ok(response)) => {
                    let has_retry_after = response.headers().contains_key("retry-after");
                    (
                        Instant::now(),
                        Some(response.status().as_u16()),
                        has_retry_after,
                    )
                }
                Ok(Err(e)) => panic!("request failed outright: {e}"),
                Err(_) => (Instant::now(), None, false),
            };
            seen.push(outcome);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        seen
    })
}

async fn readyz(h: &Harness) -> (u16, Value) {
    let response =
        tokio::time::timeout(Duration::from_secs(3), h.http.get(h.url("/readyz")).send())
            .await
            .expect("/readyz answers within 3 s")
            .expect("/readyz request");
    status_and_json(response).await
}

/// Writes position 4444 of T1 with `seq`; returns the status, whether `Retry-After` came, and
/// how long the answer took.
async fn timed_trade(h: &Harness, seq: u64) -> (u16, bool, Duration) {
    let started = Instant::now();
    let request = h
        .http
        .put(h.url("/v1/instances/T1/trades/4444"))
        .bearer_auth(token("T1"))
        .body(single_body(trade(seq, "4444", false)))
        .send();
    let response = tokio::time::timeout(Duration::from_secs(5), request)
        .await
        .expect("a trade write answers within 5 s")
        .expect("request sent");
    let retry_after = response.headers().contains_key("retry-after");
    (response.status().as_u16(), retry_after, started.elapsed())
}

/// Polls trade writes until one is stored; returns how long that took.
async fn until_stored(h: &Harness, first_seq: u64, within: Duration) -> Duration {
    let started = Instant::now();
    let mut seq = first_seq;
    loop {
        let (status, _, _) = timed_trade(h, seq).await;
        if status == 200 {
            return started.elapsed();
        }
        assert_eq!(status, 503, "only 503 while recovering");
        assert!(
            started.elapsed() < within,
            "no 200 within {within:?} after the engine came back"
        );
        seq += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_engine_connections_recover_by_themselves() {
    for target in targets() {
        let name = target.name();
        let h = start(&target, |_| {}).await;
        let warm_up = h
            .post_as(
                "T1",
                "/v1/ingest",
                batch(
                    "T1",
                    vec![instance_state(1), trade(1, "555", false), signal(1, "w")],
                ),
            )
            .await;
        assert_eq!(warm_up.status(), 200, "{name}");

        let stop = Arc::new(AtomicBool::new(false));
        let running = traffic(&h, stop.clone());
        tokio::time::sleep(Duration::from_millis(500)).await;
        let killed_at = Instant::now();
        // Partitions sharing one server (a cluster holds all three) are killed once: a second
        // round could find the gateway not yet reconnected.
        let mut killed_urls = Vec::new();
        for partition in Partition::ALL {
            if let Target::Redis(urls) = &target {
                let url = &urls[partition.index()];
                if killed_urls.contains(url) {
                    continue;
                }
                killed_urls.push(url.clone());
            }
            let mut conn = h.engine(partition).await;
            // The new form skips the calling connection (SKIPME yes is the default).
            let killed: i64 = query(&mut conn, &["CLIENT", "KILL", "TYPE", "normal"]).await;
            match target {
                // The gateway calls an embedded engine in-process: there is no connection to
                // kill, and its traffic must not notice (a stopped engine is the test below).
                Target::Embedded => assert_eq!(killed, 0, "{name}: {}", partition.name()),
                Target::Redis(_) => assert!(
                    killed >= 1,
                    "{name}: {}: the gateway's connection was not killed",
                    partition.name()
                ),
            }
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
        stop.store(true, Ordering::Relaxed);
        let seen = running.await.expect("traffic task");

        assert!(seen.len() > 20, "{name}: only {} requests", seen.len());
        for (_, status, retry_after) in &seen {
            match status {
                Some(200) => {}
                Some(503) => assert!(retry_after, "{name}: 503 without Retry-After"),
                Some(other) => panic!("{name}: unexpected status {other}"),
                None => panic!("{name}: a request did not answer within 5 s"),
            }
        }
        let recovered = seen
            .iter()
            .find(|(at, status, _)| *at > killed_at && *status == Some(200))
            .map(|(at, _, _)| *at - killed_at);
        let unavailable = seen.iter().filter(|(_, s, _)| *s == Some(503)).count();
        eprintln!("{name}: {} requests, {unavailable} answered 503, first 200 after the kill at {recovered:?}", seen.len());
        let recovered = recovered.unwrap_or_else(|| panic!("{name}: no 200 after the kill"));
        assert!(
            recovered < Duration::from_secs(3),
            "{name}: 200s came back after {recovered:?}"
        );
        assert_eq!(
            seen.last().and_then(|s| s.1),
            Some(200),
            "{name}: the last request failed"
        );
        assert_eq!(readyz(&h).await.0, 200, "{name}");
        h.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_embedded_engine_gives_503_until_it_is_back() {
    // Without a spill; with one, tests/spill.rs.
    let mut h = start(&Target::Embedded, |c| c.spill.enabled = false).await;
    assert_eq!(timed_trade(&h, 1).await.0, 200);
    assert_eq!(readyz(&h).await.0, 200);

    // Take the rts engine out of the service and stop it; the gateway keeps its URL.
    let port = h.stop_engine(Partition::Rts).await;

    let ready = assert_rts_down(&h, 2..7, "a write to a stopped engine").await;
    assert_eq!(ready["partitions"]["ris"]["status"], "up", "{ready}");

    // A new engine on the same port: the gateway finds it without a restart.
    let restarted = restart_engine(&h, "rts-restarted", port);
    let took = until_stored(&h, 10, Duration::from_secs(5)).await;
    eprintln!("embedded: first 200 {took:?} after the engine came back");
    assert_eq!(readyz(&h).await.0, 200);
    h.stop().await;
    shutdown_engine(restarted).await;
}

/// With the rts partition down: trades `seqs` each get a prompt 503 with Retry-After (`what`
/// names the failure), readiness says rts is not up, and the other partitions keep working.
/// Returns the readiness body.
async fn assert_rts_down(h: &Harness, seqs: std::ops::Range<u64>, what: &str) -> Value {
    for seq in seqs {
        let (status, retry_after, took) = timed_trade(h, seq).await;
        assert_eq!(status, 503, "{what}");
        assert!(retry_after, "503 without Retry-After");
        assert!(took < Duration::from_secs(2), "503 took {took:?}");
    }
    let (status, ready) = readyz(h).await;
    assert_eq!(status, 503, "{ready}");
    assert_ne!(ready["partitions"]["rts"]["status"], "up", "{ready}");
    assert_eq!(
        h.post_as("T1", "/v1/ingest", heartbeat("T1", 1))
            .await
            .status(),
        200
    );
    ready
}

/// A redis-server process of this test's own, killed on drop.
#[cfg(feature = "redis-server-tests")]
struct RedisProcess {
    child: std::process::Child,
}

#[cfg(feature = "redis-server-tests")]
impl RedisProcess {
    async fn start(port: u16) -> RedisProcess {
        let process = RedisProcess {
            child: tradestate_test_support::redis_server_command("redis-server", port)
                .spawn()
                .expect("redis-server runs (installed by .ci/run)"),
        };
        let started = Instant::now();
        loop {
            if let Ok(client) = redis::Client::open(redis_url(port)) {
                if let Ok(mut conn) = client.get_multiplexed_async_connection().await {
                    if redis::cmd("PING")
                        .query_async::<String>(&mut conn)
                        .await
                        .is_ok()
                    {
                        return process;
                    }
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "redis-server on {port} did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A connection to the server on `port`.
    async fn connect(port: u16) -> redis::aio::MultiplexedConnection {
        redis::Client::open(redis_url(port))
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(feature = "redis-server-tests")]
fn redis_url(port: u16) -> String {
    format!("redis://127.0.0.1:{port}")
}

/// A config tweak: the rts partition on the redis-server at `port`, the others embedded.
#[cfg(feature = "redis-server-tests")]
fn rts_on(port: u16) -> impl Fn(&mut tradestate_config::Config) {
    move |config| {
        config.partitions.get_mut("rts").unwrap().backend =
            tradestate_config::Backend::Url(redis_url(port));
    }
}

#[cfg(feature = "redis-server-tests")]
impl Drop for RedisProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(feature = "redis-server-tests")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_redis_server_gives_503_until_it_is_restarted() {
    let port = free_port();
    let mut server = RedisProcess::start(port).await;
    let h = start(&Target::Embedded, |config| {
        config.spill.enabled = false;
        rts_on(port)(config);
    })
    .await;
    for seq in 1..5 {
        assert_eq!(timed_trade(&h, seq).await.0, 200);
    }
    assert_eq!(readyz(&h).await.0, 200);

    server.kill();
    assert_rts_down(&h, 5..10, "a write to a dead redis-server").await;

    let _server = RedisProcess::start(port).await;
    let took = until_stored(&h, 20, Duration::from_secs(5)).await;
    eprintln!("redis-server: first 200 {took:?} after the restart");
    assert_eq!(readyz(&h).await.0, 200);
    let mut rts = RedisProcess::connect(port).await;
    let open: bool = query(&mut rts, &["SISMEMBER", "rts:{T1}:open", "4444"]).await;
    assert!(open, "the write after the restart is in the new server");
    h.stop().await;
}

#[cfg(feature = "redis-server-tests")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_redis_server_is_covered_by_the_spill() {
    let port = free_port();
    let mut server = RedisProcess::start(port).await;
    let h = start(&Target::Embedded, rts_on(port)).await;
    assert_eq!(timed_trade(&h, 1).await.0, 200);
    server.kill();
    for seq in 2..12 {
        let (status, retry_after, took) = timed_trade(&h, seq).await;
        assert_eq!((status, retry_after), (200, false), "seq {seq}: spooled");
        assert!(took < Duration::from_secs(1), "spooling took {took:?}");
    }
    let (status, ready) = readyz(&h).await;
    assert_eq!(status, 200, "the spill covers the partition: {ready}");
    assert_eq!(
        ready["partitions"]["rts"]["spill"]["records"], 1,
        "coalesced per key: {ready}"
    );

    let _server = RedisProcess::start(port).await;
    let started = Instant::now();
    let mut rts = RedisProcess::connect(port).await;
    loop {
        let seq: Option<String> = query(&mut rts, &["HGET", "rts:{T1}:4444", "seq"]).await;
        if seq.as_deref() == Some("11") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "not replayed: {seq:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "redis-server: spooled trade written {:?} after the restart",
        started.elapsed()
    );
    h.stop().await;
}
