//! The situations a trader's terminal meets every week, played by the reference client (the
//! MQL5 library's state machine and files, `mt5-bridge/CLIENT.md`) against the real service:
//! a reinstall that resets the numbering, two programs reporting as one id, closes missed while
//! the terminal was off, requests the gateway refuses, a partition that is down, an account
//! switch, signals the contract refuses, queue files of another library version, and closed
//! positions of a netting account. Each ends with the engines holding what the terminal holds.
//! A "restart" is a new client over the same lane folder, as the EA's re-init is.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use tradestate_gateway::ops::Partition;
use tradestate_mt5_bridge::client::queue::clock_floor;
use tradestate_mt5_bridge::client::{Client, ClientConfig, ClientError, Endpoint, Outcome};
use tradestate_mt5_bridge::{
    InstanceState, PositionType, PositionsSnapshot, TradeSignal, TradeState, Update,
};

const ID: &str = "T1";

fn lane_dir(name: &str) -> PathBuf {
    temp_data_dir().join(name)
}

fn config(h: &Harness, transport: &str, dir: &Path, lane: &str) -> ClientConfig {
    let transport = match transport {
        "http" => Endpoint::Http {
            base_url: h.base.clone(),
        },
        _ => Endpoint::Resp {
            addr: h.service.resp_addr.expect("resp listener").to_string(),
        },
    };
    let mut config = ClientConfig::new(transport, ID, token(ID));
    config.lane = lane.to_owned();
    config.queue_dir = Some(dir.to_path_buf());
    config.backoff_base = Duration::from_millis(20);
    config.backoff_max = Duration::from_millis(200);
    config.request_timeout = Duration::from_secs(5);
    config.give_up_after = Some(Duration::from_secs(20));
    config
}

/// A sample message of the contract (`mt5-bridge/fixtures/valid/<name>.json`).
fn sample<T: serde::de::DeserializeOwned>(name: &str) -> T {
    let path = tradestate_mt5_bridge::fixtures_dir().join(format!("valid/{name}.json"));
    serde_json::from_slice(&std::fs::read(&path).expect("fixture")).expect("fixture parses")
}

fn instance(balance: f64) -> Update {
    let mut state: InstanceState = sample("instance_state");
    state.balance = balance;
    Update::Instance(state)
}

fn trade(ticket: &str, price: f64, closed: bool) -> TradeState {
    let mut trade: TradeState = sample(if closed { "trade_closed" } else { "trade_open" });
    trade.ticket = ticket.into();
    trade.r#type = PositionType::Buy;
    trade.volume = 0.1;
    trade.price_open = 1.1;
    trade.price_current = price;
    trade.comment = None;
    if closed {
        trade.price_close = Some(price);
    }
    trade
}

fn signal(signal_id: &str) -> TradeSignal {
    let mut signal: TradeSignal = sample("signal");
    signal.signal_id = signal_id.into();
    signal.volume = Some(0.1);
    signal
}

async fn flush(client: &mut Client) -> tradestate_mt5_bridge::client::FlushReport {
    match client.flush().await {
        Ok(report) => report,
        Err(e) => panic!("flush: {e}"),
    }
}

async fn trade_hash(h: &Harness, ticket: &str) -> std::collections::HashMap<String, String> {
    hash(
        &mut h.engine(Partition::Rts).await,
        &format!("rts:{{{ID}}}:{ticket}"),
    )
    .await
}

/// The `signal_id`s of the terminal's entries in the signal stream, in stream order.
async fn stream_signal_ids(h: &Harness) -> Vec<String> {
    let entries: Vec<(String, Vec<String>)> = query(
        &mut h.engine(Partition::Rtss).await,
        &["XRANGE", "rtss:signals", "-", "+"],
    )
    .await;
    entries
        .into_iter()
        .filter_map(|(_, fields)| {
            let at = fields.iter().position(|f| f == "signal_id")?;
            fields.get(at + 1).cloned()
        })
        .collect()
}

