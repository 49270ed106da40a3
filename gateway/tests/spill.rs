//! The spill log over real sockets: a stalled or unreachable partition's updates are answered
//! `spooled` at once and written when it is back; a spill left by a stopped gateway is replayed
//! before the next one reports ready; a full spill answers 503 with `Retry-After` and loses
//! nothing it took; replay never lets an older `seq` overwrite a newer one.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;
use tradestate_config::{Backend, Config};
use tradestate_gateway::convert;
use tradestate_gateway::ops::Partition;
use tradestate_mt5_bridge::keys;

async fn readyz(h: &Harness) -> (u16, Value) {
    status_and_json(h.get("/readyz").await).await
}

/// Waits (bounded) until `partition`'s spill holds nothing; returns how long it took.
async fn drained(h: &Harness, partition: Partition, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let (_, ready) = readyz(h).await;
        let spill = &ready["partitions"][partition.name()]["spill"];
        if spill["records"] == 0 && spill["spilling"] == false {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "spill of {} not drained within {within:?}: {ready}",
            partition.name()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The `signal_id` of every entry of the signal stream, in stream order.
async fn stream_signal_ids(h: &Harness) -> Vec<String> {
    let mut rtss = h.engine(Partition::Rtss).await;
    let entries: Vec<(String, Vec<(String, String)>)> =
        query(&mut rtss, &["XRANGE", "rtss:signals", "-", "+"]).await;
    entries
        .into_iter()
        .filter_map(|(_, fields)| {
            fields
                .into_iter()
                .find(|(field, _)| field == "signal_id")
                .map(|(_, value)| value)
        })
        .collect()
}

fn dead_url() -> String {
    format!("redis://127.0.0.1:{}", free_port())
}

/// A config whose `partition` points at a port nobody listens on, keeping its files in `dir`.
fn unreachable(partition: Partition, dir: &Path) -> impl FnOnce(&mut Config) {
    let dir = dir.to_path_buf();
    move |config: &mut Config| {
        config.data_dir = dir;
        let p = config.partitions.get_mut(partition.name()).unwrap();
        p.backend = Backend::Url(dead_url());
    }
}

async fn trade_status(h: &Harness, seq: u64, ticket: &str) -> (u16, String, Duration) {
    let started = Instant::now();
    let response = h
        .post_as(
            "T1",
            "/v1/ingest",
            batch("T1", vec![trade(seq, ticket, false)]),
        )
        .await;
    let (status, reply) = status_and_json(response).await;
    let took = started.elapsed();
    (status, statuses(&reply).join(","), took)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_partition_is_spooled_at_once_and_written_when_it_wakes() {
    on_each_target(|c| {
            allow_debug_command(c);
            c.spill.after_ms = 50;
        }, async |h, name| {
        assert_eq!(trade_status(h, 1, "700").await.1, "stored", "{name}");
        // Both trades and signals: signals spool in order behind each other.
        let stall = stall_engine(h, Partition::Rts, 3.0).await;
        let stall_signals = stall_engine(h, Partition::Rtss, 3.0).await;
        let mut slowest = Duration::ZERO;
        let mut spooled = 0;
        let mut spooled_signals = 0;
        for seq in 2..=30 {
            let started = Instant::now();
            let response = h
                .post_as(
                    "T1",
                    "/v1/ingest",
                    batch(
                        "T1",
                        vec![
                            trade(seq, "700", false),
                            signal(seq, &format!("stall-{seq}")),
                        ],
                    ),
                )
                .await;
            let (status, reply) = status_and_json(response).await;
            slowest = slowest.max(started.elapsed());
            assert_eq!(status, 200, "{name}: {reply}");
            let got = statuses(&reply);
            for status in &got {
                assert!(
                    ["stored", "spooled"].contains(&status.as_str()),
                    "{name}: {reply}"
                );
            }
            spooled += usize::from(got[0] == "spooled");
            spooled_signals += usize::from(got[1] == "spooled");
        }
        assert!(spooled >= 25, "{name}: only {spooled} of 29 trades spooled");
        assert!(
            spooled_signals >= 25,
            "{name}: only {spooled_signals} of 29 signals spooled"
        );
        // The first waits spill.after_ms (50 ms) for its partition; the rest go straight to disk.
        assert!(
            slowest < Duration::from_millis(900),
            "{name}: slowest reply {slowest:?}"
        );
        let (status, ready) = readyz(h).await;
        assert_eq!(
            status, 200,
            "{name}: a spilling partition keeps the gateway ready: {ready}"
        );
        assert_eq!(ready["spilling"], true, "{name}: {ready}");
        assert!(
            ready["partitions"]["rts"]["spill"]["records"].as_u64() > Some(0),
            "{name}: {ready}"
        );
        stall.await.expect("stall ends");
        stall_signals.await.expect("stall ends");
        let took = drained(h, Partition::Rts, Duration::from_secs(15)).await;
        drained(h, Partition::Rtss, Duration::from_secs(15)).await;
        eprintln!("{name}: {spooled} trades spooled, slowest reply {slowest:?}, drained {took:?} after the stall");

        let text = h.metrics().await;
        let families = [
            "tradestate_spilled_records_total",
            "tradestate_replayed_records_total",
            "tradestate_spill_records",
            "tradestate_spill_oldest_age_seconds",
        ];
        assert_samples(&text, &families, r#"partition="rts""#, name);
        assert!(
            has_sample(&text, "tradestate_ingest_total{", r#"outcome="spooled""#),
            "{name}: no spooled ingest counter"
        );
        let mut rts = h.engine(Partition::Rts).await;
        assert_eq!(hash(&mut rts, "rts:{T1}:700").await["seq"], "30", "{name}");
        let mut ids = stream_signal_ids(h).await;
        let expected: Vec<String> = (2..=30).map(|seq| format!("stall-{seq}")).collect();
        assert_eq!(ids, expected, "{name}: every signal once, in order");
        ids.dedup();
        assert_eq!(ids.len(), 29, "{name}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_never_lets_an_older_seq_overwrite_a_newer_one() {
    let h = start(&Target::Embedded, |_| {}).await;
    let id: Arc<str> = Arc::from("T1");
    let state = |seq: u64| {
        let json = single_body(instance_state(seq));
        let state = tradestate_mt5_bridge::parse_instance_state(json.as_bytes()).unwrap();
        Arc::new(convert::instance_op(&id, &state))
    };
    assert_eq!(
        statuses(
            &status_and_json(h.post_as("T1", "/v1/ingest", heartbeat("T1", 10)).await)
                .await
                .1
        ),
        vec!["stored"]
    );
    let spill = h.service.gateway.spill(Partition::Ris).expect("spill on");
    // An older update spooled after a newer one was stored live.
    spill.append(vec![state(5)]).await.unwrap();
    drained(&h, Partition::Ris, Duration::from_secs(10)).await;
    let mut ris = h.engine(Partition::Ris).await;
    assert_eq!(hash(&mut ris, "ris:{T1}").await["seq"], "10");

    // A newer one spooled, then an older one live: the live one queues behind the spooled one
    // and the newest wins.
    spill.append(vec![state(12)]).await.unwrap();
    let reply = status_and_json(h.post_as("T1", "/v1/ingest", heartbeat("T1", 11)).await).await;
    assert_eq!(reply.0, 200, "{}", reply.1);
    drained(&h, Partition::Ris, Duration::from_secs(10)).await;
    assert_eq!(hash(&mut ris, "ris:{T1}").await["seq"], "12");
    // And live updates after the drain are stored as usual.
    let reply = status_and_json(h.post_as("T1", "/v1/ingest", heartbeat("T1", 13)).await).await;
    assert_eq!(statuses(&reply.1), vec!["stored"]);
    assert_eq!(hash(&mut ris, "ris:{T1}").await["seq"], "13");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spill_left_by_a_stopped_gateway_is_replayed_before_the_next_reports_ready() {
    let dir = temp_data_dir();
    let h = start(&Target::Embedded, unreachable(Partition::Rts, &dir)).await;
    for seq in 1..=20 {
        let (status, got, took) = trade_status(&h, seq, &format!("9{seq}")).await;
        assert_eq!((status, got.as_str()), (200, "spooled"), "seq {seq}");
        assert!(took < Duration::from_secs(1), "spooling took {took:?}");
    }
    // Over RESP a spooled write is answered as a stored one.
    let mut resp = connect_as(&h, "T1").await;
    let trade = fields(&trade(21, "999", false));
    let pairs: i64 = hset(&keys::trade("T1", "999"), &trade)
        .query_async(&mut resp)
        .await
        .expect("spooled HSET");
    assert_eq!(pairs, trade.len() as i64);
    let (_, ready) = readyz(&h).await;
    assert_eq!(
        ready["partitions"]["rts"]["spill"]["records"], 21,
        "{ready}"
    );
    h.stop().await;
    assert!(dir.join("spill/rts").read_dir().unwrap().next().is_some());

    // A gateway started while the partition is still down takes over the spill, and is not
    // ready: what was acknowledged is not readable yet.
    let h = start(&Target::Embedded, unreachable(Partition::Rts, &dir)).await;
    let (status, ready) = readyz(&h).await;
    assert_eq!(status, 503, "{ready}");
    assert_eq!(
        ready["partitions"]["rts"]["spill"]["replaying_startup"], true,
        "{ready}"
    );
    assert_eq!(
        ready["partitions"]["rts"]["spill"]["records"], 21,
        "{ready}"
    );
    h.stop().await;

    // The next gateway on the same data_dir, with its partition back.
    let h = start(&Target::Embedded, |c| c.data_dir = dir.clone()).await;
    let took = drained(&h, Partition::Rts, Duration::from_secs(15)).await;
    let (status, ready) = readyz(&h).await;
    assert_eq!(status, 200, "ready once replayed ({took:?}): {ready}");
    let mut rts = h.engine(Partition::Rts).await;
    for seq in 1..=20 {
        let stored = hash(&mut rts, &format!("rts:{{T1}}:9{seq}")).await;
        assert_eq!(
            stored.get("seq").map(String::as_str),
            Some(seq.to_string().as_str())
        );
    }
    assert_eq!(hash(&mut rts, "rts:{T1}:999").await["seq"], "21");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_spill_answers_503_with_retry_after_and_loses_nothing_it_took() {
    let dir = temp_data_dir();
    let h = start(&Target::Embedded, |c| {
        unreachable(Partition::Rtss, &dir)(c);
        c.spill.max_bytes = 4096;
        c.spill.segment_bytes = 4096;
    })
    .await;
    let mut spooled = Vec::new();
    let mut refused = 0;
    for seq in 1..=60 {
        let body = batch("T1", vec![signal(seq, &format!("full-{seq}"))]);
        let response = h.post_as("T1", "/v1/ingest", body).await;
        let retry_after = response.headers().get("retry-after").is_some();
        let (status, reply) = status_and_json(response).await;
        match status {
            200 => {
                assert_eq!(statuses(&reply), vec!["spooled"], "{reply}");
                assert!(
                    refused == 0,
                    "a signal spooled after one was refused would reorder"
                );
                spooled.push(format!("full-{seq}"));
            }
            503 => {
                assert!(retry_after, "503 without Retry-After: {reply}");
                assert_eq!(statuses(&reply), vec!["spill_full"], "{reply}");
                refused += 1;
            }
            other => panic!("status {other}: {reply}"),
        }
    }
    assert!(
        !spooled.is_empty() && refused > 0,
        "spooled {} refused {refused}",
        spooled.len()
    );
    h.stop().await;

    let h = start(&Target::Embedded, |c| c.data_dir = dir.clone()).await;
    drained(&h, Partition::Rtss, Duration::from_secs(15)).await;
    let stored = stream_signal_ids(&h).await;
    assert_eq!(stored, spooled);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_without_an_append_only_file_answers_volatile() {
    let h = start(&Target::Embedded, |c| {
        let ris = c.partitions.get_mut("ris").unwrap();
        ris.engine.insert("appendonly".into(), "no".into());
    })
    .await;
    let body = batch("T1", vec![instance_state(1), trade(1, "55", false)]);
    let (status, reply) = status_and_json(h.post_as("T1", "/v1/ingest", body).await).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(statuses(&reply), vec!["volatile", "stored"], "{reply}");
    h.stop().await;
}
