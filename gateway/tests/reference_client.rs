//! The mt5-bridge reference client against the real service, over HTTP and RESP: updates sent
//! while the gateway is stopped and started again on the same ports (and while the client itself
//! is dropped and reopened from its queue folder) are all stored, each state with its latest
//! `seq` and each signal exactly once.
//!
//! The engines are started by the test and given to the service as `redis://` URLs, so they keep
//! their data while the gateway restarts (embedded engines stop with the service).

mod common;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use common::*;
use tradestate_config::{Backend, Config};
use tradestate_engine::EngineHandle;
use tradestate_gateway::service::Service;
use tradestate_mt5_bridge::client::{Client, ClientConfig, ClientError, Endpoint, Outcome};
use tradestate_mt5_bridge::{
    InstanceState, PositionType, SignalAction, TradeSignal, TradeState, TradeStatus, Update,
};

const ID: &str = "T1";

/// Three engines outside the service, and the one data_dir every service of a test uses (so a
/// restarted service replays what the stopped one spooled, as in production).
struct Engines(Vec<EngineHandle>, std::path::PathBuf);

impl Engines {
    fn start() -> Engines {
        Engines(
            ["ris", "rts", "rtss"]
                .iter()
                .map(|name| {
                    let mut config = tradestate_engine::Config::default();
                    config.set("bind", "127.0.0.1", false).expect("bind");
                    config.set("port", "0", false).expect("port");
                    tradestate_engine::start(&format!("{name}-test"), config)
                        .expect("engine starts")
                })
                .collect(),
            temp_data_dir(),
        )
    }

    fn config(&self, listen: Option<(SocketAddr, SocketAddr)>) -> Config {
        let mut config = test_config(&Target::Embedded);
        config.data_dir = self.1.clone();
        for (engine, name) in self.0.iter().zip(["ris", "rts", "rtss"]) {
            config.partitions.get_mut(name).expect("partition").backend =
                Backend::Url(format!("redis://127.0.0.1:{}", engine.port()));
        }
        if let Some((http, resp)) = listen {
            config.listen.http = http;
            config.listen.resp = Some(resp);
        }
        config
    }

    async fn connection(&self, index: usize) -> redis::aio::MultiplexedConnection {
        redis::Client::open(format!("redis://127.0.0.1:{}", self.0[index].port()))
            .expect("url")
            .get_multiplexed_async_connection()
            .await
            .expect("engine connection")
    }

    async fn shutdown(self) {
        let _ = std::fs::remove_dir_all(&self.1);
        for engine in self.0 {
            tokio::task::spawn_blocking(move || engine.shutdown())
                .await
                .expect("engine stops");
        }
    }
}

/// What the client was asked to send, to check the engines against.
#[derive(Default)]
struct Expected {
    instance_seq: u64,
    trades: BTreeMap<String, (u64, TradeStatus)>,
    signals: Vec<String>,
}

/// The `n`-th update of a deterministic mix: heartbeats, five tickets (closed at the end of
/// each round of ten), and signals.
fn update(n: u64) -> Update {
    let time = 1_763_000_000_000i64 + n as i64;
    match n % 3 {
        0 => Update::Instance(InstanceState {
            seq: 0,
            time_msc: time,
            login: 5_001_234,
            server: "Broker-Demo".into(),
            company: None,
            currency: "USD".into(),
            leverage: 100,
            balance: 10_000.0 + n as f64,
            credit: 0.0,
            equity: 10_000.5,
            profit: 0.5,
            margin: 10.0,
            margin_free: 9_990.5,
            margin_level: 100_005.0,
            connected: true,
            trade_allowed: true,
            ping_us: 1_000 + n,
            build: 4_755,
            positions: 5,
            orders: 0,
            ea_version: Some("test".into()),
        }),
        1 => {
            let closed = n % 10 == 7;
            Update::Trade(TradeState {
                seq: 0,
                ticket: format!("{}", 1_000 + n % 5),
                time_msc: 1_763_000_000_000,
                time_update_msc: time,
                symbol: "EURUSD".into(),
                r#type: PositionType::Buy,
                volume: 0.1,
                price_open: 1.1,
                price_current: 1.1 + n as f64 / 100_000.0,
                sl: 0.0,
                tp: 0.0,
                profit: n as f64 / 10.0,
                swap: 0.0,
                commission: -0.7,
                magic: 42,
                comment: None,
                state: if closed {
                    TradeStatus::Closed
                } else {
                    TradeStatus::Open
                },
                time_close_msc: closed.then_some(time),
                price_close: closed.then_some(1.1),
            })
        }
        _ => Update::Signal(TradeSignal {
            seq: 0,
            signal_id: format!("sig-{n}"),
            time_msc: time,
            strategy: "trend".into(),
            symbol: "EURUSD".into(),
            action: SignalAction::Buy,
            volume: Some(0.1),
            price: None,
            sl: None,
            tp: None,
            magic: None,
            comment: None,
        }),
    }
}

fn enqueue(client: &mut Client, expected: &mut Expected, range: std::ops::Range<u64>) {
    for n in range {
        let update = update(n);
        let seq = client.enqueue(update.clone()).expect("enqueued");
        match update {
            Update::Instance(_) => expected.instance_seq = seq,
            Update::Trade(trade) => {
                expected.trades.insert(trade.ticket, (seq, trade.state));
            }
            Update::Signal(signal) => expected.signals.push(signal.signal_id),
            // `update` makes none; a snapshot would only be checked by tests/orders.rs.
            Update::Positions(_) => {}
        }
    }
}