/// A reinstall (empty lane folder) whose clock is behind the numbering the gateway
/// holds: every state comes back stale; the client jumps past `stored_seq`, queues the state
/// again and asks for a full snapshot, so the position still updates and closes.
async fn reset_seq_case(transport: &str) {
    let h = start(&Target::Embedded, |_| {}).await;
    let old_dir = lane_dir("old-install");
    let mut old = config(&h, transport, &old_dir, "main");
    // The old install numbered far ahead of today's clock floor (a clock set ahead).
    old.first_seq = clock_floor() + 10_000_000_000_000;
    let mut old = Client::new(old).expect("old install");
    old.enqueue(instance(1_000.0)).unwrap();
    old.enqueue(Update::Trade(trade("501", 1.1, false)))
        .unwrap();
    flush(&mut old).await;
    let ahead = old.next_seq();
    drop(old);

    let mut new =
        Client::new(config(&h, transport, &lane_dir("new-install"), "main")).expect("new install");
    assert!(new.next_seq() < ahead, "the new install starts behind");
    new.enqueue(instance(2_000.0)).unwrap();
    new.enqueue(Update::Trade(trade("501", 1.2, false)))
        .unwrap();
    let report = flush(&mut new).await;
    let renumbered = report
        .outcomes
        .iter()
        .filter(|o| matches!(o.outcome, Outcome::Renumbered { .. }))
        .count();
    assert!(renumbered >= 1, "{transport}: {report:?}");
    assert!(new.take_resync(), "{transport}: a resync is asked for");
    assert!(
        new.next_seq() > ahead,
        "{transport}: numbering jumped past the gateway's"
    );
    assert_eq!(
        trade_hash(&h, "501").await["price_current"],
        "1.2",
        "{transport}"
    );
    let ris = hash(
        &mut h.engine(Partition::Ris).await,
        &format!("ris:{{{ID}}}"),
    )
    .await;
    assert_eq!(ris["balance"], "2000", "{transport}");

    // The terminal closes the position: the gateway closes it.
    new.enqueue(Update::Trade(trade("501", 1.25, true)))
        .unwrap();
    let report = flush(&mut new).await;
    assert!(
        report.outcomes.iter().all(|o| o.outcome == Outcome::Stored),
        "{transport}: {report:?}"
    );
    let stored = trade_hash(&h, "501").await;
    assert_eq!(stored["state"], "closed", "{transport}");
    assert_eq!(stored["price_close"], "1.25", "{transport}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_seq_recovers_by_itself_over_http() {
    reset_seq_case("http").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_seq_recovers_by_itself_over_resp() {
    reset_seq_case("resp").await;
}

/// While the partition is down: the close of a reinstalled terminal (numbering behind
/// the gateway's) is answered `spooled`, then dropped as stale when the gateway writes it. The
/// terminal's next reply tells it to renumber (`renumber_above`); its resync re-sends the close.
async fn spooled_reset_case(transport: &str) {
    let h = start(&Target::Embedded, |c| {
        allow_debug_command(c);
        c.spill.after_ms = 50;
    })
    .await;
    let mut old = config(&h, transport, &lane_dir("old-install"), "main");
    old.first_seq = clock_floor() + 10_000_000_000_000;
    let mut old = Client::new(old).expect("old install");
    old.enqueue(Update::Trade(trade("901", 1.1, false)))
        .unwrap();
    flush(&mut old).await;
    let ahead = old.next_seq();
    drop(old);

    let mut new = Client::new(config(&h, transport, &lane_dir("new-install"), "main")).unwrap();
    let stall = stall_engine(&h, Partition::Rts, 2.0).await;
    // A new position first: its seq is not cached, so the writer waits on the stalled engine,
    // fails, and forgets what it cached; the close behind it is spooled unchecked.
    new.enqueue(Update::Trade(trade("902", 1.3, false)))
        .unwrap();
    let close_seq = new.enqueue(Update::Trade(trade("901", 1.3, true))).unwrap();
    let report = flush(&mut new).await;
    // Over RESP a spooled HSET answers as a stored one.
    let close = report.outcomes.iter().find(|o| o.seq == close_seq);
    let spooled = if transport == "http" {
        Outcome::Spooled
    } else {
        Outcome::Stored
    };
    assert_eq!(
        close.map(|o| &o.outcome),
        Some(&spooled),
        "{transport}: {report:?}"
    );
    stall.await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while !new.take_resync() {
        assert!(
            std::time::Instant::now() < deadline,
            "{transport}: no renumber hint after the replay"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        new.enqueue(instance(1_000.0)).unwrap();
        flush(&mut new).await;
    }
    assert!(
        new.next_seq() >= ahead,
        "{transport}: numbering jumped past the gateway's"
    );
    assert_eq!(trade_hash(&h, "901").await["state"], "open", "{transport}");
    // The resync re-sends the closes of the lookback window.
    new.enqueue(Update::Trade(trade("901", 1.3, true))).unwrap();
    flush(&mut new).await;
    let stored = trade_hash(&h, "901").await;
    assert_eq!(stored["state"], "closed", "{transport}: {stored:?}");
    assert_eq!(stored["price_close"], "1.3", "{transport}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_seq_spooled_during_an_outage_recovers_over_http() {
    spooled_reset_case("http").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_seq_spooled_during_an_outage_recovers_over_resp() {
    spooled_reset_case("resp").await;
}

/// The reporter and a strategy program share the instance id: their files, seqs and
/// automatic signal ids do not collide; a second copy of one lane is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_programs_with_one_instance_id_lose_no_signal() {
    let h = start(&Target::Embedded, |_| {}).await;
    let dir = lane_dir("shared-folder");
    let mut reporter = Client::new(config(&h, "http", &dir, "TradestateReporter")).unwrap();
    let mut strategy = Client::new(config(&h, "resp", &dir, "trend-eu")).unwrap();
    match Client::new(config(&h, "http", &dir, "trend-eu")) {
        Err(ClientError::LaneInUse(message)) => assert!(message.contains("trend-eu"), "{message}"),
        Err(e) => panic!("a second copy of a lane: {e}"),
        Ok(_) => panic!("a second copy of a lane was allowed to start"),
    }
    for _ in 0..5 {
        reporter.enqueue(Update::Signal(signal(""))).unwrap();
        strategy.enqueue(Update::Signal(signal(""))).unwrap();
    }
    let mut outcomes = flush(&mut reporter).await.outcomes;
    outcomes.extend(flush(&mut strategy).await.outcomes);
    assert_eq!(outcomes.len(), 10);
    assert!(
        outcomes.iter().all(|o| o.outcome == Outcome::Stored),
        "{outcomes:?}"
    );
    let ids = stream_signal_ids(&h).await;
    assert_eq!(ids.len(), 10, "{ids:?}");
    assert_eq!(ids.iter().filter(|i| i.starts_with("trend-eu:")).count(), 5);
    assert_eq!(
        ids.iter()
            .filter(|i| i.starts_with("TradestateReporter:"))
            .count(),
        5
    );
    h.stop().await;
}

/// A position closed while the terminal was off. The lane remembers what it reported
/// open; after the restart the missing ticket's close is reported from the history.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_missed_while_off_is_reported_after_the_restart() {
    let h = start(&Target::Embedded, |_| {}).await;
    let dir = lane_dir("weekend");
    let mut client = Client::new(config(&h, "http", &dir, "main")).unwrap();
    client
        .enqueue(Update::Trade(trade("601", 1.1, false)))
        .unwrap();
    client
        .enqueue(Update::Trade(trade("602", 1.1, false)))
        .unwrap();
    flush(&mut client).await;
    drop(client);

    // The weekend: 601 was closed by its stop loss while the terminal was off.
    let mut client = Client::new(config(&h, "http", &dir, "main")).unwrap();
    let reported: Vec<&String> = client.open_tickets().keys().collect();
    assert_eq!(reported, ["601", "602"]);
    let missing = client.missing_closes(["602"]);
    assert_eq!(missing, ["601"]);
    for ticket in missing {
        client
            .enqueue(Update::Trade(trade(&ticket, 1.05, true)))
            .unwrap();
    }
    flush(&mut client).await;
    let stored = trade_hash(&h, "601").await;
    assert_eq!(stored["state"], "closed");
    let ttl: i64 = query(
        &mut h.engine(Partition::Rts).await,
        &["TTL", "rts:{T1}:601"],
    )
    .await;
    assert!(ttl > 0, "a closed trade expires");
    let open: Vec<String> = query(
        &mut h.engine(Partition::Rts).await,
        &["SMEMBERS", "rts:{T1}:open"],
    )
    .await;
    assert_eq!(open, ["602"]);
    drop(client);
    let mut client = Client::new(config(&h, "http", &dir, "main")).unwrap();
    assert_eq!(client.missing_closes(["602"]), Vec::<String>::new());

    // 602 closes too, but its deals are not in the history yet: the terminal's snapshot of what
    // it holds (nothing) closes it on the gateway; the real close, once found, replaces that.
    client
        .enqueue(Update::Positions(PositionsSnapshot {
            seq: 0,
            time_msc: 1_765_000_200_000,
            tickets: String::new(),
        }))
        .unwrap();
    flush(&mut client).await;
    let stored = trade_hash(&h, "602").await;
    assert_eq!(stored["state"], "closed", "{stored:?}");
    assert_eq!(stored["closed_by"], "snapshot", "{stored:?}");
    assert_eq!(stored["time_close_msc"], "1765000200000", "{stored:?}");
    client
        .enqueue(Update::Trade(trade("602", 1.15, true)))
        .unwrap();
    let report = flush(&mut client).await;
    assert_eq!(report.outcomes[0].outcome, Outcome::Stored, "{report:?}");
    let stored = trade_hash(&h, "602").await;
    assert_eq!(stored["price_close"], "1.15", "{stored:?}");
    assert!(!stored.contains_key("closed_by"), "{stored:?}");
    h.stop().await;
}

/// A gateway that takes fewer updates per request than the client batches, an update
/// an older library queued that the gateway refuses, and a torn line: the batch is split, the
/// bad update goes to the dead-letter file, everything else is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_request_never_blocks_the_queue() {
    let h = start(&Target::Embedded, |c| c.limits.max_batch_updates = 7).await;
    let dir = lane_dir("refused");
    let mut client = Client::new(config(&h, "http", &dir, "main")).unwrap();
    for i in 0..40 {
        client
            .enqueue(Update::Signal(signal(&format!("split-{i}"))))
            .unwrap();
    }
    let report = flush(&mut client).await;
    assert_eq!(report.outcomes.len(), 40);
    assert!(report.outcomes.iter().all(|o| o.outcome == Outcome::Stored));
    assert!(report.batches > 6, "{}", report.batches);

    // A number that is not finite never reaches the queue.
    let mut bad = trade("700", 1.1, false);
    bad.profit = f64::NAN;
    assert!(matches!(
        client.enqueue(Update::Trade(bad)),
        Err(ClientError::Invalid(_))
    ));
    assert_eq!(client.pending(), 0);
    drop(client);

    // An older library queued a trade with volume 0 (the gateway refuses it), then a line was
    // torn by a crash; a good update follows each.
    let log = dir.join("T1.main.log");
    let mut text = std::fs::read_to_string(&log).unwrap();
    let mut zero = trade("701", 1.1, false);
    zero.volume = 0.0;
    zero.seq = 1;
    let mut good = trade("702", 1.1, false);
    good.seq = 2;
    text.push_str(&tradestate_mt5_bridge::wire::update_json(&Update::Trade(
        zero,
    )));
    text.push('\n');
    text.push_str(&tradestate_mt5_bridge::wire::update_json(&Update::Trade(
        good,
    )));
    text.push_str("\n{\"kind\":\"trade\",\"seq\":3,\"tick\n");
    std::fs::write(&log, text).unwrap();
    let mut client = Client::new(config(&h, "http", &dir, "main")).unwrap();
    assert_eq!((client.pending(), client.skipped_lines()), (2, 1));
    let report = flush(&mut client).await;
    let invalid: Vec<_> = report
        .outcomes
        .iter()
        .filter(|o| matches!(o.outcome, Outcome::Invalid(_)))
        .collect();
    assert_eq!(invalid.len(), 1, "{report:?}");
    assert_eq!(invalid[0].seq, 1);
    assert_eq!(trade_hash(&h, "702").await["seq"], "2");
    let dead = std::fs::read_to_string(dir.join("T1.main.dead")).unwrap();
    assert_eq!(dead.lines().count(), 2, "{dead}");
    assert!(
        dead.contains("\"ticket\":\"701\"") && dead.contains("volume"),
        "{dead}"
    );
    assert!(dead.contains("unreadable queue line"), "{dead}");
    h.stop().await;
}

/// The signal partition is down (no spill log to take its writes): the heartbeat and
/// the trade queued behind 20 signals are stored anyway, and the signals follow, in order,
/// once the partition is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_down_holds_back_only_its_own_kind() {
    let mut h = start(&Target::Embedded, |c| c.spill.enabled = false).await;
    let port = h.stop_engine(Partition::Rtss).await;

    let dir = lane_dir("rtss-down");
    let mut config = config(&h, "http", &dir, "main");
    config.give_up_after = Some(Duration::from_secs(2));
    let mut client = Client::new(config).unwrap();
    let signals: Vec<String> = (0..20).map(|i| format!("ordered-{i}")).collect();
    for id in &signals {
        client.enqueue(Update::Signal(signal(id))).unwrap();
    }
    client.enqueue(instance(3_000.0)).unwrap();
    client
        .enqueue(Update::Trade(trade("801", 1.1, false)))
        .unwrap();
    let report = match client.flush().await {
        Err(ClientError::GaveUp { report, .. }) => report,
        other => panic!("expected to give up on the signals: {other:?}"),
    };
    let stored: Vec<_> = report.outcomes.iter().map(|o| o.kind).collect();
    assert_eq!(stored.len(), 2, "{report:?}");
    assert_eq!(client.pending(), 20);
    let ris = hash(
        &mut h.engine(Partition::Ris).await,
        &format!("ris:{{{ID}}}"),
    )
    .await;
    assert_eq!(ris["balance"], "3000");
    assert_eq!(trade_hash(&h, "801").await["state"], "open");

    let restarted = restart_engine(&h, "rtss-restarted", port);
    let url = format!("redis://127.0.0.1:{port}");
    let password = h.service.engine_password.as_deref().expect("a password");
    let mut rtss = connect_backend(&tradestate_backend::with_password(&url, password)).await;
    let mut report = None;
    for _ in 0..20 {
        match client.flush().await {
            Ok(done) => {
                report = Some(done);
                break;
            }
            Err(ClientError::GaveUp { .. }) => continue,
            Err(e) => panic!("{e}"),
        }
    }
    assert!(
        report.is_some(),
        "signals not delivered after the partition came back"
    );
    let entries: Vec<(String, Vec<String>)> =
        query(&mut rtss, &["XRANGE", "rtss:signals", "-", "+"]).await;
    let ids: Vec<String> = entries
        .into_iter()
        .filter_map(|(_, f)| {
            f.iter()
                .position(|x| x == "signal_id")
                .map(|i| f[i + 1].clone())
        })
        .collect();
    assert_eq!(ids, signals, "signals in the order they were queued");
    h.stop().await;
    shutdown_engine(restarted).await;
}

/// An instance id bound to one account does not take another account's reports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_id_bound_to_another_login_refuses_to_report() {
    let h = start(&Target::Embedded, |_| {}).await;
    let dir = lane_dir("account-switch");
    let mut first = config(&h, "http", &dir, "main");
    first.login = Some(5_001_234);
    let mut client = Client::new(first.clone()).unwrap();
    client.enqueue(instance(1_000.0)).unwrap();
    flush(&mut client).await;
    drop(client);
    let mut other = first.clone();
    other.login = Some(7_777_777);
    match Client::new(other) {
        Err(ClientError::LoginMismatch(message)) => {
            assert!(
                message.contains("5001234") && message.contains("7777777"),
                "{message}"
            )
        }
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("another account reported into a bound instance id"),
    }
    assert!(
        Client::new(first).is_ok(),
        "the bound account still reports"
    );
    h.stop().await;
}

