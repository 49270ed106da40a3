//! Partitions on a Redis Cluster: a bad seed list or a cluster with unserved slots is a
//! partition reported down with the reason (never a hang, never an acknowledgement without the
//! write); a slot moved while a terminal writes (MOVED, ASK, TRYAGAIN mid-pipeline) loses
//! nothing acknowledged; `ack = "replicated"` waits on every master a batch wrote to. The
//! cluster (three masters, three replicas) is started by `.ci/run` with `ops/deploy/cluster.sh`.

mod common;

use std::time::{Duration, Instant};

use common::*;
use tradestate_config::Backend;
use tradestate_gateway::ops::Partition;

#[tokio::test]
async fn an_unreachable_seed_list_is_a_partition_down_with_the_reason() {
    let seeds = format!(
        "redis+cluster://127.0.0.1:{},127.0.0.1:{}",
        tradestate_test_support::free_port(),
        tradestate_test_support::free_port()
    );
    let h = start(&Target::Embedded, |c| {
        c.partitions.ris.backend = Backend::Url(seeds.clone());
    })
    .await;
    let started = Instant::now();
    let ris = h.readiness(Partition::Ris).await;
    assert!(started.elapsed() < Duration::from_secs(5), "{ris}");
    let status = ris["status"].as_str().unwrap_or_default();
    assert!(status.contains("no seed gave the slot map"), "{ris}");
    assert!(status.contains("refused"), "{ris}");
    // Covered by the spill: acknowledged as spooled (on disk), not as stored.
    ingest_expecting(&h, "T1", heartbeat("T1", 1), &["spooled"], "seeds down").await;
    h.stop().await;
}

#[cfg(feature = "redis-server-tests")]
mod real_cluster {
    use super::*;
    use redis::aio::MultiplexedConnection;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    /// The cluster's URL (`.ci/run` exports it).
    fn cluster_url() -> String {
        std::env::var("TRADESTATE_TEST_CLUSTER_URL").unwrap_or_else(|_| {
            panic!("feature redis-server-tests needs TRADESTATE_TEST_CLUSTER_URL (run .ci/run, which starts ops/deploy/cluster.sh)")
        })
    }

    async fn node(addr: &str) -> MultiplexedConnection {
        redis::Client::open(format!("redis://{addr}"))
            .expect("node url")
            .get_multiplexed_async_connection()
            .await
            .expect("node connection")
    }

    /// The masters as `(address, node id)`, and which of them serves `slot`.
    async fn masters(url: &str, slot: u16) -> (Vec<(String, String)>, usize) {
        let tradestate_backend::Connection::Cluster(cluster) = connect_backend(url).await else {
            panic!("not a cluster URL: {url}");
        };
        let mut found = Vec::new();
        let mut owner = None;
        for addr in cluster.masters() {
            let mut conn = node(&addr).await;
            let id: String = query(&mut conn, &["CLUSTER", "MYID"]).await;
            let slots: redis::Value = query(&mut conn, &["CLUSTER", "SLOTS"]).await;
            let serves = format!("{slots:?}");
            let mine = match slots {
                redis::Value::Array(ranges) => ranges.iter().any(|r| match r {
                    redis::Value::Array(parts) => matches!(
                        (parts.first(), parts.get(1), parts.get(2)),
                        (Some(redis::Value::Int(a)), Some(redis::Value::Int(b)), Some(redis::Value::Array(m)))
                            if (*a..=*b).contains(&i64::from(slot))
                                && m.get(2) == Some(&redis::Value::BulkString(id.clone().into_bytes()))
                    ),
                    _ => false,
                }),
                _ => panic!("CLUSTER SLOTS: {serves}"),
            };
            if mine {
                owner = Some(found.len());
            }
            found.push((addr, id));
        }
        (found, owner.expect("a master serves the slot"))
    }

