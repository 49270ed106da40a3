//! loadgen against the real service (embedded engines, real sockets): a short mixed HTTP/RESP
//! run verifies with nothing lost, and the verifier catches acknowledged data deleted mid-run.

use std::time::Duration;

use tradestate_gateway::ops::Partition;
use tradestate_gateway::service::Service;
use tradestate_loadgen::{run, Credentials, Endpoint, Options, Profile, Report, Targets};

async fn start_service() -> Service {
    start_service_with(|_| {}).await
}

async fn start_service_with(tweak: impl FnOnce(&mut tradestate_config::Config)) -> Service {
    let mut config = tradestate_config::load_from(None, &[]).expect("defaults load");
    config.listen.http = "127.0.0.1:0".parse().unwrap();
    config.listen.resp = Some("127.0.0.1:0".parse().unwrap());
    // Embedded engines persist under data_dir: a fresh one per service.
    sweep_stale_dirs("tradestate-loadgen-e2e");
    config.data_dir = std::env::temp_dir().join(format!(
        "tradestate-loadgen-e2e-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ));
    for name in ["ris", "rts", "rtss"] {
        config.partitions.get_mut(name).unwrap().embedded_port = 0;
    }
    tweak(&mut config);
    // No terminals configured: development mode, token "tradestate-dev" for any id.
    Service::start(config).await.expect("service starts")
}

/// Removes `<prefix>-<pid>-*` directories left in the temp dir by test processes that have
/// exited (a test cannot clean up after the whole run; the next run does), once per process.
fn sweep_stale_dirs(prefix: &str) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(rest) = name.strip_prefix(prefix).and_then(|r| r.strip_prefix('-')) else {
                continue;
            };
            let pid = rest.split('-').next().unwrap_or("");
            if !pid.is_empty() && !std::path::Path::new("/proc").join(pid).exists() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    });
}

fn engine_url(service: &Service, partition: Partition) -> String {
    let port = service.engine(partition).expect("embedded engine").port();
    format!("redis://127.0.0.1:{port}")
}

fn options(service: &Service, terminals: usize, rate: f64, seconds: u64) -> Options {
    Options {
        endpoint: Endpoint {
            http_url: format!("http://{}", service.http_addr),
            resp_addr: service.resp_addr.expect("resp listener").to_string(),
            stream: "rtss:signals".into(),
        },
        credentials: Credentials::Shared {
            id_prefix: "e2e".into(),
            token: "tradestate-dev".into(),
        },
        terminals,
        resp_share: 0.5,
        rate: Some(rate),
        duration: Duration::from_secs(seconds),
        ramp: None,
        seed: 42,
        profile: Profile {
            heartbeat_s: (0.5, 2.0),
            snapshot_every: Duration::from_secs(2),
            reconnect_every: Some(Duration::from_secs(3)),
            ..Profile::default()
        },
        batch_max: 50,
        storm_at: Some(Duration::from_millis(1500)),
        drain: Duration::from_secs(10),
        drain_timeout: Duration::from_secs(30),
        windows: Vec::new(),
        verify: Some(Targets {
            ris_url: engine_url(service, Partition::Ris),
            rts_url: engine_url(service, Partition::Rts),
            rtss_url: engine_url(service, Partition::Rtss),
            stream: "rtss:signals".into(),
            maxlen: 10_000,
            closed_ttl_s: 2_592_000,
            ris_ttl_s: 120,
        }),
        progress: false,
    }
}

fn summary(report: &Report) -> String {
    format!("{}\n{:?}", report.table(), report.verification)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_run_loses_nothing() {
    let service = start_service().await;
    let report = run(&options(&service, 40, 600.0, 4)).await.expect("run");
    let v = report.verification.clone().expect("verified");
    assert!(!report.failed(), "{}", summary(&report));
    assert!(v.passed(), "{}", summary(&report));
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
    let service = start_service_with(|config| {
        config.limits.per_terminal_rate = 20;
        config.limits.per_terminal_burst = 20;
    })
    .await;
    let report = run(&options(&service, 10, 600.0, 3)).await.expect("run");
    let v = report.verification.clone().expect("verified");
    assert!(report.retries.throttled > 0, "{}", summary(&report));
    assert!(v.passed(), "{}", summary(&report));
    assert!(!report.failed(), "{}", summary(&report));
    assert!(report.acked > 500, "{}", summary(&report));
    service.stop().await;
}