/// Signals the gateway would refuse are refused when queued, with the gateway's reason;
/// the gateway refuses the same bodies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signals_the_contract_refuses_are_refused_when_queued() {
    let h = start(&Target::Embedded, |_| {}).await;
    let mut client = Client::new(config(&h, "http", &lane_dir("signals"), "main")).unwrap();
    let mut cases = Vec::new();
    let mut s = signal("a");
    s.strategy = String::new();
    cases.push(("empty strategy", s));
    cases.push(("an id with a space", signal("has space")));
    cases.push(("an id over 64 characters", signal(&"x".repeat(65))));
    let mut s = signal("b");
    s.volume = Some(0.0);
    cases.push(("volume 0", s));
    let mut s = signal("c");
    s.price = Some(f64::INFINITY);
    cases.push(("an infinite price", s));
    for (what, s) in cases {
        let update = Update::Signal(s);
        match client.enqueue(update.clone()) {
            Err(ClientError::Invalid(reason)) => assert!(!reason.is_empty(), "{what}"),
            other => panic!("{what}: {other:?}"),
        }
        if what != "an infinite price" {
            let body = tradestate_mt5_bridge::wire::batch_json(Some(ID), &[update]);
            let response = h.post_as(ID, "/v1/ingest", body).await;
            assert_eq!(response.status(), 400, "{what}: the gateway refuses it too");
        }
    }
    assert_eq!(client.pending(), 0);
    client.enqueue(Update::Signal(signal("fine"))).unwrap();
    let report = flush(&mut client).await;
    assert_eq!(report.outcomes.len(), 1);
    assert_eq!(stream_signal_ids(&h).await, ["fine"]);
    h.stop().await;
}