    /// Moves `slot` from master `from` to master `to` the way `redis-cli --cluster reshard`
    /// does (IMPORTING/MIGRATING, MIGRATE key by key, SETSLOT NODE everywhere), slowly, so
    /// writes meanwhile meet ASK and TRYAGAIN before the MOVED at the end.
    async fn move_slot(all: &[(String, String)], slot: u16, from: usize, to: usize) {
        let (from_addr, from_id) = &all[from];
        let (to_addr, to_id) = &all[to];
        let slot = slot.to_string();
        let mut source = node(from_addr).await;
        let mut target = node(to_addr).await;
        let _: () = query(
            &mut target,
            &["CLUSTER", "SETSLOT", &slot, "IMPORTING", from_id],
        )
        .await;
        let _: () = query(
            &mut source,
            &["CLUSTER", "SETSLOT", &slot, "MIGRATING", to_id],
        )
        .await;
        let (host, port) = to_addr.rsplit_once(':').expect("host:port");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let keys: Vec<String> =
                query(&mut source, &["CLUSTER", "GETKEYSINSLOT", &slot, "1"]).await;
            let Some(key) = keys.first() else { break };
            let _: redis::Value = query(
                &mut source,
                &["MIGRATE", host, port, "", "0", "5000", "KEYS", key],
            )
            .await;
            assert!(Instant::now() < deadline, "slot {slot} not drained in 30 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        for (addr, _) in all {
            let mut conn = node(addr).await;
            let _: () = query(&mut conn, &["CLUSTER", "SETSLOT", &slot, "NODE", to_id]).await;
        }
    }

    /// A terminal writes heartbeats, trades and signals while its slot moves to another master
    /// and back: every acknowledged update is in the cluster afterwards, and the gateway met
    /// the redirects on the way.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_slot_moved_under_load_loses_nothing_acknowledged() {
        let url = cluster_url();
        let h = start(
            &Target::Redis([url.clone(), url.clone(), url.clone()]),
            |_| {},
        )
        .await;
        let slot = tradestate_backend::cluster::key_slot(b"ris:{T1}");
        let (all, owner) = masters(&url, slot).await;
        let other = (owner + 1) % all.len();

        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let (http, url_of, stop) = (h.http.clone(), h.url("/v1/ingest"), stop.clone());
            tokio::spawn(async move {
                // (seq, ticket) of every acknowledged update.
                let mut acked: Vec<(u64, Option<String>, Option<String>)> = Vec::new();
                let mut seq = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    seq += 1;
                    let ticket = format!("{}", 1000 + seq % 7);
                    let signal_id = format!("s-{seq}");
                    let body = batch(
                        "T1",
                        vec![
                            instance_state(seq),
                            trade(seq, &ticket, seq.is_multiple_of(3)),
                            signal(seq, &signal_id),
                        ],
                    );
                    let response = http
                        .post(&url_of)
                        .bearer_auth(token("T1"))
                        .body(body)
                        .send()
                        .await
                        .expect("request sent");
                    let (status, reply) = status_and_json(response).await;
                    if status == 200 {
                        let s = statuses(&reply);
                        assert!(
                            s.iter().all(|s| s == "stored" || s == "duplicate"),
                            "{reply}"
                        );
                        acked.push((seq, Some(ticket), Some(signal_id)));
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                acked
            })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        move_slot(&all, slot, owner, other).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        move_slot(&all, slot, other, owner).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        stop.store(true, Ordering::Relaxed);
        let acked = writer.await.expect("writer task");
        assert!(
            acked.len() > 20,
            "only {} batches acknowledged",
            acked.len()
        );

        let mut conn = connect_backend(&url).await;
        let last = acked.last().expect("an acknowledged batch").0;
        assert_eq!(
            stored_seq(&mut conn, "ris:{T1}").await,
            last.to_string(),
            "the instance holds the last acknowledged heartbeat"
        );
        for (seq, ticket, _) in acked.iter().rev().take(7) {
            let ticket = ticket.as_deref().unwrap_or_default();
            let stored: String = stored_seq(&mut conn, &format!("rts:{{T1}}:{ticket}")).await;
            assert!(
                stored.parse::<u64>().unwrap_or(0) >= *seq,
                "trade {ticket}: stored seq {stored} below acknowledged {seq}"
            );
        }
        let entries: Vec<redis::Value> =
            query(&mut conn, &["XRANGE", "rtss:signals", "-", "+"]).await;
        let stored_signals = format!("{entries:?}");
        for (_, _, signal_id) in &acked {
            let id = signal_id.as_deref().unwrap_or_default();
            let quoted = format!("\"{id}\"");
            assert!(
                stored_signals.contains(&quoted) || stored_signals.contains(id),
                "signal {id} acknowledged but not in the stream"
            );
        }
        let metrics = h.metrics().await;
        for line in metrics.lines() {
            if line.starts_with("tradestate_cluster_redirects_total") {
                println!("{line}");
            }
        }
        for kind in ["moved", "ask"] {
            let label = format!("kind=\"{kind}\"");
            assert!(
                has_sample(&metrics, "tradestate_cluster_redirects_total", &label),
                "no {kind} redirect met while the slot moved:\n{metrics}"
            );
        }
        h.stop().await;
    }

