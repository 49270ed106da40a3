//! loadgen against the real service (embedded engines, real sockets): a short mixed HTTP/RESP
//! run verifies with nothing lost, and the verifier catches acknowledged data deleted mid-run.

mod common;

use std::time::Duration;

use common::{engine_url, passed, summary};
use tradestate_gateway::ops::Partition;
use tradestate_gateway::service::Service;
use tradestate_loadgen::{run, Options};

const DATA_PREFIX: &str = "tradestate-loadgen-e2e";

async fn start_service() -> Service {
    common::start_service_with(DATA_PREFIX, |_| {}).await
}

/// `terminals` terminals sending `rate` updates/s for `seconds`, with a reconnect storm at 1.5 s.
fn options(service: &Service, terminals: usize, rate: f64, seconds: u64) -> Options {
    Options {
        terminals,
        rate: Some(rate),
        duration: Duration::from_secs(seconds),
        seed: 42,
        storm_at: Some(Duration::from_millis(1500)),
        ..common::options(service, "e2e")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_run_loses_nothing() {
    let service = start_service().await;
    let report = run(&options(&service, 40, 600.0, 4)).await.expect("run");
    let v = passed(&report);
    assert!(report.acked > 1_500, "{}", summary(&report));
    assert_eq!(v.acked, report.acked, "{}", summary(&report));
    assert_eq!(report.acked_by_ledgers, report.acked);
    // Every partition was up: nothing was spilled, so nothing to wait for.
    let drain = report
        .spill_drain
        .clone()
        .expect("the read-back waits for the spill log");
    assert!(drain.drained, "{}", summary(&report));
    assert!(
        report.reconnects >= 40,
        "the storm reconnects every terminal"
    );
    for kind in ["instance", "trade", "signal"] {
        for via in ["http", "resp"] {
            assert!(
                report
                    .rows
                    .iter()
                    .any(|r| r.kind == kind && r.transport == via && r.acked > 0),
                "no {kind} updates over {via}: {}",
                summary(&report)
            );
        }
    }
    service.stop().await;
}

/// Deletes closed trades and the signal stream while terminals are sending: acknowledged data
/// vanishes, and the verification must say so and fail the run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_verifier_catches_acknowledged_data_deleted_mid_run() {
    let service = start_service().await;
    let rts = engine_url(&service, Partition::Rts);
    let rtss = engine_url(&service, Partition::Rtss);
    let vandal = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let mut rts = redis::Client::open(rts)
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let mut rtss = redis::Client::open(rtss)
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg("rts:{e2e-*}:[0-9]*")
            .query_async(&mut rts)
            .await
            .unwrap();
        let mut deleted = 0;
        for key in keys {
            let state: Option<String> = redis::cmd("HGET")
                .arg(&key)
                .arg("state")
                .query_async(&mut rts)
                .await
                .unwrap();
            if state.as_deref() == Some("closed") {
                let _: i64 = redis::cmd("DEL")
                    .arg(&key)
                    .query_async(&mut rts)
                    .await
                    .unwrap();
                deleted += 1;
            }
        }
        let _: i64 = redis::cmd("DEL")
            .arg("rtss:signals")
            .query_async(&mut rtss)
            .await
            .unwrap();
        deleted
    });
    let report = run(&options(&service, 20, 300.0, 4)).await.expect("run");
    let deleted = vandal.await.unwrap();
    assert!(deleted > 0, "no closed trade existed to delete");
    let v = report.verification.clone().expect("verified");
    assert!(v.lost > deleted as u64, "{}", summary(&report));
    assert!(!v.passed());
    assert!(report.failed());
    assert!(
        v.problems.iter().any(|p| p.contains("missing")),
        "{:?}",
        v.problems
    );
    assert!(v.lost_signals > 0, "{}", summary(&report));
    service.stop().await;
}

/// Terminals over their quota get 429 / -TRYAGAIN with a wait; they resend after it, as the EA
/// does, and in the end everything acknowledged is there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_terminals_resend_after_retry_after_and_lose_nothing() {
    let service = common::start_service_with(DATA_PREFIX, |config| {
        config.limits.per_terminal_rate = 20;
        config.limits.per_terminal_burst = 20;
    })
    .await;
    let report = run(&options(&service, 10, 600.0, 3)).await.expect("run");
    passed(&report);
    assert!(report.retries.throttled > 0, "{}", summary(&report));
    assert!(report.acked > 500, "{}", summary(&report));
    service.stop().await;
}

/// Two gateways on one set of engines (both write a third service's embedded engines by their
/// ports, as two gateways share URL backends), terminals split between them and moving to the
/// other one at every reconnect, the storm included: nothing acknowledged is lost, and both
/// gateways carried traffic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminals_moving_between_two_gateways_lose_nothing() {
    let engines = start_service().await;
    let urls = Partition::ALL.map(|p| engine_url(&engines, p));
    let on_engines = |config: &mut tradestate_config::Config| {
        for (partition, url) in Partition::ALL.iter().zip(&urls) {
            config.partitions.get_mut(partition.name()).unwrap().backend =
                tradestate_config::Backend::Url(url.clone());
        }
    };
    let first = common::start_service_with(DATA_PREFIX, on_engines).await;
    let second = common::start_service_with(DATA_PREFIX, on_engines).await;
    let report = run(&Options {
        endpoints: vec![common::endpoint(&first), common::endpoint(&second)],
        ..options(&engines, 40, 600.0, 4)
    })
    .await
    .expect("run");
    let v = passed(&report);
    assert_eq!(v.acked, report.acked, "{}", summary(&report));
    assert!(report.reconnects >= 40, "{}", summary(&report));
    for service in [&first, &second] {
        let metrics = reqwest::get(format!("http://{}/metrics", service.http_addr))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text");
        assert!(
            metrics
                .lines()
                .any(|l| l.starts_with("tradestate_ingest_total")
                    && l.contains("outcome=\"stored\"")),
            "a gateway took no traffic:\n{metrics}"
        );
    }
    second.stop().await;
    first.stop().await;
    engines.stop().await;
}
