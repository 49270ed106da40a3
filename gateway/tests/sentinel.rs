//! Partitions on Redis Sentinel: a bad seed list or master name is a partition reported down
//! with the reason (never a hang, never an acknowledgement without the write), and a failover
//! of a real Sentinel deployment loses no acknowledged update. The deployment is started by
//! `.ci/run` with `ops/deploy/sentinel.sh` (the failover master under the name `failover`).

mod common;

use std::time::{Duration, Instant};

use common::*;
use tradestate_config::Backend;
use tradestate_gateway::ops::Partition;

#[tokio::test]
async fn an_unreachable_seed_list_is_a_partition_down_with_the_reason() {
    let sentinels = format!(
        "redis+sentinel://127.0.0.1:{},127.0.0.1:{}/ris",
        tradestate_test_support::free_port(),
        tradestate_test_support::free_port()
    );
    let h = start(&Target::Embedded, |c| {
        c.partitions.ris.backend = Backend::Url(sentinels.clone());
    })
    .await;
    let started = Instant::now();
    let ris = h.readiness(Partition::Ris).await;
    assert!(started.elapsed() < Duration::from_secs(5), "{ris}");
    let status = ris["status"].as_str().unwrap_or_default();
    assert!(
        status.contains("no sentinel gave a master named \"ris\""),
        "{ris}"
    );
    assert!(status.contains("refused"), "{ris}");
    // Covered by the spill: the update is acknowledged as spooled (on disk), not as stored.
    ingest_expecting(&h, "T1", heartbeat("T1", 1), &["spooled"], "sentinels down").await;
    h.stop().await;
}

#[cfg(feature = "redis-server-tests")]
mod real_sentinel {
    use super::*;

    /// The failover deployment's URL (`.ci/run` exports it).
    fn failover_url() -> String {
        std::env::var("TRADESTATE_TEST_SENTINEL_FAILOVER_URL").unwrap_or_else(|_| {
            panic!("feature redis-server-tests needs TRADESTATE_TEST_SENTINEL_FAILOVER_URL (run .ci/run, which starts ops/deploy/sentinel.sh)")
        })
    }

    /// The sentinels of `url` as `host:port`.
    fn sentinels(url: &str) -> Vec<String> {
        match tradestate_backend::parse(url) {
            Ok(tradestate_backend::Address::Sentinel(a)) => a
                .sentinels
                .iter()
                .map(|(h, p)| format!("{h}:{p}"))
                .collect(),
            other => panic!("not a sentinel URL: {other:?}"),
        }
    }