/// A queue log written by another field table (a field this version does not know, an
/// optional field left out) is read; a long queue drains with writes in proportion to it, not
/// to its square.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_log_reads_other_tables_and_drains_with_bounded_writes() {
    let h = start(&Target::Embedded, |_| {}).await;
    let dir = lane_dir("log-format");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("T1.main.log"),
        concat!(
            "{\"tradestate_queue\":2,\"instance_id\":\"T1\",\"lane\":\"main\"}\n",
            "{\"kind\":\"signal\",\"seq\":5,\"signal_id\":\"newer-table\",\"time_msc\":1765000000000,",
            "\"strategy\":\"s\",\"symbol\":\"EURUSD\",\"action\":\"sell\",\"risk_pct\":0.5}\n",
            "{\"kind\":\"signal\",\"seq\":6,\"signal_id\":\"older-table\",\"time_msc\":1765000000000,",
            "\"strategy\":\"s\",\"symbol\":\"EURUSD\",\"action\":\"close\"}\n",
        ),
    )
    .unwrap();
    let mut client = Client::new(config(&h, "http", &dir, "main")).unwrap();
    assert_eq!(client.pending(), 2);
    flush(&mut client).await;
    assert_eq!(stream_signal_ids(&h).await, ["newer-table", "older-table"]);

    let count = 3_000;
    for i in 0..count {
        client
            .enqueue(Update::Signal(signal(&format!("bulk-{i}"))))
            .unwrap();
    }
    let queued_bytes = std::fs::metadata(dir.join("T1.main.log")).unwrap().len();
    let before = client.log_bytes_written();
    let report = flush(&mut client).await;
    assert_eq!(report.outcomes.len(), count);
    let drained = client.log_bytes_written() - before;
    // Rewriting the whole file per batch would write ~queued_bytes * batches / 2 (~15x here).
    assert!(
        drained < queued_bytes * 2,
        "draining {queued_bytes} bytes of queue wrote {drained} bytes"
    );
    h.stop().await;
}

