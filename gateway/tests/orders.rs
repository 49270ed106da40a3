//! Pending orders and the positions snapshot (contract 1.1) against a running gateway, over
//! HTTP and RESP, with embedded engines and real redis-server: where orders live (the live set,
//! then the closed index with its TTL), what a snapshot closes and what it leaves alone, that a
//! terminal's own close still replaces a snapshot's, and the RESP3 push announcing a stale HSET.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tradestate_gateway::ops::Partition;
use tradestate_mt5_bridge::parse_batch;
use tradestate_mt5_bridge::wire::{resp_args, resp_encode, SIGNAL_STREAM};

/// When the snapshots of these tests were taken (what a close by snapshot records).
const SNAPSHOT_MSC: i64 = 1_763_000_050_000;
/// The closed-trade TTL of the default policy (30 days), and a margin for slow machines.
const CLOSED_TTL: std::ops::RangeInclusive<i64> = 2_591_900..=2_592_000;

/// A position (`type` buy), open or closed, as the harness builds it.
fn position(seq: u64, ticket: &str, closed: bool) -> Value {
    trade(seq, ticket, closed)
}

/// A pending order's state: its order type, and the done time when it is no longer pending.
fn order(seq: u64, ticket: &str, ty: &str, state: &str) -> Value {
    let mut order = trade(seq, ticket, false);
    order["type"] = json!(ty);
    order["state"] = json!(state);
    order["profit"] = json!(0.0);
    if state != "pending" {
        order["time_close_msc"] = json!(1_763_000_000_000i64 + seq as i64);
    }
    order
}

fn snapshot(seq: u64, tickets: &str) -> Value {
    json!({"kind": "positions", "seq": seq, "time_msc": SNAPSHOT_MSC, "tickets": tickets})
}

/// Sends `updates` as one batch of T1 and returns each update's result.
async fn ingest(h: &Harness, updates: Vec<Value>) -> Vec<Value> {
    let response = h.post_as("T1", "/v1/ingest", batch("T1", updates)).await;
    let (status, reply) = status_and_json(response).await;
    assert_eq!(status, 200, "{}: {reply}", h.target.name());
    reply["results"].as_array().cloned().unwrap_or_default()
}

async fn statuses_of(h: &Harness, updates: Vec<Value>) -> Vec<String> {
    ingest(h, updates)
        .await
        .iter()
        .map(|r| r["status"].as_str().unwrap_or("").to_string())
        .collect()
}

/// Where a ticket of T1 is: its hash, TTL, live-set membership and closed-index score.
struct Stored {
    hash: HashMap<String, String>,
    ttl: i64,
    live: bool,
    closed_index: bool,
}

impl Stored {
    fn get(&self, field: &str) -> Option<&str> {
        self.hash.get(field).map(String::as_str)
    }

    /// Kept live: in the live set, no TTL, not in the closed index.
    fn assert_live(&self, what: &str, state: &str) {
        assert_eq!(self.get("state"), Some(state), "{what}: {:?}", self.hash);
        assert!(self.live, "{what}: not in rts:{{T1}}:open");
        assert!(!self.closed_index, "{what}: in rts:{{T1}}:closed");
        assert_eq!(self.ttl, -1, "{what}: a live trade has no TTL");
    }

    /// Done: out of the live set, in the closed index, with the closed-trade TTL.
    fn assert_done(&self, what: &str, state: &str) {
        assert_eq!(self.get("state"), Some(state), "{what}: {:?}", self.hash);
        assert!(!self.live, "{what}: still in rts:{{T1}}:open");
        assert!(self.closed_index, "{what}: not in rts:{{T1}}:closed");
        assert!(CLOSED_TTL.contains(&self.ttl), "{what}: ttl {}", self.ttl);
    }
}

async fn stored(rts: &mut impl redis::aio::ConnectionLike, ticket: &str) -> Stored {
    let key = format!("rts:{{T1}}:{ticket}");
    Stored {
        hash: hash(rts, &key).await,
        ttl: query(rts, &["TTL", &key]).await,
        live: query(rts, &["SISMEMBER", "rts:{T1}:open", ticket]).await,
        closed_index: query::<Option<f64>>(rts, &["ZSCORE", "rts:{T1}:closed", ticket])
            .await
            .is_some(),
    }
}