fn client_config(transport: Endpoint, dir: &Path) -> ClientConfig {
    let mut config = ClientConfig::new(transport, ID, token(ID));
    config.batch_max = 7;
    config.queue_dir = Some(dir.to_path_buf());
    config.backoff_base = Duration::from_millis(20);
    config.backoff_max = Duration::from_millis(200);
    config.request_timeout = Duration::from_secs(3);
    config
}

fn transport(kind: &str, http: SocketAddr, resp: SocketAddr) -> Endpoint {
    match kind {
        "http" => Endpoint::Http {
            base_url: format!("http://{http}"),
        },
        _ => Endpoint::Resp {
            addr: resp.to_string(),
        },
    }
}

async fn check_engines(engines: &Engines, what: &str, expected: &Expected) {
    let mut ris = engines.connection(0).await;
    let stored = hash(&mut ris, &format!("ris:{{{ID}}}")).await;
    assert_eq!(
        stored.get("seq"),
        Some(&expected.instance_seq.to_string()),
        "{what}: instance state"
    );
    let mut rts = engines.connection(1).await;
    for (ticket, (seq, state)) in &expected.trades {
        let stored = hash(&mut rts, &format!("rts:{{{ID}}}:{ticket}")).await;
        assert_eq!(
            stored.get("seq"),
            Some(&seq.to_string()),
            "{what}: {ticket}"
        );
        assert_eq!(
            stored.get("state").map(String::as_str),
            Some(state.as_str()),
            "{what}: {ticket}"
        );
    }
    let mut rtss = engines.connection(2).await;
    let entries: Vec<(String, HashMap<String, String>)> =
        query(&mut rtss, &["XRANGE", "rtss:signals", "-", "+"]).await;
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for (_, fields) in &entries {
        *counts
            .entry(fields.get("signal_id").cloned().unwrap_or_default())
            .or_default() += 1;
    }
    for id in &expected.signals {
        assert_eq!(counts.get(id), Some(&1), "{what}: signal {id} stored once");
    }
    assert_eq!(
        entries.len(),
        expected.signals.len(),
        "{what}: no extra entries"
    );
}

async fn survives_a_restart(kind: &str) {
    let engines = Engines::start();
    let service = Service::start(engines.config(None))
        .await
        .expect("service starts");
    let http = service.http_addr;
    let resp = service.resp_addr.expect("resp listener");
    let dir = std::env::temp_dir().join(format!(
        "tradestate-reference-client-{kind}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let mut expected = Expected::default();

    // 1. Normal operation.
    let mut client = Client::new(client_config(transport(kind, http, resp), &dir)).expect("client");
    enqueue(&mut client, &mut expected, 0..40);
    let report = client.flush().await.expect("first flush");
    assert!(
        report
            .outcomes
            .iter()
            .all(|o| o.outcome != Outcome::Stale && !matches!(o.outcome, Outcome::Invalid(_))),
        "{report:?}"
    );

    // 2. The gateway stops; the client cannot deliver and gives up for now, keeping its queue.
    service.stop().await;
    enqueue(&mut client, &mut expected, 40..80);
    let mut config = client_config(transport(kind, http, resp), &dir);
    config.give_up_after = Some(Duration::from_millis(300));
    drop(client);
    let mut client = Client::new(config).expect("client reopens its queue");
    // Queued states coalesce per key: one heartbeat, one per ticket, every signal.
    let tickets: std::collections::BTreeSet<u64> =
        (40..80).filter(|n| n % 3 == 1).map(|n| n % 5).collect();
    let signals = (40..80).filter(|n| n % 3 == 2).count();
    assert_eq!(
        client.pending(),
        1 + tickets.len() + signals,
        "queue after reopen"
    );
    match client.flush().await {
        Err(ClientError::GaveUp { .. }) => {}
        other => panic!("expected GaveUp while the gateway is down, got {other:?}"),
    }

    // 3. The terminal restarts too: a new client from the same folder, more updates, and the
    //    gateway comes back on the same ports while it retries.
    drop(client);
    let mut client = Client::new(client_config(transport(kind, http, resp), &dir)).expect("client");
    enqueue(&mut client, &mut expected, 80..120);
    let restart = tokio::spawn({
        let config = engines.config(Some((http, resp)));
        async move {
            tokio::time::sleep(Duration::from_millis(250)).await;
            Service::start(config)
                .await
                .expect("service restarts on its ports")
        }
    });
    let report = client.flush().await.expect("flush after the restart");
    assert!(report.retries > 0, "{report:?}");
    let service = restart.await.expect("restart task");

    // 4. A restart in the middle of a flush.
    enqueue(&mut client, &mut expected, 120..400);
    let flushing = tokio::spawn(async move {
        let report = client.flush().await;
        (client, report)
    });
    tokio::time::sleep(Duration::from_millis(15)).await;
    service.stop().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let service = Service::start(engines.config(Some((http, resp))))
        .await
        .expect("service restarts on its ports");
    let (client, report) = flushing.await.expect("flush task");
    report.expect("flush across the restart");
    assert_eq!(client.pending(), 0);
    // What the stopped service answered `spooled` (in flight when it stopped) is written by
    // this one from the spill they share.
    let started = std::time::Instant::now();
    while service
        .gateway
        .spills
        .iter()
        .flatten()
        .any(|spill| spill.snapshot().records > 0)
    {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "spill not drained"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    check_engines(&engines, kind, &expected).await;
    service.stop().await;
    engines.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_client_loses_and_duplicates_nothing_across_restarts() {
    survives_a_restart("http").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resp_client_loses_and_duplicates_nothing_across_restarts() {
    survives_a_restart("resp").await;
}