/// A netting account reverses a position (buy 1, then sell 3 closes it and opens a
/// sell 2 under the reversing order's ticket, then buy 2 closes that). Each leg is reported
/// closed with its own type, volume and prices, computed from the deals as the library does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_netting_reversal_is_reported_leg_by_leg() {
    use tradestate_mt5_bridge::history::{closed_from_deals, Deal, DstRule};
    let fixtures: Vec<serde_json::Value> = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../mt5-bridge/fixtures/history/deals.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let case = |name: &str| {
        let case = fixtures
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("fixture {name}"));
        let deals: Vec<Deal> = serde_json::from_value(case["deals"].clone()).unwrap();
        (deals, case["expected"].clone())
    };
    let (deals, first_expected) = case("netting_reversal_first_leg");
    let (_, second_expected) = case("netting_reversal_second_leg");
    let (now_offset, now_utc) = (10_800, 1_719_824_400);
    let close = |deals: &[Deal], ticket: u64| {
        closed_from_deals(deals, ticket, 1301, 5, now_offset, now_utc, DstRule::Us)
            .unwrap_or_else(|e| panic!("leg {ticket}: {e}"))
    };

    let h = start(&Target::Embedded, |_| {}).await;
    let mut client = Client::new(config(&h, "resp", &lane_dir("netting"), "main")).unwrap();
    let mut long = trade("1301", 1.1, false);
    long.volume = 1.0;
    client.enqueue(Update::Trade(long)).unwrap();
    flush(&mut client).await;

    // The reversal: ticket 1301 is gone, 1302 (the reversing order's) is open, short 2 lots.
    let missing = client.missing_closes(["1302"]);
    assert_eq!(missing, ["1301"]);
    client
        .enqueue(Update::Trade(close(&deals[..2], 1301)))
        .unwrap();
    let mut short = trade("1302", 1.105, false);
    short.r#type = PositionType::Sell;
    short.volume = 2.0;
    short.price_open = 1.105;
    client.enqueue(Update::Trade(short)).unwrap();
    flush(&mut client).await;
    // Later the short is bought back.
    assert_eq!(client.missing_closes(Vec::<&str>::new()), ["1302"]);
    client.enqueue(Update::Trade(close(&deals, 1302))).unwrap();
    flush(&mut client).await;

    for (ticket, expected) in [("1301", first_expected), ("1302", second_expected)] {
        let stored = trade_hash(&h, ticket).await;
        for field in ["type", "state", "symbol", "comment"] {
            assert_eq!(
                stored.get(field).map(String::as_str),
                expected[field].as_str().filter(|s| !s.is_empty()),
                "{ticket} {field}: {stored:?}"
            );
        }
        for field in [
            "volume",
            "price_open",
            "price_close",
            "profit",
            "commission",
        ] {
            let value: f64 = stored[field].parse().unwrap();
            assert_eq!(Some(value), expected[field].as_f64(), "{ticket} {field}");
        }
        assert_eq!(
            stored["time_close_msc"],
            expected["time_close_msc"].to_string(),
            "{ticket}"
        );
    }
    assert!(client.open_tickets().is_empty());
    h.stop().await;
}