/// The trades `GET /v1/instances/T1/trades?state=<which>` lists, by ticket.
async fn listed(h: &Harness, which: &str) -> HashMap<String, Value> {
    let response = h
        .get(&format!("/v1/instances/T1/trades?state={which}"))
        .await;
    let (status, reply) = status_and_json(response).await;
    assert_eq!(status, 200, "{reply}");
    reply["trades"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| (t["ticket"].as_str().unwrap_or("").to_string(), t.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_order_becomes_open_then_closed() {
    on_each_target(defaults, async |h, name| {
        let mut rts = h.engine(Partition::Rts).await;
        let ticket = "5000000001";

        let results = statuses_of(h, vec![order(1, ticket, "buy_limit", "pending")]).await;
        assert_eq!(results, ["stored"], "{name}");
        let pending = stored(&mut rts, ticket).await;
        pending.assert_live(&format!("{name}: pending"), "pending");
        assert_eq!(pending.get("type"), Some("buy_limit"), "{name}");
        let open = listed(h, "open").await;
        assert_eq!(open[ticket]["type"], "buy_limit", "{name}: {open:?}");
        assert_eq!(open[ticket]["state"], "pending", "{name}: {open:?}");
        assert!(open[ticket].get("decode_errors").is_none(), "{name}");

        // Filled: on MT5 the position carries the order's ticket, so the same key goes open.
        let results = statuses_of(h, vec![position(2, ticket, false)]).await;
        assert_eq!(results, ["stored"], "{name}");
        let filled = stored(&mut rts, ticket).await;
        filled.assert_live(&format!("{name}: open"), "open");
        assert_eq!(filled.get("type"), Some("buy"), "{name}");

        let results = statuses_of(h, vec![position(3, ticket, true)]).await;
        assert_eq!(results, ["stored"], "{name}");
        let closed = stored(&mut rts, ticket).await;
        closed.assert_done(&format!("{name}: closed"), "closed");
        assert!(closed.get("closed_by").is_none(), "{name}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_and_filled_orders_get_the_closed_ttl() {
    on_each_target(defaults, async |h, name| {
        let mut rts = h.engine(Partition::Rts).await;
        let results = statuses_of(
            h,
            vec![
                order(1, "5000000011", "sell_stop", "pending"),
                order(2, "5000000012", "buy_stop_limit", "pending"),
            ],
        )
        .await;
        assert_eq!(results, ["stored", "stored"], "{name}");
        let mut filled = order(4, "5000000012", "buy_stop_limit", "filled");
        filled["price_close"] = json!(1.1);
        let results = statuses_of(
            h,
            vec![order(3, "5000000011", "sell_stop", "cancelled"), filled],
        )
        .await;
        assert_eq!(results, ["stored", "stored"], "{name}");
        let cancelled = stored(&mut rts, "5000000011").await;
        cancelled.assert_done(&format!("{name}: cancelled"), "cancelled");
        assert!(cancelled.get("price_close").is_none(), "{name}");
        let filled = stored(&mut rts, "5000000012").await;
        filled.assert_done(&format!("{name}: filled"), "filled");
        assert_eq!(filled.get("price_close"), Some("1.1"), "{name}");
        let closed = listed(h, "closed").await;
        assert_eq!(closed.len(), 2, "{name}: {closed:?}");
        assert_eq!(closed["5000000011"]["state"], "cancelled", "{name}");
        assert!(listed(h, "open").await.is_empty(), "{name}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_closes_what_it_does_not_list_and_a_real_close_replaces_it() {
    on_each_target(defaults, async |h, name| {
        let mut rts = h.engine(Partition::Rts).await;
        // A and D are positions, B a listed position, C a pending order. D is updated after
        // the snapshot was taken (a seq above the snapshot's).
        let (a, b, c, d) = ("6000000001", "6000000002", "6000000003", "6000000004");
        let results = statuses_of(
            h,
            vec![
                position(1, a, false),
                position(2, b, false),
                order(3, c, "buy_limit", "pending"),
                position(4, d, false),
            ],
        )
        .await;
        assert_eq!(results, ["stored"; 4], "{name}");
        assert_eq!(
            statuses_of(h, vec![position(10, d, false)]).await,
            ["stored"],
            "{name}"
        );

        let results = ingest(h, vec![snapshot(6, b)]).await;
        assert_eq!(results[0]["kind"], "positions", "{name}: {results:?}");
        assert_eq!(results[0]["status"], "stored", "{name}: {results:?}");

        let closed = stored(&mut rts, a).await;
        closed.assert_done(&format!("{name}: A"), "closed");
        assert_eq!(closed.get("closed_by"), Some("snapshot"), "{name}");
        let snapshot_time = SNAPSHOT_MSC.to_string();
        assert_eq!(closed.get("time_close_msc"), Some(snapshot_time.as_str()));
        assert_eq!(closed.get("seq"), Some("1"), "{name}: keeps its own seq");
        assert!(closed.get("price_close").is_none(), "{name}");
        let cancelled = stored(&mut rts, c).await;
        cancelled.assert_done(&format!("{name}: C"), "cancelled");
        assert_eq!(cancelled.get("closed_by"), Some("snapshot"), "{name}");
        assert_eq!(cancelled.get("seq"), Some("3"), "{name}");
        for (ticket, seq) in [(b, "2"), (d, "10")] {
            let untouched = stored(&mut rts, ticket).await;
            untouched.assert_live(&format!("{name}: {ticket}"), "open");
            assert!(untouched.get("closed_by").is_none(), "{name}: {ticket}");
            assert_eq!(untouched.get("seq"), Some(seq), "{name}: {ticket}");
        }
        let positions = hash(&mut rts, "rts:{T1}:positions").await;
        assert_eq!(positions.get("seq").map(String::as_str), Some("6"));
        assert_eq!(positions.get("tickets").map(String::as_str), Some(b));
        assert_eq!(positions.get("instance_id").map(String::as_str), Some("T1"));

        // The reads show the closes for what they are.
        let shown = listed(h, "closed").await;
        assert_eq!(shown[a]["closed_by"], "snapshot", "{name}: {shown:?}");
        assert_eq!(shown[a]["state"], "closed", "{name}");
        assert!(shown[a].get("decode_errors").is_none(), "{name}: {shown:?}");
        assert!(shown[a].get("price_close").is_none(), "{name}: {shown:?}");
        assert_eq!(shown[c]["state"], "cancelled", "{name}");
        assert_eq!(listed(h, "open").await.len(), 2, "{name}");

        // A snapshot is a state of its own: the same seq again, or an older one, changes nothing.
        // Sent one at a time: in one batch the queue would fold the older into the newer, and
        // the writer would never see it.
        let results = ingest(h, vec![snapshot(6, "")]).await;
        assert_eq!(results[0]["status"], "duplicate", "{name}: {results:?}");
        let results = ingest(h, vec![snapshot(5, "")]).await;
        assert_eq!(results[0]["status"], "stale", "{name}: {results:?}");
        assert_eq!(results[0]["stored_seq"], 6, "{name}: {results:?}");
        stored(&mut rts, b)
            .await
            .assert_live(&format!("{name}: B after stale snapshots"), "open");

        // The terminal's real close, numbered between the trade's seq and the snapshot's,
        // replaces the snapshot's close with its own figures.
        assert_eq!(
            statuses_of(h, vec![position(5, a, true)]).await,
            ["stored"],
            "{name}"
        );
        let real = stored(&mut rts, a).await;
        real.assert_done(&format!("{name}: A closed for real"), "closed");
        assert!(real.get("closed_by").is_none(), "{name}: {:?}", real.hash);
        assert_eq!(real.get("seq"), Some("5"), "{name}");
        assert_eq!(real.get("price_close"), Some("1.1005"), "{name}");
        assert_eq!(
            real.get("time_close_msc"),
            Some((1_763_000_000_000i64 + 5).to_string().as_str())
        );
        // The order's cache entry is right too: older than its seq is stale, newer replaces.
        let results = ingest(h, vec![order(2, c, "buy_limit", "cancelled")]).await;
        assert_eq!(results[0]["status"], "stale", "{name}: {results:?}");
        assert_eq!(results[0]["stored_seq"], 3, "{name}: {results:?}");
        assert_eq!(
            statuses_of(h, vec![order(7, c, "buy_limit", "cancelled")]).await,
            ["stored"],
            "{name}"
        );
        let cancelled = stored(&mut rts, c).await;
        cancelled.assert_done(&format!("{name}: C cancelled for real"), "cancelled");
        assert!(cancelled.get("closed_by").is_none(), "{name}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_sees_the_trades_sent_before_it_and_a_reopened_trade_is_live_again() {
    on_each_target(defaults, async |h, name| {
        let mut rts = h.engine(Partition::Rts).await;
        let (e, f) = ("7000000001", "7000000002");
        // Sent together: the position reaches the engine, then the snapshot closes it.
        let results = statuses_of(h, vec![position(20, e, false), snapshot(21, "")]).await;
        assert_eq!(results, ["stored", "stored"], "{name}");
        let closed = stored(&mut rts, e).await;
        closed.assert_done(&format!("{name}: E"), "closed");
        assert_eq!(closed.get("closed_by"), Some("snapshot"), "{name}");
        assert_eq!(closed.get("seq"), Some("20"), "{name}");

        // A newer state of it from the terminal makes it live again, out of the closed index.
        assert_eq!(
            statuses_of(h, vec![position(22, e, false)]).await,
            ["stored"],
            "{name}"
        );
        let reopened = stored(&mut rts, e).await;
        reopened.assert_live(&format!("{name}: E reopened"), "open");
        assert!(reopened.get("closed_by").is_none(), "{name}");
        assert!(reopened.get("time_close_msc").is_none(), "{name}");

        // A trade sent after the snapshot is not the snapshot's to close.
        let results = statuses_of(h, vec![snapshot(30, ""), position(31, f, false)]).await;
        assert_eq!(results, ["stored", "stored"], "{name}");
        stored(&mut rts, f)
            .await
            .assert_live(&format!("{name}: F"), "open");
        stored(&mut rts, e)
            .await
            .assert_done(&format!("{name}: E closed again"), "closed");
    })
    .await;
}

/// A raw RESP connection: the tests check bytes, pushes included.
struct Raw(TcpStream);

impl Raw {
    async fn connect(h: &Harness) -> Raw {
        let addr = h.service.resp_addr.expect("the harness listens on resp");
        Raw(TcpStream::connect(addr).await.expect("tcp connect"))
    }

    /// Sends one command and reads its reply: until `done` says the bytes are complete.
    async fn command<S: AsRef<[u8]>>(
        &mut self,
        args: &[S],
        done: impl Fn(&[u8]) -> bool,
    ) -> String {
        self.0.write_all(&resp_encode(args)).await.expect("send");
        let mut out = Vec::new();
        let mut chunk = [0u8; 16 * 1024];
        while !done(&out) {
            let read = tokio::time::timeout(Duration::from_secs(10), self.0.read(&mut chunk))
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "no complete reply in time: {:?}",
                        String::from_utf8_lossy(&out)
                    )
                })
                .expect("read");
            assert!(read > 0, "the gateway closed the connection");
            out.extend_from_slice(&chunk[..read]);
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// A command whose reply is one line (`:3`, `+OK`, `-ERR ...`), after `push_lines` lines
    /// of pushes: what arrives until that many lines are complete.
    async fn line_reply<S: AsRef<[u8]>>(&mut self, args: &[S], push_lines: usize) -> String {
        let lines = push_lines + 1;
        self.command(args, |bytes| {
            bytes.iter().filter(|b| **b == b'\n').count() >= lines
        })
        .await
    }
}

/// Lines of a stale push: `>3`, `$5`, `stale`, `$<len>`, the key, `:<seq>`.
const STALE_PUSH_LINES: usize = 6;

/// The RESP command a terminal sends for one batch entry of T1.
fn resp_command(update: Value) -> Vec<String> {
    let batch = parse_batch(batch("T1", vec![update]).as_bytes()).expect("valid update");
    resp_args("T1", SIGNAL_STREAM, &batch.updates[0])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_over_resp_closes_and_cancels() {
    on_each_target(defaults, async |h, name| {
        let mut rts = h.engine(Partition::Rts).await;
        let mut raw = Raw::connect(h).await;
        assert_eq!(
            raw.line_reply(&["AUTH", "T1", token("T1")], 0).await,
            "+OK\r\n"
        );
        for update in [
            position(1, "8000000001", false),
            order(2, "8000000002", "sell_limit", "pending"),
        ] {
            let reply = raw.line_reply(&resp_command(update), 0).await;
            assert!(
                reply.starts_with(':') && reply != ":0\r\n",
                "{name}: {reply}"
            );
        }
        let command = resp_command(snapshot(3, ""));
        assert_eq!(command[1], "rts:{T1}:positions");
        assert_eq!(raw.line_reply(&command, 0).await, ":3\r\n", "{name}");
        let closed = stored(&mut rts, "8000000001").await;
        closed.assert_done(&format!("{name}: position"), "closed");
        assert_eq!(closed.get("closed_by"), Some("snapshot"), "{name}");
        let cancelled = stored(&mut rts, "8000000002").await;
        cancelled.assert_done(&format!("{name}: order"), "cancelled");
        // A RESP2 client gets only `:0` for a repeated snapshot: no push.
        assert_eq!(raw.line_reply(&command, 0).await, ":0\r\n", "{name}");
        // Another terminal's snapshot key is not this terminal's to write.
        let reply = raw
            .line_reply(
                &[
                    "HSET",
                    "rts:{T2}:positions",
                    "seq",
                    "9",
                    "time_msc",
                    "1763000050000",
                    "tickets",
                    "",
                ],
                0,
            )
            .await;
        assert!(reply.starts_with("-NOPERM"), "{name}: {reply}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_hset_from_a_resp3_client_is_pushed_before_its_reply() {
    on_each_target(defaults, async |h, name| {
        let mut raw = Raw::connect(h).await;
        // HELLO's reply is a map; PING's `+PONG` after it says it has all arrived.
        raw.0
            .write_all(&resp_encode(&["HELLO", "3", "AUTH", "T1", token("T1")]))
            .await
            .expect("send");
        raw.command(&["PING"], |bytes| bytes.ends_with(b"+PONG\r\n"))
            .await;

        let ticket = "9000000001";
        let newer = resp_command(position(5, ticket, false));
        let pairs = (newer.len() - 2) / 2;
        assert_eq!(
            raw.line_reply(&newer, 0).await,
            format!(":{pairs}\r\n"),
            "{name}"
        );
        // Older than what is stored: the push names the key and the stored seq, then `:0`.
        let older = resp_command(position(4, ticket, false));
        let reply = raw.line_reply(&older, STALE_PUSH_LINES).await;
        assert_eq!(
            reply,
            format!(">3\r\n$5\r\nstale\r\n$19\r\nrts:{{T1}}:{ticket}\r\n:5\r\n:0\r\n"),
            "{name}"
        );
        // The same seq again is a duplicate, not stale: `:0` alone.
        assert_eq!(raw.line_reply(&newer, 0).await, ":0\r\n", "{name}");
        // Snapshots too: their own key and seq.
        let snapshot_command = resp_command(snapshot(8, ticket));
        assert_eq!(raw.line_reply(&snapshot_command, 0).await, ":3\r\n");
        let reply = raw
            .line_reply(&resp_command(snapshot(7, "")), STALE_PUSH_LINES)
            .await;
        assert_eq!(
            reply, ">3\r\n$5\r\nstale\r\n$18\r\nrts:{T1}:positions\r\n:8\r\n:0\r\n",
            "{name}"
        );

        // The same write from a RESP2 client: no push.
        let mut resp2 = Raw::connect(h).await;
        assert_eq!(
            resp2.line_reply(&["AUTH", "T1", token("T1")], 0).await,
            "+OK\r\n"
        );
        assert_eq!(resp2.line_reply(&older, 0).await, ":0\r\n", "{name}");
    })
    .await;
}
