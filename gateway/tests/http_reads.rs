//! The HTTP read API over real sockets: what terminals wrote through the ingest routes comes back
//! from the read routes, the live signal tail (SSE) replays and follows without gaps or
//! duplicates, and the OpenAPI document covers every route.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use tradestate_gateway::http::openapi::ROUTES;
use tradestate_gateway::ops::Partition;

async fn json_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let body = response.json::<Value>().await.expect("json body");
    (status, body)
}

async fn get_json(h: &Harness, path: &str) -> (u16, Value) {
    json_of(h.get(path).await).await
}

fn error_fields(body: &Value) -> BTreeSet<String> {
    body["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["field"].as_str().map(str::to_string))
        .collect()
}

/// A closed trade that closed `ago_ms` before now: the writer drops closes older than the
/// retention (30 days) from the closed index at once, so the fixture's fixed 2025 times will not do.
fn closed_trade(seq: u64, ticket: &str, ago_ms: i64) -> Value {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let mut closed = trade(seq, ticket, true);
    closed["time_close_msc"] = json!(now - ago_ms);
    closed["time_update_msc"] = json!(now - ago_ms);
    closed
}

/// The tickets of a trades page, in page order.
fn tickets(page: &Value) -> Vec<&str> {
    page["trades"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["ticket"].as_str())
        .collect()
}

/// Checks each field of the JSON object `expected` against the same field of `object` (which
/// may have more).
fn assert_json_fields(object: &Value, expected: Value, what: &str) {
    for (field, value) in expected.as_object().expect("expected fields") {
        let actual = &object[field];
        // As `actual == 1.5` compares: a float by value, so `10000` is `10000.0`.
        let same = if value.is_f64() {
            actual.as_f64() == value.as_f64()
        } else {
            actual == value
        };
        assert!(same, "{what}: field {field} is {actual}, expected {value}");
    }
}

/// Posts `updates` as one batch of terminal `instance_id`, which must be acknowledged.
async fn post_ok(h: &Harness, instance_id: &str, updates: Vec<Value>) -> Value {
    let body = batch(instance_id, updates);
    let (status, reply) = json_of(h.post_as(instance_id, "/v1/ingest", body).await).await;
    assert_eq!(status, 200, "{}: ingest failed: {reply}", h.target.name());
    reply
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_are_listed_with_status_and_state() {
    on_each_target(defaults, async |h, name| {
        post_ok(
            h,
            "T1",
            vec![
                instance_state(1),
                trade(2, "1001", false),
                closed_trade(3, "1002", 1000),
            ],
        )
        .await;
        post_ok(h, "T2", vec![instance_state(1)]).await;
        // T3 was seen long ago: offline, its state long expired.
        let mut ris = h.engine(Partition::Ris).await;
        let _: () = query(&mut ris, &["ZADD", "ris:seen", "1000000000000", "T3"]).await;

        let (status, list) = get_json(h, "/v1/instances").await;
        assert_eq!(status, 200, "{name}: {list}");
        assert_eq!(
            list["totals"],
            json!({"online": 2, "stale": 0, "offline": 1, "all": 3}),
            "{name}"
        );
        let instances = list["instances"].as_array().unwrap();
        assert_eq!(instances.len(), 3, "{name}");
        let t1 = instances.iter().find(|i| i["instance_id"] == "T1").unwrap();
        assert_eq!(t1["status"], "online", "{name}");
        assert!(t1["last_seen_msc"].as_u64().unwrap() > 1_700_000_000_000);
        let state = &t1["state"];
        assert_eq!(state["seq"], 1, "{name}: numbers are numbers: {state}");
        assert_json_fields(
            state,
            json!({"balance": 10000.0, "margin_free": 9912.5, "connected": true, "server": "Broker-Demo", "instance_id": "T1"}),
            &format!("{name}: T1 state"),
        );
        assert!(state["received_msc"].as_u64().is_some());
        assert!(state.get("decode_errors").is_none());
        let t3 = instances.iter().find(|i| i["instance_id"] == "T3").unwrap();
        assert_eq!(t3["status"], "offline");
        assert_eq!(t3["state"], Value::Null);

        let (_, online) = get_json(h, "/v1/instances?status=online").await;
        let ids: BTreeSet<&str> = online["instances"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|i| i["instance_id"].as_str())
            .collect();
        assert_eq!(ids, BTreeSet::from(["T1", "T2"]), "{name}");
        assert_eq!(online["totals"]["all"], 3, "totals ignore the filter");
        let (_, offline) = get_json(h, "/v1/instances?status=offline").await;
        assert_eq!(offline["instances"].as_array().unwrap().len(), 1);

        let (status, bad) = get_json(h, "/v1/instances?status=asleep&colour=red").await;
        assert_eq!(status, 400, "{name}: {bad}");
        assert_eq!(bad["error"], "invalid");
        assert_eq!(
            error_fields(&bad),
            BTreeSet::from(["status".to_string(), "colour".to_string()])
        );

        let (status, one) = get_json(h, "/v1/instances/T1").await;
        assert_eq!(status, 200, "{name}: {one}");
        assert_eq!(one["status"], "online");
        assert_eq!(one["state"]["equity"], 10012.5);
        assert_eq!(one["trades"], json!({"open": 1, "closed": 1}), "{name}");

        let (status, offline) = get_json(h, "/v1/instances/T3").await;
        assert_eq!(status, 200);
        assert_eq!(offline["status"], "offline");
        assert_eq!(offline["state"], Value::Null);

        let (status, missing) = get_json(h, "/v1/instances/T9").await;
        assert_eq!(status, 404, "{name}: {missing}");
        assert_eq!(missing["error"], "not_found");
        assert!(missing["message"].as_str().unwrap().contains("T9"));

        let (status, bad) = get_json(h, "/v1/instances/bad:id").await;
        assert_eq!(status, 400, "{name}: {bad}");
        assert_eq!(error_fields(&bad), BTreeSet::from(["id".to_string()]));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trades_are_read_open_and_closed() {
    on_each_target(defaults, async |h, name| {
        post_ok(
            h,
            "T1",
            vec![
                trade(1, "20", false),
                trade(2, "3", false),
                closed_trade(3, "100", 3000),
                closed_trade(4, "101", 2000),
                closed_trade(5, "102", 1000),
            ],
        )
        .await;
        post_ok(h, "T2", vec![trade(1, "555", false)]).await;

        let (status, open) = get_json(h, "/v1/instances/T1/trades").await;
        assert_eq!(status, 200, "{name}: {open}");
        assert_eq!(open["state"], "open");
        assert_eq!(open["total"], 2);
        assert_eq!(tickets(&open), ["3", "20"], "{name}: lowest ticket first");
        assert_json_fields(
            &open["trades"][0],
            json!({"type": "buy", "volume": 0.1, "magic": 42, "state": "open", "instance_id": "T1"}),
            &format!("{name}: first trade"),
        );

        let (_, closed) = get_json(h, "/v1/instances/T1/trades?state=closed").await;
        assert_eq!(
            tickets(&closed),
            ["102", "101", "100"],
            "{name}: newest close first"
        );
        assert_eq!(closed["trades"][0]["price_close"], 1.1005);
        assert!(closed["trades"][0]["time_close_msc"].as_i64().is_some());

        let (_, page) = get_json(h, "/v1/instances/T1/trades?state=closed&limit=2").await;
        assert_eq!(page["trades"].as_array().unwrap().len(), 2);
        assert_eq!(page["total"], 3);
        assert_eq!(page["limit"], 2);

        // A closed trade whose hash expired before its index entry is skipped.
        let mut rts = h.engine(Partition::Rts).await;
        let _: () = query(&mut rts, &["DEL", "rts:{T1}:101"]).await;
        let (_, closed) = get_json(h, "/v1/instances/T1/trades?state=closed").await;
        assert_eq!(tickets(&closed), ["102", "100"], "{name}");

        let (_, none) = get_json(h, "/v1/instances/T3/trades").await;
        assert_eq!(none["trades"], json!([]));
        assert_eq!(none["total"], 0);

        let (status, bad) =
            get_json(h, "/v1/instances/T1/trades?state=pending&limit=0&sort=asc").await;
        assert_eq!(status, 400, "{name}: {bad}");
        assert_eq!(
            error_fields(&bad),
            BTreeSet::from(["state".into(), "limit".into(), "sort".into()])
        );
        for limit in ["1001", "abc", "-1"] {
            let (status, bad) =
                get_json(h, &format!("/v1/instances/T1/trades?limit={limit}")).await;
            assert_eq!(status, 400, "limit={limit}");
            assert_eq!(error_fields(&bad), BTreeSet::from(["limit".into()]));
        }
    })
    .await;
}

async fn post_signals(h: &Harness, instance_id: &str, ids: std::ops::Range<u64>) -> Vec<String> {
    let updates = ids.map(|n| signal(n, &format!("s-{n}"))).collect();
    let reply = post_ok(h, instance_id, updates).await;
    reply["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["entry_id"].as_str().expect("entry id").to_string())
        .collect()
}

fn ids_of(page: &Value) -> Vec<String> {
    page["signals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signals_are_paged_from_the_stream() {
    on_each_target(defaults, async |h, name| {
        let (_, empty) = get_json(h, "/v1/signals").await;
        assert_eq!(empty["signals"], json!([]), "{name}");
        assert_eq!(empty["next_after"], Value::Null);

        let ids = post_signals(h, "T1", 1..6).await;
        let (status, latest) = get_json(h, "/v1/signals").await;
        assert_eq!(status, 200, "{name}: {latest}");
        assert_eq!(ids_of(&latest), ids, "{name}: oldest first");
        assert_eq!(latest["stream"], "rtss:signals");
        assert_json_fields(
            &latest["signals"][0],
            json!({"signal_id": "s-1", "seq": 1, "volume": 0.1, "action": "buy", "instance_id": "T1"}),
            &format!("{name}: first signal"),
        );

        let (_, last_two) = get_json(h, "/v1/signals?count=2").await;
        assert_eq!(ids_of(&last_two), ids[3..].to_vec(), "{name}");

        let (_, page) = get_json(h, &format!("/v1/signals?after={}&count=2", ids[1])).await;
        assert_eq!(ids_of(&page), ids[2..4].to_vec(), "{name}");
        assert_eq!(page["next_after"], ids[3].as_str());
        let (_, rest) = get_json(
            h,
            &format!("/v1/signals?after={}", page["next_after"].as_str().unwrap()),
        )
        .await;
        assert_eq!(ids_of(&rest), ids[4..].to_vec());
        let (_, none) = get_json(h, &format!("/v1/signals?after={}", ids[4])).await;
        assert_eq!(none["signals"], json!([]));
        assert_eq!(
            none["next_after"],
            ids[4].as_str(),
            "keep polling from here"
        );
        let (_, all) = get_json(h, "/v1/signals?after=0").await;
        assert_eq!(ids_of(&all), ids);

        for bad in ["abc", "1-x", "-", "1-2-3"] {
            let (status, body) = get_json(h, &format!("/v1/signals?after={bad}")).await;
            assert_eq!(status, 400, "after={bad}: {body}");
            assert_eq!(error_fields(&body), BTreeSet::from(["after".into()]));
        }
        let (status, body) = get_json(h, "/v1/signals?count=5000").await;
        assert_eq!(status, 400);
        assert_eq!(error_fields(&body), BTreeSet::from(["count".into()]));
    })
    .await;
}

const READ_PATHS: [&str; 6] = [
    "/v1/instances",
    "/v1/instances/T1",
    "/v1/instances/T1/trades",
    "/v1/signals",
    "/v1/signals/stream",
    "/v1/signals?count=1",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_need_an_operator_token() {
    for target in targets() {
        let h = start(&target, |_| {}).await;
        for path in READ_PATHS {
            let anonymous = h.http.get(h.url(path)).send().await.unwrap();
            assert_eq!(anonymous.status(), 401, "{path}");
            assert_eq!(anonymous.headers()["www-authenticate"], "Bearer");
            let (_, body) = json_of(anonymous).await;
            assert_eq!(body["error"], "unauthorized");
            // A terminal token is not an operator token.
            let terminal = h
                .http
                .get(h.url(path))
                .bearer_auth(token("T1"))
                .send()
                .await
                .unwrap();
            assert_eq!(terminal.status(), 401, "{path}");
        }
        let doc = h.http.get(h.url("/openapi.json")).send().await.unwrap();
        assert_eq!(doc.status(), 200, "the document needs no token");
        h.stop().await;

        // With no operator tokens configured, reads are open.
        let h = start(&target, |config| config.auth.operator_tokens.clear()).await;
        let open = h.http.get(h.url("/v1/instances")).send().await.unwrap();
        assert_eq!(open.status(), 200);
        h.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_covers_every_route() {
    let h = start(&Target::Embedded, |_| {}).await;
    let (status, doc) = json_of(h.http.get(h.url("/openapi.json")).send().await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for contract in [
        "Batch",
        "InstanceState",
        "TradeState",
        "TradeSignal",
        "Update",
    ] {
        assert!(schemas.contains_key(contract), "{contract} from mt5-bridge");
    }
    let paths = doc["paths"].as_object().unwrap();
    for route in ROUTES {
        let (method, path) = (route.method.as_str(), route.path);
        let operation = &paths[path][method.to_lowercase()];
        assert!(operation.is_object(), "{method} {path} is documented");
        // Each documented route is served: no 404/405 from the router.
        let url = h.url(&path.replace("{id}", "T1").replace("{ticket}", "1"));
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let response = h.http.request(method.clone(), url).send().await.unwrap();
        assert!(
            ![404, 405].contains(&response.status().as_u16()),
            "{method} {path}: {}",
            response.status()
        );
    }
    h.stop().await;
}

/// One server-sent event.
#[derive(Debug)]
struct SseEvent {
    id: Option<String>,
    event: Option<String>,
    data: String,
}

/// Reads events from a streaming response, skipping keep-alive comments.
struct SseReader {
    response: reqwest::Response,
    buffer: String,
}

impl SseReader {
    async fn open(h: &Harness, path: &str, last_event_id: Option<&str>) -> SseReader {
        let client = reqwest::Client::new();
        let mut request = client.get(h.url(path)).bearer_auth(OPERATOR_TOKEN);
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = request.send().await.expect("tail connects");
        assert_eq!(response.status(), 200);
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream"));
        SseReader {
            response,
            buffer: String::new(),
        }
    }

    /// The next event, or `None` if none arrives within `wait`.
    async fn next(&mut self, wait: Duration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = SseEvent {
                    id: None,
                    event: None,
                    data: String::new(),
                };
                let mut comment_only = true;
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        event.id = Some(v.trim().to_string());
                    } else if let Some(v) = line.strip_prefix("event:") {
                        event.event = Some(v.trim().to_string());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        event.data.push_str(v.trim_start());
                    } else {
                        continue;
                    }
                    comment_only = false;
                }
                if comment_only {
                    continue;
                }
                return Some(event);
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .ok()?
                .expect("stream readable")?;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    async fn expect_signal(&mut self) -> (String, Value) {
        let event = self
            .next(Duration::from_secs(5))
            .await
            .expect("a signal event within 5 s");
        assert_eq!(event.event.as_deref(), Some("signal"), "{event:?}");
        let data: Value = serde_json::from_str(&event.data).expect("json data");
        let id = event.id.expect("event id");
        assert_eq!(data["id"], id.as_str());
        (id, data)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_signal_tail_follows_live_and_replays_what_was_missed() {
    on_each_target(defaults, async |h, name| {
        let before = post_signals(h, "T1", 1..3).await;

        // Live from now: the two earlier signals are not sent.
        let mut tail = SseReader::open(h, "/v1/signals/stream", None).await;
        let live = post_signals(h, "T2", 3..4).await;
        let (id, data) = tail.expect_signal().await;
        assert_eq!(id, live[0], "{name}");
        assert_eq!(data["signal_id"], "s-3");
        assert_eq!(data["instance_id"], "T2");
        assert_eq!(data["seq"], 3);
        assert_eq!(data["volume"], 0.1);
        drop(tail);

        // Missed while disconnected: replayed once, in order, then live.
        let missed = post_signals(h, "T1", 4..7).await;
        let mut tail = SseReader::open(h, "/v1/signals/stream", Some(&live[0])).await;
        for expected in &missed {
            let (id, _) = tail.expect_signal().await;
            assert_eq!(&id, expected, "{name}");
        }
        let more = post_signals(h, "T1", 7..8).await;
        let (id, _) = tail.expect_signal().await;
        assert_eq!(id, more[0], "{name}: live after replay");
        assert!(
            tail.next(Duration::from_millis(300)).await.is_none(),
            "{name}: nothing sent twice"
        );
        drop(tail);

        // `?after=` works like Last-Event-ID; the header wins when both are sent.
        let mut tail = SseReader::open(
            h,
            &format!("/v1/signals/stream?after={}", before[0]),
            Some(&missed[2]),
        )
        .await;
        let (id, _) = tail.expect_signal().await;
        assert_eq!(id, more[0], "{name}");
        drop(tail);
        let mut tail =
            SseReader::open(h, &format!("/v1/signals/stream?after={}", before[1]), None).await;
        let (id, _) = tail.expect_signal().await;
        assert_eq!(id, live[0], "{name}");
        drop(tail);

        let bad = h
            .http
            .get(h.url("/v1/signals/stream"))
            .bearer_auth(OPERATOR_TOKEN)
            .header("last-event-id", "yesterday")
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status(), 400);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tail_resuming_during_a_burst_sees_every_signal_exactly_once() {
    on_each_target(defaults, async |h, name| {
        let first = post_signals(h, "T1", 0..1).await;
        let writer = {
            let (base, http) = (h.base.clone(), h.http.clone());
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for n in 1..=60u64 {
                    let body = batch("T1", vec![signal(n, &format!("burst-{n}"))]);
                    let reply: Value = http
                        .post(format!("{base}/v1/ingest"))
                        .bearer_auth(token("T1"))
                        .body(body)
                        .send()
                        .await
                        .unwrap()
                        .json()
                        .await
                        .unwrap();
                    ids.push(
                        reply["results"][0]["entry_id"]
                            .as_str()
                            .unwrap()
                            .to_string(),
                    );
                }
                ids
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        // Connects mid-burst: part comes from the replay, part live, overlapping in time.
        let mut tail = SseReader::open(h, "/v1/signals/stream", Some(&first[0])).await;
        let expected = writer.await.unwrap();
        let mut seen = Vec::new();
        while seen.len() < expected.len() {
            let (id, _) = tail.expect_signal().await;
            seen.push(id);
        }
        assert_eq!(seen, expected, "{name}: every signal once, in order");
        assert!(tail.next(Duration::from_millis(300)).await.is_none());
    })
    .await;
}
