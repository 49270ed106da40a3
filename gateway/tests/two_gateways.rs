//! Two gateways, one set of backends: a terminal that reconnects to the other gateway
//! mid-stream. Ordering and signal dedupe hold in the backend itself (the guarded write), so an
//! older `seq` never overwrites a newer one and a signal is stored once, whichever gateway a
//! copy reaches and whatever that gateway's own cache believes. Both gateways write through
//! URLs: to the harness service's embedded engines (by their ports), or to the same real
//! servers. (A service writes its own embedded engine without the script: it is that engine's
//! only writer, so gateways share URL backends, never one's embedded engines.)

mod common;

use std::time::Duration;

use common::*;
use tradestate_gateway::ops::Partition;
use tradestate_gateway::service::Service;

/// A gateway on `h`'s backends by their URLs, with its own data directory, ports and caches.
async fn gateway_on(h: &Harness) -> Harness {
    let urls = Partition::ALL.map(|p| h.backend_url(p));
    let target = Target::Redis(urls);
    let config = test_config(&target);
    let service = Service::start(config).await.expect("second gateway starts");
    let base = format!("http://{}", service.http_addr);
    Harness {
        target,
        service,
        base,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("http client"),
    }
}

/// The deterministic case: gateway B knows T1 at seq 1 (it wrote it), gateway A then writes
/// seq 5; B's cache still says 1 when seq 3 reaches it, and only the backend can refuse it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_seq_through_the_other_gateway_is_stale() {
    on_each_target(defaults, async |h, name| {
        let first = gateway_on(h).await;
        let a = &first;
        let b = gateway_on(h).await;
        ingest_expecting(&b, "T1", heartbeat("T1", 1), &["stored"], name).await;
        ingest_expecting(a, "T1", heartbeat("T1", 5), &["stored"], name).await;
        let reply = ingest_expecting(&b, "T1", heartbeat("T1", 3), &["stale"], name).await;
        assert_eq!(reply["results"][0]["stored_seq"], 5, "{name}: {reply}");
        // The same seq again through B: a retry of what A stored.
        ingest_expecting(&b, "T1", heartbeat("T1", 5), &["duplicate"], name).await;
        let mut ris = a.engine(Partition::Ris).await;
        assert_eq!(stored_seq(&mut ris, "ris:{T1}").await, "5", "{name}");

        // Trades too: B closes ticket 7 at seq 2 after A reopened it at seq 4.
        ingest_expecting(
            &b,
            "T1",
            batch("T1", vec![trade(1, "7", false)]),
            &["stored"],
            name,
        )
        .await;
        ingest_expecting(
            a,
            "T1",
            batch("T1", vec![trade(4, "7", false)]),
            &["stored"],
            name,
        )
        .await;
        ingest_expecting(
            &b,
            "T1",
            batch("T1", vec![trade(2, "7", true)]),
            &["stale"],
            name,
        )
        .await;
        let mut rts = a.engine(Partition::Rts).await;
        assert_eq!(stored_seq(&mut rts, "rts:{T1}:7").await, "4", "{name}");
        let state: String = query(&mut rts, &["HGET", "rts:{T1}:7", "state"]).await;
        assert_eq!(state, "open", "{name}");

        // A signal sent to both gateways (a retry after a reconnect) is stored once.
        let sig = batch("T1", vec![signal(9, "once")]);
        ingest_expecting(a, "T1", sig.clone(), &["stored"], name).await;
        ingest_expecting(&b, "T1", sig, &["duplicate"], name).await;
        let mut rtss = a.engine(Partition::Rtss).await;
        let entries: Vec<redis::Value> =
            query(&mut rtss, &["XRANGE", "rtss:signals", "-", "+"]).await;
        assert_eq!(entries.len(), 1, "{name}: {entries:?}");
        b.stop().await;
        first.stop().await;
    })
    .await;
}

/// Both gateways at once: T1's updates go alternately to A and B, two in flight at a time, in
/// an order neither gateway controls. The stored seq only ever grows, ends at the newest
/// acknowledged one, and every signal is in the stream once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interleaved_gateways_never_go_back() {
    on_each_target(defaults, async |h, name| {
        let first = gateway_on(h).await;
        let a = &first;
        let b = gateway_on(h).await;
        let mut ris = a.engine(Partition::Ris).await;
        let mut newest_acked = 0u64;
        let mut last_seen = 0u64;
        for round in 0..40u64 {
            let (first, second) = (2 * round + 1, 2 * round + 2);
            // The newer update goes first half the time, to the other gateway each round.
            let (x, y) = if round % 2 == 0 { (a, &b) } else { (&b, a) };
            let (sx, sy) = if round % 3 == 0 {
                (second, first)
            } else {
                (first, second)
            };
            let body = |seq: u64| {
                batch(
                    "T1",
                    vec![instance_state(seq), signal(seq, &format!("s-{}", seq % 10))],
                )
            };
            let (rx, ry) = tokio::join!(
                x.post_as("T1", "/v1/ingest", body(sx)),
                y.post_as("T1", "/v1/ingest", body(sy)),
            );
            for (seq, response) in [(sx, rx), (sy, ry)] {
                let (status, reply) = status_and_json(response).await;
                assert_eq!(status, 200, "{name}: {reply}");
                let s = statuses(&reply);
                if s[0] == "stored" {
                    newest_acked = newest_acked.max(seq);
                } else {
                    assert_eq!(s[0], "stale", "{name}: {reply}");
                }
                assert!(s[1] == "stored" || s[1] == "duplicate", "{name}: {reply}");
            }
            let stored: u64 = stored_seq(&mut ris, "ris:{T1}").await.parse().unwrap_or(0);
            assert!(
                stored >= last_seen,
                "{name}: seq went back from {last_seen} to {stored}"
            );
            last_seen = stored;
        }
        assert_eq!(last_seen, newest_acked, "{name}");
        assert_eq!(
            last_seen, 80,
            "{name}: the newest update is always the last stored"
        );
        // Ten signal ids, each sent eight times through either gateway.
        let mut rtss = a.engine(Partition::Rtss).await;
        let entries: Vec<redis::Value> =
            query(&mut rtss, &["XRANGE", "rtss:signals", "-", "+"]).await;
        assert_eq!(entries.len(), 10, "{name}: each signal id once");
        b.stop().await;
        first.stop().await;
    })
    .await;
}