    /// Waits (at most 30 s) until the master `url` names has a replica in sync, as after a
    /// failover the old master first resynchronizes; returns that replica's port.
    async fn wait_for_replica(url: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let mut master = connect_backend(url).await;
            let info: String = query(&mut master, &["INFO", "replication"]).await;
            let online = info
                .lines()
                .find_map(|l| l.strip_prefix("slave0:"))
                .filter(|l| l.contains("state=online"))
                .and_then(|l| l.split(',').find_map(|kv| kv.strip_prefix("port=")));
            if let Some(port) = online {
                return port.to_string();
            }
            assert!(Instant::now() < deadline, "no replica in sync: {info}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// What the sentinel at `addr` says the master of `name` is, as `ip:port`.
    async fn master_of(addr: &str, name: &str) -> String {
        let mut conn = connect_backend(&format!("redis://{addr}")).await;
        let reply: Vec<String> = redis::cmd("SENTINEL")
            .arg("GET-MASTER-ADDR-BY-NAME")
            .arg(name)
            .query_async(&mut conn)
            .await
            .expect("sentinel answers");
        reply.join(":")
    }

    #[tokio::test]
    async fn a_wrong_master_name_is_a_partition_down_with_the_reason() {
        let url = failover_url().replace("/failover", "/no-such-master");
        let h = start(&Target::Embedded, |c| {
            c.partitions.ris.backend = Backend::Url(url.clone());
        })
        .await;
        let ris = h.readiness(Partition::Ris).await;
        let status = ris["status"].as_str().unwrap_or_default();
        assert!(
            status.contains("monitors no master named \"no-such-master\""),
            "{ris}"
        );
        h.stop().await;
    }

    /// `ack = "replicated"`: `stored` once the replica has the write; asking for more replicas
    /// than there are is never answered `stored` (the update is spooled instead).
    #[tokio::test]
    async fn replicated_acks_wait_for_the_replica() {
        let url = failover_url();
        let replica_port = wait_for_replica(&url).await;
        let _: () = redis::cmd("FLUSHALL")
            .query_async(&mut connect_backend(&url).await)
            .await
            .expect("FLUSHALL");
        let replicated = |replicas: u32| {
            let url = url.clone();
            move |c: &mut tradestate_config::Config| {
                c.partitions.ris.backend = Backend::Url(url.clone());
                c.partitions.ris.ack = tradestate_config::Ack::Replicated;
                c.partitions.ris.ack_replicas = replicas;
                c.partitions.ris.ack_timeout_ms = 300;
                c.spill.after_ms = 200;
            }
        };

        let h = start(&Target::Embedded, replicated(1)).await;
        ingest_expecting(&h, "T1", heartbeat("T1", 1), &["stored"], "1 replica").await;
        // The replica answers reads: it has the heartbeat already.
        let mut replica = connect_backend(&format!("redis://127.0.0.1:{replica_port}")).await;
        assert_eq!(stored_seq(&mut replica, "ris:{T1}").await, "1");
        h.stop().await;

        let h = start(&Target::Embedded, replicated(2)).await;
        ingest_expecting(
            &h,
            "T1",
            heartbeat("T1", 2),
            &["spooled"],
            "2 replicas asked",
        )
        .await;
        // The answer (spooled after 200 ms) can come before the WAIT (300 ms) has timed out.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let metrics = h.metrics().await;
            let timeouts = "tradestate_replication_timeouts_total";
            if has_sample(&metrics, timeouts, "partition=\"ris\"") {
                break;
            }
            assert!(Instant::now() < deadline, "no {timeouts}: {metrics}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        h.stop().await;
    }

    /// A planned `SENTINEL FAILOVER` while a terminal keeps sending: every acknowledged
    /// heartbeat is in the new master, the last one stored last, and writes resume there.
    #[tokio::test]
    async fn a_failover_loses_no_acknowledged_update() {
        let url = failover_url();
        let sentinel = sentinels(&url)[0].clone();
        wait_for_replica(&url).await;
        let _: () = redis::cmd("FLUSHALL")
            .query_async(&mut connect_backend(&url).await)
            .await
            .expect("FLUSHALL");
        let h = start(&Target::Embedded, |c| {
            c.partitions.ris.backend = Backend::Url(url.clone());
            // Short enough that a failover longer than it shows up as spooled answers.
            c.spill.after_ms = 200;
        })
        .await;
        let before = master_of(&sentinel, "failover").await;
        let mut seq = 0;
        let mut last_acked = 0;
        let mut acked_after_switch = 0;
        let mut switched_at = None;
        let deadline = Instant::now() + Duration::from_secs(60);
        while acked_after_switch < 20 {
            assert!(
                Instant::now() < deadline,
                "no 20 acknowledgements after the failover within 60 s (master before {before}, switched: {switched_at:?})"
            );
            seq += 1;
            let (code, reply) =
                status_and_json(h.post_as("T1", "/v1/ingest", heartbeat("T1", seq)).await).await;
            let acked = code == 200
                && matches!(statuses(&reply)[..], [ref s] if s == "stored" || s == "spooled");
            if acked {
                last_acked = seq;
                if switched_at.is_some() {
                    acked_after_switch += 1;
                }
            }
            if seq == 20 {
                let mut conn = connect_backend(&format!("redis://{sentinel}")).await;
                let _: String = redis::cmd("SENTINEL")
                    .arg("FAILOVER")
                    .arg("failover")
                    .query_async(&mut conn)
                    .await
                    .expect("SENTINEL FAILOVER accepted");
            }
            if seq > 20 && switched_at.is_none() && master_of(&sentinel, "failover").await != before
            {
                switched_at = Some(seq);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Everything spooled during the switch is written before the check reads.
        let drained_by = Instant::now() + Duration::from_secs(30);
        loop {
            let (_, ready) = status_and_json(h.get("/readyz").await).await;
            if ready["spilling"] == false {
                break;
            }
            assert!(
                Instant::now() < drained_by,
                "the spill did not drain: {ready}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let after = master_of(&sentinel, "failover").await;
        assert_ne!(before, after, "the master did not change");
        let mut master = connect_backend(&url).await;
        let role: Vec<redis::Value> = redis::cmd("ROLE").query_async(&mut master).await.unwrap();
        assert_eq!(role[0], redis::Value::BulkString(b"master".to_vec()));
        let stored: u64 = query(&mut master, &["HGET", "ris:{T1}", "seq"]).await;
        // Below the last acknowledged seq is a loss; above it, a write whose answer was lost.
        assert!(
            (last_acked..=seq).contains(&stored),
            "stored seq {stored}, last acknowledged {last_acked}, last sent {seq}, switched at {switched_at:?}"
        );
        assert!(h.service.gateway.backend(Partition::Ris).is_up());
        h.stop().await;
    }
}