    /// `ack = "replicated"`: `stored` once every master written to has its replica's copy;
    /// more replicas than there are is never answered `stored`.
    #[tokio::test]
    async fn replicated_acks_wait_on_every_master_written() {
        let url = cluster_url();
        let replicated = |replicas: u32| {
            let url = url.clone();
            move |c: &mut tradestate_config::Config| {
                for partition in [&mut c.partitions.ris, &mut c.partitions.rts] {
                    partition.backend = Backend::Url(url.clone());
                    partition.ack = tradestate_config::Ack::Replicated;
                    partition.ack_replicas = replicas;
                    partition.ack_timeout_ms = 300;
                }
                c.spill.after_ms = 200;
            }
        };
        let mut cluster = connect_backend(&url).await;
        let _: () = redis::cmd("FLUSHALL")
            .query_async(&mut cluster)
            .await
            .expect("FLUSHALL");
        // A WAIT after no write (the spill's probe) asks every master: each has its replica.
        let replicas: i64 = query(&mut cluster, &["WAIT", "1", "1000"]).await;
        assert_eq!(replicas, 1, "WAIT 1 on the whole cluster");
        let h = start(&Target::Embedded, replicated(1)).await;
        // Three terminals: three slots, spread over the masters.
        for id in ["T1", "T2", "T3"] {
            let body = batch(id, vec![instance_state(1), trade(1, "9", false)]);
            ingest_expecting(&h, id, body, &["stored", "stored"], "1 replica").await;
        }
        h.stop().await;

        let h = start(&Target::Embedded, replicated(2)).await;
        ingest_expecting(&h, "T1", heartbeat("T1", 2), &["spooled"], "2 replicas").await;
        h.stop().await;
    }

    /// A cluster node that serves only some slots (or none) is refused with the slots named.
    #[tokio::test]
    async fn unserved_slots_are_a_partition_down_with_the_reason() {
        let port = tradestate_test_support::free_port();
        let dir = tradestate_test_support::fresh_dir("tradestate-cluster-test");
        let mut server = tradestate_test_support::redis_server_command("redis-server", port)
            .args(["--cluster-enabled", "yes", "--dir"])
            .arg(&dir)
            .spawn()
            .expect("redis-server starts");
        let lone = format!("redis+cluster://127.0.0.1:{port}");
        tradestate_test_support::wait_until("the cluster-enabled redis-server", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        let mut conn = node(&format!("127.0.0.1:{port}")).await;
        let _: () = query(&mut conn, &["CLUSTER", "ADDSLOTSRANGE", "0", "99"]).await;
        let h = start(&Target::Embedded, |c| {
            c.partitions.ris.backend = Backend::Url(lone.clone());
        })
        .await;
        let ris = h.readiness(Partition::Ris).await;
        let status = ris["status"].as_str().unwrap_or_default();
        assert!(status.contains("slots 100-16383"), "{ris}");
        ingest_expecting(&h, "T1", heartbeat("T1", 1), &["spooled"], "unserved").await;
        h.stop().await;
        let _ = server.kill();
        let _ = server.wait();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
