//! The HTTP write path over real sockets, against embedded engines and real redis-server:
//! policies (TTLs, open/closed sets, MAXLEN), ordering and dedupe, auth, limits,
//! backpressure, metrics and the single-object routes.

mod common;

use std::time::{Duration, Instant};

use common::*;
use reqwest::Method;
use serde_json::json;
use tradestate_gateway::ops::Partition;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeat_is_stored_with_its_ttl() {
    on_each_target(defaults, async |h, name| {
        let response = h.post_as("T1", "/v1/ingest", heartbeat("T1", 1)).await;
        assert_eq!(response.status(), 200, "{}", name);
        let mut ris = h.engine(Partition::Ris).await;
        let ttl: i64 = query(&mut ris, &["TTL", "ris:{T1}"]).await;
        assert!((110..=120).contains(&ttl), "{}: ttl {ttl}", name);
        let seq: String = query(&mut ris, &["HGET", "ris:{T1}", "seq"]).await;
        assert_eq!(seq, "1");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_heartbeat_refreshes_the_instance_ttl() {
    on_each_target(defaults, async |h, name| {
        let mut ris = h.engine(Partition::Ris).await;
        assert_eq!(
            h.post_as("T1", "/v1/ingest", heartbeat("T1", 1))
                .await
                .status(),
            200
        );
        // Age the key by hand, as if 90 s had passed since that heartbeat.
        let _: i64 = query(&mut ris, &["EXPIRE", "ris:{T1}", "30"]).await;
        let ttl: i64 = query(&mut ris, &["TTL", "ris:{T1}"]).await;
        assert!(ttl <= 30, "{name}: ttl {ttl}");
        assert_eq!(
            h.post_as("T1", "/v1/ingest", heartbeat("T1", 2))
                .await
                .status(),
            200
        );
        let ttl: i64 = query(&mut ris, &["TTL", "ris:{T1}"]).await;
        assert!((110..=120).contains(&ttl), "{name}: refreshed ttl {ttl}");
        // The last-seen index lists the terminal.
        let seen: Option<f64> = query(&mut ris, &["ZSCORE", "ris:seen", "T1"]).await;
        assert!(seen.is_some(), "{name}: T1 not in ris:seen");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_trades_persist_and_closed_trades_expire() {
    on_each_target(defaults, async |h, name| {
        let mut rts = h.engine(Partition::Rts).await;
        let ticket = "9000000001";
        let key = format!("rts:{{T1}}:{ticket}");

        let reply = h
            .post_as(
                "T1",
                "/v1/ingest",
                batch("T1", vec![trade(1, ticket, false)]),
            )
            .await;
        assert_eq!(reply.status(), 200, "{name}");
        let ttl: i64 = query(&mut rts, &["TTL", &key]).await;
        assert_eq!(ttl, -1, "{name}: an open trade has no TTL");
        let open: bool = query(&mut rts, &["SISMEMBER", "rts:{T1}:open", ticket]).await;
        assert!(open, "{name}: open ticket not in rts:{{T1}}:open");
        let closed: Option<f64> = query(&mut rts, &["ZSCORE", "rts:{T1}:closed", ticket]).await;
        assert_eq!(closed, None, "{name}");

        // A recent close: the closed index only keeps closes within the retention window.
        let closed_at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        let mut close = trade(2, ticket, true);
        close["time_close_msc"] = json!(closed_at);
        let reply = h
            .post_as("T1", "/v1/ingest", batch("T1", vec![close]))
            .await;
        assert_eq!(reply.status(), 200, "{name}");
        let ttl: i64 = query(&mut rts, &["TTL", &key]).await;
        assert!(
            (2_591_990..=2_592_000).contains(&ttl),
            "{name}: closed trade ttl {ttl}"
        );
        let open: bool = query(&mut rts, &["SISMEMBER", "rts:{T1}:open", ticket]).await;
        assert!(!open, "{name}: closed ticket still in the open set");
        // Scored by when the gateway recorded the close (the clock the hash's TTL runs on).
        let closed: Option<f64> = query(&mut rts, &["ZSCORE", "rts:{T1}:closed", ticket]).await;
        let recorded = closed.unwrap_or_else(|| panic!("{name}: closed ticket not indexed"));
        assert!(
            (recorded - closed_at as f64).abs() < 10_000.0,
            "{name}: scored {recorded}, recorded around {closed_at}"
        );
        let state = hash(&mut rts, &key).await;
        assert_eq!(state.get("state").map(String::as_str), Some("closed"));
        assert_eq!(state.get("instance_id").map(String::as_str), Some("T1"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_signal_stream_is_trimmed_near_maxlen() {
    const MAXLEN: u64 = 100;
    on_each_target(
        |config| {
            config.policy.rtss_maxlen = MAXLEN;
            terminal_rate(100_000, 100_000)(config);
        },
        async |h, name| {
            for chunk in 0..10u64 {
                let signals = (0..100u64)
                    .map(|i| {
                        let n = chunk * 100 + i;
                        signal(n + 1, &format!("trim-{n}"))
                    })
                    .collect();
                let reply = h.post_as("T1", "/v1/ingest", batch("T1", signals)).await;
                assert_eq!(reply.status(), 200, "{name}");
            }
            let mut rtss = h.engine(Partition::Rtss).await;
            let len: u64 = query(&mut rtss, &["XLEN", "rtss:signals"]).await;
            // `MAXLEN ~` trims whole stream nodes only (at most stream-node-max-entries = 100
            // entries each, fewer when stream-node-max-bytes fills first), so the stream may keep up
            // to one node more than MAXLEN but never fewer than MAXLEN. With MAXLEN = 100 and 1000
            // signals, "< 2 x MAXLEN" proves trimming happened (else 1000) on both engines; a MAXLEN
            // below the node size would let Redis keep everything and prove nothing.
            assert!(
                (MAXLEN..2 * MAXLEN).contains(&len),
                "{name}: XLEN {len} after 1000 signals with MAXLEN ~ {MAXLEN}"
            );
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_seq_never_overwrites_newer_state() {
    on_each_target(defaults, async |h, name| {
        let mut ris = h.engine(Partition::Ris).await;
        let mut rts = h.engine(Partition::Rts).await;

        ingest_expecting(h, "T1", heartbeat("T1", 5), &["stored"], name).await;

        let (status, reply) =
            status_and_json(h.post_as("T1", "/v1/ingest", heartbeat("T1", 3)).await).await;
        assert_eq!(
            status, 200,
            "{name}: a stale update is acknowledged: {reply}"
        );
        assert_eq!(reply["results"][0]["status"], "stale", "{name}: {reply}");
        assert_eq!(reply["results"][0]["stored_seq"], 5, "{name}: {reply}");
        assert_eq!(stored_seq(&mut ris, "ris:{T1}").await, "5", "{name}");

        let (status, reply) =
            status_and_json(h.post_as("T1", "/v1/ingest", heartbeat("T1", 5)).await).await;
        assert_eq!(status, 200, "{name}");
        assert_eq!(
            reply["results"][0]["status"], "duplicate",
            "{name}: {reply}"
        );

        // The same for a position, and a newer seq still wins.
        let ticket = "77";
        let send_trade = |seq: u64| {
            h.post_as(
                "T1",
                "/v1/ingest",
                batch("T1", vec![trade(seq, ticket, false)]),
            )
        };
        let (_, reply) = status_and_json(send_trade(10).await).await;
        assert_eq!(reply["results"][0]["status"], "stored", "{name}: {reply}");
        let (_, reply) = status_and_json(send_trade(9).await).await;
        assert_eq!(reply["results"][0]["status"], "stale", "{name}: {reply}");
        assert_eq!(reply["results"][0]["stored_seq"], 10, "{name}: {reply}");
        let seq: String = query(&mut rts, &["HGET", "rts:{T1}:77", "seq"]).await;
        assert_eq!(seq, "10", "{name}");
        let (_, reply) = status_and_json(send_trade(11).await).await;
        assert_eq!(reply["results"][0]["status"], "stored", "{name}: {reply}");
        let seq: String = query(&mut rts, &["HGET", "rts:{T1}:77", "seq"]).await;
        assert_eq!(seq, "11", "{name}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_seq_is_caught_after_a_gateway_restart() {
    // The writer caches stored seqs; a fresh gateway must read them back from the engine.
    for target in targets() {
        let name = target.name();
        if matches!(target, Target::Embedded) {
            // Embedded engines live and die with the service, so there is nothing to read back.
            continue;
        }
        let h = start(&target, |_| {}).await;
        assert_eq!(
            h.post_as("T1", "/v1/ingest", heartbeat("T1", 8))
                .await
                .status(),
            200
        );
        h.stop().await;
        let config = test_config(&target);
        let service = tradestate_gateway::service::Service::start(config)
            .await
            .expect("second service starts");
        let response = reqwest::Client::new()
            .post(format!("http://{}/v1/ingest", service.http_addr))
            .bearer_auth(token("T1"))
            .body(heartbeat("T1", 7))
            .send()
            .await
            .expect("request sent");
        let (status, reply) = status_and_json(response).await;
        assert_eq!(status, 200, "{name}");
        assert_eq!(reply["results"][0]["status"], "stale", "{name}: {reply}");
        assert_eq!(reply["results"][0]["stored_seq"], 8, "{name}: {reply}");
        service.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_is_stored_once_per_signal_id() {
    on_each_target(defaults, async |h, name| {
        let mut rtss = h.engine(Partition::Rtss).await;

        let (status, first) = status_and_json(
            h.post_as("T1", "/v1/ingest", batch("T1", vec![signal(1, "sig-a")]))
                .await,
        )
        .await;
        assert_eq!(status, 200, "{name}");
        assert_eq!(first["results"][0]["status"], "stored", "{name}: {first}");
        assert!(
            first["results"][0]["entry_id"].is_string(),
            "{name}: {first}"
        );

        // A retry in a later request.
        let (status, retry) = status_and_json(
            h.post_as("T1", "/v1/ingest", batch("T1", vec![signal(1, "sig-a")]))
                .await,
        )
        .await;
        assert_eq!(status, 200, "{name}");
        assert_eq!(
            retry["results"][0]["status"], "duplicate",
            "{name}: {retry}"
        );
        let len: u64 = query(&mut rtss, &["XLEN", "rtss:signals"]).await;
        assert_eq!(len, 1, "{name}");

        // Two copies inside one batch.
        let (status, both) = status_and_json(
            h.post_as(
                "T1",
                "/v1/ingest",
                batch("T1", vec![signal(2, "sig-b"), signal(2, "sig-b")]),
            )
            .await,
        )
        .await;
        assert_eq!(status, 200, "{name}");
        assert_eq!(
            statuses(&both),
            vec!["stored".to_string(), "duplicate".to_string()],
            "{name}: {both}"
        );
        let len: u64 = query(&mut rtss, &["XLEN", "rtss:signals"]).await;
        assert_eq!(len, 2, "{name}");

        // The same signal id from another terminal is another signal.
        let (status, other) = status_and_json(
            h.post_as("T2", "/v1/ingest", batch("T2", vec![signal(1, "sig-a")]))
                .await,
        )
        .await;
        assert_eq!(status, 200, "{name}");
        assert_eq!(other["results"][0]["status"], "stored", "{name}: {other}");
        let len: u64 = query(&mut rtss, &["XLEN", "rtss:signals"]).await;
        assert_eq!(len, 3, "{name}");
    })
    .await;
}

/// Method, path, bearer token, `x-tradestate-instance` header, body.
type AuthCase = (
    Method,
    String,
    Option<&'static str>,
    Option<&'static str>,
    String,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_need_the_terminals_own_token() {
    on_each_target(defaults, async |h, name| {
        let cases: Vec<AuthCase> = vec![
            // Batch without, with a wrong, and with another terminal's token.
            (
                Method::POST,
                "/v1/ingest".into(),
                None,
                Some("T1"),
                heartbeat("T1", 1),
            ),
            (
                Method::POST,
                "/v1/ingest".into(),
                Some("not-a-token-at-all"),
                Some("T1"),
                heartbeat("T1", 1),
            ),
            (
                Method::POST,
                "/v1/ingest".into(),
                Some(token("T2")),
                Some("T1"),
                heartbeat("T1", 1),
            ),
            (
                Method::POST,
                "/v1/ingest".into(),
                Some(token("T2")),
                None,
                heartbeat("T1", 1),
            ),
            // An id no token is configured for.
            (
                Method::POST,
                "/v1/ingest".into(),
                Some(token("T1")),
                None,
                heartbeat("T9", 1),
            ),
            // Single-object routes.
            (
                Method::PUT,
                "/v1/instances/T1/state".into(),
                None,
                None,
                single_body(instance_state(1)),
            ),
            (
                Method::PUT,
                "/v1/instances/T1/state".into(),
                Some(token("T2")),
                None,
                single_body(instance_state(1)),
            ),
            (
                Method::PUT,
                "/v1/instances/T1/trades/5".into(),
                Some(token("T2")),
                None,
                single_body(trade(1, "5", false)),
            ),
            (
                Method::POST,
                "/v1/instances/T1/signals".into(),
                Some(token("T2")),
                None,
                single_body(signal(1, "s")),
            ),
        ];
        for (method, path, bearer, instance, body) in cases {
            let response = send(h, method.clone(), &path, bearer, instance, body).await;
            assert_eq!(
                response
                    .headers()
                    .get("www-authenticate")
                    .map(|v| v.as_bytes()),
                Some(&b"Bearer"[..]),
                "{name}: {method} {path}"
            );
            let (status, reply) = status_and_json(response).await;
            assert_eq!(
                status, 401,
                "{name}: {method} {path} token {bearer:?}: {reply}"
            );
            assert_eq!(reply["error"], "unauthorized", "{name}: {reply}");
        }
        let mut ris = h.engine(Partition::Ris).await;
        let mut rts = h.engine(Partition::Rts).await;
        let mut rtss = h.engine(Partition::Rtss).await;
        assert_eq!(
            query::<u64>(&mut ris, &["DBSIZE"]).await,
            0,
            "{name}: nothing stored"
        );
        assert_eq!(
            query::<u64>(&mut rts, &["DBSIZE"]).await,
            0,
            "{name}: nothing stored"
        );
        assert_eq!(
            query::<u64>(&mut rtss, &["DBSIZE"]).await,
            0,
            "{name}: nothing stored"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_body_gets_413() {
    on_each_target(
        |config| config.limits.max_body_bytes = 2048,
        async |h, name| {
            let small = heartbeat("T1", 1);
            assert!(small.len() < 2048);
            assert_eq!(
                h.post_as("T1", "/v1/ingest", small).await.status(),
                200,
                "{name}"
            );
            let signals = (0..40)
                .map(|i| signal(i + 1, &format!("big-{i}")))
                .collect();
            let big = batch("T1", signals);
            assert!(big.len() > 2048);
            let (status, reply) = status_and_json(h.post_as("T1", "/v1/ingest", big).await).await;
            assert_eq!(status, 413, "{name}: {reply}");
            assert_eq!(reply["error"], "too_large", "{name}: {reply}");
            let padded = format!("{}{}", single_body(instance_state(2)), " ".repeat(4096));
            let status = h
                .put_as("T1", "/v1/instances/T1/state", padded)
                .await
                .status();
            assert_eq!(status, 413, "{name}: single-object route");
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_terminal_is_throttled_then_refused_and_others_are_not() {
    on_each_target(terminal_rate(1, 10), async |h, name| {
        let mut hinted_before_refusal = false;
        let mut refused = None;
        let mut seq = 0;
        for _ in 0..40 {
            seq += 1;
            let response = h.post_as("T1", "/v1/ingest", heartbeat("T1", seq)).await;
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let header_hint = response.headers().get("x-tradestate-throttle-ms").is_some();
            let (status, reply) = status_and_json(response).await;
            match status {
                200 => {
                    let hint = reply["throttle_ms"].as_u64().unwrap_or(0);
                    assert_eq!(hint > 0, header_hint, "{name}: header and body hint agree");
                    hinted_before_refusal |= hint > 0;
                }
                429 => {
                    refused = Some((retry_after, reply));
                    break;
                }
                other => panic!("{name}: unexpected {other}: {reply}"),
            }
            // Meanwhile another terminal is served.
            if seq % 5 == 0 {
                let calm = h.post_as("T2", "/v1/ingest", heartbeat("T2", seq)).await;
                assert_eq!(calm.status(), 200, "{name}: T2 during T1's flood");
            }
        }
        let (retry_after, reply) =
            refused.unwrap_or_else(|| panic!("{name}: no 429 in 40 requests over a burst of 10"));
        assert!(
            hinted_before_refusal,
            "{name}: no throttle_ms hint came before the first 429"
        );
        let retry_after: u64 = retry_after
            .unwrap_or_else(|| panic!("{name}: 429 without Retry-After: {reply}"))
            .parse()
            .expect("Retry-After in seconds");
        assert!(retry_after >= 1, "{name}");
        assert_eq!(reply["error"], "terminal_rate", "{name}: {reply}");
        assert!(
            reply["retry_after_ms"].as_u64().is_some(),
            "{name}: {reply}"
        );
        // Right after T1's refusal T2 still gets through.
        let calm = h.post_as("T2", "/v1/ingest", heartbeat("T2", 1000)).await;
        assert_eq!(calm.status(), 200, "{name}: T2 after T1's 429");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_gets_429_with_retry_after() {
    on_each_target(
        |config| {
            allow_debug_command(config);
            // The queue's own backpressure; with a spill these are spooled (tests/spill.rs).
            config.spill.enabled = false;
            let rtss = config.partitions.get_mut("rtss").unwrap();
            // Room for one queued signal (reject watermark 0.9 of 1, floored, at least 1);
            // writes wait for the stalled engine instead of timing out.
            rtss.queue_capacity = 1;
            rtss.write_timeout_ms = 20_000;
        },
        async |h, name| {
            // While the engine sleeps the writer holds at most one batch (taken when at most one
            // signal was queued) and the queue holds one more, so of six requests at least four
            // find the queue full — deterministically, as long as they all arrive during the sleep.
            // A warm-up first: the writer must hold a connection before the engine stops answering
            // (a new connection's handshake would time out instead of queueing).
            let warm_up = h
                .post_as(
                    "T1",
                    "/v1/instances/T1/signals",
                    single_body(signal(100, "warm-up")),
                )
                .await;
            assert_eq!(warm_up.status(), 200, "{name}");
            let stalled_at = Instant::now();
            let stall = stall_engine(h, Partition::Rtss, 3.0).await;
            let mut waiting = Vec::new();
            for i in 0..6u64 {
                let http = h.http.clone();
                let url = h.url("/v1/instances/T1/signals");
                let body = single_body(signal(i + 1, &format!("full-{i}")));
                waiting.push(tokio::spawn(async move {
                    let response = http
                        .post(url)
                        .bearer_auth(token("T1"))
                        .body(body)
                        .send()
                        .await
                        .expect("request sent");
                    let retry_after = response.headers().get("retry-after").cloned();
                    let (status, reply) = status_and_json(response).await;
                    (status, retry_after, reply, Instant::now())
                }));
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let mut refused = 0;
            let mut stored = 0;
            for task in waiting {
                let (status, retry_after, reply, at) = task.await.unwrap();
                match status {
                    429 => {
                        refused += 1;
                        assert!(retry_after.is_some(), "{name}: 429 without Retry-After");
                        assert_eq!(reply["status"], "queue_full", "{name}: {reply}");
                        assert!(
                            at - stalled_at < Duration::from_millis(2500),
                            "{name}: a refusal must not wait for the engine"
                        );
                    }
                    200 => stored += 1,
                    other => panic!("{name}: unexpected {other}: {reply}"),
                }
            }
            stall.await.unwrap();
            assert!(
                refused >= 4,
                "{name}: {refused} of 6 refused, {stored} stored"
            );
            assert!(
                stored >= 1,
                "{name}: the accepted signals are stored after the stall"
            );
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_describe_the_traffic() {
    on_each_target(
        |config| {
            allow_debug_command(config);
            // Coalescing in the queue behind a stalled engine, which a spill would take over.
            config.spill.enabled = false;
            terminal_rate(1, 6)(config);
            config.partitions.get_mut("ris").unwrap().write_timeout_ms = 20_000;
        },
        async |h, name| {
            // Coalescing: while the ris engine sleeps, heartbeats of one terminal queue behind the
            // stalled batch and merge (T2, T3 so T1's quota is left for the flood below).
            // A warm-up first: the writer must hold a connection before the engine stops answering.
            let warm_up = h.post_as("T3", "/v1/ingest", heartbeat("T3", 1)).await;
            assert_eq!(warm_up.status(), 200, "{name}");
            let stall = stall_engine(h, Partition::Ris, 1.0).await;
            let mut waiting = Vec::new();
            for seq in 2..=5u64 {
                let http = h.http.clone();
                let url = h.url("/v1/ingest");
                let (id, body) = if seq == 2 {
                    ("T3", heartbeat("T3", 2))
                } else {
                    ("T2", heartbeat("T2", seq))
                };
                waiting.push(tokio::spawn(async move {
                    let response = http
                        .post(url)
                        .bearer_auth(token(id))
                        .body(body)
                        .send()
                        .await
                        .expect("sent");
                    status_and_json(response).await
                }));
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let mut outcomes = Vec::new();
            for task in waiting {
                let (status, reply) = task.await.unwrap();
                assert_eq!(status, 200, "{name}: {reply}");
                outcomes.extend(statuses(&reply));
            }
            stall.await.unwrap();
            // T3's update was in flight, so T2's seq 3 took a slot and 4 and 5 joined it (expected
            // ["stored", "coalesced", "coalesced", "stored"]; only a writer waking later than the
            // 150 ms of sends could change the split, so just require some coalescing).
            assert!(
                outcomes.iter().any(|o| o == "coalesced"),
                "{name}: nothing coalesced: {outcomes:?}"
            );
            h.post_as(
                "T1",
                "/v1/ingest",
                batch("T1", vec![signal(1, "m-1"), trade(1, "1", false)]),
            )
            .await;
            // Throttle hint, then refusal.
            for seq in 1..=20 {
                if h.post_as("T1", "/v1/ingest", heartbeat("T1", seq))
                    .await
                    .status()
                    == 429
                {
                    break;
                }
            }
            let text = h.metrics().await;
            let families = [
                "tradestate_ingest_total",
                "tradestate_queue_depth",
                "tradestate_batch_size",
                "tradestate_write_seconds",
                "tradestate_coalesced_total",
                "tradestate_rejected_total",
                "tradestate_throttled_total",
                "tradestate_terminals",
                "tradestate_engine_up",
            ];
            assert_samples(&text, &families, "", name);
            assert!(
                has_sample(&text, "tradestate_ingest_total{", r#"outcome="stored""#),
                "{name}: no stored ingest counter:\n{text}"
            );
            assert!(
                has_sample(&text, "tradestate_rejected_total{", "terminal_rate"),
                "{name}"
            );
            assert!(
                has_sample(&text, "tradestate_engine_up{", r#"partition="rtss""#),
                "{name}"
            );
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_object_routes_store_one_update() {
    on_each_target(defaults, async |h, name| {
        let mut ris = h.engine(Partition::Ris).await;
        let mut rts = h.engine(Partition::Rts).await;
        let mut rtss = h.engine(Partition::Rtss).await;

        let (status, reply) = status_and_json(
            h.put_as(
                "T1",
                "/v1/instances/T1/state",
                single_body(instance_state(3)),
            )
            .await,
        )
        .await;
        assert_eq!(status, 200, "{name}: {reply}");
        assert_eq!(reply["status"], "stored", "{name}: {reply}");
        assert_eq!(reply["instance_id"], "T1", "{name}: {reply}");
        let state = hash(&mut ris, "ris:{T1}").await;
        assert_eq!(state.get("seq").map(String::as_str), Some("3"), "{name}");
        assert_eq!(
            state.get("equity").map(String::as_str),
            Some("10012.5"),
            "{name}"
        );
        let ttl: i64 = query(&mut ris, &["TTL", "ris:{T1}"]).await;
        assert!((110..=120).contains(&ttl), "{name}: ttl {ttl}");

        let (status, reply) = status_and_json(
            h.put_as(
                "T1",
                "/v1/instances/T1/trades/4242",
                single_body(trade(1, "4242", false)),
            )
            .await,
        )
        .await;
        assert_eq!(status, 200, "{name}: {reply}");
        assert_eq!(reply["status"], "stored", "{name}: {reply}");
        let position = hash(&mut rts, "rts:{T1}:4242").await;
        assert_eq!(
            position.get("symbol").map(String::as_str),
            Some("EURUSD"),
            "{name}"
        );
        let open: bool = query(&mut rts, &["SISMEMBER", "rts:{T1}:open", "4242"]).await;
        assert!(open, "{name}");

        // The URL's ticket and the body's must agree.
        let (status, reply) = status_and_json(
            h.put_as(
                "T1",
                "/v1/instances/T1/trades/4243",
                single_body(trade(2, "4242", false)),
            )
            .await,
        )
        .await;
        assert_eq!(status, 400, "{name}: {reply}");
        assert_eq!(reply["errors"][0]["field"], "ticket", "{name}: {reply}");
        // And the URL's ticket must be a ticket.
        let (status, _) = status_and_json(
            h.put_as(
                "T1",
                "/v1/instances/T1/trades/abc",
                single_body(trade(2, "4242", false)),
            )
            .await,
        )
        .await;
        assert_eq!(status, 400, "{name}");
        let seq: String = query(&mut rts, &["HGET", "rts:{T1}:4242", "seq"]).await;
        assert_eq!(seq, "1", "{name}: a refused update changed nothing");

        let (status, reply) = status_and_json(
            h.post_as(
                "T1",
                "/v1/instances/T1/signals",
                single_body(signal(1, "one")),
            )
            .await,
        )
        .await;
        assert_eq!(status, 200, "{name}: {reply}");
        assert_eq!(reply["status"], "stored", "{name}: {reply}");
        let entry_id = reply["entry_id"].as_str().expect("entry_id").to_string();
        let entries: Vec<(String, std::collections::HashMap<String, String>)> =
            query(&mut rtss, &["XRANGE", "rtss:signals", &entry_id, &entry_id]).await;
        assert_eq!(entries.len(), 1, "{name}");
        assert_eq!(
            entries[0].1.get("signal_id").map(String::as_str),
            Some("one"),
            "{name}"
        );
        assert_eq!(
            entries[0].1.get("instance_id").map(String::as_str),
            Some("T1"),
            "{name}"
        );

        // A body in the batch shape on a single-object route is refused, not half-read.
        let (status, _) = status_and_json(
            h.put_as(
                "T1",
                "/v1/instances/T1/state",
                json!(instance_state(4)).to_string(),
            )
            .await,
        )
        .await;
        assert_eq!(
            status, 400,
            "{name}: `kind` is not a field of a single instance state"
        );
    })
    .await;
}
